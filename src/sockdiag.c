#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/tcp.h>
#include <linux/sock_diag.h>

/* Large enough for any dump message: netlink caps them at 32 KiB. */
#define NL_BUFSZ 32768

#include "sockdiag.h"

/* TCP states worth translating: data may still flow. */
#define TCP_STATES ((1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | \
		    (1 << 8) | (1 << 9) | (1 << 11))	/* ESTAB..FIN_WAIT2, CLOSE_WAIT, LAST_ACK, CLOSING */
#define UDP_ESTABLISHED (1 << 1)

struct dump_ctx {
	sockdiag_fn fn;
	sockdiag_tcp_fn tfn;	/* instead of fn: stalled TCP sockets, with tcp_info */
	void *arg;
	uint8_t af, proto;
};

/* tcpi_snd_wnd (Linux 5.4): a shorter tcp_info from an older kernel lacks it. */
#define TCPI_SND_WND_END (offsetof(struct tcp_info, tcpi_snd_wnd) + 4)

static int info_attr_cb(const struct nlattr *a, void *data)
{
	struct sockdiag_tcp *t = data;
	size_t n = mnl_attr_get_payload_len(a);
	if (mnl_attr_get_type(a) == INET_DIAG_INFO && n >= offsetof(struct tcp_info, tcpi_bytes_received) + 8) {
		struct tcp_info ti = { 0 };
		const uint8_t *p = mnl_attr_get_payload(a);
		memcpy(&ti, p, n < sizeof(ti) ? n : sizeof(ti));
		t->backoff = ti.tcpi_backoff;
		t->snd_wscale = ti.tcpi_snd_wscale;
		t->bytes_acked = ti.tcpi_bytes_acked;
		t->bytes_received = ti.tcpi_bytes_received;
		if (n >= TCPI_SND_WND_END)
			t->snd_wnd = ti.tcpi_snd_wnd;
	}
	return MNL_CB_OK;
}

static bool is_v4mapped(const struct dime_addr *a)
{
	static const uint8_t pfx[12] = { [10] = 0xff, [11] = 0xff };
	return memcmp(a->a, pfx, 12) == 0;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || m->idiag_family != c->af)
		return MNL_CB_OK;
	struct sockdiag_sock s = {
		.af = c->af, .proto = c->proto,
		.lport = m->id.idiag_sport, .rport = m->id.idiag_dport,
	};
	addr_set(&s.laddr, c->af, m->id.idiag_src);
	addr_set(&s.raddr, c->af, m->id.idiag_dst);
	if (c->af == AF_INET6 && is_v4mapped(&s.laddr) && is_v4mapped(&s.raddr)) {
		/* A dual-stack socket talking IPv4: its packets are IPv4. */
		s.af = AF_INET;
		addr_set(&s.laddr, AF_INET, (const uint8_t *)m->id.idiag_src + 12);
		addr_set(&s.raddr, AF_INET, (const uint8_t *)m->id.idiag_dst + 12);
	}
	if (!s.rport)
		return MNL_CB_OK;
	if (c->tfn) {
		struct sockdiag_tcp t = { .timer = m->idiag_timer };
		mnl_attr_parse(nlh, sizeof(*m), info_attr_cb, &t);
		if ((t.timer == SOCKDIAG_TIMER_RETRANS && t.backoff) || t.timer == SOCKDIAG_TIMER_PERSIST)
			c->tfn(c->arg, &s, &t);
	} else {
		c->fn(c->arg, &s);
	}
	return MNL_CB_OK;
}

static int dump_one(struct mnl_socket *nl, struct dump_ctx *c)
{
	char buf[NL_BUFSZ];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	uint32_t seq = (uint32_t)time(NULL);

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	struct inet_diag_req_v2 *req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = c->af;
	req->sdiag_protocol = c->proto;
	req->idiag_states = c->proto == IPPROTO_TCP ? TCP_STATES : UDP_ESTABLISHED;
	if (c->tfn)
		req->idiag_ext = 1 << (INET_DIAG_INFO - 1);

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	uint32_t portid = mnl_socket_get_portid(nl);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, dump_cb, c);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

/* A bound NETLINK_SOCK_DIAG socket, or -errno. */
static int sockdiag_open(struct mnl_socket **out)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		mnl_socket_close(nl);
		return -e;
	}
	*out = nl;
	return 0;
}

/* Dumps both families for each of nprotos protocols, as c says. */
static int dump_all(struct dump_ctx c, const uint8_t *protos, int nprotos)
{
	struct mnl_socket *nl;
	int ret = sockdiag_open(&nl);

	if (ret < 0)
		return ret;
	for (int i = 0; i < 2 && !ret; i++)
		for (int j = 0; j < nprotos && !ret; j++) {
			c.af = i ? AF_INET6 : AF_INET;
			c.proto = protos[j];
			ret = dump_one(nl, &c);
		}
	mnl_socket_close(nl);
	return ret;
}

int sockdiag_dump(sockdiag_fn fn, void *arg)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	return dump_all((struct dump_ctx){ .fn = fn, .arg = arg }, protos, 2);
}

int sockdiag_destroy(const struct sockdiag_sock *s)
{
	char buf[NL_BUFSZ];
	struct mnl_socket *nl;
	int ret = sockdiag_open(&nl);

	if (ret < 0)
		return ret;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DESTROY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	struct inet_diag_req_v2 *req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = s->af;
	req->sdiag_protocol = s->proto;
	req->idiag_states = ~0u;
	req->id.idiag_sport = s->lport;
	req->id.idiag_dport = s->rport;
	memcpy(req->id.idiag_src, s->laddr.a, s->af == AF_INET ? 4 : 16);
	memcpy(req->id.idiag_dst, s->raddr.a, s->af == AF_INET ? 4 : 16);
	req->id.idiag_cookie[0] = req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		ret = -errno;
	else if (mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), NULL, NULL) < 0)
		ret = -errno;
out:
	mnl_socket_close(nl);
	return ret;
}

int sockdiag_dump_stalled(sockdiag_tcp_fn fn, void *arg)
{
	static const uint8_t tcp[] = { IPPROTO_TCP };
	return dump_all((struct dump_ctx){ .tfn = fn, .arg = arg }, tcp, 1);
}

/* One socket by its tuple (no dump), as dump_cb reports it: 0, -ENOENT. */
static int get_one(struct mnl_socket *nl, struct dump_ctx *c, const struct sockdiag_sock *s, bool mapped)
{
	char buf[NL_BUFSZ];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	uint32_t seq = (uint32_t)time(NULL);
	static const uint8_t pfx[12] = { [10] = 0xff, [11] = 0xff };

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	struct inet_diag_req_v2 *req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	c->af = mapped ? AF_INET6 : s->af;
	req->sdiag_family = c->af;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = TCP_STATES;
	req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
	req->id.idiag_sport = s->lport;
	req->id.idiag_dport = s->rport;
	if (mapped) {	/* a dual-stack socket talking IPv4 */
		memcpy(req->id.idiag_src, pfx, 12);
		memcpy((uint8_t *)req->id.idiag_src + 12, s->laddr.a, 4);
		memcpy(req->id.idiag_dst, pfx, 12);
		memcpy((uint8_t *)req->id.idiag_dst + 12, s->raddr.a, 4);
	} else {
		memcpy(req->id.idiag_src, s->laddr.a, s->af == AF_INET ? 4 : 16);
		memcpy(req->id.idiag_dst, s->raddr.a, s->af == AF_INET ? 4 : 16);
	}
	req->id.idiag_cookie[0] = req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	return mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), dump_cb, c) < 0 ? -errno : 0;
}

int sockdiag_stalled(const struct sockdiag_sock *socks, size_t n, sockdiag_tcp_fn fn, void *arg)
{
	struct mnl_socket *nl;
	int ret = sockdiag_open(&nl);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		struct dump_ctx c = { .tfn = fn, .arg = arg, .proto = IPPROTO_TCP };
		int r = get_one(nl, &c, &socks[i], false);
		if (r == -ENOENT && socks[i].af == AF_INET)
			r = get_one(nl, &c, &socks[i], true);
		if (r < 0 && r != -ENOENT && !ret)
			ret = r;
	}
	mnl_socket_close(nl);
	return ret;
}
