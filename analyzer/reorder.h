/* Puts each GIL's events back in CPython's order. The tracer writes an
 * event after it lets go of the GIL's mutex, so records of different
 * threads reach the reader (babeltrace2's muxer: record-time order) out
 * of the order CPython made the changes in; each carries its place in its
 * GIL's order (seq) and the time it happened. A small window per GIL
 * holds what came early until the gap before it fills. Events without a
 * seq (an older tracer's, written under the mutex and so already in
 * order; gil_found, gil_retired, thread_name, process_exit) pass straight
 * through, after the windows they close are emptied. */
#ifndef GILSCOPE_REORDER_H
#define GILSCOPE_REORDER_H

#include <stdint.h>

#include "trace_reader.h"

/* A gap in a GIL's order is given up (its events counted as never seen)
 * once this many events wait behind it, or once the trace's record time
 * is this far past the first of them: a lost event never comes. */
#define REORDER_MAX_WAITING 65536
#define REORDER_HORIZON_NS 1000000000LL

struct reorder;

struct reorder_stats {
	uint64_t reordered; /* events that arrived before an earlier one */
	uint64_t gaps;      /* places in some GIL's order never filled */
	uint64_t late;      /* events that came after their gap was given up:
			       not passed on */
};

/* What reorder_event and reorder_finish return. The reader tells the
 * sink's failure (already said) from running out of memory (for it to
 * say). */
enum reorder_status {
	REORDER_OK = 0,
	REORDER_SINK_FAILED = -1, /* the sink said no (its own error) */
	REORDER_NOMEM = -2,       /* out of memory */
};

/* NULL out of memory. */
struct reorder *reorder_new(const struct trace_sink *sink);
void reorder_free(struct reorder *ro);
/* Passes ev on, now or once its turn comes. */
enum reorder_status reorder_event(struct reorder *ro, const struct gs_event *ev);
/* The trace ended: passes on everything still waiting, in order. */
enum reorder_status reorder_finish(struct reorder *ro);
void reorder_get_stats(const struct reorder *ro, struct reorder_stats *st);
/* The stats' gaps of the processes kept(ctx, pid) says count: a gap in
 * another recording's process (a per-user session records every traced
 * process of its user) is none of this trace's losses. */
uint64_t reorder_gaps_of(const struct reorder *ro, int (*kept)(void *ctx, int32_t pid), void *ctx);

#endif
