#include "kmap.h"

#include <stdlib.h>

struct kmap_entry {
	uint64_t a, b;
	void *v; /* NULL: empty slot */
};

struct kmap {
	struct kmap_entry *e;
	uint64_t mask, n;
};

static uint64_t hash(uint64_t a, uint64_t b)
{
	uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL);

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 29);
}

struct kmap *kmap_new(void)
{
	struct kmap *m = calloc(1, sizeof(*m));

	if (m && !(m->e = calloc(64, sizeof(*m->e)))) {
		free(m);
		m = NULL;
	}
	if (m)
		m->mask = 63;
	return m;
}

void kmap_free(struct kmap *m)
{
	if (!m)
		return;
	free(m->e);
	free(m);
}

static struct kmap_entry *find(const struct kmap *m, uint64_t a, uint64_t b)
{
	for (uint64_t i = hash(a, b) & m->mask;; i = (i + 1) & m->mask) {
		struct kmap_entry *e = &m->e[i];

		if (!e->v || (e->a == a && e->b == b))
			return e;
	}
}

void *kmap_get(const struct kmap *m, uint64_t a, uint64_t b)
{
	return find(m, a, b)->v;
}

/* Doubles the table; out of memory, m is left as it was. */
static enum gs_status kmap_grow(struct kmap *m)
{
	struct kmap_entry *e = calloc((m->mask + 1) * 2, sizeof(*e));
	struct kmap old = *m;

	if (!e)
		return GS_ERR_NOMEM;
	m->e = e;
	m->mask = old.mask * 2 + 1;
	for (uint64_t i = 0; i <= old.mask; i++)
		if (old.e[i].v)
			*find(m, old.e[i].a, old.e[i].b) = old.e[i];
	free(old.e);
	return GS_OK;
}

enum gs_status kmap_put(struct kmap *m, uint64_t a, uint64_t b, void *v)
{
	struct kmap_entry *e;

	/* Keep the load under 1/2 so probes stay short. */
	if ((m->n + 1) * 2 > m->mask + 1 && kmap_grow(m) != GS_OK)
		return GS_ERR_NOMEM;
	e = find(m, a, b);
	if (!e->v)
		m->n++;
	e->a = a;
	e->b = b;
	e->v = v;
	return GS_OK;
}
