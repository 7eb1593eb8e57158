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
