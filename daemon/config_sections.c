/* config_sections.c: the key tables of the sections other than the probe
 * keys': [daemon], [discovery NAME] and [remote_write NAME]. Each key is
 * one row: its name, the field of the section's struct it sets, its parser,
 * its printer, its range, its default as written in a file, and whether a
 * reload applies it or it takes effect only at a restart. The parser
 * (config.c), config_defaults(), config_print(), the reload's restart-only
 * checks (daemon.c) and the key lists of tcpprobe.conf(5) (checked by
 * test_config) come from here; config_keys.h has the probe keys' table.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_priv.h"
#include "labels.h"
#include "log.h"

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

 */
#define DEF_METRICS_LISTEN "127.0.0.1:9110"
/* Status-page history: 288 buckets of 5 minutes hold a day (series.h). */
#define DEF_STATUS_BUCKET "5m"
#define DEF_SOURCE_PORTS "20000-29999"
#define DEF_BUCKETS "50us, 100us, 250us, 500us, 1ms, 2.5ms, 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, " \
		    "500ms, 1s, 2.5s, 5s"

static const char *const rst_guard_names[] = {
	[RST_GUARD_NFT] = "nft", [RST_GUARD_NONE] = "none", [RST_GUARD_EXTERNAL] = "external",
};

int config_rst_guard_from_str(const char *s)
{
	for (int i = 0; i < (int)(sizeof(rst_guard_names) / sizeof(rst_guard_names[0])); i++)
		if (!strcmp(s, rst_guard_names[i]))
			return i;
	return -1;
}

/* ---- [daemon] ---------------------------------------------------------- */

struct sect_key;
typedef int (*dk_set_fn)(void *d, const struct sect_key *k, const char *v,
			 bool first, char *err, size_t errlen);
typedef void (*dk_print_fn)(FILE *f, const void *d, const struct sect_key *k);

/* One key of a section ([daemon], [discovery NAME], [remote_write NAME]):
 * field(s) off..off+size of the section's struct (and n_off,
 * the count of a list); min/max for numbers (ns for durations); words for
 * a closed set; def as a file would write it (NULL: empty); restart: a
 * reload keeps the running value (it was used once, at start); quiet:
 * printed only when it is not the default. */
struct sect_key {
	const char *name;
	dk_set_fn set;
	dk_print_fn print;
	size_t off, size, n_off;
	unsigned long long min, max;
	const char *const *words;
	size_t nwords;
	const char *def;
	bool restart, appends, quiet;
};

#define FIELD(d, k) ((char *)(d) + (k)->off)
#define CFIELD(d, k) ((const char *)(d) + (k)->off)

static int set_path(void *d, const struct sect_key *k, const char *v, bool first,
		    char *err, size_t errlen)
{
	if (v[0] != '/') {
		config_seterr(err, errlen, "'%s' is not an absolute path", v);
		return -1;
	}
	if (strlen(v) >= k->size) {
		config_seterr(err, errlen, "'%s' is longer than %zu bytes (sun_path)", v, k->size - 1);
		return -1;
	}
	memcpy(FIELD(d, k), v, strlen(v) + 1);
	return 0;
}

static int set_mode(void *d, const struct sect_key *k, const char *v, bool first,
		    char *err, size_t errlen)
{
	size_t n = strlen(v);
	unsigned long long u = 0;
	if (n == 0 || n > 4 || strspn(v, "01234567") != n || (u = strtoull(v, NULL, 8)) > 0777) {
		config_seterr(err, errlen, "'%s' is not an octal mode 0000..0777 (e.g. 0660)", v);
		return -1;
	}
	*(mode_t *)FIELD(d, k) = (mode_t)u;
	return 0;
}

static int set_name(void *d, const struct sect_key *k, const char *v, bool first,
		    char *err, size_t errlen)
{
	return config_parse_name(v, FIELD(d, k), k->size, err, errlen);
}

static int set_listen(void *d, const struct sect_key *k, const char *v, bool first,
		      char *err, size_t errlen)
{
	return config_parse_listen(v, FIELD(d, k), k->size, err, errlen);
}

static int set_ports(void *dv, const struct sect_key *k, const char *v, bool first,
		     char *err, size_t errlen)
{
	struct daemon_cfg *d = dv;
	return config_parse_port_range(v, &d->sport_lo, &d->sport_hi, err, errlen);
}

static int set_uint(void *d, const struct sect_key *k, const char *v, bool first,
		    char *err, size_t errlen)
{
	unsigned long long u;
	if (config_parse_uint(v, k->min, k->max, &u, err, errlen) < 0)
		return -1;
	config_store_uint(FIELD(d, k), k->size, u);
	return 0;
}

static int set_word(void *d, const struct sect_key *k, const char *v, bool first,
		    char *err, size_t errlen)
{
	int w;
	if (config_parse_word(v, k->words, k->nwords, &w, err, errlen) < 0)
		return -1;
	*(int *)FIELD(d, k) = w;
	return 0;
}

/* The names are log.c's. */
static int set_level(void *dv, const struct sect_key *k, const char *v, bool first,
		     char *err, size_t errlen)
{
	struct daemon_cfg *d = dv;
	int l = log_level_from_str(v);
	if (l < 0) {
		config_seterr(err, errlen, "'%s' is not one of " LOG_LEVEL_NAMES, v);
		return -1;
	}
	d->log_level = l;
	return 0;
}

static int set_duration(void *d, const struct sect_key *k, const char *v,
			bool first, char *err, size_t errlen)
{
	uint64_t ns;
	char a[32], b[32];
	if (config_parse_duration(v, &ns, err, errlen) < 0)
		return -1;
	if (ns < k->min || (k->max && ns > k->max)) {
		if (k->max)
			config_seterr(err, errlen, "'%s' is out of range (%s..%s)", v,
				      config_duration_str(k->min, a, sizeof(a)),
				      config_duration_str(k->max, b, sizeof(b)));
		else
			config_seterr(err, errlen, "'%s' is out of range (at least %s)", v,
				      config_duration_str(k->min, a, sizeof(a)));
		return -1;
	}
	*(uint64_t *)FIELD(d, k) = ns;
	return 0;
}

static int set_bool(void *d, const struct sect_key *k, const char *v, bool first,
		    char *err, size_t errlen)
{
	return config_parse_bool(v, (bool *)FIELD(d, k), err, errlen);
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
		config_seterr(err, errlen, "more than %d prefixes", CFG_CIDR_MAX);
		return -1;
	}
	l->v[(*l->n)++] = c;
	return 0;
}

static int set_cidrs(void *d, const struct sect_key *k, const char *v, bool first,
		     char *err, size_t errlen)
{
	struct cidr_list l = { (struct cidr *)FIELD(d, k), (unsigned *)((char *)d + k->n_off) };
	if (!*v) /* "allow =" (as config_print writes an empty list) */
		return 0;
	return config_for_each_item(v, add_cidr, &l, err, errlen);
}

static int add_bucket(void *arg, const char *item, char *err, size_t errlen)
{
	struct daemon_cfg *d = arg;
	uint64_t ns;
	char a[32];
	if (config_parse_duration(item, &ns, err, errlen) < 0)
		return -1;
	if (ns == 0) {
		config_seterr(err, errlen, "'%s': a bound must be above 0", item);
		return -1;
	}
	if (ns > NS_H) {
		config_seterr(err, errlen, "'%s' is out of range (1ns..1h)", item);
		return -1;
	}
	if (d->n_buckets && (double)ns / 1e9 <= d->buckets[d->n_buckets - 1]) {
		config_seterr(err, errlen, "'%s' does not increase: it follows %s", item,
			      config_duration_str((uint64_t)llround(d->buckets[d->n_buckets - 1] * 1e9),
						  a, sizeof(a)));
		return -1;
	}
	if (d->n_buckets >= CFG_BUCKETS_MAX) {
		config_seterr(err, errlen, "more than %d buckets", CFG_BUCKETS_MAX);
		return -1;
	}
	d->buckets[d->n_buckets++] = (double)ns / 1e9;
	return 0;
}

static int set_buckets(void *dv, const struct sect_key *k, const char *v,
		       bool first, char *err, size_t errlen)
{
	struct daemon_cfg *d = dv;
	if (!*v) {
		config_seterr(err, errlen, "empty list: give at least one bound");
		return -1;
	}
	if (first) { /* unused slots zero: callers memcmp() the array */
		d->n_buckets = 0;
		memset(d->buckets, 0, sizeof(d->buckets));
	}
	return config_for_each_item(v, add_bucket, d, err, errlen);
}

static int set_shard(void *dv, const struct sect_key *k, const char *v, bool first,
		     char *err, size_t errlen)
{
	struct daemon_cfg *d = dv;
	unsigned si, sn;
	int used = 0;
	if (sscanf(v, "%u/%u%n", &si, &sn, &used) != 2 || (size_t)used != strlen(v) ||
	    !config_is_digit(v[0]) || sn < 1 || sn > 1000 || si >= sn) {
		config_seterr(err, errlen, "'%s' is not I/N with 0 <= I < N <= 1000", v);
		return -1;
	}
	d->shard_i = si;
	d->shard_n = sn;
	return 0;
}

static void print_str(FILE *f, const void *d, const struct sect_key *k)
{
	const char *v = CFIELD(d, k);
	if (*v)
		fprintf(f, "%s = %s\n", k->name, v);
	else
		fprintf(f, "%s =\n", k->name);
}

static void print_listen(FILE *f, const void *d, const struct sect_key *k)
{
	const char *v = CFIELD(d, k);
	fprintf(f, "%s = %s\n", k->name, *v ? v : "off");
}

static void print_mode(FILE *f, const void *d, const struct sect_key *k)
{
	fprintf(f, "%s = %04o\n", k->name, (unsigned)*(const mode_t *)CFIELD(d, k));
}

static void print_ports(FILE *f, const void *dv, const struct sect_key *k)
{
	const struct daemon_cfg *d = dv;
	fprintf(f, "%s = %u-%u\n", k->name, d->sport_lo, d->sport_hi);
}

static void print_uint(FILE *f, const void *d, const struct sect_key *k)
{
	fprintf(f, "%s = %llu\n", k->name, config_load_uint(CFIELD(d, k), k->size));
}

static void print_word(FILE *f, const void *d, const struct sect_key *k)
{
	int w = *(const int *)CFIELD(d, k);
	fprintf(f, "%s = %s\n", k->name,
		w >= 0 && (size_t)w < k->nwords && k->words[w] ? k->words[w] : "?");
}

static void print_level(FILE *f, const void *dv, const struct sect_key *k)
{
	const struct daemon_cfg *d = dv;
	const char *n = log_level_name(d->log_level);
	fprintf(f, "%s = %s\n", k->name, n ? n : "?");
}

static void print_duration(FILE *f, const void *d, const struct sect_key *k)
{
	char buf[32];
	fprintf(f, "%s = %s\n", k->name,
		config_duration_str(*(const uint64_t *)CFIELD(d, k), buf, sizeof(buf)));
}

static void print_bool(FILE *f, const void *d, const struct sect_key *k)
{
	fprintf(f, "%s = %s\n", k->name, *(const bool *)CFIELD(d, k) ? "yes" : "no");
}

static void print_cidrs(FILE *f, const void *d, const struct sect_key *k)
{
	const struct cidr *v = (const struct cidr *)CFIELD(d, k);
	unsigned n = *(const unsigned *)((const char *)d + k->n_off);
	if (n == 0)
		fprintf(f, "%s =\n", k->name);
	/* One line each: a list of 32 IPv6 prefixes would not fit in a line. */
	for (unsigned i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(v[i].addr.family, v[i].addr.a, a, sizeof(a));
		fprintf(f, "%s = %s/%u\n", k->name, a, v[i].prefix);
	}
}

static void print_buckets(FILE *f, const void *dv, const struct sect_key *k)
{
	const struct daemon_cfg *d = dv;
	char buf[32];
	/* Wrapped so that every line stays well inside inih's 197 characters. */
	size_t col = 0;
	for (unsigned i = 0; i < d->n_buckets; i++) {
		config_duration_str((uint64_t)llround(d->buckets[i] * 1e9), buf, sizeof(buf));
		if (col == 0 || col + strlen(buf) + 2 > 160)
			col = (size_t)fprintf(f, "%s%s = %s", col ? "\n" : "", k->name, buf);
		else
			col += (size_t)fprintf(f, ", %s", buf);
	}
	if (col)
		fputc('\n', f);
}

static void print_shard(FILE *f, const void *dv, const struct sect_key *k)
{
	const struct daemon_cfg *d = dv;
	if (d->shard_n > 1)
		fprintf(f, "%s = %u/%u\n", k->name, d->shard_i, d->shard_n);
}

#define DF(f) offsetof(struct daemon_cfg, f), sizeof(((struct daemon_cfg *)0)->f), 0
#define WORDS(a) a, sizeof(a) / sizeof(a[0])
#define NOWORDS NULL, 0
/* The [daemon] keys, in print order. */
static const struct sect_key daemon_keys[] = {
	{ "control_socket", set_path, print_str, DF(control_socket), 0, 0, NOWORDS,
	  "/run/tcpprobe/control.sock", true, false, false },
	{ "control_mode", set_mode, print_mode, DF(control_mode), 0, 0, NOWORDS, "0660", true,
	  false, false },
	{ "control_group", set_name, print_str, DF(control_group), 0, 0, NOWORDS, NULL, true,
	  false, false },
	{ "admin_group", set_name, print_str, DF(admin_group), 0, 0, NOWORDS, NULL, true, false, false },
	{ "metrics_listen", set_listen, print_listen, DF(metrics_listen), 0, 0, NOWORDS,
	  DEF_METRICS_LISTEN, true, false, false },
	{ "source_ports", set_ports, print_ports, offsetof(struct daemon_cfg, sport_lo),
	  offsetof(struct daemon_cfg, sport_hi) + sizeof(uint16_t) -
		  offsetof(struct daemon_cfg, sport_lo), 0,
	  0, 0, NOWORDS, DEF_SOURCE_PORTS, true, false, false },
	{ "user", set_name, print_str, DF(user), 0, 0, NOWORDS, NULL, true, false, false },
	{ "max_inflight", set_uint, print_uint, DF(max_inflight), 1, 1000000, NOWORDS, "10000",
	  true, false, false },
	{ "pps", set_uint, print_uint, DF(pps), 1, 10000000, NOWORDS, "10000", true, false, false },
	{ "rst_guard", set_word, print_word, DF(rst_guard), 0, 0, WORDS(rst_guard_names), "nft",
	  true, false, false },
	{ "log_level", set_level, print_level, DF(log_level), 0, 0, NOWORDS, "info",
	  false, false, false },
	{ "history", set_uint, print_uint, DF(history), 1, 1000, NOWORDS, "20", false, false, false },
	{ "resolve_interval", set_duration, print_duration, DF(resolve_interval_ns), NS_S,
	  24 * NS_H, NOWORDS, "5m", false, false, false },
	{ "allow_loopback", set_bool, print_bool, DF(allow_loopback), 0, 0, NOWORDS, "no", false,
	  false, false },
	{ "allow_link_local", set_bool, print_bool, DF(allow_link_local), 0, 0, NOWORDS, "no",
	  false, false, false },
	{ "allow", set_cidrs, print_cidrs, offsetof(struct daemon_cfg, allow),
	  sizeof(((struct daemon_cfg *)0)->allow), offsetof(struct daemon_cfg, n_allow), 0, 0,
	  NOWORDS, NULL, false, true, false },
	{ "deny", set_cidrs, print_cidrs, offsetof(struct daemon_cfg, deny),
	  sizeof(((struct daemon_cfg *)0)->deny), offsetof(struct daemon_cfg, n_deny), 0, 0,
	  NOWORDS, NULL, false, true, false },
	{ "buckets", set_buckets, print_buckets, DF(buckets), 0, 0, NOWORDS, DEF_BUCKETS, false,
	  true, false },
	{ "shard", set_shard, print_shard, DF(shard_i), 0, 0, NOWORDS, NULL, false, false, false },
	{ "status_page", set_bool, print_bool, DF(status_page), 0, 0, NOWORDS, "yes", false, false,
	  true },
	{ "status_bucket", set_duration, print_duration, DF(status_bucket_ns), NS_S, NS_H, NOWORDS,
	  DEF_STATUS_BUCKET, false, false, true },
};
#undef DF
#undef WORDS
#undef NOWORDS
#define N_DAEMON_KEYS (sizeof(daemon_keys) / sizeof(daemon_keys[0]))
_Static_assert(N_DAEMON_KEYS <= CONFIG_DAEMON_KEYS_MAX, "CONFIG_DAEMON_KEYS_MAX");

/* ---- [discovery NAME] and [remote_write NAME] --------------------------- */

/* http://HOST[:PORT][/PATH], no https, no blanks or quotes. */
static int set_url(void *d, const struct sect_key *k, const char *v, bool first, char *err,
		   size_t errlen)
{
	if (strncmp(v, "http://", 7) || !v[7] || v[7] == '/' || strlen(v) >= k->size ||
	    strpbrk(v, " \t\"<>\\^`{|}")) {
		config_seterr(err, errlen, "'%s' is not http://HOST[:PORT][/PATH] (no https: put a "
					   "local proxy in front)", v);
		return -1;
	}
	memcpy(FIELD(d, k), v, strlen(v) + 1);
	return 0;
}

/* A secret's file: an absolute path, read at every request. */
static int set_secret_file(void *d, const struct sect_key *k, const char *v, bool first,
			   char *err, size_t errlen)
{
	if (v[0] != '/' || strlen(v) >= k->size) {
		config_seterr(err, errlen, "'%s' is not an absolute path", v);
		return -1;
	}
	memcpy(FIELD(d, k), v, strlen(v) + 1);
	return 0;
}

/* A basic-auth user: no ':' (RFC 7617 2). */
static int set_auth_user(void *d, const struct sect_key *k, const char *v, bool first,
			 char *err, size_t errlen)
{
	if (!*v || strlen(v) >= k->size || strchr(v, ':')) {
		config_seterr(err, errlen, "'%s' is not a user name (no ':')", v);
		return -1;
	}
	memcpy(FIELD(d, k), v, strlen(v) + 1);
	return 0;
}

/* A labels.h packed set, owned (config_free frees it). */
static int set_labels(void *d, const struct sect_key *k, const char *v, bool first, char *err,
		      size_t errlen)
{
	struct labels_build lb;
	labels_build_init(&lb);
	int rc = labels_build_parse(&lb, v, err, errlen);
	if (rc == 0 && labels_build_finish(&lb, (char **)FIELD(d, k)) < 0) {
		config_seterr(err, errlen, "out of memory");
		rc = -1;
	}
	labels_build_free(&lb);
	return rc;
}

/* Blank-separated globs, owned. */
static int set_globs(void *d, const struct sect_key *k, const char *v, bool first, char *err,
		     size_t errlen)
{
	char *g;
	if (!*v || !(g = strdup(v))) {
		config_seterr(err, errlen, *v ? "out of memory" : "give at least one glob");
		return -1;
	}
	*(char **)FIELD(d, k) = g;
	return 0;
}

/* An optional string: printed only when set. */
static void print_set(FILE *f, const void *d, const struct sect_key *k)
{
	const char *v = CFIELD(d, k);
	if (*v)
		fprintf(f, "%s = %s\n", k->name, v);
}

static void print_globs(FILE *f, const void *d, const struct sect_key *k)
{
	const char *v = *(const char *const *)CFIELD(d, k);
	if (v)
		fprintf(f, "%s = %s\n", k->name, v);
}

void config_print_labels(FILE *f, const char *key, const char *set)
{
	const char *q = set, *k, *v;
	if (!set)
		return;
	fprintf(f, "%s = ", key);
	for (bool first = true; (q = labels_next(q, &k, &v)); first = false)
		fprintf(f, "%s%s=%s", first ? "" : ", ", k, v);
	fputc('\n', f);
}

static void print_labels(FILE *f, const void *d, const struct sect_key *k)
{
	config_print_labels(f, k->name, *(const char *const *)CFIELD(d, k));
}

/* The [discovery NAME] keys, in print order; the section also takes every
 * probe key (its targets' defaults). A url's refresh defaults to 60s
 * (http_sd's, as Prometheus's): config.c. */
#define SF(t, f) offsetof(struct t, f), sizeof(((struct t *)0)->f), 0
static const struct sect_key discovery_keys[] = {
	{ "files", set_globs, print_globs, SF(discovery_cfg, files), 0, 0, NULL, 0, NULL, false,
	  false, false },
	{ "url", set_url, print_set, SF(discovery_cfg, url), 0, 0, NULL, 0, NULL, false, false,
	  false },
	{ "bearer_token_file", set_secret_file, print_set, SF(discovery_cfg, bearer_token_file), 0,
	  0, NULL, 0, NULL, false, false, false },
	{ "basic_auth_user", set_auth_user, print_set, SF(discovery_cfg, basic_auth_user), 0, 0,
	  NULL, 0, NULL, false, false, false },
	{ "basic_auth_password_file", set_secret_file, print_set,
	  SF(discovery_cfg, basic_auth_password_file), 0, 0, NULL, 0, NULL, false, false, false },
	/* 0: no upper bound. */
	{ "refresh", set_duration, print_duration, SF(discovery_cfg, refresh_ns), NS_S, 0, NULL, 0,
	  "5m", false, false, false },
};

/* The [remote_write NAME] keys, in print order. The running writers keep a
 * copy of their section (remote_write.c): every key needs a restart. */
static const struct sect_key remote_write_keys[] = {
	{ "url", set_url, print_set, SF(remote_write_cfg, url), 0, 0, NULL, 0, NULL, true, false,
	  false },
	{ "interval", set_duration, print_duration, SF(remote_write_cfg, interval_ns), 100 * NS_MS,
	  NS_H, NULL, 0, "15s", true, false, false },
	{ "timeout", set_duration, print_duration, SF(remote_write_cfg, timeout_ns), 100 * NS_MS,
	  NS_H, NULL, 0, "10s", true, false, false },
	{ "bearer_token_file", set_secret_file, print_set, SF(remote_write_cfg, bearer_token_file),
	  0, 0, NULL, 0, NULL, true, false, false },
	{ "basic_auth_user", set_auth_user, print_set, SF(remote_write_cfg, basic_auth_user), 0, 0,
	  NULL, 0, NULL, true, false, false },
	{ "basic_auth_password_file", set_secret_file, print_set,
	  SF(remote_write_cfg, basic_auth_password_file), 0, 0, NULL, 0, NULL, true, false, false },
	{ "external_labels", set_labels, print_labels, SF(remote_write_cfg, external_labels), 0, 0,
	  NULL, 0, NULL, true, false, false },
	{ "queue_max", set_uint, print_uint, SF(remote_write_cfg, queue_max), 1, 100000000, NULL,
	  0, "1000000", true, false, false },
};
#undef SF

/* ---- the section tables, by section ---------------------------------------- */

static const struct {
	const struct sect_key *keys;
	size_t n;
} sect_tables[] = {
	[CONFIG_KEYS_DAEMON] = { daemon_keys, N_DAEMON_KEYS },
	[CONFIG_KEYS_PROBE] = { NULL, 0 },
	[CONFIG_KEYS_DISCOVERY] = { discovery_keys, sizeof(discovery_keys) / sizeof(discovery_keys[0]) },
	[CONFIG_KEYS_REMOTE_WRITE] = { remote_write_keys,
				       sizeof(remote_write_keys) / sizeof(remote_write_keys[0]) },
};
_Static_assert(sizeof(discovery_keys) / sizeof(discovery_keys[0]) <= CONFIG_SECT_KEYS_MAX &&
		       sizeof(remote_write_keys) / sizeof(remote_write_keys[0]) <=
			       CONFIG_SECT_KEYS_MAX,
	       "CONFIG_SECT_KEYS_MAX");

int config_sect_key_find(enum config_key_section s, const char *name)
{
	for (size_t i = 0; i < sect_tables[s].n; i++)
		if (!strcmp(name, sect_tables[s].keys[i].name))
			return (int)i;
	return -1;
}

bool config_sect_key_appends(enum config_key_section s, int k)
{
	return sect_tables[s].keys[k].appends;
}

int config_sect_key_set(enum config_key_section s, void *base, int k, const char *value,
			bool first, char *err, size_t errlen)
{
	const struct sect_key *sk = &sect_tables[s].keys[k];
	return sk->set(base, sk, value, first, err, errlen);
}

void config_sect_defaults(enum config_key_section s, void *base)
{
	char err[128];
	for (size_t k = 0; k < sect_tables[s].n; k++) {
		const struct sect_key *sk = &sect_tables[s].keys[k];
		if (sk->def && sk->set(base, sk, sk->def, true, err, sizeof(err)) < 0)
			log_bare(LOG_LVL_ERR, "built-in default %s: %s", sk->name, err);
	}
}

/* An owned string (labels, globs) compares by what it holds. */
static bool key_differs(const void *a, const void *b, const struct sect_key *k)
{
	if (k->print == print_labels || k->print == print_globs) {
		const char *x = *(const char *const *)CFIELD(a, k);
		const char *y = *(const char *const *)CFIELD(b, k);
		if (k->print == print_labels)
			return !labels_equal(x, y);
		return (!x != !y) || (x && strcmp(x, y));
	}
	return memcmp(CFIELD(a, k), CFIELD(b, k), k->size) != 0 ||
	       (k->n_off && memcmp((const char *)a + k->n_off, (const char *)b + k->n_off,
				   sizeof(unsigned)) != 0);
}

void config_print_sect_keys(FILE *f, enum config_key_section s, const void *base)
{
	/* Quiet keys print when they are not the default. */
	union {
		struct daemon_cfg d;
		struct discovery_cfg dc;
		struct remote_write_cfg rw;
	} def;
	memset(&def, 0, sizeof(def));
	config_sect_defaults(s, &def);
	for (size_t k = 0; k < sect_tables[s].n; k++) {
		const struct sect_key *sk = &sect_tables[s].keys[k];
		if (!sk->quiet || key_differs(base, &def, sk))
			sk->print(f, base, sk);
	}
}

/* ---- reload ------------------------------------------------------------- */

/* The restart-only keys of section s that differ between next and running,
 * named in names; with restore, next gets running's values back (not for
 * owned strings). */
static size_t restart_keys(enum config_key_section s, void *next, const void *running,
			   bool restore, char *names, size_t len)
{
	size_t n = 0, off = 0;
	if (len)
		names[0] = '\0';
	for (size_t i = 0; i < sect_tables[s].n; i++) {
		const struct sect_key *k = &sect_tables[s].keys[i];
		if (!k->restart || !key_differs(next, running, k))
			continue;
		if (restore) {
			memcpy(FIELD(next, k), CFIELD(running, k), k->size);
			if (k->n_off)
				memcpy((char *)next + k->n_off, (const char *)running + k->n_off,
				       sizeof(unsigned));
		}
		if (off < len)
			off += (size_t)snprintf(names + off, len - off, "%s%s", n ? ", " : "", k->name);
		n++;
	}
	return n;
}

size_t config_daemon_keep_restart(struct daemon_cfg *next, const struct daemon_cfg *running,
				  char *names, size_t len)
{
	return restart_keys(CONFIG_KEYS_DAEMON, next, running, true, names, len);
}

size_t config_remote_write_changed(const struct remote_write_cfg *next,
				   const struct remote_write_cfg *running, char *names, size_t len)
{
	return restart_keys(CONFIG_KEYS_REMOTE_WRITE, (void *)next, running, false, names, len);
}

/* ---- the tables, for config_keys.c's readers ------------------------------ */

size_t config_sect_keys(enum config_key_section s) { return sect_tables[s].n; }

void config_sect_key_info(enum config_key_section s, size_t i, struct config_key_info *out)
{
	const struct sect_key *k = &sect_tables[s].keys[i];
	size_t l = 0;
	out->name = k->name;
	out->def = k->def;
	out->restart = k->restart;
	out->duration = k->set == set_duration;
	/* The syntax of the usual kinds; the man page spells the others. */
	if (k->set == set_bool)
		snprintf(out->syntax, sizeof(out->syntax), "BOOLEAN");
	else if (k->set == set_duration)
		snprintf(out->syntax, sizeof(out->syntax), "DURATION");
	else if (k->set == set_uint)
		snprintf(out->syntax, sizeof(out->syntax), "N");
	for (size_t w = 0; k->set == set_word && w < k->nwords; w++)
		l += (size_t)snprintf(out->syntax + l, sizeof(out->syntax) - l, "%s%s", w ? "|" : "",
				      k->words[w]);
	if (k->set == set_uint || k->set == set_duration) {
		out->min = k->min;
		out->max = k->max;
	}
}
