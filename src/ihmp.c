/*
 * The IHMP engine (docs/ihmp.md, paper III-B). One exchange per peer, never
 * per connection: a HANDOFF moves every flow of a HID at once.
 *
 * Order of switching translation on (BRIEF §4): the mover's datapath puts
 * inbound elements in as soon as its address changes (stacktrans); only
 * then do we tell the peer, which switches both directions and ACKs; the
 * ACK puts the new address first in the HID's local set, which is what
 * lets the mover's outbound translation start.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hid_table.h"
#include "ihmp.h"
#include "ihmp_wire.h"
#include <sodium.h>
#include "log.h"
#include "sign.h"
#include "stacktrans.h"

#define IHMP_PENDING		4	/* unacknowledged messages per peer */
#define IHMP_BUSY_MAX		4096	/* peers with messages in flight */
#define IHMP_RTO_MS		250	/* first retransmission; doubles */

/* A claim of a new address is answered only after the peer has probed it
 * (one more round trip and the switch itself): its timeouts start doubled. */
static uint64_t rto_ms(uint8_t type, uint8_t tries)
{
	uint64_t base = type == IHMP_HANDOFF || type == IHMP_ADDR_UP ? 2 * IHMP_RTO_MS : IHMP_RTO_MS;
	return base << (tries ? tries - 1 : 0);
}
#define IHMP_TRIES		4	/* sends before giving up */
#define IHMP_SEND_RETRY_MS	50	/* a send that failed locally (no route yet) */
#define IHMP_SILENT_MIN_S	60	/* a peer that never answered: first backoff */
#define IHMP_SILENT_MAX_S	3600
#define IHMP_MAX_EVENTS		32
#define IHMP_RL_BUCKETS		256	/* per-source rate limit slots */
#define IHMP_RL_RATE		50	/* datagrams per second per source */
#define IHMP_RL_BURST		100
#define IHMP_PROBE_RATE		20	/* return-routability probes per second, all peers */
#define IHMP_VERIFIED_MAX	8
#define IHMP_HALFOPEN_S		120	/* a peer that only said HELLO, and no flow came */
#define HID_F_HELLO_ONLY	0x100	/* created by an unauthenticated HELLO */
#define IHMP_HALFOPEN_MAX	64	/* such entries at once; more HELLOs wait */

enum peer_state { PEER_NEW, PEER_HELLO, PEER_OK, PEER_SILENT };
static const char *const peer_state_names[] = { "new", "hello-sent", "dime", "silent" };

struct ihmp_tx {
	bool used;
	uint8_t tries;
	uint8_t fails;		/* local send errors (no route yet) */
	uint64_t due;		/* ms, monotonic */
	struct dime_addr src, dst;
	struct ihmp_msg msg;
};

/* A claimed new address waiting for proof that the peer receives there. */
struct ihmp_rr {
	bool active;
	struct dime_addr addr;
	uint8_t nonce[IHMP_NONCE_LEN];
	struct ihmp_msg msg;		/* the ADDR_UP or HANDOFF to apply once proven */
	struct dime_addr src, dst;
	uint16_t port;
};

struct ihmp_peer {
	uint8_t state;
	uint16_t seq;
	uint32_t silent_s;
	uint64_t silent_until;
	struct ihmp_tx tx[IHMP_PENDING];
	bool have_counter;
	uint64_t last_counter;		/* highest COUNTER accepted (replay protection) */
	bool have_applied;
	uint16_t applied_seq;		/* last change applied: a retransmission is only ACKed */
	uint8_t applied_type;
	struct ihmp_rr rr[2];		/* per family: v4 and v6 claims prove side by side */
	uint8_t nverified;
	struct dime_addr verified[IHMP_VERIFIED_MAX];
	bool have_via[2];
	struct dime_addr via[2];	/* our source toward the peer, per family, last seen */
};

struct ihmp_stats {
	uint64_t in[IHMP_TYPE_MAX + 1], out[IHMP_TYPE_MAX + 1];
	uint64_t retransmits, timeouts, send_errors;
	uint64_t rx_malformed, rx_version, rx_unsupported, rx_too_big, rx_unknown_host;
	uint64_t rx_unexpected_ack, rx_nat_detected, rx_rejected;
	uint64_t rx_incomplete, rx_bad_signature, rx_unsigned, rx_replay, rx_rate_limited;
	uint64_t rx_unverified, rx_pin_mismatch, keys_bound, probes_rr;
	uint64_t busy_full, folded;
};

struct ihmp {
	struct ihmp_cfg cfg;
	struct stacktrans *st;
	struct hid_table *ht;
	struct rtnl *rt;
	int fd[2];
	size_t nev;
	struct { struct dime_addr a; bool up; } ev[IHMP_MAX_EVENTS];
	bool kick;		/* routes changed: retry failed sends now */
	bool ev_overflow;
	size_t nbusy;
	uint32_t busy[IHMP_BUSY_MAX];
	struct ihmp_stats stats;
	struct log_limit lim;
	const struct config *conf;
	struct sign_key key;		/* the host key, for every address (`*`) */
	bool have_key;
	size_t nlkeys;			/* set_local_key for chosen prefixes */
	struct { struct dime_addr pfx; unsigned plen; struct sign_key key; } lkeys[IHMP_LOCAL_KEYS_MAX];
	uint64_t counter;
	struct { uint32_t tag; uint32_t tokens; uint64_t last; } rl[IHMP_RL_BUCKETS];
	uint32_t probe_tokens;
	uint64_t probe_last, last_sweep;
	uint32_t seed;
	const struct sign_key *rot_new;	/* set while announcing a rotation */
	uint32_t halfopen;		/* HIDs only a HELLO made */
};

void ihmp_set_config(struct ihmp *ih, const struct config *cfg)
{
	ih->conf = cfg;
}

/* dimed.conf decides which peers we greet: all, none, or listed prefixes. */
static bool hello_allowed(const struct ihmp *ih, const struct dime_addr *peer)
{
	const struct config *c = ih->conf;
	if (!c || c->hello == CONFIG_HELLO_ALL)
		return true;
	if (c->hello == CONFIG_HELLO_NONE)
		return false;
	for (size_t i = 0; i < c->n_hello_allow; i++)
		if (addr_in_prefix(peer, &c->hello_allow[i].addr, c->hello_allow[i].plen))
			return true;
	return false;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t now_s(void)
{
	return (uint32_t)(now_ms() / 1000);
}

/* ---- sockets ---- */

static int ihmp_socket(int af, uint16_t port)
{
	int fd = socket(af, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
	if (fd < 0)
		return -errno;
	if (af == AF_INET) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		/* Send from an address that is not configured yet (a race with rtnl). */
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
			goto fail;
	} else {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0)
			goto fail;
	}
	return fd;
fail:;
	int e = errno;
	close(fd);
	return -e;
}

int ihmp_new(struct ihmp **out, const struct ihmp_cfg *cfg, struct stacktrans *st)
{
	struct ihmp *ih = calloc(1, sizeof(*ih));
	if (!ih)
		return -ENOMEM;
	ih->cfg = *cfg;
	ih->st = st;
	ih->ht = st_hids(st);
	ih->rt = st_rtnl(st);
	if (cfg->state_dir) {
		char err[1200];
		int r;
		if ((r = sign_init()) < 0 ||
		    (r = sign_load_or_create(&ih->key, cfg->state_dir, err, sizeof(err))) < 0) {
			log_warnx("IHMP host key: %s", r == -EIO ? "libsodium failed to start" : err);
			free(ih);
			return r;
		}
		ih->have_key = true;
	}
	/* Never repeats across restarts while the clock moves forward (§7.2). */
	ih->counter = (uint64_t)time(NULL) << 32;
	ih->seed = randombytes_random();
	ih->probe_tokens = IHMP_PROBE_RATE;
	ih->probe_last = now_ms();
	ih->fd[0] = ihmp_socket(AF_INET, cfg->port);
	ih->fd[1] = ihmp_socket(AF_INET6, cfg->port);
	if (ih->fd[0] < 0 && ih->fd[1] < 0) {
		int r = ih->fd[0];
		free(ih);
		return r;
	}
	for (int i = 0; i < 2; i++)
		if (ih->fd[i] < 0)
			log_warnx("IHMP: no IPv%c socket on port %u: %s", i ? '6' : '4', cfg->port,
				  strerror(-ih->fd[i]));
	*out = ih;
	return 0;
}

static void peer_free(struct hid *h)
{
	free(h->ihmp);
	h->ihmp = NULL;
}

void ihmp_free(struct ihmp *ih)
{
	if (!ih)
		return;
	uint32_t cur = 0;
	struct hid *h;
	while ((h = hid_table_next(ih->ht, &cur)))
		peer_free(h);
	for (int i = 0; i < 2; i++)
		if (ih->fd[i] >= 0)
			close(ih->fd[i]);
	sign_wipe(&ih->key);
	for (size_t i = 0; i < ih->nlkeys; i++)
		sign_wipe(&ih->lkeys[i].key);
	free(ih);
}

int ihmp_fd(const struct ihmp *ih, int i)
{
	return ih->fd[i];
}

static int ihmp_sendto(struct ihmp *ih, const struct dime_addr *src, const struct dime_addr *dst,
		       uint16_t port, const uint8_t *buf, size_t len)
{
	struct sockaddr_storage to;
	char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh = { .msg_name = &to, .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	int fd = ih->fd[dst->af == AF_INET6];

	if (fd < 0 || src->af != dst->af)
		return -EAFNOSUPPORT;
	mh.msg_namelen = addr_sockaddr(dst, port, &to);
	memset(cbuf, 0, sizeof(cbuf));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (dst->af == AF_INET) {
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
		struct in_pktinfo pi = { 0 };
		memcpy(&pi.ipi_spec_dst, src->a, 4);
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		mh.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
	} else {
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
		struct in6_pktinfo pi = { 0 };
		memcpy(&pi.ipi6_addr, src->a, 16);
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		mh.msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Encodes and sends one message; counts it. */
/* What a KEY_ROTATE proof signs (§7.5): context || old || new || counter. */
#define ROT_INPUT_LEN (IHMP_ROT_CONTEXT_LEN + 2 * IHMP_KEY_LEN + 8)
static void rot_input(uint8_t in[ROT_INPUT_LEN], const uint8_t *old_pk, const uint8_t *new_pk,
		      uint64_t counter)
{
	uint8_t *p = in;
	memcpy(p, IHMP_ROT_CONTEXT, IHMP_ROT_CONTEXT_LEN);
	p += IHMP_ROT_CONTEXT_LEN;
	memcpy(p, old_pk, IHMP_KEY_LEN);
	p += IHMP_KEY_LEN;
	memcpy(p, new_pk, IHMP_KEY_LEN);
	p += IHMP_KEY_LEN;
	for (int i = 7; i >= 0; i--)
		*p++ = (uint8_t)(counter >> (8 * i));
}

/* The key that signs for a Host ID: a set_local_key binding, else the host key. */
static const struct sign_key *key_for(const struct ihmp *ih, const struct dime_addr *host_id)
{
	for (size_t i = 0; i < ih->nlkeys; i++)
		if (addr_in_prefix(host_id, &ih->lkeys[i].pfx, ih->lkeys[i].plen))
			return &ih->lkeys[i].key;
	return ih->have_key ? &ih->key : NULL;
}

/* Encodes m with a fresh COUNTER and signs it (docs/ihmp.md §7.1-7.2). */
static int ihmp_seal(struct ihmp *ih, const struct ihmp_msg *m0, uint8_t *buf, size_t cap)
{
	struct ihmp_msg m = *m0;
	const struct sign_key *k = key_for(ih, &m.host_id);

	if (k) {
		m.counter = ++ih->counter;
		m.has |= IHMP_HAS(IHMP_T_COUNTER);
		if (m.type == IHMP_HELLO || (m.type == IHMP_ACK && m.echo_type == IHMP_HELLO)) {
			memcpy(m.pubkey, k->pk, IHMP_KEY_LEN);
			m.has |= IHMP_HAS(IHMP_T_PUBKEY);
		}
		if (m.type == IHMP_HELLO && ih->rot_new) {
			/* KEY_ROTATE: the new key vouches for itself over
			 * old key || new key || this message's counter (§7.5). */
			uint8_t in[ROT_INPUT_LEN];
			rot_input(in, k->pk, ih->rot_new->pk, m.counter);
			memcpy(m.rot_pubkey, ih->rot_new->pk, IHMP_KEY_LEN);
			sign_detached(ih->rot_new, in, sizeof(in), m.rot_proof);
			m.has |= IHMP_HAS(IHMP_T_KEY_ROTATE);
		}
	}
	int n = ihmp_encode(&m, buf, cap);
	if (n < 0 || !k)
		return n;
	uint8_t in[IHMP_SIG_CONTEXT_LEN + IHMP_MAX_MSG], sig[IHMP_SIG_LEN];
	int inlen = ihmp_sig_input(in, sizeof(in), buf, (size_t)n);
	if (inlen < 0)
		return inlen;
	sign_detached(k, in, (size_t)inlen, sig);
	return ihmp_append_sig(buf, (size_t)n, cap, sig);
}

static int ihmp_xmit(struct ihmp *ih, const struct dime_addr *src, const struct dime_addr *dst,
		     uint16_t port, const struct ihmp_msg *m)
{
	uint8_t buf[IHMP_MAX_MSG];
	char b1[ADDR_STRLEN], b2[ADDR_STRLEN];
	int n = ihmp_seal(ih, m, buf, sizeof(buf));

	if (n < 0) {
		log_warnx("IHMP: cannot encode %s: %s", ihmp_type_name(m->type), strerror(-n));
		return n;
	}
	int r = ihmp_sendto(ih, src, dst, port, buf, (size_t)n);
	if (r < 0) {
		ih->stats.send_errors++;
		log_debug("IHMP: %s %s -> %s: %s", ihmp_type_name(m->type), addr_fmt(src, b1),
			  addr_fmt(dst, b2), strerror(-r));
		return r;
	}
	ih->stats.out[m->type]++;
	log_debug("IHMP: sent %s seq %u %s -> %s", ihmp_type_name(m->type), m->seq,
		  addr_fmt(src, b1), addr_fmt(dst, b2));
	return 0;
}

/* ---- per-peer state ---- */

static struct ihmp_peer *peer_get(struct hid *h)
{
	if (!h->ihmp) {
		struct ihmp_peer *p = calloc(1, sizeof(*p));
		if (!p)
			return NULL;
		if (getrandom(&p->seq, sizeof(p->seq), 0) != sizeof(p->seq))
			p->seq = (uint16_t)now_ms();
		h->ihmp = p;
	}
	return h->ihmp;
}

const char *ihmp_peer_state(const struct hid *h)
{
	const struct ihmp_peer *p = h->ihmp;
	return peer_state_names[p ? p->state : PEER_NEW];
}

static void busy_add(struct ihmp *ih, uint32_t handle)
{
	for (size_t i = 0; i < ih->nbusy; i++)
		if (ih->busy[i] == handle)
			return;
	if (ih->nbusy < IHMP_BUSY_MAX)
		ih->busy[ih->nbusy++] = handle;
	else
		ih->stats.busy_full++;
}

/* A HID about to go: busy_add keeps each handle once. */
static void busy_del(struct ihmp *ih, uint32_t handle)
{
	for (size_t i = 0; i < ih->nbusy; i++)
		if (ih->busy[i] == handle) {
			ih->busy[i] = ih->busy[--ih->nbusy];
			return;
		}
}

/* Starts an exchange: sends now, retransmits until ACKed or given up. */
static void tx_start(struct ihmp *ih, struct hid *h, struct ihmp_msg *m,
		     const struct dime_addr *src, const struct dime_addr *dst)
{
	struct ihmp_peer *p = peer_get(h);
	struct ihmp_tx *t = NULL;

	if (!p)
		return;
	/* A newer message of the same type replaces one still in flight. */
	for (int i = 0; i < IHMP_PENDING && !t; i++)
		if (p->tx[i].used && p->tx[i].msg.type == m->type &&
		    addr_eq(&p->tx[i].dst, dst) && m->type != IHMP_PATH_PROBE)
			t = &p->tx[i];
	for (int i = 0; i < IHMP_PENDING && !t; i++)
		if (!p->tx[i].used)
			t = &p->tx[i];
	if (!t) {
		t = &p->tx[0];	/* oldest slot: the newest news wins */
		ih->stats.timeouts++;
	}
	m->seq = p->seq++;
	memset(t, 0, sizeof(*t));
	t->used = true;
	t->msg = *m;
	t->src = *src;
	t->dst = *dst;
	int r = ihmp_xmit(ih, src, dst, ih->cfg.port, m);
	t->tries = r == 0;	/* only sends that left count */
	t->fails = r < 0;
	t->due = now_ms() + (r < 0 ? IHMP_SEND_RETRY_MS : rto_ms(m->type, 1));
	busy_add(ih, h->handle);
}

/* Our usable addresses, for ADDRS lists (possibly empty; never link-local). */
static void put_addrs(struct ihmp *ih, struct ihmp_msg *m)
{
	const struct rtnl_addr *la;
	size_t n = rtnl_addrs(ih->rt, &la);

	for (size_t i = 0; i < n && m->naddrs < IHMP_MAX_ADDRS; i++)
		if (!addr_is_linklocal(&la[i].addr))
			m->addrs[m->naddrs++] = la[i].addr;
	m->has |= IHMP_HAS(IHMP_T_ADDRS);
}

static void send_ack(struct ihmp *ih, const struct ihmp_msg *req, const struct dime_addr *local,
		     const struct dime_addr *remote, uint16_t port, uint16_t flags, bool with_addrs)
{
	struct ihmp_msg a;

	ihmp_init(&a, IHMP_ACK, local);
	a.seq = req->seq;
	a.flags = flags;
	a.echo_type = req->type;
	a.has |= IHMP_HAS(IHMP_T_ECHO);
	if (req->has & IHMP_HAS(IHMP_T_NONCE)) {
		/* Return routability: proof that we receive at `local`. */
		memcpy(a.nonce_echo, req->nonce, IHMP_NONCE_LEN);
		a.has |= IHMP_HAS(IHMP_T_NONCE_ECHO);
	}
	if (with_addrs)
		put_addrs(ih, &a);
	ihmp_xmit(ih, local, remote, port, &a);
}

static void bind_new(struct ihmp *ih, struct hid *h, const uint8_t *key, const struct ihmp_msg *m,
		     const struct dime_addr *src);
static bool local_live(struct ihmp *ih, const struct hid *h, int af, const struct dime_addr *not,
		       struct dime_addr *out);
static void addr_up(struct ihmp *ih, struct hid *h, const struct dime_addr *a);
static void peer_add_verified(struct ihmp_peer *p, const struct dime_addr *a);
static void route_moves(struct ihmp *ih, struct hid *only);

/* ---- HELLO and path probing (III-B1) ---- */

static bool is_private(const struct dime_addr *a, unsigned *plen)
{
	if (a->af == AF_INET) {
		if (a->a[0] == 10) { *plen = 8; return true; }
		if (a->a[0] == 172 && (a->a[1] & 0xf0) == 16) { *plen = 12; return true; }
		if (a->a[0] == 192 && a->a[1] == 168) { *plen = 16; return true; }
		return false;
	}
	if ((a->a[0] & 0xfe) == 0xfc) { *plen = 7; return true; }
	return false;
}

/* Reachable, as far as we can tell without trying: not link-local; a
 * private address only if we have one in the same private block. */
static bool potentially_reachable(struct ihmp *ih, const struct dime_addr *a, struct dime_addr *src)
{
	const struct rtnl_addr *la;
	size_t n = rtnl_addrs(ih->rt, &la);
	unsigned plen;

	if (addr_is_linklocal(a))
		return false;
	bool priv = is_private(a, &plen);
	for (size_t i = 0; i < n; i++) {
		if (la[i].addr.af != a->af)
			continue;
		if (!priv || addr_in_prefix(&la[i].addr, a, plen)) {
			*src = la[i].addr;
			return true;
		}
	}
	return false;
}

void ihmp_peer_flow(void *arg, struct hid *h, const struct dime_addr *local,
		    const struct dime_addr *remote, bool created)
{
	struct ihmp *ih = arg;
	struct ihmp_peer *p = peer_get(h);
	uint64_t now = now_ms();

	if (!p || p->state == PEER_OK || p->state == PEER_HELLO)
		return;
	if (p->state == PEER_SILENT && now < p->silent_until)
		return;		/* no HELLO storms at hosts without dimed */
	if (!hello_allowed(ih, remote))
		return;
	struct ihmp_msg m;
	ihmp_init(&m, IHMP_HELLO, local);
	put_addrs(ih, &m);
	p->state = PEER_HELLO;
	tx_start(ih, h, &m, local, remote);
}

/* Sorts a peer's advertised addresses (III-B1): probe what may be reachable. */
static void learn_addrs(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
			const struct dime_addr *known_as, bool probe)
{
	uint32_t now = now_s();

	for (unsigned i = 0; i < m->naddrs; i++) {
		const struct dime_addr *a = &m->addrs[i];
		struct dime_addr src;
		if (hid_where(h, a) >= 0 || hid_table_lookup(ih->ht, a) || addr_is_linklocal(a))
			continue;	/* known, someone else's, or never reachable from here */
		if (hid_table_add_addr(ih->ht, h, HID_UNREACH, a, now) < 0)
			continue;
		if (probe && potentially_reachable(ih, a, &src)) {
			struct ihmp_msg pr;
			/* Host ID: an address the peer knows us by, of the probe's family if any. */
			ihmp_init(&pr, IHMP_PATH_PROBE, known_as->af == a->af ? known_as : &src);
			tx_start(ih, h, &pr, &src, a);
		}
	}
}

/*
 * One host, one HID (Fig. 3). The datapath makes a HID per unknown peer
 * address, so a dual-stack host whose flows of both families start before
 * its first HELLO lands has two. Once both have proved the same key, the
 * ADDRS list of a signed HELLO or ACK names the other: fold it into h.
 * A keyless HID never folds: an address list alone proves nothing.
 */
static void fold_same_host(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m)
{
	char b[ADDR_STRLEN];

	if (h->key_origin == HID_KEY_NONE || !(m->has & IHMP_HAS(IHMP_T_SIGNATURE)))
		return;
	for (unsigned i = 0; i < m->naddrs; i++) {
		struct hid *g = hid_table_lookup(ih->ht, &m->addrs[i]);
		if (!g || g == h || g->key_origin == HID_KEY_NONE ||
		    sodium_memcmp(g->key, h->key, HID_KEY_LEN) != 0)
			continue;
		struct ihmp_peer *p = peer_get(h), *q = g->ihmp;
		if (!p)
			return;
		uint32_t gone = g->handle, hello_only = g->flags & HID_F_HELLO_ONLY;
		g->ihmp = NULL;
		int r = st_fold_hid(ih->st, h, g);
		if (r < 0) {
			g->ihmp = q;
			log_info("IHMP: HIDs %u and %u share a key but cannot fold: %s", h->handle, gone,
				 strerror(-r));
			continue;
		}
		if (q) {
			/* Its exchanges in flight go on from the survivor. */
			for (int j = 0, k = 0; j < IHMP_PENDING; j++) {
				if (!q->tx[j].used)
					continue;
				while (k < IHMP_PENDING && p->tx[k].used)
					k++;
				if (k == IHMP_PENDING)
					break;
				p->tx[k] = q->tx[j];
				busy_add(ih, h->handle);
			}
			if (q->have_counter && (!p->have_counter || q->last_counter > p->last_counter)) {
				p->have_counter = true;
				p->last_counter = q->last_counter;
			}
			for (int j = 0; j < 2; j++)
				if (!p->rr[j].active)
					p->rr[j] = q->rr[j];
			for (unsigned j = 0; j < q->nverified; j++)
				peer_add_verified(p, &q->verified[j]);
			free(q);
		}
		busy_del(ih, gone);
		if (hello_only)
			ih->halfopen--;
		if ((h->flags & HID_F_HELLO_ONLY) && h->nflows) {
			h->flags &= ~(uint32_t)HID_F_HELLO_ONLY;
			ih->halfopen--;
		}
		ih->stats.folded++;
		log_info("IHMP: HID %u is the same host as HID %u (%s, same key): folded", gone, h->handle,
			 addr_fmt(&m->addrs[i], b));
	}
}

/* ---- receiving ---- */

static void on_hello(struct ihmp *ih, const struct ihmp_msg *m, const struct dime_addr *src,
		     const struct dime_addr *dst, uint16_t port, const uint8_t *tofu)
{
	struct hid *h = hid_table_lookup(ih->ht, &m->host_id);
	uint32_t now = now_s();
	uint16_t flags = 0;
	bool own = false;

	/* NAT detection (III-D): the datagram's source is not among the
	 * addresses the sender says it has. */
	for (unsigned i = 0; i < m->naddrs && !own; i++)
		own = addr_eq(&m->addrs[i], src);
	if (!own)
		flags |= IHMP_F_ND;
	bool nat = (flags & IHMP_F_ND) && !(m->flags & IHMP_F_NF);
	if (!h && (h = hid_table_lookup(ih->ht, src)) == NULL) {
		/* Unauthenticated input would make this entry: a few may wait
		 * for a flow to use them, and expire otherwise. */
		if (ih->halfopen >= IHMP_HALFOPEN_MAX) {
			ih->stats.rx_rate_limited++;
			return;
		}
		if (hid_table_create(ih->ht, now, &h) < 0)
			return;
		h->flags |= HID_F_HELLO_ONLY;
		ih->halfopen++;
		hid_table_add_addr(ih->ht, h, nat ? HID_UNREACH : HID_ACTIVE, src, now);
	}
	bind_new(ih, h, tofu, m, src);
	/* A known peer greeting from a new address (it moved while its first
	 * HELLO was in flight): unproven until it claims it and we probe it. */
	if (hid_where(h, src) < 0)
		hid_table_add_addr(ih->ht, h, HID_UNREACH, src, now);
	if (hid_where(h, dst) < 0)
		hid_table_add_addr(ih->ht, h, HID_LOCAL, dst, now);
	struct ihmp_peer *p = peer_get(h);
	if (p)
		p->state = PEER_OK;
	send_ack(ih, m, dst, src, port, flags | (m->flags & IHMP_F_NF), true);
	if (!(m->flags & IHMP_F_NF))	/* NAT forced: a plain one-to-one mapping, no more signalling */
		learn_addrs(ih, h, m, dst, true);
	fold_same_host(ih, h, m);
	route_moves(ih, h);	/* where our packets to it leave from, for later moves */
	st_hid_changed(ih->st, h->handle);
}

static void on_probe(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
		     const struct dime_addr *src, const struct dime_addr *dst, uint16_t port)
{
	uint32_t now = now_s();

	if (hid_where(h, src) == HID_UNREACH)
		hid_table_move_addr(ih->ht, h, src, HID_ACTIVE, now);
	else if (hid_where(h, src) < 0)
		hid_table_add_addr(ih->ht, h, HID_ACTIVE, src, now);
	if (hid_where(h, dst) < 0)
		hid_table_add_addr(ih->ht, h, HID_LOCAL, dst, now);
	send_ack(ih, m, dst, src, port, 0, false);
	/* A nonce probe of an address we just claimed means the peer has our
	 * request and is checking it (§7.4): its ACK follows the proof, so
	 * give it a full timeout from now instead of sending it again. */
	struct ihmp_peer *p = h->ihmp;
	for (int i = 0; p && (m->has & IHMP_HAS(IHMP_T_NONCE)) && i < IHMP_PENDING; i++) {
		struct ihmp_tx *t = &p->tx[i];
		if (t->used && (t->msg.type == IHMP_HANDOFF || t->msg.type == IHMP_ADDR_UP) &&
		    addr_eq(&t->msg.new_addr, dst) && t->tries)
			t->due = now_ms() + rto_ms(t->msg.type, (uint8_t)(t->tries + 1));
	}
	st_hid_changed(ih->st, h->handle);
}

/* ADDR_UP*, ADDR_DOWN*, HANDOFF* from a peer (III-B2..B4). */
static void change_apply(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
			 const struct dime_addr *src, const struct dime_addr *dst, uint16_t port)
{
	uint32_t now = now_s();
	uint16_t flags = 0;
	bool has_new = m->has & IHMP_HAS(IHMP_T_NEW_ADDR), has_old = m->has & IHMP_HAS(IHMP_T_OLD_ADDR);
	bool unreach_type = m->type == IHMP_ADDR_UP_UNREACHABLE || m->type == IHMP_HANDOFF_UNREACHABLE;

	if (has_new) {
		struct hid *owner = hid_table_lookup(ih->ht, &m->new_addr);
		if (owner && owner != h) {
			/* An address can belong to one peer only: the caller must
			 * not be able to steal another peer's flows. */
			ih->stats.rx_rejected++;
			return;
		}
		/* Sent from the new address itself (III-B2, footnote): if the
		 * source differs, a NAT rewrote it and we cannot use it. */
		bool nat = !unreach_type && !addr_eq(&m->new_addr, src);
		if (nat) {
			flags |= IHMP_F_ND;
			ih->stats.rx_nat_detected++;
		}
		enum hid_set_id set = unreach_type || nat ? HID_UNREACH : HID_ACTIVE;
		if (hid_where(h, &m->new_addr) < 0)
			hid_table_add_addr(ih->ht, h, set, &m->new_addr, now);
		else
			hid_table_move_addr(ih->ht, h, &m->new_addr, set, now);
		if (set == HID_ACTIVE && (m->type == IHMP_HANDOFF))
			hid_promote(h, &m->new_addr);
	}
	if (has_old && !(has_new && addr_eq(&m->old_addr, &m->new_addr))) {
		/* The old address is gone, but flows still name it: keep it as
		 * unreachable so it keeps resolving to this peer. */
		if (hid_where(h, &m->old_addr) == HID_ACTIVE)
			hid_table_move_addr(ih->ht, h, &m->old_addr, HID_UNREACH, now);
		if (!has_new && !hid_primary(h, m->old_addr.af)) {
			/* Its last address of this family is gone (III-B3):
			 * applications learn now instead of hanging. */
			char b[ADDR_STRLEN];
			unsigned n = st_abort_peer(ih->st, h->handle, m->old_addr.af);
			log_info("IHMP: peer lost its last address %s: aborted %u connection(s)",
				 addr_fmt(&m->old_addr, b), n);
		}
	}
	if (hid_where(h, dst) < 0)
		hid_table_add_addr(ih->ht, h, HID_LOCAL, dst, now);
	h->updated = now;
	struct ihmp_peer *p = peer_get(h);
	if (p) {
		p->state = PEER_OK;
		p->have_applied = true;
		p->applied_seq = m->seq;
		p->applied_type = m->type;
	}
	/* Switch both directions first, then ACK: the mover enables its
	 * outbound translation on our ACK. */
	st_hid_changed(ih->st, h->handle);
	if (has_new && !unreach_type)
		st_kick_peer(ih->st, h->handle, m->new_addr.af);	/* our senders to it may sit in backoff */
	send_ack(ih, m, dst, src, port, flags, false);
}

static bool peer_verified(const struct hid *h, const struct ihmp_peer *p, const struct dime_addr *a)
{
	const struct dime_addr *prim = hid_primary(h, a->af);
	if (prim && addr_eq(prim, a))
		return true;	/* we already send there */
	for (unsigned i = 0; i < p->nverified; i++)
		if (addr_eq(&p->verified[i], a))
			return true;
	return false;
}

static void peer_add_verified(struct ihmp_peer *p, const struct dime_addr *a)
{
	if (p->nverified == IHMP_VERIFIED_MAX)
		memmove(p->verified, p->verified + 1, sizeof(p->verified[0]) * (IHMP_VERIFIED_MAX - 1)),
		p->nverified--;
	p->verified[p->nverified++] = *a;
}

static bool probe_token(struct ihmp *ih)
{
	uint64_t now = now_ms();
	uint64_t add = (now - ih->probe_last) * IHMP_PROBE_RATE / 1000;
	if (add) {
		ih->probe_tokens = (uint32_t)(ih->probe_tokens + add > IHMP_PROBE_RATE ?
					      IHMP_PROBE_RATE : ih->probe_tokens + add);
		ih->probe_last = now;
	}
	if (!ih->probe_tokens)
		return false;
	ih->probe_tokens--;
	return true;
}

/*
 * ADDR_UP*, ADDR_DOWN*, HANDOFF*. A new address the peer claims carries no
 * traffic until the peer proves it receives there (docs/ihmp.md §7.4): we
 * probe it with a nonce and apply the change, and ACK it, only when the
 * nonce comes back from that address. A signed message alone could aim our
 * flows at a victim.
 */
static void on_change(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
		      const struct dime_addr *src, const struct dime_addr *dst, uint16_t port)
{
	struct ihmp_peer *p = peer_get(h);
	bool has_new = m->has & IHMP_HAS(IHMP_T_NEW_ADDR);

	if (!p)
		return;
	if (p->have_applied && p->applied_seq == m->seq && p->applied_type == m->type) {
		send_ack(ih, m, dst, src, port, 0, false);	/* our ACK was lost */
		return;
	}
	if (has_new) {
		struct hid *owner = hid_table_lookup(ih->ht, &m->new_addr);
		if (owner && owner != h) {
			ih->stats.rx_rejected++;
			return;
		}
	}
	bool claims = has_new && (m->type == IHMP_ADDR_UP || m->type == IHMP_HANDOFF) &&
		      addr_eq(&m->new_addr, src);
	if (!claims || peer_verified(h, p, &m->new_addr)) {
		change_apply(ih, h, m, src, dst, port);
		return;
	}
	struct ihmp_rr *rr = &p->rr[m->new_addr.af == AF_INET6];
	if (rr->active && addr_eq(&rr->addr, &m->new_addr)) {
		/* A retransmission while we wait for the proof, or a HANDOFF
		 * to the address an ADDR_UP claimed: the proof will apply it. */
		if (m->type == IHMP_HANDOFF && rr->msg.type != IHMP_HANDOFF) {
			rr->msg = *m;
			rr->src = *src;
			rr->dst = *dst;
			rr->port = port;
		}
		return;
	}
	if (!probe_token(ih)) {
		ih->stats.rx_rate_limited++;
		return;
	}
	struct ihmp_msg pr;
	ihmp_init(&pr, IHMP_PATH_PROBE, dst);
	randombytes_buf(pr.nonce, IHMP_NONCE_LEN);
	pr.has |= IHMP_HAS(IHMP_T_NONCE);
	*rr = (struct ihmp_rr){ .active = true, .addr = m->new_addr, .msg = *m,
				.src = *src, .dst = *dst, .port = port };
	memcpy(rr->nonce, pr.nonce, IHMP_NONCE_LEN);
	ih->stats.probes_rr++;
	tx_start(ih, h, &pr, dst, &m->new_addr);
}

static struct ihmp_tx *find_tx(struct ihmp *ih, const struct ihmp_msg *ack, const struct dime_addr *src,
			       struct hid **hout)
{
	for (size_t i = 0; i < ih->nbusy; i++) {
		struct hid *h = hid_table_get(ih->ht, ih->busy[i]);
		struct ihmp_peer *p = h ? h->ihmp : NULL;
		if (!p)
			continue;
		for (int j = 0; j < IHMP_PENDING; j++) {
			struct ihmp_tx *t = &p->tx[j];
			if (t->used && t->msg.seq == ack->seq && t->msg.type == ack->echo_type &&
			    addr_eq(&t->dst, src)) {
				*hout = h;
				return t;
			}
		}
	}
	return NULL;
}

static void on_ack(struct ihmp *ih, const struct ihmp_msg *m, const struct dime_addr *src,
		   const struct dime_addr *dst, const uint8_t *tofu)
{
	struct hid *h;
	struct ihmp_tx *t = find_tx(ih, m, src, &h);
	uint32_t now = now_s();

	if (!t) {
		ih->stats.rx_unexpected_ack++;
		return;
	}
	struct ihmp_msg req = t->msg;
	if ((req.has & IHMP_HAS(IHMP_T_NONCE)) &&
	    (!(m->has & IHMP_HAS(IHMP_T_NONCE_ECHO)) ||
	     sodium_memcmp(m->nonce_echo, req.nonce, IHMP_NONCE_LEN) != 0)) {
		ih->stats.rx_unexpected_ack++;	/* not the proof we asked for */
		return;
	}
	t->used = false;
	struct ihmp_peer *p = h->ihmp;
	bool nat = m->flags & IHMP_F_ND;

	switch (req.type) {
	case IHMP_HELLO:
		p->state = PEER_OK;
		p->silent_s = 0;
		if (!tofu && h->key_origin == HID_KEY_NONE && (m->has & IHMP_HAS(IHMP_T_PUBKEY)) &&
		    (m->has & IHMP_HAS(IHMP_T_SIGNATURE)))
			tofu = m->pubkey;	/* verified in authenticate() */
		bind_new(ih, h, tofu, m, src);
		{
			/* We moved while the HELLO was in flight (it went out
			 * again from here): the address events skipped this
			 * peer, so hand off now. */
			struct dime_addr live, from = t->src;	/* t's slot may be reused */
			if (!local_live(ih, h, from.af, NULL, &live) && hid_where(h, &from) != HID_LOCAL)
				addr_up(ih, h, &from);
		}
		if (hid_where(h, src) == HID_UNREACH)
			hid_table_move_addr(ih->ht, h, src, HID_ACTIVE, now);
		learn_addrs(ih, h, m, &req.host_id, false);
		fold_same_host(ih, h, m);
		route_moves(ih, h);
		break;
	case IHMP_PATH_PROBE: {
		struct ihmp_rr *pending = &p->rr[t->dst.af == AF_INET6];
		if (pending->active && addr_eq(&pending->addr, &t->dst)) {
			/* Proven: apply the change that claimed this address. */
			struct ihmp_rr rr = *pending;
			pending->active = false;
			peer_add_verified(p, &rr.addr);
			change_apply(ih, h, &rr.msg, &rr.src, &rr.dst, rr.port);
			return;
		}
		if (hid_where(h, &t->dst) == HID_UNREACH)
			hid_table_move_addr(ih->ht, h, &t->dst, HID_ACTIVE, now);
		if (hid_where(h, &t->src) < 0)
			hid_table_add_addr(ih->ht, h, HID_LOCAL, &t->src, now);
		break;
	}
	case IHMP_ADDR_UP:
		if (!nat && hid_where(h, &req.new_addr) < 0)
			hid_table_add_addr(ih->ht, h, HID_LOCAL, &req.new_addr, now);
		break;
	case IHMP_HANDOFF:
		/* The peer now sends to the new address: it goes first, the old
		 * one out of the set. This starts our outbound translation. */
		if (!nat)
			st_local_first(ih->st, h, &req.new_addr);
		if (req.has & IHMP_HAS(IHMP_T_OLD_ADDR)) {
			hid_table_del_addr(ih->ht, h, HID_LOCAL, &req.old_addr, now);
			if (!nat && rtnl_is_local(ih->rt, &req.old_addr))
				st_moved_from(ih->st, h, &req.old_addr);
		}
		break;
	case IHMP_ADDR_DOWN:
	case IHMP_ADDR_DOWN_UNREACHABLE:
		hid_table_del_addr(ih->ht, h, HID_LOCAL, &req.old_addr, now);
		break;
	default:
		break;
	}
	(void)dst;
	st_hid_changed(ih->st, h->handle);
	if (req.type == IHMP_HANDOFF)
		st_kick_peer(ih->st, h->handle, req.new_addr.af);	/* the peer sends to us here now: resume at once */
}

/* A pinned key for any of these addresses (dimed.conf pin-key). */
static const uint8_t *pinned_key(const struct ihmp *ih, const struct dime_addr *a,
				 const struct dime_addr *b)
{
	const struct config *c = ih->conf;
	for (size_t i = 0; c && i < c->n_pins; i++) {
		const struct config_pin *pin = &c->pins[i];
		if (addr_in_prefix(a, &pin->pfx.addr, pin->pfx.plen) ||
		    (b && addr_in_prefix(b, &pin->pfx.addr, pin->pfx.plen)))
			return pin->key;
	}
	return NULL;
}

/*
 * docs/ihmp.md §9 steps 6-7: who claims to send this, and can it prove it.
 * h may be NULL (a HELLO from a new peer). On success *tofu holds a key the
 * message proved it holds and that may be bound to a new HID (or NULL).
 */
static bool authenticate(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m,
			 const uint8_t *buf, size_t len, const struct dime_addr *src,
			 const uint8_t **tofu)
{
	bool sig = m->has & IHMP_HAS(IHMP_T_SIGNATURE);
	const uint8_t *pin = pinned_key(ih, &m->host_id, src);
	const uint8_t *key = NULL;

	*tofu = NULL;
	if (h && h->key_origin != HID_KEY_NONE)
		key = h->key;
	else if (pin)
		key = pin;
	else if (sig && (m->has & IHMP_HAS(IHMP_T_PUBKEY)))
		key = m->pubkey;	/* self-signed: proves possession, not identity */
	if (!sig) {
		if (key || (ih->conf && ih->conf->require_signatures)) {
			ih->stats.rx_unsigned++;
			return false;
		}
		return true;		/* a keyless peer: the paper's baseline */
	}
	if (!key) {
		if (ih->conf && ih->conf->require_signatures) {
			ih->stats.rx_unsigned++;
			return false;
		}
		return true;		/* signed by a key we cannot know yet */
	}
	/* A pinned key wins (III-C): a message offering another key for a
	 * pinned address is refused as such. */
	if (pin && (m->has & IHMP_HAS(IHMP_T_PUBKEY)) &&
	    sodium_memcmp(m->pubkey, pin, IHMP_KEY_LEN) != 0 &&
	    !(h && h->key_origin == HID_KEY_TOFU)) {
		ih->stats.rx_pin_mismatch++;
		return false;
	}
	uint8_t in[IHMP_SIG_CONTEXT_LEN + IHMP_MAX_MSG];
	int n = ihmp_sig_input(in, sizeof(in), buf, m->signed_len);
	if (n < 0 || !sign_verify(key, in, (size_t)n, buf + m->sig_off)) {
		/* Another copy of a key rotation we already applied: signed by
		 * the old key, announcing the key now bound. Not an attack. */
		if (h && (m->has & IHMP_HAS(IHMP_T_KEY_ROTATE)) &&
		    sodium_memcmp(m->rot_pubkey, h->key, IHMP_KEY_LEN) == 0)
			ih->stats.rx_replay++;
		else
			ih->stats.rx_bad_signature++;
		return false;
	}
	struct ihmp_peer *p = h ? h->ihmp : NULL;
	if (p && p->have_counter && m->counter <= p->last_counter) {
		ih->stats.rx_replay++;
		return false;
	}
	if (h && h->key_origin == HID_KEY_NONE) {
		if (hid_set_key(h, key, pin ? HID_KEY_PINNED : HID_KEY_TOFU) == 0)
			ih->stats.keys_bound++;
	} else if (!h) {
		*tofu = key;
	}
	if (h && (p = peer_get(h))) {
		p->have_counter = true;
		p->last_counter = m->counter;
	}
	(void)len;
	return true;
}

/* Binds the key a HELLO (or its ACK) proved, to the HID it created. */
static void bind_new(struct ihmp *ih, struct hid *h, const uint8_t *key, const struct ihmp_msg *m,
		     const struct dime_addr *src)
{
	if (!key || h->key_origin != HID_KEY_NONE)
		return;
	if (hid_set_key(h, key, pinned_key(ih, &m->host_id, src) ? HID_KEY_PINNED : HID_KEY_TOFU) == 0)
		ih->stats.keys_bound++;
	struct ihmp_peer *p = peer_get(h);
	if (p) {
		p->have_counter = true;
		p->last_counter = m->counter;
	}
}

/* KEY_ROTATE in a HELLO the old key signed (§7.5). */
static void key_rotate(struct ihmp *ih, struct hid *h, const struct ihmp_msg *m)
{
	uint8_t in[ROT_INPUT_LEN];

	if (!(m->has & IHMP_HAS(IHMP_T_KEY_ROTATE)) || !(m->has & IHMP_HAS(IHMP_T_SIGNATURE)) ||
	    h->key_origin == HID_KEY_NONE)
		return;
	rot_input(in, h->key, m->rot_pubkey, m->counter);
	if (!sign_verify(m->rot_pubkey, in, sizeof(in), m->rot_proof)) {
		ih->stats.rx_bad_signature++;
		return;
	}
	enum hid_key_origin origin = (enum hid_key_origin)h->key_origin;
	hid_clear_key(h);
	hid_set_key(h, m->rot_pubkey, origin);
	log_info("IHMP: peer HID %u rotated its key", h->handle);
}

/* Per-source token bucket, before any parsing: floods cost little. */
static bool rate_ok(struct ihmp *ih, const struct dime_addr *src)
{
	uint32_t tag = addr_hash(src, ih->seed);
	uint64_t now = now_ms();
	__typeof__(ih->rl[0]) *b = &ih->rl[tag % IHMP_RL_BUCKETS];

	if (b->tag != tag) {
		b->tag = tag;
		b->tokens = IHMP_RL_BURST;
		b->last = now;
	}
	uint64_t add = (now - b->last) * IHMP_RL_RATE / 1000;
	if (add) {
		b->tokens = (uint32_t)(b->tokens + add > IHMP_RL_BURST ? IHMP_RL_BURST : b->tokens + add);
		b->last = now;
	}
	if (!b->tokens)
		return false;
	b->tokens--;
	return true;
}

static void ihmp_dispatch(struct ihmp *ih, const uint8_t *buf, size_t len, const struct dime_addr *src,
			  uint16_t port, const struct dime_addr *dst)
{
	static struct log_limit lim_attack;
	struct ihmp_msg m;
	const uint8_t *tofu;
	char b[ADDR_STRLEN];

	if (!rate_ok(ih, src)) {
		ih->stats.rx_rate_limited++;
		return;
	}
	int r = ihmp_decode(&m, buf, len);
	switch (r) {
	case 0:
		break;
	case -EPROTONOSUPPORT: ih->stats.rx_version++; return;
	case -EOPNOTSUPP: ih->stats.rx_unsupported++; return;
	case -E2BIG: ih->stats.rx_too_big++; return;
	case -ENOMSG: ih->stats.rx_incomplete++; return;
	default:
		ih->stats.rx_malformed++;
		if (log_allow(&ih->lim, now_s(), 5))
			log_info("IHMP: malformed message from %s: %s", addr_fmt(src, b), strerror(-r));
		return;
	}
	log_debug("IHMP: got %s seq %u from %s", ihmp_type_name(m.type), m.seq, addr_fmt(src, b));

	struct hid *h, *txh = NULL;
	struct ihmp_tx *t = NULL;
	if (m.type == IHMP_ACK) {
		/* Signature and counter first (§9 step 7), then the request it
		 * answers (step 8): the proof of a new address names that
		 * address as Host ID, which we do not map yet. */
		h = hid_table_lookup(ih->ht, &m.host_id);
		t = find_tx(ih, &m, src, &txh);
		if (!h)
			h = txh;
		if (!authenticate(ih, h, &m, buf, len, src, &tofu))
			goto rejected;
		if (!t || txh != h) {
			ih->stats.rx_unexpected_ack++;
			return;
		}
	} else {
		h = hid_table_lookup(ih->ht, &m.host_id);
		if (!h && m.type == IHMP_HELLO)
			h = hid_table_lookup(ih->ht, src);
		if (!h && m.type != IHMP_HELLO) {
			/* Everything else must name a peer we know (III-B). */
			ih->stats.rx_unknown_host++;
			return;
		}
	}
	if (m.type != IHMP_ACK && !authenticate(ih, h, &m, buf, len, src, &tofu)) {
rejected:
		if (log_allow(&lim_attack, now_s(), 5))
			log_info("IHMP: rejected %s from %s (see dimectl stats)", ihmp_type_name(m.type),
				 addr_fmt(src, b));
		return;
	}
	ih->stats.in[m.type]++;
	if (h && m.type != IHMP_ACK) {
		/* Whoever sends us valid IHMP runs dime, whatever a lost HELLO
		 * made us believe. */
		struct ihmp_peer *p = peer_get(h);
		if (p && p->state != PEER_OK && m.type != IHMP_HELLO) {
			p->state = PEER_OK;
			p->silent_s = 0;
		}
	}
	switch (m.type) {
	case IHMP_HELLO:
		if (h)
			key_rotate(ih, h, &m);
		on_hello(ih, &m, src, dst, port, tofu);
		break;
	case IHMP_ACK:
		on_ack(ih, &m, src, dst, tofu);
		break;
	case IHMP_PATH_PROBE:
		on_probe(ih, h, &m, src, dst, port);
		break;
	case IHMP_ADDR_UP:
	case IHMP_ADDR_UP_UNREACHABLE:
	case IHMP_ADDR_DOWN:
	case IHMP_ADDR_DOWN_UNREACHABLE:
	case IHMP_HANDOFF:
	case IHMP_HANDOFF_UNREACHABLE:
		on_change(ih, h, &m, src, dst, port);
		break;
	default:
		ih->stats.rx_unsupported++;	/* NAT_ENTRY: no IHMP-aware NATs here */
	}
}

void ihmp_read(struct ihmp *ih, int i)
{
	uint8_t buf[IHMP_MAX_MSG + 1];
	char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
	int fd = ih->fd[i];

	for (int n = 0; n < 64; n++) {
		union { struct sockaddr_in v4; struct sockaddr_in6 v6; } from;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t len = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (len < 0)
			return;
		struct dime_addr src = { 0 }, dst = { 0 };
		uint16_t port;
		if (i == 0) {
			addr_set(&src, AF_INET, &from.v4.sin_addr);
			port = ntohs(from.v4.sin_port);
		} else {
			addr_set(&src, AF_INET6, &from.v6.sin6_addr);
			port = ntohs(from.v6.sin6_port);
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				addr_set(&dst, AF_INET, &pi.ipi_addr);
			} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;
				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				addr_set(&dst, AF_INET6, &pi.ipi6_addr);
			}
		}
		if (!dst.af || (mh.msg_flags & MSG_TRUNC)) {
			ih->stats.rx_too_big += (mh.msg_flags & MSG_TRUNC) != 0;
			continue;
		}
		ihmp_dispatch(ih, buf, (size_t)len, &src, port, &dst);
	}
}

/* ---- our own address changes (III-B2..B4) ---- */

void ihmp_addr_event(struct ihmp *ih, const struct rtnl_addr *a, bool up)
{
	if (!a) {
		ih->kick = true;
		return;
	}
	if (ih->nev == IHMP_MAX_EVENTS) {
		ih->ev_overflow = true;
		return;
	}
	ih->ev[ih->nev].a = a->addr;
	ih->ev[ih->nev].up = up;
	ih->nev++;
}

/* The first live address of family af in h's local set, if any. */
static bool local_live(struct ihmp *ih, const struct hid *h, int af, const struct dime_addr *not,
		       struct dime_addr *out)
{
	const struct hid_addrs *s = &h->set[HID_LOCAL];
	for (unsigned i = 0; i < s->n; i++)
		if (s->a[i].af == af && rtnl_is_local(ih->rt, &s->a[i]) &&
		    (!not || !addr_eq(&s->a[i], not))) {
			*out = s->a[i];
			return true;
		}
	return false;
}

static bool local_first(const struct hid *h, int af, struct dime_addr *out)
{
	const struct hid_addrs *s = &h->set[HID_LOCAL];
	for (unsigned i = 0; i < s->n; i++)
		if (s->a[i].af == af) {
			*out = s->a[i];
			return true;
		}
	return false;
}

static void send_change(struct ihmp *ih, struct hid *h, uint8_t type, const struct dime_addr *host_id,
			const struct dime_addr *from, const struct dime_addr *new_addr,
			const struct dime_addr *old_addr)
{
	const struct dime_addr *to = hid_primary(h, from->af);
	struct ihmp_msg m;

	if (!to)
		return;		/* the peer has no address of this family we can reach */
	ihmp_init(&m, type, host_id);
	if (new_addr) {
		m.new_addr = *new_addr;
		m.has |= IHMP_HAS(IHMP_T_NEW_ADDR);
	}
	if (old_addr) {
		m.old_addr = *old_addr;
		m.has |= IHMP_HAS(IHMP_T_OLD_ADDR);
	}
	tx_start(ih, h, &m, from, to);
}

static void addr_up(struct ihmp *ih, struct hid *h, const struct dime_addr *a)
{
	struct dime_addr known, old;

	if (hid_where(h, a) == HID_LOCAL && local_first(h, a->af, &old) && addr_eq(&old, a))
		return;		/* the peer already sends here */
	if (local_live(ih, h, a->af, a, &known)) {
		/* Still reachable at an address the peer knows: announce the new one. */
		send_change(ih, h, IHMP_ADDR_UP, &known, a, a, NULL);
	} else if (local_first(h, a->af, &old)) {
		/* Everything the peer knew of us in this family is gone: hand off. */
		send_change(ih, h, IHMP_HANDOFF, &old, a, a, &old);
	}
}

static void addr_down(struct ihmp *ih, struct hid *h, const struct dime_addr *a)
{
	struct dime_addr other, first;
	const struct rtnl_addr *la;
	size_t n = rtnl_addrs(ih->rt, &la);

	if (hid_where(h, a) != HID_LOCAL)
		return;
	if (local_live(ih, h, a->af, a, &other)) {
		/* The peer also knows another of our addresses. If it used the
		 * lost one, it must switch: that is a handoff to the other. */
		if (local_first(h, a->af, &first) && addr_eq(&first, a))
			send_change(ih, h, IHMP_HANDOFF, &other, &other, &other, a);
		else
			send_change(ih, h, IHMP_ADDR_DOWN, &other, &other, NULL, a);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (la[i].addr.af == a->af) {
			/* A new address the peer does not know yet (soft handoff
			 * before its ADDR_UP went through). */
			send_change(ih, h, IHMP_HANDOFF, a, &la[i].addr, &la[i].addr, a);
			return;
		}
	/* No address at all: the handoff goes out when one comes up. */
}

/*
 * Soft handoff (III-B4) when the route moves: the kernel now reaches a peer
 * from another of our addresses (a new link's default route) while the one
 * the peer sends to is still configured. The old path may drop what we send
 * from it (source address validation at the old network's edge), so hand off
 * now rather than when the old address goes. Only a change of our source
 * toward the peer counts: a host whose route never picked the address the
 * peer uses is left alone.
 */
static void route_moves(struct ihmp *ih, struct hid *only)
{
	static const int fams[2] = { AF_INET, AF_INET6 };
	uint32_t cur = 0;
	struct hid *h;

	while ((h = only ? only : hid_table_next(ih->ht, &cur))) {
		struct ihmp_peer *p = h->ihmp;
		for (int k = 0; p && p->state == PEER_OK && k < 2; k++) {
			const struct dime_addr *peer = hid_primary(h, fams[k]);
			struct dime_addr via, first, prev = p->via[k];
			bool had = p->have_via[k];
			if (!peer || rtnl_route_src(ih->rt, peer, &via) < 0 || !rtnl_is_local(ih->rt, &via))
				continue;
			p->via[k] = via;
			p->have_via[k] = true;
			if (only || !had || addr_eq(&prev, &via) || !h->nflows)
				continue;
			if (!local_first(h, fams[k], &first) || !addr_eq(&prev, &first) ||
			    !rtnl_is_local(ih->rt, &first))
				continue;	/* not the address the peer uses, or gone (addr_down's case) */
			char b[ADDR_STRLEN], c[ADDR_STRLEN];
			log_info("IHMP: route to %s now leaves from %s, not %s: handing off",
				 addr_fmt(peer, b), addr_fmt(&via, c), addr_fmt(&first, (char[ADDR_STRLEN]){ 0 }));
			send_change(ih, h, IHMP_HANDOFF, &first, &via, &via, &first);
		}
		if (only)
			break;
	}
}

static void process_events(struct ihmp *ih)
{
	uint32_t cur = 0;
	struct hid *h;

	while ((h = hid_table_next(ih->ht, &cur))) {
		struct ihmp_peer *p = h->ihmp;
		if (!p || p->state != PEER_OK)
			continue;	/* only dime peers hear about our addresses */
		for (size_t i = 0; i < ih->nev; i++) {
			if (!rtnl_is_local(ih->rt, &ih->ev[i].a) && ih->ev[i].up)
				continue;	/* gone again already */
			if (ih->ev[i].up)
				addr_up(ih, h, &ih->ev[i].a);
			else
				addr_down(ih, h, &ih->ev[i].a);
		}
	}
	ih->nev = 0;
	ih->ev_overflow = false;
}

/* ---- timers ---- */

static void tx_timeout(struct ihmp *ih, struct hid *h, struct ihmp_tx *t)
{
	struct ihmp_peer *p = h->ihmp;
	char b[ADDR_STRLEN];

	ih->stats.timeouts++;
	t->used = false;
	struct ihmp_rr *rr = &p->rr[t->dst.af == AF_INET6];
	if (t->msg.type == IHMP_PATH_PROBE && rr->active && addr_eq(&rr->addr, &t->dst)) {
		rr->active = false;
		ih->stats.rx_unverified++;
		log_info("IHMP: %s never proved it receives at %s: not switching",
			 addr_fmt(&rr->src, b), addr_fmt(&t->dst, (char[ADDR_STRLEN]){ 0 }));
	} else if (t->msg.type == IHMP_HELLO && p->state == PEER_OK) {
		/* It answered something else meanwhile: it is a dime peer. */
	} else if (t->msg.type == IHMP_HELLO) {
		p->state = PEER_SILENT;
		p->silent_s = p->silent_s ? p->silent_s * 2 : IHMP_SILENT_MIN_S;
		if (p->silent_s > IHMP_SILENT_MAX_S)
			p->silent_s = IHMP_SILENT_MAX_S;
		p->silent_until = now_ms() + (uint64_t)p->silent_s * 1000;
		log_info("IHMP: %s does not answer: not a dime peer (next HELLO in %u s at the earliest)",
			 addr_fmt(&t->dst, b), p->silent_s);
	} else if (t->msg.type == IHMP_ADDR_UP) {
		/* Probing failed: the peer cannot reach the new address; say so
		 * over an address it does reach (III-B2). */
		struct dime_addr known, src = t->src, claimed = t->msg.new_addr;	/* t is free */
		if (local_live(ih, h, src.af, &src, &known))
			send_change(ih, h, IHMP_ADDR_UP_UNREACHABLE, &known, &known, &claimed, NULL);
	} else if (t->msg.type == IHMP_HANDOFF && p->state == PEER_OK) {
		/* We moved and the peer never confirmed: it cannot reach us in
		 * this family. Applications hear it now instead of hanging. */
		unsigned n = st_abort_peer(ih->st, h->handle, t->src.af);
		log_info("IHMP: %s unreachable after handoff: aborted %u connection(s)",
			 addr_fmt(&t->dst, b), n);
	} else {
		log_info("IHMP: no ACK from %s for %s", addr_fmt(&t->dst, b), ihmp_type_name(t->msg.type));
	}
}

int ihmp_tick(struct ihmp *ih)
{
	uint64_t now = now_ms(), next = UINT64_MAX;
	bool changed = ih->kick || ih->nev || ih->ev_overflow;

	if (ih->nev || ih->ev_overflow)
		process_events(ih);
	if (changed)
		route_moves(ih, NULL);
	if (now - ih->last_sweep >= 10000) {
		/* Entries only an unauthenticated HELLO made, and no flow uses. */
		uint32_t cur = 0, secs = (uint32_t)(now / 1000);
		struct hid *h;
		ih->last_sweep = now;
		while ((h = hid_table_next(ih->ht, &cur))) {
			if (!(h->flags & HID_F_HELLO_ONLY))
				continue;
			if (h->nflows) {
				h->flags &= ~(uint32_t)HID_F_HELLO_ONLY;
				ih->halfopen--;
				continue;
			}
			if (secs - h->created < IHMP_HALFOPEN_S)
				continue;
			ih->halfopen--;
			busy_del(ih, h->handle);
			peer_free(h);
			hid_table_remove(ih->ht, h);
		}
	}
	for (size_t i = 0; i < ih->nbusy;) {
		struct hid *h = hid_table_get(ih->ht, ih->busy[i]);
		struct ihmp_peer *p = h ? h->ihmp : NULL;
		bool any = false;
		for (int j = 0; p && j < IHMP_PENDING; j++) {
			struct ihmp_tx *t = &p->tx[j];
			if (!t->used)
				continue;
			if (ih->kick && t->fails)
				t->due = now;
			if (t->due <= now) {
				/* A HELLO whose source address went away before an
				 * answer came: the peer never had its chance; greet
				 * it again from where we are now (same Host ID). */
				struct dime_addr cur;
				if (t->msg.type == IHMP_HELLO && !rtnl_is_local(ih->rt, &t->src)) {
					if (rtnl_route_src(ih->rt, &t->dst, &cur) < 0 && t->fails < 200) {
						t->fails++;	/* no address or route yet */
						t->due = now + IHMP_SEND_RETRY_MS;
						any = true;
						if (t->due < next)
							next = t->due;
						continue;
					}
					t->src = cur;
					t->tries = 0;
				}
				/* 200 local failures: 10 s without a route. */
				if (t->tries >= IHMP_TRIES || t->fails >= 200 ||
				    !rtnl_is_local(ih->rt, &t->src)) {
					tx_timeout(ih, h, t);
					continue;
				}
				int r = ihmp_xmit(ih, &t->src, &t->dst, ih->cfg.port, &t->msg);
				if (r == 0) {
					if (t->tries)
						ih->stats.retransmits++;
					t->tries++;
					t->fails = 0;
				} else {
					t->fails++;
				}
				t->due = now + (r < 0 || !t->tries ? IHMP_SEND_RETRY_MS :
						rto_ms(t->msg.type, t->tries));
			}
			any = true;
			if (t->due < next)
				next = t->due;
		}
		if (!any)
			ih->busy[i] = ih->busy[--ih->nbusy];
		else
			i++;
	}
	ih->kick = false;
	return next == UINT64_MAX ? -1 : (int)(next > now ? next - now : 0);
}

/* ---- show ---- */

void ihmp_show_stats(struct ihmp *ih, struct out *o)
{
	const struct ihmp_stats *s = &ih->stats;

	out_obj_begin(o, "ihmp");
	out_obj_begin(o, "sent");
	for (int t = 1; t <= IHMP_TYPE_MAX; t++)
		out_u64(o, ihmp_type_name((uint8_t)t), s->out[t]);
	out_obj_end(o);
	out_obj_begin(o, "received");
	for (int t = 1; t <= IHMP_TYPE_MAX; t++)
		out_u64(o, ihmp_type_name((uint8_t)t), s->in[t]);
	out_obj_end(o);
	out_u64(o, "retransmits", s->retransmits);
	out_u64(o, "timeouts", s->timeouts);
	out_u64(o, "send_errors", s->send_errors);
	out_obj_begin(o, "rejected");
	out_u64(o, "malformed", s->rx_malformed);
	out_u64(o, "bad_version", s->rx_version);
	out_u64(o, "unsupported", s->rx_unsupported);
	out_u64(o, "too_big", s->rx_too_big);
	out_u64(o, "unknown_host_id", s->rx_unknown_host);
	out_u64(o, "unexpected_ack", s->rx_unexpected_ack);
	out_u64(o, "address_owned_by_other_peer", s->rx_rejected);
	out_u64(o, "incomplete", s->rx_incomplete);
	out_u64(o, "bad_signature", s->rx_bad_signature);
	out_u64(o, "unsigned", s->rx_unsigned);
	out_u64(o, "replay", s->rx_replay);
	out_u64(o, "rate_limited", s->rx_rate_limited);
	out_u64(o, "unverified_address", s->rx_unverified);
	out_u64(o, "pinned_key_mismatch", s->rx_pin_mismatch);
	out_obj_end(o);
	out_u64(o, "keys_bound", s->keys_bound);
	out_u64(o, "hids_folded", s->folded);
	out_u64(o, "return_routability_probes", s->probes_rr);
	out_u64(o, "nat_detected", s->rx_nat_detected);
	out_obj_end(o);
}

/* ---- keys (dimectl) ---- */

static const char *origin_name(uint8_t o)
{
	return o == HID_KEY_PINNED ? "pinned" : o == HID_KEY_TOFU ? "tofu" : "none";
}

void ihmp_show_keys(struct ihmp *ih, struct out *o)
{
	char b64[45], b[ADDR_STRLEN];
	uint32_t cur = 0;
	struct hid *h;

	out_obj_begin(o, "local");
	if (ih->have_key) {
		sign_pk_b64(ih->key.pk, b64);
		out_str(o, "public_key", b64);
	}
	out_arr_begin(o, "bindings");
	for (size_t i = 0; i < ih->nlkeys; i++) {
		out_obj_begin(o, NULL);
		char pfx[ADDR_STRLEN + 8];
		snprintf(pfx, sizeof(pfx), "%s/%u", addr_fmt(&ih->lkeys[i].pfx, b), ih->lkeys[i].plen);
		out_str(o, "prefix", pfx);
		sign_pk_b64(ih->lkeys[i].key.pk, b64);
		out_str(o, "public_key", b64);
		out_obj_end(o);
	}
	out_arr_end(o);
	out_obj_end(o);
	out_arr_begin(o, "peers");
	while ((h = hid_table_next(ih->ht, &cur))) {
		out_obj_begin(o, NULL);
		out_u64(o, "hid", h->handle);
		const struct dime_addr *a = hid_primary(h, AF_UNSPEC);
		out_str(o, "address", a ? addr_fmt(a, b) : "-");
		out_str(o, "origin", origin_name(h->key_origin));
		if (h->key_origin != HID_KEY_NONE) {
			sign_pk_b64(h->key, b64);
			out_str(o, "key", b64);
		}
		out_str(o, "signalling", ihmp_peer_state(h));
		out_obj_end(o);
	}
	out_arr_end(o);
}

int ihmp_key_pin(struct ihmp *ih, const struct dime_addr *peer, const char *b64, char *err, size_t n)
{
	uint8_t pk[IHMP_KEY_LEN];
	struct hid *h = hid_table_lookup(ih->ht, peer);

	if (sign_pk_from_b64(pk, b64) < 0) {
		snprintf(err, n, "not a base64 Ed25519 public key: \"%s\"", b64);
		return -EINVAL;
	}
	if (!h) {
		snprintf(err, n, "no peer with address %s (pin-key in dimed.conf pins ahead of time)",
			 addr_fmt(peer, (char[ADDR_STRLEN]){ 0 }));
		return -ENOENT;
	}
	hid_clear_key(h);
	hid_set_key(h, pk, HID_KEY_PINNED);
	struct ihmp_peer *p = peer_get(h);
	if (p)
		p->have_counter = false;	/* a new key starts a new counter */
	return 0;
}

int ihmp_key_remove(struct ihmp *ih, const struct dime_addr *peer, char *err, size_t n)
{
	struct hid *h = hid_table_lookup(ih->ht, peer);
	if (!h) {
		snprintf(err, n, "no peer with address %s", addr_fmt(peer, (char[ADDR_STRLEN]){ 0 }));
		return -ENOENT;
	}
	hid_clear_key(h);
	struct ihmp_peer *p = h->ihmp;
	if (p)
		p->have_counter = false;
	return 0;
}

/* set_local_key (III-C): `path` is a 64-byte secret key file or "generate";
 * with no prefixes it replaces the host key for every address, announced to
 * every dime peer in a HELLO the old key signs (KEY_ROTATE). */
int ihmp_set_local_key(struct ihmp *ih, const char *path, const struct config_prefix *pfx,
		       size_t npfx, char *err, size_t n)
{
	struct sign_key k;
	int r;

	if (!strcmp(path, "generate"))
		sign_generate(&k);
	else if ((r = sign_load_file(&k, path, err, n)) < 0)
		return r;
	if (npfx > 0) {
		for (size_t i = 0; i < npfx; i++) {
			size_t j = 0;
			while (j < ih->nlkeys && !(addr_eq(&ih->lkeys[j].pfx, &pfx[i].addr) &&
						   ih->lkeys[j].plen == pfx[i].plen))
				j++;
			if (j == IHMP_LOCAL_KEYS_MAX) {
				snprintf(err, n, "at most %d key bindings", IHMP_LOCAL_KEYS_MAX);
				sign_wipe(&k);
				return -ENOSPC;
			}
			ih->lkeys[j].pfx = pfx[i].addr;
			ih->lkeys[j].plen = pfx[i].plen;
			ih->lkeys[j].key = k;
			if (j == ih->nlkeys)
				ih->nlkeys++;
		}
		sign_wipe(&k);
		return 0;
	}
	if (ih->have_key) {
		uint32_t cur = 0;
		struct hid *h;
		ih->rot_new = &k;
		while ((h = hid_table_next(ih->ht, &cur))) {
			struct ihmp_peer *p = h->ihmp;
			struct dime_addr local;
			const struct dime_addr *to = NULL;
			if (!p || p->state != PEER_OK)
				continue;
			for (int af = AF_INET; !to && af <= AF_INET6; af += AF_INET6 - AF_INET)
				if (local_live(ih, h, af, NULL, &local))
					to = hid_primary(h, af);
			if (!to)
				continue;
			struct ihmp_msg m;
			ihmp_init(&m, IHMP_HELLO, &local);
			put_addrs(ih, &m);
			/* No retransmission under the old key once we switch:
			 * send it a few times instead. */
			for (int t = 0; t < 3; t++)
				ihmp_xmit(ih, &local, to, ih->cfg.port, &m);
		}
		ih->rot_new = NULL;
	}
	sign_wipe(&ih->key);
	ih->key = k;
	ih->have_key = true;
	sign_wipe(&k);
	log_info("IHMP: new local key in use");
	return 0;
}
