/*
 * auth.h - SMTP AUTH PLAIN and LOGIN (RFC 4954, 4616): the server's
 * exchange, the failure accounting per client address, and the client's
 * encoding. Base64 per RFC 4648.
 *
 * The server side never decides on its own whether AUTH is allowed: the
 * SMTP session offers and accepts it only under TLS (smtp_in_cmd.c).
 */
#ifndef AUTH_H
#define AUTH_H

#include "edgemta.h"
#include "addr.h"

#define AUTH_USER_MAX 128
#define AUTH_PASS_MAX 256
#define AUTH_LINE_MAX 512	/* one base64 line (our command limit) */

enum auth_result {
	AUTH_R_CONTINUE = 0,	/* send the 334 challenge in reply */
	AUTH_R_OK,		/* authenticated as state->user */
	AUTH_R_FAIL,		/* wrong user or password: 535 5.7.8 */
	AUTH_R_ABORT,		/* client sent "*": 501 5.0.0 */
	AUTH_R_SYNTAX,		/* bad base64 or message: 501 5.5.2 */
	AUTH_R_MECH		/* unknown mechanism: 504 5.5.4 */
};

struct auth_state {
	uint8_t mech;		/* 1 PLAIN, 2 LOGIN */
	uint8_t step;
	char user[AUTH_USER_MAX];
};

/*
 * Where the users file comes from: load(buf, len) fills buf with the
 * file (NUL-terminated) and returns its length or a negative error. Set
 * by the platform at start-up; NULL = AUTH not available.
 */
void auth_set_users_loader(long (*load)(char *buf, size_t len));

/* true if a users file is configured (AUTH may be offered). */
bool auth_available(void);

/*
 * Start an exchange with the AUTH argument ("PLAIN", "LOGIN dXNlcg==").
 * On AUTH_R_CONTINUE, reply holds the whole "334 ..." line to send.
 */
int auth_start(struct auth_state *a, const char *arg, char *reply,
    size_t len);

/* The client's next line. Same results as auth_start(). */
int auth_step(struct auth_state *a, const char *line, char *reply,
    size_t len);

/* ---- failure accounting per client address ---- */

/* true if peer is over CONFIG_AUTH_MAX_FAILS and still blocked. */
bool auth_blocked(const struct net_addr *peer);

/* Count a failure; returns the failures so far (window: block time). */
unsigned auth_failed(const struct net_addr *peer);

/* Forget the failures of peer (successful AUTH). */
void auth_succeeded(const struct net_addr *peer);

/* How long to hold the 535 after the nth failure (ms). */
uint32_t auth_delay_ms(unsigned n);

/* ---- base64 ---- */

/* Encode; the length written (NUL-terminated) or EDGEMTA_E_FULL. */
long auth_b64_encode(const void *in, size_t len, char *out, size_t outlen);

/* Decode; the length written or EDGEMTA_E_INVAL / _FULL. */
long auth_b64_decode(const char *in, size_t len, uint8_t *out,
    size_t outlen);

/*
 * Client side: "AUTH PLAIN <base64(\0user\0pass)>" into out (no CRLF).
 * 0 or EDGEMTA_E_FULL.
 */
int auth_client_plain(const char *user, const char *pass, char *out,
    size_t outlen);

#endif
