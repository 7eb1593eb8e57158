/*
 * ddns: keeps our name's A and AAAA records on the addresses we have now
 * (docs/ddns.md): RFC 2136 UPDATEs signed with TSIG, one in flight at a
 * time, bursts of address events coalesced, failures retried with backoff
 * and logged once. Its I/O goes through ddns_env, so tests drive it without
 * a network or a server.
 */
#ifndef DIME_DDNS_H
#define DIME_DDNS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "out.h"

#define DDNS_ADDRS_MAX		8	/* published addresses, both families */
#define DDNS_COALESCE_MS	50	/* a burst of address events: one update */
#define DDNS_TIMEOUT_MS		1000	/* per attempt */
#define DDNS_BACKOFF_MIN_MS	1000
#define DDNS_BACKOFF_MAX_MS	60000
/* A server that refuses us (a wrong key, no permission) does so again:
 * it is asked again no sooner than this, whatever moves. */
#define DDNS_REFUSED_MIN_MS	30000
/* No route or no answer for this long is worth a log line: a hard
 * handoff's gap is not. A refusal is logged at once. */
#define DDNS_QUIET_MS		10000

struct ddns_env {
	void *arg;
	uint64_t (*now_ms)(void *arg);	/* monotonic */
	uint64_t (*wall_s)(void *arg);	/* Unix time: TSIG's time signed */
	/* One datagram to the server. 0 or -errno. */
	int (*send)(void *arg, const struct config_server *to, const uint8_t *buf, size_t len);
};

struct ddns;

/*
 * From a [ddns] section (copied) and the secret in its secret-file, which
 * must be a regular file that no one but its owner (and group) may read.
 * 0, or -errno with one line in err.
 */
int ddns_new(struct ddns **out, const struct config_ddns *cfg, const struct ddns_env *env, char *err,
	     size_t errlen);
void ddns_free(struct ddns *d);
/*
 * The addresses we could be reached at now: our usable addresses, and the
 * public ones peers observe us at behind a NAT. Those worth publishing
 * (unicast; not link-local, and not private unless publish-private) are
 * what the name should have; a change is sent DDNS_COALESCE_MS later.
 */
void ddns_set_addrs(struct ddns *d, const struct dime_addr *addrs, size_t n);
/* A datagram from src:port (only the server's answers are looked at). */
void ddns_input(struct ddns *d, const uint8_t *buf, size_t len, const struct dime_addr *src, uint16_t port);
/* Sends what is due; ms until it wants to run again, or -1. */
int ddns_tick(struct ddns *d);
/* For `dimectl show`: name, server, state, last result, published addresses. */
void ddns_show(const struct ddns *d, struct out *o);
/* Our name (told to peers in IHMP), never NULL. */
const char *ddns_name(const struct ddns *d);

#endif
