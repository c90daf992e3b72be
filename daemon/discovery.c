/* discovery.c: Prometheus file_sd and http_sd sources (see discovery.h):
 * starting and freeing them, reading file_sd files, and applying what the
 * sources list to the registry (http_sd's requests and its parse job are
 * discovery_http.c's; discovery_priv.h has what the two share).
 *
 * A document (discovery_parse.c) is a list of groups {"targets": [...],
 * "labels": {...}} in JSON or YAML. A file that fails to read or parse, or
 * has one bad group, keeps the targets it had (its last good list), with the
 * error logged and shown in `ctl status`; other files and sources are not
 * affected.
 *
 * Files are re-read when inotify reports a change in a watched directory
 * (after a 50 ms pause, so that a burst of events reads once) and every
 * `refresh` in any case. The read happens on the event loop: it costs about
 * as much as parsing the config, and targets come from local files. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "discovery.h"
#include "discovery_parse.h"
#include "discovery_priv.h"
#include "labels.h"
#include "log.h"
#include "registry.h"
#include "timens.h"

/* ---- name index ---------------------------------------------------------- */

void disc_nidx_free(struct name_idx *x)
{
	free(x->slot);
	x->slot = NULL;
	x->mask = 0;
}

/* Index the n configs of t by name; -1 on OOM (x untouched). */
int disc_nidx_build(struct name_idx *x, const struct target_cfg *t, size_t n)
{
	size_t slots = 64;
	while (slots < n * 2 + 2)
		slots *= 2;
	uint32_t *sl = calloc(slots, sizeof(*sl));
	if (!sl)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t k = config_name_hash(t[i].name) & (slots - 1);
		while (sl[k] && strcmp(t[sl[k] - 1].name, t[i].name))
			k = (k + 1) & (slots - 1);
		if (!sl[k])
			sl[k] = (uint32_t)i + 1;
	}
	disc_nidx_free(x);
	x->slot = sl;
	x->mask = slots - 1;
	return 0;
}

/* The first config named name in t (indexed by x), or NULL. */
const struct target_cfg *disc_nidx_get(const struct name_idx *x, const struct target_cfg *t,
					 const char *name)
{
	if (!x->slot)
		return NULL;
	for (size_t k = config_name_hash(name) & x->mask; x->slot[k]; k = (k + 1) & x->mask)
		if (!strcmp(t[x->slot[k] - 1].name, name))
			return &t[x->slot[k] - 1];
	return NULL;
}

uint64_t disc_count_skipped(const struct daemon_cfg *dc, const struct target_cfg *t, size_t n)
{
	uint64_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += !config_shard_mine(dc, t[i].name);
	return k;
}

static bool is_yaml(const char *path)
{
	size_t n = strlen(path);
	return (n > 4 && !strcmp(path + n - 4, ".yml")) || (n > 5 && !strcmp(path + n - 5, ".yaml"));
}

static bool is_json(const char *path)
{
	size_t n = strlen(path);
	return n > 5 && !strcmp(path + n - 5, ".json");
}

/* f could not be read: it keeps its last good list; say so. */
int disc_file_failed(struct disc_source *s, struct disc_file *f, const char *err)
{
	snprintf(f->error, sizeof(f->error), "%s", err);
	snprintf(s->last_error, sizeof(s->last_error), "%s: %s", f->path, err);
	s->errors++;
	log_warnx("discovery %s: %s: %s (keeping its last good list of %zu targets)", s->cfg->name,
		  f->path, err, f->n);
	return -1;
}

/* Read and parse one file into f; on error f keeps its list. */
static int file_read(struct disc_source *s, struct disc_file *f)
{
	char err[300] = "";
	char *text = NULL;
	struct target_cfg *t = NULL;
	size_t n = 0;
	int fd = -1;
	struct stat st;
	if (!is_yaml(f->path) && !is_json(f->path)) {
		snprintf(err, sizeof(err), "neither .json nor .yml/.yaml");
		goto fail;
	}
	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, sizeof(err), "%s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > DISC_FILE_MAX) {
		snprintf(err, sizeof(err), "not a regular file of at most %u bytes", DISC_FILE_MAX);
		goto fail;
	}
	size_t len = 0, cap = (size_t)st.st_size + 1;
	if (!(text = malloc(cap))) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	for (;;) { /* it may grow while we read: bounded by cap */
		ssize_t r = read(fd, text + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, sizeof(err), "%s", strerror(errno));
			goto fail;
		}
		if (r == 0 || (len += (size_t)r) == cap)
			break;
	}
	if (len == cap) {
		snprintf(err, sizeof(err), "changed while being read");
		goto fail;
	}
	if (discovery_parse(text, len, is_yaml(f->path), &s->cfg->defaults, &t, &n, err,
			    sizeof(err)) < 0)
		goto fail;
	close(fd);
	fd = -1;
	free(text);
	text = NULL;
	if (disc_nidx_build(&f->idx, t, n) < 0) {
		discovery_free_targets(t, n);
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	discovery_free_targets(f->t, f->n);
	f->t = t;
	f->n = n;
	f->skipped = disc_count_skipped(&s->ds->cfg->d, t, n);
	f->error[0] = 0;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(text);
	return disc_file_failed(s, f, err);
}

/* ---- applying ------------------------------------------------------------ */

/* name -> target_cfg, open addressing over the wanted list. */
struct want {
	const struct target_cfg **slot;
	size_t mask;
};

static const struct target_cfg **want_slot(struct want *w, const char *name)
{
	size_t k = config_name_hash(name) & w->mask;
	while (w->slot[k] && strcmp(w->slot[k]->name, name))
		k = (k + 1) & w->mask;
	return &w->slot[k];
}

bool disc_same_probe(const struct target_cfg *a, const struct target_cfg *b)
{
	return !strcmp(a->host, b->host) && !memcmp(&a->opts, &b->opts, sizeof(a->opts));
}

int disc_add_target(struct discovery *ds, const struct target_cfg *tc, uint64_t now)
{
	if (registry_target_add_cfg(ds->reg, tc, now) < 0) {
		log_warnx("discovery: out of memory adding %s", tc->name);
		return 0;
	}
	return 1;
}

/* registry_sweep's keep: a discovered target stays when the lists still
 * want it with the same probe (its labels updated). */
static bool keep_wanted(void *arg, struct target *t)
{
	if (!t->cfg.discovered)
		return true;
	const struct target_cfg **sl = want_slot(arg, t->cfg.name);
	if (!*sl || !disc_same_probe(*sl, &t->cfg))
		return false;
	registry_target_relabel(t, (*sl)->labels);
	return true;
}

/* Bring the registry's discovered targets in line with every source's
 * lists: remove what went away or changed, add what is new, update labels
 * in place; unchanged targets keep their object (history, counters and
 * schedule). The first source (and file) to list a name wins. */
static void discovery_apply(struct discovery *ds)
{
	struct registry *reg = ds->reg;
	uint64_t t0 = engine_now();
	size_t total = 0;
	for (size_t i = 0; i < ds->ns; i++)
		for (size_t j = 0; j < ds->s[i].nf; j++)
			total += ds->s[i].f[j].n;
	struct want w = { 0 };
	size_t slots = 64;
	while (slots < total * 2 + 2)
		slots *= 2;
	w.mask = slots - 1;
	if (!(w.slot = calloc(slots, sizeof(*w.slot)))) {
		log_warnx("discovery: out of memory applying the targets");
		return;
	}
	uint64_t skipped = 0, conflicts = 0, added = 0, removed = 0;
	for (size_t i = 0; i < ds->ns; i++)
		for (size_t j = 0; j < ds->s[i].nf; j++)
			for (size_t k = 0; k < ds->s[i].f[j].n; k++) {
				const struct target_cfg *tc = &ds->s[i].f[j].t[k];
				if (!config_shard_mine(&ds->cfg->d, tc->name)) {
					skipped++;
					continue;
				}
				const struct target_cfg **sl = want_slot(&w, tc->name);
				if (!*sl)
					*sl = tc;
			}
	/* Removals first, in one pass and one index rebuild. */
	removed = registry_sweep(reg, keep_wanted, &w);
	uint64_t now = engine_now();
	for (size_t k = 0; k <= w.mask; k++) {
		const struct target_cfg *tc = w.slot[k];
		if (!tc)
			continue;
		struct target *t = registry_target_find(reg, tc->name);
		if (t) {
			conflicts += !t->cfg.discovered; /* the config's (or ctl add's) wins */
			continue;
		}
		added += disc_add_target(ds, tc, now);
	}
	free(w.slot);
	ds->skipped = skipped;
	ds->conflicts = conflicts;
	ds->added += added;
	ds->removed += removed;
	ds->last_apply_ns = engine_now() - t0;
	if (added || removed)
		registry_kick(reg);
	if (added || removed)
		log_info("discovery: %" PRIu64 " targets added, %" PRIu64 " removed, %zu targets "
			 "(%.1f ms)", added, removed, registry_target_count(reg),
			 (double)ds->last_apply_ns / 1e6);
}

/* ---- reading the sources ------------------------------------------------- */

static int path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct disc_file *)a)->path, ((const struct disc_file *)b)->path);
}

/* Glob every pattern; read every matching file; drop files gone. */
static void source_scan(struct disc_source *s)
{
	char *pats = strdup(s->cfg->files), *save = NULL;
	if (!pats)
		return;
	for (size_t i = 0; i < s->nf; i++)
		s->f[i].seen = false;
	for (char *pat = strtok_r(pats, " \t", &save); pat; pat = strtok_r(NULL, " \t", &save)) {
		glob_t g;
		int r = glob(pat, GLOB_NOSORT, NULL, &g);
		if (r != 0 && r != GLOB_NOMATCH) {
			snprintf(s->last_error, sizeof(s->last_error), "%s: glob failed", pat);
			s->errors++;
			log_warnx("discovery %s: %s", s->cfg->name, s->last_error);
		}
		for (size_t i = 0; r == 0 && i < g.gl_pathc; i++) {
			struct disc_file *f = NULL;
			for (size_t j = 0; j < s->nf && !f; j++)
				if (!strcmp(s->f[j].path, g.gl_pathv[i]))
					f = &s->f[j];
			if (!f) {
				struct disc_file *a = realloc(s->f, (s->nf + 1) * sizeof(*a));
				char *p = strdup(g.gl_pathv[i]);
				if (a)
					s->f = a;
				if (!a || !p) {
					free(p);
					continue;
				}
				f = &s->f[s->nf++];
				memset(f, 0, sizeof(*f));
				f->path = p;
			}
			if (!f->seen && file_read(s, f) == 0)
				s->last_error[0] = 0;
			f->seen = true;
		}
		if (r == 0)
			globfree(&g);
	}
	free(pats);
	size_t o = 0;
	for (size_t i = 0; i < s->nf; i++) {
		if (s->f[i].seen) {
			s->f[o++] = s->f[i];
		} else {
			log_info("discovery %s: %s is gone: its %zu targets go too", s->cfg->name,
				 s->f[i].path, s->f[i].n);
			discovery_free_targets(s->f[i].t, s->f[i].n);
			disc_nidx_free(&s->f[i].idx);
			free(s->f[i].path);
		}
	}
	s->nf = o;
	qsort(s->f, s->nf, sizeof(*s->f), path_cmp); /* a stable order of precedence */
	s->refreshes++;
}

static void on_settle(evutil_socket_t fd, short what, void *arg)
{
	struct disc_source *s = arg;
	source_scan(s);
	discovery_apply(s->ds);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct disc_source *s = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (int i = 0; i < 64; i++) /* drain, bounded */
		if (read(fd, buf, sizeof(buf)) <= 0)
			break;
	struct timeval tv = ns_timeval(DISC_SETTLE_MS * NS_PER_MS);
	evtimer_add(s->settle_ev, &tv);
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
	struct disc_source *s = arg;
	if (s->cfg->url[0])
		disc_http_fetch(s);
	else
		on_settle(fd, what, arg);
}

/* Watch the directory of each pattern (when it has no glob characters). */
static void source_watch(struct disc_source *s)
{
	s->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->ino < 0) {
		log_warnx("discovery %s: inotify: %s (files re-read every refresh only)", s->cfg->name,
			  strerror(errno));
		return;
	}
	char *pats = strdup(s->cfg->files), *save = NULL;
	for (char *pat = pats ? strtok_r(pats, " \t", &save) : NULL; pat;
	     pat = strtok_r(NULL, " \t", &save)) {
		char *slash = strrchr(pat, '/');
		const char *dir = ".";
		if (slash == pat)
			dir = "/";
		else if (slash) {
			*slash = 0;
			dir = pat;
		}
		if (strpbrk(dir, "*?[")) {
			log_info("discovery %s: %s has glob characters: not watched, re-read every "
				   "refresh", s->cfg->name, dir);
			continue;
		}
		if (inotify_add_watch(s->ino, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
							   IN_DELETE | IN_ATTRIB) < 0)
			log_warnx("discovery %s: watching %s: %s (re-read every refresh)",
				  s->cfg->name, dir, strerror(errno));
	}
	free(pats);
	s->ino_ev = event_new(s->ds->base, s->ino, EV_READ | EV_PERSIST, on_inotify, s);
	if (s->ino_ev)
		event_add(s->ino_ev, NULL);
}

static void source_free(struct disc_source *s)
{
	disc_http_free(s);
	struct event *evs[] = { s->ino_ev, s->settle_ev, s->refresh_ev };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	if (s->ino >= 0)
		close(s->ino);
	for (size_t i = 0; i < s->nf; i++) {
		discovery_free_targets(s->f[i].t, s->f[i].n);
		disc_nidx_free(&s->f[i].idx);
		free(s->f[i].path);
	}
	free(s->f);
}

static void sources_free(struct discovery *ds)
{
	for (size_t i = 0; i < ds->ns; i++)
		source_free(&ds->s[i]);
	free(ds->s);
	ds->s = NULL;
	ds->ns = 0;
}

struct discovery *discovery_new(struct registry *reg, struct event_base *base)
{
	struct discovery *ds = calloc(1, sizeof(*ds));
	if (ds) {
		ds->reg = reg;
		ds->base = base;
	}
	return ds;
}

int discovery_start(struct discovery *ds, const struct config *cfg)
{
	sources_free(ds);
	ds->cfg = cfg;
	if (cfg->ndisc && !(ds->s = calloc(cfg->ndisc, sizeof(*ds->s))))
		return -1;
	for (size_t i = 0; i < cfg->ndisc; i++) {
		struct disc_source *s = &ds->s[ds->ns++];
		s->ds = ds;
		s->cfg = &cfg->disc[i];
		s->ino = -1;
		s->efd = -1;
		s->settle_ev = evtimer_new(ds->base, on_settle, s);
		s->refresh_ev = event_new(ds->base, -1, EV_PERSIST, on_refresh, s);
		if (!s->settle_ev || !s->refresh_ev)
			return -1;
		struct timeval tv = ns_timeval(s->cfg->refresh_ns);
		evtimer_add(s->refresh_ev, &tv);
		if (s->cfg->url[0]) {
			if (disc_http_start(s) < 0)
				return -1;
			continue;
		}
		source_watch(s); /* before the first read: a change meanwhile is not missed */
		source_scan(s);
	}
	discovery_apply(ds);
	return 0;
}

void discovery_free(struct discovery *ds)
{
	if (!ds)
		return;
	sources_free(ds);
	free(ds);
}

void discovery_totals(const struct discovery *ds, struct discovery_totals *out)
{
	const struct daemon_cfg *dc = ds && ds->cfg ? &ds->cfg->d : NULL;
	snprintf(out->shard, sizeof(out->shard), "%u/%u",
		 dc && dc->shard_n > 1 ? dc->shard_i : 0, dc && dc->shard_n > 1 ? dc->shard_n : 1);
	out->shard_skipped = ds ? registry_shard_skipped(ds->reg) + ds->skipped : 0;
	out->sources = ds ? ds->ns : 0;
	out->conflicts = ds ? ds->conflicts : 0;
	out->apply_us = ds ? ds->last_apply_ns / 1000 : 0;
}

void discovery_source_status(const struct discovery *ds, size_t i,
			     struct discovery_source_status *out)
{
	const struct disc_source *s = &ds->s[i];
	memset(out, 0, sizeof(*out));
	out->name = s->cfg->name;
	out->url = s->cfg->url;
	out->refresh_us = s->last_refresh_ns / 1000; /* loop time of the last answer */
	out->files = s->nf;
	for (size_t k = 0; k < s->nf; k++) {
		out->targets += s->f[k].n;
		out->files_failing += s->f[k].error[0] != 0;
	}
	out->refreshes = s->refreshes;
	out->errors = s->errors;
	out->last_error = s->last_error;
}

const char *discovery_file_error(const struct discovery *ds, size_t i, size_t *k, char *buf,
				 size_t len)
{
	const struct disc_source *s = &ds->s[i];
	for (; *k < s->nf; (*k)++)
		if (s->f[*k].error[0]) {
			snprintf(buf, len, "%s: %s", s->f[*k].path, s->f[*k].error);
			(*k)++;
			return buf;
		}
	return NULL;
}
