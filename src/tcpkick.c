/* tcpkick: ICMP errors into our own stack (RFC 6069) and keepalive probes
 * to the peer (RFC 9293 3.8.4), to restart TCP senders after a handoff. */
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

/* Big-endian stores: csum_put is the 16-bit one. */
static void put32(uint8_t *p, uint32_t v)
{
	csum_put(p, (uint16_t)(v >> 16));
	csum_put(p + 2, (uint16_t)v);
}

/* An IP header from src to dst carrying plen bytes of proto. */
static size_t ip_header(uint8_t *q, const struct dime_addr *src, const struct dime_addr *dst, uint8_t proto,
			size_t plen)
{
	if (src->af == AF_INET) {
		memset(q, 0, 20);
		q[0] = 0x45;
		csum_put(q + 2, (uint16_t)(20 + plen));
		q[8] = 64;
		q[9] = proto;
		memcpy(q + 12, src->a, 4);
		memcpy(q + 16, dst->a, 4);
		csum_put(q + 10, csum_finish(csum_add(0, q, 20)));
		return 20;
	}
	memset(q, 0, 40);
	q[0] = 0x60;
	csum_put(q + 4, (uint16_t)plen);
	q[6] = proto;
	q[7] = 64;
	memcpy(q + 8, src->a, 16);
	memcpy(q + 24, dst->a, 16);
	return 40;
}

/* Our segment's header as the error quotes it: IP header and the first 8
 * octets of TCP (ports and sequence number, all tcp_v4_err/tcp_v6_err read). */
static size_t quote(uint8_t *q, const struct dime_addr *lid, uint16_t lport, const struct dime_addr *rid,
		    uint16_t rport, uint32_t seq)
{
	size_t n = ip_header(q, lid, rid, IPPROTO_TCP, 20);
	memcpy(q + n, &lport, 2);
	memcpy(q + n + 2, &rport, 2);
	put32(q + n + 4, seq);
	return n + 8;
}

size_t tcpkick_build(uint8_t *buf, size_t cap, const struct dime_addr *lid, uint16_t lport,
		     const struct dime_addr *rid, uint16_t rport, uint32_t seq)
{
	bool v4 = lid->af == AF_INET;
	size_t hl = v4 ? 20 : 40;

	if (lid->af != rid->af || cap < TCPKICK_MAX_LEN)
		return 0;
	uint8_t *icmp = buf + hl;
	memset(icmp, 0, 8);
	uint16_t ilen = (uint16_t)(8 + quote(icmp + 8, lid, lport, rid, rport, seq));
	ip_header(buf, rid, lid, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, ilen);
	if (v4) {
		icmp[0] = 3;	/* destination unreachable */
		icmp[1] = 1;	/* host unreachable: RFC 6069 reverts on it */
		csum_put(icmp + 2, csum_finish(csum_add(0, icmp, ilen)));
	} else {
		icmp[0] = 1;	/* destination unreachable */
		icmp[1] = 0;	/* no route: the code tcp_v6_err reverts on */
		uint32_t s = csum_pseudo6(rid->a, lid->a, IPPROTO_ICMPV6, ilen);
		csum_put(icmp + 2, csum_finish(csum_add(s, icmp, ilen)));
	}
	return hl + ilen;
}

size_t tcpkick_build_probe(uint8_t *buf, size_t cap, const struct dime_addr *lid, uint16_t lport,
			   const struct dime_addr *rid, uint16_t rport, uint32_t seq, uint32_t ack, uint16_t win)
{
	if (lid->af != rid->af || cap < TCPKICK_MAX_LEN)
		return 0;
	size_t hl = ip_header(buf, lid, rid, IPPROTO_TCP, 21);
	uint8_t *t = buf + hl;
	memset(t, 0, 21);	/* the octet: any value, the peer has it already */
	memcpy(t, &lport, 2);
	memcpy(t + 2, &rport, 2);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;		/* no options: no timestamp the peer could find stale */
	t[13] = 0x10;		/* ACK */
	csum_put(t + 14, win);
	uint32_t s = lid->af == AF_INET ? csum_pseudo4(lid->a, rid->a, IPPROTO_TCP, 21) :
					  csum_pseudo6(lid->a, rid->a, IPPROTO_TCP, 21);
	csum_put(t + 16, csum_finish(csum_add(s, t, 21)));
	return hl + 21;
}

static int send_to(struct tcpkick *k, const uint8_t *buf, size_t len, const struct dime_addr *to)
{
	struct sockaddr_storage ss;
	socklen_t sl = addr_sockaddr(to, 0, &ss);

	return sendto(k->fd[to->af == AF_INET6], buf, len, 0, (struct sockaddr *)&ss, sl) < 0 ? -errno : 0;
}

int tcpkick_send(struct tcpkick *k, const struct dime_addr *lid, uint16_t lport, const struct dime_addr *rid,
		 uint16_t rport, uint32_t seq, unsigned count)
{
	uint8_t buf[TCPKICK_MAX_LEN];
	size_t len = tcpkick_build(buf, sizeof(buf), lid, lport, rid, rport, seq);

	if (!len)
		return -EINVAL;
	for (unsigned i = 0; i < count; i++) {
		int r = send_to(k, buf, len, lid);
		if (r < 0)
			return r;
	}
	return 0;
}

int tcpkick_probe(struct tcpkick *k, const struct dime_addr *lid, uint16_t lport, const struct dime_addr *rid,
		  uint16_t rport, uint32_t seq, uint32_t ack, uint16_t win)
{
	uint8_t buf[TCPKICK_MAX_LEN];
	size_t len = tcpkick_build_probe(buf, sizeof(buf), lid, lport, rid, rport, seq, ack, win);

	return len ? send_to(k, buf, len, rid) : -EINVAL;
}
