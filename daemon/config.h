/* config.h: the daemon's INI configuration (inih). Every error names
 * FILE:LINE; unknown sections and keys are errors. */
#ifndef TCPPROBE_CONFIG_H
#define TCPPROBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "fsm.h"

#define CFG_NAME_MAX 64
#define CFG_HOST_MAX 256
#define CFG_CIDR_MAX 32
#define CFG_BUCKETS_MAX 32

/* nft: the daemon installs and removes the guard table itself; none: the
 * operator handles the kernel's RSTs; external: `tcpprobe guard install`
 * (e.g. a privileged ExecStartPre=) did, so the daemon needs no CAP_NET_ADMIN. */
enum rst_guard_mode { RST_GUARD_NFT, RST_GUARD_NONE, RST_GUARD_EXTERNAL };
enum addr_family_pref { FAMILY_ANY = 0, FAMILY_V4 = 4, FAMILY_V6 = 6 };

/* What one probe of a target does: [defaults] and per-target overrides. */
struct probe_opts {
	enum probe_kind kind;
	uint16_t port;
	uint8_t family;           /* enum addr_family_pref */
	uint8_t ttl, tos;
	uint8_t retries;
	uint16_t window;
	struct pkt_syn_opts syn;  /* mss, wscale, sack, timestamps */
	uint64_t interval_ns;
	uint64_t timeout_ns;      /* initial RTO: wait for a reply, doubled per retry */
	uint64_t time_wait_ns;
	uint64_t fin_wait_2_ns;
	uint64_t hold_ns;
};

struct target_cfg {
	char name[CFG_NAME_MAX];
	char host[CFG_HOST_MAX];
	struct probe_opts opts;
	int line;                 /* line of its [target NAME] header */
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
};

struct config {
	char *path;
	struct daemon_cfg d;
	struct probe_opts defaults;
	struct target_cfg *targets;
	size_t ntargets;
};

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
/* Format a duration with the largest exact unit ("250ms", "10s", "1m"). */
const char *config_duration_str(uint64_t ns, char *buf, size_t len);
/* FNV-1a of a target name: the name indexes of config, daemon and the
 * scheduler's phase spread all use it. */
uint64_t config_name_hash(const char *s);
/* fsm parameters for opts. */
void config_fsm_params(const struct probe_opts *o, struct fsm_params *p);

#endif
