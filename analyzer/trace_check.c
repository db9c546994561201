/* trace_check_dir(): the metadata packets and the packet indexes of a CTF
 * trace, bounds-checked before libbabeltrace2 trusts them (CTF 1.8
 * "metadata_packet_header"; LTTng's "ctf_packet_index", big-endian). */
#include "trace_check.h"

#include "ctf_metadata.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INDEX_MAGIC 0xC1F1DCC1u
#define INDEX_HEADER 16          /* magic, major, minor, entry length */
#define INDEX_ENTRY_MIN 56       /* v1.0: seven 64-bit fields */
#define PACKET_MAGIC 0xC1FC1FC1u
#define MAX_CLASSES 64

/* What a stream file's packets need from the metadata: the stream classes
 * it declares, and where LTTng's packet header keeps the stream class id. */
struct classes {
	int have_header;     /* a `trace` block with a stream_id in packet.header */
	int big;             /* byte_order = be */
	size_t id_at;        /* the stream_id's byte offset in a packet header */
	size_t n;
	uint64_t id[MAX_CLASSES];
};

static uint32_t get32(const unsigned char *p, int big)
{
	return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
		   : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t get64be(const unsigned char *p)
{
	return (uint64_t)get32(p, 1) << 32 | get32(p + 4, 1);
}

/* The stream class ids the metadata TEXT (NUL-terminated) declares, and
 * the packet header's layout (LTTng's: magic, uuid[16], stream_id, ...). */
static void classes_find(const char *text, struct classes *c)
{
	const char *t = strstr(text, "packet.header"), *p;

	if (t && (p = strstr(t, "stream_id;"))) {
		c->have_header = 1;
		c->id_at = strstr(t, "uuid[16]") && strstr(t, "uuid[16]") < p ? 20 : 4;
	}
	c->big = strstr(text, "byte_order = be") != NULL;
	for (p = text; (p = strstr(p, "stream {")) && c->n < MAX_CLASSES; p++) {
		const char *q = p + strlen("stream {");

		if (p > text && p[-1] != '\n')
			continue; /* not a top-level declaration */
		q += strspn(q, " \t\r\n");
		/* No id: the trace's only stream class, id 0. */
		if (strncmp(q, "id", 2) || !strchr(" \t=", q[2])) {
			c->id[c->n++] = 0;
			continue;
		}
		q += 2 + strspn(q + 2, " \t");
		if (*q == '=')
			c->id[c->n++] = strtoull(q + 1, NULL, 0);
	}
}

static enum gs_status check_metadata(const char *path, struct classes *c, char *err, size_t errlen)
{
	char *text = ctf_metadata_text(path, NULL, err, errlen);

	if (!text)
		return GS_ERR_INPUT;
	classes_find(text, c);
	free(text);
	return GS_OK;
}

/* DIR/NAME, a stream file: its first packet's stream class is one the
 * metadata declares (else babeltrace2 cannot open the trace: "No stream
 * class with ID of stream class ID to use in trace class"). */
static enum gs_status check_stream(const char *dir, const char *name, const struct classes *c,
				   char *err, size_t errlen)
{
	char path[PATH_MAX], have[200] = "none";
	unsigned char h[32];
	size_t got, n = 0;
	uint64_t id;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "rb")))
		return GS_OK; /* not ours to read: babeltrace2 says why */
	got = fread(h, 1, c->id_at + 4, f);
	fclose(f);
	/* No packet (common/tails.c names it), or no CTF packet at all. */
	if (got < c->id_at + 4 || get32(h, c->big) != PACKET_MAGIC)
		return GS_OK;
	id = get32(h + c->id_at, c->big);
	for (size_t i = 0; i < c->n; i++) {
		if (c->id[i] == id)
			return GS_OK;
		n += (size_t)snprintf(have + n, n < sizeof(have) ? sizeof(have) - n : 0,
				      "%s%" PRIu64, i ? ", " : "", c->id[i]);
		if (n >= sizeof(have))
			n = sizeof(have);
	}
	/* None: LTTng made the per-user buffers for a traced process whose
	 * registration with the session daemon had not completed when it
	 * ended (liblttng-ust gave up waiting, LTTNG_UST_REGISTER_TIMEOUT):
	 * the stop's empty packets, no description, no event. */
	snprintf(err, errlen, "%s: its packets are of stream class %" PRIu64 ", which %s/metadata "
		 "does not declare (it declares %s): LTTng wrote the stream but not its "
		 "description, babeltrace2 cannot read the trace%s", path, id, dir, have,
		 c->n ? "" : "; no traced process completed its registration with the LTTng "
		 "session daemon before it ended (a busy machine or daemon: liblttng-ust waits "
		 "LTTNG_UST_REGISTER_TIMEOUT ms, 3000 by default), so no event was recorded");
	return GS_ERR_INPUT;
}

/* DIR/index/NAME.idx against DIR/NAME. */
static enum gs_status check_index(const char *dir, const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX], stream[PATH_MAX];
	size_t len = 0, nlen = strlen(name) - strlen(".idx");
	unsigned char *x = NULL;
	struct stat st;
	uint32_t entry;
	uint64_t prev_end = 0;
	enum gs_status status = GS_ERR_INPUT;

	snprintf(path, sizeof(path), "%s/index/%s", dir, name);
	snprintf(stream, sizeof(stream), "%s/%.*s", dir, (int)nlen, name);
	if (stat(stream, &st) < 0) {
		status = GS_OK; /* an index of no stream: babeltrace2 ignores it */
		goto end;
	}
	x = ctf_file_read(path, &len, err, errlen);
	if (!x)
		goto end;
	if (len < INDEX_HEADER || get32(x, 1) != INDEX_MAGIC) {
		snprintf(err, errlen, "%s: not a CTF packet index (bad header)", path);
		goto end;
	}
	entry = get32(x + 12, 1);
	if (get32(x + 4, 1) != 1 || entry < INDEX_ENTRY_MIN || entry > 4096 ||
	    (len - INDEX_HEADER) % entry) {
		snprintf(err, errlen, "%s: index version %" PRIu32 ".%" PRIu32 " with %" PRIu32
			 "-byte entries over %zu bytes: damaged", path, get32(x + 4, 1),
			 get32(x + 8, 1), entry, len - INDEX_HEADER);
		goto end;
	}
	for (size_t off = INDEX_HEADER, n = 0; off < len; off += entry, n++) {
		const unsigned char *e = x + off;
		uint64_t at = get64be(e), size = get64be(e + 8), content = get64be(e + 16);
		uint64_t begin = get64be(e + 24), endts = get64be(e + 32);

		if (!size || size % 8 || content > size || at < prev_end ||
		    at > (uint64_t)st.st_size || size / 8 > (uint64_t)st.st_size - at ||
		    begin > endts) {
			snprintf(err, errlen, "%s: entry %zu (packet at byte %" PRIu64 ", %" PRIu64
				 " bits, content %" PRIu64 " bits, time %" PRIu64 "..%" PRIu64
				 ") does not fit %s (%lld bytes): a damaged index, or a stream "
				 "cut short (a full disk while recording?); without the index/ "
				 "directory the stream is read alone", path, n, at, size,
				 content, begin, endts, stream, (long long)st.st_size);
			goto end;
		}
		prev_end = at + size / 8;
	}
	status = GS_OK;
end:
	free(x);
	return status;
}

enum gs_status trace_check_dir(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = NULL;
	struct classes c;
	enum gs_status status;

	memset(&c, 0, sizeof(c));
	snprintf(path, sizeof(path), "%s/metadata", dir);
	if ((status = check_metadata(path, &c, err, errlen)) != GS_OK)
		goto end;
	d = c.have_header ? opendir(dir) : NULL;
	while (d && status == GS_OK && (de = readdir(d))) {
		if (de->d_name[0] != '.' && strcmp(de->d_name, "metadata") &&
		    strcmp(de->d_name, "index"))
			status = check_stream(dir, de->d_name, &c, err, errlen);
	}
	if (d)
		closedir(d);
	d = NULL;
	if (status != GS_OK)
		goto end;
	snprintf(path, sizeof(path), "%s/index", dir);
	d = opendir(path);
	/* No index: babeltrace2 reads the streams alone. */
	while (d && status == GS_OK && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n > 4 && !strcmp(de->d_name + n - 4, ".idx"))
			status = check_index(dir, de->d_name, err, errlen);
	}
end:
	if (d)
		closedir(d);
	return status;
}
