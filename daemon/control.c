/* control.c: the control socket. A Unix stream socket speaking one request
 * line in, JSON lines out (see ctlproto.h for the request language).
 *
 * Like relayd's control.c: the listener accepts (at control priority),
 * every client is a bufferevent with bounded input (one request line) and
 * a high-water mark on output,
 * peer credentials are read from the kernel (SO_PEERCRED), never from the
 * client, and running out of descriptors pauses accepting for a second
 * instead of spinning. One handle_x() per command, as chrony's cmdmon;
 * what a reply says is views.c's business, this file only frames it. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "ctlproto.h"
#include "registry.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "views.h"

#define CTL_CLIENTS_MAX 256
#define CTL_ACCEPT_BATCH 64         /* clients accepted per loop pass, at most */
#define CTL_OUT_HIGH (1u << 20)     /* queued reply bytes before we stop answering */
#define CTL_IN_HIGH (2 * CTL_LINE_MAX) /* buffered request bytes: stop reading */
#define CTL_IDLE_S 60               /* no request for this long: closed (not watchers) */
#define CTL_WRITE_TIMEOUT_S 30      /* output pending and none taken: closed */
#define CTL_GARBAGE_MAX 3           /* non-text requests before we hang up */
#define CTL_HISTORY_DEFAULT 10
#define CTL_JB_KEEP (1u << 20)      /* shrink the reply buffer after bigger replies */

enum admin_state { ADMIN_UNKNOWN, ADMIN_YES, ADMIN_NO };

struct ctl_client {
	TAILQ_ENTRY(ctl_client) entry;
	struct control *c;
	struct bufferevent *bev;
	struct event *resume_ev; /* process queued requests on the next loop turn */
	uint64_t id;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	enum admin_state admin;
	unsigned garbage;
	unsigned probes;   /* one-shot probes in flight */
	/* `metrics` being sent, a piece at a time (send_metrics_piece): the
	 * next one is rendered when the output is down to the mark. */
	struct metrics_stream *ms;
	struct event *ms_ev; /* renders it, at default priority (handle_metrics) */
	bool watching;
	bool closing;      /* answer sent, hang up once it is flushed */
	bool eof;          /* the client shut its sending side */
};

struct control {
	const struct view_src *src; /* registry, discovery, remote writers */
	control_reload_fn reload;
	void *reload_arg;
	struct event_base *base;
	/* The listening socket's event, at control priority: evconnlistener's
	 * runs at default priority, where a new client waited behind a pass of
	 * probing and rendering (ctl status at 6,000 targets: up to 0.5 s). */
	int lfd;
	struct event *listen_ev;
	struct event *accept_ev; /* turns accepting back on after EMFILE */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	bool have_admin_gid;
	gid_t admin_gid;
	char admin_group[CFG_NAME_MAX];
	uid_t *admin_uids;       /* the group's listed members, looked up at start */
	size_t n_admin_uids;
	TAILQ_HEAD(, ctl_client) clients;
	unsigned nclients;
	uint64_t next_id;
	uint64_t refused_full;
	struct jbuf jb; /* the reply being built */
};

typedef void (*ctl_handler)(struct ctl_client *cl, const struct ctl_request *rq);

/* ---- replies -------------------------------------------------------------- */

static size_t out_len(const struct ctl_client *cl)
{
	return evbuffer_get_length(bufferevent_get_output(cl->bev));
}

static void jb_shrink(struct jbuf *j)
{
	if (j->cap > CTL_JB_KEEP)
		jb_free(j);
}

/* Queue j (one JSON document) and its newline. */
static void send_jb(struct ctl_client *cl, struct jbuf *j)
{
	if (j->oom) {
		static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";
		bufferevent_write(cl->bev, oom, sizeof(oom) - 1);
	} else {
		jb_append(j, "\n", 1);
		bufferevent_write(cl->bev, j->p, j->len);
	}
	jb_reset(j);
	jb_shrink(j);
}

static struct jbuf *reply_ok(struct ctl_client *cl)
{
	struct jbuf *j = &cl->c->jb;
	jb_reset(j);
	jb_obj(j);
	jb_key(j, "ok");
	jb_bool(j, true);
	return j;
}

static void reply_end(struct ctl_client *cl)
{
	jb_obj_end(&cl->c->jb);
	send_jb(cl, &cl->c->jb);
}

static void reply_error(struct ctl_client *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void reply_error(struct ctl_client *cl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct jbuf *j = &cl->c->jb;
	jb_reset(j);
	jb_obj(j);
	jb_key(j, "ok");
	jb_bool(j, false);
	jb_key(j, "error");
	jb_str(j, msg);
	jb_obj_end(j);
	send_jb(cl, j);
}

/* ---- handlers --------------------------------------------------------------- */

static void handle_status(struct ctl_client *cl, const struct ctl_request *rq)
{
	struct jbuf *j = reply_ok(cl);
	view_status(j, cl->c->src, cl->c->nclients);
	reply_end(cl);
}

static void handle_targets(struct ctl_client *cl, const struct ctl_request *rq)
{
	struct jbuf *j = reply_ok(cl);
	view_targets(j, cl->c->src->reg);
	reply_end(cl);
}

static struct target *find_or_reply(struct ctl_client *cl, const char *name)
{
	struct target *t = registry_target_find(cl->c->src->reg, name);
	if (!t)
		reply_error(cl, "no target '%s'", name);
	return t;
}

static void handle_show(struct ctl_client *cl, const struct ctl_request *rq)
{
	struct target *t = find_or_reply(cl, rq->argv[0]);
	if (!t)
		return;
	struct jbuf *j = reply_ok(cl);
	view_show(j, cl->c->src->reg, t);
	reply_end(cl);
}

static void handle_history(struct ctl_client *cl, const struct ctl_request *rq)
{
	struct target *t = find_or_reply(cl, rq->argv[0]);
	if (!t)
		return;
	unsigned n = rq->argc > 1 ? (unsigned)strtoul(rq->argv[1], NULL, 10) : CTL_HISTORY_DEFAULT;
	struct jbuf *j = reply_ok(cl);
	view_history(j, t, n);
	reply_end(cl);
}

static void client_kick(struct ctl_client *cl);

static void on_probe_result(void *arg, const char *target, const struct probe_report *r)
{
	struct ctl_client *cl = arg;
	struct jbuf *j = &cl->c->jb;
	jb_reset(j);
	view_result_event(j, target, r, NULL, false);
	send_jb(cl, j);
	reply_ok(cl);
	reply_end(cl);
	if (cl->probes)
		cl->probes--;
	/* Requests queued behind the probe: next loop turn, not from inside
	 * the daemon's result delivery. */
	client_kick(cl);
}

static void on_probe_error(void *arg, const char *err)
{
	struct ctl_client *cl = arg;
	reply_error(cl, "%s", err);
	if (cl->probes)
		cl->probes--;
	client_kick(cl);
}

static void handle_probe(struct ctl_client *cl, const struct ctl_request *rq)
{
	char err[256];
	cl->probes++;
	if (registry_oneshot(cl->c->src->reg, rq->argv[0], rq->argv + 1, rq->argc - 1, on_probe_result,
			   on_probe_error, cl, err, sizeof(err)) < 0) {
		cl->probes--;
		reply_error(cl, "%s", err);
	}
}

static void reply_mutation(struct ctl_client *cl, int rc, const char *err)
{
	if (rc < 0) {
		reply_error(cl, "%s", err[0] ? err : "failed");
		return;
	}
	reply_ok(cl);
	reply_end(cl);
}

static void handle_add(struct ctl_client *cl, const struct ctl_request *rq)
{
	char err[256] = "";
	int rc = registry_target_add(cl->c->src->reg, rq->argv[0], rq->argv[1], rq->argv + 2, rq->argc - 2,
				   err, sizeof(err));
	reply_mutation(cl, rc, err);
}

static void handle_remove(struct ctl_client *cl, const struct ctl_request *rq)
{
	char err[256] = "";
	reply_mutation(cl, registry_target_remove(cl->c->src->reg, rq->argv[0], err, sizeof(err)), err);
}

static void pause_resume(struct ctl_client *cl, const struct ctl_request *rq, bool pause)
{
	char err[256] = "";
	const char *name = strcmp(rq->argv[0], "--all") ? rq->argv[0] : NULL;
	reply_mutation(cl, registry_target_pause(cl->c->src->reg, name, pause, err, sizeof(err)), err);
}

static void handle_pause(struct ctl_client *cl, const struct ctl_request *rq)
{
	pause_resume(cl, rq, true);
}

static void handle_resume(struct ctl_client *cl, const struct ctl_request *rq)
{
	pause_resume(cl, rq, false);
}

static void handle_reload(struct ctl_client *cl, const struct ctl_request *rq)
{
	char err[512] = "";
	if (cl->c->reload(cl->c->reload_arg, err, sizeof(err)) < 0) {
		reply_error(cl, "reload failed, old configuration kept: %s", err[0] ? err : "?");
		return;
	}
	struct jbuf *j = reply_ok(cl);
	jb_key(j, "targets");
	jb_uint(j, registry_target_count(cl->c->src->reg));
	reply_end(cl);
}

/* The reply is {"text":"...","ok":true}: the text, JSON-escaped, goes out
 * in pieces (6,000 targets make ~24 MB of it), the next rendered when the
 * output is down to METRICS_STREAM_LOW (on_write), so that other clients
 * are answered in between; "ok" comes last because only the last piece
 * knows whether all of it could be rendered. A piece is rendered at
 * default priority, with the probing. */
static void send_metrics_piece(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client *cl = arg;
	struct jbuf text, *j = &cl->c->jb;
	jb_init(&text);
	int rc = metrics_stream_next(cl->ms, &text, METRICS_PIECE);
	jb_reset(j);
	jb_str_part(j, text.p);
	jb_free(&text);
	if (rc) {
		const char *end = rc > 0 ? "\",\"ok\":true}\n"
					 : "\",\"ok\":false,\"error\":\"out of memory\"}\n";
		jb_append(j, end, strlen(end));
	}
	if (j->oom || bufferevent_write(cl->bev, j->p, j->len) < 0) {
		/* Not even the end fits: hang up rather than leave the line open. */
		cl->closing = true;
		rc = -1;
	}
	jb_reset(j);
	jb_shrink(j);
	if (!rc)
		return;
	metrics_stream_free(cl->ms);
	cl->ms = NULL;
	bufferevent_setwatermark(cl->bev, EV_WRITE, 0, 0); /* on_write: fully drained again */
	client_kick(cl); /* requests that came in meanwhile */
}

static void handle_metrics(struct ctl_client *cl, const struct ctl_request *rq)
{
	/* Rendering is not control work: at control priority, a client
	 * reading fast kept control events active pass after pass, and the
	 * listener (default priority) accepted nobody until the end. */
	if (!cl->ms_ev && (cl->ms_ev = event_new(cl->c->base, -1, 0, send_metrics_piece, cl)))
		event_priority_set(cl->ms_ev, DAEMON_PRIO_DEFAULT);
	if (!cl->ms_ev || !(cl->ms = metrics_stream_new(cl->c->src))) {
		reply_error(cl, "out of memory");
		return;
	}
	static const char head[] = "{\"text\":\"";
	bufferevent_write(cl->bev, head, sizeof(head) - 1);
	bufferevent_setwatermark(cl->bev, EV_WRITE, METRICS_STREAM_LOW, 0);
	/* A Unix socket takes wmem_default (~200 KB) per write: 31 MB took
	 * ~150 loop passes. A piece per pass instead (the kernel caps the
	 * buffer at net.core.wmem_max; failing that, the default stays). */
	int sndbuf = METRICS_PIECE;
	(void)setsockopt(bufferevent_getfd(cl->bev), SOL_SOCKET, SO_SNDBUF, &sndbuf,
			 sizeof(sndbuf));
	bufferevent_set_max_single_write(cl->bev, METRICS_PIECE);
	event_active(cl->ms_ev, EV_TIMEOUT, 0);
}

static void client_free(struct ctl_client *cl);

static void on_watch_result(void *arg, const char *target, const struct probe_report *r)
{
	struct ctl_client *cl = arg;
	if (out_len(cl) > CTL_OUT_HIGH) {
		/* Results keep coming whether or not this one reads: drop it
		 * rather than buffer without bound. */
		log_warnx("control: client %llu (uid %u): watcher not reading, %zu bytes queued; "
			  "dropped", (unsigned long long)cl->id, (unsigned)cl->uid, out_len(cl));
		client_free(cl);
		return;
	}
	struct jbuf *j = &cl->c->jb;
	jb_reset(j);
	view_result_event(j, target, r, registry_target_find(cl->c->src->reg, target), true);
	send_jb(cl, j);
}

static void handle_watch(struct ctl_client *cl, const struct ctl_request *rq)
{
	if (registry_watch(cl->c->src->reg, on_watch_result, cl) < 0) {
		reply_error(cl, "out of memory");
		return;
	}
	cl->watching = true;
	/* A watcher may stay silent for as long as it likes. */
	struct timeval wt = { CTL_WRITE_TIMEOUT_S, 0 };
	bufferevent_set_timeouts(cl->bev, NULL, &wt);
	reply_ok(cl);
	reply_end(cl);
}

static void handle_log_level(struct ctl_client *cl, const struct ctl_request *rq)
{
	if (rq->argc && log_set_level_str(rq->argv[0]) < 0) {
		reply_error(cl, "unknown log level '%s' (error, warning, notice, info, debug)",
			    rq->argv[0]);
		return;
	}
	struct jbuf *j = reply_ok(cl);
	jb_key(j, "log_level");
	jb_str(j, log_level_str());
	reply_end(cl);
}

static void handle_help(struct ctl_client *cl, const struct ctl_request *rq)
{
	struct jbuf *j = reply_ok(cl);
	jb_key(j, "commands");
	jb_arr(j);
	for (unsigned i = 0; i < CTL_CMD_COUNT; i++) {
		const struct ctl_cmd_info *ci = ctl_cmd_get((enum ctl_cmd)i);
		jb_obj(j);
		jb_key(j, "name");
		jb_str(j, ci->name);
		jb_key(j, "usage");
		jb_str(j, ci->usage);
		jb_key(j, "access");
		jb_str(j, ctl_access_str(ci->access));
		jb_key(j, "help");
		jb_str(j, ci->help);
		jb_obj_end(j);
	}
	jb_arr_end(j);
	reply_end(cl);
}

static const ctl_handler handlers[CTL_CMD_COUNT] = {
	[CTL_STATUS] = handle_status,     [CTL_TARGETS] = handle_targets,
	[CTL_SHOW] = handle_show,         [CTL_HISTORY] = handle_history,
	[CTL_PROBE] = handle_probe,       [CTL_ADD] = handle_add,
	[CTL_REMOVE] = handle_remove,     [CTL_PAUSE] = handle_pause,
	[CTL_RESUME] = handle_resume,     [CTL_RELOAD] = handle_reload,
	[CTL_METRICS] = handle_metrics,   [CTL_WATCH] = handle_watch,
	[CTL_LOG_LEVEL] = handle_log_level, [CTL_HELP] = handle_help,
};

/* ---- access ----------------------------------------------------------------- */

/* uid 0, or in admin_group: as the peer's gid, its supplementary groups as
 * the kernel saw them at connect (SO_PEERGROUPS), or the group's member
 * list as NSS gave it at start (admin_members). Nothing here asks NSS: a
 * slow LDAP or sssd must not stall the loop. Decided on the first mutating
 * request. */
static bool client_is_admin(struct ctl_client *cl)
{
	struct control *c = cl->c;
	if (cl->admin != ADMIN_UNKNOWN)
		return cl->admin == ADMIN_YES;
	bool ok = cl->uid == 0;
	if (!ok && c->have_admin_gid) {
		ok = cl->gid == c->admin_gid;
#ifdef SO_PEERGROUPS
		gid_t groups[256];
		socklen_t len = sizeof(groups);
		if (!ok && getsockopt(bufferevent_getfd(cl->bev), SOL_SOCKET, SO_PEERGROUPS, groups,
				      &len) == 0)
			for (size_t i = 0; i < len / sizeof(gid_t) && !ok; i++)
				ok = groups[i] == c->admin_gid;
#endif
		for (size_t i = 0; i < c->n_admin_uids && !ok; i++)
			ok = c->admin_uids[i] == cl->uid;
	}
	cl->admin = ok ? ADMIN_YES : ADMIN_NO;
	return ok;
}

/* The uids of admin_group's listed members, once at start (NSS may block). */
static int admin_members(struct control *c, char *err, size_t errlen)
{
	struct group *gr = getgrgid(c->admin_gid);
	size_t n = 0;
	for (char **m = gr ? gr->gr_mem : NULL; m && *m; m++)
		n++;
	if (!n)
		return 0;
	char **names = calloc(n, sizeof(*names));
	c->admin_uids = calloc(n, sizeof(*c->admin_uids));
	int rc = names && c->admin_uids ? 0 : -1;
	/* Copy first: getpwnam may reuse the buffer getgrgid's answer is in. */
	for (size_t i = 0; i < n && rc == 0; i++)
		if (!(names[i] = strdup(gr->gr_mem[i])))
			rc = -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct passwd *pw = getpwnam(names[i]);
		if (pw)
			c->admin_uids[c->n_admin_uids++] = pw->pw_uid;
	}
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	if (rc < 0)
		snprintf(err, errlen, "admin_group: out of memory");
	return rc;
}

/* ---- clients ---------------------------------------------------------------- */

static void client_free(struct ctl_client *cl)
{
	struct control *c = cl->c;
	/* No result callback may reach us after this. */
	registry_forget(c->src->reg, cl);
	TAILQ_REMOVE(&c->clients, cl, entry);
	c->nclients--;
	if (c->refused_full) {
		log_info("control: accepting again (%llu connections refused while full)",
			 (unsigned long long)c->refused_full);
		c->refused_full = 0;
	}
	if (cl->resume_ev)
		event_free(cl->resume_ev);
	if (cl->ms)
		log_info("control: client %llu (uid %u pid %d) gone during 'metrics'; render stopped",
			 (unsigned long long)cl->id, (unsigned)cl->uid, (int)cl->pid);
	metrics_stream_free(cl->ms);
	if (cl->ms_ev)
		event_free(cl->ms_ev);
	bufferevent_free(cl->bev);
	log_debug("control: client %llu (uid %u pid %d) gone", (unsigned long long)cl->id,
		  (unsigned)cl->uid, (int)cl->pid);
	free(cl);
}

/* Free the client if it is done: hung up on, or the peer has shut its
 * side, with nothing left to send or wait for. Returns true if freed. */
static bool client_maybe_finish(struct ctl_client *cl)
{
	if (cl->watching && cl->eof) {
		client_free(cl);
		return true;
	}
	if ((cl->closing || cl->eof) && !cl->probes && !cl->ms && out_len(cl) == 0) {
		client_free(cl);
		return true;
	}
	return false;
}

static void client_request(struct ctl_client *cl, const char *line, size_t len)
{
	struct ctl_request rq;
	char err[256];
	enum ctl_perr e = ctl_parse(line, len, &rq, err, sizeof(err));
	if (e != CTL_POK) {
		reply_error(cl, "%s", err);
		if (e == CTL_PGARBAGE && ++cl->garbage >= CTL_GARBAGE_MAX) {
			log_info("control: client %llu (uid %u pid %d): %u garbage requests; "
				 "hanging up", (unsigned long long)cl->id, (unsigned)cl->uid,
				 (int)cl->pid, cl->garbage);
			cl->closing = true;
		}
		return;
	}
	const char *name = rq.cmd->name;
	if (ctl_request_is_admin(&rq)) {
		if (!client_is_admin(cl)) {
			log_info("control: uid %u pid %d: '%s' denied", (unsigned)cl->uid,
				 (int)cl->pid, name);
			if (cl->c->have_admin_gid)
				reply_error(cl, "permission denied: '%s' needs uid 0 or group %s",
					    name, cl->c->admin_group);
			else
				reply_error(cl, "permission denied: '%s' needs uid 0", name);
			return;
		}
		/* Who changed what, for the journal. */
		char what[160];
		size_t n = (size_t)snprintf(what, sizeof(what), "%s", name);
		for (unsigned i = 0; i < rq.argc && n < sizeof(what); i++)
			n += (size_t)snprintf(what + n, sizeof(what) - n, " %s", rq.argv[i]);
		log_info("control: uid %u pid %d: %s", (unsigned)cl->uid, (int)cl->pid, what);
	} else {
		log_debug("control: uid %u pid %d: %s", (unsigned)cl->uid, (int)cl->pid, name);
	}
	ctl_handler h = handlers[rq.cmd->cmd];
	if (h)
		h(cl, &rq);
	else
		reply_error(cl, "'%s' is not implemented", name);
}

/* Answer the requests waiting in the input, one at a time, as long as
 * the previous answer is complete (no probe in flight, not watching) and
 * the client is taking its output. */
static void client_process(struct ctl_client *cl)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);
	while (!cl->closing && !cl->probes && !cl->ms) {
		size_t avail = evbuffer_get_length(in);
		if (!avail)
			break;
		if (cl->watching) {
			/* watch is the last request: later input is ignored, but
			 * read so that a hang-up is noticed. */
			evbuffer_drain(in, avail);
			break;
		}
		if (out_len(cl) > CTL_OUT_HIGH) {
			/* Stop reading until write_cb says it drained: left
			 * enabled, a client that never reads kept its unread
			 * requests active at control priority every loop pass,
			 * starving the listener and every other event. */
			bufferevent_disable(cl->bev, EV_READ);
			break;
		}
		size_t n = avail < CTL_LINE_MAX ? avail : CTL_LINE_MAX;
		const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		size_t line_len, used;
		if (!p) {
			cl->closing = true;
			break;
		}
		switch (ctl_frame(p, n, &line_len, &used)) {
		case CTL_FRAME_MORE:
			if (!cl->eof)
				return;
			/* The peer shut its side after a last line without "\n". */
			line_len = used = n;
			break;
		case CTL_FRAME_TOOLONG:
			reply_error(cl, "request longer than %d bytes; closing", CTL_LINE_MAX - 1);
			log_info("control: client %llu (uid %u pid %d): request too long; hanging up",
				 (unsigned long long)cl->id, (unsigned)cl->uid, (int)cl->pid);
			evbuffer_drain(in, avail);
			cl->closing = true;
			return;
		case CTL_FRAME_LINE:
			break;
		}
		client_request(cl, p, line_len);
		evbuffer_drain(in, used);
	}
	if (cl->closing) {
		/* Nothing more will be read; what is queued still goes out. */
		bufferevent_disable(cl->bev, EV_READ);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client *cl = arg;
	client_process(cl);
	client_maybe_finish(cl);
}

static void client_kick(struct ctl_client *cl)
{
	event_active(cl->resume_ev, EV_TIMEOUT, 0);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;
	client_process(cl);
	client_maybe_finish(cl);
}

/* The output drained: finish a closing client, or take the requests we
 * stopped answering while the output was over the mark. */
static void on_write(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;
	if (cl->ms) {
		event_active(cl->ms_ev, EV_TIMEOUT, 0); /* the next piece of `metrics` */
		return;
	}
	if (client_maybe_finish(cl))
		return;
	/* Reading stopped for the mark (a closing client stays stopped). */
	if (!cl->closing && !(bufferevent_get_enabled(bev) & EV_READ))
		bufferevent_enable(bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(bev)))
		client_kick(cl);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client *cl = arg;
	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_READING) && (cl->watching || cl->probes)) {
			bufferevent_enable(bev, EV_READ); /* busy, not idle */
			return;
		}
		log_debug("control: client %llu (uid %u pid %d): %s timeout; closing",
			  (unsigned long long)cl->id, (unsigned)cl->uid, (int)cl->pid,
			  (what & BEV_EVENT_READING) ? "idle" : "write");
		client_free(cl);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		cl->eof = true;
		if (!cl->watching)
			client_process(cl);
		client_maybe_finish(cl);
		return;
	}
	/* BEV_EVENT_ERROR: the peer is gone (ECONNRESET, EPIPE). */
	client_free(cl);
}

/* ---- accepting -------------------------------------------------------------- */

static void refuse(evutil_socket_t fd, const char *msg)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"%s\"}\n", msg);
	/* A new socket's buffer is empty: this does not block or partially fail. */
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("control: refuse: send: %s", strerror(errno));
	evutil_closesocket(fd);
}

static void on_accept(struct control *c, int fd)
{
	if (c->nclients >= CTL_CLIENTS_MAX) {
		if (!c->refused_full++)
			log_warnx("control: %d clients connected; refusing more", CTL_CLIENTS_MAX);
		refuse(fd, "too many clients");
		return;
	}
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("control: getsockopt(SO_PEERCRED)");
		evutil_closesocket(fd);
		return;
	}
	struct ctl_client *cl = calloc(1, sizeof(*cl));
	struct bufferevent *bev = cl ? bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE)
				     : NULL;
	struct event *ev = cl ? event_new(c->base, -1, 0, on_resume, cl) : NULL;
	if (!cl || !bev || !ev) {
		log_warnx("control: out of memory for a client");
		if (ev)
			event_free(ev);
		if (bev)
			bufferevent_free(bev);
		else
			evutil_closesocket(fd);
		free(cl);
		return;
	}
	cl->c = c;
	cl->bev = bev;
	cl->resume_ev = ev;
	/* Control requests first in every loop pass (registry.h). */
	bufferevent_priority_set(bev, DAEMON_PRIO_CONTROL);
	event_priority_set(ev, DAEMON_PRIO_CONTROL);
	/* libevent writes 16 KiB per loop pass by default: a 2 MB `metrics`
	 * reply took a minute while each pass probed. */
	bufferevent_set_max_single_write(bev, DAEMON_MAX_WRITE);
	cl->id = ++c->next_id;
	cl->uid = cred.uid;
	cl->gid = cred.gid;
	cl->pid = cred.pid;
	TAILQ_INSERT_TAIL(&c->clients, cl, entry);
	c->nclients++;
	bufferevent_setcb(bev, on_read, on_write, on_event, cl);
	bufferevent_setwatermark(bev, EV_READ, 0, CTL_IN_HIGH);
	struct timeval rt = { CTL_IDLE_S, 0 }, wt = { CTL_WRITE_TIMEOUT_S, 0 };
	bufferevent_set_timeouts(bev, &rt, &wt);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	log_debug("control: client %llu: uid %u gid %u pid %d", (unsigned long long)cl->id,
		  (unsigned)cl->uid, (unsigned)cl->gid, (int)cl->pid);
}

static void on_accept_again(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;
	event_add(c->listen_ev, NULL);
}

/* New clients, a bounded number per loop pass. Out of descriptors the
 * socket stays readable: stop accepting for a second instead of spinning
 * (relayd's habit). */
static void on_listen(evutil_socket_t lfd, short what, void *arg)
{
	struct control *c = arg;
	for (int i = 0; i < CTL_ACCEPT_BATCH; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			on_accept(c, fd);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED)
			return;
		log_warnx("control: accept: %s; not accepting for 1 s", strerror(errno));
		event_del(c->listen_ev);
		struct timeval one = { 1, 0 };
		evtimer_add(c->accept_ev, &one);
		return;
	}
}

/* ---- setup ------------------------------------------------------------------ */

/* A socket file left at path: remove it if nobody answers on it, refuse
 * if a daemon does. */
static int clear_stale(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(sun->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", sun->sun_path);
		return -1;
	}
	/* Non-blocking: a live daemon with a full backlog answers EAGAIN
	 * instead of stalling our start. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int e = errno;
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "%s: another daemon is answering on it", sun->sun_path);
		return -1;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "%s exists and cannot be checked: %s", sun->sun_path,
			 strerror(e));
		return -1;
	}
	log_info("control: removing stale socket %s", sun->sun_path);
	if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale %s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int lookup_group(const char *name, gid_t *gid, const char *what, char *err,
			size_t errlen)
{
	errno = 0;
	struct group *gr = getgrnam(name);
	if (!gr) {
		snprintf(err, errlen, "%s '%s': %s", what, name,
			 errno ? strerror(errno) : "no such group");
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

/* The socket's directory, when missing (a start by hand where no unit or
 * tmpfiles.d made /run/tcpprobe, or after systemd removed it at stop), is
 * created the way chronyd makes its own: missing parents 0755 as mkdir -p
 * would, the directory itself owned by the user the daemon drops to (so it
 * can still remove its socket at exit) and the socket's group, searchable
 * by exactly whom control_mode lets connect. An existing directory is left
 * as the administrator made it. */
static int make_socket_dir(const char *sock_path, const struct daemon_cfg *cfg, gid_t sock_gid,
			   char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", sock_path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0; /* relative paths are refused by the config; "/x" is in / */
	*slash = '\0';
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s is not a directory", dir);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	uid_t uid = (uid_t)-1;
	gid_t gid = sock_gid;
	if (cfg->user[0] && geteuid() == 0) {
		errno = 0;
		struct passwd *pw = getpwnam(cfg->user);
		if (!pw) {
			snprintf(err, errlen, "user '%s': %s", cfg->user,
				 errno ? strerror(errno) : "no such user");
			return -1;
		}
		uid = pw->pw_uid;
		if (gid == (gid_t)-1)
			gid = pw->pw_gid;
	}
	mode_t m = cfg->control_mode & 0777;
	mode_t mode = 0700 | (m & 0070 ? 0050 : 0) | (m & 0007 ? 0005 : 0);
	/* mkdir -p: every missing parent 0755, then ours. */
	for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		int rc = mkdir(dir, 0755);
		int e = errno;
		*p = '/';
		if (rc < 0 && e != EEXIST) {
			*p = '\0';
			snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(e));
			return -1;
		}
	}
	mode_t old = umask(0077);
	int rc = mkdir(dir, 0700);
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(dir, uid, gid) < 0) {
		snprintf(err, errlen, "cannot chown %s: %s", dir, strerror(errno));
		rmdir(dir);
		return -1;
	}
	if (chmod(dir, mode) < 0) {
		snprintf(err, errlen, "cannot chmod %04o %s: %s", (unsigned)mode, dir, strerror(errno));
		rmdir(dir);
		return -1;
	}
	struct passwd *pw = stat(dir, &st) == 0 ? getpwuid(st.st_uid) : NULL;
	struct group *gr = pw ? getgrgid(st.st_gid) : NULL;
	log_msg(LOG_LVL_NOTICE, "control: created directory %s (mode %04o, owner %s:%s) for the control socket",
		   dir, (unsigned)mode, pw ? pw->pw_name : "?", gr ? gr->gr_name : "?");
	return 0;
}

struct control *control_new(struct event_base *base, const struct view_src *src,
			    const struct daemon_cfg *cfg, control_reload_fn reload, void *reload_arg,
			    char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	gid_t sock_gid = (gid_t)-1;
	int fd = -1;
	bool bound = false;
	struct control *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->src = src;
	c->reload = reload;
	c->reload_arg = reload_arg;
	c->base = base;
	TAILQ_INIT(&c->clients);
	jb_init(&c->jb);

	size_t plen = strlen(cfg->control_socket);
	if (plen == 0 || plen >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control_socket '%s': %s", cfg->control_socket,
			 plen ? "path too long" : "empty");
		goto fail;
	}
	memcpy(sun.sun_path, cfg->control_socket, plen + 1);
	memcpy(c->path, sun.sun_path, plen + 1);
	if (cfg->admin_group[0]) {
		if (lookup_group(cfg->admin_group, &c->admin_gid, "admin_group", err, errlen) < 0)
			goto fail;
		c->have_admin_gid = true;
		if (admin_members(c, err, errlen) < 0)
			goto fail;
		snprintf(c->admin_group, sizeof(c->admin_group), "%s", cfg->admin_group);
	}
	if (cfg->control_group[0] &&
	    lookup_group(cfg->control_group, &sock_gid, "control_group", err, errlen) < 0)
		goto fail;
	if (make_socket_dir(c->path, cfg, sock_gid, err, errlen) < 0 ||
	    clear_stale(&sun, err, errlen) < 0)
		goto fail;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	/* Created owner-only, opened up by chmod once the group is right. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	int e = errno;
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "bind %s: %s", c->path, strerror(e));
		goto fail;
	}
	bound = true;
	if (sock_gid != (gid_t)-1 && chown(c->path, (uid_t)-1, sock_gid) < 0) {
		snprintf(err, errlen, "chgrp %s %s: %s", cfg->control_group, c->path,
			 strerror(errno));
		goto fail;
	}
	if (chmod(c->path, cfg->control_mode & 0777) < 0) {
		snprintf(err, errlen, "chmod %04o %s: %s", (unsigned)cfg->control_mode, c->path,
			 strerror(errno));
		goto fail;
	}
	struct stat st;
	if (stat(c->path, &st) == 0) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	if (listen(fd, 64) < 0) {
		snprintf(err, errlen, "listen %s: %s", c->path, strerror(errno));
		goto fail;
	}
	c->accept_ev = evtimer_new(c->base, on_accept_again, c);
	c->listen_ev = event_new(c->base, fd, EV_READ | EV_PERSIST, on_listen, c);
	if (!c->accept_ev || !c->listen_ev ||
	    event_priority_set(c->listen_ev, DAEMON_PRIO_CONTROL) < 0 ||
	    event_add(c->listen_ev, NULL) < 0) {
		snprintf(err, errlen, "listen %s: cannot start the listener", c->path);
		goto fail;
	}
	c->lfd = fd;
	log_info("control: listening on %s (mode %04o%s%s%s%s)", c->path,
		 (unsigned)(cfg->control_mode & 0777), sock_gid != (gid_t)-1 ? ", group " : "",
		 cfg->control_group, c->have_admin_gid ? ", admin group " : "", c->admin_group);
	return c;
fail:
	if (fd >= 0)
		close(fd);
	if (bound)
		unlink(c->path);
	if (c->listen_ev)
		event_free(c->listen_ev);
	if (c->accept_ev)
		event_free(c->accept_ev);
	jb_free(&c->jb);
	free(c);
	return NULL;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	struct ctl_client *cl;
	while ((cl = TAILQ_FIRST(&c->clients)))
		client_free(cl);
	if (c->listen_ev) {
		event_free(c->listen_ev);
		close(c->lfd);
	}
	if (c->accept_ev)
		event_free(c->accept_ev);
	free(c->admin_uids);
	/* Only our own socket: a second daemon started by mistake may have
	 * been refused, but must not take the live daemon's socket with it. */
	struct stat st;
	if (c->ino && stat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino &&
	    unlink(c->path) < 0)
		log_warn("control: unlink %s", c->path);
	jb_free(&c->jb);
	free(c);
}
