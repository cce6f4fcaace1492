/*
 * storm_test.c - collapsing alert storms: the first of a kind goes out,
 * repeats within the window replace each other and are held to its end.
 */
#include "test.h"
#include "storm.h"

static const char env_a[] = "ups@lan\0admin@example.org\0";
static const char env_b[] = "ups@lan\0admin@example.org\0ops@example.org\0";

static void
test_keys(void)
{
	uint64_t a = storm_key(env_a, 1, 42), b = storm_key(env_b, 2, 42);

	CHECK(a != 0 && b != 0 && a != b);
	CHECK(storm_key(env_a, 1, 43) != a);	/* other subject */
	CHECK(storm_key(env_b, 1, 42) == a);	/* same first rcpt only */
	CHECK(storm_key("x@lan\0admin@example.org\0", 1, 42) != a);
}

static void
test_window(void)
{
	uint64_t k = storm_key(env_a, 1, 7);
	uint32_t old = 99, first = 0;
	int64_t until = 0, ft = 0;

	storm_reset();
	/* off: nothing is ever a repeat */
	CHECK_EQ(storm_peek(0, k, 1000, &first, &ft), 0);
	CHECK_EQ(storm_commit(0, k, 1, 1000, &until, &old), 0);
	CHECK_EQ(storm_commit(0, k, 2, 1000, &until, &old), 0);

	storm_reset();
	CHECK_EQ(storm_peek(60, k, 1000, &first, &ft), 0);
	CHECK_EQ(storm_commit(60, k, 10, 1000, &until, &old), 0);
	/* the first repeat: held to the window's end, replaces nothing */
	CHECK_EQ(storm_peek(60, k, 1010, &first, &ft), 1);
	CHECK_EQ(first, 10);
	CHECK_EQ(ft, 1000);
	CHECK_EQ(storm_commit(60, k, 11, 1010, &until, &old), 1);
	CHECK_EQ(until, 1060);
	CHECK_EQ(old, 0);
	/* the second replaces the first repeat */
	CHECK_EQ(storm_peek(60, k, 1059, &first, &ft), 2);
	CHECK_EQ(storm_commit(60, k, 12, 1059, &until, &old), 2);
	CHECK_EQ(old, 11);
	CHECK_EQ(until, 1060);
	/* the window has ended: a new first, sent at once */
	CHECK_EQ(storm_peek(60, k, 1060, &first, &ft), 0);
	CHECK_EQ(storm_commit(60, k, 13, 1060, &until, &old), 0);
	CHECK_EQ(storm_peek(60, k, 1061, &first, &ft), 1);
	CHECK_EQ(first, 13);
	/* another kind is independent */
	CHECK_EQ(storm_commit(60, storm_key(env_b, 2, 7), 14, 1061, &until,
	    &old), 0);
	/* a clock stepped back never makes a repeat */
	CHECK_EQ(storm_peek(60, k, 900, &first, &ft), 0);
}

static void
test_full_table(void)
{
	uint32_t old = 0, i;
	int64_t until = 0;

	storm_reset();
	/* more kinds than slots: the oldest window is forgotten */
	for (i = 0; i < STORM_SLOTS + 1; i++) {
		CHECK_EQ(storm_commit(600, 100 + i, i + 1, 1000 + i, &until,
		    &old), 0);
	}
	CHECK_EQ(storm_commit(600, 100, 50, 1100, &until, &old), 0);
	CHECK_EQ(storm_commit(600, 100 + STORM_SLOTS, 51, 1100, &until,
	    &old), 1);
}

int
main(void)
{
	RUN(test_keys);
	RUN(test_window);
	RUN(test_full_table);
	return test_report("storm");
}
