#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int paths_self_exe(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

int paths_resolve(const char *rel, char *buf, size_t size)
{
	char exe[PATH_MAX];

	if (paths_self_exe(exe, sizeof(exe)))
		return -1;
	/* strip "/gilscope", then "/bin" */
	for (int i = 0; i < 2; i++) {
		char *slash = strrchr(exe, '/');
		if (!slash) {
			errno = ENOENT;
			return -1;
		}
		*slash = '\0';
	}
	int w = snprintf(buf, size, "%s/%s", exe, rel);
	if (w < 0 || (size_t)w >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int find_in_path(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		int n = snprintf(out, size, "%.*s/%s", (int)len, path, name);
		if (n > 0 && (size_t)n < size && access(out, X_OK) == 0)
			return 0;
		path += len + (path[len] == ':');
	}
	return -1;
}

int paths_hook(const char *pfx, char *preload, char *pydir)
{
	if (paths_resolve("lib/gilscope/libgilscope-preload.so", preload, PATH_MAX) ||
	    access(preload, R_OK) < 0) {
		fprintf(stderr, "%sthe preload library is missing (%s): %s\n", pfx, preload, strerror(errno));
		return -1;
	}
	if (paths_resolve("share/gilscope/python", pydir, PATH_MAX)) {
		fprintf(stderr, "%scannot locate the Python hook: %s\n", pfx, strerror(errno));
		return -1;
	}
	return 0;
}

void paths_sessiond(struct sessiond_opts *o, struct sessiond_paths *buf)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	const char *home = getenv("LTTNG_HOME");

	if (!home)
		home = getenv("HOME") ? getenv("HOME") : "/";
	snprintf(buf->state_dir, sizeof(buf->state_dir), "%s", rt && *rt ? rt : "/tmp");
	if (getuid() == 0)
		snprintf(buf->pidfile, sizeof(buf->pidfile), "/var/run/lttng/lttng-sessiond.pid");
	else
		snprintf(buf->pidfile, sizeof(buf->pidfile), "%s/.lttng/lttng-sessiond.pid", home);
	memset(o, 0, sizeof(*o));
	o->state_dir = buf->state_dir;
	o->pidfile = buf->pidfile;
	o->exe = find_in_path("lttng-sessiond", buf->exe, sizeof(buf->exe)) ? NULL : buf->exe;
	o->notes = stderr;
	buf->nested = getenv("GILSCOPE_TAG") != NULL;
}
