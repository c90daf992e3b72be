/* metrics_fmt.c: Prometheus text format 0.0.4, rendered from plain structs.
 *
 * The exposition format wants every sample of a family on consecutive lines
 * after its HELP and TYPE, so each family is one pass over the targets.
 * 10,000 handshake targets with 16 buckets make about 800,000 lines; the
 * formatters below therefore write digits by hand and append to one buffer
 * instead of calling snprintf per line. */
#include "labels.h"
#include "metrics_fmt.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm.h"
#include "outcome.h"
#include "packet.h"
#include "path.h"

static void put(struct jbuf *b, const char *s) { jb_append(b, s, strlen(s)); }

size_t metrics_fmt_u64(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = 0;
	return n;
}

size_t metrics_fmt_double(char *buf, double v)
{
	if (isnan(v))
		return (size_t)snprintf(buf, METRICS_NUM_MAX, "NaN");
	if (isinf(v))
		return (size_t)snprintf(buf, METRICS_NUM_MAX, v > 0 ? "+Inf" : "-Inf");
	if (v == 0) /* and -0 */
		return (size_t)snprintf(buf, METRICS_NUM_MAX, "0");
	/* Integers below 2^53 are exact: the common case of counts and bounds. */
	double a = fabs(v);
	if (a < 9007199254740992.0 && a == floor(a)) {
		size_t n = 0;
		if (v < 0)
			buf[n++] = '-';
		return n + metrics_fmt_u64(buf + n, (uint64_t)a);
	}
	/* Any decimal of up to 15 significant digits survives a round trip
	 * through a double (DBL_DIG), so if the shortest exact representation
	 * has <= 15 digits, %.15g prints exactly it (%g drops trailing zeros).
	 * Otherwise 16 digits, or 17, which always suffice. */
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, METRICS_NUM_MAX, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return (size_t)n;
}

size_t metrics_fmt_ns(char *buf, uint64_t ns)
{
	size_t n = metrics_fmt_u64(buf, ns / 1000000000u);
	uint64_t frac = ns % 1000000000u;
	if (!frac)
		return n;
	char f[10];
	for (int i = 8; i >= 0; i--) {
		f[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	size_t fl = 9;
	while (f[fl - 1] == '0')
		fl--;
	buf[n++] = '.';
	memcpy(buf + n, f, fl);
	n += fl;
	buf[n] = 0;
	return n;
}

/* HELP text escapes only backslash and newline (the format's rule). */
static void put_help(struct jbuf *b, const char *s)
{
	for (;;) {
		size_t k = strcspn(s, "\\\n");
		jb_append(b, s, k);
		if (!s[k])
			return;
		put(b, s[k] == '\\' ? "\\\\" : "\\n");
		s += k + 1;
	}
}

void metrics_put_family(struct jbuf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP ");
	put(b, name);
	put(b, " ");
	put_help(b, help);
	put(b, "\n# TYPE ");
	put(b, name);
	put(b, " ");
	put(b, type);
	put(b, "\n");
}

void metrics_put_escaped(struct jbuf *b, const char *s)
{
	for (;;) {
		size_t k = strcspn(s, "\\\"\n");
		jb_append(b, s, k);
		if (!s[k])
			return;
		put(b, s[k] == '\\' ? "\\\\" : s[k] == '"' ? "\\\"" : "\\n");
		s += k + 1;
	}
}

void metrics_put_label(struct jbuf *b, char sep, const char *key, const char *value)
{
	if (sep)
		jb_append(b, &sep, 1);
	put(b, key);
	jb_append(b, "=\"", 2);
	metrics_put_escaped(b, value);
	jb_append(b, "\"", 1);
}

/* "} " or " ", the number, "\n" in one append. */
static void put_value(struct jbuf *b, bool labels, const char *num, size_t n)
{
	char line[METRICS_NUM_MAX + 4];
	size_t k = 0;
	if (labels)
		line[k++] = '}';
	line[k++] = ' ';
	memcpy(line + k, num, n);
	k += n;
	line[k++] = '\n';
	jb_append(b, line, k);
}

void metrics_put_u64(struct jbuf *b, bool labels, uint64_t v)
{
	char num[METRICS_NUM_MAX];
	put_value(b, labels, num, metrics_fmt_u64(num, v));
}

void metrics_put_double(struct jbuf *b, bool labels, double v)
{
	char num[METRICS_NUM_MAX];
	put_value(b, labels, num, metrics_fmt_double(num, v));
}

void metrics_put_ns(struct jbuf *b, bool labels, uint64_t ns)
{
	char num[METRICS_NUM_MAX];
	put_value(b, labels, num, metrics_fmt_ns(num, ns));
}

void metrics_bounds_init(struct metrics_bounds *mb, const double *bounds, unsigned n)
{
	if (n > CFG_BUCKETS_MAX)
		n = CFG_BUCKETS_MAX;
	mb->n = n;
	for (unsigned i = 0; i < n; i++)
		metrics_fmt_double(mb->le[i], bounds[i]);
	snprintf(mb->le[n], sizeof(mb->le[n]), "+Inf");
}

void metrics_put_hist(struct jbuf *b, const char *name, const char *labels,
		      const struct hist *h, const struct metrics_bounds *mb)
{
	size_t nl = strlen(name), ll = strlen(labels);
	uint64_t cum = 0;
	for (unsigned i = 0; i <= mb->n; i++) {
		cum += h->counts[i];
		jb_append(b, name, nl);
		jb_append(b, "_bucket{", 8);
		if (ll) {
			jb_append(b, labels, ll);
			jb_append(b, ",", 1);
		}
		jb_append(b, "le=\"", 4);
		put(b, mb->le[i]);
		jb_append(b, "\"", 1);
		metrics_put_u64(b, true, cum);
	}
	jb_append(b, name, nl);
	jb_append(b, "_sum", 4);
	if (ll) {
		jb_append(b, "{", 1);
		jb_append(b, labels, ll);
	}
	metrics_put_double(b, ll > 0, h->sum);
	jb_append(b, name, nl);
	jb_append(b, "_count", 6);
	if (ll) {
		jb_append(b, "{", 1);
		jb_append(b, labels, ll);
	}
	/* _count is the +Inf bucket by definition: derive it, never let them differ. */
	metrics_put_u64(b, ll > 0, cum);
}

/* ---- the daemon's own families ---- */

static void gauge_u64(struct jbuf *b, const char *name, const char *help, uint64_t v)
{
	metrics_put_family(b, name, "gauge", help);
	put(b, name);
	metrics_put_u64(b, false, v);
}

static void counter_u64(struct jbuf *b, const char *name, const char *help, uint64_t v)
{
	metrics_put_family(b, name, "counter", help);
	put(b, name);
	metrics_put_u64(b, false, v);
}

void metrics_render_status(struct jbuf *b, const struct registry_status *s)
{
	metrics_put_family(b, "tcpprobe_build_info", "gauge",
			   "Always 1; the version label says which tcpprobe is running.");
	put(b, "tcpprobe_build_info");
	metrics_put_label(b, '{', "version", s->version ? s->version : "");
	metrics_put_u64(b, true, 1);

	metrics_put_family(b, "tcpprobe_start_time_seconds", "gauge",
			   "When the daemon started, seconds since the Unix epoch.");
	put(b, "tcpprobe_start_time_seconds");
	metrics_put_ns(b, false, s->start_ns);

	gauge_u64(b, "tcpprobe_targets", "Targets configured (paused ones included).",
		  s->targets);
	counter_u64(b, "tcpprobe_config_reloads_total", "Configuration reloads that succeeded.",
		    s->reloads);
	counter_u64(b, "tcpprobe_config_reload_errors_total",
		    "Configuration reloads that failed; the previous configuration stays.",
		    s->reload_errors);
	gauge_u64(b, "tcpprobe_resident_memory_bytes",
		  "Resident set size of the daemon, from /proc/self/statm.", s->rss_bytes);

	const struct engine_stats *e = &s->eng;
	counter_u64(b, "tcpprobe_packets_sent_total", "Packets sent on the raw sockets.",
		    e->tx_packets);
	counter_u64(b, "tcpprobe_packet_send_errors_total",
		    "Packets the raw sockets failed to send.", e->tx_errors);
	counter_u64(b, "tcpprobe_packets_received_total",
		    "Packets read from the raw sockets (TCP and ICMP).", e->rx_packets);
	counter_u64(b, "tcpprobe_packets_unmatched_total",
		    "Received packets that belong to no probe connection.", e->rx_unmatched);
	counter_u64(b, "tcpprobe_packets_malformed_total",
		    "Received packets that failed to parse.", e->rx_bad);
	counter_u64(b, "tcpprobe_kernel_drops_total",
		    "Packets the kernel dropped before the daemon could read them.",
		    e->rx_kernel_drops);
	counter_u64(b, "tcpprobe_probes_started_total", "Probe connections started.",
		    e->probes_started);
	counter_u64(b, "tcpprobe_probes_waited_total",
		    "Probes that had to wait for the packets-per-second or in-flight cap.",
		    e->probes_waited);
	gauge_u64(b, "tcpprobe_probes_waiting",
		  "Probes waiting now for the packets-per-second or in-flight cap.", e->queued);
	gauge_u64(b, "tcpprobe_inflight_connections",
		  "Probe connections in progress (TIME_WAIT excluded).", e->inflight);
	gauge_u64(b, "tcpprobe_time_wait_connections",
		  "Finished probe connections still in TIME_WAIT.", e->time_wait);
	counter_u64(b, "tcpprobe_time_wait_peer_fin_retransmits_total",
		    "Peer FINs retransmitted to connections in TIME_WAIT after their probe "
		    "was reported (our last ACK was lost).", e->tw_peer_fin_retransmits);
	counter_u64(b, "tcpprobe_time_wait_duplicates_total",
		    "Duplicated peer FINs received in TIME_WAIT after the probe was reported.",
		    e->tw_duplicates);
	counter_u64(b, "tcpprobe_time_wait_rsts_total",
		    "RSTs received (and ignored, RFC 1337) in TIME_WAIT after the probe was "
		    "reported.", e->tw_rsts);
	counter_u64(b, "tcpprobe_source_port_exhaustions_total",
		    "Probes that failed because no source port was free for their destination.",
		    e->port_exhausted);

	metrics_put_family(b, "tcpprobe_scheduler_lateness_seconds_total", "counter",
			   "Summed delay of probe starts behind their schedule.");
	put(b, "tcpprobe_scheduler_lateness_seconds_total");
	metrics_put_ns(b, false, s->sched_late_ns_total);
	metrics_put_family(b, "tcpprobe_scheduler_lateness_max_seconds", "gauge",
			   "Largest delay of a probe start behind its schedule since the start.");
	put(b, "tcpprobe_scheduler_lateness_max_seconds");
	metrics_put_ns(b, false, s->sched_late_max_ns);
}

/* ---- per-target families ---- */

static const char *const close_phase_label[PHASE_COUNT] = {
	[PHASE_FIN_ACK] = "fin_ack",
	[PHASE_FIN_WAIT_2] = "fin_wait_2",
	[PHASE_CLOSE] = "total",
};

static bool has_handshake_hist(const struct target *t)
{
	return t->cfg.opts.kind != PROBE_FIN || target_phase(&t->st, PHASE_HANDSHAKE)->n;
}

static bool has_close_hist(const struct target *t)
{
	return t->cfg.opts.kind == PROBE_HANDSHAKE || target_phase(&t->st, PHASE_FIN_ACK)->n ||
	       target_phase(&t->st, PHASE_FIN_WAIT_2)->n || target_phase(&t->st, PHASE_CLOSE)->n;
}

/* target="NAME" and the target's own labels (labels = ..., discovery). */
static void target_labels(struct jbuf *b, char sep, const struct target *t)
{
	const char *p = t->cfg.labels, *k, *v;
	metrics_put_label(b, sep, "target", t->cfg.name);
	while ((p = labels_next(p, &k, &v)))
		metrics_put_label(b, ',', k, v);
}

static void target_label(struct jbuf *b, const char *name, const struct target *t)
{
	put(b, name);
	target_labels(b, '{', t);
}

/* ---- the per-target families, as a table ----
 *
 * One row per family; its emit() writes one target's samples of it. A
 * render walks the table family by family and each family target by
 * target, and may stop after any target and go on later from the cursor
 * (metrics_render_targets_step): 6,000 targets make ~24 MB, which the
 * daemon sends in bounded pieces across loop passes. */

struct family;
typedef void (*family_emit)(struct jbuf *b, const struct family *f, const struct target *t,
			    struct metrics_cursor *c);
struct family {
	const char *name, *type, *help;
	family_emit emit;
	size_t arg; /* the emitter's: a phase, an offset */
};

static void emit_info(struct jbuf *b, const struct family *f, const struct target *t,
		      struct metrics_cursor *c)
{
	char a[64] = "", num[METRICS_NUM_MAX];
	if (t->addr.family)
		pkt_addr_str(&t->addr, a, sizeof(a));
	metrics_fmt_u64(num, t->cfg.opts.port);
	target_label(b, f->name, t);
	metrics_put_label(b, ',', "host", t->cfg.host);
	metrics_put_label(b, ',', "port", num);
	metrics_put_label(b, ',', "kind", probe_kind_str(t->cfg.opts.kind));
	metrics_put_label(b, ',', "address", a);
	metrics_put_u64(b, true, 1);
}

static void emit_probes(struct jbuf *b, const struct family *f, const struct target *t,
			struct metrics_cursor *c)
{
	const char *kind = probe_kind_str(t->cfg.opts.kind);
	for (int r = RESULT_OK; r < RESULT_COUNT; r++) {
		uint64_t v = t->st.by_result[r];
		if (!v && !probe_kind_has_result(t->cfg.opts.kind, (enum probe_result)r))
			continue;
		target_label(b, f->name, t);
		metrics_put_label(b, ',', "kind", kind);
		metrics_put_label(b, ',', "result", probe_result_str((enum probe_result)r));
		metrics_put_u64(b, true, v);
	}
}

static void emit_close(struct jbuf *b, const struct family *f, const struct target *t,
		       struct metrics_cursor *c)
{
	bool hs = t->cfg.opts.kind == PROBE_HANDSHAKE;
	const char *kind = probe_kind_str(t->cfg.opts.kind);
	for (int r = CLOSE_OK; r < CLOSE_COUNT; r++) {
		uint64_t v = t->st.by_close[r];
		if (!v && !hs)
			continue;
		target_label(b, f->name, t);
		metrics_put_label(b, ',', "kind", kind);
		metrics_put_label(b, ',', "result", close_result_str((enum close_result)r));
		metrics_put_u64(b, true, v);
	}
}

/* The opening phase, twice: the RTT (Karn: no sample after a SYN
 * retransmission) and the connect time (first SYN, every answer). */
static void emit_open_hist(struct jbuf *b, const struct family *f, const struct target *t,
			   struct metrics_cursor *c)
{
	if (!has_handshake_hist(t))
		return;
	jb_reset(&c->lbl);
	target_labels(&c->lbl, 0, t);
	if (!c->lbl.oom)
		metrics_put_hist(b, f->name, c->lbl.p, target_phase(&t->st, (enum phase)f->arg),
				 &c->mb);
}

static void emit_close_hist(struct jbuf *b, const struct family *f, const struct target *t,
			    struct metrics_cursor *c)
{
	if (!has_close_hist(t))
		return;
	for (int p = PHASE_FIN_ACK; p <= PHASE_CLOSE; p++) {
		jb_reset(&c->lbl);
		target_labels(&c->lbl, 0, t);
		metrics_put_label(&c->lbl, ',', "phase", close_phase_label[p]);
		if (c->lbl.oom)
			continue;
		metrics_put_hist(b, f->name, c->lbl.p, target_phase(&t->st, (enum phase)p), &c->mb);
	}
}

/* A counter of struct target_stats at offset f->arg. */
static void emit_stat(struct jbuf *b, const struct family *f, const struct target *t,
		      struct metrics_cursor *c)
{
	uint64_t v;
	memcpy(&v, (const char *)&t->st + f->arg, sizeof(v));
	target_label(b, f->name, t);
	metrics_put_u64(b, true, v);
}

/* The same per target for what its connections met in TIME_WAIT, after
 * their probe was reported (the target's profile counts it). */
static void emit_tw(struct jbuf *b, const struct family *f, const struct target *t,
		    struct metrics_cursor *c)
{
	static const struct engine_tw_counts tw_none;
	const struct engine_tw_counts *tw = t->prof ? &t->prof->tw : &tw_none;
	uint64_t v;
	memcpy(&v, (const char *)tw + f->arg, sizeof(v));
	target_label(b, f->name, t);
	metrics_put_u64(b, true, v);
}

static void emit_up(struct jbuf *b, const struct family *f, const struct target *t,
		    struct metrics_cursor *c)
{
	target_label(b, f->name, t);
	metrics_put_u64(b, true, probe_up(t->cfg.opts.kind, (enum probe_result)t->st.last_result));
}

/* A CLOCK_REALTIME ns of struct target_stats at offset f->arg; none while 0. */
static void emit_time(struct jbuf *b, const struct family *f, const struct target *t,
		      struct metrics_cursor *c)
{
	uint64_t ns;
	memcpy(&ns, (const char *)&t->st + f->arg, sizeof(ns));
	if (!ns)
		return;
	target_label(b, f->name, t);
	metrics_put_ns(b, true, ns);
}

static void emit_peer_info(struct jbuf *b, const struct family *f, const struct target *t,
			   struct metrics_cursor *c)
{
	const struct target_stats *s = &t->st;
	if (!s->have_peer)
		return;
	char mss[METRICS_NUM_MAX] = "none", ws[METRICS_NUM_MAX] = "none";
	if (s->peer_mss)
		metrics_fmt_u64(mss, s->peer_mss);
	if (s->peer_wscale >= 0)
		metrics_fmt_u64(ws, (uint64_t)s->peer_wscale);
	target_label(b, f->name, t);
	metrics_put_label(b, ',', "mss", mss);
	metrics_put_label(b, ',', "wscale", ws);
	metrics_put_label(b, ',', "sack", s->peer_sack ? "true" : "false");
	metrics_put_label(b, ',', "timestamps", s->peer_ts ? "true" : "false");
	metrics_put_u64(b, true, 1);
}

static void emit_finding(struct jbuf *b, const struct family *f, const struct target *t,
			 struct metrics_cursor *c)
{
	/* a fin target: stateful-firewall (daemon/pairs.c), once it has a result */
	bool fin = t->cfg.opts.kind == PROBE_FIN;
	if (fin ? !t->st.probes : !t->st.find.have_fp)
		return;
	for (int i = 0; i < FIND_COUNT; i++) {
		if (fin ? i != FIND_STATEFUL_FIREWALL :
			  !find_applies((enum find_name)i, t->cfg.opts.ecn,
					t->cfg.opts.check_synack_retransmit))
			continue;
		target_label(b, f->name, t);
		metrics_put_label(b, ',', "finding", find_name_str((enum find_name)i));
		metrics_put_u64(b, true, find_has(&t->st.find, (enum find_name)i) ||
					     ((t->pfound >> i) & 1u));
	}
}

static void emit_peer_ttl(struct jbuf *b, const struct family *f, const struct target *t,
			  struct metrics_cursor *c)
{
	if (!t->st.have_peer)
		return;
	target_label(b, f->name, t);
	metrics_put_u64(b, true, t->st.peer_ttl);
}

static void emit_peer_hops(struct jbuf *b, const struct family *f, const struct target *t,
			   struct metrics_cursor *c)
{
	if (!t->st.have_peer)
		return;
	target_label(b, f->name, t);
	metrics_put_u64(b, true, path_hops_from_ttl(t->st.peer_ttl));
}

/* Over flows: the sum of the flows' changes. */
static void emit_path_changes(struct jbuf *b, const struct family *f, const struct target *t,
			      struct metrics_cursor *c)
{
	if (!target_path_watched(t))
		return;
	struct path_sum s;
	target_path_sum(t, &s);
	target_label(b, f->name, t);
	metrics_put_u64(b, true, s.changes);
}

/* Over flows: the longest of the flows' current paths. */
static void emit_path_hops(struct jbuf *b, const struct family *f, const struct target *t,
			   struct metrics_cursor *c)
{
	struct path_sum s;
	target_path_sum(t, &s);
	if (!s.have_cur)
		return;
	target_label(b, f->name, t);
	metrics_put_u64(b, true, s.max_hops);
}

static void emit_trace_hops(struct jbuf *b, const struct family *f, const struct target *t,
			    struct metrics_cursor *c)
{
	if (!t->st.trace)
		return;
	target_label(b, f->name, t);
	metrics_put_u64(b, true, t->st.trace->nhops);
}

static void emit_trace_silent(struct jbuf *b, const struct family *f, const struct target *t,
			      struct metrics_cursor *c)
{
	if (!t->st.trace)
		return;
	unsigned silent = 0;
	for (unsigned h = 0; h < t->st.trace->nhops; h++)
		silent += t->st.trace->hops[h].kind == TRACE_HOP_SILENT;
	target_label(b, f->name, t);
	metrics_put_u64(b, true, silent);
}

static void emit_paused(struct jbuf *b, const struct family *f, const struct target *t,
			struct metrics_cursor *c)
{
	target_label(b, f->name, t);
	metrics_put_u64(b, true, t->paused);
}

/* target="NAME",...,flow="F" */
static void flow_label(struct jbuf *b, const char *name, const struct target *t, unsigned f)
{
	char num[METRICS_NUM_MAX];
	metrics_fmt_u64(num, f + 1);
	target_label(b, name, t);
	metrics_put_label(b, ',', "flow", num);
}

/* probes/flows, opt in per target (flow_metrics = yes): a few series per
 * flow, and the last round's loss and jitter. Over flows only: a target of
 * one flow has no flow state (sched.c), no port of its own to report. */
static bool flow_metrics(const struct target *t)
{
	return t->cfg.opts.flow_metrics && t->flows;
}

static void emit_flow_probes(struct jbuf *b, const struct family *f, const struct target *t,
			     struct metrics_cursor *c)
{
	for (unsigned k = 0; flow_metrics(t) && k < t->flows->nf; k++)
		for (int r = RESULT_OK; r < RESULT_COUNT; r++) {
			uint64_t v = t->flows->f[k].by_result[r];
			if (!v && !probe_kind_has_result(t->cfg.opts.kind, (enum probe_result)r))
				continue;
			flow_label(b, f->name, t, k);
			metrics_put_label(b, ',', "result", probe_result_str((enum probe_result)r));
			metrics_put_u64(b, true, v);
		}
}

static void emit_flow_port(struct jbuf *b, const struct family *f, const struct target *t,
			   struct metrics_cursor *c)
{
	for (unsigned k = 0; flow_metrics(t) && k < t->flows->nf; k++) {
		const struct target_flows *tf = t->flows;
		flow_label(b, f->name, t, k);
		metrics_put_u64(b, true, tf->port[k]);
	}
}

static void emit_flow_rtt(struct jbuf *b, const struct family *f, const struct target *t,
			  struct metrics_cursor *c)
{
	for (unsigned k = 0; flow_metrics(t) && k < t->flows->nf; k++) {
		const struct target_flow *fl = &t->flows->f[k];
		double q[2];
		target_flow_quantiles(fl, &q[0], &q[1]);
		static const char *const qs[2] = { "0.5", "0.99" };
		for (int i = 0; i < 2 && fl->rtt_count; i++) {
			flow_label(b, f->name, t, k);
			metrics_put_label(b, ',', "quantile", qs[i]);
			metrics_put_double(b, true, q[i] / 1e6);
		}
		flow_label(b, "tcpprobe_flow_handshake_seconds_sum", t, k);
		metrics_put_double(b, true, fl->rtt_sum_s);
		flow_label(b, "tcpprobe_flow_handshake_seconds_count", t, k);
		metrics_put_u64(b, true, fl->rtt_count);
	}
}

/* Per flow with flow_metrics, where changes are counted per flow. */
static void emit_flow_path_changes(struct jbuf *b, const struct family *f,
				   const struct target *t, struct metrics_cursor *c)
{
	for (unsigned k = 0; flow_metrics(t) && target_path_per_flow(t) && k < t->flows->nf; k++) {
		flow_label(b, f->name, t, k);
		metrics_put_u64(b, true, t->flows->f[k].path ? t->flows->f[k].path->changes : 0);
	}
}

static void emit_flow_worse(struct jbuf *b, const struct family *f, const struct target *t,
			    struct metrics_cursor *c)
{
	if (!flow_metrics(t))
		return;
	struct flows_verdict v;
	target_flows_worse(t->flows, &v);
	for (unsigned k = 0; k < t->flows->nf; k++) {
		flow_label(b, f->name, t, k);
		metrics_put_u64(b, true, v.why[k] != 0);
	}
}

static void emit_round_loss(struct jbuf *b, const struct family *f, const struct target *t,
			    struct metrics_cursor *c)
{
	const struct flows_round *r = flow_metrics(t) ? &t->flows->last : NULL;
	if (!r || !t->flows->rounds || !(r->answered + r->lost))
		return;
	target_label(b, f->name, t);
	metrics_put_double(b, true, (double)r->lost / (double)(r->answered + r->lost));
}

static void emit_round_jitter(struct jbuf *b, const struct family *f, const struct target *t,
			      struct metrics_cursor *c)
{
	const struct flows_round *r = flow_metrics(t) ? &t->flows->last : NULL;
	if (!r || !t->flows->rounds || isnan(r->jitter_us))
		return;
	target_label(b, f->name, t);
	metrics_put_double(b, true, r->jitter_us / 1e6);
}

#define STAT(field) offsetof(struct target_stats, field)
#define TW(field) offsetof(struct engine_tw_counts, field)
static const struct family families[] = {
	{ "tcpprobe_target_info", "gauge",
	  "Always 1; labels: the target's host, port, probe kind and the address probed "
	  "(empty until resolved).", emit_info, 0 },
	{ "tcpprobe_probes_total", "counter",
	  "Probes finished, by result. syn and handshake: ok, refused, timeout, unreachable, "
	  "reset, error; fin: closed, silent, unreachable, error.", emit_probes, 0 },
	{ "tcpprobe_close_total", "counter",
	  "Close phases of handshake probes finished, by result: ok, reset, timeout.",
	  emit_close, 0 },
	{ "tcpprobe_handshake_duration_seconds", "histogram",
	  "Round-trip time from our SYN to the peer's SYN/ACK (kernel timestamps), syn and "
	  "handshake probes; by Karn's rule no sample when a SYN was retransmitted (see "
	  "tcpprobe_connect_duration_seconds).", emit_open_hist, PHASE_HANDSHAKE },
	{ "tcpprobe_connect_duration_seconds", "histogram",
	  "Time from our first SYN to the peer's SYN/ACK, including SYN retransmission delays, "
	  "syn and handshake probes.", emit_open_hist, PHASE_CONNECT },
	{ "tcpprobe_close_duration_seconds", "histogram",
	  "Phases of the active close of handshake probes: fin_ack (our FIN to its ACK), "
	  "fin_wait_2 (that ACK to the peer's FIN), total (the first FIN, ours or the peer's, "
	  "to CLOSED or TIME_WAIT).", emit_close_hist, 0 },
	{ "tcpprobe_syn_retransmits_total", "counter",
	  "SYNs we retransmitted (no SYN/ACK within the timeout).", emit_stat,
	  STAT(syn_retransmits) },
	{ "tcpprobe_rtt_ambiguous_total", "counter",
	  "Probes whose SYN/ACK came after a retransmitted SYN: no RTT sample (Karn's rule), "
	  "counted in the connect histogram only.", emit_stat, STAT(rtt_ambiguous) },
	{ "tcpprobe_synack_retransmits_total", "counter",
	  "SYN/ACKs the peer retransmitted (our ACK was lost); network duplicates excluded.",
	  emit_stat, STAT(synack_retransmits) },
	{ "tcpprobe_duplicates_total", "counter",
	  "SYN/ACK and FIN copies the network duplicated (same TSval, < 100 ms apart).",
	  emit_stat, STAT(duplicates) },
	{ "tcpprobe_fin_retransmits_total", "counter", "FINs we retransmitted.", emit_stat,
	  STAT(fin_retransmits) },
	{ "tcpprobe_peer_fin_retransmits_total", "counter",
	  "FINs the peer retransmitted before the probe was reported (our ACK was lost); later "
	  "ones in tcpprobe_time_wait_peer_fin_retransmits_total.", emit_stat,
	  STAT(peer_fin_retransmits) },
	{ "tcpprobe_target_time_wait_duplicates_total", "counter",
	  "Network duplicates of the peer's FIN that arrived in TIME_WAIT.", emit_tw,
	  TW(duplicates) },
	{ "tcpprobe_target_time_wait_peer_fin_retransmits_total", "counter",
	  "FINs the peer retransmitted in TIME_WAIT (our last ACK was lost).", emit_tw,
	  TW(peer_fin_retransmits) },
	{ "tcpprobe_target_time_wait_rsts_total", "counter", "RSTs received in TIME_WAIT.",
	  emit_tw, TW(rsts) },
	{ "tcpprobe_up", "gauge",
	  "1 if the last probe succeeded (syn, handshake: ok; fin: closed or silent), else 0 "
	  "(also before the first result).", emit_up, 0 },
	{ "tcpprobe_last_probe_timestamp_seconds", "gauge",
	  "Start of the last finished probe, seconds since the Unix epoch.", emit_time,
	  STAT(last_probe_ns) },
	{ "tcpprobe_last_success_timestamp_seconds", "gauge",
	  "Start of the last probe with result ok, seconds since the Unix epoch.", emit_time,
	  STAT(last_ok_ns) },
	{ "tcpprobe_peer_info", "gauge",
	  "Always 1; labels: the TCP options of the peer's last SYN/ACK (none: option absent). "
	  "Present once a SYN/ACK was seen.", emit_peer_info, 0 },
	{ "tcpprobe_peer_finding", "gauge",
	  "1 if the last probe that got a SYN/ACK found this middlebox (probes/findings; or with "
	  "another target: pairs.c), else 0. Present once a SYN/ACK was seen (fin targets: "
	  "stateful-firewall, once probed).", emit_finding, 0 },
	{ "tcpprobe_peer_fingerprint_changes_total", "counter",
	  "Times the fingerprint of the peer's SYN/ACK differed from the one before (another "
	  "stack answers: failover, load balancer).", emit_stat, STAT(fp_changes) },
	{ "tcpprobe_peer_ttl", "gauge", "IP TTL (hop limit) of the peer's last SYN/ACK as received.",
	  emit_peer_ttl, 0 },
	{ "tcpprobe_peer_hops", "gauge",
	  "Routers on the way back from the peer: the initial TTL guessed (the smallest of 64, "
	  "128, 255 not below it) minus the last SYN/ACK's TTL.", emit_peer_hops, 0 },
	{ "tcpprobe_path_changes_total", "counter",
	  "Path changes seen by the target's traces (trace_interval; kind trace over flows): two "
	  "traces in a row agreeing on a path that differs from the current one; over flows the "
	  "sum of the flows'.", emit_path_changes, 0 },
	{ "tcpprobe_path_hops", "gauge",
	  "Routers on the way to the target in its current traced path (the TTL at which the "
	  "target answered, minus one); over flows the longest flow's.", emit_path_hops, 0 },
	{ "tcpprobe_trace_hops", "gauge",
	  "Hops of the target's last trace: the TTL at which the target (or an ICMP unreachable) "
	  "answered; max_hops when none did.", emit_trace_hops, 0 },
	{ "tcpprobe_trace_silent_hops", "gauge",
	  "Hops of the target's last trace that sent no ICMP back (every try timed out): a router "
	  "that drops or rate-limits ICMP, or a firewall.", emit_trace_silent, 0 },
	{ "tcpprobe_target_paused", "gauge",
	  "1 if the target is paused (tcpprobe ctl pause), else 0.", emit_paused, 0 },
	{ "tcpprobe_flow_probes_total", "counter",
	  "Probes finished per flow (flows = N, flow_metrics = yes), by result.", emit_flow_probes,
	  0 },
	{ "tcpprobe_flow_source_port", "gauge",
	  "The source port of each flow (its ECMP path is this port's).", emit_flow_port, 0 },
	{ "tcpprobe_flow_handshake_seconds", "summary",
	  "Handshake RTT per flow (SYN -> SYN/ACK, Karn); quantiles over the flow's last 128 RTTs.",
	  emit_flow_rtt, 0 },
	{ "tcpprobe_flow_path_changes_total", "counter",
	  "Path changes per flow (flow_metrics = yes; trace_interval or kind trace over flows); "
	  "tcpprobe_path_changes_total is their sum.", emit_flow_path_changes, 0 },
	{ "tcpprobe_flow_worse", "gauge",
	  "1 for a flow worse than the rest (RTT p50 over 2x the best flow's and 1 ms above it, or "
	  "improbable loss), else 0.", emit_flow_worse, 0 },
	{ "tcpprobe_round_loss_ratio", "gauge",
	  "Share of the last round's probes (one per flow) nothing answered.", emit_round_loss, 0 },
	{ "tcpprobe_round_jitter_seconds", "gauge",
	  "The last round's jitter: mean over its flows of |RTT - the flow's RTT in the round "
	  "before|.", emit_round_jitter, 0 },
};
#undef STAT
#undef TW
#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

void metrics_cursor_init(struct metrics_cursor *c, const double *bounds, unsigned nbuckets)
{
	memset(c, 0, sizeof(*c));
	metrics_bounds_init(&c->mb, bounds, nbuckets);
	jb_init(&c->lbl);
}

void metrics_cursor_free(struct metrics_cursor *c) { jb_free(&c->lbl); }

bool metrics_render_targets_step(struct metrics_cursor *c, struct jbuf *b, metrics_target_at at,
				 void *arg, size_t n, size_t budget)
{
	size_t start = b->len;
	while (c->fam < N_FAMILIES) {
		const struct family *f = &families[c->fam];
		if (!c->i)
			metrics_put_family(b, f->name, f->type, f->help);
		/* At least one target after the header: a resumed family
		 * starts past it (c->i > 0). */
		while (c->i < n) {
			f->emit(b, f, at(arg, c->i++), c);
			if (b->len - start >= budget || b->oom)
				break;
		}
		if (c->i < n)
			return false; /* the budget is spent (or out of memory: the caller sees it) */
		c->fam++;
		c->i = 0;
		if (b->len - start >= budget)
			break;
	}
	return c->fam == N_FAMILIES;
}

void metrics_render_targets(struct jbuf *b, metrics_target_at at, void *arg, size_t n,
			    const double *bounds, unsigned nbuckets)
{
	struct metrics_cursor c;
	metrics_cursor_init(&c, bounds, nbuckets);
	metrics_render_targets_step(&c, b, at, arg, n, SIZE_MAX);
	metrics_cursor_free(&c);
}
