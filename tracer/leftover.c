/* Finds the processes of a recording still running after it: the ones
 * whose environment holds its GILSCOPE_TAG (the recorder puts it there and
 * children inherit it). Readable for the user's own processes. */
#include "leftover.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether the NUL-separated environment in /proc/<pid>/environ holds
 * exactly want ("GILSCOPE_TAG=123"). */
static int environ_has(const char *pid, const char *want)
{
	char path[300], buf[65536];
	snprintf(path, sizeof(path), "/proc/%s/environ", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n, len = 0;
	while (len < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	size_t wl = strlen(want);
	for (char *p = buf; p < buf + len; p += strlen(p) + 1)
		if (strncmp(p, want, wl) == 0 && p[wl] == '\0')
			return 1;
	return 0;
}

/* The command name and state of a process, from /proc/<pid>/stat. */
static int process_comm(const char *pid, char *comm, size_t size, char *state)
{
	char path[300], buf[512];
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	if (!open || !close || close < open || close[1] != ' ')
		return -1;
	snprintf(comm, size, "%.*s", (int)(close - open - 1), open + 1);
	/* Untrusted: a process names itself. */
	for (char *c = comm; *c; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
	*state = close[2];
	return 0;
}

int leftover_report(FILE *out, const char *pfx, uint32_t tag, const char *why)
{
	char want[32], comm[64], state;
	int count = 0;
	snprintf(want, sizeof(want), "GILSCOPE_TAG=%u", tag);
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]) || atoi(e->d_name) == (int)getpid())
			continue;
		if (!environ_has(e->d_name, want) || process_comm(e->d_name, comm, sizeof(comm), &state))
			continue;
		if (state == 'Z' || state == 'X')
			continue;
		fprintf(out, "%spid %s (%s) %s\n", pfx, e->d_name, comm, why);
		count++;
	}
	closedir(d);
	return count;
}
