/* The LTTng session every gilscope recorder makes (session.h). */
#include "session.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsinfo.h"
#include "mono.h"
#include "record.h"
#include "tails.h"

#define NUM_SUBBUF 8

static int lttng_fail(const char *pfx, const char *what, int rc)
{
	fprintf(stderr, "%s%s: %s\n", pfx, what, lttng_strerror(rc));
	return -1;
}

uint64_t session_ring(uint64_t want)
{
	uint64_t bufsz = want ? want : RECORD_DEFAULT_BUFFER;
	uint64_t sub = 4096;
	while (sub * 2 <= bufsz / NUM_SUBBUF)
		sub *= 2;
	return sub * NUM_SUBBUF;
}

int session_track(const char *pfx, struct gs_session *s, pid_t pid)
{
	enum lttng_process_attr_tracker_handle_status st =
		lttng_process_attr_virtual_process_id_tracker_handle_add_pid(s->tracker, pid);
	if (st != LTTNG_PROCESS_ATTR_TRACKER_HANDLE_STATUS_OK &&
	    st != LTTNG_PROCESS_ATTR_TRACKER_HANDLE_STATUS_EXISTS) {
		fprintf(stderr, "%scannot add pid %d to the session's process tracker (status %d)\n",
			pfx, (int)pid, (int)st);
		return -1;
	}
	return 0;
}

static int tracker_setup(const char *pfx, struct gs_session *s, const pid_t *pids, size_t n)
{
	enum lttng_error_code ec = lttng_session_get_tracker_handle(
		s->name, LTTNG_DOMAIN_UST, LTTNG_PROCESS_ATTR_VIRTUAL_PROCESS_ID, &s->tracker);
	if (ec != LTTNG_OK)
		return lttng_fail(pfx, "cannot get the session's process tracker", -(int)ec);
	if (lttng_process_attr_tracker_handle_set_tracking_policy(
		    s->tracker, LTTNG_TRACKING_POLICY_INCLUDE_SET) != LTTNG_PROCESS_ATTR_TRACKER_HANDLE_STATUS_OK) {
		fprintf(stderr, "%scannot restrict the session to the given processes\n", pfx);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (session_track(pfx, s, pids[i]))
			return -1;
	return 0;
}

int session_setup(const char *pfx, struct gs_session *s, const struct gs_session_opts *o)
{
	struct lttng_domain dom;
	struct lttng_channel *chan = NULL;
	struct lttng_event *ev = NULL;
	int rc, err = -1;
	int snapshot = o->outdir == NULL;
	static const enum lttng_event_context_type ctxs[] = {
		LTTNG_EVENT_CONTEXT_VPID, LTTNG_EVENT_CONTEXT_VTID, LTTNG_EVENT_CONTEXT_PROCNAME,
	};

	snprintf(s->outdir, sizeof(s->outdir), "%s", snapshot ? "" : o->outdir);
	s->subbuf = o->ring / NUM_SUBBUF;
	rc = snapshot ? lttng_create_session_snapshot(s->name, NULL)
		      : lttng_create_session(s->name, o->outdir);
	if (rc < 0) {
		if (rc == -LTTNG_ERR_EXIST_SESS)
			fprintf(stderr, "%sa session named %s already runs: `gilscope flight stop %s` "
				"ends a flight recorder\n", pfx, s->name, s->name);
		else
			lttng_fail(pfx, "cannot create the LTTng session", rc);
		goto end;
	}
	s->created = 1;
	memset(&dom, 0, sizeof(dom));
	dom.type = LTTNG_DOMAIN_UST;
	dom.buf_type = LTTNG_BUFFER_PER_UID;
	if (!(s->handle = lttng_create_handle(s->name, &dom))) {
		fprintf(stderr, "%scannot create an LTTng handle\n", pfx);
		goto end;
	}
	if (!(chan = lttng_channel_create(&dom))) {
		fprintf(stderr, "%scannot create an LTTng channel\n", pfx);
		goto end;
	}
	snprintf(chan->name, sizeof(chan->name), "%s", SESSION_CHANNEL);
	/* A flight recorder overwrites its oldest events; a recording
	 * discards and counts, never overwrites silently. */
	chan->attr.overwrite = snapshot;
	chan->attr.num_subbuf = NUM_SUBBUF;
	chan->attr.subbuf_size = o->ring / NUM_SUBBUF;
	if (snapshot)
		chan->attr.output = LTTNG_EVENT_MMAP;
	else
		/* A writer killed inside an event leaves its sub-buffer
		 * uncommitted and stops the consumer there for good (LTTng
		 * 2.13, per-user buffers): with the sub-buffers closed every
		 * SESSION_SWITCH_US even when not full, what came before is
		 * already out, and the stream ends at most that long before
		 * the kill instead of losing everything since its start. */
		chan->attr.switch_timer_interval = SESSION_SWITCH_US;
	if ((rc = lttng_enable_channel(s->handle, chan)) < 0) {
		lttng_fail(pfx, "cannot enable the LTTng channel", rc);
		goto end;
	}
	for (size_t i = 0; i < sizeof(ctxs) / sizeof(ctxs[0]); i++) {
		struct lttng_event_context ctx;
		memset(&ctx, 0, sizeof(ctx));
		ctx.ctx = ctxs[i];
		if ((rc = lttng_add_context(s->handle, &ctx, NULL, SESSION_CHANNEL)) < 0) {
			lttng_fail(pfx, "cannot add a context to the LTTng channel", rc);
			goto end;
		}
	}
	if (o->pids && tracker_setup(pfx, s, o->pids, o->npids))
		goto end;
	if (!(ev = lttng_event_create())) {
		fprintf(stderr, "%scannot create an LTTng event rule\n", pfx);
		goto end;
	}
	snprintf(ev->name, sizeof(ev->name), "gilscope:*");
	ev->type = LTTNG_EVENT_TRACEPOINT;
	ev->loglevel_type = LTTNG_EVENT_LOGLEVEL_ALL;
	if ((rc = lttng_enable_event_with_exclusions(s->handle, ev, SESSION_CHANNEL, NULL, 0, NULL)) < 0) {
		lttng_fail(pfx, "cannot enable the gilscope events", rc);
		goto end;
	}
	snprintf(ev->name, sizeof(ev->name), "%s", SESSION_RESYNC_EVENT);
	if (o->resync &&
	    (rc = lttng_enable_event_with_exclusions(s->handle, ev, SESSION_CHANNEL, NULL, 0, NULL)) < 0) {
		lttng_fail(pfx, "cannot enable " SESSION_RESYNC_EVENT, rc);
		goto end;
	}
	if ((rc = lttng_start_tracing(s->name)) < 0) {
		lttng_fail(pfx, "cannot start tracing", rc);
		goto end;
	}
	s->started = 1;
	err = 0;
end:
	if (ev)
		lttng_event_destroy(ev);
	if (chan)
		lttng_channel_destroy(chan);
	return err;
}

int session_flush_switch(const char *pfx, struct lttng_handle *h, int on)
{
	struct lttng_event *ev = lttng_event_create();
	struct sigaction ign, old;
	int rc;

	if (!ev) {
		fprintf(stderr, "%scannot create an LTTng event rule\n", pfx);
		return -1;
	}
	snprintf(ev->name, sizeof(ev->name), "%s", SESSION_FLUSH_EVENT);
	ev->type = LTTNG_EVENT_TRACEPOINT;
	ev->loglevel_type = LTTNG_EVENT_LOGLEVEL_ALL;
	/* A daemon whose consumer died closes the connection: an error, not
	 * the recorder's end by SIGPIPE (liblttng-ctl 2.13 writes with
	 * send() without MSG_NOSIGNAL); the stop that follows says more. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);
	rc = on ? lttng_enable_event_with_exclusions(h, ev, SESSION_CHANNEL, NULL, 0, NULL)
		: lttng_disable_event(h, SESSION_FLUSH_EVENT, SESSION_CHANNEL);
	sigaction(SIGPIPE, &old, NULL);
	lttng_event_destroy(ev);
	if (rc < 0) {
		fprintf(stderr, "%scannot turn %s %s (a process idle at the stop may lose the "
			"last hold it held back): %s\n", pfx, SESSION_FLUSH_EVENT, on ? "on" : "off",
			lttng_strerror(rc));
		return -1;
	}
	return 0;
}

int session_flush_on(const char *pfx, struct lttng_handle *h)
{
	struct timespec ts = { 0, SESSION_FLUSH_WAIT_MS * 1000000L };

	if (session_flush_switch(pfx, h, 1))
		return -1;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	return 0;
}

int session_flush_off(const char *pfx, struct lttng_handle *h)
{
	return session_flush_switch(pfx, h, 0);
}

void session_release(struct gs_session *s)
{
	if (s->tracker)
		lttng_process_attr_tracker_handle_destroy(s->tracker);
	if (s->handle)
		lttng_destroy_handle(s->handle);
	s->tracker = NULL;
	s->handle = NULL;
}

/* 1 when the trace's disk cannot take one more packet: space receives
 * how much is free, and where. */
static int disk_full(const struct gs_session *s, char *space, size_t len)
{
	return s->outdir[0] && fsinfo_free(s->outdir, space, len) < s->subbuf;
}

/* lttng_stop_tracing(), but polling for the data at 1 to 64 ms instead of
 * liblttng-ctl's 200: once the consumer has written everything (0), the
 * trace is complete. */
static int stop_and_drain(const char *name)
{
	int rc = lttng_stop_tracing_no_wait(name);
	for (useconds_t wait = 1000; rc >= 0; wait = wait < 64000 ? wait * 2 : wait) {
		if ((rc = lttng_data_pending(name)) <= 0)
			break;
		usleep(wait);
	}
	return rc;
}

/* The first packetless stream tails_empty() finds, by its path inside dir. */
struct empty_first {
	const char *dir;
	char name[1024];
};

static int empty_note(void *ctx, const char *stream)
{
	struct empty_first *f = ctx;
	size_t n = strlen(f->dir);

	if (!f->name[0])
		snprintf(f->name, sizeof(f->name), "%s",
			 strncmp(stream, f->dir, n) || stream[n] != '/' ? stream : stream + n + 1);
	return 0;
}

/* A stream that ends before the others lost its last packets, and LTTng
 * counted none of them (a writer's event left uncommitted in the shared
 * per-user ring, e.g. by a process killed while writing, stops the
 * consumer at that sub-buffer): never "no events lost" then. A stream
 * with no packet at all (not even the stop's empty one) stopped so before
 * its first sub-buffer was written. Returns how many streams stopped. */
static int tails_say(const char *pfx, const char *dir, uint64_t stop_clock, uint64_t *lost)
{
	char first[1024], pat[4096];
	struct empty_first ef = { dir, "" };
	int64_t early;
	int n = tails_find(dir, stop_clock, first, sizeof(first), &early), none;

	if (n < 0) {
		fprintf(stderr, "%scannot check that every stream reached the end: %s\n", pfx, first);
		n = 0;
	} else if (n) {
		fprintf(stderr, "%s%d stream%s of the trace ended early (%s %.3f s before the "
			"recording's end): LTTng wrote none of %s last packets and counted nothing; "
			"events were lost, how many is unknown\n", pfx, n, n > 1 ? "s" : "", first,
			(double)early / 1e9, n > 1 ? "their" : "its");
		*lost = RECORD_LOST_UNKNOWN;
	}
	snprintf(pat, sizeof(pat), "%s/ust/uid/*/*-bit", dir);
	none = tails_empty(pat, empty_note, &ef, first, sizeof(first));
	if (none < 0) {
		fprintf(stderr, "%scannot check that every stream has a packet: %s\n", pfx, first);
	} else if (none) {
		fprintf(stderr, "%s%d stream%s of the trace %s no packet at all (%s): LTTng wrote "
			"nothing of %s, not even the empty packet the stop writes for an idle CPU "
			"(a process killed inside an event before that CPU's first sub-buffer was "
			"written, or LTTng's consumer daemon stopped) and counted nothing; events "
			"may have been lost, how many is unknown\n", pfx, none, none > 1 ? "s" : "",
			none > 1 ? "have" : "has", ef.name, none > 1 ? "them" : "it");
		*lost = RECORD_LOST_UNKNOWN;
		n += none;
	}
	return n;
}

int session_teardown(const char *pfx, struct gs_session *s, uint64_t *lost)
{
	int rc = 0, err = 0, outdir = s->outdir[0] != '\0', drained = 0;
	char space[400];
	*lost = 0;
	/* Before the stop: what the processes held back goes out (a failure
	 * has said so; the stop goes on). */
	if (s->started && s->handle)
		session_flush_on(pfx, s->handle);
	s->stop_clock = s->started ? (uint64_t)mono_ns() : 0;
	if (s->started && (rc = stop_and_drain(s->name)) < 0 && !disk_full(s, space, sizeof(space)))
		err = lttng_fail(pfx, "cannot stop tracing", rc);
	else if (s->started && rc < 0)
		err = -1;
	else
		drained = s->started;
	if (s->handle) {
		struct lttng_channel *chans = NULL;
		int n = lttng_list_channels(s->handle, &chans);
		for (int i = 0; i < n; i++) {
			uint64_t d = 0;
			if (lttng_channel_get_discarded_event_count(&chans[i], &d) || !d)
				continue;
			/* lttng-consumerd reads a per-packet counter that went
			 * backwards (LTTng-UST before 2.15 may write an older
			 * value in a packet than in the one before) as a wrap
			 * at 2^63: the count is then 2^63 and more, no real
			 * count. A loss all the same, of unknown size. */
			if (d >= SESSION_LOST_IMPOSSIBLE) {
				fprintf(stderr, "%sLTTng reported an impossible count of lost events "
					"(%llu in channel %s: its per-packet counter went "
					"backwards, an LTTng-UST bug fixed in 2.15): events were "
					"lost, how many is unknown; `gilscope analyze` counts "
					"them from the trace\n", pfx, (unsigned long long)d,
					chans[i].name);
				*lost = RECORD_LOST_UNKNOWN;
			} else if (*lost != RECORD_LOST_UNKNOWN) {
				*lost += d;
			}
		}
		free(chans);
	}
	session_release(s);
	/* Drained, the trace is complete: the waiting destroy would only add
	 * the daemon's last, quiet rotation of it, which it checks on a 500 ms
	 * timer (lttng-tools 2.13): half a second of every recording. */
	if (s->created && (rc = drained ? lttng_destroy_session_no_wait(s->name)
					: lttng_destroy_session(s->name)) < 0) {
		if (!disk_full(s, space, sizeof(space)))
			lttng_fail(pfx, "cannot destroy the LTTng session", rc);
		err = -1;
	}
	if (outdir && drained && !err)
		s->tails = tails_say(pfx, s->outdir, s->stop_clock, lost);
	if (outdir && s->created && disk_full(s, space, sizeof(space))) {
		fprintf(stderr, "%sthe disk is full (%s): the trace in %s is likely cut short; "
			"free some space or record elsewhere (-o)\n", pfx, space, s->outdir);
		err = -1;
	}
	s->created = s->started = 0;
	return err;
}
