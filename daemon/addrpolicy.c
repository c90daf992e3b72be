#include "addrpolicy.h"
#include "timens.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bool addrpolicy_cidr_match(const struct cidr *c, const struct pkt_addr *a)
{
	if (c->addr.family != a->family)
		return false;
	unsigned bits = c->prefix, i = 0;
	for (; bits >= 8; bits -= 8, i++)
		if (c->addr.a[i] != a->a[i])
			return false;
	if (bits) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits));
		if ((c->addr.a[i] & mask) != (a->a[i] & mask))
			return false;
	}
	return true;
}

static const char *builtin_reason(const struct pkt_addr *a, bool allow_lo, bool allow_ll)
{
	const uint8_t *b = a->a;
	if (a->family == AF_INET) {
		if (b[0] == 0)
			return "an unspecified (0.0.0.0/8) address";
		if (b[0] >= 224 && b[0] <= 239)
			return "a multicast address";
		if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
			return "the broadcast address";
		if (b[0] >= 240)
			return "a reserved (240.0.0.0/4) address";
		if (b[0] == 127 && !allow_lo)
			return "a loopback address (set allow_loopback = yes)";
		if (b[0] == 169 && b[1] == 254 && !allow_ll)
			return "a link-local address (set allow_link_local = yes)";
		return NULL;
	}
	static const uint8_t zero[16], loop[16] = { [15] = 1 };
	if (!memcmp(b, zero, 16))
		return "the unspecified address ::";
	if (b[0] == 0xff)
		return "a multicast address";
	if (!memcmp(b, loop, 16) && !allow_lo)
		return "a loopback address (set allow_loopback = yes)";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80 && !allow_ll)
		return "a link-local address (set allow_link_local = yes)";
	/* IPv4-mapped: judge the IPv4 address. */
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	if (!memcmp(b, mapped, 12)) {
		struct pkt_addr v4 = { .family = AF_INET };
		memcpy(v4.a, b + 12, 4);
		return builtin_reason(&v4, allow_lo, allow_ll);
	}
	return NULL;
}

/* The IPv4 prefixes on this host's interfaces (a snapshot at most a second
 * old: a config of 100,000 targets asks once, not 100,000 times). */
static struct {
	uint32_t net, mask; /* host order */
	char ifname[IF_NAMESIZE];
} nets[64];
static unsigned n_nets;
static uint64_t nets_at_ns;

static void nets_refresh(void)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	if (nets_at_ns && now - nets_at_ns < NS_PER_S)
		return;
	nets_at_ns = now;
	n_nets = 0;
	struct ifaddrs *ifa0;
	if (getifaddrs(&ifa0) < 0)
		return;
	for (struct ifaddrs *i = ifa0; i && n_nets < sizeof(nets) / sizeof(nets[0]); i = i->ifa_next) {
		if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET)
			continue;
		uint32_t addr = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
		uint32_t mask = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
		/* /31 (RFC 3021) and /32 have no broadcast address. */
		if (mask == 0 || ~mask <= 1)
			continue;
		nets[n_nets].net = addr & mask;
		nets[n_nets].mask = mask;
		snprintf(nets[n_nets].ifname, sizeof(nets[n_nets].ifname), "%s", i->ifa_name);
		n_nets++;
	}
	freeifaddrs(ifa0);
}

/* A subnet-directed broadcast (the last address of a prefix on one of our
 * interfaces): the kernel refuses to send there without SO_BROADCAST
 * ("Permission denied" at every probe), and it is never a host. */
static bool local_broadcast(const struct pkt_addr *a, char *why, size_t whylen)
{
	if (a->family != AF_INET)
		return false;
	uint32_t v;
	memcpy(&v, a->a, 4);
	v = ntohl(v);
	nets_refresh();
	for (unsigned i = 0; i < n_nets; i++) {
		if ((v & nets[i].mask) != nets[i].net || (v | nets[i].mask) != 0xffffffffu)
			continue;
		struct in_addr n = { htonl(nets[i].net) };
		char ns[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &n, ns, sizeof(ns));
		snprintf(why, whylen, "the broadcast address of %s/%d on %s", ns,
			 __builtin_popcount(nets[i].mask), nets[i].ifname);
		return true;
	}
	return false;
}

int addrpolicy_check(const struct pkt_addr *a, const struct daemon_cfg *dcfg, char *err,
		     size_t errlen)
{
	char s[64], bwhy[128];
	const char *why = builtin_reason(a, dcfg ? dcfg->allow_loopback : true,
					 dcfg ? dcfg->allow_link_local : true);
	if (!why && local_broadcast(a, bwhy, sizeof(bwhy)))
		why = bwhy;
	if (why) {
		snprintf(err, errlen, "refusing to probe %s: %s", pkt_addr_str(a, s, sizeof(s)), why);
		return -1;
	}
	if (!dcfg)
		return 0;
	for (unsigned i = 0; i < dcfg->n_deny; i++) {
		if (addrpolicy_cidr_match(&dcfg->deny[i], a)) {
			snprintf(err, errlen, "refusing to probe %s: denied by deny list",
				 pkt_addr_str(a, s, sizeof(s)));
			return -1;
		}
	}
	if (!dcfg->n_allow)
		return 0;
	for (unsigned i = 0; i < dcfg->n_allow; i++)
		if (addrpolicy_cidr_match(&dcfg->allow[i], a))
			return 0;
	snprintf(err, errlen, "refusing to probe %s: not in the allow list",
		 pkt_addr_str(a, s, sizeof(s)));
	return -1;
}
