/*
 * storm.h - collapsing alert storms (alert_collapse_window).
 *
 * A device that fails tends to send the same alert again and again. With
 * a window W set, the first message of a kind (same envelope sender, same
 * recipients in the same order, same Subject:) goes out at once; the
 * repeats that arrive within W of it are queued, each one replacing the
 * one before it, and held until the window ends: then only the last goes
 * out, with a header field saying how many it stands for. A repeat is
 * never bounced and never dropped unsent before a newer one is durably
 * queued. The table is in RAM (STORM_SLOTS kinds at once); after a
 * restart the held message simply goes out at its time.
 */
#ifndef STORM_H
#define STORM_H

#include "edgemta.h"

#define STORM_SLOTS CONFIG_ALERT_STORM_SLOTS	/* 0 = not built in */

/* The key of a message: never 0. env is "sender\0rcpt1\0...rcptN\0". */
uint64_t storm_key(const char *env, unsigned nrcpt, uint64_t subj_hash);

/*
 * Would a message with this key committed at now be a repeat? Returns
 * how many repeats it would make (1 for the first repeat), 0 if not;
 * then *first_id and *first_time describe the message that went out.
 */
uint32_t storm_peek(uint32_t window, uint64_t key, int64_t now,
    uint32_t *first_id, int64_t *first_time);

/*
 * A message with this key was durably queued as id at now. Returns 0 if
 * it goes out now (the first of its window), else its repeat count: hold
 * it until *until; *supersede (0 = none) is the earlier held repeat that
 * it replaces.
 */
uint32_t storm_commit(uint32_t window, uint64_t key, uint32_t id,
    int64_t now, int64_t *until, uint32_t *supersede);

/* Forget everything (tests, a new configuration). */
void storm_reset(void);

#endif
