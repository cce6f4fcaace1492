/*
 * smtp_data.c - the DATA decoder; policy in smtp_data.h.
 *
 * Why so strict (SMTP smuggling, 2023): a relay that accepts another end
 * of data than <CRLF>.<CRLF> - "\n.\r\n", "\r.\r\n", "\n.\n",
 * "\r\n.\n", "\r\n.\r" plus NUL variants such as "\r\n\0.\r\n" - lets
 * an attacker hide a second transaction ("MAIL FROM:<ceo@bank>...")
 * inside one message. If we passed those bytes on raw, the next hop
 * (which may end DATA at "\n.\n") would see two messages where we saw
 * one, the second with a forged sender that our SPF/DKIM vouch for.
 * Here none of those sequences ends the data: they stay message content,
 * and since they contain a bare CR, a bare LF or a NUL, the whole message
 * is refused with a 5xx at its real end. Nothing is normalised, so what
 * we store is exactly what a strict peer would see.
 *
 * The decoder never holds output back across calls: the only byte held
 * is the '.' at a line start (dropped in every outcome: unstuffed, or the
 * terminator) and the CR after it (output only when it turns out to be a
 * bare CR, i.e. never, because the message is then refused). So output
 * never outruns input and decoding in place is safe.
 */
#include <string.h>

#include "smtp_data.h"

enum {
	ST_BOL = 0,	/* at a line start (content starts here) */
	ST_TEXT,	/* inside a line */
	ST_CR,		/* inside a line, after CR */
	ST_DOT,		/* after a '.' at a line start */
	ST_DOT_CR	/* after ".\r" at a line start */
};

void
smtp_data_init(struct smtp_data *d, uint64_t limit)
{
	d->state = ST_BOL;
	d->err = SMTP_DATA_OK;
	d->done = false;
	d->line_len = 0;
	d->size = 0;
	d->limit = limit;
}

static void
smtp_data_fail(struct smtp_data *d, uint8_t err)
{
	if (d->err == SMTP_DATA_OK) {
		d->err = err;
	}
}

/* One decoded octet: count it, check the limits, output it if clean. */
static void
smtp_data_emit(struct smtp_data *d, uint8_t c, uint8_t *out, size_t *n)
{
	d->size++;
	d->line_len++;
	if (d->line_len > SMTP_DATA_LINE_MAX) {
		smtp_data_fail(d, SMTP_DATA_E_LINE);
	}
	if (d->limit != 0 && d->size > d->limit) {
		smtp_data_fail(d, SMTP_DATA_E_SIZE);
	}
	if (d->err == SMTP_DATA_OK) {
		out[(*n)++] = c;
	}
}

/* An octet inside a line (ST_TEXT semantics). */
static void
smtp_data_text(struct smtp_data *d, uint8_t c, uint8_t *out, size_t *n)
{
	d->state = ST_TEXT;
	if (c == '\r') {
		d->state = ST_CR;
	} else if (c == '\n') {
		/* bare LF: content, never a line end */
		smtp_data_fail(d, SMTP_DATA_E_BARE);
	} else if (c == '\0') {
		smtp_data_fail(d, SMTP_DATA_E_NUL);
	}
	smtp_data_emit(d, c, out, n);
}

/* Whether some byte of w is 0 (exact as a yes or no). */
#define SMTP_DATA_HASZERO(w) (((w) - 0x0101010101010101ull) & ~(w) & \
	0x8080808080808080ull)

/*
 * Inside a line: take the run of plain octets (no CR, LF or NUL) at in
 * at once, exactly as smtp_data_emit() would one by one (the same output
 * up to the first octet over a limit, the same error). Returns its length.
 */
static size_t
smtp_data_run(struct smtp_data *d, const uint8_t *in, size_t len,
    uint8_t *out, size_t *n)
{
	size_t k = 0, ok;
	uint8_t e = SMTP_DATA_OK;
	uint64_t w;

	/* eight octets at a time while none is CR, LF or NUL */
	for (; k + 8 <= len; k += 8) {
		memcpy(&w, in + k, 8);
		if (SMTP_DATA_HASZERO(w) ||
		    SMTP_DATA_HASZERO(w ^ 0x0d0d0d0d0d0d0d0dull) ||
		    SMTP_DATA_HASZERO(w ^ 0x0a0a0a0a0a0a0a0aull)) {
			break;
		}
	}
	while (k < len && in[k] != '\r' && in[k] != '\n' && in[k] != '\0') {
		k++;
	}
	ok = k;
	if (d->line_len + ok > SMTP_DATA_LINE_MAX) {
		ok = d->line_len >= SMTP_DATA_LINE_MAX ? 0 :
		    SMTP_DATA_LINE_MAX - d->line_len;
		e = SMTP_DATA_E_LINE;
	}
	if (d->limit != 0 && d->size + ok > d->limit) {
		ok = d->size >= d->limit ? 0 : (size_t)(d->limit - d->size);
		e = SMTP_DATA_E_SIZE;
	}
	if (d->err == SMTP_DATA_OK) {
		memmove(out + *n, in, ok);
		*n += ok;
	}
	if (e != SMTP_DATA_OK) {
		smtp_data_fail(d, e);
	}
	d->size += k;
	d->line_len += (uint32_t)k;
	return k;
}

size_t
smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen)
{
	size_t i, k, n = 0;

	for (i = 0; i < len && !d->done; i++) {
		uint8_t c = in[i];

		switch (d->state) {
		case ST_BOL:
			if (c == '.') {
				d->state = ST_DOT;
			} else {
				smtp_data_text(d, c, out, &n);
			}
			break;
		case ST_CR:
			if (c == '\n') {
				smtp_data_emit(d, c, out, &n);
				d->line_len = 0;
				d->state = ST_BOL;
			} else {
				/* bare CR (the CR was already emitted) */
				smtp_data_fail(d, SMTP_DATA_E_BARE);
				smtp_data_text(d, c, out, &n);
			}
			break;
		case ST_DOT:
			if (c == '\r') {
				d->state = ST_DOT_CR;
			} else {
				/* transparency: drop the leading dot */
				smtp_data_text(d, c, out, &n);
			}
			break;
		case ST_DOT_CR:
			if (c == '\n') {
				d->done = true;
			} else {
				/* ".\r" then not LF: a bare CR */
				smtp_data_fail(d, SMTP_DATA_E_BARE);
				smtp_data_emit(d, '\r', out, &n);
				smtp_data_text(d, c, out, &n);
			}
			break;
		default:
			k = smtp_data_run(d, in + i, len - i, out, &n);
			if (k > 0) {
				i += k - 1;
			} else {
				smtp_data_text(d, c, out, &n);
			}
			break;
		}
	}
	*outlen = n;
	return i;
}

const char *
smtp_data_reply(const struct smtp_data *d)
{
	switch (d->err) {
	case SMTP_DATA_E_BARE:
		return "550 5.6.11 Message contains bare CR or LF; lines must "
		    "end with CRLF (RFC 5321 2.3.8)";
	case SMTP_DATA_E_NUL:
		return "550 5.6.0 Message contains NUL characters";
	case SMTP_DATA_E_LINE:
		return "552 5.6.0 Message line too long (limit 1000 octets, "
		    "RFC 5321 4.5.3.1.6)";
	case SMTP_DATA_E_SIZE:
		return "552 5.3.4 Message size exceeds fixed limit";
	default:
		return NULL;
	}
}
