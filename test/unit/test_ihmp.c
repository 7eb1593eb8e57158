/*
 * The IHMP engine, every exchange of docs/ihmp.md §5 with its ACK, its
 * retransmission and its timeout, on the simulated network of ihmp_sim:
 * two hosts with dimed, A (the mover, 198.18.1.2 and later others) and B
 * (198.18.0.10), and sometimes a host without dimed. White-box where the
 * outcome is internal (peer state, counters).
 */
#include <string.h>
#include <sys/socket.h>

#include "../../src/ihmp_int.h"
#include "check.h"
#include "events.h"
#include "ihmp_sim.h"

#define A1 "198.18.1.2"
#define A2 "198.18.2.2"
#define A3 "198.18.3.2"
#define B1 "198.18.0.10"
#define A1_6 "2001:db8:1::2"
#define B1_6 "2001:db8::10"

static struct sim S;
static struct sim_host *ha, *hb;

/* A and B, both with dimed and keys, A at A1 and B at B1; signed or not. */
static void setup(bool signed_)
{
	memset(&S, 0, sizeof(S));
	S.now = 1000000;	/* a monotonic clock is never near 0 */
	ha = sim_host_add(&S, "A", true, signed_);
	hb = sim_host_add(&S, "B", true, signed_);
	sim_addr_up(ha, A1, true);
	sim_addr_up(hb, B1, true);
	sim_run(&S, 10);
}

static void teardown(void)
{
	sim_free(&S);
}

static bool has_addr(const struct hid *h, enum hid_set_id set, const char *a)
{
	struct dime_addr x = sim_addr(a);
	return h && hid_addrs_find(&h->set[set], &x) >= 0;
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

static bool is_cand(const struct hid *h, const char *a)
{
	struct dime_addr x = sim_addr(a);
	const struct ihmp_peer *p = h ? h->ihmp : NULL;
	return p && hid_addrs_find(&p->cand, &x) >= 0;
}

static int state(const struct hid *h)
{
	const struct ihmp_peer *p = h ? h->ihmp : NULL;
	return p ? p->state : -1;
}

/* A hard move of A: from goes, 100 ms with nothing, to comes with the route. */
static void move_hard(const char *from, const char *to)
{
	sim_addr_down(ha, from);
	sim_run(&S, 100);
	sim_addr_up(ha, to, true);
}

/* A opens a flow to B (B's datapath sees it too) and the HELLO exchange
 * completes: HELLO, B's challenge, HELLO with the cookie, ACK (T2). */
static void greet(void)
{
	sim_flow(ha, A1, B1);
	sim_flow_in(hb, B1, A1);
	sim_run(&S, 10);
}

/* ---- HELLO (§5.1) ---- */

/* A socket left over from an address that is gone (A2, learned when the
 * daemon started) put A2 into A's local set for B before the HELLO from A1
 * was answered. The answer makes A1 where B reaches A; when A2 comes back,
 * A must hand off to it (seen in bench/fig8.sh: the peer kept sending to
 * the old address, the stream died). */
static void test_hello_known_at(void)
{
	setup(true);
	sim_flow_in(ha, A2, B1);	/* learned, no HELLO: A2 is not configured */
	greet();
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, A1);
	CHECK(local_first_is(ab, A1));
	CHECK(has_addr(ab, HID_LOCAL, A2));
	move_hard(A1, A2);
	sim_run(&S, 5);
	CHECK_EQ(S.sent[IHMP_HANDOFF], 1);
	CHECK(is_primary(ba, A2));
	teardown();
}

static void test_hello(void)
{
	setup(true);
	greet();
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, A1);
	CHECK_EQ(S.sent[IHMP_HELLO], 2);
	CHECK_EQ(S.acked[IHMP_HELLO], 2);
	CHECK_EQ(hb->ih->stats.rx_challenged, 1);
	CHECK(ba != NULL);
	CHECK_EQ(state(ab), PEER_OK);
	CHECK_EQ(state(ba), PEER_OK);
	/* Both bound the other's key on first use, and know where to send. */
	CHECK_EQ(ab->key_origin, HID_KEY_TOFU);
	CHECK_EQ(ba->key_origin, HID_KEY_TOFU);
	CHECK(sign_equal(ab->key, hb->ih->key.pk, HID_KEY_LEN));
	CHECK(sign_equal(ba->key, ha->ih->key.pk, HID_KEY_LEN));
	CHECK(is_primary(ba, A1));
	CHECK(has_addr(ba, HID_LOCAL, B1));
	CHECK(has_addr(ab, HID_LOCAL, A1));
	CHECK_EQ(ha->ih->stats.retransmits + hb->ih->stats.retransmits, 0);
	/* A second flow to a dime peer sends nothing. */
	sim_flow(ha, A1, B1);
	sim_run(&S, 10);
	CHECK_EQ(S.sent[IHMP_HELLO], 2);
	teardown();
}

static void test_hello_retransmit(void)
{
	setup(true);
	S.drop_next[IHMP_HELLO] = 1;
	sim_flow(ha, A1, B1);
	sim_run(&S, IHMP_RTO_MS - 1);
	CHECK_EQ(S.acked[IHMP_HELLO], 0);
	sim_run(&S, 2);
	CHECK_EQ(S.sent[IHMP_HELLO], 3);	/* lost, again, answering the challenge */
	CHECK_EQ(S.acked[IHMP_HELLO], 2);
	CHECK_EQ(ha->ih->stats.retransmits, 1);
	CHECK_EQ(state(sim_hid(ha, B1)), PEER_OK);
	teardown();
}

/* A peer without dimed: IHMP_TRIES HELLOs over 250+500+1000+2000 ms, then
 * silence, and no HELLO to it for IHMP_SILENT_MIN_S. */
static void test_hello_timeout(void)
{
	memset(&S, 0, sizeof(S));
	S.now = 1000000;	/* a monotonic clock is never near 0 */
	ha = sim_host_add(&S, "A", true, true);
	struct sim_host *plain = sim_host_add(&S, "plain", false, false);
	sim_addr_up(ha, A1, true);
	sim_addr_up(plain, B1, true);
	struct hid *h = sim_flow(ha, A1, B1);
	sim_run(&S, 3749);
	CHECK_EQ(S.sent[IHMP_HELLO], IHMP_TRIES);
	CHECK_EQ(state(h), PEER_HELLO);
	sim_run(&S, 2);
	CHECK_EQ(state(h), PEER_SILENT);
	CHECK_EQ(ha->ih->stats.timeouts, 1);
	sim_flow(ha, A1, B1);
	sim_run(&S, IHMP_SILENT_MIN_S * 1000 - 100);
	CHECK_EQ(S.sent[IHMP_HELLO], IHMP_TRIES);
	sim_flow(ha, A1, B1);
	sim_run(&S, 200);
	CHECK_EQ(S.sent[IHMP_HELLO], IHMP_TRIES);	/* still backing off */
	sim_run(&S, 100);
	sim_flow(ha, A1, B1);
	sim_run(&S, 10);
	CHECK_EQ(S.sent[IHMP_HELLO], IHMP_TRIES + 1);	/* then it tries again */
	teardown();
}

/* ---- PATH_PROBE (§5.2): an advertised address is probed before use ---- */

static void test_probe(void)
{
	setup(true);
	sim_addr_up(ha, A2, false);	/* A has a second address: its HELLO lists it */
	sim_run(&S, 10);
	greet();
	struct hid *ba = sim_hid(hb, A1);
	CHECK_EQ(S.sent[IHMP_PATH_PROBE], 1);
	CHECK_EQ(S.acked[IHMP_PATH_PROBE], 1);
	CHECK(has_addr(ba, HID_ACTIVE, A2));
	CHECK(is_primary(ba, A1));	/* proven, not preferred */
	CHECK(has_addr(sim_hid(ha, B1), HID_LOCAL, A2));
	teardown();
}

static void test_probe_retransmit_and_timeout(void)
{
	setup(true);
	sim_addr_up(ha, A2, false);
	sim_run(&S, 10);
	S.drop_next[IHMP_PATH_PROBE] = 1;
	greet();
	struct hid *ba = sim_hid(hb, A1);
	CHECK(is_cand(ba, A2));
	sim_run(&S, IHMP_RTO_MS);
	CHECK_EQ(S.sent[IHMP_PATH_PROBE], 2);
	CHECK_EQ(hb->ih->stats.retransmits, 1);
	CHECK(has_addr(ba, HID_ACTIVE, A2));
	teardown();

	/* Never answered from there: stays unreachable, exchange times out. */
	setup(true);
	sim_addr_up(ha, A2, false);
	sim_run(&S, 10);
	S.black[S.nblack++] = sim_addr(A2);
	greet();
	sim_run(&S, 4000);
	ba = sim_hid(hb, A1);
	CHECK_EQ(S.sent[IHMP_PATH_PROBE], IHMP_TRIES);
	CHECK(is_cand(ba, A2));
	CHECK(!has_addr(ba, HID_UNREACH, A2) && !has_addr(ba, HID_ACTIVE, A2));
	CHECK_EQ(hb->ih->stats.timeouts, 1);
	CHECK_EQ(state(ba), PEER_OK);
	teardown();
}

/* ---- HANDOFF (§5.5) ---- */

/* Hard: A1 goes, A2 comes. HANDOFF from A2 -> B probes A2 (nonce) -> A
 * answers from A2 -> B switches, restarts its senders, ACKs -> A puts A2
 * first and restarts its own. */
static void test_handoff(void)
{
	setup(true);
	greet();
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, A1);
	move_hard(A1, A2);
	sim_run(&S, 5);
	CHECK_EQ(S.sent[IHMP_HANDOFF], 1);
	CHECK_EQ(S.sent[IHMP_PATH_PROBE], 1);	/* B's return-routability probe */
	CHECK_EQ(S.acked[IHMP_PATH_PROBE], 1);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 1);
	CHECK_EQ(hb->ih->stats.probes_rr, 1);
	CHECK(sim_hid(hb, A2) == ba);
	CHECK(is_primary(ba, A2));
	CHECK(has_addr(ba, HID_UNREACH, A1));	/* flows still name it */
	CHECK(local_first_is(ab, A2));
	CHECK(!has_addr(ab, HID_LOCAL, A1));
	CHECK_EQ(hb->kicked, 1);
	CHECK_EQ(ha->kicked, 1);
	CHECK_EQ(ha->local_first, 1);
	CHECK_EQ(ha->aborted + hb->aborted, 0);
	/* And back: the address proven before needs no new probe. */
	move_hard(A2, A3);
	sim_run(&S, 5);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 2);
	CHECK(is_primary(ba, A3));
	CHECK(local_first_is(ab, A3));
	teardown();
}

static void test_handoff_retransmit(void)
{
	setup(true);
	greet();
	S.drop_next[IHMP_HANDOFF] = 1;
	move_hard(A1, A2);
	sim_run(&S, 2 * IHMP_RTO_MS - 1);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 0);
	sim_run(&S, 2);		/* first retransmission after a doubled timeout */
	CHECK_EQ(S.sent[IHMP_HANDOFF], 2);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 1);
	CHECK(is_primary(sim_hid(hb, A1), A2));

	teardown();

	/* The ACK lost instead: the peer applied the change once and only
	 * ACKs the retransmission. */
	setup(true);
	greet();
	S.drop_ack[IHMP_HANDOFF] = 1;
	move_hard(A1, A2);
	/* B's probe restarted A's timer (§7.4): a full doubled timeout. */
	sim_run(&S, 4 * IHMP_RTO_MS + 1);
	CHECK_EQ(S.sent[IHMP_HANDOFF], 2);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 2);
	CHECK_EQ(S.sent[IHMP_PATH_PROBE], 1);
	CHECK_EQ(hb->kicked, 1);
	CHECK_EQ(ha->local_first, 1);
	CHECK(local_first_is(sim_hid(ha, B1), A2));
	teardown();
}

/* A kick that found stalled senders is looked at again IHMP_REKICK_MS
 * later (the restart can be lost), at most IHMP_REKICKS times, and no more
 * once none is found. */
static void test_handoff_rekick(void)
{
	setup(true);
	greet();
	ha->stalled = 1;
	move_hard(A1, A2);
	sim_run(&S, 5);
	CHECK_EQ(ha->kicked, 1);
	sim_run(&S, IHMP_REKICK_MS - 10);
	CHECK_EQ(ha->kicked, 1);
	sim_run(&S, 10);
	CHECK_EQ(ha->kicked, 2);	/* still stalled: once more */
	ha->stalled = 0;
	sim_run(&S, IHMP_REKICK_MS);
	CHECK_EQ(ha->kicked, 3);	/* none found: done */
	sim_run(&S, 5000);
	CHECK_EQ(ha->kicked, 3);
	CHECK_EQ(ha->ih->stats.rekicked, 1);
	CHECK_EQ(hb->kicked, 1);	/* B found none stalled: no second look */
	teardown();

	/* Stalled for good (the new path is dead too): bounded. */
	setup(true);
	greet();
	ha->stalled = 2;
	move_hard(A1, A2);
	sim_run(&S, 10000);
	CHECK_EQ(ha->kicked, 1 + IHMP_REKICKS);
	CHECK_EQ(ha->ih->stats.rekicked, 2 * IHMP_REKICKS);
	teardown();
}

/* No ACK after 8 sends (at 0, 500 ms, then every second: the same 7.5 s
 * four doubling timeouts took): the peer cannot reach us in this family;
 * applications are told (abort). */
static void test_handoff_timeout(void)
{
	setup(true);
	greet();
	S.black[S.nblack++] = sim_addr(B1);
	move_hard(A1, A2);
	sim_run(&S, 7499);
	CHECK_EQ(S.sent[IHMP_HANDOFF], 8);
	CHECK_EQ(ha->aborted, 0);
	sim_run(&S, 2);
	CHECK_EQ(ha->aborted, 1);
	CHECK_EQ(ha->ih->stats.timeouts, 1);
	teardown();
}

/* The peer is gone for 3.6 s (its dimed restarting), then back: it hears
 * the HANDOFF within a second of its return, not when a doubling backoff
 * would have sent it again (at 7.5 s: never). */
static void test_handoff_peer_back(void)
{
	setup(true);
	greet();
	S.black[S.nblack++] = sim_addr(B1);
	move_hard(A1, A2);
	sim_run(&S, 3600);
	unsigned before = hb->hid_changed;
	S.nblack = 0;
	sim_run(&S, 1000);
	CHECK(hb->hid_changed > before);	/* applied at B */
	CHECK_EQ(ha->aborted, 0);
	teardown();
}

/* B's dimed restarts while A's IPv4 address is gone without B knowing
 * (A has no IPv4 flow to B, so it told B nothing). B greets A again in
 * every family it knows A in: the IPv6 answer says A is there, and the
 * silent IPv4 address must not make B drop A's IPv6 address too (T8 demotes
 * a restored peer that answers nowhere). Under load in e2e-ihmp v6
 * restart-ch, B greeted only IPv4 and untranslated the IPv6 flows. */
static void test_restart_one_family_gone(void)
{
	setup(true);
	sim_addr_up(ha, A1_6, false);
	sim_addr_up(hb, B1_6, false);
	sim_run(&S, 10);
	greet();
	sim_flow(ha, A1_6, B1_6);
	sim_flow_in(hb, B1_6, A1_6);
	sim_run(&S, 2000);
	struct hid *ba = sim_hid(hb, A1);
	CHECK(ba && sim_hid(hb, A1_6) == ba);
	CHECK(is_primary(ba, A1_6));
	S.black[S.nblack++] = sim_addr(A1);
	sim_restart(hb);
	sim_run(&S, 10000);
	CHECK(is_primary(sim_hid(hb, A1_6), A1_6));
	CHECK_EQ(hb->aborted, 0);
	teardown();
}

/* What `dimectl monitor` would print, both hosts' events in one log. */
static char evlog[8192];
static size_t evlen;

static void capture(void *arg, const char *text, const char *json)
{
	(void)arg, (void)json;
	size_t n = strlen(text);
	if (evlen + n < sizeof(evlog)) {
		memcpy(evlog + evlen, text, n + 1);
		evlen += n;
	}
}

/* The engine reports peers, keys and handoffs as events: A's hard handoff
 * is "hard", B's side of it "peer-moved"; a bad signature is "rejected". */
static void test_events(void)
{
	evlen = 0;
	evlog[0] = '\0';
	ev_set_sink(capture, NULL);
	setup(true);
	greet();
	CHECK(strstr(evlog, "peer-up peer=") != NULL);
	CHECK(strstr(evlog, "key-bound peer=") != NULL);
	CHECK(strstr(evlog, " origin=tofu\n") != NULL);
	move_hard(A1, A2);
	sim_run(&S, 5);
	CHECK(strstr(evlog, "handoff-start peer=" B1) != NULL);
	CHECK(strstr(evlog, "kind=hard to=" A2 "\n") != NULL);
	CHECK(strstr(evlog, "kind=peer-moved to=" A2 "\n") != NULL);
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, A2);
	CHECK(ab && ab->ho[0].pending && ab->ho[0].kind == EV_HO_HARD);
	CHECK(ba && ba->ho[0].pending && ba->ho[0].kind == EV_HO_PEER);
	teardown();
	ev_set_sink(NULL, NULL);
	if (check_failures)
		fprintf(stderr, "events:\n%s", evlog);
}

/* The claimed address never answers B's probe: no switch (§7.4). */
static void test_handoff_unproven(void)
{
	setup(true);
	greet();
	struct hid *ba = sim_hid(hb, A1);
	move_hard(A1, A2);
	S.drop_ack[IHMP_PATH_PROBE] = 100;	/* A's proofs never arrive */
	sim_run(&S, 8000);
	CHECK(is_primary(ba, A1));
	CHECK(!has_addr(ba, HID_ACTIVE, A2));
	CHECK(hb->ih->stats.rx_unverified >= 1);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 0);
	CHECK_EQ(hb->kicked, 0);
	teardown();
}

/* Soft, by route: A2 comes with the default route while A1 stays. A
 * announces A2, hands off at once and remembers it moved from A1, still
 * configured. */
static void test_handoff_route(void)
{
	setup(true);
	greet();
	sim_addr_up(ha, A2, true);
	sim_run(&S, 5);
	CHECK_EQ(S.sent[IHMP_HANDOFF], 1);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 1);
	CHECK(is_primary(sim_hid(hb, A1), A2));
	CHECK_EQ(ha->moved_from, 1);
	teardown();
}

/* ---- ADDR_UP (§5.3) ---- */

/* A2 comes without the route: announced, proven, then active beside A1. */
static void test_addr_up(void)
{
	setup(true);
	greet();
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, A1);
	sim_addr_up(ha, A2, false);
	sim_run(&S, 5);
	CHECK_EQ(S.sent[IHMP_ADDR_UP], 1);
	CHECK_EQ(S.acked[IHMP_PATH_PROBE], 1);
	CHECK_EQ(S.acked[IHMP_ADDR_UP], 1);
	CHECK(has_addr(ba, HID_ACTIVE, A2));
	CHECK(is_primary(ba, A1));
	CHECK(has_addr(ab, HID_LOCAL, A2));
	CHECK(local_first_is(ab, A1));
	teardown();
}

static void test_addr_up_retransmit(void)
{
	setup(true);
	greet();
	S.drop_next[IHMP_ADDR_UP] = 1;
	sim_addr_up(ha, A2, false);
	sim_run(&S, 2 * IHMP_RTO_MS + 1);
	CHECK_EQ(S.sent[IHMP_ADDR_UP], 2);
	CHECK_EQ(S.acked[IHMP_ADDR_UP], 1);
	CHECK(has_addr(sim_hid(hb, A1), HID_ACTIVE, A2));
	teardown();
}

/* B cannot reach A2: its probe times out, A's ADDR_UP too, and A reports
 * ADDR_UP_UNREACHABLE from an address B reaches (§5.3). */
static void test_addr_up_unreachable(void)
{
	setup(true);
	greet();
	struct hid *ba = sim_hid(hb, A1);
	S.black[S.nblack++] = sim_addr(A2);
	sim_addr_up(ha, A2, false);
	sim_run(&S, 7600);
	CHECK_EQ(S.sent[IHMP_ADDR_UP], IHMP_TRIES);
	CHECK_EQ(S.acked[IHMP_ADDR_UP], 0);
	CHECK_EQ(S.sent[IHMP_ADDR_UP_UNREACHABLE], 1);
	CHECK_EQ(S.acked[IHMP_ADDR_UP_UNREACHABLE], 1);
	CHECK(is_cand(ba, A2));
	CHECK(!has_addr(ba, HID_ACTIVE, A2));
	CHECK(is_primary(ba, A1));
	CHECK(hb->ih->stats.rx_unverified >= 1);
	teardown();
}

/* ---- ADDR_DOWN (§5.4) ---- */

static void two_addresses(void)
{
	setup(true);
	greet();
	sim_addr_up(ha, A2, false);
	sim_run(&S, 5);
}

static void test_addr_down(void)
{
	two_addresses();
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, A1);
	sim_addr_down(ha, A2);
	sim_run(&S, 5);
	CHECK_EQ(S.sent[IHMP_ADDR_DOWN], 1);
	CHECK_EQ(S.acked[IHMP_ADDR_DOWN], 1);
	CHECK(has_addr(ba, HID_UNREACH, A2));
	CHECK(is_primary(ba, A1));
	CHECK(!has_addr(ab, HID_LOCAL, A2));
	CHECK_EQ(hb->aborted, 0);
	teardown();

	/* The one the peer sends to goes: a handoff to the other. */
	two_addresses();
	ba = sim_hid(hb, A1);
	sim_addr_down(ha, A1);
	sim_run(&S, 5);
	CHECK_EQ(S.sent[IHMP_ADDR_DOWN], 0);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 1);
	CHECK(is_primary(ba, A2));
	teardown();
}

static void test_addr_down_retransmit_and_timeout(void)
{
	two_addresses();
	S.drop_next[IHMP_ADDR_DOWN] = 1;
	sim_addr_down(ha, A2);
	sim_run(&S, IHMP_RTO_MS + 1);
	CHECK_EQ(S.sent[IHMP_ADDR_DOWN], 2);
	CHECK_EQ(S.acked[IHMP_ADDR_DOWN], 1);
	teardown();

	two_addresses();
	S.black[S.nblack++] = sim_addr(B1);
	sim_addr_down(ha, A2);
	sim_run(&S, 3751);
	CHECK_EQ(S.sent[IHMP_ADDR_DOWN], IHMP_TRIES);
	CHECK_EQ(ha->ih->stats.timeouts, 1);
	CHECK_EQ(ha->aborted, 0);	/* nothing rides on it */
	teardown();
}

/* ---- the _UNREACHABLE variants and the last address, as received ---- */

static int encode(struct ihmp_msg *m, uint8_t *buf)
{
	int n = ihmp_encode(m, buf, IHMP_MAX_MSG);
	CHECK(n > 0);
	return n;
}

/* A message as A's engine would seal it (fresh counter, A's key if it
 * has one): the test speaks for A, or for a thief of its key. */
static size_t as_a(struct ihmp_msg *m, uint8_t *buf)
{
	int n = ihmp_seal(ha->ih, m, buf, IHMP_MAX_MSG, true);
	CHECK(n > 0);
	return n > 0 ? (size_t)n : 0;
}

static void change_msg(struct ihmp_msg *m, uint8_t type, uint16_t seq, const char *host_id,
		       const char *new_addr, const char *old_addr)
{
	struct dime_addr id = sim_addr(host_id);

	ihmp_msg_init(m, type, &id);
	m->seq = seq;
	if (new_addr) {
		m->new_addr = sim_addr(new_addr);
		m->has |= IHMP_HAS(IHMP_T_NEW_ADDR);
	}
	if (old_addr) {
		m->old_addr = sim_addr(old_addr);
		m->has |= IHMP_HAS(IHMP_T_OLD_ADDR);
	}
}

/* Signed, as A would send them: the _UNREACHABLE variants, and the last
 * address going (applications are told), each applied once. */
static void test_received_variants(void)
{
	setup(true);
	greet();
	struct hid *ba = sim_hid(hb, A1);
	struct dime_addr a1 = sim_addr(A1), b1 = sim_addr(B1);
	uint8_t buf[IHMP_MAX_MSG];
	struct ihmp_msg m;
	size_t n;

	/* HANDOFF_UNREACHABLE: A2 is A's, but B cannot use it. */
	change_msg(&m, IHMP_HANDOFF_UNREACHABLE, 100, A1, A2, A1);
	sim_inject(&S, &a1, SIM_PORT, &b1, buf, as_a(&m, buf));
	sim_run(&S, 1);
	CHECK(is_cand(ba, A2));
	CHECK(!has_addr(ba, HID_ACTIVE, A2) && !has_addr(ba, HID_UNREACH, A2));
	CHECK(has_addr(ba, HID_UNREACH, A1));	/* the old one goes, flows still name it */
	CHECK(hid_primary(ba, AF_INET) == NULL);
	CHECK_EQ(hb->kicked, 0);
	CHECK_EQ(S.acked[IHMP_HANDOFF_UNREACHABLE], 1);

	/* ADDR_DOWN_UNREACHABLE of A's last address: applications are told. */
	change_msg(&m, IHMP_ADDR_DOWN_UNREACHABLE, 101, A1, NULL, A1);
	n = as_a(&m, buf);
	sim_inject(&S, &a1, SIM_PORT, &b1, buf, n);
	sim_run(&S, 1);
	CHECK_EQ(S.acked[IHMP_ADDR_DOWN_UNREACHABLE], 1);
	CHECK_EQ(hb->aborted, 1);

	/* Sent again (our ACK was lost), with a fresh counter as a
	 * retransmission has: ACKed, not applied twice. */
	sim_inject(&S, &a1, SIM_PORT, &b1, buf, as_a(&m, buf));
	sim_run(&S, 1);
	CHECK_EQ(S.acked[IHMP_ADDR_DOWN_UNREACHABLE], 2);
	CHECK_EQ(hb->aborted, 1);
	/* The very same datagram again is a replay. */
	sim_inject(&S, &a1, SIM_PORT, &b1, buf, n);
	CHECK_EQ(hb->ih->stats.rx_replay, 1);
	teardown();
}

/* Peers without keys (T3): a change that takes a locator away counts only
 * from the current locator, proven there each time; a HANDOFF never. */
static void test_keyless_changes(void)
{
	setup(false);
	greet();
	struct hid *ba = sim_hid(hb, A1);
	struct dime_addr a1 = sim_addr(A1), a2 = sim_addr(A2), b1 = sim_addr(B1);
	uint8_t buf[IHMP_MAX_MSG];
	struct ihmp_msg m;

	CHECK_EQ(ba->key_origin, HID_KEY_NONE);
	CHECK_EQ(state(ba), PEER_OK);
	/* A HANDOFF to A2 (which A does not have): refused, no probe. */
	change_msg(&m, IHMP_HANDOFF, 200, A1, A2, A1);
	sim_inject(&S, &a2, SIM_PORT, &b1, buf, as_a(&m, buf));
	sim_run(&S, 1);
	CHECK(is_primary(ba, A1));
	CHECK_EQ(hb->ih->stats.rx_unproven, 1);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 0);
	/* An ADDR_DOWN of A1 from elsewhere: refused. */
	change_msg(&m, IHMP_ADDR_DOWN_UNREACHABLE, 201, A1, NULL, A1);
	sim_inject(&S, &a2, SIM_PORT, &b1, buf, as_a(&m, buf));
	sim_run(&S, 1);
	CHECK(is_primary(ba, A1));
	CHECK_EQ(hb->ih->stats.rx_unproven, 2);
	/* From A1 itself: B probes A1, A answers, then it applies. */
	unsigned probes = S.sent[IHMP_PATH_PROBE];
	sim_inject(&S, &a1, SIM_PORT, &b1, buf, as_a(&m, buf));
	sim_run(&S, 1);
	CHECK_EQ(S.sent[IHMP_PATH_PROBE], probes + 1);
	CHECK_EQ(S.acked[IHMP_ADDR_DOWN_UNREACHABLE], 1);
	CHECK(has_addr(ba, HID_UNREACH, A1));
	CHECK_EQ(hb->aborted, 1);
	teardown();
}

/* ---- ACK (§5.6) ---- */

static void test_ack_unexpected(void)
{
	setup(false);
	greet();
	struct dime_addr a1 = sim_addr(A1), b1 = sim_addr(B1);
	uint8_t buf[IHMP_MAX_MSG];
	struct ihmp_msg m;

	ihmp_msg_init(&m, IHMP_ACK, &a1);
	m.seq = 7;
	m.echo_type = IHMP_HANDOFF;
	m.has |= IHMP_HAS(IHMP_T_ECHO);
	sim_inject(&S, &a1, SIM_PORT, &b1, buf, (size_t)encode(&m, buf));
	CHECK_EQ(hb->ih->stats.rx_unexpected_ack, 1);
	CHECK(is_primary(sim_hid(hb, A1), A1));
	teardown();
}

/* ---- IPv6 runs the same exchanges ---- */

static void test_handoff_v6(void)
{
	memset(&S, 0, sizeof(S));
	S.now = 1000000;	/* a monotonic clock is never near 0 */
	ha = sim_host_add(&S, "A", true, true);
	hb = sim_host_add(&S, "B", true, true);
	sim_addr_up(ha, A1_6, true);
	sim_addr_up(hb, B1_6, true);
	sim_flow(ha, A1_6, B1_6);
	sim_run(&S, 10);
	struct hid *ba = sim_hid(hb, A1_6);
	CHECK_EQ(state(ba), PEER_OK);
	move_hard(A1_6, "2001:db8:2::2");
	sim_run(&S, 5);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 1);
	CHECK(is_primary(ba, "2001:db8:2::2"));
	CHECK(local_first_is(sim_hid(ha, B1_6), "2001:db8:2::2"));
	teardown();
}

/* Dual-stack: greeted over IPv4, each side proves the other's IPv6
 * address by a probe it sends itself (T1), so an IPv6 move hands off too. */
static void setup_dual_stack(void)
{
	setup(true);
	sim_addr_up(ha, A1_6, false);
	sim_addr_up(hb, B1_6, false);
	sim_run(&S, 10);
	greet();
	sim_run(&S, 10);
}

static void test_dual_stack(void)
{
	setup_dual_stack();
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, A1);
	CHECK(is_primary(ba, A1_6));
	CHECK(is_primary(ab, B1_6));
	CHECK(sim_hid(ha, B1_6) == ab);
	move_hard(A1_6, "2001:db8:2::2");
	sim_run(&S, 10);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 1);
	CHECK(is_primary(ba, "2001:db8:2::2"));
	CHECK(is_primary(ba, A1));
	teardown();
}

/* Replay protection per family (§7.2): A's IPv6 message overtakes its
 * older IPv4 one (the paths differ): both count. Each datagram again, or
 * in the other family (its signed COUNTER names the one it was sent in),
 * is a replay. Seen in the lab: an IPv6 HANDOFF that an IPv4 ACK sent
 * after it overtook was dropped, and each handoff waited a second. */
static void test_counter_families(void)
{
	setup_dual_stack();
	struct dime_addr a4 = sim_addr(A1), a6 = sim_addr(A1_6), b4 = sim_addr(B1), b6 = sim_addr(B1_6);
	uint8_t p4[IHMP_MAX_MSG], p6[IHMP_MAX_MSG];
	struct ihmp_msg m;
	unsigned acked = S.acked[IHMP_PATH_PROBE];

	change_msg(&m, IHMP_PATH_PROBE, 200, A1, NULL, NULL);
	size_t n4 = as_a(&m, p4);		/* older, IPv4 */
	change_msg(&m, IHMP_PATH_PROBE, 201, A1_6, NULL, NULL);
	size_t n6 = as_a(&m, p6);		/* newer, IPv6: arrives first */
	sim_inject(&S, &a6, SIM_PORT, &b6, p6, n6);
	sim_run(&S, 1);
	sim_inject(&S, &a4, SIM_PORT, &b4, p4, n4);
	sim_run(&S, 1);
	CHECK_EQ(S.acked[IHMP_PATH_PROBE], acked + 2);
	CHECK_EQ(hb->ih->stats.rx_replay, 0);
	sim_inject(&S, &a4, SIM_PORT, &b4, p4, n4);	/* again */
	sim_inject(&S, &a6, SIM_PORT, &b6, p4, n4);	/* IPv4's, sent in IPv6 */
	sim_inject(&S, &a4, SIM_PORT, &b4, p6, n6);	/* and the reverse */
	sim_run(&S, 1);
	CHECK_EQ(hb->ih->stats.rx_replay, 3);
	CHECK_EQ(S.acked[IHMP_PATH_PROBE], acked + 2);
	teardown();
}

/* Every slot busy (IHMP_PENDING unanswered messages to one peer): a
 * probe never displaces a HANDOFF. Seen in the lab: both hosts moved,
 * dual-stack, and the proofs and rendezvous probes of both families
 * pushed out the IPv4 HANDOFF; the peer never learnt where we went. */
static void test_handoff_not_displaced(void)
{
	setup(true);
	greet();
	struct hid *ab = sim_hid(ha, B1), *ba = sim_hid(hb, A1);
	S.black[S.nblack++] = sim_addr(B1);	/* B hears nothing for a while */
	move_hard(A1, A2);
	sim_run(&S, 5);
	struct dime_addr a2 = sim_addr(A2), b1 = sim_addr(B1);
	for (int i = 0; i < IHMP_PENDING + 2; i++) {
		struct ihmp_msg pr;
		ihmp_msg_init(&pr, IHMP_PATH_PROBE, &a2);
		sign_random(pr.nonce, IHMP_NONCE_LEN);
		pr.has |= IHMP_HAS(IHMP_T_NONCE);
		ihmp_tx_start_to(ha->ih, ab, &pr, &a2, &b1, SIM_PORT);
	}
	const struct ihmp_peer *p = ab->ihmp;
	unsigned handoffs = 0;
	for (int i = 0; i < IHMP_PENDING; i++)
		handoffs += p->tx[i].used && p->tx[i].msg.type == IHMP_HANDOFF;
	CHECK_EQ(handoffs, 1);
	CHECK(ha->ih->stats.tx_full >= 2);	/* probes displaced probes */
	S.nblack = 0;				/* B hears again: the HANDOFF lands */
	sim_run(&S, 2000);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 1);
	CHECK(is_primary(ba, A2));
	CHECK(local_first_is(ab, A2));
	teardown();
}

/* Key rotation (§7.5, T7): an exchange; the old key signs for a peer
 * until it ACKs, also for a peer that was away and comes back. */
static void test_key_rotation(void)
{
	setup(true);
	greet();
	struct hid *ba = sim_hid(hb, A1);
	uint8_t old[HID_KEY_LEN];
	char err[200];

	memcpy(old, ha->ih->key.pk, HID_KEY_LEN);
	S.black[S.nblack++] = sim_addr(B1);	/* B is away */
	CHECK_EQ(ihmp_set_local_key(ha->ih, "generate", NULL, 0, err, sizeof(err)), 0);
	sim_run(&S, 5000);
	CHECK(ha->ih->have_old_key);		/* kept: B has not ACKed */
	CHECK(sign_equal(ba->key, old, HID_KEY_LEN));
	S.nblack = 0;				/* B is back; the announcement comes again */
	sim_run(&S, 70 * 1000);
	CHECK(sign_equal(ba->key, ha->ih->key.pk, HID_KEY_LEN));
	CHECK(!ha->ih->have_old_key);
	CHECK_EQ(ba->key_origin, HID_KEY_TOFU);
	/* The next handoff is signed with the new key and applied. */
	move_hard(A1, A2);
	sim_run(&S, 10);
	CHECK(is_primary(ba, A2));
	teardown();
}

int main(void)
{
	RUN(test_hello);
	RUN(test_hello_known_at);
	RUN(test_hello_retransmit);
	RUN(test_hello_timeout);
	RUN(test_probe);
	RUN(test_probe_retransmit_and_timeout);
	RUN(test_handoff);
	RUN(test_events);
	RUN(test_handoff_retransmit);
	RUN(test_handoff_rekick);
	RUN(test_handoff_timeout);
	RUN(test_handoff_peer_back);
	RUN(test_restart_one_family_gone);
	RUN(test_handoff_unproven);
	RUN(test_handoff_route);
	RUN(test_addr_up);
	RUN(test_addr_up_retransmit);
	RUN(test_addr_up_unreachable);
	RUN(test_addr_down);
	RUN(test_addr_down_retransmit_and_timeout);
	RUN(test_received_variants);
	RUN(test_keyless_changes);
	RUN(test_ack_unexpected);
	RUN(test_handoff_v6);
	RUN(test_dual_stack);
	RUN(test_handoff_not_displaced);
	RUN(test_counter_families);
	RUN(test_key_rotation);
	return check_done();
}
