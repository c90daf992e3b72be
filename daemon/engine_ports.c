/* engine_ports.c: source ports. Each destination (address, port) with a
 * connection of ours hands out ports of the range (round robin, or a ring
 * of its free ports once busy) and keeps those reserved for a target's
 * flows (engine_ports_reserve); a 4-tuple still in TIME_WAIT is never
 * handed out again. */
#include <stdio.h>
#include <stdlib.h>

#include "engine_priv.h"

/* Source ports toward one destination (address, port): every connection
 * of ours to it holds one. With few in use (DEST_FEW) the engine's round
 * robin finds a free one among used+1 candidates; with more, the
 * destination keeps its free ports in a FIFO ring (least recently freed
 * first, so a tuple in TIME_WAIT at the peer is the last reused): either
 * way O(1) whatever the occupancy, where a scan of the range cost 10,000
 * lookups per probe once it ran out. Freed when its last port is. */
#define DEST_FEW 8
struct dest {
	struct dest *hnext;
	struct pkt_addr remote;
	uint16_t rport;
	uint32_t used;
	uint16_t *ring;         /* NULL: few in use */
	uint32_t rhead, rcount; /* ring of the range's size */
	/* Ports reserved for flows (engine_ports_reserve): never handed out,
	 * never in the ring, not counted in used. */
	uint16_t *resv;
	uint32_t nresv;
};

static bool dest_reserved(const struct dest *ds, uint16_t p)
{
	for (uint32_t i = 0; i < ds->nresv; i++)
		if (ds->resv[i] == p)
			return true;
	return false;
}

static struct dest **dest_slot(struct engine *e, const struct pkt_addr *remote, uint16_t rport)
{
	struct dest **pp = &e->dtab[eng_tuple_hash(remote, rport, 0) & e->dtab_mask];
	while (*pp && ((*pp)->rport != rport || !addr_eq(&(*pp)->remote, remote)))
		pp = &(*pp)->hnext;
	return pp;
}

static void dtab_grow(struct engine *e)
{
	size_t n = (e->dtab_mask + 1) * 2;
	struct dest **t = calloc(n, sizeof(*t));
	if (!t)
		return; /* chains just get longer */
	for (size_t i = 0; i <= e->dtab_mask; i++) {
		for (struct dest *ds = e->dtab[i], *next; ds; ds = next) {
			next = ds->hnext;
			struct dest **pp = &t[eng_tuple_hash(&ds->remote, ds->rport, 0) & (n - 1)];
			ds->hnext = *pp;
			*pp = ds;
		}
	}
	free(e->dtab);
	e->dtab = t;
	e->dtab_mask = n - 1;
}

static unsigned port_span(const struct engine *e)
{
	return (unsigned)e->cfg.sport_hi - e->cfg.sport_lo + 1;
}

static uint16_t rr_next(struct engine *e)
{
	uint16_t p = e->next_port;
	e->next_port = p == e->cfg.sport_hi ? e->cfg.sport_lo : p + 1;
	return p;
}

/* Switch ds to a ring of its free ports: one pass over the range, once
 * per destination that gets busy. */
static int dest_ring(struct engine *e, struct dest *ds)
{
	unsigned span = port_span(e);
	ds->ring = malloc(span * sizeof(*ds->ring));
	if (!ds->ring)
		return -1;
	ds->rhead = ds->rcount = 0;
	for (unsigned i = 0; i < span; i++) {
		uint16_t p = rr_next(e);
		if (!eng_tab_find(e, &ds->remote, ds->rport, p) && !dest_reserved(ds, p))
			ds->ring[ds->rcount++] = p;
	}
	return 0;
}

/* A source port whose 4-tuple with (remote, rport) is free, or -1 (range
 * exhausted for it, or out of memory). */
int eng_port_alloc(struct engine *e, const struct pkt_addr *remote, uint16_t rport)
{
	struct dest **pp = dest_slot(e, remote, rport), *ds = *pp;
	if (!ds) {
		if (!(ds = calloc(1, sizeof(*ds))))
			return -1;
		ds->remote = *remote;
		ds->rport = rport;
		*pp = ds;
		if (++e->ndests > e->dtab_mask + 1)
			dtab_grow(e);
	}
	if (!ds->ring && ds->used < DEST_FEW) {
		/* At most `used` candidates are taken: one of used+1 is free. */
		for (uint32_t i = 0; i <= ds->used && i < port_span(e); i++) {
			uint16_t p = rr_next(e);
			if (!eng_tab_find(e, remote, rport, p) && !dest_reserved(ds, p)) {
				ds->used++;
				return p;
			}
		}
	}
	if ((!ds->ring && dest_ring(e, ds) < 0) || !ds->rcount) {
		if (!ds->used && !ds->nresv) { /* only just created (out of memory) */
			*dest_slot(e, remote, rport) = ds->hnext;
			e->ndests--;
			free(ds->ring);
			free(ds);
		}
		return -1;
	}
	uint16_t p = ds->ring[ds->rhead];
	ds->rhead = (ds->rhead + 1) % port_span(e);
	ds->rcount--;
	ds->used++;
	return p;
}

void eng_port_release(struct engine *e, const struct pkt_addr *remote, uint16_t rport,
			 uint16_t lport)
{
	struct dest **pp = dest_slot(e, remote, rport), *ds = *pp;
	if (!ds || dest_reserved(ds, lport))
		return;
	if (--ds->used == 0 && !ds->nresv) {
		*pp = ds->hnext;
		e->ndests--;
		free(ds->ring);
		free(ds->resv);
		free(ds);
		return;
	}
	if (ds->ring) {
		unsigned span = port_span(e);
		ds->ring[(ds->rhead + ds->rcount) % span] = lport;
		ds->rcount++;
	}
}

int engine_ports_reserve(struct engine *e, const struct pkt_addr *dst, uint16_t dport, unsigned n,
			 uint16_t *ports, char *err, size_t errlen)
{
	unsigned got = 0;
	for (; got < n; got++) {
		/* From the allocator (which skips reserved ports), then moved
		 * from `used` to the reservation. */
		int p = eng_port_alloc(e, dst, dport);
		struct dest *ds = *dest_slot(e, dst, dport);
		uint16_t *r = ds && p >= 0 ? realloc(ds->resv, (ds->nresv + 1) * sizeof(*r)) : NULL;
		if (!r) {
			if (p >= 0)
				eng_port_release(e, dst, dport, (uint16_t)p);
			break;
		}
		ds->resv = r;
		ds->resv[ds->nresv++] = (uint16_t)p;
		ds->used--;
		ports[got] = (uint16_t)p;
	}
	if (got == n)
		return 0;
	char a[64];
	snprintf(err, errlen, "cannot reserve %u source ports in %u-%u for [%s]:%u (%u free)", n,
		 e->cfg.sport_lo, e->cfg.sport_hi, pkt_addr_str(dst, a, sizeof(a)), dport, got);
	engine_ports_release(e, dst, dport, got, ports);
	return -1;
}

void engine_ports_release(struct engine *e, const struct pkt_addr *dst, uint16_t dport,
			  unsigned n, const uint16_t *ports)
{
	struct dest **pp = dest_slot(e, dst, dport), *ds = *pp;
	if (!ds)
		return;
	for (unsigned k = 0; k < n; k++) {
		for (uint32_t i = 0; i < ds->nresv; i++) {
			if (ds->resv[i] != ports[k])
				continue;
			ds->resv[i] = ds->resv[--ds->nresv];
			/* A connection still on it (TIME_WAIT) now holds it as an
			 * ordinary port, released when it goes; else it is free. */
			if (eng_tab_find(e, dst, dport, ports[k]))
				ds->used++;
			else if (ds->ring)
				ds->ring[(ds->rhead + ds->rcount++) % port_span(e)] = ports[k];
			break;
		}
	}
	if (!ds->used && !ds->nresv) {
		*pp = ds->hnext;
		e->ndests--;
		free(ds->ring);
		free(ds->resv);
		free(ds);
	}
}

/* engine_free: every destination goes, whatever it still holds. */
void eng_ports_free(struct engine *e)
{
	for (size_t i = 0; e->dtab && i <= e->dtab_mask; i++) {
		for (struct dest *ds = e->dtab[i], *next; ds; ds = next) {
			next = ds->hnext;
			free(ds->ring);
			free(ds->resv);
			free(ds);
		}
	}
	free(e->dtab);
	e->dtab = NULL;
}
