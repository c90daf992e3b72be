/* control.h: the daemon's control socket (control.c), created by the
 * lifecycle (daemon.c) before privileges are dropped. */
#ifndef TCPPROBE_CONTROL_H
#define TCPPROBE_CONTROL_H

#include <stddef.h>

#include "config.h"

struct daemon;

/* `ctl reload`: re-read the config. The lifecycle owns reloading (it
 * restarts discovery, sets the log level, tells systemd), so it hands the
 * control socket its function rather than the socket calling back into it. */
typedef int (*control_reload_fn)(struct daemon *d, char *err, size_t errlen);

struct control;
struct control *control_new(struct daemon *d, const struct daemon_cfg *cfg,
			    control_reload_fn reload, char *err, size_t errlen);
void control_free(struct control *c);

#endif
