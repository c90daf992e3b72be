/* discovery.c: Prometheus file_sd and http_sd sources (see discovery.h):
 * reading them and applying what they list to the registry.
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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "registry_priv.h"
#include "discovery.h"
#include "discovery_parse.h"
#include "hostport.h"
#include "httpauth.h"
#include "labels.h"
#include "log.h"
#include "timens.h"

#define DISC_FILE_MAX (64u << 20) /* bytes per file_sd file */
#define DISC_SETTLE_MS 50
#define DISC_HTTP_MAX (16u << 20)   /* bytes of an http_sd response */
#define DISC_HTTP_TIMEOUT_S 10      /* or the refresh, if shorter */
/* Names reconciled per loop pass when an http_sd answer changed: 64 cost
 * well under a millisecond, so probes due meanwhile keep their jitter. */
#define DISC_APPLY_CHUNK 64

/* name -> index in a list of target configs (open addressing, first wins). */
struct name_idx {
	uint32_t *slot; /* index + 1; 0 = empty */
	size_t mask;
};

struct disc_file {
	char *path;
	struct target_cfg *t; /* last good list */
	size_t n;
	struct name_idx idx;  /* of t */
	uint64_t skipped;     /* names of t other shards take */
	char error[320];      /* "" = the last read was good */
	bool seen;            /* matched by the latest glob */
};

struct disc_source {
	struct daemon *d;
	const struct discovery_cfg *cfg; /* in d->cfg.disc: replaced with it on reload */
	struct disc_file *f;
	size_t nf;
	int ino;                   /* inotify fd, -1 = none */
	struct event *ino_ev, *settle_ev, *refresh_ev;
	/* http_sd: f[0] is the URL's entry (its path is the URL). */
	struct evdns_base *dns;
	struct evhttp_uri *uri;
	struct evhttp_connection *conn;
	bool busy;                 /* a request in flight */
	char http_err[128];        /* from the request's error callback */
	uint64_t last_refresh_ns;  /* loop time of the last response: parse + apply */
	char *body;                /* the last good answer, as received */
	size_t body_len;
	/* A changed answer is parsed and diffed by a thread (job), then the
	 * names it touched are reconciled DISC_APPLY_CHUNK per loop pass. */
	struct disc_job *job;
	int efd;                   /* eventfd: the job is done */
	struct event *job_ev, *apply_ev;
	char (*pend)[CFG_NAME_MAX];
	size_t npend, pend_pos;
	uint64_t loop_ns, parse_ns, t_recv; /* this refresh's loop time so far, its parse */
	uint64_t added, removed;   /* by this refresh so far */
	unsigned passes;
	uint64_t refreshes, errors;
	char last_error[400];
};

struct discovery {
	struct disc_source *s;
	size_t ns;
	uint64_t skipped, conflicts; /* last apply: other shards' / names taken by the config */
	uint64_t applies, last_apply_ns, added, removed;
};

/* ---- name index ---------------------------------------------------------- */

static void nidx_free(struct name_idx *x)
{
	free(x->slot);
	x->slot = NULL;
	x->mask = 0;
}

/* Index the n configs of t by name; -1 on OOM (x untouched). */
static int nidx_build(struct name_idx *x, const struct target_cfg *t, size_t n)
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
	nidx_free(x);
	x->slot = sl;
	x->mask = slots - 1;
	return 0;
}

/* The first config named name in t (indexed by x), or NULL. */
static const struct target_cfg *nidx_get(const struct name_idx *x, const struct target_cfg *t,
					 const char *name)
{
	if (!x->slot)
		return NULL;
	for (size_t k = config_name_hash(name) & x->mask; x->slot[k]; k = (k + 1) & x->mask)
		if (!strcmp(t[x->slot[k] - 1].name, name))
			return &t[x->slot[k] - 1];
	return NULL;
}

static uint64_t count_skipped(const struct daemon_cfg *dc, const struct target_cfg *t, size_t n)
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
static int file_failed(struct disc_source *s, struct disc_file *f, const char *err)
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
	if (nidx_build(&f->idx, t, n) < 0) {
		discovery_free_targets(t, n);
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	discovery_free_targets(f->t, f->n);
	f->t = t;
	f->n = n;
	f->skipped = count_skipped(&s->d->cfg.d, t, n);
	f->error[0] = 0;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(text);
	return file_failed(s, f, err);
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

static bool same_probe(const struct target_cfg *a, const struct target_cfg *b)
{
	return !strcmp(a->host, b->host) && !memcmp(&a->opts, &b->opts, sizeof(a->opts));
}

/* A new target for tc in the registry, scheduled: 1, or 0 on OOM. */
static int add_target(struct daemon *d, const struct target_cfg *tc, uint64_t now)
{
	struct target *t = registry_target_new(d, tc);
	if (!t || registry_append(d, t) < 0) {
		registry_target_destroy(t);
		log_warnx("discovery: out of memory adding %s", tc->name);
		return 0;
	}
	sched_add(d, t, now);
	return 1;
}

/* Bring the registry's discovered targets in line with every source's
 * lists: remove what went away or changed, add what is new, update labels
 * in place; unchanged targets keep their object (history, counters and
 * schedule). The first source (and file) to list a name wins. */
static void discovery_apply(struct daemon *d)
{
	struct discovery *ds = d->disc;
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
				if (!config_shard_mine(&d->cfg.d, tc->name)) {
					skipped++;
					continue;
				}
				const struct target_cfg **sl = want_slot(&w, tc->name);
				if (!*sl)
					*sl = tc;
			}
	/* Removals first, in one pass and one index rebuild. */
	size_t o = 0;
	for (size_t i = 0; i < d->nt; i++) {
		struct target *t = d->t[i];
		if (t->cfg.discovered) {
			const struct target_cfg **sl = want_slot(&w, t->cfg.name);
			if (!*sl || !same_probe(*sl, &t->cfg)) {
				sched_remove(d, t);
				removed++;
				continue;
			}
			char *nl;
			if (!labels_equal(t->cfg.labels, (*sl)->labels) &&
			    labels_dup((*sl)->labels, &nl) == 0) {
				free(t->cfg.labels);
				t->cfg.labels = nl;
			}
		}
		d->t[o++] = t;
	}
	d->nt = o;
	if (removed)
		registry_index_rebuild(d);
	uint64_t now = engine_now();
	for (size_t k = 0; k <= w.mask; k++) {
		const struct target_cfg *tc = w.slot[k];
		if (!tc)
			continue;
		struct target *t = registry_target_find(d, tc->name);
		if (t) {
			conflicts += !t->cfg.discovered; /* the config's (or ctl add's) wins */
			continue;
		}
		added += add_target(d, tc, now);
	}
	free(w.slot);
	ds->skipped = skipped;
	ds->conflicts = conflicts;
	ds->added += added;
	ds->removed += removed;
	ds->applies++;
	ds->last_apply_ns = engine_now() - t0;
	if (added || removed)
		sched_kick(d);
	if (added || removed)
		log_info("discovery: %" PRIu64 " targets added, %" PRIu64 " removed, %zu targets "
			 "(%.1f ms)", added, removed, d->nt, (double)ds->last_apply_ns / 1e6);
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
			nidx_free(&s->f[i].idx);
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
	discovery_apply(s->d);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct disc_source *s = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (int i = 0; i < 64; i++) /* drain, bounded */
		if (read(fd, buf, sizeof(buf)) <= 0)
			break;
	struct timeval tv = { 0, DISC_SETTLE_MS * 1000 };
	evtimer_add(s->settle_ev, &tv);
}

/* ---- http_sd --------------------------------------------------------------- */

static const char *http_error_str(enum evhttp_request_error e)
{
	switch (e) {
	case EVREQ_HTTP_TIMEOUT: return "timed out";
	case EVREQ_HTTP_EOF: return "connection closed early";
	case EVREQ_HTTP_INVALID_HEADER: return "invalid response header";
	case EVREQ_HTTP_BUFFER_ERROR: return "connection failed";
	case EVREQ_HTTP_REQUEST_CANCEL: return "cancelled";
	case EVREQ_HTTP_DATA_TOO_LONG: return "response larger than the limit";
	}
	return "failed";
}

static void on_http_error(enum evhttp_request_error e, void *arg)
{
	struct disc_source *s = arg;
	snprintf(s->http_err, sizeof(s->http_err), "%s", http_error_str(e));
}

/* ---- http_sd: a changed answer, off the loop and then in small steps ---- */

/* Everything the thread reads is its own or stays untouched until it is
 * joined: its copy of the text, defaults and shard, and the source's
 * current list and index (replaced only by on_job_done, freed only by
 * source_free, both after the join). */
struct disc_job {
	pthread_t th;
	int efd;
	char *text;
	size_t len;
	struct probe_opts defaults;
	struct daemon_cfg dc; /* shard_i, shard_n */
	const struct target_cfg *old;
	size_t nold;
	const struct name_idx *oldidx;
	/* results */
	int rc;
	char err[300];
	struct target_cfg *t;
	size_t n;
	struct name_idx idx;
	uint64_t skipped, parse_ns;
	char (*touched)[CFG_NAME_MAX];
	size_t ntouched;
};

static void job_free(struct disc_job *j)
{
	if (!j)
		return;
	free(j->text);
	discovery_free_targets(j->t, j->n);
	nidx_free(&j->idx);
	free(j->touched);
	free(j);
}

static bool same_cfg(const struct target_cfg *a, const struct target_cfg *b)
{
	return same_probe(a, b) && labels_equal(a->labels, b->labels);
}

/* Parse the answer, index it, and list the names whose config differs from
 * the current list (added, removed, changed): only those are reconciled. */
static void job_run(struct disc_job *j)
{
	uint64_t t0 = engine_now();
	j->rc = -1;
	if (discovery_parse(j->text, j->len, 0, &j->defaults, &j->t, &j->n, j->err,
			    sizeof(j->err)) < 0)
		return;
	if (nidx_build(&j->idx, j->t, j->n) < 0 ||
	    !(j->touched = malloc((j->n + j->nold + 1) * sizeof(*j->touched)))) {
		snprintf(j->err, sizeof(j->err), "out of memory");
		return;
	}
	for (size_t i = 0; i < j->n; i++) {
		const struct target_cfg *tc = &j->t[i], *o;
		if (nidx_get(&j->idx, j->t, tc->name) != tc)
			continue; /* a later duplicate: the first one counts */
		o = nidx_get(j->oldidx, j->old, tc->name);
		if (!o || !same_cfg(o, tc))
			memcpy(j->touched[j->ntouched++], tc->name, CFG_NAME_MAX);
	}
	for (size_t i = 0; i < j->nold; i++) {
		const struct target_cfg *o = &j->old[i];
		if (nidx_get(j->oldidx, j->old, o->name) == o && !nidx_get(&j->idx, j->t, o->name))
			memcpy(j->touched[j->ntouched++], o->name, CFG_NAME_MAX);
	}
	j->skipped = count_skipped(&j->dc, j->t, j->n);
	j->parse_ns = engine_now() - t0;
	j->rc = 0;
}

static void *job_thread(void *arg)
{
	struct disc_job *j = arg;
	job_run(j);
	uint64_t one = 1;
	if (write(j->efd, &one, sizeof(one)) < 0) { /* an eventfd write cannot fail here */
	}
	return NULL;
}

/* The config that wins name: the first source and file listing it, if this
 * shard takes it. */
static const struct target_cfg *disc_winner(struct daemon *d, const char *name)
{
	struct discovery *ds = d->disc;
	if (!config_shard_mine(&d->cfg.d, name))
		return NULL;
	for (size_t i = 0; i < ds->ns; i++)
		for (size_t k = 0; k < ds->s[i].nf; k++) {
			const struct disc_file *f = &ds->s[i].f[k];
			const struct target_cfg *tc = nidx_get(&f->idx, f->t, name);
			if (tc)
				return tc;
		}
	return NULL;
}

/* Bring the registry's target called name in line with the lists (as
 * discovery_apply does for all of them). */
static void reconcile(struct disc_source *s, const char *name, uint64_t now)
{
	struct daemon *d = s->d;
	const struct target_cfg *tc = disc_winner(d, name);
	struct target *t = registry_target_find(d, name);
	if (t && !t->cfg.discovered)
		return; /* the config's (or ctl add's) keeps it */
	if (t && tc && same_probe(tc, &t->cfg)) {
		char *nl;
		if (!labels_equal(t->cfg.labels, tc->labels) && labels_dup(tc->labels, &nl) == 0) {
			free(t->cfg.labels);
			t->cfg.labels = nl;
		}
		return;
	}
	if (t) {
		registry_remove(d, t);
		sched_remove(d, t);
		s->removed++;
	}
	if (!tc)
		return;
	s->added += add_target(d, tc, now);
}

/* Names taken by the config that a list wants (ctl status). */
static uint64_t count_conflicts(struct daemon *d)
{
	uint64_t n = 0;
	for (size_t i = 0; i < d->nt; i++)
		if (!d->t[i]->cfg.discovered && disc_winner(d, d->t[i]->cfg.name))
			n++;
	return n;
}

static void on_apply(evutil_socket_t fd, short what, void *arg)
{
	struct disc_source *s = arg;
	struct discovery *ds = s->d->disc;
	uint64_t t0 = engine_now(), a0 = s->added, r0 = s->removed;
	for (size_t k = 0; k < DISC_APPLY_CHUNK && s->pend_pos < s->npend; k++)
		reconcile(s, s->pend[s->pend_pos++], t0);
	s->passes++;
	if (s->added != a0 || s->removed != r0)
		sched_kick(s->d);
	if (s->pend_pos < s->npend) {
		s->loop_ns += engine_now() - t0;
		struct timeval zero = { 0, 0 };
		evtimer_add(s->apply_ev, &zero); /* after the timers due meanwhile */
		return;
	}
	free(s->pend);
	s->pend = NULL;
	s->npend = s->pend_pos = 0;
	ds->conflicts = count_conflicts(s->d);
	ds->added += s->added;
	ds->removed += s->removed;
	ds->applies++;
	s->busy = false;
	s->loop_ns += engine_now() - t0;
	s->last_refresh_ns = s->loop_ns;
	ds->last_apply_ns = s->loop_ns;
	if (s->added || s->removed)
		log_info("discovery: %" PRIu64 " targets added, %" PRIu64 " removed, %zu targets "
			 "(%.1f ms)", s->added, s->removed, s->d->nt, (double)s->loop_ns / 1e6);
	log_debug("discovery %s: %zu bytes, %zu targets: parsed in %.1f ms off the loop, refresh "
		  "%.1f ms of loop time in %u passes", s->cfg->name, s->body_len, s->f[0].n,
		  (double)s->parse_ns / 1e6, (double)s->loop_ns / 1e6, s->passes);
}

static void on_job_done(evutil_socket_t fd, short what, void *arg)
{
	struct disc_source *s = arg;
	struct discovery *ds = s->d->disc;
	struct disc_file *f = &s->f[0];
	uint64_t v, t0 = engine_now();
	if (read(s->efd, &v, sizeof(v)) < 0 || !s->job)
		return;
	struct disc_job *j = s->job;
	pthread_join(j->th, NULL);
	s->job = NULL;
	if (j->rc < 0) {
		s->busy = false;
		file_failed(s, f, j->err);
		job_free(j);
		return;
	}
	discovery_free_targets(f->t, f->n);
	nidx_free(&f->idx);
	f->t = j->t;
	f->n = j->n;
	f->idx = j->idx;
	f->error[0] = 0;
	ds->skipped = ds->skipped + j->skipped - f->skipped;
	f->skipped = j->skipped;
	free(s->body);
	s->body = j->text;
	s->body_len = j->len;
	s->pend = j->touched;
	s->npend = j->ntouched;
	s->pend_pos = 0;
	s->parse_ns = j->parse_ns;
	s->added = s->removed = 0;
	s->passes = 0;
	j->t = NULL;
	j->n = 0;
	j->idx.slot = NULL;
	j->text = NULL;
	j->touched = NULL;
	job_free(j);
	s->loop_ns += engine_now() - t0;
	on_apply(-1, 0, s);
}

/* Start a job for text (taken over); -1 (text freed) when no thread can
 * be started: the caller keeps the last list. */
static int job_start(struct disc_source *s, char *text, size_t len)
{
	struct disc_job *j = calloc(1, sizeof(*j));
	if (!j) {
		free(text);
		return -1;
	}
	const struct disc_file *f = &s->f[0];
	j->efd = s->efd;
	j->text = text;
	j->len = len;
	j->defaults = s->cfg->defaults;
	j->dc = s->d->cfg.d;
	j->old = f->t;
	j->nold = f->n;
	j->oldidx = &f->idx;
	/* Signals stay with the loop's thread. */
	sigset_t all, prev;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &prev);
	int rc = pthread_create(&j->th, NULL, job_thread, j);
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
	if (rc != 0) {
		job_free(j);
		return -1;
	}
	s->job = j;
	return 0;
}

static void on_http_done(struct evhttp_request *req, void *arg)
{
	struct disc_source *s = arg;
	struct disc_file *f = &s->f[0];
	uint64_t t0 = engine_now();
	char err[300];
	int code = req ? evhttp_request_get_response_code(req) : 0;
	s->busy = false;
	s->refreshes++;
	if (code == 0) {
		snprintf(err, sizeof(err), "no response: %s", s->http_err[0] ? s->http_err : "failed");
		file_failed(s, f, err);
		return;
	}
	if (code != 200) {
		snprintf(err, sizeof(err), "HTTP %d", code);
		file_failed(s, f, err);
		return;
	}
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(b);
	const char *text = len ? (const char *)evbuffer_pullup(b, -1) : "";
	if (len && !text) {
		file_failed(s, f, "out of memory");
		return;
	}
	/* The same answer as the last good one: nothing to parse or apply. */
	if (s->body && len == s->body_len && !memcmp(text, s->body, len)) {
		f->error[0] = 0;
		s->last_refresh_ns = engine_now() - t0;
		return;
	}
	char *copy = malloc(len + 1);
	if (copy)
		memcpy(copy, text, len);
	if (!copy || job_start(s, copy, len) < 0) {
		file_failed(s, f, "out of memory (or no thread) for parsing the answer");
		return;
	}
	s->busy = true; /* until the change is applied: one refresh at a time */
	s->loop_ns = engine_now() - t0;
	s->t_recv = t0;
}

static void http_fetch(struct disc_source *s)
{
	char err[300], hdr[600];
	if (s->busy)
		return; /* the last one is still running: its timeout ends it */
	if (!s->conn) {
		const char *host = evhttp_uri_get_host(s->uri);
		int port = evhttp_uri_get_port(s->uri);
		s->conn = evhttp_connection_base_new(s->d->base, s->dns, host, port > 0 ? port : 80);
		if (!s->conn) {
			file_failed(s, &s->f[0], "out of memory");
			return;
		}
		uint64_t to = s->cfg->refresh_ns / 1000000000u;
		evhttp_connection_set_timeout(s->conn, to && to < DISC_HTTP_TIMEOUT_S ? (int)to
										: DISC_HTTP_TIMEOUT_S);
		evhttp_connection_set_max_body_size(s->conn, DISC_HTTP_MAX);
		evhttp_connection_set_retries(s->conn, 0);
	}
	struct evhttp_request *req = evhttp_request_new(on_http_done, s);
	if (!req) {
		file_failed(s, &s->f[0], "out of memory");
		return;
	}
	evhttp_request_set_error_cb(req, on_http_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	httpauth_host(h, evhttp_uri_get_host(s->uri), evhttp_uri_get_port(s->uri));
	evhttp_add_header(h, "Accept", "application/json");
	evhttp_add_header(h, "User-Agent", "tcpprobe/" TCPPROBE_VERSION);
	snprintf(hdr, sizeof(hdr), "%" PRIu64, s->cfg->refresh_ns / 1000000000u);
	evhttp_add_header(h, "X-Prometheus-Refresh-Interval-Seconds", hdr);
	if (httpauth_add(h, s->cfg->bearer_token_file, s->cfg->basic_auth_user,
			 s->cfg->basic_auth_password_file, err, sizeof(err)) < 0) {
		evhttp_request_free(req);
		file_failed(s, &s->f[0], err);
		return;
	}
	const char *path = evhttp_uri_get_path(s->uri), *q = evhttp_uri_get_query(s->uri);
	snprintf(hdr, sizeof(hdr), "%s%s%s", path && *path ? path : "/", q ? "?" : "", q ? q : "");
	s->http_err[0] = 0;
	if (evhttp_make_request(s->conn, req, EVHTTP_REQ_GET, hdr) < 0) {
		/* evhttp_make_request frees req on failure */
		file_failed(s, &s->f[0], "cannot send the request");
		return;
	}
	s->busy = true;
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
	struct disc_source *s = arg;
	if (s->cfg->url[0])
		http_fetch(s);
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
	s->ino_ev = event_new(s->d->base, s->ino, EV_READ | EV_PERSIST, on_inotify, s);
	if (s->ino_ev)
		event_add(s->ino_ev, NULL);
}

static void source_free(struct disc_source *s)
{
	if (s->job) { /* it reads s->f[0]: wait for it (one parse at most) */
		pthread_join(s->job->th, NULL);
		job_free(s->job);
		s->job = NULL;
	}
	struct event *evs[] = { s->job_ev, s->apply_ev, s->ino_ev, s->settle_ev, s->refresh_ev };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	if (s->efd >= 0)
		close(s->efd);
	free(s->pend);
	free(s->body);
	if (s->conn) /* frees a request in flight without calling it back */
		evhttp_connection_free(s->conn);
	if (s->uri)
		evhttp_uri_free(s->uri);
	if (s->dns)
		evdns_base_free(s->dns, 0);
	if (s->ino >= 0)
		close(s->ino);
	for (size_t i = 0; i < s->nf; i++) {
		discovery_free_targets(s->f[i].t, s->f[i].n);
		nidx_free(&s->f[i].idx);
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

int discovery_start(struct daemon *d)
{
	if (!d->disc && !(d->disc = calloc(1, sizeof(*d->disc))))
		return -1;
	struct discovery *ds = d->disc;
	sources_free(ds);
	if (d->cfg.ndisc && !(ds->s = calloc(d->cfg.ndisc, sizeof(*ds->s))))
		return -1;
	for (size_t i = 0; i < d->cfg.ndisc; i++) {
		struct disc_source *s = &ds->s[ds->ns++];
		s->d = d;
		s->cfg = &d->cfg.disc[i];
		s->ino = -1;
		s->efd = -1;
		s->settle_ev = evtimer_new(d->base, on_settle, s);
		s->refresh_ev = event_new(d->base, -1, EV_PERSIST, on_refresh, s);
		if (!s->settle_ev || !s->refresh_ev)
			return -1;
		struct timeval tv = ns_timeval(s->cfg->refresh_ns);
		evtimer_add(s->refresh_ev, &tv);
		if (s->cfg->url[0]) {
			/* One entry, the URL; its first answer arrives on the loop. */
			s->f = calloc(1, sizeof(*s->f));
			s->uri = evhttp_uri_parse(s->cfg->url);
			s->dns = evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
			if (!s->dns) /* no resolv.conf: addresses still work */
				s->dns = evdns_base_new(d->base, 0);
			if (!s->f || !s->uri || !evhttp_uri_get_host(s->uri) ||
			    !(s->f->path = strdup(s->cfg->url)))
				return -1;
			s->nf = 1;
			s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (s->efd < 0 ||
			    !(s->job_ev = event_new(d->base, s->efd, EV_READ | EV_PERSIST, on_job_done, s)) ||
			    event_add(s->job_ev, NULL) < 0 ||
			    !(s->apply_ev = evtimer_new(d->base, on_apply, s)))
				return -1;
			http_fetch(s);
			continue;
		}
		source_watch(s); /* before the first read: a change meanwhile is not missed */
		source_scan(s);
	}
	discovery_apply(d);
	return 0;
}

void discovery_free(struct daemon *d)
{
	if (!d->disc)
		return;
	sources_free(d->disc);
	free(d->disc);
	d->disc = NULL;
}

void discovery_totals(struct daemon *d, struct discovery_totals *out)
{
	struct discovery *ds = d->disc;
	snprintf(out->shard, sizeof(out->shard), "%u/%u",
		 d->cfg.d.shard_n > 1 ? d->cfg.d.shard_i : 0, d->cfg.d.shard_n > 1 ? d->cfg.d.shard_n : 1);
	out->shard_skipped = d->shard_skipped + (ds ? ds->skipped : 0);
	out->sources = ds ? ds->ns : 0;
	out->conflicts = ds ? ds->conflicts : 0;
	out->apply_us = ds ? ds->last_apply_ns / 1000 : 0;
}

void discovery_source_status(struct daemon *d, size_t i, struct discovery_source_status *out)
{
	const struct disc_source *s = &d->disc->s[i];
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

const char *discovery_file_error(struct daemon *d, size_t i, size_t *k, char *buf, size_t len)
{
	const struct disc_source *s = &d->disc->s[i];
	for (; *k < s->nf; (*k)++)
		if (s->f[*k].error[0]) {
			snprintf(buf, len, "%s: %s", s->f[*k].path, s->f[*k].error);
			(*k)++;
			return buf;
		}
	return NULL;
}
