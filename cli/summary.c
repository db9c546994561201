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
		OPT_END,
	};
	int status = -1;

	optind = 1;
	/* No option of its own: -h, or a bad one, ends the loop. */
	while (cli_getopt(argc, argv, "h", longopts, summary_usage, &status) != -1)
		;
	if (status >= 0)
		return status;
	if (argc - optind != 1)
		return cli_bad_args("summary", "give one DB", summary_usage);
	return summary_print(argv[optind], stdout) != GS_OK ? GILSCOPE_EXIT_FAILURE : GILSCOPE_EXIT_OK;
}
