/* check: the smallest test harness that reports like TAP and fails loudly. */
#ifndef DIME_CHECK_H
#define DIME_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures, check_count;

#define CHECK(cond) do { \
	check_count++; \
	if (!(cond)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
	check_count++; \
	if (check_a_ != check_b_) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", \
			__FILE__, __LINE__, #a, check_a_, #b, check_b_); \
	} \
} while (0)

#define RUN(fn) do { \
	int check_before_ = check_failures; \
	fn(); \
	printf("%s %s\n", check_failures == check_before_ ? "ok" : "not ok", #fn); \
} while (0)

static inline int check_done(void)
{
	printf("# %d checks, %d failed\n", check_count, check_failures);
	return check_failures ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
