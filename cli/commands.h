/* The commands of `gilscope`, one file each in cli/ (git's builtin/
 * layout): cmd_NAME(argc, argv) with argv[0] the command's name, returning
 * the process exit status. Adding one: a line in COMMANDS below and
 * cli/NAME.c (CMake builds every .c file of cli/). One usage style for
 * all of them (git's builtin/): a static NAME_usage(FILE *out), written to
 * stdout for --help and to stderr after a bad command line. */
#ifndef GILSCOPE_COMMANDS_H
#define GILSCOPE_COMMANDS_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* X(name, one line of help), in the order `gilscope --help` lists them. */
#define COMMANDS(X) \
	X(record,   "run a command and record its GIL events") \
	X(analyze,  "turn a trace into a SQLite database") \
	X(summary,  "print a terminal summary of a database") \
	X(report,   "write the HTML report of a database") \
	X(run,      "record, analyze, report and summarize") \
	X(export,   "write a run as a Perfetto (or Chrome JSON) trace") \
	X(diff,     "compare two runs: figures, threads, sites, verdict") \
	X(exec,     "run a service ready to be recorded later (record --pid)") \
	X(snapshot, "write what a flight recorder (record --flight) holds") \
	X(flight,   "flight stop: end a flight recorder")

#define COMMAND_DECLARE(name, help) int cmd_##name(int argc, char **argv);
COMMANDS(COMMAND_DECLARE)
#undef COMMAND_DECLARE

/* Exit statuses shared by every subcommand. `record` and `run` return the
 * traced command's own status instead when it ran. */
enum gilscope_exit {
	GILSCOPE_EXIT_OK = 0,
	GILSCOPE_EXIT_FAILURE = 1, /* the work failed: message on stderr */
	GILSCOPE_EXIT_USAGE = 2,   /* bad command line */
};

/* cli/common.c: getopt_long() with what every command does alike: -h and
 * --help print usage to stdout, an unknown option or a missing argument
 * prints it to stderr. Returns the command's own next option, or -1 when
 * the options end: *status is then left alone to go on, or set to the
 * exit status to return now (after -h or a bad option). */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
	       void (*usage)(FILE *), int *status);
/* Every command's long options end with OPT_END: --help, which
 * cli_getopt() answers, and the terminator. -o/--output, where a command
 * takes it, is OPT_OUTPUT. */
#define OPT_END { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
#define OPT_OUTPUT { "output", required_argument, NULL, 'o' }
/* A bad command line past the options: "gilscope CMD: WHY", a blank line
 * and the usage on stderr; returns GILSCOPE_EXIT_USAGE. */
int cli_bad_args(const char *cmd, const char *why, void (*usage)(FILE *));

/* Options more than one command takes. Each prints one
 * line naming cmd and returns -1 when arg is not valid. */
/* --buffer-size: "64M", "512k", "1G", bytes; at least 64k. */
int opt_buffer_size(const char *arg, uint64_t *size, const char *cmd);
/* --code: off, site or stack. */
int opt_code(const char *arg, const char *cmd);
struct record_opts;
/* The options of a recording that `record` and `run` take alike, spelled
 * once: their long names, and opt_recording() for either of them (c: 'b'
 * or 'c') into o. Returns 0, or -1 after one line naming cmd. */
#define OPT_RECORDING_LONGOPTS \
	{ "buffer-size", required_argument, NULL, 'b' }, \
	{ "code", required_argument, NULL, 'c' }
int opt_recording(int c, const char *arg, struct record_opts *o, const char *cmd);
/* ./gilscope-YYYYmmdd-HHMMSS, the output directory when none is given. */
void default_outdir(char *buf, size_t size);

/* The command to record (args[0..nargs), what the options left), the
 * recorder's parts (next to this executable), the daemon's files and the
 * environment, into o; refuses no command and a recording inside a
 * recording. GILSCOPE_EXIT_OK, or the exit status after one line on
 * stderr. */
int record_setup(struct record_opts *o, const char *cmd, char **args, int nargs);

struct analyze_opts;
/* Sets the analyzer's tuning knobs from the environment (cli/analyze.c). */
void analyze_opts_env(struct analyze_opts *opts);

struct attach_opts;
struct record_result;
/* Every way of recording runs its trace through this before calling it
 * written: a trace whose metadata does not declare its streams' class
 * (seen once under load: LTTng wrote a stream but never described it),
 * which babeltrace2 cannot open, is checked again for up to 2 s (the
 * metadata may still be arriving), then said so in one line starting with
 * pfx: -1. 0 when every CTF trace in dir can be opened, or there is none. */
int recorded_check(const char *pfx, const char *dir);
/* recorded_check() when the recording traced a process, then (unless
 * quiet) record_say_written(): 0, or -1 after the one line. */
int recorded_finish(const char *pfx, const struct record_result *res, uint64_t ring, int quiet);

/* `record --pid` / `record --flight`, once `record` parsed its options;
 * extra_args: words left after them (a command, which --pid refuses). */
int cmd_record_attached(const struct attach_opts *o, int flight, int extra_args);

#endif
