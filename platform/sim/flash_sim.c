/*
 * flash_sim.c - the flash simulator of flash_sim.h.
 */
#include <stdlib.h>
#include <string.h>

#include "flash_sim.h"

static uint32_t
sim_rand(struct flash_sim *s)
{
	/* xorshift32: deterministic for a given cut point */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 17;
	s->rng ^= s->rng << 5;
	return s->rng;
}

/*
 * File model, at a cut: every sector changed since the last sync keeps
 * its old or its new content; that is then the device.
 */
static void
sim_file_cut(struct flash_sim *s)
{
	size_t size = (size_t)s->fl.block_size * s->fl.block_count, o;

	for (o = 0; o < size; o += s->sector) {
		if (memcmp(s->mem + o, s->durable + o, s->sector) != 0 &&
		    (sim_rand(s) & 1u)) {
			memcpy(s->mem + o, s->durable + o, s->sector);
		}
	}
	memcpy(s->durable, s->mem, size);
}

/* Count an operation; true if this one is torn by the power cut. */
static bool
sim_torn(struct flash_sim *s)
{
	s->ops++;
	if (s->cut_at != 0 && s->ops == s->cut_at) {
		s->dead = true;
		s->rng = (uint32_t)(s->ops * 2654435761u) | 1u;
		return true;
	}
	return false;
}

static int
sim_read(struct flash *fl, uint32_t off, void *buf, uint32_t len)
{
	struct flash_sim *s = fl->ctx;
	uint64_t size = (uint64_t)fl->block_size * fl->block_count;

	if (s->dead) {
		return EDGEMTA_E_IO;
	}
	if ((uint64_t)off + len > size) {
		s->violations++;
		return EDGEMTA_E_INVAL;
	}
	s->reads++;
	memcpy(buf, s->mem + off, len);
	return 0;
}

static int
sim_prog(struct flash *fl, uint32_t off, const void *buf, uint32_t len)
{
	struct flash_sim *s = fl->ctx;
	const uint8_t *src = buf;
	uint32_t p, first = off / fl->page_size, n, t, i;
	bool torn;

	if (s->dead) {
		return EDGEMTA_E_IO;
	}
	if (len == 0 || off % fl->page_size != 0 ||
	    len % fl->page_size != 0 ||
	    off / fl->block_size != (off + len - 1) / fl->block_size ||
	    (uint64_t)off + len >
	    (uint64_t)fl->block_size * fl->block_count) {
		s->violations++;
		return EDGEMTA_E_INVAL;
	}
	for (p = first; p < first + len / fl->page_size; p++) {
		if (s->programmed[p] && !fl->rewrite) {
			s->violations++;
			return EDGEMTA_E_INVAL;
		}
	}
	for (i = 0; fl->rewrite && i < len; i++) {
		if ((s->mem[off + i] & src[i]) != src[i]) {
			s->violations++;	/* a rewrite may only add bytes */
			return EDGEMTA_E_INVAL;
		}
	}
	n = len;
	t = len;
	torn = sim_torn(s);
	if (s->sector != 0 && torn) {
		/* the cut operation done or not, then sectors old or new */
		if (sim_rand(s) & 1u) {
			for (i = 0; i < len; i++) {
				s->mem[off + i] &= src[i];
			}
		}
		sim_file_cut(s);
		return EDGEMTA_E_IO;
	}
	if (torn) {
		n = t = sim_rand(s) % (len + 1);
		if (s->nor) {
			/* whole words, then the word in flight partly */
			n -= n % 4;
			t = MIN(n + 4, len);
			for (i = n; i < t; i++) {
				s->mem[off + i] &=
				    (uint8_t)(src[i] | sim_rand(s));
			}
		} else if (s->bitflips && n > 0) {
			i = sim_rand(s) % n;
			/* only 1 -> 0 transitions are physical; AND keeps it */
			s->mem[off + i] &= (uint8_t)(src[i] &
			    ~(1u << (sim_rand(s) % 8)));
		}
	}
	for (i = 0; i < n; i++) {
		s->mem[off + i] &= src[i];
	}
	/*
	 * A page counts as programmed once any bit of it changed: a torn
	 * program that changed nothing is indistinguishable from an erased
	 * page, and the queue may reuse it.
	 */
	for (p = 0; p < len / fl->page_size; p++) {
		uint32_t po = p * fl->page_size;

		for (i = po; i < po + fl->page_size && i < t; i++) {
			if (s->mem[off + i] != 0xff) {
				s->programmed[first + p] = 1;
				break;
			}
		}
		if (n >= po + fl->page_size) {
			s->programmed[first + p] = 1;
		}
	}
	s->progs++;
	return s->dead ? EDGEMTA_E_IO : 0;
}

static int
sim_erase(struct flash *fl, uint32_t block)
{
	struct flash_sim *s = fl->ctx;
	uint32_t ppb = fl->block_size / fl->page_size, k, g, i;
	uint8_t *b;
	bool torn;

	if (s->dead) {
		return EDGEMTA_E_IO;
	}
	if (block >= fl->block_count) {
		s->violations++;
		return EDGEMTA_E_INVAL;
	}
	b = s->mem + (size_t)block * fl->block_size;
	s->wear[block]++;
	s->erases++;
	torn = sim_torn(s);
	if (s->sector != 0 && torn) {
		if (sim_rand(s) & 1u) {
			memset(b, 0xff, fl->block_size);
		}
		sim_file_cut(s);
		return EDGEMTA_E_IO;
	}
	if (torn && s->nor) {
		/* every bit as it was or erased */
		for (i = 0; i < fl->block_size; i++) {
			b[i] |= (uint8_t)sim_rand(s);
		}
		memset(s->programmed + (size_t)block * ppb, 1, ppb);
		return EDGEMTA_E_IO;
	}
	if (torn) {
		/* a prefix erased, then some garbage, the rest as it was */
		k = sim_rand(s) % (fl->block_size + 1);
		g = sim_rand(s) % (fl->block_size - k + 1);
		memset(b, 0xff, k);
		for (i = k; i < k + g; i++) {
			b[i] = (uint8_t)sim_rand(s);
		}
		/* the pages are in an unknown state: never erased cleanly */
		for (i = 0; i < ppb; i++) {
			s->programmed[block * ppb + i] = 1;
		}
		return EDGEMTA_E_IO;
	}
	memset(b, 0xff, fl->block_size);
	memset(s->programmed + (size_t)block * ppb, 0, ppb);
	return 0;
}

static int
sim_sync(struct flash *fl)
{
	struct flash_sim *s = fl->ctx;

	if (s->dead) {
		return EDGEMTA_E_IO;
	}
	s->syncs++;
	if (s->sector != 0) {
		memcpy(s->durable, s->mem,
		    (size_t)fl->block_size * fl->block_count);
	}
	return 0;
}

static const struct flash_ops sim_ops = {
	sim_read, sim_prog, sim_erase, sim_sync
};

int
flash_sim_init(struct flash_sim *s, uint32_t page_size, uint32_t block_size,
    uint32_t block_count)
{
	size_t size = (size_t)block_size * block_count;

	memset(s, 0, sizeof(*s));
	if (page_size == 0 || block_size % page_size != 0 ||
	    block_count == 0) {
		return EDGEMTA_E_INVAL;
	}
	s->mem = malloc(size);
	s->programmed = calloc(size / page_size, 1);
	s->wear = calloc(block_count, sizeof(*s->wear));
	if (s->mem == NULL || s->programmed == NULL || s->wear == NULL) {
		flash_sim_free(s);
		return EDGEMTA_E_FULL;
	}
	memset(s->mem, 0xff, size);
	s->fl.ops = &sim_ops;
	s->fl.page_size = page_size;
	s->fl.block_size = block_size;
	s->fl.block_count = block_count;
	s->fl.ctx = s;
	s->rng = 1;
	return 0;
}

void
flash_sim_free(struct flash_sim *s)
{
	free(s->mem);
	free(s->programmed);
	free(s->wear);
	free(s->durable);
	s->mem = NULL;
	s->programmed = NULL;
	s->wear = NULL;
	s->durable = NULL;
}

int
flash_sim_file_model(struct flash_sim *s, uint32_t sector)
{
	size_t size = (size_t)s->fl.block_size * s->fl.block_count;

	if (sector == 0 || size % sector != 0) {
		return EDGEMTA_E_INVAL;
	}
	free(s->durable);
	s->durable = malloc(size);
	if (s->durable == NULL) {
		return EDGEMTA_E_FULL;
	}
	memcpy(s->durable, s->mem, size);
	s->sector = sector;
	s->fl.rewrite = true;
	return 0;
}

void
flash_sim_cut_at(struct flash_sim *s, uint64_t n)
{
	s->cut_at = n == 0 ? 0 : s->ops + n;
}

void
flash_sim_power_on(struct flash_sim *s)
{
	s->dead = false;
	s->cut_at = 0;
}
