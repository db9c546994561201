/* The babeltrace2 side of the analyzer: a graph of one source.ctf.fs per
 * trace directory -> filter.utils.muxer -> a simple sink. The sink decodes
 * the gilscope events with field indexes looked up once per event class
 * (by-name lookups per event would cost more than the decoding). */
#include "trace_reader.h"

#include <babeltrace2/babeltrace.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmap.h"
#include "ptrvec.h"
#include "reorder.h"
#include "tails.h"

#define PROVIDER "gilscope:"
#define HOLD_NO_REQ UINT64_MAX /* a hold's req_seq: its request went on its own */
#define HOLD_STATE 9           /* a hold's values in a hold record's `state` */
#define HOLD_SITE 6            /* and in its `site` */
#define HOLD_MAX 5             /* holds in one record at most */

/* What each event class carries, by field name: the GIL, up to two
 * integers (n1, n2), a string and the tag, decoded into the named fields
 * of struct gs_event by reader_event(). */
static const struct evdef {
	const char *name;
	enum gs_ev_type type;
	const char *gil, *n1, *n2, *str;
	const char *tag;       /* optional: older traces lack it */
} evdefs[] = {
	{ "gil_found",           GS_EV_GIL_FOUND,    "gil", "interval_us", "rule", "version", "tag" },
	{ "request",             GS_EV_REQUEST,      "gil", NULL, NULL, NULL, NULL },
	{ "acquire",             GS_EV_ACQUIRE,      "gil", NULL, NULL, NULL, NULL },
	/* A request and its acquire in one record: split into both. */
	{ "take",                GS_EV_ACQUIRE,      "gil", NULL, NULL, NULL, NULL },
	/* The same, written by another thread for the one in `tid`. */
	{ "acquire_for",         GS_EV_ACQUIRE,      "gil", NULL, NULL, NULL, NULL },
	{ "take_for",            GS_EV_ACQUIRE,      "gil", NULL, NULL, NULL, NULL },
	/* A whole hold: its request (if it did not wait), acquire and
	 * release in one record: split into them. */
	{ "hold",                GS_EV_ACQUIRE,      "gil", NULL, NULL, NULL, NULL },
	/* A hold held back by the thread in `tid`, written by another. */
	{ "hold_for",            GS_EV_ACQUIRE,      "gil", NULL, NULL, NULL, NULL },
	{ "release",             GS_EV_RELEASE,      "gil", "forced", NULL, NULL, NULL },
	{ "code",                GS_EV_CODE,         NULL, "id", "firstlineno", "filename", NULL },
	{ "stack",               GS_EV_STACK,        NULL, "id", NULL, NULL, NULL },
	{ "wait_timeout",        GS_EV_WAIT_TIMEOUT, "gil", NULL, NULL, NULL, NULL },
	{ "drop_request",        GS_EV_DROP_REQUEST, "gil", "holder", "interval_us", NULL, NULL },
	{ "forced_switch_begin", GS_EV_FORCED_BEGIN, "gil", NULL, NULL, NULL, NULL },
	{ "forced_switch_end",   GS_EV_FORCED_END,   "gil", NULL, NULL, NULL, NULL },
	{ "request_abandoned",   GS_EV_ABANDONED,    "gil", NULL, NULL, NULL, NULL },
	{ "gil_retired",         GS_EV_RETIRED,      "gil", NULL, NULL, NULL, NULL },
	{ "thread_name",         GS_EV_THREAD_NAME,  NULL, "tid", NULL, "name", "tag" },
	{ "process_exit",        GS_EV_PROCESS_EXIT, NULL, "status", NULL, NULL, NULL },
	{ "resync",              GS_EV_RESYNC,       NULL, "ngils", NULL, NULL, "tag" },
	{ "gil_known",           GS_EV_GIL_KNOWN,    "gil", "interval_us", "rule", "version", "tag" },
};

/* The rest, by event type: optional for acquire and release (older
 * traces lack them), required for code and stack. */
static const struct evext {
	enum gs_ev_type type;
	const char *n3, *n4, *n5, *str2, *arr1, *arr2;
} evexts[] = {
	{ GS_EV_ACQUIRE, "code", "offset", "stack", NULL, NULL, NULL },
	{ GS_EV_RELEASE, "code", "offset", "stack", NULL, NULL, NULL },
	{ GS_EV_CODE, "lt_format", NULL, NULL, "name", "linetable", NULL },
	{ GS_EV_STACK, NULL, NULL, NULL, NULL, "codes", "offsets" },
};

/* The packed layout of the frequent events (tracer/gilscope_tp.h): their
 * integers in a 64-bit array `state` and, on acquire, take and release, a
 * 32-bit signed array `site`; each element is read as the field of the
 * same name in traces of earlier versions, which carry one field each. */
static const struct packed {
	const char *event;
	const char *state[9];
} packed[] = {
	{ "request",             { "gil", "seq", "ts" } },
	{ "wait_timeout",        { "gil", "seq", "ts" } },
	{ "forced_switch_begin", { "gil", "seq", "ts" } },
	{ "forced_switch_end",   { "gil", "seq", "ts" } },
	{ "request_abandoned",   { "gil", "seq", "ts" } },
	{ "acquire",             { "gil", "seq", "ts", "switch_number" } },
	{ "take",                { "gil", "req_seq", "req_ts", "seq", "ts", "switch_number" } },
	{ "acquire_for",         { "gil", "seq", "ts", "switch_number" } },
	{ "take_for",            { "gil", "req_seq", "req_ts", "seq", "ts", "switch_number" } },
	{ "release",             { "gil", "seq", "ts", "forced" } },
	{ "hold",                { "gil", "req_seq", "req_ts", "seq", "ts", "switch_number",
				   "rel_seq", "rel_ts", "forced" } },
};
static const char *const packed_site[] = { "code", "offset", "stack" };

/* gilscope:rare (tracer/gilscope_tp.h): the rarely written events in one
 * event type, `kind` saying which (GILSCOPE_RARE_*), the integers in the
 * sequence `v` in the order below, the string in `text`, the tag in `tag`.
 * Each kind is read as the event of its name in earlier versions' traces. */
#define RARE_KINDS 11
#define RARE_MAX_V 16
static const struct rare_kind {
	const char *event;
	const char *v[RARE_MAX_V];
	const char *text;
} rare_kinds[RARE_KINDS + 1] = {
	[1] = { "gil_found", { "gil", "interval_us", "rule" }, "version" },
	[2] = { "gil_known", { "gil", "interval_us", "rule" }, "version" },
	[3] = { "gil_retired", { "gil" }, NULL },
	[4] = { "wait_timeout", { "gil", "seq", "ts" }, NULL },
	[5] = { "request_abandoned", { "gil", "seq", "ts" }, NULL },
	[6] = { "take_for", { "gil", "req_seq", "req_ts", "seq", "ts", "switch_number",
			      "code", "offset", "stack", "tid" }, NULL },
	[7] = { "acquire_for", { "gil", "seq", "ts", "switch_number", "code", "offset", "stack",
				 "tid" }, NULL },
	[8] = { "process_exit", { "status" }, NULL },
	[9] = { "thread_name", { "tid" }, "name" },
	[10] = { "resync", { "ngils" }, NULL },
	[11] = { "hold_for", { "gil", "req_seq", "req_ts", "seq", "ts", "switch_number", "rel_seq",
			       "rel_ts", "forced", "code", "offset", "stack", "rel_code", "rel_offset",
			       "rel_stack", "tid" }, NULL },
};

/* A payload member: index in the structure (-1 absent), for a packed
 * field the element of that array member (-1: the member itself), and
 * signedness. */
struct member {
	int64_t idx;
	int64_t elem;
	int is_signed;
};

struct sclass_info;

struct class_info {
	int gilscope;          /* 0: another provider's event, skipped */
	/* A gilscope class of another layout (another version's process, two
	 * versions tracing through one session daemon): why it is not read.
	 * Its records go to the sink as GS_EV_FOREIGN, which skips them with
	 * their process or refuses the trace with this line. */
	const char *foreign;
	const struct sclass_info *si; /* its stream class's, once known */
	enum gs_ev_type type;
	struct member gil, n1, n2, str, tag;
	struct member n3, n4, n5, str2, arr1, arr2;
	struct member lt_hex; /* code: the line table as hex text (arr1 before) */
	struct member seq, ts, switch_number; /* a tracer that emits after the mutex */
	struct member req_seq, req_ts; /* take: its request's place and time */
	struct member for_tid; /* take_for, acquire_for: the thread it is for */
	int is_hold;           /* hold: its release follows, in rel_* */
	struct member rel_seq, rel_ts, rel_forced, rel_code, rel_offset, rel_stack;
	/* hold with sequences (held-back holds): 1 to HOLD_MAX holds a
	 * record, each after the first read with the next class_info of the
	 * hold_next chain, its elements shifted by one hold more */
	struct member hold_state, hold_site;
	struct class_info *hold_next;
	/* gilscope:rare: each record is read with the class_info of its kind */
	int is_rare;
	struct member rare_kind, rare_v;
	struct class_info *rare_sub[RARE_KINDS + 1];
	uint64_t rare_need;    /* a kind's: the values its records carry at least */
};

struct sclass_info {
	int has_clock;
	const bt_clock_class *clock; /* borrowed: converts carried ts */
	int discard_clock;     /* discarded-events messages have clock snapshots */
	struct member vpid, vtid, procname;
};

/* A stream's discarded-events counter, as its packets carry it, relative
 * to its first packet's: babeltrace2 reports each packet's value minus
 * the previous one's (unsigned). LTTng-UST before 2.15 may write a value
 * that is no sample of the counter: a sub-buffer that closes late (a
 * writer descheduled inside it) gets the value of whichever writer
 * commits last, often 0, never sampled (seen here: 6214, 6214, 0, 6214 in
 * full packets of 5 to 10 ms among 1 ms ones). babeltrace2 then reports
 * about 2^64, and the next packet counts again what was counted. Such a
 * packet counts nothing; the next good one counts the events beyond the
 * highest good value, over the range since the last good packet. */
struct stream_loss {
	uint64_t pos;          /* the last packet's value */
	uint64_t high;         /* the highest good value (what is counted) */
	int pending;           /* packets with no good value since high's */
	int64_t pending_start, pending_end; /* their range */
	uint64_t pending_count; /* babeltrace2's count for the first of them */
};

/* Where a stream's last packet ended (reader_tails). */
struct stream_tail {
	const char *name;      /* the stream's file, copied: streams go first */
	int64_t end_ns;
};

/* The last lookup in a per-class table (reader_memo). */
struct memo {
	const void *key;
	void *val;
};

struct reader {
	const struct trace_sink *sink;
	struct reorder *ro;
	struct trace_info *info;
	struct kmap *classes;  /* bt_event_class * -> struct class_info */
	struct kmap *sclasses; /* bt_stream_class * -> struct sclass_info */
	struct kmap *streams;  /* bt_stream * -> struct stream_loss */
	/* One-entry caches: consecutive events mostly share their classes. */
	struct memo last_class, last_sclass, last_stream;
	int64_t last_pid;      /* procname is read only when the pid changes */
	/* What a code or stack event's arrays are decoded into. */
	uint8_t linetable[GS_MAX_LINETABLE];
	uint32_t codes[GS_MAX_STACK];
	int32_t offsets[GS_MAX_STACK];
	struct ptrvec allocs;  /* every class_info, sclass_info, stream_loss, stream_tail */
	struct kmap *tails;    /* bt_stream * -> struct stream_tail */
	struct ptrvec tailv;   /* the same, in the order first seen */
	struct memo last_tail;
	int sink_failed;
	char *err;
	size_t errlen;
};

static void reader_errorf(struct reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reader_errorf(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
}

static void *reader_alloc(struct reader *r, size_t size)
{
	void *p = calloc(1, size);

	if (p && ptrvec_push(&r->allocs, p) != 0) {
		free(p);
		p = NULL;
	}
	return p;
}

/* What table holds for a class (key), the last one asked for first:
 * events come in runs of one class. A class met for the first time gets
 * a zeroed entry of size bytes, for the caller to fill (*fresh set).
 * NULL after "out of memory". */
static void *reader_memo(struct reader *r, struct kmap *table, struct memo *last,
			 const void *key, size_t size, int *fresh)
{
	void *v = key == last->key ? last->val : kmap_get(table, (uintptr_t)key, 0);

	*fresh = 0;
	if (v) {
		last->key = key;
		last->val = v;
	} else if ((v = reader_alloc(r, size)) && kmap_put(table, (uintptr_t)key, 0, v) == GS_OK) {
		*fresh = 1;
	} else {
		reader_errorf(r, "out of memory");
		v = NULL;
	}
	return v;
}

static struct member member_find(const bt_field_class *sc, const char *name)
{
	struct member m = { -1, -1, 0 };
	uint64_t n;

	if (!sc || !name || bt_field_class_get_type(sc) != BT_FIELD_CLASS_TYPE_STRUCTURE)
		return m;
	n = bt_field_class_structure_get_member_count(sc);
	for (uint64_t i = 0; i < n; i++) {
		const bt_field_class_structure_member *mem =
			bt_field_class_structure_borrow_member_by_index_const(sc, i);

		if (!strcmp(bt_field_class_structure_member_get_name(mem), name)) {
			const bt_field_class *fc =
				bt_field_class_structure_member_borrow_field_class_const(mem);

			m.idx = (int64_t)i;
			m.is_signed = bt_field_class_type_is(bt_field_class_get_type(fc),
							     BT_FIELD_CLASS_TYPE_SIGNED_INTEGER);
			return m;
		}
	}
	return m;
}

/* Element elem of the integer array `array` of sc, as a member; absent
 * (idx -1) unless the array is there and, when static, that long. A
 * sequence's (dynamic) length is a record's: checked where it is read. */
static struct member member_array_elem(const bt_field_class *sc, const char *array, int64_t elem,
				       int dynamic)
{
	struct member m = member_find(sc, array);
	const bt_field_class *fc, *ec;

	if (m.idx < 0)
		return m;
	fc = bt_field_class_structure_member_borrow_field_class_const(
		bt_field_class_structure_borrow_member_by_index_const(sc, (uint64_t)m.idx));
	if (dynamic ? !bt_field_class_type_is(bt_field_class_get_type(fc),
					      BT_FIELD_CLASS_TYPE_DYNAMIC_ARRAY)
		    : bt_field_class_get_type(fc) != BT_FIELD_CLASS_TYPE_STATIC_ARRAY ||
			      bt_field_class_array_static_get_length(fc) <= (uint64_t)elem) {
		m.idx = -1;
		return m;
	}
	ec = bt_field_class_array_borrow_element_field_class_const(fc);
	if (!bt_field_class_type_is(bt_field_class_get_type(ec), BT_FIELD_CLASS_TYPE_INTEGER)) {
		m.idx = -1;
		return m;
	}
	m.elem = elem;
	m.is_signed = bt_field_class_type_is(bt_field_class_get_type(ec),
					     BT_FIELD_CLASS_TYPE_SIGNED_INTEGER);
	return m;
}

/* Element elem of a static array or a sequence (`hold` since held-back
 * holds: a record's length is checked where it is read). */
static struct member member_elem_any(const bt_field_class *sc, const char *array, int64_t elem)
{
	struct member m = member_array_elem(sc, array, elem, 0);

	return m.idx >= 0 ? m : member_array_elem(sc, array, elem, 1);
}

/* Field `name` of event `event`: a member of that name (earlier versions,
 * and the rare events), else its element of the packed arrays. */
static struct member payload_member(const bt_field_class *sc, const char *event, const char *name)
{
	struct member m = member_find(sc, name);

	if (m.idx >= 0 || !name)
		return m;
	for (size_t i = 0; i < sizeof(packed) / sizeof(packed[0]); i++) {
		if (strcmp(packed[i].event, event))
			continue;
		for (int64_t k = 0; k < 9 && packed[i].state[k]; k++)
			if (!strcmp(packed[i].state[k], name))
				return member_elem_any(sc, "state", k);
		for (int64_t k = 0; k < (int64_t)(sizeof(packed_site) / sizeof(packed_site[0])); k++)
			if (!strcmp(packed_site[k], name))
				return member_elem_any(sc, "site", k);
	}
	return m;
}

/* payload_member for a gilscope:rare record of kind rk (0: another
 * event): name is an element of `v`, the `text` or the `tag`. */
static struct member rare_member(const bt_field_class *sc, const char *event, const char *name,
				 int rk)
{
	const struct rare_kind *k = &rare_kinds[rk];
	struct member none = { -1, -1, 0 };

	if (!rk)
		return payload_member(sc, event, name);
	if (!name)
		return none;
	if (!strcmp(name, "tag"))
		return member_find(sc, "tag");
	if (k->text && !strcmp(name, k->text))
		return member_find(sc, "text");
	for (int64_t i = 0; i < RARE_MAX_V && k->v[i]; i++)
		if (!strcmp(k->v[i], name))
			return member_array_elem(sc, "v", i, 1);
	return none;
}

static struct class_info *class_info_fill(struct reader *r, struct class_info *ci,
					  const bt_field_class *payload, const char *name,
					  const struct evdef *def, int rk);

/* gilscope:rare: a class_info for each kind, chosen per record by its
 * kind (reader_event). NULL after setting an error. */
static struct class_info *rare_info_fill(struct reader *r, struct class_info *ci,
					 const bt_field_class *payload, const char *name)
{
	const bt_field_class *vc;

	ci->rare_kind = member_find(payload, "kind");
	ci->rare_v = member_find(payload, "v");
	vc = ci->rare_v.idx < 0 ? NULL : bt_field_class_structure_member_borrow_field_class_const(
		bt_field_class_structure_borrow_member_by_index_const(payload, (uint64_t)ci->rare_v.idx));
	if (ci->rare_kind.idx < 0 || !vc ||
	    !bt_field_class_type_is(bt_field_class_get_type(vc), BT_FIELD_CLASS_TYPE_DYNAMIC_ARRAY)) {
		reader_errorf(r, "event %s lacks its kind or its values v (recorded by another "
			      "gilscope version?)", name);
		return NULL;
	}
	for (int k = 1; k <= RARE_KINDS; k++) {
		const struct evdef *def = NULL;
		struct class_info *sub = reader_alloc(r, sizeof(*sub));

		if (!sub) {
			reader_errorf(r, "out of memory");
			return NULL;
		}
		for (size_t i = 0; i < sizeof(evdefs) / sizeof(evdefs[0]); i++)
			if (!strcmp(rare_kinds[k].event, evdefs[i].name))
				def = &evdefs[i];
		if (!class_info_fill(r, sub, payload, name, def, k))
			return NULL;
		while (sub->rare_need < RARE_MAX_V && rare_kinds[k].v[sub->rare_need])
			sub->rare_need++;
		ci->rare_sub[k] = sub;
	}
	ci->is_rare = 1;
	ci->type = GS_EV_OTHER;
	ci->gilscope = 1;
	return ci;
}

/* Looks up (once per event class) what a gilscope event carries. NULL
 * after setting an error. */
static const struct class_info *class_info_get(struct reader *r, const bt_event_class *ec)
{
	struct class_info *ci;
	const char *name;
	const bt_field_class *payload;
	const struct evdef *def = NULL;
	int fresh;

	ci = reader_memo(r, r->classes, &r->last_class, ec, sizeof(*ci), &fresh);
	if (!fresh)
		return ci;
	name = bt_event_class_get_name(ec);
	if (!name || strncmp(name, PROVIDER, strlen(PROVIDER)))
		return ci;
	if (!strcmp(name + strlen(PROVIDER), "rare"))
		return rare_info_fill(r, ci, bt_event_class_borrow_payload_field_class_const(ec), name);
	for (size_t i = 0; i < sizeof(evdefs) / sizeof(evdefs[0]); i++)
		if (!strcmp(name + strlen(PROVIDER), evdefs[i].name))
			def = &evdefs[i];
	if (!def) {
		/* A newer tracer's event: counted, otherwise skipped. */
		ci->type = GS_EV_OTHER;
		ci->gil = ci->n1 = ci->n2 = ci->str = ci->tag = (struct member){ -1, -1, 0 };
		ci->n3 = ci->n4 = ci->n5 = ci->str2 = ci->arr1 = ci->arr2 = ci->lt_hex = ci->gil;
		ci->seq = ci->ts = ci->switch_number = ci->gil;
		ci->req_seq = ci->req_ts = ci->for_tid = ci->gil;
		ci->rel_seq = ci->rel_ts = ci->rel_forced = ci->gil;
		ci->rel_code = ci->rel_offset = ci->rel_stack = ci->gil;
		ci->gilscope = 1;
		return ci;
	}
	payload = bt_event_class_borrow_payload_field_class_const(ec);
	return class_info_fill(r, ci, payload, name, def, 0);
}

/* class_info_get, a class of another layout made foreign: the error it
 * set becomes ci->foreign. NULL (the error kept) when out of memory. */
static const struct class_info *class_info_or_foreign(struct reader *r, const bt_event_class *ec)
{
	const struct class_info *got = class_info_get(r, ec);
	struct class_info *ci;
	char *why;
	int fresh;

	if (got || !strcmp(r->err, "out of memory"))
		return got;
	/* The memo's entry, as class_info_fill left it: reset. */
	ci = reader_memo(r, r->classes, &r->last_class, ec, sizeof(*ci), &fresh);
	why = reader_alloc(r, strlen(r->err) + 1);
	if (!ci || !why) {
		reader_errorf(r, "out of memory");
		return NULL;
	}
	memcpy(why, r->err, strlen(r->err) + 1);
	memset(ci, 0, sizeof(*ci));
	ci->gilscope = 1;
	ci->type = GS_EV_FOREIGN;
	ci->foreign = why;
	r->err[0] = '\0';
	return ci;
}

/* ci from the payload's class for an event def (of a gilscope:rare
 * record of kind rk: its members are then elements of `v`). */
/* A member of the next hold of a record of several: one hold further in
 * `state` or `site`. */
static struct member hold_shift(struct member m, const struct class_info *ci)
{
	if (m.idx >= 0 && m.elem >= 0 && m.idx == ci->hold_state.idx)
		m.elem += HOLD_STATE;
	else if (m.idx >= 0 && m.elem >= 0 && m.idx == ci->hold_site.idx)
		m.elem += HOLD_SITE;
	return m;
}

/* nx as ci one hold further, after ci in the chain: nx. */
static struct class_info *hold_next_one(struct class_info *nx, struct class_info *ci)
{
	*nx = *ci;
	nx->gil = hold_shift(ci->gil, ci);
	nx->n3 = hold_shift(ci->n3, ci);
	nx->n4 = hold_shift(ci->n4, ci);
	nx->n5 = hold_shift(ci->n5, ci);
	nx->seq = hold_shift(ci->seq, ci);
	nx->ts = hold_shift(ci->ts, ci);
	nx->switch_number = hold_shift(ci->switch_number, ci);
	nx->req_seq = hold_shift(ci->req_seq, ci);
	nx->req_ts = hold_shift(ci->req_ts, ci);
	nx->rel_seq = hold_shift(ci->rel_seq, ci);
	nx->rel_ts = hold_shift(ci->rel_ts, ci);
	nx->rel_forced = hold_shift(ci->rel_forced, ci);
	nx->rel_code = hold_shift(ci->rel_code, ci);
	nx->rel_offset = hold_shift(ci->rel_offset, ci);
	nx->rel_stack = hold_shift(ci->rel_stack, ci);
	nx->hold_next = NULL;
	ci->hold_next = nx;
	return nx;
}

/* A `hold` with sequences: ci reads its first hold, the chain of
 * hold_next (made here) the others, up to HOLD_MAX. 0 after setting an
 * error. */
static int hold_next_fill(struct reader *r, struct class_info *ci, const bt_field_class *payload)
{
	ci->hold_state = member_find(payload, "state");
	ci->hold_site = member_find(payload, "site");
	for (int h = 1; h < HOLD_MAX; h++) {
		struct class_info *nx = reader_alloc(r, sizeof(*nx));

		if (!nx) {
			reader_errorf(r, "out of memory");
			return 0;
		}
		ci = hold_next_one(nx, ci);
	}
	return 1;
}

static struct class_info *class_info_fill(struct reader *r, struct class_info *ci,
					  const bt_field_class *payload, const char *name,
					  const struct evdef *def, int rk)
{
	const struct evext *ext = NULL;
	int is_take, is_for;

	ci->type = def->type;
	ci->gil = rare_member(payload, def->name, def->gil, rk);
	ci->n1 = rare_member(payload, def->name, def->n1, rk);
	ci->n2 = rare_member(payload, def->name, def->n2, rk);
	ci->str = rare_member(payload, def->name, def->str, rk);
	ci->tag = rare_member(payload, def->name, def->tag, rk);
	for (size_t i = 0; i < sizeof(evexts) / sizeof(evexts[0]); i++)
		if (evexts[i].type == def->type)
			ext = &evexts[i];
	ci->n3 = rare_member(payload, def->name, ext ? ext->n3 : NULL, rk);
	ci->n4 = rare_member(payload, def->name, ext ? ext->n4 : NULL, rk);
	ci->n5 = rare_member(payload, def->name, ext ? ext->n5 : NULL, rk);
	ci->str2 = rare_member(payload, def->name, ext ? ext->str2 : NULL, rk);
	ci->arr1 = rare_member(payload, def->name, ext ? ext->arr1 : NULL, rk);
	ci->lt_hex = member_find(payload, def->type == GS_EV_CODE ? "linetable_hex" : NULL);
	if (ci->lt_hex.idx >= 0)
		ci->arr1 = ci->lt_hex; /* present: the contract's line table */
	ci->arr2 = rare_member(payload, def->name, ext ? ext->arr2 : NULL, rk);
	ci->seq = rare_member(payload, def->name, "seq", rk);
	ci->ts = rare_member(payload, def->name, "ts", rk);
	ci->switch_number = rare_member(payload, def->name, def->type == GS_EV_ACQUIRE ? "switch_number" : NULL, rk);
	ci->is_hold = !strcmp(def->name, "hold") || !strcmp(def->name, "hold_for");
	is_take = !strcmp(def->name, "take") || !strcmp(def->name, "take_for") || ci->is_hold;
	is_for = !strcmp(def->name, "take_for") || !strcmp(def->name, "acquire_for") ||
		 !strcmp(def->name, "hold_for");
	ci->req_seq = rare_member(payload, def->name, is_take ? "req_seq" : NULL, rk);
	ci->req_ts = rare_member(payload, def->name, is_take ? "req_ts" : NULL, rk);
	ci->for_tid = rare_member(payload, def->name, is_for ? "tid" : NULL, rk);
	if (is_for && (ci->for_tid.idx < 0 || ci->seq.idx < 0)) {
		reader_errorf(r, "event %s lacks the tid or the seq it is written for "
			      "(recorded by another gilscope version?)", name);
		return NULL;
	}
	if (is_take &&
	    (ci->req_seq.idx < 0 || ci->req_ts.idx < 0 || ci->seq.idx < 0)) {
		reader_errorf(r, "event %s lacks its request's req_seq/req_ts or its seq "
			      "(recorded by another gilscope version?)", name);
		return NULL;
	}
	if (ci->is_hold) {
		ci->rel_seq = rare_member(payload, def->name, "rel_seq", rk);
		ci->rel_ts = rare_member(payload, def->name, "rel_ts", rk);
		ci->rel_forced = rare_member(payload, def->name, "forced", rk);
		ci->rel_code = rk ? rare_member(payload, def->name, "rel_code", rk)
				  : member_elem_any(payload, "site", 3);
		ci->rel_offset = rk ? rare_member(payload, def->name, "rel_offset", rk)
				    : member_elem_any(payload, "site", 4);
		ci->rel_stack = rk ? rare_member(payload, def->name, "rel_stack", rk)
				   : member_elem_any(payload, "site", 5);
		if (ci->rel_seq.idx < 0 || ci->rel_ts.idx < 0 || ci->rel_forced.idx < 0 ||
		    ci->rel_code.idx < 0 || ci->rel_offset.idx < 0 || ci->rel_stack.idx < 0) {
			reader_errorf(r, "event %s lacks its release's seq, ts, forced or site "
				      "(recorded by another gilscope version?)", name);
			return NULL;
		}
		if (!rk && ci->rel_seq.elem >= 0 &&
		    member_array_elem(payload, "state", 0, 1).idx >= 0 &&
		    !hold_next_fill(r, ci, payload))
			return NULL;
	}
	if ((ci->seq.idx < 0) != (ci->ts.idx < 0)) {
		reader_errorf(r, "event %s carries %s but not %s (recorded by another gilscope "
			      "version?)", name, ci->seq.idx < 0 ? "ts" : "seq",
			      ci->seq.idx < 0 ? "seq" : "ts");
		return NULL;
	}
	if ((def->gil && ci->gil.idx < 0) || (def->n1 && ci->n1.idx < 0) ||
	    (def->n2 && ci->n2.idx < 0) || (def->str && ci->str.idx < 0) ||
	    ((def->type == GS_EV_CODE || def->type == GS_EV_STACK) &&
	     ((ext->n3 && ci->n3.idx < 0) || (ext->str2 && ci->str2.idx < 0) ||
	      (ext->arr1 && ci->arr1.idx < 0) || (ext->arr2 && ci->arr2.idx < 0)))) {
		reader_errorf(r, "event %s lacks a field of the gilscope event contract "
			      "(recorded by another gilscope version?)", name);
		return NULL;
	}
	ci->gilscope = 1;
	return ci;
}

static const struct sclass_info *sclass_info_get(struct reader *r, const bt_stream *stream,
						 const char *event_name)
{
	const bt_stream_class *sc = bt_stream_borrow_class_const(stream);
	struct sclass_info *si;
	const bt_field_class *ctx;
	int fresh;

	si = reader_memo(r, r->sclasses, &r->last_sclass, sc, sizeof(*si), &fresh);
	if (!fresh)
		return si;
	si->clock = bt_stream_class_borrow_default_clock_class_const(sc);
	si->has_clock = si->clock != NULL;
	si->discard_clock = si->has_clock &&
		bt_stream_class_discarded_events_have_default_clock_snapshots(sc);
	ctx = bt_stream_class_borrow_event_common_context_field_class_const(sc);
	si->vpid = member_find(ctx, "vpid");
	si->vtid = member_find(ctx, "vtid");
	si->procname = member_find(ctx, "procname");
	if (event_name && (si->vpid.idx < 0 || si->vtid.idx < 0)) {
		reader_errorf(r, "events such as %s lack the %s context: record with "
			      "`gilscope record` (or `lttng add-context -u -t vpid -t vtid`)",
			      event_name, si->vtid.idx < 0 ? "vtid" : "vpid");
		return NULL;
	}
	if (event_name && !si->has_clock) {
		reader_errorf(r, "the stream of %s has no clock", event_name);
		return NULL;
	}
	if (!r->info->hostname[0]) {
		const bt_value *h = bt_trace_borrow_environment_entry_value_by_name_const(
			bt_stream_borrow_trace_const(stream), "hostname");

		if (h && bt_value_is_string(h))
			snprintf(r->info->hostname, sizeof(r->info->hostname), "%s",
				 bt_value_string_get(h));
	}
	return si;
}

static int64_t field_int(const bt_field *st, struct member m)
{
	const bt_field *f = bt_field_structure_borrow_member_field_by_index_const(st, (uint64_t)m.idx);

	if (m.elem >= 0)
		f = bt_field_array_borrow_element_field_by_index_const(f, (uint64_t)m.elem);

	return m.is_signed ? bt_field_integer_signed_get_value(f)
			   : (int64_t)bt_field_integer_unsigned_get_value(f);
}

static const char *field_str(const bt_field *st, struct member m)
{
	const bt_field *f;

	if (m.idx < 0)
		return NULL;
	f = bt_field_structure_borrow_member_field_by_index_const(st, (uint64_t)m.idx);
	if (bt_field_get_class_type(f) != BT_FIELD_CLASS_TYPE_STRING)
		return NULL;
	return bt_field_string_get_value(f);
}

/* Payload integer m, GS_UNKNOWN when the event class lacks it. */
static int64_t field_int_opt(const bt_field *st, struct member m)
{
	return m.idx >= 0 ? field_int(st, m) : GS_UNKNOWN;
}

/* Integer array m into out (at most max elements); its length. */
static uint32_t field_ints(const bt_field *st, struct member m, void *out, size_t elem, uint32_t max)
{
	const bt_field *f;
	uint64_t n;

	if (m.idx < 0)
		return 0;
	f = bt_field_structure_borrow_member_field_by_index_const(st, (uint64_t)m.idx);
	if (!bt_field_class_type_is(bt_field_get_class_type(f), BT_FIELD_CLASS_TYPE_ARRAY))
		return 0;
	n = bt_field_array_get_length(f);
	if (n > max)
		n = max;
	for (uint64_t i = 0; i < n; i++) {
		const bt_field *x = bt_field_array_borrow_element_field_by_index_const(f, i);
		int64_t v = bt_field_class_type_is(bt_field_get_class_type(x),
						   BT_FIELD_CLASS_TYPE_SIGNED_INTEGER)
			? bt_field_integer_signed_get_value(x)
			: (int64_t)bt_field_integer_unsigned_get_value(x);

		if (elem == 1)
			((uint8_t *)out)[i] = (uint8_t)v;
		else if (elem == 4)
			((uint32_t *)out)[i] = (uint32_t)v;
	}
	return (uint32_t)n;
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Hex text (two digits a byte) into out, at most max bytes; how many.
 * Stops at the first character that is not a hex digit pair. */
static uint32_t hex_bytes(const char *hex, uint8_t *out, uint32_t max)
{
	uint32_t n = 0;

	for (; hex && n < max && hex[0] && hex[1]; hex += 2) {
		int hi = hex_digit(hex[0]), lo = hex_digit(hex[1]);

		if (hi < 0 || lo < 0)
			break;
		out[n++] = (uint8_t)(hi << 4 | lo);
	}
	return n;
}

/* The payload into the named fields of the event's type. */
/* A site as carried (code, offset, stack; GS_UNKNOWN when absent):
 * anything out of range reads as unknown. */
static struct gs_site site_of(int64_t code, int64_t off, int64_t stack)
{
	struct gs_site s;

	s.code = code > 0 && code <= UINT32_MAX ? (uint32_t)code : 0;
	s.offset = off >= 0 && off <= INT32_MAX ? (int32_t)off : -1;
	s.stack = stack > 0 && stack <= UINT32_MAX ? (uint32_t)stack : 0;
	return s;
}

static void payload_decode(struct reader *r, const struct class_info *ci, const bt_field *payload,
			   struct gs_event *e)
{
	int64_t n1 = field_int_opt(payload, ci->n1), n2 = field_int_opt(payload, ci->n2);
	const char *str = field_str(payload, ci->str);
	int64_t tag = field_int_opt(payload, ci->tag);

	switch (e->type) {
	case GS_EV_GIL_FOUND:
	case GS_EV_GIL_KNOWN:
		e->u.gil_found.interval_us = n1;
		e->u.gil_found.rule = n2;
		e->u.gil_found.version = str;
		e->u.gil_found.tag = tag;
		break;
	case GS_EV_RELEASE:
		e->u.release.forced = n1 != 0;
		/* fall through */
	case GS_EV_ACQUIRE:
		e->site = site_of(field_int_opt(payload, ci->n3), field_int_opt(payload, ci->n4),
				  field_int_opt(payload, ci->n5));
		break;
	case GS_EV_CODE:
		e->u.code.id = (uint32_t)n1;
		e->u.code.firstlineno = (int32_t)n2;
		e->u.code.lt_format = (int)field_int_opt(payload, ci->n3);
		e->u.code.filename = str;
		e->u.code.name = field_str(payload, ci->str2);
		e->u.code.linetable = r->linetable;
		e->u.code.lt_len = ci->lt_hex.idx >= 0
			? hex_bytes(field_str(payload, ci->lt_hex), r->linetable, GS_MAX_LINETABLE)
			: field_ints(payload, ci->arr1, r->linetable, 1, GS_MAX_LINETABLE);
		break;
	case GS_EV_STACK: {
		uint32_t nc = field_ints(payload, ci->arr1, r->codes, 4, GS_MAX_STACK);
		uint32_t no = field_ints(payload, ci->arr2, r->offsets, 4, GS_MAX_STACK);

		e->u.stack.id = (uint32_t)n1;
		e->u.stack.codes = r->codes;
		e->u.stack.offsets = r->offsets;
		e->u.stack.depth = nc < no ? nc : no;
		break;
	}
	case GS_EV_DROP_REQUEST:
		e->u.drop_request.holder = (int32_t)n1;
		e->u.drop_request.interval_us = n2;
		break;
	case GS_EV_THREAD_NAME:
		e->u.thread_name.tid = (int32_t)n1;
		e->u.thread_name.name = str;
		e->u.thread_name.tag = tag;
		break;
	case GS_EV_PROCESS_EXIT:
		e->u.process_exit.status = n1;
		break;
	default:
		break;
	}
}

/* One decoded event into the per-GIL reordering (and on to the sink). */
static int reader_pass(struct reader *r, const struct gs_event *e)
{
	switch (reorder_event(r->ro, e)) {
	case 0:
		return 0;
	case -1:
		r->sink_failed = 1;
		return -1;
	default:
		reader_errorf(r, "out of memory");
		return -1;
	}
}

/* A hold record's last part: its release, after its acquire a. */
static int reader_hold_release(struct reader *r, const struct class_info *ci,
			       const struct sclass_info *si, const bt_field *payload,
			       const struct gs_event *a)
{
	struct gs_event e;
	uint64_t raw = (uint64_t)field_int(payload, ci->rel_ts);

	memset(&e, 0, sizeof(e));
	e.type = GS_EV_RELEASE;
	e.pid = a->pid;
	e.tid = a->tid;
	e.gil = a->gil;
	e.rec_ts = a->rec_ts;
	e.has_seq = 1;
	e.seq = (uint64_t)field_int(payload, ci->rel_seq);
	if (bt_clock_class_cycles_to_ns_from_origin(si->clock, raw, &e.ts)) {
		reader_errorf(r, "the rel_ts of a hold overflows");
		return -1;
	}
	e.u.release.forced = field_int(payload, ci->rel_forced) != 0;
	e.site = site_of(field_int(payload, ci->rel_code), field_int(payload, ci->rel_offset),
			 field_int(payload, ci->rel_stack));
	r->info->seq_events++;
	return reader_pass(r, &e);
}

static int reader_decode(struct reader *r, const struct class_info *ci,
			 const struct sclass_info *si, const bt_message *msg,
			 const bt_field *payload, const bt_field *ctx);

/* A record of a foreign class: only who wrote it and when, for the sink
 * to skip it with its process or refuse the trace. */
static int reader_foreign(struct reader *r, const struct class_info *ci,
			  const struct sclass_info *si, const bt_message *msg)
{
	const bt_event *ev = bt_message_event_borrow_event_const(msg);
	const bt_field *ctx = bt_event_borrow_common_context_field_const(ev);
	struct gs_event e;

	memset(&e, 0, sizeof(e));
	e.type = GS_EV_FOREIGN;
	if (bt_clock_snapshot_get_ns_from_origin(
		    bt_message_event_borrow_default_clock_snapshot_const(msg), &e.ts)) {
		reader_errorf(r, "a timestamp of %s overflows",
			      bt_event_class_get_name(bt_event_borrow_class_const(ev)));
		return -1;
	}
	e.rec_ts = e.ts;
	e.pid = (int32_t)field_int(ctx, si->vpid);
	e.tid = (int32_t)field_int(ctx, si->vtid);
	if (e.pid != r->last_pid) {
		e.procname = field_str(ctx, si->procname);
		r->last_pid = e.pid;
	}
	e.u.foreign.why = ci->foreign;
	r->info->foreign_events++;
	return reader_pass(r, &e);
}

static int reader_event(struct reader *r, const bt_message *msg)
{
	const bt_event *ev = bt_message_event_borrow_event_const(msg);
	const bt_event_class *ec = bt_event_borrow_class_const(ev);
	struct class_info *ci = (struct class_info *)class_info_or_foreign(r, ec);
	const struct sclass_info *si;
	const bt_field *payload, *ctx;

	if (!ci)
		return -1;
	if (!ci->gilscope) {
		r->info->other_events++;
		return 0;
	}
	/* An event class belongs to one stream class: look it up once. */
	si = ci->si;
	if (!si) {
		si = sclass_info_get(r, bt_event_borrow_stream_const(ev), bt_event_class_get_name(ec));
		if (!si)
			return -1;
		ci->si = si;
	}
	if (ci->foreign)
		return reader_foreign(r, ci, si, msg);
	payload = bt_event_borrow_payload_field_const(ev);
	if (ci->is_rare) {
		int64_t kind = field_int(payload, ci->rare_kind);
		const bt_field *v = bt_field_structure_borrow_member_field_by_index_const(
			payload, (uint64_t)ci->rare_v.idx);
		uint64_t nv = bt_field_array_get_length(v);

		if (kind < 1 || kind > RARE_KINDS) {
			/* A newer tracer's kind: counted, otherwise skipped. */
			r->info->other_events++;
			return 0;
		}
		if (nv < ci->rare_sub[kind]->rare_need) {
			reader_errorf(r, "a %s record of kind %s carries %" PRIu64 " values, not %" PRIu64
				      " (recorded by another gilscope version?)", bt_event_class_get_name(ec),
				      rare_kinds[kind].event, nv, ci->rare_sub[kind]->rare_need);
			return -1;
		}
		ci = ci->rare_sub[kind];
		ci->si = si;
	}
	ctx = bt_event_borrow_common_context_field_const(ev);
	if (ci->hold_next) {
		/* One hold or up to HOLD_MAX (held-back holds), each read in
		 * turn. */
		uint64_t ns = bt_field_array_get_length(bt_field_structure_borrow_member_field_by_index_const(
			payload, (uint64_t)ci->hold_state.idx));
		uint64_t nsite = bt_field_array_get_length(bt_field_structure_borrow_member_field_by_index_const(
			payload, (uint64_t)ci->hold_site.idx));
		uint64_t n = ns / HOLD_STATE;

		if (n < 1 || n > HOLD_MAX || ns != n * HOLD_STATE || nsite != n * HOLD_SITE) {
			reader_errorf(r, "a %s record carries %" PRIu64 " state and %" PRIu64 " site values, "
				      "not %d and %d for each of 1 to %d holds (recorded by another "
				      "gilscope version?)", bt_event_class_get_name(ec), ns, nsite,
				      HOLD_STATE, HOLD_SITE, HOLD_MAX);
			return -1;
		}
		for (uint64_t h = 0; h < n; h++, ci = ci->hold_next)
			if (reader_decode(r, ci, si, msg, payload, ctx))
				return -1;
		return 0;
	}
	return reader_decode(r, ci, si, msg, payload, ctx);
}

/* One record's event (a take's request and a hold's release too) into
 * the reordering. */
static int reader_decode(struct reader *r, const struct class_info *ci,
			 const struct sclass_info *si, const bt_message *msg,
			 const bt_field *payload, const bt_field *ctx)
{
	const bt_event_class *ec = bt_event_borrow_class_const(bt_message_event_borrow_event_const(msg));
	struct gs_event e;

	memset(&e, 0, sizeof(e));
	e.type = ci->type;
	if (bt_clock_snapshot_get_ns_from_origin(
		    bt_message_event_borrow_default_clock_snapshot_const(msg), &e.ts)) {
		reader_errorf(r, "a timestamp of %s overflows", bt_event_class_get_name(ec));
		return -1;
	}
	e.pid = (int32_t)field_int(ctx, si->vpid);
	e.tid = (int32_t)field_int(ctx, si->vtid);
	if (ci->for_tid.idx >= 0) /* written by another thread for this one */
		e.tid = (int32_t)field_int(payload, ci->for_tid);
	if (e.pid != r->last_pid) { /* a process is only named when first seen */
		e.procname = field_str(ctx, si->procname);
		r->last_pid = e.pid;
	}
	if (ci->gil.idx >= 0)
		e.gil = (uint64_t)field_int(payload, ci->gil);
	payload_decode(r, ci, payload, &e);
	e.rec_ts = e.ts;
	if (ci->seq.idx >= 0) {
		/* When it happened, in the same clock as the record time. */
		uint64_t raw = (uint64_t)field_int(payload, ci->ts);

		if (bt_clock_class_cycles_to_ns_from_origin(si->clock, raw, &e.ts)) {
			reader_errorf(r, "the ts of %s overflows", bt_event_class_get_name(ec));
			return -1;
		}
		e.has_seq = 1;
		e.seq = (uint64_t)field_int(payload, ci->seq);
		r->info->seq_events++;
	}
	if (ci->switch_number.idx >= 0)
		e.switch_number = (uint64_t)field_int(payload, ci->switch_number);
	if (ci->req_seq.idx >= 0 &&
	    !(ci->is_hold && (uint64_t)field_int(payload, ci->req_seq) == HOLD_NO_REQ)) {
		/* take: first the request it carries, in its own place. */
		struct gs_event q;
		uint64_t raw = (uint64_t)field_int(payload, ci->req_ts);

		memset(&q, 0, sizeof(q));
		q.type = GS_EV_REQUEST;
		q.pid = e.pid;
		q.tid = e.tid;
		q.procname = e.procname;
		q.gil = e.gil;
		q.rec_ts = e.rec_ts;
		q.has_seq = 1;
		q.seq = (uint64_t)field_int(payload, ci->req_seq);
		if (bt_clock_class_cycles_to_ns_from_origin(si->clock, raw, &q.ts)) {
			reader_errorf(r, "the req_ts of %s overflows", bt_event_class_get_name(ec));
			return -1;
		}
		r->info->seq_events++;
		e.procname = NULL; /* named once, by the request */
		if (reader_pass(r, &q))
			return -1;
	}
	if (!ci->is_hold)
		return reader_pass(r, &e);
	return reader_pass(r, &e) || reader_hold_release(r, ci, si, payload, &e);
}

/* A count that cannot be true: more than 2^62, or more than one event
 * per nanosecond of the range it was lost in (a discarded event still
 * costs its writer a failed reservation, tens of nanoseconds). */
static int loss_impossible(uint64_t n, const struct gs_loss *l)
{
	if (n >= GS_LOSS_IMPOSSIBLE)
		return 1;
	return l->start_ns != GS_UNKNOWN && l->end_ns != GS_UNKNOWN &&
	       l->end_ns >= l->start_ns && n > (uint64_t)(l->end_ns - l->start_ns) + 1;
}

/* Sets l->count from babeltrace2's count for stream (struct
 * stream_loss): 1 when the packet's value is no sample of the counter
 * (below the highest good one, or a count that cannot be true) and the
 * loss is left to the next good packet, 0 to report l, -1 on error. */
static int reader_loss_count(struct reader *r, const bt_stream *stream, uint64_t count,
			     struct gs_loss *l)
{
	int fresh;
	struct stream_loss *sl = reader_memo(r, r->streams, &r->last_stream, stream,
					     sizeof(*sl), &fresh);
	uint64_t beyond;

	if (!sl)
		return -1;
	sl->pos += count; /* modulo 2^64, as babeltrace2 subtracts */
	beyond = sl->pos - sl->high;
	if (beyond == 0) { /* back to the good value: nothing more lost */
		sl->pending = 0;
		return 1;
	}
	if (loss_impossible(beyond, l)) { /* 2^63 and more: below high */
		if (!sl->pending) {
			sl->pending = 1;
			sl->pending_start = l->start_ns;
			sl->pending_count = count;
		}
		sl->pending_end = l->end_ns;
		return 1;
	}
	l->count = beyond;
	sl->high = sl->pos;
	if (sl->pending && sl->pending_start != GS_UNKNOWN && l->start_ns != GS_UNKNOWN &&
	    sl->pending_start < l->start_ns)
		l->start_ns = sl->pending_start; /* lost since the last good packet */
	sl->pending = 0;
	return 0;
}

/* A stream ended after packets with no good value: what they lost is
 * unknown, and said so (a loss of count 0, its impossible count kept). */
static int reader_stream_end(struct reader *r, const bt_message *msg)
{
	const bt_stream *stream = bt_message_stream_end_borrow_stream_const(msg);
	struct stream_loss *sl = kmap_get(r->streams, (uintptr_t)stream, 0);
	struct gs_loss l = { bt_stream_get_name(stream), GS_UNKNOWN, GS_UNKNOWN, 0, 0, 0, 0, 0 };
	char name[64];

	if (!sl || !sl->pending)
		return 0;
	if (!l.stream) {
		snprintf(name, sizeof(name), "stream %" PRIu64, bt_stream_get_id(stream));
		l.stream = name;
	}
	l.start_ns = sl->pending_start;
	l.end_ns = sl->pending_end;
	l.impossible = sl->pending_count;
	sl->pending = 0;
	if (r->sink->loss(r->sink->ctx, &l)) {
		r->sink_failed = 1;
		return -1;
	}
	return 0;
}

/* Keeps where each stream's last packet ended: a recording's stop
 * flushes every stream (lttng_stop_tracing), so all of them end within
 * a few hundred microseconds of each other. */
static int reader_packet_end(struct reader *r, const bt_message *msg)
{
	const bt_packet *pkt = bt_message_packet_end_borrow_packet_const(msg);
	const bt_stream *stream = bt_packet_borrow_stream_const(pkt);
	struct stream_tail *t;
	int64_t ns;
	int fresh;

	if (!bt_stream_class_packets_have_end_default_clock_snapshot(
		    bt_stream_borrow_class_const(stream)) ||
	    bt_clock_snapshot_get_ns_from_origin(
		    bt_message_packet_end_borrow_default_clock_snapshot_const(msg), &ns))
		return 0;
	if (!(t = reader_memo(r, r->tails, &r->last_tail, stream, sizeof(*t), &fresh)))
		return -1;
	if (fresh) {
		const char *name = bt_stream_get_name(stream);
		char id[64];
		size_t len;

		if (!name) {
			snprintf(id, sizeof(id), "stream %" PRIu64, bt_stream_get_id(stream));
			name = id;
		}
		len = strlen(name) + 1;
		if (!(t->name = reader_alloc(r, len)) || ptrvec_push(&r->tailv, t)) {
			reader_errorf(r, "out of memory");
			return -1;
		}
		memcpy((char *)t->name, name, len);
		t->end_ns = ns;
	}
	if (ns > t->end_ns)
		t->end_ns = ns;
	return 0;
}

/* A stream whose packets end well before the others' lost its last ones:
 * LTTng wrote no packet of it after that (one writer's event left
 * uncommitted in the shared per-user ring, e.g. a process killed while
 * writing, stops the consumer at that sub-buffer) and counted nothing.
 * Each such stream is a loss of unknown size from its end to the
 * trace's. Not for snapshots, whose streams end where their CPU's
 * events did. */
static int reader_tails(struct reader *r)
{
	int64_t last = INT64_MIN;

	for (size_t i = 0; i < r->tailv.n; i++) {
		const struct stream_tail *t = r->tailv.v[i];

		if (t->end_ns > last)
			last = t->end_ns;
	}
	for (size_t i = 0; i < r->tailv.n; i++) {
		const struct stream_tail *t = r->tailv.v[i];
		struct gs_loss l = { t->name, t->end_ns, last, 0, 0, 0, 1, 0 };

		/* Before the stop (gilscope.info's stop_clock): it never got
		 * the stop's flush. Older recorders: a stream that the stop's
		 * flush closed ended there, the flush late to it (a loaded
		 * consumer), nothing lost. */
		int before = tails_before_stop(t->name);
		if (!before || (before < 0 && (last - t->end_ns <= GS_TAIL_SLACK_NS ||
					       tails_switched(t->name) == 0)))
			continue;
		if (r->sink->loss(r->sink->ctx, &l))
			return -1;
	}
	return 0;
}

/* A stream whose packet index lists none, and of which babeltrace2 read
 * none (an empty stream file: it skips them), lost all it had: the stop's
 * flush writes a packet in every stream, an empty one for an idle CPU
 * (tails.h). A loss of unknown size over the whole trace. */
static int reader_empty_one(void *ctx, const char *stream)
{
	struct reader *r = ctx;
	int64_t last = INT64_MIN;
	struct gs_loss l = { stream, GS_UNKNOWN, GS_UNKNOWN, 0, 0, 0, GS_TAIL_NONE, 0 };

	for (size_t i = 0; i < r->tailv.n; i++) {
		const struct stream_tail *t = r->tailv.v[i];

		if (!strcmp(t->name, stream))
			return 0;
		if (t->end_ns > last)
			last = t->end_ns;
	}
	if (last != INT64_MIN)
		l.end_ns = last;
	return r->sink->loss(r->sink->ctx, &l);
}

static int reader_empty(struct reader *r, const char *const *dirs, size_t n)
{
	char err[512];

	for (size_t i = 0; i < n; i++)
		if (tails_empty(dirs[i], reader_empty_one, r, err, sizeof(err)) < 0) {
			/* The sink's own error, or an index that cannot be read:
			 * babeltrace2 read the trace, say nothing more of it. */
			if (err[0])
				continue;
			return -1;
		}
	return 0;
}

static int reader_discarded(struct reader *r, const bt_message *msg, int packets)
{
	const bt_stream *stream = packets ? bt_message_discarded_packets_borrow_stream_const(msg)
					  : bt_message_discarded_events_borrow_stream_const(msg);
	const struct sclass_info *si = sclass_info_get(r, stream, NULL);
	struct gs_loss l = { bt_stream_get_name(stream), GS_UNKNOWN, GS_UNKNOWN, 0, 0, packets, 0, 0 };
	char name[64];

	if (!si)
		return -1;
	if (!l.stream) {
		snprintf(name, sizeof(name), "stream %" PRIu64, bt_stream_get_id(stream));
		l.stream = name;
	}
	if (!packets) {
		uint64_t count;
		int skip;

		if (si->discard_clock) {
			if (bt_clock_snapshot_get_ns_from_origin(
				bt_message_discarded_events_borrow_beginning_default_clock_snapshot_const(msg),
				&l.start_ns) ||
			    bt_clock_snapshot_get_ns_from_origin(
				bt_message_discarded_events_borrow_end_default_clock_snapshot_const(msg),
				&l.end_ns))
				l.start_ns = l.end_ns = GS_UNKNOWN;
		}
		if (bt_message_discarded_events_get_count(msg, &count) ==
		    BT_PROPERTY_AVAILABILITY_AVAILABLE &&
		    (skip = reader_loss_count(r, stream, count, &l)) != 0)
			return skip < 0 ? -1 : 0;
	} else if (bt_stream_class_discarded_packets_have_default_clock_snapshots(
			   bt_stream_borrow_class_const(stream))) {
		if (bt_clock_snapshot_get_ns_from_origin(
			bt_message_discarded_packets_borrow_beginning_default_clock_snapshot_const(msg),
			&l.start_ns) ||
		    bt_clock_snapshot_get_ns_from_origin(
			bt_message_discarded_packets_borrow_end_default_clock_snapshot_const(msg),
			&l.end_ns))
			l.start_ns = l.end_ns = GS_UNKNOWN;
	}
	if (r->sink->loss(r->sink->ctx, &l)) {
		r->sink_failed = 1;
		return -1;
	}
	return 0;
}

static bt_graph_simple_sink_component_consume_func_status
reader_consume(bt_message_iterator *it, void *data)
{
	struct reader *r = data;
	bt_message_array_const msgs;
	uint64_t count = 0;
	int failed = 0;

	switch (bt_message_iterator_next(it, &msgs, &count)) {
	case BT_MESSAGE_ITERATOR_NEXT_STATUS_OK:
		break;
	case BT_MESSAGE_ITERATOR_NEXT_STATUS_END:
		return BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_END;
	case BT_MESSAGE_ITERATOR_NEXT_STATUS_AGAIN:
		return BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_AGAIN;
	case BT_MESSAGE_ITERATOR_NEXT_STATUS_MEMORY_ERROR:
		return BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_MEMORY_ERROR;
	default:
		return BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_ERROR;
	}
	for (uint64_t i = 0; i < count; i++) {
		const bt_message *msg = msgs[i];

		if (!failed) {
			switch (bt_message_get_type(msg)) {
			case BT_MESSAGE_TYPE_EVENT:
				failed = reader_event(r, msg);
				break;
			case BT_MESSAGE_TYPE_DISCARDED_EVENTS:
				failed = reader_discarded(r, msg, 0);
				break;
			case BT_MESSAGE_TYPE_DISCARDED_PACKETS:
				failed = reader_discarded(r, msg, 1);
				break;
			case BT_MESSAGE_TYPE_STREAM_END:
				failed = reader_stream_end(r, msg);
				break;
			case BT_MESSAGE_TYPE_PACKET_END:
				failed = r->sink->tails && reader_packet_end(r, msg);
				break;
			default:
				break;
			}
		}
		bt_message_put_ref(msg); /* every message we were given, even after a failure */
	}
	return failed ? BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_ERROR
		      : BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_OK;
}

/* babeltrace2's messages end with debugging key=value pairs
 * ("...: msg-it-addr=0x..., magic=..."): keep the words before them. */
static void strip_debug_tail(char *m)
{
	char *addr = strstr(m, "-addr=");

	if (!addr)
		return;
	while (addr > m && !(addr[0] == ':' && addr[1] == ' '))
		addr--;
	if (addr > m)
		*addr = '\0';
}

/* The file a cause names between quotes ('x' or `x`), if any. */
static int cause_file(const char *m, char *out, size_t len)
{
	const char *p = strstr(m, "file ");
	const char *q;
	char quote;

	if (!p || (p[5] != '\'' && p[5] != '`'))
		return 0;
	quote = p[5] == '`' ? '`' : '\'';
	p += 6;
	q = strchr(p, quote);
	if (!q)
		return 0;
	snprintf(out, len, "%.*s", (int)(q - p), p);
	return 1;
}

/* Copies babeltrace2's causes into one line: the root cause (the first
 * appended, index 0) says what is wrong, and the first cause naming a
 * stream file says where; the others only say who passed it on. */
static void reader_take_bt_error(struct reader *r, const char *what, int verbose)
{
	const bt_error *error = bt_current_thread_take_error();
	char root[512] = "", file[512] = "";
	uint64_t n;

	if (!error) {
		reader_errorf(r, "%s", what);
		return;
	}
	n = bt_error_get_cause_count(error);
	for (uint64_t i = 0; i < n; i++) {
		const bt_error_cause *c = bt_error_borrow_cause_by_index(error, i);
		const char *m = bt_error_cause_get_message(c);

		if (verbose)
			fprintf(stderr, "gilscope analyze: babeltrace2 cause %" PRIu64 ": [%s] %s\n",
				i, bt_error_cause_get_module_name(c), m);
		if (!m || !*m)
			continue;
		if (!root[0]) {
			snprintf(root, sizeof(root), "%s", m);
			strip_debug_tail(root);
		}
		if (!file[0])
			cause_file(m, file, sizeof(file));
	}
	if (file[0] && !strstr(root, file))
		reader_errorf(r, "%s: %s (in %s)", what, root[0] ? root : "(no cause given)", file);
	else
		reader_errorf(r, "%s: %s", what, root[0] ? root : "(no cause given)");
	/* Causes can span lines: keep the promise of one line. */
	for (char *p = r->err; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	bt_error_release(error);
}

enum trace_read_status trace_read(const char *const *dirs, size_t n,
				  const struct trace_sink *sink,
				  struct trace_info *info, int verbose,
				  char *err, size_t errlen)
{
	enum trace_read_status st = TRACE_READ_ERROR;
	struct reader r = { .sink = sink, .info = info, .err = err, .errlen = errlen, .last_pid = -1 };
	const bt_plugin *ctf_plugin = NULL, *utils_plugin = NULL;
	const bt_component_class_source *fs_cls = NULL;
	const bt_component_class_filter *muxer_cls = NULL;
	const bt_component_filter *muxer = NULL;
	const bt_component_sink *simple = NULL;
	bt_graph *graph = NULL;
	bt_value *params = NULL;
	bt_graph_run_status rs;

	memset(info, 0, sizeof(*info));
	info->bad_dir = SIZE_MAX;
	err[0] = '\0';
	r.classes = kmap_new();
	r.sclasses = kmap_new();
	r.streams = kmap_new();
	r.tails = kmap_new();
	r.ro = reorder_new(sink);
	graph = bt_graph_create(0);
	if (!r.classes || !r.sclasses || !r.streams || !r.tails || !r.ro || !graph) {
		reader_errorf(&r, "out of memory");
		goto end;
	}
	if (bt_plugin_find("ctf", BT_TRUE, BT_TRUE, BT_TRUE, BT_TRUE, BT_TRUE, &ctf_plugin) ==
	    BT_PLUGIN_FIND_STATUS_OK)
		fs_cls = bt_plugin_borrow_source_component_class_by_name_const(ctf_plugin, "fs");
	if (bt_plugin_find("utils", BT_TRUE, BT_TRUE, BT_TRUE, BT_TRUE, BT_TRUE, &utils_plugin) ==
	    BT_PLUGIN_FIND_STATUS_OK)
		muxer_cls = bt_plugin_borrow_filter_component_class_by_name_const(utils_plugin, "muxer");
	if (!fs_cls || !muxer_cls) {
		reader_take_bt_error(&r, "cannot find babeltrace2's ctf and utils plugins "
				     "(is the babeltrace2 package complete?)", verbose);
		goto end;
	}
	if (bt_graph_add_filter_component(graph, muxer_cls, "muxer", NULL, BT_LOGGING_LEVEL_NONE, &muxer) !=
	    BT_GRAPH_ADD_COMPONENT_STATUS_OK) {
		reader_take_bt_error(&r, "cannot create the muxer", verbose);
		goto end;
	}
	for (size_t i = 0; i < n; i++) {
		const bt_component_source *src = NULL;
		bt_value *inputs = NULL;
		char name[32];
		uint64_t nports;

		params = bt_value_map_create();
		if (!params ||
		    bt_value_map_insert_empty_array_entry(params, "inputs", &inputs) ||
		    bt_value_array_append_string_element(inputs, dirs[i])) {
			reader_errorf(&r, "out of memory");
			goto end;
		}
		snprintf(name, sizeof(name), "src%zu", i);
		/* Sources log nothing: their errors come back as causes. */
		if (bt_graph_add_source_component(graph, fs_cls,
						  name, params, BT_LOGGING_LEVEL_NONE, &src) !=
		    BT_GRAPH_ADD_COMPONENT_STATUS_OK) {
			char what[512];

			snprintf(what, sizeof(what), "cannot open the CTF trace %s", dirs[i]);
			reader_take_bt_error(&r, what, verbose);
			/* babeltrace2 says no more than "Cannot create trace"
			 * when the metadata does not parse or a stream's first
			 * header is damaged: say where to look. */
			if (strstr(r.err, "Cannot create trace"))
				reader_errorf(&r, "the trace is corrupt at %s: babeltrace2 cannot "
					      "open it (its metadata, or the header of a stream, is "
					      "damaged)", dirs[i]);
			info->bad_dir = i;
			st = TRACE_READ_OPEN_ERROR;
			goto end;
		}
		BT_VALUE_PUT_REF_AND_RESET(params);
		nports = bt_component_source_get_output_port_count(src);
		for (uint64_t p = 0; p < nports; p++) {
			const bt_port_output *out = bt_component_source_borrow_output_port_by_index_const(src, p);
			/* The muxer always offers one free input port, its last. */
			const bt_port_input *in = bt_component_filter_borrow_input_port_by_index_const(
				muxer, bt_component_filter_get_input_port_count(muxer) - 1);

			if (bt_graph_connect_ports(graph, out, in, NULL) != BT_GRAPH_CONNECT_PORTS_STATUS_OK) {
				reader_take_bt_error(&r, "cannot connect a trace to the muxer", verbose);
				goto end;
			}
		}
	}
	if (bt_graph_add_simple_sink_component(graph, "gilscope", NULL, reader_consume, NULL,
					       &r, &simple) != BT_GRAPH_ADD_COMPONENT_STATUS_OK ||
	    bt_graph_connect_ports(graph,
				   bt_component_filter_borrow_output_port_by_index_const(muxer, 0),
				   bt_component_sink_borrow_input_port_by_index_const(simple, 0),
				   NULL) != BT_GRAPH_CONNECT_PORTS_STATUS_OK) {
		reader_take_bt_error(&r, "cannot build the babeltrace2 graph", verbose);
		goto end;
	}
	do {
		rs = bt_graph_run(graph);
	} while (rs == BT_GRAPH_RUN_STATUS_AGAIN);
	if (rs != BT_GRAPH_RUN_STATUS_OK) {
		if (r.sink_failed) {
			bt_current_thread_clear_error();
			st = TRACE_READ_SINK_ERROR;
		} else if (err[0]) {
			bt_current_thread_clear_error(); /* our own message says it */
		} else {
			reader_take_bt_error(&r, "cannot read the trace (truncated or corrupt?)", verbose);
		}
		goto end;
	}
	if (reorder_finish(r.ro) ||
	    (r.sink->tails && (reader_tails(&r) || reader_empty(&r, dirs, n)))) {
		st = TRACE_READ_SINK_ERROR;
		goto end;
	}
	st = TRACE_READ_OK;
end:
	if (r.ro) {
		struct reorder_stats ros;

		reorder_get_stats(r.ro, &ros);
		info->reordered = ros.reordered;
		info->seq_gaps = r.sink->kept ? reorder_gaps_of(r.ro, r.sink->kept, r.sink->ctx) : ros.gaps;
		info->seq_late = ros.late;
	}
	reorder_free(r.ro);
	bt_value_put_ref(params);
	bt_graph_put_ref(graph);
	bt_plugin_put_ref(ctf_plugin);
	bt_plugin_put_ref(utils_plugin);
	kmap_free(r.classes);
	kmap_free(r.sclasses);
	kmap_free(r.streams);
	kmap_free(r.tails);
	free(r.tailv.v);
	for (size_t i = 0; i < r.allocs.n; i++)
		free(r.allocs.v[i]);
	free(r.allocs.v);
	return st;
}
