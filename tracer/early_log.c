/* The early log (early_log.h).
 *
 * liblttng-ust registers a process with the session daemon from its
 * listener thread: some 40 round trips, 3 to 4 ms on an idle machine and
 * tens under load, and no event is recorded before they are done. A
 * traced CPython takes its GIL about 1 ms after the preload's constructor:
 * its first events used to wait for the whole registration. Now they are
 * complete records kept here, in the order they would have been written,
 * and written through the same tracepoints once the registration is done
 * (preload.c, early_hold). GIL events carry their own place in the GIL's
 * order and their own time, so a late write changes nothing a reader
 * sees but the record time.
 *
 * One thread writes records here (the one that ran the constructor:
 * another application thread is started only once the log is written,
 * see pthread_create in preload_process.c), and a signal handler of it.
 * So a record is reserved with an atomic add and made visible by storing
 * its size last: a writer that a handler interrupted leaves a record the
 * drain stops at, never a half-read one. */
#include "early_log.h"

#include <string.h>

#define LTTNG_UST_TRACEPOINT_HIDDEN_DEFINITION /* as in preload.c */
#include "gilscope_tp.h"
#include "preload_process.h"

/* A python -c pass writes about 1,000 records at start-up (a hold for
 * every system call of its imports, about 110 bytes each, and its code
 * and stack descriptions): 512 KiB hold a start-up several times that,
 * touched page by page only as they fill. */
#define EARLY_CAP (512u << 10)
#define EARLY_PREPARED (16u << 10)

struct early_rec {
	_Atomic uint32_t size;           /* the whole record, 8-aligned; 0: not (yet) there */
	uint8_t kind;                    /* enum early_kind */
	uint8_t nu, nsite;
	uint8_t pad;
	uint16_t n;
	uint16_t pad2;
	int32_t i32;
	int32_t site[2 * GILSCOPE_SITE_LEN];
	uint64_t u[9];
	/* then the tail */
};

atomic_int early_log_holding;

static _Alignas(4096) unsigned char g_arena[EARLY_CAP];
static _Atomic uint32_t g_used;          /* reserved so far */
static _Atomic uint32_t g_drained;       /* claimed by a writer so far */

int early_log_put(enum early_kind kind, const uint64_t *u, int nu, const int32_t *site, int nsite,
		  int32_t i32, uint16_t n, const void *const *parts, const size_t *lens, int nparts)
{
	size_t tail = 0;
	for (int i = 0; i < nparts; i++)
		tail += lens[i];
	size_t size = (sizeof(struct early_rec) + tail + 7) & ~(size_t)7;
	if (size > EARLY_CAP || nu > 9 || nsite > 2 * GILSCOPE_SITE_LEN)
		return 0;
	uint32_t at = atomic_fetch_add_explicit(&g_used, (uint32_t)size, memory_order_relaxed);
	if (at > EARLY_CAP - size)
		return 0; /* full, and so stays g_used: every later put fails too */
	struct early_rec *r = (struct early_rec *)(void *)(g_arena + at);
	r->kind = (uint8_t)kind;
	r->nu = (uint8_t)nu;
	r->nsite = (uint8_t)nsite;
	r->n = n;
	r->i32 = i32;
	if (nu)
		memcpy(r->u, u, (size_t)nu * sizeof(u[0]));
	if (nsite)
		memcpy(r->site, site, (size_t)nsite * sizeof(site[0]));
	unsigned char *t = (unsigned char *)(r + 1);
	for (int i = 0; i < nparts; i++) {
		memcpy(t, parts[i], lens[i]);
		t += lens[i];
	}
	atomic_store_explicit(&r->size, (uint32_t)size, memory_order_release);
	return 1;
}

/* Each of the rare enabled-or-not choices that pending_write makes for a
 * live event, made now that the session's events are known: a `hold` or
 * `take` whose event is off goes out as its parts (as it would have). */
static void write_hold(const struct early_rec *r)
{
	const uint64_t *s = r->u; /* gil, req_seq, req_ts, seq, ts, switch, rel_seq, rel_ts, forced */
	if (lttng_ust_tracepoint_enabled(gilscope, hold)) {
		lttng_ust_do_tracepoint(gilscope, hold, s, r->site);
		return;
	}
	if (s[1] != GILSCOPE_NO_REQ && lttng_ust_tracepoint_enabled(gilscope, take)) {
		lttng_ust_do_tracepoint(gilscope, take, s, r->site);
	} else {
		if (s[1] != GILSCOPE_NO_REQ) {
			const uint64_t req[3] = { s[0], s[1], s[2] };
			lttng_ust_tracepoint(gilscope, request, req);
		}
		const uint64_t acq[4] = { s[0], s[3], s[4], s[5] };
		lttng_ust_tracepoint(gilscope, acquire, acq, r->site);
	}
	const uint64_t rel[4] = { s[0], s[6], s[7], s[8] };
	lttng_ust_tracepoint(gilscope, release, rel, r->site + GILSCOPE_SITE_LEN);
}

static void write_take(const struct early_rec *r)
{
	const uint64_t *s = r->u; /* gil, req_seq, req_ts, seq, ts, switch */
	if (lttng_ust_tracepoint_enabled(gilscope, take)) {
		lttng_ust_do_tracepoint(gilscope, take, s, r->site);
		return;
	}
	const uint64_t req[3] = { s[0], s[1], s[2] };
	const uint64_t acq[4] = { s[0], s[3], s[4], s[5] };
	lttng_ust_tracepoint(gilscope, request, req);
	lttng_ust_tracepoint(gilscope, acquire, acq, r->site);
}

static void write_rec(const struct early_rec *r)
{
	const char *tail = (const char *)(r + 1);
	switch ((enum early_kind)r->kind) {
	case EARLY_GIL_FOUND:
		lttng_ust_tracepoint(gilscope, gil_found, r->u[0], (uint32_t)r->u[1], (int)r->u[2], tail,
				     (uint32_t)r->u[3]);
		break;
	case EARLY_GIL_RETIRED:
		lttng_ust_tracepoint(gilscope, gil_retired, r->u[0]);
		break;
	case EARLY_REQUEST:
		lttng_ust_tracepoint(gilscope, request, r->u);
		break;
	case EARLY_WAIT_TIMEOUT:
		lttng_ust_tracepoint(gilscope, wait_timeout, r->u);
		break;
	case EARLY_FORCED_BEGIN:
		lttng_ust_tracepoint(gilscope, forced_switch_begin, r->u);
		break;
	case EARLY_FORCED_END:
		lttng_ust_tracepoint(gilscope, forced_switch_end, r->u);
		break;
	case EARLY_ABANDONED:
		lttng_ust_tracepoint(gilscope, request_abandoned, r->u);
		break;
	case EARLY_ACQUIRE:
		lttng_ust_tracepoint(gilscope, acquire, r->u, r->site);
		break;
	case EARLY_RELEASE:
		lttng_ust_tracepoint(gilscope, release, r->u, r->site);
		break;
	case EARLY_TAKE:
		write_take(r);
		break;
	case EARLY_HOLD:
		write_hold(r);
		break;
	case EARLY_TAKE_FOR:
		lttng_ust_tracepoint(gilscope, take_for, r->u, r->site, r->i32);
		break;
	case EARLY_ACQUIRE_FOR:
		lttng_ust_tracepoint(gilscope, acquire_for, r->u, r->site, r->i32);
		break;
	case EARLY_DROP_REQUEST:
		lttng_ust_tracepoint(gilscope, drop_request, r->u[0], r->u[1], r->u[2], (int32_t)r->u[3],
				     (uint32_t)r->u[4]);
		break;
	case EARLY_CODE: {
		const char *name = tail + strlen(tail) + 1;
		const char *lt_hex = name + strlen(name) + 1;
		lttng_ust_tracepoint(gilscope, code, (uint32_t)r->u[0], (int32_t)r->u[1], (int)r->u[2],
				     tail, name, lt_hex);
		break;
	}
	case EARLY_STACK: {
		const uint32_t *codes = (const uint32_t *)(const void *)tail;
		const int32_t *offsets = (const int32_t *)(const void *)(tail + r->n * sizeof(uint32_t));
		lttng_ust_tracepoint(gilscope, stack, (uint32_t)r->u[0], codes, offsets, (uint32_t)r->n);
		break;
	}
	case EARLY_THREAD_NAME:
		lttng_ust_tracepoint(gilscope, thread_name, r->i32, tail, (uint32_t)r->u[0]);
		break;
	}
}

void early_log_drain(void)
{
	for (;;) {
		uint32_t at = atomic_load_explicit(&g_drained, memory_order_acquire);
		if (at > EARLY_CAP - sizeof(struct early_rec))
			return;
		const struct early_rec *r = (const struct early_rec *)(const void *)(g_arena + at);
		uint32_t size = atomic_load_explicit(&r->size, memory_order_acquire);
		if (!size || at >= atomic_load_explicit(&g_used, memory_order_relaxed))
			return; /* the end, or a record its writer never finished */
		/* Claimed before it is written: a writer that a signal handler
		 * interrupts here finds the handler's writes past it. */
		if (atomic_compare_exchange_strong(&g_drained, &at, at + size))
			write_rec(r);
	}
}

void early_log_close(void)
{
	atomic_store(&early_log_holding, 0);
	atomic_store(&g_used, EARLY_CAP + 1);
	atomic_store(&g_drained, EARLY_CAP + 1);
}

void early_log_prepare(void)
{
	process_pages_populate(g_arena, EARLY_PREPARED);
}
