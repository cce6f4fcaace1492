/*
 * test.h - the smallest unit-test harness.
 *
 *   static void test_x(void) { CHECK(1 + 1 == 2); CHECK_EQ(a, b); }
 *   int main(void) { RUN(test_x); return test_report("name"); }
 *
 * Each binary prints "name: N passed, N failed" last and exits non-zero
 * when anything failed.
 */
#ifndef TEST_H
#define TEST_H

#include <stdio.h>
#include <string.h>

#include "edgemta.h"

static int test_passed, test_failed, test_cur_failed;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
		    __LINE__, #cond); \
		test_cur_failed++; \
	} \
} while (0)

/* i64_str: newlib-nano (the tests also run on a Cortex-M4) has no %lld */
#define CHECK_EQ(a, b) do { \
	int64_t ca_ = (int64_t)(a), cb_ = (int64_t)(b); \
	char sa_[U64_STRLEN], sb_[U64_STRLEN]; \
	if (ca_ != cb_) { \
		fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s, " \
		    "%s == %s\n", __FILE__, __LINE__, #a, \
		    i64_str(sa_, ca_), #b, i64_str(sb_, cb_)); \
		test_cur_failed++; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *sa_ = (a), *sb_ = (b); \
	if (strcmp(sa_, sb_) != 0) { \
		fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" != " \
		    "\"%s\"\n", __FILE__, __LINE__, sa_, sb_); \
		test_cur_failed++; \
	} \
} while (0)

#define RUN(fn) do { \
	test_cur_failed = 0; \
	fn(); \
	if (test_cur_failed) { \
		fprintf(stderr, "FAIL %s\n", #fn); \
		test_failed++; \
	} else { \
		test_passed++; \
	} \
} while (0)

/* Deterministic pseudo-random bytes for a seed (message bodies). */
static inline void
test_fill(uint8_t *buf, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

static inline int
test_report(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
	return test_failed ? 1 : 0;
}

#endif
