/* LTTng-UST tracepoint provider "gilscope_ctl": switches, not records.
 * A session that starts while a traced process runs enables
 * gilscope_ctl:resync; the process notices the enabled state change and
 * says again what its GILs and threads are (gilscope:resync, gil_known,
 * thread_name; tracer/preload.c). It is its own provider so that the
 * `gilscope:*` rule of ordinary recordings never turns it on (and so
 * that no event-name exclusion is needed: `lttng list SESSION` crashes
 * lttng-sessiond 2.13 on a rule with exclusions). Never emitted.
 *
 * gilscope_ctl:flush: every recorder turns it on just before it stops a
 * session or takes a snapshot. liblttng-ust's listener thread applies it
 * in every registered process and then unlocks its own mutex; the
 * preload's unlock wrapper, in a process that has held back a hold,
 * sees it on there and writes every held-back hold (tracer/preload.c,
 * "held-back holds"), so that an idle process loses none at the stop. */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER gilscope_ctl

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./gilscope_ctl_tp.h"

#if !defined(GILSCOPE_CTL_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define GILSCOPE_CTL_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(gilscope_ctl, resync,
	LTTNG_UST_TP_ARGS(uint32_t, unused),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, unused, unused)
	)
)

LTTNG_UST_TRACEPOINT_EVENT(gilscope_ctl, flush,
	LTTNG_UST_TP_ARGS(uint32_t, unused),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, unused, unused)
	)
)

#endif /* GILSCOPE_CTL_TP_H */

#include <lttng/tracepoint-event.h>
