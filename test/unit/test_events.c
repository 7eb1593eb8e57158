/*
 * Events for `dimectl monitor` (events.h): one event as a text line and a
 * JSON line that say the same; a monitor's bounded queue that loses lines
 * when full and says so once ("events lost: N") when there is room again;
 * rejections coalesced to one event per reason per second; and the text
 * rendering `dimectl show` uses (zero counters hidden, wg-like blocks).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "events.h"
#include "hid_table.h"
#include "out.h"

static char last_text[EV_LINE_MAX], last_json[EV_LINE_MAX];
static int nevents;

static void capture(void *arg, const char *text, const char *json)
{
	(void)arg;
	snprintf(last_text, sizeof(last_text), "%s", text);
	snprintf(last_json, sizeof(last_json), "%s", json);
	nevents++;
}

static void addr4(struct dime_addr *a, const char *s)
{
	uint8_t b[4];
	inet_pton(AF_INET, s, b);
	addr_set(a, AF_INET, b);
}

static void test_format(void)
{
	struct dime_addr a;
	struct ev e;

	addr4(&a, "198.18.0.10");
	ev_set_sink(capture, NULL);
	ev_begin(&e, "handoff-done");
	ev_addr(&e, "peer", &a);
	ev_str(&e, "kind", "hard");
	ev_u64(&e, "duration_ms", 4);
	ev_str(&e, "odd", "a \"b\"\n");
	ev_end(&e);
	CHECK_EQ(nevents, 1);
	CHECK(!strcmp(last_text, "handoff-done peer=198.18.0.10 kind=hard duration_ms=4 odd=a_\"b\"_\n"));
	CHECK(!strncmp(last_json, "{\"time\":", 8));
	CHECK(strstr(last_json, ",\"event\":\"handoff-done\",\"peer\":\"198.18.0.10\",\"kind\":\"hard\","
				"\"duration_ms\":4,\"odd\":\"a \\\"b\\\"\\u000a\"}\n") != NULL);

	/* A line too long for the buffer is cut, still one valid line. */
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev_begin(&e, "x");
	ev_str(&e, "v", big);
	ev_end(&e);
	CHECK(strlen(last_text) < EV_LINE_MAX && last_text[strlen(last_text) - 1] == '\n');
	CHECK(strchr(last_text, '\n') == last_text + strlen(last_text) - 1);
	CHECK(!strcmp(last_json + strlen(last_json) - 2, "}\n"));
	ev_set_sink(NULL, NULL);
}

static void test_handoff(void)
{
	struct hid h;
	struct dime_addr old, to, peer;

	memset(&h, 0, sizeof(h));
	addr4(&old, "198.18.1.2");
	addr4(&to, "198.18.1.150");
	addr4(&peer, "198.18.0.10");
	ev_set_sink(capture, NULL);
	nevents = 0;
	ev_handoff_begin(&h, EV_HO_HARD, &to);
	CHECK_EQ(nevents, 1);
	CHECK(!strncmp(last_text, "handoff-start peer=- kind=hard to=198.18.1.150", 46));
	CHECK(h.ho[0].pending);
	ev_handoff_seen(&h, &old, &peer);	/* still the old locator */
	CHECK_EQ(nevents, 1);
	CHECK(h.ho[0].pending);
	ev_handoff_seen(&h, &to, &peer);
	CHECK_EQ(nevents, 2);
	CHECK(!h.ho[0].pending);
	CHECK(!strncmp(last_text, "handoff-done peer=- kind=hard to=198.18.1.150 duration_ms=", 58));
	ev_handoff_seen(&h, &to, &peer);	/* once only */
	CHECK_EQ(nevents, 2);
	ev_set_sink(NULL, NULL);
}

static void test_reject(void)
{
	struct dime_addr a;

	addr4(&a, "198.18.0.66");
	ev_reject_reset();
	ev_set_sink(capture, NULL);
	nevents = 0;
	for (int i = 0; i < 1000; i++)
		ev_reject("bad-signature", &a);
	CHECK_EQ(nevents, 1);	/* a flood is one event a second */
	CHECK(!strcmp(last_text, "rejected reason=bad-signature from=198.18.0.66\n"));
	ev_reject("replay", &a);	/* another reason has its own budget */
	CHECK_EQ(nevents, 2);
	ev_tick();	/* within the second: nothing yet */
	CHECK_EQ(nevents, 2);
	usleep(1100 * 1000);
	ev_tick();	/* the flood stopped: its count is not lost */
	CHECK_EQ(nevents, 3);
	CHECK(!strcmp(last_text, "rejected reason=bad-signature more=999\n"));
	ev_tick();
	CHECK_EQ(nevents, 3);
	ev_set_sink(NULL, NULL);
}

static void test_queue(void)
{
	struct evq *q = calloc(1, sizeof(*q));
	char line[1001];
	size_t n = 0;

	memset(line, 'e', 999);
	line[999] = '\n';
	line[1000] = '\0';
	CHECK(evq_push(q, "ok\n"));
	while (evq_push(q, line))
		n++;
	CHECK_EQ(n, (EVQ_CAP - 3) / 1000);	/* bounded */
	CHECK(q->len <= EVQ_CAP);
	CHECK(!evq_push(q, line));
	CHECK_EQ(q->lost, 2);
	/* The reader takes a little: not yet room for the notice and a line. */
	evq_consumed(q, 100);
	CHECK(!evq_push(q, line));
	CHECK_EQ(q->lost, 3);
	/* It catches up: one notice, then the line. */
	evq_consumed(q, q->len);
	CHECK(evq_push(q, line));
	CHECK_EQ(q->lost, 0);
	CHECK(!strncmp(q->buf + q->off, "events lost: 3\n", 15));
	CHECK_EQ(q->len, 15 + 1000);
	/* Only once. */
	evq_consumed(q, q->len);
	CHECK(evq_push(q, "x\n"));
	CHECK(!strncmp(q->buf + q->off, "x\n", 2) && q->len == 2);

	/* JSON monitors get a JSON notice. */
	memset(q, 0, sizeof(*q));
	q->json = true;
	q->lost = 7;
	CHECK(evq_push(q, "{}\n"));
	CHECK(!strncmp(q->buf, "{\"event\":\"events-lost\",\"count\":7}\n{}\n", q->len));
	free(q);
}

static void test_show_text(void)
{
	struct out o;

	out_init(&o, false);
	o.hide_zero = true;
	out_obj_begin(&o, NULL);
	out_u64(&o, "listen_port", 3463);
	out_u64(&o, "encapsulated_flows", 0);
	out_arr_begin(&o, "peers");
	out_obj_begin_titled(&o, "peer: 198.18.0.10 (AbCdEfGh)");
	out_str(&o, "key", "tofu");
	out_u64(&o, "bytes_in", 0);
	out_u64(&o, "flows", 1);
	out_obj_end(&o);
	out_obj_begin_titled(&o, "peer: 198.18.0.11");
	out_u64(&o, "flows", 0);
	out_obj_end(&o);
	out_arr_end(&o);
	out_obj_end(&o);
	const char *t = out_done(&o);
	CHECK(t && !strcmp(t, "listen_port: 3463\n\npeer: 198.18.0.10 (AbCdEfGh)\n  key: tofu\n  flows: 1\n"
			      "\npeer: 198.18.0.11\n"));
	if (t && strcmp(t, "listen_port: 3463\n\npeer: 198.18.0.10 (AbCdEfGh)\n  key: tofu\n  flows: 1\n"
			   "\npeer: 198.18.0.11\n"))
		fprintf(stderr, "got:\n%s", t);
	out_free(&o);

	/* JSON keeps every field, and ignores titles. */
	out_init(&o, true);
	o.hide_zero = true;
	out_obj_begin(&o, NULL);
	out_u64(&o, "encapsulated_flows", 0);
	out_arr_begin(&o, "peers");
	out_obj_begin_titled(&o, "peer: x");
	out_u64(&o, "bytes_in", 0);
	out_obj_end(&o);
	out_arr_end(&o);
	out_obj_end(&o);
	t = out_done(&o);
	CHECK(t && !strcmp(t, "{\"encapsulated_flows\":0,\"peers\":[{\"bytes_in\":0}]}\n"));
	out_free(&o);
}

int main(void)
{
	RUN(test_format);
	RUN(test_handoff);
	RUN(test_reject);
	RUN(test_queue);
	RUN(test_show_text);
	return check_done();
}
