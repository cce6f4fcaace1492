/*
 * smtp_in.h - the SMTP server: listeners and inbound sessions
 * (RFC 5321, 6409; TLS/AUTH arrive with the TLS issue).
 *
 * Sessions come from a static pool of CONFIG_MAX_SESSIONS. Each embeds
 * its struct io (buffers) and its struct queue_writer; nothing is
 * allocated. A message is streamed into the queue during DATA and the
 * 250 reply goes out from the queue's done callback, after the group
 * commit made it durable.
 */
#ifndef SMTP_IN_H
#define SMTP_IN_H

#include "edgemta.h"
#include "conf.h"

/*
 * Open every listener of c (c must outlive the server) and start
 * accepting. Returns 0 or a negative error after logging which listener
 * failed.
 */
int smtp_in_start(const struct conf *c, const char *hostname);

/*
 * Stop accepting, and end every session: sessions waiting for a commit
 * get their reply first (call queue_commit() before), others get
 * "421 4.3.2 Service shutting down".
 */
void smtp_in_stop(void);

/* Sessions in use (for stats and tests). */
unsigned smtp_in_active(void);

#endif
