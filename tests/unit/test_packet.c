/* test_packet.c: the codec. Builds with libnet and parses back; checksums are
 * checked with the test's own implementation; malformed frames are written by
 * hand. Every parse goes through a heap copy of exactly the parsed length, so
 * ASan and valgrind catch a read past the end. */
#include "check.h"
#include "packet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#define US4     "192.0.2.1"
#define THEM4   "198.51.100.7"
#define ROUTER4 "203.0.113.9"
#define US6     "2001:db8::1"
#define THEM6   "2001:db8:1::7"
#define ROUTER6 "2001:db8:ffff::1"

/* ---- helpers ---------------------------------------------------------- */

static struct pkt_addr addr(const char *s)
{
	struct pkt_addr a;
	memset(&a, 0, sizeof(a));
	a.family = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(a.family, s, a.a) != 1)
		abort();
	return a;
}

static bool addr_is(const struct pkt_addr *a, const char *s)
{
	struct pkt_addr b = addr(s);
	return a->family == b.family && memcmp(a->a, b.a, 16) == 0;
}

static enum pkt_err parse_exact(const uint8_t *p, size_t n, struct pkt_info *pi)
{
	uint8_t *c = malloc(n ? n : 1);
	if (c == NULL)
		abort();
	memcpy(c, p, n);
	enum pkt_err e = pkt_parse(c, n, pi);
	free(c);
	return e;
}

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	while (s[0] && s[1]) {
		if (s[0] == ' ') {
			s++;
			continue;
		}
		unsigned v;
		if (sscanf(s, "%2x", &v) != 1)
			abort();
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/* RFC 1071, written here so the test does not trust libnet's. */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static bool ip4_csum_ok(const uint8_t *p)
{
	return fold(sum16(p, (size_t)(p[0] & 15) * 4, 0)) == 0xffff;
}

/* TCP checksum over the pseudo-header (RFC 9293 3.1, RFC 8200 8.1). */
static bool tcp_csum_ok(const uint8_t *p, size_t len)
{
	uint8_t ph[40];
	size_t hl, phl;
	if ((p[0] >> 4) == 4) {
		hl = (size_t)(p[0] & 15) * 4;
		memcpy(ph, p + 12, 8);
		ph[8] = 0;
		ph[9] = IPPROTO_TCP;
		wr16(ph + 10, (uint16_t)(len - hl));
		phl = 12;
	} else {
		hl = 40;
		memcpy(ph, p + 8, 32);
		wr32(ph + 32, (uint32_t)(len - hl));
		wr32(ph + 36, IPPROTO_TCP);
		phl = 40;
	}
	return fold(sum16(p + hl, len - hl, sum16(ph, phl, 0))) == 0xffff;
}

static void set_csum(uint8_t *field, uint32_t s)
{
	wr16(field, (uint16_t)~fold(s));
}

/* An IPv4 header without options; checksum filled. */
static void put_ip4(uint8_t *p, size_t tot, uint8_t proto, const char *src, const char *dst,
		    uint8_t ttl)
{
	struct pkt_addr s = addr(src), d = addr(dst);
	memset(p, 0, 20);
	p[0] = 0x45;
	wr16(p + 2, (uint16_t)tot);
	wr16(p + 6, 0x4000);
	p[8] = ttl;
	p[9] = proto;
	memcpy(p + 12, s.a, 4);
	memcpy(p + 16, d.a, 4);
	set_csum(p + 10, sum16(p, 20, 0));
}

static void put_ip6(uint8_t *p, size_t plen, uint8_t nh, const char *src, const char *dst,
		    uint8_t hlim)
{
	struct pkt_addr s = addr(src), d = addr(dst);
	memset(p, 0, 40);
	p[0] = 0x60;
	wr16(p + 4, (uint16_t)plen);
	p[6] = nh;
	p[7] = hlim;
	memcpy(p + 8, s.a, 16);
	memcpy(p + 24, d.a, 16);
}

/* A TCP header with raw option bytes; doff_words 0 means "the right one". */
static size_t put_tcp(uint8_t *t, const uint8_t *opts, size_t optlen, unsigned doff_words)
{
	memset(t, 0, 20);
	wr16(t, 40000);
	wr16(t + 2, 443);
	wr32(t + 4, 0xdeadbeef);
	wr32(t + 8, 0x01020304);
	t[12] = (uint8_t)((doff_words ? doff_words : (20 + optlen) / 4) << 4);
	t[13] = PKT_SYN | PKT_ACK;
	wr16(t + 14, 29200);
	if (optlen)
		memcpy(t + 20, opts, optlen);
	return 20 + optlen;
}

/* IPv4 + TCP with the given option bytes and payload length. */
static size_t mk4(uint8_t *buf, const uint8_t *opts, size_t optlen, unsigned doff_words,
		  size_t payload)
{
	size_t tl = put_tcp(buf + 20, opts, optlen, doff_words);
	memset(buf + 20 + tl, 'x', payload);
	put_ip4(buf, 20 + tl + payload, IPPROTO_TCP, THEM4, US4, 57);
	return 20 + tl + payload;
}

static struct pkt_builder *builder(void)
{
	char err[256] = "";
	struct pkt_builder *b = pkt_builder_new(err, sizeof(err));
	if (b == NULL) {
		fprintf(stderr, "pkt_builder_new: %s\n", err);
		abort();
	}
	return b;
}

static const uint8_t PAYLOAD[] = "GET / HTTP/1.0\r\n\r\n";

static struct pkt_out syn_out(bool v6, const struct pkt_syn_opts *so)
{
	struct pkt_out o;
	memset(&o, 0, sizeof(o));
	o.src = addr(v6 ? US6 : US4);
	o.dst = addr(v6 ? THEM6 : THEM4);
	o.sport = 40001;
	o.dport = 443;
	o.seq = 0x8badf00d;
	o.flags = PKT_SYN;
	o.win = 64240;
	o.syn_opts = so;
	o.tsval = 0x01020304;
	o.tsecr = 0x0a0b0c0d;
	return o;
}

/* The checks every built packet must pass: lengths, checksums, IP fields. */
static int verify_built(const uint8_t *p, ssize_t n, const struct pkt_out *o)
{
	if (n < 40)
		return 0;
	bool v6 = o->src.family == AF_INET6;
	size_t hl = v6 ? 40 : 20;
	if (v6) {
		if (p[0] >> 4 != 6 || p[6] != IPPROTO_TCP || (size_t)((p[4] << 8 | p[5]) + 40) != (size_t)n)
			return 0;
		if (memcmp(p + 8, o->src.a, 16) || memcmp(p + 24, o->dst.a, 16))
			return 0;
	} else {
		if (p[0] != 0x45 || p[9] != IPPROTO_TCP || (p[2] << 8 | p[3]) != n)
			return 0;
		if ((p[6] & 0xe0) != 0x40 || (p[6] & 0x1f) || p[7]) /* DF only, offset 0 */
			return 0;
		if (memcmp(p + 12, o->src.a, 4) || memcmp(p + 16, o->dst.a, 4))
			return 0;
		if (!ip4_csum_ok(p))
			return 0;
	}
	size_t doff = (size_t)(p[hl + 12] >> 4) * 4;
	if (hl + doff + o->payload_len != (size_t)n)
		return 0;
	if (o->payload_len && memcmp(p + hl + doff, o->payload, o->payload_len))
		return 0;
	return tcp_csum_ok(p, (size_t)n);
}

/* ---- building and round trips ----------------------------------------- */

/* Linux's SYN option layouts, by hand (tcp_options_write()). */
#define TS_HEX "080a010203040a0b0c0d"
static const struct {
	bool mss, sack, ts, ws;
	const char *hex;
} syn_layouts[] = {
	{ 0, 0, 0, 0, "" },
	{ 1, 0, 0, 0, "020405b4" },
	{ 0, 1, 0, 0, "01010402" },
	{ 0, 0, 1, 0, "0101" TS_HEX },
	{ 0, 0, 0, 1, "01030307" },
	{ 1, 1, 0, 0, "020405b4 01010402" },
	{ 1, 0, 1, 0, "020405b4 0101" TS_HEX },
	{ 1, 0, 0, 1, "020405b4 01030307" },
	{ 0, 1, 1, 0, "0402" TS_HEX },
	{ 0, 1, 0, 1, "01010402 01030307" },
	{ 0, 0, 1, 1, "0101" TS_HEX "01030307" },
	{ 1, 1, 1, 0, "020405b4 0402" TS_HEX },
	{ 1, 1, 0, 1, "020405b4 01010402 01030307" },
	{ 1, 0, 1, 1, "020405b4 0101" TS_HEX "01030307" },
	{ 0, 1, 1, 1, "0402" TS_HEX "01030307" },
	{ 1, 1, 1, 1, "020405b4 0402" TS_HEX "01030307" },
};

static void test_syn_option_layouts(void)
{
	struct pkt_builder *b = builder();
	uint8_t buf[PKT_MAX_LEN], want[40];
	int done = 0;

	for (int v6 = 0; v6 < 2; v6++)
	for (size_t i = 0; i < sizeof(syn_layouts) / sizeof(syn_layouts[0]); i++)
	for (int pl = 0; pl < 2; pl++) {
		struct pkt_syn_opts so = {
			.mss = syn_layouts[i].mss ? 1460 : 0,
			.wscale = syn_layouts[i].ws ? 7 : -1,
			.sack_ok = syn_layouts[i].sack,
			.timestamps = syn_layouts[i].ts,
		};
		struct pkt_out o = syn_out(v6, &so);
		if (pl) {
			o.payload = PAYLOAD;
			o.payload_len = sizeof(PAYLOAD) - 1;
		}
		ssize_t n = pkt_build(b, &o, buf, sizeof(buf));
		CHECK(n > 0);
		CHECK(verify_built(buf, n, &o));
		size_t hl = v6 ? 40 : 20, wn = unhex(syn_layouts[i].hex, want);
		CHECK_EQ((buf[hl + 12] >> 4) * 4, 20 + wn);
		CHECK(memcmp(buf + hl + 20, want, wn) == 0);

		struct pkt_info pi;
		CHECK_EQ(parse_exact(buf, (size_t)n, &pi), PKT_OK);
		CHECK_EQ(pi.opts.has_mss, syn_layouts[i].mss);
		CHECK_EQ(pi.opts.mss, syn_layouts[i].mss ? 1460 : 0);
		CHECK_EQ(pi.opts.sack_ok, syn_layouts[i].sack);
		CHECK_EQ(pi.opts.has_ts, syn_layouts[i].ts);
		CHECK_EQ(pi.opts.tsval, syn_layouts[i].ts ? 0x01020304u : 0);
		CHECK_EQ(pi.opts.tsecr, syn_layouts[i].ts ? 0x0a0b0c0du : 0);
		CHECK_EQ(pi.opts.has_wscale, syn_layouts[i].ws);
		CHECK_EQ(pi.opts.wscale, syn_layouts[i].ws ? 7 : 0);
		CHECK_EQ(pi.opts.bad, 0);
		CHECK_EQ(pi.payload_len, o.payload_len);
		done++;
	}
	CHECK_EQ(done, 64);
	pkt_builder_free(b);
}

static void roundtrip(bool v6)
{
	struct pkt_builder *b = builder();
	struct pkt_syn_opts so = { .mss = 1360, .wscale = 9, .sack_ok = true, .timestamps = true };
	struct pkt_out o = syn_out(v6, &so);
	uint8_t buf[PKT_MAX_LEN];
	struct pkt_info pi;

	o.flags = PKT_SYN | PKT_ECE | PKT_CWR;
	o.ack = 0x11223344; /* odd for a SYN, but it must round-trip */
	o.ttl = 33;
	o.tos = 0x2e;
	o.payload = PAYLOAD;
	o.payload_len = 5; /* odd length: checksum pads */
	ssize_t n = pkt_build(b, &o, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK(verify_built(buf, n, &o));
	CHECK_EQ(parse_exact(buf, (size_t)n, &pi), PKT_OK);
	CHECK_EQ(pi.family, v6 ? AF_INET6 : AF_INET);
	CHECK(pkt_addr_eq(&pi.src, &o.src));
	CHECK(pkt_addr_eq(&pi.dst, &o.dst));
	CHECK_EQ(pi.sport, 40001);
	CHECK_EQ(pi.dport, 443);
	CHECK_EQ(pi.seq, 0x8badf00du);
	CHECK_EQ(pi.ack, 0x11223344u);
	CHECK_EQ(pi.flags, PKT_SYN | PKT_ECE | PKT_CWR);
	CHECK_EQ(pi.win, 64240);
	CHECK_EQ(pi.ttl, 33);
	CHECK_EQ(pi.tos, 0x2e);
	CHECK_EQ(pi.payload_len, 5);
	CHECK(!pi.is_icmp);
	CHECK_EQ(pi.icmp_mtu, 0);
	CHECK(pi.opts.has_mss && pi.opts.mss == 1360);
	CHECK(pi.opts.has_wscale && pi.opts.wscale == 9);
	CHECK(pi.opts.sack_ok && pi.opts.has_ts);
	CHECK_EQ(pi.opts.tsval, 0x01020304u);
	CHECK_EQ(pi.opts.tsecr, 0x0a0b0c0du);
	CHECK(memcmp(buf + n - 5, PAYLOAD, 5) == 0);
	pkt_builder_free(b);
}

/* A stamped pure ACK (the capture socket times it): IPv4 carries the mark
 * in its IP ID, IPv6 as four NOPs opening the options, before NOP NOP TS. */
static void test_stamped_ack(void)
{
	struct pkt_builder *b = builder();
	uint8_t buf[PKT_MAX_LEN], want[40];
	struct pkt_info pi;
	for (int v6 = 0; v6 < 2; v6++) {
		for (int ts = 0; ts < 2; ts++) {
			size_t hl = v6 ? 40 : 20;
			struct pkt_out o = syn_out(v6, NULL);
			o.flags = PKT_ACK;
			o.ack = 1;
			o.ts = ts;
			o.stamp = true;
			ssize_t n = pkt_build(b, &o, buf, sizeof(buf));
			CHECK(verify_built(buf, n, &o));
			size_t optlen = (v6 ? 4 : 0) + (ts ? 12 : 0);
			CHECK_EQ(n, hl + 20 + optlen);
			CHECK_EQ(buf[hl + 12] >> 4, 5 + optlen / 4);
			if (v6) {
				CHECK_EQ(buf[hl + 20] << 24 | buf[hl + 21] << 16 | buf[hl + 22] << 8 | buf[hl + 23],
					 PKT_OPT_STAMP);
			} else {
				CHECK_EQ(buf[4] << 8 | buf[5], PKT_IPID_STAMP);
			}
			size_t wn = unhex("0101" TS_HEX, want);
			if (ts)
				CHECK(memcmp(buf + hl + 20 + (v6 ? 4 : 0), want, wn) == 0);
			CHECK_EQ(parse_exact(buf, (size_t)n, &pi), PKT_OK);
			CHECK_EQ(pi.flags, PKT_ACK);
			CHECK_EQ(pi.opts.has_ts, ts);
			CHECK_EQ(pi.opts.bad, 0);
			CHECK_EQ(pi.payload_len, 0);
			/* Unstamped: no mark */
			o.stamp = false;
			n = pkt_build(b, &o, buf, sizeof(buf));
			CHECK_EQ(n, hl + 20 + (ts ? 12 : 0));
			if (!v6)
				CHECK(!(buf[4] == 0x74 && buf[5] == 0x70));
		}
	}
	pkt_builder_free(b);
}

static void test_roundtrip_v4(void) { roundtrip(false); }
static void test_roundtrip_v6(void) { roundtrip(true); }

/* Non-SYN segments: NOP NOP TS when asked, nothing otherwise; syn_opts are
 * ignored when SYN is not set. */
static void test_nonsyn_options(void)
{
	struct pkt_builder *b = builder();
	struct pkt_syn_opts so = { .mss = 1460, .wscale = 7, .sack_ok = true, .timestamps = true };
	uint8_t buf[PKT_MAX_LEN], want[40];
	struct pkt_info pi;

	for (int v6 = 0; v6 < 2; v6++) {
		size_t hl = v6 ? 40 : 20;
		struct pkt_out o = syn_out(v6, &so);
		o.flags = PKT_PSH | PKT_ACK;
		o.ack = 77;
		o.ts = true;
		o.payload = PAYLOAD;
		o.payload_len = sizeof(PAYLOAD) - 1;
		ssize_t n = pkt_build(b, &o, buf, sizeof(buf));
		CHECK(verify_built(buf, n, &o));
		size_t wn = unhex("0101" TS_HEX, want);
		CHECK_EQ(buf[hl + 12] >> 4, 8);
		CHECK(memcmp(buf + hl + 20, want, wn) == 0);
		CHECK_EQ(parse_exact(buf, (size_t)n, &pi), PKT_OK);
		CHECK_EQ(pi.flags, PKT_PSH | PKT_ACK);
		CHECK(pi.opts.has_ts && !pi.opts.has_mss && !pi.opts.sack_ok && !pi.opts.has_wscale);
		CHECK_EQ(pi.opts.tsval, 0x01020304u);
		CHECK_EQ(pi.payload_len, sizeof(PAYLOAD) - 1);

		o.ts = false; /* a bare ACK, no options */
		o.flags = PKT_ACK;
		o.payload = NULL;
		o.payload_len = 0;
		n = pkt_build(b, &o, buf, sizeof(buf));
		CHECK_EQ(n, hl + 20);
		CHECK(verify_built(buf, n, &o));
		CHECK_EQ(buf[hl + 12] >> 4, 5);
		CHECK_EQ(parse_exact(buf, (size_t)n, &pi), PKT_OK);
		CHECK(!pi.opts.has_ts && !pi.opts.has_mss);
		CHECK_EQ(pi.payload_len, 0);

		/* SYN without syn_opts: plain, or NOP NOP TS with ts */
		o = syn_out(v6, NULL);
		n = pkt_build(b, &o, buf, sizeof(buf));
		CHECK_EQ(n, hl + 20);
		CHECK(verify_built(buf, n, &o));
		o.ts = true;
		n = pkt_build(b, &o, buf, sizeof(buf));
		CHECK_EQ(n, hl + 32);
		CHECK(verify_built(buf, n, &o));
	}
	pkt_builder_free(b);
}

static void test_ttl_tos(void)
{
	struct pkt_builder *b = builder();
	uint8_t buf[PKT_MAX_LEN];
	struct pkt_info pi;
	struct pkt_out o = syn_out(false, NULL);

	ssize_t n = pkt_build(b, &o, buf, sizeof(buf)); /* ttl 0 means 64 */
	CHECK_EQ(buf[8], 64);
	CHECK_EQ(buf[1], 0);
	o.ttl = 1;
	o.tos = 0xb8;
	n = pkt_build(b, &o, buf, sizeof(buf));
	CHECK(verify_built(buf, n, &o));
	CHECK_EQ(buf[8], 1);
	CHECK_EQ(buf[1], 0xb8);
	CHECK_EQ(parse_exact(buf, (size_t)n, &pi), PKT_OK);
	CHECK_EQ(pi.ttl, 1);
	CHECK_EQ(pi.tos, 0xb8);
	/* IP ID from the seq, so consecutive probes differ */
	CHECK_EQ(buf[4] << 8 | buf[5], (0x8badf00d ^ 0x8bad) & 0xffff);

	o = syn_out(true, NULL);
	n = pkt_build(b, &o, buf, sizeof(buf));
	CHECK_EQ(buf[7], 64);
	CHECK_EQ(buf[0], 0x60);
	CHECK_EQ(buf[1], 0x00);
	o.ttl = 255;
	o.tos = 0xb8;
	n = pkt_build(b, &o, buf, sizeof(buf));
	CHECK(verify_built(buf, n, &o));
	CHECK_EQ(buf[7], 255);
	CHECK_EQ(buf[0], 0x6b); /* version 6, traffic class 0xb8, flow 0 */
	CHECK_EQ(buf[1], 0x80);
	CHECK_EQ(buf[2] | buf[3], 0);
	CHECK_EQ(parse_exact(buf, (size_t)n, &pi), PKT_OK);
	CHECK_EQ(pi.ttl, 255);
	CHECK_EQ(pi.tos, 0xb8);
	pkt_builder_free(b);
}

/* The context is reused: a v4 packet after a v6 one is byte-identical to
 * the first v4 one. */
static void test_builder_reuse(void)
{
	struct pkt_builder *b = builder();
	struct pkt_syn_opts so = { .mss = 1460, .wscale = 7, .sack_ok = true, .timestamps = true };
	struct pkt_out o4 = syn_out(false, &so), o6 = syn_out(true, &so);
	uint8_t first[PKT_MAX_LEN], buf[PKT_MAX_LEN];

	ssize_t n1 = pkt_build(b, &o4, first, sizeof(first));
	CHECK(n1 > 0);
	for (int i = 0; i < 1000; i++) {
		ssize_t n6 = pkt_build(b, &o6, buf, sizeof(buf));
		CHECK(verify_built(buf, n6, &o6));
		ssize_t n = pkt_build(b, &o4, buf, sizeof(buf));
		CHECK_EQ(n, n1);
		CHECK(memcmp(buf, first, (size_t)n) == 0);
	}
	/* a large payload still checksums */
	static uint8_t big[1400];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	o6.flags = PKT_ACK | PKT_PSH;
	o6.payload = big;
	o6.payload_len = sizeof(big);
	ssize_t n = pkt_build(b, &o6, buf, sizeof(buf));
	CHECK_EQ(n, 40 + 20 + sizeof(big));
	CHECK(verify_built(buf, n, &o6));
	pkt_builder_free(b);
}

static void test_builder_errors(void)
{
	struct pkt_builder *b = builder();
	struct pkt_syn_opts so = { .mss = 1460, .wscale = 7, .sack_ok = true, .timestamps = true };
	struct pkt_out o = syn_out(false, &so);
	uint8_t buf[PKT_MAX_LEN];

	CHECK_EQ(pkt_build(b, &o, buf, 59), -1); /* needs 60 */
	CHECK(strstr(pkt_builder_error(b), "does not fit") != NULL);
	CHECK_EQ(pkt_build(b, &o, buf, 60), 60);
	CHECK_STR(pkt_builder_error(b), "");

	o.dst = addr(THEM6);
	CHECK_EQ(pkt_build(b, &o, buf, sizeof(buf)), -1);
	CHECK(pkt_builder_error(b)[0] != '\0');
	o.src.family = o.dst.family = 0;
	CHECK_EQ(pkt_build(b, &o, buf, sizeof(buf)), -1);

	o = syn_out(true, &so);
	o.payload_len = 10; /* and no payload */
	CHECK_EQ(pkt_build(b, &o, buf, sizeof(buf)), -1);
	o.payload_len = 0;
	ssize_t n = pkt_build(b, &o, buf, sizeof(buf)); /* still usable */
	CHECK(verify_built(buf, n, &o));
	pkt_builder_free(b);
	pkt_builder_free(NULL);
}

/* ---- IPv4 and TCP malformations ---------------------------------------- */

/* Cut a valid packet at every length: always an error, never a crash. Then
 * cut it again with the outer IP length rewritten to match, so that the inner
 * parsers see the cut: an error below min_ok bytes, success from there on
 * (with a payload of k - hdrs bytes when hdrs is not 0). */
static void truncate_all(const uint8_t *p, size_t n, size_t min_ok, size_t hdrs)
{
	uint8_t c[PKT_MAX_LEN];
	struct pkt_info pi;

	for (size_t k = 0; k < n; k++) {
		enum pkt_err e = parse_exact(p, k, &pi);
		if (e == PKT_OK)
			printf("  cut at %zu parsed\n", k);
		CHECK(e != PKT_OK);
	}
	CHECK_EQ(parse_exact(p, n, &pi), PKT_OK);
	size_t iph = (p[0] >> 4) == 4 ? 20 : 40;
	for (size_t k = iph; k < n; k++) {
		memcpy(c, p, k);
		if (iph == 20)
			wr16(c + 2, (uint16_t)k);
		else
			wr16(c + 4, (uint16_t)(k - 40));
		enum pkt_err e = parse_exact(c, k, &pi);
		if (k < min_ok) {
			if (e == PKT_OK)
				printf("  cut at %zu with length fixed parsed\n", k);
			CHECK(e != PKT_OK);
		} else {
			CHECK_EQ(e, PKT_OK);
			if (hdrs)
				CHECK_EQ(pi.payload_len, k - hdrs);
		}
	}
}

static void test_truncated_everywhere(void)
{
	struct pkt_builder *b = builder();
	struct pkt_syn_opts so = { .mss = 1460, .wscale = 7, .sack_ok = true, .timestamps = true };
	uint8_t buf[PKT_MAX_LEN];

	for (int v6 = 0; v6 < 2; v6++) {
		struct pkt_out o = syn_out(v6, &so);
		o.payload = PAYLOAD;
		o.payload_len = sizeof(PAYLOAD) - 1;
		ssize_t n = pkt_build(b, &o, buf, sizeof(buf));
		CHECK(n > 0);
		truncate_all(buf, (size_t)n, (size_t)n - o.payload_len, (size_t)n - o.payload_len);
		if (check_cur_failed)
			break;
	}
	pkt_builder_free(b);
}

static void test_trailing_bytes(void)
{
	uint8_t buf[128];
	struct pkt_info pi;
	size_t n = mk4(buf, NULL, 0, 0, 3);

	memset(buf + n, 0, 10); /* ethernet pads 43 bytes to 46 and more */
	CHECK_EQ(parse_exact(buf, n + 10, &pi), PKT_OK);
	CHECK_EQ(pi.payload_len, 3);
	/* IPv6 likewise */
	put_ip6(buf, 20, IPPROTO_TCP, THEM6, US6, 60);
	put_tcp(buf + 40, NULL, 0, 0);
	memset(buf + 60, 0xee, 7);
	CHECK_EQ(parse_exact(buf, 67, &pi), PKT_OK);
	CHECK_EQ(pi.payload_len, 0);
	CHECK(addr_is(&pi.src, THEM6));
	CHECK(addr_is(&pi.dst, US6));
	CHECK_EQ(pi.ttl, 60);
}

static void test_ip4_header_errors(void)
{
	uint8_t buf[128], c[128];
	struct pkt_info pi;
	size_t n = mk4(buf, NULL, 0, 0, 0);

	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK(addr_is(&pi.src, THEM4));
	CHECK(addr_is(&pi.dst, US4));
	CHECK_EQ(pi.ttl, 57);
	CHECK_EQ(pi.flags, PKT_SYN | PKT_ACK);
	CHECK_EQ(pi.seq, 0xdeadbeefu);
	CHECK_EQ(pi.ack, 0x01020304u);
	CHECK_EQ(pi.win, 29200);

	CHECK_EQ(parse_exact(buf, 0, &pi), PKT_ETRUNC);
	memcpy(c, buf, n);
	c[0] = 0x55;
	CHECK_EQ(parse_exact(c, n, &pi), PKT_EVERSION);
	c[0] = 0x05;
	CHECK_EQ(parse_exact(c, n, &pi), PKT_EVERSION);
	c[0] = 0x44; /* IHL 16 bytes */
	CHECK_EQ(parse_exact(c, n, &pi), PKT_EIHL);
	c[0] = 0x40;
	CHECK_EQ(parse_exact(c, n, &pi), PKT_EIHL);
	c[0] = 0x4f; /* 60 bytes of header in a 40-byte packet */
	CHECK_EQ(parse_exact(c, n, &pi), PKT_EIHL);
	c[0] = 0x45;
	wr16(c + 2, (uint16_t)(n + 1));
	CHECK_EQ(parse_exact(c, n, &pi), PKT_ELEN);
	wr16(c + 2, 19);
	CHECK_EQ(parse_exact(c, n, &pi), PKT_ELEN);
	wr16(c + 2, 30); /* room for IP, not for TCP */
	CHECK_EQ(parse_exact(c, n, &pi), PKT_ETRUNC);
	wr16(c + 2, (uint16_t)n);
	c[9] = IPPROTO_UDP;
	CHECK_EQ(parse_exact(c, n, &pi), PKT_EPROTO);
	c[9] = IPPROTO_ICMPV6; /* ICMPv6 over IPv4 */
	CHECK_EQ(parse_exact(c, n, &pi), PKT_EPROTO);

	/* IPv4 options are skipped: IHL 6 with NOP NOP NOP EOL */
	memcpy(c, buf, 20);
	c[0] = 0x46;
	wr16(c + 2, (uint16_t)(n + 4));
	memcpy(c + 20, "\x01\x01\x01\x00", 4);
	memcpy(c + 24, buf + 20, n - 20);
	CHECK_EQ(parse_exact(c, n + 4, &pi), PKT_OK);
	CHECK_EQ(pi.seq, 0xdeadbeefu);
	CHECK_EQ(pi.dport, 443);
}

static void test_ip4_fragments(void)
{
	uint8_t buf[128];
	struct pkt_info pi;
	size_t n = mk4(buf, NULL, 0, 0, 8);

	wr16(buf + 6, 0x0000); /* no DF: still whole */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	wr16(buf + 6, 0x2000); /* MF: first fragment */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EFRAG);
	wr16(buf + 6, 0x0001); /* offset 8 */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EFRAG);
	wr16(buf + 6, 0x5fff);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EFRAG);
	wr16(buf + 6, 0x8000); /* the reserved bit is not a fragment */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
}

static void test_tcp_data_offset(void)
{
	uint8_t buf[128];
	struct pkt_info pi;
	size_t n;

	n = mk4(buf, NULL, 0, 4, 0);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EDOFF);
	n = mk4(buf, NULL, 0, 0, 0);
	buf[32] = 0x00;
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EDOFF);
	n = mk4(buf, NULL, 0, 15, 0); /* 60 bytes claimed, 20 present */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EDOFF);
	n = mk4(buf, NULL, 0, 6, 3); /* 24 claimed, 23 present */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EDOFF);
	n = mk4(buf, NULL, 0, 6, 4); /* exactly 24: payload 0 */
	memset(buf + 40, 1, 4);      /* NOPs */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK_EQ(pi.payload_len, 0);
}

static enum pkt_err parse_opts_hex(const char *hex, struct pkt_info *pi)
{
	uint8_t o[64], buf[128];
	size_t on = unhex(hex, o);
	if (on % 4)
		abort();
	size_t n = mk4(buf, o, on, 0, 2);
	return parse_exact(buf, n, pi);
}

static void test_tcp_options_malformed(void)
{
	struct pkt_info pi;

	CHECK_EQ(parse_opts_hex("0101 0208", &pi), PKT_EOPT);      /* runs past header */
	CHECK_EQ(parse_opts_hex("020405b4 080a0102", &pi), PKT_EOPT);
	CHECK_EQ(parse_opts_hex("010101 02", &pi), PKT_EOPT);      /* kind, no length */
	CHECK_EQ(parse_opts_hex("1e000101", &pi), PKT_EOPT);       /* zero length */
	CHECK_EQ(parse_opts_hex("0200 0101", &pi), PKT_EOPT);
	CHECK_EQ(parse_opts_hex("01 1e01 01", &pi), PKT_EOPT);     /* length 1 */
	CHECK_EQ(parse_opts_hex("0101 03ff", &pi), PKT_EOPT);
	/* exactly filling the header is fine */
	CHECK_EQ(parse_opts_hex("0101" TS_HEX, &pi), PKT_OK);
	CHECK(pi.opts.has_ts);
	CHECK_EQ(parse_opts_hex("1e04aaaa", &pi), PKT_OK);
	CHECK_EQ(pi.payload_len, 2);
}

/* The option layout as it came: kinds in order (NOPs included), NOP bytes,
 * the length before EOL; what probes/findings reads for stripped options. */
static void test_tcp_options_layout(void)
{
	struct pkt_info pi;

	/* Linux's SYN/ACK with SACK-permitted and timestamps NOPed by nftables */
	CHECK_EQ(parse_opts_hex("020405b4 0101 01010101010101010101 01 030307", &pi), PKT_OK);
	CHECK_EQ(pi.opts.len, 20);
	CHECK_EQ(pi.opts.nops, 13);
	CHECK_EQ(pi.opts.nkinds, PKT_OPT_KINDS); /* 15 kinds, the first 12 kept */
	CHECK_EQ(pi.opts.kinds[0], 2);
	CHECK_EQ(pi.opts.kinds[1], 1);
	CHECK(pi.opts.has_mss && pi.opts.has_wscale && !pi.opts.sack_ok && !pi.opts.has_ts);
	/* Linux's own layout: MSS, SACK-permitted, TS, NOP, wscale */
	CHECK_EQ(parse_opts_hex("020405b4 0402" TS_HEX " 01030307", &pi), PKT_OK);
	CHECK_EQ(pi.opts.nkinds, 5);
	CHECK(pi.opts.kinds[0] == 2 && pi.opts.kinds[1] == 4 && pi.opts.kinds[2] == 8 &&
	      pi.opts.kinds[3] == 1 && pi.opts.kinds[4] == 3);
	CHECK_EQ(pi.opts.nops, 1);
	CHECK_EQ(pi.opts.len, 20);
	/* EOL ends the option space; the padding after it is not NOPs */
	CHECK_EQ(parse_opts_hex("020405b4 00010101", &pi), PKT_OK);
	CHECK_EQ(pi.opts.len, 4);
	CHECK_EQ(pi.opts.nops, 0);
	CHECK_EQ(pi.opts.nkinds, 1);
	CHECK(pi.df); /* put_ip4 sets DF, as Linux does */
}

static void test_tcp_options_bad_lengths(void)
{
	struct pkt_info pi;

	/* MSS len 3, wscale len 4, TS len 9, sackOK len 3, then a good MSS */
	CHECK_EQ(parse_opts_hex("020305 03040700 0809aabbccddeeff00 040300 020405b4 01", &pi),
		 PKT_OK);
	CHECK_EQ(pi.opts.bad, 4);
	CHECK(pi.opts.has_mss);
	CHECK_EQ(pi.opts.mss, 1460);
	CHECK(!pi.opts.has_wscale && !pi.opts.has_ts && !pi.opts.sack_ok);
	/* TS len 11 and MSS len 5 */
	CHECK_EQ(parse_opts_hex("080b010203040506070809 0205000000", &pi), PKT_OK);
	CHECK_EQ(pi.opts.bad, 2);
	CHECK(!pi.opts.has_ts && !pi.opts.has_mss);
}

static void test_tcp_options_unknown_and_eol(void)
{
	struct pkt_info pi;

	/* unknown kind 30 (6 bytes), MD5 (18 bytes), then MSS */
	CHECK_EQ(parse_opts_hex("1e06aabbccdd 1312000102030405060708090a0b0c0d0e0f 020405b4", &pi),
		 PKT_OK);
	CHECK(pi.opts.has_mss);
	CHECK_EQ(pi.opts.bad, 0);
	/* EOL ends the list: what follows would be an error otherwise */
	CHECK_EQ(parse_opts_hex("020405b4 00 1e0001", &pi), PKT_OK);
	CHECK(pi.opts.has_mss);
	CHECK_EQ(parse_opts_hex("00 020405b4 010101", &pi), PKT_OK);
	CHECK(!pi.opts.has_mss);
}

static void test_wscale_clamped(void)
{
	static const struct { const char *hex; int want; } t[] = {
		{ "01030300", 0 }, { "0103030e", 14 }, { "0103030f", 14 }, { "010303ff", 14 },
	};
	struct pkt_info pi;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK_EQ(parse_opts_hex(t[i].hex, &pi), PKT_OK);
		CHECK(pi.opts.has_wscale);
		CHECK_EQ(pi.opts.wscale, t[i].want);
	}
}

/* ---- IPv6 extension headers -------------------------------------------- */

/* IPv6 with the given extension header bytes (first next header nh), then
 * a TCP header carrying an MSS option. */
static size_t mk6(uint8_t *buf, uint8_t nh, const char *ext_hex)
{
	uint8_t mss[4] = { 2, 4, 0x05, 0x8c };
	size_t el = unhex(ext_hex, buf + 40);
	size_t tl = put_tcp(buf + 40 + el, mss, 4, 0);
	put_ip6(buf, el + tl, nh, THEM6, US6, 61);
	return 40 + el + tl;
}

static void test_ip6_exthdr_valid(void)
{
	uint8_t buf[512];
	struct pkt_info pi;
	size_t n;

	/* hop-by-hop (PadN) -> destination options (16 bytes) -> TCP */
	n = mk6(buf, IPPROTO_HOPOPTS, "3c00 010400000000  0601 010c000000000000000000000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK_EQ(pi.family, AF_INET6);
	CHECK(addr_is(&pi.src, THEM6));
	CHECK(addr_is(&pi.dst, US6));
	CHECK_EQ(pi.sport, 40000);
	CHECK_EQ(pi.seq, 0xdeadbeefu);
	CHECK_EQ(pi.flags, PKT_SYN | PKT_ACK);
	CHECK(pi.opts.has_mss && pi.opts.mss == 1420);
	CHECK_EQ(pi.ttl, 61);
	truncate_all(buf, n, n, 0);
	if (check_cur_failed)
		return;

	/* routing header (type 4, segments left 0) -> TCP */
	n = mk6(buf, IPPROTO_ROUTING, "0600 0400 00000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	/* AH: length in 4-byte units minus 2: 4 -> 24 bytes */
	n = mk6(buf, IPPROTO_AH, "0604 0000 00000001 00000001 000000000000000000000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK(pi.opts.has_mss && pi.opts.mss == 1420);
	/* an atomic fragment (offset 0, M clear) is a whole packet */
	n = mk6(buf, IPPROTO_FRAGMENT, "0600 0000 12345678");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	/* eight headers are still walked */
	n = mk6(buf, IPPROTO_DSTOPTS,
		"3c00010400000000 3c00010400000000 3c00010400000000 3c00010400000000"
		"3c00010400000000 3c00010400000000 3c00010400000000 0600010400000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK_EQ(pi.dport, 443);
}

static void test_ip6_exthdr_bad(void)
{
	uint8_t buf[512];
	struct pkt_info pi;
	size_t n;

	/* destination options claiming 48 bytes, 8 + TCP present */
	n = mk6(buf, IPPROTO_DSTOPTS, "0605 010400000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EEXTHDR);
	/* header cut short by the payload length: 4 bytes of an 8-byte header */
	put_ip6(buf, 4, IPPROTO_DSTOPTS, THEM6, US6, 1);
	memcpy(buf + 40, "\x06\x00\x01\x04", 4);
	CHECK_EQ(parse_exact(buf, 44, &pi), PKT_EEXTHDR);
	put_ip6(buf, 0, IPPROTO_HOPOPTS, THEM6, US6, 1);
	CHECK_EQ(parse_exact(buf, 40, &pi), PKT_EEXTHDR);
	/* nine headers: too many */
	n = mk6(buf, IPPROTO_DSTOPTS,
		"3c00010400000000 3c00010400000000 3c00010400000000 3c00010400000000"
		"3c00010400000000 3c00010400000000 3c00010400000000 3c00010400000000"
		"0600010400000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EEXTHDR);
	/* a chain that runs until the end of the packet */
	put_ip6(buf, 400, IPPROTO_DSTOPTS, THEM6, US6, 1);
	for (size_t i = 0; i < 400; i += 8)
		memcpy(buf + 40 + i, "\x3c\x00\x01\x04\x00\x00\x00\x00", 8);
	CHECK_EQ(parse_exact(buf, 440, &pi), PKT_EEXTHDR);
	/* ESP, no next header, hop-by-hop in second place */
	n = mk6(buf, IPPROTO_ESP, "");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EEXTHDR);
	n = mk6(buf, IPPROTO_DSTOPTS, "3200 010400000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EEXTHDR);
	n = mk6(buf, IPPROTO_NONE, "");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EEXTHDR);
	n = mk6(buf, IPPROTO_DSTOPTS, "3b00 010400000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EEXTHDR);
	n = mk6(buf, IPPROTO_DSTOPTS, "0000 010400000000 0600 010400000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EEXTHDR);
	n = mk6(buf, IPPROTO_HOPOPTS, "0600 010400000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	/* UDP is a protocol, not a broken chain */
	n = mk6(buf, IPPROTO_DSTOPTS, "1100 010400000000");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EPROTO);
	n = mk6(buf, IPPROTO_UDP, "");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EPROTO);
	n = mk6(buf, IPPROTO_ICMP, ""); /* ICMPv4 over IPv6 */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EPROTO);
}

static void test_ip6_fragments_and_length(void)
{
	uint8_t buf[256];
	struct pkt_info pi;
	size_t n;

	n = mk6(buf, IPPROTO_FRAGMENT, "0600 0001 12345678"); /* M set */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EFRAG);
	n = mk6(buf, IPPROTO_FRAGMENT, "0600 0008 12345678"); /* offset 8 */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EFRAG);
	n = mk6(buf, IPPROTO_FRAGMENT, "0600 0006 12345678"); /* reserved bits */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	n = mk6(buf, IPPROTO_FRAGMENT, "0600 00");
	buf[4] = 0;
	buf[5] = 3; /* a fragment header cut to 3 bytes */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EEXTHDR);

	n = mk6(buf, IPPROTO_TCP, "");
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	wr16(buf + 4, (uint16_t)(n - 39));
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_ELEN);
	CHECK_EQ(parse_exact(buf, 39, &pi), PKT_ETRUNC);
	buf[0] = 0x70;
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EVERSION);
}

/* ---- ICMP errors ------------------------------------------------------- */

/* Our SYN (full options) to THEM, for quoting. */
static size_t our_syn(bool v6, uint8_t *buf)
{
	struct pkt_builder *b = builder();
	struct pkt_syn_opts so = { .mss = 1460, .wscale = 7, .sack_ok = true, .timestamps = true };
	struct pkt_out o = syn_out(v6, &so);
	o.ttl = 3;
	ssize_t n = pkt_build(b, &o, buf, PKT_MAX_LEN);
	pkt_builder_free(b);
	if (n <= 0)
		abort();
	return (size_t)n;
}

/* An ICMP(v6) error from the router quoting the first q bytes of pkt. */
static size_t mk_icmp(bool v6, uint8_t *buf, uint8_t type, uint8_t code, uint32_t rest,
		      const uint8_t *pkt, size_t q)
{
	size_t hl = v6 ? 40 : 20, il = 8 + q;
	uint8_t *ic = buf + hl;

	if (v6)
		put_ip6(buf, il, IPPROTO_ICMPV6, ROUTER6, US6, 250);
	else
		put_ip4(buf, hl + il, IPPROTO_ICMP, ROUTER4, US4, 250);
	ic[0] = type;
	ic[1] = code;
	wr16(ic + 2, 0);
	wr32(ic + 4, rest);
	memcpy(ic + 8, pkt, q);
	uint32_t s = 0;
	if (v6) { /* pseudo-header */
		uint8_t ph[40];
		memcpy(ph, buf + 8, 32);
		wr32(ph + 32, (uint32_t)il);
		wr32(ph + 36, IPPROTO_ICMPV6);
		s = sum16(ph, 40, 0);
	}
	set_csum(ic + 2, sum16(ic, il, s));
	return hl + il;
}

static int check_icmp(bool v6, const struct pkt_info *pi, uint8_t type, uint8_t code, uint32_t mtu,
		      bool full)
{
	return pi->is_icmp && pi->icmp_type == type && pi->icmp_code == code &&
	       pi->icmp_mtu == mtu && pi->family == (v6 ? AF_INET6 : AF_INET) &&
	       addr_is(&pi->icmp_from, v6 ? ROUTER6 : ROUTER4) &&
	       addr_is(&pi->src, v6 ? US6 : US4) && addr_is(&pi->dst, v6 ? THEM6 : THEM4) &&
	       pi->sport == 40001 && pi->dport == 443 && pi->seq == 0x8badf00d &&
	       pi->ttl == 250 && pi->flags == (full ? PKT_SYN : 0) &&
	       pi->win == (full ? 64240 : 0);
}

static void test_icmp4_errors(void)
{
	uint8_t syn[PKT_MAX_LEN], buf[PKT_MAX_LEN];
	struct pkt_info pi;
	size_t sn = our_syn(false, syn), n;

	for (uint8_t code = 0; code < 16; code++) { /* every unreachable code */
		n = mk_icmp(false, buf, 3, code, 0, syn, 28);
		CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
		CHECK(check_icmp(false, &pi, 3, code, 0, false));
	}
	/* frag needed: next-hop MTU in the low 16 bits (RFC 1191); the high
	 * 16 are unused, junk there must not leak into the MTU */
	n = mk_icmp(false, buf, 3, 4, 0xabcd0000 | 1400, syn, 28);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK(check_icmp(false, &pi, 3, 4, 1400, false));
	CHECK_EQ(pi.ack, 0);
	/* the MTU field means nothing for other codes */
	n = mk_icmp(false, buf, 3, 1, 1400, syn, 28);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK_EQ(pi.icmp_mtu, 0);
	/* time exceeded, quoting the whole segment (RFC 1812 routers do) */
	n = mk_icmp(false, buf, 11, 0, 0, syn, sn);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK(check_icmp(false, &pi, 11, 0, 0, true));
	CHECK_EQ(pi.payload_len, 0);
	CHECK(!pi.opts.has_mss); /* quoted options are not parsed */
	/* ack, flags and window only when quoted in full */
	wr32(syn + 28, 0x01020304);
	static const struct { size_t tcp; uint32_t ack; uint8_t flags; uint16_t win; } q[] = {
		{ 8, 0, 0, 0 }, { 11, 0, 0, 0 }, { 12, 0x01020304, 0, 0 }, { 13, 0x01020304, 0, 0 },
		{ 14, 0x01020304, PKT_SYN, 0 }, { 15, 0x01020304, PKT_SYN, 0 },
		{ 16, 0x01020304, PKT_SYN, 64240 },
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		n = mk_icmp(false, buf, 11, 1, 0, syn, 20 + q[i].tcp);
		CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
		CHECK_EQ(pi.ack, q[i].ack);
		CHECK_EQ(pi.flags, q[i].flags);
		CHECK_EQ(pi.win, q[i].win);
		CHECK_EQ(pi.seq, 0x8badf00du);
	}
	n = mk_icmp(false, buf, 11, 1, 0, syn, 32);
	truncate_all(buf, n, 20 + 8 + 20 + 8, 0);
}

static void test_icmp6_errors(void)
{
	uint8_t syn[PKT_MAX_LEN], buf[PKT_MAX_LEN];
	struct pkt_info pi;
	size_t sn = our_syn(true, syn), n;

	for (uint8_t code = 0; code < 8; code++) {
		n = mk_icmp(true, buf, 1, code, 0, syn, sn);
		CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
		CHECK(check_icmp(true, &pi, 1, code, 0, true));
	}
	n = mk_icmp(true, buf, 2, 0, 1280, syn, sn);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK(check_icmp(true, &pi, 2, 0, 1280, true));
	n = mk_icmp(true, buf, 3, 0, 0, syn, 48); /* 8 bytes of TCP */
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK(check_icmp(true, &pi, 3, 0, 0, false));
	n = mk_icmp(true, buf, 3, 1, 0, syn, sn);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_OK);
	CHECK(check_icmp(true, &pi, 3, 1, 0, true));
	truncate_all(buf, n, 40 + 8 + 40 + 8, 0);
}

static void test_icmp_rejected(void)
{
	uint8_t syn4[PKT_MAX_LEN], syn6[PKT_MAX_LEN], buf[PKT_MAX_LEN], q[PKT_MAX_LEN];
	struct pkt_info pi;
	size_t n4 = our_syn(false, syn4), n6 = our_syn(true, syn6), n;

	/* echo reply / request, redirect, source quench, parameter problem */
	static const uint8_t t4[] = { 0, 8, 4, 5, 12, 13 };
	for (size_t i = 0; i < sizeof(t4); i++) {
		n = mk_icmp(false, buf, t4[i], 0, 0, syn4, 28);
		CHECK_EQ(parse_exact(buf, n, &pi), PKT_EICMP);
	}
	static const uint8_t t6[] = { 128, 129, 4, 133, 135, 0 };
	for (size_t i = 0; i < sizeof(t6); i++) {
		n = mk_icmp(true, buf, t6[i], 0, 0, syn6, n6);
		CHECK_EQ(parse_exact(buf, n, &pi), PKT_EICMP);
	}
	/* ICMP header itself cut short */
	put_ip4(buf, 24, IPPROTO_ICMP, ROUTER4, US4, 9);
	memcpy(buf + 20, "\x03\x01\x00\x00", 4);
	CHECK_EQ(parse_exact(buf, 24, &pi), PKT_ETRUNC);
	/* a quote with 7 bytes of TCP, or none */
	n = mk_icmp(false, buf, 3, 3, 0, syn4, 27);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EICMP);
	n = mk_icmp(false, buf, 3, 3, 0, syn4, 0);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EICMP);
	n = mk_icmp(true, buf, 1, 3, 0, syn6, 47);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EICMP);
	/* an IPv6 packet quoted in ICMPv4 */
	n = mk_icmp(false, buf, 3, 3, 0, syn6, n6);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EICMP);
	/* a quoted UDP datagram */
	memcpy(q, syn4, n4);
	q[9] = IPPROTO_UDP;
	n = mk_icmp(false, buf, 3, 3, 0, q, 28);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EPROTO);
	memcpy(q, syn6, n6);
	q[6] = IPPROTO_UDP;
	n = mk_icmp(true, buf, 1, 4, 0, q, 48);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EPROTO);
	/* a quoted fragment, a quote with a bad IHL */
	memcpy(q, syn4, n4);
	q[7] = 1;
	n = mk_icmp(false, buf, 3, 3, 0, q, 28);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EICMP);
	memcpy(q, syn4, n4);
	q[0] = 0x4f;
	n = mk_icmp(false, buf, 3, 3, 0, q, 28);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EICMP);
	/* an ICMP error sent as a fragment */
	n = mk_icmp(false, buf, 3, 3, 0, syn4, 28);
	wr16(buf + 6, 0x2000);
	CHECK_EQ(parse_exact(buf, n, &pi), PKT_EFRAG);
}

/* Random damage to valid frames: only checks that nothing reads out of
 * bounds (run under ASan and valgrind). */
static void test_mutations_do_not_crash(void)
{
	uint8_t s[6][PKT_MAX_LEN], c[PKT_MAX_LEN];
	size_t sn[6];
	uint32_t x = 2463534242u;
	struct pkt_info pi;
	int ok = 0;

	sn[0] = our_syn(false, s[0]);
	sn[1] = our_syn(true, s[1]);
	sn[2] = mk_icmp(false, s[2], 3, 4, 1400, s[0], sn[0]);
	sn[3] = mk_icmp(true, s[3], 2, 0, 1280, s[1], sn[1]);
	sn[4] = mk6(s[4], IPPROTO_HOPOPTS, "2c00 010400000000  3c00 0000 12345678 0601 010c000000000000000000000000");
	sn[5] = mk_icmp(true, s[5], 3, 0, 0, s[4], sn[4]);
	CHECK_EQ(parse_exact(s[4], sn[4], &pi), PKT_OK);
	CHECK_EQ(parse_exact(s[5], sn[5], &pi), PKT_OK);
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		int k = (int)(x % 6);
		size_t n = sn[k];
		memcpy(c, s[k], n);
		for (int m = 0; m < 1 + (int)(x >> 29); m++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			c[x % n] = (uint8_t)(x >> 8);
		}
		if (x & 0x100)
			n = (x >> 9) % (n + 1);
		ok += parse_exact(c, n, &pi) == PKT_OK;
	}
	CHECK(ok > 0);
}

/* ---- strings ----------------------------------------------------------- */

static void test_flags_str(void)
{
	char b[10];

	CHECK_STR(pkt_flags_str(0, b, sizeof(b)), "none");
	CHECK_STR(pkt_flags_str(PKT_SYN, b, sizeof(b)), "S");
	CHECK_STR(pkt_flags_str(PKT_SYN | PKT_ACK, b, sizeof(b)), "S.");
	CHECK_STR(pkt_flags_str(PKT_FIN | PKT_ACK, b, sizeof(b)), "F.");
	CHECK_STR(pkt_flags_str(PKT_RST | PKT_ACK, b, sizeof(b)), "R.");
	CHECK_STR(pkt_flags_str(PKT_PSH | PKT_ACK, b, sizeof(b)), "P.");
	CHECK_STR(pkt_flags_str(PKT_ACK, b, sizeof(b)), ".");
	CHECK_STR(pkt_flags_str(PKT_RST, b, sizeof(b)), "R");
	/* tcpdump: "Flags [SEW]" for an ECN SYN, "[S.E]" for its SYN-ACK */
	CHECK_STR(pkt_flags_str(PKT_SYN | PKT_ECE | PKT_CWR, b, sizeof(b)), "SEW");
	CHECK_STR(pkt_flags_str(PKT_SYN | PKT_ACK | PKT_ECE, b, sizeof(b)), "S.E");
	CHECK_STR(pkt_flags_str(PKT_FIN | PKT_PSH | PKT_ACK, b, sizeof(b)), "FP.");
	CHECK_STR(pkt_flags_str(0xff, b, sizeof(b)), "FSRP.UEW");
	CHECK_STR(pkt_flags_str(0xff, b, 3), "FS");
}

static void test_addr_str_eq(void)
{
	char b[64];
	struct pkt_addr a = addr(US4), c = addr(US4), d = addr(US6), e = addr(US6);

	CHECK_STR(pkt_addr_str(&a, b, sizeof(b)), US4);
	CHECK_STR(pkt_addr_str(&d, b, sizeof(b)), US6);
	CHECK(pkt_addr_eq(&a, &c));
	c.a[15] = 9; /* beyond an IPv4 address: ignored */
	CHECK(pkt_addr_eq(&a, &c));
	c.a[3] ^= 1;
	CHECK(!pkt_addr_eq(&a, &c));
	CHECK(pkt_addr_eq(&d, &e));
	e.a[15] ^= 1;
	CHECK(!pkt_addr_eq(&d, &e));
	CHECK(!pkt_addr_eq(&a, &d));
	a.family = 0;
	CHECK_STR(pkt_addr_str(&a, b, sizeof(b)), "?");
	CHECK_STR(pkt_addr_str(&d, b, 4), "?"); /* too small for inet_ntop */
}

static void test_err_str(void)
{
	const char *seen[PKT_EICMP + 1];

	CHECK_STR(pkt_err_str(PKT_OK), "ok");
	for (int e = PKT_OK; e <= PKT_EICMP; e++) {
		seen[e] = pkt_err_str((enum pkt_err)e);
		CHECK(seen[e] && seen[e][0]);
		for (int f = 0; f < e; f++)
			CHECK(strcmp(seen[e], seen[f]) != 0);
	}
}

int main(void)
{
	RUN(test_syn_option_layouts);
	RUN(test_roundtrip_v4);
	RUN(test_roundtrip_v6);
	RUN(test_nonsyn_options);
	RUN(test_stamped_ack);
	RUN(test_ttl_tos);
	RUN(test_builder_reuse);
	RUN(test_builder_errors);
	RUN(test_truncated_everywhere);
	RUN(test_trailing_bytes);
	RUN(test_ip4_header_errors);
	RUN(test_ip4_fragments);
	RUN(test_tcp_data_offset);
	RUN(test_tcp_options_malformed);
	RUN(test_tcp_options_bad_lengths);
	RUN(test_tcp_options_unknown_and_eol);
	RUN(test_wscale_clamped);
	RUN(test_ip6_exthdr_valid);
	RUN(test_ip6_exthdr_bad);
	RUN(test_ip6_fragments_and_length);
	RUN(test_icmp4_errors);
	RUN(test_icmp6_errors);
	RUN(test_icmp_rejected);
	RUN(test_mutations_do_not_crash);
	RUN(test_flags_str);
	RUN(test_addr_str_eq);
	RUN(test_err_str);
	RUN(test_tcp_options_layout);
	return CHECK_EXIT();
}
