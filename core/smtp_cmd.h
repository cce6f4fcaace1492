/*
 * smtp_cmd.h - the SMTP server's command-line parser (RFC 5321 4.1),
 * pure functions without sockets so that unit tests and fuzzers reach
 * them directly.
 *
 * Framing: a command line ends at CRLF only. A bare CR or bare LF inside
 * a command line is never a line end (SMTP smuggling); the line is
 * refused as a whole. A line is at most SMTP_CMD_LINE_MAX octets
 * including the CRLF (RFC 5321 4.5.3.1.4).
 */
#ifndef SMTP_CMD_H
#define SMTP_CMD_H

#include "edgemta.h"
#include "addr.h"

#define SMTP_CMD_LINE_MAX 512	/* octets including CRLF */

enum smtp_cmd_verb {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_VRFY,
	SMTP_CMD_HELP,
	SMTP_CMD_XQUEUE,	/* admin, local socket only */
	SMTP_CMD_STARTTLS,	/* RFC 3207 */
	SMTP_CMD_AUTH,		/* RFC 4954 */
	SMTP_CMD_COUNT
};

enum smtp_cmd_frame {
	SMTP_CMD_F_PARTIAL = 0,	/* no CRLF yet: wait for more input */
	SMTP_CMD_F_LINE,	/* a command of *linelen octets (no CRLF) */
	SMTP_CMD_F_BAD,		/* bare CR/LF or NUL inside: 500 5.5.2 */
	SMTP_CMD_F_TOOLONG,	/* over the limit, CRLF reached: 500 5.5.2 */
	SMTP_CMD_F_OVERFLOW	/* over the limit, no CRLF yet: discard */
};

/*
 * Find the next command line at buf[0..len). Returns an enum
 * smtp_cmd_frame; *used is the number of octets the caller consumes
 * (through the CRLF for LINE, BAD and TOOLONG; 0 for PARTIAL; for
 * OVERFLOW everything except a trailing CR, and the caller then calls
 * smtp_cmd_discard() on later input until it returns true).
 */
int smtp_cmd_frame(const uint8_t *buf, size_t len, size_t *linelen,
    size_t *used);

/*
 * Discard mode after OVERFLOW: *used octets of buf[0..len) to drop.
 * Returns true when they include the CRLF that ends the long line.
 */
bool smtp_cmd_discard(const uint8_t *buf, size_t len, size_t *used);

/*
 * Split a command line (NUL-terminated, modified in place: trailing
 * spaces removed) into its verb (case-insensitive) and *arg, the text
 * after the verb and its spaces ("" if none; points into line).
 * Returns the enum smtp_cmd_verb (SMTP_CMD_UNKNOWN when not known).
 */
int smtp_cmd_parse(char *line, const char **arg);

/* The upper-case name of a verb ("HELO"), "unknown" for others. */
const char *smtp_cmd_name(int verb);

/* Results of the MAIL / RCPT argument parsers. */
enum smtp_cmd_result {
	SMTP_CMD_OK = 0,
	SMTP_CMD_E_SYNTAX = -1,	/* 501 5.5.4: not "FROM:<path> ..." */
	SMTP_CMD_E_ADDR = -2,	/* 501 5.1.7 / 5.1.3: bad address */
	SMTP_CMD_E_PARAM = -3,	/* 555 5.5.4: unknown parameter */
	SMTP_CMD_E_VALUE = -4	/* 501 5.5.4: bad parameter value */
};

#define SMTP_BODY_NONE 0
#define SMTP_BODY_7BIT 1
#define SMTP_BODY_8BITMIME 2

struct smtp_cmd_mail {
	char addr[ADDR_MAX];	/* "" = null sender <> */
	uint32_t size;		/* SIZE= (RFC 1870), 0 if absent; values
				 * beyond 32 bits become UINT32_MAX */
	uint8_t body;		/* SMTP_BODY_* (RFC 6152) */
	bool smtputf8;		/* SMTPUTF8 (RFC 6531) */
};

/*
 * Parse the argument of MAIL: "FROM:<path>" then space-separated
 * parameters SIZE=n, BODY=7BIT|8BITMIME, SMTPUTF8 (case-insensitive,
 * each at most once). Spaces after the colon are tolerated. Fills *out.
 * Returns an enum smtp_cmd_result.
 */
int smtp_cmd_mail(const char *arg, struct smtp_cmd_mail *out);

/*
 * Parse the argument of RCPT: "TO:<path>"; no parameters are known
 * (any gives SMTP_CMD_E_PARAM); the null path is SMTP_CMD_E_ADDR.
 * Copies the mailbox into addr (ADDR_MAX). Returns an enum
 * smtp_cmd_result.
 */
int smtp_cmd_rcpt(const char *arg, char *addr);

/* true if s holds an octet >= 0x80 (needs SMTPUTF8). */
bool smtp_cmd_is_utf8(const char *s);

#endif
