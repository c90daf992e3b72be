/* engine.c: the engine's own lifetime (see engine.h): the claim on the
 * source-port range, the RST guard, the raw sockets and the loop events at
 * start; at shutdown an RST for whatever is still open at a peer, then the
 * guard and the claim go. Its counters. The rest of the engine:
 * engine_probe.c (a probe's life), engine_io.c (the wire), engine_trace.c
 * (traces), engine_report.c (reports), engine_conns.c (connection table,
 * pools), engine_ports.c (source ports), engine_route.c (source
 * addresses); engine_priv.h is what they share. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine_priv.h"
#include "isn.h"
#include "log.h"
#include "rawio.h"
#include "rstguard.h"
#include "timens.h"
#include "wheel.h"

uint64_t engine_now(void)
{
	return clock_ns(CLOCK_REALTIME);
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
	rawio_on_tx_error(e->raw, eng_on_tx_error, e);
	e->rx_ev = event_new(base, rawio_fd(e->raw), EV_READ | EV_PERSIST, eng_on_rx_or_wheel, e);
	e->timer_ev = evtimer_new(base, eng_on_rx_or_wheel, e);
	e->pace_ev = evtimer_new(base, eng_on_pace, e);
	e->flush_ev = event_new(base, -1, 0, eng_on_flush, e);
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
					eng_send_segment(e, c, &rst, 0);
				}
				if (e->raw && c->f.state != TCPS_CLOSED && c->f.state != TCPS_TIME_WAIT) {
					struct fsm_event ev = { .type = EV_ABORT };
					struct fsm_actions acts;
					fsm_step(&c->f, &ev, now, &acts);
					for (unsigned k = 0; k < acts.n; k++)
						if (acts.a[k].type == ACT_SEND)
							eng_send_segment(e, c, &acts.a[k].u.seg, 0);
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
	eng_ports_free(e);
	while (e->q_head) {
		struct pctx *x = e->q_head;
		e->q_head = x->qnext;
		engine_profile_unref(x->prof);
	}
	eng_pool_destroy(&e->conn_pool);
	eng_pool_destroy(&e->pctx_pool);
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
