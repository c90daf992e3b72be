/* discovery.h: targets from Prometheus file_sd files ([discovery NAME]
 * files = GLOB ...), JSON or YAML, watched with inotify and re-read every
 * `refresh`. Discovered targets join the daemon's registry next to the
 * config's; a refresh adds and removes only what changed. */
#ifndef TCPPROBE_DISCOVERY_H
#define TCPPROBE_DISCOVERY_H

#include <stddef.h>

#include "config.h"

struct daemon;
struct jbuf;

/* Read every source of d->cfg now and apply. Sources of an earlier config
 * (a reload) are replaced; the targets they share with the new ones stay
 * untouched. 0, or -1 on OOM. */
int discovery_start(struct daemon *d);
void discovery_free(struct daemon *d);
/* "discovery": [{name, files, targets, refreshes, errors, last_error}],
 * "shard" and "shard_skipped", for ctl status. */
void discovery_status_json(struct daemon *d, struct jbuf *j);

/* The groups of one file_sd document (JSON text, or YAML when yaml is
 * set) as target configs over defaults. On error returns -1 with err naming
 * the group index ("group 2: ..."); *out untouched. For tests too. */
int discovery_parse(const char *text, size_t len, int yaml, const struct probe_opts *defaults,
		    struct target_cfg **out, size_t *n, char *err, size_t errlen);
void discovery_free_targets(struct target_cfg *t, size_t n);

#endif
