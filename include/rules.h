/* rules: install and remove dimed's nftables table (and the xtables queue fallback). */
#ifndef DIME_RULES_H
#define DIME_RULES_H

#include <stdint.h>

enum rules_mode {
	RULES_NONE,	/* --no-rules: the administrator loads them */
	RULES_NATIVE,	/* nft `queue` statement */
	RULES_XT,	/* nft marks, an xtables NFQUEUE rule queues (kernels without nft queue) */
};

struct rules_cfg {
	uint16_t queue_num;
	uint32_t mark;		/* the mark bit the xtables fallback classifies with */
};

/* Loads the table, with elements (nft(8) input, or NULL) in the same
 * transaction, replacing what an earlier run left; picks native or xt. */
int rules_install(const struct rules_cfg *cfg, const char *elements, enum rules_mode *mode);
void rules_remove(const struct rules_cfg *cfg, enum rules_mode mode);
const char *rules_mode_name(enum rules_mode mode);

#endif
