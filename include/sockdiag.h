/* sockdiag: the host's TCP and connected UDP sockets, from NETLINK_SOCK_DIAG. */
#ifndef DIME_SOCKDIAG_H
#define DIME_SOCKDIAG_H

#include <stddef.h>
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

/* What the restart after a handoff needs of a TCP socket (struct tcp_info
 * and the diag message). */
struct sockdiag_tcp {
	uint8_t backoff;
	uint8_t timer;		/* SOCKDIAG_TIMER_*: which timer is pending */
	uint8_t snd_wscale;	/* the peer's window scale */
	uint32_t snd_wnd;	/* bytes: the peer's last window; 0 if the kernel does not say */
	uint64_t bytes_acked;	/* counts our SYN: snd_una = ISN + bytes_acked */
	uint64_t bytes_received;	/* not the peer's SYN: rcv_nxt = IRS + 1 + this */
};
#define SOCKDIAG_TIMER_RETRANS	1	/* retransmission (or loss probe) */
#define SOCKDIAG_TIMER_PERSIST	4	/* zero-window probe: nothing in flight */
typedef void (*sockdiag_tcp_fn)(void *arg, const struct sockdiag_sock *s, const struct sockdiag_tcp *t);
/* TCP sockets of both families that wait on a timer to send again: the
 * retransmission timer backed off, or the persist timer (one dump, however
 * many sockets the host has). 0 or -errno. */
int sockdiag_dump_stalled(sockdiag_tcp_fn fn, void *arg);
/* The same for n sockets named by their tuples: one exact lookup each
 * (cheaper than a dump for a few; an IPv4 tuple is also looked for as a
 * dual-stack socket's). 0 or -errno; sockets that are gone are skipped. */
int sockdiag_stalled(const struct sockdiag_sock *socks, size_t n, sockdiag_tcp_fn fn, void *arg);

#endif
