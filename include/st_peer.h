/* st_peer: what the signalling layer (IHMP) may ask of the datapath, per
 * peer (HID). Only ihmp_io.c includes it: the engine itself reaches these
 * through struct ihmp_env. */
#ifndef DIME_ST_PEER_H
#define DIME_ST_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

struct stacktrans;
struct hid;
struct hid_table;
struct rtnl;

/* The HID table and our local addresses. */
struct hid_table *st_hids(struct stacktrans *st);
struct rtnl *st_rtnl(struct stacktrans *st);
/* A HID's sets changed: re-sync its flows' translation now. */
void st_hid_changed(struct stacktrans *st, uint32_t handle);
/* The peer cannot be reached any more: abort its sockets (family af, or 0
 * for all) so applications learn at once, and forget their flows.
 * Returns the number of sockets aborted. */
unsigned st_abort_peer(struct stacktrans *st, uint32_t handle, int af);
/* Puts a first in the HID's local set: the address the peer now sends to. */
int st_local_first(struct stacktrans *st, struct hid *h, const struct dime_addr *a);
/* We handed off from `old` while it is still configured (the route to the
 * peer moved to another link): its flows translate to the local first from
 * the next st_hid_changed on, as st_local_first's change takes effect. */
void st_moved_from(struct stacktrans *st, struct hid *h, const struct dime_addr *old);
/* Folds HID `from` into `into`: one host that got a HID per address before
 * it proved who it is. Flows and addresses move over, `from` is removed
 * (its from->ihmp must be freed already); st_hid_changed(into) re-syncs the
 * flows. 0; -ENOSPC if into's address sets cannot take from's, -ENOMEM:
 * then nothing changed. */
int st_fold_hid(struct stacktrans *st, struct hid *into, struct hid *from);
/* A handoff of family af with this peer just completed and st_hid_changed
 * has put its translation in place: restart our TCP senders to it of that
 * family that wait on a timer (include/tcpkick.h). Returns how many. */
unsigned st_kick_peer(struct stacktrans *st, uint32_t handle, int af);
/* Whether a flow of this HID has a as its remote identifier (a walk of
 * the HID's own flows: for the rare eviction of an old address). */
bool st_peer_addr_in_use(struct stacktrans *st, uint32_t handle, const struct dime_addr *a);

#endif
