/* ctl.c: `tcpprobe ctl`, the control socket's client. Sends one request
 * line, reads JSON lines back, and prints them as they came (--json) or
 * for people, picking the renderer from a table by command (bgpctl's
 * habit). The daemon's replies are the single source of truth: the human
 * output is made from the same JSON, read by the small reader below. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctlproto.h"
#include "daemon.h"

#define CTL_DEFAULT_SOCKET "/run/tcpprobe/control.sock"
#define CTL_TIMEOUT_S 10
#define CTL_PROBE_MIN_S 60
#define CTL_REPLY_MAX (256u << 20) /* one reply line; metrics of a huge daemon fit */
#define JV_DEPTH_MAX 64

static const char *prog = "tcpprobe ctl";
static volatile sig_atomic_t interrupted;

/* ---- a small JSON reader (RFC 8259), enough for the daemon's replies ---- */

enum jt { JT_NULL, JT_BOOL, JT_NUM, JT_STR, JT_ARR, JT_OBJ };

struct jv {
	enum jt t;
	bool b;
	double n;
	char *s;          /* JT_STR */
	char *key;        /* member name, inside an object */
	struct jv *kids;  /* JT_ARR / JT_OBJ, in order */
	struct jv *next;
};

struct jp {
	const char *p, *end;
	unsigned depth;
};

static void jv_free(struct jv *v)
{
	while (v) {
		struct jv *n = v->next;
		jv_free(v->kids);
		free(v->s);
		free(v->key);
		free(v);
		v = n;
	}
}

static void jp_ws(struct jp *jp)
{
	while (jp->p < jp->end && *jp->p && strchr(" \t\r\n", *jp->p))
		jp->p++;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
	unsigned v = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* At the opening quote; returns the decoded string (malloc) or NULL. */
static char *jp_string(struct jp *jp)
{
	const char *p = jp->p + 1;
	/* Decoded is never longer than encoded. */
	const char *q = p;
	while (q < jp->end && *q != '"') {
		if (*q == '\\')
			q++;
		q++;
	}
	if (q >= jp->end)
		return NULL;
	char *out = malloc((size_t)(q - p) + 1), *o = out;
	if (!out)
		return NULL;
	while (p < q) {
		unsigned char c = (unsigned char)*p++;
		if (c < 0x20)
			goto bad;
		if (c != '\\') {
			*o++ = (char)c;
			continue;
		}
		char e = *p++;
		unsigned cp, lo;
		switch (e) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (hex4(p, q, &cp) < 0)
				goto bad;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && q - p >= 6 && p[0] == '\\' &&
			    p[1] == 'u' && hex4(p + 2, q, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd;
			}
			o += utf8_put(o, cp);
			break;
		default:
			goto bad;
		}
	}
	*o = 0;
	jp->p = q + 1;
	return out;
bad:
	free(out);
	return NULL;
}

static struct jv *jp_value(struct jp *jp);

static struct jv *jp_container(struct jp *jp, struct jv *v, char close)
{
	struct jv **tail = &v->kids;
	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		return v;
	}
	for (;;) {
		char *key = NULL;
		if (v->t == JT_OBJ) {
			jp_ws(jp);
			if (jp->p >= jp->end || *jp->p != '"' || !(key = jp_string(jp)))
				goto bad;
			jp_ws(jp);
			if (jp->p >= jp->end || *jp->p != ':') {
				free(key);
				goto bad;
			}
			jp->p++;
		}
		struct jv *kid = jp_value(jp);
		if (!kid) {
			free(key);
			goto bad;
		}
		kid->key = key;
		*tail = kid;
		tail = &kid->next;
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			continue;
		}
		if (jp->p < jp->end && *jp->p == close) {
			jp->p++;
			return v;
		}
		goto bad;
	}
bad:
	jv_free(v);
	return NULL;
}

static struct jv *jp_value(struct jp *jp)
{
	jp_ws(jp);
	if (jp->p >= jp->end || jp->depth >= JV_DEPTH_MAX)
		return NULL;
	struct jv *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	size_t left = (size_t)(jp->end - jp->p);
	char c = *jp->p;
	if (c == '{' || c == '[') {
		v->t = c == '{' ? JT_OBJ : JT_ARR;
		jp->depth++;
		v = jp_container(jp, v, c == '{' ? '}' : ']');
		jp->depth--;
		return v;
	}
	if (c == '"') {
		v->t = JT_STR;
		if (!(v->s = jp_string(jp)))
			goto bad;
		return v;
	}
	if (left >= 4 && !memcmp(jp->p, "null", 4)) {
		jp->p += 4;
		return v;
	}
	if (left >= 4 && !memcmp(jp->p, "true", 4)) {
		v->t = JT_BOOL, v->b = true, jp->p += 4;
		return v;
	}
	if (left >= 5 && !memcmp(jp->p, "false", 5)) {
		v->t = JT_BOOL, jp->p += 5;
		return v;
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		char num[64];
		size_t n = strspn(jp->p, "+-0123456789.eE");
		if (n > left)
			n = left;
		if (n >= sizeof(num))
			goto bad;
		memcpy(num, jp->p, n);
		num[n] = 0;
		char *e;
		v->t = JT_NUM;
		v->n = strtod(num, &e);
		if (e != num + n)
			goto bad;
		jp->p += n;
		return v;
	}
bad:
	jv_free(v);
	return NULL;
}

/* s must be NUL-terminated at s[len]. */
static struct jv *jv_parse(const char *s, size_t len)
{
	struct jp jp = { s, s + len, 0 };
	struct jv *v = jp_value(&jp);
	jp_ws(&jp);
	if (v && jp.p != jp.end) {
		jv_free(v);
		return NULL;
	}
	return v;
}

static const struct jv *jv_get(const struct jv *o, const char *key)
{
	if (!o || o->t != JT_OBJ)
		return NULL;
	for (const struct jv *k = o->kids; k; k = k->next)
		if (k->key && !strcmp(k->key, key))
			return k;
	return NULL;
}

static const char *jv_str(const struct jv *o, const char *key)
{
	const struct jv *v = jv_get(o, key);
	return v && v->t == JT_STR ? v->s : NULL;
}

static const char *jv_str_or(const struct jv *o, const char *key, const char *dflt)
{
	const char *s = jv_str(o, key);
	return s ? s : dflt;
}

/* NAN when missing or null. */
static double jv_num(const struct jv *o, const char *key)
{
	const struct jv *v = jv_get(o, key);
	return v && v->t == JT_NUM ? v->n : NAN;
}

static bool jv_true(const struct jv *o, const char *key)
{
	const struct jv *v = jv_get(o, key);
	return v && v->t == JT_BOOL && v->b;
}

/* ---- formatting helpers ----------------------------------------------------- */

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

static const char *fmt_secs(double s, char *b, size_t len)
{
	if (isnan(s))
		snprintf(b, len, "+Inf");
	else
		fmt_us(s * 1e6, b, len);
	return b;
}

static const char *fmt_time(double epoch, char *b, size_t len)
{
	if (isnan(epoch)) {
		snprintf(b, len, "never");
		return b;
	}
	time_t t = (time_t)epoch;
	struct tm tm;
	char d[32];
	localtime_r(&t, &tm);
	strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(b, len, "%s.%03d", d, (int)((epoch - (double)t) * 1000) % 1000);
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

/* A number as an integer, or "-" when missing. */
static const char *fmt_n(const struct jv *o, const char *key, char *b, size_t len)
{
	double v = jv_num(o, key);
	if (isnan(v))
		snprintf(b, len, "-");
	else
		snprintf(b, len, "%.0f", v);
	return b;
}

static void kv_line(const char *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kv_line(const char *k, const char *fmt, ...)
{
	va_list ap;
	printf("%-20s ", k);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* "[addr]:port" as report_line writes it. */
static const char *fmt_dest(const struct jv *o, char *b, size_t len)
{
	const char *a = jv_str(o, "address");
	double port = jv_num(o, "port");
	if (!a)
		a = jv_str_or(o, "host", "?");
	snprintf(b, len, strchr(a, ':') ? "[%s]:%.0f" : "%s:%.0f", a, isnan(port) ? 0 : port);
	return b;
}

/* One result, the way report_line() prints it, with its time first. */
static void print_result_line(const struct jv *r, bool with_time)
{
	char t[48];
	const char *addr = jv_str_or(r, "address", "?");
	if (with_time)
		printf("%s ", fmt_time(jv_num(r, "time"), t, sizeof(t)));
	printf("%s [%s]:%.0f %s sport=%.0f %s", jv_str_or(r, "kind", "?"), addr, jv_num(r, "port"),
	       jv_str_or(r, "target", "?"), jv_num(r, "source_port"), jv_str_or(r, "result", "?"));
	if (jv_str(r, "error"))
		printf(" (%s)", jv_str(r, "error"));
	double rtt = jv_num(r, "rtt_us"), conn = jv_num(r, "connect_us");
	if (!isnan(rtt))
		printf(" rtt=%.3f ms", rtt / 1e3);
	else if (jv_true(r, "rtt_ambiguous"))
		printf(" rtt=ambiguous");
	if (jv_true(r, "rtt_ambiguous") && !isnan(conn))
		printf(" connect=%.3f ms", conn / 1e3);
	double sr = jv_num(r, "syn_retransmits");
	if (sr > 0)
		printf(" syn_retransmits=%.0f", sr);
	const struct jv *icmp = jv_get(r, "icmp");
	if (icmp && icmp->t == JT_OBJ)
		printf(" icmp=%s(%.0f/%.0f)", jv_str_or(icmp, "name", "?"), jv_num(icmp, "type"),
		       jv_num(icmp, "code"));
	const char *close = jv_str(r, "close");
	if (close && strcmp(close, "none")) {
		printf(" close=%s", close);
		const struct jv *ph = jv_get(r, "phases_us");
		double c = jv_num(ph, "close");
		if (!isnan(c))
			printf(" close_time=%.3f ms", c / 1e3);
	}
	const struct jv *peer = jv_get(r, "peer");
	if (peer && peer->t == JT_OBJ)
		printf(" ttl=%.0f", jv_num(peer, "ttl"));
	putchar('\n');
}

/* The timeline, laid out as report_trace() does. */
static void print_trace(const struct jv *r)
{
	const struct jv *tl = jv_get(r, "timeline");
	if (!tl || tl->t != JT_ARR)
		return;
	for (const struct jv *e = tl->kids; e; e = e->next) {
		const char *dir = jv_str_or(e, "dir", "?");
		const char *state = jv_str_or(e, "state", "?");
		double t = jv_num(e, "t_us");
		if (isnan(t) || t < 0)
			t = 0;
		if (!strcmp(dir, ">") || !strcmp(dir, "<")) {
			char len[24] = "";
			double l = jv_num(e, "len");
			if (!isnan(l) && l > 0)
				snprintf(len, sizeof(len), " len=%.0f", l);
			printf("  %12.3f us  %s %-4s seq=%-10.0f ack=%-10.0f%s  %s%s\n", t,
			       *dir == '>' ? "-->" : "<--", jv_str_or(e, "flags", ""),
			       jv_num(e, "seq"), jv_num(e, "ack"), len, state,
			       jv_true(e, "crossed") ? "  (crossed)" : "");
		} else if (!strcmp(dir, "unsent")) {
			printf("  %12.3f us  --x %-4s seq=%-10.0f ack=%-10.0f  %s (not sent)\n", t,
			       jv_str_or(e, "flags", ""), jv_num(e, "seq"), jv_num(e, "ack"), state);
		} else if (!strcmp(dir, "icmp")) {
			printf("  %12.3f us  <-- ICMP type %-3.0f code %-3.0f          %s\n", t,
			       jv_num(e, "icmp_type"), jv_num(e, "icmp_code"), state);
		} else {
			printf("  %12.3f us      (%s)%*s%s\n", t, dir, (int)(30 - strlen(dir)), "",
			       state);
		}
	}
	double dropped = jv_num(r, "timeline_dropped");
	if (!isnan(dropped) && dropped > 0)
		printf("  (%.0f more events not recorded)\n", dropped);
}

/* ---- renderers, one per command ------------------------------------------------ */

typedef void (*ctl_render)(const struct jv *reply, const struct ctl_request *rq);

static void render_status(const struct jv *r, const struct ctl_request *rq)
{
	char b[64], c[64], d[64], e[64], f[64];
	kv_line("version:", "%s", jv_str_or(r, "version", "?"));
	kv_line("uptime:", "%s", fmt_uptime(jv_num(r, "uptime_s"), b, sizeof(b)));
	kv_line("config:", "%s", jv_str_or(r, "config", "?"));
	kv_line("log level:", "%s", jv_str_or(r, "log_level", "?"));
	kv_line("targets:", "%s (%s paused)", fmt_n(r, "targets", b, sizeof(b)),
		fmt_n(r, "paused", c, sizeof(c)));
	kv_line("in flight:", "%s", fmt_n(r, "inflight", b, sizeof(b)));
	kv_line("queued:", "%s", fmt_n(r, "queued", b, sizeof(b)));
	kv_line("time_wait:", "%s", fmt_n(r, "time_wait", b, sizeof(b)));
	kv_line("packets/s:", "%.1f", jv_num(r, "pps"));
	kv_line("packets sent:", "%s (%s send errors)", fmt_n(r, "packets_sent", b, sizeof(b)),
		fmt_n(r, "send_errors", c, sizeof(c)));
	kv_line("packets received:", "%s (%s unmatched, %s bad)",
		fmt_n(r, "packets_received", b, sizeof(b)),
		fmt_n(r, "packets_unmatched", c, sizeof(c)), fmt_n(r, "packets_bad", d, sizeof(d)));
	kv_line("rx kernel drops:", "%s", fmt_n(r, "rx_kernel_drops", b, sizeof(b)));
	kv_line("probes started:", "%s (%s waited for a slot)",
		fmt_n(r, "probes_started", b, sizeof(b)), fmt_n(r, "probes_waited", c, sizeof(c)));
	kv_line("port exhausted:", "%s", fmt_n(r, "port_exhausted", b, sizeof(b)));
	kv_line("after report:", "in time_wait: %s peer fin retransmits, %s duplicates, %s rsts",
		fmt_n(r, "time_wait_peer_fin_retransmits", b, sizeof(b)),
		fmt_n(r, "time_wait_duplicates", c, sizeof(c)), fmt_n(r, "time_wait_rsts", d, sizeof(d)));
	kv_line("max lateness:", "%s (%s slots skipped: overloaded)",
		fmt_us(jv_num(r, "sched_late_max_us"), b, sizeof(b)),
		fmt_n(r, "sched_skipped", c, sizeof(c)));
	const struct jv *m = jv_get(r, "memory");
	kv_line("memory:", "rss %s, connections %s, targets %s",
		fmt_bytes(jv_num(m, "rss_bytes"), b, sizeof(b)),
		fmt_bytes(jv_num(m, "conn_bytes"), c, sizeof(c)),
		fmt_bytes(jv_num(m, "target_bytes"), d, sizeof(d)));
	kv_line("per connection:", "%s (per target %s, history excluded)",
		fmt_bytes(jv_num(m, "per_conn_bytes"), b, sizeof(b)),
		fmt_bytes(jv_num(m, "per_target_bytes"), c, sizeof(c)));
	kv_line("reloads:", "%s (%s failed)", fmt_n(r, "reloads", b, sizeof(b)),
		fmt_n(r, "reload_errors", c, sizeof(c)));
	kv_line("control clients:", "%s", fmt_n(r, "control_clients", b, sizeof(b)));
	kv_line("shard:", "%s (%s targets left to other shards)", jv_str_or(r, "shard", "0/1"),
		fmt_n(r, "shard_skipped", b, sizeof(b)));
	const struct jv *ds = jv_get(r, "discovery");
	for (const struct jv *s = ds ? ds->kids : NULL; s; s = s->next) {
		char lab[96];
		snprintf(lab, sizeof(lab), "discovery %s:", jv_str_or(s, "name", "?"));
		kv_line(lab, "%s targets from %s files (%s failing), %s reads, %s errors",
			fmt_n(s, "targets", b, sizeof(b)), fmt_n(s, "files", c, sizeof(c)),
			fmt_n(s, "files_failing", d, sizeof(d)), fmt_n(s, "refreshes", e, sizeof(e)),
			fmt_n(s, "errors", f, sizeof(f)));
		const struct jv *fe = jv_get(s, "file_errors");
		for (const struct jv *e1 = fe ? fe->kids : NULL; e1; e1 = e1->next)
			if (e1->t == JT_STR)
				kv_line("  error:", "%s", e1->s);
	}
	const struct jv *rws = jv_get(r, "remote_write");
	for (const struct jv *s = rws ? rws->kids : NULL; s; s = s->next) {
		char lab[96];
		snprintf(lab, sizeof(lab), "remote_write %s:", jv_str_or(s, "name", "?"));
		kv_line(lab, "%s samples sent, %s queued, %s dropped (queue full), %s rejected, "
			"%s failed requests", fmt_n(s, "sent_samples", b, sizeof(b)),
			fmt_n(s, "queued_samples", c, sizeof(c)), fmt_n(s, "dropped_samples", d, sizeof(d)),
			fmt_n(s, "rejected_samples", e, sizeof(e)), fmt_n(s, "failed_requests", f, sizeof(f)));
		const char *le = jv_str(s, "last_error");
		if (le && *le)
			kv_line("  last error:", "%s", le);
	}
}

/* A percentage cell: "-" when unknown. */
static void fmt_pct(double v, char *b, size_t n)
{
	if (isnan(v))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.1f%%", v);
}

/* ctl targets --labels: a LABELS column (client side only). */
static bool show_labels;

/* "k=v,k=v" from a JSON "labels" object. */
static void fmt_labels(const struct jv *t, char *out, size_t len)
{
	const struct jv *l = jv_get(t, "labels");
	size_t o = 0;
	out[0] = 0;
	for (const struct jv *k = l ? l->kids : NULL; k && o < len; k = k->next) {
		int r = snprintf(out + o, len - o, "%s%s=%s", o ? "," : "", k->key,
				 k->t == JT_STR ? k->s : "?");
		if (r < 0)
			break;
		o += (size_t)r;
	}
	if (!out[0])
		snprintf(out, len, "-");
}

#define TCOLS 11
static void render_targets(const struct jv *r, const struct ctl_request *rq)
{
	static const char *const head[TCOLS] = { "NAME", "ADDRESS", "KIND", "STATE", "LAST",
						  "RTT", "P50", "P99", "LOSS", "FAILED", "LABELS" };
	int ncols = show_labels ? TCOLS : TCOLS - 1;
	const struct jv *ts = jv_get(r, "targets");
	size_t n = 0;
	for (const struct jv *t = ts ? ts->kids : NULL; t; t = t->next)
		n++;
	char(*cells)[TCOLS][80] = calloc(n + 1, sizeof(*cells));
	if (!cells) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return;
	}
	size_t w[TCOLS];
	for (int c = 0; c < TCOLS; c++) {
		snprintf(cells[0][c], sizeof(cells[0][c]), "%s", head[c]);
		w[c] = strlen(head[c]);
	}
	size_t i = 1;
	for (const struct jv *t = ts ? ts->kids : NULL; t; t = t->next, i++) {
		char b[32];
		snprintf(cells[i][0], 80, "%s", jv_str_or(t, "name", "?"));
		fmt_dest(t, cells[i][1], 80);
		snprintf(cells[i][2], 80, "%s", jv_str_or(t, "kind", "?"));
		snprintf(cells[i][3], 80, "%s", jv_str_or(t, "state", "?"));
		snprintf(cells[i][4], 80, "%s", jv_str_or(t, "last_result", "-"));
		snprintf(cells[i][5], 80, "%s", fmt_us(jv_num(t, "last_rtt_us"), b, sizeof(b)));
		snprintf(cells[i][6], 80, "%s", fmt_us(jv_num(t, "p50_rtt_us"), b, sizeof(b)));
		snprintf(cells[i][7], 80, "%s", fmt_us(jv_num(t, "p99_rtt_us"), b, sizeof(b)));
		fmt_pct(jv_num(t, "loss_pct"), cells[i][8], 80);
		fmt_pct(jv_num(t, "failed_pct"), cells[i][9], 80);
		fmt_labels(t, cells[i][10], 80);
		for (int c = 0; c < TCOLS; c++)
			if (strlen(cells[i][c]) > w[c])
				w[c] = strlen(cells[i][c]);
	}
	for (i = 0; i <= n; i++) {
		for (int c = 0; c < ncols; c++) {
			/* Numbers right-aligned, text left-aligned; no trailing blanks. */
			bool num = c >= 5 && c <= 9, last = c == ncols - 1;
			printf("%*s%s", num ? (int)w[c] : last ? 0 : -(int)w[c], cells[i][c],
			       last ? "" : "  ");
		}
		putchar('\n');
	}
	free(cells);
}

static void print_hist(const char *phase, const struct jv *hs)
{
	const struct jv *h = jv_get(hs, phase);
	const struct jv *bounds = jv_get(hs, "buckets_s");
	const struct jv *counts = jv_get(h, "counts");
	if (!h || !counts || counts->t != JT_ARR)
		return;
	double max = 0, total = jv_num(h, "count");
	for (const struct jv *c = counts->kids; c; c = c->next)
		if (c->t == JT_NUM && c->n > max)
			max = c->n;
	char p50[32], p90[32], p99[32];
	printf("\n%s latency: %.0f observations, p50 %s, p90 %s, p99 %s\n", phase,
	       isnan(total) ? 0 : total, fmt_us(jv_num(h, "p50_us"), p50, sizeof(p50)),
	       fmt_us(jv_num(h, "p90_us"), p90, sizeof(p90)),
	       fmt_us(jv_num(h, "p99_us"), p99, sizeof(p99)));
	const int width = 40;
	const struct jv *b = bounds ? bounds->kids : NULL;
	for (const struct jv *c = counts->kids; c; c = c->next) {
		char lab[32], bar[64];
		if (b) {
			fmt_secs(b->n, lab, sizeof(lab));
			b = b->next;
		} else {
			snprintf(lab, sizeof(lab), "+Inf");
		}
		int len = max > 0 ? (int)lround(c->n * width / max) : 0;
		if (c->n > 0 && len == 0)
			len = 1;
		memset(bar, '#', (size_t)len);
		bar[len] = 0;
		printf("  <= %-8s |%-*s| %.0f\n", lab, width, bar, c->n);
	}
}

static void render_show(const struct jv *r, const struct ctl_request *rq)
{
	const struct jv *t = jv_get(r, "target");
	char b[96], c[64], d[64];
	printf("target %s\n", jv_str_or(t, "name", "?"));
	kv_line("  host:", "%s", jv_str_or(t, "host", "?"));
	char lb[512];
	fmt_labels(t, lb, sizeof(lb));
	kv_line("  labels:", "%s", lb);
	kv_line("  address:", "%s%s%s", fmt_dest(t, b, sizeof(b)),
		jv_str(t, "source") ? " from " : "", jv_str_or(t, "source", ""));
	if (jv_num(t, "resolved_at") > 0 || jv_str(t, "resolve_error"))
		kv_line("  resolved:", "%s%s%s", fmt_time(jv_num(t, "resolved_at"), c, sizeof(c)),
			jv_str(t, "resolve_error") ? ", last lookup: " : "",
			jv_str_or(t, "resolve_error", ""));
	kv_line("  kind:", "%s", jv_str_or(t, "kind", "?"));
	kv_line("  state:", "%s", jv_str_or(t, "state", "?"));
	if (jv_str(t, "error"))
		kv_line("  error:", "%s", jv_str(t, "error"));
	double line = jv_num(t, "config_line");
	if (line > 0)
		kv_line("  config line:", "%.0f", line);
	else
		kv_line("  config line:", "none (added at run time)");
	const struct jv *cfg = jv_get(t, "config");
	printf("%-20s", "  options:");
	for (const struct jv *k = cfg ? cfg->kids : NULL; k; k = k->next) {
		if (k->t == JT_STR)
			printf(" %s=%s", k->key, k->s);
		else if (k->t == JT_NUM)
			printf(" %s=%.0f", k->key, k->n);
		else if (k->t == JT_BOOL)
			printf(" %s=%s", k->key, k->b ? "yes" : "no");
	}
	putchar('\n');
	kv_line("  probes:", "%s (%s expected, %s in flight)", fmt_n(t, "probes", b, sizeof(b)),
		fmt_n(t, "expected", c, sizeof(c)), fmt_n(t, "inflight", d, sizeof(d)));
	kv_line("  last result:", "%s, rtt %s, at %s", jv_str_or(t, "last_result", "none"),
		fmt_us(jv_num(t, "last_rtt_us"), c, sizeof(c)),
		fmt_time(jv_num(t, "last_probe_time"), b, sizeof(b)));
	kv_line("  last ok:", "%s", fmt_time(jv_num(t, "last_ok_time"), b, sizeof(b)));
	fmt_pct(jv_num(t, "loss_pct"), b, sizeof(b));
	fmt_pct(jv_num(t, "failed_pct"), c, sizeof(c));
	kv_line("  loss:", "%s unanswered, %s failed", b, c);
	const char *groups[] = { "results", "close_results" };
	const char *labels[] = { "  results:", "  close results:" };
	for (int g = 0; g < 2; g++) {
		const struct jv *o = jv_get(t, groups[g]);
		printf("%-20s", labels[g]);
		for (const struct jv *k = o ? o->kids : NULL; k; k = k->next)
			printf(" %s=%.0f", k->key, k->t == JT_NUM ? k->n : 0);
		putchar('\n');
	}
	kv_line("  retransmits:", "syn %s, syn/ack %s", fmt_n(t, "syn_retransmits", b, sizeof(b)),
		fmt_n(t, "synack_retransmits", c, sizeof(c)));
	kv_line("  fin retransmits:", "ours %s, the peer's %s; duplicates (syn/ack, fin) %s",
		fmt_n(t, "fin_retransmits", b, sizeof(b)), fmt_n(t, "peer_fin_retransmits", c, sizeof(c)),
		fmt_n(t, "duplicates", d, sizeof(d)));
	kv_line("  rtt ambiguous:", "%s probes (SYN retransmitted: no RTT sample, connect only)",
		fmt_n(t, "rtt_ambiguous", b, sizeof(b)));
	const struct jv *p = jv_get(t, "peer");
	if (p && p->t == JT_OBJ)
		kv_line("  peer:", "mss %s, wscale %s, sack %s, timestamps %s, ttl %s",
			fmt_n(p, "mss", b, sizeof(b)), fmt_n(p, "wscale", c, sizeof(c)),
			jv_true(p, "sack") ? "yes" : "no", jv_true(p, "timestamps") ? "yes" : "no",
			fmt_n(p, "ttl", d, sizeof(d)));
	else
		kv_line("  peer:", "not seen");
	print_hist("handshake", jv_get(t, "histograms"));
	print_hist("connect", jv_get(t, "histograms"));
	const struct jv *recent = jv_get(t, "recent");
	if (recent && recent->kids) {
		printf("\nrecent results:\n");
		for (const struct jv *e = recent->kids; e; e = e->next) {
			print_result_line(e, true);
			print_trace(e);
		}
	}
}

static void render_history(const struct jv *r, const struct ctl_request *rq)
{
	const struct jv *rs = jv_get(r, "results");
	for (const struct jv *e = rs ? rs->kids : NULL; e; e = e->next)
		print_result_line(e, true);
}

static void render_metrics(const struct jv *r, const struct ctl_request *rq)
{
	fputs(jv_str_or(r, "text", ""), stdout);
}

static void render_log_level(const struct jv *r, const struct ctl_request *rq)
{
	printf("log level: %s\n", jv_str_or(r, "log_level", "?"));
}

static void render_help(const struct jv *r, const struct ctl_request *rq)
{
	const struct jv *cs = jv_get(r, "commands");
	for (const struct jv *c = cs ? cs->kids : NULL; c; c = c->next) {
		char u[96];
		snprintf(u, sizeof(u), "%s %s", jv_str_or(c, "name", "?"), jv_str_or(c, "usage", ""));
		const char *acc = jv_str_or(c, "access", "read");
		printf("  %-40s %s%s%s%s\n", u, jv_str_or(c, "help", ""), strcmp(acc, "read") ? " [" : "",
		       strcmp(acc, "read") ? acc : "", strcmp(acc, "read") ? "]" : "");
	}
}

static void render_done(const struct jv *r, const struct ctl_request *rq)
{
	static const struct { const char *cmd, *done; } words[] = {
		{ "add", "added" }, { "remove", "removed" }, { "pause", "paused" },
		{ "resume", "resumed" },
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(rq->cmd->name, words[i].cmd))
			continue;
		if (!strcmp(rq->argv[0], "--all"))
			printf("%s all targets\n", words[i].done);
		else
			printf("%s %s\n", words[i].done, rq->argv[0]);
		return;
	}
	if (rq->cmd->cmd == CTL_RELOAD) {
		char b[32];
		printf("reloaded: %s targets\n", fmt_n(r, "targets", b, sizeof(b)));
	}
}

/* Streaming: each result event, and the final/first "ok". */
static void render_event(const struct jv *r, bool probe)
{
	const struct jv *res = jv_get(r, "result");
	print_result_line(res, !probe);
	if (probe)
		print_trace(res);
}

static const ctl_render renderers[CTL_CMD_COUNT] = {
	[CTL_STATUS] = render_status,   [CTL_TARGETS] = render_targets,
	[CTL_SHOW] = render_show,       [CTL_HISTORY] = render_history,
	[CTL_PROBE] = NULL,             [CTL_ADD] = render_done,
	[CTL_REMOVE] = render_done,     [CTL_PAUSE] = render_done,
	[CTL_RESUME] = render_done,     [CTL_RELOAD] = render_done,
	[CTL_METRICS] = render_metrics, [CTL_WATCH] = NULL,
	[CTL_LOG_LEVEL] = render_log_level, [CTL_HELP] = render_help,
};

/* ---- the connection ------------------------------------------------------------ */

struct conn {
	int fd;
	char *buf;
	size_t len, cap, start;
	size_t scanned; /* buf[start..scanned) holds no "\n": a megabyte reply is
			 * searched once, not again after every read */
};

static int ctl_connect(const char *path, int timeout_s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: socket path too long: %s\n", prog, path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
		return -1;
	}
	/* A Unix connect blocks while the daemon's backlog is full: bound it. */
	struct timeval tv = { timeout_s, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		const char *hint = "";
		if (e == ENOENT || e == ECONNREFUSED)
			hint = " (is the daemon running?)";
		else if (e == EACCES || e == EPERM)
			hint = " (need access to the socket)";
		else if (e == EAGAIN || e == EINPROGRESS || e == ETIMEDOUT)
			hint = " (the daemon is not accepting)";
		fprintf(stderr, "%s: cannot connect to %s: %s%s\n", prog, path,
			e == EINPROGRESS ? "timed out" : strerror(e), hint);
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Next reply line (NUL-terminated, without "\n") into *line. deadline_ms
 * < 0: wait forever. Returns 1, 0 at EOF, -1 on error (message printed),
 * -2 on interruption. */
static int read_line(struct conn *c, int64_t deadline_ms, char **line, size_t *len)
{
	for (;;) {
		size_t from = c->scanned > c->start ? c->scanned : c->start;
		char *nl = c->len > from ? memchr(c->buf + from, '\n', c->len - from) : NULL;
		c->scanned = nl ? (size_t)(nl - c->buf) + 1 : c->len;
		if (nl) {
			*nl = 0;
			*line = c->buf + c->start;
			*len = (size_t)(nl - *line);
			c->start = (size_t)(nl - c->buf) + 1;
			return 1;
		}
		if (c->start) {
			memmove(c->buf, c->buf + c->start, c->len - c->start);
			c->len -= c->start;
			c->scanned -= c->start;
			c->start = 0;
		}
		if (c->len + 65536 + 1 > c->cap) {
			if (c->cap >= CTL_REPLY_MAX) {
				fprintf(stderr, "%s: reply longer than %u bytes\n", prog, CTL_REPLY_MAX);
				return -1;
			}
			size_t cap = c->cap ? c->cap * 2 : 131072;
			char *b = realloc(c->buf, cap);
			if (!b) {
				fprintf(stderr, "%s: out of memory\n", prog);
				return -1;
			}
			c->buf = b;
			c->cap = cap;
		}
		int wait = -1;
		if (deadline_ms >= 0) {
			int64_t left = deadline_ms - now_ms();
			if (left <= 0) {
				fprintf(stderr, "%s: no reply from the daemon in time\n", prog);
				return -1;
			}
			wait = left > 3600000 ? 3600000 : (int)left;
		}
		struct pollfd pfd = { c->fd, POLLIN, 0 };
		int rc = poll(&pfd, 1, wait);
		if (interrupted)
			return -2;
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
			return -1;
		}
		if (rc == 0)
			continue; /* the deadline check above reports it */
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "%s: read: %s\n", prog, strerror(errno));
			return -1;
		}
		if (r == 0) {
			if (c->len) {
				fprintf(stderr, "%s: reply cut short by the daemon\n", prog);
				return -1;
			}
			return 0;
		}
		c->len += (size_t)r;
	}
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: tcpprobe ctl [-s SOCKET] [-c CONFIG] [--json] [-t SECONDS] COMMAND [ARGS]\n"
		   "\n"
		   "  -s, --socket PATH    the daemon's control socket (default " CTL_DEFAULT_SOCKET ")\n"
		   "  -c, --config FILE    take the socket path from this configuration\n"
		   "  -j, --json           print the daemon's JSON replies unchanged, one per line\n"
		   "  -t, --timeout S      wait this long for a reply (default %d; probe: longer)\n"
		   "\n"
		   "commands ([admin]: uid 0 or the configuration's admin_group only):\n",
		CTL_TIMEOUT_S);
	for (unsigned i = 0; i < CTL_CMD_COUNT; i++) {
		const struct ctl_cmd_info *ci = ctl_cmd_get((enum ctl_cmd)i);
		char u[96];
		snprintf(u, sizeof(u), "%s %s", ci->name, ci->usage);
		fprintf(f, "  %-40s %s%s%s%s\n", u, ci->help, ci->access != CTL_ACC_READ ? " [" : "",
			ci->access != CTL_ACC_READ ? ctl_access_str(ci->access) : "",
			ci->access != CTL_ACC_READ ? "]" : "");
	}
	fprintf(f, "\nExit status: 0 success, 1 the command failed or no daemon, 2 usage error.\n");
}

static void on_signal(int sig)
{
	interrupted = 1;
}

/* How long a one-shot probe may take: every SYN retry, the hold, the FIN
 * retries and FIN_WAIT_2, with the built-in defaults for what the request
 * does not set (the daemon's [defaults] may differ: hence the floor). */
static int probe_timeout_s(char *const *kv, int nkv)
{
	struct config cfg;
	config_defaults(&cfg);
	struct probe_opts o = cfg.defaults;
	for (int i = 0; i < nkv; i++) {
		char key[32], err[128];
		const char *eq = strchr(kv[i], '=');
		if (!eq || (size_t)(eq - kv[i]) >= sizeof(key))
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)(eq - kv[i]), kv[i]);
		config_set_probe_opt(&o, key, eq + 1, err, sizeof(err));
	}
	double rto = (double)o.timeout_ns / 1e9;
	double tries = ldexp(1.0, o.retries + 1) - 1; /* rto * (1 + 2 + 4 ...) */
	double s = rto * tries;
	if (o.kind == PROBE_HANDSHAKE)
		s += (double)(o.hold_ns + o.fin_wait_2_ns) / 1e9 + rto * tries;
	s += CTL_TIMEOUT_S;
	if (s < CTL_PROBE_MIN_S)
		s = CTL_PROBE_MIN_S;
	return s > 86400 ? 86400 : (int)ceil(s);
}

/* The request line from the command's words. "history NAME -n N" and
 * "probe H:P --kind K" (the man page's spelling) become the wire's "N" and
 * "kind=K". 0, or -1 after a message. */
static int build_line(int n, char **w, char *line, size_t cap, size_t *len)
{
	size_t l = 0;
	for (int i = 0; i < n; i++) {
		const char *a = w[i], *pre = "";
		if (i > 0 && !strcmp(w[0], "history") && !strcmp(a, "-n"))
			continue;
		if (i > 0 && !strcmp(w[0], "targets") && !strcmp(a, "--labels")) {
			show_labels = true;
			continue;
		}
		if (i > 0 && !strcmp(w[0], "probe") && (!strcmp(a, "--kind") || !strcmp(a, "-k")) &&
		    i + 1 < n) {
			pre = "kind=";
			a = w[++i];
		}
		if (!*a || strchr(a, ' ')) {
			fprintf(stderr, "%s: '%s': arguments cannot be empty or contain spaces\n", prog,
				a);
			return -1;
		}
		int r = snprintf(line + l, cap - l, "%s%s%s", l ? " " : "", pre, a);
		if (r < 0 || (size_t)r >= cap - l - 1) {
			fprintf(stderr, "%s: request longer than %d bytes\n", prog, CTL_LINE_MAX - 1);
			return -1;
		}
		l += (size_t)r;
	}
	*len = l;
	return 0;
}

int ctl_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, 0, 's' }, { "config", required_argument, 0, 'c' },
		{ "json", no_argument, 0, 'j' },         { "timeout", required_argument, 0, 't' },
		{ "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 },
	};
	const char *sock = NULL, *conf = NULL;
	bool json = false;
	int timeout_s = 0, ch;
	optind = 1;
	/* "+": stop at the command, so "pause --all" keeps its argument. */
	while ((ch = getopt_long(argc, argv, "+s:c:jt:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't': {
			char *e;
			long v = strtol(optarg, &e, 10);
			if (*e || e == optarg || v < 1 || v > 86400) {
				fprintf(stderr, "%s: --timeout: '%s' is not 1..86400 seconds\n", prog,
					optarg);
				return 2;
			}
			timeout_s = (int)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}

	char line[CTL_LINE_MAX + 1];
	size_t len = 0;
	if (build_line(argc - optind, argv + optind, line, sizeof(line), &len) < 0)
		return 2;
	/* Check it here first: a usage error needs no daemon. */
	struct ctl_request rq;
	char err[256];
	enum ctl_perr pe = ctl_parse(line, len, &rq, err, sizeof(err));
	if (pe != CTL_POK) {
		fprintf(stderr, "%s: %s\n", prog, err);
		if (pe == CTL_PUNKNOWN)
			fprintf(stderr, "try 'tcpprobe ctl --help'\n");
		return 2;
	}
	enum ctl_cmd cmd = rq.cmd->cmd;
	line[len++] = '\n';
	line[len] = 0;

	static struct config cfg;
	if (!sock && conf) {
		if (config_load(conf, &cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", prog, err);
			return 1;
		}
		sock = cfg.d.control_socket;
	}
	if (!sock)
		sock = CTL_DEFAULT_SOCKET;
	if (!timeout_s)
		timeout_s = cmd == CTL_PROBE ? probe_timeout_s(rq.argv + 1, (int)rq.argc - 1)
					     : CTL_TIMEOUT_S;

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct conn c = { .fd = ctl_connect(sock, CTL_TIMEOUT_S) };
	if (c.fd < 0)
		return 1;
	int rc = 1;
	if (send_all(c.fd, line, len) < 0) {
		fprintf(stderr, "%s: send to %s: %s\n", prog, sock, strerror(errno));
		goto out;
	}
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	bool got_ok = false;
	for (;;) {
		char *l;
		size_t ll;
		int r = read_line(&c, got_ok && cmd == CTL_WATCH ? -1 : deadline, &l, &ll);
		if (r == -2) {
			rc = cmd == CTL_WATCH && got_ok ? 0 : 1;
			break;
		}
		if (r < 0)
			break;
		if (r == 0) {
			if (cmd == CTL_WATCH && got_ok)
				fprintf(stderr, "%s: the daemon closed the connection\n", prog);
			else
				fprintf(stderr, "%s: the daemon closed the connection without a reply\n",
					prog);
			break;
		}
		struct jv *v = jv_parse(l, ll);
		if (!v || v->t != JT_OBJ) {
			fprintf(stderr, "%s: unreadable reply: %.200s\n", prog, l);
			jv_free(v);
			break;
		}
		if (json) {
			fwrite(l, 1, ll, stdout);
			putchar('\n');
			fflush(stdout);
		}
		const struct jv *ok = jv_get(v, "ok");
		if (!ok) {
			/* An event line (probe result, watch result). */
			if (!json && jv_get(v, "result"))
				render_event(v, cmd == CTL_PROBE);
			fflush(stdout);
			jv_free(v);
			continue;
		}
		if (ok->t != JT_BOOL || !ok->b) {
			if (!json)
				fprintf(stderr, "%s: %s\n", prog, jv_str_or(v, "error", "failed"));
			jv_free(v);
			rc = 1;
			break;
		}
		got_ok = true;
		if (!json && renderers[cmd])
			renderers[cmd](v, &rq);
		fflush(stdout);
		jv_free(v);
		if (cmd != CTL_WATCH) {
			rc = 0;
			break;
		}
	}
out:
	close(c.fd);
	free(c.buf);
	if (conf)
		config_free(&cfg);
	return rc;
}
