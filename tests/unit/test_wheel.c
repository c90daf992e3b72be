/* test_wheel.c: the timer wheel's bounded expiry (wheel_expire_some): a
 * pass never runs much more than its budget, whole ticks at a time, and
 * the passes together fire every due entry exactly once, in tick order, and
 * none early. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "wheel.h"

enum { N = 6000 };

struct item {
	struct wheel_entry e;
	uint64_t deadline;
	unsigned fired;
};

struct run {
	uint64_t now, last_tick;
	size_t n;
	bool early, order;
};

static void on_fire(void *arg, struct wheel_entry *e)
{
	struct item *it = (struct item *)((char *)e - offsetof(struct item, e));
	struct run *r = arg;
	uint64_t tick = (it->deadline + WHEEL_TICK_NS - 1) / WHEEL_TICK_NS;
	it->fired++;
	r->n++;
	r->early |= it->deadline > r->now;
	r->order &= tick >= r->last_tick;
	r->last_tick = tick;
}

/* 6,000 entries due within 100 ms, expired 2 s late with a budget of 512:
 * the stall of the daemon's schedule seen in load.sh. */
static void budget_bounds_each_pass(void)
{
	static struct wheel w;
	struct item *it = calloc(N, sizeof(*it));
	CHECK(it != NULL);
	uint64_t t0 = 1000000000000ULL;
	wheel_init(&w, t0);
	for (size_t i = 0; i < N; i++) {
		it[i].deadline = t0 + 1000000 + (i * 7919 % 100000) * 1000; /* 1..101 ms */
		wheel_arm(&w, &it[i].e, it[i].deadline);
	}
	struct run r = { .now = t0 + 2000000000ULL, .order = true };
	unsigned passes = 0;
	size_t most = 0;
	bool more = true;
	while (more && passes < N) {
		size_t before = r.n;
		more = wheel_expire_some(&w, r.now, 512, on_fire, &r);
		passes++;
		if (r.n - before > most)
			most = r.n - before;
	}
	CHECK(!more);
	CHECK_EQ(r.n, N);
	CHECK(!r.early);
	CHECK(r.order);
	/* ~60 entries per 1 ms tick: a pass stops within a tick of its budget. */
	CHECK(most >= 512 && most < 512 + 200);
	CHECK(passes >= N / (512 + 200));
	for (size_t i = 0; i < N; i++)
		CHECK_EQ(it[i].fired, 1);
	CHECK_EQ(w.count, 0);
	free(it);
}

/* Entries not yet due stay, whatever the budget, and one armed again from
 * its own callback (the schedule's next slot) waits for a later pass. */
static struct wheel rw;
static struct item rearm_it;
static void on_rearm(void *arg, struct wheel_entry *e)
{
	struct run *r = arg;
	r->n++;
	wheel_arm(&rw, e, r->now + 5000000);
}

static void not_due_stays(void)
{
	uint64_t t0 = 5000000000ULL;
	wheel_init(&rw, t0);
	wheel_arm(&rw, &rearm_it.e, t0 + 3000000);
	struct run r = { .now = t0 + 2000000 };
	CHECK(!wheel_expire_some(&rw, r.now, 1, on_rearm, &r));
	CHECK_EQ(r.n, 0);
	r.now = t0 + 3000000;
	CHECK(!wheel_expire_some(&rw, r.now, 1, on_rearm, &r));
	CHECK_EQ(r.n, 1);
	CHECK_EQ(rw.count, 1);
	CHECK(!wheel_expire_some(&rw, r.now + 1000000, 1, on_rearm, &r));
	CHECK_EQ(r.n, 1);
	CHECK(wheel_next(&rw) >= t0 + 8000000 - WHEEL_TICK_NS);
}

int main(void)
{
	RUN(budget_bounds_each_pass);
	RUN(not_due_stays);
	return CHECK_EXIT();
}
