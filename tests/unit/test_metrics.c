/* test_metrics.c: the Prometheus text exposition (metrics_fmt.c): number
 * formatting, label escaping, histograms, the families rendered from
 * made-up targets, and how long 10,000 targets take (printed as "info:",
 * not asserted: it depends on the machine).
 *
 * METRICS_SAMPLE_OUT=FILE writes a sample exposition for
 * `promtool check metrics` (tests/integration/metrics.sh). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <zlib.h>

#include "check.h"
#include "json.h"
#include "metrics_fmt.h"
#include "targets.h"

static const double default_bounds[] = { 50e-6, 100e-6, 250e-6, 500e-6, 1e-3,  2.5e-3,
					 5e-3,  10e-3,  25e-3,  50e-3,  100e-3, 250e-3,
					 500e-3, 1,     2.5,    5 };
#define NDEF (unsigned)(sizeof(default_bounds) / sizeof(default_bounds[0]))

static const char *fmt_d(double v)
{
	static char buf[METRICS_NUM_MAX];
	metrics_fmt_double(buf, v);
	return buf;
}

static void format_u64(void)
{
	char b[METRICS_NUM_MAX];
	CHECK_EQ(metrics_fmt_u64(b, 0), 1);
	CHECK_STR(b, "0");
	CHECK_EQ(metrics_fmt_u64(b, 10), 2);
	CHECK_STR(b, "10");
	metrics_fmt_u64(b, 1234567890123ULL);
	CHECK_STR(b, "1234567890123");
	CHECK_EQ(metrics_fmt_u64(b, UINT64_MAX), 20);
	CHECK_STR(b, "18446744073709551615");
}

static void format_double_cases(void)
{
	CHECK_STR(fmt_d(0), "0");
	CHECK_STR(fmt_d(-0.0), "0");
	CHECK_STR(fmt_d(1), "1");
	CHECK_STR(fmt_d(-3), "-3");
	CHECK_STR(fmt_d(2.5), "2.5");
	CHECK_STR(fmt_d(0.1), "0.1");
	CHECK_STR(fmt_d(50e-6), "5e-05");
	CHECK_STR(fmt_d(1e-4), "0.0001");
	CHECK_STR(fmt_d(0.00025), "0.00025");
	CHECK_STR(fmt_d(0.1 + 0.2), "0.30000000000000004");
	CHECK_STR(fmt_d(1.0 / 3), "0.3333333333333333");
	CHECK_STR(fmt_d(1e21), "1e+21");
	CHECK_STR(fmt_d(1712345678.25), "1712345678.25");
	CHECK_STR(fmt_d(INFINITY), "+Inf");
	CHECK_STR(fmt_d(-INFINITY), "-Inf");
	CHECK_STR(fmt_d(NAN), "NaN");
}

/* Every output reads back as exactly the input, and is the shortest that
 * does: one significant digit fewer no longer round-trips. */
static void format_double_round_trip(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		double v;
		if (i % 2) {
			memcpy(&v, &x, sizeof(v)); /* any bit pattern */
			if (!isfinite(v))
				continue;
		} else {
			v = (double)(x % 100000000) / 1e9; /* latency-like: ns in seconds */
		}
		char b[METRICS_NUM_MAX];
		size_t n = metrics_fmt_double(b, v);
		CHECK(n == strlen(b) && n < METRICS_NUM_MAX);
		CHECK(strtod(b, NULL) == v);
		if (v != floor(v)) {
			/* significant digits: from the first non-zero one, before 'e' */
			int sig = 0;
			bool seen = false;
			for (const char *p = b; *p && *p != 'e'; p++) {
				if (*p >= '1' && *p <= '9')
					seen = true;
				sig += seen && *p >= '0' && *p <= '9';
			}
			char shorter[400];
			snprintf(shorter, sizeof(shorter), "%.*g", sig - 1, v);
			CHECK(sig <= 1 || strtod(shorter, NULL) != v);
		}
	}
}

static void format_ns(void)
{
	char b[METRICS_NUM_MAX];
	metrics_fmt_ns(b, 0);
	CHECK_STR(b, "0");
	metrics_fmt_ns(b, 1000000000);
	CHECK_STR(b, "1");
	metrics_fmt_ns(b, 1500000000);
	CHECK_STR(b, "1.5");
	metrics_fmt_ns(b, 1);
	CHECK_STR(b, "0.000000001");
	CHECK_EQ(metrics_fmt_ns(b, 1712345678123456789ULL), 20);
	CHECK_STR(b, "1712345678.123456789");
	metrics_fmt_ns(b, 250000);
	CHECK_STR(b, "0.00025");
}

static void label_escaping(void)
{
	struct jbuf b;
	jb_init(&b);
	metrics_put_label(&b, '{', "host", "a\"b\\c\nd");
	CHECK_STR(b.p, "{host=\"a\\\"b\\\\c\\nd\"");
	jb_reset(&b);
	metrics_put_label(&b, ',', "target", "web-01.example_a");
	CHECK_STR(b.p, ",target=\"web-01.example_a\"");
	jb_reset(&b);
	metrics_put_label(&b, 0, "x", "");
	CHECK_STR(b.p, "x=\"\"");
	jb_reset(&b);
	metrics_put_escaped(&b, "\\\\\"\"\n\n");
	CHECK_STR(b.p, "\\\\\\\\\\\"\\\"\\n\\n");
	jb_free(&b);
}

static void family_header(void)
{
	struct jbuf b;
	jb_init(&b);
	/* HELP escapes backslash and newline only; a quote stays. */
	metrics_put_family(&b, "x_total", "counter", "a \"b\" c\\d\ne");
	CHECK_STR(b.p, "# HELP x_total a \"b\" c\\\\d\\ne\n# TYPE x_total counter\n");
	jb_free(&b);
}

static void bounds_default(void)
{
	struct metrics_bounds mb;
	metrics_bounds_init(&mb, default_bounds, NDEF);
	static const char *const want[] = { "5e-05", "0.0001", "0.00025", "0.0005", "0.001",
					    "0.0025", "0.005", "0.01", "0.025", "0.05",
					    "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf" };
	CHECK_EQ(mb.n, NDEF);
	for (unsigned i = 0; i <= NDEF; i++)
		CHECK_STR(mb.le[i], want[i]);
}

static void histogram_cumulative(void)
{
	const double bounds[] = { 0.005, 0.01, 0.1 };
	struct hist h;
	memset(&h, 0, sizeof(h));
	hist_add(&h, bounds, 3, 0.001);  /* <= 0.005 */
	hist_add(&h, bounds, 3, 0.005);  /* <= 0.005: le is inclusive */
	hist_add(&h, bounds, 3, 0.05);   /* <= 0.1 */
	hist_add(&h, bounds, 3, 0.0625); /* <= 0.1 */
	hist_add(&h, bounds, 3, 7);      /* +Inf */
	struct metrics_bounds mb;
	metrics_bounds_init(&mb, bounds, 3);
	struct jbuf b;
	jb_init(&b);
	metrics_put_hist(&b, "x_seconds", "target=\"a\"", &h, &mb);
	CHECK_STR(b.p, "x_seconds_bucket{target=\"a\",le=\"0.005\"} 2\n"
		       "x_seconds_bucket{target=\"a\",le=\"0.01\"} 2\n"
		       "x_seconds_bucket{target=\"a\",le=\"0.1\"} 4\n"
		       "x_seconds_bucket{target=\"a\",le=\"+Inf\"} 5\n"
		       "x_seconds_sum{target=\"a\"} 7.1185\n"
		       "x_seconds_count{target=\"a\"} 5\n");
	jb_reset(&b);
	/* no labels, no buckets: only +Inf */
	memset(&h, 0, sizeof(h));
	metrics_bounds_init(&mb, bounds, 0);
	metrics_put_hist(&b, "y", "", &h, &mb);
	CHECK_STR(b.p, "y_bucket{le=\"+Inf\"} 0\ny_sum 0\ny_count 0\n");
	jb_free(&b);
}

/* ---- families from made-up targets ---- */

struct tset {
	struct target *t;
	size_t n;
};
static struct target *tset_at(void *arg, size_t i) { return &((struct tset *)arg)->t[i]; }
static void tset_free(struct tset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		target_clear_phases(&s->t[i].st);
		target_free_history(&s->t[i]);
		free(s->t[i].tr);
	}
	free(s->t);
}

static void target_init(struct target *t, const char *name, const char *host,
			enum probe_kind kind, uint16_t port)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->cfg.name, sizeof(t->cfg.name), "%s", name);
	snprintf(t->cfg.host, sizeof(t->cfg.host), "%s", host);
	t->cfg.opts.kind = kind;
	t->cfg.opts.port = port;
	t->st.last_result = RESULT_PENDING;
}

static void record(struct target *t, enum probe_result res, enum close_result cr,
		   uint64_t hs_ns, uint64_t t_start, const double *bounds, unsigned nb)
{
	struct probe_report r;
	memset(&r, 0, sizeof(r));
	r.kind = (uint8_t)t->cfg.opts.kind;
	r.result = (uint8_t)res;
	r.close_result = (uint8_t)cr;
	r.t_start = t_start;
	r.ph.handshake = hs_ns;
	if (cr == CLOSE_OK) {
		r.ph.fin_ack = hs_ns;
		r.ph.fin_wait_2 = 200000000;
		r.ph.close = hs_ns + 200000000;
	}
	if (res == RESULT_OK) {
		r.have_peer = true;
		r.peer_mss = 1460;
		r.peer_wscale = 7;
		r.peer_sack = true;
		r.peer_ttl = 64;
		r.synack_seen = 2;
		r.syn_retransmits = 1;
	}
	target_record(t, &r, bounds, nb);
}

/* Three targets (handshake, syn, fin) in known states. */
static void sample_targets(struct tset *s)
{
	s->n = 4;
	s->t = calloc(s->n, sizeof(*s->t));
	target_init(&s->t[0], "web", "www.example.com", PROBE_HANDSHAKE, 443);
	s->t[0].addr.family = AF_INET;
	memcpy(s->t[0].addr.a, "\xc6\x12\x00\x02", 4);
	record(&s->t[0], RESULT_OK, CLOSE_OK, 3000000, 1712345678123456789ULL, default_bounds, NDEF);
	record(&s->t[0], RESULT_TIMEOUT, CLOSE_NONE, 0, 1712345688000000000ULL, default_bounds,
	       NDEF);
	target_init(&s->t[1], "dns-v6", "2001:db8::\"53\\\n", PROBE_SYN, 53);
	record(&s->t[1], RESULT_OK, CLOSE_NONE, 150000, 1712345679000000000ULL, default_bounds,
	       NDEF);
	s->t[1].paused = true;
	s->t[1].st.peer_ttl = 61; /* three routers back */
	/* web traces its path: four hops to it, changed twice. */
	s->t[0].cfg.opts.trace_interval_ns = 300000000000ULL;
	s->t[0].tr = calloc(1, sizeof(*s->t[0].tr));
	s->t[0].tr->track.have_cur = true;
	s->t[0].tr->track.cur.nhops = 4;
	s->t[0].tr->track.changes = 2;
	target_init(&s->t[2], "fw", "192.0.2.1", PROBE_FIN, 22);
	record(&s->t[2], RESULT_SILENT, CLOSE_NONE, 0, 1712345680000000000ULL, default_bounds,
	       NDEF);
	target_init(&s->t[3], "new", "192.0.2.9", PROBE_HANDSHAKE, 80); /* no result yet */
	s->t[3].cfg.opts.trace_interval_ns = 300000000000ULL; /* traces, none done yet */
}

static void render_sample(struct jbuf *b)
{
	struct registry_status st;
	memset(&st, 0, sizeof(st));
	st.version = "0.1.0";
	st.start_ns = 1712345600500000000ULL;
	st.targets = 4;
	st.eng.tx_packets = 100;
	st.eng.rx_packets = 90;
	st.eng.queued = 3;
	st.sched_late_ns_total = 1500000;
	st.sched_late_max_ns = 1000000;
	st.rss_bytes = 12345678;
	metrics_render_status(b, &st);
	struct tset s;
	sample_targets(&s);
	metrics_render_targets(b, tset_at, &s, s.n, default_bounds, NDEF);
	tset_free(&s);
}

/* The render in pieces (the daemon's /metrics and `ctl metrics` send one
 * per loop pass) is the render in one go, whatever the budget; a piece
 * stops after a whole target, so it may overshoot by one target's lines. */
static void render_in_pieces(void)
{
	struct tset s;
	sample_targets(&s);
	struct jbuf whole, parts, piece;
	jb_init(&whole);
	jb_init(&parts);
	jb_init(&piece);
	metrics_render_targets(&whole, tset_at, &s, s.n, default_bounds, NDEF);
	CHECK(!whole.oom && whole.len > 1000);
	const size_t budgets[] = { 1, 100, 1000, 4096, SIZE_MAX };
	for (size_t k = 0; k < sizeof(budgets) / sizeof(budgets[0]); k++) {
		struct metrics_cursor c;
		metrics_cursor_init(&c, default_bounds, NDEF);
		jb_reset(&parts);
		size_t pieces = 0, biggest = 0;
		bool done = false;
		while (!done && pieces < 100000) {
			jb_reset(&piece);
			done = metrics_render_targets_step(&c, &piece, tset_at, &s, s.n, budgets[k]);
			CHECK(!piece.oom);
			if (piece.len > biggest)
				biggest = piece.len;
			jb_append(&parts, piece.p ? piece.p : "", piece.len);
			pieces++;
		}
		metrics_cursor_free(&c);
		CHECK(done);
		CHECK(parts.len == whole.len && !memcmp(parts.p, whole.p, whole.len));
		/* A piece ends at a line end, and small budgets give many pieces. */
		CHECK(budgets[k] == SIZE_MAX ? pieces == 1 : pieces > 1);
		if (budgets[k] == 1000)
			CHECK(biggest < 1000 + 8192); /* one header and one target past it */
	}
	jb_free(&whole);
	jb_free(&parts);
	jb_free(&piece);
	tset_free(&s);
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void families_rendered(void)
{
	struct jbuf b;
	jb_init(&b);
	render_sample(&b);
	CHECK(!b.oom && b.p);
	const char *want[] = {
		"tcpprobe_build_info{version=\"0.1.0\"} 1",
		"tcpprobe_start_time_seconds 1712345600.5",
		"tcpprobe_targets 4",
		"tcpprobe_packets_sent_total 100",
		"tcpprobe_probes_waiting 3",
		"tcpprobe_scheduler_lateness_seconds_total 0.0015",
		"tcpprobe_scheduler_lateness_max_seconds 0.001",
		"tcpprobe_resident_memory_bytes 12345678",
		"tcpprobe_target_info{target=\"web\",host=\"www.example.com\",port=\"443\","
		"kind=\"handshake\",address=\"198.18.0.2\"} 1",
		"tcpprobe_target_info{target=\"dns-v6\",host=\"2001:db8::\\\"53\\\\\\n\",port=\"53\","
		"kind=\"syn\",address=\"\"} 1",
		"tcpprobe_probes_total{target=\"web\",kind=\"handshake\",result=\"ok\"} 1",
		"tcpprobe_probes_total{target=\"web\",kind=\"handshake\",result=\"timeout\"} 1",
		"tcpprobe_probes_total{target=\"web\",kind=\"handshake\",result=\"refused\"} 0",
		"tcpprobe_probes_total{target=\"new\",kind=\"handshake\",result=\"error\"} 0",
		"tcpprobe_probes_total{target=\"fw\",kind=\"fin\",result=\"silent\"} 1",
		"tcpprobe_probes_total{target=\"fw\",kind=\"fin\",result=\"closed\"} 0",
		"tcpprobe_close_total{target=\"web\",kind=\"handshake\",result=\"ok\"} 1",
		"tcpprobe_close_total{target=\"new\",kind=\"handshake\",result=\"timeout\"} 0",
		"tcpprobe_handshake_duration_seconds_bucket{target=\"web\",le=\"0.0025\"} 0",
		"tcpprobe_handshake_duration_seconds_bucket{target=\"web\",le=\"0.005\"} 1",
		"tcpprobe_handshake_duration_seconds_bucket{target=\"web\",le=\"+Inf\"} 1",
		"tcpprobe_handshake_duration_seconds_sum{target=\"web\"} 0.003",
		"tcpprobe_handshake_duration_seconds_count{target=\"dns-v6\"} 1",
		"tcpprobe_handshake_duration_seconds_bucket{target=\"dns-v6\",le=\"0.00025\"} 1",
		"tcpprobe_close_duration_seconds_bucket{target=\"web\",phase=\"fin_wait_2\",le=\"0.25\"} 1",
		"tcpprobe_close_duration_seconds_count{target=\"web\",phase=\"total\"} 1",
		"tcpprobe_close_duration_seconds_count{target=\"new\",phase=\"fin_ack\"} 0",
		"tcpprobe_syn_retransmits_total{target=\"web\"} 1",
		"tcpprobe_synack_retransmits_total{target=\"web\"} 1",
		"tcpprobe_up{target=\"web\"} 0",
		"tcpprobe_up{target=\"dns-v6\"} 1",
		"tcpprobe_up{target=\"fw\"} 1",
		"tcpprobe_up{target=\"new\"} 0",
		"tcpprobe_last_probe_timestamp_seconds{target=\"web\"} 1712345688",
		"tcpprobe_last_success_timestamp_seconds{target=\"web\"} 1712345678.123456789",
		/* a FIN probe's answer is a success, as tcpprobe_up says */
		"tcpprobe_last_success_timestamp_seconds{target=\"fw\"} 1712345680",
		"tcpprobe_peer_info{target=\"web\",mss=\"1460\",wscale=\"7\",sack=\"true\","
		"timestamps=\"false\"} 1",
		"tcpprobe_peer_ttl{target=\"dns-v6\"} 61",
		"tcpprobe_peer_hops{target=\"dns-v6\"} 3",
		"tcpprobe_peer_hops{target=\"web\"} 0",
		"tcpprobe_path_changes_total{target=\"web\"} 2",
		"tcpprobe_path_changes_total{target=\"new\"} 0",
		"tcpprobe_path_hops{target=\"web\"} 3",
		"tcpprobe_target_paused{target=\"dns-v6\"} 1",
		"tcpprobe_target_paused{target=\"web\"} 0",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!has_line(b.p, want[i])) {
			printf("missing: %s\n", want[i]);
			CHECK(has_line(b.p, want[i]));
		}
	}
	const char *absent[] = {
		"tcpprobe_probes_total{target=\"web\",kind=\"handshake\",result=\"silent\"}",
		"tcpprobe_probes_total{target=\"fw\",kind=\"fin\",result=\"ok\"}",
		"tcpprobe_probes_total{target=\"web\",kind=\"handshake\",result=\"pending\"}",
		"tcpprobe_close_total{target=\"dns-v6\"",
		"tcpprobe_close_duration_seconds_count{target=\"dns-v6\"",
		"tcpprobe_handshake_duration_seconds_count{target=\"fw\"}",
		"tcpprobe_peer_info{target=\"new\"",
		"tcpprobe_peer_ttl{target=\"fw\"}",
		"tcpprobe_peer_hops{target=\"fw\"}",
		"tcpprobe_path_changes_total{target=\"dns-v6\"}",
		"tcpprobe_path_hops{target=\"new\"}",
		"tcpprobe_path_hops{target=\"dns-v6\"}",
		"tcpprobe_last_probe_timestamp_seconds{target=\"new\"}",
		"tcpprobe_last_success_timestamp_seconds{target=\"new\"}",
	};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		if (strstr(b.p, absent[i])) {
			printf("unexpected: %s\n", absent[i]);
			CHECK(!strstr(b.p, absent[i]));
		}
	}
	const char *out = getenv("METRICS_SAMPLE_OUT");
	if (out && *out) {
		FILE *f = fopen(out, "w");
		CHECK(f != NULL);
		fwrite(b.p, 1, b.len, f);
		CHECK(fclose(f) == 0);
	}
	jb_free(&b);
}

/* The format's structural rules, checked line by line: every family has
 * HELP then TYPE once; its samples follow it without interruption and use
 * its name (histograms: _bucket, _sum, _count); buckets carry le; values
 * parse; label sets are well-formed. */
static const char *check_exposition(const char *text)
{
	static char why[256];
	char fam[128] = "", type[16] = "";
	char seen[64][128];
	unsigned nseen = 0;
	for (const char *p = text; *p;) {
		const char *e = strchr(p, '\n');
		if (!e)
			return "last line has no newline";
		size_t n = (size_t)(e - p);
		char line[1024];
		if (n >= sizeof(line))
			return "line too long";
		memcpy(line, p, n);
		line[n] = 0;
		p = e + 1;
		if (!strncmp(line, "# HELP ", 7)) {
			char name[128];
			if (sscanf(line + 7, "%127s", name) != 1)
				return "bad HELP";
			for (unsigned i = 0; i < nseen; i++)
				if (!strcmp(seen[i], name)) {
					snprintf(why, sizeof(why), "family %s twice", name);
					return why;
				}
			if (nseen < 64)
				snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
			snprintf(fam, sizeof(fam), "%s", name);
			type[0] = 0;
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			char name[128];
			if (sscanf(line + 7, "%127s %15s", name, type) != 2 || strcmp(name, fam))
				return "TYPE does not follow its HELP";
			continue;
		}
		if (line[0] == '#' || !type[0]) {
			snprintf(why, sizeof(why), "sample outside a family: %.200s", line);
			return why;
		}
		size_t nl = strcspn(line, "{ ");
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)nl, line);
		bool ok = !strcmp(name, fam);
		if (!strcmp(type, "histogram")) {
			size_t fl = strlen(fam);
			ok = !strncmp(name, fam, fl) &&
			     (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
			      !strcmp(name + fl, "_count"));
			if (ok && !strcmp(name + fl, "_bucket") && !strstr(line, "le=\""))
				ok = false;
		}
		if (!strcmp(type, "counter") && strlen(fam) > 6 &&
		    strcmp(fam + strlen(fam) - 6, "_total"))
			ok = false;
		if (!ok) {
			snprintf(why, sizeof(why), "sample %.100s in family %.100s (%.15s)", name, fam, type);
			return why;
		}
		const char *v = line + nl;
		if (*v == '{') {
			/* walk the label set honouring escapes */
			v++;
			while (*v != '}') {
				size_t k = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
				if (!k || v[k] != '=' || v[k + 1] != '"')
					return "bad label";
				v += k + 2;
				while (*v && *v != '"') {
					if (*v == '\\') {
						if (v[1] != '\\' && v[1] != '"' && v[1] != 'n')
							return "bad escape";
						v++;
					}
					v++;
				}
				if (*v != '"')
					return "unterminated label value";
				v++;
				if (*v == ',')
					v++;
				else if (*v != '}')
					return "bad label separator";
			}
			v++;
		}
		if (*v != ' ')
			return "no space before the value";
		char *end;
		v++;
		if (strcmp(v, "+Inf") && strcmp(v, "-Inf") && strcmp(v, "NaN")) {
			strtod(v, &end);
			if (end == v || *end) {
				snprintf(why, sizeof(why), "bad value: %.200s", line);
				return why;
			}
		}
	}
	return NULL;
}

static void exposition_well_formed(void)
{
	struct jbuf b;
	jb_init(&b);
	render_sample(&b);
	const char *why = check_exposition(b.p);
	if (why)
		printf("exposition: %s\n", why);
	CHECK(why == NULL);
	jb_free(&b);
}

/* ---- 10,000 targets: time and size (information, not assertions) ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void gzip_info(const char *p, size_t n, int level)
{
	uLongf cap = compressBound((uLong)n) + 64;
	unsigned char *out = malloc(cap);
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (!out || deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(out);
		return;
	}
	double t0 = now_s();
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	double t1 = now_s();
	if (rc == Z_STREAM_END)
		printf("info: gzip level %d: %.1f MB -> %.2f MB (%.1f:1) in %.1f ms\n", level,
		       (double)n / 1e6, (double)z.total_out / 1e6,
		       (double)n / (double)z.total_out, (t1 - t0) * 1e3);
	deflateEnd(&z);
	free(out);
}

static void render_10k_targets(void)
{
	enum { N = 10000 };
	struct tset s = { .n = N, .t = calloc(N, sizeof(struct target)) };
	CHECK(s.t != NULL);
	uint64_t ts = 1712345678000000000ULL;
	for (size_t i = 0; i < N; i++) {
		char name[32], host[32];
		snprintf(name, sizeof(name), "target-%05zu", i);
		snprintf(host, sizeof(host), "10.%zu.%zu.%zu", i >> 16, (i >> 8) & 255, i & 255);
		target_init(&s.t[i], name, host, i % 10 == 9 ? PROBE_SYN : PROBE_HANDSHAKE, 443);
		s.t[i].addr.family = AF_INET;
		memcpy(s.t[i].addr.a, (uint8_t[]){ 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
						    (uint8_t)i }, 4);
		for (int k = 0; k < 20; k++)
			record(&s.t[i], k == 7 ? RESULT_TIMEOUT : RESULT_OK,
			       s.t[i].cfg.opts.kind == PROBE_HANDSHAKE && k != 7 ? CLOSE_OK
										     : CLOSE_NONE,
			       100000 + (i * 7919 + (size_t)k * 104729) % 50000000, ts + (uint64_t)k,
			       default_bounds, NDEF);
	}
	struct registry_status st;
	memset(&st, 0, sizeof(st));
	st.version = "0.1.0";
	st.targets = N;

	struct jbuf b;
	jb_init(&b);
	double best = 1e9;
	size_t lines = 0;
	for (int rep = 0; rep < 5; rep++) {
		jb_reset(&b);
		double t0 = now_s();
		metrics_render_status(&b, &st);
		metrics_render_targets(&b, tset_at, &s, s.n, default_bounds, NDEF);
		double t1 = now_s();
		if (t1 - t0 < best)
			best = t1 - t0;
		CHECK(!b.oom);
	}
	for (const char *p = b.p; (p = strchr(p, '\n')); p++)
		lines++;
	printf("info: 10,000 targets (9,000 handshake, 1,000 syn, %u buckets): %.1f MB, "
	       "%zu lines, rendered in %.1f ms (best of 5)\n",
	       NDEF, (double)b.len / 1e6, lines, best * 1e3);
	gzip_info(b.p, b.len, 1);
	gzip_info(b.p, b.len, 6);
	const char *why = check_exposition(b.p);
	if (why)
		printf("exposition: %s\n", why);
	CHECK(why == NULL);
	jb_free(&b);
	tset_free(&s);
}

int main(void)
{
	RUN(format_u64);
	RUN(format_double_cases);
	RUN(format_double_round_trip);
	RUN(format_ns);
	RUN(label_escaping);
	RUN(family_header);
	RUN(bounds_default);
	RUN(histogram_cumulative);
	RUN(families_rendered);
	RUN(render_in_pieces);
	RUN(exposition_well_formed);
	RUN(render_10k_targets);
	return CHECK_EXIT();
}
