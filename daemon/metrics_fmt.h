/* metrics_fmt.h: the pure half of the Prometheus exposition (text format
 * 0.0.4): number formatting, label escaping, histograms, and every metric
 * family rendered from plain structs. No daemon, no libevent, no clock:
 * metrics.c feeds it the daemon's state, tests/unit/test_metrics.c feeds it
 * made-up targets. Everything appends to one growable buffer (struct jbuf
 * used as plain text) with no allocation per line. */
#ifndef TCPPROBE_METRICS_FMT_H
#define TCPPROBE_METRICS_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "registry.h"
#include "json.h"
#include "targets.h"

/* Longest output of the number formatters, NUL included. */
#define METRICS_NUM_MAX 32

/* Decimal digits of v; returns the length (buf needs 21 bytes). */
size_t metrics_fmt_u64(char *buf, uint64_t v);
/* The shortest decimal that reads back as exactly v (%g style, so 5e-05,
 * 0.25, 1e+21), "+Inf", "-Inf" or "NaN" as Prometheus spells them. */
size_t metrics_fmt_double(char *buf, double v);
/* ns as exact decimal seconds without trailing zeros: "1712345678.1234". */
size_t metrics_fmt_ns(char *buf, uint64_t ns);

/* "# HELP name help\n# TYPE name type\n"; help is escaped (\\, \n). */
void metrics_put_family(struct jbuf *b, const char *name, const char *type,
			const char *help);
/* Append a label value escaped for the text format: \\, \" and \n. */
void metrics_put_escaped(struct jbuf *b, const char *s);
/* Append sep, key, '=', '"', escaped value, '"'. sep is '{' for the first
 * label of a sample and ',' after that; 0 appends none. */
void metrics_put_label(struct jbuf *b, char sep, const char *key, const char *value);
/* Close a sample line: "} " (if it has labels) or " ", the value, "\n". */
void metrics_put_u64(struct jbuf *b, bool labels, uint64_t v);
void metrics_put_double(struct jbuf *b, bool labels, double v);
void metrics_put_ns(struct jbuf *b, bool labels, uint64_t ns);

/* Bucket bounds with their "le" strings formatted once per render. */
struct metrics_bounds {
	unsigned n;
	char le[CFG_BUCKETS_MAX + 1][METRICS_NUM_MAX]; /* le[n] = "+Inf" */
};
void metrics_bounds_init(struct metrics_bounds *mb, const double *bounds, unsigned n);

/* The sample lines of one histogram: name_bucket{labels,le="..."} with
 * cumulative counts (h holds per-bucket counts), le="+Inf", name_sum and
 * name_count. labels: rendered label pairs without braces (may be ""). */
void metrics_put_hist(struct jbuf *b, const char *name, const char *labels,
		      const struct hist *h, const struct metrics_bounds *mb);

/* The daemon's own families (engine, scheduler, reloads, memory, build). */
void metrics_render_status(struct jbuf *b, const struct registry_status *s);

/* Every per-target family, for n targets returned by at(arg, i). */
typedef struct target *(*metrics_target_at)(void *arg, size_t i);
void metrics_render_targets(struct jbuf *b, metrics_target_at at, void *arg, size_t n,
			    const double *bounds, unsigned nbuckets);

/* The same in pieces: where a render stopped (family, target) and what it
 * keeps between pieces. The targets must stay the same n, in the same
 * order, from the first piece to the last (metrics.c pins them). */
struct metrics_cursor {
	size_t fam, i;
	struct metrics_bounds mb;
	struct jbuf lbl; /* "target=...,phase=..." for histograms; grows once */
};
void metrics_cursor_init(struct metrics_cursor *c, const double *bounds, unsigned nbuckets);
void metrics_cursor_free(struct metrics_cursor *c);
/* Render on from the cursor until b grew by at least budget bytes (whole
 * targets: a piece ends after a target's last line) or every family is
 * done; true when done. */
bool metrics_render_targets_step(struct metrics_cursor *c, struct jbuf *b, metrics_target_at at,
				 void *arg, size_t n, size_t budget);

#endif
