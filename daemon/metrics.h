/* metrics.h: the Prometheus exposition of the whole daemon and its
 * /metrics HTTP listener (metrics.c). */
#ifndef TCPPROBE_METRICS_H
#define TCPPROBE_METRICS_H

#include <stddef.h>

struct daemon;
struct jbuf;

/* Prometheus text format 0.0.4 for everything. */
void metrics_render(struct daemon *d, struct jbuf *out);
/* The /metrics HTTP listener (evhttp) on "ADDR:PORT" / "[V6]:PORT". */
struct metrics_server;
struct metrics_server *metrics_server_new(struct daemon *d, const char *listen, char *err,
					  size_t errlen);
void metrics_server_free(struct metrics_server *m);

#endif
