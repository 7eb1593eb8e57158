/* log: stderr logging with <N> syslog-priority prefixes that journald parses. */
#ifndef DIME_LOG_H
#define DIME_LOG_H

#include <stdbool.h>
#include <stdlib.h>
#include <syslog.h>

void log_init(int max_priority, bool prefixes);
void log_set_level(int max_priority);
/* "err", "warning", "notice", "info", "debug" -> priority, or -1; lenient:
 * any case, and "error" and "warn" too. */
int log_level_parse(const char *name, bool lenient);
/* Priority -> its name, or NULL. */
const char *log_level_name(int prio);

/* Or'ed into prio: append ": strerror(errno)", errno as log_msg found it. */
#define LOG_WITH_ERRNO	0x10000

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
#define log_warn(...)	log_msg(LOG_WARNING | LOG_WITH_ERRNO, __VA_ARGS__)
#define log_warnx(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)
/* Start-up only: log and exit(1). */
#define fatal(...)	(log_msg(LOG_ERR | LOG_WITH_ERRNO, __VA_ARGS__), exit(1))
#define fatalx(...)	(log_msg(LOG_ERR, __VA_ARGS__), exit(1))

/* At most `burst` messages per 10 s for one call site; returns true if this one may be logged.
 * Keeps hostile input from flooding the journal. */
struct log_limit { unsigned long window; unsigned count, suppressed; };
bool log_allow(struct log_limit *l, unsigned long now_s, unsigned burst);

#endif
