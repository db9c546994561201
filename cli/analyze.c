/* `gilscope analyze`: the command line only; the work is in
 * analyzer/analyze.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"
#include "commands.h"

static void analyze_usage(FILE *out)
{
	fputs("usage: gilscope analyze [-o DB] [--append] [--progress | --no-progress]\n"
	      "                        [-v] TRACE_DIR\n"
	      "\n"
	      "Turns a trace written by `gilscope record` into a SQLite database of\n"
	      "GIL holds, waits, hand-offs, drop requests and forced switches, with\n"
	      "per-thread and per-run figures and findings (docs/schema.md).\n"
	      "\n"
	      "Options:\n"
	      "  -o, --output DB   the database to write (default: run.db)\n"
	      "  -a, --append      add this run to DB instead of replacing it\n"
	      "      --progress    show progress on stderr (default: when it is a\n"
	      "                    terminal and the trace takes a while)\n"
	      "      --no-progress never show progress\n"
	      "  -v, --verbose     on a trace error, print every babeltrace2 cause\n"
	      "  -h, --help        show this help\n"
	      "\n"
	      "Without --append an existing DB is replaced only once the new one is\n"
	      "complete: on any error it is left untouched.\n"
	      "\n"
	      "Examples:\n"
	      "  gilscope analyze trace -o run.db\n"
	      "  gilscope analyze --append trace2 -o runs.db   # compare runs later\n"
	      "  sqlite3 run.db 'SELECT tid, count(*), max(dur_ns) FROM holds GROUP BY tid'\n"
	      "  sqlite3 run.db 'SELECT * FROM switches ORDER BY gap_ns DESC LIMIT 10'\n", out);
}

/* The analyzer's tuning knobs, for tests and bench/: read here only, once
 * per command (docs/gilscope.1, ENVIRONMENT). */
void analyze_opts_env(struct analyze_opts *opts)
{
	const char *budget = getenv("GILSCOPE_DURS_BUDGET");

	if (budget && *budget)
		opts->durs_budget = strtoull(budget, NULL, 10);
	opts->index_after_fill = getenv("GILSCOPE_INDEX_AFTER_FILL") != NULL;
	opts->timing = getenv("GILSCOPE_TIMING") != NULL;
	opts->no_trace_check = getenv("GILSCOPE_NO_TRACE_CHECK") != NULL;
}

int cmd_analyze(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_OUTPUT,
		{ "append", no_argument, NULL, 'a' },
		{ "progress", no_argument, NULL, 'P' },
		{ "no-progress", no_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		OPT_END,
	};
	struct analyze_opts opts = { .db_path = "run.db", .progress = -1 };
	int c, status = -1;

	analyze_opts_env(&opts);
	optind = 1;
	while ((c = cli_getopt(argc, argv, "o:avh", longopts, analyze_usage, &status)) != -1) {
		switch (c) {
		case 'o':
			opts.db_path = optarg;
			break;
		case 'a':
			opts.append = 1;
			break;
		case 'P':
			opts.progress = 1;
			break;
		case 'N':
			opts.progress = 0;
			break;
		case 'v':
			opts.verbose = 1;
			break;
		}
	}
	if (status >= 0)
		return status;
	if (argc - optind != 1)
		return cli_bad_args("analyze", "give one TRACE_DIR", analyze_usage);
	opts.trace_dir = argv[optind];
	return analyze(&opts) != GS_OK ? GILSCOPE_EXIT_FAILURE : GILSCOPE_EXIT_OK;
}

