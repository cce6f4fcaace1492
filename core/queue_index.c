/*
 * queue_index.c - the queue's in-RAM index (slots sorted by id), the
 * queries on it, readers, and delivery results (DONE, DEFER, DELETE
 * records). The on-flash format is described in queue.c.
 */
#include <string.h>

#include "queue_int.h"

/* ---- ids and recipient states ---- */

char *
queue_id_str(uint32_t id, char *buf)
{
	static const char hex[] = "0123456789ABCDEF";
	int i;

	for (i = 7; i >= 0; i--) {
		buf[i] = hex[id & 0xf];
		id >>= 4;
	}
	buf[8] = '\0';
	return buf;
}

int
queue_id_parse(const char *s, uint32_t *id)
{
	uint32_t v = 0;
	int i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		unsigned d;

		if (i >= 8) {
			return EDGEMTA_E_INVAL;
		}
		if (c >= '0' && c <= '9') {
			d = (unsigned)(c - '0');
		} else if (c >= 'A' && c <= 'F') {
			d = (unsigned)(c - 'A' + 10);
		} else if (c >= 'a' && c <= 'f') {
			d = (unsigned)(c - 'a' + 10);
		} else {
			return EDGEMTA_E_INVAL;
		}
		v = (v << 4) | d;
	}
	if (i == 0) {
		return EDGEMTA_E_INVAL;
	}
	*id = v;
	return 0;
}

void
q_set_state(struct q_msg *m, unsigned idx, int st)
{
	uint8_t bit = (uint8_t)(1u << (idx & 7));

	if (st == QUEUE_RCPT_SENT) {
		m->sent[idx / 8] |= bit;
	} else if (st == QUEUE_RCPT_FAILED) {
		m->failed[idx / 8] |= bit;
	}
}

int
q_get_state(const struct q_msg *m, unsigned idx)
{
	uint8_t bit = (uint8_t)(1u << (idx & 7));

	if (m->sent[idx / 8] & bit) {
		return QUEUE_RCPT_SENT;
	}
	if (m->failed[idx / 8] & bit) {
		return QUEUE_RCPT_FAILED;
	}
	return QUEUE_RCPT_PENDING;
}

void
q_recount(struct q_msg *m)
{
	unsigned i, n = 0;

	for (i = 0; i < m->e.nrcpt; i++) {
		if (q_get_state(m, i) == QUEUE_RCPT_PENDING) {
			n++;
		}
	}
	m->e.npending = (uint16_t)n;
}

/* ---- the index: slots, and ord[] = used slots sorted by id ---- */

static uint32_t
q_ord_pos(uint32_t id)
{
	uint32_t lo = 0, hi = q.nord;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (q.msg[q.ord[mid]].e.id < id) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

struct q_msg *
q_find(uint32_t id)
{
	uint32_t p = q_ord_pos(id);

	if (p < q.nord && q.msg[q.ord[p]].e.id == id) {
		return &q.msg[q.ord[p]];
	}
	return NULL;
}

/* A cleared slot for id (not yet in the index), or NULL when full. */
struct q_msg *
q_slot_alloc(uint32_t id)
{
	uint32_t s, p;
	struct q_msg *m;

	if (q.nfree > 0) {
		s = q.freel[--q.nfree];
	} else if (q.nhigh < CONFIG_QUEUE_MAX_MSGS) {
		s = q.nhigh++;	/* slots above the mark were never touched */
	} else {
		return NULL;
	}
	m = &q.msg[s];
	memset(m, 0, sizeof(*m));
	m->e.id = id;
	p = q_ord_pos(id);
	memmove(&q.ord[p + 1], &q.ord[p], (q.nord - p) * sizeof(q.ord[0]));
	q.ord[p] = s;
	q.nord++;
	return m;
}

void
q_slot_free(struct q_msg *m)
{
	uint32_t s = (uint32_t)(m - q.msg);
	uint32_t p = q_ord_pos(m->e.id);

	while (p < q.nord && q.ord[p] != s) {
		p++;
	}
	if (p < q.nord) {
		memmove(&q.ord[p], &q.ord[p + 1],
		    (q.nord - p - 1) * sizeof(q.ord[0]));
		q.nord--;
	}
	m->state = QS_FREE;
	q.freel[q.nfree++] = s;
}

/* ---- the index ---- */

static struct q_msg *
q_live(uint32_t id)
{
	struct q_msg *m;

	if (!q.open) {
		return NULL;
	}
	m = q_find(id);
	return m != NULL && m->state == QS_LIVE ? m : NULL;
}

uint32_t
queue_count(void)
{
	uint32_t i, n = 0;

	for (i = 0; q.open && i < q.nord; i++) {
		if (q.msg[q.ord[i]].state == QS_LIVE) {
			n++;
		}
	}
	return n;
}

int
queue_foreach(int (*fn)(void *arg, const struct queue_entry *e),
    void *arg)
{
	uint32_t i;

	for (i = 0; q.open && i < q.nord; i++) {
		struct q_msg *m = &q.msg[q.ord[i]];
		struct queue_entry e;
		int r;

		if (m->state != QS_LIVE) {
			continue;
		}
		e = m->e;	/* fn may change the index */
		r = fn(arg, &e);
		if (r != 0) {
			return r;
		}
		/* fn may have removed m or added messages: find our place */
		i = q_ord_pos(e.id);
		if (i >= q.nord || q.msg[q.ord[i]].e.id != e.id) {
			i--;	/* unsigned wrap is fine: i++ follows */
		}
	}
	return 0;
}

int
queue_lookup(uint32_t id, struct queue_entry *out)
{
	struct q_msg *m = q_live(id);

	if (m == NULL) {
		return EDGEMTA_E_NOENT;
	}
	*out = m->e;
	return 0;
}

int
queue_rcpt_state(uint32_t id, unsigned idx)
{
	struct q_msg *m = q_live(id);

	if (m == NULL || idx >= m->e.nrcpt) {
		return EDGEMTA_E_NOENT;
	}
	return q_get_state(m, idx);
}

void
queue_stats(struct queue_stats *out)
{
	uint32_t b, i;

	memset(out, 0, sizeof(*out));
	if (!q.open) {
		return;
	}
	out->block_count = q.nblk;
	out->free_blocks = q_avail();
	out->erase_min = 0xffffffffu;
	for (b = 0; b < q.nblk; b++) {
		out->erase_min = MIN(out->erase_min, q.blk[b].erases);
		out->erase_max = MAX(out->erase_max, q.blk[b].erases);
		out->erase_total += q.blk[b].erases;
	}
	for (i = 0; i < q.nord; i++) {
		if (q.msg[q.ord[i]].state == QS_LIVE) {
			out->live_msgs++;
			out->bytes_live += q.msg[q.ord[i]].e.size;
		}
	}
	out->syncs = q.syncs;
	out->bytes_programmed = q.bytes_prog;
	out->damaged_ranges = q.dmg_ranges;
	out->damaged_msgs = q.dmg_msgs;
	out->damaged_bytes = q.dmg_bytes;
}

/* ---- readers ---- */

/*
 * The cursor is (block seq, offset), so a reader notices when the block
 * it was in has been reclaimed (the message was copied forward while it
 * was being read): EDGEMTA_E_AGAIN, open it again.
 */
void
q_reader_start(struct queue_reader *r, const struct q_msg *m)
{
	r->id = m->e.id;
	r->pos_block = m->first_seq;
	r->pos_off = m->off;
	r->size = 0;
	r->crc = 0;
	r->rcpt_next = 0;
	r->fast = false;
}

int
queue_reader_open(struct queue_reader *r, uint32_t id)
{
	struct q_msg *m = q_live(id);

	if (m == NULL) {
		return EDGEMTA_E_NOENT;
	}
	q_reader_start(r, m);
	r->fast = m->dmg == 0;
	return 0;
}

/*
 * The block holding seq. Blocks are taken as a ring, seq + 1 each, so
 * it is nearly always as far behind the head in the ring as in seq
 * (readers of concurrent messages sit in different blocks: a single
 * search hint made each of them walk the ring); else a search from the
 * last answer (seqs jump between sessions).
 */
static int
q_blk_of_seq(uint32_t seq)
{
	static uint32_t hint;
	uint32_t b, i, d = q.blk[q.head].seq - seq;

	if (d < q.nblk) {
		b = (q.head + q.nblk - d) % q.nblk;
		if (q.blk[b].state == QB_USED && q.blk[b].seq == seq) {
			return (int)b;
		}
	}
	for (i = 0; i < q.nblk; i++) {
		b = (hint + i) % q.nblk;
		if (q.blk[b].state == QB_USED && q.blk[b].seq == seq) {
			hint = b;
			return (int)b;
		}
	}
	return -1;
}

/*
 * The used block that follows seq in the log: seqs jump between sessions
 * (queue_scan.c), so the next one is the smallest seq above it; in ring
 * order that is nearly always the block after it.
 */
static int
q_blk_after(uint32_t seq)
{
	int b = q_blk_of_seq(seq), best = -1;
	uint32_t i, n;

	if (b >= 0) {
		n = ((uint32_t)b + 1) % q.nblk;
		if (q.blk[n].state == QB_USED && q.blk[n].seq == seq + 1) {
			return (int)n;
		}
	}
	for (i = 0; i < q.nblk; i++) {
		if (q.blk[i].state == QB_USED && q.blk[i].seq > seq &&
		    (best < 0 || q.blk[i].seq < q.blk[best].seq)) {
			best = (int)i;
		}
	}
	return best;
}

#define Q_READER_DONE 0xffffffffu

/*
 * A fast reader (queue_reader_open() of a message recovery found whole)
 * checks only its own records and skips the others by their header: a
 * C-client load interleaves C messages, so checking every record it
 * walks over cost each reader C times its own CRC work. A damaged header
 * of another message can then make it skip records of its own; every
 * such skip shows (a header that fails its checks, the head reached, or
 * a COMMIT whose counts or CRC do not match): the message is marked to
 * be read as before from then on (q_rec_next(): damage elsewhere costs
 * it nothing) and this read fails like a damaged one, so its delivery
 * is tried again. Without damage nothing is skipped that a full check
 * would keep.
 */
static int
q_reader_bad(struct queue_reader *r)
{
	struct q_msg *m = r->fast ? q_live(r->id) : NULL;

	if (m != NULL) {
		m->dmg |= Q_DMG_SLOW;
	}
	return EDGEMTA_E_CORRUPT;
}

int
queue_reader_next(struct queue_reader *r, const uint8_t **ptr,
    size_t *len, unsigned *idx)
{
	uint8_t *p = r->buf + QR_HDR;
	uint32_t next, n, at, bad;
	int b, t, hops = 0;

	if (r->rcpt_next == Q_READER_DONE) {
		return QUEUE_ITEM_END;
	}
	if (!q.open) {
		return EDGEMTA_E_INVAL;
	}
	b = q_blk_of_seq(r->pos_block);
	for (;;) {
		if (b < 0) {
			return EDGEMTA_E_AGAIN;
		}
		if (r->fast) {
			t = q_rec_read((uint32_t)b, r->pos_off, r->buf, &next,
			    r->id);
		} else {
			/* damage in another message's records costs nothing */
			t = q_rec_next((uint32_t)b, r->pos_off, r->buf, &next,
			    &at, &bad);
		}
		if (t == EDGEMTA_E_CORRUPT) {
			return q_reader_bad(r);
		}
		if (t < 0) {
			return t;
		}
		if (t == Q_EOB) {
			if (r->pos_block == q.blk[q.head].seq ||
			    ++hops > (int)q.nblk) {
				return q_reader_bad(r);
			}
			b = q_blk_after(r->pos_block);
			if (b < 0) {
				return q_reader_bad(r);
			}
			r->pos_block = q.blk[b].seq;
			r->pos_off = QB_HDR;
			continue;
		}
		r->pos_off = next;
		if (t == Q_PAD || get_le32(r->buf + 4) != r->id) {
			continue;
		}
		n = get_le16(r->buf + 2);
		switch (t) {
		case QR_ENV:
			*ptr = p + 9;
			*len = n - 9;
			return QUEUE_ITEM_SENDER;
		case QR_RCPT:
			*ptr = p + 3;
			*len = n - 3;
			*idx = get_le16(p);
			r->rcpt_next++;
			return QUEUE_ITEM_RCPT;
		case QR_DATA:
			r->crc = crc32_combine(r->crc, q.pcrc, n);
			r->size += n;
			*ptr = p;
			*len = n;
			return QUEUE_ITEM_DATA;
		case QR_COMMIT:
			if (get_le16(p) != r->rcpt_next ||
			    get_le32(p + 2) != r->size ||
			    get_le32(p + 6) != r->crc) {
				return q_reader_bad(r);
			}
			r->rcpt_next = Q_READER_DONE;
			*ptr = p;
			*len = 0;
			return QUEUE_ITEM_END;
		default:
			break;
		}
	}
}

/* ---- delivery results ---- */

int
queue_rcpt_done(uint32_t id, unsigned idx, enum queue_rcpt_state st)
{
	struct q_msg *m = q_live(id);
	uint8_t p[3];
	int r;

	if (m == NULL || idx >= m->e.nrcpt) {
		return EDGEMTA_E_NOENT;
	}
	if (st != QUEUE_RCPT_SENT && st != QUEUE_RCPT_FAILED) {
		return EDGEMTA_E_INVAL;
	}
	if (q_get_state(m, idx) != QUEUE_RCPT_PENDING) {
		return 0;
	}
	put_le16(p, (uint16_t)idx);
	p[2] = (uint8_t)st;
	r = q_append(QR_DONE, 0, id, p, sizeof(p), NULL, 0, Q_CLS_SYS,
	    NULL, NULL);
	if (r != 0) {
		return r;
	}
	q_set_state(m, idx, st);
	q_recount(m);
	if (m->e.npending == 0) {
		q_slot_free(m);
	}
	return 0;
}

int
queue_msg_defer(uint32_t id, int64_t next_try, uint16_t attempts,
    const char *reason)
{
	struct q_msg *m = q_live(id);
	uint8_t p[10];
	size_t rlen = strlen(reason);
	int r;

	if (m == NULL) {
		return EDGEMTA_E_NOENT;
	}
	rlen = MIN(rlen, (size_t)200);
	put_le64(p, (uint64_t)next_try);
	put_le16(p + 8, attempts);
	r = q_append(QR_DEFER, 0, id, p, sizeof(p), reason, rlen, Q_CLS_LOW,
	    &m->dblk, &m->doff);
	if (r == EDGEMTA_E_FULL) {
		/*
		 * Space is low: this deferral stays in RAM (the next copy
		 * forward writes it); the last one on flash still holds.
		 */
		r = 0;
	} else if (r != 0) {
		m->doff = 0;
		return r;
	}
	m->e.next_try = next_try;
	m->e.attempts = attempts;
	return 0;
}

int
queue_msg_reason(uint32_t id, char *buf, size_t len)
{
	struct q_msg *m = q_live(id);
	uint32_t next, n;
	int t;

	if (len == 0) {
		return EDGEMTA_E_INVAL;
	}
	buf[0] = '\0';
	if (m == NULL) {
		return EDGEMTA_E_NOENT;
	}
	if (m->doff == 0) {
		return 0;
	}
	if (m->dblk == q.head && q.wfill > 0 &&
	    m->doff + QR_HDR + 10 + 200 > q.wpage) {
		/* (part of) the record is still in the page buffer */
		t = q_flush();
		if (t != 0) {
			return t;
		}
	}
	t = q_rec_read(m->dblk, m->doff, q.scratch, &next, 0);
	if (t == EDGEMTA_E_IO) {
		return t;
	}
	if (t != QR_DEFER || get_le32(q.scratch + 4) != id) {
		/* a power cut came between a copy and its DEFER: gone */
		m->doff = 0;
		return 0;
	}
	n = get_le16(q.scratch + 2) - 10;
	n = (uint32_t)MIN((size_t)n, len - 1);
	memcpy(buf, q.scratch + QR_HDR + 10, n);
	buf[n] = '\0';
	return 0;
}

int
queue_msg_delete(uint32_t id)
{
	struct q_msg *m = q_live(id);
	int r;

	if (m == NULL) {
		return EDGEMTA_E_NOENT;
	}
	r = q_append(QR_DELETE, 0, id, NULL, 0, NULL, 0, Q_CLS_SYS, NULL,
	    NULL);
	if (r != 0) {
		return r;
	}
	q_slot_free(m);
	return 0;
}
