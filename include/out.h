/* out: one print path for text and JSON, so the two never drift apart. */
#ifndef DIME_OUT_H
#define DIME_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUT_MAXDEPTH 16

struct out {
	char *buf;
	size_t len, cap;
	bool json, oom;
	bool hide_zero;		/* text only: out_u64 of 0 and empty arrays print nothing */
	int depth;
	bool first[OUT_MAXDEPTH];
	bool in_array[OUT_MAXDEPTH];
	size_t key_at[OUT_MAXDEPTH];	/* text: where an array's "key:" line starts */
	int dedent, titled;		/* text: inside a titled block at depth titled */
};

void out_init(struct out *o, bool json);
void out_free(struct out *o);
/* key is NULL inside arrays and for the top-level object. */
void out_obj_begin(struct out *o, const char *key);
void out_obj_end(struct out *o);
/* An object in an array that text mode heads with "title" on a line of its
 * own at the left margin after a blank line, its fields indented once (a
 * `wg show` block), instead of "-"; the array's own "key:" line is left
 * out. JSON ignores the title: put what it says in fields too. */
void out_obj_begin_titled(struct out *o, const char *title);
void out_arr_begin(struct out *o, const char *key);
void out_arr_end(struct out *o);
void out_str(struct out *o, const char *key, const char *v);
void out_u64(struct out *o, const char *key, uint64_t v);
void out_bool(struct out *o, const char *key, bool v);
/* Finishes the document; returns the text (NUL-terminated) or NULL on OOM. */
const char *out_done(struct out *o);

#endif
