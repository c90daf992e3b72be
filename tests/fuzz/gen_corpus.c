/*
 * gen_corpus.c: writes the generated seed inputs of tests/fuzz/corpus/
 * (`make fuzz-seeds`): packets built with pkt_build() and wrapped by hand
 * where pkt_build cannot (ICMP errors, IPv6 extension headers, IPv4
 * options), state-machine event sequences in fuzz_fsm.c's encoding, trace
 * event sequences in fuzz_trace.c's, and control requests. Files named regress-* (crashes found by fuzzing) and the
 * config seeds (copies of tests/config/NAME.conf) are not written here.
 *
 *   gen_corpus DIR    writes DIR/packet/gen-*, DIR/fsm/gen-*, DIR/trace/gen-*,
 *                     DIR/ctlproto/gen-*
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctlproto.h"
#include "packet.h"

static const char *outdir;

static void save(const char *sub, const char *name, const void *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s/gen-%s", outdir, sub, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* ---- packets ---------------------------------------------------------- */

static struct pkt_builder *b;

static struct pkt_addr addr(const char *s)
{
	struct pkt_addr a;
	memset(&a, 0, sizeof(a));
	a.family = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(a.family, s, a.a) != 1)
		abort();
	return a;
}

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* A segment from them to us (or, with out, us to them). */
static size_t seg(uint8_t *buf, bool v6, bool out, uint8_t flags, const struct pkt_syn_opts *so,
		  bool ts, const char *payload)
{
	struct pkt_out o;
	memset(&o, 0, sizeof(o));
	o.src = addr(v6 ? (out ? "2001:db8::1" : "2001:db8:1::7") : (out ? "192.0.2.1" : "198.51.100.7"));
	o.dst = addr(v6 ? (out ? "2001:db8:1::7" : "2001:db8::1") : (out ? "198.51.100.7" : "192.0.2.1"));
	o.sport = out ? 20001 : 443;
	o.dport = out ? 443 : 20001;
	o.seq = out ? 1000000 : 3000000000u;
	o.ack = out ? 0 : 1000001;
	o.flags = flags;
	o.ttl = out ? 64 : 57;
	o.win = out ? 64240 : 65535;
	o.syn_opts = so;
	o.ts = ts;
	o.tsval = 500;
	o.tsecr = 10;
	o.payload = (const uint8_t *)payload;
	o.payload_len = payload ? (uint16_t)strlen(payload) : 0;
	ssize_t n = pkt_build(b, &o, buf, PKT_MAX_LEN);
	if (n < 0) {
		fprintf(stderr, "pkt_build: %s\n", pkt_builder_error(b));
		exit(1);
	}
	return (size_t)n;
}

static void ip4(uint8_t *p, size_t tot, uint8_t proto, const char *src, const char *dst)
{
	struct pkt_addr s = addr(src), d = addr(dst);
	memset(p, 0, 20);
	p[0] = 0x45;
	wr16(p + 2, (uint16_t)tot);
	p[8] = 250;
	p[9] = proto;
	memcpy(p + 12, s.a, 4);
	memcpy(p + 16, d.a, 4);
}

static void ip6(uint8_t *p, size_t plen, uint8_t nh, const char *src, const char *dst)
{
	struct pkt_addr s = addr(src), d = addr(dst);
	memset(p, 0, 40);
	p[0] = 0x60;
	wr16(p + 4, (uint16_t)plen);
	p[6] = nh;
	p[7] = 250;
	memcpy(p + 8, s.a, 16);
	memcpy(p + 24, d.a, 16);
}

/* An ICMP error from a router quoting quote_len bytes of one of our SYNs. */
static void icmp(const char *name, bool v6, uint8_t type, uint8_t code, uint32_t word,
		 size_t quote_len)
{
	static const struct pkt_syn_opts so = { 1460, 7, true, true };
	uint8_t q[PKT_MAX_LEN], buf[PKT_MAX_LEN];
	size_t qn = seg(q, v6, true, PKT_SYN, &so, false, NULL);
	size_t hl = v6 ? 40 : 20;
	if (quote_len > qn)
		quote_len = qn;
	uint8_t *ic = buf + hl;
	ic[0] = type;
	ic[1] = code;
	ic[2] = ic[3] = 0;
	wr16(ic + 4, (uint16_t)(word >> 16));
	wr16(ic + 6, (uint16_t)word);
	memcpy(ic + 8, q, quote_len);
	if (v6)
		ip6(buf, 8 + quote_len, IPPROTO_ICMPV6, "2001:db8:ffff::1", "2001:db8::1");
	else
		ip4(buf, hl + 8 + quote_len, IPPROTO_ICMP, "203.0.113.9", "192.0.2.1");
	save("packet", name, buf, hl + 8 + quote_len);
}

static void packets(void)
{
	static const struct pkt_syn_opts full = { 1460, 7, true, true };
	static const struct pkt_syn_opts mss_only = { 536, -1, false, false };
	uint8_t buf[PKT_MAX_LEN], x[PKT_MAX_LEN];
	size_t n;

	for (int v6 = 0; v6 <= 1; v6++) {
		char name[64];
		const char *f = v6 ? "v6" : "v4";
#define SAVE(what) (snprintf(name, sizeof(name), "%s-%s", f, what), save("packet", name, buf, n))
		n = seg(buf, v6, true, PKT_SYN, &full, false, NULL), SAVE("syn");
		n = seg(buf, v6, false, PKT_SYN | PKT_ACK, &full, false, NULL), SAVE("synack");
		n = seg(buf, v6, false, PKT_SYN | PKT_ACK, &mss_only, false, NULL), SAVE("synack-mss");
		n = seg(buf, v6, false, PKT_ACK, NULL, true, NULL), SAVE("ack-ts");
		n = seg(buf, v6, false, PKT_RST | PKT_ACK, NULL, false, NULL), SAVE("rstack");
		n = seg(buf, v6, false, PKT_RST, NULL, false, NULL), SAVE("rst");
		n = seg(buf, v6, false, PKT_FIN | PKT_ACK | PKT_PSH, NULL, true, "hello\r\n"),
		SAVE("fin-data");
#undef SAVE
	}

	/* ICMP errors: full quote, the RFC 792 minimum, frag needed, PTB. */
	icmp("v4-icmp-port-unreach", false, 3, 3, 0, 1000);
	icmp("v4-icmp-time-exceeded-8", false, 11, 0, 0, 28);
	icmp("v4-icmp-frag-needed", false, 3, 4, 1400, 1000);
	icmp("v4-icmp-admin-prohib", false, 3, 13, 0, 40);
	icmp("v6-icmp-port-unreach", true, 1, 4, 0, 1000);
	icmp("v6-icmp-ptb", true, 2, 0, 1280, 1000);
	icmp("v6-icmp-time-exceeded", true, 3, 0, 0, 48);

	/* IPv6 extension headers: hop-by-hop, destination options, an
	 * atomic fragment, then TCP. */
	n = seg(x, true, false, PKT_SYN | PKT_ACK, &full, false, NULL);
	static const uint8_t ext[] = {
		IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0,     /* hop-by-hop, PadN */
		IPPROTO_FRAGMENT, 0, 1, 4, 0, 0, 0, 0,    /* destination options */
		IPPROTO_TCP, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, /* atomic fragment */
	};
	memcpy(buf, x, 40);
	memcpy(buf + 40, ext, sizeof(ext));
	memcpy(buf + 40 + sizeof(ext), x + 40, n - 40);
	buf[6] = IPPROTO_HOPOPTS;
	wr16(buf + 4, (uint16_t)(n - 40 + sizeof(ext)));
	save("packet", "v6-exthdrs", buf, n + sizeof(ext));

	/* IPv4 with a 4-byte option (NOP NOP NOP EOL), and ethernet padding. */
	n = seg(x, false, false, PKT_SYN | PKT_ACK, &full, false, NULL);
	memcpy(buf, x, 20);
	buf[0] = 0x46;
	memcpy(buf + 20, "\x01\x01\x01\x00", 4);
	memcpy(buf + 24, x + 20, n - 20);
	wr16(buf + 2, (uint16_t)(n + 4));
	save("packet", "v4-ipopts", buf, n + 4);
	n = seg(buf, false, false, PKT_RST | PKT_ACK, NULL, false, NULL);
	memset(buf + n, 0, 6);
	save("packet", "v4-rstack-padded", buf, n + 6);

	/* TCP options a middlebox might mangle: a wrong MSS length, an
	 * unknown option, wscale above 14, EOL then junk. */
	n = seg(x, false, false, PKT_SYN | PKT_ACK, NULL, false, NULL);
	static const uint8_t odd[] = { 2, 3, 5, 30, 2, 3, 3, 200, 0, 0xff, 0xff, 0xff };
	memcpy(buf, x, 40);
	memcpy(buf + 40, odd, sizeof(odd));
	buf[32] = (uint8_t)((20 + sizeof(odd)) / 4) << 4;
	wr16(buf + 2, (uint16_t)(40 + sizeof(odd)));
	save("packet", "v4-odd-options", buf, 40 + sizeof(odd));
}

/* ---- state-machine event sequences (fuzz_fsm.c's encoding) ------------- */

static uint8_t ev[1024];
static size_t evn;

static void p8(unsigned v) { ev[evn++] = (uint8_t)v; }
static void p16(unsigned v) { p8(v >> 8); p8(v); }
static void p32(uint32_t v) { p16(v >> 16); p16(v & 0xffff); }

enum { K_SYN, K_HANDSHAKE, K_FIN };
#define TL 0x80
#define V6 0x40

/* Header: rto 1s (special 2), fin_wait_2 and time_wait in ms, hold in ms. */
static void hdr(unsigned kindflags, unsigned retries, unsigned fw2_ms, unsigned tw_ms,
		unsigned hold_ms)
{
	evn = 0;
	p8(kindflags);
	p16(1460);
	p8(7);
	p8(3); /* sack, timestamps */
	p16(64240);
	p8(retries);
	p8(3), p8(2);       /* rto: special[2] = 1s */
	p8(0), p8(fw2_ms);  /* u8 ms */
	p8(0), p8(tw_ms);
	p8(0), p8(hold_ms);
	p32(1000000);       /* iss */
	p32(7);             /* ts_offset */
}

static void open_(void) { p8(0); }
static void close_(void) { p8(1); }
static void abort_(void) { p8(2); }
static void fire(void) { p8(3), p8(1); }
static void wait_ms(unsigned ms) { p8(7), p8(0), p8(ms); }

/* seq: mode 0 = RCV.NXT + d, 2 = raw (the peer's ISN); ack: mode 0 =
 * SND.NXT + d. opts: bit 0 mss, 1 wscale, 2 sack, 3 ts. */
static void seg_(unsigned flags, unsigned seqmode, uint32_t seq, unsigned ackd, unsigned plen,
		 unsigned opts)
{
	p8(1 << 3 | 4); /* 1 ms later, segment */
	p8(flags);
	p8(seqmode);
	if (seqmode == 2)
		p32(seq);
	else
		p8(seq);
	p8(0), p8(ackd);
	p16(65535);
	p8(plen);
	p8(opts);
	p16(1400);
	p8(8);
	p8(0), p8(1); /* tsval ts_recent + 1 */
	p32(10);
	p8(57);
}

static void icmp_(unsigned type, unsigned code, int seqd)
{
	p8(5);
	p8(0x80 | type), p8(code);
	p8(3), p8((unsigned)seqd); /* SND.UNA + d */
	p16(1280);
}

static void fsm_save(const char *name) { save("fsm", name, ev, evn); }

#define SYNACK() seg_(PKT_SYN | PKT_ACK, 2, 3000000000u, 0, 0, 15)

static void fsm_seqs(void)
{
	hdr(K_HANDSHAKE | TL, 2, 100, 200, 0);
	open_(), SYNACK(), seg_(PKT_ACK, 0, 0, 0, 0, 8), seg_(PKT_FIN | PKT_ACK, 0, 0, 0, 0, 8),
	fire();
	fsm_save("handshake-ok");

	hdr(K_HANDSHAKE | TL, 2, 100, 200, 50);
	open_(), SYNACK(), seg_(PKT_ACK | PKT_PSH, 0, 0, 0, 20, 8), wait_ms(60), fire(),
	seg_(PKT_FIN | PKT_ACK, 0, 0, 0, 0, 8), seg_(PKT_ACK, 0, 0, 0, 0, 8), fire();
	fsm_save("hold-data-passive-close");

	hdr(K_HANDSHAKE | TL, 2, 100, 200, 0);
	open_(), SYNACK(), seg_(PKT_RST, 0, 5, 0, 0, 0), seg_(PKT_RST, 0, 0, 0, 0, 0);
	fsm_save("rst-in-window-then-exact");

	hdr(K_HANDSHAKE | TL, 3, 100, 200, 0);
	open_(), fire(), fire(), seg_(PKT_SYN, 2, 3000000000u, 0, 0, 15),
	seg_(PKT_SYN | PKT_ACK, 2, 3000000000u, 0, 0, 15), seg_(PKT_ACK, 0, 0, 0, 0, 8), close_();
	fsm_save("simultaneous-open");

	hdr(K_HANDSHAKE | TL, 2, 100, 200, 0);
	open_(), SYNACK(), seg_(PKT_FIN | PKT_ACK, 0, 0, 0xff, 0, 8), seg_(PKT_ACK, 0, 0, 0, 0, 8),
	seg_(PKT_FIN | PKT_ACK, 0, 0xff, 0, 0, 8), fire();
	fsm_save("simultaneous-close");

	hdr(K_HANDSHAKE | TL, 1, 100, 200, 0);
	open_(), SYNACK(), seg_(PKT_ACK, 0, 0, 0, 0, 8), fire();
	fsm_save("fin-wait-2-timeout");

	hdr(K_SYN | TL, 2, 100, 200, 0);
	open_(), SYNACK();
	fsm_save("syn-ok");

	hdr(K_SYN | TL | V6, 2, 100, 200, 0);
	open_(), seg_(PKT_RST | PKT_ACK, 2, 0, 0, 0, 0);
	fsm_save("syn-refused-v6");

	hdr(K_SYN | TL, 1, 100, 200, 0);
	open_(), icmp_(3, 4, 0), icmp_(3, 3, 0);
	fsm_save("icmp-ptb-then-unreach");

	hdr(K_HANDSHAKE | TL | V6, 2, 100, 200, 0);
	open_(), icmp_(1, 4, 5), fire(), SYNACK(), icmp_(3, 0, -1);
	fsm_save("icmp6-wrong-seq-soft");

	hdr(K_FIN | TL, 2, 100, 200, 0);
	open_(), seg_(PKT_RST | PKT_ACK, 2, 0, 0, 0, 0);
	fsm_save("fin-closed");

	hdr(K_FIN | TL, 2, 100, 200, 0);
	open_(), fire(), fire(), fire();
	fsm_save("fin-silent");

	hdr(K_HANDSHAKE | TL, 2, 100, 200, 100);
	open_(), SYNACK();
	for (int i = 0; i < 30; i++)
		seg_(PKT_ACK, 0, 0x80, 0, 0, 8); /* out of window: dup ACKs */
	abort_();
	fsm_save("timeline-overflow-abort");

	hdr(K_HANDSHAKE | TL, 255, 1, 1, 0);
	open_();
	for (int i = 0; i < 20; i++)
		fire();
	p8(6), p8(0), p8(0xf0); /* stamp the first SYN, 16 ms earlier */
	fsm_save("retries-255");
}

/* ---- trace event sequences (fuzz_trace.c's encoding) ------------------- */

#define TR_V6 1
#define TR_ECN 2
#define TR_TS 4
#define TR_CAP 8
#define TARGET 0xff

static unsigned tr_flags;

static void tr_hdr(unsigned flags, unsigned max_hops, unsigned window, unsigned retries,
		   unsigned timeout_ms)
{
	evn = 0;
	tr_flags = flags;
	p8(flags);
	p8(max_hops - 1);
	p8(window - 1);
	p8(retries);
	p16(timeout_ms - 1);
	p16(64240);
	p32(0x10000000); /* iss */
}

/* op after ms milliseconds, with a credit byte when the header asks (255:
 * no cap). */
static void tr_op(unsigned ms, unsigned op, unsigned credit)
{
	p8(ms << 3 | op);
	if ((tr_flags & TR_CAP) && op <= 5)
		p8(credit);
}

/* Our SYN of ttl and try. */
static void tr_seq(unsigned ttl, unsigned try) { p8(0), p8(ttl), p8(try); }

static void tr_start(unsigned credit) { tr_op(0, 0, credit); }

/* ICMP time exceeded (exceeded) or unreachable (code) from router `from`
 * quoting our SYN of ttl. */
static void tr_icmp(unsigned ms, unsigned from, bool exceeded, unsigned code, unsigned ttl)
{
	tr_op(ms, 1, 255);
	p8(from), p8(exceeded ? 1 : 0), p8(code);
	tr_seq(ttl, 0);
	p8(64 - ttl);
}

/* The target's segment (flags) acknowledging our SYN of ttl. */
static void tr_answer(unsigned ms, unsigned flags, unsigned ttl)
{
	tr_op(ms, 2, 255);
	p8(TARGET), p8(flags);
	tr_seq(ttl, 0);
	p32(777);
}

static void tr_timer(void) { tr_op(0, 3, 255), p8(1); }
static void tr_save(const char *name) { save("trace", name, ev, evn); }

static void trace_seqs(void)
{
	tr_hdr(0, 30, 8, 0, 1000);
	tr_start(255), tr_icmp(1, 1, true, 0, 1), tr_icmp(1, 2, true, 0, 2),
	tr_icmp(1, 3, true, 0, 3), tr_answer(1, PKT_SYN | PKT_ACK, 4), tr_timer();
	tr_save("chain-v4");

	tr_hdr(TR_V6 | TR_TS, 30, 8, 2, 300);
	tr_start(255), tr_icmp(1, 1, true, 0, 1), tr_answer(1, PKT_RST | PKT_ACK, 3),
	tr_icmp(2, 2, true, 0, 2), tr_timer();
	tr_save("chain-v6-refused");

	/* TTL 2 silent: its two tries time out; the target at 3. */
	tr_hdr(0, 30, 8, 1, 100);
	tr_start(255), tr_icmp(1, 1, true, 0, 1), tr_answer(1, PKT_SYN | PKT_ACK, 3), tr_timer(),
	tr_timer(), tr_timer();
	tr_save("silent-hop");

	tr_hdr(0, 30, 4, 0, 1000);
	tr_start(255), tr_icmp(1, 1, true, 0, 1), tr_icmp(1, 2, false, 1, 2);
	tr_save("unreachable");

	/* Forgeries: a quote one off our SYN of TTL 2, an answer with a raw
	 * ACK number; then the real answers. */
	tr_hdr(0, 30, 8, 0, 1000);
	tr_start(255);
	tr_op(1, 1, 255), p8(9), p8(1), p8(0), p8(1), p8(2), p8(0), p8(1), p8(60);
	tr_op(1, 2, 255), p8(TARGET), p8(PKT_SYN | PKT_ACK), p8(2), p32(0x12345678), p32(5);
	tr_icmp(1, 1, true, 0, 1), tr_answer(1, PKT_SYN | PKT_ACK, 2), tr_timer();
	tr_save("forged");

	/* A budget of 2 SYNs, then 1 at a time. */
	tr_hdr(TR_CAP | TR_ECN, 6, 8, 0, 500);
	tr_start(2), tr_op(1, 4, 1), tr_op(1, 4, 1), tr_icmp(1, 1, true, 0, 1),
	tr_op(1, 4, 0), tr_op(1, 4, 3), tr_answer(1, PKT_SYN | PKT_ACK, 5), tr_timer();
	tr_save("credit");

	/* max_hops 3 short of the target: every TTL silent. */
	tr_hdr(0, 3, 8, 0, 10);
	tr_start(255), tr_timer(), tr_timer();
	tr_save("max-hops-timeout");

	tr_hdr(0, 30, 8, 0, 1000);
	tr_start(255), tr_op(0, 5, 255), p8(1), tr_seq(1, 0);
	tr_save("send-error");

	tr_hdr(TR_V6, 30, 8, 0, 1000);
	tr_start(255), tr_icmp(1, 1, true, 0, 1), p8(7), p8(0);
	tr_save("abort");

	/* Send stamps 3 ms before the step's clock, a frame read late. */
	tr_hdr(0, 30, 8, 0, 1000);
	tr_start(255), p8(6), tr_seq(1, 0), p8(0xfd), p8(6), tr_seq(2, 0), p8(0xfd),
	p8(7), p8(0xf6), tr_icmp(0, 1, true, 0, 1), tr_answer(1, PKT_SYN | PKT_ACK, 2);
	tr_save("stamp-clock-back");

	/* SYN/ACKs of higher TTLs after the result: each gets its RST. */
	tr_hdr(0, 30, 8, 0, 1000);
	tr_start(255), tr_answer(1, PKT_SYN | PKT_ACK, 1), tr_answer(1, PKT_SYN | PKT_ACK, 4),
	tr_answer(1, PKT_SYN | PKT_ACK, 6), tr_timer();
	tr_save("late-synacks");
}

/* ---- control requests ---------------------------------------------------- */

static void ctl(const char *name, const char *s, size_t n)
{
	save("ctlproto", name, s, n);
}
#define CTL(name, lit) ctl(name, lit, sizeof(lit) - 1)

static void ctl_lines(void)
{
	CTL("status", "status\n");
	CTL("targets-crlf", "targets\r\n");
	CTL("show", "show web-1\n");
	CTL("history", "history web.1 25\n");
	CTL("probe", "probe 192.0.2.1:80 kind=syn timeout=2s retries=1\n");
	CTL("probe-v6", "probe [2001:db8::1]:443 kind=handshake hold=100ms\n");
	CTL("probe-bare-v6", "probe 2001:db8::1\n");
	CTL("add", "add web example.com:443 interval=10s ttl=64 tos=0x10\n");
	CTL("remove", "remove web\n");
	CTL("pause-all", "pause --all\n");
	CTL("resume", "resume web\n");
	CTL("reload", "reload\n");
	CTL("metrics", "metrics\n");
	CTL("watch", "watch\n");
	CTL("log-level", "log-level\nlog-level debug\nlog-level WARN\n");
	CTL("help", "help\n");
	CTL("pipelined", "status\ntargets\nshow a\nhistory a 1\n");
	CTL("spaces", "   show    web   \n");
	CTL("empty", "\n \n");
	CTL("unknown", "frobnicate now\n");
	CTL("usage", "show\nhistory a 0\nhistory a 100001\nprobe -x\n");
	CTL("utf8", "show caf\xc3\xa9\nshow \xf0\x9f\x98\x80\n");
	CTL("garbage", "show \xc0\xaf\nsta\x01tus\nshow \xed\xa0\x80\n\xc2\x85\n");
	CTL("partial", "status\nshow we");

	/* A line at the limit, and one past it. */
	static char big[CTL_LINE_MAX + 100];
	memcpy(big, "show ", 5);
	memset(big + 5, 'a', sizeof(big) - 5);
	big[CTL_LINE_MAX - 1] = '\n';
	ctl("at-limit", big, CTL_LINE_MAX);
	memset(big + 5, 'a', sizeof(big) - 5);
	ctl("too-long", big, sizeof(big));
}

int main(int argc, char **argv)
{
	char err[256];

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	outdir = argv[1];
	if ((b = pkt_builder_new(err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	packets();
	fsm_seqs();
	trace_seqs();
	ctl_lines();
	pkt_builder_free(b);
	return 0;
}
