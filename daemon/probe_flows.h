/* probe_flows.h: `tcpprobe probe --flows N`: each flow's result in every
 * round (a round is one probe per flow), and what is printed of them: after
 * a round's last probe its line (text) or object (--json), and at the end
 * the per-flow table and the flows worse than the rest. The fields are
 * flows_fmt.c's (one table per view feeds the text and the JSON, and ctl
 * show's), so they cannot drift apart. The statistics are probes/flows.c's. */
#ifndef TCPPROBE_PROBE_FLOWS_H
#define TCPPROBE_PROBE_FLOWS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"
#include "json.h"

struct pflows;

/* nflows (2..FLOWS_MAX) flows over rounds rounds; NULL when out of memory. */
struct pflows *pflows_new(unsigned nflows, unsigned rounds);
void pflows_free(struct pflows *pf);
void pflows_set_port(struct pflows *pf, unsigned flow, uint16_t sport);
uint16_t pflows_port(const struct pflows *pf, unsigned flow);

/* Flow flow's (0-based) probe of round (0-based) reported r; true when that
 * was the round's last probe. */
bool pflows_record(struct pflows *pf, unsigned flow, unsigned round,
		   const struct probe_report *r);
/* The probe could not be started: neither answered nor lost. True when it
 * was the round's last. */
bool pflows_not_sent(struct pflows *pf, unsigned flow, unsigned round);

/* Where the figures go: text (f) or one JSON object a line (j, then f). The
 * JSON objects name the target as its probes do. */
struct pflows_out {
	FILE *f;
	struct jbuf *j;           /* NULL: text */
	const char *target;       /* the name given */
	const struct pkt_addr *addr;
	uint16_t port;
	bool name_target;         /* text: several targets, so say whose */
};

/* "round 3: 8 probes, 7 answered, 1 lost, rtt min/median/max = a/b/c ms,
 * jitter d ms" ("round 3 [ADDR]:PORT NAME: ..." with name_target), or {"target", "address", "port", "round": 3, "probes",
 * "answered", "lost", "rtt_min_us", "rtt_median_us", "rtt_max_us",
 * "jitter_us"} (null: no RTT / no flow with an RTT in both rounds). */
void pflows_round(const struct pflows_out *o, const struct pflows *pf, unsigned round);
/* The table (flow, sport, probes, lost, loss%, rtt p50, rtt p99, ttl) and
 * "worse flows: ..." ("worse flows [ADDR]:PORT NAME: ..." with name_target)
 * with a line of why per flow; or {"target", "address",
 * "port", "flows": [{flow, source_port, probes, lost, loss_pct, rtt_p50_us,
 * rtt_p99_us, ttl, worse}], "worse_flows": [...], "rtt_p50_ref_us",
 * "loss_ref_pct"} (ctl show's keys for the rows). */
void pflows_summary(const struct pflows_out *o, const struct pflows *pf);

#endif
