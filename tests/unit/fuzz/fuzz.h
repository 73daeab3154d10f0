/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Deterministic fuzzing helpers: a seeded PRNG, a watchdog, and where the current case is. */
#ifndef FUZZ_H
#define FUZZ_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * splitmix64: the same sequence on every libc and build, so a failure at
 * iteration N of seed S is reproduced by running the test again.
 */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. The bias of a modulo is no matter here. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

static inline bool rng_chance(struct rng *r, unsigned one_in)
{
	return rng_below(r, one_in) == 0;
}

/*
 * What is being run, for the watchdog's message and for FUZZ_VERBOSE: a
 * hang or a crash names its seed and iteration. The crash itself is told
 * by the sanitizer, or by meson (a signal); FUZZ_VERBOSE=1 prints every
 * case first, so the last line names the one that crashed.
 */
static char fuzz_case[256];
static bool fuzz_verbose;
static unsigned fuzz_scale = 1;
static uint64_t fuzz_seed_xor;

/* A test's fixed seed, or another stream for a search by hand (FUZZ_SEED=n). */
static inline uint64_t fuzz_seed(uint64_t seed)
{
	return seed ^ fuzz_seed_xor;
}

/* Iterations of a test: the fixed count, times FUZZ_SCALE for a longer run by hand. */
static inline unsigned fuzz_iters(unsigned n)
{
	return n * fuzz_scale;
}

static void fuzz_set_case(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void fuzz_set_case(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fuzz_case, sizeof(fuzz_case), fmt, ap);
	va_end(ap);
	if (fuzz_verbose) {
		fprintf(stderr, "case %s\n", fuzz_case);
		fflush(stderr);
	}
}

static void fuzz_alarm(int sig)
{
	static const char msg[] = "fuzz: watchdog expired (a hang) in case ";

	/* async-signal-safe: write(2) only */
	if (write(2, msg, sizeof(msg) - 1) < 0 ||
	    write(2, fuzz_case, strnlen(fuzz_case, sizeof(fuzz_case))) < 0 || write(2, "\n", 1) < 0)
		_exit(3);
	_exit(3);
}

/* A bound on one case: any parser loop that fails to terminate ends the test. */
static inline void fuzz_watchdog(unsigned seconds)
{
	signal(SIGALRM, fuzz_alarm);
	alarm(seconds);
}

static inline void fuzz_init(void)
{
	const char *v = getenv("FUZZ_VERBOSE");

	fuzz_verbose = v && *v && strcmp(v, "0");
	v = getenv("FUZZ_SEED");
	if (v)
		fuzz_seed_xor = strtoull(v, NULL, 0) << 32;
	v = getenv("FUZZ_SCALE");
	if (v && atoi(v) > 0)
		fuzz_scale = (unsigned)atoi(v);
}

#endif /* FUZZ_H */
