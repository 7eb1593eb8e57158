/*
 * The control socket never blocks its caller (docs/ihmp.md T6): a client
 * that asks for a large response and does not read it leaves the response
 * pending in its buffer while another client is served; when it reads at
 * last it gets every byte; one that never reads is dropped after its idle
 * time.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "ctl.h"
#include "ctl_proto.h"

#define CHUNK 400		/* one text line of the response */
#define LINES 10000		/* 4 MB: far more than the socket buffers hold */
#define BIG (3 + LINES * (CHUNK + 1))	/* "ok\n", then the lines */

static unsigned watched[1024];

static void watch(void *arg, int fd, unsigned events)
{
	(void)arg;
	if (fd >= 0 && fd < 1024)
		watched[fd] = events;
}

static int big(void *arg, int argc, char **argv, bool privileged, struct out *o, char *err, size_t n)
{
	(void)arg, (void)privileged, (void)err, (void)n;
	if (argc == 1 && !strcmp(argv[0], "monitor"))
		return CTL_MONITOR;
	if (argc == 1 && !strcmp(argv[0], "big")) {
		char chunk[CHUNK + 1];
		memset(chunk, 'x', CHUNK);
		chunk[CHUNK] = '\0';
		for (unsigned i = 0; i < LINES; i++)
			out_str(o, NULL, chunk);
	}
	return 0;
}

static int client(const char *path, const char *cmd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	int sz = 4096;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		abort();
	char line[128];
	snprintf(line, sizeof(line), "%s %s\n", CTL_VERSION, cmd);
	if (write(fd, line, strlen(line)) < 0)
		abort();
	return fd;
}

/* Serves whatever is ready on the server side, without waiting. */
static void serve(struct ctl *c)
{
	ctl_accept(c);
	for (int fd = 0; fd < 1024; fd++)
		if (watched[fd]) {
			struct pollfd p = { .fd = fd, .events = (short)((watched[fd] & CTL_WATCH_READ ? POLLIN : 0) |
							      (watched[fd] & CTL_WATCH_WRITE ? POLLOUT : 0)) };
			if (poll(&p, 1, 0) > 0)
				ctl_client_ready(c, fd);
		}
}

static size_t read_all(int fd, struct ctl *c)
{
	char buf[65536];
	size_t total = 0;
	for (;;) {
		serve(c);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return total;
		total += (size_t)n;
	}
}

static void test_slow_reader(void)
{
	char dir[] = "/tmp/test-ctl-XXXXXX", path[64];
	struct ctl *c;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/sock", dir);
	CHECK_EQ(ctl_open(&c, path, big, NULL), 0);
	ctl_set_watch(c, watch, NULL);

	int slow = client(path, "big");
	for (int i = 0; i < 20; i++)
		serve(c);
	/* The response did not fit: it waits, and the loop polls for room. */
	int pending = 0;
	for (int fd = 0; fd < 1024; fd++)
		pending += (watched[fd] & CTL_WATCH_WRITE) != 0;
	CHECK_EQ(pending, 1);

	/* Meanwhile another client is served in full. */
	int quick = client(path, "small");
	size_t n = read_all(quick, c);
	CHECK(n >= 3);
	close(quick);

	/* The slow one reads at last: every byte is there. */
	n = read_all(slow, c);
	CHECK_EQ(n, BIG);
	close(slow);
	ctl_close(c);
	rmdir(dir);
}

/* Reads what is there now, serving the daemon side meanwhile. */
static size_t read_some(int fd, struct ctl *c, char *buf, size_t cap)
{
	size_t got = 0;
	for (int i = 0; i < 50; i++) {
		serve(c);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0) {
			if (got)
				break;
			continue;
		}
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

/* A monitor stays after its "ok", gets each event in the form it asked
 * for, outlives the idle expiry, and a slow one loses events instead of
 * holding memory: it is told how many when it reads again. */
static void test_monitor(void)
{
	char dir[] = "/tmp/test-ctl-XXXXXX", path[64], buf[1 << 17];
	struct ctl *c;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/sock", dir);
	CHECK_EQ(ctl_open(&c, path, big, NULL), 0);
	ctl_set_watch(c, watch, NULL);

	int t = client(path, "monitor"), j = client(path, "-j monitor");
	for (int i = 0; i < 10; i++)
		serve(c);
	CHECK_EQ(ctl_monitors(c), 2);
	read_some(t, c, buf, sizeof(buf));
	CHECK(!strcmp(buf, "ok\n"));
	read_some(j, c, buf, sizeof(buf));
	CHECK(!strcmp(buf, "ok\n"));
	ctl_monitor_push(c, "peer-up peer=x\n", "{\"event\":\"peer-up\"}\n");
	read_some(t, c, buf, sizeof(buf));
	CHECK(!strcmp(buf, "peer-up peer=x\n"));
	read_some(j, c, buf, sizeof(buf));
	CHECK(!strcmp(buf, "{\"event\":\"peer-up\"}\n"));

	/* Past the idle time, still there. */
	usleep(2100 * 1000);
	ctl_expire(c);
	CHECK_EQ(ctl_monitors(c), 2);

	/* j stops reading: far more than its queue and the socket hold. */
	char line[401];
	memset(line, 'e', 399);
	line[399] = '\n';
	line[400] = '\0';
	for (int i = 0; i < 2000; i++)
		ctl_monitor_push(c, line, line);
	size_t n = 0;
	for (;;) {
		size_t k = read_some(j, c, buf, sizeof(buf));
		if (!k)
			break;
		n += k;
		if (strstr(buf, "events lost"))
			break;
	}
	CHECK(n < 2000 * 400);
	ctl_monitor_push(c, "last\n", "last\n");
	size_t k = read_some(j, c, buf, sizeof(buf));
	(void)k;
	char *lost = strstr(buf, "{\"event\":\"events-lost\",\"count\":");
	CHECK(lost != NULL);
	CHECK(lost && strstr(lost, "}\nlast\n") != NULL);

	/* A monitor that goes frees its slot. */
	close(t);
	close(j);
	for (int i = 0; i < 10; i++)
		serve(c);
	CHECK_EQ(ctl_monitors(c), 0);
	ctl_close(c);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	RUN(test_slow_reader);
	RUN(test_monitor);
	return check_done();
}
