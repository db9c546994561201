/* analyze_trace(): find the CTF traces under a directory, stream them
 * through the state machine into a new (or --append'ed) database. */
#include "analyze.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "horizon.h"
#include "model.h"
#include "trace_reader.h"

#define PREFIX "gilscope analyze: "

/* Progress shows only once a run has lasted this long: small traces stay
 * quiet even on a terminal. */
#define PROGRESS_AFTER_S 0.5
#define PROGRESS_EVERY_S 0.25

struct strvec {
	char **v;
	size_t n, cap;
};

static int strvec_push(struct strvec *sv, const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		return -1;
	if (sv->n == sv->cap) {
		size_t ncap = sv->cap ? 2 * sv->cap : 8;
		char **nv = realloc(sv->v, ncap * sizeof(*nv));

		if (!nv) {
			free(copy);
			return -1;
		}
		sv->v = nv;
		sv->cap = ncap;
	}
	sv->v[sv->n++] = copy;
	return 0;
}

static void strvec_free(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* nftw has no user pointer: the walk's state lives here (one walk at a
 * time). */
static struct strvec *walk_dirs;
static int walk_failed;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	if (type == FTW_F && !strcmp(path + ftw->base, "metadata")) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", ftw->base > 0 ? ftw->base - 1 : 0, path);
		if (strvec_push(walk_dirs, dir)) {
			walk_failed = ENOMEM;
			return 1;
		}
	}
	return 0;
}

/* Every directory under root holding a CTF `metadata` file, sorted. */
static int find_traces(const char *root, struct strvec *dirs, char *err, size_t errlen)
{
	walk_dirs = dirs;
	walk_failed = 0;
	if (nftw(root, walk_one, 16, FTW_PHYS) < 0 || walk_failed) {
		snprintf(err, errlen, "%s: cannot search for CTF traces: %s", root,
			 strerror(walk_failed ? walk_failed : errno));
		return -1;
	}
	if (dirs->n)
		qsort(dirs->v, dirs->n, sizeof(*dirs->v), cmp_str);
	return 0;
}

/* TRACE_DIR/gilscope.info: key=value lines, "\\" and "\n" escaped. */
struct info_file {
	char *command;
	int64_t exit_status;
	int has_tag;
	uint32_t tag;
	char mode[16];         /* "" (a launch), "attach" or "snapshot" */
	int32_t *pids;         /* pids=: the processes recorded by pid */
	size_t npids;
	int32_t *late_pids;    /* late_pids=: those that joined during it */
	size_t nlate;
};

/* "1,2,3" -> *pids; a malformed list keeps none. */
static void info_pids(int32_t **pids, size_t *npids, const char *list)
{
	size_t n = 1;

	for (const char *c = list; *c; c++)
		n += *c == ',';
	free(*pids);
	*npids = 0;
	if (!(*pids = malloc(n * sizeof(**pids))))
		return;
	for (const char *c = list; *c;) {
		char *end;
		long v = strtol(c, &end, 10);

		if (end == c || v <= 0 || v > INT32_MAX || (*end && *end != ',')) {
			*npids = 0;
			return;
		}
		(*pids)[(*npids)++] = (int32_t)v;
		c = *end ? end + 1 : end;
	}
}

static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (*r == '\\' && (r[1] == '\\' || r[1] == 'n')) {
			*w++ = r[1] == 'n' ? '\n' : '\\';
			r++;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static void info_read(const char *trace_dir, struct info_file *info)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;

	info->command = NULL;
	info->exit_status = GS_UNKNOWN;
	info->has_tag = 0;
	info->mode[0] = '\0';
	info->pids = info->late_pids = NULL;
	info->npids = info->nlate = 0;
	snprintf(path, sizeof(path), "%s/gilscope.info", trace_dir);
	f = fopen(path, "r");
	if (!f)
		return; /* a plain CTF trace: no command to show */
	while ((len = getline(&line, &cap, f)) > 0) {
		char *eq = strchr(line, '=');

		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (!eq)
			continue;
		*eq = '\0';
		unescape(eq + 1);
		if (!strcmp(line, "command")) {
			free(info->command);
			info->command = strdup(eq + 1);
		} else if (!strcmp(line, "tag") && eq[1]) {
			char *end;
			unsigned long v = strtoul(eq + 1, &end, 10);

			if (!*end && v <= UINT32_MAX) {
				info->has_tag = 1;
				info->tag = (uint32_t)v;
			}
		} else if (!strcmp(line, "mode")) {
			snprintf(info->mode, sizeof(info->mode), "%s", eq + 1);
		} else if (!strcmp(line, "pids")) {
			info_pids(&info->pids, &info->npids, eq + 1);
		} else if (!strcmp(line, "late_pids")) {
			info_pids(&info->late_pids, &info->nlate, eq + 1);
		} else if (!strcmp(line, "exit_status") && eq[1]) {
			char *end;
			long long v = strtoll(eq + 1, &end, 10);

			if (!*end)
				info->exit_status = v;
		}
	}
	free(line);
	fclose(f);
}

/* Interrupted (Ctrl-C, kill), remove the half-written temp file, then die
 * as the signal would have had us (or run the caller's own handler). */
static const char *volatile interrupted_temp;
static const int caught_signals[] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction saved_actions[3];

static void on_signal(int sig)
{
	if (interrupted_temp)
		unlink(interrupted_temp);
	for (size_t i = 0; i < 3; i++)
		if (caught_signals[i] == sig)
			sigaction(sig, &saved_actions[i], NULL);
	raise(sig);
}

static void signals_catch(const char *temp)
{
	struct sigaction sa;

	interrupted_temp = temp;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 3; i++) {
		sigaction(caught_signals[i], NULL, &saved_actions[i]);
		/* An ignored signal stays ignored (nohup, background jobs). */
		if (saved_actions[i].sa_handler != SIG_IGN)
			sigaction(caught_signals[i], &sa, NULL);
	}
}

static void signals_restore(void)
{
	for (size_t i = 0; i < 3; i++)
		sigaction(caught_signals[i], &saved_actions[i], NULL);
	interrupted_temp = NULL;
}

struct analysis {
	struct model *model;
	const char *root;      /* the trace directory's real path */
	int progress;
	double t0, last_shown;
	int shown;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress_show(struct analysis *a, int final)
{
	uint64_t n = model_event_count(a->model);
	double t = now_s() - a->t0;

	if (final) {
		if (a->shown)
			fprintf(stderr, "\r\033[K");
		return;
	}
	if (t < PROGRESS_AFTER_S || t - a->last_shown < PROGRESS_EVERY_S)
		return;
	a->last_shown = t;
	a->shown = 1;
	fprintf(stderr, "\r" PREFIX "%.1fM events read (%.1f s, %.1fM/s)\033[K",
		n / 1e6, t, n / 1e6 / t);
}

static int on_event(void *ctx, const struct gs_event *ev)
{
	struct analysis *a = ctx;

	if (a->progress && (model_event_count(a->model) & 0xffff) == 0)
		progress_show(a, 0);
	return model_event(a->model, ev);
}

static int on_loss(void *ctx, const struct gs_loss *loss)
{
	struct analysis *a = ctx;
	struct gs_loss l = *loss;
	size_t n = a->root ? strlen(a->root) : 0;

	/* Streams are named by their file path: keep the part inside the
	 * trace directory, so that a moved trace gives the same rows. */
	if (n && !strncmp(l.stream, a->root, n) && l.stream[n] == '/')
		l.stream += n + 1;
	return model_loss(a->model, &l);
}

int analyze_trace(const struct analyze_opts *opts)
{
	struct strvec dirs = { 0 };
	struct info_file info = { .command = NULL, .exit_status = GS_UNKNOWN };
	struct db_opts dbo = {
		.path = opts->db_path,
		.append = opts->append,
		.index_after_fill = opts->index_after_fill,
		.timing = opts->timing,
	};
	struct trace_info tinfo;
	struct analysis a = { 0 };
	struct trace_sink sink = { on_event, on_loss, &a };
	struct db *db = NULL;
	struct stat st;
	char err[1024] = "", *abs = NULL;
	int rc = 1, caught = 0;

	if (stat(opts->trace_dir, &st)) {
		snprintf(err, sizeof(err), "%s: %s", opts->trace_dir, strerror(errno));
		goto end;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, sizeof(err), "%s: not a directory (give the directory "
			 "`gilscope record -o` wrote)", opts->trace_dir);
		goto end;
	}
	/* Walk the real path: nftw does not descend into a symlinked root. */
	abs = realpath(opts->trace_dir, NULL);
	if (find_traces(abs ? abs : opts->trace_dir, &dirs, err, sizeof(err)))
		goto end;
	if (!dirs.n) {
		char info_path[PATH_MAX];
		/* A gilscope recording with no stream: LTTng writes none when no
		 * traced process registered, i.e. no CPython ran. */
		snprintf(info_path, sizeof(info_path), "%s/gilscope.info", opts->trace_dir);
		snprintf(err, sizeof(err), "%s: no CTF trace inside (no `metadata` file)%s",
			 opts->trace_dir, access(info_path, F_OK) == 0
			 ? ": no CPython 3.6+ process ran under the recorder" : "");
		goto end;
	}
	a.root = abs;
	info_read(opts->trace_dir, &info);
	db = db_open(&dbo, err, sizeof(err));
	if (!db)
		goto end;
	if (db_temp_path(db)) {
		signals_catch(db_temp_path(db));
		caught = 1;
	}
	a.model = model_new(db, opts->durs_budget);
	if (!a.model) {
		snprintf(err, sizeof(err), "out of memory");
		goto end;
	}
	if (info.has_tag)
		model_filter_tag(a.model, info.tag);
	if (info.npids && model_filter_pids(a.model, info.pids, info.npids, info.late_pids,
					    info.nlate)) {
		snprintf(err, sizeof(err), "out of memory");
		goto end;
	}
	if (!strcmp(info.mode, "attach")) {
		model_set_start(a.model, "attach", GS_UNKNOWN);
	} else if (!strcmp(info.mode, "snapshot")) {
		int64_t horizon;

		if (trace_horizon((const char *const *)dirs.v, dirs.n, &horizon, err, sizeof(err)))
			goto end;
		model_set_start(a.model, "snapshot", horizon);
	}
	a.progress = opts->progress < 0 ? isatty(STDERR_FILENO) : opts->progress;
	a.t0 = now_s();
	switch (trace_read((const char *const *)dirs.v, dirs.n, &sink, &tinfo,
			   opts->verbose, err, sizeof(err))) {
	case TRACE_READ_OK:
		break;
	case TRACE_READ_SINK_ERROR:
		snprintf(err, sizeof(err), "%s", model_error(a.model));
		goto end;
	default:
		goto end;
	}
	if (a.progress && a.shown) /* the rest takes a while too: say what */
		fprintf(stderr, "\r" PREFIX "%.1fM events read; computing figures, "
			"indexing\033[K", model_event_count(a.model) / 1e6);
	if (opts->timing)
		fprintf(stderr, PREFIX "timing: read %.3f s\n", now_s() - a.t0);
	if (!model_event_count(a.model) && model_skipped_count(a.model)) {
		snprintf(err, sizeof(err), "%s: the trace holds no gilscope events of this "
			 "recording, only %llu of other processes (other recordings "
			 "running at the same time): did the command run CPython?",
			 opts->trace_dir, (unsigned long long)model_skipped_count(a.model));
		goto end;
	}
	if (!model_event_count(a.model)) {
		snprintf(err, sizeof(err), "%s: the CTF trace holds no gilscope events "
			 "(%llu events of other providers): was the command a CPython "
			 "program recorded with `gilscope record`?", opts->trace_dir,
			 (unsigned long long)tinfo.other_events);
		goto end;
	}
	{
		struct run_info run = {
			.trace_path = abs ? abs : opts->trace_dir,
			.hostname = tinfo.hostname,
			.command = info.command,
			.exit_status = info.exit_status,
		};

		if (model_finish(a.model, &run)) {
			snprintf(err, sizeof(err), "%s", model_error(a.model));
			goto end;
		}
	}
	if (opts->timing)
		fprintf(stderr, PREFIX "timing: finish %.3f s\n", now_s() - a.t0);
	rc = db_commit(db, err, sizeof(err));
	db = NULL;
end:
	if (caught)
		signals_restore();
	if (a.progress)
		progress_show(&a, 1);
	if (rc)
		fprintf(stderr, PREFIX "%s\n", err[0] ? err : "failed");
	db_abort(db);
	model_free(a.model);
	strvec_free(&dirs);
	free(info.command);
	free(info.pids);
	free(info.late_pids);
	free(abs);
	return rc;
}
