/* bench/mutex_bench.c: N uncontended lock/unlock pairs of one ordinary
 * (non-GIL) pthread mutex, timed inside the program so that start-up and
 * the recorder's own set-up are not counted. The loop runs in BLOCKS equal
 * blocks, each timed: "best_ns" is BLOCKS times the fastest block, which
 * leaves out the time slices other processes took on a shared machine.
 * Prints "elapsed_ns=T best_ns=B pairs=N".
 *
 *   mutex_bench [PAIRS] [--fake-gil]
 *
 * Built twice by bench/run: plainly (the preload sees a program that is not
 * Python and goes passive) and with -DBENCH_AS_PYTHON -rdynamic, which
 * exports a Py_GetVersion saying "3.11.0" so that the preload goes active,
 * as it is inside CPython. --fake-gil then makes the pthread calls of one
 * CPython take_gil on a struct laid out like the 3.11 GIL, so the preload
 * finds a GIL and stops looking: the state of every later non-GIL mutex
 * call in a real Python process. Without it the preload stays armed
 * (still looking for a GIL), the state before CPython's first take_gil.
 * BENCH_PY_VERSION=3.12.0 in the environment makes it claim to be 3.12. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCKS 10

#ifdef BENCH_AS_PYTHON
/* The version the preload reads decides its rules: on 3.12+ subinterpreters
 * may add GILs after the first one. BENCH_PY_VERSION picks. */
__attribute__((visibility("default"))) const char *Py_GetVersion(void)
{
	const char *v = getenv("BENCH_PY_VERSION");
	return v ? v : "3.11.0 (gilscope bench: not really Python)";
}
#endif

/* struct _gil_runtime_state of CPython 3.7 to 3.13 (design notes). */
static struct {
	unsigned long interval;
	void *last_holder;
	long locked;
	unsigned long switch_number;
	pthread_cond_t cond;
	pthread_mutex_t mutex;
	pthread_cond_t switch_cond;
	pthread_mutex_t switch_mutex;
} fake_gil = {
	.interval = 5000,
	.cond = PTHREAD_COND_INITIALIZER,
	.mutex = PTHREAD_MUTEX_INITIALIZER,
	.switch_cond = PTHREAD_COND_INITIALIZER,
	.switch_mutex = PTHREAD_MUTEX_INITIALIZER,
};

static void take_fake_gil(void)
{
	pthread_mutex_lock(&fake_gil.mutex);
	fake_gil.locked = 1;
	pthread_mutex_lock(&fake_gil.switch_mutex);
	pthread_cond_signal(&fake_gil.switch_cond);
	pthread_mutex_unlock(&fake_gil.switch_mutex);
	pthread_mutex_unlock(&fake_gil.mutex);
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long pairs = 10000000;
	int fake = 0;
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fake-gil"))
			fake = 1;
		else
			pairs = strtol(argv[i], NULL, 10);
	}
	if (pairs <= 0) {
		fprintf(stderr, "usage: mutex_bench [PAIRS] [--fake-gil]\n");
		return 2;
	}
	if (fake)
		take_fake_gil();
	/* Warm up: resolve the PLT entries and fault the pages in. */
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&m);
		pthread_mutex_unlock(&m);
	}
	long block = pairs / BLOCKS > 0 ? pairs / BLOCKS : 1;
	long long total = 0, best = -1;
	for (int b = 0; b < BLOCKS; b++) {
		long long t0 = now_ns();
		for (long i = 0; i < block; i++) {
			pthread_mutex_lock(&m);
			pthread_mutex_unlock(&m);
		}
		long long t = now_ns() - t0;
		total += t;
		if (best < 0 || t < best)
			best = t;
	}
	printf("elapsed_ns=%lld best_ns=%lld pairs=%ld\n", total, best * BLOCKS, block * BLOCKS);
	return 0;
}
