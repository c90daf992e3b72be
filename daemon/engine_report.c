/* engine_report.c: what a finished probe yields, as a probe_report: a
 * connection's (the fsm's counters and phases, probes/findings judged on
 * what it observed), a trace's (its hops), and a probe that could not
 * start (result error, without a connection). */
#include <string.h>

#include "engine_priv.h"

void eng_fill_report(const struct engine *e, const struct conn *c, struct probe_report *r)
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
void eng_fill_trace_report(const struct engine *e, struct conn *c, struct probe_report *r)
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
		if (last->kind == TRACE_HOP_TARGET && (last->tcp_flags & PKT_SYN)) {
			r->ph.handshake = r->ph.connect = last->rtt_ns;
			r->peer_ttl = last->reply_ttl; /* a flow's reply TTL */
		}
		if (last->kind == TRACE_HOP_UNREACH) {
			r->have_icmp = true;
			r->icmp_type = last->icmp_type;
			r->icmp_code = last->icmp_code;
		}
	}
	r->trace = res;
}

/* A probe that failed before it had a connection: result `error`, why in err. */
void eng_fill_error_report(const struct pctx *x, const char *err, struct probe_report *r)
{
	memset(r, 0, sizeof(*r));
	r->dst = x->dst;
	r->dport = x->dport;
	r->kind = x->prof->fp.kind;
	r->result = RESULT_ERROR;
	r->flow = x->flow;
	r->error = err;
	r->peer_wscale = -1;
	r->t_start = engine_now();
}
