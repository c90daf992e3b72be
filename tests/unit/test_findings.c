/* test_findings.c: probes/findings.c from synthetic timelines: the peer's
 * segments as bytes on the wire (parsed by pkt_parse, as the engine does),
 * with times, and the wire time of our ACK. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "check.h"
#include "findings.h"
#include "packet.h"

/* Linux SYN/ACK option layouts (what a 6.x kernel sends for each offer). */
#define TS "080a0000aaaa00000001"
#define L_FULL   "020405b4 0402" TS " 01030307"          /* mss,sok,ts,nop,ws */
#define L_NOSACK "020405b4 0101" TS " 01030307"          /* mss,nop,nop,ts,nop,ws */
#define L_NOTS   "020405b4 01010402 01030307"            /* mss,nop,nop,sok,nop,ws */
#define L_NOWS   "020405b4 0402" TS                      /* mss,sok,ts */
#define L_MSS    "020405b4"                              /* mss only */
#define L_V6FULL "020405a0 0402" TS " 01030307"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	while (*h) {
		if (*h == ' ') {
			h++;
			continue;
		}
		unsigned v;
		if (sscanf(h, "%2x", &v) != 1)
			abort();
		out[n++] = (uint8_t)v;
		h += 2;
	}
	return n;
}

static uint8_t seg_tos;    /* IP TOS / traffic class of the next seg() */
static uint16_t seg_plen;  /* payload bytes of the next seg() */
static uint32_t seg_seq;   /* sequence number of the next seg() */

/* One peer segment, parsed. */
static struct pkt_info seg(int fam, uint8_t flags, uint16_t win, uint8_t ttl, const char *opts)
{
	uint8_t b[128], o[44];
	size_t on = opts ? unhex(opts, o) : 0;
	if (on % 4)
		abort();
	size_t hl = fam == AF_INET6 ? 40 : 20, tl = 20 + on + seg_plen;
	memset(b, 0, sizeof(b));
	if (fam == AF_INET6) {
		b[0] = (uint8_t)(0x60 | seg_tos >> 4);
		b[1] = (uint8_t)(seg_tos << 4);
		b[4] = (uint8_t)(tl >> 8);
		b[5] = (uint8_t)tl;
		b[6] = 6;
		b[7] = ttl;
	} else {
		b[0] = 0x45;
		b[1] = seg_tos;
		b[2] = (uint8_t)((hl + tl) >> 8);
		b[3] = (uint8_t)(hl + tl);
		b[6] = 0x40; /* DF */
		b[8] = ttl;
		b[9] = 6;
	}
	uint8_t *t = b + hl;
	t[0] = 0; t[1] = 80; t[2] = 0x4e; t[3] = 0x20;
	t[4] = (uint8_t)(seg_seq >> 24); t[5] = (uint8_t)(seg_seq >> 16);
	t[6] = (uint8_t)(seg_seq >> 8); t[7] = (uint8_t)seg_seq;
	t[12] = (uint8_t)(((20 + on) / 4) << 4);
	t[13] = flags;
	t[14] = (uint8_t)(win >> 8);
	t[15] = (uint8_t)win;
	memcpy(t + 20, o, on);
	struct pkt_info pi;
	if (pkt_parse(b, hl + tl, &pi) != PKT_OK)
		abort();
	return pi;
}

static const struct pkt_syn_opts ALL = { .mss = 1460, .wscale = 7, .sack_ok = true, .timestamps = true };

/* SYN/ACK at t0, our ACK at t0 + ack_dt, then the given later segments. */
struct later { uint64_t dt; uint8_t flags; uint16_t win; const char *opts; uint16_t plen; uint8_t tos;
	       bool stale; /* another sequence number: an earlier connection's */ };

static bool run_ecn;          /* the SYN was ECN-setup */
static uint8_t later_ttl = 64; /* TTL of the later segments (the SYN/ACK's: 64) */
static uint8_t run_synack_rtx; /* SYN/ACK retransmissions the fsm counted */
static uint8_t synack_ecn;    /* ECE/CWR on the SYN/ACK */

static void run(int fam, uint16_t synack_win, const char *synack_opts, const struct later *l,
		size_t nl, const struct pkt_syn_opts *offered, uint16_t expect,
		struct find_result *r)
{
	struct find_obs o;
	memset(&o, 0, sizeof(o));
	uint64_t t0 = 1000000000ull;
	struct pkt_info sa = seg(fam, PKT_SYN | PKT_ACK | synack_ecn, synack_win, 64, synack_opts);
	find_observe_in(&o, &sa, t0);
	find_observe_ack(&o, t0, false);         /* the send decision */
	find_observe_ack(&o, t0 + 20000, true);  /* the kernel's wire time */
	for (size_t i = 0; i < nl; i++) {
		seg_tos = l[i].tos;
		seg_plen = l[i].plen;
		seg_seq = l[i].stale ? 12345 : 1; /* the SYN/ACK's is 0 */
		struct pkt_info p = seg(fam, l[i].flags, l[i].win, later_ttl, l[i].opts);
		seg_tos = 0;
		seg_plen = 0;
		seg_seq = 0;
		find_observe_in(&o, &p, t0 + l[i].dt);
	}
	struct find_input in = { .offered = *offered, .ecn = run_ecn, .expect_mss = expect,
				 .synack_rtx = run_synack_rtx };
	find_eval(&o, &in, r);
}

/* Linux SYNPROXY: window 0, then the window update once the backend
 * accepted; the backend connect time runs from our ACK's wire time. */
static void t_synproxy_window_update(void)
{
	struct find_result r;
	const struct later l[] = { { 180000, PKT_ACK, 502, "0101" TS, 0, 0, false } };
	run(AF_INET, 0, L_FULL, l, 1, &ALL, 0, &r);
	CHECK(find_has(&r, FIND_SYN_PROXY));
	CHECK_EQ(r.mask, 1u << FIND_SYN_PROXY);
	CHECK(!r.backend_refused);
	CHECK(r.ack_stamped);
	CHECK_EQ(r.backend_ns, 160000);
	char ev[160];
	CHECK_STR(find_evidence(&r, FIND_SYN_PROXY, ev, sizeof(ev)),
		  "SYN/ACK window 0; window opened 160.000 us after our ACK (backend connect time)");
}

static void t_synproxy_backend_refused(void)
{
	struct find_result r;
	const struct later l[] = { { 90000, PKT_RST | PKT_ACK, 0, NULL, 0, 0, false } };
	run(AF_INET, 0, L_FULL, l, 1, &ALL, 0, &r);
	CHECK(find_has(&r, FIND_SYN_PROXY));
	CHECK(r.backend_refused);
	CHECK_EQ(r.backend_ns, 70000);
	char ev[160];
	CHECK_STR(find_evidence(&r, FIND_SYN_PROXY, ev, sizeof(ev)),
		  "SYN/ACK window 0; RST 70.000 us after our ACK: the backend refused behind the proxy");
	/* an RST for an earlier connection on the 4-tuple (another sequence
	 * number) is no refusal, nor a window update */
	const struct later l3[] = { { 90000, PKT_RST | PKT_ACK, 0, NULL, 0, 0, true },
				    { 95000, PKT_ACK, 502, NULL, 0, 0, true } };
	run(AF_INET, 0, L_FULL, l3, 2, &ALL, 0, &r);
	CHECK(find_has(&r, FIND_SYN_PROXY));
	CHECK(!r.backend_refused);
	CHECK_EQ(r.backend_ns, 0);
	/* an RST after the window opened is no refusal */
	const struct later l2[] = { { 90000, PKT_ACK, 502, NULL, 0, 0, false }, { 95000, PKT_RST, 0, NULL, 0, 0, false } };
	run(AF_INET, 0, L_FULL, l2, 2, &ALL, 0, &r);
	CHECK(!r.backend_refused);
	CHECK_EQ(r.backend_ns, 70000);
}

/* A plain Linux listener, whatever we offer, over both families: nothing. */
static void t_plain_linux_no_findings(void)
{
	struct { struct pkt_syn_opts off; const char *layout, *layout6; } c[] = {
		{ { 1460, 7, true, true }, L_FULL, L_V6FULL },
		{ { 1460, 7, false, true }, L_NOSACK, NULL },
		{ { 1460, 7, true, false }, L_NOTS, NULL },
		{ { 1460, -1, true, true }, L_NOWS, NULL },
		{ { 0, -1, false, false }, L_MSS, NULL },
		{ { 1460, -1, false, false }, L_MSS, NULL },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct find_result r;
		const struct later l[] = { { 50000, PKT_ACK, 502, c[i].off.timestamps ? "0101" TS : NULL, 0, 0, false },
					   { 250000, PKT_FIN | PKT_ACK, 502, c[i].off.timestamps ? "0101" TS : NULL, 0, 0, false } };
		run(AF_INET, 65160, c[i].layout, l, 2, &c[i].off, 0, &r);
		CHECK_EQ(r.mask, 0);
		CHECK(r.have_fp);
		if (c[i].layout6) {
			run(AF_INET6, 64800, c[i].layout6, l, 2, &c[i].off, 0, &r);
			CHECK_EQ(r.mask, 0);
		}
	}
	/* a server with SACK or timestamps switched off is no middlebox either */
	struct find_result r;
	run(AF_INET, 65160, L_NOSACK, NULL, 0, &ALL, 0, &r);
	CHECK_EQ(r.mask, 0);
	run(AF_INET, 65160, L_NOTS, NULL, 0, &ALL, 0, &r);
	CHECK_EQ(r.mask, 0);
	run(AF_INET, 65160, L_MSS, NULL, 0, &ALL, 0, &r);
	CHECK_EQ(r.mask, 0);
}

/* nftables `reset tcp option sack-perm` and `... timestamp`: NOPs in place. */
static void t_options_stripped_nops(void)
{
	struct find_result r;
	char ev[200];
	run(AF_INET, 65160, "020405b4 0101 01010101010101010101 01030307", NULL, 0, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_OPTIONS_STRIPPED);
	CHECK_EQ(r.stripped, FIND_OPT_SACK | FIND_OPT_TS);
	CHECK_EQ(r.nop_excess, 12);
	CHECK_STR(find_evidence(&r, FIND_OPTIONS_STRIPPED, ev, sizeof(ev)),
		  "offered sack,timestamps: the SYN/ACK lacks them and has 12 NOP bytes no padding needs");
	/* timestamps only */
	run(AF_INET, 65160, "020405b4 0402 0101010101010101 0101 01030307", NULL, 0, &ALL, 0, &r);
	CHECK_EQ(r.stripped, FIND_OPT_TS);
	/* wscale only: "nop nop nop nop" where "nop ws" was */
	run(AF_INET, 65160, "020405b4 0402" TS " 01010101", NULL, 0, &ALL, 0, &r);
	CHECK_EQ(r.stripped, FIND_OPT_WSCALE);
	/* NOPed space is only stripping when we offered what is missing */
	struct pkt_syn_opts nots = ALL;
	nots.timestamps = false;
	nots.sack_ok = false;
	run(AF_INET, 65160, "020405b4 0101 01010101010101010101 01030307", NULL, 0, &nots, 0, &r);
	CHECK_EQ(r.mask, 0);
}

/* Timestamps on later segments although the SYN/ACK had none. */
static void t_options_stripped_later(void)
{
	struct find_result r;
	const struct later l[] = { { 250000, PKT_FIN | PKT_ACK, 502, "0101" TS, 0, 0, false } };
	run(AF_INET, 65160, L_NOTS, l, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_OPTIONS_STRIPPED);
	CHECK_EQ(r.stripped, FIND_OPT_TS);
	CHECK(r.stripped_later);
}

static void t_mss_clamped(void)
{
	struct find_result r;
	char ev[100];
	run(AF_INET, 65160, "02040578 0402" TS " 01030307", NULL, 0, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_MSS_CLAMPED);
	CHECK_EQ(r.mss, 1400);
	CHECK_EQ(r.mss_expected, 1460);
	CHECK_STR(find_evidence(&r, FIND_MSS_CLAMPED, ev, sizeof(ev)), "mss 1400 < 1460 the path allows");
	/* IPv6's 1440 is what an Ethernet MTU allows there */
	run(AF_INET6, 65160, L_V6FULL, NULL, 0, &ALL, 0, &r);
	CHECK_EQ(r.mask, 0);
	/* the expected value is configurable, and never above our own offer */
	run(AF_INET, 65160, "02040578 0402" TS " 01030307", NULL, 0, &ALL, 1400, &r);
	CHECK_EQ(r.mask, 0);
	struct pkt_syn_opts small = ALL;
	small.mss = 1200;
	run(AF_INET, 65160, "020404b0 0402" TS " 01030307", NULL, 0, &small, 0, &r);
	CHECK_EQ(r.mask, 0);
}

static void t_fingerprint(void)
{
	struct find_result a, b;
	char s[FIND_FP_STRLEN];
	run(AF_INET, 65160, L_FULL, NULL, 0, &ALL, 0, &a);
	CHECK_STR(find_fp_str(&a.fp, s, sizeof(s)),
		  "win=65160 ttl=64 df opts=mss,sok,ts,nop,ws mss=1460 ws=7 ecn=-");
	run(AF_INET, 65160, L_FULL, NULL, 0, &ALL, 0, &b);
	CHECK(find_fp_eq(&a.fp, &b.fp));
	run(AF_INET, 65160, L_NOTS, NULL, 0, &ALL, 0, &b);
	CHECK(!find_fp_eq(&a.fp, &b.fp));
	CHECK_STR(find_fp_str(&b.fp, s, sizeof(s)),
		  "win=65160 ttl=64 df opts=mss,nop,nop,sok,nop,ws mss=1460 ws=7 ecn=-");
	run(AF_INET, 65535, L_FULL, NULL, 0, &ALL, 0, &b);
	CHECK(!find_fp_eq(&a.fp, &b.fp));
	/* no SYN/ACK: no fingerprint, no finding */
	struct find_obs o;
	memset(&o, 0, sizeof(o));
	struct find_input in = { .offered = ALL };
	find_eval(&o, &in, &b);
	CHECK(!b.have_fp);
	CHECK_EQ(b.mask, 0);
}

/* RFC 3168 6.1.1: ECE alone on the SYN/ACK negotiates; nothing, or both
 * ECE and CWR reflected, refuses. Data that arrives not-ECT after that was
 * bleached. Without an ECN-setup SYN there is no ECN finding. */
static void t_ecn(void)
{
	struct find_result r;
	char ev[200];
	run_ecn = true;
	synack_ecn = PKT_ECE;
	/* Linux's later segments carry the timestamps its SYN/ACK agreed to */
	const struct later banner[] = { { 50000, PKT_PSH | PKT_ACK, 502, "0101" TS, 22, 0x02, false } };
	run(AF_INET, 65160, L_FULL, banner, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_ECN_NEGOTIATED);
	CHECK_STR(find_evidence(&r, FIND_ECN_NEGOTIATED, ev, sizeof(ev)),
		  "SYN/ACK has ECE, not CWR; its IP dscp 0 ecn not-ect; 1 of 1 data segments ECT");
	const struct later bleached[] = { { 50000, PKT_PSH | PKT_ACK, 502, "0101" TS, 22, 0x00, false } };
	run(AF_INET6, 65160, L_V6FULL, bleached, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_ECN_NEGOTIATED | 1u << FIND_ECN_BLEACHED);
	CHECK_STR(find_evidence(&r, FIND_ECN_BLEACHED, ev, sizeof(ev)),
		  "ECN negotiated, yet 1 of 1 data segments arrived not-ECT: the ECN field was cleared on the way");
	/* pure ACKs are not-ECT by design (RFC 3168 6.1.4): no bleaching */
	const struct later acks[] = { { 50000, PKT_ACK, 502, "0101" TS, 0, 0, false } };
	run(AF_INET, 65160, L_FULL, acks, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_ECN_NEGOTIATED);
	synack_ecn = 0;
	run(AF_INET, 65160, L_FULL, NULL, 0, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_ECN_REFUSED);
	CHECK_STR(find_evidence(&r, FIND_ECN_REFUSED, ev, sizeof(ev)),
		  "SYN/ACK flags without ECE; its IP dscp 0 ecn not-ect");
	synack_ecn = PKT_ECE | PKT_CWR;
	run(AF_INET, 65160, L_FULL, NULL, 0, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_ECN_REFUSED);
	run_ecn = false;
	synack_ecn = PKT_ECE;
	run(AF_INET, 65160, L_FULL, bleached, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 0);
	synack_ecn = 0;
	CHECK(find_applies(FIND_SYN_PROXY, false, false) && !find_applies(FIND_ECN_REFUSED, false, true) &&
	      find_applies(FIND_ECN_REFUSED, true, false) && !find_applies(FIND_SYN_COOKIES, true, false) &&
	      find_applies(FIND_SYN_COOKIES, false, true));
}

/* The opt-in check: no SYN/ACK retransmission while our ACK was withheld. */
static void t_syn_cookies(void)
{
	struct find_obs o;
	struct find_result r;
	char ev[200];
	memset(&o, 0, sizeof(o));
	struct pkt_info sa = seg(AF_INET, PKT_SYN | PKT_ACK, 65160, 64, L_FULL);
	find_observe_in(&o, &sa, 1000);
	struct find_input in = { .offered = ALL, .synack_check = true, .synack_wait_ns = 1500000000 };
	find_eval(&o, &in, &r);
	CHECK_EQ(r.mask, 1u << FIND_SYN_COOKIES);
	CHECK_STR(find_evidence(&r, FIND_SYN_COOKIES, ev, sizeof(ev)),
		  "no SYN/ACK retransmission in 1500 ms without our ACK (a listener with state "
		  "retransmits after its RTO): a SYN cookie or a stateless proxy");
	in.synack_rtx = 1; /* a stateful listener */
	find_eval(&o, &in, &r);
	CHECK_EQ(r.mask, 0);
	in.synack_rtx = 0;
	in.synack_check = false; /* not asked: no verdict */
	find_eval(&o, &in, &r);
	CHECK_EQ(r.mask, 0);
}

/* syn-proxy's second rule: the SYN/ACK from one stack (not retransmitted),
 * the later segments from another: another TTL, or no timestamps though
 * the SYN/ACK agreed to them. Not when the SYN/ACK was retransmitted (a
 * stateful listener), not for RSTs (Linux sends them without timestamps),
 * not for an earlier connection's segments. */
static void t_synproxy_other_stack(void)
{
	struct find_result r;
	char ev[FIND_EVIDENCE_MAX];
	const struct later fin_ts[] = { { 90000, PKT_FIN | PKT_ACK, 502, "0101" TS, 0, 0, false } };
	const struct later fin_nots[] = { { 90000, PKT_FIN | PKT_ACK, 502, NULL, 0, 0, false } };
	/* the same stack: same TTL, timestamps on: nothing */
	run(AF_INET, 65160, L_FULL, fin_ts, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 0);
	/* another TTL */
	later_ttl = 60;
	run(AF_INET, 65160, L_FULL, fin_ts, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_SYN_PROXY);
	CHECK(r.other_stack && r.later_ttl == 60 && r.synack_ttl == 64 && !r.later_no_ts);
	CHECK_EQ(r.backend_ns, 0);
	CHECK_STR(find_evidence(&r, FIND_SYN_PROXY, ev, sizeof(ev)),
		  "SYN/ACK ttl 64, later segments ttl 60: the SYN/ACK (not retransmitted) came from "
		  "another stack than the later segments");
	/* and no timestamps (IPv6) */
	run(AF_INET6, 65160, L_V6FULL, fin_nots, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_SYN_PROXY);
	CHECK_STR(find_evidence(&r, FIND_SYN_PROXY, ev, sizeof(ev)),
		  "SYN/ACK ttl 64, later segments ttl 60; SYN/ACK with timestamps, later segments "
		  "without: the SYN/ACK (not retransmitted) came from another stack than the later "
		  "segments");
	/* a retransmitted SYN/ACK: a listener with state answered it */
	run_synack_rtx = 1;
	run(AF_INET, 65160, L_FULL, fin_nots, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 0);
	run_synack_rtx = 0;
	/* an earlier connection's segment: not this peer's */
	const struct later stale[] = { { 90000, PKT_ACK, 502, NULL, 0, 0, true } };
	run(AF_INET, 65160, L_FULL, stale, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 0);
	later_ttl = 64;
	/* timestamps gone, same TTL; an RST without them is no evidence */
	run(AF_INET, 65160, L_FULL, fin_nots, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 1u << FIND_SYN_PROXY);
	CHECK(r.later_no_ts && !r.later_ttl);
	CHECK_STR(find_evidence(&r, FIND_SYN_PROXY, ev, sizeof(ev)),
		  "SYN/ACK with timestamps, later segments without: the SYN/ACK (not retransmitted) "
		  "came from another stack than the later segments");
	const struct later rst[] = { { 90000, PKT_RST | PKT_ACK, 0, NULL, 0, 0, false } };
	run(AF_INET, 65160, L_FULL, rst, 1, &ALL, 0, &r);
	CHECK_EQ(r.mask, 0);
	/* both rules: window 0 and the backend's other TTL */
	later_ttl = 61;
	const struct later upd[] = { { 180000, PKT_ACK, 502, "0101" TS, 0, 0, false } };
	run(AF_INET, 0, L_FULL, upd, 1, &ALL, 0, &r);
	later_ttl = 64;
	CHECK_EQ(r.mask, 1u << FIND_SYN_PROXY);
	CHECK_STR(find_evidence(&r, FIND_SYN_PROXY, ev, sizeof(ev)),
		  "SYN/ACK window 0; window opened 160.000 us after our ACK (backend connect time); "
		  "SYN/ACK ttl 64, later segments ttl 61: the SYN/ACK (not retransmitted) came from "
		  "another stack than the later segments");
}

int main(void)
{
	RUN(t_synproxy_window_update);
	RUN(t_synproxy_backend_refused);
	RUN(t_synproxy_other_stack);
	RUN(t_plain_linux_no_findings);
	RUN(t_options_stripped_nops);
	RUN(t_options_stripped_later);
	RUN(t_mss_clamped);
	RUN(t_fingerprint);
	RUN(t_ecn);
	RUN(t_syn_cookies);
	return CHECK_EXIT();
}
