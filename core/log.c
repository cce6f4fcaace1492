/*
 * log.c - format, sanitise and emit one log line (see log.h).
 *
 * Log lines often carry peer input (HELO names, addresses, replies of a
 * smarthost). Every control character is escaped as \xNN, so a peer can
 * never end a line early and forge another one, nor drive a terminal,
 * and the admin still sees which byte it sent.
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "platform.h"

static int log_level = LOG_LVL_INFO;

void
log_set_level(int level)
{
	log_level = level;
}

/*
 * Copy in to out (LOG_LINE_MAX) with every control character (C0, DEL,
 * and the C1 range U+0080-U+009F in UTF-8) written as \xNN; a TAB is a
 * space. Other UTF-8 passes (SMTPUTF8 addresses stay readable).
 */
static void
log_escape(const char *in, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	unsigned char c;
	bool c1;

	for (; *in != '\0' && o < LOG_LINE_MAX - 9; in++) {
		c = (unsigned char)*in;
		c1 = c == 0xc2 && (unsigned char)in[1] >= 0x80 &&
		    (unsigned char)in[1] <= 0x9f;
		if (c1) {
			out[o++] = '\\';	/* C1 control: both octets */
			out[o++] = 'x';
			out[o++] = 'c';
			out[o++] = '2';
			c = (unsigned char)*++in;
		}
		if (c == '\t') {
			out[o++] = ' ';
		} else if (c < 0x20 || c == 0x7f || c1) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

void
log_msg(int level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX], esc[LOG_LINE_MAX];
	va_list ap;

	if (level > log_level) {
		return;
	}
	va_start(ap, fmt);
	if (vsnprintf(line, sizeof(line), fmt, ap) < 0) {
		line[0] = '\0';
	}
	va_end(ap);
	log_escape(line, esc);
	plat_log(level, esc);
}
