/* log: stderr logging with <N> syslog-priority prefixes that journald parses. */
#ifndef DIME_LOG_H
#define DIME_LOG_H

#include <stdbool.h>
#include <syslog.h>

void log_init(int max_priority, bool prefixes);
void log_set_level(int max_priority);
/* "err", "warning", "notice", "info", "debug" -> priority, or -1; lenient:
 * any case, and "error" and "warn" too. */
int log_level_parse(const char *name, bool lenient);
/* Priority -> its name, or NULL. */
const char *log_level_name(int prio);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start-up only: log and exit(1). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* At most `burst` messages per 10 s for one call site; returns true if this one may be logged.
 * Keeps hostile input from flooding the journal. */
struct log_limit { unsigned long window; unsigned count, suppressed; };
bool log_allow(struct log_limit *l, unsigned long now_s, unsigned burst);

#endif
