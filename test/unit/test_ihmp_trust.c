/*
 * The trust rules of docs/ihmp.md §7 (T1-T5) against the attacks they
 * answer, on the simulated network: A (a dime peer, 198.18.1.2) and B
 * (198.18.0.10) with dimed, S a server without dimed (198.18.0.20), V a
 * victim nobody runs IHMP on (198.18.0.99), and M an attacker that can
 * send from any source but receives only at its own address (198.18.5.5,
 * a sim host without an engine: what is sent there is lost, as it is for
 * a sender that cannot see the traffic). Judged by what B would do with
 * traffic: which HID a new flow to an address is filed under, the primary
 * locator of a peer, aborts, and the datagrams that reach a victim.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "../../src/ihmp_int.h"
#include "check.h"
#include "events.h"
#include "ihmp_sim.h"

#define A1 "198.18.1.2"
#define A2 "198.18.2.2"
#define B1 "198.18.0.10"
#define S1 "198.18.0.20"
#define V1 "198.18.0.99"
#define M1 "198.18.5.5"

static struct sim S;
static struct sim_host *ha, *hb, *hs, *hm;

static void setup(void)
{
	memset(&S, 0, sizeof(S));
	S.now = 1000000;
	ha = sim_host_add(&S, "A", true, true);
	hb = sim_host_add(&S, "B", true, true);
	hs = sim_host_add(&S, "S", false, false);
	hm = sim_host_add(&S, "M", false, false);
	sim_addr_up(ha, A1, true);
	sim_addr_up(hb, B1, true);
	sim_addr_up(hs, S1, true);
	sim_addr_up(hm, M1, true);
	sim_run(&S, 10);
	/* A and B greet; B also talks to S, which runs no dimed. */
	sim_flow(ha, A1, B1);
	sim_flow_in(hb, B1, A1);
	sim_flow(hb, B1, S1);
	sim_run(&S, 4000);
}

static void teardown(void)
{
	sim_free(&S);
}

static struct dime_addr ad(const char *a)
{
	return sim_addr(a);
}

/* The HID a new flow from B to addr would be filed under (its datapath
 * does a hid_table_lookup), and where it would go. */
static const struct dime_addr *b_locator(const char *addr)
{
	struct hid *h = sim_hid(hb, addr);
	struct dime_addr a = ad(addr);
	return h ? hid_primary(h, a.af) : NULL;
}

static bool has_active(const struct hid *h, const char *addr)
{
	struct dime_addr a = ad(addr);
	return h && hid_where(h, &a) == HID_ACTIVE;
}

static bool goes_to(const char *addr, const char *loc)
{
	const struct dime_addr *l = b_locator(addr);
	struct dime_addr x = ad(loc);
	return l && addr_eq(l, &x);
}

/* Datagrams B sent to an address (the victim's view). */
static unsigned sent_to(const char *addr)
{
	struct dime_addr a = ad(addr);
	return addr_eq(&hb->sent_to_addr, &a) ? hb->sent_to : 0;
}

static void msg(struct ihmp_msg *m, uint8_t type, uint16_t seq, const char *host_id)
{
	struct dime_addr id = ad(host_id);
	ihmp_msg_init(m, type, &id);
	m->seq = seq;
}

static void set_new(struct ihmp_msg *m, const char *a)
{
	m->new_addr = ad(a);
	m->has |= IHMP_HAS(IHMP_T_NEW_ADDR);
}

static void set_old(struct ihmp_msg *m, const char *a)
{
	m->old_addr = ad(a);
	m->has |= IHMP_HAS(IHMP_T_OLD_ADDR);
}

/* M sends m from src to B, unsigned, or sealed with a key M holds. */
static size_t send_from(const char *src, struct ihmp_msg *m, struct ihmp *key_holder)
{
	uint8_t buf[IHMP_MAX_MSG];
	struct dime_addr s = ad(src), b = ad(B1);
	int n = key_holder ? ihmp_seal(key_holder, m, buf, sizeof(buf), true) :
			     ihmp_encode(m, buf, sizeof(buf));
	CHECK(n > 0);
	if (n > 0)
		sim_inject(&S, &s, SIM_PORT, &b, buf, (size_t)n);
	sim_run(&S, 1);
	return n > 0 ? (size_t)n : 0;
}

/* An engine of M's own: its key signs M's self-signed messages. */
static struct ihmp *m_engine(void)
{
	static struct sim_host *own;
	own = sim_host_add(&S, "M-engine", true, true);
	return own->ih;
}

/* ---- T1: squatting ---- */

static void test_squat_hello_addrs(void)
{
	setup();
	struct ihmp *mk = m_engine();
	struct ihmp_msg m;
	uint64_t challenged = hb->ih->stats.rx_challenged;
	/* M greets B from its own address, listing V and S as its own. */
	msg(&m, IHMP_HELLO, 1, M1);
	m.addrs[m.naddrs++] = ad(M1);
	m.addrs[m.naddrs++] = ad(V1);
	m.addrs[m.naddrs++] = ad(S1);
	m.addrs[m.naddrs++] = ad("224.0.0.1");
	m.addrs[m.naddrs++] = ad("127.0.0.1");
	m.has |= IHMP_HAS(IHMP_T_ADDRS);
	send_from(M1, &m, mk);
	/* B challenged; M cannot answer at M1 here (nothing receives), so
	 * nothing is kept; and even a proven M gets V only as a candidate. */
	CHECK(sim_hid(hb, V1) == NULL);
	CHECK(sim_hid(hb, M1) == NULL);
	CHECK(goes_to(S1, S1));
	CHECK_EQ(hb->ih->stats.rx_challenged, challenged + 1);
	teardown();
}

/* A proven peer (it answers the challenge) advertising others' addresses:
 * they are candidates, never filed, never locators. */
static void test_squat_proven_peer(void)
{
	setup();
	struct sim_host *hx = sim_host_add(&S, "X", true, true);
	sim_addr_up(hx, "198.18.6.6", true);
	sim_run(&S, 1);
	struct ihmp_msg m;
	struct dime_addr x = ad("198.18.6.6");
	msg(&m, IHMP_HELLO, 1, "198.18.6.6");
	m.addrs[m.naddrs++] = x;
	m.addrs[m.naddrs++] = ad(V1);
	m.addrs[m.naddrs++] = ad(S1);
	m.has |= IHMP_HAS(IHMP_T_ADDRS);
	sim_flow(hx, "198.18.6.6", B1);		/* a real greeting from X */
	sim_run(&S, 10);
	struct hid *bx = sim_hid(hb, "198.18.6.6");
	CHECK(bx != NULL);
	CHECK(bx && bx->key_origin == HID_KEY_TOFU);
	/* Now a second, signed HELLO from X listing V and S. */
	send_from("198.18.6.6", &m, hx->ih);
	sim_run(&S, 5000);
	CHECK(sim_hid(hb, V1) == NULL);		/* a flow to V is not X's */
	CHECK(goes_to(S1, S1));			/* S stays S */
	const struct ihmp_peer *p = bx ? bx->ihmp : NULL;
	struct dime_addr v = ad(V1);
	CHECK(p && hid_addrs_find(&p->cand, &v) >= 0);
	teardown();
}

/* The ACK of our HELLO lists a victim: same rule on the greeting side.
 * X runs dimed and answers B's HELLO truthfully but for V, which it
 * advertises without receiving there. */
static void test_squat_ack_addrs(void)
{
	setup();
	struct sim_host *hx = sim_host_add(&S, "X", true, true);
	sim_addr_up(hx, "198.18.6.6", true);
	sim_addr_fake(hx, V1);
	sim_run(&S, 1);
	sim_flow(hb, B1, "198.18.6.6");		/* B greets X */
	sim_flow_in(hx, "198.18.6.6", B1);
	sim_run(&S, 5000);
	struct hid *bx = sim_hid(hb, "198.18.6.6");
	CHECK(bx && bx->key_origin == HID_KEY_TOFU);
	CHECK(sim_hid(hb, V1) == NULL);		/* a new flow to V is not X's */
	CHECK(!has_active(bx, V1));
	teardown();
}

/* ---- T2: keyless peers are not anyone's ---- */

static void test_keyless_takeover(void)
{
	setup();
	struct ihmp *mk = m_engine();
	struct hid *bs = sim_hid(hb, S1);
	struct ihmp_msg m;
	CHECK(bs && bs->key_origin == HID_KEY_NONE && bs->nflows == 1);

	/* A self-signed HELLO for S from M's own address: about M1, not S. */
	msg(&m, IHMP_HELLO, 1, S1);
	m.addrs[m.naddrs++] = ad(S1);
	m.has |= IHMP_HAS(IHMP_T_ADDRS);
	send_from(M1, &m, mk);
	/* ... and from S's address (spoofed): challenged, the cookie lost. */
	send_from(S1, &m, mk);
	CHECK_EQ(bs->key_origin, HID_KEY_NONE);
	CHECK(goes_to(S1, S1));
	/* A guessed cookie. */
	memset(m.nonce_echo, 0x5a, IHMP_NONCE_LEN);
	m.has |= IHMP_HAS(IHMP_T_NONCE_ECHO);
	send_from(S1, &m, mk);
	CHECK_EQ(bs->key_origin, HID_KEY_NONE);
	CHECK(hb->ih->stats.rx_bad_cookie >= 1);

	/* Unsigned ADDR_DOWN / HANDOFF / PATH_PROBE for S, from M and from S. */
	msg(&m, IHMP_PATH_PROBE, 2, S1);
	send_from(M1, &m, NULL);
	msg(&m, IHMP_ADDR_DOWN, 3, S1);
	set_old(&m, S1);
	send_from(M1, &m, NULL);
	send_from(S1, &m, NULL);	/* from S itself: B checks with S, S never confirms */
	msg(&m, IHMP_HANDOFF, 4, S1);
	set_new(&m, M1);
	set_old(&m, S1);
	send_from(M1, &m, NULL);
	sim_run(&S, 8000);
	CHECK_EQ(hb->aborted, 0);
	CHECK(goes_to(S1, S1));
	CHECK(sim_hid(hb, M1) == NULL);
	CHECK_EQ(bs->key_origin, HID_KEY_NONE);
	teardown();
}

static char evlog[4096];
static size_t evlen;
static unsigned nrejected;

static void capture(void *arg, const char *text, const char *json)
{
	(void)arg, (void)json;
	size_t n = strlen(text);
	nrejected += !strncmp(text, "rejected ", 9);
	if (evlen + n < sizeof(evlog)) {
		memcpy(evlog + evlen, text, n + 1);
		evlen += n;
	}
}

/* A HANDOFF for A that M signed with its own key, 50 times: B refuses
 * each, and `dimectl monitor` hears of it once, not 50 times. */
static void test_rejected_event(void)
{
	setup();
	struct ihmp *mk = m_engine();
	struct ihmp_msg m;
	uint64_t bad = hb->ih->stats.rx_bad_signature;

	evlen = nrejected = 0;
	evlog[0] = '\0';
	ev_reject_reset();	/* earlier cases were refused too, maybe within the second */
	ev_set_sink(capture, NULL);
	for (int i = 0; i < 50; i++) {
		msg(&m, IHMP_HANDOFF, (uint16_t)(100 + i), A1);
		set_new(&m, M1);
		set_old(&m, A1);
		send_from(M1, &m, mk);
	}
	ev_set_sink(NULL, NULL);
	CHECK_EQ(hb->ih->stats.rx_bad_signature, bad + 50);
	CHECK(goes_to(A1, A1));
	CHECK_EQ(nrejected, 1);
	CHECK(strstr(evlog, "rejected reason=bad-signature from=" M1 "\n") != NULL);
	if (check_failures)
		fprintf(stderr, "events:\n%s", evlog);
	teardown();
}

/* ---- T1, §7.4: the PATH_PROBE-then-ADDR_DOWN redirect, key stolen ---- */

static void test_probe_redirect(void)
{
	setup();
	struct hid *ba = sim_hid(hb, A1);
	struct ihmp_msg m;
	CHECK(ba && ba->key_origin == HID_KEY_TOFU);
	hb->sent_to_addr = ad(V1);

	/* M signs with A's key: a probe "from" V, then A1 goes down. */
	msg(&m, IHMP_PATH_PROBE, 10, A1);
	send_from(V1, &m, ha->ih);
	msg(&m, IHMP_ADDR_DOWN, 11, A1);
	set_old(&m, A1);
	send_from(A1, &m, ha->ih);
	CHECK(!has_active(ba, V1));
	CHECK(sim_hid(hb, V1) == NULL);
	/* Then a HANDOFF claiming V: B asks V, which never confirms. */
	msg(&m, IHMP_HANDOFF, 12, A1);
	set_new(&m, V1);
	set_old(&m, A1);
	send_from(V1, &m, ha->ih);
	sim_run(&S, 8000);
	CHECK(!has_active(ba, V1));
	CHECK(!goes_to(A1, V1));
	/* What reached V: the probe's ACK, and probes within the per-address
	 * budget (T5), each sent at most IHMP_TRIES times. */
	CHECK(sent_to(V1) <= 1 + IHMP_PROBES_PER_ADDR * IHMP_TRIES);
	CHECK(sent_to(V1) >= 1);
	teardown();
}

/* ---- T4: everything bounded, reclaimed ---- */

/* 30 handoffs through 30 new addresses: each applied, the sets bounded. */
static void test_many_handoffs(void)
{
	setup();
	struct hid *ba = sim_hid(hb, A1);
	char cur[32], next[32];
	unsigned applied = 0;

	snprintf(cur, sizeof(cur), "%s", A1);
	for (int i = 0; i < 30; i++) {
		snprintf(next, sizeof(next), "198.18.%d.%d", 10 + i, 2 + i);
		sim_addr_down(ha, cur);
		sim_run(&S, 100);
		sim_addr_up(ha, next, true);
		sim_run(&S, 2000);
		applied += goes_to(A1, next);
		for (int k = 0; k < HID_NSETS; k++)
			CHECK(ba->set[k].n <= HID_ADDRS_MAX);
		snprintf(cur, sizeof(cur), "%s", next);
	}
	CHECK_EQ(applied, 30);
	CHECK_EQ(S.acked[IHMP_HANDOFF], 30);
	CHECK(hb->ih->stats.addrs_evicted > 0);
	CHECK_EQ(ha->aborted + hb->aborted, 0);
	teardown();
}

/* Addresses a spoofed SYN left behind (a keyless HID with a flow) do not
 * keep a peer that proves it is there now from moving onto them. */
static void test_handoff_onto_spoofed(void)
{
	setup();
	struct hid *spoof = sim_flow_in(hb, B1, A2);	/* a "SYN from A2" earlier */
	CHECK(spoof && spoof->key_origin == HID_KEY_NONE);
	sim_addr_down(ha, A1);
	sim_run(&S, 100);
	sim_addr_up(ha, A2, true);
	sim_run(&S, 2000);
	CHECK(goes_to(A1, A2));
	CHECK(sim_hid(hb, A2) == sim_hid(hb, A1));
	teardown();
}

/* HIDs nobody uses go: flows gone, nothing in flight, idle. */
static void test_reclaim(void)
{
	setup();
	char a[32];
	uint32_t before = hid_table_count(hb->ht);
	for (int i = 0; i < 500; i++) {
		snprintf(a, sizeof(a), "198.19.%d.%d", i / 250, i % 250 + 1);
		sim_flow_in(hb, B1, a)->nflows = 0;	/* a spoofed SYN, long expired */
	}
	CHECK_EQ(hid_table_count(hb->ht), before + 500);
	sim_run(&S, 200 * 1000);
	CHECK(hid_table_count(hb->ht) <= before);
	CHECK(hb->ih->stats.hids_freed >= 500);
	CHECK(sim_hid(hb, A1) != NULL);		/* the peer with a flow stays */
	teardown();
}

/* A peer that drains the probe budget with claims, on and on, does not
 * stop another peer's handoff (per-peer budgets under the global ceiling). */
static void test_probe_budget(void)
{
	setup();
	struct sim_host *hx = sim_host_add(&S, "X", true, true);
	sim_addr_up(hx, "198.18.6.6", true);
	sim_flow(hx, "198.18.6.6", B1);
	sim_run(&S, 10);
	struct hid *bx = sim_hid(hb, "198.18.6.6");
	CHECK(bx && bx->key_origin == HID_KEY_TOFU);
	struct ihmp_msg m;
	char v[32];
	/* X claims one victim address after another, spoofing each as source,
	 * every millisecond for 8 s, while A makes a hard handoff: A1 goes at
	 * 0.1 s, A2 comes at 0.225 s. */
	for (int i = 0; i < 8000; i++) {
		if (i == 100)
			sim_addr_down(ha, A1);
		if (i == 225)
			sim_addr_up(ha, A2, true);
		snprintf(v, sizeof(v), "198.%d.%d.%d", 18 + i / 62500, i / 250 % 250, i % 250 + 1);
		msg(&m, IHMP_ADDR_UP, (uint16_t)(500 + i), "198.18.6.6");
		set_new(&m, v);
		send_from(v, &m, hx->ih);
	}
	CHECK(goes_to(A1, A2));
	CHECK(hb->ih->stats.probes_rr <= 16 + 2 * 8 + 2);	/* burst, two a second, A's */
	CHECK(hb->ih->stats.rx_probe_budget > 0);
	teardown();
}

/* ---- T5: no amplification ---- */

/* Octets B sends in answer to each kind of datagram from a sender it
 * cannot hold to account, against the datagram's size. */
static void test_amplification(void)
{
	setup();
	struct ihmp *mk = m_engine();
	struct ihmp_msg m;
	uint8_t buf[IHMP_MAX_MSG];
	struct dime_addr b = ad(B1);
	char src[32];

	for (int t = 0; t < 7; t++) {
		for (int signed_ = 0; signed_ < 2; signed_++) {
			snprintf(src, sizeof(src), "198.18.%d.7", 100 + t * 2 + signed_);
			struct dime_addr sa = ad(src);
			switch (t) {
			case 0:		/* the smallest HELLO */
				msg(&m, IHMP_HELLO, 1, src);
				m.has |= IHMP_HAS(IHMP_T_ADDRS);
				break;
			case 1:		/* a HELLO listing 8 addresses */
				msg(&m, IHMP_HELLO, 1, src);
				for (int i = 0; i < 8; i++) {
					char x[32];
					snprintf(x, sizeof(x), "198.18.%d.%d", 200 + i, 1 + t);
					m.addrs[m.naddrs++] = ad(x);
				}
				m.has |= IHMP_HAS(IHMP_T_ADDRS);
				break;
			case 2:		/* a probe naming A */
				msg(&m, IHMP_PATH_PROBE, 1, A1);
				break;
			case 3:
				msg(&m, IHMP_PATH_PROBE, 1, A1);
				sign_random(m.nonce, IHMP_NONCE_LEN);
				m.has |= IHMP_HAS(IHMP_T_NONCE);
				break;
			case 4:		/* a claim for A's HID */
				msg(&m, IHMP_ADDR_UP, 1, A1);
				set_new(&m, src);
				break;
			case 5:
				msg(&m, IHMP_HANDOFF, 1, A1);
				set_new(&m, src);
				set_old(&m, A1);
				break;
			default:	/* for S's keyless HID */
				msg(&m, IHMP_ADDR_DOWN, 1, S1);
				set_old(&m, S1);
				break;
			}
			int n = signed_ ? ihmp_seal(mk, &m, buf, sizeof(buf), true) :
					  ihmp_encode(&m, buf, sizeof(buf));
			CHECK(n > 0);
			uint64_t out = S.bytes;
			sim_inject(&S, &sa, SIM_PORT, &b, buf, (size_t)n);
			sim_run(&S, 1);
			uint64_t sent = S.bytes - out;
			if (sent > 3 * (uint64_t)n)
				fprintf(stderr, "case %d signed %d: %llu octets out for %d in\n", t, signed_,
					(unsigned long long)sent, n);
			CHECK(sent <= 3 * (uint64_t)n);
		}
	}
	teardown();
}

/* Rotating sources share a budget: a flood from 3,000 prefixes within a
 * moment is mostly dropped before parsing, and A's handoff still works. */
static void test_rotating_flood(void)
{
	setup();
	struct ihmp_msg m;
	uint8_t buf[IHMP_MAX_MSG];
	struct dime_addr b = ad(B1);
	char src[32];

	msg(&m, IHMP_HELLO, 1, M1);
	m.has |= IHMP_HAS(IHMP_T_ADDRS);
	int n = ihmp_encode(&m, buf, sizeof(buf));
	uint64_t limited = hb->ih->stats.rx_rate_limited;
	for (int i = 0; i < 3000; i++) {
		snprintf(src, sizeof(src), "198.%d.%d.1", 18 + (i >> 8 & 1), i & 255);
		struct dime_addr sa = ad(src);
		sa.a[1] = (uint8_t)(18 + (i >> 8) % 2);
		sa.a[2] = (uint8_t)(i % 256);
		sa.a[3] = (uint8_t)(1 + i / 512);
		sim_inject(&S, &sa, SIM_PORT, &b, buf, (size_t)n);
	}
	CHECK(hb->ih->stats.rx_rate_limited - limited >= 1500);
	CHECK(hid_table_count(hb->ht) <= 4);
	sim_run(&S, 2000);
	sim_addr_down(ha, A1);
	sim_run(&S, 100);
	sim_addr_up(ha, A2, true);
	sim_run(&S, 2000);
	CHECK(goes_to(A1, A2));
	teardown();
}

int main(void)
{
	RUN(test_squat_hello_addrs);
	RUN(test_squat_proven_peer);
	RUN(test_squat_ack_addrs);
	RUN(test_keyless_takeover);
	RUN(test_rejected_event);
	RUN(test_probe_redirect);
	RUN(test_many_handoffs);
	RUN(test_handoff_onto_spoofed);
	RUN(test_reclaim);
	RUN(test_probe_budget);
	RUN(test_amplification);
	RUN(test_rotating_flood);
	return check_done();
}
