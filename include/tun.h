/* tun: dimed's own TUN device, the one way to put packets into the local
 * stack and to take packets out of it that needs only CAP_NET_ADMIN (no
 * raw socket). Decapsulated packets are written to it (they arrive as if
 * received on it); packets routed to it (encapsulated flows) are read. */
#ifndef DIME_TUN_H
#define DIME_TUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TUN_DEFAULT_NAME	"dime0"

struct tun;

/* Creates (or takes over) the device `name`, sets its MTU and brings it
 * up. 0 or -errno. */
int tun_open(struct tun **out, const char *name, unsigned mtu);
void tun_close(struct tun *t);
int tun_fd(const struct tun *t);
int tun_ifindex(const struct tun *t);
unsigned tun_mtu(const struct tun *t);
/* One IPv4 or IPv6 packet into the stack, as if received. 0 or -errno. */
int tun_inject(struct tun *t, const uint8_t *pkt, size_t len);
/* One packet the stack routed to the device: its length, 0 when none is
 * waiting, or -errno. */
ssize_t tun_read(struct tun *t, uint8_t *buf, size_t cap);

#endif
