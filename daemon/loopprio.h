/* loopprio.h: how the daemon's one event loop shares itself out among the
 * lifecycle (which sets the priorities up), the control socket and the
 * metrics listener: libevent priorities and the bytes a client connection
 * may write per pass. */
#ifndef TCPPROBE_LOOPPRIO_H
#define TCPPROBE_LOOPPRIO_H

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

#endif
