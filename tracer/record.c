/* `gilscope record`: one LTTng session per recording, driven through
 * liblttng-ctl; the command runs with the preload library and the Python
 * hook, and its exit status is passed on. */
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
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

#include "attach.h"
#include "commands.h"
#include "leftover.h"
#include "paths.h"
#include "session.h"
#include "sessiond.h"

#define PFX "gilscope record: "

static volatile sig_atomic_t g_child; /* pid to forward signals to */
static volatile sig_atomic_t g_signal; /* the last SIGINT/TERM/HUP/QUIT received */

/* After a signal, how long the command has to end before the recorder
 * ends without it (a traced process that ignores signals, or waits for
 * one that does, must not keep the recording open forever). */
#define RECORD_GRACE_MS 5000

/* --- the info file beside the trace ---------------------------------------- */

static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void put_quoted_arg(FILE *f, const char *a)
{
	if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789-_./=:,+@%") == strlen(a)) {
		put_escaped(f, a);
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

static int info_write(const char *dir, char *const *cmd, uint32_t tag, const char *start,
		      int status, uint64_t lost, int done)
{
	char path[PATH_MAX], host[256] = "";
	snprintf(path, sizeof(path), "%s/gilscope.info", dir);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, PFX "cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	gethostname(host, sizeof(host) - 1);
	fprintf(f, "gilscope_version=%s\ntag=%u\nstart_time=%s\nhostname=", GILSCOPE_VERSION, tag, start);
	put_escaped(f, host);
	fputs("\ncommand=", f);
	for (char *const *a = cmd; *a; a++) {
		if (a != cmd)
			fputc(' ', f);
		put_quoted_arg(f, *a);
	}
	fputc('\n', f);
	if (done)
		fprintf(f, "exit_status=%d\nlost_events=%llu\n", status, (unsigned long long)lost);
	if (fclose(f) != 0) {
		fprintf(stderr, PFX "cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
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

static int prepend_env(const char *name, const char *value, char sep)
{
	const char *old = getenv(name);
	if (!old || !*old)
		return setenv(name, value, 1);
	size_t n = strlen(value) + strlen(old) + 2;
	char *v = malloc(n);
	if (!v)
		return -1;
	snprintf(v, n, "%s%c%s", value, sep, old);
	int rc = setenv(name, v, 1);
	free(v);
	return rc;
}

int record_env_preload(const char *preload, const char *pydir)
{
	return prepend_env("LD_PRELOAD", preload, ':') || prepend_env("PYTHONPATH", pydir, ':') ? -1 : 0;
}

/* Starts the command; returns its pid, or -1 after saying why it could not
 * be executed (errno from the child's execvp comes back through a pipe). */
static pid_t command_start(char *const *cmd, const char *preload, const char *pydir, uint32_t tag,
			   const char *code)
{
	int pfd[2];
	char tagbuf[16];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, PFX "pipe: %s\n", strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, PFX "cannot fork: %s\n", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int e = 0;
		char pre[PATH_MAX + 64];
		snprintf(pre, sizeof(pre), "%s", preload);
		snprintf(tagbuf, sizeof(tagbuf), "%u", tag);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		/* A recorder killed by SIGKILL cannot pass the signal on: the
		 * kernel does, so that the command does not go on recording
		 * into a session nobody will stop. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && getppid() != parent)
			raise(SIGTERM);
		/* The tracer reads GILSCOPE_ATTRIB: the preload's own configuration. */
		if (record_env_preload(pre, pydir) ||
		    setenv("GILSCOPE_TAG", tagbuf, 1) ||
		    (code && setenv("GILSCOPE_ATTRIB", code, 1))) {
			e = errno;
		} else {
			execvp(cmd[0], cmd);
			e = errno;
		}
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	int e = 0;
	ssize_t n;
	while ((n = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (n == (ssize_t)sizeof(e)) {
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		fprintf(stderr, PFX "cannot run '%s': %s\n", cmd[0], strerror(e));
		errno = e;
		return -1;
	}
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

/* --- putting it together ----------------------------------------------------- */

int record_code_arg(const char *arg, const char *who)
{
	if (!strcmp(arg, "off") || !strcmp(arg, "site") || !strcmp(arg, "stack"))
		return 0;
	fprintf(stderr, "gilscope %s: --code wants off, site or stack, not '%s'\n", who, arg);
	return -1;
}

int record_buffer_arg(const char *arg, uint64_t *size, const char *who)
{
	*size = record_parse_size(arg);
	if (*size < 64 * 1024) {
		fprintf(stderr, "gilscope %s: --buffer-size wants a size of at least 64k, like 64M, not '%s'\n",
			who, arg);
		return -1;
	}
	return 0;
}

uint64_t record_parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i') + (end[*end == 'i'] == 'B');
	return *end ? 0 : (uint64_t)v;
}

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
static int make_outdir(const char *want, char *abs, size_t size, int *created)
{
	char def[64];
	if (!want) {
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(def, sizeof(def), "gilscope-%Y%m%d-%H%M%S", &tm);
		want = def;
	}
	*created = 0;
	if (record_mkdir_parents(want) < 0) {
		fprintf(stderr, PFX "cannot create %s: %s\n", want, strerror(errno));
		return -1;
	}
	if (mkdir(want, 0777) == 0) {
		*created = 1;
	} else {
		if (errno != EEXIST) {
			fprintf(stderr, PFX "cannot create %s: %s\n", want, strerror(errno));
			return -1;
		}
		struct stat st;
		if (stat(want, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, PFX "%s exists and is not a directory\n", want);
			return -1;
		}
		char probe[PATH_MAX];
		snprintf(probe, sizeof(probe), "%s/ust", want);
		if (access(probe, F_OK) == 0) {
			fprintf(stderr, PFX "%s already holds a trace; choose another -o or remove it\n", want);
			return -1;
		}
	}
	if (access(want, W_OK) < 0) {
		fprintf(stderr, PFX "cannot write to %s: %s\n", want, strerror(errno));
		return -1;
	}
	if (!realpath(want, abs)) {
		fprintf(stderr, PFX "cannot resolve %s: %s\n", want, strerror(errno));
		return -1;
	}
	(void)size;
	return 0;
}

int record_run(const struct record_opts *o, struct record_result *res)
{
	struct sessiond *d = NULL;
	struct gs_session s = { 0 };
	char preload[PATH_MAX], pydir[PATH_MAX], start[32], why[512];
	uint32_t tag = 0;
	int err = -1, created = 0;
	struct sigaction sa, old_int, old_term, old_hup, old_quit;
	int handlers = 0;

	memset(res, 0, sizeof(*res));
	uint64_t bufsz = session_ring(o->buffer_size);

	if (paths_hook(PFX, preload, pydir))
		goto end;
	if (make_outdir(o->outdir, res->trace_dir, sizeof(res->trace_dir), &created))
		goto end;
	if (getrandom(&tag, sizeof(tag), 0) != sizeof(tag))
		tag = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	tag = tag ? tag : 1;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%SZ", &tm);
	sessiond_session_name(s.name, sizeof(s.name), getpid(), tag);

	d = sessiond_acquire(o->sessiond, why, sizeof(why));
	if (!d) {
		fprintf(stderr, PFX "%s\n", why);
		goto end;
	}
	struct gs_session_opts so = { .outdir = res->trace_dir, .ring = bufsz };
	if (session_setup(PFX, &s, &so))
		goto end;
	if (info_write(res->trace_dir, o->cmd, tag, start, 0, 0, 0))
		goto end;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sigaction(SIGQUIT, &sa, &old_quit);
	handlers = 1;

	pid_t pid = command_start(o->cmd, preload, pydir, tag, o->code);
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
	err = 0;
end:
	if (session_teardown(PFX, &s, &res->lost))
		err = -1;
	sessiond_release(d);
	if (handlers) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
	}
	if (!err && info_write(res->trace_dir, o->cmd, tag, start, res->status, res->lost, 1))
		err = -1;
	if (err && !res->cmd_ran && created)
		nftw(res->trace_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (!err && !o->quiet)
		record_say_written(res, bufsz);
	return err;
}

void record_say_written(const struct record_result *res, uint64_t ring)
{
	fprintf(stderr, "gilscope: trace written to %s\n", res->trace_dir);
	if (res->lost)
		fprintf(stderr, "gilscope: WARNING: %llu events were lost; record again "
			"with a larger --buffer-size (now %llu%s per CPU)\n",
			(unsigned long long)res->lost,
			(unsigned long long)(ring >= (1 << 20) ? ring >> 20 : ring >> 10),
			ring >= (1 << 20) ? "M" : "k");
	else
		fprintf(stderr, "gilscope: no events lost\n");
}

static void record_usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope record [-o DIR] [--buffer-size SIZE] [--code MODE] -- CMD [ARGS...]\n"
		"       gilscope record --cleanup\n"
		"       gilscope record --pid PID[,PID...] [--duration TIME] [--follow-children] [-o DIR]\n"
		"       gilscope record --flight [--buffer-size SIZE] --pid PID[,PID...]\n"
		"\n"
		"Runs CMD unchanged with gilscope's preload library and records every\n"
		"GIL request, acquire, release, drop request and forced switch of\n"
		"every CPython 3.6+ process it starts, as an LTTng (CTF) trace in DIR.\n"
		"Exits with CMD's status (128+N when killed by signal N). Signals sent\n"
		"to the recorder are passed on; if CMD has not ended 5 s after one, the\n"
		"recorder ends anyway (128+N) and names the processes it leaves.\n"
		"\n"
		"Options:\n"
		"  -o, --output DIR       trace directory (default ./gilscope-DATE-TIME);\n"
		"                         must not already hold a trace\n"
		"  -b, --buffer-size SIZE ring buffer per CPU, e.g. 64M (default %lluM);\n"
		"                         raise it if events are reported lost\n"
		"  -c, --code MODE        code locations of each acquire and release: stack\n"
		"                         (the line and the whole Python stack, default),\n"
		"                         site (the line only: cheaper) or off\n"
		"  -q, --quiet            no closing lines on stderr\n"
		"  -p, --pid PID[,PID...] record these running processes instead (started\n"
		"                         with `gilscope exec`), until Ctrl-C or --duration\n"
		"  -d, --duration TIME    with --pid: stop after TIME (10s, 500ms, 2m)\n"
		"      --follow-children  with --pid: their child processes too\n"
		"      --flight           with --pid: keep the last --buffer-size of events\n"
		"                         per CPU in memory (flight recorder) and return;\n"
		"                         `gilscope snapshot -o DIR` writes them out,\n"
		"                         `gilscope flight stop` ends it\n"
		"      --cleanup          only destroy the stale sessions of recorders that\n"
		"                         were killed (their traces are kept), then exit\n"
		"  -h, --help             this help\n"
		"\n"
		"Uses a running LTTng session daemon, or starts a private one, stopped\n"
		"by the last recording that ends. Recordings may run at the same time;\n"
		"a recording inside a recording is refused. If the recorder is killed\n"
		"(SIGKILL), CMD gets SIGTERM, and the next recording (or --cleanup)\n"
		"flushes and destroys its session. Needs lttng-tools and liblttng-ust1.\n"
		"\n"
		"Examples:\n"
		"  gilscope record -o trace -- python3 app.py\n"
		"  gilscope record -b 256M -o churn -- python3 -c 'import os; ...'\n"
		"  gilscope record --pid 4242 --duration 10s -o trace\n"
		"  gilscope record --flight -b 4M --pid 4242; gilscope snapshot -o snap1\n"
		"  gilscope analyze trace -o run.db\n",
		(unsigned long long)(RECORD_DEFAULT_BUFFER >> 20));
}

int cmd_record(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "code", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "follow-children", no_argument, NULL, 'F' },
		{ "flight", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct record_opts o = { 0 };
	pid_t pids[ATTACH_MAX_PIDS];
	struct attach_opts ao = { .pids = pids };
	int flight = 0;
	struct record_result res;
	struct sessiond_opts so;
	struct sessiond_paths sp;
	int c, cleanup = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:b:c:qhp:d:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.outdir = optarg;
			break;
		case 'c':
			if (record_code_arg(optarg, "record"))
				return GILSCOPE_EXIT_USAGE;
			o.code = optarg;
			break;
		case 'b':
			if (record_buffer_arg(optarg, &o.buffer_size, "record"))
				return GILSCOPE_EXIT_USAGE;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'C':
			cleanup = 1;
			break;
		case 'p':
			if (attach_parse_pids(optarg, pids, ATTACH_MAX_PIDS, &ao.npids, "record"))
				return GILSCOPE_EXIT_USAGE;
			break;
		case 'd':
			if (!(ao.duration_ns = attach_parse_duration(optarg))) {
				fprintf(stderr, PFX "--duration wants a time like 10s, 500ms or 2m, not '%s'\n",
					optarg);
				return GILSCOPE_EXIT_USAGE;
			}
			break;
		case 'F':
			ao.follow_children = 1;
			break;
		case 'R':
			flight = 1;
			break;
		case 'h':
			record_usage(stdout);
			return GILSCOPE_EXIT_OK;
		default:
			record_usage(stderr);
			return GILSCOPE_EXIT_USAGE;
		}
	}
	paths_sessiond(&so, &sp);
	if (cleanup) {
		char err[512];
		int n;

		if (optind < argc) {
			fprintf(stderr, PFX "--cleanup takes no command\n");
			return GILSCOPE_EXIT_USAGE;
		}
		n = sessiond_cleanup(&so, err, sizeof(err));
		if (n < 0) {
			fprintf(stderr, PFX "%s\n", err);
			return GILSCOPE_EXIT_FAILURE;
		}
		if (!n)
			fprintf(stderr, PFX "no stale gilscope session\n");
		return GILSCOPE_EXIT_OK;
	}
	if (ao.npids || flight || ao.duration_ns || ao.follow_children) {
		if (o.code) {
			fprintf(stderr, PFX "--code is chosen when a process starts: `gilscope exec "
				"--code %s -- CMD`\n", o.code);
			return GILSCOPE_EXIT_USAGE;
		}
		ao.outdir = o.outdir;
		ao.buffer_size = o.buffer_size;
		ao.quiet = o.quiet;
		ao.sessiond = &so;
		return cmd_record_attached(&ao, flight, argc - optind);
	}
	if (optind >= argc) {
		fprintf(stderr, PFX "no command given; see 'gilscope record --help'\n");
		return GILSCOPE_EXIT_USAGE;
	}
	if (sp.nested) {
		fprintf(stderr, PFX "already running under `gilscope record` (GILSCOPE_TAG is "
			"set): recording inside a recording is not supported\n");
		return GILSCOPE_EXIT_USAGE;
	}
	o.cmd = argv + optind;
	o.sessiond = &so;
	if (record_run(&o, &res))
		return res.status ? res.status : GILSCOPE_EXIT_FAILURE;
	return res.status;
}
