/*
 * dimed: one single-threaded event loop — NFQUEUE, rtnetlink, the control
 * socket, a timer and signals — holding all state in one process.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>

#include "clock.h"
#include "build_config.h"
#include "ctl.h"
#include "ctl_proto.h"
#include "ddns.h"
#include "dns.h"
#include "events.h"
#include "encap.h"
#include "log.h"
#include "nftset.h"
#include "notify.h"
#include "nftwatch.h"
#include "ihmp.h"
#include "ihmp_wire.h"
#include "config.h"
#include "queue.h"
#include "resolve.h"
#include "rtnl.h"
#include "rules.h"
#include "stacktrans.h"
#include "state.h"
#include "tunnel.h"

#define DIMED_QUEUE_MAXLEN	4096

struct dimed {
	int ep, sigfd, timerfd;
	struct queue *q;
	struct rtnl *rt;
	struct nftset *ns;
	struct ctl *ctl;
	struct stacktrans *st;
	struct nftwatch *watch;
	struct ihmp *ihmp;
	struct tunnel *tunnel;		/* NULL: no NAT traversal (no TUN here) */
	struct rules_cfg rcfg;
	enum rules_mode rmode;
	bool fast;			/* the kernel datapath is on (nft/dimed-fast.nft) */
	const struct options *opts;
	struct config cfg;
	struct state_writer saver;	/* what a restart must find (src/state.c) */
	struct resolver *res;		/* rendezvous lookups (IHMP on) */
	struct ddns *ddns;		/* [ddns], or NULL */
	int ddns_fd;			/* its socket toward the server, or -1 */
	bool quit;
};

/* Command-line options; the ones that are also configuration keys are kept
 * as key/value overrides, applied over the file with the same validation. */
struct options {
	bool no_ihmp, print_config, cleanup;
	const char *config;
	size_t nset;
	struct { const char *key; const char *value; } set[16];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dimed [options]\n"
		"  -f, --foreground      stay in the foreground (the only mode; for systemd and containers)\n"
		"  -c, --config FILE     configuration file (default %s, optional)\n"
		"      --print-config    print the effective configuration and exit\n"
		"      --cleanup         remove what a dimed that did not exit cleanly left behind\n"
		"                        (its table and xtables rules, the tunnel's policy rule,\n"
		"                        identifiers held on lo), then exit\n"
		"  -s, --ctl PATH        control socket (default %s)\n"
		"      --state-dir DIR   keys and saved state (default %s)\n"
		"  -p, --port N          IHMP UDP port (default %u)\n"
		"  -q, --queue N         NFQUEUE number (default %u)\n"
		"      --no-rules        do not install nftables rules (the administrator loads them)\n"
		"      --datapath MODE   who rewrites settled translations: kernel (nftables maps),\n"
		"                        queue (dimed), or auto (default: kernel where it loads)\n"
		"      --no-ihmp         no signalling: mappings only by hand (dimectl map)\n"
		"  -l, --log-level LVL   err, warning, notice, info (default) or debug\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n",
		CONFIG_DEFAULT_PATH, CTL_DEFAULT_PATH, DIME_STATEDIR, IHMP_PORT, CONFIG_DEFAULT_QUEUE);
}

static void opt_set(struct options *o, const char *key, const char *value)
{
	if (o->nset == sizeof(o->set) / sizeof(o->set[0]))
		fatalx("dimed: too many options");
	o->set[o->nset].key = key;
	o->set[o->nset].value = value;
	o->nset++;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_STATE = 256, OPT_NORULES, OPT_NOIHMP, OPT_PRINT, OPT_CLEANUP, OPT_DATAPATH };
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "print-config", no_argument, NULL, OPT_PRINT },
		{ "cleanup", no_argument, NULL, OPT_CLEANUP },
		{ "ctl", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "port", required_argument, NULL, 'p' },
		{ "queue", required_argument, NULL, 'q' },
		{ "no-rules", no_argument, NULL, OPT_NORULES },
		{ "datapath", required_argument, NULL, OPT_DATAPATH },
		{ "no-ihmp", no_argument, NULL, OPT_NOIHMP },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c, lvl;

	while ((c = getopt_long(argc, argv, "fc:s:p:q:l:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': break;
		case 'c': o->config = optarg; break;
		case OPT_PRINT: o->print_config = true; break;
		case OPT_CLEANUP: o->cleanup = true; break;
		case 's': opt_set(o, "control-socket", optarg); break;
		case OPT_STATE: opt_set(o, "state-dir", optarg); break;
		case OPT_NORULES: opt_set(o, "rules", "none"); break;
		case OPT_DATAPATH: opt_set(o, "datapath", optarg); break;
		case OPT_NOIHMP: o->no_ihmp = true; break;
		case 'p': opt_set(o, "port", optarg); break;
		case 'q': opt_set(o, "queue", optarg); break;
		case 'l':
			/* Accept the aliases log_level_parse knows; the file takes five names. */
			if ((lvl = log_level_parse(optarg, true)) < 0)
				fatalx("dimed: --log-level: unknown level \"%s\"", optarg);
			opt_set(o, "log-level", log_level_name(lvl));
			break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("dimed %s\n", DIME_VERSION); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc)
		fatalx("dimed: unexpected argument \"%s\" (see --help)", argv[optind]);
}

/* The file (only the default one may be missing), then the command line. */
static int dimed_config(const struct options *o, struct config *c, char *err, size_t n)
{
	int r = config_load(o->config ? o->config : CONFIG_DEFAULT_PATH, c, err, n);

	if (r == -ENOENT && !o->config) {
		config_defaults(c);
		r = 0;
	}
	for (size_t i = 0; r == 0 && i < o->nset; i++) {
		char e2[CONFIG_ERRLEN];
		if ((r = config_set(c, o->set[i].key, o->set[i].value, e2, sizeof(e2))) < 0) {
			snprintf(err, n, "command line: %s", e2);
			config_free(c);
		}
	}
	return r;
}

/* ---- control commands ---- */

static int dimed_reload(struct dimed *d, char *err, size_t n);

/* The handler of each command of ctl_commands (ctl_proto.h), by name. */
struct command {
	const char *name;
	const char *sub;	/* second word, or NULL */
	int (*fn)(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t errlen);
};

/* Like `wg show`: this host first, then a block per peer; zero counters
 * only in JSON. */
static int cmd_show(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	o->hide_zero = true;
	out_obj_begin(o, NULL);
	out_str(o, "version", DIME_VERSION);
	out_str(o, "rules", rules_mode_name(d->rmode));
	out_str(o, "datapath", d->fast ? "kernel" : "queue");
	if (d->ihmp)
		ihmp_show_self(d->ihmp, o);
	if (d->ddns)
		ddns_show(d->ddns, o);
	st_show_summary(d->st, o);
	st_show_peers(d->st, o);
	out_obj_end(o);
	return 0;
}

/* The client stays and is sent events (events.h) until it goes. */
static int cmd_monitor(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	return CTL_MONITOR;
}

static void events_to_ctl(void *arg, const char *text, const char *json)
{
	struct dimed *d = arg;
	if (d->ctl)
		ctl_monitor_push(d->ctl, text, json);
}

static int cmd_show_hids(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	out_obj_begin(o, NULL);
	st_show_hids(d->st, o);
	out_obj_end(o);
	return 0;
}

static int cmd_show_flows(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	out_obj_begin(o, NULL);
	st_show_flows(d->st, o, 100000);
	out_obj_end(o);
	return 0;
}

static int cmd_stats(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	const struct queue_stats *qs = queue_get_stats(d->q);
	out_obj_begin(o, NULL);
	out_obj_begin(o, "queue");
#define QUEUE_STAT_OUT(f) out_u64(o, #f, qs->f);
	QUEUE_STATS(QUEUE_STAT_OUT)
#undef QUEUE_STAT_OUT
	out_obj_end(o);
	st_show_stats(d->st, o);
	if (d->ihmp)
		ihmp_show_stats(d->ihmp, o);
	if (d->tunnel) {
		out_obj_begin(o, "tunnel");
		tunnel_show_stats(d->tunnel, o);
		out_obj_end(o);
	}
	out_obj_end(o);
	return 0;
}

static int parse_addr_arg(const char *s, struct dime_addr *a, char *err, size_t n)
{
	if (addr_parse(a, s) < 0) {
		snprintf(err, n, "not an IPv4 or IPv6 address: \"%s\"", s);
		return -EINVAL;
	}
	return 0;
}

/* map PEER-ADDRESS LOCATOR */
static int cmd_map(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	struct dime_addr id, loc;
	if (argc != 3) {
		snprintf(err, n, "usage: map PEER-ADDRESS NEW-LOCATOR");
		return -EINVAL;
	}
	if (parse_addr_arg(argv[1], &id, err, n) < 0 || parse_addr_arg(argv[2], &loc, err, n) < 0)
		return -EINVAL;
	return st_map_peer(d->st, &id, &loc, err, n);
}

/* map-local PEER-ADDRESS LOCAL-ADDRESS */
static int cmd_map_local(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	struct dime_addr peer, local;
	if (argc != 3) {
		snprintf(err, n, "usage: map-local PEER-ADDRESS LOCAL-ADDRESS");
		return -EINVAL;
	}
	if (parse_addr_arg(argv[1], &peer, err, n) < 0 || parse_addr_arg(argv[2], &local, err, n) < 0)
		return -EINVAL;
	return st_map_local(d->st, &peer, &local, err, n);
}

static int cmd_show_keys(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	if (!d->ihmp) {
		snprintf(err, n, "IHMP is off (--no-ihmp): no keys");
		return -ENOTSUP;
	}
	out_obj_begin(o, NULL);
	ihmp_show_keys(d->ihmp, o);
	out_obj_end(o);
	return 0;
}

/* key-pin PEER BASE64 | key-remove PEER | set-local-key PATH|generate [PREFIX...] */
static int cmd_key(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	struct dime_addr peer;

	if (!d->ihmp) {
		snprintf(err, n, "IHMP is off (--no-ihmp): no keys");
		return -ENOTSUP;
	}
	if (!strcmp(argv[0], "set-local-key")) {
		if (argc < 2) {
			snprintf(err, n, "usage: set-local-key PATH|generate [PREFIX...]");
			return -EINVAL;
		}
		struct config_prefix pfx[IHMP_LOCAL_KEYS_MAX];
		if (argc - 2 > IHMP_LOCAL_KEYS_MAX) {
			snprintf(err, n, "at most %d prefixes", IHMP_LOCAL_KEYS_MAX);
			return -EINVAL;
		}
		for (int i = 2; i < argc; i++)
			if (addr_parse_prefix(&pfx[i - 2].addr, &pfx[i - 2].plen, argv[i]) < 0) {
				snprintf(err, n, "not an address or prefix: \"%s\"", argv[i]);
				return -EINVAL;
			}
		return ihmp_set_local_key(d->ihmp, argv[1], pfx, (size_t)(argc - 2), err, n);
	}
	bool pin = !strcmp(argv[0], "key-pin");
	if (argc != (pin ? 3 : 2)) {
		snprintf(err, n, pin ? "usage: key-pin PEER BASE64-KEY" : "usage: key-remove PEER");
		return -EINVAL;
	}
	if (parse_addr_arg(argv[1], &peer, err, n) < 0)
		return -EINVAL;
	return pin ? ihmp_key_pin(d->ihmp, &peer, argv[2], err, n) :
		     ihmp_key_remove(d->ihmp, &peer, err, n);
}

static int cmd_reload(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	return dimed_reload(d, err, n);
}

static int cmd_version(struct dimed *d, int argc, char **argv, struct out *o, char *err, size_t n)
{
	out_obj_begin(o, NULL);
	out_str(o, "version", DIME_VERSION);
	out_str(o, "protocol", CTL_VERSION);
	out_obj_end(o);
	return 0;
}

static const struct command commands[] = {
	{ "show", "hids", cmd_show_hids },
	{ "show", "flows", cmd_show_flows },
	{ "show", "keys", cmd_show_keys },
	{ "show", NULL, cmd_show },
	{ "monitor", NULL, cmd_monitor },
	{ "stats", NULL, cmd_stats },
	{ "map", NULL, cmd_map },
	{ "map-local", NULL, cmd_map_local },
	{ "reload", NULL, cmd_reload },
	{ "key-pin", NULL, cmd_key },
	{ "key-remove", NULL, cmd_key },
	{ "set-local-key", NULL, cmd_key },
	{ "version", NULL, cmd_version },
};

/* What ctl_commands says of this command: privilege and arity. */
static const struct ctl_command *command_spec(const struct command *c)
{
	for (size_t i = 0; i < ctl_ncommands; i++)
		if (!strcmp(ctl_commands[i].name, c->name) &&
		    (ctl_commands[i].sub == c->sub ||
		     (ctl_commands[i].sub && c->sub && !strcmp(ctl_commands[i].sub, c->sub))))
			return &ctl_commands[i];
	return NULL;
}

static int ctl_dispatch(void *arg, int argc, char **argv, bool privileged, struct out *o,
			char *err, size_t errlen)
{
	struct dimed *d = arg;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *c = &commands[i];
		if (strcmp(argv[0], c->name) != 0)
			continue;
		int skip = 1;
		if (c->sub) {
			if (argc < 2 || strcmp(argv[1], c->sub) != 0)
				continue;
			skip = 2;
		} else if (argc > 1 && !strcmp(c->name, "show")) {
			snprintf(err, errlen, "unknown: show %s (try: show, show hids, show flows, show keys)", argv[1]);
			return -EINVAL;
		}
		const struct ctl_command *spec = command_spec(c);
		if (!spec) {
			snprintf(err, errlen, "internal: \"%s\" is not in ctl_commands", c->name);
			return -EINVAL;
		}
		if (spec->max_args >= 0 && argc - skip > spec->max_args) {
			snprintf(err, errlen, "too many arguments for \"%s%s%s\"", c->name,
				 c->sub ? " " : "", c->sub ? c->sub : "");
			return -EINVAL;
		}
		if (spec->privileged && !privileged) {
			snprintf(err, errlen, "permission denied: \"%s\" changes state", c->name);
			return -EPERM;
		}
		int r = c->fn(d, argc - skip + 1, argv + skip - 1, o, err, errlen);
		if (r == 0) {
			st_tick(d->st);
			if (o->json && o->len == 0) {
				/* Commands that only act still answer in JSON. */
				out_obj_begin(o, NULL);
				out_bool(o, "ok", true);
				out_obj_end(o);
			}
		}
		return r;
	}
	snprintf(err, errlen, "unknown command \"%s\"", argv[0]);
	return -EINVAL;
}

/* ---- the loop ---- */

/* Start-up failed after the rules went in: take them out, then exit with
 * one line, as fatalx does. */
static void start_fail(struct dimed *d, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void start_fail(struct dimed *d, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rules_remove(&d->rcfg, d->rmode);
	tunnel_free(d->tunnel);		/* its policy rule would outlive us */
	fatalx("dimed: %s", msg);
}

enum { EV_QUEUE = 1, EV_RTNL, EV_CTL, EV_SIGNAL, EV_TIMER, EV_NFT, EV_IHMP4, EV_IHMP6, EV_TUN, EV_DDNS,
       EV_CLIENT_BASE = 64 };
#define EV_RESOLVER_BASE	(1ull << 32)	/* + fd: a lookup's socket */

static void ep_add(struct dimed *d, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	if (epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		start_fail(d, "epoll_ctl: %s", strerror(errno));
}

static void ctl_watch(void *arg, int fd, unsigned events)
{
	struct dimed *d = arg;
	struct epoll_event ev = { .events = (events & CTL_WATCH_READ ? EPOLLIN : 0u) |
					    (events & CTL_WATCH_WRITE ? EPOLLOUT : 0u),
				  .data.u64 = EV_CLIENT_BASE + (uint64_t)fd };
	if (!events)
		epoll_ctl(d->ep, EPOLL_CTL_DEL, fd, NULL);
	else if (epoll_ctl(d->ep, EPOLL_CTL_MOD, fd, &ev) < 0)
		epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* ---- DNS: our name follows us (ddns.c); peers' names (resolve.c) ---- */

static uint64_t ddns_now(void *arg)
{
	(void)arg;
	return clock_ms();
}

static uint64_t ddns_wall(void *arg)
{
	(void)arg;
	return (uint64_t)time(NULL);
}

/* Each update from a socket of its own: a fresh port, and the source the
 * kernel picks now. A socket kept across a move would be a flow of the
 * address we left, and its answers would go there. */
static int ddns_send(void *arg, const struct config_server *to, const uint8_t *buf, size_t len)
{
	struct dimed *d = arg;
	struct sockaddr_storage ss;
	socklen_t sl = addr_sockaddr(&to->addr, to->port, &ss);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_DDNS };

	if (d->ddns_fd >= 0)
		close(d->ddns_fd);	/* which takes it out of the epoll set */
	d->ddns_fd = socket(to->addr.af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->ddns_fd < 0 || epoll_ctl(d->ep, EPOLL_CTL_ADD, d->ddns_fd, &ev) < 0)
		return -errno;
	return sendto(d->ddns_fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0 ? -errno : 0;
}

/* What our name should have: our usable addresses (not the identifiers
 * held on lo) and, behind a NAT, what peers see us as in place of the
 * address behind it. */
static void ddns_refresh(struct dimed *d)
{
	struct dime_addr a[2 * DDNS_ADDRS_MAX], pub[DDNS_ADDRS_MAX], inside[DDNS_ADDRS_MAX];
	const struct rtnl_addr *la;
	size_t n = 0, nl, np;

	if (!d->ddns)
		return;
	np = d->ihmp ? ihmp_public_addrs(d->ihmp, pub, inside, DDNS_ADDRS_MAX) : 0;
	nl = rtnl_addrs(d->rt, &la);
	for (size_t i = 0; i < nl && n < DDNS_ADDRS_MAX; i++) {
		bool natted = false;
		for (size_t k = 0; k < np && !natted; k++)
			natted = addr_eq(&inside[k], &la[i].addr);
		if (!natted)
			a[n++] = la[i].addr;
	}
	for (size_t k = 0; k < np; k++)
		a[n++] = pub[k];
	ddns_set_addrs(d->ddns, a, n);
}

static void ddns_read(struct dimed *d)
{
	uint8_t buf[DNS_MSG_MAX];
	struct sockaddr_storage ss;

	for (int k = 0; d->ddns_fd >= 0 && k < 16; k++) {
		socklen_t sl = sizeof(ss);
		ssize_t len = recvfrom(d->ddns_fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);
		struct dime_addr src;
		uint16_t port;
		if (len < 0)
			return;
		if (addr_from_sockaddr(&ss, &src, &port) == 0)
			ddns_input(d->ddns, buf, (size_t)len, &src, port);
	}
}

static void ddns_stop(struct dimed *d)
{
	ddns_free(d->ddns);
	d->ddns = NULL;
	if (d->ddns_fd >= 0)
		close(d->ddns_fd);	/* which takes it out of the epoll set */
	d->ddns_fd = -1;
}

/* [ddns] as configured now (a reload replaces it whole, or keeps it). */
static int ddns_start(struct dimed *d, const struct config_ddns *c, char *err, size_t n)
{
	struct ddns_env env = { .arg = d, .now_ms = ddns_now, .wall_s = ddns_wall, .send = ddns_send };
	struct ddns *dd;
	int r;

	if ((r = ddns_new(&dd, c, &env, err, n)) < 0)
		return r;
	ddns_stop(d);
	d->ddns = dd;
	if (d->ihmp)
		ihmp_set_name(d->ihmp, c->name);
	ddns_refresh(d);
	return 0;
}

static void on_resolved(void *arg, uint64_t cookie, const char *name, const struct dime_addr *addrs, size_t n,
			int err)
{
	struct dimed *d = arg;
	char b[ADDR_STRLEN];

	log_debug("rendezvous: %s: %zu address(es)%s%s", name, n, n ? ", first " : "",
		  n ? addr_fmt(&addrs[0], b) : (err ? strerror(-err) : ""));
	if (d->ihmp)
		ihmp_resolved(d->ihmp, cookie, name, addrs, n);
}

static int resolve_peer(void *arg, const char *name, uint64_t cookie)
{
	struct dimed *d = arg;
	return d->res ? resolver_lookup(d->res, name, cookie, clock_ms()) : -ENOTSUP;
}

static void resolver_stop(struct dimed *d)
{
	resolver_free(d->res);
	d->res = NULL;
}

static void resolver_watch(void *arg, int fd, bool add)
{
	struct dimed *d = arg;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_RESOLVER_BASE + (uint64_t)fd };

	if (epoll_ctl(d->ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) < 0 && add)
		log_warn("rendezvous: epoll");
}

static int resolver_start(struct dimed *d, const struct config *c)
{
	struct resolver *res;
	int r = resolver_new(&res, c->resolvers, c->n_resolvers, NULL, on_resolved, resolver_watch, d);

	if (r < 0)
		return r;
	resolver_stop(d);
	d->res = res;
	return 0;
}

/* SIGHUP and `dimectl reload`: the new file replaces the old one whole, or
 * not at all; keys that need a restart keep their running values. */
static int dimed_reload(struct dimed *d, char *err, size_t n)
{
	struct config next;
	char keys[256];
	int r = dimed_config(d->opts, &next, err, n);

	if (r < 0) {
		log_warnx("reload: %s; keeping the running configuration", err);
		return r;
	}
	if (config_restart_keys(&d->cfg, &next, keys, sizeof(keys)))
		log_warnx("reload: %s changed; takes effect at the next start", keys);
	config_keep_restart(&next, &d->cfg);
	/* [ddns] again (its secret file too): the old one stays if the new
	 * one cannot start. */
	char why[CONFIG_ERRLEN];
	if (next.ddns.on && ddns_start(d, &next.ddns, why, sizeof(why)) < 0) {
		log_warnx("reload: [ddns]: %s; keeping the running configuration", why);
		snprintf(err, n, "[ddns]: %s", why);
		config_free(&next);
		return -EINVAL;
	}
	if (!next.ddns.on && d->ddns) {
		ddns_stop(d);
		if (d->ihmp)
			ihmp_set_name(d->ihmp, NULL);
	}
	if (d->ihmp && (next.n_resolvers != d->cfg.n_resolvers ||
			memcmp(next.resolvers, d->cfg.resolvers, sizeof(next.resolvers))) &&
	    resolver_start(d, &next) < 0)
		log_warnx("reload: resolver: cannot open its sockets; keeping the old ones");
	log_set_level(next.log_level);
	st_set_timeouts(d->st, next.udp_timeout, next.tcp_timeout);
	config_free(&d->cfg);
	d->cfg = next;
	log_info("reload: configuration read");
	return 0;
}

static void on_signal(struct dimed *d)
{
	struct signalfd_siginfo si;
	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("signal %u: shutting down", si.ssi_signo);
			d->quit = true;
		} else if (si.ssi_signo == SIGHUP) {
			char err[CONFIG_ERRLEN];
			dimed_reload(d, err, sizeof(err));
		}
	}
}

/* Settled translations to the kernel or the queue; said once at start,
 * and whenever it changes (a reloaded table without the kernel's maps). */
static void datapath_set(struct dimed *d, bool fast)
{
	bool want = d->cfg.datapath != CONFIG_DATAPATH_QUEUE;
	static bool said;

	if (said && fast == d->fast)
		return;
	if (fast)
		log_info("datapath: kernel (settled translations are rewritten by nftables maps)");
	else if (!want)
		log_info("datapath: queue (configured)");
	else
		log_msg(d->cfg.datapath == CONFIG_DATAPATH_KERNEL ? LOG_WARNING : LOG_INFO,
			"datapath: queue: the kernel datapath %s, dimed rewrites every translated packet",
			d->rmode == RULES_NONE && d->cfg.rules == CONFIG_RULES_NONE ?
			"is not in the administrator's table (load nft/dimed-fast.nft)" :
			"does not load on this kernel (nft/dimed-fast.nft)");
	said = true;
	d->fast = fast;
}

/* With --no-rules the administrator's table decides: the kernel datapath
 * if it has the maps this dimed writes (one empty transaction on each of
 * the IPv4 ones tells; a table of an older nft/dimed-fast.nft lacks some). */
static bool admin_table_fast(struct dimed *d)
{
	static const char *const maps[] = {
		"fast_out4_only_src", "fast_out4_only_dst", "fast_out4_dst", "fast_out4_src",
		"fast_in4_only_src", "fast_in4_only_dst", "fast_in4_dst", "fast_in4_src",
	};
	static const uint8_t key[20], data[4];

	if (d->cfg.datapath == CONFIG_DATAPATH_QUEUE)
		return false;
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (nftset_add_map(d->ns, maps[i], key, sizeof(key), data, sizeof(data)) < 0 ||
		    nftset_del(d->ns, maps[i], key, sizeof(key)) < 0) {
			nftset_discard(d->ns);
			return false;
		}
	return nftset_commit(d->ns) == 0;
}

/* The table with every element our flows need, in one transaction; the
 * kernel datapath with it if the configuration wants it and it loads. */
static int install_rules(struct dimed *d, enum rules_mode *mode)
{
	bool fast = d->cfg.datapath != CONFIG_DATAPATH_QUEUE;
	char *elements = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&elements, &len);

	if (!f || st_nft_elements(d->st, f) < 0) {
		if (f)
			fclose(f);
		free(elements);
		return -ENOMEM;
	}
	fclose(f);
	int r = rules_install(&d->rcfg, elements, mode, &fast);
	free(elements);
	if (r == 0) {
		datapath_set(d, fast);
		st_table_loaded(d->st, fast);
	}
	return r;
}

/* Someone removed our table (nftables.service reload/stop flushes the whole
 * ruleset): put it back with every element, so translated flows go on. */
static void on_nft_event(struct dimed *d)
{
	if (!nftwatch_read(d->watch))
		return;
	if (d->rmode == RULES_NONE) {
		/* The administrator's ruleset owns the table: when it comes back
		 * (a reload replaces it whole), our set elements must too. */
		log_warnx("dimed's nftables table was replaced: re-adding its set elements");
		datapath_set(d, admin_table_fast(d));
		st_table_loaded(d->st, d->fast);
		st_rebuild_sets(d->st);
		return;
	}
	log_warnx("dimed's nftables rules were removed (nft flush ruleset?): restoring them");
	enum rules_mode mode;
	int r = install_rules(d, &mode);
	nftwatch_drain(d->watch);
	if (r < 0) {
		log_warnx("cannot restore the rules: %s; translated flows are stalled", strerror(-r));
		return;
	}
	d->rmode = mode;
	st_rebuild_sets(d->st);
}

static void run(struct dimed *d)
{
	struct epoll_event evs[32];

	int wait_ms = -1;

	while (!d->quit) {
		int n = epoll_wait(d->ep, evs, 32, st_pending(d->st) ? 0 : wait_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			switch (tag) {
			case EV_QUEUE:
				/* Only a full batch means more is waiting: an extra
				 * recvmmsg that finds nothing costs a system call
				 * per wakeup. */
				while (queue_poll(d->q, st_packet, d->st) >= QUEUE_BATCH)
					;
				break;
			case EV_RTNL:
				if (rtnl_read(d->rt) < 0)
					log_warn("rtnetlink");
				break;
			case EV_CTL:
				ctl_accept(d->ctl);
				break;
			case EV_SIGNAL:
				on_signal(d);
				break;
			case EV_NFT:
				on_nft_event(d);
				break;
			case EV_IHMP4:
			case EV_IHMP6:
				ihmp_read(d->ihmp, tag == EV_IHMP6);
				break;
			case EV_TUN:
				tunnel_read(d->tunnel);
				break;
			case EV_DDNS:
				if (d->ddns)
					ddns_read(d);
				break;

			case EV_TIMER: {
				uint64_t x;
				(void)!read(d->timerfd, &x, sizeof(x));
				ctl_expire(d->ctl);
				ev_tick();	/* the count of a rejection flood that stopped */
				ddns_refresh(d);	/* what peers see of us behind a NAT */
				break;
			}
			default:
				if (tag >= EV_RESOLVER_BASE) {
					if (d->res)
						resolver_read(d->res, (int)(tag - EV_RESOLVER_BASE));
					break;
				}
				ctl_client_ready(d->ctl, (int)(tag - EV_CLIENT_BASE));
			}
		}
		st_tick(d->st);
		wait_ms = d->ihmp ? ihmp_tick(d->ihmp) : -1;
		int save_ms = state_tick(&d->saver, d->cfg.state_dir, d->st, d->ihmp, clock_ms());
		int more[] = { save_ms, d->ddns ? ddns_tick(d->ddns) : -1,
			       d->res ? resolver_tick(d->res, clock_ms()) : -1 };
		for (size_t k = 0; k < sizeof(more) / sizeof(more[0]); k++)
			if (more[k] >= 0 && (wait_ms < 0 || more[k] < wait_ms))
				wait_ms = more[k];
	}
}

/* Addresses came or went: the datapath first (inbound elements for the new
 * address), then signalling, which acts on it in its next tick. */
static void on_addr(void *arg, const struct rtnl_addr *a, bool up)
{
	struct dimed *d = arg;

	st_addr_event(d->st, a, up);
	if (d->ihmp)
		ihmp_addr_event(d->ihmp, a, up);
	ddns_refresh(d);
}

static void on_tunnel_rebind(void *arg, struct hid *h, const struct dime_addr *src, uint16_t port)
{
	ihmp_nat_data_from(arg, h, src, port);
}

/* nft and iptables run as children: without the capability in the
 * ambient set they would run unprivileged and fail obscurely. */
#define NFT_UNPRIVILEGED "not root and CAP_NET_ADMIN is not in the ambient set, so nft " \
	"and iptables would run unprivileged (systemd: AmbientCapabilities=CAP_NET_ADMIN; " \
	"setpriv --ambient-caps=+net_admin), or use --no-rules"
static bool nft_privileged(void)
{
	return geteuid() == 0 || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_ADMIN, 0, 0) == 1;
}

static void make_parent_dir(struct dimed *d, const char *path)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			start_fail(d, "cannot create %s: %s", dir, strerror(errno));
	}
}

/* The identifiers held on lo are listed next to the control socket. */
static void held_file(const struct config *cfg, char *path, size_t n)
{
	snprintf(path, n, "%s.held", cfg->control_socket);
}

/*
 * dimed --cleanup: what a run that did not exit cleanly (kill -9, a crash)
 * leaves behind goes: its table and xtables rules (traffic is unaffected:
 * the queue was bypassed), the tunnel's policy rule, and the identifiers it
 * held on lo, which would make those addresses' next owners unreachable
 * from here. For systemd's ExecStopPost=; refused while a dimed answers on
 * the control socket.
 */
static int dimed_cleanup(const struct config *cfg, const struct rules_cfg *rcfg)
{
	char held[300];
	struct rtnl *rt;
	int r;

	if (ctl_in_use(cfg->control_socket)) {
		log_warnx("dimed --cleanup: a dimed is running (it answers on %s): nothing removed",
			  cfg->control_socket);
		return 1;
	}
	/* systemd's ExecStopPost= after a crash: Restart=on-failure starts
	 * dimed again at once, and that start takes the table over with its
	 * elements in one transaction. Removed now, the gap between would
	 * turn every packet of a translated flow into a RST. */
	const char *result = getenv("SERVICE_RESULT");
	if (result && *result && strcmp(result, "success") != 0) {
		log_info("dimed --cleanup: dimed failed (%s): its table and identifiers are left to "
			 "its restart (run dimed --cleanup if it does not come back)", result);
		return 0;
	}
	if (cfg->rules != CONFIG_RULES_NONE)
		rules_remove(rcfg, RULES_XT);	/* the table, and the xtables rules if any */
	if ((r = rtnl_open(&rt, NULL, NULL)) < 0) {
		log_warnx("dimed --cleanup: rtnetlink: %s", strerror(-r));
		return 1;
	}
	if ((r = rtnl_tunnel(rt, 0, ENCAP_MARK, ENCAP_TABLE, false)) < 0)
		log_warnx("dimed --cleanup: the tunnel's policy rule: %s", strerror(-r));
	held_file(cfg, held, sizeof(held));
	rtnl_set_state_file(rt, held);	/* adopts what an earlier run held */
	rtnl_close(rt);			/* ... and releases it */
	log_info("dimed --cleanup: done");
	return r < 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct dimed d = { .opts = &o, .ddns_fd = -1 };
	char err[CONFIG_ERRLEN];
	int r;

	/* journald (and anything not a terminal) gets <N> priority prefixes,
	 * from the first line on: a refusal to start is logged as an error. */
	log_init(LOG_INFO, getenv("JOURNAL_STREAM") || !isatty(2));
	parse_args(argc, argv, &o);
	if (dimed_config(&o, &d.cfg, err, sizeof(err)) < 0)
		fatalx("dimed: %s", err);
	if (o.print_config) {
		config_dump(&d.cfg, stdout);
		config_free(&d.cfg);
		return 0;
	}
	const struct config *cfg = &d.cfg;
	d.rcfg.queue_num = cfg->queue;
	d.rcfg.mark = cfg->xt_mark;
	/* journald (and anything not a terminal) gets <N> priority prefixes. */
	log_init(cfg->log_level, getenv("JOURNAL_STREAM") || !isatty(2));
	if (o.cleanup) {
		if (cfg->rules != CONFIG_RULES_NONE && !nft_privileged())
			fatalx("dimed --cleanup: %s", NFT_UNPRIVILEGED);
		r = dimed_cleanup(cfg, &d.rcfg);
		config_free(&d.cfg);
		return r;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((d.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (d.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    (d.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) < 0)
		fatal("dimed: setting up the event loop");
	struct itimerspec its = { .it_interval = { .tv_sec = 1 }, .it_value = { .tv_sec = 1 } };
	timerfd_settime(d.timerfd, 0, &its, NULL);

	if ((r = nftset_open(&d.ns, "dimed", NFPROTO_INET, NFTSET_F_DEL_NOENT_OK)) < 0)
		fatalx("dimed: netfilter netlink: %s", strerror(-r));
	if ((r = rtnl_open(&d.rt, NULL, NULL)) < 0)
		fatalx("dimed: rtnetlink: %s", strerror(-r));
	struct st_cfg scfg = { .max_flows = cfg->max_flows, .max_hids = cfg->max_peers,
			       .ihmp_port = o.no_ihmp ? 0 : cfg->port };
	d.rmode = RULES_NONE;
	/* Before anything: a second dimed would replace the first one's table. */
	if (ctl_in_use(cfg->control_socket))
		fatalx("dimed: another dimed is running (it answers on %s)", cfg->control_socket);
	if (cfg->rules != CONFIG_RULES_NONE && !nft_privileged())
		fatalx("dimed: %s", NFT_UNPRIVILEGED);
	/* The xtables mark bit only means something with the fallback, but an
	 * administrator's ruleset (--no-rules) may use it too: always clear
	 * it, and the guard mark every queued inbound packet carries. */
	scfg.clear_mark = cfg->xt_mark | RULES_GUARD_MARK;
	if ((r = st_new(&d.st, &scfg, d.rt, d.ns)) < 0) {
		start_fail(&d, "%s", strerror(-r));
	}
	st_set_timeouts(d.st, cfg->udp_timeout, cfg->tcp_timeout);
	rtnl_set_callback(d.rt, on_addr, &d);
	if (!o.no_ihmp) {
		struct ihmp_cfg icfg = { .port = cfg->port, .state_dir = cfg->state_dir };
		if ((r = ihmp_new(&d.ihmp, &icfg, d.st)) < 0) {
			start_fail(&d, "cannot start IHMP on port %u: %s%s", cfg->port, strerror(-r),
				   r == -EADDRINUSE ? "" : " (see the line above)");
		}
		st_set_peer_hook(d.st, ihmp_peer_flow, d.ihmp);
		/* NAT traversal: flows whose path crosses a NAT are carried in
		 * DATA on the IHMP port (docs/ihmp.md §8). */
		struct tunnel_cfg tcfg = { .port = cfg->port };
		if ((r = tunnel_new(&d.tunnel, &tcfg, d.st, d.rt)) < 0) {
			log_warnx("no NAT traversal, and TCP senders resume on their own backed-off "
				  "timers after a handoff: cannot set up the tunnel device: %s "
				  "(needs /dev/net/tun and CAP_NET_ADMIN)", strerror(-r));
		} else {
			st_set_injector(d.st, tunnel_inject, d.tunnel);
			tunnel_set_sockets(d.tunnel, ihmp_fd(d.ihmp, 0), ihmp_fd(d.ihmp, 1));
			ihmp_set_data_hook(d.ihmp, tunnel_input, d.tunnel);
			tunnel_set_rebind_hook(d.tunnel, on_tunnel_rebind, d.ihmp);
		}
		ihmp_set_config(d.ihmp, &d.cfg);
		if (cfg->local_key[0]) {
			if (ihmp_set_local_key(d.ihmp, cfg->local_key, cfg->local_key_prefixes,
					       cfg->n_local_key_prefixes, err, sizeof(err)) < 0) {
				start_fail(&d, "local-key: %s", err);
			}
		}
	}
	/* A bad secret file is a start-up error like a bad config line. */
	if (cfg->ddns.on && ddns_start(&d, &cfg->ddns, err, sizeof(err)) < 0)
		start_fail(&d, "[ddns]: %s", err);
	/* A restart: the identifiers an earlier run held on lo, then its
	 * peers and flows, so translation resumes with the first packet. */
	make_parent_dir(&d, cfg->control_socket);
	char held_path[300];
	held_file(cfg, held_path, sizeof(held_path));
	rtnl_set_state_file(d.rt, held_path);
	struct state_loaded sl;
	if ((r = state_load(cfg->state_dir, d.st, d.ihmp, &sl, err, sizeof(err))) < 0)
		/* After every reboot the file is stale: that is no warning. */
		log_msg(r == -ESTALE ? LOG_INFO : LOG_WARNING, "state file %s/" STATE_FILE
			" refused, starting clean: %s", cfg->state_dir, err);
	else if (sl.peers || sl.flows)
		log_info("restored %u peers and %u flows from %s/" STATE_FILE "%s", sl.peers, sl.flows,
			 cfg->state_dir, sl.skipped ? " (some records no longer fit: skipped)" : "");
	/* The table and the restored flows' elements in one transaction: no
	 * moment where a packet of a translated flow meets neither. */
	if (cfg->rules != CONFIG_RULES_NONE && (r = install_rules(&d, &d.rmode)) < 0)
		start_fail(&d, "cannot install nftables rules: %s", strerror(-r));
	if (d.rmode == RULES_NONE) {
		datapath_set(&d, admin_table_fast(&d));
		st_table_loaded(d.st, d.fast);
		if (sl.flows)
			st_rebuild_sets(d.st);	/* the administrator's table */
	}
	if ((r = queue_open(&d.q, d.rcfg.queue_num, DIMED_QUEUE_MAXLEN)) < 0) {
		start_fail(&d, "nfqueue %u: %s (is the nfnetlink_queue module available?)",
			   d.rcfg.queue_num, strerror(-r));
	}
	if ((r = ctl_open(&d.ctl, cfg->control_socket, ctl_dispatch, &d)) < 0) {
		start_fail(&d, "control socket %s: %s", cfg->control_socket,
			   r == -EADDRINUSE ? "another dimed is running" : strerror(-r));
	}
	ctl_set_watch(d.ctl, ctl_watch, &d);
	ev_set_sink(events_to_ctl, &d);
	if ((r = st_learn_sockets(d.st)) < 0)
		log_warnx("cannot list existing sockets: %s", strerror(-r));
	if (d.ihmp && sl.peers)
		ihmp_reconfirm(d.ihmp);
	if (d.ihmp) {
		if ((r = resolver_start(&d, cfg)) < 0)
			log_warnx("no rendezvous: cannot open the resolver's sockets: %s", strerror(-r));
		ihmp_set_resolve(d.ihmp, resolve_peer, &d);
	}

	ep_add(&d, queue_fd(d.q), EV_QUEUE);
	ep_add(&d, rtnl_fd(d.rt), EV_RTNL);
	ep_add(&d, ctl_fd(d.ctl), EV_CTL);
	ep_add(&d, d.sigfd, EV_SIGNAL);
	ep_add(&d, d.timerfd, EV_TIMER);
	for (int i = 0; d.ihmp && i < 2; i++)
		if (ihmp_fd(d.ihmp, i) >= 0)
			ep_add(&d, ihmp_fd(d.ihmp, i), i ? EV_IHMP6 : EV_IHMP4);
	if (d.tunnel)
		ep_add(&d, tunnel_fd(d.tunnel), EV_TUN);
	{
		if ((r = nftwatch_open(&d.watch)) < 0)
			log_warnx("cannot watch nftables for a flushed ruleset: %s", strerror(-r));
		else
			ep_add(&d, nftwatch_fd(d.watch), EV_NFT);
	}
	log_info("dimed %s running: queue %u, rules %s, IHMP %s, control %s", DIME_VERSION,
		 d.rcfg.queue_num, rules_mode_name(d.rmode), d.ihmp ? "on" : "off", cfg->control_socket);
	char status[128];
	snprintf(status, sizeof(status), "READY=1\nSTATUS=translating (rules: %s)",
		 rules_mode_name(d.rmode));
	notify(status);

	run(&d);
	notify("STOPPING=1\nSTATUS=removing rules and identifiers");
	if ((r = state_save(cfg->state_dir, d.st, d.ihmp)) < 0)
		log_warnx("cannot write %s/" STATE_FILE ": %s", cfg->state_dir, strerror(-r));

	/* Rules first: traffic goes back to the plain kernel path, then the
	 * identifiers we held on lo go. */
	nftwatch_close(d.watch);
	rules_remove(&d.rcfg, d.rmode);
	ev_set_sink(NULL, NULL);
	ctl_close(d.ctl);
	queue_close(d.q);
	ddns_stop(&d);
	resolver_stop(&d);
	ihmp_free(d.ihmp);
	tunnel_free(d.tunnel);
	st_free(d.st);
	rtnl_close(d.rt);
	nftset_close(d.ns);
	close(d.ep);
	close(d.sigfd);
	close(d.timerfd);
	config_free(&d.cfg);
	log_info("dimed stopped");
	return 0;
}
