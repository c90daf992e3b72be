/* notify.h: the systemd service-manager protocol (sd_notify(3)) for a
 * Type=notify-reload / Type=notify unit. Every function is a no-op that
 * returns 0 when NOTIFY_SOCKET is unset (not started by systemd), 1 when a
 * datagram was sent, and -1 (logged) when sending failed. A failure is never
 * fatal: the daemon keeps probing whether or not systemd hears about it. */
#ifndef TCPPROBE_NOTIFY_H
#define TCPPROBE_NOTIFY_H

#include <stdint.h>

/* READY=1: send only once the raw sockets, the RST guard, the control socket
 * and the metrics listener are all up, so `systemctl start` returning means
 * the daemon really probes. */
int notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC= (systemd 253+ matches it against the
 * reload it asked for; older managers ignore the extra field). Follow it
 * with notify_ready() when the reload is done, successful or not. */
int notify_reloading(void);
/* STATUS=...: one line for `systemctl status`; newlines become spaces. */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1: at the start of an orderly shutdown. */
int notify_stopping(void);
/* WATCHDOG=1: a keep-alive, from the event loop itself (a timer), so a
 * wedged loop stops sending it. */
int notify_watchdog(void);
/* How often to call notify_watchdog(): half of WATCHDOG_USEC when the
 * watchdog is armed for this process (WATCHDOG_PID unset or ours), else 0. */
uint64_t notify_watchdog_interval_usec(void);

#endif
