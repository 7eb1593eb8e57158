/*
 * udp_blast: small UDP datagrams as fast as one socket can send them, from
 * a connected socket bound to SRC. Unlike iperf3 -u, it keeps going through
 * send errors (ENETUNREACH while a hard handoff has no address, EPERM from a
 * full queue), so one flow can outlive a move.
 *
 *   udp_blast SRC DST PORT SECS [LEN=64]
 *       for SECS seconds, then prints "sent=N errors=N secs=S"
 *   udp_blast SRC DST PORT -
 *       on command, for bench/fig9.sh: the socket -- and so the flow in
 *       dimed's socket table, translated once the host has moved -- stays
 *       the same across many measurements. Prints "port=N" (its local port)
 *       once the socket is up; then for each stdin line "SECS LEN" sends
 *       LEN-byte datagrams for SECS seconds and prints "sent=N errors=N
 *       secs=S"; exits at EOF. Every line is flushed at once (the caller
 *       waits for it). The send buffer is 4 MiB here.
 *
 * IPv4 or IPv6 (SRC and DST of one family). sendmmsg() in batches of 32.
 *
 * Build: cc -O2 -o udp_blast udp_blast.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sockaddr_of(const char *s, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((unsigned short)port);
		*len = sizeof(*a4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*a6);
		return AF_INET6;
	}
	return -1;
}

static char buf[65536];

/* Sends len-byte datagrams for secs seconds; prints the counts. */
static void blast(int fd, size_t len, double secs)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len < sizeof(buf) ? len : sizeof(buf) };
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	unsigned long long sent = 0, errors = 0;
	double t0 = now(), t = t0;
	unsigned loops = 0;
	while (t - t0 < secs) {
		int r = sendmmsg(fd, msgs, BATCH, 0);
		if (r < 0) {
			errors++;
			if (errno == ENETUNREACH || errno == EHOSTUNREACH || errno == EINVAL)
				usleep(1000);	/* no route: do not spin while the host moves */
		} else {
			sent += (unsigned)r;
		}
		if ((++loops & 63) == 0 || r < 0)
			t = now();
	}
	printf("sent=%llu errors=%llu secs=%.3f\n", sent, errors, now() - t0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage src, dst;
	socklen_t slen, dlen;
	bool on_command = argc == 5 && strcmp(argv[4], "-") == 0;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: udp_blast SRC DST PORT SECS [LEN]\n"
				"       udp_blast SRC DST PORT -   (then \"SECS LEN\" lines on stdin)\n");
		return 2;
	}
	int af = sockaddr_of(argv[1], 0, &src, &slen);
	if (af < 0 || sockaddr_of(argv[2], (unsigned)atoi(argv[3]), &dst, &dlen) != af) {
		fprintf(stderr, "udp_blast: bad addresses\n");
		return 2;
	}
	memset(buf, 'f', sizeof(buf));
	int fd = socket(af, SOCK_DGRAM, 0);
	int sz = 4 << 20;
	if (fd >= 0 && on_command)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (fd < 0 || bind(fd, (struct sockaddr *)&src, slen) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, dlen) < 0) {
		perror("udp_blast");
		return 1;
	}
	if (!on_command) {
		blast(fd, argc > 5 ? (size_t)atoi(argv[5]) : 64, strtod(argv[4], NULL));
		return 0;
	}

	struct sockaddr_storage me;
	socklen_t mlen = sizeof(me);
	getsockname(fd, (struct sockaddr *)&me, &mlen);
	printf("port=%u\n", ntohs(af == AF_INET ? ((struct sockaddr_in *)&me)->sin_port
						: ((struct sockaddr_in6 *)&me)->sin6_port));
	fflush(stdout);
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		double secs;
		unsigned len;
		if (sscanf(line, "%lf %u", &secs, &len) != 2) {
			printf("error=bad-command\n");
			fflush(stdout);
			continue;
		}
		blast(fd, len, secs);
	}
	return 0;
}
