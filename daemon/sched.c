/* sched.c: probes every target on its interval, records results, runs
 * one-shot probes and feeds watchers. Targets are spread over their
 * interval by a hash of their name (deterministic: 10,000 targets with the
 * same interval never start together), plus a small random jitter that
 * never accumulates. All schedules live in one timer wheel. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "addrpolicy.h"
#include "registry_priv.h"
#include "hostport.h"
#include "log.h"
#include "pairs.h"
#include "pathwatch.h"
#include "report.h"

static uint64_t jitter_ns(uint64_t interval)
{
	uint64_t max = interval / 50;
	if (max > 20000000ULL)
		max = 20000000ULL;
	if (!max)
		return 0;
	/* xorshift64, seeded once: a syscall per slot showed in profiles of
	 * 6,000 probes/s, and the jitter only has to spread, not be secret. */
	static uint64_t s;
	if (!s && (getrandom(&s, sizeof(s), GRND_NONBLOCK) != sizeof(s) || !s))
		s = 0x9e3779b97f4a7c15ULL;
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s % max;
}

int registry_target_prepare(struct registry *reg, struct target *t, char *err, size_t errlen)
{
	struct fsm_params fp;
	config_fsm_params(&t->cfg.opts, &fp);
	engine_profile_unref(t->prof);
	t->prof = engine_profile_new(&fp, t->cfg.opts.ttl, t->cfg.opts.tos);
	if (t->prof) {
		t->prof->expect_mss = t->cfg.opts.expect_mss;
		t->prof->flow_label = t->cfg.opts.flows > 1;
	}
	if (!t->prof || target_set_history(t, reg->cfg->d.history) < 0 || pathwatch_prepare(t) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void registry_target_destroy(struct target *t)
{
	if (!t)
		return;
	if (t->owner) {
		resolve_target_stop(t->owner, t);
		pairs_forget(((struct registry *)t->owner)->pairs, t);
	}
	target_free_history(t);
	target_clear_phases(&t->st);
	target_forget_trace(&t->st);
	series_free(&t->series);
	engine_profile_unref(t->prof);
	pathwatch_destroy(t);
	free(t->cfg.labels);
	free(t->error);
	free(t->resolve_error);
	target_flows_free(t->flows);
	target_dealloc(t);
}

static void drop_zombie(struct registry *reg, struct target *t)
{
	for (struct target **pp = &reg->zombies; *pp; pp = &(*pp)->znext) {
		if (*pp == t) {
			*pp = t->znext;
			break;
		}
	}
	registry_target_destroy(t);
}

void sched_deliver(struct registry *reg, const char *name, const struct probe_report *r)
{
	for (size_t i = 0; i < reg->nw; i++)
		if (reg->w[i].cb)
			reg->w[i].cb(reg->w[i].arg, name, r);
}

/* Into the target's counters, history and status-page buckets. */
static void record(struct registry *reg, struct target *t, const struct probe_report *r)
{
	const struct daemon_cfg *c = &reg->cfg->d;
	target_record(t, r, c->buckets, c->n_buckets);
	pairs_record(reg->pairs, t);
	if (series_record(&t->series, r, c->status_bucket_ns, c->buckets, c->n_buckets) < 0)
		log_warnx("target %s: out of memory for the status page's history", t->cfg.name);
}

static void record_error(struct registry *reg, struct target *t, uint64_t now)
{
	struct probe_report r;
	memset(&r, 0, sizeof(r));
	r.dst = t->addr;
	r.dport = t->cfg.opts.port;
	r.kind = t->cfg.opts.kind;
	r.result = RESULT_ERROR;
	r.peer_wscale = -1;
	r.t_start = now;
	record(reg, t, &r);
	sched_deliver(reg, t->cfg.name, &r);
}

/* A probe or a trace of t is in flight: a removed t waits for it. */
static bool target_busy(const struct target *t)
{
	return t->inflight || pathwatch_busy(t);
}

/* A removed t stays (a zombie) while it is busy or a reader has the
 * registry pinned (registry_targets_pin). */
static bool zombie_held(const struct registry *reg, const struct target *t)
{
	return target_busy(t) || reg->pins;
}

void sched_zombie_reported(struct registry *reg, struct target *t)
{
	if (!zombie_held(reg, t))
		drop_zombie(reg, t);
}

static void on_target_report(void *arg, const struct probe_report *r)
{
	struct target *t = arg;
	struct registry *reg = t->owner;
	t->inflight--;
	if (t->removed) {
		sched_zombie_reported(reg, t);
		return;
	}
	/* The engine reports a probe it could not open (daemon probes always
	 * carry their source address) as an error without a connection. */
	bool opened = !(r->result == RESULT_ERROR && !r->sport);
	if (!opened && r->flow && r->error)
		target_msg_set(&t->error, "flow %u: %s", r->flow, r->error);
	else if (!opened)
		target_msg_set(&t->error,
			       "no connection opened: no free source port for this destination "
			       "(source_ports exhausted) or out of memory");
	if (r->send_errno) {
		char why[96];
		report_error_str(r, why, sizeof(why));
		/* Once per target and reason: this can fail at the probe rate. */
		if (t->logged_errno != r->send_errno)
			log_warnx("target %s: probe error: %s", t->cfg.name, why);
		t->logged_errno = r->send_errno;
		target_msg_set(&t->error, "%s", why);
	}
	struct find_fp fp_was = t->st.find.fp;
	uint64_t fp_changes = t->st.fp_changes;
	record(reg, t, r);
	pathwatch_probe_result(reg, t, r);
	if (t->st.fp_changes != fp_changes) {
		/* Another stack answers: a failover, a new load balancer. */
		char was[FIND_FP_STRLEN], now_fp[FIND_FP_STRLEN];
		log_info("target %s: fingerprint changed: %s -> %s", t->cfg.name,
			 find_fp_str(&fp_was, was, sizeof(was)),
			 find_fp_str(&t->st.find.fp, now_fp, sizeof(now_fp)));
	}
	/* No answer from the peer: maybe the route went away (a raw send
	 * without one fails, and the probe just times out). Look the route up
	 * again before the next probe, so that one reports "no route". */
	switch (opened ? (enum probe_result)r->result : RESULT_OK) {
	case RESULT_OK: /* or nothing was sent: the route is not in question */
	case RESULT_REFUSED:
	case RESULT_CLOSED:
	case RESULT_RESET:
		break;
	case RESULT_PENDING:
	case RESULT_TIMEOUT:
	case RESULT_UNREACHABLE:
	case RESULT_ERROR:
	case RESULT_SILENT:
		memset(&t->src, 0, sizeof(t->src));
		break;
	}
	sched_deliver(reg, t->cfg.name, r);
}

static void flows_unreserve(struct registry *reg, struct target *t)
{
	if (t->flows && t->flows->n)
		engine_ports_release(reg->eng, &t->flows->dst, t->flows->dport, t->flows->n,
				     t->flows->port);
	if (t->flows)
		t->flows->n = 0;
}

/* The target's flow ports toward its current address, reserved at the
 * first round and again when the address changes. */
static int flows_ports(struct registry *reg, struct target *t, char *err, size_t errlen)
{
	struct target_flows *tf = t->flows;
	if (tf->n && tf->dport == t->cfg.opts.port && tf->dst.family == t->addr.family &&
	    !memcmp(tf->dst.a, t->addr.a, t->addr.family == AF_INET6 ? 16 : 4))
		return 0;
	flows_unreserve(reg, t);
	/* port[] keeps the ports the flows last used until new ones are had. */
	uint16_t port[FLOWS_MAX];
	if (engine_ports_reserve(reg->eng, &t->addr, t->cfg.opts.port, t->cfg.opts.flows, port,
				 err, errlen) < 0)
		return -1;
	memcpy(tf->port, port, t->cfg.opts.flows * sizeof(port[0]));
	tf->n = t->cfg.opts.flows;
	tf->dst = t->addr;
	tf->dport = t->cfg.opts.port;
	return 0;
}

/* Start t's probe of flow f (0..flows-1; with one flow, its probe). Over
 * flows, a flow whose trace holds its 4-tuple gets its probe once the
 * trace has reported (pathwatch). */
static void start_flow(struct registry *reg, struct target *t, unsigned f, uint64_t now)
{
	char err[200];
	struct engine_probe p = {
		.dst = t->addr, .src = t->src, .dport = t->cfg.opts.port, .ifindex = t->ifindex,
		.profile = t->prof,
		.timeline = reg->cfg->d.history > 0, .cb = on_target_report, .arg = t,
	};
	bool flows = t->cfg.opts.flows > 1;
	if (flows) {
		p.sport = t->flows->port[f];
		p.flow = (uint8_t)(f + 1);
		if (pathwatch_flow_hold(t, f))
			return;
	}
	t->inflight++;
	if (engine_start(reg->eng, &p, err, sizeof(err)) < 0) {
		t->inflight--;
		if (flows)
			pathwatch_flow_end(reg, t, f);
		target_msg_set(&t->error, "%s", err);
		record_error(reg, t, now);
		return;
	}
	t->handoff = ++reg->handoffs;
}

static void launch(struct registry *reg, struct target *t, uint64_t now)
{
	char err[200];
	/* No address (yet): the name's lookup runs apart (resolve.c); never
	 * resolve here, on the probing path. */
	if (!t->addr.family) {
		if (!target_msg_has(t->error))
			target_msg_set(&t->error, "no address for '%.200s'", t->cfg.host);
		log_debug("target %s: %s", t->cfg.name, target_msg(t->error));
		record_error(reg, t, now);
		return;
	}
	if (!t->src.family &&
	    engine_source_addr_scoped(&t->addr, t->ifindex, &t->src, err, sizeof(err)) < 0) {
		target_msg_set(&t->error, "%s", err);
		record_error(reg, t, now);
		return;
	}
	unsigned nf = t->cfg.opts.flows;
	/* Per-flow state only over flows: 100,000 single-flow targets keep a
	 * NULL pointer. One flow has no port of its own (each probe takes
	 * another), so flow_metrics gives it nothing. */
	if (!t->flows && nf > 1 && !(t->flows = target_flows_new(nf))) {
		target_msg_set(&t->error, "out of memory");
		record_error(reg, t, now);
		return;
	}
	if (nf > 1 && flows_ports(reg, t, err, sizeof(err)) < 0) {
		target_msg_set(&t->error, "%s", err);
		record_error(reg, t, now);
		return;
	}
	target_msg_clear(t->error);
	/* One probe per flow (on_target_report tells them apart by r->flow). */
	target_round_start(t);
	for (unsigned f = 0; f < nf; f++)
		start_flow(reg, t, f, now);
}

void sched_flow_start(struct registry *reg, struct target *t, unsigned f)
{
	start_flow(reg, t, f, engine_now());
}

/* Whether t's last probe still waits in the engine's queue. The queue is
 * FIFO and a probe starts at once only when it is empty, so the probes not
 * yet started are always the last engine_queued() handed over. */
static bool last_probe_queued(struct registry *reg, const struct target *t)
{
	return t->inflight && reg->handoffs - t->handoff < engine_queued(reg->eng);
}

static void skip_slot(struct registry *reg, struct target *t, uint64_t now)
{
	reg->skipped++;
	/* At most one line every 10 s: this happens at the probe rate. */
	if (!reg->skip_log_ns || now - reg->skip_log_ns >= 10000000000ULL) {
		log_warnx("overloaded: %llu probe slots skipped so far (target %s and others); "
			  "%llu probes wait on the caps (pps %u, max_inflight %u)",
			  (unsigned long long)reg->skipped, t->cfg.name,
			  (unsigned long long)engine_queued(reg->eng), reg->cfg->d.pps, reg->cfg->d.max_inflight);
		reg->skip_log_ns = now;
	}
}

static struct target *entry_target(struct wheel_entry *e)
{
	return (struct target *)((char *)e - offsetof(struct target, sched));
}

static void arm_next(struct registry *reg, struct target *t)
{
	t->due = t->next_base + jitter_ns(t->cfg.opts.interval_ns);
	wheel_arm(reg->sched, &t->sched, t->due);
}

static void on_due(void *arg, struct wheel_entry *e)
{
	struct registry *reg = arg;
	struct target *t = entry_target(e);
	uint64_t now = engine_now();
	/* Late against the jittered time: the jitter is on purpose. */
	uint64_t late = now > t->due ? now - t->due : 0;
	reg->late_total += late;
	if (late > reg->late_max)
		reg->late_max = late;
	/* A paused target's slots pass without a probe and are not expected:
	 * probes == expected (once nothing is in flight) is the schedule kept. */
	if (!t->paused) {
		t->expected += t->cfg.opts.flows;
		/* Overloaded: this target's last probe has not even started
		 * (it waits on the pps or in-flight cap). Skip the slot rather
		 * than queue another, so the queue holds at most one probe per
		 * target, and the shortfall shows as probes < expected. */
		if (last_probe_queued(reg, t))
			skip_slot(reg, t, now);
		else
			launch(reg, t, now);
	}
	uint64_t iv = t->cfg.opts.interval_ns;
	t->next_base += iv;
	/* After a stall (suspend, clock step) skip the missed slots instead of
	 * bursting through them. */
	if (t->next_base + iv < now)
		t->next_base += (now - t->next_base) / iv * iv;
	arm_next(reg, t);
}

void registry_kick(struct registry *reg)
{
	wheel_run(reg->sched, reg->sched_ev, engine_now, SCHED_PASS_MAX, on_due, reg);
}

static void on_sched(evutil_socket_t fd, short what, void *arg)
{
	registry_kick(arg);
}

void sched_add(struct registry *reg, struct target *t, uint64_t now)
{
	uint64_t iv = t->cfg.opts.interval_ns;
	t->owner = reg;
	t->phase_ns = config_name_hash(t->cfg.name) % iv;
	/* The first slot on this target's grid (phase + k*interval) from now. */
	uint64_t base = now - now % iv + t->phase_ns;
	if (base < now)
		base += iv;
	t->next_base = base;
	arm_next(reg, t);
	pathwatch_add(reg, t, now);
}

void sched_remove(struct registry *reg, struct target *t)
{
	wheel_cancel(reg->sched, &t->sched);
	pathwatch_remove(reg, t);
	resolve_target_stop(reg, t);
	flows_unreserve(reg, t);
	pairs_forget(reg->pairs, t); /* its partners no longer see it */
	if (zombie_held(reg, t)) {
		/* Freed when its last probe reports (on_target_report) or
		 * the last pin goes (sched_unpinned), whichever is later. */
		t->removed = true;
		t->znext = reg->zombies;
		reg->zombies = t;
		return;
	}
	registry_target_destroy(t);
}

void sched_unpinned(struct registry *reg)
{
	for (struct target **pp = &reg->zombies; *pp;) {
		struct target *t = *pp;
		if (target_busy(t)) {
			pp = &t->znext;
			continue;
		}
		*pp = t->znext;
		registry_target_destroy(t);
	}
}

int sched_init(struct registry *reg)
{
	reg->sched = malloc(sizeof(*reg->sched));
	if (!reg->sched || !(reg->pairs = pairs_new()))
		return -1;
	wheel_init(reg->sched, engine_now());
	reg->sched_ev = evtimer_new(reg->base, on_sched, reg);
	return reg->sched_ev && pathwatch_init(reg) == 0 ? 0 : -1;
}

void sched_free(struct registry *reg)
{
	if (reg->sched_ev)
		event_free(reg->sched_ev);
	pathwatch_free(reg);
	free(reg->sched);
	while (reg->zombies) {
		struct target *z = reg->zombies;
		reg->zombies = z->znext;
		registry_target_destroy(z);
	}
	pairs_free(reg->pairs); /* every target is gone */
	reg->pairs = NULL;
	for (struct oneshot *o = reg->oneshots; o;) {
		struct oneshot *n = o->next;
		resolve_cancel(o->dns);
		free(o);
		o = n;
	}
	free(reg->w);
}

/* ---- one-shot probes and watchers ---- */

static void on_oneshot_report(void *arg, const struct probe_report *r)
{
	struct oneshot *o = arg;
	struct registry *reg = o->reg;
	if (o->cb)
		o->cb(o->arg, o->name, r);
	sched_deliver(reg, o->name, r);
	for (struct oneshot **pp = &reg->oneshots; *pp; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	}
	free(o);
}

int registry_target_cfg(struct registry *reg, struct target_cfg *tc, const char *hostport,
			 char *const *kv, size_t nkv, bool oneshot, char *err, size_t errlen)
{
	tc->opts = reg->cfg->defaults;
	if (oneshot)
		config_probe_oneshot_base(&tc->opts);
	if (config_parse_hostport(hostport, tc->host, sizeof(tc->host), &tc->opts.port, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < nkv; i++) {
		char key[64];
		const char *eq = strchr(kv[i], '=');
		if (!eq || eq == kv[i] || (size_t)(eq - kv[i]) >= sizeof(key)) {
			snprintf(err, errlen, "'%s' is not key=value", kv[i]);
			return -1;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - kv[i]), kv[i]);
		if (!strcmp(key, "host"))
			snprintf(tc->host, sizeof(tc->host), "%s", eq + 1);
		else if (config_set_probe_opt(&tc->opts, key, eq + 1, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static void oneshot_unlink_free(struct oneshot *o)
{
	for (struct oneshot **pp = &o->reg->oneshots; *pp; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	}
	free(o);
}

/* Probe a, now that the host has an address. 0, or -1 with err (o is
 * then still listed: the caller frees it). */
static int oneshot_launch(struct oneshot *o, const struct pkt_addr *a, unsigned ifindex, char *err,
			  size_t errlen)
{
	struct registry *reg = o->reg;
	if (addrpolicy_check(a, &reg->cfg->d, err, errlen) < 0)
		return -1;
	struct fsm_params fp;
	config_fsm_params(&o->tc.opts, &fp);
	struct engine_profile *prof = engine_profile_new(&fp, o->tc.opts.ttl, o->tc.opts.tos);
	if (prof)
		prof->expect_mss = o->tc.opts.expect_mss;
	if (!prof) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	struct engine_probe p = {
		.dst = *a, .dport = o->tc.opts.port, .ifindex = ifindex, .profile = prof,
		.timeline = true, .cb = on_oneshot_report, .arg = o,
	};
	int rc = engine_start(reg->eng, &p, err, errlen);
	engine_profile_unref(prof); /* the engine holds its own reference */
	if (rc == 0)
		reg->handoffs++;
	return rc;
}

static void on_oneshot_answer(void *arg, int rc, const struct pkt_addr *a, const char *err)
{
	struct oneshot *o = arg;
	char why[256];
	o->dns = NULL;
	if (!o->cb) { /* its client is gone */
		oneshot_unlink_free(o);
		return;
	}
	if (rc < 0)
		snprintf(why, sizeof(why), "%s", err);
	if (rc < 0 || oneshot_launch(o, a, 0, why, sizeof(why)) < 0) {
		registry_error_cb ecb = o->ecb;
		void *carg = o->arg;
		oneshot_unlink_free(o);
		ecb(carg, why);
	}
}

int registry_oneshot(struct registry *reg, const char *hostport, char *const *kv, size_t nkv,
		   registry_result_cb cb, registry_error_cb ecb, void *arg, char *err, size_t errlen)
{
	struct target_cfg tc;
	memset(&tc, 0, sizeof(tc));
	if (registry_target_cfg(reg, &tc, hostport, kv, nkv, true, err, errlen) < 0)
		return -1;
	/* One probe, one result: keys that take rounds or a schedule (the key
	 * table's target_only; their [defaults] values were left out) would be
	 * ignored, so say so rather than answer something else. */
	const char *only_targets = config_probe_target_only_set(&tc.opts);
	if (only_targets) {
		snprintf(err, errlen, "%s: `probe` sends one probe; give it to a target (`add NAME "
			 "HOST:PORT %s=...`) or use `tcpprobe probe`", only_targets, only_targets);
		return -1;
	}
	struct pkt_addr a;
	unsigned ifindex;
	int lit = resolve_literal(tc.host, tc.opts.family, &a, &ifindex, err, errlen);
	if (lit < 0)
		return -1;
	struct oneshot *o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	o->reg = reg;
	o->cb = cb;
	o->ecb = ecb;
	o->arg = arg;
	o->tc = tc;
	snprintf(o->name, sizeof(o->name), "%s", hostport);
	o->next = reg->oneshots;
	reg->oneshots = o;
	if (lit > 0) {
		if (oneshot_launch(o, &a, ifindex, err, errlen) < 0) {
			oneshot_unlink_free(o);
			return -1;
		}
		return 0;
	}
	/* A name: answered from the loop (or at once from /etc/hosts), the
	 * error, if any, through ecb. */
	o->dns = (struct resolve_req *)1;
	struct resolve_req *q = resolve_lookup(reg, tc.host, tc.opts.family, on_oneshot_answer, o);
	if (o->dns)
		o->dns = q;
	return 0;
}

static void unwatch(struct registry *reg, void *arg)
{
	for (size_t i = 0; i < reg->nw; i++)
		if (reg->w[i].arg == arg)
			reg->w[i].cb = NULL;
}

void registry_forget(struct registry *reg, void *arg)
{
	for (struct oneshot *o = reg->oneshots; o; o = o->next)
		if (o->arg == arg)
			o->cb = NULL; /* one still resolving is freed when its answer comes */
	unwatch(reg, arg);
}

int registry_watch(struct registry *reg, registry_result_cb cb, void *arg)
{
	/* Reuse a slot freed by unwatch (never compacted during delivery). */
	for (size_t i = 0; i < reg->nw; i++) {
		if (!reg->w[i].cb) {
			reg->w[i] = (struct watcher){ cb, arg };
			return 0;
		}
	}
	if (reg->nw == reg->w_cap) {
		size_t cap = reg->w_cap ? reg->w_cap * 2 : 8;
		struct watcher *w = realloc(reg->w, cap * sizeof(*w));
		if (!w)
			return -1;
		reg->w = w;
		reg->w_cap = cap;
	}
	reg->w[reg->nw++] = (struct watcher){ cb, arg };
	return 0;
}
