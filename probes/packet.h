/*
 * packet.h: the TCP/IP codec. Builds outbound segments (with libnet) and
 * parses inbound IPv4/IPv6 TCP segments and ICMP/ICMPv6 errors into one small
 * struct. Nothing else in tcpprobe touches raw packet bytes.
 */
#ifndef TCPPROBE_PACKET_H
#define TCPPROBE_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* TCP flag bits, as on the wire. */
#define PKT_FIN 0x01
#define PKT_SYN 0x02
#define PKT_RST 0x04
#define PKT_PSH 0x08
#define PKT_ACK 0x10
#define PKT_URG 0x20
#define PKT_ECE 0x40
#define PKT_CWR 0x80

/* The IPv4 ID that marks a pure ACK of ours whose wire time we want
 * (daemon/rawio.c's filter passes outgoing pure ACKs carrying it). With DF
 * set the ID identifies nothing (RFC 6864), so a constant is harmless. */
#define PKT_IPID_STAMP 0x7470
/* IPv6 has no ID: there the marked ACK's options start with four NOPs (the
 * word below), which no segment of ours has otherwise (SYNs start with MSS,
 * the rest with NOP NOP TS or nothing). NOPs change nothing for the peer or
 * the path; a flow label or traffic class would (ECMP hashing, QoS). */
#define PKT_OPT_STAMP 0x01010101u

#define PKT_MAX_LEN 2048 /* largest segment we build or parse into buffers */

/* An IPv4 or IPv6 address; IPv4 lives in the first 4 bytes of a. */
struct pkt_addr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t a[16];
};

/* TCP options we understand. has_* say whether the option was present. */
#define PKT_OPT_KINDS 12 /* option kinds recorded in order (NOPs included) */
struct pkt_tcp_opts {
	bool has_mss, has_wscale, has_ts, sack_ok;
	uint8_t wscale;
	uint8_t bad;     /* known options with a wrong length, skipped */
	uint8_t len;     /* bytes of option space before EOL (or the header's end) */
	uint8_t nops;    /* NOP bytes among them */
	uint8_t nkinds;  /* kinds[] entries: every option's kind in order, NOPs too */
	uint8_t kinds[PKT_OPT_KINDS];
	uint16_t mss;
	uint32_t tsval, tsecr;
};

/* One received frame, parsed. For an ICMP error, the addresses, ports, seq
 * and flags are those of the *quoted* segment (which we sent: src is us), and
 * icmp_from is the router or host that sent the error. */
struct pkt_info {
	uint8_t family;
	uint8_t ttl;      /* TTL / hop limit of the received IP header */
	uint8_t tos;      /* TOS / traffic class */
	uint8_t flags;    /* TCP flags */
	bool df;          /* IPv4: don't fragment set (IPv6: false) */
	bool is_icmp;
	uint8_t icmp_type, icmp_code;
	uint16_t sport, dport;
	uint16_t win;
	uint16_t payload_len;
	uint32_t seq, ack;
	uint32_t icmp_mtu; /* packet too big / frag needed, else 0 */
	struct pkt_addr src, dst;
	struct pkt_addr icmp_from;
	struct pkt_tcp_opts opts;
};

enum pkt_err {
	PKT_OK = 0,
	PKT_ETRUNC,    /* buffer shorter than a header claims */
	PKT_EVERSION,  /* IP version neither 4 nor 6 */
	PKT_EIHL,      /* IPv4 header length below 20 or past the packet */
	PKT_ELEN,      /* IP total/payload length inconsistent with buffer */
	PKT_EFRAG,     /* non-first fragment or fragmented: cannot hold TCP */
	PKT_EPROTO,    /* neither TCP nor an ICMP error we handle */
	PKT_EDOFF,     /* TCP data offset below 5 or past the packet */
	PKT_EOPT,      /* TCP options malformed: overrun, zero length */
	PKT_EEXTHDR,   /* bad IPv6 extension header chain */
	PKT_EICMP,     /* ICMP type we do not handle, or bad quote */
};

/* Parse buf (starting at the IP header) of len bytes. Returns PKT_OK or a
 * pkt_err; never reads outside [buf, buf+len). */
enum pkt_err pkt_parse(const uint8_t *buf, size_t len, struct pkt_info *out);
const char *pkt_err_str(enum pkt_err e);

/* The options a SYN carries, each settable. */
struct pkt_syn_opts {
	uint16_t mss;     /* 0 = omit */
	int8_t wscale;    /* -1 = omit */
	bool sack_ok;
	bool timestamps;
};

/* One segment to build. */
struct pkt_out {
	struct pkt_addr src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint8_t ttl;      /* TTL / hop limit; 0 means 64 */
	uint8_t tos;      /* TOS / traffic class */
	uint32_t flowlabel; /* IPv6 flow label (20 bits); 0: none */
	uint16_t win;
	/* Options: for SYN segments the syn_opts (if non-NULL) are encoded in
	 * Linux's order (MSS, SACK-permitted, timestamps, NOP, wscale). On other
	 * segments, ts says whether a timestamps option (NOP NOP TS) is added. */
	const struct pkt_syn_opts *syn_opts;
	bool ts;
	uint32_t tsval, tsecr;
	/* Mark this (pure ACK, not SYN) segment so the capture socket's filter
	 * passes it back to be timestamped: IPv4 carries PKT_IPID_STAMP as
	 * the IP ID, IPv6 starts the options with PKT_OPT_STAMP. */
	bool stamp;
	const uint8_t *payload;
	uint16_t payload_len;
};

struct pkt_builder; /* wraps a libnet context (LIBNET_NONE), reused */

struct pkt_builder *pkt_builder_new(char *errbuf, size_t errlen);
void pkt_builder_free(struct pkt_builder *b);
/* Build the whole IP packet into buf. Returns its length, or -1 with
 * errbuf set if it does not fit or libnet fails. Checksums are filled. */
ssize_t pkt_build(struct pkt_builder *b, const struct pkt_out *o, uint8_t *buf,
		  size_t cap);
const char *pkt_builder_error(const struct pkt_builder *b);

/* The same bytes as pkt_build, written directly: no libnet, no allocation.
 * This is the send path; pkt_build stays the reference that test_packet
 * compares it with byte for byte. cap must leave room for the largest
 * options (TCP header + 40). Returns the length, or -1 (bad address
 * family, payload_len without payload, does not fit). */
ssize_t pkt_write(const struct pkt_out *o, uint8_t *buf, size_t cap);

/* "S", "S.", "F.", "R.", "P." ...: tcpdump's notation. buf >= 10 bytes. */
const char *pkt_flags_str(uint8_t flags, char *buf, size_t len);
/* Format an address without port. buf >= 46 bytes. */
const char *pkt_addr_str(const struct pkt_addr *a, char *buf, size_t len);
bool pkt_addr_eq(const struct pkt_addr *x, const struct pkt_addr *y);

#endif
