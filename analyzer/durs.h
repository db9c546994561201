/* Compact collections of durations for exact percentiles: 2 bytes per
 * value below 65.5 us (most waits and hand-offs), 4 below 4.3 s, 8 for
 * the rare longer ones. Turned into a log-linear histogram (fixed size,
 * percentiles within 1/128 of the value) when memory must stay flat. */
#ifndef GILSCOPE_DURS_H
#define GILSCOPE_DURS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct durs {
	uint16_t *tiny;
	uint32_t *small;
	int64_t *big;
	uint64_t ntiny, captiny, nsmall, capsmall, nbig, capbig;
	int sorted;
	uint32_t **hist;       /* non-NULL: histogram mode, arrays empty (durs.c) */
	uint64_t nhist;
	int64_t hmax;
};

struct dur_stats {
	uint64_t n;
	int64_t p50, p90, p99, max; /* GS_UNKNOWN (status.h) when n == 0 */
};

/* Writes a duration for people: "371 ns", "8.2 us", "5.16 ms", "1.20 s".
 * Shared by the findings and the terminal summary. */
void durs_format(char *buf, size_t len, double ns);

/* The bytes v takes in a collection. */
size_t durs_size(int64_t v);
enum gs_status durs_add(struct durs *d, int64_t v); /* GS_OK or GS_ERR_NOMEM */
uint64_t durs_count(const struct durs *d);
/* Nearest-rank percentiles (rank ceil(p * n / 100), 1-based). Sorts d. */
enum gs_status durs_stats(struct durs *d, struct dur_stats *out);
/* The same over the union of k collections, without copying them: each
 * is sorted in place, then they are merged on the fly up to the ranks. */
enum gs_status durs_stats_multi(struct durs *const *d, size_t k, struct dur_stats *out);
/* Moves the values into a histogram (29 KiB) and frees the arrays: from
 * then on memory no longer grows with the values. */
enum gs_status durs_to_hist(struct durs *d);
void durs_free(struct durs *d);

#endif
