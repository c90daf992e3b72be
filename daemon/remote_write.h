/* remote_write.h: Prometheus remote write 1.0 for probers nothing can
 * scrape ([remote_write NAME] sections). Every `interval` the daemon's
 * /metrics exposition is turned into a WriteRequest (protobuf-c, snappy)
 * and queued; one POST per collection, oldest first, on the event loop
 * with libevent's HTTP client. Probing never waits for the network. */
#ifndef TCPPROBE_REMOTE_WRITE_H
#define TCPPROBE_REMOTE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct event_base;
struct jbuf;
struct view_src;

/* The sections of cfg, started on base (copied: a reload does not change
 * them). NULL with err on failure; NULL without error when cfg has none.
 * Every interval, collect(src, buf) writes the exposition to send: the
 * caller passes metrics_render (a pointer, so that this module and the
 * metrics one, which renders these writers' own counters, do not call
 * each other) and what it renders (views.h). */
struct remote_writers;
typedef void (*remote_write_collect_fn)(const struct view_src *src, struct jbuf *out);
struct remote_writers *remote_write_start(const struct view_src *src, struct event_base *base,
					  const struct config *cfg, remote_write_collect_fn collect,
					  char *err, size_t errlen);
void remote_write_free(struct remote_writers *r);
/* For the status view (views.c): how many writers, and writer i's counters. */
struct remote_write_status {
	const char *name, *url, *last_error; /* last_error "" = none */
	uint64_t queued_samples, queued_batches, collected_samples, collected_batches;
	uint64_t sent_samples, sent_batches, dropped_samples, dropped_batches;
	uint64_t rejected_samples, failed_requests, last_batch_samples, last_collect_us;
};
size_t remote_write_count(const struct remote_writers *r);
void remote_write_status(const struct remote_writers *r, size_t i, struct remote_write_status *out);
/* tcpprobe_remote_write_* families for /metrics. */
void remote_write_metrics(const struct remote_writers *r, struct jbuf *b);

/* The exposition text (as metrics_render writes it) as a snappy-compressed
 * WriteRequest with timestamp ts_ms and the external labels (for tests).
 * 0 with *out (malloc'd), *len and *samples, or -1 with err. */
int remote_write_encode(const char *text, size_t len, int64_t ts_ms, const char *external,
			unsigned char **out, size_t *outlen, size_t *samples, char *err,
			size_t errlen);

#endif
