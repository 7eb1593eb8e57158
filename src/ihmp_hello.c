/*
 * HELLO and PATH_PROBE, both ends (docs/ihmp.md §5.1-§5.2, paper III-B1):
 * the first flow to a peer greets it; the greeting's ADDRS list tells the
 * other's addresses, which are probed before they carry anything.
 */
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "ihmp_int.h"

/* ---- HELLO ---- */

void ihmp_hello_send(struct ihmp *ih, struct hid *h, const struct dime_addr *from,
		     const struct dime_addr *to)
{
	struct ihmp_msg m;

	ihmp_msg_init(&m, IHMP_HELLO, from);
	ihmp_put_addrs(ih, &m);
	ihmp_rdv_put_name(ih, &m);
	/* Its echo in the ACK proves the answer came from where we sent. */
	sign_random(m.nonce, IHMP_NONCE_LEN);
	m.has |= IHMP_HAS(IHMP_T_NONCE);
	ihmp_tx_start(ih, h, &m, from, to);
}

/* From the datapath (st_peer_fn): we opened a flow to a peer. */
void ihmp_peer_flow(void *arg, struct hid *h, const struct dime_addr *local,
		    const struct dime_addr *remote, bool created)
{
	struct ihmp *ih = arg;
	struct ihmp_peer *p = ihmp_peer_get(ih, h);

	(void)created;
	if (!p || p->state == PEER_OK || p->state == PEER_HELLO)
		return;
	if (p->state == PEER_SILENT && ih_now(ih) < p->silent_until)
		return;		/* no HELLO storms at hosts without dimed */
	if (!ihmp_hello_allowed(ih, remote))
		return;
	p->challenges = 0;
	ihmp_peer_set_state(ih, h, PEER_HELLO);
	ihmp_hello_send(ih, h, local, remote);
}

/* After a restart (ihmp_peer_restore): each peer that answered before is
 * greeted again, signed, from where it knows us, in each family we know it
 * in: one of its addresses may have gone while we were down (without a
 * flow of that family it told us nothing), and silence there must not
 * hide that it answers in the other. Its state stays "dime":
 * a peer that moved while we were down does not answer here, and its own
 * HANDOFF, retransmitted, is what reaches us then. */
unsigned ihmp_reconfirm(struct ihmp *ih)
{
	uint32_t cur = 0;
	unsigned n = 0;
	struct hid *h;

	while ((h = hid_table_next(ih->ht, &cur))) {
		struct ihmp_peer *p = h->ihmp;
		if (!p || p->state != PEER_OK)
			continue;
		/* Our addresses that went while we were down: handed off from
		 * now, as if they went now (ihmp_process_events). */
		const struct hid_addrs *l = &h->set[HID_LOCAL];
		for (unsigned i = 0; i < l->n; i++)
			if (!ih_is_local(ih, &l->a[i]))
				ihmp_addr_event(ih, &(struct rtnl_addr){ .addr = l->a[i] }, false);
		for (int i = 0; i < 2; i++) {
			int af = i ? AF_INET6 : AF_INET;
			const struct hid_nat *nat = hid_nat_c(h, af);
			const struct dime_addr *to = nat->have_ep ? &nat->ep : hid_primary(h, af);
			struct dime_addr from;
			if (!to || (!ihmp_local_live(ih, h, af, NULL, &from) &&
				    ih->env.route_src(ih->env.arg, to, &from) < 0))
				continue;
			p->challenges = 0;
			ihmp_hello_send(ih, h, &from, to);
			n++;
		}
		/* Our senders to it backed off while we were down (its ACKs
		 * met our table without us): they resume now. */
		ihmp_kick(ih, h, AF_INET);
		ihmp_kick(ih, h, AF_INET6);
	}
	return n;
}

/* A path probe of a with a fresh nonce: its echo from a proves it (T1). */
static void probe(struct ihmp *ih, struct hid *h, const struct dime_addr *host_id,
		  const struct dime_addr *src, const struct dime_addr *a)
{
	struct ihmp_msg pr;

	ihmp_msg_init(&pr, IHMP_PATH_PROBE, host_id);
	sign_random(pr.nonce, IHMP_NONCE_LEN);
	pr.has |= IHMP_HAS(IHMP_T_NONCE);
	ihmp_tx_start(ih, h, &pr, src, a);
}

/* A peer's advertised addresses (III-B1) replace its candidates (T1):
 * usable unicast ones only, none another peer holds; probe those that
 * may be reachable, within the budgets. */
static void learn_addrs(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
			const struct dime_addr *known_as, bool with_probes)
{
	struct ihmp_peer *p = ihmp_peer_get(ih, h);

	if (!p)
		return;
	p->cand.n = 0;
	for (unsigned i = 0; i < m->naddrs; i++) {
		const struct dime_addr *a = &m->addrs[i];
		const struct hid *o = hid_table_lookup(ih->ht, a);
		struct dime_addr src;
		if (!addr_is_unicast(a) || hid_where(h, a) >= 0 || (o && o != h))
			continue;	/* unusable, known, or someone else's */
		ihmp_cand_add(p, a);
		/* Host ID: an address the peer knows us by, whatever the
		 * probe's family: the peer maps nothing else to us yet. */
		if (with_probes && ihmp_probe_reachable(ih, a, &src) && ihmp_probe_allowed(ih, h, a))
			probe(ih, h, known_as, &src, a);
	}
}

/*
 * One host, one HID (Fig. 3). The datapath makes a HID per unknown peer
 * address, so a dual-stack host whose flows of both families start before
 * its first HELLO lands has two. Once both have proved the same key, the
 * ADDRS list of a signed HELLO or ACK names the other: fold it into h.
 * A keyless HID never folds: an address list alone proves nothing.
 */
static void fold_same_host(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m)
{
	char b[ADDR_STRLEN];

	if (h->key_origin == HID_KEY_NONE || !(m->has & IHMP_HAS(IHMP_T_SIGNATURE)))
		return;
	for (unsigned i = 0; i < m->naddrs; i++) {
		struct hid *g = hid_table_lookup(ih->ht, &m->addrs[i]);
		if (!g || g == h || g->key_origin == HID_KEY_NONE ||
		    !sign_equal(g->key, h->key, HID_KEY_LEN))
			continue;
		struct ihmp_peer *p = ihmp_peer_get(ih, h), *q = g->ihmp;
		if (!p)
			return;
		uint32_t gone = g->handle, hello_only = g->flags & HID_F_HELLO_ONLY;
		g->ihmp = NULL;
		int r = ih->env.fold_hid(ih->env.arg, h, g);
		if (r < 0) {
			g->ihmp = q;
			log_info("IHMP: HIDs %u and %u share a key but cannot fold: %s", h->handle, gone,
				 strerror(-r));
			continue;
		}
		if (q) {
			/* Its exchanges in flight go on from the survivor. */
			for (int j = 0, k = 0; j < IHMP_PENDING; j++) {
				if (!q->tx[j].used)
					continue;
				while (k < IHMP_PENDING && p->tx[k].used)
					k++;
				if (k == IHMP_PENDING)
					break;
				p->tx[k] = q->tx[j];
				ihmp_busy_add(ih, h->handle);
			}
			for (int j = 0; q->have_counter && j < 2; j++)
				if (!p->have_counter || q->last_counter[j] > p->last_counter[j])
					p->last_counter[j] = q->last_counter[j];
			p->have_counter |= q->have_counter;
			for (int j = 0; j < 2; j++)
				if (!p->rr[j].active)
					p->rr[j] = q->rr[j];
			for (unsigned j = 0; j < q->nverified; j++)
				ihmp_rr_add_verified(p, &q->verified[j]);
			free(q);
		}
		ihmp_busy_del(ih, gone);
		if (hello_only)
			ih->halfopen--;
		if ((h->flags & HID_F_HELLO_ONLY) && h->nflows) {
			h->flags &= ~(uint32_t)HID_F_HELLO_ONLY;
			ih->halfopen--;
		}
		ih->stats.folded++;
		log_info("IHMP: HID %u is the same host as HID %u (%s, same key): folded", gone, h->handle,
			 addr_fmt(&m->addrs[i], b));
	}
}

/* The answer to a HELLO from an address nobody proved yet (T2): a cookie
 * it must echo from there. Nothing is kept. */
static void challenge(struct ihmp *ih, const struct ihmp_msg *m, const struct dime_addr *src,
		      const struct dime_addr *dst, uint16_t port)
{
	struct ihmp_msg a;

	ihmp_msg_init(&a, IHMP_ACK, dst);
	a.seq = m->seq;
	a.echo_type = IHMP_HELLO;
	a.has |= IHMP_HAS(IHMP_T_ECHO) | IHMP_HAS(IHMP_T_NONCE);
	ihmp_cookie(ih, 0, m, src, port, a.nonce);
	if (m->has & IHMP_HAS(IHMP_T_NONCE)) {
		memcpy(a.nonce_echo, m->nonce, IHMP_NONCE_LEN);
		a.has |= IHMP_HAS(IHMP_T_NONCE_ECHO);
	}
	ih->stats.rx_challenged++;
	ihmp_xmit(ih, NULL, dst, src, port, &a);
}

/* The first address of family af a HELLO advertises: what the peer has
 * behind its NAT. */
static const struct dime_addr *claimed_addr(const struct ihmp_msg *m, int af)
{
	for (unsigned i = 0; i < m->naddrs; i++)
		if (m->addrs[i].af == af)
			return &m->addrs[i];
	return NULL;
}

/*
 * A HELLO (5.1). From a peer whose key we hold (h keyed, signature
 * verified): a greeting again, its source only a candidate. From anyone
 * else it is a first contact for the address it came from: proven by the
 * challenge first, then that address is active, the key it proved bound.
 */
void ihmp_on_hello(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m, const struct dime_addr *src,
		   const struct dime_addr *dst, uint16_t port, const uint8_t *proved)
{
	uint16_t flags = 0;
	bool own = false;

	/* NAT detection (III-D): the datagram's source is not among the
	 * addresses the sender says it has. */
	for (unsigned i = 0; i < m->naddrs && !own; i++)
		own = addr_eq(&m->addrs[i], src);
	if (!own) {
		flags |= IHMP_F_ND;
		ih->stats.rx_nat_detected++;
	}
	if (!ih->rx_bound) {
		if (!ihmp_cookie_ok(ih, m, src, port)) {
			challenge(ih, m, src, dst, port);
			return;
		}
		if (!h) {
			if (!ihmp_half_open_ok(ih)) {
				ih->stats.rx_rate_limited++;
				return;
			}
			if (hid_table_create(ih->ht, ih_now_s(ih), &h) < 0)
				return;
			h->flags |= HID_F_HELLO_ONLY;
			ih->halfopen++;
		}
		if (ihmp_prove(ih, h, src) < 0) {
			ih->stats.rx_rejected++;
			ev_reject("address-taken", src);
			return;
		}
		ihmp_bind_new(ih, h, proved, m, src);
	}
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	if (!p)
		return;
	p->last_seen = ih_now(ih);
	ihmp_rdv_learn(ih, h, m, proved);
	/* A known peer greeting from a new address (it moved while its first
	 * HELLO was in flight): unproven until it claims it and we probe it. */
	if (hid_where(h, src) < 0)
		ihmp_cand_add(p, src);
	if (hid_where(h, dst) < 0)
		ihmp_set_add(ih, h, HID_LOCAL, dst);
	/* Where the peer is (§8): a first contact proved its address and port
	 * (the cookie covers both); a greeting from elsewhere is proven first. */
	if (!ih->rx_bound)
		ihmp_nat_peer_at(ih, h, src, port, !own, claimed_addr(m, src->af));
	else if (hid_where(h, src) == HID_ACTIVE && !own)
		ihmp_nat_moved(ih, h, src, dst, port);
	bool again = ih->rx_bound && p->state == PEER_OK;
	ihmp_peer_set_state(ih, h, PEER_OK);
	ihmp_send_ack(ih, h, m, dst, src, port, flags | (m->flags & IHMP_F_NF), true);
	if (!(m->flags & IHMP_F_NF))	/* NAT forced: a plain one-to-one mapping, no more signalling */
		learn_addrs(ih, h, m, dst, true);
	fold_same_host(ih, h, m);
	ihmp_route_moves(ih, h);	/* where our packets to it leave from, for later moves */
	ih_hid_changed(ih, h);
	/* A signed greeting from a peer we knew: its dimed restarted
	 * (ihmp_reconfirm), and what it dropped meanwhile left our senders
	 * to it backing off. They resume now, not on their timers. */
	if (again) {
		ihmp_kick(ih, h, AF_INET);	/* both: one HELLO greets for all families */
		ihmp_kick(ih, h, AF_INET6);
	}
}

static void hello_timeout(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req);

static void hello_acked(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req,
			const struct ihmp_msg *ack, const struct dime_addr *src, const uint8_t *proved)
{
	struct ihmp_peer *p = h->ihmp;
	struct dime_addr live;

	if (ack->has & IHMP_HAS(IHMP_T_NONCE)) {
		/* A challenge (T2): the same HELLO again, echoing it. */
		if (p->challenges++ >= IHMP_CHALLENGES_MAX) {
			hello_timeout(ih, h, req);
			return;
		}
		struct ihmp_msg m = req->msg;
		memcpy(m.nonce_echo, ack->nonce, IHMP_NONCE_LEN);
		m.has |= IHMP_HAS(IHMP_T_NONCE_ECHO);
		sign_random(m.nonce, IHMP_NONCE_LEN);
		ihmp_tx_start(ih, h, &m, &req->src, &req->dst);
		return;
	}
	p->challenges = 0;
	p->last_seen = ih_now(ih);
	ihmp_peer_set_state(ih, h, PEER_OK);
	if (p->rot_pending)
		ihmp_rotation_done(ih, h);	/* it ACKed a HELLO that carried our new key */
	/* The ACK echoed our nonce from where the flow goes: its key is the
	 * peer's (T2). */
	ihmp_bind_new(ih, h, proved, ack, src);
	ihmp_rdv_learn(ih, h, ack, proved);
	/* We moved while the HELLO was in flight (it went out again from
	 * here): the address events skipped this peer, so hand off now.
	 * Else the peer reaches us where it answered. */
	if (!ihmp_local_live(ih, h, req->src.af, NULL, &live) && hid_where(h, &req->src) != HID_LOCAL)
		ihmp_addr_up(ih, h, &req->src);
	else
		ihmp_known_at(ih, h, &req->src);
	if (hid_where(h, src) != HID_ACTIVE)
		ihmp_prove(ih, h, src);
	learn_addrs(ih, h, ack, &req->msg.host_id, false);
	fold_same_host(ih, h, ack);
	ihmp_route_moves(ih, h);
	ih_hid_changed(ih, h);
}

static void hello_timeout(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req)
{
	struct ihmp_peer *p = h->ihmp;
	char b[ADDR_STRLEN];

	if (p->restored_at) {
		/* Restored after our restart, and silent where we knew it: it
		 * moved while we were down. What we knew of its addresses
		 * must not steer packets: none is active until it tells us. */
		p->restored_at = 0;
		while (h->set[HID_ACTIVE].n) {
			struct dime_addr a = h->set[HID_ACTIVE].a[0];
			if (hid_table_move_addr(ih->ht, h, &a, HID_UNREACH, ih_now_s(ih)) < 0)
				hid_table_del_addr(ih->ht, h, HID_ACTIVE, &a, ih_now_s(ih));
		}
		log_info("IHMP: %s does not answer since our restart: its addresses are no longer used",
			 addr_fmt(&req->dst, b));
		ih_hid_changed(ih, h);
		return;
	}
	if (p->state == PEER_OK) {	/* it answered something else meanwhile: a dime peer */
		ihmp_rotation_retry(ih, h, ih_now(ih));
		return;
	}
	ihmp_peer_set_state(ih, h, PEER_SILENT);
	log_info("IHMP: %s does not answer: not a dime peer (next HELLO in %u s at the earliest)",
		 addr_fmt(&req->dst, b), p->silent_s);
}

const struct ihmp_exchange ihmp_x_hello = { IHMP_RTO_MS, hello_acked, hello_timeout, 0, 0 };

/* ---- PATH_PROBE ---- */

/* A probe of one of our addresses: answer it. Its source proves nothing
 * (T1): only our own probes, answered, make a peer address active. */
void ihmp_on_probe(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
		   const struct dime_addr *src, const struct dime_addr *dst, uint16_t port)
{
	if (ih->rx_bound && hid_where(h, dst) < 0)
		ihmp_set_add(ih, h, HID_LOCAL, dst);	/* the peer reaches us here */
	ihmp_send_ack(ih, h, m, dst, src, port, 0, false);
	/* A peer behind a NAT probes from a new binding (its NAT dropped the
	 * old one, or gave it another address): prove it and follow (§8). */
	if (hid_nat_c(h, src->af)->peer)
		ihmp_nat_moved(ih, h, src, dst, port);
	/* The peer probes from an address of its we have not proven: prove it
	 * ourselves (a dual-stack peer's other family, typically). */
	else if (ih->rx_bound && hid_where(h, src) < 0 && ihmp_probe_allowed(ih, h, src))
		probe(ih, h, h->set[HID_LOCAL].n ? &h->set[HID_LOCAL].a[0] : dst, dst, src);
	/* A nonce probe of an address we just claimed means the peer has our
	 * request and is checking it (§7.4): its ACK follows the proof, so
	 * give it a full timeout from now instead of sending it again. */
	if (m->has & IHMP_HAS(IHMP_T_NONCE)) {
		bool ours = ihmp_tx_extend(ih, h, IHMP_HANDOFF, dst);
		ours |= ihmp_tx_extend(ih, h, IHMP_ADDR_UP, dst);
		/* Behind a NAT, a probe that proves no change of ours means the
		 * peer is proving our binding anew: the NAT gave us another
		 * (§8.5), and what we sent on the way was dropped: our senders
		 * to it may sit in backoff. (The proof of our own HANDOFF comes
		 * before our translation switches: its ACK restarts them.) */
		if (!ours && hid_nat_c(h, dst->af)->self && h->nflows)
			ihmp_kick(ih, h, dst->af);
	}
}

static void probe_acked(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req,
			const struct ihmp_msg *ack, const struct dime_addr *src, const uint8_t *proved)
{
	struct ihmp_peer *p = h->ihmp;
	struct ihmp_rr *pending = &p->rr[req->dst.af == AF_INET6];

	if (ihmp_rdv_acked(ih, h, req))
		return;
	if (pending->active && addr_eq(&pending->addr, &req->dst) && pending->at_port == req->port) {
		/* Proven: apply the change that waited for it. */
		struct ihmp_rr rr = *pending;
		pending->active = false;
		if (rr.at_port != ih->cfg.port || !addr_eq(&rr.addr, &rr.msg.new_addr)) {
			/* A NAT's binding (§8): proven as address and port. */
			p->have_ep_ok = true;
			p->ep_ok = rr.addr;
			p->ep_ok_port = rr.at_port;
		} else {
			ihmp_rr_add_verified(p, &rr.addr);
		}
		if (rr.msg.type == IHMP_PATH_PROBE)
			ihmp_nat_rebind_apply(ih, h, &rr);
		else
			ihmp_apply_proven(ih, h, &rr);
		return;
	}
	/* Every probe carries a nonce, echoed from the probed address (the
	 * exchange checked it): that address is the peer's (T1). */
	if (hid_where(h, &req->dst) != HID_ACTIVE && ihmp_prove(ih, h, &req->dst) < 0) {
		ih->stats.rx_rejected++;
		ev_reject("address-taken", &req->dst);
	}
	if (hid_where(h, &req->src) < 0)
		ihmp_set_add(ih, h, HID_LOCAL, &req->src);
	ih_hid_changed(ih, h);
}

static void probe_timeout(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req)
{
	struct ihmp_peer *p = h->ihmp;
	struct ihmp_rr *rr = &p->rr[req->dst.af == AF_INET6];
	char b[ADDR_STRLEN], c[ADDR_STRLEN];

	if (ihmp_rdv_timeout(ih, h, req))
		return;
	/* A keepalive or a probe where we send: the peer is gone from there. */
	const struct dime_addr *primary = hid_primary(h, req->dst.af);
	if (primary && addr_eq(primary, &req->dst))
		ihmp_rdv_lost(ih, h);
	if (rr->active && addr_eq(&rr->addr, &req->dst)) {
		rr->active = false;
		ih->stats.rx_unverified++;
		log_info("IHMP: %s never proved it receives at %s: not switching",
			 addr_fmt(&rr->src, b), addr_fmt(&req->dst, c));
	} else {
		log_info("IHMP: no ACK from %s for %s", addr_fmt(&req->dst, b), ihmp_type_name(req->msg.type));
	}
}

const struct ihmp_exchange ihmp_x_probe = { IHMP_RTO_MS, probe_acked, probe_timeout, 0, 0 };
