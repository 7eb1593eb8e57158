/* tun: see include/tun.h. With a virtio header and TSO, the kernel hands
 * us TCP super-packets with partial checksums, one read per 64 KiB rather
 * than per segment; what we inject has complete checksums, which the stack
 * verifies as for any received packet. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tun.h"

struct tun {
	int fd;
	int ifindex;
	unsigned mtu;
	char name[IFNAMSIZ];
};

/* Interface ioctls go through any socket. */
static int if_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	int r = ioctl(s, req, ifr) < 0 ? -errno : 0;
	close(s);
	return r;
}

int tun_open(struct tun **out, const char *name, unsigned mtu)
{
	struct tun *t = calloc(1, sizeof(*t));
	struct ifreq ifr = { 0 };
	int r;

	if (!t)
		return -ENOMEM;
	if (strlen(name) >= IFNAMSIZ) {
		free(t);
		return -ENAMETOOLONG;
	}
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0) {
		r = -errno;
		free(t);
		return r;
	}
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	int hdrsz = sizeof(struct virtio_net_hdr);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0 || ioctl(t->fd, TUNSETVNETHDRSZ, &hdrsz) < 0 ||
	    ioctl(t->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
		r = -errno;
		goto fail;
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	ifr.ifr_mtu = (int)mtu;
	if ((r = if_ioctl(SIOCSIFMTU, &ifr)) < 0)
		goto fail;
	if ((r = if_ioctl(SIOCGIFFLAGS, &ifr)) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP | IFF_NOARP;
	if ((r = if_ioctl(SIOCSIFFLAGS, &ifr)) < 0)
		goto fail;
	if ((r = if_ioctl(SIOCGIFINDEX, &ifr)) < 0)
		goto fail;
	t->ifindex = ifr.ifr_ifindex;
	t->mtu = mtu;
	*out = t;
	return 0;
fail:
	close(t->fd);
	free(t);
	return r;
}

void tun_close(struct tun *t)
{
	if (!t)
		return;
	close(t->fd);	/* a non-persistent device goes with its last fd */
	free(t);
}

int tun_fd(const struct tun *t) { return t->fd; }
int tun_ifindex(const struct tun *t) { return t->ifindex; }
unsigned tun_mtu(const struct tun *t) { return t->mtu; }

int tun_inject(struct tun *t, const uint8_t *pkt, size_t len, const struct encap_offload *o)
{
	struct virtio_net_hdr vh = { .gso_type = VIRTIO_NET_HDR_GSO_NONE };
	if (o && o->gso_tcp) {
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.csum_start = o->csum_start;
		vh.csum_offset = o->csum_offset;
		vh.gso_type = (pkt[0] >> 4) == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
		vh.gso_size = o->gso_size;
		vh.hdr_len = (uint16_t)(o->csum_start + (pkt[o->csum_start + 12] >> 4) * 4);
	}
	struct iovec iov[2] = { { &vh, sizeof(vh) }, { (void *)(uintptr_t)pkt, len } };
	ssize_t n = writev(t->fd, iov, 2);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(vh) + len ? 0 : -EIO;
}

ssize_t tun_read(struct tun *t, uint8_t *buf, size_t cap, struct encap_offload *o)
{
	struct virtio_net_hdr vh;
	struct iovec iov[2] = { { &vh, sizeof(vh) }, { buf, cap } };
	ssize_t n = readv(t->fd, iov, 2);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if ((size_t)n < sizeof(vh))
		return -EIO;
	/* The host's byte order: a TUN's virtio header is native-endian. */
	uint8_t gso = vh.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	*o = (struct encap_offload){
		.needs_csum = vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.csum_start = vh.csum_start,
		.csum_offset = vh.csum_offset,
		.gso_tcp = gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6,
		.gso_size = vh.gso_size,
	};
	if (gso != VIRTIO_NET_HDR_GSO_NONE && !o->gso_tcp)
		return -EPROTONOSUPPORT;	/* we offered TSO only */
	return n - (ssize_t)sizeof(vh);
}
