/* Makes a session's per-user ring buffers before the command starts.
 *
 * With per-UID buffers, lttng-sessiond asks its consumer to create a
 * channel's ring buffers when the first application of that user (and
 * word size) registers while the session is active (lttng-tools 2.13,
 * dispatch.c update_ust_app(), ust-app.c create_channel_per_uid()), and
 * only then answers the application's registration: that first process
 * waits in liblttng-ust's constructor for all of it (seconds at a load
 * of 6, more with larger buffers), past LTTNG_UST_REGISTER_TIMEOUT it
 * runs untraced. A throw-away process that loads liblttng-ust (and no
 * probe: it declares no event) pays that wait instead. */
#ifndef GILSCOPE_PREREGISTER_H
#define GILSCOPE_PREREGISTER_H

#include "rec_status.h"

/* How long the recorder waits for it before it starts the command all
 * the same (a stalled daemon must not hold the recording forever). */
#define PREREGISTER_WAIT_MS 30000

/* Runs the throw-away process in env (the command's environment: the
 * same session daemon; LD_PRELOAD dropped, LTTNG_UST_REGISTER_TIMEOUT
 * made -1) and waits until its registration is done. REC_OK then;
 * REC_FAILED after one line on stderr (the command may then wait as
 * before, nothing else is lost). */
enum rec_status preregister_run(const char *pfx, char *const *env);

#endif
