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

#include <stdbool.h>
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
/* Each lookup has a socket of its own, opened for it: a fresh port, and a
 * source the kernel picks now (a socket older than a move would speak
 * from an address that moved). The loop polls fd from add to !add. */
typedef void resolve_watch_fn(void *arg, int fd, bool add);

struct resolver;

/* servers: n of them, or none (resolv.conf at conf_path). 0 or -errno. */
int resolver_new(struct resolver **out, const struct config_server *servers, size_t n, const char *conf_path,
		 resolve_fn *fn, resolve_watch_fn *watch, void *arg);
void resolver_free(struct resolver *r);
/* fd (one resolve_watch_fn added) is readable. */
void resolver_read(struct resolver *r, int fd);
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
