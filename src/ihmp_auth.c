/*
 * IHMP trust (docs/ihmp.md §7): who may speak for a peer and what it must
 * prove first. Signatures and keys (§7.1, §7.3), the message counter
 * (§7.2), return routability (§7.4), and the budgets that keep what an
 * unauthenticated sender can make small: per-source rate limits, probe
 * tokens, half-open HIDs, bounded address sets (T1-T5). Key rotation and
 * the key commands are in ihmp_keys.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "events.h"
#include "ihmp_int.h"

#define IHMP_RL_RATE		50	/* datagrams per second per source prefix */
#define IHMP_RL_BURST		100
#define IHMP_UNAUTH_RATE	500	/* datagrams per second from all unknown sources */
#define IHMP_UNAUTH_BURST	1000
#define IHMP_PEER_RX_RATE	100	/* datagrams per second naming one keyed peer */
#define IHMP_PEER_RX_BURST	200
#define IHMP_PROBE_RATE		100	/* return-routability probes per second, all peers */
#define IHMP_PROBE_BURST	200
#define IHMP_PEER_PROBE_BURST	16	/* per peer, refilled IHMP_PEER_PROBE_RATE a second: */
#define IHMP_PEER_PROBE_RATE	2	/* one per family, as a dual-stack move needs */
#define IHMP_HALFOPEN_S		120	/* a peer that only said HELLO, and no flow came */
#define IHMP_HALFOPEN_MAX	64	/* such entries at once; more HELLOs wait */
#define IHMP_IDLE_S		120	/* a HID without flows or exchanges ... */
#define IHMP_IDLE_KEYED_S	600	/* ... or, holding a peer's key, this long */
#define IHMP_SWEEP_MS		10000
#define IHMP_COOKIE_MS		120000	/* a challenge stays valid one to two of these */

void ihmp_auth_init(struct ihmp *ih)
{
	uint64_t now = ih_now(ih);

	sign_random(&ih->seed, sizeof(ih->seed));
	sign_random(ih->cookie_key, sizeof(ih->cookie_key));
	ih->cookie_epoch = now / IHMP_COOKIE_MS;
	ih->probe_tokens = IHMP_PROBE_BURST;
	ih->probe_last = now;
	ih->unauth_tokens = IHMP_UNAUTH_BURST;
	ih->unauth_last = now;
	for (size_t i = 0; i < IHMP_RL_BUCKETS; i++) {
		ih->rl[i].tokens = IHMP_RL_BURST;
		ih->rl[i].last = now;
	}
	ih->rx_budget = SIZE_MAX;
}

/* ---- budgets (T4, T5) ---- */

/* A token bucket: refills rate a second up to burst; takes one if it can. */
static bool bucket_take(uint32_t *tokens, uint64_t *last, uint64_t now, uint32_t rate, uint32_t burst)
{
	uint64_t add = (now - *last) * rate / 1000;
	if (add) {
		*tokens = (uint32_t)(*tokens + add > burst ? burst : *tokens + add);
		*last = now;
	}
	if (!*tokens)
		return false;
	(*tokens)--;
	return true;
}

/* The prefix a source shares its bucket with: a /24 or a /56, so that
 * rotating addresses inside one network gains nothing. */
static uint32_t source_slot(const struct ihmp *ih, const struct dime_addr *src)
{
	struct dime_addr pfx = *src;
	if (src->af == AF_INET)
		pfx.a[3] = 0;
	else
		memset(pfx.a + 7, 0, 9);
	return addr_hash(&pfx, ih->seed) % IHMP_RL_BUCKETS;
}

/* Before any parsing, so floods cost little. A slot two sources hash to is
 * shared, never reset (T4): colliding makes a sender slower, not faster. */
bool ihmp_rate_ok(struct ihmp *ih, const struct dime_addr *src)
{
	__typeof__(ih->rl[0]) *b = &ih->rl[source_slot(ih, src)];

	return bucket_take(&b->tokens, &b->last, ih_now(ih), IHMP_RL_RATE, IHMP_RL_BURST);
}

/* After parsing, before the signature costs anything: a message that
 * names a peer whose key we hold draws on that peer's budget, anything
 * else on one budget for all unknown senders. So rotating sources gains a
 * flood nothing, and does not starve a known peer's handoff from its new,
 * still unknown, address; forging a peer's Host ID spends only that
 * peer's budget. */
bool ihmp_budget_ok(struct ihmp *ih, struct hid *h)
{
	uint64_t now = ih_now(ih);
	struct ihmp_peer *p = h && h->key_origin != HID_KEY_NONE ? ihmp_peer_get(ih, h) : NULL;

	if (p) {
		if (!p->rx_last) {
			p->rx_tokens = IHMP_PEER_RX_BURST;
			p->rx_last = now;
		}
		return bucket_take(&p->rx_tokens, &p->rx_last, now, IHMP_PEER_RX_RATE, IHMP_PEER_RX_BURST);
	}
	return bucket_take(&ih->unauth_tokens, &ih->unauth_last, now, IHMP_UNAUTH_RATE, IHMP_UNAUTH_BURST);
}

/* Per claimed address, per peer, and all together (T4, T5). */
bool ihmp_probe_allowed(struct ihmp *ih, struct hid *h, const struct dime_addr *a)
{
	uint64_t now = ih_now(ih);
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	uint32_t tag = addr_hash(a, ih->seed ^ 0x9e3779b9u);
	__typeof__(ih->probed[0]) *c = &ih->probed[tag % IHMP_PROBED_SLOTS];

	if (!p || !addr_is_unicast(a))
		return false;
	if (now - c->since >= 60000 || c->tag != tag) {
		if (now - c->since < 60000 && c->n >= IHMP_PROBES_PER_ADDR)
			goto refuse;	/* a busy slot: shared until its minute is over */
		c->tag = tag;
		c->n = 0;
		c->since = now;
	}
	if (c->n >= IHMP_PROBES_PER_ADDR)
		goto refuse;
	if (!p->probe_last) {
		p->probe_tokens = IHMP_PEER_PROBE_BURST;
		p->probe_last = now;
	}
	if (!bucket_take(&p->probe_tokens, &p->probe_last, now, IHMP_PEER_PROBE_RATE, IHMP_PEER_PROBE_BURST))
		goto refuse;
	if (!bucket_take(&ih->probe_tokens, &ih->probe_last, now, IHMP_PROBE_RATE, IHMP_PROBE_BURST))
		goto refuse;
	c->n++;
	return true;
refuse:
	ih->stats.rx_probe_budget++;
	return false;
}

/* Unauthenticated input would make a HID: a few may wait for a flow to use
 * them, and expire otherwise. */
bool ihmp_half_open_ok(struct ihmp *ih)
{
	return ih->halfopen < IHMP_HALFOPEN_MAX;
}

static void hid_free(struct ihmp *ih, struct hid *h)
{
	struct ihmp_peer *p = h->ihmp;
	if (p && p->was_up) {
		struct ev e;
		ev_begin(&e, "peer-down");
		ev_peer(&e, h);
		ev_end(&e);
	}
	if (h->flags & HID_F_HELLO_ONLY)
		ih->halfopen--;
	ihmp_rotation_done(ih, h);
	ihmp_busy_del(ih, h->handle);
	free(h->ihmp);
	h->ihmp = NULL;
	hid_table_remove(ih->ht, h);
	ih->stats.hids_freed++;
}

static bool hid_busy(const struct hid *h)
{
	const struct ihmp_peer *p = h->ihmp;
	for (int i = 0; p && i < IHMP_PENDING; i++)
		if (p->tx[i].used)
			return true;
	return false;
}

/*
 * HIDs nobody needs (T4): no flow, no exchange in flight, nothing heard
 * for a while; a peer we hold back HELLOs from (6.2) only once that
 * hold-down is over; never one an administrator mapped.
 */
void ihmp_reclaim(struct ihmp *ih, uint64_t now)
{
	uint32_t cur = 0;
	struct hid *h;

	if (now - ih->last_sweep < IHMP_SWEEP_MS)
		return;
	ih->last_sweep = now;
	while ((h = hid_table_next(ih->ht, &cur))) {
		const struct ihmp_peer *p = h->ihmp;
		if ((h->flags & HID_F_HELLO_ONLY) && h->nflows) {
			h->flags &= ~(uint32_t)HID_F_HELLO_ONLY;
			ih->halfopen--;
		}
		if (p && p->rot_pending && !hid_busy(h))
			ihmp_rotation_retry(ih, h, now);
		if (h->nflows || (h->flags & HID_F_MANUAL) || hid_busy(h))
			continue;
		uint64_t seen = p ? p->last_seen : 0, idle_s = h->flags & HID_F_HELLO_ONLY ? IHMP_HALFOPEN_S :
				h->key_origin != HID_KEY_NONE ? IHMP_IDLE_KEYED_S : IHMP_IDLE_S;
		if (now - seen < idle_s * 1000 || (p && p->state == PEER_SILENT && now < p->silent_until))
			continue;
		hid_free(ih, h);
	}
}

/* ---- the HELLO challenge (T2) ---- */

/* Cookie keys turn over every IHMP_COOKIE_MS; the previous one still counts. */
static void cookie_keys(struct ihmp *ih)
{
	uint64_t epoch = ih_now(ih) / IHMP_COOKIE_MS;

	if (epoch == ih->cookie_epoch)
		return;
	if (epoch == ih->cookie_epoch + 1)
		memcpy(ih->cookie_key[1], ih->cookie_key[0], SIGN_MAC_KEY_LEN);
	else
		sign_random(ih->cookie_key[1], SIGN_MAC_KEY_LEN);
	sign_random(ih->cookie_key[0], SIGN_MAC_KEY_LEN);
	ih->cookie_epoch = epoch;
}

/* MAC over what the answer must repeat: where it came from (address and
 * port), whom it speaks for, and the key it offers. Stateless: nothing is
 * kept for a sender until it echoes this from that address. */
void ihmp_cookie(struct ihmp *ih, int which, const struct ihmp_msg *m, const struct dime_addr *src,
		 uint16_t port, uint8_t out[IHMP_NONCE_LEN])
{
	uint8_t in[2 * 17 + 2 + IHMP_KEY_LEN] = { 0 }, *q = in;

	cookie_keys(ih);
	*q++ = src->af;
	memcpy(q, src->a, 16), q += 16;
	*q++ = m->host_id.af;
	memcpy(q, m->host_id.a, 16), q += 16;
	*q++ = (uint8_t)(port >> 8);
	*q++ = (uint8_t)port;
	if (m->has & IHMP_HAS(IHMP_T_PUBKEY))
		memcpy(q, m->pubkey, IHMP_KEY_LEN);
	_Static_assert(SIGN_MAC_LEN == IHMP_NONCE_LEN, "a cookie travels as a nonce");
	sign_mac(ih->cookie_key[which], in, sizeof(in), out);
}

bool ihmp_cookie_ok(struct ihmp *ih, const struct ihmp_msg *m, const struct dime_addr *src, uint16_t port)
{
	uint8_t c[IHMP_NONCE_LEN];

	if (!(m->has & IHMP_HAS(IHMP_T_NONCE_ECHO)))
		return false;
	for (int i = 0; i < 2; i++) {
		ihmp_cookie(ih, i, m, src, port, c);
		if (sign_equal(c, m->nonce_echo, IHMP_NONCE_LEN))
			return true;
	}
	ih->stats.rx_bad_cookie++;
	ev_reject("bad-cookie", src);
	return false;
}

/* ---- address sets (T1, T4) ---- */

void ihmp_cand_add(struct ihmp_peer *p, const struct dime_addr *a)
{
	if (hid_addrs_find(&p->cand, a) >= 0)
		return;
	if (p->cand.n == HID_ADDRS_MAX)
		hid_addrs_drop(&p->cand, &p->cand.a[0]);	/* the oldest claim */
	p->cand.a[p->cand.n++] = *a;
}

bool ihmp_cand_drop(struct ihmp_peer *p, const struct dime_addr *a)
{
	return hid_addrs_drop(&p->cand, a);
}

/* The first address of family af in a set: a primary, never evicted. */
static bool first_of_family(const struct hid_addrs *s, unsigned i)
{
	for (unsigned j = 0; j < i; j++)
		if (s->a[j].af == s->a[i].af)
			return false;
	return true;
}

/* Makes room in a full set: the oldest unreachable address no flow still
 * names goes (else the oldest); in a full active or local set the oldest
 * that is not first of its family (an active one steps down). */
static int make_room(struct ihmp *ih, struct hid *h, enum hid_set_id set)
{
	struct hid_addrs *s = &h->set[set];
	uint32_t now = ih_now_s(ih);
	int pick = -1;

	for (unsigned i = 0; i < s->n && pick < 0; i++)
		if (set == HID_UNREACH ? !ih->env.in_use(ih->env.arg, h, &s->a[i]) : !first_of_family(s, i))
			pick = (int)i;
	if (pick < 0 && set == HID_UNREACH && s->n)
		pick = 0;
	if (pick < 0)
		return -ENOSPC;
	struct dime_addr a = s->a[pick];
	ih->stats.addrs_evicted++;
	if (set == HID_ACTIVE) {
		if (h->set[HID_UNREACH].n == HID_ADDRS_MAX && make_room(ih, h, HID_UNREACH) < 0)
			return -ENOSPC;
		return hid_table_move_addr(ih->ht, h, &a, HID_UNREACH, now);
	}
	return hid_table_del_addr(ih->ht, h, set, &a, now);
}

int ihmp_set_add(struct ihmp *ih, struct hid *h, enum hid_set_id set, const struct dime_addr *a)
{
	uint32_t now = ih_now_s(ih);
	int where = hid_where(h, a);

	if (where == (int)set)
		return 0;
	if (h->set[set].n == HID_ADDRS_MAX && make_room(ih, h, set) < 0)
		return -ENOSPC;
	if (where >= 0 && set != HID_LOCAL && where != HID_LOCAL)
		return hid_table_move_addr(ih->ht, h, a, set, now);
	return hid_table_add_addr(ih->ht, h, set, a, now);
}

/* Whether a, held by another HID o, may go to a peer that just proved it
 * receives there: o never authenticated anyone, or its own peer already
 * said a is gone. A keyed peer that is at a now keeps it. */
static bool can_take(const struct hid *o, const struct dime_addr *a)
{
	return o->key_origin == HID_KEY_NONE || hid_where(o, a) == HID_UNREACH;
}

int ihmp_prove(struct ihmp *ih, struct hid *h, const struct dime_addr *a)
{
	struct hid *o = hid_table_lookup(ih->ht, a);
	struct ihmp_peer *p = ihmp_peer_get(ih, h);

	if (o && o != h) {
		if (!can_take(o, a))
			return -EEXIST;
		hid_table_del_addr(ih->ht, o, (enum hid_set_id)hid_where(o, a), a, ih_now_s(ih));
		if (!o->nflows && !(o->flags & HID_F_MANUAL) && !hid_busy(o) &&
		    !hid_primary(o, AF_UNSPEC) && !o->set[HID_UNREACH].n)
			hid_free(ih, o);
	}
	if (p)
		ihmp_cand_drop(p, a);
	return ihmp_set_add(ih, h, HID_ACTIVE, a);
}

bool ihmp_can_claim(struct ihmp *ih, const struct hid *h, const struct dime_addr *a)
{
	const struct hid *o = hid_table_lookup(ih->ht, a);
	return !o || o == h || can_take(o, a);
}

/* dimed.conf decides which peers we greet: all, none, or listed prefixes. */
bool ihmp_hello_allowed(const struct ihmp *ih, const struct dime_addr *peer)
{
	const struct config *c = ih->conf;
	if (!c || c->hello == CONFIG_HELLO_ALL)
		return true;
	if (c->hello == CONFIG_HELLO_NONE)
		return false;
	for (size_t i = 0; i < c->n_hello_allow; i++)
		if (addr_in_prefix(peer, &c->hello_allow[i].addr, c->hello_allow[i].plen))
			return true;
	return false;
}

/* ---- return routability (§7.4) ---- */

bool ihmp_rr_verified(const struct hid *h, const struct ihmp_peer *p, const struct dime_addr *a)
{
	const struct dime_addr *prim = hid_primary(h, a->af);
	if (prim && addr_eq(prim, a))
		return true;	/* we already send there */
	for (unsigned i = 0; i < p->nverified; i++)
		if (addr_eq(&p->verified[i], a))
			return true;
	return false;
}

void ihmp_rr_add_verified(struct ihmp_peer *p, const struct dime_addr *a)
{
	if (p->nverified == IHMP_VERIFIED_MAX) {
		memmove(p->verified, p->verified + 1, sizeof(p->verified[0]) * (IHMP_VERIFIED_MAX - 1));
		p->nverified--;
	}
	p->verified[p->nverified++] = *a;
}

/* Reachable, as far as we can tell without trying: not link-local; a
 * private address only if we have one in the same private block. */
bool ihmp_probe_reachable(struct ihmp *ih, const struct dime_addr *a, struct dime_addr *src)
{
	const struct rtnl_addr *la;
	size_t n = ih->env.local_addrs(ih->env.arg, &la);
	unsigned plen;

	if (!addr_is_unicast(a))
		return false;
	bool priv = addr_is_private(a, &plen);
	/* A global address we have no route to (a peer's address behind its
	 * NAT, seen from outside): nothing to probe, not a send to retry. */
	if (!priv)
		return ih->env.route_src(ih->env.arg, a, src) == 0 && ih_is_local(ih, src);
	for (size_t i = 0; i < n; i++) {
		if (la[i].addr.af != a->af)
			continue;
		if (!priv || addr_in_prefix(&la[i].addr, a, plen)) {
			*src = la[i].addr;
			return true;
		}
	}
	return false;
}

/* ---- signatures and keys (§7.1-7.3) ---- */


/* The key that signs for a Host ID: a set_local_key binding, else the host key. */
static const struct sign_key *key_for(const struct ihmp *ih, const struct dime_addr *host_id)
{
	for (size_t i = 0; i < ih->nlkeys; i++)
		if (addr_in_prefix(host_id, &ih->lkeys[i].pfx, ih->lkeys[i].plen))
			return &ih->lkeys[i].key;
	return ih->have_key ? &ih->key : NULL;
}

/* Encodes m with a fresh COUNTER and signs it (docs/ihmp.md §7.1-7.2).
 * For a peer that has not ACKed our key rotation the old key signs, and a
 * HELLO carries KEY_ROTATE: the new key vouches for itself over
 * old key || new key || this message's counter (§7.5, T7). */
int ihmp_seal_for(struct ihmp *ih, const struct hid *h, const struct ihmp_msg *m0, uint8_t *buf,
		  size_t cap, bool sign, int af)
{
	struct ihmp_msg m = *m0;
	const struct ihmp_peer *p = h ? h->ihmp : NULL;
	bool rotating = p && p->rot_pending && ih->have_old_key;
	const struct sign_key *k = !sign ? NULL : rotating ? &ih->old_key : key_for(ih, &m.host_id);

	if (k) {
		m.counter = ++ih->counter | (af == AF_INET ? IHMP_COUNTER_V4 : 0);
		m.has |= IHMP_HAS(IHMP_T_COUNTER);
		if (m.type == IHMP_HELLO || (m.type == IHMP_ACK && m.echo_type == IHMP_HELLO)) {
			memcpy(m.pubkey, k->pk, IHMP_KEY_LEN);
			m.has |= IHMP_HAS(IHMP_T_PUBKEY);
		}
		if (m.type == IHMP_HELLO && rotating) {
			uint8_t in[IHMP_ROT_INPUT_LEN];
			ihmp_rot_input(in, k->pk, ih->key.pk, m.counter);
			memcpy(m.rot_pubkey, ih->key.pk, IHMP_KEY_LEN);
			sign_detached(&ih->key, in, sizeof(in), m.rot_proof);
			m.has |= IHMP_HAS(IHMP_T_KEY_ROTATE);
		}
	}
	int n = ihmp_encode(&m, buf, cap);
	if (n < 0 || !k)
		return n;
	uint8_t in[IHMP_SIG_CONTEXT_LEN + IHMP_MAX_MSG], sig[IHMP_SIG_LEN];
	int inlen = ihmp_sig_input(in, sizeof(in), buf, (size_t)n);
	if (inlen < 0)
		return inlen;
	sign_detached(k, in, (size_t)inlen, sig);
	return ihmp_append_sig(buf, (size_t)n, cap, sig);
}

int ihmp_seal(struct ihmp *ih, const struct ihmp_msg *m, uint8_t *buf, size_t cap, bool sign)
{
	return ihmp_seal_for(ih, NULL, m, buf, cap, sign, m->host_id.af);
}

/* A pinned key for any of these addresses (dimed.conf pin-key). */
static const uint8_t *pinned_key(const struct ihmp *ih, const struct dime_addr *a,
				 const struct dime_addr *b)
{
	const struct config *c = ih->conf;
	for (size_t i = 0; c && i < c->n_pins; i++) {
		const struct config_pin *pin = &c->pins[i];
		if (addr_in_prefix(a, &pin->pfx.addr, pin->pfx.plen) ||
		    (b && addr_in_prefix(b, &pin->pfx.addr, pin->pfx.plen)))
			return pin->key;
	}
	return NULL;
}

static bool require_signatures(const struct ihmp *ih)
{
	return ih->conf && ih->conf->require_signatures;
}

/* Counted and told as a replay; false, for ihmp_authenticate to return. */
static bool reject_replay(struct ihmp *ih, const struct dime_addr *src)
{
	ih->stats.rx_replay++;
	ev_reject("replay", src);
	return false;
}

/*
 * docs/ihmp.md §9 steps 6-7: who claims to send this, and can it prove it.
 * h may be NULL (a HELLO from a new peer). Nothing is bound here: a key a
 * message proves it holds (self-signed, or pinned) goes to *proved, for
 * the caller to bind once T2 holds.
 */
bool ihmp_authenticate(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m, const uint8_t *buf,
		       const struct dime_addr *src, bool *bound, const uint8_t **proved)
{
	bool sig = m->has & IHMP_HAS(IHMP_T_SIGNATURE), keyed = h && h->key_origin != HID_KEY_NONE;
	const uint8_t *pin = pinned_key(ih, &m->host_id, src);
	const uint8_t *key = NULL;

	*bound = false;
	*proved = NULL;
	if (keyed)
		key = h->key;
	else if (pin)
		key = pin;
	else if (sig && (m->has & IHMP_HAS(IHMP_T_PUBKEY)))
		key = m->pubkey;	/* self-signed: proves possession, not identity */
	if (!sig) {
		if (key || require_signatures(ih)) {
			ih->stats.rx_unsigned++;
			ev_reject("unsigned", src);
			return false;
		}
		return true;		/* a keyless peer: proof comes from return routability */
	}
	if (!key) {
		if (require_signatures(ih)) {
			ih->stats.rx_unsigned++;
			ev_reject("unsigned", src);
			return false;
		}
		return true;		/* signed by a key we cannot know yet */
	}
	/* A pinned key wins (III-C): a message offering another key for a
	 * pinned address is refused as such. */
	if (pin && (m->has & IHMP_HAS(IHMP_T_PUBKEY)) && !sign_equal(m->pubkey, pin, IHMP_KEY_LEN) &&
	    !(h && h->key_origin == HID_KEY_TOFU)) {
		ih->stats.rx_pin_mismatch++;
		ev_reject("pin-mismatch", src);
		return false;
	}
	uint8_t in[IHMP_SIG_CONTEXT_LEN + IHMP_MAX_MSG];
	int n = ihmp_sig_input(in, sizeof(in), buf, m->signed_len);
	if (n < 0 || !sign_verify(key, in, (size_t)n, buf + m->sig_off)) {
		/* Another copy of a key rotation we already applied: signed by
		 * the old key, announcing the key now bound. Not an attack. */
		if (keyed && (m->has & IHMP_HAS(IHMP_T_KEY_ROTATE)) &&
		    sign_equal(m->rot_pubkey, h->key, IHMP_KEY_LEN))
			ih->stats.rx_replay++;
		else {
			ih->stats.rx_bad_signature++;
			ev_reject("bad-signature", src);
		}
		return false;
	}
	/* The family bit, signed, keeps a message to the family it was sent
	 * in: replayed in the other, it is a replay (§7.2). */
	if (((m->counter & IHMP_COUNTER_V4) != 0) != (src->af == AF_INET))
		return reject_replay(ih, src);
	if (!keyed) {
		*proved = key;
		return true;
	}
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	/* One floor per family: IPv4 and IPv6 take different paths, and a
	 * message may overtake an older one of the other family (§7.2). */
	int fam = src->af == AF_INET6;
	if (p && p->have_counter && (m->counter & ~IHMP_COUNTER_V4) <= p->last_counter[fam])
		return reject_replay(ih, src);
	if (p) {
		ihmp_counter_seen(p, fam, m->counter);
		ih->gen++;
	}
	*bound = true;
	return true;
}

/* A message sent over family fam (0: IPv4, 1: IPv6) with COUNTER c was
 * accepted: that family's floor rises to it. The first sets both: the
 * peer sent every later message of either family after it. */
void ihmp_counter_seen(struct ihmp_peer *p, int fam, uint64_t c)
{
	c &= ~IHMP_COUNTER_V4;
	if (!p->have_counter)
		p->last_counter[0] = p->last_counter[1] = c;
	p->have_counter = true;
	if (c > p->last_counter[fam])
		p->last_counter[fam] = c;
}

/* Binds the key a HELLO (or its ACK) proved, to the HID it created. */
void ihmp_bind_new(struct ihmp *ih, struct hid *h, const uint8_t *key, const struct ihmp_msg *m,
		   const struct dime_addr *src)
{
	if (!key || h->key_origin != HID_KEY_NONE)
		return;
	if (hid_set_key(h, key, pinned_key(ih, &m->host_id, src) ? HID_KEY_PINNED : HID_KEY_TOFU) == 0) {
		ih->stats.keys_bound++;
		struct ev e;
		ev_begin(&e, "key-bound");
		ev_peer(&e, h);
		ev_addr(&e, "address", src);
		ev_str(&e, "origin", hid_key_origin_name(h->key_origin));
		ev_end(&e);
	}
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	if (p)
		ihmp_counter_seen(p, src->af == AF_INET6, m->counter);
	ih->gen++;
}
