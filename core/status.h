/*
 * status.h - what the running daemon has seen since it started, kept in
 * RAM for `edgemta status` (nothing of it is written to flash): delivery
 * counts, the last success and the last error with their times, the TLS
 * of the last delivery. The scheduler feeds it; `XQUEUE STATUS` on the
 * local socket reads it out.
 */
#ifndef STATUS_H
#define STATUS_H

#include "edgemta.h"

/* Start counting (wall clock now). */
void status_start(int64_t now);

/*
 * One recipient's result: word is "sent", "bounced" or "deferred"; relay
 * "host[ip]:port"; text the server's reply or our reason. Strings are
 * copied.
 */
void status_delivery(const char *word, const char *relay, const char *text,
    int64_t now);

/* The TLS of the connection that delivered last ("" = plaintext). */
void status_tls(const char *tls);

/* When the outbound rate lets the next message go (wall clock, 0 = now). */
void status_rate_next(int64_t when);

/* A connection problem that is no recipient's result (relay down). */
void status_error(const char *relay, const char *text, int64_t now);

/*
 * OAuth2 needs the admin: code is the token endpoint's error
 * ("invalid_grant", "invalid_client", ...) or "rejected" (the relay
 * refused a fresh token); "" clears it.
 */
void status_oauth2(const char *code, int64_t now);

/*
 * The counters as one line of "key=value" fields separated by ';' (no
 * control characters, ';' in values replaced), for XQUEUE STATUS. The
 * relay's state is the caller's: down_until (wall clock, 0 = up).
 */
void status_format(char *buf, size_t len, int64_t now, int64_t down_until);

#endif
