/* What the two recorders (record.c: a command it starts; attach.c:
 * processes already running) share: the info file beside the trace and
 * the end of a recording. Internal to the recorder library. */
#ifndef GILSCOPE_RECORDING_H
#define GILSCOPE_RECORDING_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "session.h"
#include "sessiond.h"
#include "sigsave.h"

/* Now, UTC, as the info file's start_time: "2026-12-01T10:40:05Z". */
void recording_start_time(char *buf, size_t len);

/* Writes s (at most n bytes, up to its NUL) with backslash and newline
 * escaped, so that one value stays on one line of the info file. */
void info_put_escaped(FILE *f, const char *s, size_t n);

/* The info file's "lost_events=" line: the count, or "unknown" when
 * LTTng's count could not be true (RECORD_LOST_UNKNOWN). */
void info_put_lost(FILE *f, uint64_t lost);

/* The line stop_clock=N: the trace clock when the recorder asked LTTng to
 * stop (a stream whose last packet ends before it never got the stop's
 * flush: tails_before_stop); nothing for 0 (no stop). */
void info_put_stop(FILE *f, uint64_t stop_clock);

/* Creates DIR/gilscope.info (its path into path) and writes the lines
 * every recording has: the version, "key=value" (what kind of recording),
 * the start time and the host; the caller goes on with "hostname="'s
 * line end and its own lines. NULL after one line starting with pfx. */
FILE *info_begin(const char *pfx, const char *dir, const char *key, const char *value,
		 const char *start, char *path, size_t pathlen);

/* Closes what info_begin() opened: REC_OK, or REC_FAILED after one line. */
enum rec_status info_end(const char *pfx, FILE *f, const char *path);

/* The end of every recording, whatever happened before: stops and
 * destroys the session (flushing its buffers; the events it lost into
 * *lost), drops the daemon and gives the stop signals back. REC_OK, or
 * REC_FAILED when the session could not be torn down (one line said why). */
enum rec_status recording_end(const char *pfx, struct gs_session *s, struct sessiond *d,
		  struct sigsave *saved, uint64_t *lost);

struct record_result;

/* After the session's end: counts the trace's streams into res->streams.
 * None while res->traced CPython processes ran (pids: the first npids of
 * them) means none of them completed its registration with the session
 * daemon before it ended (LTTng makes a session's streams then): one line
 * says so and res->lost becomes RECORD_LOST_UNKNOWN. */
void recording_streams(const char *pfx, struct record_result *res, const pid_t *pids,
		       size_t npids);

struct life;

/* After the session's end, for a recording whose traced processes said
 * so (lives, as the preload's marks gave them; tag: the recording's):
 * recording_streams(), then which of them the trace holds no event of
 * (lives.h): their number and first pids into res->unrecorded (-1 when
 * the trace could not be checked: why in res->unchecked). */
void recording_lives(const char *pfx, struct record_result *res, uint32_t tag, struct life *lives,
		     size_t n);

/* The info file's "unrecorded_processes=" line (a number, or "unknown")
 * and, when there are any, "unrecorded_pids=" with all of them. */
void info_put_unrecorded(FILE *f, const struct record_result *res, const struct life *lives,
			 size_t n);

#endif
