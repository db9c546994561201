/* bench/lttng_floor.c: LTTng-UST's own cost for an event of one 64-bit
 * integer field (gilscope:floor, bench/floor_tp.h), with no interposition: the
 * floor under gilscope's cost per GIL event with a session.
 *
 *   lttng_floor [EVENTS] [--yield] [--pair CPU]
 *
 * --yield calls sched_yield() before every third event, as a thread churning
 * the GIL with os.sched_yield() does between its release, request and
 * acquire: LTTng's cost in that setting (each system call leaves colder
 * caches behind) is the floor to hold the churn rows against.
 *
 * --pair CPU (with --yield) runs the loop in two threads, EVENTS / 2 each,
 * both pinned to CPU: each sched_yield() then switches to the other thread,
 * as in bench/workload.py's churn-pinned with both threads on one CPU (a
 * hand-off per call). Each thread times its loop in BLOCKS blocks by its
 * own CPU time; "cpu_ns" sums BLOCKS times each thread's least, the clock
 * of that churn row, and "cpu_total_ns" their whole loops' CPU time.
 *
 * It carries a "gilscope" provider of its own (bench/floor_tp.h, probes
 * linked in), so `gilscope record`, which enables gilscope:*, records its
 * events with the same channel and contexts as the tracer's. Without a
 * session each tracepoint is one predicted branch. It is not Python, so the
 * preload that `record` adds stays passive and never loads its own probes.
 * Timed in BLOCKS blocks as bench/mutex_bench.c is: "best_ns" is BLOCKS
 * times the fastest block. Prints "elapsed_ns=T best_ns=B events=N". */
#define _GNU_SOURCE
#define LTTNG_UST_TRACEPOINT_DEFINE
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "floor_tp.h"

#include <pthread.h>
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

static long long thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct pair_thread {
	pthread_t id;
	long events;
	int cpu;
	uint64_t gil;
	long long cpu_ns;	/* BLOCKS times the least CPU time of a block */
	long long cpu_total_ns;
	int err;	/* pthread_setaffinity_np's error, 0 when pinned */
};

static void *pair_loop(void *arg)
{
	struct pair_thread *t = arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(t->cpu, &set);
	t->err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	if (t->err)
		return NULL;
	long block = t->events / BLOCKS > 0 ? t->events / BLOCKS : 1;
	long long best = -1;
	t->cpu_total_ns = 0;
	for (int b = 0; b < BLOCKS; b++) {
		long long c0 = thread_cpu_ns();
		for (long i = 0; i < block; i++) {
			if (i % 3 == 0)
				sched_yield();
			lttng_ust_tracepoint(gilscope, floor, t->gil);
		}
		long long c = thread_cpu_ns() - c0;
		t->cpu_total_ns += c;
		if (best < 0 || c < best)
			best = c;
	}
	t->events = block * BLOCKS;
	t->cpu_ns = best * BLOCKS;
	return NULL;
}

/* --pair: two threads on one CPU, a switch to the other at each yield. */
static int run_pair(long events, int cpu, uint64_t gil)
{
	struct pair_thread t[2];
	int started = 0, rc = 0;
	long long t0 = now_ns();
	for (; started < 2; started++) {
		t[started] = (struct pair_thread){.events = events / 2, .cpu = cpu, .gil = gil};
		int err = pthread_create(&t[started].id, NULL, pair_loop, &t[started]);
		if (err) {
			fprintf(stderr, "lttng_floor: pthread_create: %s\n", strerror(err));
			rc = 1;
			break;
		}
	}
	for (int i = 0; i < started; i++)
		pthread_join(t[i].id, NULL);
	long long wall = now_ns() - t0;
	for (int i = 0; i < started && !rc; i++) {
		if (t[i].err) {
			fprintf(stderr, "lttng_floor: cannot pin a thread to CPU %d: %s\n", cpu, strerror(t[i].err));
			rc = 1;
		}
	}
	if (!rc)
		printf("elapsed_ns=%lld cpu_ns=%lld cpu_total_ns=%lld events=%ld\n", wall, t[0].cpu_ns + t[1].cpu_ns,
		       t[0].cpu_total_ns + t[1].cpu_total_ns, t[0].events + t[1].events);
	return rc;
}

int main(int argc, char **argv)
{
	long events = 3000000;
	int yield = 0, pair_cpu = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--yield"))
			yield = 1;
		else if (!strcmp(argv[i], "--pair") && i + 1 < argc)
			pair_cpu = atoi(argv[++i]);
		else
			events = strtol(argv[i], NULL, 10);
	}
	if (events <= 0 || (pair_cpu >= 0 && !yield) || pair_cpu >= CPU_SETSIZE) {
		fprintf(stderr, "usage: lttng_floor [EVENTS] [--yield] [--pair CPU]\n");
		return 2;
	}
	static int x;
	uint64_t gil = (uint64_t)(uintptr_t)&x; /* an address, as the tracer's */
	if (pair_cpu >= 0)
		return run_pair(events, pair_cpu, gil);
	long block = events / BLOCKS > 0 ? events / BLOCKS : 1;
	long long total = 0, best = -1;
	for (int b = 0; b < BLOCKS; b++) {
		long long t0 = now_ns();
		for (long i = 0; i < block; i++) {
			if (yield && i % 3 == 0)
				sched_yield();
			lttng_ust_tracepoint(gilscope, floor, gil);
		}
		long long t = now_ns() - t0;
		total += t;
		if (best < 0 || t < best)
			best = t;
	}
	printf("elapsed_ns=%lld best_ns=%lld events=%ld\n", total, best * BLOCKS, block * BLOCKS);
	return 0;
}
