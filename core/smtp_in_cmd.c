/*
 * smtp_in_cmd.c - the SMTP server's commands (RFC 5321 4.1, 2920, 1870,
 * 6152, 6531, 2034/3463) as a table of "allowed in which states" and an
 * action, OpenSMTPD style; and the DATA transaction with the queue.
 *
 * Every peer problem becomes a reply with an enhanced status code.
 * Protocol errors (unknown command, syntax, bad sequence) are counted;
 * SMTP_IN_MAX_ERRORS of them end the session with 421.
 */
#include <stdio.h>
#include <string.h>

#include "smtp_in_int.h"
#include "inject.h"
#include "log.h"
#include "platform.h"
#include "sched.h"
#include "tls.h"

#define ST(x) (1u << (x))
#define ST_CMD (ST(SMTP_IN_HELO) | ST(SMTP_IN_READY) | ST(SMTP_IN_MAIL) | \
	ST(SMTP_IN_RCPT))

struct smtp_in_cmd {
	unsigned states;	/* where the command is allowed */
	const char *seq;	/* 503 text when it is not */
	bool (*act)(struct smtp_in_session *s, const char *arg);
};

/* ---- the envelope buffer ---- */

static const char *
smtp_in_sender(const struct smtp_in_session *s)
{
	return s->env;
}

static bool
smtp_in_env_put(struct smtp_in_session *s, const char *str)
{
	size_t n = strlen(str) + 1;

	if (n > sizeof(s->env) - s->env_len) {
		return false;
	}
	memcpy(s->env + s->env_len, str, n);
	s->env_len += n;
	return true;
}

/* true if a is a recipient of the open transaction already. */
static bool
smtp_in_env_has(const struct smtp_in_session *s, const char *a)
{
	const char *p = s->env + strlen(s->env) + 1;
	unsigned i;

	for (i = 0; i < s->nrcpt; i++, p += strlen(p) + 1) {
		if (strcmp(p, a) == 0) {
			return true;
		}
	}
	return false;
}

/* ---- commands ---- */

static bool
smtp_in_offer_tls(const struct smtp_in_session *s)
{
	return !s->tls && s->mode != LISTEN_LOCAL && tls_server_ready();
}

static bool
smtp_in_offer_auth(const struct smtp_in_session *s)
{
	return s->tls && s->mode != LISTEN_LOCAL && auth_available() &&
	    s->auth_user[0] == '\0';
}

static bool
smtp_in_helo(struct smtp_in_session *s, const char *arg, bool esmtp)
{
	size_t i;

	if (arg[0] == '\0') {
		smtp_in_reply(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		smtp_in_error(s);
		return false;
	}
	if (!addr_helo_ok(arg)) {
		/* RFC 5321 4.1.1.1; the log escapes what is not printable */
		log_info("reject: %s from %s: 501 5.5.2 invalid host name: "
		    "%.80s", esmtp ? "EHLO" : "HELO", s->peer_str, arg);
		smtp_in_reply(s, "501 5.5.2 Syntax: %s hostname (a domain "
		    "or an address literal like [192.0.2.1])",
		    esmtp ? "EHLO" : "HELO");
		smtp_in_error(s);
		return false;
	}
	/* kept for the Received: header: printable ASCII only */
	for (i = 0; arg[i] != '\0' && i < sizeof(s->helo) - 1; i++) {
		unsigned char c = (unsigned char)arg[i];

		s->helo[i] = (char)(c > 0x20 && c < 0x7f ? c : '?');
	}
	s->helo[i] = '\0';
	s->esmtp = esmtp;
	smtp_in_enter(s, SMTP_IN_READY);
	if (!esmtp) {
		smtp_in_reply(s, "250 %s", smtp_in_host);
		return true;
	}
	/* STARTTLS where configured and not active; AUTH only inside TLS */
	smtp_in_reply(s, "250-%s\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE %lu\r\n"
	    "250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "%s%s"
	    "250 SMTPUTF8", smtp_in_host,
	    (unsigned long)smtp_in_conf->message_size_limit,
	    smtp_in_offer_tls(s) ? "250-STARTTLS\r\n" : "",
	    smtp_in_offer_auth(s) ? "250-AUTH PLAIN LOGIN\r\n" : "");
	return true;
}

static bool
smtp_in_ehlo_cmd(struct smtp_in_session *s, const char *arg)
{
	return smtp_in_helo(s, arg, true);
}

static bool
smtp_in_helo_cmd(struct smtp_in_session *s, const char *arg)
{
	return smtp_in_helo(s, arg, false);
}

static bool
smtp_in_mail(struct smtp_in_session *s, const char *arg)
{
	struct smtp_cmd_mail m;
	uint32_t limit = smtp_in_conf->message_size_limit;

	switch (smtp_cmd_mail(arg, &m)) {
	case SMTP_CMD_OK:
		break;
	case SMTP_CMD_E_ADDR:
		smtp_in_reply(s, "501 5.1.7 Bad sender address syntax");
		smtp_in_error(s);
		return false;
	case SMTP_CMD_E_PARAM:
		smtp_in_reply(s, "555 5.5.4 Unsupported option in MAIL "
		    "command");
		smtp_in_error(s);
		return false;
	case SMTP_CMD_E_VALUE:
		smtp_in_reply(s, "501 5.5.4 Bad parameter value in MAIL "
		    "command");
		smtp_in_error(s);
		return false;
	default:
		smtp_in_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		smtp_in_error(s);
		return false;
	}
	if (!m.smtputf8 && smtp_cmd_is_utf8(m.addr)) {
		smtp_in_reply(s, "553 5.6.7 Non-ASCII sender needs the "
		    "SMTPUTF8 parameter");
		smtp_in_error(s);
		return false;
	}
	if (limit != 0 && m.size > limit) {
		smtp_in_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return false;
	}
	/* RFC 6409 / 8314: submission needs TLS, then AUTH */
	if (s->mode == LISTEN_SUBMISSION && !s->tls) {
		smtp_in_reply(s, "530 5.7.0 Must issue a STARTTLS command "
		    "first");
		smtp_in_error(s);
		return false;
	}
	if ((s->mode == LISTEN_SUBMISSION || s->mode == LISTEN_SMTPS) &&
	    s->auth_user[0] == '\0') {
		smtp_in_reply(s, "530 5.7.0 Authentication required");
		smtp_in_error(s);
		return false;
	}
	smtp_in_enter(s, SMTP_IN_READY);
	(void)smtp_in_env_put(s, m.addr);	/* ADDR_MAX < RCPT_BUF */
	s->size_hint = m.size;
	s->utf8 = m.smtputf8;
	smtp_in_enter(s, SMTP_IN_MAIL);
	smtp_in_reply(s, "250 2.1.0 Ok");
	return true;
}

/* ---- postmaster (RFC 5321 4.5.1) ---- */

#define SMTP_IN_PM_MAX 4		/* addresses postmaster expands to */
#define SMTP_IN_PM_PER_HOUR 20		/* from clients that may not relay */

static uint64_t smtp_in_pm_window;	/* ev_now() the hour began */
static unsigned smtp_in_pm_count;

/* The rewriting of local submissions (inject.h), from the config. */
static void
smtp_in_rewrite(struct inject_rewrite *rw, char *origin, size_t len)
{
	const struct conf *c = smtp_in_conf;

	snprintf(origin, len, "%s", c->myorigin[0] != '\0' ? c->myorigin :
	    smtp_in_host);
	rw->aliases = c->aliases;
	rw->admin = c->bounce_notice_recipient;
	rw->myorigin = origin;
	rw->myhostname = smtp_in_host;
	rw->sender_rewrite = "";
}

/*
 * RCPT to postmaster, bare or @myhostname: accepted from anyone (also
 * outside mynetworks, at most SMTP_IN_PM_PER_HOUR an hour) and sent to
 * what a local "postmaster" gives in sendmail: its alias, else the admin
 * address (bounce_notice_recipient), qualified with myorigin. When that
 * is a local address again (no local delivery: it would loop), a client
 * that may relay goes on as before (returns -1), others get 550.
 * Returns 1 when the RCPT was accepted, 0 when refused (reply sent).
 */
static int
smtp_in_postmaster(struct smtp_in_session *s, const char *addr)
{
	char origin[CONF_STR_MAX], buf[SMTP_IN_PM_MAX * ADDR_MAX], err[128];
	struct inject_rewrite rw;
	struct inject_rcpts r;
	uint64_t now = ev_now();
	unsigned i;
	bool ok;

	smtp_in_rewrite(&rw, origin, sizeof(origin));
	inject_rcpts_init(&r, buf, sizeof(buf), SMTP_IN_PM_MAX);
	ok = inject_rcpt_add(&r, &rw, "postmaster", err, sizeof(err)) == 0 &&
	    r.n > 0;
	for (i = 0; ok && i < r.n; i++) {
		ok = !inject_is_local(&rw, inject_rcpt_get(&r, i));
	}
	if (!ok && (s->relay_ok || s->auth_user[0] != '\0')) {
		return -1;
	}
	if (!ok) {
		log_warn("reject: RCPT from %s: <%s>: no admin address to "
		    "send it to (set bounce_notice_recipient to a mailbox "
		    "elsewhere)", s->peer_str, addr);
		smtp_in_reply(s, "550 5.1.1 <%s>: no postmaster mailbox here",
		    addr);
		return 0;
	}
	if (!s->relay_ok && s->auth_user[0] == '\0') {
		if (now - smtp_in_pm_window >= 3600000u) {
			smtp_in_pm_window = now;
			smtp_in_pm_count = 0;
		}
		if (smtp_in_pm_count >= SMTP_IN_PM_PER_HOUR) {
			log_warn("reject: RCPT from %s: <%s>: more than %u "
			    "an hour to postmaster", s->peer_str, addr,
			    SMTP_IN_PM_PER_HOUR);
			smtp_in_reply(s, "450 4.7.1 <%s>: too much mail to "
			    "postmaster, try again later", addr);
			return 0;
		}
		smtp_in_pm_count++;
	}
	if (s->nrcpt + r.n > CONFIG_SMTP_MAX_RCPT ||
	    r.used > sizeof(s->env) - s->env_len) {
		smtp_in_reply(s, "452 4.5.3 Error: too many recipients");
		return 0;
	}
	for (i = 0; i < r.n; i++) {
		const char *a = inject_rcpt_get(&r, i);

		if (!smtp_in_env_has(s, a)) {	/* env has room: above */
			(void)smtp_in_env_put(s, a);
			s->nrcpt++;
		}
	}
	log_info("RCPT from %s: <%s> goes to <%s>%s", s->peer_str, addr,
	    inject_rcpt_get(&r, 0), r.n > 1 ? " and others" : "");
	smtp_in_enter(s, SMTP_IN_RCPT);
	smtp_in_reply(s, "250 2.1.5 Ok");
	return 1;
}

static bool
smtp_in_rcpt(struct smtp_in_session *s, const char *arg)
{
	struct inject_rewrite rw;
	char origin[CONF_STR_MAX];
	char addr[ADDR_MAX];

	s->nrcpt_tried++;
	switch (smtp_cmd_rcpt(arg, addr)) {
	case SMTP_CMD_OK:
		break;
	case SMTP_CMD_E_ADDR:
		smtp_in_reply(s, "501 5.1.3 Bad recipient address syntax");
		smtp_in_error(s);
		return false;
	case SMTP_CMD_E_PARAM:
		smtp_in_reply(s, "555 5.5.4 Unsupported option in RCPT "
		    "command");
		smtp_in_error(s);
		return false;
	default:
		smtp_in_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		smtp_in_error(s);
		return false;
	}
	if (!s->utf8 && smtp_cmd_is_utf8(addr)) {
		smtp_in_reply(s, "553 5.6.7 Non-ASCII recipient needs the "
		    "SMTPUTF8 parameter");
		smtp_in_error(s);
		return false;
	}
	smtp_in_rewrite(&rw, origin, sizeof(origin));
	if (inject_is_postmaster(&rw, addr)) {
		int pm = smtp_in_postmaster(s, addr);

		if (pm >= 0) {
			return pm == 1;
		}
	}
	/* Never an open relay: mynetworks, the local socket and AUTH only;
	 * no local delivery, so the only exception is postmaster. */
	if (!s->relay_ok && s->auth_user[0] == '\0') {
		log_info("reject: RCPT from %s: 554 5.7.1 <%s>: Relay "
		    "access denied", s->peer_str, addr);
		smtp_in_reply(s, "554 5.7.1 <%s>: Relay access denied", addr);
		smtp_in_error(s);
		return false;
	}
	if (s->nrcpt >= CONFIG_SMTP_MAX_RCPT || !smtp_in_env_put(s, addr)) {
		smtp_in_reply(s, "452 4.5.3 Error: too many recipients");
		return false;
	}
	s->nrcpt++;
	smtp_in_enter(s, SMTP_IN_RCPT);
	smtp_in_reply(s, "250 2.1.5 Ok");
	return true;
}

/* The reply for a queue error at DATA time (storage is always 4xx). */
static void
smtp_in_queue_reply(struct smtp_in_session *s, int err)
{
	if (err == EDGEMTA_E_TOOBIG) {
		smtp_in_reply(s, "552 5.3.4 Message size exceeds fixed limit");
	} else if (err == EDGEMTA_E_FULL) {
		smtp_in_reply(s, "452 4.3.1 Insufficient system storage");
	} else {
		smtp_in_reply(s, "451 4.3.0 Error writing message to queue, "
		    "try again");
	}
}

/* Our trace header (RFC 5321 4.4), the first bytes of the message. */
static int
smtp_in_received(struct smtp_in_session *s)
{
	char buf[1024], date[64], id[QUEUE_ID_STRLEN];
	char tls[128] = "", who[AUTH_USER_MAX + 40] = "", with[16];
	const char *rcpt = s->env + strlen(s->env) + 1;
	const char *ptr = smtp_in_ptr_name(s);	/* PTR, if in time */
	int n;

	/* RFC 3848 "with" types; TLS and AUTH facts as Postfix writes them */
	snprintf(with, sizeof(with), "%s%s%s", s->esmtp ? "ESMTP" : "SMTP",
	    s->tls && s->esmtp ? "S" : "",
	    s->auth_user[0] != '\0' && s->esmtp ? "A" : "");
	if (s->tls) {
		char d[96];

		tls_describe(&s->io, d, sizeof(d));
		snprintf(tls, sizeof(tls), "\r\n\t(using %s)", d);
	}
	if (s->auth_user[0] != '\0') {
		snprintf(who, sizeof(who), "\r\n\t(Authenticated sender: "
		    "%s)", s->auth_user);
	}
	if (ptr == NULL) {
		ptr = "unknown";
	}
	plat_rfc5322_date(plat_time(), date, sizeof(date));
	queue_id_str(s->w.id, id);
	if (s->mode == LISTEN_LOCAL) {
		n = snprintf(buf, sizeof(buf), "Received: by %s (edgemta, "
		    "from local submission) id %s; %s\r\n", smtp_in_host,
		    id, date);
	} else if (s->nrcpt == 1) {
		n = snprintf(buf, sizeof(buf), "Received: from %s (%s "
		    "[%s])%s%s\r\n\tby %s (edgemta) with %s id %s\r\n\t"
		    "for <%s>; %s\r\n", s->helo, ptr, s->peer_ip, tls, who,
		    smtp_in_host, with, id, rcpt, date);
	} else {
		n = snprintf(buf, sizeof(buf), "Received: from %s (%s "
		    "[%s])%s%s\r\n\tby %s (edgemta) with %s id %s;\r\n\t"
		    "%s\r\n", s->helo, ptr, s->peer_ip, tls, who, smtp_in_host,
		    with, id, date);
	}
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		return EDGEMTA_E_INVAL;
	}
	s->msg_size = (uint64_t)n;
	return queue_msg_write(&s->w, buf, (size_t)n);
}

/*
 * DATA: open the queue writer first, so that a full queue is refused
 * before the client sends the message (452 4.3.1, or 552 5.3.4 when
 * SIZE= is larger than the whole queue). No 354 was sent then, so the
 * client does not send data and the session stays in sync.
 */
static bool
smtp_in_data_cmd(struct smtp_in_session *s, const char *arg)
{
	const char *p;
	unsigned i;
	int r;

	if (arg[0] != '\0') {
		smtp_in_reply(s, "501 5.5.4 Syntax: DATA");
		smtp_in_error(s);
		return false;
	}
	if (s->state == SMTP_IN_MAIL) {
		/* RFC 2920 3.1: all RCPTs of a pipelined group failed */
		smtp_in_reply(s, "%s", s->nrcpt_tried > 0 ?
		    "554 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: need RCPT command");
		return false;
	}
	r = queue_msg_begin(&s->w, smtp_in_sender(s), s->size_hint, 0);
	if (r < 0) {
		log_warn("queue: cannot accept a message from %s: %s",
		    s->peer_str, edgemta_strerror(r));
		smtp_in_queue_reply(s, r);
		return false;
	}
	s->w_open = true;
	p = s->env + strlen(s->env) + 1;
	for (i = 0; i < s->nrcpt && r == 0; i++) {
		r = queue_msg_rcpt(&s->w, p);
		p += strlen(p) + 1;
	}
	if (r == 0) {
		r = smtp_in_received(s);
	}
	if (r < 0) {
		queue_msg_abort(&s->w);
		s->w_open = false;
		smtp_in_queue_reply(s, r);
		return false;
	}
	smtp_in_enter(s, SMTP_IN_DATA);
	smtp_in_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	return false;	/* counted as done at its 250 (disconnect log) */
}

/* A repeat (queued as id) within alert_collapse_window: hold it, drop
 * the one before. */
static void
smtp_in_storm_hold(struct smtp_in_session *s, const char *id)
{
	char old_id[QUEUE_ID_STRLEN], when[64], reason[96];
	uint32_t old = 0, n;
	int64_t until = 0;
	int r;

	if (STORM_SLOTS == 0 || s->storm_key == 0) {
		return;
	}
	n = storm_commit(smtp_in_conf->alert_collapse_window, s->storm_key,
	    s->w.id, plat_time(), &until, &old);
	if (n == 0) {
		return;
	}
	snprintf(reason, sizeof(reason), "held: repeat %lu of an alert "
	    "storm (alert_collapse_window)", (unsigned long)n);
	r = queue_msg_defer(s->w.id, until, 0, reason);
	if (r < 0) {
		log_warn("%s: cannot hold a repeated message: %s (it goes "
		    "out now)", id, edgemta_strerror(r));
		return;
	}
	plat_rfc5322_date(until, when, sizeof(when));
	log_info("%s: repeat %lu of an alert storm, held until %s "
	    "(alert_collapse_window)", id, (unsigned long)n, when);
	if (old != 0 && queue_msg_delete(old) == 0) {
		log_info("%s: removed: superseded by %s (alert_collapse_window)",
		    queue_id_str(old, old_id), id);
	}
}

static void
smtp_in_on_commit(void *arg, int err)
{
	struct smtp_in_session *s = arg;
	char id[QUEUE_ID_STRLEN];

	if (s->state != SMTP_IN_COMMIT) {
		return;		/* cannot happen: abort cancels us */
	}
	s->w_open = false;
	queue_id_str(s->w.id, id);
	if (err != 0) {
		log_err("%s: queue commit failed: %s", id,
		    edgemta_strerror(err));
		smtp_in_reply(s, "451 4.3.0 Error writing message to queue, "
		    "try again");
	} else {
		char port[8] = "", size[U64_STRLEN];

		if (s->mode != LISTEN_LOCAL) {
			snprintf(port, sizeof(port), ":%u",
			    (unsigned)s->peer.port);
		}
		log_info("%s: client=%s%s, from=<%s>, size=%s, nrcpt=%u",
		    id, s->peer_str, port, smtp_in_sender(s),
		    u64_str(size, s->msg_size, 10), s->nrcpt);
		smtp_in_reply(s, "250 2.0.0 Ok: queued as %s", id);
		smtp_in_storm_hold(s, id);
		if (s->cmd_ok[SMTP_CMD_DATA] < UINT16_MAX) {
			s->cmd_ok[SMTP_CMD_DATA]++;
		}
		sched_kick();
	}
	smtp_in_enter(s, SMTP_IN_READY);
	if (s->closing) {
		smtp_in_free(s, true);
		return;
	}
	io_flush(&s->io);
}

void
smtp_in_data_end(struct smtp_in_session *s)
{
	const char *reply = smtp_data_reply(&s->dec);
	int r;

	if (reply != NULL || s->q_err != 0) {
		if (reply != NULL) {
			log_info("reject: DATA from %s: %s", s->peer_str,
			    reply);
			smtp_in_reply(s, "%s", reply);
		} else {
			smtp_in_queue_reply(s, s->q_err);
		}
		smtp_in_enter(s, SMTP_IN_READY);	/* aborts */
		return;
	}
	if (s->hops.count >= smtp_in_conf->hopcount_limit) {
		/* with our own Received: it would exceed the limit */
		log_warn("reject: DATA from %s: %u trace header fields "
		    "(hopcount_limit %lu): mail forwarding loop", s->peer_str,
		    s->hops.count, (unsigned long)smtp_in_conf->hopcount_limit);
		smtp_in_reply(s, "554 5.4.6 Error: too many hops (mail "
		    "forwarding loop)");
		smtp_in_enter(s, SMTP_IN_READY);	/* aborts */
		return;
	}
	r = queue_msg_seal(&s->w, smtp_in_on_commit, s);
	if (r < 0) {
		smtp_in_queue_reply(s, r == EDGEMTA_E_FULL ? r :
		    EDGEMTA_E_IO);
		smtp_in_enter(s, SMTP_IN_READY);
		return;
	}
	smtp_in_enter(s, SMTP_IN_COMMIT);
}

static bool
smtp_in_rset(struct smtp_in_session *s, const char *arg)
{
	(void)arg;
	if (s->state != SMTP_IN_HELO) {
		smtp_in_enter(s, SMTP_IN_READY);
	}
	smtp_in_reply(s, "250 2.0.0 Ok");
	return true;
}

static bool
smtp_in_noop(struct smtp_in_session *s, const char *arg)
{
	(void)arg;
	smtp_in_reply(s, "250 2.0.0 Ok");
	return true;
}

static bool
smtp_in_quit(struct smtp_in_session *s, const char *arg)
{
	(void)arg;
	smtp_in_close(s, "221 2.0.0 Bye");	/* at once, no delay */
	return true;
}

static bool
smtp_in_vrfy(struct smtp_in_session *s, const char *arg)
{
	if (arg[0] == '\0') {
		smtp_in_reply(s, "501 5.5.4 Syntax: VRFY address");
		smtp_in_error(s);
		return false;
	}
	smtp_in_reply(s, "252 2.5.2 Cannot VRFY user, but will accept "
	    "message and attempt delivery");
	return true;
}

static bool
smtp_in_help(struct smtp_in_session *s, const char *arg)
{
	(void)arg;
	smtp_in_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA "
	    "RSET NOOP QUIT VRFY HELP%s%s", smtp_in_offer_tls(s) ?
	    " STARTTLS" : "", smtp_in_offer_auth(s) ? " AUTH" : "");
	return true;
}

/* Admin over the local socket: "XQUEUE FLUSH", "XQUEUE DELETE id". */
static bool
smtp_in_xqueue(struct smtp_in_session *s, const char *arg)
{
	char reply[500];	/* XQUEUE STATUS: one line below 512 */
	size_t i;
	int r;

	reply[0] = '\0';
	r = sched_admin(arg, reply, sizeof(reply));
	for (i = 0; reply[i] != '\0' && i < sizeof(reply); i++) {
		if ((unsigned char)reply[i] < 0x20) {
			reply[i] = ' ';
		}
	}
	log_info("admin from %s: XQUEUE %s: %s", s->peer_str, arg, reply);
	smtp_in_reply(s, "%s %s", r < 0 ? "550 5.3.0" : "250 2.0.0", reply);
	return r >= 0;
}

/*
 * STARTTLS (RFC 3207): the 220 goes out in plaintext; whatever the
 * client pipelined after the command is discarded now, reading stops,
 * and the handshake starts when the 220 has been sent
 * (smtp_in_starttls_go). Nothing read before the handshake can ever be
 * taken as a command inside TLS.
 */
static bool
smtp_in_starttls(struct smtp_in_session *s, const char *arg)
{
	if (s->tls) {
		smtp_in_reply(s, "554 5.5.1 Error: TLS already active");
		smtp_in_error(s);
		return false;
	}
	if (!smtp_in_offer_tls(s)) {
		smtp_in_reply(s, "502 5.5.1 Error: STARTTLS not available");
		smtp_in_error(s);
		return false;
	}
	if (arg[0] != '\0') {
		smtp_in_reply(s, "501 5.5.4 Syntax: STARTTLS");
		smtp_in_error(s);
		return false;
	}
	if (!tls_server_slot_free(smtp_in_tls_promised)) {
		smtp_in_reply(s, "454 4.7.0 TLS not available due to "
		    "temporary reason");
		return false;
	}
	smtp_in_reply(s, "220 2.0.0 Ready to start TLS");
	io_rdiscard(&s->io);
	io_pause_read(&s->io, true);
	s->tls_pending = true;
	smtp_in_tls_promised++;	/* the slot is ours: nobody else gets it */
	return true;
}

void
smtp_in_starttls_go(struct smtp_in_session *s)
{
	s->tls_pending = false;
	smtp_in_tls_promised--;
	io_rdiscard(&s->io);
	io_pause_read(&s->io, false);
	if (tls_attach_server(&s->io) != 0) {
		log_warn("STARTTLS from %s: no TLS session free, dropped",
		    s->peer_str);
		smtp_in_free(s, false);
		return;
	}
	s->tls = true;
	/* RFC 3207 4.2: forget everything; a new EHLO is required */
	s->helo[0] = '\0';
	s->esmtp = false;
	smtp_in_enter(s, SMTP_IN_HELO);
}

/* The reply for a finished AUTH exchange (after any delay). */
static void
smtp_in_auth_done(struct smtp_in_session *s, int r)
{
	switch (r) {
	case AUTH_R_OK:
		snprintf(s->auth_user, sizeof(s->auth_user), "%s",
		    s->auth.user);
		auth_succeeded(&s->peer);
		log_info("%s: AUTH as %s", s->peer_str, s->auth_user);
		smtp_in_reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTH_R_ABORT:
		smtp_in_reply(s, "501 5.0.0 Authentication aborted");
		break;
	case AUTH_R_MECH:
		smtp_in_reply(s, "504 5.5.4 Unrecognized authentication "
		    "type");
		smtp_in_error(s);
		break;
	case AUTH_R_SYNTAX:
		smtp_in_reply(s, "501 5.5.2 Cannot decode response");
		smtp_in_error(s);
		break;
	default:
		if (auth_blocked(&s->peer)) {
			smtp_in_close(s, "421 4.7.0 Too many failed "
			    "authentications, try again later");
		} else {
			smtp_in_reply(s, "535 5.7.8 Authentication "
			    "credentials invalid");
		}
		break;
	}
	memset(&s->auth, 0, sizeof(s->auth));
	smtp_in_enter(s, SMTP_IN_READY);
}

static void
smtp_in_on_auth_timer(void *arg)
{
	struct smtp_in_session *s = arg;

	s->auth_wait = false;
	smtp_in_auth_done(s, s->auth_res);
	io_pause_read(&s->io, false);
	if (s->closing) {
		smtp_in_free(s, true);
		return;
	}
	io_flush(&s->io);
}

/* An AUTH result: failures are counted and answered after a delay. */
static void
smtp_in_auth_result(struct smtp_in_session *s, int r, const char *reply)
{
	unsigned n;

	if (r == AUTH_R_CONTINUE) {
		smtp_in_enter(s, SMTP_IN_AUTH);
		smtp_in_reply(s, "%s", reply);
		return;
	}
	if (r != AUTH_R_FAIL) {
		smtp_in_auth_done(s, r);
		return;
	}
	n = auth_failed(&s->peer);
	log_warn("%s: AUTH failed for user \"%s\" (failure %u of %u)",
	    s->peer_str, s->auth.user, n, (unsigned)CONFIG_AUTH_MAX_FAILS);
	s->auth_wait = true;
	s->auth_res = (uint8_t)r;
	io_pause_read(&s->io, true);
	ev_timer_start(&s->auth_timer, auth_delay_ms(n),
	    smtp_in_on_auth_timer, s);
}

static bool
smtp_in_auth_cmd(struct smtp_in_session *s, const char *arg)
{
	char reply[64] = "";

	if (!smtp_in_offer_auth(s) && s->auth_user[0] == '\0') {
		if (s->mode != LISTEN_LOCAL && !s->tls && auth_available()) {
			smtp_in_reply(s, "538 5.7.11 Encryption required "
			    "for requested authentication mechanism");
		} else {
			smtp_in_reply(s, "502 5.5.1 Error: authentication "
			    "not enabled");
		}
		smtp_in_error(s);
		return false;
	}
	if (s->auth_user[0] != '\0') {
		smtp_in_reply(s, "503 5.5.1 Error: already authenticated");
		smtp_in_error(s);
		return false;
	}
	if (auth_blocked(&s->peer)) {
		log_warn("%s: AUTH refused: too many failures",
		    s->peer_str);
		smtp_in_close(s, "421 4.7.0 Too many failed "
		    "authentications, try again later");
		return false;
	}
	smtp_in_auth_result(s, auth_start(&s->auth, arg, reply,
	    sizeof(reply)), reply);
	return s->auth_user[0] != '\0';
}

void
smtp_in_auth_line(struct smtp_in_session *s, char *line)
{
	char reply[64] = "";

	smtp_in_auth_result(s, auth_step(&s->auth, line, reply,
	    sizeof(reply)), reply);
}

static const struct smtp_in_cmd smtp_in_cmds[SMTP_CMD_COUNT] = {
	[SMTP_CMD_HELO] = { ST_CMD, NULL, smtp_in_helo_cmd },
	[SMTP_CMD_EHLO] = { ST_CMD, NULL, smtp_in_ehlo_cmd },
	[SMTP_CMD_MAIL] = { ST(SMTP_IN_READY),
	    "503 5.5.1 Error: send HELO/EHLO first", smtp_in_mail },
	[SMTP_CMD_RCPT] = { ST(SMTP_IN_MAIL) | ST(SMTP_IN_RCPT),
	    "503 5.5.1 Error: need MAIL command", smtp_in_rcpt },
	[SMTP_CMD_DATA] = { ST(SMTP_IN_MAIL) | ST(SMTP_IN_RCPT),
	    "503 5.5.1 Error: need RCPT command", smtp_in_data_cmd },
	[SMTP_CMD_RSET] = { ST_CMD, NULL, smtp_in_rset },
	[SMTP_CMD_NOOP] = { ST_CMD, NULL, smtp_in_noop },
	[SMTP_CMD_QUIT] = { ST_CMD, NULL, smtp_in_quit },
	[SMTP_CMD_VRFY] = { ST_CMD, NULL, smtp_in_vrfy },
	[SMTP_CMD_HELP] = { ST_CMD, NULL, smtp_in_help },
	[SMTP_CMD_XQUEUE] = { ST_CMD, NULL, smtp_in_xqueue },
	[SMTP_CMD_STARTTLS] = { ST(SMTP_IN_READY),
	    "503 5.5.1 Error: send EHLO first, outside a transaction",
	    smtp_in_starttls },
	[SMTP_CMD_AUTH] = { ST(SMTP_IN_READY),
	    "503 5.5.1 Error: send EHLO first, outside a transaction",
	    smtp_in_auth_cmd },
};

void
smtp_in_command(struct smtp_in_session *s, char *line)
{
	const struct smtp_in_cmd *c;
	const char *arg;
	int verb = smtp_cmd_parse(line, &arg);

	if (verb == SMTP_CMD_XQUEUE && !(s->mode == LISTEN_LOCAL &&
	    s->admin)) {
		verb = SMTP_CMD_UNKNOWN;
	}
	if (s->cmd_total[verb] < UINT16_MAX) {
		s->cmd_total[verb]++;
	}
	c = &smtp_in_cmds[verb];
	if (c->act == NULL) {
		smtp_in_reply(s, "500 5.5.2 Error: command not recognized");
		smtp_in_error(s);
		return;
	}
	if (!(c->states & ST(s->state))) {
		if (verb == SMTP_CMD_MAIL && s->state != SMTP_IN_HELO) {
			smtp_in_reply(s, "503 5.5.1 Error: nested MAIL "
			    "command");
		} else {
			smtp_in_reply(s, "%s", c->seq != NULL ? c->seq :
			    "503 5.5.1 Error: bad sequence of commands");
		}
		smtp_in_error(s);
		return;
	}
	if ((verb == SMTP_CMD_RSET || verb == SMTP_CMD_QUIT) &&
	    arg[0] != '\0') {
		smtp_in_reply(s, "501 5.5.4 Syntax: %s", smtp_cmd_name(verb));
		smtp_in_error(s);
		return;
	}
	if (c->act(s, arg) && s->cmd_ok[verb] < UINT16_MAX) {
		s->cmd_ok[verb]++;
	}
}
