/* The per-GIL, per-thread state machine: turns the event stream into
 * holds, waits, switches, drop requests and forced switches, writes them
 * as they close, and the per-thread, per-GIL and per-run figures at the
 * end. Memory grows with the number of threads and GILs, plus 4 bytes per
 * interval for exact percentiles (durs.h), never with events. */
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
	long long exit_status; /* DB_NULL unknown */
};

struct model *model_new(struct db *db);
/* Keeps only the processes of one recording: an LTTng UST session sees
 * every traced process of the user, other gilscope recordings' too. A
 * process counts from its first gil_found or thread_name, if that carries
 * tag (gilscope.info's); its events before that, and every event of a
 * process with another tag, are skipped. Without a call, all are kept. */
void model_filter_tag(struct model *m, uint32_t tag);
/* Events skipped by the tag filter. */
uint64_t model_skipped_count(const struct model *m);
void model_free(struct model *m);
/* Feed events and losses in time order; 0 or -1 (see model_error). */
int model_event(struct model *m, const struct gs_event *ev);
int model_loss(struct model *m, const struct gs_loss *loss);
uint64_t model_event_count(const struct model *m);
/* Closes what is still open and writes every table but the raw
 * intervals (already written): runs, processes, gils, threads, metrics,
 * findings. */
int model_finish(struct model *m, const struct run_info *run);
const char *model_error(const struct model *m);

#endif
