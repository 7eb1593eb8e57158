#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "csum.h"
#include "xlate.h"

/* A checksum to keep right while bytes of its region change. */
struct fix {
	uint8_t *ck;		/* field, or NULL for none */
	uint32_t base;		/* region start; only its parity matters */
	bool udp;		/* a result of 0 is sent as 0xffff */
};

/* Writes n bytes at off and updates each checksum for the change. */
static void put(uint8_t *buf, uint32_t off, const void *nw, size_t n,
		const struct fix *fx, size_t nfx)
{
	for (size_t i = 0; i < nfx; i++) {
		if (!fx[i].ck)
			continue;
		uint16_t v = csum_update(csum_get(fx[i].ck), off - fx[i].base,
					 buf + off, nw, n);
		if (!v && fx[i].udp)
			v = 0xffff;
		csum_put(fx[i].ck, v);
	}
	memcpy(buf + off, nw, n);
}

static uint32_t src_off(int family)
{
	return family == AF_INET ? 12 : 8;
}

static uint32_t dst_off(int family)
{
	return family == AF_INET ? 16 : 24;
}

/* Offset of the checksum field in an upper-layer header whose checksum
 * covers the pseudo-header (or for ICMPv4, only its message), or 0. */
static uint32_t l4_ck_off(int family, uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 16;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_DCCP:
		return 6;
	case IPPROTO_ICMP:
		return family == AF_INET ? 2 : 0;
	case IPPROTO_ICMPV6:
		return family == AF_INET6 ? 2 : 0;
	default:
		return 0;
	}
}

static bool uses_pseudo(uint8_t proto)
{
	return proto != IPPROTO_ICMP;
}

/* UDP and UDP-Lite send a computed 0 as 0xffff (RFC 768, RFC 3828). */
static bool is_udp(uint8_t proto)
{
	return proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE;
}

/* The field of a (possibly quoted) L4 checksum we may touch, or NULL. */
static uint8_t *l4_ck(uint8_t *buf, const struct pkt_l3 *h)
{
	uint32_t o = l4_ck_off(h->family, h->proto);

	if (!h->has_l4 || !o || h->l4_len < o + 2)
		return NULL;
	uint8_t *ck = buf + h->l4_off + o;
	/* Zero UDP checksums stay zero (none on IPv4, tunnels on IPv6). */
	if (h->proto == IPPROTO_UDP && !csum_get(ck))
		return NULL;
	return ck;
}

static bool addr_ok(const struct dime_addr *a, int family)
{
	return !a || a->af == family;
}

/* Full L4 checksum from the bytes in buf, after the addresses changed. */
static void l4_full(uint8_t *buf, const struct pkt_l3 *h, uint8_t *ck, uint32_t l4len)
{
	const uint8_t *ip = buf + h->off;
	uint32_t sum = 0;

	if (h->family == AF_INET6)
		sum = csum_pseudo6(ip + 8, ip + 24, h->proto, l4len);
	else if (uses_pseudo(h->proto))
		sum = csum_pseudo4(ip + 12, ip + 16, h->proto, l4len);
	csum_put(ck, 0);
	uint16_t v = csum_finish(csum_add(sum, buf + h->l4_off, l4len));
	if (!v && is_udp(h->proto))
		v = 0xffff;
	csum_put(ck, v);
}

int xlate_packet(uint8_t *buf, size_t len, const struct pkt_info *pi,
		 const struct xlate_addrs *xa, enum xlate_csum mode)
{
	const struct pkt_l3 *ip = &pi->ip, *in = &pi->inner;
	bool outer = xa->src || xa->dst, inner = xa->inner_src || xa->inner_dst;
	/* A first fragment lacks the rest of the payload. */
	bool full = mode == XLATE_CSUM_FULL && !ip->frag;
	uint32_t ulen = 0;

	/* Everything is checked before the first byte changes. */
	if (pi->len > len || pi->len < ip->l4_off || !ip->family)
		return -EINVAL;
	if (!addr_ok(xa->src, ip->family) || !addr_ok(xa->dst, ip->family))
		return -EINVAL;
	if (inner && (!pi->icmp_err || !addr_ok(xa->inner_src, in->family) ||
		      !addr_ok(xa->inner_dst, in->family)))
		return -EINVAL;
	if (pi->l4_trunc)
		return -EBADMSG;
	if (outer && ip->srcroute)
		return -EOPNOTSUPP;

	uint8_t *ck = l4_ck(buf, ip);
	if (full && ip->has_l4) {
		switch (ip->proto) {
		case IPPROTO_TCP:
			break;
		case IPPROTO_UDP:
			ulen = csum_get(buf + ip->l4_off + 4);
			if (ck && (ulen < 8 || ulen > ip->l4_len))
				return -EBADMSG;
			break;
		case IPPROTO_ICMP:
			if (ip->family != AF_INET)
				return -EPROTONOSUPPORT;
			break;
		case IPPROTO_ICMPV6:
			if (ip->family != AF_INET6)
				return -EPROTONOSUPPORT;
			break;
		default:
			return -EPROTONOSUPPORT;
		}
	}

	/* The outer L4 checksum sees a quote as data and, except ICMPv4,
	 * the addresses through the pseudo-header.  FULL recomputes it. */
	struct fix l4fix = { full ? NULL : ck, ip->l4_off, is_udp(ip->proto) };

	if (inner) {
		uint8_t *ick = l4_ck(buf, in), lck[2], hck[2];

		/* The quoted ICMPv4 checksum does not cover addresses; a quote
		 * with a source route has an unknown pseudo-header
		 * destination.  Both are left as they were. */
		if (in->srcroute || !uses_pseudo(in->proto))
			ick = NULL;
		if (ick)
			memcpy(lck, ick, 2);
		if (in->family == AF_INET)
			memcpy(hck, buf + in->off + 10, 2);
		/* Quoted checksums are computed on copies, then written as
		 * data of the outer L4 region. */
		struct fix ifx[3] = {
			{ ick ? lck : NULL, in->off, is_udp(in->proto) },
			{ in->family == AF_INET ? hck : NULL, in->off, false },
			l4fix,
		};
		if (xa->inner_src)
			put(buf, in->off + src_off(in->family), xa->inner_src->a,
			    addr_len(xa->inner_src), ifx, 3);
		if (xa->inner_dst)
			put(buf, in->off + dst_off(in->family), xa->inner_dst->a,
			    addr_len(xa->inner_dst), ifx, 3);
		if (in->family == AF_INET)
			put(buf, in->off + 10, hck, 2, &l4fix, 1);
		if (ick)
			put(buf, (uint32_t)(ick - buf), lck, 2, &l4fix, 1);
	}

	struct fix ofx[2] = {
		{ ip->family == AF_INET ? buf + ip->off + 10 : NULL, ip->off, false },
		{ uses_pseudo(ip->proto) ? l4fix.ck : NULL, ip->off, l4fix.udp },
	};
	if (xa->src)
		put(buf, ip->off + src_off(ip->family), xa->src->a, addr_len(xa->src), ofx, 2);
	if (xa->dst)
		put(buf, ip->off + dst_off(ip->family), xa->dst->a, addr_len(xa->dst), ofx, 2);

	if (full && ck)
		l4_full(buf, ip, ck, ip->proto == IPPROTO_UDP ? ulen : ip->l4_len);
	return 0;
}
