/*
 * fuzz_packet.c: pkt_parse() on arbitrary bytes. libFuzzer hands us a heap
 * buffer of exactly the input's size, so ASan sees any read past the end.
 *
 * Besides "no crash", checks what the rest of tcpprobe relies on: a parsed
 * segment's lengths fit in the frame, addresses carry the frame's family,
 * option values are clamped, the error has a name; and for a parsed TCP
 * segment, that building it again with pkt_build() and parsing the result
 * gives back the same header fields (the codec agrees with itself), and that
 * pkt_write() (the send path, no libnet) writes exactly pkt_build()'s bytes.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "packet.h"
#include "fuzz.h"

static struct pkt_builder *builder;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	if ((builder = pkt_builder_new(err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_packet: %s\n", err);
		abort();
	}
	return 0;
}

static void check_strings(const struct pkt_info *pi)
{
	char a[64], f[16];

	CHECK(strlen(pkt_addr_str(&pi->src, a, sizeof(a))) < 46);
	CHECK(strlen(pkt_addr_str(&pi->dst, a, sizeof(a))) < 46);
	CHECK(strlen(pkt_flags_str(pi->flags, f, 10)) < 10);
}

/* Build the segment pi describes and parse it back. */
static void roundtrip(const struct pkt_info *pi, const uint8_t *payload)
{
	static uint8_t buf[PKT_MAX_LEN], buf2[PKT_MAX_LEN];
	struct pkt_syn_opts so = {
		.mss = pi->opts.has_mss ? pi->opts.mss : 0,
		.wscale = pi->opts.has_wscale ? (int8_t)pi->opts.wscale : -1,
		.sack_ok = pi->opts.sack_ok,
		.timestamps = pi->opts.has_ts,
	};
	struct pkt_out o = {
		.src = pi->src, .dst = pi->dst, .sport = pi->sport, .dport = pi->dport,
		.seq = pi->seq, .ack = pi->ack, .flags = pi->flags, .ttl = pi->ttl,
		.tos = pi->tos, .win = pi->win, .syn_opts = &so, .ts = pi->opts.has_ts,
		.tsval = pi->opts.tsval, .tsecr = pi->opts.tsecr,
		.payload = payload, .payload_len = pi->payload_len,
	};
	struct pkt_info b;

	ssize_t n = pkt_build(builder, &o, buf, sizeof(buf));
	/* The send path writes the same bytes without libnet. */
	ssize_t n2 = pkt_write(&o, buf2, sizeof(buf2));
	if (n < 0) {
		/* The only acceptable failure: it does not fit our buffer. */
		CHECK(strstr(pkt_builder_error(builder), "does not fit") != NULL);
		CHECK(n2 < 0);
		return;
	}
	CHECK(n2 == n && memcmp(buf, buf2, (size_t)n) == 0);
	CHECK(n > 0 && (size_t)n <= sizeof(buf));
	CHECK(pkt_parse(buf, (size_t)n, &b) == PKT_OK);
	CHECK(!b.is_icmp && b.family == pi->family);
	CHECK(pkt_addr_eq(&b.src, &pi->src) && pkt_addr_eq(&b.dst, &pi->dst));
	CHECK(b.sport == pi->sport && b.dport == pi->dport);
	CHECK(b.seq == pi->seq && b.ack == pi->ack && b.flags == pi->flags);
	CHECK(b.win == pi->win && b.payload_len == pi->payload_len);
	CHECK(b.ttl == (pi->ttl ? pi->ttl : 64) && b.tos == pi->tos);
	CHECK(b.opts.bad == 0);
	CHECK(b.opts.has_ts == pi->opts.has_ts);
	if (b.opts.has_ts)
		CHECK(b.opts.tsval == pi->opts.tsval && b.opts.tsecr == pi->opts.tsecr);
	if (pi->flags & PKT_SYN) {
		CHECK(b.opts.has_mss == (so.mss != 0));
		if (so.mss)
			CHECK(b.opts.mss == so.mss);
		CHECK(b.opts.has_wscale == pi->opts.has_wscale);
		if (b.opts.has_wscale)
			CHECK(b.opts.wscale == pi->opts.wscale);
		CHECK(b.opts.sack_ok == pi->opts.sack_ok);
	}
	if (b.payload_len)
		CHECK(memcmp(buf + n - b.payload_len, payload, b.payload_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_info pi;
	enum pkt_err e = pkt_parse(data, size, &pi);

	CHECK(strcmp(pkt_err_str(e), "unknown") != 0);
	if (e != PKT_OK)
		return 0;

	size_t iph = pi.family == AF_INET ? 20 : 40;
	CHECK(pi.family == AF_INET || pi.family == AF_INET6);
	CHECK(size >= iph);
	CHECK(pi.src.family == pi.family && pi.dst.family == pi.family);
	CHECK(!pi.opts.has_wscale || pi.opts.wscale <= 14);
	check_strings(&pi);
	if (pi.is_icmp) {
		/* An error quoting one of our segments, from a router. */
		CHECK(pi.icmp_from.family == pi.family);
		CHECK(size >= iph + 8 + iph + 8);
		if (pi.family == AF_INET)
			CHECK(pi.icmp_type == 3 || pi.icmp_type == 11);
		else
			CHECK(pi.icmp_type >= 1 && pi.icmp_type <= 3);
		CHECK(pi.payload_len == 0 && pi.opts.bad == 0 && !pi.opts.has_ts);
		return 0;
	}
	CHECK(pi.icmp_mtu == 0 && pi.icmp_type == 0);
	/* IP header, TCP header, then the payload, all inside the frame. */
	CHECK((size_t)pi.payload_len + iph + 20 <= size);
	/* The payload is the last payload_len bytes of the IP packet, whose
	 * end is the IP length field (trailing bytes are link padding). */
	size_t end = pi.family == AF_INET ? (size_t)(data[2] << 8 | data[3])
					  : 40 + (size_t)(data[4] << 8 | data[5]);
	CHECK(end <= size && end >= (size_t)pi.payload_len + iph + 20);
	roundtrip(&pi, data + end - pi.payload_len);
	return 0;
}
