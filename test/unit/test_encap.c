/* encap: the DATA header, the flow tags and the inner rewrite, against the
 * vectors of docs/ihmp.md §8.6 byte for byte. */
#include <errno.h>
#include <netinet/in.h>
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

int main(void)
{
	RUN(test_header);
	RUN(test_tags);
	RUN(test_rewrite);
	RUN(test_rewrite_tcp6);
	return check_done();
}
