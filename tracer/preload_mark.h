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

/* Then, once its wait for that registration is over (preload.c's
 * gil_register: the wait moved out of liblttng-ust's constructor, or a
 * fork child's inside fork()), a second line "PID NS registered" (the
 * wait ended with liblttng-ust's word: registered, or no daemon to
 * register with) or "PID NS unregistered" (LTTNG_UST_REGISTER_TIMEOUT
 * ran out, or is 0), NS the mark's own. A mark without it is a process
 * that ended during the wait, before its program ran (docs/tracer.md).
 * Nothing without a mark before it; errno is kept. */
void mark_wait_over(int registered);

#endif
