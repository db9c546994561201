#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int paths_resolve(const char *rel, char *buf, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -1;
	exe[n] = '\0';
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
