/* Which traced processes left anything in a trace (lives.h). The
 * metadata LTTng-UST 2.13 writes is read narrowly: integers (alone, in
 * arrays, in sequences), strings and named integer types, byte-aligned
 * or aligned; anything else (a float, an enum, a variant in a payload,
 * a big-endian trace) makes the walk give up rather than guess. */
#include "lives.h"

#include "ctf_metadata.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LEN 64
#define MAX_FIELDS 32
#define MAX_ALIASES 48
#define PACKET_MAGIC 0xc1fc1fc1u

enum fkind { F_INT, F_STRING, F_SEQ };

struct field {
	char name[NAME_MAX_LEN];
	enum fkind kind;
	uint32_t bytes;  /* one element's */
	uint32_t count;  /* F_INT: elements (an array's length, else 1) */
	uint32_t align;  /* bytes */
	int len;         /* F_SEQ: the index of its length field */
};

struct fields {
	struct field v[MAX_FIELDS];
	size_t n;
	uint32_t align;  /* the struct's: its largest field's */
	int declared;    /* an event class with this id exists */
	int tag;         /* an event class that tells whose process it is (gil_found,
			    gil_known, thread_name): the index of its _tag field, else -1 */
	int gil;         /* an event class of a GIL (all but thread_name, process_exit,
			    code, stack, resync) */
	int kind;        /* gilscope:rare: the index of its _kind field (which
			    says, per record, what the record is), else -1 */
};

/* gilscope:rare's kinds (tracer/gilscope_tp.h, GILSCOPE_RARE_*): those of
 * a GIL, and those that carry the recording's tag. */
static int rare_kind_gil(uint64_t k)
{
	return k == 1 || k == 2 || k == 3 || k == 4 || k == 5 || k == 6 || k == 7 || k == 11;
}

static int rare_kind_tag(uint64_t k)
{
	return k == 1 || k == 2 || k == 9; /* gil_found, gil_known, thread_name */
}

struct alias {
	char name[NAME_MAX_LEN];
	uint32_t bits, align;
};

struct meta {
	struct alias aliases[MAX_ALIASES];
	size_t naliases;
	struct fields pkt_header, pkt_ctx, ev_ctx;
	int compact;     /* event_header_compact, else event_header_large */
	int monotonic;   /* LTTng's monotonic clock, in ns: the marks' clock */
	struct fields *events; /* by id */
	size_t nevents;
};

struct walk {
	struct life *v;          /* sorted by pid, then mark */
	size_t n, unfound;
	int64_t tag;             /* LIVES_ANY_TAG: none needed */
	int use_marks;
	char *err;
	size_t errlen;
};

/* --- the metadata's text ----------------------------------------------------- */

/* The '}' matching the '{' at open, or NULL. */
static const char *closing(const char *open)
{
	int depth = 0;

	for (const char *c = open; *c; c++) {
		if (*c == '{')
			depth++;
		else if (*c == '}' && --depth == 0)
			return c;
	}
	return NULL;
}

static const char *skip_space(const char *c, const char *end)
{
	while (c < end && isspace((unsigned char)*c))
		c++;
	return c;
}

/* The integer after "key =" in [b, e), or -1. */
static long attr(const char *b, const char *e, const char *key)
{
	size_t k = strlen(key);

	for (const char *c = b; c + k < e; c++) {
		if (strncmp(c, key, k) || (c > b && (isalnum((unsigned char)c[-1]) || c[-1] == '_')))
			continue;
		const char *v = skip_space(c + k, e);

		if (v < e && *v == '=') {
			v = skip_space(v + 1, e);
			return v < e && isdigit((unsigned char)*v) ? strtol(v, NULL, 0) : -1;
		}
	}
	return -1;
}

static int field_index(const struct fields *f, const char *name);

/* --- declarations ------------------------------------------------------------- */

static int size_ok(long bits, long align)
{
	return bits > 0 && bits <= 64 && bits % 8 == 0 && align > 0 && align % 8 == 0 &&
	       align <= 64 * 8;
}

/* One declaration [b, e) ("integer { ... } _x[3]", "string _s",
 * "uint8_t uuid[16]", "integer { ... } _v[ __v_length ]") appended to
 * out. 0, or -1 when it is none of these. */
static int decl_parse(const struct meta *m, const char *b, const char *e, struct fields *out)
{
	struct field *f;
	const char *name;
	long bits = 0, align = 0;

	if (out->n == MAX_FIELDS)
		return -1;
	f = &out->v[out->n];
	memset(f, 0, sizeof(*f));
	b = skip_space(b, e);
	if (!strncmp(b, "integer", 7) && strchr(b, '{') && strchr(b, '{') < e) {
		const char *o = strchr(b, '{'), *c = closing(o);

		if (!c || c >= e)
			return -1;
		bits = attr(o, c, "size");
		align = attr(o, c, "align");
		name = c + 1;
		f->kind = F_INT;
	} else if (!strncmp(b, "string", 6) && !isalnum((unsigned char)b[6]) && b[6] != '_') {
		name = b + 6;
		if (*skip_space(name, e) == '{') {
			const char *c = closing(skip_space(name, e));

			if (!c || c >= e)
				return -1;
			name = c + 1;
		}
		f->kind = F_STRING;
		bits = align = 8;
	} else {
		size_t best = 0;

		for (size_t i = 0; i < m->naliases; i++) {
			size_t k = strlen(m->aliases[i].name);

			if (k > best && b + k < e && !strncmp(b, m->aliases[i].name, k) &&
			    isspace((unsigned char)b[k])) {
				best = k;
				bits = m->aliases[i].bits;
				align = m->aliases[i].align;
			}
		}
		if (!best)
			return -1;
		name = b + best;
		f->kind = F_INT;
	}
	if (!size_ok(bits, align))
		return -1;
	f->bytes = (uint32_t)bits / 8;
	f->align = (uint32_t)align / 8;
	f->count = 1;
	name = skip_space(name, e);
	size_t k = 0;
	while (name + k < e && (isalnum((unsigned char)name[k]) || name[k] == '_'))
		k++;
	if (!k || k >= NAME_MAX_LEN)
		return -1;
	memcpy(f->name, name, k);
	const char *c = skip_space(name + k, e);
	if (c < e && *c == '[') {
		const char *in = skip_space(c + 1, e), *close = memchr(c, ']', (size_t)(e - c));

		if (!close || f->kind != F_INT)
			return -1;
		if (isdigit((unsigned char)*in)) {
			f->count = (uint32_t)strtoul(in, NULL, 10);
		} else {
			/* A sequence: its length is an earlier field of the struct. */
			size_t l = 0;

			while (in + l < close && (isalnum((unsigned char)in[l]) || in[l] == '_'))
				l++;
			f->kind = F_SEQ;
			f->len = -1;
			for (size_t i = 0; i < out->n; i++)
				if (strlen(out->v[i].name) == l && !strncmp(out->v[i].name, in, l) &&
				    out->v[i].kind == F_INT && out->v[i].count == 1)
					f->len = (int)i;
			if (f->len < 0)
				return -1;
		}
		c = skip_space(close + 1, e);
	}
	if (c != e)
		return -1;
	if (f->align > out->align)
		out->align = f->align;
	out->n++;
	return 0;
}

/* The declarations of the struct body whose '{' is at open. 0 or -1. */
static int struct_parse(const struct meta *m, const char *open, struct fields *out)
{
	const char *end = closing(open), *b = open + 1;
	int depth = 0;

	memset(out, 0, sizeof(*out));
	out->align = 1;
	if (!end)
		return -1;
	for (const char *c = b; c < end; c++) {
		if (*c == '{')
			depth++;
		else if (*c == '}')
			depth--;
		else if (*c == ';' && !depth) {
			if (decl_parse(m, b, c, out))
				return -1;
			b = c + 1;
		}
	}
	return *skip_space(b, end) == '\0' || skip_space(b, end) == end ? 0 : -1;
}

/* "typealias integer { ... } := NAME;": the named integer types. */
static void aliases_parse(struct meta *m, const char *text)
{
	for (const char *c = text; (c = strstr(c, "typealias integer")) && m->naliases < MAX_ALIASES;) {
		const char *o = strchr(c, '{'), *e = o ? closing(o) : NULL, *n, *semi;

		if (!e)
			return;
		n = strstr(e, ":=");
		semi = n ? strchr(n, ';') : NULL;
		c = e;
		if (!semi)
			return;
		n = skip_space(n + 2, semi);
		while (semi > n && isspace((unsigned char)semi[-1]))
			semi--;
		if (semi - n <= 0 || semi - n >= NAME_MAX_LEN)
			continue;
		struct alias *a = &m->aliases[m->naliases++];
		memcpy(a->name, n, (size_t)(semi - n));
		a->name[semi - n] = '\0';
		a->bits = (uint32_t)attr(o, e, "size");
		a->align = (uint32_t)attr(o, e, "align");
	}
}

static void meta_free(struct meta *m)
{
	free(m->events);
	memset(m, 0, sizeof(*m));
}

/* The parts of the metadata text the walk needs. 0, or -1 (why in err). */
static int meta_parse(struct meta *m, const char *text, char *err, size_t len)
{
	const char *c, *s;
	int gil = 0;

	memset(m, 0, sizeof(*m));
	aliases_parse(m, text);
	if (!strstr(text, "byte_order = le")) {
		snprintf(err, len, "the trace is not little-endian");
		return -1;
	}
	if (!(c = strstr(text, "packet.header := struct")) ||
	    struct_parse(m, strchr(c, '{'), &m->pkt_header)) {
		snprintf(err, len, "its packet header is not one this reader knows");
		return -1;
	}
	if (!(c = strstr(text, "struct packet_context {")) ||
	    struct_parse(m, strchr(c, '{'), &m->pkt_ctx)) {
		snprintf(err, len, "its packet context is not one this reader knows");
		return -1;
	}
	if (!(s = strstr(text, "\nstream {")) || strstr(s + 1, "\nstream {")) {
		snprintf(err, len, "it has %s stream class", s ? "more than one" : "no");
		return -1;
	}
	m->compact = strstr(s, "event.header := struct event_header_compact;") != NULL;
	if ((!m->compact && !strstr(s, "event.header := struct event_header_large;")) ||
	    !(c = strstr(s, "event.context := struct")) || c > closing(strchr(s, '{')) ||
	    struct_parse(m, strchr(c, '{'), &m->ev_ctx) || strcmp(m->ev_ctx.v[0].name, "_vpid") ||
	    m->ev_ctx.v[0].bytes != 4 || m->ev_ctx.v[0].count != 1) {
		snprintf(err, len, "its events' header or context (the vpid first) is not one "
			 "this reader knows");
		return -1;
	}
	if ((c = strstr(text, "\nclock {"))) {
		const char *e = closing(strchr(c, '{'));

		m->monotonic = e && strstr(c, "name = \"monotonic\";") &&
			       strstr(c, "name = \"monotonic\";") < e &&
			       attr(c, e, "freq") == 1000000000L;
	}
	for (c = text; (c = strstr(c, "\nevent {"));) {
		const char *o = strchr(c, '{'), *e = closing(o), *fl;
		long id = e ? attr(o, e, "id") : -1;

		if (id < 0 || id > 65534 || !(fl = strstr(o, "fields := struct")) || fl > e ||
		    (strstr(o, "context :=") && strstr(o, "context :=") < e)) {
			snprintf(err, len, "an event class is not one this reader knows");
			return -1;
		}
		if ((size_t)id >= m->nevents) {
			struct fields *v = realloc(m->events, ((size_t)id + 1) * sizeof(*v));

			if (!v) {
				snprintf(err, len, "out of memory");
				return -1;
			}
			memset(v + m->nevents, 0, ((size_t)id + 1 - m->nevents) * sizeof(*v));
			m->events = v;
			m->nevents = (size_t)id + 1;
		}
		if (struct_parse(m, strchr(fl, '{'), &m->events[id])) {
			snprintf(err, len, "the fields of event class %ld are not ones this reader "
				 "knows", id);
			return -1;
		}
		struct fields *ev = &m->events[id];
		const char *nm = strstr(o, "name = \"");
		static const char *const not_gil[] = { "thread_name", "process_exit", "code",
						       "stack", "resync" };

		ev->declared = 1;
		ev->tag = -1;
		ev->kind = -1;
		if (nm && nm < e && !strncmp(nm + 8, "gilscope:", 9)) {
			size_t k = strcspn(nm + 17, "\"");

			ev->gil = 1;
			for (size_t i = 0; i < sizeof(not_gil) / sizeof(not_gil[0]); i++)
				if (strlen(not_gil[i]) == k && !strncmp(nm + 17, not_gil[i], k))
					ev->gil = 0;
			if ((k == 9 && (!strncmp(nm + 17, "gil_found", 9) ||
					!strncmp(nm + 17, "gil_known", 9))) ||
			    (k == 11 && !strncmp(nm + 17, "thread_name", 11)))
				ev->tag = field_index(ev, "_tag");
			if (k == 4 && !strncmp(nm + 17, "rare", 4)) {
				ev->kind = field_index(ev, "_kind");
				ev->tag = field_index(ev, "_tag");
				ev->gil = 0; /* per record, by its kind */
				gil += ev->kind >= 0 && ev->tag >= 0;
			}
			gil += ev->gil && ev->tag >= 0;
		}
		c = e;
	}
	/* Without such a class (another version of the events) no process
	 * could be found: that says nothing of them. */
	if (!gil) {
		snprintf(err, len, "no event class names a process's GIL with its tag (gil_found, "
			 "gil_known, rare)");
		return -1;
	}
	return 0;
}

/* --- the streams ------------------------------------------------------------- */

static uint64_t le(const unsigned char *p, uint32_t n)
{
	uint64_t v = 0;

	for (uint32_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* Walks the fields f of a struct at *pos (bytes from the packet's start
 * p, content up to end): their values of one-element integers into
 * vals (by index; may be NULL). 0, or -1 when they run past end. */
static int fields_walk(const struct fields *f, const unsigned char *p, size_t *pos, size_t end,
		       uint64_t *vals)
{
	size_t at = *pos;

	at = (at + f->align - 1) / f->align * f->align;
	for (size_t i = 0; i < f->n && at <= end; i++) {
		const struct field *x = &f->v[i];
		uint64_t count = x->count;

		at = (at + x->align - 1) / x->align * x->align;
		if (at > end)
			return -1;
		if (x->kind == F_STRING) {
			const unsigned char *z = at < end ? memchr(p + at, 0, end - at) : NULL;

			if (!z)
				return -1;
			at = (size_t)(z - p) + 1;
			continue;
		}
		if (x->kind == F_SEQ)
			count = vals ? vals[x->len] : UINT64_MAX;
		if (count > (end - at) / x->bytes)
			return -1;
		if (vals && count == 1 && x->kind == F_INT)
			vals[i] = le(p + at, x->bytes);
		at += count * x->bytes;
	}
	*pos = at;
	return at <= end ? 0 : -1;
}

static int field_index(const struct fields *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].name, name) && f->v[i].kind == F_INT && f->v[i].count == 1)
			return (int)i;
	return -1;
}

#define SEEN_TAG 1 /* an event of the life carries the recording's tag */
#define SEEN_GIL 2 /* an event of the life is one of its GIL's */

/* An event of pid at ts says what (SEEN_*) of the latest life of pid
 * begun before it (or, without usable marks, of each of its lives): a
 * life with both is found, as the analyzer keeps a process from its
 * first tagged event and counts it when it has a GIL. */
static void life_seen(struct walk *w, int32_t pid, int64_t ts, int what)
{
	size_t lo = 0, hi = w->n, pick = SIZE_MAX;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (w->v[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < w->n && w->v[i].pid == pid; i++) {
		struct life *l = &w->v[i];

		if (!w->use_marks) {
			l->seen |= what;
			if (!l->found && l->seen == (SEEN_TAG | SEEN_GIL)) {
				l->found = 1;
				w->unfound--;
			}
		} else if (pick == SIZE_MAX || l->mark_ns <= ts) {
			pick = i;
		}
	}
	if (pick != SIZE_MAX && !w->v[pick].found) {
		struct life *l = &w->v[pick];

		l->seen |= what;
		if (l->seen == (SEEN_TAG | SEEN_GIL)) {
			l->found = 1;
			w->unfound--;
		}
	}
}

/* The earliest mark of the lives still looked for (INT64_MIN: one has
 * no usable mark). */
static int64_t first_unfound(const struct walk *w)
{
	int64_t min = INT64_MAX;

	for (size_t i = 0; i < w->n; i++)
		if (!w->v[i].found && (!w->use_marks ? INT64_MIN : w->v[i].mark_ns) < min)
			min = w->use_marks ? w->v[i].mark_ns : INT64_MIN;
	return min;
}

/* The events of one packet (p: its start, content: its content bytes). */
static int packet_walk(struct walk *w, const struct meta *m, const unsigned char *p,
		       size_t pos, size_t content, uint64_t ts)
{
	uint64_t vals[MAX_FIELDS];

	while (pos < content && w->unfound) {
		uint64_t id, t;

		/* The header: compact, a 5-bit id and a 27-bit time (id 31:
		 * a byte, then a 32-bit id and a 64-bit time); large, a 16-bit
		 * id and a 32-bit time (65535: a 32-bit id, a 64-bit time). A
		 * short time is the low bits of the full one, which only grows. */
		unsigned hbits = m->compact ? 27 : 32;
		size_t hsz = m->compact ? 4 : 6, xsz = m->compact ? 13 : 14;

		if (content - pos < hsz)
			return -1;
		if (m->compact) {
			uint32_t word = (uint32_t)le(p + pos, 4);

			id = word & 31;
			t = word >> 5;
		} else {
			id = le(p + pos, 2);
			t = le(p + pos + 2, 4);
		}
		if (id == (m->compact ? 31u : 65535u)) {
			if (content - pos < xsz)
				return -1;
			id = le(p + pos + xsz - 12, 4);
			ts = le(p + pos + xsz - 8, 8);
			pos += xsz;
		} else {
			uint64_t mask = ((uint64_t)1 << hbits) - 1;
			uint64_t full = (ts & ~mask) | t;

			if (t < (ts & mask))
				full += mask + 1;
			ts = full;
			pos += hsz;
		}
		if (fields_walk(&m->ev_ctx, p, &pos, content, vals))
			return -1;
		int32_t pid = (int32_t)vals[0];
		if (id >= m->nevents || !m->events[id].declared)
			return -1;
		const struct fields *ev = &m->events[id];
		if (fields_walk(ev, p, &pos, content, vals))
			return -1;
		int has_tag = ev->tag >= 0, is_gil = ev->gil;
		if (ev->kind >= 0) {
			has_tag = has_tag && rare_kind_tag(vals[ev->kind]);
			is_gil = rare_kind_gil(vals[ev->kind]);
		}
		int what = (has_tag && vals[ev->tag] == (uint64_t)w->tag ? SEEN_TAG : 0) |
			   (is_gil ? SEEN_GIL : 0);

		if (w->tag == LIVES_ANY_TAG && is_gil)
			what |= SEEN_TAG;
		if (what)
			life_seen(w, pid, (int64_t)ts, what);
	}
	return 0;
}

/* A stream file, mapped. */
struct stream {
	const char *path;
	unsigned char *base;
	size_t size;
};

/* A packet of one of them: where its events are, and when. */
struct packet {
	uint64_t begin, end;   /* its first and last times */
	size_t stream, off;    /* the file and the packet's offset in it */
	size_t events, content; /* its events' first byte and its content's end (bytes) */
};

static int packet_cmp(const void *a, const void *b)
{
	const struct packet *x = a, *y = b;

	return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Maps the stream at path into *st (nothing for an empty file). */
static int stream_map(struct walk *w, const char *path, struct stream *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = -1;
	struct stat sb;

	st->path = path;
	st->base = MAP_FAILED;
	st->size = 0;
	if (fd < 0 || fstat(fd, &sb)) {
		snprintf(w->err, w->errlen, "cannot open %s: %s", path, strerror(errno));
		goto end;
	}
	ret = 0;
	if (!sb.st_size)
		goto end;
	st->size = (size_t)sb.st_size;
	st->base = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (st->base == MAP_FAILED) {
		snprintf(w->err, w->errlen, "cannot map %s: %s", path, strerror(errno));
		st->size = 0;
		ret = -1;
	}
end:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Appends the packets of stream k to *pv (*np of them, room for *cap),
 * read from their headers. 0, or -1 (why in w->err). */
static int packets_list(struct walk *w, const struct meta *m, const struct stream *st, size_t k,
			struct packet **pv, size_t *np, size_t *cap)
{
	uint64_t vals[MAX_FIELDS];
	int ibegin = field_index(&m->pkt_ctx, "timestamp_begin"),
	    iend = field_index(&m->pkt_ctx, "timestamp_end"),
	    icontent = field_index(&m->pkt_ctx, "content_size"),
	    ipacket = field_index(&m->pkt_ctx, "packet_size");

	if (ibegin < 0 || iend < 0 || icontent < 0 || ipacket < 0) {
		snprintf(w->err, w->errlen, "the packet context lacks its times or sizes");
		return -1;
	}
	for (size_t off = 0; off < st->size;) {
		const unsigned char *p = st->base + off;
		size_t left = st->size - off, pos = 0;

		if (fields_walk(&m->pkt_header, p, &pos, left, NULL) ||
		    fields_walk(&m->pkt_ctx, p, &pos, left, vals) || le(p, 4) != PACKET_MAGIC ||
		    vals[ipacket] % 8 || !vals[ipacket] || vals[icontent] > vals[ipacket] ||
		    vals[ipacket] / 8 > left || vals[icontent] / 8 < pos) {
			snprintf(w->err, w->errlen, "%s: a malformed packet at offset %zu", st->path,
				 off);
			return -1;
		}
		if (*np == *cap) {
			struct packet *v = realloc(*pv, (*cap = *cap ? *cap * 2 : 256) * sizeof(*v));

			if (!v) {
				snprintf(w->err, w->errlen, "out of memory");
				return -1;
			}
			*pv = v;
		}
		(*pv)[(*np)++] = (struct packet){ vals[ibegin], vals[iend], k, off, pos,
						  (size_t)(vals[icontent] / 8) };
		off += (size_t)(vals[ipacket] / 8);
	}
	return 0;
}

/* One trace directory (metadata and its streams): the packets of all
 * its streams in the order of their times, so that the processes begun
 * early are found early whichever CPU wrote them. */
static int trace_walk(struct walk *w, const char *dir)
{
	char path[PATH_MAX], *text;
	struct meta m = { .naliases = 0 };
	struct stream *sv = NULL;
	struct packet *pv = NULL;
	size_t ns = 0, np = 0, cap = 0;
	glob_t g;
	int ret = -1, globbed = 0;

	snprintf(path, sizeof(path), "%s/metadata", dir);
	if (!(text = ctf_metadata_text(path, NULL, w->err, w->errlen)))
		return -1;
	if (meta_parse(&m, text, w->err, w->errlen))
		goto end;
	w->use_marks = m.monotonic;
	snprintf(path, sizeof(path), "%s/*", dir);
	if (glob(path, GLOB_MARK, NULL, &g)) {
		ret = 0;
		goto end;
	}
	globbed = 1;
	if (!(sv = calloc(g.gl_pathc, sizeof(*sv)))) {
		snprintf(w->err, w->errlen, "out of memory");
		goto end;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *name = strrchr(g.gl_pathv[i], '/');

		/* the streams: not the metadata, not index/ */
		if (!name || !name[1] || !strcmp(name + 1, "metadata"))
			continue;
		if (stream_map(w, g.gl_pathv[i], &sv[ns++]) ||
		    packets_list(w, &m, &sv[ns - 1], ns - 1, &pv, &np, &cap))
			goto end;
	}
	if (np)
		qsort(pv, np, sizeof(*pv), packet_cmp);
	ret = 0;
	for (size_t i = 0; i < np && w->unfound; i++) {
		const struct packet *k = &pv[i];

		/* Every event of a life comes after its mark. */
		if ((int64_t)k->end < first_unfound(w))
			continue;
		if (packet_walk(w, &m, sv[k->stream].base + k->off, k->events, k->content, k->begin)) {
			snprintf(w->err, w->errlen, "%s: an event of the packet at offset %zu cannot "
				 "be read", sv[k->stream].path, k->off);
			ret = -1;
			break;
		}
	}
end:
	if (ret && !strstr(w->err, dir)) {
		char why[512];

		snprintf(why, sizeof(why), "%s", w->err);
		snprintf(w->err, w->errlen, "%s: %s", dir, why);
	}
	for (size_t i = 0; i < ns; i++)
		if (sv[i].base != MAP_FAILED)
			munmap(sv[i].base, sv[i].size);
	free(sv);
	free(pv);
	if (globbed)
		globfree(&g);
	meta_free(&m);
	free(text);
	return ret;
}

static int life_cmp(const void *a, const void *b)
{
	const struct life *x = a, *y = b;

	if (x->pid != y->pid)
		return (x->pid > y->pid) - (x->pid < y->pid);
	return (x->mark_ns > y->mark_ns) - (x->mark_ns < y->mark_ns);
}

int lives_find(const char *dir, int64_t tag, struct life *v, size_t n, char *err, size_t len)
{
	static const char *const layouts[] = { "", "/*" }; /* a recording's, a snapshot's */
	struct walk w = { v, n, n, tag, 1, err, len };
	char pat[PATH_MAX];
	glob_t g;
	int ret = 0;

	err[0] = '\0';
	for (size_t i = 0; i < n; i++)
		v[i].found = v[i].seen = 0;
	qsort(v, n, sizeof(*v), life_cmp);
	for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]) && n && !ret; l++) {
		snprintf(pat, sizeof(pat), "%s%s/ust/uid/*/*-bit", dir, layouts[l]);
		if (glob(pat, GLOB_ONLYDIR, NULL, &g))
			continue;
		for (size_t i = 0; i < g.gl_pathc && !ret && w.unfound; i++)
			ret = trace_walk(&w, g.gl_pathv[i]);
		globfree(&g);
	}
	if (ret)
		for (size_t i = 0; i < n; i++)
			v[i].found = 1; /* no claim */
	return ret;
}
