/*
 * ihmp_int: the IHMP engine's private state, shared by its files, one per
 * part of docs/ihmp.md:
 *
 *   ihmp.c        the engine's life, the receive path (decode, authenticate,
 *                 dispatch: §9), peer state, counters
 *   ihmp_auth.c   trust (§7): signatures, counters, return routability,
 *                 the HELLO challenge, rate limits and budgets, address sets
 *   ihmp_keys.c   key rotation (§7.5), the key commands of dimectl
 *   ihmp_tx.c     exchanges (§6): send, retransmit, match ACKs, time out
 *   ihmp_hello.c  HELLO and PATH_PROBE, both ends (§5.1, §5.2)
 *   ihmp_move.c   ADDR_UP, ADDR_DOWN, HANDOFF, both ends (§5.3-§5.5)
 *   ihmp_nat.c    NAT traversal (§8): observed endpoints, proven NAT
 *                 bindings, rebinding, keepalives
 *   ihmp_io.c     the UDP sockets and the real environment
 *
 * Nothing here touches a socket, the clock or the datapath directly: all of
 * that goes through ih->env, so tests drive the engine without root.
 */
#ifndef DIME_IHMP_INT_H
#define DIME_IHMP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "hid_table.h"
#include "ihmp.h"
#include "ihmp_wire.h"
#include "log.h"
#include "sign.h"

#define IHMP_COUNTER_V4		(1ull << 63)	/* COUNTER of a message sent over IPv4 (§7.2) */
#define IHMP_PENDING		8	/* unacknowledged messages per peer */
#define IHMP_BUSY_MAX		4096	/* peers with messages in flight */
#define IHMP_RTO_MS		250	/* first retransmission; doubles */
#define IHMP_REKICK_MS		200	/* senders restarted after a move: looked at again after */
#define IHMP_REKICKS		2	/* ... this many times at most */
#define IHMP_TRIES		4	/* sends before giving up */
#define IHMP_SEND_RETRY_MS	50	/* a send that failed locally (no route yet) */
#define IHMP_SEND_FAILS_MAX	200	/* 10 s of local failures: give up */
#define IHMP_SILENT_MIN_S	60	/* a peer that never answered: first backoff */
#define IHMP_SILENT_MAX_S	3600
#define IHMP_MAX_EVENTS		32
#define IHMP_VERIFIED_MAX	8
#define IHMP_PROBES_PER_ADDR	3	/* probe exchanges per address per minute (T5) */
#define IHMP_CHALLENGES_MAX	3	/* HELLO challenge rounds before giving up */

enum peer_state { PEER_NEW, PEER_HELLO, PEER_OK, PEER_SILENT };

/* One request in flight. */
struct ihmp_tx {
	bool used;
	uint8_t tries;		/* sends that left */
	uint8_t fails;		/* local send errors (no route yet) */
	uint64_t due;		/* ms, monotonic */
	struct dime_addr src, dst;
	uint16_t port;		/* dst's: the IHMP port, or a NAT binding's */
	struct ihmp_msg msg;
};

/* A claimed new address waiting for proof that the peer receives there. */
struct ihmp_rr {
	bool active;
	struct dime_addr addr;
	uint8_t nonce[IHMP_NONCE_LEN];
	struct ihmp_msg msg;		/* the ADDR_UP or HANDOFF to apply once proven;
					 * a PATH_PROBE: a NAT rebinding of the peer (§8) */
	struct dime_addr src, dst;
	uint16_t port;			/* the request's source port: its ACK goes there */
	uint16_t at_port;		/* where addr is proven: the IHMP port, or a NAT binding */
};

/* Per peer (hid->ihmp). */
struct ihmp_peer {
	uint8_t state;			/* enum peer_state: only through ihmp_peer_set_state */
	bool was_up;			/* peer-up reported (events.h): peer-down when it goes */
	uint16_t seq;
	uint32_t silent_s;
	uint64_t silent_until;
	struct ihmp_tx tx[IHMP_PENDING];
	bool have_counter;
	uint64_t last_counter[2];	/* per family of the datagrams (v4, v6): the
					 * highest COUNTER accepted, its family bit
					 * clear (replay protection, §7.2) */
	bool have_applied;
	uint16_t applied_seq;		/* last change applied: a retransmission is only ACKed */
	uint8_t applied_type;
	struct ihmp_rr rr[2];		/* per family: v4 and v6 claims prove side by side */
	uint8_t nverified;
	struct dime_addr verified[IHMP_VERIFIED_MAX];
	bool have_via[2];
	struct dime_addr via[2];	/* our source toward the peer, per family, last seen */
	struct hid_addrs cand;		/* advertised or claimed, unproven (T1): never a locator */
	uint8_t challenges;		/* HELLO challenges answered since the last ACK */
	uint32_t probe_tokens;		/* this peer's return-routability budget (T4) */
	uint64_t probe_last;
	uint64_t last_seen;		/* ms: made, or an accepted message from it */
	uint32_t rx_tokens;		/* datagrams naming it, before verification (T4) */
	uint64_t rx_last;
	bool rot_pending;		/* has not ACKed our key rotation yet (T7) */
	uint64_t rot_retry;		/* ms: when to announce it again */
	bool have_ep_ok;
	struct dime_addr ep_ok;		/* the endpoint last proven through a NAT (§8) */
	uint16_t ep_ok_port;
	struct dime_addr pub_from;	/* our source when it last told us our binding */
	uint32_t ka_ms;			/* NAT keepalive interval toward it (0: the configured one) */
	uint64_t ka_last;		/* ms: last keepalive, or last exchange that held the binding */
	uint64_t restored_at;		/* ms: restored after our restart, not heard from since (0: no) */
	uint64_t rekick_at[2];		/* ms, per family: look again at senders we restarted (0: no) */
	uint8_t rekicks[2];		/* looks left */
	/* ihmp_rdv.c (§11) */
	char name[IHMP_NAME_MAX + 1];	/* told with its bound key; "": none */
	uint64_t rdv_last;		/* ms: last lookup of it */
	struct {		/* a probe in flight per family; its exchange may be
				 * displaced from tx[], so it expires on its own */
		bool active;
		uint64_t until;
		struct dime_addr addr;
		uint8_t nonce[IHMP_NONCE_LEN];
	} rdv[2];
};

/* Counters: field, output key. One list for the struct and `dimectl stats`. */
#define IHMP_STATS_TOP(X)						\
	X(retransmits, "retransmits")					\
	X(timeouts, "timeouts")						\
	X(tx_full, "displaced")						\
	X(send_errors, "send_errors")
#define IHMP_STATS_REJECTED(X)						\
	X(rx_malformed, "malformed")					\
	X(rx_version, "bad_version")					\
	X(rx_unsupported, "unsupported")				\
	X(rx_too_big, "too_big")					\
	X(rx_unknown_host, "unknown_host_id")				\
	X(rx_unexpected_ack, "unexpected_ack")				\
	X(rx_rejected, "address_owned_by_other_peer")			\
	X(rx_incomplete, "incomplete")					\
	X(rx_bad_signature, "bad_signature")				\
	X(rx_unsigned, "unsigned")					\
	X(rx_replay, "replay")						\
	X(rx_rate_limited, "rate_limited")				\
	X(rx_unverified, "unverified_address")				\
	X(rx_pin_mismatch, "pinned_key_mismatch")			\
	X(rx_challenged, "challenged")					\
	X(rx_bad_cookie, "bad_cookie")					\
	X(rx_unproven, "unproven_sender")				\
	X(rx_amplification, "answer_too_big")				\
	X(rx_probe_budget, "probe_budget")				\
	X(rx_rdv_unproven, "rendezvous_unproven")
#define IHMP_STATS_OTHER(X)						\
	X(keys_bound, "keys_bound")					\
	X(folded, "hids_folded")					\
	X(probes_rr, "return_routability_probes")			\
	X(rx_nat_detected, "nat_detected")				\
	X(nat_keepalives, "nat_keepalives")				\
	X(nat_rebinds, "nat_rebinds")					\
	X(busy_full, "busy_full")					\
	X(hids_freed, "hids_freed")					\
	X(addrs_evicted, "addresses_evicted")				\
	X(rekicked, "senders_restarted_again")				\
	X(rdv_lookups, "rendezvous_lookups")				\
	X(rdv_found, "rendezvous_found")

struct ihmp_stats {
	uint64_t in[IHMP_TYPE_MAX + 1], out[IHMP_TYPE_MAX + 1];
#define IHMP_STAT_FIELD(f, key) uint64_t f;
	IHMP_STATS_TOP(IHMP_STAT_FIELD)
	IHMP_STATS_REJECTED(IHMP_STAT_FIELD)
	IHMP_STATS_OTHER(IHMP_STAT_FIELD)
#undef IHMP_STAT_FIELD
};

#define IHMP_RL_BUCKETS		1024	/* rate limit slots: per source prefix */
#define IHMP_PROBED_SLOTS	256	/* per claimed address probe counts */

struct ihmp {
	struct ihmp_cfg cfg;
	struct ihmp_env env;
	struct hid_table *ht;
	void *io;			/* ihmp_io's sockets, or NULL (ihmp_new_env) */
	void (*io_free)(void *io);
	size_t nev;
	struct { struct dime_addr a; bool up; } ev[IHMP_MAX_EVENTS];
	bool kick;		/* routes changed: retry failed sends now */
	bool ev_overflow;
	size_t nbusy;
	uint32_t busy[IHMP_BUSY_MAX];
	struct ihmp_stats stats;
	struct log_limit lim;
	const struct config *conf;
	/* ihmp_auth.c */
	struct sign_key key;		/* the host key, for every address (`*`) */
	bool have_key;
	size_t nlkeys;			/* set_local_key for chosen prefixes */
	struct { struct dime_addr pfx; unsigned plen; struct sign_key key; } lkeys[IHMP_LOCAL_KEYS_MAX];
	uint64_t counter;
	struct { uint32_t tokens; uint64_t last; } rl[IHMP_RL_BUCKETS];
	uint32_t unauth_tokens;		/* all unknown sources together */
	uint64_t unauth_last;
	uint32_t probe_tokens;		/* global ceiling */
	uint64_t probe_last, last_sweep;
	struct { uint32_t tag; uint8_t n; uint64_t since; } probed[IHMP_PROBED_SLOTS];
	uint8_t cookie_key[2][SIGN_MAC_KEY_LEN];	/* current, previous */
	uint64_t cookie_epoch;
	size_t rx_budget;		/* octets we may still send in answer (T5) */
	bool rx_bound;			/* the message in hand verified with a bound key */
	uint32_t seed;
	struct sign_key old_key;	/* kept while a peer has not ACKed the rotation */
	bool have_old_key;
	uint32_t halfopen;		/* HIDs only a HELLO made */
	uint64_t gen;			/* bumped by what a restart must keep (src/state.c) */
	char name[IHMP_NAME_MAX + 1];	/* ours, told to peers (§11); "" none */
	ihmp_resolve_fn *resolve;	/* rendezvous lookups, or NULL */
	void *resolve_arg;
	/* ihmp_nat.c */
	uint64_t peer_last;		/* ms: last pass over the peers' timers */
	uint64_t peer_due;		/* ms: the next keepalive or re-kick due, or UINT64_MAX */
};

/* The environment, in short. */
static inline uint64_t ih_now(const struct ihmp *ih) { return ih->env.now_ms(ih->env.arg); }
static inline uint32_t ih_now_s(const struct ihmp *ih) { return (uint32_t)(ih_now(ih) / 1000); }
/* A per-peer timer (keepalive, re-kick) is due at t: ihmp_tick wakes by then. */
static inline void ih_peer_due(struct ihmp *ih, uint64_t t)
{
	if (t < ih->peer_due)
		ih->peer_due = t;
}
static inline bool ih_is_local(const struct ihmp *ih, const struct dime_addr *a)
{
	return ih->env.is_local(ih->env.arg, a);
}
static inline void ih_hid_changed(const struct ihmp *ih, const struct hid *h)
{
	ih->env.hid_changed(ih->env.arg, h->handle);
}

/* ihmp.c */
struct ihmp_peer *ihmp_peer_get(struct ihmp *ih, struct hid *h);
void ihmp_peer_set_state(struct ihmp *ih, struct hid *h, enum peer_state s);
const char *ihmp_peer_state(const struct hid *h);
/* Our usable addresses, for ADDRS lists (possibly empty; never link-local). */
void ihmp_put_addrs(struct ihmp *ih, struct ihmp_msg *m);

/* ihmp_tx.c: one exchange (docs/ihmp.md §5) is a request type with its
 * first timeout and what its end does with the ACK or without one. The
 * handlers get a copy of the request; its slot is free already. */
struct ihmp_exchange {
	unsigned rto_ms;
	void (*on_ack)(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req,
		       const struct ihmp_msg *ack, const struct dime_addr *src, const uint8_t *tofu);
	void (*on_timeout)(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req);
	unsigned max_rto_ms;	/* the backoff stops here (0: none) */
	uint8_t tries;		/* transmissions (0: IHMP_TRIES) */
};
extern const struct ihmp_exchange ihmp_x_hello, ihmp_x_probe;	/* ihmp_hello.c */
/* ihmp_hello.c: a HELLO from our address `from` to the peer's `to`, with
 * our addresses and a fresh nonce, as an exchange (§5.1). */
void ihmp_hello_send(struct ihmp *ih, struct hid *h, const struct dime_addr *from,
		     const struct dime_addr *to);
extern const struct ihmp_exchange ihmp_x_addr_up, ihmp_x_addr_down, ihmp_x_handoff,
	ihmp_x_report;						/* ihmp_move.c */

/* Encodes, seals (for peer h, if known) and sends one message; counts it. */
int ihmp_xmit(struct ihmp *ih, const struct hid *h, const struct dime_addr *src,
	      const struct dime_addr *dst, uint16_t port, const struct ihmp_msg *m);
/* Starts an exchange: sends now, retransmits until ACKed or given up;
 * _to: to this port (a NAT binding being proven), not the peer's. */
void ihmp_tx_start(struct ihmp *ih, struct hid *h, struct ihmp_msg *m,
		   const struct dime_addr *src, const struct dime_addr *dst);
void ihmp_tx_start_to(struct ihmp *ih, struct hid *h, struct ihmp_msg *m,
		      const struct dime_addr *src, const struct dime_addr *dst, uint16_t port);
/* Answers req (from remote, to our local address) with an ACK. */
void ihmp_send_ack(struct ihmp *ih, const struct hid *h, const struct ihmp_msg *req,
		   const struct dime_addr *local, const struct dime_addr *remote, uint16_t port,
		   uint16_t flags, bool with_addrs);
/* The request in flight that ack answers (from src:port), or NULL. */
struct ihmp_tx *ihmp_tx_find(struct ihmp *ih, const struct ihmp_msg *ack, const struct dime_addr *src,
			     uint16_t port, struct hid **hout);
/* ack matched t (authenticated already): end the exchange. */
void ihmp_tx_acked(struct ihmp *ih, struct hid *h, struct ihmp_tx *t, const struct ihmp_msg *ack,
		   const struct dime_addr *src, const uint8_t *tofu);
/* A PATH_PROBE to at:port is in flight (not displaced from tx[]). */
bool ihmp_tx_probing(const struct ihmp_peer *p, const struct dime_addr *at, uint16_t port);
/* A request of this type claiming new_addr, still in flight, gets a full
 * timeout from now. Whether there was one. */
bool ihmp_tx_extend(struct ihmp *ih, struct hid *h, uint8_t type, const struct dime_addr *new_addr);
void ihmp_busy_add(struct ihmp *ih, uint32_t handle);
void ihmp_busy_del(struct ihmp *ih, uint32_t handle);
/* Retransmissions and timeouts; ms until the next is due, or UINT64_MAX. */
uint64_t ihmp_tx_run(struct ihmp *ih, uint64_t now);

/* ihmp_auth.c */
void ihmp_auth_init(struct ihmp *ih);
bool ihmp_rate_ok(struct ihmp *ih, const struct dime_addr *src);
bool ihmp_budget_ok(struct ihmp *ih, struct hid *h);
/* The verdict on one message: *bound when its signature verified with the
 * key bound to h, *proved a key it proved it holds (self-signed, or a pin)
 * that the caller may bind after the checks of T2. */
bool ihmp_authenticate(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m, const uint8_t *buf,
		       const struct dime_addr *src, bool *bound, const uint8_t **proved);
void ihmp_bind_new(struct ihmp *ih, struct hid *h, const uint8_t *key, const struct ihmp_msg *m,
		   const struct dime_addr *src);
/* ihmp_keys.c: KEY_ROTATE (§7.5): what its proof signs, and applying one. */
#define IHMP_ROT_INPUT_LEN (IHMP_ROT_CONTEXT_LEN + 2 * IHMP_KEY_LEN + 8)
void ihmp_rot_input(uint8_t in[IHMP_ROT_INPUT_LEN], const uint8_t *old_pk, const uint8_t *new_pk,
		    uint64_t counter);
void ihmp_key_rotate(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m);
/* Encodes m with a fresh COUNTER and, if sign and we have a key for its
 * Host ID, signs it; to be sent in the family of its Host ID. */
int ihmp_seal(struct ihmp *ih, const struct ihmp_msg *m, uint8_t *buf, size_t cap, bool sign);
/* The same, for peer h, to be sent in family af (its COUNTER says which,
 * §7.2): while h has not ACKed our key rotation, signed by the old key,
 * and a HELLO carries KEY_ROTATE (T7). */
int ihmp_seal_for(struct ihmp *ih, const struct hid *h, const struct ihmp_msg *m, uint8_t *buf,
		  size_t cap, bool sign, int af);
void ihmp_counter_seen(struct ihmp_peer *p, int fam, uint64_t c);
/* A peer ACKed our rotation, or went away: drop the old key when no
 * peer waits for it any more. */
void ihmp_rotation_done(struct ihmp *ih, struct hid *h);
void ihmp_rotation_retry(struct ihmp *ih, struct hid *h, uint64_t now);
bool ihmp_hello_allowed(const struct ihmp *ih, const struct dime_addr *peer);
bool ihmp_half_open_ok(struct ihmp *ih);
/* Return routability (§7.4). */
bool ihmp_rr_verified(const struct hid *h, const struct ihmp_peer *p, const struct dime_addr *a);
void ihmp_rr_add_verified(struct ihmp_peer *p, const struct dime_addr *a);
/* May we probe a for h now (budgets of T4, T5)? Takes the tokens. */
bool ihmp_probe_allowed(struct ihmp *ih, struct hid *h, const struct dime_addr *a);
/* Worth probing from here, and from which of our addresses. */
bool ihmp_probe_reachable(struct ihmp *ih, const struct dime_addr *a, struct dime_addr *src);
/* HELLO challenge (T2): the cookie for this sender, and whether m echoes it. */
void ihmp_cookie(struct ihmp *ih, int which, const struct ihmp_msg *m, const struct dime_addr *src,
		 uint16_t port, uint8_t out[IHMP_NONCE_LEN]);
bool ihmp_cookie_ok(struct ihmp *ih, const struct ihmp_msg *m, const struct dime_addr *src, uint16_t port);
/* Address sets (T1, T4): add with room made by evicting the oldest
 * unreachable (or candidate) entry; a proven address enters active,
 * taken from another HID only where that is safe (0, or -EEXIST). */
int ihmp_set_add(struct ihmp *ih, struct hid *h, enum hid_set_id set, const struct dime_addr *a);
int ihmp_prove(struct ihmp *ih, struct hid *h, const struct dime_addr *a);
bool ihmp_can_claim(struct ihmp *ih, const struct hid *h, const struct dime_addr *a);
void ihmp_cand_add(struct ihmp_peer *p, const struct dime_addr *a);
bool ihmp_cand_drop(struct ihmp_peer *p, const struct dime_addr *a);
/* HIDs nobody needs any more (T4). */
void ihmp_reclaim(struct ihmp *ih, uint64_t now);

/* ihmp_hello.c */
void ihmp_on_hello(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m, const struct dime_addr *src,
		   const struct dime_addr *dst, uint16_t port, const uint8_t *proved);
void ihmp_on_probe(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
		   const struct dime_addr *src, const struct dime_addr *dst, uint16_t port);

/* ihmp_nat.c */
/* The port requests to dst go to: a NAT binding's, or the IHMP port. */
uint16_t ihmp_peer_port(const struct ihmp *ih, const struct hid *h, const struct dime_addr *dst);
/* An ACK (authenticated, matched to req) told where the peer sees us from. */
void ihmp_nat_observed(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req, const struct ihmp_msg *ack);
/* The peer reached us from src:port, proven (a HELLO's cookie, a probe's
 * echo): nat says whether a NAT rewrote its address; claimed is the
 * address it says it has. */
void ihmp_nat_peer_at(struct ihmp *ih, struct hid *h, const struct dime_addr *src, uint16_t port, bool nat,
		      const struct dime_addr *claimed);
/* A change that arrived through a NAT (src differs from NEW_ADDR): where it
 * must be proven (*port), and whether it is already. */
bool ihmp_nat_proven(const struct ihmp_peer *p, const struct dime_addr *src, uint16_t port);
/* A signed request from the peer came from another endpoint of its NAT
 * than the one we send to: prove the new one (a rebinding). */
void ihmp_nat_moved(struct ihmp *ih, struct hid *h, const struct dime_addr *src, const struct dime_addr *dst,
		    uint16_t port);
void ihmp_nat_rebind_apply(struct ihmp *ih, struct hid *h, const struct ihmp_rr *rr);
/* Keepalives toward a peer we reach through a NAT, while flows live. */
void ihmp_nat_keepalive(struct ihmp *ih, struct hid *h, uint64_t now);

/* ihmp_move.c */
void ihmp_on_change(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
		    const struct dime_addr *src, const struct dime_addr *dst, uint16_t port);
void ihmp_apply_proven(struct ihmp *ih, struct hid *h, const struct ihmp_rr *rr);
void ihmp_process_events(struct ihmp *ih);
void ihmp_route_moves(struct ihmp *ih, struct hid *only);
void ihmp_addr_up(struct ihmp *ih, struct hid *h, const struct dime_addr *a);
/* The peer answered us at a, one of our addresses: a goes first in h's
 * local set, which says where the peer reaches us, if what is first there
 * is no longer ours (a socket left over from an address that was gone
 * when we started may have put it there). */
void ihmp_known_at(struct ihmp *ih, struct hid *h, const struct dime_addr *a);
/* Restart our stalled TCP senders to h in family af (the path moved), and
 * look again a little later; ihmp_rekick does the looking. */
void ihmp_kick(struct ihmp *ih, struct hid *h, int af);
void ihmp_rekick(struct ihmp *ih, struct hid *h, uint64_t now);
/* ihmp_rdv.c: rendezvous (§11). */
/* m came from h signed with its bound key (bound: verified so; or proved
 * and now bound): keep the NAME it tells. */
void ihmp_rdv_learn(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m, const uint8_t *proved);
/* Our NAME for a HELLO or an ACK of one, if we sign and have one. */
void ihmp_rdv_put_name(const struct ihmp *ih, struct ihmp_msg *m);
/* Our changes of a's family still in flight to where the peer was go to a
 * (its new address) now, with a full set of retransmissions. */
void ihmp_retarget(struct ihmp *ih, struct hid *h, const struct dime_addr *a);
/* Every address we know of h stopped answering: look its name up. */
void ihmp_rdv_lost(struct ihmp *ih, struct hid *h);
/* A PATH_PROBE exchange ended: true when it was a rendezvous probe (and
 * is dealt with). */
bool ihmp_rdv_acked(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req);
bool ihmp_rdv_timeout(struct ihmp *ih, struct hid *h, const struct ihmp_tx *req);

/* The first address of family af in h's local set that is still ours. */
bool ihmp_local_live(struct ihmp *ih, const struct hid *h, int af, const struct dime_addr *not,
		     struct dime_addr *out);

#endif
