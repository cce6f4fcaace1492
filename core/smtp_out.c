/*
 * smtp_out.c - the SMTP client session: see smtp_out.h.
 *
 * One transaction is a sequence of commands numbered by cmd_next:
 *   0 RSET (only between messages), 1 MAIL, 2 .. 1+nrcpt RCPT,
 *   2+nrcpt DATA.
 * Every command sent pushes what it was onto s->pipe, and every reply
 * pops the oldest entry: with PIPELINING (RFC 2920) all commands go out
 * in one write and the replies are matched in order; without it the
 * next command is only sent once the pipe is empty.
 *
 * The body is streamed from the queue reader straight into the io send
 * buffer, dot-stuffing redone (RFC 5321 4.5.2). The final ".\r\n" is only
 * appended after the reader verified the message CRC (QUEUE_ITEM_END), so
 * a corrupted message is never completed: the connection is dropped and
 * the server discards the transaction. It goes out in the same write as
 * the last body bytes (no lonely small packet, no delayed-ACK stall).
 */
#include <stdio.h>
#include <string.h>

#include "smtp_out.h"
#include "auth.h"
#include "conf.h"
#include "log.h"
#include "oauth2.h"
#include "platform.h"
#include "tls.h"

/* RFC 5321 4.5.3.2 timeouts (milliseconds). */
#define T_CONNECT 30000u
#define T_GREETING 300000u
#define T_EHLO 300000u
#define T_MAIL 300000u	/* MAIL, RCPT and RSET alike */
#define T_DATA_INIT 120000u
#define T_DATA_BLOCK 180000u
#define T_DOT 600000u
#define T_IDLE 2000u	/* keep an idle connection for new mail */
#define T_QUIT 5000u

/* One reply (EHLO: one line per capability) may have at most this. */
#define SO_REPLY_LINES_MAX 200u
#define SO_REPLY_BYTES_MAX 32768u

#define PIPE_RSET 0xffffu
#define PIPE_MAIL 0xfffeu
#define PIPE_DATA 0xfffdu

enum {
	R_WAIT = 0,	/* RCPT not answered yet */
	R_ACCEPTED,	/* 2xx to RCPT: result comes with the final dot */
	R_DONE		/* reported to the owner */
};

static void so_next_msg(struct smtp_out_session *s);
static void so_fail(struct smtp_out_session *s, int code, const char *why);

static const struct smtp_out_tls *so_tls;

void
smtp_out_set_tls(const struct smtp_out_tls *t)
{
	so_tls = t;
}

void
smtp_out_tls_conf(struct smtp_out_tls *t, const struct conf *c)
{
	memset(t, 0, sizeof(*t));
	t->level = (uint8_t)conf_tls_level(c);
	t->level_default = c->smtp_tls_security_level[0] == '\0';
	t->wrapper = strcmp(c->smtp_tls_wrapper, "yes") == 0;
	t->pinned = c->smtp_tls_fingerprint[0] != '\0' &&
	    tls_parse_fingerprint(c->smtp_tls_fingerprint, t->pin) == 0;
	t->user = "";
	t->pass = "";
}

/* The smtp_tls_security_level for this relay (see smtp_out.h). */
static int
so_level(const struct smtp_out_session *s)
{
	static const uint8_t v6lo[16] = { [15] = 1 };
	bool lo = (s->addr.family == NET_INET4 && s->addr.ip[0] == 127) ||
	    (s->addr.family == NET_INET6 && memcmp(s->addr.ip, v6lo, 16) ==
	    0);

	if (so_tls == NULL) {
		return CONF_TLS_NONE;
	}
	/* MX (DNS issue): opportunistic unless a level was configured */
	if (so_tls->level_default && (lo || s->to_mx)) {
		return CONF_TLS_MAY;
	}
	return so_tls->level;
}

const char *
smtp_out_peer(const struct smtp_out_session *s, char *buf, size_t len)
{
	return net_addr_str(&s->addr, buf, len);
}

static void
so_arm(struct smtp_out_session *s, uint32_t ms);

/* 1 to max decimal digits at *p (advanced past them), else -1 */
static int
so_digits(const char **p, int max)
{
	int v = 0, n = 0;

	while (n < max && **p >= '0' && **p <= '9') {
		v = v * 10 + (*(*p)++ - '0');
		n++;
	}
	return n > 0 ? v : -1;
}

/* "X.Y.Z" from the start of reply text (after the code), else class.0.0.
 * Parsed by hand: sscanf would link all of scanf (and its float parser)
 * into a static binary for this one line. */
static void
so_dsn(int code, const char *text, char *out, size_t len)
{
	const char *p = text, *start;
	int a, b = -1, c = -1;

	if (strlen(p) > 4 && p[3] == ' ') {
		p += 4;
	}
	start = p;
	a = so_digits(&p, 1);
	if (a >= 0 && *p == '.') {
		p++;
		b = so_digits(&p, 3);
	}
	if (b >= 0 && *p == '.') {
		p++;
		c = so_digits(&p, 3);
	}
	if (code >= 200 && c >= 0 && a == code / 100 &&
	    (*p == ' ' || *p == '\0')) {
		snprintf(out, len, "%.*s", (int)(p - start), start);
		return;
	}
	if (code >= 200 && code < 600) {
		snprintf(out, len, "%d.0.0", code / 100);
	} else {
		snprintf(out, len, "4.4.2");
	}
}

static void
so_report(struct smtp_out_session *s, unsigned i, int code, const char *text)
{
	struct smtp_out_result r;
	char dsn[16];

	s->rcpts[i].st = R_DONE;
	so_dsn(code, text, dsn, sizeof(dsn));
	r.id = s->id;
	r.idx = s->rcpts[i].idx;
	r.rcpt = s->rcptbuf + s->rcpts[i].off;
	r.code = code;
	r.dsn = dsn;
	r.text = text;
	s->cb->rcpt(s->arg, s, &r);
}

/* Report every recipient without a result yet (accepted ones too). */
static void
so_report_rest(struct smtp_out_session *s, int code, const char *text)
{
	unsigned i;

	for (i = 0; i < s->nrcpt; i++) {
		if (s->rcpts[i].st != R_DONE) {
			so_report(s, i, code, text);
		}
	}
}

static void
so_report_accepted(struct smtp_out_session *s, int code, const char *text)
{
	unsigned i;

	for (i = 0; i < s->nrcpt; i++) {
		if (s->rcpts[i].st == R_ACCEPTED) {
			so_report(s, i, code, text);
		}
	}
}

/* The message in flight is finished: tell the owner, take the next. */
static void
so_msg_end(struct smtp_out_session *s)
{
	uint32_t id = s->id;

	s->id = 0;
	s->nrcpt = 0;
	s->pipe_len = 0;
	s->need_rset = true;
	s->cb->msg_done(s->arg, s, id);
	if (s->state != SMTP_OUT_FREE) {
		so_next_msg(s);
	}
}

static void
so_close(struct smtp_out_session *s, bool drain, const char *why)
{
	ev_timer_stop(&s->timer);
	if (drain) {
		io_close_after_drain(&s->io);
	} else {
		io_close(&s->io);
	}
	s->state = SMTP_OUT_FREE;
	s->cb->closed(s->arg, s, s->greeted, why);
}

static void
so_quit(struct smtp_out_session *s)
{
	(void)io_write(&s->io, "QUIT\r\n", 6);
	io_flush(&s->io);
	so_close(s, true, "");
}

static const char *
so_stage(const struct smtp_out_session *s)
{
	switch (s->state) {
	case SMTP_OUT_CONNECTING:
		return "connecting";
	case SMTP_OUT_GREETING:
		return "receiving the initial server greeting";
	case SMTP_OUT_EHLO:
	case SMTP_OUT_HELO:
		return "performing the EHLO handshake";
	case SMTP_OUT_TXN:
		return "sending the message envelope";
	case SMTP_OUT_BODY:
		return "sending message body";
	case SMTP_OUT_DOT:
		return "sending end of data -- message may be sent more "
		    "than once";
	default:
		return "idle";
	}
}

/*
 * The session cannot go on: report the message in flight (code 0 = no
 * reply, or the 421 reply) and close. why is a full sentence.
 */
static void
so_end(struct smtp_out_session *s, int code, const char *why, bool quit)
{
	char reason[SMTP_OUT_TEXT_MAX];

	snprintf(reason, sizeof(reason), "%s", why);
	if (s->id != 0) {
		uint32_t id = s->id;

		so_report_rest(s, code, reason);
		s->id = 0;
		s->nrcpt = 0;
		s->cb->msg_done(s->arg, s, id);
	}
	if (code == 421) {
		so_quit(s);
		return;
	}
	if (quit) {
		/* RFC 5321 4.1.1.10: end a session that is in sync politely */
		(void)io_write(&s->io, "QUIT\r\n", 6);
		io_flush(&s->io);
		so_close(s, true, reason);
		return;
	}
	so_close(s, false, reason);
}

static void
so_fail(struct smtp_out_session *s, int code, const char *why)
{
	so_end(s, code, why, false);
}

static void
so_fail_io(struct smtp_out_session *s, const char *what)
{
	char ip[NET_ADDR_STRLEN], why[SMTP_OUT_TEXT_MAX];

	smtp_out_peer(s, ip, sizeof(ip));
	if (s->state == SMTP_OUT_CONNECTING) {
		snprintf(why, sizeof(why), "connect to %s[%s]:%u: %s",
		    s->host, ip, s->addr.port, what);
	} else {
		snprintf(why, sizeof(why), "%s with %s[%s] while %s", what,
		    s->host, ip, so_stage(s));
	}
	so_fail(s, 0, why);
}

static void
so_on_timer(void *arg)
{
	struct smtp_out_session *s = arg;

	if (s->state == SMTP_OUT_IDLE) {
		so_quit(s);
		return;
	}
	so_fail_io(s, s->state == SMTP_OUT_CONNECTING ? "Connection timed out"
	    : "conversation timed out");
}

static void
so_arm(struct smtp_out_session *s, uint32_t ms)
{
	ev_timer_start(&s->timer, ms, so_on_timer, s);
}

/* ---- building the transaction ---- */

static bool
so_pipelining(const struct smtp_out_session *s)
{
	return (s->ext & SMTP_OUT_EXT_PIPELINING) != 0;
}

static void
so_push(struct smtp_out_session *s, uint16_t what)
{
	unsigned n = ARRAY_SIZE(s->pipe);

	s->pipe[(s->pipe_head + s->pipe_len) % n] = what;
	s->pipe_len++;
}

static uint16_t
so_pop(struct smtp_out_session *s)
{
	uint16_t what = s->pipe[s->pipe_head];

	s->pipe_head = (uint16_t)((s->pipe_head + 1) % ARRAY_SIZE(s->pipe));
	s->pipe_len--;
	return what;
}

/* Send the commands that may go now. */
static void
so_txn_pump(struct smtp_out_session *s)
{
	unsigned last = 2u + s->nrcpt;
	int r;

	while (s->state == SMTP_OUT_TXN && s->cmd_next <= last) {
		unsigned c = s->cmd_next;
		uint16_t what;

		if (!so_pipelining(s) && s->pipe_len > 0) {
			break;
		}
		if (c == 0) {
			if (!s->need_rset) {
				s->cmd_next = 1;
				continue;
			}
			r = io_write(&s->io, "RSET\r\n", 6);
			what = PIPE_RSET;
		} else if (c == 1) {
			if (s->ext & SMTP_OUT_EXT_SIZE) {
				r = io_printf(&s->io, "MAIL FROM:<%s> SIZE=%lu"
				    "\r\n", s->sender,
				    (unsigned long)s->msg_size);
			} else {
				r = io_printf(&s->io, "MAIL FROM:<%s>\r\n",
				    s->sender);
			}
			what = PIPE_MAIL;
		} else if (c < last) {
			r = io_printf(&s->io, "RCPT TO:<%s>\r\n", s->rcptbuf +
			    s->rcpts[c - 2].off);
			what = (uint16_t)(c - 2);
		} else {
			if (!so_pipelining(s) && s->naccepted == 0) {
				/* every RCPT failed: nothing to send */
				so_msg_end(s);
				return;
			}
			r = io_write(&s->io, "DATA\r\n", 6);
			what = PIPE_DATA;
		}
		if (r < 0) {
			break;	/* buffer full: IO_EV_DRAINED resumes */
		}
		so_push(s, what);
		s->cmd_next++;
	}
	io_flush(&s->io);
}

/* Stream the body; end with the dot once the reader verified the CRC. */
static void
so_body_pump(struct smtp_out_session *s)
{
	so_arm(s, T_DATA_BLOCK);
	for (;;) {
		uint8_t *w;
		size_t room, n = 0;

		if (s->chunk_len == 0 && !s->body_end) {
			const uint8_t *p;
			size_t len;
			unsigned idx;
			int r = queue_reader_next(&s->rd, &p, &len, &idx);

			if (r == EDGEMTA_E_AGAIN) {
				/*
				 * The queue moved the message (copy-forward)
				 * under us: drop the transaction without the
				 * dot and let the owner send it again. Not
				 * the peer's fault: no result is reported.
				 */
				s->nrcpt = 0;
				s->moved = true;
				so_fail(s, 0, "message moved in the queue "
				    "while being sent");
				return;
			}
			if (r < 0) {
				char buf[QUEUE_ID_STRLEN];

				log_err("%s: cannot read queued message: %s",
				    queue_id_str(s->id, buf),
				    edgemta_strerror(r));
				/* drop without the dot: never complete it */
				so_fail(s, 0, "queue file read error: message"
				    " not sent");
				return;
			}
			if (r == QUEUE_ITEM_END) {
				s->body_end = true;
			} else if (r == QUEUE_ITEM_DATA) {
				s->chunk = p;
				s->chunk_len = len;
			}
			continue;
		}
		if (io_wroom(&s->io) < 8) {
			io_flush(&s->io);
			if (io_wroom(&s->io) < 8) {
				return;	/* IO_EV_DRAINED resumes */
			}
		}
		if (s->chunk_len == 0) {
			/* s->body_end: the end of data, with the last bytes */
			if (s->bol) {
				(void)io_write(&s->io, ".\r\n", 3);
			} else {
				(void)io_write(&s->io, "\r\n.\r\n", 5);
			}
			s->state = SMTP_OUT_DOT;
			so_arm(s, T_DOT);
			io_flush(&s->io);
			return;
		}
		w = io_wspace(&s->io, &room);
		while (n + 2 <= room && s->chunk_len > 0) {
			/* a line (or what fits) at a time, dot-stuffed */
			const uint8_t *nl;
			size_t k;

			if (s->bol && *s->chunk == '.') {
				w[n++] = '.';
			}
			k = MIN(s->chunk_len, room - n);
			nl = memchr(s->chunk, '\n', k);
			if (nl != NULL) {
				k = (size_t)(nl - s->chunk) + 1;
			}
			memcpy(w + n, s->chunk, k);
			n += k;
			s->chunk += k;
			s->chunk_len -= k;
			s->bol = nl != NULL;
		}
		io_wcommit(&s->io, n);
	}
}

/*
 * Read the envelope of id and start its transaction. Returns false when
 * there is nothing to send (the message was reported done already).
 */
static bool
so_start_msg(struct smtp_out_session *s, uint32_t id)
{
	struct queue_entry e;
	const uint8_t *p;
	size_t len;
	unsigned idx, tries = 0;
	int r;

	s->id = id;
	s->moved = false;
	s->nrcpt = 0;
	s->naccepted = 0;
	s->rcptbuf_len = 0;
	s->pipe_head = 0;
	s->pipe_len = 0;
	s->mail_code = 0;
	s->chunk_len = 0;
	s->body_end = false;
	s->bol = true;
	s->sender[0] = '\0';
	s->t_msg = ev_now();
	s->reused = s->nmsgs > 0;
	s->nmsgs++;
	if (queue_lookup(id, &e) < 0 || queue_reader_open(&s->rd, id) < 0) {
		goto nothing;
	}
	s->msg_size = e.size;
	for (;;) {
		r = queue_reader_next(&s->rd, &p, &len, &idx);
		if (r == EDGEMTA_E_AGAIN && tries++ < 3) {
			/* moved by the queue's cleaner: start over */
			s->nrcpt = 0;
			s->rcptbuf_len = 0;
			if (queue_reader_open(&s->rd, id) < 0) {
				goto nothing;
			}
			continue;
		}
		if (r < 0) {
			s->moved = r == EDGEMTA_E_AGAIN;
			goto nothing;
		}
		if (r == QUEUE_ITEM_SENDER) {
			len = MIN(len, (size_t)ADDR_MAX - 1);
			memcpy(s->sender, p, len);
			s->sender[len] = '\0';
		} else if (r == QUEUE_ITEM_RCPT) {
			/* recipients that do not fit wait for a later try */
			if (queue_rcpt_state(id, idx) != QUEUE_RCPT_PENDING ||
			    s->nrcpt >= ARRAY_SIZE(s->rcpts) || len >=
			    ADDR_MAX || s->rcptbuf_len + len + 1 >
			    sizeof(s->rcptbuf)) {
				continue;
			}
			if (s->cb->want != NULL && !s->cb->want(s->arg, s,
			    idx, (const char *)p, len)) {
				continue;	/* another destination's */
			}
			s->rcpts[s->nrcpt].idx = (uint16_t)idx;
			s->rcpts[s->nrcpt].off = (uint16_t)s->rcptbuf_len;
			s->rcpts[s->nrcpt].st = R_WAIT;
			memcpy(s->rcptbuf + s->rcptbuf_len, p, len);
			s->rcptbuf_len += (unsigned)len;
			s->rcptbuf[s->rcptbuf_len++] = '\0';
			s->nrcpt++;
		} else {
			if (r == QUEUE_ITEM_DATA) {
				s->chunk = p;
				s->chunk_len = len;
			} else {
				s->body_end = true;
			}
			break;
		}
	}
	if (s->nrcpt == 0) {
		goto nothing;
	}
	if (s->max_size != 0 && s->msg_size > s->max_size) {
		char t[SMTP_OUT_TEXT_MAX];

		snprintf(t, sizeof(t), "552 5.3.4 message size %lu exceeds "
		    "the limit %lu of %s", (unsigned long)s->msg_size,
		    (unsigned long)s->max_size, s->host);
		so_report_rest(s, 552, t);
		goto nothing;
	}
	s->state = SMTP_OUT_TXN;
	s->cmd_next = 0;
	so_arm(s, T_MAIL);
	so_txn_pump(s);
	return true;
nothing:
	s->id = 0;
	s->nrcpt = 0;
	s->cb->msg_done(s->arg, s, id);
	return false;
}

static void
so_next_msg(struct smtp_out_session *s)
{
	uint32_t id;

	for (;;) {
		s->state = SMTP_OUT_IDLE;
		if (!s->cb->next(s->arg, s, &id)) {
			if (s->state == SMTP_OUT_IDLE) {
				/* MX: one message per session, QUIT now */
				so_arm(s, s->to_mx ? 0 : T_IDLE);
			}
			return;
		}
		if (so_start_msg(s, id) || s->state != SMTP_OUT_IDLE) {
			return;
		}
	}
}

void
smtp_out_wake(struct smtp_out_session *s)
{
	if (s->state == SMTP_OUT_IDLE) {
		ev_timer_stop(&s->timer);
		so_next_msg(s);
	}
}

/* ---- replies ---- */

/* "AUTH PLAIN LOGIN ...": the mechanisms we speak, as whole words. */
static void
so_auth_mechs(struct smtp_out_session *s, const char *m, size_t len)
{
	size_t i = 0, w;

	while (i < len) {
		while (i < len && (m[i] == ' ' || m[i] == '=')) {
			i++;
		}
		for (w = i; w < len && m[w] != ' '; w++) {
		}
		if (w - i == 5 && memcmp(m + i, "PLAIN", 5) == 0) {
			s->ext |= SMTP_OUT_EXT_AUTH_PLAIN;
		}
		if (w - i == 5 && memcmp(m + i, "LOGIN", 5) == 0) {
			s->ext |= SMTP_OUT_EXT_AUTH_LOGIN;
		}
		if (w - i == 7 && memcmp(m + i, "XOAUTH2", 7) == 0) {
			s->ext |= SMTP_OUT_EXT_AUTH_XOAUTH2;
		}
		if (w - i == 11 && memcmp(m + i, "OAUTHBEARER", 11) == 0) {
			s->ext |= SMTP_OUT_EXT_AUTH_OAUTHBEARER;
		}
		i = w;
	}
}

static void
so_ehlo_keyword(struct smtp_out_session *s, const char *kw, size_t len)
{
	static const struct {
		const char *name;
		unsigned bit;
	} kws[] = {
		{ "PIPELINING", SMTP_OUT_EXT_PIPELINING },
		{ "SIZE", SMTP_OUT_EXT_SIZE },
		{ "8BITMIME", SMTP_OUT_EXT_8BITMIME },
		{ "ENHANCEDSTATUSCODES", SMTP_OUT_EXT_ENHANCED },
		{ "STARTTLS", SMTP_OUT_EXT_STARTTLS },
		{ "AUTH", SMTP_OUT_EXT_AUTH },
	};
	size_t i, k, n;

	for (n = 0; n < len && kw[n] != ' ' && kw[n] != '='; n++) {
	}
	for (i = 0; i < ARRAY_SIZE(kws); i++) {
		if (strlen(kws[i].name) != n) {
			continue;
		}
		for (k = 0; k < n; k++) {
			char c = kw[k];

			if (c >= 'a' && c <= 'z') {
				c = (char)(c - 'a' + 'A');
			}
			if (c != kws[i].name[k]) {
				break;
			}
		}
		if (k == n) {
			s->ext |= kws[i].bit;
			if (kws[i].bit == SMTP_OUT_EXT_AUTH) {
				so_auth_mechs(s, kw + n, len - n);
			}
			if (kws[i].bit == SMTP_OUT_EXT_SIZE && n < len) {
				unsigned long v = 0;

				for (k = n + 1; k < len && kw[k] >= '0' &&
				    kw[k] <= '9'; k++) {
					v = v * 10 + (unsigned long)(kw[k] -
					    '0');
				}
				s->max_size = (uint32_t)v;
			}
		}
	}
}

/*
 * Parse the reply from the input, one line at a time: 1 (a complete
 * reply: s->code, s->text set), 0 (need more) or a negative error:
 * EDGEMTA_E_PROTO (malformed), EDGEMTA_E_TOOBIG (more lines or bytes
 * than SO_REPLY_LINES_MAX / SO_REPLY_BYTES_MAX). Each line is consumed
 * once parsed, so a reply may be far larger than the read buffer (an
 * EHLO reply of 60 capabilities is not unusual): only one line
 * (RFC 5321 4.5.3.1.5: 512 octets) must fit. EHLO keywords we know are
 * kept as they pass; the text of later lines is joined with spaces up
 * to SMTP_OUT_TEXT_MAX; control characters become spaces.
 */
static int
so_read_reply(struct smtp_out_session *s)
{
	for (;;) {
		size_t have, ll, i, tl;
		const uint8_t *in = io_rpeek(&s->io, &have);
		const uint8_t *nl;
		int code;
		bool last;

		nl = memchr(in, '\n', have);
		if (nl == NULL) {
			if (have >= CONFIG_IO_RBUF_SIZE) {
				return EDGEMTA_E_PROTO;	/* a line too long */
			}
			return 0;	/* wait for the rest of the line */
		}
		ll = (size_t)(nl - in);
		if (ll > 0 && in[ll - 1] == '\r') {
			ll--;
		}
		if (ll < 3 || in[0] < '2' || in[0] > '5' ||
		    in[1] < '0' || in[1] > '9' || in[2] < '0' || in[2] > '9' ||
		    (ll > 3 && in[3] != ' ' && in[3] != '-')) {
			return EDGEMTA_E_PROTO;
		}
		code = (in[0] - '0') * 100 + (in[1] - '0') * 10 + (in[2] - '0');
		if (s->rlines == 0) {
			s->code = code;
			s->text[0] = '\0';
			s->rbytes = 0;
		} else if (code != s->code) {
			return EDGEMTA_E_PROTO;
		}
		s->rlines++;
		s->rbytes += (uint32_t)(nl - in) + 1;
		if (s->rlines > SO_REPLY_LINES_MAX ||
		    s->rbytes > SO_REPLY_BYTES_MAX) {
			return EDGEMTA_E_TOOBIG;
		}
		if (s->state == SMTP_OUT_EHLO && s->rlines > 1 && ll > 4) {
			so_ehlo_keyword(s, (const char *)in + 4, ll - 4);
		}
		/* first line whole ("250 2.0.0 Ok"), later lines' text */
		tl = strlen(s->text);
		for (i = s->rlines == 1 ? 0 : 3; i < ll &&
		    tl + 1 < sizeof(s->text); i++) {
			uint8_t ch = in[i];

			s->text[tl++] = (char)(ch < 0x20 || ch == 0x7f ? ' ' :
			    ch);
		}
		s->text[tl] = '\0';
		last = ll == 3 || in[3] == ' ';
		io_rconsume(&s->io, (size_t)(nl - in) + 1);
		if (last) {
			s->rlines = 0;
			return 1;
		}
	}
}

/*
 * A TLS or AUTH problem: the relay is not usable now (deferred). quit:
 * the session is still in step (a reply was read, nothing is pending):
 * say QUIT before closing.
 */
static void
so_fail_tls_q(struct smtp_out_session *s, bool quit, const char *fmt,
    const char *arg)
{
	char why[SMTP_OUT_TEXT_MAX], ip[NET_ADDR_STRLEN];
	char what[SMTP_OUT_TEXT_MAX];

	snprintf(what, sizeof(what), fmt, arg);
	smtp_out_peer(s, ip, sizeof(ip));
	snprintf(why, sizeof(why), "%.64s[%.46s]:%u: %.120s", s->host, ip,
	    (unsigned)s->addr.port, what);
	log_warn("relay %s", why);
	so_end(s, 0, why, quit);
}

static void
so_fail_tls(struct smtp_out_session *s, const char *fmt, const char *arg)
{
	so_fail_tls_q(s, false, fmt, arg);
}

static void
so_send_ehlo(struct smtp_out_session *s)
{
	s->state = SMTP_OUT_EHLO;
	s->ext = 0;
	s->max_size = 0;
	(void)io_printf(&s->io, "EHLO %s\r\n", s->helo);
	io_flush(&s->io);
	so_arm(s, T_EHLO);
}

static int
so_start_tls(struct smtp_out_session *s)
{
	struct tls_client_opts o;
	int r;

	memset(&o, 0, sizeof(o));
	o.host = s->host;
	o.verify = so_level(s) == CONF_TLS_VERIFY ? TLS_VERIFY_CA :
	    TLS_VERIFY_NONE;
	o.pinned = so_tls->pinned;
	memcpy(o.pin, so_tls->pin, sizeof(o.pin));
	r = tls_attach_client(&s->io, &o);
	if (r < 0) {
		so_fail_tls(s, "TLS not started: %s", tls_last_attach_error());
	}
	return r;
}

/* Send what fits of the OAuth2 response (a token can be 3 KB: more
 * than the send buffer; IO_EV_DRAINED brings the rest). */
static void
so_auth_pump(struct smtp_out_session *s)
{
	while (s->auth_left > 0) {
		size_t room, n;
		uint8_t *w = io_wspace(&s->io, &room);

		if (room == 0) {
			break;
		}
		n = MIN(room, s->auth_left);
		memcpy(w, s->auth_out, n);
		io_wcommit(&s->io, n);
		s->auth_out += n;
		s->auth_left -= n;
		io_flush(&s->io);
	}
	io_flush(&s->io);
}

/*
 * AUTH XOAUTH2 / OAUTHBEARER with the current access token (the
 * scheduler got one before connecting). RFC 4954 4: the initial
 * response goes on the AUTH line only when the line stays within 512
 * octets; else after an empty 334.
 */
static void
so_auth_oauth2(struct smtp_out_session *s)
{
	int mech = oauth2_mech();
	const char *name = oauth2_mech_name(mech);
	size_t len;
	const char *resp = oauth2_response(&len);

	if (!(s->ext & (mech == OAUTH2_MECH_XOAUTH2 ?
	    SMTP_OUT_EXT_AUTH_XOAUTH2 : SMTP_OUT_EXT_AUTH_OAUTHBEARER))) {
		so_fail_tls_q(s, true, "relay does not offer AUTH %s "
		    "(smtp_sasl_mechanism)", name);
		return;
	}
	if (len == 0) {
		so_fail_tls_q(s, true, "%s", "no OAuth2 access token");
		return;
	}
	s->auth_out = resp;
	s->state = SMTP_OUT_AUTH;
	so_arm(s, T_EHLO);
	if (6 + strlen(name) + len <= 512) {
		(void)io_printf(&s->io, "AUTH %s ", name);
		s->auth_left = len;
		s->auth_step = 4;
		so_auth_pump(s);
		return;
	}
	(void)io_printf(&s->io, "AUTH %s\r\n", name);
	io_flush(&s->io);
	s->auth_step = 3;
}

/* A reply to AUTH XOAUTH2 / OAUTHBEARER. true if handled. */
static bool
so_auth_oauth2_reply(struct smtp_out_session *s)
{
	char relay[SMTP_OUT_HOST_MAX + 8];

	if (s->code == 334 && s->auth_step == 3) {
		s->auth_out = oauth2_response(&s->auth_left);
		s->auth_step = 4;
		so_auth_pump(s);
		so_arm(s, T_EHLO);
		return true;
	}
	if (s->code == 334 && s->auth_step == 4) {
		/* RFC 7628 3.2.2: an error challenge; answer it empty
		 * (OAUTHBEARER wants ^A) to get the final 535 */
		(void)io_write(&s->io, oauth2_mech() == OAUTH2_MECH_XOAUTH2 ?
		    "\r\n" : "AQ==\r\n", oauth2_mech() == OAUTH2_MECH_XOAUTH2 ?
		    2 : 6);
		io_flush(&s->io);
		s->auth_step = 5;
		so_arm(s, T_EHLO);
		return true;
	}
	if (s->code == 235) {
		oauth2_auth_ok();
		return false;
	}
	snprintf(relay, sizeof(relay), "%s", s->host);
	if (s->code == 535 || s->code == 334) {
		oauth2_auth_rejected(relay, s->text);
	}
	return false;
}

/*
 * After a 2xx to EHLO: STARTTLS, then AUTH, as configured. true if a
 * command was sent (or the session failed) and the caller stops here.
 */
static bool
so_tls_step(struct smtp_out_session *s)
{
	const struct smtp_out_tls *t = so_tls;
	bool tls = tls_active(&s->io);
	char line[AUTH_LINE_MAX];
	int level = so_level(s);

	if (t == NULL) {
		return false;
	}
	if (!tls && level >= CONF_TLS_MAY) {
		if (s->state == SMTP_OUT_EHLO &&
		    (s->ext & SMTP_OUT_EXT_STARTTLS)) {
			(void)io_write(&s->io, "STARTTLS\r\n", 10);
			io_flush(&s->io);
			s->state = SMTP_OUT_STARTTLS;
			so_arm(s, T_EHLO);
			return true;
		}
		if (level >= CONF_TLS_ENCRYPT) {
			so_fail_tls_q(s, true, "%s", "STARTTLS not "
			    "offered, but smtp_tls_security_level requires "
			    "TLS (no plaintext fallback)");
			return true;
		}
	}
	if (t->user[0] == '\0' || s->authed || s->to_mx) {
		return false;	/* credentials are for the relayhost only */
	}
	if (!tls) {
		so_fail_tls_q(s, true, "%s", "no TLS: SMTP AUTH credentials "
		    "are never sent in plaintext");
		return true;
	}
	if (oauth2_mech() != OAUTH2_MECH_NONE) {
		so_auth_oauth2(s);
		return true;
	}
	if (!(s->ext & (SMTP_OUT_EXT_AUTH_PLAIN | SMTP_OUT_EXT_AUTH_LOGIN))) {
		log_info("relay %s does not offer AUTH PLAIN or LOGIN: "
		    "sending without AUTH", s->host);
		return false;
	}
	if (s->ext & SMTP_OUT_EXT_AUTH_PLAIN) {
		if (auth_client_plain(t->user, t->pass, line,
		    sizeof(line) - 2) != 0) {
			so_fail_tls(s, "%s", "credentials too long");
			return true;
		}
		s->auth_step = 2;
	} else {
		snprintf(line, sizeof(line), "AUTH LOGIN");
		s->auth_step = 0;
	}
	(void)io_printf(&s->io, "%s\r\n", line);
	memset(line, 0, sizeof(line));
	io_flush(&s->io);
	s->state = SMTP_OUT_AUTH;
	so_arm(s, T_EHLO);
	return true;
}

/* A reply during STARTTLS or AUTH. */
static void
so_tls_reply(struct smtp_out_session *s)
{
	char b[AUTH_LINE_MAX];
	const char *v;

	if (s->state == SMTP_OUT_STARTTLS) {
		if (s->code != 220) {
			so_fail_tls_q(s, true, "STARTTLS refused: %s",
			    s->text);
			return;
		}
		/* RFC 3207 5: nothing the server sent before the handshake
		 * may be read as if it came inside TLS */
		io_rdiscard(&s->io);
		if (so_start_tls(s) == 0) {
			so_send_ehlo(s);
		}
		return;
	}
	if (s->auth_step >= 3 && so_auth_oauth2_reply(s)) {
		return;
	}
	if (s->code == 334 && s->auth_step < 2) {
		v = s->auth_step == 0 ? so_tls->user : so_tls->pass;
		if (auth_b64_encode(v, strlen(v), b, sizeof(b) - 2) < 0) {
			so_fail_tls(s, "%s", "credentials too long");
			return;
		}
		s->auth_step++;
		(void)io_printf(&s->io, "%s\r\n", b);
		memset(b, 0, sizeof(b));
		io_flush(&s->io);
		so_arm(s, T_EHLO);
		return;
	}
	if (s->code != 235) {
		so_fail_tls_q(s, true, "SMTP AUTH failed: %s", s->text);
		return;
	}
	s->authed = true;
	log_info("relay %s: authenticated as %s", s->host, so_tls->user);
	s->greeted = true;
	s->t_ready = ev_now();
	so_next_msg(s);
}

static void
so_on_reply(struct smtp_out_session *s)
{
	int cls = s->code / 100;
	uint16_t what;

	if (s->code == 421) {
		char t[SMTP_OUT_TEXT_MAX];

		snprintf(t, sizeof(t), "%s", s->text);
		so_fail(s, 421, t);
		return;
	}
	switch (s->state) {
	case SMTP_OUT_GREETING:
		if (cls != 2) {
			so_fail(s, s->code, s->text);
			return;
		}
		so_send_ehlo(s);
		return;
	case SMTP_OUT_STARTTLS:
	case SMTP_OUT_AUTH:
		so_tls_reply(s);
		return;
	case SMTP_OUT_EHLO:
	case SMTP_OUT_HELO:
		if (cls == 5 && s->state == SMTP_OUT_EHLO) {
			s->state = SMTP_OUT_HELO;
			s->ext = 0;
			(void)io_printf(&s->io, "HELO %s\r\n", s->helo);
			io_flush(&s->io);
			so_arm(s, T_EHLO);
			return;
		}
		if (cls != 2) {
			so_fail(s, s->code, s->text);
			return;
		}
		if (so_tls_step(s)) {
			return;
		}
		s->greeted = true;
		s->t_ready = ev_now();
		so_next_msg(s);
		return;
	case SMTP_OUT_TXN:
		break;
	case SMTP_OUT_DOT:
		if (s->naccepted > 0) {
			so_report_accepted(s, s->code, s->text);
		}
		so_msg_end(s);
		return;
	default:
		so_fail(s, 0, "unexpected reply from the server");
		return;
	}
	if (s->pipe_len == 0) {
		so_fail(s, 0, "unexpected reply from the server");
		return;
	}
	what = so_pop(s);
	so_arm(s, T_MAIL);
	if (what == PIPE_RSET) {
		if (cls != 2) {
			so_fail(s, 0, s->text);
			return;
		}
		so_txn_pump(s);
		return;
	}
	if (what == PIPE_MAIL) {
		if (cls != 2) {
			s->mail_code = s->code;
			so_report_rest(s, s->code, s->text);
			if (!so_pipelining(s)) {
				so_msg_end(s);
				return;
			}
		}
		so_txn_pump(s);
		return;
	}
	if (what == PIPE_DATA) {
		if (s->code == 354) {
			if (s->naccepted == 0) {
				/* RFC 2920: nothing to send, end it */
				(void)io_write(&s->io, ".\r\n", 3);
				io_flush(&s->io);
				s->state = SMTP_OUT_DOT;
				so_arm(s, T_DOT);
				return;
			}
			s->state = SMTP_OUT_BODY;
			so_body_pump(s);
			return;
		}
		so_report_accepted(s, s->code, s->text);
		so_msg_end(s);
		return;
	}
	/* a RCPT */
	if (what < s->nrcpt && s->rcpts[what].st == R_WAIT) {
		if (cls == 2) {
			s->rcpts[what].st = R_ACCEPTED;
			s->naccepted++;
		} else {
			so_report(s, what, s->code, s->text);
		}
	}
	so_txn_pump(s);
}

static void
so_on_input(struct smtp_out_session *s)
{
	for (;;) {
		int r;

		if (s->state == SMTP_OUT_FREE || s->state ==
		    SMTP_OUT_CONNECTING) {
			return;
		}
		r = so_read_reply(s);
		if (r == 0) {
			return;
		}
		if (r == EDGEMTA_E_TOOBIG) {
			char t[SMTP_OUT_TEXT_MAX];

			snprintf(t, sizeof(t), "reply from the server too "
			    "long (more than %u lines or %u bytes)",
			    SO_REPLY_LINES_MAX, SO_REPLY_BYTES_MAX);
			so_fail(s, 0, t);
			return;
		}
		if (r < 0) {
			so_fail(s, 0, "malformed reply from the server");
			return;
		}
		if (s->state == SMTP_OUT_IDLE || s->state == SMTP_OUT_BODY) {
			so_fail(s, 0, "unexpected reply from the server");
			return;
		}
		so_on_reply(s);
	}
}

static void
so_on_io(void *arg, int ev)
{
	struct smtp_out_session *s = arg;

	switch (ev) {
	case IO_EV_CONNECTED:
		s->state = SMTP_OUT_GREETING;
		s->t_connected = ev_now();
		so_arm(s, T_GREETING);
		/* RFC 8314: implicit TLS, the greeting comes inside it */
		if (so_level(s) != CONF_TLS_NONE &&
		    (so_tls->wrapper || s->addr.port == 465)) {
			(void)so_start_tls(s);
		}
		break;
	case IO_EV_READ:
		so_on_input(s);
		break;
	case IO_EV_DRAINED:
		if (s->state == SMTP_OUT_AUTH && s->auth_left > 0) {
			so_auth_pump(s);
		} else if (s->state == SMTP_OUT_BODY) {
			so_body_pump(s);
		} else if (s->state == SMTP_OUT_TXN) {
			so_txn_pump(s);
		}
		break;
	case IO_EV_CLOSED:
		/* a reply may have come with the close (421 + FIN) */
		so_on_input(s);
		if (s->state != SMTP_OUT_FREE && tls_error(&s->io)[0] !=
		    '\0') {
			so_fail_tls(s, "%s", tls_error(&s->io));
		} else if (s->state != SMTP_OUT_FREE) {
			so_fail_io(s, s->state == SMTP_OUT_CONNECTING ?
			    "Connection refused" : "lost connection");
		}
		break;
	case IO_EV_TIMEOUT:
	default:
		break;
	}
}

int
smtp_out_start(struct smtp_out_session *s, const struct net_addr *addr,
    const char *host, const char *helo, const struct smtp_out_cb *cb,
    void *arg)
{
	int fd, r;

	memset(&s->timer, 0, sizeof(s->timer));
	s->state = SMTP_OUT_FREE;
	s->greeted = false;
	s->closing = false;
	s->authed = false;
	s->auth_step = 0;
	s->auth_left = 0;
	s->ext = 0;
	s->max_size = 0;
	s->cb = cb;
	s->arg = arg;
	s->helo = helo;
	s->addr = *addr;
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->id = 0;
	s->nrcpt = 0;
	s->nmsgs = 0;
	s->need_rset = false;
	s->rlines = 0;
	s->t_conn = ev_now();
	s->t_connected = s->t_conn;
	s->t_ready = s->t_conn;
	fd = plat_connect_tcp(addr);
	if (fd < 0) {
		return fd;
	}
	r = io_open(&s->io, fd, true, so_on_io, s);
	if (r < 0) {
		plat_close(fd);
		return r;
	}
	s->state = SMTP_OUT_CONNECTING;
	so_arm(s, T_CONNECT);
	return 0;
}

void
smtp_out_abort(struct smtp_out_session *s, const char *reason)
{
	if (s->state == SMTP_OUT_FREE) {
		return;
	}
	so_fail(s, 0, reason);
}
