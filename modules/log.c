/* log: where diagnostics go (stderr or syslog), the level filter, and
 * fatal() for start-up errors. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
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

#define LOG_SITES     256 /* call sites tracked; beyond that, no limit */
#define LOG_WINDOW_MS 1000

/* One call site of the rate limit, known by its format string. */
struct log_site {
	const char *fmt;
	enum log_level lvl;
	uint64_t start; /* of the current window, monotonic ms */
	unsigned long n, held;
	char last[200]; /* the last line held back */
};

static struct log_site sites[LOG_SITES];
static int log_rate = LOG_RATE_DEFAULT, log_held_sites;
static void (*suppress_fn)(void *);
static void *suppress_arg;
static pthread_t suppress_thread; /* the hook is only called on this one */
/* Worker threads may log too (rarely): the table is shared. */
static pthread_mutex_t site_lock = PTHREAD_MUTEX_INITIALIZER;

static void flush_at_exit(void)
{
	log_flush(1);
}

int log_init(const char *tag, const char *dest, enum log_level level)
{
	static int registered;
	if (!registered && atexit(flush_at_exit) == 0)
		registered = 1;
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

static void (*sink_fn)(void *, const char *);
static void *sink_arg;
static pthread_t sink_thread;

void log_set_sink(void (*fn)(void *arg, const char *line), void *arg)
{
	sink_fn = fn;
	sink_arg = arg;
	sink_thread = pthread_self();
}

static void emit(enum log_level lvl, const char *fmt, va_list ap)
{
	if (log_to_syslog) {
		vsyslog(syslog_prio[lvl], fmt, ap);
		return;
	}
	if (sink_fn && pthread_equal(pthread_self(), sink_thread)) {
		char line[512];
		int n = snprintf(line, sizeof line, "%s: ", level_names[lvl]);
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
		sink_fn(sink_arg, line);
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

static void emitf(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emitf(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(lvl, fmt, ap);
	va_end(ap);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Ends the window of st at now: the summary of what it held back. */
static void close_window(struct log_site *st, uint64_t now)
{
	if (st->held) {
		emitf(st->lvl, "suppressed %lu similar lines in %.1f s; the last: %s", st->held,
		      (double)(now - st->start) / 1000, st->last);
		log_held_sites--;
	}
	st->start = now;
	st->n = st->held = 0;
}

static struct log_site *site_of(const char *fmt, enum log_level lvl)
{
	size_t h = ((uintptr_t)fmt >> 3) % LOG_SITES;
	for (size_t i = 0; i < LOG_SITES; i++) {
		struct log_site *st = &sites[(h + i) % LOG_SITES];
		if (st->fmt == fmt)
			return st;
		if (st->fmt == NULL) {
			st->fmt = fmt;
			st->lvl = lvl;
			return st;
		}
	}
	return NULL;
}

static int flush_locked(int force)
{
	if (log_held_sites == 0)
		return 0;
	uint64_t now = mono_ms();
	for (size_t i = 0; i < LOG_SITES && log_held_sites > 0; i++)
		if (sites[i].held && (force || now - sites[i].start >= LOG_WINDOW_MS))
			close_window(&sites[i], now);
	return log_held_sites > 0;
}

int log_flush(int force)
{
	pthread_mutex_lock(&site_lock);
	int rc = flush_locked(force);
	pthread_mutex_unlock(&site_lock);
	return rc;
}

void log_set_rate(int n)
{
	log_rate = n < 0 ? 0 : n;
}

void log_on_suppress(void (*fn)(void *arg), void *arg)
{
	suppress_fn = fn;
	suppress_arg = arg;
	suppress_thread = pthread_self();
}

/* A flood of one kind of line (a connect storm, a misbehaving peer) must
 * not fill the disk or bury the rest: per call site, log_rate lines a
 * second, then a count. */
static void log_v(enum log_level lvl, const char *fmt, va_list ap)
{
	if (lvl > log_max)
		return;
	if (log_rate == 0) {
		emit(lvl, fmt, ap);
		return;
	}
	pthread_mutex_lock(&site_lock);
	struct log_site *st = site_of(fmt, lvl);
	uint64_t now = mono_ms();
	flush_locked(0); /* others' summaries first, in time order */
	if (st && now - st->start >= LOG_WINDOW_MS)
		close_window(st, now);
	if (st == NULL || ++st->n <= (unsigned long)log_rate) {
		emit(lvl, fmt, ap);
		pthread_mutex_unlock(&site_lock);
		return;
	}
	vsnprintf(st->last, sizeof st->last, fmt, ap);
	int first = st->held++ == 0;
	log_held_sites += first;
	pthread_mutex_unlock(&site_lock);
	if (first && suppress_fn && pthread_equal(pthread_self(), suppress_thread))
		suppress_fn(suppress_arg);
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

void log_audit(const char *fmt, ...)
{
	if (LOG_LVL_INFO > log_max)
		return;
	va_list ap;
	va_start(ap, fmt);
	emit(LOG_LVL_INFO, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
