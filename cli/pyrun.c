/* The report package runs under Debian's python3, or the first python3 on
 * PATH; GILSCOPE_PYTHON names another interpreter (3.9 or newer). The
 * package parses the command line itself, so `--help` and every error
 * message come from one place. */
#include "pyrun.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "paths.h"

/* argv[1] is the command's name, argv[2] the package directory, put first
 * on sys.path, argv[3] the module; the version check is in syntax that any
 * Python can read. -E -s: no PYTHON* variables, no user site, so the
 * user's environment cannot swap the package. -B: no .pyc next to an
 * installed package. */
static const char bootstrap[] =
	"import sys\n"
	"if sys.version_info < (3, 9):\n"
	"    sys.exit('gilscope ' + sys.argv[1] + ': needs Python 3.9 or newer, this is ' + sys.version.split()[0])\n"
	"name = sys.argv.pop(1)\n"
	"sys.path.insert(0, sys.argv.pop(1))\n"
	"module = sys.argv.pop(1)\n"
	"import importlib\n"
	"sys.exit(importlib.import_module('gilscope_report.' + module).main(sys.argv[1:]))\n";

int pyrun_exec(const char *command, const char *module, int argc, char **argv)
{
	char dir[PATH_MAX];
	char pkg[PATH_MAX + 64];
	struct stat st;
	const char *python;
	char **args = NULL;
	int n = 0, w;

	if (paths_resolve("share/gilscope/report", dir, sizeof(dir)) != 0) {
		fprintf(stderr, "gilscope %s: cannot locate the report package: %s\n", command,
			strerror(errno));
		goto end;
	}
	w = snprintf(pkg, sizeof(pkg), "%s/gilscope_report/%s.py", dir, module);
	if (w < 0 || (size_t)w >= sizeof(pkg) || stat(pkg, &st) != 0) {
		fprintf(stderr, "gilscope %s: the report package is missing (%s: %s); rebuild or "
			"reinstall gilscope\n", command, pkg, strerror(errno));
		goto end;
	}

	python = getenv("GILSCOPE_PYTHON");
	if (!python || !*python)
		python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";

	/* python -E -s -B -c BOOTSTRAP COMMAND DIR MODULE ARGS... */
	args = calloc((size_t)argc + 10, sizeof(*args));
	if (!args) {
		fprintf(stderr, "gilscope %s: out of memory\n", command);
		goto end;
	}
	args[n++] = (char *)python;
	args[n++] = "-E";
	args[n++] = "-s";
	args[n++] = "-B";
	args[n++] = "-c";
	args[n++] = (char *)bootstrap;
	args[n++] = (char *)command;
	args[n++] = dir;
	args[n++] = (char *)module;
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;

	setenv("GILSCOPE_VERSION", GILSCOPE_VERSION, 1);
	fflush(NULL);
	execvp(python, args);
	fprintf(stderr, "gilscope %s: cannot run %s: %s (it needs Python 3.9 or newer;"
		" set GILSCOPE_PYTHON to use another)\n", command, python, strerror(errno));
end:
	free(args);
	return GILSCOPE_EXIT_FAILURE; /* on success execvp does not return */
}
