/* xlate: randomised packets translated and compared with packets built from
 * scratch with the new addresses, checksums computed by a naive reference. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "check.h"
#include "vectors.h"
#include "csum.h"
#include "pkt.h"
#include "xlate.h"

#define MAXPKT 70000

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 16);
}

static uint32_t rndn(struct rng *r, uint32_t n)
{
	return n ? rnd(r) % n : 0;
}

static void rndbytes(struct rng *r, uint8_t *p, size_t n)
{
	while (n--)
		*p++ = (uint8_t)rnd(r);
}

/* The reference: RFC 1071 written the slow, obvious way. */
static uint64_t ref_add(uint64_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s += (i & 1) ? p[i] : (uint64_t)p[i] << 8;
	return s;
}

static uint16_t ref_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint64_t ref_pseudo(int fam, const uint8_t *src, const uint8_t *dst, uint8_t proto, uint32_t len)
{
	size_t n = fam == AF_INET ? 4 : 16;

	return ref_add(ref_add(0, src, n), dst, n) + proto + (len >> 16) + (len & 0xffff);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

enum kind { K_TCP, K_UDP, K_UDPZERO, K_ECHO, K_ERR_TCP, K_ERR_UDP, K_NKIND };
enum state { S_OK, S_PSEUDO, S_CORRUPT, S_NSTATE };
enum frag { F_NONE, F_FIRST, F_LATER, F_NFRAG };

struct spec {
	int fam;
	enum kind kind;
	enum state state;
	enum frag frag;
	uint64_t seed;
};

/* What the builder knows about the packet, to check the parser against. */
struct built {
	size_t len;
	uint32_t l4_off;
	uint8_t proto;
	uint16_t sport;		/* network order as read from the bytes */
	bool inner_udp_zero;
	uint32_t inner_off, inner_l4_off;
	size_t corrupt_at;	/* 0: none */
};

static uint8_t proto_of(int fam, enum kind k)
{
	switch (k) {
	case K_TCP:
		return IPPROTO_TCP;
	case K_UDP:
	case K_UDPZERO:
		return IPPROTO_UDP;
	default:
		return fam == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	}
}

/* An IP header with nopt option words or extension headers for l4len bytes
 * of upper layer; for fragments, offset in bytes and more-fragments. */
static size_t put_ip(uint8_t *o, int fam, const uint8_t *src, const uint8_t *dst,
		     uint8_t proto, unsigned nopt, size_t l4len, bool frag,
		     uint32_t foff, bool more, struct rng *r)
{
	if (fam == AF_INET) {
		size_t ihl = 20 + 4 * nopt;

		o[0] = (uint8_t)(0x40 | (ihl / 4));
		o[1] = (uint8_t)rnd(r);
		put16(o + 2, (uint16_t)(ihl + l4len));
		put16(o + 4, (uint16_t)rnd(r));
		put16(o + 6, (uint16_t)(frag ? (more ? 0x2000 : 0) | foff / 8 : 0x4000));
		o[8] = (uint8_t)(1 + rndn(r, 255));
		o[9] = proto;
		put16(o + 10, 0);
		memcpy(o + 12, src, 4);
		memcpy(o + 16, dst, 4);
		for (unsigned i = 0; i < nopt; i++) {
			uint8_t *w = o + 20 + 4 * i;
			if (rndn(r, 2)) {
				/* Router Alert (RFC 2113) */
				w[0] = 148, w[1] = 4, w[2] = 0, w[3] = 0;
			} else {
				memset(w, 1, 4);
			}
		}
		put16(o + 10, (uint16_t)~ref_fold(ref_add(0, o, ihl)));
		return ihl;
	}

	uint8_t *nh = o + 6;
	size_t p = 40;

	o[0] = 0x60;
	o[1] = (uint8_t)rndn(r, 16);
	put16(o + 2, (uint16_t)rnd(r));
	o[7] = (uint8_t)(1 + rndn(r, 255));
	memcpy(o + 8, src, 16);
	memcpy(o + 24, dst, 16);
	for (unsigned i = 0; i < nopt; i++) {
		unsigned t = rndn(r, 3);
		if (t == 0 && i == 0) {
			*nh = IPPROTO_HOPOPTS;
			memcpy(o + p, "\0\0\1\4\0\0\0\0", 8);
			nh = o + p;
			p += 8;
		} else if (t == 1) {
			/* Type 2 routing header, segments left 0 */
			*nh = IPPROTO_ROUTING;
			memset(o + p, 0, 24);
			o[p + 1] = 2;
			o[p + 2] = 2;
			rndbytes(r, o + p + 8, 16);
			nh = o + p;
			p += 24;
		} else {
			*nh = IPPROTO_DSTOPTS;
			memcpy(o + p, "\0\0\1\4\0\0\0\0", 8);
			nh = o + p;
			p += 8;
		}
	}
	if (frag) {
		*nh = IPPROTO_FRAGMENT;
		memset(o + p, 0, 8);
		put16(o + p + 2, (uint16_t)(foff | more));
		put16(o + p + 4, (uint16_t)rnd(r));
		nh = o + p;
		p += 8;
	}
	*nh = proto;
	put16(o + 4, (uint16_t)(p - 40 + l4len));
	return p;
}

static size_t put_tcp(uint8_t *o, size_t pay, struct rng *r)
{
	size_t hl = 20 + 4 * rndn(r, 11);

	rndbytes(r, o, hl + pay);
	o[12] = (uint8_t)(hl / 4 << 4);
	o[13] = 0x18;
	put16(o + 16, 0);
	return hl + pay;
}

static size_t put_udp(uint8_t *o, size_t pay, struct rng *r)
{
	rndbytes(r, o, 8 + pay);
	put16(o + 4, (uint16_t)(8 + pay));
	put16(o + 6, 0);
	return 8 + pay;
}

struct addrs {
	uint8_t src[16], dst[16], isrc[16], idst[16];
};

static uint16_t l4_csum(int fam, uint8_t proto, const uint8_t *src, const uint8_t *dst,
			const uint8_t *l4, size_t len)
{
	uint64_t s = proto == IPPROTO_ICMP ? 0 : ref_pseudo(fam, src, dst, proto, (uint32_t)len);
	uint16_t v = (uint16_t)~ref_fold(ref_add(s, l4, len));

	return (!v && proto == IPPROTO_UDP) ? 0xffff : v;
}

static size_t ck_off(uint8_t proto)
{
	return proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;
}

/*
 * Builds the packet of spec s with addresses a.  Every random choice comes
 * from s->seed in the same order, so two builds differ only in addresses
 * and what follows from them.
 */
static size_t build(uint8_t *o, const struct spec *s, const struct addrs *a, bool complete,
		    struct built *b)
{
	static uint8_t l4[MAXPKT];
	struct rng r = { s->seed };
	int fam = s->fam;
	uint8_t proto = proto_of(fam, s->kind);
	unsigned nopt = rndn(&r, fam == AF_INET ? 11 : 4);
	size_t pay = rndn(&r, 8) == 0 ? rndn(&r, 60000) : rndn(&r, 1400);
	size_t len;

	memset(b, 0, sizeof(*b));
	if (s->frag != F_NONE || s->state == S_CORRUPT)
		pay += 64;
	switch (s->kind) {
	case K_TCP:
		len = put_tcp(l4, pay, &r);
		break;
	case K_UDP:
	case K_UDPZERO:
		len = put_udp(l4, pay, &r);
		break;
	case K_ECHO:
		rndbytes(&r, l4, 8 + pay);
		l4[0] = fam == AF_INET ? 8 : 128;
		l4[1] = 0;
		put16(l4 + 2, 0);
		len = 8 + pay;
		break;
	default: {
		/* An error quoting a packet we sent: inner TCP or UDP. */
		uint8_t ip = s->kind == K_ERR_TCP ? IPPROTO_TCP : IPPROTO_UDP;
		uint8_t *in = l4 + 8;
		unsigned inopt = rndn(&r, fam == AF_INET ? 4 : 3);
		size_t ipay = rndn(&r, 1200), ih, il;

		rndbytes(&r, l4, 8);
		if (fam == AF_INET) {
			l4[0] = rndn(&r, 2) ? 3 : 11;
		} else {
			static const uint8_t t6[] = { 1, 2, 3, 4 };
			l4[0] = t6[rndn(&r, 4)];
		}
		put16(l4 + 2, 0);
		ih = put_ip(in, fam, a->isrc, a->idst, ip, inopt, 0, false, 0, false, &r);
		il = ip == IPPROTO_TCP ? put_tcp(in + ih, ipay, &r) : put_udp(in + ih, ipay, &r);
		/* Fix the inner lengths to the original datagram. */
		if (fam == AF_INET) {
			put16(in + 2, (uint16_t)(ih + il));
			put16(in + 10, 0);
			put16(in + 10, (uint16_t)~ref_fold(ref_add(0, in, ih)));
		} else {
			put16(in + 4, (uint16_t)(ih - 40 + il));
		}
		b->inner_udp_zero = ip == IPPROTO_UDP && rndn(&r, 4) == 0;
		if (!b->inner_udp_zero)
			put16(in + ih + ck_off(ip), l4_csum(fam, ip, a->isrc, a->idst, in + ih, il));
		/* Quote: v4 routers send 8 bytes of L4, others more, some all;
		 * IPv6 keeps the error within 1280 bytes. */
		size_t q;
		switch (rndn(&r, 4)) {
		case 0:
			q = 8;
			break;
		case 1:
			q = il;
			break;
		default:
			q = 8 + rndn(&r, (uint32_t)il - 7);
			break;
		}
		if (fam == AF_INET6 && 40 + 8 + ih + q > 1280)
			q = 1280 - 48 - ih;
		if (s->state == S_CORRUPT && q < 21 + (il - ipay))
			q = il;	/* corrupt a payload byte, not a header */
		/* A checksum field cut in half is left alone (as Linux NAT
		 * does), so the fresh build could not match: skip that. */
		if (q == ck_off(ip) + 1)
			q--;
		b->inner_off = (uint32_t)8;
		b->inner_l4_off = (uint32_t)(8 + ih);
		len = 8 + ih + q;
		break;
	}
	}

	/* The datagram's checksum, over all of it. */
	size_t ck = ck_off(proto);
	uint16_t v = 0;
	if (s->kind != K_UDPZERO) {
		if (complete || s->state != S_PSEUDO)
			v = l4_csum(fam, proto, a->src, a->dst, l4, len);
		else if (proto != IPPROTO_ICMP)
			v = ref_fold(ref_pseudo(fam, a->src, a->dst, proto, (uint32_t)len));
	}
	put16(l4 + ck, v);

	/* The slice this packet carries. */
	size_t from = 0, to = len;
	bool more = false;
	if (s->frag == F_FIRST) {
		to = 8 * (4 + rndn(&r, (uint32_t)(len / 8 - 4)));
		more = true;
	} else if (s->frag == F_LATER) {
		/* Past any L4 header: real first fragments hold it all
		 * (RFC 1858, RFC 7112). */
		from = 8 * (8 + rndn(&r, (uint32_t)(len / 8 - 8)));
		if (rndn(&r, 2) && len - from >= 16) {
			to = from + 8 * (1 + rndn(&r, (uint32_t)((len - from) / 8 - 1)));
			more = to < len;
		}
	}
	size_t hl = put_ip(o, fam, a->src, a->dst, proto, nopt, to - from, s->frag != F_NONE,
			   (uint32_t)from, more, &r);
	memcpy(o + hl, l4 + from, to - from);
	b->len = hl + to - from;
	b->l4_off = (uint32_t)hl;
	b->proto = proto;
	memcpy(&b->sport, l4, 2);
	b->inner_off += (uint32_t)hl;
	b->inner_l4_off += (uint32_t)hl;

	/* Corruption of the payload or of the IPv4 TTL, the same for both
	 * builds; the last byte is payload by construction. */
	if (s->state == S_CORRUPT) {
		uint8_t x = (uint8_t)(1 + rndn(&r, 255));
		b->corrupt_at = fam == AF_INET && rndn(&r, 4) == 0 ? 8 : b->len - 1;
		o[b->corrupt_at] ^= x;
	}
	return b->len;
}

static void rnd_addr(struct rng *r, int fam, uint8_t *a)
{
	memset(a, 0, 16);
	rndbytes(r, a, fam == AF_INET ? 4 : 16);
}

/* Independent check of every checksum that can be checked in isolation. */
static bool verify(const uint8_t *p, const struct built *b, int fam, enum frag frag)
{
	if (fam == AF_INET && ref_fold(ref_add(0, p, (size_t)(p[0] & 15) * 4)) != 0xffff)
		return false;
	if (frag != F_NONE)
		return true;
	const uint8_t *src = p + (fam == AF_INET ? 12 : 8), *dst = p + (fam == AF_INET ? 16 : 24);
	size_t l4len = b->len - b->l4_off;
	uint64_t s = b->proto == IPPROTO_ICMP ? 0 :
		ref_pseudo(fam, src, dst, b->proto, (uint32_t)l4len);
	if (b->proto == IPPROTO_UDP && !get16(p + b->l4_off + 6))
		return true;
	return ref_fold(ref_add(s, p + b->l4_off, l4len)) == 0xffff;
}

static uint8_t pa[MAXPKT], pb[MAXPKT], pc[MAXPKT], pd[MAXPKT];

static int n_iter, n_full, n_corrupt;

static void one(struct spec *s, struct rng *r)
{
	struct addrs a, na;
	struct built ba, bb;
	struct dime_addr src, dst, isrc, idst;
	struct xlate_addrs xa = { 0 };
	struct pkt_info pi;
	int fam = s->fam;
	bool err = s->kind == K_ERR_TCP || s->kind == K_ERR_UDP;

	rnd_addr(r, fam, a.src);
	rnd_addr(r, fam, a.dst);
	rnd_addr(r, fam, a.isrc);
	rnd_addr(r, fam, a.idst);
	na = a;
	if (rndn(r, 4)) {
		rnd_addr(r, fam, na.src);
		addr_set(&src, fam, na.src);
		xa.src = &src;
	}
	if (rndn(r, 4)) {
		rnd_addr(r, fam, na.dst);
		addr_set(&dst, fam, na.dst);
		xa.dst = &dst;
	}
	if (err && rndn(r, 4)) {
		rnd_addr(r, fam, na.isrc);
		addr_set(&isrc, fam, na.isrc);
		xa.inner_src = &isrc;
	}
	if (err && rndn(r, 4)) {
		rnd_addr(r, fam, na.idst);
		addr_set(&idst, fam, na.idst);
		xa.inner_dst = &idst;
	}

	size_t la = build(pa, s, &a, false, &ba);
	size_t lb = build(pb, s, &na, true, &bb);
	CHECK_EQ(la, lb);
	n_iter++;

	/* The parser sees what the builder made. */
	CHECK_EQ(pkt_parse(&pi, pa, la), 0);
	CHECK_EQ(pi.len, la);
	CHECK_EQ(pi.ip.family, fam);
	CHECK_EQ(pi.ip.proto, ba.proto);
	CHECK(!pi.l4_trunc);
	CHECK_EQ(pi.ip.frag, s->frag != F_NONE);
	CHECK_EQ(pi.ip.first_frag, s->frag == F_FIRST);
	CHECK_EQ(pi.ip.has_l4, s->frag != F_LATER);
	if (s->frag != F_LATER) {
		CHECK_EQ(pi.ip.l4_off, ba.l4_off);
		if (pi.ip.has_ports)
			CHECK_EQ(pi.ip.sport, ba.sport);
		CHECK_EQ(pi.ip.has_ports, s->kind <= K_UDPZERO);
		CHECK_EQ(pi.ip.icmp_echo, s->kind == K_ECHO);
	}
	CHECK_EQ(pi.icmp_err, err);
	if (err) {
		CHECK_EQ(pi.inner.off, ba.inner_off);
		CHECK_EQ(pi.inner.l4_off, ba.inner_l4_off);
		CHECK_EQ(pi.inner.proto, s->kind == K_ERR_TCP ? IPPROTO_TCP : IPPROTO_UDP);
		CHECK(pi.inner.has_ports);
	}
	/* A fragment's payload cannot be checked alone, nor one without
	 * a UDP checksum. */
	bool valid = s->state == S_OK ||
		(s->state == S_CORRUPT && ba.corrupt_at != 8 &&
		 (s->frag != F_NONE || s->kind == K_UDPZERO));
	if (s->state != S_PSEUDO)
		CHECK_EQ(verify(pa, &ba, fam, s->frag), valid);

	/* Incremental on a complete checksum: exactly the fresh build. */
	if (s->state != S_PSEUDO) {
		memcpy(pc, pa, la);
		CHECK_EQ(xlate_packet(pc, la, &pi, &xa, XLATE_CSUM_INCREMENTAL), 0);
		CHECK(memcmp(pc, pb, la) == 0);
		CHECK_EQ(verify(pc, &bb, fam, s->frag), valid);
		if (s->state == S_CORRUPT)
			n_corrupt++;

		/* And back again. */
		struct xlate_addrs back = { 0 };
		struct dime_addr o1, o2, o3, o4;
		addr_set(&o1, fam, a.src);
		addr_set(&o2, fam, a.dst);
		addr_set(&o3, fam, a.isrc);
		addr_set(&o4, fam, a.idst);
		back.src = xa.src ? &o1 : NULL;
		back.dst = xa.dst ? &o2 : NULL;
		back.inner_src = xa.inner_src ? &o3 : NULL;
		back.inner_dst = xa.inner_dst ? &o4 : NULL;
		CHECK_EQ(xlate_packet(pc, la, &pi, &back, XLATE_CSUM_INCREMENTAL), 0);
		CHECK(memcmp(pc, pa, la) == 0);
	}
	/* FULL: complete from pseudo-only, unchanged meaning from complete,
	 * incremental on fragments. */
	if (s->state == S_OK || s->state == S_PSEUDO) {
		if (s->state == S_PSEUDO && s->frag != F_NONE)
			return;
		memcpy(pd, pa, la);
		CHECK_EQ(xlate_packet(pd, la, &pi, &xa, XLATE_CSUM_FULL), 0);
		CHECK(memcmp(pd, pb, la) == 0);
		CHECK(verify(pd, &bb, fam, s->frag));
		n_full++;
	}
}

static void test_random_matrix(void)
{
	static const int fams[] = { AF_INET, AF_INET6 };
	struct rng r = { 0x5eed };
	int before = check_failures;

	for (int rep = 0; rep < 60; rep++)
		for (int f = 0; f < 2; f++)
			for (int k = 0; k < K_NKIND; k++)
				for (int st = 0; st < S_NSTATE; st++)
					for (int fr = 0; fr < F_NFRAG; fr++) {
						if ((k == K_ERR_TCP || k == K_ERR_UDP) && fr != F_NONE)
							continue;
						struct spec s = {
							fams[f], (enum kind)k, (enum state)st,
							(enum frag)fr, ((uint64_t)rnd(&r) << 32) | rnd(&r),
						};
						one(&s, &r);
						if (check_failures != before) {
							fprintf(stderr, "first failure: fam %d kind %d state %d frag %d seed %llx\n",
								s.fam, k, st, fr, (unsigned long long)s.seed);
							return;
						}
					}
	printf("# %d packets, %d FULL, %d corrupted kept corrupted\n", n_iter, n_full, n_corrupt);
}


static void test_syn(void)
{
	uint8_t p[sizeof(linux_syn)];
	struct pkt_info pi;
	struct dime_addr a;
	struct xlate_addrs xa = { .src = &a };

	addr_parse(&a, "198.51.100.7");
	memcpy(p, linux_syn, sizeof(p));
	CHECK_EQ(pkt_parse(&pi, p, sizeof(p)), 0);
	CHECK_EQ(xlate_packet(p, sizeof(p), &pi, &xa, XLATE_CSUM_INCREMENTAL), 0);
	/* Values from an independent Python computation. */
	CHECK_EQ(get16(p + 10), 0xf841);
	CHECK_EQ(get16(p + 36), 0x2b0d);
	CHECK(memcmp(p + 12, a.a, 4) == 0);
	CHECK(memcmp(p + 16, linux_syn + 16, 20) == 0);

	/* What Linux queues from a local socket: the pseudo-header sum only. */
	memcpy(p, linux_syn, sizeof(p));
	put16(p + 36, 0x8c56);
	CHECK_EQ(xlate_packet(p, sizeof(p), &pi, &(struct xlate_addrs){ 0 }, XLATE_CSUM_FULL), 0);
	CHECK(memcmp(p, linux_syn, sizeof(p)) == 0);
	put16(p + 36, 0x8c56);
	CHECK_EQ(xlate_packet(p, sizeof(p), &pi, &xa, XLATE_CSUM_FULL), 0);
	CHECK_EQ(get16(p + 10), 0xf841);
	CHECK_EQ(get16(p + 36), 0x2b0d);
	/* In INCREMENTAL mode a pseudo-only field stays wrong. */
	memcpy(p, linux_syn, sizeof(p));
	put16(p + 36, 0x8c56);
	CHECK_EQ(xlate_packet(p, sizeof(p), &pi, &xa, XLATE_CSUM_INCREMENTAL), 0);
	CHECK(get16(p + 36) != 0x2b0d);
}

/* A UDP packet: 20 or 40 bytes of IP header, 8 of UDP, 12 of payload. */
static size_t mk_udp(uint8_t *p, int fam, uint8_t proto, bool zero)
{
	static const uint8_t s4[4] = { 192, 0, 2, 1 }, d4[4] = { 192, 0, 2, 2 };
	uint8_t s6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, d6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	struct rng r = { 7 };
	size_t hl = put_ip(p, fam, fam == AF_INET ? s4 : s6, fam == AF_INET ? d4 : d6, proto,
			   0, 20, false, 0, false, &r);
	put_udp(p + hl, 12, &r);
	if (!zero)
		put16(p + hl + 6, l4_csum(fam, IPPROTO_UDP, p + (fam == AF_INET ? 12 : 8),
					  p + (fam == AF_INET ? 16 : 24), p + hl, 20));
	return hl + 20;
}

static void test_udp_zero(void)
{
	static const int fams[] = { AF_INET, AF_INET6 };
	uint8_t p[80];
	struct pkt_info pi;
	struct dime_addr a4, a6;
	addr_parse(&a4, "198.51.100.9");
	addr_parse(&a6, "2001:db8::99");

	for (int f = 0; f < 2; f++)
		for (int m = 0; m < 2; m++) {
			size_t n = mk_udp(p, fams[f], IPPROTO_UDP, true);
			struct xlate_addrs xa = { .dst = f ? &a6 : &a4 };
			CHECK_EQ(pkt_parse(&pi, p, n), 0);
			CHECK_EQ(xlate_packet(p, n, &pi, &xa, m ? XLATE_CSUM_FULL : XLATE_CSUM_INCREMENTAL), 0);
			CHECK_EQ(get16(p + pi.ip.l4_off + 6), 0);
			CHECK(memcmp(p + (f ? 24 : 16), xa.dst->a, f ? 16 : 4) == 0);
		}
}

/* A UDP update whose result is 0 must be sent as 0xffff. */
static void test_udp_ffff(void)
{
	uint8_t p[80], q[80];
	struct pkt_info pi;
	struct dime_addr a;
	struct xlate_addrs xa = { .src = &a };
	size_t n = mk_udp(p, AF_INET, IPPROTO_UDP, false);
	int found = 0;

	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	addr_parse(&a, "198.51.0.0");
	for (unsigned w = 0; w < 0x10000 && !found; w++) {
		a.a[2] = (uint8_t)(w >> 8);
		a.a[3] = (uint8_t)w;
		memcpy(q, p, n);
		memcpy(q + 12, a.a, 4);
		put16(q + 26, 0);
		if (l4_csum(AF_INET, IPPROTO_UDP, q + 12, q + 16, q + 20, 20) != 0xffff)
			continue;
		found = 1;
		for (int m = 0; m < 2; m++) {
			memcpy(q, p, n);
			CHECK_EQ(xlate_packet(q, n, &pi, &xa, m ? XLATE_CSUM_FULL : XLATE_CSUM_INCREMENTAL), 0);
			CHECK_EQ(get16(q + 26), 0xffff);
			CHECK_EQ(ref_fold(ref_add(ref_pseudo(AF_INET, q + 12, q + 16, IPPROTO_UDP, 20), q + 20, 20)), 0xffff);
		}
	}
	CHECK(found);
}

static void test_refusals(void)
{
	uint8_t p[200], q[200];
	struct pkt_info pi;
	struct dime_addr a4, a6;
	size_t n;

	addr_parse(&a4, "198.51.100.9");
	addr_parse(&a6, "2001:db8::99");

	/* Family mismatch, inner without an ICMP error, pi beyond len. */
	n = mk_udp(p, AF_INET, IPPROTO_UDP, false);
	memcpy(q, p, n);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK_EQ(xlate_packet(p, n, &pi, &(struct xlate_addrs){ .src = &a6 }, XLATE_CSUM_INCREMENTAL), -EINVAL);
	CHECK_EQ(xlate_packet(p, n, &pi, &(struct xlate_addrs){ .inner_src = &a4 }, XLATE_CSUM_INCREMENTAL), -EINVAL);
	CHECK_EQ(xlate_packet(p, n - 1, &pi, &(struct xlate_addrs){ .src = &a4 }, XLATE_CSUM_INCREMENTAL), -EINVAL);
	/* FULL with a UDP length that does not fit. */
	put16(p + 24, 29);
	CHECK_EQ(xlate_packet(p, n, &pi, &(struct xlate_addrs){ .src = &a4 }, XLATE_CSUM_FULL), -EBADMSG);
	put16(p + 24, 7);
	CHECK_EQ(xlate_packet(p, n, &pi, &(struct xlate_addrs){ .src = &a4 }, XLATE_CSUM_FULL), -EBADMSG);
	put16(p + 24, 20);
	CHECK(memcmp(p, q, n) == 0);

	/* UDP-Lite: incremental only. */
	n = mk_udp(p, AF_INET6, IPPROTO_UDPLITE, false);
	memcpy(q, p, n);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK_EQ(xlate_packet(p, n, &pi, &(struct xlate_addrs){ .src = &a6 }, XLATE_CSUM_FULL), -EPROTONOSUPPORT);
	CHECK(memcmp(p, q, n) == 0);
	CHECK_EQ(xlate_packet(p, n, &pi, &(struct xlate_addrs){ .src = &a6 }, XLATE_CSUM_INCREMENTAL), 0);
	/* (the checksum above was computed with proto UDP; only the change
	 * matters: the sum over the new pseudo-header moves by the same) */
	CHECK_EQ(get16(p + 46), csum_update(get16(q + 46), 0, q + 8, a6.a, 16));

	/* SCTP's CRC cannot be completed here. */
	n = mk_udp(p, AF_INET, IPPROTO_SCTP, false);
	memcpy(q, p, n);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK_EQ(xlate_packet(p, n, &pi, &(struct xlate_addrs){ .src = &a4 }, XLATE_CSUM_FULL), -EPROTONOSUPPORT);
	CHECK_EQ(xlate_packet(p, n, &pi, &(struct xlate_addrs){ .src = &a4 }, XLATE_CSUM_INCREMENTAL), 0);
	CHECK(memcmp(p + 20, q + 20, n - 20) == 0);	/* CRC does not cover addresses */

	/* Truncated L4 header. */
	n = mk_udp(p, AF_INET, IPPROTO_TCP, false);
	n -= 4;
	put16(p + 2, (uint16_t)n);
	memcpy(q, p, n);
	CHECK_EQ(pkt_parse(&pi, p, n), 0);
	CHECK(pi.l4_trunc);
	CHECK_EQ(xlate_packet(p, n, &pi, &(struct xlate_addrs){ .src = &a4 }, XLATE_CSUM_INCREMENTAL), -EBADMSG);
	CHECK(memcmp(p, q, n) == 0);

	/* IPv6 routing header with segments left: pseudo-header destination
	 * is elsewhere. */
	static const uint8_t rh[] = {
		0x60, 0, 0, 0, 0, 32, 43, 64,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
		17, 2, 0, 1, 0, 0, 0, 0,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3,
		0x12, 0x34, 0x00, 0x35, 0x00, 0x08, 0xab, 0xcd,
	};
	memcpy(p, rh, sizeof(rh));
	CHECK_EQ(pkt_parse(&pi, p, sizeof(rh)), 0);
	CHECK(pi.ip.srcroute);
	CHECK_EQ(xlate_packet(p, sizeof(rh), &pi, &(struct xlate_addrs){ .dst = &a6 }, XLATE_CSUM_INCREMENTAL), -EOPNOTSUPP);
	CHECK(memcmp(p, rh, sizeof(rh)) == 0);
}

/* A later fragment changes in its IP header only. */
static void test_later_fragment(void)
{
	uint8_t p[200], q[200];
	struct pkt_info pi;
	struct dime_addr a;
	struct rng r = { 3 };
	static const uint8_t s4[4] = { 192, 0, 2, 1 }, d4[4] = { 192, 0, 2, 2 };
	size_t hl = put_ip(p, AF_INET, s4, d4, IPPROTO_TCP, 0, 64, true, 1480, false, &r);

	rndbytes(&r, p + hl, 64);
	memcpy(q, p, hl + 64);
	addr_parse(&a, "198.51.100.1");
	CHECK_EQ(pkt_parse(&pi, p, hl + 64), 0);
	CHECK(pi.ip.frag && !pi.ip.first_frag && !pi.ip.has_l4);
	CHECK_EQ(pi.ip.frag_off, 185);
	CHECK_EQ(xlate_packet(p, hl + 64, &pi, &(struct xlate_addrs){ .dst = &a }, XLATE_CSUM_FULL), 0);
	CHECK(memcmp(p + hl, q + hl, 64) == 0);
	CHECK_EQ(ref_fold(ref_add(0, p, hl)), 0xffff);
	CHECK(memcmp(p + 16, a.a, 4) == 0);
}

int main(void)
{
	RUN(test_syn);
	RUN(test_udp_zero);
	RUN(test_udp_ffff);
	RUN(test_refusals);
	RUN(test_later_fragment);
	RUN(test_random_matrix);
	return check_done();
}
