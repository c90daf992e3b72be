/*
 * fsm.h: the client-side TCP state machine (RFC 9293, RFC 5961, RFC 5927),
 * pure: it takes a connection, an event and the time, and returns the next
 * state and a list of actions. No syscalls, no clock reads, no libevent:
 * daemon/ executes the actions. All times are nanoseconds on one clock
 * chosen by the caller (tcpprobe uses CLOCK_REALTIME, the kernel's packet
 * timestamp clock).
 */
#ifndef TCPPROBE_FSM_H
#define TCPPROBE_FSM_H

#include <stdbool.h>
#include <stdint.h>

#include "packet.h"

enum tcp_state {
	TCPS_CLOSED,
	TCPS_SYN_SENT,
	TCPS_SYN_RECEIVED,
	TCPS_ESTABLISHED,
	TCPS_FIN_WAIT_1,
	TCPS_FIN_WAIT_2,
	TCPS_CLOSING,
	TCPS_TIME_WAIT,
	TCPS_CLOSE_WAIT,
	TCPS_LAST_ACK,
};
#define TCPS_COUNT (TCPS_LAST_ACK + 1)

enum probe_kind {
	PROBE_SYN,       /* SYN, SYN/ACK, RST: half-open */
	PROBE_HANDSHAKE, /* full open, then full close through TIME_WAIT */
	PROBE_FIN,       /* a bare FIN: RST means closed, silence silent */
	PROBE_TRACE,     /* SYNs with TTL 1..max_hops: the path (probes/trace.c runs it) */
};
#define PROBE_KIND_COUNT (PROBE_TRACE + 1)

enum probe_result {
	RESULT_PENDING,
	RESULT_OK,
	RESULT_REFUSED,
	RESULT_TIMEOUT,
	RESULT_UNREACHABLE,
	RESULT_RESET,
	RESULT_ERROR,
	RESULT_CLOSED, /* FIN probe: RST came back */
	RESULT_SILENT, /* FIN probe: nothing came back */
};
#define RESULT_COUNT (RESULT_SILENT + 1)

enum close_result {
	CLOSE_NONE, /* no close phase (syn/fin probes, or open failed) */
	CLOSE_OK,
	CLOSE_RESET,
	CLOSE_TIMEOUT,
};
#define CLOSE_COUNT (CLOSE_TIMEOUT + 1)

const char *tcp_state_str(enum tcp_state s);
const char *probe_kind_str(enum probe_kind k);
const char *probe_result_str(enum probe_result r);
const char *close_result_str(enum close_result r);
/* Reverse lookups; return -1 if the string names nothing. */
int probe_kind_from_str(const char *s);

/* Per-probe parameters; shared by many connections, never modified by fsm. */
struct fsm_params {
	enum probe_kind kind;
	struct pkt_syn_opts syn;  /* options our SYN carries */
	uint16_t window;          /* our advertised receive window */
	bool ecn;                 /* our SYN asks for ECN: ECE|CWR (RFC 3168 6.1.1) */
	uint64_t synack_wait_ns;  /* syn probes: after the SYN/ACK, withhold our RST this
				   * long (plus twice the RTT) and count its retransmissions
				   * (probes/findings: syn-cookies); 0: RST at once */
	uint8_t retries;          /* SYN (and FIN) retransmissions before giving up */
	uint64_t rto_ns;          /* initial retransmission timeout; doubles per retry */
	uint64_t fin_wait_2_ns;   /* how long FIN_WAIT_2 waits for the peer's FIN */
	uint64_t time_wait_ns;    /* 2*MSL */
	uint64_t hold_ns;         /* time in ESTABLISHED before the active close */
	uint8_t max_hops;         /* kind trace: the highest TTL (probes/trace.c) */
};

/* Timeline entry: a segment sent or received, or a timer/ICMP/user event,
 * with the state the connection was in after it. */
enum fsm_tl_dir {
	TL_OUT,   /* segment sent */
	TL_IN,    /* segment received */
	TL_TIMER, /* timer expired */
	TL_ICMP,  /* ICMP error received */
	TL_USER,  /* open/close/abort */
	TL_UNSENT,/* a segment we meant to send that never left this host */
};

struct fsm_tl_entry {
	uint64_t t_ns;
	uint32_t seq, ack;   /* relative: ours to ISS, peer's to IRS */
	uint16_t len;        /* payload length */
	uint8_t dir;         /* enum fsm_tl_dir */
	uint8_t flags;       /* TCP flags, ICMP type for TL_ICMP, enum fsm_event_type for TL_USER */
	uint8_t state;       /* enum tcp_state after this event */
	uint8_t stamped;     /* for TL_OUT: t_ns is the kernel's wire time */
	uint8_t code;        /* TL_ICMP: the ICMP code */
	bool crossed;        /* TL_OUT: left after entries recorded later (see fsm_tx_stamp) */
};

#define FSM_TL_MAX 24
struct fsm_timeline {
	uint8_t n;
	uint8_t dropped; /* entries that did not fit */
	struct fsm_tl_entry e[FSM_TL_MAX];
};

/* One connection. The caller owns it and its 4-tuple; fsm owns the fields.
 * Kept small: a daemon holds 100,000 of these (most in TIME_WAIT). */
struct fsm_conn {
	const struct fsm_params *p;
	struct fsm_timeline *tl; /* optional, caller-owned; NULL = no timeline */
	uint8_t state;           /* enum tcp_state */
	uint8_t result;          /* enum probe_result */
	uint8_t close_result;    /* enum close_result */
	uint8_t syn_tx;          /* SYNs sent (1 + retransmits) */
	uint8_t fin_tx;          /* FINs sent */
	uint8_t synack_seen;     /* SYN/ACKs received (>1: retransmitted) */
	bool fin_stamped;        /* t_fin is the wire time of our first FIN */
	uint8_t icmp_type, icmp_code;
	uint8_t peer_ttl, peer_wscale;
	bool have_icmp, peer_sack, peer_ts, ts_ok;
	bool synced_result;      /* RESULT_* already reported */
	bool peer_wscale_ok;     /* the SYN/ACK carried wscale (peer_wscale valid) */
	bool fin_held;           /* our FIN waits for the peer's window to open */
	uint16_t peer_mss;
	uint16_t snd_wnd;        /* peer's window, unscaled */
	uint32_t iss, snd_una, snd_nxt;
	uint32_t irs, rcv_nxt;
	uint32_t ts_offset, ts_recent;
	uint32_t bytes_rcvd;
	uint16_t dup_acks, challenge_acks;
	uint64_t deadline;       /* armed timer, 0 = none */
	/* Phase anchors (0 = not reached). */
	uint64_t t_open, t_syn, t_synack, t_fin, t_fin_acked, t_peer_fin, t_end;
	uint64_t t_syn1;         /* our first SYN (wire time once stamped) */
	/* Copies of the peer's SYN/ACK and FIN: duplicates (the network made
	 * them) vs retransmissions (the peer sent again); see fsm_copy_kind. */
	struct fsm_copy { uint64_t t; uint32_t tsval; bool ts; } last_synack, last_fin;
	uint16_t duplicates;     /* SYN/ACK or FIN copies the network duplicated */
	uint8_t peer_fin_rtx;    /* the peer retransmitted its FIN (our ACK was lost) */
	uint8_t tw_rsts;         /* RSTs received (and ignored) in TIME_WAIT */
};

/* A second copy of the peer's SYN/ACK or FIN is a duplicate when it arrives
 * less than FSM_DUP_GAP_NS after the previous copy and, if both copies carry
 * timestamps, with the same TSval: no TCP retransmits that soon (Linux's
 * minimum RTO is 200 ms, RFC 6298's 1 s) and a retransmission carries the
 * sender's clock at that time (RFC 7323 3), so only the network copies a
 * segment microseconds apart with the same TSval. Anything else is the
 * peer's retransmission. */
#define FSM_DUP_GAP_NS 100000000ull

/* How long the opt-in SYN/ACK retransmission check waits (plus twice the
 * RTT): a stateful listener that gets no ACK retransmits its SYN/ACK after
 * its RTO, 1 s in Linux (TCP_TIMEOUT_INIT) and RFC 6298. */
#define FSM_SYNACK_WAIT_NS 1500000000ull

enum fsm_event_type {
	EV_OPEN,    /* user: start the probe */
	EV_CLOSE,   /* user: active close (handshake probes do it themselves) */
	EV_ABORT,   /* user: send RST (if synchronized) and stop */
	EV_SEGMENT, /* a parsed TCP segment for this 4-tuple */
	EV_ICMP,    /* a parsed ICMP error quoting this 4-tuple */
	EV_TIMER,   /* the armed deadline passed */
	EV_SEND_ERROR, /* pkt: our segment that the host refused to send */
};

struct fsm_event {
	enum fsm_event_type type;
	const struct pkt_info *pkt; /* EV_SEGMENT, EV_ICMP, EV_SEND_ERROR */
	uint32_t iss;               /* EV_OPEN */
	uint32_t ts_offset;         /* EV_OPEN: random TSval offset (RFC 7323) */
};

enum fsm_action_type {
	ACT_SEND,        /* build and send seg */
	ACT_TIMER,       /* (re)arm the single timer at deadline; 0 cancels. A timer
			  * that fired (EV_TIMER) is disarmed without one. */
	ACT_STATE,       /* state changed to state */
	ACT_RESULT,      /* the probe's result is final: result. Once only, except
			  * that a handshake's ok becomes reset when the peer
			  * resets the connection before taking our close, or
			  * error when one of our segments cannot be sent */
	ACT_CLOSE_RESULT,/* the close phase's result is final */
	ACT_DONE,        /* the connection is CLOSED for good: free it */
};

/* A segment the fsm wants sent; the caller adds addresses, ports, TTL, TOS. */
struct fsm_segment {
	uint32_t seq, ack;
	uint16_t win;
	uint8_t flags;
	bool syn_opts; /* carry p->syn options (SYN segments) */
	bool ts;       /* carry a timestamps option (on a SYN/ACK only if the peer's SYN had one) */
	uint32_t tsval, tsecr;
};

struct fsm_action {
	enum fsm_action_type type;
	union {
		struct fsm_segment seg;
		uint64_t deadline;
		uint8_t state;
		uint8_t result;
	} u;
};

#define FSM_ACTIONS_MAX 8
struct fsm_actions {
	unsigned n;
	struct fsm_action a[FSM_ACTIONS_MAX];
};

/* Initialise c for a probe with params p (and optional timeline tl). */
void fsm_init(struct fsm_conn *c, const struct fsm_params *p,
	      struct fsm_timeline *tl);
/* Feed one event at time now; out is cleared first and filled. */
void fsm_step(struct fsm_conn *c, const struct fsm_event *ev, uint64_t now,
	      struct fsm_actions *out);
/* The kernel saw our segment (flags, absolute seq) leave at t (captured on
 * the way out, the same timestamp a tcpdump on that interface records).
 * Moves the earliest unstamped matching TL_OUT entry to t, and the phase
 * anchors: t_syn for a SYN (the latest SYN wins), t_syn1 for the first SYN
 * (while it is the only one sent), t_fin for the first FIN.
 * Until then they hold the time the fsm decided to send. The timeline stays
 * ordered by time: a stamped entry later than entries recorded after it
 * (a peer segment that arrived while ours waited to leave: the two crossed)
 * moves behind them and is marked crossed. */
void fsm_tx_stamp(struct fsm_conn *c, uint8_t flags, uint32_t seq, uint64_t t);
/* The timeline's entries in time order (stable: equal times keep the order
 * they were recorded in), as indices into tl->e; returns how many. Entries are
 * recorded as they are processed, and a frame's kernel time can be earlier
 * than a timer processed before it in the same loop pass. */
unsigned fsm_timeline_order(const struct fsm_timeline *tl, uint8_t order[FSM_TL_MAX]);

/* Phase latencies in ns, 0 when the phase did not complete.
 * Karn's rule (RFC 6298 section 5, Karn and Partridge 1987): once a SYN has
 * been retransmitted, a SYN/ACK cannot tell which SYN it answers (in the lab
 * Linux's SYN/ACK for a retransmitted SYN echoed the first SYN's TSval, so
 * TSecr does not tell either), so such a handshake yields no RTT sample:
 * handshake is 0 and rtt_ambiguous is set. connect is always the time from
 * the first SYN to the SYN/ACK, which includes the retransmission delays. */
struct fsm_phases {
	uint64_t handshake;  /* SYN sent -> SYN/ACK received; 0 if ambiguous */
	uint64_t connect;    /* first SYN sent -> SYN/ACK received */
	bool rtt_ambiguous;  /* a SYN/ACK came after a retransmitted SYN */
	uint64_t fin_ack;    /* our FIN sent -> its ACK */
	uint64_t fin_wait_2; /* ACK of our FIN -> peer's FIN */
	uint64_t close;      /* our FIN sent (or peer FIN received) -> CLOSED/TIME_WAIT entered */
};
void fsm_phases(const struct fsm_conn *c, struct fsm_phases *out);

#endif
