/*
 * NAT traversal (docs/ihmp.md §8). Every ACK tells the requester the source
 * address and port its request came from (OBSERVED, as STUN does), so each
 * host knows, per peer and per family, whether a NAT is on the path and what
 * its binding is. A change that arrives through a NAT is proven at that
 * binding (address *and* port) before anything is sent there; a binding
 * that changes later is just another proven move. Flows then travel in DATA
 * between the two IHMP endpoints (tunnel.c), and the host behind the NAT
 * keeps its binding alive.
 */
#include <string.h>

#include "config.h"
#include "events.h"
#include "ihmp_int.h"

#define IHMP_KEEPALIVE_MIN_MS	5000	/* adapting down stops here */
#define IHMP_KEEPALIVE_DEFAULT_MS 25000	/* most NATs keep UDP 30 s or more */

static uint32_t keepalive_ms(const struct ihmp *ih)
{
	return ih->conf ? ih->conf->nat_keepalive * 1000u : IHMP_KEEPALIVE_DEFAULT_MS;
}

uint16_t ihmp_peer_port(const struct ihmp *ih, const struct hid *h, const struct dime_addr *dst)
{
	const struct hid_nat *n = h ? hid_nat_c(h, dst->af) : NULL;
	return n && n->have_ep && addr_eq(&n->ep, dst) ? n->ep_port : ih->cfg.port;
}

void ihmp_nat_observed(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req, const struct ihmp_msg *ack)
{
	struct ihmp_peer *p = h->ihmp;
	struct hid_nat *n = hid_nat(h, req->src.af);
	char b[ADDR_STRLEN], c[ADDR_STRLEN];

	if (!p || !(ack->has & IHMP_HAS(IHMP_T_OBSERVED)) || ack->observed.af != req->src.af)
		return;		/* a peer without NAT traversal */
	bool behind = !addr_eq(&ack->observed, &req->src) || ack->observed_port != ih->cfg.port;
	if (behind && n->self && n->have_pub && addr_eq(&p->pub_from, &req->src) &&
	    (!addr_eq(&n->pub, &ack->observed) || n->pub_port != ack->observed_port)) {
		/* Same address here, another binding there: the NAT dropped
		 * ours meanwhile. Hold it open more often from now on. */
		uint32_t ka = p->ka_ms ? p->ka_ms : keepalive_ms(ih);
		p->ka_ms = ka / 2 > IHMP_KEEPALIVE_MIN_MS ? ka / 2 : IHMP_KEEPALIVE_MIN_MS;
		ih->stats.nat_rebinds++;
		log_info("IHMP: our NAT binding toward %s changed (%s port %u): keepalive every %u ms",
			 addr_fmt(&req->dst, b), addr_fmt(&ack->observed, c), ack->observed_port, p->ka_ms);
	}
	if (behind != n->self || !n->have_pub || !addr_eq(&n->pub, &ack->observed) ||
	    n->pub_port != ack->observed_port)
		log_info("IHMP: %s sees us as %s port %u%s", addr_fmt(&req->dst, b),
			 addr_fmt(&ack->observed, c), ack->observed_port, behind ? ": behind a NAT" : "");
	bool changed = behind != n->self;
	n->self = behind;
	n->have_pub = true;
	n->pub = ack->observed;
	n->pub_port = ack->observed_port;
	p->pub_from = req->src;
	p->ka_last = ih_now(ih);
	if (changed)
		ih_hid_changed(ih, h);
}

void ihmp_nat_peer_at(struct ihmp *ih, struct hid *h, const struct dime_addr *src, uint16_t port, bool nat,
		      const struct dime_addr *claimed)
{
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	struct hid_nat *n = hid_nat(h, src->af);

	if (p) {
		p->have_ep_ok = true;
		p->ep_ok = *src;
		p->ep_ok_port = port;
	}
	n->peer = nat;
	n->have_ep = nat;
	if (nat) {
		n->ep = *src;
		n->ep_port = port;
		if (claimed && claimed->af == src->af)
			n->host = *claimed;
	}
}

bool ihmp_nat_proven(const struct ihmp_peer *p, const struct dime_addr *src, uint16_t port)
{
	return p->have_ep_ok && addr_eq(&p->ep_ok, src) && p->ep_ok_port == port;
}

/* Proves src:port as the peer's new binding; applied when the nonce comes
 * back from there (ihmp_hello.c, probe_acked). */
static void rebind_probe(struct ihmp *ih, struct hid *h, const struct dime_addr *src,
			 const struct dime_addr *dst, uint16_t port)
{
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	const struct hid_nat *n = hid_nat_c(h, src->af);

	if (!p || !n->peer || (n->have_ep && addr_eq(&n->ep, src) && n->ep_port == port))
		return;
	struct ihmp_rr *rr = &p->rr[src->af == AF_INET6];
	if (rr->active)
		return;		/* a change is being proven: it will tell */
	if (!ihmp_can_claim(ih, h, src) || !ihmp_probe_allowed(ih, h, src)) {
		ih->stats.rx_probe_budget++;
		return;
	}
	struct ihmp_msg pr;
	ihmp_msg_init(&pr, IHMP_PATH_PROBE, dst);
	sign_random(pr.nonce, IHMP_NONCE_LEN);
	pr.has |= IHMP_HAS(IHMP_T_NONCE);
	*rr = (struct ihmp_rr){ .active = true, .addr = *src, .src = *src, .dst = *dst,
				.port = port, .at_port = port };
	rr->msg.type = IHMP_PATH_PROBE;	/* marks it a rebinding */
	memcpy(rr->nonce, pr.nonce, IHMP_NONCE_LEN);
	ih->stats.probes_rr++;
	ihmp_tx_start_to(ih, h, &pr, dst, src, port);
}

void ihmp_nat_moved(struct ihmp *ih, struct hid *h, const struct dime_addr *src, const struct dime_addr *dst,
		    uint16_t port)
{
	if (ih->rx_bound)
		rebind_probe(ih, h, src, dst, port);
}

void ihmp_nat_data_from(struct ihmp *ih, struct hid *h, const struct dime_addr *src, uint16_t port)
{
	struct dime_addr from;

	/* DATA proves nothing: only a peer we hold a key for, at its NAT's
	 * address, with a new port, is worth a probe (within the budgets). */
	if (h->key_origin == HID_KEY_NONE || hid_where(h, src) != HID_ACTIVE ||
	    !ihmp_local_live(ih, h, src->af, NULL, &from))
		return;
	rebind_probe(ih, h, src, &from, port);
}

void ihmp_nat_rebind_apply(struct ihmp *ih, struct hid *h, const struct ihmp_rr *rr)
{
	char b[ADDR_STRLEN];
	const struct hid_nat *n = hid_nat_c(h, rr->addr.af);
	struct dime_addr host = n->host;

	if (hid_where(h, &rr->addr) != HID_ACTIVE && ihmp_prove(ih, h, &rr->addr) < 0) {
		ih->stats.rx_rejected++;
		ev_reject("address-taken", &rr->addr);
		return;
	}
	hid_promote(h, &rr->addr);
	ev_handoff_begin(h, EV_HO_NAT, &rr->addr);
	ihmp_nat_peer_at(ih, h, &rr->addr, rr->at_port, true, &host);
	ih->stats.nat_rebinds++;
	log_info("IHMP: peer's NAT binding is now %s port %u (proven): following it",
		 addr_fmt(&rr->addr, b), rr->at_port);
	ih_hid_changed(ih, h);
	/* What we sent meanwhile went to a binding that was gone: our senders
	 * to it may sit in backoff, as after a handoff. */
	ihmp_kick(ih, h, rr->addr.af);
}

void ihmp_nat_keepalive(struct ihmp *ih, struct hid *h, uint64_t now)
{
	static const int fams[2] = { AF_INET, AF_INET6 };
	struct ihmp_peer *p = h->ihmp;

	if (!p || p->state != PEER_OK || !h->nflows)
		return;
	uint32_t every = p->ka_ms ? p->ka_ms : keepalive_ms(ih);
	if (!hid_nat_c(h, AF_INET)->self && !hid_nat_c(h, AF_INET6)->self)
		return;
	if (now - p->ka_last < every) {
		ih_peer_due(ih, p->ka_last + every);
		return;
	}
	for (int k = 0; k < 2; k++) {
		const struct dime_addr *to = hid_primary(h, fams[k]);
		struct dime_addr from;
		if (!hid_nat_c(h, fams[k])->self || !to || !ihmp_local_live(ih, h, fams[k], NULL, &from))
			continue;
		struct ihmp_msg pr;
		ihmp_msg_init(&pr, IHMP_PATH_PROBE, &from);
		sign_random(pr.nonce, IHMP_NONCE_LEN);
		pr.has |= IHMP_HAS(IHMP_T_NONCE);
		ihmp_tx_start(ih, h, &pr, &from, to);
		ih->stats.nat_keepalives++;
		p->ka_last = now;
	}
	ih_peer_due(ih, now + every);
}

size_t ihmp_public_addrs(struct ihmp *ih, struct dime_addr *out, struct dime_addr *inside, size_t max)
{
	uint32_t cur = 0;
	struct hid *h;
	size_t n = 0;

	while ((h = hid_table_next(ih->ht, &cur)) && n < max) {
		const struct ihmp_peer *p = h->ihmp;
		for (int k = 0; p && k < 2 && n < max; k++) {
			const struct hid_nat *nat = &h->nat[k];
			bool dup = false;
			/* A binding of an address we left is no longer ours. */
			if (!nat->self || !nat->have_pub || p->pub_from.af != nat->pub.af ||
			    !ih_is_local(ih, &p->pub_from))
				continue;
			for (size_t i = 0; i < n && !dup; i++)
				dup = addr_eq(&out[i], &nat->pub);
			if (!dup) {
				inside[n] = p->pub_from;
				out[n++] = nat->pub;
			}
		}
	}
	return n;
}
