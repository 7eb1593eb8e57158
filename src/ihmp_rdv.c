/*
 * Rendezvous (docs/ihmp.md §11): when both ends move at once, each sends
 * its HANDOFF to where the other was, and both are lost. A peer that told
 * us its DNS name (NAME, signed with its bound key) and keeps it current
 * (docs/ddns.md) is looked up when everything we know of it goes silent.
 * What the name resolves to is a hint: a PATH_PROBE with a fresh nonce
 * goes there, and only an ACK echoing it, signed with the key bound to the
 * peer, makes the address the peer's locator (T1, T9). Then our own
 * HANDOFF, until now aimed at its old address, goes there.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "events.h"
#include "ihmp_int.h"

#define IHMP_RDV_MIN_MS	1000	/* between two lookups of one peer */
#define IHMP_RDV_PROBE_MS	10000	/* a probe exchange is over by then */

void ihmp_set_name(struct ihmp *ih, const char *name)
{
	snprintf(ih->name, sizeof(ih->name), "%s", name ? name : "");
}

void ihmp_set_resolve(struct ihmp *ih, ihmp_resolve_fn *fn, void *arg)
{
	ih->resolve = fn;
	ih->resolve_arg = arg;
}

const char *ihmp_peer_name(const struct hid *h)
{
	const struct ihmp_peer *p = h->ihmp;
	return p && p->name[0] ? p->name : NULL;
}

void ihmp_rdv_put_name(const struct ihmp *ih, struct ihmp_msg *m)
{
	/* Unsigned, a name would be anyone's claim: nobody may use it. */
	if (ih->name[0] && ih->have_key) {
		m->name = ih->name;
		m->name_len = (uint8_t)strlen(ih->name);
	}
}

void ihmp_rdv_learn(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m, const uint8_t *proved)
{
	struct ihmp_peer *p = h ? h->ihmp : NULL;
	char b[ADDR_STRLEN];

	if (!p || !m->name_len || !(m->has & IHMP_HAS(IHMP_T_SIGNATURE)) || h->key_origin == HID_KEY_NONE ||
	    !(ih->rx_bound || (proved && sign_equal(proved, h->key, HID_KEY_LEN))))
		return;
	if (strlen(p->name) == m->name_len && !strncasecmp(p->name, m->name, m->name_len))
		return;
	memcpy(p->name, m->name, m->name_len);
	p->name[m->name_len] = '\0';
	const struct dime_addr *a = hid_primary(h, AF_INET) ? hid_primary(h, AF_INET) : hid_primary(h, AF_INET6);
	log_info("IHMP: peer %s is %s (its NAME, signed with its key)", a ? addr_fmt(a, b) : "?", p->name);
}

void ihmp_rdv_lost(struct ihmp *ih, struct hid *h)
{
	struct ihmp_peer *p = h->ihmp;
	uint64_t now = ih_now(ih);

	if (!p || !p->name[0] || !ih->resolve || (p->rdv_last && now - p->rdv_last < IHMP_RDV_MIN_MS))
		return;
	p->rdv_last = now;
	if (ih->resolve(ih->resolve_arg, p->name, h->handle) == 0)
		ih->stats.rdv_lookups++;
}

/* The address the peer knows us by: our probe's Host ID. */
static const struct dime_addr *known_as(const struct hid *h, const struct dime_addr *src)
{
	return h->set[HID_LOCAL].n ? &h->set[HID_LOCAL].a[0] : src;
}

void ihmp_resolved(struct ihmp *ih, uint64_t cookie, const char *name, const struct dime_addr *addrs,
		   size_t n)
{
	struct hid *h = hid_table_get(ih->ht, (uint32_t)cookie);
	struct ihmp_peer *p = h ? h->ihmp : NULL;

	if (!p || strcasecmp(p->name, name) != 0)
		return;		/* gone, or it told another name since */
	for (size_t i = 0; i < n; i++) {
		const struct dime_addr *a = &addrs[i];
		const struct hid *o = hid_table_lookup(ih->ht, a);
		struct dime_addr src;
		int k = a->af == AF_INET6;
		/* Where we already send (the name is not updated yet), a
		 * probe in flight, someone else's address, ours: nothing. */
		if (p->rdv[k].active && ih_now(ih) >= p->rdv[k].until)
			p->rdv[k].active = false;
		if (!addr_is_unicast(a) || ih_is_local(ih, a) || hid_where(h, a) == HID_ACTIVE || p->rdv[k].active ||
		    (o && o != h) || !ihmp_probe_reachable(ih, a, &src))
			continue;
		if (!ihmp_probe_allowed(ih, h, a)) {
			ih->stats.rx_probe_budget++;
			continue;
		}
		struct ihmp_msg pr;
		ihmp_msg_init(&pr, IHMP_PATH_PROBE, known_as(h, &src));
		sign_random(pr.nonce, IHMP_NONCE_LEN);
		pr.has |= IHMP_HAS(IHMP_T_NONCE);
		p->rdv[k].active = true;
		p->rdv[k].until = ih_now(ih) + IHMP_RDV_PROBE_MS;
		p->rdv[k].addr = *a;
		memcpy(p->rdv[k].nonce, pr.nonce, IHMP_NONCE_LEN);
		ih->stats.probes_rr++;
		ihmp_tx_start_to(ih, h, &pr, &src, a, ih->cfg.port);
	}
}

static bool rdv_probe(const struct ihmp_peer *p, const struct ihmp_tx *req)
{
	const __typeof__(p->rdv[0]) *r = &p->rdv[req->dst.af == AF_INET6];
	return r->active && addr_eq(&r->addr, &req->dst) && !memcmp(r->nonce, req->msg.nonce, IHMP_NONCE_LEN);
}

void ihmp_retarget(struct ihmp *ih, struct hid *h, const struct dime_addr *a)
{
	struct ihmp_peer *p = h->ihmp;

	for (int i = 0; i < IHMP_PENDING; i++) {
		struct ihmp_tx *t = &p->tx[i];
		if (!t->used || t->dst.af != a->af || addr_eq(&t->dst, a) ||
		    (t->msg.type != IHMP_HANDOFF && t->msg.type != IHMP_ADDR_UP && t->msg.type != IHMP_ADDR_DOWN))
			continue;
		t->dst = *a;
		t->port = ih->cfg.port;
		t->tries = 0;		/* a full exchange from here */
		t->due = ih_now(ih);
	}
}

bool ihmp_rdv_acked(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req)
{
	struct ihmp_peer *p = h->ihmp;
	char b[ADDR_STRLEN];

	if (!rdv_probe(p, req))
		return false;
	p->rdv[req->dst.af == AF_INET6].active = false;
	const struct dime_addr *a = &req->dst;
	/* The nonce came back from a (the exchange checked): someone
	 * receives there. The peer's bound key says who. */
	if (!ih->rx_bound) {
		ih->stats.rx_rdv_unproven++;
		ev_reject("rendezvous-unproven", a);
		log_info("IHMP: %s (the name of a peer) answered at %s without the peer's key: not used",
			 p->name, addr_fmt(a, b));
		return true;
	}
	if (ihmp_prove(ih, h, a) < 0) {
		ih->stats.rx_rejected++;
		ev_reject("address-taken", a);
		return true;
	}
	ihmp_rr_add_verified(p, a);
	const struct dime_addr *was = hid_primary(h, a->af);
	struct dime_addr old = was ? *was : *a;
	hid_promote(h, a);
	if (!addr_eq(&old, a))
		ihmp_set_add(ih, h, HID_UNREACH, &old);
	ihmp_nat_peer_at(ih, h, a, ih->cfg.port, false, NULL);	/* reached directly */
	if (hid_where(h, &req->src) < 0)
		ihmp_set_add(ih, h, HID_LOCAL, &req->src);
	ih->stats.rdv_found++;
	log_info("IHMP: found %s at %s through its name (proven with its key)", p->name, addr_fmt(a, b));
	ev_handoff_begin(h, EV_HO_PEER, a);	/* first: docs/datapath.md */
	ih_hid_changed(ih, h);
	ihmp_retarget(ih, h, a);
	ihmp_kick(ih, h, a->af);
	return true;
}

bool ihmp_rdv_timeout(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req)
{
	struct ihmp_peer *p = h->ihmp;
	char b[ADDR_STRLEN];

	if (!rdv_probe(p, req))
		return false;
	p->rdv[req->dst.af == AF_INET6].active = false;
	ih->stats.rx_rdv_unproven++;
	ev_reject("rendezvous-unproven", &req->dst);
	log_info("IHMP: %s resolves to %s, where the peer does not answer: not used", p->name,
		 addr_fmt(&req->dst, b));
	return true;
}
