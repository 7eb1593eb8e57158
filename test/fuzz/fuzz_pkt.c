/*
 * libFuzzer target for pkt_parse() and xlate_packet().  The first input byte
 * chooses which addresses to rewrite (and whether to pass a wrong family);
 * the rest is the packet.  Asserts: no crash, no read beyond the input, a
 * refused translation leaves every byte as it was, a translated packet
 * parses to the same layout, and checksums keep their validity (IPv4
 * header always; L4 in incremental mode).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "addr.h"
#include "csum.h"
#include "pkt.h"
#include "xlate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_layout(const struct pkt_info *a, const struct pkt_info *b)
{
	assert(a->len == b->len && a->l4_trunc == b->l4_trunc && a->icmp_err == b->icmp_err);
	assert(a->ip.proto == b->ip.proto && a->ip.l4_off == b->ip.l4_off);
	assert(a->ip.frag == b->ip.frag && a->ip.has_ports == b->ip.has_ports);
	assert(a->ip.sport == b->ip.sport && a->ip.dport == b->ip.dport);
	assert(a->ip.icmp_id == b->ip.icmp_id && a->ip.icmp_type == b->ip.icmp_type);
	if (a->icmp_err) {
		assert(a->inner.off == b->inner.off && a->inner.l4_off == b->inner.l4_off);
		assert(a->inner.proto == b->inner.proto && a->inner.has_ports == b->inner.has_ports);
		assert(a->inner.sport == b->inner.sport && a->inner.dport == b->inner.dport);
	}
}

static int ip_ok(const uint8_t *p, const struct pkt_info *pi)
{
	return pi->ip.family != AF_INET || csum_verify(0, p, pi->ip.l3_len);
}

/* -1: no complete L4 checksum to check here; else 0/1. */
static int l4_ok(const uint8_t *p, const struct pkt_info *pi)
{
	const struct pkt_l3 *h = &pi->ip;
	uint32_t s = 0;

	if (!h->has_l4 || h->frag || pi->l4_trunc || h->srcroute)
		return -1;
	switch (h->proto) {
	case IPPROTO_TCP:
		break;
	case IPPROTO_ICMPV6:	/* its checksum is defined over IPv6 only */
		if (h->family != AF_INET6)
			return -1;
		break;
	case IPPROTO_UDP:
		if (!(p[h->l4_off + 6] | p[h->l4_off + 7]))
			return -1;
		break;
	case IPPROTO_ICMP:
		if (h->family != AF_INET)
			return -1;
		return csum_verify(0, p + h->l4_off, h->l4_len);
	default:
		return -1;
	}
	if (h->family == AF_INET)
		s = csum_pseudo4(p + 12, p + 16, h->proto, h->l4_len);
	else
		s = csum_pseudo6(p + 8, p + 24, h->proto, h->l4_len);
	return csum_verify(s, p + h->l4_off, h->l4_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_info pi, pi2;
	struct dime_addr a[4];

	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++;
	size--;

	/* Exactly size bytes on the heap so that ASan sees any overread. */
	uint8_t *orig = malloc(size ? size : 1), *p = malloc(size ? size : 1);
	memcpy(orig, data, size);
	if (pkt_parse(&pi, orig, size) < 0)
		goto out;
	assert(pi.len <= size && pi.ip.l4_off + pi.ip.l4_len == pi.len);

	int fam = pi.ip.family;
	if (flags & 0x80)
		fam = fam == AF_INET ? AF_INET6 : AF_INET;
	for (int i = 0; i < 4; i++) {
		uint8_t b[16];
		for (int j = 0; j < 16; j++)
			b[j] = (uint8_t)(0x11 * (i + 1) + j * (flags | 1));
		addr_set(&a[i], fam, b);
	}
	struct xlate_addrs xa = {
		flags & 1 ? &a[0] : NULL, flags & 2 ? &a[1] : NULL,
		flags & 4 ? &a[2] : NULL, flags & 8 ? &a[3] : NULL,
	};

	for (int m = 0; m < 2; m++) {
		enum xlate_csum mode = m ? XLATE_CSUM_FULL : XLATE_CSUM_INCREMENTAL;

		memcpy(p, orig, size);
		int r = xlate_packet(p, size, &pi, &xa, mode);
		if (r < 0) {
			assert(memcmp(p, orig, size) == 0);
			continue;
		}
		assert(r == 0);
		assert(pkt_parse(&pi2, p, size) == 0);
		same_layout(&pi, &pi2);
		assert(ip_ok(p, &pi) == ip_ok(orig, &pi));
		if (pi.ip.proto == IPPROTO_UDP && pi.ip.has_l4 && !pi.l4_trunc &&
		    !(orig[pi.ip.l4_off + 6] | orig[pi.ip.l4_off + 7]))
			assert(!(p[pi.ip.l4_off + 6] | p[pi.ip.l4_off + 7]));
		int before = l4_ok(orig, &pi), after = l4_ok(p, &pi);
		if (mode == XLATE_CSUM_INCREMENTAL)
			assert(before == after);
		else if (after >= 0 && !(pi.ip.proto == IPPROTO_UDP &&
					 ((uint32_t)p[pi.ip.l4_off + 4] << 8 | p[pi.ip.l4_off + 5]) != pi.ip.l4_len))
			assert(after == 1);
	}
out:
	free(orig);
	free(p);
	return 0;
}
