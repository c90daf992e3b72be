/* rawio.c: raw packet I/O (see rawio.h for what is sent and received).
 *
 * Kernel behaviour this file relies on (Linux):
 *  - socket(AF_INET, SOCK_RAW, IPPROTO_RAW) implies IP_HDRINCL (raw(7)), and
 *    so does socket(AF_INET6, SOCK_RAW, IPPROTO_RAW) (inet6_create sets
 *    hdrincl for it; IPV6_HDRINCL, Linux >= 4.5, is set too to be explicit).
 *    The kernel still fills in the IPv4 total length and header checksum
 *    (and the IP ID when it is 0); nothing of an IPv6 header is touched.
 *    Neither socket ever receives anything: IPPROTO_RAW is send-only.
 *  - Only ETH_P_ALL packet sockets see outgoing frames (dev_queue_xmit_nit
 *    walks ptype_all), so the receive socket must be ETH_P_ALL; the BPF
 *    filter below keeps that cheap.
 *  - A packet socket created with protocol 0 is hooked to nothing until
 *    bind() names a protocol, so attaching the filter before bind() means no
 *    unfiltered frame can be queued: no drain is needed.
 *  - SOCK_DGRAM packet sockets see the frame from the network header on,
 *    for outgoing frames too (packet_rcv pulls the link-layer header before
 *    running the filter), so BPF offset 0 is the IP header.
 *  - A raw send dropped by netfilter (the RST guard, or any OUTPUT rule)
 *    fails with EPERM; it is counted as a tx error, like ENETUNREACH, and
 *    handed to the tx error callback (the engine ends that probe).
 *  - Packet sockets see incoming frames before IP and TCP check them, so a
 *    frame with a bad IPv4 header, TCP or ICMP checksum, which the kernel
 *    would drop, reaches us; RFC 9293 3.1 (MUST-3) says to discard it.
 *    rawio does (see frame_csum_ok), counting it in rx_bad_csum.
 *  - On lo every packet passes the taps twice, once outgoing and once
 *    incoming. The filter still delivers each of our segments once: our
 *    SYN/FIN as outgoing (its incoming copy has an out-of-range destination
 *    port), the peer's reply as incoming (its outgoing copy has an
 *    out-of-range source port). Only if the peer's port is itself inside
 *    the range is a segment seen twice.
 *  - On stacked devices (bond, team, bridge, macvlan) a frame is seen on
 *    each layer; f->ifindex tells the copies apart. Hardware-tagged VLAN
 *    copies are dropped by the filter (the VLAN device's copy remains).
 *  - Outgoing timestamps are taken where tcpdump's are, as the frame goes to
 *    the driver (after the qdisc): measured equal to the nanosecond on veth.
 */
#include "rawio.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "timens.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36 /* Linux >= 4.5; older glibc headers lack it */
#endif

#define RAWIO_BATCH     64
#define RAWIO_RX_SNAP   65536            /* a whole IPv4 packet, GRO-merged ones too */
#define RAWIO_SNDBUF    (4 * 1024 * 1024)
/* The receive queue is what carries an open-loop prober through a moment
 * without CPU (another task, a burst of its own work): a queued frame costs
 * about 1 KB of buffer, and at 30,000 handshakes/s (150,000 frames/s in,
 * our own SYNs and FINs included) 32 MB lasted ~0.2 s and overflowed in
 * benchmarks; 128 MB rides out most of a second. It is a limit, not an
 * allocation. */
#define RAWIO_RCVBUF    (128 * 1024 * 1024)
/* Bounded back-off when the send buffer is full (EAGAIN): a few short
 * waits, then the rest of the batch is counted as tx errors. */
#define RAWIO_TX_WAIT_MS    5
#define RAWIO_TX_WAIT_TRIES 20

struct rawio_txq {
	int fd;
	unsigned n;
	struct mmsghdr msg[RAWIO_BATCH];
	struct iovec iov[RAWIO_BATCH];
	union {
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} to[RAWIO_BATCH];
	uint8_t buf[RAWIO_BATCH][PKT_MAX_LEN];
};

struct rawio {
	int pfd; /* AF_PACKET receive socket */
	struct rawio_txq q4, q6;
	struct rawio_stats st;
	int last_tx_errno; /* to log a failure once per change of errno */
	rawio_tx_error_cb tx_err_cb;
	void *tx_err_arg;
	/* Link-local IPv6 destinations and the interface each is on (its
	 * zone, "%eth0"): a handful at most, looked up only for fe80::/10. */
	struct { uint8_t a[16]; unsigned ifindex; } zones[RAWIO_ZONES];
	unsigned nzones;

	struct mmsghdr rmsg[RAWIO_BATCH];
	struct iovec riov[RAWIO_BATCH];
	struct sockaddr_ll rll[RAWIO_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec)) +
			 CMSG_SPACE(sizeof(struct tpacket_auxdata))];
		struct cmsghdr align;
	} rcmsg[RAWIO_BATCH];
	uint8_t *rbuf; /* RAWIO_BATCH * RAWIO_RX_SNAP; pages are touched only
			* as far as frames reach, so real use stays small */
};

/* "what: strerror (hint)" for the errors an unprivileged run hits. */
static void set_err(char *err, size_t errlen, const char *what, int e, const char *cap)
{
	if (!err)
		return;
	if ((e == EPERM || e == EACCES) && cap)
		snprintf(err, errlen, "%s: %s (needs %s)", what, strerror(e), cap);
	else
		snprintf(err, errlen, "%s: %s", what, strerror(e));
}

/*
 * The receive filter, classic BPF. Frames start at the IP header; the
 * EtherType and the packet type come from ancillary loads. Layout:
 *
 *   drop VLAN-tagged copies (hw-accelerated VLAN: the frame is seen again,
 *     untagged, on the VLAN device)
 *   EtherType IPv4 -> V4, IPv6 -> V6, else drop
 *   V4:  drop if fragment offset != 0; X = IHL*4 (BPF_MSH)
 *        TCP -> TCP; ICMP -> incoming only, type 3 or 11, quoted
 *        protocol TCP, X = IHL*4 + quoted IHL*4, A = quoted sport -> RANGE
 *   V6:  X = 40 (no extension headers: a TCP segment behind one is not ours)
 *        TCP -> TCP; ICMPv6 -> incoming only, type 1, 2 or 3, quoted
 *        next header TCP (no extension headers in the quote either),
 *        A = quoted sport -> RANGE
 *   TCP: outgoing -> OUT; incoming (PACKET_HOST) -> A = dport -> RANGE
 *   OUT: SYN or FIN set, or a pure ACK marked to be timed (the ACK after a
 *        zero-window SYN/ACK, for probes/findings): over IPv4 its ID is
 *        PKT_IPID_STAMP, over IPv6 its options start with PKT_OPT_STAMP
 *        (a pure ACK without options ends before that word: dropped);
 *        A = sport -> RANGE
 *   RANGE: lo <= A <= hi -> accept whole frame, else drop
 *
 * A load past the end of the frame ends the program with 0 (drop), so a
 * truncated quote or header is dropped without explicit length checks.
 * Only PACKET_HOST and PACKET_OUTGOING frames pass: promiscuous-mode
 * (PACKET_OTHERHOST), broadcast and multicast copies are not ours.
 */
enum bpf_label {
	L_NEXT = 0, /* fall through */
	L_V4, L_V6, L_ICMP4, L_Q4, L_TCP, L_OUT, L_OUT6, L_SPORT, L_RANGE, L_Q6, L_ACCEPT, L_DROP,
	L_COUNT
};

#define BPF_MAX_INSNS 64 /* the program below has 61 */

struct bpf_asm {
	struct sock_filter prog[BPF_MAX_INSNS];
	uint8_t jt[BPF_MAX_INSNS], jf[BPF_MAX_INSNS]; /* labels, resolved at the end */
	int at[L_COUNT];
	unsigned n;
	bool overflow;
};

static void bpf_label(struct bpf_asm *a, enum bpf_label l)
{
	a->at[l] = (int)a->n;
}

static void bpf_op(struct bpf_asm *a, uint16_t code, uint32_t k, enum bpf_label jt,
		   enum bpf_label jf)
{
	if (a->n == BPF_MAX_INSNS) {
		a->overflow = true;
		return;
	}
	a->prog[a->n] = (struct sock_filter){ .code = code, .k = k };
	a->jt[a->n] = (uint8_t)jt;
	a->jf[a->n] = (uint8_t)jf;
	a->n++;
}

#define OP(code, k) bpf_op(a, (code), (k), L_NEXT, L_NEXT)
#define JMP(code, k, t, f) bpf_op(a, (code), (k), (t), (f))

/* Returns the program length, or -1 if it is too long, a label is
 * unresolved or a jump is out of classic BPF's reach (forward only, 8-bit
 * offsets). */
static int bpf_build(struct bpf_asm *a, uint16_t lo, uint16_t hi)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < L_COUNT; i++)
		a->at[i] = -1;

	OP(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT));
	JMP(BPF_JMP | BPF_JEQ | BPF_K, 0, L_NEXT, L_DROP);
	OP(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL));
	JMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, L_V4, L_NEXT);
	JMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, L_V6, L_DROP);

	bpf_label(a, L_V4);
	OP(BPF_LD | BPF_H | BPF_ABS, 6);                     /* flags + fragment offset */
	JMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, L_DROP, L_NEXT);
	OP(BPF_LDX | BPF_B | BPF_MSH, 0);                    /* X = IHL * 4 */
	OP(BPF_LD | BPF_B | BPF_ABS, 9);                     /* protocol */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, L_TCP, L_NEXT);
	JMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_ICMP, L_ICMP4, L_DROP);

	bpf_label(a, L_ICMP4);
	OP(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE));
	JMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_HOST, L_NEXT, L_DROP);
	OP(BPF_LD | BPF_B | BPF_IND, 0);                     /* ICMP type */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, 3, L_Q4, L_NEXT);     /* destination unreachable */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, 11, L_Q4, L_DROP);    /* time exceeded */
	bpf_label(a, L_Q4);
	OP(BPF_LD | BPF_B | BPF_IND, 8 + 9);                 /* quoted protocol */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, L_NEXT, L_DROP);
	OP(BPF_LD | BPF_B | BPF_IND, 8);                     /* quoted version + IHL */
	OP(BPF_ALU | BPF_AND | BPF_K, 0x0f);
	OP(BPF_ALU | BPF_LSH | BPF_K, 2);
	OP(BPF_ST, 0);                                       /* M[0] = quoted IHL * 4 */
	OP(BPF_MISC | BPF_TXA, 0);
	OP(BPF_LDX | BPF_W | BPF_MEM, 0);
	OP(BPF_ALU | BPF_ADD | BPF_X, 0);
	OP(BPF_MISC | BPF_TAX, 0);                           /* X = IHL*4 + quoted IHL*4 */
	OP(BPF_LD | BPF_H | BPF_IND, 8);                     /* quoted TCP source port */
	JMP(BPF_JMP | BPF_JA, 0, L_NEXT, L_NEXT);            /* patched to L_RANGE below */
	int ja_q4 = (int)a->n - 1;

	bpf_label(a, L_V6);
	OP(BPF_LDX | BPF_W | BPF_IMM, 40);
	OP(BPF_LD | BPF_B | BPF_ABS, 6);                     /* next header */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, L_TCP, L_NEXT);
	JMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_ICMPV6, L_NEXT, L_DROP);
	OP(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE));
	JMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_HOST, L_NEXT, L_DROP);
	OP(BPF_LD | BPF_B | BPF_ABS, 40);                    /* ICMPv6 type */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, 1, L_Q6, L_NEXT);     /* destination unreachable */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, 2, L_Q6, L_NEXT);     /* packet too big */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, 3, L_Q6, L_DROP);     /* time exceeded */
	bpf_label(a, L_Q6);
	OP(BPF_LD | BPF_B | BPF_ABS, 40 + 8 + 6);            /* quoted next header */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, L_NEXT, L_DROP);
	OP(BPF_LD | BPF_H | BPF_ABS, 40 + 8 + 40);           /* quoted TCP source port */
	JMP(BPF_JMP | BPF_JA, 0, L_NEXT, L_NEXT);
	int ja_q6 = (int)a->n - 1;

	bpf_label(a, L_TCP);                                 /* X = TCP header offset */
	OP(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE));
	JMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, L_OUT, L_NEXT);
	JMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_HOST, L_NEXT, L_DROP);
	OP(BPF_LD | BPF_H | BPF_IND, 2);                     /* destination port */
	JMP(BPF_JMP | BPF_JA, 0, L_NEXT, L_NEXT);
	int ja_in = (int)a->n - 1;

	bpf_label(a, L_OUT);
	OP(BPF_LD | BPF_B | BPF_IND, 13);                    /* TCP flags */
	JMP(BPF_JMP | BPF_JSET | BPF_K, PKT_SYN | PKT_FIN, L_SPORT, L_NEXT);
	JMP(BPF_JMP | BPF_JEQ | BPF_K, PKT_ACK, L_NEXT, L_DROP);
	OP(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL));
	JMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, L_OUT6, L_NEXT);
	OP(BPF_LD | BPF_H | BPF_ABS, 4);                     /* IPv4 ID */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, PKT_IPID_STAMP, L_SPORT, L_DROP);
	bpf_label(a, L_OUT6);
	OP(BPF_LD | BPF_W | BPF_IND, 20);                    /* first option word */
	JMP(BPF_JMP | BPF_JEQ | BPF_K, PKT_OPT_STAMP, L_NEXT, L_DROP);
	bpf_label(a, L_SPORT);
	OP(BPF_LD | BPF_H | BPF_IND, 0);                     /* source port */

	bpf_label(a, L_RANGE);
	JMP(BPF_JMP | BPF_JGE | BPF_K, lo, L_NEXT, L_DROP);
	JMP(BPF_JMP | BPF_JGT | BPF_K, hi, L_DROP, L_ACCEPT);
	bpf_label(a, L_ACCEPT);
	OP(BPF_RET | BPF_K, RAWIO_RX_SNAP);
	bpf_label(a, L_DROP);
	OP(BPF_RET | BPF_K, 0);

	if (a->overflow)
		return -1;
	/* BPF_JA takes a 32-bit k, not the 8-bit labels. */
	int ja[] = { ja_q4, ja_q6, ja_in };
	for (size_t i = 0; i < sizeof(ja) / sizeof(ja[0]); i++)
		a->prog[ja[i]].k = (uint32_t)(a->at[L_RANGE] - ja[i] - 1);

	for (unsigned i = 0; i < a->n; i++) {
		if (BPF_CLASS(a->prog[i].code) != BPF_JMP || BPF_OP(a->prog[i].code) == BPF_JA)
			continue;
		uint8_t lt = a->jt[i], lf = a->jf[i];
		int t = lt == L_NEXT ? 0 : a->at[lt] - (int)i - 1;
		int f = lf == L_NEXT ? 0 : a->at[lf] - (int)i - 1;
		if ((lt != L_NEXT && a->at[lt] < 0) || (lf != L_NEXT && a->at[lf] < 0) ||
		    t < 0 || t > 255 || f < 0 || f > 255)
			return -1;
		a->prog[i].jt = (uint8_t)t;
		a->prog[i].jf = (uint8_t)f;
	}
	return (int)a->n;
}

#undef OP
#undef JMP

/* Try the FORCE variant (needs CAP_NET_ADMIN, ignores the sysctl cap) then
 * the plain one, which the kernel silently caps at net.core.[rw]mem_max
 * (208 KB by default: a few hundred frames): say so, since that is where
 * drops under load will come from. */
static void set_bufsize(int fd, int force_opt, int opt, int size)
{
	if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) == 0)
		return;
	const char *name = opt == SO_RCVBUF ? "SO_RCVBUF" : "SO_SNDBUF";
	if (setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size)) < 0) {
		log_warn("%s: setsockopt(%s)", __func__, name);
		return;
	}
	int got = 0;
	socklen_t gl = sizeof(got);
	/* The kernel reports twice the usable size (socket(7)). Only the
	 * receive side loses frames; a full send buffer is waited out. */
	if (opt == SO_RCVBUF && getsockopt(fd, SOL_SOCKET, opt, &got, &gl) == 0 && got / 2 < size)
		log_msg(LOG_LVL_NOTICE, "rawio: %s is %d KB, not the %d KB asked for: without "
			"CAP_NET_ADMIN it is capped by net.core.rmem_max, and frames are lost "
			"under load", name, got / 2048, size / 1024);
}

static int open_tx(int family, uint32_t mark, char *err, size_t errlen)
{
	const char *what = family == AF_INET ? "socket(AF_INET, SOCK_RAW)" : "socket(AF_INET6, SOCK_RAW)";
	int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0) {
		set_err(err, errlen, what, errno, "CAP_NET_RAW");
		return -1;
	}
	int one = 1;
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one)) < 0 &&
	    errno != ENOPROTOOPT) {
		set_err(err, errlen, "setsockopt(IPV6_HDRINCL)", errno, NULL);
		close(fd);
		return -1;
	}
	/* Linux >= 5.17 accepts CAP_NET_RAW for SO_MARK, older ones want
	 * CAP_NET_ADMIN; name the one that works everywhere. */
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		set_err(err, errlen, "setsockopt(SO_MARK)", errno, "CAP_NET_ADMIN");
		close(fd);
		return -1;
	}
	set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, RAWIO_SNDBUF);
	return fd;
}

static int open_rx(uint16_t lo, uint16_t hi, char *err, size_t errlen)
{
	/* Protocol 0: not hooked until bind(), see the top of the file. */
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		set_err(err, errlen, "socket(AF_PACKET)", errno, "CAP_NET_RAW");
		return -1;
	}
	struct bpf_asm a;
	int n = bpf_build(&a, lo, hi);
	if (n < 0) {
		snprintf(err, errlen, "rawio: internal error assembling the BPF filter");
		close(fd);
		return -1;
	}
	struct sock_fprog fprog = { .len = (unsigned short)n, .filter = a.prog };
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0) {
		set_err(err, errlen, "setsockopt(SO_ATTACH_FILTER)", errno, NULL);
		close(fd);
		return -1;
	}
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0) {
		set_err(err, errlen, "setsockopt(SO_TIMESTAMPNS)", errno, NULL);
		close(fd);
		return -1;
	}
	/* tp_status says whether the checksum is already known good. */
	if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0) {
		set_err(err, errlen, "setsockopt(PACKET_AUXDATA)", errno, NULL);
		close(fd);
		return -1;
	}
	set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF, RAWIO_RCVBUF);
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL), /* outgoing frames reach ETH_P_ALL only */
		.sll_ifindex = 0,                 /* every interface */
	};
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		set_err(err, errlen, "bind(AF_PACKET)", errno, "CAP_NET_RAW");
		close(fd);
		return -1;
	}
	return fd;
}

static void txq_init(struct rawio_txq *q, int fd)
{
	q->fd = fd;
	q->n = 0;
	for (unsigned i = 0; i < RAWIO_BATCH; i++) {
		q->iov[i].iov_base = q->buf[i];
		q->msg[i].msg_hdr = (struct msghdr){
			.msg_name = &q->to[i],
			.msg_iov = &q->iov[i],
			.msg_iovlen = 1,
		};
	}
}

struct rawio *rawio_open(uint16_t sport_lo, uint16_t sport_hi, uint32_t mark, char *err,
			 size_t errlen)
{
	if (sport_lo == 0 || sport_lo > sport_hi) {
		snprintf(err, errlen, "rawio: bad source port range %u-%u", sport_lo, sport_hi);
		return NULL;
	}
	struct rawio *r = calloc(1, sizeof(*r));
	if (!r) {
		set_err(err, errlen, "rawio: calloc", errno, NULL);
		return NULL;
	}
	int fd;
	r->pfd = r->q4.fd = r->q6.fd = -1;
	r->rbuf = calloc(RAWIO_BATCH, RAWIO_RX_SNAP);
	if (!r->rbuf) {
		set_err(err, errlen, "rawio: calloc", errno, NULL);
		goto fail;
	}
	if ((r->pfd = open_rx(sport_lo, sport_hi, err, errlen)) < 0)
		goto fail;
	if ((fd = open_tx(AF_INET, mark, err, errlen)) < 0)
		goto fail;
	txq_init(&r->q4, fd);
	if ((fd = open_tx(AF_INET6, mark, err, errlen)) < 0)
		goto fail;
	txq_init(&r->q6, fd);

	for (unsigned i = 0; i < RAWIO_BATCH; i++) {
		r->riov[i].iov_base = r->rbuf + (size_t)i * RAWIO_RX_SNAP;
		r->riov[i].iov_len = RAWIO_RX_SNAP;
		r->rmsg[i].msg_hdr = (struct msghdr){
			.msg_name = &r->rll[i],
			.msg_iov = &r->riov[i],
			.msg_iovlen = 1,
			.msg_control = r->rcmsg[i].buf,
		};
	}
	return r;
fail:
	rawio_close(r);
	return NULL;
}

void rawio_close(struct rawio *r)
{
	if (!r)
		return;
	if (r->q4.fd >= 0)
		close(r->q4.fd);
	if (r->q6.fd >= 0)
		close(r->q6.fd);
	if (r->pfd >= 0)
		close(r->pfd);
	free(r->rbuf);
	free(r);
}

int rawio_fd(const struct rawio *r)
{
	return r->pfd;
}

void rawio_on_tx_error(struct rawio *r, rawio_tx_error_cb cb, void *arg)
{
	r->tx_err_cb = cb;
	r->tx_err_arg = arg;
}

static void tx_error(struct rawio *r, const struct rawio_txq *q, unsigned i, int e)
{
	r->st.tx_errors++;
	if (r->tx_err_cb)
		r->tx_err_cb(r->tx_err_arg, q->buf[i], q->iov[i].iov_len, e);
	if (e != r->last_tx_errno) {
		char a[INET6_ADDRSTRLEN] = "?";
		if (q == &r->q4)
			inet_ntop(AF_INET, &q->to[i].sin.sin_addr, a, sizeof(a));
		else
			inet_ntop(AF_INET6, &q->to[i].sin6.sin6_addr, a, sizeof(a));
		errno = e;
		log_warn("rawio: send to %s (further failures with this error not logged)", a);
		r->last_tx_errno = e;
	}
}

/* Send q; every packet ends up sent or counted as an error. */
static int txq_flush(struct rawio *r, struct rawio_txq *q)
{
	unsigned off = 0, waits = 0;
	int sent = 0;
	/* Each pass sends at least one packet, drops one, or uses up a wait. */
	for (unsigned pass = 0; off < q->n && pass < RAWIO_BATCH + RAWIO_TX_WAIT_TRIES + 8; pass++) {
		int n = sendmmsg(q->fd, q->msg + off, q->n - off, MSG_DONTWAIT);
		if (n > 0) {
			off += (unsigned)n;
			sent += n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waits < RAWIO_TX_WAIT_TRIES) {
			/* Send buffer full: wait for the NIC to free some. */
			struct pollfd p = { .fd = q->fd, .events = POLLOUT };
			(void)poll(&p, 1, RAWIO_TX_WAIT_MS);
			waits++;
			continue;
		}
		/* This packet failed (EPERM: netfilter dropped it; ENETUNREACH,
		 * EHOSTUNREACH, EMSGSIZE, ...): count it and go on. */
		tx_error(r, q, off, n < 0 ? errno : EIO);
		off++;
	}
	for (; off < q->n; off++) /* only if the pass bound was hit */
		tx_error(r, q, off, EAGAIN);
	r->st.tx_packets += (uint64_t)sent;
	q->n = 0;
	return sent;
}

static bool is_link_local6(const struct pkt_addr *a)
{
	return a->family == AF_INET6 && a->a[0] == 0xfe && (a->a[1] & 0xc0) == 0x80;
}

unsigned rawio_scope(const struct rawio *r, const struct pkt_addr *dst)
{
	if (!is_link_local6(dst))
		return 0;
	for (unsigned i = 0; i < r->nzones; i++)
		if (!memcmp(r->zones[i].a, dst->a, 16))
			return r->zones[i].ifindex;
	return 0;
}

int rawio_set_scope(struct rawio *r, const struct pkt_addr *dst, unsigned ifindex)
{
	if (!is_link_local6(dst))
		return 0;
	unsigned i = 0;
	while (i < r->nzones && memcmp(r->zones[i].a, dst->a, 16))
		i++;
	if (i == RAWIO_ZONES)
		return -1;
	if (i == r->nzones)
		r->nzones++;
	memcpy(r->zones[i].a, dst->a, 16);
	r->zones[i].ifindex = ifindex;
	return 0;
}

int rawio_send(struct rawio *r, const uint8_t *pkt, size_t len, const struct pkt_addr *dst)
{
	if (len < 1 || len > PKT_MAX_LEN) {
		r->st.tx_errors++;
		log_warnx("rawio: %s: packet of %zu bytes", __func__, len);
		return -1;
	}
	int v = pkt[0] >> 4;
	int family = v == 4 ? AF_INET : v == 6 ? AF_INET6 : 0;
	if (!family || dst->family != family) {
		r->st.tx_errors++;
		log_warnx("rawio: %s: IP version %d, destination family %u", __func__, v, dst->family);
		return -1;
	}
	struct rawio_txq *q = family == AF_INET ? &r->q4 : &r->q6;
	if (q->n == RAWIO_BATCH)
		txq_flush(r, q);

	unsigned i = q->n++;
	memcpy(q->buf[i], pkt, len);
	q->iov[i].iov_len = len;
	if (family == AF_INET) {
		q->to[i].sin = (struct sockaddr_in){ .sin_family = AF_INET };
		memcpy(&q->to[i].sin.sin_addr, dst->a, 4);
		q->msg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
	} else {
		/* sin6_port must be 0 (or IPPROTO_RAW); a link-local
		 * destination needs its interface as the scope id. */
		q->to[i].sin6 = (struct sockaddr_in6){ .sin6_family = AF_INET6,
						       .sin6_scope_id = rawio_scope(r, dst) };
		memcpy(&q->to[i].sin6.sin6_addr, dst->a, 16);
		q->msg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
	}
	if (q->n == RAWIO_BATCH)
		txq_flush(r, q);
	return 0;
}

int rawio_flush(struct rawio *r)
{
	int n = 0;
	if (r->q4.n)
		n += txq_flush(r, &r->q4);
	if (r->q6.n)
		n += txq_flush(r, &r->q6);
	return n;
}

/* The kernel timestamp and the PACKET_AUXDATA status of one frame. */
static uint64_t frame_cmsgs(struct msghdr *h, uint32_t *tp_status)
{
	uint64_t ts_ns = 0;
	*tp_status = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			ts_ns = timespec_ns(&ts);
		} else if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata))) {
			struct tpacket_auxdata aux;
			memcpy(&aux, CMSG_DATA(c), sizeof(aux));
			*tp_status = aux.tp_status;
		}
	}
	if (ts_ns)
		return ts_ns;
	/* Not expected with SO_TIMESTAMPNS set; the read time is a poor but
	 * same-clock substitute. */
	return clock_ns(CLOCK_REALTIME);
}

/* RFC 1071 one's-complement sum of big-endian 16-bit words, unfolded. */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
	size_t i;
	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < n)
		sum += (uint32_t)p[i] << 8;
	return sum;
}

/* True if the sum, folded, is all ones: the checksum field was right. */
static bool csum_good(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/*
 * Whether an incoming frame's checksums hold, as the kernel would check
 * them: the IPv4 header checksum always (ip_rcv checks it in software),
 * the TCP or ICMP/ICMPv6 checksum unless tp_status says the kernel (or the
 * NIC) already has (TP_STATUS_CSUM_VALID) or the frame carries a partial
 * checksum to be completed later (TP_STATUS_CSUMNOTREADY: sent by this
 * host, over lo or a veth). The lengths come from the IP header, not the
 * frame, which may carry Ethernet padding. Frames whose lengths do not add
 * up, or fragments, are let through: pkt_parse rejects those.
 */
static bool frame_csum_ok(const uint8_t *p, size_t len, uint32_t tp_status)
{
	bool l4_known = tp_status & (TP_STATUS_CSUM_VALID | TP_STATUS_CSUMNOTREADY);
	uint64_t sum;
	const uint8_t *l4;
	size_t l4len;
	uint8_t proto;

	if (len >= 20 && p[0] >> 4 == 4) {
		size_t ihl = (size_t)(p[0] & 0x0f) * 4;
		size_t tot = (size_t)p[2] << 8 | p[3];
		if (ihl < 20 || ihl > len)
			return true;
		if (!csum_good(csum_add(0, p, ihl)))
			return false;
		if (l4_known || tot < ihl || tot > len || (p[6] & 0x3f) || p[7])
			return true; /* verified, partial, bad length, or a fragment */
		proto = p[9];
		l4 = p + ihl;
		l4len = tot - ihl;
		if (proto == IPPROTO_ICMP)
			return csum_good(csum_add(0, l4, l4len));
		/* pseudo-header: addresses, protocol, TCP length */
		sum = csum_add(0, p + 12, 8) + proto + l4len;
	} else if (len >= 40 && p[0] >> 4 == 6) {
		size_t plen = (size_t)p[4] << 8 | p[5];
		if (l4_known || 40 + plen > len)
			return true;
		proto = p[6];
		l4 = p + 40;
		l4len = plen;
		if (proto != IPPROTO_TCP && proto != IPPROTO_ICMPV6)
			return true; /* the filter lets none through */
		/* pseudo-header: addresses, upper-layer length, next header */
		sum = csum_add(0, p + 8, 32) + l4len + proto;
	} else {
		return true;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_ICMPV6)
		return true;
	return csum_good(csum_add(sum, l4, l4len));
}

/* f->data points into r's receive buffers: valid during the callback only.
 * At most max frames are read; those with bad checksums are not delivered,
 * so the return value can be lower while frames remain. */
int rawio_recv(struct rawio *r, rawio_frame_cb cb, void *arg, unsigned max)
{
	unsigned done = 0, delivered = 0;
	/* Each pass reads frames or ends the loop (EINTR aside, which is
	 * bounded separately). */
	for (unsigned intr = 0; done < max && intr < 8;) {
		unsigned want = max - done < RAWIO_BATCH ? max - done : RAWIO_BATCH;
		for (unsigned i = 0; i < want; i++) {
			r->rmsg[i].msg_hdr.msg_namelen = sizeof(r->rll[i]);
			r->rmsg[i].msg_hdr.msg_controllen = sizeof(r->rcmsg[i].buf);
			r->rmsg[i].msg_hdr.msg_flags = 0;
		}
		int n = recvmmsg(r->pfd, r->rmsg, want, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR) {
				intr++;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (delivered)
				break; /* report the frames we have; the error recurs */
			log_warn("rawio: recvmmsg");
			return -1;
		}
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &r->rmsg[i].msg_hdr;
			const struct sockaddr_ll *ll = &r->rll[i];
			/* A frame longer than the buffer (BIG TCP GRO) arrives
			 * cut to it, msg_len being the captured length. */
			size_t len = r->rmsg[i].msg_len;
			if (len > RAWIO_RX_SNAP)
				len = RAWIO_RX_SNAP;
			uint32_t tp_status;
			struct rawio_frame f = {
				.data = r->riov[i].iov_base,
				.len = len,
				.ts_ns = frame_cmsgs(h, &tp_status),
				.outgoing = ll->sll_pkttype == PACKET_OUTGOING,
				.ifindex = ll->sll_ifindex,
			};
			if (!f.outgoing && !frame_csum_ok(f.data, f.len, tp_status)) {
				r->st.rx_bad_csum++;
				continue;
			}
			r->st.rx_packets++;
			delivered++;
			cb(arg, &f);
		}
		done += (unsigned)n;
		if ((unsigned)n < want)
			break; /* the socket is empty */
	}
	return (int)delivered;
}

void rawio_stats(struct rawio *r, struct rawio_stats *out)
{
	/* PACKET_STATISTICS resets the kernel counters on every read, so
	 * they are accumulated here. */
	struct tpacket_stats ks;
	socklen_t kl = sizeof(ks);
	if (r->pfd >= 0 && getsockopt(r->pfd, SOL_PACKET, PACKET_STATISTICS, &ks, &kl) == 0)
		r->st.rx_kernel_drops += ks.tp_drops;
	*out = r->st;
}
