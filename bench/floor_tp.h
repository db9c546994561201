/* The provider bench/lttng_floor.c records: named "gilscope", so that a
 * `gilscope record` session (which enables gilscope:*) records it with the
 * tracer's channel and contexts, with one event of one 64-bit field, the
 * shape gilscope:gil_retired had before session 18 made it a kind of
 * gilscope:rare. Only lttng_floor loads it (a C program: the preload stays
 * passive there and never loads the tracer's own provider). */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER gilscope

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./floor_tp.h"

#if !defined(FLOOR_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define FLOOR_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(gilscope, floor,
	LTTNG_UST_TP_ARGS(uint64_t, gil),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer_hex(uint64_t, gil, gil)
	)
)

#endif /* FLOOR_TP_H */

#include <lttng/tracepoint-event.h>
