/*
 * libFuzzer target for the restart state file's records (src/state.c): the
 * input is the body between a valid header and a valid checksum, so the
 * fuzzer gets past both to the record parser. Asserts: no crash, no read
 * beyond the input; a refused file restores nothing (all or nothing); what
 * is restored is within the tables' bounds and prints as nft elements.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow_table.h"
#include "hid_table.h"
#include "sign.h"
#include "st_peer.h"
#include "st_tunnel.h"
#include "stacktrans.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/dime-fuzz-state-XXXXXX";
static char path[64], header[160];

static void init(void)
{
	char boot[64] = "";
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (!mkdtemp(dir) || !f || !fgets(boot, sizeof(boot), f) || sign_init() < 0)
		abort();
	fclose(f);
	boot[strcspn(boot, "\n")] = '\0';
	snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
	snprintf(header, sizeof(header), "dimed-state 1\nboot %s\nhost -\ncounter 7\n", boot);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[SIGN_MAC_KEY_LEN];
	static bool ready;
	size_t hl;
	uint8_t mac[SIGN_MAC_LEN];

	if (!ready) {
		init();
		ready = true;
	}
	hl = strlen(header);
	char *buf = malloc(hl + size + 8 + 2 * SIGN_MAC_LEN);
	memcpy(buf, header, hl);
	memcpy(buf + hl, data, size);
	sign_mac(zero, buf, hl + size, mac);
	size_t n = hl + size;
	n += (size_t)sprintf(buf + n, "sum ");
	for (size_t i = 0; i < SIGN_MAC_LEN; i++)
		n += (size_t)sprintf(buf + n, "%02x", mac[i]);
	buf[n++] = '\n';
	FILE *f = fopen(path, "w");
	assert(f && fwrite(buf, 1, n, f) == n && fclose(f) == 0);
	free(buf);

	struct st_cfg cfg = { .max_flows = 16, .max_hids = 4 };
	struct stacktrans *st;
	struct state_loaded sl;
	char why[200];
	assert(st_new(&st, &cfg, NULL, NULL) == 0);
	int r = state_load(dir, st, NULL, &sl, why, sizeof(why));
	if (r < 0) {
		assert(why[0]);
		assert(hid_table_count(st_hids(st)) == 0 && flow_table_count(st_flows(st)) == 0);
	} else {
		assert(sl.peers == hid_table_count(st_hids(st)) && sl.peers <= 4);
		assert(sl.flows == flow_table_count(st_flows(st)) && sl.flows <= 16);
		FILE *out = fopen("/dev/null", "w");
		assert(out && st_nft_elements(st, out) == 0);
		fclose(out);
	}
	st_free(st);
	return 0;
}
