/*
 * nor_ram.c - a NOR part in RAM (nor_ram.h).
 */
#include <string.h>

#include "nor_ram.h"

static int
ram_read(void *ctx, uint32_t addr, void *buf, uint32_t len)
{
	struct nor_ram *r = ctx;

	if ((uint64_t)addr + len > r->size) {
		r->violations++;
		return EDGEMTA_E_INVAL;
	}
	memcpy(buf, r->mem + addr, len);
	return 0;
}

static int
ram_program(void *ctx, uint32_t addr, const void *buf, uint32_t len)
{
	struct nor_ram *r = ctx;
	const uint8_t *src = buf;
	uint32_t i;

	if (len == 0 || (uint64_t)addr + len > r->size ||
	    addr % r->hal.prog_unit != 0 || len % r->hal.prog_unit != 0 ||
	    addr / r->hal.prog_page != (addr + len - 1) / r->hal.prog_page) {
		r->violations++;
		return EDGEMTA_E_INVAL;
	}
	for (i = 0; i < len; i++) {
		if ((r->mem[addr + i] & src[i]) != src[i]) {
			r->violations++;	/* a 0 bit cannot become 1 */
			return EDGEMTA_E_INVAL;
		}
	}
	for (i = 0; i < len; i++) {
		r->mem[addr + i] &= src[i];
	}
	return 0;
}

static int
ram_erase(void *ctx, uint32_t addr)
{
	struct nor_ram *r = ctx;

	if (addr % r->hal.sector_size != 0 ||
	    (uint64_t)addr + r->hal.sector_size > r->size) {
		r->violations++;
		return EDGEMTA_E_INVAL;
	}
	memset(r->mem + addr, 0xff, r->hal.sector_size);
	return 0;
}

void
nor_ram_init(struct nor_ram *r, uint8_t *mem, uint32_t size,
    uint32_t sector_size, uint32_t prog_page, uint32_t prog_unit)
{
	r->hal.read = ram_read;
	r->hal.program = ram_program;
	r->hal.erase = ram_erase;
	r->hal.ctx = r;
	r->hal.sector_size = sector_size;
	r->hal.prog_page = prog_page;
	r->hal.prog_unit = prog_unit;
	r->mem = mem;
	r->size = size;
	r->violations = 0;
}
