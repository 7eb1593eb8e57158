/*
 * IHMP exchanges (docs/ihmp.md §6): a request is sent, retransmitted with
 * a doubling timeout until its ACK comes or IHMP_TRIES sends went unheard,
 * then its exchange decides what that means. What each exchange does with
 * its ACK or its timeout lives with the exchange (ihmp_hello.c,
 * ihmp_move.c); this file only runs the clock.
 */
#include <errno.h>
#include <string.h>

#include "ihmp_int.h"

static const struct ihmp_exchange *exchange(uint8_t type)
{
	static const struct ihmp_exchange *const x[IHMP_TYPE_MAX + 1] = {
		[IHMP_HELLO] = &ihmp_x_hello,
		[IHMP_PATH_PROBE] = &ihmp_x_probe,
		[IHMP_ADDR_UP] = &ihmp_x_addr_up,
		[IHMP_ADDR_UP_UNREACHABLE] = &ihmp_x_report,
		[IHMP_ADDR_DOWN] = &ihmp_x_addr_down,
		[IHMP_ADDR_DOWN_UNREACHABLE] = &ihmp_x_addr_down,
		[IHMP_HANDOFF] = &ihmp_x_handoff,
		[IHMP_HANDOFF_UNREACHABLE] = &ihmp_x_report,
	};
	return type <= IHMP_TYPE_MAX && x[type] ? x[type] : &ihmp_x_report;
}

static uint64_t rto_ms(uint8_t type, uint8_t tries)
{
	const struct ihmp_exchange *x = exchange(type);
	uint64_t rto = (uint64_t)x->rto_ms << (tries ? (tries < 16 ? tries - 1 : 15) : 0);
	return x->max_rto_ms && rto > x->max_rto_ms ? x->max_rto_ms : rto;
}

static uint8_t max_tries(uint8_t type)
{
	return exchange(type)->tries ? exchange(type)->tries : IHMP_TRIES;
}

/* An answer to a sender not yet authenticated may not exceed what is left
 * of 3x its datagram (T5): cut to the required TLVs, unsigned, or drop. */
static int seal_within_budget(struct ihmp *ih, const struct hid *h, const struct ihmp_msg *m, uint8_t *buf,
			      int af)
{
	int n = ihmp_seal_for(ih, h, m, buf, IHMP_MAX_MSG, true, af);

	if (n < 0 || (size_t)n <= ih->rx_budget)
		return n;
	if (m->type == IHMP_ACK) {
		struct ihmp_msg small = *m;
		small.has &= ~(uint32_t)IHMP_HAS(IHMP_T_ADDRS);
		small.naddrs = 0;
		n = ihmp_seal_for(ih, h, &small, buf, IHMP_MAX_MSG, false, af);
		if (n >= 0 && (size_t)n <= ih->rx_budget)
			return n;
	}
	ih->stats.rx_amplification++;
	return -EMSGSIZE;
}

int ihmp_xmit(struct ihmp *ih, const struct hid *h, const struct dime_addr *src,
	      const struct dime_addr *dst, uint16_t port, const struct ihmp_msg *m)
{
	uint8_t buf[IHMP_MAX_MSG];
	char b1[ADDR_STRLEN], b2[ADDR_STRLEN];
	int n = seal_within_budget(ih, h, m, buf, dst->af);

	if (n == -EMSGSIZE)
		return n;
	if (n < 0) {
		log_warnx("IHMP: cannot encode %s: %s", ihmp_type_name(m->type), strerror(-n));
		return n;
	}
	if (ih->rx_budget != SIZE_MAX)
		ih->rx_budget -= (size_t)n;
	int r = src->af == dst->af ? ih->env.send(ih->env.arg, src, dst, port, buf, (size_t)n) :
				     -EAFNOSUPPORT;
	if (r < 0) {
		ih->stats.send_errors++;
		log_debug("IHMP: %s %s -> %s: %s", ihmp_type_name(m->type), addr_fmt(src, b1),
			  addr_fmt(dst, b2), strerror(-r));
		return r;
	}
	ih->stats.out[m->type]++;
	log_debug("IHMP: sent %s seq %u %s -> %s", ihmp_type_name(m->type), m->seq,
		  addr_fmt(src, b1), addr_fmt(dst, b2));
	return 0;
}

void ihmp_busy_add(struct ihmp *ih, uint32_t handle)
{
	for (size_t i = 0; i < ih->nbusy; i++)
		if (ih->busy[i] == handle)
			return;
	if (ih->nbusy < IHMP_BUSY_MAX)
		ih->busy[ih->nbusy++] = handle;
	else
		ih->stats.busy_full++;
}

/* A HID about to go: busy_add keeps each handle once. */
void ihmp_busy_del(struct ihmp *ih, uint32_t handle)
{
	for (size_t i = 0; i < ih->nbusy; i++)
		if (ih->busy[i] == handle) {
			ih->busy[i] = ih->busy[--ih->nbusy];
			return;
		}
}

void ihmp_tx_start(struct ihmp *ih, struct hid *h, struct ihmp_msg *m,
		   const struct dime_addr *src, const struct dime_addr *dst)
{
	ihmp_tx_start_to(ih, h, m, src, dst, ihmp_peer_port(ih, h, dst));
}

/* What a message is worth when every slot is busy: news of our addresses
 * (the peer's table depends on it) outranks a HELLO, a HELLO a probe. */
static int tx_rank(uint8_t type)
{
	switch (type) {
	case IHMP_HANDOFF:
	case IHMP_HANDOFF_UNREACHABLE:
	case IHMP_ADDR_UP:
	case IHMP_ADDR_UP_UNREACHABLE:
	case IHMP_ADDR_DOWN:
	case IHMP_ADDR_DOWN_UNREACHABLE:
		return 2;
	case IHMP_HELLO:
		return 1;
	default:
		return 0;
	}
}

/* The slot of the request of that type in flight to dst:port, or -1. */
static int tx_find_to(const struct ihmp_peer *p, uint8_t type, const struct dime_addr *dst, uint16_t port)
{
	for (int i = 0; i < IHMP_PENDING; i++)
		if (p->tx[i].used && p->tx[i].msg.type == type && addr_eq(&p->tx[i].dst, dst) &&
		    p->tx[i].port == port)
			return i;
	return -1;
}

/* The slot m goes in: the one it replaces (a newer message of the same
 * type to the same place), a free one, or (*displaces) the lowest-ranked,
 * oldest one if that ranks no higher than m; NULL: m would displace news. */
static struct ihmp_tx *tx_slot(struct ihmp_peer *p, const struct ihmp_msg *m,
			       const struct dime_addr *dst, uint16_t port, bool *displaces)
{
	struct ihmp_tx *victim = NULL;
	int same = m->type != IHMP_PATH_PROBE ? tx_find_to(p, m->type, dst, port) : -1;

	if (same >= 0)
		return &p->tx[same];
	for (int i = 0; i < IHMP_PENDING; i++) {
		struct ihmp_tx *t = &p->tx[i];
		if (!t->used)
			return t;
		if (!victim || tx_rank(t->msg.type) < tx_rank(victim->msg.type) ||
		    (tx_rank(t->msg.type) == tx_rank(victim->msg.type) &&
		     (uint16_t)(p->seq - t->msg.seq) > (uint16_t)(p->seq - victim->msg.seq)))
			victim = t;
	}
	*displaces = true;
	return tx_rank(victim->msg.type) <= tx_rank(m->type) ? victim : NULL;
}

void ihmp_tx_start_to(struct ihmp *ih, struct hid *h, struct ihmp_msg *m,
		      const struct dime_addr *src, const struct dime_addr *dst, uint16_t port)
{
	struct ihmp_peer *p = ihmp_peer_get(ih, h);

	if (!p)
		return;
	bool displaces = false;
	struct ihmp_tx *t = tx_slot(p, m, dst, port, &displaces);
	if (displaces)
		ih->stats.tx_full++;
	if (!t)
		return;		/* asked again later: a retransmission, a timer */
	/* Behind a NAT the peer knows us by the NAT's address (§8): that is
	 * the Host ID it can map, not the one we have here. */
	const struct hid_nat *n = hid_nat_c(h, m->host_id.af);
	if (n->self && n->have_pub && hid_where(h, &m->host_id) == HID_LOCAL)
		m->host_id = n->pub;
	m->seq = p->seq++;
	memset(t, 0, sizeof(*t));
	t->used = true;
	t->msg = *m;
	t->src = *src;
	t->dst = *dst;
	t->port = port;
	int r = ihmp_xmit(ih, h, src, dst, t->port, m);
	if (r == -EMSGSIZE) {
		t->used = false;	/* over the answer budget: not later either */
		return;
	}
	t->tries = r == 0;	/* only sends that left count */
	t->fails = r < 0;
	t->due = ih_now(ih) + (r < 0 ? IHMP_SEND_RETRY_MS : rto_ms(m->type, 1));
	ihmp_busy_add(ih, h->handle);
}

bool ihmp_tx_probing(const struct ihmp_peer *p, const struct dime_addr *at, uint16_t port)
{
	return tx_find_to(p, IHMP_PATH_PROBE, at, port) >= 0;
}

void ihmp_send_ack(struct ihmp *ih, const struct hid *h, const struct ihmp_msg *req,
		   const struct dime_addr *local, const struct dime_addr *remote, uint16_t port,
		   uint16_t flags, bool with_addrs)
{
	struct ihmp_msg a;

	ihmp_msg_init(&a, IHMP_ACK, local);
	a.seq = req->seq;
	a.flags = flags;
	a.echo_type = req->type;
	a.has |= IHMP_HAS(IHMP_T_ECHO);
	if (req->has & IHMP_HAS(IHMP_T_NONCE)) {
		/* Return routability: proof that we receive at `local`. */
		memcpy(a.nonce_echo, req->nonce, IHMP_NONCE_LEN);
		a.has |= IHMP_HAS(IHMP_T_NONCE_ECHO);
	}
	if (with_addrs)
		ihmp_put_addrs(ih, &a);
	if (req->type == IHMP_HELLO)
		ihmp_rdv_put_name(ih, &a);
	/* Where we see the request from, as STUN does: the peer learns
	 * whether a NAT is on its path and what its binding is (§8). */
	a.observed = *remote;
	a.observed_port = port;
	a.has |= IHMP_HAS(IHMP_T_OBSERVED);
	ihmp_xmit(ih, h, local, remote, port, &a);
}

struct ihmp_tx *ihmp_tx_find(struct ihmp *ih, const struct ihmp_msg *ack, const struct dime_addr *src,
			     uint16_t port, struct hid **hout)
{
	for (size_t i = 0; i < ih->nbusy; i++) {
		struct hid *h = hid_table_get(ih->ht, ih->busy[i]);
		struct ihmp_peer *p = h ? h->ihmp : NULL;
		if (!p)
			continue;
		for (int j = 0; j < IHMP_PENDING; j++) {
			struct ihmp_tx *t = &p->tx[j];
			if (t->used && t->msg.seq == ack->seq && t->msg.type == ack->echo_type &&
			    addr_eq(&t->dst, src) && t->port == port) {
				*hout = h;
				return t;
			}
		}
	}
	return NULL;
}

void ihmp_tx_acked(struct ihmp *ih, struct hid *h, struct ihmp_tx *t, const struct ihmp_msg *ack,
		   const struct dime_addr *src, const uint8_t *tofu)
{
	if ((t->msg.has & IHMP_HAS(IHMP_T_NONCE)) &&
	    (!(ack->has & IHMP_HAS(IHMP_T_NONCE_ECHO)) ||
	     !sign_equal(ack->nonce_echo, t->msg.nonce, IHMP_NONCE_LEN))) {
		ih->stats.rx_unexpected_ack++;	/* not the proof we asked for */
		return;
	}
	struct ihmp_tx req = *t;
	t->used = false;
	ihmp_nat_observed(ih, h, &req, ack);
	exchange(req.msg.type)->on_ack(ih, h, &req, ack, src, tofu);
}

bool ihmp_tx_extend(struct ihmp *ih, struct hid *h, uint8_t type, const struct dime_addr *new_addr)
{
	struct ihmp_peer *p = h->ihmp;
	bool any = false;

	for (int i = 0; p && i < IHMP_PENDING; i++) {
		struct ihmp_tx *t = &p->tx[i];
		if (t->used && t->msg.type == type && addr_eq(&t->msg.new_addr, new_addr) && t->tries) {
			t->due = ih_now(ih) + rto_ms(type, (uint8_t)(t->tries + 1));
			any = true;
		}
	}
	return any;
}

/* t is due: send it again, or end its exchange. */
static void tx_due(struct ihmp *ih, struct hid *h, struct ihmp_tx *t, uint64_t now)
{
	/* A HELLO whose source address went away before an answer came: the
	 * peer never had its chance; greet it again from where we are now
	 * (same Host ID). */
	struct dime_addr cur;
	if (t->msg.type == IHMP_HELLO && !ih_is_local(ih, &t->src)) {
		if (ih->env.route_src(ih->env.arg, &t->dst, &cur) < 0 && t->fails < IHMP_SEND_FAILS_MAX) {
			t->fails++;	/* no address or route yet */
			t->due = now + IHMP_SEND_RETRY_MS;
			return;
		}
		t->src = cur;
		t->tries = 0;
		/* What we have now, new source included: an old list without
		 * it would look like a NAT to the peer (§8). */
		ihmp_put_addrs(ih, &t->msg);
	}
	if (t->tries >= max_tries(t->msg.type) || t->fails >= IHMP_SEND_FAILS_MAX || !ih_is_local(ih, &t->src)) {
		struct ihmp_tx req = *t;
		ih->stats.timeouts++;
		t->used = false;
		exchange(req.msg.type)->on_timeout(ih, h, &req);
		return;
	}
	/* A HANDOFF unanswered where the peer was: both of us may have
	 * moved; its name may say where it went (§11). */
	if (t->msg.type == IHMP_HANDOFF && t->tries >= 1)
		ihmp_rdv_lost(ih, h);
	int r = ihmp_xmit(ih, h, &t->src, &t->dst, t->port, &t->msg);
	if (r == 0) {
		if (t->tries)
			ih->stats.retransmits++;
		t->tries++;
		t->fails = 0;
	} else {
		t->fails++;
	}
	t->due = now + (r < 0 || !t->tries ? IHMP_SEND_RETRY_MS : rto_ms(t->msg.type, t->tries));
}

uint64_t ihmp_tx_run(struct ihmp *ih, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < ih->nbusy;) {
		struct hid *h = hid_table_get(ih->ht, ih->busy[i]);
		struct ihmp_peer *p = h ? h->ihmp : NULL;
		for (int j = 0; p && j < IHMP_PENDING; j++) {
			struct ihmp_tx *t = &p->tx[j];
			if (t->used && ih->kick && t->fails)
				t->due = now;
			if (t->used && t->due <= now)
				tx_due(ih, h, t, now);
		}
		/* A timeout may have started another exchange with this peer. */
		bool any = false;
		for (int j = 0; p && j < IHMP_PENDING; j++)
			if (p->tx[j].used) {
				any = true;
				if (p->tx[j].due < next)
					next = p->tx[j].due;
			}
		if (!any)
			ih->busy[i] = ih->busy[--ih->nbusy];
		else
			i++;
	}
	return next;
}
