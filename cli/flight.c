/* `gilscope flight stop`: ends a flight recorder. */
#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "commands.h"
#include "paths.h"

static void flight_usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope flight stop [SESSION]\n"
		"\n"
		"Ends the flight recorder started by `gilscope record --flight` (SESSION:\n"
		"which one, when several run); what it held is dropped: take a\n"
		"`gilscope snapshot` first if you want it. The session daemon that\n"
		"`record --flight` started, when none ran, is stopped with it unless\n"
		"another recording or session uses it.\n");
}

int cmd_flight(int argc, char **argv)
{
	struct sessiond_opts so;
	struct sessiond_paths sp;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		flight_usage(stdout);
		return GILSCOPE_EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "stop") || argc > 3) {
		flight_usage(stderr);
		return GILSCOPE_EXIT_USAGE;
	}
	paths_sessiond(&so, &sp);
	return flight_stop(&so, argc == 3 ? argv[2] : NULL) != REC_OK ? GILSCOPE_EXIT_FAILURE
								     : GILSCOPE_EXIT_OK;
}
