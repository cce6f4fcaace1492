/*
 * fake_plat.c - see fake_plat.h.
 */
#include <stdio.h>
#include <string.h>

#include "fake_plat.h"

static uint64_t fake_ms = 1000;
static int64_t fake_wall = 1790000000;	/* late 2026 */
static uint32_t fake_rng = 12345;
static bool fake_quiet = true;
static char fake_last[512];
static char fake_all[16384];
static size_t fake_all_len;

void
fake_clock_set(uint64_t now_ms, int64_t wall)
{
	fake_ms = now_ms;
	fake_wall = wall;
}

void
fake_clock_advance(uint64_t ms)
{
	fake_ms += ms;
	fake_wall += (int64_t)(ms / 1000);
}

void
fake_log_quiet(bool quiet)
{
	fake_quiet = quiet;
}

const char *
fake_log_last(void)
{
	return fake_last;
}

const char *
fake_log_all(void)
{
	return fake_all;
}

void
fake_log_clear(void)
{
	fake_all_len = 0;
	fake_all[0] = '\0';
}

uint64_t
plat_now_ms(void)
{
	return fake_ms;
}

int64_t
plat_time(void)
{
	return fake_wall;
}

void
plat_rfc5322_date(int64_t t, char *buf, size_t len)
{
	char ts[U64_STRLEN];

	snprintf(buf, len, "Thu, 01 Jan 1970 00:00:00 +0000 (t=%s)",
	    i64_str(ts, t));
}

void
plat_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len--) {
		fake_rng = fake_rng * 1103515245u + 12345u;
		*p++ = (uint8_t)(fake_rng >> 16);
	}
}

void
plat_log(int level, const char *line)
{
	(void)level;
	snprintf(fake_last, sizeof(fake_last), "%s", line);
	if (fake_all_len + strlen(line) + 2 < sizeof(fake_all)) {
		fake_all_len += (size_t)snprintf(fake_all + fake_all_len,
		    sizeof(fake_all) - fake_all_len, "%s\n", line);
	}
	if (!fake_quiet) {
		fprintf(stderr, "log: %s\n", line);
	}
}

int
plat_hostname(char *buf, size_t len)
{
	snprintf(buf, len, "test.example");
	return 0;
}
