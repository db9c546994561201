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
#include "lives.h"
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

/* --- what the session daemon knows of them ------------------------------------ */

/* One process of a recording by pid, as the session daemon this command
 * uses and then the trace see it (pids_registered, pids_sort). */
struct standing {
	pid_t pid;
	pid_t vpid;     /* its pid in its own pid namespace: the one its events carry */
	char comm[64];
	int traced;     /* it maps gilscope's probes: a CPython the tracer traces */
	int registered; /* the daemon listed its gilscope events, at one look at least */
	int certain;    /* not registered, and waiting would not change that */
	int found;      /* the trace holds a GIL event of it */
	char why[800];  /* not registered: the likely reason */
};

/* The link /proc/PID/ns/NAME (pid 0: this process's), "" when unreadable. */
static void proc_ns(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
	else
		snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
}

/* NAME's value in the environment pid started with, into out (at most
 * len bytes); 1 when it is set there, 0 when not or unreadable. */
static int proc_env(pid_t pid, const char *name, char *out, size_t len)
{
	char path[64], buf[1 << 16];
	size_t n = 0, k = strlen(name);
	FILE *f;
	int set = 0;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	f = fopen(path, "r");
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	for (size_t i = 0; i < n && !set; i += strlen(buf + i) + 1)
		if (!strncmp(buf + i, name, k) && buf[i + k] == '=') {
			snprintf(out, len, "%s", buf + i + k + 1);
			set = 1;
		}
	return set;
}

/* pid's state letter in /proc/PID/stat (R, S, T, t, Z...), '?' when gone,
 * and its pid in its own pid namespace (NSpid's last) into *inner. */
static char proc_state(pid_t pid, pid_t *inner)
{
	char path[64], line[256], state = '?';
	FILE *f;

	*inner = pid;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "State:", 6))
			sscanf(line + 6, " %c", &state);
		else if (!strncmp(line, "NSpid:", 6))
			for (char *c = line + 6, *end; *c && *c != '\n'; c = end) {
				long v = strtol(c, &end, 10);

				if (end == c)
					break;
				*inner = (pid_t)v;
			}
	}
	if (f)
		fclose(f);
	return state;
}

/* Why st->pid, a traced CPython, is not registered with the session
 * daemon whose run directory is rundir (a user's own daemon; NULL: root's,
 * which every process on the machine registers with): into st->why, and
 * st->certain when waiting would not change it. The places a process
 * looks for its daemons (liblttng-ust): root's under /run/lttng, the
 * user's under $LTTNG_HOME/.lttng (else $HOME/.lttng), both in its own
 * mount namespace; it registers with whichever appears, later too. */
static void unregistered_why(struct standing *st, const char *rundir)
{
	char mine[64], its[64], home[PATH_MAX], want[PATH_MAX + 16], a[PATH_MAX], b[PATH_MAX];
	const char *var = "LTTNG_HOME";
	pid_t inner;
	char state = proc_state(st->pid, &inner);

	st->certain = 1;
	if ((kill(st->pid, 0) < 0 && errno == ESRCH) || state == '?' || state == 'Z' ||
	    state == 'X') {
		snprintf(st->why, sizeof(st->why), "it no longer runs");
		return;
	}
	/* Another pid namespace alone is no reason: the daemon knows the
	 * process by the pid it sees (docs/services.md). */
	proc_ns(0, "mnt", mine, sizeof(mine));
	proc_ns(st->pid, "mnt", its, sizeof(its));
	if (mine[0] && its[0] && strcmp(mine, its)) {
		/* A container has its pid namespace too, and its /proc shows
		 * that one's pids: there it has another pid, which --pid needs. */
		if (inner != st->pid)
			snprintf(st->why, sizeof(st->why), "it runs in another mount and pid "
				 "namespace (a container), whose /run/lttng and HOME hold the session "
				 "daemons it can reach and where it is pid %d: record it from inside "
				 "both (`nsenter -t %d -m -p gilscope record --pid %d ...`)",
				 (int)inner, (int)st->pid, (int)inner);
		else
			snprintf(st->why, sizeof(st->why), "it runs in another mount namespace (a "
				 "container, `unshare -m`), whose /run/lttng and HOME hold the session "
				 "daemons it can reach: record it from inside that namespace (`nsenter "
				 "-t %d -m gilscope record ...`)", (int)st->pid);
		return;
	}
	if (rundir && (proc_env(st->pid, var, home, sizeof(home)) ||
		       proc_env(st->pid, (var = "HOME"), home, sizeof(home)))) {
		snprintf(want, sizeof(want), "%s/.lttng", home);
		if (strcmp(realpath(want, a) ? a : want, realpath(rundir, b) ? b : rundir)) {
			/* Untrusted (another process's environment), said on a
			 * terminal and in gilscope.info: printable only. */
			for (char *c = home; *c; c++)
				if (!isprint((unsigned char)*c))
					*c = '?';
			snprintf(want, sizeof(want), "%s/.lttng", home);
			snprintf(st->why, sizeof(st->why), "it registers with the session daemon "
				 "under %.120s (its %s), this command's is under %.120s: run gilscope "
				 "with LTTNG_HOME=%.120s, or as root (every process registers with "
				 "root's daemon)", want, var, rundir, home);
			return;
		}
	}
	st->certain = 0;
	if (state == 'T' || state == 't')
		snprintf(st->why, sizeof(st->why), "it is stopped (state %c: SIGSTOP, or a "
			 "debugger holds it), so its liblttng-ust cannot answer: it registers once it "
			 "runs again (kill -CONT %d)", state, (int)st->pid);
	else
		snprintf(st->why, sizeof(st->why), "its liblttng-ust did not reach the daemon in "
			 "%d s (a loaded machine; or the program closed liblttng-ust's file "
			 "descriptors, as some daemonizing code does); `lttng list -u` lists the "
			 "registered processes", REGISTER_WAIT_MS / 1000);
}

/* The one check of which processes of a recording by pid the session
 * daemon this command reaches knows (`lttng list -u`: those whose
 * gilscope events it lists): sets registered on each of st[0..n) it
 * lists (once set, it stays) and, for each traced one it does not, why
 * (unregistered_why; rundir as there). Returns how many traced ones are
 * not registered. */
static size_t pids_registered(struct standing *st, size_t n, const char *rundir)
{
	struct lttng_domain dom = { .type = LTTNG_DOMAIN_UST };
	struct lttng_event *evs = NULL;
	struct lttng_handle *h = lttng_create_handle(NULL, &dom);
	int nev = h ? lttng_list_tracepoints(h, &evs) : LTTNG_ERR_NOMEM;
	size_t missing = 0;

	for (size_t i = 0; i < n; i++) {
		/* A child first seen between its fork and its exec of a
		 * CPython: look again. */
		if (!st[i].traced && !st[i].registered) {
			int has = proc_maps(st[i].pid);

			st[i].traced = has > 0 && (has & MAPS_PROBES);
			if (st[i].traced)
				fsinfo_comm(st[i].pid, st[i].comm, sizeof(st[i].comm));
		}
		for (int k = 0; k < nev && !st[i].registered; k++)
			st[i].registered = evs[k].pid == st[i].pid &&
					   !strncmp(evs[k].name, "gilscope:", 9);
		if (st[i].registered || !st[i].traced)
			continue;
		missing++;
		if (nev < 0) {
			st[i].certain = 0;
			snprintf(st[i].why, sizeof(st[i].why), "the session daemon cannot be asked: %s",
				 lttng_strerror(nev));
		} else {
			unregistered_why(&st[i], rundir);
		}
	}
	free(evs);
	if (h)
		lttng_destroy_handle(h);
	return missing;
}

/* st for a process first seen now: its name, whether it is traced. */
static void standing_init(struct standing *st, pid_t pid)
{
	memset(st, 0, sizeof(*st));
	st->pid = pid;
	fsinfo_comm(pid, st->comm, sizeof(st->comm));
	proc_state(pid, &st->vpid);
	int has = proc_maps(pid);

	st->traced = has > 0 && (has & MAPS_PROBES);
}

/* The run directory of the daemon this command uses: its pid file's, for
 * a user's own daemon; NULL for root's. */
static const char *daemon_rundir(const struct sessiond_opts *o, char *buf, size_t len)
{
	char *slash;

	if (!geteuid() || !o || !o->pidfile)
		return NULL;
	snprintf(buf, len, "%s", o->pidfile);
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	return buf;
}

/* Waits until each of st[0..n) registered with the session daemon (a
 * daemon just started takes a moment) or cannot; one line each for
 * those that did not, and REC_FAILED. */
static enum rec_status wait_registered(const char *pfx, struct standing *st, size_t n,
				       const char *rundir)
{
	int64_t deadline = mono_ns() + (int64_t)REGISTER_WAIT_MS * 1000000;
	size_t missing;

	for (;;) {
		int waiting = 0;

		missing = pids_registered(st, n, rundir);
		for (size_t i = 0; i < n; i++)
			waiting |= st[i].traced && !st[i].registered && !st[i].certain;
		if (!waiting || mono_ns() >= deadline)
			break;
		sleep_ms(50);
	}
	for (size_t i = 0; i < n; i++)
		if (st[i].traced && !st[i].registered)
			fprintf(stderr, "%spid %d (%s) did not register with the LTTng session daemon "
				"this command uses: %s\n", pfx, (int)st[i].pid, st[i].comm, st[i].why);
	return missing ? REC_FAILED : REC_OK;
}

/* After the session's end: which of st[0..n) the trace in dir holds a
 * GIL event of (found, by the pid its events carry), and the traced ones
 * that left none sorted into res: idle (registered) or unregistered, a
 * line each saying "pid N (NAME) <state> the LTTng session daemon this
 * command uses: why" (state: "never registered with", "is no longer
 * registered with"). Unchecked (a trace this reader cannot walk):
 * res->unrecorded -1 and why in res->unchecked. */
static void pids_sort(const char *pfx, struct record_result *res, struct standing *st, size_t n,
		      const char *dir, const char *state)
{
	struct life *lives = calloc(n ? n : 1, sizeof(*lives));
	char why[sizeof(res->unchecked)];
	size_t nl = 0;
	int bad = -1;

	res->idle = res->unregistered = 0;
	for (size_t i = 0; lives && i < n; i++)
		if (st[i].traced)
			lives[nl++].pid = st[i].vpid;
	snprintf(why, sizeof(why), "out of memory");
	/* The metadata may trail the drained streams a little: read again,
	 * as recording_lives() does, before giving up. */
	for (int k = 0; lives && bad && k < 20; k++) {
		struct timespec nap = { 0, 50 * 1000 * 1000 };

		if (k)
			nanosleep(&nap, NULL);
		bad = lives_find(dir, LIVES_ANY_TAG, lives, nl, why, sizeof(why));
	}
	if (bad) {
		snprintf(res->unchecked, sizeof(res->unchecked), "%s", why);
		res->unrecorded = -1;
	}
	for (size_t i = 0; i < n; i++) {
		st[i].found = 0;
		for (size_t k = 0; !bad && k < nl; k++)
			st[i].found |= lives[k].pid == st[i].vpid && lives[k].found;
		if (bad || !st[i].traced || st[i].found)
			continue;
		if (st[i].registered) {
			if (res->idle < RECORD_NAMED)
				res->idle_pids[res->idle] = st[i].pid;
			res->idle++;
			continue;
		}
		/* The name of one that ended before it was first seen is unknown. */
		if (res->unregistered < RECORD_NAMED)
			fprintf(stderr, "%spid %d%s%s%s %s the LTTng session daemon this command uses: "
				"%s\n", pfx, (int)st[i].pid, strcmp(st[i].comm, "?") ? " (" : "",
				strcmp(st[i].comm, "?") ? st[i].comm : "", strcmp(st[i].comm, "?") ? ")" : "",
				state, st[i].why);
		if (res->unregistered < RECORD_NAMED)
			res->unregistered_pids[res->unregistered] = st[i].pid;
		res->unregistered++;
	}
	free(lives);
}

/* The info file's lines of pids_sort(): the traced processes recorded,
 * idle, unregistered ("unknown" when the trace could not be checked). */
static void info_put_standing(FILE *f, const struct record_result *res,
			      const struct standing *st, size_t n)
{
	static const char *const keys[] = { "recorded_pids=", "idle_pids=", "unregistered_pids=" };

	for (int k = 0; k < 3; k++) {
		fputs(keys[k], f);
		for (size_t i = 0, w = 0; res->unrecorded >= 0 && i < n; i++) {
			int kind = st[i].found ? 0 : st[i].registered ? 1 : 2;

			if (st[i].traced && kind == k)
				fprintf(f, "%s%d", w++ ? "," : "", (int)st[i].pid);
		}
		fputs(res->unrecorded < 0 ? "unknown\n" : "\n", f);
	}
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
				  const char *session, uint64_t ring, const uint64_t *lost,
				  const struct record_result *res, const struct standing *st)
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
	if (st)
		info_put_standing(f, res, st, npids);
	if (res)
		info_put_stop(f, res->stop_clock);
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
 * registered with it (st: theirs, one each). NULL after printing one
 * line (one per process that did not register). */
static struct sessiond *attach_begin(const char *pfx, const struct attach_opts *o,
				     struct standing *st)
{
	char why[512], rundir[PATH_MAX];
	struct sessiond *d;

	for (size_t i = 0; i < o->npids; i++)
		if (pid_check(pfx, o->pids[i]))
			return NULL;
	if (!(d = sessiond_acquire(o->sessiond, why, sizeof(why)))) {
		fprintf(stderr, "%s%s\n", pfx, why);
		return NULL;
	}
	for (size_t i = 0; i < o->npids; i++)
		standing_init(&st[i], o->pids[i]);
	if (wait_registered(pfx, st, o->npids, daemon_rundir(o->sessiond, rundir, sizeof(rundir)))) {
		sessiond_release(d);
		return NULL;
	}
	return d;
}

/* --- record --pid ---------------------------------------------------------------- */

struct pidset {
	pid_t v[ATTACH_MAX_PIDS];
	struct standing st[ATTACH_MAX_PIDS]; /* each one's (pids_registered) */
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
				standing_init(&set->st[set->n], pid);
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

/* 1 when a traced process of set is alive and not yet seen registered
 * (a child that joined: its registration is checked once a second). */
static int any_unregistered(const struct pidset *set)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->st[i].traced && !set->st[i].registered && kill(set->v[i], 0) == 0)
			return 1;
	return 0;
}

enum rec_status attach_record(const struct attach_opts *o, struct record_result *res)
{
	static const char pfx[] = "gilscope record: ";
	struct sessiond *d = NULL;
	struct gs_session s = { 0 };
	struct pidset *set = calloc(1, sizeof(*set));
	static const int stops[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	struct sigsave saved = { 0 };
	enum rec_status err = REC_FAILED;
	uint64_t ring = session_ring(o->buffer_size);
	char rundir_buf[PATH_MAX];
	const char *rundir = daemon_rundir(o->sessiond, rundir_buf, sizeof(rundir_buf));
	int began = 0;

	memset(res, 0, sizeof(*res));
	if (!set) {
		fprintf(stderr, "%sout of memory\n", pfx);
		return REC_FAILED;
	}
	memcpy(set->v, o->pids, o->npids * sizeof(pid_t));
	set->n = o->npids;
	const char *dir = o->outdir;
	if (!(d = attach_begin(pfx, o, set->st)))
		goto end;
	if (outdir_make(pfx, dir, res->trace_dir))
		goto end;
	snprintf(s.name, sizeof(s.name), "gilscope-%d-attach-%d", (int)getpid(), (int)o->pids[0]);

	g_stop = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: the sleep below ends early */
	sigemptyset(&sa.sa_mask);
	sigsave_take(&saved, stops, 3, &sa);

	struct gs_session_opts so = { .outdir = res->trace_dir, .ring = ring, .pids = set->v,
				      .npids = set->n, .resync = 1 };
	if (session_setup(pfx, &s, &so))
		goto end;
	began = 1;
	if (!o->quiet)
		fprintf(stderr, "gilscope: recording pid %d%s%s; Ctrl-C ends\n", (int)o->pids[0],
			o->npids > 1 ? " and others" : "", o->follow_children ? " and its children" : "");
	int64_t end_at = o->duration_ns ? mono_ns() + o->duration_ns : INT64_MAX;
	for (unsigned round = 1; !g_stop && mono_ns() < end_at; round++) {
		if (o->follow_children && follow_children(pfx, &s, set))
			goto end;
		if (!any_alive(set)) {
			if (!o->quiet)
				fprintf(stderr, "gilscope: every recorded process ended\n");
			break;
		}
		if (round % 10 == 0 && any_unregistered(set))
			pids_registered(set->st, set->n, rundir);
		int64_t left = end_at - mono_ns();
		sleep_ms(left < 100000000 ? (left > 0 ? (long)(left / 1000000) + 1 : 1) : 100);
	}
	res->cmd_ran = 1;
	err = REC_OK;
end:
	/* Before the session's end, while the daemon still knows them: the
	 * children that joined and were not seen registered yet. */
	if (began)
		pids_registered(set->st, set->n, rundir);
	if (recording_end(pfx, &s, d, &saved, &res->lost))
		err = REC_FAILED;
	res->tails = s.tails;
	res->stop_clock = s.stop_clock;
	/* The traced CPython processes: the ones asked for registered before
	 * the session began (wait_registered). */
	for (size_t i = 0; i < set->n; i++)
		res->traced += set->st[i].traced;
	if (!err) {
		recording_streams(pfx, res, set->v, set->n);
		pids_sort(pfx, res, set->st, set->n, res->trace_dir, "never registered with");
	}
	if (res->trace_dir[0] &&
	    info_write(pfx, res->trace_dir, "attach", set->v, set->n, o->npids, NULL, ring,
		       err ? NULL : &res->lost, res, err ? NULL : set->st))
		err = REC_FAILED;
	free(set);
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
	struct standing *st = calloc(o->npids ? o->npids : 1, sizeof(*st));

	if (!st) {
		fprintf(stderr, "%sout of memory\n", pfx);
		goto end;
	}
	if (!(d = attach_begin(pfx, o, st)))
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
	free(st);
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

enum rec_status flight_snapshot(const struct sessiond_opts *o, const char *session,
				const char *outdir, struct record_result *res)
{
	static const char pfx[] = "gilscope snapshot: ";
	char name[LTTNG_NAME_MAX], rundir[PATH_MAX];
	char *trace_dir = res->trace_dir;
	struct standing *st = NULL;
	struct lttng_domain dom;
	struct lttng_handle *h = NULL;
	struct lttng_event *ev = NULL;
	struct lttng_snapshot_output *out = NULL;
	pid_t pids[ATTACH_MAX_PIDS];
	enum rec_status err = REC_FAILED;
	int rc, resync = 0, flush = 0;

	memset(res, 0, sizeof(*res));
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
	/* Held-back holds out too (session_flush_on's wait is within the
	 * resync's). */
	flush = !session_flush_switch(pfx, h, 1);
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
	/* Each registered when the flight recorder began (wait_registered):
	 * which the daemon still knows, which left an event in the rings. */
	if (!(st = calloc(n ? n : 1, sizeof(*st)))) {
		fprintf(stderr, "%sout of memory\n", pfx);
		goto end;
	}
	for (size_t i = 0; i < n; i++) {
		standing_init(&st[i], pids[i]);
		st[i].traced = 1;
	}
	pids_registered(st, n, daemon_rundir(o, rundir, sizeof(rundir)));
	res->traced = (int)n;
	pids_sort(pfx, res, st, n, trace_dir, "is no longer registered with");
	struct lttng_channel *chans = NULL;
	int nch = lttng_list_channels(h, &chans);
	for (int i = 0; i < nch; i++)
		if (!strcmp(chans[i].name, SESSION_CHANNEL))
			ring = chans[i].attr.subbuf_size * chans[i].attr.num_subbuf;
	free(chans);
	if (info_write(pfx, trace_dir, "snapshot", pids, n, n, name, ring, NULL, res, st))
		goto end;
	err = REC_OK;
end:
	if (flush && session_flush_off(pfx, h))
		err = REC_FAILED;
	if (resync && (rc = lttng_disable_event(h, SESSION_RESYNC_EVENT, SESSION_CHANNEL)) < 0)
		err = lttng_fail(pfx, "cannot disable " SESSION_RESYNC_EVENT, rc);
	if (out)
		lttng_snapshot_output_destroy(out);
	if (ev)
		lttng_event_destroy(ev);
	if (h)
		lttng_destroy_handle(h);
	free(st);
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
