/*
 * flash_mtd.c - the queue on a raw MTD partition (flash_mtd.h).
 *
 * Logical block i of the queue is the i-th good erase block of the
 * partition: bad blocks are found once, at open, and left out, so the
 * queue sees a smaller but contiguous device. Records carry their own
 * sequence numbers, so a block that goes bad later (and shifts the
 * numbering at the next start) costs only what was in it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "flash_mtd.h"
#include "log.h"

struct flash_mtd {
	const struct flash_mtd_io *io;
	int fd;
	bool nand;
	uint32_t nbad;
	uint32_t *phys;		/* logical block -> physical block */
};

static struct flash_mtd *
fm_of(const struct flash *fl)
{
	return fl->ctx;
}

/* pread/pwrite all of len bytes at at, retrying short transfers. */
static int
fm_rw(struct flash_mtd *m, uint8_t *p, uint32_t len, int64_t at, bool wr)
{
	while (len > 0) {
		long n = wr ? m->io->pwrite(m->fd, p, len, at) :
		    m->io->pread(m->fd, p, len, at);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return EDGEMTA_E_IO;
		}
		p += n;
		at += n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int
fm_read(struct flash *fl, uint32_t off, void *buf, uint32_t len)
{
	struct flash_mtd *m = fm_of(fl);
	uint8_t *p = buf;

	/* a read may cross blocks: split it where the mapping jumps */
	while (len > 0) {
		uint32_t b = off / fl->block_size, in = off % fl->block_size;
		uint32_t k = MIN(fl->block_size - in, len);
		int r;

		if (b >= fl->block_count) {
			return EDGEMTA_E_INVAL;
		}
		r = fm_rw(m, p, k, (int64_t)m->phys[b] * fl->block_size + in,
		    false);
		if (r != 0) {
			return r;
		}
		p += k;
		off += k;
		len -= k;
	}
	return 0;
}

static int
fm_prog(struct flash *fl, uint32_t off, const void *buf, uint32_t len)
{
	struct flash_mtd *m = fm_of(fl);
	uint32_t b = off / fl->block_size;

	if (off % fl->page_size != 0 || len % fl->page_size != 0 ||
	    b != (off + len - 1) / fl->block_size || b >= fl->block_count) {
		return EDGEMTA_E_INVAL;
	}
	return fm_rw(m, (uint8_t *)(uintptr_t)buf, len,
	    (int64_t)m->phys[b] * fl->block_size + off % fl->block_size,
	    true);
}

static int
fm_erase(struct flash *fl, uint32_t block)
{
	struct flash_mtd *m = fm_of(fl);
	struct flash_mtd_erase e;
	int64_t at;

	if (block >= fl->block_count) {
		return EDGEMTA_E_INVAL;
	}
	e.start = m->phys[block] * fl->block_size;
	e.length = fl->block_size;
	if (m->io->ioctl(m->fd, FLASH_MTD_ERASE, &e) == 0) {
		return 0;
	}
	if (m->nand && errno == EIO) {
		/* worn out: never use it again (left out at the next open) */
		at = e.start;
		if (m->io->ioctl(m->fd, FLASH_MTD_SETBAD, &at) == 0) {
			log_err("queue: erase of flash block %lu failed; "
			    "marked bad, the queue shrinks by one block at "
			    "the next start", (unsigned long)m->phys[block]);
		}
	}
	return EDGEMTA_E_IO;
}

static int
fm_sync(struct flash *fl)
{
	/* the MTD character device has no cache: writes are on the chip */
	(void)fl;
	return 0;
}

static const struct flash_ops fm_ops = {
	fm_read, fm_prog, fm_erase, fm_sync
};

bool
flash_mtd_path(const char *path)
{
	return strncmp(path, "mtd:", 4) == 0 ||
	    (strncmp(path, "/dev/mtd", 8) == 0 &&
	    path[8] >= '0' && path[8] <= '9');
}

/* "mtd:NAME" -> "/dev/mtdN" through /proc/mtd ("mtd3: size erase \"NAME\""). */
static int
fm_lookup(const struct flash_mtd_io *io, const char *name, char *dev,
    size_t len)
{
	char line[256], want[128];
	unsigned n;
	FILE *f;
	int r = EDGEMTA_E_NOENT;

	if ((size_t)snprintf(want, sizeof(want), "\"%s\"", name) >=
	    sizeof(want)) {
		return EDGEMTA_E_INVAL;
	}
	f = fopen(io->proc_mtd, "r");
	if (f == NULL) {
		return EDGEMTA_E_NOENT;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *q = strchr(line, '"'), *p = line + 3;
		size_t wl = strlen(want);

		/* "mtdN:" by hand: sscanf would link all of scanf */
		for (n = 0; *p >= '0' && *p <= '9' && n < 100000; p++) {
			n = n * 10 + (unsigned)(*p - '0');
		}
		if (strncmp(line, "mtd", 3) == 0 && p > line + 3 && *p == ':' &&
		    q != NULL &&
		    strncmp(q, want, wl) == 0 &&
		    (q[wl] == '\n' || q[wl] == '\0')) {
			snprintf(dev, len, "/dev/mtd%u", n);
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

/* Check the geometry, find the bad blocks, build the block map. */
static int
fm_setup(struct flash *fl, struct flash_mtd *m, const char *dev,
    char *err, size_t errlen)
{
	struct flash_mtd_info mi;
	uint32_t nphys, i, n = 0;

	memset(&mi, 0, sizeof(mi));
	if (m->io->ioctl(m->fd, FLASH_MTD_GETINFO, &mi) != 0) {
		snprintf(err, errlen, "%s: not an MTD device (MEMGETINFO: %s)",
		    dev, strerror(errno));
		return EDGEMTA_E_INVAL;
	}
	m->nand = mi.type == FLASH_MTD_NAND || mi.type == FLASH_MTD_MLCNAND;
	if (mi.writesize == 0 || mi.erasesize == 0 ||
	    CONFIG_QUEUE_PAGE_SIZE % mi.writesize != 0 ||
	    mi.erasesize % CONFIG_QUEUE_PAGE_SIZE != 0) {
		snprintf(err, errlen, "%s: write size %lu / erase size %lu do "
		    "not fit CONFIG_QUEUE_PAGE_SIZE %u (it must be a multiple "
		    "of the write size and divide the erase size)", dev,
		    (unsigned long)mi.writesize, (unsigned long)mi.erasesize,
		    (unsigned)CONFIG_QUEUE_PAGE_SIZE);
		return EDGEMTA_E_INVAL;
	}
	nphys = mi.size / mi.erasesize;
	m->phys = malloc((nphys ? nphys : 1) * sizeof(*m->phys));
	if (m->phys == NULL) {
		return EDGEMTA_E_FULL;
	}
	for (i = 0; i < nphys; i++) {
		int64_t at = (int64_t)i * mi.erasesize;

		/* NOR answers EOPNOTSUPP: no bad blocks there */
		if (m->nand && m->io->ioctl(m->fd, FLASH_MTD_GETBAD, &at) > 0) {
			m->nbad++;
			continue;
		}
		m->phys[n++] = i;
	}
	if (n > CONFIG_QUEUE_MAX_BLOCKS) {
		snprintf(err, errlen, "%s: %lu erase blocks, more than "
		    "CONFIG_QUEUE_MAX_BLOCKS %u", dev, (unsigned long)n,
		    (unsigned)CONFIG_QUEUE_MAX_BLOCKS);
		return EDGEMTA_E_INVAL;
	}
	fl->ops = &fm_ops;
	fl->page_size = CONFIG_QUEUE_PAGE_SIZE;
	fl->block_size = mi.erasesize;
	fl->block_count = n;
	fl->rewrite = false;	/* NAND: one program per page */
	return 0;
}

int
flash_mtd_open(struct flash *fl, const char *path, bool rdonly,
    const struct flash_mtd_io *io, char *err, size_t errlen)
{
	struct flash_mtd *m;
	char dev[64];
	int r;

	memset(fl, 0, sizeof(*fl));
	err[0] = '\0';
	if (strncmp(path, "mtd:", 4) == 0) {
		r = fm_lookup(io, path + 4, dev, sizeof(dev));
		if (r != 0) {
			snprintf(err, errlen, "%s: no MTD partition named "
			    "\"%s\" in %s", path, path + 4, io->proc_mtd);
			return r;
		}
	} else {
		snprintf(dev, sizeof(dev), "%s", path);
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		return EDGEMTA_E_FULL;
	}
	m->io = io;
	m->fd = io->open(dev, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (m->fd < 0) {
		snprintf(err, errlen, "%s: %s", dev, strerror(errno));
		r = errno == ENOENT ? EDGEMTA_E_NOENT : EDGEMTA_E_IO;
		free(m);
		return r;
	}
	if (!rdonly && io->lock(m->fd) != 0) {
		r = errno == EWOULDBLOCK ? EDGEMTA_E_LOCKED : EDGEMTA_E_IO;
		goto fail;
	}
	r = fm_setup(fl, m, dev, err, errlen);
	if (r != 0) {
		goto fail;
	}
	fl->ctx = m;
	return 0;
fail:
	io->close(m->fd);
	free(m->phys);
	free(m);
	memset(fl, 0, sizeof(*fl));
	return r;
}

void
flash_mtd_close(struct flash *fl)
{
	struct flash_mtd *m = fm_of(fl);

	if (m != NULL) {
		m->io->close(m->fd);	/* releases the lock */
		free(m->phys);
		free(m);
	}
	fl->ctx = NULL;
}

bool
flash_mtd_owns(const struct flash *fl)
{
	return fl->ops == &fm_ops;
}

uint32_t
flash_mtd_bad_blocks(const struct flash *fl)
{
	return fm_of(fl) != NULL ? fm_of(fl)->nbad : 0;
}

/* ---- the kernel's MTD character device ---- */

static long
sys_pread(int fd, void *buf, size_t len, int64_t off)
{
	return (long)pread(fd, buf, len, (off_t)off);
}

static long
sys_pwrite(int fd, const void *buf, size_t len, int64_t off)
{
	return (long)pwrite(fd, buf, len, (off_t)off);
}

static int
sys_open(const char *path, int flags)
{
	return open(path, flags);
}

/* <mtd/mtd-abi.h>'s numbers, built with the target's own _IOR/_IOW. */
static int
sys_ioctl(int fd, enum flash_mtd_req req, void *arg)
{
	static const unsigned long nr[] = {
		[FLASH_MTD_GETINFO] = _IOR('M', 1, struct flash_mtd_info),
		[FLASH_MTD_ERASE] = _IOW('M', 2, struct flash_mtd_erase),
		[FLASH_MTD_GETBAD] = _IOW('M', 11, int64_t),
		[FLASH_MTD_SETBAD] = _IOW('M', 12, int64_t),
	};

	return ioctl(fd, nr[req], arg);
}

static int
sys_lock(int fd)
{
	return flock(fd, LOCK_EX | LOCK_NB);
}

const struct flash_mtd_io flash_mtd_sys = {
	sys_open, close, sys_pread, sys_pwrite, sys_ioctl, sys_lock,
	"/proc/mtd"
};
