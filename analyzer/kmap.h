/* A small open-addressing hash map from a pair of 64-bit keys to a
 * pointer: processes by pid, threads by (pid, tid), GILs by (pid, address)
 * and per-GIL thread states by (gil, tid). Entries are never removed. */
#ifndef GILSCOPE_KMAP_H
#define GILSCOPE_KMAP_H

#include <stdint.h>

#include "status.h"

struct kmap;

struct kmap *kmap_new(void);
void kmap_free(struct kmap *m);
void *kmap_get(const struct kmap *m, uint64_t a, uint64_t b);
/* Sets (a, b) to v, replacing any value: GS_OK or GS_ERR_NOMEM. */
enum gs_status kmap_put(struct kmap *m, uint64_t a, uint64_t b, void *v);

#endif
