/*
 * queue_recover_fuzz.c - libFuzzer harness for queue recovery: the input
 * is a flash image (the rest of the device is erased); queue_open() must
 * not crash on it, nor must reading every message it finds, nor writing,
 * reclaiming and reopening afterwards. Seeds: test/fuzz/corpus/queue_recover/.
 *
 * clang -fsanitize=fuzzer,address,undefined -Ibuild/include -Icore
 *   -Iplatform -Iplatform/sim -Itest/fake test/fuzz/queue_recover_fuzz.c
 *   core/crc32.c core/queue*.c platform/sim/flash_sim.c
 *   test/fake/fake_plat.c
 */
#include <stdlib.h>
#include <string.h>

#include "flash_sim.h"
#include "queue.h"

#define FZ_BLOCKS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct flash_sim fz_sim;
static struct queue_reader fz_rd;

static int
fz_read_one(void *arg, const struct queue_entry *e)
{
	const uint8_t *p;
	size_t len;
	unsigned idx, guard;
	char reason[64];

	(void)arg;
	(void)queue_msg_reason(e->id, reason, sizeof(reason));
	if (queue_reader_open(&fz_rd, e->id) != 0) {
		return 0;
	}
	for (guard = 0; guard < 100000; guard++) {
		if (queue_reader_next(&fz_rd, &p, &len, &idx) <= 0) {
			break;
		}
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t dev = (size_t)CONFIG_QUEUE_BLOCK_SIZE * FZ_BLOCKS;
	struct queue_writer w;
	int i;

	if (fz_sim.mem == NULL && flash_sim_init(&fz_sim,
	    CONFIG_QUEUE_PAGE_SIZE, CONFIG_QUEUE_BLOCK_SIZE, FZ_BLOCKS) != 0) {
		abort();
	}
	memset(fz_sim.mem, 0xff, dev);
	memcpy(fz_sim.mem, data, size < dev ? size : dev);
	/* pages with any programmed bit must not be programmed again */
	for (i = 0; i < (int)(dev / CONFIG_QUEUE_PAGE_SIZE); i++) {
		const uint8_t *pg = fz_sim.mem + (size_t)i *
		    CONFIG_QUEUE_PAGE_SIZE;
		size_t k;

		fz_sim.programmed[i] = 0;
		for (k = 0; k < CONFIG_QUEUE_PAGE_SIZE; k++) {
			if (pg[k] != 0xff) {
				fz_sim.programmed[i] = 1;
				break;
			}
		}
	}
	fz_sim.violations = 0;
	if (queue_open(&fz_sim.fl, QUEUE_O_RDONLY) == 0) {
		queue_foreach(fz_read_one, NULL);
		queue_close();
	}
	if (queue_open(&fz_sim.fl, 0) == 0) {
		queue_foreach(fz_read_one, NULL);
		for (i = 0; i < 3; i++) {
			if (queue_msg_begin(&w, "a@b", 0, 0) == 0 &&
			    queue_msg_rcpt(&w, "c@d") == 0 &&
			    queue_msg_write(&w, data, size < 3000 ? size :
			    3000) == 0) {
				(void)queue_msg_seal(&w, NULL, NULL);
			} else {
				queue_msg_abort(&w);
			}
			queue_commit();
			queue_reclaim();
		}
		queue_close();
		if (queue_open(&fz_sim.fl, 0) == 0) {
			queue_foreach(fz_read_one, NULL);
			queue_close();
		}
	}
	if (fz_sim.violations != 0) {
		abort();	/* programmed a page twice */
	}
	return 0;
}
