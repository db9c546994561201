/* The analyzer library's public API: `gilscope analyze`, `summary` and `run`
 * call these. A trace directory goes in, a SQLite database comes out
 * (analyzer/schema.sql, documented in docs/schema.md). */
#ifndef GILSCOPE_ANALYZE_H
#define GILSCOPE_ANALYZE_H

#include <stdint.h>
#include <stdio.h>

#include "status.h"

/* Everything analyze() needs, set by the command line (cli/): the
 * library reads no environment. */
struct analyze_opts {
	const char *trace_dir; /* a `gilscope record` output (or any CTF dir) */
	const char *db_path;   /* the database to write */
	int append;            /* add a run to db_path instead of replacing it */
	int progress;          /* -1 auto (stderr is a tty), 0, 1 */
	int verbose;           /* on a trace error, print every babeltrace2 cause */
	/* Tuning knobs, for tests and bench/ (docs/gilscope.1, ENVIRONMENT). */
	uint64_t durs_budget;  /* bytes of durations for exact percentiles, 0 default */
	int index_after_fill;  /* build the indexes after the rows, even on 2+ CPUs */
	int timing;            /* print where the time goes on stderr */
	int no_trace_check;    /* skip the checks of metadata and indexes made
				  before babeltrace2 reads them (tests of the
				  child that survives babeltrace2's aborts) */
};

/* Returns GS_OK; otherwise prints one line prefixed "gilscope analyze: "
 * to stderr and returns what went wrong. Without `append`,
 * an existing database is replaced atomically: on error it is untouched
 * and no new file is left behind. */
enum gs_status analyze(const struct analyze_opts *opts);

/* Prints the terminal summary of the latest run of db_path to out (at
 * most 80 columns). Returns GS_OK, or another status after a
 * "gilscope summary: " line on stderr. */
enum gs_status summary_print(const char *db_path, FILE *out);

#endif
