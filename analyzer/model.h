/* The per-GIL, per-thread state machine (model.c): turns the event stream
 * into holds, waits, switches, drop requests and forced switches and
 * writes them as they close; at the end, the per-thread, per-GIL and
 * per-run figures (metrics.c) and the findings (findings.c). Memory grows
 * with the number of threads and GILs, plus 2 to 8 bytes per interval for
 * exact percentiles (durs.h), never with events. */
#ifndef GILSCOPE_MODEL_H
#define GILSCOPE_MODEL_H

#include <stddef.h>

#include "db.h"
#include "trace_reader.h"

struct model;

struct run_info {
	const char *trace_path;
	const char *hostname;
	const char *command;   /* NULL unknown */
	int64_t exit_status;   /* GS_UNKNOWN unknown */
	/* How the reader put each GIL's events back in order (trace_info). */
	uint64_t reordered, order_gaps, late_events;
};

/* durs_budget: bytes of durations kept for exact percentiles, 0 for the
 * default (model_impl.h). NULL out of memory. */
struct model *model_new(struct db *db, uint64_t durs_budget);
/* Keeps only the processes of one recording: an LTTng UST session sees
 * every traced process of the user, other gilscope recordings' too. A
 * process counts from its first gil_found or thread_name, if that carries
 * tag (gilscope.info's); its events before that, and every event of a
 * process with another tag, are skipped. Without a call, all are kept. */
void model_filter_tag(struct model *m, uint32_t tag);
/* Keeps only the processes with these pids (`record --pid`: processes
 * started by `gilscope exec` carry no tag); `late` ones joined during the
 * recording (--follow-children): what they had open starts with their
 * first event, not the trace's. */
enum gs_status model_filter_pids(struct model *m, const int32_t *pids, size_t n,
				 const int32_t *late, size_t nlate);
/* How the trace starts: "launch" (with its processes; the default),
 * "attach" (`record --pid`: in their mid-life) or "snapshot" (a flight
 * recorder's ring: at horizon_ns, the latest stream beginning; earlier
 * events are skipped and counted). In mid-life, holds and waits open at
 * the start are kept from it, marked started = 'trace_start'. */
void model_set_start(struct model *m, const char *kind, int64_t horizon_ns);
/* Whether pid's events count: no filter, or its process was kept. */
int model_pid_kept(const struct model *m, int32_t pid);
/* Events skipped by the tag filter. */
uint64_t model_skipped_count(const struct model *m);
/* The processes of the recording it keeps (all, without a filter) that
 * have a GIL, and later processes at a kept one's pid (said lost);
 * UINT64_MAX when it cannot tell (out of memory). */
uint64_t model_kept_count(const struct model *m);
/* A lost row for `missing` of the `traced` processes the preload traced
 * that left nothing of theirs in the trace (pids: those the recorder
 * named, npids of them, none from an older recorder; waiting: NULL, or
 * for each of them 1 when it ended during its registration wait, before
 * its program ran: the row says which). */
enum gs_status model_lost_processes(struct model *m, uint64_t missing, uint64_t traced,
				    const int32_t *pids, size_t npids, const unsigned char *waiting);
void model_free(struct model *m);
/* Feed events and losses in time order; on an error model_error() says
 * what failed. */
enum gs_status model_event(struct model *m, const struct gs_event *ev);
enum gs_status model_loss(struct model *m, const struct gs_loss *loss);
uint64_t model_event_count(const struct model *m);
/* Closes what is still open and writes every table but the raw
 * intervals (already written): runs, processes, gils, threads, metrics,
 * findings. */
enum gs_status model_finish(struct model *m, const struct run_info *run);
const char *model_error(const struct model *m);

#endif
