/*
 * smtp_cmd_test.c - SMTP command framing and parsing, without sockets.
 */
#include "test.h"
#include "smtp_cmd.h"

static int
frame(const char *s, size_t *linelen, size_t *used)
{
	return smtp_cmd_frame((const uint8_t *)s, strlen(s), linelen, used);
}

static void
test_frame(void)
{
	size_t ll, used;

	CHECK_EQ(frame("", &ll, &used), SMTP_CMD_F_PARTIAL);
	CHECK_EQ(frame("NOOP", &ll, &used), SMTP_CMD_F_PARTIAL);
	CHECK_EQ(frame("NOOP\r", &ll, &used), SMTP_CMD_F_PARTIAL);
	CHECK_EQ(used, 0);
	CHECK_EQ(frame("NOOP\r\nQUIT\r\n", &ll, &used), SMTP_CMD_F_LINE);
	CHECK_EQ(ll, 4);
	CHECK_EQ(used, 6);
	CHECK_EQ(frame("\r\n", &ll, &used), SMTP_CMD_F_LINE);
	CHECK_EQ(ll, 0);
	/* bare LF / CR / NUL are never line ends, the line is refused */
	CHECK_EQ(frame("NOOP\nQUIT\r\n", &ll, &used), SMTP_CMD_F_BAD);
	CHECK_EQ(used, 11);
	CHECK_EQ(frame("NOOP\rQUIT\r\n", &ll, &used), SMTP_CMD_F_BAD);
	CHECK_EQ(frame("NOOP\n", &ll, &used), SMTP_CMD_F_PARTIAL);
	CHECK_EQ(smtp_cmd_frame((const uint8_t *)"NO\0P\r\n", 6, &ll, &used),
	    SMTP_CMD_F_BAD);
	CHECK_EQ(used, 6);
}

static void
test_frame_limit(void)
{
	uint8_t buf[1200];
	size_t ll, used;

	/* 510 + CRLF = 512: the longest line */
	memset(buf, 'A', sizeof(buf));
	memcpy(buf + 510, "\r\n", 2);
	CHECK_EQ(smtp_cmd_frame(buf, 512, &ll, &used), SMTP_CMD_F_LINE);
	CHECK_EQ(ll, 510);
	memset(buf, 'A', sizeof(buf));
	memcpy(buf + 511, "\r\n", 2);
	CHECK_EQ(smtp_cmd_frame(buf, 513, &ll, &used), SMTP_CMD_F_TOOLONG);
	CHECK_EQ(used, 513);
	/* no CRLF in 512 octets: discard */
	memset(buf, 'A', sizeof(buf));
	CHECK_EQ(smtp_cmd_frame(buf, 511, &ll, &used), SMTP_CMD_F_PARTIAL);
	CHECK_EQ(smtp_cmd_frame(buf, 600, &ll, &used), SMTP_CMD_F_OVERFLOW);
	CHECK_EQ(used, 600);
	buf[599] = '\r';
	CHECK_EQ(smtp_cmd_frame(buf, 600, &ll, &used), SMTP_CMD_F_OVERFLOW);
	CHECK_EQ(used, 599);	/* the CR may start the CRLF */
	/* discard mode */
	CHECK(!smtp_cmd_discard(buf + 599, 1, &used));
	CHECK_EQ(used, 0);
	CHECK(smtp_cmd_discard((const uint8_t *)"\r\nNOOP\r\n", 8, &used));
	CHECK_EQ(used, 2);
	CHECK(!smtp_cmd_discard((const uint8_t *)"xx\nyy", 5, &used));
	CHECK_EQ(used, 5);
}

static void
test_parse(void)
{
	char l1[] = "ehlo client.example", l2[] = "MAIL FROM:<a@b>  ";
	char l3[] = "QUIT", l4[] = "Quit   ", l5[] = "MAILX FROM:<a@b>";
	char l6[] = "", l7[] = "xqueue flush", l8[] = "DATA x";
	const char *arg;

	CHECK_EQ(smtp_cmd_parse(l1, &arg), SMTP_CMD_EHLO);
	CHECK_STR(arg, "client.example");
	CHECK_EQ(smtp_cmd_parse(l2, &arg), SMTP_CMD_MAIL);
	CHECK_STR(arg, "FROM:<a@b>");
	CHECK_EQ(smtp_cmd_parse(l3, &arg), SMTP_CMD_QUIT);
	CHECK_STR(arg, "");
	CHECK_EQ(smtp_cmd_parse(l4, &arg), SMTP_CMD_QUIT);
	CHECK_STR(arg, "");
	CHECK_EQ(smtp_cmd_parse(l5, &arg), SMTP_CMD_UNKNOWN);
	CHECK_EQ(smtp_cmd_parse(l6, &arg), SMTP_CMD_UNKNOWN);
	CHECK_EQ(smtp_cmd_parse(l7, &arg), SMTP_CMD_XQUEUE);
	CHECK_STR(arg, "flush");
	CHECK_EQ(smtp_cmd_parse(l8, &arg), SMTP_CMD_DATA);
	CHECK_STR(arg, "x");
	CHECK_STR(smtp_cmd_name(SMTP_CMD_RCPT), "RCPT");
	CHECK_STR(smtp_cmd_name(99), "unknown");
}

static void
test_mail(void)
{
	struct smtp_cmd_mail m;

	CHECK_EQ(smtp_cmd_mail("FROM:<a@example.com>", &m), SMTP_CMD_OK);
	CHECK_STR(m.addr, "a@example.com");
	CHECK_EQ(m.size, 0);
	CHECK_EQ(m.body, SMTP_BODY_NONE);
	CHECK(!m.smtputf8);
	CHECK_EQ(smtp_cmd_mail("from:<>", &m), SMTP_CMD_OK);
	CHECK_STR(m.addr, "");
	CHECK_EQ(smtp_cmd_mail("FROM: <a@b.c>", &m), SMTP_CMD_OK);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> SIZE=1234 body=8bitmime "
	    "smtputf8", &m), SMTP_CMD_OK);
	CHECK_EQ(m.size, 1234);
	CHECK_EQ(m.body, SMTP_BODY_8BITMIME);
	CHECK(m.smtputf8);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> BODY=7BIT", &m), SMTP_CMD_OK);
	CHECK_EQ(m.body, SMTP_BODY_7BIT);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> SIZE=99999999999999", &m),
	    SMTP_CMD_OK);
	CHECK_EQ(m.size, UINT32_MAX);
	/* errors */
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> FOO=1", &m), SMTP_CMD_E_PARAM);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> AUTH=<>", &m),
	    SMTP_CMD_E_PARAM);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> SIZE=", &m), SMTP_CMD_E_VALUE);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> SIZE=12a", &m),
	    SMTP_CMD_E_VALUE);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> SIZE", &m), SMTP_CMD_E_VALUE);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> SIZE=1 SIZE=2", &m),
	    SMTP_CMD_E_VALUE);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> BODY=BINARYMIME", &m),
	    SMTP_CMD_E_VALUE);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c> SMTPUTF8=yes", &m),
	    SMTP_CMD_E_VALUE);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c>SIZE=1", &m), SMTP_CMD_E_SYNTAX);
	CHECK_EQ(smtp_cmd_mail("FROM:a@b.c", &m), SMTP_CMD_E_SYNTAX);
	CHECK_EQ(smtp_cmd_mail("FRM:<a@b.c>", &m), SMTP_CMD_E_SYNTAX);
	CHECK_EQ(smtp_cmd_mail("", &m), SMTP_CMD_E_SYNTAX);
	CHECK_EQ(smtp_cmd_mail("FROM:", &m), SMTP_CMD_E_SYNTAX);
	CHECK_EQ(smtp_cmd_mail("FROM:<a@b.c", &m), SMTP_CMD_E_ADDR);
	CHECK_EQ(smtp_cmd_mail("FROM:<a b@c>", &m), SMTP_CMD_E_ADDR);
}

static void
test_rcpt(void)
{
	char addr[ADDR_MAX];

	CHECK_EQ(smtp_cmd_rcpt("TO:<x@y.z>", addr), SMTP_CMD_OK);
	CHECK_STR(addr, "x@y.z");
	CHECK_EQ(smtp_cmd_rcpt("to:<x@y.z>", addr), SMTP_CMD_OK);
	CHECK_EQ(smtp_cmd_rcpt("TO:<Postmaster>", addr), SMTP_CMD_OK);
	CHECK_EQ(smtp_cmd_rcpt("TO:<@hop.example:x@y.z>", addr),
	    SMTP_CMD_OK);
	CHECK_STR(addr, "x@y.z");
	CHECK_EQ(smtp_cmd_rcpt("TO:<>", addr), SMTP_CMD_E_ADDR);
	CHECK_EQ(smtp_cmd_rcpt("TO:<x@y.z> NOTIFY=NEVER", addr),
	    SMTP_CMD_E_PARAM);
	CHECK_EQ(smtp_cmd_rcpt("TO:<x@y.z>  ", addr), SMTP_CMD_OK);
	CHECK_EQ(smtp_cmd_rcpt("TO:x@y.z", addr), SMTP_CMD_E_SYNTAX);
	CHECK_EQ(smtp_cmd_rcpt("FROM:<x@y.z>", addr), SMTP_CMD_E_SYNTAX);
}

static void
test_utf8(void)
{
	CHECK(!smtp_cmd_is_utf8("plain@example.com"));
	CHECK(smtp_cmd_is_utf8("j\xc3\xb6rg@example.com"));
}

int
main(void)
{
	RUN(test_frame);
	RUN(test_frame_limit);
	RUN(test_parse);
	RUN(test_mail);
	RUN(test_rcpt);
	RUN(test_utf8);
	return test_report("smtp_cmd");
}
