#include "srcline.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Source files larger than this are not read for one line. */
#define MAX_SOURCE (64 << 20)

void srcline_clean(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return;
	for (; *s && o + 1 < len; s++) {
		unsigned char c = (unsigned char)*s;

		buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	/* Do not leave half a UTF-8 character at the cut. */
	while (o > 0 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80 && *s)
		o--;
	if (o > 0 && ((unsigned char)buf[o - 1] & 0xc0) == 0xc0 && *s)
		o--;
	buf[o] = '\0';
}

const char *srcline_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

enum gs_status srcline_read(const char *path, int64_t line, char *buf, size_t len)
{
	struct stat sb;
	char raw[1024];
	FILE *f = NULL;
	int64_t n = 0;
	enum gs_status status = GS_ERR_INPUT;
	int c;
	size_t o = 0;

	if (!len || line < 1 || !path || path[0] == '<' || stat(path, &sb) ||
	    !S_ISREG(sb.st_mode) || sb.st_size > MAX_SOURCE)
		goto end;
	f = fopen(path, "r");
	if (!f)
		goto end;
	while (n < line - 1 && (c = getc(f)) != EOF)
		if (c == '\n')
			n++;
	if (n != line - 1)
		goto end;
	while ((c = getc(f)) == ' ' || c == '\t')
		;
	while (c != EOF && c != '\n' && o + 1 < sizeof(raw)) {
		raw[o++] = (char)c;
		c = getc(f);
	}
	while (o > 0 && (raw[o - 1] == '\r' || raw[o - 1] == ' '))
		o--;
	raw[o] = '\0';
	if (!o && c == EOF)
		goto end;
	srcline_clean(raw, buf, len);
	status = GS_OK;
end:
	if (f)
		fclose(f);
	return status;
}
