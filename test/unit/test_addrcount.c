/* addrcount against a plain array of counts, through growth, shrinking
 * and deletions that shift probe runs back (a tiny seed space and many
 * addresses make long runs). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addrcount.h"
#include "check.h"

#define N 3000

static struct dime_addr addr_n(unsigned i)
{
	struct dime_addr a = { 0 };
	if (i % 3 == 0) {
		a.af = AF_INET6;
		a.a[0] = 0x20; a.a[1] = 0x01; a.a[2] = 0x0d; a.a[3] = 0xb8;
		a.a[14] = (uint8_t)(i >> 8);
		a.a[15] = (uint8_t)i;
	} else {
		a.af = AF_INET;
		a.a[0] = 198; a.a[1] = 18;
		a.a[2] = (uint8_t)(i >> 8);
		a.a[3] = (uint8_t)i;
	}
	return a;
}

static void test_basic(void)
{
	struct addrcount *ac;
	struct dime_addr a = addr_n(1), b = addr_n(3), none = { 0 };

	CHECK_EQ(addrcount_new(&ac, 7), 0);
	CHECK_EQ(addrcount_inc(ac, &none), -EINVAL);
	CHECK_EQ(addrcount_dec(ac, &a), -ENOENT);
	CHECK_EQ(addrcount_inc(ac, &a), 1);
	CHECK_EQ(addrcount_inc(ac, &a), 0);
	CHECK_EQ(addrcount_inc(ac, &b), 1);
	CHECK_EQ(addrcount_get(ac, &a), 2);
	CHECK_EQ(addrcount_size(ac), 2);
	CHECK_EQ(addrcount_dec(ac, &a), 0);
	CHECK_EQ(addrcount_dec(ac, &a), 1);
	CHECK_EQ(addrcount_dec(ac, &a), -ENOENT);
	CHECK_EQ(addrcount_get(ac, &a), 0);
	CHECK_EQ(addrcount_get(ac, &b), 1);
	addrcount_free(ac);
}

static void test_random(void)
{
	static uint32_t ref[N];
	struct addrcount *ac;
	size_t distinct = 0, peak = 0;

	CHECK_EQ(addrcount_new(&ac, 12345), 0);
	srand(42);
	for (int round = 0; round < 200000; round++) {
		/* Grow for a while, then drain: both resizes and shifts. */
		bool grow = (round / 50000) % 2 == 0;
		unsigned i = (unsigned)rand() % N;
		struct dime_addr a = addr_n(i);
		if (grow ? rand() % 4 != 0 : rand() % 4 == 0) {
			CHECK_EQ(addrcount_inc(ac, &a), ref[i] == 0);
			distinct += ref[i]++ == 0;
		} else if (ref[i]) {
			CHECK_EQ(addrcount_dec(ac, &a), ref[i] == 1);
			distinct -= --ref[i] == 0;
		} else {
			CHECK_EQ(addrcount_dec(ac, &a), -ENOENT);
		}
		if (distinct > peak)
			peak = distinct;
		if (round % 997 == 0) {
			CHECK_EQ(addrcount_size(ac), distinct);
			for (unsigned j = 0; j < N; j++) {
				struct dime_addr x = addr_n(j);
				if (addrcount_get(ac, &x) != ref[j]) {
					CHECK_EQ(addrcount_get(ac, &x), ref[j]);
					break;
				}
			}
		}
	}
	/* Every address once through the iterator. */
	size_t cur = 0, seen = 0;
	for (const struct dime_addr *x; (x = addrcount_next(ac, &cur)); seen++)
		CHECK(addrcount_get(ac, x) > 0);
	CHECK_EQ(seen, distinct);
	/* Drained, the table shrinks back. */
	size_t big = addrcount_memory(ac);
	for (unsigned j = 0; j < N; j++) {
		struct dime_addr x = addr_n(j);
		while (ref[j]) {
			CHECK_EQ(addrcount_dec(ac, &x), ref[j] == 1);
			ref[j]--;
		}
	}
	CHECK_EQ(addrcount_size(ac), 0);
	CHECK(peak > 1000);
	CHECK(addrcount_memory(ac) < big || big < 4096);
	addrcount_free(ac);
}

int main(void)
{
	RUN(test_basic);
	RUN(test_random);
	return check_done();
}
