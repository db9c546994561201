/* Decoders written from CPython's Objects/lnotab_notes.txt (3.7 to 3.10)
 * and InternalDocs/locations.md (3.11+). Every read is bounded by len. */
#include "linetable.h"

#include <stddef.h>

static int32_t lnotab(const uint8_t *lt, uint32_t len, int32_t line, int32_t offset)
{
	int64_t addr = 0;

	for (uint32_t i = 0; i + 1 < len; i += 2) {
		addr += lt[i];
		if (addr > offset)
			break;
		line += (int8_t)lt[i + 1];
	}
	return line;
}

static int32_t pep626(const uint8_t *lt, uint32_t len, int32_t line, int32_t offset)
{
	int64_t start = 0;

	for (uint32_t i = 0; i + 1 < len; i += 2) {
		int64_t end = start + lt[i];
		int8_t delta = (int8_t)lt[i + 1];
		int32_t cur = -1;

		if (delta != -128) {
			line += delta;
			cur = line;
		}
		if (offset >= start && offset < end)
			return cur;
		start = end;
	}
	return -1;
}

/* An unsigned varint of 6-bit chunks (bit 6: more follow); 0 past the end. */
static uint32_t varint(const uint8_t *lt, uint32_t len, uint32_t *i)
{
	uint32_t val = 0, shift = 0;
	uint8_t b;

	do {
		if (*i >= len || shift > 30)
			return val;
		b = lt[(*i)++];
		val |= (uint32_t)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	return val;
}

static int32_t svarint(const uint8_t *lt, uint32_t len, uint32_t *i)
{
	uint32_t v = varint(lt, len, i);

	return (v & 1) ? -(int32_t)(v >> 1) : (int32_t)(v >> 1);
}

static int32_t locations(const uint8_t *lt, uint32_t len, int32_t line, int32_t offset)
{
	int64_t addr = 0;
	uint32_t i = 0;

	while (i < len) {
		uint8_t b = lt[i++];
		int code = (b >> 3) & 15;
		int64_t end = addr + 2 * ((b & 7) + 1);
		int32_t cur = -1;

		if (code == 15) {
			/* no location */
		} else if (code == 14) {
			line += svarint(lt, len, &i);
			cur = line;
			varint(lt, len, &i); /* end line delta */
			varint(lt, len, &i); /* column + 1 */
			varint(lt, len, &i); /* end column + 1 */
		} else if (code == 13) {
			line += svarint(lt, len, &i);
			cur = line;
		} else if (code >= 10) {
			line += code - 10;
			cur = line;
			i += 2; /* columns */
		} else {
			cur = line;
			i += 1; /* column */
		}
		if (offset >= addr && offset < end)
			return cur;
		addr = end;
	}
	return -1;
}

int32_t linetable_line(int format, const uint8_t *lt, uint32_t len, int32_t firstlineno,
		       int32_t offset)
{
	if (offset < 0 || (!lt && len))
		return -1;
	switch (format) {
	case LINETABLE_LNOTAB:
		return lnotab(lt, len, firstlineno, offset);
	case LINETABLE_PEP626:
		return pep626(lt, len, firstlineno, offset);
	case LINETABLE_LOCATIONS:
		return locations(lt, len, firstlineno, offset);
	default:
		return -1;
	}
}
