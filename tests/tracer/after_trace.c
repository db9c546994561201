/* Preloaded into `gilscope` by record.undeclared_stream: once LTTng has
 * written a trace (a session destroyed after its data was drained, a
 * snapshot taken), runs the shell command in GILSCOPE_TEST_AFTER_TRACE,
 * before gilscope checks the trace: the test damages it there, as LTTng
 * did once under load, in `record --pid` and `snapshot`, whose traced
 * processes cannot time it themselves. */
#include <dlfcn.h>
#include <stdlib.h>

struct lttng_snapshot_output;

static void after(void)
{
	const char *cmd = getenv("GILSCOPE_TEST_AFTER_TRACE");

	if (cmd && system(cmd) != 0)
		abort(); /* the damage was not made: the test must not pass */
}

int lttng_destroy_session_no_wait(const char *name)
{
	int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, __func__);
	int rc = real(name);

	if (rc >= 0)
		after();
	return rc;
}

int lttng_snapshot_record(const char *name, struct lttng_snapshot_output *out, int wait)
{
	int (*real)(const char *, struct lttng_snapshot_output *, int) =
		(int (*)(const char *, struct lttng_snapshot_output *, int))dlsym(RTLD_NEXT, __func__);
	int rc = real(name, out, wait);

	if (rc >= 0)
		after();
	return rc;
}
