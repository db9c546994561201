/* Taking the stop signals for the length of a recording and giving them
 * back as they were: the recorders (record.c, attach.c) pass them on to
 * the command, or end the recording on them. */
#ifndef GILSCOPE_SIGSAVE_H
#define GILSCOPE_SIGSAVE_H

#include <signal.h>
#include <string.h>

#define SIGSAVE_MAX 4

struct sigsave {
	int n;                   /* 0: nothing taken */
	int sig[SIGSAVE_MAX];
	struct sigaction old[SIGSAVE_MAX];
};

/* Installs sa for sigs[0..n) (n <= SIGSAVE_MAX), keeping what was there. */
static inline void sigsave_take(struct sigsave *s, const int *sigs, int n,
				const struct sigaction *sa)
{
	for (s->n = 0; s->n < n && s->n < SIGSAVE_MAX; s->n++) {
		s->sig[s->n] = sigs[s->n];
		sigaction(sigs[s->n], sa, &s->old[s->n]);
	}
}

/* Puts back what sigsave_take() found; nothing when it was not called. */
static inline void sigsave_give_back(struct sigsave *s)
{
	for (int i = 0; i < s->n; i++)
		sigaction(s->sig[i], &s->old[i], NULL);
	s->n = 0;
}

#endif
