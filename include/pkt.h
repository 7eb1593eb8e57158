/* pkt: parse an IP packet, as NFQUEUE hands it over, into offsets and ports. */
#ifndef DIME_PKT_H
#define DIME_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* More IPv6 extension headers than this and we give up (-EPROTONOSUPPORT). */
#define PKT_MAX_EXTHDRS 8

/* One IP header and what follows it.  Offsets count from the start of the
 * buffer given to pkt_parse(), so they hold for a quoted header too. */
struct pkt_l3 {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t proto;		/* upper-layer protocol after options and
				 * extension headers; IPPROTO_NONE or
				 * IPPROTO_ESP when there is none to see */
	uint16_t frag_off;	/* fragment offset, in 8-byte units */
	uint32_t off;		/* IP header */
	uint32_t l3_len;	/* IP header with options or extension headers */
	uint32_t l4_off;	/* upper-layer header (off + l3_len) */
	uint32_t l4_len;	/* bytes from l4_off to the end of the packet,
				 * or of the quote */
	bool frag;		/* part of a fragmented datagram (not an
				 * atomic IPv6 fragment, RFC 6946) */
	bool first_frag;	/* the fragment at offset 0 */
	bool has_l4;		/* l4_off is an upper-layer header: not a later
				 * fragment, not ESP or No Next Header */
	bool has_ports;		/* sport/dport valid: TCP, UDP, UDP-Lite,
				 * SCTP, DCCP */
	bool has_icmp;		/* icmp_* valid: ICMP or ICMPv6 header present */
	bool icmp_echo;		/* echo request or reply: icmp_id valid */
	bool srcroute;		/* source route not yet finished: IPv6 routing
				 * header with segments left, or IPv4
				 * LSRR/SSRR with addresses left; the
				 * pseudo-header destination is not ip.dst */
	uint16_t sport, dport;	/* network order */
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id;	/* network order */
};

struct pkt_info {
	uint32_t len;		/* the packet: IPv4 total length or IPv6 40 +
				 * payload length; bytes beyond are ignored */
	struct pkt_l3 ip;
	/* The IP header is fine but the upper-layer header (or an ICMP
	 * error's quoted IP header) is cut short or unusable: the packet can
	 * be classified by addresses only and must be passed on untouched. */
	bool l4_trunc;
	/* ICMP destination unreachable, time exceeded, parameter problem, or
	 * ICMPv6 packet too big: inner describes the quoted packet.  Its
	 * header is complete; its L4 part may be short (inner.l4_len),
	 * inner.has_ports needs 4 bytes, a checksum needs its field. */
	bool icmp_err;
	struct pkt_l3 inner;
};

/*
 * Parses len bytes at buf, starting at an IPv4 or IPv6 header, into *pi.
 * Never reads outside buf.  Returns
 *   0			parsed (check pi->l4_trunc),
 *   -EBADMSG		malformed IP header: version, IHL < 5, total or
 *			payload length beyond len, header or extension
 *			header beyond the packet, bad IPv4 option, Hop-by-Hop
 *			not first,
 *   -EPROTONOSUPPORT	an IPv6 extension header we cannot walk (Mobility,
 *			HIP, Shim6, experimental 253/254) or more than
 *			PKT_MAX_EXTHDRS of them: maybe valid, not ours.
 * IPv6 jumbograms (payload length 0 with Hop-by-Hop) are -EBADMSG.
 * A quoted packet that cannot be parsed makes l4_trunc; an unwalkable
 * extension chain inside the quote just leaves inner.has_l4 false.
 */
int pkt_parse(struct pkt_info *pi, const uint8_t *buf, size_t len);

/* The source and destination of the IP header l3 describes in buf. */
void pkt_addrs(const uint8_t *buf, const struct pkt_l3 *l3, struct dime_addr *src,
	       struct dime_addr *dst);

#endif
