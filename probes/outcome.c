/* outcome.c: see outcome.h. */
#include "outcome.h"

enum probe_outcome probe_outcome(enum probe_kind k, enum probe_result r)
{
	switch (r) {
	case RESULT_OK:
		/* A FIN probe never opens a connection. */
		return k == PROBE_FIN ? OUTCOME_ERROR : OUTCOME_UP;
	case RESULT_CLOSED:
	case RESULT_SILENT:
		return k == PROBE_FIN ? OUTCOME_UP : OUTCOME_ERROR;
	case RESULT_REFUSED:
	case RESULT_RESET:
	case RESULT_UNREACHABLE:
		return OUTCOME_REJECTED;
	case RESULT_TIMEOUT:
		return OUTCOME_UNANSWERED;
	case RESULT_PENDING:
	case RESULT_ERROR:
		return OUTCOME_ERROR;
	}
	return OUTCOME_ERROR;
}

bool probe_kind_has_result(enum probe_kind k, enum probe_result r)
{
	switch (r) {
	case RESULT_PENDING:
		return false;
	case RESULT_OK:
	case RESULT_REFUSED:
	case RESULT_TIMEOUT:
	case RESULT_RESET:
		return k != PROBE_FIN;
	case RESULT_UNREACHABLE:
	case RESULT_ERROR:
		return true;
	case RESULT_CLOSED:
	case RESULT_SILENT:
		return k == PROBE_FIN;
	}
	return false;
}

bool probe_up(enum probe_kind k, enum probe_result r)
{
	return probe_outcome(k, r) == OUTCOME_UP;
}
