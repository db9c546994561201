/* Preloaded after gilscope's library by tracer.early_log: liblttng-ust's
 * registration with the session daemon cannot go past its first command
 * (its listener thread's recvmsg() is held: it holds none of
 * liblttng-ust's locks there, so a fork meanwhile goes through) until a
 * gate opens, so a test decides when it ends against what the traced
 * process does.
 *
 * GILSCOPE_TEST_GATE=PATH: the gate opens once PATH exists (the traced
 * program creates it from its Python code: a process that waited for its
 * registration before its first GIL event never gets there, and gives up
 * waiting at LTTNG_UST_REGISTER_TIMEOUT).
 * GILSCOPE_TEST_GATE_WAIT=1: it opens when the process first waits for
 * its registration (sem_timedwait: gilscope's wait, or liblttng-ust's in
 * a fork child), and this says so on stderr ("gate: waited at NS", the
 * CLOCK_MONOTONIC time), once per process. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stddef.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_int waited;
static atomic_int said_pid;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int gate_open(void)
{
	const char *path = getenv("GILSCOPE_TEST_GATE");
	if (path && access(path, F_OK) == 0)
		return 1;
	return atomic_load(&waited);
}

static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static int (*real_wait)(sem_t *, const struct timespec *);

/* Here, not at the first call: LTTng's listener runs while the main
 * thread's dlopen of liblttng-ust holds the loader's lock. */
__attribute__((constructor)) static void resolve(void)
{
	real_recvmsg = (ssize_t (*)(int, struct msghdr *, int))dlsym(RTLD_NEXT, "recvmsg");
	real_wait = (int (*)(sem_t *, const struct timespec *))dlvsym(RTLD_NEXT, "sem_timedwait",
								      "GLIBC_2.34");
}

/* liblttng-ust names its listener threads "<program>-ust". */
static int lttng_listener(void)
{
	char name[17] = "";
	size_t n;
	if (prctl(PR_GET_NAME, name, 0, 0, 0))
		return 0;
	n = strlen(name);
	return n >= 4 && !strcmp(name + n - 4, "-ust");
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (!gate_open() && lttng_listener()) {
		/* 30 s at most: a test that never opens the gate fails, it
		 * does not hang. */
		for (int i = 0; i < 30000 && !gate_open(); i++) {
			struct timespec ms = { 0, 1000000 };
			nanosleep(&ms, NULL);
		}
	}
	return real_recvmsg(fd, msg, flags);
}

int sem_timedwait(sem_t *restrict sem, const struct timespec *restrict abstime)
{
	const char *w = getenv("GILSCOPE_TEST_GATE_WAIT");
	if (w && !strcmp(w, "1")) {
		int pid = getpid(), was = atomic_exchange(&said_pid, pid);
		atomic_store(&waited, 1);
		if (was != pid) {
			char line[64];
			int n = snprintf(line, sizeof(line), "gate: waited at %lld\n", now_ns());
			if (n > 0 && write(2, line, (size_t)n) < 0)
				return real_wait(sem, abstime);
		}
	}
	return real_wait(sem, abstime);
}
