/* wbuf: a bounded writer for the wire codecs (ihmp_wire.c, dns.c): every
 * put stops at cap and leaves -ENOSPC in err, so an encoder writes its
 * whole message and checks once at the end. Big-endian, as networks are. */
#ifndef DIME_WBUF_H
#define DIME_WBUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static inline void put(struct wbuf *w, const void *src, size_t n)
{
	if (w->err)
		return;
	if (w->cap - w->len < n) {
		w->err = -ENOSPC;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static inline void put8(struct wbuf *w, uint8_t v)
{
	put(w, &v, 1);
}

static inline void put16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(w, b, 2);
}

static inline void put32(struct wbuf *w, uint32_t v)
{
	put16(w, (uint16_t)(v >> 16));
	put16(w, (uint16_t)v);
}

#endif
