/* test_flows.c: probes/flows.c: quantiles, rounds, jitter, the worse-flows rule. */
#include <math.h>

#include "check.h"
#include "flows.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void t_quantile(void)
{
	double v[] = { 5, 1, 4, 2, 3 };
	CHECK(NEAR(flows_quantile(v, 5, 0.5), 3));
	double w[] = { 4, 1, 3, 2 };
	CHECK(NEAR(flows_quantile(w, 4, 0.5), 2.5));
	double x[100];
	for (int i = 0; i < 100; i++)
		x[i] = 100 - i; /* 1..100, reversed */
	CHECK(NEAR(flows_quantile(x, 100, 0.99), 99));
	CHECK(NEAR(flows_quantile(x, 100, 1.0), 100));
	CHECK(NEAR(flows_quantile(x, 100, 0.0), 1));
	CHECK(isnan(flows_quantile(x, 0, 0.5)));
}

static void t_round(void)
{
	struct flows_sample s[4] = {
		{ .answered = true, .rtt_us = 100, .prev_us = 110 },
		{ .answered = true, .rtt_us = 300, .prev_us = 250 },
		{ .lost = true, .rtt_us = NAN, .prev_us = 100 },
		{ .answered = true, .rtt_us = 200, .prev_us = NAN },
	};
	struct flows_round r;
	flows_round(s, 4, &r);
	CHECK_EQ(r.probes, 4);
	CHECK_EQ(r.answered, 3);
	CHECK_EQ(r.lost, 1);
	CHECK_EQ(r.n_rtt, 3);
	CHECK(NEAR(r.rtt_min_us, 100));
	CHECK(NEAR(r.rtt_median_us, 200));
	CHECK(NEAR(r.rtt_max_us, 300));
	/* |100-110| and |300-250|: flows with an RTT in both rounds only. */
	CHECK(NEAR(r.jitter_us, 30));
	struct flows_sample none = { .lost = true, .rtt_us = NAN, .prev_us = NAN };
	flows_round(&none, 1, &r);
	CHECK(isnan(r.rtt_median_us) && isnan(r.jitter_us));
	CHECK_EQ(r.lost, 1);
}

static void t_binom(void)
{
	CHECK(NEAR(flows_binom_tail(10, 0, 0.1), 1));
	CHECK(NEAR(flows_binom_tail(1, 1, 0.25), 0.25));
	/* P(X >= 2 | 3, 0.5) = 4/8 */
	CHECK(NEAR(flows_binom_tail(3, 2, 0.5), 0.5));
	CHECK(NEAR(flows_binom_tail(5, 5, 0.5), 1.0 / 32));
	CHECK(flows_binom_tail(30, 10, 0.01) < 1e-10);
	CHECK(flows_binom_tail(1000000, 1, 0.001) > 0.999);
}

/* Eight flows, three of them on a path 20 ms slower: those three, by RTT. */
static void t_worse_rtt(void)
{
	struct flows_flow f[8];
	for (int i = 0; i < 8; i++)
		f[i] = (struct flows_flow){ .probes = 30, .lost = 0, .rtt_p50_us = 60 + i };
	f[1].rtt_p50_us = f[4].rtt_p50_us = f[6].rtt_p50_us = 20100;
	struct flows_verdict v;
	flows_worse(f, 8, &v);
	CHECK_EQ(v.n_worse, 3);
	CHECK_EQ(v.why[1], FLOWS_WORSE_RTT);
	CHECK_EQ(v.why[4], FLOWS_WORSE_RTT);
	CHECK_EQ(v.why[6], FLOWS_WORSE_RTT);
	CHECK(NEAR(v.ref_rtt_p50_us, 60));
	/* Most flows on the slow path: still the slow ones (the best is the
	 * reference, not the median). */
	for (int i = 0; i < 8; i++)
		f[i].rtt_p50_us = i < 2 ? 50 : 20000 + i;
	flows_worse(f, 8, &v);
	CHECK_EQ(v.n_worse, 6);
	CHECK_EQ(v.why[0], 0);
	CHECK_EQ(v.why[7], FLOWS_WORSE_RTT);
	/* Sub-millisecond differences are noise: 0.05 vs 0.3 ms names none. */
	for (int i = 0; i < 8; i++)
		f[i].rtt_p50_us = i ? 300 : 50;
	flows_worse(f, 8, &v);
	CHECK_EQ(v.n_worse, 0);
}

/* Loss: a flow losing 8 of 30 where the others lose none is worse; one
 * loss in 30 is not; a flow with no probes is never named. */
static void t_worse_loss(void)
{
	struct flows_flow f[8];
	for (int i = 0; i < 8; i++)
		f[i] = (struct flows_flow){ .probes = 30, .lost = 0, .rtt_p50_us = 100 };
	f[2].lost = 8;
	f[5].lost = 1;
	f[7].probes = 0;
	f[7].rtt_p50_us = NAN;
	struct flows_verdict v;
	flows_worse(f, 8, &v);
	CHECK_EQ(v.n_worse, 1);
	CHECK_EQ(v.why[2], FLOWS_WORSE_LOSS);
	CHECK_EQ(v.why[5], 0);
	CHECK_EQ(v.why[7], 0);
	/* Everyone losing alike: nobody is worse than the rest. */
	for (int i = 0; i < 8; i++)
		f[i] = (struct flows_flow){ .probes = 100, .lost = 10, .rtt_p50_us = 100 };
	flows_worse(f, 8, &v);
	CHECK_EQ(v.n_worse, 0);
	/* Both reasons at once. */
	f[3].lost = 60;
	f[3].rtt_p50_us = 30000;
	flows_worse(f, 8, &v);
	CHECK_EQ(v.why[3], FLOWS_WORSE_RTT | FLOWS_WORSE_LOSS);
}

static void t_label(void)
{
	/* Fixed per port, never 0, 20 bits, and neighbours differ. */
	CHECK_EQ(flows_label(20000), flows_label(20000));
	for (unsigned p = 0; p < 65536; p++) {
		uint32_t l = flows_label((uint16_t)p);
		CHECK(l && l <= 0xfffff);
		if (p)
			CHECK(l != flows_label((uint16_t)(p - 1)));
	}
}

int main(void)
{
	RUN(t_quantile);
	RUN(t_round);
	RUN(t_binom);
	RUN(t_worse_rtt);
	RUN(t_worse_loss);
	RUN(t_label);
	return CHECK_EXIT();
}
