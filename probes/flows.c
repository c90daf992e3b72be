/* flows.c: per-round and per-flow statistics, the worse-flows rule. See flows.h. */
#include "flows.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double flows_quantile(double *v, size_t n, double q)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	if (q == 0.5 && n % 2 == 0)
		return (v[n / 2 - 1] + v[n / 2]) / 2;
	/* Nearest rank: the smallest value with at least q*n values at or below it. */
	double r = ceil(q * (double)n);
	size_t i = r < 1 ? 0 : (size_t)r - 1;
	return v[i < n ? i : n - 1];
}

void flows_round(const struct flows_sample *s, unsigned n, struct flows_round *out)
{
	double rtt[FLOWS_MAX], jsum = 0;
	unsigned jn = 0;
	*out = (struct flows_round){ .rtt_min_us = NAN, .rtt_median_us = NAN, .rtt_max_us = NAN,
				     .jitter_us = NAN };
	for (unsigned i = 0; i < n && i < FLOWS_MAX; i++) {
		out->probes++;
		out->answered += s[i].answered;
		out->lost += s[i].lost;
		if (isnan(s[i].rtt_us))
			continue;
		rtt[out->n_rtt++] = s[i].rtt_us;
		if (!isnan(s[i].prev_us)) {
			jsum += fabs(s[i].rtt_us - s[i].prev_us);
			jn++;
		}
	}
	if (out->n_rtt) {
		out->rtt_median_us = flows_quantile(rtt, out->n_rtt, 0.5);
		out->rtt_min_us = rtt[0];
		out->rtt_max_us = rtt[out->n_rtt - 1];
	}
	if (jn)
		out->jitter_us = jsum / jn;
}

double flows_binom_tail(uint64_t n, uint64_t k, double p)
{
	if (k == 0)
		return 1.0;
	if (k > n || p <= 0)
		return 0.0;
	if (p >= 1)
		return 1.0;
	/* Terms fall from the mode on; summed from k while they matter. */
	double lp = log(p), lq = log1p(-p), sum = 0;
	for (uint64_t i = k; i <= n; i++) {
		double t = exp(lgamma((double)n + 1) - lgamma((double)i + 1) -
			       lgamma((double)(n - i) + 1) + (double)i * lp + (double)(n - i) * lq);
		sum += t;
		if ((double)i > (double)n * p && t < sum * 1e-12)
			break;
	}
	return sum > 1 ? 1 : sum;
}

static int cmp_loss(const void *a, const void *b)
{
	const struct flows_flow *x = a, *y = b;
	/* x.lost/x.probes < y.lost/y.probes without division */
	double l = (double)x->lost * (double)y->probes, r = (double)y->lost * (double)x->probes;
	return (l > r) - (l < r);
}

void flows_worse(const struct flows_flow *f, unsigned n, struct flows_verdict *v)
{
	*v = (struct flows_verdict){ .ref_rtt_p50_us = NAN, .ref_loss = NAN };
	if (n > FLOWS_MAX)
		n = FLOWS_MAX;
	struct flows_flow sorted[FLOWS_MAX];
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!isnan(f[i].rtt_p50_us) &&
		    (isnan(v->ref_rtt_p50_us) || f[i].rtt_p50_us < v->ref_rtt_p50_us))
			v->ref_rtt_p50_us = f[i].rtt_p50_us;
		if (f[i].probes)
			sorted[m++] = f[i];
	}
	if (m) {
		qsort(sorted, m, sizeof(*sorted), cmp_loss);
		uint64_t lost = 0, probes = 0;
		for (unsigned i = 0; i < (m + 3) / 4; i++) {
			lost += sorted[i].lost;
			probes += sorted[i].probes;
		}
		v->ref_loss = ((double)lost + 1) / ((double)probes + 2);
	}
	for (unsigned i = 0; i < n; i++) {
		double p50 = f[i].rtt_p50_us, ref = v->ref_rtt_p50_us;
		if (!isnan(p50) && p50 > FLOWS_RTT_FACTOR * ref && p50 - ref >= FLOWS_RTT_FLOOR_US)
			v->why[i] |= FLOWS_WORSE_RTT;
		if (f[i].probes && (double)f[i].lost > v->ref_loss * (double)f[i].probes &&
		    flows_binom_tail(f[i].probes, f[i].lost, v->ref_loss) < FLOWS_LOSS_P)
			v->why[i] |= FLOWS_WORSE_LOSS;
		v->n_worse += v->why[i] != 0;
	}
}

uint32_t flows_label(uint16_t sport)
{
	/* A multiplicative hash spreads neighbouring ports over the 20 bits. */
	uint32_t h = (uint32_t)sport * 2654435761u;
	h = (h >> 12) & 0xfffff;
	return h ? h : 1;
}
