/* The analyzer's entities (processes, threads, GILs, a thread's state on
 * a GIL, a GIL's reorder window) are each kept twice: in a list that owns
 * them, in the order they were made, and in a map that finds them. */
#ifndef GILSCOPE_ENTITY_H
#define GILSCOPE_ENTITY_H

#include <stdint.h>
#include <stdlib.h>

#include "kmap.h"
#include "ptrvec.h"

/* A zeroed entity of size bytes, appended to all and put in map at (a, b)
 * (replacing what was there); NULL out of memory, nothing kept. */
static inline void *entity_new(struct ptrvec *all, struct kmap *map, uint64_t a, uint64_t b,
			       size_t size)
{
	void *e = calloc(1, size);

	if (e && ptrvec_push(all, e) != 0) {
		free(e);
		e = NULL;
	}
	if (e && kmap_put(map, a, b, e) != GS_OK) {
		all->n--;
		free(e);
		e = NULL;
	}
	return e;
}

#endif
