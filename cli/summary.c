/* `gilscope summary`: the command line only; the work is in
 * analyzer/summary.c. */
#include <getopt.h>
#include <stdio.h>

#include "analyze.h"
#include "commands.h"

static void summary_usage(FILE *out)
{
	fputs("usage: gilscope summary DB\n"
	      "\n"
	      "Prints the latest run of DB (written by `gilscope analyze`) in at most\n"
	      "80 columns: the run, the GIL's figures, percentiles, a table of the\n"
	      "threads, log2 histograms of hold and wait times, and the findings.\n"
	      "\n"
	      "Examples:\n"
	      "  gilscope summary run.db\n"
	      "  gilscope summary run.db | less\n", out);
}

int cmd_summary(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			summary_usage(stdout);
			return GILSCOPE_EXIT_OK;
		}
		summary_usage(stderr);
		return GILSCOPE_EXIT_USAGE;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "gilscope summary: give one DB\n\n");
		summary_usage(stderr);
		return GILSCOPE_EXIT_USAGE;
	}
	return summary_print(argv[optind], stdout) ? GILSCOPE_EXIT_FAILURE : GILSCOPE_EXIT_OK;
}
