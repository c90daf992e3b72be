/* discovery_http.c: an http_sd source of the discovery module (see
 * discovery_priv.h): a GET every refresh with libevent's HTTP client
 * (httpauth.c adds the credentials); an answer that changed is parsed and
 * diffed against the current list by a thread (the parse job), and the
 * names it touched are reconciled with the registry DISC_APPLY_CHUNK per
 * loop pass, so probes due meanwhile keep their timing. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "discovery_parse.h"
#include "discovery_priv.h"
#include "httpauth.h"
#include "labels.h"
#include "log.h"
#include "registry.h"
#include "timens.h"

#define DISC_HTTP_MAX (16u << 20)   /* bytes of an http_sd response */
#define DISC_HTTP_TIMEOUT_S 10      /* or the refresh, if shorter */
/* Names reconciled per loop pass when an http_sd answer changed: 64 cost
 * well under a millisecond, so probes due meanwhile keep their jitter. */
#define DISC_APPLY_CHUNK 64

/* ---- http_sd --------------------------------------------------------------- */

static const char *http_error_str(enum evhttp_request_error e)
{
	switch (e) {
	case EVREQ_HTTP_TIMEOUT: return "timed out";
	case EVREQ_HTTP_EOF: return "connection closed early";
	case EVREQ_HTTP_INVALID_HEADER: return "invalid response header";
	case EVREQ_HTTP_BUFFER_ERROR: return "connection failed";
	case EVREQ_HTTP_REQUEST_CANCEL: return "cancelled";
	case EVREQ_HTTP_DATA_TOO_LONG: return "response larger than the limit";
	}
	return "failed";
}

static void on_http_error(enum evhttp_request_error e, void *arg)
{
	struct disc_source *s = arg;
	snprintf(s->http_err, sizeof(s->http_err), "%s", http_error_str(e));
}

/* ---- http_sd: a changed answer, off the loop and then in small steps ---- */

/* Everything the thread reads is its own or stays untouched until it is
 * joined: its copy of the text, defaults and shard, and the source's
 * current list and index (replaced only by on_job_done, freed only by
 * source_free, both after the join). */
struct disc_job {
	pthread_t th;
	int efd;
	char *text;
	size_t len;
	struct probe_opts defaults;
	struct daemon_cfg dc; /* shard_i, shard_n */
	const struct target_cfg *old;
	size_t nold;
	const struct name_idx *oldidx;
	/* results */
	int rc;
	char err[300];
	struct target_cfg *t;
	size_t n;
	struct name_idx idx;
	uint64_t skipped, parse_ns;
	char (*touched)[CFG_NAME_MAX];
	size_t ntouched;
};

static void job_free(struct disc_job *j)
{
	if (!j)
		return;
	free(j->text);
	discovery_free_targets(j->t, j->n);
	disc_nidx_free(&j->idx);
	free(j->touched);
	free(j);
}

static bool same_cfg(const struct target_cfg *a, const struct target_cfg *b)
{
	return disc_same_probe(a, b) && labels_equal(a->labels, b->labels);
}

/* Parse the answer, index it, and list the names whose config differs from
 * the current list (added, removed, changed): only those are reconciled. */
static void job_run(struct disc_job *j)
{
	uint64_t t0 = engine_now();
	j->rc = -1;
	if (discovery_parse(j->text, j->len, 0, &j->defaults, &j->t, &j->n, j->err,
			    sizeof(j->err)) < 0)
		return;
	if (disc_nidx_build(&j->idx, j->t, j->n) < 0 ||
	    !(j->touched = malloc((j->n + j->nold + 1) * sizeof(*j->touched)))) {
		snprintf(j->err, sizeof(j->err), "out of memory");
		return;
	}
	for (size_t i = 0; i < j->n; i++) {
		const struct target_cfg *tc = &j->t[i], *o;
		if (disc_nidx_get(&j->idx, j->t, tc->name) != tc)
			continue; /* a later duplicate: the first one counts */
		o = disc_nidx_get(j->oldidx, j->old, tc->name);
		if (!o || !same_cfg(o, tc))
			memcpy(j->touched[j->ntouched++], tc->name, CFG_NAME_MAX);
	}
	for (size_t i = 0; i < j->nold; i++) {
		const struct target_cfg *o = &j->old[i];
		if (disc_nidx_get(j->oldidx, j->old, o->name) == o && !disc_nidx_get(&j->idx, j->t, o->name))
			memcpy(j->touched[j->ntouched++], o->name, CFG_NAME_MAX);
	}
	j->skipped = disc_count_skipped(&j->dc, j->t, j->n);
	j->parse_ns = engine_now() - t0;
	j->rc = 0;
}

static void *job_thread(void *arg)
{
	struct disc_job *j = arg;
	job_run(j);
	uint64_t one = 1;
	if (write(j->efd, &one, sizeof(one)) < 0) { /* an eventfd write cannot fail here */
	}
	return NULL;
}

/* The config that wins name: the first source and file listing it, if this
 * shard takes it. */
static const struct target_cfg *disc_winner(const struct discovery *ds, const char *name)
{
	if (!config_shard_mine(&ds->cfg->d, name))
		return NULL;
	for (size_t i = 0; i < ds->ns; i++)
		for (size_t k = 0; k < ds->s[i].nf; k++) {
			const struct disc_file *f = &ds->s[i].f[k];
			const struct target_cfg *tc = disc_nidx_get(&f->idx, f->t, name);
			if (tc)
				return tc;
		}
	return NULL;
}

/* Bring the registry's target called name in line with the lists (as
 * discovery_apply does for all of them). */
static void reconcile(struct disc_source *s, const char *name, uint64_t now)
{
	struct registry *reg = s->ds->reg;
	const struct target_cfg *tc = disc_winner(s->ds, name);
	struct target *t = registry_target_find(reg, name);
	if (t && !t->cfg.discovered)
		return; /* the config's (or ctl add's) keeps it */
	if (t && tc && disc_same_probe(tc, &t->cfg)) {
		registry_target_relabel(t, tc->labels);
		return;
	}
	if (t) {
		registry_target_drop(reg, t);
		s->removed++;
	}
	if (!tc)
		return;
	s->added += disc_add_target(s->ds, tc, now);
}

/* Names taken by the config that a list wants (ctl status). */
static uint64_t count_conflicts(const struct discovery *ds)
{
	uint64_t n = 0;
	for (size_t i = 0, nt = registry_target_count(ds->reg); i < nt; i++) {
		const struct target *t = registry_target_at(ds->reg, i);
		if (!t->cfg.discovered && disc_winner(ds, t->cfg.name))
			n++;
	}
	return n;
}

static void on_apply(evutil_socket_t fd, short what, void *arg)
{
	struct disc_source *s = arg;
	struct discovery *ds = s->ds;
	uint64_t t0 = engine_now(), a0 = s->added, r0 = s->removed;
	for (size_t k = 0; k < DISC_APPLY_CHUNK && s->pend_pos < s->npend; k++)
		reconcile(s, s->pend[s->pend_pos++], t0);
	s->passes++;
	if (s->added != a0 || s->removed != r0)
		registry_kick(ds->reg);
	if (s->pend_pos < s->npend) {
		s->loop_ns += engine_now() - t0;
		struct timeval zero = { 0, 0 };
		evtimer_add(s->apply_ev, &zero); /* after the timers due meanwhile */
		return;
	}
	free(s->pend);
	s->pend = NULL;
	s->npend = s->pend_pos = 0;
	ds->conflicts = count_conflicts(ds);
	ds->added += s->added;
	ds->removed += s->removed;
	s->busy = false;
	s->loop_ns += engine_now() - t0;
	s->last_refresh_ns = s->loop_ns;
	ds->last_apply_ns = s->loop_ns;
	if (s->added || s->removed)
		log_info("discovery: %" PRIu64 " targets added, %" PRIu64 " removed, %zu targets "
			 "(%.1f ms)", s->added, s->removed, registry_target_count(ds->reg),
			 (double)s->loop_ns / 1e6);
	log_debug("discovery %s: %zu bytes, %zu targets: parsed in %.1f ms off the loop, refresh "
		  "%.1f ms of loop time in %u passes", s->cfg->name, s->body_len, s->f[0].n,
		  (double)s->parse_ns / 1e6, (double)s->loop_ns / 1e6, s->passes);
}

static void on_job_done(evutil_socket_t fd, short what, void *arg)
{
	struct disc_source *s = arg;
	struct discovery *ds = s->ds;
	struct disc_file *f = &s->f[0];
	uint64_t v, t0 = engine_now();
	if (read(s->efd, &v, sizeof(v)) < 0 || !s->job)
		return;
	struct disc_job *j = s->job;
	pthread_join(j->th, NULL);
	s->job = NULL;
	if (j->rc < 0) {
		s->busy = false;
		disc_file_failed(s, f, j->err);
		job_free(j);
		return;
	}
	discovery_free_targets(f->t, f->n);
	disc_nidx_free(&f->idx);
	f->t = j->t;
	f->n = j->n;
	f->idx = j->idx;
	f->error[0] = 0;
	ds->skipped = ds->skipped + j->skipped - f->skipped;
	f->skipped = j->skipped;
	free(s->body);
	s->body = j->text;
	s->body_len = j->len;
	s->pend = j->touched;
	s->npend = j->ntouched;
	s->pend_pos = 0;
	s->parse_ns = j->parse_ns;
	s->added = s->removed = 0;
	s->passes = 0;
	j->t = NULL;
	j->n = 0;
	j->idx.slot = NULL;
	j->text = NULL;
	j->touched = NULL;
	job_free(j);
	s->loop_ns += engine_now() - t0;
	on_apply(-1, 0, s);
}

/* Start a job for text (taken over); -1 (text freed) when no thread can
 * be started: the caller keeps the last list. */
static int job_start(struct disc_source *s, char *text, size_t len)
{
	struct disc_job *j = calloc(1, sizeof(*j));
	if (!j) {
		free(text);
		return -1;
	}
	const struct disc_file *f = &s->f[0];
	j->efd = s->efd;
	j->text = text;
	j->len = len;
	j->defaults = s->cfg->defaults;
	j->dc = s->ds->cfg->d;
	j->old = f->t;
	j->nold = f->n;
	j->oldidx = &f->idx;
	/* Signals stay with the loop's thread. */
	sigset_t all, prev;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &prev);
	int rc = pthread_create(&j->th, NULL, job_thread, j);
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
	if (rc != 0) {
		job_free(j);
		return -1;
	}
	s->job = j;
	return 0;
}

static void on_http_done(struct evhttp_request *req, void *arg)
{
	struct disc_source *s = arg;
	struct disc_file *f = &s->f[0];
	uint64_t t0 = engine_now();
	char err[300];
	int code = req ? evhttp_request_get_response_code(req) : 0;
	s->busy = false;
	s->refreshes++;
	if (code == 0) {
		snprintf(err, sizeof(err), "no response: %s", s->http_err[0] ? s->http_err : "failed");
		disc_file_failed(s, f, err);
		return;
	}
	if (code != 200) {
		snprintf(err, sizeof(err), "HTTP %d", code);
		disc_file_failed(s, f, err);
		return;
	}
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(b);
	const char *text = len ? (const char *)evbuffer_pullup(b, -1) : "";
	if (len && !text) {
		disc_file_failed(s, f, "out of memory");
		return;
	}
	/* The same answer as the last good one: nothing to parse or apply. */
	if (s->body && len == s->body_len && !memcmp(text, s->body, len)) {
		f->error[0] = 0;
		s->last_refresh_ns = engine_now() - t0;
		return;
	}
	char *copy = malloc(len + 1);
	if (copy)
		memcpy(copy, text, len);
	if (!copy || job_start(s, copy, len) < 0) {
		disc_file_failed(s, f, "out of memory (or no thread) for parsing the answer");
		return;
	}
	s->busy = true; /* until the change is applied: one refresh at a time */
	s->loop_ns = engine_now() - t0;
}

void disc_http_fetch(struct disc_source *s)
{
	char err[300], hdr[600];
	if (s->busy)
		return; /* the last one is still running: its timeout ends it */
	if (!s->conn) {
		const char *host = evhttp_uri_get_host(s->uri);
		int port = evhttp_uri_get_port(s->uri);
		s->conn = evhttp_connection_base_new(s->ds->base, s->dns, host, port > 0 ? port : 80);
		if (!s->conn) {
			disc_file_failed(s, &s->f[0], "out of memory");
			return;
		}
		uint64_t to = s->cfg->refresh_ns / NS_PER_S;
		evhttp_connection_set_timeout(s->conn, to && to < DISC_HTTP_TIMEOUT_S ? (int)to
										: DISC_HTTP_TIMEOUT_S);
		evhttp_connection_set_max_body_size(s->conn, DISC_HTTP_MAX);
		evhttp_connection_set_retries(s->conn, 0);
	}
	struct evhttp_request *req = evhttp_request_new(on_http_done, s);
	if (!req) {
		disc_file_failed(s, &s->f[0], "out of memory");
		return;
	}
	evhttp_request_set_error_cb(req, on_http_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	httpauth_host(h, evhttp_uri_get_host(s->uri), evhttp_uri_get_port(s->uri));
	evhttp_add_header(h, "Accept", "application/json");
	evhttp_add_header(h, "User-Agent", "tcpprobe/" TCPPROBE_VERSION);
	snprintf(hdr, sizeof(hdr), "%" PRIu64, (uint64_t)(s->cfg->refresh_ns / NS_PER_S));
	evhttp_add_header(h, "X-Prometheus-Refresh-Interval-Seconds", hdr);
	if (httpauth_add(h, s->cfg->bearer_token_file, s->cfg->basic_auth_user,
			 s->cfg->basic_auth_password_file, err, sizeof(err)) < 0) {
		evhttp_request_free(req);
		disc_file_failed(s, &s->f[0], err);
		return;
	}
	const char *path = evhttp_uri_get_path(s->uri), *q = evhttp_uri_get_query(s->uri);
	snprintf(hdr, sizeof(hdr), "%s%s%s", path && *path ? path : "/", q ? "?" : "", q ? q : "");
	s->http_err[0] = 0;
	if (evhttp_make_request(s->conn, req, EVHTTP_REQ_GET, hdr) < 0) {
		/* evhttp_make_request frees req on failure */
		disc_file_failed(s, &s->f[0], "cannot send the request");
		return;
	}
	s->busy = true;
}

int disc_http_start(struct disc_source *s)
{
	struct event_base *base = s->ds->base;
	/* One entry, the URL; its first answer arrives on the loop. */
	s->f = calloc(1, sizeof(*s->f));
	s->uri = evhttp_uri_parse(s->cfg->url);
	s->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (!s->dns) /* no resolv.conf: addresses still work */
		s->dns = evdns_base_new(base, 0);
	if (!s->f || !s->uri || !evhttp_uri_get_host(s->uri) || !(s->f->path = strdup(s->cfg->url)))
		return -1;
	s->nf = 1;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0 ||
	    !(s->job_ev = event_new(base, s->efd, EV_READ | EV_PERSIST, on_job_done, s)) ||
	    event_add(s->job_ev, NULL) < 0 || !(s->apply_ev = evtimer_new(base, on_apply, s)))
		return -1;
	disc_http_fetch(s);
	return 0;
}

void disc_http_free(struct disc_source *s)
{
	if (s->job) { /* it reads s->f[0]: wait for it (one parse at most) */
		pthread_join(s->job->th, NULL);
		job_free(s->job);
		s->job = NULL;
	}
	if (s->job_ev)
		event_free(s->job_ev);
	if (s->apply_ev)
		event_free(s->apply_ev);
	if (s->efd >= 0)
		close(s->efd);
	free(s->pend);
	free(s->body);
	if (s->conn) /* frees a request in flight without calling it back */
		evhttp_connection_free(s->conn);
	if (s->uri)
		evhttp_uri_free(s->uri);
	if (s->dns)
		evdns_base_free(s->dns, 0);
}
