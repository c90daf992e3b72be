/* control_cmds.c: the control socket's dispatch. A request line parsed
 * (ctlproto.c), checked against the client's access, logged, and answered
 * by its command's handle_x() (chrony's cmdmon), one JSON line a reply;
 * what a reply says is views.c's business. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "control_priv.h"
#include "ctlproto.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "views.h"

#define CTL_GARBAGE_MAX 3           /* non-text requests before we hang up */
#define CTL_HISTORY_DEFAULT 10
#define CTL_JB_KEEP (1u << 20)      /* shrink the reply buffer after bigger replies */

typedef void (*ctl_handler)(struct ctl_client *cl, const struct ctl_request *rq);

/* ---- replies -------------------------------------------------------------- */

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

void control_reply_error(struct ctl_client *cl, const char *fmt, ...)
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
		control_reply_error(cl, "no target '%s'", name);
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
	control_client_kick(cl);
}

static void on_probe_error(void *arg, const char *err)
{
	struct ctl_client *cl = arg;
	control_reply_error(cl, "%s", err);
	if (cl->probes)
		cl->probes--;
	control_client_kick(cl);
}

static void handle_probe(struct ctl_client *cl, const struct ctl_request *rq)
{
	char err[256];
	cl->probes++;
	if (registry_oneshot(cl->c->src->reg, rq->argv[0], rq->argv + 1, rq->argc - 1, on_probe_result,
			   on_probe_error, cl, err, sizeof(err)) < 0) {
		cl->probes--;
		control_reply_error(cl, "%s", err);
	}
}

static void reply_mutation(struct ctl_client *cl, int rc, const char *err)
{
	if (rc < 0) {
		control_reply_error(cl, "%s", err[0] ? err : "failed");
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
		control_reply_error(cl, "reload failed, old configuration kept: %s", err[0] ? err : "?");
		return;
	}
	struct jbuf *j = reply_ok(cl);
	jb_key(j, "targets");
	jb_uint(j, registry_target_count(cl->c->src->reg));
	reply_end(cl);
}

/* The exposition goes out a piece per loop pass (metrics_ctl.c); requests
 * that come in meanwhile wait for its end. */
static void on_metrics_done(void *arg, bool hangup)
{
	struct ctl_client *cl = arg;
	cl->mr = NULL;
	if (hangup)
		cl->closing = true;
	control_client_kick(cl);
}

static void handle_metrics(struct ctl_client *cl, const struct ctl_request *rq)
{
	if (!(cl->mr = metrics_reply_start(cl->c->src, cl->bev, on_metrics_done, cl)))
		control_reply_error(cl, "out of memory");
}


static void on_watch_result(void *arg, const char *target, const struct probe_report *r)
{
	struct ctl_client *cl = arg;
	if (control_out_len(cl) > CTL_OUT_HIGH) {
		/* Results keep coming whether or not this one reads: drop it
		 * rather than buffer without bound. */
		log_warnx("control: client %llu (uid %u): watcher not reading, %zu bytes queued; "
			  "dropped", (unsigned long long)cl->id, (unsigned)cl->uid, control_out_len(cl));
		control_client_free(cl);
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
		control_reply_error(cl, "out of memory");
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
		control_reply_error(cl, "unknown log level '%s' (error, warning, notice, info, debug)",
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

/* ---- dispatch -------------------------------------------------------------- */

void control_request(struct ctl_client *cl, const char *line, size_t len)
{
	struct ctl_request rq;
	char err[256];
	enum ctl_perr e = ctl_parse(line, len, &rq, err, sizeof(err));
	if (e != CTL_POK) {
		control_reply_error(cl, "%s", err);
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
		if (!control_client_is_admin(cl)) {
			log_info("control: uid %u pid %d: '%s' denied", (unsigned)cl->uid,
				 (int)cl->pid, name);
			if (cl->c->have_admin_gid)
				control_reply_error(cl, "permission denied: '%s' needs uid 0 or group %s",
					    name, cl->c->admin_group);
			else
				control_reply_error(cl, "permission denied: '%s' needs uid 0", name);
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
		control_reply_error(cl, "'%s' is not implemented", name);
}
