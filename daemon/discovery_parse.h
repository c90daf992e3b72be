/* discovery_parse.h: a file_sd / http_sd document as target configs
 * (discovery_parse.c). */
#ifndef TCPPROBE_DISCOVERY_PARSE_H
#define TCPPROBE_DISCOVERY_PARSE_H

#include <stddef.h>

#include "config.h"

/* The groups of one file_sd document (JSON text, or YAML when yaml is
 * set) as target configs over defaults. On error returns -1 with err naming
 * the group index ("group 2: ..."); *out untouched. */
int discovery_parse(const char *text, size_t len, int yaml, const struct probe_opts *defaults,
		    struct target_cfg **out, size_t *n, char *err, size_t errlen);
void discovery_free_targets(struct target_cfg *t, size_t n);

#endif
