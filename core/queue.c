/*
 * queue.c - the durable message queue: record format, the write path
 * and group commit.
 * The index, readers and delivery results are in queue_index.c, recovery
 * in queue_scan.c, reclaim and copy-forward in queue_gc.c.
 *
 * On-flash format, version 2 (all fields little-endian, on every target):
 *
 * Every used erase block starts with a 16-byte block header:
 *   0  "EMQ"        magic
 *   3  u8  version  2 (a newer version is refused: EDGEMTA_E_VERSION;
 *                   future versions keep these 16 bytes as they are;
 *                   blocks of version 1 are still read, see below)
 *   4  u32 seq      block sequence number, +1 for each block taken
 *   8  u32 erases   times this block was erased
 *   12 u32 crc      CRC-32 of bytes 0..11
 * An all-0xFF block is free. Blocks are taken as a ring in physical
 * order (so wear spreads evenly) and read in seq order.
 *
 * Records follow, packed; they may cross pages but never blocks:
 *   0  u8  type     QR_* below; 0xFF = erased: skip to the next page
 *   1  u8  flags    QR_F_COPY on every record of a copied-forward message;
 *                   QR_F_SYNCED on the first record after each sync
 *                   (what comes before it is durable: queue_scan.c tells
 *                   a power cut's torn writes after it from damage)
 *   2  u16 len      payload bytes (<= CONFIG_QUEUE_REC_MAX)
 *   4  u32 id       message id
 *   8  u32 crc      CRC-32 of u32 block seq, u32 offset of the record in
 *                   its block, then the header (crc field zero) and the
 *                   payload: a record is valid only where it was written
 *                   and in the life of the block it was written in (not
 *                   after the block was erased and taken again, not as
 *                   bytes inside another record)
 * Payloads:
 *   ENV    u64 arrival, u8 msgflags (QUEUE_MSG_*), sender (no NUL)
 *   RCPT   u16 index, u8 state (enum queue_rcpt_state), address
 *   DATA   message bytes
 *   COMMIT u16 nrcpt, u32 total data length, u32 CRC-32 of all data
 *   DONE   u16 index, u8 state (SENT or FAILED)
 *   DEFER  u64 next_try, u16 attempts, reason text (<= 200)
 *   DELETE (empty)  the message is gone
 *   ABORT  (empty)  an unsealed message was abandoned
 *   BOOT   u32 first id, u32 first block seq of the session: the first
 *          record written after each queue_open(), synced at once
 *          (queue_scan.c, "Identity")
 *   MARK   (empty) the last record queue_close() writes on a file,
 *          synced: the whole log before it is durable
 * A message exists once ENV, RCPT 0..n-1, DATA... and a COMMIT whose
 * counts and CRC match are all found. A copy (QR_F_COPY, written by
 * queue_gc.c) is a complete ENV..COMMIT sequence with the same id whose
 * RCPT records carry the recipients' states; the latest complete copy
 * wins. A copy is written in one go, so at most one is unfinished.
 *
 * Pages are programmed once: one page-sized RAM buffer; a full page is
 * programmed at once, queue_commit() pads and programs a partial page
 * and the next record starts on the next page. After a power cut the
 * next writer starts on a fully erased page after everything found in
 * the head block, with a BOOT record: that is the only record the
 * scanner accepts after a torn area inside a block, so it resynchronises
 * there without being fooled by message bytes. BOOT also tells recovery
 * that every message unsealed at that point is dead.
 *
 * Capacity: new mail (ENV, RCPT, DATA) never takes a block when that
 * would leave fewer than q_keep_blocks() free: CONFIG_QUEUE_RESERVE_BLOCKS
 * for delivery results and copies, plus enough to copy forward the
 * biggest queued message (see queue_gc.c). Nor does it fill the rest of
 * a head block that a delivery result, a COMMIT or a copy took from the
 * reserve (fewer than q_keep_blocks() free): the reserve is spent only
 * on what it is for, so DONE records and copy-forward always find room
 * and reclaim always gets it back. DEFER and ABORT records are optional
 * (a lost DEFER means an earlier retry and a stale reason, a lost ABORT
 * is cleaned up by the next BOOT): they take a block only while half
 * of the reserve is left and are otherwise kept in RAM or skipped, so a
 * message deferred forever cannot eat the reserve either. Nothing queued
 * is ever dropped to make room; the writer gets EDGEMTA_E_FULL instead.
 *
 * Erasing: reclaim frees the tail block without touching it (STALE); the
 * head erases a block when it takes it. On a file the erase and the new
 * records then reach the disk in one write, and reclaim needs no sync.
 * A stale block still holds valid records, so two rules keep recovery
 * right: stale blocks are erased oldest first (every record that came
 * after a stale block is still there, so its finished messages stay
 * finished), and a stale block is not erased before a copy made from it
 * is durable, nor while no other durable block header would remain.
 *
 * Version 1 (earlier builds) differs only in the record CRC (header
 * and payload alone) and an empty BOOT; its blocks are read as they are
 * and new records go to version-2 blocks, so a queue is migrated as the
 * ring turns. A binary of version 1 refuses a migrated queue.
 *
 * Damage (queue_scan.c): recovery skips a bad range to the next valid
 * record, recognises a block with a damaged header by its records, and
 * drops a message only for its own records; each damaged range and each
 * message lost is logged and counted (queue_stats()).
 *
 * Durability: a seal is synced by the next queue_commit() (group commit,
 * before the 250). Delivery results need no sync of their own: they ride
 * on the next commit or queue_sync_results() (queue.h).
 */
#include <string.h>

#include "queue_int.h"
#include "platform.h"

struct q_state q;

/* ---- flash access ---- */

/* Block b was written by format 1 (its records carry no position). */
bool
q_blk_v1(uint32_t b)
{
	return (q.v1[b / 8] >> (b % 8)) & 1u;
}

/*
 * The CRC every record starts from: its block's seq and its offset in
 * the block (format 2), so that a record is valid only where it was
 * written, in the life of the block it was written in.
 */
uint32_t
q_rec_crc0(uint32_t b, uint32_t off)
{
	uint8_t pos[8];

	if (q_blk_v1(b)) {
		return 0;
	}
	put_le32(pos, q.blk[b].seq);
	put_le32(pos + 4, off);
	return crc32_update(0, pos, sizeof(pos));
}

uint32_t
q_avail(void)
{
	return q.nblk - q.nused;
}

/*
 * Change block b's state, keeping the count of used blocks and the tail:
 * blocks are taken with ever higher seqs and only the tail is ever freed,
 * so the next tail is nearly always the next block in ring order.
 */
void
q_blk_set(uint32_t b, uint8_t state)
{
	uint32_t n = (b + 1) % q.nblk;

	if (state == QB_USED && q.nused == 0) {
		q.tail = b;
		q.tail_ok = true;
	} else if (state != QB_USED && q.blk[b].state == QB_USED &&
	    q.tail_ok && b == q.tail) {
		q.tail = n;
		q.tail_ok = q.blk[n].state == QB_USED &&
		    q.blk[n].seq == q.blk[b].seq + 1;
	}
	q.nused += (state == QB_USED) - (q.blk[b].state == QB_USED);
	/* stale blocks come in seq order: keep a lower bound of theirs */
	if (state == QB_STALE && q.blk[b].state != QB_STALE) {
		q.stale_lo = q.nstale++ == 0 ? q.blk[b].seq :
		    MIN(q.stale_lo, q.blk[b].seq);
	} else if (state != QB_STALE && q.blk[b].state == QB_STALE) {
		q.nstale--;
		q.stale_lo += q.blk[b].seq == q.stale_lo;	/* seqs unique */
	}
	q.blk[b].state = state;
}

/* Used block with the smallest seq, or -1. */
int
q_tail(void)
{
	uint32_t b;
	int t = -1;

	if (q.nused == 0) {
		return -1;
	}
	if (q.tail_ok) {
		return (int)q.tail;
	}
	for (b = 0; b < q.nblk; b++) {
		if (q.blk[b].state == QB_USED && (t < 0 ||
		    q.blk[b].seq < q.blk[t].seq)) {
			t = (int)b;
		}
	}
	q.tail = (uint32_t)t;
	q.tail_ok = true;
	return t;
}

static int
q_fail(int err)
{
	if (q.err == 0) {
		q.err = err;
	}
	return err;
}

/*
 * Read len bytes at device offset off through the read cache (one
 * window, see Q_RC_SIZE): a scan costs about one flash read per block.
 */
int
q_read(uint32_t off, void *buf, uint32_t len)
{
	uint8_t *p = buf;
	uint32_t w, k;
	int r;

	while (len > 0) {
		w = off - off % q.rcsize;
		if (!q.rcvalid || q.rcoff != w) {
			q.rcvalid = false;
			r = flash_read(q.fl, w, q.rc, q.rcsize);
			if (r != 0) {
				return r;
			}
			q.rcoff = w;
			q.rcvalid = true;
		}
		k = MIN(len, w + q.rcsize - off);
		memcpy(p, q.rc + (off - w), k);
		p += k;
		off += k;
		len -= k;
	}
	return 0;
}

/* Keep the cache equal to the flash: off..off+len was just changed. */
static void
q_rc_update(uint32_t off, const uint8_t *data, uint32_t len)
{
	if (!q.rcvalid || off + len <= q.rcoff || off >= q.rcoff + q.rcsize) {
		return;
	}
	if (data == NULL || off < q.rcoff || off + len > q.rcoff + q.rcsize) {
		q.rcvalid = false;
		return;
	}
	memcpy(q.rc + (off - q.rcoff), data, len);
}

int
q_erase(uint32_t b)
{
	int r = flash_erase(q.fl, b);

	q_rc_update(b * q.bsize, NULL, q.bsize);
	q.blk[b].erases += q.blk[b].erases < Q_ERASES_MAX;
	q.unsynced = true;
	if (r != 0) {
		q_blk_set(b, QB_DIRTY);
		return q_fail(r);
	}
	q_blk_set(b, QB_FREE);
	return 0;
}

int
q_sync(void)
{
	int r = flash_sync(q.fl);

	q.syncs++;
	if (r != 0) {
		return q_fail(r);
	}
	q.unsynced = false;
	q.mark_sync = true;
	q.ids_unsynced = 0;
	q.results = false;
	q.copied = false;
	q.fresh = 0;
	return 0;
}

static int
q_prog_page(void)
{
	int r;

	q.lastfill = q.wfill;
	if (q.wfill < q.psize) {
		memset(q.wbuf + q.wfill, 0xff, q.psize - q.wfill);
	}
	r = flash_prog(q.fl, q.head * q.bsize + q.wpage, q.wbuf, q.psize);
	q_rc_update(q.head * q.bsize + q.wpage, r == 0 ? q.wbuf : NULL,
	    q.psize);
	q.unsynced = true;
	q.wpage += q.psize;
	q.wfill = 0;
	if (r != 0) {
		return q_fail(r);
	}
	q.bytes_prog += q.psize;
	return 0;
}

/* Program the partial page if it holds records to make durable. */
int
q_flush(void)
{
	int r = 0;

	if (q.wpending && q.wfill > 0) {
		r = q_prog_page();
	}
	q.wpending = false;
	return r;
}

static int
q_put(const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n > 0) {
		size_t k = MIN(n, (size_t)(q.psize - q.wfill));

		memcpy(q.wbuf + q.wfill, s, k);
		q.wfill += (uint32_t)k;
		s += k;
		n -= k;
		if (q.wfill == q.psize) {
			int r = q_prog_page();

			if (r != 0) {
				return r;
			}
		}
	}
	return 0;
}

/* Blocks that bytes of records written in a row take at most. */
uint32_t
q_blocks_for(uint32_t bytes)
{
	uint32_t per = q.bsize - QB_HDR - QR_HDR - 64;

	bytes += (bytes / per + 1) * QR_HDR;	/* DATA split at block end */
	return bytes / per + 1;
}

/* Blocks a copy of m needs at most (records, splits, a DEFER). */
uint32_t
q_need_blocks(const struct q_msg *m)
{
	return q_blocks_for(m->rec_bytes + 256 + QR_HDR);
}

/*
 * Free blocks new mail must leave alone: the configured reserve for
 * delivery results, plus room to copy forward the biggest sealed
 * message, so that whichever message ends up holding the tail can always
 * be moved and the ring keeps turning.
 */
uint32_t
q_keep_blocks(void)
{
	uint32_t i, need = 0;

	for (i = 0; i < q.nord; i++) {
		const struct q_msg *m = &q.msg[q.ord[i]];

		if (m->state == QS_LIVE || m->state == QS_SEALED) {
			need = MAX(need, q_need_blocks(m));
		}
	}
	return CONFIG_QUEUE_RESERVE_BLOCKS + need;
}

/*
 * Free blocks an append of class cls must leave: it may take a block only
 * while more than this many are free, and new mail may only write into
 * the head block while at least this many are free.
 */
static uint32_t
q_cls_floor(int cls)
{
	uint32_t keep;

	if (cls == Q_CLS_SYS) {
		return 0;
	}
	keep = q_keep_blocks();
	if (cls == Q_CLS_LOW) {
		return keep - (CONFIG_QUEUE_RESERVE_BLOCKS + 1) / 2;
	}
	return keep;
}

/*
 * The block the head takes next: the next one in ring order that is not
 * used, unless a stale block older than it exists (possible when ring and
 * seq order differ, after recovery): then the oldest stale one, so that
 * a stale block never outlives one that came after it in the log. The
 * search is skipped when the candidate's seq is q.stale_lo, a lower bound
 * of the stale seqs that is exact in steady state (ring = seq order).
 */
static uint32_t
q_next_block(void)
{
	uint32_t b = q.head, i;

	for (i = 0; i < q.nblk; i++) {
		b = (b + 1) % q.nblk;
		if (q.blk[b].state != QB_USED) {
			break;
		}
	}
	if (q.blk[b].state != QB_STALE || q.blk[b].seq == q.stale_lo) {
		return b;	/* steady state: no older stale block */
	}
	for (i = 0; i < q.nblk; i++) {
		if (q.blk[i].state == QB_STALE && q.blk[i].seq < q.blk[b].seq) {
			b = i;
		}
	}
	q.stale_lo = q.blk[b].seq;	/* the oldest: exact again */
	return b;
}

/* Move the head to the next free block. */
static int
q_new_block(int cls)
{
	uint32_t avail = q_avail(), b;
	uint8_t h[QB_HDR];
	int r;

	if (avail <= q_cls_floor(cls)) {
		return EDGEMTA_E_FULL;
	}
	if (q.have_head && q.wfill > 0) {
		r = q_prog_page();
		if (r != 0) {
			return r;
		}
	}
	b = q_next_block();
	if (q.unsynced && (q.fresh >= q.nblk ||
	    (q.blk[b].state == QB_STALE && (q.copied || q.nused <= q.fresh)))) {
		/* the old copy of a message, or the last durable header */
		r = q_sync();
		if (r != 0) {
			return r;
		}
	}
	if (q.blk[b].state == QB_DIRTY || q.blk[b].state == QB_STALE) {
		r = q_erase(b);
		if (r != 0) {
			return r;
		}
	}
	q.head = b;
	q.have_head = true;
	q.fresh++;
	q_blk_set(b, QB_USED);
	q.v1[b / 8] &= (uint8_t)~(1u << (b % 8));
	q.blk[b].seq = q.next_seq++;
	memcpy(h, "EMQ", 3);
	h[3] = Q_VERSION;
	put_le32(h + 4, q.blk[b].seq);
	put_le32(h + 8, q.blk[b].erases);
	put_le32(h + 12, crc32_update(0, h, 12));
	q.wpage = 0;
	q.wfill = 0;
	return q_put(h, QB_HDR);
}

static int
q_append1(uint8_t type, uint8_t flags, uint32_t id, const void *p1,
    size_t n1, const void *p2, size_t n2, int cls, uint32_t *blk,
    uint32_t *off)
{
	uint8_t h[QR_HDR];
	uint32_t tot = (uint32_t)(QR_HDR + n1 + n2), crc;
	bool nb;
	int r;

	if (n1 + n2 > CONFIG_QUEUE_REC_MAX) {
		return EDGEMTA_E_INVAL;
	}
	nb = !q.have_head || q.wpage + q.wfill + tot > q.bsize;
	if (cls == Q_CLS_NEW && q_avail() <= q_keep_blocks() + nb) {
		/* new mail would hit the reserve: clean first (moves head) */
		queue_reclaim();
		if (q.err != 0) {
			return q.err;
		}
		nb = !q.have_head || q.wpage + q.wfill + tot > q.bsize;
		if (!nb && q_avail() < q_keep_blocks()) {
			return EDGEMTA_E_FULL;	/* head is reserve space */
		}
	}
	if (nb) {
		r = q_new_block(cls);
		if (r != 0) {
			return r;
		}
	}
	if (q.mark_sync) {
		flags |= QR_F_SYNCED;
		q.mark_sync = false;
	}
	h[0] = type;
	h[1] = flags;
	put_le16(h + 2, (uint16_t)(n1 + n2));
	put_le32(h + 4, id);
	put_le32(h + 8, 0);
	crc = q_rec_crc0(q.head, q.wpage + q.wfill);
	crc = crc32_update(crc, h, QR_HDR);
	if (type == QR_DATA) {
		/* one pass: the message's CRC takes it too */
		q.pcrc = crc32_update(0, p1, n1);
		crc = crc32_combine(crc, q.pcrc, n1);
	} else {
		crc = crc32_update(crc, p1, n1);
		crc = crc32_update(crc, p2, n2);
	}
	put_le32(h + 8, crc);
	if (blk != NULL) {
		*blk = q.head;
		*off = q.wpage + q.wfill;
	}
	r = q_put(h, QR_HDR);
	if (r == 0) {
		r = q_put(p1, n1);
	}
	if (r == 0) {
		r = q_put(p2, n2);
	}
	return r;
}

/*
 * Append one record (payload = p1 then p2) to the log through the page
 * buffer. blk/off (may be NULL) receive where it starts. EDGEMTA_E_FULL
 * when no block can be taken for cls, or the sticky I/O error.
 */
int
q_append(uint8_t type, uint8_t flags, uint32_t id, const void *p1,
    size_t n1, const void *p2, size_t n2, int cls, uint32_t *blk,
    uint32_t *off)
{
	uint8_t bp[8];
	int r;

	if (q.err != 0) {
		return q.err;
	}
	if (q.flags & QUEUE_O_RDONLY) {
		return EDGEMTA_E_INVAL;
	}
	if (q.need_boot) {
		/* durable before any id or seq of this session is used */
		put_le32(bp, q.boot_id);
		put_le32(bp + 4, q.boot_seq);
		r = q_append1(QR_BOOT, 0, 0, bp, sizeof(bp), NULL, 0,
		    Q_CLS_SYS, NULL, NULL);
		q.wpending = true;
		if (r == 0) {
			r = q_flush();
		}
		if (r == 0) {
			r = q_sync();
		}
		if (r != 0) {
			return r;
		}
		q.need_boot = false;
	}
	r = q_append1(type, flags, id, p1, n1, p2, n2, cls, blk, off);
	if (r == 0) {
		q.wpending = true;
		/*
		 * A seal is made durable at the next commit; results (DONE,
		 * DEFER, DELETE) ride along with it or with
		 * queue_sync_results(): losing one means a delivery again.
		 * The rest only matters once its message is sealed.
		 */
		if (type == QR_COMMIT) {
			q.wdurable = true;
			q.copied |= (flags & QR_F_COPY) != 0;
		} else if (type >= QR_DONE && type < QR_BOOT) {
			q.results = true;
			q.rflush = true;
		}
	}
	return r;
}

/*
 * Read the record at (b, off) into buf (header then payload). Returns its
 * type, Q_PAD (erased byte: *next is the next page), Q_EOB (end of the
 * block) or EDGEMTA_E_CORRUPT / EDGEMTA_E_IO. *next is where the next
 * record starts. With id != 0 a record of another message is skipped
 * unchecked (only its header is read). Readers pass 0 and use
 * q_rec_next(): a damaged record of another message must not cost theirs.
 */
int
q_rec_read(uint32_t b, uint32_t off, uint8_t *buf, uint32_t *next,
    uint32_t id)
{
	uint32_t base = b * q.bsize, len, crc, c;
	int r;

	if (off + QR_HDR > q.bsize) {
		*next = q.bsize;
		return Q_EOB;
	}
	r = q_read(base + off, buf, QR_HDR);
	if (r != 0) {
		return r;
	}
	if (buf[0] == 0xff) {
		*next = (off / q.psize + 1) * q.psize;
		return Q_PAD;
	}
	len = get_le16(buf + 2);
	if (buf[0] == 0 || buf[0] > QR_MAXTYPE ||
	    len > CONFIG_QUEUE_REC_MAX || off + QR_HDR + len > q.bsize) {
		return EDGEMTA_E_CORRUPT;
	}
	if (id != 0 && get_le32(buf + 4) != id) {
		*next = off + QR_HDR + len;
		return buf[0];
	}
	r = q_read(base + off + QR_HDR, buf + QR_HDR, len);
	if (r != 0) {
		return r;
	}
	crc = get_le32(buf + 8);
	put_le32(buf + 8, 0);
	c = crc32_update(q_rec_crc0(b, off), buf, QR_HDR);
	put_le32(buf + 8, crc);
	if (buf[0] == QR_DATA) {
		/* one pass: the reader's message CRC takes it too */
		q.pcrc = crc32_update(0, buf + QR_HDR, len);
		c = crc32_combine(c, q.pcrc, len);
	} else {
		c = crc32_update(c, buf + QR_HDR, len);
	}
	if (c != crc) {
		return EDGEMTA_E_CORRUPT;
	}
	*next = off + QR_HDR + len;
	return buf[0];
}

/*
 * The next valid record at or after off in block b: q_rec_read(), but a
 * record that fails its checks (damage, a torn write) is skipped byte by
 * byte up to the next one that passes. A format-2 record passes only at
 * the offset and in the block life it was written for, so message bytes
 * cannot pass for one; in a format-1 block only a BOOT record at a page
 * start resumes (where the next start wrote). *at = where the returned
 * record starts; *bad_end = one past the last non-0xFF byte skipped, or
 * *at after erased bytes where a record was (off when nothing was
 * skipped). Returns as q_rec_read(), never EDGEMTA_E_CORRUPT.
 */
/* Whether block b is erased from off to end (0, 1 or EDGEMTA_E_IO). */
int
q_erased(uint32_t b, uint32_t off, uint32_t end)
{
	uint8_t buf[64];
	uint32_t k, i;

	for (; off < end; off += k) {
		k = MIN(end - off, (uint32_t)sizeof(buf));
		if (q_read(b * q.bsize + off, buf, k) != 0) {
			return EDGEMTA_E_IO;
		}
		for (i = 0; i < k; i++) {
			if (buf[i] != 0xff) {
				return 0;
			}
		}
	}
	return 1;
}

int
q_rec_next(uint32_t b, uint32_t off, uint8_t *buf, uint32_t *next,
    uint32_t *at, uint32_t *bad_end)
{
	bool skip = false, erased = false;
	int t, e;

	*bad_end = off;
	for (;; off++) {
		t = q_rec_read(b, off, buf, next, 0);
		if (t == EDGEMTA_E_IO || t == Q_EOB) {
			break;
		}
		if (t == Q_PAD && !skip) {
			/* padding runs to the page end; else bytes were erased */
			e = q_erased(b, off, *next);
			if (e != 0) {
				t = e < 0 ? e : t;
				break;
			}
			skip = erased = true;
			continue;
		}
		if (t == EDGEMTA_E_CORRUPT) {
			skip = true;
			*bad_end = off + 1;
			continue;
		}
		if (skip && (t == Q_PAD || (q_blk_v1(b) &&
		    (t != QR_BOOT || off % q.psize != 0)))) {
			if (t != Q_PAD) {
				*bad_end = off + 1;
			}
			continue;
		}
		break;
	}
	if (erased && t >= 0 && t != Q_EOB) {
		*bad_end = MAX(*bad_end, off);	/* an erased range */
	}
	*at = off;
	return t;
}

/*
 * How much of len bytes of DATA to put in the next record: at most
 * CONFIG_QUEUE_REC_MAX, and split to fill the rest of the head block
 * rather than leave it empty.
 */
size_t
q_data_chunk(size_t len)
{
	size_t k = MIN(len, (size_t)CONFIG_QUEUE_REC_MAX), room;

	if (q.have_head && q.wpage + q.wfill + QR_HDR + 64 <= q.bsize) {
		room = q.bsize - q.wpage - q.wfill - QR_HDR;
		k = MIN(k, room);
	}
	return k;
}

/* ---- writing a message ---- */

enum { W_IDLE = 0, W_OPEN, W_SEALED, W_DEAD };

/* Every change of a writer's state, so that q.nopen counts W_OPEN ones. */
static void
q_writer_set(struct queue_writer *w, uint8_t st)
{
	q.nopen -= w->state == W_OPEN && q.nopen > 0;
	q.nopen += st == W_OPEN;
	w->state = st;
}

/* Bytes of flash a message of size data bytes needs, roughly. */
static uint64_t
q_need(uint32_t size)
{
	return (uint64_t)size + ((uint64_t)size / CONFIG_QUEUE_REC_MAX + 1) *
	    (QR_HDR + 1) + 512;
}

static uint64_t
q_room(void)
{
	uint64_t room = 0;
	uint32_t avail = q_avail(), keep = q_keep_blocks();

	if (q.have_head && avail >= keep) {
		room = q.bsize - q.wpage - q.wfill;
	}
	if (avail > keep) {
		room += (uint64_t)(avail - keep) * (q.bsize - QB_HDR);
	}
	return room;
}

int
queue_msg_begin(struct queue_writer *w, const char *sender,
    uint32_t size_hint, unsigned flags)
{
	uint8_t p[9];
	uint64_t whole;
	struct q_msg *m;
	size_t slen = strlen(sender);
	int r;

	memset(w, 0, sizeof(*w));
	w->state = W_DEAD;
	if (!q.open || (q.flags & QUEUE_O_RDONLY) ||
	    slen + sizeof(p) > CONFIG_QUEUE_REC_MAX) {
		return w->err = EDGEMTA_E_INVAL;
	}
	if (q.err != 0) {
		return w->err = q.err;
	}
	whole = (uint64_t)(q.nblk - CONFIG_QUEUE_RESERVE_BLOCKS - 1) *
	    (q.bsize - QB_HDR);
	if (q_need(size_hint) > whole) {
		return w->err = EDGEMTA_E_TOOBIG;
	}
	if (q_need(size_hint) > q_room()) {
		queue_reclaim();
	}
	if (q_need(size_hint) > q_room() ||
	    (q.nfree == 0 && q.nhigh == CONFIG_QUEUE_MAX_MSGS)) {
		return w->err = EDGEMTA_E_FULL;
	}
	if (q.ids_unsynced >= Q_ID_GAP / 2) {
		/* bound the ids a power cut can hide (queue_scan.c) */
		q.wpending = true;
		r = q_flush();
		if (r == 0) {
			r = q_sync();
		}
		if (r != 0) {
			return w->err = r;
		}
	}
	if (q.next_id == 0 || q.next_id == 0xffffffffu) {
		q.next_id = 1;
	}
	w->id = q.next_id;
	w->arrival = plat_time();
	w->flags = (uint8_t)flags;
	put_le64(p, (uint64_t)w->arrival);
	p[8] = (uint8_t)flags;
	m = q_slot_alloc(w->id);
	m->state = QS_WRITING;
	r = q_append(QR_ENV, 0, w->id, p, sizeof(p), sender, slen,
	    Q_CLS_NEW, &m->blk, &m->off);
	if (r != 0) {
		q_slot_free(m);
		return w->err = r;
	}
	q.next_id++;
	q.ids_unsynced++;
	m->rec_bytes = (uint32_t)(QR_HDR + sizeof(p) + slen);
	m->first_seq = q.blk[m->blk].seq;
	m->e.arrival = w->arrival;
	m->e.flags = w->flags;
	q_writer_set(w, W_OPEN);
	return 0;
}

/* The writer is dead: its records become garbage, its slot is freed. */
static int
q_writer_fail(struct queue_writer *w, int r)
{
	struct q_msg *m = q_find(w->id);

	if (m != NULL && m->state == QS_WRITING) {
		(void)q_append(QR_ABORT, 0, w->id, NULL, 0, NULL, 0,
		    Q_CLS_LOW, NULL, NULL);
		q_slot_free(m);
	}
	w->err = r;
	q_writer_set(w, W_DEAD);
	return r;
}

int
queue_msg_rcpt(struct queue_writer *w, const char *rcpt)
{
	uint8_t p[3];
	size_t len = strlen(rcpt);
	int r;

	if (w->state != W_OPEN) {
		return w->err ? w->err : EDGEMTA_E_INVAL;
	}
	if (w->nrcpt >= CONFIG_SMTP_MAX_RCPT ||
	    len + sizeof(p) > CONFIG_QUEUE_REC_MAX) {
		return EDGEMTA_E_INVAL;
	}
	put_le16(p, w->nrcpt);
	p[2] = QUEUE_RCPT_PENDING;
	r = q_append(QR_RCPT, 0, w->id, p, sizeof(p), rcpt, len, Q_CLS_NEW,
	    NULL, NULL);
	if (r != 0) {
		return q_writer_fail(w, r);
	}
	q_find(w->id)->rec_bytes += (uint32_t)(QR_HDR + sizeof(p) + len);
	w->nrcpt++;
	return 0;
}

int
queue_msg_write(struct queue_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;
	struct q_msg *m;

	if (w->state != W_OPEN) {
		return w->err ? w->err : EDGEMTA_E_INVAL;
	}
	m = q_find(w->id);
	while (len > 0) {
		size_t k = q_data_chunk(len);
		int r;

		if ((uint64_t)w->size + k > 0xffffffffu) {
			return q_writer_fail(w, EDGEMTA_E_TOOBIG);
		}
		r = q_append(QR_DATA, 0, w->id, p, k, NULL, 0, Q_CLS_NEW,
		    NULL, NULL);
		if (r != 0) {
			return q_writer_fail(w, r);
		}
		w->crc = crc32_combine(w->crc, q.pcrc, k);
		w->size += (uint32_t)k;
		m->rec_bytes += (uint32_t)(QR_HDR + k);
		p += k;
		len -= k;
	}
	return 0;
}

int
queue_msg_seal(struct queue_writer *w, queue_done_fn done, void *arg)
{
	uint8_t p[10];
	uint32_t b, off;
	struct q_msg *m;
	int r;

	if (w->state != W_OPEN) {
		return w->err ? w->err : EDGEMTA_E_INVAL;
	}
	m = q_find(w->id);
	if (w->nrcpt == 0 || m == NULL) {
		return EDGEMTA_E_INVAL;
	}
	put_le16(p, w->nrcpt);
	put_le32(p + 2, w->size);
	put_le32(p + 6, w->crc);
	r = q_append(QR_COMMIT, 0, w->id, p, sizeof(p), NULL, 0, Q_CLS_SYS,
	    &b, &off);
	if (r != 0) {
		return q_writer_fail(w, r);
	}
	m->state = QS_SEALED;
	m->rec_bytes += QR_HDR + sizeof(p);
	m->end_seq = q.blk[b].seq;
	m->e.size = w->size;
	m->e.nrcpt = w->nrcpt;
	m->e.npending = w->nrcpt;
	q_writer_set(w, W_SEALED);
	w->done = done;
	w->done_arg = arg;
	w->next = q.pend;
	q.pend = w;
	return 0;
}

void
queue_msg_abort(struct queue_writer *w)
{
	struct queue_writer **pp;
	struct q_msg *m;

	if (w->state == W_OPEN) {
		m = q_find(w->id);
		(void)q_append(QR_ABORT, 0, w->id, NULL, 0, NULL, 0,
		    Q_CLS_LOW, NULL, NULL);
		if (m != NULL && m->state == QS_WRITING) {
			q_slot_free(m);
		}
	} else if (w->state == W_SEALED) {
		for (pp = &q.pend; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == w) {
				*pp = w->next;
				break;
			}
		}
	}
	q_writer_set(w, W_DEAD);
}

uint32_t
queue_writers_open(void)
{
	return q.nopen;
}

bool
queue_commit_waiting(void)
{
	return q.open && (q.wdurable || q.pend != NULL || q.err != 0);
}

void
queue_commit(void)
{
	struct queue_writer *list, *w;
	uint32_t i;
	int r;

	if (!q.open || (!q.wdurable && q.pend == NULL && q.err == 0)) {
		return;	/* nobody waits: unsealed data need not be padded */
	}
	r = q.err;
	if (r == 0) {
		r = q_flush();
	}
	if (r == 0 && q.unsynced) {
		r = q_sync();
	}
	if (r == 0) {
		q.wdurable = false;
	}
	for (i = 0; i < q.nord; i++) {
		struct q_msg *m = &q.msg[q.ord[i]];

		if (m->state != QS_SEALED) {
			continue;
		}
		if (r == 0) {
			m->state = QS_LIVE;
		} else {
			q_slot_free(m);
			i--;
		}
	}
	list = q.pend;
	q.pend = NULL;
	while (list != NULL) {
		w = list;
		list = w->next;
		w->next = NULL;
		q_writer_set(w, r == 0 ? W_IDLE : W_DEAD);
		w->err = r;
		if (w->done != NULL) {
			w->done(w->done_arg, r);
		}
	}
}

bool
queue_results_pending(void)
{
	return q.open && q.results;
}

uint64_t
queue_syncs(void)
{
	return q.syncs;
}

int
queue_flush_results(void)
{
	uint32_t off = q.head * q.bsize + q.wpage;
	int r;

	if (!q.open || !q.rflush || q.err != 0 || !q.fl->rewrite) {
		return q.err;
	}
	q.rflush = false;
	if (!q.wpending || q.wfill == 0) {
		return 0;
	}
	/* the page as it stands; it is programmed again when it fills */
	memset(q.wbuf + q.wfill, 0xff, q.psize - q.wfill);
	r = flash_prog(q.fl, off, q.wbuf, q.psize);
	q_rc_update(off, r == 0 ? q.wbuf : NULL, q.psize);
	q.unsynced = true;
	return r == 0 ? 0 : q_fail(r);
}

int
queue_sync_results(void)
{
	int r;

	if (!q.open || !q.results || q.err != 0) {
		return q.err;
	}
	r = q_flush();
	if (r == 0 && q.unsynced) {
		r = q_sync();
	}
	return r;
}

/*
 * On a flash whose pages may be programmed again (a file), end with a
 * MARK record after the last one, in the same page: once synced, it says
 * the whole log is durable, so recovery tells damage in it from writes
 * a disk lost at a power cut (queue_scan.c). Costs no page: the page just
 * programmed (its buffer still holds it) gets the record in its padding.
 */
static void
q_close_mark(void)
{
	if (!q.fl->rewrite || q.err != 0 || q.need_boot || !q.have_head) {
		return;
	}
	if (!q.wpending && q.wfill == 0 && q.wpage > 0) {
		q.wpage -= q.psize;	/* back into the page programmed last */
		q.wfill = q.lastfill;
	}
	if (q.wfill == 0 || q.wfill + QR_HDR > q.psize ||
	    q_append(QR_MARK, 0, 0, NULL, 0, NULL, 0, Q_CLS_SYS, NULL,
	    NULL) != 0) {
		return;
	}
	if (q_flush() == 0) {
		(void)q_sync();
	}
}

void
queue_close(void)
{
	if (!q.open) {
		return;
	}
	if (!(q.flags & QUEUE_O_RDONLY)) {
		queue_commit();
		(void)queue_sync_results();
		q_close_mark();
	}
	q.open = false;
}
