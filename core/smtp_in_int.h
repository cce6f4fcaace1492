/*
 * smtp_in_int.h - private to the SMTP server (smtp_in.c, smtp_in_cmd.c).
 *
 * One state enum per session, entered only through smtp_in_enter()
 * (OpenSMTPD style); the commands are a table in smtp_in_cmd.c.
 */
#ifndef SMTP_IN_INT_H
#define SMTP_IN_INT_H

#include "edgemta.h"
#include "addr.h"
#include "auth.h"
#include "conf.h"
#include "hops.h"
#include "storm.h"
#include "dnsq.h"
#include "ev.h"
#include "io.h"
#include "queue.h"
#include "smtp_cmd.h"
#include "smtp_data.h"

#define SMTP_IN_MAX_ERRORS 10	/* protocol errors before 421 */
#define SMTP_IN_REPLY_MAX 512	/* one reply (RFC 5321 4.5.3.1.5) */
#define SMTP_IN_HELO_MAX 256

enum smtp_in_state {
	SMTP_IN_FREE = 0,	/* slot unused */
	SMTP_IN_HELO,		/* greeted, waiting for EHLO/HELO */
	SMTP_IN_READY,		/* no transaction */
	SMTP_IN_MAIL,		/* MAIL accepted, no recipient yet */
	SMTP_IN_RCPT,		/* one or more recipients */
	SMTP_IN_DATA,		/* receiving the message */
	SMTP_IN_COMMIT,		/* sealed, waiting for the sync; reading
				 * paused so no pipelined command runs
				 * before the 250 is sent */
	SMTP_IN_AUTH,		/* AUTH exchange: lines are responses */
	SMTP_IN_STATE_COUNT
};

struct smtp_in_session {
	uint8_t state;		/* enum smtp_in_state */
	uint8_t mode;		/* enum listen_mode of the listener */
	bool esmtp;		/* EHLO (not HELO) */
	bool relay_ok;		/* mynetworks or local socket */
	bool admin;		/* local socket peer may run XQUEUE */
	bool discarding;	/* skipping an over-long command line */
	bool utf8;		/* MAIL ... SMTPUTF8 */
	bool w_open;		/* writer begun, not yet aborted/done */
	bool closing;		/* session is being torn down */
	bool tls;		/* TLS active (STARTTLS done, or smtps) */
	bool tls_pending;	/* "220" to STARTTLS queued: handshake
				 * starts when it is sent; input paused */
	bool auth_wait;		/* a failed AUTH's reply is held back */
	bool greet_wait;	/* the 220 is held back (smtpd_greet_wait) */
	uint8_t auth_res;	/* enum auth_result held back */
	int q_err;		/* first queue error during DATA */
	unsigned nerr;		/* protocol errors so far */
	unsigned nrcpt;		/* accepted recipients */
	unsigned nrcpt_tried;	/* RCPT commands in this transaction */
	uint32_t size_hint;	/* MAIL ... SIZE= */
	uint64_t msg_size;	/* octets written to the queue */
	size_t env_len;		/* used part of env */
	struct net_addr peer;
	char peer_ip[NET_ADDR_STRLEN];
	char peer_str[NET_ADDR_STRLEN + 10];	/* "unknown[ip]", "local" */
	char helo[SMTP_IN_HELO_MAX];
	uint16_t cmd_ok[SMTP_CMD_COUNT], cmd_total[SMTP_CMD_COUNT];
	struct smtp_data dec;
	struct hops hops;	/* trace fields of the message (loops) */
	uint64_t storm_key;	/* alert storm key (storm.h); 0 = none */
	char auth_user[AUTH_USER_MAX];	/* "" = not authenticated */
	struct auth_state auth;
	struct ev_timer auth_timer;	/* the delay of a failed AUTH */
	/*
	 * Request deadline (slowloris): dl_when is the ev_now() by which
	 * the next command line must be complete, or, in DATA, the end of
	 * the time credit; 0 = none. dl_timer fires at or before it (it
	 * is moved on lazily). Before the 220 it ends the greeting pause.
	 */
	struct ev_timer dl_timer;
	uint64_t dl_when;
	uint64_t t_connect;	/* ev_now() at accept */
	struct queue_writer w;
	struct io io;
	/* sender NUL rcpt NUL rcpt NUL ... of the open transaction */
	char env[CONFIG_SMTP_RCPT_BUF];
#if CONFIG_DNS
	/* the client's PTR, forward-confirmed (Received: header); used
	 * only if it arrived before DATA (not zeroed at accept: dnsq_start
	 * sets it up, smtp_in_free cancels it) */
	struct dnsq_req ptr;
#endif
};

/* smtp_in.c: "name" if the PTR lookup confirmed one in time, else NULL */
const char *smtp_in_ptr_name(struct smtp_in_session *s);

/* smtp_in.c */
extern const struct conf *smtp_in_conf;
extern char smtp_in_host[CONF_STR_MAX];
extern unsigned smtp_in_tls_promised;

void smtp_in_enter(struct smtp_in_session *s, int state);
void smtp_in_reply(struct smtp_in_session *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Count a protocol error; true when the session was ended for it. */
bool smtp_in_error(struct smtp_in_session *s);
/*
 * A new command line is due within smtpd_command_deadline (a DATA phase
 * starts with that time credit); no deadline while the server is the
 * slow one (SMTP_IN_COMMIT).
 */
void smtp_in_deadline_reset(struct smtp_in_session *s);

/* Reply (if line != NULL), then end the session after the drain. */
void smtp_in_close(struct smtp_in_session *s, const char *line);

/*
 * End the session and free its slot (an unsealed message is dropped, a
 * sealed one stays queued); the io is closed now (drain = false) or
 * after its send buffer drained. s must not be used afterwards.
 */
void smtp_in_free(struct smtp_in_session *s, bool drain);

/* smtp_in_cmd.c */
/* Run one complete command line (NUL-terminated, modified in place). */
void smtp_in_command(struct smtp_in_session *s, char *line);
/* One line of an AUTH exchange (state SMTP_IN_AUTH). */
void smtp_in_auth_line(struct smtp_in_session *s, char *line);
/* The 220 to STARTTLS was sent: start the handshake. */
void smtp_in_starttls_go(struct smtp_in_session *s);
/* The real end of DATA was seen: reply or seal. */
void smtp_in_data_end(struct smtp_in_session *s);

#endif
