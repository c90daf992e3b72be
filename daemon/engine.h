/* engine.h: runs probes on the wire. Owns the raw sockets, the RST guard,
 * the connection table (4-tuple hash), the timer wheel, source ports and
 * the packets-per-second cap, and executes the actions of probes/fsm.
 * Shared by `tcpprobe probe` and `tcpprobe daemon`. Implemented by engine*.c
 * (engine.c says which file does what), sharing engine_priv.h. */
#ifndef TCPPROBE_ENGINE_H
#define TCPPROBE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "findings.h"
#include "fsm.h"
#include "packet.h"
#include "trace.h"

struct event_base;
struct engine;

struct engine_cfg {
	uint16_t sport_lo, sport_hi;
	unsigned max_inflight;  /* probes running at once (TIME_WAIT excluded) */
	unsigned pps;           /* packets per second cap; 0 = none */
	bool rst_guard;         /* install the nftables RST guard */
	bool quiet;             /* probes that cannot start are only reported (r->error), not logged */
};

/* What a probe of one target does; shared by many connections and
 * reference counted, because a connection in TIME_WAIT outlives its target. */
struct engine_profile {
	struct fsm_params fp;
	uint8_t ttl, tos;
	uint16_t expect_mss;    /* probes/findings' mss-clamped threshold; 0: by family */
	bool flow_label;        /* IPv6: a flow label fixed per source port (probes/flows) */
	struct trace_params tp; /* kind trace: from fp (max_hops, retries, timeout) */
	unsigned refs;
	/* What its connections met in TIME_WAIT after their probe was reported
	 * (so in no report): its owner's share of engine_stats' tw_ counters. */
	struct engine_tw_counts {
		uint64_t duplicates, peer_fin_retransmits, rsts;
	} tw;
};

/* Everything a finished probe yields. */
struct probe_report {
	struct pkt_addr src, dst;
	uint16_t sport, dport;
	uint8_t kind;           /* enum probe_kind */
	uint8_t result;         /* enum probe_result */
	uint8_t close_result;   /* enum close_result */
	uint8_t syn_retransmits, synack_seen;
	bool have_icmp, have_peer;
	uint8_t icmp_type, icmp_code;
	uint8_t peer_ttl;       /* the SYN/ACK's; a trace's: its target's (have_peer false); 0: none */
	uint8_t flow;           /* 1..64: the flow of a target probed over several; 0: one */
	int8_t peer_wscale;     /* -1: none */
	bool peer_sack, peer_ts;
	uint16_t peer_mss;      /* 0: none */
	uint16_t challenge_acks, dup_acks;
	uint8_t send_errno;     /* result error: our segment could not be sent (errno) */
	uint16_t duplicates;    /* SYN/ACK and FIN copies the network duplicated */
	uint8_t fin_retransmits, peer_fin_retransmits;
	uint32_t bytes_rcvd;
	uint32_t iss, irs;
	uint64_t t_start;       /* CLOCK_REALTIME ns of the first SYN/FIN */
	struct fsm_phases ph;
	struct find_result find;      /* middlebox findings and the peer's fingerprint */
	const struct find_text *find_text; /* set: a report read back from JSON, whose
				       * findings are this text (find is empty) */
	const struct fsm_timeline *tl; /* valid during the callback only */
	const char *error;      /* result error with nothing sent: why (valid during the
				 * callback only), else NULL */
	const struct trace_result *trace; /* kind trace: the hops (valid during the callback
				 * only), else NULL */
};

typedef void (*engine_report_cb)(void *arg, const struct probe_report *r);

struct engine_probe {
	struct pkt_addr dst;
	struct pkt_addr src;            /* family 0: route lookup per probe */
	uint16_t dport;
	unsigned ifindex;               /* zone of a link-local IPv6 dst ("%eth0"), else 0 */
	uint16_t sport;                 /* a flow's port (engine_ports_reserve); 0: any free */
	uint8_t flow;                   /* into the report (probe_report.flow) */
	struct engine_profile *profile; /* engine takes a reference */
	bool timeline;                  /* record the timeline */
	engine_report_cb cb;            /* called once, when result (and close) are final */
	void *arg;
};

struct engine_stats {
	uint64_t tx_packets, tx_errors, rx_packets, rx_unmatched, rx_bad, rx_kernel_drops;
	uint64_t probes_started, probes_waited; /* waited: queued on pps/in-flight caps */
	uint64_t conns, inflight, queued, time_wait;
	uint64_t conn_bytes;    /* sizeof one connection */
	uint64_t port_exhausted;
	/* Counted in TIME_WAIT after the probe was reported (so in no report):
	 * duplicated and retransmitted peer FINs, RSTs received. */
	uint64_t tw_duplicates, tw_peer_fin_retransmits, tw_rsts;
};

struct engine *engine_new(struct event_base *base, const struct engine_cfg *cfg, char *err,
			  size_t errlen);
/* Abort every synchronized connection with a RST, flush, remove the guard. */
void engine_free(struct engine *e);
/* Start a probe now, or queue it behind the caps. 0, or -1 with err. The
 * queue is FIFO and a probe starts at once only when it is empty (sched.c
 * relies on this to tell whether a target's last probe has started). */
int engine_start(struct engine *e, const struct engine_probe *p, char *err, size_t errlen);
/* Reserve n source ports toward (dst, dport) for a target's flows: the
 * engine hands them to no other probe until released. A probe with .sport
 * set uses its port; if the flow's previous connection still holds the
 * 4-tuple in TIME_WAIT it is ended (as Linux's tcp_tw_reuse: the tuple's
 * ISN and TSval only grow), if it is still running the probe fails. 0, or
 * -1 with err (the range has fewer than n free ports for dst). */
int engine_ports_reserve(struct engine *e, const struct pkt_addr *dst, uint16_t dport, unsigned n,
			 uint16_t *ports, char *err, size_t errlen);
void engine_ports_release(struct engine *e, const struct pkt_addr *dst, uint16_t dport,
			  unsigned n, const uint16_t *ports);
void engine_stats(struct engine *e, struct engine_stats *out);
/* Probes not yet reported plus connections still alive (TIME_WAIT). */
uint64_t engine_busy(const struct engine *e);
/* Probes waiting on the pps / in-flight caps. */
uint64_t engine_queued(const struct engine *e);

struct engine_profile *engine_profile_new(const struct fsm_params *fp, uint8_t ttl, uint8_t tos);
void engine_profile_ref(struct engine_profile *p);
void engine_profile_unref(struct engine_profile *p);

/* The local address the kernel would use to reach dst (route lookup via a
 * connected UDP socket; nothing is sent), on interface ifindex for a
 * link-local IPv6 dst (0: none). 0 or -1 with err. */
int engine_source_addr_scoped(const struct pkt_addr *dst, unsigned ifindex, struct pkt_addr *src,
			      char *err, size_t errlen);
uint64_t engine_now(void); /* CLOCK_REALTIME ns: the kernel's timestamp clock */

#endif
