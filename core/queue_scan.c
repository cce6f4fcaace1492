/*
 * queue_scan.c - queue_open(): recovery of the log after a start or a
 * power cut. Reads every block header, scans the used blocks in sequence
 * order, checks every record's CRC and rebuilds the index: a message
 * exists once its ENV..COMMIT sequence is complete and matches; torn and
 * unsealed records are ignored. Nothing is written here: the first write
 * after opening goes to a fully erased page (see queue.c).
 */
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

static uint32_t scan_order[CONFIG_QUEUE_MAX_BLOCKS];
static struct q_msg scan_cp;	/* the copy being read, if any */
static bool scan_cp_active;
static bool scan_reopen;	/* q was used: clear it before reuse */

static int
scan_cmp_seq(const void *a, const void *b)
{
	uint32_t sa = q.blk[*(const uint32_t *)a].seq;
	uint32_t sb = q.blk[*(const uint32_t *)b].seq;

	return sa < sb ? -1 : sa > sb;
}

/*
 * One past the last non-0xFF byte of block b (0 if erased); uses the
 * page buffer, which is free while opening. *end = that or an error.
 */
static int
scan_used_end(uint32_t b, uint32_t *end)
{
	uint32_t pg = q.bsize / q.psize, i;
	int r;

	while (pg-- > 0) {
		r = q_read(b * q.bsize + pg * q.psize, q.wbuf, q.psize);
		if (r != 0) {
			return r;
		}
		for (i = q.psize; i > 0; i--) {
			if (q.wbuf[i - 1] != 0xff) {
				*end = pg * q.psize + i;
				return 0;
			}
		}
	}
	*end = 0;
	return 0;
}

static void
scan_drop_writing(void)
{
	uint32_t i;

	for (i = 0; i < q.nord; i++) {
		if (q.msg[q.ord[i]].state == QS_WRITING) {
			q_slot_free(&q.msg[q.ord[i]]);
			i--;
		}
	}
	scan_cp_active = false;
}

/*
 * A slot for a message being written. Only as many can be in progress
 * as the index holds at run time, unless ABORT records were lost in a
 * crash: then the oldest unfinished message makes room.
 */
static struct q_msg *
scan_alloc(uint32_t id)
{
	struct q_msg *m = q_slot_alloc(id);
	uint32_t i;

	for (i = 0; m == NULL && i < q.nord; i++) {
		if (q.msg[q.ord[i]].state == QS_WRITING) {
			q_slot_free(&q.msg[q.ord[i]]);
			m = q_slot_alloc(id);
		}
	}
	return m;
}

/* The message a record of id belongs to while it is being written. */
static struct q_msg *
scan_open_msg(uint32_t id, bool copy)
{
	struct q_msg *m;

	if (copy) {
		return scan_cp_active && scan_cp.e.id == id ? &scan_cp : NULL;
	}
	m = q_find(id);
	return m != NULL && m->state == QS_WRITING ? m : NULL;
}

static void
scan_drop(struct q_msg *m)
{
	if (m == &scan_cp) {
		scan_cp_active = false;
	} else {
		q_slot_free(m);
	}
}

/* A complete copy replaces (or, once the old copy is erased, becomes) id. */
static void
scan_copy_done(uint32_t id)
{
	struct q_msg *m = q_find(id);
	unsigned i;

	scan_cp_active = false;
	if (m != NULL && m->state == QS_LIVE) {
		for (i = 0; i < Q_RCPT_BYTES; i++) {
			m->sent[i] |= scan_cp.sent[i];
			m->failed[i] |= scan_cp.failed[i];
		}
		m->e.size = scan_cp.e.size;
		m->e.nrcpt = scan_cp.e.nrcpt;
		m->rec_bytes = scan_cp.rec_bytes;
		m->first_seq = scan_cp.first_seq;
		m->end_seq = scan_cp.end_seq;
		m->blk = scan_cp.blk;
		m->off = scan_cp.off;
	} else if (m == NULL) {
		m = scan_alloc(id);
		if (m == NULL) {
			return;
		}
		*m = scan_cp;
	} else {
		return;
	}
	m->state = QS_LIVE;
	q_recount(m);
	if (m->e.npending == 0) {
		q_slot_free(m);
	}
}

static void
scan_record(uint32_t b, uint32_t off, const uint8_t *rec)
{
	const uint8_t *p = rec + QR_HDR;
	uint32_t len = get_le16(rec + 2), id = get_le32(rec + 4);
	bool copy = (rec[1] & QR_F_COPY) != 0;
	struct q_msg *m;
	unsigned idx;

	if (id >= q.next_id && id != 0xffffffffu) {
		q.next_id = id + 1;
	}
	if (rec[0] >= QR_ENV && rec[0] <= QR_COMMIT) {
		m = rec[0] == QR_ENV ? NULL : scan_open_msg(id, copy);
		if (m != NULL) {
			m->rec_bytes += QR_HDR + len;
		}
	}
	switch (rec[0]) {
	case QR_BOOT:
		scan_drop_writing();
		return;
	case QR_ENV:
		if (len < 9) {
			return;
		}
		if (copy) {
			m = &scan_cp;
			scan_cp_active = true;
		} else {
			if (q_find(id) != NULL) {
				return;
			}
			m = scan_alloc(id);
			if (m == NULL) {
				return;
			}
		}
		memset(m, 0, sizeof(*m));
		m->e.id = id;
		m->e.arrival = (int64_t)get_le64(p);
		m->e.flags = p[8];
		m->blk = b;
		m->off = off;
		m->first_seq = q.blk[b].seq;
		m->rec_bytes = QR_HDR + len;
		m->state = QS_WRITING;
		return;
	case QR_RCPT:
		m = scan_open_msg(id, copy);
		if (m == NULL || len < 3) {
			return;
		}
		idx = get_le16(p);
		if (idx != m->e.nrcpt || idx >= CONFIG_SMTP_MAX_RCPT) {
			scan_drop(m);
			return;
		}
		m->e.nrcpt++;
		q_set_state(m, idx, p[2]);
		return;
	case QR_DATA:
		m = scan_open_msg(id, copy);
		if (m != NULL) {
			m->crc = crc32_update(m->crc, p, len);
			m->e.size += len;
		}
		return;
	case QR_COMMIT:
		m = scan_open_msg(id, copy);
		if (m == NULL) {
			return;
		}
		if (len < 10 || m->e.nrcpt == 0 ||
		    get_le16(p) != m->e.nrcpt ||
		    get_le32(p + 2) != m->e.size ||
		    get_le32(p + 6) != m->crc) {
			scan_drop(m);
			return;
		}
		m->end_seq = q.blk[b].seq;
		if (copy) {
			scan_copy_done(id);
			return;
		}
		m->state = QS_LIVE;
		q_recount(m);
		return;
	case QR_ABORT:
		m = scan_open_msg(id, false);
		if (m != NULL) {
			q_slot_free(m);
		}
		return;
	default:
		break;
	}
	/* delivery results apply to sealed messages */
	m = q_find(id);
	if (m == NULL || m->state != QS_LIVE) {
		return;
	}
	if (rec[0] == QR_DONE && len >= 3 && get_le16(p) < m->e.nrcpt) {
		q_set_state(m, get_le16(p), p[2]);
		q_recount(m);
		if (m->e.npending == 0) {
			q_slot_free(m);
		}
	} else if (rec[0] == QR_DEFER && len >= 10) {
		m->e.next_try = (int64_t)get_le64(p);
		m->e.attempts = get_le16(p + 8);
		m->dblk = b;
		m->doff = off;
	} else if (rec[0] == QR_DELETE) {
		q_slot_free(m);
	}
}

/*
 * Scan block b; *end = end of the last good record. After a bad record
 * (torn write) only a BOOT record at a page start resumes the block:
 * that is where the next start wrote.
 */
static int
scan_block(uint32_t b, uint32_t *end)
{
	uint32_t off = QB_HDR, next;
	bool torn = false;
	int t;

	*end = QB_HDR;
	for (;;) {
		t = q_rec_read(b, off, q.scratch, &next, 0);
		if (t == Q_EOB) {
			return 0;
		}
		if (t == EDGEMTA_E_IO) {
			return t;
		}
		if (t < 0 || (torn && (t != QR_BOOT || off % q.psize != 0))) {
			torn = true;
			off = (off / q.psize + 1) * q.psize;
			continue;
		}
		if (t == Q_PAD) {
			off = next;
			continue;
		}
		torn = false;
		scan_record(b, off, q.scratch);
		off = next;
		*end = next;
	}
}

/* Pass 1: classify every block by its header. */
static int
scan_headers(uint32_t *nused, uint32_t *ndirty)
{
	uint8_t h[QB_HDR];
	uint32_t b, end, maxe = 0;
	int r;

	*nused = *ndirty = 0;
	for (b = 0; b < q.nblk; b++) {
		struct q_block *k = &q.blk[b];

		r = q_read(b * q.bsize, h, QB_HDR);
		if (r != 0) {
			return r;
		}
		if (memcmp(h, "EMQ", 3) == 0 &&
		    crc32_update(0, h, 12) == get_le32(h + 12)) {
			if (h[3] > Q_VERSION) {
				return EDGEMTA_E_VERSION;
			}
			if (h[3] == Q_VERSION) {
				k->state = QB_USED;
				k->seq = get_le32(h + 4);
				k->erases = MIN(get_le32(h + 8), Q_ERASES_MAX);
				maxe = MAX(maxe, k->erases);
				scan_order[(*nused)++] = b;
				continue;
			}
		}
		r = scan_used_end(b, &end);
		if (r != 0) {
			return r;
		}
		k->state = end == 0 ? QB_FREE : QB_DIRTY;
		if (end != 0) {
			(*ndirty)++;
		}
	}
	/*
	 * Erase counts of blocks without a header are unknown: assume the
	 * max. Unless the whole device is blank, such a block is erased
	 * again before use even if it reads as erased: an erase cut short
	 * by a power loss can read as 0xFF and still not be reliably erased.
	 */
	for (b = 0; b < q.nblk; b++) {
		if (q.blk[b].state != QB_USED) {
			q.blk[b].erases = maxe;
			if (*nused > 0 || *ndirty > 0) {
				q.blk[b].state = QB_DIRTY;
			}
		}
	}
	q.nused = *nused;
	return 0;
}

/*
 * A blank device is formatted lazily: nothing is written until the first
 * record, which goes with block 0's header into block 0's first page.
 * So a power cut while "formatting" can only leave garbage in the first
 * page of block 0 and nothing valid anywhere: that case is recognised and
 * block 0 is erased before use. Any other content without a single valid
 * block header is not ours: EDGEMTA_E_CORRUPT, nothing is touched.
 */
int
queue_open(struct flash *fl, unsigned flags)
{
	uint32_t i, nused, ndirty, end, used_end, b;
	int r;

	if (fl->page_size == 0 || fl->page_size > CONFIG_QUEUE_PAGE_SIZE ||
	    fl->block_size % fl->page_size != 0 ||
	    fl->block_size < CONFIG_QUEUE_REC_MAX + 64 ||
	    fl->block_size < 2 * fl->page_size ||
	    fl->block_count > CONFIG_QUEUE_MAX_BLOCKS ||
	    fl->block_count < CONFIG_QUEUE_RESERVE_BLOCKS + 3) {
		return EDGEMTA_E_INVAL;
	}
	/*
	 * Static storage starts zeroed: clear it only when reopening, so
	 * that the parts of q a small queue never uses stay untouched (no
	 * resident memory; on some kernels even a read allocates a page).
	 */
	if (scan_reopen) {
		memset(&q, 0, sizeof(q));
	}
	scan_reopen = true;
	q.fl = fl;
	q.flags = flags;
	q.nblk = fl->block_count;
	q.bsize = fl->block_size;
	q.psize = fl->page_size;
	q.rcsize = q.bsize <= Q_RC_SIZE ? q.bsize : q.psize;
	q.next_id = 1;
	q.next_seq = 1;
	q.head = q.nblk - 1;	/* a blank device starts at block 0 */
	scan_cp_active = false;
	r = scan_headers(&nused, &ndirty);
	if (r != 0) {
		return r;
	}
	if (nused == 0 && ndirty > 0) {
		r = scan_used_end(0, &used_end);
		if (r != 0) {
			return r;
		}
		if (ndirty > 1 || used_end == 0 || used_end > q.psize) {
			return EDGEMTA_E_CORRUPT;
		}
	}
	qsort(scan_order, nused, sizeof(scan_order[0]), scan_cmp_seq);
	end = 0;
	for (i = 0; i < nused; i++) {
		r = scan_block(scan_order[i], &end);
		if (r != 0) {
			return r;
		}
	}
	scan_drop_writing();
	if (nused > 0) {
		b = scan_order[nused - 1];
		r = scan_used_end(b, &used_end);
		if (r != 0) {
			return r;
		}
		end = MAX(end, used_end);
		q.head = b;
		q.have_head = true;
		q.next_seq = q.blk[b].seq + 1;
		q.wpage = MIN((end + q.psize - 1) / q.psize * q.psize, q.bsize);
	}
	q.need_boot = true;
	q.open = true;
	return 0;
}
