/* rstguard.c: the kernel-RST guard, an nftables table of our own.
 *
 * Every change goes through libnftables as one buffer, which nft sends to
 * the kernel as one netlink batch: the table is replaced atomically, so no
 * window exists in which a half-built or missing table lets the kernel's RST
 * out. "add table" followed by "delete table" is the nft 1.0.6 idiom for
 * "delete if present" ("destroy" needs nft >= 1.0.8 and Linux >= 6.3).
 */
#include "rstguard.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/netlink.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#define RSTGUARD_FAMILY "inet" /* one table for IPv4 and IPv6 */

/* One line from libnftables' error text, e.g. "Could not process rule:
 * No such file or directory" becomes "No such file or directory". */
static void nft_reason(const char *ebuf, char *out, size_t outlen)
{
	const char *s = ebuf ? ebuf : "";
	if (strstr(s, "Operation not permitted")) {
		snprintf(out, outlen, "%s (needs CAP_NET_ADMIN)", strerror(EPERM));
		return;
	}
	const char *p = strstr(s, "Could not process rule: ");
	if (p)
		s = p + strlen("Could not process rule: ");
	else if ((p = strstr(s, "Error: ")))
		s = p + strlen("Error: ");
	size_t n = strcspn(s, "\n");
	if (n == 0) {
		s = "unknown nftables error";
		n = strlen(s);
	}
	snprintf(out, outlen, "%.*s", (int)n, s);
}

/* libnftables 1.0.6 prints "Operation not permitted (you must be root)"
 * straight to stderr, past the error buffer, when netlink refuses it; ask
 * first so an unprivileged run gets our one-line error and nothing else.
 * (In a user namespace this is the capability over that namespace, which
 * is what nftables checks too.) */
static bool have_net_admin(void)
{
	cap_t caps = cap_get_proc();
	if (!caps)
		return true; /* cannot tell: let nftables decide */
	cap_flag_value_t v = CAP_CLEAR;
	if (cap_get_flag(caps, CAP_NET_ADMIN, CAP_EFFECTIVE, &v) < 0)
		v = CAP_SET;
	cap_free(caps);
	return v == CAP_SET;
}

/* Run cmd in a fresh quiet context. Returns 0, or -1 with err set to
 * "cannot <what> nftables table inet tcpprobe_guard: <reason>". */
static int nft_run(const char *cmd, const char *what, char *err, size_t errlen)
{
	if (!have_net_admin()) {
		if (err)
			snprintf(err, errlen, "cannot %s nftables table %s %s: %s (needs CAP_NET_ADMIN)",
				 what, RSTGUARD_FAMILY, RSTGUARD_TABLE, strerror(EPERM));
		return -1;
	}
	/* libnftables calls exit() when it cannot open its netlink socket (e.g.
	 * out of file descriptors): make sure it can, with a little headroom for
	 * the files it reads, before handing it the process. */
	int spare[4], n = 0;
	spare[n] = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (spare[n] >= 0)
		for (n = 1; n < 4 && (spare[n] = dup(spare[0])) >= 0; n++)
			;
	int saved = errno;
	for (int i = 0; i < n; i++)
		close(spare[i]);
	if (n < 4) {
		if (err)
			snprintf(err, errlen, "cannot %s nftables table %s %s: %s", what, RSTGUARD_FAMILY,
				 RSTGUARD_TABLE, strerror(saved));
		return -1;
	}
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		if (err)
			snprintf(err, errlen, "cannot %s nftables table %s %s: nft_ctx_new failed",
				 what, RSTGUARD_FAMILY, RSTGUARD_TABLE);
		return -1;
	}
	/* Buffered: libnftables writes nothing to our stdout/stderr. */
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	int rc = nft_run_cmd_from_buffer(ctx, cmd);
	if (rc != 0 && err) {
		char reason[256];
		nft_reason(nft_ctx_get_error_buffer(ctx), reason, sizeof(reason));
		snprintf(err, errlen, "cannot %s nftables table %s %s: %s", what, RSTGUARD_FAMILY,
			 RSTGUARD_TABLE, reason);
	}
	nft_ctx_free(ctx);
	return rc == 0 ? 0 : -1;
}

int rstguard_install(uint16_t sport_lo, uint16_t sport_hi, uint32_t mark, char *err, size_t errlen)
{
	if (sport_lo == 0 || sport_lo > sport_hi) {
		snprintf(err, errlen, "cannot install nftables table %s %s: bad port range %u-%u",
			 RSTGUARD_FAMILY, RSTGUARD_TABLE, sport_lo, sport_hi);
		return -1;
	}
	/* add+delete removes a stale table (a crash leaves one behind), then
	 * the full definition recreates it, all in one transaction. The rule
	 * tests only the RST bit: a stray SYN/ACK is answered with a bare RST
	 * (seq = its ACK), a stray segment without ACK with RST/ACK (RFC 9293
	 * 3.10.7.1), and both must be caught. */
	char cmd[1024];
	int n = snprintf(cmd, sizeof(cmd),
			 "add table %1$s %2$s\n"
			 "delete table %1$s %2$s\n"
			 "table %1$s %2$s {\n"
			 "\tchain output {\n"
			 "\t\ttype filter hook output priority 0; policy accept;\n"
			 "\t\ttcp sport %3$u-%4$u tcp flags & rst == rst meta mark != 0x%5$08x drop\n"
			 "\t}\n"
			 "}\n",
			 RSTGUARD_FAMILY, RSTGUARD_TABLE, sport_lo, sport_hi, mark);
	if (n < 0 || (size_t)n >= sizeof(cmd)) {
		snprintf(err, errlen, "cannot install nftables table: command too long");
		return -1;
	}
	return nft_run(cmd, "install", err, errlen);
}

int rstguard_remove(char *err, size_t errlen)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "add table %1$s %2$s\ndelete table %1$s %2$s\n", RSTGUARD_FAMILY,
		 RSTGUARD_TABLE);
	return nft_run(cmd, "remove", err, errlen);
}

bool rstguard_present(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "list table %s %s\n", RSTGUARD_FAMILY, RSTGUARD_TABLE);
	return nft_run(cmd, "list", NULL, 0) == 0;
}
