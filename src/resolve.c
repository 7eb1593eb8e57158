/*
 * A and AAAA lookups for the rendezvous (docs/ihmp.md §11), from the event
 * loop: getaddrinfo would block it, and getaddrinfo_a brings threads.
 * Each lookup asks one server for both types, the next server after a
 * timeout. Answers must come from that server, with the query's ID and
 * question.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sodium.h>

#include "dns.h"
#include "log.h"
#include "resolve.h"

struct lookup {
	bool used;
	int fd;				/* its own socket, toward servers[server] */
	uint64_t cookie;
	char name[DNS_NAME_STRMAX];
	size_t server, nservers;	/* asking servers[server] */
	struct config_server servers[CONFIG_RESOLVERS_MAX];
	uint16_t id[2];			/* A, AAAA */
	bool done[2];
	uint64_t deadline;
	size_t n;
	struct dime_addr addrs[DNS_ANSWER_MAX];
};

struct resolver {
	const char *conf;
	size_t nfixed;
	struct config_server fixed[CONFIG_RESOLVERS_MAX];
	struct lookup l[RESOLVE_INFLIGHT];
	resolve_fn *fn;
	resolve_watch_fn *watch;
	void *arg;
	uint32_t tokens;
	uint64_t tokens_at;
};

int resolver_new(struct resolver **out, const struct config_server *servers, size_t n, const char *conf_path,
		 resolve_fn *fn, resolve_watch_fn *watch, void *arg)
{
	struct resolver *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	if (n > CONFIG_RESOLVERS_MAX)
		n = CONFIG_RESOLVERS_MAX;
	memcpy(r->fixed, servers, n * sizeof(*servers));
	r->nfixed = n;
	r->conf = conf_path ? conf_path : RESOLVE_CONF;
	r->fn = fn;
	r->watch = watch;
	r->arg = arg;
	r->tokens = RESOLVE_PER_S;
	for (int i = 0; i < RESOLVE_INFLIGHT; i++)
		r->l[i].fd = -1;
	*out = r;
	return 0;
}

static void close_fd(struct resolver *r, struct lookup *l)
{
	if (l->fd < 0)
		return;
	r->watch(r->arg, l->fd, false);
	close(l->fd);
	l->fd = -1;
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	for (int i = 0; i < RESOLVE_INFLIGHT; i++)
		close_fd(r, &r->l[i]);
	free(r);
}

/* The servers of this lookup: fixed ones, or resolv.conf as it is now. */
static void load_servers(const struct resolver *r, struct lookup *l)
{
	struct dime_addr ns[CONFIG_RESOLVERS_MAX];
	FILE *f;

	if (r->nfixed) {
		memcpy(l->servers, r->fixed, sizeof(l->servers));
		l->nservers = r->nfixed;
		return;
	}
	l->nservers = 0;
	if (!(f = fopen(r->conf, "re")))
		return;
	size_t n = dns_resolv_conf(f, ns, CONFIG_RESOLVERS_MAX);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		l->servers[l->nservers++] = (struct config_server){ .addr = ns[i], .port = DNS_PORT };
}

static void query(struct resolver *r, struct lookup *l, uint64_t now)
{
	static const uint16_t types[2] = { DNS_TYPE_A, DNS_TYPE_AAAA };
	const struct config_server *s = &l->servers[l->server];
	struct sockaddr_storage ss;
	socklen_t sl = addr_sockaddr(&s->addr, s->port, &ss);
	uint8_t buf[DNS_MSG_MAX];

	l->deadline = now + RESOLVE_TIMEOUT_MS;
	close_fd(r, l);		/* each server its own socket, too */
	l->fd = socket(s->addr.af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd >= 0)
		r->watch(r->arg, l->fd, true);
	int fd = l->fd;
	for (int t = 0; t < 2; t++) {
		if (l->done[t])
			continue;
		randombytes_buf(&l->id[t], sizeof(l->id[t]));
		int n = dns_build_query(buf, sizeof(buf), l->id[t], l->name, types[t]);
		if (n > 0 && fd >= 0)
			(void)!sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&ss, sl);
	}
}

int resolver_lookup(struct resolver *r, const char *name, uint64_t cookie, uint64_t now_ms)
{
	struct lookup *free_slot = NULL;

	if (dns_name_check(name) < 0)
		return -EINVAL;
	for (int i = 0; i < RESOLVE_INFLIGHT; i++) {
		if (!r->l[i].used && !free_slot)
			free_slot = &r->l[i];
		if (r->l[i].used && !strcasecmp(r->l[i].name, name))
			return -EBUSY;
	}
	if (!free_slot)
		return -EBUSY;
	/* RESOLVE_PER_S tokens, refilled each second. */
	if (now_ms - r->tokens_at >= 1000) {
		r->tokens = RESOLVE_PER_S;
		r->tokens_at = now_ms;
	}
	if (!r->tokens)
		return -EAGAIN;
	struct lookup l = { .used = true, .cookie = cookie, .fd = -1 };
	load_servers(r, &l);
	if (!l.nservers)
		return -ENOENT;
	r->tokens--;
	snprintf(l.name, sizeof(l.name), "%s", name);
	*free_slot = l;
	query(r, free_slot, now_ms);
	return 0;
}

static void finish(struct resolver *r, struct lookup *l, int err)
{
	struct lookup done = *l;

	close_fd(r, l);
	l->used = false;
	r->fn(r->arg, done.cookie, done.name, done.addrs, done.n, done.n ? 0 : err);
}

void resolver_read(struct resolver *r, int fd)
{
	uint8_t buf[DNS_MSG_MAX];
	struct sockaddr_storage ss;
	bool ours = false;

	/* An event of a socket closed in the same wakeup: the number may
	 * be someone else's by now. */
	for (int j = 0; j < RESOLVE_INFLIGHT && !ours; j++)
		ours = r->l[j].used && r->l[j].fd == fd;
	if (!ours)
		return;
	for (int k = 0; k < 8; k++) {
		socklen_t sl = sizeof(ss);
		ssize_t len = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);
		if (len < 0)
			return;
		struct dime_addr src;
		uint16_t port;
		if (addr_from_sockaddr(&ss, &src, &port) < 0)
			continue;
		for (int j = 0; j < RESOLVE_INFLIGHT; j++) {
			struct lookup *l = &r->l[j];
			const struct config_server *s = &l->servers[l->server];
			if (!l->used || l->fd != fd || !addr_eq(&s->addr, &src) || s->port != port)
				continue;
			for (int t = 0; t < 2; t++) {
				struct dns_answer a;
				if (l->done[t] || len < 2 || ((buf[0] << 8) | buf[1]) != l->id[t] ||
				    dns_parse_answer(buf, (size_t)len, l->name, t ? DNS_TYPE_AAAA : DNS_TYPE_A, &a) < 0)
					continue;
				l->done[t] = true;
				for (size_t x = 0; x < a.naddrs && l->n < DNS_ANSWER_MAX; x++)
					l->addrs[l->n++] = a.addrs[x];
			}
			if (l->used && l->done[0] && l->done[1]) {
				finish(r, l, -ENODATA);
				return;		/* fd is closed */
			}
		}
	}
}

int resolver_tick(struct resolver *r, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	for (int j = 0; j < RESOLVE_INFLIGHT; j++) {
		struct lookup *l = &r->l[j];
		if (!l->used)
			continue;
		if (now_ms >= l->deadline) {
			if (l->server + 1 >= l->nservers) {
				finish(r, l, -ETIMEDOUT);
				continue;
			}
			l->server++;
			query(r, l, now_ms);
		}
		if (l->deadline < next)
			next = l->deadline;
	}
	return next == UINT64_MAX ? -1 : (int)(next > now_ms ? next - now_ms : 0);
}
