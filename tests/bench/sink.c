/* sink.c: the benchmarks' TCP server, run in the lab's server namespace.
 *
 * One epoll loop; listeners on PORT_LO..PORT_HI of every address ([::],
 * dual-stack, so the AnyIP prefixes answer too); each connection is
 * accepted, read to EOF (or RST) and closed. The lab's Python servers do
 * the same, but at tens of thousands of connections a second the server
 * program, not the prober, would be what the benchmark measures.
 *
 *   sink PORT_LO PORT_HI OWNER_PID MAX_SECONDS
 *
 * Prints "ready" once listening. Exits on SIGTERM/SIGINT, after
 * MAX_SECONDS, or when OWNER_PID is gone, so a killed benchmark cannot
 * leak it. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTEN 64
#define EVENTS 512

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: sink PORT_LO PORT_HI OWNER_PID MAX_SECONDS\n");
		return 2;
	}
	int lo = atoi(argv[1]), hi = atoi(argv[2]);
	pid_t owner = (pid_t)atoi(argv[3]);
	double max_s = atof(argv[4]);
	if (lo < 1 || hi < lo || hi > 65535 || hi - lo + 1 > MAX_LISTEN || max_s <= 0) {
		fprintf(stderr, "sink: bad arguments\n");
		return 2;
	}
	struct rlimit rl = { 1 << 20, 1 << 20 };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		rl.rlim_cur = rl.rlim_max = 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	signal(SIGPIPE, SIG_IGN);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("epoll_create1");
		return 1;
	}
	int nl = 0, lfd[MAX_LISTEN];
	for (int p = lo; p <= hi; p++) {
		int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int zero = 0, one = 1;
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)p),
					  .sin6_addr = IN6ADDR_ANY_INIT };
		if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 65535) < 0) {
			fprintf(stderr, "sink: port %d: %s\n", p, strerror(errno));
			return 1;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)fd | 1ULL << 32 };
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		lfd[nl++] = fd;
	}
	printf("ready\n");
	fflush(stdout);
	double t_end = now_s() + max_s;
	unsigned long long accepted = 0;
	struct epoll_event evs[EVENTS];
	char buf[4096];
	while (!stop) {
		int n = epoll_wait(ep, evs, EVENTS, 200);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			int fd = (int)(uint32_t)evs[i].data.u64;
			if (evs[i].data.u64 >> 32) {
				/* A bounded accept burst per wake-up keeps reads flowing. */
				for (int k = 0; k < 256; k++) {
					int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (c < 0)
						break;
					accepted++;
					struct epoll_event ce = { .events = EPOLLIN | EPOLLRDHUP,
								  .data.u64 = (uint64_t)c };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce) < 0)
						close(c);
				}
				continue;
			}
			ssize_t r;
			int reads = 0;
			while ((r = read(fd, buf, sizeof(buf))) > 0 && ++reads < 16)
				;
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				close(fd); /* EOF or RST: closing also leaves the epoll set */
		}
		static unsigned tick;
		if (++tick % 64 == 0 || n == 0) {
			if (now_s() > t_end || (owner > 0 && kill(owner, 0) < 0 && errno == ESRCH))
				break;
		}
	}
	for (int i = 0; i < nl; i++)
		close(lfd[i]);
	fprintf(stderr, "sink: %llu connections accepted\n", accepted);
	return 0;
}
