/* tunnel: see include/tunnel.h. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "encap.h"
#include "events.h"
#include "flow_table.h"
#include "hid_table.h"
#include "log.h"
#include "rtnl.h"
#include "st_peer.h"
#include "st_tunnel.h"
#include "tun.h"
#include "tunnel.h"

#define TUNNEL_BUF	65536
#define TUNNEL_BATCH	64	/* packets per wakeup, so other sources get their turn */

struct tunnel {
	struct tunnel_cfg cfg;
	struct tun *tun;
	struct stacktrans *st;
	struct rtnl *rt;
	int fd[2];
	struct tunnel_stats stats;
	struct log_limit lim;
	tunnel_rebind_fn *rebind;
	void *rebind_arg;
	bool gso;		/* UDP segmentation offload works here */
	struct encap_gro gro;	/* segments received, joined before the stack sees them */
	uint8_t grobuf[65535];
	uint8_t buf[TUNNEL_BUF];
	/* A super-packet's DATA datagrams: its payload plus, per segment, the
	 * DATA, IP and TCP headers (at most 128 octets; enough for segments
	 * of 64 payload octets and up, below Linux's smallest MSS). */
	uint8_t out[3 * TUNNEL_BUF];
};

int tunnel_new(struct tunnel **out, const struct tunnel_cfg *cfg, struct stacktrans *st, struct rtnl *rt)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->st = st;
	t->rt = rt;
	t->fd[0] = t->fd[1] = -1;
	t->gso = true;
	t->gro.buf = t->grobuf;
	t->gro.cap = sizeof(t->grobuf);
	/* DATA never needs IP fragmentation: the device's MTU leaves room for
	 * the outer IPv6 and UDP headers and ours on paths down to 1456
	 * octets (PPPoE, most tunnels); the kernel tells a flow routed into
	 * it its smaller MTU itself (ICMP "fragmentation needed" / "packet
	 * too big" to the socket). */
	if ((r = tun_open(&t->tun, cfg->ifname ? cfg->ifname : TUN_DEFAULT_NAME, TUNNEL_MTU)) < 0) {
		free(t);
		return r;
	}
	/* What it delivers comes from peers routed elsewhere: the ruleset
	 * marks it, and the reverse-path check follows the mark back in. */
	if ((r = rtnl_tunnel_conf(rt, tun_ifindex(t->tun))) < 0 ||
	    (r = rtnl_tunnel(rt, tun_ifindex(t->tun), ENCAP_MARK, ENCAP_TABLE, true)) < 0) {
		tunnel_free(t);
		return r;
	}
	*out = t;
	return 0;
}

void tunnel_free(struct tunnel *t)
{
	if (!t)
		return;
	rtnl_tunnel(t->rt, tun_ifindex(t->tun), ENCAP_MARK, ENCAP_TABLE, false);
	tun_close(t->tun);
	free(t);
}

int tunnel_fd(const struct tunnel *t)
{
	return tun_fd(t->tun);
}

int tunnel_inject(void *arg, const uint8_t *pkt, size_t len)
{
	struct tunnel *t = arg;
	return tun_inject(t->tun, pkt, len, NULL);
}

void tunnel_set_sockets(struct tunnel *t, int fd4, int fd6)
{
	t->fd[0] = fd4;
	t->fd[1] = fd6;
}

/* Where DATA for h goes: its proven endpoint, else its primary address at
 * the IHMP port (a peer that is not behind a NAT). */
static bool peer_endpoint(const struct tunnel *t, const struct hid *h, int af, struct dime_addr *a,
			  uint16_t *port)
{
	const struct hid_nat *n = hid_nat_c(h, af);
	if (n->have_ep) {
		*a = n->ep;
		*port = n->ep_port;
		return true;
	}
	const struct dime_addr *p = hid_primary(h, af);
	if (!p)
		p = hid_primary(h, AF_UNSPEC);
	if (!p)
		return false;
	*a = *p;
	*port = t->cfg.port;
	return true;
}

/* Whether DATA from src:port may speak for h: only from where IHMP proved
 * the peer is (docs/ihmp.md §8, E2). */
static bool endpoint_ok(const struct tunnel *t, const struct hid *h, const struct dime_addr *src,
			uint16_t port)
{
	const struct hid_nat *n = hid_nat_c(h, src->af);
	if (hid_where(h, src) != HID_ACTIVE)
		return false;
	if (n->have_ep && addr_eq(&n->ep, src))
		return port == n->ep_port;
	return port == t->cfg.port;
}

/* Sends n datagrams of dgram octets (the last may be shorter) from out to
 * the peer: with UDP segmentation offload, one call for up to 64 of them
 * (and 64 KiB), else one call each. Returns how many left. */
static size_t send_dgrams(struct tunnel *t, int fd, const struct sockaddr_storage *to, socklen_t tolen,
			  const uint8_t *out, size_t total, size_t dgram)
{
	size_t sent = 0, off = 0;
	/* What one UDP GSO send may carry: 64 segments, an IP datagram's size. */
	size_t per = dgram ? (60000 / dgram < 64 ? 60000 / dgram : 64) : 1;

	while (off < total) {
		size_t len = total - off, k = 1;
		if (t->gso && per > 1 && len > dgram) {
			k = (len + dgram - 1) / dgram;
			if (k > per)
				k = per;
			if (k * dgram < len)
				len = k * dgram;
		} else if (len > dgram) {
			len = dgram;
		}
		struct iovec iov = { .iov_base = (void *)(uintptr_t)(out + off), .iov_len = len };
		union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } cb;
		struct msghdr mh = { .msg_name = (void *)(uintptr_t)to, .msg_namelen = tolen,
				     .msg_iov = &iov, .msg_iovlen = 1 };
		if (k > 1) {
			uint16_t seg = (uint16_t)dgram;
			memset(&cb, 0, sizeof(cb));
			mh.msg_control = cb.buf;
			mh.msg_controllen = sizeof(cb.buf);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(seg));
			memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
		}
		if (sendmsg(fd, &mh, MSG_DONTWAIT) < 0) {
			if (k > 1 && (errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
				t->gso = false;		/* a kernel without UDP GSO: one by one */
				continue;
			}
			if (errno == EMSGSIZE)
				t->stats.too_big += k;
			else
				t->stats.errors += k;
		} else {
			sent += k;
		}
		off += len;
	}
	return sent;
}

static void send_one(struct tunnel *t, size_t len, const struct encap_offload *o)
{
	uint8_t *pkt = t->buf;
	struct pkt_info pi;
	struct dime_addr src, dst, ep;
	struct flow_key k;
	uint16_t port;
	size_t dgram;

	if (pkt_parse(&pi, pkt, len) < 0 || pi.l4_trunc || !pi.ip.has_ports) {
		t->stats.malformed++;
		return;
	}
	pkt_addrs(pkt, &pi.ip, &src, &dst);
	flow_key_init(&k, pi.ip.family, pi.ip.proto, src.a, pi.ip.sport, dst.a, pi.ip.dport);
	struct flow *f = flow_table_lookup(st_flows(t->st), &k);
	struct hid *h = f ? hid_table_get(st_hids(t->st), f->hid) : NULL;
	if (!h || !st_flow_in_tunnel(f)) {
		t->stats.unknown_flow++;
		return;
	}
	if (!peer_endpoint(t, h, f->key.af, &ep, &port) || t->fd[ep.af == AF_INET6] < 0) {
		t->stats.errors++;
		return;
	}
	int total = encap_build(t->out, sizeof(t->out), st_flow_tag(f), o, pkt, len, &dgram);
	if (total < 0) {
		t->stats.malformed++;
		return;
	}
	struct sockaddr_storage to;
	socklen_t tolen = addr_sockaddr(&ep, port, &to);
	t->stats.out += send_dgrams(t, t->fd[ep.af == AF_INET6], &to, tolen, t->out, (size_t)total, dgram);
	h->bytes_out += len;
	if (h->ho[ep.af == AF_INET6].pending)	/* the first data to the peer's new endpoint ends a handoff */
		ev_handoff_seen(h, &ep, &ep);
	st_flow_seen(t->st, f, pkt, &pi, true);
}

void tunnel_read(struct tunnel *t)
{
	for (int i = 0; i < TUNNEL_BATCH; i++) {
		struct encap_offload o;
		ssize_t n = tun_read(t->tun, t->buf, sizeof(t->buf), &o);
		if (n == -EPROTONOSUPPORT) {	/* a super-packet of a kind we did not offer */
			t->stats.malformed++;
			continue;
		}
		if (n <= 0)
			return;
		send_one(t, (size_t)n, &o);
	}
}

/* The one flow of h that tag and the inner packet name, or NULL when there
 * is none or more than one (two flows whose first packets were alike). */
static struct flow *flow_by_tag(struct tunnel *t, const struct hid *h, uint32_t tag, const struct pkt_info *pi)
{
	struct flow_table *ft = st_flows(t->st);
	struct flow *found = NULL;

	for (struct flow *f = flow_table_hid_first(ft, h->handle); f; f = flow_table_hid_next(ft, f)) {
		if (f->key.proto != pi->ip.proto || f->key.af != pi->ip.family || st_flow_tag(f) != tag)
			continue;
		if (found)
			return NULL;
		found = f;
	}
	return found;
}

/* The super-packet being gathered goes into the stack. */
static void gro_flush(struct tunnel *t)
{
	struct encap_offload o;

	if (!t->gro.len)
		return;
	size_t n = encap_gro_finish(&t->gro, &o);
	if (tun_inject(t->tun, t->gro.buf, n, &o) < 0)
		t->stats.errors += t->gro.nseg;
	else
		t->stats.in += t->gro.nseg;
	t->gro.len = 0;
}

void tunnel_input(void *arg, const uint8_t *buf, size_t len, const struct dime_addr *src, uint16_t port)
{
	struct tunnel *t = arg;
	struct pkt_info pi;
	uint32_t tag;

	if (!len) {	/* the end of a train of datagrams */
		gro_flush(t);
		return;
	}
	if (encap_hdr_get(buf, len, &tag) < 0) {
		t->stats.malformed++;
		return;
	}
	struct hid *h = hid_table_lookup(st_hids(t->st), src);
	if (!h || !endpoint_ok(t, h, src, port)) {
		t->stats.bad_source++;
		if (h && t->rebind)
			t->rebind(t->rebind_arg, h, src, port);
		char b[ADDR_STRLEN];
		if (log_allow(&t->lim, (unsigned long)time(NULL), 5))
			log_info("tunnel: DATA from %s port %u, not a proven peer endpoint: dropped",
				 addr_fmt(src, b), port);
		return;
	}
	size_t n = len - ENCAP_HDR_LEN;
	if (n > sizeof(t->buf)) {
		t->stats.malformed++;
		return;
	}
	uint8_t *pkt = t->buf;
	memcpy(pkt, buf + ENCAP_HDR_LEN, n);
	if (pkt_parse(&pi, pkt, n) < 0 || pi.len != n) {
		t->stats.malformed++;
		return;
	}
	struct flow *f = flow_by_tag(t, h, tag, &pi);
	if (!f) {
		t->stats.unknown_flow++;
		return;
	}
	struct dime_addr lid, rid;
	flow_lid(f, &lid);
	flow_rid(f, &rid);
	if (encap_rewrite(pkt, n, &pi, &rid, f->key.rport, &lid, f->key.lport) < 0) {
		t->stats.malformed++;
		return;
	}
	st_flow_seen(t->st, f, pkt, &pi, false);
	h->bytes_in += n;
	if (h->ho[src->af == AF_INET6].pending)
		ev_handoff_seen(h, src, src);
	/* Join the super-packet being gathered, or start one, or go alone. */
	if (encap_gro_append(&t->gro, pkt, n, &pi))
		return;
	gro_flush(t);
	if (encap_gro_start(&t->gro, pkt, n, &pi))
		return;
	if (tun_inject(t->tun, pkt, n, NULL) < 0)
		t->stats.errors++;
	else
		t->stats.in++;
}

void tunnel_set_rebind_hook(struct tunnel *t, tunnel_rebind_fn *fn, void *arg)
{
	t->rebind = fn;
	t->rebind_arg = arg;
}

void tunnel_show_stats(const struct tunnel *t, struct out *o)
{
#define TUNNEL_STAT_OUT(f, key) out_u64(o, key, t->stats.f);
	TUNNEL_STATS(TUNNEL_STAT_OUT)
#undef TUNNEL_STAT_OUT
}
