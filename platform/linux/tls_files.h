/*
 * tls_files.h - PEM certificate chains, private keys and CA bundles for
 * the TLS layer (core/tls.h), loaded once at start-up.
 *
 * What is loaded is allocated once and kept for the life of the process
 * (core/tls.c keeps references). Every error names the file and says
 * what is wrong with it, in err.
 */
#ifndef TLS_FILES_H
#define TLS_FILES_H

#include "edgemta.h"
#include "conf.h"

/*
 * Start-up: load what c asks for (server certificate and key, the CA
 * bundle when mail is relayed with verification, the users file loader
 * for AUTH, the smarthost credentials). 0, or an error with a message
 * naming the file in err.
 */
int tls_files_setup(const struct conf *c, char *err, size_t errlen);

/*
 * "edgemta passwd USER": read the password from the terminal (no echo)
 * or stdin, and add or change USER in c->smtpd_users_file. Exit code.
 */
int passwd_main(const struct conf *c, int argc, char **argv);

/* The smarthost credentials found by tls_files_setup() ("" if none). */
const char *tls_files_sasl_user(void);
const char *tls_files_sasl_pass(void);

/* Server chain (end-entity first) from cert, RSA or EC key from key. */
int tls_files_load_server(const char *cert, const char *key, char *err,
    size_t errlen);

/* Every certificate of a PEM bundle as a trust anchor. */
int tls_files_load_cafile(const char *path, char *err, size_t errlen);

/*
 * Read a secrets file (0600 at most: a file readable by group or others
 * is refused) into buf (NUL-terminated). 0 or a negative error with the
 * reason in err.
 */
int tls_files_read_secret(const char *path, char *buf, size_t len,
    char *err, size_t errlen);

/*
 * OAuth2 (oauth2_files.c): read smtp_oauth2_refresh_token_file (0600)
 * and set up oauth2.h, loading the CA bundle for the token URL unless
 * trust_loaded or pinned. 0 or an error naming the file and line.
 */
int oauth2_files_setup(const struct conf *c, bool trust_loaded, char *err,
    size_t errlen);

/* "edgemta oauth2 device-login" (RFC 8628). Exit code. */
int oauth2_main(const struct conf *c, int argc, char **argv);

#endif
