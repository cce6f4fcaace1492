/*
 * queue_powercut_test.c - power cut at every single program/erase
 * operation of a scripted workload, then recovery. Checks: every message
 * acknowledged (done callback with 0) and not yet delivered is present
 * and byte-identical; whatever else is visible is one of ours and
 * byte-identical (a sealed but unacknowledged message may survive:
 * at-least-once); the queue then takes and recovers a new message; the
 * simulator saw no rule violation. All of it on the NOR-like model and
 * on the file model (flash_sim.h) with 512-byte and 4 KiB sectors.
 */
#include <stdlib.h>

#include "test.h"
#include "fake_plat.h"
#include "flash_sim.h"
#include "queue.h"

#define PG CONFIG_QUEUE_PAGE_SIZE
#define BS CONFIG_QUEUE_BLOCK_SIZE
#define NBLK 14
#define NM 30

struct wl_msg {
	uint32_t id;
	size_t size;
	int nrcpt;
	bool sealed, acked, delivered;
};

static struct wl_msg msgs[NM];
static struct flash_sim sim;
static uint32_t wl_sector;	/* file model with sectors of this size */
static bool wl_rewrite;	/* the device lets pages be programmed again */
static bool wl_nor;	/* cuts tear the way NOR does (flash_sim.h) */

static void
sim_new(void)
{
	CHECK_EQ(flash_sim_init(&sim, PG, BS, NBLK), 0);
	sim.fl.rewrite = wl_rewrite;
	sim.nor = wl_nor;
	if (wl_sector != 0) {
		CHECK_EQ(flash_sim_file_model(&sim, wl_sector), 0);
	}
}
static uint8_t data[NM][12000];
static int new_done;

static const size_t wl_sizes[NM] = {
	0, 700, 5000, 1200, 9000, 50, 2500, 300, 4000, 1024,
	1025, 6000, 10, 800, 3000, 3333, 100, 7000, 450, 2048,
	11000, 20, 1500, 999, 2600, 64, 5500, 1300, 3900, 128
};

static void
on_done(void *arg, int err)
{
	struct wl_msg *m = arg;

	if (err == 0) {
		m->acked = true;
	}
}

static void
on_new_done(void *arg, int err)
{
	(void)arg;
	new_done = err == 0 ? 1 : -1;
}

/* Messages with i % 4 == 1 stay in the queue; the others get delivered. */
static bool
stays(int i)
{
	return i % 4 == 1;
}

/* The workload; stops at the first error (the power is gone). */
static void
workload(void)
{
	struct queue_writer w[2], ab;
	char rcpt[32];
	int r, i, k, j;
	size_t off[2];

	memset(msgs, 0, sizeof(msgs));
	if (queue_open(&sim.fl, 0) != 0) {
		return;
	}
	for (r = 0; r < NM / 2; r++) {
		for (k = 0; k < 2; k++) {
			i = 2 * r + k;
			msgs[i].size = wl_sizes[i];
			msgs[i].nrcpt = 1 + i % 2;
			if (queue_msg_begin(&w[k], "sender@x.org", 0, 0) != 0) {
				return;
			}
			msgs[i].id = w[k].id;
			for (j = 0; j < msgs[i].nrcpt; j++) {
				snprintf(rcpt, sizeof(rcpt), "r%d@y.org", j);
				if (queue_msg_rcpt(&w[k], rcpt) != 0) {
					return;
				}
			}
			off[k] = 0;
		}
		if (r == 5 && (queue_msg_begin(&ab, "ab@x", 0, 0) != 0 ||
		    queue_msg_rcpt(&ab, "q@y") != 0 ||
		    queue_msg_write(&ab, data[0], 2000) != 0)) {
			return;
		}
		while (off[0] < msgs[2 * r].size ||
		    off[1] < msgs[2 * r + 1].size) {
			for (k = 0; k < 2; k++) {
				i = 2 * r + k;
				size_t c = MIN((size_t)700,
				    msgs[i].size - off[k]);

				if (queue_msg_write(&w[k], data[i] + off[k],
				    c) != 0) {
					return;
				}
				off[k] += c;
			}
		}
		if (r == 5) {
			queue_msg_abort(&ab);
		}
		for (k = 0; k < 2; k++) {
			i = 2 * r + k;
			if (queue_msg_seal(&w[k], on_done, &msgs[i]) != 0) {
				return;
			}
			msgs[i].sealed = true;
		}
		queue_commit();
		/* deliver the previous round, except the ones that stay */
		for (k = 0; r > 0 && k < 2; k++) {
			i = 2 * (r - 1) + k;
			if (stays(i)) {
				if (queue_msg_defer(msgs[i].id, 1000 + i, 1,
				    "451 later") != 0) {
					return;
				}
				continue;
			}
			msgs[i].delivered = true;
			for (j = 0; j < msgs[i].nrcpt; j++) {
				if (queue_rcpt_done(msgs[i].id, (unsigned)j,
				    QUEUE_RCPT_SENT) != 0) {
					return;
				}
			}
		}
		/* a loop turn on a file: results written, not synced */
		if (queue_flush_results() != 0) {
			return;
		}
		queue_commit();
		queue_reclaim();
		if (sim.dead) {
			return;
		}
	}
}

static int
find_msg(uint32_t id)
{
	int i;

	for (i = 0; i < NM; i++) {
		if (msgs[i].sealed && msgs[i].id == id) {
			return i;
		}
	}
	return -1;
}

static bool
same_msg(int i)
{
	static struct queue_reader r;
	const uint8_t *p;
	size_t n, pos = 0;
	unsigned idx;
	int t, nr = 0;
	char rcpt[32];

	if (queue_reader_open(&r, msgs[i].id) != 0) {
		return false;
	}
	while ((t = queue_reader_next(&r, &p, &n, &idx)) > 0) {
		if (t == QUEUE_ITEM_SENDER) {
			if (n != 12 || memcmp(p, "sender@x.org", n) != 0) {
				return false;
			}
		} else if (t == QUEUE_ITEM_RCPT) {
			snprintf(rcpt, sizeof(rcpt), "r%d@y.org", nr);
			if ((int)idx != nr++ || n != strlen(rcpt) ||
			    memcmp(p, rcpt, n) != 0) {
				return false;
			}
		} else {
			if (pos + n > msgs[i].size ||
			    memcmp(p, data[i] + pos, n) != 0) {
				return false;
			}
			pos += n;
		}
	}
	return t == QUEUE_ITEM_END && pos == msgs[i].size &&
	    nr == msgs[i].nrcpt;
}

static int bad_visible;

static int
check_visible(void *arg, const struct queue_entry *e)
{
	int i = find_msg(e->id);

	(void)arg;
	if (i < 0 || !same_msg(i)) {
		fprintf(stderr, "unexpected or corrupt message %08X\n",
		    (unsigned)e->id);
		bad_visible++;
	}
	return 0;
}

/* After a cut at op `cut`: recover and check. false on failure. */
static bool
check_recovery(uint64_t cut)
{
	struct queue_writer w;
	uint32_t nid;
	int i, pass, fails = 0;

	flash_sim_power_on(&sim);
	for (pass = 0; pass < 2; pass++) {
		if (queue_open(&sim.fl, 0) != 0) {
			fprintf(stderr, "cut %lu: queue_open failed\n",
			    (unsigned long)cut);
			return false;
		}
		for (i = 0; i < NM; i++) {
			if (msgs[i].acked && !msgs[i].delivered &&
			    !same_msg(i)) {
				fprintf(stderr, "cut %lu: acked message %d "
				    "lost or corrupt\n",
				    (unsigned long)cut, i);
				fails++;
			}
		}
		bad_visible = 0;
		queue_foreach(check_visible, NULL);
		fails += bad_visible;
		queue_reclaim();	/* erase what recovery left behind */
		queue_reclaim();
		queue_close();
	}
	/* the queue accepts and recovers a new message */
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	new_done = 0;
	if (queue_msg_begin(&w, "new@x", 0, 0) != 0 ||
	    queue_msg_rcpt(&w, "n@y") != 0 ||
	    queue_msg_write(&w, "new message\r\n", 13) != 0 ||
	    queue_msg_seal(&w, on_new_done, NULL) != 0) {
		fprintf(stderr, "cut %lu: new message refused\n",
		    (unsigned long)cut);
		return false;
	}
	queue_commit();
	nid = w.id;
	queue_close();
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	if (new_done != 1 || queue_lookup(nid, &(struct queue_entry){ 0 })) {
		fprintf(stderr, "cut %lu: new message lost\n",
		    (unsigned long)cut);
		fails++;
	}
	for (i = 0; i < NM; i++) {
		if (msgs[i].sealed && msgs[i].id >= nid) {
			fails++;	/* an id was reused */
		}
	}
	queue_close();
	if (sim.violations != 0) {
		fprintf(stderr, "cut %lu: %lu flash rule violations\n",
		    (unsigned long)cut,
		    (unsigned long)sim.violations);
		fails++;
	}
	return fails == 0;
}

/* What a restart does: recover, clean, take a message; may be cut too. */
static void
restart_work(void)
{
	struct queue_writer w;

	if (queue_open(&sim.fl, 0) != 0) {
		return;
	}
	queue_reclaim();
	if (queue_msg_begin(&w, "r@x", 0, 0) == 0 &&
	    queue_msg_rcpt(&w, "n@y") == 0 &&
	    queue_msg_write(&w, data[2], 5000) == 0 &&
	    queue_msg_seal(&w, NULL, NULL) == 0) {
		queue_commit();
	}
	queue_reclaim();
	queue_commit();
}


/* A second power cut while recovering from the first one. */
static void
test_cut_during_recovery(void)
{
	uint64_t i, j, tested = 0, failed = 0;

	for (i = 1; i < 400; i += 7) {
		for (j = 1; j <= 6; j++) {
			sim_new();
			flash_sim_cut_at(&sim, i);
			workload();
			if (!sim.dead) {
				flash_sim_free(&sim);
				break;
			}
			flash_sim_power_on(&sim);
			flash_sim_cut_at(&sim, j);
			restart_work();
			tested++;
			if (!check_recovery(i * 1000 + j)) {
				failed++;
			}
			flash_sim_free(&sim);
		}
	}
	CHECK(tested > 50);
	CHECK_EQ(failed, 0);
	printf("queue_powercut_test: %lu double cuts tested%s, %lu "
	    "failed\n", (unsigned long)tested, wl_nor ? " (NOR tearing)" :
	    wl_sector == 0 ? "" : wl_sector == 512 ?
	    " (file, 512 B sectors)" : " (file, 4 KiB sectors)",
	    (unsigned long)failed);
}

static void
test_every_cut(void)
{
	uint64_t n, i, tested = 0, failed = 0;
	int k, acked = 0, erases;

	/* dry run: count the operations */
	sim_new();
	workload();
	queue_close();
	n = sim.ops;
	erases = (int)sim.erases;
	for (k = 0; k < NM; k++) {
		acked += msgs[k].acked;
	}
	CHECK_EQ(acked, NM);
	CHECK(erases > NBLK / 2);	/* the ring wrapped: blocks taken again */
	CHECK_EQ(sim.violations, 0);
	CHECK(check_recovery(0));
	flash_sim_free(&sim);
	for (i = 1; i <= n; i++) {
		sim_new();
		sim.bitflips = (i % 2) == 0;
		flash_sim_cut_at(&sim, i);
		workload();
		tested++;
		if (!check_recovery(i)) {
			failed++;
		}
		flash_sim_free(&sim);
	}
	CHECK_EQ(failed, 0);
	printf("queue_powercut_test: %lu cut points tested (%d erases in "
	    "the workload%s%s%s), %lu failed\n", (unsigned long)tested,
	    erases, wl_rewrite ? ", pages rewritten" : "",
	    wl_nor ? ", NOR tearing" : "",
	    wl_sector == 0 ? "" : wl_sector == 512 ?
	    ", file with 512 B sectors" : ", file with 4 KiB sectors",
	    (unsigned long)failed);
}

/* The same on a device like a file: results written at each loop turn. */
static void
test_every_cut_rewrite(void)
{
	wl_rewrite = true;
	test_every_cut();
	wl_rewrite = false;
}

/*
 * The file backend's medium: writes since the last sync reach it in any
 * order, atomic per sector (issue 17.4).
 */
static void
test_file_512(void)
{
	wl_sector = 512;
	wl_rewrite = true;
	test_every_cut();
	test_cut_during_recovery();
	wl_rewrite = false;
	wl_sector = 0;
}

static void
test_file_4k(void)
{
	wl_sector = 4096;
	wl_rewrite = true;
	test_every_cut();
	test_cut_during_recovery();
	wl_rewrite = false;
	wl_sector = 0;
}

int
main(void)
{
	int k;

	for (k = 0; k < NM; k++) {
		test_fill(data[k], wl_sizes[k], (uint32_t)k * 31 + 1);
	}
	fake_log_quiet(true);
	fake_clock_set(0, 1700000000);
	RUN(test_every_cut);
	RUN(test_every_cut_rewrite);
	RUN(test_cut_during_recovery);
	RUN(test_file_512);
	RUN(test_file_4k);
	wl_nor = true;		/* the same suite, torn the NOR way */
	RUN(test_every_cut);
	RUN(test_cut_during_recovery);
	wl_nor = false;
	return test_report("queue_powercut_test");
}
