/*
 * oauth2_parse.c - the pure parts of OAuth2 (oauth2.h): a bounded JSON
 * member extractor, form encoding, the https URL, the HTTP/1.0 request
 * and reply, and the SASL responses.
 *
 * The JSON reader walks the whole text once (RFC 8259 grammar: objects,
 * arrays, strings, numbers, true/false/null) so that a reply cut short
 * or with garbage after the object is an error, not half a token. It
 * keeps no state beyond the C stack of the nesting (at most JS_DEPTH).
 */
#include <stdio.h>
#include <string.h>

#include "oauth2.h"
#include "auth.h"

int
oauth2_mech_parse(const char *s)
{
	static const char *const names[] = { "xoauth2", "oauthbearer" };
	size_t i, k;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		for (k = 0; names[i][k] != '\0' && (s[k] | 0x20) ==
		    names[i][k]; k++) {
		}
		if (names[i][k] == '\0' && s[k] == '\0') {
			return (int)i + 1;
		}
	}
	return OAUTH2_MECH_NONE;
}

const char *
oauth2_mech_name(int mech)
{
	return mech == OAUTH2_MECH_OAUTHBEARER ? "OAUTHBEARER" : "XOAUTH2";
}

int
oauth2_url_parse(const char *url, char *host, size_t hostlen,
    uint16_t *port, char *path, size_t pathlen)
{
	const char *h, *e, *p, *colon = NULL;
	size_t n;

	if (strncmp(url, "https://", 8) != 0) {
		return EDGEMTA_E_INVAL;
	}
	h = url + 8;
	p = h + strcspn(h, "/?#");
	e = p;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(p - h));

		if (rb == NULL) {
			return EDGEMTA_E_INVAL;
		}
		colon = rb[1] == ':' ? rb + 1 : NULL;
		e = colon != NULL ? colon : p;
		if (rb + 1 != e) {
			return EDGEMTA_E_INVAL;
		}
		h++;
		e = rb;
	} else {
		colon = memchr(h, ':', (size_t)(p - h));
		if (colon != NULL) {
			e = colon;
		}
	}
	n = (size_t)(e - h);
	if (n == 0 || n >= hostlen || memchr(h, '@', n) != NULL) {
		return EDGEMTA_E_INVAL;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	*port = 443;
	if (colon != NULL) {
		unsigned long v = 0;
		const char *d = colon + 1;

		if (d == p) {
			return EDGEMTA_E_INVAL;
		}
		for (; d < p; d++) {
			if (*d < '0' || *d > '9' || v > 65535) {
				return EDGEMTA_E_INVAL;
			}
			v = v * 10 + (unsigned long)(*d - '0');
		}
		if (v == 0 || v > 65535) {
			return EDGEMTA_E_INVAL;
		}
		*port = (uint16_t)v;
	}
	if (*p == '\0') {
		p = "/";
	}
	if (strlen(p) >= pathlen || strpbrk(p, " \r\n") != NULL) {
		return EDGEMTA_E_INVAL;
	}
	snprintf(path, pathlen, "%s", p);
	return 0;
}

#if CONFIG_OAUTH2

#define JS_DEPTH 16

struct js {
	const char *p, *end;
};

static void
js_ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
	    *j->p == '\n' || *j->p == '\r')) {
		j->p++;
	}
}

/*
 * A string at j->p (the opening quote): skip it, and when out is not
 * NULL decode it there. 0, EDGEMTA_E_PROTO or EDGEMTA_E_TOOBIG.
 */
static int
js_string(struct js *j, char *out, size_t outlen)
{
	size_t n = 0;
	bool big = false;

	j->p++;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;
		unsigned long u = c;
		char enc[3];
		size_t k = 1, i;

		if (c < 0x20) {
			return EDGEMTA_E_PROTO;
		}
		if (c == '\\') {
			if (j->p == j->end) {
				return EDGEMTA_E_PROTO;
			}
			c = (unsigned char)*j->p++;
			switch (c) {
			case '"': case '\\': case '/':
				u = c;
				break;
			case 'b': u = '\b'; break;
			case 'f': u = '\f'; break;
			case 'n': u = '\n'; break;
			case 'r': u = '\r'; break;
			case 't': u = '\t'; break;
			case 'u':
				if (j->end - j->p < 4) {
					return EDGEMTA_E_PROTO;
				}
				for (u = 0, i = 0; i < 4; i++) {
					int h = hex_digit_val(j->p[i]);

					if (h < 0) {
						return EDGEMTA_E_PROTO;
					}
					u = u * 16 + (unsigned long)h;
				}
				j->p += 4;
				break;
			default:
				return EDGEMTA_E_PROTO;
			}
		}
		/* UTF-8 of the code unit (a surrogate stays as it is: no
		 * token or error code we read is outside ASCII) */
		if (u < 0x80 || c != 'u') {
			enc[0] = (char)u;
		} else if (u < 0x800) {
			enc[0] = (char)(0xc0 | (u >> 6));
			enc[1] = (char)(0x80 | (u & 0x3f));
			k = 2;
		} else {
			enc[0] = (char)(0xe0 | (u >> 12));
			enc[1] = (char)(0x80 | ((u >> 6) & 0x3f));
			enc[2] = (char)(0x80 | (u & 0x3f));
			k = 3;
		}
		if (out != NULL && !big) {
			if (n + k >= outlen) {
				big = true;
			} else {
				memcpy(out + n, enc, k);
				n += k;
			}
		}
	}
	if (j->p == j->end) {
		return EDGEMTA_E_PROTO;
	}
	j->p++;
	if (out != NULL && outlen > 0) {
		out[big ? 0 : n] = '\0';
	}
	return big ? EDGEMTA_E_TOOBIG : 0;
}

static bool
js_digit(const struct js *j)
{
	return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

static int
js_number(struct js *j)
{
	if (j->p < j->end && *j->p == '-') {
		j->p++;
	}
	if (!js_digit(j)) {
		return EDGEMTA_E_PROTO;
	}
	if (*j->p == '0') {
		j->p++;
	} else {
		while (js_digit(j)) {
			j->p++;
		}
	}
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!js_digit(j)) {
			return EDGEMTA_E_PROTO;
		}
		while (js_digit(j)) {
			j->p++;
		}
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-')) {
			j->p++;
		}
		if (!js_digit(j)) {
			return EDGEMTA_E_PROTO;
		}
		while (js_digit(j)) {
			j->p++;
		}
	}
	return 0;
}

static int js_value(struct js *j, unsigned depth);

/* An object or array at j->p. */
static int
js_compound(struct js *j, unsigned depth)
{
	char close = *j->p == '{' ? '}' : ']';
	bool obj = close == '}';
	int r;

	if (depth >= JS_DEPTH) {
		return EDGEMTA_E_PROTO;
	}
	j->p++;
	js_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		js_ws(j);
		if (obj) {
			if (j->p == j->end || *j->p != '"' ||
			    (r = js_string(j, NULL, 0)) != 0) {
				return EDGEMTA_E_PROTO;
			}
			js_ws(j);
			if (j->p == j->end || *j->p++ != ':') {
				return EDGEMTA_E_PROTO;
			}
		}
		r = js_value(j, depth + 1);
		if (r != 0) {
			return r;
		}
		js_ws(j);
		if (j->p == j->end) {
			return EDGEMTA_E_PROTO;
		}
		if (*j->p == close) {
			j->p++;
			return 0;
		}
		if (*j->p++ != ',') {
			return EDGEMTA_E_PROTO;
		}
	}
}

static int
js_value(struct js *j, unsigned depth)
{
	static const char *const lits[] = { "true", "false", "null" };
	size_t i, n;

	js_ws(j);
	if (j->p == j->end) {
		return EDGEMTA_E_PROTO;
	}
	if (*j->p == '"') {
		return js_string(j, NULL, 0);
	}
	if (*j->p == '{' || *j->p == '[') {
		return js_compound(j, depth);
	}
	if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
		return js_number(j);
	}
	for (i = 0; i < ARRAY_SIZE(lits); i++) {
		n = strlen(lits[i]);
		if ((size_t)(j->end - j->p) >= n &&
		    memcmp(j->p, lits[i], n) == 0) {
			j->p += n;
			return 0;
		}
	}
	return EDGEMTA_E_PROTO;
}

/*
 * Walk the top-level object; *val is where key's value starts (NULL if
 * absent). Member names are compared as raw bytes (the names we look
 * for have no escapes). 0 or EDGEMTA_E_PROTO.
 */
static int
js_find(const char *js, size_t len, const char *key, const char **val)
{
	struct js j = { js, js + len };
	size_t klen = strlen(key);
	int r;

	*val = NULL;
	js_ws(&j);
	if (j.p == j.end || *j.p != '{') {
		return EDGEMTA_E_PROTO;
	}
	j.p++;
	js_ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
		goto tail;
	}
	for (;;) {
		const char *name;

		js_ws(&j);
		if (j.p == j.end || *j.p != '"') {
			return EDGEMTA_E_PROTO;
		}
		name = j.p + 1;
		if (js_string(&j, NULL, 0) != 0) {
			return EDGEMTA_E_PROTO;
		}
		js_ws(&j);
		if (j.p == j.end || *j.p++ != ':') {
			return EDGEMTA_E_PROTO;
		}
		js_ws(&j);
		if ((size_t)(j.p - name) >= klen + 1 && *val == NULL &&
		    memcmp(name, key, klen) == 0 && name[klen] == '"') {
			*val = j.p;
		}
		r = js_value(&j, 1);
		if (r != 0) {
			return r;
		}
		js_ws(&j);
		if (j.p == j.end) {
			return EDGEMTA_E_PROTO;
		}
		if (*j.p == '}') {
			j.p++;
			break;
		}
		if (*j.p++ != ',') {
			return EDGEMTA_E_PROTO;
		}
	}
tail:
	js_ws(&j);
	return j.p == j.end ? 0 : EDGEMTA_E_PROTO;
}

int
oauth2_json_str(const char *js, size_t len, const char *key, char *out,
    size_t outlen)
{
	const char *v;
	struct js j;
	int r = js_find(js, len, key, &v);

	if (outlen > 0) {
		out[0] = '\0';
	}
	if (r != 0) {
		return r;
	}
	if (v == NULL || *v != '"') {
		return EDGEMTA_E_NOENT;
	}
	j.p = v;
	j.end = js + len;
	return js_string(&j, out, outlen);
}

int
oauth2_json_num(const char *js, size_t len, const char *key, uint32_t *out)
{
	const char *v, *end = js + len;
	uint64_t x = 0;
	int r = js_find(js, len, key, &v);

	if (r != 0) {
		return r;
	}
	if (v == NULL) {
		return EDGEMTA_E_NOENT;
	}
	if (*v == '"') {
		v++;	/* "3599": digits inside a string */
	}
	if (v == end || *v < '0' || *v > '9') {
		return EDGEMTA_E_NOENT;
	}
	while (v < end && *v >= '0' && *v <= '9') {
		x = x * 10 + (uint64_t)(*v++ - '0');
		if (x > UINT32_MAX) {
			return EDGEMTA_E_TOOBIG;
		}
	}
	*out = (uint32_t)x;
	return 0;
}

long
oauth2_form_add(char *buf, size_t len, size_t off, const char *key,
    const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *parts[2] = { key, val };
	size_t n = off, i;

	if (off > 0 && n + 1 < len) {
		buf[n++] = '&';
	}
	for (i = 0; i < 2; i++) {
		const unsigned char *s = (const unsigned char *)parts[i];

		for (; *s != '\0'; s++) {
			bool plain = (*s >= 'a' && *s <= 'z') ||
			    (*s >= 'A' && *s <= 'Z') ||
			    (*s >= '0' && *s <= '9') || *s == '-' ||
			    *s == '.' || *s == '_' || *s == '~';

			if (n + 4 > len) {
				goto full;
			}
			if (plain) {
				buf[n++] = (char)*s;
			} else if (*s == ' ') {
				buf[n++] = '+';
			} else {
				buf[n++] = '%';
				buf[n++] = hex[*s >> 4];
				buf[n++] = hex[*s & 15];
			}
		}
		if (i == 0) {
			if (n + 2 > len) {
				goto full;
			}
			buf[n++] = '=';
		}
	}
	buf[n] = '\0';
	return (long)n;
full:
	if (off < len) {
		buf[off] = '\0';
	}
	return EDGEMTA_E_FULL;
}

long
oauth2_http_request(char *buf, size_t len, const char *host,
    const char *path, const char *form)
{
	bool v6 = strchr(host, ':') != NULL;
	int n = snprintf(buf, len, "POST %s HTTP/1.0\r\nHost: %s%s%s\r\n"
	    "User-Agent: edgemta\r\nAccept: application/json\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: %lu\r\nConnection: close\r\n\r\n%s", path,
	    v6 ? "[" : "", host, v6 ? "]" : "", (unsigned long)strlen(form),
	    form);

	return n < 0 || (size_t)n >= len ? EDGEMTA_E_FULL : n;
}

static bool
http_name(const char *line, size_t n, const char *name)
{
	size_t k = strlen(name), i;

	if (n <= k || line[k] != ':') {
		return false;
	}
	for (i = 0; i < k; i++) {
		if ((line[i] | 0x20) != name[i]) {
			return false;
		}
	}
	return true;
}

int
oauth2_http_reply(const char *resp, size_t len, bool eof, int *status,
    const char **body, size_t *bodylen)
{
	const char *p = resp, *end = resp + len;
	bool have_len = false;
	unsigned long clen = 0;
	int i;

	if (len < 12) {
		return eof ? EDGEMTA_E_PROTO : EDGEMTA_E_AGAIN;
	}
	if (memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ') {
		return EDGEMTA_E_PROTO;
	}
	*status = 0;
	for (i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9') {
			return EDGEMTA_E_PROTO;
		}
		*status = *status * 10 + (p[i] - '0');
	}
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (nl == NULL) {
			return EDGEMTA_E_AGAIN;	/* headers not complete */
		}
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r') {
			n--;
		}
		if (n == 0 && p != resp) {
			p = nl + 1;
			break;
		}
		if (http_name(p, n, "content-length")) {
			const char *d = p + 15;

			while (d < p + n && *d == ' ') {
				d++;
			}
			for (clen = 0; d < p + n && *d >= '0' && *d <= '9' &&
			    clen < 100000000ul; d++) {
				clen = clen * 10 + (unsigned long)(*d - '0');
			}
			have_len = true;
		}
		if (http_name(p, n, "transfer-encoding")) {
			return EDGEMTA_E_PROTO;	/* not for HTTP/1.0 */
		}
		p = nl + 1;
	}
	*body = p;
	*bodylen = (size_t)(end - p);
	if (!have_len) {
		return eof ? 0 : EDGEMTA_E_AGAIN;
	}
	if (clen > *bodylen) {
		return EDGEMTA_E_AGAIN;	/* more to come (or cut short) */
	}
	*bodylen = clen;
	return 0;
}

long
oauth2_sasl(int mech, const char *user, const char *token, char *out,
    size_t outlen)
{
	static char raw[OAUTH2_TOKEN_MAX + 300];
	size_t n = 0, i;
	long b;

	if (strlen(user) > 256 || strlen(token) >= OAUTH2_TOKEN_MAX) {
		return EDGEMTA_E_FULL;
	}
	if (mech == OAUTH2_MECH_OAUTHBEARER) {
		/* RFC 7628 3.1 gs2-header with RFC 5801 saslname escapes */
		memcpy(raw, "n,a=", 4);
		n = 4;
		for (i = 0; user[i] != '\0'; i++) {
			if (user[i] == ',' || user[i] == '=') {
				memcpy(raw + n, user[i] == ',' ? "=2C" : "=3D",
				    3);
				n += 3;
			} else {
				raw[n++] = user[i];
			}
		}
		raw[n++] = ',';
	} else {
		n = (size_t)snprintf(raw, sizeof(raw), "user=%s", user);
	}
	n += (size_t)snprintf(raw + n, sizeof(raw) - n,
	    "\001auth=Bearer %s\001\001", token);
	b = auth_b64_encode(raw, n, out, outlen > 2 ? outlen - 2 : 0);
	memset(raw, 0, n);
	if (b < 0 || (size_t)b + 3 > outlen) {
		return EDGEMTA_E_FULL;
	}
	memcpy(out + b, "\r\n", 3);
	return b + 2;
}

#endif
