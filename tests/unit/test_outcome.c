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

int main(void)
{
	RUN(t_up_per_kind);
	RUN(t_classes);
	RUN(t_total);
	return CHECK_EXIT();
}
