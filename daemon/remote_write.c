/* remote_write.c: see remote_write.h.
 *
 * One collection = one batch: the /metrics text parsed back into series
 * (the one renderer stays the one source of series and labels, histograms
 * included as classic _bucket/_sum/_count), one sample each at the
 * collection time, external labels added where the series has no label of
 * that name, labels sorted by name as the spec requires. The batch is
 * encoded and snappy-compressed at once, so the queue holds compact bodies.
 *
 * The queue is bounded in samples (queue_max): a new batch beyond it drops
 * the oldest waiting batches, whole, each counted. Batches go out one POST
 * at a time, oldest first, so every series stays in time order. A 2xx
 * removes the batch; a 5xx, 429, timeout or connection failure keeps it and
 * retries after a backoff (1 s, doubling up to the interval); any other 4xx
 * drops it (the receiver will never take it), counted as rejected. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "httpauth.h"
#include "json.h"
#include "labels.h"
#include "log.h"
#include "metrics_fmt.h"
#include "remote.pb-c.h"
#include "remote_write.h"
#include "timens.h"

#define RW_LABELS_MAX 64 /* per series, external labels included */

struct rw_batch {
	unsigned char *body; /* snappy(WriteRequest) */
	size_t len, samples;
	struct rw_batch *next;
};

struct rw {
	const struct view_src *src;
	remote_write_collect_fn collect;
	struct event_base *base;
	struct remote_write_cfg cfg; /* a copy; external_labels owned */
	struct evhttp_uri *uri;
	struct evdns_base *dns;
	struct evhttp_connection *conn;
	struct event *tick, *retry;
	struct rw_batch *head, *tail; /* waiting, oldest first */
	struct rw_batch *inflight;
	uint64_t backoff_ms;
	char http_err[96];
	/* counters (samples unless named otherwise) */
	uint64_t queued, queued_batches;
	uint64_t collected, collected_batches, sent, sent_batches;
	uint64_t dropped, dropped_batches, rejected, failed_requests;
	uint64_t last_samples, last_encode_ns;
	char last_error[200];
};

struct remote_writers {
	struct rw *w;
	size_t n;
};

/* ---- encoding ------------------------------------------------------------------ */

/* Undo the text format's label-value escapes in place (\\, \", \n). */
static char *unescape(char *s, char **end)
{
	char *o = s, *p = s;
	while (*p && *p != '"') {
		if (*p == '\\' && p[1]) {
			p++;
			*o++ = *p == 'n' ? '\n' : *p;
			p++;
		} else {
			*o++ = *p++;
		}
	}
	if (*p != '"')
		return NULL;
	*end = p + 1;
	*o = 0;
	return s;
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp((*(Prometheus__Label *const *)a)->name, (*(Prometheus__Label *const *)b)->name);
}

/* One sample line "name{k="v",...} value" into ts (labels from lbl). */
static int parse_line(char *line, Prometheus__Label *lbl, Prometheus__Label **lp, size_t *nl,
		      double *value)
{
	char *p = line + strcspn(line, "{ ");
	size_t n = 0;
	prometheus__label__init(&lbl[n]);
	lbl[n].name = (char *)"__name__";
	lbl[n].value = line;
	lp[n] = &lbl[n];
	n++;
	if (*p == '{') {
		*p++ = 0;
		while (*p && *p != '}') {
			char *eq = strchr(p, '=');
			if (!eq || eq[1] != '"' || n >= RW_LABELS_MAX)
				return -1;
			*eq = 0;
			char *end;
			char *v = unescape(eq + 2, &end);
			if (!v)
				return -1;
			prometheus__label__init(&lbl[n]);
			lbl[n].name = p;
			lbl[n].value = v;
			lp[n] = &lbl[n];
			n++;
			p = end;
			if (*p == ',')
				p++;
		}
		if (*p != '}')
			return -1;
		*p++ = 0;
	} else if (*p == ' ') {
		*p = 0;
	} else {
		return -1;
	}
	p++;
	p += strspn(p, " ");
	if (!strcmp(p, "+Inf"))
		*value = INFINITY;
	else if (!strcmp(p, "-Inf"))
		*value = -INFINITY;
	else if (!strcmp(p, "NaN"))
		*value = NAN;
	else {
		char *e;
		errno = 0;
		*value = strtod(p, &e);
		if (e == p || (*e && *e != ' ') || errno)
			return -1;
	}
	*nl = n;
	return 0;
}

int remote_write_encode(const char *text, size_t len, int64_t ts_ms, const char *external,
			unsigned char **out, size_t *outlen, size_t *samples, char *err,
			size_t errlen)
{
	size_t lines = 0, nsamples = 0, nlabels = 0, next = 0;
	const char *ek, *ev, *q = external;
	while ((q = labels_next(q, &ek, &ev)))
		next++;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			lines++;
	char *copy = malloc(len + 1);
	Prometheus__TimeSeries *ts = calloc(lines + 1, sizeof(*ts));
	Prometheus__TimeSeries **tsp = calloc(lines + 1, sizeof(*tsp));
	Prometheus__Sample *sm = calloc(lines + 1, sizeof(*sm));
	Prometheus__Sample **smp = calloc(lines + 1, sizeof(*smp));
	Prometheus__Label *lbl = NULL;
	Prometheus__Label **lp = NULL;
	uint8_t *pb = NULL;
	int rc = -1;
	/* Labels: RW_LABELS_MAX per line at most, allocated as they come. */
	size_t lcap = 0;
	if (!copy || !ts || !tsp || !sm || !smp) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(copy, text, len);
	copy[len] = 0;
	/* First pass: how many labels, so that pointers never move. */
	for (char *p = copy; *p;) {
		char *e = strchr(p, '\n');
		size_t ll = e ? (size_t)(e - p) : strlen(p);
		if (ll && *p != '#') {
			size_t c = 1 + next;
			for (size_t i = 0; i + 1 < ll; i++)
				c += p[i] == '=' && p[i + 1] == '"';
			lcap += c < RW_LABELS_MAX + next ? c : RW_LABELS_MAX + next;
		}
		p += ll + (e ? 1 : 0);
	}
	lbl = calloc(lcap + 1, sizeof(*lbl));
	lp = calloc(lcap + 1, sizeof(*lp));
	if (!lbl || !lp) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	size_t lineno = 0;
	for (char *p = copy, *e; *p; p = e ? e + 1 : p + strlen(p)) {
		e = strchr(p, '\n');
		if (e)
			*e = 0;
		lineno++;
		if (!*p || *p == '#')
			continue;
		Prometheus__Label *l = &lbl[nlabels];
		Prometheus__Label **pl = &lp[nlabels];
		size_t n;
		double v;
		if (parse_line(p, l, pl, &n, &v) < 0) {
			snprintf(err, errlen, "exposition line %zu does not parse", lineno);
			goto out;
		}
		for (q = external; (q = labels_next(q, &ek, &ev));) {
			bool have = false;
			for (size_t i = 0; i < n && !have; i++)
				have = !strcmp(l[i].name, ek);
			if (!have) {
				prometheus__label__init(&l[n]);
				l[n].name = (char *)ek;
				l[n].value = (char *)ev;
				pl[n] = &l[n];
				n++;
			}
		}
		qsort(pl, n, sizeof(*pl), label_cmp);
		nlabels += n;
		prometheus__sample__init(&sm[nsamples]);
		sm[nsamples].value = v;
		sm[nsamples].timestamp = ts_ms;
		smp[nsamples] = &sm[nsamples];
		prometheus__time_series__init(&ts[nsamples]);
		ts[nsamples].n_labels = n;
		ts[nsamples].labels = pl;
		ts[nsamples].n_samples = 1;
		ts[nsamples].samples = &smp[nsamples];
		tsp[nsamples] = &ts[nsamples];
		nsamples++;
	}
	Prometheus__WriteRequest wr = PROMETHEUS__WRITE_REQUEST__INIT;
	wr.n_timeseries = nsamples;
	wr.timeseries = tsp;
	size_t plen = prometheus__write_request__get_packed_size(&wr);
	pb = malloc(plen ? plen : 1);
	size_t clen = snappy_max_compressed_length(plen);
	unsigned char *body = malloc(clen ? clen : 1);
	if (!pb || !body) {
		free(body);
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	prometheus__write_request__pack(&wr, pb);
	if (snappy_compress((const char *)pb, plen, (char *)body, &clen) != SNAPPY_OK) {
		free(body);
		snprintf(err, errlen, "snappy failed");
		goto out;
	}
	*out = body;
	*outlen = clen;
	*samples = nsamples;
	rc = 0;
out:
	free(pb);
	free(lp);
	free(lbl);
	free(smp);
	free(sm);
	free(tsp);
	free(ts);
	free(copy);
	return rc;
}

/* ---- the queue and the sender ---------------------------------------------- */

static void batch_free(struct rw_batch *b)
{
	if (b) {
		free(b->body);
		free(b);
	}
}

static struct rw_batch *pop_head(struct rw *w)
{
	struct rw_batch *b = w->head;
	if (b) {
		w->head = b->next;
		if (!w->head)
			w->tail = NULL;
		b->next = NULL;
	}
	return b;
}

static void drop_batch(struct rw *w, struct rw_batch *b)
{
	w->queued -= b->samples;
	w->queued_batches--;
	w->dropped += b->samples;
	w->dropped_batches++;
	batch_free(b);
}

static void rw_error(struct rw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rw_error(struct rw *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->last_error, sizeof(w->last_error), fmt, ap);
	va_end(ap);
	log_warnx("remote_write %s: %s", w->cfg.name, w->last_error);
}

static void send_next(struct rw *w);

static void arm_retry(struct rw *w)
{
	uint64_t cap = w->cfg.interval_ns / 1000000u;
	w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : 1000;
	if (w->backoff_ms > cap)
		w->backoff_ms = cap;
	struct timeval tv = ns_timeval(w->backoff_ms * NS_PER_MS);
	evtimer_add(w->retry, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg) { send_next(arg); }

static void on_http_error(enum evhttp_request_error e, void *arg)
{
	struct rw *w = arg;
	snprintf(w->http_err, sizeof(w->http_err), "%s",
		 e == EVREQ_HTTP_TIMEOUT ? "timed out" : e == EVREQ_HTTP_EOF ? "connection closed"
		 : e == EVREQ_HTTP_BUFFER_ERROR ? "connection failed" : "failed");
}

static void on_sent(struct evhttp_request *req, void *arg)
{
	struct rw *w = arg;
	struct rw_batch *b = w->inflight;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	w->inflight = NULL;
	if (!b)
		return;
	if (code >= 200 && code < 300) {
		w->queued -= b->samples;
		w->queued_batches--;
		w->sent += b->samples;
		w->sent_batches++;
		w->backoff_ms = 0;
		w->last_error[0] = 0;
		batch_free(b);
		send_next(w);
		return;
	}
	if (code >= 400 && code < 500 && code != 429) {
		/* The receiver will never take this one. */
		w->queued -= b->samples;
		w->queued_batches--;
		w->rejected += b->samples;
		rw_error(w, "%s: HTTP %d: %zu samples rejected", w->cfg.url, code, b->samples);
		batch_free(b);
		send_next(w);
		return;
	}
	/* Back to the head of the queue; try again later. */
	w->failed_requests++;
	b->next = w->head;
	w->head = b;
	if (!w->tail)
		w->tail = b;
	if (code)
		rw_error(w, "%s: HTTP %d (%" PRIu64 " samples queued)", w->cfg.url, code, w->queued);
	else
		rw_error(w, "%s: %s (%" PRIu64 " samples queued)", w->cfg.url,
			 w->http_err[0] ? w->http_err : "no response", w->queued);
	arm_retry(w);
}

static void send_next(struct rw *w)
{
	char hdr[600], err[300];
	if (w->inflight || !w->head || evtimer_pending(w->retry, NULL))
		return;
	struct evhttp_request *req = evhttp_request_new(on_sent, w);
	if (!req) {
		arm_retry(w);
		return;
	}
	evhttp_request_set_error_cb(req, on_http_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	httpauth_host(h, evhttp_uri_get_host(w->uri), evhttp_uri_get_port(w->uri));
	evhttp_add_header(h, "Content-Encoding", "snappy");
	evhttp_add_header(h, "Content-Type", "application/x-protobuf");
	evhttp_add_header(h, "X-Prometheus-Remote-Write-Version", "0.1.0");
	evhttp_add_header(h, "User-Agent", "tcpprobe/" TCPPROBE_VERSION);
	if (httpauth_add(h, w->cfg.bearer_token_file, w->cfg.basic_auth_user,
			 w->cfg.basic_auth_password_file, err, sizeof(err)) < 0) {
		evhttp_request_free(req);
		rw_error(w, "%s", err);
		arm_retry(w);
		return;
	}
	struct rw_batch *b = pop_head(w);
	evbuffer_add(evhttp_request_get_output_buffer(req), b->body, b->len);
	const char *path = evhttp_uri_get_path(w->uri), *q = evhttp_uri_get_query(w->uri);
	snprintf(hdr, sizeof(hdr), "%s%s%s", path && *path ? path : "/", q ? "?" : "", q ? q : "");
	w->http_err[0] = 0;
	w->inflight = b;
	if (evhttp_make_request(w->conn, req, EVHTTP_REQ_POST, hdr) < 0) {
		w->inflight = NULL;
		b->next = w->head;
		w->head = b;
		if (!w->tail)
			w->tail = b;
		rw_error(w, "%s: cannot send the request", w->cfg.url);
		arm_retry(w);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rw *w = arg;
	int64_t ms = (int64_t)(clock_ns(CLOCK_REALTIME) / NS_PER_MS);
	uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
	struct jbuf j;
	jb_init(&j);
	w->collect(w->src, &j);
	struct rw_batch *b = calloc(1, sizeof(*b));
	char err[200];
	if (j.oom || !b ||
	    remote_write_encode(j.p ? j.p : "", j.len, ms, w->cfg.external_labels, &b->body, &b->len,
				&b->samples, err, sizeof(err)) < 0) {
		rw_error(w, "collecting: %s", j.oom || !b ? "out of memory" : err);
		free(b);
		jb_free(&j);
		return;
	}
	jb_free(&j);
	w->last_encode_ns = clock_ns(CLOCK_MONOTONIC) - t0;
	w->collected += b->samples;
	w->collected_batches++;
	w->last_samples = b->samples;
	if (w->tail)
		w->tail->next = b;
	else
		w->head = b;
	w->tail = b;
	w->queued += b->samples;
	w->queued_batches++;
	/* Over the bound: the oldest waiting batches go, whole, counted. */
	while (w->queued > w->cfg.queue_max && w->head) {
		struct rw_batch *old = pop_head(w);
		drop_batch(w, old);
	}
	send_next(w);
}

static void rw_free(struct rw *w)
{
	if (w->conn) /* frees a request in flight without calling it back */
		evhttp_connection_free(w->conn);
	batch_free(w->inflight);
	for (struct rw_batch *b; (b = pop_head(w));)
		batch_free(b);
	if (w->tick)
		event_free(w->tick);
	if (w->retry)
		event_free(w->retry);
	if (w->uri)
		evhttp_uri_free(w->uri);
	if (w->dns)
		evdns_base_free(w->dns, 0);
	free(w->cfg.external_labels);
}

void remote_write_free(struct remote_writers *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		rw_free(&r->w[i]);
	free(r->w);
	free(r);
}

struct remote_writers *remote_write_start(const struct view_src *src, struct event_base *base,
					  const struct config *cfg, remote_write_collect_fn collect,
					  char *err, size_t errlen)
{
	if (!cfg->nrw)
		return NULL;
	struct remote_writers *r = calloc(1, sizeof(*r));
	if (!r || !(r->w = calloc(cfg->nrw, sizeof(*r->w)))) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < cfg->nrw; i++) {
		struct rw *w = &r->w[r->n++];
		w->src = src;
		w->collect = collect;
		w->base = base;
		w->cfg = cfg->rw[i];
		w->cfg.external_labels = NULL;
		if (labels_dup(cfg->rw[i].external_labels, &w->cfg.external_labels) < 0)
			goto oom;
		w->uri = evhttp_uri_parse(w->cfg.url);
		w->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (!w->dns)
			w->dns = evdns_base_new(base, 0);
		if (!w->uri || !evhttp_uri_get_host(w->uri)) {
			snprintf(err, errlen, "remote_write %s: bad url %s", w->cfg.name, w->cfg.url);
			remote_write_free(r);
			return NULL;
		}
		int port = evhttp_uri_get_port(w->uri);
		w->conn = evhttp_connection_base_new(base, w->dns, evhttp_uri_get_host(w->uri),
						     port > 0 ? port : 80);
		w->tick = event_new(base, -1, EV_PERSIST, on_tick, w);
		w->retry = evtimer_new(base, on_retry, w);
		if (!w->conn || !w->tick || !w->retry)
			goto oom;
		struct timeval to = ns_timeval(w->cfg.timeout_ns);
		evhttp_connection_set_timeout_tv(w->conn, &to);
		evhttp_connection_set_retries(w->conn, 0);
		struct timeval iv = ns_timeval(w->cfg.interval_ns);
		evtimer_add(w->tick, &iv);
		log_info("remote_write %s: %s every %.1f s, queue up to %" PRIu64 " samples",
			 w->cfg.name, w->cfg.url, (double)w->cfg.interval_ns / 1e9, w->cfg.queue_max);
	}
	return r;
oom:
	remote_write_free(r);
	snprintf(err, errlen, "out of memory");
	return NULL;
}

size_t remote_write_count(const struct remote_writers *r) { return r ? r->n : 0; }

void remote_write_status(const struct remote_writers *r, size_t i, struct remote_write_status *out)
{
	const struct rw *w = &r->w[i];
	*out = (struct remote_write_status){
		.name = w->cfg.name, .url = w->cfg.url, .last_error = w->last_error,
		.queued_samples = w->queued, .queued_batches = w->queued_batches,
		.collected_samples = w->collected, .collected_batches = w->collected_batches,
		.sent_samples = w->sent, .sent_batches = w->sent_batches,
		.dropped_samples = w->dropped, .dropped_batches = w->dropped_batches,
		.rejected_samples = w->rejected, .failed_requests = w->failed_requests,
		.last_batch_samples = w->last_samples, .last_collect_us = w->last_encode_ns / 1000,
	};
}

static void family(struct jbuf *b, const struct remote_writers *r, const char *name,
		   const char *type, const char *help, size_t off)
{
	metrics_put_family(b, name, type, help);
	for (size_t i = 0; i < r->n; i++) {
		jb_append(b, name, strlen(name));
		metrics_put_label(b, '{', "remote", r->w[i].cfg.name);
		metrics_put_u64(b, true, *(const uint64_t *)((const char *)&r->w[i] + off));
	}
}

void remote_write_metrics(const struct remote_writers *r, struct jbuf *b)
{
	if (!r || !r->n)
		return;
	family(b, r, "tcpprobe_remote_write_samples_total", "counter",
	       "Samples collected for remote write.", offsetof(struct rw, collected));
	family(b, r, "tcpprobe_remote_write_sent_samples_total", "counter",
	       "Samples the receiver accepted.", offsetof(struct rw, sent));
	family(b, r, "tcpprobe_remote_write_dropped_samples_total", "counter",
	       "Samples dropped because the queue was full (oldest first).",
	       offsetof(struct rw, dropped));
	family(b, r, "tcpprobe_remote_write_rejected_samples_total", "counter",
	       "Samples the receiver refused with a 4xx.", offsetof(struct rw, rejected));
	family(b, r, "tcpprobe_remote_write_failed_requests_total", "counter",
	       "Requests that failed and were retried (5xx, 429, timeout, no connection).",
	       offsetof(struct rw, failed_requests));
	family(b, r, "tcpprobe_remote_write_queued_samples", "gauge",
	       "Samples waiting to be sent.", offsetof(struct rw, queued));
}
