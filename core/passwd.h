/*
 * passwd.h - the AUTH users file: one "user:$salt$iterations$hash" line
 * per user, salt and hash in lower-case hex, hash =
 * PBKDF2-HMAC-SHA256(password, salt, iterations, 32 bytes) (RFC 8018).
 * '#' lines and blank lines are ignored. Needs CONFIG_AUTH (BearSSL).
 */
#ifndef PASSWD_H
#define PASSWD_H

#include "edgemta.h"

#define PASSWD_SALT_LEN 16
#define PASSWD_ITERATIONS 10000	/* about 10 ms on a small router */
#define PASSWD_LINE_MAX 400

/* PBKDF2-HMAC-SHA256 with one 32-byte output block. */
void passwd_pbkdf2(const void *pw, size_t pwlen, const uint8_t *salt,
    size_t saltlen, uint32_t iter, uint8_t out[32]);

/*
 * true if text[0..len) (the users file) has user with password pass.
 * The comparison is constant-time, and an unknown user costs the same
 * hashing as a known one.
 */
bool passwd_check(const char *text, size_t len, const char *user,
    const char *pass);

/* The line for user (no newline) into out. 0 or EDGEMTA_E_INVAL (user
 * contains ':' or a control character, or out too small). */
int passwd_make(const char *user, const char *pass,
    const uint8_t salt[PASSWD_SALT_LEN], uint32_t iter, char *out,
    size_t outlen);

/*
 * Replace (or append) user's line in text[0..len) with line, writing
 * the new file into out (outlen). Returns the new length or
 * EDGEMTA_E_FULL.
 */
long passwd_update(const char *text, size_t len, const char *user,
    const char *line, char *out, size_t outlen);

#endif
