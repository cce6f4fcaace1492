/*
 * flash_nor_test.c - the NOR backend (platform/nor/flash_nor.c) over the
 * NOR-in-RAM driver (nor_ram.c): geometry checks, programs split at the
 * part's program pages, multi-sector blocks, a region at an offset; one
 * on-flash format (a queue written on the host simulator reads on the
 * NOR backend, and the reverse); the simulator's NOR tearing.
 * Also runs on the emulated Cortex-M4 (scripts/test-cortex-m4.sh).
 */
#include <stdlib.h>

#include "test.h"
#include "fake_plat.h"
#include "flash_sim.h"
#include "nor/flash_nor.h"
#include "nor/nor_ram.h"
#include "queue.h"

#define PG CONFIG_QUEUE_PAGE_SIZE
#define BS CONFIG_QUEUE_BLOCK_SIZE
#define NBLK 8
#define SECTOR (BS / 2)		/* a queue block is two NOR sectors */
#define BASE (2 * SECTOR)	/* the queue's region starts here */
#define DEV (BASE + NBLK * BS + SECTOR)

static uint8_t dev[DEV];
static struct nor_ram ram;
static struct flash_nor nor;

/* Counts the driver's program calls and checks their boundaries. */
static int progs, bad_progs;
static int (*ram_program)(void *, uint32_t, const void *, uint32_t);

static int
count_program(void *ctx, uint32_t addr, const void *buf, uint32_t len)
{
	progs++;
	if (addr / 64 != (addr + len - 1) / 64) {
		bad_progs++;
	}
	return ram_program(ctx, addr, buf, len);
}

static void
nor_setup(void)
{
	memset(dev, 0xff, sizeof(dev));
	nor_ram_init(&ram, dev, sizeof(dev), SECTOR, 64, 4);
	ram_program = ram.hal.program;
	ram.hal.program = count_program;
	CHECK_EQ(flash_nor_init(&nor, &ram.hal, BASE, NBLK * BS, BS, PG), 0);
}

static void
test_geometry(void)
{
	struct flash_nor n;

	nor_setup();
	CHECK_EQ(nor.fl.block_count, NBLK);
	CHECK_EQ(nor.fl.block_size, BS);
	CHECK_EQ(nor.fl.page_size, PG);
	CHECK(!nor.fl.rewrite);
	/* base, block, size and page must fit the part */
	CHECK_EQ(flash_nor_init(&n, &ram.hal, BASE + 4, BS, BS, PG),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(flash_nor_init(&n, &ram.hal, BASE, BS, SECTOR / 2, PG),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(flash_nor_init(&n, &ram.hal, BASE, BS + SECTOR, BS, PG),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(flash_nor_init(&n, &ram.hal, BASE, BS, BS, 6),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(flash_nor_init(&n, &ram.hal, BASE, BS, BS, 3 * PG),
	    EDGEMTA_E_INVAL);
}

static void
test_prog_erase(void)
{
	uint8_t page[2 * PG], back[2 * PG];
	uint32_t i;

	nor_setup();
	for (i = 0; i < sizeof(page); i++) {
		page[i] = (uint8_t)(i * 7 + 1);
	}
	progs = bad_progs = 0;
	/* two pages at the end of block 1: lands at BASE + 2 * BS - 2 PG */
	CHECK_EQ(flash_prog(&nor.fl, 2 * BS - 2 * PG, page, sizeof(page)), 0);
	CHECK_EQ(progs, (int)(sizeof(page) / 64));	/* split at 64 */
	CHECK_EQ(bad_progs, 0);
	CHECK(memcmp(dev + BASE + 2 * BS - 2 * PG, page, sizeof(page)) == 0);
	CHECK_EQ(flash_read(&nor.fl, 2 * BS - 2 * PG, back, sizeof(back)), 0);
	CHECK(memcmp(back, page, sizeof(page)) == 0);
	/* never across a block, never misaligned, never outside */
	CHECK_EQ(flash_prog(&nor.fl, BS - PG, page, sizeof(page)),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(flash_prog(&nor.fl, 4, page, PG), EDGEMTA_E_INVAL);
	CHECK_EQ(flash_prog(&nor.fl, NBLK * BS, page, PG), EDGEMTA_E_INVAL);
	CHECK_EQ(flash_read(&nor.fl, NBLK * BS - 4, back, 8),
	    EDGEMTA_E_INVAL);
	/* a block of two sectors: both erased, the neighbours untouched */
	memset(dev, 0, sizeof(dev));
	CHECK_EQ(flash_erase(&nor.fl, 1), 0);
	for (i = 0; i < DEV; i++) {
		if (dev[i] != (i >= BASE + BS && i < BASE + 2 * BS ?
		    0xff : 0)) {
			break;
		}
	}
	CHECK_EQ(i, DEV);
	CHECK_EQ(flash_erase(&nor.fl, NBLK), EDGEMTA_E_INVAL);
	CHECK_EQ(flash_sync(&nor.fl), 0);
	/* NOR: a bit programmed to 0 stays 0 until the sector is erased */
	memset(dev, 0xff, sizeof(dev));
	memset(page, 0x0f, PG);
	CHECK_EQ(flash_prog(&nor.fl, 0, page, PG), 0);
	memset(page, 0xf0, PG);
	CHECK_EQ(flash_prog(&nor.fl, 0, page, PG), EDGEMTA_E_IO);
	CHECK_EQ(ram.violations, 1);
	CHECK_EQ(dev[BASE], 0x0f);
}

/* ---- one on-flash format ---- */

#define NMSG 12
static uint8_t body[NMSG][1500];
static uint32_t ids[NMSG];

/* Queue NMSG messages (sizes 100..1200) on fl, the first 4 delivered. */
static void
write_queue(struct flash *fl)
{
	struct queue_writer w;
	char from[32];
	int k;

	CHECK_EQ(queue_open(fl, 0), 0);
	for (k = 0; k < NMSG; k++) {
		test_fill(body[k], sizeof(body[k]), (uint32_t)k + 1);
		snprintf(from, sizeof(from), "s%d@example.org", k);
		CHECK_EQ(queue_msg_begin(&w, from, 0, 0), 0);
		CHECK_EQ(queue_msg_rcpt(&w, "a@example.net"), 0);
		CHECK_EQ(queue_msg_write(&w, body[k], 100 + 100 * (size_t)k),
		    0);
		CHECK_EQ(queue_msg_seal(&w, NULL, NULL), 0);
		queue_commit();
		ids[k] = w.id;
	}
	for (k = 0; k < 4; k++) {
		CHECK_EQ(queue_rcpt_done(ids[k], 0, QUEUE_RCPT_SENT), 0);
	}
	queue_commit();
	queue_close();
}

/* Read every message back from fl; the delivered ones are gone. */
static void
read_queue(struct flash *fl)
{
	static struct queue_reader r;
	const uint8_t *p;
	size_t n, pos;
	unsigned idx;
	char from[32];
	int k, t;

	CHECK_EQ(queue_open(fl, 0), 0);
	CHECK_EQ(queue_count(), NMSG - 4);
	for (k = 0; k < NMSG; k++) {
		if (k < 4) {
			CHECK_EQ(queue_reader_open(&r, ids[k]),
			    EDGEMTA_E_NOENT);
			continue;
		}
		CHECK_EQ(queue_reader_open(&r, ids[k]), 0);
		snprintf(from, sizeof(from), "s%d@example.org", k);
		pos = 0;
		while ((t = queue_reader_next(&r, &p, &n, &idx)) > 0) {
			if (t == QUEUE_ITEM_SENDER) {
				CHECK(n == strlen(from) &&
				    memcmp(p, from, n) == 0);
			} else if (t == QUEUE_ITEM_DATA) {
				CHECK(pos + n <= 100 + 100 * (size_t)k &&
				    memcmp(p, body[k] + pos, n) == 0);
				pos += n;
			}
		}
		CHECK_EQ(t, QUEUE_ITEM_END);
		CHECK_EQ(pos, 100 + 100 * (size_t)k);
	}
	queue_close();
}

static void
test_sim_to_nor(void)
{
	static struct flash_sim sim;

	CHECK_EQ(flash_sim_init(&sim, PG, BS, NBLK), 0);
	write_queue(&sim.fl);
	nor_setup();
	memcpy(dev + BASE, sim.mem, NBLK * BS);
	flash_sim_free(&sim);
	read_queue(&nor.fl);
	CHECK_EQ(ram.violations, 0);
}

static void
test_nor_to_sim(void)
{
	static struct flash_sim sim;

	nor_setup();
	write_queue(&nor.fl);
	CHECK_EQ(ram.violations, 0);
	CHECK_EQ(bad_progs, 0);
	CHECK_EQ(flash_sim_init(&sim, PG, BS, NBLK), 0);
	memcpy(sim.mem, dev + BASE, NBLK * BS);
	read_queue(&sim.fl);
	CHECK_EQ(sim.violations, 0);
	flash_sim_free(&sim);
}

/* ---- the simulator's NOR tearing (used by queue_powercut_test) ---- */

static void
test_sim_nor_tearing(void)
{
	static struct flash_sim sim;
	uint8_t data[PG], before[PG];
	uint32_t i, cut, diff = 0;

	test_fill(data, PG, 99);
	for (cut = 0; cut < 20; cut++) {
		CHECK_EQ(flash_sim_init(&sim, PG, BS, 2), 0);
		sim.nor = true;
		sim.bitflips = true;	/* ignored in NOR mode */
		memset(before, 0xff, PG);
		/* a first op to vary the random stream per round */
		for (i = 0; i < cut; i++) {
			CHECK_EQ(flash_erase(&sim.fl, 1), 0);
		}
		flash_sim_cut_at(&sim, 1);
		CHECK_EQ(flash_prog(&sim.fl, 0, data, PG), EDGEMTA_E_IO);
		for (i = 0; i < PG; i++) {
			/* only bits the data clears, and a prefix of words */
			CHECK_EQ(sim.mem[i] & data[i], data[i]);
			if (i >= 4 && sim.mem[i] != 0xff) {
				CHECK_EQ(sim.mem[i - 4], data[i - 4]);
			}
		}
		diff += memcmp(sim.mem, before, PG) != 0;
		/* a torn erase only sets bits: zeros stay or become ones */
		flash_sim_power_on(&sim);
		memset(data, 0x5a, PG);
		CHECK_EQ(flash_prog(&sim.fl, BS, data, PG), 0);
		flash_sim_cut_at(&sim, 1);
		CHECK_EQ(flash_erase(&sim.fl, 1), EDGEMTA_E_IO);
		for (i = 0; i < PG; i++) {
			CHECK_EQ(sim.mem[BS + i] & 0x5a, 0x5a);
		}
		for (i = PG; i < BS; i++) {
			CHECK_EQ(sim.mem[BS + i], 0xff);
		}
		test_fill(data, PG, 99);
		flash_sim_free(&sim);
	}
	CHECK(diff > 0);	/* some tears programmed something */
}

int
main(void)
{
	fake_log_quiet(true);
	RUN(test_geometry);
	RUN(test_prog_erase);
	RUN(test_sim_to_nor);
	RUN(test_nor_to_sim);
	RUN(test_sim_nor_tearing);
	return test_report("flash_nor_test");
}
