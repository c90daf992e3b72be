/* labels.h: user labels of a target (`labels = k=v, ...`, a discovery
 * group's labels). Stored as one allocation "k\0v\0k\0v\0\0", sorted by key,
 * empty values dropped (Prometheus treats an empty value as no label), so
 * two sets compare with labels_equal() and render in a stable order. */
#ifndef TCPPROBE_LABELS_H
#define TCPPROBE_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#define LABELS_MAX 32         /* labels per target */
#define LABEL_VALUE_MAX 1024  /* bytes per value */

struct labels_build {
	unsigned n;
	char *k[LABELS_MAX], *v[LABELS_MAX];
};

/* A Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*). */
bool labels_name_valid(const char *k);
/* Names tcpprobe puts on its own series (target, kind, result, le, ...):
 * a user label with one of these names would clash. */
bool labels_name_reserved(const char *k);

void labels_build_init(struct labels_build *b);
void labels_build_free(struct labels_build *b);
/* Add one label: the name must be valid, not reserved, not start with "__"
 * and not repeat; the value valid UTF-8 without NUL. 0, or -1 with err. */
int labels_build_add(struct labels_build *b, const char *k, const char *v, char *err,
		     size_t errlen);
/* "k=v, k=v" (the config syntax). 0, or -1 with err. */
int labels_build_parse(struct labels_build *b, const char *s, char *err, size_t errlen);
/* The packed, sorted set (NULL for no labels; *out untouched on -1 = OOM). */
int labels_build_finish(struct labels_build *b, char **out);

/* Walk a packed set: for (p = set; (p = labels_next(p, &k, &v));) */
const char *labels_next(const char *p, const char **k, const char **v);
bool labels_equal(const char *a, const char *b);
/* Copy (NULL stays NULL); -1 on OOM. */
int labels_dup(const char *set, char **out);

#endif
