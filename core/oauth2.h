/*
 * oauth2.h - OAuth2 access tokens for SMTP AUTH XOAUTH2 and OAUTHBEARER
 * (RFC 7628) towards the relayhost (Microsoft 365, Gmail).
 *
 * The daemon keeps one access token in RAM. Before a relay connection
 * the scheduler asks oauth2_ready(): when the token is missing or close
 * to its expiry, the RFC 6749 section 6 refresh-token grant runs inside
 * the event loop (one HTTPS POST at a time, BearSSL with the relay's
 * verification rules, bounded buffers), and the caller is called back.
 * A refresh token the server rotates is handed to the platform's store
 * function, which writes it back atomically.
 *
 * Failures never bounce mail: the caller defers (relay "down" with
 * backoff). invalid_grant (the grant was revoked or expired) and a
 * relay that refuses a freshly fetched token also leave an admin message
 * for `edgemta status` (status_oauth2()).
 *
 * The parsers below are pure (no state, no I/O) and bounded: they never
 * read past len and never write past outlen. The device login command
 * (platform) uses them too.
 */
#ifndef OAUTH2_H
#define OAUTH2_H

#include "edgemta.h"

#define OAUTH2_TOKEN_MAX 4096	/* access or refresh token, bytes + NUL */
#define OAUTH2_RESP_MAX 12288	/* HTTP reply (headers + JSON) kept:
				 * Microsoft's is 5-8 KB */
#define OAUTH2_REQ_MAX 6144	/* HTTP request (headers + form) */
#define OAUTH2_REASON_MAX 256

enum oauth2_mech {
	OAUTH2_MECH_NONE = 0,
	OAUTH2_MECH_XOAUTH2,	/* Google, Microsoft */
	OAUTH2_MECH_OAUTHBEARER	/* RFC 7628 */
};

/* "xoauth2" / "oauthbearer" (any case) -> enum, else OAUTH2_MECH_NONE. */
int oauth2_mech_parse(const char *s);
const char *oauth2_mech_name(int mech);	/* "XOAUTH2", "OAUTHBEARER" */

/*
 * The value of the top-level member key of the JSON object js[0..len):
 * a string (escapes decoded, NUL-terminated into out) for
 * oauth2_json_str, a non-negative integer (or a string of digits, as
 * some servers send expires_in) for oauth2_json_num. The whole text must
 * be one well-formed object (nesting at most 16 deep). Returns 0,
 * EDGEMTA_E_NOENT (no such member, or another type), EDGEMTA_E_PROTO
 * (not well-formed JSON) or EDGEMTA_E_TOOBIG (does not fit out).
 */
int oauth2_json_str(const char *js, size_t len, const char *key, char *out,
    size_t outlen);
int oauth2_json_num(const char *js, size_t len, const char *key,
    uint32_t *out);

/*
 * Append "&key=value" ("key=value" at off 0), value percent-encoded as
 * application/x-www-form-urlencoded, to buf at off. Returns the new
 * length, or EDGEMTA_E_FULL (buf unchanged past off; NUL kept).
 */
long oauth2_form_add(char *buf, size_t len, size_t off, const char *key,
    const char *val);

/*
 * "https://HOST[:PORT]/PATH" into host (IPv6 literal without brackets),
 * port (443 default) and path ("/" default). 0 or EDGEMTA_E_INVAL (not
 * https, or a part too long).
 */
int oauth2_url_parse(const char *url, char *host, size_t hostlen,
    uint16_t *port, char *path, size_t pathlen);

/*
 * The HTTP request for a form POST to path on host (HTTP/1.0: the reply
 * is never chunked and ends with the connection). Length or
 * EDGEMTA_E_FULL.
 */
long oauth2_http_request(char *buf, size_t len, const char *host,
    const char *path, const char *form);

/*
 * An HTTP/1.x reply resp[0..len) received so far (eof: the connection
 * ended): status code and the body. 0 when complete (Content-Length
 * bytes, or everything up to the end without one), EDGEMTA_E_AGAIN when
 * more must come, EDGEMTA_E_PROTO when malformed.
 */
int oauth2_http_reply(const char *resp, size_t len, bool eof, int *status,
    const char **body, size_t *bodylen);

/*
 * The SASL initial response for mech, base64-encoded, followed by CRLF:
 * XOAUTH2 "user=U^Aauth=Bearer T^A^A"; OAUTHBEARER (RFC 7628 3.1)
 * "n,a=U,^Aauth=Bearer T^A^A" (',' and '=' in U escaped as RFC 5801
 * says). Length (CRLF included) or EDGEMTA_E_FULL.
 */
long oauth2_sasl(int mech, const char *user, const char *token, char *out,
    size_t outlen);

/* ---- the daemon's token (one relayhost configuration) ---- */

/*
 * Store a rotated refresh token durably (the platform: temp file, fsync,
 * rename, fsync of the directory). 0 or a negative error (logged by the
 * caller; the new token is kept in RAM and used anyway).
 */
typedef int (*oauth2_store_fn)(const char *token, char *err, size_t errlen);

struct oauth2_conf {
	uint8_t mech;		/* enum oauth2_mech */
	const char *user;	/* the mailbox (smtp_sasl_username) */
	const char *token_url;
	const char *client_id;
	const char *client_secret;	/* "" = none (public client) */
	const char *refresh_token;	/* as read from the file (copied) */
	bool pinned;		/* pin decides, else CA + host name */
	uint8_t pin[32];
	oauth2_store_fn store;
};

/* Start-up: copy what c holds (strings must outlive the daemon). 0 or
 * EDGEMTA_E_INVAL (URL not https, token too long). */
int oauth2_setup(const struct oauth2_conf *c);

/* true when a mechanism is configured (after oauth2_setup). */
bool oauth2_enabled(void);
int oauth2_mech(void);

/*
 * Is there an access token that will not expire within the margin?
 * 0: yes, go on. EDGEMTA_E_INPROGRESS: a refresh is running (started
 * now or earlier); done(r) is called once from the loop when it ends
 * (r 0 or negative, oauth2_reason() says why). Other negative values:
 * it cannot start now (oauth2_reason()). One done callback is kept: the
 * latest caller's.
 */
int oauth2_ready(void (*done)(int r));

/* Why the last refresh failed, one line for logs and deferrals. */
const char *oauth2_reason(void);

/*
 * The base64 SASL response (CRLF included) for the current token and
 * its length; valid until the next refresh.
 */
const char *oauth2_response(size_t *len);

/* The relay said 235 (accepted) / rejected the token (535). */
void oauth2_auth_ok(void);
void oauth2_auth_rejected(const char *relay, const char *text);

/* Drop the request in flight (shutdown); no callback follows. */
void oauth2_cancel(void);

/*
 * A blocking-style helper for the CLI (device login): POST form to url
 * inside the loop and run the loop until the reply is complete. status
 * and body (NUL-terminated, in a static buffer valid until the next
 * call) or a negative error with the reason in err.
 */
int oauth2_post_wait(const char *url, const char *form, int *status,
    const char **body, size_t *bodylen, char *err, size_t errlen);

#endif
