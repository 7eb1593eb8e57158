/* nftset: batched element updates to nftables sets over NETLINK_NETFILTER.
 *
 * The table and its sets come from a ruleset loaded with nft(8); this
 * module only adds, deletes and flushes elements, in one kernel
 * transaction per nftset_commit(). Calls queue into a bounded batch
 * buffer; nothing reaches the kernel before the commit. A transaction is
 * atomic: if any queued call fails, none of them takes effect. */
#ifndef DIME_NFTSET_H
#define DIME_NFTSET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"

/* Largest key any builder writes (NFT_DATA_VALUE_MAXLEN). */
#define NFTSET_KEY_MAX		64

/* Batch bound: queued calls never make the batch larger than this (or
 * than the socket send buffer allows), nor more than NFTSET_MSG_MAX
 * netlink messages (fewer if the receive buffer cannot hold their acks).
 * Runs of adds (or deletes) to the same set share messages, so 10,000
 * flow keys are about ten messages and 0.5 MiB. */
#define NFTSET_BATCH_MAX	(2u << 20)
#define NFTSET_MSG_MAX		1024

/* nftset_open flags. */
enum {
	/* Deleting an absent element is not an error. Uses
	 * NFT_MSG_DESTROYSETELEM, Linux >= 6.3, so that it does not abort
	 * the rest of the transaction either. */
	NFTSET_F_DEL_NOENT_OK = 1 << 0,
};

struct nftset;

/* Opens a netlink socket for the table (e.g. "dimed") in family
 * (NFPROTO_INET, NFPROTO_IPV4, ...). 0 or -errno. */
int nftset_open(struct nftset **out, const char *table, int family, unsigned flags);
void nftset_close(struct nftset *s);

/* Key builders. Each concatenated component is padded with zeros to a
 * multiple of 4 bytes, as nft does for concatenations:
 *   v4: saddr(4) daddr(4) proto(1)+3 sport(2)+2 dport(2)+2 = 20 bytes
 *   v6: saddr(16) daddr(16) proto(1)+3 sport(2)+2 dport(2)+2 = 44 bytes
 * for "ipX_addr . ipX_addr . inet_proto . inet_service . inet_service".
 * Ports are in network byte order. buf holds NFTSET_KEY_MAX bytes.
 * Return the key length, or 0 if the addresses are not of one family. */
size_t nftset_key_flow(uint8_t *buf, const struct dime_addr *saddr,
		       const struct dime_addr *daddr, uint8_t proto,
		       uint16_t sport_be, uint16_t dport_be);
/* "ipv4_addr" (4 bytes) or "ipv6_addr" (16 bytes); 0 if a has no family. */
size_t nftset_key_addr(uint8_t *buf, const struct dime_addr *a);

/* Queue one call. 0, -EINVAL (bad key length), -ENAMETOOLONG (set name),
 * or -ENOSPC when the batch is full: commit, then repeat the call. A key
 * whose length does not match the set is refused by the kernel, at commit. */
int nftset_add(struct nftset *s, const char *set, const void *key, size_t keylen);
int nftset_del(struct nftset *s, const char *set, const void *key, size_t keylen);
/* A map element: key -> data (for "ipv4_addr" data, the address's 4
 * bytes). Adding a key that is there with other data fails the whole
 * commit (-EBUSY): to change an element, delete it first in the same
 * batch. nftset_del deletes map elements too. */
int nftset_add_map(struct nftset *s, const char *map, const void *key, size_t keylen,
		   const void *data, size_t datalen);
/* Removes every element of the set. */
int nftset_flush(struct nftset *s, const char *set);

/* Sends the batch with one sendmsg and reads every ack. 0 (also for an
 * empty batch) or the first error as -errno; the batch is empty after
 * either. -ENOBUFS and -ETIMEDOUT mean the outcome is unknown. */
int nftset_commit(struct nftset *s);
/* Drops the queued calls without sending them. */
void nftset_discard(struct nftset *s);

/* After a failed commit: the index of the failing call, counting queued
 * calls since the previous commit from 0 (for an error about the set
 * itself, the first call of that run on it), or -1 if the kernel did not say;
 * and a message naming the operation, the set and the error. */
ssize_t nftset_err_index(const struct nftset *s);
const char *nftset_errmsg(const struct nftset *s);

#endif
