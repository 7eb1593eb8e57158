#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static int log_max = LOG_INFO;
static bool log_prefixes = false;	/* until log_init: argument errors read plainly */

void log_init(int max_priority, bool prefixes)
{
	log_max = max_priority;
	log_prefixes = prefixes;
}

void log_set_level(int max_priority)
{
	log_max = max_priority;
}

/* Levels by name: the first name of each is its own; aliases are taken
 * on the command line, where people type them, not in dimed.conf. */
static const struct { const char *name; int prio; bool alias; } levels[] = {
	{ "err", LOG_ERR, false }, { "warning", LOG_WARNING, false }, { "notice", LOG_NOTICE, false },
	{ "info", LOG_INFO, false }, { "debug", LOG_DEBUG, false },
	{ "error", LOG_ERR, true }, { "warn", LOG_WARNING, true },
};

int log_level_parse(const char *name, bool lenient)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (lenient ? !strcasecmp(name, levels[i].name) : !levels[i].alias && !strcmp(name, levels[i].name))
			return levels[i].prio;
	return -1;
}

const char *log_level_name(int prio)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (levels[i].prio == prio)
			return levels[i].name;
	return NULL;
}

void log_msg(int prio, const char *fmt, ...)
{
	int err = prio & LOG_WITH_ERRNO ? errno : 0;	/* before anything here changes it */
	char line[1024];
	va_list ap;
	int n;

	prio &= ~LOG_WITH_ERRNO;
	if (prio > log_max)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (log_prefixes)
		fprintf(stderr, "<%d>", prio);
	if (err)
		fprintf(stderr, "%s: %s\n", line, strerror(err));
	else
		fprintf(stderr, "%s\n", line);
}

bool log_allow(struct log_limit *l, unsigned long now_s, unsigned burst)
{
	unsigned long window = now_s / 10;

	if (window != l->window) {
		if (l->suppressed)
			log_msg(LOG_NOTICE, "%u similar messages suppressed", l->suppressed);
		l->window = window;
		l->count = 0;
		l->suppressed = 0;
	}
	if (l->count < burst) {
		l->count++;
		return true;
	}
	l->suppressed++;
	return false;
}
