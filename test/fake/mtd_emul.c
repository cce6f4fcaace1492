/*
 * mtd_emul.c - MTD character device emulation (mtd_emul.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "mtd_emul.h"

#define EMUL_FD 4242

static struct mtd_emul *emul;

static struct flash *
chip(void)
{
	return &emul->sim.fl;
}

static int
e_open(const char *path, int flags)
{
	(void)flags;
	if (emul == NULL || strcmp(path, emul->dev) != 0) {
		errno = ENOENT;
		return -1;
	}
	emul->opens++;
	return EMUL_FD;
}

static int
e_close(int fd)
{
	if (fd != EMUL_FD || emul->opens == 0) {
		errno = EBADF;
		return -1;
	}
	emul->opens--;
	emul->locked = false;
	return 0;
}

static long
e_pread(int fd, void *buf, size_t len, int64_t off)
{
	struct flash *fl = chip();
	uint64_t end = (uint64_t)fl->block_size * fl->block_count;

	if (fd != EMUL_FD || off < 0 || (uint64_t)off + len > end) {
		errno = EINVAL;
		return -1;
	}
	if (fl->ops->read(fl, (uint32_t)off, buf, (uint32_t)len) != 0) {
		errno = EIO;
		return -1;
	}
	return (long)len;
}

/* The simulator enforces the write rules; a break or a cut is EIO. */
static long
e_pwrite(int fd, const void *buf, size_t len, int64_t off)
{
	struct flash *fl = chip();
	uint64_t end = (uint64_t)fl->block_size * fl->block_count;

	if (fd != EMUL_FD || off < 0 || (uint64_t)off + len > end) {
		errno = EINVAL;
		return -1;
	}
	if (emul->bad[(uint64_t)off / fl->block_size]) {
		errno = EIO;
		return -1;
	}
	if (fl->ops->prog(fl, (uint32_t)off, buf, (uint32_t)len) != 0) {
		errno = emul->sim.dead ? EIO : EINVAL;
		return -1;
	}
	return (long)len;
}

static int
e_block(int64_t off, uint32_t *b)
{
	struct flash *fl = chip();

	if (off < 0 || off % fl->block_size != 0 ||
	    (uint64_t)off / fl->block_size >= fl->block_count) {
		errno = EINVAL;
		return -1;
	}
	*b = (uint32_t)(off / fl->block_size);
	return 0;
}

static int
e_ioctl(int fd, enum flash_mtd_req req, void *arg)
{
	struct flash *fl = chip();
	struct flash_mtd_info *mi = arg;
	struct flash_mtd_erase *er = arg;
	uint32_t b;

	if (fd != EMUL_FD) {
		errno = EBADF;
		return -1;
	}
	switch (req) {
	case FLASH_MTD_GETINFO:
		memset(mi, 0, sizeof(*mi));
		mi->type = emul->type;
		mi->size = fl->block_size * fl->block_count;
		mi->erasesize = fl->block_size;
		mi->writesize = emul->type == FLASH_MTD_NOR ? 1 :
		    fl->page_size;
		return 0;
	case FLASH_MTD_ERASE:
		if (er->length != fl->block_size ||
		    e_block(er->start, &b) != 0) {
			errno = EINVAL;
			return -1;
		}
		if (emul->erase_fails[b] || emul->bad[b]) {
			errno = EIO;
			return -1;
		}
		if (fl->ops->erase(fl, b) != 0) {
			errno = EIO;
			return -1;
		}
		return 0;
	case FLASH_MTD_GETBAD:
		if (emul->type == FLASH_MTD_NOR) {
			errno = EOPNOTSUPP;
			return -1;
		}
		if (e_block(*(int64_t *)arg, &b) != 0) {
			return -1;
		}
		return emul->bad[b] ? 1 : 0;
	case FLASH_MTD_SETBAD:
		if (emul->type == FLASH_MTD_NOR ||
		    e_block(*(int64_t *)arg, &b) != 0) {
			errno = EINVAL;
			return -1;
		}
		emul->bad[b] = true;
		emul->setbad_calls++;
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

static int
e_lock(int fd)
{
	if (fd != EMUL_FD) {
		errno = EBADF;
		return -1;
	}
	if (emul->locked) {
		errno = EWOULDBLOCK;
		return -1;
	}
	emul->locked = true;
	return 0;
}

static char emul_proc_path[256];

const struct flash_mtd_io mtd_emul_io = {
	e_open, e_close, e_pread, e_pwrite, e_ioctl, e_lock, emul_proc_path
};

int
mtd_emul_init(struct mtd_emul *e, uint8_t type, uint32_t write_size,
    uint32_t block_size, uint32_t block_count, const char *dev,
    const char *name, const char *proc_path)
{
	FILE *f;
	int r;

	if (block_count > MTD_EMUL_MAX_BLOCKS) {
		return EDGEMTA_E_INVAL;
	}
	memset(e, 0, sizeof(*e));
	r = flash_sim_init(&e->sim, write_size, block_size, block_count);
	if (r != 0) {
		return r;
	}
	e->type = type;
	snprintf(e->dev, sizeof(e->dev), "%s", dev);
	emul = e;
	snprintf(emul_proc_path, sizeof(emul_proc_path), "%s", proc_path);
	f = fopen(proc_path, "w");
	if (f == NULL) {
		return EDGEMTA_E_IO;
	}
	/* the kernel's format; a decoy partition first */
	fprintf(f, "dev:    size   erasesize  name\n"
	    "mtd0: 00040000 00010000 \"u-boot\"\n"
	    "mtd%s: %08lx %08lx \"%s\"\n", dev + strlen("/dev/mtd"),
	    (unsigned long)block_size * block_count,
	    (unsigned long)block_size, name);
	fclose(f);
	return 0;
}

void
mtd_emul_free(struct mtd_emul *e)
{
	flash_sim_free(&e->sim);
	if (emul == e) {
		emul = NULL;
	}
}
