/* flood: bounded packet floods for the daemon's load and fault tests
 * (tests/integration/load.sh, faults.sh). Runs in the lab's server
 * namespace and sends raw IPv4/IPv6 packets to the client's addresses.
 *
 *   flood [-m MODE] [-r PPS] [-d SECONDS] [-n COUNT] -p LO-HI
 *         -c CLIENT [-c CLIENT...] -s SOURCE [-s SOURCE...] [-P PORT[-PORT]]
 *
 * -p is the daemon's source-port range. Modes:
 *   unrelated  (default) traffic the daemon must never see: TCP SYN, ACK and
 *              RST to ports outside LO-HI, ICMP/ICMPv6 echo requests, and
 *              ICMP errors (unreachable, time exceeded) quoting TCP from
 *              ports outside LO-HI or UDP; from SOURCE, any port
 *   icmp       ICMP/ICMPv6 port-unreachable errors quoting a TCP segment
 *              CLIENT:(a port in LO-HI) -> SOURCE:PORT with a random
 *              sequence number (spoofed errors aimed at live probes)
 *   rst        TCP RSTs SOURCE:PORT -> CLIENT:(a port in LO-HI) with random
 *              sequence numbers (blind reset attack, RFC 5961 section 3)
 * Each packet goes to the next CLIENT in turn, from a SOURCE of the same
 * family. Stops after COUNT packets or SECONDS, whichever comes first (both
 * bounded: defaults 100000 and 10); paced to PPS (default 10000). Prints
 *   sent=N tcp=N icmp=N v4=N v6=N errors=N seconds=S pps=R
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

#define BATCH 64
#define MAXADDR 16
#define PKTMAX 128

enum mode { M_UNRELATED, M_ICMP, M_RST };

struct addr {
	int family;
	uint8_t a[16];
};

static struct addr clients[MAXADDR], sources[MAXADDR];
static unsigned nclients, nsources;
static uint16_t lo, hi, plo = 80, phi = 80;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t n_tcp, n_icmp, n_v4, n_v6;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: flood [-m unrelated|icmp|rst] [-r PPS] [-d SECONDS] [-n COUNT] -p LO-HI\n"
			"             -c CLIENT [-c ...] -s SOURCE [-s ...] [-P PORT[-PORT]]\n");
	exit(2);
}

static int parse_range(const char *s, uint16_t *a, uint16_t *b)
{
	char *end;
	unsigned long x = strtoul(s, &end, 10), y = x;
	if (*end == '-')
		y = strtoul(end + 1, &end, 10);
	if (*end || !x || x > y || y > 65535)
		return -1;
	*a = (uint16_t)x;
	*b = (uint16_t)y;
	return 0;
}

static int parse_addr(const char *s, struct addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->a) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, s, out->a) == 1)
		out->family = AF_INET6;
	else
		return -1;
	return 0;
}

/* ---- checksums and headers ---- */

static uint32_t sum16(const void *p, size_t n, uint32_t s)
{
	const uint8_t *b = p;
	for (; n > 1; n -= 2, b += 2)
		s += (uint32_t)b[0] << 8 | b[1];
	if (n)
		s += (uint32_t)b[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

/* L4 checksum at l4[off] with the pseudo-header (ICMPv4: none). */
static void l4_csum(const struct addr *s, const struct addr *d, uint8_t proto, uint8_t *l4,
		    size_t len, size_t off, int pseudo)
{
	uint32_t acc = 0;
	l4[off] = l4[off + 1] = 0;
	if (pseudo) {
		size_t al = s->family == AF_INET ? 4 : 16;
		acc = sum16(s->a, al, acc);
		acc = sum16(d->a, al, acc);
		acc += proto;
		acc += (uint32_t)len;
	}
	put16(l4 + off, fold(sum16(l4, len, acc)));
}

/* IP header for s -> d carrying len bytes of proto; returns its length. */
static size_t ip_hdr(uint8_t *p, const struct addr *s, const struct addr *d, uint8_t proto,
		     size_t len)
{
	if (s->family == AF_INET) {
		memset(p, 0, 20);
		p[0] = 0x45;
		put16(p + 2, (uint16_t)(20 + len));
		put16(p + 4, (uint16_t)rnd());
		p[8] = 64;
		p[9] = proto;
		memcpy(p + 12, s->a, 4);
		memcpy(p + 16, d->a, 4);
		put16(p + 10, fold(sum16(p, 20, 0)));
		return 20;
	}
	memset(p, 0, 40);
	p[0] = 0x60;
	put16(p + 4, (uint16_t)len);
	p[6] = proto;
	p[7] = 64;
	memcpy(p + 8, s->a, 16);
	memcpy(p + 24, d->a, 16);
	return 40;
}

static size_t tcp_seg(uint8_t *l4, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		      uint8_t flags)
{
	memset(l4, 0, 20);
	put16(l4, sport);
	put16(l4 + 2, dport);
	put32(l4 + 4, seq);
	put32(l4 + 8, ack);
	l4[12] = 5 << 4;
	l4[13] = flags;
	put16(l4 + 14, 64240);
	return 20;
}

/* A port outside [lo, hi]. */
static uint16_t port_outside(void)
{
	unsigned span = 65535u - (unsigned)(hi - lo + 1);
	unsigned r = rnd() % span + 1;
	return (uint16_t)(r < lo ? r : r + (hi - lo + 1));
}

static uint16_t port_inside(void) { return (uint16_t)(lo + rnd() % (unsigned)(hi - lo + 1)); }
static uint16_t peer_port(void) { return (uint16_t)(plo + rnd() % (unsigned)(phi - plo + 1)); }

/* An ICMP error from s to d quoting a packet d -> s (TCP sport:dport seq,
 * or UDP when udp). */
static size_t icmp_error(uint8_t *p, const struct addr *s, const struct addr *d, uint8_t type,
			 uint8_t code, int udp, uint16_t sport, uint16_t dport, uint32_t seq)
{
	int v4 = s->family == AF_INET;
	uint8_t q[60 + 20];
	size_t qh = ip_hdr(q, d, s, udp ? IPPROTO_UDP : IPPROTO_TCP, udp ? 8 : 20);
	if (udp) {
		put16(q + qh, sport);
		put16(q + qh + 2, dport);
		put16(q + qh + 4, 8);
		put16(q + qh + 6, 0);
	} else {
		tcp_seg(q + qh, sport, dport, seq, 0, 0x02);
	}
	size_t qlen = qh + (udp ? 8 : 20);
	size_t len = 8 + qlen;
	size_t h = ip_hdr(p, s, d, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, len);
	uint8_t *l4 = p + h;
	memset(l4, 0, 8);
	l4[0] = type;
	l4[1] = code;
	memcpy(l4 + 8, q, qlen);
	l4_csum(s, d, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, l4, len, 2, !v4);
	n_icmp++;
	return h + len;
}

static size_t make_unrelated(uint8_t *p, const struct addr *s, const struct addr *d, unsigned k)
{
	int v4 = s->family == AF_INET;
	switch (k % 6) {
	case 0: case 1: case 2: { /* SYN, ACK, RST to a port outside the range */
		static const uint8_t fl[3] = { 0x02, 0x10, 0x04 };
		size_t h = ip_hdr(p, s, d, IPPROTO_TCP, 20);
		tcp_seg(p + h, (uint16_t)(1 + rnd() % 65535), port_outside(), rnd(), rnd(), fl[k % 6]);
		l4_csum(s, d, IPPROTO_TCP, p + h, 20, 16, 1);
		n_tcp++;
		return h + 20;
	}
	case 3: { /* echo request */
		size_t len = 8 + 32;
		size_t h = ip_hdr(p, s, d, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, len);
		uint8_t *l4 = p + h;
		memset(l4, 0xa5, len);
		l4[0] = v4 ? 8 : 128;
		l4[1] = 0;
		put16(l4 + 4, (uint16_t)rnd());
		put16(l4 + 6, (uint16_t)k);
		l4_csum(s, d, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, l4, len, 2, !v4);
		n_icmp++;
		return h + len;
	}
	case 4: /* port unreachable quoting TCP from a port outside the range */
		return icmp_error(p, s, d, v4 ? 3 : 1, v4 ? 3 : 4, 0, port_outside(), peer_port(), rnd());
	default: /* time exceeded quoting UDP from a port inside the range */
		return icmp_error(p, s, d, v4 ? 11 : 3, 0, 1, port_inside(), 53, 0);
	}
}

int main(int argc, char **argv)
{
	enum mode mode = M_UNRELATED;
	double pps = 10000, secs = 10;
	unsigned long long count = 100000;
	int c;
	while ((c = getopt(argc, argv, "m:r:d:n:p:c:s:P:")) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "unrelated"))
				mode = M_UNRELATED;
			else if (!strcmp(optarg, "icmp"))
				mode = M_ICMP;
			else if (!strcmp(optarg, "rst"))
				mode = M_RST;
			else
				usage();
			break;
		case 'r':
			pps = atof(optarg);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 'n':
			count = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			if (parse_range(optarg, &lo, &hi) < 0)
				usage();
			break;
		case 'P':
			if (parse_range(optarg, &plo, &phi) < 0)
				usage();
			break;
		case 'c':
			if (nclients == MAXADDR || parse_addr(optarg, &clients[nclients++]) < 0)
				usage();
			break;
		case 's':
			if (nsources == MAXADDR || parse_addr(optarg, &sources[nsources++]) < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	/* Bounded by construction: at most 10 minutes and 100 M packets. */
	if (!lo || !nclients || !nsources || pps <= 0 || pps > 1e7 || secs <= 0 || secs > 600 ||
	    !count || count > 100000000ULL)
		usage();
	rng ^= (uint64_t)getpid() << 32 ^ now_ns();

	int fd4 = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	int fd6 = socket(AF_INET6, SOCK_RAW, IPPROTO_RAW);
	int one = 1;
	if (fd4 < 0 || fd6 < 0 || setsockopt(fd6, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one)) < 0) {
		perror("flood: raw socket");
		return 1;
	}
	/* Sources per family, to pair with each client. */
	const struct addr *src_of[2][MAXADDR];
	unsigned nsrc[2] = { 0, 0 };
	for (unsigned i = 0; i < nsources; i++) {
		int f = sources[i].family == AF_INET6;
		src_of[f][nsrc[f]++] = &sources[i];
	}
	for (unsigned i = 0; i < nclients; i++) {
		if (!nsrc[clients[i].family == AF_INET6]) {
			fprintf(stderr, "flood: no source address of the family of client %u\n", i);
			return 2;
		}
	}

	static uint8_t buf[BATCH][PKTMAX];
	uint64_t sent = 0, errors = 0, k = 0;
	uint64_t t0 = now_ns(), limit = (uint64_t)(secs * 1e9);
	while (sent < count) {
		uint64_t el = now_ns() - t0;
		if (el >= limit)
			break;
		/* Pace: the batch may start once its first packet is due. */
		uint64_t due = (uint64_t)((double)sent * 1e9 / pps);
		if (due > el) {
			uint64_t w = due - el;
			struct timespec ts = { (time_t)(w / 1000000000ULL), (long)(w % 1000000000ULL) };
			nanosleep(&ts, NULL);
			continue;
		}
		unsigned n = (unsigned)(count - sent < BATCH ? count - sent : BATCH);
		for (unsigned i = 0; i < n; i++, k++) {
			const struct addr *d = &clients[k % nclients];
			int f = d->family == AF_INET6;
			const struct addr *s = src_of[f][(k / nclients) % nsrc[f]];
			size_t len;
			if (mode == M_UNRELATED) {
				len = make_unrelated(buf[i], s, d, (unsigned)(k / nclients));
			} else if (mode == M_ICMP) {
				len = icmp_error(buf[i], s, d, f ? 1 : 3, f ? 4 : 3, 0, port_inside(),
						 peer_port(), rnd());
			} else {
				size_t h = ip_hdr(buf[i], s, d, IPPROTO_TCP, 20);
				tcp_seg(buf[i] + h, peer_port(), port_inside(), rnd(), 0, 0x04);
				l4_csum(s, d, IPPROTO_TCP, buf[i] + h, 20, 16, 1);
				n_tcp++;
				len = h + 20;
			}
			union {
				struct sockaddr_in s4;
				struct sockaddr_in6 s6;
			} to;
			memset(&to, 0, sizeof(to));
			int rc;
			if (!f) {
				to.s4.sin_family = AF_INET;
				memcpy(&to.s4.sin_addr, d->a, 4);
				rc = (int)sendto(fd4, buf[i], len, 0, (struct sockaddr *)&to.s4, sizeof(to.s4));
				n_v4++;
			} else {
				to.s6.sin6_family = AF_INET6;
				memcpy(&to.s6.sin6_addr, d->a, 16);
				rc = (int)sendto(fd6, buf[i], len, 0, (struct sockaddr *)&to.s6, sizeof(to.s6));
				n_v6++;
			}
			if (rc < 0)
				errors++;
			sent++;
		}
	}
	double el = (double)(now_ns() - t0) / 1e9;
	printf("sent=%llu tcp=%llu icmp=%llu v4=%llu v6=%llu errors=%llu seconds=%.3f pps=%.0f\n",
	       (unsigned long long)sent, (unsigned long long)n_tcp, (unsigned long long)n_icmp,
	       (unsigned long long)n_v4, (unsigned long long)n_v6, (unsigned long long)errors, el,
	       el > 0 ? (double)sent / el : 0.0);
	close(fd4);
	close(fd6);
	return 0;
}
