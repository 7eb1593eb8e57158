/* The control commands, the one list both ends read: dimectl for its
 * --help, dimed for who may run what with how many arguments (it maps
 * each to its handler by name). */
#include <stddef.h>

#include "ctl_proto.h"

const struct ctl_command ctl_commands[] = {
	{ "show", NULL, "", false, 0, "this host, then one block per peer: addresses, key, flows, bytes, last handoff" },
	{ "show", "hids", "", false, 0, "the HID table: each peer's active, unreachable and local addresses" },
	{ "show", "flows", "", false, 0, "the socket table" },
	{ "show", "keys", "", false, 0, "our public key and every peer's key binding (tofu or pinned)" },
	{ "monitor", NULL, "", false, 0, "print events as they happen (peers, handoffs, keys, rejected messages)" },
	{ "stats", NULL, "", false, 0, "packet, table and signalling counters" },
	{ "map", NULL, " PEER NEW-LOCATOR", true, 2, "manual: the peer known by PEER is now at NEW-LOCATOR" },
	{ "map-local", NULL, " PEER LOCAL", true, 2, "manual: the peer known by PEER reaches us at LOCAL" },
	{ "key-pin", NULL, " PEER KEY", true, 2, "always use this base64 Ed25519 key for the peer" },
	{ "key-remove", NULL, " PEER", true, 1, "forget the peer's key (the next HELLO binds one again)" },
	{ "set-local-key", NULL, " PATH|generate [PREFIX...]", true, -1, "our signing key, for all or some addresses" },
	{ "reload", NULL, "", true, 0, "re-read the configuration file (the old one stays if the new one is bad)" },
	{ "version", NULL, "", false, 0, "daemon and protocol version" },
};
const size_t ctl_ncommands = sizeof(ctl_commands) / sizeof(ctl_commands[0]);
