/* encap: the DATA format and the inner rewrite (include/encap.h). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "csum.h"
#include "encap.h"
#include "xlate.h"

void encap_hdr_put(uint8_t hdr[ENCAP_HDR_LEN], uint32_t tag)
{
	hdr[0] = ENCAP_TYPE;
	hdr[1] = hdr[2] = hdr[3] = 0;
	hdr[4] = (uint8_t)(tag >> 24);
	hdr[5] = (uint8_t)(tag >> 16);
	hdr[6] = (uint8_t)(tag >> 8);
	hdr[7] = (uint8_t)tag;
}

int encap_hdr_get(const uint8_t *buf, size_t len, uint32_t *tag)
{
	/* The smallest inner packet is an IPv4 header. */
	if (len < ENCAP_HDR_LEN + 20 || buf[0] != ENCAP_TYPE || buf[1] || buf[2] || buf[3])
		return -EBADMSG;
	*tag = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
	return *tag ? 0 : -EBADMSG;
}

uint32_t encap_tag_tcp(uint32_t syn_seq)
{
	return syn_seq ? syn_seq : 1;
}

/* FNV-1a: a demultiplexing key, not a secret (the endpoint is proven). */
uint32_t encap_tag_udp(uint16_t dport_net, const uint8_t *payload, size_t len)
{
	uint32_t h = 2166136261u;
	uint8_t pre[6];

	memcpy(pre, &dport_net, 2);	/* as on the wire */
	pre[2] = (uint8_t)(len >> 24);
	pre[3] = (uint8_t)(len >> 16);
	pre[4] = (uint8_t)(len >> 8);
	pre[5] = (uint8_t)len;

	for (size_t i = 0; i < sizeof(pre); i++)
		h = (h ^ pre[i]) * 16777619u;
	for (size_t i = 0; i < len && i < 256; i++)
		h = (h ^ payload[i]) * 16777619u;
	return h ? h : 1;
}

int encap_rewrite(uint8_t *buf, size_t len, const struct pkt_info *pi, const struct dime_addr *src,
		  uint16_t sport, const struct dime_addr *dst, uint16_t dport)
{
	const struct pkt_l3 *l = &pi->ip;

	if (src->af != l->family || dst->af != l->family)
		return -EINVAL;
	if (pi->l4_trunc || !l->has_ports || l->frag || pi->icmp_err ||
	    (l->proto != IPPROTO_TCP && l->proto != IPPROTO_UDP))
		return -EBADMSG;
	size_t ckoff = l->proto == IPPROTO_TCP ? 16 : 6;
	if (l->l4_len < ckoff + 2)
		return -EBADMSG;
	struct xlate_addrs xa = { .src = src, .dst = dst };
	int r = xlate_packet(buf, len, pi, &xa, XLATE_CSUM_INCREMENTAL);
	if (r < 0)
		return r;
	uint8_t *l4 = buf + l->l4_off, *ck = l4 + ckoff;
	uint16_t ports[2] = { sport, dport };
	/* A UDP checksum of zero stays zero, as xlate_packet() leaves it:
	 * none over IPv4, a tunnel's over IPv6 (RFC 6935). */
	bool keep = l->proto == IPPROTO_UDP && !csum_get(ck);
	if (!keep) {
		csum_replace(ck, 0, l4, ports, 4);
		if (l->proto == IPPROTO_UDP && !csum_get(ck))
			csum_put(ck, 0xffff);
	}
	memcpy(l4, ports, 4);
	return 0;
}

/* Finishes a checksum the stack left partial: the field holds the
 * pseudo-header sum; the rest is ours to add. */
static int finish_csum(uint8_t *pkt, size_t len, uint16_t start, uint16_t offset)
{
	if (start >= len || (size_t)start + offset + 2 > len)
		return -EBADMSG;
	csum_put(pkt + start + offset, csum_finish(csum_add(0, pkt + start, len - start)));
	return 0;
}

int encap_build(uint8_t *out, size_t cap, uint32_t tag, const struct encap_offload *o, const uint8_t *pkt,
		size_t len, size_t *dgram)
{
	if (!o->gso_tcp) {
		if (len + ENCAP_HDR_LEN > cap)
			return -ENOSPC;
		encap_hdr_put(out, tag);
		memcpy(out + ENCAP_HDR_LEN, pkt, len);
		if (o->needs_csum && finish_csum(out + ENCAP_HDR_LEN, len, o->csum_start, o->csum_offset) < 0)
			return -EBADMSG;
		*dgram = len + ENCAP_HDR_LEN;
		return (int)*dgram;
	}
	/* A TCP super-packet: IPv4 (options allowed) or IPv6 without
	 * extension headers, as the local stack makes them. */
	if (len < 20)
		return -EBADMSG;
	bool v4 = (pkt[0] >> 4) == 4;
	size_t ihl = v4 ? (size_t)(pkt[0] & 15) * 4 : 40;
	if ((!v4 && (pkt[0] >> 4) != 6) || ihl < 20 || len < ihl + 20 ||
	    pkt[v4 ? 9 : 6] != IPPROTO_TCP)
		return -EBADMSG;
	size_t thl = (size_t)(pkt[ihl + 12] >> 4) * 4, hlen = ihl + thl;
	if (thl < 20 || len <= hlen || !o->gso_size)
		return -EBADMSG;
	size_t payload = len - hlen, mss = o->gso_size, nseg = (payload + mss - 1) / mss;
	size_t full = ENCAP_HDR_LEN + hlen + (nseg > 1 ? mss : payload);
	if (nseg * full > cap || (nseg - 1) * full + ENCAP_HDR_LEN + hlen + payload - (nseg - 1) * mss > cap)
		return -ENOSPC;
	uint32_t seq = (uint32_t)pkt[ihl + 4] << 24 | (uint32_t)pkt[ihl + 5] << 16 |
		       (uint32_t)pkt[ihl + 6] << 8 | pkt[ihl + 7];
	uint16_t id = v4 ? csum_get(pkt + 4) : 0;
	size_t off = 0;
	for (size_t i = 0; i < nseg; i++) {
		size_t chunk = i + 1 < nseg ? mss : payload - i * mss;
		uint8_t *d = out + off, *ip = d + ENCAP_HDR_LEN, *th = ip + ihl;
		encap_hdr_put(d, tag);
		memcpy(ip, pkt, hlen);
		memcpy(ip + hlen, pkt + hlen + i * mss, chunk);
		if (v4) {
			csum_put(ip + 2, (uint16_t)(hlen + chunk));
			csum_put(ip + 4, (uint16_t)(id + i));
			csum_put(ip + 10, 0);
			csum_put(ip + 10, csum_finish(csum_add(0, ip, ihl)));
		} else {
			csum_put(ip + 4, (uint16_t)(thl + chunk));
		}
		uint32_t s = seq + (uint32_t)(i * mss);
		th[4] = (uint8_t)(s >> 24);
		th[5] = (uint8_t)(s >> 16);
		th[6] = (uint8_t)(s >> 8);
		th[7] = (uint8_t)s;
		if (i + 1 < nseg)
			th[13] &= (uint8_t)~0x09;	/* FIN, PSH: the last segment's */
		if (i)
			th[13] &= (uint8_t)~0x80;	/* CWR: the first's */
		csum_put(th + 16, 0);
		uint32_t ph = v4 ? csum_pseudo4(ip + 12, ip + 16, IPPROTO_TCP, (uint32_t)(thl + chunk)) :
				   csum_pseudo6(ip + 8, ip + 24, IPPROTO_TCP, (uint32_t)(thl + chunk));
		csum_put(th + 16, csum_finish(ph + csum_add(0, th, thl + chunk)));
		off += ENCAP_HDR_LEN + hlen + chunk;
	}
	*dgram = full;
	return (int)off;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool encap_gro_start(struct encap_gro *g, const uint8_t *pkt, size_t len, const struct pkt_info *pi)
{
	const struct pkt_l3 *l = &pi->ip;
	g->len = 0;
	if (l->proto != IPPROTO_TCP || l->frag || pi->l4_trunc || l->l4_len < 20 || pi->len != len ||
	    (l->family == AF_INET6 && l->l4_off != 40) || len > g->cap)
		return false;
	const uint8_t *th = pkt + l->l4_off;
	size_t thl = (size_t)(th[12] >> 4) * 4;
	uint8_t fl = th[13];
	if (thl < 20 || l->l4_len <= thl || (fl != 0x10 && fl != 0x18))
		return false;
	memcpy(g->buf, pkt, len);
	g->len = len;
	g->l4_off = l->l4_off;
	g->hlen = l->l4_off + thl;
	g->seg = (uint16_t)(len - g->hlen);
	g->nseg = 1;
	g->next_seq = get32(th + 4) + g->seg;
	g->closed = fl & 0x08;
	return true;
}

bool encap_gro_append(struct encap_gro *g, const uint8_t *pkt, size_t len, const struct pkt_info *pi)
{
	const struct pkt_l3 *l = &pi->ip;
	if (!g->len || g->closed || l->proto != IPPROTO_TCP || l->frag || pi->len != len ||
	    l->l4_off != g->l4_off || len <= g->hlen || len - g->hlen > g->seg ||
	    g->len + (len - g->hlen) > g->cap || g->len + (len - g->hlen) > 65535)
		return false;
	const uint8_t *th = pkt + l->l4_off, *gth = g->buf + g->l4_off;
	bool v4 = l->family == AF_INET;
	/* The IP headers agree but for length, identifier and checksum
	 * (IPv4), length (IPv6); the TCP headers but for sequence number,
	 * window, checksum and PSH. */
	if (v4 ? memcmp(pkt, g->buf, 2) || memcmp(pkt + 6, g->buf + 6, 4) ||
		 memcmp(pkt + 12, g->buf + 12, l->l4_off - 12) :
		 memcmp(pkt, g->buf, 4) || memcmp(pkt + 6, g->buf + 6, 34))
		return false;
	if (get32(th + 4) != g->next_seq || memcmp(th, gth, 4) || memcmp(th + 8, gth + 8, 5) ||
	    (th[13] & ~0x08) != (gth[13] & ~0x08) || memcmp(th + 18, gth + 18, g->hlen - g->l4_off - 18))
		return false;
	size_t add = len - g->hlen;
	memcpy(g->buf + g->len, pkt + g->hlen, add);
	g->len += add;
	g->next_seq += (uint32_t)add;
	g->nseg++;
	memcpy(g->buf + g->l4_off + 14, th + 14, 2);	/* the newest window */
	if ((th[13] & 0x08) || add < g->seg) {
		g->buf[g->l4_off + 13] |= th[13] & 0x08;
		g->closed = true;
	}
	return true;
}

size_t encap_gro_finish(struct encap_gro *g, struct encap_offload *o)
{
	uint8_t *p = g->buf, *th = p + g->l4_off;
	bool v4 = (p[0] >> 4) == 4;

	*o = (struct encap_offload){ 0 };
	if (g->nseg < 2)
		return g->len;	/* as it came: every checksum complete */
	size_t l4 = g->len - g->l4_off;
	if (v4) {
		csum_put(p + 2, (uint16_t)g->len);
		csum_put(p + 10, 0);
		csum_put(p + 10, csum_finish(csum_add(0, p, g->l4_off)));
	} else {
		csum_put(p + 4, (uint16_t)(g->len - 40));
	}
	/* Partial, as a NIC's offload leaves it: the pseudo-header sum. */
	uint32_t ph = v4 ? csum_pseudo4(p + 12, p + 16, IPPROTO_TCP, (uint32_t)l4) :
			   csum_pseudo6(p + 8, p + 24, IPPROTO_TCP, (uint32_t)l4);
	csum_put(th + 16, csum_fold(ph));
	*o = (struct encap_offload){ .needs_csum = true, .csum_start = (uint16_t)g->l4_off, .csum_offset = 16,
				     .gso_tcp = true, .gso_size = g->seg };
	return g->len;
}
