/* config_print.c: a loaded config printed normalised (`tcpprobe daemon -n`):
 * every key, defaults filled in, durations with units. Every section's keys
 * print through their table (config_keys.c, config_sections.c); loading the output gives the
 * same config. */
#include <stdio.h>

#include "config.h"
#include "config_priv.h"

void config_print(const struct config *c, FILE *f)
{
	fprintf(f, "[daemon]\n");
	config_print_sect_keys(f, CONFIG_KEYS_DAEMON, &c->d);
	fprintf(f, "\n[defaults]\n");
	config_print_probe_opts(f, &c->defaults);
	for (size_t i = 0; i < c->ndisc; i++) {
		const struct discovery_cfg *dc = &c->disc[i];
		fprintf(f, "\n[discovery %s]\n", dc->name);
		config_print_sect_keys(f, CONFIG_KEYS_DISCOVERY, dc);
		config_print_probe_opts(f, &dc->defaults);
	}
	for (size_t i = 0; i < c->nrw; i++) {
		const struct remote_write_cfg *r = &c->rw[i];
		fprintf(f, "\n[remote_write %s]\n", r->name);
		config_print_sect_keys(f, CONFIG_KEYS_REMOTE_WRITE, r);
	}
	for (size_t i = 0; i < c->ntargets; i++) {
		const struct target_cfg *t = &c->targets[i];
		fprintf(f, "\n[target %s]\nhost = %s\n", t->name, t->host);
		config_print_labels(f, "labels", t->labels);
		config_print_probe_opts(f, &t->opts);
	}
}

