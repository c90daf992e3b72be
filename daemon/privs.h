/* privs.h: after the raw sockets, the RST guard and the listeners are set
 * up, switch to the configured user keeping only CAP_NET_ADMIN (to reinstall
 * the nftables table if someone deletes it, and to remove it at exit). The
 * open raw and packet sockets keep working without CAP_NET_RAW. */
#ifndef TCPPROBE_PRIVS_H
#define TCPPROBE_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

/* user "" or NULL: keep the identity. Drops every capability but
 * CAP_NET_ADMIN when keep_net_admin (the daemon manages the guard table),
 * else all. A capset() refused with EPERM while not root (a seccomp filter,
 * as in the shipped unit, whose bounding set already holds only CAP_NET_RAW)
 * is tolerated: logged at info when a seccomp filter explains it, else as
 * a warning. 0, or -1 with err. */
int privs_drop(const char *user, bool keep_net_admin, char *err, size_t errlen);

#endif
