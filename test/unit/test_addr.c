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

int main(void)
{
	RUN(test_parse_fmt);
	RUN(test_prefix);
	RUN(test_eq_hash);
	return check_done();
}
