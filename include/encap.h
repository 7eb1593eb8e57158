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

#include <stdbool.h>
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

/* What the stack says of a packet it routed into the tunnel device
 * (tun.c, from its virtio_net_hdr): a checksum left for us to finish, and
 * a TCP super-packet to cut into segments of gso_size payload octets. */
struct encap_offload {
	bool needs_csum;
	uint16_t csum_start, csum_offset;	/* from the packet's start */
	bool gso_tcp;
	uint16_t gso_size;
};

/* DATA datagrams for one packet from the stack, back to back in out (cap
 * octets): its checksum finished, a TCP super-packet cut into segments
 * (sequence numbers, IP lengths and identifiers, flags: FIN and PSH on the
 * last, CWR on the first; every checksum complete), each behind the DATA
 * header for tag. *dgram is the length of every datagram but the last
 * (which may be shorter), as UDP segmentation offload wants them. Returns
 * the total length, -EBADMSG (not a packet we can cut: not TCP, IPv6
 * extension headers, a checksum position outside the packet), -ENOSPC. */
int encap_build(uint8_t *out, size_t cap, uint32_t tag, const struct encap_offload *o, const uint8_t *pkt,
		size_t len, size_t *dgram);

/* Receive coalescing (GRO, as the kernel does it for a NIC): consecutive
 * TCP segments of one flow, rewritten and with complete checksums, joined
 * into one super-packet the stack takes as received with a partial
 * checksum (encap_offload), so it processes, and ACKs, 64 KiB at a time. */
struct encap_gro {
	uint8_t *buf;		/* the caller's, cap octets */
	size_t cap, len;	/* len 0: empty */
	size_t l4_off, hlen;
	uint16_t seg;		/* the first segment's payload: the others' at most */
	unsigned nseg;
	uint32_t next_seq;
	bool closed;		/* PSH, or a short segment: nothing may follow */
};

/* Starts g with pkt if it can lead a super-packet (TCP with payload, ACK
 * or ACK+PSH only, no IPv6 extension headers, not a fragment). */
bool encap_gro_start(struct encap_gro *g, const uint8_t *pkt, size_t len, const struct pkt_info *pi);
/* Appends pkt if it continues g's flow and sequence exactly (same headers
 * but for lengths, IPv4 identifier, checksums and the TCP window; payload
 * no larger than the first's); false: flush g first. */
bool encap_gro_append(struct encap_gro *g, const uint8_t *pkt, size_t len, const struct pkt_info *pi);
/* Sets g's lengths and checksums; *o says how to hand it to the stack.
 * Returns g's length. */
size_t encap_gro_finish(struct encap_gro *g, struct encap_offload *o);

/* Rewrites the inner packet (parsed into *pi, TCP or UDP, not a fragment)
 * to src:sport -> dst:dport (ports in network order), updating the IP and
 * L4 checksums incrementally (a UDP checksum of zero stays zero).
 * 0, or -EINVAL (family mismatch), -EBADMSG (not rewritable). */
int encap_rewrite(uint8_t *buf, size_t len, const struct pkt_info *pi, const struct dime_addr *src,
		  uint16_t sport, const struct dime_addr *dst, uint16_t dport);

#endif
