/*
 * DDNS (src/ddns.c, docs/ddns.md D1-D5) against a fake clock and a fake
 * server: what is published (D1), one update per burst (D2), which answers
 * count (D3: only the server's, our ID, a NOERROR only with our key's
 * TSIG), backoff and one log line per failure (D4). Success with a real
 * signed answer is the lab's (test/e2e/ddns.sh, against Knot).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ddns.h"
#include "dns.h"
#include "out.h"

#define SECRET "c2VjcmV0IGtleSBmb3IgdGVzdGluZyBkZG5zIDEyMzQ="

static uint64_t now = 5000000;
static unsigned nsent;
static uint8_t last[DNS_MSG_MAX];
static size_t last_len;
static int send_result;

static uint64_t fake_now(void *arg) { (void)arg; return now; }
static uint64_t fake_wall(void *arg) { (void)arg; return 1800000000; }
static int fake_send(void *arg, const struct config_server *to, const uint8_t *buf, size_t len)
{
	(void)arg, (void)to;
	nsent++;
	memcpy(last, buf, len);
	last_len = len;
	return send_result;
}

static char keyfile[] = "/tmp/dime-test-ddns-XXXXXX";
static struct config_ddns cfg;

static struct ddns *make(bool publish_private)
{
	struct ddns_env env = { .now_ms = fake_now, .wall_s = fake_wall, .send = fake_send };
	struct ddns *d = NULL;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.on = true;
	addr_parse(&cfg.server.addr, "198.18.0.53");
	cfg.server.port = 53;
	strcpy(cfg.zone, "dime.test");
	strcpy(cfg.name, "mh.dime.test");
	strcpy(cfg.key_name, "dimekey");
	cfg.algorithm = DNS_HMAC_SHA256;
	strcpy(cfg.secret_file, keyfile);
	cfg.ttl = 5;
	cfg.publish_private = publish_private;
	nsent = 0;
	send_result = 0;
	CHECK_EQ(ddns_new(&d, &cfg, &env, err, sizeof(err)), 0);
	return d;
}

static void set(struct ddns *d, const char *const *list, size_t n)
{
	struct dime_addr a[16];
	for (size_t i = 0; i < n; i++)
		addr_parse(&a[i], list[i]);
	ddns_set_addrs(d, a, n);
}

static void advance(struct ddns *d, uint64_t ms)
{
	uint64_t end = now + ms;
	while (now < end) {
		int w = ddns_tick(d);
		now += w < 0 || now + (uint64_t)w > end ? end - now : (uint64_t)(w ? w : 1);
	}
	ddns_tick(d);
}

/* The show output as JSON, to look at fields. */
static char *show(struct ddns *d)
{
	struct out o;
	out_init(&o, true);
	out_obj_begin(&o, NULL);
	ddns_show(d, &o);
	out_obj_end(&o);
	char *s = strdup(out_done(&o));
	out_free(&o);
	return s;
}

/* The update in flight, parsed back: its ID, and whether addr is in it. */
static uint16_t last_id(void)
{
	return (uint16_t)(last[0] << 8 | last[1]);
}

static bool last_has(const char *addr)
{
	struct dime_addr a;
	addr_parse(&a, addr);
	size_t n = addr_len(&a);
	for (size_t i = 0; i + n <= last_len; i++)
		if (!memcmp(last + i, a.a, n))
			return true;
	return false;
}

/* An answer to the update in flight: rcode, and an unsigned TSIG record
 * with error tsig_err when tsig_err is not 0 (what a server that does not
 * know our key sends). */
static size_t answer(uint8_t *buf, uint16_t id, unsigned rcode, unsigned tsig_err)
{
	static const uint8_t zone[] = "\4dime\4test";
	static const uint8_t key[] = "\7dimekey";
	static const uint8_t alg[] = "\13hmac-sha256";
	size_t n = 0;

	buf[n++] = (uint8_t)(id >> 8);
	buf[n++] = (uint8_t)id;
	buf[n++] = 0x80 | (DNS_OPCODE_UPDATE << 3);
	buf[n++] = (uint8_t)rcode;
	const uint8_t counts[8] = { 0, 1, 0, 0, 0, 0, 0, (uint8_t)(tsig_err ? 1 : 0) };
	memcpy(buf + n, counts, 8);
	n += 8;
	memcpy(buf + n, zone, sizeof(zone));	/* with its root label */
	n += sizeof(zone);
	const uint8_t q[4] = { 0, DNS_TYPE_SOA, 0, 1 };
	memcpy(buf + n, q, 4);
	n += 4;
	if (!tsig_err)
		return n;
	memcpy(buf + n, key, sizeof(key));
	n += sizeof(key);
	const uint8_t rr[8] = { 0, DNS_TYPE_TSIG, 0, 255, 0, 0, 0, 0 };
	memcpy(buf + n, rr, 8);
	n += 8;
	size_t rdlen_at = n;
	n += 2;
	memcpy(buf + n, alg, sizeof(alg));
	n += sizeof(alg);
	const uint8_t t[16] = { 0, 0, 0x6b, 0x49, 0xd2, 0x00, 1, 44, 0, 0, (uint8_t)(id >> 8), (uint8_t)id,
				0, (uint8_t)tsig_err, 0, 0 };	/* time, fudge, MAC size 0, ID, error, other */
	memcpy(buf + n, t, 16);
	n += 16;
	buf[rdlen_at] = (uint8_t)((n - rdlen_at - 2) >> 8);
	buf[rdlen_at + 1] = (uint8_t)(n - rdlen_at - 2);
	return n;
}

static struct dime_addr server(void)
{
	struct dime_addr a;
	addr_parse(&a, "198.18.0.53");
	return a;
}

/* Log lines go to stderr, which a test sends to a file between these:
 * capture_end counts the lines that have what in them (and passes on the
 * harness's own failures). */
static char logpath[] = "/tmp/dime-test-ddns-log-XXXXXX";
static int saved_stderr = -1;

static void capture_begin(void)
{
	strcpy(logpath, "/tmp/dime-test-ddns-log-XXXXXX");
	int fd = mkstemp(logpath);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static int capture_end(const char *what)
{
	char line[512];
	int n = 0;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	FILE *f = fopen(logpath, "r");
	while (f && fgets(line, sizeof(line), f)) {
		n += strstr(line, what) != NULL;
		if (strstr(line, "CHECK"))
			fputs(line, stderr);
	}
	if (f)
		fclose(f);
	unlink(logpath);
	return n;
}

/* D1: global addresses only (private with publish-private), each once;
 * nothing at all sends nothing. */
static void test_publishable(void)
{
	struct ddns *d = make(false);
	const char *const mixed[] = { "198.18.2.2", "10.0.0.5", "192.168.1.2", "100.64.3.4", "169.254.1.1",
				      "fe80::1", "fd00::5", "2001:db8:2::2", "198.18.2.2", "127.0.0.1" };
	set(d, mixed, 0);
	advance(d, 1000);
	CHECK_EQ(nsent, 0);
	set(d, mixed, 10);
	advance(d, DDNS_COALESCE_MS + 1);
	CHECK_EQ(nsent, 1);
	CHECK(last_has("198.18.2.2") && last_has("2001:db8:2::2"));
	CHECK(!last_has("10.0.0.5") && !last_has("192.168.1.2") && !last_has("100.64.3.4"));
	CHECK(!last_has("169.254.1.1") && !last_has("fe80::1") && !last_has("fd00::5"));
	ddns_free(d);

	d = make(true);
	set(d, mixed, 10);
	advance(d, DDNS_COALESCE_MS + 1);
	CHECK(last_has("10.0.0.5") && last_has("fd00::5") && last_has("100.64.3.4"));
	CHECK(!last_has("169.254.1.1") && !last_has("fe80::1"));
	ddns_free(d);
}

/* D2: a burst is one update; a change while one is in flight waits for
 * its answer; going back to what is pending changes nothing. */
static void test_coalesce(void)
{
	struct ddns *d = make(false);
	const char *const a[] = { "198.18.1.2" }, *const b[] = { "198.18.2.2" }, *const c[] = { "198.18.3.2" };
	set(d, a, 1);
	advance(d, 10);
	set(d, b, 1);
	advance(d, 10);
	CHECK_EQ(nsent, 0);
	advance(d, DDNS_COALESCE_MS);
	CHECK_EQ(nsent, 1);
	CHECK(last_has("198.18.2.2") && !last_has("198.18.1.2"));
	set(d, c, 1);		/* in flight: next time */
	advance(d, 500);
	CHECK_EQ(nsent, 1);
	ddns_free(d);
}

/* D3: answers from elsewhere, with another ID, or a NOERROR without our
 * key's signature count for nothing; D4: no answer is a failure, retried
 * after 1 s, then 2 s, ..., logged once. */
static void test_answers_and_backoff(void)
{
	capture_begin();

	struct ddns *d = make(false);
	const char *const a[] = { "198.18.2.2" };
	uint8_t buf[512];
	struct dime_addr other, srv = server();
	addr_parse(&other, "198.18.0.66");
	set(d, a, 1);
	advance(d, DDNS_COALESCE_MS);
	CHECK_EQ(nsent, 1);
	size_t n = answer(buf, last_id(), DNS_NOERROR, 0);
	ddns_input(d, buf, n, &other, 53);		/* another source */
	ddns_input(d, buf, n, &srv, 5353);		/* another port */
	n = answer(buf, (uint16_t)(last_id() + 1), DNS_NOERROR, 0);
	ddns_input(d, buf, n, &srv, 53);		/* another ID */
	n = answer(buf, last_id(), DNS_NOERROR, 0);
	ddns_input(d, buf, n, &srv, 53);		/* ours, but unsigned */
	char *s = show(d);
	CHECK(strstr(s, "\"state\":\"pending\"") && strstr(s, "\"forged_answers\":1"));
	CHECK(strstr(s, "\"published\":[]"));
	free(s);
	/* No answer: sends at 0, 1 s + 1 s, then + 1 s + 2 s, + 1 s + 4 s. */
	advance(d, DDNS_TIMEOUT_MS + DDNS_BACKOFF_MIN_MS - 1);
	CHECK_EQ(nsent, 1);
	advance(d, 1);
	CHECK_EQ(nsent, 2);
	advance(d, DDNS_TIMEOUT_MS + 2 * DDNS_BACKOFF_MIN_MS - 1);
	CHECK_EQ(nsent, 2);
	advance(d, 1);
	CHECK_EQ(nsent, 3);
	advance(d, 120000);
	CHECK(nsent > 4 && nsent < 10);		/* capped at 60 s */
	s = show(d);
	CHECK(strstr(s, "\"state\":\"failing\"") && strstr(s, "\"result\":\"no answer\""));
	free(s);
	/* A move goes out at once after timeouts. */
	unsigned before = nsent;
	const char *const b[] = { "198.18.3.2" };
	set(d, b, 1);
	advance(d, DDNS_COALESCE_MS + 1);
	CHECK_EQ(nsent, before + 1);
	ddns_free(d);

	CHECK_EQ(capture_end("ddns: update of mh.dime.test failed at 198.18.0.53: no answer"), 1);
}

/* D3, D4: a server that does not know our key (NOTAUTH, TSIG BADSIG,
 * unsigned) refuses: logged once with the reason, asked again no sooner
 * than 30 s, moves or not. */
static void test_refused(void)
{
	capture_begin();

	struct ddns *d = make(false);
	const char *const a[] = { "198.18.2.2" }, *const b[] = { "198.18.3.2" };
	struct dime_addr srv = server();
	uint8_t buf[512];
	set(d, a, 1);
	advance(d, DDNS_COALESCE_MS);
	for (int round = 0; round < 3; round++) {
		size_t n = answer(buf, last_id(), DNS_NOTAUTH, DNS_BADSIG);
		unsigned before = nsent;
		ddns_input(d, buf, n, &srv, 53);
		char *s = show(d);
		CHECK(strstr(s, "\"state\":\"failing\"") && strstr(s, "NOTAUTH") && strstr(s, "BADSIG"));
		free(s);
		set(d, round % 2 ? a : b, 1);	/* a move: held all the same */
		advance(d, DDNS_REFUSED_MIN_MS - 1);
		CHECK_EQ(nsent, before);
		advance(d, 2);
		CHECK_EQ(nsent, before + 1);
	}
	ddns_free(d);

	CHECK_EQ(capture_end("ddns: update of mh.dime.test refused by 198.18.0.53: NOTAUTH"), 1);
}

/* The secret file: others may not read it; a bad one says why. */
static void test_secret_file(void)
{
	struct ddns_env env = { .now_ms = fake_now, .wall_s = fake_wall, .send = fake_send };
	struct ddns *d = NULL;
	char err[256];

	ddns_free(make(false));	/* fills cfg */
	chmod(keyfile, 0644);
	CHECK_EQ(ddns_new(&d, &cfg, &env, err, sizeof(err)), -EPERM);
	CHECK(strstr(err, "others may read it") != NULL);
	chmod(keyfile, 0600);
	strcpy(cfg.secret_file, "/nonexistent/dime-key");
	CHECK_EQ(ddns_new(&d, &cfg, &env, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "/nonexistent/dime-key") != NULL);
}

int main(void)
{
	int fd = mkstemp(keyfile);
	if (fd < 0 || write(fd, SECRET "\n", strlen(SECRET) + 1) < 0)
		return 1;
	fchmod(fd, 0600);
	close(fd);
	RUN(test_publishable);
	RUN(test_coalesce);
	RUN(test_answers_and_backoff);
	RUN(test_refused);
	RUN(test_secret_file);
	unlink(keyfile);
	return check_done();
}
