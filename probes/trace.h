/*
 * trace.h: TCP path tracing, pure (no syscalls, no clock reads; the caller
 * passes the time and executes the actions, as with probes/fsm).
 *
 * A trace sends SYNs with TTL / hop limit 1, 2, ... max_hops on one flow:
 * the same 4-tuple (and IPv6 flow label) for every SYN, so a router that
 * spreads flows over equal-cost paths (ECMP hashes addresses, protocol and
 * ports) sends them all down one path, as Paris traceroute does. What tells
 * the SYNs apart is what ECMP does not hash: the sequence number, one per
 * (TTL, try). Up to `window` TTLs are in flight at once.
 *
 * A router that drops a SYN whose TTL ran out answers with ICMP time
 * exceeded (IPv4 type 11, ICMPv6 type 3) quoting our SYN: the quoted
 * sequence number names the TTL, and only a sequence number of ours for
 * this 4-tuple is believed (RFC 5927; the caller matched the 4-tuple). The
 * target answers with a SYN/ACK (we answer it with an RST, as a syn probe
 * does) or an RST, whose ACK number names the SYN. The trace ends when the
 * lowest TTL that reached the target (or drew an ICMP unreachable) is known
 * and every TTL below it has answered or stayed silent after its tries, or
 * when max_hops stayed short of the target. A router that rate-limits or
 * drops its ICMP is a silent hop, never an error.
 */
#ifndef TCPPROBE_TRACE_H
#define TCPPROBE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "fsm.h"
#include "packet.h"

#define TRACE_HOPS_MAX 64   /* max_hops' upper bound (traceroute's default is 30) */
#define TRACE_TRIES_MAX 4   /* SYNs per TTL at most: 1 + retries, capped */
#define TRACE_WINDOW 8      /* TTLs in flight at once (default) */
#define TRACE_LINGER_MIN_NS 100000000ull

/* Per-trace parameters; shared by many traces, never modified. */
struct trace_params {
	uint8_t max_hops;      /* 1..TRACE_HOPS_MAX */
	uint8_t window;        /* TTLs in flight at once, >= 1 */
	uint8_t retries;       /* more SYNs for a silent TTL (tries capped at TRACE_TRIES_MAX) */
	uint64_t timeout_ns;   /* how long one SYN waits for its answer */
	uint64_t linger_ns;    /* after the end, at most this long (at least 4 RTTs of the
				* target or TRACE_LINGER_MIN_NS, whichever is more):
				* answer late SYN/ACKs with an RST */
};

/* What answered one TTL. */
enum trace_hop_kind {
	TRACE_HOP_SILENT, /* nothing came back (every try timed out) */
	TRACE_HOP_ROUTER, /* ICMP time exceeded from a router */
	TRACE_HOP_UNREACH,/* ICMP destination unreachable: the trace ends here */
	TRACE_HOP_TARGET, /* the target's SYN/ACK or RST: the trace ends here */
};
const char *trace_hop_kind_str(enum trace_hop_kind k);

struct trace_hop {
	struct pkt_addr addr;  /* who answered; family 0 for a silent hop */
	uint8_t ttl;           /* our SYN's TTL / hop limit */
	uint8_t kind;          /* enum trace_hop_kind */
	uint8_t icmp_type, icmp_code; /* ROUTER, UNREACH */
	uint8_t tcp_flags;     /* TARGET: its answer's flags (S. or R.) */
	uint8_t tries;         /* SYNs sent for this TTL */
	uint8_t reply_ttl;     /* TTL / hop limit of the answer as it arrived */
	uint64_t rtt_ns;       /* our SYN's wire time -> the answer's; 0 when silent */
};

/* A finished trace. hops[i] is TTL i+1; the last one is the target (kind
 * TARGET) when it was reached. */
struct trace_result {
	uint8_t result;        /* enum probe_result: ok (SYN/ACK), refused (RST),
				* unreachable (ICMP unreachable), timeout
				* (max_hops short of the target), error (a SYN
				* could not be sent) */
	uint8_t nhops;
	uint64_t t_start;      /* the first SYN's time (wire time once stamped) */
	struct trace_hop hops[TRACE_HOPS_MAX];
};

/* Whether two traces went the same way: the same number of hops and, hop
 * by hop, the same kind and address. A silent hop matches only a silent
 * hop (no guess at who stayed silent). */
bool trace_path_eq(const struct trace_result *a, const struct trace_result *b);

enum trace_state {
	TRACE_IDLE,    /* before TRACE_EV_START */
	TRACE_RUNNING, /* SYNs out, answers awaited */
	TRACE_LINGER,  /* reported; late SYN/ACKs still get an RST */
	TRACE_DONE,    /* nothing left: free it */
};

enum trace_ev_type {
	TRACE_EV_START,      /* begin: iss and ts_offset */
	TRACE_EV_ICMP,       /* pkt: an ICMP error quoting this 4-tuple */
	TRACE_EV_SEGMENT,    /* pkt: a TCP segment from the target on this 4-tuple */
	TRACE_EV_TIMER,      /* the armed deadline passed */
	TRACE_EV_CREDIT,     /* the caller can send more SYNs now (see credit) */
	TRACE_EV_SEND_ERROR, /* pkt: our SYN that the host refused to send */
	TRACE_EV_ABORT,      /* stop now (no report follows) */
};

struct trace_event {
	enum trace_ev_type type;
	const struct pkt_info *pkt;
	uint32_t iss, ts_offset; /* TRACE_EV_START */
	/* Every event: how many SYNs the caller lets this step send (its
	 * packets-per-second budget); UINT32_MAX without a cap. SYNs it
	 * could not send wait: TRACE_ACT_WANT_CREDIT asks for a
	 * TRACE_EV_CREDIT once the budget allows. RSTs are not counted. */
	uint32_t credit;
};

enum trace_action_type {
	TRACE_ACT_SEND,        /* build and send seg with IP TTL / hop limit ttl */
	TRACE_ACT_TIMER,       /* (re)arm the single timer at deadline; 0 cancels */
	TRACE_ACT_WANT_CREDIT, /* SYNs wait for budget: step again with TRACE_EV_CREDIT */
	TRACE_ACT_RESULT,      /* the trace is finished: report trace->res (once) */
	TRACE_ACT_DONE,        /* nothing left: free it */
};

struct trace_action {
	enum trace_action_type type;
	uint8_t ttl;                 /* SEND: the SYN's TTL; an RST's is max_hops */
	struct fsm_segment seg;      /* SEND */
	uint64_t deadline;           /* TIMER */
};

#define TRACE_ACTIONS_MAX (TRACE_HOPS_MAX + 8)
struct trace_actions {
	unsigned n;
	struct trace_action a[TRACE_ACTIONS_MAX];
};

/* One trace. The caller owns it and its 4-tuple; trace.c owns the fields. */
struct trace {
	const struct trace_params *p;
	const struct fsm_params *fp; /* the SYN's window, options, ECN */
	uint8_t state;               /* enum trace_state */
	uint8_t end_ttl;             /* lowest TTL that ended the path (target or
				      * unreachable); 0: none yet */
	uint8_t next_ttl;            /* next TTL never sent */
	uint8_t tries_max;           /* 1 + retries, capped */
	bool want_credit;            /* SYNs are waiting for budget */
	uint32_t iss, ts_offset;
	uint64_t deadline;           /* armed timer, 0 = none */
	uint64_t linger_until;
	struct trace_slot {
		uint8_t st;          /* internal: unsent, waiting, due again, resolved */
		uint8_t tries;
		bool stamped[TRACE_TRIES_MAX];
		uint64_t t_sent[TRACE_TRIES_MAX];
		uint64_t deadline;
	} slot[TRACE_HOPS_MAX];
	struct trace_result res;
};

void trace_init(struct trace *t, const struct trace_params *p, const struct fsm_params *fp);
/* Feed one event at time now; out is cleared first and filled. */
void trace_step(struct trace *t, const struct trace_event *ev, uint64_t now,
		struct trace_actions *out);
/* The kernel saw our SYN with sequence number seq leave at t: that try's
 * send time becomes its wire time (hop RTTs are wire to wire). */
void trace_tx_stamp(struct trace *t, uint32_t seq, uint64_t ts);
/* The sequence number of the SYN for ttl (1..) and try (0..): distinct per
 * (ttl, try), a few thousand above iss. */
uint32_t trace_seq(const struct trace *t, uint8_t ttl, uint8_t try);

#endif
