/* connect_epoll.c: the handshake-throughput baseline. What a careful
 * kernel-socket prober does: N non-blocking connect()s in flight, each
 * completion seen through epoll, then close() with SO_LINGER 0 (a RST, no
 * TIME_WAIT), and a new connect() in its place.
 *
 *   connect_epoll -n INFLIGHT -d SECONDS -a A.B.C.D -c NADDR -p LO-HI
 *
 * Destinations cycle through NADDR consecutive IPv4 addresses from A.B.C.D
 * and the ports LO..HI. Prints one JSON line: completed (handshakes that
 * succeeded), failed, seconds, per_s. Runs at most SECONDS (<= 600). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct dst {
	uint32_t base; /* host order */
	unsigned naddr, plo, pn;
	unsigned long long next;
};

static int start_one(int ep, struct dst *d)
{
	unsigned long long i = d->next++;
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)(d->plo + (unsigned)(i / d->naddr % d->pn))),
		.sin_addr.s_addr = htonl(d->base + (uint32_t)(i % d->naddr)),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLOUT, .data.fd = fd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned inflight = 256;
	double secs = 3;
	struct dst d = { .naddr = 1, .plo = 0, .pn = 1 };
	int c;
	while ((c = getopt(argc, argv, "n:d:a:c:p:")) != -1) {
		switch (c) {
		case 'n':
			inflight = (unsigned)atoi(optarg);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 'a': {
			struct in_addr ia;
			if (inet_pton(AF_INET, optarg, &ia) != 1)
				return 2;
			d.base = ntohl(ia.s_addr);
			break;
		}
		case 'c':
			d.naddr = (unsigned)atoi(optarg);
			break;
		case 'p': {
			unsigned lo, hi;
			if (sscanf(optarg, "%u-%u", &lo, &hi) != 2 || !lo || hi < lo || hi > 65535)
				return 2;
			d.plo = lo;
			d.pn = hi - lo + 1;
			break;
		}
		default:
			return 2;
		}
	}
	if (!d.base || !d.plo || !d.naddr || !inflight || inflight > 100000 || secs <= 0 ||
	    secs > 600) {
		fprintf(stderr, "usage: connect_epoll -n INFLIGHT -d SECONDS -a ADDR -c NADDR -p LO-HI\n");
		return 2;
	}
	struct rlimit rl = { inflight + 64, inflight + 64 };
	setrlimit(RLIMIT_NOFILE, &rl);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return 1;
	unsigned live = 0;
	unsigned long long ok = 0, failed = 0;
	double t0 = now_s(), t_end = t0 + secs;
	for (; live < inflight; live++)
		if (start_one(ep, &d) < 0)
			break;
	struct epoll_event evs[512];
	while (now_s() < t_end) {
		int n = epoll_wait(ep, evs, 512, 100);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd, err = 0;
			socklen_t el = sizeof(err);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (err || (evs[i].events & (EPOLLERR | EPOLLHUP)))
				failed++;
			else
				ok++;
			close(fd); /* SO_LINGER 0: RST */
			live--;
		}
		while (live < inflight && start_one(ep, &d) == 0)
			live++;
	}
	double el = now_s() - t0;
	printf("{\"completed\":%llu,\"failed\":%llu,\"seconds\":%.6f,\"per_s\":%.1f}\n", ok, failed, el,
	       (double)ok / el);
	return 0;
}
