/* probe_flows.c: `tcpprobe probe --flows N`'s rounds and per-flow table, as
 * text and JSON (the fields are flows_fmt.c's). See probe_flows.h. */
#include "probe_flows.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "flows.h"
#include "flows_fmt.h"
#include "outcome.h"

/* A flow's probe in one round. */
enum { PF_PENDING, PF_ANSWERED, PF_LOST, PF_NONE };

struct pflow {
	uint16_t sport;
	unsigned probes, lost;
	uint8_t ttl;  /* the last SYN/ACK's; 0: none */
	double *rtt;  /* per round, us; NAN: none */
	uint8_t *st;  /* per round, PF_* */
};

struct pflows {
	unsigned n, rounds;
	struct pflow *f;
	uint8_t *round_done; /* per round: its probes reported */
};

struct pflows *pflows_new(unsigned nflows, unsigned rounds)
{
	struct pflows *pf = calloc(1, sizeof(*pf));
	if (!pf)
		return NULL;
	pf->n = nflows;
	pf->rounds = rounds;
	if (!(pf->f = calloc(nflows, sizeof(*pf->f))) || !(pf->round_done = calloc(rounds, 1))) {
		pflows_free(pf);
		return NULL;
	}
	for (unsigned i = 0; i < nflows; i++) {
		struct pflow *fl = &pf->f[i];
		if (!(fl->rtt = malloc(rounds * sizeof(*fl->rtt))) || !(fl->st = calloc(rounds, 1))) {
			pflows_free(pf);
			return NULL;
		}
		for (unsigned k = 0; k < rounds; k++)
			fl->rtt[k] = NAN;
	}
	return pf;
}

void pflows_free(struct pflows *pf)
{
	if (!pf)
		return;
	for (unsigned i = 0; pf->f && i < pf->n; i++) {
		free(pf->f[i].rtt);
		free(pf->f[i].st);
	}
	free(pf->f);
	free(pf->round_done);
	free(pf);
}

void pflows_set_port(struct pflows *pf, unsigned flow, uint16_t sport) { pf->f[flow].sport = sport; }
uint16_t pflows_port(const struct pflows *pf, unsigned flow) { return pf->f[flow].sport; }

bool pflows_not_sent(struct pflows *pf, unsigned flow, unsigned round)
{
	pf->f[flow].st[round] = PF_NONE;
	return ++pf->round_done[round] == pf->n;
}

bool pflows_record(struct pflows *pf, unsigned flow, unsigned round,
		   const struct probe_report *r)
{
	struct pflow *fl = &pf->f[flow];
	enum probe_outcome o = probe_outcome((enum probe_kind)r->kind, (enum probe_result)r->result);
	if (r->error || o == OUTCOME_ERROR) /* this host's failure: neither answered nor lost */
		return pflows_not_sent(pf, flow, round);
	fl->probes++;
	fl->st[round] = o == OUTCOME_UNANSWERED ? PF_LOST : PF_ANSWERED;
	fl->lost += o == OUTCOME_UNANSWERED;
	if (r->ph.handshake)
		fl->rtt[round] = r->ph.handshake / 1e3;
	if (r->peer_ttl) /* a SYN/ACK came (a trace's: from its target) */
		fl->ttl = r->peer_ttl;
	return ++pf->round_done[round] == pf->n;
}

/* ---- the views (flows_fmt.c has the fields) -------------------------------- */

/* A JSON line's start: the object and what names the target. */
static void json_begin(const struct pflows_out *o)
{
	char a[64];
	jb_reset(o->j);
	jb_obj(o->j);
	jb_key(o->j, "target");
	jb_str(o->j, o->target);
	jb_key(o->j, "address");
	jb_str(o->j, pkt_addr_str(o->addr, a, sizeof(a)));
	jb_key(o->j, "port");
	jb_uint(o->j, o->port);
}

/* Text: what follows a line's lead word when several targets share the
 * output, as the probe lines name theirs: " [ADDR]:PORT NAME". */
static void text_target(const struct pflows_out *o)
{
	char a[64];
	if (o->name_target)
		fprintf(o->f, " [%s]:%u %s", pkt_addr_str(o->addr, a, sizeof(a)), o->port, o->target);
}

static void json_end(const struct pflows_out *o)
{
	jb_obj_end(o->j);
	if (o->j->p)
		fprintf(o->f, "%s\n", o->j->p);
}

void pflows_round(const struct pflows_out *o, const struct pflows *pf, unsigned k)
{
	struct flows_sample s[FLOWS_MAX];
	unsigned m = 0;
	for (unsigned i = 0; i < pf->n && i < FLOWS_MAX; i++) {
		const struct pflow *fl = &pf->f[i];
		if (fl->st[k] == PF_NONE)
			continue;
		s[m++] = (struct flows_sample){ .lost = fl->st[k] == PF_LOST,
						.answered = fl->st[k] == PF_ANSWERED,
						.rtt_us = fl->rtt[k], .prev_us = k ? fl->rtt[k - 1] : NAN };
	}
	struct flows_round rd;
	flows_round(s, m, &rd);
	if (o->j) {
		json_begin(o);
		jb_key(o->j, "round");
		jb_uint(o->j, k + 1);
		flows_round_json(o->j, &rd);
		json_end(o);
	} else {
		fprintf(o->f, "round %u", k + 1);
		text_target(o);
		fputs(": ", o->f);
		flows_round_text(o->f, &rd);
		fputc('\n', o->f);
	}
}

/* Why flow i is worse, a line of text. */
static void worse_why(FILE *out, const struct flows_row *r, const struct flows_flow *ff,
		      const struct flows_verdict *vd)
{
	fprintf(out, "\n  flow %u (sport %u):", (unsigned)r->flow, (unsigned)r->sport);
	if (r->worse & FLOWS_WORSE_RTT)
		fprintf(out, " rtt p50 %.3f ms > %.0fx the best flow's %.3f ms", ff->rtt_p50_us / 1e3,
			FLOWS_RTT_FACTOR, vd->ref_rtt_p50_us / 1e3);
	if (r->worse & FLOWS_WORSE_LOSS)
		fprintf(out, "%s loss %.1f%% against the best flows' %.1f%%",
			r->worse & FLOWS_WORSE_RTT ? ";" : "",
			100.0 * (double)ff->lost / (double)ff->probes, 100.0 * vd->ref_loss);
}

void pflows_summary(const struct pflows_out *o, const struct pflows *pf)
{
	unsigned n = pf->n < FLOWS_MAX ? pf->n : FLOWS_MAX;
	struct flows_flow ff[FLOWS_MAX] = { 0 };
	struct flows_row row[FLOWS_MAX];
	double p99[FLOWS_MAX];
	double *v = malloc(pf->rounds * sizeof(*v));
	if (!v)
		return;
	for (unsigned i = 0; i < n; i++) {
		const struct pflow *fl = &pf->f[i];
		size_t m = 0;
		for (unsigned k = 0; k < pf->rounds; k++)
			if (!isnan(fl->rtt[k]))
				v[m++] = fl->rtt[k];
		ff[i] = (struct flows_flow){ .probes = fl->probes, .lost = fl->lost,
					     .rtt_p50_us = flows_quantile(v, m, 0.5) };
		p99[i] = flows_quantile(v, m, 0.99);
	}
	free(v);
	struct flows_verdict vd;
	flows_worse(ff, n, &vd);
	for (unsigned i = 0; i < n; i++)
		flows_row_make(&row[i], i + 1, pf->f[i].sport, ff[i].probes, ff[i].lost, pf->f[i].ttl,
			       ff[i].rtt_p50_us, p99[i], vd.why[i]);

	if (o->j) {
		json_begin(o);
		jb_key(o->j, "flows");
		jb_arr(o->j);
		for (unsigned i = 0; i < n; i++) {
			jb_obj(o->j);
			flows_row_json(o->j, &row[i]);
			jb_obj_end(o->j);
		}
		jb_arr_end(o->j);
		jb_key(o->j, "worse_flows");
		jb_arr(o->j);
		for (unsigned i = 0; i < n; i++)
			if (row[i].worse)
				jb_uint(o->j, i + 1);
		jb_arr_end(o->j);
		jb_key(o->j, "rtt_p50_ref_us");
		jb_double(o->j, vd.ref_rtt_p50_us);
		jb_key(o->j, "loss_ref_pct");
		jb_double(o->j, 100.0 * vd.ref_loss);
		json_end(o);
		return;
	}
	flows_head_text(o->f);
	fputc('\n', o->f);
	for (unsigned i = 0; i < n; i++) {
		flows_row_text(o->f, &row[i]);
		fputc('\n', o->f);
	}
	/* "worse flows: 1, 4" on one line (easy to grep), then why, a line each. */
	fputs("worse flows", o->f);
	text_target(o);
	fputc(':', o->f);
	if (!vd.n_worse)
		fputs(" none", o->f);
	const char *sep = " ";
	for (unsigned i = 0; i < n; i++)
		if (row[i].worse) {
			fprintf(o->f, "%s%u", sep, i + 1);
			sep = ", ";
		}
	for (unsigned i = 0; i < n; i++)
		if (row[i].worse)
			worse_why(o->f, &row[i], &ff[i], &vd);
	fputc('\n', o->f);
}
