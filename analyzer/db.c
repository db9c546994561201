#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsinfo.h"
#include "mono.h"
#include "schema_sql.h" /* generated from schema.sql and indexes.sql */

/* The statements, indexed by enum db_table: each INSERT names its columns
 * (readers and writers never depend on their order) and its placeholders'
 * C types sit beside it, one letter each: 'i' int64_t, 'd' double, 't'
 * const char * (copied), 's' const char * that outlives the run (a
 * literal: not copied). db_open() checks the count against SQLite's.
 * `multi`: the big tables, written MULTI_ROWS rows per statement. */
static const struct stmt_def {
	const char *sql;
	const char *types;
	int multi;
} stmt_defs[DB__TABLES] = {
	[DB_RUNS] = { "INSERT INTO runs (run_id, trace_path, hostname, command, exit_status, "
		"start_ns, end_ns, wall_ns, python_versions, interval_us, event_count, "
		"lost_events, analyzer_version, analyzed_at, anomalies, skipped_events, "
		"percentiles_exact, trace_start, horizon_ns, before_horizon_events, "
		"handoffs_checked, handoff_mismatches, reordered_events, order_gaps, late_events, "
		"first_anomaly_ns) "
		"VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
		"itttiiiitiiistiii" "sii" "iiiii" "i", 0 },
	[DB_PROCESSES] = { "INSERT INTO processes (run_id, pid, procname, first_ns, last_ns, "
		"exit_status) VALUES (?,?,?,?,?,?)", "iitiii", 0 },
	[DB_GILS] = { "INSERT INTO gils (gil_id, run_id, pid, address, interval_us, rule, "
		"python_version, found_ns, retired_ns, handoffs_checked, handoff_mismatches) "
		"VALUES (?,?,?,?,?,?,?,?,?,?,?)",
		"iiitistii" "ii", 0 },
	[DB_THREADS] = { "INSERT INTO threads (run_id, pid, tid, name, first_ns, last_ns, "
		"held_ns, wait_ns, holds, waits, timeouts, drop_requests_issued, "
		"drop_requests_received, forced_releases, convoys, hold_p50_ns, hold_p90_ns, "
		"hold_p99_ns, hold_max_ns, wait_p50_ns, wait_p90_ns, wait_p99_ns, wait_max_ns) "
		"VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
		"iiitiiiiiiiiiii" "iiii" "iiii", 0 },
	[DB_HOLDS] = { "INSERT INTO holds (run_id, gil_id, tid, start_ns, end_ns, dur_ns, "
		"ended, crosses_loss, start_site_id, end_site_id, start_stack_id, end_stack_id, "
		"started) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", "iiiiiisiiiii" "s", 1 },
	[DB_WAITS] = { "INSERT INTO waits (run_id, gil_id, tid, start_ns, end_ns, dur_ns, "
		"timeouts, outcome, crosses_loss, convoy, site_id, stack_id, started) "
		"VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", "iiiiiiisiiii" "s", 1 },
	[DB_TIMEOUTS] = { "INSERT INTO timeouts (run_id, gil_id, tid, ts_ns) VALUES (?,?,?,?)",
		"iiii", 1 },
	[DB_DROP_REQUESTS] = { "INSERT INTO drop_requests (run_id, gil_id, ts_ns, requester, "
		"holder, interval_us, released_ns, response_ns, crosses_loss, holder_site_id) "
		"VALUES (?,?,?,?,?,?,?,?,?,?)", "iiiiiiiiii", 0 },
	[DB_SWITCHES] = { "INSERT INTO switches (run_id, gil_id, release_ns, from_tid, "
		"acquire_ns, to_tid, gap_ns, forced, crosses_loss) VALUES (?,?,?,?,?,?,?,?,?)",
		"iiiiiiiii", 1 },
	[DB_FORCED_SWITCHES] = { "INSERT INTO forced_switches (run_id, gil_id, tid, start_ns, "
		"end_ns, dur_ns, crosses_loss) VALUES (?,?,?,?,?,?,?)", "iiiiiii", 0 },
	[DB_LOST] = { "INSERT INTO lost (run_id, stream, start_ns, end_ns, count) "
		"VALUES (?,?,?,?,?)", "itiii", 0 },
	[DB_METRICS] = { "INSERT INTO metrics (run_id, gil_id, wall_ns, held_pct, wait_pct, "
		"contention_pct, switches, switches_per_s, drop_requests, drop_requests_per_s, "
		"forced_releases, handoff_ns, hold_p50_ns, hold_p90_ns, hold_p99_ns, hold_max_ns, "
		"wait_p50_ns, wait_p90_ns, wait_p99_ns, wait_max_ns, gap_p50_ns, gap_p90_ns, "
		"gap_p99_ns, gap_max_ns, drop_response_p50_ns, drop_response_p90_ns, "
		"drop_response_p99_ns, drop_response_max_ns, held_ns, wait_ns, contended_ns, "
		"holds, waits, timeouts, convoys) "
		"VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
		"iiidddididii" "iiii" "iiii" "iiii" "iiii" "iiiiiii", 0 },
	[DB_FINDINGS] = { "INSERT INTO findings (run_id, kind, title, gil_id, tid, value, "
		"message, detail, at_ns, dur_ns) VALUES (?,?,?,?,?,?,?,?,?,?)", "issiidttii", 0 },
	[DB_CODE_SITES] = { "INSERT INTO code_sites (run_id, site_id, filename, function, line, "
		"holds, held_ns, max_hold_ns, acquires, voluntary_releases, released_ns, "
		"forced_releases, waits, wait_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
		"iittiiiiiiiiii", 0 },
	[DB_STACKS] = { "INSERT INTO stacks (run_id, stack_id, depth, site_id, holds, held_ns, "
		"waits, wait_ns) VALUES (?,?,?,?,?,?,?,?)", "iiiiiiii", 0 },
	[DB_STACK_FRAMES] = { "INSERT INTO stack_frames (run_id, stack_id, depth, site_id) "
		"VALUES (?,?,?,?)", "iiii", 1 },
};

/* Rows travel from the analysis thread to the writer thread in batches:
 * decoding the trace and SQLite's inserts each take about half the time,
 * so overlapping them on two cores nearly halves a run. Bounded: at most
 * MAX_BATCHES batches (~3 MiB) exist, the producer waits for a free one. */
#define BATCH_ROWS 4096
#define BATCH_CELLS (BATCH_ROWS * 8)
#define MAX_BATCHES 8

union cell {
	int64_t i;
	double d;
	char *s;   /* 't': our copy, freed once written; 's': static */
};

struct row {
	uint32_t first;  /* its first cell */
	uint8_t table;   /* its cells' types: stmt_defs[table].types */
};

struct batch {
	struct row rows[BATCH_ROWS];
	union cell cells[BATCH_CELLS];
	uint32_t nrows, ncells;
	struct batch *next;
};

struct writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv_full, cv_free;
	struct batch *free_list, *full_head, *full_tail, *cur;
	int nbatches, quit, failed;
};

/* Rows per multi-row INSERT: one statement step for MULTI_ROWS rows of
 * a table saves most of SQLite's per-statement work on the big tables. */
#define MULTI_ROWS 16

struct db {
	sqlite3 *sql;
	sqlite3_stmt *stmt[DB__TABLES];
	sqlite3_stmt *multi[DB__TABLES]; /* MULTI_ROWS rows; NULL: not worth it */
	struct writer *w; /* NULL: rows are written at once, by the caller */
	char *path;      /* the final name */
	char *tmp_path;  /* what we write, NULL when appending in place */
	int64_t run_id, first_gil_id;
	int in_txn;
	int timing;
	char err[512];
};

static void writer_start(struct db *db);
static enum gs_status writer_stop(struct db *db, int discard);
static void db_errorf(struct db *db, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void db_errorf(struct db *db, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (db->err[0])
		return; /* keep the first, root cause */
	va_start(ap, fmt);
	n = vsnprintf(db->err, sizeof(db->err), fmt, ap);
	va_end(ap);
	/* file:line helps with SQLite's own errors; line 0: a user error. */
	if (line > 0 && n >= 0 && (size_t)n < sizeof(db->err))
		snprintf(db->err + n, sizeof(db->err) - (size_t)n, " (db.c:%d)", line);
}

/* SQLite's error, and what the user can do about the two they can fix: a
 * full disk (how much is free, where) and a lock another process holds
 * (which process). */
static void db_fail(struct db *db, int line, const char *what)
{
	int code = db->sql ? sqlite3_errcode(db->sql) & 0xff : SQLITE_ERROR;
	char why[600] = "", info[400];

	if (code == SQLITE_FULL || (db->sql && sqlite3_system_errno(db->sql) == ENOSPC)) {
		fsinfo_free(db->tmp_path ? db->tmp_path : db->path, info, sizeof(info));
		snprintf(why, sizeof(why), ": the disk is full (%s): free some space or write "
			 "the database elsewhere (-o)", info);
	} else if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
		snprintf(why, sizeof(why), ": another process holds a lock on it (%s): let it "
			 "finish or close it, or write elsewhere (-o)",
			 fsinfo_holders(db->path, info, sizeof(info)) ? info : "not visible here");
	}
	db_errorf(db, line, "%s: %s: %s%s", db->path, what,
		  db->sql ? sqlite3_errmsg(db->sql) : "out of memory", why);
}

#define DB_FAIL(db, what) db_fail((db), __LINE__, (what))

const char *db_error(const struct db *db)
{
	return db->err;
}

const char *db_temp_path(const struct db *db)
{
	return db->tmp_path;
}

int64_t db_run_id(const struct db *db)
{
	return db->run_id;
}

int64_t db_first_gil_id(const struct db *db)
{
	return db->first_gil_id;
}

enum gs_status db_exec(struct db *db, const char *sql)
{
	if (sqlite3_exec(db->sql, sql, NULL, NULL, NULL) != SQLITE_OK) {
		DB_FAIL(db, "SQL failed");
		return GS_ERR_DB;
	}
	return GS_OK;
}

static int64_t db_query_int(struct db *db, const char *sql, int64_t dflt)
{
	sqlite3_stmt *s = NULL;
	int64_t v = dflt;

	if (sqlite3_prepare_v2(db->sql, sql, -1, &s, NULL) != SQLITE_OK) {
		DB_FAIL(db, "cannot query");
		v = INT64_MIN;
		goto end;
	}
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
end:
	sqlite3_finalize(s);
	return v;
}

/* A unique temp name in the destination's directory, so that rename()
 * replaces the old file atomically. */
static char *temp_beside(const char *path, char *err, size_t errlen)
{
	size_t len = strlen(path) + sizeof(".tmp-XXXXXX");
	char *tmp = malloc(len);
	int fd;

	if (!tmp) {
		snprintf(err, errlen, "out of memory");
		goto end;
	}
	snprintf(tmp, len, "%s.tmp-XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a file beside %s: %s", path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto end;
	}
	close(fd);
end:
	return tmp;
}

/* stmt_defs[t].sql with MULTI_ROWS groups of parameters after VALUES. */
static enum gs_status multi_prepare(struct db *db, enum db_table t)
{
	const char *one = stmt_defs[t].sql;
	const char *group = strstr(one, "VALUES ") + strlen("VALUES ");
	size_t glen = strlen(group), hlen = (size_t)(group - one);
	size_t len = hlen + MULTI_ROWS * (glen + 1) + 1;
	char *sql = malloc(len), *p;
	enum gs_status status = GS_ERR_NOMEM;

	if (!sql)
		goto end;
	memcpy(sql, one, hlen);
	p = sql + hlen;
	for (int k = 0; k < MULTI_ROWS; k++) {
		if (k)
			*p++ = ',';
		memcpy(p, group, glen);
		p += glen;
	}
	*p = '\0';
	status = sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &db->multi[t],
				    NULL) == SQLITE_OK ? GS_OK : GS_ERR_DB;
end:
	free(sql);
	return status;
}

/* Prepares table t's statement(s), checking its placeholders against the
 * types stmt_defs gives them. */
static enum gs_status stmt_prepare(struct db *db, enum db_table t)
{
	const struct stmt_def *def = &stmt_defs[t];
	int want = (int)strlen(def->types);

	if (sqlite3_prepare_v3(db->sql, def->sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &db->stmt[t], NULL) != SQLITE_OK ||
	    (def->multi && multi_prepare(db, t) != GS_OK)) {
		DB_FAIL(db, "cannot prepare an insert (a database of another gilscope?)");
		return GS_ERR_DB;
	}
	if (sqlite3_bind_parameter_count(db->stmt[t]) != want) {
		db_errorf(db, __LINE__, "statement %d has %d placeholders but %d types", (int)t,
			  sqlite3_bind_parameter_count(db->stmt[t]), want);
		return GS_ERR_DB;
	}
	return GS_OK;
}

struct db *db_open(const struct db_opts *opts, char *err, size_t errlen)
{
	struct db *db = calloc(1, sizeof(*db));
	const char *path = opts->path;
	int append = opts->append;
	struct stat st;
	int64_t version;
	int ok = 0;

	if (!db || !(db->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		goto end;
	}
	if (append && stat(path, &st) && errno == ENOENT)
		append = 0; /* nothing to append to: a fresh database */
	if (!append && !(db->tmp_path = temp_beside(path, err, errlen)))
		goto end;
	/* No memory statistics: they take a global mutex on every malloc.
	 * Fails harmlessly once SQLite is initialised. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* NOMUTEX: one thread at a time uses the connection (the writer
	 * thread while it runs, ours before and after), so SQLite need not
	 * lock it on every bind and step. */
	if (sqlite3_open_v2(append ? path : db->tmp_path, &db->sql,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		DB_FAIL(db, "cannot open");
		goto fail;
	}
	/* A fresh file is rebuilt from the trace on any failure: no journal,
	 * no fsync. Appending keeps a journal so a failure rolls back. */
	if (db_exec(db, append ? "PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE;"
				 "PRAGMA cache_size=-8192; PRAGMA temp_store=FILE;"
			       : "PRAGMA page_size=65536; PRAGMA journal_mode=OFF; "
				 "PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE; "
				 "PRAGMA cache_size=-8192; PRAGMA temp_store=FILE;"))
		goto fail;
	version = db_query_int(db, "PRAGMA user_version", 0);
	if (append && version != GILSCOPE_SCHEMA_VERSION &&
	    (version != 0 || db_query_int(db, "SELECT count(*) FROM sqlite_master", 0) != 0)) {
		db_errorf(db, 0, "%s: schema version %lld, this gilscope writes %d: "
			  "analyze into a new database", path, (long long)version,
			  GILSCOPE_SCHEMA_VERSION);
		goto fail;
	}
	if (db_exec(db, "BEGIN"))
		goto fail;
	db->in_txn = 1;
	if (db_exec(db, gilscope_schema_sql))
		goto fail;
	{
		char pragma[64];

		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", GILSCOPE_SCHEMA_VERSION);
		if (db_exec(db, pragma))
			goto fail;
	}
	db->timing = opts->timing;
	db->run_id = db_query_int(db, "SELECT coalesce(max(run_id), 0) + 1 FROM runs", 1);
	db->first_gil_id = db_query_int(db, "SELECT coalesce(max(gil_id), 0) + 1 FROM gils", 1);
	if (db->run_id == INT64_MIN || db->first_gil_id == INT64_MIN)
		goto fail;
	for (int t = 0; t < DB__TABLES; t++)
		if (stmt_prepare(db, (enum db_table)t))
			goto fail;
	/* Indexes: "after the fill" is the rule for a one-thread bulk load,
	 * as building them at once beats maintaining them row by row. Here the
	 * rows are written by a writer thread on a second CPU, which the trace
	 * decoding leaves half idle: maintaining the indexes there costs no
	 * wall time, while building them after the fill adds a third to a run
	 * (3M events: 2.7 s instead of 3.6 s, babeltrace2 alone 2.0 s). With
	 * one CPU, or opts->index_after_fill, they come after. */
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2 && !opts->index_after_fill &&
	    db_exec(db, gilscope_indexes_sql))
		goto fail;
	writer_start(db);
	ok = 1;
	goto end;
fail:
	snprintf(err, errlen, "%s", db->err);
	db_abort(db);
	db = NULL;
end:
	if (!ok && db) {
		free(db->path);
		free(db);
		db = NULL;
	}
	return db;
}

/* Binds one row's cells from parameter col on. */
static int row_bind(sqlite3_stmt *s, int col, const char *fmt, const union cell *c)
{
	int rc = SQLITE_OK;

	for (const char *f = fmt; *f && rc == SQLITE_OK; f++, col++, c++) {
		switch (*f) {
		case 'i':
			rc = c->i == GS_UNKNOWN ? sqlite3_bind_null(s, col) : sqlite3_bind_int64(s, col, c->i);
			break;
		case 'd':
			rc = isnan(c->d) ? sqlite3_bind_null(s, col) : sqlite3_bind_double(s, col, c->d);
			break;
		case 't':
		case 's':
			rc = c->s ? sqlite3_bind_text(s, col, c->s, -1, SQLITE_STATIC)
				  : sqlite3_bind_null(s, col);
			break;
		default:
			rc = SQLITE_MISUSE;
		}
	}
	return rc;
}

static int stmt_run(struct db *db, sqlite3_stmt *s, int rc)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	sqlite3_reset(s); /* every column is bound again: no clear_bindings */
	if (rc != SQLITE_DONE) {
		DB_FAIL(db, "cannot insert");
		return -1;
	}
	return 0;
}

/* Binds a row's cells and steps: the one place single rows reach SQLite. */
static int row_exec(struct db *db, enum db_table t, const union cell *c)
{
	return stmt_run(db, db->stmt[t], row_bind(db->stmt[t], 1, stmt_defs[t].types, c));
}

/* Writes a batch: per table, MULTI_ROWS rows a statement while they
 * last, then one by one. Rows keep their order within each table. */
static int batch_exec(struct db *db, struct batch *b)
{
	static uint32_t idx[DB__TABLES][BATCH_ROWS]; /* writer thread only */
	uint32_t n[DB__TABLES] = { 0 };

	for (uint32_t i = 0; i < b->nrows; i++)
		idx[b->rows[i].table][n[b->rows[i].table]++] = i;
	for (int t = 0; t < DB__TABLES; t++) {
		uint32_t i = 0;

		for (; db->multi[t] && i + MULTI_ROWS <= n[t]; i += MULTI_ROWS) {
			int rc = SQLITE_OK, col = 1;

			for (uint32_t k = 0; k < MULTI_ROWS && rc == SQLITE_OK; k++) {
				struct row *r = &b->rows[idx[t][i + k]];

				rc = row_bind(db->multi[t], col, stmt_defs[t].types,
					      &b->cells[r->first]);
				col += (int)strlen(stmt_defs[t].types);
			}
			if (stmt_run(db, db->multi[t], rc))
				return -1;
		}
		for (; i < n[t]; i++) {
			struct row *r = &b->rows[idx[t][i]];

			if (row_exec(db, (enum db_table)t, &b->cells[r->first]))
				return -1;
		}
	}
	return 0;
}

static void cells_free(enum db_table t, union cell *c)
{
	for (const char *f = stmt_defs[t].types; *f; f++, c++)
		if (*f == 't')
			free(c->s);
}

static void *writer_main(void *arg)
{
	struct db *db = arg;
	struct writer *w = db->w;

	pthread_setname_np(pthread_self(), "gilscope-write"); /* for top and perf */
	for (;;) {
		struct batch *b;
		int failed;

		pthread_mutex_lock(&w->mu);
		while (!w->full_head && !w->quit)
			pthread_cond_wait(&w->cv_full, &w->mu);
		b = w->full_head;
		if (b) {
			w->full_head = b->next;
			if (!w->full_head)
				w->full_tail = NULL;
		}
		failed = w->failed;
		pthread_mutex_unlock(&w->mu);
		if (!b)
			break; /* quit, and nothing left */
		if (!failed && batch_exec(db, b))
			failed = 1;
		for (uint32_t i = 0; i < b->nrows; i++)
			cells_free(b->rows[i].table, &b->cells[b->rows[i].first]);
		b->nrows = b->ncells = 0;
		pthread_mutex_lock(&w->mu);
		if (failed)
			w->failed = 1;
		b->next = w->free_list;
		w->free_list = b;
		pthread_cond_signal(&w->cv_free);
		pthread_mutex_unlock(&w->mu);
	}
	return NULL;
}

/* Hands the current batch to the writer and takes an empty one. */
static enum gs_status writer_submit(struct db *db)
{
	struct writer *w = db->w;
	struct batch *b = w->cur;
	enum gs_status status;

	pthread_mutex_lock(&w->mu);
	if (b && b->nrows) {
		b->next = NULL;
		if (w->full_tail)
			w->full_tail->next = b;
		else
			w->full_head = b;
		w->full_tail = b;
		pthread_cond_signal(&w->cv_full);
		b = NULL;
	}
	if (!b) {
		while (!w->free_list && w->nbatches >= MAX_BATCHES)
			pthread_cond_wait(&w->cv_free, &w->mu);
		if (w->free_list) {
			b = w->free_list;
			w->free_list = b->next;
		} else if ((b = calloc(1, sizeof(*b)))) {
			w->nbatches++;
		}
	}
	w->cur = b;
	status = w->failed ? GS_ERR_DB : GS_OK; /* the writer said why */
	pthread_mutex_unlock(&w->mu);
	if (!b) {
		db_errorf(db, __LINE__, "out of memory");
		status = GS_ERR_NOMEM;
	}
	return status;
}

/* Waits until every submitted row is written and stops the writer: from
 * then on db_insert() writes at once. */
static enum gs_status writer_stop(struct db *db, int discard)
{
	struct writer *w = db->w;
	int failed;

	if (!w)
		return GS_OK;
	if (w->cur && w->cur->nrows && !discard)
		writer_submit(db);
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	if (discard)
		w->failed = 1;
	pthread_cond_signal(&w->cv_full);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	failed = w->failed;
	if (w->cur) {
		for (uint32_t i = 0; i < w->cur->nrows; i++)
			cells_free(w->cur->rows[i].table,
				   &w->cur->cells[w->cur->rows[i].first]);
		free(w->cur);
	}
	while (w->free_list) {
		struct batch *b = w->free_list;

		w->free_list = b->next;
		free(b);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv_full);
	pthread_cond_destroy(&w->cv_free);
	free(w);
	db->w = NULL;
	return failed && !discard ? GS_ERR_DB : GS_OK;
}

static void writer_start(struct db *db)
{
	struct writer *w = calloc(1, sizeof(*w));

	if (!w)
		return; /* rows will be written at once: slower, not wrong */
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv_full, NULL);
	pthread_cond_init(&w->cv_free, NULL);
	db->w = w;
	if (pthread_create(&w->thread, NULL, writer_main, db)) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv_full);
		pthread_cond_destroy(&w->cv_free);
		free(w);
		db->w = NULL;
	}
}

enum gs_status db_insert(struct db *db, enum db_table t, ...)
{
	const char *fmt = stmt_defs[t].types;
	union cell local[64], *c = local;
	size_t n = strlen(fmt);
	struct batch *b = NULL;
	va_list ap;
	enum gs_status status = GS_ERR_DB;

	if (n > 64) {
		db_errorf(db, __LINE__, "too many columns");
		goto end;
	}
	if (db->w) {
		b = db->w->cur;
		if (!b || b->nrows == BATCH_ROWS || b->ncells + n > BATCH_CELLS) {
			if ((status = writer_submit(db)) != GS_OK)
				goto end;
			b = db->w->cur;
		}
		c = &b->cells[b->ncells];
	}
	status = GS_OK;
	va_start(ap, t);
	for (size_t i = 0; i < n; i++) {
		switch (fmt[i]) {
		case 'i':
			c[i].i = va_arg(ap, int64_t);
			break;
		case 'd':
			c[i].d = va_arg(ap, double);
			break;
		case 't': {
			const char *v = va_arg(ap, const char *);

			/* Copied: the caller's names may be gone before the write. */
			c[i].s = v ? strdup(v) : NULL;
			if (v && !c[i].s)
				status = GS_ERR_NOMEM;
			break;
		}
		default:
			c[i].s = (char *)va_arg(ap, const char *);
			break;
		}
	}
	va_end(ap);
	if (status != GS_OK)
		db_errorf(db, __LINE__, "out of memory");
	if (!b) { /* no writer thread: written now */
		if (status == GS_OK && row_exec(db, t, c))
			status = GS_ERR_DB;
		cells_free(t, c);
		goto end;
	}
	b->rows[b->nrows++] = (struct row){ .first = b->ncells, .table = (uint8_t)t };
	b->ncells += (uint32_t)n;
end:
	return status;
}

static void db_close(struct db *db)
{
	for (int t = 0; t < DB__TABLES; t++) {
		sqlite3_finalize(db->stmt[t]);
		sqlite3_finalize(db->multi[t]);
	}
	sqlite3_close(db->sql);
	free(db->tmp_path);
	free(db->path);
	free(db);
}

/* Takes the write lock of the database a fresh one replaces (*old, NULL
 * when there is none to lock, or it is no SQLite file). GS_ERR_DB after
 * the error when another process holds a lock on it. */
static enum gs_status old_lock(struct db *db, sqlite3 **old)
{
	struct stat st;
	enum gs_status status = GS_OK;
	int rc, keep = 0;

	*old = NULL;
	if (stat(db->path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    sqlite3_open_v2(db->path, old, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		goto end; /* nothing to protect */
	sqlite3_busy_timeout(*old, 2000);
	rc = sqlite3_exec(*old, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
		char who[400];

		db_errorf(db, 0, "%s is in use: another process holds a lock on it (%s): let it "
			  "finish or close it, or write elsewhere (-o); it was not replaced",
			  db->path, fsinfo_holders(db->path, who, sizeof(who)) ? who
			  : "not visible here");
		status = GS_ERR_DB;
	} else {
		keep = rc == SQLITE_OK; /* not a database: nothing to protect */
	}
end:
	if (!keep) {
		sqlite3_close(*old);
		*old = NULL;
	}
	return status;
}

enum gs_status db_commit(struct db *db, char *err, size_t errlen)
{
	/* opts->timing: where the time goes, for bench/ and us. */
	int timing = db->timing;
	double t0 = mono_s(), t1, t2;
	enum gs_status status = GS_ERR_DB;

	if (writer_stop(db, 0) != GS_OK)
		goto end;
	t1 = mono_s();
	if (db_exec(db, gilscope_indexes_sql)) /* a no-op when made before the fill */
		goto end;
	t2 = mono_s();
	if (db_exec(db, "COMMIT"))
		goto end;
	if (timing)
		fprintf(stderr, "gilscope analyze: timing: writer drain %.3f s, indexes %.3f s, "
			"commit %.3f s\n", t1 - t0, t2 - t1, mono_s() - t2);
	db->in_txn = 0;
	for (int t = 0; t < DB__TABLES; t++) {
		sqlite3_finalize(db->stmt[t]);
		sqlite3_finalize(db->multi[t]);
		db->stmt[t] = db->multi[t] = NULL;
	}
	if (sqlite3_close(db->sql) != SQLITE_OK) {
		DB_FAIL(db, "cannot close");
		goto end;
	}
	db->sql = NULL;
	if (db->tmp_path) {
		/* mkstemp made it 0600; a database is no secret. */
		mode_t um = umask(0);

		sqlite3 *old = NULL;
		int moved;

		umask(um);
		/* Replace only a database no one is writing: its writer's
		 * commit would go to the replaced file and be lost. Its lock
		 * is held until the new file is in place. */
		if (old_lock(db, &old) != GS_OK)
			goto end;
		moved = chmod(db->tmp_path, 0666 & ~um) == 0 && rename(db->tmp_path, db->path) == 0;
		if (!moved)
			db_errorf(db, 0, "cannot move %s to %s: %s", db->tmp_path,
				  db->path, strerror(errno));
		if (old) {
			sqlite3_exec(old, "ROLLBACK", NULL, NULL, NULL);
			sqlite3_close(old);
		}
		if (!moved)
			goto end;
		free(db->tmp_path);
		db->tmp_path = NULL;
	}
	status = GS_OK;
end:
	/* Either way db is gone: closed, or rolled back and its temp removed. */
	if (status == GS_OK) {
		db_close(db);
	} else {
		snprintf(err, errlen, "%s", db->err);
		db_abort(db);
	}
	return status;
}

void db_abort(struct db *db)
{
	if (!db)
		return;
	writer_stop(db, 1);
	if (db->in_txn && db->sql)
		sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
	if (db->tmp_path) {
		for (int t = 0; t < DB__TABLES; t++) {
			sqlite3_finalize(db->stmt[t]);
			sqlite3_finalize(db->multi[t]);
			db->stmt[t] = db->multi[t] = NULL;
		}
		sqlite3_close(db->sql);
		db->sql = NULL;
		unlink(db->tmp_path);
	}
	db_close(db);
}

void db_recover(const char *path)
{
	sqlite3 *sql = NULL;

	/* Opening and reading rolls back what a dead writer left (a hot
	 * journal), and removes the journal. */
	if (sqlite3_open_v2(path, &sql, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK)
		sqlite3_exec(sql, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	sqlite3_close(sql);
}
