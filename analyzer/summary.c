/* summary_print(): the terminal summary of a run, perf-stat style figures
 * and bcc-style log2 histograms, never wider than 80 columns. */
#include "analyze.h"
#include "db.h"
#include "durs.h"
#include "fsinfo.h"
#include "srcline.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX "gilscope summary: "
#define HIST_BUCKETS 40
#define STARS 40
#define SITE_COLS 31

#define TEXT_SLOTS 8

struct summary {
	sqlite3 *sql;
	FILE *out;
	const char *path;
	int64_t run_id;
	char err[1024];
	char text[TEXT_SLOTS][1024]; /* escaped strings of one printf */
	int next_text;
};

/* Says why a query failed in s->err; returns GS_ERR_DB. */
static enum gs_status sum_fail(struct summary *s, const char *what)
{
	int code = sqlite3_errcode(s->sql) & 0xff;

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
		char who[400];

		snprintf(s->err, sizeof(s->err), "locked: another process is writing it (%s): "
			 "let it finish or close it, then try again",
			 fsinfo_holders(s->path, who, sizeof(who)) ? who : "not visible here");
		return GS_ERR_DB;
	}
	snprintf(s->err, sizeof(s->err), "%s: %s", what, sqlite3_errmsg(s->sql));
	return GS_ERR_DB;
}

/* Prepares sql with ?1 bound to the run id. */
static sqlite3_stmt *sum_query(struct summary *s, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(s->sql, sql, -1, &st, NULL) != SQLITE_OK) {
		sum_fail(s, "cannot query the database (not a gilscope database?)");
		sqlite3_finalize(st);
		st = NULL;
	} else if (sqlite3_bind_parameter_count(st) >= 1) {
		sqlite3_bind_int64(st, 1, s->run_id);
	}
	return st;
}

enum sum_rows { SUM_ONE_ROW, SUM_EACH_ROW };

/* Every section's query: runs sql (?1: the run) and prints each row it
 * returns with row(s, st, ctx); SUM_ONE_ROW: exactly one, the first.
 * On failure s->err says "what: SQLite's reason". */
static enum gs_status sum_rows(struct summary *s, const char *sql, enum sum_rows rows,
			       const char *what,
			       void (*row)(struct summary *s, sqlite3_stmt *st, void *ctx), void *ctx)
{
	sqlite3_stmt *st = sum_query(s, sql);
	enum gs_status status = GS_ERR_DB;
	int step;

	if (!st)
		goto end;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		row(s, st, ctx);
		if (rows == SUM_ONE_ROW)
			break;
	}
	if (step != (rows == SUM_ONE_ROW ? SQLITE_ROW : SQLITE_DONE)) {
		status = sum_fail(s, what);
		goto end;
	}
	status = GS_OK;
end:
	sqlite3_finalize(st);
	return status;
}

static void fmt_ns(char *buf, size_t len, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		snprintf(buf, len, "-");
	else
		durs_format(buf, len, sqlite3_column_double(st, col));
}

/* Text for the terminal: what the traced program chose (thread names,
 * its command line) may hold escape sequences; control characters, C1
 * controls and bytes that are not UTF-8 are shown as \xHH. */
static void term_escape(const unsigned char *in, char *out, size_t len)
{
	size_t o = 0;

	while (*in && o + 5 < len) {
		unsigned char c = *in;
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
			 : (c & 0xf8) == 0xf0 ? 4 : 0;
		size_t ok = n;

		for (size_t k = 1; k < n && ok; k++)
			if ((in[k] & 0xc0) != 0x80)
				ok = 0;
		if (n == 2 && c == 0xc2 && in[1] < 0xa0)
			ok = 0; /* U+0080..U+009F: C1 controls, CSI among them */
		if (c < 0x20 || c == 0x7f || !ok) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
			in++;
			continue;
		}
		if (o + n >= len)
			break;
		memcpy(out + o, in, n);
		o += n;
		in += n;
	}
	out[o] = '\0';
}

static const char *col_text(struct summary *s, sqlite3_stmt *st, int col, const char *dflt)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	char *buf = s->text[s->next_text++ % TEXT_SLOTS];

	if (!t)
		return dflt;
	term_escape(t, buf, sizeof(s->text[0]));
	return buf;
}

/* 12345678 -> "12,345,678". */
static void fmt_count(char *buf, size_t len, long long v)
{
	char digits[32];
	int n = snprintf(digits, sizeof(digits), "%lld", v < 0 ? -v : v);
	size_t o = 0;

	if (v < 0 && o + 1 < len)
		buf[o++] = '-';
	for (int i = 0; i < n && o + 1 < len; i++) {
		if (i && (n - i) % 3 == 0 && o + 1 < len)
			buf[o++] = ',';
		if (o + 1 < len)
			buf[o++] = digits[i];
	}
	buf[o] = '\0';
}

/* text in at most width bytes: cut, it says so ("..."), at its end (a
 * command) or at its start (a path, whose end names it). A command cut
 * silently can read as another one: "churn 2 20000" as "churn 2 2". */
static const char *fit(const char *text, size_t width, int keep_end, char *buf, size_t len)
{
	size_t n = strlen(text);

	size_t cut;

	if (n <= width || width < 4 || len <= width)
		return text;
	/* Whole UTF-8 characters only: never start or end inside one. */
	if (keep_end) {
		cut = n - (width - 3);
		while (cut < n && ((unsigned char)text[cut] & 0xc0) == 0x80)
			cut++;
		snprintf(buf, len, "...%s", text + cut);
	} else {
		cut = width - 3;
		while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80)
			cut--;
		snprintf(buf, len, "%.*s...", (int)cut, text);
	}
	return buf;
}

static void header_row(struct summary *s, sqlite3_stmt *st, void *ctx)
{
	char wall[32], handoff[32], lost[64], cmd[48], path[72];

	(void)ctx;
	fmt_ns(wall, sizeof(wall), st, 6);
	fmt_ns(handoff, sizeof(handoff), st, 17);
	fprintf(s->out, "\n GIL summary of run %" PRId64 ": %s", s->run_id,
		fit(col_text(s, st, 0, "(command unknown)"), 44, 0, cmd, sizeof(cmd)));
	if (sqlite3_column_type(st, 1) != SQLITE_NULL)
		fprintf(s->out, " (exit %d)", sqlite3_column_int(st, 1));
	fprintf(s->out, "\n\n");
	fprintf(s->out, "  trace     %s\n", fit(col_text(s, st, 2, "?"), 68, 1, path, sizeof(path)));
	fprintf(s->out, "  host      %-24.24s python  %s\n", col_text(s, st, 3, "?"),
		col_text(s, st, 4, "?"));
	fprintf(s->out, "  wall      %-24s interval %s us\n", wall, col_text(s, st, 5, "?"));
	if (sqlite3_column_int64(st, 26)) /* losses of unknown count: see the findings */
		snprintf(lost, sizeof(lost), sqlite3_column_int64(st, 8) ? "%lld + unknown (see findings)"
			 : "unknown (see findings)", (long long)sqlite3_column_int64(st, 8));
	else if (!sqlite3_column_int64(st, 8) && sqlite3_column_int64(st, 24))
		/* A database of an older analyzer: the gaps are losses. */
		snprintf(lost, sizeof(lost), "unknown (see order)");
	else
		snprintf(lost, sizeof(lost), "%lld", (long long)sqlite3_column_int64(st, 8));
	fprintf(s->out, "  events    %-24lld lost    %s",
		(long long)sqlite3_column_int64(st, 7), lost);
	if (sqlite3_column_int64(st, 9))
		fprintf(s->out, "  anomalies %lld", (long long)sqlite3_column_int64(st, 9));
	fprintf(s->out, "\n  processes %-24d GILs    %d\n", sqlite3_column_int(st, 19),
		sqlite3_column_int(st, 20));
	if (!strcmp(col_text(s, st, 21, "launch"), "snapshot"))
		fprintf(s->out, "  starts    at the flight recorder's buffer horizon (a snapshot)\n");
	else if (!strcmp(col_text(s, st, 21, "launch"), "attach"))
		fprintf(s->out, "  starts    when `record --pid` attached (open holds/waits clipped)\n");
	if (sqlite3_column_type(st, 22) != SQLITE_NULL) {
		char checked[32], mism[32];

		fmt_count(checked, sizeof(checked), sqlite3_column_int64(st, 22));
		fmt_count(mism, sizeof(mism), sqlite3_column_int64(st, 23));
		fprintf(s->out, "  hand-offs checked against CPython's own counter: %s, mismatches %s\n",
			checked, mism);
	} else {
		fprintf(s->out, "  hand-offs not checked: no CPython counter in the trace (3.6, "
			"old gilscope)\n");
	}
	if (sqlite3_column_int64(st, 24) || sqlite3_column_int64(st, 25))
		fprintf(s->out, "  order     %lld gaps in a GIL's order, %lld late events not used\n",
			(long long)sqlite3_column_int64(st, 24),
			(long long)sqlite3_column_int64(st, 25));
	fprintf(s->out, "\n");
	fprintf(s->out, "  %14lld  switches            # %10.1f /sec\n",
		(long long)sqlite3_column_int64(st, 10), sqlite3_column_double(st, 11));
	fprintf(s->out, "  %14lld  drop requests       # %10.1f /sec\n",
		(long long)sqlite3_column_int64(st, 12), sqlite3_column_double(st, 13));
	fprintf(s->out, "  %14lld  forced releases\n", (long long)sqlite3_column_int64(st, 18));
	fprintf(s->out, "  %13.1f%%  GIL held            # per GIL, mean over GILs\n",
		sqlite3_column_double(st, 14));
	fprintf(s->out, "  %13.1f%%  contended           # time with a thread waiting\n",
		sqlite3_column_double(st, 15));
	fprintf(s->out, "  %13.1f%%  waiting             # summed over threads\n",
		sqlite3_column_double(st, 16));
	fprintf(s->out, "  %14s  hand-off overhead   # GIL free while a thread waited\n",
		handoff);
}

static enum gs_status summary_header(struct summary *s)
{
	return sum_rows(s,
		"SELECT r.command, r.exit_status, r.trace_path, r.hostname, r.python_versions, "
		"r.interval_us, r.wall_ns, r.event_count, r.lost_events, r.anomalies, "
		"m.switches, m.switches_per_s, m.drop_requests, m.drop_requests_per_s, "
		"m.held_pct, m.contention_pct, m.wait_pct, m.handoff_ns, m.forced_releases, "
		"(SELECT count(*) FROM processes WHERE run_id = ?1), "
		"(SELECT count(*) FROM gils WHERE run_id = ?1), r.trace_start, "
		"r.handoffs_checked, r.handoff_mismatches, r.order_gaps, r.late_events, "
		"(SELECT count(*) FROM lost WHERE run_id = ?1 AND count = 0) "
		"FROM runs r LEFT JOIN metrics m ON m.run_id = r.run_id AND m.gil_id IS NULL "
		"WHERE r.run_id = ?1", SUM_ONE_ROW, "cannot read the run", header_row, NULL);
}

static void percentiles_row(struct summary *s, sqlite3_stmt *st, void *ctx)
{
	static const char *const names[] = { "hold", "wait", "hand-off gap", "drop response" };

	(void)ctx;
	fprintf(s->out, "\n  %-14s %12s %12s %12s %12s\n", "", "p50", "p90", "p99", "max");
	for (int i = 0; i < 4; i++) {
		char v[4][32];

		for (int j = 0; j < 4; j++)
			fmt_ns(v[j], sizeof(v[j]), st, 4 * i + j);
		fprintf(s->out, "  %-14s %12s %12s %12s %12s\n", names[i], v[0], v[1], v[2], v[3]);
	}
}

static enum gs_status summary_percentiles(struct summary *s)
{
	return sum_rows(s,
		"SELECT hold_p50_ns, hold_p90_ns, hold_p99_ns, hold_max_ns, "
		"wait_p50_ns, wait_p90_ns, wait_p99_ns, wait_max_ns, "
		"gap_p50_ns, gap_p90_ns, gap_p99_ns, gap_max_ns, "
		"drop_response_p50_ns, drop_response_p90_ns, drop_response_p99_ns, "
		"drop_response_max_ns FROM metrics WHERE run_id = ?1 AND gil_id IS NULL",
		SUM_ONE_ROW, "cannot read the run's metrics", percentiles_row, NULL);
}

static void threads_row(struct summary *s, sqlite3_stmt *st, void *ctx)
{
	int64_t *last_pid = ctx;
	char p99[32];

	if (sqlite3_column_int64(st, 0) != *last_pid) {
		*last_pid = sqlite3_column_int64(st, 0);
		fprintf(s->out, "\n  Threads of pid %lld (%.30s), %% of the run's wall time:\n",
			(long long)*last_pid, col_text(s, st, 1, "?"));
		fprintf(s->out, "  %7s %-14s %6s %6s %8s %8s %9s %6s %6s\n", "TID", "NAME",
			"HELD%", "WAIT%", "HOLDS", "WAITS", "WAIT p99", "FORCED", "CONVOY");
	}
	fmt_ns(p99, sizeof(p99), st, 8);
	fprintf(s->out, "  %7lld %-14.14s %6.1f %6.1f %8lld %8lld %9s %6lld %6lld\n",
		(long long)sqlite3_column_int64(st, 2), col_text(s, st, 3, ""),
		sqlite3_column_double(st, 4), sqlite3_column_double(st, 5),
		(long long)sqlite3_column_int64(st, 6), (long long)sqlite3_column_int64(st, 7),
		p99, (long long)sqlite3_column_int64(st, 9),
		(long long)sqlite3_column_int64(st, 10));
}

static enum gs_status summary_threads(struct summary *s)
{
	int64_t last_pid = -1;

	return sum_rows(s,
		"SELECT t.pid, coalesce(p.procname, '?'), t.tid, coalesce(t.name, ''), "
		"100.0 * t.held_ns / NULLIF(r.wall_ns, 0), 100.0 * t.wait_ns / NULLIF(r.wall_ns, 0), "
		"t.holds, t.waits, t.wait_p99_ns, t.forced_releases, t.convoys "
		"FROM threads t JOIN runs r USING (run_id) "
		"LEFT JOIN processes p ON p.run_id = t.run_id AND p.pid = t.pid "
		"WHERE t.run_id = ?1 AND (t.holds > 0 OR t.waits > 0) "
		"ORDER BY t.pid, t.first_ns, t.tid",
		SUM_EACH_ROW, "cannot read the threads", threads_row, &last_pid);
}

/* Several GILs (a fork, subinterpreters with their own GIL): one line
 * each. Nothing for the usual single GIL, the header says it all. */
static void gils_row(struct summary *s, sqlite3_stmt *st, void *ctx)
{
	int *first = ctx;
	char life[32];

	if (sqlite3_column_int(st, 9) < 2)
		return;
	if (*first) {
		fprintf(s->out, "\n  %7s %-16s %-9s %8s %6s %6s %8s %8s\n", "PID", "GIL", "RULE",
			"LIFE", "HELD%", "CONT%", "SWITCHES", "HOLDS");
		*first = 0;
	}
	fmt_ns(life, sizeof(life), st, 8);
	fprintf(s->out, "  %7lld %-16.16s %-9.9s %8s %6.1f %6.1f %8lld %8lld\n",
		(long long)sqlite3_column_int64(st, 0), col_text(s, st, 1, "?"),
		col_text(s, st, 2, "?"), life, sqlite3_column_double(st, 4),
		sqlite3_column_double(st, 5), (long long)sqlite3_column_int64(st, 6),
		(long long)sqlite3_column_int64(st, 7));
}

static enum gs_status summary_gils(struct summary *s)
{
	int first = 1;

	return sum_rows(s,
		"SELECT g.pid, g.address, g.rule, coalesce(g.interval_us, -1), m.held_pct, "
		"m.contention_pct, m.switches, m.holds, m.wall_ns, "
		"(SELECT count(*) FROM gils WHERE run_id = ?1) "
		"FROM gils g JOIN metrics m ON m.gil_id = g.gil_id "
		"WHERE g.run_id = ?1 ORDER BY g.pid, g.found_ns",
		SUM_EACH_ROW, "cannot read the GILs", gils_row, &first);
}

struct hist {
	uint64_t buckets[HIST_BUCKETS], max;
	int top;
};

static void hist_row(struct summary *s, sqlite3_stmt *st, void *ctx)
{
	struct hist *h = ctx;
	int64_t us = sqlite3_column_int64(st, 0) / 1000;
	int b = 0;

	(void)s;
	while (us > 1 && b < HIST_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	if (++h->buckets[b] > h->max)
		h->max = h->buckets[b];
	if (b > h->top)
		h->top = b;
}

/* bcc's print_log2_hist: bucket i holds [2^i, 2^(i+1)) us, 0 holds 0-1. */
static enum gs_status summary_hist(struct summary *s, const char *title, const char *sql)
{
	struct hist h = { .top = -1 };
	enum gs_status status = sum_rows(s, sql, SUM_EACH_ROW, "cannot read the durations",
					 hist_row, &h);

	if (status != GS_OK)
		return status;
	fprintf(s->out, "\n  %s\n", title);
	if (h.top < 0) {
		fprintf(s->out, "  (none)\n");
		return GS_OK;
	}
	fprintf(s->out, "  %22s : %-8s %s\n", "usecs", "count", "distribution");
	for (int b = 0; b <= h.top; b++) {
		uint64_t lo = b ? (uint64_t)1 << b : 0, hi = ((uint64_t)1 << (b + 1)) - 1;
		int stars = h.max ? (int)(h.buckets[b] * STARS / h.max) : 0;
		char bar[STARS + 1];

		if (!b)
			hi = 1;
		memset(bar, '*', (size_t)stars);
		memset(bar + stars, ' ', (size_t)(STARS - stars));
		bar[STARS] = '\0';
		fprintf(s->out, "  %10" PRIu64 " -> %-9" PRIu64 ": %-8" PRIu64 " |%s|\n", lo, hi,
			h.buckets[b], bar);
	}
	return GS_OK;
}

static void count_row(struct summary *s, sqlite3_stmt *st, void *ctx)
{
	(void)s;
	*(int64_t *)ctx = sqlite3_column_int64(st, 0);
}

static void sites_row(struct summary *s, sqlite3_stmt *st, void *ctx)
{
	int *n = ctx;
	char held[32], wait[32], off[32], raw[512], site[256], src[72];
	const char *file = col_text(s, st, 0, "?");
	size_t len;

	if (!(*n)++) {
		fprintf(s->out, "\n  Where the GIL goes (held until, waited at, released "
			"at these lines):\n");
		fprintf(s->out, "  %9s %9s %8s %9s %6s  %s\n", "HELD", "WAITED", "RELEASES",
			"OFF-GIL", "FORCED", "FILE:LINE FUNCTION");
	}
	fmt_ns(held, sizeof(held), st, 3);
	fmt_ns(wait, sizeof(wait), st, 4);
	fmt_ns(off, sizeof(off), st, 6);
	if (sqlite3_column_type(st, 2) != SQLITE_NULL)
		snprintf(raw, sizeof(raw), "%s:%lld %s", srcline_base(file),
			 (long long)sqlite3_column_int64(st, 2), col_text(s, st, 1, "?"));
	else
		snprintf(raw, sizeof(raw), "%s %s", srcline_base(file), col_text(s, st, 1, "?"));
	srcline_clean(raw, site, sizeof(site));
	/* Too long: the end (line and function) matters most. */
	len = strlen(site);
	fprintf(s->out, "  %9s %9s %8lld %9s %6lld  %s%s\n", held, wait,
		(long long)sqlite3_column_int64(st, 5), off,
		(long long)sqlite3_column_int64(st, 7), len > SITE_COLS ? "..." : "",
		len > SITE_COLS ? site + len - (SITE_COLS - 3) : site);
	if (sqlite3_column_type(st, 2) != SQLITE_NULL &&
	    srcline_read(file, sqlite3_column_int64(st, 2), src, sizeof(src)) == GS_OK)
		fprintf(s->out, "  %10s`%.64s`\n", "", src);
}

/* Where the GIL goes: the lines it was held until, waited at and released
 * at (code_sites): the top 4 by held time, 3 by wait and 3 by releases,
 * each with its source line when the file is readable here. */
static enum gs_status summary_sites(struct summary *s)
{
	int64_t has_table = 0;
	int n = 0;
	enum gs_status status = sum_rows(s, "SELECT count(*) FROM sqlite_master WHERE type = "
					 "'table' AND name = 'code_sites'", SUM_ONE_ROW,
					 "cannot read the schema", count_row, &has_table);

	if (status != GS_OK)
		return status;
	if (!has_table) {
		fprintf(s->out, "\n  Where the GIL goes: not in this database (analyzed by a "
			"gilscope without code locations)\n");
		return GS_OK;
	}
	status = sum_rows(s,
		"WITH c AS (SELECT * FROM code_sites WHERE run_id = ?1), pick AS ("
		" SELECT site_id FROM (SELECT site_id FROM c WHERE held_ns > 0 "
		"  ORDER BY held_ns DESC LIMIT 4) UNION "
		" SELECT site_id FROM (SELECT site_id FROM c WHERE wait_ns > 0 "
		"  ORDER BY wait_ns DESC LIMIT 3) UNION "
		" SELECT site_id FROM (SELECT site_id FROM c "
		"  WHERE voluntary_releases + forced_releases > 0 "
		"  ORDER BY voluntary_releases + forced_releases DESC LIMIT 3)) "
		"SELECT filename, function, line, held_ns, wait_ns, voluntary_releases, "
		"released_ns, forced_releases FROM c WHERE site_id IN pick "
		"ORDER BY held_ns + wait_ns DESC, site_id",
		SUM_EACH_ROW, "cannot read the code sites", sites_row, &n);
	if (status == GS_OK && !n)
		fprintf(s->out, "\n  Where the GIL goes: no code locations (Python 3.6, an "
			"interpreter the\n  tracer does not know, or recorded with "
			"GILSCOPE_ATTRIB=off)\n");
	return status;
}

static void findings_row(struct summary *s, sqlite3_stmt *st, void *ctx)
{
	int *n = ctx;
	const char *msg = col_text(s, st, 0, "");
	int first = 1;

	if (!(*n)++)
		fprintf(s->out, "\n  Findings:\n");
	while (*msg) {
		size_t width = 72, len = strlen(msg);

		if (len > width) {
			size_t cut = width;

			while (cut > 0 && msg[cut] != ' ')
				cut--;
			len = cut ? cut : width;
		}
		fprintf(s->out, "  %s %.*s\n", first ? " *" : "  ", (int)len, msg);
		first = 0;
		msg += len;
		while (*msg == ' ')
			msg++;
	}
}

/* Findings are written most important first; wrap each at 78 columns. */
static enum gs_status summary_findings(struct summary *s)
{
	int n = 0;
	enum gs_status status = sum_rows(s,
		"SELECT message FROM findings WHERE run_id = ?1 ORDER BY rowid LIMIT 8",
		SUM_EACH_ROW, "cannot read the findings", findings_row, &n);

	if (status == GS_OK && !n)
		fprintf(s->out, "\n  No findings.\n");
	return status;
}

/* The schema version this summary reads, as the report checks it. */
static enum gs_status summary_check_schema(struct summary *s)
{
	sqlite3_stmt *st = NULL;
	int64_t version = -1, runs = 0;
	enum gs_status status = GS_ERR_INPUT;

	if (sqlite3_prepare_v2(s->sql, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		status = sum_fail(s, "not a gilscope database");
		goto end;
	}
	version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(s->sql, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
			       "AND name = 'runs'", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		status = sum_fail(s, "not a gilscope database");
		goto end;
	}
	runs = sqlite3_column_int64(st, 0);
	if (!runs) {
		snprintf(s->err, sizeof(s->err), "not a gilscope database (no runs table)");
		goto end;
	}
	if (version != GILSCOPE_SCHEMA_VERSION) {
		snprintf(s->err, sizeof(s->err), "database schema version %lld, this summary reads "
			 "%d: re-run `gilscope analyze` with this gilscope", (long long)version,
			 GILSCOPE_SCHEMA_VERSION);
		goto end;
	}
	status = GS_OK;
end:
	sqlite3_finalize(st);
	return status;
}

/* 1 with why in err when path cannot be a database: missing, or a
 * directory (a trace directory is named as one, with the command that
 * makes its database). */
static int summary_not_db(const char *path, char *err, size_t len)
{
	char info[4096];
	struct stat sb;

	if (stat(path, &sb) < 0) {
		snprintf(err, len, "%s", strerror(errno));
		return 1;
	}
	if (!S_ISDIR(sb.st_mode))
		return 0;
	snprintf(info, sizeof(info), "%s/gilscope.info", path);
	if (access(info, F_OK) == 0)
		snprintf(err, len, "is a trace directory, not a database: `gilscope analyze "
			 "TRACE_DIR -o run.db` makes its database");
	else
		snprintf(err, len, "is a directory, not a gilscope database");
	return 1;
}

enum gs_status summary_print(const char *db_path, FILE *out)
{
	struct summary s = { .out = out, .path = db_path };
	sqlite3_stmt *st = NULL;
	enum gs_status status = GS_ERR_DB;

	/* SQLite says "disk I/O error" of a directory and "unable to open"
	 * of a missing file: say what the path is instead. */
	if (summary_not_db(db_path, s.err, sizeof(s.err))) {
		status = GS_ERR_INPUT;
		goto end;
	}
	if (sqlite3_open_v2(db_path, &s.sql, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(s.err, sizeof(s.err), "%s", s.sql ? sqlite3_errmsg(s.sql) : "cannot open");
		goto end;
	}
	/* A writer's commit takes a moment: wait for it, not for ever. */
	sqlite3_busy_timeout(s.sql, 2000);
	if ((status = summary_check_schema(&s)) != GS_OK)
		goto end;
	st = sum_query(&s, "SELECT max(run_id) FROM runs");
	if (!st)
		goto end;
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL) {
		snprintf(s.err, sizeof(s.err), "no run in this database");
		status = GS_ERR_INPUT;
		goto end;
	}
	s.run_id = sqlite3_column_int64(st, 0);
	if ((status = summary_header(&s)) != GS_OK ||
	    (status = summary_percentiles(&s)) != GS_OK ||
	    (status = summary_gils(&s)) != GS_OK ||
	    (status = summary_threads(&s)) != GS_OK ||
	    (status = summary_hist(&s, "GIL hold times (all GILs):",
				   "SELECT dur_ns FROM holds WHERE run_id = ?1")) != GS_OK ||
	    (status = summary_hist(&s, "GIL wait times (all threads):",
				   "SELECT dur_ns FROM waits WHERE run_id = ?1")) != GS_OK ||
	    (status = summary_sites(&s)) != GS_OK ||
	    (status = summary_findings(&s)) != GS_OK)
		goto end;
	fprintf(out, "\n");
	status = GS_OK;
end:
	if (status != GS_OK)
		fprintf(stderr, PREFIX "%s: %s\n", db_path, s.err);
	sqlite3_finalize(st);
	sqlite3_close(s.sql);
	return status;
}
