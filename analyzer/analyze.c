/* analyze(): find the CTF traces under a directory, stream them
 * through the state machine into a new (or --append'ed) database. */
#include "analyze.h"

#include <dirent.h>
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
#include "isolate.h"
#include "model.h"
#include "mono.h"
#include "trace_check.h"
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

static enum gs_status strvec_push(struct strvec *sv, const char *s)
{
	char *copy = strdup(s);
	enum gs_status status = GS_ERR_NOMEM;

	if (!copy)
		goto end;
	if (sv->n == sv->cap) {
		size_t ncap = sv->cap ? 2 * sv->cap : 8;
		char **nv = realloc(sv->v, ncap * sizeof(*nv));

		if (!nv)
			goto end;
		sv->v = nv;
		sv->cap = ncap;
	}
	sv->v[sv->n++] = copy;
	copy = NULL;
	status = GS_OK;
end:
	free(copy);
	return status;
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

/* The search for traces is bounded: a recording's streams are four
 * levels down (ust/uid/UID/64-bit), and `gilscope analyze /` must not
 * walk the whole file system. */
#define SEARCH_DEPTH 8
#define SEARCH_ENTRIES 100000

/* nftw has no user pointer: the walk's state lives here (one walk at a
 * time). */
static struct strvec *walk_dirs, *walk_recs;
static size_t walk_entries;
static int walk_failed, walk_too_many;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *name = path + ftw->base;
	struct strvec *to = NULL;

	(void)st;
	if (++walk_entries > SEARCH_ENTRIES) {
		walk_too_many = 1;
		return FTW_STOP;
	}
	if (type == FTW_D && ftw->level >= SEARCH_DEPTH)
		return FTW_SKIP_SUBTREE;
	if (type == FTW_F && !strcmp(name, "metadata"))
		to = walk_dirs;
	else if (type == FTW_F && !strcmp(name, "gilscope.info"))
		to = walk_recs;
	if (to) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", ftw->base > 0 ? ftw->base - 1 : 0, path);
		if (strvec_push(to, dir)) {
			walk_failed = ENOMEM;
			return FTW_STOP;
		}
	}
	return FTW_CONTINUE;
}

/* The recording of recs (sorted) that holds dir, or -1. */
static ssize_t owner_of(const struct strvec *recs, const char *dir)
{
	ssize_t best = -1;

	for (size_t i = 0; i < recs->n; i++) {
		size_t n = strlen(recs->v[i]);

		if (!strncmp(dir, recs->v[i], n) && (dir[n] == '/' || !dir[n]) &&
		    (best < 0 || n > strlen(recs->v[best])))
			best = (ssize_t)i;
	}
	return best;
}

/* Every directory under root holding a CTF `metadata` file, sorted, of
 * one recording: *rec_dir receives the recording's directory (the one
 * holding gilscope.info; root for plain CTF traces). Several recordings
 * are refused, by name. */
static enum gs_status find_traces(const char *root, struct strvec *dirs, char **rec_dir,
				  char *err, size_t errlen)
{
	struct strvec recs = { 0 }, owners = { 0 };
	size_t root_len = strlen(root);
	enum gs_status status = GS_ERR_INPUT;
	int orphans = 0;

	walk_dirs = dirs;
	walk_recs = &recs;
	walk_entries = 0;
	walk_failed = walk_too_many = 0;
	if (nftw(root, walk_one, 16, FTW_PHYS | FTW_ACTIONRETVAL) < 0 || walk_failed) {
		snprintf(err, errlen, "%s: cannot search for CTF traces: %s", root,
			 strerror(walk_failed ? walk_failed : errno));
		goto end;
	}
	if (walk_too_many) {
		snprintf(err, errlen, "%s: no recording found in the first %d files: give the "
			 "directory `gilscope record -o` wrote", root, SEARCH_ENTRIES);
		goto end;
	}
	if (dirs->n)
		qsort(dirs->v, dirs->n, sizeof(*dirs->v), cmp_str);
	if (recs.n)
		qsort(recs.v, recs.n, sizeof(*recs.v), cmp_str);
	/* The recordings that hold streams, and streams of none. */
	for (size_t i = 0; i < dirs->n; i++) {
		ssize_t o = owner_of(&recs, dirs->v[i]);

		if (o < 0)
			orphans = 1;
		else if (!owners.n || strcmp(owners.v[owners.n - 1], recs.v[o]))
			if (strvec_push(&owners, recs.v[o]) != GS_OK)
				goto nomem;
	}
	if (owners.n + (size_t)(orphans && owners.n) > 1) {
		size_t n = (size_t)snprintf(err, errlen, "%s holds %zu recordings (", root,
					    owners.n + (size_t)orphans);

		for (size_t i = 0; i < owners.n && n < errlen; i++) {
			const char *rel = owners.v[i] + root_len + (owners.v[i][root_len] == '/');

			n += (size_t)snprintf(err + n, errlen - n, "%s%s", i ? ", " : "",
					      *rel ? rel : ".");
		}
		if (orphans && n < errlen)
			n += (size_t)snprintf(err + n, errlen - n, ", and CTF traces of no recording");
		if (n < errlen)
			snprintf(err + n, errlen - n, "): analyze them one at a time, with --append "
				 "to put them in one database");
		goto end;
	}
	*rec_dir = strdup(owners.n ? owners.v[0] : recs.n == 1 ? recs.v[0] : root);
	if (!*rec_dir)
		goto nomem;
	status = GS_OK;
	goto end;
nomem:
	snprintf(err, errlen, "out of memory");
	status = GS_ERR_NOMEM;
end:
	strvec_free(&recs);
	strvec_free(&owners);
	return status;
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
	int bad_tag;           /* a tag= line that is not a number */
	int64_t traced;        /* traced_processes=: CPythons traced, GS_UNKNOWN */
	int64_t unrecorded;    /* unrecorded_processes=: those of them the recorder found
				  no GIL of in the trace, GS_UNKNOWN (older recorders) */
	int32_t *unrecorded_pids; /* unrecorded_pids=: theirs */
	size_t nunrecorded;
	/* unrecorded_registration=: for each of them (same order), 1 when it
	 * ended during its registration wait ("waiting"); NULL when the info
	 * has none (older recorders) or its count is not theirs. */
	unsigned char *unrecorded_waiting;
	size_t nwaiting;
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

/* "waiting,registered,..." -> *flags (1: "waiting"); NULL when out of memory. */
static void info_waits(unsigned char **flags, size_t *n, const char *list)
{
	size_t cap = 1;

	for (const char *c = list; *c; c++)
		cap += *c == ',';
	free(*flags);
	*n = 0;
	if (!(*flags = malloc(cap)))
		return;
	for (const char *c = list; *c;) {
		size_t len = strcspn(c, ",");

		(*flags)[(*n)++] = len == 7 && !strncmp(c, "waiting", 7);
		c += len + (c[len] == ',');
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
	info->pids = info->late_pids = info->unrecorded_pids = NULL;
	info->npids = info->nlate = info->nunrecorded = 0;
	info->unrecorded_waiting = NULL;
	info->nwaiting = 0;
	info->bad_tag = 0;
	info->traced = GS_UNKNOWN;
	info->unrecorded = GS_UNKNOWN;
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

			if (!*end && v <= UINT32_MAX && eq[1] != '-') {
				info->has_tag = 1;
				info->tag = (uint32_t)v;
			} else {
				info->bad_tag = 1;
			}
		} else if (!strcmp(line, "mode")) {
			snprintf(info->mode, sizeof(info->mode), "%s", eq + 1);
		} else if (!strcmp(line, "pids")) {
			info_pids(&info->pids, &info->npids, eq + 1);
		} else if (!strcmp(line, "late_pids")) {
			info_pids(&info->late_pids, &info->nlate, eq + 1);
		} else if (!strcmp(line, "unrecorded_pids")) {
			info_pids(&info->unrecorded_pids, &info->nunrecorded, eq + 1);
		} else if (!strcmp(line, "unrecorded_registration")) {
			info_waits(&info->unrecorded_waiting, &info->nwaiting, eq + 1);
		} else if (!strcmp(line, "exit_status") && eq[1]) {
			char *end;
			long long v = strtoll(eq + 1, &end, 10);

			if (!*end)
				info->exit_status = v;
		} else if ((!strcmp(line, "traced_processes") || !strcmp(line, "unrecorded_processes")) &&
			   eq[1]) {
			char *end;
			long long v = strtoll(eq + 1, &end, 10);

			if (!*end && v >= 0)
				*(line[0] == 't' ? &info->traced : &info->unrecorded) = v;
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

#define TAGS_SEEN 4

struct analysis {
	struct model *model;
	const char *root;      /* the trace directory's real path */
	int progress;
	double t0, last_shown;
	int shown;
	int64_t tags[TAGS_SEEN]; /* the first distinct tags events carry */
	int ntags;
	enum gs_status sink_status; /* why the model stopped the reading */
	uint64_t nlosses;      /* losses reported */
	uint64_t lost_known;   /* their counts */
	uint64_t lost_unknown; /* those of unknown size */
};

/* One line when events were lost: the database holds a complete run all
 * the same, but its figures near the losses may be wrong. */
static void losses_say(const struct analysis *a)
{
	char n[64];

	if (!a->lost_known && !a->lost_unknown)
		return;
	if (!a->lost_unknown)
		snprintf(n, sizeof(n), "%llu", (unsigned long long)a->lost_known);
	else if (a->lost_known)
		snprintf(n, sizeof(n), "%llu + an unknown number of",
			 (unsigned long long)a->lost_known);
	else
		snprintf(n, sizeof(n), "an unknown number of");
	fprintf(stderr, PREFIX "warning: %s events were lost by the tracer: the lost table "
		"and the lost_events finding say where and why\n", n);
}

/* Remembers the tags the trace's processes carry, to tell a damaged
 * gilscope.info from other recordings' processes. */
static void tags_note(struct analysis *a, const struct gs_event *ev)
{
	int64_t tag = ev->type == GS_EV_GIL_FOUND ? ev->u.gil_found.tag
		: ev->type == GS_EV_THREAD_NAME ? ev->u.thread_name.tag : GS_UNKNOWN;

	if (tag == GS_UNKNOWN || a->ntags == TAGS_SEEN)
		return;
	for (int i = 0; i < a->ntags; i++)
		if (a->tags[i] == tag)
			return;
	a->tags[a->ntags++] = tag;
}

static void progress_show(struct analysis *a, int final)
{
	uint64_t n = model_event_count(a->model);
	double t = mono_s() - a->t0;

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
	if (ev->type == GS_EV_GIL_FOUND || ev->type == GS_EV_THREAD_NAME)
		tags_note(a, ev);
	return (int)(a->sink_status = model_event(a->model, ev));
}

static int pid_kept(void *ctx, int32_t pid)
{
	return model_pid_kept(((struct analysis *)ctx)->model, pid);
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
	a->nlosses++;
	a->lost_known += l.count;
	a->lost_unknown += !l.count;
	return (int)(a->sink_status = model_loss(a->model, &l));
}

/* What the child analyzing a trace needs. */
struct job {
	const struct analyze_opts *opts;
	struct strvec dirs;    /* the trace directories, of one recording */
	const char *abs;       /* opts->trace_dir's real path, or NULL */
	const char *rec_dir;   /* the recording's directory */
	int progress;          /* decided by the parent: the child's stderr is a pipe */
};

/* In the child (isolate_run): reads the trace into the database. Returns
 * a gs_status, the child's exit status: GS_OK, or another after one line
 * on stderr. */
static int analyze_job(void *arg)
{
	struct job *j = arg;
	const struct analyze_opts *opts = j->opts;
	struct info_file info = { .command = NULL, .exit_status = GS_UNKNOWN };
	struct db_opts dbo = {
		.path = opts->db_path,
		.append = opts->append,
		.index_after_fill = opts->index_after_fill,
		.timing = opts->timing,
	};
	struct trace_info tinfo;
	struct analysis a = { 0 };
	struct trace_sink sink = { on_event, on_loss, &a, 0, pid_kept };
	struct db *db = NULL;
	char err[1024] = "";
	int caught = 0;
	enum gs_status ret = GS_ERR_INPUT;
	enum trace_read_status status = TRACE_READ_ERROR;

	a.root = j->abs;
	info_read(j->rec_dir, &info);
	if (info.bad_tag) {
		snprintf(err, sizeof(err), "%s/gilscope.info: its tag= line is not a number: the "
			 "file is damaged (its processes cannot be told from other recordings')",
			 j->rec_dir);
		goto end;
	}
	db = db_open(&dbo, err, sizeof(err));
	if (!db) {
		ret = GS_ERR_DB;
		goto end;
	}
	if (db_temp_path(db)) {
		isolate_announce_temp(db_temp_path(db));
		signals_catch(db_temp_path(db));
		caught = 1;
	}
	a.model = model_new(db, opts->durs_budget);
	if (!a.model) {
		snprintf(err, sizeof(err), "out of memory");
		ret = GS_ERR_NOMEM;
		goto end;
	}
	if (info.has_tag)
		model_filter_tag(a.model, info.tag);
	if (info.npids && (ret = model_filter_pids(a.model, info.pids, info.npids,
						   info.late_pids, info.nlate)) != GS_OK) {
		snprintf(err, sizeof(err), "out of memory");
		goto end;
	}
	if (!strcmp(info.mode, "attach")) {
		model_set_start(a.model, "attach", GS_UNKNOWN);
	} else if (!strcmp(info.mode, "snapshot")) {
		int64_t horizon;

		if ((ret = trace_horizon((const char *const *)j->dirs.v, j->dirs.n, &horizon, err,
					 sizeof(err))) != GS_OK)
			goto end;
		model_set_start(a.model, "snapshot", horizon);
	}
	/* A snapshot's streams end where their CPU's events did. */
	sink.tails = strcmp(info.mode, "snapshot") != 0;
	a.progress = j->progress;
	a.t0 = mono_s();
	for (;;) {
		enum trace_read_status st = trace_read((const char *const *)j->dirs.v, j->dirs.n,
						       &sink, &tinfo, opts->verbose, err, sizeof(err));

		/* One part of a recording that does not open (the metadata of
		 * another user's processes, cut when the session ended) must
		 * not cost the others: it is left out, and said so. */
		if (st != TRACE_READ_OPEN_ERROR || j->dirs.n < 2 || tinfo.bad_dir >= j->dirs.n) {
			status = st;
			break;
		}
		fprintf(stderr, PREFIX "warning: left out %s: %s\n", j->dirs.v[tinfo.bad_dir], err);
		free(j->dirs.v[tinfo.bad_dir]);
		memmove(j->dirs.v + tinfo.bad_dir, j->dirs.v + tinfo.bad_dir + 1,
			(j->dirs.n - tinfo.bad_dir - 1) * sizeof(*j->dirs.v));
		j->dirs.n--;
		err[0] = '\0';
	}
	switch (status) {
	case TRACE_READ_OK:
		break;
	case TRACE_READ_SINK_ERROR:
		snprintf(err, sizeof(err), "%s", model_error(a.model));
		ret = a.sink_status != GS_OK ? a.sink_status : GS_ERR_INPUT;
		goto end;
	default:
		ret = GS_ERR_INPUT;
		goto end;
	}
	if (a.progress && a.shown) /* the rest takes a while too: say what */
		fprintf(stderr, "\r" PREFIX "%.1fM events read; computing figures, "
			"indexing\033[K", model_event_count(a.model) / 1e6);
	if (opts->timing)
		fprintf(stderr, PREFIX "timing: read %.3f s\n", mono_s() - a.t0);
	/* ret is GS_OK here once the pids or the horizon were set: each
	 * way out below is an error. */
	ret = GS_ERR_INPUT;
	/* `record --pid`, a snapshot: their processes' own pids. */
	if (!model_event_count(a.model) && info.npids) {
		snprintf(err, sizeof(err), "%s: none of the recorded processes (pids= in "
			 "gilscope.info) left a GIL event (its idle_pids= and unregistered_pids= "
			 "say which and why); the trace holds %llu events of other processes",
			 opts->trace_dir, (unsigned long long)model_skipped_count(a.model));
		goto end;
	}
	if (!model_event_count(a.model) && model_skipped_count(a.model)) {
		char tags[128] = "";
		size_t n = 0;

		for (int i = 0; i < a.ntags && n < sizeof(tags); i++)
			n += (size_t)snprintf(tags + n, sizeof(tags) - n, "%s%lld",
					      i ? ", " : "", (long long)a.tags[i]);
		snprintf(err, sizeof(err), "%s: no process carries this recording's tag %lu "
			 "(gilscope.info); the trace holds %llu events of processes tagged %s: "
			 "other recordings' while the command ran no CPython, or a damaged "
			 "gilscope.info (its tag= line)", opts->trace_dir,
			 (unsigned long)info.tag,
			 (unsigned long long)model_skipped_count(a.model), tags[0] ? tags : "?");
		goto end;
	}
	if (!model_event_count(a.model)) {
		snprintf(err, sizeof(err), "%s: the CTF trace holds no gilscope events "
			 "(%llu events of other providers): was the command a CPython "
			 "program recorded with `gilscope record`?", opts->trace_dir,
			 (unsigned long long)tinfo.other_events);
		goto end;
	}
	/* Another gilscope version's processes, traced through the same
	 * session daemon (not this recording's: else the model refused). */
	if (tinfo.foreign_events)
		fprintf(stderr, PREFIX "note: skipped %llu event%s of another gilscope version's "
			"processes, not of this recording\n", (unsigned long long)tinfo.foreign_events,
			tinfo.foreign_events > 1 ? "s" : "");
	/* Events missing from a GIL's order are lost events, whether or not
	 * LTTng said so: never "lost 0" with gaps. */
	if (tinfo.seq_gaps && !a.nlosses) {
		char what[128];
		struct gs_loss l = { what, GS_UNKNOWN, GS_UNKNOWN, 0, 0, 0, 0, tinfo.seq_gaps };

		snprintf(what, sizeof(what), "%llu place%s in a GIL's order never seen",
			 (unsigned long long)tinfo.seq_gaps, tinfo.seq_gaps > 1 ? "s" : "");
		a.lost_unknown++;
		if ((ret = model_loss(a.model, &l)) != GS_OK) {
			snprintf(err, sizeof(err), "%s", model_error(a.model));
			goto end;
		}
	}
	/* CPythons the preload traced (each said so before it registered
	 * with the session daemon) that have no GIL in the trace: each ended
	 * before its registration was done (a busy daemon, or a fork child
	 * whose registration does not wait), and all it did is lost. The
	 * recorder checked each in the trace, told apart by when it began (a
	 * pid that came back is another process); an older recorder gave only
	 * the count, against the processes kept here. */
	uint64_t kept = model_kept_count(a.model), missing = 0;
	if (info.unrecorded != GS_UNKNOWN)
		missing = (uint64_t)info.unrecorded;
	else if (info.traced != GS_UNKNOWN && (uint64_t)info.traced > kept)
		missing = (uint64_t)info.traced - kept;
	if (info.traced != GS_UNKNOWN && missing) {
		a.lost_unknown++;
		if ((ret = model_lost_processes(a.model, missing, (uint64_t)info.traced,
						info.unrecorded_pids, info.nunrecorded,
						info.nwaiting == info.nunrecorded ? info.unrecorded_waiting
										  : NULL)) != GS_OK) {
			snprintf(err, sizeof(err), "%s", model_error(a.model));
			goto end;
		}
	}
	/* More processes of the recording have a GIL here than said they were
	 * traced and left one: some could not write the recorder's file
	 * (another user's, another mount namespace's), and one of those that
	 * left nothing would be counted by no one. */
	if (info.traced != GS_UNKNOWN && kept != UINT64_MAX) {
		uint64_t traced = (uint64_t)info.traced;
		uint64_t present = traced - (missing < traced ? missing : traced);
		uint64_t unsaid = kept > present ? kept - present : 0;

		if (unsaid)
			fprintf(stderr, PREFIX "warning: %llu process%s of this recording did not say "
				"%s traced (another user's, or another mount namespace's, cannot write "
				"the recorder's gilscope.traced): traced processes that left nothing "
				"may be more than counted\n", (unsigned long long)unsaid,
				unsaid > 1 ? "es" : "", unsaid > 1 ? "they were" : "it was");
	}
	{
		struct run_info run = {
			.trace_path = j->rec_dir,
			.hostname = tinfo.hostname,
			.command = info.command,
			.exit_status = info.exit_status,
			.reordered = tinfo.reordered,
			.order_gaps = tinfo.seq_gaps,
			.late_events = tinfo.seq_late,
		};

		if ((ret = model_finish(a.model, &run)) != GS_OK) {
			snprintf(err, sizeof(err), "%s", model_error(a.model));
			goto end;
		}
	}
	if (opts->timing)
		fprintf(stderr, PREFIX "timing: finish %.3f s\n", mono_s() - a.t0);
	ret = db_commit(db, err, sizeof(err));
	db = NULL;
end:
	if (caught)
		signals_restore();
	if (a.progress)
		progress_show(&a, 1);
	if (ret == GS_OK)
		losses_say(&a);
	if (ret != GS_OK)
		fprintf(stderr, PREFIX "%s\n", err[0] ? err : "failed");
	db_abort(db);
	model_free(a.model);
	free(info.command);
	free(info.pids);
	free(info.late_pids);
	free(info.unrecorded_pids);
	free(info.unrecorded_waiting);
	return (int)ret;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A probe's directory: symbolic links and one directory, no more. */
static void remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 4, FTW_DEPTH | FTW_PHYS);
}

static int probe_sink_event(void *ctx, const struct gs_event *ev)
{
	(void)ctx;
	(void)ev;
	return 0;
}

static int probe_sink_loss(void *ctx, const struct gs_loss *loss)
{
	(void)ctx;
	(void)loss;
	return 0;
}

/* In a child: reads one trace directory, discarding the events. */
static int probe_job(void *arg)
{
	const char *dir = arg;
	struct trace_sink sink = { probe_sink_event, probe_sink_loss, NULL, 0, NULL };
	struct trace_info tinfo;
	char err[256];

	return trace_read(&dir, 1, &sink, &tinfo, 0, err, sizeof(err)) == TRACE_READ_OK ? 0 : 1;
}

/* After babeltrace2 died on dirs: the stream file it cannot survive,
 * found by reading each stream alone (with its metadata and index) in a
 * child. file receives it, or the trace directory when no single stream
 * does it. */
static void probe_streams(const struct strvec *dirs, char *file, size_t len)
{
	snprintf(file, len, "%s", dirs->n ? dirs->v[0] : "?");
	for (size_t i = 0; i < dirs->n; i++) {
		DIR *d = opendir(dirs->v[i]);
		struct dirent *de;
		int found = 0;

		if (!d)
			continue;
		while (!found && (de = readdir(d))) {
			char tmp[] = "/tmp/gilscope-probe-XXXXXX", from[PATH_MAX], to[PATH_MAX + 64];
			struct isolate_result res;
			struct stat st;

			snprintf(from, sizeof(from), "%s/%s", dirs->v[i], de->d_name);
			if (!strcmp(de->d_name, "metadata") || de->d_name[0] == '.' ||
			    stat(from, &st) || !S_ISREG(st.st_mode) || !mkdtemp(tmp))
				continue;
			snprintf(to, sizeof(to), "%s/%s", tmp, de->d_name);
			if (!symlink(from, to)) {
				char meta[PATH_MAX], meta_to[PATH_MAX + 64], idx[PATH_MAX + 64];
				char idx_to[PATH_MAX + 80];

				snprintf(meta, sizeof(meta), "%s/metadata", dirs->v[i]);
				snprintf(meta_to, sizeof(meta_to), "%s/metadata", tmp);
				snprintf(idx, sizeof(idx), "%s/index/%s.idx", dirs->v[i], de->d_name);
				snprintf(idx_to, sizeof(idx_to), "%s/index", tmp);
				if (!symlink(meta, meta_to)) {
					int with_idx = 0;


					if (!access(idx, F_OK) && !mkdir(idx_to, 0700)) {
						snprintf(idx_to, sizeof(idx_to), "%s/index/%s.idx", tmp,
							 de->d_name);
						with_idx = symlink(idx, idx_to) == 0;
					}
					if (isolate_run(probe_job, tmp, 0, &res) == GS_OK &&
					    res.signal) {
						snprintf(file, len, "%.*s%s", (int)(len - 16), from,
							 with_idx ? " (or its index)" : "");
						found = 1;
					}
				}
			}
			remove_tree(tmp);
		}
		closedir(d);
		if (found)
			return;
	}
}

enum gs_status analyze(const struct analyze_opts *opts)
{
	struct job j = { .opts = opts };
	struct isolate_result res;
	char *rec_dir = NULL, *abs = NULL;
	struct stat st;
	char err[PATH_MAX + 1024] = "";
	enum gs_status status = GS_ERR_INPUT;

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
	if ((status = find_traces(abs ? abs : opts->trace_dir, &j.dirs, &rec_dir, err,
				  sizeof(err))) != GS_OK)
		goto end;
	status = GS_ERR_INPUT;
	if (!j.dirs.n) {
		char info_path[PATH_MAX];
		/* A gilscope recording with no stream: LTTng writes none when no
		 * traced process registered, i.e. no CPython ran. */
		snprintf(info_path, sizeof(info_path), "%s/gilscope.info", rec_dir);
		snprintf(err, sizeof(err), "%s: no CTF trace inside (no `metadata` file)%s",
			 opts->trace_dir, access(info_path, F_OK) == 0
			 ? ": no CPython 3.6+ process ran under the recorder" : "");
		goto end;
	}
	for (size_t i = 0; i < j.dirs.n && !opts->no_trace_check; i++) {
		char why[900];

		if (trace_check_dir(j.dirs.v[i], why, sizeof(why)) != GS_OK) {
			snprintf(err, sizeof(err), "the trace is corrupt at %s", why);
			goto end;
		}
	}
	j.abs = abs;
	j.rec_dir = rec_dir;
	j.progress = opts->progress < 0 ? isatty(STDERR_FILENO) : opts->progress;
	/* babeltrace2 asserts on some damage: read in a child, so that an
	 * abort is a message, and the child's temp file is removed. */
	if ((status = isolate_run(analyze_job, &j, 1, &res)) != GS_OK) {
		snprintf(err, sizeof(err), "%s", res.reason);
		goto end;
	}
	status = GS_ERR_INPUT;
	if (res.temp[0] && res.signal)
		unlink(res.temp);
	if (res.signal == SIGINT || res.signal == SIGTERM || res.signal == SIGHUP) {
		/* Interrupted: die of the same signal, as the child did. */
		signal(res.signal, SIG_DFL);
		raise(res.signal);
	}
	if (res.signal) {
		char file[PATH_MAX];

		if (opts->append)
			db_recover(opts->db_path);
		probe_streams(&j.dirs, file, sizeof(file));
		snprintf(err, sizeof(err), "the trace is corrupt at %s: %s", file,
			 res.reason[0] ? res.reason : strsignal(res.signal));
		goto end;
	}
	/* The child's status (analyze_job), or a death it did not choose. */
	status = res.status <= GS_ERR_SYSTEM ? (enum gs_status)res.status : GS_ERR_SYSTEM;
	err[0] = '\0';
end:
	if (status != GS_OK && err[0]) {
		/* One line, whatever the causes held. */
		for (char *p = err; *p; p++)
			if (*p == '\n' || *p == '\t')
				*p = ' ';
		fprintf(stderr, PREFIX "%s\n", err);
	}
	strvec_free(&j.dirs);
	free(rec_dir);
	free(abs);
	return status;
}
