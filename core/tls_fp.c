/*
 * tls_fp.c - the SHA-256 pin parser of tls.h, apart from the TLS
 * engine so that the configuration code links without it.
 */
#include "tls.h"

int
tls_parse_fingerprint(const char *s, uint8_t out[32])
{
	unsigned n = 0;

	while (*s != '\0') {
		int hi, lo;

		if (*s == ':') {
			s++;
			continue;
		}
		hi = hex_digit_val(s[0]);
		lo = hi < 0 ? -1 : hex_digit_val(s[1]);
		if (lo < 0 || n >= 32) {
			return EDGEMTA_E_INVAL;
		}
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return n == 32 ? 0 : EDGEMTA_E_INVAL;
}
