/*
 * submit_test.c - in-process submission (core/submit.h) on the flash
 * simulator: a message in chunks reaches the queue with its headers
 * completed and done() reports its id only after the commit; a full
 * queue, a size limit, bad addresses and a power cut before the commit
 * give clear errors and queue nothing. Also runs on the emulated
 * Cortex-M4 (scripts/test-cortex-m4.sh).
 */
#include <stdlib.h>

#include "test.h"
#include "fake_plat.h"
#include "flash_sim.h"
#include "queue.h"
#include "submit.h"

#define PG CONFIG_QUEUE_PAGE_SIZE
#define BS CONFIG_QUEUE_BLOCK_SIZE

static struct flash_sim sim;
static struct edgemta_submit sub;
static int done_calls, done_err;
static uint32_t done_id;

static void
on_done(void *arg, int err, uint32_t id)
{
	CHECK(arg == &sub);
	done_calls++;
	done_err = err;
	done_id = id;
}

static const char *const two[] = { "ops@example.net", "b@example.org" };

static struct edgemta_envelope
env(const char *sender, const char *const *rcpts, unsigned n,
    uint32_t limit)
{
	struct edgemta_envelope e = { sender, rcpts, n, "ups.example",
		limit };

	return e;
}

static void
setup(uint32_t nblk)
{
	CHECK_EQ(flash_sim_init(&sim, PG, BS, nblk), 0);
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	done_calls = 0;
	done_err = 1;
	done_id = 0;
}

static void
teardown(void)
{
	queue_close();
	flash_sim_free(&sim);
}

/* The whole message text of id, with its envelope checked. */
static char *
read_msg(uint32_t id, char *buf, size_t cap)
{
	static struct queue_reader r;
	const uint8_t *p;
	size_t n, len = 0;
	unsigned idx, nr = 0;
	int t;

	buf[0] = '\0';
	if (queue_reader_open(&r, id) != 0) {
		return NULL;
	}
	while ((t = queue_reader_next(&r, &p, &n, &idx)) > 0) {
		if (t == QUEUE_ITEM_SENDER) {
			CHECK(n == 15 && memcmp(p, "alarm@ups.local", n) == 0);
		} else if (t == QUEUE_ITEM_RCPT) {
			CHECK(nr < 2 && n == strlen(two[nr]) &&
			    memcmp(p, two[nr], n) == 0);
			nr++;
		} else if (len + n < cap) {
			memcpy(buf + len, p, n);
			len += n;
			buf[len] = '\0';
		}
	}
	CHECK_EQ(t, QUEUE_ITEM_END);
	CHECK_EQ(nr, 2);
	return buf;
}

static void
test_submit(void)
{
	static const char text[] = "Subject: UPS on battery\n"
	    "To: ops@example.net\n\n"
	    "Input power lost at 12:00.\n.\nRuntime left: 14 min\n";
	struct edgemta_envelope e = env("alarm@ups.local", two, 2, 0);
	static char msg[4096];
	char id[QUEUE_ID_STRLEN], want[128];
	size_t i;

	setup(8);
	CHECK_EQ(edgemta_submit_begin(&sub, &e), 0);
	for (i = 0; i < sizeof(text) - 1; i += 5) {	/* any chunk size */
		CHECK_EQ(edgemta_submit_write(&sub, text + i,
		    MIN(5, sizeof(text) - 1 - i)), 0);
	}
	CHECK_EQ(edgemta_submit_end(&sub, on_done, &sub), 0);
	CHECK_EQ(done_calls, 0);	/* not durable yet */
	queue_commit();
	CHECK_EQ(done_calls, 1);
	CHECK_EQ(done_err, 0);
	CHECK(done_id != 0);
	CHECK_EQ(queue_count(), 1);
	/* what a restart finds */
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK(read_msg(done_id, msg, sizeof(msg)) != NULL);
	queue_id_str(done_id, id);
	snprintf(want, sizeof(want), "Received: by ups.example (edgemta, from "
	    "in-process submission) id %s; ", id);
	CHECK(strncmp(msg, want, strlen(want)) == 0);
	CHECK(strstr(msg, "\r\nSubject: UPS on battery\r\nTo: "
	    "ops@example.net\r\n") != NULL);
	CHECK(strstr(msg, "\r\nDate: ") != NULL);
	CHECK(strstr(msg, "\r\nMessage-ID: <") != NULL);
	CHECK(strstr(msg, "@ups.example>\r\n") != NULL);
	CHECK(strstr(msg, "\r\nFrom: alarm@ups.local\r\n") != NULL);
	/* a lone dot is data; LF became CRLF */
	CHECK(strstr(msg, "\r\n\r\nInput power lost at 12:00.\r\n.\r\n"
	    "Runtime left: 14 min\r\n") != NULL);
	CHECK(strchr(msg, '\n') == strchr(msg, '\r') + 1);
	teardown();
}

static void
test_bad_envelope(void)
{
	static const char *const bad[] = { "no-at-sign" };
	static const char *const sp[] = { "a b@example.org" };
	struct edgemta_envelope e;

	setup(8);
	e = env("alarm@ups.local", two, 0, 0);
	CHECK_EQ(edgemta_submit_begin(&sub, &e), EDGEMTA_E_INVAL);
	e = env("alarm@ups.local", bad, 1, 0);
	CHECK_EQ(edgemta_submit_begin(&sub, &e), EDGEMTA_E_INVAL);
	e = env("alarm@ups.local", sp, 1, 0);
	CHECK_EQ(edgemta_submit_begin(&sub, &e), EDGEMTA_E_INVAL);
	e = env("<alarm@ups.local>", two, 2, 0);
	CHECK_EQ(edgemta_submit_begin(&sub, &e), EDGEMTA_E_INVAL);
	/* after a failed begin, the rest fails too and nothing is queued */
	CHECK_EQ(edgemta_submit_write(&sub, "x\n", 2), EDGEMTA_E_INVAL);
	CHECK_EQ(edgemta_submit_end(&sub, on_done, &sub), EDGEMTA_E_INVAL);
	e = env("", two, 2, 0);		/* null sender: fine */
	CHECK_EQ(edgemta_submit_begin(&sub, &e), 0);
	edgemta_submit_abort(&sub);
	queue_commit();
	CHECK_EQ(queue_count(), 0);
	CHECK_EQ(done_calls, 0);
	teardown();
}

static void
test_size_limit(void)
{
	struct edgemta_envelope e = env("alarm@ups.local", two, 2, 400);
	char line[100];
	int i, r = 0;

	setup(8);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	CHECK_EQ(edgemta_submit_begin(&sub, &e), 0);
	for (i = 0; i < 10 && r == 0; i++) {
		r = edgemta_submit_write(&sub, line, sizeof(line));
	}
	if (r == 0) {
		r = edgemta_submit_end(&sub, on_done, &sub);
	}
	CHECK_EQ(r, EDGEMTA_E_TOOBIG);
	CHECK_EQ(edgemta_submit_end(&sub, on_done, &sub), EDGEMTA_E_TOOBIG);
	queue_commit();
	CHECK_EQ(queue_count(), 0);
	CHECK_EQ(done_calls, 0);
	teardown();
}

/* Submissions until the queue is full: a clear error, the rest kept. */
static void
test_queue_full(void)
{
	struct edgemta_envelope e = env("alarm@ups.local", two, 2, 0);
	static char body[3000];
	int k, r = 0, queued = 0;

	setup(8);
	memset(body, 'y', sizeof(body));
	for (k = 1; k < (int)sizeof(body); k += 100) {
		body[k] = '\n';
	}
	for (k = 0; k < 200 && r == 0; k++) {
		r = edgemta_submit_begin(&sub, &e);
		if (r == 0) {
			r = edgemta_submit_write(&sub, body, sizeof(body));
		}
		if (r == 0) {
			r = edgemta_submit_end(&sub, on_done, &sub);
		}
		queue_commit();
		if (r == 0) {
			CHECK_EQ(done_err, 0);
			queued++;
		}
	}
	CHECK_EQ(r, EDGEMTA_E_FULL);
	CHECK(queued > 3);
	CHECK_EQ(done_calls, queued);
	CHECK_EQ((int)queue_count(), queued);
	teardown();
}

/* Power lost before the commit: done reports the error, nothing stays. */
static void
test_power_cut(void)
{
	struct edgemta_envelope e = env("alarm@ups.local", two, 2, 0);

	setup(8);
	CHECK_EQ(edgemta_submit_begin(&sub, &e), 0);
	CHECK_EQ(edgemta_submit_write(&sub, "Subject: x\n\nbody\n", 17), 0);
	CHECK_EQ(edgemta_submit_end(&sub, on_done, &sub), 0);
	flash_sim_cut_at(&sim, 1);
	queue_commit();
	CHECK_EQ(done_calls, 1);
	CHECK(done_err < 0);
	CHECK_EQ(done_id, 0);
	queue_close();
	flash_sim_power_on(&sim);
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), 0);
	teardown();
}

int
main(void)
{
	fake_log_quiet(true);
	RUN(test_submit);
	RUN(test_bad_envelope);
	RUN(test_size_limit);
	RUN(test_queue_full);
	RUN(test_power_cut);
	return test_report("submit_test");
}
