/*
 * nor_ram.h - a nor_hal driver over a byte array with NOR rules (program
 * ANDs, erase sets 0xFF): the firmware's flash region under qemu (RAM
 * that survives a machine reset), and the unit tests' NOR part. A rule
 * broken by the caller (misaligned, across a prog_page, a bit that would
 * have to go 0 -> 1) returns EDGEMTA_E_INVAL and counts a violation.
 */
#ifndef NOR_RAM_H
#define NOR_RAM_H

#include "nor_hal.h"

struct nor_ram {
	struct nor_hal hal;	/* hand &ram->hal to flash_nor_init() */
	uint8_t *mem;
	uint32_t size;
	uint32_t violations;
};

/* mem: size bytes, left as they are (a region that survived a reset). */
void nor_ram_init(struct nor_ram *r, uint8_t *mem, uint32_t size,
    uint32_t sector_size, uint32_t prog_page, uint32_t prog_unit);

#endif
