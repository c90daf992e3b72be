/* notify.c: sd_notify(3) wrappers. libsystemd does the socket work (path and
 * abstract NOTIFY_SOCKET, credentials); this file only fixes the messages. */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "timens.h"

/* STATUS= lines longer than this are cut: systemctl shows one line anyway. */
#define NOTIFY_STATUS_MAX 256

static int notify_send(const char *msg)
{
	/* unset_environment = 0: RELOADING, WATCHDOG and STOPPING come later. */
	int r = sd_notify(0, msg);
	if (r < 0) {
		log_warnx("%s: sd_notify %.*s: %s", __func__, (int)strcspn(msg, "\n"), msg,
			  strerror(-r));
		return -1;
	}
	return r > 0 ? 1 : 0;
}

int notify_ready(void)
{
	return notify_send("READY=1");
}

int notify_reloading(void)
{
	/* systemd 253 wants CLOCK_MONOTONIC at the time of the reload request
	 * so it can tell this reload from an earlier one (sd_notify(3)). */
	char msg[64];
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)(clock_ns(CLOCK_MONOTONIC) / NS_PER_US));
	return notify_send(msg);
}

int notify_status(const char *fmt, ...)
{
	char msg[sizeof("STATUS=") + NOTIFY_STATUS_MAX];
	va_list ap;

	if (!getenv("NOTIFY_SOCKET"))
		return 0; /* skip the formatting too: status is updated often */
	memcpy(msg, "STATUS=", 7);
	va_start(ap, fmt);
	int n = vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	for (char *p = msg + 7; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return notify_send(msg);
}

int notify_stopping(void)
{
	return notify_send("STOPPING=1");
}

int notify_watchdog(void)
{
	return notify_send("WATCHDOG=1");
}

uint64_t notify_watchdog_interval_usec(void)
{
	uint64_t usec = 0;

	/* unset_environment = 0: the value is read again after a re-exec. */
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec / 2;
}
