/* views.c: the JSON of the daemon's read-only views (see views.h). The
 * socket or HTTP code around them only moves the bytes. */
#include "views.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "discovery.h"
#include "flows_fmt.h"
#include "labels.h"
#include "outcome.h"
#include "pairs.h"
#include "path.h"
#include "remote_write.h"
#include "report.h"

#define VIEW_SHOW_RECENT 3

/* status: every value the table names, flat (some are computed). */
struct status_vals {
	const char *version, *config, *log_level;
	uint64_t uptime_s, targets, paused, inflight, queued, time_wait, connections;
	double pps, sched_late_max_us;
	uint64_t packets_sent, send_errors, packets_received, packets_unmatched, packets_bad;
	uint64_t rx_kernel_drops, probes_started, probes_waited, port_exhausted;
	uint64_t tw_peer_fin_retransmits, tw_duplicates, tw_rsts, sched_skipped;
	uint64_t rss_bytes, conn_bytes, target_bytes, per_conn_bytes, per_target_bytes;
	uint64_t per_target_status_history_bytes;
	uint64_t reloads, reload_errors, control_clients;
	const char *shard;
	uint64_t shard_skipped, discovery_conflicts, discovery_apply_us;
};

struct view_ctx {
	/* What a row's off is into: struct status_vals, or in status one
	 * discovery_source_status (source di of disc) or remote_write_status. */
	const void *row;
	struct discovery *disc;
	size_t di;
	const struct target *t;
	const struct daemon_cfg *dc;
};

/* ---- JSON pieces ---------------------------------------------------------- */

static void j_addr(struct jbuf *j, const char *key, const struct pkt_addr *a)
{
	char b[64];
	jb_key(j, key);
	if (a->family)
		jb_str(j, pkt_addr_str(a, b, sizeof(b)));
	else
		jb_null(j);
}

static void j_str_or_null(struct jbuf *j, const char *key, const char *s)
{
	jb_key(j, key);
	if (s[0])
		jb_str(j, s);
	else
		jb_null(j);
}

/* Quantile in microseconds (null when nothing was observed). */
static void j_quantile_us(struct jbuf *j, const char *key, const struct hist *h,
			  const struct daemon_cfg *dc, double q)
{
	jb_key(j, key);
	jb_double(j, hist_quantile(h, dc->buckets, dc->n_buckets, q) * 1e6);
}

/* "labels": {k: v, ...}, the target's own labels ({} for none). */
static void j_labels(struct jbuf *j, const struct target *t)
{
	const char *p = t ? t->cfg.labels : NULL, *k, *v;
	jb_key(j, "labels");
	jb_obj(j);
	while ((p = labels_next(p, &k, &v))) {
		jb_key(j, k);
		jb_str(j, v);
	}
	jb_obj_end(j);
}

/* loss_pct: probes nothing answered (timeouts); failed_pct: probes without
 * the answer the kind asks for. probes/outcome.c decides both. */
static void j_loss(struct jbuf *j, const char *key, const struct target *t, bool failed)
{
	const struct target_stats *s = &t->st;
	enum probe_kind k = t->cfg.opts.kind;
	uint64_t lost = 0, up = 0;
	for (unsigned r = 0; r < RESULT_COUNT; r++) {
		enum probe_outcome o = probe_outcome(k, (enum probe_result)r);
		lost += o == OUTCOME_UNANSWERED ? s->by_result[r] : 0;
		up += o == OUTCOME_UP ? s->by_result[r] : 0;
	}
	jb_key(j, key);
	if (s->probes)
		jb_double(j, 100.0 * (double)(failed ? s->probes - up : lost) / (double)s->probes);
	else
		jb_null(j);
}

/* ---- row writers (the tables' put) ------------------------------------------ */

#define SV(field) offsetof(struct status_vals, field)

static void put_row_str(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_str(j, *(const char *const *)((const char *)x->row + f->off));
}

static void put_row_u64(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_uint(j, *(const uint64_t *)((const char *)x->row + f->off));
}

static void put_row_dbl(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_double(j, *(const double *)((const char *)x->row + f->off));
}

#define S_STR(k, lab, txt, fld) { k, NULL, lab, txt, VF_STR, put_row_str, SV(fld), NULL, 0 }
#define S_U64(k, lab, txt, fmt, fld) { k, NULL, lab, txt, fmt, put_row_u64, SV(fld), NULL, 0 }
#define S_DBL(k, lab, txt, fmt, fld) { k, NULL, lab, txt, fmt, put_row_dbl, SV(fld), NULL, 0 }
#define S_MEM(k, lab, txt, fld) { k, "memory", lab, txt, VF_BYTES, put_row_u64, SV(fld), NULL, 0 }

/* In the order of the text; the JSON follows it. */
const struct view_field view_status_fields[] = {
	S_STR("version", "version:", "%s", version),
	S_U64("uptime_s", "uptime:", "%s", VF_UPTIME, uptime_s),
	S_STR("config", "config:", "%s", config),
	S_STR("log_level", "log level:", "%s", log_level),
	S_U64("targets", "targets:", "%s", VF_COUNT, targets),
	S_U64("paused", NULL, " (%s paused)", VF_COUNT, paused),
	S_U64("inflight", "in flight:", "%s", VF_COUNT, inflight),
	S_U64("queued", "queued:", "%s", VF_COUNT, queued),
	S_U64("time_wait", "time_wait:", "%s", VF_COUNT, time_wait),
	S_U64("connections", NULL, NULL, VF_COUNT, connections),
	S_DBL("pps", "packets/s:", "%s", VF_RATE, pps),
	S_U64("packets_sent", "packets sent:", "%s", VF_COUNT, packets_sent),
	S_U64("send_errors", NULL, " (%s send errors)", VF_COUNT, send_errors),
	S_U64("packets_received", "packets received:", "%s", VF_COUNT, packets_received),
	S_U64("packets_unmatched", NULL, " (%s unmatched", VF_COUNT, packets_unmatched),
	S_U64("packets_bad", NULL, ", %s bad)", VF_COUNT, packets_bad),
	S_U64("rx_kernel_drops", "rx kernel drops:", "%s", VF_COUNT, rx_kernel_drops),
	S_U64("probes_started", "probes started:", "%s", VF_COUNT, probes_started),
	S_U64("probes_waited", NULL, " (%s waited for a slot)", VF_COUNT, probes_waited),
	S_U64("port_exhausted", "port exhausted:", "%s", VF_COUNT, port_exhausted),
	/* Counted in TIME_WAIT, after the probe was reported. */
	S_U64("time_wait_peer_fin_retransmits", "after report:",
	      "in time_wait: %s peer fin retransmits", VF_COUNT, tw_peer_fin_retransmits),
	S_U64("time_wait_duplicates", NULL, ", %s duplicates", VF_COUNT, tw_duplicates),
	S_U64("time_wait_rsts", NULL, ", %s rsts", VF_COUNT, tw_rsts),
	S_DBL("sched_late_max_us", "max lateness:", "%s", VF_US, sched_late_max_us),
	S_U64("sched_skipped", NULL, " (%s slots skipped: overloaded)", VF_COUNT, sched_skipped),
	S_MEM("rss_bytes", "memory:", "rss %s", rss_bytes),
	/* The connection table: live connections x their size. */
	S_MEM("conn_bytes", NULL, ", connections %s", conn_bytes),
	/* Targets x sizeof(struct target), history excluded. */
	S_MEM("target_bytes", NULL, ", targets %s", target_bytes),
	/* One connection (TIME_WAIT ones are only this). */
	S_MEM("per_conn_bytes", "per connection:", "%s", per_conn_bytes),
	S_MEM("per_target_bytes", NULL, " (per target %s, history excluded)", per_target_bytes),
	/* The status page's bucket ring, allocated at a target's first result. */
	S_MEM("per_target_status_history_bytes", NULL, ", status page history %s",
	      per_target_status_history_bytes),
	S_U64("reloads", "reloads:", "%s", VF_COUNT, reloads),
	S_U64("reload_errors", NULL, " (%s failed)", VF_COUNT, reload_errors),
	S_U64("control_clients", "control clients:", "%s", VF_COUNT, control_clients),
	S_STR("shard", "shard:", "%s", shard),
	S_U64("shard_skipped", NULL, " (%s targets left to other shards)", VF_COUNT, shard_skipped),
	S_U64("discovery_conflicts", NULL, NULL, VF_COUNT, discovery_conflicts),
	S_U64("discovery_apply_us", NULL, NULL, VF_COUNT, discovery_apply_us),
};
const size_t view_status_nfields = sizeof(view_status_fields) / sizeof(view_status_fields[0]);

/* status "discovery": one object per source. */
#define DS(field) offsetof(struct discovery_source_status, field)

/* url and refresh_us: an http_sd source's only. */
static void put_ds_url_only(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	if (!((const struct discovery_source_status *)x->row)->url[0])
		return;
	if (f->fmt == VF_STR)
		put_row_str(j, f, x);
	else
		put_row_u64(j, f, x);
}

/* Every file failing now (keeping its last good list). */
static void put_ds_file_errors(struct jbuf *j, const struct view_field *f,
			       const struct view_ctx *x)
{
	char b[700];
	size_t k = 0;
	const char *e;
	jb_key(j, f->key);
	jb_arr(j);
	while ((e = discovery_file_error(x->disc, x->di, &k, b, sizeof(b))))
		jb_str(j, e);
	jb_arr_end(j);
}

/* In the order of the text; the label names the source ("discovery NAME:"). */
const struct view_field view_discovery_fields[] = {
	{ "name", NULL, NULL, NULL, VF_STR, put_row_str, DS(name), NULL, 0 },
	{ "url", NULL, NULL, NULL, VF_STR, put_ds_url_only, DS(url), NULL, 0 },
	/* Loop time of the last answer: parse + apply. */
	{ "refresh_us", NULL, NULL, NULL, VF_COUNT, put_ds_url_only, DS(refresh_us), NULL, 0 },
	{ "targets", NULL, "discovery %s:", "%s targets", VF_COUNT, put_row_u64, DS(targets), NULL,
	  VF_NAMED },
	{ "files", NULL, NULL, " from %s files", VF_COUNT, put_row_u64, DS(files), NULL, 0 },
	{ "files_failing", NULL, NULL, " (%s failing)", VF_COUNT, put_row_u64, DS(files_failing),
	  NULL, 0 },
	{ "refreshes", NULL, NULL, ", %s reads", VF_COUNT, put_row_u64, DS(refreshes), NULL, 0 },
	{ "errors", NULL, NULL, ", %s errors", VF_COUNT, put_row_u64, DS(errors), NULL, 0 },
	{ "file_errors", NULL, "  error:", "%s", VF_LINES, put_ds_file_errors, 0, NULL, 0 },
	{ "last_error", NULL, NULL, NULL, VF_STR, put_row_str, DS(last_error), NULL, 0 },
};
const size_t view_discovery_nfields = sizeof(view_discovery_fields) / sizeof(view_discovery_fields[0]);

/* status "remote_write": one object per writer. */
#define RS(field) offsetof(struct remote_write_status, field)

#define R_U64(k, txt, fld) { k, NULL, NULL, txt, VF_COUNT, put_row_u64, RS(fld), NULL, 0 }
/* In the order of the text; the label names the writer ("remote_write NAME:"). */
const struct view_field view_remote_write_fields[] = {
	{ "name", NULL, NULL, NULL, VF_STR, put_row_str, RS(name), NULL, 0 },
	{ "url", NULL, NULL, NULL, VF_STR, put_row_str, RS(url), NULL, 0 },
	{ "sent_samples", NULL, "remote_write %s:", "%s samples sent", VF_COUNT, put_row_u64,
	  RS(sent_samples), NULL, VF_NAMED },
	R_U64("queued_samples", ", %s queued", queued_samples),
	R_U64("dropped_samples", ", %s dropped (queue full)", dropped_samples),
	R_U64("rejected_samples", ", %s rejected", rejected_samples),
	R_U64("failed_requests", ", %s failed requests", failed_requests),
	R_U64("queued_batches", NULL, queued_batches),
	R_U64("collected_samples", NULL, collected_samples),
	R_U64("collected_batches", NULL, collected_batches),
	R_U64("sent_batches", NULL, sent_batches),
	R_U64("dropped_batches", NULL, dropped_batches),
	R_U64("last_batch_samples", NULL, last_batch_samples),
	R_U64("last_collect_us", NULL, last_collect_us),
	{ "last_error", NULL, "  last error:", "%s", VF_STR, put_row_str, RS(last_error), NULL,
	  VF_OPT },
};
const size_t view_remote_write_nfields =
	sizeof(view_remote_write_fields) / sizeof(view_remote_write_fields[0]);

static void put_name(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_str(j, x->t->cfg.name);
}

static void put_host(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_str(j, x->t->cfg.host);
}

static void put_address(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_addr(j, f->key, &x->t->addr);
}

static void put_port(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_uint(j, x->t->cfg.opts.port);
}

static void put_kind(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_str(j, probe_kind_str(x->t->cfg.opts.kind));
}

static void put_state(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_str(j, target_state(x->t));
}

static void put_last_result(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	const struct target_stats *s = &x->t->st;
	jb_key(j, f->key);
	if (s->probes)
		jb_str(j, probe_result_str((enum probe_result)s->last_result));
	else
		jb_null(j);
}

static void put_last_rtt(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_ns(j, f->key, x->t->st.last_rtt_ns, 1e3);
}

static void put_p50_rtt(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_quantile_us(j, f->key, target_phase(&x->t->st, PHASE_HANDSHAKE), x->dc, 0.5);
}

static void put_p99_rtt(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_quantile_us(j, f->key, target_phase(&x->t->st, PHASE_HANDSHAKE), x->dc, 0.99);
}

static void put_p99_connect(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_quantile_us(j, f->key, target_phase(&x->t->st, PHASE_CONNECT), x->dc, 0.99);
}

static void put_ambiguous(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_uint(j, x->t->st.rtt_ambiguous);
}

static void put_loss(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_loss(j, f->key, x->t, false);
}

static void put_failed(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_loss(j, f->key, x->t, true);
}

static void put_probes(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_uint(j, x->t->st.probes);
}

static void put_labels(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_labels(j, x->t);
}

/* The row `targets` lists for each target; labelled rows are its columns. */
const struct view_field view_target_fields[] = {
	{ "name", NULL, "NAME", "%s", VF_STR, put_name, 0, NULL, 0 },
	{ "host", NULL, NULL, NULL, VF_STR, put_host, 0, NULL, 0 },
	{ "address", NULL, "ADDRESS", "%s", VF_DEST, put_address, 0, NULL, 0 },
	{ "port", NULL, NULL, NULL, VF_COUNT, put_port, 0, NULL, 0 },
	{ "kind", NULL, "KIND", "%s", VF_STR, put_kind, 0, NULL, 0 },
	{ "state", NULL, "STATE", "%s", VF_STR, put_state, 0, NULL, 0 },
	{ "last_result", NULL, "LAST", "%s", VF_STR, put_last_result, 0, NULL, 0 },
	{ "last_rtt_us", NULL, "RTT", "%s", VF_US, put_last_rtt, 0, NULL, 0 },
	{ "p50_rtt_us", NULL, "P50", "%s", VF_US, put_p50_rtt, 0, NULL, 0 },
	{ "p99_rtt_us", NULL, "P99", "%s", VF_US, put_p99_rtt, 0, NULL, 0 },
	{ "p99_connect_us", NULL, NULL, NULL, VF_US, put_p99_connect, 0, NULL, 0 },
	{ "rtt_ambiguous", NULL, NULL, NULL, VF_COUNT, put_ambiguous, 0, NULL, 0 },
	{ "loss_pct", NULL, "LOSS", "%s", VF_PCT, put_loss, 0, NULL, 0 },
	{ "failed_pct", NULL, "FAILED", "%s", VF_PCT, put_failed, 0, NULL, 0 },
	{ "probes", NULL, NULL, NULL, VF_COUNT, put_probes, 0, NULL, 0 },
	{ "labels", NULL, "LABELS", "%s", VF_LABELS, put_labels, 0, NULL, 0 },
};
const size_t view_target_nfields = sizeof(view_target_fields) / sizeof(view_target_fields[0]);

/* The rows of a table, opening and closing their groups. */
static void put_fields(struct jbuf *j, const struct view_field *fs, size_t n,
		       const struct view_ctx *x)
{
	const char *group = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct view_field *f = &fs[i];
		if (group && (!f->group || strcmp(f->group, group))) {
			jb_obj_end(j);
			group = NULL;
		}
		if (f->group && !group) {
			group = f->group;
			jb_key(j, group);
			jb_obj(j);
		}
		f->put(j, f, x);
	}
	if (group)
		jb_obj_end(j);
}

/* ---- the views ---------------------------------------------------------------- */

void view_status(struct jbuf *j, const struct view_src *src, unsigned clients)
{
	struct registry_status s;
	struct discovery_totals dt;
	registry_status(src->reg, &s);
	discovery_totals(src->disc, &dt);
	const struct status_vals sv = {
		.version = s.version,
		.config = s.config_path,
		.log_level = s.log_level,
		.uptime_s = s.now_ns > s.start_ns ? (s.now_ns - s.start_ns) / 1000000000u : 0,
		.targets = s.targets,
		.paused = s.paused,
		.inflight = s.eng.inflight,
		.queued = s.eng.queued,
		.time_wait = s.eng.time_wait,
		.connections = s.eng.conns,
		.pps = s.pps_out,
		.packets_sent = s.eng.tx_packets,
		.send_errors = s.eng.tx_errors,
		.packets_received = s.eng.rx_packets,
		.packets_unmatched = s.eng.rx_unmatched,
		.packets_bad = s.eng.rx_bad,
		.rx_kernel_drops = s.eng.rx_kernel_drops,
		.probes_started = s.eng.probes_started,
		.probes_waited = s.eng.probes_waited,
		.port_exhausted = s.eng.port_exhausted,
		.tw_peer_fin_retransmits = s.eng.tw_peer_fin_retransmits,
		.tw_duplicates = s.eng.tw_duplicates,
		.tw_rsts = s.eng.tw_rsts,
		.sched_late_max_us = (double)s.sched_late_max_ns / 1e3,
		.sched_skipped = s.sched_skipped,
		.rss_bytes = s.rss_bytes,
		.conn_bytes = s.eng.conns * s.eng.conn_bytes,
		.target_bytes = (uint64_t)s.targets * s.target_bytes,
		.per_conn_bytes = s.eng.conn_bytes,
		.per_target_bytes = s.target_bytes,
		.per_target_status_history_bytes = SERIES_BYTES,
		.reloads = s.reloads,
		.reload_errors = s.reload_errors,
		.control_clients = clients,
		.shard = dt.shard,
		.shard_skipped = dt.shard_skipped,
		.discovery_conflicts = dt.conflicts,
		.discovery_apply_us = dt.apply_us,
	};
	struct view_ctx x = { .row = &sv, .disc = src->disc };
	put_fields(j, view_status_fields, view_status_nfields, &x);
	jb_key(j, "discovery");
	jb_arr(j);
	for (x.di = 0; x.di < dt.sources; x.di++) {
		struct discovery_source_status ds;
		discovery_source_status(src->disc, x.di, &ds);
		x.row = &ds;
		jb_obj(j);
		put_fields(j, view_discovery_fields, view_discovery_nfields, &x);
		jb_obj_end(j);
	}
	jb_arr_end(j);
	const struct remote_writers *rw = src->rw;
	jb_key(j, "remote_write");
	jb_arr(j);
	for (size_t i = 0; i < remote_write_count(rw); i++) {
		struct remote_write_status rs;
		remote_write_status(rw, i, &rs);
		x.row = &rs;
		jb_obj(j);
		put_fields(j, view_remote_write_fields, view_remote_write_nfields, &x);
		jb_obj_end(j);
	}
	jb_arr_end(j);
}

void view_targets(struct jbuf *j, struct registry *reg)
{
	struct view_ctx x = { .dc = &registry_config(reg)->d };
	jb_key(j, "targets");
	jb_arr(j);
	size_t n = registry_target_count(reg);
	for (size_t i = 0; i < n; i++) {
		x.t = registry_target_at(reg, i);
		jb_obj(j);
		put_fields(j, view_target_fields, view_target_nfields, &x);
		jb_obj_end(j);
	}
	jb_arr_end(j);
}

/* Every probe key, from the key table: names and values as a config file
 * writes them. */
static void j_opts(struct jbuf *j, const struct probe_opts *o)
{
	jb_obj(j);
	for (size_t k = 0; k < config_keys(CONFIG_KEYS_PROBE); k++) {
		struct config_key_info ki;
		struct config_value v;
		char b[32];
		config_key_info(CONFIG_KEYS_PROBE, k, &ki);
		config_probe_key_value(o, k, &v, b, sizeof(b));
		jb_key(j, ki.name);
		switch (v.type) {
		case CONFIG_VAL_STR: jb_str(j, v.s); break;
		case CONFIG_VAL_UINT: jb_uint(j, v.u); break;
		case CONFIG_VAL_INT: jb_int(j, v.i); break;
		case CONFIG_VAL_BOOL: jb_bool(j, v.b); break;
		}
	}
	jb_obj_end(j);
}

static void j_hist(struct jbuf *j, const struct hist *h, const struct daemon_cfg *dc)
{
	jb_obj(j);
	jb_key(j, "count");
	jb_uint(j, h->n);
	jb_key(j, "sum_s");
	jb_double(j, h->sum);
	j_quantile_us(j, "p50_us", h, dc, 0.5);
	j_quantile_us(j, "p90_us", h, dc, 0.9);
	j_quantile_us(j, "p99_us", h, dc, 0.99);
	/* counts[i]: observations in (buckets_s[i-1], buckets_s[i]]; the last is +Inf. */
	jb_key(j, "counts");
	jb_arr(j);
	for (unsigned i = 0; i <= dc->n_buckets; i++)
		jb_uint(j, h->counts[i]);
	jb_arr_end(j);
	jb_obj_end(j);
}

static void j_results(struct jbuf *j, const struct target *t, unsigned n)
{
	jb_arr(j);
	for (unsigned i = 0; i < n; i++) {
		const struct hist_entry *e = target_history(t, i);
		if (!e)
			break;
		report_json(j, t->cfg.name, &e->r);
	}
	jb_arr_end(j);
}

/* show: a target's uint64_t at f->off. */
#define TG(field) offsetof(struct target, field)

static void put_t_u64(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_uint(j, *(const uint64_t *)((const char *)x->t + f->off));
}

/* A target message (char * at f->off; target_msg): none is null. */
static void put_t_msg(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_str_or_null(j, f->key, target_msg(*(char *const *)((const char *)x->t + f->off)));
}

/* A CLOCK_REALTIME ns at f->off, in seconds (0 is null). */
static void put_t_time(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_ns(j, f->key, *(const uint64_t *)((const char *)x->t + f->off), 1e9);
}

static void put_source(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_addr(j, f->key, &x->t->src);
}

static void put_config_line(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_uint(j, x->t->cfg.line > 0 ? (uint64_t)x->t->cfg.line : 0);
}

static void put_opts(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	j_opts(j, &x->t->cfg.opts);
}

static void put_inflight(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	jb_uint(j, x->t->inflight);
}

static const char *result_name(unsigned r) { return probe_result_str((enum probe_result)r); }
static const char *close_name(unsigned r) { return close_result_str((enum close_result)r); }

/* {name: count} for the enum values from..to-1. */
static void j_by(struct jbuf *j, const char *key, const uint64_t *n, unsigned from, unsigned to,
		 const char *(*name)(unsigned))
{
	jb_key(j, key);
	jb_obj(j);
	for (unsigned i = from; i < to; i++) {
		jb_key(j, name(i));
		jb_uint(j, n[i]);
	}
	jb_obj_end(j);
}

static void put_by_result(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_by(j, f->key, x->t->st.by_result, RESULT_OK, RESULT_COUNT, result_name);
}

static void put_by_close(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	j_by(j, f->key, x->t->st.by_close, CLOSE_OK, CLOSE_COUNT, close_name);
}

/* Counted in TIME_WAIT, after the probe was reported: on the profile. */
static void put_tw(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	const struct engine_profile *p = x->t->prof;
	jb_key(j, f->key);
	jb_uint(j, p ? *(const uint64_t *)((const char *)&p->tw + f->off) : 0);
}

static void put_peer(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	const struct target_stats *s = &x->t->st;
	report_peer_json(j, s->have_peer, s->peer_mss, s->peer_wscale, s->peer_sack, s->peer_ts,
			 s->peer_ttl);
}

/* probes/findings of the last probe that got a SYN/ACK */
static void put_fp(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	(void)f;
	report_fp_json(j, &x->t->st.find);
}

static void put_findings(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	/* with the ones that take two targets (pairs.c) */
	jb_key(j, f->key);
	jb_arr(j);
	report_findings_items(j, &x->t->st.find);
	pairs_findings_json(j, x->t);
	jb_arr_end(j);
}

/* Path change detection (probes/path.h): the target's one tracker; null
 * rows without trace_interval, or over flows (then each flow has its path
 * in flows[], and the counts and times below are the flows' sum, latest). */
static const struct path_track *track(const struct view_ctx *x)
{
	return target_path(x->t);
}

/* probes/path: routers on the SYN/ACK's way back, from its TTL. */
static void put_peer_hops(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	if (x->t->st.have_peer)
		jb_uint(j, path_hops_from_ttl(x->t->st.peer_ttl));
	else
		jb_null(j);
}

/* A path: hop addresses, null for a silent hop, the target last. */
static void j_path(struct jbuf *j, const struct trace_result *p)
{
	jb_arr(j);
	for (unsigned i = 0; i < p->nhops && i < TRACE_HOPS_MAX; i++) {
		char b[64];
		if (p->hops[i].kind != TRACE_HOP_SILENT)
			jb_str(j, pkt_addr_str(&p->hops[i].addr, b, sizeof(b)));
		else
			jb_null(j);
	}
	jb_arr_end(j);
}

/* The path at f->off of the track, or null. */
static void put_path(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	const struct path_track *pt = track(x);
	bool have = pt && (f->off == offsetof(struct path_track, cur) ? pt->have_cur : pt->have_prev);
	jb_key(j, f->key);
	if (!have) {
		jb_null(j);
		return;
	}
	j_path(j, (const struct trace_result *)((const char *)pt + f->off));
}

/* A time of the track at f->off in seconds; null when 0 or no track. Over
 * flows: the latest change and trace of any flow (a path's age: per flow). */
static void put_path_time(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	const struct path_track *pt = track(x);
	uint64_t ns = pt ? *(const uint64_t *)((const char *)pt + f->off) : 0;
	if (!pt && target_path_per_flow(x->t) && f->off != offsetof(struct path_track, cur_ns)) {
		struct path_sum s;
		target_path_sum(x->t, &s);
		ns = f->off == offsetof(struct path_track, changed_ns) ? s.changed_ns : s.traced_ns;
	}
	jb_ns(j, f->key, ns, 1e9);
}

/* Changes (over flows: their sum); null when the target counts none. */
static void put_path_changes(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	struct path_sum s;
	jb_key(j, f->key);
	if (target_path_watched(x->t)) {
		target_path_sum(x->t, &s);
		jb_uint(j, s.changes);
	} else {
		jb_null(j);
	}
}

/* A count of the traces that fed the target's path (f->off: all, or those
 * started early): trace_interval's, plus a kind trace target's own over
 * flows (never early); null when it watches no path. */
static void put_trace_count(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	const struct target *t = x->t;
	jb_key(j, f->key);
	if (!target_path_watched(t)) {
		jb_null(j);
		return;
	}
	uint64_t n = t->tr && t->cfg.opts.trace_interval_ns
			     ? *(const uint64_t *)((const char *)t->tr + f->off) : 0;
	if (f->off == offsetof(struct target_trace, traces) && t->cfg.opts.kind == PROBE_TRACE &&
	    target_path_per_flow(t) && t->flows)
		n += t->flows->traces;
	jb_uint(j, n);
}

/* The last trace's verdict (over flows: of the flow traced last). */
static void put_path_verdict(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	struct path_sum s;
	target_path_sum(x->t, &s);
	jb_key(j, f->key);
	if (s.traced_ns)
		jb_str(j, path_verdict_str(s.last));
	else
		jb_null(j);
}

/* A flow's path: the current one of its tracker (trace_interval, or kind
 * trace), else (kind trace) its last trace's; absent when it has none. With
 * path changes per flow also previous_path (null: none), path_changes and
 * path_changed_time (null: none). */
static void put_flow_path(struct jbuf *j, const struct target *t, const struct target_flow *fl)
{
	const struct path_track *pt = fl->path;
	const struct trace_result *cur = pt && pt->have_cur ? &pt->cur : fl->trace;
	if (cur) {
		jb_key(j, "path");
		j_path(j, cur);
	}
	if (!target_path_per_flow(t))
		return;
	jb_key(j, "previous_path");
	if (pt && pt->have_prev)
		j_path(j, &pt->prev);
	else
		jb_null(j);
	jb_key(j, "path_changes");
	jb_uint(j, pt ? pt->changes : 0);
	jb_ns(j, "path_changed_time", pt ? pt->changed_ns : 0, 1e9);
}

/* probes/flows: each flow's numbers (targets with flows > 1; else null),
 * worse: the flows worse than the rest. */
static void put_flows(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	const struct target_flows *tf = x->t->flows;
	jb_key(j, f->key);
	if (!tf) {
		jb_null(j);
		return;
	}
	struct flows_verdict v;
	target_flows_worse(tf, &v);
	jb_arr(j);
	for (unsigned i = 0; i < tf->nf; i++) {
		const struct target_flow *fl = &tf->f[i];
		double p50, p99;
		target_flow_quantiles(fl, &p50, &p99);
		struct flows_row row;
		flows_row_make(&row, i + 1, tf->port[i], fl->probes, fl->lost,
			       fl->ttl, p50, p99, v.why[i]);
		jb_obj(j);
		flows_row_json(j, &row);
		put_flow_path(j, x->t, fl);
		jb_obj_end(j);
	}
	jb_arr_end(j);
}

/* The last complete round (one probe per flow); null before the first. */
static void put_round(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	const struct target_flows *tf = x->t->flows;
	jb_key(j, f->key);
	if (!tf || !tf->rounds) {
		jb_null(j);
		return;
	}
	const struct flows_round *r = &tf->last;
	jb_obj(j);
	jb_key(j, "rounds");
	jb_uint(j, tf->rounds);
	flows_round_json(j, r);
	jb_obj_end(j);
}

/* The last trace: {time, result, hops: [...]} (report_hops_json), null before one. */
static void put_trace(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	const struct trace_result *tr = x->t->st.trace;
	jb_key(j, f->key);
	if (!tr) {
		jb_null(j);
		return;
	}
	jb_obj(j);
	jb_key(j, "time");
	jb_double(j, tr->t_start / 1e9);
	jb_key(j, "result");
	jb_str(j, probe_result_str((enum probe_result)tr->result));
	jb_key(j, "hops");
	report_hops_json(j, tr);
	jb_obj_end(j);
}

static void put_histograms(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	const struct daemon_cfg *dc = x->dc;
	jb_key(j, f->key);
	jb_obj(j);
	jb_key(j, "buckets_s");
	jb_arr(j);
	for (unsigned i = 0; i < dc->n_buckets; i++)
		jb_double(j, dc->buckets[i]);
	jb_arr_end(j);
	for (unsigned p = 0; p < PHASE_COUNT; p++) {
		jb_key(j, phase_str((enum phase)p));
		j_hist(j, target_phase(&x->t->st, (enum phase)p), dc);
	}
	jb_obj_end(j);
}

static void put_recent(struct jbuf *j, const struct view_field *f, const struct view_ctx *x)
{
	jb_key(j, f->key);
	j_results(j, x->t, VIEW_SHOW_RECENT);
}

#define TW(field) offsetof(struct engine_tw_counts, field)
#define PT(field) offsetof(struct path_track, field)
#define TT(field) offsetof(struct target_trace, field)

/* Everything about one target, in the order of the text; histograms and
 * recent results have text of their own (views_text.c). */
const struct view_field view_show_fields[] = {
	{ "name", NULL, NULL, NULL, VF_STR, put_name, 0, NULL, 0 },
	{ "host", NULL, "  host:", "%s", VF_STR, put_host, 0, NULL, 0 },
	{ "labels", NULL, "  labels:", "%s", VF_LABELS, put_labels, 0, NULL, 0 },
	{ "address", NULL, "  address:", "%s", VF_DEST, put_address, 0, NULL, 0 },
	{ "source", NULL, NULL, " from %s", VF_STR, put_source, 0, NULL, VF_OPT },
	/* A name's last answer and the last lookup's error (null: it worked). */
	{ "resolved_at", NULL, "  resolved:", "%s", VF_TIME, put_t_time, TG(resolved_at), NULL,
	  VF_OPT },
	{ "resolve_error", NULL, NULL, ", last lookup: %s", VF_STR, put_t_msg, TG(resolve_error),
	  NULL, VF_OPT },
	{ "port", NULL, NULL, NULL, VF_COUNT, put_port, 0, NULL, 0 },
	{ "kind", NULL, "  kind:", "%s", VF_STR, put_kind, 0, NULL, 0 },
	{ "state", NULL, "  state:", "%s", VF_STR, put_state, 0, NULL, 0 },
	{ "error", NULL, "  error:", "%s", VF_STR, put_t_msg, TG(error), NULL, VF_OPT },
	/* 0: added at run time */
	{ "config_line", NULL, "  config line:", "%s", VF_COUNT, put_config_line, 0,
	  "none (added at run time)", 0 },
	{ "config", NULL, "  options:", "%s", VF_MEMBERS, put_opts, 0, NULL, 0 },
	{ "probes", NULL, "  probes:", "%s", VF_COUNT, put_t_u64, TG(st.probes), NULL, 0 },
	{ "expected", NULL, NULL, " (%s expected", VF_COUNT, put_t_u64, TG(expected), NULL, 0 },
	{ "inflight", NULL, NULL, ", %s in flight)", VF_COUNT, put_inflight, 0, NULL, 0 },
	{ "last_result", NULL, "  last result:", "%s", VF_STR, put_last_result, 0, "none", 0 },
	{ "last_rtt_us", NULL, NULL, ", rtt %s", VF_US, put_last_rtt, 0, NULL, 0 },
	{ "last_probe_time", NULL, NULL, ", at %s", VF_TIME, put_t_time, TG(st.last_probe_ns), NULL,
	  0 },
	{ "last_ok_time", NULL, "  last ok:", "%s", VF_TIME, put_t_time, TG(st.last_ok_ns), NULL, 0 },
	{ "loss_pct", NULL, "  loss:", "%s unanswered", VF_PCT, put_loss, 0, NULL, 0 },
	{ "failed_pct", NULL, NULL, ", %s failed", VF_PCT, put_failed, 0, NULL, 0 },
	{ "results", NULL, "  results:", "%s", VF_MEMBERS, put_by_result, 0, NULL, 0 },
	{ "close_results", NULL, "  close results:", "%s", VF_MEMBERS, put_by_close, 0, NULL, 0 },
	{ "syn_retransmits", NULL, "  retransmits:", "syn %s", VF_COUNT, put_t_u64,
	  TG(st.syn_retransmits), NULL, 0 },
	{ "synack_retransmits", NULL, NULL, ", syn/ack %s", VF_COUNT, put_t_u64,
	  TG(st.synack_retransmits), NULL, 0 },
	{ "fin_retransmits", NULL, "  fin retransmits:", "ours %s", VF_COUNT, put_t_u64,
	  TG(st.fin_retransmits), NULL, 0 },
	{ "peer_fin_retransmits", NULL, NULL, ", the peer's %s", VF_COUNT, put_t_u64,
	  TG(st.peer_fin_retransmits), NULL, 0 },
	{ "duplicates", NULL, NULL, "; duplicates (syn/ack, fin) %s", VF_COUNT, put_t_u64,
	  TG(st.duplicates), NULL, 0 },
	{ "rtt_ambiguous", NULL, "  rtt ambiguous:",
	  "%s probes (SYN retransmitted: no RTT sample, connect only)", VF_COUNT, put_t_u64,
	  TG(st.rtt_ambiguous), NULL, 0 },
	{ "time_wait_duplicates", NULL, NULL, NULL, VF_COUNT, put_tw, TW(duplicates), NULL, 0 },
	{ "time_wait_peer_fin_retransmits", NULL, NULL, NULL, VF_COUNT, put_tw,
	  TW(peer_fin_retransmits), NULL, 0 },
	{ "time_wait_rsts", NULL, NULL, NULL, VF_COUNT, put_tw, TW(rsts), NULL, 0 },
	{ "peer", NULL, "  peer:", "%s", VF_PEER, put_peer, 0, "not seen", 0 },
	{ "peer_hops", NULL, "  peer hops:", "%s", VF_COUNT, put_peer_hops, 0, NULL, 0 },
	{ "fingerprint", NULL, "  fingerprint:", "%s", VF_STR, put_fp, 0, "none", 0 },
	{ "fingerprint_changes", NULL, NULL, " (changed %s times)", VF_COUNT, put_t_u64,
	  TG(st.fp_changes), NULL, 0 },
	{ "findings", NULL, "  findings:", "%s", VF_FINDINGS, put_findings, 0, NULL, 0 },
	/* trace_interval: the current path (silent hops null), when it was first
	 * seen, the last trace and its verdict, changes, the previous path. */
	{ "path", NULL, "  path:", "%s", VF_PATH, put_path, PT(cur), NULL, VF_OPT },
	{ "path_since", NULL, NULL, ", since %s", VF_TIME, put_path_time, PT(cur_ns), NULL, VF_OPT },
	{ "path_traced_time", NULL, "  path traced:", "%s", VF_TIME, put_path_time, PT(traced_ns),
	  NULL, VF_OPT },
	{ "path_last_trace", NULL, NULL, " (%s)", VF_STR, put_path_verdict, 0, NULL, VF_OPT },
	{ "path_traces", NULL, NULL, ", %s traces", VF_COUNT, put_trace_count, TT(traces), NULL,
	  VF_OPT },
	{ "path_traces_early", NULL, NULL, " (%s early)", VF_COUNT, put_trace_count, TT(early), NULL,
	  VF_OPT },
	{ "path_changes", NULL, "  path changes:", "%s", VF_COUNT, put_path_changes, 0, NULL,
	  VF_OPT },
	{ "path_changed_time", NULL, NULL, ", last at %s", VF_TIME, put_path_time, PT(changed_ns),
	  NULL, VF_OPT },
	{ "previous_path", NULL, "  previous path:", "%s", VF_PATH, put_path, PT(prev), NULL,
	  VF_OPT },
	{ "flows", NULL, NULL, NULL, VF_COUNT, put_flows, 0, NULL, 0 },
	{ "round", NULL, NULL, NULL, VF_COUNT, put_round, 0, NULL, 0 },
	/* The last trace, hop by hop (its text: views_text.c). */
	{ "trace", NULL, NULL, NULL, VF_COUNT, put_trace, 0, NULL, 0 },
	{ "histograms", NULL, NULL, NULL, VF_COUNT, put_histograms, 0, NULL, 0 },
	{ "recent", NULL, NULL, NULL, VF_COUNT, put_recent, 0, NULL, 0 },
};
const size_t view_show_nfields = sizeof(view_show_fields) / sizeof(view_show_fields[0]);

void view_show(struct jbuf *j, struct registry *reg, const struct target *t)
{
	const struct view_ctx x = { .t = t, .dc = &registry_config(reg)->d };
	jb_key(j, "target");
	jb_obj(j);
	put_fields(j, view_show_fields, view_show_nfields, &x);
	jb_obj_end(j);
}

void view_history(struct jbuf *j, const struct target *t, unsigned n)
{
	jb_key(j, "target");
	jb_str(j, t->cfg.name);
	j_labels(j, t);
	jb_key(j, "results");
	j_results(j, t, n);
}

void view_result_event(struct jbuf *j, const char *target, const struct probe_report *r,
		       const struct target *t, bool labels)
{
	jb_obj(j);
	jb_key(j, "event");
	jb_str(j, "result");
	jb_key(j, "result");
	report_json(j, target, r);
	if (labels)
		j_labels(j, t);
	jb_obj_end(j);
}
