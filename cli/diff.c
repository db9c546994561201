/* `gilscope diff`: two runs side by side, written by
 * report/gilscope_report/diff.py. */
#include "commands.h"
#include "pyrun.h"

int cmd_diff(int argc, char **argv)
{
	return pyrun_exec("diff", "diff", argc, argv);
}
