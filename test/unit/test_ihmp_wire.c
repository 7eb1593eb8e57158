/* ihmp_wire: the spec's vectors byte for byte, random round trips, every
 * malformed class with its error, truncation, and signatures checked with
 * libsodium over the span the codec reports. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "check.h"
#include "ihmp_wire.h"

/*
 * The vectors of docs/ihmp.md, section "Test vectors", copied byte for
 * byte.  The signing keys are RFC 8032 section 7.1 TEST 1 (the mobile host,
 * "A") and TEST 2 (the correspondent, "B").
 */
static const char seed_a_hex[] =
	"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char seed_b_hex[] =
	"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

/* HELLO, 36 bytes (docs/ihmp.md) */
static const uint8_t v_hello[] = {
	0x01, 0x01, 0x00, 0x00, 0x12, 0x34, 0x01, 0x04, 0xc6, 0x12, 0x01, 0x0a,
	0x01, 0x16, 0x01, 0xc6, 0x12, 0x01, 0x0a, 0x02, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* ACK of HELLO, 22 bytes (docs/ihmp.md) */
static const uint8_t v_ack_hello[] = {
	0x01, 0x09, 0x00, 0x00, 0x12, 0x34, 0x01, 0x04, 0xc6, 0x13, 0x00, 0x02,
	0x01, 0x05, 0x01, 0xc6, 0x13, 0x00, 0x02, 0x04, 0x01, 0x01,
};

/* HANDOFF, 26 bytes (docs/ihmp.md) */
static const uint8_t v_handoff[] = {
	0x01, 0x07, 0x00, 0x01, 0x12, 0x35, 0x01, 0x04, 0xc6, 0x12, 0x01, 0x0a,
	0x02, 0x05, 0x01, 0xc6, 0x12, 0x02, 0x0a, 0x03, 0x05, 0x01, 0xc6, 0x12,
	0x01, 0x0a,
};

/* ACK of HANDOFF, 15 bytes (docs/ihmp.md) */
static const uint8_t v_ack_handoff[] = {
	0x01, 0x09, 0x00, 0x00, 0x12, 0x35, 0x01, 0x04, 0xc6, 0x13, 0x00, 0x02,
	0x04, 0x01, 0x07,
};

/* ACK of HANDOFF through a NAT, 24 bytes (docs/ihmp.md) */
static const uint8_t v_ack_handoff_nat[] = {
	0x01, 0x09, 0x00, 0x04, 0x12, 0x35, 0x01, 0x04, 0xc6, 0x13, 0x00, 0x02,
	0x04, 0x01, 0x07, 0x0c, 0x07, 0x01, 0xc6, 0x13, 0x00, 0x63, 0x9c, 0x40,
};

/* signed HELLO, 176 bytes (docs/ihmp.md) */
static const uint8_t v_hello_signed[] = {
	0x01, 0x01, 0x00, 0x00, 0xbe, 0xef, 0x02, 0x10, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x01, 0x16, 0x02, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x01, 0xc6, 0x12, 0x01, 0x0a,
	0x06, 0x08, 0x67, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x20,
	0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3,
	0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25,
	0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a, 0x09, 0x10, 0xa0, 0xa1,
	0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad,
	0xae, 0xaf, 0x0b, 0x40, 0xba, 0xfc, 0xd6, 0xda, 0xb3, 0x1c, 0xe0, 0xec,
	0xdc, 0xe6, 0xbd, 0x34, 0xb0, 0xbe, 0x95, 0xce, 0x18, 0xbd, 0x7f, 0x22,
	0xb8, 0x2a, 0x1c, 0x91, 0x42, 0x02, 0xdd, 0x86, 0xe3, 0xa2, 0x26, 0xc6,
	0x8c, 0xdc, 0x45, 0xb5, 0xf5, 0x2f, 0xb1, 0x0b, 0x81, 0x92, 0xc2, 0xb0,
	0x7c, 0x06, 0xae, 0xc1, 0x54, 0x8c, 0xf5, 0x3e, 0x7c, 0x44, 0xf0, 0xf9,
	0xa2, 0xa4, 0x18, 0xc5, 0x04, 0x59, 0x85, 0x01,
};

/* signed ACK of HELLO, 174 bytes (docs/ihmp.md) */
static const uint8_t v_ack_hello_signed[] = {
	0x01, 0x09, 0x00, 0x04, 0xbe, 0xef, 0x02, 0x10, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x01, 0x11, 0x02, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x01, 0x01, 0x06, 0x08,
	0x68, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x07, 0x20, 0x3d, 0x40,
	0x17, 0xc3, 0xe8, 0x43, 0x89, 0x5a, 0x92, 0xb7, 0x0a, 0xa7, 0x4d, 0x1b,
	0x7e, 0xbc, 0x9c, 0x98, 0x2c, 0xcf, 0x2e, 0xc4, 0x96, 0x8c, 0xc0, 0xcd,
	0x55, 0xf1, 0x2a, 0xf4, 0x66, 0x0c, 0x0a, 0x10, 0xa0, 0xa1, 0xa2, 0xa3,
	0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0x0b, 0x40, 0xe4, 0xa2, 0x51, 0xd6, 0x19, 0x1e, 0xcd, 0x15, 0x02, 0x88,
	0xed, 0x85, 0xb0, 0x97, 0xbf, 0xa5, 0xc3, 0xbd, 0x45, 0x1d, 0x5a, 0x19,
	0x51, 0x6b, 0x17, 0x54, 0x38, 0x84, 0x7a, 0x53, 0xa0, 0xe6, 0x21, 0xe4,
	0xab, 0xed, 0x02, 0x16, 0x73, 0x87, 0xf7, 0xa8, 0x3e, 0xe1, 0x86, 0x3a,
	0xc3, 0xa2, 0xe9, 0x57, 0x28, 0xdc, 0x7d, 0x88, 0xda, 0x08, 0xe7, 0xc8,
	0x04, 0xbb, 0x02, 0x67, 0xb8, 0x04,
};

/* signed HANDOFF, 138 bytes (docs/ihmp.md) */
static const uint8_t v_handoff_signed[] = {
	0x01, 0x07, 0x00, 0x00, 0xbe, 0xf0, 0x02, 0x10, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x02, 0x11, 0x02, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x03, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x03, 0x11, 0x02, 0x20, 0x01,
	0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x10, 0x06, 0x08, 0x67, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x0b, 0x40, 0xa7, 0x61, 0xb2, 0x2f, 0x5b, 0xaa, 0x4f, 0x42, 0xa7, 0x5c,
	0x8d, 0x97, 0xd1, 0x6e, 0x42, 0x23, 0xc7, 0x88, 0x7d, 0x7d, 0x5b, 0x0c,
	0x28, 0x05, 0x4f, 0x65, 0x3b, 0xf4, 0x3e, 0xa7, 0x97, 0xf0, 0xdd, 0x4f,
	0xc3, 0xe8, 0x99, 0x5d, 0x43, 0x5a, 0x03, 0xcb, 0xfa, 0x48, 0xb0, 0x9b,
	0x1a, 0xb9, 0xb0, 0x00, 0x0a, 0x0c, 0x9d, 0x65, 0x7b, 0x35, 0x32, 0x99,
	0x64, 0x52, 0x73, 0x51, 0x17, 0x0a,
};

/* signed ACK of HANDOFF, 103 bytes (docs/ihmp.md) */
static const uint8_t v_ack_handoff_signed[] = {
	0x01, 0x09, 0x00, 0x00, 0xbe, 0xf0, 0x02, 0x10, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x04, 0x01, 0x07, 0x06, 0x08, 0x68, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x0b, 0x40, 0x01, 0x70, 0xd1, 0xeb, 0xdd, 0x5c, 0x1a, 0x25, 0xbb,
	0xad, 0x76, 0x00, 0x25, 0x06, 0xad, 0x60, 0x89, 0x64, 0x5d, 0x25, 0x68,
	0xe3, 0x4f, 0x96, 0x61, 0xa3, 0x66, 0x28, 0xd7, 0x81, 0x0e, 0xc1, 0xfb,
	0xfb, 0xfc, 0xec, 0xeb, 0x6f, 0x28, 0xc2, 0xe6, 0x88, 0x2d, 0xfe, 0x8f,
	0x32, 0x4a, 0x35, 0x3d, 0x2e, 0x6d, 0xcb, 0xf6, 0xff, 0x64, 0x4d, 0xd8,
	0x18, 0x8c, 0x0d, 0xeb, 0x33, 0x33, 0x02,
};

#define H(t) IHMP_HAS(IHMP_T_##t)

static uint8_t pk_a[32], sk_a[64], pk_b[32], sk_b[64];

static void unhex(uint8_t *out, const char *s)
{
	for (size_t i = 0; s[2 * i]; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static struct dime_addr A(const char *s)
{
	struct dime_addr a;

	if (addr_parse(&a, s) < 0)
		abort();
	return a;
}

/* Decodes a copy in a buffer of exactly len bytes, so that ASan sees any
 * read beyond the message. */
static int dec(struct ihmp_msg *m, const uint8_t *buf, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int err;

	if (!copy)
		abort();
	if (len)
		memcpy(copy, buf, len);
	err = ihmp_decode(m, copy, len);
	free(copy);
	return err;
}

static bool verify(const uint8_t *buf, size_t len, const uint8_t *pk)
{
	size_t off, n;
	uint8_t in[IHMP_SIG_CONTEXT_LEN + IHMP_MAX_MSG];

	if (ihmp_signed_span(buf, len, &off, &n) < 0)
		return false;
	int k = ihmp_sig_input(in, sizeof(in), buf, n);
	if (k < 0)
		return false;
	return crypto_sign_verify_detached(buf + off, in, (unsigned long long)k, pk) == 0;
}

static const struct vec {
	const char *name;
	const uint8_t *b;
	size_t len;
	const uint8_t *pk;	/* signer, or NULL */
} vecs[] = {
	{ "HELLO", v_hello, sizeof(v_hello), NULL },
	{ "ACK of HELLO", v_ack_hello, sizeof(v_ack_hello), NULL },
	{ "HANDOFF", v_handoff, sizeof(v_handoff), NULL },
	{ "ACK of HANDOFF", v_ack_handoff, sizeof(v_ack_handoff), NULL },
	{ "ACK of HANDOFF through a NAT", v_ack_handoff_nat, sizeof(v_ack_handoff_nat), NULL },
	{ "signed HELLO", v_hello_signed, sizeof(v_hello_signed), pk_a },
	{ "signed ACK of HELLO", v_ack_hello_signed, sizeof(v_ack_hello_signed), pk_b },
	{ "signed HANDOFF", v_handoff_signed, sizeof(v_handoff_signed), pk_a },
	{ "signed ACK of HANDOFF", v_ack_handoff_signed, sizeof(v_ack_handoff_signed), pk_b },
};
#define NVECS (sizeof(vecs) / sizeof(vecs[0]))

static void test_vectors(void)
{
	for (size_t i = 0; i < NVECS; i++) {
		struct ihmp_msg m;
		uint8_t out[IHMP_MAX_MSG];

		CHECK_EQ(dec(&m, vecs[i].b, vecs[i].len), 0);
		int n = ihmp_encode(&m, out, sizeof(out));
		CHECK_EQ(n, (long long)vecs[i].len);
		CHECK(n > 0 && memcmp(out, vecs[i].b, (size_t)n) == 0);
		if (vecs[i].pk) {
			CHECK(m.has & H(SIGNATURE));
			CHECK_EQ(m.signed_len, vecs[i].len - 66);
			CHECK_EQ(m.sig_off, vecs[i].len - 64);
			CHECK(verify(vecs[i].b, vecs[i].len, vecs[i].pk));
			/* Signing the unsigned prefix again gives the vector
			 * (Ed25519 is deterministic). */
			uint8_t in[IHMP_SIG_CONTEXT_LEN + IHMP_MAX_MSG], sig[64];
			int k = ihmp_sig_input(in, sizeof(in), vecs[i].b, m.signed_len);
			CHECK_EQ(k, IHMP_SIG_CONTEXT_LEN + m.signed_len);
			crypto_sign_detached(sig, NULL, in, (unsigned long long)k,
					     vecs[i].pk == pk_a ? sk_a : sk_b);
			memcpy(out, vecs[i].b, m.signed_len);
			CHECK_EQ(ihmp_append_sig(out, m.signed_len, sizeof(out), sig),
				 (long long)vecs[i].len);
			CHECK(memcmp(out, vecs[i].b, vecs[i].len) == 0);
		} else {
			size_t a, b;
			CHECK(!(m.has & H(SIGNATURE)));
			CHECK_EQ(ihmp_signed_span(vecs[i].b, vecs[i].len, &a, &b), -ENOENT);
		}
	}

	/* The fields, spelled out once. */
	struct ihmp_msg m;
	CHECK_EQ(dec(&m, v_hello, sizeof(v_hello)), 0);
	CHECK_EQ(m.version, 1);
	CHECK_EQ(m.type, IHMP_HELLO);
	CHECK_EQ(m.seq, 0x1234);
	CHECK(addr_eq(&m.host_id, &(struct dime_addr){ 0 }) == false);
	struct dime_addr mh = A("198.18.1.10");
	CHECK(addr_eq(&m.host_id, &mh));
	CHECK_EQ(m.naddrs, 2);
	CHECK(addr_eq(&m.addrs[0], &mh));
	struct dime_addr mh6 = A("2001:db8:1::10");
	CHECK(addr_eq(&m.addrs[1], &mh6));
	CHECK(memcmp(&m.host_id, &mh, sizeof(mh)) == 0);	/* IPv4 zero-padded */

	CHECK_EQ(dec(&m, v_handoff, sizeof(v_handoff)), 0);
	CHECK_EQ(m.flags, IHMP_F_OU);
	struct dime_addr na = A("198.18.2.10");
	CHECK(addr_eq(&m.new_addr, &na));
	CHECK(addr_eq(&m.old_addr, &mh));

	CHECK_EQ(dec(&m, v_ack_handoff, sizeof(v_ack_handoff)), 0);
	CHECK_EQ(m.type, IHMP_ACK);
	CHECK_EQ(m.seq, 0x1235);
	CHECK_EQ(m.echo_type, IHMP_HANDOFF);

	CHECK_EQ(dec(&m, v_hello_signed, sizeof(v_hello_signed)), 0);
	CHECK_EQ(m.counter, 0x6700000000000001ull);
	CHECK(memcmp(m.pubkey, pk_a, 32) == 0);
	CHECK_EQ(m.nonce[0], 0xa0);
	CHECK_EQ(m.nonce[15], 0xaf);

	CHECK_EQ(dec(&m, v_ack_hello_signed, sizeof(v_ack_hello_signed)), 0);
	CHECK_EQ(m.flags, IHMP_F_ND);
	CHECK(memcmp(m.pubkey, pk_b, 32) == 0);
	CHECK_EQ(m.nonce_echo[0], 0xa0);
	CHECK_EQ(m.counter, 0x6800000000000007ull);
}

/* ---- random messages ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void rnd_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static struct dime_addr rnd_addr(void)
{
	struct dime_addr a;
	uint8_t b[16];

	rnd_bytes(b, sizeof(b));
	addr_set(&a, rnd() & 1 ? AF_INET : AF_INET6, b);
	return a;
}

/* What each type requires and may carry (docs/ihmp.md, "TLVs per type"). */
static const uint32_t req[] = {
	[IHMP_HELLO] = H(ADDRS),
	[IHMP_PATH_PROBE] = 0,
	[IHMP_ADDR_UP] = H(NEW_ADDR),
	[IHMP_ADDR_UP_UNREACHABLE] = H(NEW_ADDR),
	[IHMP_ADDR_DOWN] = H(OLD_ADDR),
	[IHMP_ADDR_DOWN_UNREACHABLE] = H(OLD_ADDR),
	[IHMP_HANDOFF] = H(NEW_ADDR) | H(OLD_ADDR),
	[IHMP_HANDOFF_UNREACHABLE] = H(NEW_ADDR) | H(OLD_ADDR),
	[IHMP_ACK] = H(ECHO),
	[IHMP_NAT_ENTRY] = H(NAT_MAP),
};
#define COMMON (H(COUNTER) | H(NONCE) | H(SIGNATURE))
static const uint32_t opt[] = {
	[IHMP_HELLO] = COMMON | H(PUBKEY) | H(KEY_ROTATE) | H(NONCE_ECHO),
	[IHMP_PATH_PROBE] = COMMON,
	[IHMP_ADDR_UP] = COMMON,
	[IHMP_ADDR_UP_UNREACHABLE] = COMMON,
	[IHMP_ADDR_DOWN] = COMMON,
	[IHMP_ADDR_DOWN_UNREACHABLE] = COMMON,
	[IHMP_HANDOFF] = COMMON,
	[IHMP_HANDOFF_UNREACHABLE] = COMMON,
	[IHMP_ACK] = H(ADDRS) | H(PUBKEY) | H(COUNTER) | H(NONCE) | H(NONCE_ECHO) | H(SIGNATURE),
	[IHMP_NAT_ENTRY] = COMMON,
};

static void rnd_msg(struct ihmp_msg *m, uint8_t type)
{
	struct dime_addr hid = rnd_addr();

	ihmp_msg_init(m, type, &hid);
	m->flags = (uint16_t)rnd();
	m->seq = (uint16_t)rnd();
	m->has = req[type] | (opt[type] & (uint32_t)rnd());
	if ((m->has & H(SIGNATURE)) && !(m->has & H(COUNTER)))
		m->has |= H(COUNTER);
	m->naddrs = (uint8_t)(rnd() % (IHMP_MAX_ADDRS + 1));
	for (unsigned i = 0; i < m->naddrs; i++)
		m->addrs[i] = rnd_addr();
	if (!(m->has & H(ADDRS)))
		m->naddrs = 0;
	m->new_addr = rnd_addr();
	m->old_addr = rnd_addr();
	do
		m->echo_type = (uint8_t)(1 + rnd() % IHMP_TYPE_MAX);
	while (m->echo_type == IHMP_ACK);
	m->nat.proto = (uint8_t)rnd();
	m->nat.int_port = (uint16_t)rnd();
	m->nat.ext_port = (uint16_t)rnd();
	m->nat.int_addr = rnd_addr();
	m->nat.ext_addr = rnd_addr();
	m->counter = rnd();
	rnd_bytes(m->pubkey, sizeof(m->pubkey));
	rnd_bytes(m->rot_pubkey, sizeof(m->rot_pubkey));
	rnd_bytes(m->rot_proof, sizeof(m->rot_proof));
	rnd_bytes(m->nonce, sizeof(m->nonce));
	rnd_bytes(m->nonce_echo, sizeof(m->nonce_echo));
	rnd_bytes(m->sig, sizeof(m->sig));
}

static void test_roundtrip(void)
{
	int bad = 0, n_ok = 0;

	for (int i = 0; i < 20000; i++) {
		struct ihmp_msg m, d, d2;
		uint8_t buf[IHMP_MAX_MSG], buf2[IHMP_MAX_MSG];
		uint8_t type = (uint8_t)(1 + i % IHMP_TYPE_MAX);

		rnd_msg(&m, type);
		int n = ihmp_encode(&m, buf, sizeof(buf));
		if (n <= 0 || dec(&d, buf, (size_t)n) != 0 || !ihmp_msg_equal(&m, &d)) {
			bad++;
			continue;
		}
		int n2 = ihmp_encode(&d, buf2, sizeof(buf2));
		if (n2 != n || memcmp(buf, buf2, (size_t)n) ||
		    dec(&d2, buf2, (size_t)n2) != 0 || !ihmp_msg_equal(&d, &d2))
			bad++;
		if ((m.has & H(SIGNATURE)) &&
		    (d.signed_len != n - 66 || d.sig_off != n - 64))
			bad++;
		n_ok++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(n_ok, 20000);
}

/* Every message, truncated at every length: an error unless the cut falls
 * on a TLV boundary and what remains is a valid message by itself; never a
 * read out of bounds (ASan). */
static void test_truncation(void)
{
	for (size_t i = 0; i < NVECS; i++) {
		const uint8_t *b = vecs[i].b;
		size_t len = vecs[i].len;
		bool boundary[IHMP_MAX_MSG + 1] = { false };
		size_t p = IHMP_HDR_LEN + b[7];

		while (p <= len) {
			boundary[p] = true;
			if (p + 2 > len)
				break;
			p += 2 + b[p + 1];
		}
		for (size_t l = 0; l < len; l++) {
			struct ihmp_msg m;
			int err = dec(&m, b, l);

			if (boundary[l])
				CHECK(err == 0 || err == -ENOMSG);
			else
				CHECK_EQ(err, -EBADMSG);
			/* canonical order: required first (the NAT ACK ends
			 * with an optional TLV: without it, it is an ACK) */
			if (!vecs[i].pk && vecs[i].b != v_ack_handoff_nat)
				CHECK(err < 0);
		}
		/* The signed prefix alone is the unsigned message. */
		if (vecs[i].pk) {
			struct ihmp_msg m;
			CHECK_EQ(dec(&m, b, len - 66), 0);
			CHECK(!(m.has & H(SIGNATURE)));
		}
	}
	/* Random messages too, with random cuts. */
	for (int i = 0; i < 2000; i++) {
		struct ihmp_msg m, d;
		uint8_t buf[IHMP_MAX_MSG];

		rnd_msg(&m, (uint8_t)(1 + i % IHMP_TYPE_MAX));
		int n = ihmp_encode(&m, buf, sizeof(buf));
		size_t l = (size_t)rnd() % (size_t)n;
		int err = dec(&d, buf, l);
		CHECK(err == 0 || err == -EBADMSG || err == -ENOMSG);
	}
}

/* Builds a message by hand: header with an IPv4 Host ID, then raw TLV bytes. */
static size_t raw(uint8_t *b, uint8_t version, uint8_t type, const uint8_t *tlvs, size_t n)
{
	static const uint8_t hdr[] = { 0, 0, 0x00, 0x00, 0xab, 0xcd, 1, 4, 198, 18, 0, 1 };

	memcpy(b, hdr, sizeof(hdr));
	b[0] = version;
	b[1] = type;
	if (n)
		memcpy(b + sizeof(hdr), tlvs, n);
	return sizeof(hdr) + n;
}

#define RAW(type, ...) do { \
	static const uint8_t t_[] = { __VA_ARGS__ }; \
	len = raw(b, 1, (type), t_, sizeof(t_)); \
} while (0)

/* A valid ECHO so that ACKs pass the required check. */
#define ECHO_H 4, 1, 1

static void test_errors(void)
{
	uint8_t b[2048];
	size_t len;
	struct ihmp_msg m;

	/* Sanity: the building block is valid. */
	RAW(IHMP_ACK, ECHO_H);
	CHECK_EQ(dec(&m, b, len), 0);
	RAW(IHMP_PATH_PROBE);
	CHECK_EQ(dec(&m, b, len), 0);

	/* -E2BIG: over IHMP_MAX_MSG, whatever it holds. */
	memset(b, 0, sizeof(b));
	RAW(IHMP_PATH_PROBE);
	CHECK_EQ(dec(&m, b, IHMP_MAX_MSG + 1), -E2BIG);
	CHECK_EQ(dec(&m, b, sizeof(b)), -E2BIG);
	/* Exactly IHMP_MAX_MSG is fine: pad with skippable TLVs. */
	len = 12;
	while (len < IHMP_MAX_MSG) {
		size_t n = IHMP_MAX_MSG - len - 2 > 255 ? 255 : IHMP_MAX_MSG - len - 2;
		b[len] = IHMP_T_PAD;
		b[len + 1] = (uint8_t)n;
		memset(b + len + 2, 0xee, n);
		len += 2 + n;
	}
	CHECK_EQ(len, IHMP_MAX_MSG);
	CHECK_EQ(dec(&m, b, len), 0);

	/* -EPROTONOSUPPORT: any other version, checked before length. */
	for (unsigned v = 0; v < 256; v++) {
		if (v == IHMP_VERSION)
			continue;
		len = raw(b, (uint8_t)v, IHMP_ACK, (const uint8_t[]){ ECHO_H }, 3);
		CHECK_EQ(dec(&m, b, len), -EPROTONOSUPPORT);
		CHECK_EQ(dec(&m, b, 1), -EPROTONOSUPPORT);
	}

	/* -EOPNOTSUPP: unknown types, unknown critical TLVs. */
	static const uint8_t badtypes[] = { 0, 11, 100, 224, 254, 255 };
	for (size_t i = 0; i < sizeof(badtypes); i++) {
		len = raw(b, 1, badtypes[i], NULL, 0);
		CHECK_EQ(dec(&m, b, len), -EOPNOTSUPP);
	}
	for (unsigned t = 0; t < 128; t++) {
		if (t >= IHMP_T_ADDRS && t <= IHMP_T_OBSERVED)
			continue;
		len = raw(b, 1, IHMP_ACK, (const uint8_t[]){ ECHO_H, (uint8_t)t, 2, 0, 0 }, 7);
		CHECK_EQ(dec(&m, b, len), -EOPNOTSUPP);
	}

	/* Skippable TLVs (128 and up) are ignored wherever they are, even
	 * repeated, even empty, and count as signed bytes. */
	for (unsigned t = 128; t < 256; t++) {
		if (t == IHMP_T_NAME)
			continue;	/* known, and checked: test_name */
		len = raw(b, 1, IHMP_ACK, (const uint8_t[]){ (uint8_t)t, 0, ECHO_H,
			(uint8_t)t, 3, 1, 2, 3, (uint8_t)t, 1, 0xff }, 3 + 2 + 5 + 3);
		CHECK_EQ(dec(&m, b, len), 0);
		CHECK_EQ(m.has, H(ECHO));
		CHECK_EQ(m.echo_type, 1);
	}

	/* -ENOMSG: a required TLV missing; a signature without a counter. */
	RAW(IHMP_HELLO);
	CHECK_EQ(dec(&m, b, len), -ENOMSG);
	RAW(IHMP_ACK);
	CHECK_EQ(dec(&m, b, len), -ENOMSG);
	RAW(IHMP_ADDR_UP_UNREACHABLE);
	CHECK_EQ(dec(&m, b, len), -ENOMSG);
	RAW(IHMP_ADDR_DOWN_UNREACHABLE);
	CHECK_EQ(dec(&m, b, len), -ENOMSG);
	RAW(IHMP_HANDOFF, 2, 5, 1, 1, 2, 3, 4);
	CHECK_EQ(dec(&m, b, len), -ENOMSG);
	RAW(IHMP_HANDOFF_UNREACHABLE, 3, 5, 1, 1, 2, 3, 4);
	CHECK_EQ(dec(&m, b, len), -ENOMSG);
	RAW(IHMP_NAT_ENTRY);
	CHECK_EQ(dec(&m, b, len), -ENOMSG);
	{
		uint8_t t[3 + 66] = { ECHO_H, IHMP_T_SIGNATURE, 64 };
		len = raw(b, 1, IHMP_ACK, t, sizeof(t));
		CHECK_EQ(dec(&m, b, len), -ENOMSG);
	}

	/* -EBADMSG: header. */
	CHECK_EQ(dec(&m, b, 0), -EBADMSG);
	RAW(IHMP_PATH_PROBE);
	for (size_t l = 1; l < 12; l++)
		CHECK_EQ(dec(&m, b, l), -EBADMSG);
	b[6] = 3;			/* unknown family */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	b[6] = 0;
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	b[6] = 1, b[7] = 16;		/* IPv4 in 16 bytes */
	CHECK_EQ(dec(&m, b, 24), -EBADMSG);
	b[6] = 2, b[7] = 4;		/* IPv6 in 4 bytes */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	b[6] = 2, b[7] = 16;		/* IPv6 cut short */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	memset(b + 12, 0, 12);
	CHECK_EQ(dec(&m, b, 24), 0);

	/* -EBADMSG: TLV framing. */
	RAW(IHMP_ACK, ECHO_H, 0x80);			/* trailing byte */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ACK, ECHO_H, 0x80, 3, 0, 0);		/* overruns */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ACK, 4, 2, 1);				/* known, overruns */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ACK, ECHO_H, 4, 1, 1);			/* duplicate */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_HELLO, 1, 5, 1, 1, 2, 3, 4, 2, 5, 1, 1, 2, 3, 4); /* NEW_ADDR in HELLO */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_PATH_PROBE, 4, 1, 1);			/* ECHO not in an ACK */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ADDR_UP, 2, 5, 1, 1, 2, 3, 4, 10, 16,	/* NONCE_ECHO not in an ACK */
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	CHECK_EQ(dec(&m, b, len), -EBADMSG);

	/* -EBADMSG: addresses. */
	RAW(IHMP_ADDR_UP, 2, 5, 1, 1, 2, 3, 4);
	CHECK_EQ(dec(&m, b, len), 0);
	RAW(IHMP_ADDR_UP, 2, 5, 3, 1, 2, 3, 4);		/* bad family */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ADDR_UP, 2, 5, 2, 1, 2, 3, 4);		/* IPv6 in 4 bytes */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ADDR_UP, 2, 6, 1, 1, 2, 3, 4, 5);	/* IPv4 in 5 bytes */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ADDR_UP, 2, 4, 1, 1, 2, 3);		/* IPv4 in 3 bytes */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ADDR_UP, 2, 0);			/* empty */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_HELLO, 1, 0);				/* empty list is fine */
	CHECK_EQ(dec(&m, b, len), 0);
	CHECK_EQ(m.naddrs, 0);
	RAW(IHMP_HELLO, 1, 7, 1, 1, 2, 3, 4, 1, 9);	/* entry cut short */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	{
		uint8_t t[2 + 9 * 5];
		t[0] = IHMP_T_ADDRS;
		for (unsigned n = 8; n <= 9; n++) {
			t[1] = (uint8_t)(n * 5);
			for (unsigned i = 0; i < n; i++) {
				uint8_t e[5] = { 1, 198, 18, 0, (uint8_t)i };
				memcpy(t + 2 + i * 5, e, 5);
			}
			len = raw(b, 1, IHMP_HELLO, t, 2 + n * 5);
			CHECK_EQ(dec(&m, b, len), n == 8 ? 0 : -EBADMSG);	/* too many */
		}
	}
	RAW(IHMP_NAT_ENTRY, 5, 15, 6, 0, 1, 0, 2, 1, 1, 2, 3, 4, 1, 5, 6, 7, 8);
	CHECK_EQ(dec(&m, b, len), 0);
	CHECK_EQ(m.nat.proto, 6);
	CHECK_EQ(m.nat.int_port, 1);
	CHECK_EQ(m.nat.ext_port, 2);
	RAW(IHMP_NAT_ENTRY, 5, 14, 6, 0, 1, 0, 2, 1, 1, 2, 3, 4, 1, 5, 6, 7);
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_NAT_ENTRY, 5, 16, 6, 0, 1, 0, 2, 1, 1, 2, 3, 4, 1, 5, 6, 7, 8, 9);
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_NAT_ENTRY, 5, 4, 6, 0, 1, 0);
	CHECK_EQ(dec(&m, b, len), -EBADMSG);

	/* -EBADMSG: fixed-size TLVs of the wrong size. */
	RAW(IHMP_ACK, 4, 0);
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ACK, 4, 2, 1, 0);
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ACK, 4, 1, IHMP_ACK);			/* ACK of an ACK */
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ACK, 4, 1, 0);
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ACK, 4, 1, 11);
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ACK, ECHO_H, 6, 7, 0, 0, 0, 0, 0, 0, 1);
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	RAW(IHMP_ACK, ECHO_H, 6, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1);
	CHECK_EQ(dec(&m, b, len), -EBADMSG);
	static const struct { uint8_t type, t, good; } sizes[] = {
		{ IHMP_ACK, IHMP_T_PUBKEY, 32 },
		{ IHMP_HELLO, IHMP_T_KEY_ROTATE, 96 },
		{ IHMP_HELLO, IHMP_T_NONCE, 16 },
		{ IHMP_ACK, IHMP_T_NONCE_ECHO, 16 },
		{ IHMP_ACK, IHMP_T_SIGNATURE, 64 },
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int d = -1; d <= 1; d++) {
			/* The required TLV, a COUNTER (a SIGNATURE needs one),
			 * then the TLV under test with its size off by d. */
			uint8_t t[3 + 10 + 2 + 97] = { 0 };
			size_t k = 0, n = (size_t)(sizes[i].good + d);

			if (sizes[i].type == IHMP_HELLO)
				t[k++] = IHMP_T_ADDRS, t[k++] = 0;
			else
				t[k++] = IHMP_T_ECHO, t[k++] = 1, t[k++] = IHMP_HELLO;
			memcpy(t + k, (const uint8_t[]){ 6, 8, 0, 0, 0, 0, 0, 0, 0, 1 }, 10);
			k += 10;
			t[k++] = sizes[i].t;
			t[k++] = (uint8_t)n;
			len = raw(b, 1, sizes[i].type, t, k + n);
			CHECK_EQ(dec(&m, b, len), d ? -EBADMSG : 0);
		}
	}

	/* -EBADMSG: anything after the signature. */
	{
		uint8_t t[3 + 10 + 66 + 3] = { ECHO_H, 6, 8, 0, 0, 0, 0, 0, 0, 0, 1,
					       IHMP_T_SIGNATURE, 64 };
		len = raw(b, 1, IHMP_ACK, t, 3 + 10 + 66);
		CHECK_EQ(dec(&m, b, len), 0);
		CHECK_EQ(m.signed_len, 12 + 13);
		CHECK_EQ(m.sig_off, 12 + 15);
		t[79] = IHMP_T_PAD, t[80] = 1;		/* skippable after it */
		len = raw(b, 1, IHMP_ACK, t, sizeof(t));
		CHECK_EQ(dec(&m, b, len), -EBADMSG);
		len = raw(b, 1, IHMP_ACK, t, sizeof(t) - 1);	/* one stray byte */
		CHECK_EQ(dec(&m, b, len), -EBADMSG);
		t[79] = 4;				/* known, and a duplicate */
		len = raw(b, 1, IHMP_ACK, t, sizeof(t));
		CHECK_EQ(dec(&m, b, len), -EBADMSG);
		/* The counter after the signature. */
		uint8_t u[3 + 66 + 10] = { ECHO_H, IHMP_T_SIGNATURE, 64 };
		memcpy(u + 69, (const uint8_t[]){ 6, 8, 0, 0, 0, 0, 0, 0, 0, 1 }, 10);
		len = raw(b, 1, IHMP_ACK, u, sizeof(u));
		CHECK_EQ(dec(&m, b, len), -EBADMSG);
		/* A skippable TLV before the signature is covered by it. */
		uint8_t s[2 + 3 + 10 + 66] = { IHMP_T_PAD, 0, ECHO_H, 6, 8, 0, 0, 0, 0, 0, 0, 0, 1,
					       IHMP_T_SIGNATURE, 64 };
		len = raw(b, 1, IHMP_ACK, s, sizeof(s));
		CHECK_EQ(dec(&m, b, len), 0);
		CHECK_EQ(m.signed_len, 12 + 15);
	}

	/* TLVs in any order are accepted. */
	RAW(IHMP_HANDOFF, 3, 5, 1, 1, 2, 3, 4, 2, 5, 1, 5, 6, 7, 8);
	CHECK_EQ(dec(&m, b, len), 0);
	CHECK_EQ(m.new_addr.a[0], 5);
	CHECK_EQ(m.old_addr.a[0], 1);
}

static void test_encode_errors(void)
{
	struct ihmp_msg m;
	uint8_t buf[IHMP_MAX_MSG];
	struct dime_addr h = A("198.18.0.1");

	ihmp_msg_init(&m, IHMP_PATH_PROBE, &h);
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), 12);
	m.version = 2;
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.version = 1;
	m.type = 0;
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.type = 11;
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.type = IHMP_PATH_PROBE;
	m.has = H(ECHO);				/* not allowed */
	m.echo_type = IHMP_HELLO;
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.has = IHMP_HAS(20);				/* unknown bit */
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.has = H(SIGNATURE);				/* no counter */
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.has = H(SIGNATURE) | H(COUNTER);
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), 12 + 10 + 66);
	m.has = 0;
	m.host_id.af = 0;
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.host_id = h;
	m.host_id.a[4] = 1;				/* non-canonical IPv4 */
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.host_id = h;

	ihmp_msg_init(&m, IHMP_HELLO, &h);
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);	/* no ADDRS */
	m.has = H(ADDRS);
	m.naddrs = IHMP_MAX_ADDRS + 1;
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.naddrs = 1;
	m.addrs[0].af = AF_UNIX;
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.addrs[0] = h;
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), 12 + 7);

	ihmp_msg_init(&m, IHMP_ACK, &h);
	m.has = H(ECHO);
	m.echo_type = IHMP_ACK;
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.echo_type = 0;
	CHECK_EQ(ihmp_encode(&m, buf, sizeof(buf)), -EINVAL);

	/* -ENOSPC at every short capacity, never a write beyond it. */
	for (size_t i = 0; i < NVECS; i++) {
		struct ihmp_msg d;

		CHECK_EQ(dec(&d, vecs[i].b, vecs[i].len), 0);
		for (size_t cap = 0; cap < vecs[i].len; cap++) {
			uint8_t *o = malloc(cap ? cap : 1);
			CHECK_EQ(ihmp_encode(&d, o, cap), -ENOSPC);
			free(o);
		}
	}
}

static void test_sig(void)
{
	uint8_t buf[IHMP_MAX_MSG], sig[64], in[IHMP_SIG_CONTEXT_LEN + IHMP_MAX_MSG];
	size_t off, n;
	struct ihmp_msg m;

	/* The API on the vectors. */
	CHECK_EQ(ihmp_signed_span(v_handoff_signed, sizeof(v_handoff_signed), &off, &n), 0);
	CHECK_EQ(n, sizeof(v_handoff_signed) - 66);
	CHECK_EQ(off, sizeof(v_handoff_signed) - 64);
	CHECK_EQ(ihmp_signed_span(v_handoff_signed, sizeof(v_handoff_signed) - 1, &off, &n), -EBADMSG);
	memcpy(buf, v_handoff_signed, sizeof(v_handoff_signed));
	CHECK_EQ(ihmp_append_sig(buf, sizeof(v_handoff_signed), sizeof(buf), sig), -EEXIST);
	memcpy(buf, v_handoff, sizeof(v_handoff));	/* no COUNTER */
	CHECK_EQ(ihmp_append_sig(buf, sizeof(v_handoff), sizeof(buf), sig), -ENOMSG);
	n = sizeof(v_handoff_signed) - 66;
	memcpy(buf, v_handoff_signed, n);
	CHECK_EQ(ihmp_append_sig(buf, n, n + 65, sig), -ENOSPC);
	CHECK_EQ(ihmp_append_sig(buf, n - 1, sizeof(buf), sig), -EBADMSG);
	CHECK_EQ(ihmp_sig_input(in, IHMP_SIG_CONTEXT_LEN + n - 1, buf, n), -ENOSPC);
	CHECK(memcmp(IHMP_SIG_CONTEXT, "IHMP-v1-signature", IHMP_SIG_CONTEXT_LEN + 1) == 0);

	/* A message that would pass IHMP_MAX_MSG with its signature. */
	{
		uint8_t t[3 + 10] = { ECHO_H, 6, 8, 0, 0, 0, 0, 0, 0, 0, 1 };
		size_t len = raw(buf, 1, IHMP_ACK, t, sizeof(t));
		while (len < IHMP_MAX_MSG - 60) {
			size_t k = IHMP_MAX_MSG - 60 - len - 2 > 255 ? 255 : IHMP_MAX_MSG - 60 - len - 2;
			buf[len] = 200;
			buf[len + 1] = (uint8_t)k;
			memset(buf + len + 2, 0, k);
			len += 2 + k;
		}
		CHECK_EQ(dec(&m, buf, len), 0);
		CHECK_EQ(ihmp_append_sig(buf, len, sizeof(buf), sig), -E2BIG);
	}

	/* Random messages signed by a random key: the span the codec reports
	 * verifies, and a flipped bit anywhere in it does not. */
	int bad = 0;
	for (int i = 0; i < 500; i++) {
		uint8_t pk[32], sk[64];
		crypto_sign_keypair(pk, sk);
		rnd_msg(&m, (uint8_t)(1 + i % IHMP_TYPE_MAX));
		m.has &= ~H(SIGNATURE);
		m.has |= H(COUNTER);
		int len = ihmp_encode(&m, buf, sizeof(buf));
		int k = ihmp_sig_input(in, sizeof(in), buf, (size_t)len);
		crypto_sign_detached(sig, NULL, in, (unsigned long long)k, sk);
		int l2 = ihmp_append_sig(buf, (size_t)len, sizeof(buf), sig);
		if (l2 != len + 66 || !verify(buf, (size_t)l2, pk)) {
			bad++;
			continue;
		}
		size_t at = (size_t)(rnd() % (uint64_t)len);
		buf[at] ^= (uint8_t)(1u << (rnd() % 8));
		/* Either it no longer parses or the signature fails. */
		if (verify(buf, (size_t)l2, pk))
			bad++;
	}
	CHECK_EQ(bad, 0);
}

static void test_names(void)
{
	static const char *const names[] = { "?", "HELLO", "PATH_PROBE", "ADDR_UP",
		"ADDR_UP_UNREACHABLE", "ADDR_DOWN", "ADDR_DOWN_UNREACHABLE", "HANDOFF",
		"HANDOFF_UNREACHABLE", "ACK", "NAT_ENTRY", "?" };
	for (unsigned t = 0; t < sizeof(names) / sizeof(names[0]); t++)
		CHECK(strcmp(ihmp_type_name((uint8_t)t), names[t]) == 0);
	CHECK(strcmp(ihmp_type_name(255), "?") == 0);
}

/* OBSERVED (§8): what the vector holds, where it may be, its lengths. */
static void test_observed(void)
{
	struct ihmp_msg m;
	uint8_t b[IHMP_MAX_MSG];

	CHECK_EQ(dec(&m, v_ack_handoff_nat, sizeof(v_ack_handoff_nat)), 0);
	CHECK(m.has & H(OBSERVED));
	CHECK(addr_eq(&m.observed, &(struct dime_addr){ 0 }) == false);
	struct dime_addr nat = A("198.19.0.99");
	CHECK(addr_eq(&m.observed, &nat));
	CHECK_EQ(m.observed_port, 40000);
	CHECK_EQ(m.flags, IHMP_F_ND);
	/* IPv6: 19 octets of value. */
	ihmp_msg_init(&m, IHMP_ACK, &nat);
	m.echo_type = IHMP_PATH_PROBE;
	m.observed = A("2001:db8::99");
	m.observed_port = 3463;
	m.has = H(ECHO) | H(OBSERVED);
	int n = ihmp_encode(&m, b, sizeof(b));
	CHECK_EQ(n, 12 + 3 + 2 + 19);
	struct ihmp_msg d;
	CHECK_EQ(dec(&d, b, (size_t)n), 0);
	CHECK(ihmp_msg_equal(&m, &d));
	/* A wrong length (no port, a stray octet) is malformed. */
	b[16] = 17;
	CHECK_EQ(dec(&d, b, (size_t)n - 2), -EBADMSG);
	b[16] = 20;
	uint8_t c[IHMP_MAX_MSG];
	memcpy(c, b, (size_t)n);
	c[n] = 0;
	CHECK_EQ(dec(&d, c, (size_t)n + 1), -EBADMSG);
	/* Only in an ACK. */
	ihmp_msg_init(&m, IHMP_PATH_PROBE, &nat);
	m.observed = nat;
	m.has = H(OBSERVED);
	CHECK_EQ(ihmp_encode(&m, b, sizeof(b)), -EINVAL);
}

/* NAME (§11, skippable): in HELLO and ACK, after the other TLVs and
 * before SIGNATURE, so signed; a bad name or a second one is malformed;
 * in other types it is skipped; bytes are carried as they are. */
static void test_name(void)
{
	struct ihmp_msg m, d;
	uint8_t b[IHMP_MAX_MSG];
	struct dime_addr id = A("198.18.1.2");
	static const char name[] = "mh.dime.test";

	ihmp_msg_init(&m, IHMP_HELLO, &id);
	m.has = H(ADDRS);
	m.naddrs = 1;
	m.addrs[0] = id;
	m.name = name;
	m.name_len = (uint8_t)strlen(name);
	int n = ihmp_encode(&m, b, sizeof(b));
	CHECK(n > 0);
	CHECK_EQ(b[n - 2 - (int)strlen(name)], IHMP_T_NAME);
	CHECK_EQ(dec(&d, b, (size_t)n), 0);
	/* dec() decodes a copy it frees; d.name points into the message. */
	CHECK_EQ(ihmp_decode(&d, b, (size_t)n), 0);
	CHECK(ihmp_msg_equal(&m, &d));
	CHECK(d.name_len == strlen(name) && !memcmp(d.name, name, d.name_len));
	/* A second NAME, or one that is not a name: malformed. */
	uint8_t c[IHMP_MAX_MSG];
	memcpy(c, b, (size_t)n);
	memcpy(c + n, b + n - 2 - strlen(name), 2 + strlen(name));
	CHECK_EQ(dec(&d, c, (size_t)n + 2 + strlen(name)), -EBADMSG);
	memcpy(c, b, (size_t)n);
	c[n - 1] = '.';		/* "mh.dime.tes.": a final dot */
	CHECK_EQ(dec(&d, c, (size_t)n), -EBADMSG);
	c[n - 1] = 't';
	c[n - 4] = '.';		/* "mh.dime..est": an empty label */
	CHECK_EQ(dec(&d, c, (size_t)n), -EBADMSG);
	/* Not a name: refused when encoding too. */
	m.name = "a..b";
	m.name_len = 4;
	CHECK_EQ(ihmp_encode(&m, b, sizeof(b)), -EINVAL);
	/* In a HANDOFF: not ours to send, and skipped when received. */
	ihmp_msg_init(&m, IHMP_HANDOFF, &id);
	m.has = H(NEW_ADDR) | H(OLD_ADDR);
	m.new_addr = A("198.18.2.2");
	m.old_addr = id;
	m.name = name;
	m.name_len = (uint8_t)strlen(name);
	CHECK_EQ(ihmp_encode(&m, b, sizeof(b)), -EINVAL);
	m.name_len = 0;
	n = ihmp_encode(&m, b, sizeof(b));
	CHECK(n > 0);
	b[n++] = IHMP_T_NAME;
	b[n++] = (uint8_t)strlen(name);
	memcpy(b + n, name, strlen(name));
	n += (int)strlen(name);
	CHECK_EQ(dec(&d, b, (size_t)n), 0);
	CHECK_EQ(d.name_len, 0);
}

int main(void)
{
	uint8_t seed[32];

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	unhex(seed, seed_a_hex);
	crypto_sign_seed_keypair(pk_a, sk_a, seed);
	unhex(seed, seed_b_hex);
	crypto_sign_seed_keypair(pk_b, sk_b, seed);

	RUN(test_vectors);
	RUN(test_roundtrip);
	RUN(test_truncation);
	RUN(test_errors);
	RUN(test_encode_errors);
	RUN(test_sig);
	RUN(test_observed);
	RUN(test_names);
	RUN(test_name);
	return check_done();
}
