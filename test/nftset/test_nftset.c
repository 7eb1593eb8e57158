/* test_nftset: drives nftset against "table inet dimed" in a private
 * namespace; run.sh sets the table up and checks the sets with nft. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nftset.h"
#include "../unit/check.h"

static struct nftset *ns;

static struct dime_addr A(const char *s)
{
	struct dime_addr a;

	if (addr_parse(&a, s) < 0) {
		fprintf(stderr, "bad address %s\n", s);
		exit(2);
	}
	return a;
}

static int add_flow(const char *set, const char *sa, const char *da,
		    uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct dime_addr s = A(sa), d = A(da);
	uint8_t k[NFTSET_KEY_MAX];
	size_t n = nftset_key_flow(k, &s, &d, proto, htons(sport), htons(dport));

	return nftset_add(ns, set, k, n);
}

static int del_flow(const char *set, const char *sa, const char *da,
		    uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct dime_addr s = A(sa), d = A(da);
	uint8_t k[NFTSET_KEY_MAX];
	size_t n = nftset_key_flow(k, &s, &d, proto, htons(sport), htons(dport));

	return nftset_del(ns, set, k, n);
}

static int add_addr(const char *set, const char *as)
{
	struct dime_addr a = A(as);
	uint8_t k[NFTSET_KEY_MAX];

	return nftset_add(ns, set, k, nftset_key_addr(k, &a));
}

static int del_addr(const char *set, const char *as)
{
	struct dime_addr a = A(as);
	uint8_t k[NFTSET_KEY_MAX];

	return nftset_del(ns, set, k, nftset_key_addr(k, &a));
}

static int commit(void)
{
	int r = nftset_commit(ns);

	if (r < 0)
		fprintf(stderr, "# commit: %s\n", nftset_errmsg(ns));
	return r;
}

/* The bytes `nft --debug=netlink add element` shows for the same keys. */
static void test_key_layout(void)
{
	struct dime_addr s4 = A("198.18.0.1"), d4 = A("198.19.0.2");
	struct dime_addr s6 = A("2001:db8::1"), d6 = A("2001:db8::2");
	static const uint8_t want4[20] = {
		198, 18, 0, 1, 198, 19, 0, 2, 6, 0, 0, 0,
		0x04, 0xd2, 0, 0, 0x14, 0x51, 0, 0,
	};
	uint8_t k[NFTSET_KEY_MAX];

	memset(k, 0xaa, sizeof(k));
	CHECK_EQ(nftset_key_flow(k, &s4, &d4, IPPROTO_TCP, htons(1234), htons(5201)), 20);
	CHECK(memcmp(k, want4, 20) == 0);

	memset(k, 0xaa, sizeof(k));
	CHECK_EQ(nftset_key_flow(k, &s6, &d6, IPPROTO_UDP, htons(1), htons(2)), 44);
	CHECK(memcmp(k, s6.a, 16) == 0 && memcmp(k + 16, d6.a, 16) == 0);
	CHECK(k[32] == 17 && k[33] == 0 && k[34] == 0 && k[35] == 0);
	CHECK(k[36] == 0 && k[37] == 1 && k[38] == 0 && k[39] == 0);
	CHECK(k[40] == 0 && k[41] == 2 && k[42] == 0 && k[43] == 0);

	CHECK_EQ(nftset_key_flow(k, &s4, &d6, IPPROTO_TCP, 0, 0), 0);
	CHECK_EQ(nftset_key_addr(k, &s4), 4);
	CHECK(memcmp(k, s4.a, 4) == 0);
	CHECK_EQ(nftset_key_addr(k, &d6), 16);
	CHECK(memcmp(k, d6.a, 16) == 0);
}

static void test_add(void)
{
	CHECK_EQ(nftset_commit(ns), 0);		/* empty batch */
	CHECK_EQ(add_flow("out4", "198.18.0.1", "198.19.0.2", IPPROTO_TCP, 1234, 5201), 0);
	CHECK_EQ(add_flow("out4", "198.18.0.3", "198.19.0.4", IPPROTO_UDP, 53, 65535), 0);
	CHECK_EQ(add_flow("out4", "198.19.255.254", "198.18.0.0", IPPROTO_TCP, 1, 80), 0);
	CHECK_EQ(add_flow("out6", "2001:db8::1", "2001:db8::2", IPPROTO_TCP, 1234, 5201), 0);
	CHECK_EQ(add_flow("out6", "2001:db8:ffff::1", "2001:db8::ab", IPPROTO_UDP, 443, 40000), 0);
	CHECK_EQ(add_addr("addr4", "198.18.1.1"), 0);
	CHECK_EQ(add_addr("addr4", "198.18.1.2"), 0);
	CHECK_EQ(add_addr("addr4", "198.19.255.255"), 0);
	CHECK_EQ(add_addr("addr6", "2001:db8::1:1"), 0);
	CHECK_EQ(add_addr("addr6", "2001:db8:1::2"), 0);
	/* Back to a set used before: a new message, same transaction. */
	CHECK_EQ(add_flow("out4", "198.18.0.5", "198.19.0.6", IPPROTO_SCTP, 7, 8), 0);
	/* Adding what is there already is fine. */
	CHECK_EQ(add_addr("addr4", "198.18.1.1"), 0);
	CHECK_EQ(commit(), 0);
	CHECK_EQ(nftset_err_index(ns), -1);
}

static void test_del(void)
{
	/* run.sh added these with nft: a strict delete only succeeds if
	 * our key bytes are exactly the ones nft wrote. */
	CHECK_EQ(del_flow("out4", "198.18.5.5", "198.19.5.5", IPPROTO_TCP, 1111, 2222), 0);
	CHECK_EQ(del_flow("out6", "2001:db8::5", "2001:db8::6", IPPROTO_UDP, 1111, 2222), 0);
	CHECK_EQ(del_addr("addr4", "198.18.5.5"), 0);
	CHECK_EQ(del_addr("addr6", "2001:db8::5"), 0);
	CHECK_EQ(del_flow("out4", "198.18.0.3", "198.19.0.4", IPPROTO_UDP, 53, 65535), 0);
	CHECK_EQ(del_flow("out6", "2001:db8:ffff::1", "2001:db8::ab", IPPROTO_UDP, 443, 40000), 0);
	CHECK_EQ(del_addr("addr4", "198.18.1.2"), 0);
	CHECK_EQ(nftset_flush(ns, "addr6"), 0);
	/* Add after flush in the same batch survives the flush. */
	CHECK_EQ(add_addr("addr6", "2001:db8::99"), 0);
	CHECK_EQ(commit(), 0);
}

static void test_errors(void)
{
	uint8_t k[NFTSET_KEY_MAX] = { 198, 18, 9, 9 };
	char longname[300];
	int r;

	/* Missing set: -ENOENT, named in the message, and the good calls
	 * before it in the batch are rolled back with it. */
	CHECK_EQ(add_addr("addr4", "198.18.7.7"), 0);
	CHECK_EQ(add_addr("nosuchset", "198.18.7.8"), 0);
	CHECK_EQ(add_addr("nosuchset", "198.18.7.9"), 0);
	r = nftset_commit(ns);
	CHECK_EQ(r, -ENOENT);
	CHECK_EQ(nftset_err_index(ns), 1);
	CHECK(strstr(nftset_errmsg(ns), "nosuchset") != NULL);
	CHECK(strstr(nftset_errmsg(ns), "No such file or directory") != NULL);
	printf("# missing set: %s\n", nftset_errmsg(ns));

	/* Wrong key length: refused here if impossible, by the kernel if it
	 * does not match the set, naming the element within the message. */
	CHECK_EQ(nftset_add(ns, "addr4", k, 0), -EINVAL);
	CHECK_EQ(nftset_add(ns, "addr4", k, NFTSET_KEY_MAX + 1), -EINVAL);
	CHECK_EQ(add_addr("addr4", "198.18.7.1"), 0);
	CHECK_EQ(add_addr("addr4", "198.18.7.2"), 0);
	CHECK_EQ(nftset_add(ns, "addr4", k, 3), 0);
	CHECK_EQ(add_addr("addr4", "198.18.7.3"), 0);
	r = nftset_commit(ns);
	CHECK_EQ(r, -EINVAL);
	CHECK_EQ(nftset_err_index(ns), 2);
	printf("# wrong key length: %s\n", nftset_errmsg(ns));
	CHECK_EQ(add_addr("addr4", "2001:db8::7"), 0);	/* 16 bytes into ipv4_addr */
	r = nftset_commit(ns);
	CHECK_EQ(r, -EINVAL);
	CHECK_EQ(nftset_err_index(ns), 0);

	/* Deleting an absent element fails the batch, unless tolerated. */
	CHECK_EQ(del_addr("addr4", "198.18.200.1"), 0);
	r = nftset_commit(ns);
	CHECK_EQ(r, -ENOENT);
	printf("# missing element: %s\n", nftset_errmsg(ns));

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_EQ(nftset_add(ns, longname, k, 4), -ENAMETOOLONG);
	CHECK_EQ(nftset_flush(ns, longname), -ENAMETOOLONG);

	/* Discarded calls never reach the kernel. */
	CHECK_EQ(add_addr("addr4", "198.18.66.66"), 0);
	nftset_discard(ns);
	CHECK_EQ(nftset_commit(ns), 0);
}

static void test_noent_ok(void)
{
	struct nftset *t;

	CHECK_EQ(nftset_open(&t, "dimed", NFPROTO_INET, NFTSET_F_DEL_NOENT_OK), 0);
	if (!t)
		return;
	struct nftset *save = ns;
	ns = t;
	CHECK_EQ(del_addr("addr4", "198.18.200.1"), 0);		/* absent */
	CHECK_EQ(add_addr("addr4", "198.18.200.2"), 0);
	CHECK_EQ(del_addr("addr4", "198.18.200.2"), 0);		/* present */
	CHECK_EQ(add_addr("addr4", "198.18.200.3"), 0);
	CHECK_EQ(commit(), 0);
	ns = save;
	nftset_close(t);
}

/* Many small messages: every call alternates sets, so none share one,
 * and all their acks must fit the receive buffer. */
static void test_many_msgs(void)
{
	size_t n = 0;
	int r;

	for (;;) {
		char a[32];

		snprintf(a, sizeof(a), "198.18.%zu.%zu", 100 + n / 250, n % 250 + 1);
		r = add_addr(n % 2 ? "addr4" : "many4", a);
		if (r < 0)
			break;
		n++;
	}
	CHECK_EQ(r, -ENOSPC);
	CHECK_EQ(n, NFTSET_MSG_MAX);
	CHECK_EQ(commit(), 0);
	CHECK_EQ(nftset_flush(ns, "many4"), 0);
	for (size_t i = 1; i < n; i += 2) {
		char a[32];

		snprintf(a, sizeof(a), "198.18.%zu.%zu", 100 + i / 250, i % 250 + 1);
		CHECK_EQ(del_addr("addr4", a), 0);
	}
	CHECK_EQ(commit(), 0);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* count 0: until the batch is full. */
static unsigned bulk(const char *set, int af, unsigned count)
{
	struct dime_addr s, d;
	uint8_t k[NFTSET_KEY_MAX], raw[16] = { 0 };
	double t0, t1, t2;
	unsigned i;
	int r = 0;

	t0 = now();
	for (i = 0; (!count || i < count) && r == 0; i++) {
		if (af == AF_INET) {
			raw[0] = 198; raw[1] = 18; raw[2] = (uint8_t)(i >> 8); raw[3] = (uint8_t)i;
		} else {
			raw[0] = 0x20; raw[1] = 0x01; raw[2] = 0x0d; raw[3] = 0xb8;
			raw[13] = (uint8_t)(i >> 16); raw[14] = (uint8_t)(i >> 8); raw[15] = (uint8_t)i;
		}
		addr_set(&s, af, raw);
		raw[af == AF_INET ? 1 : 4] ^= 1;
		addr_set(&d, af, raw);
		raw[af == AF_INET ? 1 : 4] ^= 1;
		r = nftset_add(ns, set, k, nftset_key_flow(k, &s, &d, IPPROTO_UDP,
				htons((uint16_t)(10000 + i % 5000)), htons(5201)));
	}
	if (!count) {
		CHECK_EQ(r, -ENOSPC);
		count = --i;
	} else {
		CHECK_EQ(r, 0);
	}
	t1 = now();
	CHECK_EQ(commit(), 0);
	t2 = now();
	printf("# %s: %u elements: queue %.1f ms, commit %.1f ms, %.0f elements/s\n",
	       set, count, (t1 - t0) * 1e3, (t2 - t1) * 1e3, count / (t2 - t0));
	return count;
}

static void test_bulk(void)
{
	bulk("bulk4", AF_INET, 10000);
	bulk("bulk6", AF_INET6, 10000);
	/* A full batch: 2 MiB of 56-byte v6 flow elements. */
	unsigned n = bulk("fill6", AF_INET6, 0);
	CHECK(n > 30000 && n < NFTSET_BATCH_MAX / 56);
}

static void test_bulk_del(void)
{
	double t0 = now();

	CHECK_EQ(nftset_flush(ns, "bulk4"), 0);
	CHECK_EQ(nftset_flush(ns, "bulk6"), 0);
	CHECK_EQ(nftset_flush(ns, "fill6"), 0);
	CHECK_EQ(commit(), 0);
	printf("# flush of three full sets: %.1f ms\n", (now() - t0) * 1e3);
}

/* Sends one UDP datagram from a fixed source port, for the match test. */
static int send_udp(const char *sa, uint16_t sport, const char *da, uint16_t dport)
{
	struct dime_addr s = A(sa), d = A(da);
	struct sockaddr_storage ss = { 0 }, ds = { 0 };
	socklen_t len;
	int fd, one = 1, r = -1;

	if (s.af == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss, *b = (struct sockaddr_in *)&ds;

		a->sin_family = b->sin_family = AF_INET;
		memcpy(&a->sin_addr, s.a, 4);
		memcpy(&b->sin_addr, d.a, 4);
		a->sin_port = htons(sport);
		b->sin_port = htons(dport);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss, *b = (struct sockaddr_in6 *)&ds;

		a->sin6_family = b->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, s.a, 16);
		memcpy(&b->sin6_addr, d.a, 16);
		a->sin6_port = htons(sport);
		b->sin6_port = htons(dport);
		len = sizeof(*a);
	}
	fd = socket(s.af, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == 0 &&
	    sendto(fd, "x", 1, 0, (struct sockaddr *)&ds, len) == 1)
		r = 0;
	close(fd);
	return r;
}

static void test_match(void)
{
	CHECK_EQ(add_flow("out4", "198.18.0.1", "198.18.0.2", IPPROTO_UDP, 40000, 5201), 0);
	CHECK_EQ(add_flow("out6", "2001:db8::1", "2001:db8::2", IPPROTO_UDP, 40000, 5201), 0);
	CHECK_EQ(commit(), 0);
	/* Two matching datagrams each; then ones that differ only in a port. */
	CHECK_EQ(send_udp("198.18.0.1", 40000, "198.18.0.2", 5201), 0);
	CHECK_EQ(send_udp("198.18.0.1", 40000, "198.18.0.2", 5201), 0);
	CHECK_EQ(send_udp("198.18.0.1", 40001, "198.18.0.2", 5201), 0);
	CHECK_EQ(send_udp("2001:db8::1", 40000, "2001:db8::2", 5201), 0);
	CHECK_EQ(send_udp("2001:db8::1", 40000, "2001:db8::2", 5201), 0);
	CHECK_EQ(send_udp("2001:db8::1", 40000, "2001:db8::2", 5202), 0);
}

static int add_map(const char *map, const char *sa, const char *da, uint8_t proto,
		   uint16_t sport, uint16_t dport, const char *to)
{
	struct dime_addr s = A(sa), d = A(da), t = A(to);
	uint8_t k[NFTSET_KEY_MAX];
	size_t n = nftset_key_flow(k, &s, &d, proto, htons(sport), htons(dport));

	return nftset_add_map(ns, map, k, n, t.a, addr_len(&t));
}

/* Map elements (the kernel datapath's fast_* maps have this shape). */
static void test_map(void)
{
	uint8_t k[NFTSET_KEY_MAX] = { 0 };

	CHECK_EQ(nftset_add_map(ns, "m4", k, 20, NULL, 4), -EINVAL);
	CHECK_EQ(nftset_add_map(ns, "m4", k, 20, k, 0), -EINVAL);
	CHECK_EQ(nftset_add_map(ns, "m4", k, 20, k, NFTSET_KEY_MAX + 1), -EINVAL);
	CHECK_EQ(add_map("m4", "198.18.0.1", "198.19.0.2", IPPROTO_TCP, 1234, 5201, "198.18.9.9"), 0);
	CHECK_EQ(add_map("m4", "198.18.0.3", "198.19.0.4", IPPROTO_UDP, 53, 5353, "198.18.9.8"), 0);
	CHECK_EQ(add_map("m6", "2001:db8::1", "2001:db8::2", IPPROTO_UDP, 443, 40000, "2001:db8:9::9"), 0);
	CHECK_EQ(commit(), 0);
	/* The same element again is no error; other data for a key that is
	 * there fails the whole batch, so an add with it does not land. */
	CHECK_EQ(add_map("m4", "198.18.0.1", "198.19.0.2", IPPROTO_TCP, 1234, 5201, "198.18.9.9"), 0);
	CHECK_EQ(commit(), 0);
	CHECK_EQ(add_map("m4", "198.18.0.5", "198.19.0.6", IPPROTO_TCP, 1, 2, "198.18.9.7"), 0);
	CHECK_EQ(add_map("m4", "198.18.0.1", "198.19.0.2", IPPROTO_TCP, 1234, 5201, "198.18.1.1"), 0);
	CHECK(nftset_commit(ns) < 0);
	CHECK_EQ(nftset_err_index(ns), 1);
	/* New data: delete and add in one batch. */
	CHECK_EQ(del_flow("m4", "198.18.0.3", "198.19.0.4", IPPROTO_UDP, 53, 5353), 0);
	CHECK_EQ(add_map("m4", "198.18.0.3", "198.19.0.4", IPPROTO_UDP, 53, 5353, "198.18.7.7"), 0);
	CHECK_EQ(commit(), 0);
}

int main(int argc, char **argv)
{
	const char *step = argc > 1 ? argv[1] : "keys";
	int r;

	if (strcmp(step, "keys") == 0) {
		RUN(test_key_layout);
		return check_done();
	}
	r = nftset_open(&ns, "dimed", NFPROTO_INET, 0);
	if (r < 0) {
		fprintf(stderr, "nftset_open: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	if (strcmp(step, "add") == 0) {
		RUN(test_add);
	} else if (strcmp(step, "del") == 0) {
		RUN(test_del);
	} else if (strcmp(step, "errors") == 0) {
		RUN(test_errors);
		RUN(test_noent_ok);
		RUN(test_many_msgs);
	} else if (strcmp(step, "bulk") == 0) {
		RUN(test_bulk);
	} else if (strcmp(step, "bulk-del") == 0) {
		RUN(test_bulk_del);
	} else if (strcmp(step, "match") == 0) {
		RUN(test_match);
	} else if (strcmp(step, "map") == 0) {
		RUN(test_map);
	} else {
		fprintf(stderr, "usage: %s keys|add|del|errors|bulk|bulk-del|match|map\n", argv[0]);
		r = 2;
	}
	nftset_close(ns);
	return r ? r : check_done();
}
