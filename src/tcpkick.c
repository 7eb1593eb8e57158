/* tcpkick: the packets that restart our own TCP senders after a handoff,
 * put into the local stack as if they had arrived (dimed's TUN device):
 * an ICMP error (RFC 6069) or the peer's ACK. */
#include <stdbool.h>
#include <netinet/in.h>
#include <string.h>

#include "csum.h"
#include "tcpkick.h"

/* Big-endian stores: csum_put is the 16-bit one. */
static void put32(uint8_t *p, uint32_t v)
{
	csum_put(p, (uint16_t)(v >> 16));
	csum_put(p + 2, (uint16_t)v);
}

/* An IP header from src to dst carrying plen bytes of proto. */
static size_t ip_header(uint8_t *q, const struct dime_addr *src, const struct dime_addr *dst, uint8_t proto,
			size_t plen)
{
	if (src->af == AF_INET) {
		memset(q, 0, 20);
		q[0] = 0x45;
		csum_put(q + 2, (uint16_t)(20 + plen));
		q[8] = 64;
		q[9] = proto;
		memcpy(q + 12, src->a, 4);
		memcpy(q + 16, dst->a, 4);
		csum_put(q + 10, csum_finish(csum_add(0, q, 20)));
		return 20;
	}
	memset(q, 0, 40);
	q[0] = 0x60;
	csum_put(q + 4, (uint16_t)plen);
	q[6] = proto;
	q[7] = 64;
	memcpy(q + 8, src->a, 16);
	memcpy(q + 24, dst->a, 16);
	return 40;
}

/* Our segment's header as the error quotes it: IP header and the first 8
 * octets of TCP (ports and sequence number, all tcp_v4_err/tcp_v6_err read). */
static size_t quote(uint8_t *q, const struct dime_addr *lid, uint16_t lport, const struct dime_addr *rid,
		    uint16_t rport, uint32_t seq)
{
	size_t n = ip_header(q, lid, rid, IPPROTO_TCP, 20);
	memcpy(q + n, &lport, 2);
	memcpy(q + n + 2, &rport, 2);
	put32(q + n + 4, seq);
	return n + 8;
}

size_t tcpkick_build(uint8_t *buf, size_t cap, const struct dime_addr *lid, uint16_t lport,
		     const struct dime_addr *rid, uint16_t rport, uint32_t seq)
{
	bool v4 = lid->af == AF_INET;
	size_t hl = v4 ? 20 : 40;

	if (lid->af != rid->af || cap < TCPKICK_MAX_LEN)
		return 0;
	uint8_t *icmp = buf + hl;
	memset(icmp, 0, 8);
	uint16_t ilen = (uint16_t)(8 + quote(icmp + 8, lid, lport, rid, rport, seq));
	ip_header(buf, rid, lid, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, ilen);
	if (v4) {
		icmp[0] = 3;	/* destination unreachable */
		icmp[1] = 1;	/* host unreachable: RFC 6069 reverts on it */
		csum_put(icmp + 2, csum_finish(csum_add(0, icmp, ilen)));
	} else {
		icmp[0] = 1;	/* destination unreachable */
		icmp[1] = 0;	/* no route: the code tcp_v6_err reverts on */
		uint32_t s = csum_pseudo6(rid->a, lid->a, IPPROTO_ICMPV6, ilen);
		csum_put(icmp + 2, csum_finish(csum_add(s, icmp, ilen)));
	}
	return hl + ilen;
}

size_t tcpkick_build_ack(uint8_t *buf, size_t cap, const struct dime_addr *lid, uint16_t lport,
			 const struct dime_addr *rid, uint16_t rport, uint32_t seq, uint32_t ack, uint16_t win)
{
	if (lid->af != rid->af || cap < TCPKICK_MAX_LEN)
		return 0;
	size_t hl = ip_header(buf, rid, lid, IPPROTO_TCP, 20);
	uint8_t *t = buf + hl;
	memset(t, 0, 20);
	memcpy(t, &rport, 2);
	memcpy(t + 2, &lport, 2);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;		/* no options: no timestamp our socket could find stale */
	t[13] = 0x10;		/* ACK */
	csum_put(t + 14, win);
	uint32_t s = lid->af == AF_INET ? csum_pseudo4(rid->a, lid->a, IPPROTO_TCP, 20) :
					  csum_pseudo6(rid->a, lid->a, IPPROTO_TCP, 20);
	csum_put(t + 16, csum_finish(csum_add(s, t, 20)));
	return hl + 20;
}
