/* Per-GIL reordering by sequence number (reorder.h). In the usual case
 * an event is the next of its GIL and goes straight on; only the events
 * that overtook an earlier one wait, in a ring indexed by seq. */
#include "reorder.h"

#include <stdlib.h>
#include <string.h>

#include "kmap.h"
#include "ptrvec.h"

/* A GIL whose gil_found was not seen (a recording that began after it)
 * does not know its first place: its first events wait this long, or
 * this many of them, and the lowest seq seen starts its order. */
#define START_HOLD_NS 10000000LL
#define START_HOLD_EVENTS 1024
#define RING_MIN 64

struct slot {
	uint64_t seq;
	int used;
	struct gs_event ev;
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

	if (!ro)
		return NULL;
	ro->sink = sink;
	ro->by_key = kmap_new();
	if (!ro->by_key) {
		free(ro);
		return NULL;
	}
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

void reorder_get_stats(const struct reorder *ro, struct reorder_stats *st)
{
	*st = ro->st;
}

static int pass(struct reorder *ro, const struct gs_event *ev)
{
	return ro->sink->event(ro->sink->ctx, ev) ? -1 : 0;
}

static struct gq *gq_get(struct reorder *ro, int32_t pid, uint64_t gil)
{
	struct gq *q = kmap_get(ro->by_key, (uint32_t)pid, gil);

	if (q)
		return q;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	if (ptrvec_push(&ro->all, q)) {
		free(q);
		return NULL;
	}
	if (kmap_put(ro->by_key, (uint32_t)pid, gil, q)) {
		ro->all.n--;
		free(q);
		return NULL;
	}
	q->pid = pid;
	q->gil = gil;
	q->since = -1;
	return q;
}

static struct slot *slot_of(struct gq *q, uint64_t seq)
{
	return &q->ring[seq & (q->cap - 1)];
}

/* Passes on the run of waiting events that starts at next. */
static int deliver(struct reorder *ro, struct gq *q)
{
	while (q->count) {
		struct slot *s = slot_of(q, q->next);

		if (!s->used || s->seq != q->next)
			break;
		s->used = 0;
		q->count--;
		q->next++;
		if (pass(ro, &s->ev))
			return -1;
	}
	if (!q->count)
		q->since = -1;
	return 0;
}

/* Gives up the gap at the head: its places count as never seen. */
static int skip_gap(struct reorder *ro, struct gq *q)
{
	while (q->count) {
		struct slot *s = slot_of(q, q->next);

		if (s->used && s->seq == q->next)
			break;
		q->next++;
		ro->st.gaps++;
	}
	return deliver(ro, q);
}

/* Passes on everything waiting, gaps and all; the GIL's order then
 * starts afresh (a new gil_found, or none). */
static int drain(struct reorder *ro, struct gq *q)
{
	q->started = 1; /* whatever waits is in order from its lowest seq */
	while (q->count)
		if (skip_gap(ro, q))
			return -1;
	q->started = 0;
	q->since = -1;
	return 0;
}

/* Room for seqs [lo, hi) in the ring. */
static int ring_fit(struct gq *q, uint64_t lo, uint64_t hi)
{
	size_t ncap = q->cap ? q->cap : RING_MIN;
	struct slot *nr;

	while (hi - lo > ncap)
		ncap *= 2;
	if (ncap == q->cap)
		return 0;
	nr = calloc(ncap, sizeof(*nr));
	if (!nr)
		return -1;
	for (size_t i = 0; i < q->cap; i++)
		if (q->ring[i].used)
			nr[q->ring[i].seq & (ncap - 1)] = q->ring[i];
	free(q->ring);
	q->ring = nr;
	q->cap = ncap;
	return 0;
}

static int gq_push(struct reorder *ro, struct gq *q, const struct gs_event *ev)
{
	uint64_t lo, hi;
	struct slot *s;

	if (q->started && ev->seq < q->next) {
		ro->st.late++;
		return 0;
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
			if (skip_gap(ro, q))
				return -1;
		} else {
			ro->st.gaps += hi - REORDER_MAX_WAITING - q->next;
			q->next = hi - REORDER_MAX_WAITING;
		}
	}
	if (q->started && ev->seq == q->next && !q->count) {
		q->next++;
		return pass(ro, ev);
	}
	if (q->started)
		lo = q->next;
	if (ring_fit(q, lo, hi))
		return -2;
	s = slot_of(q, ev->seq);
	if (s->used && s->seq == ev->seq) {
		ro->st.late++; /* the same place twice: keep the first */
		return 0;
	}
	s->used = 1;
	s->seq = ev->seq;
	s->ev = *ev;
	s->ev.procname = NULL; /* babeltrace2's string: gone by then */
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
			return 0;
		q->started = 1;
		q->since = ev->rec_ts;
	}
	if (deliver(ro, q))
		return -1;
	if (q->count && ev->rec_ts - q->since > REORDER_HORIZON_NS) {
		if (skip_gap(ro, q))
			return -1;
		if (q->count)
			q->since = ev->rec_ts;
	}
	return 0;
}

int reorder_event(struct reorder *ro, const struct gs_event *ev)
{
	struct gq *q;

	if (ev->has_seq) {
		q = gq_get(ro, ev->pid, ev->gil);
		return q ? gq_push(ro, q, ev) : -2;
	}
	switch (ev->type) {
	case GS_EV_GIL_FOUND:
		/* A GIL's order starts at 0 with its gil_found; what waits for
		 * an earlier GIL at the same address ends first. */
		q = gq_get(ro, ev->pid, ev->gil);
		if (!q)
			return -2;
		if (drain(ro, q))
			return -1;
		q->started = 1;
		q->next = 0;
		q->hi = 0;
		break;
	case GS_EV_RETIRED:
		q = kmap_get(ro->by_key, (uint32_t)ev->pid, ev->gil);
		if (q && drain(ro, q))
			return -1;
		break;
	case GS_EV_PROCESS_EXIT:
		for (size_t i = 0; i < ro->all.n; i++) {
			q = (struct gq *)ro->all.v[i];
			if (q->pid == ev->pid && (q->count || q->started)) {
				if (drain(ro, q))
					return -1;
				free(q->ring);
				q->ring = NULL;
				q->cap = 0;
			}
		}
		break;
	default:
		break;
	}
	return pass(ro, ev);
}

int reorder_finish(struct reorder *ro)
{
	for (size_t i = 0; i < ro->all.n; i++)
		if (drain(ro, (struct gq *)ro->all.v[i]))
			return -1;
	return 0;
}
