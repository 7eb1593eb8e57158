/* The restart state file (src/state.c): what is saved comes back the same,
 * into the sets and the tables; a corrupt, truncated, foreign or other
 * version's file is refused whole and restores nothing. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "flow_table.h"
#include "hid_table.h"
#include "ihmp.h"
#include "stacktrans.h"
#include "st_peer.h"
#include "st_tunnel.h"
#include "state.h"

static char dir[] = "/tmp/dime-test-state-XXXXXX";

static struct stacktrans *new_st(void)
{
	struct st_cfg cfg = { .max_flows = 64, .max_hids = 16 };
	struct stacktrans *st = NULL;
	CHECK_EQ(st_new(&st, &cfg, NULL, NULL), 0);
	return st;
}

static struct dime_addr A(const char *s)
{
	struct dime_addr a;
	if (addr_parse(&a, s) != 0)
		abort();
	return a;
}

/* One moved peer with a key and a translated TCP flow, one manual IPv6
 * peer with an untranslated UDP flow. */
static void populate(struct stacktrans *st)
{
	struct hid_table *ht = st_hids(st);
	struct hid *h, *g;
	struct dime_addr id = A("198.18.1.2"), loc = A("198.18.2.2"), me = A("198.18.0.1");
	uint8_t key[HID_KEY_LEN];

	memset(key, 7, sizeof(key));
	CHECK_EQ(hid_table_create(ht, 1, &h), 0);
	CHECK_EQ(hid_table_add_addr(ht, h, HID_ACTIVE, &loc, 1), 0);
	CHECK_EQ(hid_table_add_addr(ht, h, HID_UNREACH, &id, 1), 0);
	CHECK_EQ(hid_table_add_addr(ht, h, HID_LOCAL, &me, 1), 0);
	CHECK_EQ(hid_set_key(h, key, HID_KEY_TOFU), 0);
	h->nat[0].peer = true;
	h->nat[0].have_ep = true;
	h->nat[0].ep = A("198.18.9.9");
	h->nat[0].ep_port = 40000;

	struct flow f = { .state = FLOW_S_OPENED, .flags = 0x08 | 0x04 | 0x10, .snd_base = 1000,
			  .rcv_base = 2000, .last_seen = 5 };
	flow_key_init(&f.key, AF_INET, 6, me.a, htons(40001), id.a, htons(5201));
	memcpy(f.lloc, me.a, 16);
	memcpy(f.rloc, loc.a, 16);
	CHECK_EQ(st_restore_flow(st, &f, h->handle), 0);

	struct dime_addr v6 = A("2001:db8::2"), me6 = A("2001:db8::1");
	CHECK_EQ(hid_table_create(ht, 1, &g), 0);
	CHECK_EQ(hid_table_add_addr(ht, g, HID_ACTIVE, &v6, 1), 0);
	g->flags |= HID_F_MANUAL;
	struct flow u = { .last_seen = 5 };
	flow_key_init(&u.key, AF_INET6, 17, me6.a, htons(5353), v6.a, htons(53));
	CHECK_EQ(st_restore_flow(st, &u, g->handle), 0);
}

/* Everything that must survive, as text: tables and nft elements. */
static char *dump(struct stacktrans *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct out o;

	out_init(&o, true);
	st_show_hids(st, &o);
	st_show_flows(st, &o, 100);
	const char *s = out_done(&o);
	/* Handles differ after a restore; the rest must not. */
	for (; s && *s; s++)
		if (strncmp(s, "\"hid\":", 6) == 0)
			while (*s && *s != ',')
				s++;
		else
			fputc(*s, f);
	out_free(&o);
	CHECK_EQ(st_nft_elements(st, f), 0);
	fclose(f);
	return buf;
}

static char path[128];

static void test_round_trip(void)
{
	struct stacktrans *a = new_st(), *b = new_st();
	struct state_loaded sl;
	char why[200] = "";

	populate(a);
	CHECK_EQ(state_save(dir, a, NULL), 0);
	CHECK_EQ(state_load(dir, b, NULL, &sl, why, sizeof(why)), 0);
	if (why[0])
		fprintf(stderr, "why: %s\n", why);
	CHECK_EQ(sl.peers, 2);
	CHECK_EQ(sl.flows, 2);
	CHECK_EQ(sl.skipped, 0);
	char *x = dump(a), *y = dump(b);
	CHECK(strcmp(x, y) == 0);
	if (strcmp(x, y))
		fprintf(stderr, "saved:\n%s\nrestored:\n%s\n", x, y);
	/* The translated flow's elements are there: in and out. */
	CHECK(strstr(y, "add element inet dimed in4 { 198.18.2.2 . 198.18.0.1 . 6 . 5201 . 40001 }"));
	CHECK(strstr(y, "add element inet dimed out4 { 198.18.0.1 . 198.18.1.2 . 6 . 40001 . 5201 }"));
	CHECK_EQ(flow_table_count_translated(st_flows(b)), 1);
	free(x);
	free(y);
	st_free(a);
	st_free(b);
}

static void test_no_file(void)
{
	struct stacktrans *st = new_st();
	struct state_loaded sl = { .peers = 9 };
	char why[200];

	unlink(path);
	CHECK_EQ(state_load(dir, st, NULL, &sl, why, sizeof(why)), 0);
	CHECK_EQ(sl.peers, 0);
	st_free(st);
}

/* Writes a good file, changes it with edit, and expects a refusal that
 * restores nothing. */
static void refused(void (*edit)(char *buf, size_t *len), int want, const char *why_has)
{
	struct stacktrans *a = new_st(), *b = new_st();
	struct state_loaded sl;
	char why[200] = "", buf[8192];

	populate(a);
	CHECK_EQ(state_save(dir, a, NULL), 0);
	FILE *f = fopen(path, "r");
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	edit(buf, &len);
	f = fopen(path, "w");
	fwrite(buf, 1, len, f);
	fclose(f);
	CHECK_EQ(state_load(dir, b, NULL, &sl, why, sizeof(why)), want);
	CHECK(strstr(why, why_has) != NULL);
	if (!strstr(why, why_has))
		fprintf(stderr, "why: %s\n", why);
	CHECK_EQ(hid_table_count(st_hids(b)), 0);
	CHECK_EQ(flow_table_count(st_flows(b)), 0);
	st_free(a);
	st_free(b);
}

static void flip_byte(char *buf, size_t *len)
{
	char *p = strstr(buf, "flow ");
	p[6] ^= 1;	/* 4 -> 5 */
	(void)len;
}

static void truncate_half(char *buf, size_t *len)
{
	(void)buf;
	*len /= 2;
}

/* Rewrites the file with its checksum fixed: a writer's error, or another
 * version, or another boot, must still be caught by the content. */
static void resum(char *buf, size_t *len);

static void other_version(char *buf, size_t *len)
{
	buf[12] = '9';	/* "dimed-state 9" */
	resum(buf, len);
}

static void other_boot(char *buf, size_t *len)
{
	char *p = strstr(buf, "boot ") + 5;
	*p = *p == 'a' ? 'b' : 'a';
	resum(buf, len);
}

static void other_host(char *buf, size_t *len)
{
	char *p = strstr(buf, "host -");
	memcpy(p, "host A", 6);
	resum(buf, len);
}

static void bad_record(char *buf, size_t *len)
{
	char *p = strstr(buf, "addrs unreachable");
	memcpy(p, "addrs unreachabl!", 17);
	resum(buf, len);
}

/* The checksum of a file as state.c writes it: recomputed by saving an
 * empty state and comparing is not possible, so use the library. */
#include "sign.h"
static void resum(char *buf, size_t *len)
{
	static const uint8_t key[SIGN_MAC_KEY_LEN];
	uint8_t mac[SIGN_MAC_LEN];
	char *last = strstr(buf, "\nsum ") + 1;
	size_t body = (size_t)(last - buf);
	sign_mac(key, buf, body, mac);
	for (size_t i = 0; i < SIGN_MAC_LEN; i++)
		snprintf(last + 4 + 2 * i, 3, "%02x", mac[i]);
	last[4 + 2 * SIGN_MAC_LEN] = '\n';
	*len = body + 5 + 2 * SIGN_MAC_LEN;
}

static void test_refusals(void)
{
	refused(flip_byte, -EBADMSG, "checksum");
	refused(truncate_half, -EINVAL, "truncated");
	refused(other_version, -EPROTO, "version");
	refused(other_boot, -ESTALE, "reboot");
	refused(other_host, -EPERM, "another host key");
	refused(bad_record, -EINVAL, "line ");
}

int main(void)
{
	if (!mkdtemp(dir) || sign_init() < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
	RUN(test_round_trip);
	RUN(test_no_file);
	RUN(test_refusals);
	unlink(path);
	rmdir(dir);
	return check_done();
}
