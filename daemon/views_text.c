/* views_text.c: the daemon's views (views.c) as text, for `tcpprobe ctl`.
 * Made from the JSON reply, so the daemon's reply is the single source of
 * truth; field names, labels and formats come from views.c's tables, and a
 * probe result is printed by report.c, as `tcpprobe probe` prints it. */
#include "views_text.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define LABEL_W 20

/* ---- values ------------------------------------------------------------------- */

/* NAN when missing or not a number. */
static double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

const char *view_text_str(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

static const char *fmt_us(double us, char *b, size_t len)
{
	if (isnan(us))
		snprintf(b, len, "-");
	else if (us < 1000)
		snprintf(b, len, "%.0fus", us);
	else if (us < 1e6)
		snprintf(b, len, "%.2fms", us / 1e3);
	else
		snprintf(b, len, "%.2fs", us / 1e6);
	return b;
}

static const char *fmt_bytes(double v, char *b, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;
	if (isnan(v))
		v = 0;
	while (v >= 1024 && u < 4)
		v /= 1024, u++;
	snprintf(b, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return b;
}

static const char *fmt_uptime(double s, char *b, size_t len)
{
	unsigned long long t = isnan(s) ? 0 : (unsigned long long)s;
	unsigned long long d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, sec = t % 60;
	if (d)
		snprintf(b, len, "%llud %lluh %llum %llus", d, h, m, sec);
	else if (h)
		snprintf(b, len, "%lluh %llum %llus", h, m, sec);
	else
		snprintf(b, len, "%llum %llus", m, sec);
	return b;
}

static const char *fmt_time(double epoch, char *b, size_t len)
{
	if (isnan(epoch) || epoch <= 0)
		snprintf(b, len, "never");
	else
		report_time_str((uint64_t)llround(epoch * 1e9), b, len);
	return b;
}

/* "k=v,k=v" from a "labels" object; "-" for none. */
static const char *fmt_labels(const json_t *l, char *out, size_t len)
{
	size_t o = 0;
	const char *k;
	const json_t *v;
	out[0] = 0;
	json_object_foreach((json_t *)l, k, v) {
		if (o >= len)
			break;
		int r = snprintf(out + o, len - o, "%s%s=%s", o ? "," : "", k,
				 json_is_string(v) ? json_string_value(v) : "?");
		if (r < 0)
			break;
		o += (size_t)r;
	}
	if (!out[0])
		snprintf(out, len, "-");
	return out;
}

/* "[addr]:port" as report_line writes it; the host when not resolved. */
static const char *fmt_dest(const json_t *o, char *b, size_t len)
{
	const char *a = view_text_str(o, "address", view_text_str(o, "host", "?"));
	double port = num(o, "port");
	snprintf(b, len, strchr(a, ':') ? "[%s]:%.0f" : "%s:%.0f", a, isnan(port) ? 0 : port);
	return b;
}

/* A number as an integer, or "-" when missing. */
static const char *fmt_n(const json_t *o, const char *key, char *b, size_t len)
{
	double v = num(o, key);
	if (isnan(v))
		snprintf(b, len, "-");
	else
		snprintf(b, len, "%.0f", v);
	return b;
}

static const char *fmt_pct(double v, char *b, size_t n)
{
	if (isnan(v))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.1f%%", v);
	return b;
}

/* " k=v" for each member of an object (numbers as integers, yes/no). */
static const char *fmt_members(const json_t *o, char *b, size_t len)
{
	const char *k;
	const json_t *v;
	size_t n = 0;
	b[0] = 0;
	json_object_foreach((json_t *)o, k, v) {
		int r = -1;
		const char *sep = n ? " " : "";
		if (json_is_string(v))
			r = snprintf(b + n, len - n, "%s%s=%s", sep, k, json_string_value(v));
		else if (json_is_number(v))
			r = snprintf(b + n, len - n, "%s%s=%.0f", sep, k, json_number_value(v));
		else if (json_is_boolean(v))
			r = snprintf(b + n, len - n, "%s%s=%s", sep, k, json_is_true(v) ? "yes" : "no");
		if (r < 0)
			continue;
		if ((size_t)r >= len - n)
			break;
		n += (size_t)r;
	}
	return b;
}

static const char *yes_no(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key)) ? "yes" : "no";
}

static const char *fmt_peer(const json_t *p, char *b, size_t len)
{
	char m[32], w[32], t[32];
	snprintf(b, len, "mss %s, wscale %s, sack %s, timestamps %s, ttl %s",
		 fmt_n(p, "mss", m, sizeof(m)), fmt_n(p, "wscale", w, sizeof(w)), yes_no(p, "sack"),
		 yes_no(p, "timestamps"), fmt_n(p, "ttl", t, sizeof(t)));
	return b;
}

static const char *fmt_findings(const json_t *a, char *b, size_t len)
{
	size_t i, n = 0;
	const json_t *f;
	b[0] = '\0';
	json_array_foreach(a, i, f) {
		int k = snprintf(b + n, len - n, "%s%s: %s", n ? "; " : "", view_text_str(f, "name", "?"),
				 view_text_str(f, "evidence", ""));
		if (k < 0 || (size_t)k >= len - n)
			break;
		n += (size_t)k;
	}
	return n ? b : "none";
}

static const char *fmt_path(const json_t *a, char *b, size_t len)
{
	size_t i, n = 0;
	const json_t *h;
	b[0] = '\0';
	json_array_foreach(a, i, h) {
		const char *s = json_is_string(h) ? json_string_value(h) : "*";
		int k = snprintf(b + n, len - n, "%s%s", n ? " " : "", s);
		if (k < 0 || (size_t)k >= len - n)
			break;
		n += (size_t)k;
	}
	return b;
}

/* Set: present, not null, not "". */
static bool is_set(const json_t *row, const struct view_field *f)
{
	const json_t *o = f->group ? json_object_get(row, f->group) : row;
	const json_t *v = json_object_get(o, f->key);
	return v && !json_is_null(v) && !(json_is_string(v) && !json_string_length(v));
}

/* Field f of row as text. */
static const char *fmt_field(const json_t *row, const struct view_field *f, char *b, size_t len)
{
	const json_t *o = f->group ? json_object_get(row, f->group) : row;
	const json_t *v = json_object_get(o, f->key);
	if (f->none && (!v || json_is_null(v) || (f->fmt == VF_COUNT && json_number_value(v) == 0)))
		return f->none;
	switch (f->fmt) {
	case VF_COUNT: return fmt_n(o, f->key, b, len);
	case VF_STR: snprintf(b, len, "%s", view_text_str(o, f->key, "-")); return b;
	case VF_RATE:
		snprintf(b, len, "%.1f", num(o, f->key));
		return b;
	case VF_US: return fmt_us(num(o, f->key), b, len);
	case VF_BYTES: return fmt_bytes(num(o, f->key), b, len);
	case VF_UPTIME: return fmt_uptime(num(o, f->key), b, len);
	case VF_PCT: return fmt_pct(num(o, f->key), b, len);
	case VF_DEST: return fmt_dest(o, b, len);
	case VF_LABELS: return fmt_labels(v, b, len);
	case VF_TIME: return fmt_time(num(o, f->key), b, len);
	case VF_MEMBERS: return fmt_members(v, b, len);
	case VF_PEER: return fmt_peer(v, b, len);
	case VF_FINDINGS: return fmt_findings(v, b, len);
	case VF_PATH: return fmt_path(v, b, len);
	case VF_LINES: return "?"; /* print_fields writes them */
	}
	return "?";
}

static void kv_line(FILE *out, const char *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void kv_line(FILE *out, const char *k, const char *fmt, ...)
{
	va_list ap;
	fprintf(out, "%-*s ", LABEL_W, k);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

/* A table's rows as "label   value, value" lines: a labelled row starts a
 * line, an unlabelled one continues it, a row without text is JSON only.
 * An optional row (VF_OPT) that is not set is left out, and so is a line
 * with only such rows. */
static void print_fields(FILE *out, const json_t *o, const struct view_field *fs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!fs[i].text || !fs[i].label)
			continue;
		size_t end = i + 1;
		bool show = !(fs[i].flags & VF_OPT) || is_set(o, &fs[i]);
		for (; end < n && !(fs[end].text && fs[end].label); end++)
			if (fs[end].text && is_set(o, &fs[end]))
				show = true;
		if (!show)
			continue;
		if (fs[i].fmt == VF_LINES) {
			size_t k;
			const json_t *e;
			json_array_foreach(json_object_get(o, fs[i].key), k, e)
				if (json_is_string(e))
					kv_line(out, fs[i].label, "%s", json_string_value(e));
			continue;
		}
		char lab[96];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		if (fs[i].flags & VF_NAMED)
			snprintf(lab, sizeof(lab), fs[i].label, view_text_str(o, "name", "?"));
#pragma GCC diagnostic pop
		fprintf(out, "%-*s ", LABEL_W, fs[i].flags & VF_NAMED ? lab : fs[i].label);
		for (size_t k = i; k < end; k++) {
			const struct view_field *f = &fs[k];
			char b[1024];
			if (!f->text || (k > i && (f->flags & VF_OPT) && !is_set(o, f)))
				continue;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			fprintf(out, f->text, fmt_field(o, f, b, sizeof(b)));
#pragma GCC diagnostic pop
		}
		fputc('\n', out);
	}
}

/* ---- results ------------------------------------------------------------------ */

void view_text_result(FILE *out, const json_t *res, bool with_time, bool trace)
{
	struct report_decoded *d = malloc(sizeof(*d));
	if (!d || report_from_json(res, d) < 0) {
		fprintf(out, "(unreadable result)\n");
		free(d);
		return;
	}
	if (with_time) {
		char t[48];
		fprintf(out, "%s ", report_time_str(d->r.t_start, t, sizeof(t)));
	}
	report_line(out, d->target, 0, &d->r);
	if (trace)
		report_trace(out, &d->r);
	free(d);
}

/* ---- the views ------------------------------------------------------------------ */

void view_text_status(FILE *out, const json_t *r)
{
	size_t i;
	const json_t *s;
	print_fields(out, r, view_status_fields, view_status_nfields);
	json_array_foreach(json_object_get(r, "discovery"), i, s)
		print_fields(out, s, view_discovery_fields, view_discovery_nfields);
	json_array_foreach(json_object_get(r, "remote_write"), i, s)
		print_fields(out, s, view_remote_write_fields, view_remote_write_nfields);
}

#define CELL 80

void view_text_targets(FILE *out, const json_t *r, bool labels)
{
	const struct view_field *cols[32];
	size_t nc = 0;
	for (size_t c = 0; c < view_target_nfields && nc < 32; c++) {
		const struct view_field *f = &view_target_fields[c];
		if (f->label && (labels || f->fmt != VF_LABELS))
			cols[nc++] = f;
	}
	const json_t *ts = json_object_get(r, "targets");
	size_t n = json_array_size(ts);
	char(*cells)[32][CELL] = calloc(n + 1, sizeof(*cells));
	if (!cells) {
		fprintf(stderr, "tcpprobe ctl: out of memory\n");
		return;
	}
	size_t w[32];
	for (size_t c = 0; c < nc; c++) {
		snprintf(cells[0][c], CELL, "%s", cols[c]->label);
		w[c] = strlen(cols[c]->label);
	}
	for (size_t i = 1; i <= n; i++) {
		const json_t *t = json_array_get(ts, i - 1);
		for (size_t c = 0; c < nc; c++) {
			fmt_field(t, cols[c], cells[i][c], CELL);
			if (strlen(cells[i][c]) > w[c])
				w[c] = strlen(cells[i][c]);
		}
	}
	for (size_t i = 0; i <= n; i++) {
		for (size_t c = 0; c < nc; c++) {
			/* Numbers right-aligned, text left-aligned; no trailing blanks. */
			bool numeric = cols[c]->fmt == VF_US || cols[c]->fmt == VF_PCT;
			bool last = c == nc - 1;
			fprintf(out, "%*s%s", numeric ? (int)w[c] : last ? 0 : -(int)w[c], cells[i][c],
				last ? "" : "  ");
		}
		fputc('\n', out);
	}
	free(cells);
}

static void print_hist(FILE *out, const char *phase, const json_t *hs)
{
	const json_t *h = json_object_get(hs, phase);
	const json_t *bounds = json_object_get(hs, "buckets_s");
	const json_t *counts = json_object_get(h, "counts");
	if (!json_is_array(counts))
		return;
	double max = 0, total = num(h, "count");
	size_t i;
	const json_t *c;
	json_array_foreach(counts, i, c)
		if (json_number_value(c) > max)
			max = json_number_value(c);
	char p50[32], p90[32], p99[32];
	fprintf(out, "\n%s latency: %.0f observations, p50 %s, p90 %s, p99 %s\n", phase,
		isnan(total) ? 0 : total, fmt_us(num(h, "p50_us"), p50, sizeof(p50)),
		fmt_us(num(h, "p90_us"), p90, sizeof(p90)), fmt_us(num(h, "p99_us"), p99, sizeof(p99)));
	const int width = 40;
	json_array_foreach(counts, i, c) {
		char lab[32], bar[64];
		const json_t *b = json_array_get(bounds, i);
		if (b)
			fmt_us(json_number_value(b) * 1e6, lab, sizeof(lab));
		else
			snprintf(lab, sizeof(lab), "+Inf");
		double v = json_number_value(c);
		int len = max > 0 ? (int)lround(v * width / max) : 0;
		if (v > 0 && len == 0)
			len = 1;
		memset(bar, '#', (size_t)len);
		bar[len] = 0;
		fprintf(out, "  <= %-8s |%-*s| %.0f\n", lab, width, bar, v);
	}
}

/* The flows table (views.c put_flows) and the last round (put_round). */
static void print_flows(FILE *out, const json_t *t)
{
	const json_t *fl = json_object_get(t, "flows"), *e;
	if (!json_array_size(fl))
		return;
	size_t i;
	fprintf(out, "\nflows (worse than the rest:");
	const char *sep = " ";
	json_array_foreach(fl, i, e)
		if (json_array_size(json_object_get(e, "worse"))) {
			fprintf(out, "%s%.0f", sep, num(e, "flow"));
			sep = ", ";
		}
	fprintf(out, "%s):\n  flow  sport  probes  lost  loss%%    rtt p50    rtt p99  ttl  worse\n",
		*sep == ' ' ? " none" : "");
	json_array_foreach(fl, i, e) {
		char p50[32], p99[32], loss[16], ttl[8] = "-", why[16] = "";
		const json_t *w = json_object_get(e, "worse"), *x;
		size_t k;
		json_array_foreach(w, k, x)
			snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s%s", k ? "," : "",
				 json_string_value(x) ? json_string_value(x) : "?");
		if (json_is_number(json_object_get(e, "ttl")))
			snprintf(ttl, sizeof(ttl), "%.0f", num(e, "ttl"));
		fprintf(out, "  %4.0f  %5.0f  %6.0f  %4.0f  %6s  %9s  %9s  %3s  %s\n", num(e, "flow"),
			num(e, "source_port"), num(e, "probes"), num(e, "lost"),
			fmt_pct(num(e, "loss_pct"), loss, sizeof(loss)),
			fmt_us(num(e, "rtt_p50_us"), p50, sizeof(p50)),
			fmt_us(num(e, "rtt_p99_us"), p99, sizeof(p99)), ttl, why);
		char pb[TRACE_HOPS_MAX * 48];
		const json_t *path = json_object_get(e, "path");
		if (json_array_size(path))
			fprintf(out, "        path: %s\n", fmt_path(path, pb, sizeof(pb)));
		/* Path changes per flow: shown once there was one. */
		if (num(e, "path_changes") > 0) {
			char when[64];
			fprintf(out, "        path changes: %.0f, last at %s, previous: %s\n",
				num(e, "path_changes"), fmt_time(num(e, "path_changed_time"), when, sizeof(when)),
				fmt_path(json_object_get(e, "previous_path"), pb, sizeof(pb)));
		}
	}
	const json_t *rd = json_object_get(t, "round");
	if (json_is_object(rd)) {
		char a[32], b[32], c[32], j[32];
		fprintf(out, "last round (of %.0f): %.0f probes, %.0f answered, %.0f lost, rtt "
			"min/median/max %s/%s/%s, jitter %s\n", num(rd, "rounds"), num(rd, "probes"),
			num(rd, "answered"), num(rd, "lost"), fmt_us(num(rd, "rtt_min_us"), a, sizeof(a)),
			fmt_us(num(rd, "rtt_median_us"), b, sizeof(b)),
			fmt_us(num(rd, "rtt_max_us"), c, sizeof(c)), fmt_us(num(rd, "jitter_us"), j, sizeof(j)));
	}
}

void view_text_show(FILE *out, const json_t *r)
{
	const json_t *t = json_object_get(r, "target");
	fprintf(out, "target %s\n", view_text_str(t, "name", "?"));
	print_fields(out, t, view_show_fields, view_show_nfields);
	print_flows(out, t);
	const json_t *tr = json_object_get(t, "trace");
	static struct trace_result path; /* 2.6 KB: not on the stack */
	if (json_is_object(tr) && report_hops_from_json(json_object_get(tr, "hops"), &path) == 0) {
		char when[64];
		fprintf(out, "\nlast trace: %s, %s\n", view_text_str(tr, "result", "?"),
			fmt_time(num(tr, "time"), when, sizeof(when)));
		report_hops(out, &path);
	}
	print_hist(out, "handshake", json_object_get(t, "histograms"));
	print_hist(out, "connect", json_object_get(t, "histograms"));
	const json_t *recent = json_object_get(t, "recent");
	if (json_array_size(recent)) {
		size_t i;
		const json_t *e;
		fprintf(out, "\nrecent results:\n");
		json_array_foreach(recent, i, e)
			view_text_result(out, e, true, true);
	}
}

void view_text_history(FILE *out, const json_t *r)
{
	size_t i;
	const json_t *e;
	json_array_foreach(json_object_get(r, "results"), i, e)
		view_text_result(out, e, true, false);
}
