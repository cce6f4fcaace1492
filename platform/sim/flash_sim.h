/*
 * flash_sim.h - a simulated flash in RAM for tests: erase to 0xFF, the
 * rules of flash.h enforced (a page programmed twice between erases, a
 * misaligned or block-straddling prog: EDGEMTA_E_INVAL and a counted
 * violation), wear per block, and power cuts injected at any program or
 * erase operation.
 *
 * A cut at operation n (1-based count of prog + erase calls) tears that
 * operation: a prog writes only a deterministic pseudo-random prefix of
 * its bytes (optionally with a flipped bit in it), an erase leaves the
 * block partly erased and partly garbage. Every operation after it
 * (read, prog, erase, sync) fails with EDGEMTA_E_IO until
 * flash_sim_power_on(). sync is a barrier only: nothing is lost on a cut
 * that was not torn.
 *
 * The file model (flash_sim_file_model()) is the medium under a queue
 * file instead (an SD card, eMMC, an SSD without power-loss protection):
 * writes since the last sync reach it in any order, each sector of a
 * given size atomically. At a cut, the cut operation is done or not, then
 * every sector changed since the last sync ends up old or new.
 *
 * With `nor` set, cuts tear the way a NOR part does instead: a prog is
 * done for whole 32-bit words up to a random point, the word in flight
 * gets a random subset of its 1 -> 0 transitions, the rest is untouched
 * (never a bit cleared that the data keeps at 1); an erase leaves every
 * bit of the block either as it was or erased (only 0 -> 1).
 */
#ifndef FLASH_SIM_H
#define FLASH_SIM_H

#include "flash.h"

struct flash_sim {
	struct flash fl;	/* hand &sim->fl to the queue */
	uint8_t *mem;		/* device bytes: tests inspect/craft */
	uint8_t *programmed;	/* per page: programmed since erase */
	uint32_t *wear;		/* per block: erases */
	uint64_t ops;		/* prog + erase calls so far */
	uint64_t progs, erases, syncs, reads;
	uint64_t violations;	/* rule breaks seen */
	uint64_t cut_at;	/* 0: never */
	bool dead;		/* power is off after a cut */
	bool bitflips;		/* flip a bit in torn programs */
	bool nor;		/* NOR tearing (see above); no bitflips */
	uint32_t rng;
	uint32_t sector;	/* file model: atomic unit (0: NOR-like) */
	uint8_t *durable;	/* file model: the device at the last sync */
};

/* Allocate a blank (all 0xFF) device. 0 or EDGEMTA_E_INVAL/E_FULL. */
int flash_sim_init(struct flash_sim *s, uint32_t page_size,
    uint32_t block_size, uint32_t block_count);

void flash_sim_free(struct flash_sim *s);

/*
 * Switch to the file model with sectors of sector bytes (512, 4096...),
 * pages rewritable (fl.rewrite, as the file backend). 0 or E_FULL.
 */
int flash_sim_file_model(struct flash_sim *s, uint32_t sector);

/* Tear the n-th program/erase operation from now on (counted from 1). */
void flash_sim_cut_at(struct flash_sim *s, uint64_t n);

/* Power back on after a cut: operations work again, no cut pending. */
void flash_sim_power_on(struct flash_sim *s);

#endif
