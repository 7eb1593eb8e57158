/* sockdiag: the host's TCP and connected UDP sockets, from NETLINK_SOCK_DIAG. */
#ifndef DIME_SOCKDIAG_H
#define DIME_SOCKDIAG_H

#include <stdint.h>

#include "addr.h"

struct sockdiag_sock {
	uint8_t af, proto;
	struct dime_addr laddr, raddr;
	uint16_t lport, rport;	/* network order */
};

typedef void (*sockdiag_fn)(void *arg, const struct sockdiag_sock *s);
/* Established-like TCP sockets and connected UDP sockets, both families. */
int sockdiag_dump(sockdiag_fn fn, void *arg);
/* Aborts the socket with this tuple (SOCK_DESTROY): its owner gets ECONNABORTED. */
int sockdiag_destroy(const struct sockdiag_sock *s);

/* What the retransmission kick needs of a TCP socket's struct tcp_info. */
struct sockdiag_tcp {
	uint8_t state, backoff;
	uint64_t bytes_acked;	/* counts our SYN: snd_una = ISN + bytes_acked */
};
typedef void (*sockdiag_tcp_fn)(void *arg, const struct sockdiag_sock *s, const struct sockdiag_tcp *t);
/* TCP sockets of both families whose retransmission timer is backed off
 * (one dump, however many sockets the host has). 0 or -errno. */
int sockdiag_dump_stalled(sockdiag_tcp_fn fn, void *arg);

#endif
