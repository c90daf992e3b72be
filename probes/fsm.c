/*
 * fsm.c: the client-side TCP state machine. Pure: every input (the event,
 * the parsed segment, the time) is an argument and every output is an action
 * in the caller's list. RFC 9293 segment arrival rules (3.10.7), RFC 5961
 * (blind RST/SYN/data), RFC 5927 (ICMP checks), RFC 7323 (timestamps, PAWS),
 * RFC 6298 (backoff), RFC 1337 (no TIME_WAIT assassination).
 *
 * Choices the RFCs leave open, or where a prober differs from a full stack:
 * - EV_ABORT: RST|ACK (seq SND.NXT, ack RCV.NXT) from every synchronized
 *   state but TIME_WAIT; from CLOSED/SYN_SENT nothing is sent (the peer has
 *   no state to reset). A pending result becomes RESULT_ERROR; a final result
 *   leaves the close phase as CLOSE_RESET.
 * - An accepted RST before the result is final is RESULT_RESET
 *   (RESULT_REFUSED in SYN_RECEIVED, RFC 9293 3.10.7.4 step 2). A handshake
 *   probe's ok is taken back (a second ACT_RESULT, reset; close stays none)
 *   by an RST that comes before the peer took our close: in ESTABLISHED (the
 *   hold, or a FIN held by a zero window) or FIN_WAIT_1 when neither the RST
 *   nor anything before it acknowledged our FIN, and no FIN came from the
 *   peer. Any later RST (or an abort) sets close_result reset: the
 *   connection did not close cleanly.
 * - EV_CLOSE before ESTABLISHED aborts (result error); afterwards it starts
 *   the active close from ESTABLISHED or finishes the passive one.
 * - RSTs are ignored in TIME_WAIT (RFC 1337), so a port is never reused early.
 * - ICMP unreachable/time exceeded is a hard error in SYN_SENT and for the FIN
 *   probe (the answer a prober wants), a recorded soft error (RFC 5461) once
 *   synchronized. Packet too big is recorded only: we never send data.
 * - No reassembly queue: out-of-order data draws a duplicate ACK and is
 *   dropped. No challenge-ACK rate limit (RFC 5961 7): a probe is short-lived.
 * - The receive window used by the acceptability test is p->window, unscaled;
 *   segments advertise it shifted by our window scale once both sides sent
 *   the option (RFC 7323 2.3).
 * - A zero send window holds our FIN back until a window update, or for one
 *   RTO, after which the FIN itself is the zero-window probe. Its
 *   retransmissions are bounded by p->retries even if the peer keeps
 *   ACKing them with a zero window (RFC 9293 MUST-37 would wait forever).
 *
 * Timeline: an inbound/timer/ICMP/user entry carries the state at the end of
 * its step; an outbound entry the state its sending led to (the next state
 * change in the same step, else the state at the end of it). For TL_USER,
 * flags holds the enum fsm_event_type. Peer sequence numbers are relative to
 * IRS (absolute before the peer's SYN is seen, e.g. for the FIN probe).
 */
#include <string.h>
#include <sys/socket.h> /* AF_INET6: constants only */

#include "fsm.h"

#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

/* One fsm_step call: the connection, the action list and the time. */
struct step {
	struct fsm_conn *c;
	struct fsm_actions *out;
	uint64_t now;
	int trig;         /* timeline index of the event's own entry, or -1 */
	bool trig_set;    /* its state is the first one this event entered */
	unsigned tl_open; /* first outbound timeline entry whose state is unsettled */
};

/* ---- strings ---- */

const char *tcp_state_str(enum tcp_state s)
{
	switch (s) {
	case TCPS_CLOSED:       return "CLOSED";
	case TCPS_SYN_SENT:     return "SYN_SENT";
	case TCPS_SYN_RECEIVED: return "SYN_RECEIVED";
	case TCPS_ESTABLISHED:  return "ESTABLISHED";
	case TCPS_FIN_WAIT_1:   return "FIN_WAIT_1";
	case TCPS_FIN_WAIT_2:   return "FIN_WAIT_2";
	case TCPS_CLOSING:      return "CLOSING";
	case TCPS_TIME_WAIT:    return "TIME_WAIT";
	case TCPS_CLOSE_WAIT:   return "CLOSE_WAIT";
	case TCPS_LAST_ACK:     return "LAST_ACK";
	}
	return "?";
}

const char *probe_kind_str(enum probe_kind k)
{
	switch (k) {
	case PROBE_SYN:       return "syn";
	case PROBE_HANDSHAKE: return "handshake";
	case PROBE_FIN:       return "fin";
	case PROBE_TRACE:     return "trace";
	}
	return "?";
}

const char *probe_result_str(enum probe_result r)
{
	switch (r) {
	case RESULT_PENDING:     return "pending";
	case RESULT_OK:          return "ok";
	case RESULT_REFUSED:     return "refused";
	case RESULT_TIMEOUT:     return "timeout";
	case RESULT_UNREACHABLE: return "unreachable";
	case RESULT_RESET:       return "reset";
	case RESULT_ERROR:       return "error";
	case RESULT_CLOSED:      return "closed";
	case RESULT_SILENT:      return "silent";
	}
	return "?";
}

const char *close_result_str(enum close_result r)
{
	switch (r) {
	case CLOSE_NONE:    return "none";
	case CLOSE_OK:      return "ok";
	case CLOSE_RESET:   return "reset";
	case CLOSE_TIMEOUT: return "timeout";
	}
	return "?";
}

int probe_kind_from_str(const char *s)
{
	for (int k = 0; k < PROBE_KIND_COUNT; k++)
		if (strcmp(s, probe_kind_str((enum probe_kind)k)) == 0)
			return k;
	return -1;
}

/* ---- timeline and actions ---- */

static int tl_add(struct step *s, uint8_t dir, uint8_t flags, uint32_t seq, uint32_t ack,
		  uint16_t len)
{
	struct fsm_timeline *tl = s->c->tl;

	if (tl == NULL)
		return -1;
	if (tl->n >= FSM_TL_MAX) {
		if (tl->dropped < UINT8_MAX)
			tl->dropped++;
		return -1;
	}
	tl->e[tl->n] = (struct fsm_tl_entry){ .t_ns = s->now, .seq = seq, .ack = ack,
		.len = len, .dir = dir, .flags = flags, .state = s->c->state };
	return tl->n++;
}

/* Outbound entries not yet settled take state st. */
static void tl_settle(struct step *s, uint8_t st)
{
	struct fsm_timeline *tl = s->c->tl;

	if (tl == NULL)
		return;
	for (unsigned i = s->tl_open; i < tl->n; i++)
		if (tl->e[i].dir == TL_OUT)
			tl->e[i].state = st;
	s->tl_open = tl->n;
}

static void push(struct step *s, struct fsm_action a)
{
	/* FSM_ACTIONS_MAX covers the longest step (6 actions); never overrun. */
	if (s->out->n < FSM_ACTIONS_MAX)
		s->out->a[s->out->n++] = a;
}

static void set_state(struct step *s, enum tcp_state st)
{
	if (s->c->state == st)
		return;
	s->c->state = st;
	push(s, (struct fsm_action){ .type = ACT_STATE, .u.state = st });
	tl_settle(s, st);
	/* The event's own entry shows the state it caused (a SYN/ACK shows
	 * ESTABLISHED even when the probe goes on to FIN_WAIT_1 in the same step). */
	if (s->trig >= 0 && !s->trig_set) {
		s->c->tl->e[s->trig].state = st;
		s->trig_set = true;
	}
}

static void arm(struct step *s, uint64_t deadline)
{
	if (s->c->deadline == deadline)
		return;
	s->c->deadline = deadline;
	push(s, (struct fsm_action){ .type = ACT_TIMER, .u.deadline = deadline });
}

static void arm_in(struct step *s, uint64_t delay)
{
	uint64_t d = s->now + (delay ? delay : 1);

	arm(s, d < s->now ? UINT64_MAX : d);
}

/* RFC 6298 5.5: the n-th transmission waits rto << (n-1), saturating. */
static void arm_backoff(struct step *s, unsigned tx)
{
	uint64_t d = s->c->p->rto_ns;

	for (unsigned i = 1; i < tx && d <= UINT64_MAX / 2; i++)
		d *= 2;
	arm_in(s, d);
}

/* Transmissions allowed for a SYN or FIN: 1 + p->retries (tx counters are
 * uint8_t, so at most 255). */
static bool may_retransmit(const struct fsm_conn *c, uint8_t tx)
{
	unsigned max = (c->p->retries < UINT8_MAX ? c->p->retries : UINT8_MAX - 1) + 1u;

	return tx < max;
}

static void set_result(struct step *s, enum probe_result r)
{
	if (s->c->synced_result)
		return;
	s->c->result = r;
	s->c->synced_result = true;
	push(s, (struct fsm_action){ .type = ACT_RESULT, .u.result = r });
}

static void set_close(struct step *s, enum close_result r)
{
	if (s->c->close_result != CLOSE_NONE)
		return;
	s->c->close_result = r;
	push(s, (struct fsm_action){ .type = ACT_CLOSE_RESULT, .u.result = r });
}

/* The connection is over: CLOSED, no timer, ACT_DONE. */
static void finish(struct step *s)
{
	set_state(s, TCPS_CLOSED);
	arm(s, 0);
	push(s, (struct fsm_action){ .type = ACT_DONE });
}

static bool finished(const struct fsm_conn *c) { return c->state == TCPS_CLOSED && c->synced_result; }
static bool started(const struct fsm_conn *c) { return c->syn_tx || c->fin_tx || c->synced_result; }

/* ---- sending ---- */

static void send_seg(struct step *s, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct fsm_conn *c = s->c;
	struct fsm_segment seg = { .seq = seq, .ack = ack, .win = c->p->window,
		.flags = flags };

	/* RFC 7323 2.2-2.3: once both SYNs carried the option, every other
	 * segment's window field is the window shifted right by our scale (a
	 * SYN's never is); the peer shifts it back. */
	if (!(flags & PKT_SYN) && c->peer_wscale_ok && c->p->syn.wscale >= 0)
		seg.win = (uint16_t)(c->p->window >> c->p->syn.wscale);
	if (flags & PKT_SYN) {
		seg.syn_opts = true;
		/* RFC 7323 3.2: a SYN/ACK carries TSopt only if the SYN did. */
		seg.ts = c->p->syn.timestamps && (!(flags & PKT_ACK) || c->ts_ok);
	} else {
		seg.ts = c->ts_ok;
	}
	if (seg.ts) {
		/* RFC 7323 5.4: a millisecond clock plus a per-connection offset;
		 * TSecr is only meaningful with ACK set. */
		seg.tsval = (uint32_t)(s->now / 1000000) + c->ts_offset;
		seg.tsecr = (flags & PKT_ACK) ? c->ts_recent : 0;
	}
	push(s, (struct fsm_action){ .type = ACT_SEND, .u.seg = seg });
	tl_add(s, TL_OUT, flags, seq - c->iss, (flags & PKT_ACK) ? ack - c->irs : 0, 0);
}

static void send_ack(struct step *s) { send_seg(s, PKT_ACK, s->c->snd_nxt, s->c->rcv_nxt); }

/* An ACK that repeats RCV.NXT for a segment that was not the next one. */
static void dup_ack(struct step *s)
{
	if (s->c->dup_acks < UINT16_MAX)
		s->c->dup_acks++;
	send_ack(s);
}

/* RFC 5961 3.2, 4.2, 5.2: answer a suspicious segment with an ACK; a peer
 * that really lost sync answers it with an exact RST. */
static void challenge_ack(struct step *s)
{
	if (s->c->challenge_acks < UINT16_MAX)
		s->c->challenge_acks++;
	send_ack(s);
}

/* Our SYN, or in SYN_RECEIVED our SYN/ACK. t_syn is the latest one. */
static void send_syn(struct step *s)
{
	struct fsm_conn *c = s->c;

	if (c->state == TCPS_SYN_RECEIVED)
		send_seg(s, PKT_SYN | PKT_ACK, c->iss, c->rcv_nxt);
	else
		send_seg(s, PKT_SYN | (c->p->ecn ? PKT_ECE | PKT_CWR : 0), c->iss, 0);
	c->t_syn = s->now;
	if (c->t_syn1 == 0)
		c->t_syn1 = s->now;
}

/* Our FIN, first or retransmitted. The FIN probe's is bare (no ACK). */
static void send_fin(struct step *s)
{
	struct fsm_conn *c = s->c;
	uint32_t seq = c->fin_tx ? c->snd_nxt - 1 : c->snd_nxt;

	if (c->p->kind == PROBE_FIN)
		send_seg(s, PKT_FIN, seq, 0);
	else
		send_seg(s, PKT_FIN | PKT_ACK, seq, c->rcv_nxt);
	if (c->fin_tx++ == 0) {
		c->snd_nxt++;
		c->t_fin = s->now;
	}
}

/* ---- transitions shared by several states ---- */

static void send_first_fin(struct step *s)
{
	s->c->fin_held = false;
	send_fin(s);
	set_state(s, s->c->state == TCPS_CLOSE_WAIT ? TCPS_LAST_ACK : TCPS_FIN_WAIT_1);
	arm_backoff(s, s->c->fin_tx);
}

/* Close from ESTABLISHED or CLOSE_WAIT. Our FIN takes sequence space, so a
 * zero send window holds it back (RFC 9293 3.8.6.1; Linux holds it too):
 * it goes when a window update opens the window, or one RTO later as the
 * zero-window probe (SHLD-29: the FIN is our only new data), its
 * retransmissions with backoff being the later probes (SHLD-30). */
static void active_close(struct step *s)
{
	struct fsm_conn *c = s->c;

	if (c->snd_wnd > 0) {
		send_first_fin(s);
	} else if (!c->fin_held) {
		c->fin_held = true;
		arm_backoff(s, 1);
	}
}

/* A held FIN goes as soon as the window opens. */
static void window_update(struct step *s)
{
	struct fsm_conn *c = s->c;

	if (c->fin_held && c->snd_wnd > 0 &&
	    (c->state == TCPS_ESTABLISHED || c->state == TCPS_CLOSE_WAIT))
		send_first_fin(s);
}

/* The peer's FIN in ESTABLISHED: a probe has nothing left to send, so it
 * closes at once (RFC 9293 3.6 case 2) and CLOSE_WAIT lasts no time, unless
 * a zero window holds our FIN back. */
static void passive_close(struct step *s)
{
	set_state(s, TCPS_CLOSE_WAIT);
	active_close(s);
}

static void time_wait(struct step *s)
{
	set_state(s, TCPS_TIME_WAIT);
	if (s->c->t_end == 0)
		s->c->t_end = s->now;
	set_close(s, CLOSE_OK);
	arm_in(s, s->c->p->time_wait_ns);
}

/* Our SYN has been acknowledged. ack_syn: the segment carried the peer's
 * SYN, which needs our ACK. The SYN probe tears down with RST|ACK instead. */
static void established(struct step *s, bool ack_syn)
{
	struct fsm_conn *c = s->c;

	if (c->t_synack == 0)
		c->t_synack = s->now;
	if (c->p->kind == PROBE_SYN && c->p->synack_wait_ns && c->state == TCPS_SYN_SENT &&
	    c->synack_seen == 1) {
		/* The opt-in check: no RST yet, see whether the SYN/ACK comes
		 * again (seg_syn_sent) before the timer (ev_timer). */
		arm_in(s, c->p->synack_wait_ns + 2 * (c->t_synack - c->t_syn));
		return;
	}
	if (c->p->kind == PROBE_SYN) {
		send_seg(s, PKT_RST | PKT_ACK, c->snd_nxt, c->rcv_nxt);
		set_result(s, RESULT_OK);
		finish(s);
		return;
	}
	if (ack_syn)
		send_ack(s);
	set_state(s, TCPS_ESTABLISHED);
	set_result(s, RESULT_OK);
}

/* After the segment that established the connection is processed. With no
 * hold the FIN follows in the same step: the wire shows S, S., ., F. */
static void hold_or_close(struct step *s)
{
	if (s->c->state != TCPS_ESTABLISHED)
		return;
	if (s->c->p->hold_ns == 0)
		active_close(s);
	else
		arm_in(s, s->c->p->hold_ns);
}

/* A handshake probe's ok, reported when the SYN/ACK arrives, stands only if
 * the peer takes our close: an RST before it acknowledged our FIN (or sent
 * its own), e.g. a SYN proxy's backend refusing the connection the proxy
 * completed, means the connection never worked. */
static bool reset_before_close(const struct fsm_conn *c, const struct pkt_info *pkt)
{
	bool fin_acked_now = c->fin_tx && (pkt->flags & PKT_ACK) && pkt->ack == c->snd_nxt;

	return c->p->kind == PROBE_HANDSHAKE && c->result == RESULT_OK &&
	    c->close_result == CLOSE_NONE && c->t_peer_fin == 0 &&
	    (c->fin_tx == 0 || c->snd_una != c->snd_nxt) && !fin_acked_now;
}

static void reset(struct step *s, const struct pkt_info *pkt)
{
	struct fsm_conn *c = s->c;

	if (!c->synced_result) {
		set_result(s, c->state == TCPS_SYN_RECEIVED ? RESULT_REFUSED : RESULT_RESET);
	} else if (reset_before_close(c, pkt)) {
		/* The one result that is taken back; the close never began
		 * as far as the peer is concerned (close stays none). */
		c->result = RESULT_RESET;
		push(s, (struct fsm_action){ .type = ACT_RESULT, .u.result = RESULT_RESET });
	} else {
		set_close(s, CLOSE_RESET);
	}
	finish(s);
}

/* The peer's SYN (or SYN/ACK): IRS and what it tells about the peer. */
static void peer_syn(struct fsm_conn *c, const struct pkt_info *pkt)
{
	c->irs = pkt->seq;
	c->rcv_nxt = pkt->seq + 1;
	c->peer_ttl = pkt->ttl;
	c->peer_mss = pkt->opts.has_mss ? pkt->opts.mss : 0;
	c->peer_wscale_ok = pkt->opts.has_wscale;
	c->peer_wscale = pkt->opts.has_wscale ? pkt->opts.wscale : 0;
	c->peer_sack = pkt->opts.sack_ok;
	c->peer_ts = pkt->opts.has_ts;
	c->ts_ok = c->p->syn.timestamps && pkt->opts.has_ts;
	if (pkt->opts.has_ts)
		c->ts_recent = pkt->opts.tsval;
	c->snd_wnd = pkt->win;
}

/* ---- copies of the peer's SYN/ACK and FIN ---- */

static void copy_note(struct fsm_copy *k, const struct pkt_info *pkt, uint64_t now)
{
	*k = (struct fsm_copy){ .t = now, .tsval = pkt->opts.tsval, .ts = pkt->opts.has_ts };
}

/* Whether pkt, another copy of the segment k noted, is a duplicate (the rule
 * at FSM_DUP_GAP_NS); k moves to this copy either way. */
static bool copy_is_dup(struct fsm_copy *k, const struct pkt_info *pkt, uint64_t now)
{
	bool dup = k->t && now - k->t < FSM_DUP_GAP_NS &&
	    (!k->ts || !pkt->opts.has_ts || k->tsval == pkt->opts.tsval);

	copy_note(k, pkt, now);
	return dup;
}

static void count_dup(struct fsm_conn *c)
{
	if (c->duplicates < UINT16_MAX)
		c->duplicates++;
}

/* ---- segment checks for synchronized states (RFC 9293 3.10.7.4) ---- */

static bool in_window(uint32_t seq, uint32_t rcv_nxt, uint32_t wnd)
{
	return wnd > 0 && SEQ_GEQ(seq, rcv_nxt) && SEQ_LT(seq, rcv_nxt + wnd);
}

/* Step 1, the four cases of the acceptability test. */
static bool acceptable(const struct fsm_conn *c, const struct pkt_info *pkt)
{
	uint32_t len = pkt->payload_len + !!(pkt->flags & PKT_SYN) + !!(pkt->flags & PKT_FIN);
	uint32_t wnd = c->p->window;

	if (len == 0)
		return wnd == 0 ? pkt->seq == c->rcv_nxt : in_window(pkt->seq, c->rcv_nxt, wnd);
	return in_window(pkt->seq, c->rcv_nxt, wnd) ||
	    in_window(pkt->seq + len - 1, c->rcv_nxt, wnd);
}

/* RFC 7323 5.3 R1: PAWS. RSTs are exempt. */
static bool paws_reject(const struct fsm_conn *c, const struct pkt_info *pkt)
{
	return c->ts_ok && pkt->opts.has_ts &&
	    (int32_t)(pkt->opts.tsval - c->ts_recent) < 0;
}

/* RFC 7323 4.3: remember the TSval of a segment that covers the left edge
 * of the window (we ACK everything, so Last.ACK.sent is RCV.NXT); PAWS has
 * already turned away an older one. */
static void ts_recent_update(struct fsm_conn *c, const struct pkt_info *pkt)
{
	if (c->ts_ok && pkt->opts.has_ts && SEQ_LEQ(pkt->seq, c->rcv_nxt))
		c->ts_recent = pkt->opts.tsval;
}

/* Steps 1, 2 and 4 for every state past SYN_SENT. Returns false when the
 * segment has been dealt with (dropped or answered). */
static bool sync_checks(struct step *s, const struct pkt_info *pkt)
{
	struct fsm_conn *c = s->c;

	if (pkt->flags & PKT_RST) {
		/* RFC 1337: a RST must not end TIME_WAIT early. */
		if (c->state == TCPS_TIME_WAIT) {
			if (c->tw_rsts < UINT8_MAX)
				c->tw_rsts++;
			return false;
		}
		/* RFC 5961 3.2: only an exact RST is believed; one elsewhere in
		 * the window draws a challenge ACK; outside it, silence. */
		if (pkt->seq == c->rcv_nxt)
			reset(s, pkt);
		else if (in_window(pkt->seq, c->rcv_nxt, c->p->window))
			challenge_ack(s);
		return false;
	}
	if (pkt->flags & PKT_SYN) {
		bool synack = (pkt->flags & PKT_ACK) && pkt->seq == c->irs &&
		    pkt->ack == c->iss + 1;

		if (synack && c->state == TCPS_SYN_RECEIVED) {
			/* Simultaneous open, RFC 9293 figure 8 line 6: our
			 * ACK of it echoes its TSval. */
			if (!paws_reject(c, pkt))
				ts_recent_update(c, pkt);
			return true;
		}
		if (synack) {
			/* The peer retransmits its SYN/ACK (our ACK was lost), or
			 * the network duplicated it. Either way it gets our ACK. */
			if (copy_is_dup(&c->last_synack, pkt, s->now))
				count_dup(c);
			else if (c->synack_seen < UINT8_MAX)
				c->synack_seen++;
			send_ack(s);
		} else if (c->state == TCPS_SYN_RECEIVED && !(pkt->flags & PKT_ACK) &&
		    pkt->seq == c->irs) {
			send_syn(s); /* its SYN again: our SYN/ACK was lost */
		} else {
			challenge_ack(s); /* RFC 5961 4.2, any SYN once synchronized */
		}
		return false;
	}
	if (!acceptable(c, pkt) || paws_reject(c, pkt)) {
		bool old_fin = (pkt->flags & PKT_FIN) && c->t_peer_fin &&
		    pkt->seq + pkt->payload_len + 1 == c->rcv_nxt;

		if (old_fin && copy_is_dup(&c->last_fin, pkt, s->now))
			count_dup(c);
		else if (old_fin && c->peer_fin_rtx < UINT8_MAX)
			c->peer_fin_rtx++;
		dup_ack(s);
		/* RFC 9293 3.10.7.4 step 8: a retransmitted FIN in TIME_WAIT
		 * is acknowledged and restarts the 2 MSL timeout. */
		if (c->state == TCPS_TIME_WAIT && old_fin)
			arm_in(s, c->p->time_wait_ns);
		return false;
	}
	ts_recent_update(c, pkt);
	return true;
}

/* Step 5. Returns false to drop the segment. */
static bool rcv_ack(struct step *s, const struct pkt_info *pkt)
{
	struct fsm_conn *c = s->c;

	if (!(pkt->flags & PKT_ACK))
		return false;
	if (SEQ_GT(pkt->ack, c->snd_nxt)) {
		/* RFC 5961 5.2: it acknowledges something never sent. The
		 * lower bound (SND.UNA - MAX.SND.WND) is not checked: we send
		 * no data, so an old ACK cannot move anything. */
		challenge_ack(s);
		return false;
	}
	if (SEQ_GT(pkt->ack, c->snd_una))
		c->snd_una = pkt->ack;
	c->snd_wnd = pkt->win;
	return true;
}

static bool fin_acked(struct step *s)
{
	struct fsm_conn *c = s->c;

	if (c->fin_tx == 0 || c->snd_una != c->snd_nxt)
		return false;
	if (c->t_fin_acked == 0)
		c->t_fin_acked = s->now;
	return true;
}

/* Steps 7 and 8 for states that still receive. Returns true if the peer's
 * FIN was accepted. */
static bool rcv_data_fin(struct step *s, const struct pkt_info *pkt)
{
	struct fsm_conn *c = s->c;
	uint32_t end = pkt->seq + pkt->payload_len;
	bool fin = pkt->flags & PKT_FIN, advanced = false;

	if (SEQ_GT(pkt->seq, c->rcv_nxt)) {
		/* A hole before it: without a reassembly queue, ask for the
		 * missing bytes again (RFC 5681 4.2). */
		if (pkt->payload_len || fin)
			dup_ack(s);
		return false;
	}
	if (SEQ_GT(end, c->rcv_nxt)) {
		c->bytes_rcvd += end - c->rcv_nxt;
		c->rcv_nxt = end;
		advanced = true;
	}
	if (fin && end == c->rcv_nxt) {
		c->rcv_nxt++;
		copy_note(&c->last_fin, pkt, s->now);
		if (c->t_peer_fin == 0)
			c->t_peer_fin = s->now;
	} else {
		fin = false;
	}
	if (advanced || fin)
		send_ack(s);
	return fin;
}

/* ---- one function per state ---- */

/* Before open nothing arrives here; for the FIN probe, only a RST|ACK that
 * acknowledges our FIN (RFC 9293 3.10.7.1: what a closed port answers) is
 * believed. A listening port drops a bare FIN: silence. */
static void seg_closed(struct step *s, const struct pkt_info *pkt)
{
	struct fsm_conn *c = s->c;

	if ((pkt->flags & PKT_RST) && (pkt->flags & PKT_ACK) && pkt->ack == c->snd_nxt) {
		c->t_end = s->now;
		set_result(s, RESULT_CLOSED);
		finish(s);
	}
}

/* RFC 9293 3.10.7.3. */
static void seg_syn_sent(struct step *s, const struct pkt_info *pkt)
{
	struct fsm_conn *c = s->c;
	bool ack = pkt->flags & PKT_ACK;

	/* First: SND.UNA < SEG.ACK =< SND.NXT, i.e. SEG.ACK == ISS+1. An ACK
	 * for something else gets <SEQ=SEG.ACK><CTL=RST>; we stay. */
	if (ack && pkt->ack != c->snd_nxt) {
		if (!(pkt->flags & PKT_RST))
			send_seg(s, PKT_RST, pkt->ack, 0);
		return;
	}
	/* Second: a RST counts only if it acknowledges our SYN. */
	if (pkt->flags & PKT_RST) {
		if (ack) {
			set_result(s, RESULT_REFUSED);
			finish(s);
		}
		return;
	}
	if (!(pkt->flags & PKT_SYN))
		return;
	peer_syn(c, pkt);
	if (!ack) {
		/* Simultaneous open (RFC 9293 3.5 figure 8): answer SYN/ACK;
		 * the SYN retransmission timer keeps running for it. */
		set_state(s, TCPS_SYN_RECEIVED);
		send_syn(s);
		return;
	}
	c->snd_una = pkt->ack;
	if (c->synack_seen && copy_is_dup(&c->last_synack, pkt, s->now)) {
		/* Only while the SYN/ACK retransmission check waits. */
		count_dup(c);
		return;
	}
	c->synack_seen++;
	copy_note(&c->last_synack, pkt, s->now);
	/* Data on a SYN/ACK is accepted and covered by our ACK; a FIN on it
	 * is left for the peer to retransmit. */
	c->rcv_nxt += pkt->payload_len;
	c->bytes_rcvd += pkt->payload_len;
	established(s, true);
	hold_or_close(s);
}

static void seg_syn_received(struct step *s, const struct pkt_info *pkt)
{
	struct fsm_conn *c = s->c;
	bool synack = pkt->flags & PKT_SYN;

	if (!(pkt->flags & PKT_ACK))
		return;
	if (pkt->ack != c->snd_nxt) {
		send_seg(s, PKT_RST, pkt->ack, 0); /* step 5: <SEQ=SEG.ACK><CTL=RST> */
		return;
	}
	c->snd_una = pkt->ack;
	c->snd_wnd = pkt->win;
	if (synack) {
		c->synack_seen++;
		copy_note(&c->last_synack, pkt, s->now);
	}
	established(s, synack);
	if (c->state == TCPS_ESTABLISHED && !synack && rcv_data_fin(s, pkt))
		passive_close(s);
	hold_or_close(s);
}

static void seg_established(struct step *s, const struct pkt_info *pkt)
{
	if (!rcv_ack(s, pkt))
		return;
	if (rcv_data_fin(s, pkt))
		passive_close(s);
	window_update(s);
}

static void seg_fin_wait_1(struct step *s, const struct pkt_info *pkt)
{
	bool acked, fin;

	if (!rcv_ack(s, pkt))
		return;
	acked = fin_acked(s);
	fin = rcv_data_fin(s, pkt);
	if (fin && acked) {
		time_wait(s);
	} else if (fin) {
		/* Simultaneous close (RFC 9293 3.6 figure 13): the FIN timer
		 * keeps running until our FIN is acknowledged. */
		set_state(s, TCPS_CLOSING);
	} else if (acked) {
		set_state(s, TCPS_FIN_WAIT_2);
		arm_in(s, s->c->p->fin_wait_2_ns);
	}
}

static void seg_fin_wait_2(struct step *s, const struct pkt_info *pkt)
{
	if (rcv_ack(s, pkt) && rcv_data_fin(s, pkt))
		time_wait(s);
}

/* CLOSING, LAST_ACK: the peer's FIN is in, only the ACK of ours matters;
 * text after a FIN is ignored (step 7). */
static void seg_closing(struct step *s, const struct pkt_info *pkt)
{
	if (rcv_ack(s, pkt) && fin_acked(s))
		time_wait(s);
}

static void seg_last_ack(struct step *s, const struct pkt_info *pkt)
{
	if (rcv_ack(s, pkt) && fin_acked(s)) {
		s->c->t_end = s->now;
		set_close(s, CLOSE_OK);
		finish(s);
	}
}

/* CLOSE_WAIT (transient unless our FIN waits for the window) and TIME_WAIT:
 * only the ACK field can matter; sync_checks answered retransmitted FINs. */
static void seg_quiet(struct step *s, const struct pkt_info *pkt)
{
	if (rcv_ack(s, pkt))
		window_update(s);
}

static void ev_segment(struct step *s, const struct pkt_info *pkt)
{
	struct fsm_conn *c = s->c;

	s->trig = tl_add(s, TL_IN, pkt->flags, pkt->seq - c->irs,
			 (pkt->flags & PKT_ACK) ? pkt->ack - c->iss : 0, pkt->payload_len);
	if (c->state == TCPS_CLOSED) {
		seg_closed(s, pkt);
		return;
	}
	if (c->state == TCPS_SYN_SENT) {
		seg_syn_sent(s, pkt);
		if (s->trig >= 0) /* IRS may just have been learnt */
			c->tl->e[s->trig].seq = pkt->seq - c->irs;
		return;
	}
	if (!sync_checks(s, pkt))
		return;
	switch ((enum tcp_state)c->state) {
	case TCPS_SYN_RECEIVED: seg_syn_received(s, pkt); break;
	case TCPS_ESTABLISHED:  seg_established(s, pkt); break;
	case TCPS_FIN_WAIT_1:   seg_fin_wait_1(s, pkt); break;
	case TCPS_FIN_WAIT_2:   seg_fin_wait_2(s, pkt); break;
	case TCPS_CLOSING:      seg_closing(s, pkt); break;
	case TCPS_LAST_ACK:     seg_last_ack(s, pkt); break;
	case TCPS_CLOSE_WAIT:
	case TCPS_TIME_WAIT:    seg_quiet(s, pkt); break;
	case TCPS_CLOSED:
	case TCPS_SYN_SENT:     break; /* handled above */
	}
}

/* ---- other events ---- */

static void ev_open(struct step *s, const struct fsm_event *ev)
{
	struct fsm_conn *c = s->c;

	c->iss = c->snd_una = c->snd_nxt = ev->iss;
	c->ts_offset = ev->ts_offset;
	c->t_open = s->now;
	switch (c->p->kind) {
	case PROBE_SYN:
	case PROBE_HANDSHAKE:
		send_syn(s);
		c->snd_nxt++;
		c->syn_tx = 1;
		set_state(s, TCPS_SYN_SENT);
		arm_backoff(s, c->syn_tx);
		break;
	case PROBE_FIN:
		send_fin(s);
		arm_backoff(s, c->fin_tx);
		break;
	case PROBE_TRACE: /* probes/trace.c runs traces, never this machine */
		set_result(s, RESULT_ERROR);
		finish(s);
		break;
	}
}

/* The single timer: retransmit with backoff, or give up (RFC 6298 5.4-5.7). */
static void ev_timer(struct step *s)
{
	struct fsm_conn *c = s->c;

	switch ((enum tcp_state)c->state) {
	case TCPS_CLOSED: /* the FIN probe waits for a RST */
		if (may_retransmit(c, c->fin_tx)) {
			send_fin(s);
			arm_backoff(s, c->fin_tx);
		} else {
			set_result(s, RESULT_SILENT);
			finish(s);
		}
		break;
	case TCPS_SYN_SENT:
	case TCPS_SYN_RECEIVED:
		if (c->synack_seen && c->state == TCPS_SYN_SENT) {
			/* The SYN/ACK retransmission check is over: none came. */
			send_seg(s, PKT_RST | PKT_ACK, c->snd_nxt, c->rcv_nxt);
			set_result(s, RESULT_OK);
			finish(s);
			break;
		}
		if (may_retransmit(c, c->syn_tx)) {
			send_syn(s);
			c->syn_tx++;
			arm_backoff(s, c->syn_tx);
		} else {
			set_result(s, RESULT_TIMEOUT);
			finish(s);
		}
		break;
	case TCPS_ESTABLISHED: /* the hold is over, or the held FIN's probe time */
	case TCPS_CLOSE_WAIT:
		if (c->fin_held)
			send_first_fin(s);
		else
			active_close(s);
		break;
	case TCPS_FIN_WAIT_1:
	case TCPS_CLOSING:
	case TCPS_LAST_ACK:
		if (may_retransmit(c, c->fin_tx)) {
			send_fin(s);
			arm_backoff(s, c->fin_tx);
		} else {
			set_close(s, CLOSE_TIMEOUT);
			finish(s);
		}
		break;
	case TCPS_FIN_WAIT_2: /* the peer never sent its FIN: just forget it */
		set_close(s, CLOSE_TIMEOUT);
		finish(s);
		break;
	case TCPS_TIME_WAIT:
		finish(s);
		break;
	}
}

/* RFC 5927 4.1: believe an ICMP error only if the sequence number it quotes
 * is in flight (SND.UNA =< SEQ < SND.NXT; in SYN_SENT that is ISS). */
static void ev_icmp(struct step *s, const struct pkt_info *pkt)
{
	struct fsm_conn *c = s->c;
	bool v6 = pkt->family == AF_INET6;
	bool ptb = v6 ? pkt->icmp_type == 2 : (pkt->icmp_type == 3 && pkt->icmp_code == 4);
	bool hard = v6 ? (pkt->icmp_type == 1 || pkt->icmp_type == 3)
		       : (pkt->icmp_type == 3 || pkt->icmp_type == 11);

	s->trig = tl_add(s, TL_ICMP, pkt->icmp_type, pkt->seq - c->iss, 0, 0);
	if (s->trig >= 0)
		c->tl->e[s->trig].code = pkt->icmp_code;
	if (SEQ_LT(pkt->seq, c->snd_una) || SEQ_GEQ(pkt->seq, c->snd_nxt))
		return;
	if (!ptb && !hard)
		return;
	c->have_icmp = true;
	c->icmp_type = pkt->icmp_type;
	c->icmp_code = pkt->icmp_code;
	if (ptb)
		return; /* we send no data: nothing to resize */
	if (c->state == TCPS_SYN_SENT || c->state == TCPS_CLOSED) {
		set_result(s, RESULT_UNREACHABLE);
		finish(s);
	}
	/* Synchronized: a soft error (RFC 5461), recorded only. */
}

static void ev_abort(struct step *s)
{
	struct fsm_conn *c = s->c;

	/* No RST from CLOSED or SYN_SENT (the peer holds no state for us) nor
	 * from TIME_WAIT (the close is complete). */
	if (c->state != TCPS_CLOSED && c->state != TCPS_SYN_SENT && c->state != TCPS_TIME_WAIT)
		send_seg(s, PKT_RST | PKT_ACK, c->snd_nxt, c->rcv_nxt);
	if (!c->synced_result)
		set_result(s, RESULT_ERROR);
	else
		set_close(s, CLOSE_RESET);
	finish(s);
}

/* Our segment never left this host (sendmmsg failed: a local firewall,
 * no route, ...). Its timeline entry becomes TL_UNSENT and it counts as no
 * transmission; the probe ends as `error` (a handshake's ok is taken back),
 * unless its outcome is already final (a SYN probe's RST, an ACK in
 * TIME_WAIT): then only the timeline shows it. */
static void ev_send_error(struct step *s, const struct pkt_info *pkt)
{
	struct fsm_conn *c = s->c;
	struct fsm_timeline *tl = c->tl;

	for (int i = tl != NULL ? tl->n - 1 : -1; i >= 0; i--) {
		struct fsm_tl_entry *e = &tl->e[i];

		if (e->dir == TL_OUT && !e->stamped && e->flags == pkt->flags &&
		    e->seq == pkt->seq - c->iss) {
			e->dir = TL_UNSENT;
			s->trig = i;
			break;
		}
	}
	if (c->close_result != CLOSE_NONE || c->state == TCPS_TIME_WAIT)
		return;
	if ((pkt->flags & PKT_SYN) && c->syn_tx > 0)
		c->syn_tx--;
	if ((pkt->flags & PKT_FIN) && c->fin_tx > 1)
		c->fin_tx--; /* the first FIN stays counted: it holds SND.NXT */
	if (c->state != TCPS_CLOSED && c->state != TCPS_SYN_SENT && !(pkt->flags & PKT_RST))
		send_seg(s, PKT_RST | PKT_ACK, c->snd_nxt, c->rcv_nxt);
	if (!c->synced_result) {
		set_result(s, RESULT_ERROR);
	} else if (c->result == RESULT_OK && c->p->kind == PROBE_HANDSHAKE) {
		c->result = RESULT_ERROR;
		push(s, (struct fsm_action){ .type = ACT_RESULT, .u.result = RESULT_ERROR });
	}
	finish(s);
}

/* Before the handshake completes a close is an abort; once closing, a
 * no-op. */
static void ev_close(struct step *s)
{
	uint8_t st = s->c->state;

	if (st == TCPS_ESTABLISHED || st == TCPS_CLOSE_WAIT)
		active_close(s);
	else if (st == TCPS_SYN_SENT || st == TCPS_SYN_RECEIVED)
		ev_abort(s);
}

/* ---- interface ---- */

void fsm_init(struct fsm_conn *c, const struct fsm_params *p, struct fsm_timeline *tl)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->tl = tl;
	c->state = TCPS_CLOSED;
	c->result = RESULT_PENDING;
	c->close_result = CLOSE_NONE;
	if (tl != NULL)
		memset(tl, 0, sizeof(*tl));
}

void fsm_step(struct fsm_conn *c, const struct fsm_event *ev, uint64_t now,
	      struct fsm_actions *out)
{
	struct step s = { .c = c, .out = out, .now = now, .trig = -1 };

	out->n = 0;
	if (finished(c))
		return;
	s.tl_open = c->tl != NULL ? c->tl->n : 0;
	switch (ev->type) {
	case EV_OPEN:
		if (started(c))
			return;
		s.trig = tl_add(&s, TL_USER, EV_OPEN, 0, 0, 0);
		ev_open(&s, ev);
		break;
	case EV_CLOSE:
		if (!started(c))
			return;
		s.trig = tl_add(&s, TL_USER, EV_CLOSE, 0, 0, 0);
		ev_close(&s);
		break;
	case EV_ABORT:
		s.trig = tl_add(&s, TL_USER, EV_ABORT, 0, 0, 0);
		ev_abort(&s);
		break;
	case EV_SEND_ERROR:
		if (!started(c) || ev->pkt == NULL)
			return;
		ev_send_error(&s, ev->pkt);
		break;
	case EV_SEGMENT:
	case EV_ICMP:
		if (!started(c) || ev->pkt == NULL)
			return;
		if (ev->pkt->is_icmp)
			ev_icmp(&s, ev->pkt);
		else
			ev_segment(&s, ev->pkt);
		break;
	case EV_TIMER:
		if (c->deadline == 0 || now < c->deadline)
			return; /* stale: re-armed or cancelled since */
		c->deadline = 0; /* a fired timer is disarmed */
		s.trig = tl_add(&s, TL_TIMER, 0, 0, 0, 0);
		ev_timer(&s);
		break;
	}
	tl_settle(&s, c->state);
	if (s.trig >= 0 && !s.trig_set)
		c->tl->e[s.trig].state = c->state;
}

void fsm_tx_stamp(struct fsm_conn *c, uint8_t flags, uint32_t seq, uint64_t t)
{
	struct fsm_timeline *tl = c->tl;

	for (unsigned i = 0; tl != NULL && i < tl->n; i++) {
		struct fsm_tl_entry *e = &tl->e[i];

		if (e->dir == TL_OUT && !e->stamped && e->flags == flags &&
		    e->seq == seq - c->iss) {
			struct fsm_tl_entry moved = *e;

			moved.t_ns = t;
			moved.stamped = 1;
			/* Keep time order: it goes behind what happened before it
			 * left (at most FSM_TL_MAX moves), never behind a later
			 * segment of ours still waiting for its stamp. Passing a
			 * received segment or ICMP error is a crossing. */
			for (; i + 1 < tl->n && tl->e[i + 1].t_ns < t &&
			     !(tl->e[i + 1].dir == TL_OUT && !tl->e[i + 1].stamped); i++) {
				if (tl->e[i + 1].dir == TL_IN || tl->e[i + 1].dir == TL_ICMP)
					moved.crossed = true;
				tl->e[i] = tl->e[i + 1];
			}
			tl->e[i] = moved;
			break;
		}
	}
	/* A stamp older than the latest SYN decision belongs to an earlier SYN. */
	if ((flags & PKT_SYN) && t >= c->t_syn)
		c->t_syn = t;
	/* While only one SYN has gone, a SYN stamp is the first SYN's. */
	if ((flags & PKT_SYN) && c->syn_tx <= 1)
		c->t_syn1 = t;
	if ((flags & PKT_FIN) && c->t_fin != 0 && !c->fin_stamped) {
		c->t_fin = t;
		c->fin_stamped = true;
	}
}

unsigned fsm_timeline_order(const struct fsm_timeline *tl, uint8_t order[FSM_TL_MAX])
{
	unsigned n = tl ? tl->n : 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned k = i;

		for (; k > 0 && tl->e[order[k - 1]].t_ns > tl->e[i].t_ns; k--)
			order[k] = order[k - 1];
		order[k] = (uint8_t)i;
	}
	return n;
}

static uint64_t span(uint64_t from, uint64_t to) { return from && to && to >= from ? to - from : 0; }

void fsm_phases(const struct fsm_conn *c, struct fsm_phases *out)
{
	uint64_t start = c->t_fin;

	memset(out, 0, sizeof(*out));
	out->rtt_ambiguous = c->t_synack && c->syn_tx > 1;
	out->connect = span(c->t_syn1, c->t_synack);
	out->handshake = out->rtt_ambiguous ? 0 : span(c->t_syn, c->t_synack);
	out->fin_ack = span(c->t_fin, c->t_fin_acked);
	/* 0 unless the peer's FIN came after the ACK of ours */
	out->fin_wait_2 = span(c->t_fin_acked, c->t_peer_fin);
	if (c->t_peer_fin && (start == 0 || c->t_peer_fin < start))
		start = c->t_peer_fin; /* passive close starts with the peer's FIN */
	/* The FIN probe's close is its FIN answered by a RST. */
	if (c->close_result == CLOSE_OK || c->result == RESULT_CLOSED)
		out->close = span(start, c->t_end);
}
