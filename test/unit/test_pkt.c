/* pkt: hand-made packets, truncation at every length, and random mutations. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "vectors.h"
#include "pkt.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}


/* IPv4 header with nopt option bytes (given), then l4. */
static size_t v4(uint8_t *p, uint8_t proto, const uint8_t *opt, size_t nopt,
		 const uint8_t *l4, size_t n4)
{
	size_t ihl = 20 + nopt;

	memset(p, 0, 20);
	p[0] = (uint8_t)(0x40 | ihl / 4);
	put16(p + 2, (uint16_t)(ihl + n4));
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, "\xc0\x00\x02\x01\xc0\x00\x02\x02", 8);
	if (nopt)
		memcpy(p + 20, opt, nopt);
	if (n4)
		memcpy(p + ihl, l4, n4);
	return ihl + n4;
}

/* IPv6 header, then ext (already chained, first next header nh), then l4. */
static size_t v6(uint8_t *p, uint8_t nh, const uint8_t *ext, size_t next,
		 const uint8_t *l4, size_t n4)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	put16(p + 4, (uint16_t)(next + n4));
	p[6] = nh;
	p[7] = 64;
	p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 1;
	p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 2;
	if (next)
		memcpy(p + 40, ext, next);
	if (n4)
		memcpy(p + 40 + next, l4, n4);
	return 40 + next + n4;
}

static const uint8_t udp8[] = { 0x12, 0x34, 0x00, 0x35, 0x00, 0x0c, 0xab, 0xcd, 1, 2, 3, 4 };

static void test_syn(void)
{
	struct pkt_info pi;

	CHECK_EQ(pkt_parse(&pi, linux_syn, sizeof(linux_syn)), 0);
	CHECK_EQ(pi.len, 60);
	CHECK_EQ(pi.ip.family, AF_INET);
	CHECK_EQ(pi.ip.proto, IPPROTO_TCP);
	CHECK_EQ(pi.ip.l3_len, 20);
	CHECK_EQ(pi.ip.l4_off, 20);
	CHECK_EQ(pi.ip.l4_len, 40);
	CHECK(pi.ip.has_l4 && pi.ip.has_ports && !pi.ip.frag && !pi.l4_trunc && !pi.icmp_err);
	CHECK_EQ(ntohs(pi.ip.sport), 40000);
	CHECK_EQ(ntohs(pi.ip.dport), 80);
}

static void test_v4_bad(void)
{
	uint8_t p[100];
	struct pkt_info pi;

	memcpy(p, linux_syn, sizeof(linux_syn));
	p[0] = 0x44;			/* IHL 4 */
	CHECK_EQ(pkt_parse(&pi, p, sizeof(linux_syn)), -EBADMSG);
	p[0] = 0x4f;			/* 60 bytes of header, total 60: ok */
	CHECK_EQ(pkt_parse(&pi, p, sizeof(linux_syn)), -EBADMSG);	/* options bogus */
	p[0] = 0x55;
	CHECK_EQ(pkt_parse(&pi, p, sizeof(linux_syn)), -EBADMSG);
	p[0] = 0x05;
	CHECK_EQ(pkt_parse(&pi, p, sizeof(linux_syn)), -EBADMSG);
	p[0] = 0x45;
	put16(p + 2, 19);		/* total < header */
	CHECK_EQ(pkt_parse(&pi, p, sizeof(linux_syn)), -EBADMSG);
	put16(p + 2, 61);		/* total > buffer */
	CHECK_EQ(pkt_parse(&pi, p, sizeof(linux_syn)), -EBADMSG);
	put16(p + 2, 40);		/* trailing bytes are ignored */
	CHECK_EQ(pkt_parse(&pi, p, sizeof(linux_syn)), 0);
	CHECK_EQ(pi.len, 40);
	CHECK_EQ(pi.ip.l4_len, 20);
	put16(p + 2, 30);		/* TCP cut short */
	CHECK_EQ(pkt_parse(&pi, p, sizeof(linux_syn)), 0);
	CHECK(pi.l4_trunc);
	CHECK(!pi.ip.has_ports);
	CHECK_EQ(pkt_parse(&pi, p, 0), -EBADMSG);
}

static void test_v4_options(void)
{
	static const uint8_t ra[] = { 148, 4, 0, 0 };
	static const uint8_t nop_eol[] = { 1, 1, 0, 0xee, 0xee, 0xee, 0xee, 0xee };
	static const uint8_t zero_len[] = { 148, 0, 0, 0 };
	static const uint8_t too_long[] = { 148, 8, 0, 0 };
	static const uint8_t cut[] = { 1, 1, 1, 148 };
	static const uint8_t lsrr[] = { 131, 11, 4, 198, 51, 100, 1, 198, 51, 100, 2, 0 };
	static const uint8_t lsrr_done[] = { 131, 11, 12, 198, 51, 100, 1, 198, 51, 100, 2, 0 };
	uint8_t p[100];
	struct pkt_info pi;
	size_t n;

	n = v4(p, IPPROTO_UDP, ra, sizeof(ra), udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK_EQ(pi.ip.l3_len, 24);
	CHECK_EQ(pi.ip.l4_off, 24);
	CHECK_EQ(ntohs(pi.ip.dport), 53);
	CHECK(!pi.ip.srcroute);
	n = v4(p, IPPROTO_UDP, nop_eol, sizeof(nop_eol), udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK_EQ(pi.ip.l4_off, 28);
	n = v4(p, IPPROTO_UDP, zero_len, sizeof(zero_len), udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), -EBADMSG);
	n = v4(p, IPPROTO_UDP, too_long, sizeof(too_long), udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), -EBADMSG);
	n = v4(p, IPPROTO_UDP, cut, sizeof(cut), udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), -EBADMSG);
	n = v4(p, IPPROTO_UDP, lsrr, sizeof(lsrr), udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.srcroute);
	n = v4(p, IPPROTO_UDP, lsrr_done, sizeof(lsrr_done), udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(!pi.ip.srcroute);
}

static void test_v4_frag(void)
{
	uint8_t p[100];
	struct pkt_info pi;
	size_t n = v4(p, IPPROTO_UDP, NULL, 0, udp8, sizeof(udp8));

	put16(p + 6, 0x2000);		/* MF, offset 0 */
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.frag && pi.ip.first_frag && pi.ip.has_l4 && pi.ip.has_ports);
	put16(p + 6, 0x2003);		/* MF, offset 24 */
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.frag && !pi.ip.first_frag && !pi.ip.has_l4 && !pi.ip.has_ports);
	CHECK_EQ(pi.ip.frag_off, 3);
	CHECK_EQ(pi.ip.proto, IPPROTO_UDP);
	put16(p + 6, 0x0003);		/* last fragment */
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.frag && !pi.ip.first_frag && !pi.ip.has_l4);
	/* A later fragment too short for any header is still fine. */
	n = v4(p, IPPROTO_TCP, NULL, 0, udp8, 1);
	put16(p + 6, 0x0003);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(!pi.l4_trunc);
	put16(p + 6, 0x4000);		/* DF only */
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(!pi.ip.frag && pi.l4_trunc);
}

/* Extension headers: 8-byte options header with next header nh. */
static uint8_t *opt8(uint8_t *e, uint8_t nh)
{
	memcpy(e, "\0\0\1\4\0\0\0\0", 8);
	e[0] = nh;
	return e + 8;
}

static void test_v6_chain(void)
{
	uint8_t ext[200], p[300], *e;
	struct pkt_info pi;
	size_t n;

	/* HBH, DST, RH type 2 (segments left 0), atomic FRAG, AH, UDP */
	e = opt8(ext, IPPROTO_DSTOPTS);
	e = opt8(e, IPPROTO_ROUTING);
	memset(e, 0, 24);
	e[0] = IPPROTO_FRAGMENT, e[1] = 2, e[2] = 2;
	e += 24;
	memset(e, 0, 8);
	e[0] = IPPROTO_AH;
	e += 8;
	memset(e, 0, 16);
	e[0] = IPPROTO_UDP, e[1] = 2;	/* (2 + 2) * 4 = 16 bytes */
	e += 16;
	n = v6(p, IPPROTO_HOPOPTS, ext, (size_t)(e - ext), udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK_EQ(pi.ip.family, AF_INET6);
	CHECK_EQ(pi.ip.proto, IPPROTO_UDP);
	CHECK_EQ(pi.ip.l3_len, 40 + 64);
	CHECK_EQ(pi.ip.l4_off, 104);
	CHECK(!pi.ip.frag && pi.ip.has_ports && !pi.ip.srcroute);
	CHECK_EQ(ntohs(pi.ip.sport), 0x1234);

	/* Segments left: source route pending. */
	p[40 + 16 + 3] = 1;
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.srcroute);
	p[40 + 16 + 3] = 0;

	/* Hop-by-hop anywhere but first is malformed. */
	e = opt8(ext, IPPROTO_HOPOPTS);
	e = opt8(e, IPPROTO_UDP);
	n = v6(p, IPPROTO_DSTOPTS, ext, 16, udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), -EBADMSG);

	/* Unknown extension headers. */
	static const uint8_t unk[] = { IPPROTO_MH, 253, 254, 139, 140 };
	for (size_t i = 0; i < sizeof(unk); i++) {
		opt8(ext, IPPROTO_UDP);
		n = v6(p, unk[i], ext, 8, udp8, sizeof(udp8));
		CHECK_EQ(pkt_parse(&pi, p, n), -EPROTONOSUPPORT);
		opt8(ext, unk[i]);
		n = v6(p, IPPROTO_DSTOPTS, ext, 8, udp8, sizeof(udp8));
		CHECK_EQ(pkt_parse(&pi, p, n), -EPROTONOSUPPORT);
	}

	/* Eight extension headers are fine, nine are too many. */
	for (int k = 8; k <= 9; k++) {
		e = ext;
		for (int i = 0; i < k; i++)
			e = opt8(e, i == k - 1 ? IPPROTO_UDP : IPPROTO_DSTOPTS);
		n = v6(p, IPPROTO_DSTOPTS, ext, (size_t)(e - ext), udp8, sizeof(udp8));
		CHECK_EQ(pkt_parse(&pi, p, n), k == 8 ? 0 : -EPROTONOSUPPORT);
	}

	/* Extension header longer than the payload. */
	opt8(ext, IPPROTO_UDP);
	ext[1] = 3;
	n = v6(p, IPPROTO_DSTOPTS, ext, 8, udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), -EBADMSG);

	/* ESP and No Next Header: no L4; GRE: L4 without ports. */
	n = v6(p, IPPROTO_ESP, NULL, 0, udp8, sizeof(udp8));
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.proto == IPPROTO_ESP && !pi.ip.has_l4 && !pi.l4_trunc);
	n = v6(p, IPPROTO_NONE, NULL, 0, NULL, 0);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(!pi.ip.has_l4);
	n = v6(p, IPPROTO_GRE, NULL, 0, udp8, 4);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.has_l4 && !pi.ip.has_ports && !pi.l4_trunc);

	/* Jumbogram: payload length 0 with a Hop-by-Hop header. */
	opt8(ext, IPPROTO_UDP);
	n = v6(p, IPPROTO_HOPOPTS, ext, 8, udp8, sizeof(udp8));
	put16(p + 4, 0);
	CHECK_EQ(pkt_parse(&pi, p, n), -EBADMSG);

	/* Bad version, short header, payload beyond buffer. */
	n = v6(p, IPPROTO_UDP, NULL, 0, udp8, sizeof(udp8));
	p[0] = 0x40;
	CHECK_EQ(pkt_parse(&pi, p, n), -EBADMSG);
	p[0] = 0x60;
	CHECK_EQ(pkt_parse(&pi, p, 39), -EBADMSG);
	CHECK_EQ(pkt_parse(&pi, p, n - 1), -EBADMSG);
	CHECK_EQ(pkt_parse(&pi, p, n + 1), 0);
	CHECK_EQ(pi.len, n);
}

static void test_v6_frag(void)
{
	uint8_t ext[8] = { IPPROTO_UDP, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef };
	uint8_t p[100];
	struct pkt_info pi;
	size_t n = v6(p, IPPROTO_FRAGMENT, ext, 8, udp8, sizeof(udp8));

	CHECK_EQ(pkt_parse(&pi, p, n), 0);	/* offset 0, M */
	CHECK(pi.ip.frag && pi.ip.first_frag && pi.ip.has_ports);
	CHECK_EQ(pi.ip.l4_off, 48);
	put16(p + 42, 0x00b9);			/* offset 23, M */
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.frag && !pi.ip.first_frag && !pi.ip.has_l4 && !pi.ip.has_ports);
	CHECK_EQ(pi.ip.frag_off, 23);
	CHECK_EQ(pi.ip.proto, IPPROTO_UDP);
	CHECK_EQ(pi.ip.l4_off, 48);
	put16(p + 42, 0);			/* atomic fragment */
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(!pi.ip.frag && pi.ip.has_ports);
}

static void test_icmp(void)
{
	static const uint8_t echo4[] = { 8, 0, 0, 0, 0x12, 0x34, 0, 1, 'x' };
	static const uint8_t echo6[] = { 128, 0, 0, 0, 0x56, 0x78, 0, 1 };
	static const uint8_t redirect[] = { 5, 1, 0, 0, 192, 0, 2, 9 };
	uint8_t p[300], l4[200];
	struct pkt_info pi;
	size_t n;

	n = v4(p, IPPROTO_ICMP, NULL, 0, echo4, sizeof(echo4));
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.has_icmp && pi.ip.icmp_echo && !pi.icmp_err);
	CHECK_EQ(ntohs(pi.ip.icmp_id), 0x1234);
	n = v6(p, IPPROTO_ICMPV6, NULL, 0, echo6, sizeof(echo6));
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.icmp_echo);
	CHECK_EQ(ntohs(pi.ip.icmp_id), 0x5678);
	n = v6(p, IPPROTO_ICMPV6, NULL, 0, echo6, 6);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.l4_trunc);
	n = v4(p, IPPROTO_ICMP, NULL, 0, redirect, sizeof(redirect));
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.ip.has_icmp && !pi.icmp_err && pi.ip.icmp_type == 5);

	/* Port unreachable quoting a UDP packet with 8 bytes (RFC 792). */
	memset(l4, 0, 8);
	l4[0] = 3, l4[1] = 3;
	size_t q = v4(l4 + 8, IPPROTO_UDP, NULL, 0, udp8, sizeof(udp8));
	q = q - sizeof(udp8) + 8;
	n = v4(p, IPPROTO_ICMP, NULL, 0, l4, 8 + q);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.icmp_err && !pi.l4_trunc);
	CHECK_EQ(pi.ip.icmp_type, 3);
	CHECK_EQ(pi.ip.icmp_code, 3);
	CHECK_EQ(pi.inner.off, 28);
	CHECK_EQ(pi.inner.family, AF_INET);
	CHECK_EQ(pi.inner.proto, IPPROTO_UDP);
	CHECK_EQ(pi.inner.l4_off, 48);
	CHECK_EQ(pi.inner.l4_len, 8);
	CHECK(pi.inner.has_ports);
	CHECK_EQ(ntohs(pi.inner.dport), 53);
	/* Only 3 bytes of the UDP header: no ports, still an error. */
	n = v4(p, IPPROTO_ICMP, NULL, 0, l4, 8 + 23);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.icmp_err && !pi.inner.has_ports);
	/* Quoted header cut short, or of the wrong version. */
	n = v4(p, IPPROTO_ICMP, NULL, 0, l4, 8 + 19);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(!pi.icmp_err && pi.l4_trunc);
	l4[8] = 0x65;
	n = v4(p, IPPROTO_ICMP, NULL, 0, l4, 8 + q);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(!pi.icmp_err && pi.l4_trunc);

	/* Packet too big quoting TCP behind a destination options header. */
	uint8_t ext[8];
	memset(l4, 0, 8);
	l4[0] = 2;
	put16(l4 + 6, 1280);
	opt8(ext, IPPROTO_TCP);
	q = v6(l4 + 8, IPPROTO_DSTOPTS, ext, 8, linux_syn + 20, 40);
	n = v6(p, IPPROTO_ICMPV6, NULL, 0, l4, 8 + q);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.icmp_err);
	CHECK_EQ(pi.inner.family, AF_INET6);
	CHECK_EQ(pi.inner.off, 48);
	CHECK_EQ(pi.inner.l3_len, 48);
	CHECK_EQ(pi.inner.l4_off, 96);
	CHECK_EQ(pi.inner.proto, IPPROTO_TCP);
	CHECK_EQ(ntohs(pi.inner.sport), 40000);
	/* Its chain cut inside the quote: no inner L4, still an error. */
	n = v6(p, IPPROTO_ICMPV6, NULL, 0, l4, 8 + 44);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.icmp_err && !pi.inner.has_l4 && !pi.l4_trunc);
}

/* Offsets and lengths that a parse reports must lie inside the packet. */
static void check_sane(const struct pkt_info *pi, size_t len)
{
	CHECK(pi->len <= len);
	CHECK(pi->ip.l4_off <= pi->len);
	CHECK_EQ(pi->ip.l4_off + pi->ip.l4_len, pi->len);
	if (pi->ip.has_ports)
		CHECK(pi->ip.l4_len >= 4);
	if (pi->icmp_err) {
		CHECK(pi->inner.off >= pi->ip.l4_off + 8);
		CHECK(pi->inner.l4_off <= pi->len);
		CHECK_EQ(pi->inner.l4_off + pi->inner.l4_len, pi->len);
		CHECK_EQ(pi->inner.family, pi->ip.family);
		if (pi->inner.has_ports)
			CHECK(pi->inner.l4_len >= 4);
	}
}

/* Every prefix: as is (lengths lie: -EBADMSG) and with lengths fixed. */
static void truncate_all(const uint8_t *pkt, size_t len)
{
	struct pkt_info pi;

	for (size_t n = 0; n < len; n++) {
		/* Exactly n bytes on the heap, so ASan sees any overread. */
		uint8_t *h = malloc(n ? n : 1);
		memcpy(h, pkt, n);
		CHECK_EQ(pkt_parse(&pi, h, n), -EBADMSG);
		if (n >= 6 && pkt[0] >> 4 == 6)
			put16(h + 4, (uint16_t)(n >= 40 ? n - 40 : 0));
		else if (n >= 4 && pkt[0] >> 4 == 4)
			put16(h + 2, (uint16_t)n);
		int r = pkt_parse(&pi, h, n);
		CHECK(r == 0 || r == -EBADMSG);
		if (r == 0)
			check_sane(&pi, n);
		free(h);
	}
	CHECK_EQ(pkt_parse(&pi, pkt, len), 0);
}

static void test_truncation(void)
{
	uint8_t p[300], l4[200], ext[64], *e;
	size_t n, q;

	truncate_all(linux_syn, sizeof(linux_syn));

	e = opt8(ext, IPPROTO_DSTOPTS);
	e = opt8(e, IPPROTO_FRAGMENT);
	memset(e, 0, 8);
	e[0] = IPPROTO_UDP, e[3] = 1;
	e += 8;
	n = v6(p, IPPROTO_HOPOPTS, ext, (size_t)(e - ext), udp8, sizeof(udp8));
	truncate_all(p, n);

	memset(l4, 0, 8);
	l4[0] = 11;
	q = v4(l4 + 8, IPPROTO_TCP, (const uint8_t *)"\1\1\1\0", 4, linux_syn + 20, 40);
	n = v4(p, IPPROTO_ICMP, NULL, 0, l4, 8 + q);
	truncate_all(p, n);

	memset(l4, 0, 8);
	l4[0] = 1;
	opt8(ext, IPPROTO_UDP);
	q = v6(l4 + 8, IPPROTO_DSTOPTS, ext, 8, udp8, sizeof(udp8));
	n = v6(p, IPPROTO_ICMPV6, NULL, 0, l4, 8 + q);
	truncate_all(p, n);
}

/* Random mutations of valid packets: never a crash, always sane offsets. */
static void test_mutations(void)
{
	uint8_t base[4][300], l4[200], ext[64], *e;
	size_t blen[4], q;
	uint64_t s = 0xfacade;
	struct pkt_info pi;

	memcpy(base[0], linux_syn, sizeof(linux_syn));
	blen[0] = sizeof(linux_syn);
	e = opt8(ext, IPPROTO_ROUTING);
	memset(e, 0, 24);
	e[0] = IPPROTO_FRAGMENT, e[1] = 2;
	e += 24;
	memset(e, 0, 8);
	e[0] = IPPROTO_TCP;
	e += 8;
	blen[1] = v6(base[1], IPPROTO_HOPOPTS, ext, (size_t)(e - ext), linux_syn + 20, 40);
	memset(l4, 0, 8);
	l4[0] = 3;
	q = v4(l4 + 8, IPPROTO_UDP, NULL, 0, udp8, sizeof(udp8));
	blen[2] = v4(base[2], IPPROTO_ICMP, NULL, 0, l4, 8 + q);
	memset(l4, 0, 8);
	l4[0] = 2;
	q = v6(l4 + 8, IPPROTO_TCP, NULL, 0, linux_syn + 20, 40);
	blen[3] = v6(base[3], IPPROTO_ICMPV6, NULL, 0, l4, 8 + q);

	for (int i = 0; i < 200000; i++) {
		uint8_t p[300];
		int b = i & 3;
		size_t n = blen[b];

		memcpy(p, base[b], n);
		for (int k = 0; k < 1 + i % 4; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			p[(s >> 33) % n] = (uint8_t)(s >> 20);
		}
		if (i % 3 == 0)
			n = (s >> 40) % (n + 1);
		uint8_t *h = malloc(n ? n : 1);
		memcpy(h, p, n);
		int r = pkt_parse(&pi, h, n);
		if (r == 0)
			check_sane(&pi, n);
		else
			CHECK(r == -EBADMSG || r == -EPROTONOSUPPORT);
		free(h);
	}
}

int main(void)
{
	RUN(test_syn);
	RUN(test_v4_bad);
	RUN(test_v4_options);
	RUN(test_v4_frag);
	RUN(test_v6_chain);
	RUN(test_v6_frag);
	RUN(test_icmp);
	RUN(test_truncation);
	RUN(test_mutations);
	return check_done();
}
