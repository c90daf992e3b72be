/* discovery.h: targets from Prometheus file_sd files ([discovery NAME]
 * files = GLOB ...), JSON or YAML, watched with inotify and re-read every
 * `refresh`. Discovered targets join the daemon's registry next to the
 * config's; a refresh adds and removes only what changed. */
#ifndef TCPPROBE_DISCOVERY_H
#define TCPPROBE_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct discovery;
struct event_base;
struct jbuf;
struct registry;

/* Discovery for the registry reg, on base; no sources until
 * discovery_start. NULL when out of memory. */
struct discovery *discovery_new(struct registry *reg, struct event_base *base);
/* Read every source of cfg now and apply (cfg stays valid until the next
 * discovery_start or discovery_free). Sources of an earlier config (a
 * reload) are replaced; the targets they share with the new ones stay
 * untouched. 0, or -1 on OOM. */
int discovery_start(struct discovery *ds, const struct config *cfg);
void discovery_free(struct discovery *ds);
/* For the status view (views.c): the totals, and each source's status
 * (ds NULL: no discovery started; no sources). */
struct discovery_totals {
	char shard[32];           /* "I/N", "0/1" for none */
	uint64_t shard_skipped;   /* targets left to other shards: the config's and found */
	size_t sources;
	uint64_t conflicts;       /* found names the config already has */
	uint64_t apply_us;        /* the last apply's loop time */
};
void discovery_totals(const struct discovery *ds, struct discovery_totals *out);
struct discovery_source_status {
	const char *name, *url;   /* url "" for files */
	uint64_t refresh_us;      /* url: loop time of the last answer (parse + apply) */
	uint64_t files, files_failing, targets, refreshes, errors;
	const char *last_error;   /* "" = none */
};
void discovery_source_status(const struct discovery *ds, size_t i, struct discovery_source_status *out);
/* The next file of source i at or after *k that fails now, as "PATH: why"
 * in buf (*k moves past it); NULL after the last. */
const char *discovery_file_error(const struct discovery *ds, size_t i, size_t *k, char *buf, size_t len);

#endif
