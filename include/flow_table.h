/* flow_table: the socket table (docs/datapath.md, Terms), one entry per
 * transport flow, found by its identifiers (outbound) or by its locators (inbound). */
#ifndef DIME_FLOW_TABLE_H
#define DIME_FLOW_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* A flow as the local socket sees it. No padding: keys compare with memcmp,
 * so unused bytes (v4 addresses use laddr[0..3]) must be zero. */
struct flow_key {
	uint8_t af;		/* AF_INET / AF_INET6 */
	uint8_t proto;		/* IPPROTO_TCP / _UDP / _ICMP / _ICMPV6 */
	uint16_t lport, rport;	/* network byte order (ICMP echo: id in lport, 0 in rport) */
	uint8_t laddr[16], raddr[16];	/* v4 in the first 4 bytes, rest zero */
};

/* state: what the datapath saw, used to pick the idle timeout. */
#define FLOW_S_FIN_OUT	0x01	/* local side sent FIN */
#define FLOW_S_FIN_IN	0x02	/* remote side sent FIN */
#define FLOW_S_RST	0x04	/* RST seen in either direction */
#define FLOW_S_OPENED	0x08	/* TCP: the SYN was ours (snd_base is its sequence number) */

/* flags: free for the caller; these are the ones we know of. */
#define FLOW_F_LEARNED	0x01	/* learned from a socket that predates us */
#define FLOW_F_ID_ON_LO	0x02	/* keeps its local identifier alive on lo */
#define FLOW_F_CONFIRMED	0x40	/* TCP: a socket on this host owns it (a sweep found it) */

/* Callers may read every field and write state, flags, mark and last_seen.
 * The key, locators and hid change only through the functions below,
 * which keep the indices in step. Pointers stay valid until removal. */
struct flow {
	struct flow_key key;
	/* One byte for three small fields: 104 bytes a flow (<= 128 with the
	 * indices, even with every flow its own HID and translated). */
	uint8_t state : 4;	/* FLOW_S_* */
	uint8_t mark : 2;	/* the caller's 0..3 (stacktrans: which datapath
				 * holds the flow's elements; flow_table_sweep
				 * is for a caller that uses it to mark and sweep) */
	uint8_t xl : 1;		/* private: in the locator index */
	uint8_t nat_born : 1;	/* began on a path through a NAT: its two ends see
				 * different tuples, so it can only move encapsulated */
	uint8_t flags;
	uint8_t lloc[16], rloc[16];	/* locators; equal to the key when not translated */
	uint32_t hid;
	uint32_t last_seen;	/* seconds, caller's clock */
	/* TCP, from the SYNs if the caller saw them: snd_una = snd_base +
	 * tcpi_bytes_acked, rcv_nxt = rcv_base + tcpi_bytes_received.
	 * UDP: snd_base holds the flow's tag (encap.h), rcv_base is unused. */
	uint32_t snd_base, rcv_base;
	uint32_t id_next, loc_next;	/* private: bucket chains */
	uint32_t hid_prev, hid_next;	/* private: per-HID list */
};

/* A flow's identifiers (what its socket uses): local and remote. */
static inline void flow_lid(const struct flow *f, struct dime_addr *a)
{
	addr_set(a, f->key.af, f->key.laddr);
}

static inline void flow_rid(const struct flow *f, struct dime_addr *a)
{
	addr_set(a, f->key.af, f->key.raddr);
}

/* Idle timeouts in seconds, by protocol and state. */
struct flow_timeouts {
	uint32_t tcp_est;	/* default 7200: no FIN or RST seen, a socket owns it */
	uint32_t tcp_open;	/* default 120: no socket owns it yet (a forged SYN) */
	uint32_t tcp_half;	/* default 300: FIN seen from one side */
	uint32_t tcp_closing;	/* default 60: FIN from both sides, or RST */
	uint32_t udp;		/* default 180 */
	uint32_t icmp;		/* default 30 */
	uint32_t other;		/* default 600 */
};

/* Called before a flow is removed by expiry or sweep; return false to keep
 * it (then refresh last_seen or mark, or it is offered again next pass).
 * It must not insert or remove flows. */
typedef bool flow_expire_fn(struct flow *f, void *arg);

struct flow_table;

void flow_key_init(struct flow_key *k, int af, int proto,
    const void *laddr, uint16_t lport, const void *raddr, uint16_t rport);

/* At most max_entries flows (1 .. 2^31); seed should be random per process. */
struct flow_table *flow_table_new(uint32_t max_entries, uint32_t hash_seed);
void flow_table_free(struct flow_table *ft);

/* 0, -EEXIST, -ENOSPC (full: see flow_table_reclaim), -EINVAL (bad af), -ENOMEM.
 * The new flow is untranslated, state 0, flags 0, mark 0. */
int flow_table_insert(struct flow_table *ft, const struct flow_key *k,
    uint32_t hid, uint32_t now, struct flow **out);
/* Outbound: by identifiers. */
struct flow *flow_table_lookup(const struct flow_table *ft, const struct flow_key *k);
/* Inbound: by locators (laddr = local locator, raddr = remote locator);
 * only translated flows are found. */
struct flow *flow_table_lookup_loc(const struct flow_table *ft, const struct flow_key *lk);
/* Locators have the key's family. Locators equal to the identifiers make the
 * flow untranslated. 0, -EINVAL, -EEXIST (another flow has these locators). */
int flow_table_set_locators(struct flow_table *ft, struct flow *f,
    const struct dime_addr *lloc, const struct dime_addr *rloc);
void flow_table_clear_locators(struct flow_table *ft, struct flow *f);
static inline bool flow_is_translated(const struct flow *f)
{
	return f->xl != 0;
}
/* Moves a flow to another HID's list. 0 or -ENOMEM. */
int flow_table_set_hid(struct flow_table *ft, struct flow *f, uint32_t hid);
void flow_table_remove(struct flow_table *ft, struct flow *f);

uint32_t flow_table_count(const struct flow_table *ft);
uint32_t flow_table_count_translated(const struct flow_table *ft);
/* Walks the HID's list: O(its flows). */
uint32_t flow_table_count_hid(const struct flow_table *ft, uint32_t hid);
/* Bytes allocated by the table, everything included. */
size_t flow_table_memory(const struct flow_table *ft);

/* All flows: start with *cursor = 0; NULL at the end. Removing the returned
 * flow is safe; flows inserted meanwhile may or may not be visited. */
struct flow *flow_table_next(const struct flow_table *ft, uint32_t *cursor);
/* One HID's flows, newest first. To remove while iterating, fetch the next
 * flow before removing the current one. */
struct flow *flow_table_hid_first(const struct flow_table *ft, uint32_t hid);
struct flow *flow_table_hid_next(const struct flow_table *ft, const struct flow *f);

void flow_timeouts_default(struct flow_timeouts *t);
uint32_t flow_timeout(const struct flow_timeouts *t, const struct flow *f);
/* Removes flows idle longer than their timeout, looking at up to budget
 * slots (0: all) from where the last call stopped, so a periodic caller
 * can spread the work. cb may be NULL. Returns the number removed. */
uint32_t flow_table_expire(struct flow_table *ft, uint32_t now,
    const struct flow_timeouts *t, uint32_t budget, flow_expire_fn *cb, void *arg);
/* After -ENOSPC: one full expiry pass, at most once per second of now.
 * 0 if there is room now, else -ENOSPC: the caller lets the packet pass
 * untranslated. Live flows are never evicted, translated or not. */
int flow_table_reclaim(struct flow_table *ft, uint32_t now,
    const struct flow_timeouts *t, flow_expire_fn *cb, void *arg);
/* Removes every flow whose mark (0..3) differs from mark. Returns the number removed. */
uint32_t flow_table_sweep(struct flow_table *ft, uint8_t mark, flow_expire_fn *cb, void *arg);

#endif
