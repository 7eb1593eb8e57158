#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "sign.h"

int sign_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

void sign_generate(struct sign_key *k)
{
	crypto_sign_keypair(k->pk, k->sk);
}

static int read_key(struct sign_key *k, const char *path, bool strict_mode, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != SIGN_SK_LEN) {
		close(fd);
		snprintf(err, errlen, "%s: not a %d-byte Ed25519 secret key", path, SIGN_SK_LEN);
		return -EINVAL;
	}
	if (strict_mode && (st.st_mode & 077)) {
		close(fd);
		snprintf(err, errlen, "%s: readable by others (mode %03o): chmod 600 it", path,
			 (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	ssize_t n = read(fd, k->sk, SIGN_SK_LEN);
	close(fd);
	if (n != SIGN_SK_LEN) {
		snprintf(err, errlen, "%s: short read", path);
		return -EIO;
	}
	crypto_sign_ed25519_sk_to_pk(k->pk, k->sk);
	return 0;
}

int sign_load_file(struct sign_key *k, const char *path, char *err, size_t errlen)
{
	return read_key(k, path, true, err, errlen);
}

int sign_load_or_create(struct sign_key *k, const char *dir, char *err, size_t errlen)
{
	char path[1100], tmp[1110];

	/* mkdir -p: parents 0755, the key's own directory 0700. */
	char part[1024];
	size_t dl = strlen(dir);
	if (dl >= sizeof(part)) {
		snprintf(err, errlen, "state directory path too long");
		return -ENAMETOOLONG;
	}
	for (size_t i = 1; i <= dl; i++) {
		if (dir[i] != '/' && dir[i] != '\0')
			continue;
		memcpy(part, dir, i);
		part[i] = '\0';
		if (mkdir(part, i == dl ? 0700 : 0755) < 0 && errno != EEXIST) {
			int e = errno;
			snprintf(err, errlen, "%s: %s", part, strerror(e));
			return -e;
		}
	}
	snprintf(path, sizeof(path), "%s/host.key", dir);
	if (access(path, F_OK) == 0)
		return read_key(k, path, true, err, errlen);

	/* Written whole under another name, then renamed: a crash never
	 * leaves half a key behind. */
	sign_generate(k);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, k->sk, SIGN_SK_LEN) != SIGN_SK_LEN || fsync(fd) < 0 ||
	    close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		if (fd >= 0)
			unlink(tmp);
		snprintf(err, errlen, "%s: cannot write the host key: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

void sign_detached(const struct sign_key *k, const uint8_t *m, size_t n, uint8_t sig[SIGN_SIG_LEN])
{
	crypto_sign_detached(sig, NULL, m, n, k->sk);
}

bool sign_verify(const uint8_t pk[SIGN_PK_LEN], const uint8_t *m, size_t n,
		 const uint8_t sig[SIGN_SIG_LEN])
{
	return crypto_sign_verify_detached(sig, m, n, pk) == 0;
}

void sign_pk_b64(const uint8_t pk[SIGN_PK_LEN], char out[45])
{
	sodium_bin2base64(out, 45, pk, SIGN_PK_LEN, sodium_base64_VARIANT_ORIGINAL);
}

void sign_pk_fingerprint(const uint8_t pk[SIGN_PK_LEN], char out[9])
{
	char b64[45];
	sign_pk_b64(pk, b64);
	memcpy(out, b64, 8);
	out[8] = '\0';
}

int sign_pk_from_b64(uint8_t pk[SIGN_PK_LEN], const char *s)
{
	size_t n;
	if (sodium_base642bin(pk, SIGN_PK_LEN, s, strlen(s), NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || n != SIGN_PK_LEN)
		return -EINVAL;
	return 0;
}

void sign_wipe(struct sign_key *k)
{
	sodium_memzero(k, sizeof(*k));
}

bool sign_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

void sign_random(void *buf, size_t n)
{
	randombytes_buf(buf, n);
}

void sign_mac(const uint8_t key[SIGN_MAC_KEY_LEN], const void *m, size_t n, uint8_t out[SIGN_MAC_LEN])
{
	crypto_generichash(out, SIGN_MAC_LEN, m, n, key, SIGN_MAC_KEY_LEN);
}
