/*
 * dsn.h - delivery status notifications (bounces, RFC 3464 / RFC 6522).
 *
 * A bounce is a new queued message (QUEUE_MSG_BOUNCE, null sender) that
 * goes through the same queue and delivery as any other: a
 * multipart/report with a human-readable part, a message/delivery-status
 * part and the original message's headers (text/rfc822-headers).
 * Never a bounce of a bounce: a failed bounce (or a message with a null
 * sender) is reported only to bounce_notice_recipient when configured.
 */
#ifndef DSN_H
#define DSN_H

#include "edgemta.h"
#include "conf.h"

/* One permanently failed recipient (strings owned by the caller). */
struct dsn_rcpt {
	const char *rcpt;
	const char *status;	/* "5.1.1" */
	const char *diag;	/* reply text or reason, one line */
};

/* What a report says (strings owned by the caller). */
struct dsn_report {
	const char *hostname;	/* Reporting-MTA, From: MAILER-DAEMON@ */
	uint32_t orig_id;	/* queue id of the failed message */
	uint32_t bounce_id;	/* queue id of the report (Message-ID) */
	const char *to;		/* recipient of the report */
	int64_t arrival;	/* of the original message (wall clock) */
	int64_t now;
	const char *remote_mta;	/* next hop name, NULL when none */
	const struct dsn_rcpt *rcpts;
	unsigned nrcpt;
	unsigned omitted;	/* further failed recipients not listed */
};

/* Sink for produced bytes: 0 or a negative error (stops formatting). */
typedef int (*dsn_out_fn)(void *arg, const void *buf, size_t len);

/*
 * Write the whole report through out(oarg, ...). The original headers
 * come from headers(harg, out, oarg), which writes the header block of
 * the original message (CRLF lines, without the empty line), or is
 * NULL. Lines end in CRLF. Returns 0 or the first error of out/headers.
 */
int dsn_format(const struct dsn_report *r, dsn_out_fn out, void *oarg,
    int (*headers)(void *harg, dsn_out_fn out, void *oarg), void *harg);

/*
 * Who gets the report of a message from sender (is_bounce: the message
 * was itself a bounce): the sender, or c->bounce_notice_recipient for a
 * null sender, a bounce, or a local sender (no domain, or our own
 * hostname / myorigin) when that is set; a bare admin name is qualified
 * with myorigin, else hostname. Copies it into to (ADDR_MAX)
 * and returns 0, or EDGEMTA_E_NOENT when nobody should get one.
 */
int dsn_recipient(const struct conf *c, const char *hostname,
    const char *sender, bool is_bounce, char *to, size_t len);

/*
 * Queue a report for the failed recipients of message id (which must
 * still be in the queue: its headers are read from it). Applies
 * bounce_rate_limit. Returns 0 (queued, durable at the next commit),
 * EDGEMTA_E_NOENT (nobody to send it to, or over the rate limit: logged
 * and dropped; the failure is final anyway), or EDGEMTA_E_FULL /
 * EDGEMTA_E_IO (no room now: the caller should retry the failure later).
 */
int dsn_bounce(const struct conf *c, const char *hostname, uint32_t id,
    const char *remote_mta, const struct dsn_rcpt *rcpts, unsigned n,
    unsigned omitted);

#endif
