/* probe_flows.c: `tcpprobe probe --flows N`'s rounds and per-flow table, as
 * text and JSON. See probe_flows.h. */
#include "probe_flows.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "flows.h"
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
	if (r->have_peer)
		fl->ttl = r->peer_ttl;
	return ++pf->round_done[round] == pf->n;
}

/* ---- the field tables ------------------------------------------------------ */

/* How a field's value reads. */
enum pf_fmt {
	PFF_COUNT, /* unsigned */
	PFF_US,    /* double, microseconds: text in ms ("%.3f"), "-" when NAN; JSON null */
	PFF_PCT,   /* double: text "%.1f"; NAN: none, JSON null */
	PFF_TTL,   /* unsigned: 0 is "-", JSON null */
	PFF_WORSE, /* unsigned FLOWS_WORSE_* bits: JSON ["rtt", "loss"]; no text */
};

struct pf_field {
	const char *key;  /* JSON member */
	const char *head; /* text: the column's heading (table); NULL: none */
	const char *text; /* text: printf format with one %s for the value; NULL: JSON only */
	enum pf_fmt fmt;
	size_t off;       /* into the row */
	const char *none; /* text for NAN (PFF_PCT); NULL: "-" */
};

#define RD(m) offsetof(struct flows_round, m)
/* A round: its line continues "round N: " with these. */
static const struct pf_field round_fields[] = {
	{ "probes", NULL, "%s probes", PFF_COUNT, RD(probes), NULL },
	{ "answered", NULL, ", %s answered", PFF_COUNT, RD(answered), NULL },
	{ "lost", NULL, ", %s lost", PFF_COUNT, RD(lost), NULL },
	{ "rtt_min_us", NULL, ", rtt min/median/max = %s", PFF_US, RD(rtt_min_us), NULL },
	{ "rtt_median_us", NULL, "/%s", PFF_US, RD(rtt_median_us), NULL },
	{ "rtt_max_us", NULL, "/%s ms", PFF_US, RD(rtt_max_us), NULL },
	{ "jitter_us", NULL, ", jitter %s ms", PFF_US, RD(jitter_us), NULL },
};

/* One row of the per-flow table. */
struct pf_row {
	unsigned flow, sport, probes, lost, ttl, worse;
	double loss_pct, p50_us, p99_us;
};
#define FR(m) offsetof(struct pf_row, m)
static const struct pf_field flow_fields[] = {
	{ "flow", "flow", "%4s", PFF_COUNT, FR(flow), NULL },
	{ "source_port", "  sport", "  %5s", PFF_COUNT, FR(sport), NULL },
	{ "probes", "  probes", "  %6s", PFF_COUNT, FR(probes), NULL },
	{ "lost", "  lost", "  %4s", PFF_COUNT, FR(lost), NULL },
	{ "loss_pct", "  loss%", "  %5s%%", PFF_PCT, FR(loss_pct), "0.0" },
	{ "rtt_p50_us", "    rtt p50", "  %6s ms", PFF_US, FR(p50_us), NULL },
	{ "rtt_p99_us", "    rtt p99", "  %6s ms", PFF_US, FR(p99_us), NULL },
	{ "ttl", "  ttl", "  %3s", PFF_TTL, FR(ttl), NULL },
	{ "worse", NULL, NULL, PFF_WORSE, FR(worse), NULL },
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static unsigned row_uint(const void *row, size_t off) { return *(const unsigned *)((const char *)row + off); }
static double row_double(const void *row, size_t off) { return *(const double *)((const char *)row + off); }

static void field_json(struct jbuf *j, const struct pf_field *f, const void *row)
{
	jb_key(j, f->key);
	switch (f->fmt) {
	case PFF_COUNT:
		jb_uint(j, row_uint(row, f->off));
		break;
	case PFF_US:
	case PFF_PCT:
		jb_double(j, row_double(row, f->off)); /* NAN: null */
		break;
	case PFF_TTL:
		if (row_uint(row, f->off))
			jb_uint(j, row_uint(row, f->off));
		else
			jb_null(j);
		break;
	case PFF_WORSE:
		jb_arr(j);
		if (row_uint(row, f->off) & FLOWS_WORSE_RTT)
			jb_str(j, "rtt");
		if (row_uint(row, f->off) & FLOWS_WORSE_LOSS)
			jb_str(j, "loss");
		jb_arr_end(j);
		break;
	}
}

static void field_text(FILE *out, const struct pf_field *f, const void *row)
{
	char b[32];
	double d;
	if (!f->text)
		return;
	switch (f->fmt) {
	case PFF_COUNT:
	case PFF_TTL:
		if (f->fmt == PFF_TTL && !row_uint(row, f->off))
			snprintf(b, sizeof(b), "-");
		else
			snprintf(b, sizeof(b), "%u", row_uint(row, f->off));
		break;
	case PFF_US:
	case PFF_PCT:
		d = row_double(row, f->off);
		if (isnan(d))
			snprintf(b, sizeof(b), "%s", f->none ? f->none : "-");
		else
			snprintf(b, sizeof(b), "%.*f", f->fmt == PFF_US ? 3 : 1,
				 f->fmt == PFF_US ? d / 1e3 : d);
		break;
	case PFF_WORSE:
		return;
	}
	fprintf(out, f->text, b);
}

/* Every field of row: as members of the open JSON object, or as text. */
static void fields_put(const struct pflows_out *o, const struct pf_field *fs, size_t n,
		       const void *row)
{
	for (size_t i = 0; i < n; i++) {
		if (o->j)
			field_json(o->j, &fs[i], row);
		else
			field_text(o->f, &fs[i], row);
	}
}

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

static void json_end(const struct pflows_out *o)
{
	jb_obj_end(o->j);
	if (o->j->p)
		fprintf(o->f, "%s\n", o->j->p);
}

/* ---- the views ------------------------------------------------------------- */

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
	} else {
		fprintf(o->f, "round %u: ", k + 1);
	}
	fields_put(o, round_fields, NFIELDS(round_fields), &rd);
	if (o->j)
		json_end(o);
	else
		fputc('\n', o->f);
}

/* Why flow i is worse, a line of text. */
static void worse_why(FILE *out, const struct pf_row *r, const struct flows_flow *ff,
		      const struct flows_verdict *vd)
{
	fprintf(out, "\n  flow %u (sport %u):", r->flow, r->sport);
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
	struct pf_row row[FLOWS_MAX];
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
		row[i] = (struct pf_row){
			.flow = i + 1, .sport = fl->sport, .probes = fl->probes, .lost = fl->lost,
			.ttl = fl->ttl, .p50_us = ff[i].rtt_p50_us, .p99_us = flows_quantile(v, m, 0.99),
			.loss_pct = fl->probes ? 100.0 * fl->lost / fl->probes : NAN,
		};
	}
	free(v);
	struct flows_verdict vd;
	flows_worse(ff, n, &vd);
	for (unsigned i = 0; i < n; i++)
		row[i].worse = vd.why[i];

	if (o->j) {
		json_begin(o);
		jb_key(o->j, "flows");
		jb_arr(o->j);
		for (unsigned i = 0; i < n; i++) {
			jb_obj(o->j);
			fields_put(o, flow_fields, NFIELDS(flow_fields), &row[i]);
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
	for (size_t c = 0; c < NFIELDS(flow_fields); c++)
		if (flow_fields[c].head)
			fputs(flow_fields[c].head, o->f);
	fputc('\n', o->f);
	for (unsigned i = 0; i < n; i++) {
		fields_put(o, flow_fields, NFIELDS(flow_fields), &row[i]);
		fputc('\n', o->f);
	}
	/* "worse flows: 1, 4" on one line (easy to grep), then why, a line each. */
	fputs("worse flows:", o->f);
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
