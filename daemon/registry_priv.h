/* registry_priv.h: the registry module's state (struct registry), shared by
 * its files alone: registry.c (the targets), sched.c (schedule, results,
 * one-shots, watchers), pathwatch.c (trace_interval) and resolve.c (name
 * lookups). Every other module sees registry.h; the lifecycle (daemon.c)
 * keeps its own state. */
#ifndef TCPPROBE_REGISTRY_PRIV_H
#define TCPPROBE_REGISTRY_PRIV_H

#include "registry.h"
#include "resolve.h"
#include "wheel.h"

/* Slots run per loop pass, at most (whole timer ticks: a few more). 6,000
 * targets every 100 ms behind a stalled pass made one callback of ~2 s,
 * during which no control client was answered. */
#define SCHED_PASS_MAX 512

struct watcher {
	registry_result_cb cb;
	void *arg;
};

struct oneshot {
	struct registry *reg;
	registry_result_cb cb; /* NULL once its client is gone */
	registry_error_cb ecb; /* the lookup failed */
	void *arg;
	struct target_cfg tc;
	struct resolve_req *dns; /* lookup in flight */
	char name[CFG_HOST_MAX + 8];
	struct oneshot *next;
};

struct registry {
	struct event_base *base;
	/* The lifecycle's running config (registry_new, registry_apply). */
	const struct config *cfg;
	struct engine *eng;
	/* Targets in stable order, plus an open-addressing name index. */
	struct target **t;
	size_t nt, t_cap;
	struct target **idx;   /* size idx_mask+1, NULL = empty */
	size_t idx_mask;
	struct target *zombies; /* removed with probes in flight or while pinned (list
				 * through znext): freed when they report and no pin is left */
	unsigned pins;          /* registry_targets_pin copies in use */
	struct pairs *pairs;    /* findings that take two targets (pairs.c) */
	struct evdns_base *dns;         /* resolve.c */
	struct resolve_req *lookups;    /* lookups not yet called back */
	struct wheel *rwheel;           /* next lookup of each name */
	struct event *resolve_ev;
	struct wheel *sched;
	struct event *sched_ev;
	struct wheel *twheel;            /* next trace of each target with trace_interval
					  * (pathwatch.c) */
	struct event *trace_ev;
	struct watcher *w;
	size_t nw, w_cap;
	struct oneshot *oneshots;
	uint64_t start_ns;
	uint64_t late_total, late_max;
	uint64_t skipped, skip_log_ns;   /* slots skipped when overloaded */
	uint64_t handoffs;               /* probes handed to engine_start */
	uint64_t reloads, reload_errors; /* counted by the lifecycle (registry_count_reload) */
	uint64_t last_tx, last_tx_ns;    /* registry_tick */
	double pps_out;
	uint64_t shard_skipped;          /* config targets left to other shards */
	/* The bucket bounds the targets' phase histograms count with: a
	 * reload that changes them starts those histograms over. */
	unsigned n_buckets;
	double buckets[CFG_BUCKETS_MAX];
};

/* sched.c */
int sched_init(struct registry *reg);
void sched_free(struct registry *reg);
void sched_add(struct registry *reg, struct target *t, uint64_t now);
void sched_remove(struct registry *reg, struct target *t);
/* The last pin went: free the removed targets no probe holds. */
void sched_unpinned(struct registry *reg);
void sched_deliver(struct registry *reg, const char *name, const struct probe_report *r);
/* A probe or trace of the removed (zombie) t reported: t is freed unless
 * something still holds it. */
void sched_zombie_reported(struct registry *reg, struct target *t);
/* Start t's probe of flow f now: one pathwatch held back while the flow's
 * trace ran. */
void sched_flow_start(struct registry *reg, struct target *t, unsigned f);
/* tc's host and options from "HOST[:PORT]" and key=value words over the
 * [defaults] (ctl add), for a oneshot (ctl probe) without their keys of a
 * target's rounds or schedule (config_probe_oneshot_base). */
int registry_target_cfg(struct registry *reg, struct target_cfg *tc, const char *hostport,
			 char *const *kv, size_t nkv, bool oneshot, char *err, size_t errlen);
/* Build the engine profile and history ring for t from t->cfg.opts: 0,
 * or -1 (out of memory) with err. The address is resolve.c's. */
int registry_target_prepare(struct registry *reg, struct target *t, char *err, size_t errlen);
void registry_target_destroy(struct target *t);

#endif
