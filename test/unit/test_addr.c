#include <stdbool.h>
#include <arpa/inet.h>
#include <string.h>

#include "addr.h"
#include "check.h"

static void test_parse_fmt(void)
{
	struct dime_addr a;
	char buf[ADDR_STRLEN];

	CHECK_EQ(addr_parse(&a, "198.18.1.2"), 0);
	CHECK_EQ(a.af, AF_INET);
	CHECK(strcmp(addr_fmt(&a, buf), "198.18.1.2") == 0);
	CHECK_EQ(addr_parse(&a, "2001:db8::1"), 0);
	CHECK_EQ(a.af, AF_INET6);
	CHECK(strcmp(addr_fmt(&a, buf), "2001:db8::1") == 0);
	CHECK(addr_parse(&a, "198.18.1") < 0);
	CHECK(addr_parse(&a, "") < 0);
	CHECK(addr_parse(&a, "2001:db8:::1") < 0);
}

static void test_prefix(void)
{
	struct dime_addr a, p;
	unsigned plen;

	CHECK_EQ(addr_parse_prefix(&p, &plen, "198.18.0.0/15"), 0);
	CHECK_EQ(plen, 15);
	addr_parse(&a, "198.19.255.1");
	CHECK(addr_in_prefix(&a, &p, plen));
	addr_parse(&a, "198.20.0.1");
	CHECK(!addr_in_prefix(&a, &p, plen));
	CHECK(addr_parse_prefix(&p, &plen, "198.18.0.0/33") < 0);
	CHECK(addr_parse_prefix(&p, &plen, "198.18.0.0/") < 0);
	CHECK_EQ(addr_parse_prefix(&p, &plen, "2001:db8::/32"), 0);
	addr_parse(&a, "2001:db8:ffff::1");
	CHECK(addr_in_prefix(&a, &p, plen));
	addr_parse(&a, "198.18.0.1");
	CHECK(!addr_in_prefix(&a, &p, plen));	/* family mismatch */
	addr_parse(&a, "fe80::1");
	CHECK(addr_is_linklocal(&a));
}

static void test_eq_hash(void)
{
	struct dime_addr a, b;

	addr_parse(&a, "198.18.0.1");
	addr_parse(&b, "198.18.0.1");
	CHECK(addr_eq(&a, &b));
	CHECK_EQ(addr_hash(&a, 7), addr_hash(&b, 7));
	addr_parse(&b, "::c612:1");
	CHECK(!addr_eq(&a, &b));
}

/* Which addresses may be a peer's, and which block a private one is in. */
static void test_kinds(void)
{
	static const struct { const char *a; bool unicast, loopback; } cases[] = {
		{ "198.18.0.1", true, false }, { "10.1.2.3", true, false },
		{ "0.0.0.0", false, false }, { "0.1.2.3", false, false },
		{ "127.0.0.1", false, true }, { "169.254.1.1", false, false },
		{ "224.0.0.1", false, false }, { "239.1.1.1", false, false },
		{ "240.0.0.1", false, false }, { "255.255.255.255", false, false },
		{ "2001:db8::1", true, false }, { "fd00::1", true, false },
		{ "::", false, false }, { "::1", false, true }, { "fe80::1", false, false },
		{ "ff02::1", false, false },
	};
	struct dime_addr a;
	unsigned plen;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(addr_parse(&a, cases[i].a), 0);
		CHECK_EQ(addr_is_unicast(&a), cases[i].unicast);
		CHECK_EQ(addr_is_loopback(&a), cases[i].loopback);
	}
	addr_parse(&a, "172.31.0.1");
	CHECK(addr_is_private(&a, &plen) && plen == 12);
	addr_parse(&a, "172.32.0.1");
	CHECK(!addr_is_private(&a, &plen));
	addr_parse(&a, "192.168.9.9");
	CHECK(addr_is_private(&a, &plen) && plen == 16);
	addr_parse(&a, "fc00::5");
	CHECK(addr_is_private(&a, &plen) && plen == 7);
	addr_parse(&a, "2001:db8::5");
	CHECK(!addr_is_private(&a, &plen));
}

static void test_sockaddr(void)
{
	struct dime_addr a;
	struct sockaddr_storage ss;

	CHECK(addr_parse(&a, "198.18.0.10") == 0);
	CHECK(addr_sockaddr(&a, 3463, &ss) == sizeof(struct sockaddr_in));
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	CHECK(s4->sin_family == AF_INET && ntohs(s4->sin_port) == 3463);
	CHECK(memcmp(&s4->sin_addr, a.a, 4) == 0);

	CHECK(addr_parse(&a, "2001:db8::10") == 0);
	CHECK(addr_sockaddr(&a, 0, &ss) == sizeof(struct sockaddr_in6));
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	CHECK(s6->sin6_family == AF_INET6 && s6->sin6_port == 0 && s6->sin6_scope_id == 0);
	CHECK(memcmp(&s6->sin6_addr, a.a, 16) == 0);
}

int main(void)
{
	RUN(test_parse_fmt);
	RUN(test_prefix);
	RUN(test_eq_hash);
	RUN(test_kinds);
	RUN(test_sockaddr);
	return check_done();
}
