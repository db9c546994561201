/* liblttng-ust's tracepoint registration, deferred to CPython processes.
 *
 * <lttng/tracepoint.h> puts constructors in every file that includes it:
 * they dlopen liblttng-ust-tracepoint (and with it liblttng-ust-common)
 * and register the tracepoints, in every process the preload is in: a
 * shell, a compiler, anything a traced program starts (/bin/true made 91
 * system calls instead of 31). Their counters, weak in the header, are
 * defined here starting at 1: the constructors then count themselves and
 * do nothing else. preload.c's tracepoints_register() does their work
 * once the process is known to be a CPython that is traced. */

struct lttng_ust_tracepoint_dlopen;
extern struct lttng_ust_tracepoint_dlopen lttng_ust_tracepoint_dlopen;

/* The names and visibility are the header's (LTTng-UST 2.13). */
__attribute__((visibility("hidden"))) int lttng_ust_tracepoint_registered = 1;
__attribute__((visibility("hidden"))) int lttng_ust_tracepoint_ptrs_registered = 1;
/* The constructors read it before testing the counters' value. */
__attribute__((visibility("hidden"))) struct lttng_ust_tracepoint_dlopen *lttng_ust_tracepoint_dlopen_ptr =
	&lttng_ust_tracepoint_dlopen;
