/* Code ids and stack ids for GIL events (attrib.h).
 *
 * A code object gets an id the first time a GIL event of this process
 * shows it, and a `code` event describes it. The per-process table is keyed
 * by the object's address and checked against its identity (pyframe_ident)
 * on every use, so an address reused by another code object gets a new id
 * and a new `code` event, never the old name. Stacks (lists of code ids and
 * offsets) are interned by a 64-bit hash the same way.
 *
 * Each thread keeps a small cache of both, read without a lock; the shared
 * tables behind them are guarded by a spin lock, held only on a miss. */
#include "attrib.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define LTTNG_UST_TRACEPOINT_HIDDEN_DEFINITION /* as in preload.c */
#include "gilscope_tp.h"
#include "preload_process.h"
#include "pyframe.h"

#define TLS static __thread __attribute__((tls_model("initial-exec")))

#define CODE_SLOTS 8192
#define STACK_SLOTS 16384
/* Each shared table starts with a small part that is looked in first and
 * filled first: a hash spreads a process's first few dozen code objects
 * and stacks over as many pages of the whole table (1 MiB), and each
 * first touch of a page is a page fault (13 us each in a VM here: about 1
 * ms of every traced start-up). The rest of the table takes what does not
 * fit there. */
#define CODE_HOT 256                     /* 24 KiB */
#define STACK_HOT 512                    /* 8 KiB */
#define PROBES 16
#define T_CODE_SLOTS 64
#define T_STACK_SLOTS 32

struct code_slot {
	struct pyframe_ident_full id;
	uint32_t cid;
	uint32_t gen; /* slot is empty unless gen == g_gen */
};

/* A thread's cached code: checked against the object's pointers only. */
struct t_code_slot {
	struct pyframe_ident id;
	uint32_t cid;
	uint32_t gen;
};

/* What a thread's last release found: its acquire, with no Python run in
 * between (it had no GIL), finds the same frames. */
struct t_last {
	const void *tstate, *top;
	struct attrib_site site;
	unsigned gen;
	int valid;
};

/* A whole site a thread met recently: the frames its walk found (each
 * code object with its identity and offset) and the ids they got. The
 * same walk again, with every code object still the one it was, has the
 * same code ids and the same stack id: no hashing, no table. Stacks
 * deeper than T_SITE_DEPTH always take the long way. */
#define T_SITES 4
#define T_SITE_DEPTH 24
struct t_site {
	unsigned gen;                    /* empty unless gen == g_gen */
	int n;
	struct attrib_site site;
	int32_t offsets[T_SITE_DEPTH];
	struct pyframe_ident ids[T_SITE_DEPTH];
};

struct stack_slot {
	uint64_t hash;
	uint32_t sid;
	uint32_t gen;
};

static enum attrib_mode g_mode;
static atomic_uint g_gen = 1;
static atomic_flag g_lock = ATOMIC_FLAG_INIT;
static uint32_t g_next_code = 1, g_next_stack = 1;
static uint32_t g_codes_cold, g_stacks_cold; /* see probe() */
static struct code_slot g_codes[CODE_SLOTS];
static struct stack_slot g_stacks[STACK_SLOTS];

TLS struct t_code_slot t_codes[T_CODE_SLOTS];
TLS struct stack_slot t_stacks[T_STACK_SLOTS];
TLS struct t_last t_last;
TLS struct t_site t_sites[T_SITES];
TLS struct t_site *t_site_last; /* the one this thread's last walk found or filled */

static void lock(void)
{
	while (atomic_flag_test_and_set_explicit(&g_lock, memory_order_acquire))
		__builtin_ia32_pause();
}

static void unlock(void)
{
	atomic_flag_clear_explicit(&g_lock, memory_order_release);
}

static inline uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

static inline uint32_t ptr_hash(const void *p)
{
	uint64_t v = (uint64_t)(uintptr_t)p;
	v ^= v >> 17;
	v *= 0xed5ad4bbU;
	return (uint32_t)(v ^ (v >> 29));
}

void attrib_init(int major, int minor, enum attrib_mode mode, const char *version)
{
	g_mode = ATTRIB_OFF;
	if (mode == ATTRIB_OFF)
		return;
	enum pyframe_status st = pyframe_init(major, minor);
	if (st != PYFRAME_OK) {
		fprintf(stderr, "gilscope: Python %s: %s; GIL events are recorded without their "
			"code location\n", version, pyframe_status_str(st));
		return;
	}
	g_mode = mode;
}

enum attrib_mode attrib_mode_get(void)
{
	return g_mode;
}

void attrib_forget(void)
{
	atomic_fetch_add(&g_gen, 1);
}

/* The first parts' pages, each otherwise a page fault at the first code
 * object or stack that hashes there (about ten per start-up, after the
 * process's first event: 13 us each in a VM). */
void attrib_warm(void)
{
	if (g_mode == ATTRIB_OFF)
		return;
	process_pages_populate(g_codes, CODE_HOT * sizeof(g_codes[0]));
	process_pages_populate(g_stacks, STACK_HOT * sizeof(g_stacks[0]));
}

void attrib_after_fork_child(void)
{
	atomic_flag_clear(&g_lock);
	atomic_fetch_add(&g_gen, 1);
}

/* What a slot of a shared table holds, against the key looked up. */
enum slot_is { SLOT_FREE, SLOT_OTHER, SLOT_SAME };
typedef enum slot_is (*slot_look)(uint64_t i, const void *key, unsigned gen);

/* Under the lock: linear probing of PROBES slots from h in slots
 * [base, base + n), look() saying what slot i holds. The slot that holds
 * key (*same = 1), else the first free one (*spare = 1), else h's own:
 * the run is full and its first slot gives way (its key, if seen again,
 * gets a new id). */
static inline uint64_t probe_part(uint64_t h, uint64_t base, uint64_t n, slot_look look,
				  const void *key, unsigned gen, int *same, int *spare)
{
	uint64_t free_at = UINT64_MAX;

	*same = 0;
	for (int i = 0; i < PROBES; i++) {
		uint64_t at = base + (h + (uint64_t)i) % n;
		enum slot_is is = look(at, key, gen);

		if (is == SLOT_SAME) {
			*same = 1;
			return at;
		}
		if (is == SLOT_FREE && free_at == UINT64_MAX)
			free_at = at;
	}
	*spare = free_at != UINT64_MAX;
	return *spare ? free_at : base + h % n;
}

/* The same over a table of n slots whose first hot ones are looked in and
 * filled first; the rest only once something was put there (*cold: how
 * many times, never reset): a look is a page fault too. */
static inline uint64_t probe(uint64_t h, uint64_t hot, uint64_t n, slot_look look, const void *key,
			     unsigned gen, uint32_t *cold, int *same)
{
	int spare_hot, spare;
	uint64_t at_hot = probe_part(h, 0, hot, look, key, gen, same, &spare_hot);
	if (*same || (spare_hot && !*cold))
		return at_hot;
	uint64_t at = probe_part(h, hot, n - hot, look, key, gen, same, &spare);
	if (*same || !spare_hot) {
		*cold += !*same;
		return at;
	}
	return at_hot;
}

/* key: the code object's address, the ident checked after. */
static enum slot_is code_look(uint64_t i, const void *key, unsigned gen)
{
	const struct code_slot *c = &g_codes[i];

	return c->gen != gen ? SLOT_FREE : c->id.id.code == key ? SLOT_SAME : SLOT_OTHER;
}

static enum slot_is stack_look(uint64_t i, const void *key, unsigned gen)
{
	const struct stack_slot *c = &g_stacks[i];

	return c->gen != gen ? SLOT_FREE : c->hash == *(const uint64_t *)key ? SLOT_SAME : SLOT_OTHER;
}

/* The line table of the code event being written, as hex text: under the
 * lock, so one buffer serves (not the stack: a thread's may be small). */
static char g_lt_hex[2 * PYFRAME_MAX_LINETABLE + 1];

/* Under the lock: a new code id, described by a `code` event. */
static uint32_t code_new(const struct pyframe_ident *id)
{
	static const char digits[] = "0123456789abcdef";
	uint32_t cid = g_next_code++;
	if (lttng_ust_tracepoint_enabled(gilscope, code)) {
		struct pyframe_code_desc d;
		pyframe_describe(id->code, &d);
		for (uint32_t i = 0; i < d.lt_len; i++) {
			g_lt_hex[2 * i] = digits[d.linetable[i] >> 4];
			g_lt_hex[2 * i + 1] = digits[d.linetable[i] & 15];
		}
		g_lt_hex[2 * d.lt_len] = '\0';
		if (gilscope_lttng_enter()) {
			lttng_ust_do_tracepoint(gilscope, code, cid, d.firstlineno, d.lt_format,
						d.filename, d.name, g_lt_hex);
			gilscope_lttng_leave();
		}
	}
	return cid;
}

static uint32_t code_id(const void *code, unsigned gen)
{
	struct pyframe_ident id;
	pyframe_ident(code, &id);
	uint32_t h = ptr_hash(code);
	struct t_code_slot *t = &t_codes[h % T_CODE_SLOTS];
	if (t->gen == gen && pyframe_ident_equal(&t->id, &id))
		return t->cid;

	struct pyframe_ident_full full;
	pyframe_ident_full(&id, &full);
	int same;
	lock();
	struct code_slot *s =
		&g_codes[probe(h, CODE_HOT, CODE_SLOTS, code_look, code, gen, &g_codes_cold, &same)];
	if (!same)
		s->gen = 0;
	if (s->gen != gen || !pyframe_ident_full_equal(&s->id, &full)) {
		s->id = full;
		s->cid = code_new(&id);
		s->gen = gen;
	}
	t->id = id;
	t->cid = s->cid;
	t->gen = gen;
	unlock();
	return t->cid;
}

static uint32_t stack_id(const uint32_t *codes, const int32_t *offsets, int n, unsigned gen)
{
	uint64_t h = (uint64_t)n;
	for (int i = 0; i < n; i++)
		h = mix(h, ((uint64_t)codes[i] << 32) | (uint32_t)offsets[i]);
	/* The slots are taken from the low bits, which mix() leaves alike
	 * for stacks that differ in their code ids only (the high half of
	 * each word): without the high bits folded in, such stacks all
	 * probed the same slots and pushed each other out, each coming back
	 * with a new id and a new `stack` event. */
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	h |= 1;
	struct stack_slot *t = &t_stacks[h % T_STACK_SLOTS];
	if (t->gen == gen && t->hash == h)
		return t->sid;

	int same;
	lock();
	struct stack_slot *s =
		&g_stacks[probe(h, STACK_HOT, STACK_SLOTS, stack_look, &h, gen, &g_stacks_cold, &same)];
	if (!same) {
		s->hash = h;
		s->sid = g_next_stack++;
		s->gen = gen;
		if (lttng_ust_tracepoint_enabled(gilscope, stack) && gilscope_lttng_enter()) {
			lttng_ust_do_tracepoint(gilscope, stack, s->sid, codes, offsets, (uint32_t)n);
			gilscope_lttng_leave();
		}
	}
	*t = *s;
	unlock();
	return t->sid;
}

static inline int site_offsets_match(const struct t_site *c, const struct pyframe *fr, int n)
{
	for (int i = 0; i < n; i++)
		if (c->offsets[i] != fr[i].offset)
			return 0;
	return 1;
}

/* hot: see attrib_read */
static __attribute__((hot)) void site_read(const void *tstate, struct attrib_site *out, unsigned gen);

static void site_read(const void *tstate, struct attrib_site *out, unsigned gen)
{
	/* The site this thread's last walk found, checked first in one pass
	 * (a churning thread's release is at the same site every time): the
	 * entry the walk below would find, as an entry's index depends on
	 * its frames only. */
	struct t_site *c = t_site_last;
	if (g_mode == ATTRIB_STACK && c && c->gen == gen &&
	    pyframe_walk_match(tstate, c->ids, c->offsets, c->n)) {
		*out = c->site;
		return;
	}
	c = NULL;
	struct pyframe fr[PYFRAME_MAX_DEPTH];
	int n = g_mode == ATTRIB_STACK ? pyframe_walk(tstate, fr, PYFRAME_MAX_DEPTH) : pyframe_top(tstate, fr);
	if (n <= 0)
		return;
	if (g_mode != ATTRIB_STACK) {
		out->code = code_id(fr[0].code, gen);
		out->offset = fr[0].offset;
		return;
	}
	if (n <= T_SITE_DEPTH) {
		c = &t_sites[(ptr_hash(fr[0].code) ^ (uint32_t)fr[0].offset ^ (uint32_t)n) % T_SITES];
		t_site_last = c;
		if (c->gen == gen && c->n == n && site_offsets_match(c, fr, n) &&
		    pyframe_idents_match(fr, c->ids, n)) {
			*out = c->site;
			return;
		}
	}
	uint32_t codes[PYFRAME_MAX_DEPTH];
	int32_t offsets[PYFRAME_MAX_DEPTH];
	for (int i = 0; i < n; i++) {
		codes[i] = code_id(fr[i].code, gen);
		offsets[i] = fr[i].offset;
	}
	out->code = codes[0];
	out->offset = offsets[0];
	out->stack = stack_id(codes, offsets, n, gen);
	if (c) {
		c->gen = gen;
		c->n = n;
		c->site = *out;
		for (int i = 0; i < n; i++) {
			c->offsets[i] = offsets[i];
			pyframe_ident(fr[i].code, &c->ids[i]);
		}
	}
}

void attrib_read(const void *tstate, enum attrib_at at, struct attrib_site *out)
{
	out->code = 0;
	out->offset = -1;
	out->stack = 0;
	if (g_mode == ATTRIB_OFF || !tstate)
		return;
	unsigned gen = atomic_load_explicit(&g_gen, memory_order_relaxed);
	const void *top = pyframe_top_addr(tstate);
	if (at == ATTRIB_AT_ACQUIRE && t_last.valid && t_last.tstate == tstate && t_last.top == top &&
	    t_last.gen == gen) {
		*out = t_last.site;
		t_last.valid = 0;
		return;
	}
	if (top)
		site_read(tstate, out, gen);
	t_last.valid = at == ATTRIB_AT_RELEASE;
	t_last.tstate = tstate;
	t_last.top = top;
	t_last.site = *out;
	t_last.gen = gen;
}
