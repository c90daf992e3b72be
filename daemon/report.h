/* report.h: one probe's outcome as text: the JSON object (probe --json,
 * ctl watch/history), the human one-liner and the --trace timeline. */
#ifndef TCPPROBE_REPORT_H
#define TCPPROBE_REPORT_H

#include <stdio.h>

#include "engine.h"
#include "json.h"

/* target: the name the user gave (host or config target name). */
void report_json(struct jbuf *j, const char *target, const struct probe_report *r);
/* "peer": the options and TTL of the peer's SYN/ACK (null: none seen);
 * mss 0 and wscale -1 are null. */
void report_peer_json(struct jbuf *j, bool have, uint16_t mss, int8_t wscale, bool sack, bool ts,
		      uint8_t ttl);
void report_timeline_json(struct jbuf *j, const struct fsm_timeline *tl, uint64_t t0);
void report_line(FILE *f, const char *target, unsigned seq, const struct probe_report *r);
void report_trace(FILE *f, const struct probe_report *r);
/* Why a probe ended `error`, when the report knows ("send: Operation not
 * permitted"); r->send_errno must be set. */
const char *report_error_str(const struct probe_report *r, char *buf, size_t len);
/* ICMP type/code as words: "port-unreachable", "admin-prohibited", ... */
const char *report_icmp_str(uint8_t family, uint8_t type, uint8_t code);

#endif
