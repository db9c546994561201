/* The SQLite side of the analyzer: the schema (analyzer/schema.sql,
 * embedded at build time), one prepared statement per table, one
 * transaction per run, indexes after the fill, and the atomic replace of
 * the output (temp file + rename). */
#ifndef GILSCOPE_DB_H
#define GILSCOPE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* PRAGMA user_version of the databases this analyzer writes. Bump it when
 * schema.sql changes in a way readers must know about. */
#define GILSCOPE_SCHEMA_VERSION 6

/* One INSERT per table, in db.c's statement table (its SQL and the C
 * types of its placeholders side by side). */
enum db_table {
	DB_RUNS,
	DB_PROCESSES,
	DB_GILS,
	DB_THREADS,
	DB_HOLDS,
	DB_WAITS,
	DB_TIMEOUTS,
	DB_DROP_REQUESTS,
	DB_SWITCHES,
	DB_FORCED_SWITCHES,
	DB_LOST,
	DB_METRICS,
	DB_FINDINGS,
	DB_CODE_SITES,
	DB_STACKS,
	DB_STACK_FRAMES,
	DB__TABLES,
};

struct db;

struct db_opts {
	const char *path;
	int append;           /* add a run to path instead of replacing it */
	int index_after_fill; /* create the indexes at the end, even with 2 CPUs */
	int timing;           /* print where db_commit()'s time goes */
};

/* Opens the output. Without append, writes to a temp file beside path
 * that db_commit() renames over path. On error returns NULL with err set. */
struct db *db_open(const struct db_opts *opts, char *err, size_t errlen);
/* The ids this run uses: one more than any already in the database. */
int64_t db_run_id(const struct db *db);
int64_t db_first_gil_id(const struct db *db);
/* Inserts one row of table t: one argument per placeholder of its
 * INSERT, of the type its entry in db.c's statement table gives:
 * int64_t (GS_UNKNOWN: NULL), double (NaN: NULL) or const char * (NULL:
 * NULL, copied). GS_OK, or another status with the error kept. */
enum gs_status db_insert(struct db *db, enum db_table t, ...);
/* Runs SQL that needs no binding (e.g. UPDATE of the run's row). */
enum gs_status db_exec(struct db *db, const char *sql);
/* Creates the indexes, commits, closes and renames into place. Frees db
 * in every case; on error err holds one line and nothing is left behind. */
enum gs_status db_commit(struct db *db, char *err, size_t errlen);
/* Rolls back, removes the temp file (the old database is untouched) and
 * frees db. */
void db_abort(struct db *db);
const char *db_error(const struct db *db);
/* After a writer died in the middle of an --append: rolls its
 * transaction back (the database is as it was before). */
void db_recover(const char *path);
/* The temp file a fresh database is written to (NULL when appending), for
 * a signal handler to remove. */
const char *db_temp_path(const struct db *db);

#endif
