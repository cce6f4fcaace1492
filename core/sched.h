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

#endif
