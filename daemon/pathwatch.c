/* pathwatch.c: trace_interval and path changes (pathwatch.h). A target of
 * one flow is traced from one reserved source port of its own; a target
 * over flows (flows > 1) traces each flow on the flow's own port (and IPv6
 * flow label), the 4-tuple its probes use, so each trace follows its flow's
 * ECMP path, and keeps a path tracker per flow. path_observe
 * (probes/path.c) judges each finished trace. */
#include <event2/event.h>
#include <stdlib.h>

#include "log.h"
#include "pathwatch.h"
#include "registry_priv.h"

static uint64_t flow_bit(unsigned f)
{
	return 1ULL << f;
}

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
	if (t->tr->prof) /* a flow's trace carries the flow's label, as its probes do */
		t->tr->prof->flow_label = o.flows > 1;
	return t->tr->prof ? 0 : -1;
}

static void on_trace_report(void *arg, const struct probe_report *r);

static void trace_unreserve(struct registry *reg, struct target *t)
{
	struct target_trace *tr = t->tr;
	if (tr && tr->sport)
		engine_ports_release(reg->eng, &tr->dst, tr->dport, 1, &tr->sport);
	if (tr)
		tr->sport = 0;
}

/* The target's trace port toward its current address: reserved at the
 * first trace, again when the address changes. */
static int trace_port(struct registry *reg, struct target *t, char *err, size_t errlen)
{
	struct target_trace *tr = t->tr;
	if (tr->sport && tr->dport == t->cfg.opts.port && pkt_addr_eq(&tr->dst, &t->addr))
		return 0;
	trace_unreserve(reg, t);
	if (engine_ports_reserve(reg->eng, &t->addr, t->cfg.opts.port, 1, &tr->sport, err, errlen) < 0)
		return -1;
	tr->dst = t->addr;
	tr->dport = t->cfg.opts.port;
	return 0;
}

/* Trace t, over flow (1..N) on that flow's reserved port, or (0) on the
 * target's own trace port. */
static void trace_launch(struct registry *reg, struct target *t, unsigned flow)
{
	struct target_trace *tr = t->tr;
	char err[200];
	/* No address or route yet: the probes report that; the next slot tries. */
	if (!t->addr.family || t->paused)
		return;
	if (!t->src.family &&
	    engine_source_addr_scoped(&t->addr, t->ifindex, &t->src, err, sizeof(err)) < 0)
		return;
	uint16_t sport;
	if (flow) {
		/* The flow's port, reserved at the target's first round: before
		 * that there is no flow to follow yet. */
		if (!t->flows || flow > t->flows->n)
			return;
		sport = t->flows->port[flow - 1];
	} else if (trace_port(reg, t, err, sizeof(err)) < 0) {
		log_warnx("target %s: trace not started: %s", t->cfg.name, err);
		return;
	} else {
		sport = tr->sport;
	}
	struct engine_probe p = {
		.dst = t->addr, .src = t->src, .dport = t->cfg.opts.port, .ifindex = t->ifindex,
		.profile = tr->prof, .sport = sport, .flow = (uint8_t)flow, .cb = on_trace_report,
		.arg = t,
	};
	tr->inflight++;
	if (flow)
		tr->fbusy |= flow_bit(flow - 1);
	if (engine_start(reg->eng, &p, err, sizeof(err)) < 0) {
		tr->inflight--;
		if (flow)
			tr->fbusy &= ~flow_bit(flow - 1);
		log_warnx("target %s: trace not started: %s", t->cfg.name, err);
		return;
	}
	/* Keeps last_probe_queued's count of the engine's FIFO true. */
	reg->handoffs++;
}

/* Run the trace wheel's pass for t now: what waits (a trace, a flow's
 * probe or trace) starts from its timer, never inside the engine's report
 * callbacks (a reported connection still lingers on the 4-tuple the next
 * one takes over). */
static void wake(struct registry *reg, struct target *t)
{
	uint64_t now = engine_now();
	wheel_arm(reg->twheel, &t->tr->due, now);
	wheel_arm_timer(reg->twheel, reg->trace_ev, now);
}

/* Trace t now, or once the trace in flight has reported (a reported trace
 * that still lingers for late SYN/ACKs gives its 4-tuple over, as a
 * TIME_WAIT does). Over flows: flow f (0..N-1) once its 4-tuple is free. */
static void trace_soon(struct registry *reg, struct target *t, bool early, int f)
{
	struct target_trace *tr = t->tr;
	tr->early += early;
	if (f >= 0) {
		tr->fwant |= flow_bit((unsigned)f);
		wake(reg, t);
		return;
	}
	if (tr->inflight) {
		tr->again = true;
		return;
	}
	wake(reg, t);
}

/* Over flows: start what each flow waits for, one connection at a time
 * on its 4-tuple: a probe held back by the flow's trace first (the
 * schedule's), then a trace wanted once the flow's probe has reported. */
static void pump(struct registry *reg, struct target *t)
{
	struct target_trace *tr = t->tr;
	unsigned nf = t->flows ? t->flows->nf : 0;
	if (t->paused)
		tr->fwait = tr->fwant = 0;
	for (unsigned f = 0; f < nf; f++) {
		uint64_t b = flow_bit(f);
		if (tr->fbusy & b)
			continue;
		if (tr->fwait & b) {
			tr->fwait &= ~b;
			sched_flow_start(reg, t, f);
		} else if ((tr->fwant & b) && !(tr->fprobe & b)) {
			tr->fwant &= ~b;
			trace_launch(reg, t, f + 1);
		}
	}
}

/* One line per path event: "target NAME[ flow F]: ...". */
static void log_verdict(const struct target *t, unsigned flow, const struct path_track *pt,
			enum path_verdict v)
{
	char who[80], was[TRACE_HOPS_MAX * 48], now_p[TRACE_HOPS_MAX * 48];
	if (flow)
		snprintf(who, sizeof(who), "%s flow %u", t->cfg.name, flow);
	else
		snprintf(who, sizeof(who), "%s", t->cfg.name);
	if (v == PATH_CHANGED)
		/* One line: what it was, what it is. */
		log_info("target %s: path changed: %s -> %s", who, path_str(&pt->prev, was, sizeof(was)),
			 path_str(&pt->cur, now_p, sizeof(now_p)));
	else if (v == PATH_FIRST)
		log_info("target %s: path: %s", who, path_str(&pt->cur, now_p, sizeof(now_p)));
	log_debug("target %s: trace %s", who, path_verdict_str(v));
}

/* Flow f's tracker (allocated at its first use); NULL when out of memory. */
static struct path_track *flow_track(struct target *t, unsigned f)
{
	struct target_flow *fl = &t->flows->f[f];
	if (!fl->path && !(fl->path = calloc(1, sizeof(*fl->path))))
		log_warnx("target %s flow %u: out of memory for its path", t->cfg.name, f + 1);
	return fl->path;
}

/* A finished trace of flow (1..N), a trace_interval trace or a kind trace
 * target's own: the one place a flow's path is judged. True: confirm it
 * with another trace at once. */
static bool flow_observe(struct target *t, unsigned flow, const struct trace_result *p)
{
	if (!t->flows || !flow || flow > t->flows->nf)
		return false;
	struct path_track *pt = flow_track(t, flow - 1);
	if (!pt)
		return false;
	log_verdict(t, flow, pt, path_observe(pt, p, engine_now()));
	return path_confirm_wanted(pt);
}

static void on_trace_report(void *arg, const struct probe_report *r)
{
	struct target *t = arg;
	struct registry *reg = t->owner;
	struct target_trace *tr = t->tr;
	unsigned flow = r->flow;
	tr->inflight--;
	if (flow)
		tr->fbusy &= ~flow_bit(flow - 1);
	if (t->removed) {
		tr->fwait = 0; /* held probes of a removed target never start */
		sched_zombie_reported(reg, t);
		return;
	}
	tr->traces++;
	bool again = false;
	if (r->trace) {
		target_keep_trace(t, r->trace); /* ctl show's "trace": the last one */
		if (flow) {
			again = flow_observe(t, flow, r->trace);
		} else {
			struct path_track *pt = &tr->track;
			log_verdict(t, 0, pt, path_observe(pt, r->trace, engine_now()));
			again = path_confirm_wanted(pt);
		}
	}
	sched_deliver(reg, t->cfg.name, r);
	if (flow) {
		if (again)
			tr->fwant |= flow_bit(flow - 1);
		if ((tr->fwait | tr->fwant) & flow_bit(flow - 1))
			wake(reg, t);
		return;
	}
	if (again || tr->again) {
		tr->again = false;
		trace_soon(reg, t, false, -1);
	}
}

static struct target *trace_entry_target(struct wheel_entry *e)
{
	return ((struct target_trace *)((char *)e - offsetof(struct target_trace, due)))->t;
}

static void on_trace_due(void *arg, struct wheel_entry *e)
{
	struct registry *reg = arg;
	struct target *t = trace_entry_target(e);
	struct target_trace *tr = t->tr;
	uint64_t iv = t->cfg.opts.trace_interval_ns, now = engine_now();
	bool slot = now + WHEEL_TICK_NS >= tr->next_base;
	/* At a slot the grid moves on, past any slots a stall missed; woken
	 * early (trace_soon) it stays. */
	if (slot) {
		tr->next_base += iv;
		if (tr->next_base < now)
			tr->next_base += (now - tr->next_base) / iv * iv + iv;
	}
	if (t->cfg.opts.flows > 1) {
		/* Every flow at a slot, each when its 4-tuple is free. */
		/* Before the target's first round no flow has its port: each
		 * flow's trace then waits for the flow's first probe to report. */
		unsigned nf = t->cfg.opts.flows;
		if (slot && !t->paused)
			tr->fwant |= nf >= 64 ? ~0ULL : flow_bit(nf) - 1;
		pump(reg, t);
	} else if (!tr->inflight) {
		/* One trace at a time per target: a slot that finds one running passes. */
		trace_launch(reg, t, 0);
	}
	wheel_arm(reg->twheel, &tr->due, tr->next_base);
}

static void on_trace_timer(evutil_socket_t fd, short what, void *arg)
{
	struct registry *reg = arg;
	wheel_run(reg->twheel, reg->trace_ev, engine_now, SCHED_PASS_MAX, on_trace_due, reg);
}

/* The first trace within 10 s (or trace_interval, if shorter) of the
 * target's start, spread by a hash of its name as its probes are: a path to
 * compare with; then every trace_interval. */
static void trace_add(struct registry *reg, struct target *t, uint64_t now)
{
	uint64_t iv = t->cfg.opts.trace_interval_ns, spread = 10 * 1000000000ULL;
	if (iv < spread)
		spread = iv;
	t->tr->next_base = now + config_name_hash(t->cfg.name) % spread;
	wheel_arm(reg->twheel, &t->tr->due, t->tr->next_base);
	wheel_arm_timer(reg->twheel, reg->trace_ev, now);
}

void pathwatch_add(struct registry *reg, struct target *t, uint64_t now)
{
	if (t->tr)
		trace_add(reg, t, now);
}

void pathwatch_remove(struct registry *reg, struct target *t)
{
	if (t->tr)
		wheel_cancel(reg->twheel, &t->tr->due);
	trace_unreserve(reg, t);
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

bool pathwatch_flow_hold(struct target *t, unsigned f)
{
	struct target_trace *tr = t->tr;
	if (!tr || f >= 64)
		return false;
	if (tr->fbusy & flow_bit(f)) {
		tr->fwait |= flow_bit(f);
		return true;
	}
	tr->fprobe |= flow_bit(f);
	return false;
}

void pathwatch_flow_end(struct registry *reg, struct target *t, unsigned f)
{
	struct target_trace *tr = t->tr;
	if (!tr || f >= 64)
		return;
	tr->fprobe &= ~flow_bit(f);
	if (tr->fwant & flow_bit(f))
		wake(reg, t);
}

void pathwatch_probe_result(struct registry *reg, struct target *t, const struct probe_report *r)
{
	/* A kind trace target's own trace of a flow: counted and judged as
	 * trace_interval's. */
	if (r->flow && t->cfg.opts.kind == PROBE_TRACE && target_path_per_flow(t) && t->flows) {
		t->flows->traces++;
		if (r->trace && flow_observe(t, r->flow, r->trace) && t->tr)
			trace_soon(reg, t, false, r->flow - 1);
	}
	if (!t->tr)
		return;
	if (r->flow)
		pathwatch_flow_end(reg, t, r->flow - 1u);
	/* The hop count on the SYN/ACK's way back moved: trace now rather than
	 * at the next slot (path_peer_hops rate-limits); over flows, that flow. */
	if (!r->have_peer)
		return;
	bool per_flow = t->cfg.opts.flows > 1;
	if (per_flow && (!r->flow || !t->flows || r->flow > t->flows->nf))
		return;
	struct path_track *pt = per_flow ? flow_track(t, r->flow - 1u) : &t->tr->track;
	if (!pt || !path_peer_hops(pt, r->peer_ttl, engine_now(), t->cfg.opts.trace_interval_ns))
		return;
	char who[80] = "";
	if (per_flow)
		snprintf(who, sizeof(who), " flow %u", r->flow);
	log_info("target %s%s: peer hops now %u (SYN/ACK TTL %u): tracing early", t->cfg.name, who,
		 path_hops_from_ttl(r->peer_ttl), r->peer_ttl);
	trace_soon(reg, t, true, per_flow ? (int)r->flow - 1 : -1);
}

int pathwatch_init(struct registry *reg)
{
	reg->twheel = malloc(sizeof(*reg->twheel));
	if (!reg->twheel)
		return -1;
	wheel_init(reg->twheel, engine_now());
	reg->trace_ev = evtimer_new(reg->base, on_trace_timer, reg);
	return reg->trace_ev ? 0 : -1;
}

void pathwatch_free(struct registry *reg)
{
	if (reg->trace_ev)
		event_free(reg->trace_ev);
	free(reg->twheel);
}
