/* tun: see include/tun.h. No IFF_VNET_HDR and no offloads: the kernel
 * segments and checksums what it routes to us, and checks what we inject. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
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

int tun_inject(struct tun *t, const uint8_t *pkt, size_t len)
{
	ssize_t n = write(t->fd, pkt, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

ssize_t tun_read(struct tun *t, uint8_t *buf, size_t cap)
{
	ssize_t n = read(t->fd, buf, cap);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return n;
}
