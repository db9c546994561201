/* Widens a window of gilscope's preload for tracer.kill_resync: preloaded
 * after gilscope's library, it makes the first access("/proc/self/task/TID")
 * (the liveness check before a resync's first thread_name event) of a
 * thread other than the main one, once the process has put a pipe's write
 * end in GILSCOPE_TEST_SLOW_ACCESS_FD, write a byte there and sleep 20 ms:
 * the program's main thread then knows that another thread is in the
 * middle of a resync's writes. Any other access() goes straight to the C
 * library's. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TASK_DIR "/proc/self/task/"

static atomic_int slowed;

int access(const char *path, int mode)
{
	static int (*next_access)(const char *, int);
	const char *fd = getenv("GILSCOPE_TEST_SLOW_ACCESS_FD");

	if (!next_access)
		next_access = (int (*)(const char *, int))dlsym(RTLD_NEXT, "access");
	if (fd && !strncmp(path, TASK_DIR, strlen(TASK_DIR)) && syscall(SYS_gettid) != getpid() &&
	    !atomic_exchange(&slowed, 1)) {
		const struct timespec pause = { 0, 20000000 };

		if (write(atoi(fd), "x", 1) != 1)
			return -1;
		nanosleep(&pause, NULL);
	}
	return next_access(path, mode);
}
