/* engine_io.c: the engine on the wire. Segments out (built with
 * pkt_write into rawio's send batch, each one spending a pps token), the
 * segments the kernel refused to send handed back to their probes, frames
 * in (parsed once, demultiplexed by 4-tuple to a connection's fsm or a
 * trace), timers expired from the wheel, and the loop events that drive
 * all of it. */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>

#include "engine_priv.h"
#include "flows.h"
#include "log.h"
#include "rawio.h"
#include "wheel.h"

#define RX_BATCH 1024

/* ttl: the IP TTL / hop limit, 0 for the profile's (a trace sets its own). */
void eng_send_segment(struct engine *e, struct conn *c, const struct fsm_segment *s, uint8_t ttl)
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

/* rawio could not send one of our segments. Called from inside a flush,
 * possibly while a connection's actions are being executed, so the probe
 * is ended later, by eng_flush_out. */
void eng_on_tx_error(void *arg, const uint8_t *pkt, size_t len, int err)
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
		struct conn *c = eng_tab_find(e, &pi->dst, pi->dport, pi->sport);
		if (!c || !addr_eq(&e->locals[c->lidx], &pi->src))
			continue;
		if (c->ctx && !c->ctx->send_errno)
			c->ctx->send_errno = (uint8_t)(u[i].err > 0 && u[i].err < 256 ? u[i].err : EIO);
		if (conn_is_trace(c)) {
			eng_trace_event(e, c, TRACE_EV_SEND_ERROR, pi, engine_now());
			continue;
		}
		struct fsm_event ev = { .type = EV_SEND_ERROR, .pkt = pi };
		eng_conn_step(e, c, &ev, engine_now());
	}
	free(u);
}

/* Send what is queued; ending the probes whose segments failed may queue
 * RSTs, so go round again (bounded: an RST that fails ends nothing new). */
void eng_flush_out(struct engine *e)
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
void eng_flush_soon(struct engine *e)
{
	if (!e->flush_armed) {
		e->flush_armed = true;
		event_active(e->flush_ev, 0, 0);
	}
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
		c = eng_tab_find(e, &pi.dst, pi.dport, pi.sport);
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
		c = eng_tab_find(e, &pi.dst, pi.dport, pi.sport);
		if (!c || !addr_eq(&e->locals[c->lidx], &pi.src)) {
			e->st.rx_unmatched++;
			return;
		}
		if (conn_is_trace(c)) {
			eng_trace_event(e, c, TRACE_EV_ICMP, &pi, f->ts_ns);
			return;
		}
		struct fsm_event ev = { .type = EV_ICMP, .pkt = &pi };
		eng_conn_step(e, c, &ev, f->ts_ns);
		return;
	}
	c = eng_tab_find(e, &pi.src, pi.sport, pi.dport);
	if (!c || !addr_eq(&e->locals[c->lidx], &pi.dst)) {
		e->st.rx_unmatched++;
		return;
	}
	if (conn_is_trace(c)) {
		eng_trace_event(e, c, TRACE_EV_SEGMENT, &pi, f->ts_ns);
		return;
	}
	if (c->ctx)
		find_observe_in(&c->ctx->obs, &pi, f->ts_ns);
	struct fsm_event ev = { .type = EV_SEGMENT, .pkt = &pi };
	eng_conn_step(e, c, &ev, f->ts_ns);
}

static void on_timer_entry(void *arg, struct wheel_entry *w)
{
	struct engine *e = arg;
	struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, timer));
	struct fsm_event ev = { .type = EV_TIMER };
	uint64_t now = engine_now();
	if (conn_is_trace(c)) {
		uint64_t d = conn_trace(c)->t.deadline;
		eng_trace_event(e, c, TRACE_EV_TIMER, NULL, now < d ? d : now);
		return;
	}
	if (now < c->f.deadline)
		now = c->f.deadline; /* the wheel never fires early; clocks may disagree by ns */
	eng_conn_step(e, c, &ev, now);
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
void eng_on_rx_or_wheel(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	wheel_expire(e->wheel, rx_drain(e), on_timer_entry, e);
	eng_drain_queue(e);
	eng_flush_out(e);
	schedule_timers(e);
}

void eng_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	e->flush_armed = false;
	eng_flush_out(e);
	schedule_timers(e);
}

void eng_on_pace(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	eng_drain_queue(e);
	eng_flush_out(e);
	schedule_timers(e);
}
