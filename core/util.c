/*
 * util.c - small helpers shared by the core.
 */
#include <string.h>

#include "edgemta.h"

const char *
edgemta_strerror(int err)
{
	switch (err) {
	case EDGEMTA_OK:
		return "success";
	case EDGEMTA_E_AGAIN:
		return "try again";
	case EDGEMTA_E_IO:
		return "I/O error";
	case EDGEMTA_E_FULL:
		return "no space left";
	case EDGEMTA_E_PROTO:
		return "protocol error";
	case EDGEMTA_E_INVAL:
		return "invalid argument";
	case EDGEMTA_E_NOENT:
		return "not found";
	case EDGEMTA_E_CORRUPT:
		return "data corrupted";
	case EDGEMTA_E_VERSION:
		return "unsupported format version";
	case EDGEMTA_E_CLOSED:
		return "connection closed";
	case EDGEMTA_E_TIMEOUT:
		return "timed out";
	case EDGEMTA_E_INPROGRESS:
		return "in progress";
	case EDGEMTA_E_TOOBIG:
		return "too big";
	case EDGEMTA_E_LOCKED:
		return "locked by another process";
	default:
		return "unknown error";
	}
}

int
hex_digit_val(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

char *
str_find(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s != '\0'; s++) {
		if (strncmp(s, needle, n) == 0) {
			return (char *)s;
		}
	}
	return n == 0 ? (char *)s : NULL;
}

char *
u64_str(char *buf, uint64_t v, unsigned base)
{
	char tmp[U64_STRLEN];
	size_t n = 0, i;

	do {
		tmp[n++] = "0123456789ABCDEF"[v % base];
		v /= base;
	} while (v != 0);
	for (i = 0; i < n; i++) {
		buf[i] = tmp[n - 1 - i];
	}
	buf[n] = '\0';
	return buf;
}

char *
i64_str(char *buf, int64_t v)
{
	if (v >= 0) {
		return u64_str(buf, (uint64_t)v, 10);
	}
	buf[0] = '-';
	/* negate in unsigned arithmetic: INT64_MIN has no positive twin */
	u64_str(buf + 1, 0 - (uint64_t)v, 10);
	return buf;
}
