/*
 * tls.c - the BearSSL engine pump and the TLS session pool (see tls.h).
 *
 * Secure defaults: TLS 1.2 only, ECDHE with AEAD suites (AES-GCM,
 * ChaCha20-Poly1305) in server preference order, no renegotiation; RSA
 * key exchange only with CONFIG_TLS_RSA_KEYX. No CBC, no 3DES, no RC4.
 *
 * The pump (DESIGN.md 4) serves, in this order: SENDREC (records to the
 * socket), RECVAPP (plaintext into the io's receive buffer, as far as it
 * has room: backpressure), RECVREC (socket into the engine), SENDAPP
 * (the io's send buffer into the engine, flushed when it is empty). An
 * ack is never 0. A socket that would block is not tried again in the
 * same pump; io.c watches what tls_want() says.
 *
 * Client verification goes through tls_x509, a small X.509 class around
 * BearSSL's "minimal" validator: it also hashes the end-entity
 * certificate (SHA-256 pin, and the fingerprint in failure logs) and
 * decodes its subject CN, so a failure can be logged as "subject CN=x,
 * sha256 AA:BB:..., reason" and the user can pin it.
 */
#include <stdio.h>
#include <string.h>

#include "tls.h"

#if CONFIG_TLS

#include "addr.h"
#include "ev.h"
#include "io.h"
#include "log.h"
#include "platform.h"

#define TLS_BUFSIZE (CONFIG_TLS_BUF_BIDI ? BR_SSL_BUFSIZE_BIDI : \
	BR_SSL_BUFSIZE_MONO)
#define TLS_REASON_MAX 160
#define TLS_CLOCK_MIN 1577836800	/* 2020-01-01: older = clock unset */
#define TLS_HOST_MAX 256
/* end-entity cert kept for the IP check (TLS_SMALL: RAM counts) */
#define TLS_EE_MAX (CONFIG_TLS_SMALL ? 2048 : 4096)

struct tls_x509 {
	const br_x509_class *vtable;	/* must be first */
	br_x509_minimal_context mc;
	br_x509_decoder_context dc;
	br_sha256_context sha;
	bool verify, pinned, first;
	uint8_t pin[32], fp[32];
	char cn[64];
	size_t dn_len;
	uint8_t dn[256];	/* subject DN of the end-entity, DER */
	uint8_t iplen;		/* relay is an IP literal: 4 or 16 */
	uint8_t ip[16];
	size_t ee_len;		/* end-entity DER (IP relays only) */
	uint8_t ee[TLS_EE_MAX];
	struct tls_conn *t;
};

struct tls_conn {
	struct io *io;		/* NULL = slot free */
	bool client, hs_done;
	struct ev_timer hs_timer;
	union {			/* a slot serves one side at a time */
		br_ssl_server_context s;
		struct {
			br_ssl_client_context c;
			struct tls_x509 x;	/* the client's validator */
		} c;
	} u;
	char host[TLS_HOST_MAX];
	char reason[TLS_REASON_MAX];
	unsigned char buf[TLS_BUFSIZE];
};

static struct tls_conn tls_pool[CONFIG_TLS_MAX_SESSIONS];
/* Slots below this mark have been used; the others are free and never
 * touched, so that their pages stay unallocated until needed. */
static unsigned tls_nslots;
static const br_x509_certificate *tls_chain;
static size_t tls_chain_len;
static const br_rsa_private_key *tls_rsa;
static const br_ec_private_key *tls_ec;
static const br_x509_trust_anchor *tls_tas;
static size_t tls_ntas;
static char tls_attach_reason[TLS_REASON_MAX];

/* Server preference order: ECDHE + AEAD first. */
static const uint16_t tls_suites[] = {
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
#if CONFIG_TLS_RSA_KEYX
	BR_TLS_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_RSA_WITH_AES_256_GCM_SHA384,
#endif
};

struct tls_suite_name {
	uint16_t id;
	const char *name;	/* OpenSSL's names, as admins know them */
};

static const struct tls_suite_name tls_suite_names[] = {
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	    "ECDHE-ECDSA-AES128-GCM-SHA256" },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	    "ECDHE-RSA-AES128-GCM-SHA256" },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	    "ECDHE-ECDSA-AES256-GCM-SHA384" },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	    "ECDHE-RSA-AES256-GCM-SHA384" },
	{ BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	    "ECDHE-ECDSA-CHACHA20-POLY1305" },
	{ BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	    "ECDHE-RSA-CHACHA20-POLY1305" },
	{ BR_TLS_RSA_WITH_AES_128_GCM_SHA256, "AES128-GCM-SHA256" },
	{ BR_TLS_RSA_WITH_AES_256_GCM_SHA384, "AES256-GCM-SHA384" },
};

/* ---- configuration ---- */

void
tls_server_set_creds(const br_x509_certificate *chain, size_t n,
    const br_rsa_private_key *rsa, const br_ec_private_key *ec)
{
	tls_chain = chain;
	tls_chain_len = n;
	tls_rsa = rsa;
	tls_ec = ec;
}

void
tls_set_trust_anchors(const br_x509_trust_anchor *ta, size_t n)
{
	tls_tas = ta;
	tls_ntas = n;
}

bool
tls_server_ready(void)
{
	return tls_chain_len > 0 && ((tls_rsa != NULL && !CONFIG_TLS_SMALL) ||
	    tls_ec != NULL);
}

/* ---- error texts ---- */

static const char *
tls_x509_text(unsigned err)
{
	switch (err) {
	case BR_ERR_X509_EXPIRED:
		return "certificate expired or not yet valid";
	case BR_ERR_X509_BAD_SERVER_NAME:
		return "certificate does not match the host name";
	case BR_ERR_X509_NOT_TRUSTED:
		return "certificate not trusted (unknown CA or self-signed)";
	case BR_ERR_X509_NOT_CA:
		return "issuer is not a CA";
	case BR_ERR_X509_FORBIDDEN_KEY_USAGE:
		return "key usage does not allow TLS";
	case BR_ERR_X509_WEAK_PUBLIC_KEY:
		return "public key too weak";
	default:
		return "certificate rejected";
	}
}

static void
tls_set_reason(struct tls_conn *t, const char *why)
{
	if (t->reason[0] == '\0') {
		snprintf(t->reason, sizeof(t->reason), "%s", why);
	}
}

/* A reason for a dead engine (keeps the X.509 reason if we set one). */
static void
tls_engine_reason(struct tls_conn *t, int err)
{
	char buf[TLS_REASON_MAX];

	if (t->reason[0] != '\0') {
		return;
	}
	if (err >= BR_ERR_X509_OK && err < BR_ERR_X509_OK + 64) {
		tls_set_reason(t, tls_x509_text((unsigned)err));
		return;
	}
	if (err >= BR_ERR_RECV_FATAL_ALERT && err < BR_ERR_SEND_FATAL_ALERT) {
		snprintf(buf, sizeof(buf), "TLS handshake failed: peer sent "
		    "alert %d", err - BR_ERR_RECV_FATAL_ALERT);
	} else if (err >= BR_ERR_SEND_FATAL_ALERT) {
		snprintf(buf, sizeof(buf), "TLS handshake failed: we sent "
		    "alert %d", err - BR_ERR_SEND_FATAL_ALERT);
	} else if (err == BR_ERR_BAD_VERSION) {
		snprintf(buf, sizeof(buf), "TLS failed: peer does not do "
		    "TLS 1.2");
	} else if (err == BR_ERR_BAD_CIPHER_SUITE) {
		snprintf(buf, sizeof(buf), "TLS failed: no common cipher "
		    "suite");
	} else {
		snprintf(buf, sizeof(buf), "TLS %s failed (BearSSL error %d)",
		    t->hs_done ? "session" : "handshake", err);
	}
	tls_set_reason(t, buf);
}

/* ---- X.509 class: minimal validator + pin + what we log ---- */

static void
tls_x509_dn(void *ctx, const void *buf, size_t len)
{
	struct tls_x509 *x = ctx;
	size_t n = MIN(len, sizeof(x->dn) - x->dn_len);

	memcpy(x->dn + x->dn_len, buf, n);
	x->dn_len += n;
}

/* The commonName (OID 2.5.4.3) of the subject DN, printable only. */
static void
tls_x509_cn(struct tls_x509 *x)
{
	static const uint8_t oid[] = { 0x06, 0x03, 0x55, 0x04, 0x03 };
	size_t i, j, n;

	snprintf(x->cn, sizeof(x->cn), "?");
	for (i = 0; i + sizeof(oid) + 2 <= x->dn_len; i++) {
		if (memcmp(x->dn + i, oid, sizeof(oid)) != 0) {
			continue;
		}
		i += sizeof(oid) + 1;	/* skip the string tag */
		n = x->dn[i++];
		if (n >= 0x80 || i + n > x->dn_len) {
			return;
		}
		n = MIN(n, sizeof(x->cn) - 1);
		for (j = 0; j < n; j++) {
			uint8_t c = x->dn[i + j];

			x->cn[j] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
		}
		x->cn[n] = '\0';
		return;
	}
}

static void
tls_x509_start_chain(const br_x509_class **ctx, const char *name)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	x->first = true;
	x->dn_len = 0;
	x->ee_len = 0;
	if (x->verify && !x->pinned) {
		/* an IP relay: the chain here, the IP in tls_x509_end_chain */
		x->mc.vtable->start_chain(&x->mc.vtable,
		    x->iplen != 0 ? NULL : name);
	}
}

static void
tls_x509_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	if (x->verify && !x->pinned) {
		x->mc.vtable->start_cert(&x->mc.vtable, length);
	}
	if (x->first) {
		br_sha256_init(&x->sha);
		br_x509_decoder_init(&x->dc, tls_x509_dn, x);
	}
}

static void
tls_x509_append(const br_x509_class **ctx, const unsigned char *buf,
    size_t len)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	if (x->verify && !x->pinned) {
		x->mc.vtable->append(&x->mc.vtable, buf, len);
	}
	if (x->first) {
		br_sha256_update(&x->sha, buf, len);
		br_x509_decoder_push(&x->dc, buf, len);
		if (x->iplen != 0) {
			size_t n = len;

			if (x->ee_len + n > sizeof(x->ee)) {
				n = 0;
				x->ee_len = sizeof(x->ee) + 1; /* too big */
			}
			memcpy(x->ee + x->ee_len, buf, n);
			x->ee_len += n;
		}
	}
}

static void
tls_x509_end_cert(const br_x509_class **ctx)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	if (x->verify && !x->pinned) {
		x->mc.vtable->end_cert(&x->mc.vtable);
	}
	if (x->first) {
		br_sha256_out(&x->sha, x->fp);
		x->first = false;
	}
}

static void
tls_fp_str(const uint8_t *fp, char *buf, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < 32 && o + 4 <= len; i++) {
		o += (size_t)snprintf(buf + o, len - o, i ? ":%02X" : "%02X",
		    fp[i]);
	}
}

/* One DER TLV at p[0..n): tag, value and the size of the whole. */
static bool
tls_der(const uint8_t *p, size_t n, uint8_t *tag, const uint8_t **v,
    size_t *vlen, size_t *total)
{
	size_t i = 2, len;

	if (n < 2) {
		return false;
	}
	*tag = p[0];
	len = p[1];
	if (len & 0x80) {
		unsigned k = len & 0x7f;

		if (k == 0 || k > 3 || n < 2 + k) {
			return false;
		}
		for (len = 0; k > 0; k--) {
			len = len << 8 | p[i++];
		}
	}
	if (len > n - i) {
		return false;
	}
	*v = p + i;
	*vlen = len;
	*total = i + len;
	return true;
}

/*
 * Does the certificate (DER) list ip among its subjectAltName
 * iPAddress entries (RFC 5280 4.2.1.6)? Walks the structure:
 * Certificate > tbsCertificate > [3] > Extensions > the SAN extension.
 */
static bool
tls_cert_has_ip(const uint8_t *der, size_t n, const uint8_t *ip, size_t iplen)
{
	static const uint8_t san[] = { 0x55, 0x1d, 0x11 };
	const uint8_t *v, *tbs, *e;
	size_t vlen, tlen, elen, tot, off;
	uint8_t tag;

	if (!tls_der(der, n, &tag, &v, &vlen, &tot) || tag != 0x30 ||
	    !tls_der(v, vlen, &tag, &tbs, &tlen, &tot) || tag != 0x30) {
		return false;
	}
	for (off = 0; off < tlen; off += tot) {
		if (!tls_der(tbs + off, tlen - off, &tag, &e, &elen, &tot)) {
			return false;
		}
		if (tag == 0xa3) {
			break;
		}
	}
	if (off >= tlen || !tls_der(e, elen, &tag, &e, &elen, &tot) ||
	    tag != 0x30) {
		return false;
	}
	for (off = 0; off < elen; off += tot) {
		const uint8_t *x, *f;
		size_t xlen, flen, t2, o2;

		if (!tls_der(e + off, elen - off, &tag, &x, &xlen, &tot) ||
		    tag != 0x30 || !tls_der(x, xlen, &tag, &f, &flen, &t2) ||
		    tag != 0x06) {
			return false;
		}
		if (flen != sizeof(san) || memcmp(f, san, sizeof(san)) != 0) {
			continue;
		}
		o2 = t2;
		if (!tls_der(x + o2, xlen - o2, &tag, &f, &flen, &t2)) {
			return false;
		}
		if (tag == 0x01) {	/* critical */
			o2 += t2;
			if (!tls_der(x + o2, xlen - o2, &tag, &f, &flen,
			    &t2)) {
				return false;
			}
		}
		if (tag != 0x04 || !tls_der(f, flen, &tag, &f, &flen, &t2) ||
		    tag != 0x30) {
			return false;
		}
		for (o2 = 0; o2 < flen; o2 += t2) {
			const uint8_t *g;
			size_t glen;

			if (!tls_der(f + o2, flen - o2, &tag, &g, &glen,
			    &t2)) {
				return false;
			}
			if (tag == 0x87 && glen == iplen &&
			    memcmp(g, ip, iplen) == 0) {
				return true;
			}
		}
		return false;
	}
	return false;
}

static unsigned
tls_x509_end_chain(const br_x509_class **ctx)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;
	struct tls_conn *t = x->t;
	char fp[100];
	unsigned r = 0;

	tls_x509_cn(x);
	if (br_x509_decoder_last_error(&x->dc) != 0 ||
	    br_x509_decoder_get_pkey(&x->dc) == NULL) {
		r = BR_ERR_X509_INVALID_VALUE;
		tls_set_reason(t, "server certificate cannot be decoded");
	} else if (x->pinned) {
		if (memcmp(x->fp, x->pin, sizeof(x->fp)) != 0) {
			r = BR_ERR_X509_NOT_TRUSTED;
			tls_set_reason(t, "certificate does not match "
			    "smtp_tls_fingerprint");
		}
	} else if (x->verify) {
		if (plat_time() < TLS_CLOCK_MIN) {
			/* the chain check needs the date: say why */
			r = BR_ERR_X509_EXPIRED;
			tls_set_reason(t, "clock not set: cannot check the "
			    "certificate dates (set the time or pin the "
			    "certificate)");
		} else {
			r = x->mc.vtable->end_chain(&x->mc.vtable);
			if (r == 0 && x->iplen != 0 && (x->ee_len >
			    sizeof(x->ee) || !tls_cert_has_ip(x->ee,
			    x->ee_len, x->ip, x->iplen))) {
				r = BR_ERR_X509_BAD_SERVER_NAME;
				tls_set_reason(t, "certificate does not list "
				    "the relay's IP address");
			}
			if (r != 0) {
				tls_set_reason(t, tls_x509_text(r));
			}
		}
	}
	if (r != 0) {
		tls_fp_str(x->fp, fp, sizeof(fp));
		log_warn("TLS: certificate of %s rejected: %s; subject CN=%s, "
		    "sha256 fingerprint %s", t->host, t->reason, x->cn, fp);
	}
	return r;
}

static const br_x509_pkey *
tls_x509_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	if (x->verify && !x->pinned) {
		return x->mc.vtable->get_pkey(&x->mc.vtable, usages);
	}
	if (usages != NULL) {
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	}
	return br_x509_decoder_get_pkey(&x->dc);
}

static const br_x509_class tls_x509_vtable = {
	sizeof(struct tls_x509),
	tls_x509_start_chain,
	tls_x509_start_cert,
	tls_x509_append,
	tls_x509_end_cert,
	tls_x509_end_chain,
	tls_x509_get_pkey
};

/*
 * Elliptic curves: BearSSL's default (br_ec_all_m31) links an X25519 and
 * a P-256 of their own, 12.6 KB on mipsel, beside the generic i31 code
 * for the NIST curves that certificate checks need anyway. Here X25519 is
 * the small generic i31 one and P-256 goes through the generic i31 code
 * too: 11 KB less, a slower handshake (a few per minute on a relay).
 */
static const br_ec_impl *
tls_ec_for(int curve)
{
	return curve == BR_EC_curve25519 ? &br_ec_c25519_i31 :
	    &br_ec_prime_i31;
}

static const unsigned char *
tls_ec_generator(int curve, size_t *len)
{
	return tls_ec_for(curve)->generator(curve, len);
}

static const unsigned char *
tls_ec_order(int curve, size_t *len)
{
	return tls_ec_for(curve)->order(curve, len);
}

static size_t
tls_ec_xoff(int curve, size_t *len)
{
	return tls_ec_for(curve)->xoff(curve, len);
}

static uint32_t
tls_ec_mul(unsigned char *g, size_t glen, const unsigned char *x,
    size_t xlen, int curve)
{
	return tls_ec_for(curve)->mul(g, glen, x, xlen, curve);
}

static size_t
tls_ec_mulgen(unsigned char *r, const unsigned char *x, size_t xlen,
    int curve)
{
	return tls_ec_for(curve)->mulgen(r, x, xlen, curve);
}

static uint32_t
tls_ec_muladd(unsigned char *a, const unsigned char *b, size_t len,
    const unsigned char *x, size_t xlen, const unsigned char *y,
    size_t ylen, int curve)
{
	return tls_ec_for(curve)->muladd(a, b, len, x, xlen, y, ylen, curve);
}

static const br_ec_impl tls_ec_impl = {
	(uint32_t)1 << BR_EC_curve25519 | (uint32_t)1 << BR_EC_secp256r1 |
	    (uint32_t)1 << BR_EC_secp384r1 | (uint32_t)1 << BR_EC_secp521r1,
	tls_ec_generator,
	tls_ec_order,
	tls_ec_xoff,
	tls_ec_mul,
	tls_ec_mulgen,
	tls_ec_muladd
};

/* ---- sessions ---- */

static void
tls_engine_common(br_ssl_engine_context *e)
{
	uint8_t seed[32];

	br_ssl_engine_set_versions(e, BR_TLS12, BR_TLS12);
	if (!CONFIG_TLS_SMALL) {
		br_ssl_engine_set_hash(e, br_sha1_ID, &br_sha1_vtable);
	}
	br_ssl_engine_set_hash(e, br_sha224_ID, &br_sha224_vtable);
	br_ssl_engine_set_hash(e, br_sha256_ID, &br_sha256_vtable);
	br_ssl_engine_set_hash(e, br_sha384_ID, &br_sha384_vtable);
	br_ssl_engine_set_hash(e, br_sha512_ID, &br_sha512_vtable);
	br_ssl_engine_set_prf_sha256(e, &br_tls12_sha256_prf);
	br_ssl_engine_set_default_aes_gcm(e);
	if (CONFIG_TLS_SMALL) {
		/* the first two suites: ECDHE (P-256), AES-128-GCM; no
		 * SHA-1 (TLS 1.2 peers sign with SHA-2) */
		br_ssl_engine_set_suites(e, tls_suites, 2);
		br_ssl_engine_set_ec(e, &br_ec_p256_m31);
	} else {
		br_ssl_engine_set_suites(e, tls_suites,
		    ARRAY_SIZE(tls_suites));
		br_ssl_engine_set_prf_sha384(e, &br_tls12_sha384_prf);
		br_ssl_engine_set_default_chapol(e);
		br_ssl_engine_set_ec(e, &tls_ec_impl);
	}
	br_ssl_engine_add_flags(e, BR_OPT_NO_RENEGOTIATION);
	plat_random(seed, sizeof(seed));
	br_ssl_engine_inject_entropy(e, seed, sizeof(seed));
	memset(seed, 0, sizeof(seed));
}

static br_ssl_engine_context *
tls_eng(struct tls_conn *t)
{
	return t->client ? &t->u.c.c.eng : &t->u.s.eng;
}

static void
tls_on_hs_timer(void *arg)
{
	struct tls_conn *t = arg;

	if (t->io != NULL && !t->hs_done) {
		tls_set_reason(t, "TLS handshake timeout");
		log_info("TLS handshake timeout (%s)", t->client ? t->host :
		    "server side");
		io_abort(t->io);
	}
}

/*
 * A free slot for io. Inbound sessions leave a quarter of the pool to
 * deliveries, so clients that hold handshakes open (until the handshake
 * timeout) cannot stop mail from going out.
 */
static struct tls_conn *
tls_get(struct io *io, bool server)
{
	struct tls_conn *t = NULL;
	unsigned i, nfree = ARRAY_SIZE(tls_pool) - tls_nslots;

	for (i = 0; i < tls_nslots; i++) {
		if (tls_pool[i].io == io) {
			tls_pool[i].io = NULL;	/* stale: reopened io */
			ev_timer_stop(&tls_pool[i].hs_timer);
		}
		if (tls_pool[i].io == NULL) {
			nfree++;
			if (t == NULL) {
				t = &tls_pool[i];
			}
		}
	}
	if (t == NULL && tls_nslots < ARRAY_SIZE(tls_pool)) {
		t = &tls_pool[tls_nslots];
	}
	if (t == NULL || (server && nfree <= CONFIG_TLS_MAX_SESSIONS / 4)) {
		return NULL;
	}
	if (t == &tls_pool[tls_nslots]) {
		tls_nslots++;
	}
	memset(t, 0, offsetof(struct tls_conn, u));
	t->reason[0] = '\0';
	t->host[0] = '\0';
	return t;
}

bool
tls_server_slot_free(unsigned promised)
{
	unsigned i, nfree = ARRAY_SIZE(tls_pool) - tls_nslots;

	for (i = 0; i < tls_nslots; i++) {
		nfree += tls_pool[i].io == NULL;
	}
	return nfree > promised + CONFIG_TLS_MAX_SESSIONS / 4;
}

static void
tls_start(struct tls_conn *t, struct io *io)
{
	t->io = io;
	io->tls = t;
	ev_timer_start(&t->hs_timer, CONFIG_TLS_HANDSHAKE_TIMEOUT * 1000u,
	    tls_on_hs_timer, t);
	io_kick(io);
}

int
tls_attach_server(struct io *io)
{
	struct tls_conn *t;
	br_ssl_server_context *sc;

	if (!tls_server_ready()) {
		return EDGEMTA_E_INVAL;
	}
	t = tls_get(io, true);
	if (t == NULL) {
		log_warn("TLS: all %u sessions busy",
		    (unsigned)CONFIG_TLS_MAX_SESSIONS);
		return EDGEMTA_E_FULL;
	}
	sc = &t->u.s;
	br_ssl_server_zero(sc);
	tls_engine_common(&sc->eng);
	br_ssl_engine_add_flags(&sc->eng, BR_OPT_ENFORCE_SERVER_PREFERENCES);
	if (CONFIG_TLS_SMALL) {
		br_ssl_server_set_single_ec(sc, tls_chain, tls_chain_len,
		    tls_ec, BR_KEYTYPE_SIGN, 0, &br_ec_p256_m31,
		    br_ecdsa_i31_sign_asn1);
	} else if (tls_rsa != NULL) {
		br_ssl_server_set_single_rsa(sc, tls_chain, tls_chain_len,
		    tls_rsa, BR_KEYTYPE_SIGN |
		    (CONFIG_TLS_RSA_KEYX ? BR_KEYTYPE_KEYX : 0),
		    br_rsa_private_get_default(),
		    br_rsa_pkcs1_sign_get_default());
	} else {
		br_ssl_server_set_single_ec(sc, tls_chain, tls_chain_len,
		    tls_ec, BR_KEYTYPE_SIGN, 0, &tls_ec_impl,
		    br_ecdsa_i31_sign_asn1);
	}
	br_ssl_engine_set_buffer(&sc->eng, t->buf, sizeof(t->buf),
	    CONFIG_TLS_BUF_BIDI);
	if (!br_ssl_server_reset(sc)) {
		return EDGEMTA_E_INVAL;
	}
	tls_start(t, io);
	return 0;
}

/*
 * BearSSL's minimal validator with the hashes certificates are signed
 * with today (SHA-1 to SHA-512: br_x509_minimal_init_full adds MD5 too,
 * 1.5 KB), RSA and ECDSA with the i31 code the rest of TLS uses.
 */
static void
tls_x509_minimal_init(br_x509_minimal_context *mc)
{
	br_x509_minimal_init(mc, &br_sha256_vtable, tls_tas, tls_ntas);
	if (!CONFIG_TLS_SMALL) {
		br_x509_minimal_set_hash(mc, br_sha1_ID, &br_sha1_vtable);
		br_x509_minimal_set_hash(mc, br_sha224_ID, &br_sha224_vtable);
	}
	br_x509_minimal_set_hash(mc, br_sha256_ID, &br_sha256_vtable);
	br_x509_minimal_set_hash(mc, br_sha384_ID, &br_sha384_vtable);
	br_x509_minimal_set_hash(mc, br_sha512_ID, &br_sha512_vtable);
	br_x509_minimal_set_rsa(mc, br_rsa_i31_pkcs1_vrfy);
	/* TLS_SMALL: P-256 chains only (flash) */
	br_x509_minimal_set_ecdsa(mc, CONFIG_TLS_SMALL ? &br_ec_p256_m31 :
	    &tls_ec_impl, br_ecdsa_i31_vrfy_asn1);
}

int
tls_attach_client(struct io *io, const struct tls_client_opts *o)
{
	struct tls_conn *t;
	br_ssl_client_context *cc;
	struct tls_x509 *x;
	struct net_addr a;
	bool ip = net_addr_parse_ip(o->host, &a) == 0;
	int64_t now = plat_time();

	tls_attach_reason[0] = '\0';
	if (o->verify == TLS_VERIFY_CA && !o->pinned) {
		if (tls_ntas == 0) {
			snprintf(tls_attach_reason, sizeof(tls_attach_reason),
			    "no trust anchors loaded (smtp_tls_CAfile)");
			return EDGEMTA_E_INVAL;
		}
		if (now < TLS_CLOCK_MIN) {
			snprintf(tls_attach_reason, sizeof(tls_attach_reason),
			    "clock not set: cannot verify certificates (set "
			    "the time or use smtp_tls_fingerprint)");
			return EDGEMTA_E_INVAL;
		}
	}
	t = tls_get(io, false);
	if (t == NULL) {
		snprintf(tls_attach_reason, sizeof(tls_attach_reason),
		    "all %u TLS sessions busy",
		    (unsigned)CONFIG_TLS_MAX_SESSIONS);
		return EDGEMTA_E_FULL;
	}
	t->client = true;
	snprintf(t->host, sizeof(t->host), "%s", o->host);
	x = &t->u.c.x;
	memset(x, 0, sizeof(*x));
	x->vtable = &tls_x509_vtable;
	x->t = t;
	x->verify = o->verify == TLS_VERIFY_CA;
	x->pinned = o->pinned;
	memcpy(x->pin, o->pin, sizeof(x->pin));
	if (ip) {
		x->iplen = a.family == NET_INET6 ? 16 : 4;
		memcpy(x->ip, a.ip, x->iplen);
	}
	if (x->verify && !x->pinned) {
		tls_x509_minimal_init(&x->mc);
		br_x509_minimal_set_time(&x->mc,
		    (uint32_t)(now / 86400 + 719528),
		    (uint32_t)(now % 86400));
	}
	cc = &t->u.c.c;
	br_ssl_client_zero(cc);
	tls_engine_common(&cc->eng);
	br_ssl_engine_set_default_rsavrfy(&cc->eng);
	br_ssl_engine_set_ecdsa(&cc->eng, br_ecdsa_i31_vrfy_asn1);
	if (!CONFIG_TLS_SMALL) {
		br_ssl_client_set_default_rsapub(cc);
	}
	br_ssl_engine_set_x509(&cc->eng, &x->vtable);
	br_ssl_engine_set_buffer(&cc->eng, t->buf, sizeof(t->buf),
	    CONFIG_TLS_BUF_BIDI);
	/*
	 * Never an unchecked name: a host name is sent as SNI and checked
	 * by the minimal validator. An IP literal is not a valid SNI (RFC
	 * 6066 3), so none is sent ("") and tls_x509_end_chain checks the
	 * IP against the certificate's iPAddress SANs itself (BearSSL
	 * matches DNS names only).
	 */
	if (!br_ssl_client_reset(cc, ip ? "" : t->host, 0)) {
		snprintf(tls_attach_reason, sizeof(tls_attach_reason),
		    "TLS client setup failed");
		return EDGEMTA_E_INVAL;
	}
	tls_start(t, io);
	return 0;
}

const char *
tls_last_attach_error(void)
{
	return tls_attach_reason;
}

void
tls_close_notify(struct io *io)
{
	if (io->tls != NULL && io->tls->hs_done) {
		br_ssl_engine_close(tls_eng(io->tls));
	}
}

void
tls_detach(struct io *io)
{
	struct tls_conn *t = io->tls;

	if (t == NULL) {
		return;
	}
	ev_timer_stop(&t->hs_timer);
	t->io = NULL;
	io->tls = NULL;
}

bool
tls_active(const struct io *io)
{
	return io->tls != NULL;
}

void
tls_describe(const struct io *io, char *buf, size_t len)
{
	struct tls_conn *t = io->tls;
	const char *name = "unknown";
	unsigned i, v;
	uint16_t id;

	if (t == NULL) {
		snprintf(buf, len, "no TLS");
		return;
	}
	id = tls_eng(t)->session.cipher_suite;
	for (i = 0; i < ARRAY_SIZE(tls_suite_names); i++) {
		if (tls_suite_names[i].id == id) {
			name = tls_suite_names[i].name;
		}
	}
	v = br_ssl_engine_get_version(tls_eng(t));
	snprintf(buf, len, "TLSv1.%u with cipher %s", v >= BR_TLS10 ?
	    v - BR_TLS10 : 0, name);
}

const char *
tls_error(const struct io *io)
{
	return io->tls != NULL ? io->tls->reason : "";
}

/* ---- the pump ---- */

bool
tls_sending(const struct io *io)
{
	return io->tls != NULL &&
	    (br_ssl_engine_current_state(tls_eng(io->tls)) & BR_SSL_SENDREC);
}

bool
tls_app_pending(const struct io *io)
{
	return io->tls != NULL &&
	    (br_ssl_engine_current_state(tls_eng(io->tls)) & BR_SSL_RECVAPP);
}

unsigned
tls_want(const struct io *io, bool can_read)
{
	struct tls_conn *t = io->tls;
	unsigned st = br_ssl_engine_current_state(tls_eng(t)), w = 0;

	if (st & BR_SSL_CLOSED) {
		return 0;
	}
	if (st & BR_SSL_SENDREC) {
		w |= EV_WRITE;
	}
	if ((st & BR_SSL_RECVREC) && (can_read || !t->hs_done)) {
		w |= EV_READ;
	}
	return w;
}

/* Room at the end of the receive buffer (compacting it first). */
static size_t
tls_rroom(struct io *io)
{
	if (io->rhead == io->rtail) {
		io->rhead = io->rtail = 0;
	} else if (io->rhead > 0 && io->rtail == sizeof(io->rbuf)) {
		memmove(io->rbuf, io->rbuf + io->rhead, io->rtail - io->rhead);
		io->rtail -= io->rhead;
		io->rhead = 0;
	}
	return sizeof(io->rbuf) - io->rtail;
}

static void
tls_check_done(struct tls_conn *t, unsigned st)
{
	char d[96];

	if (t->hs_done || !(st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))) {
		return;
	}
	t->hs_done = true;
	ev_timer_stop(&t->hs_timer);
	tls_describe(t->io, d, sizeof(d));
	if (t->client) {
		log_info("TLS connection established to %s: %s", t->host, d);
	} else {
		log_debug("TLS handshake done: %s", d);
	}
}

unsigned
tls_pump(struct io *io, bool can_read)
{
	struct tls_conn *t = io->tls;
	br_ssl_engine_context *e = tls_eng(t);
	bool rblocked = false, wblocked = false;
	unsigned r = 0, guard;

	for (guard = 0; guard < 10000; guard++) {
		unsigned st = br_ssl_engine_current_state(e);
		unsigned char *buf;
		size_t len;
		long n;

		if (st & BR_SSL_CLOSED) {
			int err = br_ssl_engine_last_error(e);

			if (err == BR_ERR_OK && t->hs_done) {
				r |= TLS_R_EOF;
			} else {
				tls_engine_reason(t, err == BR_ERR_OK ?
				    BR_ERR_IO : err);
				r |= TLS_R_ERR;
			}
			break;
		}
		tls_check_done(t, st);
		if ((st & BR_SSL_SENDREC) && !wblocked) {
			buf = br_ssl_engine_sendrec_buf(e, &len);
			n = plat_write(io->fd, buf, len);
			if (n == EDGEMTA_E_AGAIN) {
				wblocked = true;
				continue;
			}
			if (n <= 0) {
				tls_set_reason(t, "connection lost");
				r |= TLS_R_ERR;
				break;
			}
			br_ssl_engine_sendrec_ack(e, (size_t)n);
			io->tx_bytes += (uint64_t)n;
			continue;
		}
		if ((st & BR_SSL_RECVAPP) && tls_rroom(io) > 0) {
			buf = br_ssl_engine_recvapp_buf(e, &len);
			len = MIN(len, sizeof(io->rbuf) - io->rtail);
			memcpy(io->rbuf + io->rtail, buf, len);
			io->rtail += len;
			br_ssl_engine_recvapp_ack(e, len);
			r |= TLS_R_READ;
			continue;
		}
		if ((st & BR_SSL_RECVREC) && !rblocked &&
		    (can_read || !t->hs_done)) {
			buf = br_ssl_engine_recvrec_buf(e, &len);
			n = plat_read(io->fd, buf, len);
			if (n == EDGEMTA_E_AGAIN) {
				rblocked = true;
				continue;
			}
			if (n <= 0) {
				/* no close_notify: SMTP has its own end */
				if (!t->hs_done) {
					tls_set_reason(t, "connection closed "
					    "during the TLS handshake");
					r |= TLS_R_ERR;
				} else {
					r |= n == 0 ? TLS_R_EOF : TLS_R_ERR;
				}
				break;
			}
			br_ssl_engine_recvrec_ack(e, (size_t)n);
			io->rx_bytes += (uint64_t)n;
			continue;
		}
		if ((st & BR_SSL_SENDAPP) && io->wlen > io->woff) {
			buf = br_ssl_engine_sendapp_buf(e, &len);
			len = MIN(len, io->wlen - io->woff);
			memcpy(buf, io->wbuf + io->woff, len);
			br_ssl_engine_sendapp_ack(e, len);
			io->woff += len;
			if (io->woff == io->wlen) {
				io->woff = io->wlen = 0;
				br_ssl_engine_flush(e, 0);
			}
			continue;
		}
		break;
	}
	return r;
}

#else /* !CONFIG_TLS */

bool
tls_server_ready(void)
{
	return false;
}

bool
tls_server_slot_free(unsigned promised)
{
	(void)promised;
	return false;
}

int
tls_attach_server(struct io *io)
{
	(void)io;
	return EDGEMTA_E_INVAL;
}

int
tls_attach_client(struct io *io, const struct tls_client_opts *o)
{
	(void)io;
	(void)o;
	return EDGEMTA_E_INVAL;
}

bool
tls_active(const struct io *io)
{
	(void)io;
	return false;
}

void
tls_describe(const struct io *io, char *buf, size_t len)
{
	(void)io;
	snprintf(buf, len, "no TLS");
}

const char *
tls_error(const struct io *io)
{
	(void)io;
	return "";
}

const char *
tls_last_attach_error(void)
{
	return "TLS support is not built in (CONFIG_TLS)";
}

unsigned
tls_pump(struct io *io, bool can_read)
{
	(void)io;
	(void)can_read;
	return TLS_R_ERR;
}

unsigned
tls_want(const struct io *io, bool can_read)
{
	(void)io;
	(void)can_read;
	return 0;
}

bool
tls_sending(const struct io *io)
{
	(void)io;
	return false;
}

bool
tls_app_pending(const struct io *io)
{
	(void)io;
	return false;
}

void
tls_close_notify(struct io *io)
{
	(void)io;
}

void
tls_detach(struct io *io)
{
	(void)io;
}

#endif
