/* Code sites and stacks (analyzer/sites.c): the tracer's per-process code
 * and stack ids turned into run-wide sites (file, function, line) and
 * stacks (lists of sites), with what the GIL did at each. */
#ifndef GILSCOPE_SITES_H
#define GILSCOPE_SITES_H

#include <stdint.h>

#include "db.h"
#include "status.h"
#include "trace_reader.h"

struct sites;
struct site;
struct stack;

struct sites *sites_new(void);
void sites_free(struct sites *ss);

/* Process pid exited: its code and stack ids are no longer needed (the
 * sites and stacks they led to stay). */
void sites_forget(struct sites *ss, int32_t pid);

/* A code or stack event of process pid. */
enum gs_status sites_code(struct sites *ss, int32_t pid, const struct gs_event *ev);
enum gs_status sites_stack(struct sites *ss, int32_t pid, const struct gs_event *ev);

/* What an acquire's or release's gs_site points at in process pid; NULL
 * when unknown (no code location, or its description was lost). *err is
 * set out of memory. */
struct site *sites_site(struct sites *ss, int32_t pid, const struct gs_site *at, int *err);
struct stack *sites_stack_of(struct sites *ss, int32_t pid, const struct gs_site *at);
/* Their ids in the database; GS_UNKNOWN for NULL. */
int64_t site_id(const struct site *s);
int64_t stack_id(const struct stack *s);

/* "hog.py:13 in spin" (the file's last component; no ":line" when the
 * line is unknown), cleaned for a terminal; "" for NULL. */
const char *site_label(const struct site *s, char *buf, size_t len);
/* The source line's text, when its file is readable here: GS_OK, else
 * GS_ERR_INPUT. */
enum gs_status site_source(const struct site *s, char *buf, size_t len);

/* The innermost frame of st that is the program's own code (not under a
 * lib/pythonX.Y/ directory, not frozen), when the innermost frame itself
 * is not; NULL otherwise: "called from" this. */
const struct site *stack_caller(const struct stack *st);

/* The site where the most GIL time was held until (held) or waited at
 * (!held), NULL if none: what the run-wide findings name. */
const struct site *sites_top(const struct sites *ss, int held);

/* What happened there. Each takes NULL and does nothing. */
void site_hold_ended(struct site *s, struct stack *st, int64_t dur);
void site_hold_started(struct site *s);
void site_released(struct site *s, int forced);
void site_off(struct site *s, int64_t dur);    /* without the GIL after a voluntary release */
void site_waited(struct site *s, struct stack *st, int64_t dur);

/* Writes code_sites, stacks and stack_frames for run_id. */
enum gs_status sites_write(struct sites *ss, struct db *db, int64_t run_id);

#endif
