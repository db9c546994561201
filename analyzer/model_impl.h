/* The analyzer's state between events, shared by its three parts:
 * model.c (the entity registry, the tag filter and the state machine),
 * metrics.c (the end-of-run figures and the runs row) and findings.c
 * (the findings, the one place their English is written). Not a public
 * header: the rest of the analyzer sees model.h only. */
#ifndef GILSCOPE_MODEL_IMPL_H
#define GILSCOPE_MODEL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "durs.h"
#include "model.h"
#include "ptrvec.h"
#include "sites.h"

/* Drop requests waiting for their holder's release, per GIL. Past this,
 * the oldest is written unanswered (the holder's release was lost). */
#define MAX_PENDING_DROPS 256

/* Bytes of durations kept in memory for exact percentiles (2 to 8 bytes
 * each, durs.h): about 3M intervals, 4M events' worth. Past it, each
 * collection becomes a fixed-size histogram (percentiles within 1/128 of
 * their value) so that peak memory does not grow with the trace.
 * model_new()'s durs_budget overrides it (tests). */
#define DURS_BUDGET (6u << 20)

/* A drop request answered later than this is worth a finding: the
 * holder ran without checking the eval breaker (a long C call). */
#define SLOW_DROP_NS 1000000
/* CPython's default switch interval, assumed where the tracer could not
 * read it (3.6: the interval is a separate static). */
#define DEFAULT_INTERVAL_US 5000

enum process_state { PROC_UNDECIDED, PROC_KEPT, PROC_SKIPPED };
/* A kept pid's later processes (pids wrap): another recording's; one of
 * ours, just found (its loss still to write); one of ours. */
enum process_other { PROC_OTHER_NONE, PROC_OTHER_THEIRS, PROC_OTHER_OURS_NEW, PROC_OTHER_OURS };

struct process {
	int32_t pid;
	enum process_state state;  /* only with a tag filter */
	enum process_other other;  /* its events now: a later process's */
	int later;                 /* later processes of ours at its pid (each said lost) */
	int later_exited;          /* the latest of them wrote its process_exit */
	int late;                  /* joined a mid-life trace after its start */
	int exited;                /* its process_exit was seen */
	int64_t exit_status;       /* GS_UNKNOWN: no process_exit; -1: exit() */
	char *procname;
	int64_t first_ns, last_ns;
	/* Its events read before it was recognised by its tag (skipped):
	 * in a launch trace, its start went to no session of ours. */
	uint64_t early;
	int64_t early_ns;
};

struct tg;

struct thread {
	int32_t pid, tid;
	struct tg *last_tg;        /* its state on the GIL it used last */
	char *name;
	int64_t first_ns, last_ns; /* GS_UNKNOWN: only named by others */
	int64_t held_ns, wait_ns, holds, waits, timeouts;
	int64_t drops_issued, drops_received, forced_releases, convoys;
	struct dur_stats hold_st, wait_st; /* filled at the end */
	/* For the findings to name the code: where its longest convoy wait
	 * was asked for, and where its longest forced hold ended. */
	struct site *convoy_site, *forced_site;
	struct stack *convoy_stack, *forced_stack;
	int64_t convoy_max, forced_max;
};

struct pending_drop {
	int64_t ts, interval_us;
	int32_t requester, holder;
};

struct gil {
	int64_t id;
	int32_t pid;
	uint64_t addr;
	int64_t interval_us;       /* GS_UNKNOWN unknown */
	const char *rule;
	char *version;
	int64_t found_ns, retired_ns; /* retired_ns GS_UNKNOWN while alive */
	int ended;                 /* its process exited */
	int from_start;            /* its gil_found is in the trace: nothing to clip */
	int known;                 /* a gil_known described it (resync): its threads'
				      first events may clip what was open */
	int lost_start;            /* neither: its start was counted lost */
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
	int64_t resp_max_ns;       /* when that drop request was made */
	struct site *resp_max_site; /* where that holder released at last */
	struct stack *resp_max_stack;
	struct durs gap, resp;     /* holds and waits: per thread, in struct tg */
	struct pending_drop *pend;
	size_t npend;
	/* The check against CPython's own switch_number (model.c). */
	uint64_t sn_prev;          /* at the last acquire that carried it, 0 none */
	int64_t sw_prev;           /* switches counted here at that acquire */
	int64_t handoffs_checked, handoff_mismatches;
};

/* One thread's state on one GIL. */
struct tg {
	struct gil *g;
	struct thread *t;
	int waiting, holding, in_forced;
	int seen;                  /* an event of it was read (clipping) */
	int hold_clipped, wait_clipped; /* open at the trace's start */
	int released_voluntarily;  /* last release was not forced, no request since */
	int after_io;              /* the current wait follows a voluntary release */
	int64_t wait_start, wait_timeouts, hold_start, forced_start;
	/* Where in the code (sites.h; NULL unknown): the hold's start, the
	 * current wait's, and the last release's. */
	struct site *hold_site, *wait_site, *rel_site;
	struct stack *hold_stack, *wait_stack, *rel_stack;
	int64_t rel_ns;
	struct durs hold, wait;    /* for the thread's and the GIL's percentiles */
};


struct model {
	struct db *db;
	int64_t run_id, next_gil_id;
	struct kmap *procs, *threads, *gils, *tgs;
	struct process *last_proc; /* consecutive events mostly share them */
	struct thread *last_thread;
	struct ptrvec procv, threadv, gilv, tgv;
	struct sites *sites;
	uint64_t events, anomalies, lost_events, nlosses;
	int64_t first_anomaly_ns;  /* the first anomaly's event time (anomalies > 0) */
	uint64_t lost_packets;     /* losses of whole packets: count unknown */
	uint64_t lost_uncounted;   /* losses LTTng gave no count for */
	uint64_t lost_tails;       /* streams that ended early, uncounted */
	uint64_t lost_empty;       /* streams with no packet at all, uncounted */
	uint64_t lost_gaps;        /* places in a GIL's order never seen, no
				      other loss reported */
	uint64_t lost_impossible;  /* losses whose count cannot be true: unknown */
	uint64_t lost_starts;      /* GILs whose start (gil_found) was never recorded,
				      processes recognised only after some events */
	/* Of the traced processes that left nothing, those killed during
	 * their registration wait: the lost_events finding names them
	 * (model_lost_processes); "" none. */
	char lost_waiting[160];
	size_t lost_nwaiting;
	uint64_t impossible_count; /* the first such count, on impossible_stream */
	char impossible_stream[128];
	uint64_t durs_kept, durs_budget;
	int filter;                /* keep only processes carrying want_tag */
	uint32_t want_tag;
	uint64_t skipped;
	int32_t *keep_pids;        /* pid filter (record --pid), n_keep of them */
	size_t n_keep;
	int32_t *late_pids;        /* those of them that joined late */
	size_t n_late;
	const char *trace_start;   /* 'launch' | 'attach' | 'snapshot' */
	int clip;                  /* the trace starts in mid-life */
	int64_t horizon_ns;        /* snapshot: events before it are skipped */
	uint64_t before_horizon;
	int spilled;               /* over budget: histograms, not exact */
	int64_t start_ns, end_ns, max_loss_end;
	char err[512];
};

/* The run-wide figures metrics_write() computed, for the findings. */
struct run_totals {
	double wait_pct;           /* NaN unknown */
};

/* model.c */
enum gs_status model_oom(struct model *m);
/* The thread (pid, tid), made if new: *out; GS_OK, or GS_ERR_NOMEM with
 * model_error() saying so. */
enum gs_status model_thread(struct model *m, int32_t pid, int32_t tid, struct thread **out);

/* metrics.c: the processes, gils, threads and metrics rows. */
enum gs_status metrics_write(struct model *m, struct run_totals *totals);
/* metrics.c: the runs row, last. */
enum gs_status metrics_run_write(struct model *m, const struct run_info *run);

/* findings.c */
enum gs_status findings_write(struct model *m, const struct run_totals *totals);

#endif
