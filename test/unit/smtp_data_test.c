/*
 * smtp_data_test.c - the DATA decoder: unstuffing, the only terminator,
 * smuggling variants, limits, any chunking.
 */
#include <stdlib.h>

#include "test.h"
#include "smtp_data.h"

#define BIG 8192

struct result {
	uint8_t out[BIG];
	size_t outlen;
	size_t consumed;	/* input bytes used up to the end */
	bool done;
	int err;
};

/* Feed in using chunk sizes from sizes[] (cycled; 0 = all at once). */
static void
decode(const void *in, size_t len, const size_t *sizes, size_t nsizes,
    uint64_t limit, struct result *r)
{
	struct smtp_data d;
	const uint8_t *p = in;
	size_t off = 0, k = 0;

	smtp_data_init(&d, limit);
	r->outlen = 0;
	while (off < len && !d.done) {
		size_t n = len - off, used, olen;
		uint8_t tmp[BIG];

		if (nsizes > 0 && sizes[k % nsizes] != 0) {
			n = MIN(n, sizes[k % nsizes]);
		}
		k++;
		used = smtp_data_feed(&d, p + off, n, tmp, &olen);
		CHECK(olen <= used);
		memcpy(r->out + r->outlen, tmp, olen);
		r->outlen += olen;
		off += used;
		if (used < n) {
			CHECK(d.done);
		}
	}
	r->consumed = off;
	r->done = d.done;
	r->err = d.err;
}

static void
whole(const char *in, struct result *r)
{
	decode(in, strlen(in), NULL, 0, 0, r);
}

static bool
out_is(const struct result *r, const char *s)
{
	return r->outlen == strlen(s) && memcmp(r->out, s, r->outlen) == 0;
}

static void
test_simple(void)
{
	struct result r;

	whole("Subject: x\r\n\r\nhello\r\n.\r\nMAIL FROM:<a@b>\r\n", &r);
	CHECK(r.done);
	CHECK_EQ(r.err, SMTP_DATA_OK);
	CHECK(out_is(&r, "Subject: x\r\n\r\nhello\r\n"));
	CHECK_EQ(r.consumed, strlen("Subject: x\r\n\r\nhello\r\n.\r\n"));
}

static void
test_empty(void)
{
	struct result r;

	whole(".\r\nQUIT\r\n", &r);
	CHECK(r.done);
	CHECK_EQ(r.err, SMTP_DATA_OK);
	CHECK_EQ(r.outlen, 0);
	CHECK_EQ(r.consumed, 3);
}

static void
test_unstuff(void)
{
	struct result r;

	whole("..\r\n...x\r\n.y\r\na.b\r\n..\r\n.\r\n", &r);
	CHECK(r.done);
	CHECK_EQ(r.err, SMTP_DATA_OK);
	CHECK(out_is(&r, ".\r\n..x\r\ny\r\na.b\r\n.\r\n"));
}

static void
test_in_place(void)
{
	char buf[] = "..a\r\n.b\r\nc\r\n.\r\n";
	struct smtp_data d;
	size_t olen, used;

	smtp_data_init(&d, 0);
	used = smtp_data_feed(&d, (uint8_t *)buf, strlen(buf),
	    (uint8_t *)buf, &olen);
	CHECK(d.done);
	CHECK_EQ(used, strlen("..a\r\n.b\r\nc\r\n.\r\n"));
	CHECK_EQ(olen, 10);
	CHECK(memcmp(buf, ".a\r\nb\r\nc\r\n", 10) == 0);
}

/* Every split of the input in two, then byte by byte, then random. */
static void
test_chunking(void)
{
	const char *in = "a\r\n..b\r\n.c\r\n\r\n.\r\nNEXT";
	const char *want = "a\r\n.b\r\nc\r\n\r\n";
	size_t len = strlen(in), cut, i;
	struct result r;

	for (cut = 1; cut < len; cut++) {
		size_t sizes[2] = { cut, 0 };

		decode(in, len, sizes, 2, 0, &r);
		CHECK(r.done);
		CHECK(out_is(&r, want));
		CHECK_EQ(r.consumed, len - 4);
	}
	{
		size_t one = 1;

		decode(in, len, &one, 1, 0, &r);
		CHECK(r.done);
		CHECK(out_is(&r, want));
		CHECK_EQ(r.consumed, len - 4);
	}
	srand(7);
	for (i = 0; i < 500; i++) {
		size_t sizes[16], k;

		for (k = 0; k < 16; k++) {
			sizes[k] = 1 + (size_t)rand() % 5;
		}
		decode(in, len, sizes, 16, 0, &r);
		CHECK(r.done);
		CHECK(out_is(&r, want));
	}
}

/*
 * Smuggling: none of these ends DATA; the MAIL FROM text after them
 * stays inside the message, which is refused at its real end.
 */
static void
test_smuggling(void)
{
	static const char *const ends[] = {
		"\n.\r\n", "\r.\r\n", "\n.\n", "\r\n.\n", "\r\n.\r",
		"\r.\n", "\n.\r", "\r\n\0.\r\n", "\r\n.\0\r\n",
		"\r\n.\r\0\n", "\r\0\n.\r\n",
	};
	static const size_t lens[] = { 4, 4, 3, 4, 4, 3, 3, 6, 6, 6, 6 };
	const char *tail = "MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n"
	    "forged\r\n";
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ends); i++) {
		char in[256];
		size_t n = 0, one = 1;
		struct result r;

		memcpy(in + n, "hello", 5);
		n += 5;
		memcpy(in + n, ends[i], lens[i]);
		n += lens[i];
		memcpy(in + n, tail, strlen(tail));
		n += strlen(tail);
		/* no real end yet: the whole thing is content */
		decode(in, n, NULL, 0, 0, &r);
		CHECK(!r.done);
		CHECK_EQ(r.consumed, n);
		CHECK(r.err == SMTP_DATA_E_BARE || r.err == SMTP_DATA_E_NUL);
		/* with the real end: one message, refused */
		memcpy(in + n, ".\r\n", 3);
		n += 3;
		decode(in, n, &one, 1, 0, &r);
		CHECK(r.done);
		CHECK_EQ(r.consumed, n);
		CHECK(r.err != SMTP_DATA_OK);
		if (r.err == SMTP_DATA_OK) {
			fprintf(stderr, "variant %zu accepted\n", i);
		}
	}
}

static void
test_bare_reply(void)
{
	struct result r;
	struct smtp_data d;

	whole("a\nb\r\n.\r\n", &r);
	CHECK(r.done);
	CHECK_EQ(r.err, SMTP_DATA_E_BARE);
	whole("a\rb\r\n.\r\n", &r);
	CHECK_EQ(r.err, SMTP_DATA_E_BARE);
	whole("a\r\r\n.\r\n", &r);
	CHECK_EQ(r.err, SMTP_DATA_E_BARE);
	CHECK(r.done);
	smtp_data_init(&d, 0);
	CHECK(smtp_data_reply(&d) == NULL);
	d.err = SMTP_DATA_E_BARE;
	CHECK(strncmp(smtp_data_reply(&d), "550 5.6.11 ", 11) == 0);
	d.err = SMTP_DATA_E_NUL;
	CHECK(strncmp(smtp_data_reply(&d), "550 5.6.0 ", 10) == 0);
	d.err = SMTP_DATA_E_LINE;
	CHECK(strncmp(smtp_data_reply(&d), "552 5.6.0 ", 10) == 0);
	d.err = SMTP_DATA_E_SIZE;
	CHECK(strncmp(smtp_data_reply(&d), "552 5.3.4 ", 10) == 0);
}

static void
test_nul(void)
{
	struct result r;

	decode("a\0b\r\n.\r\nX", 9, NULL, 0, 0, &r);
	CHECK(r.done);
	CHECK_EQ(r.err, SMTP_DATA_E_NUL);
	CHECK_EQ(r.consumed, 8);
}

static void
test_long_line(void)
{
	char in[2100];
	struct result r;
	size_t n;

	/* 998 octets + CRLF = 1000: fine */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	decode(in, 1003, NULL, 0, 0, &r);
	CHECK(r.done);
	CHECK_EQ(r.err, SMTP_DATA_OK);
	CHECK_EQ(r.outlen, 1000);
	/* a stuffed dot does not count */
	in[0] = '.';
	memset(in + 1, 'x', 998);
	memcpy(in + 999, "\r\n.\r\n", 5);
	decode(in, 1004, NULL, 0, 0, &r);
	CHECK_EQ(r.err, SMTP_DATA_OK);
	/* 999 + CRLF: too long, end still found */
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\nok\r\n.\r\n", 9);
	decode(in, 1008, NULL, 0, 0, &r);
	CHECK(r.done);
	CHECK_EQ(r.err, SMTP_DATA_E_LINE);
	CHECK_EQ(r.consumed, 1008);
	/* 2000 without CRLF, byte by byte */
	memset(in, 'y', 2000);
	memcpy(in + 2000, "\r\n.\r\n", 5);
	n = 1;
	decode(in, 2005, &n, 1, 0, &r);
	CHECK(r.done);
	CHECK_EQ(r.err, SMTP_DATA_E_LINE);
	CHECK(r.outlen <= 1000);
}

static void
test_size(void)
{
	struct result r;
	size_t three = 3;

	decode("abc\r\n.\r\n", 8, NULL, 0, 5, &r);	/* exactly 5 */
	CHECK_EQ(r.err, SMTP_DATA_OK);
	CHECK_EQ(r.outlen, 5);
	decode("abcd\r\n.\r\nQUIT\r\n", 15, &three, 1, 5, &r);
	CHECK(r.done);
	CHECK_EQ(r.err, SMTP_DATA_E_SIZE);
	CHECK_EQ(r.consumed, 9);
	CHECK(r.outlen <= 5);
}

/* The first problem is the one reported. */
static void
test_first_error(void)
{
	struct result r;

	decode("a\nb\0c\r\n.\r\n", 10, NULL, 0, 0, &r);
	CHECK_EQ(r.err, SMTP_DATA_E_BARE);
	decode("b\0c\na\r\n.\r\n", 10, NULL, 0, 0, &r);
	CHECK_EQ(r.err, SMTP_DATA_E_NUL);
}

/*
 * Runs are scanned eight octets at a time: a CR, LF or NUL at every
 * position of a word is found, and octets that differ from them in one
 * bit (0x8d, 0x8a, 0x80, 0x0c, 0x01, 0xff) are plain text.
 */
static void
test_word_scan(void)
{
	static const uint8_t fill[8] = { 0x8d, 0x8a, 0x80, 0x0c, 0x01, 0xff,
	    0x0e, 'x' };
	static const uint8_t bad[3] = { '\r', '\n', '\0' };
	static const int err[3] = { SMTP_DATA_E_BARE, SMTP_DATA_E_BARE,
	    SMTP_DATA_E_NUL };
	uint8_t in[64];
	struct result r;
	size_t p, k, b;

	for (p = 0; p < 24; p++) {
		for (k = 0; k < 40; k++) {
			in[k] = fill[(k + p) % 8];
		}
		in[0] = 'a';	/* not a dot */
		memcpy(in + 40, "\r\n.\r\n", 5);
		decode(in, 45, NULL, 0, 0, &r);
		CHECK(r.done);
		CHECK_EQ(r.err, SMTP_DATA_OK);
		CHECK(r.outlen == 42 && memcmp(r.out, in, 42) == 0);
		/* a CRLF at p + 1: two lines, the same bytes */
		memcpy(in + p + 1, "\r\n", 2);
		decode(in, 45, NULL, 0, 0, &r);
		CHECK_EQ(r.err, SMTP_DATA_OK);
		CHECK(r.outlen == 42 && memcmp(r.out, in, 42) == 0);
		for (b = 0; b < 3; b++) {
			for (k = 0; k < 40; k++) {
				in[k] = fill[(k + p) % 8];
			}
			in[0] = 'a';
			in[p + 1] = bad[b];
			decode(in, 45, NULL, 0, 0, &r);
			CHECK(r.done);
			CHECK_EQ(r.err, err[b]);
			CHECK_EQ(r.consumed, 45);
		}
	}
}

int
main(void)
{
	RUN(test_simple);
	RUN(test_empty);
	RUN(test_unstuff);
	RUN(test_in_place);
	RUN(test_chunking);
	RUN(test_smuggling);
	RUN(test_bare_reply);
	RUN(test_nul);
	RUN(test_long_line);
	RUN(test_size);
	RUN(test_first_error);
	RUN(test_word_scan);
	return test_report("smtp_data");
}
