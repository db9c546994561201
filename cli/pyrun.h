/* Running a command of the Python report package (report/gilscope_report,
 * installed as share/gilscope/report): `gilscope report`, `export`, `diff`. */
#ifndef GILSCOPE_PYRUN_H
#define GILSCOPE_PYRUN_H

/* Replaces the process with python3 running gilscope_report.<module>'s
 * main() on argv[1..] (argv[0] is the subcommand, named in messages).
 * Returns only on failure, with GILSCOPE_EXIT_FAILURE and a message on
 * stderr. */
int pyrun_exec(const char *command, const char *module, int argc, char **argv);

#endif
