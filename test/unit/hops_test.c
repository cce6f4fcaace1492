/*
 * hops_test.c - the trace header counter (mail loop guard): which fields
 * count, only in the header section, in chunks of any size.
 */
#include "test.h"
#include "hops.h"

/* Count in chunks of step bytes (0 = all at once). */
static unsigned
count(const char *msg, size_t step, bool *done)
{
	struct hops h;
	size_t len = strlen(msg), off = 0;

	hops_init(&h);
	while (off < len) {
		size_t n = step == 0 ? len - off : MIN(step, len - off);

		hops_feed(&h, msg + off, n);
		off += n;
	}
	if (done != NULL) {
		*done = h.done;
	}
	return h.count;
}

static void
test_fields(void)
{
	const char *m = "Received: from a by b; date\r\n"
	    "received : from c\r\n\tby d; date\r\n"
	    "RECEIVED:x\r\n"
	    "Delivered-To: u@example.org\r\n"
	    "X-Received: not a hop\r\n"
	    "Received-SPF: pass\r\n"
	    "Subject: Received: no\r\n"
	    " Received: continuation\r\n"
	    "\r\n"
	    "Received: in the body\r\n";
	bool done = false;
	size_t step;

	for (step = 0; step < 9; step++) {
		CHECK_EQ(count(m, step, &done), 4);
		CHECK(done);
	}
}

static void
test_header_end(void)
{
	bool done = true;

	/* bare LF line ends too; nothing after the empty line counts */
	CHECK_EQ(count("Received: a\n\nReceived: b\n", 1, &done), 1);
	CHECK(done);
	CHECK_EQ(count("Received: a\r\nReceived: b\r\n", 3, &done), 2);
	CHECK(!done);
	CHECK_EQ(count("\r\nReceived: a\r\n", 0, NULL), 0);
	/* a very long field name is not ours, and does not overflow */
	CHECK_EQ(count("Received-With-A-Very-Long-Name-Indeed: x\r\n"
	    "Received: y\r\n\r\n", 5, NULL), 1);
}

static void
test_many(void)
{
	static char buf[60 * 16 + 8];
	size_t off = 0;
	unsigned i;

	for (i = 0; i < 60; i++) {
		memcpy(buf + off, "Received: x y\r\n", 15);
		off += 15;
	}
	memcpy(buf + off, "\r\nbody\r\n", 9);
	CHECK_EQ(count(buf, 7, NULL), 60);
}

int
main(void)
{
	RUN(test_fields);
	RUN(test_header_end);
	RUN(test_many);
	return test_report("hops");
}
