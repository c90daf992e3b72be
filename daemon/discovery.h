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

#endif
