/*
 * oauth2_files.c - the OAuth2 refresh token file and the
 * "edgemta oauth2 device-login" command (RFC 8628).
 *
 * The refresh token file holds one line: the token. Like the password
 * file it must not be readable by group or others. A token the server
 * rotates is written back atomically: a temporary file in the same
 * directory (0600), fsync, rename over the old one, fsync of the
 * directory, so that a power cut leaves the old or the new token, never
 * a torn one. The directory must be writable by the user edgemta runs
 * as.
 *
 * device-login is a plain blocking command (not the daemon): it runs
 * the event loop only while one HTTPS request is in flight
 * (oauth2_post_wait) and sleeps between polls.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tls_files.h"
#include "dnsq.h"
#include "ev.h"
#include "log.h"
#include "oauth2.h"
#include "tls.h"

#if CONFIG_OAUTH2

static const char *of_path;	/* smtp_oauth2_refresh_token_file */
static char of_token[OAUTH2_TOKEN_MAX];

/* Write token to path atomically (see above). */
static int
of_write(const char *path, const char *token, char *err, size_t errlen)
{
	char tmp[CONF_PATH_MAX + 16], dir[CONF_PATH_MAX];
	size_t len = strlen(token);
	int fd, dfd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 ||
	    write(fd, token, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return EDGEMTA_E_IO;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return EDGEMTA_E_IO;
	}
	/* the rename itself must reach the disk */
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

static int
of_store(const char *token, char *err, size_t errlen)
{
	return of_write(of_path, token, err, errlen);
}

/* The CA bundle, unless the token URL is pinned (also done for relays). */
static int
of_trust(const struct conf *c, struct oauth2_conf *oc, char *err,
    size_t errlen)
{
	int r;

	if (c->smtp_oauth2_tls_fingerprint[0] != '\0') {
		oc->pinned = tls_parse_fingerprint(
		    c->smtp_oauth2_tls_fingerprint, oc->pin) == 0;
		return 0;
	}
	r = tls_files_load_cafile(c->smtp_tls_CAfile, err, errlen);
	if (r < 0) {
		conf_err_prefix(c, "smtp_tls_CAfile", err, errlen);
	}
	return r < 0 ? r : 0;
}

static void
of_conf(const struct conf *c, struct oauth2_conf *oc)
{
	memset(oc, 0, sizeof(*oc));
	oc->mech = (uint8_t)oauth2_mech_parse(c->smtp_sasl_mechanism);
	oc->user = c->smtp_sasl_username;
	oc->token_url = c->smtp_oauth2_token_url;
	oc->client_id = c->smtp_oauth2_client_id;
	oc->client_secret = c->smtp_oauth2_client_secret;
	oc->store = of_store;
	of_path = c->smtp_oauth2_refresh_token_file;
}

int
oauth2_files_setup(const struct conf *c, bool trust_loaded, char *err,
    size_t errlen)
{
	struct oauth2_conf oc;
	size_t n;
	int r;

	of_conf(c, &oc);
	if (oc.mech == OAUTH2_MECH_NONE) {
		return 0;
	}
	r = tls_files_read_secret(of_path, of_token, sizeof(of_token), err,
	    errlen);
	if (r == EDGEMTA_E_NOENT) {
		snprintf(err + strlen(err), errlen - strlen(err), " (get a "
		    "refresh token first: edgemta oauth2 device-login)");
	}
	if (r < 0) {
		conf_err_prefix(c, "smtp_oauth2_refresh_token_file", err,
		    errlen);
		return r;
	}
	n = strspn(of_token, " \t\r\n");
	memmove(of_token, of_token + n, strlen(of_token + n) + 1);
	of_token[strcspn(of_token, " \t\r\n")] = '\0';
	if (of_token[0] == '\0' || strlen(of_token) + 1 >= sizeof(of_token)) {
		snprintf(err, errlen, "%s: expected one line with the refresh "
		    "token (at most %u bytes)", of_path,
		    (unsigned)sizeof(of_token) - 2);
		conf_err_prefix(c, "smtp_oauth2_refresh_token_file", err,
		    errlen);
		return EDGEMTA_E_INVAL;
	}
	oc.refresh_token = of_token;
	if ((c->smtp_oauth2_tls_fingerprint[0] != '\0' || !trust_loaded) &&
	    (r = of_trust(c, &oc, err, errlen)) < 0) {
		return r;
	}
	r = oauth2_setup(&oc);
	memset(of_token, 0, sizeof(of_token));
	if (r < 0) {
		snprintf(err, errlen, "OAuth2 settings cannot be used");
		conf_err_prefix(c, "smtp_sasl_mechanism", err, errlen);
	}
	return r;
}

/* ---- edgemta oauth2 device-login ---- */

static void
of_sleep(unsigned s)
{
	struct timespec ts = { (time_t)s, 0 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* POST form to url; the JSON body. 0 or an exit code (message printed). */
static int
of_post(const char *url, const char *form, int *status, const char **body,
    size_t *len)
{
	char err[256];

	if (oauth2_post_wait(url, form, status, body, len, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "edgemta oauth2: %s\n", err);
		return 69;	/* EX_UNAVAILABLE */
	}
	return 0;
}

static long
of_form(char *f, size_t len, const struct conf *c, bool poll,
    const char *device_code)
{
	long n;

	if (poll) {
		n = oauth2_form_add(f, len, 0, "grant_type",
		    "urn:ietf:params:oauth:grant-type:device_code");
		n = n < 0 ? n : oauth2_form_add(f, len, (size_t)n,
		    "device_code", device_code);
	} else {
		n = oauth2_form_add(f, len, 0, "scope", c->smtp_oauth2_scope);
	}
	n = n < 0 ? n : oauth2_form_add(f, len, (size_t)n, "client_id",
	    c->smtp_oauth2_client_id);
	if (n >= 0 && c->smtp_oauth2_client_secret[0] != '\0') {
		n = oauth2_form_add(f, len, (size_t)n, "client_secret",
		    c->smtp_oauth2_client_secret);
	}
	return n;
}

static int
of_device_login(const struct conf *c)
{
	static char form[OAUTH2_REQ_MAX], device[OAUTH2_TOKEN_MAX];
	char code[64], uri[256], err[256], ecode[64];
	uint32_t interval = 5, expires = 900, waited = 0;
	const char *body;
	size_t len;
	int status, r;

	if (c->smtp_oauth2_device_url[0] == '\0') {
		fprintf(stderr, "edgemta oauth2: set smtp_oauth2_device_url "
		    "(and smtp_oauth2_scope) first\n");
		return 78;
	}
	if (of_form(form, sizeof(form), c, false, NULL) < 0) {
		fprintf(stderr, "edgemta oauth2: settings too long\n");
		return 78;
	}
	r = of_post(c->smtp_oauth2_device_url, form, &status, &body, &len);
	if (r != 0) {
		return r;
	}
	if (status != 200 || oauth2_json_str(body, len, "device_code",
	    device, sizeof(device)) != 0 || oauth2_json_str(body, len,
	    "user_code", code, sizeof(code)) != 0 ||
	    (oauth2_json_str(body, len, "verification_uri", uri,
	    sizeof(uri)) != 0 && oauth2_json_str(body, len,
	    "verification_url", uri, sizeof(uri)) != 0)) {
		fprintf(stderr, "edgemta oauth2: %s said HTTP %d: %.300s\n",
		    c->smtp_oauth2_device_url, status, body);
		return 69;
	}
	(void)oauth2_json_num(body, len, "interval", &interval);
	(void)oauth2_json_num(body, len, "expires_in", &expires);
	interval = interval == 0 ? 5 : MIN(interval, 60u);
	printf("To sign in, open %s and enter the code %s\n"
	    "(waiting up to %lu s)\n", uri, code, (unsigned long)expires);
	fflush(stdout);
	while (waited < expires) {
		of_sleep(interval);
		waited += interval;
		if (of_form(form, sizeof(form), c, true, device) < 0) {
			return 70;
		}
		r = of_post(c->smtp_oauth2_token_url, form, &status, &body,
		    &len);
		if (r != 0) {
			return r;
		}
		if (status == 200) {
			r = oauth2_json_str(body, len, "refresh_token", form,
			    sizeof(form));
			if (r != 0 || form[0] == '\0') {
				fprintf(stderr, "edgemta oauth2: the token "
				    "reply has no refresh_token (ask for "
				    "offline access: scope offline_access "
				    "on Microsoft)\n");
				return 69;
			}
			if (of_write(c->smtp_oauth2_refresh_token_file, form,
			    err, sizeof(err)) != 0) {
				fprintf(stderr, "edgemta oauth2: %s\n", err);
				return 73;	/* EX_CANTCREAT */
			}
			memset(form, 0, sizeof(form));
			printf("signed in: refresh token saved to %s\n",
			    c->smtp_oauth2_refresh_token_file);
			return 0;
		}
		if (oauth2_json_str(body, len, "error", ecode,
		    sizeof(ecode)) != 0) {
			fprintf(stderr, "edgemta oauth2: token endpoint said "
			    "HTTP %d: %.300s\n", status, body);
			return 69;
		}
		if (strcmp(ecode, "authorization_pending") == 0) {
			continue;
		}
		if (strcmp(ecode, "slow_down") == 0) {
			interval += 5;	/* RFC 8628 3.5 */
			printf("the server asks to poll more slowly: every "
			    "%lu s\n", (unsigned long)interval);
			fflush(stdout);
			continue;
		}
		fprintf(stderr, "edgemta oauth2: %s%s\n", ecode,
		    strcmp(ecode, "access_denied") == 0 ? ": the sign-in "
		    "was refused" : strcmp(ecode, "expired_token") == 0 ?
		    ": the code expired; run device-login again" : "");
		return 77;	/* EX_NOPERM */
	}
	fprintf(stderr, "edgemta oauth2: the code expired; run device-login "
	    "again\n");
	return 75;	/* EX_TEMPFAIL */
}

int
oauth2_main(const struct conf *c, int argc, char **argv)
{
	struct oauth2_conf oc;
	char err[CONF_ERR_MAX];

	if (argc != 1 || strcmp(argv[0], "device-login") != 0) {
		fprintf(stderr, "usage: edgemta oauth2 device-login\n");
		return 64;
	}
	if (conf_validate(c, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 78;
	}
	if (c->smtp_sasl_mechanism[0] == '\0') {
		fprintf(stderr, "edgemta oauth2: set smtp_sasl_mechanism "
		    "(xoauth2 or oauthbearer) and the smtp_oauth2_* keys "
		    "first\n");
		return 78;
	}
	of_conf(c, &oc);
	if (ev_init() != 0 ||
	    (CONFIG_DNS && dnsq_init(c) == EDGEMTA_E_INVAL)) {
		fprintf(stderr, "edgemta oauth2: cannot set up the event "
		    "loop or the resolver\n");
		return 71;
	}
	if (of_trust(c, &oc, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 78;
	}
	oc.token_url = c->smtp_oauth2_token_url;
	if (oauth2_setup(&oc) != 0) {
		fprintf(stderr, "edgemta oauth2: bad smtp_oauth2_token_url\n");
		return 78;
	}
	return of_device_login(c);
}

#else

int
oauth2_files_setup(const struct conf *c, bool trust_loaded, char *err,
    size_t errlen)
{
	(void)c;
	(void)trust_loaded;
	(void)err;
	(void)errlen;
	return 0;	/* conf_validate refused the keys already */
}

int
oauth2_main(const struct conf *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	(void)argv;
	fprintf(stderr, "edgemta oauth2: OAuth2 is not built in "
	    "(CONFIG_OAUTH2)\n");
	return 78;
}

#endif
