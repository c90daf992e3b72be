#include "report.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *dir_str(uint8_t d)
{
	switch ((enum fsm_tl_dir)d) {
	case TL_OUT: return ">";
	case TL_IN: return "<";
	case TL_TIMER: return "timer";
	case TL_ICMP: return "icmp";
	case TL_USER: return "user";
	case TL_UNSENT: return "unsent";
	}
	return "?";
}

const char *report_icmp_str(uint8_t family, uint8_t type, uint8_t code)
{
	if (family == AF_INET) {
		if (type == 11)
			return "time-exceeded";
		if (type != 3)
			return "icmp";
		switch (code) {
		case 0: return "net-unreachable";
		case 1: return "host-unreachable";
		case 2: return "prot-unreachable";
		case 3: return "port-unreachable";
		case 4: return "frag-needed";
		case 9: return "net-prohibited";
		case 10: return "host-prohibited";
		case 13: return "admin-prohibited";
		default: return "unreachable";
		}
	}
	if (type == 2)
		return "packet-too-big";
	if (type == 3)
		return "time-exceeded";
	if (type != 1)
		return "icmp6";
	switch (code) {
	case 0: return "no-route";
	case 1: return "admin-prohibited";
	case 3: return "addr-unreachable";
	case 4: return "port-unreachable";
	case 5: return "policy-fail";
	case 6: return "reject-route";
	default: return "unreachable";
	}
}

static double us(uint64_t ns) { return ns / 1000.0; }

const char *report_error_str(const struct probe_report *r, char *buf, size_t len)
{
	if (r->error) /* nothing sent: the engine says why */
		return r->error;
	snprintf(buf, len, "send: %s", strerror(r->send_errno));
	return buf;
}

void report_timeline_json(struct jbuf *j, const struct fsm_timeline *tl, uint64_t t0)
{
	uint8_t order[FSM_TL_MAX];
	unsigned n = fsm_timeline_order(tl, order);

	jb_arr(j);
	for (unsigned i = 0; i < n; i++) {
		const struct fsm_tl_entry *e = &tl->e[order[i]];
		char fl[16];
		jb_obj(j);
		jb_key(j, "t_us");
		jb_double(j, e->t_ns >= t0 ? us(e->t_ns - t0) : -us(t0 - e->t_ns));
		jb_key(j, "dir");
		jb_str(j, dir_str(e->dir));
		jb_key(j, "flags");
		if (e->dir == TL_OUT || e->dir == TL_IN || e->dir == TL_UNSENT)
			jb_str(j, pkt_flags_str(e->flags, fl, sizeof(fl)));
		else
			jb_str(j, "");
		jb_key(j, "seq");
		jb_uint(j, e->seq);
		jb_key(j, "ack");
		jb_uint(j, e->ack);
		if (e->len) {
			jb_key(j, "len");
			jb_uint(j, e->len);
		}
		if (e->dir == TL_ICMP) {
			jb_key(j, "icmp_type");
			jb_uint(j, e->flags);
			jb_key(j, "icmp_code");
			jb_uint(j, e->code);
		}
		if (e->crossed) {
			jb_key(j, "crossed");
			jb_bool(j, true);
		}
		jb_key(j, "state");
		jb_str(j, tcp_state_str(e->state));
		jb_obj_end(j);
	}
	jb_arr_end(j);
}

void report_peer_json(struct jbuf *j, bool have, uint16_t mss, int8_t wscale, bool sack, bool ts,
		      uint8_t ttl)
{
	jb_key(j, "peer");
	if (!have) {
		jb_null(j);
		return;
	}
	jb_obj(j);
	jb_key(j, "mss");
	if (mss)
		jb_uint(j, mss);
	else
		jb_null(j);
	jb_key(j, "wscale");
	if (wscale >= 0)
		jb_int(j, wscale);
	else
		jb_null(j);
	jb_key(j, "sack");
	jb_bool(j, sack);
	jb_key(j, "timestamps");
	jb_bool(j, ts);
	jb_key(j, "ttl");
	jb_uint(j, ttl);
	jb_obj_end(j);
}

void report_findings_items(struct jbuf *j, const struct find_result *f)
{
	char ev[256];
	for (int i = 0; i < FIND_COUNT; i++) {
		enum find_name n = (enum find_name)i;
		if (!find_has(f, n))
			continue;
		jb_obj(j);
		jb_key(j, "name");
		jb_str(j, find_name_str(n));
		jb_key(j, "evidence");
		jb_str(j, find_evidence(f, n, ev, sizeof(ev)));
		switch (n) {
		case FIND_SYN_PROXY:
			jb_ns(j, "backend_connect_us", f->backend_refused ? 0 : f->backend_ns, 1e3);
			jb_key(j, "backend_refused");
			jb_bool(j, f->backend_refused);
			jb_ns(j, "backend_us", f->backend_ns, 1e3);
			jb_key(j, "ack_stamped");
			jb_bool(j, f->ack_stamped);
			jb_key(j, "other_stack");
			jb_bool(j, f->other_stack);
			jb_key(j, "later_ttl");
			if (f->later_ttl)
				jb_uint(j, f->later_ttl);
			else
				jb_null(j);
			break;
		case FIND_OPTIONS_STRIPPED:
			jb_key(j, "options");
			jb_arr(j);
			for (uint8_t b = 1; b && b <= FIND_OPT_TS; b = (uint8_t)(b << 1))
				if (f->stripped & b)
					jb_str(j, find_opt_str(b));
			jb_arr_end(j);
			break;
		case FIND_MSS_CLAMPED:
			jb_key(j, "mss");
			jb_uint(j, f->mss);
			jb_key(j, "expected");
			jb_uint(j, f->mss_expected);
			break;
		case FIND_SYN_COOKIES:
			jb_key(j, "wait_ms");
			jb_uint(j, f->synack_wait_ms);
			break;
		case FIND_ECN_NEGOTIATED:
		case FIND_ECN_REFUSED:
		case FIND_ECN_BLEACHED:
			jb_key(j, "synack_dscp");
			jb_uint(j, f->synack_tos >> 2);
			jb_key(j, "synack_ecn");
			jb_uint(j, f->synack_tos & 3);
			jb_key(j, "data_segments");
			jb_uint(j, f->data_segs);
			jb_key(j, "data_not_ect");
			jb_uint(j, f->data_not_ect);
			break;
		case FIND_STATEFUL_FIREWALL:
			break;
		}
		jb_obj_end(j);
	}
}

void report_fp_json(struct jbuf *j, const struct find_result *f)
{
	jb_key(j, "fingerprint");
	if (f->have_fp) {
		char fp[FIND_FP_STRLEN];
		jb_str(j, find_fp_str(&f->fp, fp, sizeof(fp)));
	} else {
		jb_null(j);
	}
}

void report_findings_json(struct jbuf *j, const struct find_result *f)
{
	jb_key(j, "findings");
	jb_arr(j);
	report_findings_items(j, f);
	jb_arr_end(j);
}

/* {"type", "code", "name"} */
static void icmp_json(struct jbuf *j, uint8_t family, uint8_t type, uint8_t code)
{
	jb_obj(j);
	jb_key(j, "type");
	jb_uint(j, type);
	jb_key(j, "code");
	jb_uint(j, code);
	jb_key(j, "name");
	jb_str(j, report_icmp_str(family, type, code));
	jb_obj_end(j);
}

void report_json(struct jbuf *j, const char *target, const struct probe_report *r)
{
	char a[64];
	jb_obj(j);
	jb_key(j, "target");
	jb_str(j, target);
	jb_key(j, "address");
	jb_str(j, pkt_addr_str(&r->dst, a, sizeof(a)));
	jb_key(j, "port");
	jb_uint(j, r->dport);
	jb_key(j, "source_port");
	jb_uint(j, r->sport);
	if (r->flow) { /* only for a target probed over several flows */
		jb_key(j, "flow");
		jb_uint(j, r->flow);
	}
	if (r->error && !r->send_errno) {
		jb_key(j, "not_sent");
		jb_bool(j, true);
	}
	jb_key(j, "kind");
	jb_str(j, probe_kind_str(r->kind));
	jb_key(j, "result");
	jb_str(j, probe_result_str(r->result));
	if (r->send_errno || r->error) {
		char why[96];
		jb_key(j, "error");
		jb_str(j, report_error_str(r, why, sizeof(why)));
	}
	jb_key(j, "time");
	jb_double(j, r->t_start / 1e9);
	jb_ns(j, "rtt_us", r->ph.handshake, 1e3);
	jb_key(j, "rtt_ambiguous");
	jb_bool(j, r->ph.rtt_ambiguous);
	jb_ns(j, "connect_us", r->ph.connect, 1e3);
	jb_key(j, "close");
	jb_str(j, close_result_str(r->close_result));
	jb_key(j, "phases_us");
	jb_obj(j);
	const struct { const char *k; uint64_t v; } ph[] = {
		{ "handshake", r->ph.handshake }, { "fin_ack", r->ph.fin_ack },
		{ "fin_wait_2", r->ph.fin_wait_2 }, { "close", r->ph.close },
	};
	for (size_t i = 0; i < sizeof(ph) / sizeof(ph[0]); i++)
		jb_ns(j, ph[i].k, ph[i].v, 1e3);
	jb_obj_end(j);
	const struct jb_kv_u64 counts[] = {
		{ "syn_retransmits", r->syn_retransmits },
		{ "synack_retransmits", r->synack_seen > 1 ? r->synack_seen - 1 : 0 },
		{ "duplicates", r->duplicates },
		{ "fin_retransmits", r->fin_retransmits },
		{ "peer_fin_retransmits", r->peer_fin_retransmits },
		{ "bytes_received", r->bytes_rcvd },
		{ "challenge_acks", r->challenge_acks },
	};
	jb_uints(j, counts, sizeof(counts) / sizeof(counts[0]));
	report_peer_json(j, r->have_peer, r->peer_mss, r->peer_wscale, r->peer_sack, r->peer_ts,
			 r->peer_ttl);
	report_fp_json(j, &r->find);
	report_findings_json(j, &r->find);
	if (r->have_icmp) {
		jb_key(j, "icmp");
		icmp_json(j, r->dst.family, r->icmp_type, r->icmp_code);
	}
	if (r->trace) {
		jb_key(j, "hops");
		report_hops_json(j, r->trace);
	}
	jb_key(j, "timeline");
	report_timeline_json(j, r->tl, r->t_start);
	jb_key(j, "timeline_dropped");
	jb_uint(j, r->tl ? r->tl->dropped : 0);
	jb_obj_end(j);
}

void report_hops_json(struct jbuf *j, const struct trace_result *t)
{
	jb_arr(j);
	for (unsigned i = 0; i < t->nhops; i++) {
		const struct trace_hop *h = &t->hops[i];
		char a[64];
		bool silent = h->kind == TRACE_HOP_SILENT;
		jb_obj(j);
		jb_key(j, "ttl");
		jb_uint(j, h->ttl);
		jb_key(j, "address");
		if (silent)
			jb_null(j);
		else
			jb_str(j, pkt_addr_str(&h->addr, a, sizeof(a)));
		jb_key(j, "rtt_us");
		if (silent)
			jb_null(j);
		else
			jb_double(j, us(h->rtt_ns));
		jb_key(j, "kind");
		jb_str(j, trace_hop_kind_str((enum trace_hop_kind)h->kind));
		jb_key(j, "icmp");
		if (h->kind == TRACE_HOP_ROUTER || h->kind == TRACE_HOP_UNREACH)
			icmp_json(j, h->addr.family, h->icmp_type, h->icmp_code);
		else
			jb_null(j);
		if (h->kind == TRACE_HOP_TARGET) {
			char fl[16];
			jb_key(j, "flags");
			jb_str(j, pkt_flags_str(h->tcp_flags, fl, sizeof(fl)));
		}
		jb_key(j, "reply_ttl");
		if (silent)
			jb_null(j);
		else
			jb_uint(j, h->reply_ttl);
		jb_key(j, "tries");
		jb_uint(j, h->tries);
		jb_obj_end(j);
	}
	jb_arr_end(j);
}

void report_hops(FILE *f, const struct trace_result *t)
{
	for (unsigned i = 0; i < t->nhops; i++) {
		const struct trace_hop *h = &t->hops[i];
		char a[64], fl[16];
		fprintf(f, "%4u  ", h->ttl);
		switch ((enum trace_hop_kind)h->kind) {
		case TRACE_HOP_SILENT:
			/* One star a try, as traceroute prints them. */
			for (unsigned k = 0; k < h->tries; k++)
				fprintf(f, "%s*", k ? " " : "");
			break;
		case TRACE_HOP_ROUTER:
			fprintf(f, "%-39s %10.3f ms", pkt_addr_str(&h->addr, a, sizeof(a)), h->rtt_ns / 1e6);
			break;
		case TRACE_HOP_UNREACH:
			fprintf(f, "%-39s %10.3f ms  !%s", pkt_addr_str(&h->addr, a, sizeof(a)),
				h->rtt_ns / 1e6, report_icmp_str(h->addr.family, h->icmp_type, h->icmp_code));
			break;
		case TRACE_HOP_TARGET:
			fprintf(f, "%-39s %10.3f ms  %s", pkt_addr_str(&h->addr, a, sizeof(a)),
				h->rtt_ns / 1e6, pkt_flags_str(h->tcp_flags, fl, sizeof(fl)));
			break;
		}
		fputc('\n', f);
	}
}

/* The findings' text: read back from JSON, or rendered from the result. */
static const struct find_text *report_find_text(const struct probe_report *r, struct find_text *buf)
{
	if (r->find_text)
		return r->find_text;
	find_text(&r->find, buf);
	return buf;
}

void report_line(FILE *f, const char *target, unsigned seq, const struct probe_report *r)
{
	char a[64];
	fprintf(f, "%s [%s]:%u %s", probe_kind_str(r->kind), pkt_addr_str(&r->dst, a, sizeof(a)),
		r->dport, target);
	if (seq)
		fprintf(f, " seq=%u", seq);
	if (r->flow)
		fprintf(f, " flow=%u", r->flow);
	fprintf(f, " sport=%u %s", r->sport, probe_result_str(r->result));
	if (r->send_errno) {
		char why[96];
		fprintf(f, " (%s)", report_error_str(r, why, sizeof(why)));
	} else if (r->error) {
		fprintf(f, " not_sent");
	}
	if (r->ph.handshake)
		fprintf(f, " rtt=%.3f ms", r->ph.handshake / 1e6);
	else if (r->ph.rtt_ambiguous)
		fprintf(f, " rtt=ambiguous");
	if (r->ph.rtt_ambiguous && r->ph.connect)
		fprintf(f, " connect=%.3f ms", r->ph.connect / 1e6);
	if (r->syn_retransmits)
		fprintf(f, " syn_retransmits=%u", r->syn_retransmits);
	if (r->have_icmp)
		fprintf(f, " icmp=%s(%u/%u)", report_icmp_str(r->dst.family, r->icmp_type, r->icmp_code),
			r->icmp_type, r->icmp_code);
	if (r->close_result != CLOSE_NONE) {
		fprintf(f, " close=%s", close_result_str(r->close_result));
		if (r->ph.close)
			fprintf(f, " close_time=%.3f ms", r->ph.close / 1e6);
	}
	if (r->have_peer)
		fprintf(f, " ttl=%u", r->peer_ttl);
	struct find_text ft;
	const struct find_text *t = report_find_text(r, &ft);
	for (unsigned i = 0; i < t->n; i++)
		fprintf(f, "%s%s", i ? "," : " findings=", t->f[i].name);
	if (r->trace)
		fprintf(f, " hops=%u", r->trace->nhops);
	fputc('\n', f);
	if (r->trace)
		report_hops(f, r->trace);
}

void report_trace(FILE *f, const struct probe_report *r)
{
	const struct fsm_timeline *tl = r->tl;
	uint8_t order[FSM_TL_MAX];
	if (!tl)
		return;
	unsigned n = fsm_timeline_order(tl, order);
	for (unsigned i = 0; i < n; i++) {
		const struct fsm_tl_entry *e = &tl->e[order[i]];
		char fl[16];
		double t = e->t_ns >= r->t_start ? (e->t_ns - r->t_start) / 1e3 : 0;
		switch ((enum fsm_tl_dir)e->dir) {
		case TL_OUT:
			fprintf(f, "  %12.3f us  --> %-4s seq=%-10u ack=%-10u%s%.0u  %s%s\n", t,
				pkt_flags_str(e->flags, fl, sizeof(fl)), e->seq, e->ack,
				e->len ? " len=" : "", e->len, tcp_state_str(e->state),
				e->crossed ? "  (crossed)" : "");
			break;
		case TL_IN:
			fprintf(f, "  %12.3f us  <-- %-4s seq=%-10u ack=%-10u%s%.0u  %s\n", t,
				pkt_flags_str(e->flags, fl, sizeof(fl)), e->seq, e->ack,
				e->len ? " len=" : "", e->len, tcp_state_str(e->state));
			break;
		case TL_UNSENT:
			fprintf(f, "  %12.3f us  --x %-4s seq=%-10u ack=%-10u  %s (not sent)\n", t,
				pkt_flags_str(e->flags, fl, sizeof(fl)), e->seq, e->ack,
				tcp_state_str(e->state));
			break;
		case TL_ICMP:
			fprintf(f, "  %12.3f us  <-- ICMP type %-3u code %-3u          %s\n", t,
				e->flags, e->code, tcp_state_str(e->state));
			break;
		case TL_TIMER:
			fprintf(f, "  %12.3f us      (timer)                       %s\n", t,
				tcp_state_str(e->state));
			break;
		case TL_USER:
			fprintf(f, "  %12.3f us      (user)                        %s\n", t,
				tcp_state_str(e->state));
			break;
		}
	}
	if (tl->dropped)
		fprintf(f, "  (%u more events not recorded)\n", tl->dropped);
	struct find_text ft;
	const struct find_text *t = report_find_text(r, &ft);
	if (t->fp[0])
		fprintf(f, "  fingerprint: %s\n", t->fp);
	for (unsigned i = 0; i < t->n; i++)
		fprintf(f, "  finding %s: %s\n", t->f[i].name, t->f[i].evidence);
}

const char *report_time_str(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	char d[32];
	localtime_r(&t, &tm);
	strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03u", d, (unsigned)(ns / 1000000u % 1000u));
	return buf;
}

/* ---- reading report_json back ------------------------------------------------- */

static uint64_t j_u64(const json_t *o, const char *key)
{
	double v = json_number_value(json_object_get(o, key));
	return v > 0 ? (uint64_t)llround(v) : 0;
}

/* A duration in microseconds as ns; null is 0. */
static uint64_t j_ns(const json_t *o, const char *key)
{
	double v = json_number_value(json_object_get(o, key));
	return v > 0 ? (uint64_t)llround(v * 1e3) : 0;
}

static const char *j_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* The enum value whose name is s; -1 if none. */
static int enum_from(const char *s, unsigned n, const char *(*name)(unsigned))
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(s, name(i)))
			return (int)i;
	return -1;
}

static const char *result_name(unsigned i) { return probe_result_str((enum probe_result)i); }
static const char *close_name(unsigned i) { return close_result_str((enum close_result)i); }
static const char *state_name(unsigned i) { return tcp_state_str((enum tcp_state)i); }
static const char *dir_name(unsigned i) { return dir_str((uint8_t)i); }
static const char *kind_name(unsigned i) { return probe_kind_str((enum probe_kind)i); }

static uint8_t flags_from(const char *s)
{
	static const char names[] = "FSRP.UEW"; /* pkt_flags_str's, in bit order */
	uint8_t f = 0;
	for (; *s; s++) {
		const char *p = strchr(names, *s);
		if (p)
			f |= (uint8_t)(1u << (p - names));
	}
	return f;
}

static int addr_from(const char *s, struct pkt_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->a) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, s, a->a) == 1)
		a->family = AF_INET6;
	else
		return -1;
	return 0;
}

static void timeline_from(const json_t *arr, uint64_t t0, struct fsm_timeline *tl)
{
	size_t i;
	const json_t *e;
	memset(tl, 0, sizeof(*tl));
	json_array_foreach(arr, i, e) {
		if (tl->n >= FSM_TL_MAX) {
			tl->dropped++;
			continue;
		}
		struct fsm_tl_entry *x = &tl->e[tl->n++];
		double t = json_number_value(json_object_get(e, "t_us"));
		x->t_ns = t0 + (uint64_t)llround(t * 1e3); /* negative wraps back below t0 */
		int dir = enum_from(j_str(e, "dir"), TL_UNSENT + 1, dir_name);
		x->dir = (uint8_t)(dir < 0 ? TL_USER : dir);
		x->seq = (uint32_t)j_u64(e, "seq");
		x->ack = (uint32_t)j_u64(e, "ack");
		x->len = (uint16_t)j_u64(e, "len");
		if (x->dir == TL_ICMP) {
			x->flags = (uint8_t)j_u64(e, "icmp_type");
			x->code = (uint8_t)j_u64(e, "icmp_code");
		} else {
			x->flags = flags_from(j_str(e, "flags"));
		}
		x->crossed = json_is_true(json_object_get(e, "crossed"));
		int st = enum_from(j_str(e, "state"), TCPS_COUNT, state_name);
		x->state = (uint8_t)(st < 0 ? TCPS_CLOSED : st);
	}
}

static const char *hop_kind_name(unsigned i) { return trace_hop_kind_str((enum trace_hop_kind)i); }

int report_hops_from_json(const json_t *arr, struct trace_result *t)
{
	size_t i;
	const json_t *h;
	memset(t, 0, sizeof(*t));
	if (!json_is_array(arr))
		return -1;
	json_array_foreach(arr, i, h) {
		if (t->nhops == TRACE_HOPS_MAX)
			break;
		struct trace_hop *x = &t->hops[t->nhops++];
		int k = enum_from(j_str(h, "kind"), TRACE_HOP_TARGET + 1, hop_kind_name);
		x->kind = (uint8_t)(k < 0 ? TRACE_HOP_SILENT : k);
		x->ttl = (uint8_t)j_u64(h, "ttl");
		if (x->kind != TRACE_HOP_SILENT && addr_from(j_str(h, "address"), &x->addr) < 0)
			x->kind = TRACE_HOP_SILENT;
		x->rtt_ns = j_ns(h, "rtt_us");
		x->tries = (uint8_t)j_u64(h, "tries");
		x->reply_ttl = (uint8_t)j_u64(h, "reply_ttl");
		x->tcp_flags = flags_from(j_str(h, "flags"));
		const json_t *icmp = json_object_get(h, "icmp");
		x->icmp_type = (uint8_t)j_u64(icmp, "type");
		x->icmp_code = (uint8_t)j_u64(icmp, "code");
	}
	return 0;
}

int report_from_json(const json_t *o, struct report_decoded *out)
{
	struct probe_report *r = &out->r;
	memset(out, 0, sizeof(*out));
	r->peer_wscale = -1;
	if (!json_is_object(o))
		return -1;
	snprintf(out->target, sizeof(out->target), "%s", j_str(o, "target"));
	int kind = enum_from(j_str(o, "kind"), PROBE_KIND_COUNT, kind_name);
	int res = enum_from(j_str(o, "result"), RESULT_COUNT, result_name);
	int cl = enum_from(j_str(o, "close"), CLOSE_COUNT, close_name);
	if (kind < 0 || res < 0 || cl < 0 || addr_from(j_str(o, "address"), &r->dst) < 0)
		return -1;
	r->kind = (uint8_t)kind;
	r->result = (uint8_t)res;
	r->close_result = (uint8_t)cl;
	r->dport = (uint16_t)j_u64(o, "port");
	r->sport = (uint16_t)j_u64(o, "source_port");
	r->flow = (uint8_t)j_u64(o, "flow");
	double t = json_number_value(json_object_get(o, "time"));
	r->t_start = t > 0 ? (uint64_t)llround(t * 1e9) : 0;
	if (json_string_value(json_object_get(o, "error"))) {
		snprintf(out->error, sizeof(out->error), "%s", j_str(o, "error"));
		r->error = out->error;
		/* The text says why; report_error_str prefers it to the errno. */
		if (!json_is_true(json_object_get(o, "not_sent")))
			r->send_errno = EIO;
	}
	r->ph.handshake = j_ns(o, "rtt_us");
	r->ph.connect = j_ns(o, "connect_us");
	r->ph.rtt_ambiguous = json_is_true(json_object_get(o, "rtt_ambiguous"));
	const json_t *ph = json_object_get(o, "phases_us");
	r->ph.fin_ack = j_ns(ph, "fin_ack");
	r->ph.fin_wait_2 = j_ns(ph, "fin_wait_2");
	r->ph.close = j_ns(ph, "close");
	r->syn_retransmits = (uint8_t)j_u64(o, "syn_retransmits");
	uint64_t sar = j_u64(o, "synack_retransmits");
	r->synack_seen = (uint8_t)(sar ? sar + 1 : 0);
	r->duplicates = (uint16_t)j_u64(o, "duplicates");
	r->fin_retransmits = (uint8_t)j_u64(o, "fin_retransmits");
	r->peer_fin_retransmits = (uint8_t)j_u64(o, "peer_fin_retransmits");
	r->bytes_rcvd = (uint32_t)j_u64(o, "bytes_received");
	r->challenge_acks = (uint16_t)j_u64(o, "challenge_acks");
	const json_t *peer = json_object_get(o, "peer");
	if (json_is_object(peer)) {
		r->have_peer = true;
		r->peer_mss = (uint16_t)j_u64(peer, "mss");
		const json_t *ws = json_object_get(peer, "wscale");
		r->peer_wscale = json_is_number(ws) ? (int8_t)json_number_value(ws) : -1;
		r->peer_sack = json_is_true(json_object_get(peer, "sack"));
		r->peer_ts = json_is_true(json_object_get(peer, "timestamps"));
		r->peer_ttl = (uint8_t)j_u64(peer, "ttl");
	}
	const json_t *icmp = json_object_get(o, "icmp");
	if (json_is_object(icmp)) {
		r->have_icmp = true;
		r->icmp_type = (uint8_t)j_u64(icmp, "type");
		r->icmp_code = (uint8_t)j_u64(icmp, "code");
	}
	timeline_from(json_object_get(o, "timeline"), r->t_start, &out->tl);
	out->tl.dropped = (uint8_t)(out->tl.dropped + j_u64(o, "timeline_dropped"));
	r->tl = &out->tl;
	struct find_text *ft = &out->find;
	snprintf(ft->fp, sizeof(ft->fp), "%s", j_str(o, "fingerprint"));
	size_t i;
	const json_t *f;
	json_array_foreach(json_object_get(o, "findings"), i, f) {
		if (ft->n == FIND_COUNT)
			break;
		snprintf(ft->f[ft->n].name, sizeof(ft->f[ft->n].name), "%s", j_str(f, "name"));
		snprintf(ft->f[ft->n].evidence, sizeof(ft->f[ft->n].evidence), "%s", j_str(f, "evidence"));
		ft->n++;
	}
	r->find_text = ft;
	if (report_hops_from_json(json_object_get(o, "hops"), &out->trace) == 0) {
		out->trace.result = r->result;
		out->trace.t_start = r->t_start;
		r->trace = &out->trace;
	}
	return 0;
}
