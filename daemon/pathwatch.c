/* pathwatch.c: trace_interval (pathwatch.h): every trace of a target from
 * one reserved source port, on its own grid; path_observe (probes/path.c)
 * judges each finished trace. */
#include <event2/event.h>
#include <stdlib.h>

#include "log.h"
#include "pathwatch.h"
#include "registry_priv.h"

/* trace_interval: the target's trace profile (its options, kind trace). */
int pathwatch_prepare(struct target *t)
{
	if (!t->cfg.opts.trace_interval_ns)
		return 0;
	if (!t->tr && !(t->tr = calloc(1, sizeof(*t->tr))))
		return -1;
	t->tr->t = t;
	struct probe_opts o = t->cfg.opts;
	o.kind = PROBE_TRACE;
	struct fsm_params fp;
	config_fsm_params(&o, &fp);
	engine_profile_unref(t->tr->prof);
	t->tr->prof = engine_profile_new(&fp, o.ttl, o.tos);
	return t->tr->prof ? 0 : -1;
}


static void on_trace_report(void *arg, const struct probe_report *r);

static void trace_unreserve(struct daemon *d, struct target *t)
{
	struct target_trace *tr = t->tr;
	if (tr && tr->sport)
		engine_ports_release(d->eng, &tr->dst, tr->dport, 1, &tr->sport);
	if (tr)
		tr->sport = 0;
}

/* The target's trace port toward its current address: reserved at the
 * first trace, again when the address changes. */
static int trace_port(struct daemon *d, struct target *t, char *err, size_t errlen)
{
	struct target_trace *tr = t->tr;
	if (tr->sport && tr->dport == t->cfg.opts.port && pkt_addr_eq(&tr->dst, &t->addr))
		return 0;
	trace_unreserve(d, t);
	if (engine_ports_reserve(d->eng, &t->addr, t->cfg.opts.port, 1, &tr->sport, err, errlen) < 0)
		return -1;
	tr->dst = t->addr;
	tr->dport = t->cfg.opts.port;
	return 0;
}

static void trace_launch(struct daemon *d, struct target *t)
{
	struct target_trace *tr = t->tr;
	char err[200];
	/* No address or route yet: the probes report that; the next slot tries. */
	if (!t->addr.family || t->paused)
		return;
	if (!t->src.family &&
	    engine_source_addr_scoped(&t->addr, t->ifindex, &t->src, err, sizeof(err)) < 0)
		return;
	if (trace_port(d, t, err, sizeof(err)) < 0) {
		log_warnx("target %s: trace not started: %s", t->cfg.name, err);
		return;
	}
	struct engine_probe p = {
		.dst = t->addr, .src = t->src, .dport = t->cfg.opts.port, .ifindex = t->ifindex,
		.profile = tr->prof, .sport = tr->sport, .cb = on_trace_report, .arg = t,
	};
	tr->inflight = true;
	if (engine_start(d->eng, &p, err, sizeof(err)) < 0) {
		tr->inflight = false;
		log_warnx("target %s: trace not started: %s", t->cfg.name, err);
		return;
	}
	/* Keeps last_probe_queued's count of the engine's FIFO true. */
	d->handoffs++;
}

/* Trace t now, or once the trace in flight has reported (a reported trace
 * that still lingers for late SYN/ACKs gives its 4-tuple over, as a
 * TIME_WAIT does). Called from the engine's report callbacks: the trace
 * starts from the trace wheel's timer, not inside the engine. */
static void trace_soon(struct daemon *d, struct target *t, bool early)
{
	struct target_trace *tr = t->tr;
	tr->early += early;
	if (tr->inflight) {
		tr->again = true;
		return;
	}
	uint64_t now = engine_now();
	wheel_arm(d->twheel, &tr->due, now);
	wheel_arm_timer(d->twheel, d->trace_ev, now);
}

static void on_trace_report(void *arg, const struct probe_report *r)
{
	struct target *t = arg;
	struct daemon *d = t->owner;
	struct target_trace *tr = t->tr;
	tr->inflight = false;
	if (t->removed) {
		sched_zombie_reported(d, t);
		return;
	}
	tr->traces++;
	if (r->trace) {
		struct path_track *pt = &tr->track;
		target_keep_trace(t, r->trace); /* ctl show's "trace": the last one */
		enum path_verdict v = path_observe(pt, r->trace, engine_now());
		if (v == PATH_CHANGED) {
			/* One line: what it was, what it is, since when. */
			char was[TRACE_HOPS_MAX * 48], now_p[TRACE_HOPS_MAX * 48];
			log_info("target %s: path changed: %s -> %s", t->cfg.name,
				 path_str(&pt->prev, was, sizeof(was)),
				 path_str(&pt->cur, now_p, sizeof(now_p)));
		} else if (v == PATH_FIRST) {
			char now_p[TRACE_HOPS_MAX * 48];
			log_info("target %s: path: %s", t->cfg.name,
				 path_str(&pt->cur, now_p, sizeof(now_p)));
		}
		log_debug("target %s: trace %s", t->cfg.name, path_verdict_str(v));
		if (path_confirm_wanted(pt))
			tr->again = true;
	}
	sched_deliver(d, t->cfg.name, r);
	if (tr->again) {
		tr->again = false;
		trace_soon(d, t, false);
	}
}

static struct target *trace_entry_target(struct wheel_entry *e)
{
	return ((struct target_trace *)((char *)e - offsetof(struct target_trace, due)))->t;
}

static void on_trace_due(void *arg, struct wheel_entry *e)
{
	struct daemon *d = arg;
	struct target *t = trace_entry_target(e);
	struct target_trace *tr = t->tr;
	uint64_t iv = t->cfg.opts.trace_interval_ns, now = engine_now();
	/* At a slot the grid moves on, past any slots a stall missed; woken
	 * early (trace_soon) it stays. */
	if (now + WHEEL_TICK_NS >= tr->next_base) {
		tr->next_base += iv;
		if (tr->next_base < now)
			tr->next_base += (now - tr->next_base) / iv * iv + iv;
	}
	/* One trace at a time per target: a slot that finds one running passes. */
	if (!tr->inflight)
		trace_launch(d, t);
	wheel_arm(d->twheel, &tr->due, tr->next_base);
}

static void on_trace_timer(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	wheel_run(d->twheel, d->trace_ev, engine_now, SCHED_PASS_MAX, on_trace_due, d);
}

/* The first trace within 10 s (or trace_interval, if shorter) of the
 * target's start, spread by a hash of its name as its probes are: a path to
 * compare with; then every trace_interval. */
static void trace_add(struct daemon *d, struct target *t, uint64_t now)
{
	uint64_t iv = t->cfg.opts.trace_interval_ns, spread = 10 * 1000000000ULL;
	if (iv < spread)
		spread = iv;
	t->tr->next_base = now + config_name_hash(t->cfg.name) % spread;
	wheel_arm(d->twheel, &t->tr->due, t->tr->next_base);
	wheel_arm_timer(d->twheel, d->trace_ev, now);
}

void pathwatch_add(struct daemon *d, struct target *t, uint64_t now)
{
	if (t->tr)
		trace_add(d, t, now);
}

void pathwatch_remove(struct daemon *d, struct target *t)
{
	if (t->tr)
		wheel_cancel(d->twheel, &t->tr->due);
	trace_unreserve(d, t);
}

void pathwatch_destroy(struct target *t)
{
	if (t->tr)
		engine_profile_unref(t->tr->prof);
	free(t->tr);
	t->tr = NULL;
}

bool pathwatch_busy(const struct target *t)
{
	return t->tr && t->tr->inflight;
}

void pathwatch_probe_result(struct daemon *d, struct target *t, const struct probe_report *r)
{
	/* The hop count on the SYN/ACK's way back moved: trace now rather than
	 * at the next slot (path_peer_hops rate-limits). */
	if (t->tr && r->have_peer &&
	    path_peer_hops(&t->tr->track, r->peer_ttl, engine_now(), t->cfg.opts.trace_interval_ns)) {
		log_info("target %s: peer hops now %u (SYN/ACK TTL %u): tracing early", t->cfg.name,
			 path_hops_from_ttl(r->peer_ttl), r->peer_ttl);
		trace_soon(d, t, true);
	}
}

int pathwatch_init(struct daemon *d)
{
	d->twheel = malloc(sizeof(*d->twheel));
	if (!d->twheel)
		return -1;
	wheel_init(d->twheel, engine_now());
	d->trace_ev = evtimer_new(d->base, on_trace_timer, d);
	return d->trace_ev ? 0 : -1;
}

void pathwatch_free(struct daemon *d)
{
	if (d->trace_ev)
		event_free(d->trace_ev);
	free(d->twheel);
}
