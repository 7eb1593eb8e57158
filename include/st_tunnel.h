/* st_tunnel: what the tunnel (tunnel.c) may ask of the datapath. */
#ifndef DIME_ST_TUNNEL_H
#define DIME_ST_TUNNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "pkt.h"

struct stacktrans;
struct flow;
struct flow_table;

struct flow_table *st_flows(struct stacktrans *st);
/* The flow's tag (encap.h): both ends compute it from its first packet,
 * the TCP opener's SYN or the first UDP datagram. 0: we did not see it. */
uint32_t st_flow_tag(const struct flow *f);
/* Whether f is carried in the tunnel now (its packets are routed into it). */
bool st_flow_in_tunnel(const struct flow *f);
/* A packet of f went through the tunnel (out: we sent it): keeps the flow
 * alive and its TCP state current, as the queue does for the others. */
void st_flow_seen(struct stacktrans *st, struct flow *f, const uint8_t *pkt, const struct pkt_info *pi,
		  bool out);

#endif
