/*
 * log.c - format, sanitise and emit one log line (see log.h).
 *
 * Log lines often carry peer input (HELO names, addresses, replies of a
 * smarthost). Every control character is replaced, so a peer can never
 * end a line early and forge another one, nor drive a terminal.
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

void
log_msg(int level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	char *p;

	if (level > log_level) {
		return;
	}
	va_start(ap, fmt);
	if (vsnprintf(line, sizeof(line), fmt, ap) < 0) {
		line[0] = '\0';
	}
	va_end(ap);
	for (p = line; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\t') {
			*p = ' ';
		} else if (c < 0x20 || c == 0x7f) {
			*p = '?';
		}
	}
	plat_log(level, line);
}
