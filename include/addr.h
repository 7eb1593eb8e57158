/* addr: one type for IPv4 and IPv6 host addresses, and prefixes of them. */
#ifndef DIME_ADDR_H
#define DIME_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An IPv4 address lives in a[0..3] with a[4..15] zero, so that equal
 * addresses compare equal with memcmp over the whole struct. */
struct dime_addr {
	uint8_t af;		/* AF_INET or AF_INET6; 0 means "none" */
	uint8_t a[16];		/* network byte order */
};

#define ADDR_STRLEN 46		/* INET6_ADDRSTRLEN */

static inline size_t addr_len(const struct dime_addr *x)
{
	return x->af == AF_INET ? 4 : 16;
}

bool addr_eq(const struct dime_addr *x, const struct dime_addr *y);
uint32_t addr_hash(const struct dime_addr *x, uint32_t seed);
void addr_set(struct dime_addr *x, int af, const void *bytes);
/* Parses "198.18.0.1" or "2001:db8::1"; 0 or -EINVAL. */
int addr_parse(struct dime_addr *x, const char *s);
/* Parses "addr" or "addr/len" into an address and a prefix length. */
int addr_parse_prefix(struct dime_addr *x, unsigned *plen, const char *s);
/* Writes into buf (at least ADDR_STRLEN bytes) and returns it. */
const char *addr_fmt(const struct dime_addr *x, char *buf);
bool addr_in_prefix(const struct dime_addr *x, const struct dime_addr *pfx, unsigned plen);
/* Link-local (fe80::/10, 169.254/16) addresses are never usable across links. */
bool addr_is_linklocal(const struct dime_addr *x);
/* 127/8 and ::1. */
bool addr_is_loopback(const struct dime_addr *x);
/* Usable as a peer's unicast address across links: not unspecified,
 * loopback, multicast, broadcast, reserved (0/8, 240/4) or link-local. */
bool addr_is_unicast(const struct dime_addr *x);
/* RFC 1918 and fc00::/7 (ULA): true, with the block's length in *plen. */
bool addr_is_private(const struct dime_addr *x, unsigned *plen);
/* x and port (host order) as a socket address for sendto() and the like;
 * returns its length. */
socklen_t addr_sockaddr(const struct dime_addr *x, uint16_t port, struct sockaddr_storage *ss);
/* The reverse, for recvfrom(): the address and port (host order) of an
 * AF_INET or AF_INET6 ss; -EAFNOSUPPORT for anything else. */
int addr_from_sockaddr(const struct sockaddr_storage *ss, struct dime_addr *x, uint16_t *port);

#endif
