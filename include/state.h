/* state: what a restarted dimed cannot learn again (docs/datapath.md,
 * "Restarts"): its peers (HIDs: address sets, key bindings, NAT paths,
 * replay floors) and the flows to them with their translation. One text
 * file, STATE_FILE in the state directory, replaced atomically. A file of
 * another boot (its sockets are gone), another host key, another format
 * or with a bad checksum is refused whole: dimed starts clean. */
#ifndef DIME_STATE_H
#define DIME_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_FILE	"state"
#define STATE_MAX_BYTES	(256u << 20)	/* bigger than any table we allow can write */

struct stacktrans;
struct ihmp;

/* Writes dir/STATE_FILE (via a temporary file and rename). ih may be NULL
 * (no IHMP). 0 or -errno. */
int state_save(const char *dir, struct stacktrans *st, struct ihmp *ih);

struct state_loaded {
	unsigned peers, flows;	/* restored */
	unsigned skipped;	/* records that no longer fit (tables, addresses) */
};

/* Restores dir/STATE_FILE into empty tables, all of it or nothing: 0 when
 * restored (or there is no file: *out all zero); -errno with a one-line
 * reason in why when the file is refused. */
int state_load(const char *dir, struct stacktrans *st, struct ihmp *ih, struct state_loaded *out,
	       char *why, size_t n);

/* When to write: soon after a change (a handoff must not be lost to a
 * crash a moment later), but spaced so that writing never takes more than
 * about 2% of the time, however large the file. */
#define STATE_MIN_GAP_MS	250
struct state_writer {
	uint64_t saved_gen;	/* st_generation + ihmp_generation when last written */
	uint64_t last_ms, gap_ms;
	bool failing;		/* logged once until a write succeeds */
};
/* Writes when something changed and the gap allows. Returns ms until it
 * wants to be called again, or -1 when nothing is pending. */
int state_tick(struct state_writer *w, const char *dir, struct stacktrans *st, struct ihmp *ih,
	       uint64_t now_ms);

#endif
