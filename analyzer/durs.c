#include "durs.h"
#include "status.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

/* Collections start small: a trace of many short processes has thousands
 * of threads with a few dozen holds each (1,024 slots each made 29 MB of
 * a 48 MB peak on 500 processes x 4 threads). */
static enum gs_status grow(void **p, uint64_t *cap, uint64_t need, size_t size)
{
	uint64_t ncap = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return GS_OK;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * size);
	if (!np)
		return GS_ERR_NOMEM;
	*p = np;
	*cap = ncap;
	return GS_OK;
}

size_t durs_size(int64_t v)
{
	return v <= UINT16_MAX ? 2 : v <= UINT32_MAX ? 4 : 8;
}

/* Log-linear buckets: exact below 128, then 128 per power of two. */
#define HIST_SUB 128
#define HIST_GROUPS 57
#define HIST_BUCKETS (HIST_GROUPS * HIST_SUB)
/* A histogram is HIST_GROUPS groups of HIST_SUB counters (one group per
 * power of two), each allocated when first used: a collection touches a
 * few, so thousands of threads' histograms stay small. */

static size_t bucket_of(int64_t v)
{
	int e;

	if (v < HIST_SUB)
		return (size_t)v;
	e = 63 - __builtin_clzll((unsigned long long)v); /* 7..62 */
	return HIST_SUB + (size_t)(e - 7) * HIST_SUB + (size_t)((v >> (e - 7)) & (HIST_SUB - 1));
}

/* A bucket's middle value: what a percentile falling in it reports. */
static int64_t bucket_value(size_t b)
{
	size_t e, sub;
	int64_t lo, width;

	if (b < HIST_SUB)
		return (int64_t)b;
	e = (b - HIST_SUB) / HIST_SUB + 7;
	sub = (b - HIST_SUB) % HIST_SUB;
	width = (int64_t)1 << (e - 7);
	lo = (int64_t)(HIST_SUB + sub) << (e - 7);
	return lo + (width - 1) / 2;
}

static enum gs_status hist_add(struct durs *d, int64_t v)
{
	size_t b = bucket_of(v);
	uint32_t **g = &d->hist[b / HIST_SUB];

	if (!*g && !(*g = calloc(HIST_SUB, sizeof(**g))))
		return GS_ERR_NOMEM;
	(*g)[b % HIST_SUB]++;
	d->nhist++;
	if (v > d->hmax)
		d->hmax = v;
	return GS_OK;
}

static uint32_t hist_count(const struct durs *d, size_t b)
{
	const uint32_t *g = d->hist[b / HIST_SUB];

	return g ? g[b % HIST_SUB] : 0;
}

static void hist_free(struct durs *d)
{
	for (size_t i = 0; d->hist && i < HIST_GROUPS; i++)
		free(d->hist[i]);
	free(d->hist);
	d->hist = NULL;
}

enum gs_status durs_add(struct durs *d, int64_t v)
{
	if (v < 0)
		v = 0;
	if (d->hist)
		return hist_add(d, v);
	d->sorted = 0;
	if (v <= UINT16_MAX) {
		if (grow((void **)&d->tiny, &d->captiny, d->ntiny + 1, sizeof(*d->tiny)))
			return GS_ERR_NOMEM;
		d->tiny[d->ntiny++] = (uint16_t)v;
		return GS_OK;
	}
	if (v <= UINT32_MAX) {
		if (grow((void **)&d->small, &d->capsmall, d->nsmall + 1, sizeof(*d->small)))
			return GS_ERR_NOMEM;
		d->small[d->nsmall++] = (uint32_t)v;
		return GS_OK;
	}
	if (grow((void **)&d->big, &d->capbig, d->nbig + 1, sizeof(*d->big)))
		return GS_ERR_NOMEM;
	d->big[d->nbig++] = v;
	return GS_OK;
}

uint64_t durs_count(const struct durs *d)
{
	return d->ntiny + d->nsmall + d->nbig + d->nhist;
}

/* LSD radix sorts, 8 bits a pass: 10x quicker than qsort on the
 * millions of holds a churn trace gives. */
static enum gs_status sort_u32(uint32_t *a, uint64_t n)
{
	uint32_t *tmp = NULL;
	uint64_t count[256];
	enum gs_status status = GS_OK;

	if (n < 2)
		goto end;
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp) {
		status = GS_ERR_NOMEM;
		goto end;
	}
	for (int shift = 0; shift < 32; shift += 8) {
		uint64_t sum = 0;

		memset(count, 0, sizeof(count));
		for (uint64_t i = 0; i < n; i++)
			count[(a[i] >> shift) & 0xff]++;
		for (int b = 0; b < 256; b++) {
			uint64_t c = count[b];

			count[b] = sum;
			sum += c;
		}
		for (uint64_t i = 0; i < n; i++)
			tmp[count[(a[i] >> shift) & 0xff]++] = a[i];
		memcpy(a, tmp, n * sizeof(*a));
	}
end:
	free(tmp);
	return status;
}

static int cmp_u16(const void *x, const void *y)
{
	return (int)*(const uint16_t *)x - (int)*(const uint16_t *)y;
}

/* 2-byte values: a counting sort, one pass (qsort for a few). */
static enum gs_status sort_u16(uint16_t *a, uint64_t n)
{
	uint64_t *count = NULL;
	uint64_t k = 0;
	enum gs_status status = GS_OK;

	if (n < 4096) {
		if (n > 1)
			qsort(a, n, sizeof(*a), cmp_u16);
		goto end;
	}
	count = calloc(65536, sizeof(*count));
	if (!count) {
		status = GS_ERR_NOMEM;
		goto end;
	}
	for (uint64_t i = 0; i < n; i++)
		count[a[i]]++;
	for (uint32_t v = 0; v < 65536; v++)
		for (uint64_t c = count[v]; c; c--)
			a[k++] = (uint16_t)v;
end:
	free(count);
	return status;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return (a > b) - (a < b);
}

/* The k-th smallest (0-based) of the sorted union tiny ++ small ++ big:
 * each array's values are larger than every value of the one before. */
static int64_t nth(const struct durs *d, uint64_t k)
{
	if (k < d->ntiny)
		return d->tiny[k];
	k -= d->ntiny;
	return k < d->nsmall ? (int64_t)d->small[k] : d->big[k - d->nsmall];
}

static int64_t rank(const struct durs *d, unsigned p)
{
	uint64_t n = durs_count(d);
	uint64_t r = (p * n + 99) / 100; /* ceil(p n / 100), 1-based */

	if (r < 1)
		r = 1;
	return nth(d, r - 1);
}

static enum gs_status durs_sort(struct durs *d)
{
	if (d->sorted)
		return GS_OK;
	if (sort_u16(d->tiny, d->ntiny) || sort_u32(d->small, d->nsmall))
		return GS_ERR_NOMEM;
	if (d->nbig)
		qsort(d->big, d->nbig, sizeof(*d->big), cmp_i64);
	d->sorted = 1;
	return GS_OK;
}

static enum gs_status hist_stats(struct durs *const *d, size_t k, struct dur_stats *out);

enum gs_status durs_stats(struct durs *d, struct dur_stats *out)
{
	if (d->hist)
		return hist_stats(&d, 1, out);
	out->n = durs_count(d);
	out->p50 = out->p90 = out->p99 = out->max = GS_UNKNOWN;
	if (!out->n)
		return GS_OK;
	if (durs_sort(d))
		return GS_ERR_NOMEM;
	out->p50 = rank(d, 50);
	out->p90 = rank(d, 90);
	out->p99 = rank(d, 99);
	out->max = nth(d, out->n - 1);
	return GS_OK;
}

/* A min-heap of the collections' next values, for the k-way merge. */
struct head {
	int64_t v;
	size_t j;
};

static void heap_down(struct head *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct head t;

		if (l < n && h[l].v < h[m].v)
			m = l;
		if (r < n && h[r].v < h[m].v)
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

enum gs_status durs_stats_multi(struct durs *const *d, size_t k, struct dur_stats *out)
{
	uint64_t n = 0, r50, r90, r99, *pos = NULL;
	struct head *heap = NULL;
	size_t nh = 0;
	enum gs_status status = GS_ERR_NOMEM;

	/* One collection, or histograms among them: the simpler ways. */
	if (k == 1)
		return durs_stats(d[0], out);
	for (size_t j = 0; j < k; j++)
		if (d[j]->hist)
			return hist_stats(d, k, out);
	out->p50 = out->p90 = out->p99 = out->max = GS_UNKNOWN;
	for (size_t j = 0; j < k; j++) {
		if (durs_sort(d[j]) != GS_OK)
			goto end;
		n += durs_count(d[j]);
		if (durs_count(d[j]) && nth(d[j], durs_count(d[j]) - 1) > out->max)
			out->max = nth(d[j], durs_count(d[j]) - 1);
	}
	out->n = n;
	status = GS_OK;
	if (!n)
		goto end;
	status = GS_ERR_NOMEM;
	pos = calloc(k, sizeof(*pos));
	heap = malloc(k * sizeof(*heap));
	if (!pos || !heap)
		goto end;
	for (size_t j = 0; j < k; j++)
		if (durs_count(d[j]))
			heap[nh++] = (struct head){ nth(d[j], 0), j };
	for (size_t i = nh; i-- > 0;)
		heap_down(heap, nh, i);
	r50 = (50 * n + 99) / 100;
	r90 = (90 * n + 99) / 100;
	r99 = (99 * n + 99) / 100;
	for (uint64_t i = 1; i <= r99 && nh; i++) {
		int64_t v = heap[0].v;
		size_t j = heap[0].j;

		if (i == r50)
			out->p50 = v;
		if (i == r90)
			out->p90 = v;
		if (i == r99)
			out->p99 = v;
		if (++pos[j] < durs_count(d[j]))
			heap[0].v = nth(d[j], pos[j]);
		else
			heap[0] = heap[--nh];
		heap_down(heap, nh, 0);
	}
	status = GS_OK;
end:
	free(pos);
	free(heap);
	return status;
}

/* Percentiles of k collections, some histograms: the sum of their
 * histograms (values still in arrays added in), walked to the ranks. */
static enum gs_status hist_stats(struct durs *const *d, size_t k, struct dur_stats *out)
{
	uint64_t *sum = calloc(HIST_BUCKETS, sizeof(*sum));
	uint64_t n = 0, seen = 0, r50, r90, r99;
	enum gs_status status = GS_ERR_NOMEM;

	out->p50 = out->p90 = out->p99 = out->max = GS_UNKNOWN;
	if (!sum)
		goto end;
	for (size_t j = 0; j < k; j++) {
		const struct durs *c = d[j];

		for (size_t b = 0; c->hist && b < HIST_BUCKETS; b++)
			sum[b] += hist_count(c, b);
		if (c->hist && c->nhist && c->hmax > out->max)
			out->max = c->hmax;
		for (uint64_t i = 0; i < c->ntiny + c->nsmall + c->nbig; i++) {
			int64_t v = nth(c, i);

			sum[bucket_of(v)]++;
			if (v > out->max)
				out->max = v;
		}
		n += durs_count(c);
	}
	out->n = n;
	r50 = (50 * n + 99) / 100;
	r90 = (90 * n + 99) / 100;
	r99 = (99 * n + 99) / 100;
	for (size_t b = 0; b < HIST_BUCKETS && n; b++) {
		uint64_t next = seen + sum[b];
		int64_t v = bucket_value(b) < out->max ? bucket_value(b) : out->max;

		if (seen < r50 && r50 <= next)
			out->p50 = v;
		if (seen < r90 && r90 <= next)
			out->p90 = v;
		if (seen < r99 && r99 <= next)
			out->p99 = v;
		seen = next;
	}
	status = GS_OK;
end:
	free(sum);
	return status;
}

enum gs_status durs_to_hist(struct durs *d)
{
	uint64_t n = d->ntiny + d->nsmall + d->nbig;
	enum gs_status status = GS_ERR_NOMEM;

	if (d->hist)
		return GS_OK;
	d->hist = calloc(HIST_GROUPS, sizeof(*d->hist));
	if (!d->hist)
		goto end;
	d->hmax = -1;
	d->nhist = 0;
	for (uint64_t i = 0; i < n; i++)
		if ((status = hist_add(d, nth(d, i))) != GS_OK)
			goto end;
	free(d->tiny);
	free(d->small);
	free(d->big);
	d->tiny = NULL;
	d->small = NULL;
	d->big = NULL;
	d->ntiny = d->nsmall = d->nbig = 0;
	d->captiny = d->capsmall = d->capbig = 0;
	status = GS_OK;
end:
	/* Half made: the arrays still hold every value. */
	if (status != GS_OK)
		hist_free(d);
	return status;
}

void durs_free(struct durs *d)
{
	hist_free(d);
	free(d->tiny);
	free(d->small);
	free(d->big);
	memset(d, 0, sizeof(*d));
}

void durs_format(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", ns / 1e9);
}
