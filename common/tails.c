/* Streams of a recorded trace that end before the others (tails.h). */
#include "tails.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_MAGIC 0xc1f1dcc1u
#define INDEX_HEADER 16    /* magic, major, minor, entry size: big-endian u32 */
/* An entry: offset, packet_size (bits), content_size, ts_begin, ts_end. */
#define ENTRY_PACKET_SIZE 8
#define ENTRY_CONTENT_SIZE 16
#define ENTRY_TS_END 32

struct last {
	uint64_t end;      /* its last packet's end (clock cycles) */
	uint64_t size;     /* and size: a sub-buffer's when a switch closed it */
	uint64_t largest;  /* the largest of its packets */
	uint64_t content;  /* its first packet's content size (bits) */
	int mixed;         /* its packets' content sizes differ */
	int has;           /* it has a packet */
};

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the packet index path into l: its last packet's end and size,
 * its largest packet. 0, or -1 (why in err). */
static int last_read(const char *path, struct last *l, char *err, size_t len)
{
	unsigned char h[INDEX_HEADER], e[ENTRY_TS_END + 8];
	FILE *f = fopen(path, "rb");
	long size;
	uint32_t entry;
	int ret = -1;

	memset(l, 0, sizeof(*l));
	if (!f) {
		snprintf(err, len, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fread(h, 1, sizeof(h), f) != sizeof(h) || be32(h) != INDEX_MAGIC ||
	    (entry = be32(h + 12)) < sizeof(e) || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0) {
		snprintf(err, len, "%s is no CTF packet index", path);
		goto end;
	}
	ret = 0;
	if ((size_t)size < INDEX_HEADER + entry)
		goto end;
	/* Every entry, for the largest packet: a stream's only packets may
	 * all be the stop's flush, whose sizes are any number of pages. */
	for (long n = (size - INDEX_HEADER) / entry, i = 0; i < n; i++) {
		if (fseek(f, INDEX_HEADER + i * (long)entry, SEEK_SET) ||
		    fread(e, 1, sizeof(e), f) != sizeof(e)) {
			snprintf(err, len, "cannot read entry %ld of %s", i, path);
			ret = -1;
			goto end;
		}
		l->size = be64(e + ENTRY_PACKET_SIZE);
		if (l->size > l->largest)
			l->largest = l->size;
		if (!i)
			l->content = be64(e + ENTRY_CONTENT_SIZE);
		else if (be64(e + ENTRY_CONTENT_SIZE) != l->content)
			l->mixed = 1;
	}
	l->end = be64(e + ENTRY_TS_END);
	l->has = 1;
end:
	fclose(f);
	return ret;
}

/* The indexes matching pattern: their paths in g, their last packets in
 * *lasts (to free), the largest packet of them all in *sub (a sub-buffer;
 * UINT64_MAX when it cannot be one). 0, or -1 (why in err). */
static int scan(const char *pattern, glob_t *g, struct last **lasts, uint64_t *sub,
		char *err, size_t len)
{
	int rc = glob(pattern, 0, NULL, g);

	*lasts = NULL;
	*sub = 0;
	if (rc == GLOB_NOMATCH)
		return 0;
	if (rc) {
		snprintf(err, len, "cannot list %s", pattern);
		return -1;
	}
	if (!(*lasts = calloc(g->gl_pathc, sizeof(**lasts)))) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < g->gl_pathc; i++) {
		if (last_read(g->gl_pathv[i], &(*lasts)[i], err, len))
			return -1;
		if ((*lasts)[i].largest > *sub)
			*sub = (*lasts)[i].largest;
	}
	/* A switch closes a packet at the sub-buffer's size, a power of two
	 * of 8 KiB and more (session_ring); the stop's flush one of whole
	 * pages. Where no stream ever switched, the largest (a flush packet
	 * of, say, 3,985,408 bytes ending 21 ms before another stream's on
	 * a loaded machine) is no sub-buffer: none ended early. */
	if (*sub < 8192 || (*sub & (*sub - 1)))
		*sub = UINT64_MAX;
	return 0;
}

int tails_find(const char *dir, uint64_t stop_clock, char *first, size_t len, int64_t *early_ns)
{
	char pat[4096];
	glob_t g = { 0 };
	struct last *lasts = NULL;
	uint64_t latest = 0, earliest = UINT64_MAX, sub;
	size_t worst = 0;
	int n = 0;

	*early_ns = 0;
	first[0] = '\0';
	snprintf(pat, sizeof(pat), "%s/ust/uid/*/*-bit/index/*.idx", dir);
	if (scan(pat, &g, &lasts, &sub, first, len)) {
		n = -1;
		goto end;
	}
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (lasts[i].has && lasts[i].end > latest)
			latest = lasts[i].end;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const struct last *l = &lasts[i];

		/* Never reached by the stop's flush; without the stop's
		 * time, ended by a sub-buffer switch well before the others. */
		if (!l->has || (stop_clock ? l->end >= stop_clock
					   : l->size != sub ||
						     latest - l->end <= (uint64_t)GS_TAIL_SLACK_NS))
			continue;
		n++;
		if (l->end < earliest) {
			earliest = l->end;
			worst = i;
		}
	}
	if (n) {
		/* The stream file, named by its path inside dir. */
		const char *p = g.gl_pathv[worst] + strlen(dir) + 1;
		const char *idx = strstr(p, "/index/");
		int head = idx ? (int)(idx - p) : (int)strlen(p);
		const char *name = idx ? idx + 7 : "";
		int nlen = (int)strlen(name) - 4; /* without ".idx" */

		snprintf(first, len, "%.*s/%.*s", head, p, nlen > 0 ? nlen : 0, name);
		*early_ns = (int64_t)(latest - earliest);
	}
end:
	free(lasts);
	if (g.gl_pathv)
		globfree(&g);
	return n;
}

int tails_empty(const char *dirs, int (*each)(void *ctx, const char *stream), void *ctx,
		char *err, size_t len)
{
	char pat[4096], stream[4096];
	glob_t g = { 0 };
	struct last *lasts = NULL;
	uint64_t sub;
	int n = 0;

	err[0] = '\0';
	snprintf(pat, sizeof(pat), "%s/index/*.idx", dirs);
	if (scan(pat, &g, &lasts, &sub, err, len)) {
		n = -1;
		goto end;
	}
	for (size_t i = 0; i < g.gl_pathc && n >= 0; i++) {
		/* DIR/index/NAME.idx: the stream is DIR/NAME. */
		const char *path = g.gl_pathv[i], *name = strrchr(path, '/');
		int nlen = (int)strlen(name + 1) - 4, dlen = (int)(name - path) - 6;

		if (lasts[i].has || nlen <= 0 || dlen <= 0 || strncmp(name - 6, "/index", 6))
			continue;
		snprintf(stream, sizeof(stream), "%.*s/%.*s", dlen, path, nlen, name + 1);
		n++;
		if (each && each(ctx, stream))
			n = -1;
	}
end:
	free(lasts);
	if (g.gl_pathv)
		globfree(&g);
	return n;
}

int tails_switched(const char *stream)
{
	char pat[4096], idx[4096], err[256];
	const char *slash = strrchr(stream, '/');
	glob_t g = { 0 };
	struct last *lasts = NULL;
	uint64_t sub;
	int ret = -1;

	if (!slash)
		return -1;
	snprintf(pat, sizeof(pat), "%.*s/index/*.idx", (int)(slash - stream), stream);
	snprintf(idx, sizeof(idx), "%.*s/index/%s.idx", (int)(slash - stream), stream, slash + 1);
	if (scan(pat, &g, &lasts, &sub, err, sizeof(err)))
		goto end;
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (!strcmp(g.gl_pathv[i], idx) && lasts[i].has)
			ret = lasts[i].size == sub;
end:
	free(lasts);
	if (g.gl_pathv)
		globfree(&g);
	return ret;
}

/* REC/gilscope.info's stop_clock= value for the stream file REC/ust/uid/
 * UID/BITS-bit/NAME; 0 when there is none. */
static uint64_t info_stop_clock(const char *stream)
{
	char path[4096], line[256];
	const char *end = stream + strlen(stream);
	uint64_t v = 0;
	FILE *f;

	for (int up = 0; up < 5 && end > stream; up++)
		while (--end > stream && *end != '/')
			;
	if (end <= stream || (size_t)(end - stream) + sizeof("/gilscope.info") > sizeof(path))
		return 0;
	snprintf(path, sizeof(path), "%.*s/gilscope.info", (int)(end - stream), stream);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "stop_clock=", 11)) {
			char *e;
			unsigned long long n = strtoull(line + 11, &e, 10);

			v = e != line + 11 && (*e == '\n' || !*e) ? (uint64_t)n : 0;
		}
	fclose(f);
	return v;
}

int tails_before_stop(const char *stream)
{
	char idx[4096], err[256];
	const char *slash = strrchr(stream, '/');
	uint64_t stop = info_stop_clock(stream);
	struct last l;

	if (!slash || !stop)
		return -1;
	snprintf(idx, sizeof(idx), "%.*s/index/%s.idx", (int)(slash - stream), stream, slash + 1);
	if (last_read(idx, &l, err, sizeof(err)) || !l.has)
		return -1;
	return l.end < stop;
}

int tails_no_event(const char *dir)
{
	char pat[4096], err[256];
	glob_t g = { 0 };
	struct last *lasts = NULL;
	uint64_t sub, content = 0;
	int same = 0;

	snprintf(pat, sizeof(pat), "%s/ust/uid/*/*-bit/index/*.idx", dir);
	if (!scan(pat, &g, &lasts, &sub, err, sizeof(err))) {
		same = 1;
		for (size_t i = 0; i < g.gl_pathc && same; i++) {
			const struct last *l = &lasts[i];

			content = content || !l->has ? content : l->content;
			same = !l->has || (!l->mixed && l->content == content);
		}
	}
	free(lasts);
	if (g.gl_pathv)
		globfree(&g);
	return same && content;
}
