/* The parts both recorders share (recording.h). */
#include "recording.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lives.h"
#include "record.h"
#include "tails.h"

void recording_start_time(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void info_put_escaped(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		if (s[i] == '\\')
			fputs("\\\\", f);
		else if (s[i] == '\n')
			fputs("\\n", f);
		else
			fputc(s[i], f);
	}
}

void info_put_stop(FILE *f, uint64_t stop_clock)
{
	if (stop_clock)
		fprintf(f, "stop_clock=%llu\n", (unsigned long long)stop_clock);
}

void info_put_lost(FILE *f, uint64_t lost)
{
	if (lost == RECORD_LOST_UNKNOWN)
		fputs("lost_events=unknown\n", f);
	else
		fprintf(f, "lost_events=%llu\n", (unsigned long long)lost);
}

FILE *info_begin(const char *pfx, const char *dir, const char *key, const char *value,
		 const char *start, char *path, size_t pathlen)
{
	char host[256] = "";
	FILE *f;

	snprintf(path, pathlen, "%s/gilscope.info", dir);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "%scannot write %s: %s\n", pfx, path, strerror(errno));
		goto end;
	}
	gethostname(host, sizeof(host) - 1);
	fprintf(f, "gilscope_version=%s\n%s=%s\nstart_time=%s\nhostname=", GILSCOPE_VERSION, key,
		value, start);
	info_put_escaped(f, host, sizeof(host));
end:
	return f;
}

enum rec_status info_end(const char *pfx, FILE *f, const char *path)
{
	enum rec_status status = REC_OK;

	if (fclose(f) != 0) {
		fprintf(stderr, "%scannot write %s: %s\n", pfx, path, strerror(errno));
		status = REC_FAILED;
	}
	return status;
}

enum rec_status recording_end(const char *pfx, struct gs_session *s, struct sessiond *d,
			      struct sigsave *saved, uint64_t *lost)
{
	enum rec_status status = session_teardown(pfx, s, lost) ? REC_FAILED : REC_OK;

	sessiond_release(d);
	sigsave_give_back(saved);
	return status;
}

/* 1 when a metadata file of the trace declares an event (text between
 * the metadata packets' binary headers: a match may span two reads,
 * never a header, and a description has many "event {"; a packet's
 * padding holds only what this session's metadata held before). */
static int events_declared(const char *dir)
{
	char pat[PATH_MAX + 64], buf[1 << 16];
	glob_t g;
	int event = 0;

	snprintf(pat, sizeof(pat), "%s/ust/uid/*/*-bit/metadata", dir);
	if (glob(pat, 0, NULL, &g))
		return 0;
	for (size_t i = 0; i < g.gl_pathc && !event; i++) {
		FILE *f = fopen(g.gl_pathv[i], "rb");
		size_t n, keep = 0;

		/* keep: the last bytes of a read, for a match across reads. */
		while (f && !event && (n = fread(buf + keep, 1, sizeof(buf) - keep, f)) > 0) {
			size_t len = keep + n;

			event = memmem(buf, len, "event {", 7) != NULL;
			keep = len < 6 ? len : 6;
			memmove(buf, buf + len - keep, keep);
		}
		if (f)
			fclose(f);
	}
	globfree(&g);
	return event;
}

void recording_streams(const char *pfx, struct record_result *res, const pid_t *pids,
		       size_t npids)
{
	char pat[PATH_MAX + 64], list[160] = "";
	glob_t g;
	size_t used = 0;

	/* DIR/ust/uid/UID/BITS-bit/CHANNEL_CPU: the index and the metadata
	 * beside them are no streams. */
	snprintf(pat, sizeof(pat), "%s/ust/uid/*/*-bit/" SESSION_CHANNEL "_*", res->trace_dir);
	res->streams = 0;
	/* preregister.c's process makes the streams by itself; it has no
	 * probe, declares no event, writes none: not a traced process's. */
	if ((events_declared(res->trace_dir) || !tails_no_event(res->trace_dir)) &&
	    !glob(pat, 0, NULL, &g)) {
		res->streams = (int)g.gl_pathc;
		globfree(&g);
	}
	if (res->streams || res->traced <= 0)
		return;
	for (size_t i = 0; i < npids && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%d",
					 i ? ", " : "", (int)pids[i]);
	fprintf(stderr, "%s%d traced CPython process%s ran (pid%s %s%s) but LTTng made no "
		"stream: %s registered with this recording's session before %s ended (a busy "
		"machine or daemon: liblttng-ust waits LTTNG_UST_REGISTER_TIMEOUT ms, 3000 by "
		"default); none of %s events was recorded, how many is unknown\n", pfx,
		res->traced, res->traced > 1 ? "es" : "", npids > 1 ? "s" : "", list,
		(size_t)res->traced > npids ? ", ..." : "", res->traced > 1 ? "none" : "it never",
		res->traced > 1 ? "they" : "it", res->traced > 1 ? "their" : "its");
	res->lost = RECORD_LOST_UNKNOWN;
}

void recording_lives(const char *pfx, struct record_result *res, uint32_t tag, struct life *lives,
		     size_t n)
{
	pid_t pids[RECORD_NAMED] = { 0 };
	size_t named = 0;
	char why[sizeof(res->unchecked)];

	for (size_t i = 0; i < n && named < RECORD_NAMED; i++)
		pids[named++] = lives[i].pid;
	recording_streams(pfx, res, pids, named);
	res->unrecorded = 0;
	if (!n)
		return;
	/* No stream: none of them left anything (said above). Else each must
	 * have an event of its own, with this recording's tag, in the trace:
	 * one that ended before its registration with the session daemon was
	 * done left none, and nothing counted its loss. The metadata may
	 * trail the drained streams a little: read again, as recorded_check()
	 * does, before giving up. */
	int bad = res->streams && lives_find(res->trace_dir, tag, lives, n, why, sizeof(why));
	for (int i = 0; bad && i < 20; i++) {
		struct timespec nap = { 0, 50 * 1000 * 1000 };

		nanosleep(&nap, NULL);
		bad = lives_find(res->trace_dir, tag, lives, n, why, sizeof(why));
	}
	if (bad) {
		/* Said by record_say_written(), once the trace was found
		 * readable (a trace babeltrace2 cannot read is said so alone). */
		snprintf(res->unchecked, sizeof(res->unchecked), "%s", why);
		res->unrecorded = -1;
		return;
	}
	named = 0;
	res->unrecorded_waiting = 0;
	for (size_t i = 0; i < n; i++) {
		if (res->streams && lives[i].found)
			continue;
		if (named < RECORD_NAMED)
			res->unrecorded_pids[named++] = lives[i].pid;
		res->unrecorded++;
		if (lives[i].wait == LIFE_WAITING && res->unrecorded_waiting < RECORD_NAMED)
			res->unrecorded_waiting_pids[res->unrecorded_waiting] = lives[i].pid;
		res->unrecorded_waiting += lives[i].wait == LIFE_WAITING;
	}
}

void info_put_unrecorded(FILE *f, const struct record_result *res, const struct life *lives,
			 size_t n)
{
	if (res->unrecorded < 0) {
		fputs("unrecorded_processes=unknown\n", f);
		return;
	}
	fprintf(f, "unrecorded_processes=%d\n", res->unrecorded);
	if (res->unrecorded <= 0)
		return;
	fputs("unrecorded_pids=", f);
	for (size_t i = 0, k = 0; i < n; i++)
		if (!res->streams || !lives[i].found)
			fprintf(f, "%s%d", k++ ? "," : "", (int)lives[i].pid);
	/* When each said it was traced, on the trace's clock (in the same
	 * order): whether it started after a stream ended early. */
	fputs("\nunrecorded_marks=", f);
	for (size_t i = 0, k = 0; i < n; i++)
		if (!res->streams || !lives[i].found)
			fprintf(f, "%s%lld", k++ ? "," : "", (long long)lives[i].mark_ns);
	/* How each one's registration wait ended (same order): "waiting",
	 * it ended during it, before its program ran; "registered",
	 * "unregistered" (it ran out); "unknown" (an older tracer). */
	static const char *const waits[] = { "unknown", "waiting", "registered", "unregistered" };
	fputs("\nunrecorded_registration=", f);
	for (size_t i = 0, k = 0; i < n; i++)
		if (!res->streams || !lives[i].found)
			fprintf(f, "%s%s", k++ ? "," : "",
				waits[lives[i].wait >= 0 && lives[i].wait <= LIFE_UNREGISTERED
				      ? lives[i].wait : 0]);
	fputc('\n', f);
}
