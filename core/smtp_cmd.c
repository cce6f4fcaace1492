/*
 * smtp_cmd.c - command framing and parsing for the SMTP server.
 *
 * Nothing here knows about sessions or sockets; smtp_in.c owns the
 * state machine and maps the results to replies.
 */
#include <string.h>

#include "smtp_cmd.h"

static const char *const smtp_cmd_names[SMTP_CMD_COUNT] = {
	[SMTP_CMD_UNKNOWN] = "unknown",
	[SMTP_CMD_HELO] = "HELO",
	[SMTP_CMD_EHLO] = "EHLO",
	[SMTP_CMD_MAIL] = "MAIL",
	[SMTP_CMD_RCPT] = "RCPT",
	[SMTP_CMD_DATA] = "DATA",
	[SMTP_CMD_RSET] = "RSET",
	[SMTP_CMD_NOOP] = "NOOP",
	[SMTP_CMD_QUIT] = "QUIT",
	[SMTP_CMD_VRFY] = "VRFY",
	[SMTP_CMD_HELP] = "HELP",
	[SMTP_CMD_XQUEUE] = "XQUEUE",
	[SMTP_CMD_STARTTLS] = "STARTTLS",
	[SMTP_CMD_AUTH] = "AUTH",
};

static int
smtp_cmd_upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* Case-insensitive prefix test: does s start with the upper-case p? */
static bool
smtp_cmd_prefix(const char *s, const char *p)
{
	for (; *p != '\0'; s++, p++) {
		if (smtp_cmd_upper((unsigned char)*s) != *p) {
			return false;
		}
	}
	return true;
}

int
smtp_cmd_frame(const uint8_t *buf, size_t len, size_t *linelen,
    size_t *used)
{
	size_t i, end = len;

	*linelen = 0;
	*used = 0;
	for (i = 0; i + 1 < len; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n') {
			end = i;
			break;
		}
	}
	if (end == len) {
		if (len < SMTP_CMD_LINE_MAX) {
			return SMTP_CMD_F_PARTIAL;
		}
		/* keep a trailing CR: it may start the CRLF */
		*used = buf[len - 1] == '\r' ? len - 1 : len;
		return SMTP_CMD_F_OVERFLOW;
	}
	*used = end + 2;
	if (end + 2 > SMTP_CMD_LINE_MAX) {
		return SMTP_CMD_F_TOOLONG;
	}
	for (i = 0; i < end; i++) {
		if (buf[i] == '\r' || buf[i] == '\n' || buf[i] == '\0') {
			return SMTP_CMD_F_BAD;
		}
	}
	*linelen = end;
	return SMTP_CMD_F_LINE;
}

bool
smtp_cmd_discard(const uint8_t *buf, size_t len, size_t *used)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n') {
			*used = i + 2;
			return true;
		}
	}
	*used = len > 0 && buf[len - 1] == '\r' ? len - 1 : len;
	return false;
}

int
smtp_cmd_parse(char *line, const char **arg)
{
	size_t n = strlen(line), vlen;
	char *p;
	int v;

	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t')) {
		line[--n] = '\0';
	}
	p = strchr(line, ' ');
	vlen = p != NULL ? (size_t)(p - line) : n;
	if (p != NULL) {
		while (*p == ' ') {
			p++;
		}
		*arg = p;
	} else {
		*arg = line + n;
	}
	for (v = 1; v < SMTP_CMD_COUNT; v++) {
		const char *name = smtp_cmd_names[v];

		if (strlen(name) == vlen && smtp_cmd_prefix(line, name)) {
			return v;
		}
	}
	return SMTP_CMD_UNKNOWN;
}

const char *
smtp_cmd_name(int verb)
{
	if (verb <= 0 || verb >= SMTP_CMD_COUNT) {
		return "unknown";
	}
	return smtp_cmd_names[verb];
}

bool
smtp_cmd_is_utf8(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80) {
			return true;
		}
	}
	return false;
}

/* Parse "<path>" after "FROM:" / "TO:" (spaces tolerated before it). */
static int
smtp_cmd_path(const char *arg, const char *prefix, char *addr,
    const char **rest)
{
	size_t plen = strlen(prefix);

	if (!smtp_cmd_prefix(arg, prefix)) {
		return SMTP_CMD_E_SYNTAX;
	}
	arg += plen;
	while (*arg == ' ') {
		arg++;
	}
	if (*arg != '<') {
		return SMTP_CMD_E_SYNTAX;
	}
	if (addr_parse_path(arg, addr, rest) != 0) {
		return SMTP_CMD_E_ADDR;
	}
	if (**rest != '\0' && **rest != ' ') {
		return SMTP_CMD_E_SYNTAX;
	}
	return SMTP_CMD_OK;
}

/* SIZE=n (RFC 1870): 1 to 20 digits; larger than 32 bits saturates. */
static int
smtp_cmd_size(const char *v, size_t len, uint32_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0 || len > 20) {
		return SMTP_CMD_E_VALUE;
	}
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9') {
			return SMTP_CMD_E_VALUE;
		}
		if (n <= UINT32_MAX) {
			n = n * 10 + (uint64_t)(v[i] - '0');
		}
	}
	*out = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return SMTP_CMD_OK;
}

/* Compare the value v[0..len) with the upper-case word w. */
static bool
smtp_cmd_word(const char *v, size_t len, const char *w)
{
	return strlen(w) == len && smtp_cmd_prefix(v, w);
}

int
smtp_cmd_mail(const char *arg, struct smtp_cmd_mail *out)
{
	const char *p;
	bool seen_size = false;
	int r;

	memset(out, 0, sizeof(*out));
	r = smtp_cmd_path(arg, "FROM:", out->addr, &p);
	if (r != SMTP_CMD_OK) {
		return r;
	}
	for (;;) {
		const char *key, *val;
		size_t klen, vlen;

		while (*p == ' ') {
			p++;
		}
		if (*p == '\0') {
			return SMTP_CMD_OK;
		}
		key = p;
		while (*p != '\0' && *p != ' ' && *p != '=') {
			p++;
		}
		klen = (size_t)(p - key);
		val = NULL;
		vlen = 0;
		if (*p == '=') {
			val = ++p;
			while (*p != '\0' && *p != ' ') {
				p++;
			}
			vlen = (size_t)(p - val);
		}
		if (smtp_cmd_word(key, klen, "SIZE")) {
			if (val == NULL || seen_size) {
				return SMTP_CMD_E_VALUE;
			}
			seen_size = true;
			if (smtp_cmd_size(val, vlen, &out->size) != 0) {
				return SMTP_CMD_E_VALUE;
			}
		} else if (smtp_cmd_word(key, klen, "BODY")) {
			if (val == NULL || out->body != SMTP_BODY_NONE) {
				return SMTP_CMD_E_VALUE;
			}
			if (smtp_cmd_word(val, vlen, "7BIT")) {
				out->body = SMTP_BODY_7BIT;
			} else if (smtp_cmd_word(val, vlen, "8BITMIME")) {
				out->body = SMTP_BODY_8BITMIME;
			} else {
				return SMTP_CMD_E_VALUE;
			}
		} else if (smtp_cmd_word(key, klen, "SMTPUTF8")) {
			if (val != NULL || out->smtputf8) {
				return SMTP_CMD_E_VALUE;
			}
			out->smtputf8 = true;
		} else {
			return SMTP_CMD_E_PARAM;
		}
	}
}

int
smtp_cmd_rcpt(const char *arg, char *addr)
{
	const char *p;
	int r;

	r = smtp_cmd_path(arg, "TO:", addr, &p);
	if (r != SMTP_CMD_OK) {
		return r;
	}
	if (addr[0] == '\0') {
		return SMTP_CMD_E_ADDR;
	}
	while (*p == ' ') {
		p++;
	}
	return *p == '\0' ? SMTP_CMD_OK : SMTP_CMD_E_PARAM;
}
