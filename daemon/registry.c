/* registry.c: the target registry: the targets in stable order with their
 * name index, adding, removing, pausing, replacing the set from a config,
 * and the status counters. With sched.c (schedule, results, one-shots,
 * watchers) it is the module behind registry.h, which the control socket,
 * the metrics, discovery and the lifecycle (daemon.c) use; it knows none
 * of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry_priv.h"
#include "labels.h"
#include "log.h"

struct event_base *registry_base(struct daemon *d) { return d->base; }
struct remote_writers *registry_remote_writers(struct daemon *d) { return d->rw; }
const struct config *registry_config(struct daemon *d) { return &d->cfg; }
size_t registry_target_count(struct daemon *d) { return d->nt; }
struct target *registry_target_at(struct daemon *d, size_t i) { return i < d->nt ? d->t[i] : NULL; }

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

int registry_index_rebuild(struct daemon *d)
{
	size_t mask;
	struct target **idx = idx_build(d, &mask);
	if (!idx)
		return -1;
	idx_commit(d, idx, mask);
	return 0;
}

struct target *registry_target_find(struct daemon *d, const char *name)
{
	if (!d->idx)
		return NULL;
	for (size_t k = config_name_hash(name) & d->idx_mask; d->idx[k]; k = (k + 1) & d->idx_mask)
		if (!strcmp(d->idx[k]->cfg.name, name))
			return d->idx[k];
	return NULL;
}

struct target **registry_targets_pin(struct daemon *d, size_t *n)
{
	struct target **a = malloc((d->nt ? d->nt : 1) * sizeof(*a));
	if (!a)
		return NULL;
	if (d->nt)
		memcpy(a, d->t, d->nt * sizeof(*a));
	*n = d->nt;
	d->pins++;
	return a;
}

void registry_targets_unpin(struct daemon *d, struct target **pinned)
{
	if (!pinned)
		return;
	free(pinned);
	if (d->pins && !--d->pins)
		sched_unpinned(d);
}

/* Append t to the registry and its index; on failure (out of memory)
 * neither holds it and the caller still owns t. */
int registry_append(struct daemon *d, struct target *t)
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
void registry_remove(struct daemon *d, struct target *t)
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
	if (registry_target_prepare(d, t, err, sizeof(err)) < 0) {
		registry_target_destroy(t);
		return NULL;
	}
	/* A name is looked up off the loop; an address the policy refuses
	 * (checked at load already) stays, with its error shown. */
	if (resolve_target_begin(d, t, err, sizeof(err)) < 0)
		log_warnx("target %s: %s", t->cfg.name, err);
	return t;
}

struct target *registry_target_new(struct daemon *d, const struct target_cfg *tc)
{
	return target_new_in(d, tc, NULL);
}

static bool same_target(const struct target_cfg *a, const struct target_cfg *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->host, b->host) &&
	       !memcmp(&a->opts, &b->opts, sizeof(a->opts));
}

int registry_target_add(struct daemon *d, const char *name, const char *hostport, char *const *kv,
		      size_t nkv, char *err, size_t errlen)
{
	struct target_cfg tc;
	memset(&tc, 0, sizeof(tc));
	size_t nl = strlen(name);
	if (!config_name_valid(name)) {
		snprintf(err, errlen, "bad target name '%s' (1-63 of A-Z a-z 0-9 . _ - : [ ])", name);
		return -1;
	}
	if (registry_target_find(d, name)) {
		snprintf(err, errlen, "target '%s' exists", name);
		return -1;
	}
	memcpy(tc.name, name, nl + 1);
	if (registry_target_cfg(d, &tc, hostport, kv, nkv, err, errlen) < 0)
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
	if (registry_target_prepare(d, t, err, errlen) < 0 || resolve_target_begin(d, t, err, errlen) < 0) {
		registry_target_destroy(t);
		return -1;
	}
	if (registry_append(d, t) < 0) {
		registry_target_destroy(t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sched_add(d, t, engine_now());
	sched_kick(d);
	log_info("target %s added (%s:%u, %s)", t->cfg.name, t->cfg.host, t->cfg.opts.port,
		 probe_kind_str(t->cfg.opts.kind));
	return 0;
}

int registry_target_remove(struct daemon *d, const char *name, char *err, size_t errlen)
{
	struct target *t = registry_target_find(d, name);
	if (!t) {
		snprintf(err, errlen, "no target '%s'", name);
		return -1;
	}
	registry_remove(d, t);
	sched_remove(d, t);
	log_info("target %s removed", name);
	return 0;
}

int registry_target_pause(struct daemon *d, const char *name, bool pause, char *err, size_t errlen)
{
	if (name) {
		struct target *t = registry_target_find(d, name);
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
int registry_apply_targets(struct daemon *d, const struct config *cfg, bool initial)
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
			t = registry_target_find(d, tc->name);
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
		if (old[i]->cfg.discovered && !registry_target_find(d, old[i]->cfg.name) &&
		    registry_append(d, old[i]) == 0)
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
		registry_target_destroy(fresh[i]);
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

void registry_status(struct daemon *d, struct registry_status *out)
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
