/* The early log: a traced process's first events, kept in memory while
 * liblttng-ust's registration with the session daemon is under way, and
 * written through the normal tracepoints, in order, once it is done
 * (early_log.c; docs/tracer.md, "Start-up"). Internal to the preload
 * library. */
#ifndef GILSCOPE_EARLY_LOG_H
#define GILSCOPE_EARLY_LOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* What a record stands for: the tracepoint it is written through. */
enum early_kind {
	EARLY_GIL_FOUND = 1,
	EARLY_GIL_RETIRED,
	EARLY_REQUEST,
	EARLY_WAIT_TIMEOUT,
	EARLY_FORCED_BEGIN,
	EARLY_FORCED_END,
	EARLY_ABANDONED,
	EARLY_ACQUIRE,
	EARLY_RELEASE,
	EARLY_TAKE,
	EARLY_HOLD,
	EARLY_TAKE_FOR,
	EARLY_ACQUIRE_FOR,
	EARLY_DROP_REQUEST,
	EARLY_CODE,
	EARLY_STACK,
	EARLY_THREAD_NAME,
};

/* Non-zero while records are kept: from the preload's constructor (when
 * liblttng-ust's registration is pending) until the log is written. Read
 * on the GIL's paths: one relaxed load, and 0 for good once written. */
extern atomic_int early_log_holding;

static inline int early_on(void)
{
	return atomic_load_explicit(&early_log_holding, memory_order_relaxed);
}

/* preload.c. Called while early_on(): 1 when the caller's record goes in
 * the log (the registration is still under way and the caller may hold
 * it), 0 when it is written now (the log was written first: early_settle). */
int early_hold(void);
/* preload.c: waits for the registration as the first event used to (with
 * liblttng-ust's own deadline), writes the log, and ends the holding. */
void early_settle(void);

/* Appends a record: u (at most 9), site (at most 6), one int, a count
 * and a tail of up to three byte strings copied after them. 0 when the
 * log is full (nothing is appended: the caller settles and writes). */
int early_log_put(enum early_kind kind, const uint64_t *u, int nu, const int32_t *site, int nsite,
		  int32_t i32, uint16_t n, const void *const *parts, const size_t *lens, int nparts);

/* Writes every record not yet written, in order, through the
 * tracepoints (those that no session enables write nothing). Records may
 * be claimed by several writers at once: each is written once. */
void early_log_drain(void);

/* No record is kept from now on (a fork child: its parent's records are
 * its parent's to write). */
void early_log_close(void);

/* Faults in the log's first pages at once, before LTTng's threads run. */
void early_log_prepare(void);

/* A record, or its write now: put is an early_log_put(...) call, write
 * the tracepoint call. */
#define EARLY_OR_WRITE(put, write)                                \
	do {                                                      \
		if (__builtin_expect(early_on(), 0) && early_hold()) { \
			if (put)                                  \
				break;                            \
			early_settle();                           \
		}                                                 \
		write;                                            \
	} while (0)

#endif
