/* statuspage_priv.h: what the status page's files share (statuspage.c: the
 * pages and their HTTP; statuspage_svg.c: the charts) and no other module
 * includes: writing HTML into a buffer (every string from a config, a
 * discovery source or the network through h_esc() or h_url()), and the
 * charts the pages embed. */
#ifndef TCPPROBE_STATUSPAGE_PRIV_H
#define TCPPROBE_STATUSPAGE_PRIV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "json.h"
#include "series.h"
#include "targets.h"

static inline void h_raw(struct jbuf *j, const char *s) { jb_append(j, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static inline void h_fmt(struct jbuf *j, const char *fmt, ...)
{
	char b[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n > 0)
		jb_append(j, b, (size_t)n < sizeof(b) ? (size_t)n : sizeof(b) - 1);
}

/* Text and attribute values: the five characters HTML gives meaning to. */
static inline void h_esc(struct jbuf *j, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		const char *rep;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		jb_append(j, run, (size_t)(s - run));
		h_raw(j, rep);
		run = s + 1;
	}
	jb_append(j, run, (size_t)(s - run));
}

/* A path segment or query value: unreserved characters as they are. */
static inline void h_url(struct jbuf *j, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			jb_append(j, s, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			jb_append(j, e, 3);
		}
	}
}

/* A duration as people read it, to the nanosecond below 1 ms and to the
 * microsecond above (the ladder's phase labels are checked against the
 * JSON to 1 us). */
static inline const char *dur_str(uint64_t ns, char *b, size_t n)
{
	if (ns < 1000000u)
		snprintf(b, n, "%.3f µs", (double)ns / 1e3);
	else if (ns < 1000000000u)
		snprintf(b, n, "%.3f ms", (double)ns / 1e6);
	else
		snprintf(b, n, "%.6f s", (double)ns / 1e9);
	return b;
}

/* How many buckets cover `window` ns (at least 1, at most the ring). */
static inline unsigned window_buckets(uint64_t window, uint64_t width)
{
	uint64_t k = (window + width - 1) / width;
	return k < 1 ? 1 : k > SERIES_LEN ? SERIES_LEN : (unsigned)k;
}

/* statuspage_svg.c: the charts, as inline SVG. */
/* The last hour in 120x24 px: median RTT line, lost probes as bars. */
void sp_sparkline(struct jbuf *j, const struct target *t, uint64_t now, uint64_t width);
/* One probe's timeline as a ladder diagram (compressed or linear time). */
void sp_ladder(struct jbuf *j, const struct target *t, const struct hist_entry *h, bool linear);
/* The last hour or day of RTT quantiles and loss, SmokePing-style. */
void sp_smoke_graph(struct jbuf *j, const struct target *t, uint64_t now, uint64_t width,
		    bool day);
/* A histogram per phase, over the configured buckets. */
void sp_phase_histograms(struct jbuf *j, const struct target *t, const struct daemon_cfg *dc);

#endif
