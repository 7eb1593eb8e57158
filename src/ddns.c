/*
 * DDNS (docs/ddns.md): our name follows our addresses. The rules:
 *   - one UPDATE in flight; what changes meanwhile goes in the next one;
 *   - an answer counts only from the server's address and port, with our
 *     ID, and (for NOERROR) a TSIG that verifies with our key: a forged
 *     "done" would leave the name pointing at an address we left;
 *   - a failure backs off, doubling; a refusal waits at least
 *     DDNS_REFUSED_MIN_MS; each new reason is logged once.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ddns.h"
#include "dns.h"
#include "log.h"

enum ddns_state { DDNS_PENDING, DDNS_OK, DDNS_FAILING };

struct ddns {
	struct config_ddns cfg;
	struct dns_tsig_key key;
	struct ddns_env env;
	size_t nwant, npub, nsent;
	struct dime_addr want[DDNS_ADDRS_MAX];	/* what the name should have */
	struct dime_addr pub[DDNS_ADDRS_MAX];	/* what the server confirmed */
	struct dime_addr sent[DDNS_ADDRS_MAX];	/* in the update in flight */
	bool dirty;			/* want differs from what the server has */
	bool inflight;
	bool have_pub;
	bool refused;			/* the last failure was the server's no */
	uint16_t id;
	uint8_t mac[DNS_TSIG_MAC_MAX];
	size_t mac_len;
	uint64_t due;			/* ms: next send (dirty, not in flight) */
	uint64_t deadline;		/* ms: the answer in flight times out */
	uint32_t backoff_ms;		/* after the next failure */
	enum ddns_state state;
	char result[96];		/* the last attempt's outcome, for show */
	char logged[96];		/* the last failure logged (each once) */
	uint64_t last_ok_ms;
	uint64_t failing_since;		/* ms: first failure since the last success (0: none) */
	uint64_t updates, failures, forged;
};

static uint64_t now_ms(const struct ddns *d)
{
	return d->env.now_ms(d->env.arg);
}

/* The secret file: the server's key is as good as this file's mode. */
static int read_secret(const char *path, struct dns_tsig_key *k, char *err, size_t n)
{
	char text[4096];
	struct stat st;
	int r = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		r = -errno;
		snprintf(err, n, "secret-file %s: %s", path, strerror(-r));
		return r;
	}
	ssize_t len = -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, n, "secret-file %s: not a regular file", path);
		r = -EINVAL;
	} else if (st.st_mode & 0007) {
		snprintf(err, n, "secret-file %s: others may read it (mode %03o): chmod o-rwx", path,
			 (unsigned)(st.st_mode & 0777));
		r = -EPERM;
	} else if ((len = read(fd, text, sizeof(text) - 1)) < 0) {
		r = -errno;
		snprintf(err, n, "secret-file %s: %s", path, strerror(-r));
	} else if ((size_t)len == sizeof(text) - 1) {
		snprintf(err, n, "secret-file %s: longer than %zu bytes", path, sizeof(text) - 2);
		r = -EINVAL;
	} else {
		char why[128];
		text[len] = '\0';
		if (dns_tsig_secret_parse(text, k, why, sizeof(why)) < 0) {
			snprintf(err, n, "secret-file %s: %s", path, why);
			r = -EINVAL;
		}
	}
	sodium_memzero(text, sizeof(text));
	close(fd);
	return r;
}

int ddns_new(struct ddns **out, const struct config_ddns *cfg, const struct ddns_env *env, char *err,
	     size_t errlen)
{
	struct ddns *d = calloc(1, sizeof(*d));
	int r;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->cfg = *cfg;
	d->env = *env;
	snprintf(d->key.name, sizeof(d->key.name), "%s", cfg->key_name);
	d->key.alg = (enum dns_tsig_alg)cfg->algorithm;
	if ((r = read_secret(cfg->secret_file, &d->key, err, errlen)) < 0) {
		ddns_free(d);
		return r;
	}
	d->backoff_ms = DDNS_BACKOFF_MIN_MS;
	snprintf(d->result, sizeof(d->result), "not sent yet");
	*out = d;
	return 0;
}

void ddns_free(struct ddns *d)
{
	if (d)
		sodium_memzero(&d->key, sizeof(d->key));
	free(d);
}

const char *ddns_name(const struct ddns *d)
{
	return d->cfg.name;
}

/* Worth a record: reachable from elsewhere (private only if asked). */
static bool publishable(const struct ddns *d, const struct dime_addr *a)
{
	unsigned plen;
	bool cgnat = a->af == AF_INET && a->a[0] == 100 && (a->a[1] & 0xc0) == 64;	/* 100.64/10 */

	if (!addr_is_unicast(a))
		return false;	/* link-local, loopback, multicast, unspecified */
	return d->cfg.publish_private || (!addr_is_private(a, &plen) && !cgnat);
}

static bool set_has(const struct dime_addr *s, size_t n, const struct dime_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (addr_eq(&s[i], a))
			return true;
	return false;
}

static bool set_equal(const struct dime_addr *x, size_t nx, const struct dime_addr *y, size_t ny)
{
	if (nx != ny)
		return false;
	for (size_t i = 0; i < nx; i++)
		if (!set_has(y, ny, &x[i]))
			return false;
	return true;
}

void ddns_set_addrs(struct ddns *d, const struct dime_addr *addrs, size_t n)
{
	struct dime_addr want[DDNS_ADDRS_MAX];
	size_t nw = 0;

	for (size_t i = 0; i < n && nw < DDNS_ADDRS_MAX; i++)
		if (publishable(d, &addrs[i]) && !set_has(want, nw, &addrs[i]))
			want[nw++] = addrs[i];
	/* Nothing to publish (offline, or the gap of a hard handoff): the
	 * records stay; the server is out of reach anyway. */
	if (!nw || set_equal(want, nw, d->want, d->nwant))
		return;
	memcpy(d->want, want, sizeof(want));
	d->nwant = nw;
	if (!d->inflight && d->have_pub && set_equal(want, nw, d->pub, d->npub)) {
		d->dirty = false;	/* back to what the server has */
		d->state = d->state == DDNS_FAILING ? DDNS_FAILING : DDNS_OK;
		return;
	}
	/* A move goes out at once, whatever a dead server made us wait
	 * for; a refusal holds (the server would say the same). */
	uint64_t t = now_ms(d) + DDNS_COALESCE_MS;
	if (!d->refused || t > d->due)
		d->due = t;
	d->dirty = true;
	if (d->state == DDNS_OK)
		d->state = DDNS_PENDING;
}

static void fail(struct ddns *d, bool refused, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct ddns *d, bool refused, const char *fmt, ...)
{
	char why[sizeof(d->result) - 10];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(d->result, sizeof(d->result), "%s%s", refused ? "refused: " : "", why);
	d->inflight = false;
	d->dirty = true;
	d->refused = refused;
	d->state = DDNS_FAILING;
	d->failures++;
	uint32_t wait = d->backoff_ms;
	if (refused && wait < DDNS_REFUSED_MIN_MS)
		wait = DDNS_REFUSED_MIN_MS;
	d->due = now_ms(d) + wait;
	d->backoff_ms = d->backoff_ms >= DDNS_BACKOFF_MAX_MS / 2 ? DDNS_BACKOFF_MAX_MS : d->backoff_ms * 2;
	if (!d->failing_since)
		d->failing_since = now_ms(d);
	/* Each reason once: a server that stays down or a key that stays
	 * wrong must not fill the journal; nor must the second without a
	 * route that every hard handoff has. */
	if (strcmp(d->logged, d->result) != 0 && (refused || now_ms(d) - d->failing_since >= DDNS_QUIET_MS)) {
		char srv[ADDR_STRLEN];
		snprintf(d->logged, sizeof(d->logged), "%s", d->result);
		log_warnx("ddns: update of %s %s %s: %s (retrying every %u s at most; logged once)",
			  d->cfg.name, refused ? "refused by" : "failed at", addr_fmt(&d->cfg.server.addr, srv),
			  why, DDNS_BACKOFF_MAX_MS / 1000);
	}
}

static void send_update(struct ddns *d)
{
	uint8_t buf[DNS_MSG_MAX];
	int n;

	randombytes_buf(&d->id, sizeof(d->id));
	n = dns_build_update(buf, sizeof(buf), d->id, d->cfg.zone, d->cfg.name, d->cfg.ttl, d->want, d->nwant);
	if (n >= 0)
		n = dns_tsig_sign(buf, (size_t)n, sizeof(buf), &d->key, d->env.wall_s(d->env.arg), d->mac,
				  &d->mac_len);
	if (n < 0) {
		fail(d, false, "cannot build the update: %s", strerror(-n));
		return;
	}
	memcpy(d->sent, d->want, sizeof(d->sent));
	d->nsent = d->nwant;
	d->dirty = false;
	d->inflight = true;
	d->deadline = now_ms(d) + DDNS_TIMEOUT_MS;
	int r = d->env.send(d->env.arg, &d->cfg.server, buf, (size_t)n);
	if (r < 0)
		fail(d, false, "cannot send: %s", strerror(-r));
}

int ddns_tick(struct ddns *d)
{
	uint64_t now = now_ms(d);

	if (d->inflight && now >= d->deadline)
		fail(d, false, "no answer");
	if (!d->inflight && d->dirty && now >= d->due)
		send_update(d);
	uint64_t next = d->inflight ? d->deadline : d->dirty ? d->due : UINT64_MAX;
	now = now_ms(d);
	return next == UINT64_MAX ? -1 : next > now ? (int)(next - now) : 0;
}

static void published(struct ddns *d)
{
	char list[DDNS_ADDRS_MAX * (ADDR_STRLEN + 1)] = "", b[ADDR_STRLEN];

	memcpy(d->pub, d->sent, sizeof(d->pub));
	d->npub = d->nsent;
	d->have_pub = true;
	d->inflight = false;
	d->updates++;
	d->last_ok_ms = now_ms(d);
	d->backoff_ms = DDNS_BACKOFF_MIN_MS;
	d->refused = false;
	d->failing_since = 0;
	d->logged[0] = '\0';
	snprintf(d->result, sizeof(d->result), "NOERROR");
	d->state = d->dirty ? DDNS_PENDING : DDNS_OK;
	for (size_t i = 0; i < d->npub; i++) {
		strcat(list, i ? " " : "");
		strcat(list, addr_fmt(&d->pub[i], b));
	}
	log_info("ddns: %s now %s", d->cfg.name, d->npub ? list : "has no address records");
	if (d->dirty)
		d->due = now_ms(d);	/* it changed meanwhile */
}

void ddns_input(struct ddns *d, const uint8_t *buf, size_t len, const struct dime_addr *src, uint16_t port)
{
	struct dns_answer a;
	char rc[16], te[16];
	uint16_t tsig_error = 0;

	int p = -1;
	if (!d->inflight || !addr_eq(src, &d->cfg.server.addr) || port != d->cfg.server.port ||
	    (p = dns_parse_answer(buf, len, NULL, 0, &a)) < 0 || a.id != d->id || !a.qr ||
	    a.opcode != DNS_OPCODE_UPDATE) {
		log_debug("ddns: %zu octets ignored (%s)", len, !d->inflight ? "nothing in flight" :
			  p == -1 ? "not from the server" : p < 0 ? strerror(-p) : "not the answer to our update");
		return;
	}
	int v = dns_tsig_verify(buf, len, &d->key, d->mac, d->mac_len, d->env.wall_s(d->env.arg), &tsig_error);
	if (v < 0)
		log_debug("ddns: %s answer, its TSIG: %s", dns_rcode_name(a.rcode, rc), strerror(-v));
	if (a.rcode == DNS_NOERROR) {
		if (v == 0) {
			published(d);
			return;
		}
		/* Success claimed without our key's signature: not the
		 * server's word. The real answer may still come. */
		d->forged++;
		if (v != -ETIME)
			return;
		fail(d, false, "the server's clock is off by more than %u s (TSIG BADTIME)", DNS_TSIG_FUDGE);
		return;
	}
	if (v == -EKEYREJECTED && tsig_error)
		fail(d, true, "%s (TSIG error %s: check key-name, algorithm and secret-file)",
		     dns_rcode_name(a.rcode, rc), dns_rcode_name(tsig_error, te));
	else
		fail(d, a.rcode == DNS_REFUSED || a.rcode == DNS_NOTAUTH || a.rcode == DNS_NOTZONE,
		     "%s%s", dns_rcode_name(a.rcode, rc), v == 0 ? "" : " (unsigned answer)");
}

void ddns_show(const struct ddns *d, struct out *o)
{
	static const char *const names[] = { "pending", "ok", "failing" };
	char b[ADDR_STRLEN];

	out_obj_begin(o, "ddns");
	out_str(o, "name", d->cfg.name);
	out_str(o, "server", addr_fmt(&d->cfg.server.addr, b));
	out_str(o, "state", names[d->state]);
	out_str(o, "result", d->result);
	out_arr_begin(o, "published");
	for (size_t i = 0; i < d->npub; i++)
		out_str(o, NULL, addr_fmt(&d->pub[i], b));
	out_arr_end(o);
	if (d->have_pub)
		out_u64(o, "last_update_s", (now_ms(d) - d->last_ok_ms) / 1000);
	out_u64(o, "updates", d->updates);
	out_u64(o, "failures", d->failures);
	out_u64(o, "forged_answers", d->forged);
	out_obj_end(o);
}
