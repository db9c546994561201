/* The session daemon's start and stop, the registry of live recorders and
 * the clean-up of stale sessions (sessiond.h says the rules). */
#include "sessiond.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lttng/lttng.h>

#include "fsinfo.h"

struct sessiond {
	struct sessiond_opts o;
	int ref_fd; /* our reference: a shared flock */
};

static void errorf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errorf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Field 22 of /proc/PID/stat (start time in clock ticks), with the state
 * in *state and the parent in *ppid (either may be NULL); 0 when the
 * process is gone. */
static unsigned long long proc_start(pid_t pid, char *state, pid_t *ppid)
{
	char path[64], buf[1024];
	unsigned long long start = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f && fgets(buf, sizeof(buf), f)) {
		/* "pid (comm) S ...": comm may hold spaces; fields follow the last ')' */
		const char *p = strrchr(buf, ')');

		if (p && p[1] == ' ') {
			if (state)
				*state = p[2];
			/* field 3 is the state; skip to field 22 */
			p += 2;
			for (int field = 3; field < 22 && p; field++) {
				p = strchr(p, ' ');
				if (p)
					p++;
				if (p && field == 3 && ppid)
					*ppid = (pid_t)strtol(p, NULL, 10);
			}
			if (p)
				start = strtoull(p, NULL, 10);
		}
	}
	if (f)
		fclose(f);
	return start;
}

static int comm_starts(pid_t pid, const char *prefix)
{
	char comm[64];

	fsinfo_comm(pid, comm, sizeof(comm));
	return !strncmp(comm, prefix, strlen(prefix));
}

/* A live process (a zombie is gone: some containers' init reaps nothing). */
static int proc_live(pid_t pid)
{
	char state = 'X';

	return proc_start(pid, &state, NULL) && state != 'Z' && state != 'X';
}

int sessiond_recorder_alive(pid_t pid)
{
	return pid > 0 && proc_live(pid) && comm_starts(pid, "gilscope");
}

static int is_sessiond(pid_t pid)
{
	return pid > 0 && proc_live(pid) && comm_starts(pid, "lttng-sessiond");
}

int sessiond_session_name(char *buf, size_t len, pid_t recorder, uint32_t tag)
{
	int n = snprintf(buf, len, SESSIOND_NAME_PREFIX "%d-%08x", (int)recorder, tag);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* The recorder pid of a gilscope session name ("gilscope-PID-anything"),
 * 0 if the name is not ours. */
static pid_t session_recorder(const char *name)
{
	const char *p = name + strlen(SESSIOND_NAME_PREFIX);
	char *end;
	long pid;

	if (strncmp(name, SESSIOND_NAME_PREFIX, strlen(SESSIOND_NAME_PREFIX)))
		return 0;
	errno = 0;
	pid = strtol(p, &end, 10);
	if (errno || end == p || *end != '-' || !end[1] || pid <= 0 || pid > INT_MAX)
		return 0;
	return (pid_t)pid;
}

/* --- files in state_dir ----------------------------------------------------
 * gilscope-UID-KEY.sessiond-lock  the short lock: held while the daemon is
 *                                 checked, started or stopped, never longer;
 * gilscope-sessiond-UID-KEY.lock  the reference count: every live recorder
 *                                 holds a shared flock on it (which blocks no
 *                                 other recorder); the kernel drops a killed
 *                                 one's, and whoever can convert it to
 *                                 exclusive is the last;
 * gilscope-sessiond-UID-KEY.pid   the pid of the daemon gilscope started.
 * KEY names the daemon's run directory (the one its pid file is in:
 * /run/lttng for root, $LTTNG_HOME/.lttng else), which is what tells one
 * daemon from another: recorders in two mount namespaces, each with its
 * own /run/lttng, share the state directory when it is /tmp (no
 * XDG_RUNTIME_DIR), but not their daemons, and must not count each
 * other's references nor stop each other's daemon (state_key).
 * gilscope-sessiond-UID.lock      the reference file of gilscope before
 *                                 KEY (one per user, whatever the daemon),
 *                                 never taken, only checked: while a
 *                                 recorder of that version holds it, none of
 *                                 this one stops the daemon (legacy_last). */

enum state_file { STATE_LOCK, STATE_REF, STATE_MARKER, STATE_LEGACY_REF };

/* "DEV-HASH": the device of the run directory, or of its nearest existing
 * parent (the daemon makes the directory on that same file system: the
 * key does not change when it does; a tmpfs mounted there is another
 * device), and a hash (FNV-1a) of its path (two LTTNG_HOMEs on one file
 * system). tests/lib/gstest.py (sessiond_state) computes it too. */
static void state_key(const struct sessiond_opts *o, char *key, size_t len)
{
	char dir[PATH_MAX];
	uint32_t hash = 2166136261u;
	struct stat st = { 0 };
	char *slash;

	snprintf(dir, sizeof(dir), "%s", o->pidfile ? o->pidfile : "/");
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	for (const char *p = dir; *p; p++) {
		hash ^= (unsigned char)*p;
		hash *= 16777619u;
	}
	while (stat(dir, &st) < 0 && (slash = strrchr(dir, '/'))) {
		if (slash == dir) {
			dir[1] = '\0';
			if (stat(dir, &st) < 0)
				st.st_dev = 0;
			break;
		}
		*slash = '\0';
	}
	snprintf(key, len, "%llx-%08x", (unsigned long long)st.st_dev, hash);
}

static void state_path(char *buf, size_t len, const struct sessiond_opts *o, enum state_file f)
{
	int uid = (int)getuid();
	char key[64];

	state_key(o, key, sizeof(key));
	switch (f) {
	case STATE_LOCK:
		snprintf(buf, len, "%s/gilscope-%d-%s.sessiond-lock", o->state_dir, uid, key);
		break;
	case STATE_REF:
		snprintf(buf, len, "%s/gilscope-sessiond-%d-%s.lock", o->state_dir, uid, key);
		break;
	case STATE_MARKER:
		snprintf(buf, len, "%s/gilscope-sessiond-%d-%s.pid", o->state_dir, uid, key);
		break;
	case STATE_LEGACY_REF:
		snprintf(buf, len, "%s/gilscope-sessiond-%d.lock", o->state_dir, uid);
		break;
	}
}

static int state_open(const struct sessiond_opts *o, enum state_file f, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd;

	state_path(path, sizeof(path), o, f);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		errorf(err, errlen, "cannot open %s: %s", path, strerror(errno));
	return fd;
}

static int flock_retry(int fd, int op)
{
	int rc;

	while ((rc = flock(fd, op)) < 0 && errno == EINTR)
		;
	return rc;
}

/* Opens and flocks a state file; returns the fd (close it to unlock) or -1. */
static int state_lock(const struct sessiond_opts *o, enum state_file f, int op, char *err,
		      size_t errlen)
{
	int fd = state_open(o, f, err, errlen);

	if (fd >= 0 && flock_retry(fd, op) < 0) {
		char path[PATH_MAX];

		state_path(path, sizeof(path), o, f);
		errorf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The short lock. */
static int lock_take(const struct sessiond_opts *o, char *err, size_t errlen)
{
	return state_lock(o, STATE_LOCK, LOCK_EX, err, errlen);
}

/* A reference: a shared flock, which blocks no other recorder. */
static int ref_take(const struct sessiond_opts *o, char *err, size_t errlen)
{
	return state_lock(o, STATE_REF, LOCK_SH, err, errlen);
}

/* With the short lock held: 1 when no other recorder holds a reference;
 * fd (a reference of ours, or any open of the file) then holds it
 * exclusively, so that no recorder takes a reference meanwhile. */
static int ref_last(int fd)
{
	return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
}

/* With the short lock held: 1 when no recorder of an earlier gilscope
 * (whose files have no KEY) holds its reference, which it would take on
 * a daemon this one started; *fd then holds that file exclusively until
 * closed (after the daemon is stopped), or is -1 when there is none. */
static int legacy_last(const struct sessiond_opts *o, int *fd)
{
	char path[PATH_MAX];

	state_path(path, sizeof(path), o, STATE_LEGACY_REF);
	*fd = open(path, O_RDWR | O_CLOEXEC);
	return *fd < 0 || flock(*fd, LOCK_EX | LOCK_NB) == 0;
}

/* The pid of the daemon gilscope started (the marker), 0 if none, with
 * its start time in *start (0 when the marker does not say: gilscope
 * 0.x wrote the pid alone). */
static pid_t marker_read(const struct sessiond_opts *o, unsigned long long *start)
{
	char path[PATH_MAX];
	int pid = 0;
	FILE *f;

	*start = 0;
	state_path(path, sizeof(path), o, STATE_MARKER);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		else if (fscanf(f, "%llu", start) != 1)
			*start = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

static void marker_remove(const struct sessiond_opts *o)
{
	char path[PATH_MAX];

	state_path(path, sizeof(path), o, STATE_MARKER);
	unlink(path);
}

/* --- the daemon ------------------------------------------------------------ */

static pid_t pidfile_read(const char *path)
{
	long pid = 0;
	FILE *f = path ? fopen(path, "r") : NULL;

	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

static enum rec_status daemon_start(const struct sessiond_opts *o, char *err, size_t errlen)
{
	char marker[PATH_MAX];
	int status, written = 0;
	pid_t pid;
	FILE *m;
	enum rec_status ret = REC_FAILED;

	if (!o->exe) {
		errorf(err, errlen, "no LTTng session daemon runs and lttng-sessiond is not "
		       "installed: apt-get install lttng-tools");
		goto end;
	}
	pid = fork();
	if (pid < 0) {
		errorf(err, errlen, "cannot fork to start lttng-sessiond: %s", strerror(errno));
		goto end;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		setsid(); /* a Ctrl-C on the recorder's terminal must not reach it */
		execl(o->exe, "lttng-sessiond", "--daemonize", "--no-kernel", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errorf(err, errlen, "%s --daemonize --no-kernel failed (status %d)", o->exe,
		       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		goto end;
	}
	for (int i = 0; i < 100 && !lttng_session_daemon_alive(); i++)
		usleep(50 * 1000);
	if (!lttng_session_daemon_alive()) {
		errorf(err, errlen, "lttng-sessiond started but does not answer");
		goto end;
	}
	state_path(marker, sizeof(marker), o, STATE_MARKER);
	m = fopen(marker, "w");
	if (m) {
		pid_t daemon = pidfile_read(o->pidfile);

		/* With its start time: a pid reused by another daemon is not ours. */
		written = fprintf(m, "%d %llu\n", (int)daemon,
				  daemon > 0 ? proc_start(daemon, NULL, NULL) : 0ULL) >= 0;
		written = fclose(m) == 0 && written; /* closed even when the write failed */
	}
	if (!written) {
		errorf(err, errlen, "cannot write %s: %s", marker, strerror(errno));
		goto end;
	}
	ret = REC_OK;
end:
	return ret;
}

/* The daemon of the marker is still the one gilscope started: the same
 * program, and the same start time when the marker has it. */
static int daemon_ours(pid_t pid, unsigned long long start)
{
	return is_sessiond(pid) && (!start || proc_start(pid, NULL, NULL) == start);
}

/* The live children of pid named lttng-* (a session daemon's consumer
 * daemons and its run-as helper): up to max pids in kids, how many
 * returned. */
static int daemon_children(pid_t pid, pid_t *kids, int max)
{
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	int n = 0;

	while (proc && n < max && (pe = readdir(proc))) {
		char *end;
		long kid = strtol(pe->d_name, &end, 10);
		pid_t parent = 0;

		if (*end || kid <= 0 || kid > INT_MAX)
			continue;
		if (proc_start((pid_t)kid, NULL, &parent) && parent == pid &&
		    comm_starts((pid_t)kid, "lttng-") && proc_live((pid_t)kid))
			kids[n++] = (pid_t)kid;
	}
	if (proc)
		closedir(proc);
	return n;
}

/* How long the daemon has to end on SIGTERM: it destroys what is left
 * and stops its consumer daemons, well under a second when idle. */
#define DAEMON_STOP_WAITS 200 /* of 50 ms: 10 s */

/* The sessions the running daemon holds; -1 when it cannot say. */
static int daemon_sessions(void)
{
	struct lttng_session *list = NULL;
	int n = lttng_list_sessions(&list);

	free(list);
	return n;
}

/* With the lock held and no live recorder: stops the daemon gilscope
 * started, if it still runs and holds no session (a flight recorder's,
 * which outlives its recorder, or one made with `lttng create`: then it
 * stays, and so does the marker, for whoever ends that session to stop
 * it: `flight stop`, the next recorder). One that does not end on SIGTERM
 * (stopped by SIGSTOP or a debugger, stuck) would keep its sockets, shared
 * memory and consumer daemons for good: SIGKILL for it and its lttng-*
 * children, when its start time shows it is the one gilscope started. */
static void daemon_stop_ours(const struct sessiond_opts *o)
{
	unsigned long long start;
	pid_t pid = marker_read(o, &start), kids[16];
	char list[256] = "";
	int nkids, used = 0, in_use = 0;

	if (!pid || !daemon_ours(pid, start))
		goto end;
	if (daemon_sessions() > 0) {
		in_use = 1;
		goto end;
	}
	kill(pid, SIGTERM);
	for (int i = 0; i < DAEMON_STOP_WAITS && daemon_ours(pid, start); i++)
		usleep(50 * 1000);
	if (!daemon_ours(pid, start))
		goto end;
	if (!start) {
		if (o->notes)
			fprintf(o->notes, "gilscope: the session daemon (pid %d) did not end within "
				"%d s of SIGTERM; left running, as its marker (of gilscope 0.x) "
				"does not say it is the one gilscope started\n", (int)pid,
				DAEMON_STOP_WAITS / 20);
		goto end;
	}
	/* The children first: once the daemon is gone they are no one's. */
	nkids = daemon_children(pid, kids, (int)(sizeof(kids) / sizeof(kids[0])));
	kill(pid, SIGKILL);
	for (int i = 0; i < nkids; i++) {
		kill(kids[i], SIGKILL);
		if (used < (int)sizeof(list))
			used += snprintf(list + used, sizeof(list) - (size_t)used, "%s%d%s",
					 i ? ", " : ", and its lttng-* children (pids ", (int)kids[i],
					 i == nkids - 1 ? ")" : "");
	}
	for (int i = 0; i < 20 && daemon_ours(pid, start); i++)
		usleep(50 * 1000);
	if (o->notes)
		fprintf(o->notes, "gilscope: the session daemon gilscope started (pid %d) did not "
			"end within %d s of SIGTERM: killed it with SIGKILL%s%s\n", (int)pid,
			DAEMON_STOP_WAITS / 20, list, daemon_ours(pid, start) ? ", and it still runs" : "");
end:
	if (!in_use)
		marker_remove(o);
}

/* --- stale sessions -------------------------------------------------------- */

/* Stops (flushing the buffers into the trace) and destroys every session
 * whose recorder is gone. Returns how many, -1 when listing failed. */
static int stale_destroy(const struct sessiond_opts *o, char *err, size_t errlen)
{
	struct lttng_session *list = NULL;
	int n, done = 0;

	if (!lttng_session_daemon_alive())
		return 0;
	n = lttng_list_sessions(&list);
	if (n < 0) {
		errorf(err, errlen, "cannot list the LTTng sessions: %s", lttng_strerror(n));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		pid_t rec = session_recorder(list[i].name);
		int rc;

		if (!rec || sessiond_recorder_alive(rec))
			continue;
		/* Another recorder may be cleaning the same one: "not found" is
		 * fine. lttng_stop_tracing waits until the data is on disk. */
		rc = lttng_stop_tracing(list[i].name);
		if (rc < 0 && rc != -LTTNG_ERR_SESS_NOT_FOUND && rc != -LTTNG_ERR_TRACE_ALREADY_STOPPED &&
		    o->notes)
			fprintf(o->notes, "gilscope: cannot stop the stale session %s: %s\n",
				list[i].name, lttng_strerror(rc));
		rc = lttng_destroy_session(list[i].name);
		if (rc == -LTTNG_ERR_SESS_NOT_FOUND)
			continue;
		if (rc < 0) {
			if (o->notes)
				fprintf(o->notes, "gilscope: cannot destroy the stale session %s: %s\n",
					list[i].name, lttng_strerror(rc));
			continue;
		}
		done++;
		if (o->notes)
			fprintf(o->notes, "gilscope: destroyed the stale session %s (its recorder, "
				"pid %d, is gone); its trace is kept in %s\n", list[i].name,
				(int)rec, list[i].path);
	}
	free(list);
	return done;
}

/* --- the API ---------------------------------------------------------------- */

struct sessiond *sessiond_acquire(const struct sessiond_opts *o, char *err, size_t errlen)
{
	struct sessiond *d = calloc(1, sizeof(*d));
	int lock = -1, ok = 0;

	if (!d) {
		errorf(err, errlen, "out of memory");
		goto end;
	}
	d->o = *o;
	d->ref_fd = -1;
	lock = lock_take(o, err, errlen);
	if (lock < 0)
		goto end;
	/* The reference first: a recorder stopping the daemon holds the
	 * reference file exclusively until the daemon is gone, so no one
	 * sees a dying daemon as alive. */
	d->ref_fd = ref_take(o, err, errlen);
	if (d->ref_fd < 0)
		goto end;
	if (!lttng_session_daemon_alive()) {
		/* A marker of a daemon that is gone says nothing any more. */
		marker_remove(o);
		if (daemon_start(o, err, errlen) != REC_OK)
			goto end;
	}
	ok = 1;
end:
	if (lock >= 0)
		close(lock);
	if (!ok && d) {
		if (d->ref_fd >= 0)
			close(d->ref_fd);
		free(d);
		d = NULL;
	}
	/* Outside the lock: stopping a session waits for its data. */
	if (d && stale_destroy(o, err, errlen) < 0 && o->notes)
		fprintf(o->notes, "gilscope: %s\n", err);
	if (d)
		err[0] = '\0';
	return d;
}

void sessiond_release(struct sessiond *d)
{
	unsigned long long start;
	char err[256];
	int lock, legacy = -1;

	if (!d)
		return;
	lock = lock_take(&d->o, err, sizeof(err));
	if (lock >= 0 && marker_read(&d->o, &start) && ref_last(d->ref_fd) &&
	    legacy_last(&d->o, &legacy)) {
		stale_destroy(&d->o, err, sizeof(err));
		daemon_stop_ours(&d->o);
	}
	if (legacy >= 0)
		close(legacy);
	if (d->ref_fd >= 0)
		close(d->ref_fd);
	if (lock >= 0)
		close(lock);
	free(d);
}

int sessiond_cleanup(const struct sessiond_opts *o, char *err, size_t errlen)
{
	int n = stale_destroy(o, err, errlen), lock = -1, ref = -1, legacy = -1;
	unsigned long long start;

	if (n < 0)
		goto end;
	lock = lock_take(o, err, errlen);
	if (lock < 0) {
		n = -1;
		goto end;
	}
	ref = state_open(o, STATE_REF, err, errlen);
	if (marker_read(o, &start) && ref_last(ref) && legacy_last(o, &legacy))
		daemon_stop_ours(o);
end:
	if (legacy >= 0)
		close(legacy);
	if (ref >= 0)
		close(ref);
	if (lock >= 0)
		close(lock);
	return n;
}
