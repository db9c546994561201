/* Reading a CPython thread's Python frames from inside the process, without
 * calling the C-API: per-version offsets (a table for 3.7 to 3.12, CPython's
 * own _Py_DebugOffsets for 3.13+) and a bounded walk of the frame chain.
 * Only the calling thread's own thread state is ever read, while that
 * thread is inside take_gil/drop_gil: its frames cannot change meanwhile. */
#ifndef GILSCOPE_PYFRAME_H
#define GILSCOPE_PYFRAME_H

#include <stddef.h>
#include <stdint.h>

#define PYFRAME_MAX_DEPTH 64
#define PYFRAME_MAX_STR 255
#define PYFRAME_MAX_LINETABLE 16384

/* How the analyzer turns an instruction offset into a line: the format of
 * the code object's line table. Values are part of the event contract. */
enum pyframe_lt_format {
	PYFRAME_LT_NONE = 0,
	PYFRAME_LT_LNOTAB = 1,     /* 3.7-3.9 co_lnotab */
	PYFRAME_LT_LINETABLE = 2,  /* 3.10 co_linetable (PEP 626) */
	PYFRAME_LT_LOCATIONS = 3,  /* 3.11+ co_linetable (PEP 657) */
};

enum pyframe_status {
	PYFRAME_OK = 0,
	PYFRAME_UNKNOWN_VERSION,   /* no offsets for this interpreter */
	PYFRAME_NO_SYMBOL,         /* PyCode_Type or _PyRuntime not exported */
	PYFRAME_BAD_DEBUG_OFFSETS, /* _Py_DebugOffsets missing or implausible */
};

/* One Python frame: its code object and the byte offset of the
 * instruction it is executing (-1: not started). */
struct pyframe {
	const void *code;
	int32_t offset;
};

/* What names a code object, cheap to read on every event (one cache line
 * of the code object): a code object freed and another allocated at its
 * address has, in practice, another filename, name or line table object. */
struct pyframe_ident {
	const void *code, *filename, *name, *linetable;
	int32_t firstlineno;
};

/* The same, with the lengths and last bytes of those objects' contents:
 * read only when a thread meets a code object it has not cached, to also
 * tell apart the rare new objects whose strings reuse the old addresses. */
struct pyframe_ident_full {
	struct pyframe_ident id;
	int64_t fn_len, name_len, lt_len;
	uint64_t fn_tail, name_tail, lt_tail;
};

/* A code object described for the `code` event. */
struct pyframe_code_desc {
	char filename[PYFRAME_MAX_STR + 1];
	char name[PYFRAME_MAX_STR + 1];
	int32_t firstlineno;
	int lt_format;
	const uint8_t *linetable; /* points into the live bytes object */
	uint32_t lt_len;          /* capped at PYFRAME_MAX_LINETABLE */
};

/* Resolves the offsets for CPython major.minor in this process. */
enum pyframe_status pyframe_init(int major, int minor);
const char *pyframe_status_str(enum pyframe_status st);
int pyframe_ready(void);

/* The frames of `tstate` (a PyThreadState *), innermost first, skipping
 * frames owned by the C stack; at most `max`. Returns how many. hot (this
 * and the two below): in .text.hot with the rest of a recorded GIL cycle
 * (preload.c). */
__attribute__((hot)) int pyframe_walk(const void *tstate, struct pyframe *out, int max);
/* The innermost frame only: 1 if there is one, 0 if not. */
int pyframe_top(const void *tstate, struct pyframe *out);

void pyframe_ident(const void *code, struct pyframe_ident *id);
int pyframe_ident_equal(const struct pyframe_ident *a, const struct pyframe_ident *b);
/* Whether pyframe_walk(tstate, fr, PYFRAME_MAX_DEPTH) would return
 * exactly n frames, frame i at offsets[i] of the code object ids[i]
 * names, with the identity it had then (pyframe_idents_match), in one
 * pass that stores nothing: a thread's cached site checked without a
 * walk, a hash and two loops over its result. 0 when they differ. */
__attribute__((hot)) int pyframe_walk_match(const void *tstate, const struct pyframe_ident *ids,
					    const int32_t *offsets, int n);
/* Whether each of the n frames still shows the code object ids[i] names
 * (same address, same identity as pyframe_ident read then): one pass over
 * the objects' first cache line, no call per frame. */
__attribute__((hot)) int pyframe_idents_match(const struct pyframe *fr, const struct pyframe_ident *ids,
						  int n);
void pyframe_ident_full(const struct pyframe_ident *id, struct pyframe_ident_full *full);
int pyframe_ident_full_equal(const struct pyframe_ident_full *a, const struct pyframe_ident_full *b);
/* The innermost frame's address (0 if none): what tells whether a thread's
 * frames may have changed since it was last read. */
__attribute__((hot)) const void *pyframe_top_addr(const void *tstate);
void pyframe_describe(const void *code, struct pyframe_code_desc *d);

#endif
