/* engine_priv.h: what the engine's files share (engine.c, engine_probe.c,
 * engine_io.c, engine_trace.c, engine_report.c, engine_conns.c,
 * engine_ports.c) and no other module includes: the engine, its
 * connections and probe contexts, and the functions one engine file calls
 * in another (eng_ prefix). engine.h is the engine's API. */
#ifndef TCPPROBE_ENGINE_PRIV_H
#define TCPPROBE_ENGINE_PRIV_H

#include <event2/util.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "engine.h"
#include "wheel.h"

struct dest;
struct rawio;

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
static inline struct engine_profile *conn_prof(const struct conn *c)
{
	return (struct engine_profile *)((char *)(uintptr_t)c->f.p -
					 offsetof(struct engine_profile, fp));
}

static inline bool conn_is_trace(const struct conn *c)
{
	return c->f.p->kind == PROBE_TRACE;
}

static inline struct trace_conn *conn_trace(struct conn *c)
{
	return (struct trace_conn *)((char *)c - offsetof(struct trace_conn, c));
}
static inline bool addr_eq(const struct pkt_addr *x, const struct pkt_addr *y)
{
	if (x->family != y->family)
		return false;
	return memcmp(x->a, y->a, x->family == AF_INET6 ? 16 : 4) == 0;
}

/* engine_conns.c: pools, the 4-tuple table, local addresses. */
void *eng_pool_get(struct pool *p);
void eng_pool_put(struct pool *p, void *o);
void eng_pool_destroy(struct pool *p);
uint32_t eng_tuple_hash(const struct pkt_addr *remote, uint16_t rport, uint16_t lport);
struct conn *eng_tab_find(struct engine *e, const struct pkt_addr *remote, uint16_t rport,
			  uint16_t lport);
void eng_tab_insert(struct engine *e, struct conn *c);
void eng_tab_remove(struct engine *e, struct conn *c);
/* The index of a local address in e->locals, added if new; -1 when full. */
int eng_local_index(struct engine *e, const struct pkt_addr *a);

/* engine_ports.c: a source port whose 4-tuple with (remote, rport) is free,
 * or -1 (range exhausted for it, or out of memory); its release. */
int eng_port_alloc(struct engine *e, const struct pkt_addr *remote, uint16_t rport);
void eng_port_release(struct engine *e, const struct pkt_addr *remote, uint16_t rport,
		      uint16_t lport);
void eng_ports_free(struct engine *e);

/* engine_probe.c: a probe's life. */
void eng_conn_report(struct engine *e, struct conn *c);
void eng_conn_free(struct engine *e, struct conn *c);
void eng_conn_step(struct engine *e, struct conn *c, const struct fsm_event *ev, uint64_t now);
void eng_drain_queue(struct engine *e);

/* engine_io.c: the wire. ttl: the IP TTL / hop limit, 0 for the profile's. */
void eng_send_segment(struct engine *e, struct conn *c, const struct fsm_segment *s, uint8_t ttl);
void eng_flush_out(struct engine *e);
void eng_flush_soon(struct engine *e);
void eng_on_tx_error(void *arg, const uint8_t *pkt, size_t len, int err);
void eng_on_rx_or_wheel(evutil_socket_t fd, short what, void *arg);
void eng_on_flush(evutil_socket_t fd, short what, void *arg);
void eng_on_pace(evutil_socket_t fd, short what, void *arg);

/* engine_trace.c: the trace driver. */
void eng_trace_start(struct engine *e, struct trace_conn *tc, uint32_t iss, uint32_t ts_offset,
		     uint64_t now);
void eng_trace_event(struct engine *e, struct conn *c, enum trace_ev_type type,
		     const struct pkt_info *pkt, uint64_t now);
void eng_trace_serve_waiting(struct engine *e);
void eng_trace_unwait(struct engine *e, struct trace_conn *tc);

/* engine_report.c: a finished probe's report. */
void eng_fill_report(const struct engine *e, const struct conn *c, struct probe_report *r);
void eng_fill_trace_report(const struct engine *e, struct conn *c, struct probe_report *r);
void eng_fill_error_report(const struct pctx *x, const char *err, struct probe_report *r);

#endif
