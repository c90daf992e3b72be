/* metrics.c: the Prometheus endpoint. metrics_render() collects the
 * daemon's state and hands it to metrics_fmt.c; the evhttp listener serves
 * it at /metrics, gzipped when the scraper asks (Prometheus always does:
 * the text compresses about 20:1). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <zlib.h>

#include "config.h"
#include "registry.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "metrics_fmt.h"
#include "remote_write.h"
#include "statuspage.h"
#include "timens.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_server {
	struct daemon *d;
	struct evhttp *http;
	char listen[64];
	size_t size_hint; /* last body size: the next one is about the same */
};

static struct target *registry_at(void *arg, size_t i) { return registry_target_at(arg, i); }

void metrics_render(struct daemon *d, struct jbuf *out)
{
	struct registry_status s;
	registry_status(d, &s);
	metrics_render_status(out, &s);

	/* The registry holds live targets only: one removed while its probe
	 * was in flight waits for the report outside it (sched_remove). */
	const struct config *c = registry_config(d);
	metrics_render_targets(out, registry_at, d, registry_target_count(d), c->d.buckets,
			       c->d.n_buckets);
	remote_write_metrics(registry_remote_writers(d), out);
}

/* ---- HTTP ---- */

/* Does an Accept-Encoding value accept gzip? RFC 9110 12.5.3: codings
 * separated by commas, each with an optional ";q=" weight; q=0 refuses. */
static bool accepts_gzip(const char *ae)
{
	while (ae && *ae) {
		ae += strspn(ae, " \t,");
		size_t k = strcspn(ae, " \t;,");
		bool gz = (k == 4 && !strncasecmp(ae, "gzip", 4)) ||
			  (k == 6 && !strncasecmp(ae, "x-gzip", 6));
		const char *end = ae + strcspn(ae, ",");
		if (gz) {
			const char *q = ae + k;
			while (q < end) {
				q += strspn(q, " \t;");
				if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
					double w = strtod(q + 2, NULL);
					return w > 0;
				}
				q += strcspn(q, ";,");
			}
			return true;
		}
		ae = end;
	}
	return false;
}

/* gzip (RFC 1952) p into out, in chunks reserved in the evbuffer itself. */
static int gzip_into(struct evbuffer *out, const char *p, size_t n)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	/* Level 1: on 10,000 targets it is several times faster than the default
	 * level 6 for an output only a little larger (measured in test_metrics). */
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	int rc = Z_OK;
	while (rc != Z_STREAM_END) {
		if (!z.avail_in && n) {
			size_t chunk = n > (1u << 30) ? (1u << 30) : n;
			z.next_in = (Bytef *)(uintptr_t)p;
			z.avail_in = (uInt)chunk;
			p += chunk;
			n -= chunk;
		}
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(out, 256 * 1024, &v, 1) < 1)
			break;
		z.next_out = v.iov_base;
		z.avail_out = (uInt)(v.iov_len > (1u << 30) ? (1u << 30) : v.iov_len);
		uInt before = z.avail_out;
		rc = deflate(&z, n ? Z_NO_FLUSH : Z_FINISH);
		v.iov_len = before - z.avail_out;
		if (evbuffer_commit_space(out, &v, 1) < 0 || (rc != Z_OK && rc != Z_STREAM_END &&
							    rc != Z_BUF_ERROR))
			break;
	}
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

static void free_body(const void *data, size_t len, void *arg) { free((void *)(uintptr_t)data); }

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	struct evbuffer *b = evbuffer_new();
	if (b && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(b, text, strlen(text));
	evhttp_send_reply(req, code, reason, b);
	if (b)
		evbuffer_free(b);
}

static bool get_or_head(struct evhttp_request *req)
{
	enum evhttp_cmd_type c = evhttp_request_get_command(req);
	if (c == EVHTTP_REQ_GET || c == EVHTTP_REQ_HEAD)
		return true;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
	reply_text(req, 405, "Method Not Allowed", "405 method not allowed: use GET or HEAD\n");
	return false;
}

static uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static void serve_metrics(struct metrics_server *m, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	bool head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
	bool gz = accepts_gzip(evhttp_find_header(in, "Accept-Encoding"));

	uint64_t t0 = mono_ns();
	struct jbuf j;
	jb_init(&j);
	/* Start near the last size: a handful of reallocs instead of ~20. */
	if (m->size_hint && (j.p = malloc(m->size_hint + m->size_hint / 8)))
		j.cap = m->size_hint + m->size_hint / 8;
	metrics_render(m->d, &j);
	if (j.oom || !j.p) {
		jb_free(&j);
		log_warnx("%s: out of memory rendering metrics", __func__);
		reply_text(req, 500, "Internal Server Error", "500 out of memory\n");
		return;
	}
	m->size_hint = j.len;
	uint64_t t1 = mono_ns();

	struct evbuffer *body = evbuffer_new();
	if (!body) {
		jb_free(&j);
		reply_text(req, 500, "Internal Server Error", "500 out of memory\n");
		return;
	}
	if (gz) {
		if (gzip_into(body, j.p, j.len) < 0) {
			jb_free(&j);
			evbuffer_free(body);
			log_warnx("%s: gzip failed", __func__);
			reply_text(req, 500, "Internal Server Error", "500 compression failed\n");
			return;
		}
		jb_free(&j);
		evhttp_add_header(oh, "Content-Encoding", "gzip");
	} else {
		/* The body goes out without a copy; the evbuffer frees it. */
		size_t len = j.len;
		char *p = j.p;
		jb_init(&j);
		if (evbuffer_add_reference(body, p, len, free_body, NULL) < 0) {
			free(p);
			evbuffer_free(body);
			reply_text(req, 500, "Internal Server Error", "500 out of memory\n");
			return;
		}
	}
	log_debug("%s: %zu bytes rendered in %.1f ms, %zu sent%s", __func__, (size_t)m->size_hint,
		  (double)(t1 - t0) / 1e6, evbuffer_get_length(body), gz ? " (gzip)" : "");
	evhttp_add_header(oh, "Content-Type", METRICS_CONTENT_TYPE);
	evhttp_add_header(oh, "Vary", "Accept-Encoding");
	if (head) {
		/* HEAD: the headers a GET would get, Content-Length included. */
		char cl[32];
		snprintf(cl, sizeof(cl), "%zu", evbuffer_get_length(body));
		evhttp_add_header(oh, "Content-Length", cl);
		evbuffer_drain(body, evbuffer_get_length(body));
	}
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct metrics_server *m = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	if (!path || !*path)
		path = "/";
	if (!strcmp(path, "/metrics")) {
		if (get_or_head(req))
			serve_metrics(m, req);
	} else if (statuspage_serve(m->d, req, path)) {
		/* `/`, `/target/NAME`, `/api/...` (statuspage.c) */
	} else {
		reply_text(req, 404, "Not Found", "404 not found: try /metrics\n");
	}
}

static int listen_socket(const char *where, char *err, size_t errlen)
{
	/* The config checked it (config_parse_listen): split it the same way. */
	char host[64], port[8];
	uint16_t p = 0;
	if (config_parse_hostport(where, host, sizeof(host), &p, NULL, 0) < 0 || !p) {
		snprintf(err, errlen, "metrics_listen %s: want ADDR:PORT or [IPV6]:PORT", where);
		return -1;
	}
	snprintf(port, sizeof(port), "%u", p);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc || !ai) {
		snprintf(err, errlen, "metrics_listen %s: %s", where,
			 rc ? gai_strerror(rc) : "no address");
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", where, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* Each scrape's connection: a body leaves in bounded writes per loop pass,
 * but not libevent's default 16 KiB each. */
static struct bufferevent *new_conn_bev(struct event_base *base, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev)
		bufferevent_set_max_single_write(bev, DAEMON_MAX_WRITE);
	return bev;
}

struct metrics_server *metrics_server_new(struct daemon *d, const char *where, char *err,
					  size_t errlen)
{
	struct metrics_server *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "metrics_listen %s: out of memory", where);
		return NULL;
	}
	m->d = d;
	snprintf(m->listen, sizeof(m->listen), "%s", where);
	int fd = listen_socket(where, err, errlen);
	if (fd < 0) {
		free(m);
		return NULL;
	}
	m->http = evhttp_new(registry_base(d));
	if (!m->http || !evhttp_accept_socket_with_handle(m->http, fd)) {
		snprintf(err, errlen, "metrics_listen %s: cannot start the HTTP server", where);
		if (m->http)
			evhttp_free(m->http);
		close(fd);
		free(m);
		return NULL;
	}
	/* Allow every method through to handle(), which answers 405 with an
	 * Allow header; evhttp's own refusal has none. */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
					    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
					    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
					    EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(m->http, 16 * 1024);
	evhttp_set_max_body_size(m->http, 64 * 1024);
	/* Long enough for a slow scraper to read a large uncompressed body. */
	evhttp_set_timeout(m->http, 60);
	evhttp_set_bevcb(m->http, new_conn_bev, NULL);
	evhttp_set_gencb(m->http, handle, m);
	log_info("metrics: listening on http://%s/metrics", where);
	return m;
}

void metrics_server_free(struct metrics_server *m)
{
	if (!m)
		return;
	evhttp_free(m->http); /* closes the listener and open connections */
	free(m);
}
