/* flows_fmt.h: the figures of a target probed over several flows, as JSON
 * members and as `tcpprobe probe`'s text, each from one field table: a
 * flow's row (probe's per-flow table and flows object, ctl show's flows[])
 * and a round (probe's round line and object, ctl show's round). ctl's text
 * is rendered from the JSON (views_text.c), so every view names a field
 * here, once. */
#ifndef TCPPROBE_FLOWS_FMT_H
#define TCPPROBE_FLOWS_FMT_H

#include <stdint.h>
#include <stdio.h>

#include "flows.h"
#include "json.h"

/* One flow's figures. */
struct flows_row {
	uint64_t flow, sport, probes, lost, ttl; /* ttl 0: none */
	uint64_t worse;                          /* FLOWS_WORSE_* bits */
	double loss_pct, p50_us, p99_us;         /* NAN: none */
};

/* flow is 1-based; p50/p99 in us (NAN: no RTT); why: flows_verdict's. */
void flows_row_make(struct flows_row *row, unsigned flow, uint16_t sport, uint64_t probes,
		    uint64_t lost, uint8_t ttl, double p50_us, double p99_us, uint8_t why);

/* {flow, source_port, probes, lost, loss_pct, rtt_p50_us, rtt_p99_us, ttl,
 * worse}: members of the object the caller opened (null: none). */
void flows_row_json(struct jbuf *j, const struct flows_row *row);
/* The table's heading, and a row's line ("   1  20000 ... 63"), no newline. */
void flows_head_text(FILE *f);
void flows_row_text(FILE *f, const struct flows_row *row);

/* {probes, answered, lost, rtt_min_us, rtt_median_us, rtt_max_us,
 * jitter_us}: members of the object the caller opened; and as text "8
 * probes, 7 answered, 1 lost, rtt min/median/max = a/b/c ms, jitter d ms". */
void flows_round_json(struct jbuf *j, const struct flows_round *rd);
void flows_round_text(FILE *f, const struct flows_round *rd);

#endif
