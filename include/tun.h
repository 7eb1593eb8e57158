/* tun: dimed's own TUN device, the one way to put packets into the local
 * stack and to take packets out of it that needs only CAP_NET_ADMIN (no
 * raw socket). Decapsulated packets are written to it (they arrive as if
 * received on it); packets routed to it (encapsulated flows) are read. */
#ifndef DIME_TUN_H
#define DIME_TUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "encap.h"

#define TUN_DEFAULT_NAME	"dime0"

struct tun;

/* Creates (or takes over) the device `name`, sets its MTU and brings it
 * up. 0 or -errno. */
int tun_open(struct tun **out, const char *name, unsigned mtu);
void tun_close(struct tun *t);
int tun_fd(const struct tun *t);
int tun_ifindex(const struct tun *t);
unsigned tun_mtu(const struct tun *t);
/* One IPv4 or IPv6 packet into the stack, as if received: its checksums
 * complete (the stack verifies them), or, with o, a TCP super-packet with
 * a partial checksum (encap_gro_finish). 0 or -errno. */
int tun_inject(struct tun *t, const uint8_t *pkt, size_t len, const struct encap_offload *o);
/* One packet the stack routed to the device: its length, 0 when none is
 * waiting, or -errno. The device takes TCP super-packets (TSO) and leaves
 * checksums partial: *o says what the packet still needs (encap_build). */
ssize_t tun_read(struct tun *t, uint8_t *buf, size_t cap, struct encap_offload *o);

#endif
