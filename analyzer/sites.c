/* Sites and stacks: see sites.h. A site is one (file, function, line),
 * shared by every process and code object that has it; a stack is one
 * list of sites, innermost first. Both get run-wide ids, in the order
 * they are first seen. */
#include "sites.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "kmap.h"
#include "linetable.h"
#include "ptrvec.h"
#include "srcline.h"

struct site {
	int64_t id;
	char *filename, *function;
	int32_t line;              /* -1: unknown */
	uint64_t hash;
	struct site *next;         /* same (hash, line) */
	int64_t holds, held_ns, max_hold_ns, acquires;
	int64_t voluntary, forced, off_ns, waits, wait_ns;
};

struct code {
	char *filename, *name;
	int32_t firstlineno;
	int format;
	uint8_t *lt;
	uint32_t lt_len;
};

struct stack {
	int64_t id;
	uint32_t depth;
	struct site **frames;      /* innermost first */
	uint64_t hash;
	struct stack *next;        /* same (hash, depth) */
	int64_t holds, held_ns, waits, wait_ns;
};

/* One process's ids: what its code and stack events described. Freed
 * when the process exits (sites_forget): a run of many short processes
 * (a test suite: 800 processes, 57k code objects, 200k stack ids) would
 * otherwise keep them all to the end. Sites and stacks are run-wide and
 * stay. */
struct psites {
	struct kmap *codes;        /* code id -> struct code (NULL: none yet) */
	struct kmap *at;           /* code id << 32 | offset -> struct site */
	struct kmap *stacks;       /* stack id -> struct stack */
	struct ptrvec codev;
};

struct sites {
	struct kmap *procs;        /* (pid, 0) -> struct psites */
	int32_t last_pid;          /* a one-entry cache: events come in runs */
	struct psites *last;
	struct kmap *by_key;       /* (hash, line) -> struct site chain */
	struct kmap *by_frames;    /* (hash, depth) -> struct stack chain */
	struct ptrvec procv, sitev, stackv;
};

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL; /* a separator: "ab","c" != "a","bc" */
}

struct sites *sites_new(void)
{
	struct sites *ss = calloc(1, sizeof(*ss));

	if (!ss)
		goto end;
	ss->procs = kmap_new();
	ss->by_key = kmap_new();
	ss->by_frames = kmap_new();
	if (!ss->procs || !ss->by_key || !ss->by_frames) {
		sites_free(ss);
		ss = NULL;
	}
end:
	return ss;
}

/* Frees what p holds and leaves it empty, as new. */
static void psites_clear(struct psites *p)
{
	for (size_t i = 0; i < p->codev.n; i++) {
		struct code *c = p->codev.v[i];

		free(c->filename);
		free(c->name);
		free(c->lt);
		free(c);
	}
	free(p->codev.v);
	kmap_free(p->codes);
	kmap_free(p->at);
	kmap_free(p->stacks);
	memset(p, 0, sizeof(*p));
}

/* pid's ids; with make, created (maps included) when missing. NULL when
 * pid has none (!make) or out of memory (make). */
static struct psites *psites_get(struct sites *ss, int32_t pid, int make)
{
	struct psites *p = ss->last && ss->last_pid == pid ? ss->last
			 : kmap_get(ss->procs, (uint32_t)pid, 0);

	if (!p && make) {
		p = calloc(1, sizeof(*p));
		if (!p || ptrvec_push(&ss->procv, p) != 0) {
			free(p);
			return NULL;
		}
		/* ss->procv owns p now. */
		if (kmap_put(ss->procs, (uint32_t)pid, 0, p) != GS_OK)
			return NULL;
	}
	if (p && make && !p->codes) {
		p->codes = kmap_new();
		p->at = kmap_new();
		p->stacks = kmap_new();
		if (!p->codes || !p->at || !p->stacks) {
			psites_clear(p);
			return NULL;
		}
	}
	if (p) {
		ss->last_pid = pid;
		ss->last = p;
	}
	return p && p->codes ? p : NULL;
}

void sites_forget(struct sites *ss, int32_t pid)
{
	struct psites *p = psites_get(ss, pid, 0);

	if (p)
		psites_clear(p);
}

void sites_free(struct sites *ss)
{
	if (!ss)
		return;
	for (size_t i = 0; i < ss->procv.n; i++) {
		psites_clear(ss->procv.v[i]);
		free(ss->procv.v[i]);
	}
	for (size_t i = 0; i < ss->sitev.n; i++) {
		struct site *s = ss->sitev.v[i];

		free(s->filename);
		free(s->function);
		free(s);
	}
	for (size_t i = 0; i < ss->stackv.n; i++) {
		struct stack *st = ss->stackv.v[i];

		free(st->frames);
		free(st);
	}
	free(ss->procv.v);
	free(ss->sitev.v);
	free(ss->stackv.v);
	kmap_free(ss->procs);
	kmap_free(ss->by_key);
	kmap_free(ss->by_frames);
	free(ss);
}

enum gs_status sites_code(struct sites *ss, int32_t pid, const struct gs_event *ev)
{
	struct psites *p = psites_get(ss, pid, 1);
	struct code *c = p ? calloc(1, sizeof(*c)) : NULL;
	enum gs_status status = GS_ERR_NOMEM;

	if (!c || ptrvec_push(&p->codev, c) != 0) {
		free(c);
		goto end;
	}
	/* p->codev owns c now: psites_clear() frees what was made of it. */
	c->filename = strdup(ev->u.code.filename ? ev->u.code.filename : "?");
	c->name = strdup(ev->u.code.name ? ev->u.code.name : "?");
	c->firstlineno = ev->u.code.firstlineno;
	c->format = ev->u.code.lt_format;
	c->lt_len = ev->u.code.lt_len;
	c->lt = malloc(c->lt_len ? c->lt_len : 1);
	if (!c->filename || !c->name || !c->lt)
		goto end;
	if (c->lt_len)
		memcpy(c->lt, ev->u.code.linetable, c->lt_len);
	/* Ids are never reused within a process: a repeat replaces. */
	status = kmap_put(p->codes, ev->u.code.id, 0, c);
end:
	return status;
}

/* The site (filename, function, line), created if new; NULL out of memory. */
static struct site *site_intern(struct sites *ss, const char *filename, const char *function,
				int32_t line)
{
	uint64_t h = fnv(fnv(0xcbf29ce484222325ULL, filename), function);
	struct site *head = kmap_get(ss->by_key, h, (uint32_t)line), *s;

	for (s = head; s; s = s->next)
		if (!strcmp(s->filename, filename) && !strcmp(s->function, function))
			goto end;
	s = calloc(1, sizeof(*s));
	if (!s || ptrvec_push(&ss->sitev, s) != 0) {
		free(s);
		s = NULL;
		goto end;
	}
	/* ss->sitev owns s now: sites_free() frees what was made of it. */
	s->id = (int64_t)ss->sitev.n;
	s->filename = strdup(filename);
	s->function = strdup(function);
	s->line = line;
	s->hash = h;
	s->next = head;
	if (!s->filename || !s->function || kmap_put(ss->by_key, h, (uint32_t)line, s) != GS_OK)
		s = NULL;
end:
	return s;
}

/* The site of (code, offset) in pid; NULL when the code is unknown (its
 * description lost) or out of memory (*err set). */
static struct site *site_at(struct sites *ss, int32_t pid, uint32_t code, int32_t offset, int *err)
{
	uint64_t key = ((uint64_t)code << 32) | (uint32_t)offset;
	struct psites *p = code ? psites_get(ss, pid, 0) : NULL;
	struct site *s = p ? kmap_get(p->at, key, 0) : NULL;
	struct code *c;

	if (s || !p)
		return s;
	c = kmap_get(p->codes, code, 0);
	if (!c)
		return NULL;
	s = site_intern(ss, c->filename, c->name,
			linetable_line(c->format, c->lt, c->lt_len, c->firstlineno, offset));
	if (!s || kmap_put(p->at, key, 0, s)) {
		*err = 1;
		return NULL;
	}
	return s;
}

struct site *sites_site(struct sites *ss, int32_t pid, const struct gs_site *at, int *err)
{
	return at->code ? site_at(ss, pid, at->code, at->offset, err) : NULL;
}

enum gs_status sites_stack(struct sites *ss, int32_t pid, const struct gs_event *ev)
{
	uint32_t depth = ev->u.stack.depth;
	struct site **frames = malloc((depth ? depth : 1) * sizeof(*frames));
	struct stack *st, *head;
	struct psites *p;
	uint64_t h = 0xcbf29ce484222325ULL;
	enum gs_status status = GS_ERR_NOMEM;
	int err = 0;

	if (!frames)
		goto end;
	for (uint32_t i = 0; i < depth; i++) {
		frames[i] = site_at(ss, pid, ev->u.stack.codes[i], ev->u.stack.offsets[i], &err);
		if (!frames[i] && !err) /* a code whose description was lost */
			frames[i] = site_intern(ss, "?", "?", -1);
		if (!frames[i])
			goto end;
		h = (h ^ (uint64_t)frames[i]->id) * 0x100000001b3ULL;
	}
	head = kmap_get(ss->by_frames, h, depth);
	for (st = head; st; st = st->next)
		if (st->depth == depth && !memcmp(st->frames, frames, depth * sizeof(*frames)))
			break;
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st || ptrvec_push(&ss->stackv, st) != 0) {
			free(st);
			goto end;
		}
		st->id = (int64_t)ss->stackv.n;
		st->depth = depth;
		st->frames = frames;
		frames = NULL; /* the stack's now */
		st->hash = h;
		st->next = head;
		if ((status = kmap_put(ss->by_frames, h, depth, st)) != GS_OK)
			goto end;
	}
	p = psites_get(ss, pid, 1);
	status = p ? kmap_put(p->stacks, ev->u.stack.id, 0, st) : GS_ERR_NOMEM;
end:
	free(frames);
	return status;
}

struct stack *sites_stack_of(struct sites *ss, int32_t pid, const struct gs_site *at)
{
	struct psites *p = at->stack ? psites_get(ss, pid, 0) : NULL;

	return p ? kmap_get(p->stacks, at->stack, 0) : NULL;
}

int64_t site_id(const struct site *s)
{
	return s ? s->id : GS_UNKNOWN;
}

int64_t stack_id(const struct stack *s)
{
	return s ? s->id : GS_UNKNOWN;
}

const char *site_label(const struct site *s, char *buf, size_t len)
{
	char raw[512];

	if (!s) {
		snprintf(buf, len, "%s", "");
		return buf;
	}
	if (s->line >= 0)
		snprintf(raw, sizeof(raw), "%s:%d in %s", srcline_base(s->filename), s->line,
			 s->function);
	else
		snprintf(raw, sizeof(raw), "%s in %s", srcline_base(s->filename), s->function);
	srcline_clean(raw, buf, len);
	return buf;
}

enum gs_status site_source(const struct site *s, char *buf, size_t len)
{
	return s && s->line > 0 ? srcline_read(s->filename, s->line, buf, len) : GS_ERR_INPUT;
}

const struct site *sites_top(const struct sites *ss, int held)
{
	const struct site *best = NULL;

	for (size_t i = 0; i < ss->sitev.n; i++) {
		const struct site *s = ss->sitev.v[i];
		int64_t v = held ? s->held_ns : s->wait_ns;

		if (v > 0 && (!best || v > (held ? best->held_ns : best->wait_ns)))
			best = s;
	}
	return best;
}

static int is_library(const struct site *s)
{
	return s->filename[0] == '<' || strstr(s->filename, "/lib/python") ||
	       strstr(s->filename, "/lib64/python");
}

const struct site *stack_caller(const struct stack *st)
{
	if (!st || !st->depth || !is_library(st->frames[0]))
		return NULL;
	for (uint32_t i = 1; i < st->depth; i++)
		if (!is_library(st->frames[i]))
			return st->frames[i];
	return NULL;
}

void site_hold_ended(struct site *s, struct stack *st, int64_t dur)
{
	if (s) {
		s->holds++;
		s->held_ns += dur;
		if (dur > s->max_hold_ns)
			s->max_hold_ns = dur;
	}
	if (st) {
		st->holds++;
		st->held_ns += dur;
	}
}

void site_hold_started(struct site *s)
{
	if (s)
		s->acquires++;
}

void site_released(struct site *s, int forced)
{
	if (s && forced)
		s->forced++;
	else if (s)
		s->voluntary++;
}

void site_off(struct site *s, int64_t dur)
{
	if (s)
		s->off_ns += dur;
}

void site_waited(struct site *s, struct stack *st, int64_t dur)
{
	if (s) {
		s->waits++;
		s->wait_ns += dur;
	}
	if (st) {
		st->waits++;
		st->wait_ns += dur;
	}
}

enum gs_status sites_write(struct sites *ss, struct db *db, int64_t run_id)
{
	enum gs_status st = GS_OK;

	for (size_t i = 0; i < ss->sitev.n && st == GS_OK; i++) {
		struct site *s = ss->sitev.v[i];

		st = db_insert(db, DB_CODE_SITES, run_id, s->id, s->filename, s->function,
			       s->line >= 0 ? (int64_t)s->line : GS_UNKNOWN, s->holds, s->held_ns,
			       s->holds ? s->max_hold_ns : GS_UNKNOWN, s->acquires, s->voluntary,
			       s->off_ns, s->forced, s->waits, s->wait_ns);
	}
	for (size_t i = 0; i < ss->stackv.n && st == GS_OK; i++) {
		struct stack *k = ss->stackv.v[i];

		st = db_insert(db, DB_STACKS, run_id, k->id, (int64_t)k->depth,
			       k->depth ? k->frames[0]->id : GS_UNKNOWN, k->holds, k->held_ns,
			       k->waits, k->wait_ns);
		for (uint32_t d = 0; d < k->depth && st == GS_OK; d++)
			st = db_insert(db, DB_STACK_FRAMES, run_id, k->id, (int64_t)d, k->frames[d]->id);
	}
	return st;
}
