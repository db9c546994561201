/* Where gilscope's parts live. The build tree mirrors the install tree
 * (bin/, lib/gilscope/, share/gilscope/), so every part is found relative
 * to the running executable, installed or not. */
#ifndef GILSCOPE_PATHS_H
#define GILSCOPE_PATHS_H

#include <limits.h>
#include <stddef.h>

#include "sessiond.h"

/* The running executable's path (/proc/self/exe) into buf. Returns 0, or
 * -1 with errno set. */
int paths_self_exe(char *buf, size_t size);

/* Writes "<prefix>/<rel>" into buf, where prefix is the directory above the
 * one holding the running executable. Returns 0, or -1 with errno set. */
int paths_resolve(const char *rel, char *buf, size_t size);

/* The preload library and the Python hook's directory (share/gilscope/
 * python), into buffers of PATH_MAX. Returns 0, or -1 after printing one
 * line starting with pfx. */
int paths_hook(const char *pfx, char *preload, char *pydir);

/* Where the session daemon's files are, from the environment: the state
 * directory ($XDG_RUNTIME_DIR, else /tmp), this user's lttng-sessiond.pid
 * ($LTTNG_HOME or $HOME, /var/run/lttng for root) and lttng-sessiond in
 * $PATH. Fills o with pointers into buf. buf->nested tells that this
 * process runs under a recorder already ($GILSCOPE_TAG is set). */
struct sessiond_paths {
	char state_dir[PATH_MAX], pidfile[PATH_MAX], exe[PATH_MAX];
	int nested;
};
void paths_sessiond(struct sessiond_opts *o, struct sessiond_paths *buf);

#endif
