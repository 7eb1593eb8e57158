/* hid_table: HIDs in a chunked pool, peer addresses in an open-addressing
 * index (linear probing, backward-shift deletion, so no tombstones).
 *
 * A handle is (generation << 24) | slot. Freed slots queue FIFO and are
 * taken again only when HID_REUSE_MIN others wait or the pool is full, so
 * a handle comes back only after 255 * HID_REUSE_MIN removals, or, when
 * the pool is full, after its own slot was freed 255 times.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hid_table.h"

#define NIL		UINT32_MAX
#define HID_CHUNK_SHIFT	8
#define HID_CHUNK	(1u << HID_CHUNK_SHIFT)
#define HID_REUSE_MIN	1024
#define IX_MIN		64u

/* handle 0 marks an empty index slot */
struct hid_ix {
	struct dime_addr a;
	uint32_t handle;
};

struct hid_table {
	uint32_t max, count, seed;
	struct hid **chunks;
	uint32_t nchunks, used;
	uint32_t free_head, free_tail, nfree;	/* FIFO through next_free_ */
	struct hid_ix *ix;
	uint32_t ix_mask, ix_count;
};

static inline struct hid *slot(const struct hid_table *ht, uint32_t i)
{
	return &ht->chunks[i >> HID_CHUNK_SHIFT][i & (HID_CHUNK - 1)];
}

struct hid_table *hid_table_new(uint32_t max_entries, uint32_t hash_seed)
{
	struct hid_table *ht;

	if (max_entries == 0 || max_entries > HID_MAX_ENTRIES)
		return NULL;
	ht = calloc(1, sizeof(*ht));
	if (!ht)
		return NULL;
	ht->max = max_entries;
	ht->seed = hash_seed;
	ht->free_head = ht->free_tail = NIL;
	ht->chunks = calloc((max_entries - 1) / HID_CHUNK + 1, sizeof(*ht->chunks));
	ht->ix = calloc(IX_MIN, sizeof(*ht->ix));
	ht->ix_mask = IX_MIN - 1;
	if (!ht->chunks || !ht->ix) {
		hid_table_free(ht);
		return NULL;
	}
	return ht;
}

void hid_table_free(struct hid_table *ht)
{
	if (!ht)
		return;
	for (uint32_t i = 0; i < ht->nchunks; i++)
		free(ht->chunks[i]);
	free(ht->chunks);
	free(ht->ix);
	free(ht);
}

/* --- address index --- */

static uint32_t ix_find(const struct hid_table *ht, const struct dime_addr *a)
{
	uint32_t i = addr_hash(a, ht->seed) & ht->ix_mask;

	for (; ht->ix[i].handle; i = (i + 1) & ht->ix_mask)
		if (addr_eq(&ht->ix[i].a, a))
			return i;
	return NIL;
}

static void ix_put(struct hid_ix *ix, uint32_t mask, const struct dime_addr *a,
    uint32_t handle, uint32_t seed)
{
	uint32_t i = addr_hash(a, seed) & mask;

	while (ix[i].handle)
		i = (i + 1) & mask;
	ix[i].a = *a;
	ix[i].handle = handle;
}

/* Keeps the load at most 1/2 so probes stay short. */
static int ix_reserve(struct hid_table *ht)
{
	uint32_t n = (ht->ix_mask + 1) * 2;
	struct hid_ix *ix;

	if ((ht->ix_count + 1) * 2 <= ht->ix_mask + 1)
		return 0;
	ix = calloc(n, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	for (uint32_t i = 0; i <= ht->ix_mask; i++)
		if (ht->ix[i].handle)
			ix_put(ix, n - 1, &ht->ix[i].a, ht->ix[i].handle, ht->seed);
	free(ht->ix);
	ht->ix = ix;
	ht->ix_mask = n - 1;
	return 0;
}

static void ix_del(struct hid_table *ht, uint32_t i)
{
	uint32_t mask = ht->ix_mask, j = i;

	/* Backward shift: pull later members of the probe run into the hole
	 * when the hole lies between their home and where they sit. */
	for (;;) {
		j = (j + 1) & mask;
		if (!ht->ix[j].handle)
			break;
		uint32_t home = addr_hash(&ht->ix[j].a, ht->seed) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			ht->ix[i] = ht->ix[j];
			i = j;
		}
	}
	memset(&ht->ix[i], 0, sizeof(ht->ix[i]));
	ht->ix_count--;
}

/* --- HIDs --- */

int hid_table_create(struct hid_table *ht, uint32_t now, struct hid **out)
{
	struct hid *h;
	uint32_t i;
	uint8_t gen;

	if (ht->count >= ht->max)
		return -ENOSPC;
	if (ht->nfree && (ht->nfree >= HID_REUSE_MIN || ht->used == ht->max)) {
		i = ht->free_head;
		h = slot(ht, i);
		ht->free_head = h->next_free_;
		if (ht->free_head == NIL)
			ht->free_tail = NIL;
		ht->nfree--;
		gen = h->gen_;
	} else {
		uint32_t c = ht->used >> HID_CHUNK_SHIFT;

		if (c == ht->nchunks) {
			uint32_t n = ht->max - ht->used < HID_CHUNK ? ht->max - ht->used : HID_CHUNK;

			ht->chunks[c] = malloc(n * sizeof(struct hid));
			if (!ht->chunks[c])
				return -ENOMEM;
			ht->nchunks++;
		}
		i = ht->used++;
		h = slot(ht, i);
		gen = 1;
	}
	memset(h, 0, sizeof(*h));
	h->gen_ = gen;
	h->handle = (uint32_t)gen << HID_INDEX_BITS | i;
	h->created = h->updated = now;
	h->next_free_ = NIL;
	ht->count++;
	if (out)
		*out = h;
	return 0;
}

struct hid *hid_table_get(const struct hid_table *ht, uint32_t handle)
{
	uint32_t i = handle & HID_MAX_ENTRIES;
	struct hid *h;

	if (!handle || i >= ht->used)
		return NULL;
	h = slot(ht, i);
	return h->handle == handle ? h : NULL;
}

struct hid *hid_table_lookup(const struct hid_table *ht, const struct dime_addr *a)
{
	uint32_t i = ix_find(ht, a);

	return i == NIL ? NULL : hid_table_get(ht, ht->ix[i].handle);
}

void hid_table_remove(struct hid_table *ht, struct hid *h)
{
	uint32_t i = h->handle & HID_MAX_ENTRIES;

	for (int s = HID_ACTIVE; s <= HID_UNREACH; s++)
		for (unsigned k = 0; k < h->set[s].n; k++)
			ix_del(ht, ix_find(ht, &h->set[s].a[k]));
	h->handle = 0;
	h->gen_ = h->gen_ == UINT8_MAX ? 1 : h->gen_ + 1;	/* 0 would make handle 0 */
	h->next_free_ = NIL;
	if (ht->free_tail == NIL)
		ht->free_head = i;
	else
		slot(ht, ht->free_tail)->next_free_ = i;
	ht->free_tail = i;
	ht->nfree++;
	ht->count--;
}

uint32_t hid_table_count(const struct hid_table *ht)
{
	return ht->count;
}

struct hid *hid_table_next(const struct hid_table *ht, uint32_t *cursor)
{
	while (*cursor < ht->used) {
		struct hid *h = slot(ht, (*cursor)++);

		if (h->handle)
			return h;
	}
	return NULL;
}

/* --- address sets --- */

int hid_addrs_find(const struct hid_addrs *s, const struct dime_addr *a)
{
	for (unsigned k = 0; k < s->n; k++)
		if (addr_eq(&s->a[k], a))
			return (int)k;
	return -1;
}

static void set_append(struct hid_addrs *s, const struct dime_addr *a)
{
	/* Stored zero-padded so whole entries compare with memcmp too. */
	addr_set(&s->a[s->n++], a->af, a->a);
}

static void set_drop(struct hid_addrs *s, int k)
{
	memmove(&s->a[k], &s->a[k + 1], (size_t)(s->n - k - 1) * sizeof(s->a[0]));
	s->n--;
}

bool hid_addrs_drop(struct hid_addrs *s, const struct dime_addr *a)
{
	int k = hid_addrs_find(s, a);
	if (k < 0)
		return false;
	set_drop(s, k);
	return true;
}

static bool valid_addr(const struct dime_addr *a)
{
	return a->af == AF_INET || a->af == AF_INET6;
}

int hid_table_add_addr(struct hid_table *ht, struct hid *h, enum hid_set_id set,
    const struct dime_addr *a, uint32_t now)
{
	struct hid_addrs *s;
	int r;

	if ((unsigned)set >= HID_NSETS || !valid_addr(a))
		return -EINVAL;
	s = &h->set[set];
	if (hid_addrs_find(s, a) >= 0)
		return -EEXIST;
	if (set != HID_LOCAL && ix_find(ht, a) != NIL)
		return -EEXIST;
	if (s->n >= HID_ADDRS_MAX)
		return -ENOSPC;
	if (set != HID_LOCAL) {
		if ((r = ix_reserve(ht)) < 0)
			return r;
		ix_put(ht->ix, ht->ix_mask, a, h->handle, ht->seed);
		ht->ix_count++;
	}
	set_append(s, a);
	h->updated = now;
	return 0;
}

int hid_table_del_addr(struct hid_table *ht, struct hid *h, enum hid_set_id set,
    const struct dime_addr *a, uint32_t now)
{
	int k;

	if ((unsigned)set >= HID_NSETS)
		return -EINVAL;
	if ((k = hid_addrs_find(&h->set[set], a)) < 0)
		return -ENOENT;
	if (set != HID_LOCAL)
		ix_del(ht, ix_find(ht, a));
	set_drop(&h->set[set], k);
	h->updated = now;
	return 0;
}

int hid_table_move_addr(struct hid_table *ht, struct hid *h, const struct dime_addr *a,
    enum hid_set_id to, uint32_t now)
{
	enum hid_set_id from;
	int k;

	if (to != HID_ACTIVE && to != HID_UNREACH)
		return -EINVAL;
	from = to == HID_ACTIVE ? HID_UNREACH : HID_ACTIVE;
	if (hid_addrs_find(&h->set[to], a) >= 0)
		return 0;
	if ((k = hid_addrs_find(&h->set[from], a)) < 0)
		return -ENOENT;
	if (h->set[to].n >= HID_ADDRS_MAX)
		return -ENOSPC;
	set_append(&h->set[to], &h->set[from].a[k]);
	set_drop(&h->set[from], k);
	h->updated = now;
	return 0;
}

int hid_where(const struct hid *h, const struct dime_addr *a)
{
	for (int s = 0; s < HID_NSETS; s++)
		if (hid_addrs_find(&h->set[s], a) >= 0)
			return s;
	return -ENOENT;
}

int hid_promote(struct hid *h, const struct dime_addr *a)
{
	struct hid_addrs *s = &h->set[HID_ACTIVE];
	int k = hid_addrs_find(s, a);
	struct dime_addr x;

	if (k < 0)
		return -ENOENT;
	x = s->a[k];
	memmove(&s->a[1], &s->a[0], (size_t)k * sizeof(s->a[0]));
	s->a[0] = x;
	return 0;
}

const struct dime_addr *hid_primary(const struct hid *h, int af)
{
	const struct hid_addrs *s = &h->set[HID_ACTIVE];

	for (unsigned k = 0; k < s->n; k++)
		if (af == AF_UNSPEC || s->a[k].af == af)
			return &s->a[k];
	return NULL;
}

int hid_set_key(struct hid *h, const uint8_t key[HID_KEY_LEN], enum hid_key_origin origin)
{
	if (origin != HID_KEY_TOFU && origin != HID_KEY_PINNED)
		return -EINVAL;
	if (h->key_origin != HID_KEY_NONE) {
		if (memcmp(h->key, key, HID_KEY_LEN) != 0)
			return -EEXIST;
		if (origin > h->key_origin)
			h->key_origin = (uint8_t)origin;
		return 0;
	}
	memcpy(h->key, key, HID_KEY_LEN);
	h->key_origin = (uint8_t)origin;
	return 0;
}

void hid_clear_key(struct hid *h)
{
	memset(h->key, 0, HID_KEY_LEN);
	h->key_origin = HID_KEY_NONE;
}

const char *hid_key_origin_name(unsigned origin)
{
	static const char *const names[] = { "none", "tofu", "pinned" };
	return origin < sizeof(names) / sizeof(names[0]) ? names[origin] : NULL;
}
