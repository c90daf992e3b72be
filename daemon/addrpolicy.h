/* addrpolicy.h: which destinations tcpprobe may send to. Never multicast,
 * broadcast or unspecified; loopback and link-local only when allowed; and
 * the [daemon] allow/deny CIDR lists (deny wins; a non-empty allow list
 * admits only what it matches). */
#ifndef TCPPROBE_ADDRPOLICY_H
#define TCPPROBE_ADDRPOLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* 0 if allowed, else -1 with err saying why. dcfg may be NULL (built-in
 * rules only, loopback and link-local allowed: the `probe` command). */
int addrpolicy_check(const struct pkt_addr *a, const struct daemon_cfg *dcfg, char *err,
		     size_t errlen);
bool addrpolicy_cidr_match(const struct cidr *c, const struct pkt_addr *a);

#endif
