/* targets.h: what the daemon keeps per target: its config, resolved
 * addresses, schedule, counters, latency histograms and recent results.
 * Read by control.c (ctl), metrics.c (Prometheus) and written by sched.c. */
#ifndef TCPPROBE_TARGETS_H
#define TCPPROBE_TARGETS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "flows.h"
#include "path.h"
#include "series.h"
#include "wheel.h"

/* PHASE_HANDSHAKE holds RTT samples only (Karn: none after a retransmitted
 * SYN); PHASE_CONNECT every first-SYN-to-SYN/ACK time. */
enum phase { PHASE_HANDSHAKE, PHASE_FIN_ACK, PHASE_FIN_WAIT_2, PHASE_CLOSE, PHASE_CONNECT };
#define PHASE_COUNT (PHASE_CONNECT + 1)
/* "handshake", "fin_ack", "fin_wait_2", "close", "connect" */
const char *phase_str(enum phase p);

/* A latency histogram over the configured bucket bounds (seconds);
 * counts[i] holds observations <= bounds[i] and > bounds[i-1]; the last
 * slot (index nbuckets) is +Inf. Not cumulative: renderers add up. */
struct hist {
	uint64_t counts[CFG_BUCKETS_MAX + 1];
	uint64_t n;
	double sum; /* seconds */
};
void hist_add(struct hist *h, const double *bounds, unsigned nbuckets, double v);
/* Quantile q (0..1) estimated by linear interpolation in the buckets, as
 * Prometheus' histogram_quantile does; NAN when empty. */
double hist_quantile(const struct hist *h, const double *bounds, unsigned nbuckets, double q);

/* One past result, with its timeline (entries allocated to size). */
struct hist_entry {
	struct probe_report r;   /* r.tl points at tl below (or NULL), r.error at error */
	struct fsm_timeline *tl;
	char *error;             /* a copy: the report's own is valid during its callback only */
	struct trace_result *trace; /* a trace's hops, allocated to their number (r.trace) */
};

struct target_stats {
	uint64_t probes;                  /* results recorded */
	uint64_t by_result[RESULT_COUNT];
	uint64_t by_close[CLOSE_COUNT];
	uint64_t syn_retransmits, synack_retransmits;
	uint64_t rtt_ambiguous;           /* probes whose SYN/ACK came after a retransmitted SYN */
	uint64_t duplicates, fin_retransmits, peer_fin_retransmits;
	/* PHASE_COUNT histograms, allocated at the first sample: 1.4 KB a
	 * target that 100,000 targets touched at start-up for nothing. NULL
	 * reads as empty (target_phase). */
	struct hist *phase;
	uint64_t last_ok_ns, last_probe_ns;   /* CLOCK_REALTIME */
	uint8_t last_result;                  /* enum probe_result; RESULT_PENDING = none yet */
	uint64_t last_rtt_ns;
	bool have_peer;
	uint16_t peer_mss;
	int8_t peer_wscale;
	bool peer_sack, peer_ts;
	uint8_t peer_ttl;
	/* probes/findings of the last probe that got a SYN/ACK, its
	 * fingerprint, and how often that changed between two such probes. */
	struct find_result find;              /* find.have_fp: there was one */
	uint64_t fp_changes;
	/* The last finished trace (kind trace; or a path trace), NULL before
	 * the first: ctl show's "trace", tcpprobe_trace_* metrics. */
	struct trace_result *trace;
};

/* One flow of a target (probes/flows): what `ctl show`'s flows table and
 * the per-flow metrics read. RTTs: a ring of the last FLOW_RTT_WINDOW, for
 * p50/p99 (exact over the window, where the histogram's buckets are coarse). */
#define FLOW_RTT_WINDOW 128
struct target_flow {
	uint64_t probes, lost;            /* answered or lost (errors are neither) */
	uint64_t by_result[RESULT_COUNT];
	uint64_t rtt_count;               /* RTT samples (summary _count) */
	double rtt_sum_s;                 /* summary _sum */
	float rtt_us[FLOW_RTT_WINDOW];
	uint8_t ttl;                      /* the last SYN/ACK's; 0: none */
	uint8_t cur;                      /* this round: TF_* */
	double cur_rtt_us, prev_rtt_us;   /* this round's and the last round's; NAN: none */
	struct trace_result *trace;       /* kind trace: the flow's last trace (its ECMP path),
					   * allocated to its hops; NULL: none */
	struct path_track *path;          /* its path changes (target_path_per_flow), allocated
					   * at its first trace (6.3 KB); NULL: none yet */
};
enum { TF_NONE, TF_ANSWERED, TF_LOST };

/* A target probed over several flows (flows > 1), allocated at its first
 * round: the flows' source ports (reserved in the engine for (dst, dport))
 * and their statistics. */
struct target_flows {
	unsigned n;                       /* ports reserved; 0: none (yet) */
	struct pkt_addr dst;
	uint16_t dport;
	uint16_t port[FLOWS_MAX];         /* kept when released (n = 0): the ports
					   * the flows' probes last used; 0: none */
	unsigned nf;                      /* flows (f[] entries) */
	uint64_t pending;                 /* flows of this round not reported yet (bits) */
	uint64_t rounds;                  /* rounds complete */
	struct flows_round last;          /* the last complete round (rounds > 0) */
	uint64_t traces;                  /* kind trace: its flows' traces (path_traces) */
	struct target_flow f[];
};
struct target_flows *target_flows_new(unsigned nf);
void target_flows_free(struct target_flows *tf);
/* p50 and p99 of flow f's RTT window (us; NAN: none). */
void target_flow_quantiles(const struct target_flow *f, double *p50, double *p99);
/* The flows worse than the rest (probes/flows' rule) over the windows. */
void target_flows_worse(const struct target_flows *tf, struct flows_verdict *v);

/* A target's traces (trace_interval): their schedule and the paths they
 * saw (probes/path). Kept apart: most targets trace nothing. */
struct target_trace {
	struct wheel_entry due;           /* next regular trace (the daemon's trace wheel) */
	struct target *t;
	struct engine_profile *prof;      /* the target's options with kind trace */
	uint64_t next_base;               /* next slot on its trace_interval grid */
	unsigned inflight;                /* traces running */
	bool again;                       /* trace again once it reports (confirm, early) */
	uint64_t traces, early;           /* traces finished; of those started early (TTL) */
	/* Over flows (flows > 1), one bit a flow: each flow is traced on its own
	 * source port (and flow label), one connection at a time on its 4-tuple:
	 * a trace waits for the flow's probe, a probe for the flow's trace. */
	uint64_t fbusy;                   /* the flow's trace runs (or waits on the caps) */
	uint64_t fwant;                   /* trace it once its 4-tuple is free */
	uint64_t fprobe;                  /* its probe runs (or waits on the caps) */
	uint64_t fwait;                   /* its probe waits for its trace */
	/* One flow: every trace of the target from one reserved source port
	 * toward (dst, dport): one 5-tuple, so ECMP keeps every trace on one path. */
	uint16_t sport;                   /* 0: none reserved (yet) */
	struct pkt_addr dst;
	uint16_t dport;
	struct path_track track;
};

struct target {
	struct target_cfg cfg;            /* name, host, probe options */
	struct engine_profile *prof;
	struct pkt_addr addr, src;        /* resolved; addr.family 0 = not resolved */
	unsigned ifindex;                 /* a link-local addr's zone ("%eth0"), else 0 */
	char *error;                      /* why it cannot be probed (target_msg: none = fine) */
	uint8_t logged_errno;             /* the last send error logged for it */
	void *owner;                      /* the registry (struct registry) */
	bool paused;
	bool removed;                     /* removed while a probe was in flight */
	struct target *znext;             /* the registry's list of removed targets */
	/* Names (resolve.c): the address above is the last good answer. */
	bool is_name;                     /* host is a name, not an address */
	struct resolve_req *dns;          /* lookup in flight */
	struct wheel_entry rsched;        /* next lookup */
	uint64_t resolved_at;             /* CLOCK_REALTIME ns of the last answer; 0 none */
	unsigned resolve_failures;        /* consecutive failed lookups (backoff) */
	char *resolve_error;              /* the last lookup's error (none: it succeeded) */
	unsigned inflight;
	struct wheel_entry sched;         /* next probe (in the daemon's schedule wheel) */
	uint64_t phase_ns;                /* offset in the interval (deterministic spread) */
	uint64_t next_base;               /* next slot on the interval grid (before jitter) */
	uint64_t due;                     /* next_base plus this slot's jitter */
	uint64_t expected;                /* probes due so far (paused slots excluded) */
	uint64_t handoff;                 /* sequence number of its last engine_start */
	struct target_stats st;
	struct hist_entry *ring;          /* last `history` results; allocated at the first */
	unsigned ring_cap, ring_head, ring_n;
	struct target_trace *tr;          /* trace_interval set: its traces (sched.c) */
	struct series series;             /* per-bucket summaries (status page) */
	struct target_slab *slab;         /* the block it lives in, NULL: its own allocation */
	struct target_flows *flows;       /* flows > 1 only, else NULL */
	/* daemon/pairs.c: its slots (by address:port, by host:port) and the
	 * findings they gave it (1 << enum find_name) */
	struct pair_slot *pslot[2];
	uint8_t pfound;
};

/* Targets of a bulk load in one mapping whose pages the kernel fills at once
 * (huge pages where it can): 100,000 targets one calloc each spent most of
 * the start-up in page faults. NULL when the mapping fails; target_alloc then
 * falls back to calloc. */
struct target_slab;
#define TARGET_SLAB_MIN 1024 /* smaller loads: calloc per target */
struct target_slab *target_slab_new(size_t n);
/* A zeroed target: the slab's next one while it has room, else calloc'd. */
struct target *target_alloc(struct target_slab *s);
/* The slab's creator is done taking targets from it: it goes with its last target. */
void target_slab_done(struct target_slab *s);
/* Free t's memory (its slab's mapping, if it was the last one there). */
void target_dealloc(struct target *t);

/* Path changes per flow (each flow's path_track, target_flow.path): a
 * target over flows (flows > 1) with trace_interval, or of kind trace. */
static inline bool target_path_per_flow(const struct target *t)
{
	return t->cfg.opts.flows > 1 &&
	       (t->cfg.opts.trace_interval_ns || t->cfg.opts.kind == PROBE_TRACE);
}
/* Whether t counts path changes (one tracker, or one per flow). */
static inline bool target_path_watched(const struct target *t)
{
	return t->cfg.opts.trace_interval_ns || target_path_per_flow(t);
}
/* t's one path, NULL when it traces nothing (trace_interval off) or
 * per flow (target_path_sum). */
static inline const struct path_track *target_path(const struct target *t)
{
	return t->tr && t->cfg.opts.trace_interval_ns && !target_path_per_flow(t) ? &t->tr->track
										   : NULL;
}
/* t's path figures: its one tracker's, or the sum over its flows'. */
void target_path_sum(const struct target *t, struct path_sum *out);

/* A target's messages (error, resolve_error): NULL or "" is none. The
 * buffer is allocated when one is first set and kept for the next: most
 * targets never have one, and two fixed 256-byte arrays were a third of
 * every target that 100,000 targets cleared at start-up for nothing. Out
 * of memory, the message is lost (none). */
#define TARGET_MSG_MAX 256
void target_msg_set(char **msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void target_msg_clear(char *msg)
{
	if (msg)
		msg[0] = 0;
}
static inline bool target_msg_has(const char *msg) { return msg && msg[0]; }
static inline const char *target_msg(const char *msg) { return msg ? msg : ""; }

/* Histogram p of s: its own, or an empty one before the first sample. */
const struct hist *target_phase(const struct target_stats *s, enum phase p);
/* Forget every histogram (the bucket bounds changed; the target goes). */
void target_clear_phases(struct target_stats *s);
/* "ok", "paused" or "error" (t->error says why): ctl's and the page's state. */
const char *target_state(const struct target *t);

/* A round starts: the one before ends with what came in (flows only). */
void target_round_start(struct target *t);
/* Keep r as t's last trace (a copy; out of memory: the one before stays);
 * target_record does it for a trace's result. Forget frees it. */
void target_keep_trace(struct target *t, const struct trace_result *r);
void target_forget_trace(struct target_stats *s);

/* Record a finished probe. */
void target_record(struct target *t, const struct probe_report *r, const double *bounds,
		   unsigned nbuckets);
/* i-th most recent result (0 = newest), NULL past the end. */
const struct hist_entry *target_history(const struct target *t, unsigned i);
void target_free_history(struct target *t);
/* Resize the history ring (keeps the newest). */
int target_set_history(struct target *t, unsigned cap);

#endif
