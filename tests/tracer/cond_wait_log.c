/* An observer of CPython's forced-switch waits that does not depend on
 * gilscope: preloaded after gilscope's library, it logs every
 * pthread_cond_wait call (pid, tid, mutex) to the file named by
 * GILSCOPE_TEST_COND_WAIT_LOG, then waits. CPython's only untimed wait on a
 * condition variable in a thread that runs Python is drop_gil's wait for
 * the switch (take_gil's is timed), so tracer.forced_sleep compares the
 * calls with the forced_switch_begin/_end records of each thread.
 * Its symbol carries glibc's version (cond_wait_log.map): gilscope looks up
 * the next pthread_cond_wait@GLIBC_2.3.2 and must find this one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static int (*next_wait)(pthread_cond_t *, pthread_mutex_t *);
static int log_fd = -1;

__attribute__((constructor)) static void log_open(void)
{
	const char *path = getenv("GILSCOPE_TEST_COND_WAIT_LOG");

	next_wait = (int (*)(pthread_cond_t *, pthread_mutex_t *))dlvsym(RTLD_NEXT, "pthread_cond_wait",
									 "GLIBC_2.3.2");
	if (path)
		log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int pthread_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex)
{
	if (log_fd >= 0) {
		char line[80];
		int n = snprintf(line, sizeof(line), "%d %ld %p\n", (int)getpid(), (long)syscall(SYS_gettid),
				 (void *)mutex);

		/* One short O_APPEND write: lines of threads never mix. */
		if (n > 0 && write(log_fd, line, (size_t)n) != n)
			log_fd = -1;
	}
	return next_wait(cond, mutex);
}
