/* A growing array of pointers: the analyzer's lists of what it keeps
 * (processes, threads, GILs, sites, stacks), freed by their owners. */
#ifndef GILSCOPE_PTRVEC_H
#define GILSCOPE_PTRVEC_H

#include <stddef.h>
#include <stdlib.h>

struct ptrvec {
	void **v;
	size_t n, cap;
};

/* Appends p. 0, or -1 out of memory (pv unchanged). */
static inline int ptrvec_push(struct ptrvec *pv, void *p)
{
	if (pv->n == pv->cap) {
		size_t ncap = pv->cap ? 2 * pv->cap : 16;
		void **nv = realloc(pv->v, ncap * sizeof(*nv));

		if (!nv)
			return -1;
		pv->v = nv;
		pv->cap = ncap;
	}
	pv->v[pv->n++] = p;
	return 0;
}

#endif
