/* addrcount: a multiset of addresses (how many times each is referenced).
 *
 * stacktrans counts, per address, the flows whose set or map elements name
 * it as their peer's identifier or locator; an address is in nft's
 * peers4/peers6 exactly while its count is above zero. Memory grows with
 * the distinct addresses (at most two per flow, so the socket table bounds
 * it) and shrinks back when they go. */
#ifndef DIME_ADDRCOUNT_H
#define DIME_ADDRCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct addrcount;

int addrcount_new(struct addrcount **out, uint32_t hash_seed);
void addrcount_free(struct addrcount *ac);
/* One more reference: 1 if a is new (its count went from 0 to 1), 0 if it
 * was there, -EINVAL for an address without a family, -ENOMEM. */
int addrcount_inc(struct addrcount *ac, const struct dime_addr *a);
/* One reference less: 1 if that was the last, 0 if not, -ENOENT if a has
 * none (the caller's bookkeeping is wrong: nothing changes). */
int addrcount_dec(struct addrcount *ac, const struct dime_addr *a);
uint32_t addrcount_get(const struct addrcount *ac, const struct dime_addr *a);
size_t addrcount_size(const struct addrcount *ac);	/* distinct addresses */
size_t addrcount_memory(const struct addrcount *ac);	/* bytes */
/* Every address, in no particular order: *cursor starts at 0; NULL at the end. */
const struct dime_addr *addrcount_next(const struct addrcount *ac, size_t *cursor);

#endif
