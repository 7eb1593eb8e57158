/* ctl: the daemon side of the control socket. */
#ifndef DIME_CTL_H
#define DIME_CTL_H

#include <stdbool.h>

#include "out.h"

/* Runs one command. Returns 0, CTL_MONITOR (answer "ok" and keep the
 * client as an event monitor), or -errno with a one-line reason in err. */
#define CTL_MONITOR 1
typedef int (*ctl_fn)(void *arg, int argc, char **argv, bool privileged,
		      struct out *o, char *err, size_t errlen);

struct ctl;
int ctl_open(struct ctl **out, const char *path, ctl_fn fn, void *arg);
/* Whether a daemon answers on the control socket at path. */
bool ctl_in_use(const char *path);
void ctl_close(struct ctl *c);
int ctl_fd(const struct ctl *c);
/* Call when ctl_fd is readable, and for client fds registered via the hook. */
void ctl_accept(struct ctl *c);
/* The daemon's loop polls client fds too: ctl_client_fds lists them. */
int ctl_client_ready(struct ctl *c, int fd);

/* Queues one event line (text or JSON, as each monitor asked) for every
 * monitor client and sends what it can; never blocks, never grows beyond
 * each client's bounded queue (events.h, struct evq). */
void ctl_monitor_push(struct ctl *c, const char *text, const char *json);
unsigned ctl_monitors(const struct ctl *c);

/* Drops clients that made no progress for 2 s (monitors excepted); call it
 * from a timer. */
void ctl_expire(struct ctl *c);

/* epoll registration hook set by the loop owner: poll fd for these events
 * from now on (0: stop polling it). */
#define CTL_WATCH_READ	1
#define CTL_WATCH_WRITE	2
typedef void (*ctl_watch_fn)(void *arg, int fd, unsigned events);
void ctl_set_watch(struct ctl *c, ctl_watch_fn fn, void *arg);

#endif
