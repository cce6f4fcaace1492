/*
 * flash.h - the flash abstraction every queue backend implements.
 *
 * The strictest common semantics, so one queue works on a file, a raw MTD
 * partition and a microcontroller's NOR:
 *  - geometry: block_count erase blocks of block_size bytes, programmed in
 *    pages of page_size bytes; erased bits read as 1 (0xFF bytes);
 *  - a page is programmed at most once between erases (NAND rule),
 *    unless the backend sets `rewrite` (see below);
 *  - prog() writes whole pages inside one block; never straddles a block;
 *  - after sync() returns 0, everything programmed and erased before it
 *    survives a power cut.
 * Offsets are byte offsets from the start of the device.
 */
#ifndef FLASH_H
#define FLASH_H

#include "edgemta.h"

struct flash;

struct flash_ops {
	/* Read len bytes at off. 0 or EDGEMTA_E_IO. */
	int (*read)(struct flash *fl, uint32_t off, void *buf, uint32_t len);
	/* Program len bytes (whole pages, page aligned) at off. */
	int (*prog)(struct flash *fl, uint32_t off, const void *buf,
	    uint32_t len);
	/* Erase one block to 0xFF. */
	int (*erase)(struct flash *fl, uint32_t block);
	/* Make all previous prog/erase durable. */
	int (*sync)(struct flash *fl);
};

struct flash {
	const struct flash_ops *ops;
	uint32_t page_size;
	uint32_t block_size;
	uint32_t block_count;
	/*
	 * A page may be programmed again, with more bytes after the ones
	 * already there (a file: the OS keeps what was written if the
	 * process dies). The queue then writes pending results at the end
	 * of each loop turn without padding the page (queue_flush_results).
	 */
	bool rewrite;
	void *ctx;		/* backend state */
};

static inline int
flash_read(struct flash *fl, uint32_t off, void *buf, uint32_t len)
{
	return fl->ops->read(fl, off, buf, len);
}

static inline int
flash_prog(struct flash *fl, uint32_t off, const void *buf, uint32_t len)
{
	return fl->ops->prog(fl, off, buf, len);
}

static inline int
flash_erase(struct flash *fl, uint32_t block)
{
	return fl->ops->erase(fl, block);
}

static inline int
flash_sync(struct flash *fl)
{
	return fl->ops->sync(fl);
}

#endif
