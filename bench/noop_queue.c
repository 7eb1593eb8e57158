/*
 * noop_queue: the cheapest possible NFQUEUE consumer, to compare dimed with.
 *
 *   noop_queue [-c] [-1] [-F] [-q MAXLEN] [-s FILE] QUEUE_NUM
 *
 * Binds QUEUE_NUM (copy mode, 0xffff bytes, NFQA_CFG_F_GSO, fail-open unless
 * -F) and gives every packet an NF_ACCEPT verdict, one verdict message per
 * packet. Until SIGTERM/SIGINT; then it writes "packets=N modified=N ..."
 * to FILE (-s) or stderr.
 *
 *   default  recvmmsg() up to 64 queue messages at a time; their verdicts
 *            leave together in one sendmsg() (what dimed does).
 *   -1       one recv() and one send() per packet: the naive consumer.
 *   -c       copy mode: re-inject every packet unchanged, payload copied
 *            back. The kernel then treats the packet as modified (its
 *            checksum state becomes CHECKSUM_NONE), so where the kernel left
 *            only the pseudo-header sum (NFQA_SKB_CSUMNOTREADY, GSO) we write
 *            the complete TCP/UDP checksum, as any translator must.
 *   -F       no fail-open: when the queue is full the kernel drops, so every
 *            packet that arrives went through this program.
 *
 * Build: cc -O2 -o noop_queue noop_queue.c \
 *            $(pkg-config --cflags --libs libnetfilter_queue libmnl)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define BATCH	64
#define RXSZ	(0xffff + 4096)
#define TXSZ	(1 << 20)

static volatile sig_atomic_t stop;
static struct mnl_socket *nl;
static unsigned qnum;
static int copy_mode, single;
static uint8_t *rx, *tx;
static size_t txlen;
static unsigned long long n_pkts, n_mod, n_bytes, n_recv_calls, n_send_calls, n_errors;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int config(void (*put)(struct nlmsghdr *, uint32_t), uint32_t arg)
{
	char buf[8192];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, qnum);

	nlh->nlmsg_flags |= NLM_F_ACK;
	put(nlh, arg);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -1;
	return mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), NULL, NULL) < 0 ? -1 : 0;
}

static void put_bind(struct nlmsghdr *nlh, uint32_t unused)
{
	(void)unused;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
}

static void put_params(struct nlmsghdr *nlh, uint32_t flags)
{
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
}

static void put_maxlen(struct nlmsghdr *nlh, uint32_t maxlen)
{
	nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
}

/* Ones'-complement sum, 64-bit accumulator. */
static uint64_t sum_bytes(const uint8_t *p, size_t n, uint64_t s)
{
	while (n >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		s += w;
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		s += w;
		p += 2;
		n -= 2;
	}
	if (n) {
		uint16_t w = 0;
		memcpy(&w, p, 1);
		s += w;
	}
	return s;
}

static uint16_t fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Writes the complete TCP/UDP checksum of an IPv4/IPv6 packet (no IPv6
 * extension headers: the benchmark's traffic has none). */
static void full_l4_csum(uint8_t *p, size_t len)
{
	size_t l4off;
	uint8_t proto;
	uint64_t s = 0;

	if (len < 20)
		return;
	if ((p[0] >> 4) == 4) {
		l4off = (size_t)(p[0] & 15) * 4;
		proto = p[9];
		s = sum_bytes(p + 12, 8, 0);
	} else if ((p[0] >> 4) == 6 && len >= 40) {
		l4off = 40;
		proto = p[6];
		s = sum_bytes(p + 8, 32, 0);
	} else {
		return;
	}
	if (len <= l4off)
		return;
	size_t l4len = len - l4off, coff;
	if (proto == IPPROTO_TCP && l4len >= 20)
		coff = 16;
	else if (proto == IPPROTO_UDP && l4len >= 8)
		coff = 6;
	else
		return;
	s += htonl((uint32_t)l4len) + htonl(proto);
	p[l4off + coff] = p[l4off + coff + 1] = 0;
	s = sum_bytes(p + l4off, l4len, s);
	uint16_t c = (uint16_t)~fold(s);
	if (proto == IPPROTO_UDP && c == 0)
		c = 0xffff;
	memcpy(p + l4off + coff, &c, 2);
}

static void flush(void)
{
	if (!txlen)
		return;
	if (mnl_socket_sendto(nl, tx, txlen) < 0)
		n_errors++;
	n_send_calls++;
	txlen = 0;
}

static void handle(const struct nlmsghdr *nlh)
{
	struct nlattr *attr[NFQA_MAX + 1] = { 0 };

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
		if (e->error)
			n_errors++;
		return;
	}
	if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFQNL_MSG_PACKET || nfq_nlmsg_parse(nlh, attr) < 0 ||
	    !attr[NFQA_PACKET_HDR])
		return;
	const struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	uint8_t *data = attr[NFQA_PAYLOAD] ? mnl_attr_get_payload(attr[NFQA_PAYLOAD]) : NULL;
	uint32_t len = attr[NFQA_PAYLOAD] ? mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]) : 0;
	uint32_t skbinfo = attr[NFQA_SKB_INFO] ? ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO])) : 0;
	int truncated = attr[NFQA_CAP_LEN] && ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) != len;
	int mod = copy_mode && data && !truncated;

	if (txlen + 256 + (mod ? len : 0) > TXSZ)
		flush();
	struct nlmsghdr *v = nfq_nlmsg_put((char *)tx + txlen, NFQNL_MSG_VERDICT, qnum);
	nfq_nlmsg_verdict_put(v, (int)ntohl(ph->packet_id), NF_ACCEPT);
	if (mod) {
		if (skbinfo & (NFQA_SKB_CSUMNOTREADY | NFQA_SKB_GSO))
			full_l4_csum(data, len);
		nfq_nlmsg_verdict_put_pkt(v, data, len);
		n_mod++;
	}
	txlen += NLMSG_ALIGN(v->nlmsg_len);
	n_pkts++;
	n_bytes += len;
	if (single)
		flush();
}

int main(int argc, char **argv)
{
	const char *statfile = NULL;
	uint32_t flags = NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN, maxlen = 4096;
	int opt;

	while ((opt = getopt(argc, argv, "c1Fq:s:")) != -1) {
		switch (opt) {
		case 'c': copy_mode = 1; break;
		case '1': single = 1; break;
		case 'F': flags &= ~(uint32_t)NFQA_CFG_F_FAIL_OPEN; break;
		case 'q': maxlen = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 's': statfile = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1) {
usage:
		fprintf(stderr, "usage: noop_queue [-c] [-1] [-F] [-q MAXLEN] [-s FILE] QUEUE_NUM\n");
		return 2;
	}
	qnum = (unsigned)strtoul(argv[optind], NULL, 0);
	rx = malloc((size_t)BATCH * RXSZ);
	tx = malloc(TXSZ);
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!rx || !tx || !nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("noop_queue: netlink socket");
		return 1;
	}
	int fd = mnl_socket_get_fd(nl), one = 1, rcvbuf = 64 << 20, sndbuf = 2 * TXSZ;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	if (config(put_bind, 0) < 0 || config(put_params, flags) < 0 || config(put_maxlen, maxlen) < 0) {
		fprintf(stderr, "noop_queue: cannot bind queue %u: %s\n", qnum, strerror(errno));
		return 1;
	}

	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART: wake recv */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	while (!stop) {
		int n;
		if (single) {
			ssize_t r = recv(fd, rx, RXSZ, 0);
			if (r < 0) {
				if (errno != EINTR)
					n_errors++;
				continue;
			}
			msgs[0].msg_len = (unsigned)r;
			iov[0].iov_base = rx;
			n = 1;
		} else {
			memset(msgs, 0, sizeof(msgs));
			for (int i = 0; i < BATCH; i++) {
				iov[i].iov_base = rx + (size_t)i * RXSZ;
				iov[i].iov_len = RXSZ;
				msgs[i].msg_hdr.msg_iov = &iov[i];
				msgs[i].msg_hdr.msg_iovlen = 1;
			}
			/* Block for the first message, take what else is there. */
			n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
			if (n < 0) {
				if (errno != EINTR)
					n_errors++;
				continue;
			}
		}
		n_recv_calls++;
		for (int i = 0; i < n; i++) {
			const struct nlmsghdr *nlh = iov[i].iov_base;
			int len = (int)msgs[i].msg_len;
			for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
				handle(nlh);
		}
		flush();
	}

	FILE *f = statfile ? fopen(statfile, "w") : stderr;
	if (!f)
		f = stderr;
	fprintf(f, "packets=%llu modified=%llu bytes=%llu recv_calls=%llu send_calls=%llu errors=%llu\n",
		n_pkts, n_mod, n_bytes, n_recv_calls, n_send_calls, n_errors);
	if (f != stderr)
		fclose(f);
	mnl_socket_close(nl);
	return 0;
}
