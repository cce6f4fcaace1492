/*
 * inject_fuzz.c - libFuzzer harness for the sendmail injector
 * (core/inject.c) and the address parser (core/addr.c): the message is
 * fed in chunks whose sizes come from the first input byte, with -t,
 * with and without -i, and every To/Cc/Bcc address goes through the
 * rewriting (aliases, admin, myorigin) as sendmail does. The output must
 * be CRLF-only, dot-stuffed lines <= 999 octets, with one blank line
 * between header and body; every recipient a clean address. The whole
 * input is also parsed as an RFC 5322 address list and as a sender and
 * SMTP path. Seeds: test/fuzz/corpus/inject/.
 */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "inject.h"

#define FZ_FIELD 4096
#define FZ_RCPTS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_field[FZ_FIELD];
static char fz_rcptbuf[FZ_RCPTS * ADDR_MAX];
static struct inject_rcpts fz_rcpts;
static struct inject fz_ij;
static const struct inject_rewrite fz_rw = {
	.aliases = "root postmaster: admin; admin: me@example.org, "
	    "log; backup: root, x@example.net",
	.admin = "admin",
	.myorigin = "example.org",
	.myhostname = "gw.example",
	.sender_rewrite = "",
};

/* output state: checked as it streams */
static unsigned fz_col;
static bool fz_cr, fz_in_body, fz_blank_seen, fz_bol;

static void
fz_check_rcpt(const char *a)
{
	size_t i, n = strlen(a);

	if (n == 0 || n >= ADDR_MAX) {
		abort();
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)a[i] < 0x20 || a[i] == 0x7f) {
			abort();	/* a control character in a recipient */
		}
	}
}

static int
fz_rcpt(void *arg, const char *addr, char *err, size_t errlen)
{
	(void)arg;
	return inject_rcpt_add(&fz_rcpts, &fz_rw, addr, err, errlen);
}

static int
fz_out(void *arg, enum inject_part part, const char *p, size_t len)
{
	size_t i;

	(void)arg;
	if (part == INJECT_PART_BODY && !fz_in_body) {
		if (!fz_blank_seen) {
			abort();	/* body before the blank line */
		}
		fz_in_body = true;
	}
	if (part == INJECT_PART_HEADER && fz_in_body) {
		abort();
	}
	for (i = 0; i < len; i++) {
		if (fz_cr) {
			if (p[i] != '\n') {
				abort();	/* bare CR */
			}
			fz_cr = false;
			if (part == INJECT_PART_HEADER && fz_bol) {
				fz_blank_seen = true;	/* an empty line */
			}
			fz_bol = true;
			fz_col = 0;
			continue;
		}
		if (p[i] == '\r') {
			fz_cr = true;
			continue;
		}
		if (p[i] == '\n') {
			abort();	/* bare LF */
		}
		fz_bol = false;
		if (++fz_col > 999) {
			abort();	/* 998 + a stuffed dot */
		}
	}
	return 0;
}

static int
fz_hdr_end(void *arg)
{
	(void)arg;
	return 0;
}

/* Each member of a list: what the rewriting lets through is clean. */
static int
fz_addr(void *arg, const char *addr)
{
	char err[INJECT_ERR_MAX];

	(void)arg;
	if (inject_rcpt_add(&fz_rcpts, &fz_rw, addr, err, sizeof(err)) ==
	    0 && fz_rcpts.n > 0) {
		fz_check_rcpt(inject_rcpt_get(&fz_rcpts, fz_rcpts.n - 1));
	}
	return 0;
}

static void
fz_inject(const uint8_t *data, size_t size, unsigned flags, size_t chunk)
{
	struct inject_opts o;
	size_t off = 0;
	int r = 0;
	unsigned i;

	memset(&o, 0, sizeof(o));
	o.flags = flags;
	o.sender = "alice@example.org";
	o.full_name = "Alice";
	o.date = "Sat, 28 Nov 2026 13:04:05 +0000";
	o.msgid = "<1.2@gw.example>";
	o.sender_rewrite = (flags & INJECT_DOTS_OK) ? "dev@example.org" : "";
	o.rcpt = fz_rcpt;
	o.out = fz_out;
	o.hdr_end = fz_hdr_end;
	inject_rcpts_init(&fz_rcpts, fz_rcptbuf, sizeof(fz_rcptbuf),
	    FZ_RCPTS);
	fz_col = 0;
	fz_cr = fz_in_body = fz_blank_seen = false;
	fz_bol = true;
	inject_init(&fz_ij, &o, fz_field, sizeof(fz_field));
	while (r == 0 && off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		r = inject_feed(&fz_ij, (const char *)data + off, n);
		off += n;
	}
	if (r >= 0 && inject_finish(&fz_ij) == 0) {
		if (fz_cr || fz_col != 0) {
			abort();	/* the last line is not ended */
		}
	}
	if (r < 0 && memchr(fz_ij.errmsg, '\0', sizeof(fz_ij.errmsg)) ==
	    NULL) {
		abort();
	}
	for (i = 0; i < fz_rcpts.n; i++) {
		fz_check_rcpt(inject_rcpt_get(&fz_rcpts, i));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char s[2048];
	char out[ADDR_MAX], err[INJECT_ERR_MAX];
	const char *rest;
	size_t chunk = 1;

	if (size > 0) {
		chunk = (size_t)data[0] % 64 + 1;
		if (data[0] >= 192) {
			chunk = 4096;
		}
	}
	fz_inject(data, size, INJECT_EXTRACT | INJECT_SMTP, chunk);
	fz_inject(data, size, INJECT_EXTRACT | INJECT_DOTS_OK | INJECT_SMTP,
	    4096);
	fz_inject(data, size, 0, 7);
	/* the input as an address list, a sender and an SMTP path */
	inject_rcpts_init(&fz_rcpts, fz_rcptbuf, sizeof(fz_rcptbuf),
	    FZ_RCPTS);
	(void)inject_parse_addrs((const char *)data, size, fz_addr, NULL,
	    err, sizeof(err));
	if (size < sizeof(s)) {
		memcpy(s, data, size);
		s[size] = '\0';
		if (inject_sender(&fz_rw, s, out, err, sizeof(err)) == 0) {
			if (out[0] != '\0') {
				fz_check_rcpt(out);
			}
		}
		if (addr_parse_path(s, out, &rest) == 0) {
			fz_check_rcpt(out[0] != '\0' ? out : "x");
		}
		inject_rcpts_init(&fz_rcpts, fz_rcptbuf, sizeof(fz_rcptbuf),
		    FZ_RCPTS);
		if (inject_rcpt_add(&fz_rcpts, &fz_rw, s, err,
		    sizeof(err)) == 0 && fz_rcpts.n > 0) {
			fz_check_rcpt(inject_rcpt_get(&fz_rcpts, 0));
		}
	}
	return 0;
}
