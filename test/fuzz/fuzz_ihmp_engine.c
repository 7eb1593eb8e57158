/*
 * libFuzzer target for the whole IHMP engine: sequences of datagrams from
 * several sources (raw bytes, and well-formed messages sealed with A's
 * stolen key or an attacker's own), time passing, A moving, new flows,
 * against B's tables on the simulated network (test/unit/ihmp_sim.c). The
 * fuzzer only sends: whatever B sends to an address no engine holds is
 * lost, as for a sender that cannot see the traffic. After every step the
 * rules of docs/ihmp.md §7 must hold at B (A is named, B looks names up,
 * and the DNS answers what the fuzzer says: T9 is T1 under forged
 * answers):
 *   T1  an active address is one a peer proved (A held it at some time) or one B's
 *       datapath saw a flow with;
 *   T2  the HID of S (no dimed) never gets a key; A's gets only A's;
 *   T4  every set, the candidates, half-open HIDs and the busy list stay
 *       within their bounds.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../../src/ihmp_int.h"
#include "ihmp_sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char *const pool[] = {
	"198.18.1.2", "198.18.2.2", "198.18.3.2",	/* A's, over time */
	"198.18.0.10",					/* B */
	"198.18.0.20",					/* S, no dimed */
	"198.18.0.99", "198.18.5.5", "198.18.6.6",	/* victims, the attacker */
	"2001:db8:1::2", "2001:db8::10", "2001:db8::99",
	"224.0.0.1", "127.0.0.1", "0.0.0.0",
};
#define NPOOL (sizeof(pool) / sizeof(pool[0]))
#define NA 3	/* A's: pool[0..2] */

struct in { const uint8_t *p; size_t n; };

static uint8_t take(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static struct dime_addr pick(struct in *in)
{
	return sim_addr(pool[take(in) % NPOOL]);
}

struct world {
	struct sim s;
	size_t nlookups;		/* B's, waiting for the fuzzer's answer */
	struct { uint64_t cookie; char name[64]; } lookups[4];
	struct sim_host *a, *b, *srv, *m;
	bool a_held[NA], a_ever[NA];	/* A holds it now; A held it once */
};

static bool legit_active(const struct world *w, const struct dime_addr *x)
{
	for (int i = 0; i < NA; i++) {
		struct dime_addr y = sim_addr(pool[i]);
		if (w->a_ever[i] && addr_eq(x, &y))
			return true;
	}
	for (size_t i = 0; i < w->b->nflow_addrs; i++)
		if (addr_eq(&w->b->flow_addrs[i], x))
			return true;
	return false;
}

static void check(const struct world *w)
{
	const struct ihmp *ih = w->b->ih;
	struct dime_addr srv = sim_addr(pool[4]);
	uint32_t cur = 0;
	struct hid *h;

	assert(ih->halfopen <= 64);
	assert(ih->nbusy <= IHMP_BUSY_MAX);
	while ((h = hid_table_next(w->b->ht, &cur))) {
		for (int k = 0; k < HID_NSETS; k++)
			assert(h->set[k].n <= HID_ADDRS_MAX);
		const struct ihmp_peer *p = h->ihmp;
		assert(!p || p->cand.n <= HID_ADDRS_MAX);
		for (unsigned i = 0; i < h->set[HID_ACTIVE].n; i++) {
			char b[ADDR_STRLEN];
			if (!legit_active(w, &h->set[HID_ACTIVE].a[i]))
				fprintf(stderr, "T1 broken: HID %u has %s active\n", h->handle,
					addr_fmt(&h->set[HID_ACTIVE].a[i], b));
			assert(legit_active(w, &h->set[HID_ACTIVE].a[i]));
		}
		if (hid_where(h, &srv) >= 0)
			assert(h->key_origin == HID_KEY_NONE);
		/* Only A can answer a challenge or echo a nonce: any key bound
		 * is A's. */
		if (h->key_origin != HID_KEY_NONE)
			assert(sign_equal(h->key, w->a->ih->key.pk, HID_KEY_LEN));
	}
}

/* A message built from the input, sealed by A's (stolen) key, the
 * attacker's own, or not at all. */
static size_t forge(struct world *w, struct in *in, uint8_t *buf)
{
	struct ihmp_msg m;
	uint8_t type = (uint8_t)(1 + take(in) % IHMP_TYPE_MAX);
	struct dime_addr id = pick(in);

	ihmp_msg_init(&m, type, &id);
	m.seq = (uint16_t)(take(in) | take(in) << 8);
	m.flags = take(in) & 0x0f;
	switch (type) {
	case IHMP_HELLO:
		m.naddrs = take(in) % (IHMP_MAX_ADDRS + 1);
		for (unsigned i = 0; i < m.naddrs; i++)
			m.addrs[i] = pick(in);
		m.has |= IHMP_HAS(IHMP_T_ADDRS);
		break;
	case IHMP_ACK:
		m.echo_type = (uint8_t)(1 + take(in) % (IHMP_HANDOFF_UNREACHABLE));
		m.has |= IHMP_HAS(IHMP_T_ECHO);
		break;
	case IHMP_NAT_ENTRY:
		m.has |= IHMP_HAS(IHMP_T_NAT_MAP);
		m.nat.int_addr = pick(in);
		m.nat.ext_addr = pick(in);
		break;
	default:
		if (type != IHMP_PATH_PROBE && type != IHMP_ADDR_DOWN && type != IHMP_ADDR_DOWN_UNREACHABLE) {
			m.new_addr = pick(in);
			m.has |= IHMP_HAS(IHMP_T_NEW_ADDR);
		}
		if (type == IHMP_ADDR_DOWN || type == IHMP_ADDR_DOWN_UNREACHABLE || type == IHMP_HANDOFF ||
		    type == IHMP_HANDOFF_UNREACHABLE) {
			m.old_addr = pick(in);
			m.has |= IHMP_HAS(IHMP_T_OLD_ADDR);
		}
	}
	if (take(in) & 1) {
		memset(m.nonce, take(in), IHMP_NONCE_LEN);
		m.has |= IHMP_HAS(IHMP_T_NONCE);
	}
	if ((type == IHMP_HELLO || type == IHMP_ACK) && (take(in) & 1)) {
		m.name = take(in) & 1 ? "a.dime.test" : "victim.dime.test";
		m.name_len = (uint8_t)strlen(m.name);
	}
	uint8_t who = take(in) % 3;
	int n = who == 0 ? ihmp_encode(&m, buf, IHMP_MAX_MSG) :
		ihmp_seal(who == 1 ? w->a->ih : w->m->ih, &m, buf, IHMP_MAX_MSG, true);
	return n > 0 ? (size_t)n : 0;
}

static int b_resolve(void *arg, const char *name, uint64_t cookie)
{
	struct world *w = arg;
	if (w->nlookups == 4)
		return -16;
	w->lookups[w->nlookups].cookie = cookie;
	snprintf(w->lookups[w->nlookups].name, sizeof(w->lookups[0].name), "%s", name);
	w->nlookups++;
	return 0;
}

/* The DNS answers B's oldest lookup: up to 3 addresses of the pool. */
static void dns_answer(struct world *w, struct in *in)
{
	struct dime_addr a[3];
	size_t n = take(in) % 4;

	if (!w->nlookups)
		return;
	for (size_t i = 0; i < n; i++)
		a[i] = pick(in);
	ihmp_resolved(w->b->ih, w->lookups[0].cookie, w->lookups[0].name, a, n);
	memmove(&w->lookups[0], &w->lookups[1], --w->nlookups * sizeof(w->lookups[0]));
}

static void a_move(struct world *w, struct in *in)
{
	int i = take(in) % NA;
	if (w->a_held[i]) {
		int held = 0;
		for (int j = 0; j < NA; j++)
			held += w->a_held[j];
		if (held > 1) {
			sim_addr_down(w->a, pool[i]);
			w->a_held[i] = false;
		}
	} else {
		sim_addr_up(w->a, pool[i], take(in) & 1);
		w->a_held[i] = w->a_ever[i] = true;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	log_init(getenv("FUZZ_DEBUG") ? LOG_DEBUG : LOG_ERR, false);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world w;
	struct in in = { data, size };
	uint8_t buf[IHMP_MAX_MSG];

	memset(&w, 0, sizeof(w));
	w.s.now = 1000000;
	w.a = sim_host_add(&w.s, "A", true, true);
	w.b = sim_host_add(&w.s, "B", true, true);
	w.srv = sim_host_add(&w.s, "S", false, false);
	w.m = sim_host_add(&w.s, "M", true, true);	/* its key; it receives nothing */
	sim_addr_up(w.a, pool[0], true);
	w.a_held[0] = w.a_ever[0] = true;
	sim_addr_up(w.b, pool[3], true);
	sim_addr_up(w.srv, pool[4], true);
	ihmp_set_name(w.a->ih, "a.dime.test");
	ihmp_set_resolve(w.b->ih, b_resolve, &w);
	sim_flow(w.a, pool[0], pool[3]);
	sim_flow_in(w.b, pool[3], pool[0]);
	sim_flow(w.b, pool[3], pool[4]);
	sim_run(&w.s, 10);
	check(&w);

	for (int steps = 0; in.n && steps < 64; steps++) {
		struct dime_addr src = pick(&in), b = sim_addr(pool[3]);
		size_t n;
		switch (take(&in) % 7) {
		case 0: {	/* raw bytes */
			uint16_t sport = (uint16_t)(3463 + (take(&in) & 1));
			n = take(&in);
			n = n > in.n ? in.n : n;
			sim_inject(&w.s, &src, sport, &b, in.p, n);
			in.p += n, in.n -= n;
			break;
		}
		case 1:
		case 2:		/* a well-formed message */
			if ((n = forge(&w, &in, buf)))
				sim_inject(&w.s, &src, 3463, &b, buf, n);
			break;
		case 3:
			sim_run(&w.s, (uint64_t)take(&in) * 40);
			break;
		case 4:
			a_move(&w, &in);
			break;
		case 5: {	/* a peer of B goes silent (its HANDOFF or keepalive
				 * timed out), or the DNS answers a lookup */
			struct hid *h = sim_hid(w.b, pool[take(&in) % NPOOL]);
			if (take(&in) & 1) {
				if (h)
					ihmp_rdv_lost(w.b->ih, h);
			} else {
				dns_answer(&w, &in);
			}
			break;
		}
		default: {	/* a flow at B, to or from a unicast address of the pool */
			const char *peer = pool[take(&in) % 8];
			if (!strcmp(peer, pool[3]))
				break;
			if (take(&in) & 1)
				sim_flow(w.b, pool[3], peer);
			else
				sim_flow_in(w.b, pool[3], peer);
		}
		}
		sim_run(&w.s, 1);
		check(&w);
	}
	sim_free(&w.s);
	return 0;
}
