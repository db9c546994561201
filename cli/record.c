/* `gilscope record`: the command line; the recorder is the tracer/
 * library (record.h, attach.h for --pid and --flight, sessiond.h for
 * --cleanup). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "attach.h"
#include "commands.h"
#include "paths.h"
#include "record.h"
#include "session.h"
#include "sessiond.h"

#define PFX "gilscope record: "

static void record_usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope record [-o DIR] [--buffer-size SIZE] [--code MODE] -- CMD [ARGS...]\n"
		"       gilscope record --cleanup\n"
		"       gilscope record --pid PID[,PID...] [--duration TIME] [--follow-children] [-o DIR]\n"
		"       gilscope record --flight [--buffer-size SIZE] --pid PID[,PID...]\n"
		"\n"
		"Runs CMD unchanged with gilscope's preload library and records every\n"
		"GIL request, acquire, release, drop request and forced switch of\n"
		"every CPython 3.6+ process it starts, as an LTTng (CTF) trace in DIR.\n"
		"Exits with CMD's status (128+N when killed by signal N). Signals sent\n"
		"to the recorder are passed on; if CMD has not ended 5 s after one, the\n"
		"recorder ends anyway (128+N) and names the processes it leaves. A trace\n"
		"babeltrace2 cannot read (its metadata does not describe its streams)\n"
		"is said so in one line, exit status 1 (--pid too). With no stream at\n"
		"all it says \"no GIL events recorded\": CMD ran no CPython (nothing\n"
		"lost), or a traced CPython ended before it registered with the session\n"
		"daemon (named, its events lost, how many unknown).\n"
		"\n"
		"With --pid, each process must be registered with the session daemon\n"
		"this command uses (`lttng list -u`): every one that is not is named in\n"
		"one line with the likely reason (another mount namespace, another HOME\n"
		"or LTTNG_HOME, stopped) and nothing is recorded, exit 1. At the end,\n"
		"gilscope.info's recorded_pids=, idle_pids= (registered, no GIL event\n"
		"while recorded: nothing lost) and unregistered_pids= (a followed child)\n"
		"tell them apart; the closing lines name the idle and unregistered ones.\n"
		"\n"
		"Options:\n"
		"  -o, --output DIR       trace directory (default ./gilscope-DATE-TIME);\n"
		"                         must not already hold a trace\n"
		"  -b, --buffer-size SIZE ring buffer per CPU, e.g. 64M (default %lluM);\n"
		"                         raise it if events are reported lost\n"
		"  -c, --code MODE        code locations of each acquire and release: stack\n"
		"                         (the line and the whole Python stack, default),\n"
		"                         site (the line only: cheaper) or off\n"
		"  -q, --quiet            no closing lines on stderr\n"
		"  -p, --pid PID[,PID...] record these running processes instead (started\n"
		"                         with `gilscope exec`), until Ctrl-C or --duration\n"
		"  -d, --duration TIME    with --pid: stop after TIME (10s, 500ms, 2m)\n"
		"      --follow-children  with --pid: their child processes too\n"
		"      --flight           with --pid: keep the last --buffer-size of events\n"
		"                         per CPU in memory (flight recorder) and return;\n"
		"                         `gilscope snapshot -o DIR` writes them out,\n"
		"                         `gilscope flight stop` ends it\n"
		"      --cleanup          only destroy the stale sessions of recorders that\n"
		"                         were killed (their traces are kept), then exit\n"
		"  -h, --help             this help\n"
		"\n"
		"Uses a running LTTng session daemon, or starts a private one, stopped\n"
		"by the last recording that ends. Recordings may run at the same time;\n"
		"a recording inside a recording is refused. If the recorder is killed\n"
		"(SIGKILL), CMD gets SIGTERM, and the next recording (or --cleanup)\n"
		"flushes and destroys its session. Needs lttng-tools and liblttng-ust1.\n"
		"\n"
		"Examples:\n"
		"  gilscope record -o trace -- python3 app.py\n"
		"  gilscope record -b 256M -o churn -- python3 -c 'import os; ...'\n"
		"  gilscope record --pid 4242 --duration 10s -o trace\n"
		"  gilscope record --flight -b 4M --pid 4242; gilscope snapshot -o snap1\n"
		"  gilscope analyze trace -o run.db\n",
		(unsigned long long)RECORD_DEFAULT_BUFFER_MB);
}

int cmd_record(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_OUTPUT,
		OPT_RECORDING_LONGOPTS,
		{ "quiet", no_argument, NULL, 'q' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "follow-children", no_argument, NULL, 'F' },
		{ "flight", no_argument, NULL, 'R' },
		OPT_END,
	};
	struct record_opts o = { 0 };
	pid_t pids[ATTACH_MAX_PIDS];
	struct attach_opts ao = { .pids = pids };
	int flight = 0;
	struct record_result res;
	struct sessiond_opts so;
	struct sessiond_paths sp;
	char outdir[PATH_MAX];
	int c, cleanup = 0, status = -1, quiet = 0;

	optind = 1;
	while ((c = cli_getopt(argc, argv, "+o:b:c:qhp:d:", longopts, record_usage, &status)) != -1) {
		switch (c) {
		case 'o':
			o.outdir = optarg;
			break;
		case 'b':
		case 'c':
			if (opt_recording(c, optarg, &o, "record"))
				return GILSCOPE_EXIT_USAGE;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'C':
			cleanup = 1;
			break;
		case 'p':
			if (attach_parse_pids(optarg, pids, ATTACH_MAX_PIDS, &ao.npids, "record") != REC_OK)
				return GILSCOPE_EXIT_USAGE;
			break;
		case 'd':
			if (!(ao.duration_ns = attach_parse_duration(optarg))) {
				fprintf(stderr, PFX "--duration wants a time like 10s, 500ms or 2m, not '%s'\n",
					optarg);
				return GILSCOPE_EXIT_USAGE;
			}
			break;
		case 'F':
			ao.follow_children = 1;
			break;
		case 'R':
			flight = 1;
			break;
		}
	}
	if (status >= 0)
		return status;
	paths_sessiond(&so, &sp);
	if (cleanup) {
		char err[512];
		int n;

		if (optind < argc) {
			fprintf(stderr, PFX "--cleanup takes no command\n");
			return GILSCOPE_EXIT_USAGE;
		}
		n = sessiond_cleanup(&so, err, sizeof(err));
		if (n < 0) {
			fprintf(stderr, PFX "%s\n", err);
			return GILSCOPE_EXIT_FAILURE;
		}
		if (!n)
			fprintf(stderr, PFX "no stale gilscope session\n");
		return GILSCOPE_EXIT_OK;
	}
	if (ao.npids || flight || ao.duration_ns || ao.follow_children) {
		if (o.code) {
			fprintf(stderr, PFX "--code is chosen when a process starts: `gilscope exec "
				"--code %s -- CMD`\n", o.code);
			return GILSCOPE_EXIT_USAGE;
		}
		ao.outdir = o.outdir;
		ao.buffer_size = o.buffer_size;
		ao.quiet = quiet;
		ao.sessiond = &so;
		return cmd_record_attached(&ao, flight, argc - optind);
	}
	status = record_setup(&o, "record", argv + optind, argc - optind);
	if (status)
		return status;
	if (!o.outdir) {
		default_outdir(outdir, sizeof(outdir));
		o.outdir = outdir;
	}
	if (record_run(&o, &res) != REC_OK ||
	    recorded_finish(PFX, &res, session_ring(o.buffer_size), quiet))
		return res.status ? res.status : GILSCOPE_EXIT_FAILURE;
	return res.status;
}
