/*
 * flash_mtd.h - the queue's flash as a raw MTD partition (/dev/mtdN), the
 * ring directly on the chip with no file system or journal in between.
 *
 * Geometry from MEMGETINFO: a block is one erase block, a page is
 * CONFIG_QUEUE_PAGE_SIZE (a multiple of the chip's write size); erase is
 * MEMERASE, prog a page-aligned pwrite, sync nothing (the MTD character
 * device writes through to the chip). On NAND, blocks marked bad
 * (MEMGETBADBLOCK) are skipped when the partition is opened: the ring is
 * made of the good blocks only and shrinks instead of failing. A block
 * whose erase fails is marked bad (MEMSETBADBLOCK) and the erase reports
 * EDGEMTA_E_IO; the next start leaves it out.
 *
 * Every system call goes through struct flash_mtd_io so that the tests can
 * put an emulation of the MTD ioctls (over the flash simulator) where the
 * kernel would be: this kernel has no MTD.
 */
#ifndef FLASH_MTD_H
#define FLASH_MTD_H

#include <stddef.h>
#include <stdint.h>

#include "flash.h"

/* The parts of <mtd/mtd-abi.h> used, spelt out: musl has no kernel
 * headers, and the ioctl numbers come from the target's <sys/ioctl.h>. */
struct flash_mtd_info {
	uint8_t type;		/* FLASH_MTD_NOR, _NAND, ... */
	uint32_t flags;
	uint32_t size;		/* bytes in the partition */
	uint32_t erasesize;
	uint32_t writesize;
	uint32_t oobsize;
	uint64_t padding;
};

struct flash_mtd_erase {
	uint32_t start;
	uint32_t length;
};

#define FLASH_MTD_RAM 1
#define FLASH_MTD_NOR 3
#define FLASH_MTD_NAND 4
#define FLASH_MTD_MLCNAND 8

enum flash_mtd_req {
	FLASH_MTD_GETINFO,	/* arg: struct flash_mtd_info * */
	FLASH_MTD_ERASE,	/* arg: struct flash_mtd_erase * */
	FLASH_MTD_GETBAD,	/* arg: int64_t *offset; returns 1 bad, 0 good */
	FLASH_MTD_SETBAD	/* arg: int64_t *offset */
};

/* System calls as the backend makes them; -1 and errno on failure. */
struct flash_mtd_io {
	int (*open)(const char *path, int flags);
	int (*close)(int fd);
	long (*pread)(int fd, void *buf, size_t len, int64_t off);
	long (*pwrite)(int fd, const void *buf, size_t len, int64_t off);
	int (*ioctl)(int fd, enum flash_mtd_req req, void *arg);
	int (*lock)(int fd);	/* exclusive, non-blocking */
	const char *proc_mtd;	/* "/proc/mtd": names of the partitions */
};

/* The kernel's MTD character devices. */
extern const struct flash_mtd_io flash_mtd_sys;

/* True when path names an MTD partition: "mtd:NAME" or "/dev/mtdN". */
bool flash_mtd_path(const char *path);

/*
 * Open the partition path ("mtd:NAME" looked up in /proc/mtd, or
 * "/dev/mtdN"; not "/dev/mtdblockN"). Unless rdonly, takes an exclusive
 * lock (EDGEMTA_E_LOCKED when another process has it). On an error, a
 * sentence for the admin in err. io: &flash_mtd_sys, or an emulation.
 */
int flash_mtd_open(struct flash *fl, const char *path, bool rdonly,
    const struct flash_mtd_io *io, char *err, size_t errlen);

void flash_mtd_close(struct flash *fl);

/* True when fl was opened by flash_mtd_open. */
bool flash_mtd_owns(const struct flash *fl);

/* Blocks of the partition that are marked bad (left out of the ring). */
uint32_t flash_mtd_bad_blocks(const struct flash *fl);

/*
 * The queue's flash for path: an MTD partition (flash_mtd_path) or a
 * preallocated file of size bytes (flash_file.h). err as above.
 */
int flash_open_queue(struct flash *fl, const char *path, uint32_t size,
    bool rdonly, char *err, size_t errlen);
void flash_close_queue(struct flash *fl);

#endif
