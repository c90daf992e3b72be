/* config_print.c: a loaded config printed normalised (`tcpprobe daemon -n`):
 * every key, defaults filled in, durations with units. The [daemon] and
 * probe keys print through their table (config_keys.c); loading the output
 * gives the same config. */
#include <inttypes.h>
#include <stdio.h>

#include "config.h"
#include "config_priv.h"
#include "labels.h"

static void print_labels(FILE *f, const char *key, const char *set)
{
	const char *q = set, *k, *v;
	if (!set)
		return;
	fprintf(f, "%s = ", key);
	for (bool first = true; (q = labels_next(q, &k, &v)); first = false)
		fprintf(f, "%s%s=%s", first ? "" : ", ", k, v);
	fputc('\n', f);
}

void config_print(const struct config *c, FILE *f)
{
	char buf[32];

	fprintf(f, "[daemon]\n");
	config_print_daemon_keys(f, &c->d);
	fprintf(f, "\n[defaults]\n");
	config_print_probe_opts(f, &c->defaults);
	for (size_t i = 0; i < c->ndisc; i++) {
		const struct discovery_cfg *dc = &c->disc[i];
		fprintf(f, "\n[discovery %s]\n", dc->name);
		if (dc->files)
			fprintf(f, "files = %s\n", dc->files);
		else
			fprintf(f, "url = %s\n", dc->url);
		if (dc->bearer_token_file[0])
			fprintf(f, "bearer_token_file = %s\n", dc->bearer_token_file);
		if (dc->basic_auth_user[0])
			fprintf(f, "basic_auth_user = %s\nbasic_auth_password_file = %s\n",
				dc->basic_auth_user, dc->basic_auth_password_file);
		fprintf(f, "refresh = %s\n", config_duration_str(dc->refresh_ns, buf, sizeof(buf)));
		config_print_probe_opts(f, &dc->defaults);
	}
	for (size_t i = 0; i < c->nrw; i++) {
		const struct remote_write_cfg *r = &c->rw[i];
		fprintf(f, "\n[remote_write %s]\nurl = %s\n", r->name, r->url);
		fprintf(f, "interval = %s\n", config_duration_str(r->interval_ns, buf, sizeof(buf)));
		fprintf(f, "timeout = %s\n", config_duration_str(r->timeout_ns, buf, sizeof(buf)));
		if (r->bearer_token_file[0])
			fprintf(f, "bearer_token_file = %s\n", r->bearer_token_file);
		if (r->basic_auth_user[0])
			fprintf(f, "basic_auth_user = %s\nbasic_auth_password_file = %s\n",
				r->basic_auth_user, r->basic_auth_password_file);
		print_labels(f, "external_labels", r->external_labels);
		fprintf(f, "queue_max = %" PRIu64 "\n", r->queue_max);
	}
	for (size_t i = 0; i < c->ntargets; i++) {
		const struct target_cfg *t = &c->targets[i];
		fprintf(f, "\n[target %s]\nhost = %s\n", t->name, t->host);
		print_labels(f, "labels", t->labels);
		config_print_probe_opts(f, &t->opts);
	}
}

