// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A C++ program whose tracer dies (test_api_lifeline.c,
 * test_exception_after_death): two threads call llx_call() N times, which
 * calls llx_throw(), which sleeps 2 ms and throws for even i; llx_call()
 * catches it. Under a return probe on llx_throw a thread is inside it, its
 * return address the trampoline, most of the time: an exception thrown
 * after the tracer's death must still unwind through that frame (else
 * std::terminate: SIGABRT). "total ok" and exit 0 when every result is right.
 *
 * usage: api_lifeline_cxx N
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <stdexcept>

static long n_calls;

extern "C" __attribute__((noinline)) long llx_throw(long i)
{
	struct timespec ts = { 0, 2000000 };

	nanosleep(&ts, nullptr);
	if (i % 2 == 0)
		throw std::runtime_error("even");
	return i;
}

extern "C" __attribute__((noinline)) long llx_call(long i)
{
	try {
		return llx_throw(i);
	} catch (const std::runtime_error &) {
		return -i;
	}
}

static void *worker(void *arg)
{
	long *bad = static_cast<long *>(arg);

	for (long i = 0; i < n_calls; i++)
		if (llx_call(i) != (i % 2 == 0 ? -i : i))
			(*bad)++;
	return nullptr;
}

int main(int argc, char **argv)
{
	pthread_t th[2];
	long bad[2] = { 0, 0 };

	n_calls = argc > 1 ? atol(argv[1]) : 100;
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], nullptr, worker, &bad[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], nullptr);
	printf("total %s\n", bad[0] || bad[1] ? "bad" : "ok");
	fflush(stdout);
	return bad[0] || bad[1] ? 3 : 0;
}
