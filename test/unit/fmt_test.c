/*
 * fmt_test.c - 64-bit numbers in text without %lld/%llu/%llX (newlib-nano
 * has none): u64_str/i64_str, and inject's Message-ID checked byte for
 * byte, so a format that shifts its arguments fails here (this binary also
 * runs on the emulated Cortex-M4, scripts/test-cortex-m4.sh). The bounce's
 * boundary and Message-ID: sched_test's test_dsn_ids.
 */
#include <stdint.h>

#include "test.h"
#include "inject.h"

static void
test_u64_str(void)
{
	char b[U64_STRLEN];

	CHECK_STR(u64_str(b, 0, 10), "0");
	CHECK_STR(u64_str(b, 7, 10), "7");
	CHECK_STR(u64_str(b, 4294967296u, 10), "4294967296");
	CHECK_STR(u64_str(b, UINT64_MAX, 10), "18446744073709551615");
	CHECK_STR(u64_str(b, 0, 16), "0");
	CHECK_STR(u64_str(b, 0x123456789ABCDEFu, 16), "123456789ABCDEF");
	CHECK_STR(u64_str(b, UINT64_MAX, 16), "FFFFFFFFFFFFFFFF");
	CHECK_STR(i64_str(b, 0), "0");
	CHECK_STR(i64_str(b, -1), "-1");
	CHECK_STR(i64_str(b, 1790000000), "1790000000");
	CHECK_STR(i64_str(b, -5000000000), "-5000000000");
	CHECK_STR(i64_str(b, INT64_MAX), "9223372036854775807");
	CHECK_STR(i64_str(b, INT64_MIN), "-9223372036854775808");
	CHECK_EQ(strlen(i64_str(b, INT64_MIN)) + 1 <= U64_STRLEN, 1);
}

static void
test_str_find(void)
{
	const char *s = "250-a\r\n250 b\r\n";

	CHECK(str_find(s, "\r\n") == s + 5);
	CHECK(str_find(s + 6, "\r\n") == s + 12);
	CHECK(str_find(s, "250 b") == s + 7);
	CHECK(str_find(s, "b\r\n!") == NULL);
	CHECK(str_find("ab", "abc") == NULL);
	CHECK(str_find("", "a") == NULL);
	CHECK(str_find(s, "") == s);
	CHECK(str_find("", "") != NULL);
}

static void
test_msgid(void)
{
	static const uint8_t rnd[4] = { 0xde, 0xad, 0xbe, 0xef };
	char b[128];

	CHECK_STR(inject_make_msgid(b, sizeof(b), 0x1234567890, rnd, 4,
	    "nas.lan"), "<1234567890.DEADBEEF@nas.lan>");
	CHECK_STR(inject_make_msgid(b, sizeof(b), 1790000000, rnd, 2, ""),
	    "<6AB13B80.DEAD@localhost>");
}

int
main(void)
{
	RUN(test_u64_str);
	RUN(test_str_find);
	RUN(test_msgid);
	return test_report("fmt_test");
}
