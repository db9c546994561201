/* A traced CPython's pid, appended to the file its recorder named
 * (preload_mark.h). A recording with no stream is then told apart: a
 * command that ran no CPython recorded nothing and lost nothing; a
 * CPython that ended before its registration with the session daemon
 * completed lost everything it did (docs/tracer.md, "The recording"). */
#include "preload_mark.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void mark_traced(void)
{
	const char *path = getenv("GILSCOPE_TRACED");
	int saved = errno, fd, n;
	char line[48];
	struct timespec now = { 0, 0 };

	if (!path || !*path)
		return;
	/* No O_CREAT: only the recorder's file, never one made elsewhere. The
	 * descriptor is closed at once: the program never sees it. */
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd >= 0) {
		/* The pid and this moment on LTTng's clock (CLOCK_MONOTONIC, a
		 * vDSO read): every event of this process comes after it, so
		 * the recorder tells two processes that had the same pid apart
		 * (pids wrap; lives.h). */
		clock_gettime(CLOCK_MONOTONIC, &now);
		n = snprintf(line, sizeof(line), "%d %lld\n", (int)getpid(),
			     (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
		/* One write of a few bytes, O_APPEND: lines of processes
		 * starting at once never mix. One that fails is one process
		 * fewer counted, nothing the program would notice. */
		ssize_t w = write(fd, line, (size_t)n);
		(void)w;
		close(fd);
	}
	errno = saved;
}
