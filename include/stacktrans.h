/* stacktrans: the translation decisions (paper III-A) — learn flows, keep the
 * nft sets in step with the socket and HID tables, rewrite queued packets. */
#ifndef DIME_STACKTRANS_H
#define DIME_STACKTRANS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "out.h"
#include "queue.h"
#include "rtnl.h"

struct nftset;

struct st_cfg {
	uint32_t max_flows;	/* socket table bound */
	uint32_t max_hids;	/* HID table bound */
	uint32_t clear_mark;	/* mark bit to clear in verdicts (xtables fallback), or 0 */
	uint16_t ihmp_port;	/* signalling traffic is never learned as a flow */
};

/* Counters: field, output key. One list for the struct and `dimectl stats`;
 * tcp_kicked: TCP senders in retransmission backoff restarted after a
 * handoff; tcp_probed: peers of senders on their persist timer asked for
 * an ACK; stragglers_not_learned: inbound packets of no known flow that
 * cannot open one (stale segments of moved flows, st_packet). */
#define ST_STATS_DATAPATH(X)						\
	X(packets, "packets")						\
	X(translated_in, "translated_in")				\
	X(translated_out, "translated_out")				\
	X(icmp_errors_translated, "icmp_errors_translated")		\
	X(passed, "passed")						\
	X(learned, "flows_learned")					\
	X(tcp_kicked, "tcp_kicked")					\
	X(tcp_probed, "tcp_probed")					\
	X(stragglers, "stragglers_not_learned")
#define ST_STATS_DROPS(X)						\
	X(malformed, "malformed")					\
	X(truncated, "truncated_copy")					\
	X(truncated_dropped, "truncated_dropped")			\
	X(xlate_errors, "xlate_errors")					\
	X(flow_table_full, "flow_table_full")				\
	X(hid_table_full, "hid_table_full")				\
	X(set_errors, "set_update_errors")

struct st_stats {
#define ST_STAT_FIELD(f, key) uint64_t f;
	ST_STATS_DATAPATH(ST_STAT_FIELD)
	ST_STATS_DROPS(ST_STAT_FIELD)
#undef ST_STAT_FIELD
};

struct stacktrans;
struct hid;
struct hid_table;

/* Called when we open a flow to a peer (created: its HID is new). */
typedef void (*st_peer_fn)(void *arg, struct hid *h, const struct dime_addr *local,
			   const struct dime_addr *remote, bool created);

/* Puts one IP packet into the local stack as if it had arrived: 0 or -errno. */
typedef int (*st_inject_fn)(void *arg, const uint8_t *pkt, size_t len);

int st_new(struct stacktrans **out, const struct st_cfg *cfg, struct rtnl *rt, struct nftset *ns);
void st_free(struct stacktrans *st);

/* The NFQUEUE callback (queue_fn). */
void st_packet(void *st, struct queue *q, struct queue_pkt *p);
/* From rtnl: addresses or routes changed; flows are re-checked at the next st_tick. */
void st_addr_event(void *st, const struct rtnl_addr *a, bool up);
/* Periodic and deferred work: re-sync after events, expiry, identifier release. */
void st_tick(struct stacktrans *st);
/* Whether st_tick has deferred work to do right away. */
bool st_pending(const struct stacktrans *st);

/* The table was loaded afresh (at start, or after someone removed it)
 * with the elements of st_nft_elements: every flow is queued there. With
 * kernel, flows whose translation is settled move to the kernel datapath
 * (nft/dimed-fast.nft's maps) at the next st_tick; st_rebuild_sets puts
 * the queue's elements back into a table loaded without them. */
void st_table_loaded(struct stacktrans *st, bool kernel);
/* Idle timeouts (seconds) for UDP flows and open TCP flows. */
void st_set_timeouts(struct stacktrans *st, uint32_t udp, uint32_t tcp_est);
/* The signalling layer hears of every flow we open to a peer; what it may
 * do to the datapath in return is in st_peer.h. */
void st_set_peer_hook(struct stacktrans *st, st_peer_fn fn, void *arg);
/* How restarts of stalled TCP senders reach the stack (st_kick_peer):
 * without one, senders resume on their own timers. */
void st_set_injector(struct stacktrans *st, st_inject_fn fn, void *arg);

/* Re-adds every set element, after the table was loaded afresh (and
 * st_table_loaded). */
void st_rebuild_sets(struct stacktrans *st);

/* Restarts (src/state.c): a counter bumped by every change worth saving;
 * a saved flow put back with its HID's new handle (0, -EEXIST, -ENOSPC,
 * -ENOENT for no such HID, -EINVAL for unusable locators); and every set
 * element as nft(8) input, so that a new table and its elements load in
 * one transaction (rules_install). */
uint64_t st_generation(const struct stacktrans *st);
struct flow;
int st_restore_flow(struct stacktrans *st, const struct flow *saved, uint32_t hid);
int st_nft_elements(struct stacktrans *st, FILE *out);

/* At start: learns flows that existed before dimed started (sock_diag),
 * and drops restored TCP flows no socket owns any more. */
int st_learn_sockets(struct stacktrans *st);

/* Manual HID-table edits (tests, debugging; IHMP does this in normal use).
 * map_peer: the peer known by `id` is now reachable at `loc` (made primary).
 * map_local: the peer known by `peer` can reach us at `local`. */
int st_map_peer(struct stacktrans *st, const struct dime_addr *id, const struct dime_addr *loc,
		char *err, size_t errlen);
int st_map_local(struct stacktrans *st, const struct dime_addr *peer, const struct dime_addr *local,
		 char *err, size_t errlen);

void st_show_summary(struct stacktrans *st, struct out *o);
void st_show_hids(struct stacktrans *st, struct out *o);
void st_show_peers(struct stacktrans *st, struct out *o);
void st_show_flows(struct stacktrans *st, struct out *o, uint32_t limit);
void st_show_stats(struct stacktrans *st, struct out *o);

#endif
