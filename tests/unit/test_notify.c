/* test_notify: the exact datagrams daemon/notify.c sends to NOTIFY_SOCKET,
 * received on an AF_UNIX datagram socket of our own standing in for systemd. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "notify.h"

static char dir[64];
static char sock_path[128];
static int sock_fd = -1;

static int bind_dgram(const char *path, int abstract)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (abstract) {
		/* sun_path[0] = 0: the abstract namespace, "@name" in NOTIFY_SOCKET */
		size_t n = strlen(path);
		memcpy(sa.sun_path + 1, path, n);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	} else {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		len = sizeof(sa);
	}
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The next datagram, without waiting: sd_notify's sendmsg has already
 * queued it by the time the notify_* call returns. "" if there is none. */
static const char *recv_msg(int fd)
{
	static char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return buf;
}

static uint64_t mono_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void use_socket(void)
{
	setenv("NOTIFY_SOCKET", sock_path, 1);
	recv_msg(sock_fd); /* drop anything a failed test left behind */
}

static void test_noop_without_notify_socket(void)
{
	unsetenv("NOTIFY_SOCKET");
	CHECK_EQ(notify_ready(), 0);
	CHECK_EQ(notify_reloading(), 0);
	CHECK_EQ(notify_status("%d targets", 3), 0);
	CHECK_EQ(notify_stopping(), 0);
	CHECK_EQ(notify_watchdog(), 0);
	CHECK_STR(recv_msg(sock_fd), "");
}

static void test_ready(void)
{
	use_socket();
	CHECK_EQ(notify_ready(), 1);
	CHECK_STR(recv_msg(sock_fd), "READY=1");
	CHECK_STR(recv_msg(sock_fd), "");
}

static void test_status(void)
{
	use_socket();
	CHECK_EQ(notify_status("%u targets, %u down", 12u, 1u), 1);
	CHECK_STR(recv_msg(sock_fd), "STATUS=12 targets, 1 down");
}

static void test_status_one_line(void)
{
	use_socket();
	CHECK_EQ(notify_status("config error:\n%s\r\n", "x.conf:3: bad key"), 1);
	CHECK_STR(recv_msg(sock_fd), "STATUS=config error: x.conf:3: bad key  ");
}

static void test_status_truncated(void)
{
	char longs[1000];
	memset(longs, 'a', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	use_socket();
	CHECK_EQ(notify_status("%s", longs), 1);
	const char *m = recv_msg(sock_fd);
	CHECK(strncmp(m, "STATUS=aaaa", 11) == 0);
	CHECK_EQ(strlen(m), 7 + 256);
}

static void test_reloading(void)
{
	use_socket();
	uint64_t before = mono_usec();
	CHECK_EQ(notify_reloading(), 1);
	uint64_t after = mono_usec();
	const char *m = recv_msg(sock_fd);
	const char *prefix = "RELOADING=1\nMONOTONIC_USEC=";
	CHECK(strncmp(m, prefix, strlen(prefix)) == 0);
	const char *num = m + strlen(prefix);
	CHECK(*num >= '0' && *num <= '9');
	char *end;
	unsigned long long usec = strtoull(num, &end, 10);
	CHECK(*end == '\0'); /* nothing after the number, no trailing newline */
	CHECK(usec >= before && usec <= after);
}

static void test_stopping(void)
{
	use_socket();
	CHECK_EQ(notify_stopping(), 1);
	CHECK_STR(recv_msg(sock_fd), "STOPPING=1");
}

static void test_watchdog(void)
{
	use_socket();
	CHECK_EQ(notify_watchdog(), 1);
	CHECK_STR(recv_msg(sock_fd), "WATCHDOG=1");
}

static void test_sequence(void)
{
	/* What a reload looks like to systemd: RELOADING, STATUS, READY, in order. */
	use_socket();
	CHECK_EQ(notify_reloading(), 1);
	CHECK_EQ(notify_status("reloaded: %d targets", 2), 1);
	CHECK_EQ(notify_ready(), 1);
	CHECK(strncmp(recv_msg(sock_fd), "RELOADING=1\n", 12) == 0);
	CHECK_STR(recv_msg(sock_fd), "STATUS=reloaded: 2 targets");
	CHECK_STR(recv_msg(sock_fd), "READY=1");
	CHECK_STR(recv_msg(sock_fd), "");
}

static void test_abstract_socket(void)
{
	char name[64], env[66];
	snprintf(name, sizeof(name), "tcpprobe-test-notify-%ld", (long)getpid());
	int fd = bind_dgram(name, 1);
	CHECK(fd >= 0);
	snprintf(env, sizeof(env), "@%s", name);
	setenv("NOTIFY_SOCKET", env, 1);
	int r = notify_ready();
	const char *m = recv_msg(fd);
	close(fd);
	CHECK_EQ(r, 1);
	CHECK_STR(m, "READY=1");
}

static void test_send_error_not_fatal(void)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/nobody-listens", dir);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_EQ(notify_ready(), -1);
	CHECK_EQ(notify_watchdog(), -1);
	CHECK_EQ(notify_status("x"), -1);
}

static void set_watchdog_env(const char *usec, const char *pid)
{
	if (usec)
		setenv("WATCHDOG_USEC", usec, 1);
	else
		unsetenv("WATCHDOG_USEC");
	if (pid)
		setenv("WATCHDOG_PID", pid, 1);
	else
		unsetenv("WATCHDOG_PID");
}

static void test_watchdog_interval(void)
{
	char self[32], other[32];
	snprintf(self, sizeof(self), "%ld", (long)getpid());
	snprintf(other, sizeof(other), "%ld", (long)getpid() + 1);
	use_socket();

	set_watchdog_env(NULL, NULL);
	CHECK_EQ(notify_watchdog_interval_usec(), 0);
	/* WatchdogSec=30s: systemd sets both; ping every 15 s */
	set_watchdog_env("30000000", self);
	CHECK_EQ(notify_watchdog_interval_usec(), 15000000);
	/* no WATCHDOG_PID: meant for whoever reads it */
	set_watchdog_env("30000000", NULL);
	CHECK_EQ(notify_watchdog_interval_usec(), 15000000);
	/* set for another process (inherited through a fork/exec) */
	set_watchdog_env("30000000", other);
	CHECK_EQ(notify_watchdog_interval_usec(), 0);
	set_watchdog_env("garbage", self);
	CHECK_EQ(notify_watchdog_interval_usec(), 0);
	set_watchdog_env("0", self);
	CHECK_EQ(notify_watchdog_interval_usec(), 0);
	set_watchdog_env("1", self);
	CHECK_EQ(notify_watchdog_interval_usec(), 0); /* 1 us / 2 rounds to 0 */
	/* the environment is left alone: a second look sees the same */
	set_watchdog_env("20000000", self);
	CHECK_EQ(notify_watchdog_interval_usec(), 10000000);
	CHECK_EQ(notify_watchdog_interval_usec(), 10000000);
	CHECK(getenv("WATCHDOG_USEC") != NULL);
	set_watchdog_env(NULL, NULL);
}

int main(void)
{
	log_init("test_notify", LOG_LVL_ERR - 1); /* quiet: failures are expected */
	snprintf(dir, sizeof(dir), "/tmp/test_notify.XXXXXX");
	if (!mkdtemp(dir)) {
		printf("FAIL setup: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/notify", dir);
	sock_fd = bind_dgram(sock_path, 0);
	if (sock_fd < 0) {
		printf("FAIL setup: bind %s: %s\n", sock_path, strerror(errno));
		rmdir(dir);
		return 1;
	}

	RUN(test_noop_without_notify_socket);
	RUN(test_ready);
	RUN(test_status);
	RUN(test_status_one_line);
	RUN(test_status_truncated);
	RUN(test_reloading);
	RUN(test_stopping);
	RUN(test_watchdog);
	RUN(test_sequence);
	RUN(test_abstract_socket);
	RUN(test_send_error_not_fatal);
	RUN(test_watchdog_interval);

	close(sock_fd);
	unlink(sock_path);
	rmdir(dir);
	return CHECK_EXIT();
}
