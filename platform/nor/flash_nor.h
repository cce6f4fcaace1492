/*
 * flash_nor.h - the queue's flash (core/flash.h) on a NOR part, through
 * a nor_hal driver: a region of the device [base, base + size) becomes
 * size / block_size erase blocks of block_size bytes (one or more NOR
 * sectors) programmed in pages of page_size bytes (the queue's
 * CONFIG_QUEUE_PAGE_SIZE, a multiple of the part's prog_unit). The
 * on-flash format is the one of every other backend: a queue written by
 * the host's file or simulator backend reads here, and the reverse, when
 * the page and block sizes agree. RAM: this structure only (no buffer).
 */
#ifndef FLASH_NOR_H
#define FLASH_NOR_H

#include "flash.h"
#include "nor_hal.h"

struct flash_nor {
	struct flash fl;	/* hand &nor->fl to queue_open() */
	const struct nor_hal *hal;
	uint32_t base;
};

/*
 * 0, or EDGEMTA_E_INVAL when the geometry does not fit the part: base
 * and block_size not multiples of the sector size, size not a multiple
 * of block_size, page_size not a multiple of prog_unit or not dividing
 * block_size.
 */
int flash_nor_init(struct flash_nor *n, const struct nor_hal *hal,
    uint32_t base, uint32_t size, uint32_t block_size, uint32_t page_size);

#endif
