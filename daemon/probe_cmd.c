/* probe_cmd.c: `tcpprobe probe`: the engine, one-shot, from a shell. */
#include "probe_cmd.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "addrpolicy.h"
#include "commands.h"
#include "engine.h"
#include "flows.h"
#include "hostport.h"
#include "json.h"
#include "log.h"
#include "outcome.h"
#include "probe_flows.h"
#include "report.h"
#include "timens.h"

struct ptarget;
/* One launched probe: the report callback's argument, so a result line
 * carries its launch order (seq=) whatever order the results come in. */
struct pseq {
	struct ptarget *t;
	unsigned seq;
	unsigned flow; /* 0-based; flows > 1 only */
};

struct ptarget {
	struct probe_state *ps;
	struct pseq *seqs; /* count of them, allocated at the first launch */
	char name[300];
	struct pkt_addr addr, src;
	uint16_t port;
	unsigned ifindex;         /* zone of a link-local IPv6 address, else 0 */
	unsigned sent, done, up;
	unsigned not_sent;        /* could not start (r->error): not sent, not in by_result */
	unsigned by_result[RESULT_COUNT], by_close[CLOSE_COUNT];
	double rtt_min, rtt_max, rtt_sum, rtt_sq; /* ms, over ok probes with an RTT */
	unsigned rtt_n;
	double conn_min, conn_max, conn_sum, conn_sq; /* ms, first SYN -> SYN/ACK */
	unsigned conn_n, ambiguous;
	struct event *tick;
	struct pflows *flows;     /* flows > 1: each flow's rounds, else NULL */
};

struct probe_state {
	struct event_base *base;
	struct engine *eng;
	struct engine_profile *prof;
	struct ptarget *t;
	unsigned nt;
	unsigned count;
	unsigned flows;           /* probes per round, one per flow */
	uint64_t interval_ns;
	bool json, trace, interrupted;
	struct event *check_ev;
	struct jbuf jb;
};

/* An option as messages name it: "-t/--timeout", "-4", "--no-sack". */
static const char *opt_label(const struct config_key_opt *o, char *buf, size_t len)
{
	if (o->short_opt && o->name)
		snprintf(buf, len, "-%c/--%s", o->short_opt, o->name);
	else if (o->short_opt)
		snprintf(buf, len, "-%c", o->short_opt);
	else
		snprintf(buf, len, "--%s", o->name);
	return buf;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tcpprobe probe [options] HOST[:PORT]...\n"
		"\n"
		"  -c, --count N          probes per target (default 1)\n"
		"  -s, --source-port P    use this source port (default: from the range)\n"
		"      --source-ports L-H source port range\n"
		"      --json             one JSON object per probe per line\n"
		"      --trace            draw each probe's timeline\n"
		"      --rst-guard MODE   nft (default) | none (you drop the kernel's RSTs yourself)\n"
		"  -v, --verbose          debug logging\n"
		"Each probe key of tcpprobe.conf(5) is an option too:\n");
	/* The probe keys' options: from the key table (config_keys.h). */
	for (size_t k = 0; k < config_keys(CONFIG_KEYS_PROBE); k++) {
		struct config_key_info ki;
		config_key_info(CONFIG_KEYS_PROBE, k, &ki);
		for (size_t j = 0; j < CONFIG_KEY_OPTS && ki.opts[j].help; j++) {
			const struct config_key_opt *o = &ki.opts[j];
			char left[64];
			size_t l = o->short_opt ? (size_t)snprintf(left, sizeof(left), "-%c%s",
								     o->short_opt, o->name ? ", " : "")
						: (size_t)snprintf(left, sizeof(left), "    ");
			if (o->name)
				l += (size_t)snprintf(left + l, sizeof(left) - l, "--%s", o->name);
			if (o->arg)
				snprintf(left + l, sizeof(left) - l, " %s", o->arg);
			/* A long one gets a line of its own. */
			fprintf(f, "  %-22s%s%s", left, strlen(left) > 22 ? "\n" : " ",
				strlen(left) > 22 ? "                         " : "");
			fputs(o->help, f);
			if (o->arg)
				fprintf(f, " (default %s)", ki.opt_def ? ki.opt_def : ki.def);
			fputc('\n', f);
		}
	}
	fprintf(f,
		"\n"
		"Numbers are decimal. Durations take units (250ms, 2s) or plain seconds (0.25),\n"
		"within the config's ranges. IPv6 with a port: [ADDR]:PORT; link-local with\n"
		"its interface: [fe80::1%%eth0]:80.\n"
		"Exit status: 0 every probe got its kind's answer (syn, handshake: ok;\n"
		"fin: closed or silent; trace: ok, the target answered), 1 otherwise, 2 usage\n"
		"error. Ctrl-C prints the summary and exits as if the probes finished by then\n"
		"were all there were.\n");
}

/* Options are checked by the config's own parsers, so that `-t 2m` and
 * `timeout = 2m` are refused alike, with the same reason. A plain number
 * is seconds (ping's habit): "0.25" is read as "0.25s". */
static int dur_arg(const char *s, char *buf, size_t len)
{
	if (*s && strspn(s, "0123456789.") == strlen(s) && strcmp(s, "0")) {
		snprintf(buf, len, "%ss", s);
		return 0;
	}
	snprintf(buf, len, "%s", s);
	return 0;
}

static int opt_key(struct probe_opts *po, const char *opt, size_t key, const char *v,
		   bool duration)
{
	char why[256], buf[64];
	if (duration)
		dur_arg(v, buf, sizeof(buf));
	if (config_probe_opt_set(po, key, duration ? buf : v, why, sizeof(why)) < 0) {
		/* Quote what was typed ("7200"), not what the parser saw ("7200s"). */
		char q[80], *at;
		snprintf(q, sizeof(q), "'%s'", buf);
		if (duration && strcmp(buf, v) && (at = strstr(why, q)))
			fprintf(stderr, "tcpprobe probe: %s: %.*s'%s'%s\n", opt, (int)(at - why), why, v,
				at + strlen(q));
		else
			fprintf(stderr, "tcpprobe probe: %s: %s\n", opt, why);
		return -1;
	}
	return 0;
}

static bool all_done(const struct probe_state *ps)
{
	for (unsigned i = 0; i < ps->nt; i++)
		if (ps->t[i].done < ps->count * ps->flows)
			return false;
	return engine_busy(ps->eng) == 0;
}

static void stat_add(double ms, double *min, double *max, double *sum, double *sq, unsigned *n)
{
	if (!*n || ms < *min)
		*min = ms;
	if (!*n || ms > *max)
		*max = ms;
	*sum += ms;
	*sq += ms * ms;
	(*n)++;
}

static void stat_print(const char *what, double min, double max, double sum, double sq,
		       unsigned n, const char *note)
{
	double avg = sum / n, var = sq / n - avg * avg;
	printf("%s min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms%s\n", what, min, avg, max,
	       var > 0 ? sqrt(var) : 0.0, note);
}

/* flows > 1: where a target's rounds and flows table go (probe_flows). */
static void flows_out(const struct ptarget *t, struct pflows_out *o)
{
	*o = (struct pflows_out){ .f = stdout, .j = t->ps->json ? &t->ps->jb : NULL,
				  .target = t->name, .addr = &t->addr, .port = t->port,
				  .name_target = t->ps->nt > 1 };
}

/* After a round's last probe: its line, or its JSON object. */
static void round_out(const struct ptarget *t, unsigned round)
{
	struct pflows_out o;
	flows_out(t, &o);
	pflows_round(&o, t->flows, round);
}

static void on_report(void *arg, const struct probe_report *r)
{
	const struct pseq *q = arg;
	struct ptarget *t = q->t;
	struct probe_state *ps = t->ps;
	t->done++;
	if (r->error) {
		/* It never started: an error result, but not a probe sent. */
		if (!t->not_sent++)
			fprintf(stderr, "tcpprobe probe: %s: probe %u not sent: %s%s\n", t->name, q->seq,
				r->error, ps->count > q->seq ? " (later ones not sent are only counted)" : "");
	} else if (r->result < RESULT_COUNT) {
		t->by_result[r->result]++;
	}
	if (r->close_result < CLOSE_COUNT)
		t->by_close[r->close_result]++;
	if (probe_up((enum probe_kind)r->kind, (enum probe_result)r->result))
		t->up++;
	/* Every timed handshake, whatever came after it (a reset, say). Karn:
	 * an ambiguous handshake has no RTT, only a connect time. */
	if (r->ph.handshake)
		stat_add(r->ph.handshake / 1e6, &t->rtt_min, &t->rtt_max, &t->rtt_sum, &t->rtt_sq,
			 &t->rtt_n);
	if (r->ph.connect)
		stat_add(r->ph.connect / 1e6, &t->conn_min, &t->conn_max, &t->conn_sum, &t->conn_sq,
			 &t->conn_n);
	t->ambiguous += r->ph.rtt_ambiguous;
	bool round_end = t->flows && pflows_record(t->flows, q->flow, q->seq - 1, r);
	if (ps->json) {
		jb_reset(&ps->jb);
		report_json(&ps->jb, t->name, r);
		if (ps->jb.p)
			printf("%s\n", ps->jb.p);
	} else {
		report_line(stdout, t->name, q->seq, r);
		if (ps->trace)
			report_trace(stdout, r);
	}
	if (round_end)
		round_out(t, q->seq - 1);
	fflush(stdout);
}

/* Probe `flow` (0-based) of round t->sent (one call per flow of a round;
 * the last one advances the round). */
static void launch_one(struct ptarget *t, unsigned flow)
{
	struct probe_state *ps = t->ps;
	char err[256];
	struct engine_probe p = {
		.dst = t->addr, .src = t->src, .dport = t->port, .ifindex = t->ifindex,
		.profile = ps->prof,
		.timeline = ps->trace || ps->json, .cb = on_report,
	};
	if (t->flows) {
		p.sport = pflows_port(t->flows, flow);
		p.flow = (uint8_t)(flow + 1);
	}
	if (!t->seqs && !(t->seqs = calloc((size_t)ps->count * ps->flows, sizeof(*t->seqs)))) {
		fprintf(stderr, "tcpprobe probe: out of memory\n");
		t->sent++;
		t->done += ps->flows;
		t->by_result[RESULT_ERROR] += ps->flows;
		return;
	}
	struct pseq *q = &t->seqs[(size_t)t->sent * ps->flows + flow];
	*q = (struct pseq){ .t = t, .seq = t->sent + 1, .flow = flow };
	p.arg = q;
	if (flow + 1 == ps->flows)
		t->sent++;
	if (engine_start(ps->eng, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "tcpprobe probe: %s\n", err);
		t->done++;
		t->not_sent++;
		if (t->flows && pflows_not_sent(t->flows, flow, q->seq - 1))
			round_out(t, q->seq - 1);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ptarget *t = arg;
	for (unsigned f = 0; t->sent < t->ps->count && f < t->ps->flows; f++)
		launch_one(t, f);
	if (t->sent < t->ps->count) {
		struct timeval tv = ns_timeval(t->ps->interval_ns);
		evtimer_add(t->tick, &tv);
	}
}

static void on_check(evutil_socket_t fd, short what, void *arg)
{
	struct probe_state *ps = arg;
	if (all_done(ps))
		event_base_loopbreak(ps->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct probe_state *ps = arg;
	ps->interrupted = true;
	event_base_loopbreak(ps->base);
}

/* "N probes sent, 3 ok, 1 refused, 1 timeout, 20.0% loss": the kind's own
 * answers always, other results when they happened; loss is the share
 * nothing answered (probes/outcome.c). Then the close results, if any. */
static void summary(const struct probe_state *ps)
{
	enum probe_kind k = ps->prof->fp.kind;
	for (unsigned i = 0; i < ps->nt; i++) {
		const struct ptarget *t = &ps->t[i];
		char a[64];
		printf("\n--- %s [%s]:%u tcpprobe %s statistics ---\n", t->name,
		       pkt_addr_str(&t->addr, a, sizeof(a)), t->port, probe_kind_str(k));
		unsigned sent = t->done - t->not_sent, lost = 0;
		printf("%u probes sent", sent);
		/* The kind's answers first, then the rest. */
		for (int up = 1; up >= 0; up--)
			for (unsigned r = RESULT_OK; r < RESULT_COUNT; r++) {
				enum probe_outcome o = probe_outcome(k, (enum probe_result)r);
				if ((o == OUTCOME_UP) != up)
					continue;
				if (o == OUTCOME_UNANSWERED)
					lost += t->by_result[r];
				if (t->by_result[r] || up)
					printf(", %u %s", t->by_result[r],
					       probe_result_str((enum probe_result)r));
			}
		printf(", %.1f%% loss", sent ? 100.0 * lost / sent : 0.0);
		if (t->not_sent)
			printf("; %u not sent (error)", t->not_sent);
		putchar('\n');
		const char *sep = "close: ";
		for (unsigned r = CLOSE_OK; r < CLOSE_COUNT; r++)
			if (t->by_close[r]) {
				printf("%s%u %s", sep, t->by_close[r], close_result_str((enum close_result)r));
				sep = ", ";
			}
		if (*sep == ',')
			putchar('\n');
		if (t->rtt_n)
			stat_print("rtt", t->rtt_min, t->rtt_max, t->rtt_sum, t->rtt_sq, t->rtt_n, "");
		/* Only when it says something the rtt line does not. */
		if (t->ambiguous) {
			char note[96];
			snprintf(note, sizeof(note), " (%u with a retransmitted SYN: rtt ambiguous)",
				 t->ambiguous);
			stat_print("connect", t->conn_min, t->conn_max, t->conn_sum, t->conn_sq,
				   t->conn_n, note);
		}
		if (t->flows) {
			struct pflows_out o;
			flows_out(t, &o);
			pflows_summary(&o, t->flows);
		}
	}
}

/* OPT_KEY + k * CONFIG_KEY_OPTS + j: option j of probe key k. */
enum { OPT_JSON = 256, OPT_TRACE, OPT_RST_GUARD, OPT_SPORTS, OPT_KEY = 512 };
#define KEY_OPTS_MAX 48

/* fixed[] and then the key table's options: opts (0-terminated) and the
 * getopt short-option string. */
struct key_opts {
	struct option opts[KEY_OPTS_MAX + 16];
	char shorts[96];
};

static int key_opts_build(struct key_opts *ko, const struct option *fixed, const char *shorts)
{
	size_t n = 0;
	for (; fixed[n].name; n++)
		ko->opts[n] = fixed[n];
	snprintf(ko->shorts, sizeof(ko->shorts), "%s", shorts);
	for (size_t k = 0; k < config_keys(CONFIG_KEYS_PROBE); k++) {
		struct config_key_info ki;
		config_key_info(CONFIG_KEYS_PROBE, k, &ki);
		for (size_t j = 0; j < CONFIG_KEY_OPTS && ki.opts[j].help; j++) {
			const struct config_key_opt *o = &ki.opts[j];
			int has = o->arg ? required_argument : no_argument;
			if (n >= KEY_OPTS_MAX || (o->short_opt && strchr(ko->shorts, o->short_opt))) {
				fprintf(stderr, "tcpprobe probe: option table: -%c twice, or over %d options\n",
					o->short_opt, KEY_OPTS_MAX);
				return -1;
			}
			if (o->name)
				ko->opts[n++] = (struct option){ o->name, has, 0,
								 OPT_KEY + (int)(k * CONFIG_KEY_OPTS + j) };
			if (o->short_opt) {
				size_t l = strlen(ko->shorts);
				snprintf(ko->shorts + l, sizeof(ko->shorts) - l, "%c%s", o->short_opt,
					 o->arg ? ":" : "");
			}
		}
	}
	ko->opts[n] = (struct option){ 0, 0, 0, 0 };
	return 0;
}

/* The key option getopt returned as c (OPT_KEY + ..., or a short letter):
 * its key and option index, or -1. */
static int key_of_opt(int c, size_t *j)
{
	for (size_t k = 0; k < config_keys(CONFIG_KEYS_PROBE); k++) {
		struct config_key_info ki;
		config_key_info(CONFIG_KEYS_PROBE, k, &ki);
		for (size_t i = 0; i < CONFIG_KEY_OPTS && ki.opts[i].help; i++)
			if (c == OPT_KEY + (int)(k * CONFIG_KEY_OPTS + i) ||
			    (ki.opts[i].short_opt && c == ki.opts[i].short_opt)) {
				*j = i;
				return (int)k;
			}
	}
	return -1;
}

int probe_main(int argc, char **argv)
{
	static const struct option fixed[] = {
		{ "count", required_argument, 0, 'c' },
		{ "source-port", required_argument, 0, 's' },
		{ "source-ports", required_argument, 0, OPT_SPORTS },
		{ "json", no_argument, 0, OPT_JSON },      { "trace", no_argument, 0, OPT_TRACE },
		{ "rst-guard", required_argument, 0, OPT_RST_GUARD },
		{ "verbose", no_argument, 0, 'v' },        { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	log_init("tcpprobe probe", LOG_LVL_INFO);
	struct config cfg;
	config_defaults(&cfg);
	struct probe_opts po;
	config_probe_opt_defaults(&po);
	struct probe_state ps = { .count = 1 };
	bool guard = cfg.d.rst_guard == RST_GUARD_NFT;
	long sport = -1;
	uint16_t sp_lo = cfg.d.sport_lo, sp_hi = cfg.d.sport_hi;
	/* Per probe key, 1 + the flag that set it: two flags of one key that
	 * set it differently (-4 -6) conflict. */
	uint8_t flag_of[config_keys(CONFIG_KEYS_PROBE)];
	int c;

	static struct key_opts ko;
	config_free(&cfg);
	memset(flag_of, 0, sizeof(flag_of));
	if (key_opts_build(&ko, fixed, "c:s:vh") < 0)
		return 2;
	optind = 1;
	while ((c = getopt_long(argc, argv, ko.shorts, ko.opts, NULL)) != -1) {
		size_t j;
		int key = key_of_opt(c, &j);
		if (key >= 0) {
			/* Checked by the key's own parser: `-t 2m` and `timeout = 2m`
			 * are refused alike. */
			struct config_key_info ki;
			char label[48];
			config_key_info(CONFIG_KEYS_PROBE, (size_t)key, &ki);
			const struct config_key_opt *o = &ki.opts[j];
			opt_label(o, label, sizeof(label));
			if (o->set && flag_of[key] && flag_of[key] != j + 1 &&
			    strcmp(ki.opts[flag_of[key] - 1].set, o->set)) {
				char other[48];
				fprintf(stderr, "tcpprobe probe: %s and %s conflict: give one of them\n",
					opt_label(&ki.opts[flag_of[key] - 1], other, sizeof(other)), label);
				return 2;
			}
			if (o->set)
				flag_of[key] = (uint8_t)(j + 1);
			if (opt_key(&po, label, (size_t)key, o->arg ? optarg : o->set, ki.duration) < 0)
				return 2;
			continue;
		}
		switch (c) {
		case 'c': {
			unsigned long long n;
			char why[160];
			if (config_parse_uint(optarg, 1, 1000000, &n, why, sizeof(why)) < 0) {
				fprintf(stderr, "tcpprobe probe: -c/--count: %s\n", why);
				return 2;
			}
			ps.count = (unsigned)n;
			break;
		}
		case 's': {
			uint16_t p;
			char why[160];
			if (config_parse_port(optarg, &p, why, sizeof(why)) < 0) {
				fprintf(stderr, "tcpprobe probe: -s/--source-port: %s\n", why);
				return 2;
			}
			sport = p;
			break;
		}
		case OPT_SPORTS: {
			char why[160];
			if (config_parse_port_range(optarg, &sp_lo, &sp_hi, why, sizeof(why)) < 0) {
				fprintf(stderr, "tcpprobe probe: --source-ports: %s\n", why);
				return 2;
			}
			break;
		}
		case OPT_JSON:
			ps.json = true;
			break;
		case OPT_TRACE:
			ps.trace = true;
			break;
		case OPT_RST_GUARD: {
			/* external is the daemon's (a unit's ExecStartPre=): a one-shot
			 * run installs its own table or none. */
			int g = config_rst_guard_from_str(optarg);
			if (g == RST_GUARD_NFT || g == RST_GUARD_NONE)
				guard = g == RST_GUARD_NFT;
			else {
				fprintf(stderr, "tcpprobe probe: --rst-guard: '%s' is not nft or none\n", optarg);
				return 2;
			}
			break;
		}
		case 'v':
			log_init("tcpprobe probe", LOG_LVL_DEBUG);
			break;
		default: /* 'h', or an option getopt did not know */
			return cmd_usage(c, usage);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "tcpprobe probe: no target given\n");
		usage(stderr);
		return 2;
	}
	ps.flows = po.flows;
	if (sport > 0 && ps.flows > 1) {
		fprintf(stderr, "tcpprobe probe: -s/--source-port and --flows %u conflict: each flow "
			"has a port of its own (give a range with --source-ports)\n", ps.flows);
		return 2;
	}
	if (config_flows_hold_conflict(&po) && ps.count > 1) {
		char iv[32], hd[32];
		fprintf(stderr, "tcpprobe probe: --flows %u needs -i/--interval (%s) above --hold "
			"(%s): each flow's probe would still be open at the next round\n", ps.flows,
			config_duration_str(po.interval_ns, iv, sizeof(iv)),
			config_duration_str(po.hold_ns, hd, sizeof(hd)));
		return 2;
	}
	/* Each flow's result of every round is kept (quantiles, jitter). */
	if ((uint64_t)ps.count * ps.flows > 1000000) {
		fprintf(stderr, "tcpprobe probe: --flows %u -c %u: at most 1,000,000 probes per "
			"target\n", ps.flows, ps.count);
		return 2;
	}
	if (sport > 0) {
		sp_lo = sp_hi = (uint16_t)sport;
	}
	ps.interval_ns = po.interval_ns;

	int rc = 1;
	ps.nt = (unsigned)(argc - optind);
	ps.t = calloc(ps.nt, sizeof(*ps.t));
	if (!ps.t)
		return 1;
	for (unsigned i = 0; i < ps.nt; i++) {
		struct ptarget *t = &ps.t[i];
		char host[256], err[300];
		t->ps = &ps;
		t->port = po.port;
		if (config_parse_hostport(argv[optind + i], host, sizeof(host), &t->port, err, sizeof(err)) < 0) {
			fprintf(stderr, "tcpprobe probe: %s\n", err);
			free(ps.t);
			return 2;
		}
		snprintf(t->name, sizeof(t->name), "%s", host);
		/* What the operator typed is wrong (an address of the other
		 * family, a forbidden one): 2; the world is (no such name, no
		 * route): 1. */
		int r = hostport_resolve_scoped(host, po.family, &t->addr, &t->ifindex, err, sizeof(err));
		if (r == HOSTPORT_BAD_ARG) {
			fprintf(stderr, "tcpprobe probe: %s\n", err);
			free(ps.t);
			return 2;
		}
		if (r == 0 && addrpolicy_check(&t->addr, NULL, err, sizeof(err)) < 0) {
			fprintf(stderr, "tcpprobe probe: %s\n", err);
			free(ps.t);
			return 2;
		}
		if (r == 0 && t->addr.family == AF_INET6 && t->addr.a[0] == 0xfe &&
		    (t->addr.a[1] & 0xc0) == 0x80 && !t->ifindex) {
			fprintf(stderr, "tcpprobe probe: %s is link-local: name its interface, as in "
				"[%s%%eth0]:%u\n", host, host, t->port);
			free(ps.t);
			return 2;
		}
		if (r < 0 ||
		    engine_source_addr_scoped(&t->addr, t->ifindex, &t->src, err, sizeof(err)) < 0) {
			fprintf(stderr, "tcpprobe probe: %s\n", err);
			free(ps.t);
			return 1;
		}
	}

	struct fsm_params fp;
	config_fsm_params(&po, &fp);
	ps.prof = engine_profile_new(&fp, po.ttl, po.tos);
	if (ps.prof) {
		ps.prof->expect_mss = po.expect_mss;
		ps.prof->flow_label = ps.flows > 1;
	}
	ps.base = event_base_new();
	if (!ps.prof || !ps.base) {
		fprintf(stderr, "tcpprobe probe: out of memory\n");
		goto out;
	}
	struct engine_cfg ec = { .sport_lo = sp_lo, .sport_hi = sp_hi, .max_inflight = 0, .pps = 0,
				 .rst_guard = guard, .quiet = true };
	char err[512];
	ps.eng = engine_new(ps.base, &ec, err, sizeof(err));
	if (!ps.eng) {
		fprintf(stderr, "tcpprobe probe: %s\n", err);
		goto out;
	}
	/* Each flow's port for the whole run, no other probe's. */
	for (unsigned i = 0; ps.flows > 1 && i < ps.nt; i++) {
		struct ptarget *t = &ps.t[i];
		uint16_t ports[FLOWS_MAX];
		if (!(t->flows = pflows_new(ps.flows, ps.count))) {
			fprintf(stderr, "tcpprobe probe: out of memory\n");
			engine_free(ps.eng);
			goto out;
		}
		if (engine_ports_reserve(ps.eng, &t->addr, t->port, ps.flows, ports, err,
					 sizeof(err)) < 0) {
			fprintf(stderr, "tcpprobe probe: %s: %s\n", t->name, err);
			rc = 2;
			engine_free(ps.eng);
			goto out;
		}
		for (unsigned f = 0; f < ps.flows; f++)
			pflows_set_port(t->flows, f, ports[f]);
	}
	jb_init(&ps.jb);
	struct event *sigint = evsignal_new(ps.base, SIGINT, on_signal, &ps);
	struct event *sigterm = evsignal_new(ps.base, SIGTERM, on_signal, &ps);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	ps.check_ev = event_new(ps.base, -1, EV_PERSIST, on_check, &ps);
	struct timeval check_tv = { 0, 20000 };
	evtimer_add(ps.check_ev, &check_tv);
	for (unsigned i = 0; i < ps.nt; i++) {
		ps.t[i].tick = evtimer_new(ps.base, on_tick, &ps.t[i]);
		on_tick(-1, 0, &ps.t[i]);
	}
	event_base_dispatch(ps.base);

	if (!ps.json)
		summary(&ps);
	for (unsigned i = 0; ps.json && i < ps.nt; i++)
		if (ps.t[i].flows) {
			struct pflows_out o;
			flows_out(&ps.t[i], &o);
			pflows_summary(&o, ps.t[i].flows);
		}
	/* Ctrl-C ends the run as ping's does: the probes that finished
	 * decide (those in flight are aborted and not counted); none at all
	 * is a failure. */
	unsigned finished = 0;
	rc = 0;
	for (unsigned i = 0; i < ps.nt; i++) {
		finished += ps.t[i].done;
		if (ps.t[i].up != (ps.interrupted ? ps.t[i].done : ps.count * ps.flows))
			rc = 1;
	}
	if (!finished)
		rc = 1;
	for (unsigned i = 0; i < ps.nt; i++)
		event_free(ps.t[i].tick);
	event_free(ps.check_ev);
	event_free(sigint);
	event_free(sigterm);
	engine_free(ps.eng);
	jb_free(&ps.jb);
out:
	engine_profile_unref(ps.prof);
	if (ps.base)
		event_base_free(ps.base);
	for (unsigned i = 0; ps.t && i < ps.nt; i++) {
		free(ps.t[i].seqs);
		pflows_free(ps.t[i].flows);
	}
	free(ps.t);
	return rc;
}
