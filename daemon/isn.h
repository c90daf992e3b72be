/* isn.h: initial sequence numbers (RFC 6528): a keyed hash (SipHash-2-4,
 * random key per run) of the 4-tuple plus a 4 microsecond clock, so replies
 * can be checked against state cheaply and ISNs are unpredictable. */
#ifndef TCPPROBE_ISN_H
#define TCPPROBE_ISN_H

#include <stdint.h>

#include "packet.h"

void isn_init(void); /* draws the key from getrandom() */
void isn_init_key(const uint8_t key[16]); /* tests */
uint32_t isn_make(const struct pkt_addr *src, uint16_t sport, const struct pkt_addr *dst,
		  uint16_t dport, uint64_t now_ns);
/* A second keyed hash for the TSval offset of a connection (RFC 7323 5.4). */
uint32_t isn_ts_offset(const struct pkt_addr *src, uint16_t sport, const struct pkt_addr *dst,
		       uint16_t dport);
uint64_t isn_siphash(const uint8_t key[16], const void *data, size_t len);

#endif
