/*
 * dimed.conf parser. Strict on purpose: a typo that was silently ignored
 * would leave the daemon running with a policy nobody wrote. Every problem
 * is one line, "FILE:LINE: KEY: reason", and nothing is applied unless the
 * whole file is good.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "ctl_proto.h"
#include "encap.h"
#include "rules.h"
#include "ihmp_wire.h"

#define CONFIG_WORDS_MAX	(CONFIG_LINE_MAX / 2 + 1)

typedef int config_set_fn(struct config *c, const char *key, char **w, size_t nw,
			  char *why, size_t n);

struct config_key {
	const char *name;
	bool list;		/* may repeat; each line appends */
	config_set_fn *set;
	/* A key that takes effect at a restart only: where its value lives
	 * (a reload keeps the running value and names the key). */
	size_t restart_off, restart_len;
};

#define RESTART(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

static int config_bad(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int config_bad(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->control_socket, sizeof(c->control_socket), "%s", CTL_DEFAULT_PATH);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", DIME_STATEDIR);
	c->queue = CONFIG_DEFAULT_QUEUE;
	c->port = IHMP_PORT;
	c->rules = CONFIG_RULES_AUTO;
	c->xt_mark = 0x10000000u;
	c->log_level = LOG_INFO;
	c->max_flows = 1048576;
	c->max_peers = 65536;
	c->udp_timeout = 180;
	c->nat_keepalive = 25;
	c->tcp_timeout = 7200;
	c->hello = CONFIG_HELLO_ALL;
	c->require_signatures = false;
	c->ddns.algorithm = DNS_HMAC_SHA256;
	c->ddns.ttl = 60;
	c->ddns.server.port = DNS_PORT;
}

void config_free(struct config *c)
{
	free(c->hello_allow);
	free(c->pins);
	free(c->local_key_prefixes);
	c->hello_allow = NULL;
	c->pins = NULL;
	c->local_key_prefixes = NULL;
	c->n_hello_allow = c->n_pins = c->n_local_key_prefixes = 0;
}

/* ---- values ---- */

static int config_one(const char *key, size_t nw, char *why, size_t n)
{
	if (nw != 1)
		return config_bad(why, n, "%s: expected one value, got %zu", key, nw);
	return 0;
}

/* Decimal digits only: strtoul would take signs, spaces and hex. */
static int config_uint(const char *key, const char *s, uint32_t min, uint32_t max,
		       uint32_t *out, char *why, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && v <= UINT32_MAX; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	if (i == 0 || s[i] != '\0' || v < min || v > max)
		return config_bad(why, n, "%s: expected a number from %u to %u, got \"%.64s\"",
				  key, min, max, s);
	*out = (uint32_t)v;
	return 0;
}

static int config_path(const char *key, const char *s, size_t size, char *why, size_t n)
{
	if (s[0] != '/')
		return config_bad(why, n, "%s: expected an absolute path, got \"%.64s\"", key, s);
	if (strlen(s) >= size)
		return config_bad(why, n, "%s: path longer than %zu bytes", key, size - 1);
	return 0;
}

static int config_bool(const char *key, const char *s, bool *out, char *why, size_t n)
{
	if (!strcmp(s, "yes"))
		*out = true;
	else if (!strcmp(s, "no"))
		*out = false;
	else
		return config_bad(why, n, "%s: expected yes or no, got \"%.64s\"", key, s);
	return 0;
}

/* "addr/len" with the host bits zero, so the canonical form is the input. */
static int config_prefix(const char *key, const char *s, struct config_prefix *p,
			 char *why, size_t n)
{
	const char *slash = strchr(s, '/');
	size_t digits = slash ? strspn(slash + 1, "0123456789") : 0;

	if (!slash || digits == 0 || digits > 3 || slash[1 + digits] != '\0' ||
	    addr_parse_prefix(&p->addr, &p->plen, s) < 0)
		return config_bad(why, n, "%s: expected a prefix like 198.18.0.0/15 or 2001:db8::/32, "
				  "got \"%.64s\"", key, s);
	for (unsigned i = p->plen; i < addr_len(&p->addr) * 8; i++)
		if (p->addr.a[i / 8] & (0x80 >> (i % 8)))
			return config_bad(why, n, "%s: \"%.64s\" has host bits set", key, s);
	return 0;
}

static bool config_prefix_eq(const struct config_prefix *x, const struct config_prefix *y)
{
	return x->plen == y->plen && addr_eq(&x->addr, &y->addr);
}

static const char config_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Exactly 32 bytes in canonical padded base64 (44 characters, one "="). */
static int config_key_decode(const char *s, uint8_t key[CONFIG_KEY_LEN])
{
	uint32_t acc = 0;
	unsigned bits = 0, o = 0;

	if (strlen(s) != 44 || s[43] != '=')
		return -EINVAL;
	for (size_t i = 0; i < 43; i++) {
		const char *p = s[i] ? strchr(config_b64, s[i]) : NULL;
		if (!p)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)(p - config_b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			key[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* The 43rd character carries 2 spare bits; non-zero ones mean a typo. */
	return (acc & ((1u << bits) - 1)) ? -EINVAL : 0;
}

static void config_key_encode(const uint8_t key[CONFIG_KEY_LEN], char out[45])
{
	uint32_t acc = 0;
	unsigned bits = 0, o = 0;

	for (size_t i = 0; i < CONFIG_KEY_LEN; i++) {
		acc = (acc << 8) | key[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = config_b64[(acc >> bits) & 63];
		}
	}
	out[o++] = config_b64[(acc << (6 - bits)) & 63];
	out[o++] = '=';
	out[o] = '\0';
}

/* Makes room for one more element; the list is untouched on failure. */
static void *config_push(void *list, size_t *count, size_t size, const char *key,
			 char *why, size_t n)
{
	if (*count >= CONFIG_LIST_MAX) {
		config_bad(why, n, "%s: more than %d entries", key, CONFIG_LIST_MAX);
		return NULL;
	}
	/* The capacity is implied by the count: 4, then doubling. */
	size_t c = *count;
	if (c && (c < 4 || (c & (c - 1))))
		return list;
	char *p = realloc(list, (c ? c * 2 : 4) * size);
	if (!p)
		config_bad(why, n, "%s: out of memory", key);
	return p;
}

/* ---- keys ---- */

static int set_control_socket(struct config *c, const char *key, char **w, size_t nw,
			      char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0 ||
	    config_path(key, w[0], sizeof(c->control_socket), why, n) < 0)
		return -EINVAL;
	/* Zero-filled: a reload compares the whole field (RESTART). */
	memset(c->control_socket, 0, sizeof(c->control_socket));
	memcpy(c->control_socket, w[0], strlen(w[0]));
	return 0;
}

static int set_state_dir(struct config *c, const char *key, char **w, size_t nw,
			 char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0 ||
	    config_path(key, w[0], sizeof(c->state_dir), why, n) < 0)
		return -EINVAL;
	/* Zero-filled: a reload compares the whole field (RESTART). */
	memset(c->state_dir, 0, sizeof(c->state_dir));
	memcpy(c->state_dir, w[0], strlen(w[0]));
	return 0;
}

static int set_queue(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	uint32_t v;

	if (config_one(key, nw, why, n) < 0 || config_uint(key, w[0], 0, 65535, &v, why, n) < 0)
		return -EINVAL;
	c->queue = (uint16_t)v;
	return 0;
}

static int set_port(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	uint32_t v;

	if (config_one(key, nw, why, n) < 0 || config_uint(key, w[0], 1024, 65535, &v, why, n) < 0)
		return -EINVAL;
	c->port = (uint16_t)v;
	return 0;
}

static int set_rules(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	if (!strcmp(w[0], "auto"))
		c->rules = CONFIG_RULES_AUTO;
	else if (!strcmp(w[0], "none"))
		c->rules = CONFIG_RULES_NONE;
	else
		return config_bad(why, n, "%s: expected auto or none, got \"%.64s\"", key, w[0]);
	return 0;
}

static int set_datapath(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	static const char *const names[] = { "auto", "queue", "kernel" };

	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(w[0], names[i])) {
			c->datapath = (enum config_datapath)i;
			return 0;
		}
	return config_bad(why, n, "%s: expected auto, queue or kernel, got \"%.64s\"", key, w[0]);
}

const char *config_datapath_name(enum config_datapath d)
{
	return d == CONFIG_DATAPATH_QUEUE ? "queue" : d == CONFIG_DATAPATH_KERNEL ? "kernel" : "auto";
}

static int set_xt_mark(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	const char *s = w[0];
	uint32_t v = 0;
	size_t i;

	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		for (i = 2; i < 10 && s[i] && strchr("0123456789abcdefABCDEF", s[i]); i++)
			v = (v << 4) | (uint32_t)(s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
	else
		i = 0;
	if (i <= 2 || s[i] != '\0' || v == 0 || (v & (v - 1)))
		return config_bad(why, n, "%s: expected a hex mask with exactly one bit set, "
				  "like 0x10000000, got \"%.64s\"", key, s);
	if (v & (ENCAP_MARK | RULES_GUARD_MARK))
		return config_bad(why, n, "%s: 0x%08x is a mark dimed uses for something else "
				  "(0x%08x routes into its tunnel, 0x%08x guards queued packets)",
				  key, v, ENCAP_MARK, RULES_GUARD_MARK);
	c->xt_mark = v;
	return 0;
}

static int set_log_level(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	int prio = log_level_parse(w[0], false);
	if (prio >= 0) {
		c->log_level = prio;
		return 0;
	}
	return config_bad(why, n, "%s: expected err, warning, notice, info or debug, got \"%.64s\"",
			  key, w[0]);
}

static int set_max_flows(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_uint(key, w[0], 1, 16777216, &c->max_flows, why, n);
}

static int set_max_peers(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_uint(key, w[0], 1, 1048576, &c->max_peers, why, n);
}

/* Live sockets refresh their flows every 30 s; below 60 s one could expire in between. */
static int set_udp_timeout(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_uint(key, w[0], 60, 86400, &c->udp_timeout, why, n);
}

static int set_nat_keepalive(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_uint(key, w[0], 5, 3600, &c->nat_keepalive, why, n);
}

static int set_tcp_timeout(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_uint(key, w[0], 60, 604800, &c->tcp_timeout, why, n);
}

static int set_hello(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	if (!strcmp(w[0], "all"))
		c->hello = CONFIG_HELLO_ALL;
	else if (!strcmp(w[0], "none"))
		c->hello = CONFIG_HELLO_NONE;
	else if (!strcmp(w[0], "list"))
		c->hello = CONFIG_HELLO_LIST;
	else
		return config_bad(why, n, "%s: expected all, none or list, got \"%.64s\"", key, w[0]);
	/* An override to all or none drops the list; the file parser refuses the mix. */
	if (c->hello != CONFIG_HELLO_LIST) {
		free(c->hello_allow);
		c->hello_allow = NULL;
		c->n_hello_allow = 0;
	}
	return 0;
}

static int set_hello_allow(struct config *c, const char *key, char **w, size_t nw,
			   char *why, size_t n)
{
	struct config_prefix p, *list;

	if (config_one(key, nw, why, n) < 0 || config_prefix(key, w[0], &p, why, n) < 0)
		return -EINVAL;
	for (size_t i = 0; i < c->n_hello_allow; i++)
		if (config_prefix_eq(&c->hello_allow[i], &p))
			return config_bad(why, n, "%s: %s listed twice", key, w[0]);
	if (!(list = config_push(c->hello_allow, &c->n_hello_allow, sizeof(*list), key, why, n)))
		return -EINVAL;
	list[c->n_hello_allow++] = p;
	c->hello_allow = list;
	c->hello = CONFIG_HELLO_LIST;
	return 0;
}

static int set_require_signatures(struct config *c, const char *key, char **w, size_t nw,
				  char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_bool(key, w[0], &c->require_signatures, why, n);
}

static int set_pin_key(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	struct config_pin pin, *list;

	if (nw != 2)
		return config_bad(why, n, "%s: expected PREFIX BASE64-KEY, got %zu value%s",
				  key, nw, nw == 1 ? "" : "s");
	if (config_prefix(key, w[0], &pin.pfx, why, n) < 0)
		return -EINVAL;
	if (config_key_decode(w[1], pin.key) < 0)
		return config_bad(why, n, "%s: expected a base64 Ed25519 public key "
				  "(44 characters), got \"%.64s\"", key, w[1]);
	for (size_t i = 0; i < c->n_pins; i++)
		if (config_prefix_eq(&c->pins[i].pfx, &pin.pfx))
			return config_bad(why, n, "%s: %s pinned twice", key, w[0]);
	if (!(list = config_push(c->pins, &c->n_pins, sizeof(*list), key, why, n)))
		return -EINVAL;
	list[c->n_pins++] = pin;
	c->pins = list;
	return 0;
}

static int set_local_key(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	struct config_prefix *list = NULL;
	size_t count = nw ? nw - 1 : 0;

	if (nw < 1)
		return config_bad(why, n, "%s: expected PATH [PREFIX...]", key);
	if (config_path(key, w[0], sizeof(c->local_key), why, n) < 0)
		return -EINVAL;
	if (count && !(list = calloc(count, sizeof(*list))))
		return config_bad(why, n, "%s: out of memory", key);
	for (size_t i = 0; i < count; i++) {
		if (config_prefix(key, w[i + 1], &list[i], why, n) < 0)
			goto fail;
		for (size_t j = 0; j < i; j++) {
			if (config_prefix_eq(&list[j], &list[i])) {
				config_bad(why, n, "%s: %s listed twice", key, w[i + 1]);
				goto fail;
			}
		}
	}
	snprintf(c->local_key, sizeof(c->local_key), "%s", w[0]);
	free(c->local_key_prefixes);
	c->local_key_prefixes = list;
	c->n_local_key_prefixes = count;
	return 0;
fail:
	free(list);
	return -EINVAL;
}

/* "ADDR", "ADDR:PORT" (IPv4), "[ADDR]:PORT" or a bare IPv6 address. */
static int config_server(const char *key, const char *s, struct config_server *out, char *why, size_t n)
{
	char buf[ADDR_STRLEN + 8];
	const char *port = NULL;
	uint32_t v = DNS_PORT;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	memcpy(buf, s, strlen(s) + 1);
	char *a = buf;
	if (buf[0] == '[') {
		char *end = strchr(buf, ']');
		if (!end || (end[1] && end[1] != ':'))
			goto bad;
		*end = '\0';
		a = buf + 1;
		port = end[1] ? end + 2 : NULL;
	} else if (strchr(buf, ':') == strrchr(buf, ':') && strchr(buf, ':')) {
		char *colon = strchr(buf, ':');	/* one colon: IPv4 with a port */
		*colon = '\0';
		port = colon + 1;
	}
	if (addr_parse(&out->addr, a) < 0 || !(addr_is_unicast(&out->addr) || addr_is_loopback(&out->addr)))
		goto bad;
	if (port && config_uint(key, port, 1, 65535, &v, why, n) < 0)
		return -EINVAL;
	out->port = (uint16_t)v;
	return 0;
bad:
	return config_bad(why, n, "%s: expected an address like 198.18.0.53, 198.18.0.53:5353 or "
			  "[2001:db8::53]:53, got \"%.64s\"", key, s);
}

static int config_dns_name(const char *key, const char *s, char out[CONFIG_NAME_MAX], char *why, size_t n)
{
	if (dns_name_check(s) < 0)
		return config_bad(why, n, "%s: not a domain name: \"%.64s\"", key, s);
	size_t len = strlen(s);
	if (len > 1 && s[len - 1] == '.')
		len--;		/* one form: no trailing dot */
	memset(out, 0, CONFIG_NAME_MAX);
	memcpy(out, s, len);
	return 0;
}

static int set_resolver(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	struct config_server s;

	if (config_one(key, nw, why, n) < 0 || config_server(key, w[0], &s, why, n) < 0)
		return -EINVAL;
	if (c->n_resolvers == CONFIG_RESOLVERS_MAX)
		return config_bad(why, n, "%s: more than %d", key, CONFIG_RESOLVERS_MAX);
	c->resolvers[c->n_resolvers++] = s;
	return 0;
}

static int set_ddns_server(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_server(key, w[0], &c->ddns.server, why, n);
}

static int set_ddns_zone(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_dns_name(key, w[0], c->ddns.zone, why, n);
}

static int set_ddns_name(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_dns_name(key, w[0], c->ddns.name, why, n);
}

static int set_ddns_key_name(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_dns_name(key, w[0], c->ddns.key_name, why, n);
}

static int set_ddns_algorithm(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	enum dns_tsig_alg alg;

	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	if (dns_tsig_alg_parse(w[0], &alg) < 0)
		return config_bad(why, n, "%s: expected hmac-sha256 or hmac-sha512, got \"%.64s\"", key, w[0]);
	c->ddns.algorithm = (int)alg;
	return 0;
}

static int set_ddns_secret_file(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0 || config_path(key, w[0], sizeof(c->ddns.secret_file), why, n) < 0)
		return -EINVAL;
	memset(c->ddns.secret_file, 0, sizeof(c->ddns.secret_file));
	memcpy(c->ddns.secret_file, w[0], strlen(w[0]));
	return 0;
}

static int set_ddns_ttl(struct config *c, const char *key, char **w, size_t nw, char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_uint(key, w[0], 1, 86400, &c->ddns.ttl, why, n);
}

static int set_ddns_publish_private(struct config *c, const char *key, char **w, size_t nw,
				    char *why, size_t n)
{
	if (config_one(key, nw, why, n) < 0)
		return -EINVAL;
	return config_bool(key, w[0], &c->ddns.publish_private, why, n);
}

/* Also the order of config_dump. */
static const struct config_key config_keys[] = {
	{ "control-socket", false, set_control_socket, RESTART(control_socket) },
	{ "state-dir", false, set_state_dir, RESTART(state_dir) },
	{ "queue", false, set_queue, RESTART(queue) },
	{ "port", false, set_port, RESTART(port) },
	{ "rules", false, set_rules, RESTART(rules) },
	{ "datapath", false, set_datapath, RESTART(datapath) },
	{ "xt-mark", false, set_xt_mark, RESTART(xt_mark) },
	{ "log-level", false, set_log_level, 0, 0 },
	{ "max-flows", false, set_max_flows, RESTART(max_flows) },
	{ "max-peers", false, set_max_peers, RESTART(max_peers) },
	{ "udp-timeout", false, set_udp_timeout, 0, 0 },
	{ "nat-keepalive", false, set_nat_keepalive, 0, 0 },
	{ "tcp-timeout", false, set_tcp_timeout, 0, 0 },
	{ "hello", false, set_hello, 0, 0 },
	{ "hello-allow", true, set_hello_allow, 0, 0 },
	{ "require-signatures", false, set_require_signatures, 0, 0 },
	{ "pin-key", true, set_pin_key, 0, 0 },
	{ "local-key", false, set_local_key, 0, 0 },
	{ "resolver", true, set_resolver, 0, 0 },
	/* [ddns]: a section of its own in the file, "ddns.KEY" elsewhere. */
	{ "ddns.server", false, set_ddns_server, 0, 0 },
	{ "ddns.zone", false, set_ddns_zone, 0, 0 },
	{ "ddns.name", false, set_ddns_name, 0, 0 },
	{ "ddns.key-name", false, set_ddns_key_name, 0, 0 },
	{ "ddns.algorithm", false, set_ddns_algorithm, 0, 0 },
	{ "ddns.secret-file", false, set_ddns_secret_file, 0, 0 },
	{ "ddns.ttl", false, set_ddns_ttl, 0, 0 },
	{ "ddns.publish-private", false, set_ddns_publish_private, 0, 0 },
};

#define CONFIG_DDNS_PREFIX "ddns."

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static int config_key_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (!strcmp(config_keys[i].name, name))
			return (int)i;
	return -1;
}

/* The index of the key a setter belongs to (for the rules between keys). */
static int config_key_of(config_set_fn *set)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (config_keys[i].set == set)
			return (int)i;
	return -1;
}

/* ---- lines ---- */

/*
 * Printable UTF-8 and tabs only: a stray CR, NUL or Latin-1 byte usually
 * means the file is not what its author thinks it is.
 */
static int config_check_text(const char *s, size_t len, char *why, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		unsigned b = p[i], need, cp;
		if (b < 0x80) {
			if ((b < 0x20 && b != '\t') || b == 0x7f)
				return config_bad(why, n, "control character 0x%02x%s", b,
						  b == '\r' ? " (DOS line endings?)" : "");
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			cp = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			cp = b & 0x07;
		} else {
			return config_bad(why, n, "invalid UTF-8 (byte 0x%02x)", b);
		}
		for (unsigned k = 1; k <= need; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				return config_bad(why, n, "invalid UTF-8 (byte 0x%02x)", b);
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return config_bad(why, n, "invalid UTF-8 (byte 0x%02x)", b);
		if (cp >= 0x80 && cp <= 0x9f)
			return config_bad(why, n, "control character U+%04X", cp);
		i += need + 1;
	}
	return 0;
}

static bool config_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static char *config_trim(char *s)
{
	while (config_space(*s))
		s++;
	size_t len = strlen(s);
	while (len && config_space(s[len - 1]))
		s[--len] = '\0';
	return s;
}

/* Splits s in place at runs of blanks. */
static size_t config_split(char *s, char **w, size_t max)
{
	size_t nw = 0;

	while (*s && nw < max) {
		while (config_space(*s))
			*s++ = '\0';
		if (!*s)
			break;
		w[nw++] = s;
		while (*s && !config_space(*s))
			s++;
	}
	return nw;
}

/* Reads one line without its newline: 1, 0 at the end, -E2BIG, -EIO. */
static int config_read_line(FILE *f, char *buf, size_t *len)
{
	int ch;

	*len = 0;
	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (*len == CONFIG_LINE_MAX)
			return -E2BIG;
		buf[(*len)++] = (char)ch;
	}
	buf[*len] = '\0';
	if (ferror(f))
		return -EIO;
	return ch == EOF && *len == 0 ? 0 : 1;
}

/* A [ddns] section says everything an update needs. */
static int config_check_ddns(const struct config *c, char *why, size_t n)
{
	const struct config_ddns *d = &c->ddns;
	const char *missing = !d->server.addr.af ? "server" : !d->zone[0] ? "zone" : !d->name[0] ? "name" :
			      !d->key_name[0] ? "key-name" : !d->secret_file[0] ? "secret-file" : NULL;

	if (missing)
		return config_bad(why, n, "[ddns]: %s is missing", missing);
	if (!dns_name_in_zone(d->name, d->zone))
		return config_bad(why, n, "[ddns]: name %.64s is not in zone %.64s", d->name, d->zone);
	return 0;
}

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen)
{
	char buf[CONFIG_LINE_MAX + 1], *w[CONFIG_WORDS_MAX];
	int k = config_key_find(key);
	size_t len = strlen(value);

	if (k < 0)
		return config_bad(err, errlen, "unknown key \"%.64s\"", key);
	if (len > CONFIG_LINE_MAX)
		return config_bad(err, errlen, "%s: value longer than %d bytes", key, CONFIG_LINE_MAX);
	if (config_check_text(value, len, err, errlen) < 0)
		return -EINVAL;
	memcpy(buf, value, len + 1);
	size_t nw = config_split(buf, w, CONFIG_WORDS_MAX);
	if (nw == 0)
		return config_bad(err, errlen, "%s: missing value", key);
	/* Setters validate everything before they change anything. */
	return config_keys[k].set(c, key, w, nw, err, errlen);
}

int config_parse(FILE *f, const char *name, struct config *out, char *err, size_t errlen)
{
	char line[CONFIG_LINE_MAX + 1], why[CONFIG_ERRLEN], *w[CONFIG_WORDS_MAX];
	unsigned seen[CONFIG_NKEYS] = { 0 }, lineno = 0, section = 0;
	struct config c;
	size_t len;
	int r;

	config_defaults(&c);
	why[0] = '\0';
	for (;;) {
		lineno++;
		if ((r = config_read_line(f, line, &len)) <= 0) {
			if (r == -E2BIG)
				config_bad(why, sizeof(why), "line longer than %d bytes", CONFIG_LINE_MAX);
			else if (r == -EIO)
				config_bad(why, sizeof(why), "read error");
			if (r < 0)
				goto fail;
			break;
		}
		if ((r = config_check_text(line, len, why, sizeof(why))) < 0)
			goto fail;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = config_trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			/* [ddns] is the one section: the keys after it are its own. */
			if (strcmp(s, "[ddns]") != 0) {
				r = config_bad(why, sizeof(why), "unknown section \"%.64s\" (there is [ddns])", s);
				goto fail;
			}
			if (section) {
				r = config_bad(why, sizeof(why), "[ddns] again (first on line %u)", section);
				goto fail;
			}
			section = lineno;
			c.ddns.on = true;
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			r = config_bad(why, sizeof(why), "expected KEY = VALUE, got \"%.64s\"", s);
			goto fail;
		}
		*eq = '\0';
		char *key = config_trim(s);
		char *val = config_trim(eq + 1);
		if (!*key) {
			r = config_bad(why, sizeof(why), "missing key before \"=\"");
			goto fail;
		}
		char full[96];
		snprintf(full, sizeof(full), "%s%.64s", section ? CONFIG_DDNS_PREFIX : "", key);
		int k = config_key_find(full);
		if (k < 0 || (!section && !strncmp(key, CONFIG_DDNS_PREFIX, strlen(CONFIG_DDNS_PREFIX)))) {
			r = config_bad(why, sizeof(why), "unknown key \"%.64s\"%s", key, section ? " in [ddns]" : "");
			goto fail;
		}
		key = full;
		if (seen[k] && !config_keys[k].list) {
			r = config_bad(why, sizeof(why), "%s: set again (first on line %u)", key, seen[k]);
			goto fail;
		}
		size_t nw = config_split(val, w, CONFIG_WORDS_MAX);
		if (nw == 0) {
			r = config_bad(why, sizeof(why), "%s: missing value", key);
			goto fail;
		}
		/* hello = all/none and a hello-allow list contradict each other. */
		int key_hello = config_key_of(set_hello), key_hello_allow = config_key_of(set_hello_allow);
		if (k == key_hello && seen[key_hello_allow] && strcmp(w[0], "list")) {
			r = config_bad(why, sizeof(why), "hello: \"%.16s\" contradicts hello-allow on line %u",
				       w[0], seen[key_hello_allow]);
			goto fail;
		}
		if (k == key_hello_allow && seen[key_hello] && c.hello != CONFIG_HELLO_LIST) {
			r = config_bad(why, sizeof(why), "hello-allow: contradicts \"hello = %s\" on line %u",
				       c.hello == CONFIG_HELLO_ALL ? "all" : "none", seen[key_hello]);
			goto fail;
		}
		if ((r = config_keys[k].set(&c, key, w, nw, why, sizeof(why))) < 0)
			goto fail;
		if (!seen[k])
			seen[k] = lineno;
	}
	if (c.hello == CONFIG_HELLO_LIST && c.n_hello_allow == 0) {
		lineno = seen[config_key_of(set_hello)];
		r = config_bad(why, sizeof(why), "hello: \"list\" needs at least one hello-allow line");
		goto fail;
	}
	if (c.ddns.on && (r = config_check_ddns(&c, why, sizeof(why))) < 0) {
		lineno = section;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	config_free(&c);
	if (r == -EIO)
		snprintf(err, errlen, "%s: %s", name, why);
	else
		snprintf(err, errlen, "%s:%u: %s", name, lineno, why);
	return r;
}

int config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	struct stat st;
	FILE *f;
	int r;

	if (!(f = fopen(path, "re"))) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	r = config_parse(f, path, c, err, errlen);
out:
	fclose(f);
	return r;
}

/* ---- output ---- */

static void config_dump_prefix(FILE *f, const struct config_prefix *p)
{
	char buf[ADDR_STRLEN];

	fprintf(f, "%s/%u", addr_fmt(&p->addr, buf), p->plen);
}

static void config_dump_server(FILE *f, const struct config_server *s)
{
	char buf[ADDR_STRLEN];

	addr_fmt(&s->addr, buf);
	if (s->port == DNS_PORT)
		fprintf(f, "%s", buf);
	else
		fprintf(f, s->addr.af == AF_INET6 ? "[%s]:%u" : "%s:%u", buf, s->port);
}

int config_dump(const struct config *c, FILE *f)
{
	static const char *const hello[] = { "all", "none", "list" };
	char key[45];

	fprintf(f, "control-socket = %s\n", c->control_socket);
	fprintf(f, "state-dir = %s\n", c->state_dir);
	fprintf(f, "queue = %u\n", c->queue);
	fprintf(f, "port = %u\n", c->port);
	fprintf(f, "rules = %s\n", c->rules == CONFIG_RULES_NONE ? "none" : "auto");
	fprintf(f, "datapath = %s\n", config_datapath_name(c->datapath));
	fprintf(f, "xt-mark = 0x%08x\n", c->xt_mark);
	const char *lvl = log_level_name(c->log_level);
	fprintf(f, "log-level = %s\n", lvl ? lvl : "info");
	fprintf(f, "max-flows = %u\n", c->max_flows);
	fprintf(f, "max-peers = %u\n", c->max_peers);
	fprintf(f, "udp-timeout = %u\n", c->udp_timeout);
	fprintf(f, "tcp-timeout = %u\n", c->tcp_timeout);
	fprintf(f, "nat-keepalive = %u\n", c->nat_keepalive);
	fprintf(f, "hello = %s\n", hello[c->hello]);
	/* Empty lists stay visible as comments, so the dump names every key. */
	if (!c->n_hello_allow)
		fprintf(f, "# hello-allow (none)\n");
	for (size_t i = 0; i < c->n_hello_allow; i++) {
		fprintf(f, "hello-allow = ");
		config_dump_prefix(f, &c->hello_allow[i]);
		fprintf(f, "\n");
	}
	fprintf(f, "require-signatures = %s\n", c->require_signatures ? "yes" : "no");
	if (!c->n_pins)
		fprintf(f, "# pin-key (none)\n");
	for (size_t i = 0; i < c->n_pins; i++) {
		config_key_encode(c->pins[i].key, key);
		fprintf(f, "pin-key = ");
		config_dump_prefix(f, &c->pins[i].pfx);
		fprintf(f, " %s\n", key);
	}
	if (!c->local_key[0]) {
		fprintf(f, "# local-key (none)\n");
	} else {
		fprintf(f, "local-key = %s", c->local_key);
		for (size_t i = 0; i < c->n_local_key_prefixes; i++) {
			fprintf(f, " ");
			config_dump_prefix(f, &c->local_key_prefixes[i]);
		}
		fprintf(f, "\n");
	}
	if (!c->n_resolvers)
		fprintf(f, "# resolver (none: /etc/resolv.conf)\n");
	for (size_t i = 0; i < c->n_resolvers; i++) {
		fprintf(f, "resolver = ");
		config_dump_server(f, &c->resolvers[i]);
		fprintf(f, "\n");
	}
	if (c->ddns.on) {
		const struct config_ddns *d = &c->ddns;
		fprintf(f, "[ddns]\nserver = ");
		config_dump_server(f, &d->server);
		fprintf(f, "\nzone = %s\nname = %s\nkey-name = %s\nalgorithm = %s\nsecret-file = %s\n"
			"ttl = %u\npublish-private = %s\n", d->zone, d->name, d->key_name,
			dns_tsig_alg_name((enum dns_tsig_alg)d->algorithm), d->secret_file, d->ttl,
			d->publish_private ? "yes" : "no");
	} else {
		fprintf(f, "# [ddns] (none)\n");
	}
	return ferror(f) ? -EIO : 0;
}

unsigned config_restart_keys(const struct config *cur, const struct config *next,
			     char *buf, size_t len)
{
	unsigned count = 0;
	size_t off = 0;

	if (buf && len)
		buf[0] = '\0';
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		if (!k->restart_len ||
		    !memcmp((const char *)cur + k->restart_off, (const char *)next + k->restart_off, k->restart_len))
			continue;
		if (buf && off < len) {
			int w = snprintf(buf + off, len - off, "%s%s", count ? ", " : "", k->name);
			off += w > 0 ? (size_t)w : 0;
		}
		count++;
	}
	return count;
}

void config_keep_restart(struct config *next, const struct config *cur)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (config_keys[i].restart_len)
			memcpy((char *)next + config_keys[i].restart_off, (const char *)cur + config_keys[i].restart_off,
			       config_keys[i].restart_len);
}
