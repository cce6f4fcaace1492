/*
 * log_test.c - what reaches a log line: control characters a peer sent
 * are escaped as \xNN (issue 11.4), UTF-8 text stays readable, and the
 * line is cut without splitting an escape.
 */
#include "log.h"
#include "fake_plat.h"
#include "test.h"

static void
test_escapes_controls(void)
{
	fake_log_quiet(true);
	log_info("helo=%s", "a\x01" "b\x1b[2J\tc\x7f\r\nX: y");
	CHECK_STR(fake_log_last(),
	    "helo=a\\x01b\\x1b[2J c\\x7f\\x0d\\x0aX: y");
	/* C1 controls in UTF-8 (U+009B CSI) escaped, other UTF-8 kept */
	log_info("%s", "caf\xc3\xa9 \xc2\x9b" "31m \xc4\x80 \xc2\xa0");
	CHECK_STR(fake_log_last(),
	    "caf\xc3\xa9 \\xc2\\x9b31m \xc4\x80 \xc2\xa0");
	/* a lone 0xC2 at the end is not a C1 control */
	log_info("%s", "x\xc2");
	CHECK_STR(fake_log_last(), "x\xc2");
}

static void
test_cut_whole(void)
{
	char many[LOG_LINE_MAX];
	const char *l;
	size_t n;

	memset(many, 0x01, sizeof(many) - 1);
	many[sizeof(many) - 1] = '\0';
	log_info("%s", many);
	l = fake_log_last();
	n = strlen(l);
	CHECK(n < LOG_LINE_MAX);
	CHECK(n > LOG_LINE_MAX - 16);
	CHECK_EQ(n % 4, 0);	/* whole "\x01" escapes only */
	CHECK(strstr(l, "\\x01\\x01") == l);
}

int
main(void)
{
	RUN(test_escapes_controls);
	RUN(test_cut_whole);
	return test_report("log");
}
