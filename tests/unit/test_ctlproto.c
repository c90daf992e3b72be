/* test_ctlproto.c: control request framing, parsing and validation. */
#include <stdlib.h>

#include "check.h"
#include "ctlproto.h"

static struct ctl_request rq;
static char err[256];

static enum ctl_perr parse(const char *s)
{
	err[0] = 0;
	return ctl_parse(s, strlen(s), &rq, err, sizeof(err));
}

static void frame_lines(void)
{
	size_t l, c;
	const char two[] = "status\nshow web\n";
	CHECK_EQ(ctl_frame(two, sizeof(two) - 1, &l, &c), CTL_FRAME_LINE);
	CHECK_EQ(l, 6);
	CHECK_EQ(c, 7);
	CHECK_EQ(ctl_frame(two + c, sizeof(two) - 1 - c, &l, &c), CTL_FRAME_LINE);
	CHECK_EQ(l, 8);
	CHECK_EQ(c, 9);
	CHECK_EQ(ctl_frame("stat", 4, &l, &c), CTL_FRAME_MORE);
	CHECK_EQ(ctl_frame("", 0, &l, &c), CTL_FRAME_MORE);
	CHECK_EQ(ctl_frame("\n", 1, &l, &c), CTL_FRAME_LINE);
	CHECK_EQ(l, 0);
	CHECK_EQ(c, 1);
}

static void frame_crlf(void)
{
	size_t l, c;
	CHECK_EQ(ctl_frame("status\r\n", 8, &l, &c), CTL_FRAME_LINE);
	CHECK_EQ(l, 6);
	CHECK_EQ(c, 8);
	CHECK_EQ(ctl_frame("\r\n", 2, &l, &c), CTL_FRAME_LINE);
	CHECK_EQ(l, 0);
}

static void frame_limit(void)
{
	size_t l, c;
	char *b = malloc(CTL_LINE_MAX + 10);
	CHECK(b);
	memset(b, 'a', CTL_LINE_MAX + 10);
	/* 4095 bytes + "\n" = 4096: the longest request. */
	b[CTL_LINE_MAX - 1] = '\n';
	enum ctl_frame f = ctl_frame(b, CTL_LINE_MAX + 10, &l, &c);
	if (f != CTL_FRAME_LINE || l != CTL_LINE_MAX - 1 || c != CTL_LINE_MAX) {
		free(b);
		CHECK(!"4096 bytes with the newline must frame");
	}
	/* 4096 bytes then "\n": too long, even though the newline is there. */
	b[CTL_LINE_MAX - 1] = 'a';
	b[CTL_LINE_MAX] = '\n';
	f = ctl_frame(b, CTL_LINE_MAX + 10, &l, &c);
	enum ctl_frame f2 = ctl_frame(b, CTL_LINE_MAX, &l, &c);
	enum ctl_frame f3 = ctl_frame(b, CTL_LINE_MAX - 1, &l, &c);
	free(b);
	CHECK_EQ(f, CTL_FRAME_TOOLONG);
	CHECK_EQ(f2, CTL_FRAME_TOOLONG);
	CHECK_EQ(f3, CTL_FRAME_MORE);
}

static void parse_simple(void)
{
	CHECK_EQ(parse("status"), CTL_POK);
	CHECK_EQ(rq.cmd->cmd, CTL_STATUS);
	CHECK_EQ(rq.argc, 0);
	CHECK(rq.argv[0] == NULL);
	CHECK_EQ(parse("  show   web-1.a_b  "), CTL_POK);
	CHECK_EQ(rq.cmd->cmd, CTL_SHOW);
	CHECK_EQ(rq.argc, 1);
	CHECK_STR(rq.argv[0], "web-1.a_b");
	CHECK_EQ(parse("history web 25"), CTL_POK);
	CHECK_STR(rq.argv[1], "25");
	CHECK_EQ(parse("add web 198.18.0.2:8080 kind=syn interval=250ms"), CTL_POK);
	CHECK_EQ(rq.argc, 4);
	CHECK_STR(rq.argv[3], "interval=250ms");
	CHECK_EQ(parse("probe [fd00:18::2]:8080 kind=fin"), CTL_POK);
	CHECK_EQ(parse("pause --all"), CTL_POK);
	CHECK_EQ(parse("resume web"), CTL_POK);
	CHECK_EQ(parse("log-level"), CTL_POK);
	CHECK_EQ(parse("log-level DEBUG"), CTL_POK);
}

static void parse_empty(void)
{
	CHECK_EQ(parse(""), CTL_PEMPTY);
	CHECK_EQ(parse("    "), CTL_PEMPTY);
	CHECK(strstr(err, "empty"));
}

static void parse_unknown(void)
{
	CHECK_EQ(parse("frobnicate web"), CTL_PUNKNOWN);
	CHECK(strstr(err, "unknown command 'frobnicate'"));
	CHECK_EQ(parse("STATUS"), CTL_PUNKNOWN); /* commands are case-sensitive */
	CHECK_EQ(parse("caf\xc3\xa9"), CTL_PUNKNOWN);
	CHECK(strstr(err, "'caf?" "?'")); /* non-ASCII never echoed raw */
	char longw[200];
	memset(longw, 'x', sizeof(longw) - 1);
	longw[sizeof(longw) - 1] = 0;
	CHECK_EQ(parse(longw), CTL_PUNKNOWN);
	CHECK(strlen(err) < 100);
}

static void parse_garbage(void)
{
	CHECK_EQ(parse("status\t"), CTL_PGARBAGE);
	CHECK_EQ(parse("sta\x01tus"), CTL_PGARBAGE);
	CHECK_EQ(parse("status \x7f"), CTL_PGARBAGE);
	CHECK_EQ(parse("\x1b[2Jstatus"), CTL_PGARBAGE);
	CHECK_EQ(parse("show \xff\xfe"), CTL_PGARBAGE);           /* not UTF-8 */
	CHECK_EQ(parse("show \xc0\xaf"), CTL_PGARBAGE);           /* overlong "/" */
	CHECK_EQ(parse("show \xed\xa0\x80"), CTL_PGARBAGE);       /* surrogate */
	CHECK_EQ(parse("show \xf4\x90\x80\x80"), CTL_PGARBAGE);   /* > U+10FFFF */
	CHECK_EQ(parse("show \xc2\x85"), CTL_PGARBAGE);           /* C1 control (NEL) */
	CHECK_EQ(parse("show \xe2\x82"), CTL_PGARBAGE);           /* truncated */
	const char nul[] = "show\0web";
	CHECK_EQ(ctl_parse(nul, sizeof(nul) - 1, &rq, err, sizeof(err)), CTL_PGARBAGE);
	/* Valid UTF-8 is text; it fails later as a bad name. */
	CHECK_EQ(parse("show w\xc3\xa9""b"), CTL_PUSAGE);
}

static void parse_too_long(void)
{
	static char b[CTL_LINE_MAX + 1];
	memset(b, 'a', sizeof(b));
	CHECK_EQ(ctl_parse(b, CTL_LINE_MAX, &rq, err, sizeof(err)), CTL_PTOOLONG);
	/* The longest allowed line parses (as an unknown command). */
	CHECK_EQ(ctl_parse(b, CTL_LINE_MAX - 1, &rq, err, sizeof(err)), CTL_PUNKNOWN);
}

static void parse_arg_counts(void)
{
	CHECK_EQ(parse("status now"), CTL_PUSAGE);
	CHECK_STR(err, "usage: status");
	CHECK_EQ(parse("show"), CTL_PUSAGE);
	CHECK_STR(err, "usage: show NAME");
	CHECK_EQ(parse("show a b"), CTL_PUSAGE);
	CHECK_EQ(parse("history a 1 2"), CTL_PUSAGE);
	CHECK_EQ(parse("add web"), CTL_PUSAGE);
	CHECK_EQ(parse("probe"), CTL_PUSAGE);
	CHECK_EQ(parse("pause"), CTL_PUSAGE);
	CHECK_EQ(parse("reload now"), CTL_PUSAGE);
	CHECK_EQ(parse("log-level info debug"), CTL_PUSAGE);
	/* CTL_ARGS_MAX arguments are fine, one more is not. */
	char b[CTL_LINE_MAX];
	int n = snprintf(b, sizeof(b), "probe h:1");
	for (int i = 1; i < CTL_ARGS_MAX; i++)
		n += snprintf(b + n, sizeof(b) - (size_t)n, " k%d=v", i);
	CHECK_EQ(parse(b), CTL_POK);
	CHECK_EQ(rq.argc, CTL_ARGS_MAX);
	snprintf(b + n, sizeof(b) - (size_t)n, " one=more");
	CHECK_EQ(parse(b), CTL_PUSAGE);
}

static void parse_arg_forms(void)
{
	CHECK_EQ(parse("show we/b"), CTL_PUSAGE);
	CHECK(strstr(err, "not a target name"));
	CHECK_EQ(parse("show -web"), CTL_PUSAGE);
	CHECK_EQ(parse("show --all"), CTL_PUSAGE);
	char name[80];
	memset(name, 'n', sizeof(name));
	memcpy(name, "show ", 5);
	name[5 + 63] = 0;
	CHECK_EQ(parse(name), CTL_POK); /* 63-byte name */
	name[5 + 63] = 'n';
	name[5 + 64] = 0;
	CHECK_EQ(parse(name), CTL_PUSAGE);
	CHECK_EQ(parse("history web 0"), CTL_PUSAGE);
	CHECK_EQ(parse("history web -1"), CTL_PUSAGE);
	CHECK_EQ(parse("history web 100001"), CTL_PUSAGE);
	CHECK_EQ(parse("history web 1e3"), CTL_PUSAGE);
	CHECK_EQ(parse("history web 100000"), CTL_POK);
	CHECK_EQ(parse("pause all"), CTL_POK); /* a target may be called "all" */
	CHECK_EQ(parse("pause -all"), CTL_PUSAGE);
	CHECK_EQ(parse("log-level loud"), CTL_PUSAGE);
	CHECK_EQ(parse("add web h:1 kind"), CTL_PUSAGE);
	CHECK_EQ(parse("add web h:1 =syn"), CTL_PUSAGE);
	CHECK_EQ(parse("add web h:1 kind="), CTL_PUSAGE);
	CHECK_EQ(parse("add web h:1 Kind=syn"), CTL_PUSAGE);
	CHECK_EQ(parse("add web h:1 kind=syn=x"), CTL_POK); /* the daemon judges values */
}

static void hostports(void)
{
	CHECK(ctl_hostport_valid("198.18.0.2:8080"));
	CHECK(ctl_hostport_valid("198.18.0.2"));
	CHECK(ctl_hostport_valid("www.example.org:443"));
	CHECK(ctl_hostport_valid("[fd00:18::2]:8080"));
	CHECK(ctl_hostport_valid("[fd00:18::2]"));
	CHECK(ctl_hostport_valid("fd00:18::2"));
	CHECK(ctl_hostport_valid("[fe80::1%lab-c]:22"));
	CHECK(ctl_hostport_valid("h:65535"));
	CHECK(!ctl_hostport_valid("h:65536"));
	CHECK(!ctl_hostport_valid("h:0"));
	CHECK(!ctl_hostport_valid("h:"));
	CHECK(!ctl_hostport_valid(":80"));
	CHECK(!ctl_hostport_valid("h:8x"));
	CHECK(!ctl_hostport_valid("[]:80"));
	CHECK(!ctl_hostport_valid("[fd00::1]80"));
	CHECK(!ctl_hostport_valid("[fd00::1"));
	CHECK(!ctl_hostport_valid("[host]:80")); /* brackets are for IPv6 */
	CHECK(!ctl_hostport_valid("-h:80"));
	CHECK(!ctl_hostport_valid("h$(x):80"));
	CHECK(!ctl_hostport_valid(""));
}

static void mutating_flags(void)
{
	static const struct { const char *req; bool admin; } cases[] = {
		{ "status", false }, { "targets", false }, { "show a", false },
		{ "history a", false }, { "metrics", false }, { "watch", false },
		{ "help", false }, { "log-level", false }, { "log-level debug", true },
		{ "probe h:1", true }, { "add a h:1", true }, { "remove a", true },
		{ "pause a", true }, { "pause --all", true }, { "resume --all", true },
		{ "reload", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].req) != CTL_POK) {
			printf("FAIL %s: '%s' does not parse: %s\n", check_cur_name, cases[i].req, err);
			check_cur_failed = 1;
			return;
		}
		if (ctl_request_is_admin(&rq) != cases[i].admin) {
			printf("FAIL %s: '%s' admin should be %d\n", check_cur_name, cases[i].req,
			       cases[i].admin);
			check_cur_failed = 1;
			return;
		}
	}
}

static void command_table(void)
{
	for (int c = 0; c < CTL_CMD_COUNT; c++) {
		const struct ctl_cmd_info *ci = ctl_cmd_get((enum ctl_cmd)c);
		CHECK(ci);
		CHECK_EQ(ci->cmd, c);
		CHECK_STR(ci->name, ctl_cmd_str((enum ctl_cmd)c));
		CHECK(ctl_cmd_lookup(ci->name) == ci);
		CHECK(ci->min_args <= ci->max_args && ci->max_args <= CTL_ARGS_MAX);
		CHECK(ci->help && ci->help[0] && ci->usage);
		CHECK(ci->max_args == 0 || ci->args[0] != CTL_ARG_NONE);
	}
	CHECK(ctl_cmd_get(CTL_CMD_COUNT) == NULL);
	CHECK_STR(ctl_access_str(ctl_cmd_get(CTL_STATUS)->access), "read");
	CHECK_STR(ctl_access_str(ctl_cmd_get(CTL_ADD)->access), "admin");
	CHECK_STR(ctl_access_str(ctl_cmd_get(CTL_LOG_LEVEL)->access), "admin-to-set");
	CHECK(ctl_cmd_lookup("") == NULL);
	CHECK(ctl_cmd_lookup("stat") == NULL);
	CHECK(ctl_cmd_get(CTL_PROBE)->streams && ctl_cmd_get(CTL_WATCH)->streams);
	CHECK(!ctl_cmd_get(CTL_STATUS)->streams);
}

/* Every byte string a client can send either parses or yields a message;
 * a cheap deterministic stand-in for the fuzzer. */
static void parse_random(void)
{
	static const char alphabet[] = "status show add probe pause --all web 1 :[]=k\t\x01\xc3\xa9\xff ";
	unsigned seed = 1;
	char b[64];
	for (int it = 0; it < 200000; it++) {
		seed = seed * 1103515245u + 12345u;
		size_t n = (seed >> 16) % sizeof(b);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			b[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		err[0] = 0;
		enum ctl_perr e = ctl_parse(b, n, &rq, err, sizeof(err));
		if (e == CTL_POK) {
			CHECK(rq.cmd && rq.argc <= rq.cmd->max_args && rq.argv[rq.argc] == NULL);
		} else {
			CHECK(err[0]);
			CHECK(ctl_text_valid(err, strlen(err)));
		}
	}
}

int main(void)
{
	RUN(frame_lines);
	RUN(frame_crlf);
	RUN(frame_limit);
	RUN(parse_simple);
	RUN(parse_empty);
	RUN(parse_unknown);
	RUN(parse_garbage);
	RUN(parse_too_long);
	RUN(parse_arg_counts);
	RUN(parse_arg_forms);
	RUN(hostports);
	RUN(mutating_flags);
	RUN(command_table);
	RUN(parse_random);
	return CHECK_EXIT();
}
