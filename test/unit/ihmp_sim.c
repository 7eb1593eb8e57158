#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ihmp_sim.h"

struct dime_addr sim_addr(const char *text)
{
	struct dime_addr a;
	if (addr_parse(&a, text) < 0) {
		fprintf(stderr, "sim: bad address %s\n", text);
		abort();
	}
	return a;
}

static int fam(int af)
{
	return af == AF_INET6;
}

static bool host_has(const struct sim_host *h, const struct dime_addr *a)
{
	for (size_t i = 0; i < h->naddrs; i++)
		if (addr_eq(&h->addrs[i].addr, a))
			return true;
	return false;
}

static struct sim_host *owner(struct sim *s, const struct dime_addr *a)
{
	for (size_t i = 0; i < s->nhosts; i++)
		for (size_t j = 0; j < s->host[i].naddrs; j++)
			if (addr_eq(&s->host[i].addrs[j].addr, a) && !(s->host[i].fake & 1u << j))
				return &s->host[i];
	return NULL;
}

/* ---- NATs ---- */

static struct sim_nat *nat_of(struct sim *s, const struct dime_addr *a)
{
	for (int n = 0; n < SIM_NATS; n++)
		for (size_t i = 0; s->nat[n].on && i < s->nat[n].ninside; i++)
			if (addr_eq(&s->nat[n].inside[i], a))
				return &s->nat[n];
	return NULL;
}

void sim_nat(struct sim *s, int n, const char *pub, bool keep_port)
{
	struct sim_nat *t = &s->nat[n];
	memset(t, 0, sizeof(*t));
	t->on = true;
	t->keep_port = keep_port;
	t->pub = sim_addr(pub);
	t->next_port = (uint16_t)(40000 + 1000 * n);
}

void sim_nat_inside(struct sim *s, int n, const char *addr)
{
	s->nat[n].inside[s->nat[n].ninside++] = sim_addr(addr);
}

void sim_nat_flush(struct sim *s, int n)
{
	s->nat[n].nmap = 0;
}

/* Leaving a NAT: the source becomes its binding. */
static void nat_out(struct sim *s, struct sim_dgram *d)
{
	struct sim_nat *t = nat_of(s, &d->src);
	if (!t || nat_of(s, &d->dst) == t)
		return;
	size_t i;
	for (i = 0; i < t->nmap; i++)
		if (addr_eq(&t->map[i].in, &d->src) && t->map[i].in_port == d->sport)
			break;
	if (i == t->nmap) {
		if (t->nmap == SIM_NAT_MAP)
			t->nmap = 0;	/* a small NAT forgets */
		i = t->nmap++;
		t->map[i].in = d->src;
		t->map[i].in_port = d->sport;
		t->map[i].out_port = t->keep_port ? d->sport : t->next_port++;
	}
	d->src = t->pub;
	d->sport = t->map[i].out_port;
}

/* Arriving: to a binding it goes in; straight to an inside address from
 * outside, or to a port with no binding, it is dropped. */
static bool nat_in(struct sim *s, struct sim_dgram *d)
{
	for (int n = 0; n < SIM_NATS; n++) {
		struct sim_nat *t = &s->nat[n];
		if (!t->on || !addr_eq(&t->pub, &d->dst))
			continue;
		for (size_t i = 0; i < t->nmap; i++)
			if (t->map[i].out_port == d->dport) {
				d->dst = t->map[i].in;
				d->dport = t->map[i].in_port;
				return true;
			}
		return false;
	}
	struct sim_nat *in = nat_of(s, &d->dst);
	return !in || in == nat_of(s, &d->src);
}

/* ---- the environment ---- */

static uint64_t env_now(void *arg)
{
	return ((struct sim_host *)arg)->sim->now;
}

static int env_send(void *arg, const struct dime_addr *src, const struct dime_addr *dst, uint16_t port,
		    const uint8_t *buf, size_t len)
{
	struct sim_host *h = arg;
	struct sim *s = h->sim;

	if (!host_has(h, src))
		return -EADDRNOTAVAIL;
	if (s->nq == SIM_QUEUE || len > IHMP_MAX_MSG)
		return -ENOBUFS;
	struct ihmp_msg m;
	if (ihmp_decode(&m, buf, len) == 0) {
		s->sent[m.type]++;
		if (m.type == IHMP_ACK)
			s->acked[m.echo_type]++;
	}
	s->bytes += len;
	if (h->sent_to_addr.af && addr_eq(dst, &h->sent_to_addr))
		h->sent_to++;
	struct sim_dgram *d = &s->q[s->nq++];
	d->src = *src;
	d->dst = *dst;
	d->sport = SIM_PORT;
	d->dport = port;
	d->len = (uint16_t)len;
	memcpy(d->buf, buf, len);
	nat_out(s, d);
	return 0;
}

static size_t env_local_addrs(void *arg, const struct rtnl_addr **out)
{
	struct sim_host *h = arg;
	*out = h->addrs;
	return h->naddrs;
}

static bool env_is_local(void *arg, const struct dime_addr *a)
{
	return host_has(arg, a);
}

static int env_route_src(void *arg, const struct dime_addr *dst, struct dime_addr *src)
{
	struct sim_host *h = arg;
	const struct dime_addr *r = &h->route[fam(dst->af)];
	if (!r->af || !host_has(h, r))
		return -ENETUNREACH;
	*src = *r;
	return 0;
}

static void env_hid_changed(void *arg, uint32_t handle)
{
	(void)handle;
	((struct sim_host *)arg)->hid_changed++;
}

static unsigned env_abort_peer(void *arg, uint32_t handle, int af)
{
	struct sim_host *h = arg;
	struct hid *hid = hid_table_get(h->ht, handle);
	(void)af;
	h->aborted++;
	if (!hid || !hid->nflows)
		return 0;
	unsigned n = hid->nflows;
	hid->nflows = 0;
	return n;
}

static unsigned env_kick_peer(void *arg, uint32_t handle, int af)
{
	(void)handle, (void)af;
	struct sim_host *h = arg;
	h->kicked++;
	return h->stalled;
}

/* As stacktrans does it: rebuild the local set with a first. */
static int env_local_first(void *arg, struct hid *hid, const struct dime_addr *a)
{
	struct sim_host *h = arg;
	struct hid_addrs keep = hid->set[HID_LOCAL];
	int r;

	h->local_first++;
	for (unsigned i = 0; i < keep.n; i++)
		hid_table_del_addr(h->ht, hid, HID_LOCAL, &keep.a[i], 0);
	if ((r = hid_table_add_addr(h->ht, hid, HID_LOCAL, a, 0)) < 0)
		return r;
	for (unsigned i = 0; i < keep.n; i++)
		if (!addr_eq(&keep.a[i], a))
			hid_table_add_addr(h->ht, hid, HID_LOCAL, &keep.a[i], 0);
	return 0;
}

static void env_moved_from(void *arg, struct hid *hid, const struct dime_addr *old)
{
	(void)hid, (void)old;
	((struct sim_host *)arg)->moved_from++;
}

static bool env_in_use(void *arg, const struct hid *hid, const struct dime_addr *a)
{
	struct sim_host *h = arg;
	for (size_t i = 0; i < h->nflow_addrs; i++)
		if (addr_eq(&h->flow_addrs[i], a) && hid_table_lookup(h->ht, a) == hid)
			return true;
	return false;
}

static int env_fold_hid(void *arg, struct hid *into, struct hid *from)
{
	(void)arg, (void)into, (void)from;
	return -ENOSPC;		/* the datapath's business; e2e-dualstack tests it */
}

static struct ihmp_env sim_env(struct sim_host *h)
{
	return (struct ihmp_env){
		.arg = h, .hids = h->ht, .now_ms = env_now, .send = env_send,
		.local_addrs = env_local_addrs, .is_local = env_is_local, .route_src = env_route_src,
		.hid_changed = env_hid_changed, .abort_peer = env_abort_peer, .kick_peer = env_kick_peer,
		.local_first = env_local_first, .moved_from = env_moved_from, .fold_hid = env_fold_hid,
		.in_use = env_in_use,
	};
}

struct sim_host *sim_host_add(struct sim *s, const char *name, bool with_dimed, bool signed_)
{
	if (s->nhosts == SIM_HOSTS)
		abort();
	struct sim_host *h = &s->host[s->nhosts++];
	memset(h, 0, sizeof(*h));
	h->sim = s;
	h->name = name;
	h->ht = hid_table_new(1024, 7);
	if (!with_dimed)
		return h;
	struct ihmp_cfg cfg = { .port = SIM_PORT };
	if (signed_) {
		snprintf(h->keydir, sizeof(h->keydir), "/tmp/ihmp-sim-XXXXXX");
		if (!mkdtemp(h->keydir))
			abort();
		cfg.state_dir = h->keydir;
	}
	const struct ihmp_env env = sim_env(h);
	if (ihmp_new_env(&h->ih, &cfg, &env) < 0)
		abort();
	return h;
}

void sim_restart(struct sim_host *h)
{
	static struct ihmp_saved_peer saved[1024];
	uint32_t handles[1024], cur = 0;
	size_t n = 0;
	struct hid *x;

	while ((x = hid_table_next(h->ht, &cur)) && n < 1024) {
		handles[n] = x->handle;
		ihmp_peer_save(x, &saved[n++]);
	}
	const struct ihmp_env env = sim_env(h);
	struct ihmp_cfg cfg = { .port = SIM_PORT, .state_dir = h->keydir[0] ? h->keydir : NULL };
	uint64_t counter = ihmp_counter(h->ih);
	ihmp_free(h->ih);
	if (ihmp_new_env(&h->ih, &cfg, &env) < 0)
		abort();
	ihmp_counter_floor(h->ih, counter);	/* as the state file keeps it */
	for (size_t i = 0; i < n; i++) {
		struct hid *y = hid_table_get(h->ht, handles[i]);
		if (y && saved[i].answered && ihmp_peer_restore(h->ih, y, &saved[i]) < 0)
			abort();
	}
	ihmp_reconfirm(h->ih);
}

void sim_free(struct sim *s)
{
	for (size_t i = 0; i < s->nhosts; i++) {
		struct sim_host *h = &s->host[i];
		ihmp_free(h->ih);
		hid_table_free(h->ht);
		if (h->keydir[0]) {
			char path[128];
			snprintf(path, sizeof(path), "%s/host.key", h->keydir);
			unlink(path);
			rmdir(h->keydir);
		}
	}
}

void sim_addr_up(struct sim_host *h, const char *text, bool route)
{
	struct rtnl_addr ra = { .addr = sim_addr(text), .plen = 24, .ifindex = 2 };
	if (h->naddrs == SIM_ADDRS)
		abort();
	h->addrs[h->naddrs++] = ra;
	if (route || !h->route[fam(ra.addr.af)].af)
		h->route[fam(ra.addr.af)] = ra.addr;
	if (h->ih) {
		ihmp_addr_event(h->ih, &ra, true);
		ihmp_addr_event(h->ih, NULL, true);	/* routes changed too */
	}
}

void sim_addr_fake(struct sim_host *h, const char *text)
{
	sim_addr_up(h, text, false);
	h->fake |= 1u << (h->naddrs - 1);
}

void sim_addr_down(struct sim_host *h, const char *text)
{
	struct dime_addr a = sim_addr(text);
	for (size_t i = 0; i < h->naddrs; i++)
		if (addr_eq(&h->addrs[i].addr, &a)) {
			struct rtnl_addr ra = h->addrs[i];
			bool last_fake = h->fake & 1u << (h->naddrs - 1);
			h->addrs[i] = h->addrs[--h->naddrs];
			h->fake &= ~(1u << i) & ~(1u << h->naddrs);
			if (last_fake && i != h->naddrs)
				h->fake |= 1u << i;
			struct dime_addr *r = &h->route[fam(a.af)];
			if (addr_eq(r, &a)) {
				memset(r, 0, sizeof(*r));
				for (size_t j = 0; j < h->naddrs; j++)
					if (h->addrs[j].addr.af == a.af)
						*r = h->addrs[j].addr;
			}
			if (h->ih) {
				ihmp_addr_event(h->ih, &ra, false);
				ihmp_addr_event(h->ih, NULL, false);
			}
			return;
		}
	abort();
}

struct hid *sim_hid(struct sim_host *h, const char *addr)
{
	struct dime_addr a = sim_addr(addr);
	return hid_table_lookup(h->ht, &a);
}

static struct hid *file_flow(struct sim_host *h, const char *local, const char *remote, bool *created)
{
	struct dime_addr l = sim_addr(local), r = sim_addr(remote);
	struct hid *hid = hid_table_lookup(h->ht, &r);

	*created = !hid;
	if (!hid) {
		if (hid_table_create(h->ht, (uint32_t)(h->sim->now / 1000), &hid) < 0 ||
		    hid_table_add_addr(h->ht, hid, HID_ACTIVE, &r, 0) < 0)
			abort();
	}
	hid->nflows++;
	if (h->nflow_addrs < sizeof(h->flow_addrs) / sizeof(h->flow_addrs[0]))
		h->flow_addrs[h->nflow_addrs++] = r;
	if (hid_where(hid, &l) < 0)
		hid_table_add_addr(h->ht, hid, HID_LOCAL, &l, 0);
	return hid;
}

struct hid *sim_flow_in(struct sim_host *h, const char *local, const char *remote)
{
	bool created;
	return file_flow(h, local, remote, &created);
}

struct hid *sim_flow(struct sim_host *h, const char *local, const char *remote)
{
	struct dime_addr l = sim_addr(local), r = sim_addr(remote);
	bool created;
	struct hid *hid = file_flow(h, local, remote, &created);

	if (h->ih)
		ihmp_peer_flow(h->ih, hid, &l, &r, created);
	return hid;
}

void sim_inject(struct sim *s, const struct dime_addr *src, uint16_t sport, const struct dime_addr *dst,
		const uint8_t *buf, size_t len)
{
	struct sim_host *h = owner(s, dst);
	if (h && h->ih)
		ihmp_dispatch(h->ih, buf, len, src, sport, dst);
}

static bool lost(struct sim *s, const struct sim_dgram *d)
{
	for (size_t i = 0; i < s->nblack; i++)
		if (addr_eq(&s->black[i], &d->dst))
			return true;
	uint8_t type = d->len > 1 ? d->buf[1] : 0;
	if (type <= IHMP_TYPE_MAX && s->drop_next[type]) {
		s->drop_next[type]--;
		return true;
	}
	struct ihmp_msg m;
	if (type == IHMP_ACK && ihmp_decode(&m, d->buf, d->len) == 0 && s->drop_ack[m.echo_type]) {
		s->drop_ack[m.echo_type]--;
		return true;
	}
	return false;
}

/* Delivers what is queued, in order; what that sends is delivered too. */
static void deliver(struct sim *s)
{
	for (size_t i = 0; i < s->nq; i++) {
		struct sim_dgram d = s->q[i];
		bool dropped = lost(s, &d);	/* where it was sent, before a NAT */
		bool through = !dropped && nat_in(s, &d);
		struct sim_host *h = owner(s, &d.dst);
		if (!through || !h || !h->ih) {
			s->lost++;
			continue;
		}
		ihmp_dispatch(h->ih, d.buf, d.len, &d.src, d.sport, &d.dst);
	}
	s->nq = 0;
}

void sim_run(struct sim *s, uint64_t ms)
{
	uint64_t end = s->now + ms;

	for (;;) {
		uint64_t next = end;
		deliver(s);
		for (size_t i = 0; i < s->nhosts; i++) {
			if (!s->host[i].ih)
				continue;
			int w = ihmp_tick(s->host[i].ih);
			if (w >= 0 && s->now + (uint64_t)w < next)
				next = s->now + (uint64_t)w;
		}
		if (s->nq)
			continue;	/* a timer sent something: deliver it first */
		if (next >= end)
			break;
		s->now = next > s->now ? next : s->now + 1;
	}
	s->now = end;
	for (size_t i = 0; i < s->nhosts; i++)
		if (s->host[i].ih)
			ihmp_tick(s->host[i].ih);
	deliver(s);
}
