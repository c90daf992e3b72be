#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jb_init(struct jbuf *j) { memset(j, 0, sizeof(*j)); }

void jb_free(struct jbuf *j)
{
	free(j->p);
	memset(j, 0, sizeof(*j));
}

void jb_reset(struct jbuf *j)
{
	j->len = 0;
	j->depth = 0;
	j->first = 0;
	j->oom = false;
	if (j->p)
		j->p[0] = 0;
}

void jb_append(struct jbuf *j, const char *s, size_t n)
{
	if (j->oom)
		return;
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 256;
		while (cap < j->len + n + 1)
			cap *= 2;
		char *p = realloc(j->p, cap);
		if (!p) {
			j->oom = true;
			return;
		}
		j->p = p;
		j->cap = cap;
	}
	memcpy(j->p + j->len, s, n);
	j->len += n;
	j->p[j->len] = 0;
}

static void put(struct jbuf *j, const char *s) { jb_append(j, s, strlen(s)); }

/* Before a value (or key) in the current container: a comma unless first. */
static void sep(struct jbuf *j)
{
	if (!j->depth)
		return;
	uint64_t bit = 1ULL << (j->depth % 64);
	if (j->first & bit)
		j->first &= ~bit;
	else
		put(j, ",");
}

static void open_c(struct jbuf *j, const char *c)
{
	sep(j);
	put(j, c);
	j->depth++;
	j->first |= 1ULL << (j->depth % 64);
}

static void close_c(struct jbuf *j, const char *c)
{
	if (j->depth)
		j->depth--;
	put(j, c);
}

void jb_obj(struct jbuf *j) { open_c(j, "{"); }
void jb_obj_end(struct jbuf *j) { close_c(j, "}"); }
void jb_arr(struct jbuf *j) { open_c(j, "["); }
void jb_arr_end(struct jbuf *j) { close_c(j, "]"); }

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * surrogates or code points past U+10FFFF), 0 if it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned char c = p[0];
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (c >= 0xe0 && c <= 0xef)
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
	if (c >= 0xf0 && c <= 0xf4)
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80
			       ? 4 : 0;
	return 0;
}

/* JSON text is UTF-8 (RFC 8259 section 8.1): a byte that does not start a
 * well-formed sequence (a file name, a label from a discovery file) is
 * written as U+FFFD, so strict readers (jansson in ctl) take every reply. */
static void str_body(struct jbuf *j, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		char esc[8];
		/* Runs of plain characters in one append: `ctl metrics` sends
		 * megabytes of text through here. */
		const unsigned char *q = p;
		while (*q >= 0x20 && *q < 0x7f && *q != '"' && *q != '\\')
			q++;
		if (q > p) {
			jb_append(j, (const char *)p, (size_t)(q - p));
			p = q;
			continue;
		}
		size_t n = 1;
		switch (*p) {
		case '"': put(j, "\\\""); break;
		case '\\': put(j, "\\\\"); break;
		case '\n': put(j, "\\n"); break;
		case '\r': put(j, "\\r"); break;
		case '\t': put(j, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				put(j, esc);
			} else if ((n = utf8_len(p))) {
				jb_append(j, (const char *)p, n);
			} else {
				n = 1;
				put(j, "\xef\xbf\xbd");
			}
		}
		p += n;
	}
}

static void str_raw(struct jbuf *j, const char *s)
{
	put(j, "\"");
	str_body(j, s);
	put(j, "\"");
}

void jb_str_part(struct jbuf *j, const char *s) { str_body(j, s ? s : ""); }

void jb_key(struct jbuf *j, const char *k)
{
	sep(j);
	str_raw(j, k);
	put(j, ":");
	/* The value that follows must not get a comma. */
	j->first |= 1ULL << (j->depth % 64);
}

void jb_str(struct jbuf *j, const char *s)
{
	sep(j);
	str_raw(j, s ? s : "");
}

void jb_int(struct jbuf *j, int64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "%" PRId64, v);
	sep(j);
	put(j, b);
}

void jb_uint(struct jbuf *j, uint64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "%" PRIu64, v);
	sep(j);
	put(j, b);
}

void jb_ns(struct jbuf *j, const char *key, uint64_t ns, double unit)
{
	jb_key(j, key);
	if (ns)
		jb_double(j, (double)ns / unit);
	else
		jb_null(j);
}

void jb_uints(struct jbuf *j, const struct jb_kv_u64 *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		jb_key(j, kv[i].k);
		jb_uint(j, kv[i].v);
	}
}

void jb_double(struct jbuf *j, double v)
{
	char b[64];
	if (!isfinite(v))
		snprintf(b, sizeof(b), "null");
	else
		snprintf(b, sizeof(b), "%.15g", v);
	sep(j);
	put(j, b);
}

void jb_bool(struct jbuf *j, bool v)
{
	sep(j);
	put(j, v ? "true" : "false");
}

void jb_null(struct jbuf *j)
{
	sep(j);
	put(j, "null");
}

