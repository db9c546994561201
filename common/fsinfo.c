/* fsinfo: statvfs, /proc/PID/fd and /proc/PID/comm, for error messages. */
#include "fsinfo.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

uint64_t fsinfo_free(const char *path, char *out, size_t len)
{
	char dir[PATH_MAX];
	struct statvfs sv;
	uint64_t free_bytes;

	snprintf(dir, sizeof(dir), "%s", path);
	/* A file not created yet: its directory, or the one above. */
	while (statvfs(dir, &sv) < 0) {
		char *slash = strrchr(dir, '/');

		if (!slash || slash == dir) {
			if (slash == dir && statvfs("/", &sv) == 0) {
				snprintf(dir, sizeof(dir), "/");
				break;
			}
			snprintf(out, len, "free space unknown");
			return UINT64_MAX;
		}
		*slash = '\0';
	}
	free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (free_bytes >= (uint64_t)10 << 30)
		snprintf(out, len, "%llu GB free on %s", (unsigned long long)(free_bytes >> 30), dir);
	else if (free_bytes >= (uint64_t)10 << 20)
		snprintf(out, len, "%llu MB free on %s", (unsigned long long)(free_bytes >> 20), dir);
	else
		snprintf(out, len, "%llu kB free on %s", (unsigned long long)(free_bytes >> 10), dir);
	return free_bytes;
}

void fsinfo_comm(pid_t pid, char *out, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(out, len, "?");
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	f = fopen(path, "r");
	if (f) {
		if (fgets(out, (int)len, f))
			out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
	/* Untrusted: a process names itself, and this goes to a terminal. */
	for (char *c = out; *c; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
}

int fsinfo_holders(const char *path, char *out, size_t len)
{
	char want[PATH_MAX];
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	size_t used = 0;
	int found = 0;

	out[0] = '\0';
	if (!proc || !realpath(path, want))
		goto end;
	while ((pe = readdir(proc)) && found < 4) {
		char fddir[64], comm[64];
		long pid = strtol(pe->d_name, NULL, 10);
		struct dirent *fe;
		DIR *fds;
		int has = 0;

		if (pid <= 0 || pid == (long)getpid())
			continue;
		snprintf(fddir, sizeof(fddir), "/proc/%ld/fd", pid);
		fds = opendir(fddir);
		if (!fds)
			continue;
		while (!has && (fe = readdir(fds))) {
			char link[PATH_MAX + 32], target[PATH_MAX];
			ssize_t n;

			snprintf(link, sizeof(link), "%s/%s", fddir, fe->d_name);
			n = readlink(link, target, sizeof(target) - 1);
			if (n > 0) {
				target[n] = '\0';
				has = !strcmp(target, want);
			}
		}
		closedir(fds);
		if (!has)
			continue;
		fsinfo_comm((pid_t)pid, comm, sizeof(comm));
		if (used < len)
			used += (size_t)snprintf(out + used, len - used, "%spid %ld (%s)",
						 found ? ", " : "", pid, comm);
		found++;
	}
end:
	if (proc)
		closedir(proc);
	return found;
}
