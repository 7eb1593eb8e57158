/*
 * libFuzzer target for the DNS codec (src/dns.c): the input as an answer,
 * parsed without and with a question; as a signed answer, verified with a
 * fixed key and request MAC; as a request, signed and then verified as its
 * own signer would see it; as a key file. Asserts: no crash, no read beyond
 * the input; at most DNS_ANSWER_MAX addresses, each IPv4 or IPv6, none
 * after an error; every error one of the documented ones.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* test/unit/dns_vectors.py's key256 and the MAC of its UPDATE. */
static const struct dns_tsig_key key256 = {
	.name = "ddns-key", .alg = DNS_HMAC_SHA256, .secret_len = 32,
	.secret = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
		    25, 26, 27, 28, 29, 30, 31, 32 },
};
static const uint8_t req_mac[32] = {
	0x27, 0x9a, 0x8d, 0xa8, 0xfd, 0xca, 0x76, 0xee, 0x90, 0xf7, 0x04, 0x40, 0xb0, 0xe7, 0x6e, 0x51,
	0xd2, 0xbc, 0x02, 0xce, 0xc3, 0xe0, 0x46, 0x41, 0x32, 0x66, 0xfe, 0x90, 0x8b, 0xd9, 0xbf, 0xa9,
};
#define T_SIGN 1767225600ULL

static void check_answer(int err, const struct dns_answer *a)
{
	assert(err == 0 || err == -EBADMSG);
	assert(a->naddrs <= DNS_ANSWER_MAX);
	assert(!err || a->naddrs == 0);
	for (size_t i = 0; i < a->naddrs; i++)
		assert(a->addrs[i].af == AF_INET || a->addrs[i].af == AF_INET6);
}

static void check_verify(int err)
{
	assert(err == 0 || err == -ENOENT || err == -EBADMSG || err == -EKEYREJECTED || err == -EBADE ||
	       err == -ETIME);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_answer a;
	uint16_t e;

	check_answer(dns_parse_answer(data, size, NULL, 0, &a), &a);
	check_answer(dns_parse_answer(data, size, "www.dime.test", DNS_TYPE_A, &a), &a);
	check_answer(dns_parse_answer(data, size, "www.dime.test", DNS_TYPE_AAAA, &a), &a);

	check_verify(dns_tsig_verify(data, size, &key256, req_mac, sizeof(req_mac), T_SIGN + 1, &e));
	struct dns_tsig_key k512 = key256;
	k512.alg = DNS_HMAC_SHA512;
	check_verify(dns_tsig_verify(data, size, &k512, NULL, 0, T_SIGN, &e));

	/* Signed by us, it verifies: a request's MAC is an answer's without
	 * the request MAC in front. */
	static uint8_t m[DNS_MSG_MAX];
	uint8_t mac[DNS_TSIG_MAC_MAX];
	size_t mac_len;
	if (size <= sizeof(m)) {
		memcpy(m, data, size);
		int len = dns_tsig_sign(m, size, sizeof(m), &key256, T_SIGN, mac, &mac_len);
		assert(len > 0 || len == -EINVAL || len == -ENOSPC);
		if (len > 0) {
			assert(mac_len == 32);
			assert(dns_tsig_verify(m, (size_t)len, &key256, NULL, 0, T_SIGN, &e) == 0 && e == 0);
		}
	}

	/* A key file, and names. */
	char *text = malloc(size + 1);
	assert(text);
	memcpy(text, data, size);
	text[size] = '\0';
	struct dns_tsig_key k = key256;
	char why[64];
	int err = dns_tsig_secret_parse(text, &k, why, sizeof(why));
	assert(err == 0 || err == -EINVAL);
	assert(err ? k.secret_len == 0 : k.secret_len >= 1 && k.secret_len <= DNS_TSIG_SECRET_MAX);
	err = dns_name_check(text);
	assert(err == 0 || err == -EINVAL);
	if (!err) {
		assert(dns_name_in_zone(text, text));
		assert(strlen(text) <= DNS_NAME_STRMAX);
	}
	free(text);
	return 0;
}
