/* bench/mutex_bench.c: N uncontended lock/unlock pairs of one ordinary
 * (non-GIL) pthread mutex, timed inside the program so that start-up and
 * the recorder's own set-up are not counted. Prints "elapsed_ns=T pairs=N".
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
 * (still looking for a GIL), the state before CPython's first take_gil. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef BENCH_AS_PYTHON
__attribute__((visibility("default"))) const char *Py_GetVersion(void)
{
	return "3.11.0 (gilscope bench: not really Python)";
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
	long long t0 = now_ns();
	for (long i = 0; i < pairs; i++) {
		pthread_mutex_lock(&m);
		pthread_mutex_unlock(&m);
	}
	long long t1 = now_ns();
	printf("elapsed_ns=%lld pairs=%ld\n", t1 - t0, pairs);
	return 0;
}
