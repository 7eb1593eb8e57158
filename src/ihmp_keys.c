/*
 * Keys (docs/ihmp.md §7.3, §7.5, T7): key rotation, both ends, and the
 * key commands of dimectl (show, pin, remove, set-local-key).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "events.h"
#include "ihmp_int.h"

/* What a KEY_ROTATE proof signs (§7.5): context || old || new || counter. */
void ihmp_rot_input(uint8_t in[IHMP_ROT_INPUT_LEN], const uint8_t *old_pk, const uint8_t *new_pk,
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

/* KEY_ROTATE in a HELLO the old key signed (§7.5). */
void ihmp_key_rotate(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m)
{
	uint8_t in[IHMP_ROT_INPUT_LEN];

	if (!(m->has & IHMP_HAS(IHMP_T_KEY_ROTATE)) || !(m->has & IHMP_HAS(IHMP_T_SIGNATURE)) ||
	    h->key_origin == HID_KEY_NONE)
		return;
	ihmp_rot_input(in, h->key, m->rot_pubkey, m->counter);
	if (!sign_verify(m->rot_pubkey, in, sizeof(in), m->rot_proof)) {
		ih->stats.rx_bad_signature++;
		ev_reject("bad-rotation-proof", hid_primary(h, AF_UNSPEC));
		return;
	}
	enum hid_key_origin origin = (enum hid_key_origin)h->key_origin;
	hid_clear_key(h);
	hid_set_key(h, m->rot_pubkey, origin);
	ih->gen++;
	log_info("IHMP: peer HID %u rotated its key", h->handle);
}

/* ---- key commands (dimectl) ---- */

void ihmp_show_self(struct ihmp *ih, struct out *o)
{
	char fp[9];

	if (ih->have_key) {
		sign_pk_fingerprint(ih->key.pk, fp);	/* as peers' keys are named */
		out_str(o, "fingerprint", fp);
	}
	out_u64(o, "listen_port", ih->cfg.port);
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
		out_str(o, "origin", hid_key_origin_name(h->key_origin));
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
	ih->gen++;
	struct ev e;
	ev_begin(&e, "key-bound");
	ev_peer(&e, h);
	ev_str(&e, "origin", hid_key_origin_name(HID_KEY_PINNED));
	ev_end(&e);
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
	ih->gen++;
	struct ihmp_peer *p = h->ihmp;
	if (p)
		p->have_counter = false;
	return 0;
}

/* The rotation HELLO to one peer: an exchange, retransmitted until ACKed. */
static void announce_to(struct ihmp *ih, struct hid *h)
{
	struct dime_addr local;
	const struct dime_addr *to = NULL;

	for (int af = AF_INET; !to && af <= AF_INET6; af += AF_INET6 - AF_INET)
		if (ihmp_local_live(ih, h, af, NULL, &local))
			to = hid_primary(h, af);
	if (!to)
		return;
	ihmp_hello_send(ih, h, &local, to);
}

/* A new host key (T7): every dime peer with live flows hears of it in a
 * HELLO the old key signs, as an exchange; the old key stays until each
 * has ACKed (ihmp_rotation_done). */
static void announce_rotation(struct ihmp *ih)
{
	uint32_t cur = 0;
	struct hid *h;

	while ((h = hid_table_next(ih->ht, &cur))) {
		struct ihmp_peer *p = h->ihmp;
		if (!p || p->state != PEER_OK || h->key_origin == HID_KEY_NONE || !h->nflows)
			continue;
		p->rot_pending = true;
		announce_to(ih, h);
	}
	ihmp_rotation_done(ih, NULL);
}

void ihmp_rotation_done(struct ihmp *ih, struct hid *h)
{
	struct ihmp_peer *p = h ? h->ihmp : NULL;
	uint32_t cur = 0;
	struct hid *g;

	if (p && p->rot_pending) {
		p->rot_pending = false;
		log_info("IHMP: peer HID %u has our new key", h->handle);
	}
	if (!ih->have_old_key)
		return;
	while ((g = hid_table_next(ih->ht, &cur)))
		if (g != h && g->ihmp && ((struct ihmp_peer *)g->ihmp)->rot_pending)
			return;
	sign_wipe(&ih->old_key);
	ih->have_old_key = false;
	log_info("IHMP: every peer has our new key: the old one is gone");
}

/* Its announcement timed out: the peer may be away. Try again in a
 * minute, as long as its flows live (the old key waits for it). */
void ihmp_rotation_retry(struct ihmp *ih, struct hid *h, uint64_t now)
{
	struct ihmp_peer *p = h->ihmp;

	if (!p || !p->rot_pending)
		return;
	if (!p->rot_retry) {
		p->rot_retry = now + IHMP_SILENT_MIN_S * 1000;
		return;
	}
	if (now >= p->rot_retry) {
		p->rot_retry = 0;
		announce_to(ih, h);
	}
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
		if (ih->have_key) {
			if (ih->have_old_key)	/* a rotation still under way: its peers get the newest */
				sign_wipe(&ih->old_key);
			ih->old_key = ih->key;
			ih->have_old_key = true;
		}
		ih->key = k;
		ih->have_key = true;
		log_info("IHMP: new local key in use");
		if (ih->have_old_key)
			announce_rotation(ih);
	}
	sign_wipe(&k);
	return 0;
}
