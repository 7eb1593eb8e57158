/*
 * udp_fill: N distinct UDP flows, one first packet each, to fill a socket
 * table the way a busy host would (dimed learns a flow from its first
 * packet). Flows are source addresses x destination ports: one socket per
 * source address, always bound to port 40000 (so a second call can resend
 * exactly the flows a first one sent), sending one 8-byte datagram to each
 * destination port 1..65535 in turn.
 *
 *   udp_fill SRC_FIRST NSRC DST FIRST COUNT PPS
 *
 * SRC_FIRST: first of NSRC consecutive IPv4 source addresses (local ones);
 * DST: IPv4 destination. Flow i (0 <= i < NSRC * 65535) goes from source
 * address i / 65535 to destination port 1 + i % 65535; this sends flows
 * FIRST .. FIRST+COUNT-1 at about PPS packets/s (0: no pacing), with
 * sendmmsg() in batches of 256, so a second call can resend a range.
 * Send errors are counted, not fatal.
 * Prints "sent=N errors=N secs=S" when done.
 *
 * Build: cc -O2 -o udp_fill udp_fill.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
#define PORTS 65535u

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct in_addr src0, dst;

	if (argc != 7 || inet_pton(AF_INET, argv[1], &src0) != 1 || inet_pton(AF_INET, argv[3], &dst) != 1) {
		fprintf(stderr, "usage: udp_fill SRC_FIRST NSRC DST FIRST COUNT PPS\n");
		return 2;
	}
	unsigned nsrc = (unsigned)strtoul(argv[2], NULL, 0);
	unsigned long first = strtoul(argv[4], NULL, 0);
	unsigned long count = strtoul(argv[5], NULL, 0);
	double pps = strtod(argv[6], NULL);
	if (nsrc == 0 || (unsigned long)nsrc * PORTS < first + count) {
		fprintf(stderr, "udp_fill: %u sources give at most %lu flows\n", nsrc, (unsigned long)nsrc * PORTS);
		return 2;
	}

	int *fds = calloc(nsrc, sizeof(int));
	for (unsigned i = 0; i < nsrc; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(ntohl(src0.s_addr) + i),
					  .sin_port = htons(40000) };
		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		int sz = 4 << 20, one = 1;
		setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "udp_fill: bind %s: %s\n", inet_ntoa(sa.sin_addr), strerror(errno));
			return 1;
		}
	}

	static struct sockaddr_in to[BATCH];
	static struct mmsghdr msgs[BATCH];
	static struct iovec iov;
	static char payload[8] = "dimefill";
	unsigned long sent = 0, errors = 0;
	double t0 = now();

	iov.iov_base = payload;
	iov.iov_len = sizeof(payload);
	while (sent + errors < count) {
		unsigned long base = first + sent + errors;
		unsigned src = (unsigned)(base / PORTS);
		unsigned n = BATCH;
		/* A batch stays on one socket (one source address). */
		if (n > first + count - base)
			n = (unsigned)(first + count - base);
		if (n > PORTS - base % PORTS)
			n = (unsigned)(PORTS - base % PORTS);
		for (unsigned i = 0; i < n; i++) {
			to[i].sin_family = AF_INET;
			to[i].sin_addr = dst;
			to[i].sin_port = htons((uint16_t)(1 + (base + i) % PORTS));
			msgs[i].msg_hdr = (struct msghdr){ .msg_name = &to[i], .msg_namelen = sizeof(to[i]),
							   .msg_iov = &iov, .msg_iovlen = 1 };
		}
		int r = sendmmsg(fds[src], msgs, n, 0);
		if (r <= 0) {
			errors++;	/* skip the packet that failed */
			continue;
		}
		sent += (unsigned long)r;
		if (pps > 0) {
			double ahead = (double)(sent + errors) / pps - (now() - t0);
			if (ahead > 0)
				usleep((useconds_t)(ahead * 1e6));
		}
	}
	printf("sent=%lu errors=%lu secs=%.3f\n", sent, errors, now() - t0);
	return 0;
}
