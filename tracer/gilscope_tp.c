/* The "gilscope" and "gilscope_ctl" tracepoint providers, built as their
 * own shared object (libgilscope-probes.so). The preload library dlopens
 * it only once it knows it runs in CPython 3: other processes under the
 * preload (shells, compilers, anything a Python program starts) never
 * load liblttng-ust, never start its threads and never wait to register
 * with the daemon. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "gilscope_tp.h"
#include "gilscope_ctl_tp.h"
