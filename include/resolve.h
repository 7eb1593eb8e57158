/*
 * resolve: A and AAAA lookups from the event loop, for the rendezvous
 * (docs/ihmp.md §11). Asks the configured resolvers, or the nameservers
 * of /etc/resolv.conf (read again at each lookup, as the system resolver
 * does), with the DNS codec; never blocks. Bounded: RESOLVE_INFLIGHT
 * lookups at once and RESOLVE_PER_S started per second, whatever asks.
 * An answer is only a hint: its addresses carry nothing until the peer
 * proves them (the caller's business).
 */
#ifndef DIME_RESOLVE_H
#define DIME_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"

#define RESOLVE_INFLIGHT	16
#define RESOLVE_PER_S		8	/* lookups started per second, all callers */
#define RESOLVE_TIMEOUT_MS	1000	/* per server; then the next one */
#define RESOLVE_CONF		"/etc/resolv.conf"

/* A lookup ended: n addresses of both families (n == 0: none, or err). */
typedef void resolve_fn(void *arg, uint64_t cookie, const char *name, const struct dime_addr *addrs,
			size_t n, int err);

struct resolver;

/* servers: n of them, or none (resolv.conf at conf_path). 0 or -errno. */
int resolver_new(struct resolver **out, const struct config_server *servers, size_t n, const char *conf_path,
		 resolve_fn *fn, void *arg);
void resolver_free(struct resolver *r);
/* The UDP sockets to poll (0: IPv4, 1: IPv6); -1 when a family is missing. */
int resolver_fd(const struct resolver *r, int i);
void resolver_read(struct resolver *r, int i);
/*
 * Starts looking up name's A and AAAA records; fn is called once with
 * cookie, later (never from inside this call). 0, or -EINVAL (not a
 * name), -EBUSY (RESOLVE_INFLIGHT in flight, or this name is), -EAGAIN
 * (over RESOLVE_PER_S), -ENOENT (no nameserver).
 */
int resolver_lookup(struct resolver *r, const char *name, uint64_t cookie, uint64_t now_ms);
/* Timeouts and retries; ms until it wants to run again, or -1. */
int resolver_tick(struct resolver *r, uint64_t now_ms);

#endif
