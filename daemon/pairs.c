/* pairs.c: findings that take two targets. See pairs.h; the rules are
 * README's "Findings". */
#include "pairs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "targets.h"

/* Slot kinds, also the index of target.pslot[]. */
enum { PK_ADDR, PK_HOST, PK_COUNT };

struct pair_slot {
	struct pair_slot *next; /* hash chain */
	uint64_t h;
	uint8_t kind;
	uint16_t port;
	struct pkt_addr addr;   /* PK_ADDR */
	char *host;             /* PK_HOST */
	/* PK_ADDR: [0] syn (or handshake) target, [1] fin target;
	 * PK_HOST: [0] the IPv4 target, [1] the IPv6 one */
	struct target *role[2];
};

struct pairs {
	struct pair_slot **b;
	size_t mask, n; /* buckets - 1, slots */
};

/* What each kind of slot finds. */
static const enum find_name kind_finding[PK_COUNT] = { FIND_STATEFUL_FIREWALL, FIND_MSS_CLAMPED };

struct pairs *pairs_new(void)
{
	struct pairs *p = calloc(1, sizeof(*p));
	if (p && !(p->b = calloc(64, sizeof(*p->b)))) {
		free(p);
		return NULL;
	}
	if (p)
		p->mask = 63;
	return p;
}

void pairs_free(struct pairs *p)
{
	if (!p)
		return;
	for (size_t i = 0; i <= p->mask; i++)
		for (struct pair_slot *s = p->b[i], *nx; s; s = nx) {
			nx = s->next;
			free(s->host);
			free(s);
		}
	free(p->b);
	free(p);
}

/* FNV-1a, 64 bits: keys are ours (config and DNS), not an attacker's. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const uint8_t *d = data;
	for (size_t i = 0; i < n; i++)
		h = (h ^ d[i]) * 0x100000001b3ull;
	return h;
}

/* t's key and role in a slot of this kind; false: it takes no part. */
static bool key_of(const struct target *t, int kind, uint64_t *h, int *role)
{
	uint16_t port = t->cfg.opts.port;
	enum probe_kind k = t->cfg.opts.kind;
	/* syn and handshake probes both start with a SYN and end refused on
	 * an RST; a trace's result says something else */
	bool syn = k == PROBE_SYN || k == PROBE_HANDSHAKE;
	if (!t->addr.family)
		return false;
	if (kind == PK_ADDR) {
		if (!syn && k != PROBE_FIN)
			return false;
		*role = k == PROBE_FIN;
		*h = fnv(fnv(fnv(0xcbf29ce484222325ull, &t->addr.family, 1), t->addr.a,
			     t->addr.family == AF_INET ? 4 : 16), &port, sizeof(port));
		return true;
	}
	/* A host given as an address has one family: only a name pairs. */
	if (!syn || !t->is_name)
		return false;
	*role = t->addr.family == AF_INET6;
	*h = fnv(fnv(0x84222325cbf29ce4ull, t->cfg.host, strlen(t->cfg.host)), &port, sizeof(port));
	return true;
}

static bool slot_is(const struct pair_slot *s, const struct target *t, int kind, uint64_t h)
{
	if (s->kind != kind || s->h != h || s->port != t->cfg.opts.port)
		return false;
	return kind == PK_ADDR ? pkt_addr_eq(&s->addr, &t->addr) : !strcmp(s->host, t->cfg.host);
}

static void grow(struct pairs *p)
{
	size_t n = (p->mask + 1) * 2;
	struct pair_slot **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains, still right */
	for (size_t i = 0; i <= p->mask; i++)
		for (struct pair_slot *s = p->b[i], *nx; s; s = nx) {
			nx = s->next;
			s->next = b[s->h & (n - 1)];
			b[s->h & (n - 1)] = s;
		}
	free(p->b);
	p->b = b;
	p->mask = n - 1;
}

static void unlink_slot(struct pairs *p, struct pair_slot *s)
{
	for (struct pair_slot **pp = &p->b[s->h & p->mask]; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			p->n--;
			break;
		}
	free(s->host);
	free(s);
}

/* Judge the slot's targets again from their latest results. */
static void judge(struct pair_slot *s)
{
	struct target *a = s->role[0], *b = s->role[1];
	unsigned bit = 1u << kind_finding[s->kind];
	for (int i = 0; i < 2; i++)
		if (s->role[i])
			s->role[i]->pfound &= (uint8_t)~bit;
	if (!a || !b)
		return;
	if (s->kind == PK_ADDR) {
		/* A closed port (its host answers a SYN with an RST) where a FIN,
		 * which would get the same RST, gets nothing: dropped by something
		 * that tracks connections (the FIN belongs to none). */
		if (b->st.last_result == RESULT_SILENT && a->st.last_result == RESULT_REFUSED)
			b->pfound |= (uint8_t)bit;
		return;
	}
	/* Equal MSS over both families, below what either of us offered (a
	 * stack may answer min(its own, ours)). */
	uint16_t ma = a->st.find.have_fp ? a->st.find.fp.mss : 0;
	uint16_t mb = b->st.find.have_fp ? b->st.find.fp.mss : 0;
	uint16_t oa = a->cfg.opts.syn.mss ? a->cfg.opts.syn.mss : UINT16_MAX;
	uint16_t ob = b->cfg.opts.syn.mss ? b->cfg.opts.syn.mss : UINT16_MAX;
	if (ma && ma == mb && ma < oa && mb < ob) {
		a->pfound |= (uint8_t)bit;
		b->pfound |= (uint8_t)bit;
	}
}

/* Take t out of its slot of this kind (freed when empty). */
static void leave(struct pairs *p, struct target *t, int kind)
{
	struct pair_slot *s = t->pslot[kind];
	if (!s)
		return;
	t->pslot[kind] = NULL;
	t->pfound &= (uint8_t)~(1u << kind_finding[kind]);
	for (int i = 0; i < 2; i++)
		if (s->role[i] == t)
			s->role[i] = NULL;
	judge(s);
	if (!s->role[0] && !s->role[1])
		unlink_slot(p, s);
}

/* t into the slot for its current key (made if needed), in its role: the
 * target there before in that role leaves. NULL: no part, or no memory. */
static struct pair_slot *file(struct pairs *p, struct target *t, int kind)
{
	uint64_t h;
	int role;
	if (!key_of(t, kind, &h, &role)) {
		leave(p, t, kind);
		return NULL;
	}
	struct pair_slot *s = t->pslot[kind];
	if (s && slot_is(s, t, kind, h) && s->role[role] == t)
		return s;
	leave(p, t, kind); /* its key or role changed */
	for (s = p->b[h & p->mask]; s && !slot_is(s, t, kind, h); s = s->next)
		;
	if (!s) {
		if (!(s = calloc(1, sizeof(*s))) ||
		    (kind == PK_HOST && !(s->host = strdup(t->cfg.host)))) {
			free(s);
			return NULL;
		}
		s->h = h;
		s->kind = (uint8_t)kind;
		s->port = t->cfg.opts.port;
		s->addr = t->addr;
		s->next = p->b[h & p->mask];
		p->b[h & p->mask] = s;
		if (++p->n > p->mask + 1)
			grow(p);
	}
	/* The latest target in a role takes it; the one before is out (with t
	 * in it, the slot is not empty). */
	struct target *old = s->role[role];
	s->role[role] = t;
	t->pslot[kind] = s;
	if (old) {
		old->pslot[kind] = NULL;
		old->pfound &= (uint8_t)~(1u << kind_finding[kind]);
	}
	return s;
}

void pairs_record(struct pairs *p, struct target *t)
{
	if (!p)
		return;
	for (int k = 0; k < PK_COUNT; k++) {
		struct pair_slot *s = file(p, t, k);
		if (s)
			judge(s);
	}
}

void pairs_forget(struct pairs *p, struct target *t)
{
	if (!p)
		return;
	for (int k = 0; k < PK_COUNT; k++)
		leave(p, t, k);
}

unsigned pairs_found(const struct target *t)
{
	return t->pfound & ~(unsigned)t->st.find.mask;
}

/* The partner of t in its slot of this kind. */
static const struct target *partner(const struct target *t, int kind)
{
	const struct pair_slot *s = t->pslot[kind];
	return !s ? NULL : s->role[0] == t ? s->role[1] : s->role[0];
}

void pairs_findings_json(struct jbuf *j, const struct target *t)
{
	unsigned found = pairs_found(t);
	char ev[FIND_EVIDENCE_MAX];
	for (int k = 0; k < PK_COUNT; k++) {
		enum find_name f = kind_finding[k];
		const struct target *o = partner(t, k);
		if (!(found & (1u << f)) || !o)
			continue;
		jb_obj(j);
		jb_key(j, "name");
		jb_str(j, find_name_str(f));
		if (k == PK_ADDR)
			snprintf(ev, sizeof(ev), "FIN probes silent, while target %s's SYNs to the same "
				 "address and port are refused (RST): a firewall drops segments of "
				 "connections it does not track", o->cfg.name);
		else
			snprintf(ev, sizeof(ev), "mss %u over IPv%d, the same as target %s's over IPv%d "
				 "(at one MTU IPv6's is 20 less): a clamp sets both", t->st.find.fp.mss,
				 t->addr.family == AF_INET6 ? 6 : 4, o->cfg.name,
				 o->addr.family == AF_INET6 ? 6 : 4);
		jb_key(j, "evidence");
		jb_str(j, ev);
		jb_key(j, "target");
		jb_str(j, o->cfg.name);
		if (k == PK_ADDR) {
			jb_key(j, "target_result");
			jb_str(j, probe_result_str((enum probe_result)o->st.last_result));
		} else {
			jb_key(j, "mss");
			jb_uint(j, t->st.find.fp.mss);
		}
		jb_obj_end(j);
	}
}
