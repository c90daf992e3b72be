/* report.h: one probe's outcome as text: the JSON object (probe --json,
 * ctl watch/history), the human one-liner and the --trace timeline, and
 * the JSON read back (ctl) so every command prints a result the same way. */
#ifndef TCPPROBE_REPORT_H
#define TCPPROBE_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "engine.h"
#include "json.h"

/* target: the name the user gave (host or config target name). */
void report_json(struct jbuf *j, const char *target, const struct probe_report *r);
/* "peer": the options and TTL of the peer's SYN/ACK (null: none seen);
 * mss 0 and wscale -1 are null. */
void report_peer_json(struct jbuf *j, bool have, uint16_t mss, int8_t wscale, bool sack, bool ts,
		      uint8_t ttl);
/* "fingerprint": the peer's (null: none), and "findings": [{name, evidence,
 * ...}] (probes/findings) */
void report_fp_json(struct jbuf *j, const struct find_result *f);
void report_findings_json(struct jbuf *j, const struct find_result *f);
/* Its elements only, for an array with more (daemon/pairs.c's). */
void report_findings_items(struct jbuf *j, const struct find_result *f);
void report_timeline_json(struct jbuf *j, const struct fsm_timeline *tl, uint64_t t0);
/* The one-liner every command prints for a result (probe, ctl probe, show,
 * history, watch); seq 0: none (the daemon's results have no sequence). */
void report_line(FILE *f, const char *target, unsigned seq, const struct probe_report *r);
/* A trace's hops: the JSON array [{ttl, address, rtt_us, kind, icmp, ...}]
 * (a silent hop's address null), and traceroute's lines (report_line
 * prints them after a trace's line). */
void report_hops_json(struct jbuf *j, const struct trace_result *t);
void report_hops(FILE *f, const struct trace_result *t);
void report_trace(FILE *f, const struct probe_report *r);
/* Why a probe ended `error`, when the report knows ("send: Operation not
 * permitted"); r->send_errno must be set. */
const char *report_error_str(const struct probe_report *r, char *buf, size_t len);
/* ICMP type/code as words: "port-unreachable", "admin-prohibited", ... */
const char *report_icmp_str(uint8_t family, uint8_t type, uint8_t code);

/* ns since the epoch as local "YYYY-MM-DD HH:MM:SS.mmm". */
const char *report_time_str(uint64_t ns, char *buf, size_t len);

/* A report read back from report_json's object, as `tcpprobe ctl` gets it,
 * so that its text comes from report_line and report_trace too. */
struct report_decoded {
	struct probe_report r; /* r.tl and r.error point into this struct */
	struct fsm_timeline tl;
	struct find_text find;  /* r.find_text points here */
	struct trace_result trace; /* r.trace points here when there were hops */
	char target[320];
	char error[256];
};
/* 0, or -1 when o is not a result (kind, result, close or address unknown). */
int report_from_json(const json_t *o, struct report_decoded *out);
/* report_hops_json's array read back; 0, or -1 when arr is no array. */
int report_hops_from_json(const json_t *arr, struct trace_result *t);

#endif
