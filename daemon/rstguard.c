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
#include <stddef.h>
#include <sys/un.h>
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
 * "cannot <what> nftables table inet tcpprobe_guard_LO_HI: <reason>". */
static int nft_run(const char *cmd, const char *what, const char *table, char *err,
		   size_t errlen)
{
	if (!have_net_admin()) {
		if (err)
			snprintf(err, errlen, "cannot %s nftables table %s %s: %s (needs CAP_NET_ADMIN)",
				 what, RSTGUARD_FAMILY, table, strerror(EPERM));
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
				 table, strerror(saved));
		return -1;
	}
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		if (err)
			snprintf(err, errlen, "cannot %s nftables table %s %s: nft_ctx_new failed",
				 what, RSTGUARD_FAMILY, table);
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
			 table, reason);
	}
	nft_ctx_free(ctx);
	return rc == 0 ? 0 : -1;
}

const char *rstguard_table(uint16_t sport_lo, uint16_t sport_hi, char *buf, size_t len)
{
	snprintf(buf, len, "%s_%u_%u", RSTGUARD_TABLE, sport_lo, sport_hi);
	return buf;
}

int rstguard_install(uint16_t sport_lo, uint16_t sport_hi, uint32_t mark, char *err, size_t errlen)
{
	char table[64];
	rstguard_table(sport_lo, sport_hi, table, sizeof(table));
	if (sport_lo == 0 || sport_lo > sport_hi) {
		snprintf(err, errlen, "cannot install nftables table %s %s: bad port range %u-%u",
			 RSTGUARD_FAMILY, table, sport_lo, sport_hi);
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
			 RSTGUARD_FAMILY, table, sport_lo, sport_hi, mark);
	if (n < 0 || (size_t)n >= sizeof(cmd)) {
		snprintf(err, errlen, "cannot install nftables table: command too long");
		return -1;
	}
	return nft_run(cmd, "install", table, err, errlen);
}

int rstguard_remove(uint16_t sport_lo, uint16_t sport_hi, char *err, size_t errlen)
{
	char cmd[256], table[64];
	rstguard_table(sport_lo, sport_hi, table, sizeof(table));
	snprintf(cmd, sizeof(cmd), "add table %1$s %2$s\ndelete table %1$s %2$s\n", RSTGUARD_FAMILY,
		 table);
	return nft_run(cmd, "remove", table, err, errlen);
}

bool rstguard_present(uint16_t sport_lo, uint16_t sport_hi)
{
	char cmd[128], table[64];
	rstguard_table(sport_lo, sport_hi, table, sizeof(table));
	snprintf(cmd, sizeof(cmd), "list table %s %s\n", RSTGUARD_FAMILY, table);
	return nft_run(cmd, "list", table, NULL, 0) == 0;
}

/* ---- who owns a source-port range ----
 *
 * Every tcpprobe process (daemon or probe) holds, while it runs, a listening
 * Unix socket in the abstract namespace named after its range. That
 * namespace belongs to the network namespace, as the nftables table and the
 * ports do, and the kernel releases the name when the process dies however
 * it dies: a crash leaves a stale table but never a stale claim. Live ranges
 * are listed in /proc/net/unix; the holder's pid comes from SO_PEERCRED. */

#define CLAIM_PREFIX "tcpprobe/sports/"

static socklen_t claim_addr(uint16_t lo, uint16_t hi, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	int n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, CLAIM_PREFIX "%u-%u", lo, hi);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* The pid holding range lo-hi: >0, 0 if it is held but the pid cannot be
 * told, -1 if nobody holds it. */
static long claim_holder(uint16_t lo, uint16_t hi)
{
	struct sockaddr_un sun;
	socklen_t len = claim_addr(lo, hi, &sun);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	long pid = -1;
	if (connect(fd, (struct sockaddr *)&sun, len) == 0) {
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		pid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 ? (long)cr.pid : 0;
	} else if (errno == EAGAIN) {
		pid = 0; /* listening, backlog full */
	}
	close(fd);
	return pid;
}

static void holder_str(long pid, char *buf, size_t len)
{
	if (pid > 0)
		snprintf(buf, len, "pid %ld", pid);
	else
		snprintf(buf, len, "pid unknown");
}

int rstguard_conflict(uint16_t lo, uint16_t hi, bool same_ok, char *err, size_t errlen)
{
	char who[32];
	FILE *f = fopen("/proc/self/net/unix", "re");
	if (!f) {
		/* Sandboxed (ProcSubset=pid): only the exact range can be asked. */
		long pid = same_ok ? -1 : claim_holder(lo, hi);
		if (pid < 0)
			return 0;
		holder_str(pid, who, sizeof(who));
		snprintf(err, errlen, "source ports %u-%u are in use by another tcpprobe (%s) in this "
			 "network namespace; give each instance its own source_ports", lo, hi, who);
		return 1;
	}
	char line[512];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, " @" CLAIM_PREFIX);
		unsigned a, b;
		char nl;
		if (!p || sscanf(p + 2 + strlen(CLAIM_PREFIX), "%u-%u%c", &a, &b, &nl) != 3 ||
		    nl != '\n' || a > 65535 || b > 65535)
			continue;
		if (b < lo || a > hi || (same_ok && a == lo && b == hi))
			continue;
		long pid = claim_holder((uint16_t)a, (uint16_t)b);
		if (pid < 0)
			continue; /* gone meanwhile */
		holder_str(pid, who, sizeof(who));
		if (a == lo && b == hi)
			snprintf(err, errlen, "source ports %u-%u are in use by another tcpprobe (%s) in "
				 "this network namespace; give each instance its own source_ports",
				 lo, hi, who);
		else
			snprintf(err, errlen, "source ports %u-%u overlap %u-%u of another tcpprobe (%s) "
				 "in this network namespace; give each instance its own source_ports",
				 lo, hi, a, b, who);
		found = 1;
	}
	fclose(f);
	return found;
}

int rstguard_claim(uint16_t lo, uint16_t hi, char *err, size_t errlen)
{
	if (rstguard_conflict(lo, hi, false, err, errlen))
		return -1;
	struct sockaddr_un sun;
	socklen_t len = claim_addr(lo, hi, &sun);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "source ports %u-%u: socket: %s", lo, hi, strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, len) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		if (e == EADDRINUSE) { /* lost a race with a twin */
			char who[32];
			holder_str(claim_holder(lo, hi), who, sizeof(who));
			snprintf(err, errlen, "source ports %u-%u are in use by another tcpprobe (%s) in "
				 "this network namespace; give each instance its own source_ports",
				 lo, hi, who);
		} else {
			snprintf(err, errlen, "source ports %u-%u: cannot claim them: %s", lo, hi,
				 strerror(e));
		}
		return -1;
	}
	return fd;
}
