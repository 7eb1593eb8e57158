/* notify: systemd readiness over $NOTIFY_SOCKET, without libsystemd. A no-op elsewhere. */
#ifndef DIME_NOTIFY_H
#define DIME_NOTIFY_H

/* Sends e.g. "READY=1\nSTATUS=running". Returns 0, or -errno; 0 when not under systemd. */
int notify(const char *state);

#endif
