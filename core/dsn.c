/*
 * dsn.c - bounces as RFC 3464 delivery status notifications inside an
 * RFC 6522 multipart/report; see dsn.h.
 *
 * The report is produced in one go (the queue write path does not block)
 * into a queue writer from a small pool: a sealed writer stays on the
 * queue's sync list until the next group commit, so it cannot be reused
 * before its done callback ran.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dsn.h"
#include "log.h"
#include "platform.h"
#include "queue.h"
#include "sched.h"

#define DSN_WRITERS 4
#define DSN_HDR_MAX 16384	/* original headers copied at most */
#define DSN_RATE_WINDOW_MS 3600000u

struct dsn_slot {
	struct queue_writer w;
	bool busy;
};

static struct dsn_slot dsn_slots[DSN_WRITERS];
static uint64_t dsn_window_start;
static uint32_t dsn_window_count;
static bool dsn_window_init;

/* ---- formatting ---- */

struct dsn_fmt {
	dsn_out_fn out;
	void *arg;
	int err;
};

static void
dsn_put(struct dsn_fmt *f, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void
dsn_put(struct dsn_fmt *f, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (f->err != 0) {
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0) {
		f->err = EDGEMTA_E_INVAL;
		return;
	}
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
	}
	f->err = f->out(f->arg, line, (size_t)n);
}

/* Printable one-line copy of s (header-safe) into buf. */
static const char *
dsn_clean(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = (char)(c < 0x20 || c >= 0x7f ? ' ' : c);
	}
	buf[i] = '\0';
	return buf;
}

int
dsn_format(const struct dsn_report *r, dsn_out_fn out, void *oarg,
    int (*headers)(void *harg, dsn_out_fn out, void *oarg), void *harg)
{
	struct dsn_fmt f = { out, oarg, 0 };
	char date[64], arr[64], bnd[128], id[QUEUE_ID_STRLEN];
	char a[ADDR_MAX], d[300], hb[CONF_STR_MAX], mb[CONF_STR_MAX], st[16];
	char now[U64_STRLEN];
	const char *host = dsn_clean(r->hostname, hb, sizeof(hb));
	const char *mta = r->remote_mta != NULL ? dsn_clean(r->remote_mta, mb,
	    sizeof(mb)) : NULL;
	unsigned i;
	size_t k;

	plat_rfc5322_date(r->now, date, sizeof(date));
	plat_rfc5322_date(r->arrival, arr, sizeof(arr));
	queue_id_str(r->orig_id, id);
	i64_str(now, r->now);
	snprintf(bnd, sizeof(bnd), "%s.%s/%s", id, now, host);
	/* a boundary of RFC 2046 bchars only (a name could hold a '"') */
	for (k = 0; bnd[k] != '\0'; k++) {
		if (strchr("'()+_,-./:=?", bnd[k]) == NULL &&
		    !((bnd[k] >= '0' && bnd[k] <= '9') ||
		    ((bnd[k] | 0x20) >= 'a' && (bnd[k] | 0x20) <= 'z'))) {
			bnd[k] = '_';
		}
	}

	dsn_put(&f, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n",
	    host);
	dsn_put(&f, "To: <%s>\r\n", dsn_clean(r->to, a, sizeof(a)));
	dsn_put(&f, "Date: %s\r\n", date);
	dsn_put(&f, "Message-ID: <%08lX.%s.%s@%s>\r\n",
	    (unsigned long)r->bounce_id, id, now, host);
	dsn_put(&f, "Subject: Undelivered Mail Returned to Sender\r\n");
	dsn_put(&f, "Auto-Submitted: auto-replied\r\n");
	dsn_put(&f, "MIME-Version: 1.0\r\n");
	dsn_put(&f, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", bnd);
	dsn_put(&f, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* 1: for humans */
	dsn_put(&f, "--%s\r\n", bnd);
	dsn_put(&f, "Content-Description: Notification\r\n");
	dsn_put(&f, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	dsn_put(&f, "This is the mail system at host %s.\r\n\r\n",
	    host);
	dsn_put(&f, "I'm sorry to have to inform you that your message "
	    "could not\r\nbe delivered to one or more recipients. It's "
	    "attached below.\r\n\r\n");
	dsn_put(&f, "The mail system\r\n\r\n");
	for (i = 0; i < r->nrcpt; i++) {
		dsn_put(&f, "<%s>: %s%s%s\r\n",
		    dsn_clean(r->rcpts[i].rcpt, a, sizeof(a)),
		    mta != NULL ? "host " : "",
		    mta != NULL ? mta : "",
		    mta != NULL ? " said: " : "");
		dsn_put(&f, "    %s\r\n\r\n",
		    dsn_clean(r->rcpts[i].diag, d, sizeof(d)));
	}
	if (r->omitted > 0) {
		dsn_put(&f, "(%u more recipients failed; not listed)\r\n\r\n",
		    r->omitted);
	}

	/* 2: for machines (RFC 3464 section 2) */
	dsn_put(&f, "--%s\r\n", bnd);
	dsn_put(&f, "Content-Description: Delivery report\r\n");
	dsn_put(&f, "Content-Type: message/delivery-status\r\n\r\n");
	dsn_put(&f, "Reporting-MTA: dns; %s\r\n", host);
	dsn_put(&f, "X-Edgemta-Queue-ID: %s\r\n", id);
	dsn_put(&f, "Arrival-Date: %s\r\n", arr);
	for (i = 0; i < r->nrcpt; i++) {
		dsn_put(&f, "\r\nFinal-Recipient: rfc822; %s\r\n",
		    dsn_clean(r->rcpts[i].rcpt, a, sizeof(a)));
		dsn_put(&f, "Action: failed\r\n");
		dsn_put(&f, "Status: %s\r\n",
		    dsn_clean(r->rcpts[i].status, st, sizeof(st)));
		if (mta != NULL) {
			dsn_put(&f, "Remote-MTA: dns; %s\r\n", mta);
			dsn_put(&f, "Diagnostic-Code: smtp; %s\r\n",
			    dsn_clean(r->rcpts[i].diag, d, sizeof(d)));
		} else {
			dsn_put(&f, "Diagnostic-Code: X-Edgemta; %s\r\n",
			    dsn_clean(r->rcpts[i].diag, d, sizeof(d)));
		}
	}
	dsn_put(&f, "\r\n");

	/* 3: the original headers (RFC 6522 text/rfc822-headers) */
	dsn_put(&f, "--%s\r\n", bnd);
	dsn_put(&f, "Content-Description: Undelivered Message Headers\r\n");
	dsn_put(&f, "Content-Type: text/rfc822-headers\r\n\r\n");
	if (f.err == 0 && headers != NULL) {
		f.err = headers(harg, out, oarg);
	}
	dsn_put(&f, "\r\n--%s--\r\n", bnd);
	return f.err;
}

/* ---- who gets it ---- */

static bool
dsn_same_domain(const char *a, const char *b)
{
	size_t i;

	if (b[0] == '\0') {
		return false;
	}
	for (i = 0; a[i] != '\0' && b[i] != '\0'; i++) {
		char x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z') {
			x = (char)(x - 'A' + 'a');
		}
		if (y >= 'A' && y <= 'Z') {
			y = (char)(y - 'A' + 'a');
		}
		if (x != y) {
			return false;
		}
	}
	return a[i] == '\0' && b[i] == '\0';
}

int
dsn_recipient(const struct conf *c, const char *hostname,
    const char *sender, bool is_bounce, char *to, size_t len)
{
	const char *admin = c->bounce_notice_recipient;
	bool local = false;
	int at;

	if (sender[0] != '\0' && !is_bounce) {
		at = addr_at(sender);
		local = at < 0 || dsn_same_domain(sender + at + 1, hostname) ||
		    dsn_same_domain(sender + at + 1, c->myorigin);
		if (!local || admin[0] == '\0') {
			snprintf(to, len, "%s", sender);
			return 0;
		}
	}
	if (admin[0] == '\0') {
		return EDGEMTA_E_NOENT;
	}
	/* a bare name ("postmaster", the default) gets @myorigin */
	snprintf(to, len, "%s%s%s", admin, addr_at(admin) < 0 ? "@" : "",
	    addr_at(admin) >= 0 ? "" : c->myorigin[0] != '\0' ? c->myorigin :
	    hostname);
	return 0;
}

/* ---- queueing ---- */

struct dsn_sink {
	struct queue_writer *w;
	uint8_t buf[512];
	size_t len;
};

static int
dsn_sink_flush(struct dsn_sink *k)
{
	int r = 0;

	if (k->len > 0) {
		r = queue_msg_write(k->w, k->buf, k->len);
		k->len = 0;
	}
	return r;
}

static int
dsn_sink_out(void *arg, const void *buf, size_t len)
{
	struct dsn_sink *k = arg;
	const uint8_t *p = buf;

	while (len > 0) {
		size_t n = MIN(len, sizeof(k->buf) - k->len);

		memcpy(k->buf + k->len, p, n);
		k->len += n;
		p += n;
		len -= n;
		if (k->len == sizeof(k->buf)) {
			int r = dsn_sink_flush(k);

			if (r < 0) {
				return r;
			}
		}
	}
	return 0;
}

/*
 * Copy the header block of the original (harg: its struct queue_reader,
 * positioned after the SENDER item), without the empty line ending it.
 */
static int
dsn_copy_headers(void *harg, dsn_out_fn out, void *oarg)
{
	struct queue_reader *rd = harg;
	uint8_t buf[256];
	size_t n = 0, total = 0;
	bool bol = true, held_cr = false;

	for (;;) {
		const uint8_t *p;
		size_t len, i;
		unsigned idx;
		int r = queue_reader_next(rd, &p, &len, &idx);

		if (r < 0) {
			return r;
		}
		if (r == QUEUE_ITEM_END) {
			break;
		}
		if (r != QUEUE_ITEM_DATA) {
			continue;
		}
		for (i = 0; i < len; i++) {
			uint8_t c = p[i];

			if (held_cr) {
				held_cr = false;
				if (c == '\n') {
					goto done;	/* the empty line */
				}
				buf[n++] = '\r';
			} else if (bol && c == '\r') {
				held_cr = true;
				continue;
			}
			buf[n++] = c;
			bol = c == '\n';
			if (n + 2 > sizeof(buf)) {
				r = out(oarg, buf, n);
				if (r < 0) {
					return r;
				}
				total += n;
				n = 0;
				if (total >= DSN_HDR_MAX && bol) {
					return 0;
				}
			}
		}
	}
done:
	if (n > 0) {
		return out(oarg, buf, n);
	}
	return 0;
}

static void
dsn_sealed(void *arg, int err)
{
	struct dsn_slot *sl = arg;
	char id[QUEUE_ID_STRLEN];

	if (err != 0) {
		log_err("%s: bounce could not be queued: %s",
		    queue_id_str(sl->w.id, id), edgemta_strerror(err));
	} else {
		sched_kick();	/* durable and live now: deliver it */
	}
	sl->busy = false;
}

static bool
dsn_rate_ok(const struct conf *c)
{
	uint64_t now = plat_now_ms();

	if (!dsn_window_init || now - dsn_window_start >=
	    DSN_RATE_WINDOW_MS) {
		dsn_window_init = true;
		dsn_window_start = now;
		dsn_window_count = 0;
	}
	if (c->bounce_rate_limit != 0 &&
	    dsn_window_count >= c->bounce_rate_limit) {
		return false;
	}
	dsn_window_count++;
	return true;
}

int
dsn_bounce(const struct conf *c, const char *hostname, uint32_t id,
    const char *remote_mta, const struct dsn_rcpt *rcpts, unsigned n,
    unsigned omitted)
{
	static struct queue_reader rd;
	static struct dsn_sink sink;
	struct dsn_slot *sl = NULL;
	struct queue_entry e;
	struct dsn_report rep;
	char sender[ADDR_MAX], to[ADDR_MAX], ids[QUEUE_ID_STRLEN];
	char bids[QUEUE_ID_STRLEN];
	const uint8_t *p;
	size_t len;
	unsigned idx, i;
	int r;

	queue_id_str(id, ids);
	r = queue_lookup(id, &e);
	if (r < 0) {
		return r;
	}
	r = queue_reader_open(&rd, id);
	if (r < 0) {
		return r;
	}
	r = queue_reader_next(&rd, &p, &len, &idx);
	if (r != QUEUE_ITEM_SENDER) {
		return r < 0 ? r : EDGEMTA_E_CORRUPT;
	}
	len = MIN(len, sizeof(sender) - 1);
	memcpy(sender, p, len);
	sender[len] = '\0';
	if (dsn_recipient(c, hostname, sender, (e.flags & QUEUE_MSG_BOUNCE) !=
	    0, to, sizeof(to)) < 0) {
		log_info("%s: no bounce: %s and no bounce_notice_recipient",
		    ids, (e.flags & QUEUE_MSG_BOUNCE) ? "a bounce itself" :
		    "null sender");
		return EDGEMTA_E_NOENT;
	}
	if ((e.flags & QUEUE_MSG_BOUNCE) != 0) {
		/*
		 * A failed bounce goes to the admin once (a "double
		 * bounce"); a failed notice to the admin is dropped, or
		 * notices would chase each other forever.
		 */
		for (i = 0; i < n; i++) {
			if (dsn_same_domain(rcpts[i].rcpt, to)) {
				log_info("%s: no bounce: undeliverable notice "
				    "to <%s> dropped", ids, to);
				return EDGEMTA_E_NOENT;
			}
		}
	}
	if (!dsn_rate_ok(c)) {
		log_warn("%s: bounce to <%s> dropped: bounce_rate_limit (%lu "
		    "per hour) reached", ids, to,
		    (unsigned long)c->bounce_rate_limit);
		return EDGEMTA_E_NOENT;
	}
	for (i = 0; i < DSN_WRITERS; i++) {
		if (!dsn_slots[i].busy) {
			sl = &dsn_slots[i];
			break;
		}
	}
	if (sl == NULL) {
		dsn_window_count--;
		return EDGEMTA_E_FULL;
	}
	r = queue_msg_begin(&sl->w, "", 0, QUEUE_MSG_BOUNCE);
	if (r == 0) {
		r = queue_msg_rcpt(&sl->w, to);
	}
	if (r < 0) {
		goto fail;
	}
	rep.hostname = hostname;
	rep.orig_id = id;
	rep.bounce_id = sl->w.id;
	rep.to = to;
	rep.arrival = e.arrival;
	rep.now = plat_time();
	rep.remote_mta = remote_mta;
	rep.rcpts = rcpts;
	rep.nrcpt = n;
	rep.omitted = omitted;
	sink.w = &sl->w;
	sink.len = 0;
	/* the reader is past the SENDER: headers skip the RCPT items */
	r = dsn_format(&rep, dsn_sink_out, &sink, dsn_copy_headers, &rd);
	if (r == 0) {
		r = dsn_sink_flush(&sink);
	}
	if (r == 0) {
		r = queue_msg_seal(&sl->w, dsn_sealed, sl);
	}
	if (r < 0) {
		goto fail;
	}
	sl->busy = true;
	log_info("%s: sender non-delivery notification: %s", ids,
	    queue_id_str(sl->w.id, bids));
	log_info("%s: from=<>, to=<%s>, nrcpt=1 (bounce of %s)", bids, to,
	    ids);
	return 0;
fail:
	dsn_window_count--;
	queue_msg_abort(&sl->w);
	log_warn("%s: cannot queue a bounce now: %s", ids,
	    edgemta_strerror(r));
	return r == EDGEMTA_E_NOENT ? EDGEMTA_E_IO : r;
}
