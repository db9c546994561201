/* Where a flight-recorder snapshot's complete part begins. */
#ifndef GILSCOPE_HORIZON_H
#define GILSCOPE_HORIZON_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Sets *horizon to the latest beginning (ns from origin) among the
 * streams of the CTF traces dirs[0..n): from there on every CPU's events
 * are all present. Returns GS_OK, or another status with one line in err. */
enum gs_status trace_horizon(const char *const *dirs, size_t n, int64_t *horizon, char *err,
			     size_t len);

#endif
