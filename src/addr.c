#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

bool addr_eq(const struct dime_addr *x, const struct dime_addr *y)
{
	return x->af == y->af && memcmp(x->a, y->a, addr_len(x)) == 0;
}

/* FNV-1a is enough: the seed is random per process, keys are not secret. */
uint32_t addr_hash(const struct dime_addr *x, uint32_t seed)
{
	uint32_t h = 2166136261u ^ seed;
	size_t n = addr_len(x);

	for (size_t i = 0; i < n; i++)
		h = (h ^ x->a[i]) * 16777619u;
	return h ^ x->af;
}

void addr_set(struct dime_addr *x, int af, const void *bytes)
{
	memset(x, 0, sizeof(*x));
	x->af = (uint8_t)af;
	memcpy(x->a, bytes, af == AF_INET ? 4 : 16);
}

int addr_parse(struct dime_addr *x, const char *s)
{
	memset(x, 0, sizeof(*x));
	if (inet_pton(AF_INET, s, x->a) == 1) {
		x->af = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, x->a) == 1) {
		x->af = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int addr_parse_prefix(struct dime_addr *x, unsigned *plen, const char *s)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (addr_parse(x, buf) < 0)
		return -EINVAL;
	unsigned max = x->af == AF_INET ? 32 : 128;
	if (!slash) {
		*plen = max;
		return 0;
	}
	char *end;
	unsigned long v = strtoul(slash + 1, &end, 10);
	if (slash[1] == '\0' || *end != '\0' || v > max)
		return -EINVAL;
	*plen = (unsigned)v;
	return 0;
}

const char *addr_fmt(const struct dime_addr *x, char *buf)
{
	if (!x->af || !inet_ntop(x->af, x->a, buf, ADDR_STRLEN))
		strcpy(buf, "-");
	return buf;
}

bool addr_in_prefix(const struct dime_addr *x, const struct dime_addr *pfx, unsigned plen)
{
	if (x->af != pfx->af || plen > addr_len(x) * 8)
		return false;
	unsigned full = plen / 8, rest = plen % 8;
	if (memcmp(x->a, pfx->a, full) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (x->a[full] & mask) == (pfx->a[full] & mask);
}

bool addr_is_linklocal(const struct dime_addr *x)
{
	if (x->af == AF_INET)
		return x->a[0] == 169 && x->a[1] == 254;
	return x->a[0] == 0xfe && (x->a[1] & 0xc0) == 0x80;
}

socklen_t addr_sockaddr(const struct dime_addr *x, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (x->af == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, x->a, 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	memcpy(&s6->sin6_addr, x->a, 16);
	return sizeof(*s6);
}

int addr_from_sockaddr(const struct sockaddr_storage *ss, struct dime_addr *x, uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		addr_set(x, AF_INET, &s4->sin_addr);
		*port = ntohs(s4->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		addr_set(x, AF_INET6, &s6->sin6_addr);
		*port = ntohs(s6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

bool addr_is_loopback(const struct dime_addr *x)
{
	static const uint8_t v6lo[16] = { [15] = 1 };
	if (x->af == AF_INET)
		return x->a[0] == 127;
	return memcmp(x->a, v6lo, 16) == 0;
}

bool addr_is_private(const struct dime_addr *x, unsigned *plen)
{
	if (x->af == AF_INET) {
		if (x->a[0] == 10) { *plen = 8; return true; }
		if (x->a[0] == 172 && (x->a[1] & 0xf0) == 16) { *plen = 12; return true; }
		if (x->a[0] == 192 && x->a[1] == 168) { *plen = 16; return true; }
		return false;
	}
	if ((x->a[0] & 0xfe) == 0xfc) { *plen = 7; return true; }
	return false;
}

bool addr_is_unicast(const struct dime_addr *x)
{
	static const uint8_t zero[16];

	if (addr_is_linklocal(x) || addr_is_loopback(x) || !memcmp(x->a, zero, 16))
		return false;
	if (x->af == AF_INET)
		return x->a[0] != 0 && x->a[0] < 224;	/* not 0/8, multicast, 240/4, broadcast */
	return x->a[0] != 0xff;				/* not multicast */
}
