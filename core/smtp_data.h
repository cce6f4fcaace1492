/*
 * smtp_data.h - the SMTP DATA decoder (RFC 5321 4.1.1.4, 4.5.2).
 *
 * Pure and allocation-free: the caller embeds a struct smtp_data, feeds
 * it the received bytes in chunks of any size (a terminator may be split
 * across chunks, down to one byte per call) and gets back the message
 * with dot-stuffing undone.
 *
 * Policy (SMTP smuggling, RFC 5321 2.3.8):
 * - Only <CRLF>.<CRLF> ends the data. The content starts at a line start,
 *   so ".\r\n" as the very first line is an empty message.
 * - A bare LF or a bare CR is never a line end. A message containing one
 *   is REJECTED as a whole when its real end arrives:
 *   "550 5.6.11 Message contains bare CR or LF; ..." (never normalised,
 *   never passed through raw).
 * - A NUL octet rejects the message: "550 5.6.0".
 * - A text line longer than 1000 octets including CRLF (not counting the
 *   stuffed dot, RFC 5321 4.5.3.1.6) rejects it: "552 5.6.0".
 * - More decoded octets than the size limit rejects it: "552 5.3.4".
 * The first problem found is the one reported. After an error the
 * decoder produces no more output but keeps scanning for the real end,
 * so the session stays in sync with the client.
 */
#ifndef SMTP_DATA_H
#define SMTP_DATA_H

#include "edgemta.h"

#define SMTP_DATA_LINE_MAX 1000	/* octets including CRLF */

enum smtp_data_error {
	SMTP_DATA_OK = 0,
	SMTP_DATA_E_BARE,	/* bare CR or bare LF */
	SMTP_DATA_E_NUL,	/* NUL octet */
	SMTP_DATA_E_LINE,	/* text line over SMTP_DATA_LINE_MAX */
	SMTP_DATA_E_SIZE	/* message over the size limit */
};

struct smtp_data {
	uint8_t state;		/* private */
	uint8_t err;		/* enum smtp_data_error, first found */
	bool done;		/* the terminating <CRLF>.<CRLF> was seen */
	uint32_t line_len;	/* decoded octets of the current line */
	uint64_t size;		/* decoded octets so far (counts on after
				 * an error) */
	uint64_t limit;		/* 0 = no limit */
};

/* Start decoding a new message of at most limit octets (0 = no limit). */
void smtp_data_init(struct smtp_data *d, uint64_t limit);

/*
 * Decode up to len bytes of in. Decoded bytes go to out (room for len
 * bytes; out may equal in: output never runs ahead of input) and their
 * count to *outlen; nothing is output once d->err is set. Returns the
 * number of input bytes consumed: all of them, or fewer when the end
 * of data was reached (d->done; the rest belongs to the next command).
 * The caller owns every buffer; nothing is kept between calls.
 */
size_t smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen);

/*
 * The full SMTP reply line (without CRLF) for d->err, or NULL when there
 * is no error. Static text.
 */
const char *smtp_data_reply(const struct smtp_data *d);

#endif
