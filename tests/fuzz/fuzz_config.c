/*
 * fuzz_config.c: config_load() on arbitrary file contents (a memfd, read
 * through /proc/self/fd like any path), and the value parsers that the
 * control socket also feeds with user input.
 *
 * Invariants: a failure names the file ("PATH:..."), leaves *out holding the
 * defaults and owning nothing; a success prints (config_print) to text that
 * loads again and prints identically (the normalised form is a fixed point,
 * which is what `tcpprobe daemon -n` promises); a duration that parses
 * formats back to a string that parses to the same value; a probe option
 * that is accepted prints and is accepted again with the same effect.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
static int fd_in = -1, fd_out = -1;
static char path_in[64], path_out[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fd_in = memfd_create("fuzz-config-in", 0);
	fd_out = memfd_create("fuzz-config-out", 0);
	if (fd_in < 0 || fd_out < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(path_in, sizeof(path_in), "/proc/self/fd/%d", fd_in);
	snprintf(path_out, sizeof(path_out), "/proc/self/fd/%d", fd_out);
	return 0;
}

static void put(int fd, const void *p, size_t n)
{
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(n == 0 || pwrite(fd, p, n, 0) == (ssize_t)n);
}

/* config_print into a malloc()ed string. */
static char *print(const struct config *c, size_t *len)
{
	char *s = NULL;
	FILE *f = open_memstream(&s, len);

	CHECK(f != NULL);
	config_print(c, f);
	CHECK(fclose(f) == 0);
	return s;
}

static void check_failed(const struct config *c, const char *path, const char *err)
{
	struct config d;
	size_t pl = strlen(path);

	CHECK(strncmp(err, path, pl) == 0 && err[pl] == ':' && err[pl + 1] != '\0');
	CHECK(c->path == NULL && c->targets == NULL && c->ntargets == 0);
	config_defaults(&d);
	CHECK(memcmp(&c->d, &d.d, sizeof(d.d)) == 0);
}

static void fuzz_file(const uint8_t *data, size_t size)
{
	struct config c, c2;
	char err[1024], err2[1024];
	size_t n1, n2;

	put(fd_in, data, size);
	if (config_load(path_in, &c, err, sizeof(err)) < 0) {
		check_failed(&c, path_in, err);
		return;
	}
	char *t1 = print(&c, &n1);
	put(fd_out, t1, n1);
	if (config_load(path_out, &c2, err2, sizeof(err2)) < 0) {
		fprintf(stderr, "printed config does not load: %s\n---\n%s---\n", err2, t1);
		abort();
	}
	char *t2 = print(&c2, &n2);
	if (n1 != n2 || memcmp(t1, t2, n1) != 0) {
		fprintf(stderr, "print/load/print differs\n--- first\n%s--- second\n%s---\n", t1, t2);
		abort();
	}
	CHECK(c.ntargets == c2.ntargets);
	free(t1);
	free(t2);
	config_free(&c);
	config_free(&c2);
}

/* The first line (up to 255 bytes) as a value for the shared parsers. */
static void fuzz_values(const uint8_t *data, size_t size)
{
	char s[256], err[256], buf[64];
	size_t n = 0;
	uint64_t ns, ns2;
	struct cidr cd;

	while (n < size && n < sizeof(s) - 1 && data[n] != '\n' && data[n] != '\0')
		n++;
	memcpy(s, data, n);
	s[n] = '\0';

	if (config_parse_duration(s, &ns, err, sizeof(err)) == 0) {
		config_duration_str(ns, buf, sizeof(buf));
		CHECK(config_parse_duration(buf, &ns2, err, sizeof(err)) == 0 && ns2 == ns);
	} else {
		CHECK(err[0] != '\0');
	}
	if (config_parse_cidr(s, &cd, err, sizeof(err)) == 0)
		CHECK(cd.addr.family == AF_INET ? cd.prefix <= 32 : cd.prefix <= 128);

	/* "key=value", as `probe` and `ctl add` pass it. */
	char *eq = strchr(s, '=');
	if (eq != NULL) {
		struct config d, d2;
		*eq = '\0';
		config_defaults(&d);
		if (config_set_probe_opt(&d.defaults, s, eq + 1, err, sizeof(err)) == 0) {
			/* Whatever it set must survive printing and loading. */
			size_t len;
			char *t = print(&d, &len);
			put(fd_out, t, len);
			CHECK(config_load(path_out, &d2, err, sizeof(err)) == 0);
			size_t len2;
			char *t2 = print(&d2, &len2);
			CHECK(len == len2 && memcmp(t, t2, len) == 0);
			config_free(&d2);
			free(t);
			free(t2);
		} else {
			CHECK(err[0] != '\0');
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_file(data, size);
	fuzz_values(data, size);
	return 0;
}
