/* test_discovery.c: file_sd parsing (JSON and YAML), group labels and
 * __tcpprobe_ options, errors with the group index, label sets and the
 * shard hash. */
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "discovery_parse.h"
#include "labels.h"

static struct config cfg;

static int parse(const char *text, int yaml, struct target_cfg **t, size_t *n, char *err)
{
	return discovery_parse(text, strlen(text), yaml, &cfg.defaults, t, n, err, 300);
}

static const char *label(const struct target_cfg *t, const char *key)
{
	const char *p = t->labels, *k, *v;
	while ((p = labels_next(p, &k, &v)))
		if (!strcmp(k, key))
			return v;
	return NULL;
}

static void check_groups(struct target_cfg *t, size_t n)
{
	CHECK_EQ(n, 3);
	CHECK_STR(t[0].name, "10.0.0.1:8080");
	CHECK_STR(t[0].host, "10.0.0.1");
	CHECK_EQ(t[0].opts.port, 8080);
	CHECK_EQ(t[0].opts.kind, PROBE_SYN);
	CHECK_EQ(t[0].opts.interval_ns, 5000000000ull);
	CHECK(t[0].discovered);
	CHECK_STR(label(&t[0], "team"), "net");
	CHECK(!label(&t[0], "__meta_x"));
	CHECK(!label(&t[0], "__tcpprobe_kind"));
	CHECK_STR(t[1].name, "[fd00::2]:443");
	CHECK_STR(t[1].host, "fd00::2");
	CHECK_EQ(t[1].opts.port, 443);
	CHECK_STR(t[2].name, "db.example");
	CHECK_EQ(t[2].opts.port, 80); /* from the defaults */
	CHECK_EQ(t[2].opts.kind, PROBE_HANDSHAKE);
	CHECK_STR(label(&t[2], "team"), "d\"b\n");
}

static void json_groups(void)
{
	struct target_cfg *t = NULL;
	size_t n = 0;
	char err[300];
	const char *j = "[{\"targets\": [\"10.0.0.1:8080\", \"[fd00::2]:443\"], \"labels\": "
			"{\"team\": \"net\", \"__meta_x\": \"y\", \"__tcpprobe_kind\": \"syn\", "
			"\"__tcpprobe_interval\": \"5s\"}},\n"
			" {\"targets\": [\"db.example\"], \"labels\": {\"team\": \"d\\\"b\\n\"}}]";
	CHECK(parse(j, 0, &t, &n, err) == 0);
	check_groups(t, n);
	discovery_free_targets(t, n);
}

static void yaml_groups(void)
{
	struct target_cfg *t = NULL;
	size_t n = 0;
	char err[300];
	const char *y = "- targets: ['10.0.0.1:8080', '[fd00::2]:443']\n"
			"  labels:\n    team: net\n    __meta_x: y\n    __tcpprobe_kind: syn\n"
			"    __tcpprobe_interval: 5s\n"
			"- targets:\n    - db.example\n  labels: {team: \"d\\\"b\\n\"}\n";
	CHECK(parse(y, 1, &t, &n, err) == 0);
	check_groups(t, n);
	discovery_free_targets(t, n);
	CHECK(parse("", 1, &t, &n, err) == 0); /* an empty file: no groups */
	CHECK_EQ(n, 0);
}

static void errors_name_group(void)
{
	struct target_cfg *t = (struct target_cfg *)1; /* untouched on error */
	size_t n = 7;
	char err[300];
	CHECK(parse("[{\"targets\": [\"a:1\"]}, {\"targets\": [\"bad name\"]}]", 0, &t, &n, err) < 0);
	CHECK(!strncmp(err, "group 1: ", 9));
	CHECK(parse("[{\"targets\": [\"a:1\"], \"labels\": {\"target\": \"x\"}}]", 0, &t, &n, err) < 0);
	CHECK(strstr(err, "group 0: ") && strstr(err, "clashes"));
	CHECK(parse("[{\"targets\": [\"a:1\"], \"labels\": {\"__tcpprobe_kind\": \"rst\"}}]", 0, &t,
		    &n, err) < 0);
	CHECK(strstr(err, "__tcpprobe_kind"));
	CHECK(parse("[{\"targets\": [\"a:99999\"]}]", 0, &t, &n, err) < 0);
	CHECK(parse("[{\"targets\": [1]}]", 0, &t, &n, err) < 0);
	CHECK(parse("{\"targets\": []}", 0, &t, &n, err) < 0);
	CHECK(parse("[{\"targets\": [], \"lables\": {}}]", 0, &t, &n, err) < 0);
	CHECK(strstr(err, "lables"));
	CHECK(parse("[{\"targets\": [\"a:1\"]", 0, &t, &n, err) < 0);
	CHECK(strstr(err, "line 1"));
	CHECK(parse("- targets: [a:1\n", 1, &t, &n, err) < 0);
	CHECK(parse("- targets: [a:1]\n  labels: [x]\n", 1, &t, &n, err) < 0);
	CHECK(t == (struct target_cfg *)1 && n == 7);
}

static void label_sets(void)
{
	struct labels_build b;
	char *a = NULL, *c = NULL, err[200];
	labels_build_init(&b);
	CHECK(labels_build_parse(&b, "z=1, a = two words ,m=", err, sizeof(err)) == 0);
	CHECK(labels_build_finish(&b, &a) == 0);
	labels_build_free(&b);
	const char *p = a, *k, *v;
	CHECK((p = labels_next(p, &k, &v)) && !strcmp(k, "a") && !strcmp(v, "two words"));
	CHECK((p = labels_next(p, &k, &v)) && !strcmp(k, "z") && !strcmp(v, "1"));
	CHECK(!labels_next(p, &k, &v)); /* m= (empty) is no label */
	CHECK(labels_build_parse(&b, "a=two words, z=1", err, sizeof(err)) == 0);
	CHECK(labels_build_finish(&b, &c) == 0);
	labels_build_free(&b);
	CHECK(labels_equal(a, c));
	CHECK(!labels_equal(a, NULL));
	CHECK(labels_equal(NULL, NULL));
	free(a);
	free(c);
	CHECK(labels_build_parse(&b, "le=1", err, sizeof(err)) < 0);
	labels_build_free(&b);
	CHECK(labels_build_parse(&b, "a-b=1", err, sizeof(err)) < 0);
	labels_build_free(&b);
	CHECK(labels_build_parse(&b, "a", err, sizeof(err)) < 0);
	labels_build_free(&b);
}

/* Rendezvous hashing: each name in exactly one shard, shards balanced, and
 * going from 3 to 4 shards moves only names to the new shard, about 1/4. */
static void shard_split(void)
{
	enum { N = 3000 };
	unsigned cnt[4] = { 0 }, moved = 0;
	for (unsigned i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "198.18.0.2:%u", i + 1);
		int owner3 = -1, owner4 = -1;
		for (unsigned s = 0; s < 3; s++) {
			struct daemon_cfg d = { .shard_i = s, .shard_n = 3 };
			if (config_shard_mine(&d, name)) {
				CHECK(owner3 < 0);
				owner3 = (int)s;
			}
		}
		for (unsigned s = 0; s < 4; s++) {
			struct daemon_cfg d = { .shard_i = s, .shard_n = 4 };
			if (config_shard_mine(&d, name)) {
				CHECK(owner4 < 0);
				owner4 = (int)s;
			}
		}
		CHECK(owner3 >= 0 && owner4 >= 0);
		cnt[owner3]++;
		if (owner3 != owner4) {
			CHECK_EQ(owner4, 3); /* only to the new shard */
			moved++;
		}
	}
	for (unsigned s = 0; s < 3; s++)
		CHECK(cnt[s] > N / 3 - 150 && cnt[s] < N / 3 + 150);
	CHECK(moved > N / 4 - 150 && moved < N / 4 + 150);
	struct daemon_cfg one = { 0 };
	CHECK(config_shard_mine(&one, "x"));
}

/* 10,000 targets in two groups: parse time (printed; bounded generously). */
static void parse_10k(void)
{
	size_t cap = 10000 * 32 + 200, o = 0;
	char *j = malloc(cap);
	CHECK(j);
	o += (size_t)snprintf(j + o, cap - o, "[{\"labels\": {\"team\": \"a\"}, \"targets\": [");
	for (int i = 0; i < 10000; i++)
		o += (size_t)snprintf(j + o, cap - o, "%s\"198.19.%d.%d:%d\"", i ? "," : "", i / 250,
				      i % 250 + 1, 9000 + i % 1000);
	o += (size_t)snprintf(j + o, cap - o, "]}]");
	struct target_cfg *t = NULL;
	size_t n = 0;
	char err[300];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int r = discovery_parse(j, o, 0, &cfg.defaults, &t, &n, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &b);
	free(j);
	CHECK(r == 0);
	CHECK_EQ(n, 10000);
	double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	printf("info: parsed 10,000 file_sd targets in %.1f ms\n", ms);
	discovery_free_targets(t, n);
	CHECK(ms < 1000);
}

int main(void)
{
	config_defaults(&cfg);
	RUN(json_groups);
	RUN(yaml_groups);
	RUN(errors_name_group);
	RUN(label_sets);
	RUN(shard_split);
	RUN(parse_10k);
	return CHECK_EXIT();
}
