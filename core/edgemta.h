/*
 * edgemta.h - definitions shared by every module of the portable core.
 *
 * core/ includes only the C standard library and this project's own
 * headers; everything that touches an operating system goes through
 * platform/platform.h.
 */
#ifndef EDGEMTA_H
#define EDGEMTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgemta_config.h"	/* generated from .config */
#include "config_check.h"	/* impossible combinations fail here */

#define EDGEMTA_VERSION "0.1.0"

/*
 * Errors: functions return 0 (or a count) on success and one of these,
 * negative, on failure.
 */
enum edgemta_err {
	EDGEMTA_OK = 0,
	EDGEMTA_E_AGAIN = -1,	/* would block: try again when ready */
	EDGEMTA_E_IO = -2,	/* I/O error from the OS or the flash */
	EDGEMTA_E_FULL = -3,	/* no room: queue, buffer, pool, index */
	EDGEMTA_E_PROTO = -4,	/* peer broke the protocol */
	EDGEMTA_E_INVAL = -5,	/* bad argument or bad input */
	EDGEMTA_E_NOENT = -6,	/* no such thing (queue id, file) */
	EDGEMTA_E_CORRUPT = -7,	/* CRC or structure check failed */
	EDGEMTA_E_VERSION = -8,	/* on-flash format newer than we read */
	EDGEMTA_E_CLOSED = -9,	/* peer closed the connection */
	EDGEMTA_E_TIMEOUT = -10,
	EDGEMTA_E_INPROGRESS = -11,	/* started, completes later */
	EDGEMTA_E_TOOBIG = -12,	/* larger than can ever fit */
	EDGEMTA_E_LOCKED = -13	/* another process holds the queue */
};

/* A short human-readable text for an edgemta_err. Never NULL. */
const char *edgemta_strerror(int err);

/* Value of the hex digit c (either case), or -1. */
int hex_digit_val(int c);

/* The first needle in s, or NULL: strstr, but a plain search (libc's
 * two-way strstr is 1.3 KB of a router binary; the texts here are short) */
char *str_find(const char *s, const char *needle);

/*
 * 64-bit numbers as text, for printf: newlib-nano (the usual libc of
 * Cortex-M firmware) has no %lld/%llu/%llX and PRId64 expands to them, so
 * the core never passes a 64-bit value to printf. buf holds U64_STRLEN
 * bytes; returns buf. u64_str: base 10 or 16 (upper case), no prefix.
 */
#define U64_STRLEN 22
char *u64_str(char *buf, uint64_t v, unsigned base);
char *i64_str(char *buf, int64_t v);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Little-endian encoding: the one byte order of every on-flash field. */
static inline void
put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void
put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t
get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	    ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t
get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
}

/* FNV-1a, 64 bits: a cheap hash for keys kept in RAM (never on flash). */
#define FNV1A64_BASIS 0xcbf29ce484222325u

static inline uint64_t
fnv1a64(uint64_t h, uint8_t c)
{
	return (h ^ c) * 0x100000001b3u;
}

/* CRC-32 (IEEE 802.3, as zlib). Start with crc = 0; chain calls. */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t len);
/* The CRC of a||b from those of a and b (b is len_b bytes). */
uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b);

#endif
