/*
 * smtp_out.h - the SMTP client session (RFC 5321, RFC 2920 pipelining)
 * that carries queued messages to the next hop.
 *
 * A session is embedded by its owner (the scheduler keeps a static pool
 * of CONFIG_SMTP_OUT_SESSIONS) and owns its struct io, its queue reader
 * and the envelope of the message in flight; nothing is allocated.
 *
 * Life of a session:
 *   smtp_out_start() connects; after the greeting and EHLO the session
 *   asks its owner for a message with cb->next(). Each recipient's result
 *   for this attempt is reported once with cb->rcpt(), then cb->msg_done()
 *   ends the message, and cb->next() is asked again (RSET between
 *   messages). When next() has nothing the session waits idle for a short
 *   while (smtp_out_wake() hands it more work), then sends QUIT.
 *   cb->closed() is called exactly once at the end; after it returns the
 *   slot may be reused.
 *
 * Results of one attempt are never silently lost: when the connection
 * breaks, times out or the server says 421, every recipient of the
 * message in flight that has no result yet is reported with code 0
 * (or 421) and the reason, so the owner defers it.
 *
 * Seam for the TLS issue: STARTTLS and AUTH go between the EHLO reply and
 * the first MAIL (state SMTP_OUT_EHLO); the keywords are already parsed.
 */
#ifndef SMTP_OUT_H
#define SMTP_OUT_H

#include "edgemta.h"
#include "addr.h"
#include "io.h"
#include "queue.h"

#define SMTP_OUT_TEXT_MAX 256	/* reply text kept for logs and DSNs */
#define SMTP_OUT_HOST_MAX 64	/* relay name as configured */

/* EHLO keywords we understand. */
#define SMTP_OUT_EXT_PIPELINING 0x01u
#define SMTP_OUT_EXT_SIZE 0x02u
#define SMTP_OUT_EXT_8BITMIME 0x04u
#define SMTP_OUT_EXT_ENHANCED 0x08u
#define SMTP_OUT_EXT_STARTTLS 0x10u
#define SMTP_OUT_EXT_AUTH 0x20u
#define SMTP_OUT_EXT_AUTH_PLAIN 0x40u
#define SMTP_OUT_EXT_AUTH_LOGIN 0x80u
#define SMTP_OUT_EXT_AUTH_XOAUTH2 0x100u
#define SMTP_OUT_EXT_AUTH_OAUTHBEARER 0x200u

/*
 * TLS and AUTH towards every relay (set once at start-up; the strings
 * must outlive the sessions). level is an enum conf_tls_level: none
 * (plaintext), may (STARTTLS if offered), encrypt (STARTTLS required,
 * certificate not checked), verify (STARTTLS required, chain + name, or
 * the pin). wrapper (or relay port 465): TLS from the first byte.
 * Credentials are only ever sent inside TLS; a relay that does not
 * offer or refuses STARTTLS when it is required, fails the handshake or
 * the AUTH is a temporary failure (the message stays queued).
 */
struct smtp_out_tls {
	uint8_t level;
	bool level_default;	/* not configured: verify, but "may" for a
				 * relay on a loopback address (the bytes
				 * never leave the device) */
	bool wrapper;
	bool pinned;
	uint8_t pin[32];
	const char *user;	/* "" = no AUTH */
	const char *pass;
};

void smtp_out_set_tls(const struct smtp_out_tls *t);

struct conf;

/* t from c's smtp_tls_* keys (no AUTH credentials: user and pass ""). */
void smtp_out_tls_conf(struct smtp_out_tls *t, const struct conf *c);

/* One recipient's outcome in one attempt. */
struct smtp_out_result {
	uint32_t id;		/* queue id */
	unsigned idx;		/* recipient index in the message */
	const char *rcpt;	/* address, NUL-terminated */
	int code;		/* SMTP reply code; 0 = no reply (I/O) */
	const char *dsn;	/* "X.Y.Z" */
	const char *text;	/* reply text or reason, one line */
};

struct smtp_out_session;

struct smtp_out_cb {
	/* Next message for this connection: true and *id, or false. */
	bool (*next)(void *arg, struct smtp_out_session *s, uint32_t *id);
	/* One recipient's result (strings valid during the call only). */
	void (*rcpt)(void *arg, struct smtp_out_session *s,
	    const struct smtp_out_result *r);
	/* The message is finished for this attempt. */
	void (*msg_done)(void *arg, struct smtp_out_session *s, uint32_t id);
	/*
	 * The session ended. greeted: a usable SMTP session existed (EHLO
	 * done); when false, the connection itself failed and reason says
	 * why (the owner tries the next relay or marks it down).
	 */
	void (*closed)(void *arg, struct smtp_out_session *s, bool greeted,
	    const char *reason);
	/*
	 * Optional (NULL = every pending recipient): should this pending
	 * recipient (rcpt, len bytes, not NUL-terminated) go in this
	 * transaction? MX delivery sends one domain per connection.
	 */
	bool (*want)(void *arg, struct smtp_out_session *s, unsigned idx,
	    const char *rcpt, size_t len);
};

enum smtp_out_state {
	SMTP_OUT_FREE = 0,
	SMTP_OUT_CONNECTING,
	SMTP_OUT_GREETING,
	SMTP_OUT_EHLO,
	SMTP_OUT_HELO,
	SMTP_OUT_IDLE,		/* between messages, waiting for work */
	SMTP_OUT_TXN,		/* RSET/MAIL/RCPT/DATA replies pending */
	SMTP_OUT_BODY,		/* streaming the message */
	SMTP_OUT_DOT,		/* waiting for the final reply */
	SMTP_OUT_QUIT,
	SMTP_OUT_STARTTLS,	/* waiting for 220 to STARTTLS */
	SMTP_OUT_AUTH		/* AUTH exchange */
};

/* Per-recipient bookkeeping of the message in flight. */
struct smtp_out_rcpt {
	uint16_t idx;
	uint16_t off;		/* address at rcptbuf + off */
	uint8_t st;		/* SMTP_OUT_R_* (smtp_out.c) */
};

struct smtp_out_session {
	uint8_t state;
	bool greeted;
	bool to_mx;		/* next hop is an MX (DNS issue): TLS is
				 * opportunistic, never AUTH; set by the
				 * owner after smtp_out_start() */
	bool closing;		/* 421 seen / fatal: end after reporting */
	bool authed;		/* AUTH done (235) */
	uint8_t auth_step;	/* AUTH LOGIN: 0 user sent next, 1 pass;
				 * OAuth2: 3 waiting for 334, 4 response
				 * sent, 5 error challenge answered */
	const char *auth_out;	/* OAuth2 response still to send */
	size_t auth_left;
	unsigned ext;		/* SMTP_OUT_EXT_* */
	uint32_t max_size;	/* SIZE from EHLO, 0 = unknown */
	const struct smtp_out_cb *cb;
	void *arg;
	const char *helo;	/* our name, owned by the caller */
	struct net_addr addr;
	char host[SMTP_OUT_HOST_MAX];	/* relay as configured */
	struct io io;
	struct ev_timer timer;	/* the RFC 5321 4.5.3.2 timeouts */
	/* timing (ev_now ms) for the delays=a/b/c/d log field */
	uint64_t t_conn, t_connected, t_ready, t_msg;
	bool reused;		/* this message is not the first one */
	unsigned nmsgs;
	/* the reply being read (one line at a time) */
	uint16_t rlines;	/* lines of it consumed so far */
	uint32_t rbytes;	/* and their bytes */
	int code;
	char text[SMTP_OUT_TEXT_MAX];
	/* the message in flight */
	uint32_t id;
	struct queue_reader rd;
	const uint8_t *chunk;	/* unsent part of the current DATA item */
	size_t chunk_len;
	bool body_end;		/* reader returned END */
	bool bol;		/* output is at the start of a line */
	bool need_rset;
	bool moved;		/* the queue moved the message: not tried */
	uint32_t msg_size;
	char sender[ADDR_MAX];
	uint16_t nrcpt, rcpt_sent, naccepted;
	uint16_t cmd_next;	/* next command to send (see smtp_out.c) */
	uint16_t pipe_head, pipe_len;	/* replies we wait for */
	int mail_code;		/* MAIL reply when it failed, else 0 */
	char mail_text[SMTP_OUT_TEXT_MAX];
	uint16_t pipe[CONFIG_SMTP_MAX_RCPT + 4];
	struct smtp_out_rcpt rcpts[CONFIG_SMTP_MAX_RCPT];
	char rcptbuf[CONFIG_SMTP_RCPT_BUF];
	unsigned rcptbuf_len;
};

/*
 * Connect s (a FREE slot) to addr; host is the relay's configured name
 * for logs (copied), helo our EHLO name (must outlive the session).
 * Returns 0 (events follow) or a negative error (s stays FREE and
 * cb->closed is not called).
 */
int smtp_out_start(struct smtp_out_session *s, const struct net_addr *addr,
    const char *host, const char *helo, const struct smtp_out_cb *cb,
    void *arg);

/* An IDLE session: ask cb->next() again now (new work arrived). */
void smtp_out_wake(struct smtp_out_session *s);

/*
 * End the session now (shutdown): the message in flight is reported as
 * deferred, then cb->closed(). Safe on a FREE slot.
 */
void smtp_out_abort(struct smtp_out_session *s, const char *reason);

/* "IP" or "[IPv6]"-less text of the peer into buf (NET_ADDR_STRLEN). */
const char *smtp_out_peer(const struct smtp_out_session *s, char *buf,
    size_t len);

#endif
