/* Tracing processes that are already running: `gilscope record --pid`
 * (a session that records only those processes, through LTTng's vpid
 * tracker) and the flight recorder (a snapshot session: a ring buffer in
 * memory, written out on demand). The processes must have been started
 * with the preload library (`gilscope exec`); docs/services.md. */
#ifndef GILSCOPE_ATTACH_H
#define GILSCOPE_ATTACH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "record.h"

#define ATTACH_MAX_PIDS 256
#define FLIGHT_PREFIX "gilscope-flight-"

struct attach_opts {
	const pid_t *pids;      /* the processes asked for */
	size_t npids;
	const char *outdir;     /* record: the trace directory (cli: default_outdir()) */
	uint64_t buffer_size;   /* per-CPU bytes, 0: default */
	int64_t duration_ns;    /* record: 0 until SIGINT/SIGTERM */
	const struct sessiond_opts *sessiond; /* the daemon's files (cli: paths_sessiond) */
	int follow_children;    /* track their descendants too, as they appear */
	int quiet;
};

/* Parses "PID[,PID...]" into pids (at most max); prints one line naming
 * `who` and returns REC_FAILED when it is not a list of positive numbers. */
enum rec_status attach_parse_pids(const char *arg, pid_t *pids, size_t max, size_t *n,
				  const char *who);

/* Parses "10s", "500ms", "2m", "1.5s" or plain seconds into ns; 0 when
 * invalid. */
int64_t attach_parse_duration(const char *arg);

/* `record --pid`: records the processes until the duration ends or
 * SIGINT/SIGTERM. res is filled; the closing lines are the caller's
 * (record_say_written). Returns REC_OK, or REC_FAILED after printing one
 * line (as every function here). */
enum rec_status attach_record(const struct attach_opts *o, struct record_result *res);

/* `record --flight`: creates and starts the snapshot session (named
 * FLIGHT_PREFIX<first pid>, written to name) and returns; the session
 * lives on in the session daemon until `flight stop` (while it does, no
 * recorder stops the daemon). */
enum rec_status flight_start(const struct attach_opts *o, char *name, size_t namelen);

/* `snapshot [SESSION] -o DIR`: writes the ring buffers' content to DIR,
 * after asking the processes to say again what their GILs and threads
 * are. session NULL: the only flight session. The trace directory into
 * res->trace_dir; which of the recorder's processes left no event, and
 * why, into res (idle, unregistered: record_say_standing), a line each
 * for those the daemon no longer knows (o: the daemon's files, cli:
 * paths_sessiond). */
enum rec_status flight_snapshot(const struct sessiond_opts *o, const char *session,
				const char *outdir, struct record_result *res);

/* `flight stop [SESSION]`: destroys the flight session, then stops the
 * session daemon when gilscope started it and nothing else uses it
 * (sessiond_cleanup; o: the daemon's files, cli: paths_sessiond). */
enum rec_status flight_stop(const struct sessiond_opts *o, const char *session);

#endif
