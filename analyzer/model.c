/* The GIL state machine. Event order per GIL is CPython's own (the tracer
 * derives every event under the GIL's mutex), so a clean trace always
 * fits; after a loss, or a tracer bug, an event that does not fit counts
 * as an anomaly and never creates an interval whose start or end was not
 * seen: an acquire with no known state is just the start of a hold. */
#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "durs.h"
#include "kmap.h"

/* Drop requests waiting for their holder's release, per GIL. Past this,
 * the oldest is written unanswered (the holder's release was lost). */
#define MAX_PENDING_DROPS 256

/* Bytes of durations kept in memory for exact percentiles (2 to 8 bytes
 * each, durs.h): about 3M intervals, 4M events' worth. Past it, each
 * collection becomes a fixed-size histogram (percentiles within 1/128 of
 * their value) so that peak memory does not grow with the trace.
 * GILSCOPE_DURS_BUDGET overrides it (tests). */
#define DURS_BUDGET (6u << 20)

/* A drop request answered later than this is worth a finding: the
 * holder ran without checking the eval breaker (a long C call). */
#define SLOW_DROP_NS 1000000
/* CPython's default switch interval, assumed where the tracer could not
 * read it (3.6: the interval is a separate static). */
#define DEFAULT_INTERVAL_US 5000

enum process_state { PROC_UNDECIDED, PROC_KEPT, PROC_SKIPPED };

struct process {
	int32_t pid;
	enum process_state state;  /* only with a tag filter */
	int exited;                /* its process_exit was seen */
	int64_t exit_status;       /* DB_NULL: no process_exit; -1: exit() */
	char *procname;
	int64_t first_ns, last_ns;
};

struct tg;

struct thread {
	int32_t pid, tid;
	struct tg *last_tg;        /* its state on the GIL it used last */
	char *name;
	int64_t first_ns, last_ns; /* -1: only named by others */
	int64_t held_ns, wait_ns, holds, waits, timeouts;
	int64_t drops_issued, drops_received, forced_releases, convoys;
	struct dur_stats hold_st, wait_st; /* filled at the end */
};

struct pending_drop {
	int64_t ts, interval_us;
	int32_t requester, holder;
};

struct gil {
	int64_t id;
	int32_t pid;
	uint64_t addr;
	int64_t interval_us;       /* DB_NULL unknown */
	const char *rule;
	char *version;
	int64_t found_ns, retired_ns; /* retired_ns -1 while alive */
	int ended;                 /* its process exited */
	struct process *proc;
	struct tg *holder;
	int has_release;           /* released, not yet re-acquired */
	int32_t rel_tid;
	int rel_forced;
	int64_t rel_ns;
	int nwaiters;
	int64_t contended_since, contended_ns;
	int64_t held_ns, wait_ns, holds, waits, timeouts, switches;
	int64_t drop_requests, forced_releases, handoff_ns, convoys, slow_drops, resp_max;
	int32_t resp_max_holder;   /* who kept the GIL longest after being asked */
	struct durs gap, resp;     /* holds and waits: per thread, in struct tg */
	struct pending_drop *pend;
	size_t npend;
};

/* One thread's state on one GIL. */
struct tg {
	struct gil *g;
	struct thread *t;
	int waiting, holding, in_forced;
	int released_voluntarily;  /* last release was not forced, no request since */
	int after_io;              /* the current wait follows a voluntary release */
	int64_t wait_start, wait_timeouts, hold_start, forced_start;
	struct durs hold, wait;    /* for the thread's and the GIL's percentiles */
};

struct ptrvec {
	void **v;
	size_t n, cap;
};

struct model {
	struct db *db;
	int64_t run_id, next_gil_id;
	struct kmap *procs, *threads, *gils, *tgs;
	struct process *last_proc; /* consecutive events mostly share them */
	struct thread *last_thread;
	struct ptrvec procv, threadv, gilv, tgv;
	uint64_t events, anomalies, lost_events, nlosses;
	uint64_t durs_kept, durs_budget;
	int filter;                /* keep only processes carrying want_tag */
	uint32_t want_tag;
	uint64_t skipped;
	int spilled;               /* over budget: histograms, not exact */
	int64_t start_ns, end_ns, max_loss_end;
	char err[512];
};

static void model_errorf(struct model *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void model_errorf(struct model *m, const char *fmt, ...)
{
	va_list ap;

	if (m->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
}

const char *model_error(const struct model *m)
{
	return m->err[0] ? m->err : db_error(m->db);
}

uint64_t model_event_count(const struct model *m)
{
	return m->events;
}

void model_filter_tag(struct model *m, uint32_t tag)
{
	m->filter = 1;
	m->want_tag = tag;
}

uint64_t model_skipped_count(const struct model *m)
{
	return m->skipped;
}

static int ptrvec_push(struct ptrvec *pv, void *p)
{
	if (pv->n == pv->cap) {
		size_t ncap = pv->cap ? 2 * pv->cap : 16;
		void **nv = realloc(pv->v, ncap * sizeof(*nv));

		if (!nv)
			return -1;
		pv->v = nv;
		pv->cap = ncap;
	}
	pv->v[pv->n++] = p;
	return 0;
}

struct model *model_new(struct db *db)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->db = db;
	m->run_id = db_run_id(db);
	m->next_gil_id = db_first_gil_id(db);
	m->start_ns = m->end_ns = -1;
	m->durs_budget = DURS_BUDGET;
	if (getenv("GILSCOPE_DURS_BUDGET"))
		m->durs_budget = strtoull(getenv("GILSCOPE_DURS_BUDGET"), NULL, 10);
	m->procs = kmap_new();
	m->threads = kmap_new();
	m->gils = kmap_new();
	m->tgs = kmap_new();
	if (!m->procs || !m->threads || !m->gils || !m->tgs) {
		model_free(m);
		return NULL;
	}
	return m;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->procv.n; i++) {
		struct process *p = m->procv.v[i];

		free(p->procname);
		free(p);
	}
	for (size_t i = 0; i < m->threadv.n; i++) {
		struct thread *t = m->threadv.v[i];

		free(t->name);
		free(t);
	}
	for (size_t i = 0; i < m->gilv.n; i++) {
		struct gil *g = m->gilv.v[i];

		free(g->version);
		free(g->pend);
		durs_free(&g->gap);
		durs_free(&g->resp);
		free(g);
	}
	for (size_t i = 0; i < m->tgv.n; i++) {
		struct tg *s = m->tgv.v[i];

		durs_free(&s->hold);
		durs_free(&s->wait);
		free(s);
	}
	free(m->procv.v);
	free(m->threadv.v);
	free(m->gilv.v);
	free(m->tgv.v);
	kmap_free(m->procs);
	kmap_free(m->threads);
	kmap_free(m->gils);
	kmap_free(m->tgs);
	free(m);
}

static int oom(struct model *m)
{
	model_errorf(m, "out of memory");
	return -1;
}

/* Keeps a duration for the percentiles: exactly while the budget lasts,
 * in histograms past it. */
static int keep(struct model *m, struct durs *d, int64_t v)
{
	if (!m->spilled && (m->durs_kept += durs_size(v)) > m->durs_budget) {
		for (size_t i = 0; i < m->gilv.n; i++) {
			struct gil *g = m->gilv.v[i];

			if (durs_to_hist(&g->gap) || durs_to_hist(&g->resp))
				return oom(m);
		}
		for (size_t i = 0; i < m->tgv.n; i++) {
			struct tg *s = m->tgv.v[i];

			if (durs_to_hist(&s->hold) || durs_to_hist(&s->wait))
				return oom(m);
		}
		m->spilled = 1;
	}
	if (m->spilled && durs_to_hist(d)) /* a collection made since */
		return oom(m);
	return durs_add(d, v) ? oom(m) : 0;
}

/* ---- lookups ---------------------------------------------------------- */

static struct process *process_get(struct model *m, int32_t pid, const char *procname, int64_t ts)
{
	struct process *p = m->last_proc && m->last_proc->pid == pid ? m->last_proc
		: kmap_get(m->procs, (uint32_t)pid, 0);

	if (p) {
		p->last_ns = ts;
		m->last_proc = p;
		return p;
	}
	p = calloc(1, sizeof(*p));
	if (!p || kmap_put(m->procs, (uint32_t)pid, 0, p) || ptrvec_push(&m->procv, p)) {
		free(p);
		oom(m);
		return NULL;
	}
	p->pid = pid;
	p->exit_status = DB_NULL;
	p->procname = procname ? strdup(procname) : NULL;
	p->first_ns = p->last_ns = ts;
	return p;
}

static struct thread *thread_get(struct model *m, int32_t pid, int32_t tid)
{
	struct thread *t = m->last_thread;

	if (t && t->tid == tid && t->pid == pid)
		return t;
	t = kmap_get(m->threads, (uint32_t)pid, (uint32_t)tid);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t || kmap_put(m->threads, (uint32_t)pid, (uint32_t)tid, t) ||
	    ptrvec_push(&m->threadv, t)) {
		free(t);
		oom(m);
		return NULL;
	}
	t->pid = pid;
	t->tid = tid;
	t->first_ns = t->last_ns = -1;
	return t;
}

static struct gil *gil_new(struct model *m, struct process *p, uint64_t addr, int64_t ts)
{
	struct gil *g = calloc(1, sizeof(*g));

	if (!g || kmap_put(m->gils, (uint32_t)p->pid, addr, g) || ptrvec_push(&m->gilv, g)) {
		free(g);
		oom(m);
		return NULL;
	}
	g->id = m->next_gil_id++;
	g->pid = p->pid;
	g->addr = addr;
	g->proc = p;
	g->interval_us = DB_NULL;
	g->rule = "unknown";
	g->found_ns = ts;
	g->retired_ns = -1;
	return g;
}

/* The live GIL at addr; an unseen one (its gil_found was lost, or a fork
 * child inherited it) starts here with rule 'unknown'. */
static struct gil *gil_get(struct model *m, struct process *p, uint64_t addr, int64_t ts)
{
	struct gil *g = kmap_get(m->gils, (uint32_t)p->pid, addr);

	if (g && g->retired_ns < 0 && !g->ended)
		return g;
	return gil_new(m, p, addr, ts);
}

static struct tg *tg_get(struct model *m, struct gil *g, struct thread *t)
{
	struct tg *s = t->last_tg;

	if (s && s->g == g)
		return s;
	s = kmap_get(m->tgs, (uintptr_t)g, (uint32_t)t->tid);
	if (s) {
		t->last_tg = s;
		return s;
	}
	s = calloc(1, sizeof(*s));
	if (!s || kmap_put(m->tgs, (uintptr_t)g, (uint32_t)t->tid, s) || ptrvec_push(&m->tgv, s)) {
		free(s);
		oom(m);
		return NULL;
	}
	s->g = g;
	s->t = t;
	t->last_tg = s;
	return s;
}

/* ---- intervals ---------------------------------------------------------- */

/* Events may have been lost inside [start, now] when a loss range seen so
 * far reaches past start (losses arrive ordered by their start). */
static int crosses(const struct model *m, int64_t start)
{
	return m->nlosses && m->max_loss_end >= start;
}

static void contention_update(struct gil *g, int delta, int64_t ts)
{
	if (delta > 0 && g->nwaiters++ == 0)
		g->contended_since = ts;
	if (delta < 0 && g->nwaiters > 0 && --g->nwaiters == 0)
		g->contended_ns += ts - g->contended_since;
}

static int hold_close(struct model *m, struct tg *s, int64_t end, const char *ended)
{
	struct gil *g = s->g;
	int64_t dur = end - s->hold_start;

	s->holding = 0;
	if (g->holder == s)
		g->holder = NULL;
	g->held_ns += dur;
	g->holds++;
	s->t->held_ns += dur;
	s->t->holds++;
	if (keep(m, &s->hold, dur))
		return -1;
	return db_insert(m->db, DB_HOLDS, "iiiiiisi", m->run_id, g->id, (int64_t)s->t->tid,
			 s->hold_start, end, dur, ended, (int64_t)crosses(m, s->hold_start));
}

static int wait_close(struct model *m, struct tg *s, int64_t end, const char *outcome)
{
	struct gil *g = s->g;
	int64_t dur = end - s->wait_start;
	int convoy = 0;

	s->waiting = 0;
	contention_update(g, -1, end);
	/* Convoy (bpo-7946): it gave the GIL up for I/O and then waited at
	 * least a whole switch interval to get it back. */
	int64_t interval = g->interval_us != DB_NULL && g->interval_us > 0 ? g->interval_us
									 : DEFAULT_INTERVAL_US;
	if (!strcmp(outcome, "acquired") && s->after_io && dur >= interval * 1000) {
		convoy = 1;
		s->t->convoys++;
		g->convoys++;
	}
	g->wait_ns += dur;
	g->waits++;
	s->t->wait_ns += dur;
	s->t->waits++;
	if (keep(m, &s->wait, dur))
		return -1;
	return db_insert(m->db, DB_WAITS, "iiiiiiisii", m->run_id, g->id, (int64_t)s->t->tid,
			 s->wait_start, end, dur, s->wait_timeouts, outcome,
			 (int64_t)crosses(m, s->wait_start), (int64_t)convoy);
}

static int drop_write(struct model *m, struct gil *g, const struct pending_drop *d, int64_t released)
{
	int64_t resp = released == DB_NULL ? DB_NULL : released - d->ts;

	if (resp != DB_NULL) {
		if (keep(m, &g->resp, resp))
			return -1;
		if (resp > SLOW_DROP_NS)
			g->slow_drops++;
		if (resp > g->resp_max) {
			g->resp_max = resp;
			g->resp_max_holder = d->holder;
		}
	}
	return db_insert(m->db, DB_DROP_REQUESTS, "iiiiiiiii", m->run_id, g->id, d->ts,
			 (int64_t)d->requester, (int64_t)d->holder, d->interval_us, released, resp,
			 (int64_t)crosses(m, d->ts));
}

/* Ends the life of a GIL (retired, replaced, or the trace ended) at end:
 * what is still open ends there as 'trace_end'. */
static int gil_close(struct model *m, struct gil *g, int64_t end)
{
	for (size_t i = 0; i < m->tgv.n; i++) {
		struct tg *s = m->tgv.v[i];

		if (s->g != g)
			continue;
		if (s->waiting && wait_close(m, s, end, "trace_end"))
			return -1;
		if (s->holding && hold_close(m, s, end, "trace_end"))
			return -1;
		s->in_forced = 0; /* a forced switch with no end is not written */
	}
	for (size_t i = 0; i < g->npend; i++)
		if (drop_write(m, g, &g->pend[i], DB_NULL))
			return -1;
	g->npend = 0;
	if (g->nwaiters) { /* cannot happen once every wait is closed; be safe */
		g->contended_ns += end - g->contended_since;
		g->nwaiters = 0;
	}
	return 0;
}

/* ---- events ------------------------------------------------------------- */

static int on_gil_found(struct model *m, struct process *p, const struct gs_event *ev)
{
	struct gil *g = kmap_get(m->gils, (uint32_t)p->pid, ev->gil);

	if (g && g->retired_ns < 0) {
		/* A second gil_found for a live address: the old GIL ended
		 * unseen (its memory got reused). */
		if (gil_close(m, g, ev->ts))
			return -1;
		g->retired_ns = ev->ts;
	}
	g = gil_new(m, p, ev->gil, ev->ts);
	if (!g)
		return -1;
	g->interval_us = ev->a > 0 ? ev->a : DB_NULL;
	g->rule = ev->b == 1 ? "layout" : ev->b == 2 ? "behaviour" : "unknown";
	if (ev->str && !(g->version = strdup(ev->str)))
		return oom(m);
	return 0;
}

static int on_request(struct model *m, struct tg *s, int64_t ts)
{
	struct gil *g = s->g;

	if (s->holding) { /* its release was lost: the hold's end is unknown */
		m->anomalies++;
		s->holding = 0;
		if (g->holder == s)
			g->holder = NULL;
	}
	if (s->waiting) { /* its acquire or abandon was lost */
		m->anomalies++;
		contention_update(g, -1, ts);
	}
	s->waiting = 1;
	s->wait_start = ts;
	s->wait_timeouts = 0;
	s->after_io = s->released_voluntarily;
	s->released_voluntarily = 0;
	contention_update(g, +1, ts);
	return 0;
}

static int on_acquire(struct model *m, struct tg *s, int64_t ts)
{
	struct gil *g = s->g;
	int64_t wait_start = -1;

	if (g->holder && g->holder != s) { /* the holder's release was lost */
		m->anomalies++;
		g->holder->holding = 0;
		g->holder = NULL;
	}
	if (s->holding) {
		m->anomalies++;
		s->holding = 0;
	}
	if (s->waiting) {
		wait_start = s->wait_start;
		if (wait_close(m, s, ts, "acquired"))
			return -1;
	}
	if (g->has_release && g->rel_tid != s->t->tid) {
		int64_t base = wait_start > g->rel_ns ? wait_start : g->rel_ns;
		int64_t gap = ts - base;

		g->switches++;
		g->handoff_ns += gap;
		if (keep(m, &g->gap, gap))
			return -1;
		if (db_insert(m->db, DB_SWITCHES, "iiiiiiiii", m->run_id, g->id, g->rel_ns,
			      (int64_t)g->rel_tid, ts, (int64_t)s->t->tid, gap,
			      (int64_t)g->rel_forced, (int64_t)crosses(m, g->rel_ns)))
			return -1;
	}
	g->has_release = 0;
	s->holding = 1;
	s->hold_start = ts;
	g->holder = s;
	return 0;
}

static int on_release(struct model *m, struct tg *s, int64_t ts, int forced)
{
	struct gil *g = s->g;
	size_t kept = 0;

	if (s->holding) {
		if (hold_close(m, s, ts, forced ? "forced" : "voluntary"))
			return -1;
	} else {
		/* No known start: no hold row. Another "holder" is stale. */
		m->anomalies++;
		if (g->holder) {
			g->holder->holding = 0;
			g->holder = NULL;
		}
	}
	if (forced) {
		g->forced_releases++;
		s->t->forced_releases++;
	}
	g->has_release = 1;
	g->rel_tid = s->t->tid;
	g->rel_ns = ts;
	g->rel_forced = forced;
	s->released_voluntarily = !forced;
	for (size_t i = 0; i < g->npend; i++) {
		if (g->pend[i].holder == s->t->tid) {
			if (drop_write(m, g, &g->pend[i], ts))
				return -1;
		} else {
			g->pend[kept++] = g->pend[i];
		}
	}
	g->npend = kept;
	return 0;
}

static int on_drop_request(struct model *m, struct tg *s, const struct gs_event *ev)
{
	struct gil *g = s->g;
	struct thread *holder = thread_get(m, s->t->pid, (int32_t)ev->a);

	if (!holder)
		return -1;
	if (ev->b > 0)
		g->interval_us = ev->b; /* sys.setswitchinterval() may change it */
	g->drop_requests++;
	s->t->drops_issued++;
	holder->drops_received++;
	if (!g->pend && !(g->pend = malloc(MAX_PENDING_DROPS * sizeof(*g->pend))))
		return oom(m);
	if (g->npend == MAX_PENDING_DROPS) {
		if (drop_write(m, g, &g->pend[0], DB_NULL))
			return -1;
		memmove(g->pend, g->pend + 1, (g->npend - 1) * sizeof(*g->pend));
		g->npend--;
	}
	g->pend[g->npend++] = (struct pending_drop){
		.ts = ev->ts,
		.interval_us = ev->b > 0 ? ev->b : DB_NULL,
		.requester = s->t->tid,
		.holder = (int32_t)ev->a,
	};
	return 0;
}

static int on_retired(struct model *m, struct process *p, const struct gs_event *ev)
{
	struct gil *g = kmap_get(m->gils, (uint32_t)p->pid, ev->gil);

	if (!g || g->retired_ns >= 0)
		return 0; /* e.g. a fork child re-initialising a GIL it never used */
	if (gil_close(m, g, ev->ts))
		return -1;
	g->retired_ns = ev->ts;
	return 0;
}

int model_event(struct model *m, const struct gs_event *ev)
{
	struct process *p;
	struct thread *t;
	struct gil *g;
	struct tg *s;

	p = process_get(m, ev->pid, ev->procname, ev->ts);
	if (!p)
		return -1;
	if (m->filter && p->state != PROC_KEPT) {
		if (p->state == PROC_UNDECIDED &&
		    (ev->type == GS_EV_GIL_FOUND || ev->type == GS_EV_THREAD_NAME))
			p->state = ev->tag == (int64_t)m->want_tag ? PROC_KEPT : PROC_SKIPPED;
		if (p->state != PROC_KEPT) {
			m->skipped++;
			return 0;
		}
		p->first_ns = ev->ts; /* its life starts with what we keep */
	}
	m->events++;
	if (m->start_ns < 0)
		m->start_ns = ev->ts;
	m->end_ns = ev->ts;
	t = thread_get(m, ev->pid, ev->tid);
	if (!t)
		return -1;
	m->last_thread = t;
	if (t->first_ns < 0)
		t->first_ns = ev->ts;
	t->last_ns = ev->ts;

	/* Daemon threads may still run between exit()'s handler and the
	 * end: their GIL is gone for us, their events change nothing. */
	if (p->exited && ev->type != GS_EV_PROCESS_EXIT)
		return 0;
	switch (ev->type) {
	case GS_EV_GIL_FOUND:
		return on_gil_found(m, p, ev);
	case GS_EV_RETIRED:
		return on_retired(m, p, ev);
	case GS_EV_PROCESS_EXIT:
		/* What its threads still held or waited for ends here. exit()
		 * may be followed by its own _exit: keep a known status. */
		if (p->exited) {
			if (ev->a >= 0)
				p->exit_status = ev->a;
			return 0;
		}
		p->exited = 1;
		p->exit_status = ev->a;
		for (size_t i = 0; i < m->gilv.n; i++) {
			struct gil *eg = m->gilv.v[i];

			if (eg->proc == p && eg->retired_ns < 0 && !eg->ended) {
				if (gil_close(m, eg, ev->ts))
					return -1;
				eg->ended = 1;
			}
		}
		return 0;
	case GS_EV_OTHER:
		return 0;
	case GS_EV_THREAD_NAME: {
		struct thread *named = thread_get(m, ev->pid, (int32_t)ev->a);

		if (!named)
			return -1;
		if (ev->str) {
			free(named->name);
			if (!(named->name = strdup(ev->str)))
				return oom(m);
		}
		return 0;
	}
	default:
		break;
	}
	if (t->last_tg && t->last_tg->g->addr == ev->gil && t->last_tg->g->retired_ns < 0 &&
	    !t->last_tg->g->ended)
		g = t->last_tg->g; /* the usual case: skip two lookups */
	else
		g = gil_get(m, p, ev->gil, ev->ts);
	s = g ? tg_get(m, g, t) : NULL;
	if (!s)
		return -1;
	switch (ev->type) {
	case GS_EV_REQUEST:
		return on_request(m, s, ev->ts);
	case GS_EV_ACQUIRE:
		return on_acquire(m, s, ev->ts);
	case GS_EV_RELEASE:
		return on_release(m, s, ev->ts, ev->a != 0);
	case GS_EV_WAIT_TIMEOUT:
		g->timeouts++;
		t->timeouts++;
		if (s->waiting)
			s->wait_timeouts++;
		else
			m->anomalies++;
		return db_insert(m->db, DB_TIMEOUTS, "iiii", m->run_id, g->id, (int64_t)t->tid, ev->ts);
	case GS_EV_DROP_REQUEST:
		return on_drop_request(m, s, ev);
	case GS_EV_FORCED_BEGIN:
		if (s->in_forced)
			m->anomalies++;
		s->in_forced = 1;
		s->forced_start = ev->ts;
		return 0;
	case GS_EV_FORCED_END:
		if (!s->in_forced) {
			m->anomalies++;
			return 0;
		}
		s->in_forced = 0;
		return db_insert(m->db, DB_FORCED_SWITCHES, "iiiiiii", m->run_id, g->id,
				 (int64_t)t->tid, s->forced_start, ev->ts, ev->ts - s->forced_start,
				 (int64_t)crosses(m, s->forced_start));
	case GS_EV_ABANDONED:
		if (!s->waiting) {
			m->anomalies++;
			return 0;
		}
		return wait_close(m, s, ev->ts, "abandoned");
	default:
		return 0;
	}
}

int model_loss(struct model *m, const struct gs_loss *l)
{
	/* Without a time range, assume everything seen so far may be hit. */
	int64_t end = l->end_ns >= 0 ? l->end_ns : m->end_ns;

	if (!m->nlosses || end > m->max_loss_end)
		m->max_loss_end = end;
	m->nlosses++;
	m->lost_events += l->count;
	return db_insert(m->db, DB_LOST, "itiii", m->run_id, l->stream,
			 l->start_ns >= 0 ? l->start_ns : DB_NULL,
			 l->end_ns >= 0 ? l->end_ns : DB_NULL, (int64_t)l->count);
}

/* ---- the end: figures and findings ------------------------------------- */

static void fmt_ns(char *buf, size_t len, int64_t ns)
{
	durs_format(buf, len, (double)ns);
}

static double pct(int64_t part, int64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : NAN;
}

static double per_s(int64_t n, int64_t wall)
{
	return wall > 0 ? (double)n * 1e9 / (double)wall : NAN;
}

struct figures {
	int64_t wall, held, wait, contended, switches, drops, forced, handoff;
	int64_t holds, waits, timeouts, convoys;
	double held_pct, wait_pct, contention_pct;
	/* Durations: holds and waits per thread state (ntg of them), hand-off
	 * gaps and drop responses per GIL (ngil). */
	struct durs **d_hold, **d_wait, **d_gap, **d_resp;
	size_t ntg, ngil;
};

/* The percentiles of the last GIL written, for a run of one GIL: SQLite
 * then sorts each column once, not twice. */
struct pstats {
	int valid;
	struct dur_stats h, w, gp, r;
};

static int metrics_write(struct model *m, int64_t gil_id, const struct figures *f,
			 struct pstats *ps)
{
	struct dur_stats h, w, gp, r;

	if (ps->valid) {
		h = ps->h;
		w = ps->w;
		gp = ps->gp;
		r = ps->r;
	} else if (durs_stats_multi(f->d_hold, f->ntg, &h) ||
		   durs_stats_multi(f->d_wait, f->ntg, &w) ||
		   durs_stats_multi(f->d_gap, f->ngil, &gp) ||
		   durs_stats_multi(f->d_resp, f->ngil, &r)) {
		return oom(m);
	}
	*ps = (struct pstats){ 0, h, w, gp, r };
#define Q(x) ((x) < 0 ? DB_NULL : (x))
	return db_insert(m->db, DB_METRICS,
			 "iiidddididii" "iiii" "iiii" "iiii" "iiii" "iiiiiii",
			 m->run_id, gil_id, f->wall, f->held_pct, f->wait_pct, f->contention_pct,
			 f->switches, per_s(f->switches, f->wall), f->drops, per_s(f->drops, f->wall),
			 f->forced, f->handoff,
			 Q(h.p50), Q(h.p90), Q(h.p99), Q(h.max),
			 Q(w.p50), Q(w.p90), Q(w.p99), Q(w.max),
			 Q(gp.p50), Q(gp.p90), Q(gp.p99), Q(gp.max),
			 Q(r.p50), Q(r.p90), Q(r.p99), Q(r.max),
			 f->held, f->wait, f->contended, f->holds, f->waits, f->timeouts, f->convoys);
#undef Q
}

static int finding(struct model *m, const char *kind, int64_t gil_id, int64_t tid,
		   double value, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int finding(struct model *m, const char *kind, int64_t gil_id, int64_t tid,
		   double value, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return db_insert(m->db, DB_FINDINGS, "isiidt", m->run_id, kind, gil_id, tid, value, msg);
}

static const char *thread_label(const struct thread *t, char *buf, size_t len)
{
	if (t->name)
		snprintf(buf, len, "thread %d (%s)", t->tid, t->name);
	else
		snprintf(buf, len, "thread %d", t->tid);
	return buf;
}

static int findings_write(struct model *m)
{
	char a[64], b[64], who[128];

	if (m->lost_events || m->nlosses) {
		if (finding(m, "lost_events", DB_NULL, DB_NULL, (double)m->lost_events,
			    "%llu events were lost by the tracer: intervals that cross a loss "
			    "have crosses_loss=1; record again with a larger --buffer-size",
			    (unsigned long long)m->lost_events))
			return -1;
	}
	if (m->anomalies &&
	    finding(m, "anomalies", DB_NULL, DB_NULL, (double)m->anomalies,
		    "%llu events did not fit the GIL's state machine%s; no interval was "
		    "made up for them", (unsigned long long)m->anomalies,
		    m->nlosses ? " (events were lost)" : " (a tracer bug?)"))
		return -1;
	for (size_t i = 0; i < m->gilv.n; i++) {
		struct gil *g = m->gilv.v[i];
		int64_t end = g->retired_ns >= 0 ? g->retired_ns : g->proc->last_ns;
		double c = pct(g->contended_ns, end - g->found_ns);

		if (!isnan(c) && c >= 50.0) {
			fmt_ns(a, sizeof(a), g->wait_ns);
			if (finding(m, "contention", g->id, DB_NULL, c,
				    "the GIL of pid %d had a waiting thread %.0f%% of the time; "
				    "threads waited %s in all", g->pid, c, a))
				return -1;
		}
		if (g->slow_drops) {
			struct thread *h = thread_get(m, g->pid, g->resp_max_holder);

			if (!h)
				return -1;
			fmt_ns(a, sizeof(a), g->resp_max);
			fmt_ns(b, sizeof(b), SLOW_DROP_NS);
			/* Name the worst holder: that is the thread to look at. It
			 * either ran C code that keeps the GIL without checking for
			 * drop requests, or was not scheduled (a busy machine). */
			if (finding(m, "slow_drop_response", g->id, h->tid, (double)g->slow_drops,
				    "%s kept the GIL %s after it was asked to drop it "
				    "(%lld drop request%s took over %s): a long C call that "
				    "holds the GIL, or the thread was not scheduled",
				    thread_label(h, who, sizeof(who)), a, (long long)g->slow_drops,
				    g->slow_drops == 1 ? "" : "s", b))
				return -1;
		}
	}
	for (size_t i = 0; i < m->threadv.n; i++) {
		struct thread *t = m->threadv.v[i];

		if (t->convoys &&
		    finding(m, "convoy", DB_NULL, t->tid, (double)t->convoys,
			    "%s released the GIL to block (I/O, sleep, a lock) and then waited "
			    "at least a whole switch interval to get it back, %lld time%s: the "
			    "convoy effect", thread_label(t, who, sizeof(who)),
			    (long long)t->convoys, t->convoys == 1 ? "" : "s"))
			return -1;
	}
	for (size_t i = 0; i < m->threadv.n; i++) {
		struct thread *t = m->threadv.v[i];

		if (t->forced_releases >= 10 && 2 * t->forced_releases >= t->holds &&
		    finding(m, "cpu_bound", DB_NULL, t->tid, (double)t->forced_releases,
			    "%s is CPU-bound: %lld of its %lld holds ended by a drop request",
			    thread_label(t, who, sizeof(who)), (long long)t->forced_releases,
			    (long long)t->holds))
			return -1;
	}
	return 0;
}

/* Distinct first words of the versions, comma separated. */
static void versions_join(struct model *m, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < m->gilv.n; i++) {
		struct gil *g = m->gilv.v[i];
		char word[64];

		if (!g->version)
			continue;
		snprintf(word, sizeof(word), "%.*s", (int)strcspn(g->version, " "), g->version);
		if (!word[0])
			continue;
		/* Already listed? Compare whole items only. */
		{
			int dup = 0;
			const char *p = out;

			while (*p) {
				size_t n = strcspn(p, ",");

				if (n == strlen(word) && !strncmp(p, word, n))
					dup = 1;
				p += n;
				if (*p == ',')
					p++;
			}
			if (dup)
				continue;
		}
		used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s",
					 used ? "," : "", word);
		if (used >= len) {
			out[len - 1] = '\0';
			break;
		}
	}
}

static int run_write(struct model *m, const struct run_info *run)
{
	char versions[256], when[32];
	time_t now = time(NULL);
	struct tm tm;
	int64_t interval = DB_NULL;

	versions_join(m, versions, sizeof(versions));
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (m->gilv.n)
		interval = ((struct gil *)m->gilv.v[0])->interval_us;
	return db_insert(m->db, DB_RUNS, "itttiiiitiiistiii", m->run_id, run->trace_path,
			 run->hostname && run->hostname[0] ? run->hostname : NULL, run->command,
			 (int64_t)run->exit_status, m->start_ns, m->end_ns, m->end_ns - m->start_ns,
			 versions[0] ? versions : NULL, interval, (int64_t)m->events,
			 (int64_t)m->lost_events, GILSCOPE_VERSION, when, (int64_t)m->anomalies,
			 (int64_t)m->skipped, (int64_t)!m->spilled);
}

/* Each thread's hold and wait percentiles, over its states on every GIL. */
static int threads_stats(struct model *m, struct durs **hv, struct durs **wv)
{
	static const struct dur_stats none = { 0, -1, -1, -1, -1 };

	for (size_t i = 0; i < m->threadv.n; i++) {
		struct thread *t = m->threadv.v[i];
		size_t k = 0;

		t->hold_st = t->wait_st = none;
		for (size_t j = 0; j < m->tgv.n; j++) {
			struct tg *s = m->tgv.v[j];

			if (s->t == t) {
				hv[k] = &s->hold;
				wv[k++] = &s->wait;
			}
		}
		if (k && (durs_stats_multi(hv, k, &t->hold_st) || durs_stats_multi(wv, k, &t->wait_st)))
			return oom(m);
	}
	return 0;
}

int model_finish(struct model *m, const struct run_info *run)
{
	/* Lists of the duration collections the figures are taken over. */
	struct durs **hv = calloc(m->tgv.n + 1, sizeof(*hv));
	struct durs **wv = calloc(m->tgv.n + 1, sizeof(*wv));
	struct durs **gv = calloc(m->gilv.n + 1, sizeof(*gv));
	struct durs **rv = calloc(m->gilv.n + 1, sizeof(*rv));
	struct figures rf = { .d_hold = hv, .d_wait = wv, .d_gap = gv, .d_resp = rv };
	struct pstats ps = { 0 };
	double held_pct_sum = 0, cont_pct_sum = 0;
	int nwall = 0, rc = -1;

	if (!hv || !wv || !gv || !rv) {
		oom(m);
		goto end;
	}
	/* What is still open ends with its process's last event. */
	for (size_t i = 0; i < m->gilv.n; i++) {
		struct gil *g = m->gilv.v[i];

		if (g->retired_ns < 0 && !g->ended && gil_close(m, g, g->proc->last_ns))
			goto end;
	}
	for (size_t i = 0; i < m->procv.n; i++) {
		struct process *p = m->procv.v[i];

		if (m->filter && p->state != PROC_KEPT)
			continue; /* another recording's */
		if (db_insert(m->db, DB_PROCESSES, "iitiii", m->run_id, (int64_t)p->pid, p->procname,
			      p->first_ns, p->last_ns, p->exit_status))
			goto end;
	}
	/* GILs before threads: per-thread percentiles from SQLite join them. */
	for (size_t i = 0; i < m->gilv.n; i++) {
		struct gil *g = m->gilv.v[i];
		char addr[24];

		snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)g->addr);
		if (db_insert(m->db, DB_GILS, "iiitistii", g->id, m->run_id, (int64_t)g->pid, addr,
			      g->interval_us, g->rule, g->version, g->found_ns,
			      g->retired_ns >= 0 ? g->retired_ns : DB_NULL))
			goto end;
	}
	if (threads_stats(m, hv, wv))
		goto end;
	for (size_t i = 0; i < m->threadv.n; i++) {
		struct thread *t = m->threadv.v[i];
#define Q(x) ((x) < 0 ? DB_NULL : (x))
		if (db_insert(m->db, DB_THREADS, "iiitiiiiiiiiiii" "iiii" "iiii", m->run_id,
			      (int64_t)t->pid, (int64_t)t->tid, t->name,
			      t->first_ns < 0 ? DB_NULL : t->first_ns,
			      t->last_ns < 0 ? DB_NULL : t->last_ns, t->held_ns, t->wait_ns, t->holds,
			      t->waits, t->timeouts, t->drops_issued, t->drops_received,
			      t->forced_releases, t->convoys,
			      Q(t->hold_st.p50), Q(t->hold_st.p90), Q(t->hold_st.p99), Q(t->hold_st.max),
			      Q(t->wait_st.p50), Q(t->wait_st.p90), Q(t->wait_st.p99), Q(t->wait_st.max)))
			goto end;
#undef Q
	}
	for (size_t i = 0; i < m->gilv.n; i++) {
		struct gil *g = m->gilv.v[i];
		int64_t end = g->retired_ns >= 0 ? g->retired_ns : g->proc->last_ns;
		struct durs *gap1 = &g->gap, *resp1 = &g->resp;
		struct figures f = {
			.wall = end - g->found_ns, .held = g->held_ns, .wait = g->wait_ns,
			.contended = g->contended_ns, .switches = g->switches,
			.drops = g->drop_requests, .forced = g->forced_releases,
			.handoff = g->handoff_ns, .holds = g->holds, .waits = g->waits,
			.timeouts = g->timeouts, .convoys = g->convoys,
			.d_hold = hv, .d_wait = wv, .d_gap = &gap1, .d_resp = &resp1, .ngil = 1,
		};

		for (size_t j = 0; j < m->tgv.n; j++) {
			struct tg *s = m->tgv.v[j];

			if (s->g == g) {
				hv[f.ntg] = &s->hold;
				wv[f.ntg++] = &s->wait;
			}
		}
		f.held_pct = pct(f.held, f.wall);
		f.wait_pct = pct(f.wait, f.wall);
		f.contention_pct = pct(f.contended, f.wall);
		ps.valid = 0;
		if (metrics_write(m, g->id, &f, &ps))
			goto end;
		if (f.wall > 0) {
			held_pct_sum += f.held_pct;
			cont_pct_sum += f.contention_pct;
			nwall++;
		}
		rf.held += f.held;
		rf.wait += f.wait;
		rf.contended += f.contended;
		rf.switches += f.switches;
		rf.drops += f.drops;
		rf.forced += f.forced;
		rf.handoff += f.handoff;
		rf.holds += f.holds;
		rf.waits += f.waits;
		rf.timeouts += f.timeouts;
		rf.convoys += f.convoys;
	}
	/* The run: every collection (sorted already: merged on the fly). */
	for (size_t j = 0; j < m->tgv.n; j++) {
		struct tg *s = m->tgv.v[j];

		hv[rf.ntg] = &s->hold;
		wv[rf.ntg++] = &s->wait;
	}
	for (size_t i = 0; i < m->gilv.n; i++) {
		struct gil *g = m->gilv.v[i];

		gv[rf.ngil] = &g->gap;
		rv[rf.ngil++] = &g->resp;
	}
	rf.wall = m->end_ns - m->start_ns;
	rf.held_pct = nwall ? held_pct_sum / nwall : NAN;
	rf.contention_pct = nwall ? cont_pct_sum / nwall : NAN;
	rf.wait_pct = pct(rf.wait, rf.wall);
	/* One GIL: the run's percentiles are its. */
	ps.valid = m->gilv.n == 1;
	if (metrics_write(m, DB_NULL, &rf, &ps) || findings_write(m) || run_write(m, run))
		goto end;
	/* Give the durations' memory back before SQLite builds the indexes. */
	for (size_t j = 0; j < m->tgv.n; j++) {
		struct tg *s = m->tgv.v[j];

		durs_free(&s->hold);
		durs_free(&s->wait);
	}
	for (size_t i = 0; i < m->gilv.n; i++) {
		durs_free(&((struct gil *)m->gilv.v[i])->gap);
		durs_free(&((struct gil *)m->gilv.v[i])->resp);
	}
	rc = 0;
end:
	free(hv);
	free(wv);
	free(gv);
	free(rv);
	return rc;
}
