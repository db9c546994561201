/* gilscope: the command table (commands.h) and nothing else. Each command
 * is cli/NAME.c, its options and usage; the work lives in the libraries
 * below: tracer/ (the recorder), analyzer/ (analyze, summary) and report/
 * (the Python report package). */
#include <stdio.h>
#include <string.h>

#include "commands.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

#define COMMAND_ENTRY(name, help) { #name, cmd_##name, help },
static const struct command commands[] = { COMMANDS(COMMAND_ENTRY) };
#undef COMMAND_ENTRY

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope [--version] [--help] COMMAND [ARGS]\n"
		"\n"
		"Shows exactly what CPython's Global Interpreter Lock does to your\n"
		"threads: every GIL request, acquire, release, drop request and\n"
		"forced switch, traced with LTTng.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(out,
		"\n"
		"Examples:\n"
		"  gilscope run -- python3 app.py          # all in one: out/ holds the report\n"
		"  gilscope record -o trace -- python3 app.py\n"
		"  gilscope analyze trace -o run.db\n"
		"  gilscope report run.db -o report.html\n"
		"  gilscope summary run.db\n"
		"  gilscope export run.db -o run.pftrace   # open in https://ui.perfetto.dev\n"
		"  gilscope diff before.db after.db        # did my change help?\n"
		"  gilscope exec -- python3 server.py     # a service, traced later by pid:\n"
		"  gilscope record --pid 4242 --duration 10s -o trace\n"
		"\n"
		"`gilscope COMMAND --help` tells more; see also gilscope(1).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return GILSCOPE_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return GILSCOPE_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("gilscope %s\n", GILSCOPE_VERSION);
		return GILSCOPE_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "gilscope: '%s' is not a command; see 'gilscope --help'\n", argv[1]);
	return GILSCOPE_EXIT_USAGE;
}
