/*
 * flash_file.h - the file-backed flash of the Linux build: a preallocated
 * file, erase = write 0xFF, sync = fdatasync. Geometry from
 * CONFIG_QUEUE_PAGE_SIZE / CONFIG_QUEUE_BLOCK_SIZE.
 */
#ifndef FLASH_FILE_H
#define FLASH_FILE_H

#include "flash.h"

/*
 * Open (creating and filling with 0xFF if missing) the queue file at
 * path with size bytes (rounded down to whole blocks; an existing file
 * keeps its own size). Unless rdonly, takes an exclusive lock:
 * EDGEMTA_E_LOCKED if another process holds it. Returns 0 or an error.
 */
int flash_file_open(struct flash *fl, const char *path, uint32_t size,
    bool rdonly);

void flash_file_close(struct flash *fl);

#endif
