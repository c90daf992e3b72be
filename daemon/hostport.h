/* hostport.h: "HOST", "HOST:PORT", "[V6]:PORT" or a bare IPv6 address, and
 * name resolution. Used by `probe`, `ctl add/probe` and the config targets. */
#ifndef TCPPROBE_HOSTPORT_H
#define TCPPROBE_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

#include "packet.h"

/* port is left unchanged when arg has none. 0, or -1 with err. */
int hostport_split(const char *arg, char *host, size_t hostlen, uint16_t *port, char *err,
		   size_t errlen);
/* family: 0 any, 4, 6. The first address getaddrinfo returns. */
int hostport_resolve(const char *host, int family, struct pkt_addr *out, char *err, size_t errlen);

#endif
