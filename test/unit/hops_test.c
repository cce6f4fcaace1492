/*
 * hops_test.c - the trace header counter (mail loop guard): which fields
 * count, only in the header section, in chunks of any size.
 */
#include "test.h"
#include "hops.h"

/*
 * Feed msg in chunks of step bytes (0 = all at once); *eoh = the absolute
 * offset of the header's end, SIZE_MAX if none was reported.
 */
static void
feed(struct hops *h, const char *msg, size_t step, size_t *eoh)
{
	size_t len = strlen(msg), off = 0;

	hops_init(h);
	*eoh = SIZE_MAX;
	while (off < len) {
		size_t n = step == 0 ? len - off : MIN(step, len - off);
		size_t e = hops_feed(h, msg + off, n);

		if (e < n) {
			CHECK(*eoh == SIZE_MAX);	/* reported once */
			*eoh = off + e;
		}
		off += n;
	}
}

static unsigned
count(const char *msg, size_t step, bool *done)
{
	struct hops h;
	size_t eoh;

	feed(&h, msg, step, &eoh);
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

static uint64_t
subject(const char *msg, size_t step, size_t *eoh)
{
	struct hops h;

	feed(&h, msg, step, eoh);
	return h.subj_hash;
}

static void
test_subject(void)
{
	const char *a = "From: ups@lan\r\nSubject: On battery\r\n"
	    "X: y\r\n\r\nSubject: body\r\n";
	const char *b = "subject : On battery\r\nFrom: other@lan\r\n\r\n";
	const char *folded = "Subject: On\r\n battery\r\n\r\n";
	const char *c = "Subject: On mains\r\n\r\n";
	uint64_t ha, hb, hc, hf;
	size_t step, eoh;

	ha = subject(a, 0, &eoh);
	CHECK(ha != 0);
	CHECK_EQ(eoh, strlen(a) - strlen("\r\nSubject: body\r\n"));
	for (step = 1; step < 8; step++) {
		size_t e2;

		CHECK(subject(a, step, &e2) == ha);
		CHECK_EQ(e2, eoh);
	}
	/* the field name's case and spaces before the colon do not matter;
	 * the body does, except for line ends */
	hb = subject(b, 3, &eoh);
	CHECK(hb == ha);
	hf = subject(folded, 2, &eoh);
	CHECK(hf == subject("Subject: On battery\r\n\r\n", 0, &eoh));
	hc = subject(c, 0, &eoh);
	CHECK(hc != ha && hc != 0);
	/* no Subject: 0; no empty line: no end reported */
	CHECK(subject("From: a\r\n\r\nx", 1, &eoh) == 0);
	CHECK_EQ(eoh, 9);
	(void)subject("From: a\r\nSubject: x\r\n", 4, &eoh);
	CHECK(eoh == SIZE_MAX);
	/* bare LF: the empty line starts at its LF */
	(void)subject("A: b\n\nbody", 5, &eoh);
	CHECK_EQ(eoh, 5);
}

int
main(void)
{
	RUN(test_fields);
	RUN(test_header_end);
	RUN(test_many);
	RUN(test_subject);
	return test_report("hops");
}
