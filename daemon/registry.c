/* registry.c: the target registry: creating and freeing it, the targets
 * in stable order with their name index, adding, removing, pausing,
 * replacing the set from a config, and the status counters. With sched.c
 * (schedule, results, one-shots, watchers) and resolve.c it is the module
 * behind registry.h, which the lifecycle (daemon.c), the control socket,
 * the metrics, the views and discovery use; it knows none of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry_priv.h"
#include "labels.h"
#include "log.h"

const struct config *registry_config(struct registry *reg) { return reg->cfg; }
uint64_t registry_shard_skipped(struct registry *reg) { return reg->shard_skipped; }
size_t registry_target_count(struct registry *reg) { return reg->nt; }
struct target *registry_target_at(struct registry *reg, size_t i) { return i < reg->nt ? reg->t[i] : NULL; }

/* ---- the name index (open addressing, linear probing) ---- */

/* Build an index for reg->t[0..nt) into a fresh array: the current index
 * stays valid until the caller commits the new one (idx_commit), so a
 * failed allocation changes nothing. */
static struct target **idx_build(struct registry *reg, size_t *mask)
{
	size_t n = 64;
	while (n < reg->nt * 2 + 2)
		n *= 2;
	struct target **idx = calloc(n, sizeof(*idx));
	if (!idx)
		return NULL;
	for (size_t i = 0; i < reg->nt; i++) {
		size_t k = config_name_hash(reg->t[i]->cfg.name) & (n - 1);
		while (idx[k])
			k = (k + 1) & (n - 1);
		idx[k] = reg->t[i];
	}
	*mask = n - 1;
	return idx;
}

static void idx_commit(struct registry *reg, struct target **idx, size_t mask)
{
	free(reg->idx);
	reg->idx = idx;
	reg->idx_mask = mask;
}

/* Delete t from the index in place (backward-shift deletion, Knuth 6.4
 * algorithm R): no allocation, so removing a target cannot fail. */
static void idx_delete(struct registry *reg, const struct target *t)
{
	size_t m = reg->idx_mask, i = config_name_hash(t->cfg.name) & m;
	while (reg->idx[i] && reg->idx[i] != t)
		i = (i + 1) & m;
	if (!reg->idx[i])
		return;
	for (size_t j = (i + 1) & m; reg->idx[j]; j = (j + 1) & m) {
		size_t home = config_name_hash(reg->idx[j]->cfg.name) & m;
		/* Move j back to the hole at i unless its home lies in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			reg->idx[i] = reg->idx[j];
			i = j;
		}
	}
	reg->idx[i] = NULL;
}

static int index_rebuild(struct registry *reg)
{
	size_t mask;
	struct target **idx = idx_build(reg, &mask);
	if (!idx)
		return -1;
	idx_commit(reg, idx, mask);
	return 0;
}

struct target *registry_target_find(struct registry *reg, const char *name)
{
	if (!reg->idx)
		return NULL;
	for (size_t k = config_name_hash(name) & reg->idx_mask; reg->idx[k]; k = (k + 1) & reg->idx_mask)
		if (!strcmp(reg->idx[k]->cfg.name, name))
			return reg->idx[k];
	return NULL;
}

struct target **registry_targets_pin(struct registry *reg, size_t *n)
{
	struct target **a = malloc((reg->nt ? reg->nt : 1) * sizeof(*a));
	if (!a)
		return NULL;
	if (reg->nt)
		memcpy(a, reg->t, reg->nt * sizeof(*a));
	*n = reg->nt;
	reg->pins++;
	return a;
}

void registry_targets_unpin(struct registry *reg, struct target **pinned)
{
	if (!pinned)
		return;
	free(pinned);
	if (reg->pins && !--reg->pins)
		sched_unpinned(reg);
}

/* Append t to the registry and its index; on failure (out of memory)
 * neither holds it and the caller still owns t. */
static int registry_append(struct registry *reg, struct target *t)
{
	if (reg->nt == reg->t_cap) {
		size_t cap = reg->t_cap ? reg->t_cap * 2 : 64;
		struct target **a = realloc(reg->t, cap * sizeof(*a));
		if (!a)
			return -1;
		reg->t = a;
		reg->t_cap = cap;
	}
	reg->t[reg->nt++] = t;
	if (!reg->idx || reg->nt * 2 + 2 > reg->idx_mask + 1) {
		size_t mask;
		struct target **idx = idx_build(reg, &mask);
		if (!idx) {
			reg->nt--;
			return -1;
		}
		idx_commit(reg, idx, mask);
		return 0;
	}
	size_t k = config_name_hash(t->cfg.name) & reg->idx_mask;
	while (reg->idx[k])
		k = (k + 1) & reg->idx_mask;
	reg->idx[k] = t;
	return 0;
}

/* Take t out of the registry and its index (the caller still owns t). */
static void registry_remove(struct registry *reg, struct target *t)
{
	size_t i = 0;
	while (i < reg->nt && reg->t[i] != t)
		i++;
	if (i == reg->nt)
		return;
	memmove(&reg->t[i], &reg->t[i + 1], (reg->nt - i - 1) * sizeof(reg->t[0]));
	reg->nt--;
	idx_delete(reg, t);
}

static struct target *target_new_in(struct registry *reg, const struct target_cfg *tc,
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
	t->owner = reg;
	t->st.last_result = RESULT_PENDING;
	char err[256];
	if (registry_target_prepare(reg, t, err, sizeof(err)) < 0) {
		registry_target_destroy(t);
		return NULL;
	}
	/* A name is looked up off the loop; an address the policy refuses
	 * (checked at load already) stays, with its error shown. */
	if (resolve_target_begin(reg, t, err, sizeof(err)) < 0)
		log_warnx("target %s: %s", t->cfg.name, err);
	return t;
}

int registry_target_add_cfg(struct registry *reg, const struct target_cfg *tc, uint64_t now)
{
	struct target *t = target_new_in(reg, tc, NULL);
	if (!t || registry_append(reg, t) < 0) {
		registry_target_destroy(t);
		return -1;
	}
	sched_add(reg, t, now);
	return 0;
}

void registry_target_drop(struct registry *reg, struct target *t)
{
	registry_remove(reg, t);
	sched_remove(reg, t);
}

size_t registry_sweep(struct registry *reg, registry_keep_fn keep, void *arg)
{
	size_t o = 0, gone = 0;
	for (size_t i = 0; i < reg->nt; i++) {
		struct target *t = reg->t[i];
		if (!keep(arg, t)) {
			sched_remove(reg, t);
			gone++;
			continue;
		}
		reg->t[o++] = t;
	}
	reg->nt = o;
	if (gone)
		index_rebuild(reg);
	return gone;
}

void registry_target_relabel(struct target *t, const char *labels)
{
	char *nl;
	if (!labels_equal(t->cfg.labels, labels) && labels_dup(labels, &nl) == 0) {
		free(t->cfg.labels);
		t->cfg.labels = nl;
	}
}

static bool same_target(const struct target_cfg *a, const struct target_cfg *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->host, b->host) &&
	       !memcmp(&a->opts, &b->opts, sizeof(a->opts));
}

int registry_target_add(struct registry *reg, const char *name, const char *hostport, char *const *kv,
		      size_t nkv, char *err, size_t errlen)
{
	struct target_cfg tc;
	memset(&tc, 0, sizeof(tc));
	size_t nl = strlen(name);
	if (!config_name_valid(name)) {
		snprintf(err, errlen, "bad target name '%s' (1-63 of A-Z a-z 0-9 . _ - : [ ])", name);
		return -1;
	}
	if (registry_target_find(reg, name)) {
		snprintf(err, errlen, "target '%s' exists", name);
		return -1;
	}
	memcpy(tc.name, name, nl + 1);
	if (registry_target_cfg(reg, &tc, hostport, kv, nkv, false, err, errlen) < 0)
		return -1;
	struct target *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->cfg = tc;
	t->owner = reg;
	t->st.last_result = RESULT_PENDING;
	/* ctl add is interactive: refuse an address that cannot be probed.
	 * A name is accepted and looked up off the loop: `ctl show` tells how
	 * that went. */
	if (registry_target_prepare(reg, t, err, errlen) < 0 || resolve_target_begin(reg, t, err, errlen) < 0) {
		registry_target_destroy(t);
		return -1;
	}
	if (registry_append(reg, t) < 0) {
		registry_target_destroy(t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sched_add(reg, t, engine_now());
	registry_kick(reg);
	log_info("target %s added (%s:%u, %s)", t->cfg.name, t->cfg.host, t->cfg.opts.port,
		 probe_kind_str(t->cfg.opts.kind));
	return 0;
}

int registry_target_remove(struct registry *reg, const char *name, char *err, size_t errlen)
{
	struct target *t = registry_target_find(reg, name);
	if (!t) {
		snprintf(err, errlen, "no target '%s'", name);
		return -1;
	}
	registry_target_drop(reg, t);
	log_info("target %s removed", name);
	return 0;
}

int registry_target_pause(struct registry *reg, const char *name, bool pause, char *err, size_t errlen)
{
	if (name) {
		struct target *t = registry_target_find(reg, name);
		if (!t) {
			snprintf(err, errlen, "no target '%s'", name);
			return -1;
		}
		t->paused = pause;
	} else {
		for (size_t i = 0; i < reg->nt; i++)
			reg->t[i]->paused = pause;
	}
	log_info("%s %s", pause ? "paused" : "resumed", name ? name : "all targets");
	return 0;
}

/* The phase histograms of every target start over when the bounds they
 * count with change (their counts would land in the wrong buckets). */
static void set_buckets(struct registry *reg, const struct daemon_cfg *dc)
{
	if (reg->n_buckets == dc->n_buckets && !memcmp(reg->buckets, dc->buckets, sizeof(reg->buckets)))
		return;
	for (size_t i = 0; i < reg->nt; i++)
		target_clear_phases(&reg->t[i]->st);
	reg->n_buckets = dc->n_buckets;
	memcpy(reg->buckets, dc->buckets, sizeof(reg->buckets));
}

int registry_apply(struct registry *reg, const struct config *cfg, bool initial)
{
	struct target **old = reg->t;
	size_t nold = reg->nt, old_cap = reg->t_cap;
	struct target **keep = NULL, **fresh = NULL;
	size_t nkeep = 0, nfresh = 0;
	if ((nold && !(keep = calloc(nold, sizeof(*keep)))) ||
	    (cfg->ntargets && !(fresh = calloc(cfg->ntargets, sizeof(*fresh))))) {
		free(keep);
		return -1;
	}
	const struct config *was = reg->cfg;
	reg->cfg = cfg; /* the new targets are prepared under it */
	reg->t = NULL;
	reg->nt = reg->t_cap = 0;
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
		/* The old index is still valid: reg->idx is rebuilt at the end. */
		if (!initial)
			t = registry_target_find(reg, tc->name);
		if (t && !t->removed && !t->cfg.discovered && same_target(&t->cfg, tc)) {
			t->removed = true; /* mark as taken; cleared below */
			keep[nkeep++] = t;
			t->cfg.line = tc->line;
			registry_target_relabel(t, tc->labels);
			target_set_history(t, cfg->d.history);
			char err[256];
			/* An address against the new policy; a name is looked up again. */
			if (resolve_target_begin(reg, t, err, sizeof(err)) < 0)
				log_warnx("target %s: %s", t->cfg.name, err);
		} else {
			t = target_new_in(reg, tc, slab);
			if (!t)
				goto oom;
			fresh[nfresh++] = t;
		}
		if (reg->nt == reg->t_cap) {
			size_t cap = reg->t_cap ? reg->t_cap * 2 : 64;
			struct target **a = realloc(reg->t, cap * sizeof(*a));
			if (!a)
				goto oom;
			reg->t = a;
			reg->t_cap = cap;
		}
		reg->t[reg->nt++] = t;
	}
	/* The last allocation: past here nothing can fail. */
	size_t mask;
	struct target **idx = idx_build(reg, &mask);
	if (!idx)
		goto oom;
	idx_commit(reg, idx, mask);
	reg->shard_skipped = skipped;
	/* Old targets not marked as taken are gone, except discovered ones
	 * no file target took the name of: discovery_start() decides about
	 * those (if the registry cannot grow, they go and come back then).
	 * Then clear the marks. */
	for (size_t i = 0; i < nold; i++) {
		if (old[i]->removed)
			continue;
		if (old[i]->cfg.discovered && !registry_target_find(reg, old[i]->cfg.name) &&
		    registry_append(reg, old[i]) == 0)
			continue;
		sched_remove(reg, old[i]);
	}
	for (size_t i = 0; i < nkeep; i++)
		keep[i]->removed = false;
	set_buckets(reg, &cfg->d);
	/* Schedule the new targets only now: preparing 10,000 of them takes a
	 * while, and a slot that passed meanwhile would start late. */
	uint64_t now = engine_now();
	for (size_t i = 0; i < nfresh; i++)
		sched_add(reg, fresh[i], now);
	target_slab_done(slab);
	free(old);
	free(keep);
	free(fresh);
	return 0;
oom:
	/* Back to the old set: nothing new was scheduled yet. */
	log_warnx("out of memory applying targets");
	for (size_t i = 0; i < nfresh; i++)
		registry_target_destroy(fresh[i]);
	target_slab_done(slab);
	for (size_t i = 0; i < nkeep; i++)
		keep[i]->removed = false;
	free(reg->t);
	reg->t = old;
	reg->nt = nold;
	reg->t_cap = old_cap;
	reg->cfg = was;
	free(keep);
	free(fresh);
	return -1;
}

/* ---- the registry ---- */

struct registry *registry_new(struct event_base *base, const struct config *cfg,
			      struct engine *eng, char *err, size_t errlen)
{
	struct registry *reg = calloc(1, sizeof(*reg));
	if (!reg) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	reg->base = base;
	reg->cfg = cfg;
	reg->eng = eng;
	reg->start_ns = engine_now();
	set_buckets(reg, &cfg->d); /* no targets yet: only the bounds */
	if (sched_init(reg) < 0) {
		snprintf(err, errlen, "out of memory");
		registry_free(reg);
		return NULL;
	}
	if (resolve_init(reg, err, errlen) < 0) {
		registry_free(reg);
		return NULL;
	}
	return reg;
}

void registry_free(struct registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->nt; i++)
		registry_target_destroy(reg->t[i]);
	free(reg->t);
	free(reg->idx);
	sched_free(reg);
	resolve_free(reg); /* last: it runs the loop to collect cancelled lookups */
	free(reg);
}

/* ---- status ---- */

double registry_tick(struct registry *reg)
{
	uint64_t now = engine_now();
	struct engine_stats es;
	engine_stats(reg->eng, &es);
	if (reg->last_tx_ns && now > reg->last_tx_ns)
		reg->pps_out = 0.7 * reg->pps_out + 0.3 * (double)(es.tx_packets - reg->last_tx) *
							   1e9 / (double)(now - reg->last_tx_ns);
	reg->last_tx = es.tx_packets;
	reg->last_tx_ns = now;
	return reg->pps_out;
}

void registry_count_reload(struct registry *reg, bool ok)
{
	if (ok)
		reg->reloads++;
	else
		reg->reload_errors++;
}

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

void registry_status(struct registry *reg, struct registry_status *out)
{
	memset(out, 0, sizeof(*out));
	out->version = TCPPROBE_VERSION;
	out->start_ns = reg->start_ns;
	out->now_ns = engine_now();
	out->targets = reg->nt;
	for (size_t i = 0; i < reg->nt; i++)
		out->paused += reg->t[i]->paused;
	engine_stats(reg->eng, &out->eng);
	out->pps_out = reg->pps_out;
	out->sched_late_ns_total = reg->late_total;
	out->sched_late_max_ns = reg->late_max;
	out->sched_skipped = reg->skipped;
	out->reloads = reg->reloads;
	out->reload_errors = reg->reload_errors;
	out->rss_bytes = rss_bytes();
	out->target_bytes = sizeof(struct target);
	out->config_path = reg->cfg->path;
	out->log_level = log_level_str();
}
