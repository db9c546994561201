/* The subcommands of `gilscope`, one file each (git's builtin/ layout).
 * Each takes its own argv (argv[0] is the subcommand name) and returns the
 * process exit status. */
#ifndef GILSCOPE_COMMANDS_H
#define GILSCOPE_COMMANDS_H

/* Exit statuses shared by every subcommand. `record` and `run` return the
 * traced command's own status instead when it ran. */
enum gilscope_exit {
	GILSCOPE_EXIT_OK = 0,
	GILSCOPE_EXIT_FAILURE = 1, /* the work failed: message on stderr */
	GILSCOPE_EXIT_USAGE = 2,   /* bad command line */
};

int cmd_record(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_diff(int argc, char **argv);

int cmd_exec(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_flight(int argc, char **argv);

struct analyze_opts;
/* Sets the analyzer's tuning knobs from the environment (cli/analyze.c). */
void analyze_opts_env(struct analyze_opts *opts);

struct attach_opts;
/* `record --pid` / `record --flight`, once `record` parsed its options;
 * extra_args: words left after them (a command, which --pid refuses). */
int cmd_record_attached(const struct attach_opts *o, int flight, int extra_args);

#endif
