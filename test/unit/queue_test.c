/*
 * queue_test.c - the flash ring queue on the flash simulator: round
 * trips, group commit, recovery, delivery results, capacity, reclaim
 * with copy-forward, wear, format version and byte order, read-only.
 */
#include <stdlib.h>

#include "test.h"
#include "fake_plat.h"
#include "flash_sim.h"
#include "queue.h"
#include "ev.h"

#define PG CONFIG_QUEUE_PAGE_SIZE
#define BS CONFIG_QUEUE_BLOCK_SIZE
#define TB(n) MIN((n), CONFIG_QUEUE_MAX_BLOCKS)

static struct flash_sim sim;
static int done_calls, done_err;

static void
on_done(void *arg, int err)
{
	(void)arg;
	done_calls++;
	if (err != 0) {
		done_err = err;
	}
}

static void
sim_fresh(uint32_t blocks)
{
	flash_sim_free(&sim);
	CHECK_EQ(flash_sim_init(&sim, PG, BS, blocks), 0);
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
}

/* Write, seal and commit one message; returns its id (0 on failure). */
static uint32_t
put_msg(const char *from, int nrcpt, const uint8_t *data, size_t len)
{
	struct queue_writer w;
	char rcpt[32];
	int i;

	if (queue_msg_begin(&w, from, (uint32_t)len, 0) != 0) {
		return 0;
	}
	for (i = 0; i < nrcpt; i++) {
		snprintf(rcpt, sizeof(rcpt), "r%d@example.org", i);
		CHECK_EQ(queue_msg_rcpt(&w, rcpt), 0);
	}
	if (queue_msg_write(&w, data, len) != 0 ||
	    queue_msg_seal(&w, on_done, NULL) != 0) {
		queue_msg_abort(&w);
		return 0;
	}
	queue_commit();
	return w.id;
}

/* Read message id back and compare; true if identical. */
static bool
same_msg(uint32_t id, const char *from, int nrcpt, const uint8_t *data,
    size_t len)
{
	static struct queue_reader r;
	const uint8_t *p;
	size_t n, pos = 0;
	unsigned idx;
	int t, nr = 0;
	char rcpt[32];

	if (queue_reader_open(&r, id) != 0) {
		return false;
	}
	while ((t = queue_reader_next(&r, &p, &n, &idx)) > 0) {
		if (t == QUEUE_ITEM_SENDER) {
			if (n != strlen(from) || memcmp(p, from, n) != 0) {
				return false;
			}
		} else if (t == QUEUE_ITEM_RCPT) {
			snprintf(rcpt, sizeof(rcpt), "r%d@example.org", nr);
			if ((int)idx != nr++ || n != strlen(rcpt) ||
			    memcmp(p, rcpt, n) != 0) {
				return false;
			}
		} else {
			if (pos + n > len || memcmp(p, data + pos, n) != 0) {
				return false;
			}
			pos += n;
		}
	}
	return t == QUEUE_ITEM_END && pos == len && nr == nrcpt;
}

static void
test_crc(void)
{
	CHECK_EQ(crc32_update(0, "123456789", 9), 0xCBF43926u);
	CHECK_EQ(crc32_update(crc32_update(0, "1234", 4), "56789", 5),
	    0xCBF43926u);
	CHECK_EQ(crc32_update(0, "", 0), 0);
}

/* The definition, one bit at a time: what every table must give. */
static uint32_t
crc_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	int k;

	while (n-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++) {
			c = c & 1u ? (c >> 1) ^ 0xedb88320u : c >> 1;
		}
	}
	return ~c;
}

/* Every length and alignment, chaining at every split, combining. */
static void
test_crc_tables(void)
{
	static uint8_t buf[65536];
	size_t n, a, k;
	uint32_t want;

	test_fill(buf, sizeof(buf), 7);
	/* every length first and twice in a row (combine keeps the last) */
	for (n = 0; n <= 40; n++) {
		for (k = 0; k < 2; k++) {
			CHECK_EQ(crc32_combine(crc32_update(0, buf, 5),
			    crc32_update(0, buf + 5, n), n),
			    crc_bitwise(buf, 5 + n));
		}
	}
	CHECK_EQ(crc32_update(0, buf, sizeof(buf)),
	    crc_bitwise(buf, sizeof(buf)));
	for (n = 0; n <= 70; n++) {
		for (a = 0; a < 8; a++) {
			want = crc_bitwise(buf + a, n);
			CHECK_EQ(crc32_update(0, buf + a, n), want);
			for (k = 0; k <= n; k++) {
				CHECK_EQ(crc32_update(crc32_update(0, buf + a,
				    k), buf + a + k, n - k), want);
				CHECK_EQ(crc32_combine(crc32_update(0, buf + a,
				    k), crc32_update(0, buf + a + k, n - k),
				    n - k), want);
			}
		}
	}
	for (n = 1; n <= sizeof(buf); n = n * 3 + 1) {
		CHECK_EQ(crc32_combine(crc32_update(0, buf, 100),
		    crc32_update(0, buf + 100, n), n),
		    crc_bitwise(buf, 100 + n));
	}
}

static void
test_id_str(void)
{
	char b[QUEUE_ID_STRLEN];
	uint32_t id;

	CHECK_STR(queue_id_str(0x1a2bu, b), "00001A2B");
	CHECK_EQ(queue_id_parse("00001A2B", &id), 0);
	CHECK_EQ(id, 0x1a2b);
	CHECK_EQ(queue_id_parse("123456789", &id), EDGEMTA_E_INVAL);
	CHECK_EQ(queue_id_parse("12G", &id), EDGEMTA_E_INVAL);
	CHECK_EQ(queue_id_parse("", &id), EDGEMTA_E_INVAL);
}

/* Sizes 0..100 KiB, three writers interleaved like concurrent sessions. */
static void
test_roundtrip_interleaved(void)
{
	static const size_t sizes[] = { 0, 1, 100, 1023, 1024, 1025, 4096,
		5000, 20000, 100 * 1024 };
	static uint8_t data[ARRAY_SIZE(sizes)][100 * 1024];
	struct queue_writer w[3];
	uint32_t ids[ARRAY_SIZE(sizes)];
	size_t i, k, off[3];
	int j;

	sim_fresh(TB(128));
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		test_fill(data[i], sizes[i], (uint32_t)i + 7);
	}
	for (i = 0; i < ARRAY_SIZE(sizes); i += 3) {
		size_t n = MIN((size_t)3, ARRAY_SIZE(sizes) - i);
		bool more = true;

		for (k = 0; k < n; k++) {
			CHECK_EQ(queue_msg_begin(&w[k], "s@x.org", 0, 0), 0);
			CHECK_EQ(queue_msg_rcpt(&w[k], "r0@example.org"), 0);
			CHECK_EQ(queue_msg_rcpt(&w[k], "r1@example.org"), 0);
			off[k] = 0;
			ids[i + k] = w[k].id;
		}
		while (more) {
			more = false;
			for (k = 0; k < n; k++) {
				size_t c = MIN((size_t)777, sizes[i + k] -
				    off[k]);

				CHECK_EQ(queue_msg_write(&w[k],
				    data[i + k] + off[k], c), 0);
				off[k] += c;
				more |= off[k] < sizes[i + k];
			}
		}
		done_calls = 0;
		for (k = 0; k < n; k++) {
			CHECK_EQ(queue_msg_seal(&w[k], on_done, NULL), 0);
		}
		CHECK_EQ(done_calls, 0);
		CHECK_EQ(queue_count(), i);	/* invisible until durable */
		queue_commit();
		CHECK_EQ(done_calls, (int)n);
	}
	CHECK_EQ(queue_count(), ARRAY_SIZE(sizes));
	for (j = 0; j < 2; j++) {
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			struct queue_entry e;

			CHECK(same_msg(ids[i], "s@x.org", 2, data[i],
			    sizes[i]));
			CHECK_EQ(queue_lookup(ids[i], &e), 0);
			CHECK_EQ(e.size, sizes[i]);
			CHECK_EQ(e.nrcpt, 2);
			CHECK_EQ(e.npending, 2);
		}
		queue_close();
		CHECK_EQ(queue_open(&sim.fl, 0), 0);	/* and recovered */
	}
	CHECK_EQ(sim.violations, 0);
}

static void
test_group_commit(void)
{
	struct queue_writer w[20];
	struct queue_stats st;
	uint8_t d[300];
	uint64_t syncs, progs;
	int i;

	sim_fresh(32);
	test_fill(d, sizeof(d), 3);
	done_calls = 0;
	done_err = 0;
	for (i = 0; i < 20; i++) {
		CHECK_EQ(queue_msg_begin(&w[i], "", 0, 0), 0);
		CHECK_EQ(queue_msg_rcpt(&w[i], "r0@example.org"), 0);
		CHECK_EQ(queue_msg_write(&w[i], d, sizeof(d)), 0);
		CHECK_EQ(queue_msg_seal(&w[i], on_done, NULL), 0);
	}
	CHECK_EQ(done_calls, 0);
	syncs = sim.syncs;
	queue_commit();
	CHECK_EQ(sim.syncs - syncs, 1);
	CHECK_EQ(done_calls, 20);
	CHECK_EQ(done_err, 0);
	queue_stats(&st);
	CHECK_EQ(st.live_msgs, 20);
	CHECK_EQ(st.bytes_live, 20 * 300);
	queue_commit();	/* nothing pending: no sync */
	CHECK_EQ(sim.syncs - syncs, 1);
	/* an aborted sealed writer keeps its message but loses the callback */
	CHECK_EQ(queue_msg_begin(&w[0], "", 0, 0), 0);
	CHECK_EQ(queue_msg_rcpt(&w[0], "r0@example.org"), 0);
	CHECK_EQ(queue_msg_seal(&w[0], on_done, NULL), 0);
	queue_msg_abort(&w[0]);
	queue_commit();
	CHECK_EQ(done_calls, 20);
	CHECK_EQ(queue_count(), 21);
	/* loop turns while DATA streams in neither pad pages nor sync */
	syncs = sim.syncs;
	progs = sim.progs;
	CHECK_EQ(queue_msg_begin(&w[1], "", 0, 0), 0);
	CHECK_EQ(queue_msg_rcpt(&w[1], "r0@example.org"), 0);
	for (i = 0; i < 20; i++) {
		CHECK_EQ(queue_msg_write(&w[1], d, 50), 0);
		queue_commit();
	}
	CHECK_EQ(sim.syncs, syncs);
	CHECK(sim.progs - progs <= 20 * 62 / PG + 1);
	CHECK_EQ(queue_msg_seal(&w[1], on_done, NULL), 0);
	queue_commit();
	CHECK_EQ(sim.syncs, syncs + 1);
	CHECK_EQ(done_calls, 21);
}

static void
test_unsealed_invisible(void)
{
	struct queue_writer w1, w2;
	uint8_t d[3000];
	uint32_t id;

	sim_fresh(32);
	test_fill(d, sizeof(d), 9);
	CHECK_EQ(queue_msg_begin(&w1, "a@b", 0, 0), 0);
	CHECK_EQ(queue_msg_rcpt(&w1, "r0@example.org"), 0);
	CHECK_EQ(queue_msg_write(&w1, d, sizeof(d)), 0);
	CHECK_EQ(queue_msg_begin(&w2, "a@b", 0, 0), 0);
	CHECK_EQ(queue_msg_rcpt(&w2, "r0@example.org"), 0);
	CHECK_EQ(queue_msg_write(&w2, d, 100), 0);
	queue_msg_abort(&w2);
	id = put_msg("c@d", 1, d, 10);
	CHECK(id != 0);
	CHECK_EQ(queue_count(), 1);
	queue_close();	/* w1 never sealed */
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), 1);
	CHECK(same_msg(id, "c@d", 1, d, 10));
	CHECK_EQ(queue_lookup(w1.id, &(struct queue_entry){ 0 }),
	    EDGEMTA_E_NOENT);
	/* ids are never reused */
	CHECK(put_msg("e@f", 1, d, 5) > w1.id);
	CHECK_EQ(sim.violations, 0);
}

static void
test_results_survive(void)
{
	uint8_t d[500];
	uint32_t a, b, c;
	struct queue_entry e;
	char reason[300];

	sim_fresh(32);
	test_fill(d, sizeof(d), 1);
	a = put_msg("a@x", 3, d, sizeof(d));
	b = put_msg("b@x", 1, d, sizeof(d));
	c = put_msg("c@x", 2, d, sizeof(d));
	CHECK_EQ(queue_rcpt_done(a, 0, QUEUE_RCPT_SENT), 0);
	CHECK_EQ(queue_rcpt_done(a, 2, QUEUE_RCPT_FAILED), 0);
	CHECK_EQ(queue_msg_defer(a, 123456789012LL, 3,
	    "451 4.7.1 greylisted, come back later"), 0);
	CHECK_EQ(queue_msg_reason(a, reason, sizeof(reason)), 0);
	CHECK_STR(reason, "451 4.7.1 greylisted, come back later");
	CHECK_EQ(queue_msg_delete(b), 0);
	CHECK_EQ(queue_rcpt_done(c, 0, QUEUE_RCPT_SENT), 0);
	CHECK_EQ(queue_rcpt_done(c, 1, QUEUE_RCPT_SENT), 0);
	CHECK_EQ(queue_count(), 1);
	queue_commit();
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), 1);
	CHECK_EQ(queue_lookup(a, &e), 0);
	CHECK_EQ(e.npending, 1);
	CHECK_EQ(e.next_try, 123456789012LL);
	CHECK_EQ(e.attempts, 3);
	CHECK_EQ(queue_rcpt_state(a, 0), QUEUE_RCPT_SENT);
	CHECK_EQ(queue_rcpt_state(a, 1), QUEUE_RCPT_PENDING);
	CHECK_EQ(queue_rcpt_state(a, 2), QUEUE_RCPT_FAILED);
	CHECK_EQ(queue_msg_reason(a, reason, sizeof(reason)), 0);
	CHECK_STR(reason, "451 4.7.1 greylisted, come back later");
	CHECK_EQ(queue_msg_reason(a, reason, 6), 0);
	CHECK_STR(reason, "451 4");
	CHECK_EQ(queue_lookup(b, &e), EDGEMTA_E_NOENT);
	CHECK_EQ(queue_lookup(c, &e), EDGEMTA_E_NOENT);
	CHECK(same_msg(a, "a@x", 3, d, sizeof(d)));
}

/*
 * Delivery results need no sync of their own; reclaim frees blocks
 * without erasing them, and stale blocks found by recovery bring back
 * nothing that was finished durably.
 */
static void
test_lazy_results(void)
{
	struct queue_stats st;
	uint8_t d[3000];
	uint32_t id[10], x;
	uint64_t syncs, erases;
	int i;

	sim_fresh(16);
	test_fill(d, sizeof(d), 5);
	for (i = 0; i < 10; i++) {
		id[i] = put_msg("a@x", 1, d, sizeof(d));
		CHECK(id[i] != 0);
	}
	syncs = sim.syncs;
	erases = sim.erases;
	for (i = 0; i < 10; i++) {
		CHECK_EQ(queue_rcpt_done(id[i], 0, QUEUE_RCPT_SENT), 0);
	}
	CHECK(queue_results_pending());
	queue_commit();		/* nothing sealed: no sync */
	queue_reclaim();	/* frees blocks, erases none */
	CHECK_EQ(sim.syncs, syncs);
	CHECK_EQ(sim.erases, erases);
	queue_stats(&st);
	CHECK(st.free_blocks >= 14);
	CHECK_EQ(queue_sync_results(), 0);
	CHECK_EQ(sim.syncs, syncs + 1);
	CHECK(!queue_results_pending());
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), 0);	/* stale blocks hold finished mail */
	/* wrap the ring several times: stale blocks are erased when taken */
	for (i = 0; i < 60; i++) {
		x = put_msg("b@x", 1, d, sizeof(d));
		CHECK(x != 0);
		CHECK_EQ(queue_rcpt_done(x, 0, QUEUE_RCPT_SENT), 0);
		queue_reclaim();
	}
	CHECK(sim.erases > erases + 16);
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), 0);
	/* a result lost in a power cut: the message is delivered again */
	x = put_msg("c@x", 1, d, sizeof(d));
	CHECK_EQ(queue_rcpt_done(x, 0, QUEUE_RCPT_SENT), 0);
	CHECK_EQ(queue_count(), 0);
	CHECK_EQ(queue_open(&sim.fl, 0), 0);	/* no close: RAM is lost */
	CHECK_EQ(queue_count(), 1);
	CHECK(same_msg(x, "c@x", 1, d, sizeof(d)));
	/* on a file, results written at the end of the turn survive a
	 * crash of the process (the page is written again later) */
	sim.fl.rewrite = true;
	CHECK_EQ(queue_rcpt_done(x, 0, QUEUE_RCPT_SENT), 0);
	x = put_msg("d@x", 1, d, 10);
	CHECK_EQ(queue_rcpt_done(x, 0, QUEUE_RCPT_SENT), 0);
	syncs = sim.syncs;
	CHECK_EQ(queue_flush_results(), 0);
	CHECK_EQ(sim.syncs, syncs);
	CHECK_EQ(queue_open(&sim.fl, 0), 0);	/* the process died */
	CHECK_EQ(queue_count(), 0);
	sim.fl.rewrite = false;
	CHECK_EQ(sim.violations, 0);
}

static uint32_t ids_seen[64];
static int nseen;

static int
collect(void *arg, const struct queue_entry *e)
{
	(void)arg;
	if (nseen < 64) {
		ids_seen[nseen] = e->id;
	}
	nseen++;
	return 0;
}

/* Fill to E_FULL: nothing queued is lost; too big = E_TOOBIG. */
static void
test_capacity(void)
{
	static uint8_t d[3000];
	uint32_t ids[64], n = 0, i;
	struct queue_writer w;
	uint64_t ops;
	int r = 0;

	sim_fresh(16);
	test_fill(d, sizeof(d), 5);
	CHECK_EQ(queue_msg_begin(&w, "a@b", 16 * BS, 0), EDGEMTA_E_TOOBIG);
	while (n < 64) {
		r = queue_msg_begin(&w, "a@b", 0, 0);
		if (r == 0) {
			r = queue_msg_rcpt(&w, "r0@example.org");
		}
		if (r == 0) {
			r = queue_msg_write(&w, d, sizeof(d));
		}
		if (r == 0) {
			r = queue_msg_seal(&w, on_done, NULL);
		}
		if (r != 0) {
			queue_msg_abort(&w);
			break;
		}
		queue_commit();
		ids[n++] = w.id;
	}
	CHECK_EQ(r, EDGEMTA_E_FULL);
	CHECK(n >= 10);
	CHECK_EQ(queue_count(), n);
	/* a size_hint that does not fit now is refused up front */
	CHECK_EQ(queue_msg_begin(&w, "a@b", 8000, 0), EDGEMTA_E_FULL);
	/* delivery results still fit (reserve blocks) */
	CHECK_EQ(queue_rcpt_done(ids[0], 0, QUEUE_RCPT_SENT), 0);
	queue_commit();
	nseen = 0;
	CHECK_EQ(queue_foreach(collect, NULL), 0);
	CHECK_EQ(nseen, n - 1);
	for (i = 1; i < n; i++) {
		CHECK(same_msg(ids[i], "a@b", 1, d, sizeof(d)));
		CHECK_EQ(ids_seen[i - 1], ids[i]);	/* oldest first */
	}
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), n - 1);
	for (i = 1; i < n; i++) {
		CHECK(same_msg(ids[i], "a@b", 1, d, sizeof(d)));
	}
	/* a queue full of live mail is not churned by reclaim */
	ops = sim.ops;
	for (i = 0; i < 50; i++) {
		queue_reclaim();
		queue_commit();
	}
	CHECK_EQ(sim.ops, ops);
	CHECK_EQ(sim.violations, 0);
}

static void
test_index_full(void)
{
	struct queue_writer w;
	uint32_t n = 0;
	int r;

	sim_fresh(TB(256));
	for (;;) {
		r = queue_msg_begin(&w, "a@b", 0, 0);
		if (r != 0) {
			break;
		}
		CHECK_EQ(queue_msg_rcpt(&w, "r0@example.org"), 0);
		CHECK_EQ(queue_msg_write(&w, "x", 1), 0);
		CHECK_EQ(queue_msg_seal(&w, NULL, NULL), 0);
		if (++n % 64 == 0) {
			queue_commit();
		}
		if (n > CONFIG_QUEUE_MAX_MSGS + 1) {
			break;
		}
	}
	queue_commit();
	CHECK_EQ(r, EDGEMTA_E_FULL);
	CHECK_EQ(n, CONFIG_QUEUE_MAX_MSGS);
	CHECK_EQ(queue_count(), CONFIG_QUEUE_MAX_MSGS);
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), CONFIG_QUEUE_MAX_MSGS);
}

/*
 * 16 blocks carry 2,000 messages delivered one after another while an
 * undeliverable one stays: the ring wraps, the stuck message is copied
 * forward, wear stays even.
 */
static void
test_reclaim_wrap(void)
{
	static uint8_t stuck[2500], d[1500];
	struct queue_stats st;
	char reason[64];
	uint32_t sid, id, i;
	int fails = 0;

	sim_fresh(16);
	test_fill(stuck, sizeof(stuck), 42);
	sid = put_msg("stuck@x", 2, stuck, sizeof(stuck));
	CHECK(sid != 0);
	CHECK_EQ(queue_rcpt_done(sid, 1, QUEUE_RCPT_FAILED), 0);
	CHECK_EQ(queue_msg_defer(sid, 99, 7, "421 try later"), 0);
	for (i = 0; i < 2000; i++) {
		test_fill(d, sizeof(d), i);
		id = put_msg("s@x", 1, d, sizeof(d) - (i % 700));
		if (id == 0) {
			fails++;
			queue_reclaim();
			continue;
		}
		if (i % 97 == 0) {
			CHECK(same_msg(id, "s@x", 1, d, sizeof(d) - (i % 700)));
		}
		CHECK_EQ(queue_rcpt_done(id, 0, QUEUE_RCPT_SENT), 0);
		queue_commit();
		queue_reclaim();
		if (i == 1000) {
			queue_close();
			CHECK_EQ(queue_open(&sim.fl, 0), 0);
			CHECK_EQ(queue_count(), 1);
		}
	}
	CHECK_EQ(fails, 0);
	CHECK_EQ(queue_count(), 1);
	CHECK(same_msg(sid, "stuck@x", 2, stuck, sizeof(stuck)));
	CHECK_EQ(queue_rcpt_state(sid, 1), QUEUE_RCPT_FAILED);
	CHECK_EQ(queue_msg_reason(sid, reason, sizeof(reason)), 0);
	CHECK_STR(reason, "421 try later");
	queue_stats(&st);
	CHECK(st.erase_total > 16 * 20);
	CHECK(st.erase_max - st.erase_min <= 2);
	for (i = 0; i < 16; i++) {
		CHECK(sim.wear[i] >= st.erase_min - 1);
		CHECK(sim.wear[i] <= st.erase_max + 1);
	}
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), 1);
	CHECK(same_msg(sid, "stuck@x", 2, stuck, sizeof(stuck)));
	CHECK_EQ(queue_rcpt_state(sid, 1), QUEUE_RCPT_FAILED);
	CHECK_EQ(queue_rcpt_state(sid, 0), QUEUE_RCPT_PENDING);
	{
		struct queue_entry e;

		CHECK_EQ(queue_lookup(sid, &e), 0);
		CHECK_EQ(e.next_try, 99);
		CHECK_EQ(e.attempts, 7);
	}
	CHECK_EQ(queue_msg_reason(sid, reason, sizeof(reason)), 0);
	CHECK_STR(reason, "421 try later");
	CHECK_EQ(sim.violations, 0);
}

/*
 * Issue 3's shape in small: a 64 KiB queue carries 4 KiB messages, two
 * in flight at a time, while an undeliverable 4 KiB message sits in it.
 */
static void
test_ring_4k(void)
{
	static uint8_t d[4096], s[4096];
	uint32_t sid, prev = 0, id, i;
	int fails = 0;

	sim_fresh(65536 / BS);
	test_fill(s, sizeof(s), 4242);
	sid = put_msg("stuck@x", 1, s, sizeof(s));
	CHECK(sid != 0);
	for (i = 0; i < 3000; i++) {
		test_fill(d, sizeof(d), i);
		id = put_msg("s@x", 1, d, sizeof(d));
		if (id == 0) {
			fails++;
		}
		if (prev != 0) {
			CHECK_EQ(queue_rcpt_done(prev, 0, QUEUE_RCPT_SENT), 0);
		}
		prev = id;
		queue_commit();
		queue_reclaim();
	}
	CHECK_EQ(fails, 0);
	CHECK_EQ(queue_count(), 2);
	CHECK(same_msg(sid, "stuck@x", 1, s, sizeof(s)));
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK(same_msg(sid, "stuck@x", 1, s, sizeof(s)));
	CHECK(same_msg(prev, "s@x", 1, d, sizeof(d)));
	CHECK_EQ(sim.violations, 0);
}

/*
 * The daemon's shape of issue 3's test: a 64 KiB queue carries 4 KiB
 * messages streamed in by one client (no SIZE=, so writers run out of
 * room half-way) while the delivery agent stalls now and then, and an
 * undeliverable message is deferred again and again. Each loop turn
 * ends with queue_commit() then queue_reclaim() as in the daemon.
 * Delivery results must always be recordable (new mail never eats the
 * reserve, not even the rest of a head block a copy or a result took
 * from it), the stream must keep flowing, and DEFER records of the stuck
 * message alone must not fill the ring either.
 */
static void
test_ring_4k_deferred(void)
{
	static const char why[] = "450 4.2.0 <stuck@example.net>: "
	    "Recipient address rejected: try again later, this reply is "
	    "long like the ones real servers send";
	static uint8_t d[4096], s[1500];
	static uint32_t fifo[64];
	struct queue_writer w;
	struct queue_entry e;
	char reason[sizeof(why)];
	uint32_t sid = 0, i, rng, head, tail, pos = 0, n, seed, att = 0;
	int bad = 0, r;
	bool open, paused = false;

	for (seed = 1; seed <= 8; seed++) {
		rng = seed;
		sim_fresh(65536 / BS);
		test_fill(s, sizeof(s), 77);
		sid = put_msg("stuck@x", 1, s, sizeof(s));
		CHECK(sid != 0);
		head = tail = n = 0;
		open = false;
		for (i = 0; i < 6000; i++) {
			rng = rng * 1103515245u + 12345u;
			if ((rng >> 16) % 64 == 0) {
				paused = !paused;
			}
			if (!paused && head != tail &&
			    (rng >> 20) % 8 < (seed % 4) + 2) {
				if (n % 50 == 0) {
					test_fill(d, sizeof(d),
					    fifo[tail % 64]);
					CHECK(same_msg(fifo[tail % 64], "s@x",
					    1, d, sizeof(d)));
				}
				r = queue_rcpt_done(fifo[tail++ % 64], 0,
				    QUEUE_RCPT_SENT);
				bad += r != 0;
				n += r == 0;
			}
			if (!open && head - tail < 64 &&
			    queue_msg_begin(&w, "s@x", 0, 0) == 0) {
				open = queue_msg_rcpt(&w, "r0@example.org")
				    == 0;
				if (!open) {
					queue_msg_abort(&w);
				}
				pos = 0;
			}
			if (open) {
				size_t k = MIN(sizeof(d) - pos,
				    (size_t)((rng >> 8) % 1500 + 1));

				test_fill(d, sizeof(d), w.id);
				if (queue_msg_write(&w, d + pos, k) != 0) {
					queue_msg_abort(&w);
					open = false;
				} else if ((pos += (uint32_t)k) == sizeof(d)) {
					CHECK_EQ(queue_msg_seal(&w, on_done,
					    NULL), 0);
					fifo[head++ % 64] = w.id;
					open = false;
				}
			}
			if ((rng >> 24) % 16 == 0) {
				r = queue_msg_defer(sid, 1, (uint16_t)++att,
				    why);
				bad += r != 0;
			}
			queue_commit();
			queue_reclaim();
			if (seed == 3 && i == 3000 && !open) {
				queue_close();
				CHECK_EQ(queue_open(&sim.fl, 0), 0);
			}
		}
		CHECK(n > 500);
		if (open) {
			queue_msg_abort(&w);
		}
		while (head != tail) {
			CHECK_EQ(queue_rcpt_done(fifo[tail++ % 64], 0,
			    QUEUE_RCPT_SENT), 0);
		}
		/* only the stuck message is left: deferred many times */
		for (i = 0; i < 3000; i++) {
			bad += queue_msg_defer(sid, 1, (uint16_t)++att,
			    why) != 0;
			queue_commit();
			queue_reclaim();
		}
		test_fill(d, sizeof(d), 5);
		CHECK(put_msg("s@x", 1, d, sizeof(d)) != 0);
		CHECK_EQ(queue_count(), 2);
		CHECK(same_msg(sid, "stuck@x", 1, s, sizeof(s)));
		CHECK_EQ(queue_lookup(sid, &e), 0);
		CHECK_EQ(e.attempts, (uint16_t)att);
		CHECK_EQ(queue_msg_reason(sid, reason, sizeof(reason)), 0);
		CHECK_STR(reason, why);
		CHECK_EQ(sim.violations, 0);
	}
	CHECK_EQ(bad, 0);
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), 2);
	CHECK(same_msg(sid, "stuck@x", 1, s, sizeof(s)));
	CHECK_EQ(queue_msg_reason(sid, reason, sizeof(reason)), 0);
	CHECK_STR(reason, why);
}

/*
 * Recovery and readers read whole blocks through the read cache, not
 * every record header and payload: about one flash read per block
 * (`queue show` on a queue of 1,000 messages made ~56,000 small reads).
 */
static void
test_scan_reads(void)
{
	static uint8_t d[3000];
	uint64_t before;
	uint32_t id[60], i, nblk = TB(64);
	/* reads per block: the cache is a block on Linux, else a page */
	uint32_t per = CONFIG_TARGET_LINUX && BS <= 16384 ? 1 : BS / PG;

	sim_fresh(nblk);
	for (i = 0; i < 60; i++) {
		test_fill(d, sizeof(d), i);
		id[i] = put_msg("s@x", 3, d, sizeof(d) - i);
		CHECK(id[i] != 0);
		if (i % 3 == 0) {
			CHECK_EQ(queue_msg_defer(id[i], 5, 1, "451 later"), 0);
		}
	}
	queue_commit();
	queue_close();
	before = sim.reads;
	CHECK_EQ(queue_open(&sim.fl, QUEUE_O_RDONLY), 0);
	CHECK_EQ(queue_count(), 60);
	CHECK(sim.reads - before <= 2 * per * nblk + 2);
	before = sim.reads;
	test_fill(d, sizeof(d), 30);
	CHECK(same_msg(id[30], "s@x", 3, d, sizeof(d) - 30));
	CHECK(sim.reads - before <= 3 * per);
	for (i = 0; i < 60; i++) {
		test_fill(d, sizeof(d), i);
		CHECK(same_msg(id[i], "s@x", 3, d, sizeof(d) - i));
	}
	CHECK(sim.reads - before <= (2 * 60 + nblk) * per);
	queue_close();
	CHECK_EQ(sim.violations, 0);
}

static void
put_block_hdr(uint8_t *p, uint8_t ver, uint32_t seq)
{
	memcpy(p, "EMQ", 3);
	p[3] = ver;
	put_le32(p + 4, seq);
	put_le32(p + 8, 0);
	put_le32(p + 12, crc32_update(0, p, 12));
}

static void
test_version_and_foreign(void)
{
	flash_sim_free(&sim);
	CHECK_EQ(flash_sim_init(&sim, PG, BS, 16), 0);
	put_block_hdr(sim.mem + 3 * BS, 3, 5);
	CHECK_EQ(queue_open(&sim.fl, 0), EDGEMTA_E_VERSION);
	CHECK_EQ(sim.progs + sim.erases, 0);
	CHECK_EQ(sim.mem[3 * BS + 3], 3);

	/* not ours: garbage and no header */
	memset(sim.mem, 0xff, 16 * BS);
	memcpy(sim.mem + 5 * BS + 100, "hello", 5);
	CHECK_EQ(queue_open(&sim.fl, 0), EDGEMTA_E_CORRUPT);
	memcpy(sim.mem + 100, "hello", 5);
	CHECK_EQ(queue_open(&sim.fl, 0), EDGEMTA_E_CORRUPT);
	CHECK_EQ(sim.progs + sim.erases, 0);

	/* a format cut short: garbage only in block 0's first page */
	memset(sim.mem, 0xff, 16 * BS);
	memcpy(sim.mem, "EM", 2);
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK(put_msg("a@b", 1, (const uint8_t *)"hi", 2) != 0);
	CHECK_EQ(sim.violations, 0);
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), 1);

	/* wrong geometry */
	sim.fl.page_size = CONFIG_QUEUE_PAGE_SIZE * 2;
	CHECK_EQ(queue_open(&sim.fl, 0), EDGEMTA_E_INVAL);
	sim.fl.page_size = PG;
}

/* A format-1 record (CRC of header and payload only) at p; its size. */
static size_t
put_v1_rec(uint8_t *p, uint8_t type, uint32_t id, const void *pl, size_t n)
{
	p[0] = type;
	p[1] = 0;
	put_le16(p + 2, (uint16_t)n);
	put_le32(p + 4, id);
	put_le32(p + 8, 0);
	if (n > 0) {
		memcpy(p + 12, pl, n);
	}
	put_le32(p + 8, crc32_update(0, p, 12 + n));
	return 12 + n;
}

/*
 * A queue written by format 1 is still read (and migrated as the ring
 * turns): new records go to format-2 blocks, old ones stay readable.
 */
static void
test_format1_read(void)
{
	uint8_t env[9 + 3] = { 0 }, rc[3 + 14] = { 0 };
	uint8_t cm[10], *m;
	size_t off = 16;
	uint32_t nid;

	flash_sim_free(&sim);
	CHECK_EQ(flash_sim_init(&sim, PG, BS, 16), 0);
	m = sim.mem;
	put_block_hdr(m, 1, 7);
	memcpy(env + 9, "s@x", 3);
	memcpy(rc + 3, "r0@example.org", 14);
	off += put_v1_rec(m + off, 9, 0, NULL, 0);
	off += put_v1_rec(m + off, 1, 0x2a, env, sizeof(env));
	off += put_v1_rec(m + off, 2, 0x2a, rc, sizeof(rc));
	off += put_v1_rec(m + off, 3, 0x2a, "hi\r\n", 4);
	put_le16(cm, 1);
	put_le32(cm + 2, 4);
	put_le32(cm + 6, crc32_update(0, "hi\r\n", 4));
	off += put_v1_rec(m + off, 4, 0x2a, cm, sizeof(cm));
	memset(sim.programmed, 1, 1);
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	CHECK_EQ(queue_count(), 1);
	CHECK(same_msg(0x2a, "s@x", 1, (const uint8_t *)"hi\r\n", 4));
	nid = put_msg("n@x", 1, (const uint8_t *)"new", 3);
	CHECK(nid > 0x2a);
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, QUEUE_O_RDONLY), 0);
	CHECK_EQ(queue_count(), 2);
	CHECK(same_msg(nid, "n@x", 1, (const uint8_t *)"new", 3));
	CHECK(same_msg(0x2a, "s@x", 1, (const uint8_t *)"hi\r\n", 4));
	queue_close();
	/* the old block is untouched; the new message is in a format-2 one */
	CHECK_EQ(m[3], 1);
	CHECK_EQ(m[BS + 3], 2);
	CHECK_EQ(sim.violations, 0);
}

/* The bytes on flash, against hand-computed little-endian values. */
static void
test_byte_order(void)
{
	static const uint8_t hdr[] = { 'E', 'M', 'Q', 2, 1, 0, 0, 0,
		0, 0, 0, 0 };
	static const uint8_t boot[] = { 9, 0, 8, 0, 0, 0, 0, 0 };
	/* the ENV comes first after BOOT's sync: flags QR_F_SYNCED (2) */
	static const uint8_t env[] = { 1, 2, 13, 0, 1, 0, 0, 0 };
	/* records' CRCs start from the block's seq (1) and their offset */
	uint8_t rec[64] = { 1, 0, 0, 0, 0x10, 0, 0, 0 }, *m;
	uint32_t crc;

	fake_clock_set(0, (int64_t)0x0102030405060708LL);
	sim_fresh(16);
	CHECK(put_msg("a@bc", 1, (const uint8_t *)"hi", 2) == 1);
	m = sim.mem;
	/* format 2, seq 1, never erased */
	CHECK(memcmp(m, hdr, sizeof(hdr)) == 0);
	CHECK_EQ(get_le32(m + 12), crc32_update(0, m, 12));
	CHECK_EQ(m[12], (uint8_t)crc32_update(0, m, 12));
	/* BOOT at 16: type 9, id 0, first id 1 and seq 1; synced alone */
	CHECK(memcmp(m + 16, boot, sizeof(boot)) == 0);
	CHECK(memcmp(m + 28, "\x01\x00\x00\x00\x01\x00\x00\x00", 8) == 0);
	memcpy(rec + 8, m + 16, 20);
	memset(rec + 16, 0, 4);
	CHECK_EQ(get_le32(m + 24), crc32_update(0, rec, 28));
	CHECK_EQ(m[36], 0xff);
	m += PG;
	/* ENV at 512 */
	CHECK(memcmp(m, env, sizeof(env)) == 0);
	CHECK(memcmp(m + 12, "\x08\x07\x06\x05\x04\x03\x02\x01\x00" "a@bc",
	    13) == 0);
	put_le32(rec + 4, PG);
	memcpy(rec + 8, m, 12 + 13);
	memset(rec + 16, 0, 4);
	crc = crc32_update(0, rec, 8 + 25);
	CHECK_EQ(m[8], crc & 0xff);
	CHECK_EQ(m[9], (crc >> 8) & 0xff);
	CHECK_EQ(m[10], (crc >> 16) & 0xff);
	CHECK_EQ(m[11], crc >> 24);
	/* RCPT at +25: index 0, state 0 */
	CHECK_EQ(m[25], 2);
	CHECK(memcmp(m + 37, "\x00\x00\x00r0@example.org", 17) == 0);
	/* DATA at +54, COMMIT at +68: nrcpt 1, size 2, crc("hi") */
	CHECK_EQ(m[54], 3);
	CHECK(memcmp(m + 66, "hi", 2) == 0);
	CHECK_EQ(m[68], 4);
	CHECK(memcmp(m + 80, "\x01\x00\x02\x00\x00\x00", 6) == 0);
	CHECK_EQ(get_le32(m + 86), crc32_update(0, "hi", 2));
	/* the rest of the page is padding */
	CHECK_EQ(m[90], 0xff);
	CHECK_EQ(m[PG - 1], 0xff);
	fake_clock_set(0, 1700000000);
}

static void
test_rdonly(void)
{
	static struct queue_reader r;
	struct queue_writer w;
	uint8_t d[2000];
	uint32_t id;
	uint64_t ops;

	sim_fresh(16);
	test_fill(d, sizeof(d), 77);
	id = put_msg("a@b", 2, d, sizeof(d));
	queue_close();
	ops = sim.ops;
	CHECK_EQ(queue_open(&sim.fl, QUEUE_O_RDONLY), 0);
	CHECK_EQ(queue_count(), 1);
	CHECK(same_msg(id, "a@b", 2, d, sizeof(d)));
	CHECK_EQ(queue_msg_begin(&w, "a@b", 0, 0), EDGEMTA_E_INVAL);
	CHECK_EQ(queue_msg_rcpt(&w, "x@y"), EDGEMTA_E_INVAL);
	CHECK_EQ(queue_rcpt_done(id, 0, QUEUE_RCPT_SENT), EDGEMTA_E_INVAL);
	CHECK_EQ(queue_msg_delete(id), EDGEMTA_E_INVAL);
	CHECK_EQ(queue_msg_defer(id, 1, 1, "x"), EDGEMTA_E_INVAL);
	queue_reclaim();
	queue_commit();
	queue_close();
	CHECK_EQ(sim.ops, ops);
	CHECK_EQ(queue_reader_open(&r, id), EDGEMTA_E_NOENT);
}

/* A bit flipped in a stored message: the reader reports it. */
static void
test_corrupt_read(void)
{
	static struct queue_reader r;
	uint8_t d[3000];
	const uint8_t *p;
	size_t n;
	unsigned idx;
	uint32_t id;
	int t;

	sim_fresh(16);
	test_fill(d, sizeof(d), 8);
	id = put_msg("a@b", 1, d, sizeof(d));
	sim.mem[1500] ^= 0x10;
	CHECK_EQ(queue_reader_open(&r, id), 0);
	while ((t = queue_reader_next(&r, &p, &n, &idx)) > 0) {
	}
	CHECK_EQ(t, EDGEMTA_E_CORRUPT);
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);	/* no longer sealed */
	CHECK_EQ(queue_count(), 0);
}

static uint64_t group_done_at;

static void
group_done(void *arg, int err)
{
	(void)arg;
	CHECK_EQ(err, 0);
	group_done_at = ev_now();
	ev_stop();
}

static void
group_kick(void *arg)
{
	(void)arg;
}

/*
 * The group-commit window (core/queue_loop.c) on the injected clock of
 * the fake platform: a seal waits while another message is being
 * received, and is committed 2 ms (QL_GROUP_MS) after the turn that
 * found it, by a timer; with no other writer open it is committed in
 * that same turn. Nothing here measures the machine.
 */
static void
test_group_window(void)
{
	struct queue_writer a, b;
	struct ev_timer kick;
	uint64_t t0;
	int other;

	for (other = 0; other < 2; other++) {
		memset(&kick, 0, sizeof(kick));
		sim_fresh(16);
		fake_clock_set(1000, 1790000000);
		CHECK_EQ(ev_init(), 0);
		CHECK_EQ(queue_loop_start(), 0);
		CHECK_EQ(queue_msg_begin(&a, "a@x.org", 0, 0), 0);
		CHECK_EQ(queue_msg_rcpt(&a, "r@y.org"), 0);
		CHECK_EQ(queue_msg_write(&a, "hi\r\n", 4), 0);
		if (other) {
			CHECK_EQ(queue_msg_begin(&b, "b@x.org", 0, 0), 0);
			CHECK_EQ(queue_writers_open(), 2);
		}
		CHECK_EQ(queue_msg_seal(&a, group_done, NULL), 0);
		CHECK_EQ(queue_writers_open(), (uint32_t)other);
		group_done_at = 0;
		t0 = ev_now();
		ev_timer_start(&kick, 0, group_kick, NULL);	/* one turn */
		CHECK_EQ(ev_run(), 0);
		CHECK_EQ(group_done_at - t0, other ? 2u : 0u);
		CHECK_EQ(queue_count(), 1);
		if (other) {
			queue_msg_abort(&b);
			CHECK_EQ(queue_writers_open(), 0);
		}
		ev_shutdown();
		queue_close();
	}
}

int
main(void)
{
	fake_log_quiet(true);
	fake_clock_set(0, 1700000000);
	RUN(test_crc);
	RUN(test_crc_tables);
	RUN(test_group_window);
	RUN(test_id_str);
	RUN(test_roundtrip_interleaved);
	RUN(test_group_commit);
	RUN(test_unsealed_invisible);
	RUN(test_results_survive);
	RUN(test_lazy_results);
	RUN(test_capacity);
	RUN(test_index_full);
	RUN(test_reclaim_wrap);
	RUN(test_ring_4k);
	RUN(test_ring_4k_deferred);
	RUN(test_scan_reads);
	RUN(test_version_and_foreign);
	RUN(test_format1_read);
	RUN(test_byte_order);
	RUN(test_rdonly);
	RUN(test_corrupt_read);
	queue_close();
	flash_sim_free(&sim);
	return test_report("queue_test");
}
