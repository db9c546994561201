/* `gilscope report`: runs the Python report package (report/gilscope_report,
 * installed as share/gilscope/report) with Debian's python3, or the first
 * python3 on PATH; GILSCOPE_PYTHON names another interpreter (3.9 or newer).
 * The package parses the command line itself, so `--help` and every error
 * message come from one place. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "paths.h"

/* Puts the package directory first on sys.path, then runs its main() with
 * the remaining arguments, after checking the version in syntax that any
 * Python can read. -E -s: no PYTHON* variables, no user site, so
 * the user's environment cannot swap the package. -B: no .pyc next to an
 * installed package. */
static const char bootstrap[] =
	"import sys\n"
	"if sys.version_info < (3, 9):\n"
	"    sys.exit('gilscope report: needs Python 3.9 or newer, this is ' + sys.version.split()[0])\n"
	"sys.path.insert(0, sys.argv.pop(1))\n"
	"from gilscope_report.__main__ import main\n"
	"sys.exit(main(sys.argv[1:]))\n";

int cmd_report(int argc, char **argv)
{
	char dir[PATH_MAX];
	char pkg[PATH_MAX + 32];
	struct stat st;

	if (paths_resolve("share/gilscope/report", dir, sizeof(dir)) != 0) {
		fprintf(stderr, "gilscope report: cannot locate the report package: %s\n", strerror(errno));
		return GILSCOPE_EXIT_FAILURE;
	}
	snprintf(pkg, sizeof(pkg), "%s/gilscope_report/__main__.py", dir);
	if (stat(pkg, &st) != 0) {
		fprintf(stderr, "gilscope report: the report package is missing (%s: %s); rebuild or reinstall gilscope\n",
			pkg, strerror(errno));
		return GILSCOPE_EXIT_FAILURE;
	}

	const char *python = getenv("GILSCOPE_PYTHON");
	if (!python || !*python)
		python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";

	/* python -E -s -B -c BOOTSTRAP DIR ARGS... (argv[0] is "report") */
	char **args = calloc((size_t)argc + 8, sizeof(*args));
	if (!args) {
		fprintf(stderr, "gilscope report: out of memory\n");
		return GILSCOPE_EXIT_FAILURE;
	}
	int n = 0;
	args[n++] = (char *)python;
	args[n++] = "-E";
	args[n++] = "-s";
	args[n++] = "-B";
	args[n++] = "-c";
	args[n++] = (char *)bootstrap;
	args[n++] = dir;
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;

	setenv("GILSCOPE_VERSION", GILSCOPE_VERSION, 1);
	fflush(NULL);
	execvp(python, args);
	fprintf(stderr, "gilscope report: cannot run %s: %s (the report needs Python 3.9 or newer;"
		" set GILSCOPE_PYTHON to use another)\n", python, strerror(errno));
	free(args);
	return GILSCOPE_EXIT_FAILURE;
}
