/*
 * log.c - log lines to syslog (mail facility) or, in the foreground, to
 * stderr with a timestamp.
 *
 * The syslog datagram is written here rather than by syslog(3): musl's
 * links strftime and its number scanner (7 KB of a 256 KiB router
 * binary). The form is the one every syslogd reads (RFC 3164, as libc
 * sends it): "<PRI>Mmm dd hh:mm:ss ident[pid]: line", to /dev/log. A
 * full socket drops the line rather than stall the event loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "linux.h"
#include "log.h"
#include "platform.h"

static bool log_foreground = true;
static const char *log_ident = "edgemta";
static int log_fd = -1;

static void
log_connect(void)
{
	static const struct sockaddr_un sun = { AF_UNIX, "/dev/log" };

	log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (log_fd >= 0 && connect(log_fd, (const struct sockaddr *)&sun,
	    sizeof(sun)) < 0) {
		close(log_fd);
		log_fd = -1;
	}
}

void
plat_log_open(bool foreground, const char *ident)
{
	if (ident != NULL && ident[0] != '\0') {
		log_ident = ident;
	}
	log_foreground = foreground;
	if (!foreground && log_fd < 0) {
		log_connect();
	}
}

static void
log_syslog(int level, const char *line)
{
	char stamp[32], msg[LOG_LINE_MAX + 128];
	int n, tries;

	if (!plat_time_fmt(plat_time(), PLAT_T_CTIME, stamp, sizeof(stamp))) {
		snprintf(stamp, sizeof(stamp), "Xxx Jan  1 00:00:00");
	}
	/* "Sat Nov 28 13:04:05" without the day name */
	n = snprintf(msg, sizeof(msg), "<%d>%s %s[%ld]: %s",
	    LOG_MAIL | (level & 7), stamp + 4, log_ident, (long)getpid(),
	    line);
	if (n < 0) {
		return;
	}
	if ((size_t)n >= sizeof(msg)) {
		n = sizeof(msg) - 1;
	}
	/* once more after a reconnect: syslogd may have restarted */
	for (tries = 0; tries < 2; tries++) {
		if (log_fd < 0) {
			log_connect();
		}
		if (log_fd < 0 || send(log_fd, msg, (size_t)n,
		    MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 || errno == EAGAIN) {
			return;
		}
		close(log_fd);
		log_fd = -1;
	}
}

void
plat_log(int level, const char *line)
{
	static char stamp[32];
	static int64_t stamp_t = -1;	/* stamp is formatted once a second */
	int64_t t;

	if (!log_foreground) {
		/* log_level values are syslog priorities. */
		log_syslog(level, line);
		return;
	}
	t = plat_time();
	if (t != stamp_t) {
		stamp_t = t;
		if (!plat_time_fmt(t, PLAT_T_LOCAL, stamp, sizeof(stamp))) {
			stamp[0] = '\0';
		}
	}
	fprintf(stderr, "%s %s[%ld]: %s\n", stamp, log_ident, (long)getpid(),
	    line);
}
