/* discovery.c: Prometheus file_sd sources (see discovery.h).
 *
 * A file is a list of groups {"targets": [...], "labels": {...}} in JSON
 * (jansson) or YAML (libyaml, converted to the same jansson tree so that one
 * walker checks both). Each target string becomes a target named exactly as
 * written. Labels starting with "__" are not exported; "__tcpprobe_KEY" sets
 * the probe option KEY for the group. A file that fails to read or parse, or
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
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "daemon_priv.h"
#include "discovery.h"
#include "hostport.h"
#include "httpauth.h"
#include "json.h"
#include "labels.h"
#include "log.h"

#define DISC_FILE_MAX (64u << 20) /* bytes per file_sd file */
#define DISC_SETTLE_MS 50
#define DISC_HTTP_MAX (16u << 20)   /* bytes of an http_sd response */
#define DISC_HTTP_TIMEOUT_S 10      /* or the refresh, if shorter */

struct disc_file {
	char *path;
	struct target_cfg *t; /* last good list */
	size_t n;
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
	uint64_t refreshes, errors;
	char last_error[400];
};

struct discovery {
	struct disc_source *s;
	size_t ns;
	uint64_t skipped, conflicts; /* last apply: other shards' / names taken by the config */
	uint64_t applies, last_apply_ns, added, removed;
};

/* ---- parsing ------------------------------------------------------------- */

void discovery_free_targets(struct target_cfg *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].labels);
	free(t);
}

static json_t *yaml_to_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	if (!n || depth > 16)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
	case YAML_SEQUENCE_NODE: {
		json_t *a = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     a && it < n->data.sequence.items.top; it++) {
			json_t *v = yaml_to_json(doc, yaml_document_get_node(doc, *it), depth + 1);
			if (!v || json_array_append_new(a, v) < 0) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	case YAML_MAPPING_NODE: {
		json_t *o = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     o && p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			if (!k || k->type != YAML_SCALAR_NODE) {
				json_decref(o);
				return NULL;
			}
			json_t *v = yaml_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1);
			char key[256];
			snprintf(key, sizeof(key), "%.*s", (int)k->data.scalar.length,
				 (const char *)k->data.scalar.value);
			if (!v || json_object_set_new(o, key, v) < 0) {
				json_decref(o);
				return NULL;
			}
		}
		return o;
	}
	case YAML_NO_NODE:
		break;
	}
	return NULL;
}

static json_t *load_yaml(const char *text, size_t len, char *err, size_t errlen)
{
	yaml_parser_t p;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&p)) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &doc)) {
		snprintf(err, errlen, "line %zu: %s", p.problem_mark.line + 1,
			 p.problem ? p.problem : "YAML error");
		yaml_parser_delete(&p);
		return NULL;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	json_t *j = root ? yaml_to_json(&doc, root, 0) : json_array(); /* empty file: no groups */
	if (!j)
		snprintf(err, errlen, "not a list of groups of strings (or not UTF-8)");
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return j;
}

static int group_opts(json_t *labels, struct probe_opts *o, struct labels_build *lb, char *err,
		      size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v)
	{
		if (!json_is_string(v)) {
			snprintf(err, errlen, "label '%.64s' is not a string", k);
			return -1;
		}
		const char *s = json_string_value(v);
		if (!strncmp(k, "__tcpprobe_", 11)) {
			char why[200];
			if (config_set_probe_opt(o, k + 11, s, why, sizeof(why)) < 0) {
				snprintf(err, errlen, "%.64s: %s", k, why);
				return -1;
			}
		} else if (strncmp(k, "__", 2)) {
			if (labels_build_add(lb, k, s, err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

static int group_targets(json_t *targets, const struct probe_opts *o, const char *labels,
			 struct target_cfg **out, size_t *n, size_t *cap, char *err, size_t errlen)
{
	size_t i;
	json_t *v;
	json_array_foreach(targets, i, v)
	{
		const char *s = json_string_value(v);
		if (!s) {
			snprintf(err, errlen, "targets[%zu] is not a string", i);
			return -1;
		}
		if (!config_name_valid(s)) {
			snprintf(err, errlen, "target '%.80s': not 1-%d characters of A-Z a-z 0-9 . _ - : [ ]",
				 s, CFG_NAME_MAX - 1);
			return -1;
		}
		struct target_cfg tc;
		memset(&tc, 0, sizeof(tc));
		tc.opts = *o;
		char why[256];
		if (hostport_split(s, tc.host, sizeof(tc.host), &tc.opts.port, why, sizeof(why)) < 0 ||
		    !config_host_valid(tc.host)) {
			snprintf(err, errlen, "target '%s' is not HOST, HOST:PORT or [V6]:PORT", s);
			return -1;
		}
		snprintf(tc.name, sizeof(tc.name), "%s", s);
		tc.discovered = true;
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 16;
			struct target_cfg *a = realloc(*out, c * sizeof(*a));
			if (!a)
				goto oom;
			*out = a;
			*cap = c;
		}
		if (labels_dup(labels, &tc.labels) < 0)
			goto oom;
		(*out)[(*n)++] = tc;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int discovery_parse(const char *text, size_t len, int yaml, const struct probe_opts *defaults,
		    struct target_cfg **out, size_t *n, char *err, size_t errlen)
{
	json_t *root;
	if (yaml) {
		root = load_yaml(text, len, err, errlen);
	} else {
		json_error_t je;
		root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
		if (!root)
			snprintf(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
	}
	if (!root)
		return -1;
	struct target_cfg *t = NULL;
	size_t nt = 0, cap = 0, gi;
	int rc = -1;
	json_t *g;
	char why[320];
	if (!json_is_array(root)) {
		snprintf(err, errlen, "not a list of groups");
		goto out;
	}
	/* One allocation of the final size: 10,000 targets are 4 MB. */
	json_array_foreach(root, gi, g)
		cap += json_array_size(json_object_get(g, "targets"));
	if (cap && !(t = malloc(cap * sizeof(*t)))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	json_array_foreach(root, gi, g)
	{
		json_t *targets = json_object_get(g, "targets"), *labels = json_object_get(g, "labels");
		const char *k;
		json_t *v;
		if (!json_is_object(g) || !json_is_array(targets) || (labels && !json_is_object(labels))) {
			snprintf(err, errlen, "group %zu: not {\"targets\": [...], \"labels\": {...}}", gi);
			goto out;
		}
		json_object_foreach(g, k, v)
		{
			if (strcmp(k, "targets") && strcmp(k, "labels")) {
				snprintf(err, errlen, "group %zu: unknown key '%.64s'", gi, k);
				goto out;
			}
		}
		struct probe_opts o = *defaults;
		struct labels_build lb;
		char *set = NULL;
		labels_build_init(&lb);
		int r = labels ? group_opts(labels, &o, &lb, why, sizeof(why)) : 0;
		if (r == 0 && labels_build_finish(&lb, &set) < 0) {
			snprintf(why, sizeof(why), "out of memory");
			r = -1;
		}
		labels_build_free(&lb);
		if (r == 0)
			r = group_targets(targets, &o, set, &t, &nt, &cap, why, sizeof(why));
		free(set);
		if (r < 0) {
			snprintf(err, errlen, "group %zu: %s", gi, why);
			goto out;
		}
	}
	*out = t;
	*n = nt;
	t = NULL;
	rc = 0;
out:
	if (t)
		discovery_free_targets(t, nt);
	json_decref(root);
	return rc;
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
	free(text);
	discovery_free_targets(f->t, f->n);
	f->t = t;
	f->n = n;
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
		daemon_index_rebuild(d);
	uint64_t now = engine_now();
	for (size_t k = 0; k <= w.mask; k++) {
		const struct target_cfg *tc = w.slot[k];
		if (!tc)
			continue;
		struct target *t = daemon_target_find(d, tc->name);
		if (t) {
			conflicts += !t->cfg.discovered; /* the config's (or ctl add's) wins */
			continue;
		}
		t = daemon_target_new(d, tc);
		if (!t || daemon_registry_append(d, t) < 0) {
			target_destroy(t);
			log_warnx("discovery: out of memory adding %s", tc->name);
			continue;
		}
		sched_add(d, t, now);
		added++;
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
	struct target_cfg *t = NULL;
	size_t n = 0;
	if (len && !text) {
		file_failed(s, f, "out of memory");
		return;
	}
	if (discovery_parse(text, len, 0, &s->cfg->defaults, &t, &n, err, sizeof(err)) < 0) {
		file_failed(s, f, err);
		return;
	}
	discovery_free_targets(f->t, f->n);
	f->t = t;
	f->n = n;
	f->error[0] = 0;
	uint64_t t1 = engine_now();
	discovery_apply(s->d);
	s->last_refresh_ns = engine_now() - t0;
	log_debug("discovery %s: %zu bytes, %zu targets: parsed in %.1f ms, refresh %.1f ms of loop "
		  "time", s->cfg->name, len, n, (double)(t1 - t0) / 1e6,
		  (double)s->last_refresh_ns / 1e6);
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
	if (s->conn) /* frees a request in flight without calling it back */
		evhttp_connection_free(s->conn);
	if (s->uri)
		evhttp_uri_free(s->uri);
	if (s->dns)
		evdns_base_free(s->dns, 0);
	if (s->ino_ev)
		event_free(s->ino_ev);
	if (s->settle_ev)
		event_free(s->settle_ev);
	if (s->refresh_ev)
		event_free(s->refresh_ev);
	if (s->ino >= 0)
		close(s->ino);
	for (size_t i = 0; i < s->nf; i++) {
		discovery_free_targets(s->f[i].t, s->f[i].n);
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
		s->settle_ev = evtimer_new(d->base, on_settle, s);
		s->refresh_ev = event_new(d->base, -1, EV_PERSIST, on_refresh, s);
		if (!s->settle_ev || !s->refresh_ev)
			return -1;
		struct timeval tv = { (time_t)(s->cfg->refresh_ns / 1000000000u),
				      (suseconds_t)(s->cfg->refresh_ns % 1000000000u / 1000) };
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

void discovery_status_json(struct daemon *d, struct jbuf *j)
{
	struct discovery *ds = d->disc;
	jb_key(j, "shard");
	char sh[32];
	snprintf(sh, sizeof(sh), "%u/%u", d->cfg.d.shard_n > 1 ? d->cfg.d.shard_i : 0,
		 d->cfg.d.shard_n > 1 ? d->cfg.d.shard_n : 1);
	jb_str(j, sh);
	jb_key(j, "shard_skipped");
	jb_uint(j, d->shard_skipped + (ds ? ds->skipped : 0));
	jb_key(j, "discovery");
	jb_arr(j);
	for (size_t i = 0; ds && i < ds->ns; i++) {
		const struct disc_source *s = &ds->s[i];
		size_t n = 0, bad = 0;
		for (size_t k = 0; k < s->nf; k++) {
			n += s->f[k].n;
			bad += s->f[k].error[0] != 0;
		}
		jb_obj(j);
		jb_key(j, "name");
		jb_str(j, s->cfg->name);
		if (s->cfg->url[0]) {
			jb_key(j, "url");
			jb_str(j, s->cfg->url);
			jb_key(j, "refresh_us"); /* loop time of the last answer: parse + apply */
			jb_uint(j, s->last_refresh_ns / 1000);
		}
		jb_key(j, "files");
		jb_uint(j, s->nf);
		jb_key(j, "files_failing");
		jb_uint(j, bad);
		jb_key(j, "targets");
		jb_uint(j, n);
		jb_key(j, "refreshes");
		jb_uint(j, s->refreshes);
		jb_key(j, "errors");
		jb_uint(j, s->errors);
		/* Every file failing now (keeping its last good list). */
		jb_key(j, "file_errors");
		jb_arr(j);
		for (size_t k = 0; k < s->nf; k++)
			if (s->f[k].error[0]) {
				char le[700];
				snprintf(le, sizeof(le), "%s: %s", s->f[k].path, s->f[k].error);
				jb_str(j, le);
			}
		jb_arr_end(j);
		jb_key(j, "last_error");
		jb_str(j, s->last_error);
		jb_obj_end(j);
	}
	jb_arr_end(j);
	jb_key(j, "discovery_conflicts");
	jb_uint(j, ds ? ds->conflicts : 0);
	jb_key(j, "discovery_apply_us");
	jb_uint(j, ds ? ds->last_apply_ns / 1000 : 0);
}
