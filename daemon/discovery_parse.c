/* discovery_parse.c: the Prometheus file_sd / http_sd document, read into
 * target configs: a list of groups {"targets": [...], "labels": {...}} in
 * JSON (jansson) or YAML (libyaml, converted to the same jansson tree so
 * that one walker checks both). Each target string becomes a target named
 * exactly as written. Labels starting with "__" are not exported;
 * "__tcpprobe_KEY" sets the probe option KEY for the group. No I/O: the
 * sources (discovery.c) read the text and apply the result. */
#include "discovery_parse.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "labels.h"

void discovery_free_targets(struct target_cfg *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].labels);
	free(t);
}

static json_t *yaml_to_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	if (!n || depth > 16)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
	case YAML_SEQUENCE_NODE: {
		json_t *a = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     a && it < n->data.sequence.items.top; it++) {
			json_t *v = yaml_to_json(doc, yaml_document_get_node(doc, *it), depth + 1);
			if (!v || json_array_append_new(a, v) < 0) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	case YAML_MAPPING_NODE: {
		json_t *o = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     o && p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			if (!k || k->type != YAML_SCALAR_NODE) {
				json_decref(o);
				return NULL;
			}
			json_t *v = yaml_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1);
			char key[256];
			snprintf(key, sizeof(key), "%.*s", (int)k->data.scalar.length,
				 (const char *)k->data.scalar.value);
			if (!v || json_object_set_new(o, key, v) < 0) {
				json_decref(o);
				return NULL;
			}
		}
		return o;
	}
	case YAML_NO_NODE:
		break;
	}
	return NULL;
}

static json_t *load_yaml(const char *text, size_t len, char *err, size_t errlen)
{
	yaml_parser_t p;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&p)) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &doc)) {
		snprintf(err, errlen, "line %zu: %s", p.problem_mark.line + 1,
			 p.problem ? p.problem : "YAML error");
		yaml_parser_delete(&p);
		return NULL;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	json_t *j = root ? yaml_to_json(&doc, root, 0) : json_array(); /* empty file: no groups */
	if (!j)
		snprintf(err, errlen, "not a list of groups of strings (or not UTF-8)");
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return j;
}

static int group_opts(json_t *labels, struct probe_opts *o, struct labels_build *lb, char *err,
		      size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v)
	{
		if (!json_is_string(v)) {
			snprintf(err, errlen, "label '%.64s' is not a string", k);
			return -1;
		}
		const char *s = json_string_value(v);
		if (!strncmp(k, "__tcpprobe_", 11)) {
			char why[200];
			if (config_set_probe_opt(o, k + 11, s, why, sizeof(why)) < 0) {
				snprintf(err, errlen, "%.64s: %s", k, why);
				return -1;
			}
		} else if (strncmp(k, "__", 2)) {
			if (labels_build_add(lb, k, s, err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

static int group_targets(json_t *targets, const struct probe_opts *o, const char *labels,
			 struct target_cfg **out, size_t *n, size_t *cap, char *err, size_t errlen)
{
	size_t i;
	json_t *v;
	json_array_foreach(targets, i, v)
	{
		const char *s = json_string_value(v);
		if (!s) {
			snprintf(err, errlen, "targets[%zu] is not a string", i);
			return -1;
		}
		if (!config_name_valid(s)) {
			snprintf(err, errlen, "target '%.80s': not 1-%d characters of A-Z a-z 0-9 . _ - : [ ]",
				 s, CFG_NAME_MAX - 1);
			return -1;
		}
		struct target_cfg tc;
		memset(&tc, 0, sizeof(tc));
		tc.opts = *o;
		char why[256];
		if (config_parse_hostport(s, tc.host, sizeof(tc.host), &tc.opts.port, why, sizeof(why)) < 0 ||
		    !config_host_valid(tc.host)) {
			snprintf(err, errlen, "target '%s' is not HOST, HOST:PORT or [V6]:PORT", s);
			return -1;
		}
		snprintf(tc.name, sizeof(tc.name), "%s", s);
		tc.discovered = true;
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 16;
			struct target_cfg *a = realloc(*out, c * sizeof(*a));
			if (!a)
				goto oom;
			*out = a;
			*cap = c;
		}
		if (labels_dup(labels, &tc.labels) < 0)
			goto oom;
		(*out)[(*n)++] = tc;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int discovery_parse(const char *text, size_t len, int yaml, const struct probe_opts *defaults,
		    struct target_cfg **out, size_t *n, char *err, size_t errlen)
{
	json_t *root;
	if (yaml) {
		root = load_yaml(text, len, err, errlen);
	} else {
		json_error_t je;
		root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
		if (!root)
			snprintf(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
	}
	if (!root)
		return -1;
	struct target_cfg *t = NULL;
	size_t nt = 0, cap = 0, gi;
	int rc = -1;
	json_t *g;
	char why[320];
	if (!json_is_array(root)) {
		snprintf(err, errlen, "not a list of groups");
		goto out;
	}
	/* One allocation of the final size: 10,000 targets are 4 MB. */
	json_array_foreach(root, gi, g)
		cap += json_array_size(json_object_get(g, "targets"));
	if (cap && !(t = malloc(cap * sizeof(*t)))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	json_array_foreach(root, gi, g)
	{
		json_t *targets = json_object_get(g, "targets"), *labels = json_object_get(g, "labels");
		const char *k;
		json_t *v;
		if (!json_is_object(g) || !json_is_array(targets) || (labels && !json_is_object(labels))) {
			snprintf(err, errlen, "group %zu: not {\"targets\": [...], \"labels\": {...}}", gi);
			goto out;
		}
		json_object_foreach(g, k, v)
		{
			if (strcmp(k, "targets") && strcmp(k, "labels")) {
				snprintf(err, errlen, "group %zu: unknown key '%.64s'", gi, k);
				goto out;
			}
		}
		struct probe_opts o = *defaults;
		struct labels_build lb;
		char *set = NULL;
		labels_build_init(&lb);
		int r = labels ? group_opts(labels, &o, &lb, why, sizeof(why)) : 0;
		if (r == 0 && labels_build_finish(&lb, &set) < 0) {
			snprintf(why, sizeof(why), "out of memory");
			r = -1;
		}
		labels_build_free(&lb);
		if (r == 0)
			r = group_targets(targets, &o, set, &t, &nt, &cap, why, sizeof(why));
		free(set);
		if (r < 0) {
			snprintf(err, errlen, "group %zu: %s", gi, why);
			goto out;
		}
	}
	*out = t;
	*n = nt;
	t = NULL;
	rc = 0;
out:
	if (t)
		discovery_free_targets(t, nt);
	json_decref(root);
	return rc;
}

