#include <string.h>

#include "csum.h"

/*
 * The one's complement sum does not depend on byte order (RFC 1071 2(B)):
 * summing native words and swapping the folded result gives the big-endian
 * sum.  Native 32-bit words into a 64-bit accumulator need no carry handling
 * below 2^32 words, far beyond any packet.
 */
static uint16_t fold64(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t swab16(uint16_t v)
{
	return (uint16_t)(v << 8 | v >> 8);
}

uint32_t csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t acc = 0;
	uint32_t w32;
	uint16_t w16 = 0;

	for (; len >= 16; len -= 16, p += 16) {
		uint32_t w[4];

		memcpy(w, p, sizeof(w));
		acc += (uint64_t)w[0] + w[1] + w[2] + w[3];
	}
	for (; len >= 4; len -= 4, p += 4) {
		memcpy(&w32, p, 4);
		acc += w32;
	}
	if (len >= 2) {
		memcpy(&w16, p, 2);
		acc += w16;
		len -= 2;
		p += 2;
	}
	if (len) {
		/* The odd byte is the high half of a big-endian word: in
		 * memory order that is the first byte of a native word. */
		w16 = 0;
		memcpy(&w16, p, 1);
		acc += w16;
	}
	uint16_t s = fold64(acc);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	s = swab16(s);
#endif
	return csum_fold(sum + (uint32_t)s);
}

uint16_t csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint32_t csum_pseudo4(const void *src, const void *dst, uint8_t proto, uint32_t len)
{
	uint32_t s = csum_add(0, src, 4);

	s = csum_add(s, dst, 4);
	return csum_fold(s + proto + (len >> 16) + (len & 0xffff));
}

uint32_t csum_pseudo6(const void *src, const void *dst, uint8_t proto, uint32_t len)
{
	uint32_t s = csum_add(0, src, 16);

	s = csum_add(s, dst, 16);
	return csum_fold(s + proto + (len >> 16) + (len & 0xffff));
}

uint16_t csum_update(uint16_t ck, size_t off, const void *old, const void *new, size_t n)
{
	uint16_t m = csum_fold(csum_add(0, old, n));
	uint16_t m1 = csum_fold(csum_add(0, new, n));

	/* Equal sums leave the checksum alone, so that an unchanged field
	 * never flips between the two encodings of zero. */
	if (m == m1)
		return ck;
	if (off & 1) {
		m = swab16(m);
		m1 = swab16(m1);
	}
	uint32_t s = (uint32_t)(uint16_t)~ck + (uint16_t)~m + m1;
	return (uint16_t)~csum_fold(s);
}

void csum_replace(uint8_t *ck, size_t off, const void *old, const void *new, size_t n)
{
	csum_put(ck, csum_update(csum_get(ck), off, old, new, n));
}

int csum_verify(uint32_t start, const void *buf, size_t len)
{
	return csum_fold(csum_add(start, buf, len)) == 0xffff;
}
