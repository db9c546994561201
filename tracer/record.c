/* The recorder library (record.h): one LTTng session per recording,
 * driven through liblttng-ctl; the command runs with the preload library
 * and the Python hook, and its exit status is passed on. It reads no
 * environment: the command line (cli/record.c, cli/run.c) hands in the
 * parts' paths, the daemon's files and the environment to extend. */
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lttng/lttng.h>

#include "leftover.h"
#include "lives.h"
#include "preregister.h"
#include "recording.h"

#define PFX "gilscope record: "

static volatile sig_atomic_t g_child; /* pid to forward signals to */
static volatile sig_atomic_t g_signal; /* the last SIGINT/TERM/HUP/QUIT received */

/* After a signal, how long the command has to end before the recorder
 * ends without it (a traced process that ignores signals, or waits for
 * one that does, must not keep the recording open forever). */
#define RECORD_GRACE_MS 5000

/* --- the info file beside the trace ---------------------------------------- */

static void put_quoted_arg(FILE *f, const char *a)
{
	if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789-_./=:,+@%") == strlen(a)) {
		info_put_escaped(f, a, SIZE_MAX);
		return;
	}
	fputc('\'', f);
	for (; *a; a++) {
		if (*a == '\'')
			fputs("'\\''", f);
		else if (*a == '\\')
			fputs("\\\\", f);
		else if (*a == '\n')
			fputs("\\n", f);
		else
			fputc(*a, f);
	}
	fputc('\'', f);
}

static enum rec_status info_write(const char *dir, char *const *cmd, uint32_t tag,
				  const char *start, const struct record_result *res,
				  const struct life *lives, size_t nlives, int done)
{
	char path[PATH_MAX + 16], tagbuf[16];
	FILE *f;

	snprintf(tagbuf, sizeof(tagbuf), "%u", tag);
	if (!(f = info_begin(PFX, dir, "tag", tagbuf, start, path, sizeof(path))))
		return REC_FAILED;
	fputs("\ncommand=", f);
	for (char *const *a = cmd; *a; a++) {
		if (a != cmd)
			fputc(' ', f);
		put_quoted_arg(f, *a);
	}
	fputc('\n', f);
	if (done) {
		fprintf(f, "exit_status=%d\n", res->status);
		info_put_lost(f, res->unrecorded > 0 ? RECORD_LOST_UNKNOWN : res->lost);
		/* The CPythons that said they were traced (preload_mark.c),
		 * and those the trace holds no event of (recording_lives). */
		fprintf(f, "traced_processes=%d\n", res->traced);
		info_put_unrecorded(f, res, lives, nlives);
		info_put_stop(f, res->stop_clock);
	}
	return info_end(PFX, f, path);
}

/* --- the command ------------------------------------------------------------- */

static void forward_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	g_signal = sig;
	/* A terminal's Ctrl-C already reached the command (same process
	 * group); only signals sent to us alone are passed on. */
	if (g_child > 0 && si && (si->si_code == SI_USER || si->si_code == SI_QUEUE))
		kill(g_child, sig);
}

/* "NAME=value" of env, or NULL. */
static const char *env_find(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (char *const *e = env; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* "NAME=value", or "NAME=value:old" when prepend and env has NAME. */
static char *env_entry(char *const *env, const char *name, const char *value, int prepend)
{
	const char *old = prepend ? env_find(env, name) : NULL;
	size_t n = strlen(name) + strlen(value) + (old ? strlen(old) + 1 : 0) + 2;
	char *e = malloc(n);

	if (e)
		snprintf(e, n, "%s=%s%s%s", name, value, old && *old ? ":" : "",
			 old && *old ? old : "");
	return e;
}

/* The traced command's environment: base with the preload library first in
 * LD_PRELOAD, the Python hook's directory first on PYTHONPATH, the tag, the
 * file where traced processes say so (GILSCOPE_TRACED) and (with o->code)
 * GILSCOPE_ATTRIB, the preload's own configuration. */
#define CHILD_ENV_OWN 5
struct child_env {
	char *own[CHILD_ENV_OWN];  /* the entries we made */
	char **env;                /* NULL-terminated: base's others, then ours */
};

static const char *const env_names[CHILD_ENV_OWN] = {
	"LD_PRELOAD", "PYTHONPATH", "GILSCOPE_TAG", "GILSCOPE_TRACED", "GILSCOPE_ATTRIB",
};

/* Frees what ce holds; it can be freed again. */
static void child_env_free(struct child_env *ce)
{
	for (size_t i = 0; i < CHILD_ENV_OWN; i++)
		free(ce->own[i]);
	free(ce->env);
	memset(ce, 0, sizeof(*ce));
}

/* REC_OK, or REC_FAILED out of memory (ce freed). */
static enum rec_status child_env_build(struct child_env *ce, char *const *base,
				       const struct record_opts *o, uint32_t tag, const char *traced)
{
	char tagbuf[16];
	size_t n = 0, k = 0, nown = o->code ? CHILD_ENV_OWN : CHILD_ENV_OWN - 1;
	enum rec_status status = REC_FAILED;

	memset(ce, 0, sizeof(*ce));
	for (char *const *e = base; e && *e; e++)
		n++;
	snprintf(tagbuf, sizeof(tagbuf), "%u", tag);
	ce->env = calloc(n + CHILD_ENV_OWN + 1, sizeof(*ce->env));
	ce->own[0] = env_entry(base, env_names[0], o->preload, 1);
	ce->own[1] = env_entry(base, env_names[1], o->python_dir, 1);
	ce->own[2] = env_entry(base, env_names[2], tagbuf, 0);
	ce->own[3] = env_entry(base, env_names[3], traced, 0);
	if (o->code)
		ce->own[4] = env_entry(base, env_names[4], o->code, 0);
	if (!ce->env)
		goto end;
	for (size_t i = 0; i < nown; i++)
		if (!ce->own[i])
			goto end;
	for (char *const *e = base; e && *e; e++) {
		int ours = 0;

		for (size_t i = 0; i < nown; i++) {
			size_t len = strlen(env_names[i]);

			ours |= !strncmp(*e, env_names[i], len) && (*e)[len] == '=';
		}
		if (!ours)
			ce->env[k++] = *e;
	}
	for (size_t i = 0; i < nown; i++)
		ce->env[k++] = ce->own[i];
	status = REC_OK;
end:
	if (status != REC_OK)
		child_env_free(ce);
	return status;
}

/* Starts the command with the stop signals as the recorder found them
 * (saved); returns its pid, or -1 after saying why it could not be
 * executed (errno from the child's execvp comes back through a pipe). */
static pid_t command_start(char *const *cmd, char *const *env, struct sigsave *saved)
{
	int pfd[2] = { -1, -1 }, e = 0, status;
	pid_t parent = getpid(), pid = -1;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, PFX "pipe: %s\n", strerror(errno));
		goto end;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, PFX "cannot fork: %s\n", strerror(errno));
		goto end;
	}
	if (pid == 0) {
		/* What it would have had without gilscope: a signal ignored by
		 * whoever started us (SIGINT and SIGQUIT for a background job of
		 * a shell) stays ignored; exec makes the rest SIG_DFL. Python
		 * installs its KeyboardInterrupt handler only where SIGINT is
		 * not ignored: CPython's test_threading hangs in
		 * _thread.interrupt_main() without it, and passed under us. */
		sigsave_give_back(saved);
		/* A recorder killed by SIGKILL cannot pass the signal on: the
		 * kernel does, so that the command does not go on recording
		 * into a session nobody will stop. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && getppid() != parent)
			raise(SIGTERM);
		execvpe(cmd[0], cmd, env);
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	pfd[1] = -1;
	while ((n = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(e)) { /* execvpe failed: e says why */
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		fprintf(stderr, PFX "cannot run '%s': %s\n", cmd[0], strerror(e));
		pid = -1;
	} else {
		e = 0;
	}
end:
	for (int i = 0; i < 2; i++)
		if (pfd[i] >= 0)
			close(pfd[i]);
	if (e)
		errno = e; /* the caller tells "not found" (127) from "not runnable" */
	return pid;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Waits until pid ends, or until RECORD_GRACE_MS after a signal reached
 * the recorder: then it says which processes it leaves running and
 * returns 128 + that signal. poll() on a pidfd is interrupted by signals
 * even under SA_RESTART, which waitpid() is not. */
static int command_wait(pid_t pid, uint32_t tag)
{
	int status;
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		struct timespec t0;
		int timeout = -1;
		for (;;) {
			if (g_signal && timeout < 0) {
				clock_gettime(CLOCK_MONOTONIC, &t0);
				timeout = RECORD_GRACE_MS;
			} else if (timeout >= 0) {
				long left = RECORD_GRACE_MS - ms_since(&t0);
				timeout = left > 0 ? (int)left : 0;
			}
			int rc = poll(&p, 1, timeout);
			if (rc > 0 || (rc < 0 && errno != EINTR))
				break;
			if (rc == 0) {
				close(pfd);
				char why[96];
				snprintf(why, sizeof(why), "did not end within %d s of signal %d; "
					 "left running, unrecorded from now on", RECORD_GRACE_MS / 1000,
					 (int)g_signal);
				leftover_report(stderr, PFX, tag, why);
				return 128 + g_signal;
			}
		}
		close(pfd);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return 127;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* --- the traced processes --------------------------------------------------- */

/* Beside the trace while the command runs: each CPython the tracer traces
 * appends its pid (preload_mark.c). */
#define TRACED_FILE "gilscope.traced"

static enum rec_status traced_create(const char *dir, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/" TRACED_FILE, dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, PFX "cannot create %s: %s\n", path, strerror(errno));
		path[0] = '\0';
		return REC_FAILED;
	}
	close(fd);
	return REC_OK;
}

/* Reads and removes it: the lives that said so (*v, to free; *n), each
 * line "PID NS" ("PID" from an older tracer: its time unknown, 0), and
 * for each life once its registration wait was over, "PID NS registered"
 * or "PID NS unregistered" (NS its mark's: preload_mark.h), after its
 * mark. REC_FAILED out of memory. */
static enum rec_status traced_take(const char *path, struct life **v, size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[64];
	size_t cap = 0;
	enum rec_status status = REC_OK;

	*v = NULL;
	*n = 0;
	while (f && fgets(line, sizeof(line), f)) {
		long long pid, ns = 0;
		char how[16] = "";
		int got = sscanf(line, "%lld %lld %15s", &pid, &ns, how);

		if (got < 1 || pid <= 0 || pid > INT32_MAX)
			continue;
		if (got == 3) {
			/* Its mark is one of the last lines: looked for from the end. */
			int wait = !strcmp(how, "registered") ? LIFE_REGISTERED
				: !strcmp(how, "unregistered") ? LIFE_UNREGISTERED : LIFE_WAIT_UNKNOWN;
			for (size_t i = *n; i-- > 0;)
				if ((*v)[i].pid == pid && (*v)[i].mark_ns == ns) {
					(*v)[i].wait = wait;
					break;
				}
			continue;
		}
		if (*n == cap) {
			struct life *w = realloc(*v, (cap = cap ? cap * 2 : 64) * sizeof(**v));

			if (!w) {
				status = REC_FAILED;
				break;
			}
			*v = w;
		}
		/* Waiting until its "wait over" line says otherwise. */
		(*v)[(*n)++] = (struct life){ .pid = (int32_t)pid, .mark_ns = ns > 0 ? ns : 0,
					      .wait = ns > 0 ? LIFE_WAITING : LIFE_WAIT_UNKNOWN };
	}
	if (f)
		fclose(f);
	unlink(path);
	return status;
}

/* --- putting it together ----------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int record_mkdir_parents(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/* Creates the output directory; *created tells whether it is new, so that
 * a recording that never ran its command leaves nothing behind. */
static enum rec_status make_outdir(const char *want, char *abs, size_t size, int *created)
{
	*created = 0;
	if (record_mkdir_parents(want) < 0) {
		fprintf(stderr, PFX "cannot create %s: %s\n", want, strerror(errno));
		return REC_FAILED;
	}
	if (mkdir(want, 0777) == 0) {
		*created = 1;
	} else {
		if (errno != EEXIST) {
			fprintf(stderr, PFX "cannot create %s: %s\n", want, strerror(errno));
			return REC_FAILED;
		}
		struct stat st;
		if (stat(want, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, PFX "%s exists and is not a directory\n", want);
			return REC_FAILED;
		}
		char probe[PATH_MAX];
		snprintf(probe, sizeof(probe), "%s/ust", want);
		if (access(probe, F_OK) == 0) {
			fprintf(stderr, PFX "%s already holds a trace; choose another -o or remove it\n", want);
			return REC_FAILED;
		}
	}
	if (access(want, W_OK) < 0) {
		fprintf(stderr, PFX "cannot write to %s: %s\n", want, strerror(errno));
		return REC_FAILED;
	}
	if (!realpath(want, abs)) {
		fprintf(stderr, PFX "cannot resolve %s: %s\n", want, strerror(errno));
		return REC_FAILED;
	}
	(void)size;
	return REC_OK;
}

enum rec_status record_run(const struct record_opts *o, struct record_result *res)
{
	struct sessiond *d = NULL;
	struct gs_session s = { 0 };
	char start[32], why[512], traced[PATH_MAX + 32] = "";
	struct life *lives = NULL;
	size_t nlives = 0;
	struct child_env ce = { { NULL }, NULL };
	uint32_t tag = 0;
	enum rec_status err = REC_FAILED;
	int created = 0;
	static const int stops[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa;
	struct sigsave saved = { 0 };

	memset(res, 0, sizeof(*res));
	uint64_t bufsz = session_ring(o->buffer_size);

	if (access(o->preload, R_OK) < 0) {
		fprintf(stderr, PFX "the preload library is missing (%s): %s\n", o->preload,
			strerror(errno));
		goto end;
	}
	if (make_outdir(o->outdir, res->trace_dir, sizeof(res->trace_dir), &created) ||
	    traced_create(res->trace_dir, traced, sizeof(traced)))
		goto end;
	if (getrandom(&tag, sizeof(tag), 0) != sizeof(tag))
		tag = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	tag = tag ? tag : 1;
	recording_start_time(start, sizeof(start));
	sessiond_session_name(s.name, sizeof(s.name), getpid(), tag);

	d = sessiond_acquire(o->sessiond, why, sizeof(why));
	if (!d) {
		fprintf(stderr, PFX "%s\n", why);
		goto end;
	}
	struct gs_session_opts so = { .outdir = res->trace_dir, .ring = bufsz };
	if (session_setup(PFX, &s, &so))
		goto end;
	/* The buffers made now, not in the command's first process: it
	 * starts as fast as later ones. On failure it waits as it used to. */
	(void)preregister_run(PFX, o->base_env);
	if (info_write(res->trace_dir, o->cmd, tag, start, res, NULL, 0, 0))
		goto end;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigsave_take(&saved, stops, 4, &sa);

	if (child_env_build(&ce, o->base_env, o, tag, traced)) {
		fprintf(stderr, PFX "out of memory\n");
		goto end;
	}
	pid_t pid = command_start(o->cmd, ce.env, &saved);
	if (pid < 0) {
		/* The shell's convention: 126 found but not runnable, 127 not found. */
		res->status = errno == ENOENT ? 127 : 126;
		goto end;
	}
	g_child = pid;
	res->cmd_ran = 1;
	res->status = command_wait(pid, tag);
	g_child = 0;
	/* A process the command left behind (a daemon, a child that outlived
	 * its parent) goes on without its events being recorded: say so. */
	if (!g_signal)
		leftover_report(stderr, PFX, tag, "still runs after the command ended; "
				"unrecorded from now on");
	err = REC_OK;
end:
	if (recording_end(PFX, &s, d, &saved, &res->lost))
		err = REC_FAILED;
	res->tails = s.tails;
	res->stop_clock = s.stop_clock;
	if (traced[0] && traced_take(traced, &lives, &nlives)) {
		fprintf(stderr, PFX "out of memory reading %s\n", traced);
		err = REC_FAILED;
	}
	res->traced = (int)nlives;
	if (!err)
		recording_lives(PFX, res, tag, lives, nlives);
	if (!err && info_write(res->trace_dir, o->cmd, tag, start, res, lives, nlives, 1))
		err = REC_FAILED;
	free(lives);
	if (err && !res->cmd_ran && created)
		nftw(res->trace_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	child_env_free(&ce);
	return err;
}

void record_unrecorded_text(const struct record_result *res, char *buf, size_t len)
{
	size_t used = 0, named = res->unrecorded < RECORD_NAMED ? (size_t)res->unrecorded
								: RECORD_NAMED;

	buf[0] = '\0';
	used = (size_t)snprintf(buf, len, "pid%s ", res->unrecorded > 1 ? "s" : "");
	for (size_t i = 0; i < named && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%d", i ? ", " : "",
					 (int)res->unrecorded_pids[i]);
	if (used < len)
		snprintf(buf + used, len - used, "%s traced but recorded nothing of %s GIL",
			 (size_t)res->unrecorded > named ? ", ..." : "",
			 res->unrecorded > 1 ? "their" : "its");
}

/* "pid 4242" or "pids 4242, 4250, ...": n of them, the first in v. */
static void pids_text(const pid_t *v, int n, char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "pid%s ", n > 1 ? "s" : "");

	for (int i = 0; i < n && i < RECORD_NAMED && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%d", i ? ", " : "", (int)v[i]);
	if (n > RECORD_NAMED && used < len)
		snprintf(buf + used, len - used, ", ...");
}

void record_say_standing(const struct record_result *res)
{
	char pids[200];

	if (res->idle > 0) {
		pids_text(res->idle_pids, res->idle, pids, sizeof(pids));
		fprintf(stderr, "gilscope: %s registered but had no GIL event while recorded "
			"(idle): nothing of %s is in the trace, nothing lost\n", pids,
			res->idle > 1 ? "them" : "it");
	}
	if (res->unregistered > 0) {
		pids_text(res->unregistered_pids, res->unregistered, pids, sizeof(pids));
		fprintf(stderr, "gilscope: WARNING: %s not registered with the session daemon "
			"(why: said above): nothing of %s is in the trace\n", pids,
			res->unregistered > 1 ? "them" : "it");
	}
}

/* Of the processes that recorded nothing, the ones killed during their
 * registration wait: a mark and no "wait over" line (preload_mark.h).
 * Their program never ran. */
static void say_waiting(const struct record_result *res)
{
	char pids[200];
	int many = res->unrecorded_waiting > 1;

	if (res->unrecorded <= 0 || res->unrecorded_waiting <= 0)
		return;
	pids_text(res->unrecorded_waiting_pids, res->unrecorded_waiting, pids, sizeof(pids));
	fprintf(stderr, "gilscope: WARNING: %s %s killed while %s waited for %s registration "
		"with LTTng's session daemon, before %s program ran: nothing of %s GIL use "
		"but %s start is lost\n", pids, many ? "were" : "was", many ? "they" : "it",
		many ? "their" : "its", many ? "their" : "its", many ? "their" : "its",
		many ? "their" : "its");
}

void record_say_written(const struct record_result *res, uint64_t ring)
{
	char n[48], pids[200];

	/* No stream: LTTng makes them when a traced process registers. No
	 * traced process: the streams are other recordings' (a session
	 * without a process tracker has every traced process of the user). */
	if (!res->streams || !res->traced) {
		if (res->traced > 0)
			fprintf(stderr, "gilscope: no GIL events recorded in %s: no traced process "
				"registered; WARNING: the events of the traced process%s said above "
				"were lost, how many is unknown\n", res->trace_dir,
				res->traced > 1 ? "es" : "");
		else
			fprintf(stderr, "gilscope: no GIL events recorded in %s: no traced process "
				"registered (no CPython 3.6+ with a GIL ran; nothing else is traced)\n",
				res->trace_dir);
		say_waiting(res);
		return;
	}
	fprintf(stderr, "gilscope: trace written to %s\n", res->trace_dir);
	record_say_standing(res);
	/* A traced process the trace has no event of ended before its
	 * registration with the session daemon was done, or (after a stream
	 * stopped short) ran on that CPU alone: LTTng counted nothing of it
	 * (recording_lives). */
	if (res->unrecorded > 0) {
		record_unrecorded_text(res, pids, sizeof(pids));
		fprintf(stderr, "gilscope: WARNING: lost: unknown, %s (%d of the %d traced CPython "
			"processes; one that ends before its registration with LTTng's session "
			"daemon is done%s leaves nothing: a larger --buffer-size would not help)\n",
			pids, res->unrecorded, res->traced,
			res->tails ? ", or runs only on a CPU whose stream stopped short," : "");
	}
	say_waiting(res);
	if (res->lost == RECORD_LOST_UNKNOWN)
		snprintf(n, sizeof(n), "an unknown number of");
	else
		snprintf(n, sizeof(n), "%llu", (unsigned long long)res->lost);
	if (res->tails)
		fprintf(stderr, "gilscope: WARNING: %s events were lost, where a stream "
			"stopped short (said above): a larger --buffer-size would not help\n", n);
	else if (res->lost)
		fprintf(stderr, "gilscope: WARNING: %s events %swere lost; record again "
			"with a larger --buffer-size (now %llu%s per CPU)\n", n,
			res->unrecorded > 0 ? "of the recorded processes " : "",
			(unsigned long long)(ring >= (1 << 20) ? ring >> 20 : ring >> 10),
			ring >= (1 << 20) ? "M" : "k");
	else if (!res->unrecorded)
		fprintf(stderr, "gilscope: no events lost\n");
	if (res->unrecorded < 0)
		fprintf(stderr, "gilscope: WARNING: whether every traced process left events is "
			"unknown (the trace could not be checked: %s)%s\n", res->unchecked,
			res->lost || res->tails ? "" : "; LTTng counted no loss");
}
