/* rstguard.h: the kernel-RST guard. The host's TCP stack answers every
 * SYN/ACK for a connection it did not open with a RST; this installs an
 * nftables table of tcpprobe's own (via libnftables) that drops outgoing
 * TCP RSTs from the source-port range unless they carry tcpprobe's mark:
 *
 *   table inet tcpprobe_guard {
 *     chain output { type filter hook output priority 0; policy accept;
 *       tcp sport LO-HI tcp flags & rst == rst meta mark != MARK drop } }
 *
 * A stale table (left by a crash) is replaced. */
#ifndef TCPPROBE_RSTGUARD_H
#define TCPPROBE_RSTGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RSTGUARD_TABLE "tcpprobe_guard"
#define RSTGUARD_MARK 0x7470 /* "tp" */

/* Install (replacing any existing table). 0, or -1 with err set. */
int rstguard_install(uint16_t sport_lo, uint16_t sport_hi, uint32_t mark, char *err, size_t errlen);
/* Remove the table; quiet if it is not there. 0 or -1 with err set. */
int rstguard_remove(char *err, size_t errlen);
/* Whether the table exists now (to notice it deleted behind our back). */
bool rstguard_present(void);

#endif
