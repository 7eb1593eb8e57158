/*
 * Rendezvous (docs/ihmp.md §11, T9) on the simulated network: A and B,
 * both signed and named, lose their addresses at the same moment, so each
 * HANDOFF goes where the other was. Looking the other's name up (a fake
 * resolver with a table, answering a little later, as the DNS does) brings
 * them together; without names both give up and abort, as before. A name
 * that points at someone else (a forged answer, or a NAME naming a victim)
 * gets probes within the budget and never a locator.
 */
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "../../src/ihmp_int.h"
#include "check.h"
#include "ihmp_sim.h"

#define A1 "198.18.1.2"
#define A2 "198.18.2.2"
#define B1 "198.18.0.10"
#define B2 "198.18.0.11"
#define V "198.18.0.66"		/* a victim */

static struct sim S;
static struct sim_host *ha, *hb, *hv;

/* The DNS: name -> one address; lookups answered 5 ms after they start. */
static struct { const char *name, *addr; } dns[4];
static size_t ndns;
static struct { struct ihmp *ih; uint64_t cookie; char name[64]; uint64_t at; } pending[16];
static size_t npending;
static unsigned lookups;

static int fake_resolve(void *arg, const char *name, uint64_t cookie)
{
	if (npending == 16)
		return -16;
	pending[npending].ih = arg;
	pending[npending].cookie = cookie;
	snprintf(pending[npending].name, sizeof(pending[npending].name), "%s", name);
	pending[npending].at = S.now + 5;
	npending++;
	lookups++;
	return 0;
}

static void deliver(void)
{
	for (size_t i = 0; i < npending;) {
		if (pending[i].at > S.now) {
			i++;
			continue;
		}
		struct dime_addr a[1];
		size_t n = 0;
		for (size_t k = 0; k < ndns; k++)
			if (!strcasecmp(dns[k].name, pending[i].name))
				a[n++] = sim_addr(dns[k].addr);
		ihmp_resolved(pending[i].ih, pending[i].cookie, pending[i].name, a, n);
		pending[i] = pending[--npending];
	}
}

static void run(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 5) {
		sim_run(&S, 5);
		deliver();
	}
}

/* A and B with dimed, named name_b for B when names (A: a.dime.test). */
static const char *name_b = "b.dime.test";

static void setup(bool signed_, bool names, bool resolver)
{
	memset(&S, 0, sizeof(S));
	S.now = 1000000;
	ndns = npending = lookups = 0;
	ha = sim_host_add(&S, "A", true, signed_);
	hb = sim_host_add(&S, "B", true, signed_);
	hv = sim_host_add(&S, "V", true, true);		/* dimed, its own key */
	sim_addr_up(ha, A1, true);
	sim_addr_up(hb, B1, true);
	sim_addr_up(hv, V, true);
	if (names) {
		ihmp_set_name(ha->ih, "a.dime.test");
		ihmp_set_name(hb->ih, name_b);
	}
	if (resolver) {
		ihmp_set_resolve(ha->ih, fake_resolve, ha->ih);
		ihmp_set_resolve(hb->ih, fake_resolve, hb->ih);
	}
	sim_run(&S, 10);
	sim_flow(ha, A1, B1);
	sim_flow_in(hb, B1, A1);
	sim_run(&S, 10);
}

static bool is_primary(const struct hid *h, const char *a)
{
	struct dime_addr x = sim_addr(a);
	const struct dime_addr *p = h ? hid_primary(h, x.af) : NULL;
	return p && addr_eq(p, &x);
}

static bool local_first_is(const struct hid *h, const char *a)
{
	struct dime_addr x = sim_addr(a);
	return h && h->set[HID_LOCAL].n && addr_eq(&h->set[HID_LOCAL].a[0], &x);
}

/* Both lose their address at once and get a new one 50 ms later; the DNS
 * has the new ones (both published them). */
static void move_both_named(const char *name, const char *at)
{
	dns[ndns++] = (__typeof__(dns[0])){ "a.dime.test", A2 };
	dns[ndns++] = (__typeof__(dns[0])){ name, at };
	sim_addr_down(ha, A1);
	sim_addr_down(hb, B1);
	run(50);
	sim_addr_up(ha, A2, true);
	sim_addr_up(hb, B2, true);
}

static void move_both(void)
{
	move_both_named("b.dime.test", B2);
}

/* NAME goes in signed HELLOs and their ACKs; each keeps the other's. */
static void test_names_learned(void)
{
	setup(true, true, true);
	const char *na = ihmp_peer_name(sim_hid(hb, A1)), *nb = ihmp_peer_name(sim_hid(ha, B1));
	CHECK(na && !strcmp(na, "a.dime.test"));
	CHECK(nb && !strcmp(nb, "b.dime.test"));
	sim_free(&S);

	/* Unsigned, a name is anyone's claim: not sent, not kept (T9). */
	setup(false, true, true);
	CHECK(ihmp_peer_name(sim_hid(hb, A1)) == NULL);
	CHECK(ihmp_peer_name(sim_hid(ha, B1)) == NULL);
	sim_free(&S);
}

/* The case of §11: found again through the names, both HANDOFFs ACKed,
 * nothing aborted, well before the 7.5 s a HANDOFF gives up after. */
static void test_both_move(void)
{
	setup(true, true, true);
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, A1);
	move_both();
	run(3000);
	CHECK(lookups >= 2);
	CHECK(ha->ih->stats.rdv_found >= 1 || hb->ih->stats.rdv_found >= 1);
	CHECK(is_primary(ab, B2));
	CHECK(is_primary(ba, A2));
	CHECK(local_first_is(ab, A2));	/* B ACKed A's HANDOFF */
	CHECK(local_first_is(ba, B2));	/* and A B's */
	CHECK_EQ(ha->aborted + hb->aborted, 0);
	CHECK_EQ(ha->ih->stats.rx_rdv_unproven + hb->ih->stats.rx_rdv_unproven, 0);
	run(10000);
	CHECK_EQ(ha->aborted + hb->aborted, 0);
	CHECK(lookups <= 8);		/* once found, no more lookups */
	sim_free(&S);
}

/* Without names (or without a resolver), both HANDOFFs time out and the
 * applications are told: what it was before rendezvous. */
static void test_both_move_no_names(void)
{
	setup(true, false, true);
	move_both();
	run(8000);
	CHECK_EQ(lookups, 0);
	CHECK_EQ(ha->aborted, 1);
	CHECK_EQ(hb->aborted, 1);
	sim_free(&S);

	setup(true, true, false);
	move_both();
	run(8000);
	CHECK_EQ(ha->aborted, 1);
	CHECK_EQ(hb->aborted, 1);
	sim_free(&S);
}

/* A forged answer: B's name resolves to V, a dime host with its own key.
 * A probes V (within the budget), V cannot answer as B: counted, V never
 * becomes B's locator, and A's HANDOFF is never sent to V. */
static void test_forged_answer(void)
{
	setup(true, true, true);
	struct hid *ab = sim_hid(ha, B1);
	hv->sent_to_addr = sim_addr(A2);
	move_both_named("b.dime.test", V);
	unsigned probes_before = S.sent[IHMP_PATH_PROBE];
	run(8000);
	CHECK(ha->ih->stats.rx_rdv_unproven >= 1);
	CHECK(!is_primary(ab, V));
	struct dime_addr v = sim_addr(V);
	CHECK(hid_where(ab, &v) < 0);
	CHECK(sim_hid(ha, V) == NULL);
	/* Bounded: T5's 3 probe exchanges a minute to V, 4 sends each. */
	CHECK(S.sent[IHMP_PATH_PROBE] - probes_before <= 3 * 4 + 8);
	CHECK_EQ(ha->ih->stats.rdv_found, 0);
	/* B found A through A's true name: its side is right... */
	CHECK(is_primary(sim_hid(hb, A1), A2));
	sim_free(&S);
}

/* A NAME naming a victim: B tells A the name of V (a name that truly
 * resolves to V). When both move, A looks it up and probes V, which
 * cannot answer as B: nothing of A's goes to V but the probes, counted. */
static void test_name_of_victim(void)
{
	name_b = "v.dime.test";
	setup(true, true, true);
	name_b = "b.dime.test";
	struct hid *ab = sim_hid(ha, B1);
	const char *nb = ihmp_peer_name(ab);
	CHECK(nb && !strcmp(nb, "v.dime.test"));
	hv->sent_to_addr = sim_addr(A2);
	move_both_named("v.dime.test", V);
	run(8000);
	struct dime_addr v = sim_addr(V);
	CHECK(ha->ih->stats.rx_rdv_unproven >= 1);
	CHECK(hid_where(ab, &v) < 0);
	CHECK(sim_hid(ha, V) == NULL);
	CHECK_EQ(ha->ih->stats.rdv_found, 0);
	sim_free(&S);
}

int main(void)
{
	RUN(test_names_learned);
	RUN(test_both_move);
	RUN(test_both_move_no_names);
	RUN(test_forged_answer);
	RUN(test_name_of_victim);
	return check_done();
}
