/*
 * pairs.h: findings that take two targets, which probes/findings (one
 * probe's segments) cannot make:
 *  - stateful-firewall: a fin target's last probe silent where a syn (or
 *    handshake) target on the same address and port was refused: the port
 *    is closed (its host answers a SYN with an RST) and something in front
 *    drops the FIN of a connection it does not track;
 *  - mss-clamped by equal MSS: an IPv4 and an IPv6 target of one host name and
 *    port whose SYN/ACKs carry the same MSS, below what each offered: at
 *    one MTU the IPv6 MSS is 20 less (a 40-byte header, not 20), so a
 *    clamp set both.
 * An index by key (address:port; host:port) of slots, each holding the
 * latest target of each role (syn / fin; IPv4 / IPv6): O(1) per result,
 * one small slot per key. The verdict is kept on the targets
 * (target.pfound); the evidence is put into words from the partner it
 * names when shown.
 */
#ifndef TCPPROBE_PAIRS_H
#define TCPPROBE_PAIRS_H

#include <stdbool.h>
#include <stddef.h>

#include "findings.h"
#include "json.h"

struct target;
struct pairs;

struct pairs *pairs_new(void);
/* Every target must have been forgotten first. */
void pairs_free(struct pairs *p);
/* t recorded a result (t->st is up to date): file it under its keys and
 * judge it and its partners again. Out of memory: t takes no part. */
void pairs_record(struct pairs *p, struct target *t);
/* t goes (removed, destroyed): out of its slots, its partners judged again. */
void pairs_forget(struct pairs *p, struct target *t);
/* The findings of t from pairs not already among its own probe's (whose
 * evidence says more): 1 << enum find_name. */
unsigned pairs_found(const struct target *t);
/* JSON objects {"name", "evidence", "target", ...} for pairs_found(t), as
 * elements of the findings array. */
void pairs_findings_json(struct jbuf *j, const struct target *t);

#endif
