/* guard_cmd.c: `tcpprobe guard install|remove|status [-c FILE]`: the RST
 * guard on its own, so a privileged helper (systemd's ExecStartPre=+) can
 * install it and the daemon (rst_guard = external) runs without
 * CAP_NET_ADMIN. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "rstguard.h"

#define DEFAULT_CONFIG "/etc/tcpprobe/tcpprobe.conf"

static void usage(FILE *f)
{
	fprintf(f, "usage: tcpprobe guard install|remove|status [-c FILE]\n"
		   "  install  add (or replace) nftables table inet " RSTGUARD_TABLE
		   " for the config's source_ports\n"
		   "  remove   delete it (quiet if absent)\n"
		   "  status   exit 0 if it is there, 1 if not\n");
}

int guard_main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "c:h")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	const char *verb = argv[optind];
	char err[512];
	if (!strcmp(verb, "remove")) {
		if (rstguard_remove(err, sizeof(err)) < 0) {
			log_bare(LOG_LVL_ERR, "tcpprobe guard: %s", err);
			return 1;
		}
		return 0;
	}
	if (!strcmp(verb, "status")) {
		bool there = rstguard_present();
		printf("table inet %s: %s\n", RSTGUARD_TABLE, there ? "present" : "absent");
		return there ? 0 : 1;
	}
	if (strcmp(verb, "install")) {
		usage(stderr);
		return 2;
	}
	struct config cfg;
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		/* 2, like `daemon`: a configuration error, which the unit's
		 * ExecStartPre= must not restart (RestartPreventExitStatus=2). */
		log_bare(LOG_LVL_ERR, "%s", err);
		return 2;
	}
	int rc = rstguard_install(cfg.d.sport_lo, cfg.d.sport_hi, RSTGUARD_MARK, err, sizeof(err));
	config_free(&cfg);
	if (rc < 0) {
		log_bare(LOG_LVL_ERR, "tcpprobe guard: %s", err);
		return 1;
	}
	return 0;
}
