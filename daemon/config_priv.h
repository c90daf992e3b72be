/* config_priv.h: what the config's files share among themselves:
 * config_value.c (the value syntax), config_keys.c (the probe keys' table of config_keys.h),
 * config_sections.c (the other sections' key tables),
 * config.c (the INI parser) and config_print.c. Not for other modules. */
#ifndef TCPPROBE_CONFIG_PRIV_H
#define TCPPROBE_CONFIG_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "timens.h"

#define NS_US NS_PER_US
#define NS_MS NS_PER_MS
#define NS_S NS_PER_S
#define NS_M (60 * NS_S)
#define NS_H (3600 * NS_S)

static inline bool config_is_digit(char c) { return c >= '0' && c <= '9'; }

/* An unsigned field of 1, 2, 4 or 8 bytes, by its size (the key tables). */
static inline void config_store_uint(void *field, size_t size, unsigned long long v)
{
	switch (size) {
	case 1: *(uint8_t *)field = (uint8_t)v; break;
	case 2: *(uint16_t *)field = (uint16_t)v; break;
	case 4: *(uint32_t *)field = (uint32_t)v; break;
	default: *(uint64_t *)field = v; break;
	}
}

static inline unsigned long long config_load_uint(const void *field, size_t size)
{
	switch (size) {
	case 1: return *(const uint8_t *)field;
	case 2: return *(const uint16_t *)field;
	case 4: return *(const uint32_t *)field;
	default: return *(const uint64_t *)field;
	}
}

/* config_value.c */
void config_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Decimal, or hex with 0x, up to max. */
int config_parse_uint_hex(const char *s, unsigned long long max, unsigned long long *out,
			  char *err, size_t errlen);
/* yes/true/on/1 or no/false/off/0, any case. */
int config_parse_bool(const char *s, bool *out, char *err, size_t errlen);
/* One word of a closed set: *out = its index; names[i] == NULL are skipped. */
int config_parse_word(const char *s, const char *const *names, size_t n, int *out, char *err,
		      size_t errlen);
/* A user or group name as useradd takes it ("" = none), not resolved. */
int config_parse_name(const char *v, char *out, size_t outlen, char *err, size_t errlen);
/* "ADDR:PORT", "[V6]:PORT", or "off" / "" (out = ""). */
int config_parse_listen(const char *v, char *out, size_t outlen, char *err, size_t errlen);
/* Calls fn on each comma-separated item of v, blanks trimmed. */
int config_for_each_item(const char *v, int (*fn)(void *arg, const char *item, char *err,
						  size_t errlen),
			 void *arg, char *err, size_t errlen);

/* config_keys.c: the probe keys (in [defaults], [target NAME] and
 * [discovery NAME]), by index into their table. */
#define CONFIG_PROBE_KEYS_MAX 32 /* a target's set keys are a 32-bit mask */
#define CONFIG_DAEMON_KEYS_MAX 32
int config_probe_key_find(const char *name);
/* Sets probe key k of o; err is what is wrong with value, without the key. */
int config_probe_key_set(struct probe_opts *o, int k, const char *value, char *err,
			 size_t errlen);
/* dst's key k = src's. */
void config_probe_key_copy(struct probe_opts *dst, const struct probe_opts *src, int k);
/* config_sections.c: the other sections' keys ([daemon], [discovery NAME],
 * [remote_write NAME]; not CONFIG_KEYS_PROBE), base their struct (daemon_cfg, discovery_cfg,
 * remote_write_cfg). */
#define CONFIG_SECT_KEYS_MAX 16
int config_sect_key_find(enum config_key_section s, const char *name);
/* Keys that may repeat, each occurrence adding to a list. */
bool config_sect_key_appends(enum config_key_section s, int k);
/* first: this is the key's first line in the section (a list replaces the
 * built-in one on its first line; later ones append). */
int config_sect_key_set(enum config_key_section s, void *base, int k, const char *value,
			bool first, char *err, size_t errlen);
/* The built-in defaults of the section's keys. */
void config_sect_defaults(enum config_key_section s, void *base);
void config_print_sect_keys(FILE *f, enum config_key_section s, const void *base);
/* For config_keys()/config_key_info(): the section's table. */
size_t config_sect_keys(enum config_key_section s);
void config_sect_key_info(enum config_key_section s, size_t i, struct config_key_info *out);
/* "key = value" lines, in table order. */
void config_print_probe_opts(FILE *f, const struct probe_opts *o);
/* "key = k=v, ..." of a labels.h set; nothing for none. */
void config_print_labels(FILE *f, const char *key, const char *set);

#endif
