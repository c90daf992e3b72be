/* flows.h: statistics of a target probed over several flows (one source
 * port each, so each stays on one ECMP path): per round (the probes of one
 * slot, one per flow) and per flow, and which flows are worse than the
 * rest. Pure: no I/O, no clock. RTTs are microseconds (double). */
#ifndef TCPPROBE_FLOWS_H
#define TCPPROBE_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOWS_MAX 64

/* Quantile q (0..1) of v[0..n) by nearest rank (sorts v; the median of an
 * even count is the mean of the middle two); NAN when n == 0. */
double flows_quantile(double *v, size_t n, double q);

/* One flow's probe of a round. */
struct flows_sample {
	bool lost;        /* nothing answered (probes/outcome: unanswered) */
	bool answered;    /* an RST, ICMP error or SYN/ACK came */
	double rtt_us;    /* NAN: none (no SYN/ACK, or ambiguous) */
	double prev_us;   /* the same flow's RTT in the previous round; NAN: none */
};

struct flows_round {
	unsigned probes, answered, lost;
	unsigned n_rtt;
	double rtt_min_us, rtt_median_us, rtt_max_us; /* NAN when n_rtt == 0 */
	/* Mean over the round's flows of |RTT - that flow's RTT in the
	 * previous round| (ping's mdev idea, per flow so that paths of
	 * different length do not count as jitter); NAN when no flow had an
	 * RTT in both rounds. */
	double jitter_us;
};
void flows_round(const struct flows_sample *s, unsigned n, struct flows_round *out);

/* What the worse-flows rule needs of a flow. */
struct flows_flow {
	uint64_t probes, lost;  /* probes whose result counts (answered or lost) */
	double rtt_p50_us;      /* NAN: no RTT */
};

/* The rule (README "Flows"):
 * - RTT: a flow is worse when its RTT p50 is more than FLOWS_RTT_FACTOR
 *   times the best flow's p50 and at least FLOWS_RTT_FLOOR_US above it
 *   (the best, not the median: with two paths the bad one may carry most
 *   flows).
 * - loss: a flow is worse when its losses are improbable (one-sided
 *   binomial tail < FLOWS_LOSS_P) at the loss rate of the best quarter of
 *   the flows (pooled, (lost + 1) / (probes + 2), so never 0).
 * The best flows are never worse. */
#define FLOWS_RTT_FACTOR 2.0
#define FLOWS_RTT_FLOOR_US 1000.0
#define FLOWS_LOSS_P 0.001
enum { FLOWS_WORSE_RTT = 1, FLOWS_WORSE_LOSS = 2 };
struct flows_verdict {
	uint8_t why[FLOWS_MAX];   /* FLOWS_WORSE_* bits per flow, 0: not worse */
	unsigned n_worse;
	double ref_rtt_p50_us;    /* the best flow's p50; NAN: none */
	double ref_loss;          /* the reference loss rate */
};
void flows_worse(const struct flows_flow *f, unsigned n, struct flows_verdict *v);

/* P(X >= k) for X ~ Binomial(n, p). */
double flows_binom_tail(uint64_t n, uint64_t k, double p);

/* The IPv6 flow label of a flow's packets: fixed per source port (so the
 * flow keeps one label, as it keeps one port), never 0. */
uint32_t flows_label(uint16_t sport);

#endif
