/* guard_cmd.c: `tcpprobe guard install|remove|status [-c FILE]`: the RST
 * guard on its own, so a privileged helper (systemd's ExecStartPre=+) can
 * install it and the daemon (rst_guard = external) runs without
 * CAP_NET_ADMIN. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "commands.h"
#include "log.h"
#include "rstguard.h"

#define DEFAULT_CONFIG "/etc/tcpprobe/tcpprobe.conf"

static void usage(FILE *f)
{
	fprintf(f, "usage: tcpprobe guard install|remove|status [-c FILE]\n"
		   "  install  add (or replace) nftables table inet " RSTGUARD_TABLE "_LO_HI for the\n"
		   "           config's source_ports LO-HI; refused while another running tcpprobe\n"
		   "           in this network namespace has source ports overlapping them\n"
		   "  remove   delete that table (quiet if absent); refused while a running\n"
		   "           tcpprobe uses exactly those source ports\n"
		   "  status   print whether it is there: exit 0 if it is, 1 if not\n");
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
		default: /* 'h', or an option getopt did not know */
			return cmd_usage(c, usage);
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	const char *verb = argv[optind];
	if (strcmp(verb, "install") && strcmp(verb, "remove") && strcmp(verb, "status")) {
		fprintf(stderr, "tcpprobe guard: unknown command '%s'\n", verb);
		usage(stderr);
		return 2;
	}
	char err[512], table[64];
	struct config cfg;
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		/* 2, like `daemon`: a configuration error, which the unit's
		 * ExecStartPre= must not restart (RestartPreventExitStatus=2). */
		log_bare(LOG_LVL_ERR, "%s", err);
		return 2;
	}
	uint16_t lo = cfg.d.sport_lo, hi = cfg.d.sport_hi;
	config_free(&cfg);
	rstguard_table(lo, hi, table, sizeof(table));
	if (!strcmp(verb, "status")) {
		bool there = rstguard_present(lo, hi);
		printf("table inet %s: %s\n", table, there ? "present" : "absent");
		return there ? 0 : 1;
	}
	if (!strcmp(verb, "remove")) {
		/* ExecStopPost of an instance refused at start (its twin runs
		 * with the same range) must not take the twin's table. */
		if (rstguard_conflict(lo, hi, false, err, sizeof(err))) {
			log_bare(LOG_LVL_ERR, "tcpprobe guard: not removing table inet %s: %s", table,
				 err);
			return 1;
		}
		if (rstguard_remove(lo, hi, err, sizeof(err)) < 0) {
			log_bare(LOG_LVL_ERR, "tcpprobe guard: %s", err);
			return 1;
		}
		return 0;
	}
	/* The same range again is fine (an operator reinstalling the table of
	 * a running daemon after an nftables restart); an overlap is not. */
	if (rstguard_conflict(lo, hi, true, err, sizeof(err))) {
		log_bare(LOG_LVL_ERR, "tcpprobe guard: not installing table inet %s: %s", table,
			 err);
		return 1;
	}
	if (rstguard_install(lo, hi, RSTGUARD_MARK, err, sizeof(err)) < 0) {
		log_bare(LOG_LVL_ERR, "tcpprobe guard: %s", err);
		return 1;
	}
	return 0;
}
