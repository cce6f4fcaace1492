/*
 * passwd.c - salted, iterated password hashes for AUTH (see passwd.h).
 *
 * PBKDF2 (RFC 8018 5.2) written on BearSSL's br_hmac with SHA-256; one
 * output block is all we need (dkLen = hLen = 32).
 */
#include <stdio.h>
#include <string.h>

#include "passwd.h"

#if CONFIG_AUTH

#include <bearssl.h>

void
passwd_pbkdf2(const void *pw, size_t pwlen, const uint8_t *salt,
    size_t saltlen, uint32_t iter, uint8_t out[32])
{
	br_hmac_key_context kc;
	br_hmac_context hc;
	uint8_t u[32], ctr[4] = { 0, 0, 0, 1 };
	uint32_t i;
	size_t j;

	br_hmac_key_init(&kc, &br_sha256_vtable, pw, pwlen);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, salt, saltlen);
	br_hmac_update(&hc, ctr, sizeof(ctr));
	br_hmac_out(&hc, u);
	memcpy(out, u, 32);
	for (i = 1; i < iter; i++) {
		br_hmac_init(&hc, &kc, 0);
		br_hmac_update(&hc, u, sizeof(u));
		br_hmac_out(&hc, u);
		for (j = 0; j < 32; j++) {
			out[j] ^= u[j];
		}
	}
	memset(u, 0, sizeof(u));
	memset(&kc, 0, sizeof(kc));
}

/* Hex s[0..n) into out (at most max bytes); byte count or -1. */
static int
passwd_unhex(const char *s, size_t n, uint8_t *out, size_t max)
{
	size_t i;

	if (n % 2 != 0 || n / 2 > max) {
		return -1;
	}
	for (i = 0; i < n / 2; i++) {
		int hi = hex_digit_val(s[2 * i]), lo = hex_digit_val(s[2 * i +
		    1]);

		if (hi < 0 || lo < 0) {
			return -1;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(n / 2);
}

/* Parse "$salt$iter$hash" at s[0..n). */
static bool
passwd_parse(const char *s, size_t n, uint8_t *salt, int *saltlen,
    uint32_t *iter, uint8_t hash[32])
{
	const char *end = s + n, *p, *q;
	uint32_t it = 0;

	if (n < 1 || s[0] != '$') {
		return false;
	}
	p = memchr(s + 1, '$', n - 1);
	if (p == NULL) {
		return false;
	}
	*saltlen = passwd_unhex(s + 1, (size_t)(p - s - 1), salt, 64);
	q = memchr(p + 1, '$', (size_t)(end - p - 1));
	if (*saltlen < 0 || q == NULL || q == p + 1) {
		return false;
	}
	for (p++; p < q; p++) {
		if (*p < '0' || *p > '9' || it > 100000000u) {
			return false;
		}
		it = it * 10 + (uint32_t)(*p - '0');
	}
	if (it == 0) {
		return false;
	}
	*iter = it;
	return passwd_unhex(q + 1, (size_t)(end - q - 1), hash, 32) == 32;
}

bool
passwd_check(const char *text, size_t len, const char *user,
    const char *pass)
{
	static const uint8_t dummy_salt[PASSWD_SALT_LEN];
	const char *p = text, *end = text + len;
	size_t ulen = strlen(user), i;
	uint8_t salt[64], want[32], got[32], diff = 0;
	uint32_t iter = PASSWD_ITERATIONS;
	int saltlen = -1;
	bool found = false;

	while (p < end && !found) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;

		if (le > p && le[-1] == '\r') {
			le--;
		}
		if ((size_t)(le - p) > ulen && memcmp(p, user, ulen) == 0 &&
		    p[ulen] == ':' && ulen > 0) {
			found = passwd_parse(p + ulen + 1,
			    (size_t)(le - p - (ptrdiff_t)ulen - 1), salt,
			    &saltlen, &iter, want);
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (!found) {
		/* same work for an unknown user */
		memcpy(salt, dummy_salt, sizeof(dummy_salt));
		saltlen = (int)sizeof(dummy_salt);
		iter = PASSWD_ITERATIONS;
		memset(want, 0xff, sizeof(want));
	}
	passwd_pbkdf2(pass, strlen(pass), salt, (size_t)saltlen, iter, got);
	for (i = 0; i < sizeof(got); i++) {
		diff |= (uint8_t)(got[i] ^ want[i]);
	}
	return found && diff == 0;
}

int
passwd_make(const char *user, const char *pass,
    const uint8_t salt[PASSWD_SALT_LEN], uint32_t iter, char *out,
    size_t outlen)
{
	uint8_t h[32];
	size_t i, o;
	int n;

	if (user[0] == '\0') {
		return EDGEMTA_E_INVAL;
	}
	for (i = 0; user[i] != '\0'; i++) {
		if (user[i] == ':' || (unsigned char)user[i] <= ' ' ||
		    user[i] == 0x7f) {
			return EDGEMTA_E_INVAL;
		}
	}
	passwd_pbkdf2(pass, strlen(pass), salt, PASSWD_SALT_LEN, iter, h);
	n = snprintf(out, outlen, "%s:$", user);
	if (n < 0 || (size_t)n + 2 * PASSWD_SALT_LEN + 80 > outlen) {
		return EDGEMTA_E_INVAL;
	}
	o = (size_t)n;
	for (i = 0; i < PASSWD_SALT_LEN; i++) {
		o += (size_t)snprintf(out + o, outlen - o, "%02x", salt[i]);
	}
	o += (size_t)snprintf(out + o, outlen - o, "$%lu$",
	    (unsigned long)iter);
	for (i = 0; i < sizeof(h); i++) {
		o += (size_t)snprintf(out + o, outlen - o, "%02x", h[i]);
	}
	return 0;
}

long
passwd_update(const char *text, size_t len, const char *user,
    const char *line, char *out, size_t outlen)
{
	const char *p = text, *end = text + len;
	size_t ulen = strlen(user), o = 0, ll = strlen(line);
	bool done = false;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		const char *src = p;
		size_t n = (size_t)(le - p);

		if (n > ulen && memcmp(p, user, ulen) == 0 && p[ulen] == ':') {
			if (done) {
				p = nl != NULL ? nl + 1 : end;
				continue;	/* drop duplicates */
			}
			src = line;
			n = ll;
			done = true;
		}
		if (o + n + 1 > outlen) {
			return EDGEMTA_E_FULL;
		}
		memcpy(out + o, src, n);
		o += n;
		out[o++] = '\n';
		p = nl != NULL ? nl + 1 : end;
	}
	if (!done) {
		if (o + ll + 1 > outlen) {
			return EDGEMTA_E_FULL;
		}
		memcpy(out + o, line, ll);
		o += ll;
		out[o++] = '\n';
	}
	return (long)o;
}

#endif
