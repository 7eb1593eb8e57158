/* csum: known vectors, and random data against a naive RFC 1071 sum. */
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "vectors.h"
#include "csum.h"

static uint64_t rng_s = 0x1071;

static uint32_t rnd(void)
{
	uint64_t z = (rng_s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 16);
}

static uint16_t ref_sum(const uint8_t *p, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += (i & 1) ? p[i] : (uint64_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
static void test_rfc1071(void)
{
	static const uint8_t d[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

	CHECK_EQ(csum_fold(csum_add(0, d, sizeof(d))), 0xddf2);
	CHECK_EQ(csum_finish(csum_add(0, d, sizeof(d))), 0x220d);
	CHECK_EQ(csum_fold(csum_add(0, d, 0)), 0);
	CHECK_EQ(csum_fold(csum_add(0, d + 1, 1)), 0x0100);
	CHECK_EQ(csum_fold(csum_add(0, d + 2, 3)), 0xe604);	/* 0xf203 + 0xf400, folded */
}

/* RFC 1624 section 4: HC 0xdd2f, m 0x5555 -> m' 0x3285 gives 0x0000. */
static void test_rfc1624(void)
{
	static const uint8_t m[2] = { 0x55, 0x55 }, m1[2] = { 0x32, 0x85 };
	uint8_t ck[2] = { 0xdd, 0x2f };

	CHECK_EQ(csum_update(0xdd2f, 0, m, m1, 2), 0x0000);
	csum_replace(ck, 0, m, m1, 2);
	CHECK_EQ(csum_get(ck), 0x0000);
	/* Unchanged data leave the field alone, whatever it holds. */
	CHECK_EQ(csum_update(0xffff, 0, m, m, 2), 0xffff);
}

/* The classic IPv4 header example, and a real SYN from Linux 6.18. */
static void test_headers(void)
{
	uint8_t h[] = {
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	};
	uint8_t t[sizeof(linux_syn)];

	CHECK(csum_verify(0, h, sizeof(h)));
	csum_put(h + 10, 0);
	CHECK_EQ(csum_finish(csum_add(0, h, sizeof(h))), 0xb861);

	CHECK(csum_verify(0, linux_syn, 20));
	CHECK(csum_verify(csum_pseudo4(linux_syn + 12, linux_syn + 16, 6, 40), linux_syn + 20, 40));
	memcpy(t, linux_syn, sizeof(t));
	csum_put(t + 36, 0);
	CHECK_EQ(csum_finish(csum_add(csum_pseudo4(t + 12, t + 16, 6, 40), t + 20, 40)), 0x8f34);
	/* What Linux leaves in the field for CHECKSUM_PARTIAL. */
	CHECK_EQ(csum_fold(csum_pseudo4(t + 12, t + 16, 6, 40)), 0x8c56);
	t[35] ^= 1;
	CHECK(!csum_verify(csum_pseudo4(linux_syn + 12, linux_syn + 16, 6, 40), t + 20, 40));
}

static void test_pseudo6(void)
{
	uint8_t s[16], d[16], ph[40];

	for (int i = 0; i < 1000; i++) {
		uint32_t len = rnd() & 0x3ffff;
		uint8_t proto = (uint8_t)rnd();

		for (int j = 0; j < 16; j++) {
			s[j] = (uint8_t)rnd();
			d[j] = (uint8_t)rnd();
		}
		memcpy(ph, s, 16);
		memcpy(ph + 16, d, 16);
		ph[32] = (uint8_t)(len >> 24);
		ph[33] = (uint8_t)(len >> 16);
		ph[34] = (uint8_t)(len >> 8);
		ph[35] = (uint8_t)len;
		ph[36] = ph[37] = ph[38] = 0;
		ph[39] = proto;
		CHECK_EQ(csum_fold(csum_pseudo6(s, d, proto, len)), ref_sum(ph, 40));
		memcpy(ph, s, 4);
		memcpy(ph + 4, d, 4);
		ph[8] = 0;
		ph[9] = proto;
		ph[10] = (uint8_t)(len >> 8);
		ph[11] = (uint8_t)len;
		if (len <= 0xffff)
			CHECK_EQ(csum_fold(csum_pseudo4(s, d, proto, len)), ref_sum(ph, 12));
	}
}

static uint8_t buf[70000 + 16];

/* Every length and alignment, and sums chained over pieces. */
static void test_random_sum(void)
{
	for (int i = 0; i < 5000; i++) {
		size_t n = i < 200 ? (size_t)i : (i % 100 == 0 ? rnd() % 70000 : rnd() % 2000);
		size_t al = rnd() % 16, cut = n ? (rnd() % n) & ~(size_t)1 : 0;
		uint8_t *p = buf + al;

		for (size_t j = 0; j < n; j++)
			p[j] = (uint8_t)(i % 7 == 0 ? 0xff : rnd());
		uint16_t want = ref_sum(p, n);
		CHECK_EQ(csum_fold(csum_add(0, p, n)), want);
		CHECK_EQ(csum_fold(csum_add(csum_add(0, p, cut), p + cut, n - cut)), want);
	}
}

/*
 * Random regions with a valid checksum inside; random runs of bytes change
 * at even and odd offsets.  The update must equal a full recomputation, and
 * a region whose checksum was wrong must stay wrong by the same amount.
 */
static void test_random_update(void)
{
	uint8_t old[32];

	for (int i = 0; i < 20000; i++) {
		size_t n = 40 + rnd() % 1500, ck = 2 * (rnd() % 6);
		size_t len = 1 + rnd() % 20;
		size_t off = 12 + rnd() % (n - 12 - len);
		bool corrupt = i & 1;
		uint8_t *p = buf;

		for (size_t j = 0; j < n; j++)
			p[j] = (uint8_t)rnd();
		p[0] |= 1;	/* never all zero */
		csum_put(p + ck, 0);
		csum_put(p + ck, (uint16_t)~ref_sum(p, n));
		if (corrupt)
			p[n - 1] ^= (uint8_t)(1 + rnd() % 255);
		uint16_t before = ref_sum(p, n);

		memcpy(old, p + off, len);
		for (size_t j = 0; j < len; j++)
			p[off + j] = (uint8_t)(i % 5 == 0 ? 0 : rnd());
		csum_replace(p + ck, off, old, p + off, len);
		CHECK_EQ(ref_sum(p, n), before);
		if (!corrupt) {
			uint16_t got = csum_get(p + ck);
			csum_put(p + ck, 0);
			CHECK_EQ(got, (uint16_t)~ref_sum(p, n));
		}
	}
}

int main(void)
{
	RUN(test_rfc1071);
	RUN(test_rfc1624);
	RUN(test_headers);
	RUN(test_pseudo6);
	RUN(test_random_sum);
	RUN(test_random_update);
	return check_done();
}
