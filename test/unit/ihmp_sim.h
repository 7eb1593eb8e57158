/*
 * ihmp_sim: hosts running the real IHMP engine on a simulated network and
 * clock, with the datapath reduced to counters. No root, no sockets: a
 * handoff with all its retransmissions runs in microseconds. For the
 * unit test of the engine and the state-machine fuzzer.
 */
#ifndef DIME_IHMP_SIM_H
#define DIME_IHMP_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "hid_table.h"
#include "ihmp.h"
#include "ihmp_wire.h"
#include "rtnl.h"

#define SIM_HOSTS	8
#define SIM_ADDRS	8
#define SIM_QUEUE	512
#define SIM_PORT	3463

struct sim;

struct sim_host {
	struct sim *sim;
	const char *name;
	struct ihmp *ih;		/* NULL: a host without dimed (drops IHMP) */
	struct hid_table *ht;
	size_t naddrs;
	struct rtnl_addr addrs[SIM_ADDRS];
	struct dime_addr route[2];	/* source toward any peer, per family (v4, v6) */
	uint32_t fake;			/* bit i: addrs[i] receives nothing */
	char keydir[64];
	/* what the engine asked of the datapath */
	unsigned hid_changed, aborted, kicked, local_first, moved_from;
	unsigned stalled;		/* senders each kick finds stalled */
	/* remote addresses of its flows, for in_use */
	size_t nflow_addrs;
	struct dime_addr flow_addrs[64];
	/* datagrams it sent to one address a test watches (a victim) */
	struct dime_addr sent_to_addr;
	unsigned sent_to;
};

struct sim_dgram {
	struct dime_addr src, dst;
	uint16_t sport, dport;
	uint16_t len;
	uint8_t buf[IHMP_MAX_MSG];
};

/* An IHMP-unaware NAT: datagrams from its inside addresses to anywhere
 * else leave from pub with a port of its choosing (the inside port kept
 * when `keep_port` and free); only answers to a binding come in. */
#define SIM_NATS	2
#define SIM_NAT_MAP	16
struct sim_nat {
	bool on, keep_port;
	struct dime_addr pub;
	size_t ninside;
	struct dime_addr inside[SIM_ADDRS];
	size_t nmap;
	struct { struct dime_addr in; uint16_t in_port, out_port; } map[SIM_NAT_MAP];
	uint16_t next_port;
};

struct sim {
	uint64_t now;			/* ms */
	struct sim_nat nat[SIM_NATS];
	size_t nhosts;
	struct sim_host host[SIM_HOSTS];
	size_t nq;
	struct sim_dgram q[SIM_QUEUE];
	/* Network: datagrams to these addresses are lost, and the next
	 * drop_next[type] datagrams of a type, and drop_ack[type] ACKs, too. */
	size_t nblack;
	struct dime_addr black[SIM_ADDRS];
	unsigned drop_next[IHMP_TYPE_MAX + 1];
	unsigned drop_ack[IHMP_TYPE_MAX + 1];	/* ACKs, by the type they answer */
	/* Seen on the wire, by type (of IHMP messages; ACKs by what they echo
	 * in acked[]), and lost. */
	unsigned sent[IHMP_TYPE_MAX + 1], acked[IHMP_TYPE_MAX + 1], lost;
	uint64_t bytes;
};

/* A host; signed: it has a host key (as dimed always does), else unsigned. */
struct sim_host *sim_host_add(struct sim *s, const char *name, bool with_dimed, bool signed_);
void sim_free(struct sim *s);

struct dime_addr sim_addr(const char *text);
/* Address up (with route: the kernel's route to peers now leaves from it)
 * or down, as rtnl reports it; the engine acts at its next tick. */
void sim_addr_up(struct sim_host *h, const char *text, bool route);
void sim_addr_down(struct sim_host *h, const char *text);
/* An address h believes it has, and advertises, but that the network
 * delivers nothing to: a lie, or a squat. */
void sim_addr_fake(struct sim_host *h, const char *text);
/* The datapath opened a flow from local to remote: files it under a HID
 * (made if new) and tells the engine. Returns the HID. */
struct hid *sim_flow(struct sim_host *h, const char *local, const char *remote);
/* The datapath saw a flow from remote to local (inbound): filed, no HELLO. */
struct hid *sim_flow_in(struct sim_host *h, const char *local, const char *remote);
/* The HID h files addr under, or NULL. */
struct hid *sim_hid(struct sim_host *h, const char *addr);

/* NAT n (0 or 1) at pub; an address behind it; forgetting its bindings
 * (a reboot, or an idle timeout). */
void sim_nat(struct sim *s, int n, const char *pub, bool keep_port);
void sim_nat_inside(struct sim *s, int n, const char *addr);
void sim_nat_flush(struct sim *s, int n);

/* dimed on h restarts: its engine goes and comes back with the same key
 * and, as the state file gives it, its HIDs and each peer's saved
 * signalling state; then it reconfirms them (ihmp_reconfirm). */
void sim_restart(struct sim_host *h);

/* Delivers datagrams and runs timers for ms of simulated time. */
void sim_run(struct sim *s, uint64_t ms);
/* A datagram from anyone, as if it arrived now at dst. */
void sim_inject(struct sim *s, const struct dime_addr *src, uint16_t sport, const struct dime_addr *dst,
		const uint8_t *buf, size_t len);

#endif
