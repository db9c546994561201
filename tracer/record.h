/* `gilscope record`: runs a command under the preload library inside a
 * private LTTng session and leaves a CTF trace in a directory. */
#ifndef GILSCOPE_RECORD_H
#define GILSCOPE_RECORD_H

#include <limits.h>
#include <stdint.h>

#include "sessiond.h"

#define RECORD_DEFAULT_BUFFER (32ull << 20) /* per CPU: 8 x 4 MiB, lost none under churn */

struct record_opts {
	const char *outdir;     /* NULL: ./gilscope-YYYYmmdd-HHMMSS */
	uint64_t buffer_size;   /* per-CPU ring buffer bytes, 0: default */
	char *const *cmd;       /* NULL-terminated argv of the command */
	int quiet;              /* no closing lines on stderr */
	const char *code;       /* code locations: "off", "site", "stack"; NULL: the tracer's default (stack) */
	const struct sessiond_opts *sessiond; /* the daemon's files (cli: paths_sessiond) */
};

struct record_result {
	int cmd_ran;            /* the command was started */
	int status;             /* its exit status, 128+signal when killed */
	uint64_t lost;          /* events the tracer had to discard */
	char trace_dir[PATH_MAX];
};

/* Returns 0 when the trace was written (res->status says how the command
 * ended), -1 after printing one line on stderr saying what failed. */
int record_run(const struct record_opts *opts, struct record_result *res);

/* The closing lines on stderr: where the trace is, and the events lost
 * (with the per-CPU ring to raise). */
void record_say_written(const struct record_result *res, uint64_t ring);

/* Parses a --buffer-size argument into *size; prints one line naming the
 * subcommand `who` and returns -1 when it is not a size of at least 64k. */
int record_buffer_arg(const char *arg, uint64_t *size, const char *who);

/* Checks a --code argument (off, site or stack); prints one line naming the
 * subcommand `who` and returns -1 when it is none of them. */
int record_code_arg(const char *arg, const char *who);

/* Creates the missing parent directories of path (not path itself), as
 * `mkdir -p` would. Returns 0, or -1 with errno set. */
int record_mkdir_parents(const char *path);

/* Puts the preload library first in LD_PRELOAD and the Python hook's
 * directory first on PYTHONPATH, in this process's environment (for the
 * command it executes next). Returns 0, or -1 with errno set. */
int record_env_preload(const char *preload, const char *pydir);

/* Parses "64M", "512k", "1G", "4096": bytes, or 0 when invalid. */
uint64_t record_parse_size(const char *s);

#endif
