/*
 * log.c - log lines to syslog (mail facility) or, in the foreground, to
 * stderr with a timestamp.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "linux.h"
#include "platform.h"

static bool log_foreground = true;
static const char *log_ident = "edgemta";

void
plat_log_open(bool foreground, const char *ident)
{
	if (ident != NULL && ident[0] != '\0') {
		log_ident = ident;
	}
	if (!log_foreground) {
		closelog();
	}
	log_foreground = foreground;
	if (!foreground) {
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
}

void
plat_log(int level, const char *line)
{
	static char stamp[32];
	static time_t stamp_t = -1;	/* stamp is formatted once a second */
	struct tm tm;
	time_t t;

	if (!log_foreground) {
		/* log_level values are syslog priorities. */
		syslog(LOG_MAIL | (level & 7), "%s", line);
		return;
	}
	t = time(NULL);
	if (t != stamp_t) {
		stamp_t = t;
		if (localtime_r(&t, &tm) == NULL || strftime(stamp,
		    sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
			stamp[0] = '\0';
		}
	}
	fprintf(stderr, "%s %s[%ld]: %s\n", stamp, log_ident, (long)getpid(),
	    line);
}
