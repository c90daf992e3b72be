/* test_views.c: one renderer per view. A result read back from its JSON
 * (what `tcpprobe ctl` receives) prints exactly as the report itself does
 * (what `tcpprobe probe` prints); the daemon's JSON always parses; the
 * status text comes from the status field table. */
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "check.h"
#include "json.h"
#include "report.h"
#include "views_text.h"

#define T0 1700000000123456789ull

static struct fsm_timeline tl;

static void add(uint8_t dir, uint8_t flags, uint64_t dt_ns, uint32_t seq, uint32_t ack,
		uint16_t len, uint8_t state)
{
	tl.e[tl.n++] = (struct fsm_tl_entry){ .t_ns = T0 + dt_ns, .dir = dir, .flags = flags,
					      .seq = seq, .ack = ack, .len = len, .state = state };
}

/* A handshake probe with everything a line and a trace can show. */
static struct probe_report handshake(void)
{
	struct probe_report r = {
		.dst = { .family = AF_INET6, .a = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 } },
		.sport = 40123, .dport = 8080, .kind = PROBE_HANDSHAKE, .result = RESULT_OK,
		.close_result = CLOSE_OK, .syn_retransmits = 1, .synack_seen = 2,
		.have_peer = true, .peer_ttl = 63, .peer_wscale = 7, .peer_mss = 1460,
		.peer_sack = true, .t_start = T0,
		.ph = { .connect = 1234567, .rtt_ambiguous = true, .close = 2345678, .fin_ack = 1000 },
	};
	memset(&tl, 0, sizeof(tl));
	add(TL_OUT, 0x02, 0, 0, 0, 0, TCPS_SYN_SENT);
	add(TL_TIMER, 0, 1000000, 0, 0, 0, TCPS_SYN_SENT);
	add(TL_OUT, 0x02, 1000001, 0, 0, 0, TCPS_SYN_SENT);
	add(TL_IN, 0x12, 1234567, 0, 1, 0, TCPS_ESTABLISHED);
	add(TL_OUT, 0x10, 1234600, 1, 1, 0, TCPS_ESTABLISHED);
	add(TL_USER, 1, 1300000, 1, 1, 0, TCPS_ESTABLISHED);
	add(TL_OUT, 0x11, 1300001, 1, 1, 5, TCPS_FIN_WAIT_1);
	tl.e[tl.n - 1].crossed = true;
	add(TL_UNSENT, 0x10, 1300002, 2, 1, 0, TCPS_FIN_WAIT_1);
	add(TL_ICMP, 3, 1300003, 0, 0, 0, TCPS_FIN_WAIT_1);
	tl.e[tl.n - 1].code = 3;
	add(TL_IN, 0x11, 2345678, 1, 2, 0, TCPS_TIME_WAIT);
	tl.dropped = 2;
	r.tl = &tl;
	return r;
}

/* report_line + report_trace of r, into buf. */
static void text_of(const struct probe_report *r, const char *target, char *buf, size_t len)
{
	FILE *f = fmemopen(buf, len, "w");
	report_line(f, target, 0, r);
	report_trace(f, r);
	fclose(f);
}

/* r as ctl gets it: report_json, parsed, and printed by views_text. */
static void ctl_text_of(const struct probe_report *r, const char *target, char *buf, size_t len)
{
	struct jbuf j;
	jb_init(&j);
	report_json(&j, target, r);
	json_t *o = json_loadb(j.p, j.len, 0, NULL);
	FILE *f = fmemopen(buf, len, "w");
	view_text_result(f, o, false, true);
	fclose(f);
	json_decref(o);
	jb_free(&j);
}

static void t_result_same_text(void)
{
	static char a[8192], b[8192];
	struct probe_report r = handshake();
	text_of(&r, "web", a, sizeof(a));
	ctl_text_of(&r, "web", b, sizeof(b));
	CHECK(strstr(a, "handshake [2001:db8::2]:8080 web sport=40123 ok") == a);
	CHECK(strstr(a, "(crossed)") && strstr(a, "ICMP type 3") && strstr(a, "not sent"));
	CHECK(strstr(a, "(2 more events not recorded)"));
	CHECK_STR(b, a);
}

static void t_result_errors_same_text(void)
{
	static char a[4096], b[4096];
	struct probe_report r = {
		.dst = { .family = AF_INET, .a = { 198, 51, 100, 7 } }, .dport = 443,
		.kind = PROBE_FIN, .result = RESULT_ERROR, .send_errno = EPERM, .peer_wscale = -1,
		.t_start = T0,
	};
	text_of(&r, "fw", a, sizeof(a));
	ctl_text_of(&r, "fw", b, sizeof(b));
	CHECK(strstr(a, " error (send: Operation not permitted)\n"));
	CHECK_STR(b, a);
	r.send_errno = 0;
	r.error = "no free source port";
	text_of(&r, "fw", a, sizeof(a));
	ctl_text_of(&r, "fw", b, sizeof(b));
	CHECK(strstr(a, " sport=0 error not_sent\n"));
	CHECK_STR(b, a);
	/* An ICMP answer, IPv4 names. */
	r = (struct probe_report){ .dst = r.dst, .dport = 443, .kind = PROBE_SYN,
				   .result = RESULT_UNREACHABLE, .have_icmp = true, .icmp_type = 3,
				   .icmp_code = 13, .peer_wscale = -1, .t_start = T0 };
	text_of(&r, "u", a, sizeof(a));
	ctl_text_of(&r, "u", b, sizeof(b));
	CHECK(strstr(a, " icmp=admin-prohibited(3/13)"));
	CHECK_STR(b, a);
}

/* The JSON of a report read back writes the same JSON. */
static void t_result_roundtrip(void)
{
	struct probe_report r = handshake();
	struct jbuf j1, j2;
	jb_init(&j1);
	jb_init(&j2);
	report_json(&j1, "web", &r);
	json_t *o = json_loadb(j1.p, j1.len, 0, NULL);
	struct report_decoded *d = malloc(sizeof(*d));
	CHECK(o && d);
	CHECK_EQ(report_from_json(o, d), 0);
	report_json(&j2, d->target, &d->r);
	json_decref(o);
	free(d);
	CHECK(j2.p);
	CHECK_STR(j2.p, j1.p);
	jb_free(&j1);
	jb_free(&j2);
}

static void t_seq_only_from_probe(void)
{
	char a[4096];
	struct probe_report r = handshake();
	FILE *f = fmemopen(a, sizeof(a), "w");
	report_line(f, "web", 3, &r);
	fclose(f);
	CHECK(strstr(a, " web seq=3 sport=40123 ok"));
}

/* Not JSON (kind unknown, not an object): refused, not guessed. */
static void t_result_bad(void)
{
	struct report_decoded d;
	json_t *o = json_loads("{\"kind\":\"nosuch\",\"result\":\"ok\",\"close\":\"none\","
			       "\"address\":\"192.0.2.1\"}", 0, NULL);
	CHECK(o);
	CHECK_EQ(report_from_json(o, &d), -1);
	json_decref(o);
	json_t *a = json_array();
	CHECK_EQ(report_from_json(a, &d), -1);
	json_decref(a);
}

/* Every labelled status row is printed, in the table's order, with values
 * in their formats; rows continue their line. */
static void t_status_text(void)
{
	json_t *o = json_object(), *mem = json_object();
	for (size_t i = 0; i < view_status_nfields; i++) {
		const struct view_field *f = &view_status_fields[i];
		json_t *into = f->group ? mem : o;
		json_object_set_new(into, f->key, f->fmt == VF_STR ? json_string(f->key)
								 : json_integer((json_int_t)i + 1));
	}
	json_object_set_new(o, "memory", mem);
	char buf[8192];
	FILE *fp = fmemopen(buf, sizeof(buf), "w");
	view_text_status(fp, o);
	fclose(fp);
	json_decref(o);
	const char *at = buf;
	for (size_t i = 0; i < view_status_nfields; i++) {
		const struct view_field *f = &view_status_fields[i];
		if (!f->label)
			continue;
		const char *p = strstr(at, f->label);
		CHECK(p);
		at = p;
	}
	CHECK(strstr(buf, "\nversion:") == NULL && strncmp(buf, "version:", 8) == 0);
	CHECK(strstr(buf, "\ntargets:             5 (6 paused)\n"));
	CHECK(strstr(buf, "\nuptime:              0m 2s\n"));
	CHECK(strstr(buf, "\nlog level:           log_level\n"));
}

/* buf has the line "label value" as kv lines are laid out. */
static bool has_line(const char *buf, const char *label, const char *value)
{
	char l[256];
	snprintf(l, sizeof(l), "\n%-20s %s\n", label, value);
	return strstr(buf, l) != NULL;
}

/* status: each discovery source and remote writer is a line named after
 * it, from its field table; file errors a line each; an empty last_error
 * no line. */
static void t_status_sources_text(void)
{
	json_t *o = json_pack("{s:s, s:i, s:[{s:s, s:i, s:i, s:i, s:i, s:i, s:[s, s], s:s},"
			      "{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:[], s:s}],"
			      "s:[{s:s, s:i, s:i, s:i, s:i, s:i, s:s}, {s:s, s:i, s:i, s:i, s:i, s:i, s:s}]}",
			      "shard", "1/3", "shard_skipped", 7, "discovery",
			      "name", "files", "targets", 12, "files", 3, "files_failing", 2,
			      "refreshes", 40, "errors", 5, "file_errors", "/sd/a.json: bad",
			      "/sd/b.yml: worse", "last_error", "/sd/b.yml: worse",
			      "name", "web", "url", "http://h/sd", "refresh_us", 99, "targets", 0,
			      "files", 1, "files_failing", 0, "refreshes", 1, "errors", 0,
			      "file_errors", "last_error", "",
			      "remote_write", "name", "r1", "sent_samples", 100, "queued_samples", 4,
			      "dropped_samples", 3, "rejected_samples", 2, "failed_requests", 1,
			      "last_error", "http://w: HTTP 500", "name", "r2", "sent_samples", 9,
			      "queued_samples", 0, "dropped_samples", 0, "rejected_samples", 0,
			      "failed_requests", 0, "last_error", "");
	CHECK(o);
	char buf[8192];
	FILE *fp = fmemopen(buf, sizeof(buf), "w");
	view_text_status(fp, o);
	fclose(fp);
	json_decref(o);
	CHECK(has_line(buf, "shard:", "1/3 (7 targets left to other shards)"));
	CHECK(has_line(buf, "discovery files:",
		       "12 targets from 3 files (2 failing), 40 reads, 5 errors"));
	CHECK(has_line(buf, "  error:", "/sd/a.json: bad"));
	CHECK(has_line(buf, "  error:", "/sd/b.yml: worse"));
	CHECK(has_line(buf, "discovery web:", "0 targets from 1 files (0 failing), 1 reads, 0 errors"));
	CHECK(has_line(buf, "remote_write r1:", "100 samples sent, 4 queued, 3 dropped (queue full), "
						"2 rejected, 1 failed requests"));
	CHECK(has_line(buf, "  last error:", "http://w: HTTP 500"));
	CHECK(has_line(buf, "remote_write r2:", "9 samples sent, 0 queued, 0 dropped (queue full), "
						"0 rejected, 0 failed requests"));
	/* One "last error" line (r1's), the web source's none. */
	const char *p = strstr(buf, "  last error:");
	CHECK(p && !strstr(p + 1, "  last error:"));
	CHECK(!strstr(strstr(buf, "discovery web:"), "  error:"));
}

/* show: optional rows and lines, and what null reads as. */
static void t_show_text(void)
{
	char buf[8192];
	json_t *o = json_loads(
		"{\"ok\":true,\"target\":{\"name\":\"n\",\"host\":\"h.example\","
		"\"labels\":{\"team\":\"net\"},\"address\":null,\"source\":null,"
		"\"resolved_at\":null,\"resolve_error\":\"no answer\",\"port\":80,"
		"\"kind\":\"syn\",\"state\":\"ok\",\"error\":null,\"config_line\":0,"
		"\"config\":{\"kind\":\"syn\",\"port\":80,\"sack\":true},\"probes\":0,"
		"\"expected\":1,\"inflight\":0,\"last_result\":null,\"last_rtt_us\":null,"
		"\"last_probe_time\":null,\"last_ok_time\":null,\"loss_pct\":null,"
		"\"failed_pct\":null,\"results\":{\"ok\":0,\"refused\":2},\"peer\":null,"
		"\"recent\":[]}}", 0, NULL);
	CHECK(o);
	FILE *fp = fmemopen(buf, sizeof(buf), "w");
	view_text_show(fp, o);
	fclose(fp);
	json_decref(o);
	CHECK(strncmp(buf, "target n\n", 9) == 0 && has_line(buf, "  host:", "h.example"));
	CHECK(has_line(buf, "  labels:", "team=net"));
	CHECK(has_line(buf, "  address:", "h.example:80"));
	CHECK(has_line(buf, "  resolved:", "never, last lookup: no answer"));
	CHECK(!strstr(buf, "error:"));
	CHECK(has_line(buf, "  config line:", "none (added at run time)"));
	CHECK(has_line(buf, "  options:", "kind=syn port=80 sack=yes"));
	CHECK(has_line(buf, "  probes:", "0 (1 expected, 0 in flight)"));
	CHECK(has_line(buf, "  last result:", "none, rtt -, at never"));
	CHECK(has_line(buf, "  results:", "ok=0 refused=2"));
	CHECK(has_line(buf, "  peer:", "not seen"));
	CHECK(has_line(buf, "  peer hops:", "-"));
	CHECK(!strstr(buf, "path"));
	CHECK(!strstr(buf, "recent results"));
	/* Set, the optional rows come back. */
	o = json_loads("{\"target\":{\"name\":\"n\",\"address\":\"192.0.2.1\",\"port\":80,"
		       "\"source\":\"192.0.2.9\",\"resolved_at\":null,\"resolve_error\":null,"
		       "\"error\":\"no route\",\"config_line\":7,"
		       "\"peer\":{\"mss\":1460,\"wscale\":null,\"sack\":true,\"ttl\":64},"
		       "\"peer_hops\":0,\"path\":[\"10.0.1.1\",null,\"198.18.9.2\"],"
		       "\"path_since\":1700000000,\"path_traced_time\":1700000060,"
		       "\"path_last_trace\":\"same\",\"path_changes\":0,\"path_changed_time\":null,"
		       "\"previous_path\":null}}",
		       0, NULL);
	CHECK(o);
	fp = fmemopen(buf, sizeof(buf), "w");
	view_text_show(fp, o);
	fclose(fp);
	json_decref(o);
	CHECK(has_line(buf, "  address:", "192.0.2.1:80 from 192.0.2.9"));
	CHECK(!strstr(buf, "resolved:"));
	CHECK(has_line(buf, "  error:", "no route"));
	CHECK(has_line(buf, "  config line:", "7"));
	CHECK(has_line(buf, "  peer:", "mss 1460, wscale -, sack yes, timestamps no, ttl 64"));
	CHECK(has_line(buf, "  peer hops:", "0"));
	char since[64], traced[64];
	report_time_str(1700000000ull * 1000000000ull, since, sizeof(since));
	report_time_str(1700000060ull * 1000000000ull, traced, sizeof(traced));
	char want[256];
	snprintf(want, sizeof(want), "10.0.1.1 * 198.18.9.2, since %s", since);
	CHECK(has_line(buf, "  path:", want));
	snprintf(want, sizeof(want), "%s (same)", traced);
	CHECK(has_line(buf, "  path traced:", want));
	CHECK(has_line(buf, "  path changes:", "0"));
	CHECK(!strstr(buf, "previous path"));
}

/* Bytes that are not UTF-8 (a file name, a label) still make JSON a strict
 * reader takes: each becomes U+FFFD. */
/* show over flows with path changes per flow: each flow's path line, and
 * a changes line (count, time, previous path) under a changed flow only. */
static void t_show_flows_path(void)
{
	char buf[8192];
	json_t *o = json_loads(
		"{\"target\":{\"name\":\"e4\",\"path\":null,\"path_changes\":1,"
		"\"flows\":[{\"flow\":1,\"source_port\":20000,\"probes\":3,\"lost\":0,"
		"\"loss_pct\":0,\"rtt_p50_us\":20,\"rtt_p99_us\":30,\"ttl\":61,\"worse\":[],"
		"\"path\":[\"10.0.1.1\",\"10.0.3.1\",\"198.18.9.2\"],"
		"\"previous_path\":[\"10.0.1.1\",null,\"10.0.3.1\",\"198.18.9.2\"],"
		"\"path_changes\":1,\"path_changed_time\":1700000000.5},"
		"{\"flow\":2,\"source_port\":20001,\"probes\":3,\"lost\":0,\"loss_pct\":0,"
		"\"rtt_p50_us\":20,\"rtt_p99_us\":30,\"ttl\":61,\"worse\":[],"
		"\"path\":[\"10.0.1.1\",\"10.0.2.1\",\"10.0.3.1\",\"198.18.9.2\"],"
		"\"previous_path\":null,\"path_changes\":0,\"path_changed_time\":null}]}}",
		0, NULL);
	CHECK(o);
	FILE *fp = fmemopen(buf, sizeof(buf), "w");
	view_text_show(fp, o);
	fclose(fp);
	json_decref(o);
	char when[64], line[512];
	report_time_str(1700000000500000000ull, when, sizeof(when));
	snprintf(line, sizeof(line), "\n        path: 10.0.1.1 10.0.3.1 198.18.9.2\n"
		 "        path changes: 1, last at %s, previous: 10.0.1.1 * 10.0.3.1 198.18.9.2\n",
		 when);
	CHECK(strstr(buf, line) != NULL);
	CHECK(strstr(buf, "\n        path: 10.0.1.1 10.0.2.1 10.0.3.1 198.18.9.2\n") != NULL);
	/* one changes line: flow 2's none */
	const char *c = strstr(buf, "\n        path changes: ");
	CHECK(c && !strstr(c + 1, "\n        path changes: "));
	CHECK(!strstr(buf, "\n  path:")); /* the target has no path of its own over flows */
}

static void t_json_utf8(void)
{
	struct jbuf j;
	jb_init(&j);
	jb_obj(&j);
	jb_key(&j, "s");
	jb_str(&j, "a\xff" "b\xc3" "c\xe2\x82" "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\x80");
	jb_obj_end(&j);
	json_error_t e;
	json_t *o = json_loadb(j.p, j.len, 0, &e);
	if (!o)
		printf("  jansson: %s in %s\n", e.text, j.p);
	CHECK(o);
	CHECK_STR(json_string_value(json_object_get(o, "s")),
		  "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd"
		  "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(o);
	jb_free(&j);
}

int main(void)
{
	RUN(t_result_same_text);
	RUN(t_result_errors_same_text);
	RUN(t_result_roundtrip);
	RUN(t_seq_only_from_probe);
	RUN(t_result_bad);
	RUN(t_status_text);
	RUN(t_show_text);
	RUN(t_show_flows_path);
	RUN(t_status_sources_text);
	RUN(t_json_utf8);
	return CHECK_EXIT();
}
