#include "targets.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "outcome.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

struct target_slab {
	size_t bytes, cap, used;
	size_t refs; /* targets taken and not yet freed, plus one until done */
	struct target t[];
};

struct target_slab *target_slab_new(size_t n)
{
	if (!n || n > (SIZE_MAX - sizeof(struct target_slab)) / sizeof(struct target))
		return NULL;
	size_t bytes = sizeof(struct target_slab) + n * sizeof(struct target);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Both are hints: an older kernel, or one without THP, faults the
	 * pages in one at a time as before. */
	(void)madvise(p, bytes, MADV_HUGEPAGE);
	(void)madvise(p, bytes, MADV_POPULATE_WRITE);
	struct target_slab *s = p;
	s->bytes = bytes;
	s->cap = n;
	s->used = 0;
	s->refs = 1;
	return s;
}

static void slab_put(struct target_slab *s)
{
	if (s && !--s->refs)
		munmap(s, s->bytes);
}

struct target *target_alloc(struct target_slab *s)
{
	if (!s || s->used == s->cap)
		return calloc(1, sizeof(struct target));
	struct target *t = &s->t[s->used++];
	t->slab = s;
	s->refs++;
	return t;
}

void target_slab_done(struct target_slab *s) { slab_put(s); }

void target_dealloc(struct target *t)
{
	if (t && t->slab)
		slab_put(t->slab);
	else
		free(t);
}

const char *phase_str(enum phase p)
{
	switch (p) {
	case PHASE_HANDSHAKE: return "handshake";
	case PHASE_FIN_ACK: return "fin_ack";
	case PHASE_FIN_WAIT_2: return "fin_wait_2";
	case PHASE_CLOSE: return "close";
	case PHASE_CONNECT: return "connect";
	}
	return "?";
}

void hist_add(struct hist *h, const double *bounds, unsigned nbuckets, double v)
{
	unsigned i = 0;
	while (i < nbuckets && v > bounds[i])
		i++;
	h->counts[i]++;
	h->n++;
	h->sum += v;
}

double hist_quantile(const struct hist *h, const double *bounds, unsigned nbuckets, double q)
{
	if (!h->n || q < 0 || q > 1)
		return NAN;
	double rank = q * (double)h->n;
	uint64_t cum = 0;
	for (unsigned i = 0; i <= nbuckets; i++) {
		uint64_t prev = cum;
		cum += h->counts[i];
		if ((double)cum >= rank && h->counts[i]) {
			if (i == nbuckets) /* +Inf bucket: the highest finite bound, as Prometheus */
				return nbuckets ? bounds[nbuckets - 1] : NAN;
			double lo = i ? bounds[i - 1] : 0;
			double hi = bounds[i];
			return lo + (hi - lo) * (rank - (double)prev) / (double)h->counts[i];
		}
	}
	return nbuckets ? bounds[nbuckets - 1] : NAN;
}

static void entry_clear(struct hist_entry *e)
{
	free(e->tl);
	free(e->error);
	free(e->trace);
	e->tl = NULL;
	e->error = NULL;
	e->trace = NULL;
	e->r.tl = NULL;
	e->r.error = NULL;
	e->r.trace = NULL;
}

void target_keep_trace(struct target *t, const struct trace_result *r)
{
	if (!t->st.trace && !(t->st.trace = malloc(sizeof(*t->st.trace))))
		return;
	/* r may be a history entry's, allocated to its hops. */
	memcpy(t->st.trace, r, offsetof(struct trace_result, hops) + r->nhops * sizeof(r->hops[0]));
}

void target_forget_trace(struct target_stats *s)
{
	free(s->trace);
	s->trace = NULL;
}

void target_msg_set(char **msg, const char *fmt, ...)
{
	if (!*msg && !(*msg = malloc(TARGET_MSG_MAX)))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(*msg, TARGET_MSG_MAX, fmt, ap);
	va_end(ap);
}

const struct hist *target_phase(const struct target_stats *s, enum phase p)
{
	static const struct hist empty;
	return s->phase ? &s->phase[p] : &empty;
}

void target_clear_phases(struct target_stats *s)
{
	free(s->phase);
	s->phase = NULL;
}

const char *target_state(const struct target *t)
{
	if (t->paused)
		return "paused";
	if (target_msg_has(t->error))
		return "error";
	return "ok";
}

void target_free_history(struct target *t)
{
	for (unsigned i = 0; t->ring && i < t->ring_cap; i++)
		entry_clear(&t->ring[i]);
	free(t->ring);
	t->ring = NULL;
	t->ring_cap = t->ring_head = t->ring_n = 0;
}

int target_set_history(struct target *t, unsigned cap)
{
	if (cap == t->ring_cap)
		return 0;
	if (!t->ring) { /* nothing recorded yet: allocated at the first result */
		t->ring_cap = cap;
		return 0;
	}
	struct hist_entry *ring = cap ? calloc(cap, sizeof(*ring)) : NULL;
	if (cap && !ring)
		return -1;
	unsigned keep = t->ring_n < cap ? t->ring_n : cap;
	/* Newest first: entry i of the old ring becomes slot keep-1-i. */
	for (unsigned i = 0; i < keep; i++) {
		unsigned src = (t->ring_head + t->ring_cap - 1 - i) % t->ring_cap;
		ring[keep - 1 - i] = t->ring[src];
		t->ring[src].tl = NULL; /* moved, not freed below */
		t->ring[src].error = NULL;
		t->ring[src].trace = NULL;
	}
	target_free_history(t);
	t->ring = ring;
	t->ring_cap = cap;
	t->ring_n = keep;
	t->ring_head = cap ? keep % cap : 0;
	return 0;
}

const struct hist_entry *target_history(const struct target *t, unsigned i)
{
	if (i >= t->ring_n)
		return NULL;
	return &t->ring[(t->ring_head + t->ring_cap - 1 - i) % t->ring_cap];
}

static void record_history(struct target *t, const struct probe_report *r)
{
	if (!t->ring_cap)
		return;
	if (!t->ring && !(t->ring = calloc(t->ring_cap, sizeof(*t->ring))))
		return; /* out of memory: this result is not kept */
	struct hist_entry *e = &t->ring[t->ring_head];
	entry_clear(e);
	e->r = *r;
	if (r->tl && r->tl->n) {
		/* Keep only the entries used: most timelines are ~10 of FSM_TL_MAX. */
		size_t sz = offsetof(struct fsm_timeline, e) + r->tl->n * sizeof(r->tl->e[0]);
		e->tl = malloc(sz);
		if (e->tl)
			memcpy(e->tl, r->tl, sz);
	}
	e->r.tl = e->tl;
	e->error = r->error ? strdup(r->error) : NULL;
	e->r.error = e->error;
	if (r->trace) {
		/* Only the hops used (a history holds many): readers stop at nhops. */
		size_t sz = offsetof(struct trace_result, hops) + r->trace->nhops * sizeof(r->trace->hops[0]);
		e->trace = malloc(sz);
		if (e->trace)
			memcpy(e->trace, r->trace, sz);
	}
	e->r.trace = e->trace;
	t->ring_head = (t->ring_head + 1) % t->ring_cap;
	if (t->ring_n < t->ring_cap)
		t->ring_n++;
}

struct target_flows *target_flows_new(unsigned nf)
{
	struct target_flows *tf = calloc(1, sizeof(*tf) + nf * sizeof(tf->f[0]));
	if (!tf)
		return NULL;
	tf->nf = nf;
	for (unsigned i = 0; i < nf; i++)
		tf->f[i].cur_rtt_us = tf->f[i].prev_rtt_us = NAN;
	return tf;
}

void target_flows_free(struct target_flows *tf)
{
	for (unsigned i = 0; tf && i < tf->nf; i++) {
		free(tf->f[i].trace);
		free(tf->f[i].path);
	}
	free(tf);
}

void target_path_sum(const struct target *t, struct path_sum *out)
{
	const struct path_track *one = target_path(t), *fl[FLOWS_MAX];
	unsigned n = 0;
	if (one)
		fl[n++] = one;
	else if (target_path_per_flow(t) && t->flows)
		for (; n < t->flows->nf && n < FLOWS_MAX; n++)
			fl[n] = t->flows->f[n].path;
	path_sum(fl, n, out);
}

/* The round ends: its numbers (probes/flows), and this round's RTT becomes
 * each flow's previous one (for the next round's jitter). */
static void round_end(struct target_flows *tf)
{
	struct flows_sample smp[FLOWS_MAX];
	unsigned m = 0;
	for (unsigned i = 0; i < tf->nf; i++) {
		struct target_flow *f = &tf->f[i];
		if (f->cur != TF_NONE)
			smp[m++] = (struct flows_sample){ .lost = f->cur == TF_LOST,
							  .answered = f->cur == TF_ANSWERED,
							  .rtt_us = f->cur_rtt_us,
							  .prev_us = f->prev_rtt_us };
		f->prev_rtt_us = f->cur_rtt_us;
		f->cur_rtt_us = NAN;
		f->cur = TF_NONE;
	}
	if (m) {
		flows_round(smp, m, &tf->last);
		tf->rounds++;
	}
}

void target_round_start(struct target *t)
{
	struct target_flows *tf = t->flows;
	if (!tf)
		return;
	if (tf->pending)
		round_end(tf);
	tf->pending = tf->nf >= 64 ? ~0ULL : (1ULL << tf->nf) - 1;
}

static void record_flow(struct target_flows *tf, const struct probe_report *r)
{
	unsigned i = r->flow ? r->flow - 1u : 0;
	/* A target-level error (no address, say) is no flow's probe. */
	if (i >= tf->nf || (tf->nf > 1 && !r->flow))
		return;
	struct target_flow *f = &tf->f[i];
	if (r->result < RESULT_COUNT)
		f->by_result[r->result]++;
	enum probe_outcome o = probe_outcome((enum probe_kind)r->kind, (enum probe_result)r->result);
	if (o != OUTCOME_ERROR) {
		f->probes++;
		f->lost += o == OUTCOME_UNANSWERED;
		f->cur = o == OUTCOME_UNANSWERED ? TF_LOST : TF_ANSWERED;
	}
	if (r->ph.handshake) {
		f->rtt_us[f->rtt_count % FLOW_RTT_WINDOW] = (float)(r->ph.handshake / 1e3);
		f->rtt_count++;
		f->rtt_sum_s += r->ph.handshake / 1e9;
		f->cur_rtt_us = r->ph.handshake / 1e3;
	}
	if (r->peer_ttl) /* a SYN/ACK came (a trace's: from its target) */
		f->ttl = r->peer_ttl;
	if (r->trace) {
		/* Only the hops used: readers stop at nhops. */
		size_t sz = offsetof(struct trace_result, hops) + r->trace->nhops * sizeof(r->trace->hops[0]);
		struct trace_result *tr = realloc(f->trace, sz);
		if (tr) {
			memcpy(tr, r->trace, sz);
			f->trace = tr;
		}
	}
	if (tf->pending & (1ULL << i)) {
		tf->pending &= ~(1ULL << i);
		if (!tf->pending)
			round_end(tf);
	}
}

void target_flow_quantiles(const struct target_flow *f, double *p50, double *p99)
{
	double v[FLOW_RTT_WINDOW];
	size_t n = f->rtt_count < FLOW_RTT_WINDOW ? (size_t)f->rtt_count : FLOW_RTT_WINDOW;
	for (size_t i = 0; i < n; i++)
		v[i] = f->rtt_us[i];
	*p50 = flows_quantile(v, n, 0.5);
	*p99 = flows_quantile(v, n, 0.99);
}

void target_flows_worse(const struct target_flows *tf, struct flows_verdict *v)
{
	struct flows_flow ff[FLOWS_MAX];
	for (unsigned i = 0; i < tf->nf; i++) {
		double p99;
		ff[i] = (struct flows_flow){ .probes = tf->f[i].probes, .lost = tf->f[i].lost };
		target_flow_quantiles(&tf->f[i], &ff[i].rtt_p50_us, &p99);
	}
	flows_worse(ff, tf->nf, v);
}

void target_record(struct target *t, const struct probe_report *r, const double *bounds,
		   unsigned nbuckets)
{
	struct target_stats *s = &t->st;
	s->probes++;
	if (r->result < RESULT_COUNT)
		s->by_result[r->result]++;
	if (r->close_result < CLOSE_COUNT && r->close_result != CLOSE_NONE)
		s->by_close[r->close_result]++;
	s->syn_retransmits += r->syn_retransmits;
	s->synack_retransmits += r->synack_seen > 1 ? r->synack_seen - 1u : 0;
	s->rtt_ambiguous += r->ph.rtt_ambiguous;
	s->duplicates += r->duplicates;
	s->fin_retransmits += r->fin_retransmits;
	s->peer_fin_retransmits += r->peer_fin_retransmits;
	s->last_probe_ns = r->t_start;
	s->last_result = r->result;
	s->last_rtt_ns = r->ph.handshake;
	if (probe_up((enum probe_kind)r->kind, (enum probe_result)r->result))
		s->last_ok_ns = r->t_start;
	const uint64_t ph[PHASE_COUNT] = { r->ph.handshake, r->ph.fin_ack, r->ph.fin_wait_2,
					   r->ph.close, r->ph.connect };
	for (unsigned i = 0; i < PHASE_COUNT; i++) {
		if (!ph[i])
			continue;
		/* Out of memory: the samples are lost, the counters above kept. */
		if (!s->phase && !(s->phase = calloc(PHASE_COUNT, sizeof(*s->phase))))
			break;
		hist_add(&s->phase[i], bounds, nbuckets, ph[i] / 1e9);
	}
	if (r->have_peer) {
		s->have_peer = true;
		s->peer_mss = r->peer_mss;
		s->peer_wscale = r->peer_wscale;
		s->peer_sack = r->peer_sack;
		s->peer_ts = r->peer_ts;
		s->peer_ttl = r->peer_ttl;
	}
	if (r->find.have_fp) {
		if (s->find.have_fp && !find_fp_eq(&s->find.fp, &r->find.fp))
			s->fp_changes++;
		s->find = r->find;
	}
	if (t->flows)
		record_flow(t->flows, r);
	if (r->trace)
		target_keep_trace(t, r->trace);
	record_history(t, r);
}
