/* ctl.c: `tcpprobe ctl`, the control socket's client. Sends one request
 * line, reads JSON lines back (jansson), and prints them as they came
 * (--json) or for people, picking the renderer from a table by command
 * (bgpctl's habit). The daemon's replies are the single source of truth:
 * the text is made from the same JSON by views_text.c, and a probe result
 * by report.c, as `tcpprobe probe` prints it. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "ctlproto.h"
#include "commands.h"
#include "timens.h"
#include "views_text.h"

#define CTL_DEFAULT_SOCKET "/run/tcpprobe/control.sock"
#define CTL_TIMEOUT_S 10
#define CTL_PROBE_MIN_S 60
#define CTL_REPLY_MAX (256u << 20) /* one reply line; metrics of a huge daemon fit */

static const char *prog = "tcpprobe ctl";
static volatile sig_atomic_t interrupted;

/* ---- renderers, one per command ------------------------------------------------ */

typedef void (*ctl_render)(const json_t *reply, const struct ctl_request *rq);

/* ctl targets --labels: a LABELS column (client side only). */
static bool show_labels;

static void render_status(const json_t *r, const struct ctl_request *rq)
{
	view_text_status(stdout, r);
}

static void render_targets(const json_t *r, const struct ctl_request *rq)
{
	view_text_targets(stdout, r, show_labels);
}

static void render_show(const json_t *r, const struct ctl_request *rq)
{
	view_text_show(stdout, r);
}

static void render_history(const json_t *r, const struct ctl_request *rq)
{
	view_text_history(stdout, r);
}

static void render_metrics(const json_t *r, const struct ctl_request *rq)
{
	fputs(view_text_str(r, "text", ""), stdout);
}

static void render_log_level(const json_t *r, const struct ctl_request *rq)
{
	printf("log level: %s\n", view_text_str(r, "log_level", "?"));
}

static void render_help(const json_t *r, const struct ctl_request *rq)
{
	size_t i;
	const json_t *c;
	json_array_foreach(json_object_get(r, "commands"), i, c) {
		char u[96];
		snprintf(u, sizeof(u), "%s %s", view_text_str(c, "name", "?"), view_text_str(c, "usage", ""));
		const char *acc = view_text_str(c, "access", "read");
		printf("  %-40s %s%s%s%s\n", u, view_text_str(c, "help", ""), strcmp(acc, "read") ? " [" : "",
		       strcmp(acc, "read") ? acc : "", strcmp(acc, "read") ? "]" : "");
	}
}

static void render_done(const json_t *r, const struct ctl_request *rq)
{
	static const struct { const char *cmd, *done; } words[] = {
		{ "add", "added" }, { "remove", "removed" }, { "pause", "paused" },
		{ "resume", "resumed" },
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(rq->cmd->name, words[i].cmd))
			continue;
		if (!strcmp(rq->argv[0], "--all"))
			printf("%s all targets\n", words[i].done);
		else
			printf("%s %s\n", words[i].done, rq->argv[0]);
		return;
	}
	if (rq->cmd->cmd == CTL_RELOAD) {
		printf("reloaded: %.0f targets\n", json_number_value(json_object_get(r, "targets")));
	}
}

/* Streaming: each result event, and the final/first "ok". */
static void render_event(const json_t *r, bool probe)
{
	view_text_result(stdout, json_object_get(r, "result"), !probe, probe);
}

static const ctl_render renderers[CTL_CMD_COUNT] = {
	[CTL_STATUS] = render_status,   [CTL_TARGETS] = render_targets,
	[CTL_SHOW] = render_show,       [CTL_HISTORY] = render_history,
	[CTL_PROBE] = NULL,             [CTL_ADD] = render_done,
	[CTL_REMOVE] = render_done,     [CTL_PAUSE] = render_done,
	[CTL_RESUME] = render_done,     [CTL_RELOAD] = render_done,
	[CTL_METRICS] = render_metrics, [CTL_WATCH] = NULL,
	[CTL_LOG_LEVEL] = render_log_level, [CTL_HELP] = render_help,
};

/* ---- the connection ------------------------------------------------------------ */

struct conn {
	int fd;
	char *buf;
	size_t len, cap, start;
	size_t scanned; /* buf[start..scanned) holds no "\n": a megabyte reply is
			 * searched once, not again after every read */
};

static int ctl_connect(const char *path, int timeout_s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: socket path too long: %s\n", prog, path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
		return -1;
	}
	/* A Unix connect blocks while the daemon's backlog is full: bound it. */
	struct timeval tv = { timeout_s, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		const char *hint = "";
		if (e == ENOENT || e == ECONNREFUSED)
			hint = " (is the daemon running?)";
		else if (e == EACCES || e == EPERM)
			hint = " (need access to the socket)";
		else if (e == EAGAIN || e == EINPROGRESS || e == ETIMEDOUT)
			hint = " (the daemon is not accepting)";
		fprintf(stderr, "%s: cannot connect to %s: %s%s\n", prog, path,
			e == EINPROGRESS ? "timed out" : strerror(e), hint);
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int64_t now_ms(void)
{
	return (int64_t)(clock_ns(CLOCK_MONOTONIC) / NS_PER_MS);
}

/* Next reply line (NUL-terminated, without "\n") into *line. deadline_ms
 * < 0: wait forever. Returns 1, 0 at EOF, -1 on error (message printed),
 * -2 on interruption. */
static int read_line(struct conn *c, int64_t deadline_ms, char **line, size_t *len)
{
	for (;;) {
		size_t from = c->scanned > c->start ? c->scanned : c->start;
		char *nl = c->len > from ? memchr(c->buf + from, '\n', c->len - from) : NULL;
		c->scanned = nl ? (size_t)(nl - c->buf) + 1 : c->len;
		if (nl) {
			*nl = 0;
			*line = c->buf + c->start;
			*len = (size_t)(nl - *line);
			c->start = (size_t)(nl - c->buf) + 1;
			return 1;
		}
		if (c->start) {
			memmove(c->buf, c->buf + c->start, c->len - c->start);
			c->len -= c->start;
			c->scanned -= c->start;
			c->start = 0;
		}
		if (c->len + 65536 + 1 > c->cap) {
			if (c->cap >= CTL_REPLY_MAX) {
				fprintf(stderr, "%s: reply longer than %u bytes\n", prog, CTL_REPLY_MAX);
				return -1;
			}
			size_t cap = c->cap ? c->cap * 2 : 131072;
			char *b = realloc(c->buf, cap);
			if (!b) {
				fprintf(stderr, "%s: out of memory\n", prog);
				return -1;
			}
			c->buf = b;
			c->cap = cap;
		}
		int wait = -1;
		if (deadline_ms >= 0) {
			int64_t left = deadline_ms - now_ms();
			if (left <= 0) {
				fprintf(stderr, "%s: no reply from the daemon in time\n", prog);
				return -1;
			}
			wait = left > 3600000 ? 3600000 : (int)left;
		}
		struct pollfd pfd = { c->fd, POLLIN, 0 };
		int rc = poll(&pfd, 1, wait);
		if (interrupted)
			return -2;
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
			return -1;
		}
		if (rc == 0)
			continue; /* the deadline check above reports it */
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "%s: read: %s\n", prog, strerror(errno));
			return -1;
		}
		if (r == 0) {
			if (c->len) {
				fprintf(stderr, "%s: reply cut short by the daemon\n", prog);
				return -1;
			}
			return 0;
		}
		c->len += (size_t)r;
	}
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: tcpprobe ctl [-s SOCKET] [-c CONFIG] [--json] [-t SECONDS] COMMAND [ARGS]\n"
		   "\n"
		   "  -s, --socket PATH    the daemon's control socket (default " CTL_DEFAULT_SOCKET ")\n"
		   "  -c, --config FILE    take the socket path from this configuration\n"
		   "  -j, --json           print the daemon's JSON replies unchanged, one per line\n"
		   "  -t, --timeout S      wait this long for a reply (default %d; probe: longer)\n"
		   "\n"
		   "commands ([admin]: uid 0 or the configuration's admin_group only):\n",
		CTL_TIMEOUT_S);
	for (unsigned i = 0; i < CTL_CMD_COUNT; i++) {
		const struct ctl_cmd_info *ci = ctl_cmd_get((enum ctl_cmd)i);
		char u[96];
		snprintf(u, sizeof(u), "%s %s", ci->name, ci->usage);
		fprintf(f, "  %-40s %s%s%s%s\n", u, ci->help, ci->access != CTL_ACC_READ ? " [" : "",
			ci->access != CTL_ACC_READ ? ctl_access_str(ci->access) : "",
			ci->access != CTL_ACC_READ ? "]" : "");
	}
	fprintf(f, "\nExit status: 0 success, 1 the command failed or no daemon, 2 usage error.\n");
}

static void on_signal(int sig)
{
	interrupted = 1;
}

/* How long a one-shot probe may take: every SYN retry, the hold, the FIN
 * retries and FIN_WAIT_2, with the built-in defaults for what the request
 * does not set (the daemon's [defaults] may differ: hence the floor). */
static int probe_timeout_s(char *const *kv, int nkv)
{
	struct config cfg;
	config_defaults(&cfg);
	struct probe_opts o = cfg.defaults;
	for (int i = 0; i < nkv; i++) {
		char key[32], err[128];
		const char *eq = strchr(kv[i], '=');
		if (!eq || (size_t)(eq - kv[i]) >= sizeof(key))
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)(eq - kv[i]), kv[i]);
		config_set_probe_opt(&o, key, eq + 1, err, sizeof(err));
	}
	double rto = (double)o.timeout_ns / 1e9;
	double tries = ldexp(1.0, o.retries + 1) - 1; /* rto * (1 + 2 + 4 ...) */
	double s = rto * tries;
	if (o.kind == PROBE_HANDSHAKE)
		s += (double)(o.hold_ns + o.fin_wait_2_ns) / 1e9 + rto * tries;
	s += CTL_TIMEOUT_S;
	if (s < CTL_PROBE_MIN_S)
		s = CTL_PROBE_MIN_S;
	return s > 86400 ? 86400 : (int)ceil(s);
}

/* The request line from the command's words. "history NAME -n N" and
 * "probe H:P --kind K" (the man page's spelling) become the wire's "N" and
 * "kind=K". 0, or -1 after a message. */
static int build_line(int n, char **w, char *line, size_t cap, size_t *len)
{
	size_t l = 0;
	for (int i = 0; i < n; i++) {
		const char *a = w[i], *pre = "";
		if (i > 0 && !strcmp(w[0], "history") && !strcmp(a, "-n"))
			continue;
		if (i > 0 && !strcmp(w[0], "targets") && !strcmp(a, "--labels")) {
			show_labels = true;
			continue;
		}
		if (i > 0 && !strcmp(w[0], "probe") && (!strcmp(a, "--kind") || !strcmp(a, "-k")) &&
		    i + 1 < n) {
			pre = "kind=";
			a = w[++i];
		}
		if (!*a || strchr(a, ' ')) {
			fprintf(stderr, "%s: '%s': arguments cannot be empty or contain spaces\n", prog,
				a);
			return -1;
		}
		int r = snprintf(line + l, cap - l, "%s%s%s", l ? " " : "", pre, a);
		if (r < 0 || (size_t)r >= cap - l - 1) {
			fprintf(stderr, "%s: request longer than %d bytes\n", prog, CTL_LINE_MAX - 1);
			return -1;
		}
		l += (size_t)r;
	}
	*len = l;
	return 0;
}

int ctl_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, 0, 's' }, { "config", required_argument, 0, 'c' },
		{ "json", no_argument, 0, 'j' },         { "timeout", required_argument, 0, 't' },
		{ "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 },
	};
	const char *sock = NULL, *conf = NULL;
	bool json = false;
	int timeout_s = 0, ch;
	optind = 1;
	/* "+": stop at the command, so "pause --all" keeps its argument. */
	while ((ch = getopt_long(argc, argv, "+s:c:jt:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't': {
			char *e;
			long v = strtol(optarg, &e, 10);
			if (*e || e == optarg || v < 1 || v > 86400) {
				fprintf(stderr, "%s: --timeout: '%s' is not 1..86400 seconds\n", prog,
					optarg);
				return 2;
			}
			timeout_s = (int)v;
			break;
		}
		default: /* 'h', or an option getopt did not know */
			return cmd_usage(ch, usage);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}

	char line[CTL_LINE_MAX + 1];
	size_t len = 0;
	if (build_line(argc - optind, argv + optind, line, sizeof(line), &len) < 0)
		return 2;
	/* Check it here first: a usage error needs no daemon. */
	struct ctl_request rq;
	char err[256];
	enum ctl_perr pe = ctl_parse(line, len, &rq, err, sizeof(err));
	if (pe != CTL_POK) {
		fprintf(stderr, "%s: %s\n", prog, err);
		if (pe == CTL_PUNKNOWN)
			fprintf(stderr, "try 'tcpprobe ctl --help'\n");
		return 2;
	}
	enum ctl_cmd cmd = rq.cmd->cmd;
	line[len++] = '\n';
	line[len] = 0;

	static struct config cfg;
	if (!sock && conf) {
		if (config_load(conf, &cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", prog, err);
			return 1;
		}
		sock = cfg.d.control_socket;
	}
	if (!sock)
		sock = CTL_DEFAULT_SOCKET;
	if (!timeout_s)
		timeout_s = cmd == CTL_PROBE ? probe_timeout_s(rq.argv + 1, (int)rq.argc - 1)
					     : CTL_TIMEOUT_S;

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct conn c = { .fd = ctl_connect(sock, CTL_TIMEOUT_S) };
	if (c.fd < 0)
		return 1;
	int rc = 1;
	if (send_all(c.fd, line, len) < 0) {
		fprintf(stderr, "%s: send to %s: %s\n", prog, sock, strerror(errno));
		goto out;
	}
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	bool got_ok = false;
	for (;;) {
		char *l;
		size_t ll;
		int r = read_line(&c, got_ok && cmd == CTL_WATCH ? -1 : deadline, &l, &ll);
		if (r == -2) {
			rc = cmd == CTL_WATCH && got_ok ? 0 : 1;
			break;
		}
		if (r < 0)
			break;
		if (r == 0) {
			if (cmd == CTL_WATCH && got_ok)
				fprintf(stderr, "%s: the daemon closed the connection\n", prog);
			else
				fprintf(stderr, "%s: the daemon closed the connection without a reply\n",
					prog);
			break;
		}
		json_error_t jerr;
		json_t *v = json_loadb(l, ll, 0, &jerr);
		if (!json_is_object(v)) {
			fprintf(stderr, "%s: unreadable reply (%s): %.200s\n", prog,
				v ? "not an object" : jerr.text, l);
			json_decref(v);
			break;
		}
		if (json) {
			fwrite(l, 1, ll, stdout);
			putchar('\n');
			fflush(stdout);
		}
		const json_t *ok = json_object_get(v, "ok");
		if (!ok) {
			/* An event line (probe result, watch result). */
			if (!json && json_object_get(v, "result"))
				render_event(v, cmd == CTL_PROBE);
			fflush(stdout);
			json_decref(v);
			continue;
		}
		if (!json_is_true(ok)) {
			if (!json)
				fprintf(stderr, "%s: %s\n", prog, view_text_str(v, "error", "failed"));
			json_decref(v);
			rc = 1;
			break;
		}
		got_ok = true;
		if (!json && renderers[cmd])
			renderers[cmd](v, &rq);
		fflush(stdout);
		json_decref(v);
		if (cmd != CTL_WATCH) {
			rc = 0;
			break;
		}
	}
out:
	close(c.fd);
	free(c.buf);
	if (conf)
		config_free(&cfg);
	return rc;
}
