#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "sign.h"

static char dir[64];

static void test_create_and_reload(void)
{
	struct sign_key a, b;
	char err[256], path[128];
	struct stat st;

	snprintf(dir, sizeof(dir), "/tmp/dime-sign-%d/state", (int)getpid());
	CHECK_EQ(sign_load_or_create(&a, dir, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/host.key", dir);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);		/* the secret is ours alone */
	CHECK_EQ(st.st_size, SIGN_SK_LEN);
	CHECK_EQ(stat(dir, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0700);
	CHECK_EQ(sign_load_or_create(&b, dir, err, sizeof(err)), 0);
	CHECK(memcmp(a.pk, b.pk, SIGN_PK_LEN) == 0);	/* same key after a restart */

	chmod(path, 0644);
	CHECK(sign_load_or_create(&b, dir, err, sizeof(err)) < 0);
	CHECK(strstr(err, "chmod 600") != NULL);
	chmod(path, 0600);

	int fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "short", 5) == 5);
	close(fd);
	CHECK(sign_load_or_create(&b, dir, err, sizeof(err)) < 0);
	CHECK(strstr(err, "64-byte") != NULL);
	unlink(path);
	rmdir(dir);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
}

static void test_sign_verify_b64(void)
{
	struct sign_key k, other;
	uint8_t msg[100], sig[SIGN_SIG_LEN], pk[SIGN_PK_LEN];
	char b64[45];

	sign_generate(&k);
	sign_generate(&other);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	sign_detached(&k, msg, sizeof(msg), sig);
	CHECK(sign_verify(k.pk, msg, sizeof(msg), sig));
	CHECK(!sign_verify(other.pk, msg, sizeof(msg), sig));
	msg[50] ^= 1;
	CHECK(!sign_verify(k.pk, msg, sizeof(msg), sig));
	sign_pk_b64(k.pk, b64);
	CHECK_EQ(strlen(b64), 44);
	CHECK_EQ(sign_pk_from_b64(pk, b64), 0);
	CHECK(memcmp(pk, k.pk, SIGN_PK_LEN) == 0);
	CHECK(sign_pk_from_b64(pk, "not base64!") < 0);
	CHECK(sign_pk_from_b64(pk, "AAAA") < 0);	/* wrong length */
	sign_wipe(&k);
	uint8_t zero[SIGN_SK_LEN] = { 0 };
	CHECK(memcmp(k.sk, zero, SIGN_SK_LEN) == 0);
}

/* The cookie MAC: deterministic per key, different across keys and inputs. */
static void test_mac_equal(void)
{
	uint8_t k1[SIGN_MAC_KEY_LEN] = { 1 }, k2[SIGN_MAC_KEY_LEN] = { 2 };
	uint8_t a[SIGN_MAC_LEN], b[SIGN_MAC_LEN], c[SIGN_MAC_LEN], d[SIGN_MAC_LEN];

	sign_mac(k1, "198.18.0.1", 10, a);
	sign_mac(k1, "198.18.0.1", 10, b);
	sign_mac(k2, "198.18.0.1", 10, c);
	sign_mac(k1, "198.18.0.2", 10, d);
	CHECK(sign_equal(a, b, SIGN_MAC_LEN));
	CHECK(!sign_equal(a, c, SIGN_MAC_LEN));
	CHECK(!sign_equal(a, d, SIGN_MAC_LEN));
	sign_random(c, sizeof(c));
	sign_random(d, sizeof(d));
	CHECK(!sign_equal(c, d, SIGN_MAC_LEN));
}

int main(void)
{
	if (sign_init() < 0)
		return 1;
	RUN(test_create_and_reload);
	RUN(test_sign_verify_b64);
	RUN(test_mac_equal);
	return check_done();
}
