/* tcpkick: restarts a TCP sender that waits on a timer although a handoff
 * has made its peer reachable again, with a packet put into the local
 * stack as if it had arrived (dimed's TUN device: CAP_NET_ADMIN, no raw
 * socket). Addressed with identifiers, as the socket knows its connection.
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
 * error touches. Any acceptable segment from the peer makes it try to send
 * at once, so we give it the ACK the peer last sent: sequence number
 * rcv_nxt, acknowledging snd_una, the window it already has. It moves
 * nothing (no new data acknowledged, the window unchanged). */
#ifndef DIME_TCPKICK_H
#define DIME_TCPKICK_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define TCPKICK_MAX_LEN	96

/* The error the kernel would get from a router on the path: from `rid`
 * (the peer's identifier) to `lid`, quoting our segment lid:lport ->
 * rid:rport with sequence number seq (ports in network order). Returns
 * its length, 0 if the families differ or cap is too small. */
size_t tcpkick_build(uint8_t *buf, size_t cap, const struct dime_addr *lid, uint16_t lport,
    const struct dime_addr *rid, uint16_t rport, uint32_t seq);
/* The ACK the peer would send on our connection lid:lport -> rid:rport,
 * from rid to lid: seq (our rcv_nxt), ack (our snd_una), win as the
 * window field, no options. Length, or 0 as for tcpkick_build. */
size_t tcpkick_build_ack(uint8_t *buf, size_t cap, const struct dime_addr *lid, uint16_t lport,
    const struct dime_addr *rid, uint16_t rport, uint32_t seq, uint32_t ack, uint16_t win);

#endif
