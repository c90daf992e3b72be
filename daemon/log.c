#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int log_level = LOG_LVL_INFO;
static const char *log_prog = "tcpprobe";
static int log_journal; /* stderr is connected to journald: use <N> prefixes */

static const char *const level_names[8] = {
	[LOG_LVL_ERR] = "error", [LOG_LVL_WARN] = "warning", [LOG_LVL_NOTICE] = "notice",
	[LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

/* stderr is the journal when it is the stream JOURNAL_STREAM ("DEV:INO")
 * names: a child whose stderr was redirected inherits the variable too. */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *progname, int level)
{
	log_prog = progname;
	log_level = level;
	log_journal = stderr_is_journal();
}

void log_set_level(int level)
{
	if (level >= LOG_LVL_ERR && level <= LOG_LVL_DEBUG)
		log_level = level;
}

int log_level_from_str(const char *s)
{
	for (int i = 0; i < 8; i++)
		if (level_names[i] && strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "warn") == 0)
		return LOG_LVL_WARN;
	return -1;
}

const char *log_level_name(int level)
{
	return level >= 0 && level < 8 ? level_names[level] : NULL;
}

int log_set_level_str(const char *s)
{
	int l = log_level_from_str(s);
	if (l < 0)
		return -1;
	log_level = l;
	return 0;
}

const char *log_level_str(void) { return level_names[log_level]; }

static void log_v(int level, const char *fmt, va_list ap, int err)
{
	if (level > log_level)
		return;
	char line[1024];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (err && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, ": %s", strerror(err));
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", level, line);
	else
		fprintf(stderr, "%s: %s\n", log_prog, line);
}

void log_bare(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (log_journal)
		fprintf(stderr, "<%d>", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(level, fmt, ap, 0);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_LVL_WARN, fmt, ap, err);
	va_end(ap);
	errno = err;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_LVL_WARN, fmt, ap, 0);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_LVL_INFO, fmt, ap, 0);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_LVL_DEBUG, fmt, ap, 0);
	va_end(ap);
}
