/* statuspage_svg.c: the status page's charts, as inline SVG (styled by the
 * page's stylesheet, no script): a target's sparkline, the ladder diagram
 * of one probe's timeline, the SmokePing-style graph of its RTT and loss,
 * and its phase histograms. The pages (statuspage.c) place them. */
#include <inttypes.h>
#include <math.h>
#include <time.h>

#include "outcome.h"
#include "report.h"
#include "statuspage_priv.h"

/* The last hour in 120x24 px: the median RTT as a line (scaled to the
 * hour's highest median), lost probes as red bars from the bottom. */
void sp_sparkline(struct jbuf *j, const struct target *t, uint64_t now, uint64_t width)
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

void sp_ladder(struct jbuf *j, const struct target *t, const struct hist_entry *h,
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

void sp_smoke_graph(struct jbuf *j, const struct target *t, uint64_t now, uint64_t width,
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

void sp_phase_histograms(struct jbuf *j, const struct target *t, const struct daemon_cfg *dc)
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
