/* registry.h: the target registry and its scheduler (registry.c, sched.c,
 * resolve.c), as the lifecycle, the control socket, the metrics endpoint,
 * the views and discovery see it; every name here is registry_*. The
 * module knows none of its users; its state (struct registry) is
 * registry_priv.h's, for its own files only. */
#ifndef TCPPROBE_REGISTRY_H
#define TCPPROBE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "targets.h"

struct registry;
struct event_base;

struct registry_status {
	const char *version;
	uint64_t start_ns, now_ns;          /* CLOCK_REALTIME */
	size_t targets, paused;
	struct engine_stats eng;
	double pps_out;                      /* packets sent per second, last ~10 s */
	uint64_t sched_late_ns_total;        /* summed lateness of probe starts */
	uint64_t sched_late_max_ns;
	uint64_t sched_skipped;              /* slots skipped: overloaded (see sched.c) */
	uint64_t reloads, reload_errors;
	uint64_t rss_bytes;                  /* from /proc/self/statm */
	uint64_t target_bytes;               /* sizeof(struct target) */
	const char *config_path;
	const char *log_level;
};

/* The registry on base, probing with eng, under cfg (the lifecycle's: it
 * stays valid until registry_apply gets another or registry_free). NULL
 * with err when out of memory. No targets until registry_apply. */
struct registry *registry_new(struct event_base *base, const struct config *cfg,
			      struct engine *eng, char *err, size_t errlen);
/* Frees every target and lookup; after engine_free, before the base goes
 * (it runs the loop to collect cancelled lookups). */
void registry_free(struct registry *reg);
/* Replace the target set with cfg's (initial: the first load) and run
 * under cfg from now on. Targets whose name and settings are unchanged
 * keep their object: history, counters and schedule (their phase
 * histograms start over if cfg's bucket bounds differ). 0, or -1 (out of
 * memory) with the running set (and config) unchanged. */
int registry_apply(struct registry *reg, const struct config *cfg, bool initial);
/* Start the probes that are due now, then wait for the next. */
void registry_kick(struct registry *reg);
/* Once a second (the lifecycle's tick): the packet rate; returns it. */
double registry_tick(struct registry *reg);
/* A reload done (ok) or refused: the status counts them. */
void registry_count_reload(struct registry *reg, bool ok);

const struct config *registry_config(struct registry *reg);
void registry_status(struct registry *reg, struct registry_status *out);
/* Config targets left to other shards by the last registry_apply. */
uint64_t registry_shard_skipped(struct registry *reg);

/* Targets in stable (config, then add) order. */
size_t registry_target_count(struct registry *reg);
struct target *registry_target_at(struct registry *reg, size_t i);
struct target *registry_target_find(struct registry *reg, const char *name);
/* For a reader that works across loop passes (a /metrics render in
 * pieces): the registry's targets as they are now, in a copy of its order.
 * Until that copy is unpinned, a target removed meanwhile is kept (not
 * freed), so every pointer in it stays valid. NULL when out of memory. */
struct target **registry_targets_pin(struct registry *reg, size_t *n);
void registry_targets_unpin(struct registry *reg, struct target **pinned);

/* Mutations; each returns 0 or -1 with err set to a message for the user. */
int registry_target_add(struct registry *reg, const char *name, const char *hostport,
		      char *const *kv, size_t nkv, char *err, size_t errlen);
int registry_target_remove(struct registry *reg, const char *name, char *err, size_t errlen);
/* name NULL: all targets. */
int registry_target_pause(struct registry *reg, const char *name, bool pause, char *err, size_t errlen);

/* For discovery: a target for tc (labels copied), prepared, its lookup
 * begun and scheduled from now on. 0, or -1 (out of memory): not added. */
int registry_target_add_cfg(struct registry *reg, const struct target_cfg *tc, uint64_t now);
/* Take t out of the registry and stop its probes (t is freed once
 * nothing holds it: do not use it after). */
void registry_target_drop(struct registry *reg, struct target *t);
/* Drop every target keep() refuses, in one pass with one index rebuild
 * (keep may update the target's labels); returns how many went. */
typedef bool (*registry_keep_fn)(void *arg, struct target *t);
size_t registry_sweep(struct registry *reg, registry_keep_fn keep, void *arg);
/* t's labels set to a copy of labels, when they differ (kept as they
 * were when out of memory). */
void registry_target_relabel(struct target *t, const char *labels);

/* A one-shot probe run by the daemon: cb gets the report (with timeline)
 * once; kv are probe options (kind=syn ...). 0 or -1 with err. A host
 * name is looked up first, off the loop: if that fails, ecb gets the error
 * instead of cb a report (possibly before this returns). */
typedef void (*registry_result_cb)(void *arg, const char *target, const struct probe_report *r);
typedef void (*registry_error_cb)(void *arg, const char *err);
int registry_oneshot(struct registry *reg, const char *hostport, char *const *kv, size_t nkv,
		   registry_result_cb cb, registry_error_cb ecb, void *arg, char *err, size_t errlen);
/* Every recorded result (targets and one-shots) is passed to watchers. */
int registry_watch(struct registry *reg, registry_result_cb cb, void *arg);
/* Forget every one-shot callback and watcher with this arg (its client
 * went away). */
void registry_forget(struct registry *reg, void *arg);

#endif
