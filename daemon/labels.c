/* labels.c: see labels.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"

bool labels_name_valid(const char *k)
{
	if (!k || !((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
		return false;
	for (const char *p = k + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		      (*p >= '0' && *p <= '9')))
			return false;
	return strlen(k) < 128;
}

/* Every label name metrics_fmt.c puts on a per-target series. */
static const char *const reserved[] = { "target", "host",  "port", "kind",   "address", "result",
					"phase",  "le",    "mss",  "wscale", "sack",    "timestamps",
					"finding" };

bool labels_name_reserved(const char *k)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcmp(k, reserved[i]))
			return true;
	return false;
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2
			: (*p & 0xf8) == 0xf0 ? 3 : -1;
		if (n < 0 || (n == 1 && *p < 0xc2))
			return false;
		for (int i = 1; i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n + 1;
	}
	return true;
}

void labels_build_init(struct labels_build *b) { memset(b, 0, sizeof(*b)); }

void labels_build_free(struct labels_build *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		free(b->k[i]);
		free(b->v[i]);
	}
	b->n = 0;
}

int labels_build_add(struct labels_build *b, const char *k, const char *v, char *err,
		     size_t errlen)
{
	if (!labels_name_valid(k)) {
		snprintf(err, errlen, "label name '%.64s' is not [a-zA-Z_][a-zA-Z0-9_]*", k);
		return -1;
	}
	if (k[0] == '_' && k[1] == '_') {
		snprintf(err, errlen, "label name '%.64s': names starting with __ are reserved", k);
		return -1;
	}
	if (labels_name_reserved(k)) {
		snprintf(err, errlen, "label '%s' clashes with a label of tcpprobe's own", k);
		return -1;
	}
	if (strlen(v) >= LABEL_VALUE_MAX || !utf8_valid(v)) {
		snprintf(err, errlen, "label '%s': value is not UTF-8 or longer than %d bytes", k,
			 LABEL_VALUE_MAX - 1);
		return -1;
	}
	for (unsigned i = 0; i < b->n; i++)
		if (!strcmp(b->k[i], k)) {
			snprintf(err, errlen, "label '%s' given twice", k);
			return -1;
		}
	if (b->n == LABELS_MAX) {
		snprintf(err, errlen, "more than %d labels", LABELS_MAX);
		return -1;
	}
	if (!*v)
		return 0; /* an empty value is no label */
	char *kk = strdup(k), *vv = strdup(v);
	if (!kk || !vv) {
		free(kk);
		free(vv);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b->k[b->n] = kk;
	b->v[b->n++] = vv;
	return 0;
}

static void trim(char *s)
{
	size_t n = strlen(s), i = strspn(s, " \t");
	while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	memmove(s, s + i, n - i);
	s[n - i] = 0;
}

int labels_build_parse(struct labels_build *b, const char *s, char *err, size_t errlen)
{
	char *copy = strdup(s), *save = NULL;
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = 0;
	for (char *item = strtok_r(copy, ",", &save); item && !rc;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq) {
			trim(item);
			snprintf(err, errlen, "'%.64s' is not key=value", item);
			rc = -1;
			break;
		}
		*eq = 0;
		trim(item);
		trim(eq + 1);
		rc = labels_build_add(b, item, eq + 1, err, errlen);
	}
	free(copy);
	return rc;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

int labels_build_finish(struct labels_build *b, char **out)
{
	if (!b->n) {
		*out = NULL;
		return 0;
	}
	char **ord[LABELS_MAX];
	size_t len = 1;
	for (unsigned i = 0; i < b->n; i++) {
		ord[i] = &b->k[i];
		len += strlen(b->k[i]) + strlen(b->v[i]) + 2;
	}
	qsort(ord, b->n, sizeof(ord[0]), by_key);
	char *p = malloc(len), *q = p;
	if (!p)
		return -1;
	for (unsigned i = 0; i < b->n; i++) {
		size_t j = (size_t)(ord[i] - b->k);
		q = stpcpy(q, b->k[j]) + 1;
		q = stpcpy(q, b->v[j]) + 1;
	}
	*q = 0;
	*out = p;
	return 0;
}

const char *labels_next(const char *p, const char **k, const char **v)
{
	if (!p || !*p)
		return NULL;
	*k = p;
	p += strlen(p) + 1;
	*v = p;
	return p + strlen(p) + 1;
}

static size_t packed_len(const char *set)
{
	const char *p = set, *k, *v, *next;
	if (!set)
		return 0;
	while ((next = labels_next(p, &k, &v)))
		p = next;
	return (size_t)(p - set) + 1;
}

bool labels_equal(const char *a, const char *b)
{
	size_t la = packed_len(a), lb = packed_len(b);
	return la == lb && (!la || !memcmp(a, b, la));
}

int labels_dup(const char *set, char **out)
{
	size_t n = packed_len(set);
	if (!n) {
		*out = NULL;
		return 0;
	}
	char *p = malloc(n);
	if (!p)
		return -1;
	memcpy(p, set, n);
	*out = p;
	return 0;
}
