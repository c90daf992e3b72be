/*
 * packet.c: the TCP/IP codec. Outbound segments are crafted with libnet
 * (1.1.6, LIBNET_NONE: construct only, the daemon sends the bytes on its own
 * raw sockets); inbound frames are parsed by hand into struct pkt_info.
 */
#include "packet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libnet.h>

#define IP4_HLEN     20
#define IP6_HLEN     40
#define TCP_HLEN     20
#define TCP_OPT_MAX  40
#define ICMP_HLEN    8
#define IP6_MAX_EXT  8  /* extension headers walked before giving up */

#define OPT_EOL      0
#define OPT_NOP      1
#define OPT_MSS      2
#define OPT_WSCALE   3
#define OPT_SACK_OK  4
#define OPT_TS       8

#define WSCALE_MAX   14 /* RFC 7323 section 2.3 */

/* ---- parsing ---------------------------------------------------------- */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Where the layer-4 header of an IP packet starts. */
struct l4 {
	const uint8_t *p;
	size_t len;
	uint8_t proto;
};

/*
 * An ICMP error quotes as much of our packet as fits (RFC 792: IP header plus
 * at least 8 bytes; RFC 1812 and RFC 4443: more), and the quoted total length
 * describes the original packet, not the quote. So a quoted length larger than
 * what is present is normal; in "quoted" mode we clip to it instead of failing.
 */
static enum pkt_err parse_ip4(const uint8_t *b, size_t len, bool quoted, struct pkt_info *out,
			      struct l4 *l4)
{
	if (len < IP4_HLEN)
		return PKT_ETRUNC;
	size_t ihl = (size_t)(b[0] & 0x0f) * 4;
	size_t tot = rd16(b + 2);
	if (ihl < IP4_HLEN)
		return PKT_EIHL;
	if (tot > len) {
		if (!quoted)
			return PKT_ELEN; /* shorter is fine: ethernet padding */
		tot = len;
	}
	if (tot < IP4_HLEN)
		return PKT_ELEN;
	if (ihl > tot)
		return PKT_EIHL;
	if (rd16(b + 6) & 0x3fff) /* MF or a fragment offset; DF (0x4000) is fine */
		return PKT_EFRAG;

	out->family = AF_INET;
	out->df = (rd16(b + 6) & 0x4000) != 0;
	out->tos = b[1];
	out->ttl = b[8];
	memcpy(out->src.a, b + 12, 4);
	memcpy(out->dst.a, b + 16, 4);
	out->src.family = out->dst.family = AF_INET;
	l4->p = b + ihl;
	l4->len = tot - ihl;
	l4->proto = b[9];
	return PKT_OK;
}

static enum pkt_err parse_ip6(const uint8_t *b, size_t len, bool quoted, struct pkt_info *out,
			      struct l4 *l4)
{
	if (len < IP6_HLEN)
		return PKT_ETRUNC;
	size_t end = IP6_HLEN + (size_t)rd16(b + 4);
	if (end > len) {
		if (!quoted)
			return PKT_ELEN;
		end = len;
	}

	out->family = AF_INET6;
	out->tos = (uint8_t)(rd16(b) >> 4);
	out->ttl = b[7];
	memcpy(out->src.a, b + 8, 16);
	memcpy(out->dst.a, b + 24, 16);
	out->src.family = out->dst.family = AF_INET6;

	/*
	 * RFC 8200 section 4: walk the extension headers. Each is at least 8
	 * bytes, so the walk always advances; the count bound still stops a
	 * packet made of hundreds of empty destination-options headers.
	 */
	uint8_t nh = b[6];
	size_t off = IP6_HLEN;
	for (int n = 0;; n++) {
		size_t hl;
		switch (nh) {
		case IPPROTO_HOPOPTS:
			if (n != 0) /* only allowed right after the IPv6 header */
				return PKT_EEXTHDR;
			/* FALLTHROUGH */
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (end - off < 8)
				return PKT_EEXTHDR;
			hl = ((size_t)b[off + 1] + 1) * 8;
			break;
		case IPPROTO_AH: /* RFC 4302: length in 4-byte words, minus 2 */
			if (end - off < 8)
				return PKT_EEXTHDR;
			hl = ((size_t)b[off + 1] + 2) * 4;
			break;
		case IPPROTO_FRAGMENT:
			if (end - off < 8)
				return PKT_EEXTHDR;
			/* an atomic fragment (offset 0, no M) is a whole packet */
			if (rd16(b + off + 2) & 0xfff9)
				return PKT_EFRAG;
			hl = 8;
			break;
		case IPPROTO_ESP:  /* encrypted: cannot see the TCP header */
		case IPPROTO_NONE: /* 59: no next header */
		case 135:          /* mobility */
		case 139:          /* HIP */
		case 140:          /* shim6 */
		case 253:          /* RFC 3692 experiments */
		case 254:
			return PKT_EEXTHDR;
		default:
			/* an upper-layer protocol; the caller sorts out which */
			l4->p = b + off;
			l4->len = end - off;
			l4->proto = nh;
			return PKT_OK;
		}
		if (n >= IP6_MAX_EXT || hl > end - off)
			return PKT_EEXTHDR;
		nh = b[off];
		off += hl;
	}
}

static enum pkt_err parse_ip(const uint8_t *b, size_t len, bool quoted, struct pkt_info *out,
			     struct l4 *l4)
{
	if (len < 1)
		return PKT_ETRUNC;
	switch (b[0] >> 4) {
	case 4:
		return parse_ip4(b, len, quoted, out, l4);
	case 6:
		return parse_ip6(b, len, quoted, out, l4);
	default:
		return PKT_EVERSION;
	}
}

/* RFC 9293 section 3.1; known options with a wrong length are skipped and
 * counted (a middlebox bug, not a reason to drop the segment). */
static enum pkt_err parse_opts(const uint8_t *o, size_t n, struct pkt_tcp_opts *t)
{
	size_t i = 0;
	t->len = (uint8_t)n; /* n <= 40 */
	while (i < n) {
		uint8_t kind = o[i];
		if (kind == OPT_EOL) {
			t->len = (uint8_t)i;
			break;
		}
		if (t->nkinds < PKT_OPT_KINDS)
			t->kinds[t->nkinds++] = kind;
		if (kind == OPT_NOP) {
			t->nops++;
			i++;
			continue;
		}
		if (n - i < 2)
			return PKT_EOPT;
		size_t olen = o[i + 1];
		if (olen < 2 || olen > n - i)
			return PKT_EOPT;
		const uint8_t *v = o + i + 2;
		switch (kind) {
		case OPT_MSS:
			if (olen != 4)
				goto bad;
			t->has_mss = true;
			t->mss = rd16(v);
			break;
		case OPT_WSCALE:
			if (olen != 3)
				goto bad;
			t->has_wscale = true;
			t->wscale = v[0] > WSCALE_MAX ? WSCALE_MAX : v[0];
			break;
		case OPT_SACK_OK:
			if (olen != 2)
				goto bad;
			t->sack_ok = true;
			break;
		case OPT_TS:
			if (olen != 10)
				goto bad;
			t->has_ts = true;
			t->tsval = rd32(v);
			t->tsecr = rd32(v + 4);
			break;
		default:
			break;
		}
		i += olen;
		continue;
bad:
		if (t->bad < UINT8_MAX)
			t->bad++;
		i += olen;
	}
	return PKT_OK;
}

static enum pkt_err parse_tcp(const uint8_t *t, size_t len, struct pkt_info *out)
{
	if (len < TCP_HLEN)
		return PKT_ETRUNC;
	size_t doff = (size_t)(t[12] >> 4) * 4;
	if (doff < TCP_HLEN || doff > len)
		return PKT_EDOFF;
	out->sport = rd16(t);
	out->dport = rd16(t + 2);
	out->seq = rd32(t + 4);
	out->ack = rd32(t + 8);
	out->flags = t[13];
	out->win = rd16(t + 14);
	out->payload_len = (uint16_t)(len - doff); /* len <= 65535 - 20 */
	return parse_opts(t + TCP_HLEN, doff - TCP_HLEN, &out->opts);
}

/* The quoted segment of an ICMP error: RFC 792 only promises its first 8
 * bytes (ports and seq); ack, flags and window only if the router sent more. */
static enum pkt_err parse_quote(const uint8_t *b, size_t len, uint8_t family,
				struct pkt_info *out)
{
	struct pkt_info q;
	struct l4 l4;

	memset(&q, 0, sizeof(q));
	if (parse_ip(b, len, true, &q, &l4) != PKT_OK || q.family != family)
		return PKT_EICMP;
	if (l4.proto != IPPROTO_TCP)
		return PKT_EPROTO;
	const uint8_t *t = l4.p;
	if (l4.len < 8)
		return PKT_EICMP;
	out->src = q.src;
	out->dst = q.dst;
	out->sport = rd16(t);
	out->dport = rd16(t + 2);
	out->seq = rd32(t + 4);
	if (l4.len >= 12)
		out->ack = rd32(t + 8);
	if (l4.len >= 14)
		out->flags = t[13];
	if (l4.len >= 16)
		out->win = rd16(t + 14);
	return PKT_OK;
}

static enum pkt_err parse_icmp(const uint8_t *p, size_t len, bool v6, struct pkt_info *out)
{
	if (len < ICMP_HLEN)
		return PKT_ETRUNC;
	uint8_t type = p[0], code = p[1];
	if (v6) {
		switch (type) {
		case 1: /* destination unreachable */
		case 3: /* time exceeded */
			break;
		case 2: /* packet too big, RFC 4443 section 3.2 */
			out->icmp_mtu = rd32(p + 4);
			break;
		default:
			return PKT_EICMP;
		}
	} else {
		switch (type) {
		case 3: /* destination unreachable */
			if (code == 4) /* frag needed: RFC 1191 next-hop MTU */
				out->icmp_mtu = rd16(p + 6);
			break;
		case 11: /* time exceeded */
			break;
		default:
			return PKT_EICMP;
		}
	}
	out->is_icmp = true;
	out->icmp_type = type;
	out->icmp_code = code;
	out->icmp_from = out->src;
	return parse_quote(p + ICMP_HLEN, len - ICMP_HLEN, out->family, out);
}

enum pkt_err pkt_parse(const uint8_t *buf, size_t len, struct pkt_info *out)
{
	struct l4 l4;
	enum pkt_err e;

	memset(out, 0, sizeof(*out));
	if ((e = parse_ip(buf, len, false, out, &l4)) != PKT_OK)
		return e;
	switch (l4.proto) {
	case IPPROTO_TCP:
		return parse_tcp(l4.p, l4.len, out);
	case IPPROTO_ICMP:
		if (out->family != AF_INET)
			return PKT_EPROTO;
		return parse_icmp(l4.p, l4.len, false, out);
	case IPPROTO_ICMPV6:
		if (out->family != AF_INET6)
			return PKT_EPROTO;
		return parse_icmp(l4.p, l4.len, true, out);
	default:
		return PKT_EPROTO;
	}
}

const char *pkt_err_str(enum pkt_err e)
{
	switch (e) {
	case PKT_OK:
		return "ok";
	case PKT_ETRUNC:
		return "truncated";
	case PKT_EVERSION:
		return "bad IP version";
	case PKT_EIHL:
		return "bad IPv4 header length";
	case PKT_ELEN:
		return "bad IP length";
	case PKT_EFRAG:
		return "fragment";
	case PKT_EPROTO:
		return "not TCP";
	case PKT_EDOFF:
		return "bad TCP data offset";
	case PKT_EOPT:
		return "bad TCP options";
	case PKT_EEXTHDR:
		return "bad IPv6 extension header";
	case PKT_EICMP:
		return "unhandled ICMP";
	}
	return "unknown";
}

/* ---- building --------------------------------------------------------- */

struct pkt_builder {
	libnet_t *l;
	char err[LIBNET_ERRBUF_SIZE];
};

struct pkt_builder *pkt_builder_new(char *errbuf, size_t errlen)
{
	char lerr[LIBNET_ERRBUF_SIZE] = "";
	struct pkt_builder *b = calloc(1, sizeof(*b));

	if (b == NULL) {
		if (errlen)
			snprintf(errbuf, errlen, "pkt_builder_new: out of memory");
		return NULL;
	}
	/* LIBNET_NONE opens no socket and needs no privilege. */
	if ((b->l = libnet_init(LIBNET_NONE, NULL, lerr)) == NULL) {
		if (errlen)
			snprintf(errbuf, errlen, "libnet_init: %s", lerr);
		free(b);
		return NULL;
	}
	return b;
}

void pkt_builder_free(struct pkt_builder *b)
{
	if (b == NULL)
		return;
	libnet_destroy(b->l);
	free(b);
}

const char *pkt_builder_error(const struct pkt_builder *b)
{
	return b->err;
}

/*
 * Linux's tcp_options_write() layout, so a probe looks like a Linux client:
 *   MSS, SACK-permitted, TS, NOP, wscale   (sack and timestamps)
 *   MSS, NOP, NOP, TS, NOP, wscale         (timestamps only)
 *   MSS, NOP, NOP, SACK-permitted, NOP, wscale (sack only)
 *   MSS, NOP, wscale                       (neither)
 * Every option is individually omitted; the result is already a multiple of
 * 4, the NOP pad at the end only guards future additions.
 */
static size_t syn_opts_write(const struct pkt_syn_opts *s, uint32_t tsval, uint32_t tsecr,
			     uint8_t *o)
{
	size_t n = 0;

	if (s->mss) {
		o[n++] = OPT_MSS;
		o[n++] = 4;
		o[n++] = (uint8_t)(s->mss >> 8);
		o[n++] = (uint8_t)s->mss;
	}
	if (s->timestamps) {
		if (s->sack_ok) {
			o[n++] = OPT_SACK_OK;
			o[n++] = 2;
		} else {
			o[n++] = OPT_NOP;
			o[n++] = OPT_NOP;
		}
		o[n++] = OPT_TS;
		o[n++] = 10;
		for (int i = 24; i >= 0; i -= 8)
			o[n++] = (uint8_t)(tsval >> i);
		for (int i = 24; i >= 0; i -= 8)
			o[n++] = (uint8_t)(tsecr >> i);
	} else if (s->sack_ok) {
		o[n++] = OPT_NOP;
		o[n++] = OPT_NOP;
		o[n++] = OPT_SACK_OK;
		o[n++] = 2;
	}
	if (s->wscale >= 0) {
		o[n++] = OPT_NOP;
		o[n++] = OPT_WSCALE;
		o[n++] = 3;
		o[n++] = (uint8_t)s->wscale;
	}
	while (n % 4)
		o[n++] = OPT_NOP;
	return n;
}

static size_t ts_opt_write(uint32_t tsval, uint32_t tsecr, uint8_t *o)
{
	struct pkt_syn_opts s = { .timestamps = true, .wscale = -1 };
	return syn_opts_write(&s, tsval, tsecr, o); /* NOP, NOP, TS */
}

/* The options of a segment that is not a SYN: an IPv6 stamped segment
 * starts them with four NOPs (see pkt_out.stamp), then NOP NOP TS if ts. */
static size_t other_opts_write(const struct pkt_out *o, uint8_t *opt)
{
	size_t n = 0;
	if (o->stamp && o->src.family == AF_INET6) {
		for (; n < 4; n++)
			opt[n] = OPT_NOP; /* PKT_OPT_STAMP */
	}
	if (o->ts)
		n += ts_opt_write(o->tsval, o->tsecr, opt + n);
	return n;
}

static ssize_t build_fail(struct pkt_builder *b, const char *what)
{
	snprintf(b->err, sizeof(b->err), "%s: %s", what, libnet_geterror(b->l));
	return -1;
}

ssize_t pkt_build(struct pkt_builder *b, const struct pkt_out *o, uint8_t *buf, size_t cap)
{
	uint8_t opt[TCP_OPT_MAX];
	size_t optlen = 0;
	bool v6 = o->src.family == AF_INET6;
	libnet_t *l = b->l;

	b->err[0] = '\0';
	if (o->src.family != o->dst.family || (!v6 && o->src.family != AF_INET)) {
		snprintf(b->err, sizeof(b->err), "pkt_build: bad address family %u/%u",
			 o->src.family, o->dst.family);
		return -1;
	}
	if (o->payload_len && o->payload == NULL) {
		snprintf(b->err, sizeof(b->err), "pkt_build: payload_len %u without payload",
			 o->payload_len);
		return -1;
	}
	if ((o->flags & PKT_SYN) && o->syn_opts)
		optlen = syn_opts_write(o->syn_opts, o->tsval, o->tsecr, opt);
	else
		optlen = other_opts_write(o, opt);

	size_t tcplen = TCP_HLEN + optlen + o->payload_len;
	size_t iplen = (v6 ? IP6_HLEN : IP4_HLEN) + tcplen;
	if (iplen > cap || (v6 ? tcplen : iplen) > UINT16_MAX) {
		snprintf(b->err, sizeof(b->err), "pkt_build: %zu-byte packet does not fit in %zu",
			 iplen, cap);
		return -1;
	}

	/*
	 * libnet wants the pblocks innermost first: options, TCP (which sets
	 * its data offset from the options pblock), then IP. Checksums are
	 * left 0 so libnet fills them in at coalesce time, TCP's with the v4
	 * or v6 pseudo-header.
	 */
	libnet_clear_packet(l);
	if (optlen && libnet_build_tcp_options(opt, (uint32_t)optlen, l, 0) == -1)
		return build_fail(b, "libnet_build_tcp_options");
	if (libnet_build_tcp(o->sport, o->dport, o->seq, o->ack, o->flags, o->win, 0, 0,
			     (uint16_t)tcplen, o->payload_len ? o->payload : NULL, o->payload_len,
			     l, 0) == -1)
		return build_fail(b, "libnet_build_tcp");
	uint8_t ttl = o->ttl ? o->ttl : 64;
	if (v6) {
		struct libnet_in6_addr s, d;
		memcpy(&s, o->src.a, 16);
		memcpy(&d, o->dst.a, 16);
		if (libnet_build_ipv6(o->tos, o->flowlabel & 0xfffff, (uint16_t)tcplen, IPPROTO_TCP, ttl, s, d, NULL, 0,
				      l, 0) == -1)
			return build_fail(b, "libnet_build_ipv6");
	} else {
		uint32_t s, d;
		memcpy(&s, o->src.a, 4);
		memcpy(&d, o->dst.a, 4);
		/* DF as Linux sets it (PMTU discovery); the ID only needs to
		 * vary, and the ISN already does. */
		uint16_t id = o->stamp ? PKT_IPID_STAMP : (uint16_t)(o->seq ^ o->seq >> 16);
		if (libnet_build_ipv4((uint16_t)iplen, o->tos, id, IP_DF, ttl, IPPROTO_TCP, 0, s, d,
				      NULL, 0, l, 0) == -1)
			return build_fail(b, "libnet_build_ipv4");
	}

	/*
	 * libnet_adv_cull_packet() refuses LIBNET_NONE in 1.1.6 ("advanced link
	 * mode not enabled"), so take the bytes from libnet_pblock_coalesce(),
	 * which the adv functions call themselves. It is exported but marked
	 * internal: it returns a malloc()ed copy with checksums written, and
	 * with LIBNET_NONE the link aligner is 0, so the pointer is free()able.
	 */
	uint8_t *pkt = NULL;
	uint32_t n = 0;
	if (libnet_pblock_coalesce(l, &pkt, &n) == -1)
		return build_fail(b, "libnet_pblock_coalesce");
	if (n != iplen) {
		snprintf(b->err, sizeof(b->err), "pkt_build: libnet made %u bytes, expected %zu",
			 n, iplen);
		free(pkt);
		return -1;
	}
	memcpy(buf, pkt, n);
	free(pkt);
	return (ssize_t)n;
}

/* ---- writing without libnet -------------------------------------------- */

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* RFC 1071 one's-complement sum of n bytes, big-endian words, unfolded. */
static uint64_t csum_add(uint64_t s, const uint8_t *p, size_t n)
{
	for (; n >= 2; p += 2, n -= 2)
		s += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t csum_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/*
 * pkt_build without libnet: per segment, libnet allocates a pblock per
 * header and a copy at coalesce time, which was most of the user-space
 * cost of a probe. The layout is the one pkt_build produces, field for
 * field; test_packet.c compares the two byte for byte.
 */
ssize_t pkt_write(const struct pkt_out *o, uint8_t *buf, size_t cap)
{
	bool v6 = o->src.family == AF_INET6;
	if (o->src.family != o->dst.family || (!v6 && o->src.family != AF_INET))
		return -1;
	if (o->payload_len && o->payload == NULL)
		return -1;
	size_t hl = v6 ? IP6_HLEN : IP4_HLEN;
	uint8_t *t = buf + hl;
	size_t optlen = 0;
	if (cap < hl + TCP_HLEN + TCP_OPT_MAX)
		return -1;
	if ((o->flags & PKT_SYN) && o->syn_opts)
		optlen = syn_opts_write(o->syn_opts, o->tsval, o->tsecr, t + TCP_HLEN);
	else
		optlen = other_opts_write(o, t + TCP_HLEN);
	size_t tcplen = TCP_HLEN + optlen + o->payload_len;
	size_t iplen = hl + tcplen;
	if (iplen > cap || (v6 ? tcplen : iplen) > UINT16_MAX)
		return -1;
	if (o->payload_len)
		memcpy(t + TCP_HLEN + optlen, o->payload, o->payload_len);

	uint8_t ttl = o->ttl ? o->ttl : 64;
	uint64_t ps; /* pseudo-header sum: RFC 9293 3.1 / RFC 8200 8.1 */
	if (v6) {
		wr32(buf, 6u << 28 | (uint32_t)o->tos << 20 | (o->flowlabel & 0xfffff));
		wr16(buf + 4, (uint16_t)tcplen);
		buf[6] = IPPROTO_TCP;
		buf[7] = ttl;
		memcpy(buf + 8, o->src.a, 16);
		memcpy(buf + 24, o->dst.a, 16);
		ps = csum_add(0, buf + 8, 32);
	} else {
		buf[0] = 0x45;
		buf[1] = o->tos;
		wr16(buf + 2, (uint16_t)iplen);
		wr16(buf + 4, o->stamp ? PKT_IPID_STAMP : (uint16_t)(o->seq ^ o->seq >> 16)); /* as pkt_build */
		wr16(buf + 6, 0x4000);                            /* DF */
		buf[8] = ttl;
		buf[9] = IPPROTO_TCP;
		wr16(buf + 10, 0);
		memcpy(buf + 12, o->src.a, 4);
		memcpy(buf + 16, o->dst.a, 4);
		wr16(buf + 10, csum_fold(csum_add(0, buf, IP4_HLEN)));
		ps = csum_add(0, buf + 12, 8);
	}
	ps += IPPROTO_TCP + tcplen;

	wr16(t, o->sport);
	wr16(t + 2, o->dport);
	wr32(t + 4, o->seq);
	wr32(t + 8, o->ack);
	t[12] = (uint8_t)(((TCP_HLEN + optlen) / 4) << 4);
	t[13] = o->flags;
	wr16(t + 14, o->win);
	wr16(t + 16, 0);
	wr16(t + 18, 0); /* urgent pointer */
	wr16(t + 16, csum_fold(csum_add(ps, t, tcplen)));
	return (ssize_t)iplen;
}

/* ---- formatting ------------------------------------------------------- */

const char *pkt_flags_str(uint8_t flags, char *buf, size_t len)
{
	/* tcpdump's tcp_flag_values[], in bit order: F S R P . U E W */
	static const char names[] = "FSRP.UEW";
	size_t n = 0;

	if (len == 0)
		return buf;
	if (flags == 0) {
		snprintf(buf, len, "none");
		return buf;
	}
	for (int i = 0; i < 8 && n + 1 < len; i++)
		if (flags & (1u << i))
			buf[n++] = names[i];
	buf[n] = '\0';
	return buf;
}

const char *pkt_addr_str(const struct pkt_addr *a, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    inet_ntop(a->family, a->a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

bool pkt_addr_eq(const struct pkt_addr *x, const struct pkt_addr *y)
{
	if (x->family != y->family)
		return false;
	return memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}
