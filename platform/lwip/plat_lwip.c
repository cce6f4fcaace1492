/*
 * plat_lwip.c - platform.h's clocks, randomness, dates and logging for the
 * lwIP platform, from lwIP's sys_now() and the board's hooks
 * (edgemta_lwip.h).
 */
#include <stdio.h>

#include "platform.h"
#include "plat_lwip_int.h"

const struct edgemta_lwip_hooks *lwip_hooks;

void
edgemta_lwip_init(const struct edgemta_lwip_hooks *h)
{
	lwip_hooks = h;
}

/* sys_now() wraps after 49 days: extend it to 64 bits. */
uint64_t
plat_now_ms(void)
{
	static uint32_t last;
	static uint64_t high;
	uint32_t now = sys_now();

	if (now < last) {
		high += (uint64_t)1 << 32;
	}
	last = now;
	return high | now;
}

int64_t
plat_time(void)
{
	return lwip_hooks->wall_time != NULL ? lwip_hooks->wall_time() : 0;
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void
civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400) + (*m <= 2);
}

void
plat_rfc5322_date(int64_t t, char *buf, size_t len)
{
	static const char wd[7][4] = { "Thu", "Fri", "Sat", "Sun", "Mon",
		"Tue", "Wed" };
	static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int64_t days = (t >= 0 ? t : t - 86399) / 86400;
	unsigned s = (unsigned)(t - days * 86400), m, d;
	int y;

	civil(days, &y, &m, &d);
	snprintf(buf, len, "%s, %02u %s %d %02u:%02u:%02u +0000",
	    wd[(unsigned)(days % 7 + 7) % 7], d, mon[m - 1], y, s / 3600,
	    s / 60 % 60, s % 60);
}

void
plat_random(void *buf, size_t len)
{
	lwip_hooks->random(buf, len);
}

void
plat_log(int level, const char *line)
{
	if (lwip_hooks != NULL && lwip_hooks->log != NULL) {
		lwip_hooks->log(level, line);
	}
}
