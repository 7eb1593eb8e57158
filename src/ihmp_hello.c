/*
 * HELLO and PATH_PROBE, both ends (docs/ihmp.md §5.1-§5.2, paper III-B1):
 * the first flow to a peer greets it; the greeting's ADDRS list tells the
 * other's addresses, which are probed before they carry anything.
 */
#include <stdlib.h>
#include <string.h>

#include "ihmp_int.h"

/* ---- HELLO ---- */

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
	struct ihmp_msg m;
	ihmp_msg_init(&m, IHMP_HELLO, local);
	ihmp_put_addrs(ih, &m);
	ihmp_peer_set_state(ih, h, PEER_HELLO);
	ihmp_tx_start(ih, h, &m, local, remote);
}

/* Sorts a peer's advertised addresses (III-B1): probe what may be reachable. */
static void learn_addrs(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
			const struct dime_addr *known_as, bool probe)
{
	uint32_t now = ih_now_s(ih);

	for (unsigned i = 0; i < m->naddrs; i++) {
		const struct dime_addr *a = &m->addrs[i];
		struct dime_addr src;
		if (hid_where(h, a) >= 0 || hid_table_lookup(ih->ht, a) || addr_is_linklocal(a))
			continue;	/* known, someone else's, or never reachable from here */
		if (hid_table_add_addr(ih->ht, h, HID_UNREACH, a, now) < 0)
			continue;
		if (probe && ihmp_probe_reachable(ih, a, &src)) {
			struct ihmp_msg pr;
			/* Host ID: an address the peer knows us by, of the probe's family if any. */
			ihmp_msg_init(&pr, IHMP_PATH_PROBE, known_as->af == a->af ? known_as : &src);
			ihmp_tx_start(ih, h, &pr, &src, a);
		}
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
			if (q->have_counter && (!p->have_counter || q->last_counter > p->last_counter)) {
				p->have_counter = true;
				p->last_counter = q->last_counter;
			}
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

void ihmp_on_hello(struct ihmp *ih, const struct ihmp_msg *m, const struct dime_addr *src,
		   const struct dime_addr *dst, uint16_t port, const uint8_t *tofu)
{
	struct hid *h = hid_table_lookup(ih->ht, &m->host_id);
	uint32_t now = ih_now_s(ih);
	uint16_t flags = 0;
	bool own = false;

	/* NAT detection (III-D): the datagram's source is not among the
	 * addresses the sender says it has. */
	for (unsigned i = 0; i < m->naddrs && !own; i++)
		own = addr_eq(&m->addrs[i], src);
	if (!own)
		flags |= IHMP_F_ND;
	bool nat = (flags & IHMP_F_ND) && !(m->flags & IHMP_F_NF);
	if (!h && (h = hid_table_lookup(ih->ht, src)) == NULL) {
		if (!ihmp_half_open_ok(ih)) {
			ih->stats.rx_rate_limited++;
			return;
		}
		if (hid_table_create(ih->ht, now, &h) < 0)
			return;
		h->flags |= HID_F_HELLO_ONLY;
		ih->halfopen++;
		hid_table_add_addr(ih->ht, h, nat ? HID_UNREACH : HID_ACTIVE, src, now);
	}
	ihmp_bind_new(ih, h, tofu, m, src);
	/* A known peer greeting from a new address (it moved while its first
	 * HELLO was in flight): unproven until it claims it and we probe it. */
	if (hid_where(h, src) < 0)
		hid_table_add_addr(ih->ht, h, HID_UNREACH, src, now);
	if (hid_where(h, dst) < 0)
		hid_table_add_addr(ih->ht, h, HID_LOCAL, dst, now);
	ihmp_peer_set_state(ih, h, PEER_OK);
	ihmp_send_ack(ih, m, dst, src, port, flags | (m->flags & IHMP_F_NF), true);
	if (!(m->flags & IHMP_F_NF))	/* NAT forced: a plain one-to-one mapping, no more signalling */
		learn_addrs(ih, h, m, dst, true);
	fold_same_host(ih, h, m);
	ihmp_route_moves(ih, h);	/* where our packets to it leave from, for later moves */
	ih_hid_changed(ih, h);
}

static void hello_acked(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req,
			const struct ihmp_msg *ack, const struct dime_addr *src, const uint8_t *tofu)
{
	struct dime_addr live;

	ihmp_peer_set_state(ih, h, PEER_OK);
	if (!tofu && h->key_origin == HID_KEY_NONE && (ack->has & IHMP_HAS(IHMP_T_PUBKEY)) &&
	    (ack->has & IHMP_HAS(IHMP_T_SIGNATURE)))
		tofu = ack->pubkey;	/* verified in ihmp_authenticate() */
	ihmp_bind_new(ih, h, tofu, ack, src);
	/* We moved while the HELLO was in flight (it went out again from
	 * here): the address events skipped this peer, so hand off now. */
	if (!ihmp_local_live(ih, h, req->src.af, NULL, &live) && hid_where(h, &req->src) != HID_LOCAL)
		ihmp_addr_up(ih, h, &req->src);
	if (hid_where(h, src) == HID_UNREACH)
		hid_table_move_addr(ih->ht, h, src, HID_ACTIVE, ih_now_s(ih));
	learn_addrs(ih, h, ack, &req->msg.host_id, false);
	fold_same_host(ih, h, ack);
	ihmp_route_moves(ih, h);
	ih_hid_changed(ih, h);
}

static void hello_timeout(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req)
{
	struct ihmp_peer *p = h->ihmp;
	char b[ADDR_STRLEN];

	if (p->state == PEER_OK)
		return;		/* it answered something else meanwhile: a dime peer */
	ihmp_peer_set_state(ih, h, PEER_SILENT);
	log_info("IHMP: %s does not answer: not a dime peer (next HELLO in %u s at the earliest)",
		 addr_fmt(&req->dst, b), p->silent_s);
}

const struct ihmp_exchange ihmp_x_hello = { IHMP_RTO_MS, hello_acked, hello_timeout };

/* ---- PATH_PROBE ---- */

void ihmp_on_probe(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
		   const struct dime_addr *src, const struct dime_addr *dst, uint16_t port)
{
	uint32_t now = ih_now_s(ih);

	if (hid_where(h, src) == HID_UNREACH)
		hid_table_move_addr(ih->ht, h, src, HID_ACTIVE, now);
	else if (hid_where(h, src) < 0)
		hid_table_add_addr(ih->ht, h, HID_ACTIVE, src, now);
	if (hid_where(h, dst) < 0)
		hid_table_add_addr(ih->ht, h, HID_LOCAL, dst, now);
	ihmp_send_ack(ih, m, dst, src, port, 0, false);
	/* A nonce probe of an address we just claimed means the peer has our
	 * request and is checking it (§7.4): its ACK follows the proof, so
	 * give it a full timeout from now instead of sending it again. */
	if (m->has & IHMP_HAS(IHMP_T_NONCE)) {
		ihmp_tx_extend(ih, h, IHMP_HANDOFF, dst);
		ihmp_tx_extend(ih, h, IHMP_ADDR_UP, dst);
	}
	ih_hid_changed(ih, h);
}

static void probe_acked(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req,
			const struct ihmp_msg *ack, const struct dime_addr *src, const uint8_t *tofu)
{
	struct ihmp_peer *p = h->ihmp;
	struct ihmp_rr *pending = &p->rr[req->dst.af == AF_INET6];
	uint32_t now = ih_now_s(ih);

	(void)ack, (void)src, (void)tofu;
	if (pending->active && addr_eq(&pending->addr, &req->dst)) {
		/* Proven: apply the change that claimed this address. */
		struct ihmp_rr rr = *pending;
		pending->active = false;
		ihmp_rr_add_verified(p, &rr.addr);
		ihmp_apply_proven(ih, h, &rr);
		return;
	}
	if (hid_where(h, &req->dst) == HID_UNREACH)
		hid_table_move_addr(ih->ht, h, &req->dst, HID_ACTIVE, now);
	if (hid_where(h, &req->src) < 0)
		hid_table_add_addr(ih->ht, h, HID_LOCAL, &req->src, now);
	ih_hid_changed(ih, h);
}

static void probe_timeout(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req)
{
	struct ihmp_peer *p = h->ihmp;
	struct ihmp_rr *rr = &p->rr[req->dst.af == AF_INET6];
	char b[ADDR_STRLEN], c[ADDR_STRLEN];

	if (rr->active && addr_eq(&rr->addr, &req->dst)) {
		rr->active = false;
		ih->stats.rx_unverified++;
		log_info("IHMP: %s never proved it receives at %s: not switching",
			 addr_fmt(&rr->src, b), addr_fmt(&req->dst, c));
	} else {
		log_info("IHMP: no ACK from %s for %s", addr_fmt(&req->dst, b), ihmp_type_name(req->msg.type));
	}
}

const struct ihmp_exchange ihmp_x_probe = { IHMP_RTO_MS, probe_acked, probe_timeout };
