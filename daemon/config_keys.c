/* config_keys.c: the table of the probe keys, and the readers' view of
 * every key table (config_keys(), config_key_info(); the other sections'
 * tables are config_sections.c's). Each probe key (in [defaults], [target
 * NAME] and [discovery NAME]; also `ctl add` and `ctl probe` key=value words)
 * is one row: its name, the field it sets, its parser, its printer, its
 * range, its default as written in a file, and its options of `tcpprobe
 * probe`. config_defaults(), config_print(), `ctl show`'s options, `tcpprobe
 * probe`'s options and usage, and the key and option lists of
 * tcpprobe.conf(5) and tcpprobe(8) with their defaults (checked by
 * test_config) all come from here.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_priv.h"
#include "flows.h"
#include "fsm.h"
#include "log.h"
#include "trace.h"

/*
 * time_wait, 2s: TIME_WAIT exists to re-ACK the peer's FIN if our last ACK
 * was lost (RFC 9293 3.6.1). The peer retransmits after its RTO: about
 * 200 ms + RTT on Linux, 1 s on an RFC 6298 stack; 2 s covers either plus a
 * round trip, where RFC 9293's 2*MSL (4 min) would hold 1,000x the state.
 */


static const char *const family_names[7] = {
	[FAMILY_ANY] = "any", [FAMILY_V4] = "ipv4", [FAMILY_V6] = "ipv6",
};

/* ---- probe options ------------------------------------------------------ */

/* PT_DUR_OFF: a duration in min..max, or off (stored as 0; "0" reads as off too). */
enum pk_type { PT_KIND, PT_FAMILY, PT_UINT, PT_PORT, PT_TOS, PT_MSS, PT_WSCALE, PT_DUR, PT_DUR_OFF,
	       PT_BOOL };

/* The probe keys, in print order. min/max are ns for durations; def is the
 * built-in default, as a file would write it. opts: the key's options in
 * `tcpprobe probe` (config.h, struct config_key_opt), with the command
 * line's own default opt_def (NULL: def) and, with opt_min0, no lower bound
 * there. Adding a probe option is one row here plus its use. */
static const struct probe_key {
	const char *name;
	enum pk_type type;
	size_t off, size;
	unsigned long long min, max;
	const char *def;
	struct config_key_opt opts[CONFIG_KEY_OPTS];
	const char *opt_def;
	bool opt_min0;
} probe_keys[] = {
#define PK(n, t, f, lo, hi, d, ...) { .name = n, .type = t, .off = offsetof(struct probe_opts, f), \
				      .size = sizeof(((struct probe_opts *)0)->f), .min = lo, \
				      .max = hi, .def = d, .opts = __VA_ARGS__ }
	PK("kind", PT_KIND, kind, 0, 0, "handshake",
	   { { 'k', "kind", "KIND", NULL, "syn | handshake | fin | trace" } }),
	PK("port", PT_PORT, port, 1, 65535, "80",
	   { { 'p', "port", "P", NULL, "port for targets given without one" } }),
	PK("family", PT_FAMILY, family, 0, 0, "any",
	   { { '4', NULL, NULL, "ipv4", "IPv4 only" }, { '6', NULL, NULL, "ipv6", "IPv6 only" } }),
	/* A one-shot run may go faster than a daemon's target, no slower. */
	PK("interval", PT_DUR, interval_ns, 100 * NS_MS, 24 * NS_H, "10s",
	   { { 'i', "interval", "S", NULL, "time between probes of a target" } },
	   .opt_def = "1s", .opt_min0 = true),
	/* Path change detection (probes/path.h): a trace of the target this
	 * often, next to its probes. 1s at least: a trace sends up to max_hops
	 * SYNs and waits for its silent hops. Not a `tcpprobe probe` option. */
	PK("trace_interval", PT_DUR_OFF, trace_interval_ns, 1 * NS_S, 24 * NS_H, "off", { { 0 } }),
	/* RFC 6298 2.1: the initial RTO. */
	PK("timeout", PT_DUR, timeout_ns, 1 * NS_MS, 60 * NS_S, "1s",
	   { { 't', "timeout", "S", NULL,
	       "wait for a reply before retransmitting, doubled per retry" } }),
	PK("retries", PT_UINT, retries, 0, 10, "2",
	   { { 'r', "retries", "N", NULL, "SYN/FIN retransmissions" } }),
	PK("time_wait", PT_DUR, time_wait_ns, 0, 240 * NS_S, "2s",
	   { { 0, "time-wait", "S", NULL, "TIME_WAIT duration" } }),
	PK("fin_wait_2", PT_DUR, fin_wait_2_ns, 1 * NS_MS, 10 * NS_M, "5s",
	   { { 0, "fin-wait-2", "S", NULL, "how long FIN_WAIT_2 waits for the peer's FIN" } }),
	PK("hold", PT_DUR, hold_ns, 0, 1 * NS_H, "0s",
	   { { 0, "hold", "S", NULL, "stay ESTABLISHED this long before closing" } }),
	PK("ttl", PT_UINT, ttl, 1, 255, "64", { { 0, "ttl", "N", NULL, "TTL / hop limit" } }),
	PK("tos", PT_TOS, tos, 0, 255, "0", { { 0, "tos", "N", NULL, "TOS / traffic class" } }),
	/* Linux's: 44 * 1460. */
	PK("window", PT_UINT, window, 0, 65535, "64240",
	   { { 0, "window", "N", NULL, "the SYN's window" } }),
	PK("mss", PT_MSS, syn.mss, 0, 65535, "1460",
	   { { 0, "mss", "N|off", NULL, "the SYN's MSS option" } }),
	PK("wscale", PT_WSCALE, syn.wscale, 0, 14, "7",
	   { { 0, "wscale", "N|off", NULL, "the SYN's window scale option" } }),
	PK("sack", PT_BOOL, syn.sack_ok, 0, 0, "yes",
	   { { 0, "no-sack", NULL, "no", "leave the SACK-permitted option out of the SYN" } }),
	PK("timestamps", PT_BOOL, syn.timestamps, 0, 0, "yes",
	   { { 0, "no-timestamps", NULL, "no", "leave the timestamps option out of the SYN" } }),
	PK("ecn", PT_BOOL, ecn, 0, 0, "no",
	   { { 0, "ecn", NULL, "yes",
	       "an ECN-setup SYN (ECE|CWR): findings ecn-negotiated/-refused/-bleached" } }),
	PK("check_synack_retransmit", PT_BOOL, check_synack_retransmit, 0, 0, "no",
	   { { 0, "check-synack-retransmit", NULL, "yes",
	       "syn probes: withhold the RST 1.5 s; no SYN/ACK retransmission: syn-cookies" } }),
	PK("expect_mss", PT_UINT, expect_mss, 0, 65535, "0",
	   { { 0, "expect-mss", "N", NULL,
	       "finding mss-clamped below N; 0: 1460 IPv4, 1440 IPv6" } }),
	/* probes/flows: N probes a round, each flow on its own source port. */
	PK("flows", PT_UINT, flows, 1, FLOWS_MAX, "1",
	   { { 0, "flows", "N", NULL, "probes per round, one per flow (its own source port)" } }),
	PK("flow_metrics", PT_BOOL, flow_metrics, 0, 0, "no", { { 0 } }),
	PK("max_hops", PT_UINT, max_hops, 1, TRACE_HOPS_MAX, "30",
	   { { 0, "max-hops", "N", NULL, "trace: SYNs with TTL 1..N" } }),
#undef PK
};
#define N_PROBE_KEYS (sizeof(probe_keys) / sizeof(probe_keys[0]))
_Static_assert(N_PROBE_KEYS <= CONFIG_PROBE_KEYS_MAX, "CONFIG_PROBE_KEYS_MAX");

int config_probe_key_find(const char *name)
{
	for (size_t i = 0; i < N_PROBE_KEYS; i++)
		if (!strcmp(name, probe_keys[i].name))
			return (int)i;
	return -1;
}



/* Sets key k of o; err is what is wrong with value, without the key name.
 * opt: from a command-line option (its range). */
static int probe_key_set_as(struct probe_opts *o, const struct probe_key *k, const char *v,
			    bool opt, char *err, size_t errlen)
{
	void *field = (char *)o + k->off;
	unsigned long long min = opt && k->opt_min0 ? 0 : k->min;
	unsigned long long u;
	uint64_t ns;
	int w;
	bool b;

	switch (k->type) {
	case PT_KIND:
	{
		/* The names are probes/' (probe_kind_str). */
		const char *names[PROBE_KIND_COUNT];
		for (int i = 0; i < PROBE_KIND_COUNT; i++)
			names[i] = probe_kind_str((enum probe_kind)i);
		if (config_parse_word(v, names, PROBE_KIND_COUNT, &w, err, errlen) < 0)
			return -1;
	}
		o->kind = (enum probe_kind)w;
		return 0;
	case PT_FAMILY:
		if (config_parse_word(v, family_names, 7, &w, err, errlen) < 0)
			return -1;
		o->family = (uint8_t)w;
		return 0;
	case PT_UINT:
		if (config_parse_uint(v, min, k->max, &u, err, errlen) < 0)
			return -1;
		config_store_uint(field, k->size, u);
		return 0;
	case PT_PORT:
		return config_parse_port(v, &o->port, err, errlen);
	case PT_TOS:
		if (config_parse_uint_hex(v, k->max, &u, err, errlen) < 0)
			return -1;
		config_store_uint(field, k->size, u);
		return 0;
	case PT_MSS:
		if (!strcmp(v, "off")) {
			o->syn.mss = 0;
			return 0;
		}
		if (config_parse_uint(v, min, k->max, &u, NULL, 0) < 0) {
			config_seterr(err, errlen, "'%s' is not 1..65535, or 0 or off to omit the option",
			       v);
			return -1;
		}
		o->syn.mss = (uint16_t)u;
		return 0;
	case PT_WSCALE:
		if (!strcmp(v, "off") || !strcmp(v, "-1")) {
			o->syn.wscale = -1;
			return 0;
		}
		if (config_parse_uint(v, min, k->max, &u, NULL, 0) < 0) {
			config_seterr(err, errlen, "'%s' is not 0..14, or -1 or off to omit the option", v);
			return -1;
		}
		o->syn.wscale = (int8_t)u;
		return 0;
	case PT_DUR:
	case PT_DUR_OFF: {
		char a[32], b2[32];
		if (k->type == PT_DUR_OFF && !strcmp(v, "off")) {
			*(uint64_t *)field = 0;
			return 0;
		}
		if (config_parse_duration(v, &ns, err, errlen) < 0)
			return -1;
		if (k->type == PT_DUR_OFF && !ns) {
			*(uint64_t *)field = 0;
			return 0;
		}
		if (ns < min || ns > k->max) {
			config_seterr(err, errlen, "'%s' is out of range (%s..%s%s)", v,
			       config_duration_str(min, a, sizeof(a)),
			       config_duration_str(k->max, b2, sizeof(b2)),
			       k->type == PT_DUR_OFF ? ", or off" : "");
			return -1;
		}
		*(uint64_t *)field = ns;
		return 0;
	}
	case PT_BOOL:
		if (config_parse_bool(v, &b, err, errlen) < 0)
			return -1;
		*(bool *)field = b;
		return 0;
	}
	return -1;
}

static int probe_key_set(struct probe_opts *o, const struct probe_key *k, const char *v,
			 char *err, size_t errlen)
{
	return probe_key_set_as(o, k, v, false, err, errlen);
}

int config_probe_opt_set(struct probe_opts *o, size_t k, const char *value, char *err,
			 size_t errlen)
{
	return probe_key_set_as(o, &probe_keys[k], value, true, err, errlen);
}

static void probe_key_print(const struct probe_opts *o, const struct probe_key *k, FILE *f)
{
	const void *field = (const char *)o + k->off;
	char buf[32];

	fprintf(f, "%s = ", k->name);
	switch (k->type) {
	case PT_KIND:
		fprintf(f, "%s\n", probe_kind_str(o->kind));
		break;
	case PT_FAMILY:
		fprintf(f, "%s\n", o->family < 7 && family_names[o->family]
					   ? family_names[o->family] : "?");
		break;
	case PT_UINT:
	case PT_PORT:
		fprintf(f, "%llu\n", config_load_uint(field, k->size));
		break;
	case PT_TOS:
		fprintf(f, "0x%02llx\n", config_load_uint(field, k->size));
		break;
	case PT_MSS:
		if (o->syn.mss)
			fprintf(f, "%u\n", o->syn.mss);
		else
			fprintf(f, "off\n");
		break;
	case PT_WSCALE:
		if (o->syn.wscale >= 0)
			fprintf(f, "%d\n", o->syn.wscale);
		else
			fprintf(f, "off\n");
		break;
	case PT_DUR:
		fprintf(f, "%s\n", config_duration_str(*(const uint64_t *)field, buf, sizeof(buf)));
		break;
	case PT_DUR_OFF:
		fprintf(f, "%s\n", *(const uint64_t *)field
			? config_duration_str(*(const uint64_t *)field, buf, sizeof(buf)) : "off");
		break;
	case PT_BOOL:
		fprintf(f, "%s\n", *(const bool *)field ? "yes" : "no");
		break;
	}
}

void config_probe_key_value(const struct probe_opts *o, size_t k, struct config_value *v,
			    char *buf, size_t len)
{
	const struct probe_key *pk = &probe_keys[k];
	const void *field = (const char *)o + pk->off;
	memset(v, 0, sizeof(*v));
	switch (pk->type) {
	case PT_KIND:
		v->s = probe_kind_str(o->kind);
		return;
	case PT_FAMILY:
		v->s = o->family < 7 && family_names[o->family] ? family_names[o->family] : "?";
		return;
	case PT_DUR:
		v->s = config_duration_str(*(const uint64_t *)field, buf, len);
		return;
	case PT_DUR_OFF:
		v->s = *(const uint64_t *)field ? config_duration_str(*(const uint64_t *)field, buf, len)
						: "off";
		return;
	case PT_BOOL:
		v->type = CONFIG_VAL_BOOL;
		v->b = *(const bool *)field;
		return;
	case PT_WSCALE:
		v->type = CONFIG_VAL_INT;
		v->i = o->syn.wscale;
		return;
	case PT_UINT:
	case PT_PORT:
	case PT_TOS:
	case PT_MSS:
		v->type = CONFIG_VAL_UINT;
		v->u = config_load_uint(field, pk->size);
		return;
	}
}

int config_probe_key_set(struct probe_opts *o, int k, const char *value, char *err,
			 size_t errlen)
{
	return probe_key_set(o, &probe_keys[k], value, err, errlen);
}

void config_probe_key_copy(struct probe_opts *dst, const struct probe_opts *src, int k)
{
	memcpy((char *)dst + probe_keys[k].off, (const char *)src + probe_keys[k].off,
	       probe_keys[k].size);
}

void config_print_probe_opts(FILE *f, const struct probe_opts *o)
{
	for (size_t k = 0; k < N_PROBE_KEYS; k++)
		probe_key_print(o, &probe_keys[k], f);
}

int config_probe_opt_value(struct probe_opts *o, const char *key, const char *value, char *err,
			   size_t errlen)
{
	int i = config_probe_key_find(key);
	if (i < 0) {
		config_seterr(err, errlen, "unknown probe option '%s'", key);
		return -1;
	}
	return probe_key_set(o, &probe_keys[i], value, err, errlen);
}

int config_set_probe_opt(struct probe_opts *o, const char *key, const char *value, char *err,
			 size_t errlen)
{
	char why[256];
	int i = config_probe_key_find(key);
	if (i < 0) {
		config_seterr(err, errlen, "unknown probe option '%s'", key);
		return -1;
	}
	if (probe_key_set(o, &probe_keys[i], value, why, sizeof(why)) < 0) {
		config_seterr(err, errlen, "%s: %s", key, why);
		return -1;
	}
	return 0;
}

void config_fsm_params(const struct probe_opts *o, struct fsm_params *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = o->kind;
	p->syn = o->syn;
	p->ecn = o->ecn;
	p->synack_wait_ns = o->check_synack_retransmit && o->kind == PROBE_SYN ? FSM_SYNACK_WAIT_NS : 0;
	p->window = o->window;
	p->retries = o->retries;
	p->rto_ns = o->timeout_ns;
	p->fin_wait_2_ns = o->fin_wait_2_ns;
	p->time_wait_ns = o->time_wait_ns;
	p->hold_ns = o->hold_ns;
	p->max_hops = o->max_hops;
}

/* ---- the table, for its readers ----------------------------------------- */

size_t config_keys(enum config_key_section s)
{
	return s == CONFIG_KEYS_PROBE ? N_PROBE_KEYS : config_sect_keys(s);
}

void config_key_info(enum config_key_section s, size_t i, struct config_key_info *out)
{
	memset(out, 0, sizeof(*out));
	if (s != CONFIG_KEYS_PROBE) {
		config_sect_key_info(s, i, out);
	} else {
		out->name = probe_keys[i].name;
		out->def = probe_keys[i].def;
		memcpy(out->opts, probe_keys[i].opts, sizeof(out->opts));
		out->opt_def = probe_keys[i].opt_def;
		out->duration = probe_keys[i].type == PT_DUR || probe_keys[i].type == PT_DUR_OFF;
	}
}

/* ---- defaults ------------------------------------------------------------ */

void config_probe_defaults(struct probe_opts *o)
{
	char err[128];
	memset(o, 0, sizeof(*o));
	for (size_t k = 0; k < N_PROBE_KEYS; k++)
		if (probe_key_set(o, &probe_keys[k], probe_keys[k].def, err, sizeof(err)) < 0)
			log_bare(LOG_LVL_ERR, "built-in default %s: %s", probe_keys[k].name, err);
}

void config_probe_opt_defaults(struct probe_opts *o)
{
	char err[128];
	config_probe_defaults(o);
	for (size_t k = 0; k < N_PROBE_KEYS; k++)
		if (probe_keys[k].opt_def &&
		    probe_key_set_as(o, &probe_keys[k], probe_keys[k].opt_def, true, err,
				     sizeof(err)) < 0)
			log_bare(LOG_LVL_ERR, "built-in option default %s: %s", probe_keys[k].name,
				 err);
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	config_sect_defaults(CONFIG_KEYS_DAEMON, &c->d);
	config_probe_defaults(&c->defaults);
}
