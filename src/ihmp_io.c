/*
 * The engine's edge in dimed: its two UDP sockets (IPv4, IPv6, bound to the
 * IHMP port with the local address of each datagram reported), and the
 * real environment: the monotonic clock, rtnl and the datapath.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "encap.h"
#include "ihmp_int.h"
#include "st_peer.h"
#include "stacktrans.h"

#define IHMP_SOCKBUF	(4 << 20)

struct ihmp_io {
	int fd[2];
	struct stacktrans *st;
	struct rtnl *rt;
	ihmp_data_fn *data_fn;		/* DATA (first octet ENCAP_TYPE): the tunnel's */
	void *data_arg;
	uint8_t buf[65536];
};

static int io_socket(int af, uint16_t port)
{
	int fd = socket(af, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
	if (fd < 0)
		return -errno;
	if (af == AF_INET) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		/* Send from an address that is not configured yet (a race with rtnl). */
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
		/* DF always, but ignore the path MTU the kernel learned toward
		 * the peer: a flow's own packets, routed into the tunnel's
		 * smaller MTU, teach it one for the same destination that
		 * does not apply to DATA (docs/ihmp.md §8). */
		int pmtu = IP_PMTUDISC_PROBE;
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
			goto fail;
	} else {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
		int pmtu = IPV6_PMTUDISC_PROBE;
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu));
		setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0)
			goto fail;
	}
	/* DATA arrives in trains of equal datagrams: take them 64 KiB at a
	 * time (UDP GRO); older kernels just do not coalesce. A few trains in
	 * flight overflow the default buffers, and every DATA datagram
	 * dropped there is a TCP loss: 4 MiB (CAP_NET_ADMIN may exceed
	 * rmem_max/wmem_max; without it the kernel caps them). */
	setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	int bufsz = IHMP_SOCKBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	return fd;
fail:;
	int e = errno;
	close(fd);
	return -e;
}

/* Sends from src (IP_PKTINFO / IPV6_PKTINFO): the peer must see the address
 * the message speaks for, not whichever the route prefers. */
static int io_send(void *arg, const struct dime_addr *src, const struct dime_addr *dst, uint16_t port,
		   const uint8_t *buf, size_t len)
{
	struct ihmp_io *io = arg;
	struct sockaddr_storage to;
	char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh = { .msg_name = &to, .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	int fd = io->fd[dst->af == AF_INET6];

	if (fd < 0 || src->af != dst->af)
		return -EAFNOSUPPORT;
	mh.msg_namelen = addr_sockaddr(dst, port, &to);
	memset(cbuf, 0, sizeof(cbuf));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (dst->af == AF_INET) {
		struct in_pktinfo pi = { 0 };
		memcpy(&pi.ipi_spec_dst, src->a, 4);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi = { 0 };
		memcpy(&pi.ipi6_addr, src->a, 16);
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

void ihmp_read(struct ihmp *ih, int i)
{
	struct ihmp_io *io = ih->io;
	uint8_t *buf = io ? io->buf : NULL;
	char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo)) +
		  CMSG_SPACE(sizeof(int))];

	for (int n = 0; io && n < 64; n++) {
		struct sockaddr_storage from;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(io->buf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t len = recvmsg(io->fd[i], &mh, MSG_DONTWAIT);
		if (len < 0)
			return;
		struct dime_addr src = { 0 }, dst = { 0 };
		uint16_t port;
		if (addr_from_sockaddr(&from, &src, &port) < 0)
			continue;
		size_t seg = (size_t)len;	/* one datagram, unless GRO joined several */
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
				int g;
				memcpy(&g, CMSG_DATA(cm), sizeof(g));
				if (g > 0)
					seg = (size_t)g;
			} else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				addr_set(&dst, AF_INET, &pi.ipi_addr);
			} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;
				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				addr_set(&dst, AF_INET6, &pi.ipi6_addr);
			}
		}
		if (!dst.af || (mh.msg_flags & MSG_TRUNC)) {
			ih->stats.rx_too_big += (mh.msg_flags & MSG_TRUNC) != 0;
			continue;
		}
		if (len == 0)	/* empty: IHMP's to count (malformed) */
			ihmp_dispatch(ih, buf, 0, &src, port, &dst);
		for (size_t off = 0; off < (size_t)len; off += seg) {
			const uint8_t *d = buf + off;
			size_t dl = (size_t)len - off < seg ? (size_t)len - off : seg;
			if (d[0] == ENCAP_TYPE) {	/* demultiplexed by the first octet */
				if (io->data_fn)
					io->data_fn(io->data_arg, d, dl, &src, port);
			} else if (dl > IHMP_MAX_MSG) {
				ih->stats.rx_too_big++;	/* before any budget, as the spec orders (§9) */
			} else {
				ihmp_dispatch(ih, d, dl, &src, port, &dst);
			}
		}
		if (io->data_fn)
			io->data_fn(io->data_arg, NULL, 0, &src, port);	/* the train ends */
	}
}

void ihmp_set_data_hook(struct ihmp *ih, ihmp_data_fn *fn, void *arg)
{
	struct ihmp_io *io = ih->io;
	if (io) {
		io->data_fn = fn;
		io->data_arg = arg;
	}
}

int ihmp_fd(const struct ihmp *ih, int i)
{
	const struct ihmp_io *io = ih->io;
	return io ? io->fd[i] : -1;
}

static void io_free(void *arg)
{
	struct ihmp_io *io = arg;
	for (int i = 0; io && i < 2; i++)
		if (io->fd[i] >= 0)
			close(io->fd[i]);
	free(io);
}

/* ---- the real environment ---- */

static uint64_t env_now_ms(void *arg)
{
	(void)arg;
	return clock_ms();
}

static size_t env_local_addrs(void *arg, const struct rtnl_addr **out)
{
	return rtnl_addrs(((struct ihmp_io *)arg)->rt, out);
}

static bool env_is_local(void *arg, const struct dime_addr *a)
{
	return rtnl_is_local(((struct ihmp_io *)arg)->rt, a);
}

static int env_route_src(void *arg, const struct dime_addr *dst, struct dime_addr *src)
{
	return rtnl_route_src(((struct ihmp_io *)arg)->rt, dst, src);
}

static void env_hid_changed(void *arg, uint32_t handle)
{
	st_hid_changed(((struct ihmp_io *)arg)->st, handle);
}

static unsigned env_abort_peer(void *arg, uint32_t handle, int af)
{
	return st_abort_peer(((struct ihmp_io *)arg)->st, handle, af);
}

static unsigned env_kick_peer(void *arg, uint32_t handle, int af)
{
	return st_kick_peer(((struct ihmp_io *)arg)->st, handle, af);
}

static int env_local_first(void *arg, struct hid *h, const struct dime_addr *a)
{
	return st_local_first(((struct ihmp_io *)arg)->st, h, a);
}

static void env_moved_from(void *arg, struct hid *h, const struct dime_addr *old)
{
	st_moved_from(((struct ihmp_io *)arg)->st, h, old);
}

static int env_fold_hid(void *arg, struct hid *into, struct hid *from)
{
	return st_fold_hid(((struct ihmp_io *)arg)->st, into, from);
}

static bool env_in_use(void *arg, const struct hid *h, const struct dime_addr *a)
{
	return st_peer_addr_in_use(((struct ihmp_io *)arg)->st, h->handle, a);
}

int ihmp_new(struct ihmp **out, const struct ihmp_cfg *cfg, struct stacktrans *st)
{
	struct ihmp_io *io = calloc(1, sizeof(*io));
	int r;

	if (!io)
		return -ENOMEM;
	io->st = st;
	io->rt = st_rtnl(st);
	io->fd[0] = io_socket(AF_INET, cfg->port);
	io->fd[1] = io_socket(AF_INET6, cfg->port);
	if (io->fd[0] < 0 && io->fd[1] < 0) {
		r = io->fd[0];
		free(io);
		return r;
	}
	for (int i = 0; i < 2; i++)
		if (io->fd[i] < 0)
			log_warnx("IHMP: no IPv%c socket on port %u: %s", i ? '6' : '4', cfg->port,
				  strerror(-io->fd[i]));
	const struct ihmp_env env = {
		.arg = io, .hids = st_hids(st), .now_ms = env_now_ms, .send = io_send,
		.local_addrs = env_local_addrs, .is_local = env_is_local, .route_src = env_route_src,
		.hid_changed = env_hid_changed, .abort_peer = env_abort_peer, .kick_peer = env_kick_peer,
		.local_first = env_local_first, .moved_from = env_moved_from, .fold_hid = env_fold_hid,
		.in_use = env_in_use,
	};
	if ((r = ihmp_new_env(out, cfg, &env)) < 0) {
		io_free(io);
		return r;
	}
	(*out)->io = io;
	(*out)->io_free = io_free;
	return 0;
}
