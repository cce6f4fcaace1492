/*
 * queue.h - the durable message queue: an append-only log of records over
 * the erase blocks of a struct flash, used as a ring.
 *
 * One queue per process (module state, lwIP style). A message is written
 * as ENV (sender, arrival), RCPT records, DATA records streamed while the
 * client sends, then a COMMIT record carrying the total length and CRC of
 * the data. Only committed ("sealed") messages exist. Delivery results
 * are appended as small records; old pages are never rewritten. The tail
 * (oldest) block is erased once nothing live remains in it; a live message
 * holding the tail is copied forward when space runs low.
 *
 * Durability: queue_msg_seal() only appends the COMMIT record to the RAM
 * page buffer. queue_commit() (the event loop's before-sleep hook)
 * programs the partial page, syncs the flash once, then calls the done
 * callback of every message sealed since the last commit: group commit.
 * The SMTP "250" goes out from that callback, never earlier.
 *
 * The format is described in queue.c; all fields little-endian; block
 * headers carry a format version. A queue written by a newer format is
 * refused (EDGEMTA_E_VERSION), never discarded; an older one is read and
 * migrated as the ring turns.
 */
#ifndef QUEUE_H
#define QUEUE_H

#include "edgemta.h"
#include "flash.h"
#include "addr.h"

#define QUEUE_ID_STRLEN 9	/* 8 upper-case hex digits + NUL */

#define QUEUE_O_RDONLY 0x1u	/* admin tools: never program or erase */

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,	/* not yet delivered (maybe deferred) */
	QUEUE_RCPT_SENT = 1,	/* accepted by the next hop (2xx) */
	QUEUE_RCPT_FAILED = 2	/* permanently failed (5xx, expired) */
};

/* What the in-RAM index knows about one sealed message. */
struct queue_entry {
	uint32_t id;
	uint32_t size;		/* message bytes (as stored, CRLF lines) */
	int64_t arrival;	/* wall clock seconds at acceptance */
	int64_t next_try;	/* wall clock seconds; 0 = as soon as possible */
	uint16_t attempts;	/* delivery attempts recorded so far */
	uint16_t nrcpt;
	uint16_t npending;	/* recipients still QUEUE_RCPT_PENDING */
	uint8_t flags;		/* QUEUE_MSG_* */
};

#define QUEUE_MSG_BOUNCE 0x1u	/* a DSN we generated: never bounce it */

struct queue_stats {
	uint32_t block_count;
	uint32_t free_blocks;	/* erased and ready */
	uint32_t live_msgs;
	uint32_t bytes_live;	/* sum of sizes of live messages */
	uint32_t erase_min, erase_max;	/* per-block erase counters */
	uint64_t erase_total;
	uint64_t syncs;		/* flash syncs since open */
	uint64_t bytes_programmed;	/* since open */
	/* found by the last queue_open() (logged there, queue.c) */
	uint32_t damaged_ranges;	/* unreadable ranges skipped */
	uint32_t damaged_msgs;		/* messages they cost */
	uint64_t damaged_bytes;
};

/* ---- opening ---- */

/*
 * Open the queue on fl: a blank (all 0xFF) device is formatted; otherwise
 * the log is scanned, every record's CRC checked, torn and unsealed
 * records dropped and the index rebuilt. fl must outlive the queue.
 * Returns 0, EDGEMTA_E_VERSION (newer format: refuse to start),
 * EDGEMTA_E_CORRUPT (not an edgemta queue at all), EDGEMTA_E_INVAL
 * (geometry exceeds CONFIG_QUEUE_MAX_BLOCKS or does not match the
 * queue on the device) or EDGEMTA_E_IO.
 */
int queue_open(struct flash *fl, unsigned flags);

/* Commit what is pending and forget the queue (RAM only). */
void queue_close(void);

/* "%08X" of id into buf (QUEUE_ID_STRLEN). Returns buf. */
char *queue_id_str(uint32_t id, char *buf);

/* Parse a queue id string. 0 or EDGEMTA_E_INVAL. */
int queue_id_parse(const char *s, uint32_t *id);

/* ---- writing a message (owned by the SMTP session that receives it) ---- */

typedef void (*queue_done_fn)(void *arg, int err);

/*
 * The writer is embedded in its owner and is opaque apart from id;
 * owner must not touch the other fields.
 */
struct queue_writer {
	uint32_t id;		/* queue id, valid after queue_msg_begin */
	int err;		/* first error; once set, the writer is dead */
	uint32_t size;		/* data bytes written so far */
	uint32_t crc;		/* CRC-32 of the data so far */
	uint16_t nrcpt;
	uint8_t state;
	uint8_t flags;
	int64_t arrival;
	queue_done_fn done;
	void *done_arg;
	struct queue_writer *next;	/* on the waiting-for-sync list */
};

/*
 * Start a message. size_hint (from SIZE=, 0 if unknown) is checked
 * against free space. flags: QUEUE_MSG_BOUNCE or 0.
 * Returns 0, EDGEMTA_E_FULL (no room or index full now: 452 4.3.1),
 * EDGEMTA_E_TOOBIG (size_hint larger than the whole queue: 552 5.3.4)
 * or EDGEMTA_E_IO.
 */
int queue_msg_begin(struct queue_writer *w, const char *sender,
    uint32_t size_hint, unsigned flags);

/* Add one recipient (in order; index = order of calls). */
int queue_msg_rcpt(struct queue_writer *w, const char *rcpt);

/*
 * Append data bytes (any length; split into records internally). Data
 * is stored exactly as given (the SMTP layer has undone dot-stuffing and
 * guarantees CRLF line ends). EDGEMTA_E_FULL when the queue ran out of
 * room: the writer is dead, call queue_msg_abort().
 */
int queue_msg_write(struct queue_writer *w, const void *data, size_t len);

/*
 * Seal the message: the COMMIT record is appended and done(arg, err) is
 * called from queue_commit() once it is durable (err 0), or with an error
 * if programming or syncing failed (the message then does not exist).
 * Returns 0 or an error (then done is never called).
 */
int queue_msg_seal(struct queue_writer *w, queue_done_fn done, void *arg);

/*
 * Give up on an unsealed message (client went away, RSET, error): its
 * records become garbage. On a sealed message still waiting for its sync,
 * only cancels the callback (the message stays queued).
 */
void queue_msg_abort(struct queue_writer *w);

/*
 * Group commit: program the partial page, sync once, call done callbacks.
 * Cheap when nothing is pending. Registered as a before-sleep hook.
 */
void queue_commit(void);

/* Whether a commit has work (a seal waits); writers begun, not sealed. */
bool queue_commit_waiting(void);
uint32_t queue_writers_open(void);

/*
 * Delivery results (queue_rcpt_done, queue_msg_defer, queue_msg_delete)
 * need no sync of their own: they become durable with the next commit,
 * or when the caller asks. A result lost in a power cut means one more
 * delivery of the message (at least once, never lost). The event loop
 * calls queue_sync_results() shortly after results became pending
 * (queue_results_pending()); an admin command calls it at once.
 * Returns 0 or the sticky error.
 */
bool queue_results_pending(void);
int queue_sync_results(void);

/* Syncs since queue_open(): tells whether pending results rode along. */
uint64_t queue_syncs(void);

/*
 * On a flash whose pages may be programmed again (fl->rewrite: a file),
 * write the page holding new results as it stands, without a sync: the
 * OS then keeps them if the process dies; a power cut still waits for
 * queue_sync_results(). Elsewhere a no-op (a crash is a power cut).
 * Called once per loop turn.
 */
int queue_flush_results(void);

/* ---- the index ---- */

/* Number of live (sealed, not fully delivered/deleted) messages. */
uint32_t queue_count(void);

/*
 * Call fn for every live message, oldest first; stop early when fn
 * returns non-zero (that value is returned).
 */
int queue_foreach(int (*fn)(void *arg, const struct queue_entry *e),
    void *arg);

/* Copy the entry of id into *out. 0 or EDGEMTA_E_NOENT. */
int queue_lookup(uint32_t id, struct queue_entry *out);

/* State of recipient idx of message id (enum queue_rcpt_state). */
int queue_rcpt_state(uint32_t id, unsigned idx);

void queue_stats(struct queue_stats *out);

/* ---- reading a message (delivery, `queue show`, bounces) ---- */

enum queue_item {
	QUEUE_ITEM_END = 0,	/* whole message read and verified */
	QUEUE_ITEM_SENDER,	/* ptr/len: envelope sender ("" = <>) */
	QUEUE_ITEM_RCPT,	/* ptr/len: recipient; *idx = its index */
	QUEUE_ITEM_DATA		/* ptr/len: next chunk of the message */
};

struct queue_reader {
	uint32_t id;
	uint32_t pos_block;	/* opaque cursor */
	uint32_t pos_off;
	uint32_t size, crc;	/* running check of DATA */
	uint32_t rcpt_next;
	bool fast;		/* skip other messages' records unchecked */
	uint8_t buf[CONFIG_QUEUE_REC_MAX + 32];
};

/* Position r at the start of message id. 0 or EDGEMTA_E_NOENT. */
int queue_reader_open(struct queue_reader *r, uint32_t id);

/*
 * Next item of the message in order: SENDER, RCPTs, DATA chunks, END.
 * *ptr points into r->buf, valid until the next call; strings are not
 * NUL-terminated. Returns the enum queue_item (>= 0) or a negative
 * error (EDGEMTA_E_CORRUPT if the data does not match the COMMIT CRC;
 * EDGEMTA_E_AGAIN if queue_reclaim() moved the message while it was
 * being read: open it again and start over).
 */
int queue_reader_next(struct queue_reader *r, const uint8_t **ptr,
    size_t *len, unsigned *idx);

/* ---- delivery results ---- */

/*
 * Record the final state of recipient idx (SENT or FAILED). When no
 * recipient is pending any more the message is dead and its space can be
 * reclaimed. Durable at the next queue_commit() or queue_sync_results().
 */
int queue_rcpt_done(uint32_t id, unsigned idx, enum queue_rcpt_state st);

/*
 * Record a failed attempt: next_try (wall seconds), the attempt count and
 * the reply text (truncated to 200 bytes) for `queue list`. When flash
 * space is low the record is not written (so that a message deferred
 * forever cannot fill the queue): next_try and attempts are kept in RAM
 * (and written with the message's next copy-forward), the last reason on
 * flash stays; after a restart the last recorded values apply.
 */
int queue_msg_defer(uint32_t id, int64_t next_try, uint16_t attempts,
    const char *reason);

/* Last deferral reason of id into buf ("" if none). */
int queue_msg_reason(uint32_t id, char *buf, size_t len);

/* Delete a message (admin): as if every recipient were done. */
int queue_msg_delete(uint32_t id);

/*
 * Reclaim space: erase tail blocks with nothing live in them and copy
 * forward live messages that hold the tail when free blocks run low.
 * Bounded work per call; called from the before-sleep hook.
 */
void queue_reclaim(void);

/*
 * The queue in the event loop (queue_loop.c): a before-sleep hook that
 * commits (the group commit), flushes results and reclaims, and a timer
 * that makes pending delivery results durable within a second when no
 * commit comes. Call once after ev_init() and queue_open(). 0 or
 * EDGEMTA_E_FULL.
 */
int queue_loop_start(void);

#endif
