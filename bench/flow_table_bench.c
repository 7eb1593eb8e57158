/* flow_table_bench: insert N flows, then time lookups both ways. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flow_table.h"

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct flow_key key(uint32_t i)
{
	struct flow_key k;
	uint32_t la = htonl(0x0a000000 + (i >> 12)), ra = htonl(0x0b000000 + i % 97);

	flow_key_init(&k, AF_INET, IPPROTO_TCP, &la, htons((uint16_t)(i & 0xfff)), &ra, htons(443));
	return k;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 1000000;
	uint32_t hot = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : n;
	struct flow_table *ft = flow_table_new(n, (uint32_t)time(NULL));
	struct dime_addr l, r;
	uint32_t ra = htonl(0xc6130001), miss = 0;
	struct flow *f;
	double t0, t;

	if (!ft || hot == 0 || hot > n)
		return 1;
	addr_set(&r, AF_INET, &ra);
	t0 = secs();
	for (uint32_t i = 0; i < n; i++) {
		struct flow_key k = key(i);
		uint32_t la = htonl(0xc6120000 + (i >> 12));

		addr_set(&l, AF_INET, &la);
		if (flow_table_insert(ft, &k, i / 100 + 1, 0, &f) < 0 ||
		    flow_table_set_locators(ft, f, &l, &r) < 0)
			miss++;
	}
	t = secs() - t0;
	printf("%u flows: %.1f bytes/flow, insert+translate %.0f ns each\n",
	    n, (double)flow_table_memory(ft) / n, t * 1e9 / n);
	for (int pass = 0; pass < 2; pass++) {
		t0 = secs();
		for (uint32_t i = 0; i < n; i++) {
			struct flow_key k = key((uint32_t)(i * 2654435761u) % hot);

			f = flow_table_lookup(ft, &k);
			miss += !f;
		}
		t = secs() - t0;
		printf("lookup by identifiers over %u flows: %.0f ns, %.2f M/s\n",
		    hot, t * 1e9 / n, n / t / 1e6);
		t0 = secs();
		for (uint32_t i = 0; i < n; i++) {
			uint32_t j = (uint32_t)(i * 2654435761u) % hot;
			struct flow_key k = key(j);
			uint32_t la = htonl(0xc6120000 + (j >> 12));

			memcpy(k.laddr, &la, 4);
			memcpy(k.raddr, &ra, 4);
			f = flow_table_lookup_loc(ft, &k);
			miss += !f;
		}
		t = secs() - t0;
		printf("lookup by locators over %u flows: %.0f ns, %.2f M/s\n",
		    hot, t * 1e9 / n, n / t / 1e6);
	}
	flow_table_free(ft);
	return miss != 0;
}
