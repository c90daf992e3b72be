/* test_outcome.c: probes/outcome.c, the one rule for what a result means. */
#include "check.h"
#include "outcome.h"

static void t_up_per_kind(void)
{
	CHECK(probe_up(PROBE_HANDSHAKE, RESULT_OK));
	CHECK(probe_up(PROBE_SYN, RESULT_OK));
	CHECK(probe_up(PROBE_FIN, RESULT_CLOSED));
	CHECK(probe_up(PROBE_FIN, RESULT_SILENT));
	CHECK(!probe_up(PROBE_FIN, RESULT_OK));
	CHECK(!probe_up(PROBE_HANDSHAKE, RESULT_SILENT));
	CHECK(!probe_up(PROBE_HANDSHAKE, RESULT_RESET));
	CHECK(probe_up(PROBE_TRACE, RESULT_OK));        /* the target answered */
	CHECK(!probe_up(PROBE_TRACE, RESULT_REFUSED));  /* reached, port closed */
	CHECK_EQ(probe_outcome(PROBE_TRACE, RESULT_TIMEOUT), OUTCOME_UNANSWERED);
}

/* Loss is silence only; RSTs and ICMP errors are answers, local failures
 * are not the network's. */
static void t_classes(void)
{
	for (int k = 0; k < PROBE_KIND_COUNT; k++) {
		enum probe_kind kind = (enum probe_kind)k;
		CHECK_EQ(probe_outcome(kind, RESULT_TIMEOUT), OUTCOME_UNANSWERED);
		CHECK_EQ(probe_outcome(kind, RESULT_UNREACHABLE), OUTCOME_REJECTED);
		CHECK_EQ(probe_outcome(kind, RESULT_ERROR), OUTCOME_ERROR);
		CHECK_EQ(probe_outcome(kind, RESULT_PENDING), OUTCOME_ERROR);
	}
	CHECK_EQ(probe_outcome(PROBE_HANDSHAKE, RESULT_REFUSED), OUTCOME_REJECTED);
	CHECK_EQ(probe_outcome(PROBE_HANDSHAKE, RESULT_RESET), OUTCOME_REJECTED);
	CHECK_EQ(probe_outcome(PROBE_SYN, RESULT_REFUSED), OUTCOME_REJECTED);
	CHECK_EQ(probe_outcome(PROBE_FIN, RESULT_SILENT), OUTCOME_UP);
}

/* Every (kind, result) pair lands in exactly one class, and only the
 * kind's own answers are up. */
static void t_total(void)
{
	unsigned up = 0;
	for (int k = 0; k < PROBE_KIND_COUNT; k++)
		for (int r = 0; r < RESULT_COUNT; r++) {
			enum probe_outcome o = probe_outcome((enum probe_kind)k, (enum probe_result)r);
			CHECK(o >= OUTCOME_UP && o < OUTCOME_COUNT);
			up += o == OUTCOME_UP;
		}
	CHECK_EQ(up, 5); /* syn ok, handshake ok, fin closed, fin silent, trace ok */
}

/* The results each kind can end with (what /metrics lists at 0): every
 * kind's answer is one of its own results, a FIN probe never opens or
 * times out, only a FIN probe is closed or silent, nothing ends pending. */
static void t_kind_results(void)
{
	unsigned n[PROBE_KIND_COUNT] = { 0 };
	for (int k = 0; k < PROBE_KIND_COUNT; k++)
		for (int r = 0; r < RESULT_COUNT; r++) {
			bool has = probe_kind_has_result((enum probe_kind)k, (enum probe_result)r);
			n[k] += has;
			if (probe_up((enum probe_kind)k, (enum probe_result)r))
				CHECK(has);
		}
	CHECK_EQ(n[PROBE_SYN], 6);       /* ok refused timeout reset unreachable error */
	CHECK_EQ(n[PROBE_HANDSHAKE], 6);
	CHECK_EQ(n[PROBE_TRACE], 6);
	CHECK_EQ(n[PROBE_FIN], 4);       /* closed silent unreachable error */
	CHECK(!probe_kind_has_result(PROBE_FIN, RESULT_OK));
	CHECK(!probe_kind_has_result(PROBE_FIN, RESULT_TIMEOUT));
	CHECK(probe_kind_has_result(PROBE_FIN, RESULT_SILENT));
	CHECK(!probe_kind_has_result(PROBE_SYN, RESULT_SILENT));
	CHECK(!probe_kind_has_result(PROBE_HANDSHAKE, RESULT_CLOSED));
	CHECK(!probe_kind_has_result(PROBE_HANDSHAKE, RESULT_PENDING));
}

int main(void)
{
	RUN(t_up_per_kind);
	RUN(t_classes);
	RUN(t_total);
	RUN(t_kind_results);
	return CHECK_EXIT();
}
