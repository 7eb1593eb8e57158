#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"
#include "ihmp_wire.h"
#include "wbuf.h"

/*
 * Reads check "end - p < need" with p <= end before touching a byte; the
 * whole message is at most IHMP_MAX_MSG bytes, so no offset can wrap.
 * Writes go through struct wbuf, which stops at cap.
 */

#define FAM_IPV4	1	/* IANA Address Family Numbers */
#define FAM_IPV6	2

#define H(t)		IHMP_HAS(IHMP_T_##t)
#define ALL_TLVS	(H(ADDRS) | H(NEW_ADDR) | H(OLD_ADDR) | H(ECHO) | \
			 H(NAT_MAP) | H(COUNTER) | H(PUBKEY) | H(KEY_ROTATE) | \
			 H(NONCE) | H(NONCE_ECHO) | H(SIGNATURE) | H(OBSERVED))
/* Any message but an ACK may be signed, counted and carry a nonce. */
#define COMMON		(H(COUNTER) | H(NONCE) | H(SIGNATURE))

static const struct {
	const char *name;
	uint32_t req, opt;
} types[IHMP_TYPE_MAX + 1] = {
	[IHMP_HELLO] = { "HELLO", H(ADDRS), COMMON | H(PUBKEY) | H(KEY_ROTATE) | H(NONCE_ECHO) },
	[IHMP_PATH_PROBE] = { "PATH_PROBE", 0, COMMON },
	[IHMP_ADDR_UP] = { "ADDR_UP", H(NEW_ADDR), COMMON },
	[IHMP_ADDR_UP_UNREACHABLE] = { "ADDR_UP_UNREACHABLE", H(NEW_ADDR), COMMON },
	[IHMP_ADDR_DOWN] = { "ADDR_DOWN", H(OLD_ADDR), COMMON },
	[IHMP_ADDR_DOWN_UNREACHABLE] = { "ADDR_DOWN_UNREACHABLE", H(OLD_ADDR), COMMON },
	[IHMP_HANDOFF] = { "HANDOFF", H(NEW_ADDR) | H(OLD_ADDR), COMMON },
	[IHMP_HANDOFF_UNREACHABLE] = { "HANDOFF_UNREACHABLE", H(NEW_ADDR) | H(OLD_ADDR), COMMON },
	[IHMP_ACK] = { "ACK", H(ECHO), H(ADDRS) | H(PUBKEY) | H(COUNTER) |
		       H(NONCE) | H(NONCE_ECHO) | H(OBSERVED) | H(SIGNATURE) },
	[IHMP_NAT_ENTRY] = { "NAT_ENTRY", H(NAT_MAP), COMMON },
};

static int type_known(uint8_t t)
{
	return t >= 1 && t <= IHMP_TYPE_MAX;
}

const char *ihmp_type_name(uint8_t type)
{
	return type_known(type) ? types[type].name : "?";
}

void ihmp_msg_init(struct ihmp_msg *m, uint8_t type, const struct dime_addr *host_id)
{
	memset(m, 0, sizeof(*m));
	m->version = IHMP_VERSION;
	m->type = type;
	if (host_id)
		m->host_id = *host_id;
}

/* ---- encoding ---- */

static int addr_ok(const struct dime_addr *a)
{
	static const uint8_t zero[12];

	if (a->af == AF_INET6)
		return 1;
	return a->af == AF_INET && !memcmp(a->a + 4, zero, sizeof(zero));
}

static size_t waddr_len(const struct dime_addr *a)
{
	return 1 + addr_len(a);
}

/* Family-tagged address: family code, then 4 or 16 octets. */
static void put_addr(struct wbuf *w, const struct dime_addr *a)
{
	put8(w, a->af == AF_INET ? FAM_IPV4 : FAM_IPV6);
	put(w, a->a, addr_len(a));
}

static void put_tlv(struct wbuf *w, uint8_t t, size_t n)
{
	put8(w, t);
	put8(w, (uint8_t)n);
}

/* A NAME value: a domain name, presentation form, no final dot. */
static bool name_ok(const char *v, size_t n)
{
	char buf[IHMP_NAME_MAX + 1];

	if (!v || n == 0 || n > IHMP_NAME_MAX || v[n - 1] == '.' || memchr(v, 0, n))
		return false;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return dns_name_check(buf) == 0;
}

static int msg_valid(const struct ihmp_msg *m)
{
	if (m->version != IHMP_VERSION || !type_known(m->type))
		return 0;
	uint32_t req = types[m->type].req, opt = types[m->type].opt;
	if ((m->has & req) != req || (m->has & ~(req | opt)))
		return 0;
	if ((m->has & H(SIGNATURE)) && !(m->has & H(COUNTER)))
		return 0;
	if (!addr_ok(&m->host_id))
		return 0;
	if (m->has & H(ADDRS)) {
		if (m->naddrs > IHMP_MAX_ADDRS)
			return 0;
		for (unsigned i = 0; i < m->naddrs; i++)
			if (!addr_ok(&m->addrs[i]))
				return 0;
	}
	if ((m->has & H(NEW_ADDR)) && !addr_ok(&m->new_addr))
		return 0;
	if ((m->has & H(OLD_ADDR)) && !addr_ok(&m->old_addr))
		return 0;
	if ((m->has & H(ECHO)) && (!type_known(m->echo_type) || m->echo_type == IHMP_ACK))
		return 0;
	if ((m->has & H(OBSERVED)) && !addr_ok(&m->observed))
		return 0;
	if ((m->has & H(NAT_MAP)) &&
	    (!addr_ok(&m->nat.int_addr) || !addr_ok(&m->nat.ext_addr)))
		return 0;
	if (m->name_len && (!name_ok(m->name, m->name_len) || (m->type != IHMP_HELLO && m->type != IHMP_ACK)))
		return 0;
	return 1;
}

int ihmp_encode(const struct ihmp_msg *m, uint8_t *buf, size_t cap)
{
	struct wbuf w = { .p = buf, .cap = cap };

	if (!msg_valid(m))
		return -EINVAL;

	put8(&w, m->version);
	put8(&w, m->type);
	put16(&w, m->flags);
	put16(&w, m->seq);
	put8(&w, m->host_id.af == AF_INET ? FAM_IPV4 : FAM_IPV6);
	put8(&w, (uint8_t)addr_len(&m->host_id));
	put(&w, m->host_id.a, addr_len(&m->host_id));

	if (m->has & H(ADDRS)) {
		size_t n = 0;
		for (unsigned i = 0; i < m->naddrs; i++)
			n += waddr_len(&m->addrs[i]);
		put_tlv(&w, IHMP_T_ADDRS, n);
		for (unsigned i = 0; i < m->naddrs; i++)
			put_addr(&w, &m->addrs[i]);
	}
	if (m->has & H(NEW_ADDR)) {
		put_tlv(&w, IHMP_T_NEW_ADDR, waddr_len(&m->new_addr));
		put_addr(&w, &m->new_addr);
	}
	if (m->has & H(OLD_ADDR)) {
		put_tlv(&w, IHMP_T_OLD_ADDR, waddr_len(&m->old_addr));
		put_addr(&w, &m->old_addr);
	}
	if (m->has & H(ECHO)) {
		put_tlv(&w, IHMP_T_ECHO, 1);
		put8(&w, m->echo_type);
	}
	if (m->has & H(NAT_MAP)) {
		put_tlv(&w, IHMP_T_NAT_MAP, 5 + waddr_len(&m->nat.int_addr) +
			waddr_len(&m->nat.ext_addr));
		put8(&w, m->nat.proto);
		put16(&w, m->nat.int_port);
		put16(&w, m->nat.ext_port);
		put_addr(&w, &m->nat.int_addr);
		put_addr(&w, &m->nat.ext_addr);
	}
	if (m->has & H(COUNTER)) {
		put_tlv(&w, IHMP_T_COUNTER, 8);
		for (int s = 56; s >= 0; s -= 8)
			put8(&w, (uint8_t)(m->counter >> s));
	}
	if (m->has & H(PUBKEY)) {
		put_tlv(&w, IHMP_T_PUBKEY, IHMP_KEY_LEN);
		put(&w, m->pubkey, IHMP_KEY_LEN);
	}
	if (m->has & H(KEY_ROTATE)) {
		put_tlv(&w, IHMP_T_KEY_ROTATE, IHMP_KEY_LEN + IHMP_SIG_LEN);
		put(&w, m->rot_pubkey, IHMP_KEY_LEN);
		put(&w, m->rot_proof, IHMP_SIG_LEN);
	}
	if (m->has & H(NONCE)) {
		put_tlv(&w, IHMP_T_NONCE, IHMP_NONCE_LEN);
		put(&w, m->nonce, IHMP_NONCE_LEN);
	}
	if (m->has & H(NONCE_ECHO)) {
		put_tlv(&w, IHMP_T_NONCE_ECHO, IHMP_NONCE_LEN);
		put(&w, m->nonce_echo, IHMP_NONCE_LEN);
	}
	if (m->has & H(OBSERVED)) {
		put_tlv(&w, IHMP_T_OBSERVED, waddr_len(&m->observed) + 2);
		put_addr(&w, &m->observed);
		put16(&w, m->observed_port);
	}
	if (m->name_len) {
		put_tlv(&w, IHMP_T_NAME, m->name_len);
		put(&w, m->name, m->name_len);
	}
	if (m->has & H(SIGNATURE)) {
		put_tlv(&w, IHMP_T_SIGNATURE, IHMP_SIG_LEN);
		put(&w, m->sig, IHMP_SIG_LEN);
	}
	if (w.err)
		return w.err;
	/* Unreachable with today's TLVs (about 600 bytes at most), but the
	 * limit is the spec's, not an accident of the TLV set. */
	if (w.len > IHMP_MAX_MSG)
		return -EINVAL;
	return (int)w.len;
}

/* ---- decoding ---- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* One family-tagged address at v[*i], within n bytes. */
static int get_addr(struct dime_addr *a, const uint8_t *v, size_t n, size_t *i)
{
	size_t l;

	if (n - *i < 1)
		return -EBADMSG;
	if (v[*i] == FAM_IPV4)
		l = 4;
	else if (v[*i] == FAM_IPV6)
		l = 16;
	else
		return -EBADMSG;
	if (n - *i - 1 < l)
		return -EBADMSG;
	memset(a, 0, sizeof(*a));
	a->af = l == 4 ? AF_INET : AF_INET6;
	memcpy(a->a, v + *i + 1, l);
	*i += 1 + l;
	return 0;
}

/* A value holding exactly one address. */
static int get_one_addr(struct dime_addr *a, const uint8_t *v, size_t n)
{
	size_t i = 0;

	if (get_addr(a, v, n, &i) < 0 || i != n)
		return -EBADMSG;
	return 0;
}

static int get_tlv(struct ihmp_msg *m, uint8_t t, const uint8_t *v, size_t n)
{
	size_t i = 0;

	switch (t) {
	case IHMP_T_ADDRS:
		while (i < n) {
			if (m->naddrs == IHMP_MAX_ADDRS)
				return -EBADMSG;
			if (get_addr(&m->addrs[m->naddrs], v, n, &i) < 0)
				return -EBADMSG;
			m->naddrs++;
		}
		return 0;
	case IHMP_T_NEW_ADDR:
		return get_one_addr(&m->new_addr, v, n);
	case IHMP_T_OLD_ADDR:
		return get_one_addr(&m->old_addr, v, n);
	case IHMP_T_ECHO:
		if (n != 1 || !type_known(v[0]) || v[0] == IHMP_ACK)
			return -EBADMSG;
		m->echo_type = v[0];
		return 0;
	case IHMP_T_NAT_MAP:
		if (n < 5)
			return -EBADMSG;
		m->nat.proto = v[0];
		m->nat.int_port = get16(v + 1);
		m->nat.ext_port = get16(v + 3);
		i = 5;
		if (get_addr(&m->nat.int_addr, v, n, &i) < 0 ||
		    get_addr(&m->nat.ext_addr, v, n, &i) < 0 || i != n)
			return -EBADMSG;
		return 0;
	case IHMP_T_COUNTER:
		if (n != 8)
			return -EBADMSG;
		for (i = 0; i < 8; i++)
			m->counter = m->counter << 8 | v[i];
		return 0;
	case IHMP_T_PUBKEY:
		if (n != IHMP_KEY_LEN)
			return -EBADMSG;
		memcpy(m->pubkey, v, n);
		return 0;
	case IHMP_T_KEY_ROTATE:
		if (n != IHMP_KEY_LEN + IHMP_SIG_LEN)
			return -EBADMSG;
		memcpy(m->rot_pubkey, v, IHMP_KEY_LEN);
		memcpy(m->rot_proof, v + IHMP_KEY_LEN, IHMP_SIG_LEN);
		return 0;
	case IHMP_T_NONCE:
		if (n != IHMP_NONCE_LEN)
			return -EBADMSG;
		memcpy(m->nonce, v, n);
		return 0;
	case IHMP_T_NONCE_ECHO:
		if (n != IHMP_NONCE_LEN)
			return -EBADMSG;
		memcpy(m->nonce_echo, v, n);
		return 0;
	case IHMP_T_OBSERVED:
		if (get_addr(&m->observed, v, n, &i) < 0 || n - i != 2)
			return -EBADMSG;
		m->observed_port = get16(v + i);
		return 0;
	case IHMP_T_SIGNATURE:
		if (n != IHMP_SIG_LEN)
			return -EBADMSG;
		memcpy(m->sig, v, n);
		return 0;
	}
	return -EOPNOTSUPP;
}

int ihmp_decode(struct ihmp_msg *m, const uint8_t *buf, size_t len)
{
	memset(m, 0, sizeof(*m));
	if (len > IHMP_MAX_MSG)
		return -E2BIG;
	/* The version comes first: another version may have another
	 * layout, even another length. */
	if (len < 1)
		return -EBADMSG;
	if (buf[0] != IHMP_VERSION)
		return -EPROTONOSUPPORT;
	if (len < IHMP_HDR_LEN)
		return -EBADMSG;
	m->version = buf[0];
	m->type = buf[1];
	m->flags = get16(buf + 2);
	m->seq = get16(buf + 4);
	if (!type_known(m->type))
		return -EOPNOTSUPP;

	size_t hl;
	if (buf[6] == FAM_IPV4 && buf[7] == 4)
		hl = 4;
	else if (buf[6] == FAM_IPV6 && buf[7] == 16)
		hl = 16;
	else
		return -EBADMSG;
	if (len - IHMP_HDR_LEN < hl)
		return -EBADMSG;
	addr_set(&m->host_id, hl == 4 ? AF_INET : AF_INET6, buf + IHMP_HDR_LEN);

	uint32_t allowed = types[m->type].req | types[m->type].opt;
	size_t p = IHMP_HDR_LEN + hl;
	while (p < len) {
		if (m->has & H(SIGNATURE))
			return -EBADMSG;	/* the signature must be last */
		if (len - p < 2 || len - p - 2 < buf[p + 1])
			return -EBADMSG;
		uint8_t t = buf[p];
		size_t n = buf[p + 1];
		const uint8_t *v = buf + p + 2;

		if (t < IHMP_T_SKIPPABLE && t < 32 && (ALL_TLVS & IHMP_HAS(t))) {
			if (m->has & IHMP_HAS(t))
				return -EBADMSG;	/* duplicate */
			if (!(allowed & IHMP_HAS(t)))
				return -EBADMSG;
			int err = get_tlv(m, t, v, n);
			if (err < 0)
				return err;
			m->has |= IHMP_HAS(t);
			if (t == IHMP_T_SIGNATURE) {
				m->signed_len = (uint16_t)p;
				m->sig_off = (uint16_t)(p + 2);
			}
		} else if (t < IHMP_T_SKIPPABLE) {
			return -EOPNOTSUPP;
		} else if (t == IHMP_T_NAME && (m->type == IHMP_HELLO || m->type == IHMP_ACK)) {
			if (m->name_len || !name_ok((const char *)v, n))
				return -EBADMSG;	/* twice, or not a name */
			m->name = (const char *)v;
			m->name_len = (uint8_t)n;
		}
		p += 2 + n;
	}

	uint32_t req = types[m->type].req;
	if ((m->has & req) != req)
		return -ENOMSG;
	if ((m->has & H(SIGNATURE)) && !(m->has & H(COUNTER)))
		return -ENOMSG;
	return 0;
}

bool ihmp_msg_equal(const struct ihmp_msg *x, const struct ihmp_msg *y)
{
	uint32_t h = x->has;

	if (x->version != y->version || x->type != y->type || x->flags != y->flags ||
	    x->seq != y->seq || !addr_eq(&x->host_id, &y->host_id) || h != y->has)
		return false;
	if (h & H(ADDRS)) {
		if (x->naddrs != y->naddrs)
			return false;
		for (unsigned i = 0; i < x->naddrs && i < IHMP_MAX_ADDRS; i++)
			if (!addr_eq(&x->addrs[i], &y->addrs[i]))
				return false;
	}
	if ((h & H(NEW_ADDR)) && !addr_eq(&x->new_addr, &y->new_addr))
		return false;
	if ((h & H(OLD_ADDR)) && !addr_eq(&x->old_addr, &y->old_addr))
		return false;
	if ((h & H(ECHO)) && x->echo_type != y->echo_type)
		return false;
	if ((h & H(NAT_MAP)) &&
	    (x->nat.proto != y->nat.proto || x->nat.int_port != y->nat.int_port ||
	     x->nat.ext_port != y->nat.ext_port ||
	     !addr_eq(&x->nat.int_addr, &y->nat.int_addr) ||
	     !addr_eq(&x->nat.ext_addr, &y->nat.ext_addr)))
		return false;
	if ((h & H(COUNTER)) && x->counter != y->counter)
		return false;
	if ((h & H(PUBKEY)) && memcmp(x->pubkey, y->pubkey, IHMP_KEY_LEN))
		return false;
	if ((h & H(KEY_ROTATE)) &&
	    (memcmp(x->rot_pubkey, y->rot_pubkey, IHMP_KEY_LEN) ||
	     memcmp(x->rot_proof, y->rot_proof, IHMP_SIG_LEN)))
		return false;
	if ((h & H(NONCE)) && memcmp(x->nonce, y->nonce, IHMP_NONCE_LEN))
		return false;
	if ((h & H(NONCE_ECHO)) && memcmp(x->nonce_echo, y->nonce_echo, IHMP_NONCE_LEN))
		return false;
	if ((h & H(OBSERVED)) &&
	    (!addr_eq(&x->observed, &y->observed) || x->observed_port != y->observed_port))
		return false;
	if ((h & H(SIGNATURE)) && memcmp(x->sig, y->sig, IHMP_SIG_LEN))
		return false;
	if (x->name_len != y->name_len || (x->name_len && memcmp(x->name, y->name, x->name_len)))
		return false;
	return true;
}

/* ---- signatures ---- */

int ihmp_signed_span(const uint8_t *buf, size_t len, size_t *sig_off, size_t *signed_len)
{
	struct ihmp_msg m;
	int err = ihmp_decode(&m, buf, len);

	if (err < 0)
		return err;
	if (!(m.has & H(SIGNATURE)))
		return -ENOENT;
	*sig_off = m.sig_off;
	*signed_len = m.signed_len;
	return 0;
}

int ihmp_sig_input(uint8_t *out, size_t cap, const uint8_t *buf, size_t signed_len)
{
	if (signed_len > IHMP_MAX_MSG || cap < IHMP_SIG_CONTEXT_LEN + signed_len)
		return -ENOSPC;
	memcpy(out, IHMP_SIG_CONTEXT, IHMP_SIG_CONTEXT_LEN);
	memcpy(out + IHMP_SIG_CONTEXT_LEN, buf, signed_len);
	return (int)(IHMP_SIG_CONTEXT_LEN + signed_len);
}

int ihmp_append_sig(uint8_t *buf, size_t len, size_t cap, const uint8_t sig[IHMP_SIG_LEN])
{
	struct ihmp_msg m;
	int err = ihmp_decode(&m, buf, len);

	if (err < 0)
		return err;
	if (m.has & H(SIGNATURE))
		return -EEXIST;
	if (!(m.has & H(COUNTER)))
		return -ENOMSG;
	if (len + 2 + IHMP_SIG_LEN > IHMP_MAX_MSG)
		return -E2BIG;
	if (cap < len + 2 + IHMP_SIG_LEN)
		return -ENOSPC;
	buf[len] = IHMP_T_SIGNATURE;
	buf[len + 1] = IHMP_SIG_LEN;
	memcpy(buf + len + 2, sig, IHMP_SIG_LEN);
	return (int)(len + 2 + IHMP_SIG_LEN);
}
