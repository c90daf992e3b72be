/* mangen.c: writes a man page from its template (man/PAGE.in), filling in
 * what the key tables know (config_keys.h, config_sections.c), so that a
 * key added to a table is documented with its default without an edit
 * here. The template's directives are roff comments:
 *
 *   .\" @keys SECTION   tcpprobe.conf(5): an item per key of SECTION (daemon,
 *                       probe, discovery, remote_write), in table order,
 *   .\" @options        tcpprobe(8): an item per probe key that has
 *                       `tcpprobe probe` options, in table order,
 *   .\" @end            each up to this line, which holds its texts:
 *   .\" @key NAME [HEAD] the text of NAME's item, up to the next @key or @end;
 *                       HEAD replaces what follows ".It Ic NAME No = ".
 *   .\" @restart        the [daemon] keys a reload keeps: ".Ic a , b , c".
 *
 * An item is its head (".It Ic NAME No = " and the key's syntax; or its
 * options with the syntax), its text (the template's; without one, the
 * key's doc or its first option's help, and its range) and "Default D."
 * when the key has a default. A text for a key that is not in the table,
 * a line "Default ..." in the text of a key the table has a default of
 * (it would go stale), or a key without a syntax or a text, is an error:
 * exit 1 naming the template's line.
 *
 * usage: mangen TEMPLATE >PAGE
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define LINES_MAX 4096
#define KEYS_MAX 64 /* per section */
#define LINE_MAX_ 512

static const char *tpl;
static int errors;

static void fail(int line, const char *fmt, const char *a)
{
	fprintf(stderr, "%s:%d: ", tpl, line);
	fprintf(stderr, fmt, a);
	fputc('\n', stderr);
	errors++;
}

/* "DURATION|off" -> "Ar duration Ns | Ns Cm off". */
static void put_syntax(FILE *f, const char *syntax)
{
	const char *p = syntax;
	while (*p) {
		size_t n = strcspn(p, "|");
		bool placeholder = true;
		for (size_t i = 0; i < n; i++)
			placeholder &= !islower((unsigned char)p[i]);
		fputs(placeholder ? "Ar " : "Cm ", f);
		for (size_t i = 0; i < n; i++)
			fputc(placeholder ? tolower((unsigned char)p[i]) : p[i], f);
		p += n;
		if (*p == '|') {
			fputs(" Ns | Ns ", f);
			p++;
		}
	}
}

/* A line of plain text: a leading '.' or '\'' would be a request. */
static void put_text(FILE *f, const char *s, bool capital)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (const char *p = s; *p; p++) {
		if (*p == '\\')
			fputs("\\e", f);
		else
			fputc(p == s && capital ? toupper((unsigned char)*p) : *p, f);
	}
}

/* "Default D." as the table writes D: a word as a command word, a path
 * as a path, a long list as a display. */
static void put_default(FILE *f, const char *d)
{
	if (strlen(d) > 48 && strstr(d, ", ")) {
		fputs("Default:\n.Bd -literal -offset indent\n", f);
		size_t col = 0;
		for (const char *p = d; *p;) {
			size_t n = strcspn(p, ",");
			if (col && col + n + 1 > 66) {
				fputc('\n', f);
				col = 0;
				while (*p == ' ')
					p++, n--;
			}
			fwrite(p, 1, n, f);
			col += n;
			p += n;
			if (*p == ',') {
				fputc(',', f);
				col++;
				p++;
			}
		}
		fputs("\n.Ed\n", f);
	} else if (d[0] == '/') {
		fprintf(f, "Default\n.Pa %s .\n", d);
	} else if (isdigit((unsigned char)d[0])) {
		fprintf(f, "Default %s.\n", d);
	} else {
		fprintf(f, "Default\n.Cm %s .\n", d);
	}
}

static void put_range(FILE *f, const struct config_key_info *ki)
{
	char a[32], b[32];
	if (!ki->max)
		return;
	if (ki->duration)
		fprintf(f, "%s to %s.\n", config_duration_str(ki->min, a, sizeof(a)),
			config_duration_str(ki->max, b, sizeof(b)));
	else
		fprintf(f, "%llu to %llu.\n", ki->min, ki->max);
}

/* The texts of one region: texts[k] = lines [from, to) of the template,
 * head[k] its HEAD or NULL. */
struct region {
	bool options;
	enum config_key_section s;
	int line;                 /* of its directive */
	size_t from[KEYS_MAX], to[KEYS_MAX];
	const char *head[KEYS_MAX];
	bool has[KEYS_MAX];
};

static const char *skip_blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static bool has_options(const struct config_key_info *ki) { return ki->opts[0].help != NULL; }

/* Items of region r: lines holds the template, its texts. */
static void put_region(FILE *f, const struct region *r, char **lines)
{
	for (size_t k = 0; k < config_keys(r->s); k++) {
		struct config_key_info ki;
		config_key_info(r->s, k, &ki);
		if (r->options && !has_options(&ki))
			continue;
		const char *def = ki.def;
		bool takes_arg = !r->options;
		if (r->options) {
			fputs(".It ", f);
			for (size_t j = 0; j < CONFIG_KEY_OPTS && ki.opts[j].help; j++) {
				const struct config_key_opt *o = &ki.opts[j];
				fputs(j ? " , " : "", f);
				if (o->short_opt)
					fprintf(f, "Fl %c%s", o->short_opt, o->name ? " , " : "");
				if (o->name)
					fprintf(f, "Fl Fl %s", o->name);
				takes_arg |= o->arg != NULL;
			}
			if (takes_arg) {
				fputc(' ', f);
				put_syntax(f, ki.syntax);
				def = ki.opt_def ? ki.opt_def : ki.def;
			}
			fputc('\n', f);
		} else {
			fprintf(f, ".It Ic %s No = ", ki.name);
			if (r->head[k])
				fputs(r->head[k], f);
			else
				put_syntax(f, ki.syntax);
			fputc('\n', f);
			if (!r->head[k] && !ki.syntax[0])
				fail(r->line, "key %s: no syntax in its table: give a HEAD on its @key line",
				     ki.name);
		}
		if (r->has[k]) {
			for (size_t l = r->from[k]; l < r->to[k]; l++) {
				/* The table's default follows; one in the text could go stale. */
				if (def && takes_arg && !strncmp(lines[l], "Default", 7))
					fail((int)l + 1, "'%s': the default comes from the table",
					     lines[l]);
				fprintf(f, "%s\n", lines[l]);
			}
		} else if (ki.doc || has_options(&ki)) {
			put_text(f, ki.doc && !r->options ? ki.doc : ki.opts[0].help, true);
			fputs(ki.doc && !r->options ? "\n" : ".\n", f);
			put_range(f, &ki);
		} else {
			fail(r->line, "key %s: no text: give it a @key block or a .doc in its table", ki.name);
		}
		if (def && takes_arg)
			put_default(f, def);
	}
}

static int section_of(const char *name, enum config_key_section *s)
{
	static const char *const names[] = {
		[CONFIG_KEYS_DAEMON] = "daemon", [CONFIG_KEYS_PROBE] = "probe",
		[CONFIG_KEYS_DISCOVERY] = "discovery", [CONFIG_KEYS_REMOTE_WRITE] = "remote_write",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i])) {
			*s = (enum config_key_section)i;
			return 0;
		}
	return -1;
}

static int key_of(const struct region *r, const char *name)
{
	for (size_t k = 0; k < config_keys(r->s); k++) {
		struct config_key_info ki;
		config_key_info(r->s, k, &ki);
		if (!strcmp(ki.name, name))
			return r->options && !has_options(&ki) ? -1 : (int)k;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static char *lines[LINES_MAX];
	static struct region r;
	char buf[LINE_MAX_];
	size_t n = 0;
	FILE *in;

	if (argc != 2) {
		fprintf(stderr, "usage: mangen TEMPLATE >PAGE\n");
		return 2;
	}
	tpl = argv[1];
	if (!(in = fopen(tpl, "r"))) {
		perror(tpl);
		return 1;
	}
	while (n < LINES_MAX && fgets(buf, sizeof(buf), in)) {
		buf[strcspn(buf, "\n")] = '\0';
		lines[n++] = strdup(buf);
	}
	fclose(in);

	for (size_t i = 0; i < n; i++) {
		const char *d = lines[i];
		if (strncmp(d, ".\\\" @", 5)) {
			printf("%s\n", d);
			continue;
		}
		d += 5;
		if (!strcmp(d, "restart")) {
			const char *sep = ".Ic ";
			for (size_t k = 0; k < config_keys(CONFIG_KEYS_DAEMON); k++) {
				struct config_key_info ki;
				config_key_info(CONFIG_KEYS_DAEMON, k, &ki);
				if (ki.restart) {
					printf("%s%s", sep, ki.name);
					sep = " , ";
				}
			}
			printf("\n");
			continue;
		}
		memset(&r, 0, sizeof(r));
		if (!strcmp(d, "options")) {
			r.options = true;
			r.s = CONFIG_KEYS_PROBE;
		} else if (strncmp(d, "keys ", 5) || section_of(skip_blank(d + 5), &r.s) < 0) {
			fail((int)i + 1, "unknown directive '%s'", lines[i]);
			continue;
		}
		r.line = (int)i + 1;
		if (config_keys(r.s) > KEYS_MAX) {
			fail(r.line, "more keys than %s", "KEYS_MAX");
			continue;
		}
		int k = -1;
		size_t j = i + 1;
		for (; j < n && strcmp(lines[j], ".\\\" @end"); j++) {
			if (strncmp(lines[j], ".\\\" @key ", 9)) {
				if (k < 0)
					fail((int)j + 1, "text before the first @key: '%s'", lines[j]);
				continue;
			}
			if (k >= 0)
				r.to[k] = j;
			char name[64];
			const char *rest = skip_blank(lines[j] + 9);
			size_t l = strcspn(rest, " ");
			snprintf(name, sizeof(name), "%.*s", (int)l, rest);
			if ((k = key_of(&r, name)) < 0 || r.has[k]) {
				fail((int)j + 1, k < 0 ? "'%s' is not a key here" : "'%s' twice", name);
				k = -1;
				continue;
			}
			r.has[k] = true;
			r.from[k] = j + 1;
			rest = skip_blank(rest + l);
			r.head[k] = *rest ? rest : NULL;
		}
		if (j == n)
			fail((int)i + 1, "'%s' has no @end", lines[i]);
		if (k >= 0)
			r.to[k] = j;
		put_region(stdout, &r, lines);
		i = j;
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	if (fflush(stdout) || ferror(stdout)) {
		perror("mangen: stdout");
		return 1;
	}
	return errors ? 1 : 0;
}
