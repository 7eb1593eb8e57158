/* flow_table: chained hash indices over a chunked pool of flows.
 *
 * Flows live in chunks of FT_CHUNK entries that never move, so a struct
 * flow * stays valid until removal, and links are 32-bit slot numbers.
 * Two bucket arrays (identifiers; locators of translated flows) chain
 * through id_next and loc_next. Each HID has a group record, itself in a
 * small chained hash, holding the head of a doubly linked list of its
 * flows and their number. Buckets double with the load (at most one chain
 * per flow) up to the next power of two above max_entries; chains are
 * singly linked, so removal walks one chain: expected O(1).
 *
 * Memory at 1M flows: 100 bytes per flow, 4 + 4 bytes of buckets, and at
 * worst (every flow its own HID) 12 + 4 bytes of group: about 125 bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "flow_table.h"

#define NIL		UINT32_MAX
#define FT_CHUNK_SHIFT	12
#define FT_CHUNK	(1u << FT_CHUNK_SHIFT)
#define GRP_CHUNK_SHIFT	10
#define GRP_CHUNK	(1u << GRP_CHUNK_SHIFT)
#define BKT_MIN		1024u
#define FT_MAX		(1u << 31)

_Static_assert(sizeof(struct flow_key) == 38, "flow_key must have no padding");
_Static_assert(sizeof(struct flow) == 104, "flow grew: recheck the memory budget");

/* Neither the HID nor a count is stored (the HID is read from the head
 * flow; flow_table_count_hid walks the list), saving 8 bytes a group,
 * which matters when every flow has its own HID. */
struct ft_group {
	uint32_t head;		/* first flow; NIL while on the free list */
	uint32_t next;		/* bucket chain or free list */
};

struct flow_table {
	uint32_t max, count, ntrans;
	uint64_t k0, k1;	/* SipHash key, from the seed */
	uint32_t gseed;

	struct flow **chunks;
	uint32_t nchunks;	/* allocated chunks */
	uint32_t used;		/* slots ever handed out */
	uint32_t free_head;	/* free slots, through id_next */

	uint32_t *id_bkt, id_mask;
	uint32_t *loc_bkt, loc_mask;
	uint32_t bkt_max;

	struct ft_group **gchunks;
	uint32_t ngchunks, gused, gfree, ngroups;
	uint32_t *g_bkt, g_mask;

	uint32_t expire_cursor;
	uint32_t reclaim_at;
	bool reclaimed;
	size_t mem;
};

static inline struct flow *slot(const struct flow_table *ft, uint32_t i)
{
	return &ft->chunks[i >> FT_CHUNK_SHIFT][i & (FT_CHUNK - 1)];
}

static inline struct ft_group *gslot(const struct flow_table *ft, uint32_t i)
{
	return &ft->gchunks[i >> GRP_CHUNK_SHIFT][i & (GRP_CHUNK - 1)];
}

static void *ft_alloc(struct flow_table *ft, size_t n)
{
	void *p = malloc(n);

	if (p)
		ft->mem += n;
	return p;
}

static void ft_release(struct flow_table *ft, void *p, size_t n)
{
	if (p)
		ft->mem -= n;
	free(p);
}

/* SipHash-1-3 over five words: a keyed PRF, so chains cannot be aimed at
 * without the seed, and cheap enough for every packet. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

static uint32_t tuple_hash(const struct flow_table *ft, const struct flow_key *k,
    const uint8_t *la, const uint8_t *ra)
{
	uint64_t v0 = ft->k0 ^ 0x736f6d6570736575ull;
	uint64_t v1 = ft->k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = ft->k0 ^ 0x6c7967656e657261ull;
	uint64_t v3 = ft->k1 ^ 0x7465646279746573ull;
	uint64_t m[5];

	m[0] = (uint64_t)k->af | (uint64_t)k->proto << 8 |
	    (uint64_t)k->lport << 16 | (uint64_t)k->rport << 32 | 38ull << 56;
	memcpy(&m[1], la, 16);
	memcpy(&m[3], ra, 16);
	for (int i = 0; i < 5; i++) {
		v3 ^= m[i];
		SIPROUND;
		v0 ^= m[i];
	}
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	uint64_t h = v0 ^ v1 ^ v2 ^ v3;
	return (uint32_t)(h ^ (h >> 32));
}

static inline uint32_t id_hash(const struct flow_table *ft, const struct flow_key *k)
{
	return tuple_hash(ft, k, k->laddr, k->raddr);
}

static inline uint32_t loc_hash(const struct flow_table *ft, const struct flow *f)
{
	return tuple_hash(ft, &f->key, f->lloc, f->rloc);
}

/* HIDs are our own handles, not chosen by peers: a seeded mixer will do. */
static inline uint32_t hid_hash(const struct flow_table *ft, uint32_t hid)
{
	uint32_t h = hid ^ ft->gseed;

	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void flow_key_init(struct flow_key *k, int af, int proto,
    const void *laddr, uint16_t lport, const void *raddr, uint16_t rport)
{
	size_t n = af == AF_INET ? 4 : 16;

	memset(k, 0, sizeof(*k));
	k->af = (uint8_t)af;
	k->proto = (uint8_t)proto;
	k->lport = lport;
	k->rport = rport;
	memcpy(k->laddr, laddr, n);
	memcpy(k->raddr, raddr, n);
}

static uint32_t *bkt_new(struct flow_table *ft, uint32_t n)
{
	uint32_t *b = ft_alloc(ft, (size_t)n * sizeof(*b));

	if (b)
		memset(b, 0xff, (size_t)n * sizeof(*b));	/* NIL */
	return b;
}

struct flow_table *flow_table_new(uint32_t max_entries, uint32_t hash_seed)
{
	struct flow_table *ft;
	uint64_t s = hash_seed;
	uint32_t nb;

	if (max_entries == 0 || max_entries > FT_MAX)
		return NULL;
	ft = calloc(1, sizeof(*ft));
	if (!ft)
		return NULL;
	ft->mem = sizeof(*ft);
	ft->max = max_entries;
	ft->k0 = splitmix64(&s);
	ft->k1 = splitmix64(&s);
	ft->gseed = (uint32_t)splitmix64(&s);
	ft->free_head = NIL;
	ft->gfree = NIL;
	for (ft->bkt_max = 1; ft->bkt_max < max_entries; ft->bkt_max <<= 1)
		;
	nb = ft->bkt_max < BKT_MIN ? ft->bkt_max : BKT_MIN;
	ft->nchunks = 0;
	ft->chunks = ft_alloc(ft, ((max_entries - 1) / FT_CHUNK + 1) * sizeof(*ft->chunks));
	ft->gchunks = ft_alloc(ft, ((max_entries - 1) / GRP_CHUNK + 1) * sizeof(*ft->gchunks));
	ft->id_bkt = bkt_new(ft, nb);
	ft->loc_bkt = bkt_new(ft, nb);
	ft->g_bkt = bkt_new(ft, nb);
	ft->id_mask = ft->loc_mask = ft->g_mask = nb - 1;
	if (!ft->chunks || !ft->gchunks || !ft->id_bkt || !ft->loc_bkt || !ft->g_bkt) {
		flow_table_free(ft);
		return NULL;
	}
	return ft;
}

void flow_table_free(struct flow_table *ft)
{
	if (!ft)
		return;
	for (uint32_t i = 0; i < ft->nchunks; i++)
		free(ft->chunks[i]);
	for (uint32_t i = 0; i < ft->ngchunks; i++)
		free(ft->gchunks[i]);
	free(ft->chunks);
	free(ft->gchunks);
	free(ft->id_bkt);
	free(ft->loc_bkt);
	free(ft->g_bkt);
	free(ft);
}

/* --- HID groups --- */

static uint32_t grp_find(const struct flow_table *ft, uint32_t hid, uint32_t **pprev)
{
	uint32_t *pp = &ft->g_bkt[hid_hash(ft, hid) & ft->g_mask];

	for (uint32_t gi = *pp; gi != NIL; gi = *pp) {
		struct ft_group *g = gslot(ft, gi);

		if (slot(ft, g->head)->hid == hid) {
			if (pprev)
				*pprev = pp;
			return gi;
		}
		pp = &g->next;
	}
	return NIL;
}

static void grp_grow(struct flow_table *ft)
{
	uint32_t n = (ft->g_mask + 1) * 2;
	uint32_t *b;

	if (n > ft->bkt_max || !(b = bkt_new(ft, n)))
		return;		/* longer chains, still correct */
	for (uint32_t gi = 0; gi < ft->gused; gi++) {
		struct ft_group *g = gslot(ft, gi);
		uint32_t h;

		if (g->head == NIL)
			continue;
		h = hid_hash(ft, slot(ft, g->head)->hid) & (n - 1);
		g->next = b[h];
		b[h] = gi;
	}
	ft_release(ft, ft->g_bkt, (size_t)(ft->g_mask + 1) * sizeof(*b));
	ft->g_bkt = b;
	ft->g_mask = n - 1;
}

/* Finds or makes the group of hid; a new group gets head = fi, which
 * must already carry hid. */
static uint32_t grp_get(struct flow_table *ft, uint32_t hid, uint32_t fi, bool *fresh)
{
	uint32_t gi = grp_find(ft, hid, NULL), h;
	struct ft_group *g;

	*fresh = false;
	if (gi != NIL)
		return gi;
	if (ft->gfree != NIL) {
		gi = ft->gfree;
		ft->gfree = gslot(ft, gi)->next;
	} else {
		if ((ft->gused & (GRP_CHUNK - 1)) == 0) {
			uint32_t c = ft->gused >> GRP_CHUNK_SHIFT;
			uint32_t n = ft->max - ft->gused < GRP_CHUNK ? ft->max - ft->gused : GRP_CHUNK;

			if (c == ft->ngchunks) {
				ft->gchunks[c] = ft_alloc(ft, n * sizeof(struct ft_group));
				if (!ft->gchunks[c])
					return NIL;
				ft->ngchunks++;
			}
		}
		gi = ft->gused++;
	}
	g = gslot(ft, gi);
	g->head = fi;
	h = hid_hash(ft, hid) & ft->g_mask;
	g->next = ft->g_bkt[h];
	ft->g_bkt[h] = gi;
	ft->ngroups++;
	*fresh = true;
	if (ft->ngroups > ft->g_mask + 1)
		grp_grow(ft);
	return gi;
}

/* Links slot fi (already carrying its hid) at the head of its HID's list. */
static int hid_link(struct flow_table *ft, struct flow *f, uint32_t fi)
{
	bool fresh;
	uint32_t gi = grp_get(ft, f->hid, fi, &fresh);
	struct ft_group *g;

	if (gi == NIL)
		return -ENOMEM;
	g = gslot(ft, gi);
	f->hid_prev = NIL;
	f->hid_next = fresh ? NIL : g->head;
	if (f->hid_next != NIL)
		slot(ft, f->hid_next)->hid_prev = fi;
	g->head = fi;
	return 0;
}

static void hid_unlink(struct flow_table *ft, struct flow *f)
{
	uint32_t *pp;
	uint32_t gi = grp_find(ft, f->hid, &pp);
	struct ft_group *g = gslot(ft, gi);

	if (f->hid_prev != NIL)
		slot(ft, f->hid_prev)->hid_next = f->hid_next;
	else
		g->head = f->hid_next;
	if (f->hid_next != NIL)
		slot(ft, f->hid_next)->hid_prev = f->hid_prev;
	if (g->head == NIL) {	/* it was the last one */
		*pp = g->next;
		g->head = NIL;
		g->next = ft->gfree;
		ft->gfree = gi;
		ft->ngroups--;
	}
}

/* --- the two flow indices --- */

static void id_grow(struct flow_table *ft)
{
	uint32_t n = (ft->id_mask + 1) * 2;
	uint32_t *b;

	if (n > ft->bkt_max || !(b = bkt_new(ft, n)))
		return;
	for (uint32_t i = 0; i < ft->used; i++) {
		struct flow *f = slot(ft, i);
		uint32_t h;

		if (!f->key.af)
			continue;
		h = id_hash(ft, &f->key) & (n - 1);
		f->id_next = b[h];
		b[h] = i;
	}
	ft_release(ft, ft->id_bkt, (size_t)(ft->id_mask + 1) * sizeof(*b));
	ft->id_bkt = b;
	ft->id_mask = n - 1;
}

static void loc_grow(struct flow_table *ft)
{
	uint32_t n = (ft->loc_mask + 1) * 2;
	uint32_t *b;

	if (n > ft->bkt_max || !(b = bkt_new(ft, n)))
		return;
	for (uint32_t i = 0; i < ft->used; i++) {
		struct flow *f = slot(ft, i);
		uint32_t h;

		if (!f->key.af || !f->xl)
			continue;
		h = loc_hash(ft, f) & (n - 1);
		f->loc_next = b[h];
		b[h] = i;
	}
	ft_release(ft, ft->loc_bkt, (size_t)(ft->loc_mask + 1) * sizeof(*b));
	ft->loc_bkt = b;
	ft->loc_mask = n - 1;
}

struct flow *flow_table_lookup(const struct flow_table *ft, const struct flow_key *k)
{
	uint32_t i = ft->id_bkt[id_hash(ft, k) & ft->id_mask];

	while (i != NIL) {
		struct flow *f = slot(ft, i);

		if (memcmp(&f->key, k, sizeof(*k)) == 0)
			return f;
		i = f->id_next;
	}
	return NULL;
}

static bool loc_match(const struct flow *f, const struct flow_key *lk)
{
	return f->key.af == lk->af && f->key.proto == lk->proto &&
	    f->key.lport == lk->lport && f->key.rport == lk->rport &&
	    memcmp(f->lloc, lk->laddr, 16) == 0 && memcmp(f->rloc, lk->raddr, 16) == 0;
}

struct flow *flow_table_lookup_loc(const struct flow_table *ft, const struct flow_key *lk)
{
	uint32_t i = ft->loc_bkt[id_hash(ft, lk) & ft->loc_mask];

	while (i != NIL) {
		struct flow *f = slot(ft, i);

		if (loc_match(f, lk))
			return f;
		i = f->loc_next;
	}
	return NULL;
}

/* Unlinks f from its identifier chain and returns its slot number. */
static uint32_t id_unlink(struct flow_table *ft, const struct flow *f)
{
	uint32_t *pp = &ft->id_bkt[id_hash(ft, &f->key) & ft->id_mask];

	while (slot(ft, *pp) != f)
		pp = &slot(ft, *pp)->id_next;
	uint32_t i = *pp;
	*pp = f->id_next;
	return i;
}

static uint32_t slot_of(const struct flow_table *ft, const struct flow *f)
{
	uint32_t i = ft->id_bkt[id_hash(ft, &f->key) & ft->id_mask];

	while (slot(ft, i) != f)
		i = slot(ft, i)->id_next;
	return i;
}

static void loc_unlink(struct flow_table *ft, struct flow *f)
{
	uint32_t *pp = &ft->loc_bkt[loc_hash(ft, f) & ft->loc_mask];

	while (slot(ft, *pp) != f)
		pp = &slot(ft, *pp)->loc_next;
	*pp = f->loc_next;
	f->xl = 0;
	ft->ntrans--;
}

static int slot_alloc(struct flow_table *ft, uint32_t *out)
{
	uint32_t i;

	if (ft->free_head != NIL) {
		i = ft->free_head;
		ft->free_head = slot(ft, i)->id_next;
		*out = i;
		return 0;
	}
	if ((ft->used & (FT_CHUNK - 1)) == 0) {
		uint32_t c = ft->used >> FT_CHUNK_SHIFT;
		uint32_t n = ft->max - ft->used < FT_CHUNK ? ft->max - ft->used : FT_CHUNK;

		if (c == ft->nchunks) {
			ft->chunks[c] = ft_alloc(ft, n * sizeof(struct flow));
			if (!ft->chunks[c])
				return -ENOMEM;
			ft->nchunks++;
		}
	}
	*out = ft->used++;
	return 0;
}

static void slot_free(struct flow_table *ft, struct flow *f, uint32_t i)
{
	f->key.af = 0;
	f->xl = 0;
	f->id_next = ft->free_head;
	ft->free_head = i;
}

int flow_table_insert(struct flow_table *ft, const struct flow_key *k,
    uint32_t hid, uint32_t now, struct flow **out)
{
	struct flow *f;
	uint32_t i, h;
	int r;

	if (k->af != AF_INET && k->af != AF_INET6)
		return -EINVAL;
	if (flow_table_lookup(ft, k))
		return -EEXIST;
	if (ft->count >= ft->max)
		return -ENOSPC;
	if ((r = slot_alloc(ft, &i)) < 0)
		return r;
	f = slot(ft, i);
	memset(f, 0, sizeof(*f));
	f->key = *k;
	memcpy(f->lloc, k->laddr, 16);
	memcpy(f->rloc, k->raddr, 16);
	f->hid = hid;
	f->last_seen = now;
	if ((r = hid_link(ft, f, i)) < 0) {
		slot_free(ft, f, i);
		return r;
	}
	h = id_hash(ft, k) & ft->id_mask;
	f->id_next = ft->id_bkt[h];
	ft->id_bkt[h] = i;
	ft->count++;
	if (ft->count > ft->id_mask + 1)
		id_grow(ft);
	if (out)
		*out = f;
	return 0;
}

void flow_table_remove(struct flow_table *ft, struct flow *f)
{
	uint32_t i = id_unlink(ft, f);

	if (f->xl)
		loc_unlink(ft, f);
	hid_unlink(ft, f);
	slot_free(ft, f, i);
	ft->count--;
}

void flow_table_clear_locators(struct flow_table *ft, struct flow *f)
{
	if (f->xl)
		loc_unlink(ft, f);
	memcpy(f->lloc, f->key.laddr, 16);
	memcpy(f->rloc, f->key.raddr, 16);
}

int flow_table_set_locators(struct flow_table *ft, struct flow *f,
    const struct dime_addr *lloc, const struct dime_addr *rloc)
{
	struct flow_key lk = f->key;
	struct flow *other;
	uint32_t i, h;

	if (lloc->af != f->key.af || rloc->af != f->key.af)
		return -EINVAL;
	memset(lk.laddr, 0, 16);
	memset(lk.raddr, 0, 16);
	memcpy(lk.laddr, lloc->a, addr_len(lloc));
	memcpy(lk.raddr, rloc->a, addr_len(rloc));
	if (memcmp(lk.laddr, f->key.laddr, 16) == 0 &&
	    memcmp(lk.raddr, f->key.raddr, 16) == 0) {
		flow_table_clear_locators(ft, f);
		return 0;
	}
	other = flow_table_lookup_loc(ft, &lk);
	if (other == f)
		return 0;
	if (other)
		return -EEXIST;
	if (f->xl)
		loc_unlink(ft, f);
	i = slot_of(ft, f);
	memcpy(f->lloc, lk.laddr, 16);
	memcpy(f->rloc, lk.raddr, 16);
	h = loc_hash(ft, f) & ft->loc_mask;
	f->loc_next = ft->loc_bkt[h];
	ft->loc_bkt[h] = i;
	f->xl = 1;
	ft->ntrans++;
	if (ft->ntrans > ft->loc_mask + 1)
		loc_grow(ft);
	return 0;
}

int flow_table_set_hid(struct flow_table *ft, struct flow *f, uint32_t hid)
{
	uint32_t old = f->hid, i;
	int r;

	if (hid == old)
		return 0;
	i = slot_of(ft, f);
	hid_unlink(ft, f);
	f->hid = hid;
	if ((r = hid_link(ft, f, i)) < 0) {
		/* Linking fails only when a group must be allocated and none is
		 * free, so the old group survived and relinking cannot fail. */
		f->hid = old;
		hid_link(ft, f, i);
	}
	return r;
}

uint32_t flow_table_count(const struct flow_table *ft)
{
	return ft->count;
}

uint32_t flow_table_count_translated(const struct flow_table *ft)
{
	return ft->ntrans;
}

uint32_t flow_table_count_hid(const struct flow_table *ft, uint32_t hid)
{
	uint32_t n = 0;

	for (const struct flow *f = flow_table_hid_first(ft, hid); f; f = flow_table_hid_next(ft, f))
		n++;
	return n;
}

size_t flow_table_memory(const struct flow_table *ft)
{
	return ft->mem;
}

struct flow *flow_table_next(const struct flow_table *ft, uint32_t *cursor)
{
	while (*cursor < ft->used) {
		struct flow *f = slot(ft, (*cursor)++);

		if (f->key.af)
			return f;
	}
	return NULL;
}

struct flow *flow_table_hid_first(const struct flow_table *ft, uint32_t hid)
{
	uint32_t gi = grp_find(ft, hid, NULL);

	return gi == NIL ? NULL : slot(ft, gslot(ft, gi)->head);
}

struct flow *flow_table_hid_next(const struct flow_table *ft, const struct flow *f)
{
	return f->hid_next == NIL ? NULL : slot(ft, f->hid_next);
}

/* --- expiry --- */

void flow_timeouts_default(struct flow_timeouts *t)
{
	t->tcp_est = 7200;
	t->tcp_open = 120;
	t->tcp_half = 300;
	t->tcp_closing = 60;
	t->udp = 180;
	t->icmp = 30;
	t->other = 600;
}

uint32_t flow_timeout(const struct flow_timeouts *t, const struct flow *f)
{
	switch (f->key.proto) {
	case IPPROTO_TCP:
		if ((f->state & FLOW_S_RST) ||
		    (f->state & (FLOW_S_FIN_OUT | FLOW_S_FIN_IN)) == (FLOW_S_FIN_OUT | FLOW_S_FIN_IN))
			return t->tcp_closing;
		if (f->state & (FLOW_S_FIN_OUT | FLOW_S_FIN_IN))
			return t->tcp_half;
		/* A SYN from a forged source leaves a flow no socket ever
		 * owns: it must not hold its HID for two hours. */
		return f->flags & FLOW_F_CONFIRMED || t->tcp_est < t->tcp_open ? t->tcp_est : t->tcp_open;
	case IPPROTO_UDP:
		return t->udp;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return t->icmp;
	default:
		return t->other;
	}
}

static bool idle_too_long(const struct flow_timeouts *t, const struct flow *f, uint32_t now)
{
	uint32_t idle = now - f->last_seen;

	/* last_seen ahead of now (a caller's clock step) counts as fresh */
	if ((int32_t)idle < 0)
		return false;
	return idle > flow_timeout(t, f);
}

uint32_t flow_table_expire(struct flow_table *ft, uint32_t now,
    const struct flow_timeouts *t, uint32_t budget, flow_expire_fn *cb, void *arg)
{
	uint32_t n = budget && budget < ft->used ? budget : ft->used;
	uint32_t removed = 0;

	while (n--) {
		struct flow *f;

		if (ft->expire_cursor >= ft->used)
			ft->expire_cursor = 0;
		f = slot(ft, ft->expire_cursor++);
		if (!f->key.af || !idle_too_long(t, f, now))
			continue;
		if (cb && !cb(f, arg))
			continue;
		flow_table_remove(ft, f);
		removed++;
	}
	return removed;
}

int flow_table_reclaim(struct flow_table *ft, uint32_t now,
    const struct flow_timeouts *t, flow_expire_fn *cb, void *arg)
{
	if (ft->count < ft->max)
		return 0;
	/* A full pass costs O(max): a flood of new flows must not buy one
	 * per packet. */
	if (ft->reclaimed && ft->reclaim_at == now)
		return -ENOSPC;
	ft->reclaimed = true;
	ft->reclaim_at = now;
	flow_table_expire(ft, now, t, 0, cb, arg);
	return ft->count < ft->max ? 0 : -ENOSPC;
}

uint32_t flow_table_sweep(struct flow_table *ft, uint8_t mark, flow_expire_fn *cb, void *arg)
{
	uint32_t cursor = 0, removed = 0;
	struct flow *f;

	while ((f = flow_table_next(ft, &cursor))) {
		if (f->mark == mark)
			continue;
		if (cb && !cb(f, arg))
			continue;
		flow_table_remove(ft, f);
		removed++;
	}
	return removed;
}
