/* What several commands share: the options more than one takes, the
 * default output directory, and the recorder's parts and environment,
 * read here for the libraries below (tracer/, analyzer/), which read none. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "paths.h"
#include "record.h"

extern char **environ;

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
	       void (*usage)(FILE *), int *status)
{
	int c = getopt_long(argc, argv, shortopts, longopts, NULL);

	if (c == 'h') {
		usage(stdout);
		*status = GILSCOPE_EXIT_OK;
		return -1;
	}
	if (c == '?' || c == ':') {
		usage(stderr);
		*status = GILSCOPE_EXIT_USAGE;
		return -1;
	}
	return c;
}

int cli_bad_args(const char *cmd, const char *why, void (*usage)(FILE *))
{
	fprintf(stderr, "gilscope %s: %s\n\n", cmd, why);
	usage(stderr);
	return GILSCOPE_EXIT_USAGE;
}

/* "64M", "512k", "1G", "4096", with an optional "iB" or "B": bytes, or 0
 * when invalid. */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i') + (end[*end == 'i'] == 'B');
	return *end ? 0 : (uint64_t)v;
}

int opt_buffer_size(const char *arg, uint64_t *size, const char *cmd)
{
	*size = parse_size(arg);
	if (*size < 64 * 1024) {
		fprintf(stderr, "gilscope %s: --buffer-size wants a size of at least 64k, like 64M, "
			"not '%s'\n", cmd, arg);
		return -1;
	}
	return 0;
}

int opt_code(const char *arg, const char *cmd)
{
	if (!strcmp(arg, "off") || !strcmp(arg, "site") || !strcmp(arg, "stack"))
		return 0;
	fprintf(stderr, "gilscope %s: --code wants off, site or stack, not '%s'\n", cmd, arg);
	return -1;
}

int opt_recording(int c, const char *arg, struct record_opts *o, const char *cmd)
{
	if (c == 'b')
		return opt_buffer_size(arg, &o->buffer_size, cmd);
	if (opt_code(arg, cmd))
		return -1;
	o->code = arg;
	return 0;
}

void default_outdir(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(buf, size, "gilscope-%Y%m%d-%H%M%S", &tm);
}

int record_setup(struct record_opts *o, const char *cmd, char **args, int nargs)
{
	static struct sessiond_opts so;
	static struct sessiond_paths sp;
	static char preload[PATH_MAX], pydir[PATH_MAX];
	char pfx[64];

	if (nargs <= 0) {
		fprintf(stderr, "gilscope %s: no command given; see 'gilscope %s --help'\n", cmd, cmd);
		return GILSCOPE_EXIT_USAGE;
	}
	o->cmd = args;
	paths_sessiond(&so, &sp);
	if (sp.nested) {
		fprintf(stderr, "gilscope %s: already running under `gilscope record` (GILSCOPE_TAG "
			"is set): recording inside a recording is not supported\n", cmd);
		return GILSCOPE_EXIT_USAGE;
	}
	snprintf(pfx, sizeof(pfx), "gilscope %s: ", cmd);
	if (paths_hook(pfx, preload, pydir))
		return GILSCOPE_EXIT_FAILURE;
	o->sessiond = &so;
	o->preload = preload;
	o->python_dir = pydir;
	o->base_env = environ;
	return GILSCOPE_EXIT_OK;
}
