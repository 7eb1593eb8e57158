/* encap: flows carried in UDP between the two hosts' IHMP endpoints, for
 * paths that cross a NAT (docs/ihmp.md §8). A DATA datagram is
 *
 *   octet 0    ENCAP_TYPE (0x80: never an IHMP version)
 *   octets 1-3 zero
 *   octets 4-7 the flow's tag (flow_table.h), big-endian
 *   octets 8-  one IPv4 or IPv6 packet as the sender's socket sent it
 *
 * The receiver finds the flow by its sender's proven endpoint (the HID)
 * and the tag, and rewrites the inner addresses and ports to what its own
 * socket uses. Pure: no sockets, no clock. */
#ifndef DIME_ENCAP_H
#define DIME_ENCAP_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "pkt.h"

#define ENCAP_TYPE	0x80
#define ENCAP_HDR_LEN	8
/* Outer IPv6 + UDP + DATA header: what the tunnel's MTU gives up. */
#define ENCAP_OVERHEAD	(40 + 8 + ENCAP_HDR_LEN)
#define ENCAP_MARK	0x20000000u	/* meta mark: route this packet into the TUN */
#define ENCAP_TABLE	3463u		/* routing table (and rule priority) for it */

/* Writes the header for tag at hdr. */
void encap_hdr_put(uint8_t hdr[ENCAP_HDR_LEN], uint32_t tag);
/* 0 and the tag for a well-formed DATA header at buf (len octets, an inner
 * packet after it), else -EBADMSG. */
int encap_hdr_get(const uint8_t *buf, size_t len, uint32_t *tag);

/* The flow tag both ends compute from the flow's first packet: a TCP SYN's
 * sequence number, or for UDP a hash of the first datagram's payload and
 * destination port (no NAT rewrites either). Never 0 (0: no tag). */
uint32_t encap_tag_tcp(uint32_t syn_seq);
uint32_t encap_tag_udp(uint16_t dport_net, const uint8_t *payload, size_t len);

/* Rewrites the inner packet (parsed into *pi, TCP or UDP, not a fragment)
 * to src:sport -> dst:dport (ports in network order), updating the IP and
 * L4 checksums incrementally (a UDP checksum of zero stays zero).
 * 0, or -EINVAL (family mismatch), -EBADMSG (not rewritable). */
int encap_rewrite(uint8_t *buf, size_t len, const struct pkt_info *pi, const struct dime_addr *src,
		  uint16_t sport, const struct dime_addr *dst, uint16_t dport);

#endif
