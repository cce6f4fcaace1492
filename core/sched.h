/*
 * sched.h - the delivery scheduler (delivery issue): walks the queue
 * index, groups due messages per destination, drives SMTP client
 * sessions to the relayhost, records per-recipient results, backs off,
 * bounces (DSN) and expires.
 */
#ifndef SCHED_H
#define SCHED_H

#include "edgemta.h"
#include "conf.h"

/* Start scheduling deliveries from the open queue. c must outlive it. */
int sched_start(const struct conf *c, const char *hostname);

/* Stop: close client sessions (their messages stay queued). */
void sched_stop(void);

/* A new message was queued: look for due work soon. Cheap. */
void sched_kick(void);

/* Retry every deferred message now (queue flush, SIGHUP, SIGUSR1). */
void sched_flush(void);

/*
 * Admin command from the local socket ("XQUEUE ..." on a LISTEN_LOCAL
 * session from an admin peer): "FLUSH", "DELETE <id>", "DELETE ALL",
 * "DELETE DEFERRED". Writes a one-line human reply into reply.
 * Returns 0 or a negative error (the reply says why).
 */
int sched_admin(const char *cmd, char *reply, size_t len);

/* ---- pure helpers (used by sched.c, exposed for unit tests) ---- */

/*
 * Retry delay in seconds after the attempts-th failed attempt (>= 1):
 * min_s doubled per attempt, capped at max_s, then +-10% jitter from rnd.
 */
uint32_t sched_backoff(uint32_t min_s, uint32_t max_s, unsigned attempts,
    uint32_t rnd);

/* What the scheduler knows about the wall clock (see sched.c). */
struct sched_clock {
	bool init;
	int64_t last_wall;	/* plat_time() at the last update */
	uint64_t last_mono;	/* ev_now() ms at the last update */
	int64_t step_before;	/* wall clock just before a forward step */
	int64_t step_delta;	/* forward steps seen so far, seconds */
	int64_t first_sane;	/* first sane wall clock seen (0 = none) */
};

/* Wall clocks before this (2020-01-01) mean "clock not set yet". */
#define SCHED_SANE_TIME 1577836800

/* Feed a new reading; returns the step in seconds when one was seen. */
int64_t sched_clock_update(struct sched_clock *k, int64_t wall,
    uint64_t mono_ms, uint32_t max_backoff);

/* Age in seconds of a message that arrived at (stored) arrival. */
int64_t sched_age(const struct sched_clock *k, int64_t arrival,
    int64_t wall);

/* Is a message with stored next_try due at wall? */
bool sched_due(int64_t next_try, int64_t wall, uint32_t max_backoff);

#endif
