/* Runs a piece of work in a child process, so that an abort or a crash
 * inside a library (libbabeltrace2 asserts on some corrupt traces) becomes
 * a message instead of the death of the command. The child's stderr comes
 * back through a pipe: our own lines ("gilscope ..." and progress lines
 * starting with '\r') are passed on as they come; anything else a library
 * prints is held, and becomes the reason when the child dies by a signal
 * (passed on at the end otherwise). */
#ifndef GILSCOPE_ISOLATE_H
#define GILSCOPE_ISOLATE_H

#include <limits.h>

#include "status.h"

struct isolate_result {
	int signal;            /* the signal the child died of, 0 if it exited */
	int status;            /* its exit status when it exited */
	char temp[PATH_MAX];   /* the last temp file it announced, "" if none */
	char reason[512];      /* what a library printed before the signal, one line */
};

/* Runs fn(arg) in a child and waits; the child's exit status is fn's
 * return value. With pass_on, the child's own lines go to our stderr (and
 * a library's, at the end, if it exited); without, nothing is printed.
 * Returns GS_OK when the child ran (res says how it ended), GS_ERR_SYSTEM
 * when it could not be started or waited for (res->reason says why). */
enum gs_status isolate_run(int (*fn)(void *arg), void *arg, int pass_on,
			   struct isolate_result *res);

/* In the child: tells the parent the temp file it is writing, which the
 * parent removes if the child dies by a signal. Does nothing elsewhere. */
void isolate_announce_temp(const char *path);

#endif
