/* tcpkick: ICMP errors into our own stack, after RFC 6069. */
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "csum.h"
#include "tcpkick.h"

struct tcpkick {
	int fd[2];		/* IPPROTO_RAW: we write the IP header */
};

int tcpkick_open(struct tcpkick **out)
{
	struct tcpkick *k = calloc(1, sizeof(*k));
	uint32_t mark = TCPKICK_MARK;

	if (!k)
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		k->fd[i] = socket(i ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
		if (k->fd[i] < 0 || setsockopt(k->fd[i], SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
			int e = errno;
			tcpkick_close(k);
			return -e;
		}
	}
	*out = k;
	return 0;
}

void tcpkick_close(struct tcpkick *k)
{
	if (!k)
		return;
	for (int i = 0; i < 2; i++)
		if (k->fd[i] > 0)
			close(k->fd[i]);
	free(k);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Our segment's header as the error quotes it: IP header and the first 8
 * octets of TCP (ports and sequence number, all tcp_v4_err/tcp_v6_err read). */
static size_t quote(uint8_t *q, const struct dime_addr *lid, uint16_t lport, const struct dime_addr *rid,
		    uint16_t rport, uint32_t seq)
{
	size_t n;
	if (lid->af == AF_INET) {
		memset(q, 0, 20);
		q[0] = 0x45;
		put16(q + 2, 40);
		q[8] = 64;
		q[9] = IPPROTO_TCP;
		memcpy(q + 12, lid->a, 4);
		memcpy(q + 16, rid->a, 4);
		csum_put(q + 10, csum_finish(csum_add(0, q, 20)));
		n = 20;
	} else {
		memset(q, 0, 40);
		q[0] = 0x60;
		put16(q + 4, 20);
		q[6] = IPPROTO_TCP;
		q[7] = 64;
		memcpy(q + 8, lid->a, 16);
		memcpy(q + 24, rid->a, 16);
		n = 40;
	}
	memcpy(q + n, &lport, 2);
	memcpy(q + n + 2, &rport, 2);
	put32(q + n + 4, seq);
	return n + 8;
}

size_t tcpkick_build(uint8_t *buf, size_t cap, const struct dime_addr *lid, uint16_t lport,
		     const struct dime_addr *rid, uint16_t rport, uint32_t seq)
{
	bool v4 = lid->af == AF_INET;
	size_t hl = v4 ? 20 : 40, len;

	if (lid->af != rid->af || cap < TCPKICK_MAX_LEN)
		return 0;
	uint8_t *icmp = buf + hl;
	memset(icmp, 0, 8);
	len = hl + 8 + quote(icmp + 8, lid, lport, rid, rport, seq);
	uint16_t ilen = (uint16_t)(len - hl);
	memset(buf, 0, hl);
	if (v4) {
		buf[0] = 0x45;
		put16(buf + 2, (uint16_t)len);
		buf[8] = 64;
		buf[9] = IPPROTO_ICMP;
		memcpy(buf + 12, rid->a, 4);
		memcpy(buf + 16, lid->a, 4);
		csum_put(buf + 10, csum_finish(csum_add(0, buf, 20)));
		icmp[0] = 3;	/* destination unreachable */
		icmp[1] = 1;	/* host unreachable: RFC 6069 reverts on it */
		csum_put(icmp + 2, csum_finish(csum_add(0, icmp, ilen)));
	} else {
		buf[0] = 0x60;
		put16(buf + 4, ilen);
		buf[6] = IPPROTO_ICMPV6;
		buf[7] = 64;
		memcpy(buf + 8, rid->a, 16);
		memcpy(buf + 24, lid->a, 16);
		icmp[0] = 1;	/* destination unreachable */
		icmp[1] = 0;	/* no route: the code tcp_v6_err reverts on */
		uint32_t s = csum_pseudo6(rid->a, lid->a, IPPROTO_ICMPV6, ilen);
		csum_put(icmp + 2, csum_finish(csum_add(s, icmp, ilen)));
	}
	return len;
}

int tcpkick_send(struct tcpkick *k, const struct dime_addr *lid, uint16_t lport, const struct dime_addr *rid,
		 uint16_t rport, uint32_t seq, unsigned count)
{
	uint8_t buf[TCPKICK_MAX_LEN];
	size_t len = tcpkick_build(buf, sizeof(buf), lid, lport, rid, rport, seq);
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;

	if (!len)
		return -EINVAL;
	if (lid->af == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, lid->a, 4);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, lid->a, 16);
		sl = sizeof(*s6);
	}
	for (unsigned i = 0; i < count; i++)
		if (sendto(k->fd[lid->af == AF_INET6], buf, len, 0, (struct sockaddr *)&ss, sl) < 0)
			return -errno;
	return 0;
}
