/* Checks of a CTF trace directory made before libbabeltrace2 reads it:
 * the damage babeltrace2 2.0 does not survive (a cut metadata packet makes
 * it loop for ever; an index entry past its stream's end makes it abort)
 * is found here and named: the file, the place, what is wrong. */
#ifndef GILSCOPE_TRACE_CHECK_H
#define GILSCOPE_TRACE_CHECK_H

#include <stddef.h>

#include "status.h"

/* Checks DIR/metadata (packetized or plain text), that it declares the
 * stream class of every stream file's packets, and every index in DIR/index
 * against the stream it indexes. Returns GS_OK, or GS_ERR_INPUT with err
 * holding "FILE: REASON" (one line). */
enum gs_status trace_check_dir(const char *dir, char *err, size_t errlen);

#endif
