/* log.h: one line per event on stderr, journald-friendly "<N>" priority
 * prefixes when stderr is the journal (JOURNAL_STREAM), level settable at
 * run time. */
#ifndef TCPPROBE_LOG_H
#define TCPPROBE_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_init(const char *progname, int level);
void log_set_level(int level);
int log_set_level_str(const char *s); /* 0, or -1 if s names no level */
/* The level names, the one list: config's log_level, ctl log-level, status.
 * from_str takes any case and "warn"; -1 if s names no level. */
#define LOG_LEVEL_NAMES "error, warning, notice, info, debug"
int log_level_from_str(const char *s);
const char *log_level_name(int level); /* NULL if level has no name */
const char *log_level_str(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Always printed, without the program name: command-line errors (a config
 * file's "FILE:LINE: ..."), before or outside the daemon's logging; under
 * the journal with LEVEL's priority, so they are not filed as info. */
void log_bare(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* appends strerror(errno) */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
