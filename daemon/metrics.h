/* metrics.h: the Prometheus exposition of the whole daemon, its /metrics
 * HTTP listener (metrics.c) and `ctl metrics`' streamed reply (metrics_ctl.c). */
#ifndef TCPPROBE_METRICS_H
#define TCPPROBE_METRICS_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct jbuf;
struct view_src;

/* Prometheus text format 0.0.4 for everything (src: views.h), in one go. */
void metrics_render(const struct view_src *src, struct jbuf *out);

/* The same in pieces, one per loop pass: 6,000 targets make ~24 MB, and
 * rendering (and sending) that in one go held the loop for up to a second
 * (`ctl status` waited behind it). A stream reads the targets as they were
 * when it began (registry_targets_pin). */
#define METRICS_PIECE (2u << 20) /* text bytes per piece: ~10 ms, gzip included */
/* The next piece is rendered once a connection's output is down to this
 * (its write low-water mark while a stream lasts): waiting for it to
 * drain completely left the socket idle a loop pass for every piece. */
#define METRICS_STREAM_LOW METRICS_PIECE
struct metrics_stream;
struct metrics_stream *metrics_stream_new(const struct view_src *src); /* NULL: out of memory */
/* Append the next piece (about budget bytes, whole lines) to out: 1 when it
 * was the last, 0 when more follow, -1 out of memory. */
int metrics_stream_next(struct metrics_stream *s, struct jbuf *out, size_t budget);
void metrics_stream_free(struct metrics_stream *s);
/* `ctl metrics` (metrics_ctl.c): the same as one control reply,
 * {"text":"...","ok":true}, written to bev a piece per loop pass while it
 * lasts (bev's write low-water mark is METRICS_STREAM_LOW, and the caller's
 * write callback calls metrics_reply_more). When the last piece is queued
 * the reply frees itself and calls done; hangup: not even the end could be
 * queued, so the connection should close. NULL: out of memory, nothing
 * written. metrics_reply_free stops one whose client went away. */
struct bufferevent;
struct metrics_reply;
typedef void (*metrics_reply_done_fn)(void *arg, bool hangup);
struct metrics_reply *metrics_reply_start(const struct view_src *src, struct bufferevent *bev,
					  metrics_reply_done_fn done, void *arg);
void metrics_reply_more(struct metrics_reply *r);
void metrics_reply_free(struct metrics_reply *r);
/* The /metrics HTTP listener (evhttp) on "ADDR:PORT" / "[V6]:PORT", on
 * base, serving src (read at each request). */
struct metrics_server;
struct metrics_server *metrics_server_new(struct event_base *base, const struct view_src *src,
					  const char *listen, char *err, size_t errlen);
void metrics_server_free(struct metrics_server *m);

#endif
