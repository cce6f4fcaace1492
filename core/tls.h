/*
 * tls.h - TLS 1.2 with BearSSL between a struct io's socket and its
 * buffers (DESIGN.md section 4).
 *
 * A TLS session is a slot of a static pool of CONFIG_TLS_MAX_SESSIONS
 * (engine state and one record buffer each; nothing is allocated). It is
 * attached to an io with tls_attach_server()/tls_attach_client() and
 * released when the io is closed. From then on io.c pumps bytes through
 * the engine with tls_pump(); the io's owner keeps using io_rpeek(),
 * io_write() etc. on plaintext and notices nothing else.
 *
 * STARTTLS (both sides): the plaintext reply "220" is sent (server) or
 * read (client) first; any plaintext still in the receive buffer is then
 * discarded (io_rdiscard()) before attaching, so nothing a peer pipelined
 * before the handshake is ever read as if it came inside TLS.
 *
 * Server credentials and trust anchors are handed in at start-up by the
 * platform (platform/linux/tls_files.c) and must stay valid for the life
 * of the program.
 */
#ifndef TLS_H
#define TLS_H

#include "edgemta.h"

struct io;

#if CONFIG_TLS
#include <bearssl.h>

/* Server certificate chain (end-entity first) and its RSA or EC key
 * (exactly one non-NULL). Kept by reference. */
void tls_server_set_creds(const br_x509_certificate *chain, size_t n,
    const br_rsa_private_key *rsa, const br_ec_private_key *ec);

/* CA certificates the client trusts (kept by reference). */
void tls_set_trust_anchors(const br_x509_trust_anchor *ta, size_t n);
#endif

/* What the client checks of the server's certificate. */
enum tls_verify {
	TLS_VERIFY_NONE = 0,	/* encrypt only ("may", "encrypt") */
	TLS_VERIFY_CA		/* chain to a trust anchor + host name */
};

struct tls_client_opts {
	const char *host;	/* relay host name (SNI, name check), or
				 * an IP literal: then no SNI is sent and
				 * the IP must be an iPAddress SAN */
	uint8_t verify;		/* enum tls_verify */
	bool pinned;		/* pin is set: it alone decides */
	uint8_t pin[32];	/* SHA-256 of the end-entity cert (DER) */
};

/* true if a server certificate is configured (STARTTLS can be offered). */
bool tls_server_ready(void);

/*
 * true if a server session can have a slot now, beyond `promised` ones
 * already promised to sessions (STARTTLS answered 220, handshake not
 * started yet). A quarter of the pool stays for deliveries.
 */
bool tls_server_slot_free(unsigned promised);

/*
 * Start a server / client handshake on io (connected, plaintext fully
 * handled by the caller). The client copies what it needs of o.
 * Returns 0, EDGEMTA_E_FULL when the pool is exhausted, or
 * EDGEMTA_E_INVAL (no credentials / cannot verify as asked: the reason
 * is logged and also given by tls_error()).
 */
int tls_attach_server(struct io *io);
int tls_attach_client(struct io *io, const struct tls_client_opts *o);

/* true if io runs TLS (handshake started). */
bool tls_active(const struct io *io);

/* "TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256" (for Received:). */
void tls_describe(const struct io *io, char *buf, size_t len);

/* Why the TLS session of io failed ("" if it did not or io is plain);
 * valid until the io is closed. */
const char *tls_error(const struct io *io);

/* Last failure reason of any client attach that returned an error. */
const char *tls_last_attach_error(void);

/*
 * Parse "AB:CD:..." (64 hex digits, colons optional) into 32 bytes.
 * 0 or EDGEMTA_E_INVAL.
 */
int tls_parse_fingerprint(const char *s, uint8_t out[32]);

/* ---- for io.c only ---- */

#define TLS_R_READ 0x1u		/* plaintext was added to the rbuf */
#define TLS_R_EOF 0x2u		/* the peer closed cleanly */
#define TLS_R_ERR 0x4u		/* the session failed (see tls_error) */

/* Move bytes between socket, engine and the io's buffers (read the
 * socket only if can_read or during the handshake). TLS_R_* flags. */
unsigned tls_pump(struct io *io, bool can_read);

/* EV_READ/EV_WRITE the engine wants from the socket. */
unsigned tls_want(const struct io *io, bool can_read);

/* Records are waiting to be written to the socket. */
bool tls_sending(const struct io *io);

/* Decrypted bytes wait in the engine (the rbuf was full). */
bool tls_app_pending(const struct io *io);

/* Queue a close_notify alert (all application data was handed over). */
void tls_close_notify(struct io *io);

/* Release io's slot (io_close). */
void tls_detach(struct io *io);

#endif
