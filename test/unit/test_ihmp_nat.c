/*
 * NAT traversal in the IHMP engine (docs/ihmp.md §8), on the simulated
 * network of ihmp_sim with IHMP-unaware NATs: A (the mover) behind NAT 1
 * (public N1) and later NAT 2 (N2) or a public address, B public. What
 * each end learns (OBSERVED, the peer's binding), that a binding carries
 * nothing until proven, rebinding, keepalives.
 */
#include <string.h>
#include <sys/socket.h>

#include "../../src/ihmp_int.h"
#include "check.h"
#include "ihmp_sim.h"

#define A1 "198.18.1.2"		/* behind NAT 1 */
#define A2 "198.18.2.2"		/* behind NAT 2 */
#define A3 "198.18.3.2"		/* public */
#define N1 "198.19.1.1"
#define N2 "198.19.2.1"
#define B1 "198.18.0.10"

static struct sim S;
static struct sim_host *ha, *hb;

/* NAT 1 and 2 randomise ports unless keep_port: bindings from 40000, 41000. */
static void setup(bool signed_, bool keep_port)
{
	memset(&S, 0, sizeof(S));
	S.now = 1000000;
	ha = sim_host_add(&S, "A", true, signed_);
	hb = sim_host_add(&S, "B", true, signed_);
	sim_nat(&S, 0, N1, keep_port);
	sim_nat_inside(&S, 0, A1);
	sim_nat(&S, 1, N2, keep_port);
	sim_nat_inside(&S, 1, A2);
	sim_addr_up(ha, A1, true);
	sim_addr_up(hb, B1, true);
	sim_run(&S, 10);
	/* A opens a flow to B; B's datapath sees it come from NAT 1. */
	sim_flow(ha, A1, B1);
	sim_flow_in(hb, B1, N1);
	sim_run(&S, 50);
}

static bool is(const struct dime_addr *a, const char *text)
{
	struct dime_addr x = sim_addr(text);
	return addr_eq(a, &x);
}

static bool has_addr(const struct hid *h, enum hid_set_id set, const char *a)
{
	struct dime_addr x = sim_addr(a);
	return h && hid_addrs_find(&h->set[set], &x) >= 0;
}

static void move_hard(const char *from, const char *to)
{
	sim_addr_down(ha, from);
	sim_run(&S, 100);
	sim_addr_up(ha, to, true);
	sim_run(&S, 3000);
}

/* The HELLO's OBSERVED tells A it is behind NAT 1, and B where A is. */
static void test_hello(void)
{
	setup(true, false);
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, N1);
	CHECK(ab && ba);
	CHECK(ba->nat[0].peer && ba->nat[0].have_ep);
	CHECK(is(&ba->nat[0].ep, N1));
	CHECK_EQ(ba->nat[0].ep_port, 40000);
	CHECK(is(&ba->nat[0].host, A1));
	CHECK(ab->nat[0].self && ab->nat[0].have_pub);
	CHECK(is(&ab->nat[0].pub, N1));
	CHECK_EQ(ab->nat[0].pub_port, 40000);
	CHECK(!ab->nat[0].peer && !ba->nat[0].self);
	CHECK(hb->ih->stats.rx_nat_detected >= 1);
	sim_free(&S);
}

/* NAT 1 -> NAT 2, ports randomised: B proves NAT 2's binding (address
 * and port) before it switches; NAT 1's address is unreachable after. */
static void test_nat_to_nat(void)
{
	setup(true, false);
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, N1);
	unsigned probes = S.sent[IHMP_PATH_PROBE];
	move_hard(A1, A2);
	CHECK(S.sent[IHMP_PATH_PROBE] > probes);	/* the proof of the binding */
	CHECK_EQ(S.acked[IHMP_HANDOFF], 1);
	CHECK(is(&ba->nat[0].ep, N2));
	CHECK_EQ(ba->nat[0].ep_port, 41000);
	CHECK(is(&ba->nat[0].host, A2));
	CHECK(is(hid_primary(ba, AF_INET), N2));
	CHECK(has_addr(ba, HID_UNREACH, N1));
	CHECK(!has_addr(ba, HID_ACTIVE, A2));	/* the private one: never a locator */
	CHECK(is(&ab->nat[0].pub, N2));
	CHECK_EQ(ab->nat[0].pub_port, 41000);
	CHECK(ab->set[HID_LOCAL].n && is(&ab->set[HID_LOCAL].a[0], A2));
	CHECK_EQ(ha->aborted, 0);
	sim_free(&S);
}

/* The binding a HANDOFF came from does not answer (NAT 2's return path is
 * gone): B never switches to it, the change is dropped and counted. */
static void test_unproven_binding(void)
{
	setup(true, false);
	struct hid *ba = sim_hid(hb, N1);
	S.black[S.nblack++] = sim_addr(N2);
	move_hard(A1, A2);
	sim_run(&S, 3000);	/* the proof's four tries run out */
	CHECK(is(&ba->nat[0].ep, N1));
	CHECK_EQ(ba->nat[0].ep_port, 40000);
	CHECK(!has_addr(ba, HID_ACTIVE, N2));
	CHECK(hb->ih->stats.rx_unverified >= 1);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 0);
	sim_free(&S);
}

/* NAT -> public: no NAT on the path any more, for either end. */
static void test_nat_to_public(void)
{
	setup(true, true);
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, N1);
	CHECK_EQ(ba->nat[0].ep_port, SIM_PORT);	/* a port-preserving NAT */
	move_hard(A1, A3);
	CHECK(!ba->nat[0].peer && !ba->nat[0].have_ep);
	CHECK(is(hid_primary(ba, AF_INET), A3));
	CHECK(has_addr(ba, HID_UNREACH, N1));
	CHECK(!ab->nat[0].self);
	sim_free(&S);
}

/* NAT 2 forgets its bindings: A's next keepalive leaves from a new port;
 * B proves it and follows; A sees its binding change and keeps it alive
 * more often. */
static void test_rebinding(void)
{
	setup(true, false);
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, N1);
	move_hard(A1, A2);
	CHECK_EQ(ba->nat[0].ep_port, 41000);
	sim_nat_flush(&S, 1);
	unsigned kicked = hb->kicked;
	uint64_t ka = ha->ih->stats.nat_keepalives;
	sim_run(&S, 26000);
	CHECK(ha->ih->stats.nat_keepalives > ka);
	CHECK(is(&ba->nat[0].ep, N2));
	CHECK_EQ(ba->nat[0].ep_port, 41001);
	CHECK_EQ(hb->ih->stats.nat_rebinds, 1);
	CHECK_EQ(hb->kicked, kicked + 1);	/* its senders to A restarted, as after a handoff */
	CHECK_EQ(ab->nat[0].pub_port, 41001);
	CHECK_EQ(ha->ih->stats.nat_rebinds, 1);
	const struct ihmp_peer *p = ab->ihmp;
	CHECK_EQ(p->ka_ms, 12500);
	sim_free(&S);
}

/* Keepalives: every 25 s while flows live, none without. */
static void test_keepalive(void)
{
	setup(true, false);
	struct hid *ab = sim_hid(ha, B1);
	uint64_t ka = ha->ih->stats.nat_keepalives;
	sim_run(&S, 60000);
	CHECK_EQ(ha->ih->stats.nat_keepalives - ka, 2);
	CHECK_EQ(hb->ih->stats.nat_keepalives, 0);	/* B is not behind a NAT */
	ab->nflows = 0;
	ka = ha->ih->stats.nat_keepalives;
	sim_run(&S, 60000);
	CHECK_EQ(ha->ih->stats.nat_keepalives, ka);
	sim_free(&S);
}

/* DATA from another port of the peer's NAT proves nothing, but a peer
 * whose key B holds gets that binding probed (budgeted); a keyless one
 * does not. */
static void test_data_from(void)
{
	for (int signed_ = 1; signed_ >= 0; signed_--) {
		setup(signed_, false);
		struct hid *ba = sim_hid(hb, N1);
		struct dime_addr n1 = sim_addr(N1);
		hb->sent_to_addr = n1;
		hb->sent_to = 0;
		ihmp_nat_data_from(hb->ih, ba, &n1, 5555);
		sim_run(&S, 5000);
		CHECK_EQ(hb->sent_to, signed_ ? 4 : 0);	/* 4 tries, unanswered */
		CHECK_EQ(ba->nat[0].ep_port, 40000);
		/* Many of them: the per-address budget holds (3 a minute). */
		for (int i = 0; i < 20; i++)
			ihmp_nat_data_from(hb->ih, ba, &n1, (uint16_t)(6000 + i));
		sim_run(&S, 5000);
		CHECK(hb->sent_to <= (signed_ ? 12u : 0u));
		sim_free(&S);
	}
}

int main(void)
{
	RUN(test_hello);
	RUN(test_nat_to_nat);
	RUN(test_unproven_binding);
	RUN(test_nat_to_public);
	RUN(test_rebinding);
	RUN(test_keepalive);
	RUN(test_data_from);
	return check_done();
}
