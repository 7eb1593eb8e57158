/* hid_table: the HID table (docs/datapath.md, Terms), one entry per peer host with
 * its active, unreachable and local address sets and an optional key. */
#ifndef DIME_HID_TABLE_H
#define DIME_HID_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

/* A full set refuses more (-ENOSPC) and changes nothing: the caller decides
 * what to drop, e.g. the oldest unreachable address. */
#define HID_ADDRS_MAX	8
#define HID_KEY_LEN	32	/* Ed25519 public key */
#define HID_INDEX_BITS	24
#define HID_MAX_ENTRIES	((1u << HID_INDEX_BITS) - 1)

enum hid_set_id {
	HID_ACTIVE,		/* peer's, reachable from here */
	HID_UNREACH,		/* peer's, not reachable from here now */
	HID_LOCAL,		/* ours, reachable by the peer */
	HID_NSETS
};

enum hid_key_origin {
	HID_KEY_NONE,
	HID_KEY_TOFU,		/* taken from the first signed message */
	HID_KEY_PINNED,		/* configured */
};

/* In insertion order; the first of a family in active is the primary. */
struct hid_addrs {
	uint8_t n;
	struct dime_addr a[HID_ADDRS_MAX];
};

/* Callers may read every field and write flags, nflows, ihmp, updated,
 * moved, bytes_in, bytes_out and ho; address sets and the key change only through the functions below.
 * Pointers stay valid until hid_table_remove. */
/* hid.flags, by their owners. */
#define HID_F_HELLO_ONLY	0x100	/* ihmp: made by a HELLO, no flow yet */
#define HID_F_MANUAL		0x200	/* stacktrans: mapped by dimectl map / map-local */

/* The path to a peer through NATs (docs/ihmp.md §8), as IHMP proved it;
 * one per family (hid.nat[af == AF_INET6]): a peer's IPv4 path may cross a
 * NAT while its IPv6 path does not. */
struct hid_nat {
	bool peer;		/* the peer is behind a NAT: ep is its binding */
	bool self;		/* we are behind a NAT toward this peer */
	bool have_ep, have_pub;
	struct dime_addr ep;	/* the peer's proven IHMP endpoint: IHMP and DATA go here */
	uint16_t ep_port;
	struct dime_addr host;	/* the address the peer has behind its NAT (nat_addr:host_addr) */
	struct dime_addr pub;	/* our endpoint as this peer observes it */
	uint16_t pub_port;
};

/* The last handoff with this peer (events.h), per family as hid.ho[af ==
 * AF_INET6]: both families move at once and each ends on its own data. */
struct hid_handoff {
	bool pending;		/* no data on the new locator yet */
	uint8_t kind;		/* enum ev_handoff */
	struct dime_addr to;	/* the new locator, ours or the peer's */
	uint64_t event_ms;	/* monotonic: our address change seen, or its HANDOFF */
	uint64_t done_ms;	/* first translated data packet on the new locator */
};

struct hid {
	uint32_t handle;	/* 24-bit slot, 8-bit generation; never 0 */
	uint32_t flags;		/* free for the caller */
	uint32_t created, updated;	/* seconds, caller's clock */
	uint32_t nflows;	/* kept by the caller */
	uint8_t key_origin;	/* enum hid_key_origin */
	uint8_t key[HID_KEY_LEN];
	struct hid_addrs set[HID_NSETS];	/* by enum hid_set_id */
	struct hid_addrs moved;	/* ours, still configured, that we handed off from */
	struct hid_nat nat[2];
	uint64_t bytes_in, bytes_out;	/* translated and encapsulated data, IP lengths */
	struct hid_handoff ho[2];
	void *ihmp;		/* signalling state; the caller frees it */
	uint8_t gen_;		/* private */
	uint32_t next_free_;	/* private */
};

struct hid_table;

static inline struct hid_nat *hid_nat(struct hid *h, int af)
{
	return &h->nat[af == AF_INET6];
}

static inline const struct hid_nat *hid_nat_c(const struct hid *h, int af)
{
	return &h->nat[af == AF_INET6];
}

/* max_entries in 1 .. HID_MAX_ENTRIES; seed should be random per process. */
struct hid_table *hid_table_new(uint32_t max_entries, uint32_t hash_seed);
void hid_table_free(struct hid_table *ht);

/* 0, -ENOSPC (full) or -ENOMEM. The new HID has empty sets and no key. */
int hid_table_create(struct hid_table *ht, uint32_t now, struct hid **out);
/* NULL for 0, unknown and stale handles. */
struct hid *hid_table_get(const struct hid_table *ht, uint32_t handle);
/* The HID whose active or unreachable set holds a; local sets are not
 * indexed (our addresses are in many HIDs). */
struct hid *hid_table_lookup(const struct hid_table *ht, const struct dime_addr *a);
/* Drops the HID and its addresses from the index; its slot is reused only
 * after many other removals, with a new generation. */
void hid_table_remove(struct hid_table *ht, struct hid *h);
uint32_t hid_table_count(const struct hid_table *ht);
/* Start with *cursor = 0; NULL at the end. Removing the returned HID is safe. */
struct hid *hid_table_next(const struct hid_table *ht, uint32_t *cursor);

/* 0; -EEXIST if a is already in this set or, for active and unreachable,
 * in either of those sets of any HID (a hostile message cannot steal an
 * address silently); -ENOSPC if the set is full; -EINVAL; -ENOMEM. */
int hid_table_add_addr(struct hid_table *ht, struct hid *h, enum hid_set_id set,
    const struct dime_addr *a, uint32_t now);
/* 0 or -ENOENT. */
int hid_table_del_addr(struct hid_table *ht, struct hid *h, enum hid_set_id set,
    const struct dime_addr *a, uint32_t now);
/* Moves a between active and unreachable of h, to the end of the target.
 * 0 (also when already there), -ENOENT, -ENOSPC, -EINVAL. */
int hid_table_move_addr(struct hid_table *ht, struct hid *h, const struct dime_addr *a,
    enum hid_set_id to, uint32_t now);
/* Which set of h holds a (active, unreachable, then local), or -ENOENT. */
int hid_where(const struct hid *h, const struct dime_addr *a);

/* One address list (a set, or `moved`): a's index, -1 if absent; and
 * dropping a, keeping the order (false if it was not there). */
int hid_addrs_find(const struct hid_addrs *s, const struct dime_addr *a);
bool hid_addrs_drop(struct hid_addrs *s, const struct dime_addr *a);
/* Makes a, already active, the primary of its family. 0 or -ENOENT. */
int hid_promote(struct hid *h, const struct dime_addr *a);
/* The preferred active address of family af (AF_UNSPEC: any), or NULL. */
const struct dime_addr *hid_primary(const struct hid *h, int af);

/* Binds a key. 0; -EEXIST if a different key is bound, whatever the
 * origins (the caller clears it first if it means to); -EINVAL for
 * HID_KEY_NONE. Binding the bound key again keeps the stronger origin. */
int hid_set_key(struct hid *h, const uint8_t key[HID_KEY_LEN], enum hid_key_origin origin);
void hid_clear_key(struct hid *h);
/* "none", "tofu" or "pinned": how `dimectl`, events and the state file
 * name an origin; NULL for anything else. */
const char *hid_key_origin_name(unsigned origin);

#endif
