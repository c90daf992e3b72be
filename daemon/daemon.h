/* daemon.h: the running daemon as the control socket, the metrics
 * endpoint and discovery see it: the target registry and the scheduler
 * (registry.c, sched.c). That module knows none of its users; the
 * lifecycle (daemon.c) starts them all. */
#ifndef TCPPROBE_DAEMON_H
#define TCPPROBE_DAEMON_H

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

struct daemon_status {
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

struct event_base *daemon_base(struct daemon *d);
struct remote_writers *daemon_remote_writers(struct daemon *d); /* NULL: none */
const struct config *daemon_config(struct daemon *d);
void daemon_status(struct daemon *d, struct daemon_status *out);

/* Targets in stable (config, then add) order. */
size_t daemon_target_count(struct daemon *d);
struct target *daemon_target_at(struct daemon *d, size_t i);
struct target *daemon_target_find(struct daemon *d, const char *name);

/* Mutations; each returns 0 or -1 with err set to a message for the user. */
int daemon_target_add(struct daemon *d, const char *name, const char *hostport,
		      char *const *kv, size_t nkv, char *err, size_t errlen);
int daemon_target_remove(struct daemon *d, const char *name, char *err, size_t errlen);
/* name NULL: all targets. */
int daemon_target_pause(struct daemon *d, const char *name, bool pause, char *err, size_t errlen);

/* A one-shot probe run by the daemon: cb gets the report (with timeline)
 * once; kv are probe options (kind=syn ...). 0 or -1 with err. A host
 * name is looked up first, off the loop: if that fails, ecb gets the error
 * instead of cb a report (possibly before this returns). */
typedef void (*daemon_result_cb)(void *arg, const char *target, const struct probe_report *r);
typedef void (*daemon_error_cb)(void *arg, const char *err);
int daemon_oneshot(struct daemon *d, const char *hostport, char *const *kv, size_t nkv,
		   daemon_result_cb cb, daemon_error_cb ecb, void *arg, char *err, size_t errlen);
/* Every recorded result (targets and one-shots) is passed to watchers. */
int daemon_watch(struct daemon *d, daemon_result_cb cb, void *arg);
void daemon_unwatch(struct daemon *d, void *arg);
/* Forget every one-shot callback with this arg (its client went away). */
void daemon_forget(struct daemon *d, void *arg);

#endif
