/*
 * clock.c - clocks, randomness and the host name on Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "linux.h"
#include "platform.h"

uint64_t
plat_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t
plat_time(void)
{
	return (int64_t)time(NULL);
}

static const char clock_days[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char clock_months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* Always UTC and English names (RFC 5322 3.3), whatever the locale. */
void
plat_rfc5322_date(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = 70;
		tm.tm_mday = 1;
		tm.tm_wday = 4;
	}
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    clock_days[tm.tm_wday % 7], tm.tm_mday,
	    clock_months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
}

/* (snprintf, not strftime: strftime links 6.7 KB of libc on mipsel, its
 * field-width parser brings in strtoul and musl's number scanner) */
bool
plat_time_fmt(int64_t t, enum plat_tstyle style, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((style == PLAT_T_UTC ? gmtime_r(&tt, &tm) :
	    localtime_r(&tt, &tm)) == NULL) {
		return false;
	}
	if (style == PLAT_T_CTIME) {
		snprintf(buf, len, "%s %s %2d %02d:%02d:%02d",
		    clock_days[tm.tm_wday % 7], clock_months[tm.tm_mon % 12],
		    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	} else {
		snprintf(buf, len, "%04d-%02d-%02d%c%02d:%02d:%02d%s",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    style == PLAT_T_LOCAL_SP ? ' ' : 'T', tm.tm_hour,
		    tm.tm_min, tm.tm_sec, style == PLAT_T_UTC ? "Z" : "");
	}
	return true;
}

void
plat_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (len > 0) {
		/* No getrandom (old kernel): the device file. */
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		while (fd >= 0 && len > 0) {
			ssize_t n = read(fd, p, len);

			if (n <= 0) {
				break;
			}
			p += n;
			len -= (size_t)n;
		}
		if (fd >= 0) {
			close(fd);
		}
		/* Never hand out predictable zeros silently. */
		while (len > 0) {
			*p++ = (uint8_t)(plat_now_ms() * 2654435761u >> 13);
			len--;
		}
	}
}

int
plat_hostname(char *buf, size_t len)
{
	if (len == 0 || gethostname(buf, len) < 0) {
		return EDGEMTA_E_IO;
	}
	buf[len - 1] = '\0';
	return 0;
}
