/* tunnel: the datapath of encapsulated flows (docs/ihmp.md §8). Packets
 * of flows in the tunnel are routed into dimed's TUN device; they leave as
 * DATA datagrams from the IHMP socket to the peer's proven endpoint. DATA
 * from a proven endpoint is rewritten to our flow's tuple and injected. */
#ifndef DIME_TUNNEL_H
#define DIME_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "out.h"

#define TUNNEL_MTU	1400	/* inner packets; 1456 octets outside over IPv6 */

struct stacktrans;
struct rtnl;
struct tunnel;
struct hid;

struct tunnel_cfg {
	uint16_t port;		/* the IHMP port: a peer not behind a NAT sends from it */
	const char *ifname;	/* TUN device name (TUN_DEFAULT_NAME) */
};

/* Counters: field, output key. */
#define TUNNEL_STATS(X)							\
	X(out, "encap_out")						\
	X(in, "encap_in")						\
	X(bad_source, "encap_bad_source")				\
	X(unknown_flow, "encap_unknown_flow")				\
	X(malformed, "encap_malformed")					\
	X(too_big, "encap_too_big")					\
	X(errors, "encap_errors")

struct tunnel_stats {
#define TUNNEL_STAT_FIELD(f, key) uint64_t f;
	TUNNEL_STATS(TUNNEL_STAT_FIELD)
#undef TUNNEL_STAT_FIELD
};

/* Creates the TUN device and the policy route into it. 0 or -errno. */
int tunnel_new(struct tunnel **out, const struct tunnel_cfg *cfg, struct stacktrans *st, struct rtnl *rt);
void tunnel_free(struct tunnel *t);
/* The TUN, to poll for packets to send. */
int tunnel_fd(const struct tunnel *t);
/* DATA leaves from the IHMP sockets (IPv4, IPv6; -1 if none). */
void tunnel_set_sockets(struct tunnel *t, int fd4, int fd6);
/* Packets the stack routed to us: out as DATA. */
void tunnel_read(struct tunnel *t);
/* One DATA datagram from src:port (ihmp_io hands over what starts with
 * ENCAP_TYPE); len 0 (buf NULL): the end of a train of them, so what was
 * gathered into one super-packet goes into the stack. */
void tunnel_input(void *t, const uint8_t *buf, size_t len, const struct dime_addr *src, uint16_t port);
/* DATA from an unproven port of a peer's NAT address: the hook may prove it. */
typedef void tunnel_rebind_fn(void *arg, struct hid *h, const struct dime_addr *src, uint16_t port);
void tunnel_set_rebind_hook(struct tunnel *t, tunnel_rebind_fn *fn, void *arg);
/* One complete IP packet into the local stack, as if it arrived on the
 * device (an st_inject_fn: the restarts of stalled TCP senders). */
int tunnel_inject(void *t, const uint8_t *pkt, size_t len);
void tunnel_show_stats(const struct tunnel *t, struct out *o);

#endif
