/* rules: install and remove dimed's nftables table (and the xtables queue fallback). */
#ifndef DIME_RULES_H
#define DIME_RULES_H

#include <stdbool.h>
#include <stdint.h>

enum rules_mode {
	RULES_NONE,	/* --no-rules: the administrator loads them */
	RULES_NATIVE,	/* nft `queue` statement */
	RULES_XT,	/* nft marks, an xtables NFQUEUE rule queues (kernels without nft queue) */
};

/* meta mark bit nft/dimed.nft sets on an inbound packet it queues for
 * translation; dimed clears it in its verdict. Still set after the queue
 * (dimed gone, or its queue full: fail-open), it means "not translated":
 * inbound_guard drops the packet, with one mark test for every packet. */
#define RULES_GUARD_MARK	0x40000000u

struct rules_cfg {
	uint16_t queue_num;
	uint32_t mark;		/* the mark bit the xtables fallback classifies with */
};

/* Loads the table, with elements (nft(8) input, or NULL) in the same
 * transaction, replacing what an earlier run left; picks native or xt.
 * *fast: in, whether to load the kernel datapath too (nft/dimed-fast.nft);
 * out, whether it loaded (false, with a warning, if this kernel cannot). */
int rules_install(const struct rules_cfg *cfg, const char *elements, enum rules_mode *mode, bool *fast);
void rules_remove(const struct rules_cfg *cfg, enum rules_mode mode);
const char *rules_mode_name(enum rules_mode mode);

#endif
