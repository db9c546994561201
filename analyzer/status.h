/* What every analyzer function returns, and how the analyzer writes "not
 * known": one value for integers (GS_UNKNOWN, stored as SQL NULL), NULL
 * for strings, NaN for ratios. */
#ifndef GILSCOPE_STATUS_H
#define GILSCOPE_STATUS_H

#include <stdint.h>

#define GS_UNKNOWN INT64_MIN

enum gs_status {
	GS_OK = 0,
	GS_ERR_NOMEM,   /* out of memory */
	GS_ERR_DB,      /* SQLite failed: db_error() says why */
	GS_ERR_INPUT,   /* the trace or the database is not what it should be */
	GS_ERR_SYSTEM,  /* the system refused (a pipe, a fork, a file): errno said why */
};

#endif
