/* sign: Ed25519 host keys (libsodium) — load or create, sign, verify. */
#ifndef DIME_SIGN_H
#define DIME_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGN_PK_LEN 32
#define SIGN_SK_LEN 64
#define SIGN_SIG_LEN 64

struct sign_key {
	uint8_t pk[SIGN_PK_LEN];
	uint8_t sk[SIGN_SK_LEN];	/* never logged, never shown */
};

int sign_init(void);
/* DIR/host.key: created (0600, directory 0700) on first start, else read.
 * A key file others can read is refused. err gets one line. */
int sign_load_or_create(struct sign_key *k, const char *dir, char *err, size_t errlen);
/* Reads a 64-byte secret key file (set-local-key). */
int sign_load_file(struct sign_key *k, const char *path, char *err, size_t errlen);
void sign_generate(struct sign_key *k);
void sign_detached(const struct sign_key *k, const uint8_t *m, size_t n, uint8_t sig[SIGN_SIG_LEN]);
bool sign_verify(const uint8_t pk[SIGN_PK_LEN], const uint8_t *m, size_t n,
		 const uint8_t sig[SIGN_SIG_LEN]);
/* Base64 (standard, padded) of a public key: 44 characters + NUL. */
void sign_pk_b64(const uint8_t pk[SIGN_PK_LEN], char out[45]);
/* Its first 8 base64 characters, as `wg show` abbreviates: a name people
 * compare at a glance (`dimectl show`, events). */
void sign_pk_fingerprint(const uint8_t pk[SIGN_PK_LEN], char out[9]);
int sign_pk_from_b64(uint8_t pk[SIGN_PK_LEN], const char *s);
void sign_wipe(struct sign_key *k);
/* Constant-time comparison, for keys and nonces. */
bool sign_equal(const void *a, const void *b, size_t n);
/* A keyed 16-byte MAC (BLAKE2b): stateless cookies. */
#define SIGN_MAC_KEY_LEN 32
#define SIGN_MAC_LEN 16
void sign_mac(const uint8_t key[SIGN_MAC_KEY_LEN], const void *m, size_t n, uint8_t out[SIGN_MAC_LEN]);
/* Bytes from the CSPRNG: nonces, sequence numbers, hash seeds. */
void sign_random(void *buf, size_t n);

#endif
