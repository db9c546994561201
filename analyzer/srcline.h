/* One line of a source file, for the summary and the findings to quote the
 * code they name. */
#ifndef GILSCOPE_SRCLINE_H
#define GILSCOPE_SRCLINE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Copies line `line` (1-based) of the regular file `path` into buf,
 * without its indentation and newline, with control characters and
 * invalid bytes as '?', cut to len - 1 bytes. GS_OK, or GS_ERR_INPUT when
 * the file cannot be read (gone, not a file, "<frozen ...>", too big) or
 * has no such line. */
enum gs_status srcline_read(const char *path, int64_t line, char *buf, size_t len);

/* Copies s into buf for a terminal: control characters and bytes that are
 * not printable ASCII or part of UTF-8 become '?'. */
void srcline_clean(const char *s, char *buf, size_t len);

/* The last component of a path (the whole of it if there is no '/'). */
const char *srcline_base(const char *path);

#endif
