/* What the preload library does so that a traced process behaves as it
 * would without gilscope, although liblttng-ust runs threads and holds
 * file descriptors in it (preload_process.c; docs/tracer.md, "What the
 * traced program can see"). Internal to the preload library. */
#ifndef GILSCOPE_PRELOAD_PROCESS_H
#define GILSCOPE_PRELOAD_PROCESS_H

#include <stddef.h>

/* Starts the bookkeeping in a traced CPython, before liblttng-ust is
 * loaded: the calling (main) thread is the process's only thread. */
void process_watch_start(void);

/* Brackets code that makes liblttng-ust start its threads (loading it,
 * its fork-child hook): threads created in between are LTTng's. */
void process_lttng_begin(void);
void process_lttng_end(void);

/* Before a process's first event: waits, if it has not yet, for
 * liblttng-ust's registration with the session daemon, the wait its
 * constructor was spared (preload_process.c); an atomic load once done.
 * 1 when this call's wait ran out (LTTNG_UST_REGISTER_TIMEOUT): the
 * process goes on unregistered and its events are enabled later. */
int process_lttng_ready(void);

/* 1 once a wait for this process's registration ran out (or was none:
 * a timeout of 0): one of process_lttng_ready(), whichever call made it
 * (a thread's name may come before the first GIL: 3.6), or liblttng-ust's
 * own in its constructor or a fork child (process_lttng_gave_up_set).
 * A fork child starts without its parent's (process_after_fork_child). */
int process_lttng_gave_up(void);
void process_lttng_gave_up_set(void);

/* In a fork child, before liblttng-ust's own child hook: only the
 * forking thread is left. */
void process_after_fork_child(void);

/* Maps [p, p + len), widened to whole pages, for writing in one call
 * (MADV_POPULATE_WRITE; nothing before Linux 5.14): page faults taken at a
 * moment of our choosing, not one at a time where the process waits. */
void process_pages_populate(const void *p, size_t len);

/* Emits gilscope:thread_name for the calling thread (preload.c). The
 * Python-side hook reaches it through os.unsetenv (see unsetenv()). */
void gilscope_thread_name(const char *name);

#endif
