/* encap: the DATA header, the flow tags and the inner rewrite, against the
 * vectors of docs/ihmp.md §8.6 byte for byte. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "csum.h"
#include "encap.h"
#include "pkt.h"

/* UDP/IPv4 198.18.1.10:40000 -> 198.19.0.2:5201 "dime", as A's socket sent it */
static const uint8_t v_inner_a[] = {
	0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x9b, 0x67,
	0xc6, 0x12, 0x01, 0x0a, 0xc6, 0x13, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51,
	0x00, 0x0c, 0xf0, 0x43, 0x64, 0x69, 0x6d, 0x65,
};
/* the same as B's socket knows the flow: 198.19.0.99:41000 (A's NAT) */
static const uint8_t v_inner_b[] = {
	0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x9c, 0x0d,
	0xc6, 0x13, 0x00, 0x63, 0xc6, 0x13, 0x00, 0x02, 0xa0, 0x28, 0x14, 0x51,
	0x00, 0x0c, 0xed, 0x01, 0x64, 0x69, 0x6d, 0x65,
};

static struct dime_addr A(const char *s)
{
	struct dime_addr a;
	if (addr_parse(&a, s) < 0)
		abort();
	return a;
}

static void test_header(void)
{
	uint8_t b[ENCAP_HDR_LEN + sizeof(v_inner_a)];
	uint32_t tag = 0;

	encap_hdr_put(b, 0x5954fa93);
	static const uint8_t want[] = { 0x80, 0, 0, 0, 0x59, 0x54, 0xfa, 0x93 };
	CHECK(memcmp(b, want, sizeof(want)) == 0);
	memcpy(b + ENCAP_HDR_LEN, v_inner_a, sizeof(v_inner_a));
	CHECK_EQ(encap_hdr_get(b, sizeof(b), &tag), 0);
	CHECK_EQ(tag, 0x5954fa93);
	/* Too short for an inner IPv4 header, another type, reserved bits,
	 * tag 0: all malformed. */
	CHECK_EQ(encap_hdr_get(b, ENCAP_HDR_LEN + 19, &tag), -EBADMSG);
	b[0] = 1;	/* an IHMP message */
	CHECK_EQ(encap_hdr_get(b, sizeof(b), &tag), -EBADMSG);
	b[0] = ENCAP_TYPE;
	b[2] = 1;
	CHECK_EQ(encap_hdr_get(b, sizeof(b), &tag), -EBADMSG);
	b[2] = 0;
	encap_hdr_put(b, 0);
	CHECK_EQ(encap_hdr_get(b, sizeof(b), &tag), -EBADMSG);
}

static void test_tags(void)
{
	/* The opener's SYN sequence number; never 0. */
	CHECK_EQ(encap_tag_tcp(0x6b8b4567), 0x6b8b4567);
	CHECK_EQ(encap_tag_tcp(0), 1);
	/* UDP: FNV-1a over the destination port, the payload length and
	 * the payload (its first 256 octets). */
	CHECK_EQ(encap_tag_udp(htons(5201), (const uint8_t *)"dime", 4), 0x5954fa93);
	CHECK(encap_tag_udp(htons(5202), (const uint8_t *)"dime", 4) != 0x5954fa93);
	CHECK(encap_tag_udp(htons(5201), (const uint8_t *)"dimf", 4) != 0x5954fa93);
	uint8_t big[300];
	memset(big, 7, sizeof(big));
	uint32_t t = encap_tag_udp(htons(53), big, sizeof(big));
	big[299] = 8;	/* past the hashed part: same tag */
	CHECK_EQ(encap_tag_udp(htons(53), big, sizeof(big)), t);
}

static void test_rewrite(void)
{
	uint8_t b[sizeof(v_inner_a)];
	struct pkt_info pi;
	struct dime_addr nat = A("198.19.0.99"), peer = A("198.19.0.2");

	memcpy(b, v_inner_a, sizeof(b));
	CHECK_EQ(pkt_parse(&pi, b, sizeof(b)), 0);
	CHECK_EQ(encap_rewrite(b, sizeof(b), &pi, &nat, htons(41000), &peer, htons(5201)), 0);
	CHECK(memcmp(b, v_inner_b, sizeof(b)) == 0);
	/* And back: the other end's view. */
	struct dime_addr a = A("198.18.1.10");
	CHECK_EQ(pkt_parse(&pi, b, sizeof(b)), 0);
	CHECK_EQ(encap_rewrite(b, sizeof(b), &pi, &a, htons(40000), &peer, htons(5201)), 0);
	CHECK(memcmp(b, v_inner_a, sizeof(b)) == 0);
	/* A UDP checksum of zero over IPv4 stays zero. */
	memcpy(b, v_inner_a, sizeof(b));
	b[26] = b[27] = 0;
	CHECK_EQ(pkt_parse(&pi, b, sizeof(b)), 0);
	CHECK_EQ(encap_rewrite(b, sizeof(b), &pi, &nat, htons(41000), &peer, htons(5201)), 0);
	CHECK(b[26] == 0 && b[27] == 0);
	CHECK(csum_verify(0, b, 20));
	/* Family mismatch; no ports (ICMP). */
	struct dime_addr v6 = A("2001:db8::1");
	memcpy(b, v_inner_a, sizeof(b));
	CHECK_EQ(pkt_parse(&pi, b, sizeof(b)), 0);
	CHECK_EQ(encap_rewrite(b, sizeof(b), &pi, &v6, 1, &peer, 1), -EINVAL);
	b[9] = 1;	/* ICMP */
	CHECK_EQ(pkt_parse(&pi, b, sizeof(b)), 0);
	CHECK_EQ(encap_rewrite(b, sizeof(b), &pi, &nat, 1, &peer, 1), -EBADMSG);
}

/* TCP over IPv6: the rewritten segment verifies, full checksum. */
static void test_rewrite_tcp6(void)
{
	uint8_t b[40 + 20 + 5];
	struct dime_addr s = A("2001:db8:1::2"), d = A("2001:db8::10");
	struct dime_addr s2 = A("2001:db8:99::7"), d2 = A("2001:db8::10");
	struct pkt_info pi;

	memset(b, 0, sizeof(b));
	b[0] = 0x60;
	b[4] = 0;
	b[5] = 25;
	b[6] = IPPROTO_TCP;
	b[7] = 64;
	memcpy(b + 8, s.a, 16);
	memcpy(b + 24, d.a, 16);
	uint8_t *t = b + 40;
	t[0] = 0x9c; t[1] = 0x40; t[2] = 0x14; t[3] = 0x51;
	t[4] = 1; t[12] = 0x50; t[13] = 0x18; t[14] = 0xff;
	memcpy(t + 20, "hello", 5);
	csum_put(t + 16, csum_finish(csum_pseudo6(s.a, d.a, IPPROTO_TCP, 25) + csum_add(0, t, 25)));
	CHECK_EQ(pkt_parse(&pi, b, sizeof(b)), 0);
	CHECK_EQ(encap_rewrite(b, sizeof(b), &pi, &s2, htons(1), &d2, htons(2)), 0);
	CHECK(t[0] == 0 && t[1] == 1 && t[2] == 0 && t[3] == 2);
	CHECK(csum_verify(csum_pseudo6(s2.a, d2.a, IPPROTO_TCP, 25), t, 25));
}

/* A TCP/IPv4 super-packet as the stack hands the TUN: 1,000-octet
 * segments, timestamps, PSH, the checksum partial (pseudo-header sum). */
static size_t super4(uint8_t *b, size_t payload)
{
	struct dime_addr s = A("198.18.1.2"), d = A("198.18.0.10");
	size_t hl = 20 + 32, len = hl + payload;

	memset(b, 0, hl);
	b[0] = 0x45;
	csum_put(b + 2, (uint16_t)len);
	csum_put(b + 4, 0x1000);
	b[6] = 0x40;
	b[8] = 64;
	b[9] = IPPROTO_TCP;
	memcpy(b + 12, s.a, 4);
	memcpy(b + 16, d.a, 4);
	csum_put(b + 10, csum_finish(csum_add(0, b, 20)));
	uint8_t *t = b + 20;
	t[0] = 0x9c; t[1] = 0x40; t[2] = 0x14; t[3] = 0x51;
	t[4] = 0xff; t[5] = 0xff; t[6] = 0xfc; t[7] = 0x00;	/* wraps mid-way */
	t[11] = 7;
	t[12] = 0x80;
	t[13] = 0x18;	/* ACK PSH */
	t[15] = 200;
	t[20] = 1; t[21] = 1; t[22] = 8; t[23] = 10;	/* NOP NOP TS */
	for (size_t i = 0; i < payload; i++)
		b[hl + i] = (uint8_t)(i * 7);
	csum_put(t + 16, csum_fold(csum_pseudo4(s.a, d.a, IPPROTO_TCP, (uint32_t)(32 + payload))));
	return len;
}

static bool tcp_ok(const uint8_t *ip, size_t len)
{
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	return csum_verify(0, ip, ihl) &&
	       csum_verify(csum_pseudo4(ip + 12, ip + 16, IPPROTO_TCP, (uint32_t)(len - ihl)), ip + ihl, len - ihl);
}

static uint8_t big[70000], out[80000], gbuf[65535];

/* A super-packet out: three segments, each complete; and back in: joined
 * into one again, which the stack completes to a valid checksum. */
static void test_segment_and_join(void)
{
	size_t len = super4(big, 2500), dgram = 0;
	struct encap_offload o = { .needs_csum = true, .csum_start = 20, .csum_offset = 16,
				   .gso_tcp = true, .gso_size = 1000 };
	int total = encap_build(out, sizeof(out), 0x77, &o, big, len, &dgram);
	CHECK_EQ(dgram, 8 + 52 + 1000);
	CHECK_EQ(total, 2 * (8 + 52 + 1000) + 8 + 52 + 500);
	struct encap_gro g = { .buf = gbuf, .cap = sizeof(gbuf) };
	for (int i = 0; i < 3; i++) {
		const uint8_t *d = out + i * dgram, *ip = d + 8;
		size_t n = i < 2 ? 1052 : 552;
		uint32_t tag;
		CHECK_EQ(encap_hdr_get(d, n + 8, &tag), 0);
		CHECK_EQ(tag, 0x77);
		CHECK_EQ(csum_get(ip + 2), n);
		CHECK_EQ(csum_get(ip + 4), 0x1000 + i);
		CHECK(tcp_ok(ip, n));
		uint32_t seq = (uint32_t)ip[24] << 24 | (uint32_t)ip[25] << 16 | (uint32_t)ip[26] << 8 | ip[27];
		CHECK_EQ(seq, (uint32_t)(0xfffffc00u + 1000u * (uint32_t)i));
		CHECK_EQ(ip[33], i < 2 ? 0x10 : 0x18);	/* PSH on the last only */
		CHECK(memcmp(ip + 52, big + 52 + 1000 * i, n - 52) == 0);
		struct pkt_info pi;
		uint8_t copy[1100];
		memcpy(copy, ip, n);
		CHECK_EQ(pkt_parse(&pi, copy, n), 0);
		if (i == 0)
			CHECK(encap_gro_start(&g, copy, n, &pi));
		else
			CHECK(encap_gro_append(&g, copy, n, &pi));
	}
	CHECK(g.closed);	/* PSH, and a short segment */
	struct encap_offload back;
	size_t n = encap_gro_finish(&g, &back);
	CHECK_EQ(n, len);
	CHECK(back.gso_tcp && back.needs_csum && back.gso_size == 1000 && back.csum_start == 20);
	CHECK(memcmp(gbuf + 52, big + 52, 2500) == 0);
	CHECK_EQ(gbuf[33], 0x18);
	/* What the stack does with a partial checksum, then verify. */
	csum_put(gbuf + back.csum_start + back.csum_offset,
		 csum_finish(csum_add(0, gbuf + back.csum_start, n - back.csum_start)));
	CHECK(tcp_ok(gbuf, n));
	/* A plain packet: its checksum finished, one datagram. */
	len = super4(big, 300);
	o.gso_tcp = false;
	total = encap_build(out, sizeof(out), 0x77, &o, big, len, &dgram);
	CHECK_EQ(total, (int)(len + 8));
	CHECK(tcp_ok(out + 8, len));
	/* Not TCP, or no room: refused. */
	o.gso_tcp = true;
	big[9] = IPPROTO_UDP;
	CHECK_EQ(encap_build(out, sizeof(out), 1, &o, big, len, &dgram), -EBADMSG);
	big[9] = IPPROTO_TCP;
	CHECK_EQ(encap_build(out, 100, 1, &o, big, len, &dgram), -ENOSPC);
}

/* Joining stops where the kernel's GRO would: a gap in the sequence, another
 * ACK number, other options, a segment longer than the first. */
static void test_join_refuses(void)
{
	size_t dgram;
	size_t len = super4(big, 3000);
	struct encap_offload o = { .needs_csum = true, .csum_start = 20, .csum_offset = 16,
				   .gso_tcp = true, .gso_size = 1000 };
	big[33] = 0x10;
	CHECK(encap_build(out, sizeof(out), 1, &o, big, len, &dgram) > 0);
	uint8_t a[1052], b[1052];
	struct pkt_info pa, pb;
	struct encap_gro g = { .buf = gbuf, .cap = sizeof(gbuf) };
	memcpy(a, out + 8, 1052);
	CHECK_EQ(pkt_parse(&pa, a, 1052), 0);
	for (int k = 0; k < 4; k++) {
		CHECK(encap_gro_start(&g, a, 1052, &pa));
		memcpy(b, out + 2 * dgram + 8, 1052);	/* the third: a gap */
		if (k == 1) {
			memcpy(b, out + dgram + 8, 1052);
			b[31]++;	/* another ACK number */
		} else if (k == 2) {
			memcpy(b, out + dgram + 8, 1052);
			b[50]++;	/* another timestamp */
		} else if (k == 3) {
			memcpy(b, out + dgram + 8, 1052);
			b[20] = 0x9d;	/* another flow */
		}
		CHECK_EQ(pkt_parse(&pb, b, 1052), 0);
		CHECK(!encap_gro_append(&g, b, 1052, &pb));
	}
	/* SYN, FIN or no payload never start one. */
	a[33] = 0x11;
	CHECK(!encap_gro_start(&g, a, 1052, &pa));
	a[33] = 0x10;
	csum_put(a + 2, 52);	/* a pure ACK */
	CHECK_EQ(pkt_parse(&pa, a, 52), 0);
	CHECK(!encap_gro_start(&g, a, 52, &pa));
}

int main(void)
{
	RUN(test_header);
	RUN(test_tags);
	RUN(test_rewrite);
	RUN(test_rewrite_tcp6);
	RUN(test_segment_and_join);
	RUN(test_join_refuses);
	return check_done();
}
