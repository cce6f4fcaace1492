/*
 * inject.h - local submission (the sendmail injector): header fix-ups,
 * -t recipient extraction and address rewriting, OS-free.
 *
 * The message arrives in chunks of any size (LF-only or CRLF line ends;
 * a bare CR is not a line end anywhere, it becomes a space) and leaves through out() with CRLF line ends, a final
 * line end added when missing, lines longer than 998 octets split
 * (RFC 5322 2.1.1) and, with INJECT_SMTP, dot-stuffed for DATA.
 *
 * Header block: fields are kept whole (folded lines included) in a
 * caller-provided buffer until the next field starts, then passed
 * through, rewritten or dropped:
 *  - Bcc: is dropped (with its continuation lines) when -t;
 *  - To:, Cc:, Bcc: give recipients to rcpt() when -t (RFC 5322 3.4
 *    address lists: display names, groups, comments, quoted strings);
 *  - From: gets the address of sender_rewrite, keeping its display name;
 *  - Date:, Message-ID:, From: are added at the end of the block when
 *    missing.
 * A leading Unix "From " line is dropped. A line that is not a header
 * field ends the block (a blank separator line is inserted).
 *
 * Nothing is allocated: the caller owns struct inject, the field buffer
 * and every string in struct inject_opts for the life of the injection.
 */
#ifndef INJECT_H
#define INJECT_H

#include "edgemta.h"
#include "addr.h"

#define INJECT_EXTRACT 0x1u	/* -t: recipients from To/Cc/Bcc */
#define INJECT_DOTS_OK 0x2u	/* -i: a lone "." line does not end input */
#define INJECT_SMTP 0x4u	/* dot-stuff the output for SMTP DATA */

#define INJECT_LINE_MAX 998	/* RFC 5322 2.1.1, without CRLF */
#define INJECT_ERR_MAX 160
#define INJECT_OBUF 512

enum inject_part {
	INJECT_PART_HEADER = 0,
	INJECT_PART_BODY = 1
};

/* Which address rewriting applies (all strings "" when unused). */
struct inject_rewrite {
	const char *aliases;	/* conf "aliases": "name: a@b, c; n2: x" */
	const char *admin;	/* bounce_notice_recipient */
	const char *myorigin;	/* domain that qualifies bare names */
	const char *myhostname;	/* name@myhostname counts as local too */
	const char *sender_rewrite;
};

struct inject_opts {
	unsigned flags;		/* INJECT_* */
	const char *sender;	/* envelope sender, final ("" = <>) */
	const char *full_name;	/* -F, or "" */
	const char *date;	/* "Sat, 28 Nov 2026 13:04:05 +0000" */
	const char *msgid;	/* "<...@host>" (inject_make_msgid) */
	const char *sender_rewrite;	/* "" or the From: address to set */
	/*
	 * Called for each address found in To/Cc/Bcc with -t (raw, as
	 * written, NUL-terminated). Returns 0, or a negative error that
	 * stops the injection after writing its reason into err (errlen).
	 */
	int (*rcpt)(void *arg, const char *addr, char *err, size_t errlen);
	/*
	 * Called with output bytes, header part first, then body. Return 0
	 * or a negative error that stops the injection.
	 */
	int (*out)(void *arg, enum inject_part part, const char *p,
	    size_t len);
	/*
	 * Called once after the last header byte (the blank separator
	 * line included) went to out() and before the first body byte:
	 * recipients are complete now. 0 or a negative error.
	 */
	int (*hdr_end)(void *arg);
	void *arg;
};

struct inject {
	struct inject_opts o;
	char *fbuf;		/* caller's buffer for one header field */
	size_t fcap;
	size_t flen;		/* bytes of the field(s) held in fbuf */
	size_t line_start;	/* offset of the line being read in fbuf */
	uint8_t state;		/* private */
	bool cr_pending;	/* last byte was a CR: line end if LF */
	bool dot_pending;	/* a '.' at line start, -i not given */
	bool first_line;
	bool bol;		/* body: at the start of an input line */
	bool have_date, have_msgid, have_from;
	bool in_bcc;
	int err;		/* first error; once set, everything fails */
	unsigned col;		/* output column */
	enum inject_part opart;
	size_t olen;
	char obuf[INJECT_OBUF];
	char errmsg[INJECT_ERR_MAX];	/* human text for err */
};

/*
 * Start an injection. fbuf (fcap bytes, >= 1024) holds the header field
 * being read: a longer field makes the injection fail with
 * EDGEMTA_E_TOOBIG. The strings of o must outlive the injection.
 */
void inject_init(struct inject *ij, const struct inject_opts *o,
    char *fbuf, size_t fcap);

/*
 * Feed len bytes of the message. Returns 0 (more input wanted), 1 when
 * the message ended with a lone "." line (no -i: stop reading; call
 * inject_finish()), or a negative error with ij->errmsg set.
 */
int inject_feed(struct inject *ij, const char *p, size_t len);

/*
 * End of input: completes the header block (if still in it, so
 * hdr_end() is called even for an empty message), adds the missing line
 * end and flushes the output. 0 or a negative error.
 */
int inject_finish(struct inject *ij);

/*
 * Parse an RFC 5322 address-list (s, len; may contain folded CRLFs) and
 * call fn(arg, addr) with each mailbox's addr-spec, NUL-terminated
 * (group names, display names and comments dropped; quoted local parts
 * kept as written). Empty members are skipped. Returns the number of
 * addresses, a negative value returned by fn, or EDGEMTA_E_INVAL with a
 * message in err (errlen) for a malformed list.
 */
int inject_parse_addrs(const char *s, size_t len,
    int (*fn)(void *arg, const char *addr), void *arg,
    char *err, size_t errlen);

/* ---- recipient list and rewriting ---- */

/* Recipients packed NUL-separated in a caller's buffer; no duplicates. */
struct inject_rcpts {
	char *buf;
	size_t cap, used;
	unsigned n;
	unsigned max;		/* CONFIG_SMTP_MAX_RCPT */
};

void inject_rcpts_init(struct inject_rcpts *r, char *buf, size_t cap,
    unsigned max);

/*
 * Rewrite addr and add the result(s) to r: a local name (no domain,
 * @localhost or @myhostname) is looked up in aliases (case-insensitive,
 * up to 4 levels), else goes to admin when set, else is qualified with
 * myorigin. Duplicates are added once. Returns 0, EDGEMTA_E_FULL (more
 * than r->max recipients or the buffer is full) or EDGEMTA_E_INVAL (an
 * empty or malformed address: control characters, spaces outside
 * quotes, longer than ADDR_MAX - 1), with a message in err.
 */
int inject_rcpt_add(struct inject_rcpts *r, const struct inject_rewrite *rw,
    const char *addr, char *err, size_t errlen);

/*
 * true if a local name of aliases leads back to itself (a: b; b: a), with
 * the chain "a -> b -> a" in chain (len). Targets are local as for
 * inject_rcpt_add (no domain, @localhost or @myhostname).
 */
bool inject_alias_loop(const char *aliases, const char *myhostname,
    char *chain, size_t len);

/* true if addr has no domain or is @localhost or @myhostname. */
bool inject_is_local(const struct inject_rewrite *rw, const char *addr);

/* true if addr is a local (see above) "postmaster", in any case. */
bool inject_is_postmaster(const struct inject_rewrite *rw, const char *addr);

/* Recipient i (0 <= i < r->n) of r, NUL-terminated. */
const char *inject_rcpt_get(const struct inject_rcpts *r, unsigned i);

/*
 * The envelope sender into out (ADDR_MAX): sender_rewrite when set and
 * the sender is not the null sender, else sender qualified with myorigin
 * when it has no domain. "<>" or "" gives "". Returns 0 or
 * EDGEMTA_E_INVAL (malformed, message in err).
 */
int inject_sender(const struct inject_rewrite *rw, const char *sender,
    char *out, char *err, size_t errlen);

/*
 * A Message-ID "<HEX.HEX@host>" from the time and random bytes into buf.
 * Returns buf.
 */
char *inject_make_msgid(char *buf, size_t len, int64_t t,
    const uint8_t *rnd, size_t rndlen, const char *host);

/* true if s contains a control character (CR, LF, NUL excluded by C,
 * any byte < 0x20 or 0x7f) other than TAB when tab_ok. */
bool inject_has_ctl(const char *s, bool tab_ok);

#endif
