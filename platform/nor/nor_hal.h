/*
 * nor_hal.h - the three operations a NOR flash driver provides to
 * flash_nor.c (a microcontroller's internal flash, or a SPI/QSPI NOR).
 * NOR rules, which the backend relies on and nor_ram.c models:
 *  - erase sets a whole sector to 0xFF;
 *  - program only clears bits (the result is old AND new) and may not
 *    cross a prog_page boundary (a SPI NOR page program wraps there);
 *  - nothing is ever rewritten: flash_nor programs each byte at most once
 *    between erases.
 * Each call returns when the operation is complete (the driver polls the
 * busy flag): 0, or a negative error (EDGEMTA_E_IO).
 */
#ifndef NOR_HAL_H
#define NOR_HAL_H

#include "edgemta.h"

struct nor_hal {
	/* Read len bytes at device address addr. */
	int (*read)(void *ctx, uint32_t addr, void *buf, uint32_t len);
	/* Program len bytes at addr: aligned to prog_unit, inside one
	 * prog_page. */
	int (*program)(void *ctx, uint32_t addr, const void *buf,
	    uint32_t len);
	/* Erase the sector that starts at addr. */
	int (*erase)(void *ctx, uint32_t addr);
	void *ctx;
	uint32_t sector_size;	/* erase unit (power of two) */
	uint32_t prog_page;	/* program boundary: 256 on SPI NOR */
	uint32_t prog_unit;	/* smallest programmable unit: 1, 4, 8, 16 */
};

#endif
