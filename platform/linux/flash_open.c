/*
 * flash_open.c - which flash backend holds the queue: a raw MTD partition
 * for "mtd:NAME" or "/dev/mtdN" (with CONFIG_FLASH_MTD), else a
 * preallocated file.
 */
#include <stdio.h>

#include "flash_file.h"
#include "flash_mtd.h"

int
flash_open_queue(struct flash *fl, const char *path, uint32_t size,
    bool rdonly, char *err, size_t errlen)
{
	int r;

	if (flash_mtd_path(path)) {
		if (!CONFIG_FLASH_MTD) {
			snprintf(err, errlen, "%s: this build has no MTD "
			    "support (CONFIG_FLASH_MTD)", path);
			return EDGEMTA_E_INVAL;
		}
		return flash_mtd_open(fl, path, rdonly, &flash_mtd_sys, err,
		    errlen);
	}
	r = flash_file_open(fl, path, size, rdonly);
	if (r != 0) {
		snprintf(err, errlen, "%s: %s", path, edgemta_strerror(r));
	}
	return r;
}

void
flash_close_queue(struct flash *fl)
{
	if (flash_mtd_owns(fl)) {
		flash_mtd_close(fl);
	} else {
		flash_file_close(fl);
	}
}
