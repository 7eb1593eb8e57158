/*
 * The IHMP engine (docs/ihmp.md, paper III-B): its life, the receive path
 * (docs/ihmp.md §9), per-peer state and counters. One exchange per peer,
 * never per connection: a HANDOFF moves every flow of a HID at once.
 * ihmp_int.h says which file holds what.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "events.h"
#include "ihmp_int.h"

static const char *const peer_state_names[] = { "new", "hello-sent", "dime", "silent" };

int ihmp_new_env(struct ihmp **out, const struct ihmp_cfg *cfg, const struct ihmp_env *env)
{
	struct ihmp *ih = calloc(1, sizeof(*ih));
	if (!ih)
		return -ENOMEM;
	ih->cfg = *cfg;
	ih->env = *env;
	ih->ht = env->hids;
	char err[1200];
	int r;
	if ((r = sign_init()) < 0 || (cfg->state_dir &&
	    (r = sign_load_or_create(&ih->key, cfg->state_dir, err, sizeof(err))) < 0)) {
		log_warnx("IHMP host key: %s", r == -EIO ? "libsodium failed to start" : err);
		free(ih);
		return r;
	}
	ih->have_key = cfg->state_dir != NULL;
	/* Never repeats across restarts while the clock moves forward (§7.2):
	 * the next second's, since an earlier run may have started in this
	 * one; a saved counter raises it further (ihmp_counter_floor). */
	ih->counter = ((uint64_t)time(NULL) + 1) << 30;
	ihmp_auth_init(ih);
	*out = ih;
	return 0;
}

void ihmp_free(struct ihmp *ih)
{
	if (!ih)
		return;
	uint32_t cur = 0;
	struct hid *h;
	while ((h = hid_table_next(ih->ht, &cur))) {
		free(h->ihmp);
		h->ihmp = NULL;
	}
	if (ih->io_free)
		ih->io_free(ih->io);
	sign_wipe(&ih->key);
	sign_wipe(&ih->old_key);
	for (size_t i = 0; i < ih->nlkeys; i++)
		sign_wipe(&ih->lkeys[i].key);
	free(ih);
}

void ihmp_set_config(struct ihmp *ih, const struct config *cfg)
{
	ih->conf = cfg;
}

/* ---- per-peer state ---- */

struct ihmp_peer *ihmp_peer_get(struct ihmp *ih, struct hid *h)
{
	if (!h->ihmp) {
		struct ihmp_peer *p = calloc(1, sizeof(*p));
		if (!p)
			return NULL;
		sign_random(&p->seq, sizeof(p->seq));
		p->last_seen = ih_now(ih);
		h->ihmp = p;
	}
	return h->ihmp;
}

/* Every change of a peer's signalling state comes here. */
void ihmp_peer_set_state(struct ihmp *ih, struct hid *h, enum peer_state s)
{
	struct ihmp_peer *p = ihmp_peer_get(ih, h);
	char b[ADDR_STRLEN];

	if (!p)
		return;
	switch (s) {
	case PEER_OK:
		p->silent_s = 0;	/* it answers: a later silence starts over */
		break;
	case PEER_SILENT:
		/* No HELLO storms at hosts without dimed: back off. */
		p->silent_s = p->silent_s ? p->silent_s * 2 : IHMP_SILENT_MIN_S;
		if (p->silent_s > IHMP_SILENT_MAX_S)
			p->silent_s = IHMP_SILENT_MAX_S;
		p->silent_until = ih_now(ih) + (uint64_t)p->silent_s * 1000;
		break;
	default:
		break;
	}
	if (p->state != s) {
		ih->gen++;
		const struct dime_addr *a = hid_primary(h, AF_UNSPEC);
		log_debug("IHMP: peer %s: %s -> %s", a ? addr_fmt(a, b) : "-", peer_state_names[p->state],
			  peer_state_names[s]);
		if (s == PEER_OK && !p->was_up) {
			/* A dime peer answered (signed, if we hold its key): up. */
			struct ev e;
			ev_begin(&e, "peer-up");
			ev_peer(&e, h);	/* its key, if bound yet: key-bound says when */
			ev_end(&e);
			p->was_up = true;
		}
	}
	p->state = (uint8_t)s;
}

const char *ihmp_peer_state(const struct hid *h)
{
	const struct ihmp_peer *p = h->ihmp;
	return peer_state_names[p ? p->state : PEER_NEW];
}

void ihmp_put_addrs(struct ihmp *ih, struct ihmp_msg *m)
{
	const struct rtnl_addr *la;
	size_t n = ih->env.local_addrs(ih->env.arg, &la);

	for (size_t i = 0; i < n && m->naddrs < IHMP_MAX_ADDRS; i++)
		if (!addr_is_linklocal(&la[i].addr))
			m->addrs[m->naddrs++] = la[i].addr;
	m->has |= IHMP_HAS(IHMP_T_ADDRS);
}

/* ---- receiving (§9) ---- */

static bool decoded(struct ihmp *ih, struct ihmp_msg *m, const uint8_t *buf, size_t len,
		    const struct dime_addr *src)
{
	char b[ADDR_STRLEN];
	int r = ihmp_decode(m, buf, len);

	switch (r) {
	case 0: return true;
	case -EPROTONOSUPPORT: ih->stats.rx_version++; return false;
	case -EOPNOTSUPP: ih->stats.rx_unsupported++; return false;
	case -E2BIG: ih->stats.rx_too_big++; return false;
	case -ENOMSG: ih->stats.rx_incomplete++; return false;
	default:
		ih->stats.rx_malformed++;
		if (log_allow(&ih->lim, ih_now_s(ih), 5))
			log_info("IHMP: malformed message from %s: %s", addr_fmt(src, b), strerror(-r));
		return false;
	}
}

/* The HID a message speaks for. A HELLO speaks for its Host ID if we hold
 * that peer's key, else for the address it came from (T2). */
static struct hid *speaker(struct ihmp *ih, const struct ihmp_msg *m, const struct dime_addr *src)
{
	struct hid *h = hid_table_lookup(ih->ht, &m->host_id);

	if (m->type == IHMP_HELLO && (!h || h->key_origin == HID_KEY_NONE))
		h = hid_table_lookup(ih->ht, src);
	return h;
}

static void received(struct ihmp *ih, const uint8_t *buf, size_t len, const struct dime_addr *src,
		     uint16_t port, const struct dime_addr *dst)
{
	static struct log_limit lim_attack;
	struct ihmp_msg m;
	const uint8_t *proved;
	char b[ADDR_STRLEN];

	if (!ihmp_rate_ok(ih, src)) {
		ih->stats.rx_rate_limited++;
		return;
	}
	if (!decoded(ih, &m, buf, len, src))
		return;
	log_debug("IHMP: got %s seq %u from %s", ihmp_type_name(m.type), m.seq, addr_fmt(src, b));

	struct hid *h = speaker(ih, &m, src), *txh = NULL;
	struct ihmp_tx *t = NULL;
	if (m.type == IHMP_ACK) {
		/* The request it answers says whose it is: the proof of a new
		 * address names that address as Host ID, which we may not map
		 * yet, or map to a HID a spoofed flow left (T4). */
		t = ihmp_tx_find(ih, &m, src, port, &txh);
		if (t)
			h = txh;
	} else if (!h && m.type != IHMP_HELLO) {
		/* Everything else must name a peer we know (III-B). */
		ih->stats.rx_unknown_host++;
		return;
	}
	if (!ihmp_budget_ok(ih, h)) {
		ih->stats.rx_rate_limited++;
		return;
	}
	if (!ihmp_authenticate(ih, h, &m, buf, src, &ih->rx_bound, &proved)) {
		if (log_allow(&lim_attack, ih_now_s(ih), 5))
			log_info("IHMP: rejected %s from %s (see dimectl stats)", ihmp_type_name(m.type),
				 addr_fmt(src, b));
		return;
	}
	/* What we send in answer to a sender we cannot hold to account: at
	 * most 3x what it sent (T5). */
	ih->rx_budget = ih->rx_bound ? SIZE_MAX : 3 * len;
	if (m.type == IHMP_ACK && (!t || txh != h)) {
		ih->stats.rx_unexpected_ack++;
		return;
	}
	ih->stats.in[m.type]++;
	struct ihmp_peer *p = h ? ihmp_peer_get(ih, h) : NULL;
	if (p && ih->rx_bound) {
		p->last_seen = ih_now(ih);
		p->restored_at = 0;	/* it knows us as we are: nothing stale to fear */
		/* Whoever signs with the key we hold runs dime, whatever a
		 * lost HELLO made us believe. */
		if (p->state != PEER_OK && m.type != IHMP_HELLO)
			ihmp_peer_set_state(ih, h, PEER_OK);
	}
	switch (m.type) {
	case IHMP_HELLO:
		if (h && ih->rx_bound)
			ihmp_key_rotate(ih, h, &m);
		ihmp_on_hello(ih, h, &m, src, dst, port, proved);
		break;
	case IHMP_ACK:
		ihmp_tx_acked(ih, h, t, &m, src, proved);
		break;
	case IHMP_PATH_PROBE:
		ihmp_on_probe(ih, h, &m, src, dst, port);
		break;
	case IHMP_ADDR_UP:
	case IHMP_ADDR_UP_UNREACHABLE:
	case IHMP_ADDR_DOWN:
	case IHMP_ADDR_DOWN_UNREACHABLE:
	case IHMP_HANDOFF:
	case IHMP_HANDOFF_UNREACHABLE:
		ihmp_on_change(ih, h, &m, src, dst, port);
		break;
	default:
		ih->stats.rx_unsupported++;	/* NAT_ENTRY: no IHMP-aware NATs here */
	}
}

void ihmp_dispatch(struct ihmp *ih, const uint8_t *buf, size_t len, const struct dime_addr *src,
		   uint16_t port, const struct dime_addr *dst)
{
	received(ih, buf, len, src, port, dst);
	ih->rx_budget = SIZE_MAX;	/* what timers send answers nobody */
	ih->rx_bound = false;
}

/* ---- our own address changes, deferred to the tick ---- */

void ihmp_addr_event(struct ihmp *ih, const struct rtnl_addr *a, bool up)
{
	if (!a) {
		ih->kick = true;
		return;
	}
	if (ih->nev == IHMP_MAX_EVENTS) {
		ih->ev_overflow = true;
		return;
	}
	ih->ev[ih->nev].a = a->addr;
	ih->ev[ih->nev].up = up;
	ih->nev++;
}

int ihmp_tick(struct ihmp *ih)
{
	uint64_t now = ih_now(ih);
	bool changed = ih->kick || ih->nev || ih->ev_overflow;

	if (ih->nev || ih->ev_overflow)
		ihmp_process_events(ih);
	if (changed)
		ihmp_route_moves(ih, NULL);
	ihmp_reclaim(ih, now);
	if (now - ih->peer_last >= 1000 || now >= ih->peer_due) {
		/* A walk of the peers at most once a second (not per
		 * message, T4), or when a keepalive or re-kick is due. */
		uint32_t cur = 0;
		struct hid *h;
		ih->peer_last = now;
		ih->peer_due = UINT64_MAX;
		while ((h = hid_table_next(ih->ht, &cur))) {
			ihmp_nat_keepalive(ih, h, now);
			ihmp_rekick(ih, h, now);
		}
	}
	uint64_t next = ihmp_tx_run(ih, now);
	if (ih->peer_due < next)
		next = ih->peer_due;
	ih->kick = false;
	return next == UINT64_MAX ? -1 : (int)(next > now ? next - now : 0);
}

/* ---- restarts (src/state.c) ---- */

void ihmp_peer_save(const struct hid *h, struct ihmp_saved_peer *s)
{
	const struct ihmp_peer *p = h->ihmp;

	*s = (struct ihmp_saved_peer){ 0 };
	if (!p)
		return;
	s->answered = p->state == PEER_OK;
	s->have_counter = p->have_counter;
	s->last_counter = p->last_counter[0] > p->last_counter[1] ? p->last_counter[0] : p->last_counter[1];
}

int ihmp_peer_restore(struct ihmp *ih, struct hid *h, const struct ihmp_saved_peer *s)
{
	struct ihmp_peer *p = ihmp_peer_get(ih, h);

	if (!p)
		return -ENOMEM;
	/* A replayed message from before the restart stays a replay. */
	p->have_counter = s->have_counter;
	p->last_counter[0] = p->last_counter[1] = s->last_counter & ~IHMP_COUNTER_V4;
	if (s->answered) {
		ihmp_peer_set_state(ih, h, PEER_OK);
		p->restored_at = ih_now(ih);
	}
	return 0;
}

uint64_t ihmp_counter(const struct ihmp *ih)
{
	return ih->counter;
}

void ihmp_counter_floor(struct ihmp *ih, uint64_t c)
{
	if (c > ih->counter)
		ih->counter = c;
}

const uint8_t *ihmp_host_pk(const struct ihmp *ih)
{
	return ih->have_key ? ih->key.pk : NULL;
}

uint64_t ihmp_generation(const struct ihmp *ih)
{
	return ih->gen;
}

/* ---- show ---- */

void ihmp_show_stats(struct ihmp *ih, struct out *o)
{
	const struct ihmp_stats *s = &ih->stats;

	out_obj_begin(o, "ihmp");
	out_obj_begin(o, "sent");
	for (int t = 1; t <= IHMP_TYPE_MAX; t++)
		out_u64(o, ihmp_type_name((uint8_t)t), s->out[t]);
	out_obj_end(o);
	out_obj_begin(o, "received");
	for (int t = 1; t <= IHMP_TYPE_MAX; t++)
		out_u64(o, ihmp_type_name((uint8_t)t), s->in[t]);
	out_obj_end(o);
#define IHMP_STAT_OUT(f, key) out_u64(o, key, s->f);
	IHMP_STATS_TOP(IHMP_STAT_OUT)
	out_obj_begin(o, "rejected");
	IHMP_STATS_REJECTED(IHMP_STAT_OUT)
	out_obj_end(o);
	IHMP_STATS_OTHER(IHMP_STAT_OUT)
#undef IHMP_STAT_OUT
	out_obj_end(o);
}
