/* ihmp: the signalling engine (docs/ihmp.md) — who sends what, from which
 * address to which, what each side records, retransmission. */
#ifndef DIME_IHMP_H
#define DIME_IHMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "out.h"
#include "rtnl.h"

struct stacktrans;
struct hid;
struct hid_table;

struct config;
struct config_prefix;

struct ihmp_cfg {
	uint16_t port;		/* UDP port, both ends (default IHMP_PORT) */
	const char *state_dir;	/* host.key lives here; NULL: unsigned (tests) */
};

struct ihmp;

/*
 * What the engine needs from the rest of dimed: the clock, datagram output,
 * our addresses and routes (rtnl), and the datapath (stacktrans). dimed
 * passes the real ones (ihmp_new); tests and fuzzers their own
 * (ihmp_new_env), so the whole engine runs without root or a network.
 */
struct ihmp_env {
	void *arg;			/* passed to every call */
	struct hid_table *hids;		/* the HID table the datapath files flows in */
	uint64_t (*now_ms)(void *arg);	/* monotonic */
	int (*send)(void *arg, const struct dime_addr *src, const struct dime_addr *dst,
		    uint16_t port, const uint8_t *buf, size_t len);	/* 0 or -errno */
	/* rtnl: our usable addresses, whether one is ours, the source the
	 * kernel picks toward dst (-ENETUNREACH without a route). */
	size_t (*local_addrs)(void *arg, const struct rtnl_addr **out);
	bool (*is_local)(void *arg, const struct dime_addr *a);
	int (*route_src)(void *arg, const struct dime_addr *dst, struct dime_addr *src);
	/* stacktrans: re-sync a HID's flows after its sets changed; abort its
	 * sockets; restart its stalled TCP senders; the rest as in st_peer.h. */
	void (*hid_changed)(void *arg, uint32_t handle);
	unsigned (*abort_peer)(void *arg, uint32_t handle, int af);
	unsigned (*kick_peer)(void *arg, uint32_t handle, int af);
	int (*local_first)(void *arg, struct hid *h, const struct dime_addr *a);
	void (*moved_from)(void *arg, struct hid *h, const struct dime_addr *old);
	int (*fold_hid)(void *arg, struct hid *into, struct hid *from);
	/* Whether a flow of h still names a as its peer's identifier. */
	bool (*in_use)(void *arg, const struct hid *h, const struct dime_addr *a);
};

/* The engine with its UDP sockets, on the datapath st (dimed). */
int ihmp_new(struct ihmp **out, const struct ihmp_cfg *cfg, struct stacktrans *st);
/* The engine alone: no sockets, everything through env (copied). */
int ihmp_new_env(struct ihmp **out, const struct ihmp_cfg *cfg, const struct ihmp_env *env);
void ihmp_free(struct ihmp *ih);
/* The two UDP sockets (IPv4, IPv6) to poll; -1 if a family is unavailable. */
int ihmp_fd(const struct ihmp *ih, int i);
void ihmp_read(struct ihmp *ih, int i);
/* One datagram of len bytes from src:port to our address dst. */
void ihmp_dispatch(struct ihmp *ih, const uint8_t *buf, size_t len, const struct dime_addr *src,
		   uint16_t port, const struct dime_addr *dst);

/* Datagrams on the IHMP port that are DATA (encap.h), not IHMP. */
typedef void ihmp_data_fn(void *arg, const uint8_t *buf, size_t len, const struct dime_addr *src,
			  uint16_t port);
void ihmp_set_data_hook(struct ihmp *ih, ihmp_data_fn *fn, void *arg);

/* The tunnel dropped DATA from src:port, an address of h's NAT but not the
 * binding we know: maybe the NAT gave the peer another port. Proves it. */
void ihmp_nat_data_from(struct ihmp *ih, struct hid *h, const struct dime_addr *src, uint16_t port);

/* From the datapath (st_peer_fn): we opened a flow to a peer. */
void ihmp_peer_flow(void *ih, struct hid *h, const struct dime_addr *local,
		    const struct dime_addr *remote, bool created);
/* A local address came or went; acted on at the next ihmp_tick, after the
 * datapath has re-synced (its inbound elements must be in first). */
void ihmp_addr_event(struct ihmp *ih, const struct rtnl_addr *a, bool up);
/* Retransmissions and deferred work; returns ms until it wants to run again (-1: idle). */
int ihmp_tick(struct ihmp *ih);

/* HELLO policy (dimed.conf `hello`, `hello-allow`); the config must outlive
 * the engine or be set again after a reload. */
void ihmp_set_config(struct ihmp *ih, const struct config *cfg);

/* Keys (paper III-C): show, pin or forget a peer's, replace ours. */
void ihmp_show_keys(struct ihmp *ih, struct out *o);
/* Our key's fingerprint and the IHMP port, for `dimectl show`. */
void ihmp_show_self(struct ihmp *ih, struct out *o);
int ihmp_key_pin(struct ihmp *ih, const struct dime_addr *peer, const char *b64, char *err, size_t n);
int ihmp_key_remove(struct ihmp *ih, const struct dime_addr *peer, char *err, size_t n);
/* set_local_key (III-C): path is a secret key file or "generate"; with no
 * prefixes it replaces the host key, else it signs for those prefixes. */
#define IHMP_LOCAL_KEYS_MAX	8
int ihmp_set_local_key(struct ihmp *ih, const char *path, const struct config_prefix *pfx,
		       size_t npfx, char *err, size_t n);

void ihmp_show_stats(struct ihmp *ih, struct out *o);

/* Rendezvous (docs/ihmp.md §11). Our DNS name, told to peers in signed
 * HELLOs and ACKs (NULL or "": none); copied. */
void ihmp_set_name(struct ihmp *ih, const char *name);
/* Rendezvous lookups: fn looks name up and later calls ihmp_resolved with
 * cookie; 0 or -errno (busy, rate-limited). Without one (NULL), none. */
typedef int ihmp_resolve_fn(void *arg, const char *name, uint64_t cookie);
void ihmp_set_resolve(struct ihmp *ih, ihmp_resolve_fn *fn, void *arg);
/* A lookup that the resolve hook started ended: addrs (both families) is what
 * the name has now, a hint to prove, never a locator by itself. */
void ihmp_resolved(struct ihmp *ih, uint64_t cookie, const char *name, const struct dime_addr *addrs,
		   size_t n);
/* Behind a NAT: the public addresses peers observe us at (pub[i]), and
 * the address of ours each was seen from (inside[i], still ours), at most
 * max pairs, each public address once. For DDNS: an inside address is not
 * where anyone reaches us. */
size_t ihmp_public_addrs(struct ihmp *ih, struct dime_addr *pub, struct dime_addr *inside, size_t max);
/* The name a peer told us with its bound key, or NULL. */
const char *ihmp_peer_name(const struct hid *h);

/* Restarts (src/state.c): what dimed keeps of a peer's signalling state. */
struct ihmp_saved_peer {
	bool answered;		/* a dime peer: it answered us (HELLO it again at start) */
	bool have_counter;
	uint64_t last_counter;	/* replay floor of its messages (§7.2) */
};
void ihmp_peer_save(const struct hid *h, struct ihmp_saved_peer *s);
/* 0 or -ENOMEM. */
int ihmp_peer_restore(struct ihmp *ih, struct hid *h, const struct ihmp_saved_peer *s);
/* Our message counter: saved, and never lowered by a restore. */
uint64_t ihmp_counter(const struct ihmp *ih);
void ihmp_counter_floor(struct ihmp *ih, uint64_t c);
/* Our host public key (SIGN_PK_LEN bytes), or NULL when unsigned. */
const uint8_t *ihmp_host_pk(const struct ihmp *ih);
/* Bumped by every change a restart must keep: keys, counters, states. */
uint64_t ihmp_generation(const struct ihmp *ih);
/* After a restore: a signed HELLO to every restored dime peer, so both
 * ends confirm what they hold. Returns how many were sent. */
unsigned ihmp_reconfirm(struct ihmp *ih);

#endif
