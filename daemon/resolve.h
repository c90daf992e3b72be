/* resolve.h: host names resolved off the probing path (issue 11 point 1).
 * Lookups go through libevent's evdns, which reads /etc/resolv.conf and
 * /etc/hosts at start and never blocks the loop. A target keeps its last
 * good address while a lookup runs or fails; names are looked up again
 * every resolve_interval, and sooner after a failure (backoff). */
#ifndef TCPPROBE_RESOLVE_H
#define TCPPROBE_RESOLVE_H

#include <stddef.h>

#include "packet.h"

struct registry;
struct target;
struct resolve_req;

/* rc 0 with the address, or -1 with err (valid during the call only). */
typedef void (*resolve_cb)(void *arg, int rc, const struct pkt_addr *a, const char *err);

int resolve_init(struct registry *reg, char *err, size_t errlen);
/* Cancels every lookup (no callback runs) and frees the resolver. */
void resolve_free(struct registry *reg);

/* host as an address (no lookup): 1 with *a (and *ifindex, the zone of
 * "fe80::1%eth0", else 0), 0 if host is a name, -1 if it is not a full
 * address, names no interface, or is of the wrong family (err). */
int resolve_literal(const char *host, int family, struct pkt_addr *a, unsigned *ifindex,
		    char *err, size_t errlen);

/* Look host up (family 4, 6 or 0 = any). cb runs exactly once: maybe
 * before this returns (an address, an /etc/hosts name, out of memory), in
 * which case NULL is returned; otherwise later, from the loop, unless
 * resolve_cancel is called first. */
struct resolve_req *resolve_lookup(struct registry *reg, const char *host, int family, resolve_cb cb,
				   void *arg);
void resolve_cancel(struct resolve_req *q);

/* A target's address: an address is set (and checked against the address
 * policy) now; a name gets a lookup now and every resolve_interval after.
 * -1 with err only for an address the policy or family refuses. */
int resolve_target_begin(struct registry *reg, struct target *t, char *err, size_t errlen);
/* Stop looking t up (removed, or being destroyed). */
void resolve_target_stop(struct registry *reg, struct target *t);

#endif
