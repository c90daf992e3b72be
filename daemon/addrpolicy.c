#include "addrpolicy.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

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

int addrpolicy_check(const struct pkt_addr *a, const struct daemon_cfg *dcfg, char *err,
		     size_t errlen)
{
	char s[64];
	const char *why = builtin_reason(a, dcfg ? dcfg->allow_loopback : true,
					 dcfg ? dcfg->allow_link_local : true);
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
