/* ctlproto.c: framing, parsing and validation of control requests. Pure. */
#include "ctlproto.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"

/* The command table: one row per command, in the order `help` lists them.
 * control_cmds.c has the matching handler table indexed by enum ctl_cmd. */
static const struct ctl_cmd_info ctl_cmds[CTL_CMD_COUNT] = {
	[CTL_STATUS] = { "status", CTL_STATUS, 0, 0, CTL_ACC_READ, { CTL_ARG_NONE }, false, "",
			 "daemon version, uptime, counters, memory" },
	[CTL_TARGETS] = { "targets", CTL_TARGETS, 0, 0, CTL_ACC_READ, { CTL_ARG_NONE }, false, "",
			  "every target with its last result and latency" },
	[CTL_SHOW] = { "show", CTL_SHOW, 1, 1, CTL_ACC_READ, { CTL_ARG_NAME }, false, "NAME",
		       "everything about one target" },
	[CTL_HISTORY] = { "history", CTL_HISTORY, 1, 2, CTL_ACC_READ,
			  { CTL_ARG_NAME, CTL_ARG_COUNT }, false, "NAME [N]",
			  "the last N results of a target, newest first (default 10)" },
	[CTL_PROBE] = { "probe", CTL_PROBE, 1, CTL_ARGS_MAX, CTL_ACC_ADMIN,
			{ CTL_ARG_HOSTPORT, CTL_ARG_KV }, true, "HOST:PORT [key=value ...]",
			"probe once now (kind=syn, timeout=2s, ...)" },
	[CTL_ADD] = { "add", CTL_ADD, 2, CTL_ARGS_MAX, CTL_ACC_ADMIN,
		      { CTL_ARG_NAME, CTL_ARG_HOSTPORT, CTL_ARG_KV }, false,
		      "NAME HOST:PORT [key=value ...]", "add a target until the next reload" },
	[CTL_REMOVE] = { "remove", CTL_REMOVE, 1, 1, CTL_ACC_ADMIN, { CTL_ARG_NAME }, false,
			 "NAME", "remove a target" },
	[CTL_PAUSE] = { "pause", CTL_PAUSE, 1, 1, CTL_ACC_ADMIN, { CTL_ARG_NAME_OR_ALL }, false,
			"NAME|--all", "stop probing a target (or all), keeping its history" },
	[CTL_RESUME] = { "resume", CTL_RESUME, 1, 1, CTL_ACC_ADMIN, { CTL_ARG_NAME_OR_ALL },
			 false, "NAME|--all", "probe a paused target (or all) again" },
	[CTL_RELOAD] = { "reload", CTL_RELOAD, 0, 0, CTL_ACC_ADMIN, { CTL_ARG_NONE }, false, "",
			 "read the configuration file again" },
	[CTL_METRICS] = { "metrics", CTL_METRICS, 0, 0, CTL_ACC_READ, { CTL_ARG_NONE }, false,
			  "", "the Prometheus metrics as text" },
	[CTL_WATCH] = { "watch", CTL_WATCH, 0, 0, CTL_ACC_READ, { CTL_ARG_NONE }, true, "",
			"stream every result until the client disconnects" },
	[CTL_LOG_LEVEL] = { "log-level", CTL_LOG_LEVEL, 0, 1, CTL_ACC_ADMIN_WITH_ARGS,
			    { CTL_ARG_LEVEL }, false, "[LEVEL]",
			    "show or set the log level (error warning notice info debug)" },
	[CTL_HELP] = { "help", CTL_HELP, 0, 0, CTL_ACC_READ, { CTL_ARG_NONE }, false, "",
		       "list the commands" },
};

const char *ctl_cmd_str(enum ctl_cmd c)
{
	switch (c) {
	case CTL_STATUS: return "status";
	case CTL_TARGETS: return "targets";
	case CTL_SHOW: return "show";
	case CTL_HISTORY: return "history";
	case CTL_PROBE: return "probe";
	case CTL_ADD: return "add";
	case CTL_REMOVE: return "remove";
	case CTL_PAUSE: return "pause";
	case CTL_RESUME: return "resume";
	case CTL_RELOAD: return "reload";
	case CTL_METRICS: return "metrics";
	case CTL_WATCH: return "watch";
	case CTL_LOG_LEVEL: return "log-level";
	case CTL_HELP: return "help";
	}
	return "?";
}

const char *ctl_perr_str(enum ctl_perr e)
{
	switch (e) {
	case CTL_POK: return "ok";
	case CTL_PGARBAGE: return "garbage";
	case CTL_PEMPTY: return "empty";
	case CTL_PUNKNOWN: return "unknown";
	case CTL_PUSAGE: return "usage";
	case CTL_PTOOLONG: return "too-long";
	}
	return "?";
}

const char *ctl_access_str(enum ctl_access a)
{
	switch (a) {
	case CTL_ACC_READ: return "read";
	case CTL_ACC_ADMIN: return "admin";
	case CTL_ACC_ADMIN_WITH_ARGS: return "admin-to-set";
	}
	return "?";
}

const struct ctl_cmd_info *ctl_cmd_get(enum ctl_cmd c)
{
	return (unsigned)c < CTL_CMD_COUNT ? &ctl_cmds[c] : NULL;
}

const struct ctl_cmd_info *ctl_cmd_lookup(const char *name)
{
	for (size_t i = 0; i < CTL_CMD_COUNT; i++)
		if (!strcmp(ctl_cmds[i].name, name))
			return &ctl_cmds[i];
	return NULL;
}

bool ctl_request_is_admin(const struct ctl_request *req)
{
	switch (req->cmd->access) {
	case CTL_ACC_READ: return false;
	case CTL_ACC_ADMIN: return true;
	case CTL_ACC_ADMIN_WITH_ARGS: return req->argc > 0;
	}
	return true; /* unknown: deny by default */
}

enum ctl_frame ctl_frame(const char *buf, size_t len, size_t *line_len, size_t *consumed)
{
	size_t n = len < CTL_LINE_MAX ? len : CTL_LINE_MAX;
	const char *nl = memchr(buf, '\n', n);
	if (!nl) {
		*line_len = *consumed = 0;
		return len >= CTL_LINE_MAX ? CTL_FRAME_TOOLONG : CTL_FRAME_MORE;
	}
	size_t l = (size_t)(nl - buf);
	*consumed = l + 1;
	if (l && buf[l - 1] == '\r')
		l--;
	*line_len = l;
	return CTL_FRAME_LINE;
}

bool ctl_text_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned c = *p;
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			p++;
			continue;
		}
		unsigned n, min;
		uint32_t cp;
		if ((c & 0xe0) == 0xc0) {
			n = 1, min = 0x80, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, min = 0x800, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) < n + 1)
			return false;
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		/* C1 controls (U+0080..U+009F) are control characters too. */
		if (cp < 0xa0)
			return false;
		p += n + 1;
	}
	return true;
}

static bool in_set(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

bool ctl_name_valid(const char *s) { return config_name_valid(s); }

/* Syntax only, split as everywhere else (config_parse_hostport): the
 * daemon resolves and checks the address policy. */
bool ctl_hostport_valid(const char *s)
{
	char host[CFG_HOST_MAX];
	uint16_t port = 0;
	if (s[0] == '-' || config_parse_hostport(s, host, sizeof(host), &port, NULL, 0) < 0)
		return false;
	if (strchr(host, ':')) /* IPv6, bracketed or bare */
		return in_set(host, "0123456789abcdefABCDEF:.%" NAME_CHARS);
	return s[0] != '[' && in_set(host, NAME_CHARS); /* brackets are for IPv6 */
}

bool ctl_kv_valid(const char *s)
{
	const char *eq = strchr(s, '=');
	size_t n = strlen(s);
	if (!eq || eq == s || !eq[1] || n >= CTL_KV_MAX || (size_t)(eq - s) >= 32)
		return false;
	for (const char *p = s; p < eq; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", *p))
			return false;
	/* Values: printable ASCII; no quoting, so no spaces. */
	for (const char *p = eq + 1; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	return true;
}

static bool count_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 6 || !in_set(s, "0123456789"))
		return false;
	unsigned long v = 0;
	for (; *s; s++)
		v = v * 10 + (unsigned long)(*s - '0');
	return v >= 1 && v <= CTL_COUNT_MAX;
}

static const char *arg_check(enum ctl_arg t, const char *a)
{
	switch (t) {
	case CTL_ARG_NONE: return "no argument expected";
	case CTL_ARG_NAME:
		return ctl_name_valid(a) ? NULL : "is not a target name ([A-Za-z0-9._-:[]], 1-63)";
	case CTL_ARG_NAME_OR_ALL:
		return !strcmp(a, "--all") || ctl_name_valid(a) ? NULL
								 : "is not a target name or --all";
	case CTL_ARG_HOSTPORT:
		return ctl_hostport_valid(a) ? NULL : "is not HOST:PORT (IPv6 as [ADDR]:PORT)";
	case CTL_ARG_KV:
		return ctl_kv_valid(a) ? NULL : "is not key=value";
	case CTL_ARG_COUNT:
		return count_valid(a) ? NULL : "is not a count (1-100000)";
	case CTL_ARG_LEVEL:
		return log_level_from_str(a) >= 0 ? NULL
						  : "is not a log level (" LOG_LEVEL_NAMES ")";
	}
	return "bad argument";
}

/* A word for an error message: at most 40 bytes, non-ASCII as '?', so the
 * reply stays valid UTF-8 whatever was cut. */
static const char *word_sane(const char *w, char *buf, size_t len)
{
	size_t i = 0;
	for (; w[i] && i < len - 1 && i < 40; i++)
		buf[i] = (unsigned char)w[i] < 0x80 ? w[i] : '?';
	buf[i] = 0;
	if (w[i] && i >= 3)
		memcpy(buf + i - 3, "...", 3);
	return buf;
}

static enum ctl_perr usage_err(const struct ctl_cmd_info *ci, char *err, size_t errlen)
{
	snprintf(err, errlen, "usage: %s%s%s", ci->name, ci->usage[0] ? " " : "", ci->usage);
	return CTL_PUSAGE;
}

enum ctl_perr ctl_parse(const char *line, size_t len, struct ctl_request *req, char *err,
			size_t errlen)
{
	memset(req, 0, offsetof(struct ctl_request, buf));
	req->buf[0] = 0;
	if (len >= CTL_LINE_MAX) {
		snprintf(err, errlen, "request longer than %d bytes", CTL_LINE_MAX - 1);
		return CTL_PTOOLONG;
	}
	if (memchr(line, 0, len) || !ctl_text_valid(line, len)) {
		snprintf(err, errlen, "request is not text (control characters or invalid UTF-8)");
		return CTL_PGARBAGE;
	}
	memcpy(req->buf, line, len);
	req->buf[len] = 0;

	char *words[CTL_ARGS_MAX + 2];
	unsigned nw = 0;
	for (char *p = req->buf; *p;) {
		while (*p == ' ')
			*p++ = 0;
		if (!*p)
			break;
		if (nw == CTL_ARGS_MAX + 1) {
			snprintf(err, errlen, "more than %d arguments", CTL_ARGS_MAX);
			return CTL_PUSAGE;
		}
		words[nw++] = p;
		while (*p && *p != ' ')
			p++;
	}
	if (!nw) {
		snprintf(err, errlen, "empty request (try 'help')");
		return CTL_PEMPTY;
	}
	const struct ctl_cmd_info *ci = ctl_cmd_lookup(words[0]);
	if (!ci) {
		char w[48];
		snprintf(err, errlen, "unknown command '%s' (try 'help')",
			 word_sane(words[0], w, sizeof(w)));
		return CTL_PUNKNOWN;
	}
	unsigned argc = nw - 1;
	if (argc < ci->min_args || argc > ci->max_args)
		return usage_err(ci, err, errlen);
	for (unsigned i = 0; i < argc; i++) {
		unsigned ti = i < 2 ? i : 2;
		while (ti > 0 && ci->args[ti] == CTL_ARG_NONE)
			ti--;
		const char *why = arg_check(ci->args[ti], words[i + 1]);
		if (why) {
			char w[48];
			snprintf(err, errlen, "%s: '%s' %s", ci->name,
				 word_sane(words[i + 1], w, sizeof(w)), why);
			return CTL_PUSAGE;
		}
	}
	req->cmd = ci;
	req->argc = argc;
	for (unsigned i = 0; i < argc; i++)
		req->argv[i] = words[i + 1];
	req->argv[argc] = NULL;
	return CTL_POK;
}
