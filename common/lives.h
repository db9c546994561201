/* Which traced processes have a GIL of their own in a recorded trace
 * (as the analyzer counts them), found cheaply: the packets of all the
 * stream files are walked in the order of their times, event by event,
 * reading only each event's header, its pid (the vpid context) and, in
 * the events that say whose process it is (gil_found, gil_known,
 * thread_name), the recording's tag; payloads are skipped by the sizes the trace's own
 * metadata gives, packets that end before every process still looked for
 * began are skipped whole, and the walk stops once every process was
 * found. No babeltrace2: it decodes every field of every event, 8 to 25
 * times slower here (docs/tracer.md, "Which traced processes left
 * nothing"). */
#ifndef GILSCOPE_LIVES_H
#define GILSCOPE_LIVES_H

#include <stddef.h>
#include <stdint.h>

/* One life of a traced process: its pid and the CLOCK_MONOTONIC time at
 * which it said it was traced (before any event of its own; 0 unknown).
 * A pid that comes back (pids wrap, a fork child) is another life with a
 * later time: an event belongs to the latest life of its pid begun
 * before it. */
struct life {
	int32_t pid;
	int64_t mark_ns;
	int found;  /* an event of it carries the tag, and one is of its GIL */
	int seen;   /* what its events said so far (lives.c) */
	int wait;   /* enum life_wait: what it said of its registration wait */
};

/* What a traced process said of its wait for its registration with the
 * session daemon (preload_mark.h; `record` reads it, record.c): */
enum life_wait {
	LIFE_WAIT_UNKNOWN,  /* an older tracer's mark, or no mark (record --pid) */
	LIFE_WAITING,       /* a mark and no "wait over" line: it ended during the wait */
	LIFE_REGISTERED,    /* the wait ended with liblttng-ust's word */
	LIFE_UNREGISTERED,  /* LTTNG_UST_REGISTER_TIMEOUT ran out, or is 0 */
};

/* tag for a recording of processes that carry none of their own (`record
 * --pid`, a flight recorder's snapshot): any event of a GIL finds them. */
#define LIVES_ANY_TAG (-1)

/* Sets found on every life in v that has, in the LTTng trace(s) of the
 * recording in dir, an event carrying tag (gil_found, gil_known,
 * thread_name) and an event of a GIL (gil_found, gil_known, request,
 * acquire, ...): the processes the analyzer would count as kept with a
 * GIL (DIR/ust/uid/UID/BITS-bit, or DIR/SNAPSHOT/ust/... for a snapshot;
 * the trace's clock must be LTTng's monotonic one for the times to
 * count). tag LIVES_ANY_TAG: an event of a GIL alone finds a life.
 * Returns 0, or -1 when the trace cannot be walked (a metadata construct
 * this reader does not know, a malformed packet: why in err): then no
 * life is said missing. */
int lives_find(const char *dir, int64_t tag, struct life *v, size_t n, char *err, size_t len);

#endif
