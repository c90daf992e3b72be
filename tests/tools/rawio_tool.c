/* rawio_tool: drives rawio and rstguard from the namespace-lab tests
 * (tests/integration/rawio.sh).
 *
 *   rawio_tool [-m MARK] guard-install LO HI
 *   rawio_tool guard-remove LO HI
 *   rawio_tool guard-present LO HI           exit 0 if present, 1 if not
 *   rawio_tool [-m MARK] [-w MS] [-t TTL] syn|fin|rst SRC DST SPORT DPORT
 *   rawio_tool [-m MARK] [-w MS] burst N SRC DST BADDST SPORT DPORT
 *   rawio_tool listen LO HI SECONDS
 *
 * listen prints frames for at most SECONDS, one line each as it comes, and
 * stops early at SIGTERM after reading what is queued (the test stops it
 * once the last frame it waits for arrived: no fixed listening time).
 * syn, fin (FIN/ACK) and rst send one segment built by pkt_build, with TTL
 * (hop limit) 64 or -t's, marked with -m's mark (default RSTGUARD_MARK, 0
 * for none), then print every frame rawio delivers for MS milliseconds
 * (default 1000), one per line:
 *   in|out TS_NS LEN PROTO SPORT DPORT FLAGS IFINDEX
 * PROTO is tcp, icmp:TYPE / icmp6:TYPE (ports and flags then those of the
 * quoted segment, flags "-"), udp, or ipN. The frame is decoded here, not
 * with pkt_parse, so that whatever the kernel filter lets through shows up,
 * parseable or not. A last line "stats tx=N txerr=N rx=N drops=N badcsum=N".
 *
 * burst queues N SYNs from ports SPORT, SPORT+1, ... with every odd one
 * addressed to BADDST (meant to be unroutable, so that send fails), to check
 * batching (several sendmmsg batches) and that a failed packet is counted
 * and the rest of its batch still goes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "isn.h"
#include "log.h"
#include "packet.h"
#include "rawio.h"
#include "rstguard.h"

static uint32_t opt_mark = RSTGUARD_MARK;
static int opt_wait_ms = 1000;
static uint8_t opt_ttl = 64;
static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static _Noreturn void usage(void)
{
	fprintf(stderr,
		"usage: rawio_tool [-m MARK] guard-install LO HI | guard-remove LO HI | guard-present LO HI\n"
		"       rawio_tool [-m MARK] [-w MS] [-t TTL] syn|fin|rst SRC DST SPORT DPORT\n"
		"       rawio_tool [-m MARK] [-w MS] burst N SRC DST BADDST SPORT DPORT\n"
		"       rawio_tool listen LO HI SECONDS\n");
	exit(2);
}

static int parse_u16(const char *s, uint16_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int parse_addr(const char *s, struct pkt_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->a) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->a) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return -1;
}

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static uint64_t real_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Just enough decoding to print a line; every read is bounds-checked. */
static void print_frame(void *arg, const struct rawio_frame *f)
{
	const uint8_t *p = f->data;
	size_t len = f->len;
	char proto[16] = "?";
	unsigned sport = 0, dport = 0;
	char flags[12] = "-";
	size_t l4 = 0;
	unsigned ipproto = 256;

	if (len >= 20 && p[0] >> 4 == 4) {
		l4 = (size_t)(p[0] & 0x0f) * 4;
		ipproto = p[9];
	} else if (len >= 40 && p[0] >> 4 == 6) {
		l4 = 40;
		ipproto = p[6];
	}
	if (ipproto == IPPROTO_TCP || ipproto == IPPROTO_UDP) {
		snprintf(proto, sizeof(proto), ipproto == IPPROTO_TCP ? "tcp" : "udp");
		if (len >= l4 + 4) {
			sport = rd16(p + l4);
			dport = rd16(p + l4 + 2);
		}
		if (ipproto == IPPROTO_TCP && len >= l4 + 14)
			pkt_flags_str(p[l4 + 13], flags, sizeof(flags));
	} else if ((ipproto == IPPROTO_ICMP || ipproto == IPPROTO_ICMPV6) && len >= l4 + 8) {
		bool v6 = ipproto == IPPROTO_ICMPV6;
		snprintf(proto, sizeof(proto), "%s:%u", v6 ? "icmp6" : "icmp", p[l4]);
		size_t q = l4 + 8, ql4 = 0;
		if (!v6 && len >= q + 20)
			ql4 = q + (size_t)(p[q] & 0x0f) * 4;
		else if (v6 && len >= q + 40)
			ql4 = q + 40;
		if (ql4 && len >= ql4 + 4) {
			sport = rd16(p + ql4);
			dport = rd16(p + ql4 + 2);
		}
	} else if (ipproto < 256) {
		snprintf(proto, sizeof(proto), "ip%u", ipproto);
	}
	printf("%s %llu %zu %s %u %u %s %d\n", f->outgoing ? "out" : "in",
	       (unsigned long long)f->ts_ns, f->len, proto, sport, dport, flags, f->ifindex);
	fflush(stdout);
}

/* Print frames for ms milliseconds; bounded by the clock. */
static int pump(struct rawio *r, int ms)
{
	uint64_t end = mono_ms() + (uint64_t)ms;
	for (uint64_t now = mono_ms(); now < end && !stop_flag; now = mono_ms()) {
		struct pollfd p = { .fd = rawio_fd(r), .events = POLLIN };
		int n = poll(&p, 1, (int)(end - now));
		if (n < 0 && errno != EINTR) {
			perror("poll");
			return -1;
		}
		if (n > 0 && rawio_recv(r, print_frame, NULL, 256) < 0)
			return -1;
	}
	return 0;
}

static void print_stats(struct rawio *r)
{
	struct rawio_stats s;
	rawio_stats(r, &s);
	printf("stats tx=%llu txerr=%llu rx=%llu drops=%llu badcsum=%llu\n",
	       (unsigned long long)s.tx_packets, (unsigned long long)s.tx_errors,
	       (unsigned long long)s.rx_packets, (unsigned long long)s.rx_kernel_drops,
	       (unsigned long long)s.rx_bad_csum);
}

static int cmd_guard_install(int argc, char **argv)
{
	uint16_t lo, hi;
	char err[256];
	if (argc != 3 || parse_u16(argv[1], &lo) || parse_u16(argv[2], &hi))
		usage();
	if (rstguard_install(lo, hi, opt_mark, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_guard_remove(int argc, char **argv)
{
	uint16_t lo, hi;
	char err[256];
	if (argc != 3 || parse_u16(argv[1], &lo) || parse_u16(argv[2], &hi))
		usage();
	if (rstguard_remove(lo, hi, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_guard_present(int argc, char **argv)
{
	uint16_t lo, hi;
	if (argc != 3 || parse_u16(argv[1], &lo) || parse_u16(argv[2], &hi))
		usage();
	bool p = rstguard_present(lo, hi);
	printf("%s\n", p ? "present" : "absent");
	return p ? 0 : 1;
}

/* syn or rst: one segment out, then the frames that come back. */
static int cmd_send(int argc, char **argv, uint8_t flags)
{
	struct pkt_addr src, dst;
	uint16_t sport, dport;
	char err[256];
	if (argc != 5 || parse_addr(argv[1], &src) || parse_addr(argv[2], &dst) ||
	    parse_u16(argv[3], &sport) || parse_u16(argv[4], &dport) || src.family != dst.family)
		usage();

	struct rawio *r = rawio_open(sport, sport, opt_mark, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct pkt_builder *b = pkt_builder_new(err, sizeof(err));
	if (!b) {
		fprintf(stderr, "%s\n", err);
		rawio_close(r);
		return 1;
	}
	isn_init();
	struct pkt_syn_opts so = { .mss = 1460, .wscale = 7, .sack_ok = true, .timestamps = true };
	struct pkt_out o = {
		.src = src, .dst = dst, .sport = sport, .dport = dport,
		.seq = isn_make(&src, sport, &dst, dport, real_ns()),
		.flags = flags, .win = 64240, .ttl = opt_ttl,
		.syn_opts = flags & PKT_SYN ? &so : NULL,
		.tsval = 1, .tsecr = 0,
	};
	uint8_t pkt[PKT_MAX_LEN];
	ssize_t n = pkt_build(b, &o, pkt, sizeof(pkt));
	int rc = 1;
	if (n < 0) {
		fprintf(stderr, "pkt_build: %s\n", pkt_builder_error(b));
		goto out;
	}
	if (rawio_send(r, pkt, (size_t)n, &dst) < 0 || rawio_flush(r) < 0)
		goto out;
	if (pump(r, opt_wait_ms) < 0)
		goto out;
	print_stats(r);
	rc = 0;
out:
	pkt_builder_free(b);
	rawio_close(r);
	return rc;
}

static int cmd_burst(int argc, char **argv)
{
	struct pkt_addr src, dst, bad;
	uint16_t n, sport, dport;
	char err[256];
	if (argc != 7 || parse_u16(argv[1], &n) || parse_addr(argv[2], &src) ||
	    parse_addr(argv[3], &dst) || parse_addr(argv[4], &bad) || parse_u16(argv[5], &sport) ||
	    parse_u16(argv[6], &dport) || n == 0 || sport + n - 1 > 65535 ||
	    src.family != dst.family || src.family != bad.family)
		usage();

	struct rawio *r = rawio_open(sport, (uint16_t)(sport + n - 1), opt_mark, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct pkt_builder *b = pkt_builder_new(err, sizeof(err));
	if (!b) {
		fprintf(stderr, "%s\n", err);
		rawio_close(r);
		return 1;
	}
	isn_init();
	int rc = 1;
	for (unsigned i = 0; i < n; i++) {
		const struct pkt_addr *to = i % 2 ? &bad : &dst;
		uint16_t sp = (uint16_t)(sport + i);
		struct pkt_out o = {
			.src = src, .dst = *to, .sport = sp, .dport = dport,
			.seq = isn_make(&src, sp, to, dport, real_ns()),
			.flags = PKT_SYN, .win = 64240, .ttl = opt_ttl,
		};
		uint8_t pkt[PKT_MAX_LEN];
		ssize_t len = pkt_build(b, &o, pkt, sizeof(pkt));
		if (len < 0) {
			fprintf(stderr, "pkt_build: %s\n", pkt_builder_error(b));
			goto out;
		}
		if (rawio_send(r, pkt, (size_t)len, to) < 0)
			goto out;
	}
	if (rawio_flush(r) < 0 || pump(r, opt_wait_ms) < 0)
		goto out;
	print_stats(r);
	rc = 0;
out:
	pkt_builder_free(b);
	rawio_close(r);
	return rc;
}

static int cmd_listen(int argc, char **argv)
{
	uint16_t lo, hi, secs;
	char err[256];
	if (argc != 4 || parse_u16(argv[1], &lo) || parse_u16(argv[2], &hi) || parse_u16(argv[3], &secs))
		usage();
	struct rawio *r = rawio_open(lo, hi, opt_mark, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_term }; /* no SA_RESTART: poll returns */
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Tell a waiting script that the socket is open and filtered. */
	printf("listening\n");
	int rc = pump(r, secs * 1000) < 0;
	if (stop_flag) { /* what is queued already arrived: read it */
		stop_flag = 0;
		rc |= pump(r, 0) < 0;
		for (struct pollfd p = { .fd = rawio_fd(r), .events = POLLIN };
		     !rc && poll(&p, 1, 0) > 0;)
			rc |= rawio_recv(r, print_frame, NULL, 256) < 0;
	}
	print_stats(r);
	rawio_close(r);
	return rc;
}

int main(int argc, char **argv)
{
	log_init("rawio_tool", LOG_LVL_WARN);
	int c;
	while ((c = getopt(argc, argv, "+m:w:t:")) != -1) {
		switch (c) {
		case 'm':
			opt_mark = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 't':
			opt_ttl = (uint8_t)atoi(optarg);
			break;
		case 'w':
			opt_wait_ms = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (!strcmp(argv[0], "guard-install"))
		return cmd_guard_install(argc, argv);
	if (!strcmp(argv[0], "guard-remove"))
		return cmd_guard_remove(argc, argv);
	if (!strcmp(argv[0], "guard-present"))
		return cmd_guard_present(argc, argv);
	if (!strcmp(argv[0], "syn"))
		return cmd_send(argc, argv, PKT_SYN);
	if (!strcmp(argv[0], "fin"))
		return cmd_send(argc, argv, PKT_FIN | PKT_ACK);
	if (!strcmp(argv[0], "rst"))
		return cmd_send(argc, argv, PKT_RST);
	if (!strcmp(argv[0], "burst"))
		return cmd_burst(argc, argv);
	if (!strcmp(argv[0], "listen"))
		return cmd_listen(argc, argv);
	usage();
}
