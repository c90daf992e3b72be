/* statuspage.c: the status page's pages and their HTTP (see statuspage.h);
 * the charts they embed are statuspage_svg.c's. Every page is rendered
 * on the loop into one buffer and handed to evhttp, as /metrics is. Every
 * string that comes from a config, a discovery source or the network goes
 * through h_esc() (HTML) or h_url() (a path segment); the CSP allows only
 * the page's own stylesheet, so an injected tag could not run or load
 * anything even if escaping missed one. */
#include "statuspage.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#include "registry.h"
#include "json.h"
#include "labels.h"
#include "log.h"
#include "outcome.h"
#include "report.h"
#include "series.h"
#include "targets.h"
#include "statuspage_priv.h"
#include "timens.h"
#include "views.h"

/* Strict: nothing but our own stylesheet; no script, no frames, no form
 * posting elsewhere. SVG presentation attributes are not style and pass. */
#define SP_CSP "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " \
	       "base-uri 'none'; frame-ancestors 'none'"

#define SP_PAGE_DEFAULT 500  /* overview rows per page */
#define SP_PAGE_MAX 2000 /* 2,000 rows render in about 100 ms (make bench) */
#define SP_LADDERS_DEFAULT 5 /* ladder diagrams on a target's page */

/* ---- the page frame (statuspage_priv.h writes the rest of the HTML) ------ */

static void head(struct jbuf *j, const char *title)
{
	h_raw(j, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		 "<meta name=\"viewport\" content=\"width=device-width\">"
		 "<link rel=\"stylesheet\" href=\"/style.css\"><title>");
	h_esc(j, title);
	h_raw(j, "</title></head>\n<body>\n");
}

static void foot(struct jbuf *j) { h_raw(j, "</body></html>\n"); }

/* ---- the query string --------------------------------------------------- */

struct query {
	struct evkeyvalq kv;
	bool parsed;
};

static void query_parse(struct query *q, const char *s)
{
	TAILQ_INIT(&q->kv);
	q->parsed = s && *s && evhttp_parse_query_str(s, &q->kv) == 0;
}

static const char *query_get(const struct query *q, const char *k)
{
	const char *v = q->parsed ? evhttp_find_header(&q->kv, k) : NULL;
	return v ? v : "";
}

static unsigned query_uint(const struct query *q, const char *k, unsigned def, unsigned max)
{
	const char *v = query_get(q, k);
	char *end;
	unsigned long u = strtoul(v, &end, 10);
	if (!*v || *end || u > max)
		return def;
	return (unsigned)u;
}

/* Whether or not the parse succeeded: a failed one may have added some. */
static void query_free(struct query *q) { evhttp_clear_headers(&q->kv); }

/* ---- the overview ------------------------------------------------------- */

static bool has_label(const struct target *t, const char *want)
{
	if (!*want)
		return true;
	const char *eq = strchr(want, '=');
	size_t kl = eq ? (size_t)(eq - want) : strlen(want);
	const char *p = t->cfg.labels, *k, *v;
	while ((p = labels_next(p, &k, &v)))
		if (strlen(k) == kl && !strncmp(k, want, kl) && (!eq || !strcmp(v, eq + 1)))
			return true;
	return false;
}

static const char *last_result(const struct target *t)
{
	return t->st.probes ? probe_result_str((enum probe_result)t->st.last_result) : "none";
}


static void labels_cell(struct jbuf *j, const struct target *t)
{
	const char *p = t->cfg.labels, *k, *v;
	bool first = true;
	while ((p = labels_next(p, &k, &v))) {
		h_raw(j, first ? "<span class=\"label\">" : " <span class=\"label\">");
		h_esc(j, k);
		h_raw(j, "=");
		h_esc(j, v);
		h_raw(j, "</span>");
		first = false;
	}
}

static void rtt_cell(struct jbuf *j, uint64_t ns)
{
	char d[32];
	h_raw(j, "<td class=\"num\">");
	h_raw(j, ns ? dur_str(ns, d, sizeof(d)) : "–");
	h_raw(j, "</td>");
}

static void overview_row(struct jbuf *j, const struct target *t, const struct daemon_cfg *dc,
			 uint64_t now)
{
	char a[64], d[32];
	const struct target_stats *s = &t->st;
	const char *res = last_result(t);
	bool up = s->probes && probe_up(t->cfg.opts.kind, (enum probe_result)s->last_result);
	h_fmt(j, "<tr class=\"%s\"><td class=\"name\"><a href=\"/target/",
	      !s->probes ? "none" : up ? "up" : "down");
	h_url(j, t->cfg.name);
	h_raw(j, "\">");
	h_esc(j, t->cfg.name);
	h_raw(j, "</a></td><td>");
	labels_cell(j, t);
	h_raw(j, "</td><td>");
	h_esc(j, t->cfg.host);
	if (t->addr.family && strcmp(t->cfg.host, pkt_addr_str(&t->addr, a, sizeof(a)))) {
		h_raw(j, " (");
		h_esc(j, a);
		h_raw(j, ")");
	}
	h_fmt(j, ":%u</td><td>%s</td><td class=\"state\">%s</td><td class=\"result\">%s</td>",
	      t->cfg.opts.port, probe_kind_str(t->cfg.opts.kind), target_state(t), res);
	rtt_cell(j, s->last_rtt_ns);
	double p50 = hist_quantile(target_phase(s, PHASE_HANDSHAKE), dc->buckets, dc->n_buckets, 0.5);
	h_raw(j, "<td class=\"num\">");
	h_raw(j, isnan(p50) ? "–" : dur_str((uint64_t)(p50 * 1e9), d, sizeof(d)));
	h_raw(j, "</td><td class=\"num\">");
	uint64_t lost = 0;
	for (unsigned r = 0; r < RESULT_COUNT; r++)
		if (probe_outcome(t->cfg.opts.kind, (enum probe_result)r) == OUTCOME_UNANSWERED)
			lost += s->by_result[r];
	if (s->probes)
		h_fmt(j, "%.1f%%", 100.0 * (double)lost / (double)s->probes);
	else
		h_raw(j, "–");
	h_fmt(j, "</td><td class=\"num\">%" PRIu64 "</td><td>", s->probes);
	sp_sparkline(j, t, now, dc->status_bucket_ns);
	h_raw(j, "</td></tr>\n");
}

static bool row_matches(const struct target *t, const char *name, const char *label,
			const char *state, const char *result)
{
	return (!*name || strstr(t->cfg.name, name)) && has_label(t, label) &&
	       (!*state || !strcmp(state, target_state(t))) &&
	       (!*result || !strcmp(result, last_result(t)));
}

/* A link to page p of the overview with the same filters. */
static void page_link(struct jbuf *j, const struct query *q, unsigned p, unsigned per,
		      const char *text)
{
	static const char *const keep[] = { "name", "label", "state", "result" };
	h_fmt(j, "<a href=\"/?page=%u&amp;n=%u", p, per);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const char *v = query_get(q, keep[i]);
		if (*v) {
			h_fmt(j, "&amp;%s=", keep[i]);
			h_url(j, v);
		}
	}
	h_fmt(j, "\">%s</a>", text);
}

static void filter_input(struct jbuf *j, const char *name, const char *v, const char *hint)
{
	h_fmt(j, "<label>%s <input name=\"%s\" value=\"", name, name);
	h_esc(j, v);
	h_fmt(j, "\" placeholder=\"%s\"></label> ", hint);
}

void statuspage_overview(struct registry *reg, const char *qs, struct jbuf *j)
{
	struct query q;
	query_parse(&q, qs);
	const char *name = query_get(&q, "name"), *label = query_get(&q, "label");
	const char *state = query_get(&q, "state"), *result = query_get(&q, "result");
	unsigned per = query_uint(&q, "n", SP_PAGE_DEFAULT, SP_PAGE_MAX);
	unsigned page = query_uint(&q, "page", 1, 1000000);
	per = per ? per : SP_PAGE_DEFAULT;
	page = page ? page : 1;
	const struct daemon_cfg *dc = &registry_config(reg)->d;
	struct registry_status st;
	registry_status(reg, &st);

	head(j, "tcpprobe status");
	h_fmt(j, "<header><h1>tcpprobe</h1><p>version %s, up %" PRIu64 " s, %zu targets "
		 "(%zu paused), %" PRIu64 " probes in flight. <a href=\"/metrics\">metrics</a> "
		 "<a href=\"/api/targets\">JSON</a></p></header>\n",
	      st.version, st.now_ns > st.start_ns ? (st.now_ns - st.start_ns) / 1000000000u : 0,
	      st.targets, st.paused, st.eng.inflight);
	h_raw(j, "<form method=\"get\" action=\"/\" class=\"filter\">");
	filter_input(j, "name", name, "part of a name");
	filter_input(j, "label", label, "key=value");
	filter_input(j, "state", state, "ok, paused, error");
	filter_input(j, "result", result, "ok, timeout, ...");
	h_raw(j, "<button type=\"submit\">filter</button> <a href=\"/\">all</a></form>\n");
	h_raw(j, "<table class=\"targets\"><thead><tr><th>target</th><th>labels</th>"
		 "<th>host:port</th><th>kind</th><th>state</th><th>last result</th>"
		 "<th>last RTT</th><th>p50 RTT</th><th>loss</th><th>probes</th>"
		 "<th>last hour (RTT, loss)</th></tr></thead>\n<tbody>\n");
	size_t n = registry_target_count(reg), matched = 0, from = (size_t)(page - 1) * per;
	for (size_t i = 0; i < n; i++) {
		const struct target *t = registry_target_at(reg, i);
		if (!t || t->removed || !row_matches(t, name, label, state, result))
			continue;
		if (matched >= from && matched < from + per)
			overview_row(j, t, dc, st.now_ns);
		matched++;
	}
	h_raw(j, "</tbody></table>\n<p class=\"pages\">");
	size_t pages = matched ? (matched + per - 1) / per : 1;
	h_fmt(j, "%zu targets match; page %u of %zu. ", matched, page, pages);
	if (page > 1)
		page_link(j, &q, page - 1, per, "previous");
	if (page < pages) {
		h_raw(j, " ");
		page_link(j, &q, page + 1, per, "next");
	}
	h_raw(j, "</p>\n");
	foot(j);
	query_free(&q);
}

/* One choice of the scale or window toggle: bold when it is the current
 * one (cur), else a link to the page with it, keeping the other choice. */
static void toggle(struct jbuf *j, const struct target *t, bool linear, bool day, unsigned n,
		   const char *cur, const char *anchor)
{
	const char *scale = linear ? "linear" : "compressed", *window = day ? "1d" : "1h";
	const char *mine = !strcmp(anchor, "graph") ? window : scale;
	if (!strcmp(mine, cur)) {
		h_fmt(j, "<b>%s</b> ", mine);
		return;
	}
	h_raw(j, "<a href=\"/target/");
	h_url(j, t->cfg.name);
	h_fmt(j, "?scale=%s&amp;window=%s&amp;n=%u#%s\">%s</a> ", scale, window, n, anchor, mine);
}

void statuspage_target(struct registry *reg, const struct target *t, const char *qs, struct jbuf *j)
{
	struct query q;
	query_parse(&q, qs);
	const struct daemon_cfg *dc = &registry_config(reg)->d;
	bool linear = !strcmp(query_get(&q, "scale"), "linear");
	bool day = !strcmp(query_get(&q, "window"), "1d");
	unsigned n = query_uint(&q, "n", SP_LADDERS_DEFAULT, 1000);
	const struct target_stats *s = &t->st;
	char a[64];

	head(j, t->cfg.name);
	h_raw(j, "<header><p><a href=\"/\">all targets</a></p><h1>");
	h_esc(j, t->cfg.name);
	h_raw(j, "</h1>\n<table class=\"info\"><tr><th>host</th><td>");
	h_esc(j, t->cfg.host);
	h_fmt(j, "</td></tr><tr><th>address</th><td>%s</td></tr>",
	      t->addr.family ? pkt_addr_str(&t->addr, a, sizeof(a)) : "–");
	h_fmt(j, "<tr><th>port, kind</th><td>%u, %s</td></tr><tr><th>state</th><td>%s",
	      t->cfg.opts.port, probe_kind_str(t->cfg.opts.kind), target_state(t));
	if (target_msg_has(t->error)) {
		h_raw(j, ": ");
		h_esc(j, t->error);
	}
	h_raw(j, "</td></tr><tr><th>labels</th><td>");
	labels_cell(j, t);
	h_fmt(j, "</td></tr><tr><th>probes</th><td>%" PRIu64 ", last result %s</td></tr></table>"
		 "<p><a href=\"/api/target/",
	      s->probes, last_result(t));
	h_url(j, t->cfg.name);
	h_raw(j, "\">JSON</a></p></header>\n");

	h_raw(j, "<h2>Last probes</h2>\n<p class=\"toggle\">scale: ");
	toggle(j, t, false, day, n, linear ? "linear" : "compressed", "probes");
	toggle(j, t, true, day, n, linear ? "linear" : "compressed", "probes");
	h_raw(j, "</p>\n<div id=\"probes\">\n");
	unsigned shown = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct hist_entry *h = target_history(t, i);
		if (!h)
			break;
		sp_ladder(j, t, h, linear);
		shown++;
	}
	if (!shown)
		h_raw(j, "<p>No probe recorded yet.</p>\n");
	h_raw(j, "</div>\n<h2>Handshake RTT over time</h2>\n<p class=\"toggle\">window: ");
	toggle(j, t, linear, false, n, day ? "1d" : "1h", "graph");
	toggle(j, t, linear, true, n, day ? "1d" : "1h", "graph");
	char bw[32];
	h_fmt(j, "(buckets of %s)</p>\n<div id=\"graph\">",
	      config_duration_str(dc->status_bucket_ns, bw, sizeof(bw)));
	struct registry_status st;
	registry_status(reg, &st);
	sp_smoke_graph(j, t, st.now_ns, dc->status_bucket_ns, day);
	h_raw(j, "</div>\n<h2>Phase histograms</h2>\n");
	sp_phase_histograms(j, t, dc);
	foot(j);
	query_free(&q);
}

/* ---- HTTP ---------------------------------------------------------------- */

static const char style_css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222;background:#fff}\n"
	"h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.5em}\n"
	"table.targets{border-collapse:collapse}table.targets td,table.targets th{padding:2px 8px;"
	"border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}\n"
	"td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
	"tr.up td.result{color:#176f2c}tr.down td.result{color:#b00020;font-weight:bold}\n"
	".label{background:#eef;border-radius:3px;padding:0 3px;font-size:.9em}\n"
	".filter{margin:.5em 0 1em}.filter input{width:10em}\n"
	"svg text{font:11px system-ui,sans-serif;fill:#222}\n"
	".spark .rtt{fill:none;stroke:#1f5fbf;stroke-width:1.5}.spark .lost{fill:#d33}\n"
	".ladder .axis{stroke:#888;stroke-width:2}.ladder .col{font-weight:bold;text-anchor:middle}\n"
	".ladder line{stroke:#222;stroke-width:1.2}.ladder .in line{stroke:#1f5fbf}\n"
	".ladder .icmp line{stroke:#d33}.ladder .retx line{stroke:#e07000}\n"
	".ladder .lbl{text-anchor:middle}.ladder .t{text-anchor:end;fill:#666}\n"
	".ladder .state{text-anchor:end;font-weight:bold}.ladder .ev circle{fill:#e07000}\n"
	".ladder .phase path{fill:none;stroke:#176f2c;stroke-width:1.5}\n"
	".ladder marker path{fill:#222}\n"
	".smoke .grid{stroke:#eee}.smoke .ytick{text-anchor:end}.smoke .b90{fill:#ddd}\n"
	".smoke .b50{fill:#aaa}.smoke .median{stroke-width:2}\n"
	".l0{stroke:#0a0;color:#0a0;fill:#0a0}.l1{stroke:#00f;color:#00f;fill:#00f}\n"
	".l2{stroke:#a0f;color:#a0f;fill:#a0f}.l3{stroke:#f0a;color:#f0a;fill:#f0a}\n"
	".l4{stroke:#d00;color:#d00;fill:#d00}.smoke rect.l4,.smoke rect.l3{opacity:.35}\n"
	".hists{display:flex;flex-wrap:wrap;gap:1em}.hist rect{fill:#1f5fbf}\n"
	".hist .end{text-anchor:end}figure{margin:.5em 0}\n";

static uint64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static void free_body(const void *data, size_t len, void *arg) { free((void *)(uintptr_t)data); }

/* Send j (taken over) with the page's headers; HEAD gets them without the
 * body. render_ns goes out as Server-Timing (the loop time it cost). */
static void send_page(struct evhttp_request *req, int code, const char *reason,
		      const char *ctype, struct jbuf *j, uint64_t render_ns)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	evhttp_add_header(oh, "Content-Type", ctype);
	evhttp_add_header(oh, "Content-Security-Policy", SP_CSP);
	evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(oh, "Referrer-Policy", "no-referrer");
	evhttp_add_header(oh, "Cache-Control", "no-store");
	char v[64];
	snprintf(v, sizeof(v), "render;dur=%.3f", (double)render_ns / 1e6);
	evhttp_add_header(oh, "Server-Timing", v);
	struct evbuffer *b = evbuffer_new();
	if (!b || j->oom) {
		jb_free(j);
		if (b)
			evbuffer_free(b);
		log_warnx("%s: out of memory rendering the status page", __func__);
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(v, sizeof(v), "%zu", j->len);
		evhttp_add_header(oh, "Content-Length", v);
		jb_free(j);
	} else if (j->len) {
		char *p = j->p;
		size_t len = j->len;
		jb_init(j);
		if (evbuffer_add_reference(b, p, len, free_body, NULL) < 0)
			free(p);
	}
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void send_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct jbuf j;
	jb_init(&j);
	h_raw(&j, text);
	send_page(req, code, reason, "text/plain; charset=utf-8", &j, 0);
}

/* The target name from the rest of the path, percent-decoded; NULL when
 * it is not a valid name. */
static struct target *path_target(struct registry *reg, const char *rest)
{
	char *name = evhttp_uridecode(rest, 0, NULL);
	struct target *t = name && config_name_valid(name) ? registry_target_find(reg, name) : NULL;
	free(name);
	return t && !t->removed ? t : NULL;
}

bool statuspage_serve(struct registry *reg, struct evhttp_request *req, const char *path)
{
	static const char tp[] = "/target/", ap[] = "/api/target/";
	bool page = !strcmp(path, "/") || !strncmp(path, tp, sizeof(tp) - 1) ||
		    !strcmp(path, "/api/targets") || !strncmp(path, ap, sizeof(ap) - 1) ||
		    !strcmp(path, "/style.css");
	if (!page || !registry_config(reg)->d.status_page)
		return false;
	enum evhttp_cmd_type c = evhttp_request_get_command(req);
	if (c != EVHTTP_REQ_GET && c != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		send_text(req, 405, "Method Not Allowed",
			  "405 method not allowed: the status page is read-only (GET, HEAD)\n");
		return true;
	}
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *qs = u ? evhttp_uri_get_query(u) : NULL;
	uint64_t t0 = mono_ns();
	struct jbuf j;
	jb_init(&j);
	if (!strcmp(path, "/style.css")) {
		h_raw(&j, style_css);
		send_page(req, 200, "OK", "text/css; charset=utf-8", &j, mono_ns() - t0);
	} else if (!strcmp(path, "/")) {
		statuspage_overview(reg, qs, &j);
		send_page(req, 200, "OK", "text/html; charset=utf-8", &j, mono_ns() - t0);
	} else if (!strcmp(path, "/api/targets")) {
		jb_obj(&j);
		jb_key(&j, "ok");
		jb_bool(&j, true);
		view_targets(&j, reg);
		jb_obj_end(&j);
		jb_append(&j, "\n", 1);
		send_page(req, 200, "OK", "application/json", &j, mono_ns() - t0);
	} else {
		bool api = !strncmp(path, ap, sizeof(ap) - 1);
		struct target *t = path_target(reg, path + (api ? sizeof(ap) : sizeof(tp)) - 1);
		if (!t && api) {
			jb_obj(&j);
			jb_key(&j, "ok");
			jb_bool(&j, false);
			jb_key(&j, "error");
			jb_str(&j, "no such target");
			jb_obj_end(&j);
			jb_append(&j, "\n", 1);
			send_page(req, 404, "Not Found", "application/json", &j, 0);
		} else if (!t) {
			jb_free(&j);
			send_text(req, 404, "Not Found", "404 no such target\n");
		} else if (api) {
			jb_obj(&j);
			jb_key(&j, "ok");
			jb_bool(&j, true);
			view_show(&j, reg, t);
			jb_obj_end(&j);
			jb_append(&j, "\n", 1);
			send_page(req, 200, "OK", "application/json", &j, mono_ns() - t0);
		} else {
			statuspage_target(reg, t, qs, &j);
			send_page(req, 200, "OK", "text/html; charset=utf-8", &j, mono_ns() - t0);
		}
	}
	log_debug("%s: %s rendered in %.1f ms", __func__, path, (double)(mono_ns() - t0) / 1e6);
	return true;
}

