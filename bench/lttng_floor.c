/* bench/lttng_floor.c: LTTng-UST's own cost for an event of the shape of
 * gilscope:gil_retired (one 64-bit integer field), with no interposition: the
 * floor under gilscope's cost per GIL event with a session.
 *
 *   lttng_floor [EVENTS] [--yield]
 *
 * --yield calls sched_yield() before every third event, as a thread churning
 * the GIL with os.sched_yield() does between its release, request and
 * acquire: LTTng's cost in that setting (each system call leaves colder
 * caches behind) is the floor to hold the churn rows against.
 *
 * It carries its own copy of the "gilscope" provider (tracer/gilscope_tp.h,
 * probes linked in), so `gilscope record`, which enables gilscope:*, records
 * its events with the same channel and contexts as the tracer's. Without a
 * session each tracepoint is one predicted branch. It is not Python, so the
 * preload that `record` adds stays passive and never loads its own probes.
 * Timed in BLOCKS blocks as bench/mutex_bench.c is: "best_ns" is BLOCKS
 * times the fastest block. Prints "elapsed_ns=T best_ns=B events=N". */
#define LTTNG_UST_TRACEPOINT_DEFINE
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "gilscope_tp.h"

#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCKS 10

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long events = 3000000;
	int yield = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--yield"))
			yield = 1;
		else
			events = strtol(argv[i], NULL, 10);
	}
	if (events <= 0) {
		fprintf(stderr, "usage: lttng_floor [EVENTS] [--yield]\n");
		return 2;
	}
	static int x;
	uint64_t gil = (uint64_t)(uintptr_t)&x; /* an address, as the tracer's */
	long block = events / BLOCKS > 0 ? events / BLOCKS : 1;
	long long total = 0, best = -1;
	for (int b = 0; b < BLOCKS; b++) {
		long long t0 = now_ns();
		for (long i = 0; i < block; i++) {
			if (yield && i % 3 == 0)
				sched_yield();
			lttng_ust_tracepoint(gilscope, gil_retired, gil);
		}
		long long t = now_ns() - t0;
		total += t;
		if (best < 0 || t < best)
			best = t;
	}
	printf("elapsed_ns=%lld best_ns=%lld events=%ld\n", total, best * BLOCKS, block * BLOCKS);
	return 0;
}
