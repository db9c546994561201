/* `gilscope snapshot`: writes what a flight recorder holds. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "attach.h"
#include "commands.h"
#include "paths.h"
#include "record.h"

#define PFX "gilscope snapshot: "

static void snapshot_usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope snapshot [SESSION] -o DIR\n"
		"\n"
		"Writes the events a flight recorder (`gilscope record --flight`) holds\n"
		"in memory, the last --buffer-size per CPU, as a trace in DIR; the\n"
		"recorder goes on. Before writing, each recorded process says again\n"
		"what its GILs and threads are. Analyze DIR like any trace; its start\n"
		"is the ring buffer's horizon. SESSION: the flight session when\n"
		"several run (`lttng list`). A snapshot babeltrace2 cannot read (its\n"
		"metadata does not describe its streams) is said so in one line, exit 1.\n"
		"Its gilscope.info says which of the recorder's processes left events\n"
		"(recorded_pids=), which had none in the rings (idle_pids=) and which\n"
		"the session daemon no longer knows (unregistered_pids=: ended); the\n"
		"closing lines name the last two.\n"
		"\n"
		"Options:\n"
		"  -o, --output DIR   where to write (new or empty)\n"
		"  -h, --help         this help\n"
		"\n"
		"Examples:\n"
		"  gilscope snapshot -o snap1 && gilscope analyze snap1 -o snap1.db\n");
}

int cmd_snapshot(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_OUTPUT,
		OPT_END,
	};
	const char *outdir = NULL, *session = NULL;
	struct record_result res;
	struct sessiond_opts so;
	struct sessiond_paths sp;
	int status = -1;

	optind = 1;
	while (cli_getopt(argc, argv, "o:h", longopts, snapshot_usage, &status) == 'o')
		outdir = optarg;
	if (status >= 0)
		return status;
	if (optind < argc)
		session = argv[optind++];
	if (optind < argc || !outdir) {
		fprintf(stderr, PFX "%s; see 'gilscope snapshot --help'\n",
			outdir ? "one session name at most" : "-o DIR is required");
		return GILSCOPE_EXIT_USAGE;
	}
	paths_sessiond(&so, &sp);
	if (flight_snapshot(&so, session, outdir, &res) != REC_OK ||
	    recorded_check(PFX, res.trace_dir))
		return GILSCOPE_EXIT_FAILURE;
	fprintf(stderr, "gilscope: snapshot written to %s\n", res.trace_dir);
	record_say_standing(&res);
	if (res.unrecorded < 0)
		fprintf(stderr, "gilscope: WARNING: which processes left events is unknown (the "
			"snapshot could not be checked: %s)\n", res.unchecked);
	return GILSCOPE_EXIT_OK;
}
