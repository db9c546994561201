/* `gilscope run`: record, analyze, report and summarize in one go. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analyze.h"
#include "commands.h"
#include "paths.h"
#include "record.h"

#define PFX "gilscope run: "

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope run [-o DIR] [--open] [--buffer-size SIZE] [--code MODE] -- CMD [ARGS...]\n"
		"\n"
		"Records CMD's GIL events, analyzes them and writes the report, all in\n"
		"DIR: DIR/trace (the LTTng trace), DIR/run.db (SQLite) and\n"
		"DIR/report.html. Prints the summary and the report's path.\n"
		"\n"
		"Exits with CMD's status when CMD failed; otherwise 0, or 1 if a later\n"
		"step failed.\n"
		"\n"
		"Options:\n"
		"  -o, --output DIR       where to put everything (default ./gilscope-DATE-TIME)\n"
		"  -b, --buffer-size SIZE ring buffer per CPU for the recording (default %lluM)\n"
		"  -c, --code MODE        code locations: stack (default), site (the line\n"
		"                         only) or off; see gilscope record --help\n"
		"      --open             open the report in a browser when done\n"
		"  -h, --help             this help\n"
		"\n"
		"Examples:\n"
		"  gilscope run -- python3 app.py\n"
		"  gilscope run -o out --open -- python3 samples/countdown.py threads\n"
		"  sqlite3 out/run.db 'SELECT tid, name, held_ns FROM threads'\n",
		(unsigned long long)RECORD_DEFAULT_BUFFER_MB);
}

static int join_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, PFX "path too long: %s/%s\n", dir, name);
		return -1;
	}
	return 0;
}

/* Runs `gilscope report DB -o HTML` (the report is Python: a child). */
static int run_report(const char *db, const char *html)
{
	char self[PATH_MAX];
	int status, rc = -1;
	pid_t pid;

	if (paths_self_exe(self, sizeof(self))) {
		fprintf(stderr, PFX "cannot find my own executable: %s\n", strerror(errno));
		goto end;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, PFX "cannot fork: %s\n", strerror(errno));
		goto end;
	}
	if (pid == 0) {
		execl(self, "gilscope", "report", db, "-o", html, (char *)NULL);
		fprintf(stderr, PFX "cannot run %s: %s\n", self, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			goto end;
	rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
end:
	return rc;
}

static void open_in_browser(const char *html)
{
	pid_t pid = fork();
	if (pid == 0) {
		execlp("xdg-open", "xdg-open", html, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, PFX "could not open a browser (xdg-open); open %s yourself\n", html);
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_OUTPUT,
		OPT_RECORDING_LONGOPTS,
		{ "open", no_argument, NULL, 'O' },
		OPT_END,
	};
	struct record_opts ro = { 0 };
	struct record_result rr;
	char outdir[PATH_MAX], trace[PATH_MAX], db[PATH_MAX], html[PATH_MAX];
	const char *want = NULL;
	int open_report = 0, c, status = -1;

	optind = 1;
	while ((c = cli_getopt(argc, argv, "+o:b:c:h", longopts, run_usage, &status)) != -1) {
		switch (c) {
		case 'o':
			want = optarg;
			break;
		case 'b':
		case 'c':
			if (opt_recording(c, optarg, &ro, "run"))
				return GILSCOPE_EXIT_USAGE;
			break;
		case 'O':
			open_report = 1;
			break;
		}
	}
	if (status >= 0)
		return status;
	status = record_setup(&ro, "run", argv + optind, argc - optind);
	if (status)
		return status;
	status = GILSCOPE_EXIT_FAILURE;

	if (!want)
		default_outdir(outdir, sizeof(outdir));
	else if (snprintf(outdir, sizeof(outdir), "%s", want) >= (int)sizeof(outdir)) {
		fprintf(stderr, PFX "path too long: %s\n", want);
		return GILSCOPE_EXIT_USAGE;
	}
	if (record_mkdir_parents(outdir) < 0 || (mkdir(outdir, 0777) < 0 && errno != EEXIST)) {
		fprintf(stderr, PFX "cannot create %s: %s\n", outdir, strerror(errno));
		return GILSCOPE_EXIT_FAILURE;
	}
	if (join_path(trace, sizeof(trace), outdir, "trace") ||
	    join_path(db, sizeof(db), outdir, "run.db") ||
	    join_path(html, sizeof(html), outdir, "report.html"))
		return GILSCOPE_EXIT_FAILURE;

	ro.outdir = trace;
	if (record_run(&ro, &rr) != REC_OK || recorded_finish(PFX, &rr, 0, 1)) {
		/* record said why; a command that never ran has no trace. */
		return rr.status ? rr.status : GILSCOPE_EXIT_FAILURE;
	}
	if (!rr.streams || !rr.traced) {
		/* Nothing to analyze: what that means, and the command's status
		 * (a loss of every traced process's events is a failure). */
		record_say_written(&rr, 0);
		return rr.status ? rr.status : rr.traced ? GILSCOPE_EXIT_FAILURE : GILSCOPE_EXIT_OK;
	}
	if (rr.unrecorded > 0) {
		char pids[200];

		record_unrecorded_text(&rr, pids, sizeof(pids));
		fprintf(stderr, "gilscope: recorded %s (exit status %d, events lost: unknown, %s)\n",
			rr.trace_dir, rr.status, pids);
	} else if (rr.lost == RECORD_LOST_UNKNOWN)
		fprintf(stderr, "gilscope: recorded %s (exit status %d, an unknown number of "
			"events lost)\n", rr.trace_dir, rr.status);
	else if (rr.unrecorded < 0)
		fprintf(stderr, "gilscope: recorded %s (exit status %d, %llu events lost by LTTng's "
			"count; whether every traced process left events is unknown: %s)\n",
			rr.trace_dir, rr.status, (unsigned long long)rr.lost, rr.unchecked);
	else
		fprintf(stderr, "gilscope: recorded %s (exit status %d, %llu events lost)\n",
			rr.trace_dir, rr.status, (unsigned long long)rr.lost);

	struct analyze_opts ao = { .trace_dir = trace, .db_path = db, .append = 0, .progress = -1 };
	analyze_opts_env(&ao);
	if (analyze(&ao) != GS_OK)
		goto end;
	if (run_report(db, html))
		goto end;
	fflush(stderr);
	if (summary_print(db, stdout) != GS_OK)
		goto end;
	printf("\nReport: %s\nDatabase: %s\n", html, db);
	fflush(stdout);
	if (open_report)
		open_in_browser(html);
	status = GILSCOPE_EXIT_OK;
end:
	return rr.status ? rr.status : status;
}
