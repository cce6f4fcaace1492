/*
 * inject_test.c - local submission: header fix-ups, -t extraction, Bcc
 * removal, line ends, dot handling, aliases and rewriting, limits and
 * hostile input.
 */
#include <stdlib.h>

#include "test.h"
#include "inject.h"

struct run {
	char out[65536];
	size_t olen;
	size_t hdr_len;		/* out length when hdr_end was called */
	int hdr_calls;
	bool body_before_end;
	char rcpts[8192];
	struct inject_rcpts rl;
	struct inject_rewrite rw;
	int rcpt_err;		/* forced error from rcpt() */
};

static int
t_out(void *arg, enum inject_part part, const char *p, size_t len)
{
	struct run *r = arg;

	if (part == INJECT_PART_BODY && r->hdr_calls == 0) {
		r->body_before_end = true;
	}
	if (part == INJECT_PART_HEADER && r->hdr_calls > 0) {
		r->body_before_end = true;	/* header after hdr_end */
	}
	if (r->olen + len < sizeof(r->out)) {
		memcpy(r->out + r->olen, p, len);
		r->olen += len;
		r->out[r->olen] = '\0';
	}
	return 0;
}

static int
t_rcpt(void *arg, const char *addr, char *err, size_t errlen)
{
	struct run *r = arg;

	if (r->rcpt_err) {
		return r->rcpt_err;
	}
	return inject_rcpt_add(&r->rl, &r->rw, addr, err, errlen);
}

static int
t_hdr_end(void *arg)
{
	struct run *r = arg;

	r->hdr_calls++;
	r->hdr_len = r->olen;
	return 0;
}

static struct run R;
static char fbuf[4096];
static struct inject IJ;

static void
setup(unsigned flags, const char *rewrite)
{
	struct inject_opts o;

	memset(&R, 0, sizeof(R));
	inject_rcpts_init(&R.rl, R.rcpts, sizeof(R.rcpts), 100);
	R.rw.aliases = "root postmaster: admin@example.com; "
	    "ops: a@example.com, b@example.com, root";
	R.rw.admin = "alerts@example.org";
	R.rw.myorigin = "example.net";
	R.rw.myhostname = "nas.lan";
	R.rw.sender_rewrite = rewrite;
	memset(&o, 0, sizeof(o));
	o.flags = flags;
	o.sender = rewrite[0] ? rewrite : "me@example.net";
	o.full_name = "";
	o.date = "Sat, 28 Nov 2026 13:04:05 +0000";
	o.msgid = "<X.Y@nas.lan>";
	o.sender_rewrite = rewrite;
	o.rcpt = t_rcpt;
	o.out = t_out;
	o.hdr_end = t_hdr_end;
	o.arg = &R;
	inject_init(&IJ, &o, fbuf, sizeof(fbuf));
}

/* Feed s in chunks of n bytes, then finish. Returns the first error. */
static int
feed(const char *s, size_t n)
{
	size_t len = strlen(s), i, k;
	int r;

	for (i = 0; i < len; i += k) {
		k = MIN(n, len - i);
		r = inject_feed(&IJ, s + i, k);
		if (r < 0) {
			return r;
		}
		if (r == 1) {
			break;
		}
	}
	return inject_finish(&IJ);
}

#define STD_ADDED "Date: Sat, 28 Nov 2026 13:04:05 +0000\r\n" \
	"Message-ID: <X.Y@nas.lan>\r\n"

static void
test_adds_missing(void)
{
	setup(0, "");
	CHECK_EQ(feed("Subject: hi\n\nbody\n", 3), 0);
	CHECK_STR(R.out, "Subject: hi\r\n" STD_ADDED
	    "From: me@example.net\r\n\r\nbody\r\n");
	CHECK_EQ(R.hdr_calls, 1);
	CHECK(!R.body_before_end);
	CHECK_EQ(R.hdr_len, strlen(R.out) - strlen("body\r\n"));
}

static void
test_keeps_existing(void)
{
	static const char m[] = "from: A <a@b.c>\r\nDATE: Fri, 1 Jan 2026 "
	    "00:00:00 +0000\r\nMessage-Id: <1@x>\r\n\r\nhello\r\n";

	setup(0, "");
	CHECK_EQ(feed(m, 1), 0);
	CHECK_STR(R.out, m);
}

static void
test_full_name(void)
{
	struct inject_opts o = IJ.o;

	setup(0, "");
	o = IJ.o;
	o.full_name = "Cron \"Daemon\"";
	inject_init(&IJ, &o, fbuf, sizeof(fbuf));
	CHECK_EQ(feed("Subject: x\n\n", 100), 0);
	CHECK(strstr(R.out, "From: \"Cron \\\"Daemon\\\"\" <me@example.net>"
	    "\r\n") != NULL);
}

static void
test_lf_crlf_cr_and_final_newline(void)
{
	setup(0, "");
	CHECK_EQ(feed("Subject: a\r\nX: b\rY: c\n\na\r\nb\nc\rd", 2), 0);
	CHECK_STR(R.out, "Subject: a\r\nX: b Y: c\r\n" STD_ADDED
	    "From: me@example.net\r\n\r\na\r\nb\r\nc d\r\n");
	/* CR and LF split across chunks */
	setup(0, "");
	CHECK_EQ(feed("S: a\r\n\r\nx\r\ny", 1), 0);
	CHECK(strstr(R.out, "\r\n\r\nx\r\ny\r\n") != NULL);
}

/*
 * Issue 11.1: a bare CR is never a line end, so it can start neither a
 * header field nor a recipient, with or without -t, whatever the chunks.
 */
static void
test_bare_cr_never_a_line_end(void)
{
	static const char m[] = "To: b@example.test\nSubject: hi\rBcc: "
	    "victim@outside.test\rX-Injected: yes\n\nbody\n";
	size_t n;

	for (n = 1; n <= sizeof(m); n += 3) {
		setup(INJECT_EXTRACT, "");
		CHECK_EQ(feed(m, n), 0);
		CHECK_EQ(R.rl.n, 1);
		CHECK_STR(inject_rcpt_get(&R.rl, 0), "b@example.test");
		CHECK(strstr(R.out, "\r\nX-Injected") == NULL);
		CHECK(strstr(R.out, "\r\nBcc") == NULL);
		CHECK(strstr(R.out, "\r\nSubject: hi Bcc: victim@outside.test "
		    "X-Injected: yes\r\n") != NULL);
		setup(0, "");
		CHECK_EQ(feed(m, n), 0);
		CHECK(strstr(R.out, "\r\nX-Injected") == NULL);
	}
	/* in an address list: one malformed list, not a second address */
	setup(INJECT_EXTRACT, "");
	CHECK(feed("To: a@example.test\rv@outside.test\n\nb\n", 1) < 0);
	CHECK_EQ(R.rl.n, 0);
	/* CR CR LF, CR at the very end, a lone "." made by CRs */
	setup(0, "");
	CHECK_EQ(feed("S: a\r\r\n\nx\r.\ry\r", 1), 0);
	CHECK(strstr(R.out, "S: a \r\n") != NULL);
	CHECK(strstr(R.out, "\r\n\r\nx . y \r\n") != NULL);
}

static void
test_empty_and_headerless(void)
{
	setup(0, "");
	CHECK_EQ(feed("", 1), 0);
	CHECK_STR(R.out, STD_ADDED "From: me@example.net\r\n\r\n");
	CHECK_EQ(R.hdr_calls, 1);
	/* no header at all: the first line is body, a blank line goes in */
	setup(0, "");
	CHECK_EQ(feed("hello world\nline 2\n", 4), 0);
	CHECK_STR(R.out, STD_ADDED "From: me@example.net\r\n\r\n"
	    "hello world\r\nline 2\r\n");
	/* header without final newline */
	setup(0, "");
	CHECK_EQ(feed("Subject: x", 4), 0);
	CHECK_STR(R.out, "Subject: x\r\n" STD_ADDED
	    "From: me@example.net\r\n\r\n");
	/* a leading Unix From_ line is dropped */
	setup(0, "");
	CHECK_EQ(feed("From me Sat Nov 28 2026\nSubject: x\n\nb\n", 5), 0);
	CHECK(strncmp(R.out, "Subject: x\r\n", 12) == 0);
}

static void
test_lone_dot(void)
{
	setup(INJECT_SMTP, "");
	CHECK_EQ(feed("Subject: x\n\na\n.\nnot sent\n", 3), 0);
	CHECK(strstr(R.out, "\r\n\r\na\r\n") != NULL);
	CHECK(strstr(R.out, "not sent") == NULL);
	/* -i: the dot is data, dot-stuffed on the wire */
	setup(INJECT_SMTP | INJECT_DOTS_OK, "");
	CHECK_EQ(feed("Subject: x\n\na\n.\n..b\n.c\nend", 3), 0);
	CHECK(strstr(R.out, "\r\n\r\na\r\n..\r\n...b\r\n..c\r\nend\r\n")
	    != NULL);
	/* without SMTP no stuffing; ".x" lines pass */
	setup(0, "");
	CHECK_EQ(feed("S: x\n\n.x\n..\n", 1), 0);
	CHECK(strstr(R.out, "\r\n\r\n.x\r\n..\r\n") != NULL);
	/* a lone dot ends the header block too */
	setup(0, "");
	CHECK_EQ(inject_feed(&IJ, "S: x\n.\n", 7), 1);
	CHECK_EQ(inject_finish(&IJ), 0);
	CHECK_EQ(R.hdr_calls, 1);
	/* "." at EOF without newline ends the input */
	setup(0, "");
	CHECK_EQ(feed("S: x\n\nb\n.", 1), 0);
	CHECK(strstr(R.out, "\r\n\r\nb\r\n") != NULL);
	CHECK(R.out[R.olen - 3] != '.');
}

static void
test_extract_and_bcc(void)
{
	static const char m[] =
	    "To: \"Doe, John\" <john@example.com>, plain@example.com,\n"
	    "  Team: x@t.example, \"y z\"@t.example (comment, here);\n"
	    "Subject: s\n"
	    "Bcc: secret@example.com,\n"
	    "\tsecret2@example.com\n"
	    "Cc: (lead) <@route.example:cc@example.com> (trail),\n"
	    " root, undisclosed-recipients:;\n"
	    "\n"
	    "Bcc: in body is kept\n";

	setup(INJECT_EXTRACT, "");
	CHECK_EQ(feed(m, 7), 0);
	CHECK_EQ(R.rl.n, 8);
	CHECK_STR(inject_rcpt_get(&R.rl, 0), "john@example.com");
	CHECK_STR(inject_rcpt_get(&R.rl, 1), "plain@example.com");
	CHECK_STR(inject_rcpt_get(&R.rl, 2), "x@t.example");
	CHECK_STR(inject_rcpt_get(&R.rl, 3), "\"y z\"@t.example");
	CHECK_STR(inject_rcpt_get(&R.rl, 4), "secret@example.com");
	CHECK_STR(inject_rcpt_get(&R.rl, 5), "secret2@example.com");
	CHECK_STR(inject_rcpt_get(&R.rl, 6), "cc@example.com");
	/* root */
	CHECK_STR(inject_rcpt_get(&R.rl, 7), "admin@example.com");
	CHECK(strstr(R.out, "secret") == NULL);
	CHECK(strstr(R.out, "\r\nSubject: s\r\nCc: (lead)") != NULL);
	CHECK(strstr(R.out, "\r\n\r\nBcc: in body is kept\r\n") != NULL);
	CHECK(strstr(R.out, "Team: x@t.example") != NULL);
}

static void
test_extract_root_alias(void)
{
	setup(INJECT_EXTRACT, "");
	CHECK_EQ(feed("To: root, ops\nCc: somebody\n\n", 100), 0);
	CHECK_EQ(R.rl.n, 4);
	CHECK_STR(inject_rcpt_get(&R.rl, 0), "admin@example.com");
	CHECK_STR(inject_rcpt_get(&R.rl, 1), "a@example.com");
	CHECK_STR(inject_rcpt_get(&R.rl, 2), "b@example.com");
	CHECK_STR(inject_rcpt_get(&R.rl, 3), "alerts@example.org");
}

static void
test_bcc_without_t(void)
{
	setup(0, "");
	CHECK_EQ(feed("Bcc: a@b\n c@d\nTo: e@f\n\n", 3), 0);
	CHECK(strncmp(R.out, "To: e@f\r\n", 9) == 0);
	CHECK_EQ(R.rl.n, 0);
}

static int
collect(void *arg, const char *addr)
{
	char *out = arg;

	strcat(out, addr);
	strcat(out, "|");
	return 0;
}

static int
addrs(const char *s, char *out)
{
	char err[80];

	out[0] = '\0';
	return inject_parse_addrs(s, strlen(s), collect, out, err,
	    sizeof(err));
}

static void
test_address_lists(void)
{
	char o[1024];

	CHECK_EQ(addrs("a@b", o), 1);
	CHECK_STR(o, "a@b|");
	CHECK_EQ(addrs(" John Q. Public <jqp@x.example> ", o), 1);
	CHECK_STR(o, "jqp@x.example|");
	CHECK_EQ(addrs("=?utf-8?q?J=C3=B6rg?= <j@x>, k@y (K (nested))", o),
	    2);
	CHECK_STR(o, "j@x|k@y|");
	CHECK_EQ(addrs("\"a>b, c\" <q@x>,,, r@y", o), 2);
	CHECK_STR(o, "q@x|r@y|");
	CHECK_EQ(addrs("G: ;, H: a@b, <c@d>; e@f", o), 3);
	CHECK_STR(o, "a@b|c@d|e@f|");
	CHECK_EQ(addrs("a @ b . c", o), 1);
	CHECK_STR(o, "a@b.c|");
	CHECK_EQ(addrs("x@[127.0.0.1]", o), 1);
	CHECK_STR(o, "x@[127.0.0.1]|");
	CHECK_EQ(addrs("<>", o), 0);
	CHECK_EQ(addrs("", o), 0);
	/* malformed */
	CHECK_EQ(addrs("John Smith", o), EDGEMTA_E_INVAL);
	CHECK_EQ(addrs("<a@b", o), EDGEMTA_E_INVAL);
	CHECK_EQ(addrs("a@b>", o), EDGEMTA_E_INVAL);
	CHECK_EQ(addrs("\"open@b", o), EDGEMTA_E_INVAL);
	CHECK_EQ(addrs("(open a@b", o), EDGEMTA_E_INVAL);
	CHECK_EQ(addrs("<<a@b>>", o), EDGEMTA_E_INVAL);
	CHECK_EQ(addrs("<a b@c>", o), EDGEMTA_E_INVAL);
	CHECK_EQ(addrs("G: H: a@b;", o), EDGEMTA_E_INVAL);
	CHECK_EQ(addrs("a@b)", o), EDGEMTA_E_INVAL);
}

static void
test_deep_comment(void)
{
	char s[200], o[64];
	int i;

	for (i = 0; i < 60; i++) {
		s[i] = '(';
	}
	s[60] = '\0';
	strcat(s, "x");
	CHECK_EQ(addrs(s, o), EDGEMTA_E_INVAL);
}

static void
test_sender_rewrite_from(void)
{
	setup(0, "alerts@example.com");
	CHECK_EQ(feed("From: \"NAS Box\" <root@nas.lan>\nSubject: x\n\n",
	    4), 0);
	CHECK(strncmp(R.out, "From: \"NAS Box\" <alerts@example.com>\r\n",
	    38) == 0);
	setup(0, "alerts@example.com");
	CHECK_EQ(feed("From: root (Cron Daemon)\n\n", 4), 0);
	CHECK(strncmp(R.out, "From: \"Cron Daemon\" <alerts@example.com>\r\n",
	    42) == 0);
	setup(0, "alerts@example.com");
	CHECK_EQ(feed("From: root@nas.lan\n\n", 4), 0);
	CHECK(strncmp(R.out, "From: <alerts@example.com>\r\n", 28) == 0);
	/* folded display name */
	setup(0, "alerts@example.com");
	CHECK_EQ(feed("From: Very\n Long Name\n <x@y>\n\n", 4), 0);
	CHECK(strncmp(R.out, "From: Very Long Name <alerts@example.com>\r\n",
	    43) == 0);
	/* missing From: gets the rewritten sender */
	setup(0, "alerts@example.com");
	CHECK_EQ(feed("Subject: x\n\n", 4), 0);
	CHECK(strstr(R.out, "From: alerts@example.com\r\n") != NULL);
	CHECK(strstr(R.out, "nas.lan>") == NULL ||
	    strstr(R.out, "Message-ID") != NULL);
}

static void
test_envelope_sender(void)
{
	struct inject_rewrite rw = { "", "", "example.net", "nas.lan", "" };
	char out[ADDR_MAX], err[80];

	CHECK_EQ(inject_sender(&rw, "root", out, err, sizeof(err)), 0);
	CHECK_STR(out, "root@example.net");
	CHECK_EQ(inject_sender(&rw, "<a@b.c>", out, err, sizeof(err)), 0);
	CHECK_STR(out, "a@b.c");
	CHECK_EQ(inject_sender(&rw, "<>", out, err, sizeof(err)), 0);
	CHECK_STR(out, "");
	CHECK_EQ(inject_sender(&rw, "a\r\nRCPT TO:<x@y>", out, err,
	    sizeof(err)), EDGEMTA_E_INVAL);
	CHECK_EQ(inject_sender(&rw, "a b@c", out, err, sizeof(err)),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(inject_sender(&rw, "@c", out, err, sizeof(err)),
	    EDGEMTA_E_INVAL);
	rw.sender_rewrite = "alerts@example.com";
	CHECK_EQ(inject_sender(&rw, "root", out, err, sizeof(err)), 0);
	CHECK_STR(out, "alerts@example.com");
	CHECK_EQ(inject_sender(&rw, "", out, err, sizeof(err)), 0);
	CHECK_STR(out, "");
}

static void
test_rcpt_rewrite(void)
{
	char err[80];

	setup(0, "");
	CHECK_EQ(inject_rcpt_add(&R.rl, &R.rw, "POSTMASTER", err,
	    sizeof(err)), 0);
	CHECK_EQ(inject_rcpt_add(&R.rl, &R.rw, "root@localhost", err,
	    sizeof(err)), 0);
	CHECK_EQ(inject_rcpt_add(&R.rl, &R.rw, "backup@nas.lan", err,
	    sizeof(err)), 0);
	CHECK_EQ(inject_rcpt_add(&R.rl, &R.rw, "user@elsewhere.example", err,
	    sizeof(err)), 0);
	CHECK_EQ(R.rl.n, 3);
	CHECK_STR(inject_rcpt_get(&R.rl, 0), "admin@example.com");
	CHECK_STR(inject_rcpt_get(&R.rl, 1), "alerts@example.org");
	CHECK_STR(inject_rcpt_get(&R.rl, 2), "user@elsewhere.example");
	/* no admin: qualified with myorigin */
	R.rw.admin = "";
	CHECK_EQ(inject_rcpt_add(&R.rl, &R.rw, "bob", err, sizeof(err)), 0);
	CHECK_STR(inject_rcpt_get(&R.rl, 3), "bob@example.net");
	/* alias loop ends */
	R.rw.aliases = "a: b; b: a";
	CHECK_EQ(inject_rcpt_add(&R.rl, &R.rw, "a", err, sizeof(err)), 0);
	/* hostile arguments */
	CHECK_EQ(inject_rcpt_add(&R.rl, &R.rw, "x@y\r\nDATA", err,
	    sizeof(err)), EDGEMTA_E_INVAL);
	CHECK_EQ(inject_rcpt_add(&R.rl, &R.rw, "x@y>", err, sizeof(err)),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(inject_rcpt_add(&R.rl, &R.rw, "", err, sizeof(err)),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(inject_rcpt_add(&R.rl, &R.rw, "x@", err, sizeof(err)),
	    EDGEMTA_E_INVAL);
	CHECK(inject_has_ctl("a\tb", false));
	CHECK(!inject_has_ctl("a\tb", true));
	CHECK(inject_has_ctl("a\x7f", true));
}

static void
test_recipient_limit(void)
{
	char m[8192], *p = m;
	int i;

	p += sprintf(p, "To: ");
	for (i = 0; i < 150; i++) {
		p += sprintf(p, "%su%d@example.com", i ? ",\n " : "", i);
	}
	strcpy(p, "\n\nbody\n");
	setup(INJECT_EXTRACT, "");
	CHECK_EQ(feed(m, 64), EDGEMTA_E_FULL);
	CHECK(strstr(IJ.errmsg, "too many recipients (limit 100)") != NULL);
	CHECK_EQ(R.hdr_calls, 0);
	CHECK_EQ(R.rl.n, 100);
}

static void
test_field_too_long(void)
{
	static char m[9000];

	memset(m, 'a', sizeof(m) - 1);
	memcpy(m, "Subject: ", 9);
	setup(0, "");
	CHECK_EQ(feed(m, 512), EDGEMTA_E_TOOBIG);
	CHECK(strstr(IJ.errmsg, "header field longer") != NULL);
	CHECK_EQ(R.hdr_calls, 0);
}

static void
test_long_lines_split(void)
{
	static char m[3000];
	const char *p, *q;

	strcpy(m, "Subject: x\n\n");
	memset(m + 12, '.', 2500);
	m[2512] = '\0';
	setup(INJECT_SMTP | INJECT_DOTS_OK, "");
	CHECK_EQ(feed(m, 100), 0);
	for (p = R.out; (q = strstr(p, "\r\n")) != NULL; p = q + 2) {
		CHECK((size_t)(q - p) <= INJECT_LINE_MAX);
	}
	CHECK_EQ(R.olen - R.hdr_len, 2500 + 3 + 3 * 2);	/* 3 stuffed */
}

static void
test_rcpt_error_stops(void)
{
	setup(INJECT_EXTRACT, "");
	R.rcpt_err = EDGEMTA_E_IO;
	CHECK_EQ(feed("To: a@b\n\nx\n", 3), EDGEMTA_E_IO);
	CHECK_EQ(R.hdr_calls, 0);
	setup(INJECT_EXTRACT, "");
	CHECK_EQ(feed("To: John Smith\n\nx\n", 3), EDGEMTA_E_INVAL);
	CHECK(strstr(IJ.errmsg, "malformed To: header") != NULL);
	setup(INJECT_EXTRACT, "");
	CHECK_EQ(feed("To: <a\x01@b>\n\nx\n", 3), EDGEMTA_E_INVAL);
	CHECK(strstr(IJ.errmsg, "control character") != NULL);
}

static void
test_random_garbage(void)
{
	static char m[20000];
	unsigned seed = 1;
	size_t i;
	int round;
	const char alpha[] = "ab:<>(),;\"\\@. \t\r\n\x01\x80[]";

	for (round = 0; round < 300; round++) {
		for (i = 0; i < sizeof(m) - 1; i++) {
			seed = seed * 1103515245u + 12345u;
			m[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		m[sizeof(m) - 1] = '\0';
		if (round % 3 == 0) {
			memcpy(m, "To: ", 4);
		}
		setup(INJECT_EXTRACT | (round & 1 ? INJECT_DOTS_OK : 0), "");
		(void)feed(m, 1 + round % 97);
		CHECK(R.olen < sizeof(R.out));
		CHECK(R.rl.n <= 100);
	}
}

static void
test_is_postmaster(void)
{
	setup(0, "");
	CHECK(inject_is_postmaster(&R.rw, "postmaster"));
	CHECK(inject_is_postmaster(&R.rw, "PostMaster@NAS.lan"));
	CHECK(inject_is_postmaster(&R.rw, "postmaster@localhost"));
	CHECK(!inject_is_postmaster(&R.rw, "postmaster@example.com"));
	CHECK(!inject_is_postmaster(&R.rw, "postmasters"));
	CHECK(!inject_is_postmaster(&R.rw, "root@nas.lan"));
	CHECK(inject_is_local(&R.rw, "root"));
	CHECK(inject_is_local(&R.rw, "root@nas.lan"));
	CHECK(!inject_is_local(&R.rw, "root@nas.lan.example"));
}

static void
test_msgid(void)
{
	uint8_t rnd[4] = { 0xde, 0xad, 0x01, 0x02 };
	char b[80];

	CHECK_STR(inject_make_msgid(b, sizeof(b), 255, rnd, 4, "nas.lan"),
	    "<FF.DEAD0102@nas.lan>");
}

int
main(void)
{
	RUN(test_adds_missing);
	RUN(test_keeps_existing);
	RUN(test_full_name);
	RUN(test_lf_crlf_cr_and_final_newline);
	RUN(test_bare_cr_never_a_line_end);
	RUN(test_empty_and_headerless);
	RUN(test_lone_dot);
	RUN(test_extract_and_bcc);
	RUN(test_extract_root_alias);
	RUN(test_bcc_without_t);
	RUN(test_address_lists);
	RUN(test_deep_comment);
	RUN(test_sender_rewrite_from);
	RUN(test_envelope_sender);
	RUN(test_rcpt_rewrite);
	RUN(test_recipient_limit);
	RUN(test_field_too_long);
	RUN(test_long_lines_split);
	RUN(test_rcpt_error_stops);
	RUN(test_random_garbage);
	RUN(test_msgid);
	RUN(test_is_postmaster);
	return test_report("inject");
}
