/* hostport.h: a host as typed (split from its port by config_parse_hostport)
 * to an address: literals and name resolution. Used by `probe`, `ctl
 * add/probe` and the config targets. */
#ifndef TCPPROBE_HOSTPORT_H
#define TCPPROBE_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

#include "packet.h"

/* An address literal (full addresses only, see config_parse_address; the
 * zone of "fe80::1%IFNAME" as *ifindex, else 0): 1, 0 for a name, -1 with
 * err. No lookup. */
int hostport_literal(const char *host, struct pkt_addr *out, unsigned *ifindex, char *err,
		     size_t errlen);
/* family: 0 any, 4, 6. An address literal (hostport_literal), else the
 * first address getaddrinfo returns (blocking: the `probe` command only),
 * taking "fe80::1%IFNAME" too: *ifindex is the zone's interface (0
 * without one; engine_source_addr_scoped says a link-local one needs it).
 * Returns 0, or with err set -1 (the name does not resolve) or
 * HOSTPORT_BAD_ARG (what was typed is wrong: not a full address, not of
 * family, a zone missing or naming no interface: a usage error). */
#define HOSTPORT_BAD_ARG (-2)
int hostport_resolve_scoped(const char *host, int family, struct pkt_addr *out,
			    unsigned *ifindex, char *err, size_t errlen);

#endif
