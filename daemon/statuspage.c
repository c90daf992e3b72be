/* statuspage.c: the status page (see statuspage.h). Every page is rendered
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
#include "views.h"

/* Strict: nothing but our own stylesheet; no script, no frames, no form
 * posting elsewhere. SVG presentation attributes are not style and pass. */
#define SP_CSP "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " \
	       "base-uri 'none'; frame-ancestors 'none'"

#define SP_PAGE_DEFAULT 500  /* overview rows per page */
#define SP_PAGE_MAX 2000 /* 2,000 rows render in about 100 ms (make bench) */
#define SP_LADDERS_DEFAULT 5 /* ladder diagrams on a target's page */

/* ---- writing HTML ------------------------------------------------------- */

static void h_raw(struct jbuf *j, const char *s) { jb_append(j, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void h_fmt(struct jbuf *j, const char *fmt, ...)
{
	char b[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n > 0)
		jb_append(j, b, (size_t)n < sizeof(b) ? (size_t)n : sizeof(b) - 1);
}

/* Text and attribute values: the five characters HTML gives meaning to. */
static void h_esc(struct jbuf *j, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		const char *rep;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		jb_append(j, run, (size_t)(s - run));
		h_raw(j, rep);
		run = s + 1;
	}
	jb_append(j, run, (size_t)(s - run));
}

/* A path segment or query value: unreserved characters as they are. */
static void h_url(struct jbuf *j, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			jb_append(j, s, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			jb_append(j, e, 3);
		}
	}
}

/* A duration as people read it, to the nanosecond below 1 ms and to the
 * microsecond above (the ladder's phase labels are checked against the
 * JSON to 1 us). */
static const char *dur_str(uint64_t ns, char *b, size_t n)
{
	if (ns < 1000000u)
		snprintf(b, n, "%.3f µs", (double)ns / 1e3);
	else if (ns < 1000000000u)
		snprintf(b, n, "%.3f ms", (double)ns / 1e6);
	else
		snprintf(b, n, "%.6f s", (double)ns / 1e9);
	return b;
}

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

/* How many buckets cover `window` ns (at least 1, at most the ring). */
static unsigned window_buckets(uint64_t window, uint64_t width)
{
	uint64_t k = (window + width - 1) / width;
	return k < 1 ? 1 : k > SERIES_LEN ? SERIES_LEN : (unsigned)k;
}

/* The last hour in 120x24 px: the median RTT as a line (scaled to the
 * hour's highest median), lost probes as red bars from the bottom. */
static void sparkline(struct jbuf *j, const struct target *t, uint64_t now, uint64_t width)
{
	const struct series *s = &t->series;
	unsigned k = window_buckets(3600000000000ULL, width);
	uint64_t newest = now / width;
	double max = 0;
	uint64_t n = 0, lost = 0;
	for (unsigned i = 0; i < k; i++) {
		const struct series_bucket *b = series_at(s, newest, i);
		if (!b)
			continue;
		n += b->count;
		lost += b->lost;
		double m = series_ns(b->q[2]);
		max = m > max ? m : max;
	}
	char d[32];
	h_raw(j, "<svg class=\"spark\" width=\"120\" height=\"24\" viewBox=\"0 0 120 24\">");
	h_fmt(j, "<title>last hour: %" PRIu64 " probes, %" PRIu64 " lost, highest median %s</title>",
	      n, lost, max > 0 ? dur_str((uint64_t)max, d, sizeof(d)) : "none");
	double w = 120.0 / k;
	bool pen = false;
	for (unsigned i = 0; i < k; i++) {
		const struct series_bucket *b = series_at(s, newest, k - 1 - i);
		if (b && b->lost)
			h_fmt(j, "<rect class=\"lost\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>",
			      i * w, 24 - 22.0 * b->lost / b->count, w, 22.0 * b->lost / b->count);
	}
	for (unsigned i = 0; i < k; i++) {
		const struct series_bucket *b = series_at(s, newest, k - 1 - i);
		if (!b || !b->q[2]) {
			pen = false;
			continue;
		}
		double y = 22 - 20 * series_ns(b->q[2]) / max;
		if (!pen)
			h_raw(j, "<path class=\"rtt\" d=\"");
		else
			h_raw(j, " ");
		h_fmt(j, "%c%.1f %.1f L%.1f %.1f", pen ? 'L' : 'M', i * w, y, (i + 1) * w, y);
		/* Close the path where the next bucket has no sample. */
		const struct series_bucket *nb = i + 1 < k ? series_at(s, newest, k - 2 - i) : NULL;
		pen = nb && nb->q[2];
		if (!pen)
			h_raw(j, "\"/>");
	}
	h_raw(j, "</svg>");
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
	sparkline(j, t, now, dc->status_bucket_ns);
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

/* ---- the ladder diagram ------------------------------------------------- */

/* Geometry (px): time and state columns, then client and server axes. */
enum { L_CLIENT = 250, L_SERVER = 560, L_WIDTH = 860, L_TOP = 40, L_LINEAR_H = 560 };

struct ladder {
	unsigned n;
	double t_us[FSM_TL_MAX]; /* from the probe's start, as the JSON's t_us */
	double y[FSM_TL_MAX];
	const struct fsm_tl_entry *e[FSM_TL_MAX];
};

/* y at any time: between events linear in time (the compressed scale is
 * piecewise linear), outside them extended by the nearest step. */
static double ladder_y(const struct ladder *l, double t)
{
	if (!l->n)
		return L_TOP;
	if (t <= l->t_us[0])
		return l->y[0];
	for (unsigned i = 1; i < l->n; i++)
		if (t <= l->t_us[i] && l->t_us[i] > l->t_us[i - 1])
			return l->y[i - 1] + (l->y[i] - l->y[i - 1]) * (t - l->t_us[i - 1]) /
						     (l->t_us[i] - l->t_us[i - 1]);
	return l->y[l->n - 1] + 12;
}

static void ladder_layout(struct ladder *l, const struct probe_report *r, bool linear)
{
	uint8_t order[FSM_TL_MAX];
	l->n = r->tl ? fsm_timeline_order(r->tl, order) : 0;
	for (unsigned i = 0; i < l->n; i++) {
		const struct fsm_tl_entry *e = &r->tl->e[order[i]];
		l->e[i] = e;
		l->t_us[i] = e->t_ns >= r->t_start ? (double)(e->t_ns - r->t_start) / 1e3
						   : -(double)(r->t_start - e->t_ns) / 1e3;
	}
	if (!l->n)
		return;
	double span = l->t_us[l->n - 1] - l->t_us[0];
	for (unsigned i = 0; i < l->n; i++) {
		if (linear) {
			l->y[i] = L_TOP + (span > 0 ? (l->t_us[i] - l->t_us[0]) / span * L_LINEAR_H : 0);
		} else {
			/* Every event its own row; a gap grows with the log of its
			 * length, so 40 us and 200 ms both stay readable. */
			double dt = i ? l->t_us[i] - l->t_us[i - 1] : 0;
			l->y[i] = i ? l->y[i - 1] + 26 + 16 * log10(1 + (dt > 0 ? dt : 0)) : L_TOP;
		}
	}
}

static bool is_seg(const struct fsm_tl_entry *e)
{
	return e->dir == TL_OUT || e->dir == TL_IN || e->dir == TL_UNSENT || e->dir == TL_ICMP;
}

/* Index of the first event at or after `from` satisfying the test, or -1. */
static int find_dir_flags(const struct ladder *l, int from, uint8_t dir, uint8_t flags)
{
	for (unsigned i = from < 0 ? 0 : (unsigned)from; i < l->n; i++)
		if (l->e[i]->dir == dir && (l->e[i]->flags & flags) == flags)
			return (int)i;
	return -1;
}

static int find_state(const struct ladder *l, int from, uint8_t state)
{
	for (unsigned i = from < 0 ? 0 : (unsigned)from; i < l->n; i++)
		if (l->e[i]->state == state && (!i || l->e[i - 1]->state != state))
			return (int)i;
	return -1;
}

static void bracket(struct jbuf *j, const struct ladder *l, const char *cls, int col, int a,
		    int b, const char *label, uint64_t ns, bool open_end)
{
	if (a < 0 || (b < 0 && !open_end))
		return;
	char dbuf[32];
	double y0 = l->y[a], y1 = b >= 0 ? l->y[b] : l->y[l->n - 1] + 40;
	/* Column 0 holds the phases that follow each other, column 1 the
	 * close, which spans several of them. */
	int x = L_SERVER + 30 + col * 130;
	h_fmt(j, "<g class=\"phase\" data-phase=\"%s\"><path d=\"M%d %.2f h6 V%.2f h-6\"%s/>", cls,
	      x - 6, y0, y1, open_end ? " stroke-dasharray=\"4 3\"" : "");
	h_fmt(j, "<text x=\"%d\" y=\"%.2f\">%s %s</text></g>\n", x + 8, (y0 + y1) / 2 + 4, label,
	      ns ? dur_str(ns, dbuf, sizeof(dbuf)) : "");
}

static void ladder_phases(struct jbuf *j, const struct ladder *l, const struct probe_report *r,
			  uint64_t time_wait_ns)
{
	const struct fsm_phases *ph = &r->ph;
	int synack = find_dir_flags(l, 0, TL_IN, PKT_SYN | PKT_ACK);
	/* The handshake runs from the SYN the SYN/ACK answered: the last one
	 * sent before it (Karn: an RTT only when there was one). */
	int syn = -1;
	for (int i = 0; i < synack; i++)
		if (l->e[i]->dir == TL_OUT && (l->e[i]->flags & PKT_SYN))
			syn = i;
	if (synack >= 0)
		bracket(j, l, "handshake", 0, syn, synack, ph->handshake ? "handshake" : "connect",
			ph->handshake ? ph->handshake : ph->connect, false);
	int fin = find_dir_flags(l, 0, TL_OUT, PKT_FIN);
	int fw2 = find_state(l, fin, TCPS_FIN_WAIT_2);
	int tw = find_state(l, 0, TCPS_TIME_WAIT);
	if (fin >= 0 && ph->fin_ack) {
		int acked = fw2 >= 0 ? fw2 : tw;
		if (acked < 0) /* simultaneous close: CLOSING, then TIME_WAIT */
			acked = find_state(l, fin, TCPS_CLOSED);
		bracket(j, l, "fin_ack", 0, fin, acked, "FIN→ACK", ph->fin_ack, false);
	}
	if (fw2 >= 0 && tw > fw2 && ph->fin_wait_2)
		bracket(j, l, "fin_wait_2", 0, fw2, tw, "FIN_WAIT_2", ph->fin_wait_2, false);
	if (tw >= 0)
		bracket(j, l, "time_wait", 0, tw, -1, "TIME_WAIT", time_wait_ns, true);
	if (ph->close) {
		int start = fin >= 0 ? fin : find_dir_flags(l, 0, TL_IN, PKT_FIN);
		int end = tw >= 0 ? tw : find_state(l, start, TCPS_CLOSED);
		bracket(j, l, "close", 1, start, end, "close", ph->close, false);
	}
}

static void ladder_arrow(struct jbuf *j, const struct ladder *l, unsigned i, double owd_us,
			 const struct probe_report *r, unsigned *syn_out, unsigned *fin_out)
{
	const struct fsm_tl_entry *e = l->e[i];
	char fl[16];
	double yc = l->y[i];
	bool out = e->dir == TL_OUT || e->dir == TL_UNSENT;
	/* The server end: one way later (ours) or earlier (theirs), half the
	 * measured RTT, but no later than halfway to the next segment coming
	 * back (no earlier than halfway from the last one sent), so that one
	 * slow handshake does not cross the rungs of a fast close; at least a
	 * few pixels, so the direction shows. */
	double ts = l->t_us[i] + (out ? owd_us : -owd_us);
	for (unsigned k = i + 1; out && k < l->n; k++)
		if (l->e[k]->dir == TL_IN || l->e[k]->dir == TL_ICMP) {
			ts = fmin(ts, (l->t_us[i] + l->t_us[k]) / 2);
			break;
		}
	for (unsigned k = i; !out && k-- > 0;)
		if (l->e[k]->dir == TL_OUT) {
			ts = fmax(ts, (l->t_us[i] + l->t_us[k]) / 2);
			break;
		}
	double ys = ladder_y(l, ts);
	if (fabs(ys - yc) < 4)
		ys = yc + (out ? 4 : -4);
	const char *cls = e->dir == TL_OUT ? "out" : e->dir == TL_IN ? "in" :
			  e->dir == TL_UNSENT ? "unsent" : "icmp";
	const char *note = "";
	if (e->dir == TL_OUT && (e->flags & PKT_SYN) && (*syn_out)++)
		note = " retransmit";
	else if (e->dir == TL_OUT && (e->flags & PKT_FIN) && (*fin_out)++)
		note = " retransmit";
	h_fmt(j, "<g class=\"seg %s%s%s\" data-t-us=\"%.3f\">", cls, *note ? " retx" : "",
	      e->crossed ? " crossed" : "", l->t_us[i]);
	if (out)
		h_fmt(j, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" marker-end=\"url(#ah)\"%s/>",
		      L_CLIENT, yc, L_SERVER, ys,
		      e->dir == TL_UNSENT ? " stroke-dasharray=\"5 4\"" : "");
	else
		h_fmt(j, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" marker-end=\"url(#ah)\"/>",
		      L_SERVER, ys, L_CLIENT, yc);
	h_fmt(j, "<text class=\"lbl\" x=\"%d\" y=\"%.2f\">", (L_CLIENT + L_SERVER) / 2,
	      (yc + ys) / 2 - 5);
	if (e->dir == TL_ICMP) {
		h_fmt(j, "ICMP %s", report_icmp_str(r->dst.family, e->flags, e->code));
	} else {
		h_fmt(j, "%s seq=%u ack=%u", pkt_flags_str(e->flags, fl, sizeof(fl)), e->seq, e->ack);
		if (e->len)
			h_fmt(j, " len=%u", e->len);
	}
	h_fmt(j, "%s%s%s</text></g>\n", note, e->dir == TL_UNSENT ? " not sent" : "",
	      e->crossed ? " crossed" : "");
}

static void ladder(struct jbuf *j, const struct target *t, const struct hist_entry *h,
		   bool linear)
{
	const struct probe_report *r = &h->r;
	struct ladder l;
	ladder_layout(&l, r, linear);
	double height = (l.n ? l.y[l.n - 1] : L_TOP) + 70;
	uint64_t owd_ns = (r->ph.handshake ? r->ph.handshake : r->ph.connect) / 2;
	struct tm tm;
	time_t sec = (time_t)(r->t_start / 1000000000u);
	gmtime_r(&sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	h_fmt(j, "<figure class=\"probe\"><figcaption>%s.%06u UTC, source port %u: <b>%s</b>, "
		 "close %s</figcaption>\n",
	      when, (unsigned)(r->t_start % 1000000000u / 1000u), r->sport,
	      probe_result_str((enum probe_result)r->result),
	      close_result_str((enum close_result)r->close_result));
	h_fmt(j, "<svg class=\"ladder\" data-scale=\"%s\" width=\"%d\" height=\"%.0f\" "
		 "viewBox=\"0 0 %d %.0f\" data-client-x=\"%d\" data-server-x=\"%d\">\n",
	      linear ? "linear" : "compressed", L_WIDTH, height, L_WIDTH, height, L_CLIENT,
	      L_SERVER);
	h_raw(j, "<defs><marker id=\"ah\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
		 "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">"
		 "<path d=\"M0 0 L10 5 L0 10 z\"/></marker></defs>\n");
	h_fmt(j, "<text class=\"col\" x=\"%d\" y=\"20\">client</text>"
		 "<text class=\"col\" x=\"%d\" y=\"20\">server</text>\n",
	      L_CLIENT, L_SERVER);
	h_fmt(j, "<line class=\"axis\" x1=\"%d\" y1=\"28\" x2=\"%d\" y2=\"%.0f\"/>"
		 "<line class=\"axis\" x1=\"%d\" y1=\"28\" x2=\"%d\" y2=\"%.0f\"/>\n",
	      L_CLIENT, L_CLIENT, height - 20, L_SERVER, L_SERVER, height - 20);
	unsigned syn_out = 0, fin_out = 0;
	for (unsigned i = 0; i < l.n; i++) {
		const struct fsm_tl_entry *e = l.e[i];
		/* The time and the state the client entered, left of its axis. */
		h_fmt(j, "<text class=\"t\" x=\"90\" y=\"%.2f\">%.3f µs</text>", l.y[i] + 4, l.t_us[i]);
		if (!i || e->state != l.e[i - 1]->state)
			h_fmt(j, "<text class=\"state\" x=\"%d\" y=\"%.2f\">%s</text>", L_CLIENT - 8,
			      l.y[i] + 4, tcp_state_str((enum tcp_state)e->state));
		if (is_seg(e))
			ladder_arrow(j, &l, i, (double)owd_ns / 1e3, r, &syn_out, &fin_out);
		else
			h_fmt(j, "<g class=\"ev %s\"><circle cx=\"%d\" cy=\"%.2f\" r=\"4\"/></g>\n",
			      e->dir == TL_TIMER ? "timer" : "user", L_CLIENT, l.y[i]);
	}
	ladder_phases(j, &l, r, t->cfg.opts.time_wait_ns);
	h_raw(j, "</svg>");
	if (r->tl && r->tl->dropped)
		h_fmt(j, "<p>%u more events not recorded.</p>", r->tl->dropped);
	if (h->error) {
		h_raw(j, "<p class=\"error\">");
		h_esc(j, h->error);
		h_raw(j, "</p>");
	}
	h_raw(j, "</figure>\n");
}

/* ---- the SmokePing-style graph ------------------------------------------- */

enum { G_LEFT = 70, G_TOP = 10, G_W = 720, G_H = 220 };

/* Loss colours as SmokePing's legend: none, some, much, all. */
static const char *loss_class(const struct series_bucket *b)
{
	if (!b->lost)
		return "l0";
	double f = (double)b->lost / b->count;
	return f < 0.05 ? "l1" : f < 0.2 ? "l2" : f < 1 ? "l3" : "l4";
}

static void smoke_graph(struct jbuf *j, const struct target *t, uint64_t now, uint64_t width,
			bool day)
{
	const struct series *s = &t->series;
	unsigned k = window_buckets(day ? 86400000000000ULL : 3600000000000ULL, width);
	uint64_t newest = now / width;
	double max = 0;
	for (unsigned i = 0; i < k; i++) {
		const struct series_bucket *b = series_at(s, newest, i);
		if (b && b->q[4] && series_ns(b->q[4]) > max)
			max = series_ns(b->q[4]);
	}
	max = max > 0 ? max * 1.1 : 1e6;
	char d[32];
	h_fmt(j, "<svg class=\"smoke\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		 "data-bucket-s=\"%.0f\" data-max-ns=\"%.0f\">\n",
	      G_LEFT + G_W + 20, G_TOP + G_H + 40, G_LEFT + G_W + 20, G_TOP + G_H + 40,
	      (double)width / 1e9, max);
	for (int i = 0; i <= 4; i++) {
		double y = G_TOP + G_H - G_H * i / 4.0;
		h_fmt(j, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
			 "<text class=\"ytick\" x=\"%d\" y=\"%.1f\">%s</text>\n",
		      G_LEFT, y, G_LEFT + G_W, y, G_LEFT - 4, y + 4,
		      dur_str((uint64_t)(max * i / 4), d, sizeof(d)));
	}
	double bw = (double)G_W / k;
	for (unsigned i = 0; i < k; i++) {
		uint64_t bn = newest - (k - 1 - i);
		const struct series_bucket *b = series_at(s, newest, k - 1 - i);
		double x = G_LEFT + i * bw;
		if (i % (k / 6 ? k / 6 : 1) == 0) {
			time_t sec = (time_t)(bn * width / 1000000000u);
			struct tm tm;
			gmtime_r(&sec, &tm);
			char hm[16];
			strftime(hm, sizeof(hm), width < 60000000000ULL ? "%H:%M:%S" : "%H:%M", &tm);
			h_fmt(j, "<text class=\"xtick\" x=\"%.1f\" y=\"%d\">%s</text>", x,
			      G_TOP + G_H + 16, hm);
		}
		if (!b)
			continue;
		h_fmt(j, "<g class=\"bucket\" data-start=\"%" PRIu64 "\" data-count=\"%u\" "
			 "data-lost=\"%u\">",
		      bn * width / 1000000000u, b->count, b->lost);
		h_fmt(j, "<title>%u probes, %u lost", b->count, b->lost);
		if (b->q[2])
			h_fmt(j, ", median %s", dur_str((uint64_t)series_ns(b->q[2]), d, sizeof(d)));
		h_raw(j, "</title>");
		if (!b->q[2]) { /* nothing answered: a loss bar over the whole height */
			h_fmt(j, "<rect class=\"%s\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\"/>",
			      loss_class(b), x, G_TOP, bw, G_H);
		} else {
			double yq[SERIES_Q];
			for (unsigned q = 0; q < SERIES_Q; q++)
				yq[q] = G_TOP + G_H - G_H * series_ns(b->q[q]) / max;
			h_fmt(j, "<rect class=\"b90\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
				 "height=\"%.2f\"/>",
			      x, yq[4], bw, yq[0] - yq[4] + 0.5);
			h_fmt(j, "<rect class=\"b50\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
				 "height=\"%.2f\"/>",
			      x, yq[3], bw, yq[1] - yq[3] + 0.5);
			h_fmt(j, "<line class=\"median %s\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
				 "y2=\"%.2f\"/>",
			      loss_class(b), x, yq[2], x + bw, yq[2]);
		}
		h_raw(j, "</g>\n");
	}
	h_raw(j, "</svg>\n<p class=\"legend\">median line coloured by loss: "
		 "<span class=\"l0\">0</span> <span class=\"l1\">&lt; 5%</span> "
		 "<span class=\"l2\">&lt; 20%</span> <span class=\"l3\">&lt; 100%</span> "
		 "<span class=\"l4\">all lost</span>; bands p25–p75 and p10–p90.</p>\n");
}

static void phase_histograms(struct jbuf *j, const struct target *t, const struct daemon_cfg *dc)
{
	char d[32];
	h_raw(j, "<div class=\"hists\">");
	for (unsigned p = 0; p < PHASE_COUNT; p++) {
		const struct hist *h = target_phase(&t->st, (enum phase)p);
		unsigned nb = dc->n_buckets + 1;
		uint64_t max = 0;
		for (unsigned i = 0; i < nb; i++)
			max = h->counts[i] > max ? h->counts[i] : max;
		h_fmt(j, "<figure class=\"hist\" data-phase=\"%s\"><figcaption>%s: %" PRIu64
			 " samples</figcaption>",
		      phase_str((enum phase)p), phase_str((enum phase)p), h->n);
		h_fmt(j, "<svg width=\"%u\" height=\"110\" viewBox=\"0 0 %u 110\">", nb * 14 + 10,
		      nb * 14 + 10);
		for (unsigned i = 0; i < nb && max; i++) {
			double bh = 80.0 * (double)h->counts[i] / (double)max;
			h_fmt(j, "<rect x=\"%u\" y=\"%.1f\" width=\"12\" height=\"%.1f\"><title>≤ %s: %"
				 PRIu64 "</title></rect>",
			      5 + i * 14, 85 - bh, bh,
			      i < dc->n_buckets ? dur_str((uint64_t)(dc->buckets[i] * 1e9), d, sizeof(d))
						: "+Inf",
			      h->counts[i]);
		}
		h_fmt(j, "<text x=\"5\" y=\"102\">%s</text>",
		      dc->n_buckets ? dur_str((uint64_t)(dc->buckets[0] * 1e9), d, sizeof(d)) : "");
		h_fmt(j, "<text class=\"end\" x=\"%u\" y=\"102\">+Inf</text></svg></figure>",
		      nb * 14 + 5);
	}
	h_raw(j, "</div>\n");
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
		ladder(j, t, h, linear);
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
	smoke_graph(j, t, st.now_ns, dc->status_bucket_ns, day);
	h_raw(j, "</div>\n<h2>Phase histograms</h2>\n");
	phase_histograms(j, t, dc);
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

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
