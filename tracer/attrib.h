/* Code attribution for GIL events: which Python code a thread is running
 * when it takes or drops the GIL. Code objects and stacks get small ids,
 * each described once per process by a `code` or `stack` event. */
#ifndef GILSCOPE_ATTRIB_H
#define GILSCOPE_ATTRIB_H

#include <stdint.h>

enum attrib_mode {
	ATTRIB_OFF = 0,   /* no code attribution */
	ATTRIB_SITE = 1,  /* the innermost frame only */
	ATTRIB_STACK = 2, /* the innermost frame and the interned stack */
};

/* Where a thread is: code id (0: none), byte offset of the instruction
 * (-1: unknown) and stack id (0: none or not recorded). */
struct attrib_site {
	uint32_t code;
	int32_t offset;
	uint32_t stack;
};

/* Decides the mode for CPython major.minor; prints one line on stderr when
 * attribution was asked for but this interpreter's layout is unknown. */
void attrib_init(int major, int minor, enum attrib_mode mode, const char *version);
/* The mode in effect (ATTRIB_OFF when the layout is unknown). */
enum attrib_mode attrib_mode_get(void);
/* Which event a site is read for: an acquire right after the same thread's
 * release reuses what the release read (no Python ran in between). */
enum attrib_at {
	ATTRIB_AT_RELEASE,
	ATTRIB_AT_ACQUIRE,
};

/* Reads the site of `tstate`, the calling thread's own PyThreadState.
 * Emits `code` and `stack` events for what this process has not named yet.
 * hot: in .text.hot with the rest of a recorded GIL cycle (preload.c). */
__attribute__((hot)) void attrib_read(const void *tstate, enum attrib_at at, struct attrib_site *out);
/* A session started in mid-life (resync): forget what was named, so that
 * each code and stack is described again, with a new id, when next met. */
void attrib_forget(void);
/* In a fork child: forget what the parent named (the child is a new pid). */
void attrib_after_fork_child(void);
/* Maps the pages the first lookups fill (the tables' first parts) in one
 * call: for a moment when the process waits anyway. */
void attrib_warm(void);

/* preload.c's gate around every call into LTTng: 1 to go on, then
 * gilscope_lttng_leave(); 0 once the process is ending (no write). */
int gilscope_lttng_enter(void);
void gilscope_lttng_leave(void);

#endif
