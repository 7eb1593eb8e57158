/*
 * StackTrans in userspace. Sockets keep the addresses they started with
 * (identifiers); packets on the wire carry current locators. nftables sends
 * us only what needs us: packets of translated flows (sets out4/out6 hold
 * their identifier tuples, in4/in6 their locator tuples), the first packet
 * of each flow, and ICMP errors. Flows that need no translation cost one
 * queued packet, then nothing.
 *
 * Order of switching on, so that neither host answers the other with a RST
 * (docs/datapath.md): a flow's inbound element goes in as soon as we know a
 * candidate local locator; its outbound element only once the peer is known
 * to reach us there (the address is in the HID's local set), or when only
 * the peer moved.
 */
#include <errno.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "addrcount.h"
#include "flow_table.h"
#include "hid_table.h"
#include "ihmp.h"
#include "log.h"
#include "nftset.h"
#include "pkt.h"
#include "sockdiag.h"
#include "stacktrans.h"
#include "st_peer.h"
#include "st_tunnel.h"
#include "tcpkick.h"
#include "xlate.h"
#include "encap.h"
#include "events.h"

#define FLOW_F_OUT_SET	0x04	/* its identifier tuple is in out4/out6 */
#define FLOW_F_IN_SET	0x08	/* its locator tuple is in in4/in6 */
#define FLOW_F_SND_BASE	0x10	/* f->snd_base is known (we saw our SYN) */
#define FLOW_F_RCV_BASE	0x20	/* f->rcv_base is known (we saw the peer's) */
#define FLOW_F_ENC_SET	0x80	/* carried encapsulated: its identifier tuple is in enc4/enc6 */

/* f->mark: where a flow's in and out elements live (docs/datapath.md). */
enum st_path {
	ST_PATH_QUEUE,		/* in4/out4 (in6/out6): dimed rewrites its packets */
	ST_PATH_KERNEL,		/* the fast_* maps: the kernel rewrites them */
	ST_PATH_IDLE,		/* was in the kernel, idle past its timeout: queued
				 * again, so its next packet shows it is alive */
};

#define ST_SWEEP_INTERVAL 30	/* seconds between socket sweeps */
#define ST_KICK_LOOKUPS	32	/* a peer's TCP sockets looked up one by one; more: a dump */

struct stacktrans {
	struct st_cfg cfg;
	struct flow_table *ft;
	struct hid_table *ht;
	/* The peer addresses the set and map elements name, counted: nft's
	 * peers4/6, the one lookup a packet of any other flow costs. */
	struct addrcount *peers;
	struct rtnl *rt;
	struct nftset *ns;
	st_inject_fn inject;	/* into the local stack (dimed's TUN); NULL: no kicks */
	void *inject_arg;
	struct flow_timeouts timeouts;
	struct st_stats stats;
	bool resync;		/* addresses or routes changed */
	bool set_dirty;		/* batch holds uncommitted calls */
	bool ids_dirty;		/* a flow's need for its identifier on lo changed */
	uint64_t gen;		/* bumped by what a restart must keep (src/state.c) */
	uint32_t nenc;		/* flows in the tunnel (FLOW_F_ENC_SET) */
	uint32_t nkernel;	/* flows on ST_PATH_KERNEL */
	uint32_t nkelems;	/* their elements in the kernel's maps */
	bool kernel;		/* settled translations go to the fast_* maps */
	uint32_t last_expire, last_sweep;
	uint8_t sweep_mark;
	struct log_limit lim_malformed, lim_full, lim_set;
	st_peer_fn peer_fn;
	void *peer_arg;
	/* Route lookups of one re-sync pass: a peer's flows share a locator,
	 * so 10,000 flows cost one netlink round trip, not 10,000. */
	size_t nrc;
	struct { struct dime_addr dst, src; int r; } rc[16];
};

static int route_src_cached(struct stacktrans *st, const struct dime_addr *dst, struct dime_addr *src)
{
	for (size_t i = 0; i < st->nrc; i++)
		if (addr_eq(&st->rc[i].dst, dst)) {
			*src = st->rc[i].src;
			return st->rc[i].r;
		}
	int r = rtnl_route_src(st->rt, dst, src);
	if (st->nrc < sizeof(st->rc) / sizeof(st->rc[0])) {
		st->rc[st->nrc].dst = *dst;
		st->rc[st->nrc].src = *src;
		st->rc[st->nrc].r = r;
		st->nrc++;
	}
	return r;
}

int st_new(struct stacktrans **out, const struct st_cfg *cfg, struct rtnl *rt, struct nftset *ns)
{
	struct stacktrans *st = calloc(1, sizeof(*st));
	uint32_t seed[3];

	if (!st)
		return -ENOMEM;
	if (getrandom(seed, sizeof(seed), 0) != sizeof(seed))
		seed[0] = seed[1] = seed[2] = (uint32_t)time(NULL);
	st->cfg = *cfg;
	st->rt = rt;
	st->ns = ns;
	flow_timeouts_default(&st->timeouts);
	st->ft = flow_table_new(cfg->max_flows, seed[0]);
	st->ht = hid_table_new(cfg->max_hids, seed[1]);
	if (!st->ft || !st->ht || addrcount_new(&st->peers, seed[2]) < 0) {
		st_free(st);
		return -ENOMEM;
	}
	st->last_expire = st->last_sweep = clock_s();
	*out = st;
	return 0;
}

void st_free(struct stacktrans *st)
{
	if (!st)
		return;
	if (st->ft)
		flow_table_free(st->ft);
	if (st->ht)
		hid_table_free(st->ht);
	addrcount_free(st->peers);
	free(st);
}

/* ---- small helpers ---- */

enum st_set { SET_IN, SET_OUT, SET_ENC };

static const char *set_name(int af, enum st_set which)
{
	static const char *const names[3][2] = { { "in4", "in6" }, { "out4", "out6" }, { "enc4", "enc6" } };
	return names[which][af == AF_INET6];
}

/* One set or map element: a flow tuple, and for a map the address it gives. */
struct st_elem {
	const char *set;
	struct dime_addr s, d, data;
	bool has_data;
	uint8_t proto;
	uint16_t sport, dport;
};

/* Queues one add (with data for a map) or delete; a full batch is sent
 * first. Counts a failure; marks the batch to commit. */
static void set_op(struct stacktrans *st, bool add, const char *set, const uint8_t *key, size_t n,
		   const struct dime_addr *data)
{
	int r;

	for (int tries = 0; tries < 2; tries++) {
		if (!add)
			r = nftset_del(st->ns, set, key, n);
		else if (data)
			r = nftset_add_map(st->ns, set, key, n, data->a, addr_len(data));
		else
			r = nftset_add(st->ns, set, key, n);
		if (r != -ENOSPC)
			break;
		nftset_commit(st->ns);	/* full batch: send what we have, then retry */
	}
	if (r < 0)
		st->stats.set_errors++;
	else
		st->set_dirty = true;
}

static void set_call(struct stacktrans *st, bool add, const struct st_elem *e)
{
	uint8_t key[NFTSET_KEY_MAX];
	size_t n = nftset_key_flow(key, &e->s, &e->d, e->proto, e->sport, e->dport);

	if (!n)
		return;
	set_op(st, add, e->set, key, n, e->has_data ? &e->data : NULL);
	st->gen++;
}

/* A flow's tuple in a set. in: locators as the packet arrives (source is
 * the peer); out: identifiers as the packet leaves the socket; enc: the
 * same, for flows routed into the tunnel instead. */
static void set_tuple(const struct flow *f, enum st_set which, struct dime_addr *s, struct dime_addr *d,
		      uint16_t *sport, uint16_t *dport)
{
	if (which == SET_IN) {
		addr_set(s, f->key.af, f->rloc);
		addr_set(d, f->key.af, f->lloc);
		*sport = f->key.rport;
		*dport = f->key.lport;
	} else {
		flow_lid(f, s);
		flow_rid(f, d);
		*sport = f->key.lport;
		*dport = f->key.rport;
	}
}

/*
 * The elements that carry f in its direction `which` (at most two). Queued,
 * the tuple alone. In the kernel (nft/dimed-fast.nft), keyed by the tuple
 * as the packet comes: when one address changes, one element of
 * *_only_src or *_only_dst giving it; when both do, a pair for one rule:
 * *_dst gives the new destination, *_src, keyed by the tuple with that
 * destination, the new source. Two flows never share a *_src key: they
 * would share a locator tuple too, which flow_table_set_locators refuses.
 * The elements follow from the flow's locators alone, and the caller
 * takes them out before it changes those: what was added is deleted.
 */
static size_t flow_elems(const struct flow *f, enum st_set which, bool kernel, struct st_elem e[2])
{
	static const char *const fast[2][2][4] = {	/* [out][v6][kind] */
		{ { "fast_in4_only_src", "fast_in4_only_dst", "fast_in4_dst", "fast_in4_src" },
		  { "fast_in6_only_src", "fast_in6_only_dst", "fast_in6_dst", "fast_in6_src" } },
		{ { "fast_out4_only_src", "fast_out4_only_dst", "fast_out4_dst", "fast_out4_src" },
		  { "fast_out6_only_src", "fast_out6_only_dst", "fast_out6_dst", "fast_out6_src" } },
	};
	enum { ONLY_SRC, ONLY_DST, BOTH_DST, BOTH_SRC };
	struct dime_addr lid, rid, lloc, rloc;
	bool v6 = f->key.af == AF_INET6, out = which == SET_OUT;

	e[0] = (struct st_elem){ .set = set_name(f->key.af, which), .proto = f->key.proto };
	set_tuple(f, which, &e[0].s, &e[0].d, &e[0].sport, &e[0].dport);
	if (which == SET_ENC || !kernel)
		return 1;
	flow_lid(f, &lid);
	flow_rid(f, &rid);
	addr_set(&lloc, f->key.af, f->lloc);
	addr_set(&rloc, f->key.af, f->rloc);
	/* The kernel's key is the tuple as the packet comes: identifiers
	 * going out, locators coming in; it gets the other form. */
	const struct dime_addr *to_src = out ? &lloc : &rid, *to_dst = out ? &rloc : &lid;
	if (out) {
		e[0].s = lid;
		e[0].d = rid;
	} else {
		e[0].s = rloc;
		e[0].d = lloc;
	}
	e[0].has_data = true;
	bool src_changes = !addr_eq(&e[0].s, to_src), dst_changes = !addr_eq(&e[0].d, to_dst);
	if (src_changes != dst_changes) {
		e[0].set = fast[out][v6][src_changes ? ONLY_SRC : ONLY_DST];
		e[0].data = src_changes ? *to_src : *to_dst;
		return 1;
	}
	e[0].set = fast[out][v6][BOTH_DST];
	e[0].data = *to_dst;
	e[1] = e[0];
	e[1].set = fast[out][v6][BOTH_SRC];
	e[1].d = *to_dst;
	e[1].data = *to_src;
	return 2;
}

/* Its elements, as they are (a table loaded afresh) or changing. */
static void flow_put(struct stacktrans *st, const struct flow *f, bool add, enum st_set which)
{
	struct st_elem e[2];
	bool kernel = f->mark == ST_PATH_KERNEL;
	size_t n = flow_elems(f, which, kernel, e);
	for (size_t i = 0; i < n; i++)
		set_call(st, add, &e[i]);
	if (kernel && which != SET_ENC)
		st->nkelems = add ? st->nkelems + (uint32_t)n : st->nkelems - (uint32_t)n;
}

static void peer_put(struct stacktrans *st, const struct dime_addr *a, bool add)
{
	uint8_t key[NFTSET_KEY_MAX];
	size_t n = nftset_key_addr(key, a);

	set_op(st, add, a->af == AF_INET6 ? "peers6" : "peers4", key, n, NULL);
}

/* Where f's packets in that direction come from (in) or go to (out,
 * enc), as nft's first lookup sees them. */
static void flow_peer(const struct flow *f, enum st_set which, struct dime_addr *a)
{
	if (which == SET_IN)
		addr_set(a, f->key.af, f->rloc);
	else
		flow_rid(f, a);
}

static void peer_ref(struct stacktrans *st, const struct flow *f, enum st_set which, bool add)
{
	struct dime_addr a;
	int r;

	flow_peer(f, which, &a);
	r = add ? addrcount_inc(st->peers, &a) : addrcount_dec(st->peers, &a);
	if (r == 1)
		peer_put(st, &a, add);
	else if (r < 0)
		st->stats.set_errors++;
}

/* Adds or deletes f's elements and counts the peer address they name:
 * the address is in peers4/6 while any element names it. */
static void set_flow(struct stacktrans *st, const struct flow *f, bool add, enum st_set which)
{
	if (add)
		peer_ref(st, f, which, true);
	flow_put(st, f, add, which);
	if (!add)
		peer_ref(st, f, which, false);
}

/* Moves nothing: the caller took f's elements out and puts them back. */
static void flow_set_path(struct stacktrans *st, struct flow *f, enum st_path path)
{
	if (f->mark == ST_PATH_KERNEL)
		st->nkernel--;
	if (path == ST_PATH_KERNEL)
		st->nkernel++;
	f->mark = path & 3;
}

static void set_out(struct stacktrans *st, const struct flow *f, bool add)
{
	set_flow(st, f, add, SET_OUT);
}

static void set_in(struct stacktrans *st, const struct flow *f, bool add)
{
	set_flow(st, f, add, SET_IN);
}

static void st_commit(struct stacktrans *st)
{
	if (!st->set_dirty)
		return;
	st->set_dirty = false;
	if (nftset_commit(st->ns) < 0) {
		st->stats.set_errors++;
		if (log_allow(&st->lim_set, clock_s(), 5))
			log_warnx("updating nft sets: %s", nftset_errmsg(st->ns));
	}
}

static void st_resync_hid(struct stacktrans *st, uint32_t hid);
static void flow_unlink(void *arg, struct flow *f);
static void sync_identifiers(struct stacktrans *st);

/* ---- deciding what a flow needs ---- */

/* The address the peer uses as its primary for us — the first of family af
 * in the HID's local set (kept in the peer's active order) — if it is live. */
static bool hid_live_local(struct stacktrans *st, const struct hid *h, int af, struct dime_addr *out)
{
	const struct hid_addrs *s = &h->set[HID_LOCAL];
	for (unsigned i = 0; i < s->n; i++)
		if (s->a[i].af == af) {
			if (!rtnl_is_local(st->rt, &s->a[i]))
				return false;
			*out = s->a[i];
			return true;
		}
	return false;
}

int st_local_first(struct stacktrans *st, struct hid *h, const struct dime_addr *a)
{
	struct hid_addrs keep = h->set[HID_LOCAL];
	uint32_t now = clock_s();
	int r;

	/* Rebuild the set with a first: hid_table keeps insertion order. */
	for (unsigned i = 0; i < keep.n; i++)
		hid_table_del_addr(st->ht, h, HID_LOCAL, &keep.a[i], now);
	if ((r = hid_table_add_addr(st->ht, h, HID_LOCAL, a, now)) < 0)
		return r;
	for (unsigned i = 0; i < keep.n; i++)
		if (!addr_eq(&keep.a[i], a))
			hid_table_add_addr(st->ht, h, HID_LOCAL, &keep.a[i], now);
	hid_addrs_drop(&h->moved, a);	/* the peer sends here again */
	return 0;
}

void st_moved_from(struct stacktrans *st, struct hid *h, const struct dime_addr *old)
{
	hid_addrs_drop(&h->moved, old);
	if (h->moved.n == HID_ADDRS_MAX)
		hid_addrs_drop(&h->moved, &h->moved.a[0]);	/* the oldest move */
	h->moved.a[h->moved.n++] = *old;
}

struct hid_table *st_hids(struct stacktrans *st)
{
	return st->ht;
}

struct rtnl *st_rtnl(struct stacktrans *st)
{
	return st->rt;
}

void st_hid_changed(struct stacktrans *st, uint32_t handle)
{
	st_resync_hid(st, handle);
}

unsigned st_abort_peer(struct stacktrans *st, uint32_t handle, int af)
{
	struct flow *f = flow_table_hid_first(st->ft, handle), *next;
	unsigned n = 0;

	for (; f; f = next) {
		next = flow_table_hid_next(st->ft, f);
		if (af && f->key.af != af)
			continue;
		struct sockdiag_sock s = { .af = f->key.af, .proto = f->key.proto,
					   .lport = f->key.lport, .rport = f->key.rport };
		flow_lid(f, &s.laddr);
		flow_rid(f, &s.raddr);
		if (sockdiag_destroy(&s) == 0)
			n++;
		flow_unlink(st, f);
		flow_table_remove(st->ft, f);
	}
	st_commit(st);
	sync_identifiers(st);
	return n;
}

int st_fold_hid(struct stacktrans *st, struct hid *into, struct hid *from)
{
	uint32_t now = clock_s();
	struct flow *f, *next;

	for (int s = 0; s < HID_NSETS; s++) {
		unsigned n = into->set[s].n;
		for (unsigned i = 0; i < from->set[s].n; i++)
			n += hid_where(into, &from->set[s].a[i]) < 0;
		if (n > HID_ADDRS_MAX)
			return -ENOSPC;
	}
	/* Only a move that needs a new per-HID group can fail, so only the
	 * first: after it, into has one. */
	for (f = flow_table_hid_first(st->ft, from->handle); f; f = next) {
		next = flow_table_hid_next(st->ft, f);
		if (flow_table_set_hid(st->ft, f, into->handle) < 0)
			return -ENOMEM;
		from->nflows -= from->nflows > 0;
		into->nflows++;
	}
	for (int s = 0; s < HID_NSETS; s++)
		while (from->set[s].n) {
			struct dime_addr a = from->set[s].a[0];
			hid_table_del_addr(st->ht, from, (enum hid_set_id)s, &a, now);
			if (hid_where(into, &a) < 0)
				hid_table_add_addr(st->ht, into, (enum hid_set_id)s, &a, now);
		}
	for (unsigned i = 0; i < from->moved.n && into->moved.n < HID_ADDRS_MAX; i++)
		if (hid_addrs_find(&into->moved, &from->moved.a[i]) < 0)
			into->moved.a[into->moved.n++] = from->moved.a[i];
	if (from->key_origin > into->key_origin)	/* a pin is stronger than TOFU */
		hid_set_key(into, from->key, (enum hid_key_origin)from->key_origin);
	into->bytes_in += from->bytes_in;	/* one host's traffic, counted under two HIDs until now */
	into->bytes_out += from->bytes_out;
	into->updated = now;
	hid_table_remove(st->ht, from);
	return 0;
}

struct kick_ctx {
	struct stacktrans *st;
	uint32_t handle;
	int af;
	unsigned n;
};

static void kick_one(void *arg, const struct sockdiag_sock *s, const struct sockdiag_tcp *t)
{
	struct kick_ctx *c = arg;
	struct flow_key k;
	char b[ADDR_STRLEN];

	if (s->af != c->af)
		return;		/* that family's path may not be back */
	flow_key_init(&k, s->af, IPPROTO_TCP, s->laddr.a, s->lport, s->raddr.a, s->rport);
	struct flow *f = flow_table_lookup(c->st->ft, &k);
	if (!f || f->hid != c->handle || !(f->flags & FLOW_F_SND_BASE))
		return;		/* not this peer's, or we never saw our SYN */
	uint32_t snd_una = f->snd_base + (uint32_t)t->bytes_acked;
	uint8_t pkt[TCPKICK_MAX_LEN];
	size_t len;
	unsigned times = 1;
	if (t->timer == SOCKDIAG_TIMER_PERSIST) {
		/* A zero window is the peer's to open: its probes do that. */
		if (!(f->flags & FLOW_F_RCV_BASE) || !t->snd_wnd)
			return;
		uint32_t win = t->snd_wnd >> t->snd_wscale;
		len = tcpkick_build_ack(pkt, sizeof(pkt), &s->laddr, s->lport, &s->raddr, s->rport,
					f->rcv_base + (uint32_t)t->bytes_received, snd_una,
					win > 0xffff ? 0xffff : (uint16_t)win);
	} else {
		len = tcpkick_build(pkt, sizeof(pkt), &s->laddr, s->lport, &s->raddr, s->rport, snd_una);
		times = t->backoff;	/* one revert per doubling */
	}
	if (!len)
		return;
	for (unsigned i = 0; i < times; i++)
		if (c->st->inject(c->st->inject_arg, pkt, len) < 0)
			return;
	if (t->timer == SOCKDIAG_TIMER_PERSIST) {
		log_debug("restarted TCP to %s port %u with its peer's ACK (persist timer, backoff %u)",
			  addr_fmt(&s->raddr, b), ntohs(s->rport), t->backoff);
		c->st->stats.tcp_probed++;
	} else {
		log_debug("restarted TCP to %s port %u (retransmission backoff %u)", addr_fmt(&s->raddr, b),
			  ntohs(s->rport), t->backoff);
		c->st->stats.tcp_kicked++;
	}
	c->n++;
}

unsigned st_kick_peer(struct stacktrans *st, uint32_t handle, int af)
{
	struct kick_ctx c = { .st = st, .handle = handle, .af = af };

	if (!st->inject || !flow_table_hid_first(st->ft, handle))
		return 0;
	/* A handoff waits for this: look the peer's few sockets up one by
	 * one (two dumps of every socket cost a millisecond and more); many
	 * of them, one dump. */
	struct sockdiag_sock socks[ST_KICK_LOOKUPS];
	size_t n = 0;
	const struct flow *f;
	for (f = flow_table_hid_first(st->ft, handle); f && n < ST_KICK_LOOKUPS; f = flow_table_hid_next(st->ft, f)) {
		if (f->key.proto != IPPROTO_TCP || f->key.af != af || !(f->flags & FLOW_F_SND_BASE))
			continue;
		socks[n] = (struct sockdiag_sock){ .af = (uint8_t)af, .proto = IPPROTO_TCP,
						   .lport = f->key.lport, .rport = f->key.rport };
		flow_lid(f, &socks[n].laddr);
		flow_rid(f, &socks[n].raddr);
		n++;
	}
	if (!f)
		sockdiag_stalled(socks, n, kick_one, &c);
	if (f || !c.n)	/* many, or none found stalled by tuple: every socket */
		sockdiag_dump_stalled(kick_one, &c);
	return c.n;
}

bool st_peer_addr_in_use(struct stacktrans *st, uint32_t handle, const struct dime_addr *a)
{
	for (struct flow *f = flow_table_hid_first(st->ft, handle); f; f = flow_table_hid_next(st->ft, f))
		if (f->key.af == a->af && !memcmp(f->key.raddr, a->a, addr_len(a)))
			return true;
	return false;
}

void st_table_loaded(struct stacktrans *st, bool kernel)
{
	uint32_t cur = 0;
	struct flow *f;

	/* The kernel's elements went with the old table. */
	while (st->nkernel && (f = flow_table_next(st->ft, &cur)))
		if (f->mark == ST_PATH_KERNEL)
			flow_set_path(st, f, ST_PATH_QUEUE);
	st->nkelems = 0;
	st->kernel = kernel;
	st->resync = true;	/* settled flows move to the kernel at the next tick */
}

void st_set_timeouts(struct stacktrans *st, uint32_t udp, uint32_t tcp_est)
{
	st->timeouts.udp = udp;
	st->timeouts.tcp_est = tcp_est;
}

void st_set_injector(struct stacktrans *st, st_inject_fn fn, void *arg)
{
	st->inject = fn;
	st->inject_arg = arg;
}

void st_set_peer_hook(struct stacktrans *st, st_peer_fn fn, void *arg)
{
	st->peer_fn = fn;
	st->peer_arg = arg;
}

/* The flow moves in the tunnel: its packets are routed into the TUN
 * (enc set) once the peer confirmed where we are (out_ok), and arrive
 * from it; no plain translation, no locators. Its identifier stays on lo
 * while it is gone from the links. */
static void flow_encap(struct stacktrans *st, struct flow *f, bool out_ok, const struct dime_addr *lid)
{
	if (f->flags & FLOW_F_IN_SET)
		set_in(st, f, false);
	if (f->flags & FLOW_F_OUT_SET)
		set_out(st, f, false);
	f->flags &= (uint8_t)~(FLOW_F_IN_SET | FLOW_F_OUT_SET);
	flow_set_path(st, f, ST_PATH_QUEUE);
	flow_table_clear_locators(st->ft, f);
	if (out_ok && !(f->flags & FLOW_F_ENC_SET)) {
		set_flow(st, f, true, SET_ENC);
		f->flags |= FLOW_F_ENC_SET;
		st->nenc++;
	} else if (!out_ok && (f->flags & FLOW_F_ENC_SET)) {
		set_flow(st, f, false, SET_ENC);
		f->flags &= (uint8_t)~FLOW_F_ENC_SET;
		st->nenc--;
	}
	uint8_t was = f->flags & FLOW_F_ID_ON_LO;
	if (!rtnl_is_alive(st->rt, lid))
		f->flags |= FLOW_F_ID_ON_LO;
	else
		f->flags &= (uint8_t)~FLOW_F_ID_ON_LO;
	st->ids_dirty |= was != (f->flags & FLOW_F_ID_ON_LO);
}

/*
 * Brings one flow's locators and set elements in line with the tables.
 * Elements are queued in the batch; the caller commits.
 */
static void flow_sync(struct stacktrans *st, struct flow *f)
{
	struct dime_addr lid, rid, lloc, rloc;
	struct hid *h = hid_table_get(st->ht, f->hid);
	bool out_ok = true;

	flow_lid(f, &lid);
	flow_rid(f, &rid);
	rloc = rid;
	if (h) {
		const struct dime_addr *p = hid_primary(h, f->key.af);
		if (p)
			rloc = *p;
	}
	lloc = lid;
	if (!rtnl_is_alive(st->rt, &lid)) {
		/* Our identifier is gone: use an address the peer confirmed, or
		 * else a candidate for inbound only, until it is confirmed. */
		if (!(h && hid_live_local(st, h, f->key.af, &lloc))) {
			out_ok = false;
			if (route_src_cached(st, &rloc, &lloc) < 0)
				lloc = lid;
		}
	} else if (h && hid_addrs_find(&h->moved, &lid) >= 0) {
		/* Still here, but we handed off from it (soft handoff): its
		 * path may not carry it any more. */
		hid_live_local(st, h, f->key.af, &lloc);
	}
	bool xl = !addr_eq(&lloc, &lid) || !addr_eq(&rloc, &rid);
	const struct hid_nat *nat = h ? hid_nat_c(h, f->key.af) : NULL;
	bool nat_path = nat && (nat->peer || nat->self);

	/* A flow that runs natively over a path through a NAT has a
	 * different tuple at each end: it can only ever move encapsulated. */
	if (!xl && nat_path)
		f->nat_born = 1;
	if (xl && st_flow_tag(f) && (f->nat_born || nat_path)) {
		flow_encap(st, f, out_ok, &lid);
		return;
	}
	if (f->flags & FLOW_F_ENC_SET) {
		set_flow(st, f, false, SET_ENC);
		f->flags &= (uint8_t)~FLOW_F_ENC_SET;
		st->nenc--;
	}
	if (!xl) {
		if (f->flags & FLOW_F_IN_SET)
			set_in(st, f, false);
		if (f->flags & FLOW_F_OUT_SET)
			set_out(st, f, false);
		st->ids_dirty |= (f->flags & FLOW_F_ID_ON_LO) != 0;
		f->flags &= (uint8_t)~(FLOW_F_IN_SET | FLOW_F_OUT_SET | FLOW_F_ID_ON_LO);
		flow_set_path(st, f, ST_PATH_QUEUE);
		flow_table_clear_locators(st->ft, f);
		return;
	}
	bool changed = memcmp(f->lloc, lloc.a, 16) != 0 || memcmp(f->rloc, rloc.a, 16) != 0;
	bool relink = changed || !flow_is_translated(f);
	/* The kernel rewrites a flow once its translation is settled: both
	 * directions known, and no handoff of its peer waiting for the first
	 * packet on the new locator (dimed must see that one: it ends the
	 * handoff, ev_handoff_seen). Until then, and for idle flows, dimed
	 * rewrites (docs/datapath.md). */
	bool fast = f->mark == ST_PATH_KERNEL;
	bool want_fast = st->kernel && out_ok && f->mark != ST_PATH_IDLE &&
			 !(h && h->ho[f->key.af == AF_INET6].pending);
	if (relink || fast != want_fast) {
		/* All out, then all in, in one batch: the kernel switches at once. */
		if (f->flags & FLOW_F_IN_SET)
			set_in(st, f, false);
		f->flags &= (uint8_t)~FLOW_F_IN_SET;
		if ((f->flags & FLOW_F_OUT_SET) && (fast || want_fast)) {
			set_out(st, f, false);	/* the kernel's out elements hold locators */
			f->flags &= (uint8_t)~FLOW_F_OUT_SET;
		}
		if (relink && flow_table_set_locators(st->ft, f, &lloc, &rloc) < 0) {
			/* Another flow owns these locators: leave this one alone. */
			flow_table_clear_locators(st->ft, f);
			if (f->flags & FLOW_F_OUT_SET)
				set_out(st, f, false);
			st->ids_dirty |= (f->flags & FLOW_F_ID_ON_LO) != 0;
			f->flags &= (uint8_t)~(FLOW_F_OUT_SET | FLOW_F_ID_ON_LO);
			flow_set_path(st, f, ST_PATH_QUEUE);
			return;
		}
		if (fast != want_fast)
			flow_set_path(st, f, want_fast ? ST_PATH_KERNEL : ST_PATH_QUEUE);
		set_in(st, f, true);
		f->flags |= FLOW_F_IN_SET;
	}
	if (out_ok && !(f->flags & FLOW_F_OUT_SET)) {
		set_out(st, f, true);
		f->flags |= FLOW_F_OUT_SET;
	} else if (!out_ok && (f->flags & FLOW_F_OUT_SET)) {
		set_out(st, f, false);
		f->flags &= (uint8_t)~FLOW_F_OUT_SET;
	}
	uint8_t was = f->flags & FLOW_F_ID_ON_LO;
	if (out_ok && !addr_eq(&lloc, &lid))
		f->flags |= FLOW_F_ID_ON_LO;
	else
		f->flags &= (uint8_t)~FLOW_F_ID_ON_LO;
	st->ids_dirty |= was != (f->flags & FLOW_F_ID_ON_LO);
}

/* Holds on lo every identifier a flow still sends from; releases the rest. */
static void sync_identifiers(struct stacktrans *st)
{
	struct dime_addr need[RTNL_MAX_ADDRS];
	size_t nneed = 0;
	uint32_t cur = 0;
	struct flow *f;

	/* A walk of every flow: only when some flow's need changed, never
	 * just because a message arrived (docs/ihmp.md T4). */
	if (!st->ids_dirty)
		return;
	st->ids_dirty = false;
	while ((f = flow_table_next(st->ft, &cur))) {
		if (!(f->flags & FLOW_F_ID_ON_LO))
			continue;
		struct dime_addr lid;
		flow_lid(f, &lid);
		bool seen = false;
		for (size_t i = 0; i < nneed && !seen; i++)
			seen = addr_eq(&need[i], &lid);
		if (!seen && nneed < RTNL_MAX_ADDRS)
			need[nneed++] = lid;
	}
	/* Hold after the sets are committed: a held identifier without its
	 * translation would leak packets with a dead source. */
	for (size_t i = 0; i < nneed; i++) {
		int r = rtnl_hold(st->rt, &need[i]);
		if (r < 0) {
			char b[ADDR_STRLEN];
			log_warnx("cannot keep identifier %s on lo: %s", addr_fmt(&need[i], b), strerror(-r));
		}
	}
	rtnl_release_unneeded(st->rt, need, nneed);
}

static void st_resync_all(struct stacktrans *st)
{
	uint32_t cur = 0;
	struct flow *f;

	st->ids_dirty = true;	/* addresses changed: what lo must hold may too */
	st->nrc = 0;
	while ((f = flow_table_next(st->ft, &cur)))
		flow_sync(st, f);
	st_commit(st);
	sync_identifiers(st);
}

static void st_resync_hid(struct stacktrans *st, uint32_t hid)
{
	st->gen++;	/* its sets changed */
	st->nrc = 0;
	for (struct flow *f = flow_table_hid_first(st->ft, hid); f; f = flow_table_hid_next(st->ft, f))
		flow_sync(st, f);
	st_commit(st);
	sync_identifiers(st);
}

void st_rebuild_sets(struct stacktrans *st)
{
	uint32_t cur = 0;
	struct flow *f;

	while ((f = flow_table_next(st->ft, &cur))) {
		if (f->flags & FLOW_F_IN_SET)
			flow_put(st, f, true, SET_IN);
		if (f->flags & FLOW_F_OUT_SET)
			flow_put(st, f, true, SET_OUT);
		if (f->flags & FLOW_F_ENC_SET)
			flow_put(st, f, true, SET_ENC);
	}
	size_t pc = 0;
	for (const struct dime_addr *a; (a = addrcount_next(st->peers, &pc));)
		peer_put(st, a, true);
	st_commit(st);
}

/* ---- restarts (src/state.c) ---- */

uint64_t st_generation(const struct stacktrans *st)
{
	return st->gen;
}

int st_restore_flow(struct stacktrans *st, const struct flow *saved, uint32_t hid)
{
	const uint8_t keep = FLOW_F_LEARNED | FLOW_F_ID_ON_LO | FLOW_F_OUT_SET | FLOW_F_IN_SET |
			     FLOW_F_SND_BASE | FLOW_F_RCV_BASE | FLOW_F_ENC_SET;
	struct hid *h = hid_table_get(st->ht, hid);
	uint32_t now = clock_s();
	struct flow *f;
	int r;

	if (!h)
		return -ENOENT;
	/* The monotonic clock runs on across a restart: the saved time holds. */
	if ((r = flow_table_insert(st->ft, &saved->key, hid,
				   saved->last_seen < now ? saved->last_seen : now, &f)) < 0)
		return r;
	f->state = saved->state;
	f->nat_born = saved->nat_born;
	f->flags = saved->flags & keep;
	f->snd_base = saved->snd_base;
	f->rcv_base = saved->rcv_base;
	if (f->flags & FLOW_F_IN_SET) {
		struct dime_addr lloc, rloc;
		addr_set(&lloc, f->key.af, saved->lloc);
		addr_set(&rloc, f->key.af, saved->rloc);
		if (flow_table_set_locators(st->ft, f, &lloc, &rloc) < 0 || !flow_is_translated(f)) {
			flow_table_remove(st->ft, f);
			return -EINVAL;
		}
	}
	if (f->flags & FLOW_F_ENC_SET)
		st->nenc++;
	if (f->flags & FLOW_F_ID_ON_LO)
		st->ids_dirty = true;
	/* Its elements come with the table (st_nft_elements): count the peer
	 * addresses they name. */
	static const struct { uint8_t flag; enum st_set set; } sets[] = {
		{ FLOW_F_IN_SET, SET_IN }, { FLOW_F_OUT_SET, SET_OUT }, { FLOW_F_ENC_SET, SET_ENC },
	};
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		struct dime_addr a;
		flow_peer(f, sets[i].set, &a);
		if ((f->flags & sets[i].flag) && addrcount_inc(st->peers, &a) < 0)
			st->stats.set_errors++;
	}
	h->nflows++;
	st->gen++;
	return 0;
}

static int addr_cmp_sort(const void *x, const void *y)
{
	const struct dime_addr *a = x, *b = y;
	if (a->af != b->af)
		return a->af < b->af ? -1 : 1;
	return memcmp(a->a, b->a, sizeof(a->a));
}

int st_nft_elements(struct stacktrans *st, FILE *out)
{
	static const struct { uint8_t flag; enum st_set set; } sets[] = {
		{ FLOW_F_IN_SET, SET_IN }, { FLOW_F_OUT_SET, SET_OUT }, { FLOW_F_ENC_SET, SET_ENC },
	};
	uint32_t cur = 0;
	struct flow *f;

	/* Sorted: the same tables give the same text, whatever the hash seed. */
	size_t np = addrcount_size(st->peers), pc = 0, npa = 0;
	struct dime_addr *pa = calloc(np ? np : 1, sizeof(*pa));
	char p[ADDR_STRLEN];
	if (!pa)
		return -ENOMEM;
	for (const struct dime_addr *a; (a = addrcount_next(st->peers, &pc)) && npa < np;)
		pa[npa++] = *a;
	qsort(pa, npa, sizeof(*pa), addr_cmp_sort);
	for (size_t j = 0; j < npa; j++)
		if (fprintf(out, "add element inet dimed peers%c { %s }\n", pa[j].af == AF_INET6 ? '6' : '4',
			    addr_fmt(&pa[j], p)) < 0) {
			free(pa);
			return -EIO;
		}
	free(pa);
	while ((f = flow_table_next(st->ft, &cur)))
		for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
			struct st_elem e[2];
			char a[ADDR_STRLEN], b[ADDR_STRLEN], c[ADDR_STRLEN];
			if (!(f->flags & sets[i].flag))
				continue;
			/* The table nft/dimed.nft defines (rules.c loads it), in
			 * which every flow starts queued (st_table_loaded). */
			size_t n = flow_elems(f, sets[i].set, false, e);
			for (size_t j = 0; j < n; j++)
				if (fprintf(out, "add element inet dimed %s { %s . %s . %u . %u . %u%s%s }\n",
					    e[j].set, addr_fmt(&e[j].s, a), addr_fmt(&e[j].d, b), e[j].proto,
					    ntohs(e[j].sport), ntohs(e[j].dport), e[j].has_data ? " : " : "",
					    e[j].has_data ? addr_fmt(&e[j].data, c) : "") < 0)
					return -EIO;
		}
	return 0;
}

/* ---- learning ---- */

/* The HID for a peer address, created on first sight (*created says so).
 * 0 if the table is full. */
static uint32_t hid_for(struct stacktrans *st, const struct dime_addr *peer, const struct dime_addr *local,
			bool *created)
{
	struct hid *h = hid_table_lookup(st->ht, peer);
	uint32_t now = clock_s();

	*created = !h;
	if (!h) {
		if (hid_table_create(st->ht, now, &h) < 0) {
			st->stats.hid_table_full++;
			return 0;
		}
		if (hid_table_add_addr(st->ht, h, HID_ACTIVE, peer, now) < 0) {
			hid_table_remove(st->ht, h);
			return 0;
		}
	}
	if (local && hid_where(h, local) < 0)
		hid_table_add_addr(st->ht, h, HID_LOCAL, local, now);
	return h->handle;
}

static void flow_unlink(void *arg, struct flow *f);
static void flow_unlink(void *arg, struct flow *f)
{
	struct stacktrans *st = arg;
	struct hid *h = hid_table_get(st->ht, f->hid);

	if (f->flags & FLOW_F_IN_SET)
		set_in(st, f, false);
	if (f->flags & FLOW_F_OUT_SET)
		set_out(st, f, false);
	if (f->flags & FLOW_F_ENC_SET) {
		set_flow(st, f, false, SET_ENC);
		st->nenc--;
	}
	flow_set_path(st, f, ST_PATH_QUEUE);
	st->ids_dirty |= (f->flags & FLOW_F_ID_ON_LO) != 0;
	if (h && h->nflows)
		h->nflows--;
	st->gen++;
	/* The last flow of a peer the signalling layer never took up, nor an
	 * administrator mapped: nothing needs the HID (docs/ihmp.md T4). */
	if (h && !h->nflows && !h->ihmp && !(h->flags & HID_F_MANUAL))
		hid_table_remove(st->ht, h);
}

/* The kernel's flows are never seen here: an idle one is first queued
 * again (ST_PATH_IDLE), and forgotten only if no packet came for another
 * timeout. A live one's next packet puts it back (st_flow_alive). */
static bool expire_cb(struct flow *f, void *arg)
{
	struct stacktrans *st = arg;

	if (f->mark == ST_PATH_KERNEL) {
		f->last_seen = clock_s();
		flow_set_path(st, f, ST_PATH_IDLE);
		flow_sync(st, f);	/* not to the kernel: queued */
		return false;
	}
	flow_unlink(arg, f);
	return true;
}

/* A packet of f was queued: an idle kernel flow goes back to the kernel,
 * and a handoff its packet ended lets its peer's flows go there too. */
static void st_flow_alive(struct stacktrans *st, struct flow *f, bool handoff_was_pending)
{
	const struct hid *h = hid_table_get(st->ht, f->hid);

	if (!st->kernel)
		return;
	if (handoff_was_pending && h && !h->ho[f->key.af == AF_INET6].pending) {
		st_resync_hid(st, f->hid);
	} else if (f->mark == ST_PATH_IDLE) {
		flow_set_path(st, f, ST_PATH_QUEUE);
		flow_sync(st, f);
		st_commit(st);
	}
}

static struct flow *flow_learn(struct stacktrans *st, const struct flow_key *k, uint8_t flags,
			       bool outbound)
{
	struct dime_addr lid, rid;
	struct flow *f;
	uint32_t now = clock_s();

	addr_set(&lid, k->af, k->laddr);
	addr_set(&rid, k->af, k->raddr);
	if (addr_is_loopback(&rid) || addr_is_loopback(&lid) || rtnl_is_local(st->rt, &rid))
		return NULL;	/* traffic inside this host never moves */
	bool created;
	/* Only an address still configured is where the peer may reach us: a
	 * socket left over from one that is gone (learned at start), or bound
	 * to an identifier we hold on lo, says not. */
	uint32_t hid = hid_for(st, &rid, rtnl_is_alive(st->rt, &lid) ? &lid : NULL, &created);
	int r = flow_table_insert(st->ft, k, hid, now, &f);
	if (r == -ENOSPC && flow_table_reclaim(st->ft, now, &st->timeouts, expire_cb, st) == 0)
		r = flow_table_insert(st->ft, k, hid, now, &f);
	if (r < 0) {
		struct hid *h = created ? hid_table_get(st->ht, hid) : NULL;
		if (h)
			hid_table_remove(st->ht, h);	/* made for this flow alone */
		if (r == -ENOSPC) {
			st->stats.flow_table_full++;
			if (log_allow(&st->lim_full, now, 3))
				log_warnx("socket table full (%u flows): new flows pass untranslated",
					  flow_table_count(st->ft));
		}
		return NULL;
	}
	f->flags |= flags;
	struct hid *h = hid_table_get(st->ht, hid);
	if (h)
		h->nflows++;
	st->stats.learned++;
	st->gen++;
	st->nrc = 0;	/* routes may have changed since the last pass */
	flow_sync(st, f);
	st_commit(st);
	if (f->flags & FLOW_F_ID_ON_LO)
		sync_identifiers(st);
	/* A new peer we opened a flow to: the signalling layer says HELLO. */
	if (h && outbound && st->peer_fn)
		st->peer_fn(st->peer_arg, h, &lid, &rid, created);
	return f;
}

/* The TCP flags byte, 0 for anything else. */
static uint8_t tcp_flags(const uint8_t *buf, const struct pkt_info *pi)
{
	return pi->ip.proto == IPPROTO_TCP && pi->ip.l4_len >= 14 ? buf[pi->ip.l4_off + 13] : 0;
}

/*
 * Whether an inbound packet that matches no flow may teach one: it is
 * addressed to us, is a TCP SYN (not conntrack's pickup of a mid-stream
 * segment) or UDP, and does not come from an address its peer told us it
 * left. Anything else is a straggler of a moved flow (or forged): learned,
 * it would map onto the moved flow's peer and, at the next move, claim
 * that flow's locators, then reset it with the RST its own segment draws.
 * Flows that predate dimed are learned from the socket table instead.
 */
static bool opens_flow(struct stacktrans *st, const uint8_t *buf, const struct pkt_info *pi,
		       const struct dime_addr *src, const struct dime_addr *dst)
{
	if (!rtnl_is_alive(st->rt, dst))
		return false;	/* not configured here (an address we left), or a held identifier */
	if (pi->ip.proto == IPPROTO_TCP && (tcp_flags(buf, pi) & 0x12) != 0x02)
		return false;
	const struct hid *h = hid_table_lookup(st->ht, src);
	return !h || hid_where(h, src) != HID_UNREACH;
}

static void tcp_track(struct flow *f, const uint8_t *buf, const struct pkt_info *pi, bool out)
{
	uint8_t fl = tcp_flags(buf, pi);
	if (fl & 0x02) {
		uint32_t seq;
		memcpy(&seq, buf + pi->ip.l4_off + 4, 4);
		seq = ntohl(seq);
		if (out && !(fl & 0x10))
			f->state |= FLOW_S_OPENED;
		if (out) {
			/* tcpi_bytes_acked counts our SYN when we opened the
			 * connection, not when we answered (the kernel starts
			 * a passive socket at snd_una = ISN + 1). */
			f->snd_base = (fl & 0x10) ? seq + 1 : seq;
			f->flags |= FLOW_F_SND_BASE;
		} else {
			f->rcv_base = seq + 1;	/* bytes_received never counts it */
			f->flags |= FLOW_F_RCV_BASE;
		}
	}
	if (fl & 0x04)
		f->state |= FLOW_S_RST;
	if (fl & 0x01)
		f->state |= out ? FLOW_S_FIN_OUT : FLOW_S_FIN_IN;
}

/* A UDP flow's tag, from its first datagram as both ends see it. */
static void udp_tag(struct flow *f, const uint8_t *buf, const struct pkt_info *pi)
{
	if (f && pi->ip.proto == IPPROTO_UDP && pi->ip.l4_len >= 8)
		f->snd_base = encap_tag_udp(pi->ip.dport, buf + pi->ip.l4_off + 8, pi->ip.l4_len - 8);
}

/* ---- packets ---- */

static enum xlate_csum csum_mode(const struct queue_pkt *p)
{
	return (p->skbinfo & (NFQA_SKB_CSUMNOTREADY | NFQA_SKB_GSO)) ?
	       XLATE_CSUM_FULL : XLATE_CSUM_INCREMENTAL;
}

static bool do_xlate(struct stacktrans *st, struct queue_pkt *p, const struct pkt_info *pi,
		     const struct xlate_addrs *xa)
{
	int r = xlate_packet(p->data, p->len, pi, xa, csum_mode(p));
	if (r < 0) {
		st->stats.xlate_errors++;
		return false;
	}
	return true;
}

/* A translated data packet of f, as it is on the wire: the peer's bytes
 * for `dimectl show`, and the end of a handoff if it is the first on the
 * new locator. One O(1) lookup per translated packet. */
static void st_count(struct stacktrans *st, struct flow *f, uint32_t len, bool out,
		     const struct dime_addr *src, const struct dime_addr *dst)
{
	struct hid *h = hid_table_get(st->ht, f->hid);
	bool pending;

	if (!h)
		return;
	if (out)
		h->bytes_out += len;
	else
		h->bytes_in += len;
	if ((pending = h->ho[src->af == AF_INET6].pending))
		ev_handoff_seen(h, src, dst);
	st_flow_alive(st, f, pending);
}

static bool st_icmp_error(struct stacktrans *st, struct queue_pkt *p, const struct pkt_info *pi,
			  bool out)
{
	const struct pkt_l3 *in = &pi->inner;
	struct dime_addr osrc, odst, isrc, idst, lid, rid, lloc, rloc;
	struct flow_key k;
	struct flow *f;

	if (!in->has_ports || (in->proto != IPPROTO_TCP && in->proto != IPPROTO_UDP))
		return false;
	pkt_addrs(p->data, &pi->ip, &osrc, &odst);
	pkt_addrs(p->data, in, &isrc, &idst);
	if (!out) {
		/* Quotes what we sent: inner source is our locator. */
		flow_key_init(&k, in->family, in->proto, isrc.a, in->sport, idst.a, in->dport);
		f = flow_table_lookup_loc(st->ft, &k);
	} else {
		/* Quotes what our stack received: inner destination is our identifier. */
		flow_key_init(&k, in->family, in->proto, idst.a, in->dport, isrc.a, in->sport);
		f = flow_table_lookup(st->ft, &k);
		if (f && !(f->flags & FLOW_F_OUT_SET))
			f = NULL;
	}
	if (!f || !flow_is_translated(f))
		return false;
	flow_lid(f, &lid);
	flow_rid(f, &rid);
	addr_set(&lloc, f->key.af, f->lloc);
	addr_set(&rloc, f->key.af, f->rloc);

	struct xlate_addrs xa = { 0 };
	if (!out) {
		xa.inner_src = &lid;
		xa.inner_dst = &rid;
		if (addr_eq(&odst, &lloc))
			xa.dst = &lid;
		if (addr_eq(&osrc, &rloc))
			xa.src = &rid;
	} else {
		xa.inner_src = &rloc;
		xa.inner_dst = &lloc;
		if (addr_eq(&osrc, &lid))
			xa.src = &lloc;
		if (addr_eq(&odst, &rid))
			xa.dst = &rloc;
	}
	if (pi->ip.family != in->family)
		xa.src = xa.dst = NULL;
	if (!do_xlate(st, p, pi, &xa))
		return false;
	st->stats.icmp_errors_translated++;
	return true;
}

/*
 * A packet longer than NFQUEUE can copy (over 65531 bytes) arrives cut
 * short: it cannot be parsed whole, nor handed back modified. If it belongs
 * to a translated flow it must not leave or arrive untranslated either, so
 * it is dropped (the sender's PMTU logic or retransmission copes, as with
 * any loss); anything else passes. Only the headers are read here.
 */
static bool truncated_is_translated(struct stacktrans *st, const struct queue_pkt *p, bool out)
{
	const uint8_t *b = p->data;
	struct dime_addr src, dst;
	uint32_t l4;
	uint8_t proto;

	if (p->len >= 20 && (b[0] >> 4) == 4) {
		l4 = (uint32_t)(b[0] & 0x0f) * 4;
		proto = b[9];
		if (l4 < 20 || (((b[6] & 0x1f) << 8) | b[7]) != 0)
			return false;	/* a later fragment carries no ports */
		addr_set(&src, AF_INET, b + 12);
		addr_set(&dst, AF_INET, b + 16);
	} else if (p->len >= 40 && (b[0] >> 4) == 6) {
		l4 = 40;
		proto = b[6];	/* extension headers: not worth walking for this */
		addr_set(&src, AF_INET6, b + 8);
		addr_set(&dst, AF_INET6, b + 24);
	} else {
		return false;
	}
	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || p->len < l4 + 4)
		return false;
	uint16_t sport, dport;
	memcpy(&sport, b + l4, 2);
	memcpy(&dport, b + l4 + 2, 2);
	struct flow_key k;
	struct flow *f;
	if (out) {
		flow_key_init(&k, src.af, proto, src.a, sport, dst.a, dport);
		f = flow_table_lookup(st->ft, &k);
		return f && (f->flags & FLOW_F_OUT_SET);
	}
	flow_key_init(&k, src.af, proto, dst.a, dport, src.a, sport);
	return flow_table_lookup_loc(st->ft, &k) != NULL;
}

/*
 * A later fragment of a datagram from a peer (nft/dimed.nft queues them:
 * they have no ports to look up, and without conntrack nothing reassembles
 * them before the hook). Its addresses are the locators of some flow of
 * that peer with its protocol: translate it like that flow, or the
 * datagram never reassembles with its translated first fragment. Flows of
 * one peer share their locators, so the first that matches is the answer
 * in all but contrived cases; the walk is bounded.
 */
#define ST_FRAG_WALK 4096

static bool st_later_fragment(struct stacktrans *st, struct queue_pkt *p, const struct pkt_info *pi)
{
	struct dime_addr src, dst, lid, rid;
	const struct hid *h;
	unsigned n = 0;

	pkt_addrs(p->data, &pi->ip, &src, &dst);
	if (!(h = hid_table_lookup(st->ht, &src)))
		return false;
	for (struct flow *f = flow_table_hid_first(st->ft, h->handle); f && n < ST_FRAG_WALK;
	     f = flow_table_hid_next(st->ft, f), n++) {
		if (f->key.af != src.af || f->key.proto != pi->ip.proto || !(f->flags & FLOW_F_IN_SET) ||
		    memcmp(f->rloc, src.a, addr_len(&src)) || memcmp(f->lloc, dst.a, addr_len(&dst)))
			continue;
		flow_lid(f, &lid);
		flow_rid(f, &rid);
		struct xlate_addrs xa = {
			.src = addr_eq(&rid, &src) ? NULL : &rid,
			.dst = addr_eq(&lid, &dst) ? NULL : &lid,
		};
		if (!do_xlate(st, p, pi, &xa))
			return false;
		st->stats.translated_in++;
		return true;
	}
	return false;
}

void st_packet(void *arg, struct queue *q, struct queue_pkt *p)
{
	struct stacktrans *st = arg;
	struct pkt_info pi;
	bool out = p->hook == NF_INET_LOCAL_OUT, modified = false;

	st->stats.packets++;
	if (p->truncated) {
		st->stats.truncated++;
		if (truncated_is_translated(st, p, out)) {
			st->stats.truncated_dropped++;
			queue_drop(q, p);
			return;
		}
		goto verdict;
	}
	/* Malformed or unwalkable packets are not ours to judge: pass them
	 * untouched and let the stack decide, as it would without us. */
	if (pkt_parse(&pi, p->data, p->len) < 0) {
		st->stats.malformed++;
		goto verdict;
	}
	if (pi.icmp_err) {
		modified = st_icmp_error(st, p, &pi, out);
		goto verdict;
	}
	if (!out && pi.ip.frag && !pi.ip.first_frag) {
		modified = st_later_fragment(st, p, &pi);
		goto verdict;
	}
	if (pi.l4_trunc || !pi.ip.has_ports ||
	    (pi.ip.proto != IPPROTO_TCP && pi.ip.proto != IPPROTO_UDP))
		goto verdict;
	/* Signalling is end to end between current addresses: never a flow. */
	if (pi.ip.proto == IPPROTO_UDP && st->cfg.ihmp_port &&
	    (pi.ip.sport == htons(st->cfg.ihmp_port) || pi.ip.dport == htons(st->cfg.ihmp_port)))
		goto verdict;

	struct dime_addr src, dst;
	struct flow_key k;
	struct flow *f;
	pkt_addrs(p->data, &pi.ip, &src, &dst);
	if (out) {
		flow_key_init(&k, pi.ip.family, pi.ip.proto, src.a, pi.ip.sport, dst.a, pi.ip.dport);
		f = flow_table_lookup(st->ft, &k);
		if (!f) {	/* a SYN-ACK answers someone who opened a flow to us */
			f = flow_learn(st, &k, 0, (tcp_flags(p->data, &pi) & 0x12) != 0x12);
			udp_tag(f, p->data, &pi);
		}
		if (!f)
			goto verdict;
		f->last_seen = clock_s();
		tcp_track(f, p->data, &pi, true);
		if (flow_is_translated(f) && (f->flags & FLOW_F_OUT_SET)) {
			struct dime_addr lloc, rloc;
			addr_set(&lloc, f->key.af, f->lloc);
			addr_set(&rloc, f->key.af, f->rloc);
			struct xlate_addrs xa = {
				.src = addr_eq(&lloc, &src) ? NULL : &lloc,
				.dst = addr_eq(&rloc, &dst) ? NULL : &rloc,
			};
			if ((modified = do_xlate(st, p, &pi, &xa))) {
				st->stats.translated_out++;
				st_count(st, f, p->len, true, &lloc, &rloc);
			}
		}
	} else {
		flow_key_init(&k, pi.ip.family, pi.ip.proto, dst.a, pi.ip.dport, src.a, pi.ip.sport);
		f = flow_table_lookup_loc(st->ft, &k);
		if (f) {
			struct dime_addr lid, rid;
			flow_lid(f, &lid);
			flow_rid(f, &rid);
			struct xlate_addrs xa = {
				.src = addr_eq(&rid, &src) ? NULL : &rid,
				.dst = addr_eq(&lid, &dst) ? NULL : &lid,
			};
			f->last_seen = clock_s();
			tcp_track(f, p->data, &pi, false);
			if ((modified = do_xlate(st, p, &pi, &xa))) {
				st->stats.translated_in++;
				st_count(st, f, p->len, false, &src, &dst);
			}
		} else if ((f = flow_table_lookup(st->ft, &k))) {
			/* The SYN-ACK of a flow we opened, or in identifier form
			 * already (the kernel rewrote it): learning's look at a
			 * live UDP flow (nft/dimed.nft, udp_seen). */
			f->last_seen = clock_s();
			tcp_track(f, p->data, &pi, false);
		} else if (!opens_flow(st, p->data, &pi, &src, &dst)) {
			st->stats.stragglers++;
		} else if ((f = flow_learn(st, &k, 0, false))) {	/* someone opened a flow to us */
			udp_tag(f, p->data, &pi);
			tcp_track(f, p->data, &pi, false);
		}
	}
verdict:
	if (!modified)
		st->stats.passed++;
	queue_verdict(q, p, modified, st->cfg.clear_mark);
}

/* ---- the tunnel's view ---- */

uint32_t st_flow_tag(const struct flow *f)
{
	if (f->key.proto == IPPROTO_UDP)
		return f->snd_base;
	if (f->key.proto != IPPROTO_TCP)
		return 0;
	/* The opener's SYN, which both ends saw: ours, or the peer's. */
	if (f->state & FLOW_S_OPENED)
		return f->flags & FLOW_F_SND_BASE ? encap_tag_tcp(f->snd_base) : 0;
	return f->flags & FLOW_F_RCV_BASE ? encap_tag_tcp(f->rcv_base - 1) : 0;
}

struct flow_table *st_flows(struct stacktrans *st)
{
	return st->ft;
}

bool st_flow_in_tunnel(const struct flow *f)
{
	return f->flags & FLOW_F_ENC_SET;
}

void st_flow_seen(struct stacktrans *st, struct flow *f, const uint8_t *pkt, const struct pkt_info *pi,
		  bool out)
{
	(void)st;
	f->last_seen = clock_s();
	tcp_track(f, pkt, pi, out);
}

/* ---- events and timers ---- */

void st_addr_event(void *arg, const struct rtnl_addr *a, bool up)
{
	struct stacktrans *st = arg;
	if (a) {
		char b[ADDR_STRLEN];
		log_info("local address %s %s", addr_fmt(&a->addr, b), up ? "up" : "down");
	}
	st->resync = true;
}

bool st_pending(const struct stacktrans *st)
{
	return st->resync;
}

static void sweep_sockets(struct stacktrans *st, uint32_t now);

void st_tick(struct stacktrans *st)
{
	uint32_t now = clock_s();

	if (st->resync) {
		st->resync = false;
		st_resync_all(st);
	}
	if (now - st->last_expire >= 1) {
		st->last_expire = now;
		uint32_t n = flow_table_expire(st->ft, now, &st->timeouts, 65536, expire_cb, st);
		st_commit(st);
		if (n)
			sync_identifiers(st);
	}
	if (now - st->last_sweep >= ST_SWEEP_INTERVAL) {
		st->last_sweep = now;
		sweep_sockets(st, now);
	}
}

/* ---- sockets: learning pre-existing flows and keeping live ones ---- */

struct sock_walk {
	struct stacktrans *st;
	uint32_t now;
	bool learn;
	unsigned found;
};

static void sock_cb(void *arg, const struct sockdiag_sock *s)
{
	struct sock_walk *w = arg;
	struct flow_key k;

	flow_key_init(&k, s->af, s->proto, s->laddr.a, s->lport, s->raddr.a, s->rport);
	struct flow *f = flow_table_lookup(w->st->ft, &k);
	if (!f && w->learn)
		f = flow_learn(w->st, &k, FLOW_F_LEARNED, true);
	if (f) {
		f->last_seen = w->now;	/* the socket lives: so does its flow */
		f->flags |= FLOW_F_CONFIRMED;
		w->found++;
	}
}

int st_learn_sockets(struct stacktrans *st)
{
	struct sock_walk w = { .st = st, .now = clock_s(), .learn = true };
	int r = sockdiag_dump(sock_cb, &w);
	if (r < 0)
		return r;
	/* At start every TCP flow is restored or just found: a restored one
	 * no socket owns ended while we were down. */
	uint32_t cur = 0, gone = 0;
	struct flow *f;
	while ((f = flow_table_next(st->ft, &cur)))
		if (f->key.proto == IPPROTO_TCP && !(f->flags & FLOW_F_CONFIRMED)) {
			flow_unlink(st, f);
			flow_table_remove(st->ft, f);
			gone++;
		}
	st_commit(st);
	log_info("learned %u existing connections%s", w.found,
		 gone ? " (restored ones that ended meanwhile dropped)" : "");
	st->resync = true;	/* and release identifiers an earlier run left behind */
	return 0;
}

static void sweep_sockets(struct stacktrans *st, uint32_t now)
{
	struct sock_walk w = { .st = st, .now = now, .learn = false };
	sockdiag_dump(sock_cb, &w);
}

/* ---- manual mapping ---- */

int st_map_peer(struct stacktrans *st, const struct dime_addr *id, const struct dime_addr *loc,
		char *err, size_t errlen)
{
	uint32_t now = clock_s();
	struct hid *h = hid_table_lookup(st->ht, id);
	struct hid *other = hid_table_lookup(st->ht, loc);
	int r;

	if (id->af != loc->af) {
		snprintf(err, errlen, "identifier and locator must be of one family");
		return -EINVAL;
	}
	if (!h) {
		if ((r = hid_table_create(st->ht, now, &h)) < 0 ||
		    (r = hid_table_add_addr(st->ht, h, HID_ACTIVE, id, now)) < 0) {
			snprintf(err, errlen, "HID table: %s", strerror(-r));
			return r;
		}
	}
	if (other && other != h) {
		snprintf(err, errlen, "locator belongs to another peer (HID %u)", other->handle);
		return -EEXIST;
	}
	if (hid_where(h, loc) < 0 && (r = hid_table_add_addr(st->ht, h, HID_ACTIVE, loc, now)) < 0) {
		snprintf(err, errlen, "cannot add locator: %s", strerror(-r));
		return r;
	}
	h->flags |= HID_F_MANUAL;
	hid_table_move_addr(st->ht, h, loc, HID_ACTIVE, now);
	hid_promote(h, loc);
	if (!addr_eq(id, loc))
		hid_table_move_addr(st->ht, h, id, HID_UNREACH, now);
	h->updated = now;
	st_resync_hid(st, h->handle);
	return 0;
}

int st_map_local(struct stacktrans *st, const struct dime_addr *peer, const struct dime_addr *local,
		 char *err, size_t errlen)
{
	uint32_t now = clock_s();
	struct hid *h = hid_table_lookup(st->ht, peer);
	int r;

	if (!h) {
		snprintf(err, errlen, "no peer with address %s", addr_fmt(peer, (char[ADDR_STRLEN]){ 0 }));
		return -ENOENT;
	}
	if ((r = st_local_first(st, h, local)) < 0) {
		snprintf(err, errlen, "cannot add local address: %s", strerror(-r));
		return r;
	}
	h->flags |= HID_F_MANUAL;
	h->updated = now;
	st_resync_hid(st, h->handle);
	return 0;
}

/* ---- show ---- */

static void out_addrs(struct out *o, const char *key, const struct hid_addrs *s)
{
	char b[ADDR_STRLEN];
	out_arr_begin(o, key);
	for (unsigned i = 0; i < s->n; i++)
		out_str(o, NULL, addr_fmt(&s->a[i], b));
	out_arr_end(o);
}

/* "198.18.0.1:3463", "[2001:db8::1]:3463" */
static void out_endpoint(struct out *o, const char *key, const struct dime_addr *a, uint16_t port)
{
	char b[ADDR_STRLEN], e[ADDR_STRLEN + 10];
	addr_fmt(a, b);
	snprintf(e, sizeof(e), a->af == AF_INET6 ? "[%s]:%u" : "%s:%u", b, port);
	out_str(o, key, e);
}

/* The NAT on the path of either family (docs/ihmp.md §8): where the peer's
 * binding is, what it has behind it, and how the peer sees us. */
static void out_nat(struct out *o, const struct hid *h)
{
	char b[ADDR_STRLEN];
	for (int i = 0; i < 2; i++) {
		const struct hid_nat *n = &h->nat[i];
		const char *v6 = i ? "6" : "";
		char key[32];
		if (n->peer && n->have_ep) {
			snprintf(key, sizeof(key), "nat_endpoint%s", v6);
			out_endpoint(o, key, &n->ep, n->ep_port);
			if (n->host.af) {
				snprintf(key, sizeof(key), "nat_host%s", v6);
				out_str(o, key, addr_fmt(&n->host, b));
			}
		}
		if (n->self && n->have_pub) {
			snprintf(key, sizeof(key), "public_endpoint%s", v6);
			out_endpoint(o, key, &n->pub, n->pub_port);
		}
	}
}

void st_show_hids(struct stacktrans *st, struct out *o)
{
	uint32_t cur = 0;
	struct hid *h;

	out_arr_begin(o, "hids");
	while ((h = hid_table_next(st->ht, &cur))) {
		out_obj_begin(o, NULL);
		out_u64(o, "hid", h->handle);
		out_addrs(o, "active", &h->set[HID_ACTIVE]);
		out_addrs(o, "unreachable", &h->set[HID_UNREACH]);
		out_addrs(o, "local", &h->set[HID_LOCAL]);
		if (h->moved.n)
			out_addrs(o, "moved_from", &h->moved);
		out_nat(o, h);
		out_str(o, "key", hid_key_origin_name(h->key_origin));
		out_u64(o, "flows", flow_table_count_hid(st->ft, h->handle));
		out_obj_end(o);
	}
	out_arr_end(o);
}

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : "other";
}

void st_show_flows(struct stacktrans *st, struct out *o, uint32_t limit)
{
	uint32_t cur = 0, n = 0;
	struct flow *f;
	char b[ADDR_STRLEN];

	out_arr_begin(o, "flows");
	while ((f = flow_table_next(st->ft, &cur)) && n++ < limit) {
		struct dime_addr a;
		out_obj_begin(o, NULL);
		out_str(o, "proto", proto_name(f->key.proto));
		flow_lid(f, &a);
		out_str(o, "local", addr_fmt(&a, b));
		out_u64(o, "lport", ntohs(f->key.lport));
		flow_rid(f, &a);
		out_str(o, "remote", addr_fmt(&a, b));
		out_u64(o, "rport", ntohs(f->key.rport));
		out_u64(o, "hid", f->hid);
		out_str(o, "mode", (f->flags & FLOW_F_ENC_SET) ? "encap" :
				   flow_is_translated(f) ? "translated" : "native");
		out_bool(o, "translated", flow_is_translated(f));
		if (flow_is_translated(f)) {
			addr_set(&a, f->key.af, f->lloc);
			out_str(o, "local_locator", addr_fmt(&a, b));
			addr_set(&a, f->key.af, f->rloc);
			out_str(o, "remote_locator", addr_fmt(&a, b));
			out_bool(o, "outbound", f->flags & FLOW_F_OUT_SET);
			out_str(o, "path", f->mark == ST_PATH_KERNEL ? "kernel" : "queue");
		}
		out_bool(o, "preexisting", f->flags & FLOW_F_LEARNED);
		out_obj_end(o);
	}
	out_arr_end(o);
}

void st_show_summary(struct stacktrans *st, struct out *o)
{
	const struct rtnl_addr *la;
	size_t n = rtnl_addrs(st->rt, &la);
	char b[ADDR_STRLEN];

	out_arr_begin(o, "local_addresses");
	for (size_t i = 0; i < n; i++)
		out_str(o, NULL, addr_fmt(&la[i].addr, b));
	out_arr_end(o);
	out_u64(o, "flows", flow_table_count(st->ft));
	out_u64(o, "translated_flows", flow_table_count_translated(st->ft));
	out_u64(o, "encapsulated_flows", st->nenc);
	out_u64(o, "kernel_flows", st->nkernel);
	out_u64(o, "kernel_elements", st->nkelems);
	out_u64(o, "flow_table_bytes", flow_table_memory(st->ft));
}

/* "1.5 MiB": wg's way of making byte counts readable. */
static const char *fmt_bytes(uint64_t v, char *b, size_t n)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double x = (double)v;
	unsigned u = 0;

	while (x >= 1024 && u < 4)
		x /= 1024, u++;
	if (u)
		snprintf(b, n, "%.2f %s", x, unit[u]);
	else
		snprintf(b, n, "%llu B", (unsigned long long)v);
	return b;
}

/* The later of the two families' last handoffs, preferring one that
 * finished: a hard handoff moves both, and a family without flows never
 * sees data on its new locator. */
static const struct hid_handoff *last_handoff(const struct hid *h)
{
	const struct hid_handoff *a = &h->ho[0], *b = &h->ho[1];

	if (!a->kind || !b->kind)
		return a->kind ? a : b;
	if (a->pending != b->pending)
		return a->pending ? b : a;
	return b->event_ms > a->event_ms ? b : a;
}

static void out_handoff(struct out *o, const struct hid *h)
{
	const struct hid_handoff *ho = last_handoff(h);
	uint64_t now = ev_now_ms();

	if (o->json) {
		out_obj_begin(o, "last_handoff");
		char b[ADDR_STRLEN];
		out_str(o, "kind", ev_handoff_name(ho->kind));
		out_str(o, "to", ho->kind ? addr_fmt(&ho->to, b) : "");
		out_u64(o, "ago_s", ho->kind ? (now - ho->event_ms) / 1000 : 0);
		out_bool(o, "pending", ho->pending);
		out_u64(o, "duration_ms", ho->pending ? 0 : ho->done_ms - ho->event_ms);
		out_obj_end(o);
		return;
	}
	if (!ho->kind)
		return;
	char t[128];
	if (ho->pending)
		snprintf(t, sizeof(t), "%s, %llu s ago, no data on the new locator yet", ev_handoff_name(ho->kind),
			 (unsigned long long)((now - ho->event_ms) / 1000));
	else
		snprintf(t, sizeof(t), "%s, %llu s ago, %llu ms to first data", ev_handoff_name(ho->kind),
			 (unsigned long long)((now - ho->event_ms) / 1000),
			 (unsigned long long)(ho->done_ms - ho->event_ms));
	out_str(o, "last_handoff", t);
}

/* `dimectl show`'s peer blocks, like `wg show`: named by the primary
 * address and the key's fingerprint; the handle only in JSON. */
void st_show_peers(struct stacktrans *st, struct out *o)
{
	uint32_t cur = 0;
	struct hid *h;
	char b[ADDR_STRLEN], fp[9], title[ADDR_STRLEN + 32];

	out_arr_begin(o, "peers");
	while ((h = hid_table_next(st->ht, &cur))) {
		const struct dime_addr *a = hid_primary(h, AF_UNSPEC);
		uint32_t nf = 0, nt = 0;
		for (const struct flow *f = flow_table_hid_first(st->ft, h->handle); f;
		     f = flow_table_hid_next(st->ft, f)) {
			nf++;
			nt += flow_is_translated(f);
		}
		ev_fingerprint(h, fp);
		snprintf(title, sizeof(title), "peer: %s%s%s%s", a ? addr_fmt(a, b) : "-",
			 fp[0] ? " (" : "", fp, fp[0] ? ")" : "");
		out_obj_begin_titled(o, title);
		if (o->json) {
			out_u64(o, "hid", h->handle);
			out_str(o, "address", a ? addr_fmt(a, b) : "");
			out_str(o, "fingerprint", fp);
		}
		const char *name = ihmp_peer_name(h);
		if (name || o->json)
			out_str(o, "name", name ? name : "");
		if (h->set[HID_ACTIVE].n || o->json)
			out_addrs(o, "active", &h->set[HID_ACTIVE]);
		if (h->set[HID_UNREACH].n || o->json)
			out_addrs(o, "unreachable", &h->set[HID_UNREACH]);
		if (h->set[HID_LOCAL].n || o->json)
			out_addrs(o, "local", &h->set[HID_LOCAL]);
		out_nat(o, h);
		out_str(o, "key", hid_key_origin_name(h->key_origin));
		out_u64(o, "flows", nf);
		out_u64(o, "translated_flows", nt);
		if (o->json) {
			out_u64(o, "bytes_in", h->bytes_in);
			out_u64(o, "bytes_out", h->bytes_out);
		} else if (h->bytes_in || h->bytes_out) {
			char bi[32], bo[32], t[80];
			snprintf(t, sizeof(t), "%s received, %s sent", fmt_bytes(h->bytes_in, bi, sizeof(bi)),
				 fmt_bytes(h->bytes_out, bo, sizeof(bo)));
			out_str(o, "transfer", t);
		}
		out_handoff(o, h);
		out_obj_end(o);
	}
	out_arr_end(o);
}

void st_show_stats(struct stacktrans *st, struct out *o)
{
	const struct st_stats *s = &st->stats;
#define ST_STAT_OUT(f, key) out_u64(o, key, s->f);
	out_obj_begin(o, "datapath");
	ST_STATS_DATAPATH(ST_STAT_OUT)
	out_u64(o, "kernel_flows", st->nkernel);	/* a gauge: rewritten by the kernel now */
	out_u64(o, "kernel_elements", st->nkelems);	/* theirs in the maps: one or two a direction */
	out_obj_end(o);
	out_obj_begin(o, "drops_and_rejects");
	ST_STATS_DROPS(ST_STAT_OUT)
	out_obj_end(o);
#undef ST_STAT_OUT
}
