/* probe_cmd.h: `tcpprobe probe`. */
#ifndef TCPPROBE_PROBE_CMD_H
#define TCPPROBE_PROBE_CMD_H
int probe_main(int argc, char **argv);
#endif
