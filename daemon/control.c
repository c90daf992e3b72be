/* control.c: the control socket. A Unix stream socket speaking one request
 * line in, JSON lines out (see ctlproto.h for the request language).
 *
 * Like relayd's control.c: the listener accepts (at control priority),
 * every client is a bufferevent with bounded input (one request line) and
 * a high-water mark on output,
 * peer credentials are read from the kernel (SO_PEERCRED), never from the
 * client, and running out of descriptors pauses accepting for a second
 * instead of spinning. This file holds the clients (accept, framing, flow
 * control, hang-ups) and the listener's life; control_cmds.c answers a
 * request (one handle_x() per command, as chrony's cmdmon), and
 * control_access.c makes the socket file and says who may change things. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control_priv.h"
#include "ctlproto.h"
#include "log.h"
#include "loopprio.h"
#include "metrics.h"
#include "registry.h"
#include "views.h"

#define CTL_CLIENTS_MAX 256
#define CTL_ACCEPT_BATCH 64         /* clients accepted per loop pass, at most */
#define CTL_IN_HIGH (2 * CTL_LINE_MAX) /* buffered request bytes: stop reading */
#define CTL_IDLE_S 60               /* no request for this long: closed (not watchers) */

/* ---- clients ---------------------------------------------------------------- */

size_t control_out_len(const struct ctl_client *cl)
{
	return evbuffer_get_length(bufferevent_get_output(cl->bev));
}

void control_client_free(struct ctl_client *cl)
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
	if (cl->mr) {
		log_info("control: client %llu (uid %u pid %d) gone during 'metrics'; render stopped",
			 (unsigned long long)cl->id, (unsigned)cl->uid, (int)cl->pid);
		metrics_reply_free(cl->mr);
	}
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
		control_client_free(cl);
		return true;
	}
	if ((cl->closing || cl->eof) && !cl->probes && !cl->mr && control_out_len(cl) == 0) {
		control_client_free(cl);
		return true;
	}
	return false;
}

/* Answer the requests waiting in the input, one at a time, as long as
 * the previous answer is complete (no probe in flight, not watching) and
 * the client is taking its output. */
static void client_process(struct ctl_client *cl)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);
	while (!cl->closing && !cl->probes && !cl->mr) {
		size_t avail = evbuffer_get_length(in);
		if (!avail)
			break;
		if (cl->watching) {
			/* watch is the last request: later input is ignored, but
			 * read so that a hang-up is noticed. */
			evbuffer_drain(in, avail);
			break;
		}
		if (control_out_len(cl) > CTL_OUT_HIGH) {
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
			control_reply_error(cl, "request longer than %d bytes; closing", CTL_LINE_MAX - 1);
			log_info("control: client %llu (uid %u pid %d): request too long; hanging up",
				 (unsigned long long)cl->id, (unsigned)cl->uid, (int)cl->pid);
			evbuffer_drain(in, avail);
			cl->closing = true;
			return;
		case CTL_FRAME_LINE:
			break;
		}
		control_request(cl, p, line_len);
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

void control_client_kick(struct ctl_client *cl)
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
	if (cl->mr) {
		metrics_reply_more(cl->mr); /* the next piece of `metrics` */
		return;
	}
	if (client_maybe_finish(cl))
		return;
	/* Reading stopped for the mark (a closing client stays stopped). */
	if (!cl->closing && !(bufferevent_get_enabled(bev) & EV_READ))
		bufferevent_enable(bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(bev)))
		control_client_kick(cl);
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
		control_client_free(cl);
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
	control_client_free(cl);
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
	/* Control requests first in every loop pass (loopprio.h). */
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

struct control *control_new(struct event_base *base, const struct view_src *src,
			    const struct daemon_cfg *cfg, control_reload_fn reload, void *reload_arg,
			    char *err, size_t errlen)
{
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
	int fd = control_socket_open(c, cfg, err, errlen);
	if (fd < 0)
		goto fail;
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
		 (unsigned)(cfg->control_mode & 0777), cfg->control_group[0] ? ", group " : "",
		 cfg->control_group, c->have_admin_gid ? ", admin group " : "", c->admin_group);
	return c;
fail:
	if (fd >= 0) {
		close(fd);
		unlink(c->path);
	}
	if (c->listen_ev)
		event_free(c->listen_ev);
	if (c->accept_ev)
		event_free(c->accept_ev);
	free(c->admin_uids);
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
		control_client_free(cl);
	if (c->listen_ev) {
		event_free(c->listen_ev);
		close(c->lfd);
	}
	if (c->accept_ev)
		event_free(c->accept_ev);
	free(c->admin_uids);
	control_socket_unlink(c);
	jb_free(&c->jb);
	free(c);
}

