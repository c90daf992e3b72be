/* test_timeline.c: fsm_timeline_order, the time order every view shows. */
#include "check.h"
#include "fsm.h"

static struct fsm_timeline tl_of(const uint64_t *t, unsigned n)
{
	struct fsm_timeline tl = { .n = n };
	for (unsigned i = 0; i < n; i++)
		tl.e[i] = (struct fsm_tl_entry){ .t_ns = t[i], .seq = i };
	return tl;
}

/* A frame whose kernel time precedes a timer processed before it comes first;
 * equal times keep the order they were recorded in. */
static void t_order(void)
{
	static const uint64_t t[] = { 10, 50, 30, 30, 20, 60 };
	struct fsm_timeline tl = tl_of(t, 6);
	uint8_t o[FSM_TL_MAX];
	static const uint8_t want[] = { 0, 4, 2, 3, 1, 5 };

	CHECK_EQ(fsm_timeline_order(&tl, o), 6);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(o[i], want[i]);
}

static void t_edges(void)
{
	uint8_t o[FSM_TL_MAX];
	uint64_t t[FSM_TL_MAX];
	for (unsigned i = 0; i < FSM_TL_MAX; i++)
		t[i] = FSM_TL_MAX - i; /* reversed: the longest sort */
	struct fsm_timeline tl = tl_of(t, FSM_TL_MAX);

	CHECK_EQ(fsm_timeline_order(NULL, o), 0);
	CHECK_EQ(fsm_timeline_order(&tl, o), FSM_TL_MAX);
	for (unsigned i = 0; i < FSM_TL_MAX; i++)
		CHECK_EQ(o[i], FSM_TL_MAX - 1 - i);
}

int main(void)
{
	RUN(t_order);
	RUN(t_edges);
	return CHECK_EXIT();
}
