#include "hostport.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"

int hostport_literal(const char *host, struct pkt_addr *out, unsigned *ifindex, char *err,
		     size_t errlen)
{
	char zone[IF_NAMESIZE];
	struct pkt_addr a;
	if (ifindex)
		*ifindex = 0;
	int lit = config_parse_address(host, &a, zone, sizeof(zone), err, errlen);
	if (lit <= 0)
		return lit;
	if (zone[0]) {
		unsigned idx = if_nametoindex(zone);
		if (!idx) {
			snprintf(err, errlen, "%s: no interface '%s' here", host, zone);
			return -1;
		}
		if (!ifindex) {
			snprintf(err, errlen, "%s: a zone is not supported here", host);
			return -1;
		}
		*ifindex = idx;
	}
	*out = a;
	return 1;
}

int hostport_resolve_scoped(const char *host, int family, struct pkt_addr *out,
			    unsigned *ifindex, char *err, size_t errlen)
{
	struct pkt_addr a;
	int lit = hostport_literal(host, &a, ifindex, err, errlen);
	if (lit < 0)
		return HOSTPORT_BAD_ARG;
	if (lit) {
		int want = family == 4 ? AF_INET : family == 6 ? AF_INET6 : 0;
		if (want && a.family != want) {
			snprintf(err, errlen, "%s is an %s address, not %s", host,
				 a.family == AF_INET ? "IPv4" : "IPv6", want == AF_INET ? "IPv4" : "IPv6");
			return HOSTPORT_BAD_ARG;
		}
		*out = a;
		return 0;
	}
	struct addrinfo hints = { .ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)res->ai_family;
	if (res->ai_family == AF_INET)
		memcpy(out->a, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
	else
		memcpy(out->a, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, 16);
	freeaddrinfo(res);
	return 0;
}
