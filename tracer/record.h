/* The recorder library's public header: runs a command under the preload
 * library inside a private LTTng session and leaves a CTF trace in a
 * directory (record_run), on top of the session module (session.h) and the
 * daemon's life (sessiond.h); attach.h traces running processes. It reads
 * no environment: the command line (cli/) fills these structs. */
#ifndef GILSCOPE_RECORD_H
#define GILSCOPE_RECORD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rec_status.h"
#include "sessiond.h"

#define RECORD_DEFAULT_BUFFER_MB 32 /* per CPU: 8 x 4 MiB, lost none under churn */
#define RECORD_DEFAULT_BUFFER ((uint64_t)RECORD_DEFAULT_BUFFER_MB << 20)

struct record_opts {
	const char *outdir;     /* the trace directory (cli: default_outdir()) */
	uint64_t buffer_size;   /* per-CPU ring buffer bytes, 0: default */
	char *const *cmd;       /* NULL-terminated argv of the command */
	const char *code;       /* code locations: "off", "site", "stack"; NULL: the tracer's default (stack) */
	const struct sessiond_opts *sessiond; /* the daemon's files (cli: paths_sessiond) */
	const char *preload;    /* libgilscope-preload.so (cli: paths_hook) */
	const char *python_dir; /* the Python-side hook's directory */
	char *const *base_env;  /* the command's environment, before ours is added */
};

/* A loss whose size is unknown: LTTng reported a count that cannot be
 * true (session_teardown() says why). */
#define RECORD_LOST_UNKNOWN UINT64_MAX

#define RECORD_NAMED 8 /* pids named in a line */

struct record_result {
	int cmd_ran;            /* the command was started */
	int status;             /* its exit status, 128+signal when killed */
	uint64_t lost;          /* events the tracer had to discard, or
				   RECORD_LOST_UNKNOWN */
	int tails;              /* streams that ended early or have no packet (their loss is
				   RECORD_LOST_UNKNOWN; no buffer size helps) */
	uint64_t stop_clock;    /* the trace clock when the stop was asked, 0: never
				   (gilscope.info's stop_clock=, tails_before_stop) */
	int streams;            /* the trace's stream files: none when no traced process
				   registered with the session daemon (those the recorder
				   made before the command, preregister.h, do not count) */
	int traced;             /* the CPython processes the tracer traced (record: those
				   that said so, --pid: the ones asked for); with no
				   stream, their events were lost (RECORD_LOST_UNKNOWN) */
	int unrecorded;         /* traced processes of which the trace holds no event (checked
				   in the trace when it has streams): their events were lost,
				   how many is unknown; -1 when the trace could not be checked */
	pid_t unrecorded_pids[RECORD_NAMED]; /* the first of them */
	int unrecorded_waiting; /* of them, those that ended during their registration wait
				   (a mark, no "wait over" line: preload_mark.h) */
	pid_t unrecorded_waiting_pids[RECORD_NAMED]; /* the first of those */
	char unchecked[400];    /* unrecorded -1: why */
	/* record --pid and a snapshot (attach.c, pids_sort): of their
	 * traced CPython processes, those the session daemon listed that
	 * left no GIL event (idle: nothing lost), and those it never listed
	 * (a line each said why); the first of each. */
	int idle;
	pid_t idle_pids[RECORD_NAMED];
	int unregistered;
	pid_t unregistered_pids[RECORD_NAMED];
	char trace_dir[PATH_MAX];
};

/* Returns REC_OK when the trace was written (res->status says how the
 * command ended; the closing lines are the caller's, record_say_written),
 * REC_FAILED after one line on stderr saying what failed. */
enum rec_status record_run(const struct record_opts *opts, struct record_result *res);

/* The closing lines on stderr: where the trace is, and the events lost
 * (with the per-CPU ring to raise); with no stream, or no traced process
 * (the streams are then other recordings'), that no GIL event was
 * recorded and whether that is a loss (res->traced). */
void record_say_written(const struct record_result *res, uint64_t ring);

/* "pid 4242 traced but recorded nothing of its GIL" (or "pids 4242, 4250 ...", with
 * "..." past RECORD_NAMED): the processes res->unrecorded counts. */
void record_unrecorded_text(const struct record_result *res, char *buf, size_t len);

/* The closing lines of `record --pid` and of a snapshot about their
 * processes that left nothing: the idle ones, the never registered ones
 * (res->idle, res->unregistered); none when there are none. */
void record_say_standing(const struct record_result *res);

/* Creates the missing parent directories of path (not path itself), as
 * `mkdir -p` would. Returns 0, or -1 with errno set. */
int record_mkdir_parents(const char *path);

#endif
