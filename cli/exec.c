/* `gilscope exec`: runs a command ready to be traced later, with no
 * recording: the preload library and the thread-name hook, then execvp
 * (the command takes gilscope's place: its pid, signals and exit status
 * are its own, as a service manager expects). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "paths.h"

#define PFX "gilscope exec: "

/* NAME=value[:old] in this process's environment, for the command it
 * executes next. */
static int prepend_env(const char *name, const char *value)
{
	const char *old = getenv(name);
	size_t n;
	char *v = NULL;
	int rc = -1; /* errno says why */

	if (!old || !*old) {
		rc = setenv(name, value, 1);
		goto end;
	}
	n = strlen(value) + strlen(old) + 2;
	v = malloc(n);
	if (!v)
		goto end;
	snprintf(v, n, "%s:%s", value, old);
	rc = setenv(name, v, 1);
end:
	if (v)
		free(v);
	return rc;
}

static void exec_usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope exec [--code MODE] -- CMD [ARGS...]\n"
		"\n"
		"Runs CMD (replacing gilscope, same pid) with gilscope's preload library\n"
		"and Python hook, recording nothing. Its CPython processes cost a few ns\n"
		"per GIL event while no session records them, and register with an LTTng\n"
		"session daemon whenever one runs, also one started later; then\n"
		"`gilscope record --pid PID` or the flight recorder (`record --flight`)\n"
		"trace them without a restart. docs/services.md has the equivalent\n"
		"environment for systemd units, containers, gunicorn and uwsgi.\n"
		"\n"
		"Options:\n"
		"  -c, --code MODE  code locations of each acquire and release, chosen\n"
		"                   now for every later recording: stack (default), site\n"
		"                   (the line only: cheaper) or off\n"
		"  -h, --help       this help\n"
		"\n"
		"Examples:\n"
		"  gilscope exec -- python3 server.py &\n"
		"  gilscope record --pid $! --duration 10s -o trace\n"
		"  gilscope exec -- gunicorn -w 4 app:app\n");
}

int cmd_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "code", required_argument, NULL, 'c' },
		OPT_END,
	};
	char preload[PATH_MAX], pydir[PATH_MAX];
	const char *code = NULL;
	int status = -1;

	optind = 1;
	/* "+": the command's own options are not ours. */
	while (cli_getopt(argc, argv, "+c:h", longopts, exec_usage, &status) == 'c') {
		if (opt_code(optarg, "exec"))
			return GILSCOPE_EXIT_USAGE;
		code = optarg;
	}
	if (status >= 0)
		return status;
	int first = optind;
	if (first >= argc) {
		fprintf(stderr, PFX "no command given; see 'gilscope exec --help'\n");
		return GILSCOPE_EXIT_USAGE;
	}
	if (paths_hook(PFX, preload, pydir))
		return GILSCOPE_EXIT_FAILURE;
	/* No GILSCOPE_TAG: a recording's tag would tie the process to one
	 * recording; `record --pid` names its processes instead. */
	unsetenv("GILSCOPE_TAG");
	if (prepend_env("LD_PRELOAD", preload) || prepend_env("PYTHONPATH", pydir) ||
	    (code && setenv("GILSCOPE_ATTRIB", code, 1))) {
		fprintf(stderr, PFX "cannot set the environment: %s\n", strerror(errno));
		return GILSCOPE_EXIT_FAILURE;
	}
	execvp(argv[first], argv + first);
	fprintf(stderr, PFX "cannot run '%s': %s\n", argv[first], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
