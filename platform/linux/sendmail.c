/*
 * sendmail.c - the injector (argv[0] "sendmail") and the queue listing
 * (argv[0] "mailq", "sendmail -bp").
 *
 * The daemon is the only writer of the flash queue: the injector speaks
 * SMTP to it over the local socket and exits 0 only after the daemon's
 * "250 ... queued as ID", which the daemon sends once the message is
 * durable. Any other outcome says on stderr that nothing was queued.
 *
 * Headers are processed in RAM (up to SM_HDR_MAX) because -t needs every
 * recipient before RCPT; the body is streamed from stdin to the socket.
 *
 * Latency: MAIL, RCPT and DATA go in one write when the daemon offers
 * PIPELINING (RFC 2920), and the final dot leaves with the last body
 * bytes. Connecting earlier, to overlap the greeting and EHLO with
 * reading the sender and stdin, was measured to gain nothing: a round
 * trip on the local socket costs less than the syscalls it moves.
 *
 * Exit codes (sysexits.h):
 *   0  EX_OK        queued (durable)
 *   64 EX_USAGE     bad option, missing argument, no recipients
 *   65 EX_DATAERR   control characters or bad syntax in -f, -F or an
 *                   address argument; malformed To/Cc/Bcc with -t; more
 *                   than CONFIG_SMTP_MAX_RCPT recipients; header too
 *                   large; a 5xx reply to MAIL or DATA
 *   67 EX_NOUSER    a 5xx reply to RCPT
 *   74 EX_IOERR     reading stdin failed
 *   75 EX_TEMPFAIL  daemon unreachable, 4xx (queue full), connection lost
 *   78 EX_CONFIG    the configuration file is unreadable or invalid
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "flash_mtd.h"
#include "linux.h"
#include "inject.h"
#include "platform.h"
#include "queue.h"

#define SM_FIELD_MAX 32768	/* one header field (folded lines) */
#define SM_HDR_MAX 131072	/* the whole processed header block */
#define SM_REPLY_TIMEOUT_MS 300000
#define SM_CONNECT_TRIES 50	/* x 100 ms: a daemon that is starting */

struct sm {
	struct conf conf;
	const char *conf_path;
	bool conf_given;
	bool extract, dots_ok, verbose;
	bool pipelining;	/* the daemon's EHLO offered it */
	const char *sender_arg, *full_name;
	char sender[ADDR_MAX];
	char origin[CONF_STR_MAX];
	char host[CONF_STR_MAX];
	struct inject_rewrite rw;
	struct inject_rcpts rcpts;
	struct inject ij;
	int fd;
	int ex;			/* exit code of the failure */
	char msg[512];		/* its one line for stderr */
	size_t hlen;
	char rbuf[4096];
	size_t rlen;
	char wbuf[8192];
	size_t wlen;
	char reply[1024];	/* last reply, lines joined by ' ' */
	int code;
};

static struct sm sm;
static char sm_rcptbuf[CONFIG_SMTP_MAX_RCPT * ADDR_MAX];
static char sm_field[SM_FIELD_MAX];
static char sm_hdr[SM_HDR_MAX];

static const char sm_usage[] = "usage: sendmail [-t] [-i] [-f sender] "
    "[-F name] [-C config] [-v] [-bm|-bp|-bs|-q] [--] [recipient ...]\n";

/* Record the failure (first one wins): exit code and stderr line. */
static int
fail(int ex, const char *fmt, const char *a, const char *b)
{
	if (sm.ex == 0) {
		sm.ex = ex;
		snprintf(sm.msg, sizeof(sm.msg), fmt, a, b);
	}
	return EDGEMTA_E_IO;
}

static int
usage(const char *what, const char *arg)
{
	fprintf(stderr, "sendmail: %s%s\n%s", what, arg, sm_usage);
	return EX_USAGE;
}

/* ---- the SMTP conversation with the daemon ---- */

static int sm_timeout_ms = SM_REPLY_TIMEOUT_MS;
static int sm_reply(void);

static int
sm_flush(void)
{
	size_t off = 0;
	long n;

	while (off < sm.wlen) {
		n = plat_write(sm.fd, sm.wbuf + off, sm.wlen - off);
		if (n <= 0) {
			sm.wlen = 0;
			/* a daemon that hung up may have said why */
			sm_timeout_ms = 1000;
			if (sm_reply() >= 400) {
				return fail(sm.code < 500 ? EX_TEMPFAIL :
				    EX_DATAERR, "sendmail: edgemta refused "
				    "the message: %s%s; message NOT queued",
				    sm.reply, "");
			}
			return fail(EX_TEMPFAIL, "sendmail: lost the "
			    "connection to edgemta at %s%s; message NOT queued",
			    sm.conf.local_socket, "");
		}
		off += (size_t)n;
	}
	sm.wlen = 0;
	return 0;
}

static int
sm_write(const char *p, size_t len)
{
	size_t k;

	while (len > 0) {
		if (sm.wlen == sizeof(sm.wbuf) && sm_flush() < 0) {
			return EDGEMTA_E_IO;
		}
		k = MIN(len, sizeof(sm.wbuf) - sm.wlen);
		memcpy(sm.wbuf + sm.wlen, p, k);
		sm.wlen += k;
		p += k;
		len -= k;
	}
	return 0;
}

/* One command line: logged with -v, sent at once unless more follow. */
static int
sm_send(const char *a, const char *b, bool more)
{
	if (sm.verbose) {
		fprintf(stderr, ">>> %s%s\n", a, b);
	}
	if (sm_write(a, strlen(a)) < 0 || sm_write(b, strlen(b)) < 0 ||
	    sm_write("\r\n", 2) < 0) {
		return EDGEMTA_E_IO;
	}
	return more ? 0 : sm_flush();
}

static int
sm_cmd(const char *a, const char *b)
{
	return sm_send(a, b, false);
}

/* Read one reply (multi-line joined) into sm.reply/sm.code. */
static int
sm_reply(void)
{
	struct pollfd pfd;
	char *eol;
	size_t n, used = 0;
	long r;
	bool more;

	sm.reply[0] = '\0';
	sm.code = 0;
	for (;;) {
		eol = memchr(sm.rbuf, '\n', sm.rlen);
		if (eol == NULL) {
			if (sm.rlen == sizeof(sm.rbuf)) {
				sm.rlen = 0;	/* absurd line: drop it */
			}
			pfd.fd = sm.fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, sm_timeout_ms) <= 0) {
				return EDGEMTA_E_TIMEOUT;
			}
			r = plat_read(sm.fd, sm.rbuf + sm.rlen,
			    sizeof(sm.rbuf) - sm.rlen);
			if (r <= 0) {
				return EDGEMTA_E_CLOSED;
			}
			sm.rlen += (size_t)r;
			continue;
		}
		n = (size_t)(eol - sm.rbuf);
		if (n > 0 && sm.rbuf[n - 1] == '\r') {
			n--;
		}
		if (sm.verbose) {
			fprintf(stderr, "<<< %.*s\n", (int)n, sm.rbuf);
		}
		if (n >= 3 && used + n + 2 < sizeof(sm.reply)) {
			if (used > 0) {
				sm.reply[used++] = ' ';
			}
			memcpy(sm.reply + used, sm.rbuf, n);
			used += n;
			sm.reply[used] = '\0';
		}
		sm.code = n >= 3 ? atoi(sm.rbuf) : 0;
		more = n > 3 && sm.rbuf[3] == '-';
		if (n >= 14 && strncasecmp(sm.rbuf + 4, "PIPELINING", 10) ==
		    0 && (n == 14 || sm.rbuf[14] == ' ')) {
			sm.pipelining = true;
		}
		memmove(sm.rbuf, eol + 1, sm.rlen - (size_t)(eol + 1 -
		    sm.rbuf));
		sm.rlen -= (size_t)(eol + 1 - sm.rbuf);
		if (!more) {
			break;
		}
	}
	if (sm.code < 200 || sm.code > 599) {
		return EDGEMTA_E_PROTO;
	}
	return sm.code;
}

/*
 * Expect a reply of class want (2 or 3) to what; anything else records
 * the failure. rcpt: a 5xx means that recipient was refused.
 */
static int
sm_expect(int want, const char *what, bool rcpt)
{
	int r = sm_reply();

	if (r == EDGEMTA_E_TIMEOUT || r == EDGEMTA_E_CLOSED ||
	    r == EDGEMTA_E_PROTO) {
		return fail(EX_TEMPFAIL, "sendmail: edgemta at %s did not "
		    "answer %s; message NOT queued", sm.conf.local_socket,
		    what);
	}
	if (r / 100 == want) {
		return 0;
	}
	if (r / 100 == 4) {
		return fail(EX_TEMPFAIL, "sendmail: edgemta deferred the "
		    "message: %s%s; message NOT queued", sm.reply, "");
	}
	return fail(rcpt ? EX_NOUSER : EX_DATAERR, "sendmail: edgemta "
	    "rejected the message: %s%s; message NOT queued", sm.reply, "");
}

/* Connect, retrying a little while the daemon starts up. */
static int
sm_connect_raw(void)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	int i, fd = -1, e = 0;

	for (i = 0; i < SM_CONNECT_TRIES; i++) {
		errno = 0;
		fd = plat_connect_local(sm.conf.local_socket);
		if (fd >= 0) {
			sm.fd = fd;
			return 0;
		}
		e = errno;
		if (e != ENOENT && e != ECONNREFUSED && e != EAGAIN) {
			break;
		}
		nanosleep(&ts, NULL);
	}
	return fail(EX_TEMPFAIL, "sendmail: cannot reach edgemta at %s (%s); "
	    "message NOT queued", sm.conf.local_socket,
	    e != 0 ? strerror(e) : edgemta_strerror(fd));
}

/* Connect, read the greeting, EHLO. */
static int
sm_open_session(void)
{
	char line[CONF_STR_MAX + 8];

	if (sm_connect_raw() < 0 ||
	    sm_expect(2, "the greeting", false) < 0) {
		return EDGEMTA_E_IO;
	}
	snprintf(line, sizeof(line), "EHLO %s", sm.host);
	if (sm_cmd(line, "") < 0 || sm_expect(2, "EHLO", false) < 0) {
		return EDGEMTA_E_IO;
	}
	return 0;
}

/*
 * hdr_end: recipients are known; open the transaction, send headers.
 * With PIPELINING the replies to MAIL and each RCPT are read after DATA
 * is sent, in order (RFC 2920 3.1); the first failure is the one told.
 */
static int
sm_start(void *arg)
{
	char line[ADDR_MAX + 32];
	unsigned i;
	bool pipe;

	(void)arg;
	if (sm.rcpts.n == 0) {
		return fail(EX_USAGE, "sendmail: no recipients%s%s", "", "");
	}
	if (sm_open_session() < 0) {
		return EDGEMTA_E_IO;
	}
	pipe = sm.pipelining;
	snprintf(line, sizeof(line), "MAIL FROM:<%s>", sm.sender);
	if (sm_send(line, "", pipe) < 0 ||
	    (!pipe && sm_expect(2, "MAIL", false) < 0)) {
		return EDGEMTA_E_IO;
	}
	for (i = 0; i < sm.rcpts.n; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<%s>",
		    inject_rcpt_get(&sm.rcpts, i));
		if (sm_send(line, "", pipe) < 0 ||
		    (!pipe && sm_expect(2, "RCPT", true) < 0)) {
			return EDGEMTA_E_IO;
		}
	}
	if (sm_cmd("DATA", "") < 0) {
		return EDGEMTA_E_IO;
	}
	if (pipe && sm_expect(2, "MAIL", false) < 0) {
		return EDGEMTA_E_IO;
	}
	for (i = 0; pipe && i < sm.rcpts.n; i++) {
		if (sm_expect(2, "RCPT", true) < 0) {
			return EDGEMTA_E_IO;
		}
	}
	if (sm_expect(3, "DATA", false) < 0) {
		return EDGEMTA_E_IO;
	}
	return sm_write(sm_hdr, sm.hlen);
}

static int
sm_out(void *arg, enum inject_part part, const char *p, size_t len)
{
	(void)arg;
	if (part == INJECT_PART_BODY) {
		return sm_write(p, len);
	}
	if (sm.hlen + len > sizeof(sm_hdr)) {
		return fail(EX_DATAERR, "sendmail: header block larger than "
		    "%s bytes%s; message NOT queued", "131072", "");
	}
	memcpy(sm_hdr + sm.hlen, p, len);
	sm.hlen += len;
	return 0;
}

static int
sm_rcpt(void *arg, const char *addr, char *err, size_t errlen)
{
	(void)arg;
	return inject_rcpt_add(&sm.rcpts, &sm.rw, addr, err, errlen);
}

/* A recipient argument: "a@b", "a@b, c@d", "Name <a@b>". */
static int
arg_rcpt(void *arg, const char *addr)
{
	char *err = arg;

	return inject_rcpt_add(&sm.rcpts, &sm.rw, addr, err, INJECT_ERR_MAX);
}

/* ---- modes other than injecting ---- */

/* -q: ask the daemon to retry deferred mail now. */
static int
sm_flush_queue(void)
{
	if (sm_open_session() < 0) {
		fprintf(stderr, "%s\n", sm.msg);
		return sm.ex;
	}
	if (sm_cmd("XQUEUE FLUSH", "") < 0 || sm_reply() < 0) {
		fprintf(stderr, "sendmail: no reply to XQUEUE FLUSH\n");
		return EX_TEMPFAIL;
	}
	(void)sm_cmd("QUIT", "");
	if (sm.code / 100 != 2) {
		fprintf(stderr, "sendmail: queue flush refused: %s\n",
		    sm.reply);
		return sm.code / 100 == 4 ? EX_TEMPFAIL : EX_NOPERM;
	}
	return EX_OK;
}

/*
 * -bs: relay an SMTP dialog on stdin/stdout to the daemon, byte for
 * byte (the daemon does every check). Ends when the daemon closes.
 */
static int
sm_smtp_stdio(void)
{
	struct pollfd p[2];
	char buf[4096];
	bool in_open = true;
	ssize_t n;
	int i;

	if (sm_connect_raw() < 0) {
		printf("421 4.3.0 %s\r\n", sm.msg);
		fflush(stdout);
		fprintf(stderr, "%s\n", sm.msg);
		return sm.ex;
	}
	for (;;) {
		p[0].fd = in_open ? 0 : -1;
		p[0].events = POLLIN;
		p[1].fd = sm.fd;
		p[1].events = POLLIN;
		if (poll(p, 2, SM_REPLY_TIMEOUT_MS) <= 0) {
			return EX_TEMPFAIL;
		}
		if (p[1].revents != 0) {
			n = read(sm.fd, buf, sizeof(buf));
			if (n <= 0) {
				return EX_OK;
			}
			for (i = 0; i < n;) {
				ssize_t w = write(1, buf + i, (size_t)(n - i));

				if (w <= 0) {
					return EX_IOERR;
				}
				i += (int)w;
			}
		}
		if (in_open && p[0].revents != 0) {
			n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				in_open = false;
				shutdown(sm.fd, SHUT_WR);
				continue;
			}
			memcpy(sm.wbuf, buf, (size_t)n);
			sm.wlen = (size_t)n;
			if (sm_flush() < 0) {
				return EX_TEMPFAIL;
			}
		}
	}
}

/* ---- mailq ---- */

struct mq {
	unsigned long msgs;
	unsigned long long bytes;
};

static struct queue_reader mq_reader;

static void
mq_print(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		putchar(p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i]);
	}
}

static int
mq_one(void *arg, const struct queue_entry *e)
{
	struct mq *m = arg;
	char id[QUEUE_ID_STRLEN], when[32], reason[256];
	const uint8_t *p;
	size_t len;
	unsigned idx;
	int r;

	if (m->msgs == 0) {
		printf("-Queue ID-  --Size-- ----Arrival Time---- "
		    "-Sender/Recipient-------\n");
	}
	m->msgs++;
	m->bytes += e->size;
	if (!plat_time_fmt(e->arrival, PLAT_T_CTIME, when, sizeof(when))) {
		strcpy(when, "?");
	}
	/* Postfix's shape: id, status, size, asctime()[0..20), sender */
	printf("%-10s  %8lu %-20.20s ", queue_id_str(e->id, id),
	    (unsigned long)e->size, when);
	if (queue_reader_open(&mq_reader, e->id) != 0) {
		printf("(unreadable)\n\n");
		return 0;
	}
	r = queue_reader_next(&mq_reader, &p, &len, &idx);
	if (r == QUEUE_ITEM_SENDER && len == 0) {
		printf("MAILER-DAEMON\n");
	} else if (r == QUEUE_ITEM_SENDER) {
		mq_print(p, len);
		putchar('\n');
	} else {
		printf("?\n");
	}
	reason[0] = '\0';
	if (queue_msg_reason(e->id, reason, sizeof(reason)) == 0 &&
	    reason[0] != '\0') {
		printf("(");
		mq_print((const uint8_t *)reason, strlen(reason));
		printf(")\n");
	}
	while ((r = queue_reader_next(&mq_reader, &p, &len, &idx)) ==
	    QUEUE_ITEM_RCPT) {
		if (queue_rcpt_state(e->id, idx) == QUEUE_RCPT_PENDING) {
			printf("%41s", "");
			mq_print(p, len);
			putchar('\n');
		}
	}
	putchar('\n');
	return 0;
}

static int
mq_run(void)
{
	struct flash fl;
	struct mq m = { 0, 0 };
	int r;

	r = admin_queue_open_ro(&sm.conf, &fl);
	if (r == EDGEMTA_E_NOENT) {
		printf("Mail queue is empty\n");
		return EX_OK;
	}
	if (r != 0) {
		return EX_UNAVAILABLE;
	}
	(void)queue_foreach(mq_one, &m);
	admin_queue_damage_note();
	queue_close();
	flash_close_queue(&fl);
	if (m.msgs == 0) {
		printf("Mail queue is empty\n");
	} else {
		printf("-- %llu Kbytes in %lu Request%s.\n",
		    (m.bytes + 1023) / 1024, m.msgs, m.msgs == 1 ? "" : "s");
	}
	return EX_OK;
}

/* ---- set-up ---- */

static int
sm_load_conf(void)
{
	char err[CONF_ERR_MAX];
	const char *path = sm.conf_path;
	int r;

	if (path == NULL) {
		path = conf_default_path();
	}
	r = conf_load_file(&sm.conf, path, sm.conf_path == NULL &&
	    getenv("EDGEMTA_CONFIG") == NULL, err, sizeof(err));
	if (r != 0) {
		fprintf(stderr, "sendmail: %s\n", err);
		return EX_CONFIG;
	}
	if (sm.conf.myhostname[0] != '\0') {
		snprintf(sm.host, sizeof(sm.host), "%s", sm.conf.myhostname);
	} else if (plat_hostname(sm.host, sizeof(sm.host)) != 0) {
		strcpy(sm.host, "localhost");
	}
	snprintf(sm.origin, sizeof(sm.origin), "%s",
	    sm.conf.myorigin[0] != '\0' ? sm.conf.myorigin : sm.host);
	sm.rw.aliases = sm.conf.aliases;
	sm.rw.admin = sm.conf.bounce_notice_recipient;
	sm.rw.myorigin = sm.origin;
	sm.rw.myhostname = sm.host;
	sm.rw.sender_rewrite = sm.conf.sender_rewrite;
	return EX_OK;
}

/* The argument of option c: rest of the cluster or the next argv. */
static const char *
opt_arg(const char *rest, int *i, int argc, char **argv)
{
	if (rest[0] != '\0') {
		return rest;
	}
	if (*i + 1 < argc) {
		return argv[++*i];
	}
	return NULL;
}

enum sm_mode {
	SM_DELIVER = 0,
	SM_LIST,
	SM_SMTP,
	SM_FLUSH
};

/*
 * Parse the sendmail options; returns the index of the first recipient
 * argument, or -1 after printing a usage error.
 */
static int
sm_options(int argc, char **argv, enum sm_mode *mode)
{
	const char *a, *v;
	int i;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0) {
			return i + 1;
		}
		if (a[0] != '-' || a[1] == '\0') {
			return i;	/* POSIX: options end here */
		}
		for (a++; *a != '\0'; a++) {
			switch (*a) {
			case 't':
				sm.extract = true;
				continue;
			case 'i':
				sm.dots_ok = true;
				continue;
			case 'v':
				sm.verbose = true;
				continue;
			case 'm':	/* "me too" */
			case 'n':	/* no aliasing */
			case 'G':	/* gateway submission */
			case 'U':	/* initial user submission */
				continue;
			case 'q':	/* -q, -q30m, -qR...: flush now */
				*mode = SM_FLUSH;
				break;
			default:
				break;
			}
			if (*a == 'q') {
				break;
			}
			v = opt_arg(a + 1, &i, argc, argv);
			if (strchr("bfrFCoBNRVLhO", *a) == NULL) {
				usage("unknown option -", (char[]){ *a, 0 });
				return -1;
			}
			if (v == NULL) {
				usage("missing argument to -",
				    (char[]){ *a, 0 });
				return -1;
			}
			switch (*a) {
			case 'b':
				if (strcmp(v, "p") == 0) {
					*mode = SM_LIST;
				} else if (strcmp(v, "s") == 0) {
					*mode = SM_SMTP;
				} else if (strcmp(v, "m") == 0) {
					*mode = SM_DELIVER;
				} else {
					usage("unsupported mode -b", v);
					return -1;
				}
				break;
			case 'f':
			case 'r':
				sm.sender_arg = v;
				break;
			case 'F':
				sm.full_name = v;
				break;
			case 'C':
				sm.conf_path = v;
				break;
			case 'o':
				if (strcmp(v, "i") == 0) {
					sm.dots_ok = true;
				}
				break;	/* -oem -odi -oQ...: ignored */
			default:
				break;	/* -B -N -R -V -L -h -O: ignored */
			}
			break;	/* the argument used up the cluster */
		}
	}
	return i;
}

/* Read stdin through the injector into the open transaction. */
static int
sm_inject(void)
{
	static char buf[16384];
	struct inject_opts o;
	char date[64], msgid[CONF_STR_MAX + 64];
	uint8_t rnd[12];
	ssize_t n;
	int r = 0;

	plat_rfc5322_date(plat_time(), date, sizeof(date));
	plat_random(rnd, sizeof(rnd));
	inject_make_msgid(msgid, sizeof(msgid), plat_time(), rnd,
	    sizeof(rnd), sm.host);
	memset(&o, 0, sizeof(o));
	o.flags = INJECT_SMTP | (sm.extract ? INJECT_EXTRACT : 0) |
	    (sm.dots_ok ? INJECT_DOTS_OK : 0);
	o.sender = sm.sender;
	o.full_name = sm.full_name != NULL ? sm.full_name : "";
	o.date = date;
	o.msgid = msgid;
	o.sender_rewrite = sm.sender[0] != '\0' ? sm.conf.sender_rewrite :
	    "";
	o.rcpt = sm_rcpt;
	o.out = sm_out;
	o.hdr_end = sm_start;
	inject_init(&sm.ij, &o, sm_field, sizeof(sm_field));
	while (r == 0) {
		n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return fail(EX_IOERR, "sendmail: cannot read the "
			    "message: %s%s; message NOT queued",
			    strerror(errno), "");
		}
		if (n == 0) {
			break;
		}
		r = inject_feed(&sm.ij, buf, (size_t)n);
	}
	if (r >= 0) {
		r = inject_finish(&sm.ij);
	}
	if (r < 0) {
		if (sm.ex == 0) {
			fail(r == EDGEMTA_E_IO ? EX_TEMPFAIL : EX_DATAERR,
			    "sendmail: %s%s; message NOT queued",
			    sm.ij.errmsg, "");
		}
		return r;
	}
	if (sm_write(".\r\n", 3) < 0 || sm_flush() < 0) {
		return EDGEMTA_E_IO;
	}
	if (sm.verbose) {
		fprintf(stderr, ">>> (message, %s)\n>>> .\n",
		    "dot-stuffed");
	}
	r = sm_reply();
	if (r < 0) {
		return fail(EX_TEMPFAIL, "sendmail: no reply from edgemta at "
		    "%s after the message was sent (%s): it may or may not be "
		    "queued; check with mailq", sm.conf.local_socket,
		    edgemta_strerror(r));
	}
	if (r / 100 != 2) {
		return fail(r / 100 == 4 ? EX_TEMPFAIL : EX_DATAERR,
		    "sendmail: edgemta did not take the message: %s%s; "
		    "message NOT queued", sm.reply, "");
	}
	(void)sm_cmd("QUIT", "");
	return 0;
}

int
sendmail_main(int argc, char **argv)
{
	enum sm_mode mode = SM_DELIVER;
	char err[INJECT_ERR_MAX];
	const char *who;
	struct passwd *pw;
	int first, i, r;

	memset(&sm, 0, sizeof(sm));
	sm.fd = -1;
	signal(SIGPIPE, SIG_IGN);	/* a dead peer is an error, not death */
	first = sm_options(argc, argv, &mode);
	if (first < 0) {
		return EX_USAGE;
	}
	r = sm_load_conf();
	if (r != EX_OK) {
		return r;
	}
	if (mode == SM_LIST) {
		return mq_run();
	}
	if (mode == SM_FLUSH) {
		return sm_flush_queue();
	}
	if (mode == SM_SMTP) {
		return sm_smtp_stdio();
	}
	/* hostile arguments: refused before anything is read or sent */
	if (sm.full_name != NULL && inject_has_ctl(sm.full_name, true)) {
		fprintf(stderr, "sendmail: control character in -F name; "
		    "message NOT queued\n");
		return EX_DATAERR;
	}
	who = sm.sender_arg;
	if (who == NULL) {
		pw = getpwuid(getuid());
		who = pw != NULL ? pw->pw_name : "nobody";
	}
	if (inject_sender(&sm.rw, who, sm.sender, err, sizeof(err)) != 0) {
		fprintf(stderr, "sendmail: bad -f address: %s; message NOT "
		    "queued\n", err);
		return EX_DATAERR;
	}
	inject_rcpts_init(&sm.rcpts, sm_rcptbuf, sizeof(sm_rcptbuf),
	    CONFIG_SMTP_MAX_RCPT);
	for (i = first; i < argc; i++) {
		err[0] = '\0';
		if (inject_has_ctl(argv[i], false)) {
			fprintf(stderr, "sendmail: control character in a "
			    "recipient argument; message NOT queued\n");
			return EX_DATAERR;
		}
		r = inject_parse_addrs(argv[i], strlen(argv[i]), arg_rcpt,
		    err, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "sendmail: bad recipient \"%s\": %s; "
			    "message NOT queued\n", argv[i], err);
			return EX_DATAERR;
		}
	}
	if (!sm.extract && sm.rcpts.n == 0) {
		fprintf(stderr, "sendmail: no recipients given (use -t to "
		    "read them from the message)\n%s", sm_usage);
		return EX_USAGE;
	}
	r = sm_inject();
	if (sm.fd >= 0) {
		plat_close(sm.fd);
	}
	if (r < 0) {
		fprintf(stderr, "%s\n", sm.msg[0] != '\0' ? sm.msg :
		    "sendmail: failed; message NOT queued");
		return sm.ex != 0 ? sm.ex : EX_SOFTWARE;
	}
	return EX_OK;
}

int
mailq_main(int argc, char **argv)
{
	int i, r;

	memset(&sm, 0, sizeof(sm));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-C") == 0 && i + 1 < argc) {
			sm.conf_path = argv[++i];
		} else if (strncmp(argv[i], "-C", 2) == 0 && argv[i][2]) {
			sm.conf_path = argv[i] + 2;
		} else if (strcmp(argv[i], "-v") != 0) {
			fprintf(stderr, "usage: mailq [-C config]\n");
			return EX_USAGE;
		}
	}
	r = sm_load_conf();
	if (r != EX_OK) {
		return r;
	}
	return mq_run();
}
