/*
 * rtnetlink: one socket subscribed to address and route events, one for
 * requests (route lookups, identifier addresses) so replies never mix with
 * events.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/rtnetlink.h>

/* Large enough for any dump message: netlink caps them at 32 KiB. */
#define NL_BUFSZ 32768

#include "log.h"
#include "rtnl.h"

/* libmnl's mnl_attr_for_each casts away const inside the macro. */
#pragma GCC diagnostic ignored "-Wcast-qual"

struct rtnl {
	struct mnl_socket *ev, *req;
	uint32_t seq;
	rtnl_fn fn;
	void *arg;
	int lo_ifindex;
	size_t naddrs;
	struct rtnl_addr addrs[RTNL_MAX_ADDRS];
	size_t nheld;
	struct dime_addr held[RTNL_MAX_ADDRS];
	char state_path[256];
	/* Every address configured here, any link or scope: an identifier is
	 * alive while it is one of these and not one we hold ourselves. */
	size_t nall;
	struct dime_addr all[RTNL_MAX_ALL];
	/* Links known to be down (no carrier or admin down): their addresses
	 * are not usable even though the kernel keeps them configured. */
	size_t ndown;
	int down[RTNL_MAX_ADDRS];
};

static bool link_is_down(const struct rtnl *r, int ifindex)
{
	for (size_t i = 0; i < r->ndown; i++)
		if (r->down[i] == ifindex)
			return true;
	return false;
}

static void rtnl_save_held(const struct rtnl *r)
{
	char tmp[272], b[ADDR_STRLEN];

	if (!r->state_path[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", r->state_path);
	FILE *f = fopen(tmp, "we");
	if (!f) {
		log_warn("cannot write %s", tmp);
		return;
	}
	for (size_t i = 0; i < r->nheld; i++)
		fprintf(f, "%s\n", addr_fmt(&r->held[i], b));
	if (fclose(f) != 0 || rename(tmp, r->state_path) < 0)
		log_warn("cannot write %s", r->state_path);
}

void rtnl_set_state_file(struct rtnl *r, const char *path)
{
	char line[128];
	FILE *f;

	snprintf(r->state_path, sizeof(r->state_path), "%s", path);
	if (!(f = fopen(path, "re")))
		return;
	while (fgets(line, sizeof(line), f) && r->nheld < RTNL_MAX_ADDRS) {
		struct dime_addr a;
		line[strcspn(line, "\n")] = '\0';
		if (addr_parse(&a, line) == 0 && !rtnl_is_local(r, &a)) {
			char b[ADDR_STRLEN];
			log_info("adopting identifier %s left on lo by an earlier run", addr_fmt(&a, b));
			r->held[r->nheld++] = a;
		}
	}
	fclose(f);
}

static bool rtnl_is_held(const struct rtnl *r, const struct dime_addr *a)
{
	for (size_t i = 0; i < r->nheld; i++)
		if (addr_eq(&r->held[i], a))
			return true;
	return false;
}

static ssize_t rtnl_find(const struct rtnl *r, const struct dime_addr *a)
{
	for (size_t i = 0; i < r->naddrs; i++)
		if (addr_eq(&r->addrs[i].addr, a))
			return (ssize_t)i;
	return -1;
}

bool rtnl_is_local(const struct rtnl *r, const struct dime_addr *a)
{
	return rtnl_find(r, a) >= 0;
}

bool rtnl_is_alive(const struct rtnl *r, const struct dime_addr *a)
{
	if (rtnl_is_local(r, a))
		return true;
	if (rtnl_is_held(r, a))
		return false;
	for (size_t i = 0; i < r->nall; i++)
		if (addr_eq(&r->all[i], a))
			return true;
	return false;
}

static void rtnl_track_all(struct rtnl *r, const struct dime_addr *a, bool add)
{
	for (size_t i = 0; i < r->nall; i++)
		if (addr_eq(&r->all[i], a)) {
			if (!add)
				r->all[i] = r->all[--r->nall];
			return;
		}
	if (add && r->nall < RTNL_MAX_ALL)
		r->all[r->nall++] = *a;
}

size_t rtnl_addrs(const struct rtnl *r, const struct rtnl_addr **out)
{
	*out = r->addrs;
	return r->naddrs;
}

static void rtnl_addr_event(struct rtnl *r, const struct nlmsghdr *nlh)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct nlattr *tb[IFA_MAX + 1] = { 0 };
	const struct nlattr *at;
	uint32_t flags = ifa->ifa_flags;

	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return;
	mnl_attr_for_each(at, nlh, sizeof(*ifa)) {
		uint16_t t = mnl_attr_get_type(at);
		if (t <= IFA_MAX)
			tb[t] = (struct nlattr *)(uintptr_t)at;
	}
	const struct nlattr *aa = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	size_t alen = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!aa || mnl_attr_get_payload_len(aa) != alen)
		return;
	if (tb[IFA_FLAGS])
		flags = mnl_attr_get_u32(tb[IFA_FLAGS]);

	struct rtnl_addr ra = { .plen = ifa->ifa_prefixlen, .ifindex = (int)ifa->ifa_index };
	addr_set(&ra.addr, ifa->ifa_family, mnl_attr_get_payload(aa));
	rtnl_track_all(r, &ra.addr, nlh->nlmsg_type == RTM_NEWADDR);

	/* Usable for mobility: global scope, DAD finished, not on lo (our own
	 * identifiers live there), not link-local. */
	bool usable = nlh->nlmsg_type == RTM_NEWADDR && ifa->ifa_scope == RT_SCOPE_UNIVERSE &&
		      !link_is_down(r, (int)ifa->ifa_index) &&
		      !(flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) &&
		      (int)ifa->ifa_index != r->lo_ifindex && !addr_is_linklocal(&ra.addr);
	ssize_t i = rtnl_find(r, &ra.addr);
	if (usable && i < 0) {
		if (r->naddrs == RTNL_MAX_ADDRS) {
			log_warnx("more than %d local addresses: ignoring the rest", RTNL_MAX_ADDRS);
			return;
		}
		r->addrs[r->naddrs++] = ra;
		if (r->fn)
			r->fn(r->arg, &ra, true);
	} else if (!usable && i >= 0 && (nlh->nlmsg_type == RTM_DELADDR ||
		   r->addrs[i].ifindex == ra.ifindex)) {
		ra = r->addrs[i];
		r->addrs[i] = r->addrs[--r->naddrs];
		if (r->fn)
			r->fn(r->arg, &ra, false);
	}
}

static int rtnl_dump_addrs(struct rtnl *r);

/* A link went down: its addresses stop being usable, as if they were
 * removed; when it comes back, re-read its addresses. */
static void rtnl_link_event(struct rtnl *r, const struct nlmsghdr *nlh)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	int idx = ifi->ifi_index;
	bool up = nlh->nlmsg_type == RTM_NEWLINK && (ifi->ifi_flags & IFF_UP) &&
		  (ifi->ifi_flags & IFF_RUNNING);
	bool was_down = link_is_down(r, idx);

	if (idx == r->lo_ifindex || up == !was_down)
		return;
	if (!up) {
		if (r->ndown < RTNL_MAX_ADDRS)
			r->down[r->ndown++] = idx;
		for (size_t i = r->naddrs; i-- > 0;) {
			if (r->addrs[i].ifindex != idx)
				continue;
			struct rtnl_addr ra = r->addrs[i];
			r->addrs[i] = r->addrs[--r->naddrs];
			if (r->fn)
				r->fn(r->arg, &ra, false);
		}
		return;
	}
	for (size_t i = 0; i < r->ndown; i++)
		if (r->down[i] == idx)
			r->down[i] = r->down[--r->ndown];
	rtnl_dump_addrs(r);
}

static int rtnl_event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rtnl *r = data;

	switch (nlh->nlmsg_type) {
	case RTM_NEWADDR:
	case RTM_DELADDR:
		rtnl_addr_event(r, nlh);
		break;
	case RTM_NEWLINK:
	case RTM_DELLINK:
		rtnl_link_event(r, nlh);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		if (r->fn)
			r->fn(r->arg, NULL, true);
		break;
	}
	return MNL_CB_OK;
}

static int rtnl_dump_addrs(struct rtnl *r)
{
	char buf[NL_BUFSZ];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++r->seq;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;

	if (mnl_socket_sendto(r->req, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	uint32_t portid = mnl_socket_get_portid(r->req);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(r->req, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		int ret = mnl_cb_run(buf, (size_t)n, r->seq, portid, rtnl_event_cb, r);
		if (ret < 0)
			return -errno;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

int rtnl_open(struct rtnl **out, rtnl_fn fn, void *arg)
{
	struct rtnl *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	r->fn = fn;
	r->arg = arg;
	r->seq = (uint32_t)time(NULL);
	r->lo_ifindex = (int)if_nametoindex("lo");
	r->ev = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	r->req = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!r->ev || !r->req)
		goto fail_errno;
	unsigned groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
			  RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	if (mnl_socket_bind(r->ev, groups, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_bind(r->req, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail_errno;
	if ((ret = rtnl_dump_addrs(r)) < 0)
		goto fail;
	*out = r;
	return 0;
fail_errno:
	ret = -errno;
fail:
	rtnl_close(r);
	return ret;
}

void rtnl_close(struct rtnl *r)
{
	if (!r)
		return;
	while (r->nheld)
		rtnl_release(r, &r->held[r->nheld - 1]);
	if (r->ev)
		mnl_socket_close(r->ev);
	if (r->req)
		mnl_socket_close(r->req);
	free(r);
}

void rtnl_set_callback(struct rtnl *r, rtnl_fn fn, void *arg)
{
	r->fn = fn;
	r->arg = arg;
}

int rtnl_fd(const struct rtnl *r)
{
	return mnl_socket_get_fd(r->ev);
}

int rtnl_read(struct rtnl *r)
{
	char buf[NL_BUFSZ];

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(r->ev, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			if (errno == ENOBUFS) {
				/* Lost events: re-read the truth. */
				log_warnx("rtnetlink overrun: re-reading local addresses");
				return rtnl_dump_addrs(r);
			}
			return -errno;
		}
		if (mnl_cb_run(buf, (size_t)n, 0, 0, rtnl_event_cb, r) < 0)
			return -errno;
	}
}

/* Sends one request and waits for its ack (or data, passed to cb). */
static int rtnl_request(struct rtnl *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[NL_BUFSZ];
	uint32_t portid = mnl_socket_get_portid(r->req);

	nlh->nlmsg_seq = ++r->seq;
	if (mnl_socket_sendto(r->req, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(r->req, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		int ret = mnl_cb_run(buf, (size_t)n, r->seq, portid, cb, data);
		if (ret < 0)
			return -errno;
		if (ret == MNL_CB_STOP || !(nlh->nlmsg_flags & NLM_F_DUMP))
			return 0;
	}
}

struct route_reply {
	struct dime_addr src;
	int oif;
};

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_reply *rr = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *at;

	mnl_attr_for_each(at, nlh, sizeof(*rtm)) {
		size_t len = rtm->rtm_family == AF_INET ? 4 : 16;
		if (mnl_attr_get_type(at) == RTA_PREFSRC && mnl_attr_get_payload_len(at) == len)
			addr_set(&rr->src, rtm->rtm_family, mnl_attr_get_payload(at));
		else if (mnl_attr_get_type(at) == RTA_OIF)
			rr->oif = (int)mnl_attr_get_u32(at);
	}
	return MNL_CB_OK;
}

int rtnl_route_src(struct rtnl *r, const struct dime_addr *dst, struct dime_addr *src)
{
	char buf[NL_BUFSZ];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = dst->af;
	rtm->rtm_dst_len = (unsigned char)(addr_len(dst) * 8);
	mnl_attr_put(nlh, RTA_DST, addr_len(dst), dst->a);

	struct route_reply rr = { 0 };
	int ret = rtnl_request(r, nlh, route_cb, &rr);
	if (ret < 0)
		return ret;
	if (rr.src.af && !rtnl_is_held(r, &rr.src) && rtnl_is_local(r, &rr.src)) {
		*src = rr.src;
		return 0;
	}
	/* The kernel preferred an identifier we hold on lo (or gave no source):
	 * use a usable address of the outgoing interface instead. */
	for (size_t i = 0; i < r->naddrs; i++)
		if (r->addrs[i].addr.af == dst->af && r->addrs[i].ifindex == rr.oif) {
			*src = r->addrs[i].addr;
			return 0;
		}
	return -ENETUNREACH;
}

static int rtnl_addr_req(struct rtnl *r, const struct dime_addr *a, bool add)
{
	char buf[NL_BUFSZ];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = a->af;
	ifa->ifa_prefixlen = (unsigned char)(addr_len(a) * 8);
	/* Host scope: existing sockets may keep using it, new ones never pick it. */
	ifa->ifa_scope = RT_SCOPE_HOST;
	ifa->ifa_index = (unsigned)r->lo_ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, addr_len(a), a->a);
	mnl_attr_put(nlh, IFA_ADDRESS, addr_len(a), a->a);
	if (a->af == AF_INET6)
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD | IFA_F_NOPREFIXROUTE);
	return rtnl_request(r, nlh, NULL, NULL);
}

/* `ip rule add fwmark MARK/MARK table TABLE pref TABLE`, and `ip route add
 * default dev IFINDEX table TABLE`, for one family. */
static int tunnel_req(struct rtnl *r, int af, int ifindex, uint32_t mark, uint32_t table, bool add,
		      bool rule)
{
	char buf[NL_BUFSZ];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	if (rule) {
		nlh->nlmsg_type = add ? RTM_NEWRULE : RTM_DELRULE;
		struct fib_rule_hdr *fr = mnl_nlmsg_put_extra_header(nlh, sizeof(*fr));
		fr->family = (uint8_t)af;
		fr->action = FR_ACT_TO_TBL;
		fr->table = RT_TABLE_UNSPEC;
		mnl_attr_put_u32(nlh, FRA_TABLE, table);
		mnl_attr_put_u32(nlh, FRA_FWMARK, mark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, mark);
		mnl_attr_put_u32(nlh, FRA_PRIORITY, table);
	} else {
		nlh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
		rtm->rtm_family = (uint8_t)af;
		rtm->rtm_table = RT_TABLE_UNSPEC;
		rtm->rtm_protocol = RTPROT_STATIC;
		rtm->rtm_scope = RT_SCOPE_LINK;
		rtm->rtm_type = RTN_UNICAST;
		mnl_attr_put_u32(nlh, RTA_TABLE, table);
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	}
	return rtnl_request(r, nlh, NULL, NULL);
}

int rtnl_tunnel_conf(struct rtnl *r, int ifindex)
{
	char buf[NL_BUFSZ];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	/* Over rtnetlink, not /proc/sys: the packaged unit mounts that read-only. */
	struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	struct nlattr *in = mnl_attr_nest_start(nlh, AF_INET);
	struct nlattr *conf = mnl_attr_nest_start(nlh, IFLA_INET_CONF);
	mnl_attr_put_u32(nlh, IPV4_DEVCONF_RP_FILTER, 0);
	mnl_attr_put_u32(nlh, IPV4_DEVCONF_SRC_VMARK, 1);
	mnl_attr_nest_end(nlh, conf);
	mnl_attr_nest_end(nlh, in);
	mnl_attr_nest_end(nlh, spec);
	return rtnl_request(r, nlh, NULL, NULL);
}

int rtnl_tunnel(struct rtnl *r, int ifindex, uint32_t mark, uint32_t table, bool add)
{
	static const int fams[2] = { AF_INET, AF_INET6 };
	int ret = 0;

	for (int i = 0; i < 2; i++) {
		/* Rules first out, last in: no marked packet meets a table
		 * without its route. */
		for (int k = 0; k < 2; k++) {
			bool rule = add ? k == 1 : k == 0;
			int e = tunnel_req(r, fams[i], ifindex, mark, table, add, rule);
			if (add && e == -EEXIST)
				e = 0;
			if (!add && (e == -ENOENT || e == -ESRCH))
				e = 0;
			if (e < 0 && !ret)
				ret = e;
		}
	}
	return ret;
}

int rtnl_hold(struct rtnl *r, const struct dime_addr *a)
{
	if (rtnl_is_held(r, a))
		return 0;
	if (r->nheld == RTNL_MAX_ADDRS)
		return -ENOSPC;
	if (rtnl_is_local(r, a))
		return 0;	/* it is back for real */
	int ret = rtnl_addr_req(r, a, true);
	if (ret < 0 && ret != -EEXIST)
		return ret;
	char b[ADDR_STRLEN];
	log_info("holding identifier %s on lo", addr_fmt(a, b));
	r->held[r->nheld++] = *a;
	rtnl_save_held(r);
	return 0;
}

int rtnl_release(struct rtnl *r, const struct dime_addr *a)
{
	for (size_t i = 0; i < r->nheld; i++) {
		if (!addr_eq(&r->held[i], a))
			continue;
		struct dime_addr gone = *a;	/* a may point into held[] */
		r->held[i] = r->held[--r->nheld];
		rtnl_save_held(r);
		int ret = rtnl_addr_req(r, &gone, false);
		return ret == -EADDRNOTAVAIL || ret == -ENOENT ? 0 : ret;
	}
	return 0;
}

void rtnl_release_unneeded(struct rtnl *r, const struct dime_addr *keep, size_t nkeep)
{
	for (size_t i = r->nheld; i-- > 0;) {
		bool needed = false;
		for (size_t j = 0; j < nkeep && !needed; j++)
			needed = addr_eq(&keep[j], &r->held[i]);
		/* An identifier that came back for real is no longer ours to hold. */
		if (!needed || rtnl_is_local(r, &r->held[i])) {
			struct dime_addr a = r->held[i];
			char b[ADDR_STRLEN];
			log_info("releasing identifier %s", addr_fmt(&a, b));
			rtnl_release(r, &a);
		}
	}
}
