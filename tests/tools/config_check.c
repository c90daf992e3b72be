/* config_check: load a config file and print it normalised (what
 * `tcpprobe daemon -n` prints), for tests/config's golden files.
 * Exit 0 and the config on stdout, or 1 and the error on stderr. */
#include <stdio.h>

#include "config.h"

int main(int argc, char **argv)
{
	struct config c;
	char err[1024];

	if (argc != 2) {
		fprintf(stderr, "usage: config_check FILE\n");
		return 2;
	}
	if (config_load(argv[1], &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	config_print(&c, stdout);
	config_free(&c);
	return fflush(stdout) == 0 ? 0 : 1;
}
