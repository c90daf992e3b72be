/* rstguard.h: the kernel-RST guard. The host's TCP stack answers every
 * SYN/ACK for a connection it did not open with a RST; this installs an
 * nftables table of tcpprobe's own (via libnftables) that drops outgoing
 * TCP RSTs from the source-port range unless they carry tcpprobe's mark:
 *
 *   table inet tcpprobe_guard_LO_HI {
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

/* The table of range lo-hi: "tcpprobe_guard_LO_HI", so that instances with
 * their own ranges each have their own. */
const char *rstguard_table(uint16_t sport_lo, uint16_t sport_hi, char *buf, size_t len);
/* Install (replacing any existing table of that range). 0, or -1 with err set. */
int rstguard_install(uint16_t sport_lo, uint16_t sport_hi, uint32_t mark, char *err, size_t errlen);
/* Remove the range's table; quiet if it is not there. 0 or -1 with err set. */
int rstguard_remove(uint16_t sport_lo, uint16_t sport_hi, char *err, size_t errlen);
/* Whether the range's table exists now (to notice it deleted behind our back). */
bool rstguard_present(uint16_t sport_lo, uint16_t sport_hi);

/* Source-port range ownership, per network namespace. rstguard_claim: refuse
 * when a running tcpprobe holds a range overlapping lo-hi, else hold lo-hi
 * until the returned fd is closed (at exit). -1 with err set. */
int rstguard_claim(uint16_t lo, uint16_t hi, char *err, size_t errlen);
/* 1 with err set when a running tcpprobe holds a range overlapping lo-hi
 * (same_ok: lo-hi itself does not count), else 0. */
int rstguard_conflict(uint16_t lo, uint16_t hi, bool same_ok, char *err, size_t errlen);

#endif
