/*
 * flash_file.c - the queue's flash as a preallocated file (flash_file.h).
 * Erase = write 0xFF over the block, sync = fdatasync. A new file is
 * built as PATH.tmp.PID, filled, synced and renamed into place, so a
 * crash while creating never leaves a half-initialised queue file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flash_file.h"

struct flash_file {
	int fd;
};

static int
ff_fd(struct flash *fl)
{
	return ((struct flash_file *)fl->ctx)->fd;
}

/* pread/pwrite all of len bytes at off, retrying short transfers. */
static int
ff_rw(int fd, uint32_t off, uint8_t *p, uint32_t len, bool wr)
{
	while (len > 0) {
		ssize_t n = wr ? pwrite(fd, p, len, off) :
		    pread(fd, p, len, off);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return EDGEMTA_E_IO;
		}
		p += n;
		off += (uint32_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int
ff_read(struct flash *fl, uint32_t off, void *buf, uint32_t len)
{
	return ff_rw(ff_fd(fl), off, buf, len, false);
}

static int
ff_write(int fd, uint32_t off, const void *buf, uint32_t len)
{
	return ff_rw(fd, off, (uint8_t *)(uintptr_t)buf, len, true);
}

static int
ff_prog(struct flash *fl, uint32_t off, const void *buf, uint32_t len)
{
	if (off % fl->page_size != 0 || len % fl->page_size != 0 ||
	    off / fl->block_size != (off + len - 1) / fl->block_size) {
		return EDGEMTA_E_INVAL;
	}
	return ff_write(ff_fd(fl), off, buf, len);
}

static int
ff_fill(int fd, uint32_t off, uint32_t len)
{
	static uint8_t ones[4096];
	int r = 0;

	memset(ones, 0xff, sizeof(ones));
	while (r == 0 && len > 0) {
		uint32_t k = len < sizeof(ones) ? len : sizeof(ones);

		r = ff_write(fd, off, ones, k);
		off += k;
		len -= k;
	}
	return r;
}

static int
ff_erase(struct flash *fl, uint32_t block)
{
	if (block >= fl->block_count) {
		return EDGEMTA_E_INVAL;
	}
	return ff_fill(ff_fd(fl), block * fl->block_size, fl->block_size);
}

static int
ff_sync(struct flash *fl)
{
	return fdatasync(ff_fd(fl)) == 0 ? 0 : EDGEMTA_E_IO;
}

static const struct flash_ops ff_ops = {
	ff_read, ff_prog, ff_erase, ff_sync
};

/* Create path full of 0xFF, atomically. */
static int
ff_create(const char *path, uint32_t size)
{
	char tmp[4096];
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof(tmp)) {
		return EDGEMTA_E_INVAL;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		return errno == ENOENT ? EDGEMTA_E_NOENT : EDGEMTA_E_IO;
	}
	r = ff_fill(fd, 0, size);
	if (r == 0 && fsync(fd) != 0) {
		r = EDGEMTA_E_IO;
	}
	close(fd);
	if (r == 0 && rename(tmp, path) != 0) {
		r = EDGEMTA_E_IO;
	}
	if (r != 0) {
		unlink(tmp);
	}
	return r;
}

int
flash_file_open(struct flash *fl, const char *path, uint32_t size,
    bool rdonly)
{
	struct flash_file *ff;
	struct stat st;
	uint32_t bs = CONFIG_QUEUE_BLOCK_SIZE;
	int fd, r;

	memset(fl, 0, sizeof(*fl));
	fd = open(path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && !rdonly) {
		if (size / bs == 0) {
			return EDGEMTA_E_INVAL;
		}
		r = ff_create(path, size / bs * bs);
		if (r != 0) {
			return r;
		}
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0) {
		return errno == ENOENT ? EDGEMTA_E_NOENT : EDGEMTA_E_IO;
	}
	if (!rdonly && flock(fd, LOCK_EX | LOCK_NB) != 0) {
		r = errno == EWOULDBLOCK ? EDGEMTA_E_LOCKED : EDGEMTA_E_IO;
		close(fd);
		return r;
	}
	if (fstat(fd, &st) != 0 || st.st_size / bs == 0 ||
	    st.st_size / bs > 0xffffffffu / bs) {
		close(fd);
		return EDGEMTA_E_INVAL;
	}
	ff = malloc(sizeof(*ff));
	if (ff == NULL) {
		close(fd);
		return EDGEMTA_E_FULL;
	}
	ff->fd = fd;
	fl->ops = &ff_ops;
	fl->page_size = CONFIG_QUEUE_PAGE_SIZE;
	fl->block_size = bs;
	fl->block_count = (uint32_t)(st.st_size / bs);
	fl->rewrite = true;
	fl->ctx = ff;
	return 0;
}

void
flash_file_close(struct flash *fl)
{
	struct flash_file *ff = fl->ctx;

	if (ff != NULL) {
		close(ff->fd);	/* releases the lock */
		free(ff);
	}
	fl->ctx = NULL;
}
