#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#define NL_BUFSZ 32768

#include "log.h"
#include "nftwatch.h"

struct nftwatch {
	struct mnl_socket *nl;
};

int nftwatch_open(struct nftwatch **out)
{
	struct nftwatch *w = calloc(1, sizeof(*w));
	int one = 1, ret;

	if (!w)
		return -ENOMEM;
	w->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!w->nl || mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	unsigned group = NFNLGRP_NFTABLES;
	if (mnl_socket_setsockopt(w->nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
		goto fail;
	/* A flood of rule events must not hide a table deletion: on overrun we
	 * assume the worst (see nftwatch_read). */
	mnl_socket_setsockopt(w->nl, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	*out = w;
	return 0;
fail:
	ret = -errno;
	nftwatch_close(w);
	return ret;
}

void nftwatch_close(struct nftwatch *w)
{
	if (!w)
		return;
	if (w->nl)
		mnl_socket_close(w->nl);
	free(w);
}

int nftwatch_fd(const struct nftwatch *w)
{
	return mnl_socket_get_fd(w->nl);
}

static int table_attr_cb(const struct nlattr *a, void *data)
{
	const char **name = data;
	if (mnl_attr_get_type(a) == NFTA_TABLE_NAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
		*name = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	bool *hit = data;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const char *name = NULL;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
	    NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_DELTABLE)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*g), table_attr_cb, &name);
	if (!name)
		return MNL_CB_OK;
	if (g->nfgen_family == NFPROTO_INET && !strcmp(name, "dimed"))
		*hit = true;
	if (*hit)
		log_debug("nftables: table %s (family %u) deleted", name, g->nfgen_family);
	/* The xtables fallback rules live in iptables-nft's own tables. */
	if ((g->nfgen_family == NFPROTO_IPV4 || g->nfgen_family == NFPROTO_IPV6) &&
	    (!strcmp(name, "raw") || !strcmp(name, "mangle")))
		*hit = true;
	return MNL_CB_OK;
}

bool nftwatch_read(struct nftwatch *w)
{
	char buf[NL_BUFSZ];
	bool hit = false;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(w->nl, buf, sizeof(buf));
		if (n < 0)
			return hit || errno == ENOBUFS;
		mnl_cb_run(buf, (size_t)n, 0, 0, event_cb, &hit);
	}
}

void nftwatch_drain(struct nftwatch *w)
{
	(void)nftwatch_read(w);
}
