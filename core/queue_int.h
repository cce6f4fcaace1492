/*
 * queue_int.h - private state shared by queue.c (format, writing, index,
 * readers), queue_scan.c (recovery) and queue_gc.c (reclaim). Not for
 * other modules. The on-flash format is described at the top of queue.c.
 */
#ifndef QUEUE_INT_H
#define QUEUE_INT_H

#include "queue.h"

#define QB_HDR 16		/* block header bytes */
#define QR_HDR 12		/* record header bytes */
#define Q_VERSION 2
#define Q_VERSION_OLD 1		/* still read (blocks are migrated as the ring turns) */

/*
 * Room left between sessions (queue.c, "Identity"): ids and block seqs a
 * session may have used without its records being found after a power
 * cut. A session never has more ids than Q_ID_GAP / 2 unsynced.
 */
#define Q_ID_GAP 256u

/* Record types (0xFF = erased space). */
enum {
	QR_ENV = 1, QR_RCPT, QR_DATA, QR_COMMIT, QR_DONE, QR_DEFER,
	QR_DELETE, QR_ABORT, QR_BOOT, QR_MARK, QR_MAXTYPE = QR_MARK
};
#define QR_F_COPY 0x01u		/* record of a copied-forward message */
#define QR_F_SYNCED 0x02u	/* first record after a sync: all before it is durable */

/* q_rec_read() results besides a record type. */
#define Q_PAD 0x100		/* 0xFF: skip to the next page */
#define Q_EOB 0x101		/* end of block */

/*
 * Block states: FREE reads as erased; DIRTY holds garbage (erase before
 * use); STALE was freed by reclaim and still holds its old records under
 * a valid header (erase before use: see "Erasing" in queue.c).
 */
enum { QB_FREE = 0, QB_DIRTY, QB_STALE, QB_USED };

/* 8 bytes per block: the erase count saturates at Q_ERASES_MAX in RAM. */
struct q_block {
	uint32_t seq;
	uint32_t erases : 24;
	uint32_t state : 8;
};
#define Q_ERASES_MAX 0xffffffu

/* Slot states (ORPHAN: recovery only, see queue_scan.c). */
enum { QS_FREE = 0, QS_WRITING, QS_SEALED, QS_LIVE, QS_ORPHAN };

/* q_msg.dmg: recovery found damage while the message was open / in it. */
#define Q_DMG_HIT 0x1u
#define Q_DMG_BAD 0x2u
/* ... and at run time: a fast reader found damage (queue_reader_next()) */
#define Q_DMG_SLOW 0x4u

#define Q_RCPT_BYTES ((CONFIG_SMTP_MAX_RCPT + 7) / 8)

struct q_msg {
	struct queue_entry e;
	uint32_t crc;		/* recovery: running CRC of DATA */
	uint32_t first_seq;	/* block seq of the ENV record */
	uint32_t end_seq;	/* block seq of the COMMIT record */
	uint32_t blk, off;	/* where the ENV record is */
	uint32_t dblk, doff;	/* last DEFER record (doff 0: none) */
	uint32_t rec_bytes;	/* flash bytes of its ENV..COMMIT records */
	uint8_t state;
	uint8_t dmg;		/* recovery: Q_DMG_* */
	uint8_t sent[Q_RCPT_BYTES];
	uint8_t failed[Q_RCPT_BYTES];
};

/*
 * Classes of appends (see "Capacity" in queue.c): new mail must leave the
 * reserve alone, even inside the head block; LOW records (DEFER, ABORT:
 * losing one costs nothing but a stale retry time) use at most half of
 * the configured reserve; SYS records (COMMIT, DONE, DELETE, copies,
 * BOOT) may take any free block.
 */
enum { Q_CLS_NEW = 0, Q_CLS_LOW, Q_CLS_SYS };

/*
 * Read cache: one aligned window of flash, so that a scan or a reader
 * reads a whole block (or page) at once instead of every record header
 * and payload separately. On Linux the window is a whole erase block
 * (RAM: CONFIG_QUEUE_BLOCK_SIZE bytes, 4 KiB by default; blocks above
 * 16 KiB fall back to pages); elsewhere (RTOS, where RAM is dear and
 * flash reads are cheap) one page (RAM: CONFIG_QUEUE_PAGE_SIZE bytes).
 */
#if CONFIG_TARGET_LINUX && CONFIG_QUEUE_BLOCK_SIZE <= 16384
#define Q_RC_SIZE CONFIG_QUEUE_BLOCK_SIZE
#else
#define Q_RC_SIZE CONFIG_QUEUE_PAGE_SIZE
#endif

struct q_state {
	struct flash *fl;
	unsigned flags;
	bool open;
	int err;		/* sticky I/O error: reopen to recover */
	uint32_t nblk, bsize, psize;
	struct q_block blk[CONFIG_QUEUE_MAX_BLOCKS];
	uint32_t nused;		/* blocks in state QB_USED */
	uint32_t nstale;	/* blocks in state QB_STALE */
	uint32_t stale_lo;	/* no STALE block has a lower seq */
	uint32_t tail;		/* the used block with the lowest seq */
	bool tail_ok;		/* tail is known (else q_tail() searches) */
	uint32_t fresh;		/* blocks taken since the last sync */
	bool have_head;
	uint32_t head;		/* block being written */
	uint32_t next_seq;
	uint32_t pcrc;		/* CRC of the payload of the last DATA record
				 * q_append() wrote or q_rec_read() checked */
	uint32_t wpage, wfill;	/* buffer = page at wpage in head */
	uint32_t lastfill;	/* record bytes of the page programmed last */
	bool wpending;		/* buffer holds records not on flash */
	bool wdurable;		/* a seal waits for commit */
	bool results;		/* results written since the last sync */
	bool rflush;		/* ... since the last queue_flush_results() */
	bool copied;		/* a copy written since the last sync */
	bool unsynced;		/* programmed or erased since last sync */
	bool need_boot;		/* first append writes a BOOT record */
	bool mark_sync;		/* the next record gets QR_F_SYNCED */
	uint8_t wbuf[CONFIG_QUEUE_PAGE_SIZE];
	uint32_t next_id;
	struct q_msg msg[CONFIG_QUEUE_MAX_MSGS];
	uint32_t ord[CONFIG_QUEUE_MAX_MSGS];	/* used slots by id */
	uint32_t nord;
	uint32_t freel[CONFIG_QUEUE_MAX_MSGS];	/* freed slots */
	uint32_t nfree;
	uint32_t nhigh;		/* slots from here up were never used */
	struct queue_writer *pend;	/* sealed, waiting for sync */
	uint32_t nopen;		/* writers between begin and seal */
	uint64_t syncs, bytes_prog;
	uint32_t ids_unsynced;	/* ids taken since the last sync */
	uint32_t boot_id, boot_seq;	/* floors the BOOT record carries */
	uint32_t dmg_ranges, dmg_msgs;	/* damage found by recovery */
	uint64_t dmg_bytes;
	uint8_t v1[(CONFIG_QUEUE_MAX_BLOCKS + 7) / 8];	/* format-1 blocks */
	uint8_t scratch[CONFIG_QUEUE_REC_MAX + QR_HDR];
	uint32_t rcsize;	/* window: the block, or a page if too big */
	uint32_t rcoff;		/* device offset of the cached window */
	bool rcvalid;
	uint8_t rc[Q_RC_SIZE];
};

extern struct q_state q;

/* queue.c */
bool q_blk_v1(uint32_t b);
uint32_t q_rec_crc0(uint32_t b, uint32_t off);
int q_read(uint32_t off, void *buf, uint32_t len);
int q_rec_read(uint32_t b, uint32_t off, uint8_t *buf, uint32_t *next,
    uint32_t id);
int q_rec_next(uint32_t b, uint32_t off, uint8_t *buf, uint32_t *next,
    uint32_t *at, uint32_t *bad_end);
int q_erased(uint32_t b, uint32_t off, uint32_t end);
int q_append(uint8_t type, uint8_t flags, uint32_t id, const void *p1,
    size_t n1, const void *p2, size_t n2, int cls, uint32_t *blk,
    uint32_t *off);
int q_sync(void);
int q_flush(void);
size_t q_data_chunk(size_t len);
uint32_t q_blocks_for(uint32_t bytes);
uint32_t q_need_blocks(const struct q_msg *m);
uint32_t q_keep_blocks(void);
int q_erase(uint32_t b);
void q_blk_set(uint32_t b, uint8_t state);
uint32_t q_avail(void);
int q_tail(void);
struct q_msg *q_find(uint32_t id);
struct q_msg *q_slot_alloc(uint32_t id);
void q_slot_free(struct q_msg *m);
void q_set_state(struct q_msg *m, unsigned idx, int st);
int q_get_state(const struct q_msg *m, unsigned idx);
void q_recount(struct q_msg *m);
void q_reader_start(struct queue_reader *r, const struct q_msg *m);

/* queue_gc.c; q_rd: copy-forward's reader, also recovery's report */
extern struct queue_reader q_rd;
int q_copy_forward(struct q_msg *m);

#endif
