/* The SQLite side of the analyzer: the schema (analyzer/schema.sql,
 * embedded at build time), one prepared statement per table, one
 * transaction per run, indexes after the fill, and the atomic replace of
 * the output (temp file + rename). */
#ifndef GILSCOPE_DB_H
#define GILSCOPE_DB_H

#include <stddef.h>
#include <stdint.h>

/* PRAGMA user_version of the databases this analyzer writes. Bump it when
 * schema.sql changes in a way readers must know about. */
#define GILSCOPE_SCHEMA_VERSION 1

/* Bound as SQL NULL by db_insert(). */
#define DB_NULL INT64_MIN

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
	DB__TABLES,
};

struct db;

/* Opens the output. Without append, writes to a temp file beside path
 * that db_commit() renames over path. On error returns NULL with err set. */
struct db *db_open(const char *path, int append, char *err, size_t errlen);
/* The ids this run uses: one more than any already in the database. */
int64_t db_run_id(const struct db *db);
int64_t db_first_gil_id(const struct db *db);
/* Inserts one row: fmt has one letter per column of the table's insert
 * (see db.c): 'i' int64_t (DB_NULL: NULL), 'd' double (NaN: NULL),
 * 't' const char * (NULL: NULL). Returns 0, or -1 with the error kept. */
int db_insert(struct db *db, enum db_table t, const char *fmt, ...);
/* Runs SQL that needs no binding (e.g. UPDATE of the run's row). */
int db_exec(struct db *db, const char *sql);
/* Creates the indexes, commits, closes and renames into place. Frees db
 * in every case; on error err holds one line and nothing is left behind. */
int db_commit(struct db *db, char *err, size_t errlen);
/* Rolls back, removes the temp file (the old database is untouched) and
 * frees db. */
void db_abort(struct db *db);
const char *db_error(const struct db *db);
/* The temp file a fresh database is written to (NULL when appending), for
 * a signal handler to remove. */
const char *db_temp_path(const struct db *db);

#endif
