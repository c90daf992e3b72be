/* test_pairs.c: daemon/pairs.c, findings that take two targets: which
 * targets pair (address:port for stateful-firewall, host:port over both
 * families for equal MSS), that the latest result decides, that a target
 * moving, being displaced or leaving takes its finding with it, and that
 * the index stays right through growth (ASan: nothing leaks or dangles). */
#include <netinet/in.h>
#include <stdlib.h>

#include "check.h"
#include "json.h"
#include "pairs.h"
#include "targets.h"

static struct target *tgt(const char *name, const char *host, int fam, uint8_t last, uint16_t port,
			  enum probe_kind kind)
{
	struct target *t = calloc(1, sizeof(*t));
	snprintf(t->cfg.name, sizeof(t->cfg.name), "%s", name);
	snprintf(t->cfg.host, sizeof(t->cfg.host), "%s", host);
	t->cfg.opts.port = port;
	t->cfg.opts.kind = kind;
	t->cfg.opts.syn.mss = 1460;
	t->addr.family = (uint8_t)fam;
	t->addr.a[0] = 10;
	t->addr.a[15] = 1;
	t->st.last_result = last;
	t->is_name = !strchr(host, '.') || strstr(host, ".example");
	return t;
}

/* The SYN/ACK of its last probe carried this MSS. */
static void mss(struct target *t, uint16_t m)
{
	t->st.find.have_fp = true;
	t->st.find.fp.mss = m;
}

static bool has(const struct target *t, enum find_name f)
{
	return (pairs_found(t) >> f) & 1u;
}

static void t_stateful_firewall(void)
{
	struct pairs *p = pairs_new();
	struct target *syn = tgt("s", "10.0.0.1", AF_INET, RESULT_REFUSED, 81, PROBE_SYN);
	struct target *fin = tgt("f", "10.0.0.1", AF_INET, RESULT_SILENT, 81, PROBE_FIN);
	struct target *other = tgt("o", "10.0.0.1", AF_INET, RESULT_SILENT, 82, PROBE_FIN);
	pairs_record(p, fin);
	CHECK(!has(fin, FIND_STATEFUL_FIREWALL)); /* no syn target yet */
	pairs_record(p, syn);
	pairs_record(p, other);
	CHECK(has(fin, FIND_STATEFUL_FIREWALL));
	CHECK(!has(syn, FIND_STATEFUL_FIREWALL)); /* shown on the fin target */
	CHECK(!has(other, FIND_STATEFUL_FIREWALL)); /* another port */
	struct jbuf j;
	jb_init(&j);
	jb_arr(&j);
	pairs_findings_json(&j, fin);
	jb_arr_end(&j);
	CHECK(strstr(j.p, "\"name\":\"stateful-firewall\"") && strstr(j.p, "\"target\":\"s\"") &&
	      strstr(j.p, "\"target_result\":\"refused\"") && strstr(j.p, "target s's SYNs"));
	jb_free(&j);
	/* the SYN is answered now: the syn target's result clears it */
	syn->st.last_result = RESULT_OK;
	pairs_record(p, syn);
	CHECK(!has(fin, FIND_STATEFUL_FIREWALL));
	syn->st.last_result = RESULT_REFUSED;
	pairs_record(p, syn);
	CHECK(has(fin, FIND_STATEFUL_FIREWALL));
	/* the FIN gets its RST: closed, no finding */
	fin->st.last_result = RESULT_CLOSED;
	pairs_record(p, fin);
	CHECK(!has(fin, FIND_STATEFUL_FIREWALL));
	fin->st.last_result = RESULT_SILENT;
	pairs_record(p, fin);
	CHECK(has(fin, FIND_STATEFUL_FIREWALL));
	/* the syn target goes: so does the finding */
	pairs_forget(p, syn);
	CHECK(!has(fin, FIND_STATEFUL_FIREWALL));
	/* a handshake target is a SYN prober too */
	struct target *hs = tgt("h", "10.0.0.1", AF_INET, RESULT_REFUSED, 81, PROBE_HANDSHAKE);
	pairs_record(p, hs);
	CHECK(has(fin, FIND_STATEFUL_FIREWALL));
	/* a trace target takes no part */
	struct target *tr = tgt("t", "10.0.0.1", AF_INET, RESULT_OK, 81, PROBE_TRACE);
	pairs_record(p, tr);
	CHECK(has(fin, FIND_STATEFUL_FIREWALL) && !tr->pslot[0] && !tr->pslot[1]);
	free(tr);
	/* the fin target's address changes: out of this pair */
	fin->addr.a[3] = 2;
	pairs_record(p, fin);
	CHECK(!has(fin, FIND_STATEFUL_FIREWALL));
	pairs_forget(p, fin);
	pairs_forget(p, hs);
	pairs_forget(p, other);
	pairs_free(p);
	free(syn), free(fin), free(other), free(hs);
}

static void t_equal_mss(void)
{
	struct pairs *p = pairs_new();
	struct target *a = tgt("a4", "dual.example", AF_INET, RESULT_OK, 443, PROBE_SYN);
	struct target *b = tgt("a6", "dual.example", AF_INET6, RESULT_OK, 443, PROBE_SYN);
	struct target *c = tgt("c6", "other.example", AF_INET6, RESULT_OK, 443, PROBE_SYN);
	mss(a, 1460), mss(b, 1440), mss(c, 1460);
	pairs_record(p, a), pairs_record(p, b), pairs_record(p, c);
	CHECK(!has(a, FIND_MSS_CLAMPED) && !has(b, FIND_MSS_CLAMPED)); /* 20 apart: fine */
	mss(b, 1400), mss(a, 1400);
	pairs_record(p, b);
	CHECK(has(a, FIND_MSS_CLAMPED) && has(b, FIND_MSS_CLAMPED));
	CHECK(!has(c, FIND_MSS_CLAMPED)); /* another host */
	struct jbuf j;
	jb_init(&j);
	pairs_findings_json(&j, b);
	CHECK(strstr(j.p, "mss 1400 over IPv6, the same as target a4's over IPv4") &&
	      strstr(j.p, "\"mss\":1400"));
	jb_free(&j);
	/* what its own probe found says more: not twice */
	b->st.find.mask = 1u << FIND_MSS_CLAMPED;
	CHECK(!has(b, FIND_MSS_CLAMPED));
	b->st.find.mask = 0;
	/* equal to what we offered: a stack answering min(its own, ours) */
	a->cfg.opts.syn.mss = 1400;
	pairs_record(p, a);
	CHECK(!has(a, FIND_MSS_CLAMPED) && !has(b, FIND_MSS_CLAMPED));
	a->cfg.opts.syn.mss = 0; /* no MSS offered: nothing to be limited by */
	pairs_record(p, a);
	CHECK(has(a, FIND_MSS_CLAMPED));
	/* another v6 target of the host takes the role: b is out */
	struct target *d = tgt("d6", "dual.example", AF_INET6, RESULT_OK, 443, PROBE_SYN);
	mss(d, 1380);
	pairs_record(p, d);
	CHECK(!has(a, FIND_MSS_CLAMPED) && !has(b, FIND_MSS_CLAMPED) && !has(d, FIND_MSS_CLAMPED));
	pairs_record(p, b); /* and back */
	CHECK(has(a, FIND_MSS_CLAMPED) && has(b, FIND_MSS_CLAMPED) && !has(d, FIND_MSS_CLAMPED));
	/* hosts given as addresses never pair */
	struct target *l4 = tgt("l4", "10.0.0.9", AF_INET, RESULT_OK, 443, PROBE_SYN);
	struct target *l6 = tgt("l6", "10.0.0.9", AF_INET6, RESULT_OK, 443, PROBE_SYN);
	mss(l4, 1400), mss(l6, 1400);
	pairs_record(p, l4), pairs_record(p, l6);
	CHECK(!has(l4, FIND_MSS_CLAMPED) && !has(l6, FIND_MSS_CLAMPED));
	pairs_forget(p, l4), pairs_forget(p, l6);
	free(l4), free(l6);
	/* a fin target has no MSS: never in a host pair */
	struct target *f = tgt("f6", "dual.example", AF_INET6, RESULT_SILENT, 443, PROBE_FIN);
	pairs_record(p, f);
	CHECK(has(b, FIND_MSS_CLAMPED));
	pairs_forget(p, a);
	CHECK(!has(b, FIND_MSS_CLAMPED));
	struct target *all[] = { a, b, c, d, f };
	for (size_t i = 0; i < 5; i++) {
		pairs_forget(p, all[i]);
		free(all[i]);
	}
	pairs_free(p);
}

/* 3,000 pairs: the index grows; every pair still finds its partner. */
static void t_many(void)
{
	enum { N = 3000 };
	struct pairs *p = pairs_new();
	struct target *s[N], *f[N];
	for (int i = 0; i < N; i++) {
		s[i] = tgt("s", "h", AF_INET6, RESULT_REFUSED, (uint16_t)(i % 500 + 1), PROBE_SYN);
		f[i] = tgt("f", "h", AF_INET6, RESULT_SILENT, (uint16_t)(i % 500 + 1), PROBE_FIN);
		s[i]->addr.a[1] = f[i]->addr.a[1] = (uint8_t)(i / 500);
		pairs_record(p, s[i]);
		pairs_record(p, f[i]);
	}
	int found = 0;
	for (int i = 0; i < N; i++)
		found += has(f[i], FIND_STATEFUL_FIREWALL);
	CHECK_EQ(found, N);
	for (int i = 0; i < N; i++) {
		pairs_forget(p, s[i]);
		CHECK(!has(f[i], FIND_STATEFUL_FIREWALL));
		pairs_forget(p, f[i]);
		free(s[i]), free(f[i]);
	}
	pairs_free(p);
}

int main(void)
{
	RUN(t_stateful_firewall);
	RUN(t_equal_mss);
	RUN(t_many);
	return CHECK_EXIT();
}
