/* Creates the probes of the "gilscope" provider; nothing else lives here
 * (the split lttng-ust's own wrappers use). */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "gilscope_tp.h"
