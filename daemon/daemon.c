/* daemon.c: `tcpprobe daemon`: lifecycle, the target registry, reload,
 * signals, status. Scheduling and results live in sched.c. */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addrpolicy.h"
#include "discovery.h"
#include "labels.h"
#include "daemon_priv.h"
#include "hostport.h"
#include "log.h"
#include "notify.h"
#include "privs.h"
#include "remote_write.h"
#include "rstguard.h"

#define DEFAULT_CONFIG "/etc/tcpprobe/tcpprobe.conf"

struct event_base *daemon_base(struct daemon *d) { return d->base; }
struct remote_writers *daemon_remote_writers(struct daemon *d) { return d->rw; }
const struct config *daemon_config(struct daemon *d) { return &d->cfg; }
size_t daemon_target_count(struct daemon *d) { return d->nt; }
struct target *daemon_target_at(struct daemon *d, size_t i) { return i < d->nt ? d->t[i] : NULL; }

/* ---- the name index (open addressing, linear probing) ---- */

/* Build an index for d->t[0..nt) into a fresh array: the current index
 * stays valid until the caller commits the new one (idx_commit), so a
 * failed allocation changes nothing. */
static struct target **idx_build(struct daemon *d, size_t *mask)
{
	size_t n = 64;
	while (n < d->nt * 2 + 2)
		n *= 2;
	struct target **idx = calloc(n, sizeof(*idx));
	if (!idx)
		return NULL;
	for (size_t i = 0; i < d->nt; i++) {
		size_t k = config_name_hash(d->t[i]->cfg.name) & (n - 1);
		while (idx[k])
			k = (k + 1) & (n - 1);
		idx[k] = d->t[i];
	}
	*mask = n - 1;
	return idx;
}

static void idx_commit(struct daemon *d, struct target **idx, size_t mask)
{
	free(d->idx);
	d->idx = idx;
	d->idx_mask = mask;
}

/* Delete t from the index in place (backward-shift deletion, Knuth 6.4
 * algorithm R): no allocation, so removing a target cannot fail. */
static void idx_delete(struct daemon *d, const struct target *t)
{
	size_t m = d->idx_mask, i = config_name_hash(t->cfg.name) & m;
	while (d->idx[i] && d->idx[i] != t)
		i = (i + 1) & m;
	if (!d->idx[i])
		return;
	for (size_t j = (i + 1) & m; d->idx[j]; j = (j + 1) & m) {
		size_t home = config_name_hash(d->idx[j]->cfg.name) & m;
		/* Move j back to the hole at i unless its home lies in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			d->idx[i] = d->idx[j];
			i = j;
		}
	}
	d->idx[i] = NULL;
}

int daemon_index_rebuild(struct daemon *d)
{
	size_t mask;
	struct target **idx = idx_build(d, &mask);
	if (!idx)
		return -1;
	idx_commit(d, idx, mask);
	return 0;
}

struct target *daemon_target_find(struct daemon *d, const char *name)
{
	if (!d->idx)
		return NULL;
	for (size_t k = config_name_hash(name) & d->idx_mask; d->idx[k]; k = (k + 1) & d->idx_mask)
		if (!strcmp(d->idx[k]->cfg.name, name))
			return d->idx[k];
	return NULL;
}

/* Append t to the registry and its index; on failure (out of memory)
 * neither holds it and the caller still owns t. */
int daemon_registry_append(struct daemon *d, struct target *t)
{
	if (d->nt == d->t_cap) {
		size_t cap = d->t_cap ? d->t_cap * 2 : 64;
		struct target **a = realloc(d->t, cap * sizeof(*a));
		if (!a)
			return -1;
		d->t = a;
		d->t_cap = cap;
	}
	d->t[d->nt++] = t;
	if (!d->idx || d->nt * 2 + 2 > d->idx_mask + 1) {
		size_t mask;
		struct target **idx = idx_build(d, &mask);
		if (!idx) {
			d->nt--;
			return -1;
		}
		idx_commit(d, idx, mask);
		return 0;
	}
	size_t k = config_name_hash(t->cfg.name) & d->idx_mask;
	while (d->idx[k])
		k = (k + 1) & d->idx_mask;
	d->idx[k] = t;
	return 0;
}

/* Take t out of the registry and its index (the caller still owns t). */
void daemon_registry_remove(struct daemon *d, struct target *t)
{
	size_t i = 0;
	while (i < d->nt && d->t[i] != t)
		i++;
	if (i == d->nt)
		return;
	memmove(&d->t[i], &d->t[i + 1], (d->nt - i - 1) * sizeof(d->t[0]));
	d->nt--;
	idx_delete(d, t);
}

/* ---- targets from config ---- */

/* Targets given as addresses (not names) are checked against the address
 * policy when the file is loaded, so that `daemon -n`, a start and a reload
 * all refuse a multicast, broadcast, unspecified or (unless allowed)
 * loopback or link-local target, or one the allow/deny lists exclude, with
 * FILE:LINE. A hostname is checked each time it is resolved: it may resolve
 * to anything, so a bad answer puts that target in state error instead. */
static int check_target_policy(const struct config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->ntargets; i++) {
		const struct target_cfg *tc = &c->targets[i];
		struct pkt_addr a;
		char why[200];
		if (config_parse_address(tc->host, &a, NULL, 0, why, sizeof(why)) != 1)
			continue; /* a hostname (config_load refused anything else) */
		if (addrpolicy_check(&a, &c->d, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%d: target '%s': %s", c->path, tc->line, tc->name, why);
			return -1;
		}
	}
	return 0;
}

/* config_load plus the checks that need more than the file. */
static int load_config(const char *path, struct config *out, char *err, size_t errlen)
{
	if (config_load(path, out, err, errlen) < 0)
		return -1;
	if (check_target_policy(out, err, errlen) < 0) {
		config_free(out);
		return -1;
	}
	return 0;
}

static struct target *target_new_in(struct daemon *d, const struct target_cfg *tc,
				    struct target_slab *slab)
{
	struct target *t = target_alloc(slab);
	if (!t)
		return NULL;
	t->cfg = *tc;
	if (labels_dup(tc->labels, &t->cfg.labels) < 0) {
		target_dealloc(t);
		return NULL;
	}
	t->owner = d;
	t->st.last_result = RESULT_PENDING;
	char err[256];
	if (target_prepare(d, t, err, sizeof(err)) < 0) {
		target_destroy(t);
		return NULL;
	}
	/* A name is looked up off the loop; an address the policy refuses
	 * (checked at load already) stays, with its error shown. */
	if (resolve_target_begin(d, t, err, sizeof(err)) < 0)
		log_warnx("target %s: %s", t->cfg.name, err);
	return t;
}

struct target *daemon_target_new(struct daemon *d, const struct target_cfg *tc)
{
	return target_new_in(d, tc, NULL);
}

static bool same_target(const struct target_cfg *a, const struct target_cfg *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->host, b->host) &&
	       !memcmp(&a->opts, &b->opts, sizeof(a->opts));
}

int daemon_target_add(struct daemon *d, const char *name, const char *hostport, char *const *kv,
		      size_t nkv, char *err, size_t errlen)
{
	struct target_cfg tc;
	memset(&tc, 0, sizeof(tc));
	size_t nl = strlen(name);
	if (!config_name_valid(name)) {
		snprintf(err, errlen, "bad target name '%s' (1-63 of A-Z a-z 0-9 . _ - : [ ])", name);
		return -1;
	}
	if (daemon_target_find(d, name)) {
		snprintf(err, errlen, "target '%s' exists", name);
		return -1;
	}
	memcpy(tc.name, name, nl + 1);
	if (target_cfg_from_args(d, &tc, hostport, kv, nkv, err, errlen) < 0)
		return -1;
	struct target *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->cfg = tc;
	t->owner = d;
	t->st.last_result = RESULT_PENDING;
	/* ctl add is interactive: refuse an address that cannot be probed.
	 * A name is accepted and looked up off the loop: `ctl show` tells how
	 * that went. */
	if (target_prepare(d, t, err, errlen) < 0 || resolve_target_begin(d, t, err, errlen) < 0) {
		target_destroy(t);
		return -1;
	}
	if (daemon_registry_append(d, t) < 0) {
		target_destroy(t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sched_add(d, t, engine_now());
	sched_kick(d);
	log_info("target %s added (%s:%u, %s)", t->cfg.name, t->cfg.host, t->cfg.opts.port,
		 probe_kind_str(t->cfg.opts.kind));
	return 0;
}

int daemon_target_remove(struct daemon *d, const char *name, char *err, size_t errlen)
{
	struct target *t = daemon_target_find(d, name);
	if (!t) {
		snprintf(err, errlen, "no target '%s'", name);
		return -1;
	}
	daemon_registry_remove(d, t);
	sched_remove(d, t);
	log_info("target %s removed", name);
	return 0;
}

int daemon_target_pause(struct daemon *d, const char *name, bool pause, char *err, size_t errlen)
{
	if (name) {
		struct target *t = daemon_target_find(d, name);
		if (!t) {
			snprintf(err, errlen, "no target '%s'", name);
			return -1;
		}
		t->paused = pause;
	} else {
		for (size_t i = 0; i < d->nt; i++)
			d->t[i]->paused = pause;
	}
	log_info("%s %s", pause ? "paused" : "resumed", name ? name : "all targets");
	return 0;
}

/* Replace the target set with cfg's. Targets whose name and settings are
 * unchanged keep their object: history, counters and schedule. */
int daemon_apply_targets(struct daemon *d, const struct config *cfg, bool initial)
{
	struct target **old = d->t;
	size_t nold = d->nt, old_cap = d->t_cap;
	struct target **keep = NULL, **fresh = NULL;
	size_t nkeep = 0, nfresh = 0;
	if ((nold && !(keep = calloc(nold, sizeof(*keep)))) ||
	    (cfg->ntargets && !(fresh = calloc(cfg->ntargets, sizeof(*fresh))))) {
		free(keep);
		return -1;
	}
	d->t = NULL;
	d->nt = d->t_cap = 0;
	uint64_t skipped = 0;
	/* The first load of a big config: its targets in one block (targets.h). */
	struct target_slab *slab = initial && cfg->ntargets >= TARGET_SLAB_MIN
					   ? target_slab_new(cfg->ntargets) : NULL;
	for (size_t i = 0; i < cfg->ntargets; i++) {
		const struct target_cfg *tc = &cfg->targets[i];
		struct target *t = NULL;
		if (!config_shard_mine(&cfg->d, tc->name)) {
			skipped++;
			continue;
		}
		/* The old index is still valid: d->idx is rebuilt at the end. */
		if (!initial)
			t = daemon_target_find(d, tc->name);
		if (t && !t->removed && !t->cfg.discovered && same_target(&t->cfg, tc)) {
			t->removed = true; /* mark as taken; cleared below */
			keep[nkeep++] = t;
			t->cfg.line = tc->line;
			char *nl;
			if (!labels_equal(t->cfg.labels, tc->labels) && labels_dup(tc->labels, &nl) == 0) {
				free(t->cfg.labels);
				t->cfg.labels = nl;
			}
			target_set_history(t, cfg->d.history);
			char err[256];
			/* An address against the new policy; a name is looked up again. */
			if (resolve_target_begin(d, t, err, sizeof(err)) < 0)
				log_warnx("target %s: %s", t->cfg.name, err);
		} else {
			t = target_new_in(d, tc, slab);
			if (!t)
				goto oom;
			fresh[nfresh++] = t;
		}
		if (d->nt == d->t_cap) {
			size_t cap = d->t_cap ? d->t_cap * 2 : 64;
			struct target **a = realloc(d->t, cap * sizeof(*a));
			if (!a)
				goto oom;
			d->t = a;
			d->t_cap = cap;
		}
		d->t[d->nt++] = t;
	}
	/* The last allocation: past here nothing can fail. */
	size_t mask;
	struct target **idx = idx_build(d, &mask);
	if (!idx)
		goto oom;
	idx_commit(d, idx, mask);
	d->shard_skipped = skipped;
	/* Old targets not marked as taken are gone, except discovered ones
	 * no file target took the name of: discovery_start() decides about
	 * those (if the registry cannot grow, they go and come back then).
	 * Then clear the marks. */
	for (size_t i = 0; i < nold; i++) {
		if (old[i]->removed)
			continue;
		if (old[i]->cfg.discovered && !daemon_target_find(d, old[i]->cfg.name) &&
		    daemon_registry_append(d, old[i]) == 0)
			continue;
		sched_remove(d, old[i]);
	}
	for (size_t i = 0; i < nkeep; i++)
		keep[i]->removed = false;
	/* Schedule the new targets only now: preparing 10,000 of them takes a
	 * while, and a slot that passed meanwhile would start late. */
	uint64_t now = engine_now();
	for (size_t i = 0; i < nfresh; i++)
		sched_add(d, fresh[i], now);
	target_slab_done(slab);
	free(old);
	free(keep);
	free(fresh);
	return 0;
oom:
	/* Back to the old set: nothing new was scheduled yet. */
	log_warnx("out of memory applying targets");
	for (size_t i = 0; i < nfresh; i++)
		target_destroy(fresh[i]);
	target_slab_done(slab);
	for (size_t i = 0; i < nkeep; i++)
		keep[i]->removed = false;
	free(d->t);
	d->t = old;
	d->nt = nold;
	d->t_cap = old_cap;
	free(keep);
	free(fresh);
	return -1;
}

int daemon_reload(struct daemon *d, char *err, size_t errlen)
{
	struct config nc;
	uint64_t t0 = engine_now();
	notify_reloading();
	if (load_config(d->cfg.path, &nc, err, errlen) < 0) {
		d->reload_errors++;
		log_warnx("reload failed, keeping the running config: %s", err);
		notify_ready();
		return -1;
	}
	if (d->guard_overridden)
		nc.d.rst_guard = d->guard_override;
	/* Settings fixed at start: say so rather than half-apply them. */
	const struct daemon_cfg *o = &d->cfg.d, *n = &nc.d;
	if (o->sport_lo != n->sport_lo || o->sport_hi != n->sport_hi || o->pps != n->pps ||
	    o->max_inflight != n->max_inflight || o->rst_guard != n->rst_guard ||
	    strcmp(o->control_socket, n->control_socket) || strcmp(o->metrics_listen, n->metrics_listen) ||
	    strcmp(o->user, n->user) || o->control_mode != n->control_mode ||
	    strcmp(o->control_group, n->control_group) || strcmp(o->admin_group, n->admin_group))
		log_warnx("reload: [daemon] source_ports, pps, max_inflight, rst_guard, control_socket, "
			  "metrics_listen, user, control_mode, control_group and admin_group take effect "
			  "only at restart");
	bool rw_changed = d->cfg.nrw != nc.nrw;
	for (size_t i = 0; !rw_changed && i < nc.nrw; i++) {
		struct remote_write_cfg a = d->cfg.rw[i], b = nc.rw[i];
		rw_changed = !labels_equal(a.external_labels, b.external_labels);
		a.external_labels = b.external_labels = NULL;
		a.line = b.line = 0;
		rw_changed |= memcmp(&a, &b, sizeof(a)) != 0;
	}
	if (rw_changed)
		log_warnx("reload: [remote_write] changes take effect only at restart");
	bool buckets_changed = o->n_buckets != n->n_buckets ||
			       memcmp(o->buckets, n->buckets, sizeof(o->buckets));
	/* Swap in the new config, keeping the start-time settings. */
	struct config old = d->cfg;
	struct daemon_cfg keep = old.d;
	d->cfg = nc;
	d->cfg.d.sport_lo = keep.sport_lo;
	d->cfg.d.sport_hi = keep.sport_hi;
	d->cfg.d.pps = keep.pps;
	d->cfg.d.max_inflight = keep.max_inflight;
	d->cfg.d.rst_guard = keep.rst_guard;
	memcpy(d->cfg.d.control_socket, keep.control_socket, sizeof(keep.control_socket));
	memcpy(d->cfg.d.metrics_listen, keep.metrics_listen, sizeof(keep.metrics_listen));
	memcpy(d->cfg.d.user, keep.user, sizeof(keep.user));
	if (daemon_apply_targets(d, &d->cfg, false) < 0) {
		snprintf(err, errlen, "out of memory applying the new targets");
		log_warnx("reload failed, keeping the running config: %s", err);
		config_free(&d->cfg);
		d->cfg = old;
		d->reload_errors++;
		notify_ready();
		return -1;
	}
	/* The old sources point into the old config: re-create them now. */
	if (discovery_start(d) < 0)
		log_warnx("reload: out of memory starting discovery");
	if (buckets_changed)
		for (size_t i = 0; i < d->nt; i++)
			target_clear_phases(&d->t[i]->st);
	log_set_level(d->cfg.d.log_level);
	config_free(&old);
	d->reloads++;
	sched_kick(d);
	log_info("reloaded %s: %zu targets (%.1f ms)", d->cfg.path, d->nt,
		 (double)(engine_now() - t0) / 1e6);
	notify_ready();
	return 0;
}

/* ---- status ---- */

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, rss;
	uint64_t v = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &rss) == 2)
			v = (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
	return v;
}

void daemon_status(struct daemon *d, struct daemon_status *out)
{
	memset(out, 0, sizeof(*out));
	out->version = TCPPROBE_VERSION;
	out->start_ns = d->start_ns;
	out->now_ns = engine_now();
	out->targets = d->nt;
	for (size_t i = 0; i < d->nt; i++)
		out->paused += d->t[i]->paused;
	engine_stats(d->eng, &out->eng);
	out->pps_out = d->pps_out;
	out->sched_late_ns_total = d->late_total;
	out->sched_late_max_ns = d->late_max;
	out->sched_skipped = d->skipped;
	out->reloads = d->reloads;
	out->reload_errors = d->reload_errors;
	out->rss_bytes = rss_bytes();
	out->target_bytes = sizeof(struct target);
	out->config_path = d->cfg.path;
	out->log_level = log_level_str();
}

/* ---- events ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	uint64_t now = engine_now();
	struct engine_stats es;
	engine_stats(d->eng, &es);
	if (d->last_tx_ns && now > d->last_tx_ns)
		d->pps_out = 0.7 * d->pps_out +
			     0.3 * (double)(es.tx_packets - d->last_tx) * 1e9 / (double)(now - d->last_tx_ns);
	d->last_tx = es.tx_packets;
	d->last_tx_ns = now;
	/* The RST guard deleted behind our back: put it back and say so. */
	if (d->cfg.d.rst_guard == RST_GUARD_NFT &&
	    !rstguard_present(d->cfg.d.sport_lo, d->cfg.d.sport_hi)) {
		char err[256], table[64];
		log_warnx("nftables table %s disappeared; reinstalling it",
			  rstguard_table(d->cfg.d.sport_lo, d->cfg.d.sport_hi, table, sizeof(table)));
		if (rstguard_install(d->cfg.d.sport_lo, d->cfg.d.sport_hi, RSTGUARD_MARK, err,
				     sizeof(err)) < 0)
			log_warnx("%s", err);
	}
	if (d->watchdog_usec)
		notify_watchdog();
	notify_status("%zu targets, %" PRIu64 " in flight, %.0f pkt/s", d->nt, es.inflight, d->pps_out);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	if (sig == SIGHUP) {
		char err[512];
		log_info("SIGHUP: reloading %s", d->cfg.path);
		daemon_reload(d, err, sizeof(err));
		return;
	}
	log_info("%s: shutting down", strsignal((int)sig));
	d->stopping = true;
	event_base_loopbreak(d->base);
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: tcpprobe daemon [-c FILE] [-n]\n"
		   "  -c FILE  config file (default " DEFAULT_CONFIG ")\n"
		   "  -n       check the config, print it normalised (defaults filled in), exit\n"
		   "  --rst-guard=nft|none|external   override the config's rst_guard\n");
}

static void daemon_cleanup(struct daemon *d)
{
	for (size_t i = 0; i < 4; i++)
		if (d->sigs[i])
			event_free(d->sigs[i]);
	if (d->tick_ev)
		event_free(d->tick_ev);
	if (d->metrics)
		metrics_server_free(d->metrics);
	if (d->ctl)
		control_free(d->ctl);
	discovery_free(d);
	remote_write_free(d->rw);
	/* engine_free aborts open connections with RSTs and removes the guard. */
	if (d->eng)
		engine_free(d->eng);
	for (size_t i = 0; i < d->nt; i++)
		target_destroy(d->t[i]);
	free(d->t);
	free(d->idx);
	sched_free(d);
	resolve_free(d); /* last: it runs the loop to collect cancelled lookups */
	config_free(&d->cfg);
	if (d->base)
		event_base_free(d->base);
}

int daemon_main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	bool check = false;
	int c;
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'c' }, { "check", no_argument, 0, 'n' },
		{ "rst-guard", required_argument, 0, 'g' },
		{ "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 },
	};
	optind = 1;
	const char *guard_override = NULL;
	while ((c = getopt_long(argc, argv, "c:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			guard_override = optarg;
			break;
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	static struct daemon dd;
	struct daemon *d = &dd;
	char err[512];
	if (load_config(path, &d->cfg, err, sizeof(err)) < 0) {
		log_bare(LOG_LVL_ERR, "%s", err);
		/* -n reports 1; a daemon start exits 2, which the unit does not
		 * restart (RestartPreventExitStatus=2): a bad file stays bad. */
		return check ? 1 : 2;
	}
	if (guard_override) {
		/* The unit passes --rst-guard=external: it installs the table itself. */
		d->guard_overridden = true;
		if (!strcmp(guard_override, "nft"))
			d->guard_override = RST_GUARD_NFT;
		else if (!strcmp(guard_override, "none"))
			d->guard_override = RST_GUARD_NONE;
		else if (!strcmp(guard_override, "external"))
			d->guard_override = RST_GUARD_EXTERNAL;
		else {
			fprintf(stderr, "tcpprobe daemon: --rst-guard: '%s' is not nft, none or external\n",
				guard_override);
			config_free(&d->cfg);
			return 2;
		}
		d->cfg.d.rst_guard = d->guard_override;
	}
	if (check) {
		config_print(&d->cfg, stdout);
		config_free(&d->cfg);
		return 0;
	}
	log_init("tcpprobe", d->cfg.d.log_level);
	signal(SIGPIPE, SIG_IGN);
	d->start_ns = engine_now();
	d->base = event_base_new();
	if (!d->base || event_base_priority_init(d->base, DAEMON_PRIOS) < 0 || sched_init(d) < 0) {
		log_warnx("out of memory");
		goto fail;
	}
	if (resolve_init(d, err, sizeof(err)) < 0) {
		log_msg(LOG_LVL_ERR, "%s", err);
		goto fail;
	}
	/* The control socket first: a second daemon started by mistake stops
	 * here, before it could touch the running one's guard table. */
	d->ctl = control_new(d, &d->cfg.d, err, sizeof(err));
	if (!d->ctl) {
		log_msg(LOG_LVL_ERR, "control socket: %s", err);
		goto fail;
	}
	struct engine_cfg ec = {
		.sport_lo = d->cfg.d.sport_lo, .sport_hi = d->cfg.d.sport_hi,
		.max_inflight = d->cfg.d.max_inflight, .pps = d->cfg.d.pps,
		.rst_guard = d->cfg.d.rst_guard == RST_GUARD_NFT,
	};
	d->eng = engine_new(d->base, &ec, err, sizeof(err));
	if (!d->eng) {
		log_msg(LOG_LVL_ERR, "%s", err);
		goto fail;
	}
	if (d->cfg.d.metrics_listen[0]) {
		d->metrics = metrics_server_new(d, d->cfg.d.metrics_listen, err, sizeof(err));
		if (!d->metrics) {
			log_msg(LOG_LVL_ERR, "%s", err);
			goto fail;
		}
	}
	if (privs_drop(d->cfg.d.user, d->cfg.d.rst_guard == RST_GUARD_NFT, err, sizeof(err)) < 0) {
		log_msg(LOG_LVL_ERR, "%s", err);
		goto fail;
	}
	if (daemon_apply_targets(d, &d->cfg, true) < 0)
		goto fail;
	if (discovery_start(d) < 0) {
		log_warnx("out of memory starting discovery");
		goto fail;
	}
	d->rw = remote_write_start(d, d->base, &d->cfg, err, sizeof(err));
	if (!d->rw && d->cfg.nrw) {
		log_msg(LOG_LVL_ERR, "%s", err);
		goto fail;
	}
	const int sigs[4] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT };
	for (int i = 0; i < 4; i++) {
		d->sigs[i] = evsignal_new(d->base, sigs[i], on_signal, d);
		evsignal_add(d->sigs[i], NULL);
	}
	d->watchdog_usec = notify_watchdog_interval_usec();
	d->tick_ev = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	struct timeval tick = { 1, 0 };
	if (d->watchdog_usec && d->watchdog_usec < 1000000)
		tick = (struct timeval){ 0, (suseconds_t)d->watchdog_usec };
	evtimer_add(d->tick_ev, &tick);
	sched_kick(d);
	log_info("tcpprobe %s: %zu targets from %s, source ports %u-%u", TCPPROBE_VERSION, d->nt,
		 d->cfg.path, d->cfg.d.sport_lo, d->cfg.d.sport_hi);
	notify_ready();
	notify_status("%zu targets", d->nt);

	event_base_dispatch(d->base);

	notify_stopping();
	daemon_cleanup(d);
	log_info("stopped");
	return 0;
fail:
	daemon_cleanup(d);
	return 1;
}
