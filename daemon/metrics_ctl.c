/* metrics_ctl.c: `ctl metrics`, the exposition as one control reply,
 * {"text":"...","ok":true}, streamed onto the client's bufferevent. The
 * text, JSON-escaped, goes out in pieces (6,000 targets make ~24 MB of
 * it), the next rendered when the output is down to METRICS_STREAM_LOW
 * (the control socket's write callback calls metrics_reply_more), so that
 * other clients are answered in between; "ok" comes last because only the
 * last piece knows whether all of it could be rendered. GET /metrics
 * streams the same pieces over HTTP (metrics.c). */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "json.h"
#include "metrics.h"
#include "loopprio.h"

struct metrics_reply {
	struct metrics_stream *ms;
	struct bufferevent *bev;
	struct event *ev; /* renders the next piece, at default priority */
	metrics_reply_done_fn done;
	void *arg;
};

void metrics_reply_free(struct metrics_reply *r)
{
	if (!r)
		return;
	metrics_stream_free(r->ms);
	if (r->ev)
		event_free(r->ev);
	free(r);
}

/* A piece is rendered at default priority, with the probing. */
static void send_piece(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_reply *r = arg;
	struct jbuf text, j;
	jb_init(&text);
	jb_init(&j);
	int rc = metrics_stream_next(r->ms, &text, METRICS_PIECE);
	jb_str_part(&j, text.p);
	jb_free(&text);
	if (rc) {
		const char *end = rc > 0 ? "\",\"ok\":true}\n"
					 : "\",\"ok\":false,\"error\":\"out of memory\"}\n";
		jb_append(&j, end, strlen(end));
	}
	bool hangup = false;
	if (j.oom || bufferevent_write(r->bev, j.p, j.len) < 0) {
		/* Not even the end fits: hang up rather than leave the line open. */
		hangup = true;
		rc = -1;
	}
	jb_free(&j);
	if (!rc)
		return;
	bufferevent_setwatermark(r->bev, EV_WRITE, 0, 0); /* fully drained again */
	metrics_reply_done_fn done = r->done;
	void *done_arg = r->arg;
	metrics_reply_free(r);
	done(done_arg, hangup);
}

struct metrics_reply *metrics_reply_start(const struct view_src *src, struct bufferevent *bev,
					  metrics_reply_done_fn done, void *arg)
{
	struct metrics_reply *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->bev = bev;
	r->done = done;
	r->arg = arg;
	/* Rendering is not control work: at control priority, a client
	 * reading fast kept control events active pass after pass, and the
	 * listener (default priority) accepted nobody until the end. */
	if ((r->ev = event_new(bufferevent_get_base(bev), -1, 0, send_piece, r)))
		event_priority_set(r->ev, DAEMON_PRIO_DEFAULT);
	if (!r->ev || !(r->ms = metrics_stream_new(src))) {
		metrics_reply_free(r);
		return NULL;
	}
	static const char head[] = "{\"text\":\"";
	bufferevent_write(bev, head, sizeof(head) - 1);
	bufferevent_setwatermark(bev, EV_WRITE, METRICS_STREAM_LOW, 0);
	/* A Unix socket takes wmem_default (~200 KB) per write: 31 MB took
	 * ~150 loop passes. A piece per pass instead (the kernel caps the
	 * buffer at net.core.wmem_max; failing that, the default stays). */
	int sndbuf = METRICS_PIECE;
	(void)setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	bufferevent_set_max_single_write(bev, METRICS_PIECE);
	event_active(r->ev, EV_TIMEOUT, 0);
	return r;
}

void metrics_reply_more(struct metrics_reply *r)
{
	event_active(r->ev, EV_TIMEOUT, 0);
}
