#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "notify.h"

/* Binds a datagram socket at name (a path, or "@abstract") and checks that
 * notify() delivers exactly msg to it. */
static void expect_delivery(const char *name, const char *msg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	memcpy(sun.sun_path, name, n);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&sun, (socklen_t)(sizeof(sa_family_t) + n)) == 0);
	setenv("NOTIFY_SOCKET", name, 1);
	CHECK_EQ(notify(msg), 0);
	char buf[256];
	ssize_t got = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	CHECK_EQ(got, (ssize_t)strlen(msg));
	if (got >= 0) {
		buf[got] = '\0';
		CHECK(strcmp(buf, msg) == 0);
	}
	close(fd);
}

static void test_path_and_abstract(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/dime-notify-%d", (int)getpid());
	unlink(path);
	expect_delivery(path, "READY=1\nSTATUS=ok");
	unlink(path);
	snprintf(path, sizeof(path), "@dime-notify-%d", (int)getpid());
	expect_delivery(path, "STOPPING=1");
}

static void test_absent_and_bad(void)
{
	unsetenv("NOTIFY_SOCKET");
	CHECK_EQ(notify("READY=1"), 0);		/* not under systemd: nothing to do */
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	CHECK(notify("READY=1") < 0);
	setenv("NOTIFY_SOCKET", "/nonexistent/dir/sock", 1);
	CHECK(notify("READY=1") < 0);
}

int main(void)
{
	RUN(test_path_and_abstract);
	RUN(test_absent_and_bad);
	return check_done();
}
