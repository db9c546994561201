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

/* This life's mark (its CLOCK_MONOTONIC ns), which its "wait over" line
 * repeats: the recorder pairs the two by pid and time (pids wrap). */
static long long g_mark_ns;

/* Appends line (n bytes) to the recorder's file; nothing when there is
 * none. No O_CREAT: only the recorder's file, never one made elsewhere.
 * The descriptor is closed at once: the program never sees it. One write
 * of a few bytes, O_APPEND: lines of processes starting at once never
 * mix. One that fails is one line fewer, nothing the program would
 * notice. errno is kept. */
static void mark_append(const char *path, const char *line, int n)
{
	int saved = errno;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);

	if (fd >= 0) {
		ssize_t w = write(fd, line, (size_t)n);
		(void)w;
		close(fd);
	}
	errno = saved;
}

void mark_traced(void)
{
	const char *path = getenv("GILSCOPE_TRACED");
	char line[48];
	struct timespec now = { 0, 0 };

	g_mark_ns = 0;
	if (!path || !*path)
		return;
	/* The pid and this moment on LTTng's clock (CLOCK_MONOTONIC, a vDSO
	 * read): every event of this process comes after it, so the
	 * recorder tells two processes that had the same pid apart (pids
	 * wrap; lives.h). */
	clock_gettime(CLOCK_MONOTONIC, &now);
	g_mark_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
	mark_append(path, line, snprintf(line, sizeof(line), "%d %lld\n", (int)getpid(), g_mark_ns));
}

void mark_wait_over(int registered)
{
	const char *path = getenv("GILSCOPE_TRACED");
	char line[64];

	if (!path || !*path || !g_mark_ns)
		return;
	mark_append(path, line, snprintf(line, sizeof(line), "%d %lld %s\n", (int)getpid(),
					 g_mark_ns, registered ? "registered" : "unregistered"));
}
