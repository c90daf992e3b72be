/* registry_priv.h: the daemon's state, shared by daemon.c (the lifecycle:
 * start, reload, signals, tick, shutdown), registry.c (the targets),
 * sched.c (schedule, results, one-shots, watchers) and pathwatch.c
 * (trace_interval). */
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
	struct daemon *d;
	registry_result_cb cb; /* NULL once its client is gone */
	registry_error_cb ecb; /* the lookup failed */
	void *arg;
	struct target_cfg tc;
	struct resolve_req *dns; /* lookup in flight */
	char name[CFG_HOST_MAX + 8];
	struct oneshot *next;
};

struct daemon {
	struct event_base *base;
	struct config cfg;
	/* --rst-guard: overrides the file's rst_guard at start and at every
	 * reload (the unit's external guard is not the file's nft). */
	bool guard_overridden;
	enum rst_guard_mode guard_override;
	struct engine *eng;
	struct control *ctl;
	struct metrics_server *metrics;
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
	struct event *sched_ev, *tick_ev, *sigs[4];
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
	uint64_t reloads, reload_errors;
	uint64_t last_tx, last_tx_ns;
	double pps_out;
	uint64_t watchdog_usec;
	struct discovery *disc;          /* [discovery] sources (discovery.c) */
	struct remote_writers *rw;       /* [remote_write] (remote_write.c); fixed at start */
	uint64_t shard_skipped;          /* config targets left to other shards */
};

/* daemon.c (the lifecycle): re-read the config file and apply it (SIGHUP,
 * and `ctl reload` through control_new's hook). 0, or -1 with err and the
 * running config kept. */
int daemon_reload(struct daemon *d, char *err, size_t errlen);

/* registry.c: replace the target set with cfg's (initial: the first load).
 * 0, or -1 (out of memory) with the running set unchanged. */
int registry_apply_targets(struct daemon *d, const struct config *cfg, bool initial);
/* registry.c: the registry, for discovery.c. */
int registry_index_rebuild(struct daemon *d);
int registry_append(struct daemon *d, struct target *t);
void registry_remove(struct daemon *d, struct target *t);
/* A target object for tc (labels copied), prepared; NULL on OOM. */
struct target *registry_target_new(struct daemon *d, const struct target_cfg *tc);

/* sched.c */
int sched_init(struct daemon *d);
void sched_free(struct daemon *d);
void sched_add(struct daemon *d, struct target *t, uint64_t now);
void sched_remove(struct daemon *d, struct target *t);
/* The last pin went: free the removed targets no probe holds. */
void sched_unpinned(struct daemon *d);
void sched_kick(struct daemon *d);
void sched_deliver(struct daemon *d, const char *name, const struct probe_report *r);
/* A probe or trace of the removed (zombie) t reported: t is freed unless
 * something still holds it. */
void sched_zombie_reported(struct daemon *d, struct target *t);
/* Start t's probe of flow f now: one pathwatch held back while the flow's
 * trace ran. */
void sched_flow_start(struct daemon *d, struct target *t, unsigned f);
/* tc's host and options from "HOST[:PORT]" and key=value words over the
 * [defaults] (ctl add, ctl probe). */
int registry_target_cfg(struct daemon *d, struct target_cfg *tc, const char *hostport,
			 char *const *kv, size_t nkv, char *err, size_t errlen);
/* Build the engine profile and history ring for t from t->cfg.opts: 0,
 * or -1 (out of memory) with err. The address is resolve.c's. */
int registry_target_prepare(struct daemon *d, struct target *t, char *err, size_t errlen);
void registry_target_destroy(struct target *t);

#endif
