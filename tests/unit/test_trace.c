/* test_trace.c: probes/trace.c, the pure path tracer, driven with a fake
 * clock and made-up ICMP errors and segments. */
#include <arpa/inet.h>
#include <stdint.h>
#include <sys/socket.h>

#include "check.h"
#include "trace.h"

#define MS 1000000ull
#define T0 (1000 * MS)
#define ISS 0x10000000u
#define NOCAP UINT32_MAX

static struct fsm_params fp = {
	.kind = PROBE_TRACE, .syn = { .mss = 1460, .wscale = 7, .sack_ok = true },
	.window = 64240, .retries = 0, .rto_ns = 1000 * MS,
};
static struct trace_params tp;
static struct trace tr;
static struct trace_actions acts;

static void setup(uint8_t max_hops, uint8_t window, uint8_t retries)
{
	tp = (struct trace_params){ .max_hops = max_hops, .window = window, .retries = retries,
				    .timeout_ns = 1000 * MS, .linger_ns = 500 * MS };
	trace_init(&tr, &tp, &fp);
}

static void step(enum trace_ev_type type, const struct pkt_info *pkt, uint64_t now, uint32_t credit)
{
	struct trace_event ev = { .type = type, .pkt = pkt, .iss = ISS, .ts_offset = 7,
				  .credit = credit };
	trace_step(&tr, &ev, now, &acts);
}

static unsigned count(enum trace_action_type type)
{
	unsigned n = 0;
	for (unsigned i = 0; i < acts.n; i++)
		n += acts.a[i].type == type;
	return n;
}

/* The i-th SEND action (0-based), or NULL. */
static const struct trace_action *sent(unsigned i)
{
	for (unsigned k = 0; k < acts.n; k++)
		if (acts.a[k].type == TRACE_ACT_SEND && i-- == 0)
			return &acts.a[k];
	return NULL;
}

static const struct trace_action *find(enum trace_action_type type)
{
	for (unsigned k = 0; k < acts.n; k++)
		if (acts.a[k].type == type)
			return &acts.a[k];
	return NULL;
}

static struct pkt_addr a4(uint8_t last)
{
	struct pkt_addr a = { .family = AF_INET, .a = { 10, 0, 0, last } };
	return a;
}

static struct pkt_addr a6(uint8_t last)
{
	struct pkt_addr a = { .family = AF_INET6, .a = { 0xfd, 0, [15] = last } };
	return a;
}

/* An ICMP error from `from` quoting our SYN with sequence number seq. */
static struct pkt_info icmp(struct pkt_addr from, uint8_t type, uint8_t code, uint32_t seq)
{
	struct pkt_info p = { .family = from.family, .is_icmp = true, .icmp_type = type,
			      .icmp_code = code, .seq = seq, .flags = PKT_SYN, .ttl = 63,
			      .icmp_from = from, .sport = 20000, .dport = 80 };
	return p;
}

/* The target's answer (flags) to our SYN with sequence number seq. */
static struct pkt_info answer(struct pkt_addr from, uint8_t flags, uint32_t seq)
{
	struct pkt_info p = { .family = from.family, .flags = flags, .seq = 5555, .ack = seq + 1,
			      .ttl = 60, .src = from, .sport = 80, .dport = 20000 };
	return p;
}

/* Three routers and the target at hop 4, IPv4, every answer in: the SYNs
 * go out together on one 4-tuple with TTL 1..window and distinct sequence
 * numbers; each hop is named by the TTL its answer quotes. */
static void t_chain_v4(void)
{
	setup(30, 8, 0);
	step(TRACE_EV_START, NULL, T0, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 8);
	for (unsigned i = 0; i < 8; i++) {
		const struct trace_action *a = sent(i);
		CHECK_EQ(a->ttl, i + 1);
		CHECK_EQ(a->seg.flags, PKT_SYN);
		CHECK(a->seg.syn_opts);
		CHECK_EQ(a->seg.seq, trace_seq(&tr, (uint8_t)(i + 1), 0));
		for (unsigned k = 0; k < i; k++)
			CHECK(sent(k)->seg.seq != a->seg.seq);
	}
	CHECK_EQ(find(TRACE_ACT_TIMER)->deadline, T0 + 1000 * MS);
	CHECK_EQ(tr.res.t_start, T0);
	trace_tx_stamp(&tr, trace_seq(&tr, 1, 0), T0 + 10);
	CHECK_EQ(tr.res.t_start, T0 + 10);

	struct pkt_info p = icmp(a4(1), 11, 0, trace_seq(&tr, 1, 0));
	step(TRACE_EV_ICMP, &p, T0 + 1 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_RESULT), 0);
	CHECK_EQ(count(TRACE_ACT_SEND), 1); /* the window moves on: TTL 9 */
	CHECK_EQ(sent(0)->ttl, 9);
	p = icmp(a4(3), 11, 0, trace_seq(&tr, 3, 0));
	step(TRACE_EV_ICMP, &p, T0 + 3 * MS, NOCAP);
	CHECK_EQ(sent(0)->ttl, 10);
	/* The target answers TTL 5 and 4 (both reached it): each SYN/ACK gets
	 * an RST on its ACK number; the lower TTL is the hop. */
	p = answer(a4(9), PKT_SYN | PKT_ACK, trace_seq(&tr, 5, 0));
	step(TRACE_EV_SEGMENT, &p, T0 + 4 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 1);
	CHECK_EQ(sent(0)->seg.flags, PKT_RST | PKT_ACK);
	CHECK_EQ(sent(0)->seg.seq, trace_seq(&tr, 5, 0) + 1);
	CHECK_EQ(sent(0)->seg.ack, 5556);
	CHECK_EQ(sent(0)->ttl, tp.max_hops); /* reaches the target whatever `ttl` says */
	p = answer(a4(9), PKT_SYN | PKT_ACK, trace_seq(&tr, 4, 0));
	step(TRACE_EV_SEGMENT, &p, T0 + 4 * MS + 5, NOCAP);
	CHECK_EQ(count(TRACE_ACT_RESULT), 0); /* hop 2 still out */
	p = icmp(a4(2), 11, 0, trace_seq(&tr, 2, 0));
	step(TRACE_EV_ICMP, &p, T0 + 5 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_RESULT), 1);
	CHECK_EQ(tr.res.result, RESULT_OK);
	CHECK_EQ(tr.res.nhops, 4);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(tr.res.hops[i].kind, TRACE_HOP_ROUTER);
		CHECK_EQ(tr.res.hops[i].ttl, i + 1);
		CHECK_EQ(tr.res.hops[i].addr.a[3], i + 1);
		CHECK_EQ(tr.res.hops[i].icmp_type, 11);
		CHECK_EQ(tr.res.hops[i].tries, 1);
	}
	CHECK_EQ(tr.res.hops[0].rtt_ns, 1 * MS - 10); /* from the stamped wire time */
	CHECK_EQ(tr.res.hops[1].rtt_ns, 5 * MS);
	CHECK_EQ(tr.res.hops[3].kind, TRACE_HOP_TARGET);
	CHECK_EQ(tr.res.hops[3].tcp_flags, PKT_SYN | PKT_ACK);
	CHECK_EQ(tr.res.hops[3].rtt_ns, 4 * MS + 5);
	CHECK_EQ(tr.res.hops[3].reply_ttl, 60);
	CHECK(pkt_addr_eq(&tr.res.hops[3].addr, &(struct pkt_addr){ .family = AF_INET,
									.a = { 10, 0, 0, 9 } }));
	CHECK_EQ(tr.state, TRACE_LINGER);
	/* Lingers 4 target RTTs, at least TRACE_LINGER_MIN_NS. */
	CHECK_EQ(find(TRACE_ACT_TIMER)->deadline, T0 + 5 * MS + TRACE_LINGER_MIN_NS);
	/* A late SYN/ACK (TTL 6) still gets its RST, and changes nothing. */
	p = answer(a4(9), PKT_SYN | PKT_ACK, trace_seq(&tr, 6, 0));
	step(TRACE_EV_SEGMENT, &p, T0 + 6 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 1);
	CHECK_EQ(count(TRACE_ACT_RESULT), 0);
	CHECK_EQ(tr.res.nhops, 4);
	step(TRACE_EV_TIMER, NULL, T0 + 5 * MS + TRACE_LINGER_MIN_NS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_DONE), 1);
	CHECK_EQ(tr.state, TRACE_DONE);
}

/* IPv6: time exceeded is ICMPv6 type 3; the port is closed (RST). */
static void t_chain_v6_refused(void)
{
	setup(30, 4, 0);
	step(TRACE_EV_START, NULL, T0, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 4);
	struct pkt_info p = icmp(a6(1), 3, 0, trace_seq(&tr, 1, 0));
	step(TRACE_EV_ICMP, &p, T0 + MS, NOCAP);
	/* A window slot freed: TTL 5 goes out. */
	CHECK_EQ(count(TRACE_ACT_SEND), 1);
	CHECK_EQ(sent(0)->ttl, 5);
	p = answer(a6(9), PKT_RST | PKT_ACK, trace_seq(&tr, 2, 0));
	step(TRACE_EV_SEGMENT, &p, T0 + 2 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 0); /* no RST answers an RST */
	CHECK_EQ(count(TRACE_ACT_RESULT), 1);
	CHECK_EQ(tr.res.result, RESULT_REFUSED);
	CHECK_EQ(tr.res.nhops, 2);
	CHECK_EQ(tr.res.hops[0].icmp_type, 3);
	CHECK_EQ(tr.res.hops[0].addr.family, AF_INET6);
	CHECK_EQ(tr.res.hops[1].kind, TRACE_HOP_TARGET);
}

/* A router that sends no ICMP (or rate-limits it): its TTL is tried
 * 1 + retries times, then is a silent hop; the trace goes on. */
static void t_silent_hop(void)
{
	setup(30, 8, 1);
	step(TRACE_EV_START, NULL, T0, NOCAP);
	struct pkt_info p = icmp(a4(1), 11, 0, trace_seq(&tr, 1, 0));
	step(TRACE_EV_ICMP, &p, T0 + MS, NOCAP);
	p = answer(a4(9), PKT_SYN | PKT_ACK, trace_seq(&tr, 3, 0));
	step(TRACE_EV_SEGMENT, &p, T0 + 2 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_RESULT), 0);
	step(TRACE_EV_TIMER, NULL, T0 + 1000 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 1); /* TTL 2 again, the second try */
	CHECK_EQ(sent(0)->ttl, 2);
	CHECK_EQ(sent(0)->seg.seq, trace_seq(&tr, 2, 1));
	CHECK_EQ(find(TRACE_ACT_TIMER)->deadline, T0 + 2000 * MS);
	step(TRACE_EV_TIMER, NULL, T0 + 2000 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 0);
	CHECK_EQ(count(TRACE_ACT_RESULT), 1);
	CHECK_EQ(tr.res.result, RESULT_OK);
	CHECK_EQ(tr.res.nhops, 3);
	CHECK_EQ(tr.res.hops[1].kind, TRACE_HOP_SILENT);
	CHECK_EQ(tr.res.hops[1].addr.family, 0);
	CHECK_EQ(tr.res.hops[1].rtt_ns, 0);
	CHECK_EQ(tr.res.hops[1].tries, 2);
	CHECK_EQ(tr.res.hops[1].ttl, 2);
}

/* An answer to the first try that comes after the second was sent is
 * timed from the first (each try has its own sequence number). */
static void t_late_answer_own_try(void)
{
	setup(30, 8, 2);
	step(TRACE_EV_START, NULL, T0, NOCAP);
	step(TRACE_EV_TIMER, NULL, T0 + 1000 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 8);
	struct pkt_info p = icmp(a4(2), 11, 0, trace_seq(&tr, 2, 1));
	step(TRACE_EV_ICMP, &p, T0 + 1003 * MS, NOCAP);
	CHECK_EQ(tr.res.hops[1].rtt_ns, 3 * MS);
	CHECK_EQ(tr.res.hops[1].tries, 2);
	p = icmp(a4(1), 11, 0, trace_seq(&tr, 1, 0));
	step(TRACE_EV_ICMP, &p, T0 + 1200 * MS, NOCAP);
	CHECK_EQ(tr.res.hops[0].rtt_ns, 1200 * MS);
}

/* RFC 5927: only a sequence number we sent names a hop. */
static void t_forged_ignored(void)
{
	setup(30, 2, 1);
	step(TRACE_EV_START, NULL, T0, NOCAP);
	struct pkt_info p = icmp(a4(66), 11, 0, ISS + 5);
	step(TRACE_EV_ICMP, &p, T0 + MS, NOCAP);
	p = icmp(a4(66), 11, 0, trace_seq(&tr, 1, 1)); /* a try not sent yet */
	step(TRACE_EV_ICMP, &p, T0 + MS, NOCAP);
	p = icmp(a4(66), 11, 0, trace_seq(&tr, 3, 0)); /* a TTL not sent yet */
	step(TRACE_EV_ICMP, &p, T0 + MS, NOCAP);
	p = icmp(a4(66), 11, 0, trace_seq(&tr, 40, 0)); /* past max_hops */
	step(TRACE_EV_ICMP, &p, T0 + MS, NOCAP);
	p = icmp(a4(66), 3, 4, trace_seq(&tr, 1, 0)); /* frag needed: no hop */
	step(TRACE_EV_ICMP, &p, T0 + MS, NOCAP);
	/* A SYN/ACK that acknowledges none of our SYNs gets no RST. */
	p = answer(a4(66), PKT_SYN | PKT_ACK, ISS + 77);
	step(TRACE_EV_SEGMENT, &p, T0 + MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 0);
	/* A bare ACK (a duplicate ACK from the target's half-open
	 * connection) is no answer. */
	p = answer(a4(9), PKT_ACK, trace_seq(&tr, 1, 0));
	step(TRACE_EV_SEGMENT, &p, T0 + MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 0);
	for (unsigned i = 0; i < 2; i++)
		CHECK_EQ(tr.res.hops[i].kind, TRACE_HOP_SILENT);
	CHECK_EQ(tr.res.hops[0].ttl, 0); /* unresolved */
	CHECK_EQ(tr.next_ttl, 3);
}

/* No target within max_hops: every TTL silent, result timeout. */
static void t_max_hops(void)
{
	setup(3, 8, 0);
	step(TRACE_EV_START, NULL, T0, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 3);
	step(TRACE_EV_TIMER, NULL, T0 + 1000 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_RESULT), 1);
	CHECK_EQ(tr.res.result, RESULT_TIMEOUT);
	CHECK_EQ(tr.res.nhops, 3);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(tr.res.hops[i].kind, TRACE_HOP_SILENT);
		CHECK_EQ(tr.res.hops[i].ttl, i + 1);
	}
}

/* A router's ICMP unreachable ends the path there. */
static void t_unreachable(void)
{
	setup(30, 8, 0);
	step(TRACE_EV_START, NULL, T0, NOCAP);
	struct pkt_info p = icmp(a4(2), 3, 13, trace_seq(&tr, 2, 0));
	step(TRACE_EV_ICMP, &p, T0 + MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_RESULT), 0);
	p = icmp(a4(1), 11, 0, trace_seq(&tr, 1, 0));
	step(TRACE_EV_ICMP, &p, T0 + 2 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_RESULT), 1);
	CHECK_EQ(tr.res.result, RESULT_UNREACHABLE);
	CHECK_EQ(tr.res.nhops, 2);
	CHECK_EQ(tr.res.hops[1].kind, TRACE_HOP_UNREACH);
	CHECK_EQ(tr.res.hops[1].icmp_code, 13);
}

/* The packets-per-second budget: SYNs beyond it wait for credit. */
static void t_credit(void)
{
	setup(30, 8, 0);
	step(TRACE_EV_START, NULL, T0, 3);
	CHECK_EQ(count(TRACE_ACT_SEND), 3);
	CHECK_EQ(count(TRACE_ACT_WANT_CREDIT), 1);
	step(TRACE_EV_CREDIT, NULL, T0 + MS, 2);
	CHECK_EQ(count(TRACE_ACT_SEND), 2);
	CHECK_EQ(sent(0)->ttl, 4);
	CHECK_EQ(count(TRACE_ACT_WANT_CREDIT), 1);
	step(TRACE_EV_CREDIT, NULL, T0 + 2 * MS, 0);
	CHECK_EQ(count(TRACE_ACT_SEND), 0);
	CHECK_EQ(count(TRACE_ACT_WANT_CREDIT), 1);
	step(TRACE_EV_CREDIT, NULL, T0 + 3 * MS, NOCAP);
	CHECK_EQ(count(TRACE_ACT_SEND), 3);
	CHECK_EQ(count(TRACE_ACT_WANT_CREDIT), 0);
	CHECK(!tr.want_credit);
}

/* A SYN the host refuses to send ends the trace as error; abort frees. */
static void t_send_error_abort(void)
{
	setup(30, 8, 0);
	step(TRACE_EV_START, NULL, T0, NOCAP);
	struct pkt_info p = { .family = AF_INET, .flags = PKT_SYN, .seq = trace_seq(&tr, 1, 0) };
	step(TRACE_EV_SEND_ERROR, &p, T0 + 1, NOCAP);
	CHECK_EQ(count(TRACE_ACT_RESULT), 1);
	CHECK_EQ(tr.res.result, RESULT_ERROR);
	step(TRACE_EV_ABORT, NULL, T0 + 2, NOCAP);
	CHECK_EQ(count(TRACE_ACT_DONE), 1);
	CHECK_EQ(find(TRACE_ACT_TIMER)->deadline, 0);
	step(TRACE_EV_TIMER, NULL, T0 + 3, NOCAP);
	CHECK_EQ(acts.n, 0);
}

static void t_path_eq(void)
{
	struct trace_result a = { .nhops = 2 }, b;
	a.hops[0] = (struct trace_hop){ .ttl = 1, .kind = TRACE_HOP_ROUTER, .addr = a4(1), .rtt_ns = 5 };
	a.hops[1] = (struct trace_hop){ .ttl = 2, .kind = TRACE_HOP_TARGET, .addr = a4(9) };
	b = a;
	b.hops[0].rtt_ns = 99;
	CHECK(trace_path_eq(&a, &b));
	b.hops[0].addr = a4(7);
	CHECK(!trace_path_eq(&a, &b));
	b = a;
	b.hops[0] = (struct trace_hop){ .ttl = 1, .kind = TRACE_HOP_SILENT };
	CHECK(!trace_path_eq(&a, &b));
	b = a;
	b.nhops = 3;
	CHECK(!trace_path_eq(&a, &b));
	CHECK_STR(trace_hop_kind_str(TRACE_HOP_SILENT), "silent");
}

/* Random events (ICMP and segments quoting our sequence numbers or not,
 * timers, credit, errors) into many traces: every trace reports once,
 * within max_hops, sends each TTL at most its tries, keeps its window, and
 * is silent once done. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void t_random(void)
{
#define RND() rnd()
	for (unsigned n = 0; n < 2000; n++) {
		setup((uint8_t)(1 + RND() % 12), (uint8_t)(1 + RND() % 8), (uint8_t)(RND() % 5));
		uint64_t now = T0;
		unsigned results = 0, sent[TRACE_HOPS_MAX + 1] = { 0 };
		bool done = false;
		step(TRACE_EV_START, NULL, now, (uint32_t)(RND() % 4));
		for (unsigned k = 0; k < 200 && !done; k++) {
			CHECK(acts.n < TRACE_ACTIONS_MAX);
			for (unsigned i = 0; i < acts.n; i++) {
				const struct trace_action *a = &acts.a[i];
				if (a->type == TRACE_ACT_SEND && (a->seg.flags & PKT_SYN)) {
					CHECK(a->ttl >= 1 && a->ttl <= tp.max_hops);
					CHECK(++sent[a->ttl] <= tr.tries_max);
				}
				results += a->type == TRACE_ACT_RESULT;
				done |= a->type == TRACE_ACT_DONE;
			}
			unsigned open = 0;
			for (unsigned i = 0; i < tp.max_hops; i++)
				open += tr.slot[i].st == 1; /* waiting */
			CHECK(open <= tp.window);
			now += RND() % (300 * MS);
			uint8_t ttl = (uint8_t)(1 + RND() % (tp.max_hops + 1));
			uint32_t seq = RND() % 3 ? trace_seq(&tr, ttl, (uint8_t)(RND() % 2)) : (uint32_t)RND();
			struct pkt_info p;
			switch (RND() % 6) {
			case 0:
				p = icmp(a4(ttl), RND() % 2 ? 11 : 3, (uint8_t)(RND() % 14), seq);
				step(TRACE_EV_ICMP, &p, now, (uint32_t)(RND() % 4));
				break;
			case 1:
				p = answer(a4(99), RND() % 2 ? PKT_SYN | PKT_ACK : PKT_RST | PKT_ACK, seq);
				step(TRACE_EV_SEGMENT, &p, now, (uint32_t)(RND() % 4));
				break;
			case 2:
				step(TRACE_EV_CREDIT, NULL, now, (uint32_t)(RND() % 4));
				break;
			case 3:
				if (RND() % 50 == 0) {
					p = (struct pkt_info){ .family = AF_INET, .flags = PKT_SYN, .seq = seq };
					step(TRACE_EV_SEND_ERROR, &p, now, NOCAP);
					break;
				}
				/* fall through */
			default:
				if (tr.deadline && tr.deadline > now)
					now = tr.deadline;
				step(TRACE_EV_TIMER, NULL, now, (uint32_t)(RND() % 4));
				break;
			}
		}
		/* Whatever happened, enough time and budget end it. */
		for (unsigned k = 0; k < 400 && !done; k++) {
			now = tr.deadline > now ? tr.deadline : now + MS;
			step(TRACE_EV_TIMER, NULL, now, NOCAP);
			for (unsigned i = 0; i < acts.n; i++) {
				results += acts.a[i].type == TRACE_ACT_RESULT;
				done |= acts.a[i].type == TRACE_ACT_DONE;
			}
		}
		CHECK(done);
		CHECK_EQ(results, 1);
		CHECK(tr.res.nhops <= tp.max_hops);
		CHECK(tr.res.result != RESULT_PENDING);
		step(TRACE_EV_TIMER, NULL, now + 1000 * MS, NOCAP);
		CHECK_EQ(acts.n, 0);
	}
#undef RND
}

int main(void)
{
	RUN(t_chain_v4);
	RUN(t_chain_v6_refused);
	RUN(t_silent_hop);
	RUN(t_late_answer_own_try);
	RUN(t_forged_ignored);
	RUN(t_max_hops);
	RUN(t_unreachable);
	RUN(t_credit);
	RUN(t_send_error_abort);
	RUN(t_path_eq);
	RUN(t_random);
	return CHECK_EXIT();
}
