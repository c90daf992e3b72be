/* test_config: daemon/config.c's value parsers, defaults, error lines,
 * print/load round trip, and a 100,000-target load. The golden files in
 * tests/config cover the error messages one by one. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"

#define MS 1000000ULL
#define S 1000000000ULL

static char tmpdir[] = "/tmp/test_config.XXXXXX";

/* Writes text to a file in tmpdir; returns its path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

static char *print_str(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	config_print(c, f);
	fclose(f);
	return buf;
}

static void test_duration_parse(void)
{
	static const struct {
		const char *s;
		uint64_t ns;
	} ok[] = {
		{ "0", 0 },
		{ "0s", 0 },
		{ "0.0ms", 0 },
		{ "1ns", 1 },
		{ "250ms", 250 * MS },
		{ "1.5s", 1500 * MS },
		{ "10s", 10 * S },
		{ "1m", 60 * S },
		{ "1.5m", 90 * S },
		{ "2h", 7200 * S },
		{ "50us", 50000 },
		{ "2.5ms", 2500000 },
		{ "1.000000001s", S + 1 },
		{ "1.0000000010000000000000s", S + 1 },
		{ "18446744073709551615ns", UINT64_MAX },
		{ "5124095h", 5124095ULL * 3600 * S },
	};
	static const struct {
		const char *s, *why;
	} bad[] = {
		{ "", "is not a duration" },
		{ "10", "is missing a unit" },
		{ "1.5", "is missing a unit" },
		{ "10x", "is not a duration" },
		{ "10 s", "is not a duration" },
		{ " 10s", "is not a duration" },
		{ "-1s", "is not a duration" },
		{ "+1s", "is not a duration" },
		{ ".5s", "is not a duration" },
		{ "1.s", "is not a duration" },
		{ "1.5.5s", "is not a duration" },
		{ "1S", "is not a duration" },
		{ "1sec", "is not a duration" },
		{ "0.5ns", "finer than 1ns" },
		{ "1.0000000001s", "finer than 1ns" },
		{ "18446744073709551616ns", "too long" },
		{ "5124096h", "too long" },
		{ "99999999999999999999999999h", "too long" },
	};
	char err[256];
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t ns = 12345;
		CHECK_STR(config_parse_duration(ok[i].s, &ns, err, sizeof(err)) == 0 ? "ok" : err,
			  "ok");
		CHECK_EQ(ns, ok[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ns = 12345;
		err[0] = '\0';
		CHECK_EQ(config_parse_duration(bad[i].s, &ns, err, sizeof(err)), -1);
		CHECK_EQ(ns, 12345);
		if (!strstr(err, bad[i].why))
			CHECK_STR(err, bad[i].why);
	}
}

static void test_duration_str(void)
{
	static const struct {
		uint64_t ns;
		const char *s;
	} t[] = {
		{ 0, "0s" },
		{ 1, "1ns" },
		{ 999, "999ns" },
		{ 1000, "1us" },
		{ 1500, "1.5us" },
		{ 1234, "1.234us" },
		{ 250 * MS, "250ms" },
		{ 2500 * 1000, "2.5ms" },
		{ S, "1s" },
		{ 1500 * MS, "1.5s" },
		{ 10 * S, "10s" },
		{ 60 * S, "1m" },
		{ 90 * S, "1.5m" },
		{ 100 * S, "100s" },
		{ 3600 * S, "1h" },
		{ 1234567, "1234.567us" },
		{ UINT64_MAX, "18446744073709551.615us" },
		{ 1000000001, "1000000.001us" },
	};
	char buf[32];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK_STR(config_duration_str(t[i].ns, buf, sizeof(buf)), t[i].s);
	/* Whatever it prints parses back to the same value. */
	uint64_t x = 1;
	for (int i = 0; i < 200000; i++) {
		uint64_t v = i < 100000 ? (uint64_t)i * 997 : (x = x * 6364136223846793005ULL + 1) >> (i % 64);
		uint64_t back;
		config_duration_str(v, buf, sizeof(buf));
		CHECK_EQ(config_parse_duration(buf, &back, NULL, 0), 0);
		CHECK_EQ(back, v);
	}
}

static void test_cidr(void)
{
	struct cidr c;
	char err[256];
	CHECK_EQ(config_parse_cidr("192.0.2.0/24", &c, err, sizeof(err)), 0);
	CHECK_EQ(c.addr.family, AF_INET);
	CHECK_EQ(c.prefix, 24);
	CHECK_EQ(c.addr.a[0], 192);
	CHECK_EQ(c.addr.a[2], 2);
	CHECK_EQ(c.addr.a[4], 0);
	CHECK_EQ(config_parse_cidr("198.51.100.7", &c, err, sizeof(err)), 0);
	CHECK_EQ(c.prefix, 32);
	CHECK_EQ(config_parse_cidr("0.0.0.0/0", &c, err, sizeof(err)), 0);
	CHECK_EQ(c.prefix, 0);
	CHECK_EQ(config_parse_cidr("2001:db8::/32", &c, err, sizeof(err)), 0);
	CHECK_EQ(c.addr.family, AF_INET6);
	CHECK_EQ(c.prefix, 32);
	CHECK_EQ(c.addr.a[1], 0x01);
	CHECK_EQ(config_parse_cidr("::1", &c, err, sizeof(err)), 0);
	CHECK_EQ(c.prefix, 128);
	CHECK_EQ(config_parse_cidr("fe80::/10", &c, err, sizeof(err)), 0);
	CHECK_EQ(config_parse_cidr("fec0::/10", &c, err, sizeof(err)), 0);
	CHECK_EQ(config_parse_cidr("fe80::/9", &c, err, sizeof(err)), 0);

	CHECK_EQ(config_parse_cidr("10.1.2.3/8", &c, err, sizeof(err)), -1);
	CHECK_STR(err, "'10.1.2.3/8' has host bits set (did you mean 10.0.0.0/8?)");
	CHECK_EQ(config_parse_cidr("fe80::/8", &c, err, sizeof(err)), -1);
	CHECK_STR(err, "'fe80::/8' has host bits set (did you mean fe00::/8?)");
	CHECK_EQ(config_parse_cidr("fec0::/9", &c, err, sizeof(err)), -1);
	CHECK_EQ(config_parse_cidr("0.0.0.1/0", &c, err, sizeof(err)), -1);
	CHECK_EQ(config_parse_cidr("10.0.0.0/33", &c, err, sizeof(err)), -1);
	CHECK_STR(err, "'10.0.0.0/33': prefix length must be 0..32");
	CHECK_EQ(config_parse_cidr("10.0.0.0/", &c, err, sizeof(err)), -1);
	CHECK_EQ(config_parse_cidr("10.0.0.0/-1", &c, err, sizeof(err)), -1);
	CHECK_EQ(config_parse_cidr("/8", &c, err, sizeof(err)), -1);
	CHECK_EQ(config_parse_cidr("10.0.0/8", &c, err, sizeof(err)), -1);
	CHECK_EQ(config_parse_cidr("fe80::1%eth0", &c, err, sizeof(err)), -1);
	CHECK_EQ(config_parse_cidr("example.com/24", &c, err, sizeof(err)), -1);
	CHECK(strstr(err, "is not an address or prefix") != NULL);
}

static void test_set_probe_opt(void)
{
	struct config c;
	struct probe_opts o;
	char err[256];
	config_defaults(&c);
	o = c.defaults;

	CHECK_EQ(config_set_probe_opt(&o, "kind", "syn", err, sizeof(err)), 0);
	CHECK_EQ(o.kind, PROBE_SYN);
	CHECK_EQ(config_set_probe_opt(&o, "kind", "fin", err, sizeof(err)), 0);
	CHECK_EQ(o.kind, PROBE_FIN);
	CHECK_EQ(config_set_probe_opt(&o, "port", "65535", err, sizeof(err)), 0);
	CHECK_EQ(o.port, 65535);
	CHECK_EQ(config_set_probe_opt(&o, "family", "ipv6", err, sizeof(err)), 0);
	CHECK_EQ(o.family, FAMILY_V6);
	CHECK_EQ(config_set_probe_opt(&o, "interval", "100ms", err, sizeof(err)), 0);
	CHECK_EQ(o.interval_ns, 100 * MS);
	CHECK_EQ(config_set_probe_opt(&o, "timeout", "1ms", err, sizeof(err)), 0);
	CHECK_EQ(o.timeout_ns, MS);
	CHECK_EQ(config_set_probe_opt(&o, "retries", "10", err, sizeof(err)), 0);
	CHECK_EQ(o.retries, 10);
	CHECK_EQ(config_set_probe_opt(&o, "time_wait", "0", err, sizeof(err)), 0);
	CHECK_EQ(o.time_wait_ns, 0);
	CHECK_EQ(config_set_probe_opt(&o, "fin_wait_2", "10m", err, sizeof(err)), 0);
	CHECK_EQ(o.fin_wait_2_ns, 600 * S);
	CHECK_EQ(config_set_probe_opt(&o, "hold", "1.5s", err, sizeof(err)), 0);
	CHECK_EQ(o.hold_ns, 1500 * MS);
	CHECK_EQ(config_set_probe_opt(&o, "ttl", "255", err, sizeof(err)), 0);
	CHECK_EQ(o.ttl, 255);
	CHECK_EQ(config_set_probe_opt(&o, "tos", "0xB8", err, sizeof(err)), 0);
	CHECK_EQ(o.tos, 0xb8);
	CHECK_EQ(config_set_probe_opt(&o, "tos", "46", err, sizeof(err)), 0);
	CHECK_EQ(o.tos, 46);
	CHECK_EQ(config_set_probe_opt(&o, "window", "0", err, sizeof(err)), 0);
	CHECK_EQ(o.window, 0);
	CHECK_EQ(config_set_probe_opt(&o, "mss", "0", err, sizeof(err)), 0);
	CHECK_EQ(o.syn.mss, 0);
	CHECK_EQ(config_set_probe_opt(&o, "mss", "536", err, sizeof(err)), 0);
	CHECK_EQ(o.syn.mss, 536);
	CHECK_EQ(config_set_probe_opt(&o, "mss", "off", err, sizeof(err)), 0);
	CHECK_EQ(o.syn.mss, 0);
	CHECK_EQ(config_set_probe_opt(&o, "wscale", "-1", err, sizeof(err)), 0);
	CHECK_EQ(o.syn.wscale, -1);
	CHECK_EQ(config_set_probe_opt(&o, "wscale", "0", err, sizeof(err)), 0);
	CHECK_EQ(o.syn.wscale, 0);
	CHECK_EQ(config_set_probe_opt(&o, "wscale", "off", err, sizeof(err)), 0);
	CHECK_EQ(o.syn.wscale, -1);
	static const char *const yes[] = { "yes", "YES", "true", "on", "1" };
	static const char *const no[] = { "no", "False", "off", "0" };
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(config_set_probe_opt(&o, "sack", yes[i], err, sizeof(err)), 0);
		CHECK_EQ(o.syn.sack_ok, true);
	}
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(config_set_probe_opt(&o, "timestamps", no[i], err, sizeof(err)), 0);
		CHECK_EQ(o.syn.timestamps, false);
	}

	/* Errors name the key, and leave the option alone. */
	struct probe_opts before = o;
	CHECK_EQ(config_set_probe_opt(&o, "port", "0", err, sizeof(err)), -1);
	CHECK_STR(err, "port: '0' cannot be probed: ports are 1..65535");
	CHECK_EQ(config_set_probe_opt(&o, "interval", "10x", err, sizeof(err)), -1);
	CHECK_STR(err, "interval: '10x' is not a duration (use e.g. 250ms, 10s, 1m)");
	CHECK_EQ(config_set_probe_opt(&o, "interval", "99ms", err, sizeof(err)), -1);
	CHECK_STR(err, "interval: '99ms' is out of range (100ms..24h)");
	CHECK_EQ(config_set_probe_opt(&o, "ttl", "0", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "ttl", "256", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "ttl", "", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "ttl", "64 ", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "port", "99999999999999999999999", err, sizeof(err)), -1);
	CHECK_STR(err, "port: '99999999999999999999999' is out of range: ports are 1..65535");
	CHECK_EQ(config_set_probe_opt(&o, "tos", "256", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "tos", "0x", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "tos", "-1", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "retries", "11", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "wscale", "15", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "wscale", "-2", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "mss", "65536", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "timeout", "0", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "timeout", "61s", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "time_wait", "241s", err, sizeof(err)), -1);
	CHECK_EQ(config_set_probe_opt(&o, "kind", "SYN", err, sizeof(err)), -1);
	CHECK_STR(err, "kind: 'SYN' is not one of syn, handshake, fin, trace");
	CHECK_EQ(config_set_probe_opt(&o, "sack", "y", err, sizeof(err)), -1);
	CHECK_STR(err, "sack: 'y' is not a boolean (use yes or no)");
	CHECK_EQ(config_set_probe_opt(&o, "host", "x", err, sizeof(err)), -1);
	CHECK_STR(err, "unknown probe option 'host'");
	CHECK(memcmp(&before, &o, sizeof(o)) == 0);
}

static void test_defaults(void)
{
	struct config c;
	config_defaults(&c);
	CHECK_STR(c.d.control_socket, "/run/tcpprobe/control.sock");
	CHECK_EQ(c.d.control_mode, 0660);
	CHECK_STR(c.d.metrics_listen, "127.0.0.1:9110");
	/* Outside Linux's default ip_local_port_range. */
	CHECK(c.d.sport_hi < 32768 || c.d.sport_lo > 60999);
	CHECK(c.d.sport_lo <= c.d.sport_hi);
	CHECK(c.d.sport_hi - c.d.sport_lo + 1u >= c.d.max_inflight);
	CHECK_EQ(c.d.max_inflight, 10000);
	CHECK_EQ(c.d.pps, 10000);
	CHECK_EQ(c.d.rst_guard, RST_GUARD_NFT);
	CHECK_EQ(c.d.log_level, LOG_LVL_INFO);
	CHECK_EQ(c.d.history, 20);
	CHECK_EQ(c.d.n_buckets, 16);
	CHECK(c.d.buckets[0] == 50e-6);
	CHECK(c.d.buckets[15] == 5.0);
	for (unsigned i = 1; i < c.d.n_buckets; i++)
		CHECK(c.d.buckets[i] > c.d.buckets[i - 1]);
	CHECK_EQ(c.defaults.kind, PROBE_HANDSHAKE);
	CHECK_EQ(c.defaults.port, 80);
	CHECK_EQ(c.defaults.interval_ns, 10 * S);
	CHECK_EQ(c.defaults.timeout_ns, S);
	CHECK_EQ(c.defaults.retries, 2);
	CHECK_EQ(c.defaults.ttl, 64);
	CHECK_EQ(c.defaults.window, 64240);
	CHECK_EQ(c.defaults.syn.mss, 1460);
	CHECK_EQ(c.defaults.syn.wscale, 7);
	CHECK(c.defaults.syn.sack_ok && c.defaults.syn.timestamps);
	CHECK(c.targets == NULL && c.ntargets == 0 && c.path == NULL);
	config_free(&c);
	/* An empty file is the defaults. */
	struct config e;
	char err[256];
	const char *p = write_file("empty.conf", "");
	CHECK_EQ(config_load(p, &e, err, sizeof(err)), 0);
	char *a = print_str(&c), *b = print_str(&e);
	CHECK_STR(a, b);
	CHECK_STR(e.path, p);
	free(a);
	free(b);
	config_free(&e);
}

static void test_fsm_params(void)
{
	struct config c;
	struct fsm_params fp;
	config_defaults(&c);
	struct probe_opts *o = &c.defaults;
	o->kind = PROBE_FIN;
	o->timeout_ns = 123 * MS;
	o->retries = 4;
	o->window = 1000;
	o->time_wait_ns = 7 * S;
	o->fin_wait_2_ns = 9 * S;
	o->hold_ns = 11 * MS;
	o->syn.mss = 1200;
	o->syn.wscale = -1;
	o->syn.sack_ok = false;
	memset(&fp, 0xa5, sizeof(fp));
	config_fsm_params(o, &fp);
	CHECK_EQ(fp.kind, PROBE_FIN);
	CHECK_EQ(fp.rto_ns, 123 * MS);
	CHECK_EQ(fp.retries, 4);
	CHECK_EQ(fp.window, 1000);
	CHECK_EQ(fp.time_wait_ns, 7 * S);
	CHECK_EQ(fp.fin_wait_2_ns, 9 * S);
	CHECK_EQ(fp.hold_ns, 11 * MS);
	CHECK_EQ(fp.syn.mss, 1200);
	CHECK_EQ(fp.syn.wscale, -1);
	CHECK_EQ(fp.syn.sack_ok, false);
	CHECK_EQ(fp.syn.timestamps, true);
}

static const char full_conf[] =
	"[daemon]\n"
	"control_socket = /run/tp/ctl.sock\ncontrol_mode = 0640\ncontrol_group = tcpprobe\n"
	"admin_group = netops\nmetrics_listen = [::1]:9999\nsource_ports = 40000-40999\n"
	"user = tcpprobe\nmax_inflight = 500\npps = 2500\nrst_guard = none\nlog_level = debug\n"
	"history = 1000\nallow_loopback = yes\nallow_link_local = yes\n"
	"allow = 192.0.2.0/24, 2001:db8::/32\ndeny = 192.0.2.128/25\n"
	"buckets = 1ms, 2ms, 3ms, 4ms, 5ms, 6ms, 7ms, 8ms, 9ms, 10ms, 11ms, 12ms, 13ms, 14ms\n"
	"buckets = 15ms, 16ms, 17ms, 18ms, 19ms, 20ms, 21ms, 22ms, 23ms, 24ms, 25ms, 26ms\n"
	"buckets = 27.125ms, 28.5ms, 29.999ms, 30.001ms, 1234.567ms, 59m\n"
	"[target t1]\nhost = 192.0.2.1\nkind = syn\n"
	"[defaults]\nport = 443\ntimeout = 250ms\nmss = off\nwscale = off\ntos = 0xb8\n"
	"[target t2]\nhost = t2.example\nport = 22\nsack = no\n";

static void test_roundtrip(void)
{
	struct config c, c2;
	char err[256];
	const char *p = write_file("full.conf", full_conf);
	CHECK_EQ(config_load(p, &c, err, sizeof(err)), 0);
	CHECK_EQ(c.d.n_buckets, 32);
	CHECK_EQ(c.d.n_allow, 2);
	CHECK_EQ(c.ntargets, 2);
	char *a = print_str(&c);
	/* Every printed line fits inih's limit. */
	for (char *l = a, *e; *l; l = e + 1) {
		e = strchr(l, '\n');
		CHECK(e != NULL);
		CHECK(e - l <= 197);
	}
	p = write_file("printed.conf", a);
	CHECK_EQ(config_load(p, &c2, err, sizeof(err)), 0);
	char *b = print_str(&c2);
	CHECK_STR(b, a);
	CHECK(memcmp(&c.d, &c2.d, sizeof(c.d)) == 0);
	CHECK(memcmp(&c.defaults, &c2.defaults, sizeof(c.defaults)) == 0);
	for (size_t i = 0; i < c.ntargets; i++)
		CHECK(memcmp(&c.targets[i].opts, &c2.targets[i].opts, sizeof(c.targets[i].opts)) == 0);
	free(a);
	free(b);
	config_free(&c);
	config_free(&c2);
}

/* [defaults] applies wherever it is; what a target sets wins. */
static void test_defaults_anywhere(void)
{
	struct config c;
	char err[256];
	const char *p = write_file("order.conf", full_conf);
	CHECK_EQ(config_load(p, &c, err, sizeof(err)), 0);
	struct target_cfg *t1 = &c.targets[0], *t2 = &c.targets[1];
	CHECK_STR(t1->name, "t1");
	CHECK_EQ(t1->line, 21);
	CHECK_EQ(t1->opts.kind, PROBE_SYN);
	CHECK_EQ(t1->opts.port, 443);
	CHECK_EQ(t1->opts.timeout_ns, 250 * MS);
	CHECK_EQ(t1->opts.syn.mss, 0);
	CHECK_EQ(t1->opts.syn.wscale, -1);
	CHECK_EQ(t1->opts.tos, 0xb8);
	CHECK_EQ(t1->opts.syn.sack_ok, true);
	CHECK_STR(t2->host, "t2.example");
	CHECK_EQ(t2->opts.kind, PROBE_HANDSHAKE);
	CHECK_EQ(t2->opts.port, 22);
	CHECK_EQ(t2->opts.syn.sack_ok, false);
	CHECK_EQ(t2->opts.syn.wscale, -1);
	config_free(&c);
}

static void expect_error(const char *name, const char *text, const char *want_fmt)
{
	struct config c;
	char err[512], want[512];
	const char *p = write_file(name, text);
	CHECK(p != NULL);
	snprintf(want, sizeof(want), want_fmt, p);
	CHECK_EQ(config_load(p, &c, err, sizeof(err)), -1);
	CHECK_STR(err, want);
	/* A failed load leaves the defaults, owning nothing. */
	CHECK(c.targets == NULL && c.ntargets == 0 && c.path == NULL);
	config_free(&c);
}

static void test_error_lines(void)
{
	char long_ok[512], text[1024];
	/* A 197-character line is accepted and does not shift later lines. */
	snprintf(long_ok, sizeof(long_ok), "host = %063d.%063d.%062d", 0, 0, 0);
	for (char *q = long_ok + 7; *q; q++)
		if (*q == '0')
			*q = 'a';
	CHECK_EQ(strlen(long_ok), 197);
	snprintf(text, sizeof(text), "[target t]\n%s\n\nport = 0\n", long_ok);
	expect_error("l1.conf", text, "%s:4: port: '0' cannot be probed: ports are 1..65535");
	if (check_cur_failed)
		return;
	/* 198: an error of its own, not a silently truncated value. */
	snprintf(text, sizeof(text), "[target t]\n%sa\nport = 0\n", long_ok);
	expect_error("l2.conf", text, "%s:2: line is too long (198 characters; at most 197)");
	if (check_cur_failed)
		return;
	/* Way longer: inih would have split it into several lines. */
	memset(long_ok, 'x', 500);
	long_ok[500] = '\0';
	snprintf(text, sizeof(text), "# %s\n", long_ok);
	expect_error("l3.conf", text, "%s:1: line is too long (502 characters; at most 197)");
	if (check_cur_failed)
		return;
	/* Comments, blanks and indented lines count; indentation is not a
	 * continuation line. */
	expect_error("l4.conf", "; a\n# b\n\n[daemon]\n  pps = 5\n  history = 5\n\tcolour = 1\n",
		     "%s:7: unknown key 'colour' in [daemon]");
	if (check_cur_failed)
		return;
	/* A section name longer than inih's 50-byte buffer. */
	expect_error("l5.conf",
		     "[target abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789]\n"
		     "host = h\nbogus = 1\n",
		     "%s:3: unknown key 'bogus' in [target "
		     "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789]");
	if (check_cur_failed)
		return;
	expect_error("l6.conf", "[target a]\n[target b]\nhost = b\n", "%s:1: target 'a' has no host");
	if (check_cur_failed)
		return;
	expect_error("l7.conf", "\r\n\r\n[defaults]\r\ninterval = 10\r\n",
		     "%s:4: interval: '10' is missing a unit (use e.g. 250ms, 10s, 1m)");
	if (check_cur_failed)
		return;
	/* Only the first error. */
	expect_error("l8.conf", "[daemon]\npps = 0\nhistory = 0\n[nope]\n",
		     "%s:2: pps: '0' is out of range (1..10000000)");
}

/* The first "buckets" replaces the built-in list; unused slots are zero
 * (the daemon memcmp()s the array on reload). */
static void test_buckets_replace(void)
{
	struct config c;
	char err[256];
	const char *p = write_file("b.conf", "[daemon]\nbuckets = 1ms\nbuckets = 2.5ms\n");
	CHECK_EQ(config_load(p, &c, err, sizeof(err)), 0);
	CHECK_EQ(c.d.n_buckets, 2);
	CHECK(c.d.buckets[0] == 0.001 && c.d.buckets[1] == 0.0025);
	for (unsigned i = 2; i < CFG_BUCKETS_MAX; i++)
		CHECK(c.d.buckets[i] == 0);
	config_free(&c);
}

static void test_missing_file(void)
{
	struct config c;
	char err[256];
	CHECK_EQ(config_load("/nonexistent/tcpprobe.conf", &c, err, sizeof(err)), -1);
	CHECK_STR(err, "/nonexistent/tcpprobe.conf: No such file or directory");
	CHECK_EQ(config_load(tmpdir, &c, err, sizeof(err)), -1);
	char want[300];
	snprintf(want, sizeof(want), "%s: Is a directory", tmpdir);
	CHECK_STR(err, want);
	config_free(&c);
	/* A tiny error buffer truncates, never overflows. */
	char small[8];
	CHECK_EQ(config_load("/nonexistent/tcpprobe.conf", &c, small, sizeof(small)), -1);
	CHECK_STR(small, "/nonexi");
	CHECK_EQ(config_load("/nonexistent/tcpprobe.conf", &c, NULL, 0), -1);
}

#define NBIG 100000

static const char *write_big(const char *name, bool dup)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return NULL;
	fprintf(f, "[daemon]\nmax_inflight = 100000\n\n");
	for (int i = 0; i < NBIG; i++) {
		fprintf(f, "[target t%d]\nhost = 10.%d.%d.%d\n", i, i >> 16, (i >> 8) & 255, i & 255);
		if (i % 3 == 0)
			fprintf(f, "port = %d\n", 1 + i % 65535);
		if (i == NBIG / 2)
			fprintf(f, "\n[defaults]\ninterval = 1m\n\n");
	}
	if (dup)
		fprintf(f, "[target t%d]\nhost = x\n", NBIG / 3);
	fclose(f);
	return path;
}

static void test_100k_targets(void)
{
	struct config c;
	char err[256];
	struct timespec a, b;
	const char *p = write_big("big.conf", false);
	CHECK(p != NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	int rc = config_load(p, &c, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK_STR(rc == 0 ? "ok" : err, "ok");
	printf("INFO test_100k_targets: loaded %zu targets in %.1f ms\n", c.ntargets,
	       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	CHECK_EQ(c.ntargets, NBIG);
	CHECK_STR(c.targets[NBIG - 1].name, "t99999");
	CHECK_STR(c.targets[NBIG - 1].host, "10.1.134.159");
	CHECK_EQ(c.targets[3].opts.port, 4);
	CHECK_EQ(c.targets[4].opts.port, 80);
	CHECK_EQ(c.targets[0].opts.interval_ns, 60 * S); /* [defaults] came later */
	CHECK_EQ(c.targets[NBIG - 1].opts.interval_ns, 60 * S);
	config_free(&c);

	/* A duplicate found among them, naming both lines. */
	p = write_big("big-dup.conf", true);
	CHECK_EQ(config_load(p, &c, err, sizeof(err)), -1);
	CHECK(strstr(err, "duplicate target 't33333' (first at line ") != NULL);
	unlink(p);
	snprintf(err, sizeof(err), "%s/big.conf", tmpdir);
	unlink(err);
}

/* Reload: which [remote_write] keys changed comes from the key table,
 * owned strings (external_labels) compared by what they hold. */
static void test_remote_write_changed(void)
{
	struct config a, b, c;
	char err[256], names[128];
	const char *p = write_file("rw-a.conf", "[remote_write r]\nurl = http://h:9/w\n"
					     "external_labels = b=2, a=1\n");
	CHECK_EQ(config_load(p, &a, err, sizeof(err)), 0);
	p = write_file("rw-b.conf", "[remote_write r]\nurl = http://h:9/w\n"
				    "external_labels = a=1, b=2\n");
	CHECK_EQ(config_load(p, &b, err, sizeof(err)), 0);
	p = write_file("rw-c.conf", "[remote_write r]\nurl = http://h:8/w\ninterval = 20s\n"
				    "external_labels = a=1\n");
	CHECK_EQ(config_load(p, &c, err, sizeof(err)), 0);
	CHECK_EQ(config_remote_write_changed(&b.rw[0], &a.rw[0], names, sizeof(names)), 0);
	CHECK_STR(names, "");
	CHECK_EQ(config_remote_write_changed(&c.rw[0], &a.rw[0], names, sizeof(names)), 3);
	CHECK_STR(names, "url, interval, external_labels");
	config_free(&a);
	config_free(&b);
	config_free(&c);
}

/* The key lists of tcpprobe.conf(5) are the key table's: every [daemon],
 * probe, [discovery] and [remote_write] key, in table order, and the list of
 * keys a reload keeps (restart-only). man/mangen.c writes them from the
 * tables; a key it leaves out, or a list the template spells by hand,
 * fails here. */
/* The generated pages (man/mangen.c, the Makefile's MAN_DIR: $(B)/man);
 * tests/run.sh runs from the top. */
#ifndef MAN_DIR
#define MAN_DIR "build/man"
#endif
#define MAN_PATH MAN_DIR "/tcpprobe.conf.5"
#define MAN_KEYS_MAX 64

/* The ".It Ic NAME" names of man section sh (".Sh sh"), skipping skip[]. */
static size_t man_keys(const char *sh, const char *const *skip, size_t nskip,
		       char names[][40])
{
	FILE *f = fopen(MAN_PATH, "r");
	char line[512];
	bool in = false;
	size_t n = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && n < MAN_KEYS_MAX) {
		if (!strncmp(line, ".Sh ", 4)) {
			in = !strncmp(line + 4, sh, strlen(sh)) && line[4 + strlen(sh)] == '\n';
			continue;
		}
		char name[40];
		if (!in || sscanf(line, ".It Ic %39[a-z0-9_]", name) != 1)
			continue;
		bool skipped = false;
		for (size_t i = 0; i < nskip; i++)
			skipped |= !strcmp(name, skip[i]);
		if (!skipped)
			snprintf(names[n++], 40, "%s", name);
	}
	fclose(f);
	return n;
}

static void check_man_list(enum config_key_section s, char names[][40], size_t n)
{
	CHECK_EQ(n, config_keys(s));
	for (size_t i = 0; i < n; i++) {
		struct config_key_info ki;
		config_key_info(s, i, &ki);
		CHECK_STR(names[i], ki.name);
	}
}

static void test_man_keys(void)
{
	static char names[MAN_KEYS_MAX][40];
	CHECK(access(MAN_PATH, R_OK) == 0);
	size_t n = man_keys("THE DAEMON SECTION", NULL, 0, names);
	check_man_list(CONFIG_KEYS_DAEMON, names, n);
	if (check_cur_failed)
		return;
	static const char *const target_only[] = { "host", "labels" };
	n = man_keys("THE DEFAULTS AND TARGET SECTIONS", target_only, 2, names);
	check_man_list(CONFIG_KEYS_PROBE, names, n);
	if (check_cur_failed)
		return;
	n = man_keys("THE DISCOVERY SECTIONS", NULL, 0, names);
	check_man_list(CONFIG_KEYS_DISCOVERY, names, n);
	if (check_cur_failed)
		return;
	n = man_keys("THE REMOTE WRITE SECTIONS", NULL, 0, names);
	check_man_list(CONFIG_KEYS_REMOTE_WRITE, names, n);
	if (check_cur_failed)
		return;

	/* "On a reload ... keys\n.Ic a , b , c\nkeep the values ..." */
	FILE *f = fopen(MAN_PATH, "r");
	char line[512], list[512] = "";
	bool reload = false;
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "On a reload", 11))
			reload = true;
		else if (reload && !strncmp(line, ".Ic ", 4) && strstr(line, " , ")) {
			snprintf(list, sizeof(list), "%s", line + 4);
			break;
		}
	}
	if (f)
		fclose(f);
	CHECK(list[0]);
	size_t want = 0, got = 0;
	for (size_t i = 0; i < config_keys(CONFIG_KEYS_DAEMON); i++) {
		struct config_key_info ki;
		config_key_info(CONFIG_KEYS_DAEMON, i, &ki);
		want += ki.restart;
		char *p = strstr(list, ki.name);
		bool listed = p && (p == list || p[-1] == ' ') &&
			      (p[strlen(ki.name)] == ' ' || p[strlen(ki.name)] == '\n');
		if (listed != ki.restart)
			printf("INFO man page restart-only list: %s %s\n", ki.name,
			       ki.restart ? "missing" : "listed but a reload applies it");
		CHECK_EQ(listed, ki.restart);
		got += listed;
	}
	CHECK_EQ(got, want);
}

/* The items of man page path's section sh (".Sh sh"): each ".It" line
 * (header) and its text, macros dropped and blanks collapsed, so that
 * "Default\n.Cm handshake ." reads "Default handshake .". */
#define MAN_ITEMS_MAX 80
struct man_item {
	char head[160];
	char text[1536];
};

static size_t man_items(const char *path, const char *sh, struct man_item *it)
{
	FILE *f = fopen(path, "r");
	char line[512];
	bool in = false;
	size_t n = 0;
	struct man_item *cur = NULL;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, ".Sh ", 4)) {
			in = !strcmp(line + 4, sh);
			cur = NULL;
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, ".It ", 4) && n < MAN_ITEMS_MAX) {
			cur = &it[n++];
			snprintf(cur->head, sizeof(cur->head), "%.150s ", line + 4);
			cur->text[0] = '\0';
			continue;
		}
		/* Lists, displays and paragraphs hold no words. */
		if (!cur || !strncmp(line, ".Bl", 3) || !strncmp(line, ".El", 3) ||
		    !strncmp(line, ".Bd", 3) || !strncmp(line, ".Ed", 3) || !strncmp(line, ".Pp", 3))
			continue;
		const char *w = line;
		if (*w == '.')
			w += strcspn(w, " ");
		size_t l = strlen(cur->text);
		for (; *w && l + 2 < sizeof(cur->text); w++) {
			if (*w == ' ' || *w == '\t') {
				if (l && cur->text[l - 1] != ' ')
					cur->text[l++] = ' ';
			} else {
				cur->text[l++] = *w;
			}
		}
		if (l && cur->text[l - 1] != ' ')
			cur->text[l++] = ' ';
		cur->text[l] = '\0';
	}
	fclose(f);
	return n;
}

/* Does text say "default D" or "Default: D", D ending at a blank or at
 * punctuation? */
static bool man_says_default(const char *text, const char *d)
{
	for (const char *p = text; (p = strcasestr(p, "default")); p += 7) {
		const char *v = p + 7;
		if (*v == ':')
			v++;
		if (*v++ != ' ' || strncmp(v, d, strlen(d)))
			continue;
		char end = v[strlen(d)];
		if (!end || strchr(" .,:;", end))
			return true;
	}
	return false;
}

/* tcpprobe.conf(5) gives every key's default as the table has it, in every
 * section. */
static void test_man_defaults(void)
{
	static struct man_item it[MAN_ITEMS_MAX];
	static const struct {
		const char *sh;
		enum config_key_section s;
	} secs[] = { { "THE DAEMON SECTION", CONFIG_KEYS_DAEMON },
		     { "THE DEFAULTS AND TARGET SECTIONS", CONFIG_KEYS_PROBE },
		     { "THE DISCOVERY SECTIONS", CONFIG_KEYS_DISCOVERY },
		     { "THE REMOTE WRITE SECTIONS", CONFIG_KEYS_REMOTE_WRITE } };
	for (size_t si = 0; si < sizeof(secs) / sizeof(secs[0]); si++) {
		size_t n = man_items(MAN_PATH, secs[si].sh, it);
		CHECK(n > 0);
		for (size_t k = 0; k < config_keys(secs[si].s); k++) {
			struct config_key_info ki;
			char head[64];
			config_key_info(secs[si].s, k, &ki);
			if (!ki.def)
				continue;
			snprintf(head, sizeof(head), "Ic %s ", ki.name);
			size_t i = 0;
			while (i < n && strncmp(it[i].head, head, strlen(head)))
				i++;
			bool ok = i < n && man_says_default(it[i].text, ki.def);
			if (!ok)
				printf("INFO %s: %s: no \"Default %s\"\n", MAN_PATH, ki.name, ki.def);
			CHECK(ok);
		}
	}
}

/* Does a tcpprobe(8) item's head (".It Fl k , Fl Fl kind Ar kind") name
 * option o? */
static bool man_head_names(const char *head, const struct config_key_opt *o)
{
	char want[64];
	if (o->short_opt) {
		snprintf(want, sizeof(want), "Fl %c ", o->short_opt);
		if (!strstr(head, want))
			return false;
	}
	if (o->name) {
		snprintf(want, sizeof(want), "Fl Fl %s ", o->name);
		if (!strstr(head, want))
			return false;
	}
	return true;
}

/* tcpprobe(8)'s PROBE OPTIONS list every option of the key table, with
 * its default (the command line's own where it has one). */
#define MAN8_PATH MAN_DIR "/tcpprobe.8"
static void test_man_options(void)
{
	static struct man_item it[MAN_ITEMS_MAX];
	size_t n = man_items(MAN8_PATH, "PROBE OPTIONS", it), nopts = 0;
	CHECK(n > 0);
	for (size_t k = 0; k < config_keys(CONFIG_KEYS_PROBE); k++) {
		struct config_key_info ki;
		config_key_info(CONFIG_KEYS_PROBE, k, &ki);
		for (size_t j = 0; j < CONFIG_KEY_OPTS && ki.opts[j].help; j++) {
			const struct config_key_opt *o = &ki.opts[j];
			const char *def = ki.opt_def ? ki.opt_def : ki.def;
			size_t i = 0;
			nopts++;
			while (i < n && !man_head_names(it[i].head, o))
				i++;
			if (i == n)
				printf("INFO %s: option -%c --%s (key %s) missing\n", MAN8_PATH,
				       o->short_opt ? o->short_opt : '-', o->name ? o->name : "",
				       ki.name);
			CHECK(i < n);
			/* A flag has no default: it sets its key when given. */
			if (i == n || !o->arg)
				continue;
			if (!man_says_default(it[i].text, def))
				printf("INFO %s: %s: no \"Default %s\"\n", MAN8_PATH, it[i].head, def);
			CHECK(man_says_default(it[i].text, def));
		}
	}
	CHECK(nopts > 0);
}

/* LOG_LEVEL_NAMES (spliced into the messages of the config and the control
 * protocol) is log.c's names in order, each of which parses back. */
static void test_log_level_names(void)
{
	char all[128] = "";
	size_t n = 0;
	for (int l = 0; l < 8; l++) {
		const char *name = log_level_name(l);
		if (!name)
			continue;
		n += (size_t)snprintf(all + n, sizeof(all) - n, "%s%s", n ? ", " : "", name);
		CHECK_EQ(log_level_from_str(name), l);
	}
	CHECK_STR(all, LOG_LEVEL_NAMES);
}

/* The kind option's help ("syn | handshake | fin | trace", in --help and
 * tcpprobe(8)) spells probes/' kinds by hand: every one, in their order. */
static void test_kind_help_names(void)
{
	char want[128] = "";
	size_t n = 0, found = 0;
	for (int k = 0; k < PROBE_KIND_COUNT; k++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%s%s", k ? " | " : "",
				      probe_kind_str((enum probe_kind)k));
	for (size_t k = 0; k < config_keys(CONFIG_KEYS_PROBE); k++) {
		struct config_key_info ki;
		config_key_info(CONFIG_KEYS_PROBE, k, &ki);
		if (strcmp(ki.name, "kind"))
			continue;
		found++;
		CHECK(ki.opts[0].help != NULL);
		if (ki.opts[0].help)
			CHECK_STR(ki.opts[0].help, want);
	}
	CHECK_EQ(found, 1);
}

/* A one-shot (`ctl probe`) takes [defaults] but for the keys of a target's
 * rounds and schedule (the table's target_only: flows, trace_interval,
 * flow_metrics), which go back to their built-in defaults; any of them set
 * after that is named. */
static void test_oneshot_base(void)
{
	char err[128];
	struct probe_opts d, o;
	config_probe_defaults(&d);
	o = d;
	CHECK(config_probe_target_only_set(&o) == NULL);
	CHECK_EQ(config_set_probe_opt(&o, "flows", "4", err, sizeof(err)), 0);
	CHECK_EQ(config_set_probe_opt(&o, "trace_interval", "1m", err, sizeof(err)), 0);
	CHECK_EQ(config_set_probe_opt(&o, "flow_metrics", "yes", err, sizeof(err)), 0);
	CHECK_EQ(config_set_probe_opt(&o, "timeout", "750ms", err, sizeof(err)), 0);
	CHECK_EQ(config_set_probe_opt(&o, "kind", "syn", err, sizeof(err)), 0);
	CHECK_STR(config_probe_target_only_set(&o), "trace_interval"); /* the table's first */
	config_probe_oneshot_base(&o);
	CHECK(config_probe_target_only_set(&o) == NULL);
	CHECK_EQ(o.flows, 1);
	CHECK_EQ(o.trace_interval_ns, 0);
	CHECK_EQ(o.flow_metrics, 0);
	CHECK_EQ(o.timeout_ns, 750 * 1000000ULL); /* the rest of [defaults] stays */
	CHECK_EQ(o.kind, PROBE_SYN);
	/* Each one alone is named. */
	const char *const one[][2] = { { "flows", "2" }, { "trace_interval", "10s" },
				       { "flow_metrics", "yes" } };
	for (size_t i = 0; i < 3; i++) {
		o = d;
		CHECK_EQ(config_set_probe_opt(&o, one[i][0], one[i][1], err, sizeof(err)), 0);
		const char *n = config_probe_target_only_set(&o);
		CHECK(n && !strcmp(n, one[i][0]));
	}
	/* At its default, set or not, a key is no one-shot's problem. */
	o = d;
	CHECK_EQ(config_set_probe_opt(&o, "flows", "1", err, sizeof(err)), 0);
	CHECK(config_probe_target_only_set(&o) == NULL);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		printf("FAIL setup: mkdtemp\n");
		return 1;
	}
	RUN(test_duration_parse);
	RUN(test_log_level_names);
	RUN(test_kind_help_names);
	RUN(test_oneshot_base);
	RUN(test_duration_str);
	RUN(test_cidr);
	RUN(test_set_probe_opt);
	RUN(test_defaults);
	RUN(test_fsm_params);
	RUN(test_roundtrip);
	RUN(test_defaults_anywhere);
	RUN(test_error_lines);
	RUN(test_buckets_replace);
	RUN(test_missing_file);
	RUN(test_100k_targets);
	RUN(test_remote_write_changed);
	RUN(test_man_keys);
	RUN(test_man_defaults);
	RUN(test_man_options);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("INFO could not remove %s\n", tmpdir);
	return CHECK_EXIT();
}
