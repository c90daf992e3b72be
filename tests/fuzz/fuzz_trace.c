/*
 * fuzz_trace.c: the path tracer (probes/trace.c) fed a fuzzed sequence of
 * events: ICMP errors and TCP segments as a router, the target or a forger
 * would send them, timers, budget, send errors, send stamps.
 *
 * The input is a header of trace parameters, then events until the bytes run
 * out (a read past the end yields zeros). Quoted and acknowledged sequence
 * numbers are mostly ours (a SYN the tracer sent, or trace_seq() of any TTL
 * and try, near misses included), so short inputs reach answered hops.
 *
 *   header: flags u8 (bit 0 IPv6, 1 ECN, 2 timestamps, 3 a credit byte per
 *           event, 4 no linger), max_hops u8 (1 + v % 64), window u8
 *           (1 + v % 16), retries u8, timeout u16 (1 + v % 60000 ms), SYN
 *           window u16, iss u32
 *   event:  u8 op; op >> 3 advances the clock by that many ms first; then,
 *           with header bit 3 and op & 7 <= 5, credit u8 (255: no cap);
 *           op & 7: 0 start, 1 icmp, 2 segment, 3 timer, 4 credit,
 *           5 send error, 6 send stamp, 7 clock
 *   icmp:   from u8, type u8 (bit 7: bits 0-6 as is; else time exceeded or
 *           unreachable of the family), code u8, seq, reply ttl u8
 *   segment: from u8, flags u8, ack (a seq, + 1), the peer's seq u32
 *   timer:  u8; bit 0: at the deadline (else now, often early)
 *   send error: flags u8 (bit 0: a SYN, else an RST), seq
 *   stamp:  seq, i8 ms from now
 *   clock:  i8 ms (0: abort the trace; below 0: back, as a kernel timestamp
 *           of a frame read late can be)
 *   seq:    u8 mode % 4: 0 trace_seq(ttl u8, try u8), 1 the same + i8,
 *           2 u32 as is, 3 the (u8 % n)th SYN sent
 *   from:   u8: 0xff the target, else last byte & 0x7f of a router of the
 *           header's family (bit 7: of the other family)
 *
 * Invariants checked after every step, beyond ASan/UBSan: the action list
 * never fills up; every SYN has a TTL in 1..max_hops, the sequence number of
 * its (TTL, try) with try < the tries, never a number sent before, the
 * profile's window, ECN and timestamps, TSval from the clock; no more SYNs
 * than the step's credit, none once the result is out; at most window TTLs
 * waiting; an RST only for a SYN/ACK acknowledging one of our SYNs, on its
 * ACK number; one TIMER action at most, mirrored by t->deadline; one RESULT
 * at most (none after an abort), one DONE and nothing after it. The result:
 * nhops within max_hops, hop i is TTL i + 1 with the tries the wire saw, a
 * silent hop tried every time, every answered hop named by an ICMP error or
 * segment that quoted one of our SYNs of that TTL (RFC 5927: forgeries name
 * nothing), routers below the end, the end's kind what the result says. At
 * the end, timers and budget alone finish any trace.
 *
 *   FUZZ_TRACE_RESULT=1 build/fuzz/fuzz_trace FILE   what FILE comes to
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "trace.h"
#include "fuzz.h"

#define MS 1000000ULL
#define NOCAP UINT32_MAX
#define TS_OFFSET 7u

/* Addresses: 2 families x (128 routers + the target). */
#define ADDRS 258
struct believe {
	uint64_t icmp[(ADDRS + 63) / 64], seg[(ADDRS + 63) / 64];
};

/* Everything one run tracks across steps. */
struct run {
	struct trace_params p;
	struct fsm_params fp;
	struct trace t;
	uint64_t now;
	uint32_t iss;
	uint8_t family;
	bool capped, started, aborted, done, result_seen;
	unsigned nsent;
	struct { uint32_t seq; uint8_t ttl; } sent[TRACE_HOPS_MAX * TRACE_TRIES_MAX];
	unsigned tries[TRACE_HOPS_MAX + 1];           /* SYNs sent per TTL */
	struct believe bel[TRACE_HOPS_MAX + 1];      /* who may name each TTL */
};

static struct pkt_addr addr_of(uint8_t family, uint8_t b)
{
	struct pkt_addr a = { .family = family };
	if (family == AF_INET6) {
		a.a[0] = 0xfd;
		a.a[15] = b;
	} else {
		a.a[0] = 10;
		a.a[3] = b;
	}
	return a;
}

/* The target: the last byte 200 (no router has it: routers are 0..127). */
static struct pkt_addr target(uint8_t family) { return addr_of(family, 200); }

static struct pkt_addr from(const struct run *r, uint8_t b)
{
	uint8_t other = r->family == AF_INET ? AF_INET6 : AF_INET;
	if (b == 0xff)
		return target(r->family);
	return addr_of(b & 0x80 ? other : r->family, b & 0x7f);
}

/* An address from from() as a bit index; CHECK fails for anything else. */
static unsigned addr_index(const struct pkt_addr *a)
{
	unsigned fam = a->family == AF_INET6;
	uint8_t last = fam ? a->a[15] : a->a[3];
	struct pkt_addr w = last == 200 ? target(a->family) : addr_of(a->family, last);
	CHECK(a->family == AF_INET || a->family == AF_INET6);
	CHECK(pkt_addr_eq(a, &w) && (last < 128 || last == 200));
	return fam * 129 + (last == 200 ? 128 : last);
}

static void bit_set(uint64_t *b, unsigned i) { b[i / 64] |= 1ull << (i % 64); }
static bool bit_has(const uint64_t *b, unsigned i) { return b[i / 64] >> (i % 64) & 1; }

/* The TTL of a SYN we sent with sequence number seq, or 0. */
static uint8_t sent_ttl(const struct run *r, uint32_t seq)
{
	for (unsigned i = 0; i < r->nsent; i++)
		if (r->sent[i].seq == seq)
			return r->sent[i].ttl;
	return 0;
}

static void check_result(const struct run *r)
{
	const struct trace_result *res = &r->t.res;
	CHECK(res->nhops <= r->p.max_hops);
	for (unsigned i = 0; i < res->nhops; i++) {
		const struct trace_hop *h = &res->hops[i];
		bool last = i + 1 == res->nhops;
		CHECK(h->ttl == i + 1);
		CHECK(h->tries == r->tries[h->ttl] && h->tries >= 1 && h->tries <= r->t.tries_max);
		switch (h->kind) {
		case TRACE_HOP_SILENT:
			CHECK(h->tries == r->t.tries_max && h->addr.family == 0 && h->rtt_ns == 0);
			break;
		case TRACE_HOP_ROUTER:
		case TRACE_HOP_UNREACH:
			CHECK(h->rtt_ns > 0);
			CHECK(bit_has(r->bel[h->ttl].icmp, addr_index(&h->addr)));
			break;
		case TRACE_HOP_TARGET:
			CHECK(h->rtt_ns > 0 && (h->tcp_flags & PKT_ACK));
			CHECK(bit_has(r->bel[h->ttl].seg, addr_index(&h->addr)));
			break;
		default:
			CHECK(!"hop kind out of range");
		}
		/* Below the end only routers and silence. */
		if (!last)
			CHECK(h->kind == TRACE_HOP_SILENT || h->kind == TRACE_HOP_ROUTER);
	}
	const struct trace_hop *end = res->nhops ? &res->hops[res->nhops - 1] : NULL;
	switch (res->result) {
	case RESULT_OK:
		CHECK(end && end->kind == TRACE_HOP_TARGET && !(end->tcp_flags & PKT_RST));
		break;
	case RESULT_REFUSED:
		CHECK(end && end->kind == TRACE_HOP_TARGET && (end->tcp_flags & PKT_RST));
		break;
	case RESULT_UNREACHABLE:
		CHECK(end && end->kind == TRACE_HOP_UNREACH);
		break;
	case RESULT_TIMEOUT:
		CHECK(res->nhops == r->p.max_hops && end->kind != TRACE_HOP_TARGET &&
		      end->kind != TRACE_HOP_UNREACH);
		break;
	case RESULT_ERROR:
		CHECK(res->nhops == 0);
		break;
	default:
		CHECK(!"result out of range");
	}
}

static void step(struct run *r, enum trace_ev_type type, const struct pkt_info *pkt,
		 uint32_t credit)
{
	struct trace before = r->t;
	struct trace_actions out;
	struct trace_event ev = { .type = type, .pkt = pkt, .iss = r->iss, .ts_offset = TS_OFFSET,
				  .credit = credit };
	unsigned syns = 0, rsts = 0, timers = 0;
	bool result_here = false, done_here = false;

	/* Who an answer would name: a segment that quotes (ICMP) or
	 * acknowledges (TCP) one of our SYNs, whatever else it says. */
	if (pkt && type == TRACE_EV_ICMP && sent_ttl(r, pkt->seq))
		bit_set(r->bel[sent_ttl(r, pkt->seq)].icmp, addr_index(&pkt->icmp_from));
	if (pkt && type == TRACE_EV_SEGMENT && sent_ttl(r, pkt->ack - 1))
		bit_set(r->bel[sent_ttl(r, pkt->ack - 1)].seg, addr_index(&pkt->src));
	if (type == TRACE_EV_START && before.state == TRACE_IDLE)
		r->started = true;

	memset(&out, 0xa5, sizeof(out));
	trace_step(&r->t, &ev, r->now, &out);
	/* act() drops what does not fit: a full list may have lost one. */
	CHECK(out.n < TRACE_ACTIONS_MAX);
	if (r->done) {
		CHECK(out.n == 0);
		CHECK(memcmp(&before, &r->t, sizeof(before)) == 0);
		return;
	}
	for (unsigned i = 0; i < out.n; i++) {
		const struct trace_action *a = &out.a[i];
		CHECK(!done_here); /* DONE comes last */
		switch (a->type) {
		case TRACE_ACT_SEND:
			if (a->seg.flags & PKT_SYN) {
				const struct fsm_segment *s = &a->seg;
				unsigned try = r->tries[a->ttl];
				CHECK(a->ttl <= r->p.max_hops && !r->result_seen && !result_here);
				CHECK(try < r->t.tries_max && s->seq == trace_seq(&r->t, a->ttl, (uint8_t)try));
				CHECK(sent_ttl(r, s->seq) == 0);
				CHECK(s->flags == (PKT_SYN | (r->fp.ecn ? PKT_ECE | PKT_CWR : 0)));
				CHECK(s->syn_opts && s->win == r->fp.window && s->ts == r->fp.syn.timestamps);
				CHECK(s->tsval == (uint32_t)(r->now / MS) + TS_OFFSET);
				CHECK(r->nsent < sizeof(r->sent) / sizeof(r->sent[0]));
				r->sent[r->nsent].seq = s->seq;
				r->sent[r->nsent++].ttl = a->ttl;
				r->tries[a->ttl]++;
				syns++;
			} else {
				/* Only to reset a SYN/ACK that answers one of ours. */
				CHECK(type == TRACE_EV_SEGMENT && pkt && ++rsts == 1);
				CHECK((pkt->flags & (PKT_SYN | PKT_ACK | PKT_RST)) == (PKT_SYN | PKT_ACK));
				CHECK(sent_ttl(r, pkt->ack - 1) != 0);
				/* It reaches the target: never below the SYN's TTL. */
				CHECK(a->ttl == r->p.max_hops && a->ttl >= sent_ttl(r, pkt->ack - 1));
				CHECK(a->seg.flags == (PKT_RST | PKT_ACK) && a->seg.seq == pkt->ack &&
				      a->seg.ack == pkt->seq + 1);
			}
			break;
		case TRACE_ACT_TIMER:
			CHECK(++timers == 1 && a->deadline != before.deadline);
			CHECK(a->deadline == r->t.deadline);
			break;
		case TRACE_ACT_WANT_CREDIT:
			CHECK(r->t.want_credit && r->t.state == TRACE_RUNNING);
			break;
		case TRACE_ACT_RESULT:
			CHECK(!r->result_seen && !result_here && !r->aborted);
			result_here = true;
			CHECK(r->t.state == TRACE_LINGER || r->t.state == TRACE_DONE);
			check_result(r);
			break;
		case TRACE_ACT_DONE:
			done_here = true;
			CHECK(r->t.state == TRACE_DONE && r->t.deadline == 0);
			break;
		default:
			CHECK(!"unknown action type");
		}
	}
	r->result_seen |= result_here;
	r->done = done_here;
	CHECK(r->done == (r->t.state == TRACE_DONE));
	if (!timers)
		CHECK(r->t.deadline == before.deadline);
	CHECK(syns <= credit);
	CHECK(r->t.state <= TRACE_DONE);
	/* Started and not yet reported: the result is pending. */
	CHECK((r->t.state == TRACE_RUNNING) == (r->started && !r->result_seen && !r->aborted));
	unsigned open = 0;
	for (unsigned i = 0; i < r->p.max_hops; i++)
		open += r->t.slot[i].st == 1 || r->t.slot[i].st == 2; /* waiting, due again */
	CHECK(open <= r->p.window);
}

/* A sequence number of ours, near it, or anything. */
static uint32_t seq_of(struct in *in, const struct run *r)
{
	uint8_t m = u8(in), ttl, try;
	switch (m % 4) {
	case 0:
		ttl = u8(in), try = u8(in);
		return trace_seq(&r->t, ttl, try);
	case 1:
		ttl = u8(in), try = u8(in);
		return trace_seq(&r->t, ttl, try) + (uint32_t)(int8_t)u8(in);
	case 2:
		return u32(in);
	default:
		m = u8(in);
		return r->nsent ? r->sent[m % r->nsent].seq : trace_seq(&r->t, 1, 0);
	}
}

static void icmp(struct run *r, struct in *in, uint32_t credit)
{
	struct pkt_info pi;
	memset(&pi, 0, sizeof(pi));
	pi.icmp_from = from(r, u8(in));
	pi.family = pi.src.family = pi.dst.family = pi.icmp_from.family;
	pi.is_icmp = true;
	pi.flags = PKT_SYN; /* the quoted segment's */
	uint8_t t = u8(in);
	if (t & 0x80)
		pi.icmp_type = t & 0x7f;
	else if (pi.family == AF_INET6)
		pi.icmp_type = t & 1 ? 3 : 1; /* time exceeded, unreachable */
	else
		pi.icmp_type = t & 1 ? 11 : 3;
	pi.icmp_code = u8(in);
	pi.seq = seq_of(in, r);
	pi.ttl = u8(in);
	step(r, TRACE_EV_ICMP, &pi, credit);
}

static void segment(struct run *r, struct in *in, uint32_t credit)
{
	struct pkt_info pi;
	memset(&pi, 0, sizeof(pi));
	pi.src = from(r, u8(in));
	pi.family = pi.dst.family = pi.src.family;
	pi.flags = u8(in);
	pi.ack = seq_of(in, r) + 1;
	pi.seq = u32(in);
	pi.ttl = 60;
	step(r, TRACE_EV_SEGMENT, &pi, credit);
}

static void send_error(struct run *r, struct in *in, uint32_t credit)
{
	struct pkt_info pi;
	memset(&pi, 0, sizeof(pi));
	pi.family = r->family;
	pi.flags = u8(in) & 1 ? PKT_SYN : PKT_RST | PKT_ACK;
	pi.seq = seq_of(in, r);
	step(r, TRACE_EV_SEND_ERROR, &pi, credit);
}

static void stamp(struct run *r, struct in *in)
{
	uint32_t seq = seq_of(in, r);
	int8_t off = (int8_t)u8(in);
	uint64_t ts = off < 0 && r->now < (uint64_t)-off * MS ? 1 : r->now + (uint64_t)(int64_t)off * MS;
	struct trace before = r->t;
	trace_tx_stamp(&r->t, seq, ts);
	/* A stamp moves send times only. */
	CHECK(r->t.state == before.state && r->t.deadline == before.deadline);
	CHECK(memcmp(&r->t.res.hops, &before.res.hops, sizeof(before.res.hops)) == 0);
}

/* FUZZ_TRACE_RESULT=1: what an input came to, to see what a seed reaches. */
static void print_result(const struct run *r)
{
	const struct trace_result *res = &r->t.res;
	fprintf(stderr, "%s: %s, %u SYNs, %u hops:", r->aborted ? "aborted" : "result",
		probe_result_str((enum probe_result)res->result), r->nsent, res->nhops);
	for (unsigned i = 0; i < res->nhops; i++)
		fprintf(stderr, " %u:%s/%u", res->hops[i].ttl,
			trace_hop_kind_str((enum trace_hop_kind)res->hops[i].kind), res->hops[i].tries);
	fputc('\n', stderr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	struct in in = { data, size };

	memset(&r, 0, sizeof(r));
	uint8_t h = u8(&in);
	r.family = h & 1 ? AF_INET6 : AF_INET;
	r.fp.kind = PROBE_TRACE;
	r.fp.ecn = h & 2;
	r.fp.syn = (struct pkt_syn_opts){ .mss = 1460, .wscale = 7, .sack_ok = true,
					  .timestamps = h & 4 };
	r.capped = h & 8;
	r.p.max_hops = (uint8_t)(1 + u8(&in) % TRACE_HOPS_MAX);
	r.p.window = (uint8_t)(1 + u8(&in) % 16);
	r.p.retries = u8(&in);
	r.p.timeout_ns = (1 + u16(&in) % 60000) * MS;
	r.p.linger_ns = h & 16 ? 0 : r.p.timeout_ns;
	r.fp.window = u16(&in);
	r.iss = u32(&in);
	trace_init(&r.t, &r.p, &r.fp);
	r.now = 1000 * MS;

	for (unsigned nev = 0; in.n > 0 && nev < 512; nev++) {
		uint8_t op = u8(&in);
		uint32_t credit = NOCAP;
		r.now += (uint64_t)(op >> 3) * MS;
		if (r.capped && (op & 7) <= 5) {
			uint8_t c = u8(&in);
			credit = c == 255 ? NOCAP : c;
		}
		switch (op & 7) {
		case 0: step(&r, TRACE_EV_START, NULL, credit); break;
		case 1: icmp(&r, &in, credit); break;
		case 2: segment(&r, &in, credit); break;
		case 3:
			if ((u8(&in) & 1) && r.t.deadline > r.now)
				r.now = r.t.deadline;
			step(&r, TRACE_EV_TIMER, NULL, credit);
			break;
		case 4: step(&r, TRACE_EV_CREDIT, NULL, credit); break;
		case 5: send_error(&r, &in, credit); break;
		case 6: stamp(&r, &in); break;
		case 7: {
			int8_t d = (int8_t)u8(&in);
			if (d == 0) {
				if (!r.result_seen && !r.done)
					r.aborted = true;
				step(&r, TRACE_EV_ABORT, NULL, credit);
			} else if (d < 0) {
				uint64_t back = (uint64_t)(-(int)d) * MS;
				r.now = r.now > back + MS ? r.now - back : MS;
			} else {
				r.now += (uint64_t)d * MS;
			}
			break;
		}
		}
	}

	/* Whatever happened, timers and budget alone end the trace: at most
	 * max_hops x tries SYN timeouts, then the linger. */
	if (!r.done && r.t.state == TRACE_IDLE)
		step(&r, TRACE_EV_START, NULL, NOCAP);
	for (unsigned i = 0; !r.done && i < 2 * TRACE_HOPS_MAX * TRACE_TRIES_MAX + 8; i++) {
		if (r.t.deadline == 0) {
			CHECK(r.t.state == TRACE_RUNNING && r.t.want_credit);
			step(&r, TRACE_EV_CREDIT, NULL, NOCAP);
			continue;
		}
		if (r.t.deadline > r.now)
			r.now = r.t.deadline;
		step(&r, TRACE_EV_TIMER, NULL, NOCAP);
	}
	CHECK(r.done);
	CHECK(r.result_seen != r.aborted);
	if (getenv("FUZZ_TRACE_RESULT"))
		print_result(&r);
	return 0;
}
