/* Open addressing with linear probing; deletion shifts the run back, so
 * there are no tombstones and a lookup stops at the first empty slot. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addrcount.h"

#define AC_MIN_SLOTS	64

struct ac_slot {
	struct dime_addr a;	/* af == 0: empty */
	uint32_t count;
};

struct addrcount {
	struct ac_slot *slot;
	size_t cap;		/* a power of two */
	size_t used;
	uint32_t seed;
};

static size_t ac_home(const struct addrcount *ac, const struct dime_addr *a)
{
	return addr_hash(a, ac->seed) & (ac->cap - 1);
}

/* The slot holding a, or the empty one where it would go. */
static struct ac_slot *ac_find(const struct addrcount *ac, const struct dime_addr *a)
{
	size_t i = ac_home(ac, a);

	while (ac->slot[i].a.af && !addr_eq(&ac->slot[i].a, a))
		i = (i + 1) & (ac->cap - 1);
	return &ac->slot[i];
}

static int ac_resize(struct addrcount *ac, size_t cap)
{
	struct ac_slot *old = ac->slot;
	size_t ocap = ac->cap;
	struct ac_slot *s = calloc(cap, sizeof(*s));

	if (!s)
		return -ENOMEM;
	ac->slot = s;
	ac->cap = cap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].a.af)
			*ac_find(ac, &old[i].a) = old[i];
	free(old);
	return 0;
}

int addrcount_new(struct addrcount **out, uint32_t hash_seed)
{
	struct addrcount *ac = calloc(1, sizeof(*ac));

	if (!ac)
		return -ENOMEM;
	ac->seed = hash_seed;
	if (ac_resize(ac, AC_MIN_SLOTS) < 0) {
		free(ac);
		return -ENOMEM;
	}
	*out = ac;
	return 0;
}

void addrcount_free(struct addrcount *ac)
{
	if (!ac)
		return;
	free(ac->slot);
	free(ac);
}

int addrcount_inc(struct addrcount *ac, const struct dime_addr *a)
{
	if (a->af != AF_INET && a->af != AF_INET6)
		return -EINVAL;
	struct ac_slot *s = ac_find(ac, a);
	if (s->a.af) {
		s->count++;
		return 0;
	}
	/* At most half full: probes stay short. */
	if ((ac->used + 1) * 2 > ac->cap) {
		if (ac_resize(ac, ac->cap * 2) < 0)
			return -ENOMEM;
		s = ac_find(ac, a);
	}
	s->a = *a;
	s->count = 1;
	ac->used++;
	return 1;
}

int addrcount_dec(struct addrcount *ac, const struct dime_addr *a)
{
	struct ac_slot *s = ac_find(ac, a);

	if (!s->a.af)
		return -ENOENT;
	if (--s->count)
		return 0;
	/* Empty the slot, then move back each later entry of the run that
	 * may not sit past the hole (its home is not in (hole, here]). */
	size_t hole = (size_t)(s - ac->slot), mask = ac->cap - 1;
	ac->slot[hole].a.af = 0;
	for (size_t i = (hole + 1) & mask; ac->slot[i].a.af; i = (i + 1) & mask) {
		size_t home = ac_home(ac, &ac->slot[i].a);
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			ac->slot[hole] = ac->slot[i];
			ac->slot[i].a.af = 0;
			hole = i;
		}
	}
	ac->used--;
	if (ac->cap > AC_MIN_SLOTS && ac->used * 8 < ac->cap)
		ac_resize(ac, ac->cap / 2);	/* failing to shrink is harmless */
	return 1;
}

uint32_t addrcount_get(const struct addrcount *ac, const struct dime_addr *a)
{
	const struct ac_slot *s = ac_find(ac, a);
	return s->a.af ? s->count : 0;
}

size_t addrcount_size(const struct addrcount *ac)
{
	return ac->used;
}

size_t addrcount_memory(const struct addrcount *ac)
{
	return sizeof(*ac) + ac->cap * sizeof(struct ac_slot);
}

const struct dime_addr *addrcount_next(const struct addrcount *ac, size_t *cursor)
{
	while (*cursor < ac->cap) {
		const struct ac_slot *s = &ac->slot[(*cursor)++];
		if (s->a.af)
			return &s->a;
	}
	return NULL;
}
