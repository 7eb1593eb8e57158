/*
 * libFuzzer target for ihmp_decode() and ihmp_encode().  Asserts: no crash,
 * no read beyond the input; a decoded message re-encodes, the encoding
 * decodes to the same content and is canonical (encoding it again gives
 * the same bytes); a signed message's span ends where its signature TLV
 * starts, at len - 66; an error is one of the documented ones.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "ihmp_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ihmp_msg m, m2;
	uint8_t b1[IHMP_MAX_MSG], b2[IHMP_MAX_MSG];
	size_t off, n;

	int err = ihmp_decode(&m, data, size);
	if (err < 0) {
		assert(err == -EBADMSG || err == -EPROTONOSUPPORT || err == -EOPNOTSUPP ||
		       err == -ENOMSG || err == -E2BIG);
		assert(ihmp_signed_span(data, size, &off, &n) == err);
		return 0;
	}
	if (m.has & IHMP_HAS(IHMP_T_SIGNATURE)) {
		assert(m.signed_len + 2u + IHMP_SIG_LEN == size);
		assert(m.sig_off == m.signed_len + 2u);
		assert(ihmp_signed_span(data, size, &off, &n) == 0);
		assert(off == m.sig_off && n == m.signed_len);
	} else {
		assert(ihmp_signed_span(data, size, &off, &n) == -ENOENT);
	}

	int l1 = ihmp_encode(&m, b1, sizeof(b1));
	assert(l1 > 0 && (size_t)l1 <= size);	/* canonical drops only skippables */
	assert(ihmp_decode(&m2, b1, (size_t)l1) == 0);
	assert(ihmp_msg_equal(&m, &m2));
	int l2 = ihmp_encode(&m2, b2, sizeof(b2));
	assert(l2 == l1 && memcmp(b1, b2, (size_t)l1) == 0);
	return 0;
}
