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

#endif
