/* Streams of a recorded trace that end before the others (tails.h). */
#include "tails.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_MAGIC 0xc1f1dcc1u
#define INDEX_HEADER 16    /* magic, major, minor, entry size: big-endian u32 */
#define ENTRY_TS_END 32    /* offset, packet_size, content_size, ts_begin, ts_end */

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

/* The end of path's last packet (clock cycles, 1 GHz for LTTng-UST);
 * 0 when it has no packet, -1 on error (why in err). */
static int last_end(const char *path, uint64_t *end, char *err, size_t len)
{
	unsigned char h[INDEX_HEADER], e[ENTRY_TS_END + 8];
	FILE *f = fopen(path, "rb");
	long size;
	uint32_t entry;
	int ret = -1;

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
	if (fseek(f, INDEX_HEADER + ((size - INDEX_HEADER) / entry - 1) * entry, SEEK_SET) ||
	    fread(e, 1, sizeof(e), f) != sizeof(e)) {
		snprintf(err, len, "cannot read %s's last entry", path);
		ret = -1;
		goto end;
	}
	*end = be64(e + ENTRY_TS_END);
	ret = 1;
end:
	fclose(f);
	return ret;
}

int tails_find(const char *dir, char *first, size_t len, int64_t *early_ns)
{
	char pat[4096];
	glob_t g;
	uint64_t latest = 0, earliest = UINT64_MAX, *ends = NULL;
	size_t worst = 0;
	int n = 0, rc;

	*early_ns = 0;
	first[0] = '\0';
	snprintf(pat, sizeof(pat), "%s/ust/uid/*/*-bit/index/*.idx", dir);
	if ((rc = glob(pat, 0, NULL, &g)) != 0)
		return rc == GLOB_NOMATCH ? 0 : (snprintf(first, len, "cannot list %s", pat), -1);
	if (!(ends = calloc(g.gl_pathc, sizeof(*ends)))) {
		snprintf(first, len, "out of memory");
		n = -1;
		goto end;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		if ((rc = last_end(g.gl_pathv[i], &ends[i], first, len)) < 0) {
			n = -1;
			goto end;
		}
		if (!rc)
			ends[i] = UINT64_MAX; /* no packet: nothing to compare */
		else if (ends[i] > latest)
			latest = ends[i];
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		if (ends[i] == UINT64_MAX || latest - ends[i] <= (uint64_t)GS_TAIL_SLACK_NS)
			continue;
		n++;
		if (ends[i] < earliest) {
			earliest = ends[i];
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
	free(ends);
	globfree(&g);
	return n;
}
