/* ihmp_wire: encode and decode IHMP messages (docs/ihmp.md).  Pure: no
 * sockets, no clock, no allocation; never reads or writes out of bounds. */
#ifndef DIME_IHMP_WIRE_H
#define DIME_IHMP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define IHMP_VERSION	1
#define IHMP_PORT	3463	/* default UDP port, configurable */
#define IHMP_MAX_MSG	1232	/* fits an IPv6 minimum-MTU path */
#define IHMP_MAX_ADDRS	8	/* entries in one ADDRS list */
#define IHMP_HDR_LEN	8	/* fixed header, before the Host ID */

#define IHMP_KEY_LEN	32	/* Ed25519 public key */
#define IHMP_SIG_LEN	64	/* Ed25519 signature */
#define IHMP_NONCE_LEN	16

/* The signature covers IHMP_SIG_CONTEXT (no NUL) || message bytes before
 * the SIGNATURE TLV. */
#define IHMP_SIG_CONTEXT	"IHMP-v1-signature"
#define IHMP_SIG_CONTEXT_LEN	17
/* A KEY_ROTATE proof covers IHMP_ROT_CONTEXT || old key || new key ||
 * counter (8 octets, big-endian). */
#define IHMP_ROT_CONTEXT	"IHMP-v1-key-rotate"
#define IHMP_ROT_CONTEXT_LEN	18

/* Message types. */
enum {
	IHMP_HELLO = 1,
	IHMP_PATH_PROBE = 2,
	IHMP_ADDR_UP = 3,
	IHMP_ADDR_UP_UNREACHABLE = 4,
	IHMP_ADDR_DOWN = 5,
	IHMP_ADDR_DOWN_UNREACHABLE = 6,
	IHMP_HANDOFF = 7,
	IHMP_HANDOFF_UNREACHABLE = 8,
	IHMP_ACK = 9,
	IHMP_NAT_ENTRY = 10,
};
#define IHMP_TYPE_MAX	IHMP_NAT_ENTRY

/* Header flags; unassigned ones are carried through and otherwise ignored. */
#define IHMP_F_OU	0x0001	/* old address unreachable (HANDOFF*) */
#define IHMP_F_NS	0x0002	/* NAT supported (set by an IHMP-aware NAT) */
#define IHMP_F_ND	0x0004	/* NAT detected (ACK) */
#define IHMP_F_NF	0x0008	/* NAT forced (HELLO, ACK of HELLO) */

/* TLV codes.  Below 128 a receiver must understand the TLV to accept the
 * message (critical); from 128 on it may skip it. */
enum {
	IHMP_T_ADDRS = 1,
	IHMP_T_NEW_ADDR = 2,
	IHMP_T_OLD_ADDR = 3,
	IHMP_T_ECHO = 4,
	IHMP_T_NAT_MAP = 5,
	IHMP_T_COUNTER = 6,
	IHMP_T_PUBKEY = 7,
	IHMP_T_KEY_ROTATE = 8,
	IHMP_T_NONCE = 9,
	IHMP_T_NONCE_ECHO = 10,
	IHMP_T_SIGNATURE = 11,
	IHMP_T_OBSERVED = 12,	/* ACK: the request's source address and port as seen */
	IHMP_T_PAD = 128,	/* skippable, contents ignored */
	IHMP_T_NAME = 129,	/* skippable: the sender's DNS name (HELLO, ACK; §11) */
};
#define IHMP_NAME_MAX	253	/* octets, presentation form without the final dot */
#define IHMP_T_SKIPPABLE	128

/* Bits of ihmp_msg.has: which TLVs the message carries. */
#define IHMP_HAS(t)	(1u << (t))

/* A port mapping announced by an IHMP-aware NAT (NAT_ENTRY). */
struct ihmp_nat_map {
	uint8_t proto;			/* IPPROTO_TCP, IPPROTO_UDP, ... */
	uint16_t int_port, ext_port;	/* host byte order */
	struct dime_addr int_addr;	/* the host behind the NAT */
	struct dime_addr ext_addr;	/* the NAT's public side */
};

struct ihmp_msg {
	uint8_t version;		/* IHMP_VERSION */
	uint8_t type;			/* IHMP_HELLO ... IHMP_NAT_ENTRY */
	uint16_t flags;			/* IHMP_F_* */
	uint16_t seq;
	struct dime_addr host_id;
	uint32_t has;			/* IHMP_HAS(IHMP_T_*) bits */
	uint8_t naddrs;			/* ADDRS */
	struct dime_addr addrs[IHMP_MAX_ADDRS];
	struct dime_addr new_addr;	/* NEW_ADDR */
	struct dime_addr old_addr;	/* OLD_ADDR */
	uint8_t echo_type;		/* ECHO: the type acknowledged */
	struct ihmp_nat_map nat;	/* NAT_MAP */
	uint64_t counter;		/* COUNTER */
	uint8_t pubkey[IHMP_KEY_LEN];	/* PUBKEY */
	uint8_t rot_pubkey[IHMP_KEY_LEN]; /* KEY_ROTATE: the new key */
	uint8_t rot_proof[IHMP_SIG_LEN];  /* KEY_ROTATE: its proof */
	uint8_t nonce[IHMP_NONCE_LEN];	/* NONCE */
	uint8_t nonce_echo[IHMP_NONCE_LEN]; /* NONCE_ECHO */
	uint8_t sig[IHMP_SIG_LEN];	/* SIGNATURE */
	struct dime_addr observed;	/* OBSERVED: the request's source ... */
	uint16_t observed_port;		/* ... and source port, host byte order */
	/* NAME (no bit in has: it is skippable): name_len octets at name,
	 * not NUL-terminated; decoding points into the message. */
	uint8_t name_len;
	const char *name;
	/* Decode only: with a SIGNATURE, the message bytes [0, signed_len)
	 * are signed and the signature value is at sig_off. */
	uint16_t signed_len;
	uint16_t sig_off;
};

/* Zeroes *m and sets version, type and host_id. */
void ihmp_msg_init(struct ihmp_msg *m, uint8_t type, const struct dime_addr *host_id);

/*
 * Writes m into buf in canonical form (TLVs in ascending code order,
 * SIGNATURE last).  Returns the length, or
 *   -EINVAL	m is not a valid message: version, type, TLV set (missing
 *		required, not allowed for the type, unknown bit, SIGNATURE
 *		without COUNTER), family, non-canonical IPv4 address,
 *		naddrs, echo_type,
 *   -ENOSPC	cap is too small (buf may hold a partial message).
 */
int ihmp_encode(const struct ihmp_msg *m, uint8_t *buf, size_t cap);

/*
 * Parses len bytes at buf into *m (zeroed first).  Returns 0 or
 *   -E2BIG		len > IHMP_MAX_MSG,
 *   -EPROTONOSUPPORT	version is not IHMP_VERSION,
 *   -EOPNOTSUPP	unknown message type, or unknown critical TLV (< 128),
 *   -ENOMSG		a TLV the type requires is missing, or SIGNATURE
 *			without COUNTER,
 *   -EBADMSG		malformed: truncated, TLV overrunning the message,
 *			bad family or address length, more than
 *			IHMP_MAX_ADDRS addresses, wrong TLV length,
 *			duplicate TLV, TLV not allowed in the type, ECHO
 *			of a non-acknowledgeable type, bytes after the
 *			SIGNATURE TLV.
 * Checked in this order: size, version, fixed header and type, the Host
 * ID, then each TLV in turn (the first bad one decides between -EBADMSG
 * and -EOPNOTSUPP), then the required set.  On error *m is unspecified.
 */
int ihmp_decode(struct ihmp_msg *m, const uint8_t *buf, size_t len);

/* Same message content: header fields and every TLV that has names
 * (signed_len and sig_off are not compared). */
bool ihmp_msg_equal(const struct ihmp_msg *x, const struct ihmp_msg *y);

/* "HELLO", "ACK", ...; "?" for an unknown type. */
const char *ihmp_type_name(uint8_t type);

/*
 * For a valid signed message: *sig_off is where the 64-byte signature
 * value starts and *signed_len the number of message bytes it covers
 * (from offset 0).  Returns 0, -ENOENT if the message is valid but
 * unsigned, or an ihmp_decode() error.
 */
int ihmp_signed_span(const uint8_t *buf, size_t len, size_t *sig_off, size_t *signed_len);

/*
 * Writes IHMP_SIG_CONTEXT || buf[0, signed_len) to out: the exact bytes
 * Ed25519 signs.  Returns the length, or -ENOSPC.
 */
int ihmp_sig_input(uint8_t *out, size_t cap, const uint8_t *buf, size_t signed_len);

/*
 * Appends a SIGNATURE TLV holding sig to the valid unsigned message of len
 * bytes at buf.  Returns the new length, or -EEXIST (already signed),
 * -ENOMSG (no COUNTER), -ENOSPC (cap), -E2BIG (over IHMP_MAX_MSG), or an
 * ihmp_decode() error.
 */
int ihmp_append_sig(uint8_t *buf, size_t len, size_t cap, const uint8_t sig[IHMP_SIG_LEN]);

#endif
