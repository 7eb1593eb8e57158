/*
 * IHMP trust (docs/ihmp.md §7): who may speak for a peer and what it must
 * prove first. Signatures and keys (§7.1, §7.3), the message counter
 * (§7.2), return routability (§7.4), key rotation (§7.5), and the budgets
 * that keep what an unauthenticated sender can make small: per-source
 * rate limits, probe tokens, half-open HIDs. The key commands of dimectl
 * are here too: they change what this file trusts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ihmp_int.h"

#define IHMP_RL_RATE		50	/* datagrams per second per source */
#define IHMP_RL_BURST		100
#define IHMP_PROBE_RATE		20	/* return-routability probes per second, all peers */
#define IHMP_HALFOPEN_S		120	/* a peer that only said HELLO, and no flow came */
#define IHMP_HALFOPEN_MAX	64	/* such entries at once; more HELLOs wait */
#define IHMP_SWEEP_MS		10000

void ihmp_auth_init(struct ihmp *ih)
{
	sign_random(&ih->seed, sizeof(ih->seed));
	ih->probe_tokens = IHMP_PROBE_RATE;
	ih->probe_last = ih_now(ih);
}

/* ---- budgets ---- */

/* Per-source token bucket, before any parsing: floods cost little. */
bool ihmp_rate_ok(struct ihmp *ih, const struct dime_addr *src)
{
	uint32_t tag = addr_hash(src, ih->seed);
	uint64_t now = ih_now(ih);
	__typeof__(ih->rl[0]) *b = &ih->rl[tag % IHMP_RL_BUCKETS];

	if (b->tag != tag) {
		b->tag = tag;
		b->tokens = IHMP_RL_BURST;
		b->last = now;
	}
	uint64_t add = (now - b->last) * IHMP_RL_RATE / 1000;
	if (add) {
		b->tokens = (uint32_t)(b->tokens + add > IHMP_RL_BURST ? IHMP_RL_BURST : b->tokens + add);
		b->last = now;
	}
	if (!b->tokens)
		return false;
	b->tokens--;
	return true;
}

bool ihmp_probe_token(struct ihmp *ih)
{
	uint64_t now = ih_now(ih);
	uint64_t add = (now - ih->probe_last) * IHMP_PROBE_RATE / 1000;
	if (add) {
		ih->probe_tokens = (uint32_t)(ih->probe_tokens + add > IHMP_PROBE_RATE ?
					      IHMP_PROBE_RATE : ih->probe_tokens + add);
		ih->probe_last = now;
	}
	if (!ih->probe_tokens)
		return false;
	ih->probe_tokens--;
	return true;
}

/* Unauthenticated input would make a HID: a few may wait for a flow to use
 * them, and expire otherwise. */
bool ihmp_half_open_ok(struct ihmp *ih)
{
	return ih->halfopen < IHMP_HALFOPEN_MAX;
}

/* Entries only an unauthenticated HELLO made, and no flow uses. */
void ihmp_half_open_sweep(struct ihmp *ih, uint64_t now)
{
	uint32_t cur = 0, secs = (uint32_t)(now / 1000);
	struct hid *h;

	if (now - ih->last_sweep < IHMP_SWEEP_MS)
		return;
	ih->last_sweep = now;
	while ((h = hid_table_next(ih->ht, &cur))) {
		if (!(h->flags & HID_F_HELLO_ONLY))
			continue;
		if (h->nflows) {
			h->flags &= ~(uint32_t)HID_F_HELLO_ONLY;
			ih->halfopen--;
			continue;
		}
		if (secs - h->created < IHMP_HALFOPEN_S)
			continue;
		ih->halfopen--;
		ihmp_busy_del(ih, h->handle);
		free(h->ihmp);
		h->ihmp = NULL;
		hid_table_remove(ih->ht, h);
	}
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

	if (addr_is_linklocal(a))
		return false;
	bool priv = addr_is_private(a, &plen);
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

/* ---- signatures and keys (§7.1-7.3, §7.5) ---- */

/* What a KEY_ROTATE proof signs (§7.5): context || old || new || counter. */
#define ROT_INPUT_LEN (IHMP_ROT_CONTEXT_LEN + 2 * IHMP_KEY_LEN + 8)
static void rot_input(uint8_t in[ROT_INPUT_LEN], const uint8_t *old_pk, const uint8_t *new_pk,
		      uint64_t counter)
{
	uint8_t *p = in;
	memcpy(p, IHMP_ROT_CONTEXT, IHMP_ROT_CONTEXT_LEN);
	p += IHMP_ROT_CONTEXT_LEN;
	memcpy(p, old_pk, IHMP_KEY_LEN);
	p += IHMP_KEY_LEN;
	memcpy(p, new_pk, IHMP_KEY_LEN);
	p += IHMP_KEY_LEN;
	for (int i = 7; i >= 0; i--)
		*p++ = (uint8_t)(counter >> (8 * i));
}

/* The key that signs for a Host ID: a set_local_key binding, else the host key. */
static const struct sign_key *key_for(const struct ihmp *ih, const struct dime_addr *host_id)
{
	for (size_t i = 0; i < ih->nlkeys; i++)
		if (addr_in_prefix(host_id, &ih->lkeys[i].pfx, ih->lkeys[i].plen))
			return &ih->lkeys[i].key;
	return ih->have_key ? &ih->key : NULL;
}

/* Encodes m with a fresh COUNTER and signs it (docs/ihmp.md §7.1-7.2). */
int ihmp_seal(struct ihmp *ih, const struct ihmp_msg *m0, uint8_t *buf, size_t cap)
{
	struct ihmp_msg m = *m0;
	const struct sign_key *k = key_for(ih, &m.host_id);

	if (k) {
		m.counter = ++ih->counter;
		m.has |= IHMP_HAS(IHMP_T_COUNTER);
		if (m.type == IHMP_HELLO || (m.type == IHMP_ACK && m.echo_type == IHMP_HELLO)) {
			memcpy(m.pubkey, k->pk, IHMP_KEY_LEN);
			m.has |= IHMP_HAS(IHMP_T_PUBKEY);
		}
		if (m.type == IHMP_HELLO && ih->rot_new) {
			/* KEY_ROTATE: the new key vouches for itself over
			 * old key || new key || this message's counter (§7.5). */
			uint8_t in[ROT_INPUT_LEN];
			rot_input(in, k->pk, ih->rot_new->pk, m.counter);
			memcpy(m.rot_pubkey, ih->rot_new->pk, IHMP_KEY_LEN);
			sign_detached(ih->rot_new, in, sizeof(in), m.rot_proof);
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

/*
 * docs/ihmp.md §9 steps 6-7: who claims to send this, and can it prove it.
 * h may be NULL (a HELLO from a new peer). On success *tofu holds a key the
 * message proved it holds and that may be bound to a new HID (or NULL).
 */
bool ihmp_authenticate(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m, const uint8_t *buf,
		       const struct dime_addr *src, const uint8_t **tofu)
{
	bool sig = m->has & IHMP_HAS(IHMP_T_SIGNATURE);
	const uint8_t *pin = pinned_key(ih, &m->host_id, src);
	const uint8_t *key = NULL;

	*tofu = NULL;
	if (h && h->key_origin != HID_KEY_NONE)
		key = h->key;
	else if (pin)
		key = pin;
	else if (sig && (m->has & IHMP_HAS(IHMP_T_PUBKEY)))
		key = m->pubkey;	/* self-signed: proves possession, not identity */
	if (!sig) {
		if (key || require_signatures(ih)) {
			ih->stats.rx_unsigned++;
			return false;
		}
		return true;		/* a keyless peer: the paper's baseline */
	}
	if (!key) {
		if (require_signatures(ih)) {
			ih->stats.rx_unsigned++;
			return false;
		}
		return true;		/* signed by a key we cannot know yet */
	}
	/* A pinned key wins (III-C): a message offering another key for a
	 * pinned address is refused as such. */
	if (pin && (m->has & IHMP_HAS(IHMP_T_PUBKEY)) && !sign_equal(m->pubkey, pin, IHMP_KEY_LEN) &&
	    !(h && h->key_origin == HID_KEY_TOFU)) {
		ih->stats.rx_pin_mismatch++;
		return false;
	}
	uint8_t in[IHMP_SIG_CONTEXT_LEN + IHMP_MAX_MSG];
	int n = ihmp_sig_input(in, sizeof(in), buf, m->signed_len);
	if (n < 0 || !sign_verify(key, in, (size_t)n, buf + m->sig_off)) {
		/* Another copy of a key rotation we already applied: signed by
		 * the old key, announcing the key now bound. Not an attack. */
		if (h && (m->has & IHMP_HAS(IHMP_T_KEY_ROTATE)) &&
		    sign_equal(m->rot_pubkey, h->key, IHMP_KEY_LEN))
			ih->stats.rx_replay++;
		else
			ih->stats.rx_bad_signature++;
		return false;
	}
	struct ihmp_peer *p = h ? h->ihmp : NULL;
	if (p && p->have_counter && m->counter <= p->last_counter) {
		ih->stats.rx_replay++;
		return false;
	}
	if (h && h->key_origin == HID_KEY_NONE) {
		if (hid_set_key(h, key, pin ? HID_KEY_PINNED : HID_KEY_TOFU) == 0)
			ih->stats.keys_bound++;
	} else if (!h) {
		*tofu = key;
	}
	if (h && (p = ihmp_peer_get(ih, h))) {
		p->have_counter = true;
		p->last_counter = m->counter;
	}
	return true;
}

/* Binds the key a HELLO (or its ACK) proved, to the HID it created. */
void ihmp_bind_new(struct ihmp *ih, struct hid *h, const uint8_t *key, const struct ihmp_msg *m,
		   const struct dime_addr *src)
{
	if (!key || h->key_origin != HID_KEY_NONE)
		return;
	if (hid_set_key(h, key, pinned_key(ih, &m->host_id, src) ? HID_KEY_PINNED : HID_KEY_TOFU) == 0)
		ih->stats.keys_bound++;
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	if (p) {
		p->have_counter = true;
		p->last_counter = m->counter;
	}
}

/* KEY_ROTATE in a HELLO the old key signed (§7.5). */
void ihmp_key_rotate(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m)
{
	uint8_t in[ROT_INPUT_LEN];

	if (!(m->has & IHMP_HAS(IHMP_T_KEY_ROTATE)) || !(m->has & IHMP_HAS(IHMP_T_SIGNATURE)) ||
	    h->key_origin == HID_KEY_NONE)
		return;
	rot_input(in, h->key, m->rot_pubkey, m->counter);
	if (!sign_verify(m->rot_pubkey, in, sizeof(in), m->rot_proof)) {
		ih->stats.rx_bad_signature++;
		return;
	}
	enum hid_key_origin origin = (enum hid_key_origin)h->key_origin;
	hid_clear_key(h);
	hid_set_key(h, m->rot_pubkey, origin);
	log_info("IHMP: peer HID %u rotated its key", h->handle);
}

/* ---- key commands (dimectl) ---- */

static const char *origin_name(uint8_t o)
{
	return o == HID_KEY_PINNED ? "pinned" : o == HID_KEY_TOFU ? "tofu" : "none";
}

void ihmp_show_keys(struct ihmp *ih, struct out *o)
{
	char b64[45], b[ADDR_STRLEN];
	uint32_t cur = 0;
	struct hid *h;

	out_obj_begin(o, "local");
	if (ih->have_key) {
		sign_pk_b64(ih->key.pk, b64);
		out_str(o, "public_key", b64);
	}
	out_arr_begin(o, "bindings");
	for (size_t i = 0; i < ih->nlkeys; i++) {
		out_obj_begin(o, NULL);
		char pfx[ADDR_STRLEN + 8];
		snprintf(pfx, sizeof(pfx), "%s/%u", addr_fmt(&ih->lkeys[i].pfx, b), ih->lkeys[i].plen);
		out_str(o, "prefix", pfx);
		sign_pk_b64(ih->lkeys[i].key.pk, b64);
		out_str(o, "public_key", b64);
		out_obj_end(o);
	}
	out_arr_end(o);
	out_obj_end(o);
	out_arr_begin(o, "peers");
	while ((h = hid_table_next(ih->ht, &cur))) {
		out_obj_begin(o, NULL);
		out_u64(o, "hid", h->handle);
		const struct dime_addr *a = hid_primary(h, AF_UNSPEC);
		out_str(o, "address", a ? addr_fmt(a, b) : "-");
		out_str(o, "origin", origin_name(h->key_origin));
		if (h->key_origin != HID_KEY_NONE) {
			sign_pk_b64(h->key, b64);
			out_str(o, "key", b64);
		}
		out_str(o, "signalling", ihmp_peer_state(h));
		out_obj_end(o);
	}
	out_arr_end(o);
}

int ihmp_key_pin(struct ihmp *ih, const struct dime_addr *peer, const char *b64, char *err, size_t n)
{
	uint8_t pk[IHMP_KEY_LEN];
	struct hid *h = hid_table_lookup(ih->ht, peer);

	if (sign_pk_from_b64(pk, b64) < 0) {
		snprintf(err, n, "not a base64 Ed25519 public key: \"%s\"", b64);
		return -EINVAL;
	}
	if (!h) {
		snprintf(err, n, "no peer with address %s (pin-key in dimed.conf pins ahead of time)",
			 addr_fmt(peer, (char[ADDR_STRLEN]){ 0 }));
		return -ENOENT;
	}
	hid_clear_key(h);
	hid_set_key(h, pk, HID_KEY_PINNED);
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	if (p)
		p->have_counter = false;	/* a new key starts a new counter */
	return 0;
}

int ihmp_key_remove(struct ihmp *ih, const struct dime_addr *peer, char *err, size_t n)
{
	struct hid *h = hid_table_lookup(ih->ht, peer);
	if (!h) {
		snprintf(err, n, "no peer with address %s", addr_fmt(peer, (char[ADDR_STRLEN]){ 0 }));
		return -ENOENT;
	}
	hid_clear_key(h);
	struct ihmp_peer *p = h->ihmp;
	if (p)
		p->have_counter = false;
	return 0;
}

/* A new host key is announced to every dime peer in a HELLO the old key
 * signs (KEY_ROTATE). */
static void announce_rotation(struct ihmp *ih, const struct sign_key *k)
{
	uint32_t cur = 0;
	struct hid *h;

	ih->rot_new = k;
	while ((h = hid_table_next(ih->ht, &cur))) {
		struct ihmp_peer *p = h->ihmp;
		struct dime_addr local;
		const struct dime_addr *to = NULL;
		if (!p || p->state != PEER_OK)
			continue;
		for (int af = AF_INET; !to && af <= AF_INET6; af += AF_INET6 - AF_INET)
			if (ihmp_local_live(ih, h, af, NULL, &local))
				to = hid_primary(h, af);
		if (!to)
			continue;
		struct ihmp_msg m;
		ihmp_msg_init(&m, IHMP_HELLO, &local);
		ihmp_put_addrs(ih, &m);
		/* No retransmission under the old key once we switch: send it
		 * a few times instead. */
		for (int t = 0; t < 3; t++)
			ihmp_xmit(ih, &local, to, ih->cfg.port, &m);
	}
	ih->rot_new = NULL;
}

int ihmp_set_local_key(struct ihmp *ih, const char *path, const struct config_prefix *pfx,
		       size_t npfx, char *err, size_t n)
{
	struct sign_key k;
	int r;

	if (!strcmp(path, "generate"))
		sign_generate(&k);
	else if ((r = sign_load_file(&k, path, err, n)) < 0)
		return r;
	for (size_t i = 0; i < npfx; i++) {
		size_t j = 0;
		while (j < ih->nlkeys && !(addr_eq(&ih->lkeys[j].pfx, &pfx[i].addr) &&
					   ih->lkeys[j].plen == pfx[i].plen))
			j++;
		if (j == IHMP_LOCAL_KEYS_MAX) {
			snprintf(err, n, "at most %d key bindings", IHMP_LOCAL_KEYS_MAX);
			sign_wipe(&k);
			return -ENOSPC;
		}
		ih->lkeys[j].pfx = pfx[i].addr;
		ih->lkeys[j].plen = pfx[i].plen;
		ih->lkeys[j].key = k;
		if (j == ih->nlkeys)
			ih->nlkeys++;
	}
	if (npfx == 0) {
		if (ih->have_key)
			announce_rotation(ih, &k);
		sign_wipe(&ih->key);
		ih->key = k;
		ih->have_key = true;
		log_info("IHMP: new local key in use");
	}
	sign_wipe(&k);
	return 0;
}
