/* test_path.c: probes/path.c, what counts as a path change and the hop
 * estimate from a SYN/ACK's TTL. */
#include <arpa/inet.h>
#include <stdlib.h>

#include "check.h"
#include "path.h"

#define S(ns) ((uint64_t)(ns) * 1000000000ULL)

static struct pkt_addr a4(const char *s)
{
	struct pkt_addr a;
	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	if (inet_pton(AF_INET, s, a.a) != 1)
		abort();
	return a;
}

/* A trace that reached its target (the last word) from words: an address,
 * or "*" for a silent hop. */
static struct trace_result mk(int n, const char *const *w)
{
	struct trace_result p;
	memset(&p, 0, sizeof(p));
	p.result = RESULT_OK;
	p.nhops = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		p.hops[i].ttl = (uint8_t)(i + 1);
		if (!strcmp(w[i], "*"))
			continue;
		p.hops[i].addr = a4(w[i]);
		p.hops[i].kind = i == n - 1 ? TRACE_HOP_TARGET : TRACE_HOP_ROUTER;
		p.hops[i].rtt_ns = 1000u * (unsigned)(i + 1);
	}
	return p;
}

/* The same trace, cut: the target never answered (max_hops ran out). */
static struct trace_result cut_at(struct trace_result p, int n)
{
	p.nhops = (uint8_t)n;
	p.result = RESULT_TIMEOUT;
	for (int i = 0; i < n; i++)
		if (p.hops[i].kind == TRACE_HOP_TARGET)
			p.hops[i].kind = TRACE_HOP_ROUTER;
	return p;
}

static void silence(struct trace_hop *h)
{
	memset(h, 0, sizeof(*h));
}
#define PATH(...) mk((int)(sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *)), \
		     (const char *[]){ __VA_ARGS__ })

static void t_hops_from_ttl(void)
{
	CHECK_EQ(path_initial_ttl(1), 64);
	CHECK_EQ(path_initial_ttl(64), 64);
	CHECK_EQ(path_initial_ttl(65), 128);
	CHECK_EQ(path_initial_ttl(128), 128);
	CHECK_EQ(path_initial_ttl(129), 255);
	CHECK_EQ(path_initial_ttl(255), 255);
	CHECK_EQ(path_hops_from_ttl(64), 0);  /* on our link */
	CHECK_EQ(path_hops_from_ttl(61), 3);  /* a Linux peer behind three routers */
	CHECK_EQ(path_hops_from_ttl(30), 34); /* far away, not an initial 32 */
	CHECK_EQ(path_hops_from_ttl(120), 8); /* Windows */
	CHECK_EQ(path_hops_from_ttl(250), 5); /* a router */
	CHECK_EQ(path_hops_from_ttl(0), 64);
}

static void t_match(void)
{
	struct trace_result a = PATH("10.0.1.1", "10.0.2.1", "10.0.3.1", "198.18.9.2");
	struct trace_result b = a;
	CHECK(path_match(&a, &b));
	/* A silent hop matches anything, on either side. */
	struct trace_result s = PATH("10.0.1.1", "*", "10.0.3.1", "198.18.9.2");
	CHECK(path_match(&a, &s));
	CHECK(path_match(&s, &a));
	struct trace_result all_silent = PATH("*", "*", "*", "198.18.9.2");
	CHECK(path_match(&a, &all_silent));
	/* Another router at one TTL is a change. */
	struct trace_result alt = PATH("10.0.1.1", "10.0.22.1", "10.0.3.1", "198.18.9.2");
	CHECK(!path_match(&a, &alt));
	/* So is another length, however silent. */
	struct trace_result longer = PATH("10.0.1.1", "10.0.2.1", "10.0.3.1", "*", "198.18.9.2");
	CHECK(!path_match(&a, &longer));
	struct trace_result shorter = PATH("*", "*", "198.18.9.2");
	CHECK(!path_match(&a, &shorter));
	/* A trace that did not reach the target matches nothing. */
	struct trace_result cut = cut_at(a, 4);
	CHECK(!path_complete(&cut));
	CHECK(!path_match(&a, &cut));
	CHECK(!path_match(&cut, &cut));
	/* The other family at one hop is another address. */
	struct trace_result v6 = a;
	v6.hops[1].addr.family = AF_INET6;
	CHECK(!path_match(&a, &v6));
	/* A path that ends in an ICMP unreachable is complete: another path. */
	struct trace_result un = PATH("10.0.1.1", "10.0.2.1", "10.0.3.1", "198.18.9.2");
	un.hops[2].kind = TRACE_HOP_UNREACH;
	un.nhops = 3;
	un.result = RESULT_UNREACHABLE;
	CHECK(path_complete(&un));
	CHECK(path_match(&un, &un));
	CHECK(!path_match(&a, &un));
	/* The same address answering another way (time exceeded, unreachable) differs. */
	struct trace_result un2 = PATH("10.0.1.1", "10.0.2.1", "10.0.3.1");
	CHECK(!path_match(&un, &un2));
	struct trace_result none;
	memset(&none, 0, sizeof(none));
	CHECK(!path_complete(&none));
}

static void t_str(void)
{
	char buf[256];
	struct trace_result p = PATH("10.0.1.1", "*", "198.18.9.2");
	CHECK_STR(path_str(&p, buf, sizeof(buf)), "10.0.1.1 * 198.18.9.2");
	p.hops[2].kind = TRACE_HOP_UNREACH;
	CHECK_STR(path_str(&p, buf, sizeof(buf)), "10.0.1.1 * 198.18.9.2!");
	p = cut_at(p, 2);
	CHECK_STR(path_str(&p, buf, sizeof(buf)), "10.0.1.1 * ...");
	/* Cut short, still terminated. */
	CHECK_STR(path_str(&p, buf, 5), "10.0");
}

/* The first trace sets the path; one that matches keeps it (its silent hops
 * filled in); one that differs is a suspect until the next trace agrees. */
static void t_track_change(void)
{
	struct path_track t;
	memset(&t, 0, sizeof(t));
	struct trace_result a = PATH("10.0.1.1", "*", "10.0.3.1", "198.18.9.2");
	struct trace_result a_full = PATH("10.0.1.1", "10.0.2.1", "10.0.3.1", "198.18.9.2");
	struct trace_result b = PATH("10.0.1.1", "10.0.22.1", "10.0.3.1", "198.18.9.2");
	char buf[256];

	CHECK_EQ(path_observe(&t, &a, S(100)), PATH_FIRST);
	CHECK(!path_confirm_wanted(&t));
	CHECK_EQ(t.cur_ns, S(100));
	CHECK_EQ(path_observe(&t, &a_full, S(105)), PATH_SAME);
	CHECK_STR(path_str(&t.cur, buf, sizeof(buf)), "10.0.1.1 10.0.2.1 10.0.3.1 198.18.9.2");
	CHECK_EQ(path_observe(&t, &a, S(110)), PATH_SAME); /* the hop went silent again */
	CHECK_STR(path_str(&t.cur, buf, sizeof(buf)), "10.0.1.1 10.0.2.1 10.0.3.1 198.18.9.2");
	CHECK_EQ(t.changes, 0);

	CHECK_EQ(path_observe(&t, &b, S(115)), PATH_SUSPECT);
	CHECK(path_confirm_wanted(&t));
	CHECK_EQ(t.changes, 0);
	CHECK_STR(path_str(&t.cur, buf, sizeof(buf)), "10.0.1.1 10.0.2.1 10.0.3.1 198.18.9.2");
	CHECK_EQ(path_observe(&t, &b, S(116)), PATH_CHANGED);
	CHECK(!path_confirm_wanted(&t));
	CHECK_EQ(t.changes, 1);
	CHECK_EQ(t.changed_ns, S(115)); /* when it was first seen */
	CHECK_EQ(t.cur_ns, S(115));
	CHECK_EQ(t.traced_ns, S(116));
	CHECK(t.have_prev);
	CHECK_STR(path_str(&t.prev, buf, sizeof(buf)), "10.0.1.1 10.0.2.1 10.0.3.1 198.18.9.2");
	CHECK_STR(path_str(&t.cur, buf, sizeof(buf)), "10.0.1.1 10.0.22.1 10.0.3.1 198.18.9.2");
	CHECK_EQ(path_observe(&t, &b, S(120)), PATH_SAME);
	CHECK_EQ(t.changes, 1);
	/* Back, seen through the silent hop only: nothing tells the paths apart. */
	CHECK_EQ(path_observe(&t, &a, S(124)), PATH_SAME);
	/* Back, seen: a second change, the previous path the one before. */
	CHECK_EQ(path_observe(&t, &a_full, S(125)), PATH_SUSPECT);
	/* A confirmation silent where they differ decides nothing; the next does. */
	CHECK_EQ(path_observe(&t, &a, S(126)), PATH_UNDECIDED);
	CHECK(path_confirm_wanted(&t));
	CHECK_EQ(t.changes, 1);
	CHECK_EQ(path_observe(&t, &a, S(127)), PATH_UNDECIDED);
	CHECK_EQ(path_observe(&t, &a_full, S(128)), PATH_CHANGED);
	CHECK_EQ(t.changes, 2);
	CHECK_STR(path_str(&t.prev, buf, sizeof(buf)), "10.0.1.1 10.0.22.1 10.0.3.1 198.18.9.2");
}

/* A trace that straddles the switch sees half of each path: still one
 * change, to the path the traces after it agree on. */
static void t_track_straddle(void)
{
	struct path_track t;
	memset(&t, 0, sizeof(t));
	struct trace_result a = PATH("10.0.1.1", "10.0.2.1", "10.0.3.1", "198.18.9.2");
	struct trace_result half = PATH("10.0.1.1", "10.0.22.1", "10.0.3.1", "10.0.4.1", "198.18.9.2");
	struct trace_result b = PATH("10.0.1.1", "10.0.22.1", "10.0.23.1", "10.0.4.1", "198.18.9.2");
	char buf[256];
	CHECK_EQ(path_observe(&t, &a, S(1)), PATH_FIRST);
	CHECK_EQ(path_observe(&t, &half, S(2)), PATH_SUSPECT);
	CHECK_EQ(path_observe(&t, &b, S(3)), PATH_SUSPECT);
	CHECK(path_confirm_wanted(&t));
	CHECK_EQ(path_observe(&t, &b, S(4)), PATH_CHANGED);
	CHECK_EQ(t.changes, 1);
	CHECK_EQ(t.changed_ns, S(3));
	CHECK_STR(path_str(&t.prev, buf, sizeof(buf)), "10.0.1.1 10.0.2.1 10.0.3.1 198.18.9.2");
	CHECK_STR(path_str(&t.cur, buf, sizeof(buf)),
		  "10.0.1.1 10.0.22.1 10.0.23.1 10.0.4.1 198.18.9.2");
}

/* A glitch (one trace through another router, then the old path again) is
 * no change; neither is a trace that does not reach the target. */
static void t_track_glitch_incomplete(void)
{
	struct path_track t;
	memset(&t, 0, sizeof(t));
	struct trace_result a = PATH("10.0.1.1", "10.0.2.1", "198.18.9.2");
	struct trace_result x = PATH("10.0.1.1", "10.0.9.1", "198.18.9.2");
	struct trace_result cut = cut_at(PATH("10.0.1.1", "*", "*"), 3);
	CHECK_EQ(path_observe(&t, &cut, S(1)), PATH_INCOMPLETE);
	CHECK(!t.have_cur);
	CHECK(!path_confirm_wanted(&t));
	CHECK_EQ(path_observe(&t, &a, S(2)), PATH_FIRST);
	CHECK_EQ(path_observe(&t, &cut, S(3)), PATH_INCOMPLETE);
	CHECK(!path_confirm_wanted(&t));
	CHECK_EQ(path_observe(&t, &x, S(4)), PATH_SUSPECT);
	CHECK_EQ(path_observe(&t, &a, S(5)), PATH_SAME);
	CHECK(!path_confirm_wanted(&t));
	CHECK(!t.have_cand);
	CHECK_EQ(t.changes, 0);
	CHECK(!t.have_prev);
	CHECK_EQ(t.changed_ns, 0);
	/* A suspect, then an incomplete confirmation, then agreement. */
	CHECK_EQ(path_observe(&t, &x, S(6)), PATH_SUSPECT);
	CHECK_EQ(path_observe(&t, &cut, S(7)), PATH_INCOMPLETE);
	CHECK(path_confirm_wanted(&t));
	CHECK_EQ(path_observe(&t, &x, S(8)), PATH_CHANGED);
	CHECK_EQ(t.changes, 1);
	CHECK_EQ(t.changed_ns, S(6));
}

/* A route that gives every trace another path gets PATH_CONFIRM_MAX
 * immediate confirmations, then waits for the schedule. */
static void t_track_confirm_cap(void)
{
	struct path_track t;
	memset(&t, 0, sizeof(t));
	struct trace_result a = PATH("10.0.1.1", "10.0.2.1", "198.18.9.2");
	CHECK_EQ(path_observe(&t, &a, S(1)), PATH_FIRST);
	struct trace_result x = a;
	for (unsigned i = 1; i <= PATH_CONFIRM_MAX + 1; i++) {
		x.hops[1].addr.a[3] = (uint8_t)(100 + i);
		CHECK_EQ(path_observe(&t, &x, S(1 + i)), PATH_SUSPECT);
		CHECK_EQ(path_confirm_wanted(&t), i <= PATH_CONFIRM_MAX);
	}
	CHECK_EQ(t.changes, 0);
	/* The next scheduled trace agrees with the last: the change. */
	CHECK_EQ(path_observe(&t, &x, S(100)), PATH_CHANGED);
	CHECK_EQ(t.changes, 1);
	/* And the count of confirmations starts again. */
	CHECK_EQ(path_observe(&t, &a, S(101)), PATH_SUSPECT);
	CHECK(path_confirm_wanted(&t));
}

/* Routers that rate-limit ICMP go silent at random: 2,000 traces of one
 * path with random silent hops are no change. */
static void t_track_rate_limited_routers(void)
{
	struct path_track t;
	memset(&t, 0, sizeof(t));
	struct trace_result a = PATH("10.0.1.1", "10.0.2.1", "10.0.3.1", "10.0.4.1", "198.18.9.2");
	unsigned seed = 7, silent = 0;
	for (unsigned i = 0; i < 2000; i++) {
		struct trace_result p = a;
		for (unsigned h = 0; h + 1 < p.nhops; h++) {
			if (rand_r(&seed) % 3 == 0) {
				silence(&p.hops[h]);
				silent++;
			}
		}
		enum path_verdict v = path_observe(&t, &p, S(i + 1));
		CHECK(v == (i ? PATH_SAME : PATH_FIRST));
	}
	CHECK(silent > 2000);
	CHECK_EQ(t.changes, 0);
}

static void t_peer_hops(void)
{
	struct path_track t;
	memset(&t, 0, sizeof(t));
	const uint64_t iv = S(60);
	CHECK(!path_peer_hops(&t, 61, S(1000), iv)); /* the first: nothing to compare */
	CHECK_EQ(t.hops, 3);
	CHECK(!path_peer_hops(&t, 61, S(1001), iv));
	CHECK(path_peer_hops(&t, 60, S(1002), iv));  /* one hop more: trace now */
	CHECK_EQ(t.hops, 4);
	CHECK(!path_peer_hops(&t, 61, S(1003), iv)); /* again within the interval: no */
	CHECK_EQ(t.hops, 3);
	CHECK(!path_peer_hops(&t, 60, S(1061), iv));
	CHECK(path_peer_hops(&t, 61, S(1062), iv));  /* an interval after the last early one */
	CHECK_EQ(t.early_ns, S(1062));
}

/* Flows of one target over two ECMP legs: only leg B's path moves. Each
 * flow's tracker judges its own traces (a flow on leg A never sees leg B's
 * path, so nothing it sees is a change), and the target's figures are the
 * sum (path_sum). */
static void t_flows(void)
{
	struct trace_result la = PATH("10.0.1.1", "10.0.2.1", "10.0.3.1", "198.18.9.2");
	struct trace_result lb = PATH("10.0.1.1", "10.0.12.1", "10.0.3.1", "198.18.9.2");
	struct trace_result lc = PATH("10.0.1.1", "10.0.3.1", "198.18.9.2");
	struct trace_result lb_half = PATH("10.0.1.1", "10.0.12.1", "198.18.9.2"); /* straddles */
	struct path_track fl[4];
	memset(fl, 0, sizeof(fl));
	const struct path_track *ptr[5] = { &fl[0], &fl[1], &fl[2], &fl[3], NULL };
	struct path_sum sum;
	path_sum(ptr, 5, &sum);
	CHECK_EQ(sum.changes, 0);
	CHECK(!sum.have_cur);
	CHECK_EQ(sum.traced_ns, 0);
	/* Flows 0 and 2 on leg A, 1 and 3 on leg B: every flow's first path. */
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(path_observe(&fl[i], i % 2 ? &lb : &la, S(10 + i)), PATH_FIRST);
	path_sum(ptr, 5, &sum);
	CHECK_EQ(sum.changes, 0);
	CHECK(sum.have_cur);
	CHECK_EQ(sum.max_hops, 3);
	CHECK_EQ(sum.traced_ns, S(13));
	CHECK_EQ(sum.last, PATH_FIRST);
	/* Leg B moves. Flow 1's trace straddles the move (half of each), then
	 * two agree: one change; flow 3's first trace after it is a suspect,
	 * its confirmation the change. Leg A's flows see theirs: same. */
	CHECK_EQ(path_observe(&fl[0], &la, S(20)), PATH_SAME);
	CHECK_EQ(path_observe(&fl[1], &lb_half, S(20)), PATH_SUSPECT);
	CHECK_EQ(path_observe(&fl[1], &lc, S(21)), PATH_SUSPECT);
	CHECK_EQ(path_observe(&fl[3], &lc, S(21)), PATH_SUSPECT);
	path_sum(ptr, 5, &sum);
	CHECK_EQ(sum.changes, 0); /* suspects count nothing */
	CHECK_EQ(sum.last, PATH_SUSPECT);
	CHECK_EQ(path_observe(&fl[1], &lc, S(22)), PATH_CHANGED);
	CHECK_EQ(path_observe(&fl[3], &lc, S(22)), PATH_CHANGED);
	CHECK_EQ(path_observe(&fl[2], &la, S(23)), PATH_SAME);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(fl[i].changes, i % 2 ? 1u : 0u);
	CHECK_EQ(fl[1].changed_ns, S(21)); /* the first trace that saw the new path whole */
	CHECK_EQ(fl[3].changed_ns, S(21));
	char buf[256];
	CHECK_STR(path_str(&fl[3].prev, buf, sizeof(buf)), "10.0.1.1 10.0.12.1 10.0.3.1 198.18.9.2");
	CHECK_STR(path_str(&fl[3].cur, buf, sizeof(buf)), "10.0.1.1 10.0.3.1 198.18.9.2");
	CHECK(!fl[0].have_prev && !fl[2].have_prev);
	path_sum(ptr, 5, &sum);
	CHECK_EQ(sum.changes, 2);
	CHECK_EQ(sum.changed_ns, S(21));
	CHECK_EQ(sum.traced_ns, S(23));
	CHECK_EQ(sum.last, PATH_SAME);
	CHECK_EQ(sum.max_hops, 3); /* leg A's flows: 3 routers; leg B's now 2 */
	/* The flows' SYN/ACK TTLs apart: each flow compares with its own last. */
	CHECK(!path_peer_hops(&fl[0], 61, S(30), S(60)));
	CHECK(!path_peer_hops(&fl[1], 62, S(30), S(60)));
	CHECK(!path_peer_hops(&fl[0], 61, S(31), S(60)));
	CHECK(!path_peer_hops(&fl[1], 62, S(31), S(60)));
}

int main(void)
{
	RUN(t_hops_from_ttl);
	RUN(t_match);
	RUN(t_str);
	RUN(t_track_change);
	RUN(t_track_straddle);
	RUN(t_track_glitch_incomplete);
	RUN(t_track_confirm_cap);
	RUN(t_track_rate_limited_routers);
	RUN(t_peer_hops);
	RUN(t_flows);
	return CHECK_EXIT();
}
