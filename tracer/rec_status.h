/* What the recorder library's functions return (record.h, attach.h,
 * sessiond.h, recording.h): REC_OK, or REC_FAILED once one line (on
 * stderr, or in the caller's err buffer) said what failed and why. */
#ifndef GILSCOPE_REC_STATUS_H
#define GILSCOPE_REC_STATUS_H

enum rec_status {
	REC_OK = 0,
	REC_FAILED = -1,
};

#endif
