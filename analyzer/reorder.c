/* Per-GIL reordering by sequence number (reorder.h). In the usual case
 * an event is the next of its GIL and goes straight on; only the events
 * that overtook an earlier one wait, in a ring indexed by seq. */
#include "reorder.h"

#include <stdlib.h>
#include <string.h>

#include "entity.h"

/* A GIL whose gil_found was not seen (a recording that began after it)
 * does not know its first place: its first events wait this long, or
 * this many of them, and the lowest seq seen starts its order. */
#define START_HOLD_NS 10000000LL
#define START_HOLD_EVENTS 1024
#define RING_MIN 64

/* A waiting event, packed: only what events that carry a seq hold (GIL
 * state changes: no strings, no arrays). A gap behind a thread descheduled
 * under load can keep tens of thousands waiting: 80 bytes each instead of
 * a struct gs_event's 152. */
struct slot {
	uint64_t seq, switch_number, gil;
	int64_t ts, rec_ts, interval_us;
	int32_t pid, tid, holder;
	struct gs_site site;
	uint8_t used, type, forced;
};

/* One GIL's window. */
struct gq {
	int32_t pid;
	uint64_t gil;
	int started;           /* next is the GIL's next place */
	uint64_t next;         /* lowest place not yet passed on (or, before
				  started, the lowest seq waiting) */
	uint64_t hi;           /* one past the highest seq waiting */
	int64_t since;         /* record time the head began waiting, -1 */
	uint64_t gaps;         /* places given up, as the stats' gaps */
	struct slot *ring;
	size_t cap, count;
};

struct reorder {
	const struct trace_sink *sink;
	struct kmap *by_key;   /* (pid, gil) -> struct gq */
	struct ptrvec all;     /* every struct gq */
	struct reorder_stats st;
};

struct reorder *reorder_new(const struct trace_sink *sink)
{
	struct reorder *ro = calloc(1, sizeof(*ro));

	if (ro && !(ro->by_key = kmap_new())) {
		free(ro);
		ro = NULL;
	}
	if (ro)
		ro->sink = sink;
	return ro;
}

void reorder_free(struct reorder *ro)
{
	if (!ro)
		return;
	for (size_t i = 0; i < ro->all.n; i++) {
		struct gq *q = ro->all.v[i];

		free(q->ring);
		free(q);
	}
	free(ro->all.v);
	kmap_free(ro->by_key);
	free(ro);
}

uint64_t reorder_gaps_of(const struct reorder *ro, int (*kept)(void *ctx, int32_t pid), void *ctx)
{
	uint64_t n = 0;

	for (size_t i = 0; i < ro->all.n; i++) {
		const struct gq *q = ro->all.v[i];

		if (q->gaps && kept(ctx, q->pid))
			n += q->gaps;
	}
	return n;
}

void reorder_get_stats(const struct reorder *ro, struct reorder_stats *st)
{
	*st = ro->st;
}

static enum reorder_status pass(struct reorder *ro, const struct gs_event *ev)
{
	return ro->sink->event(ro->sink->ctx, ev) ? REORDER_SINK_FAILED : REORDER_OK;
}

/* The window of (pid, gil), made if new: *out. */
static enum reorder_status gq_get(struct reorder *ro, int32_t pid, uint64_t gil, struct gq **out)
{
	struct gq *q = kmap_get(ro->by_key, (uint32_t)pid, gil);
	enum reorder_status st = REORDER_OK;

	if (!q && (q = entity_new(&ro->all, ro->by_key, (uint32_t)pid, gil, sizeof(*q)))) {
		q->pid = pid;
		q->gil = gil;
		q->since = -1;
	}
	if (!q)
		st = REORDER_NOMEM;
	*out = q;
	return st;
}

static void slot_pack(struct slot *s, const struct gs_event *ev)
{
	s->seq = ev->seq;
	s->switch_number = ev->switch_number;
	s->gil = ev->gil;
	s->ts = ev->ts;
	s->rec_ts = ev->rec_ts;
	s->pid = ev->pid;
	s->tid = ev->tid;
	s->site = ev->site;
	s->type = (uint8_t)ev->type;
	s->forced = ev->type == GS_EV_RELEASE && ev->u.release.forced;
	s->holder = ev->type == GS_EV_DROP_REQUEST ? ev->u.drop_request.holder : 0;
	s->interval_us = ev->type == GS_EV_DROP_REQUEST ? ev->u.drop_request.interval_us : 0;
}

/* The event s holds; its procname is NULL (babeltrace2's string is gone
 * by then: the process was named by an earlier event). */
static void slot_unpack(const struct slot *s, struct gs_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = (enum gs_ev_type)s->type;
	ev->ts = s->ts;
	ev->rec_ts = s->rec_ts;
	ev->has_seq = 1;
	ev->seq = s->seq;
	ev->switch_number = s->switch_number;
	ev->pid = s->pid;
	ev->tid = s->tid;
	ev->gil = s->gil;
	ev->site = s->site;
	if (ev->type == GS_EV_RELEASE) {
		ev->u.release.forced = s->forced;
	} else if (ev->type == GS_EV_DROP_REQUEST) {
		ev->u.drop_request.holder = s->holder;
		ev->u.drop_request.interval_us = s->interval_us;
	}
}

static struct slot *slot_of(struct gq *q, uint64_t seq)
{
	return &q->ring[seq & (q->cap - 1)];
}

/* Passes on the run of waiting events that starts at next. */
static enum reorder_status deliver(struct reorder *ro, struct gq *q)
{
	enum reorder_status st = REORDER_OK;

	while (q->count && st == REORDER_OK) {
		struct slot *s = slot_of(q, q->next);

		if (!s->used || s->seq != q->next)
			break;
		struct gs_event ev;

		slot_unpack(s, &ev);
		s->used = 0;
		q->count--;
		q->next++;
		st = pass(ro, &ev);
	}
	if (st == REORDER_OK && !q->count) {
		q->since = -1;
		/* A long wait is over: give its room back. */
		if (q->cap > RING_MIN) {
			free(q->ring);
			q->ring = NULL;
			q->cap = 0;
		}
	}
	return st;
}

/* Gives up the gap at the head: its places count as never seen. */
static enum reorder_status skip_gap(struct reorder *ro, struct gq *q)
{
	while (q->count) {
		struct slot *s = slot_of(q, q->next);

		if (s->used && s->seq == q->next)
			break;
		q->next++;
		ro->st.gaps++;
		q->gaps++;
	}
	return deliver(ro, q);
}

/* Passes on everything waiting, gaps and all; the GIL's order then
 * starts afresh (a new gil_found, or none). */
static enum reorder_status drain(struct reorder *ro, struct gq *q)
{
	enum reorder_status st = REORDER_OK;

	q->started = 1; /* whatever waits is in order from its lowest seq */
	while (q->count && st == REORDER_OK)
		st = skip_gap(ro, q);
	if (st == REORDER_OK) {
		q->started = 0;
		q->since = -1;
	}
	return st;
}

/* Room for seqs [lo, hi) in the ring. */
static enum reorder_status ring_fit(struct gq *q, uint64_t lo, uint64_t hi)
{
	size_t ncap = q->cap ? q->cap : RING_MIN;
	struct slot *nr = NULL;
	enum reorder_status st = REORDER_OK;

	while (hi - lo > ncap)
		ncap *= 2;
	if (ncap == q->cap)
		goto end;
	nr = calloc(ncap, sizeof(*nr));
	if (!nr) {
		st = REORDER_NOMEM;
		goto end;
	}
	for (size_t i = 0; i < q->cap; i++)
		if (q->ring[i].used)
			nr[q->ring[i].seq & (ncap - 1)] = q->ring[i];
	free(q->ring);
	q->ring = nr;
	q->cap = ncap;
end:
	return st;
}

static enum reorder_status gq_push(struct reorder *ro, struct gq *q, const struct gs_event *ev)
{
	enum reorder_status st;
	uint64_t lo, hi;
	struct slot *s;

	if (q->started && ev->seq < q->next) {
		ro->st.late++;
		return REORDER_OK;
	}
	if (q->started && ev->seq == q->next && !q->count) {
		q->next++; /* the usual case: in order, nothing waits */
		return pass(ro, ev);
	}
	if (!q->count && !q->started) {
		q->next = ev->seq;
		q->hi = ev->seq + 1;
		q->since = ev->rec_ts;
	}
	lo = ev->seq < q->next ? ev->seq : q->next;
	hi = ev->seq + 1 > q->hi ? ev->seq + 1 : q->hi;
	/* Too far ahead: give the head gap up until it fits. */
	while (q->started && hi - q->next > REORDER_MAX_WAITING) {
		if (q->count) {
			if ((st = skip_gap(ro, q)) != REORDER_OK)
				return st;
		} else {
			ro->st.gaps += hi - REORDER_MAX_WAITING - q->next;
			q->gaps += hi - REORDER_MAX_WAITING - q->next;
			q->next = hi - REORDER_MAX_WAITING;
		}
	}
	if (q->started && ev->seq == q->next && !q->count) {
		q->next++;
		return pass(ro, ev);
	}
	if (q->started)
		lo = q->next;
	if ((st = ring_fit(q, lo, hi)) != REORDER_OK)
		return st;
	s = slot_of(q, ev->seq);
	if (s->used && s->seq == ev->seq) {
		ro->st.late++; /* the same place twice: keep the first */
		return REORDER_OK;
	}
	slot_pack(s, ev);
	s->used = 1;
	q->count++;
	q->hi = hi;
	if (ev->seq < q->next)
		q->next = ev->seq;
	if (q->since < 0)
		q->since = ev->rec_ts;
	if (q->started && ev->seq > q->next)
		ro->st.reordered++; /* it overtook an earlier one */
	if (!q->started) {
		if (ev->rec_ts - q->since < START_HOLD_NS && q->count < START_HOLD_EVENTS)
			return REORDER_OK;
		q->started = 1;
		q->since = ev->rec_ts;
	}
	uint64_t head = q->next;
	st = deliver(ro, q);
	if (st == REORDER_OK && q->count && ev->seq == head) {
		/* It filled the gap at the head, however late: the other
		 * events of its record (a take's acquire, a hold's release, a
		 * held-back hold's) come next, not given up before they do. */
		q->since = ev->rec_ts;
	} else if (st == REORDER_OK && q->count && ev->rec_ts - q->since > REORDER_HORIZON_NS) {
		st = skip_gap(ro, q);
		if (st == REORDER_OK && q->count)
			q->since = ev->rec_ts;
	}
	return st;
}

/* An event without a seq: the windows it ends are emptied first. */
static enum reorder_status windows_end(struct reorder *ro, const struct gs_event *ev)
{
	enum reorder_status st = REORDER_OK;
	struct gq *q;

	switch (ev->type) {
	case GS_EV_GIL_FOUND:
		/* A GIL's order starts at 0 with its gil_found; what waits for
		 * an earlier GIL at the same address ends first. */
		st = gq_get(ro, ev->pid, ev->gil, &q);
		if (st == REORDER_OK)
			st = drain(ro, q);
		if (st == REORDER_OK) {
			q->started = 1;
			q->next = 0;
			q->hi = 0;
		}
		break;
	case GS_EV_RETIRED:
		q = kmap_get(ro->by_key, (uint32_t)ev->pid, ev->gil);
		if (q)
			st = drain(ro, q);
		break;
	case GS_EV_PROCESS_EXIT:
		for (size_t i = 0; i < ro->all.n && st == REORDER_OK; i++) {
			q = (struct gq *)ro->all.v[i];
			if (q->pid != ev->pid || (!q->count && !q->started))
				continue;
			st = drain(ro, q);
			if (st == REORDER_OK) {
				free(q->ring);
				q->ring = NULL;
				q->cap = 0;
			}
		}
		break;
	default:
		break;
	}
	return st;
}

enum reorder_status reorder_event(struct reorder *ro, const struct gs_event *ev)
{
	enum reorder_status st;
	struct gq *q;

	if (ev->has_seq) {
		st = gq_get(ro, ev->pid, ev->gil, &q);
		if (st == REORDER_OK)
			st = gq_push(ro, q, ev);
	} else {
		st = windows_end(ro, ev);
		if (st == REORDER_OK)
			st = pass(ro, ev);
	}
	return st;
}

enum reorder_status reorder_finish(struct reorder *ro)
{
	enum reorder_status st = REORDER_OK;

	for (size_t i = 0; i < ro->all.n && st == REORDER_OK; i++)
		st = drain(ro, (struct gq *)ro->all.v[i]);
	return st;
}
