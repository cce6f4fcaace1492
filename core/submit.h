/*
 * submit.h - in-process submission: how a firmware task (an alarm, a
 * sensor) hands a message to the relay without a socket (the RTOS
 * counterpart of sendmail; no AF_UNIX needed).
 *
 *   edgemta_submit_begin(&s, &env)      envelope: checked, queue opened
 *   edgemta_submit_write(&s, p, n) ...  the message in chunks of any size
 *   edgemta_submit_end(&s, done, arg)   sealed; done(arg, 0, id) once it
 *                                       is durable on flash
 *
 * The message text goes through the sendmail injector (inject.h): LF or
 * CRLF line ends, long lines split, Date:, Message-ID: and From: added
 * when missing; a Received: line is put first. A lone "." line is data.
 * Called from the task that runs the event loop (the core is single
 * threaded): another task posts its request to that one. Nothing is
 * allocated: the caller owns struct edgemta_submit (about 2.3 KiB) until
 * done is called or the submission failed. Errors are negative
 * edgemta_err values: EDGEMTA_E_FULL (queue or index full now: try
 * later), EDGEMTA_E_TOOBIG (over size_limit, or larger than the queue),
 * EDGEMTA_E_INVAL (bad address, no recipient, misuse), EDGEMTA_E_IO.
 * After an error from begin/write the submission is over (nothing
 * queued); call nothing else on it.
 */
#ifndef SUBMIT_H
#define SUBMIT_H

#include "edgemta.h"
#include "inject.h"
#include "queue.h"

#define SUBMIT_MSGID_MAX 320	/* "<" 16 "." 24 "@" hostname ">" */

struct edgemta_envelope {
	const char *sender;		/* "a@b", "" = null sender <> */
	const char *const *rcpts;	/* "c@d" each */
	unsigned nrcpt;			/* 1 .. CONFIG_SMTP_MAX_RCPT */
	const char *hostname;		/* ours: Received:, Message-ID: */
	uint32_t size_limit;		/* message_size_limit; 0: none */
};

/* err 0: queued and durable under queue id; else it is not queued. */
typedef void (*edgemta_submit_done_fn)(void *arg, int err, uint32_t id);

struct edgemta_submit {
	struct queue_writer w;
	struct inject ij;
	edgemta_submit_done_fn done;
	void *arg;
	uint32_t size, limit;
	int err;
	uint8_t state;
	char field[1024];	/* one header field (inject.h) */
	char date[40];
	char msgid[SUBMIT_MSGID_MAX];
};

int edgemta_submit_begin(struct edgemta_submit *s,
    const struct edgemta_envelope *env);
int edgemta_submit_write(struct edgemta_submit *s, const void *p,
    size_t len);
/* 0: done(arg, err, id) follows from the next group commit. */
int edgemta_submit_end(struct edgemta_submit *s, edgemta_submit_done_fn done,
    void *arg);
/* Drop a submission not yet ended (or cancel done after end). */
void edgemta_submit_abort(struct edgemta_submit *s);

#endif
