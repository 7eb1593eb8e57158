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
#include "sign.h"

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

	/* Signature and nonce handling as the daemon does it: build the signed
	 * input, verify with a fixed key and with the message's own PUBKEY, and
	 * sign-then-verify the canonical form of the message. */
	static struct sign_key k;
	static int have_k;
	if (!have_k) {
		sign_init();
		sign_generate(&k);
		have_k = 1;
	}
	uint8_t in[IHMP_SIG_CONTEXT_LEN + IHMP_MAX_MSG];
	if (m.has & IHMP_HAS(IHMP_T_SIGNATURE)) {
		int il = ihmp_sig_input(in, sizeof(in), data, m.signed_len);
		assert(il == (int)(IHMP_SIG_CONTEXT_LEN + m.signed_len));
		(void)sign_verify(k.pk, in, (size_t)il, data + m.sig_off);
		if (m.has & IHMP_HAS(IHMP_T_PUBKEY))
			(void)sign_verify(m.pubkey, in, (size_t)il, data + m.sig_off);
	}
	if ((m.has & IHMP_HAS(IHMP_T_NONCE)) && (m.has & IHMP_HAS(IHMP_T_NONCE_ECHO)))
		(void)memcmp(m.nonce, m.nonce_echo, IHMP_NONCE_LEN);
	if (!(m.has & IHMP_HAS(IHMP_T_SIGNATURE)) && (m.has & IHMP_HAS(IHMP_T_COUNTER))) {
		uint8_t sb[IHMP_MAX_MSG], sig[IHMP_SIG_LEN];
		int sl = ihmp_encode(&m, sb, sizeof(sb));
		assert(sl > 0);
		int il = ihmp_sig_input(in, sizeof(in), sb, (size_t)sl);
		assert(il > 0);
		sign_detached(&k, in, (size_t)il, sig);
		int tl = ihmp_append_sig(sb, (size_t)sl, sizeof(sb), sig);
		if (tl > 0) {
			struct ihmp_msg ms;
			assert(ihmp_decode(&ms, sb, (size_t)tl) == 0);
			il = ihmp_sig_input(in, sizeof(in), sb, ms.signed_len);
			assert(sign_verify(k.pk, in, (size_t)il, sb + ms.sig_off));
		}
	}

	int l1 = ihmp_encode(&m, b1, sizeof(b1));
	assert(l1 > 0 && (size_t)l1 <= size);	/* canonical drops only skippables */
	assert(ihmp_decode(&m2, b1, (size_t)l1) == 0);
	assert(ihmp_msg_equal(&m, &m2));
	int l2 = ihmp_encode(&m2, b2, sizeof(b2));
	assert(l2 == l1 && memcmp(b1, b2, (size_t)l1) == 0);
	return 0;
}
