/*
 * fuzz_fsm.c: the state machine driven by a fuzzed sequence of events.
 *
 * The input is a header of probe parameters, then events until the bytes run
 * out (a read past the end yields zeros). Sequence and acknowledgment numbers
 * are mostly given relative to the connection's own variables (RCV.NXT, IRS,
 * SND.NXT, ...), the way a peer would pick them, so that short inputs reach
 * the synchronized states instead of dying on the acceptability test.
 *
 *   header: kind|flags u8 (bits 0-1 kind % 3, 6 IPv6, 7 timeline), mss u16,
 *           wscale u8 (15 = omit), syn u8 (bit 0 sack, 1 timestamps),
 *           window u16, retries u8, rto dur, fin_wait_2 dur, time_wait dur,
 *           hold dur, iss u32, ts_offset u32
 *   dur:    u8 sel; sel % 4: 0 = u8 ms, 1 = u32 ns, 2 = u64 ns,
 *           3 = {0, 1ns, 1s, UINT64_MAX}[u8 % 4]
 *   event:  u8 op; op >> 3 advances the clock by that many ms first;
 *           op & 7: 0 open, 1 close, 2 abort, 3 timer, 4 segment, 5 icmp,
 *           6 tx stamp, 7 advance the clock by a dur
 *   timer:  u8; bit 0: at the deadline (else now, often stale)
 *   segment: flags u8, seq (u8 mode, then i8 / u32), ack (same), win u16,
 *           payload_len (u8: < 0x80 as is, else u16), opts u8 (bit 0 mss,
 *           1 wscale, 2 sack, 3 ts), mss u16, wscale u8, tsval (u8 mode,
 *           i8 / u32), tsecr u32, ttl u8
 *   icmp:   type u8 (bit 7: bits 0-6 as is; else an error type of the
 *           family), code u8, seq (as ack), mtu u16
 *   stamp:  u8 which recent segment (bit 7: it could not be sent instead,
 *           EV_SEND_ERROR), i8 time offset in ms
 *
 * Invariants checked after every step, beyond ASan/UBSan: the action list
 * never fills up (push() would drop silently), states/results in range,
 * ACT_STATE and ACT_TIMER mirror c->state and c->deadline, one ACT_RESULT (a
 * second only to take a handshake's ok back as reset or error),
 * one ACT_CLOSE_RESULT, one ACT_DONE and nothing after it (in the step or
 * later), a live connection always has a timer, the timeline stays within
 * FSM_TL_MAX, and at the end timers alone finish any connection.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fsm.h"
#include "fuzz.h"

#define MS 1000000ULL


static uint64_t dur(struct in *in)
{
	static const uint64_t special[] = { 0, 1, 1000 * MS, UINT64_MAX };
	uint8_t sel = u8(in);

	switch (sel % 4) {
	case 0: return u8(in) * MS;
	case 1: return u32(in);
	case 2: return u64(in);
	default: return special[u8(in) % 4];
	}
}

static uint64_t add_sat(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

/* Everything one run tracks across steps. */
struct run {
	struct fsm_params p;
	struct fsm_timeline tl;
	struct fsm_conn c;
	uint64_t now;
	uint8_t family;
	bool done, result_seen, close_seen;
	bool retracted;              /* the ok was taken back (ACT_RESULT reset) */
	unsigned tl_total;           /* n + dropped */
	struct fsm_segment sent[8];  /* recent ACT_SEND segments, for stamps */
	unsigned nsent;
};

static unsigned tx_max(const struct fsm_params *p)
{
	return (p->retries < UINT8_MAX ? p->retries : UINT8_MAX - 1) + 1u;
}

static void check_conn(const struct run *r)
{
	const struct fsm_conn *c = &r->c;
	struct fsm_phases ph;

	CHECK(c->state < TCPS_COUNT);
	CHECK(c->result < RESULT_COUNT && c->close_result < CLOSE_COUNT);
	CHECK((c->result != RESULT_PENDING) == c->synced_result);
	CHECK(c->syn_tx <= tx_max(c->p) && c->fin_tx <= tx_max(c->p));
	if (c->result == RESULT_CLOSED || c->result == RESULT_SILENT)
		CHECK(c->p->kind == PROBE_FIN);
	if (c->close_result != CLOSE_NONE)
		CHECK(c->p->kind == PROBE_HANDSHAKE);
	if (r->done) {
		CHECK(c->state == TCPS_CLOSED && c->deadline == 0 && c->synced_result);
	} else if (c->syn_tx || c->fin_tx) {
		/* Alive and started: something must wake it up, or the daemon
		 * holds it forever. */
		CHECK(c->deadline != 0);
	}
	if (c->tl != NULL) {
		CHECK(c->tl->n <= FSM_TL_MAX);
		for (unsigned i = 0; i < c->tl->n; i++) {
			CHECK(c->tl->e[i].state < TCPS_COUNT);
			CHECK(c->tl->e[i].dir <= TL_UNSENT);
		}
	}
	fsm_phases(c, &ph);
}

/* FUZZ_FSM_TRACE=1 prints every step, to see what an input does. */
static bool trace;

static void print_step(const struct run *r, const struct fsm_event *ev,
		       const struct fsm_actions *out)
{
	static const char *const evs[] = { "open", "close", "abort", "segment", "icmp", "timer" };
	char f[16];

	fprintf(stderr, "%.3f %s", (double)r->now / 1e9, evs[ev->type]);
	if (ev->type == EV_SEGMENT || ev->type == EV_ICMP)
		fprintf(stderr, " %s seq %u ack %u len %u icmp %u/%u",
			pkt_flags_str(ev->pkt->flags, f, sizeof(f)), ev->pkt->seq - r->c.irs,
			ev->pkt->ack - r->c.iss, ev->pkt->payload_len, ev->pkt->icmp_type,
			ev->pkt->icmp_code);
	fprintf(stderr, " -> %s result %s close %s:", tcp_state_str(r->c.state),
		probe_result_str(r->c.result), close_result_str(r->c.close_result));
	for (unsigned i = 0; i < out->n && i < FSM_ACTIONS_MAX; i++) {
		const struct fsm_action *a = &out->a[i];
		switch (a->type) {
		case ACT_SEND:
			fprintf(stderr, " send %s %u:%u", pkt_flags_str(a->u.seg.flags, f, sizeof(f)),
				a->u.seg.seq - r->c.iss, a->u.seg.ack - r->c.irs);
			break;
		case ACT_TIMER: fprintf(stderr, " timer %.3f", (double)a->u.deadline / 1e9); break;
		case ACT_STATE: fprintf(stderr, " state %s", tcp_state_str(a->u.state)); break;
		case ACT_RESULT: fprintf(stderr, " result %s", probe_result_str(a->u.result)); break;
		case ACT_CLOSE_RESULT:
			fprintf(stderr, " close %s", close_result_str(a->u.result));
			break;
		case ACT_DONE: fprintf(stderr, " done"); break;
		}
	}
	fprintf(stderr, "\n");
}

static void step(struct run *r, const struct fsm_event *ev)
{
	struct fsm_conn before = r->c;
	struct fsm_timeline tl_before = r->tl;
	struct fsm_actions out;
	bool fires = ev->type == EV_TIMER && r->c.deadline != 0 && r->now >= r->c.deadline;
	uint8_t st = r->c.state;
	uint64_t dl = fires ? 0 : r->c.deadline;
	bool done_here = false;

	memset(&out, 0xa5, sizeof(out));
	fsm_step(&r->c, ev, r->now, &out);
	if (trace)
		print_step(r, ev, &out);
	/* push() drops what does not fit: a full list may have lost one. */
	CHECK(out.n < FSM_ACTIONS_MAX);
	if (r->done) {
		CHECK(out.n == 0);
		CHECK(memcmp(&before, &r->c, sizeof(before)) == 0);
		CHECK(memcmp(&tl_before, &r->tl, sizeof(tl_before)) == 0);
		return;
	}
	for (unsigned i = 0; i < out.n; i++) {
		const struct fsm_action *a = &out.a[i];

		CHECK(!done_here); /* ACT_DONE comes last */
		switch (a->type) {
		case ACT_SEND:
			CHECK(a->u.seg.flags != 0);
			CHECK(a->u.seg.syn_opts == !!(a->u.seg.flags & PKT_SYN));
			if (a->u.seg.flags & PKT_SYN)
				CHECK(a->u.seg.seq == r->c.iss);
			CHECK(!a->u.seg.ts || r->p.syn.timestamps);
			/* RFC 7323: scaled by our wscale once both SYNs had it. */
			CHECK(a->u.seg.win ==
			      (!(a->u.seg.flags & PKT_SYN) && r->c.peer_wscale_ok && r->p.syn.wscale >= 0
				       ? r->p.window >> r->p.syn.wscale
				       : r->p.window));
			r->sent[r->nsent++ % 8] = a->u.seg;
			break;
		case ACT_TIMER:
			CHECK(a->u.deadline != dl);
			dl = a->u.deadline;
			CHECK(dl == 0 || dl > r->now || dl == UINT64_MAX);
			break;
		case ACT_STATE:
			CHECK(a->u.state < TCPS_COUNT && a->u.state != st);
			st = a->u.state;
			break;
		case ACT_RESULT:
			/* Once, except a handshake's ok taken back as reset or error. */
			CHECK(!r->result_seen || (before.result == RESULT_OK && !r->retracted &&
						  (a->u.result == RESULT_RESET ||
						   a->u.result == RESULT_ERROR) &&
						  r->p.kind == PROBE_HANDSHAKE));
			r->retracted = r->result_seen;
			r->result_seen = true;
			CHECK(a->u.result != RESULT_PENDING && a->u.result < RESULT_COUNT);
			CHECK(a->u.result == r->c.result);
			break;
		case ACT_CLOSE_RESULT:
			CHECK(!r->close_seen);
			r->close_seen = true;
			CHECK(a->u.result != CLOSE_NONE && a->u.result < CLOSE_COUNT);
			CHECK(a->u.result == r->c.close_result);
			break;
		case ACT_DONE:
			done_here = r->done = true;
			break;
		default:
			CHECK(!"unknown action type");
		}
	}
	CHECK(st == r->c.state);
	CHECK(dl == r->c.deadline);
	CHECK(r->result_seen == r->c.synced_result);
	CHECK(r->close_seen == (r->c.close_result != CLOSE_NONE));
	if (r->c.tl != NULL) {
		unsigned total = r->tl.n + r->tl.dropped;
		CHECK(total >= r->tl_total || r->tl.dropped == UINT8_MAX);
		r->tl_total = total;
	}
	check_conn(r);
}

static void simple(struct run *r, enum fsm_event_type t, uint32_t iss, uint32_t ts_offset)
{
	struct fsm_event ev = { .type = t, .iss = iss, .ts_offset = ts_offset };
	step(r, &ev);
}

/* A sequence number a peer might send. */
static uint32_t peer_seq(struct in *in, const struct fsm_conn *c)
{
	uint8_t m = u8(in);

	switch (m % 4) {
	case 0: return c->rcv_nxt + (uint32_t)(int8_t)u8(in);
	case 1: return c->irs + (uint32_t)(int8_t)u8(in);
	case 2: return u32(in);
	default: return c->rcv_nxt + (uint32_t)(int16_t)u16(in);
	}
}

/* An acknowledgment number, or a quoted sequence number of ours. */
static uint32_t our_seq(struct in *in, const struct fsm_conn *c)
{
	uint8_t m = u8(in);

	switch (m % 4) {
	case 0: return c->snd_nxt + (uint32_t)(int8_t)u8(in);
	case 1: return c->iss + (uint32_t)(int8_t)u8(in);
	case 2: return u32(in);
	default: return c->snd_una + (uint32_t)(int8_t)u8(in);
	}
}

static void segment(struct run *r, struct in *in)
{
	const struct fsm_conn *c = &r->c;
	struct pkt_info pi;

	memset(&pi, 0, sizeof(pi));
	pi.family = r->family;
	pi.src.family = pi.dst.family = r->family;
	pi.flags = u8(in);
	pi.seq = peer_seq(in, c);
	pi.ack = our_seq(in, c);
	pi.win = u16(in);
	uint8_t pl = u8(in);
	pi.payload_len = pl < 0x80 ? pl : u16(in);
	uint8_t o = u8(in);
	uint16_t mss = u16(in);
	uint8_t ws = u8(in);
	pi.opts.has_mss = o & 1;
	pi.opts.mss = pi.opts.has_mss ? mss : 0;
	pi.opts.has_wscale = o & 2;
	pi.opts.wscale = pi.opts.has_wscale ? (uint8_t)(ws % 15) : 0; /* pkt_parse clamps */
	pi.opts.sack_ok = o & 4;
	uint8_t tm = u8(in);
	uint32_t tsval = tm & 1 ? u32(in) : c->ts_recent + (uint32_t)(int8_t)u8(in);
	uint32_t tsecr = u32(in);
	if (o & 8) {
		pi.opts.has_ts = true;
		pi.opts.tsval = tsval;
		pi.opts.tsecr = tsecr;
	}
	pi.ttl = u8(in);

	struct fsm_event ev = { .type = EV_SEGMENT, .pkt = &pi };
	step(r, &ev);
}

static void icmp(struct run *r, struct in *in)
{
	struct pkt_info pi;

	memset(&pi, 0, sizeof(pi));
	pi.family = pi.src.family = pi.dst.family = pi.icmp_from.family = r->family;
	pi.is_icmp = true;
	uint8_t t = u8(in);
	/* Mostly the types pkt_parse lets through. */
	if (t & 0x80)
		pi.icmp_type = t & 0x7f;
	else
		pi.icmp_type = r->family == AF_INET6 ? (uint8_t)(1 + t % 3) : (t & 1 ? 11 : 3);
	pi.icmp_code = u8(in);
	pi.seq = our_seq(in, &r->c);
	pi.icmp_mtu = u16(in);

	struct fsm_event ev = { .type = EV_ICMP, .pkt = &pi };
	step(r, &ev);
}

static void stamp(struct run *r, struct in *in)
{
	uint8_t which = u8(in);
	int8_t off = (int8_t)u8(in);
	uint64_t t = off < 0 ? (r->now > (uint64_t)-off * MS ? r->now + (uint64_t)off * MS : 0)
			     : add_sat(r->now, (uint64_t)off * MS);
	struct fsm_conn before = r->c;

	if (r->nsent == 0)
		return;
	const struct fsm_segment *s = &r->sent[(which & 0x7f) % (r->nsent < 8 ? r->nsent : 8)];
	if (which & 0x80) {
		struct pkt_info pi;

		memset(&pi, 0, sizeof(pi));
		pi.family = r->family;
		pi.flags = s->flags;
		pi.seq = s->seq;
		pi.ack = s->ack;
		struct fsm_event ev = { .type = EV_SEND_ERROR, .pkt = &pi };
		step(r, &ev);
		return;
	}
	fsm_tx_stamp(&r->c, s->flags, s->seq, t);
	/* A stamp moves times only. */
	CHECK(r->c.state == before.state && r->c.deadline == before.deadline);
	CHECK(r->c.result == before.result && r->c.close_result == before.close_result);
	check_conn(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	struct in in = { data, size };

	memset(&r, 0, sizeof(r));
	trace = getenv("FUZZ_FSM_TRACE") != NULL;
	uint8_t h = u8(&in);
	r.p.kind = (enum probe_kind)((h & 3) % 3);
	r.family = h & 0x40 ? AF_INET6 : AF_INET;
	r.p.syn.mss = u16(&in);
	uint8_t ws = u8(&in) % 16;
	r.p.syn.wscale = ws == 15 ? -1 : (int8_t)ws;
	uint8_t so = u8(&in);
	r.p.syn.sack_ok = so & 1;
	r.p.syn.timestamps = so & 2;
	r.p.window = u16(&in);
	r.p.retries = u8(&in);
	r.p.rto_ns = dur(&in);
	r.p.fin_wait_2_ns = dur(&in);
	r.p.time_wait_ns = dur(&in);
	r.p.hold_ns = dur(&in);
	uint32_t iss = u32(&in), ts_offset = u32(&in);
	fsm_init(&r.c, &r.p, h & 0x80 ? &r.tl : NULL);
	r.now = 1000 * MS; /* 0 means "not reached" for the phase anchors */
	check_conn(&r);

	for (unsigned nev = 0; in.n > 0 && nev < 256; nev++) {
		uint8_t op = u8(&in);

		r.now = add_sat(r.now, (uint64_t)(op >> 3) * MS);
		switch (op & 7) {
		case 0: simple(&r, EV_OPEN, iss, ts_offset); break;
		case 1: simple(&r, EV_CLOSE, 0, 0); break;
		case 2: simple(&r, EV_ABORT, 0, 0); break;
		case 3:
			if ((u8(&in) & 1) && r.c.deadline > r.now)
				r.now = r.c.deadline;
			simple(&r, EV_TIMER, 0, 0);
			break;
		case 4: segment(&r, &in); break;
		case 5: icmp(&r, &in); break;
		case 6: stamp(&r, &in); break;
		case 7: r.now = add_sat(r.now, dur(&in)); break;
		}
	}

	/* Whatever happened, the timers alone end the connection: a SYN and
	 * a FIN phase of at most 256 transmissions each, hold, FIN_WAIT_2
	 * and TIME_WAIT. */
	if (!r.done && !(r.c.syn_tx || r.c.fin_tx || r.c.synced_result))
		simple(&r, EV_OPEN, iss, ts_offset);
	for (unsigned i = 0; !r.done && i < 1024; i++) {
		CHECK(r.c.deadline != 0);
		if (r.c.deadline > r.now)
			r.now = r.c.deadline;
		simple(&r, EV_TIMER, 0, 0);
	}
	CHECK(r.done);
	return 0;
}
