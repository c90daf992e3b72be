/* config_value.c: the config's value syntax, shared by every key, by
 * `tcpprobe probe`'s options and by `ctl add key=value`: durations, numbers,
 * booleans, words of a closed set, ports and port ranges, addresses,
 * prefixes, listen addresses, user names, host names and comma lists. Each
 * returns 0, or -1 with err saying what is wrong with the value (the caller
 * adds the key, the file and the line). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config.h"
#include "config_priv.h"
#include "timens.h"

static int split_hostport(const char *arg, char *host, size_t hostlen, const char **ps, char *err,
			  size_t errlen);

#define DUR_HINT "(use e.g. 250ms, 10s, 1m)"

void config_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const struct {
	const char *name;
	uint64_t ns;
} dur_units[] = {
	{ "h", NS_H }, { "m", NS_M }, { "s", NS_S }, { "ms", NS_MS }, { "us", NS_US }, { "ns", 1 },
};
#define N_DUR_UNITS (sizeof(dur_units) / sizeof(dur_units[0]))


int config_parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen)
{
	const char *q = s;
	unsigned __int128 ip = 0, frac = 0, scale = 1;
	bool big = false;

	if (!config_is_digit(*q))
		goto bad;
	for (; config_is_digit(*q); q++) {
		ip = ip * 10 + (unsigned)(*q - '0');
		if (ip > UINT64_MAX)
			big = true, ip = (unsigned __int128)UINT64_MAX + 1;
	}
	if (*q == '.') {
		q++;
		if (!config_is_digit(*q))
			goto bad;
		for (; config_is_digit(*q); q++) {
			/* 19 digits are past 1ns in every unit; keep going only
			 * to find trailing zeros. */
			if (scale < (unsigned __int128)10000000000000000000ULL) {
				frac = frac * 10 + (unsigned)(*q - '0');
				scale *= 10;
			} else if (*q != '0') {
				config_seterr(err, errlen, "'%s' is finer than 1ns", s);
				return -1;
			}
		}
	}
	if (*q == '\0') {
		if (ip == 0 && frac == 0) { /* "0" needs no unit */
			*ns = 0;
			return 0;
		}
		config_seterr(err, errlen, "'%s' is missing a unit %s", s, DUR_HINT);
		return -1;
	}
	for (size_t i = 0; i < N_DUR_UNITS; i++) {
		if (strcmp(q, dur_units[i].name))
			continue;
		unsigned __int128 u = dur_units[i].ns;
		if ((frac * u) % scale) {
			config_seterr(err, errlen, "'%s' is finer than 1ns", s);
			return -1;
		}
		unsigned __int128 v = ip * u + frac * u / scale;
		if (big || v > UINT64_MAX) {
			config_seterr(err, errlen, "'%s' is too long a duration", s);
			return -1;
		}
		*ns = (uint64_t)v;
		return 0;
	}
bad:
	config_seterr(err, errlen, "'%s' is not a duration %s", s, DUR_HINT);
	return -1;
}

const char *config_duration_str(uint64_t ns, char *buf, size_t len)
{
	if (ns == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	/* The largest unit that shows ns exactly, with up to 3 decimals. */
	for (size_t i = 0; i < N_DUR_UNITS; i++) {
		uint64_t u = dur_units[i].ns;
		if (ns < u)
			continue;
		unsigned long long ip = ns / u, rem = ns % u;
		if (rem == 0) {
			snprintf(buf, len, "%llu%s", ip, dur_units[i].name);
			return buf;
		}
		if (u >= 1000 && rem % (u / 1000) == 0) {
			unsigned f = (unsigned)(rem / (u / 1000)), d = 3;
			while (f % 10 == 0)
				f /= 10, d--;
			snprintf(buf, len, "%llu.%0*u%s", ip, (int)d, f, dur_units[i].name);
			return buf;
		}
	}
	snprintf(buf, len, "%lluns", (unsigned long long)ns); /* not reached */
	return buf;
}

/* Decimal, no sign, no blanks. */
int config_parse_uint(const char *s, unsigned long long min, unsigned long long max,
		      unsigned long long *out, char *err, size_t errlen)
{
	const char *q = s;
	unsigned long long v = 0;
	if (!config_is_digit(*q)) {
		config_seterr(err, errlen, "'%s' is not a number", s);
		return -1;
	}
	for (; config_is_digit(*q); q++) {
		if (v > (ULLONG_MAX - 9) / 10) {
			v = ULLONG_MAX;
			while (config_is_digit(*q))
				q++;
			break;
		}
		v = v * 10 + (unsigned)(*q - '0');
	}
	if (*q) {
		config_seterr(err, errlen, "'%s' is not a number", s);
		return -1;
	}
	if (v < min || v > max) {
		config_seterr(err, errlen, "'%s' is out of range (%llu..%llu)", s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Decimal, or hex with 0x. */
int config_parse_uint_hex(const char *s, unsigned long long max, unsigned long long *out,
			  char *err, size_t errlen)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		const char *q = s + 2;
		unsigned long long v = 0;
		if (!*q)
			goto bad;
		for (; *q; q++) {
			int d;
			if (config_is_digit(*q))
				d = *q - '0';
			else if (*q >= 'a' && *q <= 'f')
				d = *q - 'a' + 10;
			else if (*q >= 'A' && *q <= 'F')
				d = *q - 'A' + 10;
			else
				goto bad;
			v = v * 16 + (unsigned)d;
			if (v > max) {
				config_seterr(err, errlen, "'%s' is out of range (0..%llu, or 0x0..0x%llx)",
				       s, max, max);
				return -1;
			}
		}
		*out = v;
		return 0;
	}
	if (config_parse_uint(s, 0, max, out, NULL, 0) == 0)
		return 0;
	if (config_is_digit(*s)) {
		const char *q = s;
		while (config_is_digit(*q))
			q++;
		if (!*q) {
			config_seterr(err, errlen, "'%s' is out of range (0..%llu, or 0x0..0x%llx)", s,
			       max, max);
			return -1;
		}
	}
bad:
	config_seterr(err, errlen, "'%s' is not a number (decimal, or hex with 0x)", s);
	return -1;
}

int config_parse_port(const char *s, uint16_t *port, char *err, size_t errlen)
{
	const char *q = s;
	unsigned long v = 0;
	if (!*s) {
		config_seterr(err, errlen, "the port is missing: ports are 1..65535");
		return -1;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		char *end;
		unsigned long h = strtoul(s + 2, &end, 16);
		if (s[2] && !*end && s[2] != '-' && s[2] != '+' && h >= 1 && h <= 65535)
			config_seterr(err, errlen, "'%s' is hexadecimal: ports are decimal (write %lu)", s, h);
		else
			config_seterr(err, errlen, "'%s' is not a number: ports are decimal, 1..65535", s);
		return -1;
	}
	for (; config_is_digit(*q) && v <= 65535; q++)
		v = v * 10 + (unsigned long)(*q - '0');
	while (config_is_digit(*q))
		q++;
	if (*q || !config_is_digit(*s)) {
		config_seterr(err, errlen, "'%s' is not a number: ports are decimal, 1..65535", s);
		return -1;
	}
	if (v == 0 && !s[1]) {
		config_seterr(err, errlen, "'0' cannot be probed: ports are 1..65535");
		return -1;
	}
	if (v > 65535) {
		config_seterr(err, errlen, "'%s' is out of range: ports are 1..65535", s);
		return -1;
	}
	if (s[0] == '0') {
		/* inet_aton's habit reads a leading 0 as octal: refuse rather than guess. */
		if (v)
			config_seterr(err, errlen, "'%s' has a leading zero: ports are decimal (write %lu)", s, v);
		else
			config_seterr(err, errlen, "'%s' cannot be probed: ports are 1..65535", s);
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

/* inet_aton() also takes "10.231.2", "200", "0x7f.1" and octal parts, as
 * getaddrinfo() does; an operator who types them most likely made a typo.
 * Only the dotted quad and RFC 4291 text are addresses. */
int config_parse_address(const char *s, struct pkt_addr *out, char *zone, size_t zonelen,
			 char *err, size_t errlen)
{
	struct pkt_addr a;
	memset(&a, 0, sizeof(a));
	if (zone && zonelen)
		zone[0] = '\0';
	if (strchr(s, ':')) {
		char buf[INET6_ADDRSTRLEN + 1];
		const char *pct = strchr(s, '%');
		size_t alen = pct ? (size_t)(pct - s) : strlen(s);
		if (alen >= sizeof(buf))
			goto bad6;
		memcpy(buf, s, alen);
		buf[alen] = '\0';
		if (inet_pton(AF_INET6, buf, a.a) != 1)
			goto bad6;
		a.family = AF_INET6;
		if (pct) {
			const char *z = pct + 1;
			size_t zl = strlen(z);
			if (!(a.a[0] == 0xfe && (a.a[1] & 0xc0) == 0x80)) {
				config_seterr(err, errlen, "'%s': a zone (%%%s) is only for link-local addresses "
				       "(fe80::/10)", s, z);
				return -1;
			}
			if (!zl || zl >= 16 || strspn(z, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						   "0123456789_-.@") != zl) {
				config_seterr(err, errlen, "'%s': '%s' is not an interface name", s, z);
				return -1;
			}
			if (zone && zonelen)
				snprintf(zone, zonelen, "%s", z);
		}
		*out = a;
		return 1;
	bad6:
		config_seterr(err, errlen, "'%s' is not an IPv6 address", s);
		return -1;
	}
	if (inet_pton(AF_INET, s, a.a) == 1) {
		a.family = AF_INET;
		*out = a;
		return 1;
	}
	/* Not a dotted quad: a name, unless it looks like a number. A name's
	 * last label is never all digits (RFC 1123 2.1, RFC 3696 2). */
	struct in_addr ia;
	const char *last = strrchr(s, '.');
	last = last && last[1] ? last + 1 : s;
	if (inet_aton(s, &ia) == 1) {
		char q[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &ia, q, sizeof(q));
		config_seterr(err, errlen, "'%s' is not a full IPv4 address a.b.c.d (inet_aton would read it "
		       "as %s)", s, q);
		return -1;
	}
	if (*last && strspn(last, "0123456789") == strlen(last)) {
		config_seterr(err, errlen, "'%s' is not an IPv4 address a.b.c.d (each part 0..255)", s);
		return -1;
	}
	return 0;
}

int config_parse_bool(const char *s, bool *out, char *err, size_t errlen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	config_seterr(err, errlen, "'%s' is not a boolean (use yes or no)", s);
	return -1;
}

/* One word of a closed set; names[i] == NULL entries are skipped. */
int config_parse_word(const char *s, const char *const *names, size_t n, int *out, char *err,
		      size_t errlen)
{
	char list[128];
	size_t off = 0;
	list[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!names[i])
			continue;
		if (!strcmp(s, names[i])) {
			*out = (int)i;
			return 0;
		}
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", off ? ", " : "",
				       names[i]);
		if (off >= sizeof(list))
			off = sizeof(list) - 1;
	}
	config_seterr(err, errlen, "'%s' is not one of %s", s, list);
	return -1;
}


int config_parse_cidr(const char *s, struct cidr *out, char *err, size_t errlen)
{
	char a[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct cidr c;
	unsigned max;

	memset(&c, 0, sizeof(c));
	if (alen == 0 || alen >= sizeof(a))
		goto bad;
	memcpy(a, s, alen);
	a[alen] = '\0';
	if (inet_pton(AF_INET, a, c.addr.a) == 1) {
		c.addr.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, a, c.addr.a) == 1) {
		c.addr.family = AF_INET6;
		max = 128;
	} else {
		goto bad;
	}
	c.prefix = (uint8_t)max;
	if (slash) {
		unsigned long long p;
		if (config_parse_uint(slash + 1, 0, max, &p, NULL, 0) < 0) {
			config_seterr(err, errlen, "'%s': prefix length must be 0..%u", s, max);
			return -1;
		}
		c.prefix = (uint8_t)p;
	}
	/* Host bits set is an error, not silently masked: "10.1.2.3/8" is far
	 * more often a typo for /24 or /32 than a wish for 10.0.0.0/8. */
	for (unsigned bit = c.prefix; bit < max; bit++) {
		if (c.addr.a[bit / 8] & (0x80 >> (bit % 8))) {
			struct cidr m = c;
			char buf[INET6_ADDRSTRLEN];
			for (unsigned b = c.prefix; b < max; b++)
				m.addr.a[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
			inet_ntop(m.addr.family, m.addr.a, buf, sizeof(buf));
			config_seterr(err, errlen, "'%s' has host bits set (did you mean %s/%u?)", s, buf,
			       c.prefix);
			return -1;
		}
	}
	*out = c;
	return 0;
bad:
	config_seterr(err, errlen, "'%s' is not an address or prefix (e.g. 192.0.2.0/24, 2001:db8::/32)",
	       s);
	return -1;
}


/* User and group names: what useradd accepts, without resolving them (the
 * daemon does that, so that -n gives the same answer on any host). */
int config_parse_name(const char *v, char *out, size_t outlen, char *err, size_t errlen)
{
	size_t n = strlen(v);
	if (n == 0) {
		out[0] = '\0';
		return 0;
	}
	if (n >= outlen || n >= CFG_NAME_MAX) {
		config_seterr(err, errlen, "'%s' is longer than %d characters", v, CFG_NAME_MAX - 1);
		return -1;
	}
	if (v[0] == '-' || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "0123456789._-") != n) {
		config_seterr(err, errlen, "'%s' is not a user or group name", v);
		return -1;
	}
	memcpy(out, v, n + 1);
	return 0;
}

int config_parse_listen(const char *v, char *out, size_t outlen, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char tmp[16];
	const char *port;
	unsigned long long p;

	if (!*v || !strcmp(v, "off")) {
		out[0] = '\0';
		return 0;
	}
	/* An address and a port, IPv6 in brackets; the split is targets'. */
	if (split_hostport(v, addr, sizeof(addr), &port, NULL, 0) < 0 || !port ||
	    inet_pton(v[0] == '[' ? AF_INET6 : AF_INET, addr, tmp) != 1)
		goto bad;
	if (config_parse_uint(port, 1, 65535, &p, NULL, 0) < 0) {
		config_seterr(err, errlen, "'%s': port must be 1..65535", v);
		return -1;
	}
	if (strlen(v) >= outlen)
		goto bad;
	snprintf(out, outlen, "%s", v);
	return 0;
bad:
	config_seterr(err, errlen, "'%s' is not ADDR:PORT (e.g. 127.0.0.1:9110, [::1]:9110, or off)", v);
	return -1;
}

int config_parse_port_range(const char *v, uint16_t *lo, uint16_t *hi, char *err, size_t errlen)
{
	char a[8];
	const char *dash = strchr(v, '-');
	unsigned long long l, h;
	if (!dash || (size_t)(dash - v) >= sizeof(a) || dash == v)
		goto bad;
	memcpy(a, v, (size_t)(dash - v));
	a[dash - v] = '\0';
	if (config_parse_uint(a, 1, 65535, &l, NULL, 0) < 0 || config_parse_uint(dash + 1, 1, 65535, &h, NULL, 0) < 0)
		goto bad;
	if (l > h) {
		config_seterr(err, errlen, "'%s': the first port is above the last", v);
		return -1;
	}
	*lo = (uint16_t)l;
	*hi = (uint16_t)h;
	return 0;
bad:
	config_seterr(err, errlen, "'%s' is not a port range LO-HI within 1-65535 (e.g. 20000-29999)", v);
	return -1;
}

/* Calls fn on each comma-separated item of v, blanks trimmed. */
int config_for_each_item(const char *v, int (*fn)(void *arg, const char *item, char *err,
						  size_t errlen),
			 void *arg, char *err, size_t errlen)
{
	char item[256];
	const char *p = v;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0) {
			config_seterr(err, errlen, "'%s' has an empty item", v);
			return -1;
		}
		if (n >= sizeof(item)) {
			config_seterr(err, errlen, "'%.*s' is too long", (int)n, p);
			return -1;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		if (fn(arg, item, err, errlen) < 0)
			return -1;
		if (!e)
			return 0;
		p = e + 1;
	}
}


bool config_flows_hold_conflict(const struct probe_opts *o)
{
	return o->flows > 1 && o->hold_ns >= o->interval_ns;
}

uint64_t config_name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}


/* Hostname (RFC 1123 labels, '_' tolerated, one trailing dot allowed) or
 * IPv4/IPv6 literal. Not resolved here: the daemon does that, at start and
 * on reload. */
bool config_host_valid(const char *s)
{
	unsigned char tmp[16];
	size_t n = strlen(s);
	if (n == 0 || n >= CFG_HOST_MAX)
		return false;
	if (inet_pton(AF_INET6, s, tmp) == 1 || inet_pton(AF_INET, s, tmp) == 1)
		return true;
	if (s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		char ch = i < n ? s[i] : '.';
		if (ch == '.') {
			size_t l = i - start;
			if (l == 0 || l > 63 || s[start] == '-' || s[i - 1] == '-')
				return false;
			start = i + 1;
		} else if (!(config_is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     ch == '-' || ch == '_')) {
			return false;
		}
	}
	return true;
}

/* "fd31::2:80" is the address fd31::2:80, but more likely fd31::2 port 80:
 * a bare IPv6 address whose last group is a decimal number and whose head
 * is an address by itself is refused instead of guessed. */
static bool v6_ambiguous(const char *arg, char *head, size_t headlen, const char **port)
{
	unsigned char tmp[16];
	const char *colon = strrchr(arg, ':');
	size_t n = (size_t)(colon - arg);
	if (!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) || n >= headlen)
		return false;
	memcpy(head, arg, n);
	head[n] = '\0';
	*port = colon + 1;
	return inet_pton(AF_INET6, head, tmp) == 1;
}

/* The host:port split itself: *ps = the port's text, NULL if none. */
static int split_hostport(const char *arg, char *host, size_t hostlen, const char **ps, char *err,
			  size_t errlen)
{
	const char *colon = strrchr(arg, ':');
	int n;
	*ps = NULL;
	if (arg[0] == '[') {
		const char *rb = strchr(arg, ']');
		if (!rb || (rb[1] && rb[1] != ':'))
			goto bad;
		n = snprintf(host, hostlen, "%.*s", (int)(rb - arg - 1), arg + 1);
		*ps = rb[1] == ':' ? rb + 2 : NULL;
	} else if (colon && strchr(arg, ':') == colon) {
		n = snprintf(host, hostlen, "%.*s", (int)(colon - arg), arg);
		*ps = colon + 1;
	} else {
		char head[INET6_ADDRSTRLEN + 1];
		const char *p;
		if (colon && v6_ambiguous(arg, head, sizeof(head), &p)) {
			config_seterr(err, errlen, "'%s' is ambiguous: write [%s]:%s for port %s of %s, or "
				 "[%s] for the address", arg, head, p, p, head, arg);
			return -1;
		}
		n = snprintf(host, hostlen, "%s", arg);
	}
	if (!host[0] || n < 0 || (size_t)n >= hostlen)
		goto bad;
	return 0;
bad:
	config_seterr(err, errlen, "'%s' is not HOST[:PORT] (IPv6 as [ADDR]:PORT)", arg);
	return -1;
}

int config_parse_hostport(const char *arg, char *host, size_t hostlen, uint16_t *port, char *err,
			  size_t errlen)
{
	const char *ps;
	char why[160];
	if (split_hostport(arg, host, hostlen, &ps, err, errlen) < 0)
		return -1;
	if (ps && config_parse_port(ps, port, why, sizeof(why)) < 0) {
		config_seterr(err, errlen, "'%s': port %s", arg, why);
		return -1;
	}
	return 0;
}
