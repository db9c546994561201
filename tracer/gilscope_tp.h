/* LTTng-UST tracepoint provider "gilscope": the event contract shared by
 * the tracer, the analyzer, the report and the tests. docs/events.md says
 * what each event means and when it fires. Every GIL event carries the
 * GIL's address: a process can have several GILs (PEP 684). */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER gilscope

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./gilscope_tp.h"

#if !defined(GILSCOPE_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define GILSCOPE_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

/* Rule that identified a GIL: the layout rule (3.7+) or the behavioural
 * rule (3.6). Values are part of the contract. */
#define GILSCOPE_RULE_LAYOUT 1
#define GILSCOPE_RULE_BEHAVIOUR 2

/* Every GIL state change carries, besides the GIL's address:
 * - seq: its place in the GIL's own order, counted per GIL from 0 (at its
 *   gil_found) over the events that were enabled, taken where CPython
 *   makes the change (mostly under the GIL's mutex);
 * - ts: the trace clock's value at that moment (LTTng's own clock,
 *   CLOCK_MONOTONIC unless a clock plugin is set).
 * The event itself is written later, once the mutex is let go, so its
 * record time is not its time and records of different threads may come
 * out of order: readers order each GIL's events by seq and use ts.
 *
 * The frequent events carry their integers packed in arrays: `state`
 * (64-bit: gil, then seq and ts, then what the event adds) and, on
 * acquire/take/release, `site` (32-bit signed: code, offset, stack).
 * LTTng-UST writes each field with a call of its own (about 15 ns each
 * here), an array with one: a take went from 9 writes to 2. The element
 * order is the contract (docs/events.md); readers name the elements as the
 * fields of earlier versions were named. */
#define GILSCOPE_SITE_LEN 3
LTTNG_UST_TRACEPOINT_EVENT_CLASS(gilscope, gil_seq,
	LTTNG_UST_TP_ARGS(const uint64_t *, state),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_array(uint64_t, state, state, 3) /* gil, seq, ts */
	)
)
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(gilscope, gil_seq, gilscope, request,
	LTTNG_UST_TP_ARGS(const uint64_t *, state))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(gilscope, gil_seq, gilscope,
	forced_switch_begin, LTTNG_UST_TP_ARGS(const uint64_t *, state))
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(gilscope, gil_seq, gilscope,
	forced_switch_end, LTTNG_UST_TP_ARGS(const uint64_t *, state))

/* acquire and release carry where the thread is in its Python code
 * (tracer/attrib.h): `code` names a code object described by a `code`
 * event of the same process (0: no Python frame, or attribution off),
 * `offset` the byte offset of the instruction it executes (-1: unknown),
 * `stack` a stack described by a `stack` event (0: none).
 * acquire's switch_number is CPython's own count of hand-offs (struct
 * _gil_runtime_state), read after this acquire updated it; 0 where it
 * cannot be read (3.6). */
LTTNG_UST_TRACEPOINT_EVENT(gilscope, acquire,
	LTTNG_UST_TP_ARGS(const uint64_t *, state, const int32_t *, site),
	LTTNG_UST_TP_FIELDS(
		/* gil, seq, ts, switch_number */
		lttng_ust_field_array(uint64_t, state, state, 4)
		lttng_ust_field_array(int32_t, site, site, GILSCOPE_SITE_LEN)
	)
)

/* take: a request and the acquire that answered it without the thread
 * ever sleeping on the GIL's condition variable (it found the GIL free, or
 * only queued on the mutex), in one record: the usual case of a thread
 * coming back from I/O, written once instead of twice. Readers split it
 * into the request (req_seq, req_ts) and the acquire (the rest, as in
 * acquire). A request that has to wait is written on its own first. */
LTTNG_UST_TRACEPOINT_EVENT(gilscope, take,
	LTTNG_UST_TP_ARGS(const uint64_t *, state, const int32_t *, site),
	LTTNG_UST_TP_FIELDS(
		/* gil, req_seq, req_ts, seq, ts, switch_number */
		lttng_ust_field_array(uint64_t, state, state, 6)
		lttng_ust_field_array(int32_t, site, site, GILSCOPE_SITE_LEN)
	)
)

LTTNG_UST_TRACEPOINT_EVENT(gilscope, release,
	LTTNG_UST_TP_ARGS(const uint64_t *, state, const int32_t *, site),
	LTTNG_UST_TP_FIELDS(
		/* gil, seq, ts, forced */
		lttng_ust_field_array(uint64_t, state, state, 4)
		lttng_ust_field_array(int32_t, site, site, GILSCOPE_SITE_LEN)
	)
)

/* A code object, once per process and id: `lt_format` says how to read
 * `linetable` (1: co_lnotab of 3.7-3.9, 2: co_linetable of 3.10, 3: the
 * location table of 3.11+), starting from `firstlineno`. `name` is the
 * qualified name on 3.11+, the plain name before. */
/* Whole holds in one record: each its acquire (and the request before
 * it, when that request never waited) and its release, written at the
 * release as one record where they would be two or three (each record
 * costs LTTng-UST about as much as its whole floor, whatever its size).
 * `n` holds of one thread (1 or 2: a thread that churns holds one back
 * and writes it with its next, tracer/preload.c "held-back holds"), the
 * older first: `state` GILSCOPE_HOLD_STATE values each: gil, req_seq,
 * req_ts (GILSCOPE_NO_REQ, 0: the request was written on its own, before
 * a wait), seq, ts, switch_number, then the release's seq, ts, forced.
 * `site` GILSCOPE_HOLD_SITE each: the acquire's code, offset, stack, then
 * the release's. (Before held-back holds: one hold, static arrays.) */
#define GILSCOPE_NO_REQ UINT64_MAX
#define GILSCOPE_HOLD_STATE 9
#define GILSCOPE_HOLD_SITE (2 * GILSCOPE_SITE_LEN)
/* Holds a thread holds back at most (tracer/preload.c, "held-back
 * holds"): a record carries up to one more. The analyzer reads records
 * of up to 5 holds (analyzer/trace_reader.c's HOLD_MAX, and
 * tests/lib/gstest.py's): raise it with this. */
#ifndef GILSCOPE_HB_N
#define GILSCOPE_HB_N 4
#endif
#define GILSCOPE_HOLD_MAX (GILSCOPE_HB_N + 1)
LTTNG_UST_TRACEPOINT_EVENT(gilscope, hold,
	LTTNG_UST_TP_ARGS(const uint64_t *, state, const int32_t *, site, unsigned int, n),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_sequence(uint64_t, state, state, uint8_t, GILSCOPE_HOLD_STATE * n)
		lttng_ust_field_sequence(int32_t, site, site, uint8_t, GILSCOPE_HOLD_SITE * n)
	)
)

LTTNG_UST_TRACEPOINT_EVENT(gilscope, code,
	LTTNG_UST_TP_ARGS(uint32_t, id, int32_t, firstlineno, int, lt_format,
			  const char *, filename, const char *, name,
			  const char *, linetable_hex),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, id, id)
		lttng_ust_field_integer(int32_t, firstlineno, firstlineno)
		lttng_ust_field_integer(uint8_t, lt_format, lt_format)
		lttng_ust_field_string(filename, filename)
		lttng_ust_field_string(name, name)
		/* The line table as hex text, two digits a byte: a reader holds a
		 * byte sequence as one object per byte (babeltrace2: 20 MiB for
		 * a 13 KB table), a string as one. Earlier versions: the bytes,
		 * as the sequence `linetable`. */
		lttng_ust_field_string(linetable_hex, linetable_hex)
	)
)

/* A Python stack, once per process and id: code ids and instruction
 * offsets, innermost frame first, at most 64 frames. */
LTTNG_UST_TRACEPOINT_EVENT(gilscope, stack,
	LTTNG_UST_TP_ARGS(uint32_t, id, const uint32_t *, codes, const int32_t *, offsets,
			  uint32_t, depth),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, id, id)
		lttng_ust_field_sequence(uint32_t, codes, codes, uint32_t, depth)
		lttng_ust_field_sequence(int32_t, offsets, offsets, uint32_t, depth)
	)
)

LTTNG_UST_TRACEPOINT_EVENT(gilscope, drop_request,
	LTTNG_UST_TP_ARGS(uint64_t, gil, uint64_t, seq, uint64_t, ts, int32_t, holder,
			  uint32_t, interval_us),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer_hex(uint64_t, gil, gil)
		lttng_ust_field_integer(uint64_t, seq, seq)
		lttng_ust_field_integer(uint64_t, ts, ts)
		lttng_ust_field_integer(int32_t, holder, holder)
		lttng_ust_field_integer(uint32_t, interval_us, interval_us)
	)
)

/* The rarely written events, in one event type: LTTng-UST registers
 * each enabled type with the session daemon, one round trip each, before
 * a traced process's first event can be recorded (bench/README.md,
 * "Session 18"); earlier versions wrote each kind as an event type of its
 * own, of the kind's name, with the same values as named fields (readers
 * take both). `kind` says which (GILSCOPE_RARE_*, the contract), `v` its
 * integers in the order docs/events.md gives, `text` its string ("" for
 * the kinds without one) and `tag` the recording's tag (GILSCOPE_TAG in
 * the environment, also in the trace's gilscope.info; 0 for the kinds
 * without one): UST sessions see every process of the user, so a reader
 * keeps only the processes whose first gil_found or thread_name carries
 * its recording's tag.
 *
 * - gil_found (gil, interval_us, rule; text: the Python version): a GIL
 *   found, its seq 0. gil_known: the same for a GIL found earlier, written
 *   by a resync; it never starts a new one.
 * - gil_retired (gil): the GIL is gone (its interpreter ended); written at
 *   once, in order with gil_found: no seq.
 * - wait_timeout, request_abandoned (gil, seq, ts): as request.
 * - take_for (gil, req_seq, req_ts, seq, ts, switch_number, code, offset,
 *   stack, tid), acquire_for (gil, seq, ts, switch_number, code, offset,
 *   stack, tid): a take or an acquire written by another thread of the
 *   same process, `tid` being the thread that took the GIL. A holder
 *   writes its take or acquire with its release, out of the hold
 *   (tracer/preload.c, late_*); when the hold lasts, a thread that waits
 *   for the GIL and times out writes it instead, and so does a process
 *   that ends.
 * - process_exit (status): the process ends: exit() (after Python's
 *   finalization; status -1, not known there) or _exit(status) (os._exit,
 *   multiprocessing children). Whatever a thread still held or waited for
 *   ends here.
 * - thread_name (tid; text: the name).
 * - resync (ngils): resynchronisation, for sessions that start while the
 *   process runs (`gilscope record --pid`, flight-recorder snapshots):
 *   when the switch gilscope_ctl:resync (gilscope_ctl_tp.h) goes from
 *   disabled to enabled for this process, and every second while it stays
 *   on, the next GIL event first writes `resync` (the marker), then
 *   `gil_known` for each GIL alive and `thread_name` for each named thread
 *   still alive, so that the trace can be read alone.
 * - hold_for (a hold's 9 state values, its 6 site values, tid): a hold
 *   held back by thread `tid` (tracer/preload.c, "held-back holds") and
 *   written by another thread of the same process, more than
 *   HB_RESCUE_NS after its release, or at a stop, snapshot, fork or
 *   exit. */
#define GILSCOPE_RARE_GIL_FOUND 1
#define GILSCOPE_RARE_GIL_KNOWN 2
#define GILSCOPE_RARE_GIL_RETIRED 3
#define GILSCOPE_RARE_WAIT_TIMEOUT 4
#define GILSCOPE_RARE_REQUEST_ABANDONED 5
#define GILSCOPE_RARE_TAKE_FOR 6
#define GILSCOPE_RARE_ACQUIRE_FOR 7
#define GILSCOPE_RARE_PROCESS_EXIT 8
#define GILSCOPE_RARE_THREAD_NAME 9
#define GILSCOPE_RARE_RESYNC 10
#define GILSCOPE_RARE_HOLD_FOR 11
#define GILSCOPE_RARE_MAX_V 16
LTTNG_UST_TRACEPOINT_EVENT(gilscope, rare,
	LTTNG_UST_TP_ARGS(int, kind, const int64_t *, v, unsigned int, nv, const char *, text,
			  uint32_t, tag),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint8_t, kind, kind)
		lttng_ust_field_integer(uint32_t, tag, tag)
		lttng_ust_field_sequence(int64_t, v, v, uint8_t, nv)
		lttng_ust_field_string(text, text)
	)
)

#endif /* GILSCOPE_TP_H */

#include <lttng/tracepoint-event.h>
