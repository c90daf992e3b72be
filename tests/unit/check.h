/* check.h: a minimal test harness. Each test prints "PASS name" or
 * "FAIL name: why"; tests/run.sh counts those lines. */
#ifndef TCPPROBE_CHECK_H
#define TCPPROBE_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_failed_total, check_passed_total, check_cur_failed;
static const char *check_cur_name;

#define CHECK(cond) do { if (!(cond)) { \
	printf("FAIL %s: %s:%d: %s\n", check_cur_name, __FILE__, __LINE__, #cond); \
	check_cur_failed = 1; return; } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
	printf("FAIL %s: %s:%d: %s == %lld, expected %s == %lld\n", check_cur_name, __FILE__, \
	       __LINE__, #a, _a, #b, _b); check_cur_failed = 1; return; } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); if (strcmp(_a, _b)) { \
	printf("FAIL %s: %s:%d: \"%s\" != \"%s\"\n", check_cur_name, __FILE__, __LINE__, _a, _b); \
	check_cur_failed = 1; return; } } while (0)

#define RUN(fn) do { check_cur_name = #fn; check_cur_failed = 0; fn(); \
	if (check_cur_failed) check_failed_total++; else { check_passed_total++; printf("PASS %s\n", #fn); } \
	fflush(stdout); } while (0)
#define CHECK_EXIT() (check_failed_total ? 1 : 0)
#endif
