/*
 * The restart state file. Text, one record a line, so an operator can read
 * it and a test can corrupt it on purpose:
 *
 *   dimed-state 1
 *   boot BOOT_ID                       /proc/sys/kernel/random/boot_id
 *   host BASE64-PUBLIC-KEY | -
 *   counter N                          our IHMP message counter
 *   peer FLAGS KEY-ORIGIN BASE64-KEY|- ANSWERED REPLAY-FLOOR|-
 *   addrs active|unreachable|local|moved ADDR...      (of the peer above)
 *   nat 4|6 PEER SELF EP|- EP-PORT HOST|- PUB|- PUB-PORT
 *   flow 4|6 PROTO LADDR LPORT RADDR RPORT STATE FLAGS NAT-BORN LLOC RLOC
 *        SND-BASE RCV-BASE LAST-SEEN                   (to the peer above)
 *   sum HEX                            BLAKE2b-128 of every byte before it
 *
 * Kept: peers with something to lose (a key, a manual mapping, IHMP state,
 * a translated flow) and their flows. Flows to other hosts are learned
 * again from the socket table.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "flow_table.h"
#include "hid_table.h"
#include "ihmp.h"
#include "log.h"
#include "sign.h"
#include "stacktrans.h"
#include "st_peer.h"
#include "st_tunnel.h"
#include "state.h"

#define STATE_MAGIC	"dimed-state 1"
#define SUM_HEX		(2 * SIGN_MAC_LEN)

static const char *const set_names[] = { "active", "unreachable", "local", "moved" };

static int boot_id(char out[64])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!f)
		return -errno;
	bool ok = fgets(out, 64, f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static void sum_hex(const char *buf, size_t n, char out[SUM_HEX + 1])
{
	static const uint8_t key[SIGN_MAC_KEY_LEN];	/* a checksum, not a MAC */
	uint8_t mac[SIGN_MAC_LEN];
	sign_mac(key, buf, n, mac);
	for (size_t i = 0; i < SIGN_MAC_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static const char *fmt_opt(const struct dime_addr *a, char *b)
{
	return a->af ? addr_fmt(a, b) : "-";
}

/* ---- saving ---- */

/* Worth a line: anything a restart would otherwise lose. */
static bool peer_kept(struct stacktrans *st, const struct hid *h)
{
	struct ihmp_saved_peer sp;

	ihmp_peer_save(h, &sp);
	if (h->key_origin != HID_KEY_NONE || (h->flags & HID_F_MANUAL) || sp.answered || sp.have_counter)
		return true;
	for (struct flow *f = flow_table_hid_first(st_flows(st), h->handle); f;
	     f = flow_table_hid_next(st_flows(st), f))
		if (flow_is_translated(f) || st_flow_in_tunnel(f))
			return true;
	return false;
}

static void put_peer(FILE *f, struct stacktrans *st, const struct hid *h)
{
	struct ihmp_saved_peer sp;
	char key[45] = "-", b[ADDR_STRLEN], c[ADDR_STRLEN], d[ADDR_STRLEN];

	ihmp_peer_save(h, &sp);
	if (h->key_origin != HID_KEY_NONE)
		sign_pk_b64(h->key, key);
	fprintf(f, "peer %u %s %s %d ", h->flags & HID_F_MANUAL, hid_key_origin_name(h->key_origin), key,
		sp.answered);
	if (sp.have_counter)
		fprintf(f, "%" PRIu64 "\n", sp.last_counter);
	else
		fputs("-\n", f);
	for (int s = 0; s < 4; s++) {
		const struct hid_addrs *as = s < HID_NSETS ? &h->set[s] : &h->moved;
		if (!as->n)
			continue;
		fprintf(f, "addrs %s", set_names[s]);
		for (unsigned i = 0; i < as->n; i++)
			fprintf(f, " %s", addr_fmt(&as->a[i], b));
		fputc('\n', f);
	}
	for (int i = 0; i < 2; i++) {
		const struct hid_nat *n = &h->nat[i];
		if (!n->peer && !n->self && !n->have_ep && !n->have_pub)
			continue;
		fprintf(f, "nat %d %d %d %s %u %s %s %u\n", i ? 6 : 4, n->peer, n->self,
			n->have_ep ? addr_fmt(&n->ep, b) : "-", n->ep_port, fmt_opt(&n->host, c),
			n->have_pub ? addr_fmt(&n->pub, d) : "-", n->pub_port);
	}
	for (struct flow *fl = flow_table_hid_first(st_flows(st), h->handle); fl;
	     fl = flow_table_hid_next(st_flows(st), fl)) {
		struct dime_addr l, r, ll, rl;
		flow_lid(fl, &l);
		flow_rid(fl, &r);
		addr_set(&ll, fl->key.af, fl->lloc);
		addr_set(&rl, fl->key.af, fl->rloc);
		char e[ADDR_STRLEN], g[ADDR_STRLEN];
		fprintf(f, "flow %d %u %s %u %s %u %u %u %u %s %s %" PRIu32 " %" PRIu32 " %" PRIu32 "\n",
			fl->key.af == AF_INET6 ? 6 : 4, fl->key.proto, addr_fmt(&l, b), ntohs(fl->key.lport),
			addr_fmt(&r, c), ntohs(fl->key.rport), fl->state, fl->flags, fl->nat_born,
			addr_fmt(&ll, e), addr_fmt(&rl, g), fl->snd_base, fl->rcv_base, fl->last_seen);
	}
}

int state_save(const char *dir, struct stacktrans *st, struct ihmp *ih)
{
	char path[512], tmp[520], boot[64], pk[45] = "-", sum[SUM_HEX + 1];
	char *buf = NULL;
	size_t len = 0;
	uint32_t cur = 0;
	struct hid *h;
	int r;

	if ((r = boot_id(boot)) < 0)
		return r;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -errno;
	const uint8_t *hpk = ih ? ihmp_host_pk(ih) : NULL;
	if (hpk)
		sign_pk_b64(hpk, pk);
	fprintf(f, STATE_MAGIC "\nboot %s\nhost %s\ncounter %" PRIu64 "\n", boot, pk,
		ih ? ihmp_counter(ih) : 0);
	while ((h = hid_table_next(st_hids(st), &cur)))
		if (peer_kept(st, h))
			put_peer(f, st, h);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	if (len > STATE_MAX_BYTES - 64) {
		free(buf);
		return -EFBIG;
	}
	sum_hex(buf, len, sum);
	snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		free(buf);
		return r;
	}
	char tail[8 + SUM_HEX];
	int tl = snprintf(tail, sizeof(tail), "sum %s\n", sum);
	/* No fsync: the file is only ever read in this boot, and the page
	 * cache outlives the process. */
	bool ok = write(fd, buf, len) == (ssize_t)len && write(fd, tail, (size_t)tl) == tl;
	r = ok ? 0 : -errno;
	free(buf);
	if (close(fd) < 0 && ok)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int state_tick(struct state_writer *w, const char *dir, struct stacktrans *st, struct ihmp *ih,
	       uint64_t now_ms)
{
	uint64_t gen = st_generation(st) + (ih ? ihmp_generation(ih) : 0);

	if (gen == w->saved_gen)
		return -1;
	uint64_t gap = w->gap_ms > STATE_MIN_GAP_MS ? w->gap_ms : STATE_MIN_GAP_MS;
	if (w->last_ms && now_ms - w->last_ms < gap)
		return (int)(gap - (now_ms - w->last_ms));
	uint64_t t0 = clock_ms();
	int r = state_save(dir, st, ih);
	uint64_t took = clock_ms() - t0;
	w->last_ms = now_ms;
	w->gap_ms = took * 50;
	if (r < 0) {
		if (!w->failing)
			log_warnx("cannot write %s/" STATE_FILE ": %s; a restart will start clean", dir,
				  strerror(-r));
		w->failing = true;
		w->gap_ms = 10000;	/* a full disk: try again, not in a loop */
		return (int)w->gap_ms;
	}
	if (w->failing)
		log_info("%s/" STATE_FILE " written again", dir);
	w->failing = false;
	w->saved_gen = gen;
	return -1;
}

/* ---- loading ---- */

struct loader {
	struct stacktrans *st;
	struct ihmp *ih;
	bool apply;		/* first pass: check only */
	struct hid *peer;	/* the last peer line's (apply), or NULL */
	bool have_peer;
	struct state_loaded *out;
	char *why;
	size_t n;
};

static int bad(struct loader *l, unsigned line, const char *what)
{
	snprintf(l->why, l->n, "line %u: %s", line, what);
	return -EINVAL;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end || x > max)
		return false;
	*v = x;
	return true;
}

static bool parse_addr(const char *s, int af, struct dime_addr *a)
{
	return s && addr_parse(a, s) == 0 && (!af || a->af == af);
}

static bool parse_opt_addr(const char *s, int af, struct dime_addr *a)
{
	memset(a, 0, sizeof(*a));
	return s && (!strcmp(s, "-") || parse_addr(s, af, a));
}

static int name_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static int origin_index(const char *s)
{
	for (unsigned i = 0; hid_key_origin_name(i); i++)
		if (!strcmp(s, hid_key_origin_name(i)))
			return (int)i;
	return -1;
}

static int load_peer(struct loader *l, unsigned ln, char **w, int nw)
{
	uint64_t flags, answered, counter = 0;
	uint8_t key[HID_KEY_LEN];
	int origin;

	if (nw != 6 || !parse_u64(w[1], UINT32_MAX, &flags) ||
	    (origin = origin_index(w[2])) < 0 ||
	    (origin != HID_KEY_NONE && sign_pk_from_b64(key, w[3]) < 0) ||
	    (origin == HID_KEY_NONE && strcmp(w[3], "-")) || !parse_u64(w[4], 1, &answered) ||
	    (strcmp(w[5], "-") && !parse_u64(w[5], UINT64_MAX, &counter)))
		return bad(l, ln, "bad peer record");
	l->have_peer = true;
	l->peer = NULL;
	if (!l->apply)
		return 0;
	struct hid *h;
	if (hid_table_create(st_hids(l->st), clock_s(), &h) < 0) {
		l->out->skipped++;
		return 0;
	}
	h->flags |= (uint32_t)flags & HID_F_MANUAL;
	if (origin != HID_KEY_NONE)
		hid_set_key(h, key, (enum hid_key_origin)origin);
	struct ihmp_saved_peer sp = { .answered = answered, .have_counter = strcmp(w[5], "-") != 0,
				      .last_counter = counter };
	if (l->ih && (sp.answered || sp.have_counter) && ihmp_peer_restore(l->ih, h, &sp) < 0) {
		hid_table_remove(st_hids(l->st), h);
		l->out->skipped++;
		return 0;
	}
	l->peer = h;
	l->out->peers++;
	return 0;
}

static int load_addrs(struct loader *l, unsigned ln, char **w, int nw)
{
	int set = nw >= 2 ? name_index(w[1], set_names, 4) : -1;
	struct dime_addr a[HID_ADDRS_MAX];

	if (!l->have_peer || set < 0 || nw < 3 || nw - 2 > HID_ADDRS_MAX)
		return bad(l, ln, "bad addrs record");
	for (int i = 2; i < nw; i++)
		if (!parse_addr(w[i], 0, &a[i - 2]))
			return bad(l, ln, "bad address");
	if (!l->apply || !l->peer)
		return 0;
	for (int i = 0; i < nw - 2; i++) {
		if (set == 3) {
			if (l->peer->moved.n < HID_ADDRS_MAX)
				l->peer->moved.a[l->peer->moved.n++] = a[i];
			continue;
		}
		/* Someone else took the address meanwhile (-EEXIST): the rest
		 * of the peer still holds. */
		if (hid_table_add_addr(st_hids(l->st), l->peer, (enum hid_set_id)set, &a[i], 0) < 0)
			l->out->skipped++;
	}
	return 0;
}

static int load_nat(struct loader *l, unsigned ln, char **w, int nw)
{
	uint64_t fam, peer, self, ep_port, pub_port;
	struct dime_addr ep, host, pub;

	if (!l->have_peer || nw != 9 || !parse_u64(w[1], 6, &fam) || (fam != 4 && fam != 6) ||
	    !parse_u64(w[2], 1, &peer) || !parse_u64(w[3], 1, &self))
		return bad(l, ln, "bad nat record");
	int af = fam == 6 ? AF_INET6 : AF_INET;
	if (!parse_opt_addr(w[4], af, &ep) || !parse_u64(w[5], 65535, &ep_port) ||
	    !parse_opt_addr(w[6], af, &host) || !parse_opt_addr(w[7], af, &pub) ||
	    !parse_u64(w[8], 65535, &pub_port))
		return bad(l, ln, "bad nat record");
	if (!l->apply || !l->peer)
		return 0;
	struct hid_nat *n = hid_nat(l->peer, af);
	*n = (struct hid_nat){ .peer = peer, .self = self, .have_ep = ep.af != 0, .ep = ep,
			       .ep_port = (uint16_t)ep_port, .host = host, .have_pub = pub.af != 0,
			       .pub = pub, .pub_port = (uint16_t)pub_port };
	return 0;
}

static int load_flow(struct loader *l, unsigned ln, char **w, int nw)
{
	uint64_t fam, proto, lport, rport, state, flags, nat_born, snd, rcv, seen;
	struct dime_addr la, ra, ll, rl;

	if (!l->have_peer || nw != 15 || !parse_u64(w[1], 6, &fam) || (fam != 4 && fam != 6))
		return bad(l, ln, "bad flow record");
	int af = fam == 6 ? AF_INET6 : AF_INET;
	if (!parse_u64(w[2], 255, &proto) || !parse_addr(w[3], af, &la) ||
	    !parse_u64(w[4], 65535, &lport) || !parse_addr(w[5], af, &ra) ||
	    !parse_u64(w[6], 65535, &rport) || !parse_u64(w[7], 15, &state) ||
	    !parse_u64(w[8], 255, &flags) || !parse_u64(w[9], 1, &nat_born) ||
	    !parse_addr(w[10], af, &ll) || !parse_addr(w[11], af, &rl) ||
	    !parse_u64(w[12], UINT32_MAX, &snd) || !parse_u64(w[13], UINT32_MAX, &rcv) ||
	    !parse_u64(w[14], UINT32_MAX, &seen))
		return bad(l, ln, "bad flow record");
	if (!l->apply || !l->peer)
		return 0;
	struct flow f = { .state = (uint8_t)state, .nat_born = (uint8_t)nat_born, .flags = (uint8_t)flags,
			  .snd_base = (uint32_t)snd, .rcv_base = (uint32_t)rcv, .last_seen = (uint32_t)seen };
	flow_key_init(&f.key, af, (int)proto, la.a, htons((uint16_t)lport), ra.a, htons((uint16_t)rport));
	memcpy(f.lloc, ll.a, 16);
	memcpy(f.rloc, rl.a, 16);
	if (st_restore_flow(l->st, &f, l->peer->handle) < 0)
		l->out->skipped++;
	else
		l->out->flows++;
	return 0;
}

/* One pass over the records after the header. */
static int load_records(struct loader *l, char *body, unsigned first_line)
{
	unsigned ln = first_line;
	char *save = NULL;

	for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save), ln++) {
		char *w[20], *ws = NULL;
		int nw = 0, r;
		for (char *t = strtok_r(line, " ", &ws); t; t = strtok_r(NULL, " ", &ws)) {
			if (nw == 20)
				return bad(l, ln, "too many fields");
			w[nw++] = t;
		}
		if (!nw)
			return bad(l, ln, "empty line");
		if (!strcmp(w[0], "peer"))
			r = load_peer(l, ln, w, nw);
		else if (!strcmp(w[0], "addrs"))
			r = load_addrs(l, ln, w, nw);
		else if (!strcmp(w[0], "nat"))
			r = load_nat(l, ln, w, nw);
		else if (!strcmp(w[0], "flow"))
			r = load_flow(l, ln, w, nw);
		else
			r = bad(l, ln, "unknown record");
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_all(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0)
		r = -errno;
	else if (!S_ISREG(sb.st_mode))
		r = -EINVAL;
	else if ((size_t)sb.st_size > STATE_MAX_BYTES)
		r = -EFBIG;
	if (r < 0) {
		close(fd);
		return r;
	}
	char *buf = malloc((size_t)sb.st_size + 1);
	size_t n = 0;
	while (buf && n < (size_t)sb.st_size) {
		ssize_t k = read(fd, buf + n, (size_t)sb.st_size - n);
		if (k <= 0) {
			r = k < 0 ? -errno : -EIO;
			break;
		}
		n += (size_t)k;
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* The header's four lines, checked against this boot and this host. */
static int check_header(char *buf, struct ihmp *ih, uint64_t *counter, char **body, char *why, size_t n)
{
	char boot[64], pk[45] = "-", *line[4], *p = buf;

	for (int i = 0; i < 4; i++) {
		char *nl = strchr(p, '\n');
		if (!nl) {
			snprintf(why, n, "truncated");
			return -EINVAL;
		}
		*nl = '\0';
		line[i] = p;
		p = nl + 1;
	}
	*body = p;
	if (strcmp(line[0], STATE_MAGIC) != 0) {
		snprintf(why, n, "not a state file of this version (expected \"%s\")", STATE_MAGIC);
		return -EPROTO;
	}
	if (boot_id(boot) < 0 || strncmp(line[1], "boot ", 5) || strcmp(line[1] + 5, boot)) {
		snprintf(why, n, "written before the last reboot: its connections are gone");
		return -ESTALE;
	}
	const uint8_t *hpk = ih ? ihmp_host_pk(ih) : NULL;
	if (hpk)
		sign_pk_b64(hpk, pk);
	if (strncmp(line[2], "host ", 5) || strcmp(line[2] + 5, pk)) {
		snprintf(why, n, "written by another host key (%.20s), not ours (%.20s)", line[2] + 5, pk);
		return -EPERM;
	}
	if (strncmp(line[3], "counter ", 8) || !parse_u64(line[3] + 8, UINT64_MAX, counter)) {
		snprintf(why, n, "line 4: bad counter");
		return -EINVAL;
	}
	return 0;
}

int state_load(const char *dir, struct stacktrans *st, struct ihmp *ih, struct state_loaded *out,
	       char *why, size_t n)
{
	char path[512], sum[SUM_HEX + 1], *buf = NULL, *body;
	size_t len = 0;
	uint64_t counter;
	int r;

	*out = (struct state_loaded){ 0 };
	snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
	if ((r = read_all(path, &buf, &len)) < 0) {
		if (r == -ENOENT)
			return 0;
		snprintf(why, n, "cannot read it: %s", strerror(-r));
		return r;
	}
	/* The last line is the checksum of everything before it. */
	char *last = len >= SUM_HEX + 5 ? buf + len - (SUM_HEX + 5) : NULL;
	if (!last || (last != buf && last[-1] != '\n') || strncmp(last, "sum ", 4) ||
	    buf[len - 1] != '\n') {
		snprintf(why, n, "truncated or not a state file");
		free(buf);
		return -EINVAL;
	}
	sum_hex(buf, (size_t)(last - buf), sum);
	if (memcmp(last + 4, sum, SUM_HEX) != 0) {
		snprintf(why, n, "checksum mismatch (corrupt)");
		free(buf);
		return -EBADMSG;
	}
	*last = '\0';
	if ((r = check_header(buf, ih, &counter, &body, why, n)) < 0) {
		free(buf);
		return r;
	}
	/* Check every record, then apply: all of it or nothing. */
	char *copy = strdup(body);
	struct loader l = { .st = st, .ih = ih, .out = out, .why = why, .n = n };
	r = copy ? load_records(&l, copy, 5) : -ENOMEM;
	free(copy);
	if (r == 0) {
		l = (struct loader){ .st = st, .ih = ih, .apply = true, .out = out, .why = why, .n = n };
		r = load_records(&l, body, 5);
	}
	free(buf);
	if (r == 0 && ih)
		ihmp_counter_floor(ih, counter + 1);
	return r;
}
