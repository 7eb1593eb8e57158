/*
 * dns: the little of the DNS that dimed speaks (docs/ddns.md): an RFC 2136
 * UPDATE that replaces one name's A and AAAA records, signed with TSIG
 * (RFC 8945), and A/AAAA queries for the rendezvous (docs/ihmp.md §11).
 * Pure: no sockets, no clock, no allocation; never reads or writes out of
 * bounds, whatever the bytes.
 */
#ifndef DIME_DNS_H
#define DIME_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"

#define DNS_PORT		53
#define DNS_NAME_STRMAX		254	/* presentation form, no trailing dot, plus NUL */
#define DNS_MSG_MAX		1232	/* what we build and accept over UDP */
#define DNS_ANSWER_MAX		16	/* addresses kept from one answer */
#define DNS_TSIG_SECRET_MAX	128	/* octets */
#define DNS_TSIG_MAC_MAX	64	/* HMAC-SHA512 */
#define DNS_TSIG_FUDGE		300	/* seconds, RFC 8945 §10 */

#define DNS_TYPE_A		1
#define DNS_TYPE_CNAME		5
#define DNS_TYPE_SOA		6
#define DNS_TYPE_AAAA		28
#define DNS_TYPE_TSIG		250
#define DNS_TYPE_ANY		255

#define DNS_OPCODE_QUERY	0
#define DNS_OPCODE_UPDATE	5

/* RCODEs (RFC 1035, 2136) and TSIG errors (RFC 8945, in its error field). */
enum {
	DNS_NOERROR = 0, DNS_FORMERR = 1, DNS_SERVFAIL = 2, DNS_NXDOMAIN = 3, DNS_NOTIMP = 4,
	DNS_REFUSED = 5, DNS_YXDOMAIN = 6, DNS_YXRRSET = 7, DNS_NXRRSET = 8, DNS_NOTAUTH = 9,
	DNS_NOTZONE = 10,
	DNS_BADSIG = 16, DNS_BADKEY = 17, DNS_BADTIME = 18, DNS_BADTRUNC = 22,
};

enum dns_tsig_alg { DNS_HMAC_SHA256, DNS_HMAC_SHA512 };

struct dns_tsig_key {
	char name[DNS_NAME_STRMAX];	/* key name, as the server knows it */
	enum dns_tsig_alg alg;
	uint8_t secret[DNS_TSIG_SECRET_MAX];
	size_t secret_len;
};

/*
 * A domain name in presentation form ("mh.example.org", a trailing dot
 * allowed): 1-63 octet labels of printable ASCII other than space, '"',
 * '\\', '(' , ')' and ';', 253 octets at most. 0 or -EINVAL.
 */
int dns_name_check(const char *name);
/* Whether name is zone or below it (case-insensitive, label-wise). */
bool dns_name_in_zone(const char *name, const char *zone);

/* "hmac-sha256", "hmac-sha512" (case-insensitive). 0 or -EINVAL. */
int dns_tsig_alg_parse(const char *s, enum dns_tsig_alg *alg);
const char *dns_tsig_alg_name(enum dns_tsig_alg alg);
/*
 * The secret out of a key file's text: the base64 secret alone, a BIND
 * key statement (tsig-keygen: `secret "BASE64";`) or a Knot key (keymgr -t:
 * `secret: BASE64`). Fills k->secret and k->secret_len. 0, or -EINVAL with
 * a reason in err (the secret itself is never quoted).
 */
int dns_tsig_secret_parse(const char *text, struct dns_tsig_key *k, char *err, size_t errlen);

/*
 * The UPDATE (RFC 2136) of zone that makes addrs (n of them, both
 * families mixed, n may be 0) the only A and AAAA records of name: delete
 * both RRsets, then add each address with ttl. No prerequisites, ID id.
 * Returns its length, or -EINVAL (a bad name, name not in zone, a bad
 * address), -ENOSPC (cap).
 */
int dns_build_update(uint8_t *buf, size_t cap, uint16_t id, const char *zone, const char *name,
		     uint32_t ttl, const struct dime_addr *addrs, size_t n);
/* A recursive query (RD) for name's qtype records. Length, -EINVAL, -ENOSPC. */
int dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype);

/*
 * Signs the message of len octets at buf (RFC 8945 §5.3): appends a TSIG
 * record (time signed now_s, fudge DNS_TSIG_FUDGE, original ID the
 * message's) and counts it in ARCOUNT. The MAC goes to mac (*mac_len
 * octets), for dns_tsig_verify of the answer. Returns the new length, or
 * -EINVAL (not a message, already has additional records), -ENOSPC.
 */
int dns_tsig_sign(uint8_t *buf, size_t len, size_t cap, const struct dns_tsig_key *k, uint64_t now_s,
		  uint8_t mac[DNS_TSIG_MAC_MAX], size_t *mac_len);
/*
 * Verifies the answer of len octets at buf to a request signed with k whose
 * MAC was req_mac (RFC 8945 §5.3.1, §5.4): its last additional record is a
 * TSIG record of k's name and algorithm, whose MAC covers req_mac, the
 * answer without it (ARCOUNT one less, the original ID) and its variables;
 * its time within its fudge of now_s. *tsig_error gets the record's error
 * field whenever a TSIG record was found (an unsigned BADKEY answer too).
 * Returns 0 (verified), or
 *   -ENOENT	no TSIG record,
 *   -EBADMSG	malformed message or TSIG record,
 *   -EKEYREJECTED	another key name or algorithm, or an error in the
 *		record (BADSIG, BADKEY: the server did not know our key),
 *   -EBADE	the MAC does not verify (or is truncated),
 *   -ETIME	time signed outside the fudge.
 */
int dns_tsig_verify(const uint8_t *buf, size_t len, const struct dns_tsig_key *k, const uint8_t *req_mac,
		    size_t req_mac_len, uint64_t now_s, uint16_t *tsig_error);

/* What dimed reads of an answer. */
struct dns_answer {
	uint16_t id;
	uint8_t opcode, rcode;
	bool qr, aa, tc;
	size_t naddrs;
	struct dime_addr addrs[DNS_ANSWER_MAX];	/* A or AAAA, answer section */
	uint32_t ttl;				/* the smallest of theirs */
};
/*
 * Parses an answer. With qname (non-NULL), the question must be exactly
 * (qname, qtype, IN) and only A/AAAA records (of class IN, of qtype) whose
 * owner is qname, or a CNAME target reached from it within the answer
 * section (at most 8 links), are kept; beyond DNS_ANSWER_MAX they are
 * dropped. Name compression is followed only backwards, bounded. 0, or
 * -EBADMSG (malformed, not an answer, another question).
 */
int dns_parse_answer(const uint8_t *buf, size_t len, const char *qname, uint16_t qtype,
		     struct dns_answer *a);

/* "NOERROR", "NOTAUTH", "BADSIG", ...; "RCODE<n>" in buf otherwise (16 bytes). */
const char *dns_rcode_name(unsigned rcode, char buf[16]);

/*
 * The nameservers of a resolv.conf: up to max `nameserver` addresses (a
 * scope suffix "%eth0" is dropped), in order; other lines ignored. Returns
 * how many.
 */
size_t dns_resolv_conf(FILE *f, struct dime_addr *out, size_t max);

#endif
