/* engine_conns.c: where the engine's connections live: the pools that
 * recycle connections and probe contexts, the 4-tuple hash table the
 * receive path looks replies up in, and the table of local addresses a
 * connection names by index. Data structures only: nothing here sends,
 * reads or reports. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine_priv.h"

#define POOL_SLAB 256      /* objects per pool allocation */

void *eng_pool_get(struct pool *p)
{
	if (!p->free) {
		size_t hdr = (sizeof(void *) + 15) & ~(size_t)15;
		char *slab = malloc(hdr + p->size * POOL_SLAB);
		if (!slab)
			return NULL;
		*(void **)slab = p->slabs;
		p->slabs = slab;
		for (size_t i = POOL_SLAB; i-- > 0;) {
			void *o = slab + hdr + i * p->size;
			*(void **)o = p->free;
			p->free = o;
		}
	}
	void *o = p->free;
	p->free = *(void **)o;
	memset(o, 0, p->size);
	return o;
}

void eng_pool_put(struct pool *p, void *o)
{
	*(void **)o = p->free;
	p->free = o;
}

void eng_pool_destroy(struct pool *p)
{
	while (p->slabs) {
		void *next = *(void **)p->slabs;
		free(p->slabs);
		p->slabs = next;
	}
	p->free = NULL;
}

/* ---- the 4-tuple table ---- */

uint32_t eng_tuple_hash(const struct pkt_addr *remote, uint16_t rport, uint16_t lport)
{
	/* Chains only ever hold our own connections, so a fast mix is enough:
	 * spoofed packets can cost a lookup, never a longer chain. */
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)rport << 16 | lport) ^
		     ((uint64_t)remote->family << 40);
	const uint8_t *a = remote->a;
	size_t n = remote->family == AF_INET6 ? 16 : 4;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t w;
		memcpy(&w, a + i, 4);
		h ^= w;
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
	}
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return (uint32_t)h;
}

struct conn *eng_tab_find(struct engine *e, const struct pkt_addr *remote, uint16_t rport,
			     uint16_t lport)
{
	uint32_t h = eng_tuple_hash(remote, rport, lport);
	for (struct conn *c = e->tab[h & e->tab_mask]; c; c = c->hnext)
		if (c->rport == rport && c->lport == lport &&
		    addr_eq(&c->remote, remote))
			return c;
	return NULL;
}

static int tab_grow(struct engine *e)
{
	size_t n = (e->tab_mask + 1) * 2;
	struct conn **t = calloc(n, sizeof(*t));
	if (!t)
		return -1;
	for (size_t i = 0; i <= e->tab_mask; i++) {
		struct conn *c = e->tab[i];
		while (c) {
			struct conn *next = c->hnext;
			uint32_t h = eng_tuple_hash(&c->remote, c->rport, c->lport);
			c->hnext = t[h & (n - 1)];
			t[h & (n - 1)] = c;
			c = next;
		}
	}
	free(e->tab);
	e->tab = t;
	e->tab_mask = n - 1;
	return 0;
}

void eng_tab_insert(struct engine *e, struct conn *c)
{
	if (e->nconns >= e->tab_mask + 1)
		tab_grow(e); /* on failure chains just get longer */
	uint32_t h = eng_tuple_hash(&c->remote, c->rport, c->lport);
	c->hnext = e->tab[h & e->tab_mask];
	e->tab[h & e->tab_mask] = c;
	e->nconns++;
}

void eng_tab_remove(struct engine *e, struct conn *c)
{
	struct conn **pp = &e->tab[eng_tuple_hash(&c->remote, c->rport, c->lport) & e->tab_mask];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = c->hnext;
		e->nconns--;
	}
}

/* The index of a local address in e->locals, added if new; -1 when the
 * table is full (65,536 distinct source addresses). A host has a handful,
 * so a linear search behind a one-entry cache is enough. */
int eng_local_index(struct engine *e, const struct pkt_addr *a)
{
	if (e->local_hint < e->nlocals && addr_eq(&e->locals[e->local_hint], a))
		return (int)e->local_hint;
	for (unsigned i = 0; i < e->nlocals; i++)
		if (addr_eq(&e->locals[i], a))
			return (int)(e->local_hint = i);
	if (e->nlocals == (unsigned)UINT16_MAX + 1)
		return -1;
	if (e->nlocals == e->locals_cap) {
		unsigned cap = e->locals_cap ? e->locals_cap * 2 : 4;
		struct pkt_addr *l = realloc(e->locals, cap * sizeof(*l));
		if (!l)
			return -1;
		e->locals = l;
		e->locals_cap = cap;
	}
	e->locals[e->nlocals] = *a;
	return (int)(e->local_hint = e->nlocals++);
}
