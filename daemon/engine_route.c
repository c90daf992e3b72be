/* engine_route.c: the local address the kernel would send from to reach
 * a destination, asked of the routing table through a connected UDP
 * socket (nothing is sent). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"

int engine_source_addr_scoped(const struct pkt_addr *dst, unsigned ifindex, struct pkt_addr *src,
			      char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (dst->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(9);
		memcpy(&s4->sin_addr, dst->a, 4);
		sl = sizeof(*s4);
	} else {
		if (dst->a[0] == 0xfe && (dst->a[1] & 0xc0) == 0x80 && !ifindex) {
			char a[64];
			pkt_addr_str(dst, a, sizeof(a));
			snprintf(err, errlen, "%s is link-local: name its interface, as in %s%%eth0", a, a);
			return -1;
		}
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(9);
		s6->sin6_scope_id = ifindex;
		memcpy(&s6->sin6_addr, dst->a, 16);
		sl = sizeof(*s6);
	}
	/* One UDP socket per family, kept and connected again for each lookup:
	 * a daemon loading 100,000 targets looks up 100,000 routes, and
	 * socket()+close() was most of that. */
	static int fds[2] = { -1, -1 };
	int *fd = &fds[dst->family == AF_INET6];
	if (*fd < 0 && (*fd = socket(dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* connect() on UDP only looks up the route; nothing is sent. */
	if (connect(*fd, (struct sockaddr *)&ss, sl) < 0) {
		char a[64];
		snprintf(err, errlen, "no route to %s: %s", pkt_addr_str(dst, a, sizeof(a)),
			 strerror(errno));
		/* A failed connect() may leave the old association: start afresh. */
		close(*fd);
		*fd = -1;
		return -1;
	}
	sl = sizeof(ss);
	if (getsockname(*fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		close(*fd);
		*fd = -1;
		return -1;
	}
	memset(src, 0, sizeof(*src));
	src->family = dst->family;
	if (dst->family == AF_INET)
		memcpy(src->a, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else
		memcpy(src->a, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	return 0;
}
