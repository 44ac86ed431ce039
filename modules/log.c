/* log: where diagnostics go (stderr or syslog), the level filter, and
 * fatal() for start-up errors. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_tag = "im";
static int log_to_syslog;
static enum log_level log_max = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

int log_init(const char *tag, const char *dest, enum log_level level)
{
	log_tag = tag;
	log_max = level;
	if (strcmp(dest, "stderr") == 0) {
		log_to_syslog = 0;
		return 0;
	}
	if (strcmp(dest, "syslog") == 0) {
		log_to_syslog = 1;
		openlog(tag, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		return 0;
	}
	return -1;
}

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

static void log_v(enum log_level lvl, const char *fmt, va_list ap)
{
	if (lvl > log_max)
		return;
	if (log_to_syslog) {
		vsyslog(syslog_prio[lvl], fmt, ap);
		return;
	}
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
	flockfile(stderr);
	fprintf(stderr, "%s %s %s: ", stamp, log_tag, level_names[lvl]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

#define LOG_FN(fn, lvl)                                                                                      \
	void fn(const char *fmt, ...)                                                                        \
	{                                                                                                    \
		va_list ap;                                                                                  \
		va_start(ap, fmt);                                                                           \
		log_v(lvl, fmt, ap);                                                                         \
		va_end(ap);                                                                                  \
	}
LOG_FN(log_err, LOG_LVL_ERR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
