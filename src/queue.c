/*
 * NFQUEUE I/O over libmnl. One recvmmsg() reads a batch of packets, verdicts
 * accumulate in one buffer and leave in one sendmsg(): the per-packet system
 * call cost is what limits a userspace translator, not the rewriting.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/netlink.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

/* Large enough for any dump message: netlink caps them at 32 KiB. */
#define NL_BUFSZ 32768

#include "log.h"
#include "queue.h"

#define QUEUE_RXSZ	((64 << 10) + 4096)	/* a full copy plus netlink/nfq headers; keeps every buffer aligned */
#define QUEUE_TXSZ	(64 << 10)		/* verdict headers of one batch */
#define QUEUE_IOV	(4 * QUEUE_BATCH + 8)
#define QUEUE_SENDMAX	(1 << 20)		/* bytes per sendmsg */
#define QUEUE_RCVBUF	(64 << 20)

struct queue {
	struct mnl_socket *nl;
	uint16_t num;
	uint32_t portid;
	uint8_t *rx;			/* QUEUE_BATCH buffers of QUEUE_RXSZ */
	uint8_t *tx;			/* verdict headers */
	size_t txlen, txsent;		/* bytes of tx written; of those, already in iov */
	/* A batch of verdicts leaves as one sendmsg: header bytes from tx, and
	 * modified payloads straight from the receive buffers (no 64 KiB copy). */
	struct iovec iov[QUEUE_IOV];
	int niov;
	size_t iovbytes;
	struct queue_stats stats;
};

static int queue_config(struct queue *q, void (*put)(struct nlmsghdr *, const void *), const void *arg)
{
	char buf[NL_BUFSZ];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);

	nlh->nlmsg_flags |= NLM_F_ACK;
	put(nlh, arg);
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(q->nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		int r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, q->portid, NULL, NULL);
		if (r <= 0)
			return r < 0 ? -errno : 0;
	}
}

static void put_bind(struct nlmsghdr *nlh, const void *arg)
{
	(void)arg;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
}

static void put_params(struct nlmsghdr *nlh, const void *arg)
{
	uint32_t maxlen = *(const uint32_t *)arg;
	uint32_t flags = NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN;

	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(flags));
}

int queue_open(struct queue **out, uint16_t num, uint32_t maxlen)
{
	struct queue *q = calloc(1, sizeof(*q));
	int r = -ENOMEM;

	if (!q)
		return -ENOMEM;
	q->num = num;
	q->rx = malloc((size_t)QUEUE_BATCH * QUEUE_RXSZ);
	q->tx = malloc(QUEUE_TXSZ);
	if (!q->rx || !q->tx)
		goto fail;
	q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!q->nl || mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	q->portid = mnl_socket_get_portid(q->nl);

	int fd = mnl_socket_get_fd(q->nl), one = 1, rcvbuf = QUEUE_RCVBUF, sndbuf = 2 * QUEUE_SENDMAX;
	/* A queue message lost to ENOBUFS leaves its packet held in the kernel:
	 * keep the buffer large and do not report overruns as errors. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	/* One sendmsg must fit the send buffer or it fails with EMSGSIZE. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	if ((r = queue_config(q, put_bind, NULL)) < 0) {
		log_warnx("nfqueue %u: cannot bind: %s", num, strerror(-r));
		goto fail;
	}
	if ((r = queue_config(q, put_params, &maxlen)) < 0) {
		log_warnx("nfqueue %u: cannot set parameters: %s", num, strerror(-r));
		goto fail;
	}
	*out = q;
	return 0;
fail:
	queue_close(q);
	return r;
}

void queue_close(struct queue *q)
{
	if (!q)
		return;
	if (q->nl)
		mnl_socket_close(q->nl);
	free(q->rx);
	free(q->tx);
	free(q);
}

int queue_fd(const struct queue *q)
{
	return mnl_socket_get_fd(q->nl);
}

const struct queue_stats *queue_get_stats(const struct queue *q)
{
	return &q->stats;
}

/* Adds tx bytes written since the last call to the iovec list. */
static void queue_iov_tx(struct queue *q)
{
	size_t n = q->txlen - q->txsent;

	if (!n)
		return;
	struct iovec *last = q->niov ? &q->iov[q->niov - 1] : NULL;
	if (last && (uint8_t *)last->iov_base + last->iov_len == q->tx + q->txsent)
		last->iov_len += n;	/* contiguous with the previous header run */
	else
		q->iov[q->niov++] = (struct iovec){ q->tx + q->txsent, n };
	q->iovbytes += n;
	q->txsent = q->txlen;
}

static void queue_flush(struct queue *q)
{
	queue_iov_tx(q);
	if (!q->niov)
		return;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct msghdr mh = { .msg_name = &kernel, .msg_namelen = sizeof(kernel),
			     .msg_iov = q->iov, .msg_iovlen = (size_t)q->niov };
	if (sendmsg(queue_fd(q), &mh, 0) < 0) {
		q->stats.send_errors++;
		log_warn("nfqueue %u: sending verdicts", q->num);
	}
	q->txlen = q->txsent = 0;
	q->niov = 0;
	q->iovbytes = 0;
}

/* Room for one more verdict of `payload` bytes, flushing first if needed. */
static struct nlmsghdr *queue_verdict_msg(struct queue *q, size_t payload)
{
	if (q->txlen + 256 > QUEUE_TXSZ || q->niov + 4 > QUEUE_IOV ||
	    q->iovbytes + (q->txlen - q->txsent) + payload + 256 > QUEUE_SENDMAX)
		queue_flush(q);
	return nfq_nlmsg_put((char *)q->tx + q->txlen, NFQNL_MSG_VERDICT, q->num);
}

void queue_verdict(struct queue *q, const struct queue_pkt *p, bool modified, uint32_t clear_mark)
{
	static const uint8_t zeros[NLA_ALIGNTO];

	if (modified && p->truncated)
		modified = false;	/* the kernel would trim the packet to our copy */
	struct nlmsghdr *nlh = queue_verdict_msg(q, modified ? p->len : 0);

	nfq_nlmsg_verdict_put(nlh, (int)p->id, NF_ACCEPT);
	if (p->mark & clear_mark)
		nfq_nlmsg_verdict_put_mark(nlh, p->mark & ~clear_mark);
	q->stats.verdicts++;
	if (!modified) {
		q->txlen += NLMSG_ALIGN(nlh->nlmsg_len);
		return;
	}
	/* NFQA_PAYLOAD last: its header here, its bytes by reference. */
	struct nlattr *a = (struct nlattr *)((uint8_t *)nlh + NLMSG_ALIGN(nlh->nlmsg_len));
	a->nla_type = NFQA_PAYLOAD;
	a->nla_len = (uint16_t)(NLA_HDRLEN + p->len);
	size_t pad = NLA_ALIGN(p->len) - p->len;
	nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_HDRLEN + NLA_ALIGN(p->len);
	q->txlen = (size_t)((uint8_t *)a - q->tx) + NLA_HDRLEN;
	queue_iov_tx(q);
	q->iov[q->niov++] = (struct iovec){ p->data, p->len };
	q->iovbytes += p->len;
	if (pad) {
		q->iov[q->niov++] = (struct iovec){ (void *)(uintptr_t)zeros, pad };
		q->iovbytes += pad;
	}
	q->stats.modified++;
}

void queue_drop(struct queue *q, const struct queue_pkt *p)
{
	struct nlmsghdr *nlh = queue_verdict_msg(q, 0);

	nfq_nlmsg_verdict_put(nlh, (int)p->id, NF_DROP);
	q->txlen += NLMSG_ALIGN(nlh->nlmsg_len);
	q->stats.verdicts++;
}

static void queue_handle(struct queue *q, const struct nlmsghdr *nlh, queue_fn fn, void *arg)
{
	struct nlattr *attr[NFQA_MAX + 1] = { 0 };

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
		if (e->error) {
			q->stats.kernel_errors++;
			log_warnx("nfqueue %u: kernel rejected a verdict: %s", q->num, strerror(-e->error));
		}
		return;
	}
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_QUEUE ||
	    NFNL_MSG_TYPE(nlh->nlmsg_type) != NFQNL_MSG_PACKET)
		return;
	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR] || !attr[NFQA_PAYLOAD])
		return;

	const struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	struct queue_pkt p = {
		.id = ntohl(ph->packet_id),
		.hw_proto = ntohs(ph->hw_protocol),
		.hook = ph->hook,
		.data = mnl_attr_get_payload(attr[NFQA_PAYLOAD]),
		.len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]),
	};
	if (attr[NFQA_SKB_INFO])
		p.skbinfo = ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO]));
	if (attr[NFQA_MARK])
		p.mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
	if (attr[NFQA_CAP_LEN] && ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) != (uint32_t)p.len)
		p.truncated = true;
	q->stats.received++;
	fn(arg, q, &p);
}

int queue_poll(struct queue *q, queue_fn fn, void *arg)
{
	struct mmsghdr msgs[QUEUE_BATCH];
	struct iovec iov[QUEUE_BATCH];
	int fd = queue_fd(q);

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < QUEUE_BATCH; i++) {
		iov[i].iov_base = q->rx + (size_t)i * QUEUE_RXSZ;
		iov[i].iov_len = QUEUE_RXSZ;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	int n = recvmmsg(fd, msgs, QUEUE_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		q->stats.recv_errors++;
		return -errno;
	}
	int handled = 0;
	for (int i = 0; i < n; i++) {
		const struct nlmsghdr *nlh = iov[i].iov_base;
		int len = (int)msgs[i].msg_len;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			queue_handle(q, nlh, fn, arg);
			handled++;
		}
	}
	queue_flush(q);
	return handled;
}
