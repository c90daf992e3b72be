/* path.c: path comparison, the change tracker and the hop estimate (path.h). */
#include "path.h"

#include <stdio.h>
#include <string.h>

uint8_t path_initial_ttl(uint8_t ttl)
{
	/* No 32 (findings' fingerprint class has it): stacks that start at 32
	 * are gone, and with it a Linux peer 33 or more hops away would read
	 * as a few hops. A peer that does start at 32 reads as 32 hops too
	 * many, but moves by the same amount when its path does. */
	if (ttl <= 64)
		return 64;
	if (ttl <= 128)
		return 128;
	return 255;
}

unsigned path_hops_from_ttl(uint8_t ttl)
{
	return (unsigned)(path_initial_ttl(ttl) - ttl);
}

bool path_complete(const struct trace_result *r)
{
	if (!r->nhops || r->nhops > TRACE_HOPS_MAX)
		return false;
	uint8_t k = r->hops[r->nhops - 1].kind;
	return k == TRACE_HOP_TARGET || k == TRACE_HOP_UNREACH;
}

static bool hop_match(const struct trace_hop *a, const struct trace_hop *b)
{
	if (a->kind == TRACE_HOP_SILENT || b->kind == TRACE_HOP_SILENT)
		return true;
	return a->kind == b->kind && pkt_addr_eq(&a->addr, &b->addr);
}

bool path_match(const struct trace_result *a, const struct trace_result *b)
{
	if (!path_complete(a) || !path_complete(b) || a->nhops != b->nhops)
		return false;
	for (unsigned i = 0; i < a->nhops; i++)
		if (!hop_match(&a->hops[i], &b->hops[i]))
			return false;
	return true;
}

const char *path_str(const struct trace_result *r, char *buf, size_t len)
{
	size_t o = 0;
	if (!len)
		return buf;
	buf[0] = 0;
	for (unsigned i = 0; i < r->nhops && i < TRACE_HOPS_MAX && o < len; i++) {
		const struct trace_hop *h = &r->hops[i];
		char a[64];
		const char *s = h->kind == TRACE_HOP_SILENT ? "*" : pkt_addr_str(&h->addr, a, sizeof(a));
		int w = snprintf(buf + o, len - o, "%s%s%s", i ? " " : "", s,
				 h->kind == TRACE_HOP_UNREACH ? "!" : "");
		if (w < 0)
			break;
		o += (size_t)w;
	}
	if (!path_complete(r) && o < len)
		snprintf(buf + o, len - o, "%s...", r->nhops ? " " : "");
	return buf;
}

const char *path_verdict_str(enum path_verdict v)
{
	switch (v) {
	case PATH_INCOMPLETE: return "incomplete";
	case PATH_FIRST: return "first";
	case PATH_SAME: return "same";
	case PATH_SUSPECT: return "suspect";
	case PATH_UNDECIDED: return "undecided";
	case PATH_CHANGED: return "changed";
	}
	return "?";
}

/* into's silent hops take from's answers (both matched: same length). */
static void fill_silent(struct trace_result *into, const struct trace_result *from)
{
	for (unsigned i = 0; i < into->nhops && i < from->nhops; i++)
		if (into->hops[i].kind == TRACE_HOP_SILENT)
			into->hops[i] = from->hops[i];
}

static enum path_verdict observe(struct path_track *t, const struct trace_result *p, uint64_t now)
{
	if (!path_complete(p)) {
		/* A lost confirmation counts as one (so does an undecided one):
		 * the schedule decides after PATH_CONFIRM_MAX of them. */
		if (t->have_cand)
			t->confirming++;
		return PATH_INCOMPLETE;
	}
	if (!t->have_cur) {
		t->cur = *p;
		t->have_cur = true;
		t->cur_ns = now;
		t->confirming = 0;
		return PATH_FIRST;
	}
	bool cur = path_match(&t->cur, p), cand = t->have_cand && path_match(&t->cand, p);
	if (cur && cand) {
		t->confirming++;
		return PATH_UNDECIDED;
	}
	if (cur) {
		/* Back (or still) on the current path: a candidate seen once was a
		 * trace that straddled a change and back, or a glitch. */
		fill_silent(&t->cur, p);
		t->have_cand = false;
		t->confirming = 0;
		return PATH_SAME;
	}
	if (cand) {
		t->prev = t->cur;
		t->have_prev = true;
		t->cur = *p;
		fill_silent(&t->cur, &t->cand);
		t->cur_ns = t->changed_ns = t->cand_ns;
		t->changes++;
		t->have_cand = false;
		t->confirming = 0;
		return PATH_CHANGED;
	}
	t->cand = *p;
	t->cand_ns = now;
	t->have_cand = true;
	t->confirming++;
	return PATH_SUSPECT;
}

enum path_verdict path_observe(struct path_track *t, const struct trace_result *p, uint64_t now)
{
	t->traced_ns = now;
	t->last = observe(t, p, now);
	return t->last;
}

bool path_confirm_wanted(const struct path_track *t)
{
	return t->have_cand && t->confirming <= PATH_CONFIRM_MAX;
}

bool path_peer_hops(struct path_track *t, uint8_t ttl, uint64_t now, uint64_t interval)
{
	unsigned h = path_hops_from_ttl(ttl);
	bool changed = t->have_hops && h != t->hops;
	t->hops = h;
	t->have_hops = true;
	if (!changed || (t->early_ns && now - t->early_ns < interval))
		return false;
	t->early_ns = now;
	return true;
}

void path_sum(const struct path_track *const *flows, unsigned n, struct path_sum *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < n; i++) {
		const struct path_track *t = flows[i];
		if (!t)
			continue;
		out->changes += t->changes;
		if (t->changed_ns > out->changed_ns)
			out->changed_ns = t->changed_ns;
		if (t->traced_ns && t->traced_ns >= out->traced_ns) {
			out->traced_ns = t->traced_ns;
			out->last = t->last;
		}
		if (t->have_cur && (!out->have_cur || t->cur.nhops - 1u > out->max_hops))
			out->max_hops = t->cur.nhops - 1u;
		out->have_cur |= t->have_cur;
	}
}
