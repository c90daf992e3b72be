/* commands.h: the tcpprobe subcommands main.c dispatches to (besides
 * probe_main, in probe_cmd.h). Each returns the process exit status. */
#ifndef TCPPROBE_COMMANDS_H
#define TCPPROBE_COMMANDS_H

/* `tcpprobe daemon` (daemon.c). */
int daemon_main(int argc, char **argv);
/* `tcpprobe ctl` (ctl.c), the client. */
int ctl_main(int argc, char **argv);
/* `tcpprobe guard` (guard_cmd.c). */
int guard_main(int argc, char **argv);

#endif
