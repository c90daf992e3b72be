/* test_oom: the target registry under allocation failure (issue 11 point
 * 7). Linked with -Wl,--wrap=malloc,calloc,realloc,strdup so that every
 * allocation the daemon's code makes goes through alloc_fail below; each
 * operation (ctl add, ctl remove, reload) is run once per allocation it
 * makes, failing exactly that one, and after each run the registry must be
 * consistent: every listed target found by name, the index holding
 * exactly the listed targets, and the set either the old or the new one.
 * Under SANITIZE=1 ASan turns any use of a freed target into a failure. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "registry_priv.h"
#include "log.h"
#include "targets.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t sz);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

static long countdown;  /* the allocation to fail: 1 = the next one; 0 = none */
static bool injected;   /* whether it failed during this run */
static long allocs;     /* allocations seen while counting */

static bool alloc_fail(void)
{
	allocs++;
	if (countdown > 0 && --countdown == 0) {
		injected = true;
		return true;
	}
	return false;
}
void *__wrap_malloc(size_t n) { return alloc_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t sz) { return alloc_fail() ? NULL : __real_calloc(n, sz); }
void *__wrap_realloc(void *p, size_t n) { return alloc_fail() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return alloc_fail() ? NULL : __real_strdup(s); }

static char tmpdir[] = "/tmp/test_oom.XXXXXX";
static char conf[300];
static struct event_base *base;
static struct config cfg;       /* the running config, as the lifecycle keeps it */
static struct registry *reg;
/* 63 targets: the 64th (ctl add) makes the name index grow. */
#define N 63

/* Targets t0..t(n-1) from `first` on, at documentation addresses, an
 * hour apart so that no slot falls due while the test runs. */
static void write_conf(int first, int n)
{
	FILE *f = fopen(conf, "w");
	fprintf(f, "[daemon]\nhistory = 4\n\n[defaults]\ninterval = 1h\n\n");
	for (int i = first; i < first + n; i++)
		fprintf(f, "[target t%d]\nhost = 198.51.100.%d\nport = %d\n\n", i, i % 250 + 1,
			1000 + i);
	fclose(f);
}

/* The registry is consistent, and holds exactly t{first..first+n-1} plus
 * `extra` (if not NULL). Returns a description of the first defect. */
static const char *registry_defect(int first, int n, const char *extra)
{
	static char why[200];
	struct registry *d = reg;
	size_t want = (size_t)n + (extra ? 1 : 0);
	if (d->nt != want) {
		snprintf(why, sizeof(why), "%zu targets, expected %zu", d->nt, want);
		return why;
	}
	for (size_t i = 0; i < d->nt; i++)
		if (registry_target_find(d, d->t[i]->cfg.name) != d->t[i]) {
			snprintf(why, sizeof(why), "target %s not found by name", d->t[i]->cfg.name);
			return why;
		}
	size_t in_idx = 0;
	for (size_t k = 0; d->idx && k <= d->idx_mask; k++) {
		if (!d->idx[k])
			continue;
		in_idx++;
		size_t i = 0;
		while (i < d->nt && d->t[i] != d->idx[k])
			i++;
		if (i == d->nt)
			return "the index holds a target the registry does not";
	}
	if (in_idx != d->nt)
		return "index and registry differ in size";
	for (int i = first; i < first + n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "t%d", i);
		if (!registry_target_find(d, name)) {
			snprintf(why, sizeof(why), "target %s missing", name);
			return why;
		}
	}
	if (extra && !registry_target_find(d, extra))
		return "the added target is missing";
	return NULL;
}

static int setup(void)
{
	char err[512];
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(conf, sizeof(conf), "%s/tcpprobe.conf", tmpdir);
	write_conf(0, N);
	base = event_base_new();
	if (!base || config_load(conf, &cfg, err, sizeof(err)) < 0 ||
	    !(reg = registry_new(base, &cfg, NULL, err, sizeof(err))) ||
	    registry_apply(reg, &cfg, true) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	return 0;
}

/* A reload as the lifecycle (daemon.c) does it: the new config in the
 * running one's place, applied, or the old one back. */
static int reload(char *err, size_t errlen)
{
	struct config nc;
	if (config_load(conf, &nc, err, errlen) < 0)
		return -1;
	struct config old = cfg;
	cfg = nc;
	if (registry_apply(reg, &cfg, false) < 0) {
		config_free(&cfg);
		cfg = old;
		return -1;
	}
	config_free(&old);
	return 0;
}

#define MAX_RUNS 20000 /* bound: far above the allocations one operation makes */

/* Runs op with allocation k failing, for k = 1, 2, ... until a run
 * completes without reaching its k-th allocation. */
#define EACH_FAILURE(k) \
	for (long k = 1; k < MAX_RUNS; k++)

static void test_add_under_oom(void)
{
	long runs = 0, failed = 0;
	EACH_FAILURE(k) {
		char err[256] = "";
		countdown = k;
		injected = false;
		int rc = registry_target_add(reg, "added", "198.51.100.200:80", NULL, 0, err, sizeof(err));
		countdown = 0;
		runs++;
		failed += rc < 0;
		if (rc < 0 && !injected)
			CHECK(!"add failed without an injected failure");
		const char *why = registry_defect(0, N, rc == 0 ? "added" : NULL);
		if (why) {
			printf("  allocation %ld failed: %s\n", k, why);
			CHECK(!why);
		}
		if (rc == 0)
			CHECK_EQ(registry_target_remove(reg, "added", err, sizeof(err)), 0);
		if (!injected)
			break;
	}
	printf("  add: %ld runs, %ld refused with out of memory\n", runs, failed);
	CHECK(runs > 1 && runs < MAX_RUNS);
	CHECK(failed > 0);
}

static void test_remove_under_oom(void)
{
	long runs = 0;
	EACH_FAILURE(k) {
		char err[256] = "";
		countdown = k;
		injected = false;
		int rc = registry_target_remove(reg, "t7", err, sizeof(err));
		countdown = 0;
		runs++;
		CHECK_EQ(rc, 0); /* removing allocates nothing, so it cannot fail */
		CHECK(!registry_target_find(reg, "t7"));
		CHECK_EQ(reg->nt, N - 1);
		for (size_t i = 0; i < reg->nt; i++)
			CHECK(registry_target_find(reg, reg->t[i]->cfg.name) == reg->t[i]);
		CHECK_EQ(registry_target_add(reg, "t7", "198.51.100.8:1007", NULL, 0, err, sizeof(err)), 0);
		CHECK(!registry_defect(0, N, NULL));
		if (!injected)
			break;
	}
	printf("  remove: %ld runs\n", runs);
	CHECK(runs < MAX_RUNS);
}

static void test_reload_under_oom(void)
{
	long runs = 0, failed = 0;
	char err[512];
	/* Back to t0..t62 as in the file (t7 was re-added by hand above). */
	write_conf(0, N);
	CHECK_EQ(reload(err, sizeof(err)), 0);
	EACH_FAILURE(k) {
		/* t20..t82: some kept, some new, some gone. */
		write_conf(20, N);
		countdown = k;
		injected = false;
		int rc = reload(err, sizeof(err));
		countdown = 0;
		runs++;
		failed += rc < 0;
		if (rc < 0 && !injected)
			CHECK(!"reload failed without an injected failure");
		const char *why = rc == 0 ? registry_defect(20, N, NULL) : registry_defect(0, N, NULL);
		if (why) {
			printf("  allocation %ld failed (reload %s): %s\n", k, rc ? "failed" : "ok", why);
			CHECK(!why);
		}
		if (rc == 0) {
			write_conf(0, N);
			CHECK_EQ(reload(err, sizeof(err)), 0);
			CHECK(!registry_defect(0, N, NULL));
		}
		if (!injected)
			break;
	}
	printf("  reload: %ld runs, %ld failed with out of memory\n", runs, failed);
	CHECK(runs > 1 && runs < MAX_RUNS);
	CHECK(failed > 0);
}

int main(void)
{
	log_init("test_oom", LOG_LVL_ERR);
	if (setup() < 0) {
		printf("FAIL setup\n");
		return 1;
	}
	RUN(test_add_under_oom);
	RUN(test_remove_under_oom);
	RUN(test_reload_under_oom);
	registry_free(reg);
	config_free(&cfg);
	event_base_free(base);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return CHECK_EXIT();
}
