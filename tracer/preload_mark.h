/* The traced process tells its recorder that it is one (preload_mark.c).
 * Internal to the preload library. */
#ifndef GILSCOPE_PRELOAD_MARK_H
#define GILSCOPE_PRELOAD_MARK_H

/* GILSCOPE_TRACED (set by `gilscope record`): the path of a file that
 * exists, where a CPython the tracer traces appends a line "PID NS" (its
 * pid and CLOCK_MONOTONIC now) before it registers with the LTTng
 * session daemon. Nothing when unset, or when the file cannot be opened
 * (another user's process, another mount namespace: docs/tracer.md);
 * errno is kept. */
void mark_traced(void);

#endif
