/* rtnl: local address events, route source lookup, and identifier addresses on lo. */
#ifndef DIME_RTNL_H
#define DIME_RTNL_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

#define RTNL_MAX_ADDRS 64
#define RTNL_MAX_ALL 1024

struct rtnl_addr {
	struct dime_addr addr;
	unsigned plen;
	int ifindex;
};

struct rtnl;
/* Called for every usable local address appearing (up) or going (!up), and with
 * addr == NULL when routes changed (a good moment to retry pending work). */
typedef void (*rtnl_fn)(void *arg, const struct rtnl_addr *a, bool up);

int rtnl_open(struct rtnl **out, rtnl_fn fn, void *arg);
void rtnl_close(struct rtnl *r);
void rtnl_set_callback(struct rtnl *r, rtnl_fn fn, void *arg);
int rtnl_fd(const struct rtnl *r);
/* Reads pending events and calls the callback. */
int rtnl_read(struct rtnl *r);

/* The usable (global, non-tentative, not on lo) local addresses. */
size_t rtnl_addrs(const struct rtnl *r, const struct rtnl_addr **out);
bool rtnl_is_local(const struct rtnl *r, const struct dime_addr *a);
/* Configured anywhere (lo too, any scope), and not an identifier we hold:
 * a socket bound to it needs no local translation. */
bool rtnl_is_alive(const struct rtnl *r, const struct dime_addr *a);

/* The source address the kernel would pick toward dst, skipping `avoid`
 * addresses (our held identifiers); -ENETUNREACH when there is no route. */
int rtnl_route_src(struct rtnl *r, const struct dime_addr *dst, struct dime_addr *src);

/* Policy routing into a device for both families: packets with `mark` set
 * go by table `table`, whose default route is the device (add), or both
 * are removed (!add; what is already gone is fine). 0 or -errno. */
int rtnl_tunnel(struct rtnl *r, int ifindex, uint32_t mark, uint32_t table, bool add);
/* The tunnel device's IPv4 settings: no rp_filter of its own, and the
 * packet mark counts in its reverse-path check (src_valid_mark). */
int rtnl_tunnel_conf(struct rtnl *r, int ifindex);
/* Hold an identifier: a host-scoped /32 or /128 on lo, so sockets bound to it keep sending. */
int rtnl_hold(struct rtnl *r, const struct dime_addr *a);
int rtnl_release(struct rtnl *r, const struct dime_addr *a);
/* Remembers held identifiers in `path`, so that a daemon restarted after a
 * crash adopts (and later releases) what the previous one left on lo. */
void rtnl_set_state_file(struct rtnl *r, const char *path);
/* Releases every held identifier not listed in keep. */
void rtnl_release_unneeded(struct rtnl *r, const struct dime_addr *keep, size_t nkeep);

#endif
