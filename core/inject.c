/*
 * inject.c - local submission: header fix-ups, -t recipients, rewriting.
 *
 * Input is read byte by byte through a tiny line-end normaliser: CRLF
 * and LF end a line; a bare CR is never a line end and never passed on
 * raw (DESIGN.md 5 on smuggling), it becomes one space. Were it a line
 * end, "Subject: hi\rBcc: victim@x" from a script that strips LF only
 * would inject a header and, with -t, a recipient (RFC 5322 2.2 allows
 * no CR in a field; 2.3 none alone in the body either). Header lines collect in the caller's field
 * buffer until the next line shows whether they continue (RFC 5322
 * 2.2.3 folding); body bytes go straight to the output stage, which adds
 * CRLF, splits lines at 998 octets and dot-stuffs for SMTP.
 */
#include <stdio.h>
#include <string.h>

#include "inject.h"

enum {
	ST_HDR = 0,
	ST_BODY,
	ST_DONE,		/* lone "." seen: ignore the rest */
	ST_FINISHED
};

static void
set_err(struct inject *ij, int err, const char *msg)
{
	if (ij->err == 0) {
		ij->err = err;
		if (ij->errmsg[0] == '\0') {
			snprintf(ij->errmsg, sizeof(ij->errmsg), "%s", msg);
		}
	}
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool
ieq(const char *a, size_t alen, const char *b)
{
	size_t i;

	if (alen != strlen(b)) {
		return false;
	}
	for (i = 0; i < alen; i++) {
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) {
			return false;
		}
	}
	return true;
}

/* ---- output stage ---- */

static void
oflush(struct inject *ij)
{
	int r;

	if (ij->olen > 0 && ij->err == 0) {
		r = ij->o.out(ij->o.arg, ij->opart, ij->obuf, ij->olen);
		if (r < 0) {
			set_err(ij, r, "output failed");
		}
	}
	ij->olen = 0;
}

static void
oraw(struct inject *ij, char c)
{
	if (ij->olen == sizeof(ij->obuf)) {
		oflush(ij);
	}
	ij->obuf[ij->olen++] = c;
}

static void
put_eol(struct inject *ij)
{
	oraw(ij, '\r');
	oraw(ij, '\n');
	ij->col = 0;
}

/* One byte of a line; col counts wire bytes, stuffed dots included. */
static void
put(struct inject *ij, char c)
{
	if (ij->col >= INJECT_LINE_MAX) {
		put_eol(ij);
		if (ij->opart == INJECT_PART_HEADER) {
			oraw(ij, ' ');	/* fold: stays in the same field */
			ij->col = 1;
		}
	}
	if (ij->col == 0 && c == '.' && (ij->o.flags & INJECT_SMTP)) {
		oraw(ij, '.');
		ij->col++;
	}
	oraw(ij, c);
	ij->col++;
}

static void
put_str(struct inject *ij, const char *s)
{
	while (*s != '\0') {
		put(ij, *s++);
	}
}

/* Text held with CRLF line ends (the field buffer): keep the lines. */
static void
put_lines(struct inject *ij, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
			put_eol(ij);
			i++;
		} else {
			put(ij, p[i]);
		}
	}
}

/* A quoted-string for a display name (RFC 5322 3.2.4). */
static void
put_quoted(struct inject *ij, const char *s, size_t len)
{
	size_t i;

	put(ij, '"');
	for (i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			continue;
		}
		if (s[i] == '"' || s[i] == '\\') {
			put(ij, '\\');
		}
		put(ij, s[i]);
	}
	put(ij, '"');
}

/* ---- address lists (RFC 5322 3.4) ---- */

struct alist {
	char cur[ADDR_MAX];	/* addr-spec outside <> */
	size_t clen;
	char ang[ADDR_MAX];	/* inside <> */
	size_t alen;
	bool in_angle, have_angle, phrase, last_word, ws, in_group;
};

static bool
is_special(char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL;
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
alist_add(struct alist *a, const char *p, size_t n)
{
	char *dst = a->in_angle ? a->ang : a->cur;
	size_t *dlen = a->in_angle ? &a->alen : &a->clen;

	if (*dlen + n >= ADDR_MAX) {
		return EDGEMTA_E_INVAL;
	}
	memcpy(dst + *dlen, p, n);
	*dlen += n;
	dst[*dlen] = '\0';
	return 0;
}

/* End of one mailbox: hand its address to fn. 1 = emitted, 0 = empty. */
static int
alist_end(struct alist *a, int (*fn)(void *, const char *), void *arg,
    const char **why)
{
	int r = 0;

	if (a->in_angle) {
		*why = "missing '>'";
		return EDGEMTA_E_INVAL;
	}
	if (a->have_angle) {
		if (a->alen > 0) {
			r = fn(arg, a->ang);
			r = r < 0 ? r : 1;
		}
	} else if (a->clen > 0) {
		if (a->phrase) {
			*why = "words without an <address>";
			return EDGEMTA_E_INVAL;
		}
		r = fn(arg, a->cur);
		r = r < 0 ? r : 1;
	}
	a->clen = a->alen = 0;
	a->cur[0] = a->ang[0] = '\0';
	a->have_angle = a->phrase = a->last_word = a->ws = false;
	return r;
}

/* Length of the comment starting at s[0] == '(' or 0 if unterminated. */
static size_t
skip_comment(const char *s, size_t len)
{
	size_t i;
	int depth = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\') {
			i++;
		} else if (s[i] == '(') {
			if (++depth > 32) {
				return 0;
			}
		} else if (s[i] == ')') {
			if (--depth == 0) {
				return i + 1;
			}
		}
	}
	return 0;
}

/* Length of the quoted string or domain literal at s[0], 0 if open. */
static size_t
skip_quoted(const char *s, size_t len, char close)
{
	size_t i;

	for (i = 1; i < len; i++) {
		if (s[i] == '\\') {
			i++;
		} else if (s[i] == close) {
			return i + 1;
		}
	}
	return 0;
}

int
inject_parse_addrs(const char *s, size_t len,
    int (*fn)(void *arg, const char *addr), void *arg,
    char *err, size_t errlen)
{
	struct alist a;
	const char *why = "syntax error";
	size_t i = 0, n;
	int r, count = 0;
	char c;

	memset(&a, 0, sizeof(a));
	while (i < len) {
		c = s[i];
		if (is_wsp(c)) {
			a.ws = true;
			i++;
			continue;
		}
		if (c == '(') {
			n = skip_comment(s + i, len - i);
			if (n == 0) {
				why = "unterminated comment";
				goto fail;
			}
			a.ws = true;
			i += n;
			continue;
		}
		if (c == '"' || c == '[' || !is_special(c)) {
			if (c == '"' || c == '[') {
				n = skip_quoted(s + i, len - i,
				    c == '"' ? '"' : ']');
				if (n == 0) {
					why = "unterminated quote";
					goto fail;
				}
			} else {
				for (n = 0; i + n < len && !is_wsp(s[i + n]) &&
				    !is_special(s[i + n]); n++) {
				}
			}
			if (a.last_word && a.ws) {
				if (a.in_angle) {
					why = "space inside <address>";
					goto fail;
				}
				a.phrase = true;
			}
			if (alist_add(&a, s + i, n) < 0) {
				why = "address too long";
				goto fail;
			}
			a.last_word = true;
			a.ws = false;
			i += n;
			continue;
		}
		i++;
		a.ws = false;
		switch (c) {
		case '<':
			if (a.in_angle || a.have_angle) {
				why = "unexpected '<'";
				goto fail;
			}
			a.in_angle = true;
			a.alen = 0;
			a.last_word = false;
			break;
		case '>':
			if (!a.in_angle) {
				why = "unexpected '>'";
				goto fail;
			}
			a.in_angle = false;
			a.have_angle = true;
			a.last_word = false;
			break;
		case ':':
			if (a.in_angle) {
				a.alen = 0;	/* obsolete route: drop it */
				a.ang[0] = '\0';
				break;
			}
			if (a.in_group || a.have_angle ||
			    memchr(a.cur, '@', a.clen) != NULL) {
				why = "unexpected ':'";
				goto fail;
			}
			a.in_group = true;	/* a.cur was the group name */
			a.clen = 0;
			a.cur[0] = '\0';
			a.phrase = a.last_word = false;
			break;
		case ',':
		case ';':
			if (a.in_angle) {
				if (c == ',') {
					break;	/* route list */
				}
				why = "unexpected ';'";
				goto fail;
			}
			why = NULL;
			r = alist_end(&a, fn, arg, &why);
			if (r < 0) {
				if (why == NULL) {
					return r;	/* from fn */
				}
				goto fail;
			}
			count += r;
			if (c == ';') {
				a.in_group = false;
			}
			break;
		case '@':
		case '.':
			if (alist_add(&a, &c, 1) < 0) {
				why = "address too long";
				goto fail;
			}
			a.last_word = false;
			break;
		default:	/* ')', ']', '\\' out of place */
			why = "unexpected character";
			goto fail;
		}
	}
	why = NULL;
	r = alist_end(&a, fn, arg, &why);
	if (r < 0) {
		if (why == NULL) {
			return r;	/* from fn */
		}
		goto fail;
	}
	return count + r;
fail:
	if (err != NULL && errlen > 0) {
		snprintf(err, errlen, "%s", why);
	}
	return EDGEMTA_E_INVAL;
}

/* ---- header fields ---- */

/* true if line (len) starts a header field: name, optional WSP, ':'. */
static bool
is_field(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && s[i] > 32 && s[i] < 127 && s[i] != ':') {
		i++;
	}
	if (i == 0) {
		return false;
	}
	while (i < len && (s[i] == ' ' || s[i] == '\t')) {
		i++;
	}
	return i < len && s[i] == ':';
}

static int
rcpt_cb(void *arg, const char *addr)
{
	struct inject *ij = arg;

	return ij->o.rcpt(ij->o.arg, addr, ij->errmsg, sizeof(ij->errmsg));
}

/*
 * From: with the address replaced by sender_rewrite, display name kept:
 * the phrase before '<' as written, else the first comment ("root (Cron
 * Daemon)") quoted, else -F quoted.
 */
static void
put_from_rewritten(struct inject *ij, const char *v, size_t len)
{
	size_t i, n, start = 0, end = 0, cstart = 0, clen = 0;

	for (i = 0; i < len; i++) {
		if (v[i] == '"') {
			n = skip_quoted(v + i, len - i, '"');
		} else if (v[i] == '(') {
			n = skip_comment(v + i, len - i);
			if (n > 2 && clen == 0) {
				cstart = i + 1;
				clen = n - 2;
			}
		} else if (v[i] == '<') {
			end = i;
			break;
		} else {
			continue;
		}
		if (n == 0) {
			break;	/* unterminated: no display name */
		}
		i += n - 1;
	}
	while (start < end && is_wsp(v[start])) {
		start++;
	}
	while (end > start && is_wsp(v[end - 1])) {
		end--;
	}
	put_str(ij, "From: ");
	if (end > start) {
		for (i = start; i < end; i++) {
			if (v[i] != '\r' && v[i] != '\n') {
				put(ij, v[i]);
			}
		}
		put(ij, ' ');
	} else if (clen > 0) {
		put_quoted(ij, v + cstart, clen);
		put(ij, ' ');
	} else if (ij->o.full_name[0] != '\0') {
		put_quoted(ij, ij->o.full_name, strlen(ij->o.full_name));
		put(ij, ' ');
	}
	put(ij, '<');
	put_str(ij, ij->o.sender_rewrite);
	put(ij, '>');
	put_eol(ij);
}

/* The complete field in fbuf[0..len) (CRLF after each line). */
static void
field_done(struct inject *ij, size_t len)
{
	const char *f = ij->fbuf, *colon;
	size_t nlen, vlen;
	int r;
	char why[80];

	if (len == 0 || ij->err != 0) {
		return;
	}
	colon = memchr(f, ':', len);
	nlen = (size_t)(colon - f);
	while (nlen > 0 && (f[nlen - 1] == ' ' || f[nlen - 1] == '\t')) {
		nlen--;
	}
	vlen = len - (size_t)(colon + 1 - f);
	if (ieq(f, nlen, "date")) {
		ij->have_date = true;
	} else if (ieq(f, nlen, "message-id")) {
		ij->have_msgid = true;
	} else if (ieq(f, nlen, "from")) {
		ij->have_from = true;
		if (ij->o.sender_rewrite[0] != '\0') {
			put_from_rewritten(ij, colon + 1, vlen);
			return;
		}
	} else if ((ij->o.flags & INJECT_EXTRACT) && (ieq(f, nlen, "to") ||
	    ieq(f, nlen, "cc") || ieq(f, nlen, "bcc"))) {
		r = inject_parse_addrs(colon + 1, vlen, rcpt_cb, ij, why,
		    sizeof(why));
		if (r == EDGEMTA_E_INVAL && ij->errmsg[0] == '\0') {
			snprintf(ij->errmsg, sizeof(ij->errmsg),
			    "malformed %.*s: header: %s", (int)nlen, f, why);
		}
		if (r < 0) {
			set_err(ij, r, "recipient refused");
			return;
		}
	}
	if (ieq(f, nlen, "bcc") || ieq(f, nlen, "resent-bcc")) {
		return;		/* never shown to the recipients */
	}
	put_lines(ij, f, len);
}

static void
end_headers(struct inject *ij)
{
	int r;

	if (!ij->have_date) {
		put_str(ij, "Date: ");
		put_str(ij, ij->o.date);
		put_eol(ij);
	}
	if (!ij->have_msgid) {
		put_str(ij, "Message-ID: ");
		put_str(ij, ij->o.msgid);
		put_eol(ij);
	}
	if (!ij->have_from) {
		put_str(ij, "From: ");
		if (ij->o.full_name[0] != '\0') {
			put_quoted(ij, ij->o.full_name,
			    strlen(ij->o.full_name));
			put_str(ij, " <");
			put_str(ij, ij->o.sender);
			put(ij, '>');
		} else if (ij->o.sender[0] != '\0') {
			put_str(ij, ij->o.sender);
		} else {
			put_str(ij, "MAILER-DAEMON");
		}
		put_eol(ij);
	}
	put_eol(ij);
	oflush(ij);
	ij->opart = INJECT_PART_BODY;
	ij->state = ST_BODY;
	ij->bol = true;
	if (ij->err == 0) {
		r = ij->o.hdr_end(ij->o.arg);
		if (r < 0) {
			set_err(ij, r, "cannot start the transaction");
		}
	}
}

static int
fbuf_add(struct inject *ij, char c)
{
	if (ij->flen >= ij->fcap) {
		snprintf(ij->errmsg, sizeof(ij->errmsg),
		    "header field longer than %lu bytes",
		    (unsigned long)ij->fcap);
		set_err(ij, EDGEMTA_E_TOOBIG, "");
		return EDGEMTA_E_TOOBIG;
	}
	ij->fbuf[ij->flen++] = c;
	return 0;
}

/* A body byte (input side: holds back a '.' at line start). */
static void
body_byte(struct inject *ij, char c)
{
	if (ij->dot_pending) {
		ij->dot_pending = false;
		put(ij, '.');
	} else if (ij->bol && c == '.' &&
	    !(ij->o.flags & INJECT_DOTS_OK)) {
		ij->dot_pending = true;
		ij->bol = false;
		return;
	}
	ij->bol = false;
	put(ij, c);
}

/* Returns 1 when a lone "." ended the input. */
static int
body_eol(struct inject *ij)
{
	if (ij->dot_pending) {
		ij->dot_pending = false;
		ij->state = ST_DONE;
		return 1;
	}
	put_eol(ij);
	ij->bol = true;
	return 0;
}

/* End of one physical header line (without its line end). */
static int
hdr_eol(struct inject *ij)
{
	const char *line = ij->fbuf + ij->line_start;
	size_t len = ij->flen - ij->line_start, i;
	bool first = ij->first_line;

	ij->first_line = false;
	if (len == 1 && line[0] == '.' && !(ij->o.flags & INJECT_DOTS_OK)) {
		field_done(ij, ij->line_start);
		end_headers(ij);
		ij->state = ST_DONE;
		return 1;
	}
	if (first && len >= 5 && memcmp(line, "From ", 5) == 0) {
		ij->flen = ij->line_start;	/* mbox separator */
		return 0;
	}
	if (len > 0 && (line[0] == ' ' || line[0] == '\t') &&
	    ij->line_start > 0) {
		if (fbuf_add(ij, '\r') < 0 || fbuf_add(ij, '\n') < 0) {
			return ij->err;
		}
		ij->line_start = ij->flen;
		return 0;
	}
	field_done(ij, ij->line_start);
	if (len > 0 && is_field(line, len)) {
		memmove(ij->fbuf, line, len);
		ij->flen = len;
		ij->line_start = 0;
		if (fbuf_add(ij, '\r') < 0 || fbuf_add(ij, '\n') < 0) {
			return ij->err;
		}
		ij->line_start = ij->flen;
		return 0;
	}
	/* blank line, or the body started without one */
	ij->flen = ij->line_start = 0;
	end_headers(ij);
	if (len > 0) {
		for (i = 0; i < len; i++) {
			body_byte(ij, line[i]);
		}
		return body_eol(ij);
	}
	return 0;
}

static int
eol(struct inject *ij)
{
	if (ij->state == ST_HDR) {
		return hdr_eol(ij);
	}
	return body_eol(ij);
}

void
inject_init(struct inject *ij, const struct inject_opts *o, char *fbuf,
    size_t fcap)
{
	memset(ij, 0, sizeof(*ij));
	ij->o = *o;
	ij->fbuf = fbuf;
	ij->fcap = fcap;
	ij->state = ST_HDR;
	ij->first_line = true;
	ij->opart = INJECT_PART_HEADER;
}

/* One input byte that is not a line end. */
static void
in_byte(struct inject *ij, char c)
{
	if (ij->state == ST_HDR) {
		(void)fbuf_add(ij, c);
	} else {
		body_byte(ij, c);
	}
}

int
inject_feed(struct inject *ij, const char *p, size_t len)
{
	size_t i;
	char c;

	for (i = 0; i < len && ij->err == 0; i++) {
		if (ij->state == ST_DONE) {
			return 1;
		}
		if (ij->state == ST_FINISHED) {
			set_err(ij, EDGEMTA_E_INVAL, "input after the end");
			break;
		}
		c = p[i];
		if (ij->cr_pending) {
			ij->cr_pending = false;
			if (c == '\n') {
				(void)eol(ij);
				continue;
			}
			in_byte(ij, ' ');	/* bare CR: a space */
			if (ij->err != 0 || ij->state == ST_DONE) {
				continue;
			}
		}
		if (c == '\r') {
			ij->cr_pending = true;
		} else if (c == '\n') {
			(void)eol(ij);
		} else {
			in_byte(ij, c);
		}
	}
	if (ij->err != 0) {
		return ij->err;
	}
	return ij->state == ST_DONE ? 1 : 0;
}

int
inject_finish(struct inject *ij)
{
	if (ij->cr_pending) {
		ij->cr_pending = false;	/* a bare CR at the very end */
		if (ij->err == 0 && ij->state != ST_DONE) {
			in_byte(ij, ' ');
		}
	}
	if (ij->err == 0 && ij->state == ST_HDR) {
		if (ij->flen > ij->line_start) {
			hdr_eol(ij);	/* last line had no line end */
		}
		if (ij->state == ST_HDR) {
			field_done(ij, ij->line_start);
			end_headers(ij);
		}
	}
	if (ij->err == 0 && ij->state == ST_BODY) {
		if (ij->dot_pending) {
			/* "." at EOF: the end */
			ij->dot_pending = false;
		} else if (!ij->bol) {
			put_eol(ij);
		}
	}
	oflush(ij);
	ij->state = ST_FINISHED;
	return ij->err;
}

/* ---- recipients and rewriting ---- */

bool
inject_has_ctl(const char *s, bool tab_ok)
{
	for (; *s != '\0'; s++) {
		if (((unsigned char)*s < 0x20 && !(tab_ok && *s == '\t')) ||
		    *s == 0x7f) {
			return true;
		}
	}
	return false;
}

/* Offset of the last '@' outside quotes, or -1. */
static int
last_at(const char *s)
{
	int i, at = -1;
	bool q = false;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\\' && q && s[i + 1] != '\0') {
			i++;
		} else if (s[i] == '"') {
			q = !q;
		} else if (s[i] == '@' && !q) {
			at = i;
		}
	}
	return at;
}

/* A bare addr-spec as a recipient or sender: no <>, no spaces. */
static bool
addr_ok(const char *s, const char **why)
{
	size_t i, len = strlen(s);
	bool q = false;

	if (len == 0) {
		*why = "empty address";
		return false;
	}
	if (len >= ADDR_MAX) {
		*why = "address too long";
		return false;
	}
	if (inject_has_ctl(s, false)) {
		*why = "control character in address";
		return false;
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '\\' && q && i + 1 < len) {
			i++;
		} else if (s[i] == '"') {
			q = !q;
		} else if (!q && strchr(" \t<>(),;:", s[i]) != NULL) {
			*why = "malformed address";
			return false;
		}
	}
	if (q) {
		*why = "unterminated quote in address";
		return false;
	}
	return true;
}

void
inject_rcpts_init(struct inject_rcpts *r, char *buf, size_t cap,
    unsigned max)
{
	r->buf = buf;
	r->cap = cap;
	r->used = 0;
	r->n = 0;
	r->max = max;
}

const char *
inject_rcpt_get(const struct inject_rcpts *r, unsigned i)
{
	const char *p = r->buf;

	while (i-- > 0) {
		p += strlen(p) + 1;
	}
	return p;
}

static int
rcpt_store(struct inject_rcpts *r, const char *a, const char *dom,
    char *err, size_t errlen)
{
	size_t alen = strlen(a), dlen = dom != NULL ? strlen(dom) + 1 : 0;
	const char *p = r->buf;
	unsigned i;

	if (alen + dlen >= ADDR_MAX) {
		snprintf(err, errlen, "address too long: %.64s", a);
		return EDGEMTA_E_INVAL;
	}
	for (i = 0; i < r->n; i++, p += strlen(p) + 1) {
		if (strncmp(p, a, alen) == 0 && (dom == NULL ?
		    p[alen] == '\0' : (p[alen] == '@' &&
		    strcmp(p + alen + 1, dom) == 0))) {
			return 0;	/* duplicate */
		}
	}
	if (r->n >= r->max || r->used + alen + dlen + 1 > r->cap) {
		snprintf(err, errlen, "too many recipients (limit %u)",
		    r->max);
		return EDGEMTA_E_FULL;
	}
	memcpy(r->buf + r->used, a, alen);
	if (dom != NULL) {
		r->buf[r->used + alen] = '@';
		memcpy(r->buf + r->used + alen + 1, dom, dlen - 1);
	}
	r->used += alen + dlen;
	r->buf[r->used++] = '\0';
	r->n++;
	return 0;
}

/* true if the word w (wlen) is name (nlen), ignoring case. */
static bool
word_is(const char *w, size_t wlen, const char *name, size_t nlen)
{
	size_t k;

	if (wlen != nlen) {
		return false;
	}
	for (k = 0; k < nlen; k++) {
		if (lower((unsigned char)w[k]) !=
		    lower((unsigned char)name[k])) {
			return false;
		}
	}
	return true;
}

/* The domain of addr (after its last '@') is ours: localhost, myhostname. */
static bool
local_domain(const struct inject_rewrite *rw, const char *dom)
{
	return ieq(dom, strlen(dom), "localhost") ||
	    ieq(dom, strlen(dom), rw->myhostname);
}

bool
inject_is_local(const struct inject_rewrite *rw, const char *addr)
{
	int at = last_at(addr);

	return at < 0 || local_domain(rw, addr + at + 1);
}

bool
inject_is_postmaster(const struct inject_rewrite *rw, const char *addr)
{
	int at = last_at(addr);

	return ieq(addr, at < 0 ? strlen(addr) : (size_t)at, "postmaster") &&
	    inject_is_local(rw, addr);
}

/*
 * Find name in the aliases string ("n1 n2: a, b; n3: c"); on a match
 * return the target list and its length through *t, *tlen.
 */
static bool
alias_find(const char *al, const char *name, size_t nlen, const char **t,
    size_t *tlen)
{
	const char *e, *colon, *p, *w;

	while (*al != '\0') {
		e = al + strcspn(al, ";\n");
		colon = memchr(al, ':', (size_t)(e - al));
		for (p = al; colon != NULL && p < colon;) {
			while (p < colon && strchr(" \t,", *p) != NULL) {
				p++;
			}
			for (w = p; p < colon && strchr(" \t,", *p) == NULL;
			    p++) {
			}
			if (word_is(w, (size_t)(p - w), name, nlen)) {
				*t = colon + 1;
				*tlen = (size_t)(e - colon - 1);
				return true;
			}
		}
		al = *e != '\0' ? e + 1 : e;
	}
	return false;
}

/*
 * to_admin: a local name without an alias goes to the admin address
 * (itself looked up once more with to_admin false, so a bare admin
 * name can be an alias too).
 */
static int
rcpt_add(struct inject_rcpts *r, const struct inject_rewrite *rw,
    const char *addr, int depth, bool to_admin, char *err, size_t errlen)
{
	const char *why = NULL, *t, *dom = NULL;
	char name[ADDR_MAX], one[ADDR_MAX];
	size_t tlen, i, n;
	int at, rc;

	if (!addr_ok(addr, &why)) {
		snprintf(err, errlen, "%s: %.64s", why, addr);
		return EDGEMTA_E_INVAL;
	}
	at = last_at(addr);
	if (at == 0 || (at > 0 && addr[at + 1] == '\0')) {
		snprintf(err, errlen, "malformed address: %.64s", addr);
		return EDGEMTA_E_INVAL;
	}
	if (at > 0) {
		dom = addr + at + 1;
		if (!local_domain(rw, dom)) {
			return rcpt_store(r, addr, NULL, err, errlen);
		}
	}
	/* a local name */
	n = at > 0 ? (size_t)at : strlen(addr);
	memcpy(name, addr, n);
	name[n] = '\0';
	if (depth < 4 && alias_find(rw->aliases, name, n, &t, &tlen)) {
		for (i = 0; i < tlen;) {
			while (i < tlen && strchr(" \t,", t[i])) {
				i++;
			}
			for (n = 0; i + n < tlen && !strchr(" \t,", t[i + n]);
			    n++) {
			}
			if (n == 0) {
				break;
			}
			if (n >= ADDR_MAX) {
				snprintf(err, errlen, "alias target too long");
				return EDGEMTA_E_INVAL;
			}
			memcpy(one, t + i, n);
			one[n] = '\0';
			rc = rcpt_add(r, rw, one, depth + 1, true, err,
			    errlen);
			if (rc < 0) {
				return rc;
			}
			i += n;
		}
		return 0;
	}
	if (to_admin && rw->admin[0] != '\0') {
		return rcpt_add(r, rw, rw->admin, depth + 1, false, err,
		    errlen);
	}
	if (rw->myorigin[0] != '\0') {
		return rcpt_store(r, name, rw->myorigin, err, errlen);
	}
	return rcpt_store(r, addr, NULL, err, errlen);
}

int
inject_rcpt_add(struct inject_rcpts *r, const struct inject_rewrite *rw,
    const char *addr, char *err, size_t errlen)
{
	return rcpt_add(r, rw, addr, 0, true, err, errlen);
}

/* ---- alias loops (for conf_validate) ---- */

#define ALIAS_DEPTH 16
#define ALIAS_STEPS 4096	/* bounds the walk of a hostile list */

struct alias_walk {
	const char *al, *host;
	const char *path[ALIAS_DEPTH];
	size_t plen[ALIAS_DEPTH];
	unsigned depth, steps;
	char *chain;
	size_t len;
};

/* name (n) leads back to a name on the path: write the chain. */
static bool
alias_walk(struct alias_walk *aw, const char *name, size_t n)
{
	const char *t, *w;
	size_t tlen, i, wn, o;
	unsigned d, k;

	if (++aw->steps > ALIAS_STEPS || aw->depth == ALIAS_DEPTH) {
		return false;
	}
	for (d = 0; d < aw->depth; d++) {
		if (word_is(aw->path[d], aw->plen[d], name, n)) {
			for (o = 0, k = d; k < aw->depth && o < aw->len; k++) {
				o += (size_t)snprintf(aw->chain + o,
				    aw->len - o, "%.*s -> ",
				    (int)MIN(aw->plen[k], 64), aw->path[k]);
			}
			if (o < aw->len) {
				snprintf(aw->chain + o, aw->len - o, "%.*s",
				    (int)MIN(n, 64), name);
			}
			return true;
		}
	}
	if (!alias_find(aw->al, name, n, &t, &tlen)) {
		return false;
	}
	aw->path[aw->depth] = name;
	aw->plen[aw->depth++] = n;
	for (i = 0; i < tlen;) {
		while (i < tlen && strchr(" \t,", t[i])) {
			i++;
		}
		for (wn = 0; i + wn < tlen && !strchr(" \t,", t[i + wn]);
		    wn++) {
		}
		w = t + i;
		i += wn;
		/* only a local target is looked up again (rcpt_add) */
		for (k = 0; k < wn && w[wn - 1 - k] != '@'; k++) {
		}
		if (k < wn && !ieq(w + wn - k, k, "localhost") &&
		    !(aw->host[0] != '\0' && ieq(w + wn - k, k, aw->host))) {
			continue;
		}
		if (k < wn) {
			wn -= k + 1;
		}
		if (wn > 0 && alias_walk(aw, w, wn)) {
			return true;
		}
	}
	aw->depth--;
	return false;
}

bool
inject_alias_loop(const char *aliases, const char *myhostname, char *chain,
    size_t len)
{
	static const char sep[] = " \t,;:\n";
	struct alias_walk aw;
	const char *p = aliases;
	size_t n;

	memset(&aw, 0, sizeof(aw));
	aw.al = aliases;
	aw.host = myhostname;
	aw.chain = chain;
	aw.len = len;
	/* start from every word: a loop passes through an alias name */
	while (*p != '\0') {
		p += strspn(p, sep);
		n = strcspn(p, sep);
		if (n > 0 && alias_walk(&aw, p, n)) {
			return true;
		}
		p += n;
	}
	return false;
}

int
inject_sender(const struct inject_rewrite *rw, const char *sender,
    char *out, char *err, size_t errlen)
{
	const char *why = NULL;
	size_t len = strlen(sender);
	int at;

	if (len >= 2 && sender[0] == '<' && sender[len - 1] == '>') {
		sender++;
		len -= 2;
	}
	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	if (rw->sender_rewrite[0] != '\0') {
		sender = rw->sender_rewrite;
		len = strlen(sender);
	}
	if (len >= ADDR_MAX) {
		snprintf(err, errlen, "sender address too long");
		return EDGEMTA_E_INVAL;
	}
	memcpy(out, sender, len);
	out[len] = '\0';
	if (!addr_ok(out, &why)) {
		snprintf(err, errlen, "sender: %s", why);
		out[0] = '\0';
		return EDGEMTA_E_INVAL;
	}
	at = last_at(out);
	if (at == 0 || (at > 0 && out[at + 1] == '\0')) {
		snprintf(err, errlen, "sender: malformed address");
		out[0] = '\0';
		return EDGEMTA_E_INVAL;
	}
	if (at < 0 && rw->myorigin[0] != '\0') {
		if (len + 1 + strlen(rw->myorigin) >= ADDR_MAX) {
			snprintf(err, errlen, "sender address too long");
			return EDGEMTA_E_INVAL;
		}
		out[len] = '@';
		strcpy(out + len + 1, rw->myorigin);
	}
	return 0;
}

char *
inject_make_msgid(char *buf, size_t len, int64_t t, const uint8_t *rnd,
    size_t rndlen, const char *host)
{
	static const char hex[] = "0123456789ABCDEF";
	char r[33], ts[U64_STRLEN];
	size_t i;

	for (i = 0; i < rndlen && i < 16; i++) {
		r[2 * i] = hex[rnd[i] >> 4];
		r[2 * i + 1] = hex[rnd[i] & 15];
	}
	r[2 * i] = '\0';
	snprintf(buf, len, "<%s.%s@%s>", u64_str(ts, (uint64_t)t, 16), r,
	    host[0] != '\0' ? host : "localhost");
	return buf;
}
