/* Reads gilscope events out of CTF traces: one source.ctf.fs per trace
 * directory, a muxer, and a simple sink that decodes each event into a
 * struct gs_event and hands it to a callback: each GIL's events in
 * CPython's order (by their seq, reorder.h), the rest in time order. */
#ifndef GILSCOPE_TRACE_READER_H
#define GILSCOPE_TRACE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

enum gs_ev_type {
	GS_EV_GIL_FOUND,
	GS_EV_REQUEST,
	GS_EV_ACQUIRE,
	GS_EV_RELEASE,
	GS_EV_WAIT_TIMEOUT,
	GS_EV_DROP_REQUEST,
	GS_EV_FORCED_BEGIN,
	GS_EV_FORCED_END,
	GS_EV_ABANDONED,
	GS_EV_RETIRED,
	GS_EV_THREAD_NAME,
	GS_EV_PROCESS_EXIT,
	GS_EV_CODE,
	GS_EV_STACK,
	GS_EV_RESYNC,          /* a session started mid-life: what follows re-states */
	GS_EV_GIL_KNOWN,       /* a GIL found before the trace began */
	GS_EV_OTHER,           /* a gilscope event this analyzer does not know */
	GS_EV_FOREIGN,         /* a gilscope event of a layout this analyzer
				  refuses (another gilscope version's process):
				  an error unless its process is skipped */
	GS_EV__COUNT,
};

/* gil_found's rule: the values of GILSCOPE_RULE_* in tracer/gilscope_tp.h
 * (which the analyzer cannot include: it pulls in LTTng-UST). */
enum gs_rule {
	GS_RULE_LAYOUT = 1,
	GS_RULE_BEHAVIOUR = 2,
};

/* Where a thread was in its Python code at an acquire or release: a code
 * id and stack id of its process (0: none, or an older tracer), the byte
 * offset of the instruction (-1: unknown). */
struct gs_site {
	uint32_t code;
	int32_t offset;
	uint32_t stack;
};

/* The longest line table and stack a code/stack event is read with (the
 * tracer's own limits, tracer/pyframe.h). */
#define GS_MAX_LINETABLE 16384
#define GS_MAX_STACK 64

/* One decoded event: the context every event has, then the payload of
 * its type (tracer/gilscope_tp.h, docs/events.md). A number the event
 * does not carry (an older tracer's) is GS_UNKNOWN, a string NULL. */
struct gs_event {
	enum gs_ev_type type;
	int64_t ts;            /* ns from the clock's origin: when it happened
				  (the carried ts where the event has one) */
	int64_t rec_ts;        /* when LTTng recorded it */
	int has_seq;           /* a GIL event of a tracer that carries seq */
	uint64_t seq;          /* its place in its GIL's order */
	uint64_t switch_number; /* acquire: CPython's counter after it, 0 unknown */
	int32_t pid, tid;      /* vpid, vtid contexts: the actor */
	uint64_t gil;          /* GIL address (0 for thread_name, process_exit) */
	const char *procname;  /* NULL but for a process's first event */
	struct gs_site site;   /* acquire, release */
	union {
		struct {             /* gil_found and gil_known */
			int64_t interval_us; /* 0: not readable */
			int64_t rule;        /* enum gs_rule, else unknown */
			const char *version;
			int64_t tag;         /* the recording's tag */
		} gil_found;
		struct {
			int forced;          /* it honoured a drop request */
		} release;
		struct {
			int32_t holder;      /* the thread asked to drop the GIL */
			int64_t interval_us; /* the switch interval then, 0 unknown */
		} drop_request;
		struct {
			int32_t tid;         /* the thread named (not always the actor) */
			const char *name;
			int64_t tag;
		} thread_name;
		struct {
			int64_t status;      /* _exit's status, -1 for exit() */
		} process_exit;
		struct {
			uint32_t id;
			int32_t firstlineno;
			int lt_format;       /* 1 lnotab, 2 3.10 linetable, 3 locations */
			const char *filename, *name;
			const uint8_t *linetable;
			uint32_t lt_len;
		} code;
		struct {
			uint32_t id;
			const uint32_t *codes; /* innermost first */
			const int32_t *offsets;
			uint32_t depth;
		} stack;
		struct {
			const char *why; /* one line: what its class lacks */
		} foreign;
	} u;
};

/* gs_loss.tail of a stream with no packet at all. */
#define GS_TAIL_NONE 2

struct gs_loss {
	const char *stream;    /* stream name */
	int64_t start_ns, end_ns; /* GS_UNKNOWN when the trace does not say */
	uint64_t count;        /* events discarded (0: unknown, e.g. packets) */
	uint64_t impossible;   /* non-zero: the count babeltrace2 reported,
				  which cannot be true (count is then 0) */
	int whole_packets;     /* packets were lost (count 0) */
	int tail;              /* a stream ended early: its last packets are
				  missing (count 0); GS_TAIL_NONE: it has
				  no packet at all */
	uint64_t gaps;         /* non-zero: places in a GIL's order never
				  seen while nothing else was reported lost
				  (count 0) */
};


/* A discarded-events count at or above this cannot be true, whatever the
 * stream (LTTng-UST's counter is an unsigned long; one that went
 * backwards reads as about 2^64 in babeltrace2, 2^63 in lttng-ctl). */
#define GS_LOSS_IMPOSSIBLE (UINT64_C(1) << 62)

struct trace_sink {
	/* Each returns 0 to go on, non-zero to stop with an error the caller
	 * already knows about. */
	int (*event)(void *ctx, const struct gs_event *ev);
	int (*loss)(void *ctx, const struct gs_loss *loss);
	void *ctx;
	int tails;             /* report streams that end early (not for a
				  snapshot): a loss each, after the events */
	/* Optional, asked at the end: whether pid's places in its GILs'
	 * orders count (info->seq_gaps); NULL: every process's. */
	int (*kept)(void *ctx, int32_t pid);
};

struct trace_info {
	char hostname[256];    /* from the CTF environment, "" if absent */
	uint64_t other_events; /* events of other providers, skipped */
	uint64_t foreign_events; /* gilscope events of a layout not read here */
	size_t bad_dir;        /* TRACE_READ_OPEN_ERROR: which directory */
	uint64_t seq_events;   /* events that carried a seq */
	uint64_t reordered;    /* of those, that overtook an earlier one */
	uint64_t seq_gaps;     /* places in a GIL's order never seen */
	uint64_t seq_late;     /* events whose place was given up: skipped */
};

enum trace_read_status {
	TRACE_READ_OK = 0,
	TRACE_READ_SINK_ERROR,  /* a sink callback failed */
	TRACE_READ_ERROR,       /* err holds one line */
	TRACE_READ_OPEN_ERROR,  /* dirs[info->bad_dir] does not open; err says why */
};

/* Reads every message of the CTF traces in dirs[0..n). On
 * TRACE_READ_ERROR, err holds one line (babeltrace2's root cause). With
 * verbose, every babeltrace2 cause is printed to stderr too. */
enum trace_read_status trace_read(const char *const *dirs, size_t n,
				  const struct trace_sink *sink,
				  struct trace_info *info, int verbose,
				  char *err, size_t errlen);

#endif
