/*
 * mtd_emul.h - the kernel's MTD character device, emulated in user space
 * over the flash simulator (this kernel has no MTD, mtdram or nandsim):
 * the system calls of flash_mtd.h's struct flash_mtd_io, with NOR or NAND
 * rules (the simulator's: a write unit programmed once between erases,
 * aligned, inside one erase block), bad blocks (MEMGETBADBLOCK /
 * MEMSETBADBLOCK), erases made to fail, and the simulator's power cuts.
 */
#ifndef MTD_EMUL_H
#define MTD_EMUL_H

#include "flash_mtd.h"
#include "flash_sim.h"

#define MTD_EMUL_MAX_BLOCKS 64

struct mtd_emul {
	struct flash_sim sim;	/* the chip: its mem, wear, cuts */
	uint8_t type;		/* FLASH_MTD_NOR or FLASH_MTD_NAND */
	char dev[32];		/* "/dev/mtd5" */
	bool bad[MTD_EMUL_MAX_BLOCKS];
	bool erase_fails[MTD_EMUL_MAX_BLOCKS];	/* EIO on erase */
	unsigned setbad_calls;
	bool locked;
	int opens;		/* open descriptors */
};

/* The io to hand flash_mtd_open; it acts on the emulation set up last. */
extern const struct flash_mtd_io mtd_emul_io;

/*
 * A blank chip of block_count erase blocks of block_size bytes, written in
 * units of write_size (the simulator's page), reachable as dev; its
 * /proc/mtd lists it as "name" (written to proc_path). 0 or an error.
 */
int mtd_emul_init(struct mtd_emul *e, uint8_t type, uint32_t write_size,
    uint32_t block_size, uint32_t block_count, const char *dev,
    const char *name, const char *proc_path);

void mtd_emul_free(struct mtd_emul *e);

#endif
