/* discovery_priv.h: what the discovery module's files share: discovery.c
 * (the sources, file_sd, applying to the registry) and discovery_http.c
 * (http_sd: fetching, the parse job, reconciling in steps). Not for other
 * modules. */
#ifndef TCPPROBE_DISCOVERY_PRIV_H
#define TCPPROBE_DISCOVERY_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct disc_job;
struct event_base;
struct registry;
struct evdns_base;
struct event;
struct evhttp_connection;
struct evhttp_uri;

#define DISC_FILE_MAX (64u << 20) /* bytes per file_sd file */
#define DISC_SETTLE_MS 50

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
	struct discovery *ds;
	const struct discovery_cfg *cfg; /* in ds->cfg->disc: replaced with it on reload */
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
	uint64_t loop_ns, parse_ns; /* this refresh's loop time so far, its parse */
	uint64_t added, removed;   /* by this refresh so far */
	unsigned passes;
	uint64_t refreshes, errors;
	char last_error[400];
};

struct discovery {
	struct registry *reg;       /* where the targets go (registry.h's API) */
	struct event_base *base;
	const struct config *cfg;   /* the running config (discovery_start) */
	struct disc_source *s;
	size_t ns;
	uint64_t skipped, conflicts; /* last apply: other shards' / names taken by the config */
	uint64_t last_apply_ns, added, removed;
};

/* discovery.c */
void disc_nidx_free(struct name_idx *x);
/* Index the n configs of t by name; -1 on OOM (x untouched). */
int disc_nidx_build(struct name_idx *x, const struct target_cfg *t, size_t n);
/* The first config named name in t (indexed by x), or NULL. */
const struct target_cfg *disc_nidx_get(const struct name_idx *x, const struct target_cfg *t,
				       const char *name);
uint64_t disc_count_skipped(const struct daemon_cfg *dc, const struct target_cfg *t, size_t n);
/* f could not be read: it keeps its last good list; say so. */
int disc_file_failed(struct disc_source *s, struct disc_file *f, const char *err);
bool disc_same_probe(const struct target_cfg *a, const struct target_cfg *b);
/* A new target for tc in the registry, scheduled: 1, or 0 on OOM. */
int disc_add_target(struct discovery *ds, const struct target_cfg *tc, uint64_t now);

/* discovery_http.c: an http_sd source (s->cfg->url): set it up and send
 * the first request (-1 on OOM), request again (every refresh), free what
 * it holds (waiting for a parse job in flight). */
int disc_http_start(struct disc_source *s);
void disc_http_fetch(struct disc_source *s);
void disc_http_free(struct disc_source *s);

#endif
