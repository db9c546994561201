/* Recording processes that already run: an LTTng session whose vpid
 * tracker holds only them (`record --pid`), or a snapshot session kept in
 * memory (the flight recorder). The preload library in each process says
 * again what its GILs and threads are when the session starts
 * (gilscope:resync, tracer/preload.c), so each trace reads alone. */
#include "attach.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lttng/lttng.h>

#include "fsinfo.h"
#include "mono.h"
#include "recording.h"

/* How long a process may take to register with a session daemon that
 * has just started (liblttng-ust's listener waits on the daemon's futex). */
#define REGISTER_WAIT_MS 5000
/* How long the processes get to notice the resync before a snapshot: one
 * GIL event each is enough; a process whose GIL does not move for that
 * long shows its names only in the next snapshot. */
#define RESYNC_WAIT_MS 300

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static enum rec_status lttng_fail(const char *pfx, const char *what, int rc)
{
	fprintf(stderr, "%s%s: %s\n", pfx, what, lttng_strerror(rc));
	return REC_FAILED;
}

/* --- arguments --------------------------------------------------------------- */

enum rec_status attach_parse_pids(const char *arg, pid_t *pids, size_t max, size_t *n,
				  const char *who)
{
	const char *p = arg;
	*n = 0;
	while (*p) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (errno || end == p || v <= 0 || v > 0x7fffffff || (*end && *end != ',') ||
		    *n == max) {
			fprintf(stderr, "gilscope %s: --pid wants process ids like 1234 or 1234,5678 "
				"(at most %zu), not '%s'\n", who, max, arg);
			return REC_FAILED;
		}
		pids[(*n)++] = (pid_t)v;
		p = *end ? end + 1 : end;
	}
	if (!*n) {
		fprintf(stderr, "gilscope %s: --pid wants at least one process id\n", who);
		return REC_FAILED;
	}
	return REC_OK;
}

int64_t attach_parse_duration(const char *arg)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || !(v > 0))
		return 0;
	double scale = 1e9;
	if (!strcmp(end, "ms"))
		scale = 1e6;
	else if (!strcmp(end, "m") || !strcmp(end, "min"))
		scale = 60e9;
	else if (!strcmp(end, "h"))
		scale = 3600e9;
	else if (*end && strcmp(end, "s"))
		return 0;
	double ns = v * scale;
	return ns >= 1 && ns < 9e18 ? (int64_t)ns : 0;
}

/* --- the processes --------------------------------------------------------------- */

static long proc_uid(pid_t pid)
{
	char path[64], line[256];
	long uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Uid:", 4)) {
			uid = strtol(line + 4, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return uid;
}

enum maps_has { MAPS_UNREADABLE = -1, MAPS_NONE = 0, MAPS_PRELOAD = 1, MAPS_PROBES = 2 };

/* Whether pid mapped the preload library, and its LTTng provider (loaded
 * only in a CPython it traces). */
static int proc_maps(pid_t pid)
{
	char path[64], line[4096];
	int has = MAPS_UNREADABLE; /* errno says why */
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (f) {
		has = MAPS_NONE;
		while (fgets(line, sizeof(line), f)) {
			if (strstr(line, "/libgilscope-preload.so"))
				has |= MAPS_PRELOAD;
			else if (strstr(line, "/libgilscope-probes.so"))
				has |= MAPS_PROBES;
		}
		fclose(f);
	}
	return has;
}

static void other_user(const char *pfx, pid_t pid, long uid)
{
	struct passwd *pw = uid >= 0 ? getpwuid((uid_t)uid) : NULL;
	if (pw)
		fprintf(stderr, "%spid %d belongs to user %s: record it as that user "
			"(sudo -u %s gilscope ...) or as root\n", pfx, (int)pid, pw->pw_name, pw->pw_name);
	else
		fprintf(stderr, "%spid %d belongs to another user (uid %ld): record it as that "
			"user or as root\n", pfx, (int)pid, uid);
}

/* One line saying why pid cannot be recorded, or 0. */
static enum rec_status pid_check(const char *pfx, pid_t pid)
{
	char comm[64];
	if (kill(pid, 0) < 0 && errno == ESRCH) {
		fprintf(stderr, "%spid %d is not running\n", pfx, (int)pid);
		return REC_FAILED;
	}
	long uid = proc_uid(pid);
	if (geteuid() != 0 && uid >= 0 && uid != (long)geteuid()) {
		other_user(pfx, pid, uid);
		return REC_FAILED;
	}
	fsinfo_comm(pid, comm, sizeof(comm));
	switch (proc_maps(pid)) {
	case MAPS_UNREADABLE:
		if (errno == ENOENT) {
			fprintf(stderr, "%spid %d is not running\n", pfx, (int)pid);
			return REC_FAILED;
		}
		other_user(pfx, pid, uid);
		return REC_FAILED;
	case MAPS_NONE:
		fprintf(stderr, "%spid %d (%s) was not started with gilscope's preload library: "
			"restart it with `gilscope exec -- CMD...` (docs/services.md)\n",
			pfx, (int)pid, comm);
		return REC_FAILED;
	case MAPS_PRELOAD:
		fprintf(stderr, "%spid %d (%s) runs gilscope's preload library but is not a "
			"CPython it traces (3.6+ with a GIL)\n", pfx, (int)pid, comm);
		return REC_FAILED;
	default:
		return REC_OK;
	}
}

/* Whether the session daemon lists gilscope tracepoints of pid. */
static int pid_registered(pid_t pid)
{
	struct lttng_domain dom = { .type = LTTNG_DOMAIN_UST };
	struct lttng_event *evs = NULL;
	struct lttng_handle *h = lttng_create_handle(NULL, &dom);
	int found = 0, n = h ? lttng_list_tracepoints(h, &evs) : 0;

	for (int i = 0; i < n && !found; i++)
		found = evs[i].pid == pid && !strncmp(evs[i].name, "gilscope:", 9);
	free(evs);
	if (h)
		lttng_destroy_handle(h);
	return found;
}

static enum rec_status wait_registered(const char *pfx, const pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t deadline = mono_ns() + (int64_t)REGISTER_WAIT_MS * 1000000;
		while (!pid_registered(pids[i]) && mono_ns() < deadline)
			sleep_ms(50);
		if (!pid_registered(pids[i])) {
			char comm[64];
			fsinfo_comm(pids[i], comm, sizeof(comm));
			fprintf(stderr, "%spid %d (%s) did not register with the LTTng session daemon "
				"in %d s: it runs as another user, or with another LTTNG_HOME, than "
				"the daemon this command uses\n", pfx, (int)pids[i], comm,
				REGISTER_WAIT_MS / 1000);
			return REC_FAILED;
		}
	}
	return REC_OK;
}

/* --- the info file --------------------------------------------------------------- */

/* The first process's command line, its arguments joined by spaces. */
static void put_cmdline(FILE *f, pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	FILE *c = fopen(path, "r");
	size_t n = c ? fread(buf, 1, sizeof(buf) - 1, c) : 0;
	if (c)
		fclose(c);
	while (n && buf[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	info_put_escaped(f, buf, n);
}

/* mode: "attach" or "snapshot". No tag line: processes started by
 * `gilscope exec` carry none; the `pids` line is what a reader keeps. */
static enum rec_status info_write(const char *pfx, const char *dir, const char *mode,
				  const pid_t *pids, size_t npids, size_t nfirst,
				  const char *session, uint64_t ring, const uint64_t *lost)
{
	char path[PATH_MAX + 16], start[32];
	FILE *f;

	recording_start_time(start, sizeof(start));
	if (!(f = info_begin(pfx, dir, "mode", mode, start, path, sizeof(path))))
		return REC_FAILED;
	fputs("\npids=", f);
	for (size_t i = 0; i < npids; i++)
		fprintf(f, "%s%d", i ? "," : "", (int)pids[i]);
	/* Children that joined during the recording: what they had open
	 * when they joined starts with their first event, not the trace's. */
	if (nfirst < npids) {
		fputs("\nlate_pids=", f);
		for (size_t i = nfirst; i < npids; i++)
			fprintf(f, "%s%d", i > nfirst ? "," : "", (int)pids[i]);
	}
	fputs("\ncommand=", f);
	if (npids)
		put_cmdline(f, pids[0]);
	fputc('\n', f);
	if (session) {
		fputs("session=", f);
		info_put_escaped(f, session, strlen(session));
		fprintf(f, "\nring_buffer_per_cpu=%llu\n", (unsigned long long)ring);
	}
	if (lost)
		info_put_lost(f, *lost);
	return info_end(pfx, f, path);
}

/* Creates dir (and its parents); it must not hold anything yet. */
static enum rec_status outdir_make(const char *pfx, const char *want, char *abs)
{
	enum rec_status status = REC_FAILED;
	struct dirent *e;
	int empty = 1;
	DIR *d = NULL;

	if (record_mkdir_parents(want) < 0 || (mkdir(want, 0777) < 0 && errno != EEXIST)) {
		fprintf(stderr, "%scannot create %s: %s\n", pfx, want, strerror(errno));
		goto end;
	}
	d = opendir(want);
	if (!d) {
		fprintf(stderr, "%scannot open %s: %s\n", pfx, want, strerror(errno));
		goto end;
	}
	while ((e = readdir(d)) && empty)
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	if (!empty) {
		fprintf(stderr, "%s%s is not empty; choose another -o or remove it\n", pfx, want);
		goto end;
	}
	if (access(want, W_OK) < 0 || !realpath(want, abs)) {
		fprintf(stderr, "%scannot write to %s: %s\n", pfx, want, strerror(errno));
		goto end;
	}
	status = REC_OK;
end:
	if (d)
		closedir(d);
	return status;
}

/* Checks the processes, takes the session daemon and waits until they
 * registered with it. NULL after printing one line. */
static struct sessiond *attach_begin(const char *pfx, const struct attach_opts *o)
{
	char why[512];
	struct sessiond *d;

	for (size_t i = 0; i < o->npids; i++)
		if (pid_check(pfx, o->pids[i]))
			return NULL;
	if (!(d = sessiond_acquire(o->sessiond, why, sizeof(why)))) {
		fprintf(stderr, "%s%s\n", pfx, why);
		return NULL;
	}
	if (wait_registered(pfx, o->pids, o->npids)) {
		sessiond_release(d);
		return NULL;
	}
	return d;
}

/* --- record --pid ---------------------------------------------------------------- */

struct pidset {
	pid_t v[ATTACH_MAX_PIDS];
	size_t n;
};

static int pidset_has(const struct pidset *s, pid_t p)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == p)
			return 1;
	return 0;
}

/* Adds the new descendants of the recorded processes to the tracker. A
 * child is seen within one poll of its birth: what it did before is not
 * in the trace (it starts clipped, like its parent). */
/* The parent of pid, 0 when it is gone. */
static pid_t proc_ppid(pid_t pid)
{
	char path[64], stat[512];
	const char *close;
	size_t len = 0;
	int ppid = 0;
	char state;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f) {
		len = fread(stat, 1, sizeof(stat) - 1, f);
		fclose(f);
	}
	stat[len] = '\0';
	close = strrchr(stat, ')');
	if (!close || sscanf(close + 1, " %c %d", &state, &ppid) != 2)
		ppid = 0;
	return (pid_t)ppid;
}

static enum rec_status follow_children(const char *pfx, struct gs_session *s, struct pidset *set)
{
	enum rec_status status = REC_OK;
	int added;

	do {
		DIR *d = opendir("/proc");
		struct dirent *e;

		added = 0;
		while (d && status == REC_OK && (e = readdir(d)) && set->n < ATTACH_MAX_PIDS) {
			pid_t pid;

			if (!isdigit((unsigned char)e->d_name[0]))
				continue;
			pid = (pid_t)atoi(e->d_name);
			if (pidset_has(set, pid) || !pidset_has(set, proc_ppid(pid)))
				continue;
			if (session_track(pfx, s, pid)) {
				status = REC_FAILED;
			} else {
				set->v[set->n++] = pid;
				added = 1;
			}
		}
		if (d)
			closedir(d);
	} while (added && status == REC_OK);
	return status;
}

static int any_alive(const struct pidset *set)
{
	for (size_t i = 0; i < set->n; i++)
		if (kill(set->v[i], 0) == 0 || errno == EPERM)
			return 1;
	return 0;
}

enum rec_status attach_record(const struct attach_opts *o, struct record_result *res)
{
	static const char pfx[] = "gilscope record: ";
	struct sessiond *d = NULL;
	struct gs_session s = { 0 };
	struct pidset set = { .n = 0 };
	static const int stops[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	struct sigsave saved = { 0 };
	enum rec_status err = REC_FAILED;
	uint64_t ring = session_ring(o->buffer_size);

	memset(res, 0, sizeof(*res));
	memcpy(set.v, o->pids, o->npids * sizeof(pid_t));
	set.n = o->npids;
	const char *dir = o->outdir;
	if (!(d = attach_begin(pfx, o)))
		goto end;
	if (outdir_make(pfx, dir, res->trace_dir))
		goto end;
	snprintf(s.name, sizeof(s.name), "gilscope-%d-attach-%d", (int)getpid(), (int)o->pids[0]);

	g_stop = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: the sleep below ends early */
	sigemptyset(&sa.sa_mask);
	sigsave_take(&saved, stops, 3, &sa);

	struct gs_session_opts so = { .outdir = res->trace_dir, .ring = ring, .pids = set.v,
				      .npids = set.n, .resync = 1 };
	if (session_setup(pfx, &s, &so))
		goto end;
	if (!o->quiet)
		fprintf(stderr, "gilscope: recording pid %d%s%s; Ctrl-C ends\n", (int)o->pids[0],
			o->npids > 1 ? " and others" : "", o->follow_children ? " and its children" : "");
	int64_t end_at = o->duration_ns ? mono_ns() + o->duration_ns : INT64_MAX;
	while (!g_stop && mono_ns() < end_at) {
		if (o->follow_children && follow_children(pfx, &s, &set))
			goto end;
		if (!any_alive(&set)) {
			if (!o->quiet)
				fprintf(stderr, "gilscope: every recorded process ended\n");
			break;
		}
		int64_t left = end_at - mono_ns();
		sleep_ms(left < 100000000 ? (left > 0 ? (long)(left / 1000000) + 1 : 1) : 100);
	}
	res->cmd_ran = 1;
	err = REC_OK;
end:
	if (recording_end(pfx, &s, d, &saved, &res->lost))
		err = REC_FAILED;
	res->tails = s.tails;
	/* Each registered before the session began (wait_registered). */
	res->traced = (int)set.n;
	if (!err)
		recording_streams(pfx, res, set.v, set.n);
	if (res->trace_dir[0] &&
	    info_write(pfx, res->trace_dir, "attach", set.v, set.n, o->npids, NULL, ring,
		       err ? NULL : &res->lost))
		err = REC_FAILED;
	return err;
}

/* --- the flight recorder -------------------------------------------------------- */

enum rec_status flight_start(const struct attach_opts *o, char *name, size_t namelen)
{
	static const char pfx[] = "gilscope record: ";
	struct sessiond *d = NULL;
	struct gs_session s = { 0 };
	enum rec_status err = REC_FAILED;
	struct gs_session_opts so = { .outdir = NULL, .ring = session_ring(o->buffer_size),
				      .pids = o->pids, .npids = o->npids };

	if (!(d = attach_begin(pfx, o)))
		goto end;
	snprintf(s.name, sizeof(s.name), FLIGHT_PREFIX "%d", (int)o->pids[0]);
	/* The session outlives us: no recorder stops a daemon that holds a
	 * session (sessiond_release), flight_stop does once it is gone. */
	if (session_setup(pfx, &s, &so))
		goto end;
	snprintf(name, namelen, "%s", s.name);
	err = REC_OK;
end:
	if (err && s.created) {
		uint64_t lost;
		session_teardown(pfx, &s, &lost);
	}
	session_release(&s);
	sessiond_release(d);
	return err;
}

/* The flight session to use: `want`, or the only one running. */
static enum rec_status flight_find(const char *pfx, const char *want, char *name, size_t len)
{
	struct lttng_session *list = NULL;
	enum rec_status status = REC_FAILED;
	int n, found = 0;

	if (!lttng_session_daemon_alive()) {
		fprintf(stderr, "%sno LTTng session daemon runs, so no flight recorder either: "
			"start one with `gilscope record --flight --pid PID`\n", pfx);
		goto end;
	}
	n = lttng_list_sessions(&list);
	if (n < 0) {
		lttng_fail(pfx, "cannot list the LTTng sessions", n);
		goto end;
	}
	name[0] = '\0';
	for (int i = 0; i < n; i++) {
		int match = want ? !strcmp(list[i].name, want)
				 : !strncmp(list[i].name, FLIGHT_PREFIX, strlen(FLIGHT_PREFIX));
		if (!match)
			continue;
		if (found++ && !want) {
			fprintf(stderr, "%sseveral flight recorders run (%s, %s, ...): name one\n",
				pfx, name, list[i].name);
			goto end;
		}
		snprintf(name, len, "%s", list[i].name);
	}
	if (!found) {
		if (want)
			fprintf(stderr, "%sno LTTng session named %s runs (`lttng list` shows them)\n",
				pfx, want);
		else
			fprintf(stderr, "%sno flight recorder runs: start one with "
				"`gilscope record --flight --pid PID`\n", pfx);
		goto end;
	}
	status = REC_OK;
end:
	free(list);
	return status;
}

/* The processes a session's vpid tracker includes. */
static size_t flight_pids(const char *session, pid_t *pids, size_t max)
{
	struct lttng_process_attr_tracker_handle *t = NULL;
	const struct lttng_process_attr_values *vals = NULL;
	unsigned int count = 0;
	size_t n = 0;
	if (lttng_session_get_tracker_handle(session, LTTNG_DOMAIN_UST,
					     LTTNG_PROCESS_ATTR_VIRTUAL_PROCESS_ID, &t) != LTTNG_OK)
		return 0;
	if (lttng_process_attr_tracker_handle_get_inclusion_set(t, &vals) ==
		    LTTNG_PROCESS_ATTR_TRACKER_HANDLE_STATUS_OK &&
	    lttng_process_attr_values_get_count(vals, &count) == LTTNG_PROCESS_ATTR_VALUES_STATUS_OK) {
		for (unsigned int i = 0; i < count && n < max; i++) {
			pid_t p;
			if (lttng_process_attr_values_get_pid_at_index(vals, i, &p) ==
			    LTTNG_PROCESS_ATTR_VALUES_STATUS_OK)
				pids[n++] = p;
		}
	}
	lttng_process_attr_tracker_handle_destroy(t);
	return n;
}

enum rec_status flight_snapshot(const char *session, const char *outdir, char *trace_dir,
				size_t len)
{
	static const char pfx[] = "gilscope snapshot: ";
	char name[LTTNG_NAME_MAX];
	struct lttng_domain dom;
	struct lttng_handle *h = NULL;
	struct lttng_event *ev = NULL;
	struct lttng_snapshot_output *out = NULL;
	pid_t pids[ATTACH_MAX_PIDS];
	enum rec_status err = REC_FAILED;
	int rc, resync = 0;
	(void)len;

	if (flight_find(pfx, session, name, sizeof(name)) != REC_OK ||
	    outdir_make(pfx, outdir, trace_dir) != REC_OK)
		goto end;
	memset(&dom, 0, sizeof(dom));
	dom.type = LTTNG_DOMAIN_UST;
	dom.buf_type = LTTNG_BUFFER_PER_UID;
	if (!(h = lttng_create_handle(name, &dom)) || !(ev = lttng_event_create()) ||
	    !(out = lttng_snapshot_output_create())) {
		fprintf(stderr, "%sout of memory\n", pfx);
		goto end;
	}
	/* resync off -> on: each process says what its GILs and threads are,
	 * at the newest end of the ring. */
	snprintf(ev->name, sizeof(ev->name), "%s", SESSION_RESYNC_EVENT);
	ev->type = LTTNG_EVENT_TRACEPOINT;
	ev->loglevel_type = LTTNG_EVENT_LOGLEVEL_ALL;
	if ((rc = lttng_enable_event_with_exclusions(h, ev, SESSION_CHANNEL, NULL, 0, NULL)) < 0) {
		lttng_fail(pfx, "cannot enable " SESSION_RESYNC_EVENT, rc);
		goto end;
	}
	resync = 1;
	sleep_ms(RESYNC_WAIT_MS);
	if ((rc = lttng_snapshot_output_set_local_path(trace_dir, out)) < 0) {
		lttng_fail(pfx, "cannot set the snapshot's directory", rc);
		goto end;
	}
	if ((rc = lttng_snapshot_record(name, out, 1)) < 0) {
		lttng_fail(pfx, "cannot take the snapshot", rc);
		goto end;
	}
	size_t n = flight_pids(name, pids, ATTACH_MAX_PIDS);
	uint64_t ring = 0;
	struct lttng_channel *chans = NULL;
	int nch = lttng_list_channels(h, &chans);
	for (int i = 0; i < nch; i++)
		if (!strcmp(chans[i].name, SESSION_CHANNEL))
			ring = chans[i].attr.subbuf_size * chans[i].attr.num_subbuf;
	free(chans);
	if (info_write(pfx, trace_dir, "snapshot", pids, n, n, name, ring, NULL))
		goto end;
	err = REC_OK;
end:
	if (resync && (rc = lttng_disable_event(h, SESSION_RESYNC_EVENT, SESSION_CHANNEL)) < 0)
		err = lttng_fail(pfx, "cannot disable " SESSION_RESYNC_EVENT, rc);
	if (out)
		lttng_snapshot_output_destroy(out);
	if (ev)
		lttng_event_destroy(ev);
	if (h)
		lttng_destroy_handle(h);
	return err;
}

enum rec_status flight_stop(const struct sessiond_opts *o, const char *session)
{
	static const char pfx[] = "gilscope flight stop: ";
	char name[LTTNG_NAME_MAX], why[512];
	enum rec_status status = flight_find(pfx, session, name, sizeof(name));
	int rc;

	if (status == REC_OK && (rc = lttng_destroy_session(name)) < 0)
		status = lttng_fail(pfx, "cannot destroy the flight session", rc);
	if (status == REC_OK)
		fprintf(stderr, "gilscope: flight recorder %s stopped\n", name);
	/* The daemon gilscope started for it, unless something else uses it.
	 * The flight recorder is stopped all the same: a note, not an error. */
	if (status == REC_OK && sessiond_cleanup(o, why, sizeof(why)) < 0)
		fprintf(stderr, "%sthe session daemon is left running: %s\n", pfx, why);
	return status;
}
