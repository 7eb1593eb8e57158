#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "hid_table.h"

static struct dime_addr A(const char *s)
{
	struct dime_addr a;

	if (addr_parse(&a, s) < 0)
		abort();
	return a;
}

static struct dime_addr v4n(uint32_t n)
{
	struct dime_addr a = { .af = AF_INET };

	a.a[0] = 198;
	a.a[1] = (uint8_t)(18 + (n >> 16 & 1));
	a.a[2] = (uint8_t)(n >> 8);
	a.a[3] = (uint8_t)n;
	return a;
}

static void test_create_get_remove(void)
{
	struct hid_table *ht = hid_table_new(3, 1);
	struct hid *h1, *h2, *h3, *h;
	uint32_t old;

	CHECK(ht != NULL);
	CHECK(hid_table_new(0, 1) == NULL);
	CHECK(hid_table_new(HID_MAX_ENTRIES + 1, 1) == NULL);
	CHECK_EQ(hid_table_create(ht, 10, &h1), 0);
	CHECK_EQ(hid_table_create(ht, 11, &h2), 0);
	CHECK_EQ(hid_table_create(ht, 12, &h3), 0);
	CHECK_EQ(hid_table_create(ht, 13, &h), -ENOSPC);
	CHECK_EQ(hid_table_count(ht), 3);
	CHECK(h1->handle != 0 && h2->handle != 0 && h1->handle != h2->handle);
	CHECK(hid_table_get(ht, h1->handle) == h1);
	CHECK(hid_table_get(ht, h3->handle) == h3);
	CHECK(hid_table_get(ht, 0) == NULL);
	CHECK(hid_table_get(ht, h1->handle ^ 1u << 24) == NULL);	/* wrong generation */
	CHECK(hid_table_get(ht, 0x00ffffff) == NULL);
	CHECK_EQ(h1->created, 10);
	CHECK_EQ(h1->updated, 10);
	CHECK_EQ(h1->key_origin, HID_KEY_NONE);
	CHECK(h1->ihmp == NULL);
	CHECK_EQ(h1->set[HID_ACTIVE].n, 0);

	old = h2->handle;
	hid_table_remove(ht, h2);
	CHECK(hid_table_get(ht, old) == NULL);
	CHECK_EQ(hid_table_count(ht), 2);
	/* the table was full, so the slot comes back, with a new generation */
	CHECK_EQ(hid_table_create(ht, 14, &h), 0);
	CHECK(h->handle != old);
	CHECK_EQ(h->handle & HID_MAX_ENTRIES, old & HID_MAX_ENTRIES);
	CHECK(hid_table_get(ht, old) == NULL);
	CHECK(hid_table_get(ht, h->handle) == h);
	hid_table_free(ht);
	hid_table_free(NULL);
}

static void test_addresses(void)
{
	struct hid_table *ht = hid_table_new(10, 2);
	struct hid *h1, *h2;
	struct dime_addr a = A("198.18.0.1"), b = A("2001:db8::1"), c = A("198.18.0.2");
	struct dime_addr loc = A("198.19.0.1"), none = { 0 };

	hid_table_create(ht, 0, &h1);
	hid_table_create(ht, 0, &h2);
	CHECK_EQ(hid_table_add_addr(ht, h1, HID_ACTIVE, &a, 5), 0);
	CHECK_EQ(h1->updated, 5);
	CHECK_EQ(hid_table_add_addr(ht, h1, HID_UNREACH, &b, 6), 0);
	CHECK(hid_table_lookup(ht, &a) == h1);
	CHECK(hid_table_lookup(ht, &b) == h1);
	CHECK(hid_table_lookup(ht, &c) == NULL);
	CHECK_EQ(hid_where(h1, &a), HID_ACTIVE);
	CHECK_EQ(hid_where(h1, &b), HID_UNREACH);
	CHECK_EQ(hid_where(h1, &c), -ENOENT);

	/* one owner per address: same set, other set, other HID */
	CHECK_EQ(hid_table_add_addr(ht, h1, HID_ACTIVE, &a, 7), -EEXIST);
	CHECK_EQ(hid_table_add_addr(ht, h1, HID_UNREACH, &a, 7), -EEXIST);
	CHECK_EQ(hid_table_add_addr(ht, h2, HID_ACTIVE, &a, 7), -EEXIST);
	CHECK_EQ(hid_table_add_addr(ht, h2, HID_UNREACH, &b, 7), -EEXIST);
	CHECK(hid_table_lookup(ht, &a) == h1);
	CHECK_EQ(h1->updated, 6);
	CHECK_EQ(h2->set[HID_ACTIVE].n, 0);

	/* local addresses are ours: shared by many HIDs, not indexed */
	CHECK_EQ(hid_table_add_addr(ht, h1, HID_LOCAL, &loc, 8), 0);
	CHECK_EQ(hid_table_add_addr(ht, h2, HID_LOCAL, &loc, 8), 0);
	CHECK_EQ(hid_table_add_addr(ht, h2, HID_LOCAL, &loc, 8), -EEXIST);
	CHECK(hid_table_lookup(ht, &loc) == NULL);
	CHECK_EQ(hid_where(h2, &loc), HID_LOCAL);

	CHECK_EQ(hid_table_add_addr(ht, h1, HID_ACTIVE, &none, 9), -EINVAL);
	CHECK_EQ(hid_table_add_addr(ht, h1, (enum hid_set_id)7, &c, 9), -EINVAL);

	/* deletion frees the address for another HID */
	CHECK_EQ(hid_table_del_addr(ht, h1, HID_ACTIVE, &b, 10), -ENOENT);
	CHECK_EQ(hid_table_del_addr(ht, h1, HID_UNREACH, &b, 10), 0);
	CHECK(hid_table_lookup(ht, &b) == NULL);
	CHECK_EQ(hid_table_add_addr(ht, h2, HID_ACTIVE, &b, 11), 0);
	CHECK(hid_table_lookup(ht, &b) == h2);
	CHECK_EQ(hid_table_del_addr(ht, h2, HID_LOCAL, &loc, 12), 0);
	CHECK_EQ(hid_where(h1, &loc), HID_LOCAL);

	/* a v4 address with junk after byte 4 is the same address */
	struct dime_addr junk = a;
	junk.a[9] = 0x55;
	CHECK(hid_table_lookup(ht, &junk) == h1);
	CHECK_EQ(hid_table_add_addr(ht, h2, HID_ACTIVE, &junk, 13), -EEXIST);

	/* removing a HID frees its addresses */
	hid_table_remove(ht, h1);
	CHECK(hid_table_lookup(ht, &a) == NULL);
	CHECK_EQ(hid_table_add_addr(ht, h2, HID_UNREACH, &a, 14), 0);
	CHECK(hid_table_lookup(ht, &a) == h2);
	hid_table_free(ht);
}

static void test_full_sets(void)
{
	struct hid_table *ht = hid_table_new(4, 3);
	struct hid *h;
	struct dime_addr x;

	hid_table_create(ht, 0, &h);
	for (uint32_t i = 0; i < HID_ADDRS_MAX; i++) {
		x = v4n(i);
		CHECK_EQ(hid_table_add_addr(ht, h, HID_ACTIVE, &x, 0), 0);
		x = v4n(100 + i);
		CHECK_EQ(hid_table_add_addr(ht, h, HID_UNREACH, &x, 0), 0);
		x = v4n(200 + i);
		CHECK_EQ(hid_table_add_addr(ht, h, HID_LOCAL, &x, 0), 0);
	}
	x = v4n(50);
	CHECK_EQ(hid_table_add_addr(ht, h, HID_ACTIVE, &x, 0), -ENOSPC);
	CHECK_EQ(hid_table_add_addr(ht, h, HID_UNREACH, &x, 0), -ENOSPC);
	CHECK_EQ(hid_table_add_addr(ht, h, HID_LOCAL, &x, 0), -ENOSPC);
	CHECK(hid_table_lookup(ht, &x) == NULL);	/* refused means not indexed */
	CHECK_EQ(h->set[HID_ACTIVE].n, HID_ADDRS_MAX);
	/* moving into a full set is refused and changes nothing */
	x = v4n(100);
	CHECK_EQ(hid_table_move_addr(ht, h, &x, HID_ACTIVE, 0), -ENOSPC);
	CHECK_EQ(hid_where(h, &x), HID_UNREACH);
	/* make room, then it works */
	x = v4n(3);
	CHECK_EQ(hid_table_del_addr(ht, h, HID_ACTIVE, &x, 0), 0);
	x = v4n(100);
	CHECK_EQ(hid_table_move_addr(ht, h, &x, HID_ACTIVE, 0), 0);
	CHECK_EQ(hid_where(h, &x), HID_ACTIVE);
	CHECK(hid_table_lookup(ht, &x) == h);
	hid_table_free(ht);
}

static void test_move(void)
{
	struct hid_table *ht = hid_table_new(4, 4);
	struct hid *h, *h2;
	struct dime_addr a = A("198.18.0.1"), b = A("198.18.0.2"), c = A("198.18.0.3");

	hid_table_create(ht, 0, &h);
	hid_table_create(ht, 0, &h2);
	hid_table_add_addr(ht, h, HID_ACTIVE, &a, 0);
	hid_table_add_addr(ht, h, HID_ACTIVE, &b, 0);
	hid_table_add_addr(ht, h2, HID_ACTIVE, &c, 0);
	CHECK_EQ(hid_table_move_addr(ht, h, &a, HID_UNREACH, 20), 0);
	CHECK_EQ(h->updated, 20);
	CHECK_EQ(hid_where(h, &a), HID_UNREACH);
	CHECK(hid_table_lookup(ht, &a) == h);	/* still indexed */
	CHECK_EQ(h->set[HID_ACTIVE].n, 1);
	CHECK_EQ(hid_table_move_addr(ht, h, &a, HID_UNREACH, 21), 0);	/* already there */
	CHECK_EQ(h->set[HID_UNREACH].n, 1);
	CHECK_EQ(hid_table_move_addr(ht, h, &c, HID_UNREACH, 21), -ENOENT);	/* h2's */
	CHECK_EQ(hid_table_move_addr(ht, h, &a, HID_LOCAL, 21), -EINVAL);
	/* back to active: at the end, b stays primary */
	CHECK_EQ(hid_table_move_addr(ht, h, &a, HID_ACTIVE, 22), 0);
	CHECK(addr_eq(hid_primary(h, AF_INET), &b));
	CHECK_EQ(h->set[HID_UNREACH].n, 0);
	hid_table_free(ht);
}

static void test_primary(void)
{
	struct hid_table *ht = hid_table_new(4, 5);
	struct hid *h;
	struct dime_addr a = A("198.18.0.1"), b = A("2001:db8::1"), c = A("198.18.0.2");
	struct dime_addr d = A("2001:db8::2"), u = A("198.18.9.9");

	hid_table_create(ht, 0, &h);
	CHECK(hid_primary(h, AF_INET) == NULL);
	CHECK(hid_primary(h, AF_UNSPEC) == NULL);
	hid_table_add_addr(ht, h, HID_UNREACH, &u, 0);
	CHECK(hid_primary(h, AF_INET) == NULL);	/* unreachable never primary */
	hid_table_add_addr(ht, h, HID_ACTIVE, &a, 0);
	hid_table_add_addr(ht, h, HID_ACTIVE, &b, 0);
	hid_table_add_addr(ht, h, HID_ACTIVE, &c, 0);
	hid_table_add_addr(ht, h, HID_ACTIVE, &d, 0);
	CHECK(addr_eq(hid_primary(h, AF_INET), &a));
	CHECK(addr_eq(hid_primary(h, AF_INET6), &b));
	CHECK(addr_eq(hid_primary(h, AF_UNSPEC), &a));

	CHECK_EQ(hid_promote(h, &c), 0);
	CHECK(addr_eq(hid_primary(h, AF_INET), &c));
	CHECK(addr_eq(hid_primary(h, AF_INET6), &b));
	CHECK_EQ(hid_promote(h, &d), 0);
	CHECK(addr_eq(hid_primary(h, AF_INET6), &d));
	CHECK(addr_eq(hid_primary(h, AF_INET), &c));
	CHECK(addr_eq(hid_primary(h, AF_UNSPEC), &d));
	CHECK_EQ(hid_promote(h, &u), -ENOENT);
	/* order of the rest kept: d c a b */
	CHECK(addr_eq(&h->set[HID_ACTIVE].a[0], &d));
	CHECK(addr_eq(&h->set[HID_ACTIVE].a[1], &c));
	CHECK(addr_eq(&h->set[HID_ACTIVE].a[2], &a));
	CHECK(addr_eq(&h->set[HID_ACTIVE].a[3], &b));
	/* losing the primary: the next of that family takes over */
	hid_table_del_addr(ht, h, HID_ACTIVE, &c, 0);
	CHECK(addr_eq(hid_primary(h, AF_INET), &a));
	hid_table_move_addr(ht, h, &d, HID_UNREACH, 0);
	CHECK(addr_eq(hid_primary(h, AF_INET6), &b));
	hid_table_free(ht);
}

static void test_keys(void)
{
	struct hid_table *ht = hid_table_new(4, 6);
	struct hid *h;
	uint8_t k1[HID_KEY_LEN], k2[HID_KEY_LEN];

	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	hid_table_create(ht, 0, &h);
	CHECK_EQ(hid_set_key(h, k1, HID_KEY_NONE), -EINVAL);
	CHECK_EQ(hid_set_key(h, k1, HID_KEY_TOFU), 0);
	CHECK_EQ(h->key_origin, HID_KEY_TOFU);
	CHECK(memcmp(h->key, k1, HID_KEY_LEN) == 0);
	CHECK_EQ(hid_set_key(h, k2, HID_KEY_TOFU), -EEXIST);
	CHECK_EQ(hid_set_key(h, k2, HID_KEY_PINNED), -EEXIST);
	CHECK(memcmp(h->key, k1, HID_KEY_LEN) == 0);
	CHECK_EQ(hid_set_key(h, k1, HID_KEY_PINNED), 0);	/* upgrade */
	CHECK_EQ(h->key_origin, HID_KEY_PINNED);
	CHECK_EQ(hid_set_key(h, k1, HID_KEY_TOFU), 0);	/* no downgrade */
	CHECK_EQ(h->key_origin, HID_KEY_PINNED);
	hid_clear_key(h);
	CHECK_EQ(h->key_origin, HID_KEY_NONE);
	CHECK_EQ(hid_set_key(h, k2, HID_KEY_PINNED), 0);
	CHECK(memcmp(h->key, k2, HID_KEY_LEN) == 0);
	hid_table_free(ht);
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static void test_handle_reuse(void)
{
	enum { CHURN = 200000, LIVE = 10 };
	struct hid_table *ht = hid_table_new(1000000, 7);
	uint32_t *seen = malloc(CHURN * sizeof(*seen)), live[LIVE] = { 0 };
	struct hid *h;
	uint32_t dups = 0;

	/* 10 live HIDs, one replaced at a time: no handle may come back */
	for (uint32_t i = 0; i < CHURN; i++) {
		uint32_t j = i % LIVE;

		if (live[j]) {
			h = hid_table_get(ht, live[j]);
			CHECK(h != NULL);
			hid_table_remove(ht, h);
			CHECK(hid_table_get(ht, live[j]) == NULL);
		}
		CHECK_EQ(hid_table_create(ht, i, &h), 0);
		live[j] = seen[i] = h->handle;
	}
	qsort(seen, CHURN, sizeof(*seen), cmp_u32);
	for (uint32_t i = 1; i < CHURN; i++)
		dups += seen[i] == seen[i - 1];
	CHECK_EQ(dups, 0);
	CHECK_EQ(hid_table_count(ht), LIVE);
	hid_table_free(ht);

	/* a small full table cycles its slots FIFO: a handle comes back only
	 * after 255 generations of every slot */
	ht = hid_table_new(4, 7);
	uint32_t first, n = 0;
	for (int i = 0; i < 3; i++)
		hid_table_create(ht, 0, NULL);
	hid_table_create(ht, 0, &h);
	first = h->handle;
	for (;;) {
		hid_table_remove(ht, h);
		CHECK_EQ(hid_table_create(ht, 0, &h), 0);
		n++;
		if (h->handle == first || n > 10000)
			break;
	}
	CHECK_EQ(n, 255);
	CHECK(h->handle != 0);
	hid_table_free(ht);
	free(seen);
}

static void test_iterate(void)
{
	struct hid_table *ht = hid_table_new(1000, 8);
	struct hid *h;
	uint32_t cur = 0, n = 0;

	for (uint32_t i = 0; i < 600; i++) {
		hid_table_create(ht, i, &h);
		h->flags = i;
	}
	while ((h = hid_table_next(ht, &cur))) {
		n++;
		if (h->flags % 3 == 0)
			hid_table_remove(ht, h);
	}
	CHECK_EQ(n, 600);
	CHECK_EQ(hid_table_count(ht), 400);
	cur = n = 0;
	while ((h = hid_table_next(ht, &cur))) {
		CHECK(h->flags % 3 != 0);
		CHECK(hid_table_get(ht, h->handle) == h);
		n++;
	}
	CHECK_EQ(n, 400);
	hid_table_free(ht);
}

/* Random adds, deletes, moves and HID removals against a plain model of
 * who owns which address: exercises the index's backward-shift deletion. */
enum { NA = 3000, NH = 60 };
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static struct dime_addr maddr(uint32_t i)
{
	if (i % 3 == 0) {
		struct dime_addr a = { .af = AF_INET6 };

		a.a[0] = 0x20;
		a.a[1] = 0x01;
		a.a[2] = 0x0d;
		a.a[3] = 0xb8;
		a.a[14] = (uint8_t)(i >> 8);
		a.a[15] = (uint8_t)i;
		return a;
	}
	return v4n(i);
}

static void test_random_model(void)
{
	struct hid_table *ht = hid_table_new(NH, 9);
	static int owner[NA];	/* model slot or -1 */
	static int where[NA];
	struct hid *hs[NH] = { 0 };
	int nset[NH][2] = { { 0 } };
	uint32_t ops = 100000, adds = 0, clashes = 0;

	for (int i = 0; i < NA; i++)
		owner[i] = -1;
	for (uint32_t op = 0; op < ops; op++) {
		int s = (int)rnd(NH);
		uint32_t i = rnd(NA);
		struct dime_addr a = maddr(i);
		int r;

		if (!hs[s]) {
			CHECK_EQ(hid_table_create(ht, op, &hs[s]), 0);
			continue;
		}
		switch (rnd(10)) {
		case 0: case 1: case 2: case 3: {
			int set = (int)rnd(2);

			r = hid_table_add_addr(ht, hs[s], (enum hid_set_id)set, &a, op);
			if (owner[i] >= 0) {
				CHECK_EQ(r, -EEXIST);
				clashes++;
			} else if (nset[s][set] == HID_ADDRS_MAX) {
				CHECK_EQ(r, -ENOSPC);
			} else {
				CHECK_EQ(r, 0);
				owner[i] = s;
				where[i] = set;
				nset[s][set]++;
				adds++;
			}
			break;
		}
		case 4: case 5: case 6:
			r = hid_table_del_addr(ht, hs[s], HID_ACTIVE, &a, op);
			if (owner[i] == s && where[i] == HID_ACTIVE) {
				CHECK_EQ(r, 0);
				owner[i] = -1;
				nset[s][HID_ACTIVE]--;
			} else {
				CHECK_EQ(r, -ENOENT);
			}
			break;
		case 7: case 8: {
			int to = (int)rnd(2);

			r = hid_table_move_addr(ht, hs[s], &a, (enum hid_set_id)to, op);
			if (owner[i] != s)
				CHECK_EQ(r, -ENOENT);
			else if (where[i] == to)
				CHECK_EQ(r, 0);
			else if (nset[s][to] == HID_ADDRS_MAX)
				CHECK_EQ(r, -ENOSPC);
			else {
				CHECK_EQ(r, 0);
				nset[s][where[i]]--;
				nset[s][to]++;
				where[i] = to;
			}
			break;
		}
		case 9:
			if (rnd(20))
				break;
			hid_table_remove(ht, hs[s]);
			hs[s] = NULL;
			nset[s][0] = nset[s][1] = 0;
			for (int j = 0; j < NA; j++)
				if (owner[j] == s)
					owner[j] = -1;
			break;
		}
		if (op % 5000 == 0 || op == ops - 1) {
			for (uint32_t j = 0; j < NA; j++) {
				struct dime_addr b = maddr(j);
				struct hid *h = hid_table_lookup(ht, &b);

				CHECK(h == (owner[j] >= 0 ? hs[owner[j]] : NULL));
				if (h)
					CHECK_EQ(hid_where(h, &b), where[j]);
			}
		}
	}
	printf("# hid random model: %u ops, %u adds, %u refused as taken\n", ops, adds, clashes);
	hid_table_free(ht);
}

/* The list helpers stacktrans uses on `moved`: order kept, absent refused. */
static void test_addrs_list(void)
{
	struct hid_addrs s = { 0 };
	struct dime_addr a = A("198.18.1.2"), b = A("2001:db8::2"), c = A("198.18.2.2");

	s.a[s.n++] = a;
	s.a[s.n++] = b;
	s.a[s.n++] = c;
	CHECK_EQ(hid_addrs_find(&s, &b), 1);
	CHECK(hid_addrs_drop(&s, &b));
	CHECK_EQ(s.n, 2);
	CHECK(addr_eq(&s.a[0], &a) && addr_eq(&s.a[1], &c));
	CHECK_EQ(hid_addrs_find(&s, &b), -1);
	CHECK(!hid_addrs_drop(&s, &b));
	CHECK_EQ(s.n, 2);
}

int main(void)
{
	RUN(test_create_get_remove);
	RUN(test_addresses);
	RUN(test_full_sets);
	RUN(test_move);
	RUN(test_primary);
	RUN(test_keys);
	RUN(test_handle_reuse);
	RUN(test_iterate);
	RUN(test_random_model);
	RUN(test_addrs_list);
	return check_done();
}
