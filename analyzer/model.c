/* The GIL state machine. Event order per GIL is CPython's own (the tracer
 * derives every event under the GIL's mutex), so a clean trace always
 * fits; after a loss, or a tracer bug, an event that does not fit counts
 * as an anomaly and never creates an interval whose start or end was not
 * seen: an acquire with no known state is just the start of a hold. */
#include "model_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entity.h"

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

static enum gs_status pids_copy(struct model *m, int32_t **to, size_t *nto, const int32_t *pids,
				size_t n)
{
	free(*to);
	*nto = 0;
	if (!(*to = malloc((n ? n : 1) * sizeof(*pids))))
		return model_oom(m);
	if (n) /* pids is NULL with none (no late_pids= line) */
		memcpy(*to, pids, n * sizeof(*pids));
	*nto = n;
	return GS_OK;
}

enum gs_status model_filter_pids(struct model *m, const int32_t *pids, size_t n,
				 const int32_t *late, size_t nlate)
{
	enum gs_status st = pids_copy(m, &m->keep_pids, &m->n_keep, pids, n);

	return st == GS_OK ? pids_copy(m, &m->late_pids, &m->n_late, late, nlate) : st;
}

void model_set_start(struct model *m, const char *kind, int64_t horizon_ns)
{
	m->trace_start = kind;
	m->clip = strcmp(kind, "launch") != 0;
	m->horizon_ns = horizon_ns;
}

static int pid_in(const int32_t *pids, size_t n, int32_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (pids[i] == pid)
			return 1;
	return 0;
}

uint64_t model_skipped_count(const struct model *m)
{
	return m->skipped;
}

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return (x > y) - (x < y);
}

uint64_t model_kept_count(const struct model *m)
{
	const struct process **v;
	uint64_t n = 0;

	if (!m->gilv.n)
		return 0;
	v = malloc(m->gilv.n * sizeof(*v));
	if (!v)
		return UINT64_MAX; /* out of memory: no claim */
	for (size_t i = 0; i < m->gilv.n; i++)
		v[i] = ((const struct gil *)m->gilv.v[i])->proc;
	qsort(v, m->gilv.n, sizeof(*v), ptr_cmp);
	for (size_t i = 0; i < m->gilv.n; i++) {
		const struct process *p = v[i];

		if ((i && v[i - 1] == p) || ((m->filter || m->keep_pids) && p->state != PROC_KEPT))
			continue;
		n += 1 + (uint64_t)p->later; /* later ones: each said lost */
	}
	free(v);
	return n;
}

enum gs_status model_lost_processes(struct model *m, uint64_t missing, uint64_t traced,
				    const int32_t *pids, size_t npids, const unsigned char *waiting)
{
	char what[640], list[120] = "", killed[320] = "";
	size_t used = 0, nwait = 0;

	/* " (pids 39, 40, ...)": those the recorder named, the first few. */
	for (size_t i = 0; i < npids && i < 8 && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%d",
					 i ? ", " : npids > 1 ? " (pids " : " (pid ", (int)pids[i]);
	if (npids && used < sizeof(list))
		snprintf(list + used, sizeof(list) - used, "%s)", npids > 8 ? ", ..." : "");
	/* Those that ended during their registration wait (a mark, no "wait
	 * over" line): killed before their program ran, nothing of them
	 * could be recorded (docs/tracer.md, "What cannot be hidden"). The
	 * lost_events finding names them too (summary, the report). */
	for (size_t i = 0; waiting && i < npids; i++)
		nwait += waiting[i] != 0;
	m->lost_waiting[0] = '\0';
	m->lost_nwaiting = nwait;
	if (nwait) {
		char *w = m->lost_waiting;
		size_t len = sizeof(m->lost_waiting), k = 0;

		used = (size_t)snprintf(w, len, "pid%s", nwait > 1 ? "s" : "");
		for (size_t i = 0; i < npids && used < len; i++) {
			if (!waiting[i])
				continue;
			if (k++ == 8) {
				used += (size_t)snprintf(w + used, len - used, ", ...");
				break;
			}
			used += (size_t)snprintf(w + used, len - used, "%s%d", k > 1 ? ", " : " ",
						 (int)pids[i]);
		}
	}
	if (nwait && nwait == missing && missing == 1)
		snprintf(killed, sizeof(killed), ": killed while it waited for it, before its program ran");
	else if (nwait)
		snprintf(killed, sizeof(killed), "; %zu of them killed while waiting for it, before %s "
			 "program ran (%s)", nwait, nwait > 1 ? "their" : "its", m->lost_waiting);
	snprintf(what, sizeof(what), "%llu of the %llu traced CPython processes%s: no GIL of %s "
		 "recorded (ended before %s registration with the session daemon was done%s)",
		 (unsigned long long)missing, (unsigned long long)traced, list,
		 missing > 1 ? "theirs" : "its", missing > 1 ? "their" : "its", killed);
	m->lost_starts++;
	if (!m->nlosses)
		m->max_loss_end = m->end_ns;
	m->nlosses++;
	return db_insert(m->db, DB_LOST, m->run_id, what, GS_UNKNOWN, GS_UNKNOWN, (int64_t)0);
}

struct model *model_new(struct db *db, uint64_t durs_budget)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		goto end;
	m->db = db;
	m->run_id = db_run_id(db);
	m->next_gil_id = db_first_gil_id(db);
	m->start_ns = m->end_ns = GS_UNKNOWN;
	m->trace_start = "launch";
	m->horizon_ns = GS_UNKNOWN;
	m->durs_budget = DURS_BUDGET;
	if (durs_budget)
		m->durs_budget = durs_budget;
	m->procs = kmap_new();
	m->threads = kmap_new();
	m->gils = kmap_new();
	m->tgs = kmap_new();
	m->sites = sites_new();
	if (!m->procs || !m->threads || !m->gils || !m->tgs || !m->sites) {
		model_free(m);
		m = NULL;
	}
end:
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
	sites_free(m->sites);
	free(m->keep_pids);
	free(m->late_pids);
	free(m);
}

enum gs_status model_oom(struct model *m)
{
	model_errorf(m, "out of memory");
	return GS_ERR_NOMEM;
}

/* Keeps a duration for the percentiles: exactly while the budget lasts,
 * in histograms past it. */
static enum gs_status keep(struct model *m, struct durs *d, int64_t v)
{
	if (!m->spilled && (m->durs_kept += durs_size(v)) > m->durs_budget) {
		for (size_t i = 0; i < m->gilv.n; i++) {
			struct gil *g = m->gilv.v[i];

			if (durs_to_hist(&g->gap) || durs_to_hist(&g->resp))
				return model_oom(m);
		}
		for (size_t i = 0; i < m->tgv.n; i++) {
			struct tg *s = m->tgv.v[i];

			if (durs_to_hist(&s->hold) || durs_to_hist(&s->wait))
				return model_oom(m);
		}
		m->spilled = 1;
	}
	if (m->spilled && durs_to_hist(d)) /* a collection made since */
		return model_oom(m);
	return durs_add(d, v) ? model_oom(m) : GS_OK;
}

/* ---- lookups ---------------------------------------------------------- */

/* The process pid, made if new: *out. */
static enum gs_status process_get(struct model *m, int32_t pid, const char *procname, int64_t ts,
				  struct process **out)
{
	struct process *p = m->last_proc && m->last_proc->pid == pid ? m->last_proc
		: kmap_get(m->procs, (uint32_t)pid, 0);
	enum gs_status st = GS_OK;

	if (p) {
		m->last_proc = p; /* its last_ns: model_event, for what it keeps */
	} else if ((p = entity_new(&m->procv, m->procs, (uint32_t)pid, 0, sizeof(*p)))) {
		p->pid = pid;
		p->exit_status = GS_UNKNOWN;
		p->procname = procname ? strdup(procname) : NULL;
		p->first_ns = p->last_ns = ts;
	} else {
		st = model_oom(m);
	}
	*out = p;
	return st;
}

enum gs_status model_thread(struct model *m, int32_t pid, int32_t tid, struct thread **out)
{
	struct thread *t = m->last_thread;
	enum gs_status st = GS_OK;

	if (!t || t->tid != tid || t->pid != pid)
		t = kmap_get(m->threads, (uint32_t)pid, (uint32_t)tid);
	if (!t && (t = entity_new(&m->threadv, m->threads, (uint32_t)pid, (uint32_t)tid,
				  sizeof(*t)))) {
		t->pid = pid;
		t->tid = tid;
		t->first_ns = t->last_ns = GS_UNKNOWN;
	}
	if (!t)
		st = model_oom(m);
	*out = t;
	return st;
}

/* A new GIL at addr, the one the map finds from now on: *out. */
static enum gs_status gil_new(struct model *m, struct process *p, uint64_t addr, int64_t ts,
			      struct gil **out)
{
	struct gil *g = entity_new(&m->gilv, m->gils, (uint32_t)p->pid, addr, sizeof(*g));
	enum gs_status st = GS_OK;

	if (g) {
		g->id = m->next_gil_id++;
		g->pid = p->pid;
		g->addr = addr;
		g->proc = p;
		g->interval_us = GS_UNKNOWN;
		g->rule = "unknown";
		g->found_ns = ts;
		g->retired_ns = GS_UNKNOWN;
	} else {
		st = model_oom(m);
	}
	*out = g;
	return st;
}

/* The live GIL at addr: *out; an unseen one (its gil_found was lost, or a
 * fork child inherited it) starts here with rule 'unknown'. */
static enum gs_status gil_get(struct model *m, struct process *p, uint64_t addr, int64_t ts,
			      struct gil **out)
{
	struct gil *g = kmap_get(m->gils, (uint32_t)p->pid, addr);

	if (g && g->retired_ns == GS_UNKNOWN && !g->ended) {
		*out = g;
		return GS_OK;
	}
	return gil_new(m, p, addr, ts, out);
}

/* The thread's state on g, made if new: *out. */
static enum gs_status tg_get(struct model *m, struct gil *g, struct thread *t, struct tg **out)
{
	struct tg *s = t->last_tg;
	enum gs_status st = GS_OK;

	if (!s || s->g != g)
		s = kmap_get(m->tgs, (uintptr_t)g, (uint32_t)t->tid);
	if (!s && (s = entity_new(&m->tgv, m->tgs, (uintptr_t)g, (uint32_t)t->tid, sizeof(*s)))) {
		s->g = g;
		s->t = t;
	}
	if (s)
		t->last_tg = s;
	else
		st = model_oom(m);
	*out = s;
	return st;
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
	/* A request's time is taken before its thread queues on the GIL's
	 * mutex, so it may trail another thread's later event by a few ns. */
	if (delta < 0 && g->nwaiters > 0 && --g->nwaiters == 0 && ts > g->contended_since)
		g->contended_ns += ts - g->contended_since;
}

static enum gs_status hold_close(struct model *m, struct tg *s, int64_t end, const char *ended,
				 struct site *site, struct stack *stack)
{
	struct gil *g = s->g;
	int64_t dur = end - s->hold_start;
	enum gs_status st;

	s->holding = 0;
	if (g->holder == s)
		g->holder = NULL;
	g->held_ns += dur;
	g->holds++;
	s->t->held_ns += dur;
	s->t->holds++;
	site_hold_ended(site, stack, dur);
	if (!strcmp(ended, "forced") && dur > s->t->forced_max) {
		s->t->forced_max = dur;
		s->t->forced_site = site;
		s->t->forced_stack = stack;
	}
	const char *started = s->hold_clipped ? "trace_start" : "acquired";
	s->hold_clipped = 0;
	st = keep(m, &s->hold, dur);
	if (st == GS_OK)
		st = db_insert(m->db, DB_HOLDS, m->run_id, g->id, (int64_t)s->t->tid,
			       s->hold_start, end, dur, ended, (int64_t)crosses(m, s->hold_start),
			       site_id(s->hold_site), site_id(site), stack_id(s->hold_stack),
			       stack_id(stack), started);
	return st;
}

/* site, stack: where the thread asked for the GIL (NULL unknown). */
static enum gs_status wait_close(struct model *m, struct tg *s, int64_t end, const char *outcome,
				 struct site *site, struct stack *stack)
{
	struct gil *g = s->g;
	int64_t dur = end - s->wait_start;
	int convoy = 0;
	enum gs_status st;

	s->waiting = 0;
	contention_update(g, -1, end);
	/* Convoy (bpo-7946): it gave the GIL up for I/O and then waited at
	 * least a whole switch interval to get it back. */
	int64_t interval = g->interval_us != GS_UNKNOWN && g->interval_us > 0 ? g->interval_us
									 : DEFAULT_INTERVAL_US;
	if (!strcmp(outcome, "acquired") && s->after_io && dur >= interval * 1000) {
		convoy = 1;
		s->t->convoys++;
		g->convoys++;
		if (dur > s->t->convoy_max) {
			s->t->convoy_max = dur;
			s->t->convoy_site = site;
			s->t->convoy_stack = stack;
		}
	}
	g->wait_ns += dur;
	g->waits++;
	s->t->wait_ns += dur;
	s->t->waits++;
	site_waited(site, stack, dur);
	const char *started = s->wait_clipped ? "trace_start" : "request";
	s->wait_clipped = 0;
	st = keep(m, &s->wait, dur);
	if (st == GS_OK)
		st = db_insert(m->db, DB_WAITS, m->run_id, g->id, (int64_t)s->t->tid,
			       s->wait_start, end, dur, s->wait_timeouts, outcome,
			       (int64_t)crosses(m, s->wait_start), (int64_t)convoy,
			       site_id(site), stack_id(stack), started);
	return st;
}

/* released, site: the holder's release that answered it (GS_UNKNOWN,
 * NULL: none seen) and where it happened. */
static enum gs_status drop_write(struct model *m, struct gil *g, const struct pending_drop *d,
				 int64_t released, struct site *site, struct stack *stack)
{
	int64_t resp = released == GS_UNKNOWN ? GS_UNKNOWN : released - d->ts;
	enum gs_status st = GS_OK;

	if (resp != GS_UNKNOWN) {
		st = keep(m, &g->resp, resp);
		if (resp > SLOW_DROP_NS)
			g->slow_drops++;
		if (resp > g->resp_max) {
			g->resp_max = resp;
			g->resp_max_holder = d->holder;
			g->resp_max_ns = d->ts;
			g->resp_max_site = site;
			g->resp_max_stack = stack;
		}
	}
	if (st == GS_OK)
		st = db_insert(m->db, DB_DROP_REQUESTS, m->run_id, g->id, d->ts,
			       (int64_t)d->requester, (int64_t)d->holder, d->interval_us, released,
			       resp, (int64_t)crosses(m, d->ts), site_id(site));
	return st;
}

/* Ends the life of a GIL (retired, replaced, or the trace ended) at end:
 * what is still open ends there as 'trace_end'. */
static enum gs_status gil_close(struct model *m, struct gil *g, int64_t end)
{
	enum gs_status st = GS_OK;

	for (size_t i = 0; i < m->tgv.n && st == GS_OK; i++) {
		struct tg *s = m->tgv.v[i];

		if (s->g != g)
			continue;
		if (s->waiting)
			st = wait_close(m, s, end, "trace_end", s->wait_site, s->wait_stack);
		if (s->holding && st == GS_OK)
			st = hold_close(m, s, end, "trace_end", NULL, NULL);
		s->in_forced = 0; /* a forced switch with no end is not written */
	}
	for (size_t i = 0; i < g->npend && st == GS_OK; i++)
		st = drop_write(m, g, &g->pend[i], GS_UNKNOWN, NULL, NULL);
	g->npend = 0;
	if (g->nwaiters) { /* cannot happen once every wait is closed; be safe */
		g->contended_ns += end - g->contended_since;
		g->nwaiters = 0;
	}
	return st;
}

/* ---- events ------------------------------------------------------------- */

static enum gs_status on_gil_found(struct model *m, struct process *p, const struct gs_event *ev)
{
	struct gil *g = kmap_get(m->gils, (uint32_t)p->pid, ev->gil);
	enum gs_status st;

	if (g && g->retired_ns == GS_UNKNOWN) {
		/* A second gil_found for a live address: the old GIL ended
		 * unseen (its memory got reused). */
		st = gil_close(m, g, ev->ts);
		if (st != GS_OK)
			return st;
		g->retired_ns = ev->ts;
	}
	st = gil_new(m, p, ev->gil, ev->ts, &g);
	if (st != GS_OK)
		return st;
	g->from_start = 1;
	g->interval_us = ev->u.gil_found.interval_us > 0 ? ev->u.gil_found.interval_us
							 : GS_UNKNOWN;
	g->rule = ev->u.gil_found.rule == GS_RULE_LAYOUT ? "layout"
		: ev->u.gil_found.rule == GS_RULE_BEHAVIOUR ? "behaviour" : "unknown";
	if (ev->u.gil_found.version && !(g->version = strdup(ev->u.gil_found.version)))
		return model_oom(m);
	return GS_OK;
}

/* A GIL the process found before the trace began (resync): it describes
 * the live GIL at that address, or one whose events have not come yet. */
static enum gs_status on_gil_known(struct model *m, struct process *p, const struct gs_event *ev)
{
	struct gil *g;
	enum gs_status st = gil_get(m, p, ev->gil, ev->ts, &g);

	if (st != GS_OK)
		return st;
	g->known = 1;
	if (ev->u.gil_found.interval_us > 0)
		g->interval_us = ev->u.gil_found.interval_us;
	if (!strcmp(g->rule, "unknown"))
		g->rule = ev->u.gil_found.rule == GS_RULE_LAYOUT ? "layout"
			: ev->u.gil_found.rule == GS_RULE_BEHAVIOUR ? "behaviour" : "unknown";
	if (!g->version && ev->u.gil_found.version &&
	    !(g->version = strdup(ev->u.gil_found.version)))
		return model_oom(m);
	return GS_OK;
}

/* The first event of a thread on a GIL found before the trace began tells
 * what was open at the trace's start: a release ends a hold, an acquire
 * (or a time-out, drop request, abandon) ends or continues a wait. That
 * interval is kept from the start, marked started = 'trace_start'. In a
 * trace from the program's launch that is a process whose events were
 * recorded only from its resync on (a fork child, or a process, that ran
 * before its registration with the session daemon was done): its start
 * is its first event kept. */
static void clip_open(struct model *m, struct tg *s, enum gs_ev_type type, int64_t ts)
{
	struct gil *g = s->g;
	int64_t start = m->horizon_ns != GS_UNKNOWN ? m->horizon_ns
		: g->proc->late || !m->clip ? g->proc->first_ns : m->start_ns;

	if (!m->clip && start > ts) /* recorded after the resync, captured before it */
		start = ts;

	switch (type) {
	case GS_EV_RELEASE:
		if (g->holder)
			return; /* someone else holds it: the release does not fit */
		s->holding = 1;
		s->hold_start = start;
		s->hold_clipped = 1;
		g->holder = s;
		return;
	case GS_EV_ACQUIRE:
	case GS_EV_WAIT_TIMEOUT:
	case GS_EV_DROP_REQUEST:
	case GS_EV_ABANDONED:
		s->waiting = 1;
		s->wait_start = start;
		s->wait_timeouts = 0;
		s->wait_clipped = 1;
		s->after_io = 0;
		contention_update(g, +1, start);
		return;
	default:
		return;
	}
}

/* An event that fits no state, at ts: counted, and the first one's time
 * kept (runs.first_anomaly_ns), so that a loss can be told to explain
 * every anomaly that came after it (a stream that ended early). */
static void anomaly(struct model *m, int64_t ts)
{
	if (!m->anomalies || ts < m->first_anomaly_ns)
		m->first_anomaly_ns = ts;
	m->anomalies++;
}

static enum gs_status on_request(struct model *m, struct tg *s, int64_t ts)
{
	struct gil *g = s->g;

	if (s->holding) { /* its release was lost: the hold's end is unknown */
		anomaly(m, ts);
		s->holding = 0;
		if (g->holder == s)
			g->holder = NULL;
	}
	if (s->waiting) { /* its acquire or abandon was lost */
		anomaly(m, ts);
		contention_update(g, -1, ts);
	}
	s->waiting = 1;
	s->wait_start = ts;
	s->wait_timeouts = 0;
	/* Until its acquire says, it waits where it last let the GIL go. */
	s->wait_site = s->rel_site;
	s->wait_stack = s->rel_stack;
	if (s->released_voluntarily)
		site_off(s->rel_site, ts - s->rel_ns);
	s->wait_clipped = 0;
	s->after_io = s->released_voluntarily;
	s->released_voluntarily = 0;
	contention_update(g, +1, ts);
	return GS_OK;
}

/* site, stack: where the thread is (and was while it waited). */
/* Checks the switches counted here against CPython's own counter, which
 * take_gil bumps when the GIL changes thread state: between two acquires
 * that carry it, its delta must equal the switches seen in between. A
 * lost acquire or release shows here even when no state went wrong. */
static void handoff_check(struct gil *g, uint64_t switch_number)
{
	if (!switch_number)
		return; /* not carried (3.6, an older tracer) */
	if (g->sn_prev) {
		int64_t theirs = (int64_t)(switch_number - g->sn_prev);
		int64_t ours = g->switches - g->sw_prev;

		if (theirs > 0)
			g->handoffs_checked += theirs;
		g->handoff_mismatches += theirs > ours ? theirs - ours : ours - theirs;
	}
	g->sn_prev = switch_number;
	g->sw_prev = g->switches;
}

static enum gs_status on_acquire(struct model *m, struct tg *s, int64_t ts, struct site *site,
				 struct stack *stack)
{
	struct gil *g = s->g;
	int64_t wait_start = GS_UNKNOWN;
	enum gs_status st;

	if (g->holder && g->holder != s) { /* the holder's release was lost */
		anomaly(m, ts);
		g->holder->holding = 0;
		g->holder = NULL;
	}
	if (s->holding) {
		anomaly(m, ts);
		s->holding = 0;
	}
	if (s->waiting) {
		wait_start = s->wait_start;
		st = wait_close(m, s, ts, "acquired", site, stack);
		if (st != GS_OK)
			return st;
	}
	if (g->has_release && g->rel_tid != s->t->tid) {
		int64_t base = wait_start > g->rel_ns ? wait_start : g->rel_ns;
		int64_t gap = ts - base;

		g->switches++;
		g->handoff_ns += gap;
		st = keep(m, &g->gap, gap);
		if (st == GS_OK)
			st = db_insert(m->db, DB_SWITCHES, m->run_id, g->id, g->rel_ns,
				       (int64_t)g->rel_tid, ts, (int64_t)s->t->tid, gap,
				       (int64_t)g->rel_forced, (int64_t)crosses(m, g->rel_ns));
		if (st != GS_OK)
			return st;
	}
	g->has_release = 0;
	s->holding = 1;
	s->hold_start = ts;
	s->hold_site = site;
	s->hold_stack = stack;
	site_hold_started(site);
	s->hold_clipped = 0;
	g->holder = s;
	return GS_OK;
}

static enum gs_status on_release(struct model *m, struct tg *s, int64_t ts, int forced,
				 struct site *site, struct stack *stack)
{
	struct gil *g = s->g;
	size_t kept = 0;
	enum gs_status st = GS_OK;

	if (s->holding) {
		st = hold_close(m, s, ts, forced ? "forced" : "voluntary", site, stack);
		if (st != GS_OK)
			return st;
	} else {
		/* No known start: no hold row. Another "holder" is stale. */
		anomaly(m, ts);
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
	site_released(site, forced);
	s->rel_site = site;
	s->rel_stack = stack;
	s->rel_ns = ts;
	for (size_t i = 0; i < g->npend && st == GS_OK; i++) {
		if (g->pend[i].holder == s->t->tid)
			st = drop_write(m, g, &g->pend[i], ts, site, stack);
		else
			g->pend[kept++] = g->pend[i];
	}
	if (st == GS_OK)
		g->npend = kept;
	return st;
}

static enum gs_status on_drop_request(struct model *m, struct tg *s, const struct gs_event *ev)
{
	struct gil *g = s->g;
	int64_t interval_us = ev->u.drop_request.interval_us > 0 ? ev->u.drop_request.interval_us
								 : GS_UNKNOWN;
	struct thread *holder;
	enum gs_status st = model_thread(m, s->t->pid, ev->u.drop_request.holder, &holder);

	if (st != GS_OK)
		return st;
	if (interval_us != GS_UNKNOWN)
		g->interval_us = interval_us; /* sys.setswitchinterval() may change it */
	g->drop_requests++;
	s->t->drops_issued++;
	holder->drops_received++;
	if (!g->pend && !(g->pend = malloc(MAX_PENDING_DROPS * sizeof(*g->pend))))
		return model_oom(m);
	if (g->npend == MAX_PENDING_DROPS) {
		st = drop_write(m, g, &g->pend[0], GS_UNKNOWN, NULL, NULL);
		if (st != GS_OK)
			return st;
		memmove(g->pend, g->pend + 1, (g->npend - 1) * sizeof(*g->pend));
		g->npend--;
	}
	g->pend[g->npend++] = (struct pending_drop){
		.ts = ev->ts,
		.interval_us = interval_us,
		.requester = s->t->tid,
		.holder = ev->u.drop_request.holder,
	};
	return GS_OK;
}

static enum gs_status on_retired(struct model *m, struct process *p, const struct gs_event *ev)
{
	struct gil *g = kmap_get(m->gils, (uint32_t)p->pid, ev->gil);
	enum gs_status st;

	if (!g || g->retired_ns != GS_UNKNOWN)
		return GS_OK; /* e.g. a fork child re-initialising a GIL it never used */
	st = gil_close(m, g, ev->ts);
	if (st == GS_OK)
		g->retired_ns = ev->ts;
	return st;
}

/* What its threads still held or waited for ends here. exit() may be
 * followed by its own _exit: keep a known status. */
static enum gs_status on_process_exit(struct model *m, struct process *p,
				      const struct gs_event *ev)
{
	enum gs_status st = GS_OK;

	if (p->exited) {
		if (ev->u.process_exit.status >= 0)
			p->exit_status = ev->u.process_exit.status;
		return GS_OK;
	}
	p->exited = 1;
	p->exit_status = ev->u.process_exit.status;
	/* Its later events change nothing (model_event): its ids can go. */
	sites_forget(m->sites, p->pid);
	for (size_t i = 0; i < m->gilv.n && st == GS_OK; i++) {
		struct gil *g = m->gilv.v[i];

		if (g->proc == p && g->retired_ns == GS_UNKNOWN && !g->ended) {
			st = gil_close(m, g, ev->ts);
			g->ended = 1;
		}
	}
	return st;
}

static enum gs_status on_thread_name(struct model *m, const struct gs_event *ev)
{
	struct thread *named;
	enum gs_status st = model_thread(m, ev->pid, ev->u.thread_name.tid, &named);

	if (st != GS_OK)
		return st;
	if (ev->u.thread_name.name) {
		free(named->name);
		if (!(named->name = strdup(ev->u.thread_name.name)))
			return model_oom(m);
	}
	return GS_OK;
}

static enum gs_status on_wait_timeout(struct model *m, struct tg *s, int64_t ts)
{
	s->g->timeouts++;
	s->t->timeouts++;
	if (s->waiting)
		s->wait_timeouts++;
	else
		anomaly(m, ts);
	return db_insert(m->db, DB_TIMEOUTS, m->run_id, s->g->id, (int64_t)s->t->tid, ts);
}

static enum gs_status on_forced_end(struct model *m, struct tg *s, int64_t ts)
{
	if (!s->in_forced) {
		anomaly(m, ts);
		return GS_OK;
	}
	s->in_forced = 0;
	return db_insert(m->db, DB_FORCED_SWITCHES, m->run_id, s->g->id, (int64_t)s->t->tid,
			 s->forced_start, ts, ts - s->forced_start,
			 (int64_t)crosses(m, s->forced_start));
}

/* A GIL whose events begin without its gil_found or a gil_known (once
 * per GIL): its gil_found and an unknown number of events before this one
 * are not in the trace (a trace cut from a longer one; a process recorded
 * only after its registration with the session daemon gave up waiting,
 * by an older tracer). A loss of unknown count, with a `lost` row that
 * names the GIL. */
static enum gs_status start_lost(struct model *m, struct gil *g, const struct gs_event *ev)
{
	char what[96];

	if (g->lost_start)
		return GS_OK;
	g->lost_start = 1;
	m->lost_starts++;
	if (!m->nlosses || ev->ts > m->max_loss_end)
		m->max_loss_end = ev->ts;
	m->nlosses++;
	snprintf(what, sizeof(what), "pid %d: start of GIL 0x%llx", (int)g->pid,
		 (unsigned long long)g->addr);
	return db_insert(m->db, DB_LOST, m->run_id, what, GS_UNKNOWN, ev->ts, (int64_t)0);
}

static enum gs_status gil_event_apply(struct model *m, struct tg *s, const struct gs_event *ev,
				      struct site *site, struct stack *stack);

/* An event on one GIL by one thread: its state on that GIL moves. */
static enum gs_status on_gil_event(struct model *m, struct process *p, struct thread *t,
				   const struct gs_event *ev)
{
	struct tg *last = t->last_tg;
	struct gil *g;
	struct tg *s;
	struct site *site = NULL;
	struct stack *stack = NULL;
	int err = 0;
	enum gs_status st = GS_OK;

	if (last && last->g->addr == ev->gil && last->g->retired_ns == GS_UNKNOWN &&
	    !last->g->ended)
		g = last->g; /* the usual case: skip two lookups */
	else
		st = gil_get(m, p, ev->gil, ev->ts, &g);
	if (st == GS_OK)
		st = tg_get(m, g, t, &s);
	if (st != GS_OK)
		return st;
	/* GIL events carry when they happened; a record written late (a
	 * tracer that held it) may have happened before its gil_found's. */
	if (ev->ts < g->found_ns)
		g->found_ns = ev->ts;
	if (ev->type == GS_EV_ACQUIRE || ev->type == GS_EV_RELEASE) {
		site = sites_site(m->sites, ev->pid, &ev->site, &err);
		stack = sites_stack_of(m->sites, ev->pid, &ev->site);
		if (err)
			return model_oom(m);
	}
	if (!s->seen) {
		s->seen = 1;
		if (!g->from_start && (m->clip || g->known)) {
			clip_open(m, s, ev->type, ev->ts);
		} else if (!g->from_start) {
			/* Neither gil_found nor gil_known: what came first is
			 * lost, and this event may not fit. That is the loss,
			 * not an anomaly; no interval is made up for it. */
			uint64_t anomalies = m->anomalies;
			int64_t first = m->first_anomaly_ns;

			st = start_lost(m, g, ev);
			if (st == GS_OK)
				st = gil_event_apply(m, s, ev, site, stack);
			m->anomalies = anomalies;
			m->first_anomaly_ns = first;
			return st;
		}
	}
	return gil_event_apply(m, s, ev, site, stack);
}

/* The event moves the thread's state s. */
static enum gs_status gil_event_apply(struct model *m, struct tg *s, const struct gs_event *ev,
				      struct site *site, struct stack *stack)
{
	struct gil *g = s->g;
	enum gs_status st;

	switch (ev->type) {
	case GS_EV_REQUEST:
		return on_request(m, s, ev->ts);
	case GS_EV_ACQUIRE:
		st = on_acquire(m, s, ev->ts, site, stack);
		if (st == GS_OK)
			handoff_check(g, ev->switch_number);
		return st;
	case GS_EV_RELEASE:
		return on_release(m, s, ev->ts, ev->u.release.forced, site, stack);
	case GS_EV_WAIT_TIMEOUT:
		return on_wait_timeout(m, s, ev->ts);
	case GS_EV_DROP_REQUEST:
		return on_drop_request(m, s, ev);
	case GS_EV_FORCED_BEGIN:
		if (s->in_forced)
			anomaly(m, ev->ts);
		s->in_forced = 1;
		s->forced_start = ev->ts;
		return GS_OK;
	case GS_EV_FORCED_END:
		return on_forced_end(m, s, ev->ts);
	case GS_EV_ABANDONED:
		if (!s->waiting) {
			anomaly(m, ev->ts);
			return GS_OK;
		}
		return wait_close(m, s, ev->ts, "abandoned", s->wait_site, s->wait_stack);
	default:
		return GS_OK;
	}
}

int model_pid_kept(const struct model *m, int32_t pid)
{
	const struct process *p;

	if (!m->filter && !m->keep_pids)
		return 1;
	p = kmap_get(m->procs, (uint32_t)pid, 0);
	return p && p->state == PROC_KEPT;
}

/* The tag filter: a process is kept from its first event that carries a
 * tag, if that is the recording's; the pid filter (record --pid: processes
 * started by `gilscope exec` carry no tag) keeps the listed pids. 1: the
 * event counts. */
static int tag_keeps(struct model *m, struct process *p, const struct gs_event *ev)
{
	int gil = ev->type == GS_EV_GIL_FOUND || ev->type == GS_EV_GIL_KNOWN;
	int64_t tag = gil ? ev->u.gil_found.tag
		: ev->type == GS_EV_THREAD_NAME ? ev->u.thread_name.tag : GS_UNKNOWN;

	if (!m->filter && !m->keep_pids)
		return 1;
	if (m->filter && p->state != PROC_UNDECIDED && tag != GS_UNKNOWN) {
		int ours = tag == (int64_t)m->want_tag;

		/* Pids wrap (32768 by default) and a session records every
		 * process of the user: at a decided pid, another tag, or a
		 * gil_found of ours after its process_exit, is a later process.
		 * The first process of ours there is kept. A later one of ours
		 * has no rows of its own (they are one per pid): it is skipped,
		 * and said lost (model_event). */
		if (p->state == PROC_SKIPPED && ours) {
			p->state = PROC_KEPT;
			p->first_ns = p->last_ns = ev->ts;
			return 1;
		}
		if (p->state == PROC_KEPT && !ours)
			p->other = PROC_OTHER_THEIRS;
		else if (p->state == PROC_KEPT && ev->type == GS_EV_GIL_FOUND &&
			 (p->other == PROC_OTHER_OURS ? p->later_exited
			  : p->exited || p->other == PROC_OTHER_THEIRS))
			p->other = PROC_OTHER_OURS_NEW; /* each later one, not only the first */
	}
	/* A later process of ours that ends: a gil_found of ours after it is
	 * one more (pids wrap, a fork child's pid repeats). */
	if (p->other == PROC_OTHER_OURS && ev->type == GS_EV_PROCESS_EXIT)
		p->later_exited = 1;
	if (p->state == PROC_KEPT && !p->other)
		return 1;
	if (p->state == PROC_UNDECIDED && m->keep_pids) {
		p->state = pid_in(m->keep_pids, m->n_keep, p->pid) ? PROC_KEPT : PROC_SKIPPED;
		p->late = pid_in(m->late_pids, m->n_late, p->pid);
	} else if (p->state == PROC_UNDECIDED) {
		if (gil || ev->type == GS_EV_THREAD_NAME)
			p->state = tag == (int64_t)m->want_tag ? PROC_KEPT : PROC_SKIPPED;
	}
	if (p->state != PROC_KEPT || p->other) {
		m->skipped++;
		/* resync carries its tag too, but the gil_known after it decides */
		if (p->state == PROC_UNDECIDED && m->filter && ev->type != GS_EV_RESYNC &&
		    !p->early++)
			p->early_ns = ev->ts;
		return 0;
	}
	p->first_ns = p->last_ns = ev->ts; /* its life starts with what we keep */
	return 1;
}

/* A process of a launch trace recognised by its tag only after some of
 * its events (skipped): its gil_found reached no session of ours (it was
 * recorded only from a resync, or by another session first). Those
 * events are counted as skipped; the loss of its start is written once,
 * as a lost row of unknown count that says how many were skipped. */
static enum gs_status early_lost(struct model *m, struct process *p, const struct gs_event *ev)
{
	char what[128];

	snprintf(what, sizeof(what), "pid %d: %llu events before it was recognised", (int)p->pid,
		 (unsigned long long)p->early);
	p->early = 0;
	m->lost_starts++;
	if (!m->nlosses || ev->ts > m->max_loss_end)
		m->max_loss_end = ev->ts;
	m->nlosses++;
	return db_insert(m->db, DB_LOST, m->run_id, what, p->early_ns, ev->ts, (int64_t)0);
}

/* A later process of ours at a pid whose first one is kept (pids wrap):
 * its events are skipped, and its loss is written once, as a lost row of
 * unknown count. */
static enum gs_status later_lost(struct model *m, struct process *p, const struct gs_event *ev)
{
	char what[128];

	snprintf(what, sizeof(what), "pid %d: a later process with this pid (not analyzed)", (int)p->pid);
	p->other = PROC_OTHER_OURS;
	p->later++;
	p->later_exited = 0;
	m->lost_starts++;
	if (!m->nlosses || ev->ts > m->max_loss_end)
		m->max_loss_end = ev->ts;
	m->nlosses++;
	return db_insert(m->db, DB_LOST, m->run_id, what, ev->ts, ev->ts, (int64_t)0);
}

enum gs_status model_event(struct model *m, const struct gs_event *ev)
{
	struct process *p;
	struct thread *t;
	enum gs_status st;

	if (m->horizon_ns != GS_UNKNOWN && ev->ts < m->horizon_ns) {
		m->before_horizon++; /* a snapshot's incomplete part */
		return GS_OK;
	}
	st = process_get(m, ev->pid, ev->procname, ev->ts, &p);
	if (st != GS_OK)
		return st;
	if (!tag_keeps(m, p, ev))
		return p->other == PROC_OTHER_OURS_NEW ? later_lost(m, p, ev) : GS_OK;
	if (p->early && (st = early_lost(m, p, ev)) != GS_OK)
		return st;
	if (ev->ts > p->last_ns) /* events of different GILs interleave */
		p->last_ns = ev->ts;
	if (ev->ts < p->first_ns) /* a GIL event's time precedes its record's */
		p->first_ns = ev->ts;
	m->events++;
	/* Times are when events happened: each GIL's in order, but those of
	 * different GILs may go back a little. */
	if (m->start_ns == GS_UNKNOWN || ev->ts < m->start_ns)
		m->start_ns = ev->ts;
	if (m->end_ns == GS_UNKNOWN || ev->ts > m->end_ns)
		m->end_ns = ev->ts;
	st = model_thread(m, ev->pid, ev->tid, &t);
	if (st != GS_OK)
		return st;
	m->last_thread = t;
	if (t->first_ns == GS_UNKNOWN || ev->ts < t->first_ns)
		t->first_ns = ev->ts;
	if (ev->ts > t->last_ns)
		t->last_ns = ev->ts;

	/* Daemon threads may still run between exit()'s handler and the
	 * end: their GIL is gone for us, their events change nothing. */
	if (p->exited && ev->type != GS_EV_PROCESS_EXIT)
		return GS_OK;
	switch (ev->type) {
	case GS_EV_GIL_FOUND:
		return on_gil_found(m, p, ev);
	case GS_EV_GIL_KNOWN:
		return on_gil_known(m, p, ev);
	case GS_EV_RESYNC:
		return GS_OK;
	case GS_EV_RETIRED:
		return on_retired(m, p, ev);
	case GS_EV_PROCESS_EXIT:
		return on_process_exit(m, p, ev);
	case GS_EV_THREAD_NAME:
		return on_thread_name(m, ev);
	case GS_EV_CODE:
		return sites_code(m->sites, ev->pid, ev) ? model_oom(m) : GS_OK;
	case GS_EV_STACK:
		return sites_stack(m->sites, ev->pid, ev) ? model_oom(m) : GS_OK;
	case GS_EV_OTHER:
		return GS_OK;
	case GS_EV_FOREIGN:
		/* Kept by the filters: a process this analysis would show, whose
		 * records it cannot read. Refused, never shown with holes. */
		model_errorf(m, "%s", ev->u.foreign.why);
		return GS_ERR_INPUT;
	default:
		return on_gil_event(m, p, t, ev);
	}
}

enum gs_status model_loss(struct model *m, const struct gs_loss *l)
{
	/* Without a time range, assume everything seen so far may be hit. */
	int64_t end = l->end_ns != GS_UNKNOWN ? l->end_ns : m->end_ns;

	if (!m->nlosses || end > m->max_loss_end)
		m->max_loss_end = end;
	m->nlosses++;
	m->lost_events += l->count;
	if (l->impossible && !m->lost_impossible++) {
		m->impossible_count = l->impossible;
		snprintf(m->impossible_stream, sizeof(m->impossible_stream), "%s", l->stream);
	} else if (l->whole_packets) {
		m->lost_packets++;
	} else if (l->tail == GS_TAIL_NONE) {
		m->lost_empty++;
	} else if (l->tail) {
		m->lost_tails++;
	} else if (l->gaps) {
		m->lost_gaps += l->gaps;
	} else if (!l->count && !l->impossible) {
		m->lost_uncounted++;
	}
	return db_insert(m->db, DB_LOST, m->run_id, l->stream, l->start_ns, l->end_ns,
			 (int64_t)l->count);
}

enum gs_status model_finish(struct model *m, const struct run_info *run)
{
	struct run_totals totals = { 0 };
	enum gs_status st = GS_OK;

	/* What is still open ends with its process's last event. */
	for (size_t i = 0; i < m->gilv.n && st == GS_OK; i++) {
		struct gil *g = m->gilv.v[i];

		if (g->retired_ns == GS_UNKNOWN && !g->ended)
			st = gil_close(m, g, g->proc->last_ns);
	}
	if (st == GS_OK)
		st = metrics_write(m, &totals);
	if (st == GS_OK)
		st = findings_write(m, &totals);
	if (st == GS_OK)
		st = sites_write(m->sites, m->db, m->run_id);
	if (st == GS_OK)
		st = metrics_run_write(m, run);
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
	return st;
}
