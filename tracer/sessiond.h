/* The life of the LTTng session daemon and of gilscope's sessions, shared
 * by every kind of recorder (`record`, `record --pid`, flight sessions).
 *
 * Recordings overlap freely: a short lock (flock on a file in state_dir)
 * is held only while the daemon is checked, started or stopped; the live
 * recorders are counted by the kernel, each holding a shared flock (which
 * blocks no other) on a second file, dropped even when a recorder is
 * killed. The last one out, the one that can make it exclusive, stops a
 * daemon gilscope started, unless it still holds a session (a flight
 * recorder's: `flight stop` then stops it). Nothing blocks another
 * recorder for the length of a recording.
 *
 * Sessions are named "gilscope-PID-REST" (PID: the recorder's; REST: for
 * `record`, the tag in eight hex digits; any other kind of recorder picks
 * its own, non-empty). A session whose recorder is gone (SIGKILL) is
 * stale: it is stopped (its buffers flushed into its trace, which is kept) and
 * destroyed by sessiond_cleanup(), which every sessiond_acquire() runs. */
#ifndef GILSCOPE_SESSIOND_H
#define GILSCOPE_SESSIOND_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "rec_status.h"

#define SESSIOND_NAME_PREFIX "gilscope-"

/* Where things are, found by the command line (no getenv in here). */
struct sessiond_opts {
	const char *state_dir;     /* the lock files, the marker: $XDG_RUNTIME_DIR or /tmp */
	const char *pidfile;       /* lttng-sessiond.pid of this user's daemon */
	const char *exe;           /* lttng-sessiond's path; NULL: not installed */
	FILE *notes;               /* one line per stale session destroyed; NULL: quiet */
};

struct sessiond;

/* Makes sure a session daemon answers (starting a private one if none
 * does), takes a reference for the calling recorder and destroys the
 * stale gilscope sessions. Returns NULL after writing one line to err. */
struct sessiond *sessiond_acquire(const struct sessiond_opts *o, char *err, size_t errlen);

/* Drops the reference; the last recorder out stops the daemon gilscope
 * started (never one that was already running, nor one that still holds
 * a session: a flight recorder's outlives its recorder, and `flight stop`
 * runs sessiond_cleanup once it is destroyed): SIGTERM, and SIGKILL for it
 * and its lttng-* children when it has not ended 10 s later, said in one
 * line to notes. NULL is ignored. */
void sessiond_release(struct sessiond *d);

/* Destroys every stale gilscope session (see above) of the running daemon;
 * with no recorder and no session left, stops a daemon gilscope started.
 * Writes one line per session to o->notes. Returns the number destroyed, or -1 after
 * writing one line to err. Needs no daemon: none running is 0. */
int sessiond_cleanup(const struct sessiond_opts *o, char *err, size_t errlen);

/* The session name of a recording: "gilscope-PID-TAG". */
int sessiond_session_name(char *buf, size_t len, pid_t recorder, uint32_t tag);

/* 1 when pid is a live gilscope recorder (its command name starts with
 * "gilscope"), 0 when it is gone or is another program now. */
int sessiond_recorder_alive(pid_t pid);

#endif
