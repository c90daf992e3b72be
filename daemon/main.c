/* main.c: the tcpprobe command: dispatches to probe, daemon and ctl. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "probe_cmd.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tcpprobe COMMAND [options]\n"
		"\n"
		"TCP handshake prober with its own client-side TCP state machine on raw sockets.\n"
		"\n"
		"commands:\n"
		"  probe [options] HOST[:PORT]...   probe from the shell (see tcpprobe probe --help)\n"
		"  daemon [-c FILE] [-n]            run the scheduler on a config file\n"
		"  ctl [-s SOCKET] [--json] CMD     talk to a running daemon\n"
		"  guard install|remove|status      the nftables RST guard on its own\n"
		"  version                          print the version\n");
}

int main(int argc, char **argv)
{
	log_init("tcpprobe", LOG_LVL_INFO);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("tcpprobe %s\n", TCPPROBE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "daemon"))
		return daemon_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "guard"))
		return guard_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ctl"))
		return ctl_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "probe"))
		return probe_main(argc - 1, argv + 1);
	fprintf(stderr, "tcpprobe: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
