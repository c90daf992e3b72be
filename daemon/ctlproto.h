/* ctlproto.h: the control socket's request language, shared by the daemon
 * (control.c) and the client (ctl.c). Pure: no I/O, no libevent, no daemon
 * state, so the same code is unit tested and fuzzed.
 *
 * A request is one line, at most CTL_LINE_MAX bytes with its "\n" (a "\r"
 * before it is ignored): COMMAND [ARG ...] separated by spaces, printable
 * ASCII/UTF-8, no control characters. Replies are JSON, one per line. */
#ifndef TCPPROBE_CTLPROTO_H
#define TCPPROBE_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>

#define CTL_LINE_MAX 4096   /* request bytes including the "\n" */
#define CTL_ARGS_MAX 32     /* words after the command */
#define CTL_KV_MAX 256      /* one key=value argument */

enum ctl_cmd {
	CTL_STATUS,
	CTL_TARGETS,
	CTL_SHOW,
	CTL_HISTORY,
	CTL_PROBE,
	CTL_ADD,
	CTL_REMOVE,
	CTL_PAUSE,
	CTL_RESUME,
	CTL_RELOAD,
	CTL_METRICS,
	CTL_WATCH,
	CTL_LOG_LEVEL,
	CTL_HELP,
};
#define CTL_CMD_COUNT (CTL_HELP + 1)

/* Who may run a command. */
enum ctl_access {
	CTL_ACC_READ,           /* anyone who can connect */
	CTL_ACC_ADMIN,          /* uid 0 or admin_group: changes the daemon or sends packets */
	CTL_ACC_ADMIN_WITH_ARGS,/* read without arguments, admin with (log-level LEVEL) */
};

/* What an argument must look like. */
enum ctl_arg {
	CTL_ARG_NONE,
	CTL_ARG_NAME,        /* target name: [A-Za-z0-9._-], 1..CFG_NAME_MAX-1 */
	CTL_ARG_NAME_OR_ALL, /* a name or "--all" */
	CTL_ARG_HOSTPORT,    /* HOST, HOST:PORT, [V6]:PORT */
	CTL_ARG_KV,          /* key=value probe option */
	CTL_ARG_COUNT,       /* 1..CTL_COUNT_MAX */
	CTL_ARG_LEVEL,       /* error | warning | warn | notice | info | debug */
};
#define CTL_COUNT_MAX 100000u

struct ctl_cmd_info {
	const char *name;
	enum ctl_cmd cmd;
	unsigned min_args, max_args;
	enum ctl_access access;
	/* Type of argument i; arguments past the last entry take the last one. */
	enum ctl_arg args[3];
	bool streams;        /* replies with event lines before (probe) or after (watch) "ok" */
	const char *usage;   /* arguments, for help */
	const char *help;
};

/* Outcome of ctl_parse. Every failure has a message for the user; GARBAGE
 * (bytes that are not text) counts against the client. */
enum ctl_perr {
	CTL_POK,
	CTL_PGARBAGE,   /* NUL, control characters, invalid UTF-8 */
	CTL_PEMPTY,     /* nothing but spaces */
	CTL_PUNKNOWN,   /* no such command */
	CTL_PUSAGE,     /* wrong number or form of arguments */
	CTL_PTOOLONG,   /* longer than CTL_LINE_MAX */
};

struct ctl_request {
	const struct ctl_cmd_info *cmd;
	unsigned argc;                 /* arguments after the command */
	char *argv[CTL_ARGS_MAX + 1];  /* point into buf; argv[argc] = NULL */
	char buf[CTL_LINE_MAX];
};

/* Framing: look for one request line at the start of buf (len bytes
 * received so far). */
enum ctl_frame {
	CTL_FRAME_MORE,    /* no "\n" yet and still under the limit: wait */
	CTL_FRAME_LINE,    /* *line_len bytes of request ("\r\n" stripped), *consumed with the "\n" */
	CTL_FRAME_TOOLONG, /* CTL_LINE_MAX bytes and no "\n": reject */
};
enum ctl_frame ctl_frame(const char *buf, size_t len, size_t *line_len, size_t *consumed);

/* Parse one line (without its "\n"; len < CTL_LINE_MAX) into req. On
 * failure err says why, ready to send to the user. */
enum ctl_perr ctl_parse(const char *line, size_t len, struct ctl_request *req, char *err,
			size_t errlen);

/* Does this request change the daemon or send packets? */
bool ctl_request_is_admin(const struct ctl_request *req);

const struct ctl_cmd_info *ctl_cmd_lookup(const char *name);
const struct ctl_cmd_info *ctl_cmd_get(enum ctl_cmd c);
const char *ctl_cmd_str(enum ctl_cmd c);
const char *ctl_perr_str(enum ctl_perr e); /* "ok", "garbage", ... */
const char *ctl_access_str(enum ctl_access a); /* "read", "admin", "admin-to-set" */

/* Argument checks, also used by the client before it connects. */
bool ctl_name_valid(const char *s);
bool ctl_hostport_valid(const char *s);
bool ctl_kv_valid(const char *s);
/* Strict UTF-8 (no overlongs, surrogates or > U+10FFFF), no NUL, no C0/DEL. */
bool ctl_text_valid(const char *s, size_t len);

#endif
