/*
 * flash_nor.c - core/flash.h on a NOR part (flash_nor.h). NOR programs
 * synchronously, so sync() has nothing left to flush.
 */
#include "flash_nor.h"

static int
nor_read(struct flash *fl, uint32_t off, void *buf, uint32_t len)
{
	struct flash_nor *n = fl->ctx;

	if ((uint64_t)off + len > (uint64_t)fl->block_size * fl->block_count) {
		return EDGEMTA_E_INVAL;
	}
	return n->hal->read(n->hal->ctx, n->base + off, buf, len) == 0 ?
	    0 : EDGEMTA_E_IO;
}

static int
nor_prog(struct flash *fl, uint32_t off, const void *buf, uint32_t len)
{
	struct flash_nor *n = fl->ctx;
	const struct nor_hal *h = n->hal;
	const uint8_t *p = buf;
	uint32_t addr = n->base + off, chunk;

	if (len == 0 || off % fl->page_size != 0 ||
	    len % fl->page_size != 0 ||
	    off / fl->block_size != (off + len - 1) / fl->block_size ||
	    (uint64_t)off + len > (uint64_t)fl->block_size * fl->block_count) {
		return EDGEMTA_E_INVAL;
	}
	while (len > 0) {
		/* up to the next program-page boundary */
		chunk = MIN(len, h->prog_page - addr % h->prog_page);
		if (h->program(h->ctx, addr, p, chunk) != 0) {
			return EDGEMTA_E_IO;
		}
		addr += chunk;
		p += chunk;
		len -= chunk;
	}
	return 0;
}

static int
nor_erase(struct flash *fl, uint32_t block)
{
	struct flash_nor *n = fl->ctx;
	const struct nor_hal *h = n->hal;
	uint32_t addr, end;

	if (block >= fl->block_count) {
		return EDGEMTA_E_INVAL;
	}
	addr = n->base + block * fl->block_size;
	for (end = addr + fl->block_size; addr < end; addr += h->sector_size) {
		if (h->erase(h->ctx, addr) != 0) {
			return EDGEMTA_E_IO;
		}
	}
	return 0;
}

static int
nor_sync(struct flash *fl)
{
	(void)fl;
	return 0;
}

static const struct flash_ops nor_ops = {
	nor_read, nor_prog, nor_erase, nor_sync
};

int
flash_nor_init(struct flash_nor *n, const struct nor_hal *hal,
    uint32_t base, uint32_t size, uint32_t block_size, uint32_t page_size)
{
	if (hal->sector_size == 0 || hal->prog_unit == 0 ||
	    hal->prog_page == 0 || hal->prog_page % hal->prog_unit != 0 ||
	    base % hal->sector_size != 0 || block_size == 0 ||
	    block_size % hal->sector_size != 0 || size == 0 ||
	    size % block_size != 0 || page_size == 0 ||
	    page_size % hal->prog_unit != 0 || block_size % page_size != 0) {
		return EDGEMTA_E_INVAL;
	}
	n->hal = hal;
	n->base = base;
	n->fl.ops = &nor_ops;
	n->fl.page_size = page_size;
	n->fl.block_size = block_size;
	n->fl.block_count = size / block_size;
	n->fl.rewrite = false;	/* many NOR parts (ECC) forbid it */
	n->fl.ctx = n;
	return 0;
}
