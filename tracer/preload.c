/* The gilscope preload library: finds the GIL of an unmodified CPython from
 * the pthread calls it makes and turns each GIL state change into an LTTng
 * event. docs/tracer.md explains the rules; shared design notes hold the
 * measurements behind them.
 *
 * All GIL state changes in CPython happen while its mutex M is held, so the
 * bookkeeping below is done under M too and needs no lock of its own: the
 * per-GIL fields are only written by the thread that holds M.
 *
 * Nothing slow happens under M: there an event only takes its place in the
 * GIL's order (a per-GIL sequence number) and the trace clock's time, into
 * a small per-thread list of pending events; the LTTng records (and the
 * code attribution read from the thread's own frames) are written once the
 * thread has let go of M (see "event capture and emission").
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Tracepoints are defined here but their provider lives in
 * libgilscope-probes.so, loaded on demand (see gilscope_tp.c). */
#define LTTNG_UST_TRACEPOINT_DEFINE
#define LTTNG_UST_TRACEPOINT_PROBE_DYNAMIC_LINKAGE
/* Every user of the tracepoints is in this library: hidden, their enabled
 * flags are read without a GOT load on every GIL mutex call. */
#define LTTNG_UST_TRACEPOINT_HIDDEN_DEFINITION
#include "gilscope_tp.h"
#include "attrib.h"
#include "gilscope_ctl_tp.h"
#include "preload_mark.h"
#include "preload_process.h"

#define EXPORT __attribute__((visibility("default")))
/* TLS touched inside pthread hooks must not allocate lazily. */
#define TLS static __thread __attribute__((tls_model("initial-exec")))

/* Layout of CPython 3.7 to 3.13's struct _gil_runtime_state on x86_64
 * glibc: interval, last_holder, locked, switch_number, cond, mutex,
 * switch_cond, switch_mutex. Offsets are relative to mutex (M). */
#define GIL_S_MINUS_M ((ptrdiff_t)(sizeof(pthread_cond_t) + sizeof(pthread_mutex_t)))
#define GIL_SWITCH_COND_FROM_S ((ptrdiff_t)sizeof(pthread_cond_t))
#define GIL_INTERVAL_FROM_M ((ptrdiff_t)80)
#define GIL_LAST_HOLDER_FROM_M ((ptrdiff_t)72)
#define GIL_SWITCH_NUMBER_FROM_M ((ptrdiff_t)56)

#define MAX_GILS 64
#define MAX_HELD 8

enum mode {
	MODE_PASSTHROUGH = 0, /* before the constructor ran, or not CPython 3 */
	MODE_ACTIVE = 1,
};

/* late_v's elements: the holder's tid, its request's place and time
 * (LATE_NO_REQ: it waited, its request is written already), the
 * acquire's time, CPython's switch_number and the packed site. */
enum { LATE_TID, LATE_REQ_SEQ, LATE_REQ_TS, LATE_TS, LATE_SWITCH, LATE_SITE, LATE_NV = LATE_SITE + 3 };
#define LATE_NO_REQ UINT64_MAX

struct gil {
	_Atomic(pthread_mutex_t *) m;    /* NULL: free slot */
	pthread_mutex_t *s;
	int rule;
	/* Written under M only; holder is also read without M, by a thread
	 * asking whether it is the holder (only it can change that answer).
	 * A cache line of their own: every call on M or S reads m and s
	 * above, and the line written at each hand-off would move between
	 * the cores for those reads too. */
	_Alignas(64) _Atomic(pid_t) holder;           /* tid holding the GIL, 0 if free */
	int drop_pending;                /* a drop request awaits a release */
	/* The switch interval, as last read under M: resync reads it here,
	 * not from the GIL, whose memory may be gone (a destroyed
	 * subinterpreter's: 3.12 crashed in resync_emit reading it). */
	_Atomic uint32_t interval_us;
	unsigned long switch_no;         /* acquisitions so far */
	/* The next event's place in this GIL's order. Atomic: requests take
	 * theirs before M, forced switches under S only. */
	_Atomic uint64_t seq;
	/* The current hold's acquire, published by its holder for another
	 * thread to write if the hold lasts (late_*): state is the acquire's
	 * seq + 1 while published, 0 once written or taken back. Values are
	 * relaxed atomics: a reader that copies them while a later hold
	 * overwrites them fails its compare-and-swap on state and drops the
	 * copy. */
	_Alignas(64) _Atomic uint64_t late_state;
	_Atomic uint64_t late_v[LATE_NV];
} __attribute__((aligned(64)));          /* GILs never share a cache line */
_Static_assert(offsetof(struct gil, holder) / 64 != offsetof(struct gil, s) / 64,
	       "a GIL's hand-off state must not share the line its mutexes are read from");

static int mutex_lock_first(pthread_mutex_t *m);
static int mutex_unlock_first(pthread_mutex_t *m);
static struct gil g_gils[MAX_GILS];

/* What every mutex call reads, in one cache line that no GIL event
 * writes (it changes only when the library resolves libc, finds or
 * retires a GIL, or starts or stops looking): the real lock and unlock,
 * whether the process is traced, the first GIL's two mutexes, and whether
 * anything else needs a look (still searching, or more GILs; kept by
 * fast_refresh()). */
static struct {
	int (*mutex_lock)(pthread_mutex_t *);
	int (*mutex_unlock)(pthread_mutex_t *);
	_Atomic(const pthread_mutex_t *) m, s;
	/* The GIL m and s belong to. Never NULL: a reader that saw m or s
	 * still checks that the slot names that mutex (see hot_gil_m). */
	struct gil *_Atomic g;
	atomic_int complex;
	atomic_int mode;
	/* The tid of a thread that is ending the process (kill, raise, abort,
	 * _exit, exit), 0 if none: read here, where a thread that starts
	 * writing finds it in a line it has just read (thread_mute_check). */
	atomic_int dying;
	/* Some thread of this process has held a hold back (held-back
	 * holds): set once, never cleared. Every unlock then also looks at
	 * the gilscope_ctl:flush switch (mutex_unlock_hb). */
	atomic_int hb_any;
	/* The trace clock at which the next rescue scan is due
	 * (hb_rescue_check): read by every GIL event of a process that held
	 * a hold back, written once a scan (at most one a HB_RESCUE_NS). */
	_Atomic uint64_t hb_scan_next;
} g_hot __attribute__((aligned(64))) = {
	.mutex_lock = mutex_lock_first,
	.mutex_unlock = mutex_unlock_first,
	.g = &g_gils[0],
};

static int cond_signal_first(pthread_cond_t *c);

static struct {
	int (*mutex_init)(pthread_mutex_t *, const pthread_mutexattr_t *);
	int (*cond_wait)(pthread_cond_t *, pthread_mutex_t *);
	int (*cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
	int (*cond_signal)(pthread_cond_t *);
	pid_t (*fork)(void);
	void (*exit_now)(int);
} real = {
	/* Called twice in every GIL hand-off: no "resolved yet?" test. */
	.cond_signal = cond_signal_first,
};
static atomic_int g_resolved;

/* liblttng-ust's fork hooks, found once the provider is loaded: what
 * liblttng-ust-fork.so does, without loading liblttng-ust everywhere. */
static struct {
	void (*before)(sigset_t *);
	void (*after_parent)(sigset_t *);
	void (*after_child)(sigset_t *);
} ust_fork;

static int g_layout_rule;        /* 3.7+: identify by the struct layout */
static int g_behaviour_rule;     /* 3.6: identify by the call pattern alone */
static int g_many_gils;          /* 3.12+: subinterpreters may add GILs later */
static atomic_int g_armed;       /* still looking for a GIL */
/* Subinterpreter GILs made (mutexes initialised) and not yet found: the
 * search goes on until every one is, as two threads may make theirs at
 * once (see pthread_mutex_init and gil_register). */
static atomic_int g_gils_making;
static atomic_int g_arm_epoch;   /* bumped on every re-arm */
static atomic_int g_nslots;      /* high-water mark of used slots */
static pthread_mutex_t g_registry = PTHREAD_MUTEX_INITIALIZER;
static char g_version[96];
static int g_exit_hooked;        /* at_exit registered (inherited by fork) */
static uint32_t g_tag;           /* GILSCOPE_TAG: which recording we belong to */
static pid_t g_pid;              /* this process's (a vfork child has another) */
static int g_marked;             /* told its recorder it is traced (mark_traced) */
static atomic_int g_resync_on;   /* resync_state() last acted upon */
static atomic_uint g_resync_ticks; /* GIL events while resync is on */
static atomic_llong g_resync_last; /* CLOCK_MONOTONIC ns of the last resync */
static atomic_int g_resync_again; /* repeats still due after the switch (RESYNC_AGAIN) */
/* liblttng-ust stopped waiting for the session daemon before it was
 * registered (its LTTNG_UST_REGISTER_TIMEOUT ran out, or is 0; in the
 * constructor, a fork child, or process_lttng_ready()): the next
 * gil_found may be dropped unseen (resync_after_found). */
static atomic_int g_resync_unsure;
/* gilscope:rare's probe array when resync_check() last looked: it
 * changes when a session's events are registered in this process. */
static void *_Atomic g_resync_probes;

/* A GIL event captured, not yet written (see "event capture and emission"). */
enum pev_type {
	PEV_REQUEST,
	PEV_ACQUIRE,
	PEV_RELEASE,
	PEV_WAIT_TIMEOUT,
	PEV_DROP_REQUEST,
	PEV_FORCED_BEGIN,
	PEV_FORCED_END,
	PEV_ABANDONED,
	PEV_NONE,                        /* taken back: written by another thread */
};

struct pending_ev {
	uint8_t type;                    /* enum pev_type */
	uint8_t forced;                  /* release */
	int32_t holder;                  /* drop_request */
	uint32_t interval_us;            /* drop_request */
	uint64_t gil, seq, ts;
	uint64_t switch_number;          /* acquire: CPython's, 0 unknown */
	uint64_t tstate;                 /* acquire, release: last_holder, 0 unknown */
	uint8_t has_tstate;              /* tstate was read (layout rule) */
	uint8_t site_set;                /* acquire: site read at the take already */
	int32_t site[GILSCOPE_SITE_LEN];
};

/* A thread captures at most a few events between two flushes (a release,
 * or a request's time-outs, drop request and acquire); when more pile up
 * (a waiter timing out again and again) the oldest are written at once. */
#define PENDING_MAX 8

/* Everything a thread keeps, in one thread-local block: each function
 * finds it with one address computation (a shared object reaches each
 * initial-exec variable through a GOT slot of its own). */
struct thread_state {
	pid_t tid;
	int guard;                       /* inside our own code: pass through */
	int npend;                       /* pending records in pend */
	int acq;                         /* index of the acquire awaiting switch_number */
	int lazy;                        /* index of the request whose place and time are not taken yet */
	struct gil *lazy_g;              /* that request's GIL */
	struct gil *req;                 /* GIL this thread requested, not yet acquired */
	struct gil *in_m;                /* GIL whose mutex M this thread holds */
	struct gil *drop;                /* GIL this thread is releasing (in drop_gil) */
	struct gil *late;                /* GIL whose acquire this thread published (late_*) */
	uint64_t late_seq;               /* that acquire's seq */
	int late_n;                      /* pend[0..late_n): it and its request */
	uint64_t hb_mine;                /* token of the holds this thread holds back, 0 none */
	uint64_t hb_last_rel;            /* trace clock of its last hold's release */
	uint32_t hb_count;               /* tokens published so far (in the tokens' low half) */
	pthread_mutex_t *cand_m;         /* candidate GIL awaiting confirmation */
	pthread_mutex_t *cand_s;
	pthread_mutex_t *last_init;      /* the last mutex this thread initialised */
	int epoch;
	int nheld;
	pthread_mutex_t *held[MAX_HELD];
	struct pending_ev pend[PENDING_MAX];
};
TLS struct thread_state tl = { .acq = -1, .lazy = -1 };

/* What resync_check() acts on. RS_EVENTS: a session records the events a
 * resync emits (gilscope:rare);
 * RS_CTL: the gilscope_ctl:resync switch is on as well (record --pid, the
 * flight recorder). */
enum { RS_EVENTS = 1, RS_CTL = 2 };

/* The probes LTTng calls for gilscope:rare: a new array each time a session's
 * events are registered in (or removed from) this process. A fork child
 * keeps its parent's enabled state until its own registration is done,
 * so that only this pointer changes when it starts being recorded. */
static inline void *resync_probes(void)
{
	return (void *)CMM_LOAD_SHARED(lttng_ust_tracepoint_gilscope___rare.probes);
}

static inline int resync_state(void)
{
	if (!lttng_ust_tracepoint_enabled(gilscope, rare))
		return 0;
	return RS_EVENTS | (lttng_ust_tracepoint_enabled(gilscope_ctl, resync) ? RS_CTL : 0);
}

/* Every call into LTTng goes through the gate that the process's end
 * closes (lttng_enter, lttng_close): these, not liblttng-ust's macros. */
static inline int lttng_enter(void);
static inline void lttng_leave(void);
#define GS_DO_TRACEPOINT(provider, name, ...)                              \
	do {                                                               \
		if (lttng_enter()) {                                       \
			lttng_ust_do_tracepoint(provider, name, __VA_ARGS__); \
			lttng_leave();                                     \
		}                                                          \
	} while (0)
#define GS_TRACEPOINT(provider, name, ...)                                 \
	do {                                                               \
		if (lttng_ust_tracepoint_enabled(provider, name))          \
			GS_DO_TRACEPOINT(provider, name, __VA_ARGS__);     \
	} while (0)

/* The rarely written events, one type (gilscope_tp.h, gilscope:rare). */
static void rare(int kind, const int64_t *v, unsigned int nv, const char *text, uint32_t tag)
{
	GS_TRACEPOINT(gilscope, rare, kind, v, nv, text, tag);
}

static void rare_int(int kind, int64_t x, const char *text, uint32_t tag)
{
	rare(kind, &x, 1, text, tag);
}

static void rare_seq(int kind, const uint64_t *state3)
{
	const int64_t v[3] = { (int64_t)state3[0], (int64_t)state3[1], (int64_t)state3[2] };

	rare(kind, v, 3, "", 0);
}

static void rare_gil(int kind, uint64_t gil, uint32_t interval_us, int rule)
{
	const int64_t v[3] = { (int64_t)gil, interval_us, rule };

	rare(kind, v, 3, g_version, g_tag);
}

static pid_t self_tid(void)
{
	if (!tl.tid)
		tl.tid = (pid_t)syscall(SYS_gettid);
	return tl.tid;
}

static void *resolve(const char *name, const char *version)
{
	void *p = version ? dlvsym(RTLD_NEXT, name, version) : NULL;
	if (!p)
		p = dlsym(RTLD_NEXT, name);
	if (!p) {
		/* Nothing sensible can run without the real function. */
		fprintf(stderr, "gilscope: cannot find the real %s: %s\n", name, dlerror());
		abort();
	}
	return p;
}

static void resolve_all(void)
{
	/* Plain dlsym may hand back the old 2.2.5 compat condvar functions. */
	real.cond_wait = resolve("pthread_cond_wait", "GLIBC_2.3.2");
	real.cond_timedwait = resolve("pthread_cond_timedwait", "GLIBC_2.3.2");
	real.cond_signal = resolve("pthread_cond_signal", "GLIBC_2.3.2");
	real.mutex_init = resolve("pthread_mutex_init", NULL);
	g_hot.mutex_unlock = resolve("pthread_mutex_unlock", NULL);
	real.fork = resolve("fork", NULL);
	real.exit_now = (void (*)(int))resolve("_exit", NULL);
	atomic_thread_fence(memory_order_seq_cst);
	g_hot.mutex_lock = resolve("pthread_mutex_lock", NULL);
	atomic_store(&g_resolved, 1);
}

#define ENSURE_REAL(fn) do { if (__builtin_expect(!real.fn || !g_resolved, 0)) resolve_all(); } while (0)

/* lock and unlock start out pointing here, so that their hot paths need
 * no "resolved yet?" test: the first call resolves everything. */
static int mutex_lock_first(pthread_mutex_t *m)
{
	resolve_all();
	return g_hot.mutex_lock(m);
}

static int mutex_unlock_first(pthread_mutex_t *m)
{
	resolve_all();
	return g_hot.mutex_unlock(m);
}

static int cond_signal_first(pthread_cond_t *c)
{
	resolve_all();
	return real.cond_signal(c);
}

static inline struct gil *gil_by_m(const pthread_mutex_t *m)
{
	int n = atomic_load_explicit(&g_nslots, memory_order_acquire);
	for (int i = 0; i < n; i++)
		if (atomic_load_explicit(&g_gils[i].m, memory_order_relaxed) == m)
			return &g_gils[i];
	return NULL;
}

static inline struct gil *gil_by_s(const pthread_mutex_t *s)
{
	int n = atomic_load_explicit(&g_nslots, memory_order_acquire);
	for (int i = 0; i < n; i++)
		if (atomic_load_explicit(&g_gils[i].m, memory_order_relaxed) && g_gils[i].s == s)
			return &g_gils[i];
	return NULL;
}

enum { GIL_M = 1, GIL_S = 2 };

/* The known GIL that x is the mutex (GIL_M) or switch mutex (GIL_S) of:
 * one pass over the table, the hot path of every mutex call. */
static inline struct gil *gil_lookup(const pthread_mutex_t *x, int *which)
{
	int n = atomic_load_explicit(&g_nslots, memory_order_acquire);
	for (int i = 0; i < n; i++) {
		const pthread_mutex_t *m = atomic_load_explicit(&g_gils[i].m, memory_order_relaxed);
		if (!m)
			continue;
		if (m == x) {
			*which = GIL_M;
			return &g_gils[i];
		}
		if (g_gils[i].s == x) {
			*which = GIL_S;
			return &g_gils[i];
		}
	}
	return NULL;
}

static inline uint64_t gil_addr(const struct gil *g)
{
	return (uint64_t)(uintptr_t)atomic_load_explicit(&g->m, memory_order_relaxed);
}

/* CPython's unsigned long fields before M (layout rule only). */
static inline unsigned long gil_field(const pthread_mutex_t *m, ptrdiff_t back)
{
	return *(const volatile unsigned long *)((const char *)m - back);
}

static uint32_t gil_read_interval(const pthread_mutex_t *m)
{
	unsigned long v = gil_field(m, GIL_INTERVAL_FROM_M);
	return v <= UINT32_MAX ? (uint32_t)v : 0;
}

static uint32_t gil_interval_us(const struct gil *g)
{
	if (g->rule != GILSCOPE_RULE_LAYOUT)
		return 0;
	return gil_read_interval(atomic_load_explicit(&g->m, memory_order_relaxed));
}

static void fast_refresh(void)
{
	int n = atomic_load(&g_nslots), live = 0;
	const pthread_mutex_t *hm = NULL, *hs = NULL;
	struct gil *hg = NULL;
	for (int i = 0; i < n; i++) {
		const pthread_mutex_t *m = atomic_load(&g_gils[i].m);
		if (!m)
			continue;
		if (!live++) {
			hm = m;
			hs = g_gils[i].s;
			hg = &g_gils[i];
		}
	}
	if (hg)
		atomic_store(&g_hot.g, hg); /* else the old one: see g_hot.g */
	atomic_store(&g_hot.m, hm);
	atomic_store(&g_hot.s, hs);
	atomic_store(&g_hot.complex, live > 1 || atomic_load(&g_armed));
}

static void set_armed(int on)
{
	atomic_store(&g_armed, on);
	fast_refresh();
}

/* --- the held-mutex stack, kept only while looking for a GIL ----------- */

static inline void held_sync_epoch(void)
{
	int e = atomic_load_explicit(&g_arm_epoch, memory_order_relaxed);
	if (tl.epoch != e) {
		/* Anything recorded before a re-arm may be stale. */
		tl.epoch = e;
		tl.nheld = 0;
		tl.cand_m = tl.cand_s = NULL;
	}
}

static inline void held_push(pthread_mutex_t *m)
{
	if (tl.nheld < MAX_HELD)
		tl.held[tl.nheld] = m;
	tl.nheld++;
}

static inline void held_pop(pthread_mutex_t *m)
{
	int top = tl.nheld < MAX_HELD ? tl.nheld : MAX_HELD;
	if (tl.nheld > MAX_HELD) {
		tl.nheld--; /* overflowed: exact contents unknown, count only */
		return;
	}
	for (int i = top - 1; i >= 0; i--) {
		if (tl.held[i] == m) {
			memmove(&tl.held[i], &tl.held[i + 1], (size_t)(top - 1 - i) * sizeof(tl.held[0]));
			tl.nheld--;
			return;
		}
	}
	/* Locked before we were looking: nothing to forget. */
}

static void at_exit(void);
static void resync_after_found(void);

/* The functions a recorded GIL cycle runs, together in .text.hot (with
 * attrib_read and the frame walk): a cycle then touches 4 pages of this
 * library's code where it touched 7, and each system call between two
 * cycles (the program's, and CPython's around its I/O) empties the TLB on
 * this machine kind (page-table isolation without PCID). Declarations
 * only: the definitions stay where they are. */
#define HOT __attribute__((hot))
HOT static __attribute__((noinline)) struct pending_ev *pending_new(struct gil *g, enum pev_type type);
HOT static void pending_site(const struct pending_ev *p, enum attrib_at at, struct attrib_site *site);
HOT static void pending_site_packed(const struct pending_ev *p, enum attrib_at at,
				    int32_t site[GILSCOPE_SITE_LEN]);
HOT static void pending_site_acquire(const struct pending_ev *p, int32_t site[GILSCOPE_SITE_LEN]);
HOT static int pending_hold(int i, int n, int with_req);
HOT static void pending_write(int n);
HOT static void pending_flush(void);
HOT static void ev_release(struct gil *g, int forced);
HOT static void ev_acquire(struct gil *g);
HOT static void ev_acquire_complete(struct gil *g);
HOT static void late_settle_at(int under_m);
HOT static __attribute__((noinline)) int mutex_unlock_defer(pthread_mutex_t *mutex, struct gil *g);
HOT static __attribute__((noinline)) int mutex_unlock_flush(pthread_mutex_t *mutex);
HOT static __attribute__((noinline)) int gil_lock_m_full(pthread_mutex_t *mutex, struct gil *g);
HOT static __attribute__((noinline)) int gil_lock_s_full(pthread_mutex_t *mutex, struct gil *g);
HOT static __attribute__((noinline)) int gil_unlock_m_full(pthread_mutex_t *mutex, struct gil *g);
HOT static __attribute__((noinline)) int hot_lock_m(pthread_mutex_t *mutex);
HOT static __attribute__((noinline)) int hot_lock_s(pthread_mutex_t *mutex);
HOT static __attribute__((noinline)) int hot_unlock_m(pthread_mutex_t *mutex);
HOT static __attribute__((noinline)) int hot_unlock_s(pthread_mutex_t *mutex);
HOT EXPORT int pthread_mutex_lock(pthread_mutex_t *mutex);
HOT EXPORT int pthread_mutex_unlock(pthread_mutex_t *mutex);
HOT EXPORT int pthread_cond_signal(pthread_cond_t *cond);

/* --- event capture and emission ------------------------------------------
 *
 * One path for every GIL state change: ev_*() capture what the event needs
 * at the moment CPython makes the change (its place in the GIL's order,
 * the trace clock, and what must be read under the mutex) into a
 * per-thread pending record; pending_flush() writes the LTTng records once
 * the thread holds neither M nor S. Reads that need no mutex (anything the
 * thread's own Python frames say: they cannot change while it is in
 * take_gil or drop_gil) belong in pending_flush(), not under M.
 * Nothing is captured, and no clock read, while an event is disabled.
 */



/* Whether a thread has records not yet written, seen from other threads:
 * a process that ends (os._exit right after a join) must not cut off the
 * release another thread is about to write. One cache line per thread,
 * written only by its owner; MAX_THREAD_SLOTS threads at a time are
 * waited for, more are not. */
#define MAX_THREAD_SLOTS 1024
/* Held-back holds in a slot: each the hold record's own values, in the
 * record's layout (hb_state and hb_site hold a `hold` record's `state`
 * and `site`), so that the owner writes a hold once, where its record
 * reads it. */
#define HB_N GILSCOPE_HB_N       /* holds a thread holds back at most */
/* A token: the owner's tid, a count, the number of holds it covers. */
#define HB_NBITS 4u
#define HB_NMASK ((1u << HB_NBITS) - 1)
_Static_assert(HB_N >= 1 && HB_N <= (int)HB_NMASK, "HB_N holds must fit a token");
_Static_assert(GILSCOPE_RARE_MAX_V >= GILSCOPE_HOLD_STATE + GILSCOPE_HOLD_SITE + 1,
	       "a hold_for record carries one hold");
struct thread_slot {
	atomic_int used;
	atomic_int pending;
	atomic_int tid;                  /* its thread (late_rescue) */
	atomic_int in_lttng;             /* inside a call into LTTng (lttng_enter) */
	/* The completed holds this thread holds back (up to HB_N, the older
	 * first), written by it with its next one, or by whichever thread
	 * swaps hb_token from its value to 0 first (held-back holds). 0:
	 * none; else the holds at places [0, hb_token & HB_NMASK), of the
	 * thread whose tid is the token's high half. Place HB_N is the
	 * owner's for the hold that a record writes with HB_N held back.
	 * The values are written by the owner only (relaxed atomic stores),
	 * where no published token covers them, before it publishes the
	 * token that does; others read them with relaxed atomic loads. */
	_Atomic uint64_t hb_token;
	uint64_t hb_state[(HB_N + 1) * GILSCOPE_HOLD_STATE];
	int32_t hb_site[(HB_N + 1) * GILSCOPE_HOLD_SITE];
} __attribute__((aligned(64)));
static struct thread_slot g_slots[MAX_THREAD_SLOTS];
/* Slots ever taken: the scans' end. The table is 16 pages that a scan of
 * the whole would each fault in (13 us apiece in a VM) at every exit. */
static atomic_int g_slots_used;
static pthread_key_t g_slot_key;
static int g_slot_key_ok;
TLS struct thread_slot *t_slot;
TLS int t_slot_tried;
/* This thread's records went up for writing after another thread had
 * begun to end the process: they are not written (thread_mute_check). */
TLS int t_mute;

/* --- the way into LTTng, closed at the process's end ---------------------
 *
 * At exit() glibc runs the libraries' destructors after the exit
 * handlers, this library's first: the header's tracepoint destructor
 * unregisters the tracepoints and zeroes liblttng-ust-tracepoint's
 * function pointers (its RCU read lock and unlock among them), then
 * liblttng-ust's own tears the sessions down. A thread of the program
 * still inside a tracepoint then calls a null pointer (SIGSEGV; a thread
 * preempted inside its event for longer than pending_wait_others' 50 ms,
 * tracer.exit_writer). So every call into LTTng raises this thread's
 * in_lttng flag (an exchange: a full barrier), then looks for
 * DYING_CLOSED; the end of the process sets that bit (a full barrier),
 * then waits for every raised flag to go down, without a deadline: one of
 * the two sees the other, and from then on no thread enters. What a flag
 * covers never blocks (a non-blocking channel's record; code and stack
 * events' descriptions), so the wait is as long as a preempted writer's
 * return to its CPU, no longer. A thread stopped there by a debugger
 * holds the exit until it goes on, as it would hold liblttng-ust's own
 * destructor (synchronize_rcu waits for it too). A thread without a slot
 * counts in g_lttng_unslotted. */
#define DYING_CLOSED (1 << 30)          /* in g_hot.dying: above any tid */
static atomic_int g_lttng_unslotted;
TLS int t_lttng_depth;                  /* calls into LTTng this thread is in */
TLS atomic_int *t_lttng_in;             /* the flag it raised; NULL: the count */

static inline void lttng_leave(void)
{
	if (--t_lttng_depth)
		return;
	if (t_lttng_in)
		atomic_store_explicit(t_lttng_in, 0, memory_order_release);
	else
		atomic_fetch_sub_explicit(&g_lttng_unslotted, 1, memory_order_release);
}

/* 1: go on into LTTng, then lttng_leave(); 0: the process is ending and
 * LTTng may be gone, write nothing. */
static inline int lttng_enter(void)
{
	if (t_lttng_depth++)
		return 1; /* the outer call's flag is up */
	t_lttng_in = t_slot ? &t_slot->in_lttng : NULL;
	if (t_lttng_in)
		atomic_exchange_explicit(t_lttng_in, 1, memory_order_seq_cst);
	else
		atomic_fetch_add_explicit(&g_lttng_unslotted, 1, memory_order_seq_cst);
	if (__builtin_expect(!(atomic_load_explicit(&g_hot.dying, memory_order_relaxed) & DYING_CLOSED),
			     1))
		return 1;
	lttng_leave();
	return 0;
}

/* attrib.c's code and stack events. */
int gilscope_lttng_enter(void)
{
	return lttng_enter();
}

void gilscope_lttng_leave(void)
{
	lttng_leave();
}

static void lttng_wait_pause(int n)
{
	if (n < 100)
		sched_yield();
	else
		nanosleep(&(struct timespec){ 0, 200000 }, NULL);
}

/* Waits, without a deadline, until no other thread is inside a call into
 * LTTng that it entered before now: 1 if one was. The calling thread's
 * own call, if it is in one (an exit from a signal handler), is not
 * waited for. */
static int lttng_wait_inside(void)
{
	int waited = 0, used = atomic_load(&g_slots_used);
	for (int i = 0; i < used; i++) {
		atomic_int *f = &g_slots[i].in_lttng;
		for (int n = 0; (!t_lttng_depth || f != t_lttng_in) &&
				atomic_load_explicit(f, memory_order_acquire); n++) {
			waited = 1;
			lttng_wait_pause(n);
		}
	}
	int mine = t_lttng_depth && !t_lttng_in;
	for (int n = 0; atomic_load_explicit(&g_lttng_unslotted, memory_order_acquire) > mine; n++) {
		waited = 1;
		lttng_wait_pause(n);
	}
	return waited;
}

/* The process ends (exit(), _exit()): after this no thread of it enters
 * LTTng, and none is inside. */
static void lttng_close(void)
{
	atomic_fetch_or(&g_hot.dying, DYING_CLOSED);
	lttng_wait_inside();
}

static void hb_thread_end(struct thread_slot *ts);

static void thread_slot_release(void *slot)
{
	struct thread_slot *ts = slot;
	if (tl.hb_mine)
		hb_thread_end(ts);
	atomic_store(&ts->in_lttng, 0); /* the thread ends: it is in no call */
	atomic_store(&ts->pending, 0);
	atomic_store(&ts->used, 0);
	t_slot = NULL; /* run by the thread itself, at its very end */
	t_slot_tried = 1;
}

static void thread_slot_take(void)
{
	t_slot_tried = 1;
	if (!g_slot_key_ok)
		return;
	for (int i = 0; i < MAX_THREAD_SLOTS; i++) {
		int free_ = 0;
		/* A slot whose ended thread still holds a hold back keeps it
		 * for a rescuer (held-back holds). */
		if (atomic_load_explicit(&g_slots[i].hb_token, memory_order_relaxed))
			continue;
		if (atomic_compare_exchange_strong(&g_slots[i].used, &free_, 1)) {
			int used = atomic_load(&g_slots_used);
			while (used < i + 1 && !atomic_compare_exchange_weak(&g_slots_used, &used, i + 1))
				;
			t_slot = &g_slots[i];
			atomic_store_explicit(&t_slot->tid, self_tid(), memory_order_relaxed);
			/* The key's destructor gives the slot back at thread exit. */
			if (pthread_setspecific(g_slot_key, t_slot)) {
				atomic_store(&t_slot->used, 0);
				t_slot = NULL;
			}
			return;
		}
	}
}

static inline void thread_slot_pending(int on)
{
	if (!t_slot) {
		if (!on || t_slot_tried)
			return;
		thread_slot_take();
		if (!t_slot)
			return;
	}
	atomic_store_explicit(&t_slot->pending, on, memory_order_release);
}

/* Just after this thread's pending flag went up, with a full barrier in
 * between: has another thread begun to end the process? That thread set
 * g_hot.dying before it looked at the flags (pending_wait_others); one
 * that went up after its look is not waited for, and a thread killed
 * inside an event leaves its reservation uncommitted, the rest of its
 * CPU's stream lost (and lttng-sessiond 2.13 then does not end on
 * SIGTERM). Such a thread writes nothing until its flag goes up again
 * (t_mute): its last records die with the process, as they would have
 * with it. The barrier (flag up, then dying read, against the dying
 * thread's store then reads) makes one of the two see the other. */
static inline void thread_mute_check(void)
{
	int dying = atomic_load_explicit(&g_hot.dying, memory_order_relaxed);
	t_mute = __builtin_expect(dying != 0, 0) && dying != self_tid();
	if (__builtin_expect(t_mute, 0) && t_slot) /* nothing to wait for */
		atomic_store_explicit(&t_slot->pending, 0, memory_order_relaxed);
}

/* Around a write outside the pending records (a resync, a rescued
 * acquire, a thread's name, a GIL found or retired): a process that ends
 * meanwhile waits for it too, rather than killing the thread inside an
 * event (its sub-buffer then never committed, the rest of its CPU's
 * stream lost). The caller writes nothing when t_mute is set. */
static inline int thread_slot_writing(void)
{
	int was = t_slot && atomic_load_explicit(&t_slot->pending, memory_order_relaxed);
	thread_slot_pending(1);
	if (!was) {
		atomic_thread_fence(memory_order_seq_cst); /* not the GIL's path */
		thread_mute_check();
	}
	return was;
}

/* This thread is about to end the process: threads that start writing
 * from now on write nothing (thread_mute_check). Another thread already
 * ending it keeps the mark. The seq_cst exchange orders the mark before
 * the looks at the other threads' flags that follow. 1 if marked now. */
static int process_dying(void)
{
	int none = 0;
	return atomic_compare_exchange_strong(&g_hot.dying, &none, self_tid());
}

/* The process goes on after all (a signal it sent itself did not end it). */
static void process_dying_over(void)
{
	int mine = self_tid();
	atomic_compare_exchange_strong(&g_hot.dying, &mine, 0);
}

/* The process ends: give the other threads with unwritten records a
 * moment (they are past the mutex, about to write them) to do so. 1 when
 * it gave up on one. */
static int pending_wait_others(void)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int used = atomic_load(&g_slots_used);
	for (int i = 0; i < used; i++) {
		struct thread_slot *ts = &g_slots[i];
		while (ts != t_slot && atomic_load_explicit(&ts->used, memory_order_relaxed) &&
		       atomic_load_explicit(&ts->pending, memory_order_acquire)) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) > 50000000L)
				return 1; /* 50 ms in all: a thread that is stuck stays so */
			sched_yield();
		}
	}
	return 0;
}

/* The trace clock: LTTng's own read function once the provider is loaded
 * (CLOCK_MONOTONIC unless a clock plugin replaced it). */
static uint64_t clock_monotonic(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static uint64_t (*g_clock)(void) = clock_monotonic;

/* Where the thread is in its Python code (tracer/attrib.h), read at the
 * flush, out of the mutex: the thread is still inside take_gil or
 * drop_gil (its own pthread call), so its frames have not moved since the
 * event. tstate is its own PyThreadState, taken from last_holder under M. */
static void pending_site(const struct pending_ev *p, enum attrib_at at, struct attrib_site *site)
{
	attrib_read(p->has_tstate ? (const void *)(uintptr_t)p->tstate : NULL, at, site);
}

/* The packed site of an acquire or release (gilscope_tp.h: `site`). */
static void pending_site_packed(const struct pending_ev *p, enum attrib_at at,
				int32_t site[GILSCOPE_SITE_LEN])
{
	struct attrib_site s;
	pending_site(p, at, &s);
	site[0] = (int32_t)s.code;
	site[1] = s.offset;
	site[2] = (int32_t)s.stack;
}

/* An acquire's: read at the end of take_gil when it was kept for later. */
static void pending_site_acquire(const struct pending_ev *p, int32_t site[GILSCOPE_SITE_LEN])
{
	if (p->site_set)
		memcpy(site, p->site, sizeof(p->site));
	else
		pending_site_packed(p, ATTRIB_AT_ACQUIRE, site);
}

/* --- held-back holds -------------------------------------------------------
 *
 * Each LTTng record costs a churning thread about LTTng's whole floor,
 * whatever its size (bench/README.md, "Session 18"). So a thread that
 * takes the GIL again soon after its last release (HB_HOT_NS) holds its
 * completed hold back in its slot, up to HB_N of them (GILSCOPE_HB_N,
 * a compile-time constant), and writes them with its next one as one
 * `hold` record of up to HB_N + 1 holds. Exactly one thread writes a
 * held-back hold: whichever swaps the slot's hb_token from the token
 * that covers it to 0 (the owner with one exchange, anyone else with a
 * compare-and-swap after copying the values). The owner appends a hold
 * to those it holds back with one compare-and-swap of the token (its
 * values first, in a place no published token covers). They are
 * written
 * - by their owner, with its next hold (or without it, at its next hold
 *   when that one is not held back, or when its thread ends);
 * - by any thread of the process, the owner too, at a GIL event more
 *   than HB_RESCUE_NS after the oldest one's release (hb_rescue_check:
 *   one scan a HB_RESCUE_NS at most), all of them, as one `hold_for`
 *   record a hold, in order, with the owner's tid when another thread
 *   writes them: a reader waits that long at most, past a busy GIL;
 * - before a fork (the child forgets its parent's), when a GIL is
 *   retired, and when the process ends;
 * - when the recorder turns on gilscope_ctl:flush, just before every stop
 *   and snapshot (gilscope_ctl_tp.h): liblttng-ust's listener thread
 *   applies it and then unlocks its mutex, and the unlock wrapper of a
 *   process that ever held a hold back (g_hot.hb_any) sees it there
 *   (mutex_unlock_hb) and writes every held-back hold: a process idle at
 *   the stop loses none. While it is on no hold is held back.
 * A process killed by SIGKILL loses its threads' held-back holds. */
#define HB_HOT_NS 100000u        /* back within this of its last release: hold back */
#define HB_RESCUE_NS 1000000u    /* held back this long: any GIL event writes it */

static inline int hb_flush_on(void)
{
	return lttng_ust_tracepoint_enabled(gilscope_ctl, flush);
}

/* Writes n held-back holds of thread tid (state and site in the `hold`
 * record's layout): as this thread's `hold` record, or as one `hold_for`
 * record a hold, in order, for the thread that held them back.
 * tl.guard is set. */
static void hb_write_values(const uint64_t *state, const int32_t *site, unsigned n, pid_t tid)
{
	if (tid == self_tid()) {
		GS_TRACEPOINT(gilscope, hold, state, site, n);
		return;
	}
	for (unsigned h = 0; h < n; h++) {
		int64_t vals[GILSCOPE_HOLD_STATE + GILSCOPE_HOLD_SITE + 1];
		for (int i = 0; i < GILSCOPE_HOLD_STATE; i++)
			vals[i] = (int64_t)state[h * GILSCOPE_HOLD_STATE + i];
		for (int i = 0; i < GILSCOPE_HOLD_SITE; i++)
			vals[GILSCOPE_HOLD_STATE + i] = site[h * GILSCOPE_HOLD_SITE + i];
		vals[GILSCOPE_HOLD_STATE + GILSCOPE_HOLD_SITE] = tid;
		rare(GILSCOPE_RARE_HOLD_FOR, vals, GILSCOPE_HOLD_STATE + GILSCOPE_HOLD_SITE + 1, "", 0);
	}
}

/* Writes the holds held back in slot ts if the oldest one's release is
 * at least min_age before now (trace clock), claiming them first.
 * tl.guard is set and this thread's pending flag up. */
static void hb_rescue_slot(struct thread_slot *ts, uint64_t now, uint64_t min_age)
{
	uint64_t tok = atomic_load_explicit(&ts->hb_token, memory_order_acquire);
	uint64_t state[HB_N * GILSCOPE_HOLD_STATE];
	int32_t site[HB_N * GILSCOPE_HOLD_SITE];
	unsigned n = (unsigned)(tok & HB_NMASK);
	if (!tok || n < 1 || n > HB_N)
		return;
	for (unsigned i = 0; i < n * GILSCOPE_HOLD_STATE; i++)
		state[i] = __atomic_load_n(&ts->hb_state[i], __ATOMIC_RELAXED);
	for (unsigned i = 0; i < n * GILSCOPE_HOLD_SITE; i++)
		site[i] = __atomic_load_n(&ts->hb_site[i], __ATOMIC_RELAXED);
	if (min_age && (int64_t)(now - state[7]) < (int64_t)min_age)
		return; /* its owner most likely writes them with its next hold */
	/* A later hold of the owner comes with another token: then the swap
	 * fails and the copy is dropped. */
	if (!atomic_compare_exchange_strong(&ts->hb_token, &tok, 0))
		return;
	if (ts == t_slot)
		tl.hb_mine = 0;
	hb_write_values(state, site, n, (pid_t)(uint32_t)(tok >> 32));
}

/* The first place of the holds held back in slot ts (its oldest one's
 * request, else its acquire); read only to order a scan, the token's
 * swap still decides who writes them. */
static inline uint64_t hb_first_place(struct thread_slot *ts)
{
	uint64_t req = __atomic_load_n(&ts->hb_state[1], __ATOMIC_RELAXED);
	uint64_t acq = __atomic_load_n(&ts->hb_state[3], __ATOMIC_RELAXED);
	return req < acq ? req : acq; /* GILSCOPE_NO_REQ is the largest */
}

/* Writes the holds held back in every slot (those at least min_age old
 * at now), the slot with the lowest first place first. In slot order, a
 * thread's later holds could go out before another's earlier ones, long
 * after a record that waits for those: a reader that has waited past its
 * horizon (analyzer/reorder.c) gives the missing places up on the later
 * holds and then counts the earlier ones late. Holds of one GIL never
 * overlap, so their places and their releases come in the same order and
 * min_age leaves out a GIL's youngest holds only. Each pass takes the
 * slot next after the last in (first place, index) order: no array, and
 * a rare path (a scan a HB_RESCUE_NS at most). tl.guard is set and this
 * thread's pending flag up. */
static void hb_rescue_in_order(uint64_t now, uint64_t min_age)
{
	int used = atomic_load(&g_slots_used);
	uint64_t last = 0;
	int last_i = -1;
	/* Bounded: owners that keep holding back cannot keep it going. */
	for (int pass = 0; pass <= used; pass++) {
		int best = -1;
		uint64_t best_place = 0;
		for (int i = 0; i < used; i++) {
			if (!atomic_load_explicit(&g_slots[i].hb_token, memory_order_relaxed))
				continue;
			uint64_t place = hb_first_place(&g_slots[i]);
			if (last_i >= 0 && (place < last || (place == last && i <= last_i)))
				continue;
			if (best < 0 || place < best_place) {
				best = i;
				best_place = place;
			}
		}
		if (best < 0)
			break;
		hb_rescue_slot(&g_slots[best], now, min_age);
		last = best_place;
		last_i = best;
	}
}

/* Every hold held back in this process, whatever its age (a stop, a
 * fork, a GIL retired, the end). */
static void hb_write_all(void)
{
	if (!atomic_load_explicit(&g_hot.hb_any, memory_order_relaxed))
		return;
	int guard = tl.guard, e = errno;
	tl.guard = 1;
	int was = thread_slot_writing();
	if (!t_mute)
		hb_rescue_in_order(0, 0);
	thread_slot_pending(was);
	tl.guard = guard;
	errno = e;
}

/* A GIL event at now: holds held back more than HB_RESCUE_NS ago are
 * written, by one scan a HB_RESCUE_NS at most (hb_rescue_check). The
 * caller's pending flag is up. */
static __attribute__((noinline)) void hb_rescue_due(uint64_t now)
{
	uint64_t next = atomic_load_explicit(&g_hot.hb_scan_next, memory_order_relaxed);
	if (now < next ||
	    !atomic_compare_exchange_strong(&g_hot.hb_scan_next, &next, now + HB_RESCUE_NS))
		return;
	int guard = tl.guard;
	tl.guard = 1;
	int was = thread_slot_writing();
	if (!t_mute)
		hb_rescue_in_order(now, HB_RESCUE_NS);
	thread_slot_pending(was);
	tl.guard = guard;
}

static inline void hb_rescue_check(uint64_t now)
{
	if (atomic_load_explicit(&g_hot.hb_any, memory_order_relaxed) &&
	    __builtin_expect(now >= atomic_load_explicit(&g_hot.hb_scan_next, memory_order_relaxed), 0))
		hb_rescue_due(now);
}

/* Claims this thread's held-back holds (one exchange): how many, 0 when
 * it holds none back or another thread wrote them meanwhile. They stay
 * at places [0, n) of its slot, where the record reads them. */
static inline unsigned hb_claim_own(void)
{
	uint64_t tok = tl.hb_mine;
	if (!tok)
		return 0;
	tl.hb_mine = 0;
	if (atomic_exchange_explicit(&t_slot->hb_token, 0, memory_order_seq_cst) != tok)
		return 0;
	return (unsigned)(tok & HB_NMASK);
}

/* A hold's values (the hold record's layout) into state and site: the
 * slot's (relaxed atomic stores, others may be reading an older token's
 * holds there) or the stack's. */
static inline void hb_put(uint64_t *state, int32_t *site, int slot, const struct pending_ev *q,
			  const struct pending_ev *a, const struct pending_ev *r,
			  const int32_t *asite, const int32_t *rsite)
{
	/* Each a store of its own: a loop over an array built first cost
	 * about 60 instructions more a cycle. */
#define HB_PUT(dst, i, x) (slot ? __atomic_store_n(&(dst)[i], (x), __ATOMIC_RELAXED) \
				: (void)((dst)[i] = (x)))
	HB_PUT(state, 0, a->gil);
	HB_PUT(state, 1, q ? q->seq : GILSCOPE_NO_REQ);
	HB_PUT(state, 2, q ? q->ts : 0);
	HB_PUT(state, 3, a->seq);
	HB_PUT(state, 4, a->ts);
	HB_PUT(state, 5, a->switch_number);
	HB_PUT(state, 6, r->seq);
	HB_PUT(state, 7, r->ts);
	HB_PUT(state, 8, (uint64_t)r->forced);
	_Static_assert(GILSCOPE_HOLD_STATE == 9 && GILSCOPE_SITE_LEN == 3, "hb_put's layout");
	HB_PUT(site, 0, asite[0]);
	HB_PUT(site, 1, asite[1]);
	HB_PUT(site, 2, asite[2]);
	HB_PUT(site, 3, rsite[0]);
	HB_PUT(site, 4, rsite[1]);
	HB_PUT(site, 5, rsite[2]);
#undef HB_PUT
}

/* A new token for n holds of this thread. */
static inline uint64_t hb_token_new(unsigned n)
{
	if (!(++tl.hb_count & (UINT32_MAX >> HB_NBITS)))
		tl.hb_count = 1;
	return (uint64_t)(uint32_t)tl.tid << 32 |
	       (uint64_t)(tl.hb_count & (UINT32_MAX >> HB_NBITS)) << HB_NBITS | n;
}

/* Holds back the hold at place k of this thread's slot, after the k it
 * holds back already (k < HB_N; t_slot set): 1, or 0 when a stop or
 * snapshot is under way (then the caller claims its holds, this one the
 * last, and writes them). One exchange, or one compare-and-swap that
 * appends to the holds published (a full barrier either way): a flush
 * switch turned on after it is seen by the check below, or its writer
 * (mutex_unlock_hb) sees these holds. */
static inline int hb_keep(unsigned k)
{
	struct thread_slot *ts = t_slot;
	uint64_t tok = hb_token_new(k + 1);
	if (!k) {
		atomic_exchange_explicit(&ts->hb_token, tok, memory_order_seq_cst);
	} else {
		uint64_t old = tl.hb_mine;
		if (!atomic_compare_exchange_strong(&ts->hb_token, &old, tok)) {
			/* Another thread wrote the earlier ones meanwhile
			 * (the slot's token is 0): this one alone, first. */
			for (int i = 0; i < GILSCOPE_HOLD_STATE; i++)
				__atomic_store_n(&ts->hb_state[i], ts->hb_state[k * GILSCOPE_HOLD_STATE + i],
						 __ATOMIC_RELAXED);
			for (int i = 0; i < GILSCOPE_HOLD_SITE; i++)
				__atomic_store_n(&ts->hb_site[i], ts->hb_site[k * GILSCOPE_HOLD_SITE + i],
						 __ATOMIC_RELAXED);
			tok = hb_token_new(1);
			atomic_exchange_explicit(&ts->hb_token, tok, memory_order_seq_cst);
		}
	}
	tl.hb_mine = tok;
	if (__builtin_expect(!atomic_load_explicit(&g_hot.hb_any, memory_order_relaxed), 0))
		atomic_store(&g_hot.hb_any, 1);
	/* A stop or snapshot under way: written now, by this thread unless
	 * the switch's writer was quicker. */
	return !__builtin_expect(hb_flush_on(), 0);
}

/* The thread ends (its slot's destructor): its held-back hold now. */
static void hb_thread_end(struct thread_slot *ts)
{
	tl.hb_mine = 0;
	if (atomic_load(&g_hot.mode) != MODE_ACTIVE)
		return;
	int guard = tl.guard, was = thread_slot_writing();
	tl.guard = 1;
	if (!t_mute)
		hb_rescue_slot(ts, 0, 0);
	thread_slot_pending(was);
	tl.guard = guard;
}

/* A fork child: its parent's held-back holds are the parent's to write. */
static void hb_forget_all(void)
{
	int used = atomic_load(&g_slots_used);
	for (int i = 0; i < used; i++)
		atomic_store_explicit(&g_slots[i].hb_token, 0, memory_order_relaxed);
	tl.hb_mine = 0;
}

static void late_settle(void);
static __attribute__((noinline)) int mutex_unlock_flush(pthread_mutex_t *mutex);

/* pend[i] (a request when with_req, then its acquire) and the release
 * after them, of one GIL, as one hold: held back, or written as one
 * `hold` record with the holds this thread held back before it; 0 when
 * they are not there or the event is off (then each goes on its own).
 * The hold goes straight to its place in the slot (the first free one),
 * where both its record and a rescuer read it: no copy either way. */
static int pending_hold(int i, int n, int with_req)
{
	const struct pending_ev *q = with_req ? &tl.pend[i] : NULL;
	const struct pending_ev *a = &tl.pend[i + with_req], *r = a + 1;

	if (i + with_req + 1 >= n || a->type != PEV_ACQUIRE || r->type != PEV_RELEASE ||
	    a->gil != r->gil || (q && q->gil != a->gil) ||
	    !lttng_ust_tracepoint_enabled(gilscope, hold))
		return 0;
	int32_t asite[GILSCOPE_SITE_LEN], rsite[GILSCOPE_SITE_LEN];
	pending_site_acquire(a, asite);
	pending_site_packed(r, ATTRIB_AT_RELEASE, rsite);
	/* Hot: back within HB_HOT_NS of its last release. Then held back
	 * after the k held back already while they are fewer than HB_N. */
	int hot = a->ts - tl.hb_last_rel < HB_HOT_NS;
	tl.hb_last_rel = r->ts;
	struct thread_slot *ts = t_slot;
	if (__builtin_expect(!ts, 0)) { /* no slot: nothing is held back */
		uint64_t state[GILSCOPE_HOLD_STATE];
		int32_t site[GILSCOPE_HOLD_SITE];
		hb_put(state, site, 0, q, a, r, asite, rsite);
		GS_DO_TRACEPOINT(gilscope, hold, state, site, 1);
		return 1;
	}
	unsigned k = (unsigned)(tl.hb_mine & HB_NMASK);
	hb_put(&ts->hb_state[k * GILSCOPE_HOLD_STATE], &ts->hb_site[k * GILSCOPE_HOLD_SITE], 1, q,
	       a, r, asite, rsite);
	unsigned first, nh;
	if (hot && k < HB_N) {
		if (hb_keep(k))
			return 1;
		/* A stop or snapshot under way: hb_keep published it, the
		 * last of its holds; they are claimed back and written now,
		 * unless the switch's writer took them all. */
		nh = (unsigned)(tl.hb_mine & HB_NMASK);
		if (!hb_claim_own())
			return 1;
		first = 0;
	} else {
		/* Written now, after the holds held back before it, unless
		 * another thread wrote those meanwhile. */
		unsigned m = hb_claim_own();
		first = m ? 0 : k;
		nh = m + 1;
	}
	GS_DO_TRACEPOINT(gilscope, hold, &ts->hb_state[first * GILSCOPE_HOLD_STATE],
			 &ts->hb_site[first * GILSCOPE_HOLD_SITE], nh);
	return 1;
}

/* Writes the first n pending records. */
static void pending_write(int n)
{
	if (__builtin_expect(t_mute, 0))
		return; /* went up after the process began to end */
	int guard = tl.guard;
	tl.guard = 1;
	for (int i = 0; i < n; i++) {
		const struct pending_ev *p = &tl.pend[i];
		int32_t site[GILSCOPE_SITE_LEN];
		const uint64_t state3[3] = { p->gil, p->seq, p->ts }; /* gil_seq's `state` */
		switch ((enum pev_type)p->type) {
		case PEV_REQUEST:
			/* Still pending at its acquire: it never waited (a
			 * waiter writes it before it sleeps, see ev_request). */
			if (pending_hold(i, n, 1)) {
				i += 2;
				break;
			}
			if (i + 1 < n && tl.pend[i + 1].type == PEV_ACQUIRE &&
			    tl.pend[i + 1].gil == p->gil &&
			    lttng_ust_tracepoint_enabled(gilscope, take)) {
				/* Answered without a wait: one record for both. */
				const struct pending_ev *a = &tl.pend[i + 1];
				const uint64_t state[6] = { p->gil, p->seq, p->ts, a->seq, a->ts,
							    a->switch_number };
				pending_site_acquire(a, site);
				GS_DO_TRACEPOINT(gilscope, take, state, site);
				i++;
				break;
			}
			GS_TRACEPOINT(gilscope, request, state3);
			break;
		case PEV_ACQUIRE:
			if (pending_hold(i, n, 0)) {
				i++;
				break;
			}
			if (lttng_ust_tracepoint_enabled(gilscope, acquire)) {
				const uint64_t state[4] = { p->gil, p->seq, p->ts, p->switch_number };
				pending_site_acquire(p, site);
				GS_DO_TRACEPOINT(gilscope, acquire, state, site);
			}
			break;
		case PEV_RELEASE:
			if (lttng_ust_tracepoint_enabled(gilscope, release)) {
				const uint64_t state[4] = { p->gil, p->seq, p->ts, p->forced };
				pending_site_packed(p, ATTRIB_AT_RELEASE, site);
				GS_DO_TRACEPOINT(gilscope, release, state, site);
			}
			break;
		case PEV_WAIT_TIMEOUT:
			rare_seq(GILSCOPE_RARE_WAIT_TIMEOUT, state3);
			break;
		case PEV_DROP_REQUEST:
			GS_TRACEPOINT(gilscope, drop_request, p->gil, p->seq, p->ts,
					     p->holder, p->interval_us);
			break;
		case PEV_FORCED_BEGIN:
			GS_TRACEPOINT(gilscope, forced_switch_begin, state3);
			break;
		case PEV_FORCED_END:
			GS_TRACEPOINT(gilscope, forced_switch_end, state3);
			break;
		case PEV_ABANDONED:
			rare_seq(GILSCOPE_RARE_REQUEST_ABANDONED, state3);
			break;
		case PEV_NONE:
			break;
		}
	}
	tl.guard = guard;
}

static inline uint64_t seq_take(struct gil *g, uint64_t n);

/* Just after p's place was taken: another thread has begun to end the
 * process. Muted threads (thread_mute_check) take places too, which
 * nothing writes; a place written after them would leave holes before
 * it (a thread woken from a forced-switch wait, its pending flag up and
 * unmuted since before, while muted threads went on taking the GIL). So
 * a place taken now is not written either: the GIL's order ends at the
 * last place taken before. */
static inline void place_after_dying(struct pending_ev *p)
{
	int d = atomic_load_explicit(&g_hot.dying, memory_order_relaxed);
	if (__builtin_expect(d != 0, 0) && d != self_tid())
		p->type = PEV_NONE;
}

/* A request kept without its place and time (ev_request) gets them now:
 * the thread is about to wait, or the request goes out without its
 * acquire. */
static inline void lazy_fill(void)
{
	if (__builtin_expect(tl.lazy >= 0, 0)) {
		struct pending_ev *q = &tl.pend[tl.lazy];
		tl.lazy = -1;
		q->seq = seq_take(tl.lazy_g, 1);
		q->ts = g_clock();
		place_after_dying(q);
	}
}

static void pending_flush(void)
{
	lazy_fill();
	if (tl.late)
		late_settle();
	/* Another thread's hold held back long goes before these: a reader
	 * that sees them waits for it (analyzer/reorder.c). */
	if (tl.npend)
		hb_rescue_check(tl.pend[tl.npend - 1].ts);
	pending_write(tl.npend);
	tl.npend = 0;
	tl.acq = -1;
	thread_slot_pending(0);
}

static inline int pev_enabled(enum pev_type type)
{
	switch (type) {
	case PEV_REQUEST:      return lttng_ust_tracepoint_enabled(gilscope, request);
	case PEV_ACQUIRE:      return lttng_ust_tracepoint_enabled(gilscope, acquire);
	case PEV_RELEASE:      return lttng_ust_tracepoint_enabled(gilscope, release);
	case PEV_WAIT_TIMEOUT: return lttng_ust_tracepoint_enabled(gilscope, rare);
	case PEV_DROP_REQUEST: return lttng_ust_tracepoint_enabled(gilscope, drop_request);
	case PEV_FORCED_BEGIN: return lttng_ust_tracepoint_enabled(gilscope, forced_switch_begin);
	case PEV_FORCED_END:   return lttng_ust_tracepoint_enabled(gilscope, forced_switch_end);
	case PEV_ABANDONED:    return lttng_ust_tracepoint_enabled(gilscope, rare);
	case PEV_NONE:         return 0;
	}
	return 0;
}

/* A new pending record with its place and time, or NULL while the event
 * is off. The sequence number is taken before the clock so that, among
 * events serialised by one mutex, time never goes back as seq goes up. */
static __attribute__((noinline)) struct pending_ev *pending_new(struct gil *g, enum pev_type type);

static inline struct pending_ev *pending_add(struct gil *g, enum pev_type type)
{
	/* The test inline, the capture out of line: with no session the GIL
	 * handlers then need fewer registers saved on every call. */
	return pev_enabled(type) ? pending_new(g, type) : NULL;
}

/* Whether this thread's pending flag is up (thread_slot_pending). */
static inline int thread_slot_up(void)
{
	return t_slot && atomic_load_explicit(&t_slot->pending, memory_order_relaxed);
}

/* n places in g's order. The first of a batch raises this thread's
 * pending flag before it: a place taken is a record owed, which a
 * process that ends waits for. */
static inline uint64_t seq_take(struct gil *g, uint64_t n)
{
	int raise = !thread_slot_up();
	if (raise)
		thread_slot_pending(1);
	uint64_t s = atomic_fetch_add_explicit(&g->seq, n, memory_order_relaxed);
	if (raise) {
		/* x86-64's lock-prefixed add above is the full barrier that
		 * thread_mute_check needs: only the compiler is held here. */
#if defined(__x86_64__)
		atomic_signal_fence(memory_order_seq_cst);
#else
		atomic_thread_fence(memory_order_seq_cst);
#endif
		thread_mute_check();
	}
	return s;
}

static __attribute__((noinline)) struct pending_ev *pending_new(struct gil *g, enum pev_type type)
{
	if (tl.npend == PENDING_MAX)
		pending_flush(); /* rare: see PENDING_MAX */
	int i = tl.npend++;
	struct pending_ev *p = &tl.pend[i];
	p->type = (uint8_t)type;
	p->gil = gil_addr(g);
	p->site_set = 0;
	if (type == PEV_REQUEST && !atomic_load_explicit(&g->holder, memory_order_relaxed)) {
		/* The GIL is free: see ev_request. */
		p->seq = p->ts = 0;
		tl.lazy = i;
		tl.lazy_g = g;
		return p;
	}
	if (tl.lazy >= 0) {
		if (type == PEV_ACQUIRE && tl.lazy_g == g) {
			/* Its acquire, nothing waited since: both places with
			 * one lock-prefixed add, and one time. */
			struct pending_ev *q = &tl.pend[tl.lazy];
			tl.lazy = -1;
			q->seq = seq_take(g, 2);
			p->seq = q->seq + 1;
			p->ts = q->ts = g_clock();
			place_after_dying(q);
			place_after_dying(p);
			return p;
		}
		lazy_fill();
	}
	p->seq = seq_take(g, 1);
	p->ts = g_clock();
	place_after_dying(p);
	return p;
}

static inline void ev_simple(struct gil *g, enum pev_type type)
{
	pending_add(g, type);
}

/* A request is made outside any mutex. When the GIL is free it stays
 * pending: the acquire most likely follows without a wait, and both go out
 * as one `take` record at the thread's next flush. When another thread
 * holds the GIL this one will wait: the request is written now, before
 * the lock, and not under M when the thread goes to sleep on the GIL's
 * condition variable (pthread_cond_timedwait writes what is pending then,
 * which only happens when the GIL was taken in between).
 *
 * A request that finds the GIL free is kept without its place and time
 * (tl.lazy): both are taken at the first place the thread could wait
 * after it (M or S busy, the GIL taken meanwhile: lock_lazy, lazy_fill),
 * or else with its acquire's, the place just before it. Nothing but our
 * code runs in between, never blocking, so the time is the same to within
 * that code (tens of ns), and a take costs one clock read and one
 * lock-prefixed add less (docs/events.md, `take`). */
static void ev_request(struct gil *g)
{
	if (tl.npend)
		pending_flush(); /* nothing should be pending here: keep order */
	if (pending_add(g, PEV_REQUEST) && tl.lazy < 0) /* the GIL was held */
		pending_flush();
}

static void ev_release(struct gil *g, int forced)
{
	struct pending_ev *p = pending_add(g, PEV_RELEASE);
	if (!p)
		return;
	p->forced = (uint8_t)forced;
	/* drop_gil stored the releasing thread state before it locked M. */
	p->has_tstate = g->rule == GILSCOPE_RULE_LAYOUT;
	p->tstate = p->has_tstate
		? gil_field(atomic_load_explicit(&g->m, memory_order_relaxed), GIL_LAST_HOLDER_FROM_M) : 0;
}

static void ev_acquire(struct gil *g)
{
	struct pending_ev *p = pending_add(g, PEV_ACQUIRE);
	if (!p)
		return;
	p->switch_number = 0;
	p->tstate = 0;
	p->has_tstate = 0;
	tl.acq = (int)(p - tl.pend);
}

/* take_gil has set locked, last_holder and switch_number (it does that
 * after locking S, before signalling switch_cond and unlocking S): read
 * them into the acquire captured at lock(S). */
static void ev_acquire_complete(struct gil *g)
{
	if (tl.acq < 0)
		return;
	struct pending_ev *p = &tl.pend[tl.acq];
	tl.acq = -1;
	if (g->rule != GILSCOPE_RULE_LAYOUT || p->gil != gil_addr(g))
		return;
	const pthread_mutex_t *m = atomic_load_explicit(&g->m, memory_order_relaxed);
	p->switch_number = gil_field(m, GIL_SWITCH_NUMBER_FROM_M);
	p->tstate = gil_field(m, GIL_LAST_HOLDER_FROM_M);
	p->has_tstate = 1;
}

static void ev_drop_request(struct gil *g, pid_t holder, uint32_t interval_us)
{
	struct pending_ev *p = pending_add(g, PEV_DROP_REQUEST);
	if (!p)
		return;
	p->holder = holder;
	p->interval_us = interval_us;
}

/* --- a hold's acquire, written out of the hold ---------------------------
 *
 * A thread that takes the GIL runs Python code as soon as take_gil
 * returns: whatever it does before is added to the hold, and under
 * contention another thread waits for it. So an acquire (or take) is not
 * written at the end of take_gil: its site is read there (the thread's
 * frames are still those of the moment it took the GIL) and it stays
 * pending, to be written with the release, out of the hold.
 *
 * A hold can last (a C call that never lets go): the acquire is also
 * published in the GIL (late_state, late_v), and a thread that times out
 * waiting for the GIL, or a process that ends, writes it for its holder
 * (take_for, acquire_for): a reader ordering by seq then never waits for
 * it more than a switch interval. Exactly one thread writes it, the one
 * that swaps late_state from its seq + 1 to 0: the holder at its release,
 * under M (no later hold can publish before that), or the rescuer, having
 * copied the values first (a later hold's values come with another
 * state: the swap fails and the copy is dropped). */

static inline int late_enabled(void)
{
	return lttng_ust_tracepoint_enabled(gilscope, rare);
}

/* End of take_gil, M let go: keep the acquire just captured (and the
 * request before it, still pending when the thread never waited) for the
 * release; what was pending before them is written now. */
static __attribute__((noinline)) int mutex_unlock_defer(pthread_mutex_t *mutex, struct gil *g)
{
	if (__builtin_expect(t_mute, 0))
		return mutex_unlock_flush(mutex); /* nothing of it is written */
	int rc = g_hot.mutex_unlock(mutex);
	int k = tl.npend - 1;
	struct pending_ev *q = NULL, *a;
	/* Before anything of this thread's goes out (pending_flush). */
	hb_rescue_check(tl.pend[k].ts);
	if (k > 0 && tl.pend[k - 1].type == PEV_REQUEST && tl.pend[k - 1].gil == tl.pend[k].gil)
		k--;
	if (k > 0) { /* a waiter's time-outs since its last sleep */
		pending_write(k);
		memmove(tl.pend, tl.pend + k, (size_t)(tl.npend - k) * sizeof(tl.pend[0]));
		tl.npend -= k;
	}
	if (tl.npend == 2)
		q = &tl.pend[0];
	a = &tl.pend[tl.npend - 1];
	int guard = tl.guard;
	tl.guard = 1; /* attribution may write code and stack events */
	pending_site_packed(a, ATTRIB_AT_ACQUIRE, a->site);
	tl.guard = guard;
	a->site_set = 1;
	atomic_store_explicit(&g->late_v[LATE_TID], (uint64_t)(uint32_t)tl.tid, memory_order_release);
	atomic_store_explicit(&g->late_v[LATE_REQ_SEQ], q ? q->seq : LATE_NO_REQ, memory_order_release);
	atomic_store_explicit(&g->late_v[LATE_REQ_TS], q ? q->ts : 0, memory_order_release);
	atomic_store_explicit(&g->late_v[LATE_TS], a->ts, memory_order_release);
	atomic_store_explicit(&g->late_v[LATE_SWITCH], a->switch_number, memory_order_release);
	for (int i = 0; i < GILSCOPE_SITE_LEN; i++)
		atomic_store_explicit(&g->late_v[LATE_SITE + i], (uint64_t)(uint32_t)a->site[i],
				      memory_order_release);
	atomic_store_explicit(&g->late_state, a->seq + 1, memory_order_release);
	tl.late = g;
	tl.late_seq = a->seq;
	tl.late_n = tl.npend;
	tl.acq = -1; /* complete as far as it will be (moved by the memmove) */
	/* Nothing in flight: an exit does not wait for a hold to end. */
	thread_slot_pending(0);
	return rc;
}

/* The holder, still holding the GIL: takes back its published acquire,
 * or finds it written by another thread and forgets it. under_m: the
 * holder holds the GIL's mutex M (its release), where every thread that
 * may write the acquire for it holds M too (a waiter that timed out), or
 * is ending the process and leaves alone a hold whose holder has its
 * pending flag up (late_rescue): then a plain load and store take it
 * back, without a lock-prefixed compare-and-swap. Else (a write during
 * the hold, out of M) the swap decides. */
static void late_settle_at(int under_m)
{
	struct gil *g = tl.late;
	uint64_t mine = tl.late_seq + 1;
	tl.late = NULL;
	/* Up before the acquire is taken back: a thread that ends the
	 * process meanwhile either waits for this one or finds the acquire
	 * still published and writes it (late_rescue_all); a muted thread
	 * leaves it there. */
	int raised = tl.npend && t_slot, muted = tl.npend && (thread_slot_writing(), t_mute);
	int kept;
	if (muted)
		kept = 0;
	else if (under_m && raised) {
		kept = atomic_load_explicit(&g->late_state, memory_order_relaxed) == mine;
		if (kept)
			atomic_store_explicit(&g->late_state, 0, memory_order_relaxed);
	} else
		kept = atomic_compare_exchange_strong(&g->late_state, &mine, 0);
	/* The deferred records come first: anything captured since (a wait
	 * on another GIL) follows them. */
	if (!kept)
		for (int i = 0; i < tl.late_n && i < tl.npend; i++)
			tl.pend[i].type = PEV_NONE;
}

static void late_settle(void)
{
	late_settle_at(0);
}

/* Whether thread tid (not this one) has its pending flag up: it may be
 * taking back its published acquire without a swap (late_settle_at). 0
 * for a thread with no slot, which only ever swaps. */
static int thread_slot_busy(int tid)
{
	int used = atomic_load(&g_slots_used);
	if (tid == self_tid())
		return 0;
	for (int i = 0; i < used; i++)
		if (atomic_load(&g_slots[i].used) && atomic_load(&g_slots[i].tid) == tid)
			return atomic_load(&g_slots[i].pending);
	return 0;
}

/* Writes g's published acquire for its holder, if any: this thread timed
 * out waiting for the GIL (under M: once a hold, a few hundred ns), or
 * the process ends (exiting: g_hot.dying is set). tl.guard is set.
 * Exiting, a hold whose holder has its pending flag up is left alone (1):
 * the holder may be taking it back under M without a swap
 * (late_settle_at); it writes it, or, muted, lowers its flag and leaves
 * it here for the next look (late_rescue_all). */
static int late_rescue_at(struct gil *g, int exiting)
{
	uint64_t st = atomic_load_explicit(&g->late_state, memory_order_acquire);
	uint64_t v[LATE_NV];
	if (!st)
		return 0;
	/* Up before the swap: a muted thread leaves the acquire published. */
	int was = thread_slot_writing();
	for (int i = 0; i < LATE_NV; i++)
		v[i] = atomic_load_explicit(&g->late_v[i], memory_order_acquire);
	/* The holder's flag is read after g_hot.dying was set (seq_cst): a
	 * holder that raises it later sees dying and keeps its hands off. */
	if (exiting && thread_slot_busy((int)(uint32_t)v[LATE_TID])) {
		thread_slot_pending(was);
		return 1;
	}
	if (t_mute || !atomic_compare_exchange_strong(&g->late_state, &st, 0)) {
		thread_slot_pending(was);
		return 0;
	}
	const int64_t code = (int32_t)(uint32_t)v[LATE_SITE], off = (int32_t)(uint32_t)v[LATE_SITE + 1],
		      stack = (int32_t)(uint32_t)v[LATE_SITE + 2], tid = (int32_t)(uint32_t)v[LATE_TID];
	if (v[LATE_REQ_SEQ] != LATE_NO_REQ) {
		const int64_t vals[10] = { (int64_t)gil_addr(g), (int64_t)v[LATE_REQ_SEQ],
					   (int64_t)v[LATE_REQ_TS], (int64_t)(st - 1), (int64_t)v[LATE_TS],
					   (int64_t)v[LATE_SWITCH], code, off, stack, tid };
		rare(GILSCOPE_RARE_TAKE_FOR, vals, 10, "", 0);
	} else {
		const int64_t vals[8] = { (int64_t)gil_addr(g), (int64_t)(st - 1), (int64_t)v[LATE_TS],
					  (int64_t)v[LATE_SWITCH], code, off, stack, tid };
		rare(GILSCOPE_RARE_ACQUIRE_FOR, vals, 8, "", 0);
	}
	thread_slot_pending(was);
	return 0;
}

static void late_rescue(struct gil *g)
{
	late_rescue_at(g, 0);
}

/* The process ends: every hold's acquire not yet written (a thread that
 * holds another interpreter's GIL, or this one's own when it cannot
 * write its pending records). One whose holder is busy writing is looked
 * at again once the busy threads are done (pending_wait_others). */
static void late_rescue_all(void)
{
	for (int pass = 0; pass < 2; pass++) {
		int n = atomic_load(&g_nslots), busy = 0;
		for (int i = 0; i < n && i < MAX_GILS; i++)
			if (atomic_load_explicit(&g_gils[i].m, memory_order_acquire))
				busy |= late_rescue_at(&g_gils[i], 1);
		if (!busy)
			break;
		if (!pass)
			pending_wait_others();
	}
}

/* --- registering a GIL --------------------------------------------------- */

static void gil_register(pthread_mutex_t *m, pthread_mutex_t *s, int rule)
{
	struct gil *g = NULL;
	pid_t tid = self_tid();

	/* Every traced CPython tells its recorder so at its first GIL, before
	 * its registration, which may never complete (preload_mark.h); a fork
	 * child too (CPython makes its GIL again after fork()). One that never
	 * takes a GIL has nothing to trace and is not counted (`python -V`,
	 * 3.6 without threads, a fork child that only execs). Once, under M
	 * and S. */
	int first = !g_marked;
	if (first) {
		g_marked = 1;
		mark_traced();
	}
	/* gil_found is a process's first event */
	if (process_lttng_ready())
		atomic_store(&g_resync_unsure, 1);
	/* The wait is over (a fork child's was, inside fork()): one killed
	 * during it leaves a mark without this line, and the recorder tells
	 * it from one that registered and then left nothing. */
	if (first)
		mark_wait_over(!process_lttng_gave_up());
	g_hot.mutex_lock(&g_registry);
	if (gil_by_m(m) || gil_by_s(s))
		goto end; /* another thread got there first */
	int n = atomic_load_explicit(&g_nslots, memory_order_relaxed);
	for (int i = 0; i < n && !g; i++)
		if (!atomic_load_explicit(&g_gils[i].m, memory_order_relaxed))
			g = &g_gils[i];
	if (!g) {
		if (n == MAX_GILS)
			goto end; /* more GILs than we track: ignore the rest */
		g = &g_gils[n];
	}
	/* This thread holds M and S and is about to own the GIL. */
	g->s = s;
	g->rule = rule;
	atomic_store_explicit(&g->holder, tid, memory_order_relaxed);
	g->drop_pending = 0;
	g->switch_no = 1;
	atomic_store_explicit(&g->seq, 0, memory_order_relaxed);
	atomic_store_explicit(&g->interval_us, rule == GILSCOPE_RULE_LAYOUT ? gil_read_interval(m) : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&g->late_state, 0, memory_order_relaxed);
	tl.in_m = g;
	/* gil_found tells a running session everything: no resync for it. */
	atomic_store(&g_resync_on, resync_state());
	atomic_store(&g_resync_probes, resync_probes());
	/* Written before the GIL is published, so that no other thread's
	 * event for it can be recorded before its gil_found; waited for by a
	 * process that ends meanwhile (thread_slot_writing). */
	int was = thread_slot_writing();
	if (!t_mute)
		rare_gil(GILSCOPE_RARE_GIL_FOUND, (uint64_t)(uintptr_t)m,
			 atomic_load_explicit(&g->interval_us, memory_order_relaxed), rule);
	thread_slot_pending(was);
	resync_after_found();
	atomic_store_explicit(&g->m, m, memory_order_release);
	if (g == &g_gils[n])
		atomic_store_explicit(&g_nslots, n + 1, memory_order_release);
	/* Stop looking, unless another thread made a GIL meanwhile: found
	 * first, this one must not end the search for that one. From 3.12
	 * on, the next GIL is announced by its mutexes' initialisation (see
	 * pthread_mutex_init). */
	if (atomic_load(&g_gils_making) > 0)
		atomic_fetch_sub(&g_gils_making, 1);
	set_armed(atomic_load(&g_gils_making) > 0);
	if (!g_exit_hooked) {
		/* Registered here, not in the constructor: exit handlers run last
		 * registered first, and liblttng-ust's own (set up by its
		 * listener threads after our constructor) must not run before. */
		g_exit_hooked = 1;
		atexit(at_exit);
	}
	/* CPython already counted this take (switch_number is 1): the
	 * first acquire is complete here. */
	ev_acquire(g);
	ev_acquire_complete(g);
end:
	g_hot.mutex_unlock(&g_registry);
}

static void pending_wait_dying(void);

static void gil_retire(struct gil *g)
{
	/* A hold's acquire still unwritten goes before the GIL's end, and
	 * so do the other threads' captured records: the GIL's memory is
	 * reused (the next subinterpreter's), and a thread descheduled
	 * between its last unlock of the old GIL and its flush would write
	 * its record after this gil_retired, where a reader takes it for the
	 * new GIL's (test_interpreters, 3.12, at load 12). */
	if (tl.late == g || (tl.npend && !tl.in_m))
		pending_flush();
	pending_wait_dying();
	late_rescue(g);
	hb_write_all(); /* the holds held back go before it too */
	g_hot.mutex_lock(&g_registry);
	if (atomic_load_explicit(&g->m, memory_order_relaxed)) {
		int was = thread_slot_writing();
		if (!t_mute)
			rare_int(GILSCOPE_RARE_GIL_RETIRED, (int64_t)gil_addr(g), "", 0);
		thread_slot_pending(was);
		atomic_store_explicit(&g->m, NULL, memory_order_release);
		g->s = NULL;
	}
	atomic_fetch_add(&g_arm_epoch, 1);
	set_armed(1);
	g_hot.mutex_unlock(&g_registry);
}

/* CPython's count of hand-offs, which take_gil bumps only when the GIL
 * goes to another thread state (3.7+, read under M), else ours, which
 * counts every take: a holder that lets the GIL go for I/O and takes it
 * back is no switch to CPython, and a waiter that timed out meanwhile
 * still sets gil_drop_request. */
static unsigned long gil_switches(const struct gil *g, const pthread_mutex_t *m)
{
	return g->rule == GILSCOPE_RULE_LAYOUT ? gil_field(m, GIL_SWITCH_NUMBER_FROM_M) : g->switch_no;
}

/* A timed wait inside take_gil came back (M held again). */
static void on_timedwait_done(struct gil *g, const pthread_mutex_t *m, int rc,
			      unsigned long saved_switch_no)
{
	pid_t tid = self_tid();
	if (rc != ETIMEDOUT)
		return;
	late_rescue(g);
	ev_simple(g, PEV_WAIT_TIMEOUT);
	/* CPython's own condition for setting gil_drop_request. */
	pid_t holder = atomic_load_explicit(&g->holder, memory_order_relaxed);
	if (holder && holder != tid && gil_switches(g, m) == saved_switch_no && !g->drop_pending) {
		g->drop_pending = 1;
		uint32_t interval_us = gil_interval_us(g);
		atomic_store_explicit(&g->interval_us, interval_us, memory_order_relaxed);
		ev_drop_request(g, holder, interval_us);
	}
}

/* lock(X) returned while looking for a GIL. */
static void look_at_lock(pthread_mutex_t *x)
{
	held_sync_epoch();
	if (tl.nheld == 1 && !tl.cand_m) {
		pthread_mutex_t *m = tl.held[0];
		ptrdiff_t d = (char *)x - (char *)m;
		if ((g_layout_rule && d == GIL_S_MINUS_M) || (g_behaviour_rule && m != x)) {
			tl.cand_m = m;
			tl.cand_s = x;
		}
	}
	held_push(x);
}

/* signal(c) while looking: confirms a candidate held as exactly [M, S]. */
static void look_at_signal(pthread_cond_t *c)
{
	pthread_mutex_t *m = tl.cand_m, *s = tl.cand_s;
	if (!m)
		return;
	tl.cand_m = tl.cand_s = NULL;
	if (tl.nheld != 2 || tl.held[0] != m || tl.held[1] != s)
		return;
	if (g_layout_rule && (char *)c == (char *)s - GIL_SWITCH_COND_FROM_S)
		gil_register(m, s, GILSCOPE_RULE_LAYOUT);
	else if (g_behaviour_rule)
		gil_register(m, s, GILSCOPE_RULE_BEHAVIOUR);
}

/* --- sessions that start while the process runs ----------------------
 * `gilscope record --pid` and flight-recorder snapshots see a process in
 * mid-life: its gil_found and thread names went by long ago. When the
 * gilscope_ctl:resync tracepoint goes from disabled to enabled for this
 * process, the next GIL event says again what a reader needs
 * (gilscope_ctl_tp.h, gilscope_tp.h). The test
 * is one load on the GIL's own path; nothing runs while no session is. */

#define MAX_NAMES 256
#define NAME_LEN 64
/* While resync is on, it is also repeated every RESYNC_PERIOD_NS (the
 * clock is read once per RESYNC_TICKS GIL events): the enabled state is
 * shared by every session, so a session that starts while another one
 * already enables resync sees no transition. */
#define RESYNC_PERIOD_NS 1000000000LL
#define RESYNC_TICKS 64
/* LTTng-UST registers a starting session's probes before it marks the
 * session active: what the first GIL event emits at the switch may be
 * dropped (longer when its listener thread is descheduled in between;
 * a fork child registering with a loaded daemon was seen recorded only
 * some hundreds of ms after its fork). It is said again 5, 50, 250 ms,
 * 1 s and 3 s after the switch. */
#define RESYNC_AGAINS 5
#define RESYNC_AGAIN_NS(left) ((left) == 5 ? 5000000LL : (left) == 4 ? 45000000LL :	\
			       (left) == 3 ? 200000000LL : (left) == 2 ? 750000000LL : 2000000000LL)

struct thread_name_slot {
	pid_t tid;                       /* 0: free */
	char name[NAME_LEN];
};

static struct thread_name_slot g_names[MAX_NAMES]; /* under g_registry */

static int thread_alive(pid_t tid)
{
	char path[48];
	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
	return access(path, F_OK) == 0;
}

static struct thread_name_slot *names_find(pid_t tid)
{
	for (int i = 0; i < MAX_NAMES; i++) {
		struct thread_name_slot *c = &g_names[((unsigned)tid + (unsigned)i) % MAX_NAMES];
		if (c->tid == tid || c->tid == 0)
			return c;
	}
	return NULL;
}

static void names_remember(pid_t tid, const char *name)
{
	g_hot.mutex_lock(&g_registry);
	struct thread_name_slot *slot = names_find(tid);
	if (!slot) {
		/* Full: forget the threads that ended (a server starting a
		 * thread per connection fills it with them). */
		for (int i = 0; i < MAX_NAMES; i++)
			if (!thread_alive(g_names[i].tid))
				g_names[i].tid = 0;
		slot = names_find(tid);
	}
	if (!slot)
		slot = &g_names[(unsigned)tid % MAX_NAMES]; /* 256 live names: one loses */
	slot->tid = tid;
	size_t len = strnlen(name, NAME_LEN - 1);
	memcpy(slot->name, name, len);
	slot->name[len] = '\0';
	g_hot.mutex_unlock(&g_registry);
}


static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* forget: a new session may have missed the code and stack descriptions
 * too (not on the periodic repeats: the session saw them). */
static __attribute__((noinline)) void resync_emit(int forget)
{
	uint32_t ngils = 0;
	int guard = tl.guard, was = thread_slot_writing();
	if (t_mute) {
		thread_slot_pending(was);
		return;
	}
	tl.guard = 1; /* LTTng's tracepoints and attrib_forget may lock */
	atomic_store(&g_resync_last, mono_ns());
	if (forget)
		attrib_forget();
	g_hot.mutex_lock(&g_registry);
	int n = atomic_load(&g_nslots);
	for (int i = 0; i < n; i++)
		ngils += atomic_load_explicit(&g_gils[i].m, memory_order_relaxed) != NULL;
	rare_int(GILSCOPE_RARE_RESYNC, ngils, "", g_tag);
	for (int i = 0; i < n; i++) {
		struct gil *g = &g_gils[i];
		if (atomic_load_explicit(&g->m, memory_order_relaxed))
			rare_gil(GILSCOPE_RARE_GIL_KNOWN, gil_addr(g),
				 atomic_load_explicit(&g->interval_us, memory_order_relaxed), g->rule);
	}
	for (int i = 0; i < MAX_NAMES; i++) {
		struct thread_name_slot *slot = &g_names[i];
		if (!slot->tid)
			continue;
		if (thread_alive(slot->tid))
			rare_int(GILSCOPE_RARE_THREAD_NAME, slot->tid, slot->name, g_tag);
		else
			slot->tid = 0; /* ended: forget it */
	}
	g_hot.mutex_unlock(&g_registry);
	tl.guard = guard;
	thread_slot_pending(was);
}

/* periodic: the switch is on (every RESYNC_PERIOD_NS); else only the
 * repeats still due. */
static __attribute__((noinline)) void resync_tick(int periodic)
{
	/* A plain load and store: a lost tick among racing GILs is harmless. */
	unsigned t = atomic_load_explicit(&g_resync_ticks, memory_order_relaxed) + 1;
	atomic_store_explicit(&g_resync_ticks, t, memory_order_relaxed);
	int again = atomic_load_explicit(&g_resync_again, memory_order_relaxed);
	if (!again && (!periodic || t % RESYNC_TICKS))
		return;
	int64_t since = mono_ns() - atomic_load_explicit(&g_resync_last, memory_order_relaxed);
	if ((periodic && since >= RESYNC_PERIOD_NS) || (again && since >= RESYNC_AGAIN_NS(again))) {
		atomic_store(&g_resync_again, again ? again - 1 : 0);
		resync_emit(again);
	}
}

/* On every lock of a GIL's mutex M, before anything is captured. A gain
 * says it all again: the switch went on, or a session now records events
 * this process did not record before (a fork child, or a process, that
 * ran before liblttng-ust's registration with the session daemon was
 * done: its gil_found went by unrecorded). */
static inline void resync_check(void)
{
	int on = resync_state();
	int was = atomic_load_explicit(&g_resync_on, memory_order_relaxed);
	void *probes = on ? resync_probes() : NULL;
	if (__builtin_expect(on && probes != atomic_load_explicit(&g_resync_probes,
								 memory_order_relaxed), 0)) {
		/* Another set of sessions records the events now: the one that
		 * was added may have missed everything (a fork child). */
		if (atomic_exchange(&g_resync_probes, probes) != probes)
			was = 0;
	}
	if (__builtin_expect(on != was, 0)) {
		was = atomic_exchange(&g_resync_on, on) & was;
		if (on & ~was) {
			resync_emit(1);
			atomic_store(&g_resync_again, RESYNC_AGAINS);
		}
	} else if (__builtin_expect(on, 0) &&
		   ((on & RS_CTL) || atomic_load_explicit(&g_resync_again, memory_order_relaxed))) {
		resync_tick(on & RS_CTL);
	}
}

/* LTTNG_UST_REGISTER_TIMEOUT as liblttng-ust reads it (once, when it
 * loads; fork children inherit it): ms to wait for the session daemon,
 * 3000 unset, -1 (any negative) forever. */
static int64_t register_timeout_ns(void)
{
	static int64_t timeout_ns = INT64_MIN;
	if (timeout_ns == INT64_MIN) {
		const char *v = getenv("LTTNG_UST_REGISTER_TIMEOUT");
		long ms = v && *v ? strtol(v, NULL, 10) : 3000;
		timeout_ns = ms < 0 ? -1 : (int64_t)ms * 1000000;
	}
	return timeout_ns;
}

/* liblttng-ust's registration with the session daemon (its constructor,
 * or its fork hook in a child) returned after elapsed_ns. Once its
 * timeout ran out it goes on unregistered: a session may enable this
 * process's events later, and start recording them later still. */
static void resync_registered(int64_t elapsed_ns)
{
	int64_t timeout = register_timeout_ns();
	if (timeout >= 0 && elapsed_ns >= timeout / 10 * 9) {
		atomic_store(&g_resync_unsure, 1);
		process_lttng_gave_up_set(); /* said with the mark (mark_wait_over) */
	}
}

/* A gil_found was just emitted. If the registration gave up waiting, the
 * session may have enabled the events without having started: gil_found
 * (and the first events, code descriptions) were then dropped, and
 * nothing changes state for resync_check() to see. Say it again 5, 50
 * and 250 ms later (a disabled session is caught by resync_check()). */
static void resync_after_found(void)
{
	if (!atomic_exchange(&g_resync_unsure, 0))
		return;
	atomic_store(&g_resync_last, mono_ns());
	atomic_store(&g_resync_again, RESYNC_AGAINS);
}

static inline int active(void)
{
	return atomic_load_explicit(&g_hot.mode, memory_order_relaxed) == MODE_ACTIVE && !tl.guard;
}

static inline int tracking(void)
{
	return atomic_load_explicit(&g_nslots, memory_order_relaxed) ||
	       atomic_load_explicit(&g_armed, memory_order_relaxed);
}

/* --- the interposed functions -------------------------------------------- */

/* The hot path of every mutex call in a traced Python (and in anything
 * else under the preload). With one GIL known and nothing being looked for
 * (the steady state) it compares the mutex with the GIL's two and goes
 * straight to that GIL's handler: no table search. Anything else (still
 * looking for a GIL, several GILs) takes the general path, which searches
 * the table. Passive processes never leave the first test. */

/* --- event derivation ----------------------------------------------------
 *
 * One handler per GIL mutex call, reached from the interposed function by
 * a tail call. With no session each one only keeps the GIL's state
 * (holder, switch count, what this thread is doing), a few loads and
 * stores, and ends in a tail call of the real function: no stack frame,
 * no clock, no guard. Capture (ev_*) happens only when its event is
 * enabled; anything that may lock a mutex of its own (LTTng's
 * tracepoints, resync_emit) sets tl.guard itself.
 *
 * The GIL's state (holder, switch_no, drop_pending) is read and written
 * under M only, so it is updated wherever this thread holds M, not
 * necessarily at the exact call that CPython's own state changes in. A
 * failed lock of M or S is not undone: CPython aborts on it
 * (Py_FatalError). */

/* Whether resync may have something to do (resync_check): false with
 * no session. */
static inline int resync_maybe(void)
{
	/* resync_state() is 0 while gilscope:rare is off. */
	return lttng_ust_tracepoint_enabled(gilscope, rare) ||
	       atomic_load_explicit(&g_resync_on, memory_order_relaxed);
}

/* lock(M), in take_gil (a thread that does not hold the GIL) or in
 * drop_gil (the holder). A request is written before the thread queues on
 * M; a release is captured as soon as M is held, before CPython signals
 * `cond`: the woken waiter then finds M free, not held for our capture.
 * Whether this thread holds the GIL cannot change meanwhile: only it can
 * clear or set that. */
/* lock(M) or lock(S) after a request kept without its time: the time is
 * read before the thread queues on a busy mutex. */
static inline int lock_lazy(pthread_mutex_t *mutex)
{
	if (tl.lazy < 0)
		return g_hot.mutex_lock(mutex);
	int rc = pthread_mutex_trylock(mutex);
	if (!rc)
		return 0;
	lazy_fill();
	return g_hot.mutex_lock(mutex);
}

static __attribute__((noinline)) int gil_lock_m_full(pthread_mutex_t *mutex, struct gil *g)
{
	/* Every request and release locks M first: checking here is enough. */
	resync_check();
	if (atomic_load_explicit(&g->holder, memory_order_relaxed) != self_tid()) {
		tl.req = g;
		ev_request(g);
		tl.in_m = g;
		return lock_lazy(mutex);
	}
	tl.in_m = g;
	int rc = g_hot.mutex_lock(mutex);
	/* The release's place first: it raises this thread's pending flag
	 * with the full barrier late_settle would otherwise need a fence for
	 * (thread_slot_writing). */
	ev_release(g, g->drop_pending);
	if (tl.late)
		late_settle_at(tl.late == g);
	atomic_store_explicit(&g->holder, 0, memory_order_relaxed);
	return rc;
}

/* The same with nothing to capture: no call but the tail call. */
static inline __attribute__((always_inline)) int gil_lock_m(pthread_mutex_t *mutex, struct gil *g)
{
	pid_t tid = tl.tid;
	if (__builtin_expect(!tid || resync_maybe() || pev_enabled(PEV_REQUEST) ||
			     pev_enabled(PEV_RELEASE), 0))
		return gil_lock_m_full(mutex, g);
	/* drop_gil with nothing to capture: holder is cleared at unlock(M),
	 * still under M. */
	if (atomic_load_explicit(&g->holder, memory_order_relaxed) == tid)
		tl.drop = g;
	else
		tl.req = g;
	tl.in_m = g;
	return g_hot.mutex_lock(mutex);
}

/* take_gil, M held, about to lock S and set locked = 1: the GIL changes
 * hands. Its state is kept under M, so it is updated before S is taken. */
static inline void gil_taken(struct gil *g, pid_t tid)
{
	atomic_store_explicit(&g->holder, tid, memory_order_relaxed);
	g->switch_no++;
	g->drop_pending = 0;
	tl.req = NULL;
}

/* take_gil's lock(S) with an acquire to capture once S is held. */
static __attribute__((noinline)) int gil_lock_s_full(pthread_mutex_t *mutex, struct gil *g)
{
	gil_taken(g, self_tid());
	int rc = lock_lazy(mutex);
	ev_acquire(g);
	return rc;
}

/* lock(S): with M held, take_gil; without, drop_gil's forced-switch wait
 * (see cond_wait). */
static inline __attribute__((always_inline)) int gil_lock_s(pthread_mutex_t *mutex, struct gil *g)
{
	pid_t tid = tl.tid;
	if (tl.in_m != g)
		return g_hot.mutex_lock(mutex);
	if (__builtin_expect(!tid || pev_enabled(PEV_ACQUIRE), 0))
		return gil_lock_s_full(mutex, g);
	gil_taken(g, tid);
	return g_hot.mutex_lock(mutex);
}

static __attribute__((noinline)) int mutex_unlock_flush(pthread_mutex_t *mutex);

/* unlock(S): in take_gil (M held), CPython has now counted the switch.
 * Nothing is written while M is held: the unlock is a tail call. Out of
 * M it ends drop_gil's forced-switch wait: both its ends are written now,
 * as the thread may not take the GIL again for long, or ever (it ends,
 * or sleeps until the process exits). */
static inline __attribute__((always_inline)) int gil_unlock_s(pthread_mutex_t *mutex, struct gil *g)
{
	if (tl.acq >= 0 && tl.in_m == g)
		ev_acquire_complete(g);
	else if (__builtin_expect(tl.npend && !tl.in_m, 0))
		return mutex_unlock_flush(mutex);
	return g_hot.mutex_unlock(mutex);
}

/* Out of M (and S): now the pending records are written. */
static __attribute__((noinline)) int mutex_unlock_flush(pthread_mutex_t *mutex)
{
	int rc = g_hot.mutex_unlock(mutex);
	pending_flush();
	return rc;
}

/* unlock(M): the end of take_gil or drop_gil. A release whose lock(M)
 * had nothing to capture (a session started in between) is captured
 * here, still under M. */
static __attribute__((noinline)) int gil_unlock_m_full(pthread_mutex_t *mutex, struct gil *g)
{
	if (tl.drop == g) {
		tl.drop = NULL;
		ev_release(g, g->drop_pending);
		if (tl.late)
			late_settle_at(tl.late == g);
		atomic_store_explicit(&g->holder, 0, memory_order_relaxed);
	} else if (tl.req == g) {
		/* Left take_gil without the GIL: a thread exiting at shutdown. */
		ev_simple(g, PEV_ABANDONED);
		tl.req = NULL;
	}
	tl.in_m = NULL;
	if (!tl.npend)
		return g_hot.mutex_unlock(mutex);
	/* The end of take_gil: the acquire waits for the release. */
	if (tl.pend[tl.npend - 1].type == PEV_ACQUIRE && tl.pend[tl.npend - 1].gil == gil_addr(g) &&
	    !tl.late && atomic_load_explicit(&g->holder, memory_order_relaxed) == tl.tid &&
	    late_enabled())
		return mutex_unlock_defer(mutex, g);
	return mutex_unlock_flush(mutex);
}

/* The same with nothing to capture or write: no call but the tail call. */
static inline __attribute__((always_inline)) int gil_unlock_m(pthread_mutex_t *mutex, struct gil *g)
{
	if (__builtin_expect(tl.npend || tl.req == g || pev_enabled(PEV_RELEASE), 0))
		return gil_unlock_m_full(mutex, g);
	if (tl.drop == g) {
		tl.drop = NULL;
		atomic_store_explicit(&g->holder, 0, memory_order_relaxed);
	}
	tl.in_m = NULL;
	return g_hot.mutex_unlock(mutex);
}

/* The GIL handler for a call on its mutex (GIL_M) or switch mutex
 * (GIL_S): the general path's dispatch. */
static int mutex_lock_gil(pthread_mutex_t *mutex, struct gil *g, int which)
{
	return which == GIL_M ? gil_lock_m(mutex, g) : gil_lock_s(mutex, g);
}

static int mutex_unlock_gil(pthread_mutex_t *mutex, struct gil *g, int which)
{
	return which == GIL_M ? gil_unlock_m(mutex, g) : gil_unlock_s(mutex, g);
}

/* The steady state's GIL, if m is its mutex M (hot_gil_m) or S
 * (hot_gil_s) and it is not being retired this instant (fast_refresh()
 * may be retiring it: the slot is trusted only while it still names this
 * mutex). No tl.guard test: our own code never locks a GIL's mutexes. */
static inline struct gil *hot_gil_m(const pthread_mutex_t *m)
{
	struct gil *g = atomic_load_explicit(&g_hot.g, memory_order_relaxed);
	return atomic_load_explicit(&g->m, memory_order_relaxed) == m ? g : NULL;
}

static inline struct gil *hot_gil_s(const pthread_mutex_t *s)
{
	struct gil *g = atomic_load_explicit(&g_hot.g, memory_order_relaxed);
	return g->s == s ? g : NULL;
}

static __attribute__((noinline)) int hot_lock_m(pthread_mutex_t *mutex)
{
	struct gil *g = hot_gil_m(mutex);
	return g ? gil_lock_m(mutex, g) : g_hot.mutex_lock(mutex);
}

static __attribute__((noinline)) int hot_lock_s(pthread_mutex_t *mutex)
{
	struct gil *g = hot_gil_s(mutex);
	return g ? gil_lock_s(mutex, g) : g_hot.mutex_lock(mutex);
}

static __attribute__((noinline)) int hot_unlock_m(pthread_mutex_t *mutex)
{
	struct gil *g = hot_gil_m(mutex);
	return g ? gil_unlock_m(mutex, g) : g_hot.mutex_unlock(mutex);
}

static __attribute__((noinline)) int hot_unlock_s(pthread_mutex_t *mutex)
{
	struct gil *g = hot_gil_s(mutex);
	return g ? gil_unlock_s(mutex, g) : g_hot.mutex_unlock(mutex);
}

/* The general path: while looking for a GIL, or with several. */
static __attribute__((noinline)) int mutex_lock_slow(pthread_mutex_t *mutex)
{
	if (tl.guard || atomic_load_explicit(&g_hot.mode, memory_order_relaxed) != MODE_ACTIVE)
		return g_hot.mutex_lock(mutex);
	int which;
	struct gil *g = gil_lookup(mutex, &which);
	if (g)
		return mutex_lock_gil(mutex, g, which);
	int rc = g_hot.mutex_lock(mutex);
	if (!rc && atomic_load_explicit(&g_armed, memory_order_relaxed))
		look_at_lock(mutex);
	return rc;
}

static __attribute__((noinline)) int mutex_unlock_slow(pthread_mutex_t *mutex)
{
	if (tl.guard || atomic_load_explicit(&g_hot.mode, memory_order_relaxed) != MODE_ACTIVE)
		return g_hot.mutex_unlock(mutex);
	int which;
	struct gil *g = gil_lookup(mutex, &which);
	if (g)
		return mutex_unlock_gil(mutex, g, which);
	if (atomic_load_explicit(&g_armed, memory_order_relaxed)) {
		held_sync_epoch();
		held_pop(mutex);
		if (mutex == tl.cand_s || mutex == tl.cand_m)
			tl.cand_m = tl.cand_s = NULL;
	}
	int rc = g_hot.mutex_unlock(mutex);
	if (tl.npend && !tl.in_m)
		pending_flush();
	else if (atomic_load_explicit(&g_hot.hb_any, memory_order_relaxed) && hb_flush_on() &&
		 !tl.in_m)
		hb_write_all();
	return rc;
}

static inline int vfork_child(void);

/* Any other mutex's unlock in a process that has held a hold back: the
 * gilscope_ctl:flush switch on (a stop or snapshot: liblttng-ust's
 * listener thread unlocks its own mutex right after it turned it on)
 * writes every held-back hold. Not under a GIL's mutex, not from our own
 * code (LTTng's writes unlock mutexes too). */
static __attribute__((noinline)) int mutex_unlock_hb(pthread_mutex_t *mutex)
{
	int rc = g_hot.mutex_unlock(mutex);
	if (__builtin_expect(hb_flush_on(), 0) && !tl.guard && !tl.in_m &&
	    atomic_load_explicit(&g_hot.mode, memory_order_relaxed) == MODE_ACTIVE &&
	    !vfork_child()) /* a vfork child's writes would be its parent's */
		hb_write_all();
	return rc;
}

/* The hot path of every mutex call: with one GIL known and nothing being
 * looked for (the steady state) a mutex that is neither of the GIL's two
 * costs two compares; the GIL's own go to their handler by a tail call,
 * which checks the rest (hot_gil). */
EXPORT int pthread_mutex_lock(pthread_mutex_t *mutex)
{
	/* complex first, with acquire: fast_refresh() publishes the hot
	 * pointers before it clears complex, so a reader that sees it clear
	 * also sees the GIL it was cleared for. */
	if (__builtin_expect(atomic_load_explicit(&g_hot.complex, memory_order_acquire), 0))
		return mutex_lock_slow(mutex);
	if (mutex == atomic_load_explicit(&g_hot.m, memory_order_relaxed))
		return hot_lock_m(mutex);
	if (__builtin_expect(mutex == atomic_load_explicit(&g_hot.s, memory_order_relaxed), 0))
		return hot_lock_s(mutex);
	return g_hot.mutex_lock(mutex);
}

EXPORT int pthread_mutex_unlock(pthread_mutex_t *mutex)
{
	if (__builtin_expect(atomic_load_explicit(&g_hot.complex, memory_order_acquire), 0))
		return mutex_unlock_slow(mutex);
	if (mutex == atomic_load_explicit(&g_hot.m, memory_order_relaxed))
		return hot_unlock_m(mutex);
	if (__builtin_expect(mutex == atomic_load_explicit(&g_hot.s, memory_order_relaxed), 0))
		return hot_unlock_s(mutex);
	if (__builtin_expect(atomic_load_explicit(&g_hot.hb_any, memory_order_relaxed), 0))
		return mutex_unlock_hb(mutex);
	return g_hot.mutex_unlock(mutex);
}

EXPORT int pthread_mutex_init(pthread_mutex_t *mutex, const pthread_mutexattr_t *attr)
{
	ENSURE_REAL(mutex_init);
	if (active() && atomic_load_explicit(&g_nslots, memory_order_relaxed)) {
		/* CPython re-initialises a GIL's mutexes in a fork child and may
		 * reuse a freed subinterpreter GIL's memory: retire it. */
		int which;
		struct gil *g = gil_lookup(mutex, &which);
		if (g) {
			tl.guard = 1;
			gil_retire(g);
			tl.guard = 0;
		} else if (g_many_gils && (char *)mutex - (char *)tl.last_init == GIL_S_MINUS_M) {
			/* create_gil initialises M, then S: a subinterpreter is
			 * making its own GIL (3.12+), taken right after. Look for
			 * it only now, so that a Python process pays for the search
			 * only while a GIL is being made. Already looking (another
			 * thread's GIL): go on, without a new epoch, which would
			 * clear that thread's candidate. */
			atomic_fetch_add(&g_gils_making, 1);
			if (!atomic_load_explicit(&g_armed, memory_order_relaxed)) {
				atomic_fetch_add(&g_arm_epoch, 1);
				set_armed(1);
			}
		}
		tl.last_init = mutex;
	}
	return real.mutex_init(mutex, attr);
}

/* signal(c) while a candidate GIL awaits confirmation. */
static __attribute__((noinline)) int cond_signal_look(pthread_cond_t *cond)
{
	if (active()) {
		tl.guard = 1;
		look_at_signal(cond);
		tl.guard = 0;
	}
	return real.cond_signal(cond);
}

EXPORT int pthread_cond_signal(pthread_cond_t *cond)
{
	if (__builtin_expect(tl.cand_m != NULL, 0))
		return cond_signal_look(cond);
	return real.cond_signal(cond);
}

EXPORT int pthread_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *mutex,
				  const struct timespec *abstime)
{
	ENSURE_REAL(cond_timedwait);
	struct gil *g = NULL;
	unsigned long saved = 0;
	if (active() && tracking() && (g = gil_by_m(mutex))) {
		saved = gil_switches(g, mutex);
		/* Still under M, but only after a time-out did anything get
		 * captured: write it before sleeping rather than hold it. */
		if (tl.npend)
			pending_flush();
	}
	int rc = real.cond_timedwait(cond, mutex, abstime);
	if (g) {
		tl.guard = 1;
		on_timedwait_done(g, mutex, rc, saved);
		tl.guard = 0;
	}
	return rc;
}

EXPORT int pthread_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex)
{
	ENSURE_REAL(cond_wait);
	struct gil *g = NULL;
	int forced = 0;
	if (active() && tracking()) {
		if ((g = gil_by_s(mutex))) {
			/* drop_gil waiting until another thread took the GIL:
			 * both ends are written at unlock(S). */
			forced = 1;
			tl.guard = 1;
			ev_simple(g, PEV_FORCED_BEGIN);
			tl.guard = 0;
		} else if ((g = gil_by_m(mutex)) && tl.npend) {
			pending_flush();
		}
	}
	int rc = real.cond_wait(cond, mutex);
	if (g && forced) {
		tl.guard = 1;
		ev_simple(g, PEV_FORCED_END);
		tl.guard = 0;
	}
	return rc;
}

/* Called by the Python-side hook (tracer/python/sitecustomize.py) through
 * ctypes, from the thread being named. */
EXPORT void gilscope_thread_name(const char *name)
{
	if (!name || atomic_load(&g_hot.mode) != MODE_ACTIVE)
		return;
	tl.guard = 1;
	process_lttng_ready();
	names_remember(self_tid(), name);
	int was = thread_slot_writing();
	if (!t_mute)
		rare_int(GILSCOPE_RARE_THREAD_NAME, self_tid(), name, g_tag);
	thread_slot_pending(was);
	tl.guard = 0;
}

/* --- start-up and fork ----------------------------------------------------- */

EXPORT pid_t fork(void)
{
	ENSURE_REAL(fork);
	if (!ust_fork.before)
		return real.fork();
	sigset_t saved;
	/* Held-back holds are written by the parent, before the fork: the
	 * child forgets any (one held back meanwhile, by another thread). */
	if (atomic_load(&g_hot.mode) == MODE_ACTIVE && !vfork_child())
		hb_write_all();
	ust_fork.before(&saved);
	pid_t pid = real.fork();
	int e = errno;
	if (pid == 0) {
		hb_forget_all();
		int64_t t0 = mono_ns();
		process_lttng_begin(); /* the child's own LTTng threads */
		ust_fork.after_child(&saved); /* registers the child */
		process_lttng_end();
		resync_registered(mono_ns() - t0);
	} else
		ust_fork.after_parent(&saved);
	errno = e;
	return pid;
}

/* A vfork child (CPython's _posixsubprocess when exec fails) runs in its
 * parent's memory, on its parent's thread: nothing here is its own, and
 * its exit, abort or signal to itself would end its parent in the trace. */
static inline int vfork_child(void)
{
	return getpid() != g_pid;
}

/* A process that ends while a thread holds the GIL (every process does
 * after finalization, and os._exit skips even that) would leave the last
 * hold without an end: mark the end. */
static void process_exit(int status)
{
	if (atomic_load(&g_hot.mode) != MODE_ACTIVE || vfork_child())
		return;
	tl.guard = 1;
	process_dying();
	process_lttng_ready();
	if (tl.npend)
		pending_flush();
	late_rescue_all();
	/* A writer preempted inside its event for longer than the wait (a
	 * loaded machine) is waited for, then the rest of its records and
	 * the acquire it may have published meanwhile. */
	if (pending_wait_others() && lttng_wait_inside()) {
		pending_wait_others();
		late_rescue_all();
	}
	hb_write_all();
	rare_int(GILSCOPE_RARE_PROCESS_EXIT, status, "", 0);
	lttng_close(); /* before liblttng-ust's teardown, or the kernel's kill */
	tl.guard = 0;
}

static void at_exit(void)
{
	process_exit(-1);
}

EXPORT __attribute__((noreturn)) void _exit(int status)
{
	if (!real.exit_now)
		resolve_all();
	process_exit(status);
	real.exit_now(status);
	__builtin_unreachable();
}

/* Would sig, sent to this process now, end it at once: default action
 * "terminate" or "core", not blocked in this thread? */
static int signal_ends_process(int sig)
{
	struct sigaction sa;
	sigset_t blocked;
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
	case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
		return 0; /* ignored or stopping by default */
	}
	if (sig <= 0 || sig >= NSIG || sigaction(sig, NULL, &sa) ||
	    (sa.sa_flags & SA_SIGINFO) || sa.sa_handler != SIG_DFL)
		return 0;
	return pthread_sigmask(SIG_BLOCK, NULL, &blocked) == 0 && !sigismember(&blocked, sig);
}

/* A process that signals itself to death runs no exit handler: CPython
 * ends so after an unhandled KeyboardInterrupt (kill(getpid(), SIGINT)
 * with the default action, once finalized). What its threads captured
 * and not yet wrote would be lost, cutting holes in the GIL's order: let
 * them write it first (200 ms at most), as at _exit. */
/* Other threads' pending records, for a process that is about to die
 * without exit handlers: 200 ms at most (a thread descheduled on a loaded
 * machine, past _exit's 50). */
static void pending_wait_dying(void)
{
	for (int i = 0; i < 4; i++)
		pending_wait_others();
}

/* 1 when the process was marked as dying (see process_dying_over). */
static int self_signal(int sig)
{
	if (atomic_load(&g_hot.mode) != MODE_ACTIVE || tl.guard || !signal_ends_process(sig) ||
	    vfork_child())
		return 0;
	tl.guard = 1;
	int marked = process_dying();
	if (tl.npend)
		pending_flush();
	late_rescue_all();
	pending_wait_dying();
	hb_write_all();
	tl.guard = 0;
	return marked;
}

EXPORT int kill(pid_t pid, int sig)
{
	static int (*real_kill)(pid_t, int);
	if (!real_kill)
		real_kill = (int (*)(pid_t, int))resolve("kill", NULL);
	if (pid != getpid())
		return real_kill(pid, sig);
	int marked = self_signal(sig);
	int rc = real_kill(pid, sig), e = errno;
	if (marked)
		process_dying_over(); /* still here */
	errno = e;
	return rc;
}

/* CPython's fatal errors (Py_FatalError: "Py_EndInterpreter: not the
 * last thread" in test_threading) end in abort(): the same wait, but the
 * aborting thread's own pending records are left alone, as it may be in
 * any state. */
EXPORT __attribute__((noreturn)) void abort(void)
{
	static void (*real_abort)(void);
	if (!real_abort)
		real_abort = (void (*)(void))resolve("abort", NULL);
	if (atomic_load(&g_hot.mode) == MODE_ACTIVE && !tl.guard && signal_ends_process(SIGABRT) &&
	    !vfork_child()) {
		tl.guard = 1;
		process_dying();
		late_rescue_all(); /* this thread's own hold too */
		pending_wait_dying();
		hb_write_all();
	}
	real_abort();
	__builtin_unreachable();
}

EXPORT int raise(int sig)
{
	static int (*real_raise)(int);
	if (!real_raise)
		real_raise = (int (*)(int))resolve("raise", NULL);
	int marked = self_signal(sig);
	int rc = real_raise(sig), e = errno;
	if (marked)
		process_dying_over(); /* still here */
	errno = e;
	return rc;
}

/* What the header's constructors would have done at load time (see
 * tp_defer.c): load liblttng-ust-tracepoint and register this library's
 * tracepoints. The counters then say how many of those constructors ran,
 * as if they had done it, so that their destructors undo it once. */
static void tracepoints_register(void)
{
	int inits = lttng_ust_tracepoint_registered - 1;
	int ptrs = lttng_ust_tracepoint_ptrs_registered - 1;
	lttng_ust_tracepoint_registered = 0;
	lttng_ust_tracepoint_ptrs_registered = 0;
	lttng_ust__tracepoints__init();
	lttng_ust__tracepoints__ptrs_init();
	if (inits > 1)
		lttng_ust_tracepoint_registered = inits;
	if (ptrs > 1)
		lttng_ust_tracepoint_ptrs_registered = ptrs;
}

/* Loads the tracepoint provider from the directory this library is in. */
static int probes_load(void)
{
	Dl_info info;
	char path[4096];
	if (!dladdr((void *)probes_load, &info) || !info.dli_fname)
		return -1;
	const char *slash = strrchr(info.dli_fname, '/');
	int dirlen = slash ? (int)(slash - info.dli_fname) : 1;
	snprintf(path, sizeof(path), "%.*s/libgilscope-probes.so",
		 dirlen, slash ? info.dli_fname : ".");
	if (!dlopen(path, RTLD_NOW | RTLD_GLOBAL)) {
		fprintf(stderr, "gilscope: cannot load %s: %s; running untraced\n", path, dlerror());
		return -1;
	}
	ust_fork.after_parent = (void (*)(sigset_t *))dlsym(RTLD_DEFAULT, "lttng_ust_after_fork_parent");
	ust_fork.after_child = (void (*)(sigset_t *))dlsym(RTLD_DEFAULT, "lttng_ust_after_fork_child");
	if (ust_fork.after_parent && ust_fork.after_child)
		ust_fork.before = (void (*)(sigset_t *))dlsym(RTLD_DEFAULT, "lttng_ust_before_fork");
	/* Events carry LTTng's own clock, whatever plugin may set it. */
	int (*get_read64)(uint64_t (**)(void)) = (int (*)(uint64_t (**)(void)))
		dlsym(RTLD_DEFAULT, "lttng_ust_trace_clock_get_read64_cb");
	uint64_t (*read64)(void) = NULL;
	if (get_read64 && !get_read64(&read64) && read64)
		g_clock = read64;
	return 0;
}

static void after_fork_child(void)
{
	/* One thread survives with the parent's TLS; the GILs are re-created
	 * by CPython (pthread_mutex_init) and found again. */
	process_after_fork_child();
	tl.tid = 0;
	tl.req = NULL;
	tl.in_m = NULL;
	tl.drop = NULL;
	tl.late = NULL;
	tl.npend = 0; /* the parent writes its own */
	tl.acq = -1;
	tl.lazy = -1;
	atomic_store(&g_resync_again, 0); /* the parent's */
	atomic_store(&g_resync_unsure, 0);
	atomic_store(&g_hot.dying, 0); /* another thread's, in the parent */
	atomic_store(&g_lttng_unslotted, 0); /* the parent's other threads' */
	g_pid = getpid();
	g_marked = 0; /* at its first GIL (gil_register) */
	int used = atomic_load(&g_slots_used);
	for (int i = 0; i < used; i++) {
		if (&g_slots[i] != t_slot) {
			atomic_store_explicit(&g_slots[i].in_lttng, 0, memory_order_relaxed);
			atomic_store_explicit(&g_slots[i].pending, 0, memory_order_relaxed);
			atomic_store_explicit(&g_slots[i].used, 0, memory_order_relaxed);
		}
	}
	if (t_slot) {
		atomic_store_explicit(&t_slot->pending, 0, memory_order_relaxed);
		atomic_store_explicit(&t_slot->tid, self_tid(), memory_order_relaxed); /* a new tid */
	}
	tl.nheld = 0;
	tl.cand_m = tl.cand_s = NULL;
	for (int i = 0; i < MAX_GILS; i++) {
		atomic_store_explicit(&g_gils[i].m, NULL, memory_order_relaxed);
		atomic_store_explicit(&g_gils[i].late_state, 0, memory_order_relaxed);
	}
	atomic_store(&g_nslots, 0);
	atomic_store(&g_gils_making, 0); /* other threads' are gone */
	atomic_fetch_add(&g_arm_epoch, 1);
	if (atomic_load(&g_hot.mode) == MODE_ACTIVE)
		atomic_store(&g_armed, 1);
	fast_refresh();
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	g_registry = fresh;
	attrib_after_fork_child();
	memset(g_names, 0, sizeof(g_names));
}

static int parse_version(const char *v, int *major, int *minor)
{
	char *end;
	long a = strtol(v, &end, 10);
	if (end == v || *end != '.')
		return -1;
	long b = strtol(end + 1, &end, 10);
	*major = (int)a;
	*minor = (int)b;
	return 0;
}

/* GILSCOPE_ATTRIB (set by `gilscope record`): off, site or stack
 * (default: stack). */
static enum attrib_mode attrib_mode_from_env(void)
{
	const char *a = getenv("GILSCOPE_ATTRIB");
	if (a && !strcmp(a, "off"))
		return ATTRIB_OFF;
	if (a && !strcmp(a, "site"))
		return ATTRIB_SITE;
	return ATTRIB_STACK;
}

/* GILSCOPE_TEST_UNKNOWN_PYTHON=1 makes this interpreter look like a minor
 * version the tracer has no offsets for: a test-only knob (the preload's own
 * configuration) that shows an unknown CPython is traced without code
 * locations and never crashes. */
static int attrib_minor(int minor)
{
	const char *t = getenv("GILSCOPE_TEST_UNKNOWN_PYTHON");
	return t && !strcmp(t, "1") ? 99 : minor;
}

__attribute__((constructor)) static void gilscope_init(void)
{
	int major = 0, minor = 0;

	if (!atomic_load(&g_resolved))
		resolve_all();
	/* Children of a traced program inherit LD_PRELOAD: only CPython is
	 * looked at, everything else runs untouched. */
	const char *(*py_get_version)(void) =
		(const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
	if (!py_get_version)
		return;
	const char *v = py_get_version();
	if (!v || parse_version(v, &major, &minor))
		return;
	const char *sp = strchr(v, ' ');
	size_t len = sp ? (size_t)(sp - v) : strlen(v);
	if (len >= sizeof(g_version))
		len = sizeof(g_version) - 1;
	memcpy(g_version, v, len);
	g_version[len] = '\0';

	if (major != 3 || minor < 6) {
		fprintf(stderr, "gilscope: Python %s has the old GIL, which gilscope does not "
			"trace; running untraced\n", g_version);
		return;
	}
	if (strstr(v, "free-threading")) {
		fprintf(stderr, "gilscope: Python %s is a free-threaded build, which gilscope "
			"does not trace; running untraced\n", g_version);
		return;
	}
	const char *tag = getenv("GILSCOPE_TAG");
	if (tag)
		g_tag = (uint32_t)strtoul(tag, NULL, 10);
	g_pid = getpid();
	process_watch_start();
	int64_t t0 = mono_ns();
	process_lttng_begin(); /* loading liblttng-ust starts its threads */
	/* The provider first: its dlopen starts the listener's registration
	 * with the session daemon, which the first event waits for, so the
	 * tracepoints' own registration overlaps it; liblttng-ust-tracepoint
	 * is then already loaded (no second ld.so.cache lookup). */
	int loaded = probes_load();
	if (!loaded)
		tracepoints_register();
	process_lttng_end();
	/* Its wait for the registration is left to the first event
	 * (process_lttng_ready), but none is made with a timeout of 0. */
	resync_registered(mono_ns() - t0);
	if (loaded)
		return;
	attrib_init(major, attrib_minor(minor), attrib_mode_from_env(), g_version);
	g_behaviour_rule = minor == 6;
	g_layout_rule = minor >= 7;
	g_many_gils = minor >= 12;
	pthread_atfork(NULL, NULL, after_fork_child);
	g_slot_key_ok = pthread_key_create(&g_slot_key, thread_slot_release) == 0;
	atomic_store(&g_hot.mode, MODE_ACTIVE);
	set_armed(1);
}
