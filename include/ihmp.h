/* ihmp: the signalling engine (docs/ihmp.md) — who sends what, from which
 * address to which, what each side records, retransmission. */
#ifndef DIME_IHMP_H
#define DIME_IHMP_H

#include <stdbool.h>
#include <stdint.h>

#include "out.h"
#include "rtnl.h"

struct stacktrans;
struct hid;

struct config;
struct config_prefix;

struct ihmp_cfg {
	uint16_t port;		/* UDP port, both ends (default IHMP_PORT) */
	const char *state_dir;	/* host.key lives here; NULL: unsigned (tests) */
};

struct ihmp;

int ihmp_new(struct ihmp **out, const struct ihmp_cfg *cfg, struct stacktrans *st);
void ihmp_free(struct ihmp *ih);
/* The two UDP sockets (IPv4, IPv6) to poll; -1 if a family is unavailable. */
int ihmp_fd(const struct ihmp *ih, int i);
void ihmp_read(struct ihmp *ih, int i);

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
int ihmp_key_pin(struct ihmp *ih, const struct dime_addr *peer, const char *b64, char *err, size_t n);
int ihmp_key_remove(struct ihmp *ih, const struct dime_addr *peer, char *err, size_t n);
/* set_local_key (III-C): path is a secret key file or "generate"; with no
 * prefixes it replaces the host key, else it signs for those prefixes. */
#define IHMP_LOCAL_KEYS_MAX	8
int ihmp_set_local_key(struct ihmp *ih, const char *path, const struct config_prefix *pfx,
		       size_t npfx, char *err, size_t n);

void ihmp_show_stats(struct ihmp *ih, struct out *o);
/* Per-peer signalling state for `show hids`. */
const char *ihmp_peer_state(const struct hid *h);

#endif
