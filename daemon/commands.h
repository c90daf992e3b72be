/* commands.h: the tcpprobe subcommands main.c dispatches to (besides
 * probe_main, in probe_cmd.h), and the usage rule they share. Each returns
 * the process exit status. */
#ifndef TCPPROBE_COMMANDS_H
#define TCPPROBE_COMMANDS_H

#include <stdio.h>

/* getopt's -h, or an option it did not know (opt '?'): usage on stdout and
 * status 0 for -h, on stderr and 2 (a usage error) otherwise, in every
 * subcommand alike. */
static inline int cmd_usage(int opt, void (*usage)(FILE *f))
{
	usage(opt == 'h' ? stdout : stderr);
	return opt == 'h' ? 0 : 2;
}

/* `tcpprobe daemon` (daemon.c). */
int daemon_main(int argc, char **argv);
/* `tcpprobe ctl` (ctl.c), the client. */
int ctl_main(int argc, char **argv);
/* `tcpprobe guard` (guard_cmd.c). */
int guard_main(int argc, char **argv);

#endif
