/* control_priv.h: what the control socket's files share (control.c: the
 * clients and the listener; control_cmds.c: dispatch; control_access.c:
 * the socket file and who may do what) and no other module includes. */
#ifndef TCPPROBE_CONTROL_PRIV_H
#define TCPPROBE_CONTROL_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/un.h>

#include "config.h"
#include "control.h"
#include "json.h"

struct bufferevent;
struct event;
struct event_base;
struct metrics_reply;
struct view_src;

#define CTL_OUT_HIGH (1u << 20)     /* queued reply bytes before we stop answering */
#define CTL_WRITE_TIMEOUT_S 30      /* output pending and none taken: closed */

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
	struct metrics_reply *mr; /* `metrics` being sent, a piece at a time (metrics_ctl.c) */
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

/* control.c: the clients. */
size_t control_out_len(const struct ctl_client *cl);
void control_client_free(struct ctl_client *cl);
/* Take the client's queued requests on the next loop turn. */
void control_client_kick(struct ctl_client *cl);

/* control_cmds.c: answer one request line; an error reply. */
void control_request(struct ctl_client *cl, const char *line, size_t len);
void control_reply_error(struct ctl_client *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* control_access.c. The listening socket at cfg's control_socket (its
 * directory made when missing, a stale socket replaced, group and mode
 * set), admin_group looked up: the fd, or -1 with err. */
int control_socket_open(struct control *c, const struct daemon_cfg *cfg, char *err,
			size_t errlen);
/* Remove the socket file, if it is still ours. */
void control_socket_unlink(struct control *c);
/* May this client change things (uid 0 or admin_group)? */
bool control_client_is_admin(struct ctl_client *cl);

#endif
