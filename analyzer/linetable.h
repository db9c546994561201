/* CPython's line tables: which source line an instruction offset is on,
 * for the three formats the tracer's `code` events carry. */
#ifndef GILSCOPE_LINETABLE_H
#define GILSCOPE_LINETABLE_H

#include <stdint.h>

enum linetable_format {
	LINETABLE_LNOTAB = 1,    /* co_lnotab, 3.7 to 3.9 */
	LINETABLE_PEP626 = 2,    /* co_linetable, 3.10 */
	LINETABLE_LOCATIONS = 3, /* co_linetable, 3.11+ (PEP 657) */
};

/* The line of the instruction at byte `offset` of a code object whose
 * first line is `firstlineno`; -1 when the table says none or cannot tell. */
int32_t linetable_line(int format, const uint8_t *lt, uint32_t len, int32_t firstlineno,
		       int32_t offset);

#endif
