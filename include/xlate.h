/* xlate: rewrite a parsed packet's addresses in place and fix its checksums. */
#ifndef DIME_XLATE_H
#define DIME_XLATE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "pkt.h"

enum xlate_csum {
	/* The L4 checksum field was complete: update it (RFC 1624), so a
	 * packet that was corrupted stays detectably corrupted. */
	XLATE_CSUM_INCREMENTAL,
	/* NFQA_SKB_CSUMNOTREADY or a GSO super-packet: the field holds only
	 * the pseudo-header sum.  Write the complete checksum, computed over
	 * the whole packet, because the kernel takes a mangled packet as
	 * CHECKSUM_NONE. */
	XLATE_CSUM_FULL,
};

/* New addresses; NULL keeps the old one.  Each must have the family of the
 * header it replaces.  inner_* rewrite the header quoted by an ICMP error. */
struct xlate_addrs {
	const struct dime_addr *src, *dst;
	const struct dime_addr *inner_src, *inner_dst;
};

/*
 * Rewrites the packet in buf (len bytes, parsed into *pi by pkt_parse() from
 * these very bytes) and fixes every checksum the change touches: the IPv4
 * header checksum, the L4 checksum (pseudo-header for TCP, UDP, UDP-Lite,
 * DCCP, ICMPv6; ICMPv4 covers the quoted bytes instead), and in a quote the
 * IPv4 header checksum and the TCP, UDP, UDP-Lite, DCCP or ICMPv6 checksum
 * when its whole field was quoted (always incrementally: the quote is
 * partial; a field cut in half is left alone, like Linux NAT does).
 *
 * Rules for odd packets:
 *  - IP header checksums are always updated incrementally (the kernel
 *    completes them before any hook).
 *  - A UDP checksum of zero stays zero: over IPv4 it means "none"; over IPv6
 *    it is only legal for tunnels (RFC 6935) and is left alone, never
 *    computed.  An update that yields zero writes 0xffff (RFC 768).
 *  - A later fragment has no L4 header: only the IP header changes.  The
 *    datagram's L4 checksum lives in its first fragment and is updated
 *    there, incrementally even in FULL mode, because the rest of the payload
 *    is not here (and the kernel completes checksums before fragmenting).
 *    A later fragment that overlaps the L4 header (RFC 1858 tiny
 *    fragments; forbidden for IPv6 by RFC 7112) is not looked into.
 *  - FULL mode always writes a complete L4 checksum, even when no address
 *    changes.  It covers UDP's length field bytes (8 <= length <= L4 bytes,
 *    else -EBADMSG), TCP's and ICMP's whole L4 part.
 *  - An unfinished source route (pi->ip.srcroute) makes the pseudo-header
 *    destination something other than the IP destination: refused.
 * Returns 0, or a negative errno with buf unchanged:
 *   -EINVAL		family mismatch, inner address for a packet that is no
 *			ICMP error, pi longer than len,
 *   -EBADMSG		pi->l4_trunc, or a bad UDP length in FULL mode,
 *   -EOPNOTSUPP	outer address change on an unfinished source route,
 *   -EPROTONOSUPPORT	FULL mode with an L4 protocol whose checksum we
 *			cannot complete (UDP-Lite, DCCP, SCTP, tunnels, ...).
 */
int xlate_packet(uint8_t *buf, size_t len, const struct pkt_info *pi,
		 const struct xlate_addrs *xa, enum xlate_csum mode);

#endif
