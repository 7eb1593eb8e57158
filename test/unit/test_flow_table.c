/* White box: the source is included so tests can aim keys at one chain. */
#include "src/flow_table.c"

#include <arpa/inet.h>
#include <stdio.h>
#include <time.h>

#include "check.h"

static struct flow_key key4(uint32_t l, uint16_t lp, uint32_t r, uint16_t rp, int proto)
{
	struct flow_key k;
	uint32_t la = htonl(l), ra = htonl(r);

	flow_key_init(&k, AF_INET, proto, &la, htons(lp), &ra, htons(rp));
	return k;
}

static struct flow_key key6(uint32_t n, uint16_t lp, uint16_t rp)
{
	struct flow_key k;
	uint8_t la[16] = { 0x20, 0x01, 0x0d, 0xb8 }, ra[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1 };

	memcpy(&la[12], &n, 4);
	memcpy(&ra[12], &n, 4);
	flow_key_init(&k, AF_INET6, IPPROTO_TCP, la, htons(lp), ra, htons(rp));
	return k;
}

static struct dime_addr a4(uint32_t x)
{
	struct dime_addr a;
	uint32_t n = htonl(x);

	addr_set(&a, AF_INET, &n);
	return a;
}

/* The key as the wire carries it: same ports, locators for addresses. */
static struct flow_key lockey(const struct flow_key *k, const struct dime_addr *l,
    const struct dime_addr *r)
{
	struct flow_key lk;

	flow_key_init(&lk, k->af, k->proto, l->a, k->lport, r->a, k->rport);
	return lk;
}

static void test_basic(void)
{
	struct flow_table *ft = flow_table_new(100, 1);
	struct flow_key k1 = key4(0xc6120001, 1000, 0xc6130001, 80, IPPROTO_TCP);
	struct flow_key k2 = key6(7, 2000, 443), k3 = k1;
	struct flow *f1, *f2, *f;

	CHECK(ft != NULL);
	CHECK(flow_table_new(0, 1) == NULL);
	CHECK_EQ(flow_table_insert(ft, &k1, 5, 100, &f1), 0);
	CHECK_EQ(flow_table_insert(ft, &k1, 6, 100, &f), -EEXIST);
	CHECK_EQ(flow_table_insert(ft, &k2, 5, 101, &f2), 0);
	CHECK_EQ(flow_table_count(ft), 2);
	CHECK(flow_table_lookup(ft, &k1) == f1);
	CHECK(flow_table_lookup(ft, &k2) == f2);
	CHECK_EQ(f1->hid, 5);
	CHECK_EQ(f1->last_seen, 100);
	CHECK_EQ(f1->state, 0);
	CHECK(!flow_is_translated(f1));
	CHECK(memcmp(f1->lloc, k1.laddr, 16) == 0 && memcmp(f1->rloc, k1.raddr, 16) == 0);
	/* any field differs: a different flow */
	k3.rport = htons(81);
	CHECK(flow_table_lookup(ft, &k3) == NULL);
	k3 = k1;
	k3.proto = IPPROTO_UDP;
	CHECK(flow_table_lookup(ft, &k3) == NULL);
	CHECK(flow_table_lookup_loc(ft, &k1) == NULL);	/* untranslated: not indexed */
	k3 = k1;
	k3.af = 0;
	CHECK_EQ(flow_table_insert(ft, &k3, 5, 100, &f), -EINVAL);
	CHECK_EQ(flow_table_count_hid(ft, 5), 2);
	CHECK_EQ(flow_table_count_hid(ft, 6), 0);

	flow_table_remove(ft, f1);
	CHECK(flow_table_lookup(ft, &k1) == NULL);
	CHECK(flow_table_lookup(ft, &k2) == f2);
	CHECK_EQ(flow_table_count(ft), 1);
	CHECK_EQ(flow_table_count_hid(ft, 5), 1);
	/* the slot is reused */
	CHECK_EQ(flow_table_insert(ft, &k1, 9, 102, &f), 0);
	CHECK(f == f1);
	CHECK_EQ(f->hid, 9);
	flow_table_remove(ft, f2);
	flow_table_remove(ft, f);
	CHECK_EQ(flow_table_count(ft), 0);
	CHECK(flow_table_hid_first(ft, 5) == NULL);
	flow_table_free(ft);
	flow_table_free(NULL);
}

static void test_locators(void)
{
	struct flow_table *ft = flow_table_new(100, 2);
	struct flow_key k1 = key4(0xc6120001, 1000, 0xc6130001, 80, IPPROTO_TCP);
	struct flow_key k2 = key4(0xc6120001, 1001, 0xc6130001, 80, IPPROTO_TCP);
	struct dime_addr l2 = a4(0xc6120102), r2 = a4(0xc6130102), l3 = a4(0xc6120103);
	struct dime_addr id_l = a4(0xc6120001), id_r = a4(0xc6130001), v6;
	struct flow_key lk;
	struct flow *f1, *f2;

	addr_parse(&v6, "2001:db8::1");
	flow_table_insert(ft, &k1, 1, 0, &f1);
	flow_table_insert(ft, &k2, 1, 0, &f2);

	CHECK_EQ(flow_table_set_locators(ft, f1, &l2, &id_r), 0);
	CHECK(flow_is_translated(f1));
	CHECK_EQ(flow_table_count_translated(ft), 1);
	lk = lockey(&k1, &l2, &id_r);
	CHECK(flow_table_lookup_loc(ft, &lk) == f1);
	CHECK(flow_table_lookup(ft, &k1) == f1);	/* still found by identifiers */
	CHECK(flow_table_lookup(ft, &lk) == NULL);
	CHECK(memcmp(f1->lloc, l2.a, 16) == 0);
	/* the same again: no change */
	CHECK_EQ(flow_table_set_locators(ft, f1, &l2, &id_r), 0);
	CHECK_EQ(flow_table_count_translated(ft), 1);

	/* re-indexing: the old locator key goes away */
	CHECK_EQ(flow_table_set_locators(ft, f1, &l3, &r2), 0);
	CHECK(flow_table_lookup_loc(ft, &lk) == NULL);
	lk = lockey(&k1, &l3, &r2);
	CHECK(flow_table_lookup_loc(ft, &lk) == f1);
	CHECK_EQ(flow_table_count_translated(ft), 1);

	/* the same ports on the same locators: ambiguous inbound, refused */
	struct flow_key k1b = key4(0xc6120009, 1000, 0xc6130009, 80, IPPROTO_TCP);
	struct flow *f3;
	flow_table_insert(ft, &k1b, 2, 0, &f3);
	CHECK_EQ(flow_table_set_locators(ft, f3, &l3, &r2), -EEXIST);
	CHECK(!flow_is_translated(f3));
	/* ports differ: no conflict */
	CHECK_EQ(flow_table_set_locators(ft, f2, &l3, &r2), 0);
	CHECK_EQ(flow_table_count_translated(ft), 2);

	/* wrong family */
	CHECK_EQ(flow_table_set_locators(ft, f2, &v6, &r2), -EINVAL);
	CHECK(flow_is_translated(f2));

	/* locators equal to the identifiers: untranslated */
	CHECK_EQ(flow_table_set_locators(ft, f1, &id_l, &id_r), 0);
	CHECK(!flow_is_translated(f1));
	CHECK(flow_table_lookup_loc(ft, &lk) == NULL);
	CHECK_EQ(flow_table_count_translated(ft), 1);
	/* now f3 may take them */
	CHECK_EQ(flow_table_set_locators(ft, f3, &l3, &r2), 0);
	CHECK(flow_table_lookup_loc(ft, &lk) == f3);

	flow_table_clear_locators(ft, f2);
	CHECK(!flow_is_translated(f2));
	CHECK(memcmp(f2->lloc, k2.laddr, 16) == 0);
	flow_table_clear_locators(ft, f2);	/* twice is fine */
	CHECK_EQ(flow_table_count_translated(ft), 1);

	/* removing a translated flow drops it from both indices */
	flow_table_remove(ft, f3);
	CHECK(flow_table_lookup_loc(ft, &lk) == NULL);
	CHECK(flow_table_lookup(ft, &k1b) == NULL);
	CHECK_EQ(flow_table_count_translated(ft), 0);

	/* IPv6 */
	struct flow_key k6 = key6(1, 5, 6);
	struct dime_addr l6, r6;
	struct flow *f6;
	addr_parse(&l6, "2001:db8:2::1");
	addr_parse(&r6, "2001:db8:3::1");
	flow_table_insert(ft, &k6, 3, 0, &f6);
	CHECK_EQ(flow_table_set_locators(ft, f6, &l6, &r6), 0);
	lk = lockey(&k6, &l6, &r6);
	CHECK(flow_table_lookup_loc(ft, &lk) == f6);
	flow_table_free(ft);
}

struct cbstat {
	int calls;
	int removed_hids[16];
	bool veto;
};

static bool count_cb(struct flow *f, void *arg)
{
	struct cbstat *s = arg;

	if (s->calls < 16)
		s->removed_hids[s->calls] = (int)f->hid;
	s->calls++;
	return !s->veto;
}

static void test_full(void)
{
	struct flow_table *ft = flow_table_new(4, 3);
	struct flow_timeouts t;
	struct cbstat st = { 0 };
	struct flow *f[4], *g;
	struct flow_key k;

	flow_timeouts_default(&t);
	for (int i = 0; i < 4; i++) {
		k = key4(0xc6120001, (uint16_t)(100 + i), 0xc6130001, 53, IPPROTO_UDP);
		CHECK_EQ(flow_table_insert(ft, &k, (uint32_t)i, 1000, &f[i]), 0);
	}
	k = key4(0xc6120001, 200, 0xc6130001, 53, IPPROTO_UDP);
	CHECK_EQ(flow_table_insert(ft, &k, 9, 1000, &g), -ENOSPC);
	/* an existing key is still reported as such when full */
	struct flow_key k0 = f[0]->key;
	CHECK_EQ(flow_table_insert(ft, &k0, 9, 1000, &g), -EEXIST);

	/* nothing idle: refused; the caller lets the packet pass untranslated */
	CHECK_EQ(flow_table_reclaim(ft, 1100, &t, count_cb, &st), -ENOSPC);
	CHECK_EQ(st.calls, 0);
	CHECK_EQ(flow_table_count(ft), 4);

	/* f[1] idle past the UDP timeout, f[0] translated and idle too,
	 * f[2] translated and fresh */
	struct dime_addr l = a4(0xc6120002), r = a4(0xc6130001);
	flow_table_set_locators(ft, f[0], &l, &r);
	k = f[2]->key;
	k.lport = htons(300);
	flow_table_set_locators(ft, f[2], &l, &r);
	f[0]->last_seen = 1000;
	f[1]->last_seen = 1000;
	f[2]->last_seen = 1150;
	f[3]->last_seen = 1150;
	/* once per second: the second call in the same second does no pass */
	CHECK_EQ(flow_table_reclaim(ft, 1100, &t, count_cb, &st), -ENOSPC);
	CHECK_EQ(st.calls, 0);
	CHECK_EQ(flow_table_reclaim(ft, 1181, &t, count_cb, &st), 0);
	CHECK_EQ(st.calls, 2);
	CHECK_EQ(flow_table_count(ft), 2);
	CHECK(flow_table_lookup(ft, &f[2]->key) == f[2]);
	CHECK_EQ(flow_table_count_translated(ft), 1);
	CHECK_EQ(flow_table_insert(ft, &k, 9, 1181, &g), 0);
	/* room left: reclaim does nothing */
	CHECK_EQ(flow_table_reclaim(ft, 1182, &t, count_cb, &st), 0);
	CHECK_EQ(st.calls, 2);

	/* the callback may veto: then nothing is freed */
	flow_table_free(ft);
	ft = flow_table_new(1, 3);
	k = key4(1, 1, 2, 2, IPPROTO_UDP);
	flow_table_insert(ft, &k, 1, 0, &g);
	st.calls = 0;
	st.veto = true;
	CHECK_EQ(flow_table_reclaim(ft, 1000, &t, count_cb, &st), -ENOSPC);
	CHECK_EQ(st.calls, 1);
	CHECK_EQ(flow_table_count(ft), 1);
	/* and without a callback the idle flow simply goes */
	CHECK_EQ(flow_table_reclaim(ft, 1001, &t, NULL, NULL), 0);
	CHECK_EQ(flow_table_count(ft), 0);
	flow_table_free(ft);
}

static void test_expire(void)
{
	struct flow_table *ft = flow_table_new(64, 4);
	struct flow_timeouts t;
	struct cbstat st = { 0 };
	struct flow *est, *half, *clos, *rst, *udp, *icmp, *gre, *fut;
	struct flow_key k;

	flow_timeouts_default(&t);
	CHECK_EQ(t.tcp_est, 7200);
	CHECK_EQ(t.tcp_closing, 60);
	CHECK_EQ(t.udp, 180);
	k = key4(1, 1, 2, 2, IPPROTO_TCP);
	flow_table_insert(ft, &k, 1, 0, &est);
	CHECK_EQ(flow_timeout(&t, est), 120);	/* no socket owns it (yet) */
	est->flags |= FLOW_F_CONFIRMED;
	k.lport = 2;
	flow_table_insert(ft, &k, 2, 0, &half);
	half->state = FLOW_S_FIN_IN;
	k.lport = 3;
	flow_table_insert(ft, &k, 3, 0, &clos);
	clos->state = FLOW_S_FIN_IN | FLOW_S_FIN_OUT;
	k.lport = 4;
	flow_table_insert(ft, &k, 4, 0, &rst);
	rst->state = FLOW_S_RST;
	k.proto = IPPROTO_UDP;
	flow_table_insert(ft, &k, 5, 0, &udp);
	k.proto = IPPROTO_ICMP;
	flow_table_insert(ft, &k, 6, 0, &icmp);
	k.proto = 47;
	flow_table_insert(ft, &k, 7, 0, &gre);
	k.proto = IPPROTO_UDP;
	k.lport = 5;
	flow_table_insert(ft, &k, 8, 10000, &fut);	/* clock stepped back */

	CHECK_EQ(flow_timeout(&t, est), 7200);
	CHECK_EQ(flow_timeout(&t, half), 300);
	CHECK_EQ(flow_timeout(&t, clos), 60);
	CHECK_EQ(flow_timeout(&t, rst), 60);
	CHECK_EQ(flow_timeout(&t, udp), 180);
	CHECK_EQ(flow_timeout(&t, icmp), 30);
	CHECK_EQ(flow_timeout(&t, gre), 600);

	CHECK_EQ(flow_table_expire(ft, 30, &t, 0, count_cb, &st), 0);	/* not past: > only */
	CHECK_EQ(flow_table_expire(ft, 31, &t, 0, count_cb, &st), 1);
	CHECK_EQ(st.removed_hids[0], 6);
	CHECK_EQ(flow_table_expire(ft, 61, &t, 0, count_cb, &st), 2);
	CHECK_EQ(flow_table_count(ft), 5);
	/* veto: kept and refreshed by the callback's owner */
	st.veto = true;
	CHECK_EQ(flow_table_expire(ft, 181, &t, 0, count_cb, &st), 0);
	CHECK_EQ(st.calls, 4);
	CHECK(flow_table_lookup(ft, &udp->key) == udp);
	st.veto = false;
	CHECK_EQ(flow_table_expire(ft, 181, &t, 0, count_cb, &st), 1);
	CHECK_EQ(flow_table_expire(ft, 601, &t, 0, NULL, NULL), 2);	/* half, gre */
	CHECK_EQ(flow_table_count(ft), 2);
	CHECK(flow_table_lookup(ft, &est->key) == est);
	CHECK(flow_table_lookup(ft, &fut->key) == fut);
	CHECK_EQ(flow_table_expire(ft, 7201, &t, 0, NULL, NULL), 1);
	CHECK(flow_table_lookup(ft, &fut->key) == fut);
	flow_table_free(ft);

	/* a small budget covers every slot over successive calls */
	ft = flow_table_new(1000, 4);
	for (uint32_t i = 0; i < 1000; i++) {
		k = key4(1, (uint16_t)i, 2, 2, IPPROTO_UDP);
		flow_table_insert(ft, &k, i % 7, 0, NULL);
	}
	uint32_t total = 0;
	for (int i = 0; i < 9; i++)
		total += flow_table_expire(ft, 1000, &t, 100, NULL, NULL);
	CHECK_EQ(total, 900);
	total += flow_table_expire(ft, 1000, &t, 100, NULL, NULL);
	CHECK_EQ(total, 1000);
	CHECK_EQ(flow_table_count(ft), 0);
	CHECK_EQ(flow_table_count_hid(ft, 3), 0);
	flow_table_free(ft);
}

static void test_hid_iter(void)
{
	struct flow_table *ft = flow_table_new(100000, 5);
	struct flow_key k;
	struct flow *f, *n;
	uint32_t cnt;

	/* 3 HIDs, 10000 + 100 + 1 flows, interleaved */
	for (uint32_t i = 0; i < 10101; i++) {
		uint32_t hid = i < 10000 ? 100 : i < 10100 ? 200 : 300;
		k = key4(0x0a000000 + i, 1, 0x0b000000, 2, IPPROTO_TCP);
		CHECK_EQ(flow_table_insert(ft, &k, hid, i, NULL), 0);
	}
	CHECK_EQ(flow_table_count_hid(ft, 100), 10000);
	CHECK_EQ(flow_table_count_hid(ft, 200), 100);
	CHECK_EQ(flow_table_count_hid(ft, 300), 1);
	cnt = 0;
	for (f = flow_table_hid_first(ft, 200); f; f = flow_table_hid_next(ft, f)) {
		CHECK_EQ(f->hid, 200);
		cnt++;
	}
	CHECK_EQ(cnt, 100);

	/* remove every other flow of HID 100 while walking it */
	cnt = 0;
	bool odd = false;
	for (f = flow_table_hid_first(ft, 100); f; f = n) {
		n = flow_table_hid_next(ft, f);
		if (odd)
			flow_table_remove(ft, f);
		odd = !odd;
		cnt++;
	}
	CHECK_EQ(cnt, 10000);
	CHECK_EQ(flow_table_count_hid(ft, 100), 5000);
	cnt = 0;
	for (f = flow_table_hid_first(ft, 100); f; f = flow_table_hid_next(ft, f))
		cnt++;
	CHECK_EQ(cnt, 5000);

	/* move HID 300's flow to HID 200; HID 300 disappears */
	f = flow_table_hid_first(ft, 300);
	CHECK_EQ(flow_table_set_hid(ft, f, 200), 0);
	CHECK_EQ(f->hid, 200);
	CHECK_EQ(flow_table_count_hid(ft, 300), 0);
	CHECK(flow_table_hid_first(ft, 300) == NULL);
	CHECK_EQ(flow_table_count_hid(ft, 200), 101);
	CHECK(flow_table_hid_first(ft, 200) == f);
	CHECK_EQ(flow_table_set_hid(ft, f, 200), 0);
	CHECK(flow_table_lookup(ft, &f->key) == f);

	/* remove a whole HID */
	for (f = flow_table_hid_first(ft, 100); f; f = n) {
		n = flow_table_hid_next(ft, f);
		flow_table_remove(ft, f);
	}
	CHECK_EQ(flow_table_count_hid(ft, 100), 0);
	CHECK_EQ(flow_table_count(ft), 101);
	flow_table_free(ft);
}

static void test_iter_remove(void)
{
	struct flow_table *ft = flow_table_new(5000, 6);
	struct flow_key k;
	struct flow *f;
	uint32_t cur = 0, seen = 0;

	for (uint32_t i = 0; i < 5000; i++) {
		k = key4(0x0a000000 + i, 1, 0x0b000000, 2, IPPROTO_UDP);
		flow_table_insert(ft, &k, i % 10, 0, NULL);
	}
	/* remove HIDs 0..4 during a full walk */
	while ((f = flow_table_next(ft, &cur))) {
		seen++;
		if (f->hid < 5)
			flow_table_remove(ft, f);
	}
	CHECK_EQ(seen, 5000);
	CHECK_EQ(flow_table_count(ft), 2500);
	cur = seen = 0;
	while ((f = flow_table_next(ft, &cur))) {
		CHECK(f->hid >= 5);
		seen++;
	}
	CHECK_EQ(seen, 2500);

	/* mark and sweep: everything not re-marked goes */
	cur = 0;
	while ((f = flow_table_next(ft, &cur)))
		if (f->hid == 7)
			f->mark = 1;
	CHECK_EQ(flow_table_sweep(ft, 1, NULL, NULL), 2000);
	CHECK_EQ(flow_table_count(ft), 500);
	CHECK_EQ(flow_table_count_hid(ft, 7), 500);
	flow_table_free(ft);
}

/* Keys aimed at one bucket with a known seed: long chains still work. */
static void test_collisions(void)
{
	enum { N = 24 };
	struct flow_table *ft = flow_table_new(1024, 42), *ft2;
	struct flow_key keys[N], k;
	struct flow *f[N];
	uint32_t want, n = 0;

	CHECK_EQ(ft->id_mask, 1023);
	want = 0;
	for (uint32_t i = 0; n < N && i < 10000000; i++) {
		k = key4(0x0a000000 + i, 1, 0x0b000000, 2, IPPROTO_TCP);
		if ((id_hash(ft, &k) & ft->id_mask) == want)
			keys[n++] = k;
	}
	CHECK_EQ(n, N);
	for (int i = 0; i < N; i++)
		CHECK_EQ(flow_table_insert(ft, &keys[i], 1, 0, &f[i]), 0);
	for (int i = 0; i < N; i++)
		CHECK(flow_table_lookup(ft, &keys[i]) == f[i]);
	uint32_t len = 0;
	for (uint32_t i = ft->id_bkt[want]; i != NIL; i = slot(ft, i)->id_next)
		len++;
	CHECK_EQ(len, N);
	/* remove from the middle, the head (last inserted) and the tail */
	flow_table_remove(ft, f[N / 2]);
	flow_table_remove(ft, f[N - 1]);
	flow_table_remove(ft, f[0]);
	for (int i = 1; i < N - 1; i++)
		if (i != N / 2)
			CHECK(flow_table_lookup(ft, &keys[i]) == f[i]);
	CHECK(flow_table_lookup(ft, &keys[0]) == NULL);
	CHECK(flow_table_lookup(ft, &keys[N / 2]) == NULL);

	/* another seed spreads the same keys */
	ft2 = flow_table_new(1024, 43);
	uint32_t same = 0;
	for (int i = 0; i < N; i++)
		same += (id_hash(ft2, &keys[i]) & ft2->id_mask) == want;
	CHECK(same < N / 2);
	flow_table_free(ft2);

	/* locators aimed at one bucket too */
	struct dime_addr r = a4(0x0c000000);
	struct flow_key lk;
	struct flow *g[N];
	n = 0;
	for (uint32_t i = 0; n < N && i < 10000000; i++) {
		struct dime_addr l = a4(0x0d000000 + i);

		lk = lockey(&keys[1], &l, &r);
		if ((id_hash(ft, &lk) & ft->loc_mask) != 7)
			continue;
		k = key4(0x0e000000 + n, 1, 0x0b000000, 2, IPPROTO_TCP);
		flow_table_insert(ft, &k, 2, 0, &g[n]);
		CHECK_EQ(flow_table_set_locators(ft, g[n], &l, &r), 0);
		n++;
	}
	CHECK_EQ(n, N);
	len = 0;
	for (uint32_t i = ft->loc_bkt[7]; i != NIL; i = slot(ft, i)->loc_next)
		len++;
	CHECK_EQ(len, N);
	for (int i = 0; i < N; i += 3)
		flow_table_clear_locators(ft, g[i]);
	for (int i = 0; i < N; i++) {
		lk = lockey(&keys[1], &(struct dime_addr){ 0 }, &r);
		memcpy(lk.laddr, g[i]->lloc, 16);
		if (i % 3 == 0)
			CHECK(!flow_is_translated(g[i]));
		else
			CHECK(flow_table_lookup_loc(ft, &lk) == g[i]);
	}
	CHECK_EQ(flow_table_count_translated(ft), N - N / 3);
	flow_table_free(ft);
}

/* Random operations against a plain array model. */
enum { MK = 600, ML = 40, MH = 13, MMAX = 310 };
struct model {
	bool present;
	uint32_t hid;
	int loc;		/* -1: untranslated, else index into locators */
	struct flow *f;
};

static uint64_t rng = 0x1234567887654321ull;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static struct flow_key mkey(int i)
{
	/* few ports and addresses, so locator keys of different flows meet */
	return key4(0x0a000000 + (uint32_t)(i % 50), (uint16_t)(i / 50), 0x0b000000, 2, IPPROTO_UDP);
}

static struct dime_addr mloc(int j)
{
	return a4(0x0a000000 + (uint32_t)(j < 20 ? 100 + j : j - 20));	/* some equal identifiers */
}

static void model_verify(struct flow_table *ft, struct model *m)
{
	uint32_t count = 0, ntrans = 0, perhid[MH] = { 0 };

	for (int i = 0; i < MK; i++) {
		struct flow_key k = mkey(i);
		struct flow *f = flow_table_lookup(ft, &k);

		CHECK(f == (m[i].present ? m[i].f : NULL));
		if (!m[i].present || !f)
			continue;
		count++;
		perhid[m[i].hid]++;
		CHECK_EQ(f->hid, m[i].hid);
		CHECK_EQ(flow_is_translated(f), m[i].loc >= 0);
		if (m[i].loc >= 0) {
			struct dime_addr l = mloc(m[i].loc), r = a4(0x0b000000);
			struct flow_key lk = lockey(&k, &l, &r);

			ntrans++;
			CHECK(flow_table_lookup_loc(ft, &lk) == f);
		}
	}
	CHECK_EQ(flow_table_count(ft), count);
	CHECK_EQ(flow_table_count_translated(ft), ntrans);
	for (uint32_t h = 0; h < MH; h++) {
		uint32_t n = 0;

		CHECK_EQ(flow_table_count_hid(ft, h), perhid[h]);
		for (struct flow *f = flow_table_hid_first(ft, h); f; f = flow_table_hid_next(ft, f)) {
			CHECK_EQ(f->hid, h);
			n++;
		}
		CHECK_EQ(n, perhid[h]);
	}
}

static int model_loc_owner(struct model *m, int i, int loc)
{
	for (int j = 0; j < MK; j++)
		if (j != i && m[j].present && m[j].loc == loc && j / 50 == i / 50)
			return j;
	return -1;
}

static void test_random_model(void)
{
	static struct model m[MK];
	struct flow_table *ft = flow_table_new(MMAX, 7);
	uint32_t count = 0, ops = 60000, nfull = 0, nconflict = 0, failed_before = (uint32_t)check_failures;

	memset(m, 0, sizeof(m));
	for (uint32_t op = 0; op < ops && (uint32_t)check_failures == failed_before; op++) {
		int i = (int)rnd(MK);
		struct flow_key k = mkey(i);
		struct flow *f;
		int r;

		switch (rnd(8)) {
		case 0:
		case 1: {
			uint32_t hid = rnd(MH);

			r = flow_table_insert(ft, &k, hid, op, &f);
			if (m[i].present)
				CHECK_EQ(r, -EEXIST);
			else if (count == MMAX) {
				CHECK_EQ(r, -ENOSPC);
				nfull++;
			}
			else {
				CHECK_EQ(r, 0);
				m[i] = (struct model){ true, hid, -1, f };
				count++;
			}
			break;
		}
		case 2:
		case 3:
			if (!m[i].present)
				break;
			flow_table_remove(ft, m[i].f);
			m[i].present = false;
			count--;
			break;
		case 4:
		case 5: {
			int j = (int)rnd(ML);
			struct dime_addr l = mloc(j), rr = a4(0x0b000000);
			/* the model's notion: loc j equal to the identifier? */
			bool ident = memcmp(l.a, k.laddr, 4) == 0;

			if (!m[i].present)
				break;
			r = flow_table_set_locators(ft, m[i].f, &l, &rr);
			if (ident) {
				CHECK_EQ(r, 0);
				m[i].loc = -1;
			} else if (model_loc_owner(m, i, j) >= 0 && m[i].loc != j) {
				CHECK_EQ(r, -EEXIST);
				nconflict++;
			} else {
				CHECK_EQ(r, 0);
				m[i].loc = j;
			}
			break;
		}
		case 6:
			if (!m[i].present)
				break;
			if (rnd(2)) {
				flow_table_clear_locators(ft, m[i].f);
				m[i].loc = -1;
			} else {
				uint32_t hid = rnd(MH);

				CHECK_EQ(flow_table_set_hid(ft, m[i].f, hid), 0);
				m[i].hid = hid;
			}
			break;
		case 7:
			if (rnd(50) == 0)
				model_verify(ft, m);
			break;
		}
	}
	model_verify(ft, m);
	printf("# random model: %u ops, %u refused as full, %u locator conflicts, %u flows at the end\n",
	    ops, nfull, nconflict, count);
	CHECK(nfull > 0 && nconflict > 0);
	flow_table_free(ft);
}

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct flow_key bigkey(uint32_t i)
{
	return key4(0x0a000000 + (i >> 12), (uint16_t)(i & 0xfff), 0x0b000000 + (i % 97), 443,
	    IPPROTO_TCP);
}

/* 1,000,000 flows: the memory budget is asserted, the speed only printed. */
static void test_million(void)
{
	enum { N = 1000000 };
	struct flow_table *ft = flow_table_new(N, 0x5eed);
	struct dime_addr r = a4(0xc6130001);
	struct flow *f;
	double t0, t1;
	uint32_t miss = 0;

	/* worst case: every flow translated, every flow its own HID */
	t0 = secs();
	for (uint32_t i = 0; i < N; i++) {
		struct flow_key k = bigkey(i);
		struct dime_addr l = a4(0xc6120000 + (i >> 12));

		if (flow_table_insert(ft, &k, i + 1, 0, &f) < 0 ||
		    flow_table_set_locators(ft, f, &l, &r) < 0)
			miss++;
	}
	t1 = secs();
	CHECK_EQ(miss, 0);
	CHECK_EQ(flow_table_count(ft), N);
	CHECK_EQ(flow_table_count_translated(ft), N);
	double per = (double)flow_table_memory(ft) / N;
	printf("# 1M flows, all translated, 1M HIDs: %zu bytes, %.1f bytes/flow, "
	    "insert+translate %.0f/s\n", flow_table_memory(ft), per, N / (t1 - t0));
	CHECK(per <= 128.0);

	t0 = secs();
	for (uint32_t i = 0; i < N; i++) {
		uint32_t j = (i * 2654435761u) % N;	/* scattered */
		struct flow_key k = bigkey(j);

		f = flow_table_lookup(ft, &k);
		miss += !f;
	}
	t1 = secs();
	printf("# lookup by identifiers: %.0f/s\n", N / (t1 - t0));
	t0 = secs();
	for (uint32_t i = 0; i < N; i++) {
		uint32_t j = (i * 2654435761u) % N;
		struct flow_key k = bigkey(j);
		struct dime_addr l = a4(0xc6120000 + (j >> 12));
		struct flow_key lk = lockey(&k, &l, &r);

		f = flow_table_lookup_loc(ft, &lk);
		miss += !f;
	}
	t1 = secs();
	printf("# lookup by locators: %.0f/s\n", N / (t1 - t0));
	CHECK_EQ(miss, 0);

	/* removal is O(1) too */
	t0 = secs();
	for (uint32_t i = 0; i < N; i += 2) {
		struct flow_key k = bigkey(i);

		flow_table_remove(ft, flow_table_lookup(ft, &k));
	}
	t1 = secs();
	printf("# lookup+remove: %.0f/s\n", (N / 2) / (t1 - t0));
	CHECK_EQ(flow_table_count(ft), N / 2);
	flow_table_free(ft);

	/* the common shape: 100 flows per HID, untranslated */
	ft = flow_table_new(N, 0x5eed);
	for (uint32_t i = 0; i < N; i++) {
		struct flow_key k = bigkey(i);

		miss += flow_table_insert(ft, &k, i / 100, 0, NULL) < 0;
	}
	CHECK_EQ(miss, 0);
	per = (double)flow_table_memory(ft) / N;
	printf("# 1M flows, untranslated, 10k HIDs: %.1f bytes/flow\n", per);
	CHECK(per <= 128.0);
	flow_table_free(ft);
}

int main(void)
{
	RUN(test_basic);
	RUN(test_locators);
	RUN(test_full);
	RUN(test_expire);
	RUN(test_hid_iter);
	RUN(test_iter_remove);
	RUN(test_collisions);
	RUN(test_random_model);
	RUN(test_million);
	return check_done();
}
