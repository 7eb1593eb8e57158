/*
 * The control protocol, shared by dimed and dimectl. Debuggable with socat:
 *
 *   echo 'dime/1 show' | socat - UNIX-CONNECT:/run/dimed/dimed.sock
 *
 * Request: one line "dime/1 [-j] COMMAND [ARGS...]\n", words separated by
 * spaces (at most CTL_MAX_LINE bytes). Response: first line "ok" or
 * "error: MESSAGE", then the body (text, or one JSON document with -j); the
 * daemon closes the connection when done.
 */
#ifndef DIME_CTL_PROTO_H
#define DIME_CTL_PROTO_H

#define CTL_VERSION "dime/1"
#define CTL_MAX_LINE 1024
#define CTL_MAX_ARGS 16
#define CTL_DEFAULT_PATH DIME_RUNDIR "/dimed.sock"

#include <stdbool.h>
#include <stddef.h>

/* One command (src/ctl_commands.c): "show hids" is name "show", sub "hids". */
struct ctl_command {
	const char *name, *sub;	/* sub: the second word, or NULL */
	const char *args;	/* what follows, for usage (" PEER KEY"), or "" */
	bool privileged;	/* changes state: root or dimed's own user only */
	int max_args;		/* after the command words; -1: any number */
	const char *help;
};
extern const struct ctl_command ctl_commands[];
extern const size_t ctl_ncommands;

#endif
