/*
 * fsm_script: runs the state-machine scripts (tests/fsm, .pkt) against the pure
 * fsm (probes/fsm.c), or with "kind trace" the pure path tracer
 * (probes/trace.c), with a fake clock, in the spirit of packetdrill.
 *
 *   fsm_script [-v] [-c] FILE...
 *     -v  print each script's timeline (lines starting with '#')
 *     -c  also check that the scripts together entered every TCP state
 *   Prints "PASS <basename>" or "FAIL <basename>: line N: what" per file and
 *   exits 1 if any failed.
 *
 * FORMAT. '#' starts a comment; blank lines are ignored.
 *
 * Header lines come first and set the probe parameters (defaults in brackets):
 *   kind handshake|syn|fin [handshake]    retries N [2]
 *   rto DUR [1s]   time_wait DUR [2s]   fin_wait_2 DUR [5s]   hold DUR [0]
 *   syn_opts none | [mss N] [sack] [ts] [wscale N]   [mss 1460 sack ts wscale 7]
 *   window N [64240]      iss N [1000000]      peer_isn N [3000000000]
 *   ts_offset N [0]       family 4|6 [4]
 *   synack_wait DUR [0]   syn probes: the SYN/ACK retransmission check
 *   expect-fail TEXT      the script must FAIL with a message containing TEXT
 *                         (used to test the runner itself)
 * DUR is a number with an optional unit: ns, us, ms, s (bare: seconds).
 *
 * Then the timeline. A line starts with a time in seconds: "0.010" (since
 * the start) or "+0.010" (since the previous timed line); times never go
 * back. Before a line at time T runs, every armed timer with a deadline <= T
 * fires, at its deadline. Events (a time is required):
 *   open | close | abort                     user events
 *   < FLAGS SEQ:END(LEN) [ack N] [win N] [ttl N] [<OPTIONS>]
 *       an inbound segment. FLAGS in tcpdump notation (S F R P U E W, '.' for
 *       ACK: "S.", "F.", "R", "."). SEQ is relative to peer_isn (so the
 *       peer's SYN has seq 0), ack relative to iss; ack is required with '.'
 *       and forbidden without it. win defaults to 65535, ttl to 64.
 *       OPTIONS: comma-separated mss N, sackOK, TS val N ecr N, wscale N,
 *       nop, eol.
 *   < icmp KIND [mtu N] seq N
 *       an ICMP error quoting our segment with relative seq N. KIND:
 *       unreach net|host|proto|port|frag|admin, time-exceeded, ptb,
 *       raw TYPE CODE (family 4 uses ICMPv4 numbers, 6 ICMPv6).
 *   > FLAGS SEQ:END(LEN) [ack N] [win N] [<OPTIONS>]
 *       the next segment the fsm sent; it must have been sent at exactly
 *       this line's time. SEQ relative to iss, ack to peer_isn; any number
 *       may be '*'. win and OPTIONS are checked only when given; options
 *       compare by meaning (nop/eol ignored), so "<mss 1460,sackOK,TS val *
 *       ecr 0,nop,wscale 7>" matches our SYN. With the default ts_offset,
 *       our TSval reads as the script time in ms (the runner's clock starts
 *       at 1.7e9 s and the offset it passes compensates); ts_offset N adds N.
 *   spurious-timer    deliver EV_TIMER although no timer is due: the fsm
 *                     must do nothing
 *   stamp FLAGS SEQ   fsm_tx_stamp() for our segment (relative seq) at T
 *   send-error FLAGS SEQ   EV_SEND_ERROR: our segment (relative seq) could
 *                     not be sent
 * Assertions (time optional; without one, checked without advancing):
 *   state NAME | result NAME | close NAME | done | alive
 *   entered STATE | never STATE     (whether ACT_STATE ever named it)
 *   timer T | timer none            (T: script seconds of the deadline)
 *   counter NAME N    syn_tx syn_retransmits fin_tx fin_retransmits
 *                     synack_seen dup_acks challenge_acks bytes_rcvd
 *                     rtt_ambiguous (0|1: Karn, see fsm_phases) duplicates
 *                     peer_fin_retransmits time_wait_rsts
 *   phase NAME DUR    handshake connect fin_ack fin_wait_2 close (fsm_phases)
 *   peer mss|wscale N|none, peer sack|ts yes|no, peer ttl|win N,
 *   timestamps yes|no (negotiated), icmp TYPE CODE | icmp none
 *   tl count N [dropped M]
 *   tl I DIR WHAT SEQ ACK STATE [len N] [at T] [stamped] [crossed] [code N]
 *       timeline entry I (from 0): DIR out|in|timer|icmp|user; WHAT flags,
 *       the ICMP type, open|close|abort, or '-' for a timer; SEQ/ACK as
 *       stored (relative), or '*'.
 * kind trace scripts drive the path tracer (probes/trace.c) instead, with no
 * budget cap. Header: retries and rto (one SYN's wait) as above, max_hops N
 * [30], trace_window N [8: TTLs in flight], linger DUR [rto], family, iss,
 * window, syn_opts, ts_offset. Events: start, abort, spurious-timer, and
 *   < icmp KIND from ADDR ttl N [try K]   an ICMP error from ADDR quoting
 *                     our SYN of TTL N (try K, default 0)
 *   < FLAGS from ADDR ttl N [try K]       the target's segment (S., R.)
 *                     acknowledging that SYN
 *   > S ttl N [try K]     our SYN of TTL N, try K
 *   > R. ttl N [try K]    our RST of the SYN/ACK that acknowledged it
 * Assertions: result NAME, hops N, hop I silent|router|unreachable|target
 * [ADDR] [tries K] [rtt DUR], done, alive, timer T|none. After every step:
 * SYNs carry a TTL, our window and options and a TSval from the clock, RSTs
 * TTL max_hops (they must reach the target); one TIMER action at most, mirrored by the deadline; one RESULT; DONE
 * last and nothing after it; nothing on a timer that was not due.
 * Every segment the fsm sends must be matched, in order, by a '>' line
 * before the next other line (and by the end of the script). The runner
 * also checks the fsm's invariants after every step: ACT_STATE on each
 * change, c->deadline mirrors ACT_TIMER, one ACT_RESULT (a second only to take
 * a handshake's ok back as reset or error) / ACT_CLOSE_RESULT /
 * ACT_DONE at most, nothing after ACT_DONE, outbound timeline entries match
 * the segments sent, TSval follows the clock.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fsm.h"
#include "trace.h"

#define NS         UINT64_C(1000000000)
#define CLOCK_BASE (UINT64_C(1700000000) * NS)
#define QMAX       32
#define TOKMAX     48

struct sent {
	struct fsm_segment seg;
	uint8_t ttl; /* kind trace: the segment's TTL */
	uint64_t t;
	int line;
	bool timer; /* sent when a timer fired before that line */
};

/* Options as a set, for comparing expected and actual by meaning. */
struct val { bool any; uint32_t v; };
struct opts {
	bool mss, sack, ts, ws;
	struct val mss_v, tsval, tsecr, ws_v;
};

struct run {
	const char *name;
	int line;
	char err[768];
	char expect[256];
	bool expecting;
	struct fsm_params p;
	uint32_t iss, peer_isn, ts_extra;
	int family;
	bool header_done;
	struct fsm_conn c;
	struct fsm_timeline tl;
	uint64_t t; /* script time of the last timed line, ns */
	struct sent q[QMAX];
	unsigned qn, events;
	bool done, result_seen, close_seen;
	bool retracted; /* the ok was taken back (ACT_RESULT reset) */
	bool firing; /* inside advance() */
	unsigned entered;
	bool trace;          /* kind trace: the tracer (tr) runs, not the fsm (c) */
	bool linger_set;
	struct trace_params tp;
	struct trace tr;
};

static bool verbose;

static int fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct run *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->err[0])
		return -1; /* the first error is the one that matters */
	n = snprintf(r->err, sizeof(r->err), "line %d: ", r->line);
	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof(r->err) - n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- small parsers ---- */

static int parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end || x > max)
		return -1;
	*v = x;
	return 0;
}

static int parse_u32(const char *s, uint32_t *v)
{
	uint64_t x;

	if (parse_u64(s, UINT32_MAX, &x) < 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static int parse_val(const char *s, bool wild_ok, struct val *v)
{
	v->any = false;
	v->v = 0;
	if (wild_ok && strcmp(s, "*") == 0) {
		v->any = true;
		return 0;
	}
	return parse_u32(s, &v->v);
}

/* Decimal seconds ("1", "0.010") to ns, exactly. */
static int parse_secs(const char *s, uint64_t *ns)
{
	uint64_t ip = 0, frac = 0;
	int digits = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (ip > 100000000)
			return -1;
		ip = ip * 10 + (uint64_t)(*s - '0');
	}
	if (*s == '.') {
		if (!isdigit((unsigned char)*++s))
			return -1;
		for (; isdigit((unsigned char)*s); s++, digits++) {
			if (digits == 9)
				return -1;
			frac = frac * 10 + (uint64_t)(*s - '0');
		}
	}
	if (*s)
		return -1;
	for (; digits < 9; digits++)
		frac *= 10;
	*ns = ip * NS + frac;
	return 0;
}

/* A duration: number with ns/us/ms/s, bare meaning seconds. */
static int parse_dur(const char *s, uint64_t *ns)
{
	static const struct { const char *unit; uint64_t div; } units[] = {
		{ "ns", NS }, { "us", 1000000 }, { "ms", 1000 }, { "s", 1 }, { "", 1 },
	};
	char num[64];
	size_t n = strspn(s, "0123456789.");
	uint64_t v;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + n, units[i].unit) != 0)
			continue;
		if (parse_secs(num, &v) < 0 || v % units[i].div)
			return -1;
		*ns = v / units[i].div;
		return 0;
	}
	return -1;
}

static const char flag_ch[] = "SFPRUEW.";
static const uint8_t flag_bit[] = { PKT_SYN, PKT_FIN, PKT_PSH, PKT_RST, PKT_URG,
				    PKT_ECE, PKT_CWR, PKT_ACK };

static int parse_flags(const char *s, uint8_t *f)
{
	*f = 0;
	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		const char *k = strchr(flag_ch, *s);

		if (k == NULL || (*f & flag_bit[k - flag_ch]))
			return -1;
		*f |= flag_bit[k - flag_ch];
	}
	return 0;
}

/* tcpdump's notation (pkt_flags_str may not be linked yet). */
static const char *flags_str(uint8_t f, char *buf)
{
	char *p = buf;

	for (size_t i = 0; i < sizeof(flag_bit); i++)
		if (f & flag_bit[i])
			*p++ = flag_ch[i];
	if (p == buf)
		p += sprintf(p, "none");
	*p = '\0';
	return buf;
}

/* "SEQ:END(LEN)"; each number may be '*' when wild_ok. */
static int parse_seq(const char *s, bool wild_ok, struct val *seq, uint32_t *len)
{
	char a[24], b[24], c[24];
	struct val end, l;
	int pos = -1;

	if (sscanf(s, "%23[0-9*]:%23[0-9*](%23[0-9])%n", a, b, c, &pos) != 3 || pos < 0 ||
	    s[pos] != '\0')
		return -1;
	if (parse_val(a, wild_ok, seq) < 0 || parse_val(b, wild_ok, &end) < 0 ||
	    parse_val(c, false, &l) < 0)
		return -1;
	if (!seq->any && !end.any && end.v - seq->v != l.v)
		return -1;
	*len = l.v;
	return 0;
}

/* "<mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>" (brackets stripped). */
static int parse_opts(struct run *r, char *s, bool wild_ok, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	for (char *item = strtok(s, ","); item != NULL; item = strtok(NULL, ",")) {
		char *t[6];
		int n = 0;

		for (char *w = strtok_r(item, " \t", &item); w && n < 6; w = strtok_r(NULL, " \t", &item))
			t[n++] = w;
		if (n == 1 && (strcmp(t[0], "nop") == 0 || strcmp(t[0], "eol") == 0))
			continue;
		if (n == 1 && strcmp(t[0], "sackOK") == 0 && !o->sack) {
			o->sack = true;
		} else if (n == 2 && strcmp(t[0], "mss") == 0 && !o->mss) {
			o->mss = true;
			if (parse_val(t[1], wild_ok, &o->mss_v) < 0 || o->mss_v.v > UINT16_MAX)
				return fail(r, "bad mss value '%s'", t[1]);
		} else if (n == 2 && strcmp(t[0], "wscale") == 0 && !o->ws) {
			o->ws = true;
			if (parse_val(t[1], wild_ok, &o->ws_v) < 0 || o->ws_v.v > 14)
				return fail(r, "bad wscale value '%s'", t[1]);
		} else if (n == 5 && strcmp(t[0], "TS") == 0 && strcmp(t[1], "val") == 0 &&
			   strcmp(t[3], "ecr") == 0 && !o->ts) {
			o->ts = true;
			if (parse_val(t[2], wild_ok, &o->tsval) < 0 ||
			    parse_val(t[4], wild_ok, &o->tsecr) < 0)
				return fail(r, "bad TS values");
		} else {
			return fail(r, "bad or repeated TCP option '%s'", n ? t[0] : "");
		}
	}
	return 0;
}

static void fmt_opts(const struct opts *o, char *buf, size_t len)
{
	int n = snprintf(buf, len, "<");

#define ADD(...) n += snprintf(buf + n, len > (size_t)n ? len - n : 0, __VA_ARGS__)
	if (o->mss)
		ADD("mss %" PRIu32 ",", o->mss_v.v);
	if (o->sack)
		ADD("sackOK,");
	if (o->ts)
		ADD("%sTS val %" PRIu32 " ecr %" PRIu32 ",", o->mss || o->sack || o->ws ? "" : "nop,nop,",
		    o->tsval.v, o->tsecr.v);
	if (o->ws)
		ADD("nop,wscale %" PRIu32 ",", o->ws_v.v);
	if (n > 1)
		n--;
	ADD(">");
#undef ADD
}

/* The options a segment the fsm sent would carry on the wire. */
static void seg_opts(const struct run *r, const struct fsm_segment *g, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	if (g->syn_opts) {
		o->mss = r->p.syn.mss != 0;
		o->mss_v.v = r->p.syn.mss;
		o->sack = r->p.syn.sack_ok;
		o->ws = r->p.syn.wscale >= 0;
		o->ws_v.v = (uint32_t)r->p.syn.wscale;
	}
	o->ts = g->ts;
	o->tsval.v = g->tsval;
	o->tsecr.v = g->tsecr;
}

static bool val_eq(struct val want, uint32_t got) { return want.any || want.v == got; }

static bool opts_match(const struct opts *want, const struct opts *got)
{
	return want->mss == got->mss && want->sack == got->sack && want->ts == got->ts &&
	    want->ws == got->ws && (!want->mss || val_eq(want->mss_v, got->mss_v.v)) &&
	    (!want->ws || val_eq(want->ws_v, got->ws_v.v)) &&
	    (!want->ts || (val_eq(want->tsval, got->tsval.v) && val_eq(want->tsecr, got->tsecr.v)));
}

static void fmt_seg(const struct run *r, const struct fsm_segment *g, char *buf, size_t len)
{
	char f[16], o[128];
	struct opts so;
	int n;

	seg_opts(r, g, &so);
	fmt_opts(&so, o, sizeof(o));
	n = snprintf(buf, len, "> %s %" PRIu32 ":%" PRIu32 "(0)", flags_str(g->flags, f),
		     g->seq - r->iss, g->seq - r->iss);
	if (g->flags & PKT_ACK)
		n += snprintf(buf + n, len - n, " ack %" PRIu32, g->ack - r->peer_isn);
	snprintf(buf + n, len - n, " win %u%s%s", g->win, strcmp(o, "<>") ? " " : "",
		 strcmp(o, "<>") ? o : "");
}

static void fmt_time(uint64_t t, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 ".%06" PRIu64, t / NS, t % NS / 1000);
}

/* Looks a name up through the fsm's own *_str functions. */
#define LOOKUP(fn, type, count, name) ({ int _i = 0; \
	for (; _i < (count); _i++) { if (strcmp(fn((type)_i), (name)) == 0) break; } \
	_i < (count) ? _i : -1; })

/* ---- driving the fsm ---- */

static const char *act_name(enum fsm_action_type t)
{
	switch (t) {
	case ACT_SEND:         return "ACT_SEND";
	case ACT_TIMER:        return "ACT_TIMER";
	case ACT_STATE:        return "ACT_STATE";
	case ACT_RESULT:       return "ACT_RESULT";
	case ACT_CLOSE_RESULT: return "ACT_CLOSE_RESULT";
	case ACT_DONE:         return "ACT_DONE";
	}
	return "?";
}

static int check_send(struct run *r, const struct fsm_segment *g, uint64_t now)
{
	char b[256];

	/* RFC 7323: SYNs carry the window as is; once both SYNs had wscale,
	 * every other segment carries it shifted by our scale. */
	bool scaled = !(g->flags & PKT_SYN) && r->c.peer_wscale_ok && r->p.syn.wscale >= 0;
	unsigned want = scaled ? (unsigned)r->p.window >> r->p.syn.wscale : r->p.window;

	fmt_seg(r, g, b, sizeof(b));
	if (g->win != want)
		return fail(r, "sent %s: window is not %u (p->window %u%s)", b, want, r->p.window,
			    scaled ? " scaled" : "");
	if (g->syn_opts != !!(g->flags & PKT_SYN))
		return fail(r, "sent %s: syn_opts %d on a segment %s SYN", b, g->syn_opts,
			    g->flags & PKT_SYN ? "with" : "without");
	if (!(g->flags & PKT_ACK) && g->ack != 0)
		return fail(r, "sent %s: ack field %" PRIu32 " without ACK", b, g->ack);
	if (g->ts && g->tsval != (uint32_t)(now / 1000000) + r->c.ts_offset)
		return fail(r, "sent %s: TSval does not follow the clock", b);
	if (g->ts && !(g->flags & PKT_SYN) && !r->c.ts_ok)
		return fail(r, "sent %s: timestamps option without negotiation", b);
	if (r->qn == QMAX)
		return fail(r, "more than %d unchecked outbound segments", QMAX);
	r->q[r->qn++] = (struct sent){ .seg = *g, .t = now - CLOCK_BASE, .line = r->line,
				       .timer = r->firing };
	return 0;
}

/* Feed one event at script time t and check the fsm's invariants. */
static int step(struct run *r, const struct fsm_event *ev, uint64_t t)
{
	const struct fsm_conn before = r->c;
	const unsigned tl0 = r->tl.n, drop0 = r->tl.dropped;
	const uint64_t now = CLOCK_BASE + t;
	bool fired = ev->type == EV_TIMER && before.deadline && now >= before.deadline;
	bool got_result = false, got_close = false;
	uint8_t st = before.state;
	uint64_t dl = fired ? 0 : before.deadline;
	struct fsm_segment segs[FSM_ACTIONS_MAX];
	struct fsm_actions out;
	unsigned nseg = 0, tl_out = 0;

	memset(&out, 0x5a, sizeof(out));
	fsm_step(&r->c, ev, now, &out);
	if (out.n > FSM_ACTIONS_MAX)
		return fail(r, "fsm returned %u actions", out.n);
	if (ev->type == EV_TIMER && !fired && out.n)
		return fail(r, "the fsm acted on a timer that was not due");
	for (unsigned i = 0; i < out.n; i++) {
		const struct fsm_action *a = &out.a[i];

		if (r->done)
			return fail(r, "%s after ACT_DONE", act_name(a->type));
		switch (a->type) {
		case ACT_SEND:
			segs[nseg++] = a->u.seg;
			if (check_send(r, &a->u.seg, now) < 0)
				return -1;
			break;
		case ACT_TIMER:
			if (a->u.deadline != 0 && a->u.deadline <= now)
				return fail(r, "timer armed at or before now");
			dl = a->u.deadline;
			break;
		case ACT_STATE:
			if (a->u.state >= TCPS_COUNT || a->u.state == st)
				return fail(r, "ACT_STATE %u without a change", a->u.state);
			st = a->u.state;
			r->entered |= 1u << st;
			break;
		case ACT_RESULT:
			/* Once, except a handshake's ok taken back as reset or error. */
			if ((r->result_seen && !(before.result == RESULT_OK &&
						 (a->u.result == RESULT_RESET ||
						  a->u.result == RESULT_ERROR) &&
						 r->c.p->kind == PROBE_HANDSHAKE && !r->retracted)) ||
			    a->u.result == RESULT_PENDING || a->u.result != r->c.result)
				return fail(r, "bad or repeated ACT_RESULT %u", a->u.result);
			r->retracted = r->result_seen;
			r->result_seen = got_result = true;
			break;
		case ACT_CLOSE_RESULT:
			if (r->close_seen || a->u.result == CLOSE_NONE ||
			    a->u.result != r->c.close_result)
				return fail(r, "bad or repeated ACT_CLOSE_RESULT %u", a->u.result);
			r->close_seen = got_close = true;
			break;
		case ACT_DONE:
			r->done = true;
			break;
		default:
			return fail(r, "unknown action type %d", a->type);
		}
	}
	if (st != r->c.state)
		return fail(r, "state is %s without ACT_STATE", tcp_state_str(r->c.state));
	if (dl != r->c.deadline)
		return fail(r, "c->deadline does not mirror ACT_TIMER");
	if (!got_result && r->c.result != before.result)
		return fail(r, "result changed without ACT_RESULT");
	if (!got_close && r->c.close_result != before.close_result)
		return fail(r, "close result changed without ACT_CLOSE_RESULT");
	if (r->done && (r->c.state != TCPS_CLOSED || r->c.deadline || r->c.result == RESULT_PENDING))
		return fail(r, "ACT_DONE with state %s, timer or result pending",
			    tcp_state_str(r->c.state));
	if (r->tl.n < tl0 || r->tl.n > FSM_TL_MAX || r->tl.dropped < drop0)
		return fail(r, "timeline went backwards");
	for (unsigned i = tl0; i < r->tl.n; i++) {
		const struct fsm_tl_entry *e = &r->tl.e[i];

		if (e->state >= TCPS_COUNT || e->t_ns != now || e->dir > TL_UNSENT)
			return fail(r, "timeline entry %u is malformed", i);
		if (e->dir != TL_OUT)
			continue;
		if (tl_out >= nseg || e->flags != segs[tl_out].flags ||
		    e->seq != segs[tl_out].seq - r->c.iss)
			return fail(r, "timeline entry %u does not match segment sent", i);
		tl_out++;
	}
	if (r->tl.dropped == drop0 && tl_out != nseg)
		return fail(r, "%u segments sent but %u in the timeline", nseg, tl_out);
	return 0;
}

static int tr_step(struct run *r, enum trace_ev_type type, const struct pkt_info *pkt,
		   uint64_t t);

/* The armed timer of the machine the script drives. */
static uint64_t deadline(const struct run *r) { return r->trace ? r->tr.deadline : r->c.deadline; }

/* Fire every timer due by script time t, at its deadline. */
static int advance(struct run *r, uint64_t t)
{
	for (int guard = 0; deadline(r) && deadline(r) - CLOCK_BASE <= t; guard++) {
		struct fsm_event ev = { .type = EV_TIMER };
		uint64_t at = deadline(r) - CLOCK_BASE;
		int rc;

		if (guard > 1000)
			return fail(r, "timer loop");
		r->firing = true;
		rc = r->trace ? tr_step(r, TRACE_EV_TIMER, NULL, at) : step(r, &ev, at);
		r->firing = false;
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* kind trace: "> S ttl 3 try 0", "> R. ttl 4 try 0" (the RST of the SYN/ACK
 * that answered the SYN of TTL 4). */
static void tr_fmt(const struct run *r, const struct sent *s, char *buf, size_t len)
{
	char f[16];
	bool syn = s->seg.flags & PKT_SYN;
	uint32_t d = s->seg.seq - (syn ? 0 : 1) - r->tr.iss;

	snprintf(buf, len, "> %s ttl %u try %u%s", flags_str(s->seg.flags, f), d >> 24,
		 d >> 16 & 0xff, syn || !(d & 0xffff) ? "" : " (not one of our SYNs)");
}

static void fmt_sent(const struct run *r, const struct sent *s, char *buf, size_t len)
{
	if (r->trace)
		tr_fmt(r, s, buf, len);
	else
		fmt_seg(r, &s->seg, buf, len);
}

/* "timer T" (script seconds) or "timer none": the armed deadline. */
static int timer_is(struct run *r, const char *s)
{
	uint64_t v, d = deadline(r);
	char t1[32];

	if (strcmp(s, "none") == 0)
		v = 0;
	else if (parse_secs(s, &v) == 0)
		v += CLOCK_BASE;
	else
		return fail(r, "bad timer '%s'", s);
	fmt_time(d ? d - CLOCK_BASE : 0, t1, sizeof(t1));
	return d == v ? 0 : fail(r, "timer is %s", d ? t1 : "none");
}

static int no_pending(struct run *r)
{
	char b[256], t[32];

	if (r->qn == 0)
		return 0;
	fmt_sent(r, &r->q[0], b, sizeof(b));
	fmt_time(r->q[0].t, t, sizeof(t));
	return fail(r, "unexpected outbound segment at %s (%s line %d): %s", t,
		    r->q[0].timer ? "timer, before" : "sent by", r->q[0].line, b);
}

/* ---- lines ---- */

static int header(struct run *r, char **tok, int n)
{
	const char *k = tok[0];
	uint64_t v;

	if (strcmp(k, "syn_opts") == 0) {
		r->p.syn = (struct pkt_syn_opts){ .wscale = -1 };
		for (int i = 1; i < n; i++) {
			if (strcmp(tok[i], "none") == 0 && n == 2)
				continue;
			else if (strcmp(tok[i], "sack") == 0)
				r->p.syn.sack_ok = true;
			else if (strcmp(tok[i], "ts") == 0)
				r->p.syn.timestamps = true;
			else if (strcmp(tok[i], "mss") == 0 && i + 1 < n &&
				 parse_u64(tok[i + 1], UINT16_MAX, &v) == 0 && v > 0)
				r->p.syn.mss = (uint16_t)v, i++;
			else if (strcmp(tok[i], "wscale") == 0 && i + 1 < n &&
				 parse_u64(tok[i + 1], 14, &v) == 0)
				r->p.syn.wscale = (int8_t)v, i++;
			else
				return fail(r, "syn_opts: bad option '%s'", tok[i]);
		}
		return n > 1 ? 0 : fail(r, "syn_opts needs options or 'none'");
	}
	if (n != 2)
		return fail(r, "'%s' takes one value", k);
	if (strcmp(k, "kind") == 0) {
		int kind = probe_kind_from_str(tok[1]);

		if (kind < 0)
			return fail(r, "unknown probe kind '%s'", tok[1]);
		r->p.kind = (enum probe_kind)kind;
	} else if (strcmp(k, "retries") == 0 && parse_u64(tok[1], UINT8_MAX, &v) == 0) {
		r->p.retries = (uint8_t)v;
	} else if (strcmp(k, "window") == 0 && parse_u64(tok[1], UINT16_MAX, &v) == 0) {
		r->p.window = (uint16_t)v;
	} else if (strcmp(k, "iss") == 0 && parse_u32(tok[1], &r->iss) == 0) {
	} else if (strcmp(k, "peer_isn") == 0 && parse_u32(tok[1], &r->peer_isn) == 0) {
	} else if (strcmp(k, "ts_offset") == 0 && parse_u32(tok[1], &r->ts_extra) == 0) {
	} else if (strcmp(k, "family") == 0 && (strcmp(tok[1], "4") == 0 || strcmp(tok[1], "6") == 0)) {
		r->family = tok[1][0] - '0';
	} else if (strcmp(k, "rto") == 0 && parse_dur(tok[1], &v) == 0 && v > 0) {
		r->p.rto_ns = v;
	} else if (strcmp(k, "time_wait") == 0 && parse_dur(tok[1], &v) == 0) {
		r->p.time_wait_ns = v;
	} else if (strcmp(k, "fin_wait_2") == 0 && parse_dur(tok[1], &v) == 0) {
		r->p.fin_wait_2_ns = v;
	} else if (strcmp(k, "hold") == 0 && parse_dur(tok[1], &v) == 0) {
		r->p.hold_ns = v;
	} else if (strcmp(k, "synack_wait") == 0 && parse_dur(tok[1], &v) == 0) {
		r->p.synack_wait_ns = v;
	} else if (strcmp(k, "max_hops") == 0 && parse_u64(tok[1], TRACE_HOPS_MAX, &v) == 0 && v) {
		r->tp.max_hops = (uint8_t)v;
	} else if (strcmp(k, "trace_window") == 0 && parse_u64(tok[1], UINT8_MAX, &v) == 0 && v) {
		r->tp.window = (uint8_t)v;
	} else if (strcmp(k, "linger") == 0 && parse_dur(tok[1], &v) == 0) {
		r->tp.linger_ns = v;
		r->linger_set = true;
	} else {
		return fail(r, "bad header line '%s %s'", k, tok[1]);
	}
	return 0;
}

static bool is_header(const char *k)
{
	static const char *const keys[] = { "kind", "retries", "rto", "time_wait", "fin_wait_2",
		"hold", "syn_opts", "window", "iss", "peer_isn", "ts_offset", "family", "synack_wait",
		"max_hops", "trace_window", "linger" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(k, keys[i]) == 0)
			return true;
	return false;
}

static int icmp_kind(struct run *r, char **tok, int n, int *i, struct pkt_info *k)
{
	static const struct { const char *name; uint8_t t4, c4, t6, c6; } kinds[] = {
		{ "net", 3, 0, 1, 0 }, { "host", 3, 1, 1, 3 }, { "proto", 3, 2, 4, 1 },
		{ "port", 3, 3, 1, 4 }, { "frag", 3, 4, 2, 0 }, { "admin", 3, 13, 1, 1 },
	};
	bool v6 = r->family == 6;
	uint64_t a, b;

	if (*i < n && strcmp(tok[*i], "unreach") == 0 && *i + 1 < n) {
		for (size_t j = 0; j < sizeof(kinds) / sizeof(kinds[0]); j++) {
			if (strcmp(tok[*i + 1], kinds[j].name) == 0) {
				k->icmp_type = v6 ? kinds[j].t6 : kinds[j].t4;
				k->icmp_code = v6 ? kinds[j].c6 : kinds[j].c4;
				*i += 2;
				return 0;
			}
		}
		return fail(r, "unknown unreachable code '%s'", tok[*i + 1]);
	}
	if (*i < n && strcmp(tok[*i], "time-exceeded") == 0) {
		k->icmp_type = v6 ? 3 : 11;
		*i += 1;
		return 0;
	}
	if (*i < n && strcmp(tok[*i], "ptb") == 0) {
		k->icmp_type = v6 ? 2 : 3;
		k->icmp_code = v6 ? 0 : 4;
		k->icmp_mtu = 1280;
		*i += 1;
		return 0;
	}
	if (*i + 2 < n && strcmp(tok[*i], "raw") == 0 && parse_u64(tok[*i + 1], 255, &a) == 0 &&
	    parse_u64(tok[*i + 2], 255, &b) == 0) {
		k->icmp_type = (uint8_t)a;
		k->icmp_code = (uint8_t)b;
		*i += 3;
		return 0;
	}
	return fail(r, "bad icmp kind");
}

/* "< ..." */
static int inbound(struct run *r, char **tok, int n, char *opt, uint64_t t)
{
	struct pkt_info k = { .family = r->family == 6 ? AF_INET6 : AF_INET, .ttl = 64,
			      .win = 65535 };
	struct fsm_event ev = { .type = EV_SEGMENT, .pkt = &k };
	struct val seq;
	uint32_t len, v;
	bool have_ack = false;
	int i = 2;

	if (n >= 2 && strcmp(tok[1], "icmp") == 0) {
		if (opt)
			return fail(r, "options on an ICMP line");
		k.is_icmp = true;
		k.flags = PKT_SYN;
		ev.type = EV_ICMP;
		if (icmp_kind(r, tok, n, &i, &k) < 0)
			return -1;
		if (i + 1 < n && strcmp(tok[i], "mtu") == 0) {
			if (parse_u32(tok[i + 1], &k.icmp_mtu) < 0)
				return fail(r, "bad mtu");
			i += 2;
		}
		if (i + 2 != n || strcmp(tok[i], "seq") != 0 || parse_u32(tok[i + 1], &v) < 0)
			return fail(r, "expected 'seq N' at the end of the icmp line");
		k.seq = r->iss + v;
		return step(r, &ev, t);
	}
	if (n < 3 || parse_flags(tok[1], &k.flags) < 0)
		return fail(r, "bad flags '%s'", n > 1 ? tok[1] : "");
	if (parse_seq(tok[2], false, &seq, &len) < 0 || len > UINT16_MAX)
		return fail(r, "bad SEQ:END(LEN) '%s'", tok[2]);
	k.seq = r->peer_isn + seq.v;
	k.payload_len = (uint16_t)len;
	for (i = 3; i < n; i += 2) {
		if (i + 1 >= n || parse_u32(tok[i + 1], &v) < 0)
			return fail(r, "'%s' needs a number", tok[i]);
		if (strcmp(tok[i], "ack") == 0 && !have_ack) {
			have_ack = true;
			k.ack = r->iss + v;
		} else if (strcmp(tok[i], "win") == 0 && v <= UINT16_MAX) {
			k.win = (uint16_t)v;
		} else if (strcmp(tok[i], "ttl") == 0 && v <= 255) {
			k.ttl = (uint8_t)v;
		} else {
			return fail(r, "bad field '%s %s'", tok[i], tok[i + 1]);
		}
	}
	if (have_ack != !!(k.flags & PKT_ACK))
		return fail(r, have_ack ? "ack without '.'" : "'.' needs 'ack N'");
	if (opt) {
		struct opts o;

		if (parse_opts(r, opt, false, &o) < 0)
			return -1;
		k.opts = (struct pkt_tcp_opts){ .has_mss = o.mss, .mss = (uint16_t)o.mss_v.v,
			.has_wscale = o.ws, .wscale = (uint8_t)o.ws_v.v, .sack_ok = o.sack,
			.has_ts = o.ts, .tsval = o.tsval.v, .tsecr = o.tsecr.v };
	}
	return step(r, &ev, t);
}

/* The next segment sent by script time t (timers due by then fired), for the
 * '>' line text. */
static int pop_sent(struct run *r, const char *text, uint64_t t, struct sent *s)
{
	if (advance(r, t) < 0)
		return -1;
	if (r->qn == 0)
		return fail(r, "expected '%s' but nothing was sent", text);
	*s = r->q[0];
	memmove(&r->q[0], &r->q[1], --r->qn * sizeof(r->q[0]));
	return 0;
}

/* s (printed as b) must have left at script time t exactly. */
static int sent_at(struct run *r, const struct sent *s, const char *b, uint64_t t)
{
	char t1[32], t2[32];

	if (s->t == t)
		return 0;
	fmt_time(s->t, t1, sizeof(t1));
	fmt_time(t, t2, sizeof(t2));
	return fail(r, "'%s' was sent at %s, expected at %s", b, t1, t2);
}

/* "> ..." */
static int outbound(struct run *r, char **tok, int n, char *opt, const char *text, uint64_t t)
{
	struct val seq, ack = { .any = true }, win = { .any = true };
	bool have_ack = false;
	uint8_t flags;
	uint32_t len;
	struct opts want, got;
	struct sent s;
	char b[256];

	if (n < 3 || parse_flags(tok[1], &flags) < 0)
		return fail(r, "bad flags '%s'", n > 1 ? tok[1] : "");
	if (parse_seq(tok[2], true, &seq, &len) < 0)
		return fail(r, "bad SEQ:END(LEN) '%s'", tok[2]);
	if (len != 0)
		return fail(r, "the fsm never sends data: length must be 0");
	for (int i = 3; i < n; i += 2) {
		struct val *dst = strcmp(tok[i], "ack") == 0 ? &ack : strcmp(tok[i], "win") == 0 ? &win : NULL;

		if (dst == NULL || i + 1 >= n || parse_val(tok[i + 1], true, dst) < 0 ||
		    (dst == &ack && have_ack))
			return fail(r, "bad field '%s'", tok[i]);
		have_ack |= dst == &ack;
	}
	if (have_ack != !!(flags & PKT_ACK))
		return fail(r, have_ack ? "ack without '.'" : "'.' needs 'ack N'");
	if (opt && parse_opts(r, opt, true, &want) < 0)
		return -1;
	if (pop_sent(r, text, t, &s) < 0)
		return -1;
	fmt_seg(r, &s.seg, b, sizeof(b));
	seg_opts(r, &s.seg, &got);
	if (s.seg.flags != flags || !val_eq(seq, s.seg.seq - r->iss) ||
	    ((flags & PKT_ACK) && !val_eq(ack, s.seg.ack - r->peer_isn)) ||
	    !val_eq(win, s.seg.win) || (opt && !opts_match(&want, &got)))
		return fail(r, "sent '%s', expected '%s'", b, text);
	return sent_at(r, &s, b, t);
}

static int yesno(struct run *r, const char *s, bool *v)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "no") == 0) {
		*v = s[0] == 'y';
		return 0;
	}
	return fail(r, "expected yes or no, got '%s'", s);
}

static int tl_assert(struct run *r, char **tok, int n)
{
	static const char *const dirs[] = { "out", "in", "timer", "icmp", "user", "unsent" };
	static const char *const users[] = { "open", "close", "abort" };
	const struct fsm_tl_entry *e;
	uint64_t idx, v;
	char what[16];
	struct val seq, ack;

	if (n >= 3 && strcmp(tok[1], "count") == 0) {
		uint64_t dropped = r->tl.dropped;

		if (parse_u64(tok[2], 255, &v) < 0 || (n != 3 && (n != 5 ||
		    strcmp(tok[3], "dropped") || parse_u64(tok[4], 255, &dropped) < 0)))
			return fail(r, "usage: tl count N [dropped M]");
		if (v != r->tl.n || dropped != r->tl.dropped)
			return fail(r, "timeline has %u entries, %u dropped", r->tl.n, r->tl.dropped);
		return 0;
	}
	if (n < 7 || parse_u64(tok[1], FSM_TL_MAX - 1, &idx) < 0 ||
	    parse_val(tok[4], true, &seq) < 0 || parse_val(tok[5], true, &ack) < 0 ||
	    LOOKUP(tcp_state_str, enum tcp_state, TCPS_COUNT, tok[6]) < 0)
		return fail(r, "usage: tl I DIR WHAT SEQ ACK STATE [len N] [at T] [stamped] [crossed] "
			    "[code N]");
	if (idx >= r->tl.n)
		return fail(r, "timeline has only %u entries", r->tl.n);
	e = &r->tl.e[idx];
	switch (e->dir) {
	case TL_OUT:
	case TL_UNSENT:
	case TL_IN:    flags_str(e->flags, what); break;
	case TL_ICMP:  snprintf(what, sizeof(what), "%u", e->flags); break;
	case TL_USER:  snprintf(what, sizeof(what), "%s", e->flags < 3 ? users[e->flags] : "?"); break;
	default:       snprintf(what, sizeof(what), "-"); break;
	}
	if (strcmp(tok[2], e->dir <= TL_UNSENT ? dirs[e->dir] : "?") || strcmp(tok[3], what) ||
	    !val_eq(seq, e->seq) || !val_eq(ack, e->ack) || strcmp(tok[6], tcp_state_str(e->state)))
		return fail(r, "timeline entry %" PRIu64 " is %s %s %" PRIu32 " %" PRIu32 " %s", idx,
			    e->dir <= TL_UNSENT ? dirs[e->dir] : "?", what, e->seq, e->ack,
			    tcp_state_str(e->state));
	for (int i = 7; i < n; i++) {
		if (strcmp(tok[i], "stamped") == 0) {
			if (!e->stamped)
				return fail(r, "timeline entry %" PRIu64 " is not stamped", idx);
		} else if (strcmp(tok[i], "crossed") == 0) {
			if (!e->crossed)
				return fail(r, "timeline entry %" PRIu64 " is not crossed", idx);
		} else if (strcmp(tok[i], "code") == 0 && i + 1 < n &&
			   parse_u64(tok[i + 1], 255, &v) == 0) {
			if (e->dir != TL_ICMP || e->code != v)
				return fail(r, "timeline entry %" PRIu64 " has code %u", idx, e->code);
			i++;
		} else if (strcmp(tok[i], "len") == 0 && i + 1 < n &&
			   parse_u64(tok[i + 1], UINT16_MAX, &v) == 0) {
			if (e->len != v)
				return fail(r, "timeline entry %" PRIu64 " has len %u", idx, e->len);
			i++;
		} else if (strcmp(tok[i], "at") == 0 && i + 1 < n && parse_secs(tok[i + 1], &v) == 0) {
			if (e->t_ns != CLOCK_BASE + v)
				return fail(r, "timeline entry %" PRIu64 " is at %" PRIu64 " ns", idx,
					    e->t_ns - CLOCK_BASE);
			i++;
		} else {
			return fail(r, "bad tl field '%s'", tok[i]);
		}
	}
	return 0;
}

static int assertion(struct run *r, char **tok, int n)
{
	const struct fsm_conn *c = &r->c;
	const char *k = tok[0];
	uint64_t v, got;
	int i;

	if (strcmp(k, "done") == 0 && n == 1)
		return r->done ? 0 : fail(r, "not done (state %s)", tcp_state_str(c->state));
	if (strcmp(k, "alive") == 0 && n == 1)
		return !r->done ? 0 : fail(r, "done already");
	if (strcmp(k, "tl") == 0)
		return tl_assert(r, tok, n);
	if (strcmp(k, "peer") == 0 && n == 3) {
		bool b = false;

		if (strcmp(tok[1], "sack") == 0 || strcmp(tok[1], "ts") == 0) {
			if (yesno(r, tok[2], &b) < 0)
				return -1;
			if (b != (tok[1][0] == 's' ? c->peer_sack : c->peer_ts))
				return fail(r, "peer %s is %s", tok[1], b ? "no" : "yes");
			return 0;
		}
		if (strcmp(tok[1], "mss") == 0)
			got = c->peer_mss ? c->peer_mss : UINT64_MAX;
		else if (strcmp(tok[1], "wscale") == 0)
			got = c->peer_wscale_ok ? c->peer_wscale : UINT64_MAX;
		else if (strcmp(tok[1], "ttl") == 0)
			got = c->peer_ttl;
		else if (strcmp(tok[1], "win") == 0)
			got = c->snd_wnd;
		else
			return fail(r, "unknown peer property '%s'", tok[1]);
		if (strcmp(tok[2], "none") == 0)
			v = UINT64_MAX;
		else if (parse_u64(tok[2], UINT32_MAX, &v) < 0)
			return fail(r, "bad value '%s'", tok[2]);
		if (v != got)
			return fail(r, "peer %s is %" PRId64, tok[1], got == UINT64_MAX ? -1 : (int64_t)got);
		return 0;
	}
	if (n != 2 && !(n == 3 && (strcmp(k, "counter") == 0 || strcmp(k, "phase") == 0 ||
				   strcmp(k, "icmp") == 0)))
		return fail(r, "bad assertion '%s'", k);
	if (strcmp(k, "state") == 0 || strcmp(k, "entered") == 0 || strcmp(k, "never") == 0) {
		if ((i = LOOKUP(tcp_state_str, enum tcp_state, TCPS_COUNT, tok[1])) < 0)
			return fail(r, "unknown state '%s'", tok[1]);
		if (k[0] == 's' && c->state != i)
			return fail(r, "state is %s, expected %s", tcp_state_str(c->state), tok[1]);
		if (k[0] == 'e' && !(r->entered & (1u << i)))
			return fail(r, "state %s was never entered", tok[1]);
		if (k[0] == 'n' && (r->entered & (1u << i)))
			return fail(r, "state %s was entered", tok[1]);
	} else if (strcmp(k, "result") == 0) {
		if ((i = LOOKUP(probe_result_str, enum probe_result, RESULT_COUNT, tok[1])) < 0)
			return fail(r, "unknown result '%s'", tok[1]);
		if (c->result != i)
			return fail(r, "result is %s, expected %s", probe_result_str(c->result), tok[1]);
	} else if (strcmp(k, "close") == 0) {
		if ((i = LOOKUP(close_result_str, enum close_result, CLOSE_COUNT, tok[1])) < 0)
			return fail(r, "unknown close result '%s'", tok[1]);
		if (c->close_result != i)
			return fail(r, "close result is %s, expected %s",
				    close_result_str(c->close_result), tok[1]);
	} else if (strcmp(k, "timestamps") == 0) {
		bool b = false;

		if (yesno(r, tok[1], &b) < 0)
			return -1;
		if (b != c->ts_ok)
			return fail(r, "timestamps %snegotiated", c->ts_ok ? "" : "not ");
	} else if (strcmp(k, "timer") == 0) {
		if (timer_is(r, tok[1]) < 0)
			return -1;
	} else if (strcmp(k, "icmp") == 0) {
		uint64_t ty, co;

		if (n == 2 && strcmp(tok[1], "none") == 0) {
			if (c->have_icmp)
				return fail(r, "icmp %u %u recorded", c->icmp_type, c->icmp_code);
			return 0;
		}
		if (n != 3 || parse_u64(tok[1], 255, &ty) < 0 || parse_u64(tok[2], 255, &co) < 0)
			return fail(r, "usage: icmp TYPE CODE | icmp none");
		if (!c->have_icmp || c->icmp_type != ty || c->icmp_code != co)
			return fail(r, "icmp is %s %u %u", c->have_icmp ? "" : "none", c->icmp_type,
				    c->icmp_code);
	} else if (strcmp(k, "counter") == 0) {
		static const char *const names[] = { "syn_tx", "syn_retransmits", "fin_tx",
			"fin_retransmits", "synack_seen", "dup_acks", "challenge_acks", "bytes_rcvd",
			"rtt_ambiguous", "duplicates", "peer_fin_retransmits", "time_wait_rsts" };
		struct fsm_phases ph;

		fsm_phases(c, &ph);
		const uint64_t vals[] = { c->syn_tx, c->syn_tx ? c->syn_tx - 1u : 0, c->fin_tx,
			c->fin_tx ? c->fin_tx - 1u : 0, c->synack_seen, c->dup_acks,
			c->challenge_acks, c->bytes_rcvd, ph.rtt_ambiguous, c->duplicates,
			c->peer_fin_rtx, c->tw_rsts };

		if (parse_u64(tok[2], UINT32_MAX, &v) < 0)
			return fail(r, "bad counter value '%s'", tok[2]);
		for (i = 0; i < (int)(sizeof(names) / sizeof(names[0])) && strcmp(tok[1], names[i]); i++)
			;
		if (i == (int)(sizeof(names) / sizeof(names[0])))
			return fail(r, "unknown counter '%s'", tok[1]);
		if (vals[i] != v)
			return fail(r, "counter %s is %" PRIu64, tok[1], vals[i]);
	} else if (strcmp(k, "phase") == 0) {
		struct fsm_phases ph;
		uint64_t *f;
		char t1[32];

		fsm_phases(c, &ph);
		f = strcmp(tok[1], "handshake") == 0 ? &ph.handshake :
		    strcmp(tok[1], "connect") == 0 ? &ph.connect : strcmp(tok[1], "fin_ack") == 0 ?
		    &ph.fin_ack : strcmp(tok[1], "fin_wait_2") == 0 ? &ph.fin_wait_2 :
		    strcmp(tok[1], "close") == 0 ? &ph.close : NULL;
		if (f == NULL || parse_dur(tok[2], &v) < 0)
			return fail(r, "usage: phase handshake|connect|fin_ack|fin_wait_2|close DUR");
		fmt_time(*f, t1, sizeof(t1));
		if (*f != v)
			return fail(r, "phase %s is %ss", tok[1], t1);
	} else {
		return fail(r, "unknown keyword '%s'", k);
	}
	return 0;
}

/* ---- driving the tracer (kind trace: probes/trace.c) ---- */

/* Feed the tracer one event at script time t (no budget cap) and check its
 * invariants: SYNs with a TTL, the profile's window and options, TSval from
 * the clock; RSTs with TTL max_hops; one TIMER at most, mirrored by tr.deadline; one
 * RESULT, DONE last and nothing after it. */
static int tr_step(struct run *r, enum trace_ev_type type, const struct pkt_info *pkt,
		   uint64_t t)
{
	const uint64_t now = CLOCK_BASE + t, dl0 = r->tr.deadline;
	struct trace_event ev = { .type = type, .pkt = pkt, .iss = r->iss, .credit = UINT32_MAX,
				  .ts_offset = r->ts_extra - (uint32_t)(CLOCK_BASE / 1000000) };
	struct trace_actions out;
	bool timer = false;
	char b[128];

	trace_step(&r->tr, &ev, now, &out);
	if (out.n >= TRACE_ACTIONS_MAX)
		return fail(r, "the tracer filled its action list");
	if (type == TRACE_EV_TIMER && !(dl0 && now >= dl0) && out.n)
		return fail(r, "the tracer acted on a timer that was not due");
	for (unsigned i = 0; i < out.n; i++) {
		const struct trace_action *a = &out.a[i];
		const struct fsm_segment *g = &a->seg;
		struct sent s = { .seg = *g, .ttl = a->ttl, .t = t, .line = r->line,
				  .timer = r->firing };

		if (r->done)
			return fail(r, "action %d after TRACE_ACT_DONE", a->type);
		switch (a->type) {
		case TRACE_ACT_SEND:
			tr_fmt(r, &s, b, sizeof(b));
			bool syn = g->flags & PKT_SYN;
			if (syn && (!a->ttl || a->ttl > r->tr.p->max_hops || !g->syn_opts ||
				    g->win != r->p.window || g->ts != r->p.syn.timestamps))
				return fail(r, "sent %s: not our SYN (TTL, options or window)", b);
			if (syn && g->ts && g->tsval != (uint32_t)(now / 1000000) + r->tr.ts_offset)
				return fail(r, "sent %s: TSval does not follow the clock", b);
			if (!syn && (g->flags != (PKT_RST | PKT_ACK) || g->syn_opts))
				return fail(r, "sent %s: neither a SYN nor an RST", b);
			/* The RST must reach the target: a SYN/ACK came from as far. */
			if (!syn && a->ttl != r->tr.p->max_hops)
				return fail(r, "sent %s with TTL %u, not max_hops %u", b, a->ttl,
					    r->tr.p->max_hops);
			if (r->qn == QMAX)
				return fail(r, "more than %d unchecked outbound segments", QMAX);
			r->q[r->qn++] = s;
			break;
		case TRACE_ACT_TIMER:
			if (timer || a->deadline != r->tr.deadline)
				return fail(r, "a second TRACE_ACT_TIMER, or tr.deadline does not mirror it");
			timer = true;
			break;
		case TRACE_ACT_WANT_CREDIT:
			return fail(r, "the tracer asked for budget it had");
		case TRACE_ACT_RESULT:
			if (r->result_seen)
				return fail(r, "a second TRACE_ACT_RESULT");
			r->result_seen = true;
			break;
		case TRACE_ACT_DONE:
			r->done = true;
			break;
		default:
			return fail(r, "unknown action type %d", a->type);
		}
	}
	if (!timer && r->tr.deadline != dl0)
		return fail(r, "tr.deadline changed without TRACE_ACT_TIMER");
	if (r->done != (r->tr.state == TRACE_DONE))
		return fail(r, "TRACE_ACT_DONE and the state disagree");
	return 0;
}

/* "ttl N [try K]" from tok[*i]: our SYN's sequence number. */
static int tr_which(struct run *r, char **tok, int n, int *i, uint32_t *seq)
{
	uint64_t ttl, try = 0;

	if (*i + 1 >= n || strcmp(tok[*i], "ttl") || parse_u64(tok[*i + 1], 255, &ttl) < 0)
		return fail(r, "expected 'ttl N'");
	*i += 2;
	if (*i + 1 < n && strcmp(tok[*i], "try") == 0) {
		if (parse_u64(tok[*i + 1], 255, &try) < 0)
			return fail(r, "bad try '%s'", tok[*i + 1]);
		*i += 2;
	}
	*seq = trace_seq(&r->tr, (uint8_t)ttl, (uint8_t)try);
	return 0;
}

static int tr_addr(struct run *r, const char *s, struct pkt_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = r->family == 6 ? AF_INET6 : AF_INET;
	return inet_pton(a->family, s, a->a) == 1 ? 0 : fail(r, "bad address '%s'", s);
}

/* "< icmp KIND from ADDR ttl N [try K]": an ICMP error from ADDR quoting
 * our SYN of TTL N (try K); "< FLAGS from ADDR ttl N [try K]": the target's
 * segment acknowledging it. */
static int tr_inbound(struct run *r, char **tok, int n, uint64_t t)
{
	struct pkt_info k = { .family = r->family == 6 ? AF_INET6 : AF_INET, .ttl = 60 };
	struct pkt_addr from;
	uint32_t seq;
	int i = 2;

	if (n >= 2 && strcmp(tok[1], "icmp") == 0) {
		k.is_icmp = true;
		k.flags = PKT_SYN;
		if (icmp_kind(r, tok, n, &i, &k) < 0)
			return -1;
	} else if (n < 2 || parse_flags(tok[1], &k.flags) < 0) {
		return fail(r, "bad flags '%s'", n > 1 ? tok[1] : "");
	}
	if (i + 1 >= n || strcmp(tok[i], "from") || tr_addr(r, tok[i + 1], &from) < 0)
		return r->err[0] ? -1 : fail(r, "expected 'from ADDR'");
	i += 2;
	if (tr_which(r, tok, n, &i, &seq) < 0)
		return -1;
	if (i != n)
		return fail(r, "unexpected '%s'", tok[i]);
	if (k.is_icmp) {
		k.icmp_from = from;
		k.seq = seq;
		return tr_step(r, TRACE_EV_ICMP, &k, t);
	}
	k.src = from;
	k.seq = r->peer_isn;
	k.ack = seq + 1;
	return tr_step(r, TRACE_EV_SEGMENT, &k, t);
}

/* "> S ttl N [try K]": our SYN of TTL N; "> R. ttl N [try K]": the RST of
 * the SYN/ACK that acknowledged it (on its ACK number). */
static int tr_outbound(struct run *r, char **tok, int n, const char *text, uint64_t t)
{
	uint8_t flags;
	uint32_t seq;
	int i = 2;
	char b[128];

	if (n < 2 || parse_flags(tok[1], &flags) < 0)
		return fail(r, "bad flags '%s'", n > 1 ? tok[1] : "");
	if (tr_which(r, tok, n, &i, &seq) < 0)
		return -1;
	if (i != n)
		return fail(r, "unexpected '%s'", tok[i]);
	struct sent s;
	if (pop_sent(r, text, t, &s) < 0)
		return -1;
	tr_fmt(r, &s, b, sizeof(b));
	bool syn = flags & PKT_SYN;
	if (s.seg.flags != flags || s.seg.seq != seq + !syn ||
	    (syn && s.ttl != (uint8_t)((seq - r->tr.iss) >> 24)) ||
	    (!syn && s.seg.ack != r->peer_isn + 1))
		return fail(r, "sent '%s', expected '%s'", b, text);
	return sent_at(r, &s, b, t);
}

/* result NAME | hops N | hop I silent|router|unreachable|target [ADDR]
 * [tries K] [rtt DUR] | done | alive | timer T|none */
static int tr_assertion(struct run *r, char **tok, int n)
{
	const struct trace_result *res = &r->tr.res;
	const char *k = tok[0];
	uint64_t v;
	int i;

	if (strcmp(k, "done") == 0 && n == 1)
		return r->done ? 0 : fail(r, "not done");
	if (strcmp(k, "alive") == 0 && n == 1)
		return !r->done ? 0 : fail(r, "done already");
	if (strcmp(k, "timer") == 0 && n == 2)
		return timer_is(r, tok[1]);
	if (strcmp(k, "result") == 0 && n == 2) {
		if ((i = LOOKUP(probe_result_str, enum probe_result, RESULT_COUNT, tok[1])) < 0)
			return fail(r, "unknown result '%s'", tok[1]);
		if (res->result != i)
			return fail(r, "result is %s, expected %s", probe_result_str(res->result), tok[1]);
		return 0;
	}
	if (strcmp(k, "hops") == 0 && n == 2) {
		if (parse_u64(tok[1], TRACE_HOPS_MAX, &v) < 0)
			return fail(r, "bad hop count '%s'", tok[1]);
		return res->nhops == v ? 0 : fail(r, "%u hops, expected %" PRIu64, res->nhops, v);
	}
	if (strcmp(k, "hop") != 0 || n < 3 || parse_u64(tok[1], TRACE_HOPS_MAX, &v) < 0 || !v)
		return fail(r, "unknown trace assertion '%s'", k);
	const struct trace_hop *h = &res->hops[v - 1];
	char a[64];
	pkt_addr_str(&h->addr, a, sizeof(a));
	if (v > res->nhops)
		return fail(r, "hop %" PRIu64 " of %u", v, res->nhops);
	if ((i = LOOKUP(trace_hop_kind_str, enum trace_hop_kind, TRACE_HOP_TARGET + 1, tok[2])) < 0)
		return fail(r, "unknown hop kind '%s'", tok[2]);
	if (h->kind != i)
		return fail(r, "hop %" PRIu64 " is %s %s", v,
			    trace_hop_kind_str((enum trace_hop_kind)h->kind), h->addr.family ? a : "");
	i = 3;
	if (i < n && strcmp(tok[i], "tries") && strcmp(tok[i], "rtt")) {
		struct pkt_addr want;

		if (tr_addr(r, tok[i], &want) < 0)
			return -1;
		if (!pkt_addr_eq(&want, &h->addr))
			return fail(r, "hop %" PRIu64 " is %s", v, a);
		i++;
	}
	for (; i + 1 < n; i += 2) {
		uint64_t w;

		if (strcmp(tok[i], "tries") == 0 && parse_u64(tok[i + 1], 255, &w) == 0) {
			if (h->tries != w)
				return fail(r, "hop %" PRIu64 " had %u tries", v, h->tries);
		} else if (strcmp(tok[i], "rtt") == 0 && parse_dur(tok[i + 1], &w) == 0) {
			char t1[32];

			fmt_time(h->rtt_ns, t1, sizeof(t1));
			if (h->rtt_ns != w)
				return fail(r, "hop %" PRIu64 " rtt is %ss", v, t1);
		} else {
			return fail(r, "bad field '%s'", tok[i]);
		}
	}
	return i == n ? 0 : fail(r, "'%s' needs a value", tok[i]);
}

/* A timeline line of a trace script: start, abort, spurious-timer, "<",
 * ">", or an assertion. */
static int tr_timed(struct run *r, char **tok, int n, char *opt, const char *text, int64_t t)
{
	const char *k = tok[0];
	uint64_t now = t < 0 ? r->t : (uint64_t)t;
	bool event = strcmp(k, "start") == 0 || strcmp(k, "abort") == 0 || strcmp(k, "<") == 0 ||
	    strcmp(k, ">") == 0 || strcmp(k, "spurious-timer") == 0;

	if (opt)
		return fail(r, "a trace script's segments take no options");
	if (event && t < 0)
		return fail(r, "'%s' needs a time", k);
	if (event)
		r->events++;
	if (strcmp(k, ">") == 0)
		return tr_outbound(r, tok, n, text, now);
	if (no_pending(r) < 0 || (t >= 0 && advance(r, now) < 0) || no_pending(r) < 0)
		return -1;
	if (!event)
		return tr_assertion(r, tok, n);
	if (strcmp(k, "<") == 0)
		return tr_inbound(r, tok, n, now);
	if (n != 1)
		return fail(r, "'%s' takes no arguments", k);
	return tr_step(r, k[0] == 's' && k[1] == 't' ? TRACE_EV_START : k[0] == 'a' ?
		       TRACE_EV_ABORT : TRACE_EV_TIMER, NULL, now);
}

/* One timeline line: tok[0] is the keyword, t its time (or -1 if none). */
static int timed(struct run *r, char **tok, int n, char *opt, const char *text, int64_t t)
{
	const char *k = tok[0];
	uint64_t now = t < 0 ? r->t : (uint64_t)t;
	struct fsm_event ev = { .iss = r->iss };
	bool event = strcmp(k, "open") == 0 || strcmp(k, "abort") == 0 ||
	    (strcmp(k, "close") == 0 && n == 1) || strcmp(k, "<") == 0 || strcmp(k, ">") == 0 ||
	    strcmp(k, "spurious-timer") == 0 || strcmp(k, "stamp") == 0 ||
	    strcmp(k, "send-error") == 0;

	if (r->trace)
		return tr_timed(r, tok, n, opt, text, t);
	if (opt && strcmp(k, "<") && strcmp(k, ">"))
		return fail(r, "options only go on segment lines");
	if (event && t < 0)
		return fail(r, "'%s' needs a time", k);
	if (event)
		r->events++;
	if (strcmp(k, ">") == 0)
		return outbound(r, tok, n, opt, text, now);
	if (no_pending(r) < 0 || (t >= 0 && advance(r, now) < 0) || no_pending(r) < 0)
		return -1;
	if (!event)
		return assertion(r, tok, n);
	if (strcmp(k, "<") == 0)
		return inbound(r, tok, n, opt, now);
	if (strcmp(k, "stamp") == 0) {
		uint8_t f;
		uint32_t seq;

		if (n != 3 || parse_flags(tok[1], &f) < 0 || parse_u32(tok[2], &seq) < 0)
			return fail(r, "usage: stamp FLAGS SEQ");
		fsm_tx_stamp(&r->c, f, r->iss + seq, CLOCK_BASE + now);
		return 0;
	}
	if (strcmp(k, "send-error") == 0) {
		struct pkt_info pi;

		memset(&pi, 0, sizeof(pi));
		if (n != 3 || parse_flags(tok[1], &pi.flags) < 0 || parse_u32(tok[2], &pi.seq) < 0)
			return fail(r, "usage: send-error FLAGS SEQ");
		pi.seq += r->iss;
		ev.type = EV_SEND_ERROR;
		ev.pkt = &pi;
		return step(r, &ev, now);
	}
	if (n != 1)
		return fail(r, "'%s' takes no arguments", k);
	ev.type = k[0] == 'o' ? EV_OPEN : k[0] == 'c' ? EV_CLOSE : k[0] == 'a' ? EV_ABORT : EV_TIMER;
	/* TSval = now_ms + offset: make it read as script milliseconds + ts_offset. */
	ev.ts_offset = r->ts_extra - (uint32_t)(CLOCK_BASE / 1000000);
	return step(r, &ev, now);
}

static int line(struct run *r, char *s)
{
	char text[512], *tok[TOKMAX], *opt = NULL, *save;
	int n = 0;
	int64_t t = -1;
	uint64_t v;

	snprintf(text, sizeof(text), "%s", s);
	if (strncmp(s, "expect-fail", 11) == 0 && (s[11] == ' ' || s[11] == '\t')) {
		if (r->header_done)
			return fail(r, "header line 'expect-fail' after the timeline started");
		snprintf(r->expect, sizeof(r->expect), "%s", s + 12 + strspn(s + 12, " \t"));
		r->expecting = true;
		return 0;
	}
	/* Options: a '<' not followed by a blank (a lone '<' is the direction)
	 * up to a '>' that ends the line. */
	for (char *p = s; (p = strchr(p, '<')) != NULL; p++) {
		size_t l;

		if (p[1] == ' ' || p[1] == '\t' || p[1] == '\0')
			continue;
		l = strlen(p);
		if (l < 2 || p[l - 1] != '>')
			return fail(r, "options must end the line with '>'");
		p[l - 1] = '\0';
		*p = '\0';
		opt = p + 1;
		break;
	}
	for (char *w = strtok_r(s, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == TOKMAX)
			return fail(r, "too many words");
		tok[n++] = w;
	}
	if (n == 0)
		return opt ? fail(r, "options without a segment") : 0;
	if (isdigit((unsigned char)tok[0][0]) || tok[0][0] == '+') {
		if (parse_secs(tok[0] + (tok[0][0] == '+'), &v) < 0)
			return fail(r, "bad time '%s'", tok[0]);
		if (tok[0][0] == '+')
			v += r->t;
		if (v < r->t)
			return fail(r, "time goes backwards");
		t = (int64_t)v;
		if (n == 1)
			return fail(r, "a time without an event");
	}
	if (t < 0 && is_header(tok[0])) {
		if (r->header_done)
			return fail(r, "header line '%s' after the timeline started", tok[0]);
		return header(r, tok, n);
	}
	if (!r->header_done) {
		r->header_done = true;
		if (r->p.kind == PROBE_TRACE) {
			r->trace = true;
			r->tp.retries = r->p.retries;
			r->tp.timeout_ns = r->p.rto_ns;
			if (!r->linger_set)
				r->tp.linger_ns = r->p.rto_ns; /* as the engine does */
			trace_init(&r->tr, &r->tp, &r->p);
		} else {
			fsm_init(&r->c, &r->p, &r->tl);
		}
	}
	if (t >= 0) {
		int rc = timed(r, tok + 1, n - 1, opt, text, t);

		r->t = (uint64_t)t;
		return rc;
	}
	return timed(r, tok, n, opt, text, -1);
}

static void dump_tl(const struct run *r)
{
	static const char *const dirs[] = { "out", "in", "timer", "icmp", "user", "unsent" };

	for (unsigned i = 0; i < r->tl.n; i++) {
		const struct fsm_tl_entry *e = &r->tl.e[i];
		char f[16], t[32];

		fmt_time(e->t_ns - CLOCK_BASE, t, sizeof(t));
		printf("#   tl %2u %-5s %-5s seq %-10" PRIu32 " ack %-10" PRIu32 " len %-4u %-12s %s%s\n",
		       i, e->dir <= TL_UNSENT ? dirs[e->dir] : "?",
		       e->dir <= TL_IN || e->dir == TL_UNSENT ? flags_str(e->flags, f) : e->dir == TL_USER && e->flags < 3 ?
		       (const char *[]){ "open", "close", "abort" }[e->flags] : (sprintf(f, "%u", e->flags), f),
		       e->seq, e->ack, e->len, tcp_state_str(e->state), t, e->stamped ? " stamped" : "");
	}
	if (r->tl.dropped)
		printf("#   tl dropped %u\n", r->tl.dropped);
}

static bool run_file(const char *path, unsigned *entered)
{
	struct run r = {
		.name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
		.p = { .kind = PROBE_HANDSHAKE, .retries = 2, .rto_ns = NS, .time_wait_ns = 2 * NS,
		       .fin_wait_2_ns = 5 * NS, .window = 64240,
		       .syn = { .mss = 1460, .wscale = 7, .sack_ok = true, .timestamps = true } },
		.iss = 1000000, .peer_isn = 3000000000u, .family = 4,
		.tp = { .max_hops = 30, .window = TRACE_WINDOW },
	};
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	bool ok;

	if (f == NULL) {
		printf("FAIL %s: cannot open: %s\n", r.name, strerror(errno));
		return false;
	}
	while (getline(&buf, &cap, f) != -1) {
		char *s = buf, *hash = strchr(buf, '#');

		r.line++;
		if (hash)
			*hash = '\0';
		s[strcspn(s, "\r\n")] = '\0';
		s += strspn(s, " \t");
		for (size_t l = strlen(s); l && (s[l - 1] == ' ' || s[l - 1] == '\t'); l--)
			s[l - 1] = '\0';
		if (strlen(s) >= 500) {
			fail(&r, "line too long");
			break;
		}
		if (line(&r, s) < 0)
			break;
	}
	if (ferror(f))
		fail(&r, "read error");
	fclose(f);
	free(buf);
	if (!r.err[0] && r.events == 0)
		fail(&r, "no events: an empty script proves nothing");
	if (!r.err[0] && r.qn) {
		char b[256], t[32];

		r.line = r.q[0].line;
		fmt_sent(&r, &r.q[0], b, sizeof(b));
		fmt_time(r.q[0].t, t, sizeof(t));
		fail(&r, "outbound segment sent at %s never checked: %s", t, b);
	}
	if (verbose)
		dump_tl(&r);
	if (r.expecting) {
		ok = r.err[0] && strstr(r.err, r.expect);
		if (ok)
			printf("PASS %s\n", r.name);
		else if (!r.err[0])
			printf("FAIL %s: expected a failure containing '%s', but it passed\n", r.name, r.expect);
		else
			printf("FAIL %s: expected a failure containing '%s', got: %s\n", r.name, r.expect, r.err);
		return ok;
	}
	*entered |= r.entered;
	if (r.err[0])
		printf("FAIL %s: %s\n", r.name, r.err);
	else
		printf("PASS %s\n", r.name);
	return !r.err[0];
}

int main(int argc, char **argv)
{
	bool coverage = false, ok = true;
	unsigned entered = 0;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (strcmp(argv[i], "-c") == 0)
			coverage = true;
		else
			break;
	}
	if (i == argc || argv[i][0] == '-') {
		fprintf(stderr, "usage: fsm_script [-v] [-c] FILE...\n");
		return 2;
	}
	for (; i < argc; i++) {
		ok &= run_file(argv[i], &entered);
		fflush(stdout);
	}
	if (coverage) {
		char missing[256] = "";

		for (int s = 0; s < TCPS_COUNT; s++)
			if (!(entered & (1u << s)))
				snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
					 " %s", tcp_state_str((enum tcp_state)s));
		if (missing[0])
			printf("FAIL state-coverage: never entered:%s\n", missing);
		else
			printf("PASS state-coverage\n");
		ok &= !missing[0];
	}
	return ok ? 0 : 1;
}
