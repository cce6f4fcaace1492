/*
 * queue_scan.c - queue_open(): recovery of the log after a start or a
 * power cut. Reads every block header, scans the used blocks in sequence
 * order, checks every record's CRC and rebuilds the index: a message
 * exists once its ENV..COMMIT sequence is complete and matches; torn and
 * unsealed records are ignored. Nothing is written here: the first write
 * after opening goes to a fully erased page (see queue.c).
 *
 * Damage (a flipped bit, an erased or zeroed range) costs at most the
 * messages whose records it hit: the scan skips to the next valid record
 * (q_rec_next()), a block whose header is damaged is recognised by its
 * first record, and a message is only dropped for its own records. A bad
 * range followed by a BOOT record (or ending the log) is a write torn by
 * a power cut; any other is damage: logged, counted (queue_stats()), and
 * every message it cost is logged with what is still readable of it.
 *
 * Identity: after a power cut, ids and block seqs used since the last
 * sync may be on the medium without being found (writes that reached a
 * disk in another order than issued). A session therefore starts Q_ID_GAP
 * ids and 2 * blocks + 2 seqs above everything found, and its BOOT record
 * (synced before anything else is written, queue.c) carries where it
 * started, so that the next session starts above that too.
 */
#include <string.h>

#include "log.h"
#include "queue_int.h"

#define SCAN_LOST_MAX 16	/* lost messages logged with their envelope */

static uint32_t scan_order[CONFIG_QUEUE_MAX_BLOCKS];
static struct q_msg scan_cp;	/* the copy being read, if any */
static bool scan_cp_active;
static bool scan_reopen;	/* q was used: clear it before reuse */
static bool scan_damaged;	/* damage seen so far (orphans matter) */
static uint32_t scan_boot_id, scan_boot_seq;	/* largest BOOT floors */
static bool scan_pend;		/* a bad range waits for what follows */
static bool scan_syncd;		/* the last QR_F_SYNCED record is known: */
static uint32_t scan_sync_seq, scan_sync_off;	/* where it is */
static uint32_t scan_newest_seq;	/* of the newest block */
static uint32_t scan_pb, scan_pfrom, scan_pto;
static struct {
	uint32_t id, first_seq, off;
	bool env;		/* off is its ENV (else nothing readable) */
	const char *why;
} scan_lost[SCAN_LOST_MAX];
static uint32_t scan_nlost;
/* blocks recognised by their records; blocks torn by a power cut */
static uint8_t scan_inf[(CONFIG_QUEUE_MAX_BLOCKS + 7) / 8];
static uint8_t scan_tb[(CONFIG_QUEUE_MAX_BLOCKS + 7) / 8];

static bool
scan_bit(const uint8_t *map, uint32_t b)
{
	return (map[b / 8] >> (b % 8)) & 1u;
}

static void scan_damage(uint32_t b, uint32_t from, uint32_t to,
    const char *what);

/*
 * Blocks recognised by their records: a damaged header, or one a power
 * cut kept from the disk (taken after the last sync, on a file) or whose
 * erase it cut short (scan_infer()).
 */
static void
scan_report_headers(void)
{
	uint32_t b;

	for (b = 0; b < q.nblk; b++) {
		if (q.blk[b].state != QB_USED || !scan_bit(scan_inf, b)) {
			continue;
		}
		if (scan_bit(scan_tb, b) || (q.fl->rewrite && scan_syncd &&
		    q.blk[b].seq > scan_sync_seq)) {
			log_info("queue: block %lu: header lost to a power cut; "
			    "block recognised by its records", (unsigned long)b);
		} else {
			scan_damage(b, 0, QB_HDR, "block header damaged "
			    "(block recognised by its records)");
		}
	}
}

/* Heapsort of block numbers by block seq (qsort linked 1.9 KB of libc). */
static void
scan_sift(uint32_t *a, uint32_t root, uint32_t n)
{
	uint32_t v = a[root], c;

	while ((c = 2 * root + 1) < n) {
		if (c + 1 < n && q.blk[a[c + 1]].seq > q.blk[a[c]].seq) {
			c++;
		}
		if (q.blk[a[c]].seq <= q.blk[v].seq) {
			break;
		}
		a[root] = a[c];
		root = c;
	}
	a[root] = v;
}

static void
scan_sort_seq(uint32_t *a, uint32_t n)
{
	uint32_t i, t;

	for (i = n / 2; i-- > 0;) {
		scan_sift(a, i, n);
	}
	while (n > 1) {
		n--;
		t = a[0];
		a[0] = a[n];
		a[n] = t;
		scan_sift(a, 0, n);
	}
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

/* Remember message m (slot, or the copy) as lost to damage. */
static void
scan_lose(const struct q_msg *m, const char *why)
{
	q.dmg_msgs++;
	if (scan_nlost < SCAN_LOST_MAX) {
		scan_lost[scan_nlost].id = m->e.id;
		scan_lost[scan_nlost].first_seq = m->first_seq;
		scan_lost[scan_nlost].off = m->off;
		scan_lost[scan_nlost].env = m->state != QS_ORPHAN;
		scan_lost[scan_nlost].why = why;
		scan_nlost++;
	}
}

/*
 * Unsealed messages end here (BOOT, end of the log): normal after a
 * power cut, but one that damage hit may have lost its COMMIT to it.
 */
static void
scan_drop_writing(void)
{
	uint32_t i;

	for (i = 0; i < q.nord; i++) {
		struct q_msg *m = &q.msg[q.ord[i]];

		if (m->state == QS_WRITING) {
			if (m->dmg & (Q_DMG_HIT | Q_DMG_BAD)) {
				scan_lose(m, "its end is damaged");
			}
			q_slot_free(m);
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
	uint32_t i, pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; m == NULL && i < q.nord; i++) {
			if (q.msg[q.ord[i]].state ==
			    (pass == 0 ? QS_ORPHAN : QS_WRITING)) {
				q_slot_free(&q.msg[q.ord[i]]);
				m = q_slot_alloc(id);
			}
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

/*
 * A sealed message failed its checks: lost to the damage that hit it,
 * unless it is a copy whose original is still there (a copy is durable
 * before the original goes). Without damage, a power cut tore it: it was
 * never acknowledged, or it was finished already (an old block's life).
 */
static void
scan_drop(struct q_msg *m)
{
	struct q_msg *o;

	if (m == &scan_cp) {
		scan_cp_active = false;
		o = q_find(m->e.id);
		if ((o == NULL || o->state != QS_LIVE) &&
		    (m->dmg & Q_DMG_HIT)) {
			scan_lose(m, "its records failed their checks");
		}
	} else {
		if (m->dmg & Q_DMG_HIT) {
			scan_lose(m, "its records failed their checks");
		}
		q_slot_free(m);
	}
}

/*
 * A record of a message whose start was not found: normal when its
 * first block was reclaimed (it was finished or copied), but after
 * damage it may be a sealed message whose ENV is gone. Track it (state
 * ORPHAN: its COMMIT and results) to tell at the end.
 */
static struct q_msg *
scan_orphan(uint32_t id)
{
	struct q_msg *m = q_find(id);

	if (m != NULL) {
		return m->state == QS_ORPHAN ? m : NULL;
	}
	if (!scan_damaged) {
		return NULL;
	}
	m = q_slot_alloc(id);
	if (m != NULL) {
		m->state = QS_ORPHAN;
	}
	return m;
}

/*
 * End of the scan: orphans still pending were lost to the damage, and
 * so were those without a COMMIT that damage came after (its COMMIT may
 * have been in it).
 */
static void
scan_end_orphans(void)
{
	uint32_t i;

	for (i = 0; i < q.nord; i++) {
		struct q_msg *m = &q.msg[q.ord[i]];

		if (m->state == QS_ORPHAN) {
			if ((m->end_seq != 0 && m->e.npending > 0) ||
			    (m->end_seq == 0 && (m->dmg & Q_DMG_HIT))) {
				scan_lose(m, "its envelope is unreadable");
			}
			q_slot_free(m);
			i--;
		}
	}
}

/* A complete copy replaces (or, once the old copy is erased, becomes) id. */
static void
scan_copy_done(uint32_t id)
{
	struct q_msg *m = q_find(id);
	unsigned i;

	scan_cp_active = false;
	if (m != NULL && (m->state == QS_ORPHAN || m->state == QS_WRITING)) {
		/*
		 * the original is unfinished here: the rest of it was in a
		 * block since erased and taken again, whose first sectors
		 * a disk kept old at a power cut. The copy is the message.
		 */
		q_slot_free(m);
		m = NULL;
	}
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
	case QR_MARK:
		return;
	case QR_BOOT:
		if (len >= 8) {
			scan_boot_id = MAX(scan_boot_id, get_le32(p));
			scan_boot_seq = MAX(scan_boot_seq, get_le32(p + 4));
		}
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
		if (m == NULL) {
			(void)scan_orphan(id);
			return;
		}
		if (len < 3) {
			return;
		}
		idx = get_le16(p);
		if (idx != m->e.nrcpt || idx >= CONFIG_SMTP_MAX_RCPT) {
			m->dmg |= Q_DMG_BAD;	/* a RCPT is missing */
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
		} else {
			(void)scan_orphan(id);
		}
		return;
	case QR_COMMIT:
		m = scan_open_msg(id, copy);
		if (m == NULL) {
			m = scan_orphan(id);
			if (m != NULL && len >= 10 && m->end_seq == 0) {
				m->end_seq = q.blk[b].seq;
				m->e.nrcpt = (uint16_t)MIN(get_le16(p),
				    CONFIG_SMTP_MAX_RCPT);
				q_recount(m);
			}
			return;
		}
		if (len < 10 || m->e.nrcpt == 0 || (m->dmg & Q_DMG_BAD) ||
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
		if (m == NULL) {
			m = q_find(id);
			m = m != NULL && m->state == QS_ORPHAN ? m : NULL;
		}
		if (m != NULL) {
			q_slot_free(m);
		}
		return;
	default:
		break;
	}
	/* delivery results apply to sealed messages (and orphans) */
	m = q_find(id);
	if (m == NULL || (m->state != QS_LIVE && m->state != QS_ORPHAN) ||
	    (m->state == QS_ORPHAN && rec[0] == QR_DEFER)) {
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
 * Find the last QR_F_SYNCED or MARK record in the last four blocks of the log
 * (not found there: ranges are told apart without it).
 */
static int
scan_find_sync(uint32_t nused)
{
	uint32_t i, b, off, next, at, bad;
	int t;

	scan_syncd = false;
	for (i = nused; i > 0 && i + 4 > nused && !scan_syncd; i--) {
		b = scan_order[i - 1];
		for (off = QB_HDR; !q_blk_v1(b); off = next) {
			t = q_rec_next(b, off, q.scratch, &next, &at, &bad);
			if (t == EDGEMTA_E_IO) {
				return t;
			}
			if (t == Q_EOB) {
				break;
			}
			if (t != Q_PAD && ((q.scratch[1] & QR_F_SYNCED) ||
			    t == QR_MARK)) {
				scan_syncd = true;
				scan_sync_seq = q.blk[b].seq;
				scan_sync_off = at;
			}
		}
	}
	return 0;
}

/* Mark the messages open at this point of the scan. */
static void
scan_mark_open(uint8_t bit)
{
	uint32_t i;

	for (i = 0; i < q.nord; i++) {
		if (q.msg[q.ord[i]].state == QS_WRITING ||
		    q.msg[q.ord[i]].state == QS_ORPHAN) {
			q.msg[q.ord[i]].dmg |= bit;
		}
	}
	if (scan_cp_active) {
		scan_cp.dmg |= bit;
	}
}

/* Count and log a damaged range of block b; open messages were hit. */
static void
scan_damage(uint32_t b, uint32_t from, uint32_t to, const char *what)
{
	q.dmg_ranges++;
	q.dmg_bytes += to - from;
	scan_damaged = true;
	log_warn("queue: block %lu (seq %lu) bytes %lu-%lu: %s; skipped",
	    (unsigned long)b, (unsigned long)q.blk[b].seq,
	    (unsigned long)from, (unsigned long)to - 1, what);
	scan_mark_open(Q_DMG_HIT);
}

/*
 * Whether bytes from..to of block b are damage rather than a write cut
 * short (which starts with a record type and ends in erased bytes before
 * the end its header gives): no type, bytes up to or past that end (a
 * whole record that rotted, or more), or a header that one flipped bit
 * keeps from passing its CRC.
 */
static bool
scan_rotted(uint32_t b, uint32_t from, uint32_t to)
{
	uint8_t h[QR_HDR], *buf = q.scratch;
	uint32_t i, len, crc, base = b * q.bsize + from;

	if (q_read(base, h, 1) != 0) {
		return false;
	}
	if (h[0] == 0 || h[0] > QR_MAXTYPE) {
		return true;	/* a torn record still starts with its type */
	}
	if (to - from < QR_HDR || q_read(base, h, QR_HDR) != 0) {
		return false;
	}
	if (get_le16(h + 2) <= CONFIG_QUEUE_REC_MAX &&
	    from + QR_HDR + get_le16(h + 2) <= to) {
		return true;	/* not cut short inside its record */
	}
	for (i = 0; i < QR_HDR * 8; i++) {
		memcpy(buf, h, QR_HDR);
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		len = get_le16(buf + 2);
		if (buf[0] < QR_ENV || buf[0] > QR_MAXTYPE ||
		    len > CONFIG_QUEUE_REC_MAX || from + QR_HDR + len > q.bsize ||
		    q_read(base + QR_HDR, buf + QR_HDR, len) != 0) {
			continue;
		}
		crc = get_le32(buf + 8);
		put_le32(buf + 8, 0);
		if (crc32_update(q_rec_crc0(b, from), buf, QR_HDR + len) ==
		    crc) {
			return true;
		}
	}
	return false;
}

/*
 * Whether bytes from..to of block b hold a record of a newer life of the
 * block (seq just above the newest block, or where the last session
 * started): a disk kept the old header of a block that was erased and
 * taken again when the power was cut.
 */
static bool
scan_new_life(uint32_t b, uint32_t from, uint32_t to)
{
	uint32_t seq = q.blk[b].seq, c[4], i, off, next, at, bad;
	bool found = false;
	int t;

	c[0] = scan_newest_seq + 1;
	c[1] = scan_newest_seq + 2;
	c[2] = scan_boot_seq;
	c[3] = scan_boot_seq + 1;
	for (i = 0; i < 4 && !found; i++) {
		if (c[i] <= seq) {
			continue;
		}
		q.blk[b].seq = c[i];
		for (off = from; off < to && !found; off = next) {
			t = q_rec_next(b, off, q.scratch, &next, &at, &bad);
			if (t < 0 || t == Q_EOB) {
				break;
			}
			found = t != Q_PAD && at < to;
		}
	}
	q.blk[b].seq = seq;
	return found;
}

/*
 * On a file: whether from..to of block b holds a whole 512-byte disk
 * sector that is erased: a hole a power cut left in writes that had not
 * reached the disk (damage does not erase an aligned sector of records).
 */
#define SCAN_SECTOR 512u

static bool
scan_sector_hole(uint32_t b, uint32_t from, uint32_t to)
{
	uint32_t s = (b * q.bsize + from + SCAN_SECTOR - 1) / SCAN_SECTOR *
	    SCAN_SECTOR - b * q.bsize;

	for (; q.fl->rewrite && s + SCAN_SECTOR <= to; s += SCAN_SECTOR) {
		if (q_erased(b, s, s + SCAN_SECTOR) == 1) {
			return true;
		}
	}
	return false;
}

/*
 * The pending bad range is followed by a record of type t (0: the end of
 * the log). After the last QR_F_SYNCED record (writes since the last
 * sync, which a disk under a queue file makes durable in any order) or in
 * a block whose erase was cut, it is a write torn by a power cut; so it
 * is before a BOOT record or at the end, unless it is damage by its look
 * (scan_rotted()). Elsewhere it is damage.
 */
static void
scan_settle(int t)
{
	if (!scan_pend) {
		return;
	}
	scan_pend = false;
	if (scan_bit(scan_tb, scan_pb) ||
	    scan_sector_hole(scan_pb, scan_pfrom, scan_pto) ||
	    scan_new_life(scan_pb, scan_pfrom, scan_pto) ||
	    (scan_syncd && q.fl->rewrite &&
	    (q.blk[scan_pb].seq > scan_sync_seq ||
	    (q.blk[scan_pb].seq == scan_sync_seq &&
	    scan_pfrom > scan_sync_off))) || ((t == QR_BOOT || t == 0) &&
	    !scan_rotted(scan_pb, scan_pfrom, scan_pto))) {
		log_info("queue: block %lu bytes %lu-%lu: torn by a power cut; "
		    "skipped", (unsigned long)scan_pb,
		    (unsigned long)scan_pfrom, (unsigned long)scan_pto - 1);
		return;
	}
	scan_damage(scan_pb, scan_pfrom, scan_pto, "unreadable (damaged)");
}

/*
 * Scan block b; *end = end of the last good record. A bad range is
 * skipped up to the next valid record (q_rec_next()) and settled by what
 * follows it (scan_settle()).
 */
static int
scan_block(uint32_t b, uint32_t *end)
{
	uint32_t off = QB_HDR, next, at, bad;
	int t;

	*end = QB_HDR;
	for (;;) {
		t = q_rec_next(b, off, q.scratch, &next, &at, &bad);
		if (t == EDGEMTA_E_IO) {
			return t;
		}
		if (bad > off) {
			/* their readers must check what they walk over */
			scan_mark_open(Q_DMG_SLOW);
			scan_settle(-1);	/* two in a row: damage */
			scan_pend = true;
			scan_pb = b;
			scan_pfrom = off;
			scan_pto = bad;
		}
		if (t == Q_EOB) {
			return 0;
		}
		if (t == Q_PAD) {
			off = next;
			continue;
		}
		if (scan_pend) {
			scan_settle(t);
			/* that may have used q.scratch: read the record again */
			t = q_rec_read(b, at, q.scratch, &next, 0);
			if (t < 0) {
				return t;
			}
		}
		scan_record(b, at, q.scratch);
		off = next;
		*end = next;
	}
}


static bool
scan_seq_taken(uint32_t seq)
{
	uint32_t b;

	for (b = 0; b < q.nblk; b++) {
		if (q.blk[b].state == QB_USED && q.blk[b].seq == seq) {
			return true;
		}
	}
	return false;
}

/*
 * Blocks with content but no valid header: a header hit by damage is
 * recognised by the block's first record, which is valid only under the
 * block's seq (its own field, or a ring neighbour's seq +-1). The rest
 * are a block taken or erased when the power was cut (right after the
 * newest block in ring order) or damage beyond repair.
 */
static int
scan_infer(uint32_t *nused, uint32_t *ndirty)
{
	uint8_t h[QB_HDR];
	uint32_t k, b, i, c[3], next, newest = 0, end, at, bad, off;
	bool more = true;
	int r, t;

	/* round again while blocks are recognised: they are neighbours */
	for (k = 0; k < q.nblk || k % q.nblk != 0 || more; k++) {
		uint32_t pb, nb;

		b = k % q.nblk;
		if (b == 0) {
			more = false;
		}
		pb = (b + q.nblk - 1) % q.nblk;
		nb = (b + 1) % q.nblk;
		if (q.blk[b].state != QB_DIRTY) {
			continue;
		}
		r = q_read(b * q.bsize, h, QB_HDR);
		if (r != 0) {
			return r;
		}
		c[0] = get_le32(h + 4);
		c[1] = q.blk[pb].state == QB_USED ? q.blk[pb].seq + 1 : 0;
		c[2] = q.blk[nb].state == QB_USED ? q.blk[nb].seq - 1 : 0;
		for (i = 0; i < 3; i++) {
			if (c[i] == 0 || c[i] == 0xffffffffu ||
			    scan_seq_taken(c[i])) {
				continue;
			}
			/* any valid record proves it: damage may go on */
			q.blk[b].seq = c[i];
			off = QB_HDR;
			do {
				t = q_rec_next(b, off, q.scratch, &next, &at,
				    &bad);
				off = next;
			} while (t == Q_PAD);
			if (t == EDGEMTA_E_IO) {
				return t;
			}
			if (t >= QR_ENV && t <= QR_MAXTYPE) {
				break;
			}
		}
		if (i == 3) {
			q.blk[b].seq = 0;
			continue;
		}
		q.blk[b].state = QB_USED;
		q.blk[b].erases = MIN(get_le32(h + 8), Q_ERASES_MAX);
		scan_inf[b / 8] |= (uint8_t)(1u << (b % 8));
		scan_order[(*nused)++] = b;
		(*ndirty)--;
		more = true;
	}
	for (b = 0; b < q.nblk; b++) {
		if (q.blk[b].state == QB_USED &&
		    q.blk[b].seq > q.blk[newest].seq) {
			newest = b;
		}
	}
	if (q.blk[newest].state != QB_USED) {
		return 0;
	}
	/*
	 * The block after the newest one in ring order is the one the head
	 * was taking: an erase cut short there (an older block, recognised
	 * by its old records) or a block without a header is a power cut.
	 */
	b = (newest + 1) % q.nblk;
	if (q.blk[b].state == QB_USED && scan_bit(scan_inf, b) &&
	    q.blk[b].seq < q.blk[newest].seq) {
		scan_tb[b / 8] |= (uint8_t)(1u << (b % 8));
	}
	for (b = (newest + 1) % q.nblk; q.blk[b].state == QB_DIRTY;
	    b = (b + 1) % q.nblk) {
		scan_inf[b / 8] |= (uint8_t)(1u << (b % 8));
	}
	for (b = 0; b < q.nblk; b++) {
		if (q.blk[b].state != QB_DIRTY ||
		    scan_bit(scan_inf, b)) {
			continue;
		}
		r = scan_used_end(b, &end);
		if (r != 0) {
			return r;
		}
		scan_damage(b, 0, end, "block header unreadable, whole block");
	}
	return 0;
}

/* Append pre, then "<s>" (control bytes as '?'), to buf (n) at *pos. */
static void
scan_put_addr(char *buf, size_t n, size_t *pos, const char *pre,
    const uint8_t *s, size_t len)
{
	size_t i, k = strlen(pre);

	for (i = 0; i < k + len + 2 && *pos + 1 < n; i++) {
		char c = i < k ? pre[i] : i == k ? '<' :
		    i == k + len + 1 ? '>' : (char)s[i - k - 1];

		buf[(*pos)++] = (uint8_t)c < 0x20 || c == 0x7f ? '?' : c;
	}
	buf[*pos] = '\0';
}

/*
 * Log every message lost to damage with what is still readable of its
 * envelope (the reader stops at the first damaged record of its own).
 */
static void
scan_report(void)
{
	char line[LOG_LINE_MAX - 64], ids[QUEUE_ID_STRLEN];
	struct q_msg tmp;
	const uint8_t *p;
	size_t len, pos;
	unsigned idx;
	uint32_t i;
	int t, nr;

	for (i = 0; i < scan_nlost; i++) {
		pos = 0;
		nr = 0;
		line[0] = '\0';
		memset(&tmp, 0, sizeof(tmp));
		tmp.e.id = scan_lost[i].id;
		tmp.first_seq = scan_lost[i].first_seq;
		tmp.off = scan_lost[i].off;
		q_reader_start(&q_rd, &tmp);
		while (scan_lost[i].env && pos + 1 < sizeof(line)) {
			t = queue_reader_next(&q_rd, &p, &len, &idx);
			if (t == QUEUE_ITEM_SENDER) {
				scan_put_addr(line, sizeof(line), &pos,
				    "from=", p, len);
			} else if (t == QUEUE_ITEM_RCPT) {
				scan_put_addr(line, sizeof(line), &pos,
				    nr++ == 0 ? ", to=" : ",", p, len);
			} else {
				break;
			}
		}
		log_warn("%s: lost to queue damage (%s): %s",
		    queue_id_str(scan_lost[i].id, ids), scan_lost[i].why,
		    pos == 0 ? "envelope unreadable" : line);
	}
	if (q.dmg_msgs > scan_nlost) {
		log_warn("queue: %lu more messages lost to damage",
		    (unsigned long)(q.dmg_msgs - scan_nlost));
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
			if (h[3] == Q_VERSION_OLD) {
				q.v1[b / 8] |= (uint8_t)(1u << (b % 8));
			}
			if (h[3] == Q_VERSION || h[3] == Q_VERSION_OLD) {
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
	if (*ndirty > 0) {
		r = scan_infer(nused, ndirty);
		if (r != 0) {
			return r;
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
	scan_damaged = scan_pend = false;
	scan_boot_id = scan_boot_seq = 0;
	scan_nlost = 0;
	memset(scan_inf, 0, (q.nblk + 7) / 8);
	memset(scan_tb, 0, (q.nblk + 7) / 8);
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
	scan_sort_seq(scan_order, nused);
	r = scan_find_sync(nused);
	if (r != 0) {
		return r;
	}
	scan_report_headers();
	scan_newest_seq = nused == 0 ? 0 : q.blk[scan_order[nused - 1]].seq;
	end = 0;
	for (i = 0; i < nused; i++) {
		r = scan_block(scan_order[i], &end);
		if (r != 0) {
			return r;
		}
	}
	scan_settle(0);
	scan_drop_writing();
	scan_end_orphans();
	if (nused > 0) {
		b = scan_order[nused - 1];
		r = scan_used_end(b, &used_end);
		if (r != 0) {
			return r;
		}
		end = MAX(end, used_end);
		q.head = b;
		q.have_head = true;
		q.wpage = MIN((end + q.psize - 1) / q.psize * q.psize, q.bsize);
		if (q_blk_v1(b) || scan_bit(scan_inf, b)) {
			q.wpage = q.bsize;	/* write on in a new block */
		}
		/* above whatever the last session may have used (top) */
		q.next_seq = MAX(q.blk[b].seq + 1, scan_boot_seq) +
		    2 * q.nblk + 2;
		q.next_id = MAX(q.next_id, scan_boot_id) + Q_ID_GAP;
	}
	q.boot_id = q.next_id;
	q.boot_seq = q.next_seq;
	q.need_boot = true;
	q.open = true;
	scan_report();
	return 0;
}
