/* One gilscope LTTng session, as every recorder makes it: user space,
 * per-UID buffers, the channel "gilscope" with the vpid, vtid and procname
 * contexts and every gilscope:* event; optionally only some processes
 * (the vpid tracker), in memory only (a snapshot session), with the
 * resync switch on (gilscope_ctl_tp.h). */
#ifndef GILSCOPE_SESSION_H
#define GILSCOPE_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <lttng/lttng.h>

#define SESSION_CHANNEL "gilscope"
#define SESSION_RESYNC_EVENT "gilscope_ctl:resync"
/* Turned on just before every stop and snapshot: each traced process
 * writes the holds it held back (gilscope_ctl_tp.h). */
#define SESSION_FLUSH_EVENT "gilscope_ctl:flush"
/* How long the processes get to answer it (ms): liblttng-ust's listener
 * thread applies the switch and the process writes before it answers the
 * daemon, so this is margin for a descheduled thread. */
#define SESSION_FLUSH_WAIT_MS 50
/* A recording's sub-buffers are closed at least this often (us). */
#define SESSION_SWITCH_US 1000000u

struct gs_session {
	char name[LTTNG_NAME_MAX];  /* set by the caller before setup */
	struct lttng_handle *handle;
	struct lttng_process_attr_tracker_handle *tracker;
	int created, started;
	uint64_t subbuf;            /* bytes of one sub-buffer (a packet) */
	char outdir[4096];          /* where the trace goes, "" for a snapshot */
	int tails;                  /* after teardown: streams that ended early or have no packet */
	uint64_t stop_clock;        /* after teardown: CLOCK_MONOTONIC (the trace clock) when
				       the stop was asked, 0 if never (tails_find) */
};

struct gs_session_opts {
	const char *outdir;     /* the trace's directory; NULL: a snapshot session */
	uint64_t ring;          /* per-CPU bytes, from session_ring() */
	const pid_t *pids;      /* only these processes; NULL: every one */
	size_t npids;
	int resync;             /* turn the resync switch on too */
};

/* The per-CPU ring LTTng accepts for `want` bytes (0: the default):
 * 8 power-of-two sub-buffers of at least a page. */
uint64_t session_ring(uint64_t want);

/* Creates, sets up and starts s->name. pfx starts every error line.
 * Returns 0, or -1 after printing one line; session_teardown() (or, for a
 * session that outlives the caller, session_release()) cleans up either
 * way. */
int session_setup(const char *pfx, struct gs_session *s, const struct gs_session_opts *o);

/* Adds pid to a tracked session's processes. */
int session_track(const char *pfx, struct gs_session *s, pid_t pid);

/* Turns the gilscope_ctl:flush switch on in the session of handle h
 * (channel SESSION_CHANNEL) and gives the processes SESSION_FLUSH_WAIT_MS
 * to write their held-back holds; session_flush_off() turns it off. 0,
 * or -1 after printing one line (the stop goes on: a process that is
 * idle may then lose its last hold). */
int session_flush_on(const char *pfx, struct lttng_handle *h);
int session_flush_off(const char *pfx, struct lttng_handle *h);
/* The switch alone, with no wait (on: 1 on, 0 off). */
int session_flush_switch(const char *pfx, struct lttng_handle *h, int on);

/* Frees the handles, leaving the session in the daemon. */
void session_release(struct gs_session *s);

/* A discarded-events count LTTng cannot have meant (lttng-consumerd
 * reads a counter that went backwards as a wrap at 2^63). */
#define SESSION_LOST_IMPOSSIBLE (UINT64_C(1) << 62)

/* Stops (flushing every buffer) and destroys the session; *lost receives
 * the events the channel discarded, or RECORD_LOST_UNKNOWN (after a line
 * saying why). Safe on a half-made session. A disk
 * too full for one more packet is an error that says so (where, how much
 * is free): LTTng's consumer drops what it cannot write, and says at most
 * "Rotation failure". */
int session_teardown(const char *pfx, struct gs_session *s, uint64_t *lost);

#endif
