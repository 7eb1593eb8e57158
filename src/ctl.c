/*
 * Control socket server. Clients are local and short-lived: each sends one
 * line, gets one response, and is closed. Nothing here ever blocks the
 * event loop (docs/ihmp.md T6): reads and writes are non-blocking, a
 * response the client does not take at once waits in that client's buffer
 * (at most CTL_MAX_OUT) while the loop polls for it, and a client that
 * makes no progress for CTL_IDLE_MS is dropped. A monitor client (at most
 * CTL_MAX_MONITORS) stays after its "ok" and is sent event lines from a
 * bounded queue: a slow one loses events, it never holds the loop or memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "build_config.h"
#include "ctl.h"
#include "ctl_proto.h"
#include "events.h"
#include "log.h"

#define CTL_MAX_CLIENTS 16
#define CTL_MAX_MONITORS 8	/* the rest stay for commands */

#define CTL_IDLE_MS 2000	/* a client that makes no progress is dropped after this */
#define CTL_MAX_OUT (64u << 20)	/* one response, buffered for a slow reader */

struct ctl_client {
	int fd;
	bool privileged;
	uint64_t since;		/* ms, monotonic: connected, or last progress */
	bool draining;		/* answered; swallow the rest until the client closes */
	bool drain_after;	/* once the response is out: drain (else close) */
	size_t len;
	char buf[CTL_MAX_LINE];
	char *out;		/* the response still to send, from out_off */
	size_t out_len, out_off;
	struct evq *mon;	/* a monitor: its queue of event lines */
};

struct ctl {
	int fd;
	char path[108];
	ctl_fn fn;
	void *arg;
	ctl_watch_fn watch;
	void *watch_arg;
	struct ctl_client clients[CTL_MAX_CLIENTS];
};

bool ctl_in_use(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	bool used = false;

	if (strlen(path) >= sizeof(sun.sun_path))
		return false;
	strcpy(sun.sun_path, path);
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		used = connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0;
		close(probe);
	}
	return used;
}

int ctl_open(struct ctl **out, const char *path, ctl_fn fn, void *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ctl *c;
	int ret;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		c->clients[i].fd = -1;
	c->fn = fn;
	c->arg = arg;
	strcpy(sun.sun_path, path);
	strcpy(c->path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		goto fail_errno;

	/* Refuse to steal the socket of a daemon that is still running. */
	if (ctl_in_use(path)) {
		ret = -EADDRINUSE;
		goto fail;
	}
	unlink(path);

	mode_t old = umask(0117);	/* 0660: owner and group may control */
	ret = bind(c->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (ret < 0 || listen(c->fd, 16) < 0)
		goto fail_errno;
	*out = c;
	return 0;
fail_errno:
	ret = -errno;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return ret;
}

static void ctl_drop(struct ctl *c, struct ctl_client *cl)
{
	if (c->watch)
		c->watch(c->watch_arg, cl->fd, 0);
	close(cl->fd);
	free(cl->out);
	free(cl->mon);
	cl->mon = NULL;
	cl->out = NULL;
	cl->out_len = cl->out_off = 0;
	cl->fd = -1;
	cl->len = 0;
	cl->draining = cl->drain_after = false;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			ctl_drop(c, &c->clients[i]);
	close(c->fd);
	unlink(c->path);
	free(c);
}

int ctl_fd(const struct ctl *c)
{
	return c->fd;
}

void ctl_set_watch(struct ctl *c, ctl_watch_fn fn, void *arg)
{
	c->watch = fn;
	c->watch_arg = arg;
}

void ctl_accept(struct ctl *c)
{
	for (;;) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct ctl_client *cl = NULL;
		for (int i = 0; i < CTL_MAX_CLIENTS && !cl; i++)
			if (c->clients[i].fd < 0)
				cl = &c->clients[i];
		if (!cl) {
			/* Full: the client that has waited longest without a
			 * request gives way, so idle connections can never lock
			 * operators out. */
			static const char busy[] = "error: too many control clients\n";
			for (int i = 0; i < CTL_MAX_CLIENTS; i++)
				if (!c->clients[i].mon && (!cl || c->clients[i].since < cl->since))
					cl = &c->clients[i];
			(void)!send(cl->fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			ctl_drop(c, cl);
		}
		struct ucred cred;
		socklen_t len = sizeof(cred);
		cl->fd = fd;
		cl->len = 0;
		cl->since = clock_ms();
		/* Anyone the socket's file mode lets in may look; only root and
		 * our own user may change state. */
		cl->privileged = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
				 (cred.uid == 0 || cred.uid == geteuid());
		if (c->watch)
			c->watch(c->watch_arg, fd, CTL_WATCH_READ);
	}
}

/* Sends what it can of the pending response without blocking. Returns
 * true when all of it is out (or the client is gone: it is dropped). */
static bool ctl_flush(struct ctl *c, struct ctl_client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (c->watch)
				c->watch(c->watch_arg, cl->fd, CTL_WATCH_WRITE);
			return false;
		}
		if (n <= 0) {
			ctl_drop(c, cl);
			return true;
		}
		cl->out_off += (size_t)n;
		cl->since = clock_ms();
	}
	free(cl->out);
	cl->out = NULL;
	cl->out_len = cl->out_off = 0;
	if (cl->drain_after) {
		/* Closing with unread input would reset the connection under
		 * the answer: read and discard the rest until the client goes. */
		shutdown(cl->fd, SHUT_WR);
		cl->draining = true;
		cl->len = 0;
		if (c->watch)
			c->watch(c->watch_arg, cl->fd, CTL_WATCH_READ);
	} else {
		ctl_drop(c, cl);
	}
	return true;
}

static void ctl_reply(struct ctl *c, struct ctl_client *cl, const char *head, const char *body);

/* Sends what it can of a monitor's queue; polls for the rest. */
static void ctl_mon_flush(struct ctl *c, struct ctl_client *cl)
{
	struct evq *q = cl->mon;

	while (q->len) {
		ssize_t n = send(cl->fd, q->buf + q->off, q->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			ctl_drop(c, cl);
			return;
		}
		evq_consumed(q, (size_t)n);
	}
	/* Reading too: the client closing is how a monitor ends. */
	if (c->watch)
		c->watch(c->watch_arg, cl->fd, CTL_WATCH_READ | (q->len ? CTL_WATCH_WRITE : 0));
}

unsigned ctl_monitors(const struct ctl *c)
{
	unsigned n = 0;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		n += c->clients[i].mon != NULL;
	return n;
}

void ctl_monitor_push(struct ctl *c, const char *text, const char *json)
{
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *cl = &c->clients[i];
		if (!cl->mon)
			continue;
		evq_push(cl->mon, cl->mon->json ? json : text);
		ctl_mon_flush(c, cl);
	}
}

/* Turns cl into a monitor, its "ok" the first line of its queue. */
static void ctl_subscribe(struct ctl *c, struct ctl_client *cl, bool json)
{
	if (ctl_monitors(c) >= CTL_MAX_MONITORS) {
		ctl_reply(c, cl, "error: too many monitors\n", NULL);
		return;
	}
	if (!(cl->mon = calloc(1, sizeof(*cl->mon)))) {
		ctl_reply(c, cl, "error: out of memory\n", NULL);
		return;
	}
	cl->mon->json = json;
	cl->len = 0;
	evq_push(cl->mon, "ok\n");
	ctl_mon_flush(c, cl);
}

/* Queues head and body as the client's response and starts sending it. */
static void ctl_reply(struct ctl *c, struct ctl_client *cl, const char *head, const char *body)
{
	size_t hl = strlen(head), bl = body ? strlen(body) : 0;

	if (hl + bl > CTL_MAX_OUT) {
		head = "error: response too large\n";
		hl = strlen(head), bl = 0;
	}
	if (!(cl->out = malloc(hl + bl))) {
		ctl_drop(c, cl);
		return;
	}
	memcpy(cl->out, head, hl);
	if (bl)
		memcpy(cl->out + hl, body, bl);
	cl->out_len = hl + bl;
	cl->out_off = 0;
	ctl_flush(c, cl);
}

static void ctl_run(struct ctl *c, struct ctl_client *cl)
{
	char *argv[CTL_MAX_ARGS + 1], *save = NULL, err[256] = "";
	int argc = 0;
	bool json = false;
	struct out o;

	cl->buf[cl->len] = '\0';
	char *line = cl->buf;
	line[strcspn(line, "\r\n")] = '\0';
	char *w = strtok_r(line, " \t", &save);
	if (!w || strcmp(w, CTL_VERSION) != 0) {
		ctl_reply(c, cl, "error: unsupported protocol (expected \"" CTL_VERSION "\")\n", NULL);
		return;
	}
	while ((w = strtok_r(NULL, " \t", &save))) {
		if (argc == 0 && !json && !strcmp(w, "-j")) {
			json = true;
			continue;
		}
		if (argc == CTL_MAX_ARGS) {
			ctl_reply(c, cl, "error: too many arguments\n", NULL);
			return;
		}
		argv[argc++] = w;
	}
	argv[argc] = NULL;
	if (!argc) {
		ctl_reply(c, cl, "error: no command\n", NULL);
		return;
	}
	out_init(&o, json);
	int ret = c->fn(c->arg, argc, argv, cl->privileged, &o, err, sizeof(err));
	const char *body = out_done(&o);
	if (ret == CTL_MONITOR) {
		ctl_subscribe(c, cl, json);
	} else if (ret < 0 || !body) {
		char head[300];
		snprintf(head, sizeof(head), "error: %s\n", body ? err : "out of memory");
		ctl_reply(c, cl, head, NULL);
	} else {
		ctl_reply(c, cl, "ok\n", body);
	}
	out_free(&o);
}

/* Reads and throws away what the client sent; drops it at its EOF or an
 * error. Whether it is still there. */
static bool ctl_discard(struct ctl *c, struct ctl_client *cl)
{
	char sink[4096];
	ssize_t d;

	while ((d = read(cl->fd, sink, sizeof(sink))) > 0)
		;
	if (d == 0 || (errno != EAGAIN && errno != EINTR)) {
		ctl_drop(c, cl);
		return false;
	}
	return true;
}

int ctl_client_ready(struct ctl *c, int fd)
{
	struct ctl_client *cl = NULL;

	for (int i = 0; i < CTL_MAX_CLIENTS && !cl; i++)
		if (c->clients[i].fd == fd)
			cl = &c->clients[i];
	if (!cl)
		return -ENOENT;
	if (cl->mon) {
		/* Whatever a monitor sends is ignored; its EOF or error ends it. */
		if (ctl_discard(c, cl))
			ctl_mon_flush(c, cl);
		return 0;
	}
	if (cl->out) {
		ctl_flush(c, cl);
		return 0;
	}
	if (cl->draining) {
		ctl_discard(c, cl);
		return 0;
	}
	ssize_t n = read(fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n > 0)
		cl->len += (size_t)n;
	bool complete = memchr(cl->buf, '\n', cl->len) != NULL || n == 0;
	if (n < 0 || (n == 0 && cl->len == 0)) {
		ctl_drop(c, cl);
		return 0;
	}
	if (!complete && cl->len == sizeof(cl->buf) - 1) {
		cl->drain_after = true;
		ctl_reply(c, cl, "error: request line too long\n", NULL);
		return 0;
	}
	if (complete)
		ctl_run(c, cl);
	return 0;
}

void ctl_expire(struct ctl *c)
{
	uint64_t now = clock_ms();

	/* Idle clients, and readers that stopped taking their response, must
	 * not lock everyone else out or hold memory. */
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0 && !c->clients[i].mon && now - c->clients[i].since > CTL_IDLE_MS)
			ctl_drop(c, &c->clients[i]);
}
