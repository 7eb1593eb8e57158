/*
 * Events for `dimectl monitor`. Each is built once as "kind key=value ..."
 * and as one JSON object; the sink (ctl) picks the form per client.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "events.h"
#include "hid_table.h"
#include "sign.h"

static ev_sink_fn sink;
static void *sink_arg;

void ev_set_sink(ev_sink_fn fn, void *arg)
{
	sink = fn;
	sink_arg = arg;
}

uint64_t ev_now_ms(void)
{
	return clock_ms();
}

/* Appends, truncating at the line's end (the closing bytes are reserved). */
static void app(char *buf, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void app(char *buf, size_t *len, const char *fmt, ...)
{
	size_t room = EV_LINE_MAX - 4;
	va_list ap;

	if (*len >= room)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, room - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n < room - *len ? (size_t)n : room - *len - 1;
}

/* Values are ours (names, addresses, numbers), but keep the JSON valid
 * and each text line one line whatever they hold. */
static void app_json_str(struct ev *e, const char *v)
{
	app(e->json, &e->jl, "\"");
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '"' || c == '\\')
			app(e->json, &e->jl, "\\%c", c);
		else if (c < 0x20)
			app(e->json, &e->jl, "\\u%04x", c);
		else
			app(e->json, &e->jl, "%c", c);
	}
	app(e->json, &e->jl, "\"");
}

void ev_begin(struct ev *e, const char *kind)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	e->tl = e->jl = 0;
	app(e->text, &e->tl, "%s", kind);
	app(e->json, &e->jl, "{\"time\":%lld.%03ld,\"event\":", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	app_json_str(e, kind);
}

void ev_str(struct ev *e, const char *key, const char *v)
{
	app(e->text, &e->tl, " %s=", key);
	for (const char *c = v; *c; c++)
		app(e->text, &e->tl, "%c", (*c == ' ' || (unsigned char)*c < 0x20) ? '_' : *c);
	app(e->json, &e->jl, ",\"%s\":", key);
	app_json_str(e, v);
}

void ev_u64(struct ev *e, const char *key, uint64_t v)
{
	app(e->text, &e->tl, " %s=%" PRIu64, key, v);
	app(e->json, &e->jl, ",\"%s\":%" PRIu64, key, v);
}

void ev_addr(struct ev *e, const char *key, const struct dime_addr *a)
{
	char b[ADDR_STRLEN];
	ev_str(e, key, a ? addr_fmt(a, b) : "-");
}

void ev_fingerprint(const struct hid *h, char out[9])
{
	out[0] = '\0';
	if (h->key_origin != HID_KEY_NONE)
		sign_pk_fingerprint(h->key, out);
}

void ev_peer(struct ev *e, const struct hid *h)
{
	char fp[9];

	ev_addr(e, "peer", hid_primary(h, AF_UNSPEC));
	ev_fingerprint(h, fp);
	if (fp[0])
		ev_str(e, "key", fp);
}

void ev_end(struct ev *e)
{
	/* app() kept 4 bytes free for these. */
	memcpy(e->text + e->tl, "\n", 2);
	e->tl++;
	memcpy(e->json + e->jl, "}\n", 3);
	e->jl += 2;
	if (sink)
		sink(sink_arg, e->text, e->json);
}

/* ---- handoffs ---- */

const char *ev_handoff_name(unsigned kind)
{
	static const char *const names[] = {
		[EV_HO_NONE] = "none", [EV_HO_HARD] = "hard", [EV_HO_SOFT] = "soft",
		[EV_HO_PEER] = "peer-moved", [EV_HO_NAT] = "nat-rebind",
	};
	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

void ev_handoff_begin(struct hid *h, enum ev_handoff kind, const struct dime_addr *to)
{
	struct ev e;

	h->ho[to->af == AF_INET6] = (struct hid_handoff){ .pending = true, .kind = (uint8_t)kind, .to = *to,
				      .event_ms = ev_now_ms() };
	ev_begin(&e, "handoff-start");
	ev_peer(&e, h);
	ev_str(&e, "kind", ev_handoff_name(kind));
	ev_addr(&e, "to", to);
	ev_end(&e);
}

void ev_handoff_seen(struct hid *h, const struct dime_addr *src, const struct dime_addr *dst)
{
	struct hid_handoff *ho = &h->ho[src->af == AF_INET6];
	struct ev e;

	if (!ho->pending || (!addr_eq(src, &ho->to) && !addr_eq(dst, &ho->to)))
		return;		/* still on the old locator */
	ho->pending = false;
	ho->done_ms = ev_now_ms();
	ev_begin(&e, "handoff-done");
	ev_peer(&e, h);
	ev_str(&e, "kind", ev_handoff_name(ho->kind));
	ev_addr(&e, "to", &ho->to);
	ev_u64(&e, "duration_ms", ho->done_ms - ho->event_ms);
	ev_end(&e);
}

/* ---- rejections, coalesced ---- */

#define EV_REASONS 24

static struct {
	const char *reason;	/* static strings: compared by value */
	uint64_t last_ms;
	uint64_t folded;
} rej[EV_REASONS];

void ev_reject(const char *reason, const struct dime_addr *src)
{
	uint64_t now = ev_now_ms();
	size_t i;

	for (i = 0; i < EV_REASONS && rej[i].reason && strcmp(rej[i].reason, reason); i++)
		;
	if (i == EV_REASONS)
		i = EV_REASONS - 1;	/* more reasons than slots: share the last */
	if (rej[i].reason && now - rej[i].last_ms < 1000) {
		rej[i].folded++;
		return;
	}
	struct ev e;
	ev_begin(&e, "rejected");
	ev_str(&e, "reason", reason);
	if (src)
		ev_addr(&e, "from", src);
	if (rej[i].folded)
		ev_u64(&e, "more", rej[i].folded);
	ev_end(&e);
	rej[i].reason = reason;
	rej[i].last_ms = now;
	rej[i].folded = 0;
}

void ev_tick(void)
{
	uint64_t now = ev_now_ms();

	for (size_t i = 0; i < EV_REASONS && rej[i].reason; i++) {
		if (!rej[i].folded || now - rej[i].last_ms < 1000)
			continue;
		struct ev e;
		ev_begin(&e, "rejected");
		ev_str(&e, "reason", rej[i].reason);
		ev_u64(&e, "more", rej[i].folded);
		ev_end(&e);
		rej[i].last_ms = now;
		rej[i].folded = 0;
	}
}

void ev_reject_reset(void)
{
	memset(rej, 0, sizeof(rej));
}

/* ---- a monitor client's queue ---- */

static bool evq_put(struct evq *q, const char *s, size_t n)
{
	if (q->len + n > EVQ_CAP)
		return false;
	if (q->off + q->len + n > EVQ_CAP) {
		memmove(q->buf, q->buf + q->off, q->len);
		q->off = 0;
	}
	memcpy(q->buf + q->off + q->len, s, n);
	q->len += n;
	return true;
}

bool evq_push(struct evq *q, const char *line)
{
	size_t n = strlen(line);

	if (q->lost) {
		char lost[80];
		int ln = q->json ? snprintf(lost, sizeof(lost), "{\"event\":\"events-lost\",\"count\":%" PRIu64 "}\n", q->lost)
				 : snprintf(lost, sizeof(lost), "events lost: %" PRIu64 "\n", q->lost);
		if (q->len + (size_t)ln + n > EVQ_CAP) {
			q->lost++;
			return false;
		}
		evq_put(q, lost, (size_t)ln);
		q->lost = 0;
	}
	if (!evq_put(q, line, n)) {
		q->lost++;
		return false;
	}
	return true;
}

void evq_consumed(struct evq *q, size_t n)
{
	if (n > q->len)
		n = q->len;
	q->off += n;
	q->len -= n;
	if (!q->len)
		q->off = 0;
}
