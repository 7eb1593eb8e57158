/* dimectl: the command-line front end of dimed. Shares only the control
 * protocol with it (ctl_proto.h, ctl_commands.c). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "build_config.h"
#include "ctl_proto.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: dimectl [-s PATH] [-j] COMMAND [ARGS]\n"
		   "  -s, --socket PATH  control socket (default %s)\n"
		   "  -j, --json         JSON output\n"
		   "  -h, --help         this text\n"
		   "  -V, --version      print the version\n"
		   "commands:\n", CTL_DEFAULT_PATH);
	for (size_t i = 0; i < ctl_ncommands; i++) {
		const struct ctl_command *c = &ctl_commands[i];
		char use[64];
		snprintf(use, sizeof(use), "%s%s%s%s", c->name, c->sub ? " " : "", c->sub ? c->sub : "", c->args);
		fprintf(f, "  %-40s %s\n", use, c->help);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *path = getenv("DIMECTL_SOCKET") ? getenv("DIMECTL_SOCKET") : CTL_DEFAULT_PATH;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "+s:jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("dimectl %s\n", DIME_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}

	char line[CTL_MAX_LINE];
	size_t len = (size_t)snprintf(line, sizeof(line), "%s%s", CTL_VERSION, json ? " -j" : "");
	for (int i = optind; i < argc; i++) {
		if (strpbrk(argv[i], " \t\r\n") || !*argv[i]) {
			fprintf(stderr, "dimectl: arguments may not be empty or contain spaces: \"%s\"\n", argv[i]);
			return 2;
		}
		len += (size_t)snprintf(line + len, len < sizeof(line) ? sizeof(line) - len : 0, " %s", argv[i]);
	}
	if (len + 1 >= sizeof(line)) {
		fprintf(stderr, "dimectl: command too long\n");
		return 2;
	}
	line[len++] = '\n';

	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "dimectl: socket path too long: %s\n", path);
		return 1;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		fprintf(stderr, "dimectl: cannot reach dimed at %s: %s%s\n", path, strerror(e),
			e == ENOENT || e == ECONNREFUSED ? " (is dimed running?)" : "");
		return 1;
	}
	/* The daemon may answer (busy, error) and close before reading all. */
	signal(SIGPIPE, SIG_IGN);
	if (write(fd, line, len) != (ssize_t)len && errno != EPIPE) {
		fprintf(stderr, "dimectl: sending to dimed: %s\n", strerror(errno));
		return 1;
	}
	/* A monitor stays connected: closing is how it ends, so keep our
	 * side open; every other command is one request. */
	bool monitor = optind < argc && !strcmp(argv[optind], "monitor");
	if (!monitor)
		shutdown(fd, SHUT_WR);

	/* The first line is the status; the rest is the body. */
	char buf[65536], head[CTL_MAX_LINE];
	size_t hlen = 0;
	bool in_body = false;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		size_t off = 0;
		while (!in_body && off < (size_t)n) {
			char ch = buf[off++];
			if (ch == '\n') {
				in_body = true;
				head[hlen] = '\0';
			} else if (hlen < sizeof(head) - 1) {
				head[hlen++] = ch;
			}
		}
		if (in_body && strcmp(head, "ok") == 0) {
			fwrite(buf + off, 1, (size_t)n - off, stdout);
			if (monitor)	/* a pipe sees each event at once */
				fflush(stdout);
		}
	}
	if (n < 0) {
		fprintf(stderr, "dimectl: reading from dimed: %s\n", strerror(errno));
		return 1;
	}
	if (!in_body) {
		fprintf(stderr, "dimectl: dimed closed the connection without an answer\n");
		return 1;
	}
	if (strcmp(head, "ok") != 0) {
		const char *msg = strncmp(head, "error: ", 7) == 0 ? head + 7 : head;
		fprintf(stderr, "dimectl: %s\n", msg);
		return 1;
	}
	return 0;
}
