// SPDX-License-Identifier: LGPL-2.1-or-later
/* A C++ library whose static initializer calls cxx_init_fn() 3 times before main. */
#include <cstdlib>
#include <string>

static int calls;

extern "C" __attribute__((noipa, used)) void cxx_init_fn(int i)
{
	calls += i >= 0;
}

extern "C" int cxx_init_calls(void)
{
	return calls;
}

namespace {
struct Init {
	std::string name;
	Init() : name("static initializer")
	{
		for (int i = 0; i < 3; i++)
			cxx_init_fn(i);
	}
};
Init init;
} // namespace
