/* The findings: what stands out in a run, in plain words. This is the
 * only place their English is written; each goes to the findings table
 * with its structured fields (docs/schema.md), and the summary and the
 * report show them as stored. Written most important first. */
#include "model_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		if (site_source(caller, src, sizeof(src)) == GS_OK)
			snprintf(from, sizeof(from), ", called from %s (`%s`)", label, src);
		else
			snprintf(from, sizeof(from), ", called from %s", label);
	}
	site_label(site, label, sizeof(label));
	if (site_source(site, src, sizeof(src)) == GS_OK)
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
	char how[128], why[400] = "", packets[96] = "", uncounted[160] = "", starts[240] = "";
	char tails[240] = "", empty[240] = "", gaps[240] = "", waiting[400] = "";

	/* A loss is never hidden: when LTTng's count cannot be taken, the
	 * finding says how many are known and why the rest are not. */
	if (!m->lost_impossible && !m->lost_packets && !m->lost_uncounted && !m->lost_starts &&
	    !m->lost_tails && !m->lost_empty && !m->lost_gaps)
		snprintf(how, sizeof(how), "%llu events were", (unsigned long long)m->lost_events);
	else if (m->lost_events)
		snprintf(how, sizeof(how), "at least %llu events, and an unknown number more, were",
			 (unsigned long long)m->lost_events);
	else
		snprintf(how, sizeof(how), "an unknown number of events were");
	if (m->lost_impossible)
		snprintf(why, sizeof(why), " (unknown at the end of %s%s: LTTng reported an "
			 "impossible count, %llu, and no later packet a good one: LTTng-UST "
			 "before 2.15 may write a discarded-events counter that is no sample "
			 "of it)", m->impossible_stream, m->lost_impossible > 1 ? " and others" : "",
			 (unsigned long long)m->impossible_count);
	if (m->lost_packets)
		snprintf(packets, sizeof(packets), " (%llu whole packet%s lost, their events uncounted)",
			 (unsigned long long)m->lost_packets, m->lost_packets > 1 ? "s" : "");
	if (m->lost_uncounted)
		snprintf(uncounted, sizeof(uncounted), " (%llu loss%s without a count: a stream's "
			 "first packet in the trace says only that events were lost)",
			 (unsigned long long)m->lost_uncounted, m->lost_uncounted > 1 ? "es" : "");
	if (m->lost_starts)
		snprintf(starts, sizeof(starts), " (%llu start%s of a GIL or a process not "
			 "recorded: a gil_found and the events before the first one seen, or "
			 "all of a process; the lost table names them)",
			 (unsigned long long)m->lost_starts, m->lost_starts > 1 ? "s" : "");
	if (m->lost_waiting[0])
		snprintf(waiting, sizeof(waiting), " (of the traced processes that left nothing, %s "
			 "%s killed while waiting for %s registration with the session daemon, "
			 "before %s program ran: nothing of %s could be recorded)", m->lost_waiting,
			 m->lost_nwaiting > 1 ? "were" : "was", m->lost_nwaiting > 1 ? "their" : "its",
			 m->lost_nwaiting > 1 ? "their" : "its", m->lost_nwaiting > 1 ? "them" : "it");
	if (m->lost_tails)
		snprintf(tails, sizeof(tails), " (%llu stream%s ended before the recording did, "
			 "LTTng writing none of %s last packets and counting nothing: the lost "
			 "table gives from when)", (unsigned long long)m->lost_tails,
			 m->lost_tails > 1 ? "s" : "", m->lost_tails > 1 ? "their" : "its");
	if (m->lost_empty)
		snprintf(empty, sizeof(empty), " (%llu stream%s with no packet at all, not even "
			 "the empty one the stop writes for an idle CPU: LTTng wrote nothing of "
			 "%s and counted nothing)", (unsigned long long)m->lost_empty,
			 m->lost_empty > 1 ? "s" : "", m->lost_empty > 1 ? "them" : "it");
	if (m->lost_gaps)
		snprintf(gaps, sizeof(gaps), " (%llu place%s in a GIL's order never seen, "
			 "though LTTng reported no loss)", (unsigned long long)m->lost_gaps,
			 m->lost_gaps > 1 ? "s" : "");
	/* Full buffers are LTTng's losses; a start not recorded is not one. */
	int buffers = m->lost_events || m->lost_packets || m->lost_uncounted || m->lost_impossible;
	if (m->lost_events || m->nlosses)
		st = finding_write(m, &lost, "%c%s lost by the tracer%s%s%s%s%s%s%s%s: intervals "
				   "that cross a loss have crosses_loss=1%s", how[0] == 'a' ? 'A' : how[0],
				   how + 1, why, packets, uncounted, starts, waiting, tails, empty, gaps,
				   buffers ? "; record again with a larger --buffer-size" : "");
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
	enum gs_status st;
	char worst[64], limit[64], at[64], who[128], detail[1280], code[900];
	struct finding f = { "slow_drop_response", "slow drop response", g->id, GS_UNKNOWN,
			     (double)g->slow_drops, detail, g->resp_max_ns, g->resp_max };

	if (!g->slow_drops)
		return GS_OK;
	st = model_thread(m, g->pid, g->resp_max_holder, &h);
	if (st != GS_OK)
		return st;
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

/* Where name's last run of digits starts and ends ([*b, *e)); 0 when it
 * has none. */
static int last_digits(const char *name, size_t *b, size_t *e)
{
	size_t n = strlen(name);

	while (n > 0 && !isdigit((unsigned char)name[n - 1]))
		n--;
	if (!n)
		return 0;
	*e = n;
	while (n > 0 && isdigit((unsigned char)name[n - 1]))
		n--;
	*b = n;
	return 1;
}

/* Python's own names that carry only a number ("Thread-3", "Dummy-2"):
 * they say nothing of what a thread does. */
static int default_name(const char *name)
{
	size_t b, e;

	return last_digits(name, &b, &e) && !name[e] &&
	       ((b == 7 && !strncmp(name, "Thread-", 7)) || (b == 6 && !strncmp(name, "Dummy-", 6)));
}

/* Threads are of one kind when their names are the same once the last run
 * of digits, the worker's number, is set aside (ThreadPoolExecutor-0_3 and
 * ThreadPoolExecutor-0_5; "Thread-4 (fetch)" and "Thread-9 (fetch)"), or
 * identical; never by a default name. Their code sites are not compared:
 * which of a worker's waits was its longest (the site its finding names)
 * depends on the scheduling, at its queue's get or at its own I/O. */
static int same_kind(const char *a, const char *b)
{
	size_t ab, ae, bb, be;
	int ad, bd;

	if (!a || !b || default_name(a) || default_name(b))
		return 0;
	ad = last_digits(a, &ab, &ae);
	bd = last_digits(b, &bb, &be);
	if (!ad || !bd)
		return !ad && !bd && !strcmp(a, b);
	return ab == bb && !strncmp(a, b, ab) && !strcmp(a + ae, b + be);
}

/* The per-thread findings that a pool repeats: convoys and CPU-bound. */
enum thread_kind { TK_CONVOY, TK_CPU_BOUND };

static int64_t tk_count(enum thread_kind k, const struct thread *t)
{
	return k == TK_CONVOY ? t->convoys : (is_cpu_bound(t) ? t->forced_releases : 0);
}

static const struct site *tk_site(enum thread_kind k, const struct thread *t)
{
	return k == TK_CONVOY ? t->convoy_site : t->forced_site;
}

static const struct stack *tk_stack(enum thread_kind k, const struct thread *t)
{
	return k == TK_CONVOY ? t->convoy_stack : t->forced_stack;
}

static enum gs_status thread_finding_write(struct model *m, enum thread_kind k, const struct thread *t)
{
	struct finding f = { k == TK_CONVOY ? "convoy" : "cpu_bound",
			     k == TK_CONVOY ? "convoy effect" : "CPU-bound threads", GS_UNKNOWN, t->tid,
			     (double)tk_count(k, t), NULL, GS_UNKNOWN, GS_UNKNOWN };
	char who[128], code[900];

	thread_label(t, who, sizeof(who));
	code_phrase(tk_site(k, t), tk_stack(k, t), code, sizeof(code));
	if (k == TK_CONVOY)
		return finding_write(m, &f, "%s released the GIL to block (I/O, sleep, a lock)%s and "
				     "then waited at least a whole switch interval to get it back, "
				     "%lld time%s: the convoy effect", who, code, (long long)t->convoys,
				     t->convoys == 1 ? "" : "s");
	return finding_write(m, &f, "%s is CPU-bound: %lld of its %lld holds ended by a drop "
			     "request%s%s", who, (long long)t->forced_releases, (long long)t->holds,
			     t->forced_site ? "; the longest was interrupted" : "", code);
}

/* Appends to buf (of len, holding *used) without overflowing it. */
static void appendf(char *buf, size_t len, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void appendf(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*used >= len)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	*used = w < 0 ? len : *used + (size_t)w;
}

/* One finding for threads of one pattern (member indexes into threadv):
 * the first and last of them, the total and the one with the most (tid is
 * that one); the detail lists every member. */
static enum gs_status group_finding_write(struct model *m, enum thread_kind k, const size_t *idx,
					  size_t n)
{
	const struct thread *worst = m->threadv.v[idx[0]];
	int64_t total = 0, holds = 0;
	char names[600], detail[1280], code[900], most[160];
	size_t nu = 0, du = 0;
	struct finding f = { k == TK_CONVOY ? "convoy" : "cpu_bound",
			     k == TK_CONVOY ? "convoy effect" : "CPU-bound threads", GS_UNKNOWN,
			     GS_UNKNOWN, 0, detail, GS_UNKNOWN, GS_UNKNOWN };

	names[0] = detail[0] = '\0';
	appendf(detail, sizeof(detail), &du, "The threads:");
	for (size_t i = 0; i < n; i++) {
		const struct thread *t = m->threadv.v[idx[i]];

		total += tk_count(k, t);
		holds += t->holds;
		if (tk_count(k, t) > tk_count(k, worst))
			worst = t;
		if (i == 0 || i == n - 1)  /* "pool_0 … pool_7": the first and the last */
			appendf(names, sizeof(names), &nu, "%s%s", i == 0 ? "" : n == 2 ? " and " : " … ",
				t->name);
		appendf(detail, sizeof(detail), &du, "%s %s (tid %d): %lld", i ? ";" : "", t->name, t->tid,
			(long long)tk_count(k, t));
	}
	appendf(detail, sizeof(detail), &du, ".");
	if (du >= sizeof(detail))  /* cut: say so rather than end mid-name */
		snprintf(detail + sizeof(detail) - 5, 5, "...");
	f.tid = worst->tid;
	f.value = (double)total;
	snprintf(most, sizeof(most), "%s, %lld", worst->name, (long long)tk_count(k, worst));
	code_phrase(tk_site(k, worst), tk_stack(k, worst), code, sizeof(code));
	if (k == TK_CONVOY)
		return finding_write(m, &f, "%zu threads of one kind (%s) released the GIL to block "
				     "(I/O, sleep, a lock)%s and then waited at least a whole switch "
				     "interval to get it back, %lld times in all (the most: %s): the "
				     "convoy effect", n, names, code, (long long)total, most);
	return finding_write(m, &f, "%zu threads of one kind (%s) are CPU-bound: %lld of their "
			     "%lld holds ended by a drop request (the most: %s)%s", n, names,
			     (long long)total, (long long)holds, most, code);
}

/* Per kind, threads in order; those that share a pattern with an earlier
 * one join its group, which is written where its first member stands. */
static enum gs_status thread_kind_write(struct model *m, enum thread_kind k, size_t *idx,
					unsigned char *done)
{
	enum gs_status st = GS_OK;
	size_t n = m->threadv.n;

	memset(done, 0, n);
	for (size_t i = 0; i < n && st == GS_OK; i++) {
		const struct thread *t = m->threadv.v[i];
		size_t k_n = 0;

		if (done[i] || !tk_count(k, t))
			continue;
		idx[k_n++] = i;
		for (size_t j = i + 1; j < n; j++) {
			const struct thread *u = m->threadv.v[j];

			if (!done[j] && tk_count(k, u) && same_kind(t->name, u->name)) {
				idx[k_n++] = j;
				done[j] = 1;
			}
		}
		st = k_n == 1 ? thread_finding_write(m, k, t) : group_finding_write(m, k, idx, k_n);
	}
	return st;
}

static enum gs_status thread_findings_write(struct model *m)
{
	size_t *idx = malloc((m->threadv.n + 1) * sizeof(*idx));
	unsigned char *done = malloc(m->threadv.n + 1);
	enum gs_status st = idx && done ? GS_OK : model_oom(m);

	if (st == GS_OK)
		st = thread_kind_write(m, TK_CONVOY, idx, done);
	if (st == GS_OK)
		st = thread_kind_write(m, TK_CPU_BOUND, idx, done);
	free(idx);
	free(done);
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
