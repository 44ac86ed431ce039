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

/* Logs at error level and exits with status 1; for start-up only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
