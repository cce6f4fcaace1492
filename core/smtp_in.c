/*
 * smtp_in.c - SMTP server: listeners, the session pool, input framing
 * and session life (see smtp_in.h). Commands live in smtp_in_cmd.c.
 *
 * Input: every complete command in the receive buffer is run in order
 * (PIPELINING, RFC 2920), replies pile up in the send buffer, which is
 * flushed once per read batch. Processing pauses when fewer than
 * SMTP_IN_REPLY_MAX bytes of send buffer are free and resumes on
 * IO_EV_DRAINED. In DATA the bytes go through the decoder to the queue
 * as they arrive. After the end of data the session waits for the group
 * commit with reading paused (SMTP_IN_COMMIT), so a pipelined command
 * never runs before the 250 for the message is sent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "smtp_in.h"
#include "smtp_in_int.h"
#include "ev.h"
#include "log.h"
#include "platform.h"
#include "tls.h"

struct smtp_in_listener {
	int fd;
	uint8_t mode;		/* enum listen_mode */
};

const struct conf *smtp_in_conf;
char smtp_in_host[CONF_STR_MAX];

static struct smtp_in_listener smtp_in_listeners[CONFIG_MAX_LISTENERS + 1];
static unsigned smtp_in_nlisteners;
static struct smtp_in_session smtp_in_sessions[CONFIG_MAX_SESSIONS];
/*
 * Slots below this mark have been used; the ones above are free and have
 * never been touched. Loops stop at the mark, so a slot's pages become
 * resident only when a session first needs it (some kernels allocate a
 * page even when untouched memory is only read).
 */
static unsigned smtp_in_nslots;
unsigned smtp_in_tls_promised;	/* sessions told "220" to STARTTLS, not
				 * attached to a TLS slot yet */

static void smtp_in_on_io(void *arg, int event);
static void smtp_in_on_deadline(void *arg);

/* ---- replies and session end ---- */

void
smtp_in_reply(struct smtp_in_session *s, const char *fmt, ...)
{
	char buf[SMTP_IN_REPLY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return;
	}
	if ((size_t)n > sizeof(buf) - 3) {
		n = (int)(sizeof(buf) - 3);
	}
	buf[n++] = '\r';
	buf[n++] = '\n';
	if (io_write(&s->io, buf, (size_t)n) != 0) {
		/* cannot happen while the REPLY_MAX rule holds: a client
		 * that never reads its replies is dropped */
		log_warn("%s: send buffer full, dropping session",
		    s->peer_str);
		s->closing = true;
	}
}

bool
smtp_in_error(struct smtp_in_session *s)
{
	if (++s->nerr < SMTP_IN_MAX_ERRORS) {
		return false;
	}
	smtp_in_close(s, NULL);
	return true;
}

/* Postfix-shaped "disconnect from unknown[1.2.3.4] ehlo=1 mail=1 ...". */
static void
smtp_in_log_disconnect(struct smtp_in_session *s)
{
	char buf[LOG_LINE_MAX];
	size_t o = 0;
	unsigned ok = 0, total = 0;
	int v;

	for (v = 1; v <= SMTP_CMD_COUNT && o < sizeof(buf); v++) {
		int i = v == SMTP_CMD_COUNT ? SMTP_CMD_UNKNOWN : v;
		const char *name = smtp_cmd_name(i);
		char low[16];
		size_t k;
		int n;

		if (s->cmd_total[i] == 0) {
			continue;
		}
		for (k = 0; name[k] != '\0' && k < sizeof(low) - 1; k++) {
			low[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ?
			    name[k] - 'A' + 'a' : name[k]);
		}
		low[k] = '\0';
		if (s->cmd_ok[i] == s->cmd_total[i]) {
			n = snprintf(buf + o, sizeof(buf) - o, " %s=%u", low,
			    s->cmd_ok[i]);
		} else {
			n = snprintf(buf + o, sizeof(buf) - o, " %s=%u/%u",
			    low, s->cmd_ok[i], s->cmd_total[i]);
		}
		if (n < 0) {
			break;
		}
		o += (size_t)n;
		ok += s->cmd_ok[i];
		total += s->cmd_total[i];
	}
	buf[MIN(o, sizeof(buf) - 1)] = '\0';
	if (ok == total) {
		log_info("disconnect from %s%s commands=%u",
		    s->peer_str, buf, total);
	} else {
		log_info("disconnect from %s%s commands=%u/%u",
		    s->peer_str, buf, ok, total);
	}
}

#if CONFIG_DNS
static void
smtp_in_on_ptr(void *arg, struct dnsq_req *r)
{
	(void)arg;
	(void)r;	/* the result stays in the request until DATA */
}
#endif

const char *
smtp_in_ptr_name(struct smtp_in_session *s)
{
#if CONFIG_DNS
	if (dnsq_busy(&s->ptr)) {
		/* too late: "unknown" for this session (bounded wait) */
		dnsq_cancel(&s->ptr);
		s->ptr.status = DNSQ_TEMP;
		s->ptr.name[0] = '\0';
		return NULL;
	}
	if (s->ptr.status == DNSQ_OK && s->ptr.name[0] != '\0') {
		return s->ptr.name;
	}
#else
	(void)s;
#endif
	return NULL;
}

void
smtp_in_free(struct smtp_in_session *s, bool drain)
{
	if (s->w_open) {
		/* unsealed: dropped; sealed and waiting: stays queued,
		 * only the callback is cancelled */
		queue_msg_abort(&s->w);
		s->w_open = false;
	}
	ev_timer_stop(&s->auth_timer);
	ev_timer_stop(&s->dl_timer);
	s->dl_when = 0;
	s->greet_wait = false;
	memset(&s->auth, 0, sizeof(s->auth));
#if CONFIG_DNS
	dnsq_cancel(&s->ptr);	/* no callback on a free slot */
#endif
	smtp_in_log_disconnect(s);
	if (s->tls_pending) {
		s->tls_pending = false;
		smtp_in_tls_promised--;
	}
	if (drain) {
		io_close_after_drain(&s->io);
	} else {
		io_close(&s->io);
	}
	s->state = SMTP_IN_FREE;
}

void
smtp_in_close(struct smtp_in_session *s, const char *line)
{
	if (line != NULL) {
		smtp_in_reply(s, "%s", line);
	} else {
		smtp_in_reply(s, "421 4.7.0 %s Error: too many errors",
		    smtp_in_host);
	}
	s->closing = true;
}

void
smtp_in_enter(struct smtp_in_session *s, int state)
{
	int old = s->state;

	if (state == SMTP_IN_READY || state == SMTP_IN_HELO) {
		/* a new transaction starts from nothing */
		if (s->w_open) {
			queue_msg_abort(&s->w);
			s->w_open = false;
		}
		s->env_len = 0;
		s->nrcpt = 0;
		s->nrcpt_tried = 0;
		s->size_hint = 0;
		s->utf8 = false;
		s->q_err = 0;
		s->msg_size = 0;
		s->storm_key = 0;
	}
	if (state == SMTP_IN_DATA) {
		smtp_data_init(&s->dec, smtp_in_conf->message_size_limit);
		hops_init(&s->hops);
	}
	s->state = (uint8_t)state;
	if (state == SMTP_IN_COMMIT) {
		io_pause_read(&s->io, true);
	} else if (old == SMTP_IN_COMMIT) {
		/* the io redelivers IO_EV_READ for pipelined input */
		io_pause_read(&s->io, false);
	}
	if (state == SMTP_IN_COMMIT ||
	    (state == SMTP_IN_DATA && smtp_in_conf->smtpd_min_data_rate == 0)) {
		ev_timer_stop(&s->dl_timer);	/* idle timeout only */
		s->dl_when = 0;
	} else if (state == SMTP_IN_DATA || old == SMTP_IN_COMMIT ||
	    old == SMTP_IN_DATA) {
		smtp_in_deadline_reset(s);
	}
}

/* ---- request deadlines (slowloris) ---- */

/*
 * A trickle of bytes resets the idle timeout (smtpd_timeout) forever, so
 * a command line must also be complete within smtpd_command_deadline,
 * and DATA must keep smtpd_min_data_rate: it starts with a credit of
 * smtpd_command_deadline, each byte adds 1/rate s, never beyond that
 * credit (Postfix's smtpd_per_request_deadline and smtpd_min_data_rate).
 * dl_when only moves later, so the timer is moved on when it fires
 * rather than on every command or chunk.
 */
void
smtp_in_deadline_reset(struct smtp_in_session *s)
{
	uint32_t t = smtp_in_conf->smtpd_command_deadline;

	if (s->greet_wait) {
		return;		/* the timer ends the greeting pause */
	}
	if (t == 0 || s->mode == LISTEN_LOCAL) {
		/* local: sendmail streams a slow pipe; it is trusted */
		ev_timer_stop(&s->dl_timer);
		s->dl_when = 0;
		return;
	}
	s->dl_when = ev_now() + (uint64_t)t * 1000u;
	if (!s->dl_timer.armed) {
		ev_timer_start(&s->dl_timer, t * 1000u, smtp_in_on_deadline,
		    s);
	}
}

/* n octets of DATA arrived: their time credit (rounded up). */
static void
smtp_in_deadline_data(struct smtp_in_session *s, size_t n)
{
	uint32_t rate = smtp_in_conf->smtpd_min_data_rate;
	uint64_t cap;

	if (s->dl_when == 0 || rate == 0 || n == 0) {
		return;
	}
	cap = ev_now() + (uint64_t)smtp_in_conf->smtpd_command_deadline *
	    1000u;
	s->dl_when += ((uint64_t)n * 1000u + rate - 1) / rate;
	if (s->dl_when > cap) {
		s->dl_when = cap;
	}
}

/* ---- input ---- */

/* Run one command or skip a bad line. false: stop processing. */
static bool
smtp_in_line(struct smtp_in_session *s, const uint8_t *data, size_t len)
{
	char line[SMTP_CMD_LINE_MAX];
	size_t linelen, used;

	if (s->discarding) {
		bool end = smtp_cmd_discard(data, len, &used);

		io_rconsume(&s->io, used);
		if (!end) {
			return false;
		}
		s->discarding = false;
		smtp_in_reply(s, "500 5.5.2 Error: line too long (limit "
		    "512 octets)");
		smtp_in_error(s);
		return true;
	}
	switch (smtp_cmd_frame(data, len, &linelen, &used)) {
	case SMTP_CMD_F_PARTIAL:
		return false;
	case SMTP_CMD_F_OVERFLOW:
		io_rconsume(&s->io, used);
		s->discarding = true;
		return true;
	case SMTP_CMD_F_TOOLONG:
		io_rconsume(&s->io, used);
		smtp_in_reply(s, "500 5.5.2 Error: line too long (limit "
		    "512 octets)");
		smtp_in_error(s);
		return true;
	case SMTP_CMD_F_BAD:
		io_rconsume(&s->io, used);
		smtp_in_reply(s, "500 5.5.2 Error: bare CR, bare LF or NUL "
		    "in command; lines must end with CRLF");
		smtp_in_error(s);
		return true;
	default:
		break;
	}
	memcpy(line, data, linelen);
	line[linelen] = '\0';
	io_rconsume(&s->io, used);
	if (s->state == SMTP_IN_AUTH) {
		smtp_in_auth_line(s, line);
	} else {
		smtp_in_command(s, line);
	}
	memset(line, 0, linelen);	/* may have held a password */
	return true;
}

/* Message bytes into the queue, unless the message is already lost. */
static void
smtp_in_put(struct smtp_in_session *s, const void *p, size_t len)
{
	if (len > 0 && s->dec.err == SMTP_DATA_OK && s->q_err == 0) {
		int r = queue_msg_write(&s->w, p, len);

		if (r < 0) {
			/* the writer is dead: decode on to the end */
			s->q_err = r;
		} else {
			s->msg_size += len;
		}
	}
}

/*
 * At the end of the header section: a repeat within
 * alert_collapse_window gets a field saying what it stands for (it is
 * held, and sent only if it stays the last: storm.h).
 */
static void
smtp_in_storm_field(struct smtp_in_session *s)
{
	uint32_t win = smtp_in_conf->alert_collapse_window, first_id = 0, n;
	int64_t first_time = 0;
	char buf[200], date[64], id[QUEUE_ID_STRLEN];
	int len;

	if (win == 0 || STORM_SLOTS == 0) {
		return;
	}
	s->storm_key = storm_key(s->env, s->nrcpt, s->hops.subj_hash);
	n = storm_peek(win, s->storm_key, plat_time(), &first_id,
	    &first_time);
	if (n == 0) {
		return;
	}
	plat_rfc5322_date(first_time, date, sizeof(date));
	len = snprintf(buf, sizeof(buf), "X-Edgemta-Collapsed: %lu "
	    "identical messages since %s\r\n\t(the first sent as %s, %lu "
	    "not sent, this is the last)\r\n", (unsigned long)n + 1, date,
	    queue_id_str(first_id, id), (unsigned long)n - 1);
	if (len > 0 && (size_t)len < sizeof(buf)) {
		smtp_in_put(s, buf, (size_t)len);
	}
}

/* Stream message bytes through the decoder into the queue. */
static void
smtp_in_data(struct smtp_in_session *s, const uint8_t *data, size_t len)
{
	uint8_t out[512];
	size_t n = MIN(len, sizeof(out)), olen, used, eoh;

	used = smtp_data_feed(&s->dec, data, n, out, &olen);
	eoh = hops_feed(&s->hops, out, olen);
	if (eoh < olen) {
		smtp_in_put(s, out, eoh);
		smtp_in_storm_field(s);
		smtp_in_put(s, out + eoh, olen - eoh);
	} else {
		smtp_in_put(s, out, olen);
	}
	io_rconsume(&s->io, used);
	smtp_in_deadline_data(s, used);
	if (s->dec.done) {
		smtp_in_data_end(s);
	}
}

/*
 * Early talker: a client must wait for the greeting (RFC 5321 3.1).
 * Spammware that does not shows itself with data sent before it.
 */
static void
smtp_in_early_talker(struct smtp_in_session *s)
{
	log_info("early talker from %s, dropped", s->peer_str);
	smtp_in_reply(s, "554 5.5.1 Protocol error: talking before the "
	    "greeting");
	io_rdiscard(&s->io);
	smtp_in_free(s, true);
}

static void
smtp_in_input(struct smtp_in_session *s)
{
	unsigned guard;

	if (s->greet_wait) {
		size_t len;

		(void)io_rpeek(&s->io, &len);
		if (len > 0) {
			smtp_in_early_talker(s);
		}
		return;
	}
	for (guard = 0; guard < 100000 && !s->closing; guard++) {
		const uint8_t *data;
		size_t len;

		if (s->state == SMTP_IN_COMMIT || s->tls_pending ||
		    s->auth_wait) {
			break;
		}
		if (io_wroom(&s->io) < SMTP_IN_REPLY_MAX) {
			break;		/* resumes on IO_EV_DRAINED */
		}
		data = io_rpeek(&s->io, &len);
		if (len == 0) {
			break;
		}
		if (s->state == SMTP_IN_DATA) {
			smtp_in_data(s, data, len);
		} else if (!smtp_in_line(s, data, len)) {
			break;
		} else if (s->state != SMTP_IN_DATA &&
		    s->state != SMTP_IN_COMMIT) {
			smtp_in_deadline_reset(s);	/* a line is complete */
		}
	}
	if (s->closing) {
		smtp_in_free(s, true);
		return;
	}
	io_flush(&s->io);
}

static void
smtp_in_on_io(void *arg, int event)
{
	struct smtp_in_session *s = arg;

	switch (event) {
	case IO_EV_DRAINED:
		if (s->tls_pending) {
			smtp_in_starttls_go(s);
			break;
		}
		smtp_in_input(s);
		break;
	case IO_EV_READ:
		smtp_in_input(s);
		break;
	case IO_EV_TIMEOUT:
		smtp_in_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    smtp_in_host);
		log_info("timeout after %s from %s",
		    s->state == SMTP_IN_DATA ? "DATA" : "command",
		    s->peer_str);
		smtp_in_free(s, true);
		break;
	default:
		if (s->tls && tls_error(&s->io)[0] != '\0') {
			log_info("TLS with %s failed: %s", s->peer_str,
			    tls_error(&s->io));
		}
		if (s->state == SMTP_IN_DATA || s->state == SMTP_IN_COMMIT) {
			log_info("lost connection after DATA from %s",
			    s->peer_str);
		}
		smtp_in_free(s, false);
		break;
	}
}

/* The greeting, after the pause if any: input already there is early. */
static void
smtp_in_greet(struct smtp_in_session *s)
{
	size_t len;

	s->greet_wait = false;
	(void)io_rpeek(&s->io, &len);
	if (len > 0) {
		smtp_in_early_talker(s);
		return;
	}
	io_set_timeout(&s->io, smtp_in_conf->smtpd_timeout * 1000u);
	smtp_in_reply(s, "220 %s ESMTP edgemta", smtp_in_host);
	io_flush(&s->io);
	smtp_in_deadline_reset(s);
}

static void
smtp_in_on_deadline(void *arg)
{
	struct smtp_in_session *s = arg;
	uint64_t now = ev_now();

	if (s->greet_wait) {
		smtp_in_greet(s);
		return;
	}
	if (s->dl_when == 0) {
		return;
	}
	if (s->dl_when > now) {
		ev_timer_start(&s->dl_timer, (uint32_t)MIN(s->dl_when - now,
		    UINT32_MAX), smtp_in_on_deadline, s);
		return;
	}
	if (s->state == SMTP_IN_COMMIT || s->auth_wait || s->tls_pending) {
		smtp_in_deadline_reset(s);	/* we are the slow one */
		return;
	}
	smtp_in_reply(s, "421 4.4.2 %s Error: timeout exceeded",
	    smtp_in_host);
	log_info("deadline exceeded after %s from %s",
	    s->state == SMTP_IN_DATA ? "DATA" : "command", s->peer_str);
	smtp_in_free(s, true);
}

/* ---- accepting ---- */

/* Best effort one-line answer on a socket we will not serve. */
static void
smtp_in_refuse(int fd, const char *line)
{
	char buf[SMTP_IN_REPLY_MAX];
	int n = snprintf(buf, sizeof(buf), "%s\r\n", line);

	if (n > 0) {
		(void)plat_write(fd, buf, MIN((size_t)n, sizeof(buf) - 1));
	}
	plat_close(fd);
}

static bool
smtp_in_same_peer(const struct net_addr *a, const struct net_addr *b)
{
	return a->family == b->family && a->family != NET_LOCAL &&
	    memcmp(a->ip, b->ip, sizeof(a->ip)) == 0;
}

/* Same IPv4 /24 (also as ::ffff:a.b.c.d) or IPv6 /64. */
static bool
smtp_in_same_net(const struct net_addr *a, const struct net_addr *b)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };
	size_t n = a->family == NET_INET4 ? 3 :
	    memcmp(a->ip, v4mapped, 12) == 0 ? 15 : 8;

	return a->family == b->family && a->family != NET_LOCAL &&
	    memcmp(a->ip, b->ip, n) == 0;
}

/*
 * A session that may give its slot to a newcomer when all are taken:
 * it has not completed HELO/EHLO (nor started TLS) within a second
 * after its greeting. A slowloris dripping "EHLO" holds no slot then.
 */
static bool
smtp_in_evictable(const struct smtp_in_session *t, uint64_t now)
{
	uint64_t age = 1000u + (uint64_t)smtp_in_conf->smtpd_greet_wait *
	    1000u;

	return t->state == SMTP_IN_HELO && t->mode != LISTEN_LOCAL &&
	    !t->tls && !t->closing && now - t->t_connect >= age;
}

static void
smtp_in_new(struct smtp_in_listener *l, int fd, const struct net_addr *peer)
{
	struct smtp_in_session *s = NULL, *victim = NULL;
	char ip[NET_ADDR_STRLEN], line[SMTP_IN_REPLY_MAX];
	unsigned i, same = 0, net = 0, used = 0;
	uint64_t now = ev_now();
	uint8_t c;

	net_addr_str(peer, ip, sizeof(ip));
	for (i = 0; i < smtp_in_nslots; i++) {
		struct smtp_in_session *t = &smtp_in_sessions[i];

		if (t->state == SMTP_IN_FREE) {
			if (s == NULL) {
				s = t;
			}
			continue;
		}
		used++;
		same += smtp_in_same_peer(&t->peer, peer);
		net += smtp_in_same_net(&t->peer, peer);
		if (smtp_in_evictable(t, now) && (victim == NULL ||
		    t->t_connect < victim->t_connect)) {
			victim = t;
		}
	}
	if (s == NULL && smtp_in_nslots < ARRAY_SIZE(smtp_in_sessions)) {
		s = &smtp_in_sessions[smtp_in_nslots];
	}
	/*
	 * Early talker: a client must wait for the greeting (RFC 5321
	 * 3.1); data already here was sent before it. Local submitters
	 * are trusted and not checked.
	 */
	if (l->mode != LISTEN_LOCAL && l->mode != LISTEN_SMTPS &&
	    plat_read(fd, &c, 1) > 0) {
		log_info("early talker from unknown[%s], dropped", ip);
		smtp_in_refuse(fd, "554 5.5.1 Protocol error: talking before "
		    "the greeting");
		return;
	}
	if (s != NULL) {
		victim = NULL;
	} else if (victim != NULL) {
		/* counted as gone; evicted below once the newcomer passes */
		same -= smtp_in_same_peer(&victim->peer, peer);
		net -= smtp_in_same_net(&victim->peer, peer);
		used--;
	}
	if (s == NULL && victim == NULL) {
		log_warn("too many sessions, refusing %s", ip);
		snprintf(line, sizeof(line), "421 4.7.0 %s Too many "
		    "connections, try again later", smtp_in_host);
		smtp_in_refuse(fd, line);
		return;
	}
	if (same >= CONFIG_MAX_SESSIONS_PER_CLIENT) {
		log_warn("too many sessions from %s, refusing", ip);
		snprintf(line, sizeof(line), "421 4.7.0 %s Too many "
		    "connections from your address", smtp_in_host);
		smtp_in_refuse(fd, line);
		return;
	}
	/*
	 * The last CONFIG_SESSIONS_RESERVED slots: not for a network that
	 * already holds a quarter of the sessions in use (one /24 cannot
	 * take them all); the local socket always gets in.
	 */
	if (CONFIG_SESSIONS_RESERVED > 0 && l->mode != LISTEN_LOCAL &&
	    CONFIG_MAX_SESSIONS - used <= CONFIG_SESSIONS_RESERVED &&
	    net > 0 && net * 4 >= used) {
		log_warn("only %u sessions free and %u of %u are from the "
		    "network of %s, refusing it", CONFIG_MAX_SESSIONS - used,
		    net, used, ip);
		snprintf(line, sizeof(line), "421 4.7.0 %s Too many "
		    "connections from your network, try again later",
		    smtp_in_host);
		smtp_in_refuse(fd, line);
		return;
	}
	if (victim != NULL) {
		log_info("all %u sessions in use: closing %s (no EHLO after "
		    "%us) for %s", used + 1, victim->peer_str,
		    (unsigned)((now - victim->t_connect) / 1000u), ip);
		smtp_in_reply(victim, "421 4.7.0 %s Error: too many "
		    "connections, closing those without EHLO", smtp_in_host);
		smtp_in_free(victim, true);
		s = victim;
	}
	if (s == &smtp_in_sessions[smtp_in_nslots]) {
		smtp_in_nslots++;
	}
	memset(s, 0, offsetof(struct smtp_in_session, io));
	s->mode = l->mode;
	s->peer = *peer;
	s->t_connect = now;
	memcpy(s->peer_ip, ip, sizeof(s->peer_ip));
	if (l->mode == LISTEN_LOCAL) {
		snprintf(s->peer_str, sizeof(s->peer_str), "local");
	} else {
		snprintf(s->peer_str, sizeof(s->peer_str), "unknown[%s]",
		    s->peer_ip);
	}
	s->relay_ok = l->mode == LISTEN_LOCAL ||
	    conf_in_mynetworks(smtp_in_conf, peer);
	s->admin = l->mode == LISTEN_LOCAL && plat_peer_is_admin(fd);
	if (io_open(&s->io, fd, false, smtp_in_on_io, s) != 0) {
		plat_close(fd);
		return;
	}
	if (l->mode == LISTEN_SMTPS) {
		/* RFC 8314: TLS first; the greeting goes inside it */
		if (!tls_server_slot_free(smtp_in_tls_promised) ||
		    tls_attach_server(&s->io) != 0) {
			log_warn("no TLS session free for %s, dropped", ip);
			io_close(&s->io);
			return;
		}
		s->tls = true;
	}
	s->state = SMTP_IN_HELO;
	log_info("connect from %s%s", s->peer_str, s->tls ? " (smtps)" :
	    "");
	/* never wait for DNS before the greeting: the PTR runs meanwhile */
#if CONFIG_DNS
	if (l->mode != LISTEN_LOCAL) {
		(void)dnsq_start(&s->ptr, DNSQ_PTR, NULL, &s->peer, 0, NULL,
		    smtp_in_on_ptr, s);
	}
#endif
	if (smtp_in_conf->smtpd_greet_wait > 0 && l->mode != LISTEN_LOCAL &&
	    l->mode != LISTEN_SMTPS) {
		/* postscreen's greet wait: talking meanwhile is early */
		s->greet_wait = true;
		ev_timer_start(&s->dl_timer, smtp_in_conf->smtpd_greet_wait *
		    1000u, smtp_in_on_deadline, s);
		return;
	}
	smtp_in_greet(s);
}

static void
smtp_in_on_accept(void *arg, unsigned events)
{
	struct smtp_in_listener *l = arg;
	unsigned i;

	(void)events;
	for (i = 0; i < 4096; i++) {
		struct net_addr peer;
		int fd;

		memset(&peer, 0, sizeof(peer));
		fd = plat_accept(l->fd, &peer);
		if (fd == EDGEMTA_E_AGAIN) {
			break;
		}
		if (fd < 0) {
			log_warn("accept: %s", edgemta_strerror(fd));
			break;
		}
		smtp_in_new(l, fd, &peer);
	}
}

/* ---- start and stop ---- */

static int
smtp_in_listen(int fd, uint8_t mode, const char *what)
{
	struct smtp_in_listener *l;

	if (fd < 0) {
		log_err("cannot listen on %s: %s", what,
		    edgemta_strerror(fd));
		return fd;
	}
	l = &smtp_in_listeners[smtp_in_nlisteners++];
	l->fd = fd;
	l->mode = mode;
	if (ev_watch(fd, EV_READ, smtp_in_on_accept, l) < 0) {
		log_err("cannot watch listener %s", what);
		return EDGEMTA_E_IO;
	}
	log_info("listening on %s", what);
	return 0;
}

int
smtp_in_start(const struct conf *c, const char *hostname)
{
	unsigned i;
	int r;

	smtp_in_conf = c;
	snprintf(smtp_in_host, sizeof(smtp_in_host), "%s", hostname);
	smtp_in_nlisteners = 0;
	for (i = 0; i < c->nlisten && i < CONFIG_MAX_LISTENERS; i++) {
		const struct conf_listen *cl = &c->listen[i];
		char ip[NET_ADDR_STRLEN], what[NET_ADDR_STRLEN + 8];

		net_addr_str(&cl->addr, ip, sizeof(ip));
		snprintf(what, sizeof(what), cl->addr.family == NET_INET6 ?
		    "[%s]:%u" : "%s:%u", ip, (unsigned)cl->addr.port);
		r = smtp_in_listen(plat_listen_tcp(&cl->addr), cl->mode, what);
		if (r < 0) {
			goto fail;
		}
		if ((cl->mode == LISTEN_SUBMISSION ||
		    cl->mode == LISTEN_SMTPS) && !tls_server_ready()) {
			log_err("%s: submission and smtps need a TLS "
			    "certificate (smtpd_tls_cert_file)", what);
			r = EDGEMTA_E_INVAL;
			goto fail;
		}
		if ((cl->mode == LISTEN_SUBMISSION ||
		    cl->mode == LISTEN_SMTPS) && !auth_available()) {
			log_warn("%s: no smtpd_users_file: AUTH is not "
			    "offered, so nobody can submit here", what);
		}
	}
	if (c->local_socket[0] != '\0') {
		r = smtp_in_listen(plat_listen_local(c->local_socket),
		    LISTEN_LOCAL, c->local_socket);
		if (r < 0) {
			goto fail;
		}
	}
	return 0;
fail:
	smtp_in_stop();
	return r;
}

void
smtp_in_stop(void)
{
	unsigned i;

	for (i = 0; i < smtp_in_nlisteners; i++) {
		if (smtp_in_listeners[i].fd >= 0) {
			ev_unwatch(smtp_in_listeners[i].fd);
			plat_close(smtp_in_listeners[i].fd);
			smtp_in_listeners[i].fd = -1;
		}
	}
	smtp_in_nlisteners = 0;
	for (i = 0; i < smtp_in_nslots; i++) {
		struct smtp_in_session *s = &smtp_in_sessions[i];

		if (s->state == SMTP_IN_FREE) {
			continue;
		}
		smtp_in_reply(s, "421 4.3.2 %s Service shutting down",
		    smtp_in_host);
		smtp_in_free(s, true);
	}
}

unsigned
smtp_in_active(void)
{
	unsigned i, n = 0;

	for (i = 0; i < smtp_in_nslots; i++) {
		n += smtp_in_sessions[i].state != SMTP_IN_FREE;
	}
	return n;
}
