#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "nftset.h"

/* Linux 6.3; older UAPI headers do not have it, the value is fixed ABI. */
#define NFTSET_MSG_DESTROYSETELEM	30

/* nlmsghdr + nfgenmsg, the size of batch begin and end. */
#define NFTSET_HDR_LEN	(MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)))
/* An element list is one attribute, and nla_len is 16 bits. */
#define NFTSET_NEST_MAX	UINT16_MAX
/* How long to wait for acks the kernel has not queued when sendmsg
 * returned; it normally has, since nfnetlink runs the batch in sendmsg. */
#define NFTSET_ACK_TIMEOUT_MS	2000

struct nftset_msg {
	uint32_t off;		/* of its nlmsghdr in buf */
	uint32_t first_call;	/* index of its first call */
	bool answered;
};

struct nftset {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	unsigned flags;
	uint8_t family;
	char table[NFT_TABLE_MAXNAMELEN];

	uint8_t *buf;
	size_t cap;		/* batch bytes, end message included */
	size_t msg_max;		/* messages whose acks fit the receive buffer */
	size_t len;		/* bytes queued; buf[0] is kept for batch begin */
	size_t cur;		/* open message that takes more elements, or 0 */
	size_t nest;		/* its NFTA_SET_ELEM_LIST_ELEMENTS */
	uint16_t cur_type;
	char cur_set[NFT_SET_MAXNAMELEN];

	struct nftset_msg *msgs;
	size_t nmsg, msgs_cap;
	uint32_t *calls;	/* offset in buf of each call's element (or message) */
	size_t ncall, calls_cap;

	ssize_t err_index;
	char errmsg[512];
};

static void nftset_reset(struct nftset *s)
{
	s->len = NFTSET_HDR_LEN;
	s->cur = 0;
	s->nmsg = 0;
	s->ncall = 0;
}

/* Tries the privileged variant first: a batch must fit one sendmsg and
 * all acks must fit the receive queue, or the kernel drops them. */
static int nftset_sockbuf(int fd, int force, int plain, int want)
{
	int got;
	socklen_t len = sizeof(got);

	if (setsockopt(fd, SOL_SOCKET, force, &want, sizeof(want)) < 0)
		setsockopt(fd, SOL_SOCKET, plain, &want, sizeof(want));
	if (getsockopt(fd, SOL_SOCKET, plain, &got, &len) < 0)
		return -errno;
	return got;
}

int nftset_open(struct nftset **out, const char *table, int family, unsigned flags)
{
	struct nftset *s;
	int fd, one = 1, sndbuf, rcvbuf, r;

	*out = NULL;
	if (strlen(table) >= NFT_TABLE_MAXNAMELEN)
		return -ENAMETOOLONG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	strcpy(s->table, table);
	s->family = (uint8_t)family;
	s->flags = flags;
	s->seq = (uint32_t)time(NULL);
	s->err_index = -1;

	s->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!s->nl) {
		r = -errno;
		goto err;
	}
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto err;
	}
	s->portid = mnl_socket_get_portid(s->nl);
	fd = mnl_socket_get_fd(s->nl);

	/* Errors must not echo a 64 KiB request back; the extended ack
	 * still carries the offset of the element that failed. */
	if (setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) {
		r = -errno;
		goto err;
	}
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));

	sndbuf = nftset_sockbuf(fd, SO_SNDBUFFORCE, SO_SNDBUF, NFTSET_BATCH_MAX);
	if (sndbuf < 0) {
		r = sndbuf;
		goto err;
	}
	/* An ack costs under 1 KiB of receive buffer (skb truesize); allow
	 * 2 KiB. Without CAP_NET_ADMIN in the initial namespace rmem_max
	 * may cut this down, and fewer messages fit a batch. */
	rcvbuf = nftset_sockbuf(fd, SO_RCVBUFFORCE, SO_RCVBUF, NFTSET_MSG_MAX * 2048);
	if (rcvbuf < 0) {
		r = rcvbuf;
		goto err;
	}
	s->msg_max = (size_t)rcvbuf / 2048;
	if (s->msg_max > NFTSET_MSG_MAX)
		s->msg_max = NFTSET_MSG_MAX;
	if (s->msg_max < 16)
		s->msg_max = 16;

	/* netlink_sendmsg() refuses anything above sk_sndbuf - 32. */
	s->cap = NFTSET_BATCH_MAX;
	if ((size_t)sndbuf - 64 < s->cap)
		s->cap = (size_t)sndbuf - 64;
	s->buf = malloc(s->cap);
	if (!s->buf) {
		r = -ENOMEM;
		goto err;
	}
	nftset_reset(s);
	*out = s;
	return 0;

err:
	nftset_close(s);
	return r;
}

void nftset_close(struct nftset *s)
{
	if (!s)
		return;
	if (s->nl)
		mnl_socket_close(s->nl);
	free(s->buf);
	free(s->msgs);
	free(s->calls);
	free(s);
}

size_t nftset_key_flow(uint8_t *buf, const struct dime_addr *saddr,
		       const struct dime_addr *daddr, uint8_t proto,
		       uint16_t sport_be, uint16_t dport_be)
{
	size_t alen, n;

	if (saddr->af != daddr->af || (saddr->af != AF_INET && saddr->af != AF_INET6))
		return 0;
	alen = addr_len(saddr);
	n = 2 * alen + 12;
	memset(buf, 0, n);
	memcpy(buf, saddr->a, alen);
	memcpy(buf + alen, daddr->a, alen);
	buf[2 * alen] = proto;
	memcpy(buf + 2 * alen + 4, &sport_be, 2);
	memcpy(buf + 2 * alen + 8, &dport_be, 2);
	return n;
}

size_t nftset_key_addr(uint8_t *buf, const struct dime_addr *a)
{
	if (a->af != AF_INET && a->af != AF_INET6)
		return 0;
	memcpy(buf, a->a, addr_len(a));
	return addr_len(a);
}

static int nftset_grow(void **p, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *np;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	np = realloc(*p, ncap * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

/* Starts a message for type on set; the caller checked the space. */
static struct nlmsghdr *nftset_msg_start(struct nftset *s, uint16_t type,
					 uint16_t flags, const char *set)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(s->buf + s->len);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = s->family;
	nfg->version = NFNETLINK_V0;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, s->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);

	s->msgs[s->nmsg].off = (uint32_t)s->len;
	s->msgs[s->nmsg].first_call = (uint32_t)s->ncall;
	s->nmsg++;
	return nlh;
}

static size_t nftset_msg_len(const char *set, size_t tablelen)
{
	return NFTSET_HDR_LEN + MNL_ATTR_HDRLEN + MNL_ALIGN(tablelen + 1) +
	       MNL_ATTR_HDRLEN + MNL_ALIGN(strlen(set) + 1);
}

/* Room for need more bytes, the batch end and the bookkeeping? */
static int nftset_reserve(struct nftset *s, size_t need, bool newmsg)
{
	if (s->len + need + NFTSET_HDR_LEN > s->cap)
		return -ENOSPC;
	if (newmsg && s->nmsg >= s->msg_max)
		return -ENOSPC;
	if (nftset_grow((void **)&s->calls, &s->calls_cap, s->ncall, sizeof(*s->calls)) < 0 ||
	    nftset_grow((void **)&s->msgs, &s->msgs_cap, s->nmsg, sizeof(*s->msgs)) < 0)
		return -ENOMEM;
	return 0;
}

static int nftset_elem(struct nftset *s, uint16_t type, uint16_t flags, const char *set,
		       const void *key, size_t keylen, const void *data, size_t datalen)
{
	size_t esz = 3 * MNL_ATTR_HDRLEN + MNL_ALIGN(keylen), setlen;
	struct nlmsghdr *nlh;
	struct nlattr *elem, *k;
	bool same;
	int r;

	if (!key || keylen == 0 || keylen > NFT_DATA_VALUE_MAXLEN ||
	    (data && (datalen == 0 || datalen > NFT_DATA_VALUE_MAXLEN)))
		return -EINVAL;
	if (data)
		esz += 2 * MNL_ATTR_HDRLEN + MNL_ALIGN(datalen);
	setlen = strlen(set);
	if (setlen >= NFT_SET_MAXNAMELEN)
		return -ENAMETOOLONG;

	/* Runs of one operation on one set share a message, which keeps
	 * the acks few; the kernel names the failing element by offset. */
	same = s->cur && s->cur_type == type && strcmp(s->cur_set, set) == 0 &&
	       s->len - s->nest + esz <= NFTSET_NEST_MAX;
	if (same) {
		r = nftset_reserve(s, esz, false);
		if (r < 0)
			return r;
		nlh = (struct nlmsghdr *)(s->buf + s->cur);
	} else {
		r = nftset_reserve(s, nftset_msg_len(set, strlen(s->table)) +
				   MNL_ATTR_HDRLEN + esz, true);
		if (r < 0)
			return r;
		nlh = nftset_msg_start(s, type, flags, set);
		s->cur = s->len;
		s->nest = s->len + nlh->nlmsg_len;
		s->cur_type = type;
		memcpy(s->cur_set, set, setlen + 1);
		mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	}

	s->calls[s->ncall++] = (uint32_t)(s->cur + nlh->nlmsg_len);
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, keylen, key);
	mnl_attr_nest_end(nlh, k);
	if (data) {
		struct nlattr *d = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		mnl_attr_put(nlh, NFTA_DATA_VALUE, datalen, data);
		mnl_attr_nest_end(nlh, d);
	}
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, (struct nlattr *)(s->buf + s->nest));
	s->len = s->cur + nlh->nlmsg_len;
	return 0;
}

int nftset_add(struct nftset *s, const char *set, const void *key, size_t keylen)
{
	/* No NLM_F_EXCL: adding an element that is there is not an error. */
	return nftset_elem(s, NFT_MSG_NEWSETELEM, NLM_F_CREATE, set, key, keylen, NULL, 0);
}

int nftset_add_map(struct nftset *s, const char *map, const void *key, size_t keylen,
		   const void *data, size_t datalen)
{
	if (!data)
		return -EINVAL;
	return nftset_elem(s, NFT_MSG_NEWSETELEM, NLM_F_CREATE, map, key, keylen, data, datalen);
}

int nftset_del(struct nftset *s, const char *set, const void *key, size_t keylen)
{
	uint16_t type = s->flags & NFTSET_F_DEL_NOENT_OK ?
			NFTSET_MSG_DESTROYSETELEM : NFT_MSG_DELSETELEM;

	return nftset_elem(s, type, 0, set, key, keylen, NULL, 0);
}

int nftset_flush(struct nftset *s, const char *set)
{
	struct nlmsghdr *nlh;
	int r;

	if (strlen(set) >= NFT_SET_MAXNAMELEN)
		return -ENAMETOOLONG;
	r = nftset_reserve(s, nftset_msg_len(set, strlen(s->table)), true);
	if (r < 0)
		return r;
	/* A delete without an element list deletes them all. */
	s->calls[s->ncall++] = (uint32_t)s->len;
	nlh = nftset_msg_start(s, NFT_MSG_DELSETELEM, 0, set);
	s->len += nlh->nlmsg_len;
	s->cur = 0;
	return 0;
}

void nftset_discard(struct nftset *s)
{
	nftset_reset(s);
}

static void nftset_batch_hdr(uint8_t *p, uint16_t type, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(p);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
}

static const char *nftset_family_name(int family)
{
	switch (family) {
	case NFPROTO_INET:	return "inet";
	case NFPROTO_IPV4:	return "ip";
	case NFPROTO_IPV6:	return "ip6";
	case NFPROTO_ARP:	return "arp";
	case NFPROTO_BRIDGE:	return "bridge";
	case NFPROTO_NETDEV:	return "netdev";
	default:		return "?";
	}
}

struct nftset_ext {
	const char *msg;
	uint32_t offs;
	bool has_offs;
};

static int nftset_ext_cb(const struct nlattr *a, void *data)
{
	struct nftset_ext *x = data;

	switch (mnl_attr_get_type(a)) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			x->msg = mnl_attr_get_str(a);
		break;
	case NLMSGERR_ATTR_OFFS:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			x->offs = mnl_attr_get_u32(a);
			x->has_offs = true;
		}
		break;
	}
	return MNL_CB_OK;
}

/* Which call of message i does the kernel's attribute offset fall in? */
static ssize_t nftset_which_call(const struct nftset *s, size_t i, const struct nftset_ext *x)
{
	size_t lo = s->msgs[i].first_call;
	size_t hi = i + 1 < s->nmsg ? s->msgs[i + 1].first_call : s->ncall;
	size_t abs;

	if (hi - lo == 1)
		return (ssize_t)lo;
	if (!x->has_offs)
		return -1;
	abs = s->msgs[i].off + x->offs;
	/* On the table or set attribute: the set is the problem, name the
	 * first call of the run. */
	if (abs < s->calls[lo])
		return (ssize_t)lo;
	/* The last element starting at or before the offset holds it. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->calls[mid] <= abs)
			lo = mid;
		else
			hi = mid;
	}
	return (ssize_t)lo;
}

static void nftset_record(struct nftset *s, ssize_t msg, int err, const struct nftset_ext *x)
{
	const char *op = NULL, *set = "";
	struct nlmsghdr *nlh;
	struct nlattr *a;
	bool elems = false;
	int n;

	if (msg >= 0) {
		nlh = (struct nlmsghdr *)(s->buf + s->msgs[msg].off);
		mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
			if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET)
				set = mnl_attr_get_str(a);
			if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS)
				elems = true;
		}
		if ((nlh->nlmsg_type & 0xff) == NFT_MSG_NEWSETELEM)
			op = "add to";
		else
			op = elems ? "delete from" : "flush";
		s->err_index = nftset_which_call(s, (size_t)msg, x);
	}
	if (op)
		n = snprintf(s->errmsg, sizeof(s->errmsg), "%s set %s %s %s: %s", op,
			     nftset_family_name(s->family), s->table, set, strerror(-err));
	else
		n = snprintf(s->errmsg, sizeof(s->errmsg), "commit to table %s %s: %s",
			     nftset_family_name(s->family), s->table, strerror(-err));
	if (x->msg && n > 0 && (size_t)n < sizeof(s->errmsg))
		n += snprintf(s->errmsg + n, sizeof(s->errmsg) - (size_t)n, " (%s)", x->msg);
	if (s->err_index >= 0 && n > 0 && (size_t)n < sizeof(s->errmsg))
		snprintf(s->errmsg + n, sizeof(s->errmsg) - (size_t)n, " at call %zd", s->err_index);
}

/* Handles one datagram of acks; returns the number of messages answered. */
static size_t nftset_acks(struct nftset *s, const void *buf, size_t len, uint32_t base,
			  int *first, bool *batch_err)
{
	const struct nlmsghdr *nlh = buf;
	size_t answered = 0;
	int rest = (int)len;

	for (; mnl_nlmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest)) {
		const struct nlmsgerr *e;
		struct nftset_ext x = { 0 };
		uint32_t i = nlh->nlmsg_seq - base;
		size_t off;

		/* Anything else is a leftover of an earlier, failed commit. */
		if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_pid != s->portid ||
		    i > s->nmsg + 1 ||
		    mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
			continue;
		e = mnl_nlmsg_get_payload(nlh);
		if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
			off = sizeof(*e);
			if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
				off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
			if (off < mnl_nlmsg_get_payload_len(nlh))
				mnl_attr_parse(nlh, (unsigned)off, nftset_ext_cb, &x);
		}
		if (i == 0 || i == s->nmsg + 1) {
			/* On the batch itself: out of memory or the commit
			 * failed; acks for messages may still follow. */
			*batch_err = true;
			if (e->error && !*first) {
				*first = e->error;
				nftset_record(s, -1, e->error, &x);
			}
			continue;
		}
		if (s->msgs[i - 1].answered)
			continue;
		s->msgs[i - 1].answered = true;
		answered++;
		if (e->error && !*first) {
			*first = e->error;
			nftset_record(s, (ssize_t)i - 1, e->error, &x);
		}
	}
	return answered;
}

int nftset_commit(struct nftset *s)
{
	uint8_t rbuf[8192];	/* acks are capped, one per datagram */
	int fd = mnl_socket_get_fd(s->nl), first = 0, r = 0;
	bool batch_err = false;
	size_t left = s->nmsg;
	uint32_t base;

	s->err_index = -1;
	s->errmsg[0] = '\0';
	if (!s->nmsg)
		return 0;

	base = s->seq;
	s->seq += (uint32_t)s->nmsg + 2;
	nftset_batch_hdr(s->buf, NFNL_MSG_BATCH_BEGIN, base);
	for (size_t i = 0; i < s->nmsg; i++) {
		((struct nlmsghdr *)(s->buf + s->msgs[i].off))->nlmsg_seq = base + 1 + (uint32_t)i;
		s->msgs[i].answered = false;
	}
	nftset_batch_hdr(s->buf + s->len, NFNL_MSG_BATCH_END, base + 1 + (uint32_t)s->nmsg);

	/* The whole transaction in one sendmsg: nfnetlink wants the batch
	 * in one skb, and runs it before sendmsg returns. */
	if (mnl_socket_sendto(s->nl, s->buf, s->len + NFTSET_HDR_LEN) < 0) {
		r = -errno;
		snprintf(s->errmsg, sizeof(s->errmsg), "send batch: %s", strerror(errno));
		goto out;
	}

	while (left) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			/* A batch-level error ends the batch, no more acks. */
			if (batch_err)
				break;
			n = poll(&p, 1, NFTSET_ACK_TIMEOUT_MS);
			if (n == 0) {
				r = -ETIMEDOUT;
				snprintf(s->errmsg, sizeof(s->errmsg), "no ack from nf_tables");
				goto out;
			}
			if (n < 0 && errno != EINTR) {
				r = -errno;
				goto out;
			}
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ENOBUFS: acks were dropped, the outcome is unknown. */
			r = -errno;
			snprintf(s->errmsg, sizeof(s->errmsg), "read acks: %s", strerror(errno));
			goto out;
		}
		left -= nftset_acks(s, rbuf, (size_t)n, base, &first, &batch_err);
	}
	r = first;
	if (!r && left)
		r = -EPROTO;

out:
	nftset_reset(s);
	return r;
}

ssize_t nftset_err_index(const struct nftset *s)
{
	return s->err_index;
}

const char *nftset_errmsg(const struct nftset *s)
{
	return s->errmsg;
}
