/* events: what `dimectl monitor` shows as it happens (peers, handoffs, keys,
 * rejected attacks), each formatted once as a text line and a JSON line and
 * handed to one sink (the control socket's monitor clients). Without a sink
 * (unit tests) events cost a few bytes of formatting and go nowhere. */
#ifndef DIME_EVENTS_H
#define DIME_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct hid;

#define EV_LINE_MAX 512

/* One event under construction: ev_begin, fields, ev_end. */
struct ev {
	char text[EV_LINE_MAX], json[EV_LINE_MAX];
	size_t tl, jl;
};

typedef void (*ev_sink_fn)(void *arg, const char *text, const char *json);
void ev_set_sink(ev_sink_fn fn, void *arg);

void ev_begin(struct ev *e, const char *kind);
void ev_str(struct ev *e, const char *key, const char *v);
void ev_u64(struct ev *e, const char *key, uint64_t v);
void ev_addr(struct ev *e, const char *key, const struct dime_addr *a);
/* The peer as `dimectl show` names it: primary address and key fingerprint. */
void ev_peer(struct ev *e, const struct hid *h);
/* Finishes both lines ("\n"-terminated) and hands them to the sink. */
void ev_end(struct ev *e);

/* A short, comparable name for a key: its first 8 base64 characters, as
 * `wg show` abbreviates. out needs 9 bytes; "" for no key. */
void ev_fingerprint(const struct hid *h, char out[9]);

uint64_t ev_now_ms(void);	/* monotonic */

/* Handoffs (hid.ho): started when our address change is seen or the peer's
 * HANDOFF is applied; finished by the first translated data packet to or
 * from the new locator, which the datapath reports. */
enum ev_handoff {
	EV_HO_NONE,
	EV_HO_HARD,		/* we lost every address the peer knew */
	EV_HO_SOFT,		/* we move while the old address still works */
	EV_HO_PEER,		/* the peer moved (its HANDOFF) */
	EV_HO_NAT,		/* the peer's NAT binding changed */
};
const char *ev_handoff_name(unsigned kind);
void ev_handoff_begin(struct hid *h, enum ev_handoff kind, const struct dime_addr *to);
/* Call for a translated packet of h while h->ho[its family].pending. */
void ev_handoff_seen(struct hid *h, const struct dime_addr *src, const struct dime_addr *dst);

/* A message rejected as hostile or bogus (reason: "bad-signature", "replay",
 * ...). At most one event per reason per second: a flood cannot make the
 * stream unbounded; the next one says how many were folded into it. */
void ev_reject(const char *reason, const struct dime_addr *src);
/* Reports what was folded once its second is over, so the count of a
 * flood that stopped is not lost; call it about once a second. */
void ev_tick(void);
/* Forgets what was coalesced: a test starts with every reason's budget. */
void ev_reject_reset(void);

/* A monitor client's bounded queue of lines. A line that does not fit is
 * lost and counted; before the next line that fits, one "events lost: N"
 * line (JSON: {"event":"events-lost","count":N}) says so. */
#define EVQ_CAP (64u << 10)
struct evq {
	bool json;
	size_t off, len;	/* pending bytes: buf[off .. off+len) */
	uint64_t lost;
	char buf[EVQ_CAP];
};
/* false if the line was dropped. */
bool evq_push(struct evq *q, const char *line);
void evq_consumed(struct evq *q, size_t n);

#endif
