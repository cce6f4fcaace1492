/*
 * queue_recover_fuzz.c - libFuzzer harness for queue recovery. An input
 * whose first byte is odd is a flash image (the rest of the device is
 * erased); queue_open() must not crash on it, nor must reading every
 * message it finds, nor writing, reclaiming and reopening afterwards.
 * An even first byte is damage done to a queue of known messages: the
 * rest of the input is bit flips and erased (0xFF) and zeroed ranges;
 * then every message whose records (and their blocks' headers) are
 * intact must survive byte for byte, and whatever is visible must be one
 * of the messages, exactly (the per-message bound of queue_scan.c).
 * Seeds: test/fuzz/corpus/queue_recover/.
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
#define FZ_DBLOCKS 12	/* damage mode */
#define FZ_DEV ((size_t)CONFIG_QUEUE_BLOCK_SIZE * FZ_DBLOCKS)
#define FZ_NM 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct flash_sim fz_sim, fz_dsim;
static struct queue_reader fz_rd;
static uint32_t fz_id[FZ_NM];
static uint8_t fz_body[FZ_NM][2400];
static size_t fz_len[FZ_NM];
static uint32_t fz_owner[FZ_DEV];	/* id whose record holds the byte */
static uint8_t fz_hit[FZ_DEV];

/* Known messages, two at a time so that their records interleave. */
static void
fz_write(void)
{
	struct queue_writer w[2];
	int i, k;

	memset(fz_dsim.mem, 0xff, FZ_DEV);
	memset(fz_dsim.programmed, 0, FZ_DEV / CONFIG_QUEUE_PAGE_SIZE);
	if (queue_open(&fz_dsim.fl, 0) != 0) {
		abort();
	}
	for (i = 0; i < FZ_NM; i += 2) {
		for (k = 0; k < 2; k++) {
			if (queue_msg_begin(&w[k], "s@x", 0, 0) != 0 ||
			    queue_msg_rcpt(&w[k], "a@y") != 0 ||
			    queue_msg_rcpt(&w[k], "b@y") != 0) {
				abort();
			}
			fz_id[i + k] = w[k].id;
		}
		for (k = 0; k < 2; k++) {
			if (queue_msg_write(&w[k], fz_body[i + k],
			    fz_len[i + k]) != 0 ||
			    queue_msg_seal(&w[k], NULL, NULL) != 0) {
				abort();
			}
		}
		queue_commit();
	}
	queue_close();
}

/* Who owns each byte (records by id; block headers: 0xffffffff). */
static void
fz_walk(void)
{
	uint32_t b, off, len, i;
	const uint8_t *m;

	memset(fz_owner, 0, sizeof(fz_owner));
	for (b = 0; b < FZ_DBLOCKS; b++) {
		m = fz_dsim.mem + b * CONFIG_QUEUE_BLOCK_SIZE;
		if (memcmp(m, "EMQ", 3) != 0) {
			continue;
		}
		for (i = 0; i < 16; i++) {
			fz_owner[b * CONFIG_QUEUE_BLOCK_SIZE + i] = 0xffffffffu;
		}
		for (off = 16; off + 12 <= CONFIG_QUEUE_BLOCK_SIZE;) {
			if (m[off] == 0xff) {
				off = (off / CONFIG_QUEUE_PAGE_SIZE + 1) *
				    CONFIG_QUEUE_PAGE_SIZE;
				continue;
			}
			len = 12 + (uint32_t)(m[off + 2] | m[off + 3] << 8);
			for (i = 0; i < len; i++) {
				fz_owner[b * CONFIG_QUEUE_BLOCK_SIZE + off +
				    i] = (uint32_t)(m[off + 4] | m[off + 5] << 8 |
				    m[off + 6] << 16 | (uint32_t)m[off + 7] << 24);
			}
			off += len;
		}
	}
}

/* Message k's records, and the headers of their blocks, were not hit. */
static bool
fz_intact(int k)
{
	uint32_t o, b, bs = CONFIG_QUEUE_BLOCK_SIZE;

	for (o = 0; o < FZ_DEV; o++) {
		if (fz_owner[o] != fz_id[k]) {
			continue;
		}
		if (fz_hit[o]) {
			return false;
		}
		b = o / bs * bs;
		for (; b < o / bs * bs + 16; b++) {
			if (fz_hit[b]) {
				return false;
			}
		}
	}
	return true;
}

/* Message k reads back exactly. */
static bool
fz_same(int k)
{
	const uint8_t *p;
	size_t len, pos = 0;
	unsigned idx;
	int t, n = 0;

	if (queue_reader_open(&fz_rd, fz_id[k]) != 0) {
		return false;
	}
	while ((t = queue_reader_next(&fz_rd, &p, &len, &idx)) > 0) {
		if (t == QUEUE_ITEM_SENDER) {
			if (len != 3 || memcmp(p, "s@x", 3) != 0) {
				return false;
			}
		} else if (t == QUEUE_ITEM_RCPT) {
			if (len != 3 || idx != (unsigned)n ||
			    p[0] != (n == 0 ? 'a' : 'b') || ++n > 2) {
				return false;
			}
		} else if (pos + len > fz_len[k] ||
		    memcmp(p, fz_body[k] + pos, len) != 0) {
			return false;
		} else {
			pos += len;
		}
	}
	return t == QUEUE_ITEM_END && pos == fz_len[k] && n == 2;
}

static int
fz_check_one(void *arg, const struct queue_entry *e)
{
	int k;

	(void)arg;
	for (k = 0; k < FZ_NM; k++) {
		if (fz_id[k] == e->id) {
			if (!fz_same(k)) {
				abort();	/* corrupted mail visible */
			}
			return 0;
		}
	}
	abort();	/* a message that was never written */
}

/* Damage mode: ops of 4 bytes (kind, offset, length) from the input. */
static void
fz_damage(const uint8_t *data, size_t size)
{
	size_t i, j, n;
	uint32_t o;
	int k;

	if (fz_dsim.mem == NULL && flash_sim_init(&fz_dsim,
	    CONFIG_QUEUE_PAGE_SIZE, CONFIG_QUEUE_BLOCK_SIZE, FZ_DBLOCKS) != 0) {
		abort();
	}
	for (k = 0; k < FZ_NM; k++) {
		fz_len[k] = (size >= 2 + FZ_NM ? data[1 + k] : 37u * k) * 9u;
		for (j = 0; j < fz_len[k]; j++) {
			fz_body[k][j] = (uint8_t)(j * 7 + k);
		}
	}
	fz_write();
	fz_walk();
	memset(fz_hit, 0, sizeof(fz_hit));
	for (i = 1 + FZ_NM; i + 4 <= size; i += 4) {
		o = (uint32_t)(data[i + 1] | data[i + 2] << 8 |
		    (data[i] & 0xf0u) << 12) % FZ_DEV;
		n = MIN((size_t)data[i + 3] * 4 + 1, FZ_DEV - o);
		switch (data[i] % 3) {
		case 0:
			fz_dsim.mem[o] ^= (uint8_t)(1u << (data[i + 3] % 8));
			fz_hit[o] = 1;
			break;
		default:
			for (j = o; j < o + n; j++) {
				uint8_t v = data[i] % 3 == 1 ? 0xff : 0x00;

				fz_hit[j] |= fz_dsim.mem[j] != v;
				fz_dsim.mem[j] = v;
			}
			break;
		}
	}
	for (k = 0; k < 2; k++) {
		if (queue_open(&fz_dsim.fl, k == 0 ? QUEUE_O_RDONLY : 0) != 0) {
			for (j = 0; j < FZ_NM; j++) {
				if (fz_intact((int)j)) {
					abort();	/* refused, with mail */
				}
			}
			return;
		}
		for (j = 0; j < FZ_NM; j++) {
			if (fz_intact((int)j) && !fz_same((int)j)) {
				abort();	/* intact message lost */
			}
		}
		queue_foreach(fz_check_one, NULL);
		queue_close();
	}
}

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
	if (size > 0 && data[0] % 2 == 0) {
		fz_damage(data, size);
		return 0;
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
