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
#include "loopprio.h"
#include "metrics.h"
#include "metrics_fmt.h"
#include "remote_write.h"
#include "statuspage.h"
#include "timens.h"
#include "views.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct scrape;

struct metrics_server {
	const struct view_src *src;
	struct evhttp *http;
	char listen[64];
	struct scrape *scrapes; /* GETs being answered, piece by piece */
};

/* ---- the exposition, in pieces ---- */

enum { STREAM_STATUS, STREAM_TARGETS, STREAM_REMOTE_WRITE, STREAM_DONE };

struct metrics_stream {
	const struct view_src *src;
	struct target **t; /* pinned: valid until the stream is freed */
	size_t n;
	int stage;
	struct metrics_cursor cur;
};

static struct target *pinned_at(void *arg, size_t i)
{
	return ((struct metrics_stream *)arg)->t[i];
}

struct metrics_stream *metrics_stream_new(const struct view_src *src)
{
	struct metrics_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->src = src;
	if (!(s->t = registry_targets_pin(src->reg, &s->n))) {
		free(s);
		return NULL;
	}
	const struct config *c = registry_config(src->reg);
	metrics_cursor_init(&s->cur, c->d.buckets, c->d.n_buckets);
	return s;
}

int metrics_stream_next(struct metrics_stream *s, struct jbuf *out, size_t budget)
{
	size_t start = out->len;
	while (s->stage != STREAM_DONE && out->len - start < budget && !out->oom) {
		switch (s->stage) {
		case STREAM_STATUS: {
			struct registry_status st;
			registry_status(s->src->reg, &st);
			metrics_render_status(out, &st);
			s->stage = STREAM_TARGETS;
			break;
		}
		case STREAM_TARGETS:
			if (metrics_render_targets_step(&s->cur, out, pinned_at, s, s->n,
							budget - (out->len - start)))
				s->stage = STREAM_REMOTE_WRITE;
			break;
		default:
			remote_write_metrics(s->src->rw, out);
			s->stage = STREAM_DONE;
		}
	}
	if (out->oom)
		return -1;
	return s->stage == STREAM_DONE;
}

void metrics_stream_free(struct metrics_stream *s)
{
	if (!s)
		return;
	metrics_cursor_free(&s->cur);
	registry_targets_unpin(s->src->reg, s->t);
	free(s);
}

void metrics_render(const struct view_src *src, struct jbuf *out)
{
	struct metrics_stream *s = metrics_stream_new(src);
	if (!s || metrics_stream_next(s, out, SIZE_MAX) < 0)
		out->oom = true;
	metrics_stream_free(s);
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

/* Deflate n bytes at p into out, in chunks reserved in the evbuffer itself;
 * flush Z_FINISH ends the stream (the gzip trailer). 0, or -1. */
static int deflate_into(z_stream *z, struct evbuffer *out, const char *p, size_t n, int flush)
{
	z->next_in = (Bytef *)(uintptr_t)p;
	z->avail_in = (uInt)n; /* a piece: METRICS_PIECE plus one target */
	for (;;) {
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(out, 256 * 1024, &v, 1) < 1)
			return -1;
		z->next_out = v.iov_base;
		z->avail_out = (uInt)(v.iov_len > (1u << 30) ? (1u << 30) : v.iov_len);
		uInt before = z->avail_out;
		int rc = deflate(z, flush);
		v.iov_len = before - z->avail_out;
		if (evbuffer_commit_space(out, &v, 1) < 0)
			return -1;
		if (rc == Z_STREAM_END)
			return 0;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return -1;
		/* Without a flush, deflate is done with the input once it has
		 * taken all of it and left output room unused. */
		if (flush == Z_NO_FLUSH && !z->avail_in && z->avail_out)
			return 0;
	}
}

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

/* A GET of /metrics: a chunked reply, one piece of the exposition per
 * loop pass. The next piece is rendered when the last one has left for
 * the socket (evhttp's chunk callback), so a scraper that reads slowly
 * costs memory for one piece, not for the whole body; one that goes away
 * stops the render (scrape_closed). */
struct scrape {
	struct metrics_server *m;
	struct evhttp_request *req;
	struct metrics_stream *ms;
	struct jbuf text; /* the piece being rendered */
	bool gz;
	z_stream z;
	size_t text_bytes, body_bytes;
	unsigned pieces;
	uint64_t t0;
	struct scrape *next;
};

static void scrape_free(struct scrape *sc)
{
	for (struct scrape **pp = &sc->m->scrapes; *pp; pp = &(*pp)->next) {
		if (*pp == sc) {
			*pp = sc->next;
			break;
		}
	}
	metrics_stream_free(sc->ms);
	jb_free(&sc->text);
	if (sc->gz)
		deflateEnd(&sc->z);
	free(sc);
}

/* Our part in the request is over: its connection no longer tells us. */
static void scrape_detach(struct scrape *sc)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(sc->req);
	if (evcon)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
}

/* The scraper went away (or timed out) before the end. */
static void scrape_closed(struct evhttp_connection *evcon, void *arg)
{
	struct scrape *sc = arg;
	struct evhttp_request *req = sc->req;
	log_info("metrics: scraper gone after %u pieces (%zu bytes) of /metrics; render stopped",
		 sc->pieces, sc->body_bytes);
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	scrape_free(sc);
	/* An unfinished request that libevent took off its failed connection
	 * is ours to free; one still on it goes with the connection. */
	if (!evhttp_request_get_connection(req))
		evhttp_send_reply_end(req);
}

/* Out of memory half-way: the connection is closed without the last
 * chunk, so that the scraper sees a failed scrape, not a short one. */
static void scrape_abort(struct scrape *sc)
{
	struct evhttp_request *req = sc->req;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	log_warnx("metrics: out of memory rendering /metrics; connection closed");
	scrape_detach(sc);
	scrape_free(sc);
	if (evcon)
		evhttp_connection_free(evcon);
	else
		evhttp_send_reply_end(req);
}

static void scrape_send(struct scrape *sc);

static void scrape_sent(struct evhttp_connection *evcon, void *arg) { scrape_send(arg); }

/* Render and send the next piece (compressed: several pieces when deflate
 * kept one to itself, as an empty chunk is not sent and would never call
 * back); after the last, the end of the reply. */
static void scrape_send(struct scrape *sc)
{
	struct evbuffer *buf = evbuffer_new();
	int rc = buf ? 0 : -1;
	while (rc == 0 && !evbuffer_get_length(buf)) {
		jb_reset(&sc->text);
		rc = metrics_stream_next(sc->ms, &sc->text, METRICS_PIECE);
		if (rc < 0)
			break;
		sc->text_bytes += sc->text.len;
		const char *p = sc->text.p ? sc->text.p : "";
		if (sc->gz ? deflate_into(&sc->z, buf, p, sc->text.len, rc ? Z_FINISH : Z_NO_FLUSH) < 0
			   : evbuffer_add(buf, p, sc->text.len) < 0)
			rc = -1;
	}
	if (rc < 0) {
		if (buf)
			evbuffer_free(buf);
		scrape_abort(sc);
		return;
	}
	struct evhttp_request *req = sc->req;
	sc->body_bytes += evbuffer_get_length(buf);
	sc->pieces++;
	if (!rc) {
		evhttp_send_reply_chunk_with_cb(req, buf, scrape_sent, sc);
		evbuffer_free(buf);
		return;
	}
	/* evhttp finishes the request when the output has drained: all of it. */
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	if (evcon)
		bufferevent_setwatermark(evhttp_connection_get_bufferevent(evcon), EV_WRITE, 0, 0);
	log_debug("metrics: %zu bytes rendered in %u pieces over %.1f ms, %zu sent%s",
		  sc->text_bytes, sc->pieces, (double)(mono_ns() - sc->t0) / 1e6, sc->body_bytes,
		  sc->gz ? " (gzip)" : "");
	evhttp_send_reply_chunk(req, buf);
	evbuffer_free(buf);
	scrape_detach(sc);
	scrape_free(sc);
	evhttp_send_reply_end(req);
}

static void serve_metrics(struct metrics_server *m, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	bool gz = accepts_gzip(evhttp_find_header(in, "Accept-Encoding"));
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		/* The headers a GET gets; its length is known only once it
		 * is sent (chunked), so nothing is rendered for a HEAD. */
		evhttp_add_header(oh, "Content-Type", METRICS_CONTENT_TYPE);
		evhttp_add_header(oh, "Vary", "Accept-Encoding");
		if (gz)
			evhttp_add_header(oh, "Content-Encoding", "gzip");
		evhttp_send_reply(req, 200, "OK", NULL);
		return;
	}
	struct scrape *sc = calloc(1, sizeof(*sc));
	if (sc && !(sc->ms = metrics_stream_new(m->src))) {
		free(sc);
		sc = NULL;
	}
	/* Level 1: on 10,000 targets it is several times faster than the
	 * default level 6 for an output only a little larger (test_metrics). */
	if (sc && gz && deflateInit2(&sc->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		metrics_stream_free(sc->ms);
		free(sc);
		sc = NULL;
	}
	if (!sc) {
		log_warnx("%s: out of memory", __func__);
		reply_text(req, 500, "Internal Server Error", "500 out of memory\n");
		return;
	}
	sc->m = m;
	sc->req = req;
	sc->gz = gz;
	sc->t0 = mono_ns();
	jb_init(&sc->text);
	sc->next = m->scrapes;
	m->scrapes = sc;
	evhttp_add_header(oh, "Content-Type", METRICS_CONTENT_TYPE);
	evhttp_add_header(oh, "Vary", "Accept-Encoding");
	if (gz)
		evhttp_add_header(oh, "Content-Encoding", "gzip");
	evhttp_send_reply_start(req, 200, "OK");
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	evhttp_connection_set_closecb(evcon, scrape_closed, sc);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	bufferevent_setwatermark(bev, EV_WRITE, METRICS_STREAM_LOW, 0);
	bufferevent_set_max_single_write(bev, METRICS_PIECE); /* a piece per loop pass */
	scrape_send(sc);
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
	} else if (statuspage_serve(m->src->reg, req, path)) {
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

struct metrics_server *metrics_server_new(struct event_base *base, const struct view_src *src,
					  const char *where, char *err, size_t errlen)
{
	struct metrics_server *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "metrics_listen %s: out of memory", where);
		return NULL;
	}
	m->src = src;
	snprintf(m->listen, sizeof(m->listen), "%s", where);
	int fd = listen_socket(where, err, errlen);
	if (fd < 0) {
		free(m);
		return NULL;
	}
	m->http = evhttp_new(base);
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
	/* Unfinished scrapes: their requests go with their connections. */
	while (m->scrapes) {
		scrape_detach(m->scrapes);
		scrape_free(m->scrapes);
	}
	evhttp_free(m->http); /* closes the listener and open connections */
	free(m);
}
