/* rawio.h: raw packet I/O for IPv4 and IPv6.
 *
 * Send: hdrincl raw sockets (AF_INET/AF_INET6, IPPROTO_RAW), marked with
 * SO_MARK so the RST guard lets tcpprobe's own RSTs through; batched with
 * sendmmsg.
 * Receive: one AF_PACKET SOCK_DGRAM socket (frames start at the IP header)
 * with a classic BPF filter in the kernel that accepts only
 *   - incoming TCP whose destination port is in [sport_lo, sport_hi],
 *   - incoming ICMP/ICMPv6 errors (dest unreachable, time exceeded,
 *     packet too big / frag needed) whose quoted TCP source port is in range,
 *   - outgoing TCP with SYN or FIN set whose source port is in range (our own
 *     segments, so their kernel timestamp is the wire time tcpdump sees),
 * so unrelated traffic never reaches userspace. Kernel timestamps
 * (SO_TIMESTAMPNS, CLOCK_REALTIME) on every frame; batched with recvmmsg.
 */
#ifndef TCPPROBE_RAWIO_H
#define TCPPROBE_RAWIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet.h"

struct rawio;

struct rawio_stats {
	uint64_t tx_packets, tx_errors;
	uint64_t rx_packets;       /* frames delivered: passed the kernel filter and checksums */
	uint64_t rx_kernel_drops;  /* PACKET_STATISTICS tp_drops: ring overflow */
	uint64_t rx_bad_csum;      /* incoming frames dropped for a bad IPv4 header,
				    * TCP or ICMP checksum (the kernel drops them too) */
};

/* A received frame. outgoing: our own segment seen leaving. */
struct rawio_frame {
	const uint8_t *data; /* starts at the IP header */
	size_t len;
	uint64_t ts_ns;      /* kernel receive (or transmit) timestamp */
	bool outgoing;
	int ifindex;
};

typedef void (*rawio_frame_cb)(void *arg, const struct rawio_frame *f);

/* Open the sockets. mark: SO_MARK for sends (needs CAP_NET_ADMIN).
 * Returns NULL with err set ("what: why") on failure. */
struct rawio *rawio_open(uint16_t sport_lo, uint16_t sport_hi, uint32_t mark,
			 char *err, size_t errlen);
void rawio_close(struct rawio *r);
/* The fd to wait on for readability (the AF_PACKET socket). */
int rawio_fd(const struct rawio *r);
/* Queue one IP packet (IPv4 or IPv6, by its version nibble) for sending to
 * dst; sent at the next rawio_flush or when the batch is full. 0 or -1. */
int rawio_send(struct rawio *r, const uint8_t *pkt, size_t len, const struct pkt_addr *dst);
/* The interface (zone) of a link-local IPv6 destination, for rawio_send's
 * scope id: rawio_set_scope records it (0, or -1 when RAWIO_ZONES are in
 * use), rawio_scope returns it (0: none, or not link-local). */
#define RAWIO_ZONES 64
int rawio_set_scope(struct rawio *r, const struct pkt_addr *dst, unsigned ifindex);
unsigned rawio_scope(const struct rawio *r, const struct pkt_addr *dst);
/* Send everything queued (sendmmsg). Returns the number sent or -1. */
int rawio_flush(struct rawio *r);
/* Called for each queued packet that could not be sent (err: its errno),
 * from rawio_send (a full batch) or rawio_flush. NULL: none. */
typedef void (*rawio_tx_error_cb)(void *arg, const uint8_t *pkt, size_t len, int err);
void rawio_on_tx_error(struct rawio *r, rawio_tx_error_cb cb, void *arg);
/* Receive up to max frames (recvmmsg batches), calling cb for each; stops
 * when the socket is empty. Returns frames delivered, or -1 on error. */
int rawio_recv(struct rawio *r, rawio_frame_cb cb, void *arg, unsigned max);
void rawio_stats(struct rawio *r, struct rawio_stats *out);

#endif
