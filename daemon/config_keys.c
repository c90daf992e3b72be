/* config_keys.c: the probe keys' table, built from its rows
 * (config_keys.h): their parsers, printers and defaults, and the readers'
 * view of every key table (config_keys(), config_key_info(); the other
 * sections' tables are config_sections.c's).
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_priv.h"
#include "flows.h"
#include "fsm.h"
#include "log.h"
#include "trace.h"

static const char *const family_names[7] = {
	[FAMILY_ANY] = "any", [FAMILY_V4] = "ipv4", [FAMILY_V6] = "ipv6",
};

/* ---- probe options ------------------------------------------------------ */

/* The types of config_keys.h. PT_DUR_OFF: a duration in min..max, or off
 * (stored as 0; "0" reads as off too). */
enum pk_type { PT_KIND, PT_FAMILY, PT_U8, PT_U16, PT_PORT, PT_TOS, PT_MSS, PT_WSCALE, PT_DUR,
	       PT_DUR_OFF, PT_BOOL, PT_SYN_BOOL };

/* One row of config_keys.h: min/max are ns for durations, def is the
 * built-in default as a file would write it; opts, opt_def, opt_min0 and
 * doc as config_keys.h says. */
struct probe_key {
	const char *name;
	enum pk_type type;
	size_t off, size;
	unsigned long long min, max;
	const char *def;
	struct config_key_opt opts[CONFIG_KEY_OPTS];
	const char *opt_def;
	bool opt_min0;
	const char *doc;
	bool target_only;
};

static const struct probe_key probe_keys[] = {
#define PK_ROW(n, f, t, lo, hi, d, ...) \
	{ .name = n, .type = PT_##t, .off = offsetof(struct probe_opts, f), \
	  .size = sizeof(((struct probe_opts *)0)->f), .min = lo, .max = hi, .def = d, __VA_ARGS__ },
	PROBE_KEYS(PK_ROW)
#undef PK_ROW
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
	case PT_U8:
	case PT_U16:
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
	case PT_SYN_BOOL:
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
	case PT_U8:
	case PT_U16:
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
	case PT_SYN_BOOL:
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
	case PT_SYN_BOOL:
		v->type = CONFIG_VAL_BOOL;
		v->b = *(const bool *)field;
		return;
	case PT_WSCALE:
		v->type = CONFIG_VAL_INT;
		v->i = o->syn.wscale;
		return;
	case PT_U8:
	case PT_U16:
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

/* What a key of type t takes, as struct config_key_info's syntax says. */
static void probe_key_syntax(enum pk_type t, char *buf, size_t len)
{
	static const char *const fixed[] = {
		[PT_U8] = "N", [PT_U16] = "N", [PT_TOS] = "N", [PT_PORT] = "PORT",
		[PT_MSS] = "N|off", [PT_WSCALE] = "N|off", [PT_DUR] = "DURATION",
		[PT_DUR_OFF] = "DURATION|off", [PT_BOOL] = "BOOLEAN", [PT_SYN_BOOL] = "BOOLEAN",
	};
	size_t l = 0;
	buf[0] = '\0';
	if (t == PT_KIND) {
		for (int k = 0; k < PROBE_KIND_COUNT; k++)
			l += (size_t)snprintf(buf + l, len - l, "%s%s", k ? "|" : "",
					      probe_kind_str((enum probe_kind)k));
	} else if (t == PT_FAMILY) {
		for (size_t w = 0; w < sizeof(family_names) / sizeof(family_names[0]); w++)
			if (family_names[w])
				l += (size_t)snprintf(buf + l, len - l, "%s%s", l ? "|" : "",
						      family_names[w]);
	} else if (fixed[t]) {
		snprintf(buf, len, "%s", fixed[t]);
	}
}

void config_key_info(enum config_key_section s, size_t i, struct config_key_info *out)
{
	memset(out, 0, sizeof(*out));
	if (s != CONFIG_KEYS_PROBE) {
		config_sect_key_info(s, i, out);
	} else {
		const struct probe_key *k = &probe_keys[i];
		out->name = k->name;
		out->def = k->def;
		memcpy(out->opts, k->opts, sizeof(out->opts));
		out->opt_def = k->opt_def;
		out->duration = k->type == PT_DUR || k->type == PT_DUR_OFF;
		probe_key_syntax(k->type, out->syntax, sizeof(out->syntax));
		if (k->max && k->type != PT_MSS && k->type != PT_WSCALE) {
			out->min = k->min;
			out->max = k->max;
		}
		out->doc = k->doc;
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

void config_probe_oneshot_base(struct probe_opts *o)
{
	struct probe_opts d;
	config_probe_defaults(&d);
	for (size_t k = 0; k < N_PROBE_KEYS; k++)
		if (probe_keys[k].target_only)
			memcpy((char *)o + probe_keys[k].off, (const char *)&d + probe_keys[k].off,
			       probe_keys[k].size);
}

const char *config_probe_target_only_set(const struct probe_opts *o)
{
	struct probe_opts d;
	config_probe_defaults(&d);
	for (size_t k = 0; k < N_PROBE_KEYS; k++)
		if (probe_keys[k].target_only &&
		    memcmp((const char *)o + probe_keys[k].off, (const char *)&d + probe_keys[k].off,
			   probe_keys[k].size))
			return probe_keys[k].name;
	return NULL;
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
