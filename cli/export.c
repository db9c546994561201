/* `gilscope export`: a run as a Perfetto trace (protobuf TrackEvent) or as
 * Chrome JSON trace events, written by report/gilscope_report/export.py. */
#include "commands.h"
#include "pyrun.h"

int cmd_export(int argc, char **argv)
{
	return pyrun_exec("export", "export", argc, argv);
}
