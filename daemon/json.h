/* json.h: a small append-only JSON writer into a growable buffer. Commas
 * are inserted automatically; strings are escaped (RFC 8259). */
#ifndef TCPPROBE_JSON_H
#define TCPPROBE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbuf {
	char *p;
	size_t len, cap;
	bool oom;
	unsigned depth;
	uint64_t first; /* bit per depth: next value is the first in its container */
};

void jb_init(struct jbuf *j);
void jb_free(struct jbuf *j);
void jb_reset(struct jbuf *j);
void jb_obj(struct jbuf *j);     /* { */
void jb_obj_end(struct jbuf *j); /* } */
void jb_arr(struct jbuf *j);     /* [ */
void jb_arr_end(struct jbuf *j); /* ] */
void jb_key(struct jbuf *j, const char *k);
void jb_str(struct jbuf *j, const char *s);
/* The inside of a string escaped, without quotes or comma: a long string
 * written in parts (`ctl metrics`), each part whole UTF-8 sequences. */
void jb_str_part(struct jbuf *j, const char *s);
void jb_int(struct jbuf *j, int64_t v);
void jb_uint(struct jbuf *j, uint64_t v);
/* A run of "key": unsigned members. */
struct jb_kv_u64 { const char *k; uint64_t v; };
void jb_uints(struct jbuf *j, const struct jb_kv_u64 *kv, size_t n);
void jb_double(struct jbuf *j, double v);
/* "key": ns / unit (1e3: microseconds, 1e9: seconds), or null for 0: how
 * every view writes a time or duration that was not measured. */
void jb_ns(struct jbuf *j, const char *key, uint64_t ns, double unit);
void jb_bool(struct jbuf *j, bool v);
void jb_null(struct jbuf *j);
/* Append text outside the JSON structure (e.g. a newline). */
void jb_append(struct jbuf *j, const char *s, size_t n);

#endif
