/* Streams of a recorded trace that end before the others: LTTng wrote
 * none of their last packets and counted nothing (docs/events.md, "A
 * stream that ends early"). */
#ifndef GILSCOPE_TAILS_H
#define GILSCOPE_TAILS_H

#include <stddef.h>
#include <stdint.h>

/* How much earlier than the latest a stream may end: the stop flushes
 * every stream, and their last packets end within a few hundred
 * microseconds of each other (9 ms seen with a niced consumer on a
 * loaded machine). */
#define GS_TAIL_SLACK_NS INT64_C(20000000)

/* Reads the CTF packet indexes (DIR/ust/uid/UID/BITS-bit/index/NAME.idx) of
 * the trace in dir. Returns how many streams ended before the stop's
 * flush: with stop_clock (the trace clock's reading when the recorder
 * asked LTTng to stop; 0: unknown), those whose last packet ends before
 * it (every stream the consumer still reads gets a packet at the stop, an
 * empty one for an idle CPU; a recording's switch timer closes partial
 * ones before); without, those ending more than GS_TAIL_SLACK_NS before
 * the latest one with a packet that a sub-buffer switch closed (a full
 * one: the stop's flush would have written a shorter one after it).
 * Their earliest is named in first (its path inside dir) with how much
 * earlier than the latest stream in *early_ns; 0 when none does or there
 * is no index; -1 when an index cannot be read (why in first). */
int tails_find(const char *dir, uint64_t stop_clock, char *first, size_t len, int64_t *early_ns);

/* The stream file (a path: REC/ust/uid/UID/BITS-bit/NAME) ended before
 * the stop that REC/gilscope.info's stop_clock= line records: 1 when its
 * last packet ends before it, 0 when not, -1 when either is unknown (an
 * older recorder: no such line; no index). */
int tails_before_stop(const char *stream);

/* Calls each(ctx, STREAM) (the stream file's path) for every stream of
 * the CTF traces in the directories matching dirs (a glob pattern, or
 * one directory: those holding metadata and index/) whose packet index
 * lists no packet at all. The stop's flush writes a packet in every
 * stream, an empty one for an idle CPU: a stream without one lost all it
 * had (its first sub-buffer never committed: a writer killed inside an
 * event there; or LTTng's consumer daemon stopped). Returns how many,
 * each returning non-zero stops at once with -1; -1 when an index cannot
 * be read (why in err). each may be NULL. */
int tails_empty(const char *dirs, int (*each)(void *ctx, const char *stream), void *ctx,
		char *err, size_t len);

/* 1 when the last packet of the stream file (a path) was closed by a
 * sub-buffer switch (as large as the largest packet of the streams
 * beside it, a power of two: a sub-buffer), 0 when not (the stop's
 * flush closed it), -1 when its packet index does not say. */
int tails_switched(const char *stream);

/* 1 when the trace in dir (DIR/ust/uid/UID/BITS-bit) has packets and
 * every one of them has the same content size: the empty packets the
 * stop's flush writes, no event in any (a stream made by a process that
 * declared none, tracer/preregister.c); 0 otherwise, or when an index
 * cannot be read. */
int tails_no_event(const char *dir);

#endif
