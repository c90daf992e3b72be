/* metrics.h: the Prometheus exposition of the whole daemon and its
 * /metrics HTTP listener (metrics.c). */
#ifndef TCPPROBE_METRICS_H
#define TCPPROBE_METRICS_H

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
/* The /metrics HTTP listener (evhttp) on "ADDR:PORT" / "[V6]:PORT", on
 * base, serving src (read at each request). */
struct metrics_server;
struct metrics_server *metrics_server_new(struct event_base *base, const struct view_src *src,
					  const char *listen, char *err, size_t errlen);
void metrics_server_free(struct metrics_server *m);

#endif
