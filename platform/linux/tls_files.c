/*
 * tls_files.c - PEM files into BearSSL structures (see tls_files.h).
 *
 * The PEM decoder (br_pem_decoder) yields DER objects; certificates go
 * to br_x509_decoder (trust anchors: subject DN, public key, CA flag),
 * keys to br_skey_decoder (PKCS#1 RSA, SEC 1 EC, or PKCS#8). Memory is
 * allocated here, once, at start-up, and never freed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "tls_files.h"
#include "auth.h"
#include "log.h"
#include "passwd.h"
#include "platform.h"
#include "smtp_out.h"
#include "tls.h"

#if CONFIG_TLS

#define TLS_FILES_MAX (4u << 20)	/* a CA bundle is ~200 KiB */

struct pem_obj {
	char name[128];
	unsigned char *der;
	size_t len, cap;
};

typedef int (*pem_fn)(void *arg, const char *name, const unsigned char *der,
    size_t len);

static void
pem_append(void *arg, const void *data, size_t len)
{
	struct pem_obj *o = arg;

	if (o->der == NULL) {
		return;
	}
	if (o->len + len > o->cap) {
		size_t cap = (o->len + len) * 2;
		unsigned char *p = realloc(o->der, cap);

		if (p == NULL) {
			free(o->der);
			o->der = NULL;
			return;
		}
		o->der = p;
		o->cap = cap;
	}
	memcpy(o->der + o->len, data, len);
	o->len += len;
}

static unsigned char *
read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(TLS_FILES_MAX + 2);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	n = fread(buf, 1, TLS_FILES_MAX + 1, f);
	fclose(f);
	if (n > TLS_FILES_MAX) {
		free(buf);
		snprintf(err, errlen, "%s: file too large", path);
		return NULL;
	}
	buf[n++] = '\n';	/* the decoder needs a line end at the end */
	*len = n;
	return buf;
}

/* Call fn for every PEM object of path. Count of objects or error. */
static int
pem_each(const char *path, pem_fn fn, void *arg, char *err, size_t errlen)
{
	br_pem_decoder_context pc;
	struct pem_obj o;
	unsigned char *data;
	size_t len, off = 0;
	int count = 0, r = 0;
	bool inobj = false;

	data = read_file(path, &len, err, errlen);
	if (data == NULL) {
		return EDGEMTA_E_NOENT;
	}
	memset(&o, 0, sizeof(o));
	br_pem_decoder_init(&pc);
	while (off < len && r == 0) {
		off += br_pem_decoder_push(&pc, data + off, len - off);
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			snprintf(o.name, sizeof(o.name), "%s",
			    br_pem_decoder_name(&pc));
			o.len = 0;
			o.cap = 4096;
			o.der = malloc(o.cap);
			br_pem_decoder_setdest(&pc, pem_append, &o);
			inobj = true;
			break;
		case BR_PEM_END_OBJ:
			if (inobj && o.der == NULL) {
				snprintf(err, errlen, "%s: out of memory",
				    path);
				r = EDGEMTA_E_FULL;
				break;
			}
			if (inobj) {
				r = fn(arg, o.name, o.der, o.len);
				count++;
				free(o.der);
				o.der = NULL;
				inobj = false;
			}
			break;
		case BR_PEM_ERROR:
			snprintf(err, errlen, "%s: not a valid PEM file", path);
			r = EDGEMTA_E_INVAL;
			break;
		default:
			break;
		}
	}
	free(o.der);
	free(data);
	if (r == 0 && inobj) {
		snprintf(err, errlen, "%s: truncated PEM object", path);
		r = EDGEMTA_E_INVAL;
	}
	if (r < 0) {
		if (err[0] == '\0') {
			snprintf(err, errlen, "%s: cannot be decoded", path);
		}
		return r;
	}
	return count;
}

/* ---- server chain and key ---- */

struct chain_ld {
	br_x509_certificate *certs;
	size_t n;
};

static int
chain_obj(void *arg, const char *name, const unsigned char *der, size_t len)
{
	struct chain_ld *c = arg;
	br_x509_certificate *p;

	if (strcmp(name, "CERTIFICATE") != 0 &&
	    strcmp(name, "X509 CERTIFICATE") != 0) {
		return 0;
	}
	p = realloc(c->certs, (c->n + 1) * sizeof(*p));
	if (p == NULL) {
		return EDGEMTA_E_FULL;
	}
	c->certs = p;
	p[c->n].data = malloc(len);
	if (p[c->n].data == NULL) {
		return EDGEMTA_E_FULL;
	}
	memcpy(p[c->n].data, der, len);
	p[c->n].data_len = len;
	c->n++;
	return 0;
}

static br_skey_decoder_context tls_files_skey;
static bool tls_files_have_key;

static int
key_obj(void *arg, const char *name, const unsigned char *der, size_t len)
{
	(void)arg;
	if (str_find(name, "PRIVATE KEY") == NULL || tls_files_have_key) {
		return 0;
	}
	br_skey_decoder_init(&tls_files_skey);
	br_skey_decoder_push(&tls_files_skey, der, len);
	if (br_skey_decoder_last_error(&tls_files_skey) != 0) {
		return EDGEMTA_E_INVAL;
	}
	tls_files_have_key = true;
	return 0;
}

int
tls_files_load_server(const char *cert, const char *key, char *err,
    size_t errlen)
{
	struct chain_ld c = { NULL, 0 };
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;
	int r, type;

	err[0] = '\0';
	r = pem_each(cert, chain_obj, &c, err, errlen);
	if (r < 0) {
		return r;
	}
	if (c.n == 0) {
		snprintf(err, errlen, "%s: no certificate found "
		    "(smtpd_tls_cert_file must be PEM)", cert);
		return EDGEMTA_E_INVAL;
	}
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, c.certs[0].data, c.certs[0].data_len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (br_x509_decoder_last_error(&dc) != 0 || pk == NULL) {
		snprintf(err, errlen, "%s: the first certificate cannot be "
		    "decoded", cert);
		return EDGEMTA_E_INVAL;
	}
	tls_files_have_key = false;
	r = pem_each(key, key_obj, NULL, err, errlen);
	if (r < 0 || !tls_files_have_key) {
		snprintf(err, errlen, "%s: no usable RSA or EC private key "
		    "found (PEM, PKCS#1, SEC 1 or unencrypted PKCS#8)", key);
		return EDGEMTA_E_INVAL;
	}
	type = br_skey_decoder_key_type(&tls_files_skey);
	if (type != (int)pk->key_type) {
		snprintf(err, errlen, "%s: the key type does not match the "
		    "certificate in %s", key, cert);
		return EDGEMTA_E_INVAL;
	}
	if (type == BR_KEYTYPE_RSA) {
		tls_server_set_creds(c.certs, c.n,
		    br_skey_decoder_get_rsa(&tls_files_skey), NULL);
	} else {
		tls_server_set_creds(c.certs, c.n, NULL,
		    br_skey_decoder_get_ec(&tls_files_skey));
	}
	return 0;
}

/* ---- trust anchors ---- */

struct ta_ld {
	br_x509_trust_anchor *tas;
	size_t n;
	struct pem_obj dn;
	bool oom;
};

static void *
dup_mem(const void *p, size_t len, bool *oom)
{
	void *q = malloc(len ? len : 1);

	if (q == NULL) {
		*oom = true;
		return NULL;
	}
	memcpy(q, p, len);
	return q;
}

static int
ta_obj(void *arg, const char *name, const unsigned char *der, size_t len)
{
	struct ta_ld *t = arg;
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;
	br_x509_trust_anchor *ta;

	if (strcmp(name, "CERTIFICATE") != 0 &&
	    strcmp(name, "X509 CERTIFICATE") != 0 &&
	    strcmp(name, "TRUSTED CERTIFICATE") != 0) {
		return 0;
	}
	t->dn.len = 0;
	br_x509_decoder_init(&dc, pem_append, &t->dn);
	br_x509_decoder_push(&dc, der, len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (br_x509_decoder_last_error(&dc) != 0 || pk == NULL ||
	    t->dn.der == NULL) {
		return t->dn.der == NULL ? EDGEMTA_E_FULL : 0;	/* skip */
	}
	ta = realloc(t->tas, (t->n + 1) * sizeof(*ta));
	if (ta == NULL) {
		return EDGEMTA_E_FULL;
	}
	t->tas = ta;
	ta = &t->tas[t->n];
	memset(ta, 0, sizeof(*ta));
	ta->dn.data = dup_mem(t->dn.der, t->dn.len, &t->oom);
	ta->dn.len = t->dn.len;
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta->pkey.key.rsa.n = dup_mem(pk->key.rsa.n, pk->key.rsa.nlen,
		    &t->oom);
		ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta->pkey.key.rsa.e = dup_mem(pk->key.rsa.e, pk->key.rsa.elen,
		    &t->oom);
		ta->pkey.key.rsa.elen = pk->key.rsa.elen;
	} else {
		ta->pkey.key.ec.curve = pk->key.ec.curve;
		ta->pkey.key.ec.q = dup_mem(pk->key.ec.q, pk->key.ec.qlen,
		    &t->oom);
		ta->pkey.key.ec.qlen = pk->key.ec.qlen;
	}
	if (t->oom) {
		return EDGEMTA_E_FULL;
	}
	t->n++;
	return 0;
}

int
tls_files_load_cafile(const char *path, char *err, size_t errlen)
{
	struct ta_ld t;
	int r;

	err[0] = '\0';
	memset(&t, 0, sizeof(t));
	t.dn.cap = 1024;
	t.dn.der = malloc(t.dn.cap);
	if (t.dn.der == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return EDGEMTA_E_FULL;
	}
	r = pem_each(path, ta_obj, &t, err, errlen);
	free(t.dn.der);
	if (r < 0) {
		return r;
	}
	if (t.n == 0) {
		snprintf(err, errlen, "%s: no CA certificate found "
		    "(smtp_tls_CAfile must be a PEM bundle)", path);
		return EDGEMTA_E_INVAL;
	}
	tls_set_trust_anchors(t.tas, t.n);
	return (int)t.n;
}

#else

int
tls_files_load_server(const char *cert, const char *key, char *err,
    size_t errlen)
{
	(void)cert;
	(void)key;
	snprintf(err, errlen, "TLS is not built in (CONFIG_TLS)");
	return EDGEMTA_E_INVAL;
}

int
tls_files_load_cafile(const char *path, char *err, size_t errlen)
{
	(void)path;
	snprintf(err, errlen, "TLS is not built in (CONFIG_TLS)");
	return EDGEMTA_E_INVAL;
}

#endif

int
tls_files_read_secret(const char *path, char *buf, size_t len, char *err,
    size_t errlen)
{
	struct stat st;
	FILE *f;
	size_t n;

	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return EDGEMTA_E_NOENT;
	}
	if (fstat(fileno(f), &st) != 0 || (st.st_mode & 044) != 0) {
		fclose(f);
		snprintf(err, errlen, "%s: secrets file is readable by group "
		    "or others; chmod 600 it", path);
		return EDGEMTA_E_INVAL;
	}
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* ---- start-up and the passwd command ---- */

static const char *tls_files_users;
static char tls_files_user[CONF_STR_MAX];
static char tls_files_pass[CONF_STR_MAX];
static struct smtp_out_tls tls_files_out;

/* What the SMTP client needs to know (smtp_out.h). */
static void
tls_files_client(const struct conf *c)
{
	smtp_out_tls_conf(&tls_files_out, c);
	tls_files_out.user = tls_files_user;
	tls_files_out.pass = tls_files_pass;
	smtp_out_set_tls(&tls_files_out);
}

static long
users_load(char *buf, size_t len)
{
	FILE *f = fopen(tls_files_users, "r");
	size_t n;

	if (f == NULL) {
		return EDGEMTA_E_NOENT;
	}
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (long)n;
}

const char *
tls_files_sasl_user(void)
{
	return tls_files_user;
}

const char *
tls_files_sasl_pass(void)
{
	return tls_files_pass;
}

/*
 * True when every relayhost entry is a loopback address literal: the
 * default level is then "may" (smtp_out.c), so no CA bundle is needed
 * (about 90 KiB of RAM for Debian's).
 */
static bool
relays_loopback(const char *s)
{
	for (;;) {
		s += strspn(s, ", \t");
		if (*s == '\0') {
			return true;
		}
		if (strncmp(s, "[127.", 5) != 0 && strncmp(s, "[::1]", 5) != 0) {
			return false;
		}
		s += strcspn(s, ", \t");
	}
}

/* "user:password" (first line) of smtp_sasl_password_file. */
static int
load_sasl(const struct conf *c, char *err, size_t errlen)
{
	char buf[2 * CONF_STR_MAX + 4], *colon, *nl;
	int r;

	snprintf(tls_files_user, sizeof(tls_files_user), "%s",
	    c->smtp_sasl_username);
	snprintf(tls_files_pass, sizeof(tls_files_pass), "%s",
	    c->smtp_sasl_password);
	if (c->smtp_sasl_password_file[0] == '\0') {
		return 0;
	}
	r = tls_files_read_secret(c->smtp_sasl_password_file, buf,
	    sizeof(buf), err, errlen);
	if (r < 0) {
		return r;
	}
	nl = strpbrk(buf, "\r\n");
	if (nl != NULL) {
		*nl = '\0';
	}
	colon = strchr(buf, ':');
	if (colon == NULL || colon == buf ||
	    strlen(buf) >= sizeof(tls_files_user)) {
		snprintf(err, errlen, "%s: expected one line "
		    "\"username:password\"", c->smtp_sasl_password_file);
		return EDGEMTA_E_INVAL;
	}
	*colon = '\0';
	memcpy(tls_files_user, buf, strlen(buf) + 1);	/* fits: checked */
	snprintf(tls_files_pass, sizeof(tls_files_pass), "%.*s",
	    (int)sizeof(tls_files_pass) - 1, colon + 1);
	memset(buf, 0, sizeof(buf));
	return 0;
}

int
tls_files_setup(const struct conf *c, char *err, size_t errlen)
{
	unsigned i;
	bool ca = false;
	int r;

	err[0] = '\0';
	for (i = 0; i < c->nlisten; i++) {
		if ((c->listen[i].mode == LISTEN_SUBMISSION ||
		    c->listen[i].mode == LISTEN_SMTPS) &&
		    c->smtpd_tls_cert_file[0] == '\0') {
			snprintf(err, errlen, "submission and smtps need "
			    "smtpd_tls_cert_file (and smtpd_users_file)");
			conf_err_prefix(c, "listen", err, errlen);
			return EDGEMTA_E_INVAL;
		}
	}
	r = load_sasl(c, err, errlen);
	if (r < 0) {
		conf_err_prefix(c, "smtp_sasl_password_file", err, errlen);
		return r;
	}
	tls_files_client(c);
	if (!CONFIG_TLS) {
		return 0;
	}
	if (c->smtpd_tls_cert_file[0] != '\0') {
		r = tls_files_load_server(c->smtpd_tls_cert_file,
		    c->smtpd_tls_key_file[0] != '\0' ? c->smtpd_tls_key_file :
		    c->smtpd_tls_cert_file, err, errlen);
		if (r < 0) {
			conf_err_prefix(c, "smtpd_tls_cert_file", err, errlen);
			return r;
		}
	}
	if (c->smtpd_users_file[0] != '\0') {
		FILE *f = fopen(c->smtpd_users_file, "r");

		if (f == NULL) {
			snprintf(err, errlen, "%s: %s (smtpd_users_file; "
			    "create it with 'edgemta passwd USER')",
			    c->smtpd_users_file, strerror(errno));
			conf_err_prefix(c, "smtpd_users_file", err, errlen);
			return EDGEMTA_E_NOENT;
		}
		fclose(f);
		tls_files_users = c->smtpd_users_file;
		auth_set_users_loader(users_load);
	}
	if (c->relayhost[0] != '\0' && conf_tls_level(c) == CONF_TLS_VERIFY &&
	    c->smtp_tls_fingerprint[0] == '\0' &&
	    !(c->smtp_tls_security_level[0] == '\0' &&
	    relays_loopback(c->relayhost))) {
		r = tls_files_load_cafile(c->smtp_tls_CAfile, err, errlen);
		ca = r >= 0;
		if (r < 0 && (c->smtp_tls_security_level[0] != '\0' ||
		    strcmp(c->smtp_tls_CAfile, CONF_TLS_CAFILE) != 0)) {
			conf_err_prefix(c, "smtp_tls_CAfile", err, errlen);
			return r;
		}
		if (r < 0) {
			/* nothing configured explicitly: deliveries that need
			 * verification defer, saying why */
			log_warn("%s", err);
			err[0] = '\0';
		}
	}
	return oauth2_files_setup(c, ca, err, errlen);
}

/* Read one line without echo when stdin is a terminal. */
static int
read_password(char *buf, size_t len)
{
	struct termios t, old;
	bool tty = isatty(0) != 0;
	size_t n;

	if (tty) {
		fprintf(stderr, "Password: ");
		if (tcgetattr(0, &old) == 0) {
			t = old;
			t.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(0, TCSAFLUSH, &t);
		} else {
			tty = false;
		}
	}
	if (fgets(buf, (int)len, stdin) == NULL) {
		buf[0] = '\0';
	}
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return n > 0 ? 0 : EDGEMTA_E_INVAL;
}

int
passwd_main(const struct conf *c, int argc, char **argv)
{
	static char text[65536], out[65536 + PASSWD_LINE_MAX];
	char pass[AUTH_PASS_MAX], line[PASSWD_LINE_MAX], tmp[CONF_PATH_MAX + 8];
	uint8_t salt[PASSWD_SALT_LEN];
	const char *path = c->smtpd_users_file;
	size_t tlen = 0;
	long olen;
	FILE *f;
	int fd;

	if (!CONFIG_AUTH) {
		fprintf(stderr, "edgemta passwd: AUTH is not built in "
		    "(CONFIG_AUTH)\n");
		return 78;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: edgemta passwd USER (password on "
		    "stdin)\n");
		return 64;
	}
	if (path[0] == '\0') {
		fprintf(stderr, "edgemta passwd: set smtpd_users_file in the "
		    "configuration first\n");
		return 78;
	}
	if (read_password(pass, sizeof(pass)) != 0) {
		fprintf(stderr, "edgemta passwd: empty password\n");
		return 65;
	}
	plat_random(salt, sizeof(salt));
	if (passwd_make(argv[0], pass, salt, PASSWD_ITERATIONS, line,
	    sizeof(line)) != 0) {
		fprintf(stderr, "edgemta passwd: bad user name '%s'\n",
		    argv[0]);
		return 65;
	}
	memset(pass, 0, sizeof(pass));
	f = fopen(path, "r");
	if (f != NULL) {
		tlen = fread(text, 1, sizeof(text), f);
		fclose(f);
		if (tlen == sizeof(text)) {
			fprintf(stderr, "%s: too large\n", path);
			return 65;
		}
	}
	olen = passwd_update(text, tlen, argv[0], line, out, sizeof(out));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = olen < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, out, (size_t)olen) != olen || fsync(fd) != 0 ||
	    close(fd) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "%s: cannot write: %s\n", path,
		    strerror(errno));
		return 74;
	}
	printf("%s: password for %s set\n", path, argv[0]);
	return 0;
}
