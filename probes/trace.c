/* trace.c: TCP path tracing, pure. See trace.h. */
#include "trace.h"

#include <string.h>
#include <sys/socket.h>

/* Sequence numbers: ttl << 24 | try << 16 above the ISS. The SYNs that
 * reach the target after the first one are then far outside the window
 * of the half-open connection the first one made: Linux answers them with
 * a duplicate ACK (which we ignore) rather than resetting that connection
 * and opening another, so the target holds one half-open connection per
 * trace until our RST. */
#define SEQ_TTL_SHIFT 24
#define SEQ_TRY_SHIFT 16

enum slot_state {
	SL_UNSENT,   /* no SYN sent yet */
	SL_WAIT,     /* a SYN out, its deadline armed */
	SL_DUE,      /* timed out, another try waits for budget */
	SL_RESOLVED, /* res.hops[ttl-1] is final */
};

const char *trace_hop_kind_str(enum trace_hop_kind k)
{
	switch (k) {
	case TRACE_HOP_SILENT:
		return "silent";
	case TRACE_HOP_ROUTER:
		return "router";
	case TRACE_HOP_UNREACH:
		return "unreachable";
	case TRACE_HOP_TARGET:
		return "target";
	}
	return "?";
}

bool trace_path_eq(const struct trace_result *a, const struct trace_result *b)
{
	if (a->nhops != b->nhops)
		return false;
	for (unsigned i = 0; i < a->nhops; i++) {
		const struct trace_hop *x = &a->hops[i], *y = &b->hops[i];
		if (x->kind != y->kind)
			return false;
		if (x->kind != TRACE_HOP_SILENT && !pkt_addr_eq(&x->addr, &y->addr))
			return false;
	}
	return true;
}

uint32_t trace_seq(const struct trace *t, uint8_t ttl, uint8_t try)
{
	return t->iss + ((uint32_t)ttl << SEQ_TTL_SHIFT) + ((uint32_t)try << SEQ_TRY_SHIFT);
}

/* The TTL and try a sequence number of ours stands for; false when it is
 * none of the SYNs we sent (RFC 5927: anyone can forge an ICMP error or a
 * segment, only we know our sequence numbers). */
static bool seq_decode(const struct trace *t, uint32_t seq, uint8_t *ttl, uint8_t *try)
{
	uint32_t d = seq - t->iss;
	if (d & ((1u << SEQ_TRY_SHIFT) - 1))
		return false;
	uint32_t tt = d >> SEQ_TTL_SHIFT, tr = (d >> SEQ_TRY_SHIFT) & 0xff;
	if (tt < 1 || tt > t->p->max_hops || tr >= t->slot[tt - 1].tries)
		return false;
	*ttl = (uint8_t)tt;
	*try = (uint8_t)tr;
	return true;
}

void trace_init(struct trace *t, const struct trace_params *p, const struct fsm_params *fp)
{
	memset(t, 0, sizeof(*t));
	t->p = p;
	t->fp = fp;
	t->state = TRACE_IDLE;
	t->next_ttl = 1;
	unsigned tries = 1u + p->retries;
	t->tries_max = (uint8_t)(tries > TRACE_TRIES_MAX ? TRACE_TRIES_MAX : tries);
	t->res.result = RESULT_PENDING;
}

struct tstep {
	struct trace *t;
	uint64_t now;
	uint32_t credit;
	struct trace_actions *out;
};

static void act(struct tstep *s, const struct trace_action *a)
{
	if (s->out->n < TRACE_ACTIONS_MAX)
		s->out->a[s->out->n++] = *a;
}

/* TTLs that still matter: those below the end, or all up to max_hops. */
static unsigned limit(const struct trace *t)
{
	return t->end_ttl ? t->end_ttl - 1u : t->p->max_hops;
}

static void send_syn(struct tstep *s, uint8_t ttl)
{
	struct trace *t = s->t;
	struct trace_slot *sl = &t->slot[ttl - 1];
	const struct fsm_params *fp = t->fp;
	uint8_t try = sl->tries;
	struct trace_action a = {
		.type = TRACE_ACT_SEND, .ttl = ttl,
		.seg = {
			.seq = trace_seq(t, ttl, try), .win = fp->window,
			.flags = PKT_SYN | (fp->ecn ? PKT_ECE | PKT_CWR : 0),
			.syn_opts = true, .ts = fp->syn.timestamps,
			.tsval = (uint32_t)(s->now / 1000000) + t->ts_offset,
		},
	};
	act(s, &a);
	sl->t_sent[try] = s->now;
	sl->stamped[try] = false;
	sl->tries++;
	sl->st = SL_WAIT;
	sl->deadline = s->now + t->p->timeout_ns;
	if (ttl == 1 && try == 0)
		t->res.t_start = s->now;
	s->credit--;
}

/* The RST goes out with TTL max_hops, not the profile's `ttl` (a probe's):
 * the SYN/ACK answers a SYN of at most that TTL, so the RST reaches the
 * target too. With `ttl` below the hop count it died on the way and left
 * the target half-open on the 4-tuple, which every later trace from that
 * port (a daemon target keeps one) then found busy: no SYN/ACK, a timeout. */
static void send_rst(struct tstep *s, uint32_t seq, uint32_t ack)
{
	struct trace_action a = {
		.type = TRACE_ACT_SEND, .ttl = s->t->p->max_hops,
		.seg = { .seq = seq, .ack = ack, .flags = PKT_RST | PKT_ACK },
	};
	act(s, &a);
}

/* Send what the window and the budget allow: tries again first (lowest TTL
 * first), then new TTLs. */
static void send_due(struct tstep *s)
{
	struct trace *t = s->t;
	unsigned lim = limit(t), open = 0;
	bool want = false;
	for (unsigned ttl = 1; ttl < t->next_ttl && ttl <= lim; ttl++) {
		struct trace_slot *sl = &t->slot[ttl - 1];
		if (sl->st == SL_DUE) {
			if (s->credit)
				send_syn(s, (uint8_t)ttl);
			else
				want = true;
		}
		if (sl->st == SL_WAIT || sl->st == SL_DUE)
			open++;
	}
	while (t->next_ttl <= lim && open < t->p->window) {
		if (!s->credit) {
			want = true;
			break;
		}
		send_syn(s, t->next_ttl++);
		open++;
	}
	t->want_credit = want;
	if (want)
		act(s, &(struct trace_action){ .type = TRACE_ACT_WANT_CREDIT });
}

static void resolve(struct trace *t, uint8_t ttl, uint8_t try, enum trace_hop_kind kind,
		    const struct pkt_info *pkt, uint64_t now)
{
	struct trace_slot *sl = &t->slot[ttl - 1];
	struct trace_hop *h = &t->res.hops[ttl - 1];
	memset(h, 0, sizeof(*h));
	h->ttl = ttl;
	h->kind = (uint8_t)kind;
	h->tries = sl->tries;
	if (pkt) {
		h->addr = pkt->is_icmp ? pkt->icmp_from : pkt->src;
		h->reply_ttl = pkt->ttl;
		if (pkt->is_icmp) {
			h->icmp_type = pkt->icmp_type;
			h->icmp_code = pkt->icmp_code;
		} else {
			h->tcp_flags = pkt->flags;
		}
		uint64_t t0 = sl->t_sent[try];
		h->rtt_ns = now > t0 ? now - t0 : 1;
	}
	sl->st = SL_RESOLVED;
	sl->deadline = 0;
}

/* An answer that ends the path at ttl: the lowest such TTL wins (a lost
 * SYN may leave a higher TTL answering first). */
static void end_at(struct trace *t, uint8_t ttl)
{
	if (!t->end_ttl || ttl < t->end_ttl)
		t->end_ttl = ttl;
}

static void on_icmp(struct tstep *s, const struct pkt_info *pkt)
{
	struct trace *t = s->t;
	uint8_t ttl, try;
	if (!pkt->is_icmp || !seq_decode(t, pkt->seq, &ttl, &try))
		return;
	bool v6 = pkt->family == AF_INET6;
	bool exceeded = v6 ? pkt->icmp_type == 3 : pkt->icmp_type == 11;
	bool unreach = v6 ? pkt->icmp_type == 1 : (pkt->icmp_type == 3 && pkt->icmp_code != 4);
	if (!exceeded && !unreach)
		return; /* packet too big: a SYN carries no data to resize */
	if (t->state != TRACE_RUNNING || t->slot[ttl - 1].st == SL_RESOLVED)
		return;
	if (t->end_ttl && ttl >= t->end_ttl)
		return; /* past the end already found */
	resolve(t, ttl, try, exceeded ? TRACE_HOP_ROUTER : TRACE_HOP_UNREACH, pkt, s->now);
	if (unreach)
		end_at(t, ttl);
}

static void on_segment(struct tstep *s, const struct pkt_info *pkt)
{
	struct trace *t = s->t;
	uint8_t ttl, try;
	bool synack = (pkt->flags & (PKT_SYN | PKT_ACK | PKT_RST)) == (PKT_SYN | PKT_ACK);
	bool rst = (pkt->flags & (PKT_RST | PKT_ACK)) == (PKT_RST | PKT_ACK);
	/* Only an answer to one of our SYNs: it acknowledges that SYN. */
	if ((!synack && !rst) || !seq_decode(t, pkt->ack - 1, &ttl, &try))
		return;
	/* The target holds a half-open connection for every SYN/ACK: reset
	 * it, also after the end (SYNs of higher TTLs reach it too). */
	if (synack)
		send_rst(s, pkt->ack, pkt->seq + 1);
	if (t->state != TRACE_RUNNING)
		return;
	if (t->end_ttl && ttl >= t->end_ttl)
		return;
	resolve(t, ttl, try, TRACE_HOP_TARGET, pkt, s->now);
	end_at(t, ttl);
}

static void on_timer(struct tstep *s)
{
	struct trace *t = s->t;
	if (t->state == TRACE_LINGER) {
		if (s->now >= t->linger_until)
			t->state = TRACE_DONE;
		return;
	}
	for (unsigned i = 0; i + 1 < t->next_ttl; i++) {
		struct trace_slot *sl = &t->slot[i];
		if (sl->st != SL_WAIT || sl->deadline > s->now)
			continue;
		if (sl->tries < t->tries_max) {
			sl->st = SL_DUE;
			sl->deadline = 0;
		} else {
			resolve(t, (uint8_t)(i + 1), 0, TRACE_HOP_SILENT, NULL, s->now);
		}
	}
}

static void finish(struct tstep *s, enum probe_result r)
{
	struct trace *t = s->t;
	t->res.result = (uint8_t)r;
	act(s, &(struct trace_action){ .type = TRACE_ACT_RESULT });
	t->want_credit = false;
	if (t->p->linger_ns) {
		/* Late SYN/ACKs answer SYNs that were already on their way when
		 * the end was found: they come within about the target's RTT. */
		uint64_t rtt = t->end_ttl ? t->res.hops[t->end_ttl - 1].rtt_ns : 0;
		uint64_t linger = 4 * rtt > TRACE_LINGER_MIN_NS ? 4 * rtt : TRACE_LINGER_MIN_NS;
		t->state = TRACE_LINGER;
		t->linger_until = s->now + (linger < t->p->linger_ns ? linger : t->p->linger_ns);
	} else {
		t->state = TRACE_DONE;
	}
}

/* Every TTL below the end answered or stayed silent: report. */
static void check_end(struct tstep *s)
{
	struct trace *t = s->t;
	unsigned lim = limit(t);
	if (t->state != TRACE_RUNNING || (!t->end_ttl && t->next_ttl <= lim))
		return;
	for (unsigned i = 0; i < lim; i++)
		if (t->slot[i].st != SL_RESOLVED)
			return;
	if (!t->end_ttl) {
		t->res.nhops = t->p->max_hops;
		finish(s, RESULT_TIMEOUT);
		return;
	}
	t->res.nhops = t->end_ttl;
	const struct trace_hop *last = &t->res.hops[t->end_ttl - 1];
	if (last->kind == TRACE_HOP_UNREACH)
		finish(s, RESULT_UNREACHABLE);
	else
		finish(s, last->tcp_flags & PKT_RST ? RESULT_REFUSED : RESULT_OK);
}

static uint64_t next_deadline(const struct trace *t)
{
	if (t->state == TRACE_LINGER)
		return t->linger_until;
	if (t->state != TRACE_RUNNING)
		return 0;
	uint64_t d = 0;
	unsigned lim = limit(t);
	for (unsigned i = 0; i < lim && i + 1 < t->next_ttl; i++) {
		const struct trace_slot *sl = &t->slot[i];
		if (sl->st == SL_WAIT && (!d || sl->deadline < d))
			d = sl->deadline;
	}
	return d;
}

void trace_step(struct trace *t, const struct trace_event *ev, uint64_t now,
		struct trace_actions *out)
{
	struct tstep s = { .t = t, .now = now, .credit = ev->credit, .out = out };
	out->n = 0;
	if (t->state == TRACE_DONE)
		return;
	switch (ev->type) {
	case TRACE_EV_START:
		if (t->state != TRACE_IDLE)
			return;
		t->iss = ev->iss;
		t->ts_offset = ev->ts_offset;
		t->state = TRACE_RUNNING;
		break;
	case TRACE_EV_ICMP:
		if (ev->pkt)
			on_icmp(&s, ev->pkt);
		break;
	case TRACE_EV_SEGMENT:
		if (ev->pkt)
			on_segment(&s, ev->pkt);
		break;
	case TRACE_EV_TIMER:
		on_timer(&s);
		break;
	case TRACE_EV_CREDIT:
		break;
	case TRACE_EV_SEND_ERROR:
		/* An RST of ours that failed changes nothing; a SYN ends the
		 * trace: the host refuses to send it (a local firewall). */
		if (t->state == TRACE_RUNNING && ev->pkt && (ev->pkt->flags & PKT_SYN)) {
			t->res.nhops = 0;
			finish(&s, RESULT_ERROR);
		}
		break;
	case TRACE_EV_ABORT:
		t->state = TRACE_DONE;
		break;
	}
	if (t->state == TRACE_RUNNING) {
		check_end(&s);
		if (t->state == TRACE_RUNNING) {
			send_due(&s);
			check_end(&s); /* max_hops reached with nothing to send */
		}
	}
	uint64_t d = t->state == TRACE_DONE ? 0 : next_deadline(t);
	if (d != t->deadline) {
		t->deadline = d;
		act(&s, &(struct trace_action){ .type = TRACE_ACT_TIMER, .deadline = d });
	}
	if (t->state == TRACE_DONE)
		act(&s, &(struct trace_action){ .type = TRACE_ACT_DONE });
}

void trace_tx_stamp(struct trace *t, uint32_t seq, uint64_t ts)
{
	uint8_t ttl, try;
	if (!seq_decode(t, seq, &ttl, &try))
		return;
	struct trace_slot *sl = &t->slot[ttl - 1];
	if (sl->stamped[try])
		return;
	sl->stamped[try] = true;
	sl->t_sent[try] = ts;
	if (ttl == 1 && try == 0)
		t->res.t_start = ts;
}
