/* privs.h: after the raw sockets, the RST guard and the listeners are set
 * up, switch to the configured user keeping only CAP_NET_ADMIN (to reinstall
 * the nftables table if someone deletes it, and to remove it at exit). The
 * open raw and packet sockets keep working without CAP_NET_RAW. */
#ifndef TCPPROBE_PRIVS_H
#define TCPPROBE_PRIVS_H

#include <stddef.h>

/* user "" or NULL: keep the identity but still drop every capability except
 * CAP_NET_ADMIN. 0, or -1 with err. */
int privs_drop(const char *user, char *err, size_t errlen);

#endif
