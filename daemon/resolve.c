/* resolve.c: asynchronous name resolution for targets and one-shot probes.
 * See resolve.h. evdns, not getaddrinfo: a DNS server that does not answer
 * once froze the whole daemon for the length of its timeouts, at every
 * slot of the target whose name it served. */
#include "resolve.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addrpolicy.h"
#include "registry_priv.h"
#include "hostport.h"
#include "log.h"

#define BACKOFF_MIN_NS 1000000000ULL /* first retry after a failed lookup */

struct resolve_req {
	struct registry *reg;
	struct evdns_getaddrinfo_request *er;
	resolve_cb cb;      /* NULL once cancelled */
	void *arg;
	int family;
	char host[CFG_HOST_MAX];
	struct resolve_req *prev, *next; /* reg->lookups: every request not yet called back */
};

static int af_of(int family)
{
	return family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
}

static void addr_from_ai(const struct evutil_addrinfo *ai, struct pkt_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = (uint8_t)ai->ai_family;
	if (ai->ai_family == AF_INET)
		memcpy(a->a, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
	else
		memcpy(a->a, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
}

int resolve_literal(const char *host, int family, struct pkt_addr *a, unsigned *ifindex,
		    char *err, size_t errlen)
{
	/* Full addresses only (no inet_aton shorthand), a zone for link-local
	 * IPv6; never the network or NSS. */
	int lit = hostport_literal(host, a, ifindex, err, errlen);
	if (lit <= 0)
		return lit;
	int af = af_of(family);
	if (af != AF_UNSPEC && a->family != af) {
		snprintf(err, errlen, "'%s' is not an IPv%d address (family = ipv%d)", host, family, family);
		return -1;
	}
	return 1;
}

static void req_unlink(struct resolve_req *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		q->reg->lookups = q->next;
	if (q->next)
		q->next->prev = q->prev;
}

static void on_gai(int rc, struct evutil_addrinfo *res, void *arg)
{
	struct resolve_req *q = arg;
	req_unlink(q);
	if (q->cb) {
		const struct evutil_addrinfo *ai = res;
		while (ai && ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			ai = ai->ai_next;
		if (!rc && ai) {
			struct pkt_addr a;
			addr_from_ai(ai, &a);
			q->cb(q->arg, 0, &a, NULL);
		} else {
			char err[CFG_HOST_MAX + 80];
			snprintf(err, sizeof(err), "cannot resolve '%s': %s", q->host,
				 rc ? evutil_gai_strerror(rc) : "no address");
			q->cb(q->arg, -1, NULL, err);
		}
	}
	if (res)
		evutil_freeaddrinfo(res);
	free(q);
}

struct resolve_req *resolve_lookup(struct registry *reg, const char *host, int family, resolve_cb cb,
				   void *arg)
{
	struct resolve_req *q = calloc(1, sizeof(*q));
	if (!q) {
		cb(arg, -1, NULL, "out of memory");
		return NULL;
	}
	q->reg = reg;
	q->cb = cb;
	q->arg = arg;
	q->family = family;
	snprintf(q->host, sizeof(q->host), "%s", host);
	q->next = reg->lookups;
	if (q->next)
		q->next->prev = q;
	reg->lookups = q;
	struct evutil_addrinfo hints = { .ai_family = af_of(family), .ai_socktype = SOCK_STREAM };
	/* NULL: on_gai has run (and freed q) already. */
	struct evdns_getaddrinfo_request *er = evdns_getaddrinfo(reg->dns, host, NULL, &hints, on_gai, q);
	if (!er)
		return NULL;
	q->er = er;
	return q;
}

void resolve_cancel(struct resolve_req *q)
{
	if (!q || !q->cb)
		return;
	q->cb = NULL;
	/* evdns calls on_gai back later, from the loop, which frees q. */
	evdns_getaddrinfo_cancel(q->er);
}

/* ---- targets ---- */

static struct target *rentry_target(struct wheel_entry *e)
{
	return (struct target *)((char *)e - offsetof(struct target, rsched));
}

static void resolve_kick(struct registry *reg);

static void arm_lookup(struct registry *reg, struct target *t, uint64_t delay)
{
	wheel_arm(reg->rwheel, &t->rsched, engine_now() + delay);
	resolve_kick(reg);
}

static void on_target_answer(void *arg, int rc, const struct pkt_addr *a, const char *err)
{
	struct target *t = arg;
	struct registry *reg = t->owner;
	t->dns = NULL;
	uint64_t iv = reg->cfg->d.resolve_interval_ns;
	if (rc < 0) {
		/* Keep the last good address; retry sooner than the interval. */
		t->resolve_failures++;
		target_msg_set(&t->resolve_error, "%s", err);
		if (!t->addr.family)
			target_msg_set(&t->error, "%s", err);
		uint64_t back = BACKOFF_MIN_NS << (t->resolve_failures < 20 ? t->resolve_failures - 1 : 19);
		if (back > iv)
			back = iv;
		log_warnx("target %s: %s (%s; retry in %.0f s)", t->cfg.name, err,
			  t->addr.family ? "keeping its last address" : "no address yet", (double)back / 1e9);
		arm_lookup(reg, t, back);
		return;
	}
	char why[256];
	t->resolve_failures = 0;
	t->resolved_at = engine_now();
	if (addrpolicy_check(a, &reg->cfg->d, why, sizeof(why)) < 0) {
		/* An answer the policy refuses: no address, state error. */
		target_msg_set(&t->resolve_error, "%s", why);
		target_msg_set(&t->error, "%s", why);
		memset(&t->addr, 0, sizeof(t->addr));
		log_warnx("target %s: %s", t->cfg.name, why);
	} else {
		if (!pkt_addr_eq(a, &t->addr)) {
			char na[64], oa[64];
			pkt_addr_str(a, na, sizeof(na));
			if (t->addr.family)
				log_info("target %s: %s now resolves to %s (was %s)", t->cfg.name,
					 t->cfg.host, na, pkt_addr_str(&t->addr, oa, sizeof(oa)));
			else
				log_debug("target %s: %s resolves to %s", t->cfg.name, t->cfg.host, na);
			t->addr = *a;
			memset(&t->src, 0, sizeof(t->src)); /* route looked up at the next probe */
		}
		target_msg_clear(t->resolve_error);
		target_msg_clear(t->error);
	}
	arm_lookup(reg, t, iv);
}

static void start_lookup(struct registry *reg, struct target *t)
{
	wheel_cancel(reg->rwheel, &t->rsched);
	if (t->dns)
		return;
	/* The callback may run before resolve_lookup returns. */
	t->dns = (struct resolve_req *)1;
	struct resolve_req *q = resolve_lookup(reg, t->cfg.host, t->cfg.opts.family, on_target_answer, t);
	if (t->dns)
		t->dns = q;
}

int resolve_target_begin(struct registry *reg, struct target *t, char *err, size_t errlen)
{
	struct pkt_addr a;
	resolve_target_stop(reg, t);
	t->resolve_failures = 0;
	int lit = resolve_literal(t->cfg.host, t->cfg.opts.family, &a, &t->ifindex, err, errlen);
	if (lit == 0) {
		t->is_name = true;
		/* A reload: the address kept meanwhile must pass the new policy. */
		char why[256];
		if (t->addr.family && addrpolicy_check(&t->addr, &reg->cfg->d, why, sizeof(why)) < 0) {
			memset(&t->addr, 0, sizeof(t->addr));
			target_msg_set(&t->error, "%s", why);
		}
		if (!t->addr.family && !target_msg_has(t->error))
			target_msg_set(&t->error, "resolving '%.200s'", t->cfg.host);
		start_lookup(reg, t);
		return 0;
	}
	t->is_name = false;
	if (lit > 0 && addrpolicy_check(&a, &reg->cfg->d, err, errlen) == 0) {
		if (!pkt_addr_eq(&a, &t->addr))
			memset(&t->src, 0, sizeof(t->src));
		t->addr = a;
		target_msg_clear(t->error);
		return 0;
	}
	memset(&t->addr, 0, sizeof(t->addr));
	target_msg_set(&t->error, "%s", err);
	return -1;
}

void resolve_target_stop(struct registry *reg, struct target *t)
{
	if (reg->rwheel)
		wheel_cancel(reg->rwheel, &t->rsched);
	if (t->dns) {
		resolve_cancel(t->dns);
		t->dns = NULL;
	}
}

static void on_lookup_due(void *arg, struct wheel_entry *e)
{
	start_lookup(arg, rentry_target(e));
}

static void resolve_kick(struct registry *reg)
{
	wheel_run(reg->rwheel, reg->resolve_ev, engine_now, SCHED_PASS_MAX, on_lookup_due, reg);
}

static void on_resolve_timer(evutil_socket_t fd, short what, void *arg)
{
	resolve_kick(arg);
}

/* libevent's own messages (evdns: "Nameserver ... has failed") into our
 * log instead of raw on stderr. */
static void on_event_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warnx("%s", msg);
	else
		log_info("%s", msg);
}

int resolve_init(struct registry *reg, char *err, size_t errlen)
{
	event_set_log_callback(on_event_log);
	/* Reads /etc/resolv.conf and /etc/hosts now (ip netns exec bind-mounts
	 * the namespace's own); a missing resolv.conf means 127.0.0.1, as for
	 * the C library. */
	reg->dns = evdns_base_new(reg->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	reg->rwheel = malloc(sizeof(*reg->rwheel));
	reg->resolve_ev = evtimer_new(reg->base, on_resolve_timer, reg);
	if (!reg->dns || !reg->rwheel || !reg->resolve_ev) {
		snprintf(err, errlen, "resolver: out of memory");
		return -1;
	}
	wheel_init(reg->rwheel, engine_now());
	return 0;
}

void resolve_free(struct registry *reg)
{
	for (struct resolve_req *q = reg->lookups; q; q = q->next)
		q->cb = NULL;
	if (reg->resolve_ev)
		evtimer_del(reg->resolve_ev);
	if (reg->dns) {
		/* Fails what is pending; evdns calls on_gai back from the loop. */
		evdns_base_free(reg->dns, 1);
		reg->dns = NULL;
		for (int i = 0; i < 100 && reg->lookups; i++)
			event_base_loop(reg->base, EVLOOP_NONBLOCK);
	}
	while (reg->lookups) { /* not called back (not expected): free anyway */
		struct resolve_req *q = reg->lookups;
		reg->lookups = q->next;
		free(q);
	}
	if (reg->resolve_ev)
		event_free(reg->resolve_ev);
	reg->resolve_ev = NULL;
	free(reg->rwheel);
	reg->rwheel = NULL;
}
