/*
 * flash_mtd_test.c - the raw MTD partition backend (platform/linux/
 * flash_mtd.c) against the MTD emulation of test/fake/mtd_emul.c: the
 * geometry from MEMGETINFO, "mtd:NAME" through /proc/mtd, NAND bad
 * blocks left out (the ring shrinks), a failing erase marking its block
 * bad, the lock, and a power cut at every program/erase of a queue
 * workload on NOR and on NAND with bad blocks: every acknowledged message
 * comes back byte-identical.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "fake_plat.h"
#include "flash_mtd.h"
#include "mtd_emul.h"
#include "queue.h"

#define PG CONFIG_QUEUE_PAGE_SIZE
/* an erase block: at least 8 pages, 4 KiB in the default geometry */
#define EB (8u * PG > 4096u ? 8u * PG : 4096u)
#define NM 40

static struct mtd_emul emul;
static struct flash fl;
static char proc[64], err[256];

static void
setup(uint8_t type, uint32_t nblocks)
{
	snprintf(proc, sizeof(proc), "/tmp/flash_mtd_test.%ld",
	    (long)getpid());
	CHECK_EQ(mtd_emul_init(&emul, type, type == FLASH_MTD_NOR ? PG :
	    PG, EB, nblocks, "/dev/mtd5", "edgemta", proc), 0);
}

static void
teardown(void)
{
	mtd_emul_free(&emul);
	unlink(proc);
}

static int
open_mtd(const char *path)
{
	return flash_mtd_open(&fl, path, false, &mtd_emul_io, err,
	    sizeof(err));
}

static void
test_paths(void)
{
	CHECK(flash_mtd_path("mtd:edgemta"));
	CHECK(flash_mtd_path("/dev/mtd5"));
	CHECK(!flash_mtd_path("/dev/mtdblock5"));
	CHECK(!flash_mtd_path("/var/spool/edgemta/queue"));
	CHECK(!flash_mtd_path("mtdqueue"));
}

static void
test_geometry_and_lookup(void)
{
	setup(FLASH_MTD_NOR, 16);
	CHECK_EQ(open_mtd("mtd:edgemta"), 0);
	CHECK_EQ(fl.block_size, EB);
	CHECK_EQ(fl.page_size, PG);
	CHECK_EQ(fl.block_count, 16);
	CHECK(!fl.rewrite);
	CHECK(flash_mtd_owns(&fl));
	CHECK_EQ(flash_mtd_bad_blocks(&fl), 0);
	/* a second opener is refused while the first holds the lock */
	{
		struct flash f2;

		CHECK_EQ(flash_mtd_open(&f2, "/dev/mtd5", false, &mtd_emul_io,
		    err, sizeof(err)), EDGEMTA_E_LOCKED);
	}
	flash_mtd_close(&fl);
	CHECK_EQ(emul.opens, 0);
	CHECK_EQ(open_mtd("mtd:u-boot2"), EDGEMTA_E_NOENT);
	CHECK(strstr(err, "no MTD partition named \"u-boot2\"") != NULL);
	CHECK_EQ(open_mtd("mtd:edgemt"), EDGEMTA_E_NOENT);
	CHECK(open_mtd("/dev/mtd7") != 0);
	CHECK(strstr(err, "/dev/mtd7") != NULL);
	teardown();
}

/* A chip whose write unit does not fit the queue's page is refused. */
static void
test_geometry_refused(void)
{
	CHECK_EQ(mtd_emul_init(&emul, FLASH_MTD_NAND, 2 * PG, 4 * PG * 2,
	    8, "/dev/mtd5", "edgemta", "/tmp/flash_mtd_test.proc"), 0);
	CHECK_EQ(open_mtd("/dev/mtd5"), EDGEMTA_E_INVAL);
	CHECK(strstr(err, "CONFIG_QUEUE_PAGE_SIZE") != NULL);
	CHECK_EQ(emul.opens, 0);
	mtd_emul_free(&emul);
	unlink("/tmp/flash_mtd_test.proc");
}

static uint8_t body[NM][3000];

struct msg {
	uint32_t id;
	size_t size;
	bool acked, delivered;
};

static struct msg msgs[NM];

static void
on_done(void *arg, int e)
{
	if (e == 0) {
		((struct msg *)arg)->acked = true;
	}
}

/* Queue NM messages one per commit, delivering three of four, so the
 * ring wraps (blocks reclaimed, erased, copied forward); stops at the
 * first error (the power is gone). */
static void
workload(void)
{
	struct queue_writer w;
	int i;

	memset(msgs, 0, sizeof(msgs));
	if (queue_open(&fl, 0) != 0) {
		return;
	}
	for (i = 0; i < NM; i++) {
		msgs[i].size = 100 + (size_t)i * 797 % 2900;
		test_fill(body[i], msgs[i].size, (uint32_t)i + 1);
		if (queue_msg_begin(&w, "s@x.org", 0, 0) != 0) {
			return;
		}
		msgs[i].id = w.id;
		if (queue_msg_rcpt(&w, "r@y.org") != 0 ||
		    queue_msg_write(&w, body[i], msgs[i].size) != 0 ||
		    queue_msg_seal(&w, on_done, &msgs[i]) != 0) {
			return;
		}
		queue_commit();
		if (i % 4 != 1 && msgs[i].acked) {
			if (queue_rcpt_done(msgs[i].id, 0, QUEUE_RCPT_SENT) != 0) {
				return;
			}
			msgs[i].delivered = true;
			queue_commit();
			queue_reclaim();
		}
		if (emul.sim.dead) {
			return;
		}
	}
}

/* 1: every acknowledged, undelivered message is there, byte-identical. */
static bool
intact(void)
{
	int i;

	for (i = 0; i < NM; i++) {
		struct queue_reader rd;
		const uint8_t *p;
		size_t len, got = 0;
		unsigned idx;
		int it;

		if (!msgs[i].acked || msgs[i].delivered) {
			continue;
		}
		if (queue_reader_open(&rd, msgs[i].id) != 0) {
			fprintf(stderr, "message %d (%08lx) lost\n", i,
			    (unsigned long)msgs[i].id);
			return false;
		}
		while ((it = queue_reader_next(&rd, &p, &len, &idx)) > 0) {
			if (it == QUEUE_ITEM_DATA) {
				if (got + len > msgs[i].size ||
				    memcmp(body[i] + got, p, len) != 0) {
					return false;
				}
				got += len;
			}
		}
		if (it != QUEUE_ITEM_END || got != msgs[i].size) {
			fprintf(stderr, "message %d: item %d, %zu of %zu bytes\n",
			    i, it, got, msgs[i].size);
			return false;
		}
	}
	return true;
}

static void
every_cut(uint8_t type, const bool *bad, unsigned nbad)
{
	uint64_t total, cut;
	unsigned failed = 0, b;

	setup(type, 12 + nbad);
	for (b = 0; b < 12 + nbad; b++) {
		emul.bad[b] = bad[b];
	}
	CHECK_EQ(open_mtd("mtd:edgemta"), 0);
	CHECK_EQ(fl.block_count, 12);
	CHECK_EQ(flash_mtd_bad_blocks(&fl), nbad);
	workload();
	total = emul.sim.ops;
	CHECK(msgs[NM - 1].acked);	/* no error without a cut */
	CHECK(emul.sim.erases > 12);	/* the ring wrapped */
	CHECK(intact());
	queue_close();
	flash_mtd_close(&fl);
	teardown();
	for (cut = 1; cut <= total; cut++) {
		setup(type, 12 + nbad);
		for (b = 0; b < 12 + nbad; b++) {
			emul.bad[b] = bad[b];
		}
		CHECK_EQ(open_mtd("mtd:edgemta"), 0);
		flash_sim_cut_at(&emul.sim, cut);
		workload();
		queue_close();
		flash_mtd_close(&fl);
		flash_sim_power_on(&emul.sim);
		if (open_mtd("mtd:edgemta") != 0 || queue_open(&fl, 0) != 0 ||
		    !intact()) {
			fprintf(stderr, "cut %lu of %lu failed\n",
			    (unsigned long)cut, (unsigned long)total);
			failed++;
		}
		for (b = 0; b < 12 + nbad; b++) {
			/* bad blocks were never touched */
			if (bad[b]) {
				CHECK_EQ(emul.sim.wear[b], 0);
			}
		}
		CHECK_EQ(emul.sim.violations, 0);
		queue_close();
		flash_mtd_close(&fl);
		teardown();
	}
	printf("flash_mtd_test: %s, %u bad blocks: %lu cut points, %u failed\n",
	    type == FLASH_MTD_NOR ? "NOR" : "NAND", nbad,
	    (unsigned long)total, failed);
	CHECK_EQ(failed, 0);
}

static void
test_cuts_nor(void)
{
	static const bool none[16];

	every_cut(FLASH_MTD_NOR, none, 0);
}

static void
test_cuts_nand_bad_blocks(void)
{
	static const bool bad[16] = { [0] = true, [5] = true, [6] = true };

	every_cut(FLASH_MTD_NAND, bad, 3);
}

/* A block whose erase fails (worn out) is marked bad: the write that
 * needed it fails (a 451 for the client), and at the next start the ring
 * is one block smaller with every acknowledged message still there. */
static void
test_erase_failure_marks_bad(void)
{
	struct queue_writer w;
	static struct msg keep[NM];
	uint32_t fail_blk = 2;

	setup(FLASH_MTD_NAND, 12);
	emul.erase_fails[fail_blk] = true;
	CHECK_EQ(open_mtd("mtd:edgemta"), 0);
	workload();
	CHECK(!msgs[NM - 1].acked);	/* stopped at the failed erase */
	CHECK(emul.bad[fail_blk]);
	CHECK_EQ(emul.setbad_calls, 1);
	memcpy(keep, msgs, sizeof(keep));
	queue_close();
	flash_mtd_close(&fl);
	CHECK_EQ(open_mtd("mtd:edgemta"), 0);
	CHECK_EQ(fl.block_count, 11);
	CHECK_EQ(flash_mtd_bad_blocks(&fl), 1);
	CHECK_EQ(queue_open(&fl, 0), 0);
	memcpy(msgs, keep, sizeof(msgs));
	CHECK(intact());
	/* and it takes new mail */
	CHECK_EQ(queue_msg_begin(&w, "s@x.org", 0, 0), 0);
	CHECK_EQ(queue_msg_rcpt(&w, "r@y.org"), 0);
	CHECK_EQ(queue_msg_write(&w, "hi\r\n", 4), 0);
	CHECK_EQ(queue_msg_seal(&w, NULL, NULL), 0);
	queue_commit();
	queue_close();
	flash_mtd_close(&fl);
	teardown();
}

int
main(void)
{
	fake_log_quiet(true);
	fake_clock_set(0, 1700000000);
	RUN(test_paths);
	RUN(test_geometry_and_lookup);
	RUN(test_geometry_refused);
	RUN(test_cuts_nor);
	RUN(test_cuts_nand_bad_blocks);
	RUN(test_erase_failure_marks_bad);
	return test_report("flash_mtd");
}
