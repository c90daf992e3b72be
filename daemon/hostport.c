#include "hostport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int hostport_split(const char *arg, char *host, size_t hostlen, uint16_t *port, char *err,
		   size_t errlen)
{
	const char *colon = strrchr(arg, ':');
	const char *ps = NULL;
	int n;
	if (arg[0] == '[') {
		const char *rb = strchr(arg, ']');
		if (!rb || (rb[1] && rb[1] != ':'))
			goto bad;
		n = snprintf(host, hostlen, "%.*s", (int)(rb - arg - 1), arg + 1);
		ps = rb[1] == ':' ? rb + 2 : NULL;
	} else if (colon && strchr(arg, ':') == colon) {
		n = snprintf(host, hostlen, "%.*s", (int)(colon - arg), arg);
		ps = colon + 1;
	} else {
		n = snprintf(host, hostlen, "%s", arg);
	}
	if (!host[0] || n < 0 || (size_t)n >= hostlen)
		goto bad;
	if (ps) {
		char *end;
		unsigned long v = strtoul(ps, &end, 10);
		if (!*ps || *end || v < 1 || v > 65535 || *ps == '-' || *ps == '+')
			goto bad;
		*port = (uint16_t)v;
	}
	return 0;
bad:
	snprintf(err, errlen, "'%s' is not HOST[:PORT] (IPv6 as [ADDR]:PORT)", arg);
	return -1;
}

int hostport_resolve(const char *host, int family, struct pkt_addr *out, char *err, size_t errlen)
{
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
