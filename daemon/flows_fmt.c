/* flows_fmt.c: a flow's row and a round as JSON and text, from one field
 * table each. See flows_fmt.h. */
#include "flows_fmt.h"

#include <math.h>
#include <stddef.h>

/* How a field's value reads. */
enum ff_fmt {
	FF_COUNT, /* uint64_t */
	FF_US,    /* double, microseconds: text in ms ("%.3f"), "-" when NAN; JSON null */
	FF_PCT,   /* double: text "%.1f"; NAN: none, JSON null */
	FF_TTL,   /* uint64_t: 0 is "-", JSON null */
	FF_WORSE, /* uint64_t FLOWS_WORSE_* bits: JSON ["rtt", "loss"]; no text */
};

struct ff_field {
	const char *key;  /* JSON member */
	const char *head; /* text: the column's heading (table); NULL: none */
	const char *text; /* text: printf format with one %s for the value; NULL: JSON only */
	enum ff_fmt fmt;
	size_t off;       /* into the row */
	const char *none; /* text for NAN (FF_PCT); NULL: "-" */
};

/* A round's figures as the table reads them. */
struct ff_round {
	uint64_t probes, answered, lost;
	double min_us, median_us, max_us, jitter_us;
};

#define RD(m) offsetof(struct ff_round, m)
static const struct ff_field round_fields[] = {
	{ "probes", NULL, "%s probes", FF_COUNT, RD(probes), NULL },
	{ "answered", NULL, ", %s answered", FF_COUNT, RD(answered), NULL },
	{ "lost", NULL, ", %s lost", FF_COUNT, RD(lost), NULL },
	{ "rtt_min_us", NULL, ", rtt min/median/max = %s", FF_US, RD(min_us), NULL },
	{ "rtt_median_us", NULL, "/%s", FF_US, RD(median_us), NULL },
	{ "rtt_max_us", NULL, "/%s ms", FF_US, RD(max_us), NULL },
	{ "jitter_us", NULL, ", jitter %s ms", FF_US, RD(jitter_us), NULL },
};

#define FR(m) offsetof(struct flows_row, m)
static const struct ff_field row_fields[] = {
	{ "flow", "flow", "%4s", FF_COUNT, FR(flow), NULL },
	{ "source_port", "  sport", "  %5s", FF_COUNT, FR(sport), NULL },
	{ "probes", "  probes", "  %6s", FF_COUNT, FR(probes), NULL },
	{ "lost", "  lost", "  %4s", FF_COUNT, FR(lost), NULL },
	{ "loss_pct", "  loss%", "  %5s%%", FF_PCT, FR(loss_pct), "0.0" },
	{ "rtt_p50_us", "    rtt p50", "  %6s ms", FF_US, FR(p50_us), NULL },
	{ "rtt_p99_us", "    rtt p99", "  %6s ms", FF_US, FR(p99_us), NULL },
	{ "ttl", "  ttl", "  %3s", FF_TTL, FR(ttl), NULL },
	{ "worse", NULL, NULL, FF_WORSE, FR(worse), NULL },
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t row_u64(const void *row, size_t off) { return *(const uint64_t *)((const char *)row + off); }
static double row_double(const void *row, size_t off) { return *(const double *)((const char *)row + off); }

static void fields_json(struct jbuf *j, const struct ff_field *fs, size_t n, const void *row)
{
	for (const struct ff_field *f = fs; f < fs + n; f++) {
		uint64_t u = f->fmt == FF_US || f->fmt == FF_PCT ? 0 : row_u64(row, f->off);
		jb_key(j, f->key);
		switch (f->fmt) {
		case FF_COUNT:
			jb_uint(j, u);
			break;
		case FF_US:
		case FF_PCT:
			jb_double(j, row_double(row, f->off)); /* NAN: null */
			break;
		case FF_TTL:
			if (u)
				jb_uint(j, u);
			else
				jb_null(j);
			break;
		case FF_WORSE:
			jb_arr(j);
			if (u & FLOWS_WORSE_RTT)
				jb_str(j, "rtt");
			if (u & FLOWS_WORSE_LOSS)
				jb_str(j, "loss");
			jb_arr_end(j);
			break;
		}
	}
}

static void fields_text(FILE *out, const struct ff_field *fs, size_t n, const void *row)
{
	for (const struct ff_field *f = fs; f < fs + n; f++) {
		char b[32];
		double d;
		if (!f->text)
			continue;
		switch (f->fmt) {
		case FF_COUNT:
		case FF_TTL:
			if (f->fmt == FF_TTL && !row_u64(row, f->off))
				snprintf(b, sizeof(b), "-");
			else
				snprintf(b, sizeof(b), "%llu", (unsigned long long)row_u64(row, f->off));
			break;
		case FF_US:
		case FF_PCT:
			d = row_double(row, f->off);
			if (isnan(d))
				snprintf(b, sizeof(b), "%s", f->none ? f->none : "-");
			else
				snprintf(b, sizeof(b), "%.*f", f->fmt == FF_US ? 3 : 1,
					 f->fmt == FF_US ? d / 1e3 : d);
			break;
		case FF_WORSE:
			continue;
		}
		fprintf(out, f->text, b);
	}
}

void flows_row_make(struct flows_row *row, unsigned flow, uint16_t sport, uint64_t probes,
		    uint64_t lost, uint8_t ttl, double p50_us, double p99_us, uint8_t why)
{
	*row = (struct flows_row){
		.flow = flow, .sport = sport, .probes = probes, .lost = lost, .ttl = ttl,
		.worse = why, .p50_us = p50_us, .p99_us = p99_us,
		.loss_pct = probes ? 100.0 * (double)lost / (double)probes : NAN,
	};
}

void flows_row_json(struct jbuf *j, const struct flows_row *row)
{
	fields_json(j, row_fields, NFIELDS(row_fields), row);
}

void flows_head_text(FILE *f)
{
	for (size_t c = 0; c < NFIELDS(row_fields); c++)
		if (row_fields[c].head)
			fputs(row_fields[c].head, f);
}

void flows_row_text(FILE *f, const struct flows_row *row)
{
	fields_text(f, row_fields, NFIELDS(row_fields), row);
}

static struct ff_round ff_round(const struct flows_round *rd)
{
	return (struct ff_round){ .probes = rd->probes, .answered = rd->answered, .lost = rd->lost,
				  .min_us = rd->rtt_min_us, .median_us = rd->rtt_median_us,
				  .max_us = rd->rtt_max_us, .jitter_us = rd->jitter_us };
}

void flows_round_json(struct jbuf *j, const struct flows_round *rd)
{
	struct ff_round r = ff_round(rd);
	fields_json(j, round_fields, NFIELDS(round_fields), &r);
}

void flows_round_text(FILE *f, const struct flows_round *rd)
{
	struct ff_round r = ff_round(rd);
	fields_text(f, round_fields, NFIELDS(round_fields), &r);
}
