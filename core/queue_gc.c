/*
 * queue_gc.c - reclaiming flash: free the tail (oldest) block once no
 * live or unfinished message starts in it, and copy forward the live
 * messages that hold the tail when free blocks run low, so that one
 * undeliverable message never stops the ring.
 *
 * Only the tail is ever freed, and a freed block keeps its content until
 * the head takes it again and erases it (queue.c, "Erasing"). A copy is
 * made durable before the block holding the old copy is erased.
 */
#include <string.h>

#include "queue_int.h"

struct queue_reader q_rd;

/*
 * Rewrite message m at the head as a complete sealed copy carrying its
 * recipients' states, then its last deferral. m then lives at the copy.
 * Returns 0 or an error (the old copy stays valid).
 */
int
q_copy_forward(struct q_msg *m)
{
	uint8_t env[9], rc[3], cm[10], dp[10];
	char reason[201];
	const uint8_t *p;
	size_t len;
	unsigned idx;
	uint32_t eb = 0, eoff = 0, b, off, id = m->e.id, bytes = 0;
	int t, r = 0;

	if (q_avail() < q_need_blocks(m)) {
		return EDGEMTA_E_FULL;	/* the old copy stays valid */
	}
	q_reader_start(&q_rd, m);
	for (;;) {
		t = queue_reader_next(&q_rd, &p, &len, &idx);
		if (t < 0) {
			return t;
		}
		switch (t) {
		case QUEUE_ITEM_SENDER:
			put_le64(env, (uint64_t)m->e.arrival);
			env[8] = m->e.flags;
			r = q_append(QR_ENV, QR_F_COPY, id, env, sizeof(env),
			    p, len, Q_CLS_SYS, &eb, &eoff);
			bytes += (uint32_t)(QR_HDR + sizeof(env) + len);
			break;
		case QUEUE_ITEM_RCPT:
			put_le16(rc, (uint16_t)idx);
			rc[2] = (uint8_t)q_get_state(m, idx);
			r = q_append(QR_RCPT, QR_F_COPY, id, rc, sizeof(rc),
			    p, len, Q_CLS_SYS, NULL, NULL);
			bytes += (uint32_t)(QR_HDR + sizeof(rc) + len);
			break;
		case QUEUE_ITEM_DATA:
			while (r == 0 && len > 0) {
				size_t k = q_data_chunk(len);

				r = q_append(QR_DATA, QR_F_COPY, id, p, k,
				    NULL, 0, Q_CLS_SYS, NULL, NULL);
				bytes += (uint32_t)(QR_HDR + k);
				p += k;
				len -= k;
			}
			break;
		default:
			put_le16(cm, m->e.nrcpt);
			put_le32(cm + 2, q_rd.size);
			put_le32(cm + 6, q_rd.crc);
			r = q_append(QR_COMMIT, QR_F_COPY, id, cm, sizeof(cm),
			    NULL, 0, Q_CLS_SYS, &b, &off);
			if (r != 0) {
				return r;
			}
			goto sealed;
		}
		if (r != 0) {
			return r;
		}
	}
sealed:
	if ((m->doff != 0 || m->e.attempts != 0) &&
	    queue_msg_reason(id, reason, sizeof(reason)) == 0) {
		put_le64(dp, (uint64_t)m->e.next_try);
		put_le16(dp + 8, m->e.attempts);
		r = q_append(QR_DEFER, 0, id, dp, sizeof(dp), reason,
		    strlen(reason), Q_CLS_SYS, &m->dblk, &m->doff);
		if (r != 0) {
			m->doff = 0;
		}
	}
	m->rec_bytes = bytes + QR_HDR + sizeof(cm);
	m->blk = eb;
	m->off = eoff;
	m->first_seq = q.blk[eb].seq;
	m->end_seq = q.blk[b].seq;
	return 0;
}

/*
 * What holds the tail block (seq tseq): *cand = the first live message
 * starting there (NULL: nothing, the tail can be erased); *need =
 * blocks to copy all of them one after the other; *live = flash bytes
 * of every message in the queue. false if an unsealed message starts in
 * the tail (it cannot be copied: wait for it). Only where a message
 * starts matters: its later records (a DEFER superseded by a newer one,
 * DONE records) are garbage once the blocks before them are gone.
 */
static bool
gc_holders(uint32_t tseq, struct q_msg **cand, uint32_t *need,
    uint64_t *live)
{
	uint32_t i, bytes = 0;
	bool ok = true;

	*cand = NULL;
	*need = 0;
	*live = 0;
	for (i = 0; i < q.nord; i++) {
		struct q_msg *m = &q.msg[q.ord[i]];

		*live += m->rec_bytes;
		if (m->first_seq > tseq) {
			continue;
		}
		if (m->state != QS_LIVE) {
			ok = false;
			continue;
		}
		bytes += m->rec_bytes + 256 + QR_HDR;
		if (*cand == NULL) {
			*cand = m;
		}
	}
	*need = bytes == 0 ? 0 : q_blocks_for(bytes);
	return ok;
}

void
queue_reclaim(void)
{
	struct q_msg *m;
	bool copied = false;
	uint64_t live, used;
	uint32_t need;
	int i, t;

	if (!q.open || (q.flags & QUEUE_O_RDONLY) || q.err != 0) {
		return;
	}
	for (i = 0; i < 8; i++) {
		t = q_tail();
		if (t < 0 || !q.have_head || (uint32_t)t == q.head) {
			return;
		}
		if (!gc_holders(q.blk[t].seq, &m, &need, &live)) {
			return;
		}
		if (m == NULL) {
			/* nothing starts in the tail: free, erase when taken */
			q_blk_set((uint32_t)t, QB_STALE);
			continue;
		}
		/*
		 * Copy when new mail is about to be refused (q_keep_blocks()
		 * leaves room for the biggest message), and only if it pays:
		 * at least a quarter of the used flash must be dead, else the
		 * queue is simply full
		 * of live mail and copying would churn the flash for nothing.
		 * Start only if every message holding the tail can be copied
		 * (need is an upper bound), so that the tail is then erased
		 * and the reserve comes back: never strand the queue with no
		 * free block and a tail that cannot be erased.
		 */
		used = (uint64_t)(q.nblk - q_avail()) * (q.bsize - QB_HDR);
		if (copied || q_avail() > q_keep_blocks() + 1 ||
		    q_avail() < need ||
		    (live + m->rec_bytes) * 4 > used * 3) {
			return;
		}
		/* readers read flash: program the copy's last page */
		if (q_copy_forward(m) != 0 || q_flush() != 0) {
			return;
		}
		copied = true;
	}
}
