/* nftwatch: notices when someone removes dimed's table (e.g. `nft flush ruleset`
 * from nftables.service) so the daemon can put it back. */
#ifndef DIME_NFTWATCH_H
#define DIME_NFTWATCH_H

#include <stdbool.h>

struct nftwatch;
int nftwatch_open(struct nftwatch **out);
void nftwatch_close(struct nftwatch *w);
int nftwatch_fd(const struct nftwatch *w);
/* Reads pending events; true if our table, or an xtables table holding our
 * fallback rules, was deleted. */
bool nftwatch_read(struct nftwatch *w);
/* Forgets pending events (our own reinstall makes some). */
void nftwatch_drain(struct nftwatch *w);

#endif
