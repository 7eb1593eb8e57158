/*
 * The DNS codec (include/dns.h). Reads check the octets left before
 * touching one, against a length that is never past the input. Names are
 * handled in their uncompressed, lowercased wire form (255 octets at most):
 * a name read from a message follows compression pointers only to offsets
 * before the labels that led to it, so no loop can be built, and the jumps
 * are bounded anyway. Writes go through struct wbuf, which stops at cap.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <sodium.h>

#include "dns.h"
#include "wbuf.h"

#define HDR_LEN		12
#define NAME_WIRE_MAX	255
#define PTR_MAX		127	/* one per label of a 255-octet name */
#define CHAIN_MAX	8	/* CNAME links followed */
#define CLASS_IN	1
#define ALG_WIRE_LEN	13	/* "\013hmac-shaNNN\0" */
#define MSG_WIRE_MAX	65535

static const struct {
	const char *name;
	uint8_t wire[ALG_WIRE_LEN];
	size_t mac_len;
} algs[] = {
	[DNS_HMAC_SHA256] = { "hmac-sha256", "\013hmac-sha256", crypto_auth_hmacsha256_BYTES },
	[DNS_HMAC_SHA512] = { "hmac-sha512", "\013hmac-sha512", crypto_auth_hmacsha512_BYTES },
};

static bool alg_known(enum dns_tsig_alg alg)
{
	return alg == DNS_HMAC_SHA256 || alg == DNS_HMAC_SHA512;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* ASCII only: a locale must not change what a name is. */
static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 'a' - 'A') : c;
}

/* ---- names ---- */

static bool name_char(char c)
{
	return c > ' ' && c < 0x7f && !strchr("\"\\();", c);
}

/* Presentation to wire form, lowercased; its length, or -EINVAL. */
static int name_wire(const char *s, uint8_t out[NAME_WIRE_MAX])
{
	size_t len = strnlen(s, NAME_WIRE_MAX), n = 1, lab = 0;

	if (len && s[len - 1] == '.')
		len--;
	if (!len || len > NAME_WIRE_MAX - 2)
		return -EINVAL;
	out[0] = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (!out[lab])
				return -EINVAL;
			lab = n;
			out[n++] = 0;
		} else if (!name_char(s[i]) || out[lab] == 63) {
			return -EINVAL;
		} else {
			out[n++] = lower((uint8_t)s[i]);
			out[lab]++;
		}
	}
	if (!out[lab])
		return -EINVAL;
	out[n++] = 0;
	return (int)n;
}

/* Where zone starts in name (both wire form), at a label; -1 if not in it. */
static int zone_suffix(const uint8_t *n, size_t nlen, const uint8_t *z, size_t zlen)
{
	for (size_t o = 0; o < nlen && nlen - o >= zlen; o += 1u + n[o])
		if (nlen - o == zlen && !memcmp(n + o, z, zlen))
			return (int)o;
	return -1;
}

int dns_name_check(const char *name)
{
	uint8_t w[NAME_WIRE_MAX];

	return name_wire(name, w) < 0 ? -EINVAL : 0;
}

bool dns_name_in_zone(const char *name, const char *zone)
{
	uint8_t n[NAME_WIRE_MAX], z[NAME_WIRE_MAX];
	int nl = name_wire(name, n), zl = name_wire(zone, z);

	return nl > 0 && zl > 0 && zone_suffix(n, (size_t)nl, z, (size_t)zl) >= 0;
}

/*
 * The name at *off of the message m (len octets), uncompressed and
 * lowercased into out; *off moves past it where it stands. A pointer must
 * go before the labels that led to it, and past the header.
 */
static int name_read(const uint8_t *m, size_t len, size_t *off, uint8_t out[NAME_WIRE_MAX], size_t *outlen)
{
	size_t p = *off, floor = *off, n = 0, end = 0;
	unsigned jumps = 0;

	for (;;) {
		if (p >= len)
			return -EBADMSG;
		uint8_t l = m[p];
		if ((l & 0xc0) == 0xc0) {
			if (len - p < 2)
				return -EBADMSG;
			size_t to = (size_t)(l & 0x3f) << 8 | m[p + 1];
			if (to < HDR_LEN || to >= floor || ++jumps > PTR_MAX)
				return -EBADMSG;
			if (!end)
				end = p + 2;
			p = floor = to;
			continue;
		}
		/* 0x40 and 0x80 are extended and binary labels: gone. */
		if (l & 0xc0 || n + l + (l ? 2u : 1u) > NAME_WIRE_MAX || len - p < 1u + l)
			return -EBADMSG;
		out[n++] = l;
		for (size_t i = 1; i <= l; i++)
			out[n++] = lower(m[p + i]);
		p += 1u + l;
		if (!l)
			break;
	}
	*off = end ? end : p;
	*outlen = n;
	return 0;
}

static bool name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && !memcmp(a, b, alen);
}

/* ---- records ---- */

struct rr {
	uint8_t owner[NAME_WIRE_MAX];
	size_t owner_len;
	uint16_t type, class;
	uint32_t ttl;
	size_t rdata;
	uint16_t rdlen;
};

static int question_read(const uint8_t *m, size_t len, size_t *off, struct rr *r)
{
	int err = name_read(m, len, off, r->owner, &r->owner_len);
	if (err)
		return err;
	if (len - *off < 4)
		return -EBADMSG;
	r->type = get16(m + *off);
	r->class = get16(m + *off + 2);
	*off += 4;
	return 0;
}

static int rr_read(const uint8_t *m, size_t len, size_t *off, struct rr *r)
{
	int err = question_read(m, len, off, r);
	if (err)
		return err;
	if (len - *off < 6)
		return -EBADMSG;
	r->ttl = get32(m + *off);
	r->rdlen = get16(m + *off + 4);
	*off += 6;
	if (len - *off < r->rdlen)
		return -EBADMSG;
	r->rdata = *off;
	*off += r->rdlen;
	return 0;
}

static unsigned rr_count(const uint8_t *m)
{
	return (unsigned)get16(m + 6) + get16(m + 8) + get16(m + 10);
}

/*
 * The whole message well-formed: a header, every question and record
 * within it, nothing after them, and a TSIG record, if any, only last and
 * in the additional section. *last gets where the last record starts (0 if
 * none).
 */
static int msg_walk(const uint8_t *m, size_t len, size_t *last)
{
	struct rr r;
	size_t off = HDR_LEN;
	unsigned n;
	int err;

	*last = 0;
	if (len < HDR_LEN || len > MSG_WIRE_MAX)
		return -EBADMSG;
	n = rr_count(m);
	for (unsigned i = 0; i < get16(m + 4); i++)
		if ((err = question_read(m, len, &off, &r)))
			return err;
	for (unsigned i = 0; i < n; i++) {
		*last = off;
		if ((err = rr_read(m, len, &off, &r)))
			return err;
		if (r.type == DNS_TYPE_TSIG && (i + 1 < n || !get16(m + 10)))
			return -EBADMSG;
	}
	return off == len ? 0 : -EBADMSG;
}

/* ---- building ---- */

static size_t msg_cap(size_t cap)
{
	return cap < DNS_MSG_MAX ? cap : DNS_MSG_MAX;
}

static void put_header(struct wbuf *w, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns)
{
	put16(w, id);
	put16(w, flags);
	put16(w, qd);
	put16(w, an);
	put16(w, ns);
	put16(w, 0);
}


static void put_ptr(struct wbuf *w, size_t off)
{
	put16(w, (uint16_t)(0xc000 | off));
}

/* The type, class, TTL and RDLENGTH after an owner name. */
static void put_rr_tail(struct wbuf *w, uint16_t type, uint16_t class, uint32_t ttl, uint16_t rdlen)
{
	put16(w, type);
	put16(w, class);
	put32(w, ttl);
	put16(w, rdlen);
}

/* The owner of the update records: the first time its labels below the
 * zone and a pointer to the zone, then a pointer to that. */
static void put_owner(struct wbuf *w, const uint8_t *nw, size_t above, size_t *owner)
{
	if (*owner) {
		put_ptr(w, *owner);
		return;
	}
	*owner = above ? w->len : HDR_LEN;
	put(w, nw, above);
	put_ptr(w, HDR_LEN);
}

int dns_build_update(uint8_t *buf, size_t cap, uint16_t id, const char *zone, const char *name,
		     uint32_t ttl, const struct dime_addr *addrs, size_t n)
{
	struct wbuf w = { .p = buf, .cap = msg_cap(cap) };
	uint8_t zw[NAME_WIRE_MAX], nw[NAME_WIRE_MAX];
	int zl = name_wire(zone, zw), nl = name_wire(name, nw);
	int above = zl < 0 || nl < 0 ? -1 : zone_suffix(nw, (size_t)nl, zw, (size_t)zl);
	size_t owner = 0;

	if (above < 0 || n > UINT16_MAX - 2)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (addrs[i].af != AF_INET && addrs[i].af != AF_INET6)
			return -EINVAL;

	put_header(&w, id, DNS_OPCODE_UPDATE << 11, 1, 0, (uint16_t)(2 + n));
	put(&w, zw, (size_t)zl);
	put16(&w, DNS_TYPE_SOA);
	put16(&w, CLASS_IN);
	/* Delete an RRset: class ANY, TTL 0, no RDATA (RFC 2136 §2.5.2). */
	put_owner(&w, nw, (size_t)above, &owner);
	put_rr_tail(&w, DNS_TYPE_A, DNS_TYPE_ANY, 0, 0);
	put_owner(&w, nw, (size_t)above, &owner);
	put_rr_tail(&w, DNS_TYPE_AAAA, DNS_TYPE_ANY, 0, 0);
	for (size_t i = 0; i < n; i++) {
		size_t alen = addr_len(&addrs[i]);
		put_owner(&w, nw, (size_t)above, &owner);
		put_rr_tail(&w, alen == 4 ? DNS_TYPE_A : DNS_TYPE_AAAA, CLASS_IN, ttl, (uint16_t)alen);
		put(&w, addrs[i].a, alen);
	}
	return w.err ? w.err : (int)w.len;
}

int dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype)
{
	struct wbuf w = { .p = buf, .cap = msg_cap(cap) };
	uint8_t nw[NAME_WIRE_MAX];
	int nl = name_wire(name, nw);

	if (nl < 0)
		return -EINVAL;
	put_header(&w, id, 0x0100, 1, 0, 0);	/* RD */
	put(&w, nw, (size_t)nl);
	put16(&w, qtype);
	put16(&w, CLASS_IN);
	return w.err ? w.err : (int)w.len;
}

/* ---- TSIG ---- */

int dns_tsig_alg_parse(const char *s, enum dns_tsig_alg *alg)
{
	for (enum dns_tsig_alg a = DNS_HMAC_SHA256; a <= DNS_HMAC_SHA512; a++)
		if (!strcasecmp(s, algs[a].name)) {
			*alg = a;
			return 0;
		}
	return -EINVAL;
}

const char *dns_tsig_alg_name(enum dns_tsig_alg alg)
{
	return alg_known(alg) ? algs[alg].name : "?";
}

/* What a TSIG record holds, and what its MAC covers besides the message. */
struct tsig {
	uint8_t alg[NAME_WIRE_MAX];
	size_t alg_len;
	uint64_t time;
	uint16_t fudge, mac_len, orig_id, error, other_len;
	const uint8_t *mac, *other;
};

struct hmac {
	enum dns_tsig_alg alg;
	union {
		crypto_auth_hmacsha256_state s256;
		crypto_auth_hmacsha512_state s512;
	} u;
};

static void hmac_init(struct hmac *h, const struct dns_tsig_key *k)
{
	h->alg = k->alg;
	if (k->alg == DNS_HMAC_SHA256)
		crypto_auth_hmacsha256_init(&h->u.s256, k->secret, k->secret_len);
	else
		crypto_auth_hmacsha512_init(&h->u.s512, k->secret, k->secret_len);
}

static void hmac_update(struct hmac *h, const void *p, size_t n)
{
	if (h->alg == DNS_HMAC_SHA256)
		crypto_auth_hmacsha256_update(&h->u.s256, p, n);
	else
		crypto_auth_hmacsha512_update(&h->u.s512, p, n);
}

/* The state holds what the key was hashed into: wiped after. */
static void hmac_final(struct hmac *h, uint8_t mac[DNS_TSIG_MAC_MAX])
{
	if (h->alg == DNS_HMAC_SHA256)
		crypto_auth_hmacsha256_final(&h->u.s256, mac);
	else
		crypto_auth_hmacsha512_final(&h->u.s512, mac);
	sodium_memzero(h, sizeof(*h));
}

/* The TSIG variables (RFC 8945 §4.3.3), names in canonical form. */
static void hmac_tsig_vars(struct hmac *h, const uint8_t *kn, size_t kl, const struct tsig *t)
{
	static const uint8_t any_ttl0[6] = { 0, DNS_TYPE_ANY, 0, 0, 0, 0 };
	uint8_t v[12] = {
		(uint8_t)(t->time >> 40), (uint8_t)(t->time >> 32), (uint8_t)(t->time >> 24),
		(uint8_t)(t->time >> 16), (uint8_t)(t->time >> 8), (uint8_t)t->time,
		(uint8_t)(t->fudge >> 8), (uint8_t)t->fudge, (uint8_t)(t->error >> 8), (uint8_t)t->error,
		(uint8_t)(t->other_len >> 8), (uint8_t)t->other_len,
	};

	hmac_update(h, kn, kl);
	hmac_update(h, any_ttl0, sizeof(any_ttl0));
	hmac_update(h, t->alg, t->alg_len);
	hmac_update(h, v, sizeof(v));
	hmac_update(h, t->other, t->other_len);
}

static bool key_ok(const struct dns_tsig_key *k, uint8_t kn[NAME_WIRE_MAX], int *kl)
{
	*kl = name_wire(k->name, kn);
	return *kl > 0 && alg_known(k->alg) && k->secret_len <= DNS_TSIG_SECRET_MAX;
}

int dns_tsig_sign(uint8_t *buf, size_t len, size_t cap, const struct dns_tsig_key *k, uint64_t now_s,
		  uint8_t mac[DNS_TSIG_MAC_MAX], size_t *mac_len)
{
	struct wbuf w = { .p = buf, .len = len, .cap = msg_cap(cap) };
	uint8_t kn[NAME_WIRE_MAX];
	size_t last;
	int kl;

	if (!key_ok(k, kn, &kl) || now_s >> 48 || len > cap || msg_walk(buf, len, &last) || get16(buf + 10))
		return -EINVAL;
	size_t mlen = algs[k->alg].mac_len;
	size_t rdlen = ALG_WIRE_LEN + 10 + mlen + 6;
	if (len > w.cap || w.cap - len < (size_t)kl + 10 + rdlen)
		return -ENOSPC;

	struct tsig t = { .alg_len = ALG_WIRE_LEN, .time = now_s, .fudge = DNS_TSIG_FUDGE,
			  .orig_id = get16(buf), .other = (const uint8_t *)"" };
	memcpy(t.alg, algs[k->alg].wire, ALG_WIRE_LEN);
	struct hmac h;
	hmac_init(&h, k);
	hmac_update(&h, buf, len);
	hmac_tsig_vars(&h, kn, (size_t)kl, &t);
	hmac_final(&h, mac);
	*mac_len = mlen;

	put(&w, kn, (size_t)kl);
	put_rr_tail(&w, DNS_TYPE_TSIG, DNS_TYPE_ANY, 0, (uint16_t)rdlen);
	put(&w, t.alg, t.alg_len);
	put16(&w, (uint16_t)(now_s >> 32));
	put32(&w, (uint32_t)now_s);
	put16(&w, t.fudge);
	put16(&w, (uint16_t)mlen);
	put(&w, mac, mlen);
	put16(&w, t.orig_id);
	put16(&w, 0);		/* error */
	put16(&w, 0);		/* other len */
	if (w.err)
		return w.err;
	buf[11] = 1;		/* ARCOUNT: it was 0 */
	return (int)w.len;
}

/* The RDATA of a TSIG record (RFC 8945 §4.2), all of it and no more. */
static int tsig_read(const uint8_t *m, const struct rr *r, struct tsig *t)
{
	size_t off = r->rdata, end = r->rdata + r->rdlen;

	if (r->class != DNS_TYPE_ANY || r->ttl)
		return -EBADMSG;
	if (name_read(m, end, &off, t->alg, &t->alg_len) || end - off < 10)
		return -EBADMSG;
	t->time = (uint64_t)get16(m + off) << 32 | get32(m + off + 2);
	t->fudge = get16(m + off + 6);
	t->mac_len = get16(m + off + 8);
	off += 10;
	if (end - off < t->mac_len)
		return -EBADMSG;
	t->mac = m + off;
	off += t->mac_len;
	if (end - off < 6)
		return -EBADMSG;
	t->orig_id = get16(m + off);
	t->error = get16(m + off + 2);
	t->other_len = get16(m + off + 4);
	off += 6;
	if (end - off != t->other_len)
		return -EBADMSG;
	t->other = m + off;
	return 0;
}

/* The MAC of an answer (RFC 8945 §5.3.1): the request's MAC, the answer as
 * it was before the TSIG record was added, the variables. */
static void answer_mac(const uint8_t *buf, size_t tsig_off, const struct dns_tsig_key *k, const uint8_t *kn,
		       size_t kl, const uint8_t *req_mac, size_t req_mac_len, const struct tsig *t,
		       uint8_t mac[DNS_TSIG_MAC_MAX])
{
	uint8_t hdr[HDR_LEN], rl[2] = { (uint8_t)(req_mac_len >> 8), (uint8_t)req_mac_len };
	struct hmac h;

	memcpy(hdr, buf, HDR_LEN);
	hdr[0] = (uint8_t)(t->orig_id >> 8);
	hdr[1] = (uint8_t)t->orig_id;
	uint16_t ar = (uint16_t)(get16(buf + 10) - 1);
	hdr[10] = (uint8_t)(ar >> 8);
	hdr[11] = (uint8_t)ar;
	hmac_init(&h, k);
	if (req_mac_len) {
		hmac_update(&h, rl, sizeof(rl));
		hmac_update(&h, req_mac, req_mac_len);
	}
	hmac_update(&h, hdr, HDR_LEN);
	hmac_update(&h, buf + HDR_LEN, tsig_off - HDR_LEN);
	hmac_tsig_vars(&h, kn, kl, t);
	hmac_final(&h, mac);
}

int dns_tsig_verify(const uint8_t *buf, size_t len, const struct dns_tsig_key *k, const uint8_t *req_mac,
		    size_t req_mac_len, uint64_t now_s, uint16_t *tsig_error)
{
	uint8_t kn[NAME_WIRE_MAX], mac[DNS_TSIG_MAC_MAX];
	struct rr r;
	struct tsig t;
	size_t last, off;
	int kl, err;

	if ((err = msg_walk(buf, len, &last)))
		return err;
	off = last;
	if (!get16(buf + 10) || rr_read(buf, len, &off, &r) || r.type != DNS_TYPE_TSIG)
		return -ENOENT;
	if ((err = tsig_read(buf, &r, &t)))
		return err;
	if (tsig_error)
		*tsig_error = t.error;
	if (!key_ok(k, kn, &kl) || !name_eq(r.owner, r.owner_len, kn, (size_t)kl) ||
	    !name_eq(t.alg, t.alg_len, algs[k->alg].wire, ALG_WIRE_LEN))
		return -EKEYREJECTED;
	/* The server did not know the key or the MAC: it could not sign. */
	if (t.error == DNS_BADSIG || t.error == DNS_BADKEY)
		return -EKEYREJECTED;
	if (t.mac_len != algs[k->alg].mac_len)
		return -EBADE;
	answer_mac(buf, last, k, kn, (size_t)kl, req_mac, req_mac_len, &t, mac);
	err = sodium_memcmp(mac, t.mac, t.mac_len);
	sodium_memzero(mac, sizeof(mac));
	if (err)
		return -EBADE;
	/* A signed BADTIME has the server's time in other data; ours is off. */
	if (t.error == DNS_BADTIME)
		return -ETIME;
	if (t.error)
		return -EKEYREJECTED;
	if ((now_s > t.time ? now_s - t.time : t.time - now_s) > t.fudge)
		return -ETIME;
	return 0;
}

/* ---- key files ---- */

static const char ws[] = " \t\r\n";

/*
 * The secret's base64 in text, its length in *n: after the word "secret",
 * `"B64"` (BIND) or `: B64` (Knot's YAML, quoted or not); else the text is
 * the base64 alone, one word. NULL, with *why, if it is none of those.
 */
static const char *secret_find(const char *text, size_t *n, const char **why)
{
	for (const char *p = text; (p = strstr(p, "secret")); p += 6) {
		if (p > text && !strchr(" \t\r\n{;", p[-1]))
			continue;
		const char *q = p + 6 + strspn(p + 6, " \t");
		if (*q == ':')
			q += 1 + strspn(q + 1, " \t");
		else if (*q != '"')
			continue;
		if (*q != '"') {
			*n = strcspn(q, " \t\r\n#");
			return q;
		}
		const char *e = strchr(++q, '"');
		if (!e) {
			*why = "unterminated secret";
			return NULL;
		}
		*n = (size_t)(e - q);
		return q;
	}
	const char *q = text + strspn(text, ws);
	*n = strcspn(q, ws);
	if (q[*n + strspn(q + *n, ws)]) {
		*why = "no secret in it";
		return NULL;
	}
	return q;
}

int dns_tsig_secret_parse(const char *text, struct dns_tsig_key *k, char *err, size_t errlen)
{
	uint8_t bin[DNS_TSIG_SECRET_MAX + 3];	/* what one more base64 quantum holds */
	const char *why = NULL;
	size_t n = 0, out = 0;
	const char *b64 = secret_find(text, &n, &why);

	if (b64 && !n)
		why = "empty secret";
	else if (b64 && n > sodium_base64_ENCODED_LEN(sizeof(bin), sodium_base64_VARIANT_ORIGINAL) - 1)
		why = "secret longer than 128 octets";
	else if (b64 && (sodium_base642bin(bin, sizeof(bin), b64, n, NULL, &out, NULL,
					   sodium_base64_VARIANT_ORIGINAL) || !out))
		why = "secret is not base64";
	else if (b64 && out > DNS_TSIG_SECRET_MAX)
		why = "secret longer than 128 octets";
	sodium_memzero(k->secret, sizeof(k->secret));
	k->secret_len = 0;
	if (!why) {
		memcpy(k->secret, bin, out);
		k->secret_len = out;
	} else if (err && errlen) {
		snprintf(err, errlen, "%s", why);
	}
	sodium_memzero(bin, sizeof(bin));
	return why ? -EINVAL : 0;
}

/* ---- answers ---- */

/*
 * The names whose addresses answer qname: it, then each CNAME target in the
 * answer section from the last name found, CHAIN_MAX links at most.
 */
static int chain_follow(const uint8_t *m, size_t len, size_t an_off, unsigned an,
			uint8_t names[][NAME_WIRE_MAX], size_t *lens, size_t *n)
{
	struct rr r;
	bool grown = true;

	while (grown && *n <= CHAIN_MAX) {
		size_t off = an_off;
		grown = false;
		for (unsigned i = 0; i < an && *n <= CHAIN_MAX; i++) {
			if (rr_read(m, len, &off, &r))
				return -EBADMSG;
			if (r.type != DNS_TYPE_CNAME || r.class != CLASS_IN ||
			    !name_eq(r.owner, r.owner_len, names[*n - 1], lens[*n - 1]))
				continue;
			size_t t = r.rdata, end = r.rdata + r.rdlen;
			if (name_read(m, end, &t, names[*n], &lens[*n]) || t != end)
				return -EBADMSG;
			++*n;
			grown = true;
		}
	}
	return 0;
}

static bool owner_kept(const struct rr *r, uint8_t names[][NAME_WIRE_MAX], const size_t *lens, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (name_eq(r->owner, r->owner_len, names[i], lens[i]))
			return true;
	return false;
}

static void answer_add(struct dns_answer *a, const uint8_t *rdata, size_t rdlen, uint32_t ttl)
{
	if (ttl > INT32_MAX)	/* RFC 2181 §8 */
		ttl = 0;
	if (a->naddrs >= DNS_ANSWER_MAX)
		return;
	addr_set(&a->addrs[a->naddrs], rdlen == 4 ? AF_INET : AF_INET6, rdata);
	if (!a->naddrs++ || ttl < a->ttl)
		a->ttl = ttl;
}

static int answer_read(const uint8_t *buf, size_t len, const char *qname, uint16_t qtype,
		       struct dns_answer *a)
{
	uint8_t names[CHAIN_MAX + 1][NAME_WIRE_MAX];
	size_t lens[CHAIN_MAX + 1], n = 0, off = HDR_LEN, last;
	struct rr r;
	int l;

	if (msg_walk(buf, len, &last))
		return -EBADMSG;
	uint16_t flags = get16(buf + 2);
	a->id = get16(buf);
	a->qr = flags & 0x8000;
	a->opcode = (uint8_t)(flags >> 11 & 0xf);
	a->aa = flags & 0x0400;
	a->tc = flags & 0x0200;
	a->rcode = (uint8_t)(flags & 0xf);
	if (!a->qr)
		return -EBADMSG;

	unsigned qd = get16(buf + 4), an = get16(buf + 6);
	if (qname) {
		if (qd != 1 || (l = name_wire(qname, names[0])) < 0 || question_read(buf, len, &off, &r) ||
		    !name_eq(r.owner, r.owner_len, names[0], (size_t)l) || r.type != qtype ||
		    r.class != CLASS_IN)
			return -EBADMSG;
		lens[0] = (size_t)l;
		n = 1;
		if (chain_follow(buf, len, off, an, names, lens, &n))
			return -EBADMSG;
	} else {
		for (unsigned i = 0; i < qd; i++)
			if (question_read(buf, len, &off, &r))
				return -EBADMSG;
	}

	for (unsigned i = 0; i < an; i++) {
		if (rr_read(buf, len, &off, &r))
			return -EBADMSG;
		if ((r.type != DNS_TYPE_A && r.type != DNS_TYPE_AAAA) || r.class != CLASS_IN)
			continue;
		if (r.rdlen != (r.type == DNS_TYPE_A ? 4 : 16))
			return -EBADMSG;
		if (!qname || (r.type == qtype && owner_kept(&r, names, lens, n)))
			answer_add(a, buf + r.rdata, r.rdlen, r.ttl);
	}
	return 0;
}

int dns_parse_answer(const uint8_t *buf, size_t len, const char *qname, uint16_t qtype,
		     struct dns_answer *a)
{
	memset(a, 0, sizeof(*a));
	int err = answer_read(buf, len, qname, qtype, a);
	if (err) {
		/* Nothing of a malformed answer is used: not half its addresses. */
		a->naddrs = 0;
		a->ttl = 0;
	}
	return err;
}

const char *dns_rcode_name(unsigned rcode, char buf[16])
{
	static const char *const names[] = {
		[DNS_NOERROR] = "NOERROR", [DNS_FORMERR] = "FORMERR", [DNS_SERVFAIL] = "SERVFAIL",
		[DNS_NXDOMAIN] = "NXDOMAIN", [DNS_NOTIMP] = "NOTIMP", [DNS_REFUSED] = "REFUSED",
		[DNS_YXDOMAIN] = "YXDOMAIN", [DNS_YXRRSET] = "YXRRSET", [DNS_NXRRSET] = "NXRRSET",
		[DNS_NOTAUTH] = "NOTAUTH", [DNS_NOTZONE] = "NOTZONE", [DNS_BADSIG] = "BADSIG",
		[DNS_BADKEY] = "BADKEY", [DNS_BADTIME] = "BADTIME", [DNS_BADTRUNC] = "BADTRUNC",
	};

	if (rcode < sizeof(names) / sizeof(names[0]) && names[rcode])
		return names[rcode];
	snprintf(buf, 16, "RCODE%u", rcode);
	return buf;
}

/* ---- resolv.conf ---- */

static bool nameserver_line(char *line, struct dime_addr *a)
{
	char *save, *kw, *addr;

	line[strcspn(line, "#;")] = '\0';
	kw = strtok_r(line, ws, &save);
	addr = kw ? strtok_r(NULL, ws, &save) : NULL;
	if (!addr || strcmp(kw, "nameserver"))
		return false;
	addr[strcspn(addr, "%")] = '\0';
	return addr_parse(a, addr) == 0;
}

size_t dns_resolv_conf(FILE *f, struct dime_addr *out, size_t max)
{
	char line[512];
	size_t n = 0;
	bool rest = false;	/* of a line longer than the buffer: skipped */

	while (n < max && fgets(line, sizeof(line), f)) {
		bool whole = strchr(line, '\n') || feof(f);
		if (!rest && nameserver_line(line, &out[n]))
			n++;
		rest = !whole;
	}
	return n;
}
