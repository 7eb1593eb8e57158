/*
 * config: dimed.conf, strict "key = value" lines. A file is parsed whole
 * into a fresh struct or not at all, so a bad reload leaves the running
 * configuration alone.
 */
#ifndef DIME_CONFIG_H
#define DIME_CONFIG_H

#include "build_config.h"	/* DIME_SYSCONFDIR and friends, from meson */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"

#define CONFIG_DEFAULT_PATH	DIME_SYSCONFDIR "/dimed.conf"
/* The NFQUEUE number dimed reads (dimed.conf queue, --queue). The IHMP port
 * is IHMP_PORT (ihmp_wire.h): the two share a value, not a meaning. */
#define CONFIG_DEFAULT_QUEUE 3463
#define CONFIG_LINE_MAX		1024	/* bytes, not counting the newline */
#define CONFIG_PATH_MAX		1024
#define CONFIG_SOCK_MAX		108	/* sizeof(sun_path) */
#define CONFIG_LIST_MAX		4096	/* entries per repeatable key; duplicates are found by a linear scan */
#define CONFIG_KEY_LEN		32	/* Ed25519 public key */
#define CONFIG_ERRLEN		512	/* enough for "FILE:LINE: reason" */

/* Who rewrites the packets of a flow whose translation is settled
 * (docs/datapath.md): the kernel, through nftables maps, or dimed. */
enum config_datapath {
	CONFIG_DATAPATH_AUTO,	/* kernel when this kernel can, else queue */
	CONFIG_DATAPATH_QUEUE,
	CONFIG_DATAPATH_KERNEL,
};

enum config_rules {
	CONFIG_RULES_AUTO,	/* dimed installs and removes its table */
	CONFIG_RULES_NONE,	/* the administrator loads nft/dimed*.nft */
};

enum config_hello {
	CONFIG_HELLO_ALL,
	CONFIG_HELLO_NONE,
	CONFIG_HELLO_LIST,	/* only sources in hello_allow */
};

struct config_prefix {
	struct dime_addr addr;	/* host bits are zero */
	unsigned plen;
};

struct config_pin {
	struct config_prefix pfx;
	uint8_t key[CONFIG_KEY_LEN];
};

/* An address and port to send to (a DNS server). */
struct config_server {
	struct dime_addr addr;
	uint16_t port;
};

#define CONFIG_NAME_MAX		254	/* a DNS name, presentation form, plus NUL */
#define CONFIG_RESOLVERS_MAX	3	/* as resolv.conf's MAXNS */

/* [ddns]: the RFC 2136 updates of our A and AAAA records (docs/ddns.md). */
struct config_ddns {
	bool on;				/* the section is there */
	struct config_server server;
	char zone[CONFIG_NAME_MAX];
	char name[CONFIG_NAME_MAX];		/* ours; also told to peers (NAME) */
	char key_name[CONFIG_NAME_MAX];
	int algorithm;				/* enum dns_tsig_alg */
	char secret_file[CONFIG_PATH_MAX];
	uint32_t ttl;				/* seconds */
	bool publish_private;			/* RFC 1918, 100.64/10, ULA too */
};

struct config {
	char control_socket[CONFIG_SOCK_MAX];
	char state_dir[CONFIG_PATH_MAX];
	uint16_t queue;
	uint16_t port;
	enum config_rules rules;
	enum config_datapath datapath;
	uint32_t xt_mark;		/* exactly one bit */
	int log_level;			/* syslog priority */
	uint32_t max_flows;
	uint32_t max_peers;
	uint32_t udp_timeout;		/* seconds */
	uint32_t nat_keepalive;		/* seconds between keepalives through a NAT */
	uint32_t tcp_timeout;		/* seconds, established TCP */

	/* IHMP policy: checked now, used once IHMP is in. */
	enum config_hello hello;
	struct config_prefix *hello_allow;
	size_t n_hello_allow;
	bool require_signatures;
	struct config_pin *pins;
	size_t n_pins;
	char local_key[CONFIG_PATH_MAX];	/* "" when unset */
	struct config_prefix *local_key_prefixes;
	size_t n_local_key_prefixes;

	/* Where peers' names are looked up (rendezvous, docs/ihmp.md §11);
	 * none: the nameservers of /etc/resolv.conf. */
	struct config_server resolvers[CONFIG_RESOLVERS_MAX];
	size_t n_resolvers;
	struct config_ddns ddns;
};

/* Fills c with the built-in defaults; allocates nothing. */
void config_defaults(struct config *c);
/*
 * Parses the file at path into *c (defaults plus the file). On failure *c is
 * untouched, err holds one line "FILE:LINE: reason" (or "FILE: reason") and
 * the result is -errno: -ENOENT for a missing file, -EINVAL for a bad one.
 */
int config_load(const char *path, struct config *c, char *err, size_t errlen);
/* The same, reading f; name is used in messages. */
int config_parse(FILE *f, const char *name, struct config *c, char *err, size_t errlen);
/*
 * Sets one key as a file line would (lists append), for command-line
 * overrides. 0, or -errno with "KEY: reason" in err; *c is unchanged then.
 */
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen);
void config_free(struct config *c);
/* Writes every key in canonical form, itself a valid file. 0 or -EIO. */
int config_dump(const struct config *c, FILE *f);
/* "auto", "queue" or "kernel". */
const char *config_datapath_name(enum config_datapath d);
/*
 * Names the keys that differ between cur and next and take effect only at
 * a restart, as "a, b" in buf (which may be NULL); returns how many.
 */
unsigned config_restart_keys(const struct config *cur, const struct config *next,
			     char *buf, size_t len);
/* Copies those keys from cur into next, so next describes what runs. */
void config_keep_restart(struct config *next, const struct config *cur);

#endif
