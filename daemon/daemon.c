/* daemon.c: `tcpprobe daemon`, the lifecycle: start (config, control
 * socket, engine, registry, metrics, privileges, targets, discovery,
 * remote write), reload, signals, the once-a-second tick (rate, RST guard,
 * watchdog) and shutdown. The one file that knows every module, as
 * chrony's main.c: the registry (registry.c, sched.c, resolve.c) and the
 * interfaces that use it (control.c, metrics.c, discovery.c,
 * remote_write.c) do not call back into it; the control socket gets
 * daemon_reload as a function pointer. Its state (struct daemon) is its
 * own: no other file sees it. */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addrpolicy.h"
#include "commands.h"
#include "control.h"
#include "discovery.h"
#include "hostport.h"
#include "log.h"
#include "loopprio.h"
#include "metrics.h"
#include "notify.h"
#include "privs.h"
#include "registry.h"
#include "remote_write.h"
#include "rstguard.h"
#include "views.h"

#define DEFAULT_CONFIG "/etc/tcpprobe/tcpprobe.conf"

struct daemon {
	struct event_base *base;
	struct config cfg;
	/* --rst-guard: overrides the file's rst_guard at start and at every
	 * reload (the unit's external guard is not the file's nft). */
	bool guard_overridden;
	enum rst_guard_mode guard_override;
	struct engine *eng;
	/* What the control socket and the metrics read: the registry, the
	 * discovery sources, the remote writers (filled in as they start). */
	struct view_src src;
	struct control *ctl;
	struct metrics_server *metrics;
	struct event *tick_ev, *sigs[4];
	uint64_t watchdog_usec;
};

/* ---- targets from config ---- */

/* Targets given as addresses (not names) are checked against the address
 * policy when the file is loaded, so that `daemon -n`, a start and a reload
 * all refuse a multicast, broadcast, unspecified or (unless allowed)
 * loopback or link-local target, or one the allow/deny lists exclude, with
 * FILE:LINE. A hostname is checked each time it is resolved: it may resolve
 * to anything, so a bad answer puts that target in state error instead. */
static int check_target_policy(const struct config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->ntargets; i++) {
		const struct target_cfg *tc = &c->targets[i];
		struct pkt_addr a;
		char why[200];
		if (config_parse_address(tc->host, &a, NULL, 0, why, sizeof(why)) != 1)
			continue; /* a hostname (config_load refused anything else) */
		if (addrpolicy_check(&a, &c->d, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%d: target '%s': %s", c->path, tc->line, tc->name, why);
			return -1;
		}
	}
	return 0;
}

/* config_load plus the checks that need more than the file. */
static int load_config(const char *path, struct config *out, char *err, size_t errlen)
{
	if (config_load(path, out, err, errlen) < 0)
		return -1;
	if (check_target_policy(out, err, errlen) < 0) {
		config_free(out);
		return -1;
	}
	return 0;
}

/* Re-read the config file and apply it (SIGHUP, and `ctl reload` through
 * control_new's hook). 0, or -1 with err and the running config kept. */
static int daemon_reload(void *arg, char *err, size_t errlen)
{
	struct daemon *d = arg;
	struct registry *reg = d->src.reg;
	struct config nc;
	uint64_t t0 = engine_now();
	notify_reloading();
	if (load_config(d->cfg.path, &nc, err, errlen) < 0) {
		registry_count_reload(reg, false);
		log_warnx("reload failed, keeping the running config: %s", err);
		notify_ready();
		return -1;
	}
	if (d->guard_overridden)
		nc.d.rst_guard = d->guard_override;
	/* Settings used once at start (the key table says which) keep their
	 * running values: say so rather than half-apply them. */
	char kept[512];
	if (config_daemon_keep_restart(&nc.d, &d->cfg.d, kept, sizeof(kept)))
		log_warnx("reload: [daemon] %s: changes take effect only at restart", kept);
	/* The writers run on their copy of the sections they started with. */
	bool rw_changed = d->cfg.nrw != nc.nrw;
	for (size_t i = 0; !rw_changed && i < nc.nrw; i++)
		rw_changed = strcmp(d->cfg.rw[i].name, nc.rw[i].name) ||
			     config_remote_write_changed(&nc.rw[i], &d->cfg.rw[i], kept, sizeof(kept));
	if (rw_changed)
		log_warnx("reload: [remote_write] changes take effect only at restart");
	struct config old = d->cfg;
	d->cfg = nc;
	if (registry_apply(reg, &d->cfg, false) < 0) {
		snprintf(err, errlen, "out of memory applying the new targets");
		log_warnx("reload failed, keeping the running config: %s", err);
		config_free(&d->cfg);
		d->cfg = old;
		registry_count_reload(reg, false);
		notify_ready();
		return -1;
	}
	/* The old sources point into the old config: re-create them now. */
	if (discovery_start(d->src.disc, &d->cfg) < 0)
		log_warnx("reload: out of memory starting discovery");
	log_set_level(d->cfg.d.log_level);
	config_free(&old);
	registry_count_reload(reg, true);
	registry_kick(reg);
	log_info("reloaded %s: %zu targets (%.1f ms)", d->cfg.path, registry_target_count(reg),
		 (double)(engine_now() - t0) / 1e6);
	notify_ready();
	return 0;
}

/* ---- events ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	double pps = registry_tick(d->src.reg);
	struct engine_stats es;
	engine_stats(d->eng, &es);
	/* The RST guard deleted behind our back: put it back and say so. */
	if (d->cfg.d.rst_guard == RST_GUARD_NFT &&
	    !rstguard_present(d->cfg.d.sport_lo, d->cfg.d.sport_hi)) {
		char err[256], table[64];
		log_warnx("nftables table %s disappeared; reinstalling it",
			  rstguard_table(d->cfg.d.sport_lo, d->cfg.d.sport_hi, table, sizeof(table)));
		if (rstguard_install(d->cfg.d.sport_lo, d->cfg.d.sport_hi, RSTGUARD_MARK, err,
				     sizeof(err)) < 0)
			log_warnx("%s", err);
	}
	if (d->watchdog_usec)
		notify_watchdog();
	notify_status("%zu targets, %" PRIu64 " in flight, %.0f pkt/s", registry_target_count(d->src.reg),
		      es.inflight, pps);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	if (sig == SIGHUP) {
		char err[512];
		log_info("SIGHUP: reloading %s", d->cfg.path);
		daemon_reload(d, err, sizeof(err));
		return;
	}
	log_info("%s: shutting down", strsignal((int)sig));
	event_base_loopbreak(d->base);
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: tcpprobe daemon [-c FILE] [-n]\n"
		   "  -c FILE  config file (default " DEFAULT_CONFIG ")\n"
		   "  -n       check the config, print it normalised (defaults filled in), exit\n"
		   "  --rst-guard=nft|none|external   override the config's rst_guard\n");
}

static void daemon_cleanup(struct daemon *d)
{
	for (size_t i = 0; i < 4; i++)
		if (d->sigs[i])
			event_free(d->sigs[i]);
	if (d->tick_ev)
		event_free(d->tick_ev);
	if (d->metrics)
		metrics_server_free(d->metrics);
	if (d->ctl)
		control_free(d->ctl);
	discovery_free(d->src.disc);
	remote_write_free(d->src.rw);
	/* engine_free aborts open connections with RSTs and removes the guard. */
	if (d->eng)
		engine_free(d->eng);
	registry_free(d->src.reg);
	config_free(&d->cfg);
	if (d->base)
		event_base_free(d->base);
}

int daemon_main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	bool check = false;
	int c;
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'c' }, { "check", no_argument, 0, 'n' },
		{ "rst-guard", required_argument, 0, 'g' },
		{ "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 },
	};
	optind = 1;
	const char *guard_override = NULL;
	while ((c = getopt_long(argc, argv, "c:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			guard_override = optarg;
			break;
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = true;
			break;
		default: /* 'h', or an option getopt did not know */
			return cmd_usage(c, usage);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	static struct daemon dd;
	struct daemon *d = &dd;
	char err[512];
	if (load_config(path, &d->cfg, err, sizeof(err)) < 0) {
		log_bare(LOG_LVL_ERR, "%s", err);
		/* -n reports 1; a daemon start exits 2, which the unit does not
		 * restart (RestartPreventExitStatus=2): a bad file stays bad. */
		return check ? 1 : 2;
	}
	if (guard_override) {
		/* The unit passes --rst-guard=external: it installs the table itself. */
		d->guard_overridden = true;
		int g = config_rst_guard_from_str(guard_override);
		if (g >= 0)
			d->guard_override = (enum rst_guard_mode)g;
		else {
			fprintf(stderr, "tcpprobe daemon: --rst-guard: '%s' is not nft, none or external\n",
				guard_override);
			config_free(&d->cfg);
			return 2;
		}
		d->cfg.d.rst_guard = d->guard_override;
	}
	if (check) {
		config_print(&d->cfg, stdout);
		config_free(&d->cfg);
		return 0;
	}
	log_init("tcpprobe", d->cfg.d.log_level);
	signal(SIGPIPE, SIG_IGN);
	d->base = event_base_new();
	if (!d->base || event_base_priority_init(d->base, DAEMON_PRIOS) < 0) {
		log_warnx("out of memory");
		goto fail;
	}
	/* The control socket first: a second daemon started by mistake stops
	 * here, before it could touch the running one's guard table. */
	d->ctl = control_new(d->base, &d->src, &d->cfg.d, daemon_reload, d, err, sizeof(err));
	if (!d->ctl) {
		log_msg(LOG_LVL_ERR, "control socket: %s", err);
		goto fail;
	}
	struct engine_cfg ec = {
		.sport_lo = d->cfg.d.sport_lo, .sport_hi = d->cfg.d.sport_hi,
		.max_inflight = d->cfg.d.max_inflight, .pps = d->cfg.d.pps,
		.rst_guard = d->cfg.d.rst_guard == RST_GUARD_NFT,
	};
	d->eng = engine_new(d->base, &ec, err, sizeof(err));
	if (!d->eng || !(d->src.reg = registry_new(d->base, &d->cfg, d->eng, err, sizeof(err)))) {
		log_msg(LOG_LVL_ERR, "%s", err);
		goto fail;
	}
	if (d->cfg.d.metrics_listen[0]) {
		d->metrics = metrics_server_new(d->base, &d->src, d->cfg.d.metrics_listen, err,
						sizeof(err));
		if (!d->metrics) {
			log_msg(LOG_LVL_ERR, "%s", err);
			goto fail;
		}
	}
	if (privs_drop(d->cfg.d.user, d->cfg.d.rst_guard == RST_GUARD_NFT, err, sizeof(err)) < 0) {
		log_msg(LOG_LVL_ERR, "%s", err);
		goto fail;
	}
	if (registry_apply(d->src.reg, &d->cfg, true) < 0)
		goto fail;
	if (!(d->src.disc = discovery_new(d->src.reg, d->base)) ||
	    discovery_start(d->src.disc, &d->cfg) < 0) {
		log_warnx("out of memory starting discovery");
		goto fail;
	}
	d->src.rw = remote_write_start(&d->src, d->base, &d->cfg, metrics_render, err, sizeof(err));
	if (!d->src.rw && d->cfg.nrw) {
		log_msg(LOG_LVL_ERR, "%s", err);
		goto fail;
	}
	const int sigs[4] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT };
	for (int i = 0; i < 4; i++) {
		d->sigs[i] = evsignal_new(d->base, sigs[i], on_signal, d);
		evsignal_add(d->sigs[i], NULL);
	}
	d->watchdog_usec = notify_watchdog_interval_usec();
	d->tick_ev = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	struct timeval tick = { 1, 0 };
	if (d->watchdog_usec && d->watchdog_usec < 1000000)
		tick = (struct timeval){ 0, (suseconds_t)d->watchdog_usec };
	evtimer_add(d->tick_ev, &tick);
	registry_kick(d->src.reg);
	size_t nt = registry_target_count(d->src.reg);
	log_info("tcpprobe %s: %zu targets from %s, source ports %u-%u", TCPPROBE_VERSION, nt,
		 d->cfg.path, d->cfg.d.sport_lo, d->cfg.d.sport_hi);
	notify_ready();
	notify_status("%zu targets", nt);

	event_base_dispatch(d->base);

	notify_stopping();
	daemon_cleanup(d);
	log_info("stopped");
	return 0;
fail:
	daemon_cleanup(d);
	return 1;
}
