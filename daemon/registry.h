/* registry.h: the target registry and its scheduler (registry.c, sched.c,
 * resolve.c), as the control socket, the metrics endpoint, the views and
 * discovery see it; every name here is registry_*. The module knows none
 * of its users; the lifecycle (daemon.c) starts them all and owns the
 * state (struct daemon, registry_priv.h). */
#ifndef TCPPROBE_REGISTRY_H
#define TCPPROBE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "targets.h"

struct daemon;
struct event_base;

/* libevent priorities of the daemon's loop. Control clients come first in
 * every pass, so that `ctl status` answers under any probing load (the
 * probing work of a pass is bounded: RX_BATCH frames, the due slots).
 * /metrics scrapes stay with the probing: a 20 MB reply drained at
 * control priority would hold the probing back until the scraper had
 * read it all. */
enum { DAEMON_PRIO_CONTROL = 0, DAEMON_PRIO_DEFAULT = 1, DAEMON_PRIOS = 2 };
/* Bytes a control or /metrics connection may write per loop pass (the
 * socket takes what fits in its buffer; libevent's default is 16 KiB). */
#define DAEMON_MAX_WRITE (1 << 20)

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

struct event_base *registry_base(struct daemon *d);
struct remote_writers *registry_remote_writers(struct daemon *d); /* NULL: none */
const struct config *registry_config(struct daemon *d);
void registry_status(struct daemon *d, struct registry_status *out);

/* Targets in stable (config, then add) order. */
size_t registry_target_count(struct daemon *d);
struct target *registry_target_at(struct daemon *d, size_t i);
struct target *registry_target_find(struct daemon *d, const char *name);
/* For a reader that works across loop passes (a /metrics render in
 * pieces): the registry's targets as they are now, in a copy of its order.
 * Until that copy is unpinned, a target removed meanwhile is kept (not
 * freed), so every pointer in it stays valid. NULL when out of memory. */
struct target **registry_targets_pin(struct daemon *d, size_t *n);
void registry_targets_unpin(struct daemon *d, struct target **pinned);

/* Mutations; each returns 0 or -1 with err set to a message for the user. */
int registry_target_add(struct daemon *d, const char *name, const char *hostport,
		      char *const *kv, size_t nkv, char *err, size_t errlen);
int registry_target_remove(struct daemon *d, const char *name, char *err, size_t errlen);
/* name NULL: all targets. */
int registry_target_pause(struct daemon *d, const char *name, bool pause, char *err, size_t errlen);

/* A one-shot probe run by the daemon: cb gets the report (with timeline)
 * once; kv are probe options (kind=syn ...). 0 or -1 with err. A host
 * name is looked up first, off the loop: if that fails, ecb gets the error
 * instead of cb a report (possibly before this returns). */
typedef void (*registry_result_cb)(void *arg, const char *target, const struct probe_report *r);
typedef void (*registry_error_cb)(void *arg, const char *err);
int registry_oneshot(struct daemon *d, const char *hostport, char *const *kv, size_t nkv,
		   registry_result_cb cb, registry_error_cb ecb, void *arg, char *err, size_t errlen);
/* Every recorded result (targets and one-shots) is passed to watchers. */
int registry_watch(struct daemon *d, registry_result_cb cb, void *arg);
void registry_unwatch(struct daemon *d, void *arg);
/* Forget every one-shot callback with this arg (its client went away). */
void registry_forget(struct daemon *d, void *arg);

#endif
