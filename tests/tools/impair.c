/*
 * impair: a lab link impairer. This kernel has no netem, so the lab's
 * "middle" namespace bridges its two veths (A toward the client, B toward the
 * server) through this program: every frame read on one AF_PACKET socket is
 * written to the other, after the impairments chosen for its direction:
 *
 *   impair IF_A IF_B [--seed N] [--dir a2b|b2a|both] [--delay MS] [--loss PCT]
 *          [--dup PCT] [--dup-gap US] [--reorder PCT] [--reorder-gap MS] ...
 *
 * --dir picks the direction(s) the options after it apply to (default both).
 * --delay holds every frame MS milliseconds; --loss drops PCT percent;
 * --dup sends PCT percent twice, the copy US microseconds after the original
 * (default 0: back to back, what a duplicating link does); --reorder holds PCT
 * percent for an extra --reorder-gap MS (default 1) so that frames behind it
 * overtake it. Decisions come from a seeded xorshift generator, one stream
 * per direction, so a seed replays the same decisions for the same frames.
 *
 * Bounds: at most QMAX frames wait at once (more are dropped and counted),
 * frames up to 64 KiB. On SIGTERM/SIGINT it prints one line of counters per
 * direction to stderr and exits 0. "ready" on stdout once both sockets are
 * bound. Only for the lab: it forwards everything, ARP and ND included, and
 * impairs only IPv4/IPv6 frames.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QMAX 4096
#define FRAME_MAX 65536

struct dir_cfg {
	uint64_t delay_ns, dup_gap_ns, reorder_gap_ns;
	unsigned loss, dup, reorder; /* percent */
	uint64_t rng;
	/* counters */
	uint64_t in, lost, duped, reordered, out, overflow;
};

struct qent {
	uint64_t due;
	uint64_t order; /* FIFO among equal due times */
	int to;         /* output socket index */
	size_t len;
	unsigned char *buf;
};

static struct qent q[QMAX];
static unsigned qn;
static uint64_t qorder;
static volatile sig_atomic_t stop;

static void on_sig(int sig) { (void)sig; stop = 1; }

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned rnd100(struct dir_cfg *d)
{
	uint64_t x = d->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	d->rng = x;
	return (unsigned)(x % 100);
}

static int open_if(const char *name, int *ifindex)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
	int one = 1, fd;

	*ifindex = (int)if_nametoindex(name);
	if (*ifindex == 0) {
		fprintf(stderr, "impair: interface %s: %s\n", name, strerror(errno));
		return -1;
	}
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		fprintf(stderr, "impair: socket: %s\n", strerror(errno));
		return -1;
	}
	sll.sll_ifindex = *ifindex;
	mr.mr_ifindex = *ifindex;
	/* Our own writes must not come back as input. */
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
		fprintf(stderr, "impair: %s: %s\n", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int enqueue(struct dir_cfg *d, int to, const unsigned char *buf, size_t len, uint64_t due)
{
	if (qn >= QMAX) {
		d->overflow++;
		return -1;
	}
	q[qn].buf = malloc(len);
	if (q[qn].buf == NULL) {
		d->overflow++;
		return -1;
	}
	memcpy(q[qn].buf, buf, len);
	q[qn].len = len;
	q[qn].to = to;
	q[qn].due = due;
	q[qn].order = qorder++;
	qn++;
	return 0;
}

static int earliest(void)
{
	int best = -1;

	for (unsigned i = 0; i < qn; i++)
		if (best < 0 || q[i].due < q[best].due ||
		    (q[i].due == q[best].due && q[i].order < q[best].order))
			best = (int)i;
	return best;
}

static int is_ip(const unsigned char *buf, size_t len)
{
	uint16_t et;

	if (len < 14)
		return 0;
	et = (uint16_t)(buf[12] << 8 | buf[13]);
	return et == ETH_P_IP || et == ETH_P_IPV6;
}

static void frame_in(struct dir_cfg *d, int to, const unsigned char *buf, size_t len)
{
	uint64_t t = now_ns(), due;

	d->in++;
	if (!is_ip(buf, len)) {
		enqueue(d, to, buf, len, t);
		return;
	}
	if (d->loss && rnd100(d) < d->loss) {
		d->lost++;
		return;
	}
	due = t + d->delay_ns;
	if (d->reorder && rnd100(d) < d->reorder) {
		d->reordered++;
		due += d->reorder_gap_ns;
	}
	enqueue(d, to, buf, len, due);
	if (d->dup && rnd100(d) < d->dup) {
		d->duped++;
		enqueue(d, to, buf, len, due + d->dup_gap_ns);
	}
}

static int parse_uint(const char *opt, const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || errno || *v > max) {
		fprintf(stderr, "impair: %s: '%s' is not a number 0..%lu\n", opt, s, max);
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: impair IF_A IF_B [--seed N] [--dir a2b|b2a|both] [--delay MS]\n"
		"       [--loss PCT] [--dup PCT] [--dup-gap US] [--reorder PCT] [--reorder-gap MS] ...\n");
}

int main(int argc, char **argv)
{
	static unsigned char buf[FRAME_MAX];
	struct dir_cfg d[2] = { { .reorder_gap_ns = 1000000 }, { .reorder_gap_ns = 1000000 } };
	int fd[2], ifx[2];
	unsigned long seed = 1, v;
	bool sel[2] = { true, true };
	struct sigaction sa = { .sa_handler = on_sig };

	if (argc < 3) {
		usage();
		return 2;
	}
	for (int i = 3; i < argc; i += 2) {
		const char *o = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL;

		if (a == NULL) {
			fprintf(stderr, "impair: %s needs a value\n", o);
			return 2;
		}
		if (strcmp(o, "--dir") == 0) {
			sel[0] = strcmp(a, "a2b") == 0 || strcmp(a, "both") == 0;
			sel[1] = strcmp(a, "b2a") == 0 || strcmp(a, "both") == 0;
			if (!sel[0] && !sel[1]) {
				fprintf(stderr, "impair: --dir: '%s' is not a2b, b2a or both\n", a);
				return 2;
			}
			continue;
		}
		if (strcmp(o, "--seed") == 0) {
			if (parse_uint(o, a, ~0ul, &seed) < 0)
				return 2;
			continue;
		}
		if (parse_uint(o, a, strstr(o, "gap") || strcmp(o, "--delay") == 0 ? 60000000 : 100,
			       &v) < 0)
			return 2;
		for (int k = 0; k < 2; k++) {
			if (!sel[k])
				continue;
			if (strcmp(o, "--delay") == 0)
				d[k].delay_ns = v * 1000000ull;
			else if (strcmp(o, "--loss") == 0)
				d[k].loss = (unsigned)v;
			else if (strcmp(o, "--dup") == 0)
				d[k].dup = (unsigned)v;
			else if (strcmp(o, "--dup-gap") == 0)
				d[k].dup_gap_ns = v * 1000ull;
			else if (strcmp(o, "--reorder") == 0)
				d[k].reorder = (unsigned)v;
			else if (strcmp(o, "--reorder-gap") == 0)
				d[k].reorder_gap_ns = v * 1000000ull;
			else {
				fprintf(stderr, "impair: unknown option %s\n", o);
				usage();
				return 2;
			}
		}
	}
	/* xorshift must not start at 0; two distinct streams. */
	d[0].rng = seed * 2654435761ull + 1;
	d[1].rng = seed * 40503ull + 0x9e3779b97f4a7c15ull;
	fd[0] = open_if(argv[1], &ifx[0]);
	fd[1] = fd[0] < 0 ? -1 : open_if(argv[2], &ifx[1]);
	if (fd[0] < 0 || fd[1] < 0)
		return 1;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("ready\n");
	fflush(stdout);

	while (!stop) {
		struct pollfd p[2] = { { .fd = fd[0], .events = POLLIN }, { .fd = fd[1], .events = POLLIN } };
		int e = earliest(), timeout = -1;
		uint64_t t = now_ns();

		if (e >= 0)
			timeout = q[e].due <= t ? 0 : (int)((q[e].due - t + 999999) / 1000000);
		if (poll(p, 2, timeout) < 0 && errno != EINTR) {
			fprintf(stderr, "impair: poll: %s\n", strerror(errno));
			return 1;
		}
		for (int k = 0; k < 2; k++) {
			/* Drain what is there (bounded: at most 256 frames per pass). */
			for (int n = 0; n < 256 && (p[k].revents & POLLIN); n++) {
				ssize_t len = recv(fd[k], buf, sizeof(buf), MSG_DONTWAIT);

				if (len <= 0)
					break;
				frame_in(&d[k], 1 - k, buf, (size_t)len);
			}
		}
		t = now_ns();
		while ((e = earliest()) >= 0 && q[e].due <= t) {
			struct sockaddr_ll to = { .sll_family = AF_PACKET,
				.sll_ifindex = ifx[q[e].to], .sll_halen = 6 };

			memcpy(to.sll_addr, q[e].buf, 6);
			if (sendto(fd[q[e].to], q[e].buf, q[e].len, 0, (struct sockaddr *)&to,
				   sizeof(to)) == (ssize_t)q[e].len)
				d[1 - q[e].to].out++;
			free(q[e].buf);
			q[e] = q[--qn];
		}
	}
	while (qn > 0)
		free(q[--qn].buf);
	for (int k = 0; k < 2; k++)
		fprintf(stderr, "impair %s: in %llu lost %llu duplicated %llu reordered %llu out %llu "
			"overflow %llu\n", k == 0 ? "a2b" : "b2a",
			(unsigned long long)d[k].in, (unsigned long long)d[k].lost,
			(unsigned long long)d[k].duped, (unsigned long long)d[k].reordered,
			(unsigned long long)d[k].out, (unsigned long long)d[k].overflow);
	return 0;
}
