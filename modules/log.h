/* log: where diagnostics go (stderr or syslog), the level filter, and
 * fatal() for start-up errors. Every per-connection line names its peer. */
#ifndef IM_LOG_H
#define IM_LOG_H

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the program tag, the destination ("stderr" or "syslog") and the most
 * verbose level printed. Returns 0, or -1 for an unknown destination. */
int log_init(const char *tag, const char *dest, enum log_level level);

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_level_parse(const char *s);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* At info level, never rate-limited: the record of who logged in, signed
 * up, left or was dropped or kicked. Each such line follows a successful
 * login, so it costs its author a login; none may be lost to a summary. */
void log_audit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allows at most n lines a second from one call site (one format string);
 * the rest are counted, and once the second is over one line says how
 * many were held back and shows the last of them. 0 = no limit. The
 * default is LOG_RATE_DEFAULT. */
#define LOG_RATE_DEFAULT 20
void log_set_rate(int n);

/* Sets fn to be called when a call site starts holding lines back, so an
 * event loop can call log_flush() a second later (fn must not log). */
void log_on_suppress(void (*fn)(void *arg), void *arg);

/* Sends the lines logged on the calling thread to fn ("LEVEL: text",
 * without a time) instead of stderr, e.g. into a full-screen view; NULL
 * goes back to stderr. Syslog is left alone. fn must not log. */
void log_set_sink(void (*fn)(void *arg, const char *line), void *arg);

/* Writes the summary of every call site whose second is over (all of
 * them with force). Returns 1 while some are still held back (call again
 * in a second), else 0. Exit runs it with force. */
int log_flush(int force);

/* Logs at error level and exits with status 1; for start-up only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
