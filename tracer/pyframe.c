/* Per-version layout of CPython's frames and code objects (x86_64), and a
 * bounded walk over them. pyframe.h says when this may be called.
 *
 * 3.7 to 3.12: offsets measured from the pyenv builds' DWARF (gdb
 * `ptype /o`), checked on every interpreter by tests/tracer/test_sites.py
 * against the program's own traceback. 3.13+: CPython's _Py_DebugOffsets,
 * at the start of the exported _PyRuntime, whose own layout grows with each
 * minor version: the section positions below are per version and the
 * values read are checked for plausibility before use. */
#include "pyframe.h"

#include <dlfcn.h>
#include <string.h>

enum frame_kind {
	KIND_FRAME_OBJECT = 1, /* 3.7-3.10: tstate->frame, PyFrameObject chain */
	KIND_CFRAME = 2,       /* 3.11-3.12: tstate->cframe->current_frame */
	KIND_IFRAME = 3,       /* 3.13+: tstate->current_frame */
};

struct layout {
	int kind;
	int minor;
	ptrdiff_t rt_finalizing;  /* _PyRuntime's finalizing thread state */
	ptrdiff_t ts_frame, cf_current;
	/* PyFrameObject (3.7-3.10) */
	ptrdiff_t f_back, f_code, f_lasti;
	int lasti_mult;           /* f_lasti in bytes (1) or code units (2) */
	/* _PyInterpreterFrame (3.11+) */
	ptrdiff_t if_previous, if_code, if_instr, if_owner;
	uintptr_t code_tag_mask;  /* 3.14+: f_executable is a tagged stackref */
	int owner_cstack;         /* owner >= this: frame of the C stack (0: none) */
	ptrdiff_t co_firsttraceable; /* < 0: unknown */
	/* PyCodeObject */
	ptrdiff_t co_filename, co_name, co_linetable, co_firstlineno, co_code_adaptive;
	int lt_format;
	/* objects */
	ptrdiff_t ob_type, bytes_size, bytes_sval;
	ptrdiff_t str_len, str_hash, str_state, str_ascii_size, str_compact_size;
};

static struct layout L;
static const void *g_code_type, *g_frame_type;
static const char *g_runtime;
static int g_ready;

#define RD(type, base, off) (*(type const *)(const void *)((const char *)(base) + (off)))

static const struct layout table[] = {
	/* 3.7 */ { .kind = KIND_FRAME_OBJECT, .minor = 7, .rt_finalizing = 8, .ts_frame = 24,
		.f_back = 24, .f_code = 32, .f_lasti = 104, .lasti_mult = 1,
		.co_filename = 96, .co_name = 104, .co_linetable = 112, .co_firstlineno = 36,
		.lt_format = PYFRAME_LT_LNOTAB, .str_ascii_size = 48, .str_compact_size = 72 },
	/* 3.8 */ { .kind = KIND_FRAME_OBJECT, .minor = 8, .rt_finalizing = 16, .ts_frame = 24,
		.f_back = 24, .f_code = 32, .f_lasti = 104, .lasti_mult = 1,
		.co_filename = 104, .co_name = 112, .co_linetable = 120, .co_firstlineno = 40,
		.lt_format = PYFRAME_LT_LNOTAB, .str_ascii_size = 48, .str_compact_size = 72 },
	/* 3.9 */ { .kind = KIND_FRAME_OBJECT, .minor = 9, .rt_finalizing = 16, .ts_frame = 24,
		.f_back = 24, .f_code = 32, .f_lasti = 104, .lasti_mult = 1,
		.co_filename = 104, .co_name = 112, .co_linetable = 120, .co_firstlineno = 40,
		.lt_format = PYFRAME_LT_LNOTAB, .str_ascii_size = 48, .str_compact_size = 72 },
	/* 3.10 */ { .kind = KIND_FRAME_OBJECT, .minor = 10, .rt_finalizing = 16, .ts_frame = 24,
		.f_back = 24, .f_code = 32, .f_lasti = 96, .lasti_mult = 2,
		.co_filename = 104, .co_name = 112, .co_linetable = 120, .co_firstlineno = 40,
		.lt_format = PYFRAME_LT_LINETABLE, .str_ascii_size = 48, .str_compact_size = 72 },
	/* 3.11: co_qualname at 128 is used as the name */
	{ .kind = KIND_CFRAME, .minor = 11, .rt_finalizing = 24, .ts_frame = 56, .cf_current = 8,
		.if_previous = 48, .if_code = 32, .if_instr = 56, .if_owner = 69,
		.co_firsttraceable = 168,
		.co_filename = 112, .co_name = 128, .co_linetable = 136, .co_firstlineno = 72,
		.co_code_adaptive = 184,
		.lt_format = PYFRAME_LT_LOCATIONS, .str_ascii_size = 48, .str_compact_size = 72 },
	/* 3.12 */ { .kind = KIND_CFRAME, .minor = 12, .rt_finalizing = 24, .ts_frame = 56, .cf_current = 0,
		.if_previous = 8, .if_code = 0, .if_instr = 56, .if_owner = 70,
		.owner_cstack = 3, .co_firsttraceable = 176,
		.co_filename = 112, .co_name = 128, .co_linetable = 136, .co_firstlineno = 68,
		.co_code_adaptive = 192,
		.lt_format = PYFRAME_LT_LOCATIONS, .str_ascii_size = 40, .str_compact_size = 56 },
};

/* Where each needed section starts in _Py_DebugOffsets, counted in
 * uint64_t from the cookie; the fields used are at the same place inside
 * their sections in every version listed. */
struct dbg_sections {
	int minor, thread, frame, code, pyobject, bytes, unicode;
};
static const struct dbg_sections dbg_table[] = {
	{ 13, 19, 28, 34, 44, 64, 67 },
	{ 14, 22, 31, 39, 50, 74, 77 },
	{ 15, 22, 39, 47, 58, -1, -1 }, /* bytes and unicode: as in 3.14 */
};

const char *pyframe_status_str(enum pyframe_status st)
{
	switch (st) {
	case PYFRAME_OK: return "ok";
	case PYFRAME_UNKNOWN_VERSION: return "no frame offsets known for this Python version";
	case PYFRAME_NO_SYMBOL: return "PyCode_Type or _PyRuntime is not exported";
	case PYFRAME_BAD_DEBUG_OFFSETS: return "_Py_DebugOffsets is missing or implausible";
	}
	return "?";
}

static int in_range(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v >= lo && v <= hi;
}

static enum pyframe_status from_debug_offsets(int minor)
{
	const struct dbg_sections *s = NULL;
	for (size_t i = 0; i < sizeof(dbg_table) / sizeof(dbg_table[0]); i++)
		if (dbg_table[i].minor == minor)
			s = &dbg_table[i];
	if (!s)
		return PYFRAME_UNKNOWN_VERSION;
	const uint64_t *d = dlsym(RTLD_DEFAULT, "_PyRuntime");
	if (!d)
		return PYFRAME_NO_SYMBOL;
	if (memcmp(d, "xdebugpy", 8) != 0 || (d[1] >> 24) != 3 || ((d[1] >> 16) & 0xff) != (uint64_t)minor ||
	    d[2] != 0)
		return PYFRAME_BAD_DEBUG_OFFSETS;
	const uint64_t *ts = d + s->thread, *fr = d + s->frame, *co = d + s->code, *ob = d + s->pyobject;
	if (!in_range(ts[0], 64, 8192) || ts[4] >= ts[0] ||
	    !in_range(fr[0], 32, 512) || fr[1] >= fr[0] || fr[2] >= fr[0] || fr[3] >= fr[0] || fr[5] >= fr[0] ||
	    !in_range(co[0], 64, 2048) || co[1] >= co[0] || co[3] >= co[0] || co[4] >= co[0] ||
	    co[5] >= co[0] || co[9] > co[0] || ob[0] != 16 || ob[1] != 8)
		return PYFRAME_BAD_DEBUG_OFFSETS;
	L.kind = KIND_IFRAME;
	L.minor = minor;
	if (d[4] >= d[3])
		return PYFRAME_BAD_DEBUG_OFFSETS;
	L.rt_finalizing = (ptrdiff_t)d[4];
	L.ts_frame = (ptrdiff_t)ts[4];
	L.if_previous = (ptrdiff_t)fr[1];
	L.if_code = (ptrdiff_t)fr[2];
	L.if_instr = (ptrdiff_t)fr[3];
	L.if_owner = (ptrdiff_t)fr[5];
	L.code_tag_mask = minor >= 14 ? 7 : 0;
	L.owner_cstack = 3;
	L.co_firsttraceable = -1;
	L.co_filename = (ptrdiff_t)co[1];
	L.co_name = (ptrdiff_t)co[3]; /* qualname */
	L.co_linetable = (ptrdiff_t)co[4];
	L.co_firstlineno = (ptrdiff_t)co[5];
	L.co_code_adaptive = (ptrdiff_t)co[9];
	L.lt_format = PYFRAME_LT_LOCATIONS;
	L.ob_type = (ptrdiff_t)ob[1];
	L.bytes_size = 16;
	L.bytes_sval = 32;
	L.str_len = 16;
	L.str_state = 32;
	L.str_ascii_size = 40;
	if (s->bytes > 0) {
		const uint64_t *by = d + s->bytes, *un = d + s->unicode;
		if (by[1] != 16 || by[2] != 32 || un[1] != 32 || un[2] != 16 || un[3] != 40)
			return PYFRAME_BAD_DEBUG_OFFSETS;
	}
	L.str_compact_size = 56;
	return PYFRAME_OK;
}

enum pyframe_status pyframe_init(int major, int minor)
{
	enum pyframe_status st = PYFRAME_UNKNOWN_VERSION;
	g_ready = 0;
	if (major != 3)
		return st;
	g_code_type = dlsym(RTLD_DEFAULT, "PyCode_Type");
	g_runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
	if (!g_code_type || !g_runtime)
		return PYFRAME_NO_SYMBOL;
	/* 3.7-3.10 frames are objects: each is checked before it is read (a
	 * thread's last drop_gil on 3.7 and 3.8 runs after its thread state
	 * was freed, see docs/tracer.md). */
	g_frame_type = dlsym(RTLD_DEFAULT, "PyFrame_Type");
	if (minor <= 10 && !g_frame_type)
		return PYFRAME_NO_SYMBOL;
	if (minor >= 13) {
		st = from_debug_offsets(minor);
	} else {
		for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
			if (table[i].minor == minor) {
				L = table[i];
				st = PYFRAME_OK;
			}
		}
		/* Common to every version of the table. */
		L.ob_type = 8;
		L.bytes_size = 16;
		L.bytes_sval = 32;
		L.str_len = 16;
		L.str_state = 32;
	}
	L.str_hash = 24;
	if (st == PYFRAME_OK)
		g_ready = 1;
	return st;
}

int pyframe_ready(void)
{
	return g_ready;
}

static inline int is_code(const void *p)
{
	return p && ((uintptr_t)p & 7) == 0 && RD(const void *, p, L.ob_type) == g_code_type;
}

static inline const void *first_frame(const void *tstate)
{
	if (!tstate || ((uintptr_t)tstate & 7))
		return NULL;
	/* Once Py_Finalize() began, a daemon thread's take_gil/drop_gil may
	 * store a thread state already freed (3.7, 3.8): only the finalizing
	 * thread's own is read then. */
	const void *fin = RD(const void *, g_runtime, L.rt_finalizing);
	if (fin && fin != tstate)
		return NULL;
	const void *f = RD(const void *, tstate, L.ts_frame);
	if (L.kind == KIND_CFRAME && f)
		f = RD(const void *, f, L.cf_current);
	return f;
}

/* One frame: fills *out and returns 1 if it is a Python frame to report. */
static inline int frame_read(const void *f, struct pyframe *out)
{
	if (L.kind == KIND_FRAME_OBJECT) {
		const void *code = RD(const void *, f, L.f_code);
		if (!is_code(code))
			return 0;
		int lasti = RD(int, f, L.f_lasti);
		out->code = code;
		out->offset = lasti < 0 ? -1 : lasti * L.lasti_mult;
		return 1;
	}
	int owner = RD(signed char, f, L.if_owner);
	if (L.owner_cstack && owner >= L.owner_cstack)
		return 0;
	const void *code = (const void *)(RD(uintptr_t, f, L.if_code) & ~L.code_tag_mask);
	if (!is_code(code))
		return 0;
	const char *instr = RD(const char *, f, L.if_instr);
	ptrdiff_t off = instr - ((const char *)code + L.co_code_adaptive);
	/* Incomplete frames (prologue not run yet) are not shown by CPython. */
	if (L.co_firsttraceable >= 0 && owner != 1 && off < 2 * (ptrdiff_t)RD(int, code, L.co_firsttraceable))
		return 0;
	out->code = code;
	out->offset = off < 0 || off > INT32_MAX ? -1 : (int32_t)off;
	return 1;
}

static inline const void *frame_back(const void *f)
{
	return RD(const void *, f, L.kind == KIND_FRAME_OBJECT ? L.f_back : L.if_previous);
}

int pyframe_walk(const void *tstate, struct pyframe *out, int max)
{
	if (!g_ready)
		return 0;
	int n = 0;
	/* Bounded in steps too: skipped frames do not count towards max. */
	const void *f = first_frame(tstate);
	for (int steps = 0; f && n < max && steps < 4 * PYFRAME_MAX_DEPTH; steps++) {
		if (((uintptr_t)f & 7) != 0)
			break;
		if (L.kind == KIND_FRAME_OBJECT && RD(const void *, f, L.ob_type) != g_frame_type)
			break;
		n += frame_read(f, &out[n]);
		f = frame_back(f);
	}
	return n;
}

int pyframe_walk_match(const void *tstate, const struct pyframe_ident *ids,
		       const int32_t *offsets, int n)
{
	if (!g_ready || n <= 0)
		return 0;
	int k = 0;
	/* The walk of pyframe_walk, step for step. */
	const void *f = first_frame(tstate);
	for (int steps = 0; f && k < PYFRAME_MAX_DEPTH && steps < 4 * PYFRAME_MAX_DEPTH; steps++) {
		if (((uintptr_t)f & 7) != 0)
			break;
		if (L.kind == KIND_FRAME_OBJECT && RD(const void *, f, L.ob_type) != g_frame_type)
			break;
		struct pyframe fr;
		if (frame_read(f, &fr)) {
			struct pyframe_ident now;
			if (k >= n || fr.code != ids[k].code || fr.offset != offsets[k])
				return 0;
			pyframe_ident(fr.code, &now);
			if (!pyframe_ident_equal(&now, &ids[k]))
				return 0;
			k++;
		}
		f = frame_back(f);
	}
	return k == n;
}

int pyframe_top(const void *tstate, struct pyframe *out)
{
	return pyframe_walk(tstate, out, 1);
}

const void *pyframe_top_addr(const void *tstate)
{
	return g_ready ? first_frame(tstate) : NULL;
}

/* --- strings and bytes ---------------------------------------------------- */

/* The data of a compact str, its length in characters and its kind (bytes
 * per character); NULL if it is not a compact, ready str. */
static const char *str_data(const void *s, int64_t *len, int *kind)
{
	if (!s || ((uintptr_t)s & 7))
		return NULL;
	unsigned state = RD(unsigned, s, L.str_state);
	int k = (int)((state >> 2) & 7), compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
	if (!compact || (k != 1 && k != 2 && k != 4))
		return NULL;
	*len = RD(int64_t, s, L.str_len);
	if (*len < 0)
		return NULL;
	*kind = k;
	return (const char *)s + (ascii ? L.str_ascii_size : L.str_compact_size);
}

static uint64_t tail8(const char *p, int64_t nbytes)
{
	uint64_t v = 0;
	if (!p || nbytes <= 0)
		return 0;
	size_t n = nbytes < 8 ? (size_t)nbytes : 8;
	memcpy(&v, p + nbytes - (int64_t)n, n);
	return v;
}

static void str_ident(const void *s, int64_t *len, uint64_t *tail)
{
	int kind = 1;
	int64_t n = -1;
	const char *p = str_data(s, &n, &kind);
	*len = n;
	*tail = p ? tail8(p, n * kind) : 0;
	if (p)
		*tail ^= (uint64_t)RD(int64_t, s, L.str_hash);
}

void pyframe_ident(const void *code, struct pyframe_ident *id)
{
	id->code = code;
	id->filename = RD(const void *, code, L.co_filename);
	id->name = RD(const void *, code, L.co_name);
	id->linetable = RD(const void *, code, L.co_linetable);
	id->firstlineno = RD(int32_t, code, L.co_firstlineno);
}

int pyframe_ident_equal(const struct pyframe_ident *a, const struct pyframe_ident *b)
{
	return a->code == b->code && a->filename == b->filename && a->name == b->name &&
	       a->linetable == b->linetable && a->firstlineno == b->firstlineno;
}

int pyframe_idents_match(const struct pyframe *fr, const struct pyframe_ident *ids, int n)
{
	for (int i = 0; i < n; i++) {
		struct pyframe_ident now;
		pyframe_ident(fr[i].code, &now);
		if (!pyframe_ident_equal(&now, &ids[i]))
			return 0;
	}
	return 1;
}

void pyframe_ident_full(const struct pyframe_ident *id, struct pyframe_ident_full *full)
{
	full->id = *id;
	str_ident(id->filename, &full->fn_len, &full->fn_tail);
	str_ident(id->name, &full->name_len, &full->name_tail);
	full->lt_len = -1;
	full->lt_tail = 0;
	if (id->linetable && !((uintptr_t)id->linetable & 7)) {
		full->lt_len = RD(int64_t, id->linetable, L.bytes_size);
		full->lt_tail = tail8((const char *)id->linetable + L.bytes_sval, full->lt_len);
	}
}

int pyframe_ident_full_equal(const struct pyframe_ident_full *a, const struct pyframe_ident_full *b)
{
	return pyframe_ident_equal(&a->id, &b->id) &&
	       a->fn_len == b->fn_len && a->name_len == b->name_len && a->lt_len == b->lt_len &&
	       a->fn_tail == b->fn_tail && a->name_tail == b->name_tail && a->lt_tail == b->lt_tail;
}

/* Copies a str as UTF-8, at most PYFRAME_MAX_STR bytes, whole characters. */
static void str_copy(const void *s, char *out)
{
	int kind = 1;
	int64_t n = 0;
	const char *p = str_data(s, &n, &kind);
	size_t o = 0;
	if (!p) {
		memcpy(out, "?", 2);
		return;
	}
	for (int64_t i = 0; i < n; i++) {
		uint32_t c = kind == 1 ? (uint8_t)p[i] :
			     kind == 2 ? ((const uint16_t *)(const void *)p)[i] :
					 ((const uint32_t *)(const void *)p)[i];
		char buf[4];
		size_t w;
		if (c < 0x80) {
			buf[0] = (char)(c ? c : '?');
			w = 1;
		} else if (c < 0x800) {
			buf[0] = (char)(0xc0 | (c >> 6));
			buf[1] = (char)(0x80 | (c & 0x3f));
			w = 2;
		} else if (c < 0x10000) {
			buf[0] = (char)(0xe0 | (c >> 12));
			buf[1] = (char)(0x80 | ((c >> 6) & 0x3f));
			buf[2] = (char)(0x80 | (c & 0x3f));
			w = 3;
		} else {
			buf[0] = (char)(0xf0 | ((c >> 18) & 7));
			buf[1] = (char)(0x80 | ((c >> 12) & 0x3f));
			buf[2] = (char)(0x80 | ((c >> 6) & 0x3f));
			buf[3] = (char)(0x80 | (c & 0x3f));
			w = 4;
		}
		if (o + w > PYFRAME_MAX_STR)
			break;
		memcpy(out + o, buf, w);
		o += w;
	}
	out[o] = '\0';
}

void pyframe_describe(const void *code, struct pyframe_code_desc *d)
{
	str_copy(RD(const void *, code, L.co_filename), d->filename);
	str_copy(RD(const void *, code, L.co_name), d->name);
	d->firstlineno = RD(int32_t, code, L.co_firstlineno);
	d->lt_format = L.lt_format;
	d->linetable = NULL;
	d->lt_len = 0;
	const void *lt = RD(const void *, code, L.co_linetable);
	if (lt && !((uintptr_t)lt & 7) && RD(const void *, lt, L.ob_type)) {
		int64_t n = RD(int64_t, lt, L.bytes_size);
		if (n > 0) {
			d->linetable = (const uint8_t *)lt + L.bytes_sval;
			d->lt_len = n > PYFRAME_MAX_LINETABLE ? PYFRAME_MAX_LINETABLE : (uint32_t)n;
		}
	}
}
