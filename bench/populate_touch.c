/* bench/populate_touch.c: what a fresh anonymous page's first write costs
 * on this machine, and what is left of it once the page was populated
 * with MADV_POPULATE_WRITE (bench/README, "Session 20"). Standalone:
 *
 *     cc -O2 -Wall -Wextra -o /tmp/populate_touch bench/populate_touch.c
 *     /tmp/populate_touch [PAGES] [ROUNDS]
 *
 * Each round maps two fresh regions of PAGES pages (default 32) and
 * prints, in microseconds: the first write of each page of the first
 * (one fault per page), the same writes again (no fault), then the second
 * populated in one call, its first writes after that, and again. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double touch(volatile char *p, size_t pages, size_t page, char v)
{
	double t0 = now_us();
	for (size_t i = 0; i < pages; i++)
		p[i * page] = v;
	return now_us() - t0;
}

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? strtoul(argv[1], NULL, 10) : 32;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = pages * page;
	int status = 0;

	for (int r = 0; r < rounds && !status; r++) {
		char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (a == MAP_FAILED || b == MAP_FAILED) {
			perror("populate_touch: mmap");
			status = 1;
		} else {
			double first = touch(a, pages, page, 1), again = touch(a, pages, page, 2);
			double t0 = now_us();
			int rc = madvise(b, len, MADV_POPULATE_WRITE);
			double pop = now_us() - t0;
			if (rc) {
				perror("populate_touch: madvise(MADV_POPULATE_WRITE)");
				status = 1;
			} else {
				double after = touch(b, pages, page, 1), after2 = touch(b, pages, page, 2);
				printf("%zu pages: first write %.1f us (%.2f a page), again %.1f | "
				       "populate %.1f us, first write after %.1f us (%.2f a page), again %.1f\n",
				       pages, first, first / (double)pages, again, pop, after,
				       after / (double)pages, after2);
			}
		}
		if (a != MAP_FAILED)
			munmap(a, len);
		if (b != MAP_FAILED)
			munmap(b, len);
	}
	return status;
}
