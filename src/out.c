/*
 * Text mode renders the same tree as indented "key: value" lines; arrays of
 * scalars go on one line, objects in arrays start with "-".
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

static void out_raw(struct out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		while (o->len + n + 1 > cap)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->oom = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_raw(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void out_json_string(struct out *o, const char *s)
{
	out_raw(o, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			out_printf(o, "\\%c", c);
		else if (c < 0x20)
			out_printf(o, "\\u%04x", c);
		else
			out_raw(o, (const char *)&c, 1);
	}
	out_raw(o, "\"", 1);
}

/* Ends the line, dropping a dangling space after "key:". */
static void out_newline(struct out *o)
{
	if (o->len && o->buf[o->len - 1] == ' ')
		o->buf[o->len - 1] = '\n';
	else
		out_raw(o, "\n", 1);
}

static void out_indent(struct out *o, int depth)
{
	depth -= o->dedent;
	for (int i = 0; i < depth; i++)
		out_raw(o, "  ", 2);
}

/* Emits what comes before a member: separators and the key. */
static void out_key(struct out *o, const char *key, bool container)
{
	int d = o->depth;

	if (o->json) {
		if (d > 0 && !o->first[d])
			out_raw(o, ",", 1);
		if (key) {
			out_json_string(o, key);
			out_raw(o, ":", 1);
		}
	} else if (d > 0 && o->in_array[d] && !container) {
		if (!o->first[d])
			out_raw(o, " ", 1);
	} else if (key) {
		out_indent(o, d - 1);
		out_printf(o, "%s:", key);
		if (container)
			out_raw(o, "\n", 1);
		else
			out_raw(o, " ", 1);
	} else if (d > 0 && o->in_array[d] && container) {
		if (o->first[d])
			out_newline(o);
		out_indent(o, d - 1);
		out_raw(o, "-\n", 2);
	}
	if (d > 0)
		o->first[d] = false;
}

static void out_push(struct out *o, bool array)
{
	if (o->depth + 1 >= OUT_MAXDEPTH) {
		o->oom = true;
		return;
	}
	o->depth++;
	o->first[o->depth] = true;
	o->in_array[o->depth] = array;
}

void out_init(struct out *o, bool json)
{
	memset(o, 0, sizeof(*o));
	o->json = json;
}

void out_free(struct out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

void out_obj_begin(struct out *o, const char *key)
{
	out_key(o, key, true);
	if (o->json)
		out_raw(o, "{", 1);
	out_push(o, false);
}

void out_obj_begin_titled(struct out *o, const char *title)
{
	if (o->json || !(o->depth > 0 && o->in_array[o->depth]) || o->titled) {
		out_obj_begin(o, NULL);
		return;
	}
	int d = o->depth;
	if (o->first[d] && o->key_at[d] <= o->len) {
		o->len = o->key_at[d];	/* the blocks are headed enough */
		if (o->buf)
			o->buf[o->len] = '\0';
	}
	if (o->len)
		out_raw(o, "\n", 1);
	out_printf(o, "%s\n", title);
	o->first[d] = false;
	out_push(o, false);
	o->titled = o->depth;
	o->dedent = o->depth - 2;
}

void out_obj_end(struct out *o)
{
	if (o->json)
		out_raw(o, "}", 1);
	if (o->titled && o->depth == o->titled)
		o->titled = o->dedent = 0;
	if (o->depth > 0)
		o->depth--;
}

void out_arr_begin(struct out *o, const char *key)
{
	bool text_scalar_line = !o->json;
	size_t at = o->len;
	out_key(o, key, !text_scalar_line);
	if (o->depth + 1 < OUT_MAXDEPTH)
		o->key_at[o->depth + 1] = at;
	if (o->json)
		out_raw(o, "[", 1);
	out_push(o, true);
}

void out_arr_end(struct out *o)
{
	if (o->json)
		out_raw(o, "]", 1);
	else if (!o->buf || !o->len || o->buf[o->len - 1] != '\n')
		out_newline(o);
	if (o->depth > 0)
		o->depth--;
}

void out_str(struct out *o, const char *key, const char *v)
{
	out_key(o, key, false);
	if (o->json)
		out_json_string(o, v);
	else
		out_printf(o, "%s%s", v, o->in_array[o->depth] ? "" : "\n");
}

void out_u64(struct out *o, const char *key, uint64_t v)
{
	if (v == 0 && o->hide_zero && !o->json && key)
		return;
	out_key(o, key, false);
	out_printf(o, "%" PRIu64 "%s", v, !o->json && !o->in_array[o->depth] ? "\n" : "");
}

void out_bool(struct out *o, const char *key, bool v)
{
	out_key(o, key, false);
	out_printf(o, "%s%s", v ? "true" : "false", !o->json && !o->in_array[o->depth] ? "\n" : "");
}

const char *out_done(struct out *o)
{
	if (o->json)
		out_raw(o, "\n", 1);
	if (!o->buf)
		out_raw(o, "", 0);
	return o->oom ? NULL : o->buf;
}
