/* pathwatch.h: trace_interval, the daemon's side of path change detection
 * (README "Path changes"): each target's traces on their own schedule (a
 * timer wheel of their own), per flow over flows (flows = N), the early
 * trace when the SYN/ACKs' TTL moves, and what each trace means for the
 * target's (the flow's) path (probes/path.h decides).
 * Part of the registry module (registry_priv.h's state); sched.c calls it
 * when a target is prepared, added, removed or freed and for every probe
 * result. */
#ifndef TCPPROBE_PATHWATCH_H
#define TCPPROBE_PATHWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "targets.h"

struct registry;

/* The trace wheel and its timer: 0, or -1 (out of memory). */
int pathwatch_init(struct registry *reg);
void pathwatch_free(struct registry *reg);

/* t's trace profile from its options (kind trace), when it has a
 * trace_interval: 0, or -1 (out of memory). */
int pathwatch_prepare(struct target *t);
/* Schedule t's traces (its first within 10 s). */
void pathwatch_add(struct registry *reg, struct target *t, uint64_t now);
/* Stop t's traces and release their source port (a trace in flight still
 * reports: t is a zombie until then, see pathwatch_busy). */
void pathwatch_remove(struct registry *reg, struct target *t);
/* Free t's trace state (the target goes). */
void pathwatch_destroy(struct target *t);
/* A trace of t is in flight. */
bool pathwatch_busy(const struct target *t);
/* A probe result of t: its SYN/ACK's TTL may call for an early trace (of
 * its flow, over flows); a kind trace target's trace of a flow is judged
 * for path changes (per flow, as trace_interval's). */
void pathwatch_probe_result(struct registry *reg, struct target *t, const struct probe_report *r);
/* Over flows, one connection at a time on a flow's 4-tuple. Before the
 * schedule starts flow f's probe: true when the flow's trace holds the
 * 4-tuple (the probe then starts when it has reported: sched_flow_start),
 * else the probe is marked running. */
bool pathwatch_flow_hold(struct target *t, unsigned f);
/* Flow f's probe is over (reported, or could not start): a trace waiting
 * for its 4-tuple may go. */
void pathwatch_flow_end(struct registry *reg, struct target *t, unsigned f);

#endif
