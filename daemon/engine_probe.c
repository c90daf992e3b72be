/* engine_probe.c: a probe's life in the engine. engine_start queues it
 * behind the caps (in-flight, pps tokens), launch gives it a local
 * address, a source port and a connection, the fsm's actions are run
 * until the outcome is complete, then it is reported and its connection
 * lingers (TIME_WAIT) or goes. Profiles, shared by the probes of a
 * target, are reference counted here. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_priv.h"
#include "isn.h"
#include "log.h"
#include "rawio.h"
#include "timens.h"
#include "wheel.h"

#define PACE_NS 1000000ULL /* queue drain period while probes wait on the caps */

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

/* ---- conn lifetime ---- */

void eng_conn_report(struct engine *e, struct conn *c)
{
	struct pctx *x = c->ctx;
	if (!x)
		return;
	if (x->cb) {
		struct probe_report r;
		if (conn_is_trace(c))
			eng_fill_trace_report(e, c, &r);
		else
			eng_fill_report(e, c, &r);
		x->cb(x->arg, &r);
	}
	c->ctx = NULL;
	c->f.tl = NULL;
	engine_profile_unref(x->prof);
	eng_pool_put(&e->pctx_pool, x);
	e->inflight--;
}

void eng_conn_free(struct engine *e, struct conn *c)
{
	bool trace = conn_is_trace(c);
	eng_conn_report(e, c);
	wheel_cancel(e->wheel, &c->timer);
	eng_tab_remove(e, c);
	eng_port_release(e, &c->remote, c->rport, c->lport);
	engine_profile_unref(conn_prof(c));
	if (trace) {
		eng_trace_unwait(e, conn_trace(c));
		free(conn_trace(c));
	} else {
		eng_pool_put(&e->conn_pool, c);
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
			eng_send_segment(e, c, &a->u.seg, 0);
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
		eng_conn_report(e, c);
	if (done) {
		eng_conn_free(e, c);
		return false;
	}
	return true;
}

void eng_conn_step(struct engine *e, struct conn *c, const struct fsm_event *ev, uint64_t now)
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

/* ---- starting probes ---- */

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
	struct conn *old = eng_tab_find(e, &x->dst, x->dport, x->sport);
	/* A trace that lingers (reported) only waits for late SYN/ACKs. */
	if (old && !old->ctx && (old->f.state == TCPS_TIME_WAIT || conn_is_trace(old))) {
		eng_conn_free(e, old);
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
	int li = eng_local_index(e, &local);
	if (li < 0) {
		snprintf(err, sizeof(err), "too many local addresses");
		log_warnx("%s", err);
		goto fail;
	}
	int port = x->sport ? flow_port(e, x, err, sizeof(err)) : eng_port_alloc(e, &x->dst, x->dport);
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
	struct conn *c = trace ? (tc ? &tc->c : NULL) : eng_pool_get(&e->conn_pool);
	if (!c) {
		eng_port_release(e, &x->dst, x->dport, (uint16_t)port);
		snprintf(err, sizeof(err), "out of memory starting a probe");
		log_warnx("%s", err);
		goto fail;
	}
	c->remote = x->dst;
	c->rport = x->dport;
	c->lport = (uint16_t)port;
	c->lidx = (uint16_t)li;
	engine_profile_ref(x->prof); /* the connection's, released in eng_conn_free */
	c->ctx = x;
	memset(&x->obs, 0, sizeof(x->obs));
	/* A trace's fsm only carries its profile (conn_prof): probes/trace runs it. */
	fsm_init(&c->f, &x->prof->fp, x->want_tl && !trace ? &x->tl : NULL);
	eng_tab_insert(e, c);
	e->inflight++;
	e->st.probes_started++;

	uint64_t now = engine_now();
	uint32_t iss = isn_make(&local, c->lport, &c->remote, c->rport, now);
	uint32_t ts_offset = isn_ts_offset(&local, c->lport, &c->remote, c->rport);
	if (trace) {
		eng_trace_start(e, tc, iss, ts_offset, now);
		return;
	}
	struct fsm_event ev = { .type = EV_OPEN, .iss = iss, .ts_offset = ts_offset };
	eng_conn_step(e, c, &ev, now);
	return;
fail:
	/* Report the failure as result `error` without a connection. */
	if (x->cb) {
		struct probe_report r;
		eng_fill_error_report(x, err, &r);
		x->cb(x->arg, &r);
	}
	engine_profile_unref(x->prof);
	eng_pool_put(&e->pctx_pool, x);
}

void eng_drain_queue(struct engine *e)
{
	refill_tokens(e, engine_now());
	eng_trace_serve_waiting(e);
	while (e->q_head && !e->w_head && caps_allow(e, e->q_head->prof)) {
		struct pctx *x = e->q_head;
		e->q_head = x->qnext;
		if (!e->q_head)
			e->q_tail = NULL;
		e->queued--;
		launch(e, x);
	}
	if ((e->q_head || e->w_head) && !evtimer_pending(e->pace_ev, NULL)) {
		struct timeval tv = ns_timeval(PACE_NS);
		evtimer_add(e->pace_ev, &tv);
	}
}

int engine_start(struct engine *e, const struct engine_probe *p, char *err, size_t errlen)
{
	if (p->ifindex && rawio_set_scope(e->raw, &p->dst, p->ifindex) < 0) {
		snprintf(err, errlen, "more than %d link-local destinations with a zone", RAWIO_ZONES);
		return -1;
	}
	struct pctx *x = eng_pool_get(&e->pctx_pool);
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
		eng_flush_soon(e);
		return 0;
	}
	e->st.probes_waited++;
	if (e->q_tail)
		e->q_tail->qnext = x;
	else
		e->q_head = x;
	e->q_tail = x;
	e->queued++;
	eng_drain_queue(e);
	eng_flush_soon(e);
	return 0;
}
