/* findings.c: middlebox findings and the peer's fingerprint. See findings.h;
 * the rules are documented in README's "Findings". */
#include "findings.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

const char *find_name_str(enum find_name f)
{
	switch (f) {
	case FIND_SYN_PROXY: return "syn-proxy";
	case FIND_OPTIONS_STRIPPED: return "options-stripped";
	case FIND_MSS_CLAMPED: return "mss-clamped";
	case FIND_ECN_NEGOTIATED: return "ecn-negotiated";
	case FIND_ECN_REFUSED: return "ecn-refused";
	case FIND_ECN_BLEACHED: return "ecn-bleached";
	case FIND_SYN_COOKIES: return "syn-cookies";
	case FIND_STATEFUL_FIREWALL: return "stateful-firewall";
	}
	return "?";
}

bool find_applies(enum find_name f, bool ecn, bool synack_check)
{
	switch (f) {
	case FIND_SYN_PROXY:
	case FIND_OPTIONS_STRIPPED:
	case FIND_MSS_CLAMPED:
		return true;
	case FIND_ECN_NEGOTIATED:
	case FIND_ECN_REFUSED:
	case FIND_ECN_BLEACHED:
		return ecn;
	case FIND_SYN_COOKIES:
		return synack_check;
	case FIND_STATEFUL_FIREWALL:
		return false;
	}
	return false;
}

/* RFC 3168 5: the IP ECN field's codepoints. */
static const char *ecn_cp_str(uint8_t tos)
{
	switch (tos & 3) {
	case 0: return "not-ect";
	case 1: return "ect1";
	case 2: return "ect0";
	default: return "ce";
	}
}

static uint8_t ttl_class(uint8_t ttl)
{
	/* The initial TTLs stacks use: 32 (old Windows), 64 (Linux, BSDs),
	 * 128 (Windows), 255 (network gear). */
	if (ttl <= 32)
		return 32;
	if (ttl <= 64)
		return 64;
	if (ttl <= 128)
		return 128;
	return 255;
}

void find_observe_in(struct find_obs *o, const struct pkt_info *pi, uint64_t t)
{
	if (pi->is_icmp)
		return;
	if ((pi->flags & (PKT_SYN | PKT_ACK)) == (PKT_SYN | PKT_ACK)) {
		if (o->have_synack)
			return; /* a retransmitted or duplicated copy: the first one counts */
		o->have_synack = true;
		o->family = pi->family;
		o->t_synack = t;
		o->synack_seq = pi->seq;
		o->synack_win = pi->win;
		o->synack_tos = pi->tos;
		o->synack_ttl = pi->ttl;
		o->synack_opts = pi->opts;
		struct find_fp *fp = &o->fp;
		memcpy(fp->kinds, pi->opts.kinds, sizeof(fp->kinds));
		fp->nkinds = pi->opts.nkinds;
		fp->ttl_class = ttl_class(pi->ttl);
		fp->df = pi->family == AF_INET ? pi->df : true; /* IPv6 never fragments on the way */
		fp->ecn_flags = pi->flags & (PKT_ECE | PKT_CWR);
		fp->win = pi->win;
		fp->mss = pi->opts.has_mss ? pi->opts.mss : 0;
		fp->wscale = pi->opts.has_wscale ? (int8_t)pi->opts.wscale : -1;
		return;
	}
	if (!o->have_synack || (pi->flags & PKT_SYN))
		return;
	/* The backend's answer is the peer's next segment: at ISN+1. An RST
	 * with another sequence number (for an earlier connection on this
	 * 4-tuple, RFC 5961's blind resets) tells nothing. */
	bool next = pi->seq == o->synack_seq + 1;
	if ((pi->flags & PKT_RST) && next && !o->t_rst)
		o->t_rst = t;
	if (!(pi->flags & PKT_RST) && next && o->synack_win == 0 && pi->win > 0 && !o->t_wupd)
		o->t_wupd = t;
	if (pi->opts.has_ts)
		o->later_ts = true;
	/* Who sent it: one stack keeps its TTL and, once both SYNs had them,
	 * sends timestamps on every segment but RSTs (RFC 7323 3.2). Only a
	 * segment within what the peer sent since ISN+1 counts (one of an
	 * earlier connection on the 4-tuple tells nothing). */
	uint32_t rel = pi->seq - (o->synack_seq + 1);
	bool ours = rel <= o->peer_sent;
	if (ours && rel + pi->payload_len > o->peer_sent)
		o->peer_sent = rel + pi->payload_len;
	if (ours && !(pi->flags & PKT_RST)) {
		if (pi->ttl != o->synack_ttl && !o->later_ttl)
			o->later_ttl = pi->ttl ? pi->ttl : 1;
		if (o->synack_opts.has_ts && !pi->opts.has_ts)
			o->later_no_ts = true;
	}
	if (pi->payload_len && o->data_segs < UINT16_MAX) {
		o->data_segs++;
		o->data_not_ect += (pi->tos & 3) == 0;
	}
}

void find_observe_ack(struct find_obs *o, uint64_t t, bool stamped)
{
	if (!o->have_synack || o->ack_stamped)
		return;
	if (stamped) {
		o->t_ack = t;
		o->ack_stamped = true;
	} else if (!o->t_ack) {
		o->t_ack = t;
	}
}

static unsigned minpad(unsigned bytes) { return (4 - bytes % 4) % 4; }

static const struct { uint8_t bit, len; const char *name; } opt_tab[] = {
	{ FIND_OPT_MSS, 4, "mss" },
	{ FIND_OPT_WSCALE, 3, "wscale" },
	{ FIND_OPT_SACK, 2, "sack" },
	{ FIND_OPT_TS, 10, "timestamps" },
};
#define NOPT (sizeof(opt_tab) / sizeof(opt_tab[0]))

static unsigned opts_len(uint8_t bits)
{
	unsigned n = 0;
	for (size_t i = 0; i < NOPT; i++)
		if (bits & opt_tab[i].bit)
			n += opt_tab[i].len;
	return n;
}

/*
 * A rule that removes an option in flight (nftables `reset tcp option`,
 * many firewalls) overwrites its bytes with NOPs, so the SYN/ACK keeps
 * its length. Stacks pad each option to 4 bytes with at most 3 NOPs in
 * total (Linux: "NOP NOP TS", "NOP WS"), so NOP bytes beyond the minimum
 * padding of the options present are space something emptied. Of the
 * options we offered and the SYN/ACK lacks, the largest set whose bytes fit
 * that space is named. A single stripped SACK-permitted in Linux's layout
 * leaves exactly the "NOP NOP" a stack without SACK sends: not told apart.
 */
static void stripped_by_nops(const struct find_obs *o, uint8_t missing, struct find_result *r)
{
	const struct pkt_tcp_opts *so = &o->synack_opts;
	unsigned nonnop = so->len - so->nops;
	unsigned excess = so->nops - minpad(nonnop);
	if (so->nops < minpad(nonnop) || excess < 2)
		return;
	uint8_t best = 0;
	unsigned best_len = 0;
	for (unsigned s = 1; s < 16; s++) {
		if ((s & missing) != s)
			continue;
		unsigned l = opts_len((uint8_t)s);
		if (l + minpad(nonnop + l) <= so->nops && l > best_len) {
			best = (uint8_t)s;
			best_len = l;
		}
	}
	r->nop_excess = (uint8_t)excess;
	r->stripped |= best;
}

void find_eval(const struct find_obs *o, const struct find_input *in, struct find_result *r)
{
	memset(r, 0, sizeof(*r));
	if (!o->have_synack)
		return;
	r->have_fp = true;
	r->fp = o->fp;

	/* syn-proxy: Linux SYNPROXY (and the proxies built like it) answers
	 * with window 0 and opens it once the backend has accepted. Or the
	 * second rule: a SYN/ACK never retransmitted (a stateless answer)
	 * while the later segments come from a stack with another TTL, or
	 * without the timestamps the SYN/ACK agreed to: the proxy answered
	 * the handshake, the backend the rest. */
	r->synack_ttl = o->synack_ttl;
	if (!in->synack_rtx && (o->later_ttl || o->later_no_ts)) {
		r->mask |= 1u << FIND_SYN_PROXY;
		r->other_stack = true;
		r->later_ttl = o->later_ttl;
		r->later_no_ts = o->later_no_ts;
	}
	if (o->synack_win == 0) {
		r->mask |= 1u << FIND_SYN_PROXY;
		uint64_t t_end = o->t_wupd ? o->t_wupd : o->t_rst;
		r->backend_refused = !o->t_wupd && o->t_rst;
		if (t_end && o->t_ack && t_end >= o->t_ack) {
			r->backend_ns = t_end - o->t_ack;
			r->ack_stamped = o->ack_stamped;
		}
	}

	/* options-stripped */
	const struct pkt_tcp_opts *so = &o->synack_opts;
	uint8_t offered = (in->offered.mss ? FIND_OPT_MSS : 0) |
			  (in->offered.wscale >= 0 ? FIND_OPT_WSCALE : 0) |
			  (in->offered.sack_ok ? FIND_OPT_SACK : 0) |
			  (in->offered.timestamps ? FIND_OPT_TS : 0);
	uint8_t present = (so->has_mss ? FIND_OPT_MSS : 0) | (so->has_wscale ? FIND_OPT_WSCALE : 0) |
			  (so->sack_ok ? FIND_OPT_SACK : 0) | (so->has_ts ? FIND_OPT_TS : 0);
	uint8_t missing = offered & (uint8_t)~present;
	if (missing)
		stripped_by_nops(o, missing, r);
	/* The peer uses timestamps its SYN/ACK did not carry: it agreed to
	 * them and something took them off the SYN/ACK (RFC 7323 3.2: no
	 * timestamps unless both SYNs had them). */
	if ((missing & FIND_OPT_TS) && o->later_ts) {
		r->stripped |= FIND_OPT_TS;
		r->stripped_later = true;
	}
	if (r->stripped)
		r->mask |= 1u << FIND_OPTIONS_STRIPPED;

	/* mss-clamped: below what the path allows, never judged against more
	 * than we offered (some stacks answer min(theirs, ours)). */
	uint16_t expect = in->expect_mss ? in->expect_mss : o->family == AF_INET6 ? 1440 : 1460;
	if (in->offered.mss && in->offered.mss < expect)
		expect = in->offered.mss;
	if (so->has_mss && so->mss < expect) {
		r->mask |= 1u << FIND_MSS_CLAMPED;
		r->mss = so->mss;
		r->mss_expected = expect;
	}

	/* ECN (RFC 3168 6.1.1): an ECN-setup SYN/ACK has ECE and not CWR; a
	 * SYN/ACK with both reflected our flags (a broken stack or box) and
	 * negotiates nothing. Once negotiated, the peer's data must be ECT:
	 * data arriving not-ECT had its ECN field cleared on the way. */
	r->synack_tos = o->synack_tos;
	if (in->ecn) {
		bool ok = (o->fp.ecn_flags & (PKT_ECE | PKT_CWR)) == PKT_ECE;
		r->mask |= 1u << (ok ? FIND_ECN_NEGOTIATED : FIND_ECN_REFUSED);
		r->data_segs = o->data_segs;
		r->data_not_ect = o->data_not_ect;
		if (ok && o->data_segs && o->data_not_ect == o->data_segs)
			r->mask |= 1u << FIND_ECN_BLEACHED;
	}

	/* syn-cookies: a listener with state (a request socket) retransmits
	 * its SYN/ACK when no ACK comes; a SYN cookie (or a stateless proxy)
	 * keeps nothing to retransmit. */
	if (in->synack_check && in->synack_wait_ns) {
		r->synack_wait_ms = (uint32_t)(in->synack_wait_ns / 1000000);
		if (!in->synack_rtx)
			r->mask |= 1u << FIND_SYN_COOKIES;
	}
}

bool find_has(const struct find_result *r, enum find_name f)
{
	return (r->mask >> f) & 1u;
}

static size_t opt_names(uint8_t bits, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < NOPT; i++)
		if (bits & opt_tab[i].bit) {
			int k = snprintf(buf + n, len - n, "%s%s", n ? "," : "", opt_tab[i].name);
			if (k < 0 || (size_t)k >= len - n)
				break;
			n += (size_t)k;
		}
	return n;
}

/* "sack,timestamps": the names of FIND_OPT_* bits, for JSON arrays too. */
const char *find_opt_str(uint8_t bit)
{
	for (size_t i = 0; i < NOPT; i++)
		if (opt_tab[i].bit == bit)
			return opt_tab[i].name;
	return "?";
}

/* The second syn-proxy rule's evidence: "SYN/ACK ttl 64, later segments
 * ttl 60; SYN/ACK with timestamps, later segments without: ..." */
static void other_stack_str(const struct find_result *r, char *buf, size_t len, bool more)
{
	char ttl[64] = "", ts[80] = "";
	if (r->later_ttl)
		snprintf(ttl, sizeof(ttl), "SYN/ACK ttl %u, later segments ttl %u", r->synack_ttl,
			 r->later_ttl);
	if (r->later_no_ts)
		snprintf(ts, sizeof(ts), "%sSYN/ACK with timestamps, later segments without",
			 ttl[0] ? "; " : "");
	snprintf(buf, len, "%s%s%s: the SYN/ACK (not retransmitted) came from another stack than "
		 "the later segments", more ? "; " : "", ttl, ts);
}

const char *find_evidence(const struct find_result *r, enum find_name f, char *buf, size_t len)
{
	char names[64];
	buf[0] = '\0';
	if (!find_has(r, f))
		return buf;
	switch (f) {
	case FIND_SYN_PROXY: {
		int n = 0;
		if (r->backend_refused && r->backend_ns)
			n = snprintf(buf, len, "SYN/ACK window 0; RST %.3f us after our ACK: the backend "
				     "refused behind the proxy", r->backend_ns / 1e3);
		else if (r->backend_ns)
			n = snprintf(buf, len, "SYN/ACK window 0; window opened %.3f us after our ACK "
				     "(backend connect time)", r->backend_ns / 1e3);
		else if (r->fp.win == 0)
			n = snprintf(buf, len, "SYN/ACK window 0");
		if (r->other_stack && n >= 0 && (size_t)n < len)
			other_stack_str(r, buf + n, len - (size_t)n, n > 0);
		break;
	}
	case FIND_OPTIONS_STRIPPED:
		opt_names(r->stripped, names, sizeof(names));
		if (r->nop_excess && r->stripped_later)
			snprintf(buf, len, "offered %s: the SYN/ACK lacks them and has %u NOP bytes no "
				 "padding needs; timestamps used later", names, r->nop_excess);
		else if (r->nop_excess)
			snprintf(buf, len, "offered %s: the SYN/ACK lacks them and has %u NOP bytes no "
				 "padding needs", names, r->nop_excess);
		else
			snprintf(buf, len, "offered %s: the SYN/ACK lacks them, later segments carry "
				 "timestamps", names);
		break;
	case FIND_MSS_CLAMPED:
		snprintf(buf, len, "mss %u < %u the path allows", r->mss, r->mss_expected);
		break;
	case FIND_ECN_NEGOTIATED:
		snprintf(buf, len, "SYN/ACK has ECE, not CWR; its IP dscp %u ecn %s; %u of %u data "
			 "segments ECT", r->synack_tos >> 2, ecn_cp_str(r->synack_tos),
			 r->data_segs - r->data_not_ect, r->data_segs);
		break;
	case FIND_ECN_REFUSED:
		snprintf(buf, len, "SYN/ACK flags %s; its IP dscp %u ecn %s",
			 (r->fp.ecn_flags & (PKT_ECE | PKT_CWR)) == (PKT_ECE | PKT_CWR) ?
				 "ECE|CWR (reflected)" : r->fp.ecn_flags & PKT_CWR ? "CWR" : "without ECE",
			 r->synack_tos >> 2, ecn_cp_str(r->synack_tos));
		break;
	case FIND_SYN_COOKIES:
		snprintf(buf, len, "no SYN/ACK retransmission in %u ms without our ACK (a listener "
			 "with state retransmits after its RTO): a SYN cookie or a stateless proxy",
			 r->synack_wait_ms);
		break;
	case FIND_ECN_BLEACHED:
		snprintf(buf, len, "ECN negotiated, yet %u of %u data segments arrived not-ECT: "
			 "the ECN field was cleared on the way", r->data_not_ect, r->data_segs);
		break;
	case FIND_STATEFUL_FIREWALL:
		break; /* never one probe's: daemon/pairs.c words it */
	}
	return buf;
}

static const char *kind_name(uint8_t k, char *buf, size_t len)
{
	switch (k) {
	case 1: return "nop";
	case 2: return "mss";
	case 3: return "ws";
	case 4: return "sok";
	case 5: return "sack";
	case 8: return "ts";
	default:
		snprintf(buf, len, "%u", k);
		return buf;
	}
}

const char *find_fp_str(const struct find_fp *fp, char *buf, size_t len)
{
	char opts[PKT_OPT_KINDS * 5 + 1] = "", k[8];
	size_t n = 0;
	for (unsigned i = 0; i < fp->nkinds && i < PKT_OPT_KINDS; i++) {
		int w = snprintf(opts + n, sizeof(opts) - n, "%s%s", i ? "," : "",
				 kind_name(fp->kinds[i], k, sizeof(k)));
		if (w < 0 || (size_t)w >= sizeof(opts) - n)
			break;
		n += (size_t)w;
	}
	char mss[8] = "-", ws[8] = "-";
	if (fp->mss)
		snprintf(mss, sizeof(mss), "%u", fp->mss);
	if (fp->wscale >= 0)
		snprintf(ws, sizeof(ws), "%d", fp->wscale);
	snprintf(buf, len, "win=%u ttl=%u%s opts=%s mss=%s ws=%s ecn=%s", fp->win, fp->ttl_class,
		 fp->df ? " df" : "", n ? opts : "-", mss, ws,
		 (fp->ecn_flags & (PKT_ECE | PKT_CWR)) == (PKT_ECE | PKT_CWR) ? "ece,cwr" :
		 fp->ecn_flags & PKT_ECE ? "ece" : fp->ecn_flags & PKT_CWR ? "cwr" : "-");
	return buf;
}

bool find_fp_eq(const struct find_fp *a, const struct find_fp *b)
{
	return a->nkinds == b->nkinds && !memcmp(a->kinds, b->kinds, a->nkinds) &&
	       a->ttl_class == b->ttl_class && a->df == b->df && a->ecn_flags == b->ecn_flags &&
	       a->win == b->win && a->mss == b->mss && a->wscale == b->wscale;
}

void find_text(const struct find_result *r, struct find_text *out)
{
	out->fp[0] = '\0';
	out->n = 0;
	if (r->have_fp)
		find_fp_str(&r->fp, out->fp, sizeof(out->fp));
	for (int i = 0; i < FIND_COUNT; i++) {
		enum find_name f = (enum find_name)i;
		if (!find_has(r, f))
			continue;
		snprintf(out->f[out->n].name, sizeof(out->f[out->n].name), "%s", find_name_str(f));
		find_evidence(r, f, out->f[out->n].evidence, sizeof(out->f[out->n].evidence));
		out->n++;
	}
}
