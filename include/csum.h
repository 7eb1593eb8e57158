/* csum: the Internet checksum (RFC 1071) and its incremental update (RFC 1624). */
#ifndef DIME_CSUM_H
#define DIME_CSUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Sums are one's complement sums of big-endian 16-bit words, kept folded to
 * 16 bits in a uint32_t so that any number of them can be chained with
 * csum_add() or plain '+' followed by csum_fold().  A checksum as stored in a
 * header is the complement of the folded sum (csum_finish()), read and written
 * with csum_get()/csum_put() so that alignment never matters.
 */

/* Adds len bytes at buf to sum.  buf must start at an even offset of the
 * checksummed region; an odd length is padded with a zero byte. */
uint32_t csum_add(uint32_t sum, const void *buf, size_t len);

/* Folds any sum (or sum of sums) to 16 bits. */
uint16_t csum_fold(uint32_t sum);

static inline uint16_t csum_finish(uint32_t sum)
{
	return (uint16_t)~csum_fold(sum);
}

/* The pseudo-header sums for TCP, UDP and ICMPv6 (RFC 793, RFC 8200 8.1);
 * addresses are 4 or 16 bytes in network order, len is the L4 length. */
uint32_t csum_pseudo4(const void *src, const void *dst, uint8_t proto, uint32_t len);
uint32_t csum_pseudo6(const void *src, const void *dst, uint8_t proto, uint32_t len);

static inline uint16_t csum_get(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void csum_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Returns checksum ck updated for n bytes at offset off of the region it
 * covers changing from old to new: RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m').
 * Only the parity of off matters; an odd offset swaps the bytes of the
 * difference.  A checksum whose data are unchanged is returned as is. */
uint16_t csum_update(uint16_t ck, size_t off, const void *old, const void *new, size_t n);

/* The same for a checksum stored at ck (2 bytes, network order). */
void csum_replace(uint8_t *ck, size_t off, const void *old, const void *new, size_t n);

/* 1 if len bytes at buf plus the sum start (e.g. a pseudo-header) verify,
 * i.e. fold to 0xffff with the checksum field included. */
int csum_verify(uint32_t start, const void *buf, size_t len);

#endif
