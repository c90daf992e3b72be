/*
 * path.h: what counts as a path change, and how far away the peer is.
 * Pure: the daemon feeds it each finished trace of a target (path_observe)
 * and each SYN/ACK's TTL (path_peer_hops); it answers whether the path
 * changed and when to trace again. No I/O, no clocks: times come in.
 * The rules are README's "Path changes".
 */
#ifndef TCPPROBE_PATH_H
#define TCPPROBE_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

/* The initial TTL a stack most likely used: the smallest of 64 (Linux,
 * BSDs, macOS), 128 (Windows) and 255 (network gear) that is >= ttl. */
uint8_t path_initial_ttl(uint8_t ttl);
/* Routers between the peer and us on its way back: initial - ttl (0: on
 * our link). */
unsigned path_hops_from_ttl(uint8_t ttl);

/* A path is a finished trace (probes/trace.h). Complete: it ended where
 * the path ends, at the target (its SYN/ACK or RST) or at an ICMP
 * unreachable. A trace that ran out of max_hops, or could not send, says
 * nothing about the path. */
bool path_complete(const struct trace_result *r);
/* Both complete with the same number of hops and, at every TTL, the same
 * answer (kind and address) or a silent hop on either side ("*" matches
 * anything: a router that rate-limits its ICMP errors is no change). Not
 * trace_path_eq, for which a silent hop matches only a silent one. */
bool path_match(const struct trace_result *a, const struct trace_result *b);

/* "198.18.1.1 198.18.2.1 * 198.18.4.2", "*" for a silent hop, "!" after
 * an ICMP unreachable's sender; an incomplete trace ends in " ...". */
const char *path_str(const struct trace_result *r, char *buf, size_t len);

/* What one trace meant (path_observe). */
enum path_verdict {
	PATH_INCOMPLETE, /* it did not reach the target: no verdict, nothing kept */
	PATH_FIRST,      /* the first complete trace: now the current path */
	PATH_SAME,       /* it matches the current path */
	PATH_SUSPECT,    /* it differs: trace again at once to confirm */
	PATH_UNDECIDED,  /* it matches both the current path and the suspect (silent
			  * where they differ): trace again */
	PATH_CHANGED,    /* a second trace in a row agrees on the new path: counted */
};
const char *path_verdict_str(enum path_verdict v);

/* Immediate confirmation traces in a row, at most; then the schedule's
 * next trace decides. A route that flaps faster than traces finish is not
 * chased at the probe rate. */
#define PATH_CONFIRM_MAX 3

/* A target's path history. Zero it to start. */
struct path_track {
	struct trace_result cur, prev, cand;
	bool have_cur, have_prev, have_cand;
	uint64_t changes;       /* confirmed changes */
	uint64_t cur_ns;        /* when cur was first seen (its first trace, or the
				 * first trace of the change) */
	uint64_t changed_ns;    /* when the last change was first seen; 0: none */
	uint64_t traced_ns;     /* the last trace's end; 0: none yet */
	uint64_t cand_ns;       /* when cand was first seen */
	unsigned confirming;    /* confirmation traces asked for in a row */
	enum path_verdict last; /* the last trace's verdict */
	/* The SYN/ACK TTL signal (path_peer_hops). */
	bool have_hops;
	unsigned hops;
	uint64_t early_ns;      /* when an early trace was last asked for; 0: never */
};

/* A finished trace p, ended at now. PATH_SUSPECT asks for another trace at
 * once unless PATH_CONFIRM_MAX confirmations in a row were already asked
 * for (path_confirm_wanted says which). A change is counted when two traces
 * in a row agree on a path that does not match the current one: one route
 * change is one change, even when a trace straddles it and sees half of
 * each path (that trace and the next differ; the next and its confirmation
 * agree). Its time is the first of the two traces. Traces that match keep
 * the current path, its silent hops filled in by the later trace. */
enum path_verdict path_observe(struct path_track *t, const struct trace_result *p, uint64_t now);
/* After path_observe: whether to trace again at once. */
bool path_confirm_wanted(const struct path_track *t);

/* A target traced over flows (flows = N) keeps one path_track per flow,
 * each flow on its own 5-tuple and so on its own ECMP path: the rules above
 * hold per flow, and the target's figures are their sum. NULL entries
 * (flows not traced yet) count nothing. */
struct path_sum {
	uint64_t changes;       /* over all flows */
	uint64_t changed_ns;    /* the latest change of any flow; 0: none */
	uint64_t traced_ns;     /* the latest trace of any flow; 0: none */
	enum path_verdict last; /* that trace's verdict */
	unsigned max_hops;      /* the longest current path (routers, the target's TTL - 1) */
	bool have_cur;          /* some flow has a current path (then max_hops) */
};
void path_sum(const struct path_track *const *flows, unsigned n, struct path_sum *out);

/* A SYN/ACK arrived with this TTL at now. True when the hop count differs
 * from the last SYN/ACK's and an early trace is allowed: at most one per
 * interval (the target's trace_interval), so a peer whose SYN/ACKs take two
 * return paths of different lengths cannot trigger traces at its probe
 * rate. The caller then traces now (or after the trace in flight). */
bool path_peer_hops(struct path_track *t, uint8_t ttl, uint64_t now, uint64_t interval);

#endif
