/* The per-user buffers made before the command (preregister.h). */
#include "preregister.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* LTTng-UST 2.13's library: its constructor registers with the session
 * daemon and waits for the registration to be done. */
#define UST_LIB "liblttng-ust.so.1"

extern char **environ;

/* env without LD_PRELOAD (nothing of the user's runs in the helper) and
 * with LTTNG_UST_REGISTER_TIMEOUT=-1, or NULL out of memory. */
static char **helper_env(char *const *env)
{
	static char timeout[] = "LTTNG_UST_REGISTER_TIMEOUT=-1";
	size_t n = 0, k = 0;
	char **out;

	for (char *const *e = env; e && *e; e++)
		n++;
	if (!(out = calloc(n + 2, sizeof(*out))))
		return NULL;
	for (char *const *e = env; e && *e; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) && strncmp(*e, "LTTNG_UST_REGISTER_TIMEOUT=", 27))
			out[k++] = *e;
	out[k] = timeout;
	return out;
}

enum rec_status preregister_run(const char *pfx, char *const *env)
{
	char **henv = helper_env(env);
	enum rec_status status = REC_FAILED;
	int pfd = -1, wstatus = 0, rc = 0;
	pid_t pid = -1;

	if (!henv) {
		fprintf(stderr, "%sout of memory\n", pfx);
		goto end;
	}
	if ((pid = fork()) < 0) {
		fprintf(stderr, "%scannot fork: %s\n", pfx, strerror(errno));
		goto end;
	}
	if (pid == 0) {
		/* dlopen() returns once the constructor's wait is over: the
		 * registration is done, or the daemon could not be reached. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		environ = henv;
		_exit(dlopen(UST_LIB, RTLD_NOW) ? 0 : 2);
	}
	if ((pfd = (int)syscall(SYS_pidfd_open, pid, 0)) >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		while ((rc = poll(&p, 1, PREREGISTER_WAIT_MS)) < 0 && errno == EINTR)
			;
	}
	if (rc == 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (rc == 0)
		fprintf(stderr, "%sthe session daemon did not register a first process within %d s: "
			"the command's first traced process may wait for it, and run untraced past "
			"LTTNG_UST_REGISTER_TIMEOUT\n", pfx, PREREGISTER_WAIT_MS / 1000);
	else if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus))
		fprintf(stderr, "%scannot load %s to make the session's buffers before the command\n",
			pfx, UST_LIB);
	else
		status = REC_OK;
end:
	if (pfd >= 0)
		close(pfd);
	free(henv);
	return status;
}
