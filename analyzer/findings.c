/* The findings: what stands out in a run, in plain words. This is the
 * only place their English is written; each goes to the findings table
 * with its structured fields (docs/schema.md), and the summary and the
 * report show them as stored. Written most important first. */
#include "model_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

/* A run whose threads wait this share of the time or more, and that has a
 * CPU-bound thread, gets the advice to use processes. */
#define WAITING_PCT 10.0
/* A thread whose holds end by a drop request at least this often and in
 * at least half of its holds is CPU-bound. */
#define CPU_BOUND_FORCED 10
/* A GIL with a waiting thread this share of its life is contended. */
#define CONTENTION_PCT 50.0

/* What a finding's row holds besides its text; GS_UNKNOWN, NULL or NaN
 * where it does not apply. */
struct finding {
	const char *kind;          /* what the reader filters on */
	const char *title;         /* a heading of a few words */
	int64_t gil_id, tid;       /* what it is about */
	double value;              /* the figure it is about */
	const char *detail;        /* a second sentence, NULL none */
	int64_t at_ns, dur_ns;     /* a moment and a duration to look at */
};

static enum gs_status finding_write(struct model *m, const struct finding *f,
				    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum gs_status finding_write(struct model *m, const struct finding *f,
				    const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return db_insert(m->db, DB_FINDINGS, m->run_id, f->kind, f->title, f->gil_id, f->tid,
			 f->value, msg, f->detail, f->at_ns, f->dur_ns);
}

static const char *thread_label(const struct thread *t, char *buf, size_t len)
{
	if (t->name)
		snprintf(buf, len, "thread %d (%s)", t->tid, t->name);
	else
		snprintf(buf, len, "thread %d", t->tid);
	return buf;
}

/* " at hog.py:13 in spin (`re.match(PAT, s)`)": where in the code, with
 * the line's text when its file is readable, and the program's own line
 * that called it when that is in a library ("called from ..."); "" when
 * unknown. */
static const char *code_phrase(const struct site *site, const struct stack *stack, char *buf,
			       size_t len)
{
	char label[256], src[160], from[512];
	const struct site *caller = stack_caller(stack);

	buf[0] = from[0] = '\0';
	if (!site)
		return buf;
	if (caller) {
		site_label(caller, label, sizeof(label));
		if (site_source(caller, src, sizeof(src)) == 0)
			snprintf(from, sizeof(from), ", called from %s (`%s`)", label, src);
		else
			snprintf(from, sizeof(from), ", called from %s", label);
	}
	site_label(site, label, sizeof(label));
	if (site_source(site, src, sizeof(src)) == 0)
		snprintf(buf, len, " at %s (`%s`)%s", label, src, from);
	else
		snprintf(buf, len, " at %s%s", label, from);
	return buf;
}

static void fmt_ns(char *buf, size_t len, int64_t ns)
{
	durs_format(buf, len, (double)ns);
}

static int is_cpu_bound(const struct thread *t)
{
	return t->forced_releases >= CPU_BOUND_FORCED && 2 * t->forced_releases >= t->holds;
}

/* CPU-bound threads that spend their time waiting: the advice goes first. */
static enum gs_status waiting_write(struct model *m, const struct run_totals *totals)
{
	struct finding f = { "waiting", "time waiting", GS_UNKNOWN, GS_UNKNOWN,
			     totals->wait_pct, NULL, GS_UNKNOWN, GS_UNKNOWN };
	const struct site *top = sites_top(m->sites, 1);
	char code[900];
	int cpu_bound = 0;

	for (size_t i = 0; i < m->threadv.n && !cpu_bound; i++)
		cpu_bound = is_cpu_bound(m->threadv.v[i]);
	if (!cpu_bound || isnan(totals->wait_pct) || totals->wait_pct < WAITING_PCT)
		return GS_OK;
	code_phrase(top, NULL, code, sizeof(code));
	return finding_write(m, &f, "Threads spent %.0f%% of the time waiting for the GIL: "
			     "CPU-bound work wants processes (multiprocessing, "
			     "concurrent.futures.ProcessPoolExecutor) or C code that releases "
			     "the GIL.%s%s%s", totals->wait_pct,
			     top ? " The holds that took the GIL longest ended" : "", code, top ? "." : "");
}

static enum gs_status run_findings_write(struct model *m)
{
	struct finding lost = { "lost_events", "lost events", GS_UNKNOWN, GS_UNKNOWN,
				(double)m->lost_events, NULL, GS_UNKNOWN, GS_UNKNOWN };
	struct finding anom = { "anomalies", "anomalies", GS_UNKNOWN, GS_UNKNOWN,
				(double)m->anomalies, NULL, GS_UNKNOWN, GS_UNKNOWN };
	enum gs_status st = GS_OK;

	if (m->lost_events || m->nlosses)
		st = finding_write(m, &lost, "%llu events were lost by the tracer: intervals "
				   "that cross a loss have crosses_loss=1; record again with a "
				   "larger --buffer-size", (unsigned long long)m->lost_events);
	if (st == GS_OK && m->anomalies)
		st = finding_write(m, &anom, "%llu events did not fit the GIL's state machine%s; "
				   "no interval was made up for them",
				   (unsigned long long)m->anomalies,
				   m->nlosses ? " (events were lost)" : " (a tracer bug?)");
	return st;
}

static enum gs_status contention_write(struct model *m, const struct gil *g)
{
	int64_t end = g->retired_ns != GS_UNKNOWN ? g->retired_ns : g->proc->last_ns;
	int64_t life = end - g->found_ns;
	double c = life > 0 ? 100.0 * (double)g->contended_ns / (double)life : NAN;
	struct finding f = { "contention", "contention", g->id, GS_UNKNOWN, c, NULL,
			     GS_UNKNOWN, GS_UNKNOWN };
	char waited[64], code[900];
	/* The sites are run-wide: named only when this is the run's one GIL. */
	const struct site *top = m->gilv.n == 1 ? sites_top(m->sites, 0) : NULL;

	if (isnan(c) || c < CONTENTION_PCT)
		return GS_OK;
	fmt_ns(waited, sizeof(waited), g->wait_ns);
	code_phrase(top, NULL, code, sizeof(code));
	return finding_write(m, &f, "the GIL of pid %d had a waiting thread %.0f%% of the time; "
			     "threads waited %s in all%s%s", g->pid, c, waited,
			     top ? ", most of it asked for" : "", code);
}

/* Names the worst holder: that is the thread to look at. It either ran C
 * code that keeps the GIL without checking for drop requests, or was not
 * scheduled (a busy machine). */
static enum gs_status slow_drop_write(struct model *m, const struct gil *g)
{
	struct thread *h;
	char worst[64], limit[64], at[64], who[128], detail[1280], code[900];
	struct finding f = { "slow_drop_response", "slow drop response", g->id, GS_UNKNOWN,
			     (double)g->slow_drops, detail, g->resp_max_ns, g->resp_max };

	if (!g->slow_drops)
		return GS_OK;
	h = model_thread(m, g->pid, g->resp_max_holder);
	if (!h)
		return GS_ERR_NOMEM;
	f.tid = h->tid;
	fmt_ns(worst, sizeof(worst), g->resp_max);
	fmt_ns(limit, sizeof(limit), SLOW_DROP_NS);
	fmt_ns(at, sizeof(at), g->resp_max_ns - m->start_ns);
	thread_label(h, who, sizeof(who));
	code_phrase(g->resp_max_site, g->resp_max_stack, code, sizeof(code));
	snprintf(detail, sizeof(detail), "The slowest: %s kept the GIL %s after the drop "
		 "request at +%s%s.", who, worst, at, code);
	return finding_write(m, &f, "%s kept the GIL %s after it was asked to drop it%s "
			     "(%lld drop request%s took over %s): a long C call that holds the "
			     "GIL, or the thread was not scheduled", who, worst, code,
			     (long long)g->slow_drops, g->slow_drops == 1 ? "" : "s", limit);
}

static enum gs_status thread_findings_write(struct model *m)
{
	enum gs_status st = GS_OK;
	char who[128], code[900];

	for (size_t i = 0; i < m->threadv.n && st == GS_OK; i++) {
		struct thread *t = m->threadv.v[i];
		struct finding f = { "convoy", "convoy effect", GS_UNKNOWN, t->tid,
				     (double)t->convoys, NULL, GS_UNKNOWN, GS_UNKNOWN };

		if (t->convoys)
			st = finding_write(m, &f, "%s released the GIL to block (I/O, sleep, a "
					   "lock)%s and then waited at least a whole switch "
					   "interval to get it back, %lld time%s: the convoy effect",
					   thread_label(t, who, sizeof(who)),
					   code_phrase(t->convoy_site, t->convoy_stack, code, sizeof(code)),
					   (long long)t->convoys, t->convoys == 1 ? "" : "s");
	}
	for (size_t i = 0; i < m->threadv.n && st == GS_OK; i++) {
		struct thread *t = m->threadv.v[i];
		struct finding f = { "cpu_bound", "CPU-bound threads", GS_UNKNOWN, t->tid,
				     (double)t->forced_releases, NULL, GS_UNKNOWN, GS_UNKNOWN };

		if (is_cpu_bound(t))
			st = finding_write(m, &f, "%s is CPU-bound: %lld of its %lld holds ended by "
					   "a drop request%s%s", thread_label(t, who, sizeof(who)),
					   (long long)t->forced_releases, (long long)t->holds,
					   t->forced_site ? "; the longest was interrupted" : "",
					   code_phrase(t->forced_site, t->forced_stack, code, sizeof(code)));
	}
	return st;
}

enum gs_status findings_write(struct model *m, const struct run_totals *totals)
{
	enum gs_status st = waiting_write(m, totals);

	if (st == GS_OK)
		st = run_findings_write(m);
	for (size_t i = 0; i < m->gilv.n && st == GS_OK; i++) {
		st = contention_write(m, m->gilv.v[i]);
		if (st == GS_OK)
			st = slow_drop_write(m, m->gilv.v[i]);
	}
	if (st == GS_OK)
		st = thread_findings_write(m);
	return st;
}
