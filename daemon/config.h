/* config.h: the daemon's INI configuration (inih). Every error names
 * FILE:LINE; unknown sections and keys are errors. */
#ifndef TCPPROBE_CONFIG_H
#define TCPPROBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "config_keys.h"
#include "fsm.h"

#define CFG_NAME_MAX 64
#define CFG_HOST_MAX 256
#define CFG_CIDR_MAX 32
#define CFG_BUCKETS_MAX 32

/* nft: the daemon installs and removes the guard table itself; none: the
 * operator handles the kernel's RSTs; external: `tcpprobe guard install`
 * (e.g. a privileged ExecStartPre=) did, so the daemon needs no CAP_NET_ADMIN. */
enum rst_guard_mode { RST_GUARD_NFT, RST_GUARD_NONE, RST_GUARD_EXTERNAL };
/* The one place for its names (rst_guard, --rst-guard): -1 if s names none. */
int config_rst_guard_from_str(const char *s);
enum addr_family_pref { FAMILY_ANY = 0, FAMILY_V4 = 4, FAMILY_V6 = 6 };

/* What one probe of a target does: [defaults] and per-target overrides.
 * Each field is a probe key's, declared by its row of config_keys.h. */
struct probe_opts {
	PROBE_KEYS(PROBE_KEY_FIELD_WIDE)
	PROBE_KEYS(PROBE_KEY_FIELD_NARROW)
	struct pkt_syn_opts syn;  /* the SYN's options: keys mss, wscale, sack, timestamps */
};

struct target_cfg {
	char name[CFG_NAME_MAX];
	char host[CFG_HOST_MAX];
	struct probe_opts opts;
	int line;                 /* line of its [target NAME] header */
	char *labels;             /* labels.h packed set, NULL = none; owned */
	bool discovered;          /* from a [discovery] source, not the file */
};

/* Target names: what the control protocol accepts as a name, the config as
 * [target NAME] and discovery as a target string exactly as written
 * ("10.0.0.1:80", "[fd00::1]:443", "db-1.example:5432"). The one rule. */
#define CFG_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:[]"
static inline bool config_name_valid(const char *s)
{
	size_t n = 0;
	while (s[n] && n < CFG_NAME_MAX)
		n++;
	/* A leading '-' would read as an option ("--all") on both ends. */
	return n > 0 && n < CFG_NAME_MAX && s[0] != '-' && strspn(s, CFG_NAME_CHARS) == n;
}

/* [discovery NAME]: Prometheus file_sd files or an http_sd URL. */
#define CFG_PATH_MAX 256
struct discovery_cfg {
	char name[CFG_NAME_MAX];
	char *files;              /* space-separated globs; owned; NULL with url */
	char url[512];            /* http_sd: "http://HOST[:PORT]/PATH"; "" with files */
	char bearer_token_file[CFG_PATH_MAX];
	char basic_auth_user[128];
	char basic_auth_password_file[CFG_PATH_MAX];
	uint64_t refresh_ns;      /* re-read everything this often (inotify misses nothing else) */
	struct probe_opts defaults; /* [defaults] overlaid with this section's probe keys */
	int line;
	uint32_t probe_mask;      /* probe keys set in the section itself */
};

/* [remote_write NAME]: Prometheus remote write 1.0. */
struct remote_write_cfg {
	char name[CFG_NAME_MAX];
	char url[512];            /* "http://HOST[:PORT]/PATH" */
	uint64_t interval_ns;     /* collect and send every (default 15s) */
	uint64_t timeout_ns;      /* per request (default 10s) */
	char bearer_token_file[CFG_PATH_MAX];
	char basic_auth_user[128];
	char basic_auth_password_file[CFG_PATH_MAX];
	char *external_labels;    /* labels.h packed set; owned; NULL = none */
	uint64_t queue_max;       /* samples queued at most (default 1,000,000) */
	int line;
};

struct cidr {
	struct pkt_addr addr;
	uint8_t prefix;
};

struct daemon_cfg {
	char control_socket[108];
	mode_t control_mode;
	char control_group[CFG_NAME_MAX]; /* group owning the socket; "" = unchanged */
	char admin_group[CFG_NAME_MAX];   /* may run mutating commands; "" = root only */
	char metrics_listen[64];          /* "ADDR:PORT", "[v6]:PORT", or "" = off */
	uint16_t sport_lo, sport_hi;
	char user[CFG_NAME_MAX];          /* drop privileges to; "" = stay */
	unsigned max_inflight;
	unsigned pps;                     /* global packets-per-second cap */
	enum rst_guard_mode rst_guard;
	int log_level;                    /* enum log_level */
	unsigned history;                 /* results kept per target */
	uint64_t resolve_interval_ns;     /* host names looked up again after this */
	bool allow_loopback, allow_link_local;
	unsigned n_allow, n_deny;
	struct cidr allow[CFG_CIDR_MAX], deny[CFG_CIDR_MAX];
	unsigned n_buckets;               /* histogram bucket upper bounds, seconds */
	double buckets[CFG_BUCKETS_MAX];
	unsigned shard_i, shard_n;        /* shard = I/N: keep the targets hashed to I; N 1 = all */
	bool status_page;                 /* serve the status page on metrics_listen */
	uint64_t status_bucket_ns;        /* width of a status-page history bucket */
};

struct config {
	char *path;
	struct daemon_cfg d;
	struct probe_opts defaults;
	struct target_cfg *targets;
	size_t ntargets;
	struct discovery_cfg *disc;
	size_t ndisc;
	struct remote_write_cfg *rw;
	size_t nrw;
};

/* The key tables (config_keys.c, config_sections.c), for what lists the keys: the man page
 * checks, `ctl show`, `tcpprobe probe`. */
enum config_key_section {
	CONFIG_KEYS_DAEMON, CONFIG_KEYS_PROBE, CONFIG_KEYS_DISCOVERY, CONFIG_KEYS_REMOTE_WRITE
};
/* A `tcpprobe probe` option that sets a probe key: -short_opt (0: none)
 * and/or --name (NULL: none). arg names its argument; NULL makes it a flag
 * that sets the key to the word set ("--no-sack": sack = no, "-6": family =
 * ipv6). Two flags of one key that set it differently conflict. */
struct config_key_opt {
	char short_opt;
	const char *name, *arg, *set, *help;
};
#define CONFIG_KEY_OPTS 2 /* per key at most (family: -4, -6) */
struct config_key_info {
	const char *name;
	const char *def;          /* built-in default as a file writes it; NULL = empty */
	bool restart;             /* a reload keeps the running value */
	/* Probe keys: their `tcpprobe probe` options (ended by help == NULL),
	 * and the command line's own default where it is not def (NULL). */
	struct config_key_opt opts[CONFIG_KEY_OPTS];
	const char *opt_def;
	bool duration;            /* a plain number is seconds on the command line */
	/* What the key takes, for its man page entry (man/mangen.c): words in
	 * lower case, placeholders in upper case, alternatives split by '|'
	 * ("DURATION|off", "nft|none|external"); "" when the man page spells it.
	 * min..max: its range (ns for a duration), both 0 when it has none that
	 * is a number. doc: a sentence for a key the man page says nothing of. */
	char syntax[64];
	unsigned long long min, max;
	const char *doc;
};
size_t config_keys(enum config_key_section s);
void config_key_info(enum config_key_section s, size_t i, struct config_key_info *out);
/* Probe key k of o as a typed value (views: `ctl show`'s options), the
 * words and durations spelled as a config file takes them (buf holds them). */
enum config_value_type { CONFIG_VAL_STR, CONFIG_VAL_UINT, CONFIG_VAL_INT, CONFIG_VAL_BOOL };
struct config_value {
	enum config_value_type type;
	const char *s;
	unsigned long long u;
	long long i;
	bool b;
};
void config_probe_key_value(const struct probe_opts *o, size_t k, struct config_value *v,
			    char *buf, size_t len);
/* Reload: next's restart-only [daemon] keys that differ from running's
 * get running's values back; returns how many, names = their names. */
size_t config_daemon_keep_restart(struct daemon_cfg *next, const struct daemon_cfg *running,
				  char *names, size_t len);
/* Reload: the keys of a [remote_write] section that differ (they all need
 * a restart); returns how many, names = their names. */
size_t config_remote_write_changed(const struct remote_write_cfg *next,
				   const struct remote_write_cfg *running, char *names, size_t len);
/* The built-in probe options, as if from an empty [defaults]. */
void config_probe_defaults(struct probe_opts *o);
/* `tcpprobe probe`'s: the same with each option's opt_def. */
void config_probe_opt_defaults(struct probe_opts *o);
/* A one-shot probe (`ctl probe`) has no rounds or schedule: the keys of the
 * table marked .target_only (config_keys.h) go back to their built-in
 * defaults in o (taken from [defaults]), and _set names the first one o
 * has at another value (the request set it), NULL if none. */
void config_probe_oneshot_base(struct probe_opts *o);
const char *config_probe_target_only_set(const struct probe_opts *o);
/* Sets probe key k from one of its options' value: as a file's key=value,
 * within the command line's range; err says what is wrong with value. */
int config_probe_opt_set(struct probe_opts *o, size_t k, const char *value, char *err,
			 size_t errlen);

/* Load and validate path. On error returns -1 with err = "FILE:LINE: what". */
int config_load(const char *path, struct config *out, char *err, size_t errlen);
/* The built-in defaults, as if from an empty file. */
void config_defaults(struct config *c);
/* Print normalised: every key, defaults filled in, durations with units. */
void config_print(const struct config *c, FILE *f);
void config_free(struct config *c);

/* Shared value parsers, also used by `probe` options and `ctl add key=value`.
 * Each returns 0, or -1 with err set to what is wrong (no file:line). */
int config_parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen);
/* Apply one probe option key=value (kind, port, interval, timeout, ...). */
int config_set_probe_opt(struct probe_opts *o, const char *key, const char *value,
			 char *err, size_t errlen);
int config_parse_cidr(const char *s, struct cidr *out, char *err, size_t errlen);
/* Decimal, no sign, no blanks, within min..max ("010" is 10, never octal;
 * "0x10" is not a number): the probe keys' and `probe -c`'s numbers. */
int config_parse_uint(const char *s, unsigned long long min, unsigned long long max,
		      unsigned long long *out, char *err, size_t errlen);
/* A port as operators type it: decimal 1..65535; 0, hex ("0x50"), a leading
 * zero ("08080") and out-of-range values are errors that say why. */
int config_parse_port(const char *s, uint16_t *port, char *err, size_t errlen);
/* The one host:port parser: "HOST", "HOST:PORT", "[V6]:PORT" or a bare IPv6
 * address ("fd31::2:80" is refused as ambiguous). port is left unchanged
 * when arg has none. 0, or -1 with err. Used by targets, `probe`, `ctl
 * add/probe`, discovery, metrics_listen and the control protocol. */
int config_parse_hostport(const char *arg, char *host, size_t hostlen, uint16_t *port, char *err,
			  size_t errlen);
/* "LO-HI", each a port. */
int config_parse_port_range(const char *v, uint16_t *lo, uint16_t *hi, char *err, size_t errlen);
/* An address literal: 1 (out set; zone = the "%IFNAME" of a link-local IPv6
 * address, "" if none; zone may be NULL), 0 if s is not one (a host name to
 * resolve), -1 with err if it looks like an address but is not a full one
 * ("10.231.2" and "200" are not inet_aton shorthand; a zone only on fe80::/10). */
int config_parse_address(const char *s, struct pkt_addr *out, char *zone, size_t zonelen,
			 char *err, size_t errlen);
/* Format a duration with the largest exact unit ("250ms", "10s", "1m"). */
const char *config_duration_str(uint64_t ns, char *buf, size_t len);
/* FNV-1a of a target name: the name indexes of config, daemon and the
 * scheduler's phase spread all use it. */
uint64_t config_name_hash(const char *s);
/* A hostname (RFC 1123 labels, '_' tolerated) or an IPv4/IPv6 literal. */
bool config_host_valid(const char *s);
/* Flows whose probes would still be open at the next round: each flow's
 * next probe takes its 4-tuple over only from TIME_WAIT (engine.h). */
bool config_flows_hold_conflict(const struct probe_opts *o);
/* rendezvous hashing: does the target called name belong to shard i of n? */
bool config_shard_mine(const struct daemon_cfg *d, const char *name);
/* fsm parameters for opts. */
void config_fsm_params(const struct probe_opts *o, struct fsm_params *p);

#endif
