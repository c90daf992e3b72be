/*
 * fuzz_ctlproto.c: the control socket's request framing and parser on what a
 * client could send: the input is the byte stream, split into requests with
 * ctl_frame() the way control.c does, each line parsed from a heap copy of
 * exactly its length (no terminating NUL for strlen() to find).
 *
 * Invariants: framing stays inside the buffer and the line limit; a parsed
 * request has a command, argc within the command's bounds, argv pointing into
 * req->buf and NULL-terminated, every argument passing the check its type
 * names; a rejected one has an error message that is valid text (it goes
 * back to the client inside JSON); and joining argv with single spaces parses
 * to the same request again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"
#include "fuzz.h"

static struct ctl_request req, req2;

static void check_request(const struct ctl_request *r)
{
	const struct ctl_cmd_info *ci = r->cmd;

	CHECK(ci != NULL && ci == ctl_cmd_get(ci->cmd) && ci == ctl_cmd_lookup(ci->name));
	CHECK(strcmp(ctl_cmd_str(ci->cmd), ci->name) == 0);
	CHECK(r->argc >= ci->min_args && r->argc <= ci->max_args && r->argc <= CTL_ARGS_MAX);
	CHECK(r->argv[r->argc] == NULL);
	for (unsigned i = 0; i < r->argc; i++) {
		const char *a = r->argv[i];
		CHECK(a >= r->buf && a < r->buf + sizeof(r->buf));
		size_t n = strnlen(a, (size_t)(r->buf + sizeof(r->buf) - a));
		CHECK(n > 0 && a + n < r->buf + sizeof(r->buf));
		CHECK(strchr(a, ' ') == NULL);
		CHECK(ctl_text_valid(a, n));
		unsigned ti = i < 2 ? i : 2;
		while (ti > 0 && ci->args[ti] == CTL_ARG_NONE)
			ti--;
		switch (ci->args[ti]) {
		case CTL_ARG_NONE: CHECK(!"argument for a command that takes none"); break;
		case CTL_ARG_NAME: CHECK(ctl_name_valid(a)); break;
		case CTL_ARG_NAME_OR_ALL: CHECK(!strcmp(a, "--all") || ctl_name_valid(a)); break;
		case CTL_ARG_HOSTPORT: CHECK(ctl_hostport_valid(a)); break;
		case CTL_ARG_KV: CHECK(ctl_kv_valid(a)); break;
		case CTL_ARG_COUNT:
		case CTL_ARG_LEVEL: break;
		}
	}
	(void)ctl_request_is_admin(r);
}

/* One line, without its "\n". */
static void parse_line(const char *line, size_t len)
{
	char err[256], err2[256];
	char *copy = malloc(len ? len : 1);

	CHECK(copy != NULL);
	memcpy(copy, line, len);
	memset(err, 0, sizeof(err));
	enum ctl_perr e = ctl_parse(copy, len, &req, err, sizeof(err));
	CHECK(strcmp(ctl_perr_str(e), "?") != 0);
	if (len >= CTL_LINE_MAX)
		CHECK(e == CTL_PTOOLONG);
	if (e != CTL_POK) {
		CHECK(err[0] != '\0' && ctl_text_valid(err, strlen(err)));
		CHECK(req.cmd == NULL);
		free(copy);
		return;
	}
	check_request(&req);

	/* Canonical form: COMMAND ARG ARG ..., which must parse the same. */
	char canon[CTL_LINE_MAX];
	size_t n = (size_t)snprintf(canon, sizeof(canon), "%s", req.cmd->name);
	for (unsigned i = 0; i < req.argc; i++)
		n += (size_t)snprintf(canon + n, sizeof(canon) - n, " %s", req.argv[i]);
	CHECK(n <= len);
	CHECK(ctl_parse(canon, n, &req2, err2, sizeof(err2)) == CTL_POK);
	CHECK(req2.cmd == req.cmd && req2.argc == req.argc);
	for (unsigned i = 0; i < req.argc; i++)
		CHECK(strcmp(req.argv[i], req2.argv[i]) == 0);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0;

	/* The whole input as one line too, whatever framing would make of it. */
	parse_line(buf, size);
	(void)ctl_text_valid(buf, size);

	while (off < size) {
		size_t line_len = 7, consumed = 7, left = size - off;
		enum ctl_frame f = ctl_frame(buf + off, left, &line_len, &consumed);

		switch (f) {
		case CTL_FRAME_MORE:
			CHECK(left < CTL_LINE_MAX && memchr(buf + off, '\n', left) == NULL);
			CHECK(line_len == 0 && consumed == 0);
			off = size;
			break;
		case CTL_FRAME_TOOLONG:
			CHECK(left >= CTL_LINE_MAX);
			CHECK(memchr(buf + off, '\n', CTL_LINE_MAX) == NULL);
			off = size;
			break;
		case CTL_FRAME_LINE:
			CHECK(consumed >= 1 && consumed <= left && consumed <= CTL_LINE_MAX);
			CHECK(buf[off + consumed - 1] == '\n');
			CHECK(memchr(buf + off, '\n', consumed - 1) == NULL);
			CHECK(line_len == consumed - 1 ||
			      (line_len == consumed - 2 && buf[off + line_len] == '\r'));
			parse_line(buf + off, line_len);
			off += consumed;
			break;
		default:
			CHECK(!"unknown frame result");
		}
	}

	/* The argument checks on a NUL-terminated copy, as ctl.c calls them. */
	char *s = malloc(size + 1);
	CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	(void)ctl_name_valid(s);
	(void)ctl_hostport_valid(s);
	(void)ctl_kv_valid(s);
	free(s);
	return 0;
}
