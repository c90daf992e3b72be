/* control.h: the daemon's control socket (control*.c), created by the
 * lifecycle (daemon.c) before privileges are dropped. */
#ifndef TCPPROBE_CONTROL_H
#define TCPPROBE_CONTROL_H

#include <stddef.h>

#include "config.h"

struct event_base;
struct view_src;

/* `ctl reload`: re-read the config. The lifecycle owns reloading (it
 * restarts discovery, sets the log level, tells systemd), so it hands the
 * control socket its function (and its argument) rather than the socket
 * calling back into it. */
typedef int (*control_reload_fn)(void *arg, char *err, size_t errlen);

/* The socket of cfg on base, answering from src (views.h; read at each
 * request, so the lifecycle may fill it in after this). */
struct control;
struct control *control_new(struct event_base *base, const struct view_src *src,
			    const struct daemon_cfg *cfg, control_reload_fn reload, void *reload_arg,
			    char *err, size_t errlen);
void control_free(struct control *c);

#endif
