/* engine.c: executes probes/fsm on raw sockets. See engine.h. */
#include "engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flows.h"
#include "isn.h"
#include "log.h"
#include "rawio.h"
#include "rstguard.h"
#include "timens.h"
#include "wheel.h"

#define RX_BATCH 1024
#define PACE_NS 1000000ULL /* queue drain period while probes wait on the caps */
#define POOL_SLAB 256      /* objects per pool allocation */

/* Per-probe context, alive until the probe is reported. */
struct pctx {
	engine_report_cb cb;
	void *arg;
	struct pctx *qnext;     /* wait queue */
	struct pkt_addr dst;    /* queued probes: the request */
	struct pkt_addr src;    /* family 0: look the route up at launch */
	uint16_t dport;
	uint16_t sport;         /* a flow's reserved port; 0: from the allocator */
	uint8_t flow;
	bool want_tl;
	uint8_t send_errno;     /* the first send that failed, for the report */
	struct engine_profile *prof;
	struct find_obs obs;    /* what probes/findings judges at the report */
	struct fsm_timeline tl;
};

/* One connection: small, most of them sit in TIME_WAIT (208 bytes on
 * x86-64, allocated from a pool with no per-object header). Its profile is
 * found from f.p (conn_prof), its local address in the engine's table of
 * local addresses (a handful per host), and its hash is computed again
 * when needed (once at removal, and when the table grows), so none of
 * them costs a field. */
struct conn {
	struct fsm_conn f;
	struct wheel_entry timer;
	struct conn *hnext;
	struct pctx *ctx;       /* NULL once reported */
	struct pkt_addr remote;
	uint16_t lidx;          /* e->locals[lidx] */
	uint16_t lport, rport;
};

/* Fixed-size objects recycled through a free list: connections and probe
 * contexts come and go at the probe rate, and malloc/free per probe showed
 * in profiles (and added a 16-byte header to every connection). Slabs are
 * only returned at engine_free, so the pools keep their peak size. */
struct pool {
	size_t size;
	void *free;
	void *slabs; /* each slab starts with a pointer to the next */
};

/* A segment the kernel refused to send, until the engine ends its probe. */
struct unsent {
	struct pkt_info pi;
	int err;
};

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
/* A trace's connection: the 4-tuple's conn (table, source port, profile,
 * as for any probe) and probes/trace's state, in an allocation of its own:
 * a trace holds ~6 KB, and the pool's connections stay small. */
struct trace_conn {
	struct conn c;
	struct trace t;
	struct trace_conn *wnext; /* in the engine's list of traces waiting for pps budget */
	bool waiting;
};

struct engine {
	struct event_base *base;
	struct engine_cfg cfg;
	struct rawio *raw;
	struct event *rx_ev, *timer_ev, *pace_ev, *flush_ev;
	bool guard;
	int claim_fd;              /* holds our source-port range (rstguard_claim) */
	struct event *claim_ev;
	bool flush_armed;       /* flush_ev is active: sends wait for the loop turn */
	uint64_t rx_last_ts;    /* kernel timestamp of the last frame read */
	struct pool conn_pool, pctx_pool;
	struct pkt_addr *locals; /* our addresses, indexed by conn.lidx */
	unsigned nlocals, locals_cap, local_hint;
	struct wheel *wheel;
	struct conn **tab;
	size_t tab_mask, nconns;
	uint16_t next_port;
	struct dest **dtab;     /* destinations with ports in use, by hash */
	size_t dtab_mask, ndests;
	struct pctx *q_head, *q_tail;
	struct trace_conn *w_head, *w_tail; /* traces whose SYNs wait for pps budget */
	uint64_t inflight, queued;
	double tokens;
	uint64_t tokens_at;
	uint64_t exhausted_log_ns;
	struct unsent *unsent;  /* send failures not yet handed to their probes */
	size_t nunsent, unsent_cap;
	struct engine_stats st;
};

uint64_t engine_now(void)
{
	return clock_ns(CLOCK_REALTIME);
}

/* ---- pools ---- */

static void *pool_get(struct pool *p)
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

static void pool_put(struct pool *p, void *o)
{
	*(void **)o = p->free;
	p->free = o;
}

static void pool_destroy(struct pool *p)
{
	while (p->slabs) {
		void *next = *(void **)p->slabs;
		free(p->slabs);
		p->slabs = next;
	}
	p->free = NULL;
}

/* ---- profiles ---- */

struct engine_profile *engine_profile_new(const struct fsm_params *fp, uint8_t ttl, uint8_t tos)
{
	struct engine_profile *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->fp = *fp;
	p->ttl = ttl;
	p->tos = tos;
	p->refs = 1;
	/* A trace's SYN waits as long as a probe's first SYN, and gets as
	 * many tries; the 4-tuple lingers that long for late SYN/ACKs. */
	p->tp = (struct trace_params){
		.max_hops = fp->max_hops && fp->max_hops <= TRACE_HOPS_MAX ? fp->max_hops : 30,
		.window = TRACE_WINDOW, .retries = fp->retries,
		.timeout_ns = fp->rto_ns, .linger_ns = fp->rto_ns,
	};
	return p;
}

void engine_profile_ref(struct engine_profile *p) { p->refs++; }

void engine_profile_unref(struct engine_profile *p)
{
	if (p && --p->refs == 0)
		free(p);
}

static struct engine_profile *conn_prof(const struct conn *c)
{
	return (struct engine_profile *)((char *)(uintptr_t)c->f.p -
					 offsetof(struct engine_profile, fp));
}

static bool conn_is_trace(const struct conn *c)
{
	return c->f.p->kind == PROBE_TRACE;
}

static struct trace_conn *conn_trace(struct conn *c)
{
	return (struct trace_conn *)((char *)c - offsetof(struct trace_conn, c));
}

/* ---- the 4-tuple table ---- */

static uint32_t tuple_hash(const struct pkt_addr *remote, uint16_t rport, uint16_t lport)
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

static bool addr_eq(const struct pkt_addr *x, const struct pkt_addr *y)
{
	if (x->family != y->family)
		return false;
	return memcmp(x->a, y->a, x->family == AF_INET6 ? 16 : 4) == 0;
}

static struct conn *tab_find(struct engine *e, const struct pkt_addr *remote, uint16_t rport,
			     uint16_t lport)
{
	uint32_t h = tuple_hash(remote, rport, lport);
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
			uint32_t h = tuple_hash(&c->remote, c->rport, c->lport);
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

static void tab_insert(struct engine *e, struct conn *c)
{
	if (e->nconns >= e->tab_mask + 1)
		tab_grow(e); /* on failure chains just get longer */
	uint32_t h = tuple_hash(&c->remote, c->rport, c->lport);
	c->hnext = e->tab[h & e->tab_mask];
	e->tab[h & e->tab_mask] = c;
	e->nconns++;
}

static void tab_remove(struct engine *e, struct conn *c)
{
	struct conn **pp = &e->tab[tuple_hash(&c->remote, c->rport, c->lport) & e->tab_mask];
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
static int local_index(struct engine *e, const struct pkt_addr *a)
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

/* ---- source ports (struct dest) ---- */

static struct dest **dest_slot(struct engine *e, const struct pkt_addr *remote, uint16_t rport)
{
	struct dest **pp = &e->dtab[tuple_hash(remote, rport, 0) & e->dtab_mask];
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
			struct dest **pp = &t[tuple_hash(&ds->remote, ds->rport, 0) & (n - 1)];
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
		if (!tab_find(e, &ds->remote, ds->rport, p) && !dest_reserved(ds, p))
			ds->ring[ds->rcount++] = p;
	}
	return 0;
}

/* A source port whose 4-tuple with (remote, rport) is free, or -1 (range
 * exhausted for it, or out of memory). */
static int port_alloc(struct engine *e, const struct pkt_addr *remote, uint16_t rport)
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
			if (!tab_find(e, remote, rport, p) && !dest_reserved(ds, p)) {
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

static void port_release(struct engine *e, const struct pkt_addr *remote, uint16_t rport,
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
		int p = port_alloc(e, dst, dport);
		struct dest *ds = *dest_slot(e, dst, dport);
		uint16_t *r = ds && p >= 0 ? realloc(ds->resv, (ds->nresv + 1) * sizeof(*r)) : NULL;
		if (!r) {
			if (p >= 0)
				port_release(e, dst, dport, (uint16_t)p);
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
			if (tab_find(e, dst, dport, ports[k]))
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

/* ---- sending ---- */

static void refill_tokens(struct engine *e, uint64_t now)
{
	if (!e->cfg.pps)
		return;
	if (now > e->tokens_at) {
		e->tokens += (double)(now - e->tokens_at) * e->cfg.pps / 1e9;
		/* At most 10 ms worth of burst (but at least a few packets). */
		double cap = e->cfg.pps / 100.0 < 4 ? 4 : e->cfg.pps / 100.0;
		if (e->tokens > cap)
			e->tokens = cap;
	}
	e->tokens_at = now;
}

/* ttl: the IP TTL / hop limit, 0 for the profile's (a trace's SYNs set their own). */
static void send_segment(struct engine *e, struct conn *c, const struct fsm_segment *s, uint8_t ttl)
{
	/* The fsm decides TSopt on SYNs too: a SYN/ACK (simultaneous open)
	 * carries it only if the peer's SYN did (RFC 7323 3.2). */
	const struct engine_profile *prof = conn_prof(c);
	struct pkt_syn_opts so = prof->fp.syn;
	so.timestamps = s->ts;
	struct pkt_out o = {
		.src = e->locals[c->lidx], .dst = c->remote, .sport = c->lport, .dport = c->rport,
		.seq = s->seq, .ack = s->ack, .flags = s->flags, .win = s->win,
		.ttl = ttl ? ttl : prof->ttl, .tos = prof->tos,
		.flowlabel = prof->flow_label ? flows_label(c->lport) : 0,
		.syn_opts = s->syn_opts ? &so : NULL,
		.ts = s->ts, .tsval = s->tsval, .tsecr = s->tsecr,
	};
	/* Our ACK of the SYN/ACK, decided when the SYN/ACK arrived. After a
	 * zero-window SYN/ACK (a SYN proxy) its wire time starts the backend
	 * connect time: mark it so the capture socket times it. */
	struct find_obs *obs = c->ctx ? &c->ctx->obs : NULL;
	if (obs && s->flags == PKT_ACK && obs->have_synack && !obs->t_ack) {
		find_observe_ack(obs, obs->t_synack, false);
		o.stamp = obs->synack_win == 0;
	}
	uint8_t buf[PKT_MAX_LEN];
	/* pkt_write, not libnet's pkt_build: same bytes (test_pktwrite), no
	 * allocation per segment. */
	ssize_t n = pkt_write(&o, buf, sizeof(buf));
	if (n < 0) {
		log_warnx("cannot build a segment (address family %u)", o.src.family);
		e->st.tx_errors++;
		return;
	}
	if (rawio_send(e->raw, buf, (size_t)n, &c->remote) < 0)
		e->st.tx_errors++;
	if (e->cfg.pps)
		e->tokens -= 1;
}

/* ---- reporting and conn lifetime ---- */

static void fill_report(const struct engine *e, const struct conn *c, struct probe_report *r)
{
	const struct fsm_conn *f = &c->f;
	memset(r, 0, sizeof(*r));
	r->src = e->locals[c->lidx];
	r->dst = c->remote;
	r->sport = c->lport;
	r->dport = c->rport;
	r->kind = f->p->kind;
	r->result = f->result;
	r->close_result = f->close_result;
	r->syn_retransmits = f->syn_tx > 1 ? f->syn_tx - 1 : 0;
	r->synack_seen = f->synack_seen;
	r->have_icmp = f->have_icmp;
	r->icmp_type = f->icmp_type;
	r->icmp_code = f->icmp_code;
	r->have_peer = f->synack_seen > 0;
	r->peer_ttl = f->peer_ttl;
	r->flow = c->ctx ? c->ctx->flow : 0;
	r->peer_mss = f->peer_mss;
	r->peer_wscale = f->peer_wscale_ok ? (int8_t)f->peer_wscale : -1;
	r->peer_sack = f->peer_sack;
	r->peer_ts = f->peer_ts;
	r->challenge_acks = f->challenge_acks;
	r->dup_acks = f->dup_acks;
	r->send_errno = c->ctx ? c->ctx->send_errno : 0;
	r->duplicates = f->duplicates;
	r->fin_retransmits = f->fin_tx > 1 ? f->fin_tx - 1 : 0;
	r->peer_fin_retransmits = f->peer_fin_rtx;
	r->bytes_rcvd = f->bytes_rcvd;
	r->iss = f->iss;
	r->irs = f->irs;
	r->t_start = f->t_open;
	fsm_phases(f, &r->ph);
	if (c->ctx) {
		const struct engine_profile *prof = c->ctx->prof;
		struct fsm_phases ph = r->ph;
		struct find_input in = {
			.offered = prof->fp.syn, .ecn = prof->fp.ecn,
			.synack_check = prof->fp.synack_wait_ns != 0,
			.synack_rtx = f->synack_seen > 1 ? (uint8_t)(f->synack_seen - 1) : 0,
			/* as fsm.c armed it: the wait plus twice the RTT */
			.synack_wait_ns = prof->fp.synack_wait_ns ?
				prof->fp.synack_wait_ns + 2 * ph.handshake : 0,
			.expect_mss = prof->expect_mss,
		};
		find_eval(&c->ctx->obs, &in, &r->find);
	}
	r->tl = f->tl;
}

/* A finished trace: its hops, and the target's RTT as the probe's (each
 * SYN has its own sequence number, so no retransmission makes it ambiguous). */
static void fill_trace_report(const struct engine *e, struct conn *c, struct probe_report *r)
{
	const struct trace_result *res = &conn_trace(c)->t.res;
	memset(r, 0, sizeof(*r));
	r->src = e->locals[c->lidx];
	r->dst = c->remote;
	r->sport = c->lport;
	r->dport = c->rport;
	r->kind = PROBE_TRACE;
	r->flow = c->ctx ? c->ctx->flow : 0;
	r->result = res->result;
	r->close_result = CLOSE_NONE;
	r->peer_wscale = -1;
	r->send_errno = c->ctx ? c->ctx->send_errno : 0;
	r->t_start = res->t_start ? res->t_start : engine_now();
	if (res->nhops) {
		const struct trace_hop *last = &res->hops[res->nhops - 1];
		if (last->kind == TRACE_HOP_TARGET && (last->tcp_flags & PKT_SYN))
			r->ph.handshake = r->ph.connect = last->rtt_ns;
		if (last->kind == TRACE_HOP_UNREACH) {
			r->have_icmp = true;
			r->icmp_type = last->icmp_type;
			r->icmp_code = last->icmp_code;
		}
	}
	r->trace = res;
}

static void conn_report(struct engine *e, struct conn *c)
{
	struct pctx *x = c->ctx;
	if (!x)
		return;
	if (x->cb) {
		struct probe_report r;
		if (conn_is_trace(c))
			fill_trace_report(e, c, &r);
		else
			fill_report(e, c, &r);
		x->cb(x->arg, &r);
	}
	c->ctx = NULL;
	c->f.tl = NULL;
	engine_profile_unref(x->prof);
	pool_put(&e->pctx_pool, x);
	e->inflight--;
}

static void trace_unwait(struct engine *e, struct trace_conn *tc)
{
	if (!tc->waiting)
		return;
	struct trace_conn *prev = NULL;
	for (struct trace_conn *w = e->w_head; w; prev = w, w = w->wnext) {
		if (w != tc)
			continue;
		if (prev)
			prev->wnext = w->wnext;
		else
			e->w_head = w->wnext;
		if (e->w_tail == w)
			e->w_tail = prev;
		break;
	}
	tc->waiting = false;
	tc->wnext = NULL;
}

static void conn_free(struct engine *e, struct conn *c)
{
	bool trace = conn_is_trace(c);
	conn_report(e, c);
	wheel_cancel(e->wheel, &c->timer);
	tab_remove(e, c);
	port_release(e, &c->remote, c->rport, c->lport);
	engine_profile_unref(conn_prof(c));
	if (trace) {
		trace_unwait(e, conn_trace(c));
		free(conn_trace(c));
	} else {
		pool_put(&e->conn_pool, c);
	}
}

/* Whether the probe's outcome is complete: a handshake that opened waits
 * for its close phase too. */
static bool conn_reportable(const struct conn *c)
{
	const struct fsm_conn *f = &c->f;
	if (f->result == RESULT_PENDING)
		return false;
	if (f->p->kind == PROBE_HANDSHAKE && f->result == RESULT_OK)
		return f->close_result != CLOSE_NONE;
	return true;
}

/* Execute fsm actions. Returns false if the conn was freed. */
static bool conn_apply(struct engine *e, struct conn *c, const struct fsm_actions *acts)
{
	bool done = false;
	for (unsigned i = 0; i < acts->n; i++) {
		const struct fsm_action *a = &acts->a[i];
		switch (a->type) {
		case ACT_SEND:
			send_segment(e, c, &a->u.seg, 0);
			break;
		case ACT_TIMER:
			wheel_arm(e->wheel, &c->timer, a->u.deadline);
			break;
		case ACT_STATE:
		case ACT_RESULT:
		case ACT_CLOSE_RESULT:
			break;
		case ACT_DONE:
			done = true;
			break;
		}
	}
	if (c->ctx && conn_reportable(c))
		conn_report(e, c);
	if (done) {
		conn_free(e, c);
		return false;
	}
	return true;
}

static void conn_step(struct engine *e, struct conn *c, const struct fsm_event *ev, uint64_t now)
{
	struct fsm_actions acts;
	const struct fsm_conn *f = &c->f;
	bool reported = c->ctx == NULL;
	uint16_t dups = f->duplicates;
	uint8_t rtx = f->peer_fin_rtx, rsts = f->tw_rsts;
	fsm_step(&c->f, ev, now, &acts);
	if (reported) {
		struct engine_tw_counts *tw = &conn_prof(c)->tw;
		uint16_t d = (uint16_t)(f->duplicates - dups);
		uint8_t x = (uint8_t)(f->peer_fin_rtx - rtx), r = (uint8_t)(f->tw_rsts - rsts);
		e->st.tw_duplicates += d;
		e->st.tw_peer_fin_retransmits += x;
		e->st.tw_rsts += r;
		tw->duplicates += d;
		tw->peer_fin_retransmits += x;
		tw->rsts += r;
	}
	conn_apply(e, c, &acts);
}

/* ---- traces (probes/trace.c) ---- */

/* SYNs a trace may send now: the pps cap's whole tokens. */
static uint32_t trace_credit(const struct engine *e)
{
	if (!e->cfg.pps)
		return UINT32_MAX;
	return e->tokens >= 1 ? (uint32_t)e->tokens : 0;
}

static void trace_wait(struct engine *e, struct trace_conn *tc)
{
	if (tc->waiting)
		return;
	tc->waiting = true;
	tc->wnext = NULL;
	if (e->w_tail)
		e->w_tail->wnext = tc;
	else
		e->w_head = tc;
	e->w_tail = tc;
}

static void trace_run(struct engine *e, struct trace_conn *tc, struct trace_event *ev, uint64_t now)
{
	struct trace_actions acts;
	struct conn *c = &tc->c;
	bool done = false;
	ev->credit = trace_credit(e);
	trace_step(&tc->t, ev, now, &acts);
	for (unsigned i = 0; i < acts.n; i++) {
		const struct trace_action *a = &acts.a[i];
		switch (a->type) {
		case TRACE_ACT_SEND:
			send_segment(e, c, &a->seg, a->ttl);
			break;
		case TRACE_ACT_TIMER:
			wheel_arm(e->wheel, &c->timer, a->deadline);
			break;
		case TRACE_ACT_WANT_CREDIT:
			trace_wait(e, tc);
			break;
		case TRACE_ACT_RESULT:
			conn_report(e, c);
			break;
		case TRACE_ACT_DONE:
			done = true;
			break;
		}
	}
	if (done)
		conn_free(e, c);
}

static void trace_event(struct engine *e, struct conn *c, enum trace_ev_type type,
			const struct pkt_info *pkt, uint64_t now)
{
	struct trace_event ev = { .type = type, .pkt = pkt };
	trace_run(e, conn_trace(c), &ev, now);
}

/* Traces that wait for budget go first, in order, while there is some. */
static void trace_serve_waiting(struct engine *e)
{
	for (unsigned n = 0; e->w_head && trace_credit(e) > 0 && n < 4096; n++) {
		struct trace_conn *tc = e->w_head;
		e->w_head = tc->wnext;
		if (!e->w_head)
			e->w_tail = NULL;
		tc->waiting = false;
		tc->wnext = NULL;
		struct trace_event ev = { .type = TRACE_EV_CREDIT };
		trace_run(e, tc, &ev, engine_now());
	}
}

/* ---- starting probes ---- */

static unsigned probe_cost(const struct engine_profile *p)
{
	switch ((enum probe_kind)p->fp.kind) {
	case PROBE_SYN:
		return 2;
	case PROBE_HANDSHAKE:
		return 4;
	case PROBE_FIN:
		return 1;
	case PROBE_TRACE: /* its first SYN; the rest ask for budget as they go */
		return 1;
	}
	return 1;
}

static bool caps_allow(struct engine *e, const struct engine_profile *p)
{
	if (e->cfg.max_inflight && e->inflight >= e->cfg.max_inflight)
		return false;
	if (e->cfg.pps && e->tokens < (double)probe_cost(p))
		return false;
	return true;
}

/* A flow's own (reserved) port, its 4-tuple taken over from the flow's
 * previous connection if that one only waits out TIME_WAIT; -1 with err
 * while that probe still runs. */
static int flow_port(struct engine *e, struct pctx *x, char *err, size_t errlen)
{
	struct conn *old = tab_find(e, &x->dst, x->dport, x->sport);
	/* A trace that lingers (reported) only waits for late SYN/ACKs. */
	if (old && !old->ctx && (old->f.state == TCPS_TIME_WAIT || conn_is_trace(old))) {
		conn_free(e, old);
	} else if (old) {
		snprintf(err, errlen, "source port %u: the flow's previous probe is still running (%s)",
			 x->sport, tcp_state_str((enum tcp_state)old->f.state));
		return -1;
	}
	return x->sport;
}

static void launch(struct engine *e, struct pctx *x)
{
	char err[128];
	struct pkt_addr local = x->src;
	if (!local.family && engine_source_addr_scoped(&x->dst, rawio_scope(e->raw, &x->dst), &local,
							 err, sizeof(err)) < 0) {
		log_debug("%s", err);
		goto fail;
	}
	int li = local_index(e, &local);
	if (li < 0) {
		snprintf(err, sizeof(err), "too many local addresses");
		log_warnx("%s", err);
		goto fail;
	}
	int port = x->sport ? flow_port(e, x, err, sizeof(err)) : port_alloc(e, &x->dst, x->dport);
	if (port < 0 && x->sport)
		goto fail;
	if (port < 0) {
		char a[64];
		snprintf(err, sizeof(err), "no free source port in %u-%u for [%s]:%u (each waits out "
			 "TIME_WAIT before it is used again)", e->cfg.sport_lo, e->cfg.sport_hi,
			 pkt_addr_str(&x->dst, a, sizeof(a)), x->dport);
		/* At most one line a second: this can fail at the probe rate. */
		uint64_t t = engine_now();
		if ((!e->st.port_exhausted++ || t - e->exhausted_log_ns >= NS_PER_S) &&
		    !e->cfg.quiet) {
			log_warnx("source port range %u-%u exhausted for %s port %u (%llu probes failed so far)",
				  e->cfg.sport_lo, e->cfg.sport_hi, pkt_addr_str(&x->dst, a, sizeof(a)),
				  x->dport, (unsigned long long)e->st.port_exhausted);
			e->exhausted_log_ns = t;
		}
		goto fail;
	}
	bool trace = x->prof->fp.kind == PROBE_TRACE;
	struct trace_conn *tc = trace ? calloc(1, sizeof(*tc)) : NULL;
	struct conn *c = trace ? (tc ? &tc->c : NULL) : pool_get(&e->conn_pool);
	if (!c) {
		port_release(e, &x->dst, x->dport, (uint16_t)port);
		snprintf(err, sizeof(err), "out of memory starting a probe");
		log_warnx("%s", err);
		goto fail;
	}
	c->remote = x->dst;
	c->rport = x->dport;
	c->lport = (uint16_t)port;
	c->lidx = (uint16_t)li;
	engine_profile_ref(x->prof); /* the connection's, released in conn_free */
	c->ctx = x;
	memset(&x->obs, 0, sizeof(x->obs));
	/* A trace's fsm only carries its profile (conn_prof): probes/trace runs it. */
	fsm_init(&c->f, &x->prof->fp, x->want_tl && !trace ? &x->tl : NULL);
	tab_insert(e, c);
	e->inflight++;
	e->st.probes_started++;

	uint64_t now = engine_now();
	uint32_t iss = isn_make(&local, c->lport, &c->remote, c->rport, now);
	uint32_t ts_offset = isn_ts_offset(&local, c->lport, &c->remote, c->rport);
	if (trace) {
		trace_init(&tc->t, &x->prof->tp, &x->prof->fp);
		struct trace_event tev = { .type = TRACE_EV_START, .iss = iss, .ts_offset = ts_offset };
		trace_run(e, tc, &tev, now);
		return;
	}
	struct fsm_event ev = { .type = EV_OPEN, .iss = iss, .ts_offset = ts_offset };
	conn_step(e, c, &ev, now);
	return;
fail:
	/* Report the failure as result `error` without a connection. */
	if (x->cb) {
		struct probe_report r;
		memset(&r, 0, sizeof(r));
		r.dst = x->dst;
		r.dport = x->dport;
		r.kind = x->prof->fp.kind;
		r.result = RESULT_ERROR;
		r.flow = x->flow;
		r.error = err;
		r.peer_wscale = -1;
		r.t_start = engine_now();
		x->cb(x->arg, &r);
	}
	engine_profile_unref(x->prof);
	pool_put(&e->pctx_pool, x);
}

static void schedule_timers(struct engine *e);

/* rawio could not send one of our segments. Called from inside a flush,
 * possibly while a connection's actions are being executed, so the probe
 * is ended later, by flush_out. */
static void on_tx_error(void *arg, const uint8_t *pkt, size_t len, int err)
{
	struct engine *e = arg;
	struct pkt_info pi;
	if (pkt_parse(pkt, len, &pi) != PKT_OK || pi.is_icmp)
		return;
	if (e->nunsent == e->unsent_cap) {
		size_t cap = e->unsent_cap ? e->unsent_cap * 2 : 64;
		struct unsent *u = realloc(e->unsent, cap * sizeof(*u));
		if (!u)
			return; /* counted by rawio; that probe will time out */
		e->unsent = u;
		e->unsent_cap = cap;
	}
	e->unsent[e->nunsent++] = (struct unsent){ .pi = pi, .err = err };
}

/* Each failed segment ends its probe as `error` (probes/fsm.c says how). */
static void apply_unsent(struct engine *e)
{
	size_t n = e->nunsent;
	struct unsent *u = e->unsent;
	e->unsent = NULL;
	e->nunsent = e->unsent_cap = 0;
	for (size_t i = 0; i < n; i++) {
		const struct pkt_info *pi = &u[i].pi;
		struct conn *c = tab_find(e, &pi->dst, pi->dport, pi->sport);
		if (!c || !addr_eq(&e->locals[c->lidx], &pi->src))
			continue;
		if (c->ctx && !c->ctx->send_errno)
			c->ctx->send_errno = (uint8_t)(u[i].err > 0 && u[i].err < 256 ? u[i].err : EIO);
		if (conn_is_trace(c)) {
			trace_event(e, c, TRACE_EV_SEND_ERROR, pi, engine_now());
			continue;
		}
		struct fsm_event ev = { .type = EV_SEND_ERROR, .pkt = pi };
		conn_step(e, c, &ev, engine_now());
	}
	free(u);
}

/* Send what is queued; ending the probes whose segments failed may queue
 * RSTs, so go round again (bounded: an RST that fails ends nothing new). */
static void flush_out(struct engine *e)
{
	for (int round = 0; round < 3; round++) {
		rawio_flush(e->raw);
		if (!e->nunsent)
			return;
		apply_unsent(e);
	}
}

/* Probes started from outside a callback of ours (the scheduler's timer,
 * a control request) are sent at the end of the loop turn, together:
 * one sendmmsg and one timer update for all the probes a turn starts
 * instead of one each. */
static void flush_soon(struct engine *e)
{
	if (!e->flush_armed) {
		e->flush_armed = true;
		event_active(e->flush_ev, 0, 0);
	}
}

static void drain_queue(struct engine *e)
{
	refill_tokens(e, engine_now());
	trace_serve_waiting(e);
	while (e->q_head && !e->w_head && caps_allow(e, e->q_head->prof)) {
		struct pctx *x = e->q_head;
		e->q_head = x->qnext;
		if (!e->q_head)
			e->q_tail = NULL;
		e->queued--;
		launch(e, x);
	}
	if ((e->q_head || e->w_head) && !evtimer_pending(e->pace_ev, NULL)) {
		struct timeval tv = { 0, PACE_NS / 1000 };
		evtimer_add(e->pace_ev, &tv);
	}
}

int engine_start(struct engine *e, const struct engine_probe *p, char *err, size_t errlen)
{
	if (p->ifindex && rawio_set_scope(e->raw, &p->dst, p->ifindex) < 0) {
		snprintf(err, errlen, "more than %d link-local destinations with a zone", RAWIO_ZONES);
		return -1;
	}
	struct pctx *x = pool_get(&e->pctx_pool);
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	x->cb = p->cb;
	x->arg = p->arg;
	x->dst = p->dst;
	x->src = p->src;
	x->dport = p->dport;
	x->sport = p->sport;
	x->flow = p->flow;
	x->want_tl = p->timeline;
	x->prof = p->profile;
	engine_profile_ref(x->prof);
	refill_tokens(e, engine_now());
	if (!e->q_head && caps_allow(e, x->prof)) {
		launch(e, x);
		flush_soon(e);
		return 0;
	}
	e->st.probes_waited++;
	if (e->q_tail)
		e->q_tail->qnext = x;
	else
		e->q_head = x;
	e->q_tail = x;
	e->queued++;
	drain_queue(e);
	flush_soon(e);
	return 0;
}

/* ---- receiving ---- */

static void on_frame(void *arg, const struct rawio_frame *f)
{
	struct engine *e = arg;
	struct pkt_info pi;
	e->rx_last_ts = f->ts_ns;
	if (pkt_parse(f->data, f->len, &pi) != PKT_OK) {
		e->st.rx_bad++;
		return;
	}
	struct conn *c;
	if (f->outgoing) {
		if (pi.is_icmp)
			return;
		c = tab_find(e, &pi.dst, pi.dport, pi.sport);
		if (c && conn_is_trace(c)) {
			trace_tx_stamp(&conn_trace(c)->t, pi.seq, f->ts_ns);
			return;
		}
		if (c)
			fsm_tx_stamp(&c->f, pi.flags, pi.seq, f->ts_ns);
		if (c && c->ctx && pi.flags == PKT_ACK)
			find_observe_ack(&c->ctx->obs, f->ts_ns, true);
		return;
	}
	e->st.rx_packets++;
	if (pi.is_icmp) {
		c = tab_find(e, &pi.dst, pi.dport, pi.sport);
		if (!c || !addr_eq(&e->locals[c->lidx], &pi.src)) {
			e->st.rx_unmatched++;
			return;
		}
		if (conn_is_trace(c)) {
			trace_event(e, c, TRACE_EV_ICMP, &pi, f->ts_ns);
			return;
		}
		struct fsm_event ev = { .type = EV_ICMP, .pkt = &pi };
		conn_step(e, c, &ev, f->ts_ns);
		return;
	}
	c = tab_find(e, &pi.src, pi.sport, pi.dport);
	if (!c || !addr_eq(&e->locals[c->lidx], &pi.dst)) {
		e->st.rx_unmatched++;
		return;
	}
	if (conn_is_trace(c)) {
		trace_event(e, c, TRACE_EV_SEGMENT, &pi, f->ts_ns);
		return;
	}
	if (c->ctx)
		find_observe_in(&c->ctx->obs, &pi, f->ts_ns);
	struct fsm_event ev = { .type = EV_SEGMENT, .pkt = &pi };
	conn_step(e, c, &ev, f->ts_ns);
}

static void on_timer_entry(void *arg, struct wheel_entry *w)
{
	struct engine *e = arg;
	struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, timer));
	struct fsm_event ev = { .type = EV_TIMER };
	uint64_t now = engine_now();
	if (conn_is_trace(c)) {
		uint64_t d = conn_trace(c)->t.deadline;
		trace_event(e, c, TRACE_EV_TIMER, NULL, now < d ? d : now);
		return;
	}
	if (now < c->f.deadline)
		now = c->f.deadline; /* the wheel never fires early; clocks may disagree by ns */
	conn_step(e, c, &ev, now);
}

static void schedule_timers(struct engine *e)
{
	wheel_arm_timer(e->wheel, e->timer_ev, engine_now());
}

/*
 * Read what the socket holds before any timer expires: when the loop falls
 * behind, a reply that arrived before its deadline may still be queued,
 * and expiring first would report a timeout the wire contradicts. If the
 * batch limit stopped the read with frames left, timers expire only up to
 * the kernel timestamp of the last frame read; the next turn goes on.
 * Returns the time up to which timers may expire.
 */
static uint64_t rx_drain(struct engine *e)
{
	e->rx_last_ts = 0;
	int n = rawio_recv(e->raw, on_frame, e, RX_BATCH);
	uint64_t now = engine_now();
	if (n < 0)
		log_warn("receive");
	else if ((unsigned)n >= RX_BATCH && e->rx_last_ts && e->rx_last_ts < now)
		return e->rx_last_ts;
	return now;
}

/* Frames arrived or the wheel's timer fired: either way drain the receive
 * socket first (a queued reply must not lose to its timeout), then expire. */
static void on_rx_or_wheel(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	wheel_expire(e->wheel, rx_drain(e), on_timer_entry, e);
	drain_queue(e);
	flush_out(e);
	schedule_timers(e);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	e->flush_armed = false;
	flush_out(e);
	schedule_timers(e);
}

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	drain_queue(e);
	flush_out(e);
	schedule_timers(e);
}

/* ---- lifetime ---- */

/* Another tcpprobe asked who holds our range (SO_PEERCRED told it): close
 * the connection so the claim's backlog never fills. */
static void on_claim_ask(evutil_socket_t fd, short what, void *arg)
{
	for (int i = 0; i < 16; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			break;
		close(c);
	}
}

struct engine *engine_new(struct event_base *base, const struct engine_cfg *cfg, char *err,
			  size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->base = base;
	e->cfg = *cfg;
	e->claim_fd = -1;
	e->next_port = cfg->sport_lo;
	e->tab_mask = 1023;
	e->tab = calloc(e->tab_mask + 1, sizeof(*e->tab));
	e->dtab_mask = 1023;
	e->dtab = calloc(e->dtab_mask + 1, sizeof(*e->dtab));
	e->wheel = malloc(sizeof(*e->wheel));
	e->conn_pool.size = sizeof(struct conn);
	e->pctx_pool.size = sizeof(struct pctx);
	if (!e->tab || !e->dtab || !e->wheel) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	wheel_init(e->wheel, engine_now());
	e->tokens_at = engine_now();
	e->tokens = cfg->pps ? (cfg->pps / 100.0 < 4 ? 4 : cfg->pps / 100.0) : 0;
	isn_init();
	e->claim_fd = rstguard_claim(cfg->sport_lo, cfg->sport_hi, err, errlen);
	if (e->claim_fd < 0)
		goto fail;
	e->claim_ev = event_new(base, e->claim_fd, EV_READ | EV_PERSIST, on_claim_ask, e);
	if (!e->claim_ev || event_add(e->claim_ev, NULL) < 0) {
		snprintf(err, errlen, "libevent: cannot create events");
		goto fail;
	}
	if (cfg->rst_guard) {
		if (rstguard_install(cfg->sport_lo, cfg->sport_hi, RSTGUARD_MARK, err, errlen) < 0)
			goto fail;
		e->guard = true;
	}
	e->raw = rawio_open(cfg->sport_lo, cfg->sport_hi, RSTGUARD_MARK, err, errlen);
	if (!e->raw)
		goto fail;
	rawio_on_tx_error(e->raw, on_tx_error, e);
	e->rx_ev = event_new(base, rawio_fd(e->raw), EV_READ | EV_PERSIST, on_rx_or_wheel, e);
	e->timer_ev = evtimer_new(base, on_rx_or_wheel, e);
	e->pace_ev = evtimer_new(base, on_pace, e);
	e->flush_ev = event_new(base, -1, 0, on_flush, e);
	if (!e->rx_ev || !e->timer_ev || !e->pace_ev || !e->flush_ev ||
	    event_add(e->rx_ev, NULL) < 0) {
		snprintf(err, errlen, "libevent: cannot create events");
		goto fail;
	}
	e->st.conn_bytes = sizeof(struct conn);
	return e;
fail:
	engine_free(e);
	return NULL;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	/* No probe is ended any more: the connections go below. */
	if (e->raw)
		rawio_on_tx_error(e->raw, NULL, NULL);
	free(e->unsent);
	/* Abort what is open so no half-open connection is left at a peer. */
	if (e->tab) {
		uint64_t now = engine_now();
		for (size_t i = 0; i <= e->tab_mask; i++) {
			struct conn *c = e->tab[i];
			while (c) {
				struct conn *next = c->hnext;
				bool trace = conn_is_trace(c);
				/* A SYN/ACK may be on its way or unread: the peer holds a
				 * half-open connection, and the kernel's RST to it dies in
				 * the guard until the guard goes. An RST at our SYN's
				 * sequence + 1 (the peer's rcv_nxt) ends it (RFC 9293
				 * 3.10.7.3); a listener that never saw the SYN ignores it. */
				if (e->raw && !trace && c->f.state == TCPS_SYN_SENT) {
					struct fsm_segment rst = { .seq = c->f.snd_nxt, .flags = PKT_RST };
					send_segment(e, c, &rst, 0);
				}
				if (e->raw && c->f.state != TCPS_CLOSED && c->f.state != TCPS_TIME_WAIT) {
					struct fsm_event ev = { .type = EV_ABORT };
					struct fsm_actions acts;
					fsm_step(&c->f, &ev, now, &acts);
					for (unsigned k = 0; k < acts.n; k++)
						if (acts.a[k].type == ACT_SEND)
							send_segment(e, c, &acts.a[k].u.seg, 0);
				}
				if (c->ctx)
					engine_profile_unref(c->ctx->prof);
				engine_profile_unref(conn_prof(c));
				if (trace)
					free(conn_trace(c));
				c = next; /* the memory goes with the pools below */
			}
		}
		free(e->tab);
	}
	for (size_t i = 0; e->dtab && i <= e->dtab_mask; i++) {
		for (struct dest *ds = e->dtab[i], *next; ds; ds = next) {
			next = ds->hnext;
			free(ds->ring);
			free(ds->resv);
			free(ds);
		}
	}
	free(e->dtab);
	while (e->q_head) {
		struct pctx *x = e->q_head;
		e->q_head = x->qnext;
		engine_profile_unref(x->prof);
	}
	pool_destroy(&e->conn_pool);
	pool_destroy(&e->pctx_pool);
	free(e->locals);
	if (e->raw) {
		rawio_flush(e->raw);
		rawio_close(e->raw);
	}
	if (e->guard) {
		char err[256];
		if (rstguard_remove(e->cfg.sport_lo, e->cfg.sport_hi, err, sizeof(err)) < 0)
			log_warnx("%s", err);
	}
	/* Only now, with our table gone, may another instance take the range. */
	if (e->claim_ev)
		event_free(e->claim_ev);
	if (e->claim_fd >= 0)
		close(e->claim_fd);
	if (e->rx_ev)
		event_free(e->rx_ev);
	if (e->timer_ev)
		event_free(e->timer_ev);
	if (e->pace_ev)
		event_free(e->pace_ev);
	if (e->flush_ev)
		event_free(e->flush_ev);
	free(e->wheel);
	free(e);
}

void engine_stats(struct engine *e, struct engine_stats *out)
{
	struct rawio_stats rs = { 0 };
	if (e->raw)
		rawio_stats(e->raw, &rs);
	*out = e->st;
	out->tx_packets = rs.tx_packets;
	out->tx_errors += rs.tx_errors;
	out->rx_kernel_drops = rs.rx_kernel_drops;
	out->conns = e->nconns;
	out->inflight = e->inflight;
	out->queued = e->queued;
	out->time_wait = e->nconns - e->inflight;
	out->conn_bytes = sizeof(struct conn);
}

uint64_t engine_busy(const struct engine *e) { return e->nconns + e->queued; }
uint64_t engine_queued(const struct engine *e) { return e->queued; }

int engine_source_addr_scoped(const struct pkt_addr *dst, unsigned ifindex, struct pkt_addr *src,
			      char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (dst->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(9);
		memcpy(&s4->sin_addr, dst->a, 4);
		sl = sizeof(*s4);
	} else {
		if (dst->a[0] == 0xfe && (dst->a[1] & 0xc0) == 0x80 && !ifindex) {
			char a[64];
			pkt_addr_str(dst, a, sizeof(a));
			snprintf(err, errlen, "%s is link-local: name its interface, as in %s%%eth0", a, a);
			return -1;
		}
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(9);
		s6->sin6_scope_id = ifindex;
		memcpy(&s6->sin6_addr, dst->a, 16);
		sl = sizeof(*s6);
	}
	/* One UDP socket per family, kept and connected again for each lookup:
	 * a daemon loading 100,000 targets looks up 100,000 routes, and
	 * socket()+close() was most of that. */
	static int fds[2] = { -1, -1 };
	int *fd = &fds[dst->family == AF_INET6];
	if (*fd < 0 && (*fd = socket(dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* connect() on UDP only looks up the route; nothing is sent. */
	if (connect(*fd, (struct sockaddr *)&ss, sl) < 0) {
		char a[64];
		snprintf(err, errlen, "no route to %s: %s", pkt_addr_str(dst, a, sizeof(a)),
			 strerror(errno));
		/* A failed connect() may leave the old association: start afresh. */
		close(*fd);
		*fd = -1;
		return -1;
	}
	sl = sizeof(ss);
	if (getsockname(*fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		close(*fd);
		*fd = -1;
		return -1;
	}
	memset(src, 0, sizeof(*src));
	src->family = dst->family;
	if (dst->family == AF_INET)
		memcpy(src->a, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else
		memcpy(src->a, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	return 0;
}
