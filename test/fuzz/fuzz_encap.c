/*
 * libFuzzer target for what a DATA datagram meets before any state:
 * encap_hdr_get(), pkt_parse() of the inner packet and encap_rewrite()
 * (docs/ihmp.md §8.3). Asserts: no crash, no read beyond the input; a
 * refused rewrite changes nothing; a rewritten packet parses to the same
 * layout with the new addresses and ports, and an IPv4 header checksum
 * and an L4 checksum that verified still verify.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "addr.h"
#include "csum.h"
#include "encap.h"
#include "pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int l4_ok(const uint8_t *p, const struct pkt_info *pi)
{
	struct dime_addr s, d;
	pkt_addrs(p, &pi->ip, &s, &d);
	uint32_t ph = s.af == AF_INET ? csum_pseudo4(s.a, d.a, pi->ip.proto, pi->ip.l4_len) :
					csum_pseudo6(s.a, d.a, pi->ip.proto, pi->ip.l4_len);
	return csum_verify(ph, p + pi->ip.l4_off, pi->ip.l4_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t tag;
	struct pkt_info pi, pj;
	struct dime_addr s4, d4, s6, d6;

	if (encap_hdr_get(data, size, &tag) < 0)
		return 0;
	assert(tag != 0 && size >= ENCAP_HDR_LEN + 20);
	size_t n = size - ENCAP_HDR_LEN;
	uint8_t *p = malloc(n), *before = malloc(n);
	memcpy(p, data + ENCAP_HDR_LEN, n);
	memcpy(before, p, n);
	if (pkt_parse(&pi, p, n) == 0) {
		addr_parse(&s4, "198.18.0.1");
		addr_parse(&d4, "198.19.0.2");
		addr_parse(&s6, "2001:db8::1");
		addr_parse(&d6, "2001:db8:1::2");
		bool v4 = pi.ip.family == AF_INET;
		bool had_ip = !v4 || csum_verify(0, p, pi.ip.l3_len);
		bool had_l4 = pi.ip.has_l4 && !pi.l4_trunc && pi.ip.l4_len + pi.ip.l4_off <= n && l4_ok(p, &pi);
		bool udp0 = pi.ip.proto == IPPROTO_UDP && pi.ip.l4_len >= 8 &&
			    !p[pi.ip.l4_off + 6] && !p[pi.ip.l4_off + 7];
		/* tag's bits pick the ports and whether the family matches */
		bool wrong = tag & 1;
		const struct dime_addr *src = v4 != wrong ? &s4 : &s6, *dst = v4 != wrong ? &d4 : &d6;
		uint16_t sp = (uint16_t)(tag >> 8), dp = (uint16_t)(tag >> 16);
		int r = encap_rewrite(p, n, &pi, src, sp, dst, dp);
		if (r < 0) {
			assert(memcmp(p, before, n) == 0);
		} else {
			assert(!wrong);
			assert(pkt_parse(&pj, p, n) == 0);
			assert(pj.ip.l4_off == pi.ip.l4_off && pj.ip.proto == pi.ip.proto);
			assert(pj.ip.sport == sp && pj.ip.dport == dp);
			struct dime_addr a, b;
			pkt_addrs(p, &pj.ip, &a, &b);
			assert(addr_eq(&a, src) && addr_eq(&b, dst));
			if (had_ip)
				assert(!v4 || csum_verify(0, p, pj.ip.l3_len));
			if (had_l4 && !udp0)
				assert(l4_ok(p, &pj));
			/* Receive coalescing on what a peer could send: never
			 * beyond its buffers, whatever the headers claim. */
			static uint8_t gb[65535];
			struct encap_gro g = { .buf = gb, .cap = sizeof(gb) };
			struct encap_offload o;
			if (encap_gro_start(&g, p, n, &pj)) {
				encap_gro_append(&g, p, n, &pj);
				assert(encap_gro_finish(&g, &o) <= sizeof(gb));
			}
		}
	}
	free(p);
	free(before);
	return 0;
}
