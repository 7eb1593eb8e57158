/* tcpkick: restarts a TCP sender that waits on a timer although a handoff
 * has made its peer reachable again.
 *
 * With segments in flight it waits on its retransmission timer. RFC 6069
 * (TCP-LD), as Linux implements it: an ICMP host unreachable (ICMPv6 no
 * route) quoting the oldest unacknowledged segment undoes one doubling of
 * the timer, and retransmits at once when the reverted timer has already
 * run out. Without it a flow waits out the doubled timer (1.6-1.9 s after a
 * 5 s gap in the lab) although the path is back within a round trip.
 *
 * With nothing in flight (its ACKs came back before its route went, and
 * nothing new could leave) it waits on its persist timer, which no ICMP
 * error touches. Any acceptable ACK from the peer reopens it at once, so we
 * send the peer a keepalive probe (RFC 9293 3.8.4): one octet the peer
 * already has (seq = snd_una - 1), which it must answer with an ACK at
 * once. With no octet, the segment would be out of window, and Linux
 * answers those once per tcp_invalid_ratelimit (500 ms) per socket. */
#ifndef DIME_TCPKICK_H
#define DIME_TCPKICK_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define TCPKICK_MARK	0x40000000u	/* our ICMP errors: the ruleset lets them be */
#define TCPKICK_MAX_LEN	96

struct tcpkick;

/* Raw sockets need CAP_NET_RAW: -EPERM without it (the caller goes on
 * without kicks). */
int tcpkick_open(struct tcpkick **out);
void tcpkick_close(struct tcpkick *k);

/* The error the kernel would get from a router on the path: from `rid`
 * (the peer's identifier) to `lid`, quoting our segment lid:lport ->
 * rid:rport with sequence number seq (ports in network order). Returns
 * its length, 0 if the families differ or cap is too small. */
size_t tcpkick_build(uint8_t *buf, size_t cap, const struct dime_addr *lid, uint16_t lport,
    const struct dime_addr *rid, uint16_t rport, uint32_t seq);
/* Sends it `count` times (one per backoff step): 0 or -errno. */
int tcpkick_send(struct tcpkick *k, const struct dime_addr *lid, uint16_t lport,
    const struct dime_addr *rid, uint16_t rport, uint32_t seq, unsigned count);

/* The keepalive probe of our connection lid:lport -> rid:rport: ACK, one
 * octet (zero), no options; seq = snd_una - 1, ack = rcv_nxt, win as the window
 * field. Addressed with identifiers: the datapath translates it like the
 * connection's own packets. Length, or 0 as for tcpkick_build. */
size_t tcpkick_build_probe(uint8_t *buf, size_t cap, const struct dime_addr *lid, uint16_t lport,
    const struct dime_addr *rid, uint16_t rport, uint32_t seq, uint32_t ack, uint16_t win);
/* Sends it to rid: 0 or -errno. */
int tcpkick_probe(struct tcpkick *k, const struct dime_addr *lid, uint16_t lport,
    const struct dime_addr *rid, uint16_t rport, uint32_t seq, uint32_t ack, uint16_t win);

#endif
