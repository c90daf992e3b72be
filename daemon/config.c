/*
 * config.c: the INI parser of the configuration. inih splits "key = value" and strips
 * comments; everything else is ours, through a reader function that hands
 * inih one line at a time. We need it because Debian's libinih (r55) is
 * built with a 200-byte line buffer, without INI_HANDLER_LINENO and without
 * INI_CALL_HANDLER_ON_NEW_SECTION, and because it:
 *   - truncates longer lines silently and parses the rest as a new line
 *     (which also shifts every later line number): the reader rejects them;
 *   - truncates section names to 49 bytes ("[target " + a 63-byte name does
 *     not fit): the reader parses headers itself, and sees empty sections;
 *   - treats an indented line as the continuation of the previous value
 *     (Python's multi-line values): the reader strips leading blanks.
 * The reader counts lines, so the handler, which inih calls for a line
 * before it asks for the next one, knows the line it is working on.
 *
 * Only the first error is reported; parsing stops there.
 *
 * [defaults] applies to every target wherever it appears in the file: each
 * target records which probe keys it set, and takes the rest from
 * [defaults] once the whole file is read.
 */
#include "config.h"
#include "config_priv.h"
#include "labels.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ---- the parser ----------------------------------------------------------- */

enum section { SEC_NONE, SEC_DAEMON, SEC_DEFAULTS, SEC_TARGET, SEC_DISCOVERY, SEC_REMOTE_WRITE };

#define KEY_HOST ((int)CONFIG_PROBE_KEYS_MAX) /* target key index after the probe keys */
#define KEY_LABELS ((int)CONFIG_PROBE_KEYS_MAX + 1)
/* A [discovery] key of its own (config_sections.c's table), after the probe keys. */
#define KEY_DISC(k) ((int)CONFIG_PROBE_KEYS_MAX + 2 + (k))
#define KEYS_MAX (CONFIG_PROBE_KEYS_MAX + 2 + CONFIG_SECT_KEYS_MAX) /* key_line[]: any section's */
_Static_assert(CONFIG_DAEMON_KEYS_MAX <= KEYS_MAX, "KEYS_MAX");

struct parser {
	const char *path;
	FILE *f;
	char *line;          /* getline() buffer */
	size_t cap;
	int lineno;

	struct config *c;
	enum section sect;
	size_t cur;          /* target being read, in c->targets */
	int key_line[KEYS_MAX]; /* where each key was set in this section, 0 = not */
	int daemon_line, defaults_line; /* their header lines, 0 = not seen */
	bool key_seen[CONFIG_DAEMON_KEYS_MAX]; /* [daemon] keys met so far in the file */

	size_t tcap;         /* c->targets capacity */
	uint32_t *tmask;     /* per target: probe keys it set itself */
	/* Hash set of target names: a slot holds the name's hash (low 32 bits)
	 * over its target index + 1 (0 = empty), so that probing compares
	 * hashes and growing rehashes without touching c->targets (a cache
	 * miss per look: 12% of 100,000 targets' start-up). */
	uint64_t *names;
	size_t nnames;       /* slots, a power of 2 */

	int errline;         /* > 0: failed; err holds the message */
	char *err;
	size_t errlen;
};

static void perr(struct parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void perr(struct parser *p, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	if (p->errline)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->errline = line > 0 ? line : 1;
	config_seterr(p->err, p->errlen, "%s:%d: %s", p->path, line, msg);
}

#define NAME_SLOT(h, idx1) ((uint64_t)(h) << 32 | (idx1))
#define NAME_IDX1(s) ((uint32_t)(s))  /* target index + 1; 0 = empty */
#define NAME_HASH(s) ((uint32_t)((s) >> 32))

/* The slot for a name of hash h (name NULL: any free one, for a name known
 * to be new): holding it, or the empty slot to put it in. */
static uint64_t *names_slot(struct parser *p, uint32_t h, const char *name)
{
	size_t mask = p->nnames - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint64_t *s = &p->names[i];
		if (!NAME_IDX1(*s) || (name && NAME_HASH(*s) == h &&
				       !strcmp(p->c->targets[NAME_IDX1(*s) - 1].name, name)))
			return s;
	}
}

static int names_grow(struct parser *p)
{
	size_t old = p->nnames;
	uint64_t *ov = p->names;
	size_t n = old ? old * 2 : 1024;
	p->names = calloc(n, sizeof(*p->names));
	if (!p->names) {
		p->names = ov;
		return -1;
	}
	p->nnames = n;
	for (size_t i = 0; i < old; i++)
		if (NAME_IDX1(ov[i]))
			*names_slot(p, NAME_HASH(ov[i]), NULL) = ov[i];
	free(ov);
	return 0;
}

/* Called when a section ends (a new header, or end of file). */
static void section_end(struct parser *p)
{
	if (p->sect == SEC_TARGET) {
		struct target_cfg *t = &p->c->targets[p->cur];
		if (!t->host[0])
			perr(p, t->line, "target '%s' has no host", t->name);
	}
	if (p->sect == SEC_REMOTE_WRITE && !p->c->rw[p->c->nrw - 1].url[0])
		perr(p, p->c->rw[p->c->nrw - 1].line, "[remote_write %s] needs url = http://...",
		     p->c->rw[p->c->nrw - 1].name);
	if (p->sect == SEC_REMOTE_WRITE) {
		struct remote_write_cfg *r = &p->c->rw[p->c->nrw - 1];
		if (!r->basic_auth_user[0] != !r->basic_auth_password_file[0])
			perr(p, r->line, "[remote_write %s]: basic_auth_user and "
				 "basic_auth_password_file go together", r->name);
	}
	if (p->sect == SEC_DISCOVERY) {
		struct discovery_cfg *dc = &p->c->disc[p->c->ndisc - 1];
		if (!dc->files == !dc->url[0])
			perr(p, dc->line, "[discovery %s] needs either files = GLOB ... or url = http://...",
			     dc->name);
		else if (!dc->basic_auth_user[0] != !dc->basic_auth_password_file[0])
			perr(p, dc->line, "[discovery %s]: basic_auth_user and basic_auth_password_file "
				 "go together", dc->name);
		else if (dc->files && (dc->bearer_token_file[0] || dc->basic_auth_user[0]))
			perr(p, dc->line, "[discovery %s]: authentication is for url", dc->name);
		if (!p->key_line[KEY_DISC(config_sect_key_find(CONFIG_KEYS_DISCOVERY, "refresh"))] &&
		    dc->url[0])
			dc->refresh_ns = 60ull * 1000000000ull; /* http_sd's default, as Prometheus's */
	}
}

static int target_add(struct parser *p, const char *name, int line)
{
	struct config *c = p->c;
	if ((c->ntargets + 1) * 2 > p->nnames && names_grow(p) < 0)
		goto oom;
	uint32_t h = (uint32_t)config_name_hash(name);
	uint64_t *slot = names_slot(p, h, name);
	if (NAME_IDX1(*slot)) {
		perr(p, line, "duplicate target '%s' (first at line %d)", name,
		     c->targets[NAME_IDX1(*slot) - 1].line);
		return -1;
	}
	if (c->ntargets >= UINT32_MAX - 1) {
		perr(p, line, "too many targets");
		return -1;
	}
	if (c->ntargets == p->tcap) {
		size_t n = p->tcap ? p->tcap * 2 : 64;
		struct target_cfg *t = realloc(c->targets, n * sizeof(*t));
		if (!t)
			goto oom;
		c->targets = t;
		uint32_t *m = realloc(p->tmask, n * sizeof(*m));
		if (!m)
			goto oom;
		p->tmask = m;
		p->tcap = n;
	}
	struct target_cfg *t = &c->targets[c->ntargets];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->line = line;
	p->tmask[c->ntargets] = 0;
	p->cur = c->ntargets++;
	*slot = NAME_SLOT(h, (uint32_t)c->ntargets);
	return 0;
oom:
	perr(p, line, "out of memory");
	return -1;
}

/* s: a line starting with '['. Returns 0, or -1 after perr(). */
/* "[WORD NAME]" of a section that repeats by name ([discovery NAME],
 * [remote_write NAME]): NAME checked, a duplicate refused, and a new zeroed
 * element of size elem appended to *arr (its name first, its line at
 * line_off) with its key table's defaults; the parser is then in section
 * st. 0, -1 after an error, -2 when sec is not WORD's. */
_Static_assert(offsetof(struct discovery_cfg, name) == 0 &&
		       offsetof(struct remote_write_cfg, name) == 0,
	       "named sections start with their name");
static int named_section(struct parser *p, const char *sec, const char *word, void **arr,
			 size_t *n, size_t elem, size_t line_off, enum config_key_section ks,
			 enum section st, int line)
{
	size_t wl = strlen(word);
	if (strncmp(sec, word, wl) || (sec[wl] != '\0' && sec[wl] != ' ' && sec[wl] != '\t'))
		return -2;
	const char *name = sec + wl;
	name += strspn(name, " \t");
	if (!config_name_valid(name)) {
		perr(p, line, "[%s NAME] needs a name of 1-%d characters of A-Z a-z 0-9 . _ - : [ ], "
		     "not starting with -", word, CFG_NAME_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < *n; i++) {
		const char *el = (const char *)*arr + i * elem;
		if (!strcmp(el, name)) {
			perr(p, line, "duplicate section [%s %s] (first at line %d)", word, name,
			     *(const int *)(el + line_off));
			return -1;
		}
	}
	char *a = realloc(*arr, (*n + 1) * elem);
	if (!a) {
		perr(p, line, "out of memory");
		return -1;
	}
	*arr = a;
	a += (*n)++ * elem;
	memset(a, 0, elem);
	snprintf(a, CFG_NAME_MAX, "%s", name);
	*(int *)(a + line_off) = line;
	config_sect_defaults(ks, a);
	p->sect = st;
	return 0;
}

static int section_header(struct parser *p, const char *s)
{
	const char *e = strchr(s, ']');
	int line = p->lineno;
	if (!e) {
		perr(p, line, "section header without ']'");
		return -1;
	}
	const char *rest = e + 1;
	rest += strspn(rest, " \t");
	if (*rest && *rest != ';' && *rest != '#') {
		perr(p, line, "unexpected text after ']': '%s'", rest);
		return -1;
	}
	const char *b = s + 1;
	b += strspn(b, " \t");
	size_t n = (size_t)(e - b);
	while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
		n--;
	char sec[256];
	if (n >= sizeof(sec))
		n = sizeof(sec) - 1;
	memcpy(sec, b, n);
	sec[n] = '\0';

	section_end(p);
	if (p->errline)
		return -1;
	memset(p->key_line, 0, sizeof(p->key_line));

	if (!strcmp(sec, "daemon") || !strcmp(sec, "defaults")) {
		bool dm = sec[1] == 'a';
		int *seen = dm ? &p->daemon_line : &p->defaults_line;
		if (*seen) {
			perr(p, line, "duplicate section [%s] (first at line %d)", sec, *seen);
			return -1;
		}
		*seen = line;
		p->sect = dm ? SEC_DAEMON : SEC_DEFAULTS;
		return 0;
	}
	if (!strncmp(sec, "target", 6) && (sec[6] == '\0' || sec[6] == ' ' || sec[6] == '\t')) {
		const char *name = sec + 6;
		name += strspn(name, " \t");
		size_t nl = strlen(name);
		if (nl == 0) {
			perr(p, line, "[target] needs a name: [target NAME]");
			return -1;
		}
		if (!config_name_valid(name)) {
			perr(p, line, "bad target name '%s': use 1-%d characters of A-Z a-z 0-9 . _ - : [ ]"
			     ", not starting with -", name, CFG_NAME_MAX - 1);
			return -1;
		}
		if (target_add(p, name, line) < 0)
			return -1;
		p->sect = SEC_TARGET;
		return 0;
	}
	int r = named_section(p, sec, "discovery", (void **)&p->c->disc, &p->c->ndisc,
			      sizeof(*p->c->disc), offsetof(struct discovery_cfg, line),
			      CONFIG_KEYS_DISCOVERY, SEC_DISCOVERY, line);
	if (r == -2)
		r = named_section(p, sec, "remote_write", (void **)&p->c->rw, &p->c->nrw,
				  sizeof(*p->c->rw), offsetof(struct remote_write_cfg, line),
				  CONFIG_KEYS_REMOTE_WRITE, SEC_REMOTE_WRITE, line);
	if (r != -2)
		return r;
	perr(p, line, "unknown section [%s]", sec);
	return -1;
}

/* One key of a [discovery NAME] or [remote_write NAME] section (the key
 * tables, config_sections.c); key_line[at + k] says where key k was set. */
static int sect_key(struct parser *p, enum config_key_section s, void *base, int at,
		    const char *name, const char *value, int line)
{
	char why[384];
	int k = config_sect_key_find(s, name);
	if (k < 0)
		return -1;
	if (p->key_line[at + k]) {
		perr(p, line, "%s: already set at line %d", name, p->key_line[at + k]);
		return 0;
	}
	p->key_line[at + k] = line;
	if (config_sect_key_set(s, base, k, value, true, why, sizeof(why)) < 0) {
		perr(p, line, "%s: %s", name, why);
		return 0;
	}
	return 1;
}

static int remote_write_key(struct parser *p, const char *name, const char *value, int line)
{
	struct remote_write_cfg *r = &p->c->rw[p->c->nrw - 1];
	int rc = sect_key(p, CONFIG_KEYS_REMOTE_WRITE, r, 0, name, value, line);
	if (rc < 0)
		perr(p, line, "unknown key '%s' in [remote_write %s]", name, r->name);
	return rc > 0;
}

/* [discovery NAME] keys: its own and any probe key. */
static int discovery_key(struct parser *p, const char *name, const char *value, int line)
{
	struct discovery_cfg *dc = &p->c->disc[p->c->ndisc - 1];
	char why[384];
	int rc = sect_key(p, CONFIG_KEYS_DISCOVERY, dc, KEY_DISC(0), name, value, line);
	if (rc >= 0)
		return rc;
	int k = config_probe_key_find(name);
	if (k < 0) {
		perr(p, line, "unknown key '%s' in [discovery %s]", name, dc->name);
		return 0;
	}
	if (p->key_line[k]) {
		perr(p, line, "%s: already set at line %d", name, p->key_line[k]);
		return 0;
	}
	p->key_line[k] = line;
	if (config_probe_key_set(&dc->defaults, k, value, why, sizeof(why)) < 0) {
		perr(p, line, "%s: %s", name, why);
		return 0;
	}
	dc->probe_mask |= 1u << k;
	return 1;
}

/* rendezvous (highest random weight) hashing: each shard scores the name;
 * the highest score wins, so going from N to N+1 shards moves only the
 * names the new shard now wins, about 1/(N+1) of them. */
bool config_shard_mine(const struct daemon_cfg *d, const char *name)
{
	if (d->shard_n <= 1)
		return true;
	uint64_t h = config_name_hash(name), best = 0;
	unsigned win = 0;
	for (unsigned j = 0; j < d->shard_n; j++) {
		uint64_t x = h ^ (0x9e3779b97f4a7c15ull * (j + 1)); /* splitmix64 finaliser */
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		x ^= x >> 31;
		if (j == 0 || x > best) {
			best = x;
			win = j;
		}
	}
	return win == d->shard_i;
}

/* What inih accepts as a key line: '=' or ':' before any inline comment
 * (';' after a blank). Checked here so that inih never fails on its own
 * and every error has a message of ours. */
static bool key_line_ok(const char *s)
{
	for (const char *q = s; *q; q++) {
		if (*q == '=' || *q == ':')
			return q > s;
		if (*q == ';' && q > s && (q[-1] == ' ' || q[-1] == '\t'))
			return false;
	}
	return false;
}

static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	if (p->errline)
		return NULL;
	errno = 0;
	ssize_t n = getline(&p->line, &p->cap, p->f);
	if (n < 0) {
		if (ferror(p->f) && !p->errline) {
			p->errline = p->lineno > 0 ? p->lineno : 1;
			config_seterr(p->err, p->errlen, "%s: %s", p->path, strerror(errno ? errno : EIO));
		}
		return NULL;
	}
	p->lineno++;
	char *s = p->line;
	if (memchr(s, '\0', (size_t)n)) {
		perr(p, p->lineno, "line contains a NUL byte");
		return NULL;
	}
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	if (p->lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
		s += 3;
	s += strspn(s, " \t");
	size_t len = strlen(s);
	/* inih needs room for the line, '\r', '\n' and '\0' (ini.h). */
	if (num < 4 || len > (size_t)num - 3) {
		perr(p, p->lineno, "line is too long (%zu characters; at most %d)", len, num - 3);
		return NULL;
	}
	if (*s == '[') {
		if (section_header(p, s) < 0)
			return NULL;
	} else if (*s && *s != ';' && *s != '#' && !key_line_ok(s)) {
		if (*s == '=' || *s == ':')
			perr(p, p->lineno, "missing key before '%c'", *s);
		else
			perr(p, p->lineno, "expected 'key = value', '[section]' or a comment");
		return NULL;
	}
	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	struct config *c = p->c;
	char why[384];
	int line = p->lineno, k;
	(void)section; /* truncated by inih: we keep our own */

	if (p->errline)
		return 0;
	switch (p->sect) {
	case SEC_NONE:
		perr(p, line, "key '%s' outside a section (start with [daemon], [defaults] or "
			      "[target NAME])", name);
		return 0;
	case SEC_DISCOVERY:
		return discovery_key(p, name, value, line);
	case SEC_REMOTE_WRITE:
		return remote_write_key(p, name, value, line);
	case SEC_DAEMON:
		k = config_sect_key_find(CONFIG_KEYS_DAEMON, name);
		if (k < 0) {
			perr(p, line, "unknown key '%s' in [daemon]", name);
			return 0;
		}
		if (p->key_line[k] && !config_sect_key_appends(CONFIG_KEYS_DAEMON, k)) {
			perr(p, line, "%s: already set at line %d", name, p->key_line[k]);
			return 0;
		}
		p->key_line[k] = line;
		if (config_sect_key_set(CONFIG_KEYS_DAEMON, &c->d, k, value, !p->key_seen[k], why,
					sizeof(why)) < 0) {
			perr(p, line, "%s: %s", name, why);
			return 0;
		}
		p->key_seen[k] = true;
		return 1;
	case SEC_DEFAULTS:
	case SEC_TARGET: {
		bool tgt = p->sect == SEC_TARGET;
		struct target_cfg *t = tgt ? &c->targets[p->cur] : NULL;
		const char *where = tgt ? "target " : "defaults";
		const char *wname = tgt ? t->name : "";
		if (!strcmp(name, "host")) {
			if (!tgt) {
				perr(p, line, "unknown key 'host' in [defaults] (host belongs in "
					      "[target NAME])");
				return 0;
			}
			k = KEY_HOST;
		} else if (!strcmp(name, "labels") && tgt) {
			k = KEY_LABELS;
		} else {
			k = config_probe_key_find(name);
			if (k < 0) {
				perr(p, line, "unknown key '%s' in [%s%s]", name, where, wname);
				return 0;
			}
		}
		if (p->key_line[k]) {
			perr(p, line, "%s: already set at line %d", name, p->key_line[k]);
			return 0;
		}
		p->key_line[k] = line;
		if (k == KEY_LABELS) {
			struct labels_build lb;
			labels_build_init(&lb);
			if (labels_build_parse(&lb, value, why, sizeof(why)) < 0) {
				labels_build_free(&lb);
				perr(p, line, "labels: %s", why);
				return 0;
			}
			int r = labels_build_finish(&lb, &t->labels);
			labels_build_free(&lb);
			if (r < 0) {
				perr(p, line, "out of memory");
				return 0;
			}
			return 1;
		}
		if (k == KEY_HOST) {
			struct pkt_addr a;
			int lit = config_parse_address(value, &a, NULL, 0, why, sizeof(why));
			if (lit < 0) {
				perr(p, line, "host: %s", why);
				return 0;
			}
			if (!lit && !config_host_valid(value)) {
				perr(p, line, "host: '%s' is not a hostname or address", value);
				return 0;
			}
			snprintf(t->host, sizeof(t->host), "%s", value);
			return 1;
		}
		if (config_probe_key_set(tgt ? &t->opts : &c->defaults, k, value, why,
					 sizeof(why)) < 0) {
			perr(p, line, "%s: %s", name, why);
			return 0;
		}
		if (tgt)
			p->tmask[p->cur] |= 1u << k;
		return 1;
	}
	}
	return 0;
}

/* Builds into a local config and hands it over only on success: on error
 * *out holds the defaults and owns nothing, so a caller may load a reload
 * into a fresh struct and swap, and never needs config_free() on failure. */
int config_load(const char *path, struct config *out, char *err, size_t errlen)
{
	struct config c;
	struct parser p;
	int rc = -1;

	config_defaults(&c);
	memset(&p, 0, sizeof(p));
	p.path = path;
	p.c = &c;
	p.err = err;
	p.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';

	p.f = fopen(path, "r");
	if (!p.f) {
		config_seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	int r = ini_parse_stream(reader, &p, handler, &p);
	if (!p.errline) {
		if (r == -2)
			config_seterr(err, errlen, "%s: out of memory", path);
		else if (r != 0)
			config_seterr(err, errlen, "%s:%d: syntax error", path, r);
		if (r != 0)
			goto out;
		section_end(&p);
	}
	if (p.errline)
		goto out;

	/* [defaults] for whatever each target left unset. */
	for (size_t i = 0; i < c.ntargets; i++) {
		struct target_cfg *t = &c.targets[i];
		for (size_t k = 0; k < config_keys(CONFIG_KEYS_PROBE); k++)
			if (!(p.tmask[i] & (1u << k)))
				config_probe_key_copy(&t->opts, &c.defaults, (int)k);
	}
	for (size_t i = 0; i < c.ndisc; i++) {
		struct discovery_cfg *dc = &c.disc[i];
		for (size_t k = 0; k < config_keys(CONFIG_KEYS_PROBE); k++)
			if (!(dc->probe_mask & (1u << k)))
				config_probe_key_copy(&dc->defaults, &c.defaults, (int)k);
	}
	/* Checked once [defaults] apply. */
	for (size_t i = 0; i < c.ntargets && !p.errline; i++) {
		const struct target_cfg *t = &c.targets[i];
		if (config_flows_hold_conflict(&t->opts))
			perr(&p, t->line, "target '%s': flows = %u needs hold below interval: each "
			     "flow's probe would still be open at the next round", t->name,
			     t->opts.flows);
	}
	for (size_t i = 0; i < c.ndisc && !p.errline; i++) {
		const struct discovery_cfg *dc = &c.disc[i];
		if (config_flows_hold_conflict(&dc->defaults))
			perr(&p, dc->line, "[discovery %s]: flows = %u needs hold below interval: each "
			     "flow's probe would still be open at the next round", dc->name,
			     dc->defaults.flows);
	}
	if (p.errline)
		goto out;
	c.path = strdup(path);
	if (!c.path) {
		config_seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	rc = 0;
out:
	if (p.f)
		fclose(p.f);
	free(p.line);
	free(p.tmask);
	free(p.names);
	if (rc < 0) {
		config_free(&c);
		config_defaults(out);
	} else {
		*out = c;
	}
	return rc;
}

void config_free(struct config *c)
{
	free(c->path);
	for (size_t i = 0; i < c->ntargets; i++)
		free(c->targets[i].labels);
	free(c->targets);
	for (size_t i = 0; i < c->ndisc; i++)
		free(c->disc[i].files);
	free(c->disc);
	c->disc = NULL;
	c->ndisc = 0;
	for (size_t i = 0; i < c->nrw; i++)
		free(c->rw[i].external_labels);
	free(c->rw);
	c->rw = NULL;
	c->nrw = 0;
	c->path = NULL;
	c->targets = NULL;
	c->ntargets = 0;
}
