/*
 * Unit tests for config.c. With a directory argument it also runs the golden
 * files: DIR/good/NAME.conf must load and dump exactly as NAME.dump, and
 * DIR/bad/NAME.conf must fail with exactly the line in NAME.err.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "ctl_proto.h"

#define KEY_A "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static int parse_str(const char *text, size_t len, struct config *c, char *err)
{
	FILE *f = fmemopen((void *)(uintptr_t)text, len, "r");
	if (!f)
		return -errno;
	int r = config_parse(f, "t.conf", c, err, CONFIG_ERRLEN);
	fclose(f);
	return r;
}

static int parse(const char *text, struct config *c, char *err)
{
	return parse_str(text, strlen(text), c, err);
}

/* The parse must fail with exactly this message. */
static bool fails_with(const char *text, const char *want)
{
	struct config c;
	char err[CONFIG_ERRLEN] = "";

	if (parse(text, &c, err) == 0) {
		config_free(&c);
		fprintf(stderr, "  parsed, expected: %s\n", want);
		return false;
	}
	if (strcmp(err, want) != 0) {
		fprintf(stderr, "  got:  %s\n  want: %s\n", err, want);
		return false;
	}
	return true;
}

static char *dump(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	config_dump(c, f);
	fclose(f);
	return buf;
}

static void test_defaults(void)
{
	struct config c, d;
	char err[CONFIG_ERRLEN];

	config_defaults(&c);
	CHECK(strcmp(c.control_socket, CTL_DEFAULT_PATH) == 0);
	CHECK(strcmp(c.state_dir, DIME_STATEDIR) == 0);
	CHECK_EQ(c.queue, 3463);
	CHECK_EQ(c.port, 3463);
	CHECK_EQ(c.rules, CONFIG_RULES_AUTO);
	CHECK_EQ(c.xt_mark, 0x10000000u);
	CHECK_EQ(c.log_level, LOG_INFO);
	CHECK_EQ(c.max_flows, 1048576);
	CHECK_EQ(c.max_peers, 65536);
	CHECK_EQ(c.udp_timeout, 180);
	CHECK_EQ(c.tcp_timeout, 7200);
	CHECK_EQ(c.hello, CONFIG_HELLO_ALL);
	CHECK(!c.require_signatures);
	CHECK_EQ(c.n_pins, 0);
	CHECK(c.local_key[0] == '\0');

	/* An empty file and a file of comments are the defaults. */
	CHECK_EQ(parse("", &d, err), 0);
	CHECK(memcmp(&c, &d, sizeof(c)) == 0);
	CHECK_EQ(parse("# nothing\n\n   \t\n#x = y\n", &d, err), 0);
	CHECK(memcmp(&c, &d, sizeof(c)) == 0);
	CHECK(strcmp(CONFIG_DEFAULT_PATH, DIME_SYSCONFDIR "/dimed.conf") == 0);
	/* A relative default would be looked up in whatever directory dimed starts in. */
	if (CONFIG_DEFAULT_PATH[0] != '/')
		fprintf(stderr, "CONFIG_DEFAULT_PATH is relative: \"%s\" (meson.build: prefix / sysconfdir)\n",
			CONFIG_DEFAULT_PATH);
	CHECK(CONFIG_DEFAULT_PATH[0] == '/');
	CHECK(CTL_DEFAULT_PATH[0] == '/' && DIME_STATEDIR[0] == '/');
}

static void test_values(void)
{
	struct config c;
	char err[CONFIG_ERRLEN] = "";

	CHECK_EQ(parse("control-socket = /tmp/x.sock\n"
		       "state-dir=/srv/dimed\n"
		       "\tqueue\t=\t0\n"
		       "port = 65535 # trailing comment\n"
		       "rules = none\n"
		       "xt-mark = 0X00000001\n"
		       "log-level = debug\n"
		       "max-flows = 16777216\n"
		       "max-peers = 1\n"
		       "udp-timeout = 60\n"
		       "tcp-timeout = 604800\n"
		       "hello = none\n"
		       "require-signatures = yes\n"
		       "pin-key = 198.18.0.0/15 " KEY_A "\n"
		       "pin-key = 2001:db8::/32 " KEY_A "\n"
		       "local-key = /etc/dimed/key 198.18.0.1/32 2001:db8::/64", &c, err), 0);
	CHECK(strcmp(err, "") == 0);
	CHECK(strcmp(c.control_socket, "/tmp/x.sock") == 0);
	CHECK(strcmp(c.state_dir, "/srv/dimed") == 0);
	CHECK_EQ(c.queue, 0);
	CHECK_EQ(c.port, 65535);
	CHECK_EQ(c.rules, CONFIG_RULES_NONE);
	CHECK_EQ(c.xt_mark, 1);
	CHECK_EQ(c.log_level, LOG_DEBUG);
	CHECK_EQ(c.max_flows, 16777216);
	CHECK_EQ(c.max_peers, 1);
	CHECK_EQ(c.udp_timeout, 60);
	CHECK_EQ(c.tcp_timeout, 604800);
	CHECK_EQ(c.hello, CONFIG_HELLO_NONE);
	CHECK(c.require_signatures);
	CHECK_EQ(c.n_pins, 2);
	CHECK_EQ(c.pins[0].pfx.plen, 15);
	CHECK_EQ(c.pins[0].key[0], 0xd7);
	CHECK_EQ(c.pins[1].pfx.addr.af, AF_INET6);
	CHECK(strcmp(c.local_key, "/etc/dimed/key") == 0);
	CHECK_EQ(c.n_local_key_prefixes, 2);
	CHECK_EQ(c.local_key_prefixes[1].plen, 64);
	config_free(&c);
	CHECK(c.pins == NULL && c.n_pins == 0);
	config_free(&c);	/* twice is harmless */
}

static void test_hello(void)
{
	struct config c;
	char err[CONFIG_ERRLEN];

	CHECK_EQ(parse("hello-allow = 198.18.0.0/15\nhello-allow = 2001:db8::/32\n", &c, err), 0);
	CHECK_EQ(c.hello, CONFIG_HELLO_LIST);
	CHECK_EQ(c.n_hello_allow, 2);
	config_free(&c);
	CHECK_EQ(parse("hello = list\nhello-allow = 10.0.0.0/8\n", &c, err), 0);
	CHECK_EQ(c.n_hello_allow, 1);
	config_free(&c);
	CHECK_EQ(parse("hello-allow = 10.0.0.0/8\nhello = list\n", &c, err), 0);
	config_free(&c);
	CHECK(fails_with("hello = list\n", "t.conf:1: hello: \"list\" needs at least one hello-allow line"));
	CHECK(fails_with("hello = all\nhello-allow = 10.0.0.0/8\n",
			 "t.conf:2: hello-allow: contradicts \"hello = all\" on line 1"));
	CHECK(fails_with("hello-allow = 10.0.0.0/8\n\nhello = none\n",
			 "t.conf:3: hello: \"none\" contradicts hello-allow on line 1"));
	CHECK(fails_with("hello-allow = 10.0.0.0/8\nhello-allow = 10.0.0.0/8\n",
			 "t.conf:2: hello-allow: 10.0.0.0/8 listed twice"));
}

static void test_errors(void)
{
	CHECK(fails_with("bogus = 1\n", "t.conf:1: unknown key \"bogus\""));
	CHECK(fails_with("Queue = 1\n", "t.conf:1: unknown key \"Queue\""));
	CHECK(fails_with("\n\nqueue 5\n", "t.conf:3: expected KEY = VALUE, got \"queue 5\""));
	CHECK(fails_with("= 5\n", "t.conf:1: missing key before \"=\""));
	CHECK(fails_with("queue =\n", "t.conf:1: queue: missing value"));
	CHECK(fails_with("queue = # empty\n", "t.conf:1: queue: missing value"));
	CHECK(fails_with("queue = 1\nqueue = 1\n", "t.conf:2: queue: set again (first on line 1)"));
	CHECK(fails_with("queue = 65536\n",
			 "t.conf:1: queue: expected a number from 0 to 65535, got \"65536\""));
	CHECK(fails_with("queue = -1\n",
			 "t.conf:1: queue: expected a number from 0 to 65535, got \"-1\""));
	CHECK(fails_with("queue = +1\n",
			 "t.conf:1: queue: expected a number from 0 to 65535, got \"+1\""));
	CHECK(fails_with("queue = 0x10\n",
			 "t.conf:1: queue: expected a number from 0 to 65535, got \"0x10\""));
	CHECK(fails_with("max-flows = 99999999999999999999999\n",
			 "t.conf:1: max-flows: expected a number from 1 to 16777216, got \"99999999999999999999999\""));
	CHECK(fails_with("queue = 1 2\n", "t.conf:1: queue: expected one value, got 2"));
	CHECK(fails_with("port = 1023\n",
			 "t.conf:1: port: expected a number from 1024 to 65535, got \"1023\""));
	CHECK(fails_with("xt-mark = 0x3\n", "t.conf:1: xt-mark: expected a hex mask with exactly one "
			 "bit set, like 0x10000000, got \"0x3\""));
	CHECK(fails_with("xt-mark = 0x\n", "t.conf:1: xt-mark: expected a hex mask with exactly one "
			 "bit set, like 0x10000000, got \"0x\""));
	CHECK(fails_with("xt-mark = 0x000000010\n", "t.conf:1: xt-mark: expected a hex mask with exactly one "
			 "bit set, like 0x10000000, got \"0x000000010\""));
	CHECK(fails_with("xt-mark = 268435456\n", "t.conf:1: xt-mark: expected a hex mask with exactly one "
			 "bit set, like 0x10000000, got \"268435456\""));
	CHECK(fails_with("log-level = warn\n", "t.conf:1: log-level: expected err, warning, notice, "
			 "info or debug, got \"warn\""));
	CHECK(fails_with("rules = off\n", "t.conf:1: rules: expected auto or none, got \"off\""));
	CHECK(fails_with("require-signatures = true\n",
			 "t.conf:1: require-signatures: expected yes or no, got \"true\""));
	CHECK(fails_with("state-dir = var/lib\n",
			 "t.conf:1: state-dir: expected an absolute path, got \"var/lib\""));
	CHECK(fails_with("control-socket = /run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
			 "t.conf:1: control-socket: path longer than 107 bytes"));
	CHECK(fails_with("hello-allow = 198.18.0.1/15\n",
			 "t.conf:1: hello-allow: \"198.18.0.1/15\" has host bits set"));
	CHECK(fails_with("hello-allow = 198.18.0.0\n", "t.conf:1: hello-allow: expected a prefix like "
			 "198.18.0.0/15 or 2001:db8::/32, got \"198.18.0.0\""));
	CHECK(fails_with("hello-allow = 198.18.0.0/+5\n", "t.conf:1: hello-allow: expected a prefix like "
			 "198.18.0.0/15 or 2001:db8::/32, got \"198.18.0.0/+5\""));
	CHECK(fails_with("hello-allow = 2001:db8::/129\n", "t.conf:1: hello-allow: expected a prefix like "
			 "198.18.0.0/15 or 2001:db8::/32, got \"2001:db8::/129\""));
	CHECK(fails_with("pin-key = 10.0.0.0/8\n",
			 "t.conf:1: pin-key: expected PREFIX BASE64-KEY, got 1 value"));
	CHECK(fails_with("pin-key = 10.0.0.0/8 abc\n", "t.conf:1: pin-key: expected a base64 Ed25519 "
			 "public key (44 characters), got \"abc\""));
	/* Last character's spare bits set: not the canonical encoding of any key. */
	CHECK(fails_with("pin-key = 10.0.0.0/8 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=\n",
			 "t.conf:1: pin-key: expected a base64 Ed25519 public key (44 characters), "
			 "got \"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=\""));
	CHECK(fails_with("pin-key = 10.0.0.0/8 " KEY_A "\npin-key = 10.0.0.0/8 " KEY_A "\n",
			 "t.conf:2: pin-key: 10.0.0.0/8 pinned twice"));
	CHECK(fails_with("local-key = /k 10.0.0.0/8 10.0.0.0/8\n",
			 "t.conf:1: local-key: 10.0.0.0/8 listed twice"));
	CHECK(fails_with("local-key = k\n", "t.conf:1: local-key: expected an absolute path, got \"k\""));
	CHECK(fails_with("local-key = /a\nlocal-key = /b\n",
			 "t.conf:2: local-key: set again (first on line 1)"));
}

static void test_text(void)
{
	struct config c;
	char err[CONFIG_ERRLEN], line[CONFIG_LINE_MAX + 8];

	CHECK(fails_with("queue = 1\r\n", "t.conf:1: control character 0x0d (DOS line endings?)"));
	CHECK(fails_with("# caf\xe9\n", "t.conf:1: invalid UTF-8 (byte 0xe9)"));
	CHECK(fails_with("# \xc0\x80\n", "t.conf:1: invalid UTF-8 (byte 0xc0)"));
	CHECK(fails_with("# \xe0\x80\x80\n", "t.conf:1: invalid UTF-8 (byte 0xe0)"));
	CHECK(fails_with("# \xed\xa0\x80\n", "t.conf:1: invalid UTF-8 (byte 0xed)"));
	CHECK(fails_with("# \xf4\x90\x80\x80\n", "t.conf:1: invalid UTF-8 (byte 0xf4)"));
	CHECK(fails_with("# \xf5\x80\x80\x80\n", "t.conf:1: invalid UTF-8 (byte 0xf5)"));
	CHECK(fails_with("# \xe2\x82", "t.conf:1: invalid UTF-8 (byte 0xe2)"));
	CHECK(fails_with("# \xc2\x85\n", "t.conf:1: control character U+0085"));
	CHECK(fails_with("\x1b[0m\n", "t.conf:1: control character 0x1b"));
	CHECK(fails_with("# \x7f\n", "t.conf:1: control character 0x7f"));
	CHECK_EQ(parse("# caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x90\x8d\n", &c, err), 0);
	CHECK_EQ(parse("state-dir = /srv/caf\xc3\xa9\n", &c, err), 0);
	CHECK(strcmp(c.state_dir, "/srv/caf\xc3\xa9") == 0);
	/* A NUL in the middle of a line is caught, not taken as its end. */
	CHECK(parse_str("queue = 1\0 junk\n", 16, &c, err) < 0);
	CHECK(strcmp(err, "t.conf:1: control character 0x00") == 0);

	/* 1024 bytes is the limit, the newline not counted. */
	memset(line, '#', CONFIG_LINE_MAX);
	strcpy(line + CONFIG_LINE_MAX, "\n");
	CHECK_EQ(parse(line, &c, err), 0);
	line[CONFIG_LINE_MAX - 1] = '\0';
	CHECK_EQ(parse(line, &c, err), 0);	/* and without a final newline */
	memset(line, '#', CONFIG_LINE_MAX + 1);
	strcpy(line + CONFIG_LINE_MAX + 1, "\n");
	CHECK(fails_with(line, "t.conf:1: line longer than 1024 bytes"));
	CHECK_EQ(parse("queue = 7", &c, err), 0);
	CHECK_EQ(c.queue, 7);
}

static void test_list_limit(void)
{
	struct config c;
	char err[CONFIG_ERRLEN] = "", want[CONFIG_ERRLEN], *text = NULL;
	size_t len = 0, at_max = 0;
	FILE *f = open_memstream(&text, &len);

	for (unsigned i = 0; i <= CONFIG_LIST_MAX; i++) {
		fprintf(f, "hello-allow = 10.%u.%u.0/24\n", i / 256, i % 256);
		if (i + 1 == CONFIG_LIST_MAX) {
			fflush(f);
			at_max = len;
		}
	}
	fclose(f);
	CHECK_EQ(parse_str(text, at_max, &c, err), 0);
	CHECK_EQ(c.n_hello_allow, CONFIG_LIST_MAX);
	config_free(&c);
	snprintf(want, sizeof(want), "t.conf:%d: hello-allow: more than %d entries",
		 CONFIG_LIST_MAX + 1, CONFIG_LIST_MAX);
	CHECK(fails_with(text, want));
	free(text);
}

/* A failed load leaves the caller's config exactly as it was. */
static void test_atomic(void)
{
	struct config c, before;
	char err[CONFIG_ERRLEN];

	CHECK_EQ(parse("queue = 9\npin-key = 10.0.0.0/8 " KEY_A "\n", &c, err), 0);
	before = c;
	CHECK(parse("queue = 10\npin-key = 11.0.0.0/8 " KEY_A "\nport = 1\n", &c, err) < 0);
	CHECK(strcmp(err, "t.conf:3: port: expected a number from 1024 to 65535, got \"1\"") == 0);
	CHECK(memcmp(&c, &before, sizeof(c)) == 0);
	CHECK_EQ(c.queue, 9);
	CHECK_EQ(c.n_pins, 1);
	config_free(&c);
}

static void test_load(void)
{
	struct config c;
	char err[CONFIG_ERRLEN], path[] = "/tmp/dime-test-config-XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK(write(fd, "queue = 12\nbad\n", 15) == 15);
	close(fd);
	CHECK_EQ(config_load(path, &c, err, sizeof(err)), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: expected KEY = VALUE, got \"bad\"", path);
	CHECK(strcmp(err, want) == 0);
	CHECK(truncate(path, 11) == 0);
	CHECK_EQ(config_load(path, &c, err, sizeof(err)), 0);
	CHECK_EQ(c.queue, 12);
	unlink(path);
	CHECK_EQ(config_load(path, &c, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	CHECK(strcmp(err, want) == 0);
	CHECK_EQ(config_load("/", &c, err, sizeof(err)), -EINVAL);
	CHECK(strcmp(err, "/: not a regular file") == 0);
	/* A short error buffer truncates, never overflows. */
	char small[8];
	CHECK(config_load("/nonexistent/dimed.conf", &c, small, sizeof(small)) < 0);
	CHECK(strcmp(small, "/nonexi") == 0);
}

static void test_set(void)
{
	struct config c, before;
	char err[CONFIG_ERRLEN];

	config_defaults(&c);
	CHECK_EQ(config_set(&c, "queue", "5", err, sizeof(err)), 0);
	CHECK_EQ(c.queue, 5);
	CHECK_EQ(config_set(&c, "queue", "6", err, sizeof(err)), 0);	/* overrides may repeat */
	CHECK_EQ(c.queue, 6);
	CHECK_EQ(config_set(&c, "rules", "none", err, sizeof(err)), 0);
	CHECK_EQ(config_set(&c, "hello-allow", "10.0.0.0/8", err, sizeof(err)), 0);
	CHECK_EQ(c.hello, CONFIG_HELLO_LIST);
	before = c;
	CHECK_EQ(config_set(&c, "port", "80", err, sizeof(err)), -EINVAL);
	CHECK(strcmp(err, "port: expected a number from 1024 to 65535, got \"80\"") == 0);
	CHECK_EQ(config_set(&c, "nope", "1", err, sizeof(err)), -EINVAL);
	CHECK(strcmp(err, "unknown key \"nope\"") == 0);
	CHECK_EQ(config_set(&c, "queue", "  ", err, sizeof(err)), -EINVAL);
	CHECK(strcmp(err, "queue: missing value") == 0);
	CHECK_EQ(config_set(&c, "state-dir", "/a\nb", err, sizeof(err)), -EINVAL);
	CHECK(strcmp(err, "control character 0x0a") == 0);
	CHECK_EQ(config_set(&c, "local-key", "/k 10.0.0.1/8", err, sizeof(err)), -EINVAL);
	CHECK(memcmp(&c, &before, sizeof(c)) == 0);
	/* all or none drops the list. */
	CHECK_EQ(config_set(&c, "hello", "none", err, sizeof(err)), 0);
	CHECK_EQ(c.n_hello_allow, 0);
	CHECK(c.hello_allow == NULL);
	CHECK_EQ(config_set(&c, "local-key", "/k 10.0.0.0/8", err, sizeof(err)), 0);
	CHECK_EQ(config_set(&c, "local-key", "/k2", err, sizeof(err)), 0);
	CHECK_EQ(c.n_local_key_prefixes, 0);
	CHECK(strcmp(c.local_key, "/k2") == 0);
	config_free(&c);
}

static void test_roundtrip(void)
{
	struct config c, d;
	char err[CONFIG_ERRLEN];

	CHECK_EQ(parse("hello-allow = 198.18.0.0/15\nhello-allow = 2001:db8:0::/48\n"
		       "pin-key = ::/0 " KEY_A "\nlocal-key = /k 0.0.0.0/0\nxt-mark = 0x1\n", &c, err), 0);
	char *a = dump(&c);
	CHECK(a != NULL);
	CHECK(strstr(a, "hello-allow = 2001:db8::/48\n") != NULL);
	CHECK(strstr(a, "pin-key = ::/0 " KEY_A "\n") != NULL);
	CHECK(strstr(a, "xt-mark = 0x00000001\n") != NULL);
	CHECK_EQ(parse(a, &d, err), 0);
	char *b = dump(&d);
	CHECK(a && b && strcmp(a, b) == 0);
	free(a);
	free(b);
	config_free(&c);
	config_free(&d);
}

static void test_restart_keys(void)
{
	struct config a, b;
	char buf[128];

	config_defaults(&a);
	config_defaults(&b);
	CHECK_EQ(config_restart_keys(&a, &b, buf, sizeof(buf)), 0);
	CHECK(strcmp(buf, "") == 0);
	b.log_level = LOG_DEBUG;
	b.udp_timeout = 60;
	CHECK_EQ(config_restart_keys(&a, &b, buf, sizeof(buf)), 0);
	b.queue = 1;
	b.max_peers = 2;
	CHECK_EQ(config_restart_keys(&a, &b, buf, sizeof(buf)), 2);
	CHECK(strcmp(buf, "queue, max-peers") == 0);
	CHECK_EQ(config_restart_keys(&a, &b, NULL, 0), 2);
	CHECK_EQ(config_restart_keys(&a, &b, buf, 4), 2);
	CHECK(strcmp(buf, "que") == 0);
	/* Keeping them leaves only the live changes. */
	snprintf(b.control_socket, sizeof(b.control_socket), "/x.sock");
	b.rules = CONFIG_RULES_NONE;
	b.xt_mark = 1;
	b.port = 4000;
	b.max_flows = 9;
	snprintf(b.state_dir, sizeof(b.state_dir), "/y");
	CHECK_EQ(config_restart_keys(&a, &b, buf, sizeof(buf)), 8);
	CHECK(strcmp(buf, "control-socket, state-dir, queue, port, rules, xt-mark, max-flows, max-peers") == 0);
	config_keep_restart(&b, &a);
	CHECK_EQ(config_restart_keys(&a, &b, buf, sizeof(buf)), 0);
	CHECK_EQ(b.log_level, LOG_DEBUG);
	CHECK_EQ(b.udp_timeout, 60);
	b.log_level = a.log_level;
	b.udp_timeout = a.udp_timeout;
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
}

/* ---- golden files ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	FILE *m = open_memstream(&buf, &len);
	int ch;
	while ((ch = getc(f)) != EOF)
		putc(ch, m);
	fclose(m);
	fclose(f);
	return buf;
}

/* Expected dumps name the build's default paths by placeholder. */
static char *expand(const char *s)
{
	static const char *const vars[][2] = {
		{ "@CONTROL_SOCKET@", CTL_DEFAULT_PATH },
		{ "@STATE_DIR@", DIME_STATEDIR },
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	while (*s) {
		size_t i;
		for (i = 0; i < 2; i++) {
			size_t n = strlen(vars[i][0]);
			if (!strncmp(s, vars[i][0], n)) {
				fputs(vars[i][1], m);
				s += n;
				break;
			}
		}
		if (i == 2)
			putc(*s++, m);
	}
	fclose(m);
	return buf;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* Runs every NAME.conf in dir against NAME.<ext>; returns how many ran. */
static int golden_dir(const char *dir, bool good)
{
	const char *ext = good ? ".dump" : ".err";
	struct dirent **ents;
	int n, count = 0;

	if (chdir(dir) < 0 || (n = scandir(".", &ents, NULL, alphasort)) < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		CHECK(!"golden directory readable");
		return 0;
	}
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char base[256], want_path[300];

		if (has_suffix(name, ext)) {
			/* An expectation without its input is a test that silently never runs. */
			snprintf(base, sizeof(base), "%.*s.conf", (int)(strlen(name) - strlen(ext)), name);
			if (access(base, R_OK) < 0) {
				fprintf(stderr, "%s/%s: no %s\n", dir, name, base);
				CHECK(!"expectation has an input");
			}
			continue;
		}
		if (!has_suffix(name, ".conf"))
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(strlen(name) - 5), name);
		snprintf(want_path, sizeof(want_path), "%s%s", base, ext);
		char *raw = slurp(want_path);
		if (!raw) {
			fprintf(stderr, "%s/%s: no %s\n", dir, name, want_path);
			CHECK(!"input has an expectation");
			continue;
		}
		char *want = expand(raw);
		struct config c;
		char err[CONFIG_ERRLEN] = "";
		int r = config_load(name, &c, err, sizeof(err));
		count++;
		if (good) {
			char *got = r == 0 ? dump(&c) : NULL;
			if (r < 0)
				fprintf(stderr, "%s/%s: %s\n", dir, name, err);
			else if (strcmp(got, want) != 0)
				fprintf(stderr, "%s/%s: dump differs from %s:\n%s", dir, name, want_path, got);
			CHECK(r == 0 && strcmp(got, want) == 0);
			/* The canonical form is a fixed point. */
			if (r == 0) {
				struct config d;
				char *again = NULL;
				CHECK_EQ(parse(got, &d, err), 0);
				again = dump(&d);
				CHECK(again && strcmp(again, got) == 0);
				free(again);
				config_free(&d);
				config_free(&c);
			}
			free(got);
		} else {
			want[strcspn(want, "\n")] = '\0';
			if (r == 0) {
				config_free(&c);
				fprintf(stderr, "%s/%s: loaded, expected: %s\n", dir, name, want);
			} else if (strcmp(err, want) != 0) {
				fprintf(stderr, "%s/%s:\n  got:  %s\n  want: %s\n", dir, name, err, want);
			}
			CHECK(r < 0 && strcmp(err, want) == 0);
		}
		free(raw);
		free(want);
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return count;
}

static char golden_root[512];

static void test_golden(void)
{
	const char *dir = golden_root;
	char good[600], bad[600];

	snprintf(good, sizeof(good), "%s/good", dir);
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	int ng = golden_dir(good, true);
	int nb = golden_dir(bad, false);
	printf("# golden: %d good, %d bad\n", ng, nb);
	CHECK(ng >= 8);
	CHECK(nb >= 15);
}

int main(int argc, char **argv)
{
	RUN(test_defaults);
	RUN(test_values);
	RUN(test_hello);
	RUN(test_errors);
	RUN(test_text);
	RUN(test_list_limit);
	RUN(test_atomic);
	RUN(test_load);
	RUN(test_set);
	RUN(test_roundtrip);
	RUN(test_restart_keys);
	if (argc > 1) {
		char *dir = golden_root;
		/* Relative paths would move under the chdir into each directory. */
		if (argv[1][0] != '/' && getcwd(dir, sizeof(golden_root) / 2))
			snprintf(dir + strlen(dir), sizeof(golden_root) - strlen(dir), "/%s", argv[1]);
		else
			snprintf(dir, sizeof(golden_root), "%s", argv[1]);
		RUN(test_golden);
	}
	return check_done();
}
