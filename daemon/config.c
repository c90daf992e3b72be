/*
 * config.c: the INI configuration. inih splits "key = value" and strips
 * comments; everything else is ours, through a reader function that hands
 * inih one line at a time. We need it because Debian's libinih (r55) is
 * built with a 200-byte line buffer, without INI_HANDLER_LINENO and without
 * INI_CALL_HANDLER_ON_NEW_SECTION, and because it:
 *   - truncates longer lines silently and parses the rest as a new line
 *     (which also shifts every later line number): the reader rejects them;
 *   - truncates section names to 49 bytes ("[target " + a 63-byte name does
 *     not fit): the reader parses headers itself, and sees empty sections;
 *   - treats an indented line as the continuation of the previous value
 *     (Python's multi-line values): the reader strips leading blanks.
 * The reader counts lines, so the handler, which inih calls for a line
 * before it asks for the next one, knows the line it is working on.
 *
 * Only the first error is reported; parsing stops there.
 *
 * [defaults] applies to every target wherever it appears in the file: each
 * target records which probe keys it set, and takes the rest from
 * [defaults] once the whole file is read.
 */
#include "config.h"
#include "labels.h"
#include "log.h"
#include "timens.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define DUR_HINT "(use e.g. 250ms, 10s, 1m)"

/*
 * Defaults.
 *
 * metrics_listen, port 9110: Prometheus keeps a list of default exporter
 * ports (github.com/prometheus/prometheus/wiki/Default-port-allocations);
 * its 9100-9999 block has been fully handed out since 2023, so there is no
 * never-used slot left in it. 9110 was reserved for the "blackbox prober",
 * the blackbox_exporter's predecessor, and marked DEPRECATED on that list:
 * no maintained exporter listens there, and a prober taking it over is
 * fitting. Loopback only by default: the metrics carry target names.
 *
 * source_ports, 20000-29999: outside Linux's default ephemeral range
 * (ip_local_port_range 32768-60999), so the kernel never picks these ports
 * for its own connections (a shared 4-tuple would have two owners, and the
 * RST guard would drop the kernel's legitimate RSTs); outside IANA's dynamic
 * range 49152-65535 (other systems' ephemeral ports, and what hosts with a
 * widened ip_local_port_range use); and below Kubernetes' NodePort range
 * 30000-32767. 10,000 ports: one per in-flight probe at the default
 * max_inflight; a port is reused for a different destination at once.
 *
 * time_wait, 2s: TIME_WAIT exists to re-ACK the peer's FIN if our last ACK
 * was lost (RFC 9293 3.6.1). The peer retransmits after its RTO: about
 * 200 ms + RTT on Linux, 1 s on an RFC 6298 stack; 2 s covers either plus a
 * round trip, where RFC 9293's 2*MSL (4 min) would hold 1,000x the state.
 */
#define DEF_METRICS_LISTEN "127.0.0.1:9110"
/* Status-page history: 288 buckets of 5 minutes hold a day (series.h). */
#define DEF_STATUS_BUCKET_NS 300000000000ULL
#define DEF_SPORT_LO 20000
#define DEF_SPORT_HI 29999

#define NS_US NS_PER_US
#define NS_MS NS_PER_MS
#define NS_S NS_PER_S
#define NS_M (60 * NS_S)
#define NS_H (3600 * NS_S)

static const uint64_t default_buckets_ns[] = {
	50 * NS_US,  100 * NS_US, 250 * NS_US, 500 * NS_US, 1 * NS_MS,   2500 * NS_US,
	5 * NS_MS,   10 * NS_MS,  25 * NS_MS,  50 * NS_MS,  100 * NS_MS, 250 * NS_MS,
	500 * NS_MS, 1 * NS_S,    2500 * NS_MS, 5 * NS_S,
};
#define N_DEFAULT_BUCKETS (sizeof(default_buckets_ns) / sizeof(default_buckets_ns[0]))

/* ---- value parsers ---------------------------------------------------- */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
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

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

int config_parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen)
{
	const char *q = s;
	unsigned __int128 ip = 0, frac = 0, scale = 1;
	bool big = false;

	if (!is_digit(*q))
		goto bad;
	for (; is_digit(*q); q++) {
		ip = ip * 10 + (unsigned)(*q - '0');
		if (ip > UINT64_MAX)
			big = true, ip = (unsigned __int128)UINT64_MAX + 1;
	}
	if (*q == '.') {
		q++;
		if (!is_digit(*q))
			goto bad;
		for (; is_digit(*q); q++) {
			/* 19 digits are past 1ns in every unit; keep going only
			 * to find trailing zeros. */
			if (scale < (unsigned __int128)10000000000000000000ULL) {
				frac = frac * 10 + (unsigned)(*q - '0');
				scale *= 10;
			} else if (*q != '0') {
				seterr(err, errlen, "'%s' is finer than 1ns", s);
				return -1;
			}
		}
	}
	if (*q == '\0') {
		if (ip == 0 && frac == 0) { /* "0" needs no unit */
			*ns = 0;
			return 0;
		}
		seterr(err, errlen, "'%s' is missing a unit %s", s, DUR_HINT);
		return -1;
	}
	for (size_t i = 0; i < N_DUR_UNITS; i++) {
		if (strcmp(q, dur_units[i].name))
			continue;
		unsigned __int128 u = dur_units[i].ns;
		if ((frac * u) % scale) {
			seterr(err, errlen, "'%s' is finer than 1ns", s);
			return -1;
		}
		unsigned __int128 v = ip * u + frac * u / scale;
		if (big || v > UINT64_MAX) {
			seterr(err, errlen, "'%s' is too long a duration", s);
			return -1;
		}
		*ns = (uint64_t)v;
		return 0;
	}
bad:
	seterr(err, errlen, "'%s' is not a duration %s", s, DUR_HINT);
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
static int parse_uint(const char *s, unsigned long long min, unsigned long long max,
		      unsigned long long *out, char *err, size_t errlen)
{
	const char *q = s;
	unsigned long long v = 0;
	if (!is_digit(*q)) {
		seterr(err, errlen, "'%s' is not a number", s);
		return -1;
	}
	for (; is_digit(*q); q++) {
		if (v > (ULLONG_MAX - 9) / 10) {
			v = ULLONG_MAX;
			while (is_digit(*q))
				q++;
			break;
		}
		v = v * 10 + (unsigned)(*q - '0');
	}
	if (*q) {
		seterr(err, errlen, "'%s' is not a number", s);
		return -1;
	}
	if (v < min || v > max) {
		seterr(err, errlen, "'%s' is out of range (%llu..%llu)", s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Decimal, or hex with 0x. */
static int parse_uint_hex(const char *s, unsigned long long max, unsigned long long *out,
			  char *err, size_t errlen)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		const char *q = s + 2;
		unsigned long long v = 0;
		if (!*q)
			goto bad;
		for (; *q; q++) {
			int d;
			if (is_digit(*q))
				d = *q - '0';
			else if (*q >= 'a' && *q <= 'f')
				d = *q - 'a' + 10;
			else if (*q >= 'A' && *q <= 'F')
				d = *q - 'A' + 10;
			else
				goto bad;
			v = v * 16 + (unsigned)d;
			if (v > max) {
				seterr(err, errlen, "'%s' is out of range (0..%llu, or 0x0..0x%llx)",
				       s, max, max);
				return -1;
			}
		}
		*out = v;
		return 0;
	}
	if (parse_uint(s, 0, max, out, NULL, 0) == 0)
		return 0;
	if (is_digit(*s)) {
		const char *q = s;
		while (is_digit(*q))
			q++;
		if (!*q) {
			seterr(err, errlen, "'%s' is out of range (0..%llu, or 0x0..0x%llx)", s,
			       max, max);
			return -1;
		}
	}
bad:
	seterr(err, errlen, "'%s' is not a number (decimal, or hex with 0x)", s);
	return -1;
}

int config_parse_port(const char *s, uint16_t *port, char *err, size_t errlen)
{
	const char *q = s;
	unsigned long v = 0;
	if (!*s) {
		seterr(err, errlen, "the port is missing: ports are 1..65535");
		return -1;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		char *end;
		unsigned long h = strtoul(s + 2, &end, 16);
		if (s[2] && !*end && s[2] != '-' && s[2] != '+' && h >= 1 && h <= 65535)
			seterr(err, errlen, "'%s' is hexadecimal: ports are decimal (write %lu)", s, h);
		else
			seterr(err, errlen, "'%s' is not a number: ports are decimal, 1..65535", s);
		return -1;
	}
	for (; is_digit(*q) && v <= 65535; q++)
		v = v * 10 + (unsigned long)(*q - '0');
	while (is_digit(*q))
		q++;
	if (*q || !is_digit(*s)) {
		seterr(err, errlen, "'%s' is not a number: ports are decimal, 1..65535", s);
		return -1;
	}
	if (v == 0 && !s[1]) {
		seterr(err, errlen, "'0' cannot be probed: ports are 1..65535");
		return -1;
	}
	if (v > 65535) {
		seterr(err, errlen, "'%s' is out of range: ports are 1..65535", s);
		return -1;
	}
	if (s[0] == '0') {
		/* inet_aton's habit reads a leading 0 as octal: refuse rather than guess. */
		if (v)
			seterr(err, errlen, "'%s' has a leading zero: ports are decimal (write %lu)", s, v);
		else
			seterr(err, errlen, "'%s' cannot be probed: ports are 1..65535", s);
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
				seterr(err, errlen, "'%s': a zone (%%%s) is only for link-local addresses "
				       "(fe80::/10)", s, z);
				return -1;
			}
			if (!zl || zl >= 16 || strspn(z, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						   "0123456789_-.@") != zl) {
				seterr(err, errlen, "'%s': '%s' is not an interface name", s, z);
				return -1;
			}
			if (zone && zonelen)
				snprintf(zone, zonelen, "%s", z);
		}
		*out = a;
		return 1;
	bad6:
		seterr(err, errlen, "'%s' is not an IPv6 address", s);
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
		seterr(err, errlen, "'%s' is not a full IPv4 address a.b.c.d (inet_aton would read it "
		       "as %s)", s, q);
		return -1;
	}
	if (*last && strspn(last, "0123456789") == strlen(last)) {
		seterr(err, errlen, "'%s' is not an IPv4 address a.b.c.d (each part 0..255)", s);
		return -1;
	}
	return 0;
}

static int parse_bool(const char *s, bool *out, char *err, size_t errlen)
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
	seterr(err, errlen, "'%s' is not a boolean (use yes or no)", s);
	return -1;
}

/* One word of a closed set; names[i] == NULL entries are skipped. */
static int parse_word(const char *s, const char *const *names, size_t n, int *out, char *err,
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
	seterr(err, errlen, "'%s' is not one of %s", s, list);
	return -1;
}

/* Kept here rather than calling probe_kind_str(), so that config.c links
 * without probes/fsm.c; the strings are the same. */
static const char *const kind_names[PROBE_KIND_COUNT] = {
	[PROBE_SYN] = "syn",
	[PROBE_HANDSHAKE] = "handshake",
	[PROBE_FIN] = "fin",
};

static const char *const level_names[8] = {
	[LOG_LVL_ERR] = "error", [LOG_LVL_WARN] = "warning", [LOG_LVL_NOTICE] = "notice",
	[LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

static const char *const family_names[7] = {
	[FAMILY_ANY] = "any", [FAMILY_V4] = "ipv4", [FAMILY_V6] = "ipv6",
};

static const char *const rst_guard_names[] = {
	[RST_GUARD_NFT] = "nft", [RST_GUARD_NONE] = "none", [RST_GUARD_EXTERNAL] = "external",
};

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
		if (parse_uint(slash + 1, 0, max, &p, NULL, 0) < 0) {
			seterr(err, errlen, "'%s': prefix length must be 0..%u", s, max);
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
			seterr(err, errlen, "'%s' has host bits set (did you mean %s/%u?)", s, buf,
			       c.prefix);
			return -1;
		}
	}
	*out = c;
	return 0;
bad:
	seterr(err, errlen, "'%s' is not an address or prefix (e.g. 192.0.2.0/24, 2001:db8::/32)",
	       s);
	return -1;
}

/* ---- probe options ------------------------------------------------------ */

enum pk_type { PT_KIND, PT_FAMILY, PT_UINT, PT_PORT, PT_TOS, PT_MSS, PT_WSCALE, PT_DUR, PT_BOOL };

/* The probe keys, in print order. min/max are ns for durations. */
static const struct probe_key {
	const char *name;
	enum pk_type type;
	size_t off, size;
	unsigned long long min, max;
} probe_keys[] = {
#define PK(n, t, f, lo, hi) { n, t, offsetof(struct probe_opts, f), \
			      sizeof(((struct probe_opts *)0)->f), lo, hi }
	PK("kind", PT_KIND, kind, 0, 0),
	PK("port", PT_PORT, port, 1, 65535),
	PK("family", PT_FAMILY, family, 0, 0),
	PK("interval", PT_DUR, interval_ns, 100 * NS_MS, 24 * NS_H),
	PK("timeout", PT_DUR, timeout_ns, 1 * NS_MS, 60 * NS_S),
	PK("retries", PT_UINT, retries, 0, 10),
	PK("time_wait", PT_DUR, time_wait_ns, 0, 240 * NS_S),
	PK("fin_wait_2", PT_DUR, fin_wait_2_ns, 1 * NS_MS, 10 * NS_M),
	PK("hold", PT_DUR, hold_ns, 0, 1 * NS_H),
	PK("ttl", PT_UINT, ttl, 1, 255),
	PK("tos", PT_TOS, tos, 0, 255),
	PK("window", PT_UINT, window, 0, 65535),
	PK("mss", PT_MSS, syn.mss, 0, 65535),
	PK("wscale", PT_WSCALE, syn.wscale, 0, 14),
	PK("sack", PT_BOOL, syn.sack_ok, 0, 0),
	PK("timestamps", PT_BOOL, syn.timestamps, 0, 0),
	PK("ecn", PT_BOOL, ecn, 0, 0),
	PK("check_synack_retransmit", PT_BOOL, check_synack_retransmit, 0, 0),
	PK("expect_mss", PT_UINT, expect_mss, 0, 65535),
#undef PK
};
#define N_PROBE_KEYS (sizeof(probe_keys) / sizeof(probe_keys[0]))

static int probe_key_find(const char *name)
{
	for (size_t i = 0; i < N_PROBE_KEYS; i++)
		if (!strcmp(name, probe_keys[i].name))
			return (int)i;
	return -1;
}

static void store_uint(void *field, size_t size, unsigned long long v)
{
	switch (size) {
	case 1: *(uint8_t *)field = (uint8_t)v; break;
	case 2: *(uint16_t *)field = (uint16_t)v; break;
	case 4: *(uint32_t *)field = (uint32_t)v; break;
	default: *(uint64_t *)field = v; break;
	}
}

static unsigned long long load_uint(const void *field, size_t size)
{
	switch (size) {
	case 1: return *(const uint8_t *)field;
	case 2: return *(const uint16_t *)field;
	case 4: return *(const uint32_t *)field;
	default: return *(const uint64_t *)field;
	}
}

/* Sets key k of o; err is what is wrong with value, without the key name. */
static int probe_key_set(struct probe_opts *o, const struct probe_key *k, const char *v,
			 char *err, size_t errlen)
{
	void *field = (char *)o + k->off;
	unsigned long long u;
	uint64_t ns;
	int w;
	bool b;

	switch (k->type) {
	case PT_KIND:
		if (parse_word(v, kind_names, PROBE_KIND_COUNT, &w, err, errlen) < 0)
			return -1;
		o->kind = (enum probe_kind)w;
		return 0;
	case PT_FAMILY:
		if (parse_word(v, family_names, 7, &w, err, errlen) < 0)
			return -1;
		o->family = (uint8_t)w;
		return 0;
	case PT_UINT:
		if (parse_uint(v, k->min, k->max, &u, err, errlen) < 0)
			return -1;
		store_uint(field, k->size, u);
		return 0;
	case PT_PORT:
		return config_parse_port(v, &o->port, err, errlen);
	case PT_TOS:
		if (parse_uint_hex(v, k->max, &u, err, errlen) < 0)
			return -1;
		store_uint(field, k->size, u);
		return 0;
	case PT_MSS:
		if (!strcmp(v, "off")) {
			o->syn.mss = 0;
			return 0;
		}
		if (parse_uint(v, k->min, k->max, &u, NULL, 0) < 0) {
			seterr(err, errlen, "'%s' is not 1..65535, or 0 or off to omit the option",
			       v);
			return -1;
		}
		o->syn.mss = (uint16_t)u;
		return 0;
	case PT_WSCALE:
		if (!strcmp(v, "off") || !strcmp(v, "-1")) {
			o->syn.wscale = -1;
			return 0;
		}
		if (parse_uint(v, k->min, k->max, &u, NULL, 0) < 0) {
			seterr(err, errlen, "'%s' is not 0..14, or -1 or off to omit the option", v);
			return -1;
		}
		o->syn.wscale = (int8_t)u;
		return 0;
	case PT_DUR: {
		char a[32], b2[32];
		if (config_parse_duration(v, &ns, err, errlen) < 0)
			return -1;
		if (ns < k->min || ns > k->max) {
			seterr(err, errlen, "'%s' is out of range (%s..%s)", v,
			       config_duration_str(k->min, a, sizeof(a)),
			       config_duration_str(k->max, b2, sizeof(b2)));
			return -1;
		}
		*(uint64_t *)field = ns;
		return 0;
	}
	case PT_BOOL:
		if (parse_bool(v, &b, err, errlen) < 0)
			return -1;
		*(bool *)field = b;
		return 0;
	}
	return -1;
}

static void probe_key_print(const struct probe_opts *o, const struct probe_key *k, FILE *f)
{
	const void *field = (const char *)o + k->off;
	char buf[32];

	fprintf(f, "%s = ", k->name);
	switch (k->type) {
	case PT_KIND:
		fprintf(f, "%s\n", (unsigned)o->kind < PROBE_KIND_COUNT && kind_names[o->kind]
					   ? kind_names[o->kind] : "?");
		break;
	case PT_FAMILY:
		fprintf(f, "%s\n", o->family < 7 && family_names[o->family]
					   ? family_names[o->family] : "?");
		break;
	case PT_UINT:
	case PT_PORT:
		fprintf(f, "%llu\n", load_uint(field, k->size));
		break;
	case PT_TOS:
		fprintf(f, "0x%02llx\n", load_uint(field, k->size));
		break;
	case PT_MSS:
		if (o->syn.mss)
			fprintf(f, "%u\n", o->syn.mss);
		else
			fprintf(f, "off\n");
		break;
	case PT_WSCALE:
		if (o->syn.wscale >= 0)
			fprintf(f, "%d\n", o->syn.wscale);
		else
			fprintf(f, "off\n");
		break;
	case PT_DUR:
		fprintf(f, "%s\n", config_duration_str(*(const uint64_t *)field, buf, sizeof(buf)));
		break;
	case PT_BOOL:
		fprintf(f, "%s\n", *(const bool *)field ? "yes" : "no");
		break;
	}
}

int config_probe_opt_value(struct probe_opts *o, const char *key, const char *value, char *err,
			   size_t errlen)
{
	int i = probe_key_find(key);
	if (i < 0) {
		seterr(err, errlen, "unknown probe option '%s'", key);
		return -1;
	}
	return probe_key_set(o, &probe_keys[i], value, err, errlen);
}

int config_set_probe_opt(struct probe_opts *o, const char *key, const char *value, char *err,
			 size_t errlen)
{
	char why[256];
	int i = probe_key_find(key);
	if (i < 0) {
		seterr(err, errlen, "unknown probe option '%s'", key);
		return -1;
	}
	if (probe_key_set(o, &probe_keys[i], value, why, sizeof(why)) < 0) {
		seterr(err, errlen, "%s: %s", key, why);
		return -1;
	}
	return 0;
}

void config_fsm_params(const struct probe_opts *o, struct fsm_params *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = o->kind;
	p->syn = o->syn;
	p->ecn = o->ecn;
	p->synack_wait_ns = o->check_synack_retransmit && o->kind == PROBE_SYN ? FSM_SYNACK_WAIT_NS : 0;
	p->window = o->window;
	p->retries = o->retries;
	p->rto_ns = o->timeout_ns;
	p->fin_wait_2_ns = o->fin_wait_2_ns;
	p->time_wait_ns = o->time_wait_ns;
	p->hold_ns = o->hold_ns;
}

/* ---- defaults ------------------------------------------------------------ */

static void probe_defaults(struct probe_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->kind = PROBE_HANDSHAKE;
	o->port = 80;
	o->family = FAMILY_ANY;
	o->ttl = 64;
	o->tos = 0;
	o->retries = 2;
	o->window = 64240; /* Linux's: 44 * 1460 */
	o->syn.mss = 1460;
	o->syn.wscale = 7;
	o->syn.sack_ok = true;
	o->syn.timestamps = true;
	o->interval_ns = 10 * NS_S;
	o->timeout_ns = 1 * NS_S; /* RFC 6298 2.1: initial RTO */
	o->time_wait_ns = 2 * NS_S;
	o->fin_wait_2_ns = 5 * NS_S;
	o->hold_ns = 0;
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	struct daemon_cfg *d = &c->d;
	snprintf(d->control_socket, sizeof(d->control_socket), "/run/tcpprobe/control.sock");
	d->control_mode = 0660;
	snprintf(d->metrics_listen, sizeof(d->metrics_listen), DEF_METRICS_LISTEN);
	d->sport_lo = DEF_SPORT_LO;
	d->sport_hi = DEF_SPORT_HI;
	d->max_inflight = 10000;
	d->pps = 10000;
	d->rst_guard = RST_GUARD_NFT;
	d->log_level = LOG_LVL_INFO;
	d->history = 20;
	d->resolve_interval_ns = 300000000000ULL;
	d->status_page = true;
	d->status_bucket_ns = DEF_STATUS_BUCKET_NS;
	d->n_buckets = N_DEFAULT_BUCKETS;
	for (size_t i = 0; i < N_DEFAULT_BUCKETS; i++)
		d->buckets[i] = (double)default_buckets_ns[i] / 1e9;
	probe_defaults(&c->defaults);
}

void config_free(struct config *c)
{
	free(c->path);
	for (size_t i = 0; i < c->ntargets; i++)
		free(c->targets[i].labels);
	free(c->targets);
	for (size_t i = 0; i < c->ndisc; i++)
		free(c->disc[i].files);
	free(c->disc);
	c->disc = NULL;
	c->ndisc = 0;
	for (size_t i = 0; i < c->nrw; i++)
		free(c->rw[i].external_labels);
	free(c->rw);
	c->rw = NULL;
	c->nrw = 0;
	c->path = NULL;
	c->targets = NULL;
	c->ntargets = 0;
}

/* ---- [daemon] ---------------------------------------------------------- */

enum dkey {
	DK_CONTROL_SOCKET, DK_CONTROL_MODE, DK_CONTROL_GROUP, DK_ADMIN_GROUP, DK_METRICS_LISTEN,
	DK_SOURCE_PORTS, DK_USER, DK_MAX_INFLIGHT, DK_PPS, DK_RST_GUARD, DK_LOG_LEVEL,
	DK_HISTORY, DK_RESOLVE_INTERVAL, DK_ALLOW_LOOPBACK, DK_ALLOW_LINK_LOCAL, DK_ALLOW, DK_DENY, DK_BUCKETS,
	DK_SHARD, DK_STATUS_PAGE, DK_STATUS_BUCKET, DK_COUNT
};

static const char *const daemon_keys[DK_COUNT] = {
	[DK_CONTROL_SOCKET] = "control_socket", [DK_CONTROL_MODE] = "control_mode",
	[DK_CONTROL_GROUP] = "control_group",   [DK_ADMIN_GROUP] = "admin_group",
	[DK_METRICS_LISTEN] = "metrics_listen", [DK_SOURCE_PORTS] = "source_ports",
	[DK_USER] = "user",                     [DK_MAX_INFLIGHT] = "max_inflight",
	[DK_PPS] = "pps",                       [DK_RST_GUARD] = "rst_guard",
	[DK_LOG_LEVEL] = "log_level",           [DK_HISTORY] = "history",
	[DK_RESOLVE_INTERVAL] = "resolve_interval",
	[DK_ALLOW_LOOPBACK] = "allow_loopback", [DK_ALLOW_LINK_LOCAL] = "allow_link_local",
	[DK_ALLOW] = "allow",                   [DK_DENY] = "deny",
	[DK_BUCKETS] = "buckets",               [DK_SHARD] = "shard",
	[DK_STATUS_PAGE] = "status_page",       [DK_STATUS_BUCKET] = "status_bucket",
};

/* Keys that may repeat, each occurrence adding to a list. */
static bool daemon_key_appends(int k) { return k == DK_ALLOW || k == DK_DENY || k == DK_BUCKETS; }

static int daemon_key_find(const char *name)
{
	for (int i = 0; i < DK_COUNT; i++)
		if (!strcmp(name, daemon_keys[i]))
			return i;
	return -1;
}

/* User and group names: what useradd accepts, without resolving them (the
 * daemon does that, so that -n gives the same answer on any host). */
static int parse_name(const char *v, char *out, size_t outlen, char *err, size_t errlen)
{
	size_t n = strlen(v);
	if (n == 0) {
		out[0] = '\0';
		return 0;
	}
	if (n >= outlen || n >= CFG_NAME_MAX) {
		seterr(err, errlen, "'%s' is longer than %d characters", v, CFG_NAME_MAX - 1);
		return -1;
	}
	if (v[0] == '-' || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "0123456789._-") != n) {
		seterr(err, errlen, "'%s' is not a user or group name", v);
		return -1;
	}
	memcpy(out, v, n + 1);
	return 0;
}

static int parse_listen(const char *v, char *out, size_t outlen, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char tmp[16];
	const char *port;
	size_t alen;
	int af;
	unsigned long long p;

	if (!*v || !strcmp(v, "off")) {
		out[0] = '\0';
		return 0;
	}
	if (v[0] == '[') {
		const char *e = strchr(v, ']');
		if (!e || e[1] != ':')
			goto bad;
		alen = (size_t)(e - v - 1);
		if (alen >= sizeof(addr))
			goto bad;
		memcpy(addr, v + 1, alen);
		port = e + 2;
		af = AF_INET6;
	} else {
		const char *e = strrchr(v, ':');
		if (!e)
			goto bad;
		alen = (size_t)(e - v);
		if (alen >= sizeof(addr))
			goto bad;
		memcpy(addr, v, alen);
		port = e + 1;
		af = AF_INET;
	}
	addr[alen] = '\0';
	if (inet_pton(af, addr, tmp) != 1)
		goto bad;
	if (parse_uint(port, 1, 65535, &p, NULL, 0) < 0) {
		seterr(err, errlen, "'%s': port must be 1..65535", v);
		return -1;
	}
	if (strlen(v) >= outlen)
		goto bad;
	snprintf(out, outlen, "%s", v);
	return 0;
bad:
	seterr(err, errlen, "'%s' is not ADDR:PORT (e.g. 127.0.0.1:9110, [::1]:9110, or off)", v);
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
	if (parse_uint(a, 1, 65535, &l, NULL, 0) < 0 || parse_uint(dash + 1, 1, 65535, &h, NULL, 0) < 0)
		goto bad;
	if (l > h) {
		seterr(err, errlen, "'%s': the first port is above the last", v);
		return -1;
	}
	*lo = (uint16_t)l;
	*hi = (uint16_t)h;
	return 0;
bad:
	seterr(err, errlen, "'%s' is not a port range LO-HI within 1-65535 (e.g. 20000-29999)", v);
	return -1;
}

/* Calls fn on each comma-separated item of v, blanks trimmed. */
static int for_each_item(const char *v, int (*fn)(void *arg, const char *item, char *err,
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
			seterr(err, errlen, "'%s' has an empty item", v);
			return -1;
		}
		if (n >= sizeof(item)) {
			seterr(err, errlen, "'%.*s' is too long", (int)n, p);
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

struct cidr_list {
	struct cidr *v;
	unsigned *n;
};

static int add_cidr(void *arg, const char *item, char *err, size_t errlen)
{
	struct cidr_list *l = arg;
	struct cidr c;
	if (config_parse_cidr(item, &c, err, errlen) < 0)
		return -1;
	if (*l->n >= CFG_CIDR_MAX) {
		seterr(err, errlen, "more than %d prefixes", CFG_CIDR_MAX);
		return -1;
	}
	l->v[(*l->n)++] = c;
	return 0;
}

static int add_bucket(void *arg, const char *item, char *err, size_t errlen)
{
	struct daemon_cfg *d = arg;
	uint64_t ns;
	char a[32];
	if (config_parse_duration(item, &ns, err, errlen) < 0)
		return -1;
	if (ns == 0) {
		seterr(err, errlen, "'%s': a bound must be above 0", item);
		return -1;
	}
	if (ns > NS_H) {
		seterr(err, errlen, "'%s' is out of range (1ns..1h)", item);
		return -1;
	}
	if (d->n_buckets && (double)ns / 1e9 <= d->buckets[d->n_buckets - 1]) {
		seterr(err, errlen, "'%s' does not increase: it follows %s", item,
		       config_duration_str((uint64_t)llround(d->buckets[d->n_buckets - 1] * 1e9), a,
					   sizeof(a)));
		return -1;
	}
	if (d->n_buckets >= CFG_BUCKETS_MAX) {
		seterr(err, errlen, "more than %d buckets", CFG_BUCKETS_MAX);
		return -1;
	}
	d->buckets[d->n_buckets++] = (double)ns / 1e9;
	return 0;
}

/* first: this is the first "buckets" line of the file (it replaces the
 * built-in list; later ones append). */
static int daemon_key_set(struct daemon_cfg *d, int k, const char *v, bool first, char *err,
			  size_t errlen)
{
	unsigned long long u;
	int w;

	switch ((enum dkey)k) {
	case DK_CONTROL_SOCKET:
		if (v[0] != '/') {
			seterr(err, errlen, "'%s' is not an absolute path", v);
			return -1;
		}
		if (strlen(v) >= sizeof(d->control_socket)) {
			seterr(err, errlen, "'%s' is longer than %zu bytes (sun_path)", v,
			       sizeof(d->control_socket) - 1);
			return -1;
		}
		snprintf(d->control_socket, sizeof(d->control_socket), "%s", v);
		return 0;
	case DK_CONTROL_MODE: {
		size_t n = strlen(v);
		if (n == 0 || n > 4 || strspn(v, "01234567") != n ||
		    (u = strtoull(v, NULL, 8)) > 0777) {
			seterr(err, errlen, "'%s' is not an octal mode 0000..0777 (e.g. 0660)", v);
			return -1;
		}
		d->control_mode = (mode_t)u;
		return 0;
	}
	case DK_CONTROL_GROUP:
		return parse_name(v, d->control_group, sizeof(d->control_group), err, errlen);
	case DK_ADMIN_GROUP:
		return parse_name(v, d->admin_group, sizeof(d->admin_group), err, errlen);
	case DK_USER:
		return parse_name(v, d->user, sizeof(d->user), err, errlen);
	case DK_METRICS_LISTEN:
		return parse_listen(v, d->metrics_listen, sizeof(d->metrics_listen), err, errlen);
	case DK_SOURCE_PORTS:
		return config_parse_port_range(v, &d->sport_lo, &d->sport_hi, err, errlen);
	case DK_MAX_INFLIGHT:
		if (parse_uint(v, 1, 1000000, &u, err, errlen) < 0)
			return -1;
		d->max_inflight = (unsigned)u;
		return 0;
	case DK_PPS:
		if (parse_uint(v, 1, 10000000, &u, err, errlen) < 0)
			return -1;
		d->pps = (unsigned)u;
		return 0;
	case DK_RST_GUARD:
		if (parse_word(v, rst_guard_names, 3, &w, err, errlen) < 0)
			return -1;
		d->rst_guard = (enum rst_guard_mode)w;
		return 0;
	case DK_LOG_LEVEL:
		if (!strcmp(v, "warn")) /* as log_set_level_str() takes it */
			v = "warning";
		if (parse_word(v, level_names, 8, &w, err, errlen) < 0)
			return -1;
		d->log_level = w;
		return 0;
	case DK_HISTORY:
		if (parse_uint(v, 1, 1000, &u, err, errlen) < 0)
			return -1;
		d->history = (unsigned)u;
		return 0;
	case DK_RESOLVE_INTERVAL: {
		uint64_t ns;
		if (config_parse_duration(v, &ns, err, errlen) < 0)
			return -1;
		if (ns < 1000000000ULL || ns > 86400000000000ULL) {
			seterr(err, errlen, "'%s' is out of range (1s..1d)", v);
			return -1;
		}
		d->resolve_interval_ns = ns;
		return 0;
	}
	case DK_ALLOW_LOOPBACK:
		return parse_bool(v, &d->allow_loopback, err, errlen);
	case DK_ALLOW_LINK_LOCAL:
		return parse_bool(v, &d->allow_link_local, err, errlen);
	case DK_ALLOW:
	case DK_DENY: {
		struct cidr_list l = { k == DK_ALLOW ? d->allow : d->deny,
				       k == DK_ALLOW ? &d->n_allow : &d->n_deny };
		if (!*v) /* "allow =" (as config_print writes an empty list) */
			return 0;
		return for_each_item(v, add_cidr, &l, err, errlen);
	}
	case DK_BUCKETS:
		if (!*v) {
			seterr(err, errlen, "empty list: give at least one bound");
			return -1;
		}
		if (first) { /* unused slots zero: callers memcmp() the array */
			d->n_buckets = 0;
			memset(d->buckets, 0, sizeof(d->buckets));
		}
		return for_each_item(v, add_bucket, d, err, errlen);
	case DK_SHARD: {
		unsigned si, sn;
		int used = 0;
		if (sscanf(v, "%u/%u%n", &si, &sn, &used) != 2 || (size_t)used != strlen(v) ||
		    !is_digit(v[0]) || sn < 1 || sn > 1000 || si >= sn) {
			seterr(err, errlen, "'%s' is not I/N with 0 <= I < N <= 1000", v);
			return -1;
		}
		d->shard_i = si;
		d->shard_n = sn;
		return 0;
	}
	case DK_STATUS_PAGE:
		return parse_bool(v, &d->status_page, err, errlen);
	case DK_STATUS_BUCKET: {
		uint64_t ns;
		if (config_parse_duration(v, &ns, err, errlen) < 0)
			return -1;
		if (ns < 1000000000ULL || ns > 3600000000000ULL) {
			seterr(err, errlen, "'%s' is out of range (1s..1h)", v);
			return -1;
		}
		d->status_bucket_ns = ns;
		return 0;
	}
	case DK_COUNT:
		break;
	}
	return -1;
}

/* ---- the parser ----------------------------------------------------------- */

enum section { SEC_NONE, SEC_DAEMON, SEC_DEFAULTS, SEC_TARGET, SEC_DISCOVERY, SEC_REMOTE_WRITE };

#define KEY_HOST ((int)N_PROBE_KEYS) /* target key index after the probe keys */
#define KEY_LABELS ((int)N_PROBE_KEYS + 1)
#define KEY_FILES ((int)N_PROBE_KEYS + 2)
#define KEY_REFRESH ((int)N_PROBE_KEYS + 3)
#define KEY_URL ((int)N_PROBE_KEYS + 4)
#define KEY_BEARER ((int)N_PROBE_KEYS + 5)
#define KEY_BASIC_USER ((int)N_PROBE_KEYS + 6)
#define KEY_BASIC_PASS ((int)N_PROBE_KEYS + 7)
#define KEYS_MAX 32
_Static_assert(N_PROBE_KEYS + 8 <= KEYS_MAX && DK_COUNT <= KEYS_MAX, "KEYS_MAX");
_Static_assert(N_PROBE_KEYS <= 32, "target key masks are 32 bits");

struct parser {
	const char *path;
	FILE *f;
	char *line;          /* getline() buffer */
	size_t cap;
	int lineno;

	struct config *c;
	enum section sect;
	size_t cur;          /* target being read, in c->targets */
	int key_line[KEYS_MAX]; /* where each key was set in this section, 0 = not */
	int daemon_line, defaults_line; /* their header lines, 0 = not seen */
	bool buckets_seen;

	size_t tcap;         /* c->targets capacity */
	uint32_t *tmask;     /* per target: probe keys it set itself */
	uint32_t *names;     /* hash set: target index + 1, 0 = empty */
	size_t nnames;       /* slots, a power of 2 */

	int errline;         /* > 0: failed; err holds the message */
	char *err;
	size_t errlen;
};

static void perr(struct parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void perr(struct parser *p, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	if (p->errline)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->errline = line > 0 ? line : 1;
	seterr(p->err, p->errlen, "%s:%d: %s", p->path, line, msg);
}

uint64_t config_name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* Returns the slot for name: holding it, or the empty slot to put it in. */
static uint32_t *names_slot(struct parser *p, const char *name)
{
	size_t mask = p->nnames - 1;
	for (size_t i = config_name_hash(name) & mask;; i = (i + 1) & mask) {
		uint32_t *s = &p->names[i];
		if (!*s || !strcmp(p->c->targets[*s - 1].name, name))
			return s;
	}
}

static int names_grow(struct parser *p)
{
	size_t old = p->nnames;
	uint32_t *ov = p->names;
	size_t n = old ? old * 2 : 1024;
	p->names = calloc(n, sizeof(*p->names));
	if (!p->names) {
		p->names = ov;
		return -1;
	}
	p->nnames = n;
	for (size_t i = 0; i < old; i++)
		if (ov[i])
			*names_slot(p, p->c->targets[ov[i] - 1].name) = ov[i];
	free(ov);
	return 0;
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
		} else if (!(is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     ch == '-' || ch == '_')) {
			return false;
		}
	}
	return true;
}

/* Called when a section ends (a new header, or end of file). */
static void section_end(struct parser *p)
{
	if (p->sect == SEC_TARGET) {
		struct target_cfg *t = &p->c->targets[p->cur];
		if (!t->host[0])
			perr(p, t->line, "target '%s' has no host", t->name);
	}
	if (p->sect == SEC_REMOTE_WRITE && !p->c->rw[p->c->nrw - 1].url[0])
		perr(p, p->c->rw[p->c->nrw - 1].line, "[remote_write %s] needs url = http://...",
		     p->c->rw[p->c->nrw - 1].name);
	if (p->sect == SEC_REMOTE_WRITE) {
		struct remote_write_cfg *r = &p->c->rw[p->c->nrw - 1];
		if (!r->basic_auth_user[0] != !r->basic_auth_password_file[0])
			perr(p, r->line, "[remote_write %s]: basic_auth_user and "
				 "basic_auth_password_file go together", r->name);
	}
	if (p->sect == SEC_DISCOVERY) {
		struct discovery_cfg *dc = &p->c->disc[p->c->ndisc - 1];
		if (!dc->files == !dc->url[0])
			perr(p, dc->line, "[discovery %s] needs either files = GLOB ... or url = http://...",
			     dc->name);
		else if (!dc->basic_auth_user[0] != !dc->basic_auth_password_file[0])
			perr(p, dc->line, "[discovery %s]: basic_auth_user and basic_auth_password_file "
				 "go together", dc->name);
		else if (dc->files && (dc->bearer_token_file[0] || dc->basic_auth_user[0]))
			perr(p, dc->line, "[discovery %s]: authentication is for url", dc->name);
		if (!p->key_line[KEY_REFRESH] && dc->url[0])
			dc->refresh_ns = 60ull * 1000000000ull; /* http_sd's default, as Prometheus's */
	}
}

static int target_add(struct parser *p, const char *name, int line)
{
	struct config *c = p->c;
	if ((c->ntargets + 1) * 2 > p->nnames && names_grow(p) < 0)
		goto oom;
	uint32_t *slot = names_slot(p, name);
	if (*slot) {
		perr(p, line, "duplicate target '%s' (first at line %d)", name,
		     c->targets[*slot - 1].line);
		return -1;
	}
	if (c->ntargets >= UINT32_MAX - 1) {
		perr(p, line, "too many targets");
		return -1;
	}
	if (c->ntargets == p->tcap) {
		size_t n = p->tcap ? p->tcap * 2 : 64;
		struct target_cfg *t = realloc(c->targets, n * sizeof(*t));
		if (!t)
			goto oom;
		c->targets = t;
		uint32_t *m = realloc(p->tmask, n * sizeof(*m));
		if (!m)
			goto oom;
		p->tmask = m;
		p->tcap = n;
	}
	struct target_cfg *t = &c->targets[c->ntargets];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->line = line;
	p->tmask[c->ntargets] = 0;
	p->cur = c->ntargets++;
	*slot = (uint32_t)c->ntargets;
	return 0;
oom:
	perr(p, line, "out of memory");
	return -1;
}

/* s: a line starting with '['. Returns 0, or -1 after perr(). */
static int section_header(struct parser *p, const char *s)
{
	const char *e = strchr(s, ']');
	int line = p->lineno;
	if (!e) {
		perr(p, line, "section header without ']'");
		return -1;
	}
	const char *rest = e + 1;
	rest += strspn(rest, " \t");
	if (*rest && *rest != ';' && *rest != '#') {
		perr(p, line, "unexpected text after ']': '%s'", rest);
		return -1;
	}
	const char *b = s + 1;
	b += strspn(b, " \t");
	size_t n = (size_t)(e - b);
	while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
		n--;
	char sec[256];
	if (n >= sizeof(sec))
		n = sizeof(sec) - 1;
	memcpy(sec, b, n);
	sec[n] = '\0';

	section_end(p);
	if (p->errline)
		return -1;
	memset(p->key_line, 0, sizeof(p->key_line));

	if (!strcmp(sec, "daemon") || !strcmp(sec, "defaults")) {
		bool dm = sec[1] == 'a';
		int *seen = dm ? &p->daemon_line : &p->defaults_line;
		if (*seen) {
			perr(p, line, "duplicate section [%s] (first at line %d)", sec, *seen);
			return -1;
		}
		*seen = line;
		p->sect = dm ? SEC_DAEMON : SEC_DEFAULTS;
		return 0;
	}
	if (!strncmp(sec, "target", 6) && (sec[6] == '\0' || sec[6] == ' ' || sec[6] == '\t')) {
		const char *name = sec + 6;
		name += strspn(name, " \t");
		size_t nl = strlen(name);
		if (nl == 0) {
			perr(p, line, "[target] needs a name: [target NAME]");
			return -1;
		}
		if (!config_name_valid(name)) {
			perr(p, line, "bad target name '%s': use 1-%d characters of A-Z a-z 0-9 . _ - : [ ]"
			     ", not starting with -", name, CFG_NAME_MAX - 1);
			return -1;
		}
		if (target_add(p, name, line) < 0)
			return -1;
		p->sect = SEC_TARGET;
		return 0;
	}
	if (!strncmp(sec, "discovery", 9) && (sec[9] == '\0' || sec[9] == ' ' || sec[9] == '\t')) {
		const char *name = sec + 9;
		name += strspn(name, " \t");
		if (!*name || strlen(name) >= CFG_NAME_MAX ||
		    strspn(name, CFG_NAME_CHARS) != strlen(name)) {
			perr(p, line, "[discovery NAME] needs a name of 1-%d characters of "
				      "A-Z a-z 0-9 . _ -", CFG_NAME_MAX - 1);
			return -1;
		}
		for (size_t i = 0; i < p->c->ndisc; i++)
			if (!strcmp(p->c->disc[i].name, name)) {
				perr(p, line, "duplicate section [discovery %s] (first at line %d)",
				     name, p->c->disc[i].line);
				return -1;
			}
		struct discovery_cfg *a = realloc(p->c->disc, (p->c->ndisc + 1) * sizeof(*a));
		if (!a) {
			perr(p, line, "out of memory");
			return -1;
		}
		p->c->disc = a;
		a = &a[p->c->ndisc++];
		memset(a, 0, sizeof(*a));
		snprintf(a->name, sizeof(a->name), "%s", name);
		a->line = line;
		a->refresh_ns = 300ull * 1000000000ull;
		p->sect = SEC_DISCOVERY;
		return 0;
	}
	if (!strncmp(sec, "remote_write", 12) && (sec[12] == '\0' || sec[12] == ' ' || sec[12] == '\t')) {
		const char *name = sec + 12;
		name += strspn(name, " \t");
		if (!*name || strlen(name) >= CFG_NAME_MAX ||
		    strspn(name, CFG_NAME_CHARS) != strlen(name)) {
			perr(p, line, "[remote_write NAME] needs a name of 1-%d characters of "
				      "A-Z a-z 0-9 . _ -", CFG_NAME_MAX - 1);
			return -1;
		}
		for (size_t i = 0; i < p->c->nrw; i++)
			if (!strcmp(p->c->rw[i].name, name)) {
				perr(p, line, "duplicate section [remote_write %s] (first at line %d)",
				     name, p->c->rw[i].line);
				return -1;
			}
		struct remote_write_cfg *a = realloc(p->c->rw, (p->c->nrw + 1) * sizeof(*a));
		if (!a) {
			perr(p, line, "out of memory");
			return -1;
		}
		p->c->rw = a;
		a = &a[p->c->nrw++];
		memset(a, 0, sizeof(*a));
		snprintf(a->name, sizeof(a->name), "%s", name);
		a->line = line;
		a->interval_ns = 15ull * 1000000000ull;
		a->timeout_ns = 10ull * 1000000000ull;
		a->queue_max = 1000000;
		p->sect = SEC_REMOTE_WRITE;
		return 0;
	}
	perr(p, line, "unknown section [%s]", sec);
	return -1;
}

/* http://HOST[:PORT][/PATH], no https, no blanks or quotes. */
static bool http_url_ok(const char *v, size_t cap)
{
	return !strncmp(v, "http://", 7) && v[7] && v[7] != '/' && strlen(v) < cap &&
	       !strpbrk(v, " \t\"<>\\^`{|}");
}

/* A secret file (absolute path) or a basic-auth user name (no ':'). */
static int auth_key(struct parser *p, const char *name, const char *value, int line, char *dst,
		    size_t cap, bool user)
{
	if (!*value || strlen(value) >= cap || (!user && value[0] != '/') ||
	    (user && strchr(value, ':'))) {
		perr(p, line, "%s: '%s' is not %s", name, value,
		     user ? "a user name (no ':')" : "an absolute path");
		return 0;
	}
	snprintf(dst, cap, "%s", value);
	return 1;
}

/* [remote_write NAME] keys. */
static int remote_write_key(struct parser *p, const char *name, const char *value, int line)
{
	struct remote_write_cfg *r = &p->c->rw[p->c->nrw - 1];
	static const char *const keys[] = { "url", "interval", "timeout", "bearer_token_file",
					    "basic_auth_user", "basic_auth_password_file",
					    "external_labels", "queue_max" };
	char why[384];
	int k = -1;
	for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
		if (!strcmp(name, keys[i]))
			k = i;
	if (k < 0) {
		perr(p, line, "unknown key '%s' in [remote_write %s]", name, r->name);
		return 0;
	}
	if (p->key_line[k]) {
		perr(p, line, "%s: already set at line %d", name, p->key_line[k]);
		return 0;
	}
	p->key_line[k] = line;
	switch (k) {
	case 0:
		if (!http_url_ok(value, sizeof(r->url))) {
			perr(p, line, "url: '%s' is not http://HOST[:PORT][/PATH] (no https: put a "
				      "local proxy in front)", value);
			return 0;
		}
		snprintf(r->url, sizeof(r->url), "%s", value);
		return 1;
	case 1:
	case 2: {
		uint64_t ns = 0;
		if (config_parse_duration(value, &ns, why, sizeof(why)) < 0 || ns < 100000000ull ||
		    ns > 3600ull * 1000000000ull) {
			perr(p, line, "%s: %s", name, ns ? "100ms to 1h" : why);
			return 0;
		}
		*(k == 1 ? &r->interval_ns : &r->timeout_ns) = ns;
		return 1;
	}
	case 3:
		return auth_key(p, name, value, line, r->bearer_token_file, CFG_PATH_MAX, false);
	case 4:
		return auth_key(p, name, value, line, r->basic_auth_user, sizeof(r->basic_auth_user),
				true);
	case 5:
		return auth_key(p, name, value, line, r->basic_auth_password_file, CFG_PATH_MAX,
				false);
	case 6: {
		struct labels_build lb;
		labels_build_init(&lb);
		int rc = labels_build_parse(&lb, value, why, sizeof(why));
		if (rc == 0 && labels_build_finish(&lb, &r->external_labels) < 0) {
			snprintf(why, sizeof(why), "out of memory");
			rc = -1;
		}
		labels_build_free(&lb);
		if (rc < 0) {
			perr(p, line, "external_labels: %s", why);
			return 0;
		}
		return 1;
	}
	case 7: {
		unsigned long long v;
		if (parse_uint(value, 1, 100000000, &v, why, sizeof(why)) < 0) {
			perr(p, line, "queue_max: %s", why);
			return 0;
		}
		r->queue_max = v;
		return 1;
	}
	}
	return 0;
}

/* [discovery NAME] keys: files, refresh and any probe key. */
static int discovery_key(struct parser *p, const char *name, const char *value, int line)
{
	struct discovery_cfg *dc = &p->c->disc[p->c->ndisc - 1];
	char why[384];
	static const struct { const char *name; int key; } own[] = {
		{ "files", KEY_FILES },
		{ "refresh", KEY_REFRESH },
		{ "url", KEY_URL },
		{ "bearer_token_file", KEY_BEARER },
		{ "basic_auth_user", KEY_BASIC_USER },
		{ "basic_auth_password_file", KEY_BASIC_PASS },
	};
	int k = -2;
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (!strcmp(name, own[i].name))
			k = own[i].key;
	if (k == -2)
		k = probe_key_find(name);
	if (k < 0) {
		perr(p, line, "unknown key '%s' in [discovery %s]", name, dc->name);
		return 0;
	}
	if (p->key_line[k]) {
		perr(p, line, "%s: already set at line %d", name, p->key_line[k]);
		return 0;
	}
	p->key_line[k] = line;
	if (k == KEY_FILES) {
		if (!*value || !(dc->files = strdup(value))) {
			perr(p, line, *value ? "out of memory" : "files: give at least one glob");
			return 0;
		}
		return 1;
	}
	if (k == KEY_URL) {
		if (!http_url_ok(value, sizeof(dc->url))) {
			perr(p, line, "url: '%s' is not http://HOST[:PORT][/PATH] (no https: put a "
				      "local proxy in front)", value);
			return 0;
		}
		snprintf(dc->url, sizeof(dc->url), "%s", value);
		return 1;
	}
	if (k == KEY_BEARER || k == KEY_BASIC_USER || k == KEY_BASIC_PASS) {
		char *dst = k == KEY_BEARER ? dc->bearer_token_file
			  : k == KEY_BASIC_USER ? dc->basic_auth_user : dc->basic_auth_password_file;
		size_t cap = k == KEY_BASIC_USER ? sizeof(dc->basic_auth_user) : CFG_PATH_MAX;
		return auth_key(p, name, value, line, dst, cap, k == KEY_BASIC_USER);
	}
	if (k == KEY_REFRESH) {
		uint64_t ns;
		if (config_parse_duration(value, &ns, why, sizeof(why)) < 0 || ns < 1000000000ull) {
			perr(p, line, "refresh: %s", ns < 1000000000ull ? "at least 1s" : why);
			return 0;
		}
		dc->refresh_ns = ns;
		return 1;
	}
	if (probe_key_set(&dc->defaults, &probe_keys[k], value, why, sizeof(why)) < 0) {
		perr(p, line, "%s: %s", name, why);
		return 0;
	}
	dc->probe_mask |= 1u << k;
	return 1;
}

/* rendezvous (highest random weight) hashing: each shard scores the name;
 * the highest score wins, so going from N to N+1 shards moves only the
 * names the new shard now wins, about 1/(N+1) of them. */
bool config_shard_mine(const struct daemon_cfg *d, const char *name)
{
	if (d->shard_n <= 1)
		return true;
	uint64_t h = config_name_hash(name), best = 0;
	unsigned win = 0;
	for (unsigned j = 0; j < d->shard_n; j++) {
		uint64_t x = h ^ (0x9e3779b97f4a7c15ull * (j + 1)); /* splitmix64 finaliser */
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		x ^= x >> 31;
		if (j == 0 || x > best) {
			best = x;
			win = j;
		}
	}
	return win == d->shard_i;
}

/* What inih accepts as a key line: '=' or ':' before any inline comment
 * (';' after a blank). Checked here so that inih never fails on its own
 * and every error has a message of ours. */
static bool key_line_ok(const char *s)
{
	for (const char *q = s; *q; q++) {
		if (*q == '=' || *q == ':')
			return q > s;
		if (*q == ';' && q > s && (q[-1] == ' ' || q[-1] == '\t'))
			return false;
	}
	return false;
}

static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	if (p->errline)
		return NULL;
	errno = 0;
	ssize_t n = getline(&p->line, &p->cap, p->f);
	if (n < 0) {
		if (ferror(p->f) && !p->errline) {
			p->errline = p->lineno > 0 ? p->lineno : 1;
			seterr(p->err, p->errlen, "%s: %s", p->path, strerror(errno ? errno : EIO));
		}
		return NULL;
	}
	p->lineno++;
	char *s = p->line;
	if (memchr(s, '\0', (size_t)n)) {
		perr(p, p->lineno, "line contains a NUL byte");
		return NULL;
	}
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	if (p->lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
		s += 3;
	s += strspn(s, " \t");
	size_t len = strlen(s);
	/* inih needs room for the line, '\r', '\n' and '\0' (ini.h). */
	if (num < 4 || len > (size_t)num - 3) {
		perr(p, p->lineno, "line is too long (%zu characters; at most %d)", len, num - 3);
		return NULL;
	}
	if (*s == '[') {
		if (section_header(p, s) < 0)
			return NULL;
	} else if (*s && *s != ';' && *s != '#' && !key_line_ok(s)) {
		if (*s == '=' || *s == ':')
			perr(p, p->lineno, "missing key before '%c'", *s);
		else
			perr(p, p->lineno, "expected 'key = value', '[section]' or a comment");
		return NULL;
	}
	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	struct config *c = p->c;
	char why[384];
	int line = p->lineno, k;
	(void)section; /* truncated by inih: we keep our own */

	if (p->errline)
		return 0;
	switch (p->sect) {
	case SEC_NONE:
		perr(p, line, "key '%s' outside a section (start with [daemon], [defaults] or "
			      "[target NAME])", name);
		return 0;
	case SEC_DISCOVERY:
		return discovery_key(p, name, value, line);
	case SEC_REMOTE_WRITE:
		return remote_write_key(p, name, value, line);
	case SEC_DAEMON:
		k = daemon_key_find(name);
		if (k < 0) {
			perr(p, line, "unknown key '%s' in [daemon]", name);
			return 0;
		}
		if (p->key_line[k] && !daemon_key_appends(k)) {
			perr(p, line, "%s: already set at line %d", name, p->key_line[k]);
			return 0;
		}
		p->key_line[k] = line;
		if (daemon_key_set(&c->d, k, value, k == DK_BUCKETS && !p->buckets_seen, why,
				   sizeof(why)) < 0) {
			perr(p, line, "%s: %s", name, why);
			return 0;
		}
		if (k == DK_BUCKETS)
			p->buckets_seen = true;
		return 1;
	case SEC_DEFAULTS:
	case SEC_TARGET: {
		bool tgt = p->sect == SEC_TARGET;
		struct target_cfg *t = tgt ? &c->targets[p->cur] : NULL;
		const char *where = tgt ? "target " : "defaults";
		const char *wname = tgt ? t->name : "";
		if (!strcmp(name, "host")) {
			if (!tgt) {
				perr(p, line, "unknown key 'host' in [defaults] (host belongs in "
					      "[target NAME])");
				return 0;
			}
			k = KEY_HOST;
		} else if (!strcmp(name, "labels") && tgt) {
			k = KEY_LABELS;
		} else {
			k = probe_key_find(name);
			if (k < 0) {
				perr(p, line, "unknown key '%s' in [%s%s]", name, where, wname);
				return 0;
			}
		}
		if (p->key_line[k]) {
			perr(p, line, "%s: already set at line %d", name, p->key_line[k]);
			return 0;
		}
		p->key_line[k] = line;
		if (k == KEY_LABELS) {
			struct labels_build lb;
			labels_build_init(&lb);
			if (labels_build_parse(&lb, value, why, sizeof(why)) < 0) {
				labels_build_free(&lb);
				perr(p, line, "labels: %s", why);
				return 0;
			}
			int r = labels_build_finish(&lb, &t->labels);
			labels_build_free(&lb);
			if (r < 0) {
				perr(p, line, "out of memory");
				return 0;
			}
			return 1;
		}
		if (k == KEY_HOST) {
			struct pkt_addr a;
			int lit = config_parse_address(value, &a, NULL, 0, why, sizeof(why));
			if (lit < 0) {
				perr(p, line, "host: %s", why);
				return 0;
			}
			if (!lit && !config_host_valid(value)) {
				perr(p, line, "host: '%s' is not a hostname or address", value);
				return 0;
			}
			snprintf(t->host, sizeof(t->host), "%s", value);
			return 1;
		}
		if (probe_key_set(tgt ? &t->opts : &c->defaults, &probe_keys[k], value, why,
				  sizeof(why)) < 0) {
			perr(p, line, "%s: %s", name, why);
			return 0;
		}
		if (tgt)
			p->tmask[p->cur] |= 1u << k;
		return 1;
	}
	}
	return 0;
}

/* Builds into a local config and hands it over only on success: on error
 * *out holds the defaults and owns nothing, so a caller may load a reload
 * into a fresh struct and swap, and never needs config_free() on failure. */
int config_load(const char *path, struct config *out, char *err, size_t errlen)
{
	struct config c;
	struct parser p;
	int rc = -1;

	config_defaults(&c);
	memset(&p, 0, sizeof(p));
	p.path = path;
	p.c = &c;
	p.err = err;
	p.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';

	p.f = fopen(path, "r");
	if (!p.f) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	int r = ini_parse_stream(reader, &p, handler, &p);
	if (!p.errline) {
		if (r == -2)
			seterr(err, errlen, "%s: out of memory", path);
		else if (r != 0)
			seterr(err, errlen, "%s:%d: syntax error", path, r);
		if (r != 0)
			goto out;
		section_end(&p);
	}
	if (p.errline)
		goto out;

	/* [defaults] for whatever each target left unset. */
	for (size_t i = 0; i < c.ntargets; i++) {
		struct target_cfg *t = &c.targets[i];
		for (size_t k = 0; k < N_PROBE_KEYS; k++)
			if (!(p.tmask[i] & (1u << k)))
				memcpy((char *)&t->opts + probe_keys[k].off,
				       (const char *)&c.defaults + probe_keys[k].off,
				       probe_keys[k].size);
	}
	for (size_t i = 0; i < c.ndisc; i++) {
		struct discovery_cfg *dc = &c.disc[i];
		for (size_t k = 0; k < N_PROBE_KEYS; k++)
			if (!(dc->probe_mask & (1u << k)))
				memcpy((char *)&dc->defaults + probe_keys[k].off,
				       (const char *)&c.defaults + probe_keys[k].off, probe_keys[k].size);
	}
	c.path = strdup(path);
	if (!c.path) {
		seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	rc = 0;
out:
	if (p.f)
		fclose(p.f);
	free(p.line);
	free(p.tmask);
	free(p.names);
	if (rc < 0) {
		config_free(&c);
		config_defaults(out);
	} else {
		*out = c;
	}
	return rc;
}

/* ---- printing ------------------------------------------------------------ */

static void print_str(FILE *f, const char *key, const char *v)
{
	if (*v)
		fprintf(f, "%s = %s\n", key, v);
	else
		fprintf(f, "%s =\n", key);
}

static void print_cidrs(FILE *f, const char *key, const struct cidr *v, unsigned n)
{
	if (n == 0)
		fprintf(f, "%s =\n", key);
	/* One line each: a list of 32 IPv6 prefixes would not fit in a line. */
	for (unsigned i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(v[i].addr.family, v[i].addr.a, a, sizeof(a));
		fprintf(f, "%s = %s/%u\n", key, a, v[i].prefix);
	}
}

static void print_probe_opts(FILE *f, const struct probe_opts *o)
{
	for (size_t k = 0; k < N_PROBE_KEYS; k++)
		probe_key_print(o, &probe_keys[k], f);
}

static void print_labels(FILE *f, const char *key, const char *set)
{
	const char *q = set, *k, *v;
	if (!set)
		return;
	fprintf(f, "%s = ", key);
	for (bool first = true; (q = labels_next(q, &k, &v)); first = false)
		fprintf(f, "%s%s=%s", first ? "" : ", ", k, v);
	fputc('\n', f);
}

void config_print(const struct config *c, FILE *f)
{
	const struct daemon_cfg *d = &c->d;
	char buf[32];

	fprintf(f, "[daemon]\n");
	print_str(f, "control_socket", d->control_socket);
	fprintf(f, "control_mode = %04o\n", (unsigned)d->control_mode);
	print_str(f, "control_group", d->control_group);
	print_str(f, "admin_group", d->admin_group);
	print_str(f, "metrics_listen", d->metrics_listen[0] ? d->metrics_listen : "off");
	fprintf(f, "source_ports = %u-%u\n", d->sport_lo, d->sport_hi);
	print_str(f, "user", d->user);
	fprintf(f, "max_inflight = %u\n", d->max_inflight);
	fprintf(f, "pps = %u\n", d->pps);
	fprintf(f, "rst_guard = %s\n", rst_guard_names[d->rst_guard]);
	fprintf(f, "log_level = %s\n", d->log_level >= 0 && d->log_level < 8 &&
					       level_names[d->log_level]
				       ? level_names[d->log_level] : "?");
	fprintf(f, "history = %u\n", d->history);
	fprintf(f, "resolve_interval = %s\n",
		config_duration_str(d->resolve_interval_ns, buf, sizeof(buf)));
	fprintf(f, "allow_loopback = %s\n", d->allow_loopback ? "yes" : "no");
	fprintf(f, "allow_link_local = %s\n", d->allow_link_local ? "yes" : "no");
	print_cidrs(f, "allow", d->allow, d->n_allow);
	print_cidrs(f, "deny", d->deny, d->n_deny);
	/* Wrapped so that every line stays well inside inih's 197 characters. */
	size_t col = 0;
	for (unsigned i = 0; i < d->n_buckets; i++) {
		config_duration_str((uint64_t)llround(d->buckets[i] * 1e9), buf, sizeof(buf));
		if (col == 0 || col + strlen(buf) + 2 > 160)
			col = (size_t)fprintf(f, "%sbuckets = %s", col ? "\n" : "", buf);
		else
			col += (size_t)fprintf(f, ", %s", buf);
	}
	if (d->shard_n > 1)
		fprintf(f, "\nshard = %u/%u", d->shard_i, d->shard_n);
	/* Like shard, printed only when set: the default needs no line. */
	if (!d->status_page)
		fprintf(f, "\nstatus_page = no");
	if (d->status_bucket_ns != DEF_STATUS_BUCKET_NS)
		fprintf(f, "\nstatus_bucket = %s",
			config_duration_str(d->status_bucket_ns, buf, sizeof(buf)));
	fprintf(f, "\n\n[defaults]\n");
	print_probe_opts(f, &c->defaults);
	for (size_t i = 0; i < c->ndisc; i++) {
		const struct discovery_cfg *dc = &c->disc[i];
		fprintf(f, "\n[discovery %s]\n", dc->name);
		if (dc->files)
			fprintf(f, "files = %s\n", dc->files);
		else
			fprintf(f, "url = %s\n", dc->url);
		if (dc->bearer_token_file[0])
			fprintf(f, "bearer_token_file = %s\n", dc->bearer_token_file);
		if (dc->basic_auth_user[0])
			fprintf(f, "basic_auth_user = %s\nbasic_auth_password_file = %s\n",
				dc->basic_auth_user, dc->basic_auth_password_file);
		fprintf(f, "refresh = %s\n", config_duration_str(dc->refresh_ns, buf, sizeof(buf)));
		print_probe_opts(f, &dc->defaults);
	}
	for (size_t i = 0; i < c->nrw; i++) {
		const struct remote_write_cfg *r = &c->rw[i];
		fprintf(f, "\n[remote_write %s]\nurl = %s\n", r->name, r->url);
		fprintf(f, "interval = %s\n", config_duration_str(r->interval_ns, buf, sizeof(buf)));
		fprintf(f, "timeout = %s\n", config_duration_str(r->timeout_ns, buf, sizeof(buf)));
		if (r->bearer_token_file[0])
			fprintf(f, "bearer_token_file = %s\n", r->bearer_token_file);
		if (r->basic_auth_user[0])
			fprintf(f, "basic_auth_user = %s\nbasic_auth_password_file = %s\n",
				r->basic_auth_user, r->basic_auth_password_file);
		print_labels(f, "external_labels", r->external_labels);
		fprintf(f, "queue_max = %" PRIu64 "\n", r->queue_max);
	}
	for (size_t i = 0; i < c->ntargets; i++) {
		const struct target_cfg *t = &c->targets[i];
		fprintf(f, "\n[target %s]\nhost = %s\n", t->name, t->host);
		print_labels(f, "labels", t->labels);
		print_probe_opts(f, &t->opts);
	}
}
