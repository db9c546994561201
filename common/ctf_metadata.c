/* ctf_file_read() and ctf_metadata_text() (ctf_metadata.h). */
#include "ctf_metadata.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define METADATA_MAGIC 0x75D11D57u
#define METADATA_HEADER 37       /* bytes: magic, uuid, checksum, sizes, 5 bytes */

static uint32_t get32(const unsigned char *p, int big)
{
	return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
		   : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

unsigned char *ctf_file_read(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	struct stat st;

	if (!f || fstat(fileno(f), &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto end;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory (%lld bytes)", path, (long long)st.st_size);
		goto end;
	}
	*len = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(buf);
		buf = NULL;
	}
end:
	if (f)
		fclose(f);
	return buf;
}

char *ctf_metadata_text(const char *path, size_t *text_len, char *err, size_t errlen)
{
	size_t len = 0, off = 0, tlen = 0;
	unsigned char *m = ctf_file_read(path, &len, err, errlen);
	char *text = NULL;
	int big, n = 0, ok = 0;

	if (!m)
		goto end;
	if (!len) {
		snprintf(err, errlen, "%s: empty: the recording ended before LTTng wrote it "
			 "(a full disk while recording?)", path);
		goto end;
	}
	if (!(text = malloc(len + 1))) {
		snprintf(err, errlen, "%s: out of memory (%zu bytes)", path, len);
		goto end;
	}
	if (len < 4 || (get32(m, 0) != METADATA_MAGIC && get32(m, 1) != METADATA_MAGIC)) {
		memcpy(text, m, len); /* plain-text metadata */
		tlen = len;
		ok = 1;
		goto end;
	}
	big = get32(m, 1) == METADATA_MAGIC;
	for (; off < len; n++) {
		uint64_t content, size;

		if (len - off < METADATA_HEADER) {
			snprintf(err, errlen, "%s: metadata packet %d at byte %zu is cut short "
				 "(%zu bytes left, its header needs %d)", path, n, off, len - off,
				 METADATA_HEADER);
			goto end;
		}
		if (get32(m + off, big) != METADATA_MAGIC) {
			snprintf(err, errlen, "%s: metadata packet %d at byte %zu has a wrong magic "
				 "number (0x%08" PRIx32 ")", path, n, off, get32(m + off, big));
			goto end;
		}
		content = get32(m + off + 24, big);
		size = get32(m + off + 28, big);
		if (size % 8 || size / 8 < METADATA_HEADER || content < 8 * METADATA_HEADER ||
		    content > size) {
			snprintf(err, errlen, "%s: metadata packet %d at byte %zu has impossible "
				 "sizes (content %" PRIu64 " bits, packet %" PRIu64 " bits)", path, n,
				 off, content, size);
			goto end;
		}
		if (size / 8 > len - off) {
			snprintf(err, errlen, "%s: metadata packet %d at byte %zu is cut short "
				 "(%" PRIu64 " bytes, %zu left): the file is truncated (a full disk "
				 "while recording?)", path, n, off,
				 size / 8, len - off);
			goto end;
		}
		memcpy(text + tlen, m + off + METADATA_HEADER, content / 8 - METADATA_HEADER);
		tlen += content / 8 - METADATA_HEADER;
		off += size / 8;
	}
	ok = 1;
end:
	if (ok) {
		for (size_t i = 0; i < tlen; i++)
			if (!text[i])
				text[i] = ' ';
		text[tlen] = '\0';
		if (text_len)
			*text_len = tlen;
	} else {
		free(text);
		text = NULL;
	}
	free(m);
	return text;
}
