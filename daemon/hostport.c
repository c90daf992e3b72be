#include "hostport.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"

/* "fd31::2:80" is the address fd31::2:80, but more likely fd31::2 port 80:
 * a bare IPv6 address whose last group is a decimal number and whose head
 * is an address by itself is refused instead of guessed. */
static bool v6_ambiguous(const char *arg, char *head, size_t headlen, const char **port)
{
	unsigned char tmp[16];
	const char *colon = strrchr(arg, ':');
	size_t n = (size_t)(colon - arg);
	if (!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) || n >= headlen)
		return false;
	memcpy(head, arg, n);
	head[n] = '\0';
	*port = colon + 1;
	return inet_pton(AF_INET6, head, tmp) == 1;
}

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
		char head[INET6_ADDRSTRLEN + 1];
		const char *p;
		if (colon && v6_ambiguous(arg, head, sizeof(head), &p)) {
			snprintf(err, errlen, "'%s' is ambiguous: write [%s]:%s for port %s of %s, or "
				 "[%s] for the address", arg, head, p, p, head, arg);
			return -1;
		}
		n = snprintf(host, hostlen, "%s", arg);
	}
	if (!host[0] || n < 0 || (size_t)n >= hostlen)
		goto bad;
	if (ps) {
		char why[160];
		if (config_parse_port(ps, port, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "'%s': port %s", arg, why);
			return -1;
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "'%s' is not HOST[:PORT] (IPv6 as [ADDR]:PORT)", arg);
	return -1;
}

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
