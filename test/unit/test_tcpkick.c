/* tcpkick: the ICMP errors that restart a backed-off TCP sender, and the
 * peer's ACK that restarts one on its persist timer (both put into our own
 * stack, so both travel from the peer's identifier to ours). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "csum.h"
#include "tcpkick.h"

static struct dime_addr a4(const char *s)
{
	struct dime_addr a = { 0 };
	a.af = AF_INET;
	inet_pton(AF_INET, s, a.a);
	return a;
}

static struct dime_addr a6(const char *s)
{
	struct dime_addr a = { 0 };
	a.af = AF_INET6;
	inet_pton(AF_INET6, s, a.a);
	return a;
}

static void test_v4(void)
{
	uint8_t b[TCPKICK_MAX_LEN];
	struct dime_addr lid = a4("198.18.1.2"), rid = a4("198.18.0.10");
	size_t n = tcpkick_build(b, sizeof(b), &lid, htons(40000), &rid, htons(5201), 0x89abcdefu);

	CHECK(n == 20 + 8 + 20 + 8);
	CHECK(b[0] == 0x45 && b[9] == IPPROTO_ICMP && csum_get(b + 2) == n);
	CHECK(!memcmp(b + 12, rid.a, 4) && !memcmp(b + 16, lid.a, 4));	/* from the path, to us */
	CHECK(csum_fold(csum_add(0, b, 20)) == 0xffff);			/* header checksum */
	const uint8_t *ic = b + 20;
	CHECK(ic[0] == 3 && ic[1] == 1);				/* host unreachable */
	CHECK(csum_fold(csum_add(0, ic, n - 20)) == 0xffff);		/* ICMP checksum */
	const uint8_t *q = ic + 8;					/* the quoted segment */
	CHECK(q[0] == 0x45 && q[9] == IPPROTO_TCP);
	CHECK(!memcmp(q + 12, lid.a, 4) && !memcmp(q + 16, rid.a, 4));
	CHECK(csum_fold(csum_add(0, q, 20)) == 0xffff);
	CHECK(q[20] == 0x9c && q[21] == 0x40 && q[22] == 0x14 && q[23] == 0x51);	/* ports */
	CHECK(q[24] == 0x89 && q[25] == 0xab && q[26] == 0xcd && q[27] == 0xef);	/* seq */
}

static void test_v6(void)
{
	uint8_t b[TCPKICK_MAX_LEN];
	struct dime_addr lid = a6("2001:db8:1::2"), rid = a6("2001:db8::10");
	size_t n = tcpkick_build(b, sizeof(b), &lid, htons(40000), &rid, htons(5201), 7);

	CHECK(n == 40 + 8 + 40 + 8);
	CHECK(b[0] == 0x60 && b[6] == IPPROTO_ICMPV6 && csum_get(b + 4) == n - 40);
	CHECK(!memcmp(b + 8, rid.a, 16) && !memcmp(b + 24, lid.a, 16));
	const uint8_t *ic = b + 40;
	CHECK(ic[0] == 1 && ic[1] == 0);				/* no route */
	uint32_t s = csum_pseudo6(rid.a, lid.a, IPPROTO_ICMPV6, (uint32_t)(n - 40));
	CHECK(csum_fold(csum_add(s, ic, n - 40)) == 0xffff);		/* with the pseudo-header */
	const uint8_t *q = ic + 8;
	CHECK(q[0] == 0x60 && q[6] == IPPROTO_TCP);
	CHECK(!memcmp(q + 8, lid.a, 16) && !memcmp(q + 24, rid.a, 16));
	CHECK(q[44] == 0 && q[45] == 0 && q[46] == 0 && q[47] == 7);
}

/* The ACK's TCP header, from the peer: its port, ours, seq = our rcv_nxt,
 * ack = our snd_una, ACK only, no options, the window, a checksum over the
 * pseudo-header (peer -> us). */
static void check_ack_tcp(const uint8_t *t, uint32_t pseudo)
{
	CHECK(t[0] == 0x14 && t[1] == 0x51 && t[2] == 0x9c && t[3] == 0x40);	/* 5201 -> 40000 */
	CHECK(t[4] == 0x12 && t[5] == 0x34 && t[6] == 0x56 && t[7] == 0x78);	/* rcv_nxt */
	CHECK(t[8] == 0xff && t[9] == 0xff && t[10] == 0xff && t[11] == 0xff);	/* snd_una */
	CHECK(t[12] == 0x50 && t[13] == 0x10);
	CHECK(csum_get(t + 14) == 1234);
	CHECK(csum_fold(csum_add(pseudo, t, 20)) == 0xffff);
}

static void test_ack(void)
{
	uint8_t b[TCPKICK_MAX_LEN];
	struct dime_addr l4 = a4("198.18.1.2"), r4 = a4("198.18.0.10");
	struct dime_addr l6 = a6("2001:db8:1::2"), r6 = a6("2001:db8::10");
	size_t n = tcpkick_build_ack(b, sizeof(b), &l4, htons(40000), &r4, htons(5201), 0x12345678u, 0u - 1u, 1234);

	CHECK(n == 40);
	CHECK(b[0] == 0x45 && b[9] == IPPROTO_TCP && csum_get(b + 2) == 40);
	CHECK(!memcmp(b + 12, r4.a, 4) && !memcmp(b + 16, l4.a, 4));	/* the peer's, to us */
	CHECK(csum_fold(csum_add(0, b, 20)) == 0xffff);
	check_ack_tcp(b + 20, csum_pseudo4(r4.a, l4.a, IPPROTO_TCP, 20));

	n = tcpkick_build_ack(b, sizeof(b), &l6, htons(40000), &r6, htons(5201), 0x12345678u, 0u - 1u, 1234);
	CHECK(n == 60);
	CHECK(b[0] == 0x60 && b[6] == IPPROTO_TCP && csum_get(b + 4) == 20);
	CHECK(!memcmp(b + 8, r6.a, 16) && !memcmp(b + 24, l6.a, 16));
	check_ack_tcp(b + 40, csum_pseudo6(r6.a, l6.a, IPPROTO_TCP, 20));

	CHECK(tcpkick_build_ack(b, sizeof(b), &l4, 1, &r6, 2, 3, 4, 5) == 0);	/* mixed families */
	CHECK(tcpkick_build_ack(b, 40, &l4, 1, &r4, 2, 3, 4, 5) == 0);		/* no room */
}

static void test_refusals(void)
{
	uint8_t b[TCPKICK_MAX_LEN];
	struct dime_addr l4 = a4("198.18.1.2"), r6 = a6("2001:db8::10");

	CHECK(tcpkick_build(b, sizeof(b), &l4, 1, &r6, 2, 3) == 0);	/* mixed families */
	CHECK(tcpkick_build(b, 40, &l4, 1, &l4, 2, 3) == 0);		/* no room */
}

int main(void)
{
	RUN(test_v4);
	RUN(test_v6);
	RUN(test_ack);
	RUN(test_refusals);
	return check_done();
}
