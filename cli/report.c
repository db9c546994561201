/* `gilscope report`: the HTML page, written by the Python report package
 * (report/gilscope_report/__main__.py). */
#include "commands.h"
#include "pyrun.h"

int cmd_report(int argc, char **argv)
{
	return pyrun_exec("report", "__main__", argc, argv);
}
