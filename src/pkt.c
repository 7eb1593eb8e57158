#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "pkt.h"

/*
 * Every read is checked against an end offset first; offsets are uint32_t
 * and sizes are compared as "end - p < need" with p <= end, so nothing can
 * wrap.  Extension header lengths are at most 2 KiB each, so p stays sane.
 */

#define IPOPT_END	0
#define IPOPT_NOOP	1
#define IPOPT_LSRR_	131
#define IPOPT_SSRR_	137

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static int is_icmp_error(int family, uint8_t type)
{
	if (family == AF_INET)
		return type == 3 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

static int parse_v4opts(struct pkt_l3 *h, const uint8_t *ip, uint32_t ihl)
{
	uint32_t i = 20;

	while (i < ihl) {
		uint8_t t = ip[i];

		if (t == IPOPT_END)
			break;
		if (t == IPOPT_NOOP) {
			i++;
			continue;
		}
		if (ihl - i < 2 || ip[i + 1] < 2 || ip[i + 1] > ihl - i)
			return -EBADMSG;
		uint32_t ol = ip[i + 1];
		/* The pointer is 1-based and names the next address. */
		if ((t == IPOPT_LSRR_ || t == IPOPT_SSRR_) && ol >= 3 &&
		    ip[i + 2] >= 4 && ip[i + 2] + 3u <= ol)
			h->srcroute = true;
		i += ol;
	}
	return 0;
}

static int parse_v4(struct pkt_l3 *h, const uint8_t *buf, uint32_t *endp, bool quote)
{
	uint32_t off = h->off, end = *endp;
	const uint8_t *ip = buf + off;

	if (end - off < 20 || ip[0] >> 4 != 4)
		return -EBADMSG;
	uint32_t ihl = (ip[0] & 0x0fu) * 4;
	if (ihl < 20 || ihl > end - off)
		return -EBADMSG;
	/* A quote is cut short on purpose: its total length is the
	 * original's. */
	if (!quote) {
		uint32_t tot = get16(ip + 2);
		if (tot < ihl || tot > end - off)
			return -EBADMSG;
		end = off + tot;
	}
	if (parse_v4opts(h, ip, ihl) < 0)
		return -EBADMSG;

	uint16_t fo = get16(ip + 6);
	h->family = AF_INET;
	h->frag_off = fo & 0x1fff;
	h->frag = (fo & 0x2000) || h->frag_off;
	h->first_frag = h->frag && !h->frag_off;
	h->proto = ip[9];
	h->l3_len = ihl;
	h->has_l4 = !h->frag_off && h->proto != IPPROTO_ESP && h->proto != IPPROTO_NONE;
	*endp = end;
	return 0;
}

/* In a quote, an extension chain we cannot follow only hides the L4 header. */
static int v6_stop(struct pkt_l3 *h, bool quote, int err)
{
	if (!quote)
		return err;
	h->proto = IPPROTO_NONE;
	h->has_l4 = false;
	return 0;
}

static int parse_v6(struct pkt_l3 *h, const uint8_t *buf, uint32_t *endp, bool quote)
{
	uint32_t off = h->off, end = *endp;
	const uint8_t *ip = buf + off;

	if (end - off < 40 || ip[0] >> 4 != 6)
		return -EBADMSG;
	if (!quote) {
		uint32_t plen = get16(ip + 4);
		if (plen > end - off - 40)
			return -EBADMSG;
		end = off + 40 + plen;
	}
	h->family = AF_INET6;
	h->has_l4 = true;
	*endp = end;

	uint8_t nh = ip[6];
	uint32_t p = off + 40;
	for (int n = 0;; n++) {
		uint32_t hl;

		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
		case IPPROTO_FRAGMENT:
			break;
		case IPPROTO_MH:
		case 139:	/* HIP */
		case 140:	/* Shim6 */
		case 253:	/* experiments, RFC 3692 */
		case 254:
			return v6_stop(h, quote, -EPROTONOSUPPORT);
		default:
			goto upper;
		}
		if (n >= PKT_MAX_EXTHDRS)
			return v6_stop(h, quote, -EPROTONOSUPPORT);
		if (nh == IPPROTO_HOPOPTS && n)
			return v6_stop(h, quote, -EBADMSG);
		if (end - p < 8)
			return v6_stop(h, quote, -EBADMSG);
		if (nh == IPPROTO_FRAGMENT)
			hl = 8;
		else if (nh == IPPROTO_AH)
			hl = (buf[p + 1] + 2u) * 4;
		else
			hl = (buf[p + 1] + 1u) * 8;
		if (hl > end - p)
			return v6_stop(h, quote, -EBADMSG);
		if (nh == IPPROTO_ROUTING && buf[p + 3])
			h->srcroute = true;
		if (nh == IPPROTO_FRAGMENT) {
			uint16_t fo = get16(buf + p + 2);
			/* Offset 0 without M is an atomic fragment: the
			 * whole datagram is here (RFC 6946). */
			if (fo & 0xfff9) {
				h->frag = true;
				h->frag_off = fo >> 3;
				h->first_frag = !h->frag_off;
			}
			if (h->frag_off) {
				/* Later fragment: the rest is payload. */
				h->proto = buf[p];
				h->has_l4 = false;
				h->l3_len = p + hl - off;
				return 0;
			}
		}
		nh = buf[p];
		p += hl;
	}
upper:
	h->proto = nh;
	h->l3_len = p - off;
	if (nh == IPPROTO_ESP || nh == IPPROTO_NONE)
		h->has_l4 = false;
	return 0;
}

/* The bytes an upper-layer header needs before we can use it. */
static uint32_t l4_min(int family, uint8_t proto, const uint8_t *l4, uint32_t avail)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		return 8;
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		return 12;
	case IPPROTO_ICMP:
		return family == AF_INET ? 8 : 0;
	case IPPROTO_ICMPV6:
		if (family != AF_INET6)
			return 0;
		/* Echo and errors have an 8-byte header, others 4. */
		if (avail >= 1 && (l4[0] == 128 || l4[0] == 129 || is_icmp_error(AF_INET6, l4[0])))
			return 8;
		return 4;
	default:
		return 0;
	}
}

/* Returns false when an outer L4 header is cut short. */
static bool parse_l4(struct pkt_l3 *h, const uint8_t *buf, uint32_t end, bool quote)
{
	h->l4_off = h->off + h->l3_len;
	h->l4_len = end - h->l4_off;
	if (!h->has_l4)
		return true;

	const uint8_t *l4 = buf + h->l4_off;
	uint32_t min = l4_min(h->family, h->proto, l4, h->l4_len);
	if (!min)
		return true;
	bool icmp = h->proto == (h->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	if (icmp) {
		if (h->l4_len < min)
			return quote;
		h->has_icmp = true;
		h->icmp_type = l4[0];
		h->icmp_code = l4[1];
		if (h->family == AF_INET ? (l4[0] == 0 || l4[0] == 8) : (l4[0] == 128 || l4[0] == 129)) {
			h->icmp_echo = true;
			memcpy(&h->icmp_id, l4 + 4, 2);
		}
		return true;
	}
	/* A quote usually holds 8 bytes of L4 (RFC 792): ports are enough. */
	if (h->l4_len < (quote ? 4 : min))
		return quote;
	h->has_ports = true;
	memcpy(&h->sport, l4, 2);
	memcpy(&h->dport, l4 + 2, 2);
	return true;
}

static int parse_l3(struct pkt_l3 *h, const uint8_t *buf, uint32_t off, uint32_t *endp,
		    bool quote)
{
	h->off = off;
	if (*endp - off < 1)
		return -EBADMSG;
	switch (buf[off] >> 4) {
	case 4:
		return parse_v4(h, buf, endp, quote);
	case 6:
		return parse_v6(h, buf, endp, quote);
	default:
		return -EBADMSG;
	}
}

int pkt_parse(struct pkt_info *pi, const uint8_t *buf, size_t len)
{
	memset(pi, 0, sizeof(*pi));
	/* Nothing IP is longer than 40 + 65535 bytes; keep offsets in 32 bits. */
	uint32_t end = len > 0x20000 ? 0x20000 : (uint32_t)len;
	int r = parse_l3(&pi->ip, buf, 0, &end, false);
	if (r < 0)
		return r;
	pi->len = end;
	if (!parse_l4(&pi->ip, buf, end, false)) {
		pi->l4_trunc = true;
		return 0;
	}
	if (!pi->ip.has_icmp || !is_icmp_error(pi->ip.family, pi->ip.icmp_type))
		return 0;

	/* The quote runs to the end of this packet (or fragment). */
	uint32_t qend = end;
	if (parse_l3(&pi->inner, buf, pi->ip.l4_off + 8, &qend, true) < 0 ||
	    pi->inner.family != pi->ip.family) {
		memset(&pi->inner, 0, sizeof(pi->inner));
		pi->l4_trunc = true;
		return 0;
	}
	parse_l4(&pi->inner, buf, qend, true);
	pi->icmp_err = true;
	return 0;
}

void pkt_addrs(const uint8_t *buf, const struct pkt_l3 *l3, struct dime_addr *src,
	       struct dime_addr *dst)
{
	if (l3->family == AF_INET) {
		addr_set(src, AF_INET, buf + l3->off + 12);
		addr_set(dst, AF_INET, buf + l3->off + 16);
	} else {
		addr_set(src, AF_INET6, buf + l3->off + 8);
		addr_set(dst, AF_INET6, buf + l3->off + 24);
	}
}
