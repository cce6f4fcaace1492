/*
 * auth.c - AUTH PLAIN / LOGIN exchanges and failure accounting (see
 * auth.h).
 *
 * PLAIN (RFC 4616): base64("authzid\0authcid\0passwd"), as initial
 * response or after an empty "334 " challenge; an authzid other than
 * empty or the authcid is refused (no proxy authorization).
 * LOGIN (draft-murchison-sasl-login): "334 VXNlcm5hbWU6" (Username:),
 * then "334 UGFzc3dvcmQ6" (Password:); an initial response is the user.
 *
 * Failures are counted per client address in a small table (oldest entry
 * reused); over CONFIG_AUTH_MAX_FAILS the address is blocked for
 * CONFIG_AUTH_BLOCK_TIME seconds. The caller holds each 535 back for
 * auth_delay_ms(n), which grows with n.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "ev.h"
#include "log.h"
#include "passwd.h"

#define AUTH_USERS_BUF 8192	/* the users file, read at each AUTH */

enum { AUTH_PLAIN = 1, AUTH_LOGIN = 2 };

static long (*auth_load)(char *buf, size_t len);

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

long
auth_b64_encode(const void *in, size_t len, char *out, size_t outlen)
{
	const uint8_t *p = in;
	size_t i, o = 0;

	if ((len + 2) / 3 * 4 + 1 > outlen) {
		return EDGEMTA_E_FULL;
	}
	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len) {
			v |= (uint32_t)p[i + 1] << 8;
		}
		if (i + 2 < len) {
			v |= p[i + 2];
		}
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return (long)o;
}

static int
b64_val(char c)
{
	const char *p = c != '\0' ? strchr(b64, c) : NULL;

	return p != NULL ? (int)(p - b64) : -1;
}

long
auth_b64_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
	uint32_t v = 0;
	size_t i, o = 0, pad = 0, bits = 0;

	if (len % 4 != 0) {
		return EDGEMTA_E_INVAL;
	}
	for (i = 0; i < len; i++) {
		int d;

		if (in[i] == '=') {
			if (i + 2 < len) {
				return EDGEMTA_E_INVAL;
			}
			pad++;
			continue;
		}
		if (pad > 0) {
			return EDGEMTA_E_INVAL;
		}
		d = b64_val(in[i]);
		if (d < 0) {
			return EDGEMTA_E_INVAL;
		}
		v = v << 6 | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen) {
				return EDGEMTA_E_FULL;
			}
			out[o++] = (uint8_t)(v >> bits);
		}
	}
	return (long)o;
}

int
auth_client_plain(const char *user, const char *pass, char *out,
    size_t outlen)
{
	uint8_t raw[AUTH_USER_MAX + AUTH_PASS_MAX + 2];
	size_t ul = strlen(user), pl = strlen(pass);
	int n;

	if (ul >= AUTH_USER_MAX || pl >= AUTH_PASS_MAX || outlen < 12) {
		return EDGEMTA_E_FULL;
	}
	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, pass, pl);
	n = snprintf(out, outlen, "AUTH PLAIN ");
	if (auth_b64_encode(raw, ul + pl + 2, out + n, outlen - (size_t)n) <
	    0) {
		memset(raw, 0, sizeof(raw));
		return EDGEMTA_E_FULL;
	}
	memset(raw, 0, sizeof(raw));
	return 0;
}

#if CONFIG_AUTH

void
auth_set_users_loader(long (*load)(char *buf, size_t len))
{
	auth_load = load;
}

bool
auth_available(void)
{
	return auth_load != NULL;
}

/* Check user/pass against the users file. */
static int
auth_verify(struct auth_state *a, const char *pass)
{
	static char users[AUTH_USERS_BUF];
	long n = auth_load != NULL ? auth_load(users, sizeof(users)) : -1;
	bool ok;

	if (n < 0) {
		log_err("AUTH: cannot read the users file (smtpd_users_file)");
		n = 0;
	}
	ok = passwd_check(users, (size_t)n, a->user, pass);
	memset(users, 0, sizeof(users));
	return ok ? AUTH_R_OK : AUTH_R_FAIL;
}

/* A decoded text field: no NULs, no control characters. */
static bool
auth_text_ok(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			return false;
		}
	}
	return true;
}

static int
auth_plain(struct auth_state *a, const char *resp)
{
	uint8_t buf[AUTH_USER_MAX * 2 + AUTH_PASS_MAX + 4];
	char pass[AUTH_PASS_MAX];
	const uint8_t *z, *c, *pw, *end;
	long n = auth_b64_decode(resp, strlen(resp), buf, sizeof(buf));
	int r;

	if (n < 0) {
		return AUTH_R_SYNTAX;
	}
	end = buf + n;
	z = buf;
	c = memchr(z, 0, (size_t)(end - z));
	pw = c != NULL ? memchr(c + 1, 0, (size_t)(end - c - 1)) : NULL;
	if (c == NULL || pw == NULL) {
		return AUTH_R_SYNTAX;
	}
	c++;
	pw++;
	if ((size_t)(pw - 1 - c) >= AUTH_USER_MAX ||
	    (size_t)(end - pw) >= AUTH_PASS_MAX || pw - 1 == c ||
	    !auth_text_ok(c, (size_t)(pw - 1 - c)) ||
	    memchr(pw, 0, (size_t)(end - pw)) != NULL) {
		return AUTH_R_SYNTAX;
	}
	memcpy(a->user, c, (size_t)(pw - 1 - c));
	a->user[pw - 1 - c] = '\0';
	/* authzid: empty or the same user */
	if (c - 1 != z && ((size_t)(c - 1 - z) != strlen(a->user) ||
	    memcmp(z, a->user, strlen(a->user)) != 0)) {
		r = AUTH_R_FAIL;
	} else {
		memcpy(pass, pw, (size_t)(end - pw));
		pass[end - pw] = '\0';
		r = auth_verify(a, pass);
	}
	memset(buf, 0, sizeof(buf));
	memset(pass, 0, sizeof(pass));
	return r;
}

/* One decoded LOGIN field into out (NUL-terminated). */
static int
auth_login_field(const char *line, char *out, size_t outlen)
{
	long n = auth_b64_decode(line, strlen(line), (uint8_t *)out,
	    outlen - 1);

	if (n < 0 || (n == 0 && outlen == AUTH_USER_MAX) ||
	    memchr(out, 0, (size_t)n) != NULL) {
		return AUTH_R_SYNTAX;
	}
	out[n] = '\0';
	return AUTH_R_CONTINUE;
}

int
auth_start(struct auth_state *a, const char *arg, char *reply, size_t len)
{
	char mech[16];
	const char *ir;
	size_t n;

	memset(a, 0, sizeof(*a));
	ir = strchr(arg, ' ');
	n = ir != NULL ? (size_t)(ir - arg) : strlen(arg);
	if (n == 0 || n >= sizeof(mech)) {
		return AUTH_R_MECH;
	}
	memcpy(mech, arg, n);
	mech[n] = '\0';
	while (ir != NULL && *ir == ' ') {
		ir++;
	}
	if (ir != NULL && *ir == '\0') {
		ir = NULL;
	}
	for (n = 0; mech[n] != '\0'; n++) {
		if (mech[n] >= 'a' && mech[n] <= 'z') {
			mech[n] = (char)(mech[n] - 'a' + 'A');
		}
	}
	if (strcmp(mech, "PLAIN") == 0) {
		a->mech = AUTH_PLAIN;
		if (ir == NULL) {
			snprintf(reply, len, "334 ");
			return AUTH_R_CONTINUE;
		}
		if (strcmp(ir, "=") == 0) {
			return AUTH_R_SYNTAX;
		}
		return auth_step(a, ir, reply, len);
	}
	if (strcmp(mech, "LOGIN") == 0) {
		a->mech = AUTH_LOGIN;
		if (ir == NULL) {
			snprintf(reply, len, "334 VXNlcm5hbWU6");
			return AUTH_R_CONTINUE;
		}
		return auth_step(a, ir, reply, len);
	}
	return AUTH_R_MECH;
}

int
auth_step(struct auth_state *a, const char *line, char *reply, size_t len)
{
	char pass[AUTH_PASS_MAX];
	int r;

	if (strcmp(line, "*") == 0) {
		return AUTH_R_ABORT;
	}
	if (a->mech == AUTH_PLAIN) {
		return auth_plain(a, line);
	}
	if (a->step == 0) {
		r = auth_login_field(line, a->user, sizeof(a->user));
		if (r != AUTH_R_CONTINUE) {
			return r;
		}
		a->step = 1;
		snprintf(reply, len, "334 UGFzc3dvcmQ6");
		return AUTH_R_CONTINUE;
	}
	r = auth_login_field(line, pass, sizeof(pass));
	if (r == AUTH_R_CONTINUE) {
		r = auth_verify(a, pass);
	}
	memset(pass, 0, sizeof(pass));
	return r;
}

/* ---- failures per client ---- */

struct auth_fail {
	struct net_addr addr;
	uint16_t count;
	bool used;
	uint64_t last_ms;	/* ev_now() of the last failure */
};

static struct auth_fail auth_fails[CONFIG_AUTH_MAX_CLIENTS];

static bool
auth_same(const struct net_addr *a, const struct net_addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip,
	    sizeof(a->ip)) == 0;
}

static struct auth_fail *
auth_find(const struct net_addr *peer, bool create)
{
	struct auth_fail *old = &auth_fails[0];
	uint64_t now = ev_now(), win = CONFIG_AUTH_BLOCK_TIME * 1000ull;
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(auth_fails); i++) {
		struct auth_fail *f = &auth_fails[i];

		if (f->used && now - f->last_ms > win) {
			f->used = false;	/* expired */
		}
		if (f->used && auth_same(&f->addr, peer)) {
			return f;
		}
		if (!f->used || (old->used && f->last_ms < old->last_ms)) {
			old = f;
		}
	}
	if (!create) {
		return NULL;
	}
	memset(old, 0, sizeof(*old));
	old->used = true;
	old->addr = *peer;
	return old;
}

bool
auth_blocked(const struct net_addr *peer)
{
	struct auth_fail *f = auth_find(peer, false);

	return f != NULL && f->count >= CONFIG_AUTH_MAX_FAILS;
}

unsigned
auth_failed(const struct net_addr *peer)
{
	struct auth_fail *f = auth_find(peer, true);

	if (f->count < UINT16_MAX) {
		f->count++;
	}
	f->last_ms = ev_now();
	return f->count;
}

void
auth_succeeded(const struct net_addr *peer)
{
	struct auth_fail *f = auth_find(peer, false);

	if (f != NULL) {
		f->used = false;
	}
}

uint32_t
auth_delay_ms(unsigned n)
{
	return 500u * (n < 6 ? n : 6);
}

#else /* !CONFIG_AUTH */

void
auth_set_users_loader(long (*load)(char *buf, size_t len))
{
	auth_load = load;
	auth_load = NULL;
}

bool
auth_available(void)
{
	return false;
}

int
auth_start(struct auth_state *a, const char *arg, char *reply, size_t len)
{
	(void)a;
	(void)arg;
	(void)reply;
	(void)len;
	return AUTH_R_MECH;
}

int
auth_step(struct auth_state *a, const char *line, char *reply, size_t len)
{
	(void)a;
	(void)line;
	(void)reply;
	(void)len;
	return AUTH_R_MECH;
}

bool
auth_blocked(const struct net_addr *peer)
{
	(void)peer;
	return false;
}

unsigned
auth_failed(const struct net_addr *peer)
{
	(void)peer;
	return 0;
}

void
auth_succeeded(const struct net_addr *peer)
{
	(void)peer;
}

uint32_t
auth_delay_ms(unsigned n)
{
	(void)n;
	return 0;
}

#endif
