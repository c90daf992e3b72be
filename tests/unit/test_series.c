/* test_series.c: daemon/series.c, the status page's per-bucket history. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "series.h"

#define W 1000000000ULL /* 1 s buckets */
#define T0 (1700000000ULL * W)

static const double bounds[] = { 100e-6, 250e-6, 500e-6, 1e-3, 10e-3, 25e-3, 50e-3 };
#define NB (sizeof(bounds) / sizeof(bounds[0]))

static void rec(struct series *s, uint64_t t, enum probe_result res, uint64_t rtt_ns)
{
	struct probe_report r;
	memset(&r, 0, sizeof(r));
	r.kind = PROBE_HANDSHAKE;
	r.result = res;
	r.t_start = t;
	r.ph.handshake = rtt_ns;
	series_record(s, &r, W, bounds, NB);
}

/* 0.1% steps both ways, 0 stays "none". */
static void t_code_round_trip(void)
{
	CHECK_EQ(series_code(0), 0);
	CHECK_EQ(series_ns(0), 0);
	const double v[] = { 1, 37, 40e3, 1234567, 20e6, 5e9, 6e10 };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		double back = series_ns(series_code(v[i]));
		CHECK(fabs(back - v[i]) <= v[i] * 0.0006);
	}
	CHECK(series_code(2e6) > series_code(1.99e6));
}

/* Count, loss and quantiles per bucket, from that bucket's samples only
 * (the histogram delta): a step from 200 us to 20 ms shows in the bucket
 * after it, not smeared over both. */
static void t_buckets_and_step(void)
{
	struct series s;
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 10; i++)
		rec(&s, T0 + (uint64_t)i * 100000000u, RESULT_OK, 200000);
	rec(&s, T0 + 950000000u, RESULT_TIMEOUT, 0);
	for (int i = 0; i < 10; i++)
		rec(&s, T0 + W + (uint64_t)i * 100000000u, RESULT_OK, 20000000);
	uint64_t newest = (T0 + W) / W;
	const struct series_bucket *a = series_at(&s, newest, 1), *b = series_at(&s, newest, 0);
	CHECK(a && b);
	CHECK_EQ(a->count, 11);
	CHECK_EQ(a->lost, 1);
	CHECK_EQ(a->rtt_n, 10);
	CHECK_EQ(b->count, 10);
	CHECK_EQ(b->lost, 0);
	double ma = series_ns(a->q[2]), mb = series_ns(b->q[2]);
	CHECK(ma > 100e3 && ma <= 250e3 * 1.001); /* in the (100us, 250us] bucket */
	CHECK(mb > 10e6 && mb <= 25e6 * 1.001);
	for (int q = 1; q < SERIES_Q; q++)
		CHECK(b->q[q] >= b->q[q - 1]);
	/* Nothing before the first bucket, nothing in the future. */
	CHECK(!series_at(&s, newest, 2));
	CHECK(!series_at(&s, newest + 1, 0));
	series_free(&s);
}

/* A gap clears the buckets it skips; the ring keeps SERIES_LEN buckets;
 * a late report still counts in its (older) bucket; a change of width
 * starts over. */
static void t_ring(void)
{
	struct series s;
	memset(&s, 0, sizeof(s));
	rec(&s, T0, RESULT_OK, 300000);
	rec(&s, T0 + 5 * W, RESULT_OK, 300000);
	uint64_t n5 = T0 / W + 5;
	CHECK(series_at(&s, n5, 5));
	for (unsigned i = 1; i < 5; i++)
		CHECK(!series_at(&s, n5, i));
	rec(&s, T0 + 2 * W, RESULT_TIMEOUT, 0); /* late */
	CHECK(series_at(&s, n5, 3) && series_at(&s, n5, 3)->lost == 1);
	/* Wrap: the bucket at T0 falls out once the ring has moved on. */
	rec(&s, T0 + (SERIES_LEN + 1) * W, RESULT_OK, 300000);
	uint64_t nw = T0 / W + SERIES_LEN + 1;
	CHECK(series_at(&s, nw, 0));
	CHECK(!series_at(&s, nw, SERIES_LEN + 1));
	CHECK(series_at(&s, nw, SERIES_LEN - 4)); /* T0 + 5 s, still inside */
	CHECK(!series_at(&s, nw, SERIES_LEN + 5));
	struct probe_report r;
	memset(&r, 0, sizeof(r));
	r.kind = PROBE_HANDSHAKE;
	r.result = RESULT_OK;
	r.t_start = T0 + (SERIES_LEN + 1) * W;
	series_record(&s, &r, 2 * W, bounds, NB);
	CHECK_EQ(s.width_ns, 2 * W);
	CHECK(!series_at(&s, r.t_start / (2 * W), 1));
	series_free(&s);
}

int main(void)
{
	RUN(t_code_round_trip);
	RUN(t_buckets_and_step);
	RUN(t_ring);
	return CHECK_EXIT();
}
