/* The end every recording shares, whichever way it was made (`record`,
 * `record --pid`, `run`, `snapshot` of a flight recorder): the trace is
 * checked before it is called written (commands.h, recorded_check). */
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>

#include "commands.h"
#include "record.h"
#include "trace_check.h"

/* 0 when every CTF trace of the recording in dir (DIR/ust/uid/UID/BITS,
 * or DIR/SNAPSHOT/ust/uid/UID/BITS for a snapshot) is one babeltrace2 can
 * open (trace_check_dir); else why, in err. */
static int trace_readable(const char *dir, char *err, size_t errlen)
{
	static const char *const layouts[] = { "", "/*" };
	char pat[PATH_MAX + 32];
	int bad = 0;

	for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]) && !bad; l++) {
		glob_t g;

		snprintf(pat, sizeof(pat), "%s%s/ust/uid/*/*-bit", dir, layouts[l]);
		if (glob(pat, 0, NULL, &g))
			continue; /* no stream: record_say_written() says what that means */
		for (size_t i = 0; i < g.gl_pathc && !bad; i++)
			bad = trace_check_dir(g.gl_pathv[i], err, errlen) != GS_OK;
		globfree(&g);
	}
	return bad;
}

int recorded_check(const char *pfx, const char *dir)
{
	char err[1200];
	struct timespec nap = { 0, 50 * 1000 * 1000 };

	for (int i = 0; trace_readable(dir, err, sizeof(err)); i++) {
		if (i == 40) {
			fprintf(stderr, "%sthe trace in %s cannot be read: %s; record again\n", pfx,
				dir, err);
			return -1;
		}
		nanosleep(&nap, NULL);
	}
	return 0;
}

int recorded_finish(const char *pfx, const struct record_result *res, uint64_t ring, int quiet)
{
	/* With no traced process, what streams there are hold other
	 * recordings' processes (a session without a process tracker gets
	 * every one of the user's): nothing of this recording to read. */
	if (res->traced && recorded_check(pfx, res->trace_dir))
		return -1;
	if (!quiet)
		record_say_written(res, ring);
	return 0;
}
