/*
 * ADDR_UP, ADDR_DOWN and HANDOFF, both ends (docs/ihmp.md §5.3-§5.5, paper
 * III-B2..B4). One HANDOFF's life, in the order it happens:
 *
 *   mover   an address event (ihmp_process_events) or a moved route
 *           (ihmp_route_moves) -> addr_up / addr_down -> send_change
 *   peer    ihmp_on_change: a claimed new address is probed first (§7.4);
 *           change_apply switches both directions, then ACKs
 *   mover   handoff_acked: the new address goes first in the local set,
 *           which starts our outbound translation; or handoff_timeout
 *
 * Order of switching translation on (docs/datapath.md): the mover's
 * datapath puts inbound elements in as soon as its address changes; only
 * then do we tell the peer, which switches both directions and ACKs; the
 * ACK is what lets the mover's outbound translation start.
 */
#include <string.h>

#include "events.h"
#include "ihmp_int.h"

/* ---- the mover: our own addresses ---- */

bool ihmp_local_live(struct ihmp *ih, const struct hid *h, int af, const struct dime_addr *not,
		     struct dime_addr *out)
{
	const struct hid_addrs *s = &h->set[HID_LOCAL];
	for (unsigned i = 0; i < s->n; i++)
		if (s->a[i].af == af && ih_is_local(ih, &s->a[i]) && (!not || !addr_eq(&s->a[i], not))) {
			*out = s->a[i];
			return true;
		}
	return false;
}

/* The address of family af the peer sends to (first in the local set). */
static bool local_first(const struct hid *h, int af, struct dime_addr *out)
{
	const struct hid_addrs *s = &h->set[HID_LOCAL];
	for (unsigned i = 0; i < s->n; i++)
		if (s->a[i].af == af) {
			*out = s->a[i];
			return true;
		}
	return false;
}

void ihmp_known_at(struct ihmp *ih, struct hid *h, const struct dime_addr *a)
{
	struct dime_addr first;
	bool have = local_first(h, a->af, &first);

	/* A first address that is still ours stays: the peer's primary for
	 * us may be it, and a move away from it is a handoff's business. */
	if (ih_is_local(ih, a) && (!have || !ih_is_local(ih, &first)))
		ih->env.local_first(ih->env.arg, h, a);
}

static void send_change(struct ihmp *ih, struct hid *h, uint8_t type, const struct dime_addr *host_id,
			const struct dime_addr *from, const struct dime_addr *new_addr,
			const struct dime_addr *old_addr)
{
	const struct dime_addr *to = hid_primary(h, from->af);
	struct ihmp_msg m;

	if (!to)
		return;		/* the peer has no address of this family we can reach */
	ihmp_msg_init(&m, type, host_id);
	if (new_addr) {
		m.new_addr = *new_addr;
		m.has |= IHMP_HAS(IHMP_T_NEW_ADDR);
	}
	if (old_addr) {
		m.old_addr = *old_addr;
		m.has |= IHMP_HAS(IHMP_T_OLD_ADDR);
	}
	ihmp_tx_start(ih, h, &m, from, to);
}

void ihmp_addr_up(struct ihmp *ih, struct hid *h, const struct dime_addr *a)
{
	struct dime_addr known, old;

	if (hid_where(h, a) == HID_LOCAL && local_first(h, a->af, &old) && addr_eq(&old, a))
		return;		/* the peer already sends here */
	if (ihmp_local_live(ih, h, a->af, a, &known)) {
		/* Still reachable at an address the peer knows: announce the new one. */
		send_change(ih, h, IHMP_ADDR_UP, &known, a, a, NULL);
	} else if (local_first(h, a->af, &old)) {
		/* Everything the peer knew of us in this family is gone: hand off. */
		ev_handoff_begin(h, EV_HO_HARD, a);
		send_change(ih, h, IHMP_HANDOFF, &old, a, a, &old);
	}
}

static void addr_down(struct ihmp *ih, struct hid *h, const struct dime_addr *a)
{
	struct dime_addr other, first;
	const struct rtnl_addr *la;
	size_t n = ih->env.local_addrs(ih->env.arg, &la);

	if (hid_where(h, a) != HID_LOCAL)
		return;
	if (ihmp_local_live(ih, h, a->af, a, &other)) {
		/* The peer also knows another of our addresses. If it used the
		 * lost one, it must switch: that is a handoff to the other. */
		if (local_first(h, a->af, &first) && addr_eq(&first, a)) {
			ev_handoff_begin(h, EV_HO_SOFT, &other);
			send_change(ih, h, IHMP_HANDOFF, &other, &other, &other, a);
		} else
			send_change(ih, h, IHMP_ADDR_DOWN, &other, &other, NULL, a);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (la[i].addr.af == a->af) {
			/* A new address the peer does not know yet (soft handoff
			 * before its ADDR_UP went through). */
			ev_handoff_begin(h, EV_HO_SOFT, &la[i].addr);
			send_change(ih, h, IHMP_HANDOFF, a, &la[i].addr, &la[i].addr, a);
			return;
		}
	/* No address at all: the handoff goes out when one comes up. */
}

void ihmp_process_events(struct ihmp *ih)
{
	uint32_t cur = 0;
	struct hid *h;

	while ((h = hid_table_next(ih->ht, &cur))) {
		struct ihmp_peer *p = h->ihmp;
		if (!p || p->state != PEER_OK)
			continue;	/* only dime peers hear about our addresses */
		for (size_t i = 0; i < ih->nev; i++) {
			if (!ih_is_local(ih, &ih->ev[i].a) && ih->ev[i].up)
				continue;	/* gone again already */
			if (ih->ev[i].up)
				ihmp_addr_up(ih, h, &ih->ev[i].a);
			else
				addr_down(ih, h, &ih->ev[i].a);
		}
	}
	ih->nev = 0;
	ih->ev_overflow = false;
}

/*
 * Soft handoff (III-B4) when the route moves: the kernel now reaches a peer
 * from another of our addresses (a new link's default route) while the one
 * the peer sends to is still configured. The old path may drop what we send
 * from it (source address validation at the old network's edge), so hand off
 * now rather than when the old address goes. Only a change of our source
 * toward the peer counts: a host whose route never picked the address the
 * peer uses is left alone. With `only`, just record where h's route leaves.
 */
void ihmp_route_moves(struct ihmp *ih, struct hid *only)
{
	static const int fams[2] = { AF_INET, AF_INET6 };
	uint32_t cur = 0;
	struct hid *h;

	while ((h = only ? only : hid_table_next(ih->ht, &cur))) {
		struct ihmp_peer *p = h->ihmp;
		for (int k = 0; p && p->state == PEER_OK && k < 2; k++) {
			const struct dime_addr *peer = hid_primary(h, fams[k]);
			struct dime_addr via, first, prev = p->via[k];
			bool had = p->have_via[k];
			if (!peer || ih->env.route_src(ih->env.arg, peer, &via) < 0 || !ih_is_local(ih, &via))
				continue;
			p->via[k] = via;
			p->have_via[k] = true;
			if (only || !had || addr_eq(&prev, &via) || !h->nflows)
				continue;
			if (!local_first(h, fams[k], &first) || !addr_eq(&prev, &first) ||
			    !ih_is_local(ih, &first))
				continue;	/* not the address the peer uses, or gone (addr_down's case) */
			char b[ADDR_STRLEN], c[ADDR_STRLEN], d[ADDR_STRLEN];
			log_info("IHMP: route to %s now leaves from %s, not %s: handing off",
				 addr_fmt(peer, b), addr_fmt(&via, c), addr_fmt(&first, d));
			ev_handoff_begin(h, EV_HO_SOFT, &via);
			send_change(ih, h, IHMP_HANDOFF, &first, &via, &via, &first);
		}
		if (only)
			break;
	}
}

/* ---- restarting our senders after a move ---- */

static void rekick_due(struct ihmp *ih, struct ihmp_peer *p, int k, uint64_t now, unsigned found)
{
	if (found && p->rekicks[k]) {
		p->rekicks[k]--;
		p->rekick_at[k] = now + IHMP_REKICK_MS;
		ih_peer_due(ih, p->rekick_at[k]);
	} else {
		p->rekick_at[k] = 0;
	}
}

/* A restart can fail like any packet (the segment it makes the sender
 * send is lost again): while senders were found stalled, look again,
 * IHMP_REKICKS times at most. */
void ihmp_kick(struct ihmp *ih, struct hid *h, int af)
{
	unsigned found = ih->env.kick_peer(ih->env.arg, h->handle, af);
	struct ihmp_peer *p = h->ihmp;
	int k = af == AF_INET6;

	if (!p)
		return;
	p->rekicks[k] = IHMP_REKICKS;
	rekick_due(ih, p, k, ih_now(ih), found);
}

void ihmp_rekick(struct ihmp *ih, struct hid *h, uint64_t now)
{
	static const int fams[2] = { AF_INET, AF_INET6 };
	struct ihmp_peer *p = h->ihmp;

	for (int k = 0; p && k < 2; k++) {
		if (!p->rekick_at[k])
			continue;
		if (now < p->rekick_at[k]) {
			ih_peer_due(ih, p->rekick_at[k]);
			continue;
		}
		unsigned found = ih->env.kick_peer(ih->env.arg, h->handle, fams[k]);
		ih->stats.rekicked += found;
		rekick_due(ih, p, k, now, found);
	}
}

/* ---- the peer: a change arrives ---- */

/* ADDR_UP*, ADDR_DOWN*, HANDOFF* from a peer, proven where it needs to be. */
static void change_apply(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
			 const struct dime_addr *src, const struct dime_addr *dst, uint16_t port)
{
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	uint16_t flags = 0;
	bool has_new = m->has & IHMP_HAS(IHMP_T_NEW_ADDR), has_old = m->has & IHMP_HAS(IHMP_T_OLD_ADDR);
	bool unreach_type = m->type == IHMP_ADDR_UP_UNREACHABLE || m->type == IHMP_HANDOFF_UNREACHABLE;

	if (!p)
		return;
	/* A peer behind a NAT names its own old address; what we know it by
	 * is the NAT's (§8). */
	struct dime_addr old = m->old_addr;
	const struct hid_nat *was = hid_nat_c(h, old.af);
	if (has_old && was->have_ep && addr_eq(&was->host, &old))
		old = was->ep;
	if (has_new) {
		/* Sent from the new address itself (III-B2, footnote): if the
		 * source differs, a NAT rewrote it. Proven at that NAT's
		 * binding, the binding is where the peer is (§8); else the
		 * claim is only a candidate. */
		bool nat = !unreach_type && !addr_eq(&m->new_addr, src);
		bool via_nat = nat && ihmp_nat_proven(p, src, port);
		if (nat) {
			flags |= IHMP_F_ND;
			ih->stats.rx_nat_detected++;
		}
		if (via_nat) {
			if (hid_where(h, src) != HID_ACTIVE && ihmp_prove(ih, h, src) < 0) {
				ih->stats.rx_rejected++;
				ev_reject("address-taken", src);
				return;
			}
			if (hid_where(h, &m->new_addr) < 0)
				ihmp_cand_add(p, &m->new_addr);
			if (m->type == IHMP_HANDOFF) {
				hid_promote(h, src);
				ihmp_nat_peer_at(ih, h, src, port, true, &m->new_addr);
			}
		} else if (unreach_type || nat) {
			/* Not usable from here: a candidate, never a locator (T1). */
			if (hid_where(h, &m->new_addr) == HID_ACTIVE)
				ihmp_set_add(ih, h, HID_UNREACH, &m->new_addr);
			else if (hid_where(h, &m->new_addr) < 0)
				ihmp_cand_add(p, &m->new_addr);
		} else if (ihmp_prove(ih, h, &m->new_addr) < 0) {
			/* An address another peer holds: the caller must not be
			 * able to steal its flows. */
			ih->stats.rx_rejected++;
			ev_reject("address-taken", src);
			return;
		} else if (m->type == IHMP_HANDOFF) {
			hid_promote(h, &m->new_addr);
			ihmp_nat_peer_at(ih, h, src, port, false, NULL);	/* no NAT on its path now */
			/* Both of us moved: ours, sent where it was, goes to
			 * where it is (§11). */
			ihmp_retarget(ih, h, &m->new_addr);
		}
	}
	/* (a NAT move keeps the NAT's address when only the binding's port changed) */
	bool old_is_nat = !addr_eq(&old, &m->old_addr);
	if (has_old && !(has_new && (addr_eq(&m->old_addr, &m->new_addr) || (old_is_nat && addr_eq(&old, src))))) {
		/* The old address is gone, but flows still name it: keep it as
		 * unreachable so it keeps resolving to this peer. */
		if (hid_where(h, &old) == HID_ACTIVE)
			ihmp_set_add(ih, h, HID_UNREACH, &old);
		ihmp_cand_drop(p, &m->old_addr);
		if (!has_new && !hid_primary(h, m->old_addr.af)) {
			/* Its last address of this family is gone (III-B3):
			 * applications learn now instead of hanging. */
			char b[ADDR_STRLEN];
			unsigned n = ih->env.abort_peer(ih->env.arg, h->handle, m->old_addr.af);
			log_info("IHMP: peer lost its last address %s: aborted %u connection(s)",
				 addr_fmt(&m->old_addr, b), n);
		}
	}
	if (hid_where(h, dst) < 0)
		ihmp_set_add(ih, h, HID_LOCAL, dst);
	h->updated = ih_now_s(ih);
	p->last_seen = ih_now(ih);
	ihmp_peer_set_state(ih, h, PEER_OK);
	p->have_applied = true;
	p->applied_seq = m->seq;
	p->applied_type = m->type;
	/* Switch both directions first, then ACK: the mover enables its
	 * outbound translation on our ACK. Restarting our stalled senders
	 * (socket lookups) is no part of the switch: after the ACK, so the
	 * mover does not wait for it. A handoff begins first: its flows stay
	 * queued until its first packet on the new locator (docs/datapath.md). */
	if (m->type == IHMP_HANDOFF && has_new && !unreach_type) {
		const struct dime_addr *to = hid_primary(h, m->new_addr.af);
		ev_handoff_begin(h, EV_HO_PEER, to ? to : &m->new_addr);
	}
	ih_hid_changed(ih, h);
	ihmp_send_ack(ih, h, m, dst, src, port, flags, false);
	if (has_new && !unreach_type)	/* our senders to it may sit in backoff */
		ihmp_kick(ih, h, m->new_addr.af);
}

void ihmp_apply_proven(struct ihmp *ih, struct hid *h, const struct ihmp_rr *rr)
{
	change_apply(ih, h, &rr->msg, &rr->src, &rr->dst, rr->port);
}

/*
 * The address a change must be proven at before it is applied, if any
 * (docs/ihmp.md T1, T3, §7.4): a claimed new address we have not verified;
 * for a peer whose key we do not hold, any change that takes a locator
 * away may come only from the current locator, proven there each time.
 * Returns false when the change cannot be accepted at all.
 */
static bool proof_needed(struct ihmp *ih, struct hid *h, const struct ihmp_peer *p,
			 const struct ihmp_msg *m, const struct dime_addr *src, uint16_t port,
			 const struct dime_addr **at, uint16_t *at_port)
{
	bool has_new = m->has & IHMP_HAS(IHMP_T_NEW_ADDR), has_old = m->has & IHMP_HAS(IHMP_T_OLD_ADDR);
	bool moves = has_new && (m->type == IHMP_ADDR_UP || m->type == IHMP_HANDOFF);
	bool claims = moves && addr_eq(&m->new_addr, src);

	*at = NULL;
	*at_port = ih->cfg.port;
	/* Through a NAT (§8): a peer whose key we hold is proven at the
	 * binding its message came from, address and port. */
	if (moves && !claims && ih->rx_bound) {
		if (!ihmp_nat_proven(p, src, port)) {
			*at = src;
			*at_port = port;
		}
		return true;
	}
	if (!ih->rx_bound && has_old) {
		const struct dime_addr *cur = hid_primary(h, m->old_addr.af);
		if (!cur || !addr_eq(cur, src) || m->type == IHMP_HANDOFF) {
			ih->stats.rx_unproven++;
			ev_reject("unproven-address", src);
			return false;
		}
		*at = src;
		return true;
	}
	if (claims && !ihmp_rr_verified(h, p, &m->new_addr))
		*at = &m->new_addr;
	return true;
}

/*
 * ADDR_UP*, ADDR_DOWN*, HANDOFF*. Where it needs proof, we probe that
 * address with a nonce and apply the change, and ACK it, only when the
 * nonce comes back from there (ihmp_hello.c, probe_acked). A signed message
 * alone could aim our flows at a victim.
 */
void ihmp_on_change(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
		    const struct dime_addr *src, const struct dime_addr *dst, uint16_t port)
{
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	const struct dime_addr *at;
	uint16_t at_port;

	if (!p)
		return;
	if (p->have_applied && p->applied_seq == m->seq && p->applied_type == m->type) {
		ihmp_send_ack(ih, h, m, dst, src, port, 0, false);	/* our ACK was lost */
		return;
	}
	if (!proof_needed(ih, h, p, m, src, port, &at, &at_port))
		return;
	if ((m->has & IHMP_HAS(IHMP_T_NEW_ADDR)) && !ihmp_can_claim(ih, h, &m->new_addr)) {
		ih->stats.rx_rejected++;
		ev_reject("address-taken", src);
		return;
	}
	if (!at) {
		change_apply(ih, h, m, src, dst, port);
		return;
	}
	struct ihmp_rr *rr = &p->rr[at->af == AF_INET6];
	if (rr->active && addr_eq(&rr->addr, at) && rr->at_port == at_port && ihmp_tx_probing(p, at, at_port)) {
		/* A retransmission while we wait for the proof, or a HANDOFF
		 * to the address an ADDR_UP claimed: the proof will apply it. */
		if (m->type == IHMP_HANDOFF && rr->msg.type != IHMP_HANDOFF) {
			rr->msg = *m;
			rr->src = *src;
			rr->dst = *dst;
			rr->port = port;
		}
		return;
	}
	if (!ihmp_probe_allowed(ih, h, at)) {
		ih->stats.rx_rate_limited++;
		return;
	}
	struct ihmp_msg pr;
	ihmp_msg_init(&pr, IHMP_PATH_PROBE, dst);
	sign_random(pr.nonce, IHMP_NONCE_LEN);
	pr.has |= IHMP_HAS(IHMP_T_NONCE);
	*rr = (struct ihmp_rr){ .active = true, .addr = *at, .msg = *m, .src = *src, .dst = *dst, .port = port,
				.at_port = at_port };
	memcpy(rr->nonce, pr.nonce, IHMP_NONCE_LEN);
	ih->stats.probes_rr++;
	ihmp_tx_start_to(ih, h, &pr, dst, at, at_port);
}

/* ---- the mover: the peer's answer, or none ---- */

/* ND from a peer that cannot carry flows through a NAT (no OBSERVED in its
 * ACK, §8): the new address is useless to it. */
static bool nat_blocks(const struct ihmp_msg *ack)
{
	return (ack->flags & IHMP_F_ND) && !(ack->has & IHMP_HAS(IHMP_T_OBSERVED));
}

static void addr_up_acked(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req,
			  const struct ihmp_msg *ack, const struct dime_addr *src, const uint8_t *proved)
{
	if (!nat_blocks(ack) && hid_where(h, &req->msg.new_addr) < 0)
		ihmp_set_add(ih, h, HID_LOCAL, &req->msg.new_addr);
	ih_hid_changed(ih, h);
}

/* Probing failed: the peer cannot reach the new address; say so over an
 * address it does reach (III-B2). */
static void addr_up_timeout(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req)
{
	struct dime_addr known;

	if (ihmp_local_live(ih, h, req->src.af, &req->src, &known))
		send_change(ih, h, IHMP_ADDR_UP_UNREACHABLE, &known, &known, &req->msg.new_addr, NULL);
}

static void addr_down_acked(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req,
			    const struct ihmp_msg *ack, const struct dime_addr *src, const uint8_t *proved)
{
	hid_table_del_addr(ih->ht, h, HID_LOCAL, &req->msg.old_addr, ih_now_s(ih));
	ih_hid_changed(ih, h);
}

static void handoff_acked(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req,
			  const struct ihmp_msg *ack, const struct dime_addr *src, const uint8_t *proved)
{
	bool nat = nat_blocks(ack);

	/* The peer now sends to the new address: it goes first, the old one
	 * out of the set. This starts our outbound translation. */
	if (!nat)
		ih->env.local_first(ih->env.arg, h, &req->msg.new_addr);
	if (req->msg.has & IHMP_HAS(IHMP_T_OLD_ADDR)) {
		hid_table_del_addr(ih->ht, h, HID_LOCAL, &req->msg.old_addr, ih_now_s(ih));
		if (!nat && ih_is_local(ih, &req->msg.old_addr))
			ih->env.moved_from(ih->env.arg, h, &req->msg.old_addr);
	}
	ih_hid_changed(ih, h);
	/* The peer sends to us here now: resume our stalled senders at once. */
	ihmp_kick(ih, h, req->msg.new_addr.af);
}

/* We moved and the peer never confirmed: it cannot reach us in this
 * family. Applications hear it now instead of hanging. */
static void handoff_timeout(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req)
{
	struct ihmp_peer *p = h->ihmp;
	char b[ADDR_STRLEN];

	if (p->state != PEER_OK) {
		log_info("IHMP: no ACK from %s for %s", addr_fmt(&req->dst, b), ihmp_type_name(req->msg.type));
		return;
	}
	unsigned n = ih->env.abort_peer(ih->env.arg, h->handle, req->src.af);
	log_info("IHMP: %s unreachable after handoff: aborted %u connection(s)", addr_fmt(&req->dst, b), n);
}

/* ADDR_UP_UNREACHABLE, HANDOFF_UNREACHABLE: reports; nothing rides on them. */
static void report_acked(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req,
			 const struct ihmp_msg *ack, const struct dime_addr *src, const uint8_t *proved)
{
	ih_hid_changed(ih, h);
}

static void report_timeout(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req)
{
	char b[ADDR_STRLEN];

	(void)ih, (void)h;
	log_info("IHMP: no ACK from %s for %s", addr_fmt(&req->dst, b), ihmp_type_name(req->msg.type));
}

/* A claim of a new address is answered only after the peer has probed it
 * (one more round trip and the switch itself): its timeouts start doubled. */
const struct ihmp_exchange ihmp_x_addr_up = { 2 * IHMP_RTO_MS, addr_up_acked, addr_up_timeout, 0, 0 };
/* A HANDOFF is what a restarted peer (or a healed path) waits for: past
 * the first timeout it goes every second, not ever later, and gives up
 * when four doubling ones would (§6.1). */
const struct ihmp_exchange ihmp_x_handoff = { 2 * IHMP_RTO_MS, handoff_acked, handoff_timeout,
					     4 * IHMP_RTO_MS, 8 };
const struct ihmp_exchange ihmp_x_addr_down = { IHMP_RTO_MS, addr_down_acked, report_timeout, 0, 0 };
const struct ihmp_exchange ihmp_x_report = { IHMP_RTO_MS, report_acked, report_timeout, 0, 0 };
