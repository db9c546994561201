/* `gilscope record --pid` and `record --flight`: the part of `record` that
 * traces processes already running (tracer/attach.c does the work). */
#include <limits.h>
#include <stdio.h>

#include "attach.h"
#include "commands.h"
#include "session.h"

int cmd_record_attached(const struct attach_opts *o, int flight, int extra_args)
{
	static const char pfx[] = "gilscope record: ";
	struct record_result res;
	char name[256];

	if (!o->npids) {
		fprintf(stderr, "%s--flight, --duration and --follow-children go with --pid PID\n", pfx);
		return GILSCOPE_EXIT_USAGE;
	}
	if (extra_args) {
		fprintf(stderr, "%s--pid records running processes: give no command\n", pfx);
		return GILSCOPE_EXIT_USAGE;
	}
	if (flight) {
		if (o->duration_ns || o->follow_children || o->outdir) {
			fprintf(stderr, "%s--flight keeps events in memory until `gilscope snapshot`: "
				"no -o, --duration or --follow-children\n", pfx);
			return GILSCOPE_EXIT_USAGE;
		}
		if (flight_start(o, name, sizeof(name)) != REC_OK)
			return GILSCOPE_EXIT_FAILURE;
		printf("%s\n", name);
		if (!o->quiet)
			fprintf(stderr, "gilscope: flight recorder %s runs; `gilscope snapshot -o DIR` "
				"writes its last events, `gilscope flight stop` ends it\n", name);
		return GILSCOPE_EXIT_OK;
	}
	struct attach_opts with_dir = *o;
	char outdir[PATH_MAX];

	if (!o->outdir) {
		default_outdir(outdir, sizeof(outdir));
		with_dir.outdir = outdir;
	}
	if (attach_record(&with_dir, &res) != REC_OK ||
	    recorded_finish(pfx, &res, session_ring(o->buffer_size), o->quiet))
		return GILSCOPE_EXIT_FAILURE;
	return GILSCOPE_EXIT_OK;
}
