/* engine_trace.c: the trace driver. probes/trace.c decides which SYN goes
 * out with which TTL and what an ICMP error or a SYN/ACK means; this runs
 * its actions on a trace's connection: sends, timers, the report, and the
 * wait for pps budget (traces queue in order for whole tokens). */
#include "engine_priv.h"
#include "wheel.h"

/* A trace that ends while it waits for budget leaves the queue. */
void eng_trace_unwait(struct engine *e, struct trace_conn *tc)
{
	if (!tc->waiting)
		return;
	struct trace_conn *prev = NULL;
	for (struct trace_conn *w = e->w_head; w; prev = w, w = w->wnext) {
		if (w != tc)
			continue;
		if (prev)
			prev->wnext = w->wnext;
		else
			e->w_head = w->wnext;
		if (e->w_tail == w)
			e->w_tail = prev;
		break;
	}
	tc->waiting = false;
	tc->wnext = NULL;
}

/* SYNs a trace may send now: the pps cap's whole tokens. */
static uint32_t trace_credit(const struct engine *e)
{
	if (!e->cfg.pps)
		return UINT32_MAX;
	return e->tokens >= 1 ? (uint32_t)e->tokens : 0;
}

static void trace_wait(struct engine *e, struct trace_conn *tc)
{
	if (tc->waiting)
		return;
	tc->waiting = true;
	tc->wnext = NULL;
	if (e->w_tail)
		e->w_tail->wnext = tc;
	else
		e->w_head = tc;
	e->w_tail = tc;
}

static void trace_run(struct engine *e, struct trace_conn *tc, struct trace_event *ev, uint64_t now)
{
	struct trace_actions acts;
	struct conn *c = &tc->c;
	bool done = false;
	ev->credit = trace_credit(e);
	trace_step(&tc->t, ev, now, &acts);
	for (unsigned i = 0; i < acts.n; i++) {
		const struct trace_action *a = &acts.a[i];
		switch (a->type) {
		case TRACE_ACT_SEND:
			eng_send_segment(e, c, &a->seg, a->ttl);
			break;
		case TRACE_ACT_TIMER:
			wheel_arm(e->wheel, &c->timer, a->deadline);
			break;
		case TRACE_ACT_WANT_CREDIT:
			trace_wait(e, tc);
			break;
		case TRACE_ACT_RESULT:
			eng_conn_report(e, c);
			break;
		case TRACE_ACT_DONE:
			done = true;
			break;
		}
	}
	if (done)
		eng_conn_free(e, c);
}

void eng_trace_event(struct engine *e, struct conn *c, enum trace_ev_type type,
			const struct pkt_info *pkt, uint64_t now)
{
	struct trace_event ev = { .type = type, .pkt = pkt };
	trace_run(e, conn_trace(c), &ev, now);
}

/* Traces that wait for budget go first, in order, while there is some. */
void eng_trace_serve_waiting(struct engine *e)
{
	for (unsigned n = 0; e->w_head && trace_credit(e) > 0 && n < 4096; n++) {
		struct trace_conn *tc = e->w_head;
		e->w_head = tc->wnext;
		if (!e->w_head)
			e->w_tail = NULL;
		tc->waiting = false;
		tc->wnext = NULL;
		struct trace_event ev = { .type = TRACE_EV_CREDIT };
		trace_run(e, tc, &ev, engine_now());
	}
}

/* A trace's first SYN, once launch gave it a connection. */
void eng_trace_start(struct engine *e, struct trace_conn *tc, uint32_t iss, uint32_t ts_offset,
		     uint64_t now)
{
	trace_init(&tc->t, &tc->c.ctx->prof->tp, &tc->c.ctx->prof->fp);
	struct trace_event tev = { .type = TRACE_EV_START, .iss = iss, .ts_offset = ts_offset };
	trace_run(e, tc, &tev, now);
}
