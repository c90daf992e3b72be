/* series.c: the status page's per-bucket history (see series.h). */
#include "series.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "outcome.h"
#include "targets.h"

const double series_q[SERIES_Q] = { 0.10, 0.25, 0.50, 0.75, 0.90 };

/* code = 1 + round(ln(ns) / ln(1.001)): 0.1% steps reach ~10^28 ns, far
 * above any RTT; 1 ns and below is code 1. */
#define SERIES_STEP 0.00099950033308353 /* ln(1.001) */

uint16_t series_code(double ns)
{
	if (!(ns > 1.0))
		return ns > 0 ? 1 : 0;
	double c = 1.0 + round(log(ns) / SERIES_STEP);
	return c >= 65535.0 ? 65535 : (uint16_t)c;
}

double series_ns(uint16_t code) { return code ? exp((double)(code - 1) * SERIES_STEP) : 0.0; }

static void sat_inc(uint16_t *v)
{
	if (*v < UINT16_MAX)
		(*v)++;
}

void series_free(struct series *s)
{
	free(s->b);
	s->b = NULL;
	s->head = 0;
	memset(s->cur, 0, sizeof(s->cur));
}

const struct series_bucket *series_at(const struct series *s, uint64_t newest, unsigned i)
{
	if (!s->b || i > newest)
		return NULL;
	uint64_t n = newest - i;
	if (n > s->head || s->head - n >= SERIES_LEN)
		return NULL;
	const struct series_bucket *b = &s->b[n % SERIES_LEN];
	return b->count ? b : NULL;
}

int series_record(struct series *s, const struct probe_report *r, uint64_t width_ns,
		  const double *bounds, unsigned nbuckets)
{
	if (!width_ns || !r->t_start)
		return 0;
	if (s->b && s->width_ns != width_ns)
		series_free(s);
	if (!s->b) {
		s->b = calloc(SERIES_LEN, sizeof(*s->b));
		if (!s->b)
			return -1;
		s->width_ns = width_ns;
	}
	uint64_t n = r->t_start / width_ns;
	if (n > s->head || !s->head) {
		/* Clear the buckets skipped over (at most the whole ring). */
		uint64_t gap = s->head && n - s->head < SERIES_LEN ? n - s->head : SERIES_LEN;
		for (uint64_t i = 0; i < gap; i++)
			memset(&s->b[(n - i) % SERIES_LEN], 0, sizeof(*s->b));
		memset(s->cur, 0, sizeof(s->cur));
		s->head = n;
	} else if (s->head - n >= SERIES_LEN) {
		return 0; /* older than the ring */
	}
	struct series_bucket *b = &s->b[n % SERIES_LEN];
	sat_inc(&b->count);
	if (probe_outcome((enum probe_kind)r->kind, (enum probe_result)r->result) ==
	    OUTCOME_UNANSWERED)
		sat_inc(&b->lost);
	/* A late report for an older bucket counts, but its histogram is gone. */
	if (!r->ph.handshake || n != s->head)
		return 0;
	sat_inc(&b->rtt_n);
	struct hist h;
	memset(&h, 0, sizeof(h));
	hist_add(&h, bounds, nbuckets, (double)r->ph.handshake / 1e9);
	for (unsigned i = 0; i <= nbuckets; i++)
		if (h.counts[i])
			sat_inc(&s->cur[i]);
	for (unsigned i = 0; i <= nbuckets; i++)
		h.counts[i] = s->cur[i];
	h.n = b->rtt_n;
	for (unsigned k = 0; k < SERIES_Q; k++)
		b->q[k] = series_code(hist_quantile(&h, bounds, nbuckets, series_q[k]) * 1e9);
	return 0;
}
