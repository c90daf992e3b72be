/* test_probe_flows.c: daemon/probe_flows.c, `tcpprobe probe --flows`'s round
 * line and per-flow table: the text and the JSON come from one field table,
 * so they carry the same figures (null where the text has "-"). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "check.h"
#include "probe_flows.h"

static struct pkt_addr dst = { .family = AF_INET, .a = { 198, 18, 0, 2 } };

/* A report of a handshake probe: rtt_us 0 is a timeout, -1 an error. */
static struct probe_report rep(double rtt_us, uint8_t ttl)
{
	struct probe_report r = { .kind = PROBE_HANDSHAKE, .result = RESULT_OK };
	if (rtt_us < 0) {
		r.result = RESULT_ERROR;
	} else if (rtt_us == 0) {
		r.result = RESULT_TIMEOUT;
	} else {
		r.ph.handshake = (uint64_t)(rtt_us * 1e3);
		r.have_peer = true;
		r.peer_ttl = ttl;
	}
	return r;
}

/* Three flows, two rounds: flow 2 on a 20 ms path, flow 3 lost in round 1
 * and not sent in round 2. */
static struct pflows *fill(unsigned *ends)
{
	struct pflows *pf = pflows_new(3, 2);
	struct probe_report r;
	*ends = 0;
	for (unsigned f = 0; f < 3; f++)
		pflows_set_port(pf, f, (uint16_t)(20000 + f));
	r = rep(100, 64), *ends += pflows_record(pf, 0, 0, &r);
	r = rep(20000, 60), *ends += pflows_record(pf, 1, 0, &r);
	r = rep(0, 0), *ends += pflows_record(pf, 2, 0, &r);
	r = rep(110, 64), *ends += pflows_record(pf, 0, 1, &r);
	r = rep(20300, 60), *ends += pflows_record(pf, 1, 1, &r);
	*ends += pflows_not_sent(pf, 2, 1);
	return pf;
}

/* What pflows_round / pflows_summary print, text or JSON. */
static char *render(const struct pflows *pf, bool json, int round)
{
	char *buf = NULL;
	size_t len = 0;
	struct jbuf jb;
	FILE *f = open_memstream(&buf, &len);
	jb_init(&jb);
	struct pflows_out o = { .f = f, .j = json ? &jb : NULL, .target = "t", .addr = &dst,
				.port = 80 };
	if (round)
		pflows_round(&o, pf, (unsigned)round - 1);
	else
		pflows_summary(&o, pf);
	fclose(f);
	jb_free(&jb);
	return buf;
}

static bool num_is(const json_t *o, const char *k, double want)
{
	const json_t *v = json_object_get(o, k);
	return isnan(want) ? json_is_null(v) : json_is_number(v) && fabs(json_number_value(v) - want) < 1e-6;
}

static void t_rounds(void)
{
	unsigned ends;
	struct pflows *pf = fill(&ends);
	CHECK_EQ(ends, 2); /* each round's last report, the not-sent one too */
	char *t1 = render(pf, false, 1), *t2 = render(pf, false, 2);
	char *j1 = render(pf, true, 1), *j2 = render(pf, true, 2);
	CHECK_STR(t1, "round 1: 3 probes, 2 answered, 1 lost, rtt min/median/max = "
		      "0.100/10.050/20.000 ms, jitter - ms\n");
	/* Round 2: flow 3 not sent counts nowhere; jitter over flows 1 and 2. */
	CHECK_STR(t2, "round 2: 2 probes, 2 answered, 0 lost, rtt min/median/max = "
		      "0.110/10.205/20.300 ms, jitter 0.155 ms\n");
	json_t *a = json_loads(j1, 0, NULL), *b = json_loads(j2, 0, NULL);
	CHECK(a && b);
	CHECK_STR(json_string_value(json_object_get(a, "target")), "t");
	CHECK_STR(json_string_value(json_object_get(a, "address")), "198.18.0.2");
	CHECK(num_is(a, "port", 80) && num_is(a, "round", 1) && num_is(b, "round", 2));
	CHECK(num_is(a, "probes", 3) && num_is(a, "answered", 2) && num_is(a, "lost", 1));
	CHECK(num_is(a, "rtt_min_us", 100) && num_is(a, "rtt_median_us", 10050) &&
	      num_is(a, "rtt_max_us", 20000) && num_is(a, "jitter_us", NAN));
	CHECK(num_is(b, "probes", 2) && num_is(b, "answered", 2) && num_is(b, "lost", 0));
	CHECK(num_is(b, "rtt_min_us", 110) && num_is(b, "rtt_median_us", 10205) &&
	      num_is(b, "rtt_max_us", 20300) && num_is(b, "jitter_us", 155));
	CHECK(strchr(j1, '\n') == j1 + strlen(j1) - 1); /* one line */
	json_decref(a);
	json_decref(b);
	free(t1), free(t2), free(j1), free(j2);
	pflows_free(pf);
}

static void t_summary(void)
{
	unsigned ends;
	struct pflows *pf = fill(&ends);
	char *t = render(pf, false, 0), *j = render(pf, true, 0);
	CHECK_STR(t, "flow  sport  probes  lost  loss%    rtt p50    rtt p99  ttl\n"
		     "   1  20000       2     0    0.0%   0.105 ms   0.110 ms   64\n"
		     "   2  20001       2     0    0.0%  20.150 ms  20.300 ms   60\n"
		     "   3  20002       1     1  100.0%       - ms       - ms    -\n"
		     "worse flows: 2\n"
		     "  flow 2 (sport 20001): rtt p50 20.150 ms > 2x the best flow's 0.105 ms\n");
	json_t *o = json_loads(j, 0, NULL);
	CHECK(o);
	const json_t *fl = json_object_get(o, "flows");
	CHECK(json_array_size(fl) == 3);
	static const double want[3][8] = {
		/* flow, sport, probes, lost, loss_pct, p50, p99, ttl */
		{ 1, 20000, 2, 0, 0, 105, 110, 64 },
		{ 2, 20001, 2, 0, 0, 20150, 20300, 60 },
		{ 3, 20002, 1, 1, 100, NAN, NAN, NAN },
	};
	static const char *const keys[8] = { "flow", "source_port", "probes", "lost", "loss_pct",
					     "rtt_p50_us", "rtt_p99_us", "ttl" };
	for (unsigned i = 0; i < 3; i++) {
		const json_t *row = json_array_get(fl, i);
		for (unsigned k = 0; k < 8; k++)
			CHECK(num_is(row, keys[k], want[i][k]));
		const json_t *w = json_object_get(row, "worse");
		CHECK(json_array_size(w) == (i == 1));
		if (i == 1)
			CHECK_STR(json_string_value(json_array_get(w, 0)), "rtt");
	}
	const json_t *wf = json_object_get(o, "worse_flows");
	CHECK(json_array_size(wf) == 1 && json_integer_value(json_array_get(wf, 0)) == 2);
	CHECK(num_is(o, "rtt_p50_ref_us", 105));
	CHECK(num_is(o, "loss_ref_pct", 25)); /* (0 + 1) / (2 + 2): the best flow's, smoothed */
	json_decref(o);
	free(t), free(j);
	pflows_free(pf);
}

int main(void)
{
	RUN(t_rounds);
	RUN(t_summary);
	return CHECK_EXIT();
}
