/*
 * outcome.h: what a probe's result means for its kind. The one rule behind
 * `tcpprobe probe`'s summary and exit status, ctl's loss and /metrics'
 * tcpprobe_up: nothing else decides what counts as an answer.
 */
#ifndef TCPPROBE_OUTCOME_H
#define TCPPROBE_OUTCOME_H

#include "fsm.h"

enum probe_outcome {
	OUTCOME_UP,         /* the answer the kind asks for: syn and handshake `ok`;
			     * fin `closed` (an RST) or `silent` (RFC 9293 3.10.7.1:
			     * a listening port drops a bare FIN) */
	OUTCOME_REJECTED,   /* answered, but the service is not there: `refused`,
			     * `reset`, `unreachable` (an RST or an ICMP error) */
	OUTCOME_UNANSWERED, /* nothing came back: `timeout`. The only loss */
	OUTCOME_ERROR,      /* this host failed (`error`): not the network's doing */
};
#define OUTCOME_COUNT (OUTCOME_ERROR + 1)

enum probe_outcome probe_outcome(enum probe_kind k, enum probe_result r);
/* Whether a probe of kind k can end with result r (/metrics emits the
 * kind's results at 0 before the first one happens, so that rate() and
 * increase() see the series from its first scrape). */
bool probe_kind_has_result(enum probe_kind k, enum probe_result r);
/* probe_outcome(k, r) == OUTCOME_UP */
bool probe_up(enum probe_kind k, enum probe_result r);

#endif
