/*
 * addr.c - IP literals, prefixes and RFC 5321 paths.
 *
 * Everything here is written against the RFC grammars rather than the
 * C library (no inet_pton: core/ must build without POSIX). Parsers take
 * NUL-terminated strings and never read past the NUL.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * Dotted quad at s[0..n) into out[4]. Leading zeros are refused ("010"
 * is octal to some parsers and decimal to others: ambiguity is a trick).
 */
static bool
parse_v4(const char *s, size_t n, uint8_t *out)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part > 0) {
			if (i >= n || s[i] != '.') {
				return false;
			}
			i++;
		}
		while (i < n && is_digit(s[i]) && digits < 4) {
			v = v * 10 + (unsigned)(s[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || digits > 3 || v > 255 ||
		    (digits > 1 && s[i - digits] == '0')) {
			return false;
		}
		out[part] = (uint8_t)v;
	}
	return i == n;
}

/* RFC 4291 2.2 text form at s[0..n) into out[16]. */
static bool
parse_v6(const char *s, size_t n, uint8_t *out)
{
	uint8_t words[16];
	size_t i = 0;
	int nw = 0, gap = -1;

	memset(words, 0, sizeof(words));
	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		gap = 0;
		i = 2;
		if (i == n) {
			memset(out, 0, 16);
			return true;
		}
	} else if (n > 0 && s[0] == ':') {
		return false;
	}
	while (i < n) {
		size_t start = i;
		unsigned v = 0;
		int digits = 0, h;

		if (nw >= 8) {
			return false;
		}
		while (i < n && (h = hex_digit_val(s[i])) >= 0 && digits < 5) {
			v = (v << 4) | (unsigned)h;
			digits++;
			i++;
		}
		if (i < n && s[i] == '.') {
			/* embedded IPv4 tail: must be last, needs 2 words */
			if (nw > 6 || !parse_v4(s + start, n - start,
			    words + nw * 2)) {
				return false;
			}
			nw += 2;
			i = n;
			break;
		}
		if (digits == 0 || digits > 4) {
			return false;
		}
		words[nw * 2] = (uint8_t)(v >> 8);
		words[nw * 2 + 1] = (uint8_t)v;
		nw++;
		if (i == n) {
			break;
		}
		if (s[i] != ':') {
			return false;
		}
		i++;
		if (i < n && s[i] == ':') {
			if (gap >= 0) {
				return false;	/* two "::" */
			}
			gap = nw;
			i++;
		} else if (i == n) {
			return false;		/* trailing single ':' */
		}
	}
	if (gap < 0) {
		if (nw != 8) {
			return false;
		}
		memcpy(out, words, 16);
		return true;
	}
	if (nw > 7) {
		return false;	/* "::" must stand for at least one word */
	}
	memset(out, 0, 16);
	memcpy(out, words, (size_t)gap * 2);
	memcpy(out + 16 - (nw - gap) * 2, words + gap * 2,
	    (size_t)(nw - gap) * 2);
	return true;
}

/* IP literal at s[0..n), IPv6 optionally in brackets. */
static int
parse_ip_n(const char *s, size_t n, struct net_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		if (!parse_v6(s + 1, n - 2, out->ip)) {
			return EDGEMTA_E_INVAL;
		}
		out->family = NET_INET6;
		return 0;
	}
	if (parse_v4(s, n, out->ip)) {
		out->family = NET_INET4;
		return 0;
	}
	if (parse_v6(s, n, out->ip)) {
		out->family = NET_INET6;
		return 0;
	}
	memset(out, 0, sizeof(*out));
	return EDGEMTA_E_INVAL;
}

int
net_addr_parse_ip(const char *s, struct net_addr *out)
{
	return parse_ip_n(s, strlen(s), out);
}

int
net_addr_parse_hostport(const char *s, struct net_addr *out)
{
	const char *colon = strrchr(s, ':');
	size_t hlen;
	unsigned port = 0;
	const char *p;

	memset(out, 0, sizeof(*out));
	if (colon == NULL || colon[1] == '\0') {
		return EDGEMTA_E_INVAL;
	}
	for (p = colon + 1; *p != '\0'; p++) {
		if (!is_digit(*p) || port > 6553) {
			return EDGEMTA_E_INVAL;
		}
		port = port * 10 + (unsigned)(*p - '0');
	}
	if (port == 0 || port > 65535) {
		return EDGEMTA_E_INVAL;
	}
	hlen = (size_t)(colon - s);
	if (hlen == 1 && s[0] == '*') {
		out->family = NET_INET4;	/* 0.0.0.0 */
	} else {
		/* a bare IPv6 would make the port ambiguous: brackets */
		if (hlen == 0 || (s[0] != '[' && memchr(s, ':', hlen))) {
			return EDGEMTA_E_INVAL;
		}
		if (parse_ip_n(s, hlen, out) != 0) {
			return EDGEMTA_E_INVAL;
		}
	}
	out->port = (uint16_t)port;
	return 0;
}

int
net_prefix_parse(const char *s, struct net_prefix *out)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned len = 0, max, i;
	const char *p;

	memset(out, 0, sizeof(*out));
	if (parse_ip_n(s, alen, &out->addr) != 0) {
		return EDGEMTA_E_INVAL;
	}
	max = out->addr.family == NET_INET4 ? 32 : 128;
	if (slash == NULL) {
		len = max;
	} else {
		if (slash[1] == '\0' || strlen(slash + 1) > 3) {
			goto fail;
		}
		for (p = slash + 1; *p != '\0'; p++) {
			if (!is_digit(*p)) {
				goto fail;
			}
			len = len * 10 + (unsigned)(*p - '0');
		}
		if (len > max) {
			goto fail;
		}
	}
	out->len = (uint8_t)len;
	/* keep only the network bits: "10.1.2.3/8" means 10.0.0.0/8 */
	for (i = 0; i < 16; i++) {
		unsigned bits = len > i * 8 ? len - i * 8 : 0;

		if (bits < 8) {
			out->addr.ip[i] &= (uint8_t)(0xff00u >> bits);
		}
	}
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return EDGEMTA_E_INVAL;
}

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static bool
bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(a, b, full) != 0) {
		return false;
	}
	if (rest == 0) {
		return true;
	}
	return ((a[full] ^ b[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

bool
net_prefix_match(const struct net_prefix *p, const struct net_addr *a)
{
	const uint8_t *ip = a->ip;
	unsigned fam = a->family;
	unsigned pfam = p->addr.family;
	const uint8_t *pip = p->addr.ip;
	unsigned plen = p->len;

	/* reduce IPv4-mapped IPv6 (::ffff:a.b.c.d) to plain IPv4 */
	if (fam == NET_INET6 && memcmp(ip, v4mapped, 12) == 0) {
		fam = NET_INET4;
		ip += 12;
	}
	if (pfam == NET_INET6 && plen >= 96 &&
	    memcmp(pip, v4mapped, 12) == 0) {
		pfam = NET_INET4;
		pip += 12;
		plen -= 96;
	}
	if (fam != pfam || (fam != NET_INET4 && fam != NET_INET6)) {
		return false;
	}
	return bits_equal(pip, ip, plen);
}

char *
net_addr_str(const struct net_addr *a, char *buf, size_t len)
{
	char tmp[NET_ADDR_STRLEN];
	size_t o = 0;
	int best = -1, bestn = 0, i;

	if (len == 0) {
		return buf;
	}
	if (a->family == NET_INET4) {
		snprintf(buf, len, "%u.%u.%u.%u", a->ip[0], a->ip[1],
		    a->ip[2], a->ip[3]);
		return buf;
	}
	if (a->family != NET_INET6) {
		snprintf(buf, len, "%s",
		    a->family == NET_LOCAL ? "local" : "unknown");
		return buf;
	}
	/* RFC 5952 4.2: compress the longest run of >= 2 zero words,
	 * the first one on a tie */
	for (i = 0; i < 8; i++) {
		int n = 0;

		while (i + n < 8 && a->ip[(i + n) * 2] == 0 &&
		    a->ip[(i + n) * 2 + 1] == 0) {
			n++;
		}
		if (n > bestn && n >= 2) {
			best = i;
			bestn = n;
		}
		i += n;
	}
	if (memcmp(a->ip, v4mapped, 12) == 0) {
		/* RFC 5952 5: ::ffff:192.0.2.1 */
		snprintf(buf, len, "::ffff:%u.%u.%u.%u", a->ip[12],
		    a->ip[13], a->ip[14], a->ip[15]);
		return buf;
	}
	for (i = 0; i < 8; i++) {
		if (i == best) {
			tmp[o++] = ':';
			if (i == 0) {
				tmp[o++] = ':';
			}
			i += bestn - 1;
			continue;
		}
		o += (size_t)snprintf(tmp + o, sizeof(tmp) - o, "%x%s",
		    (unsigned)(a->ip[i * 2] << 8 | a->ip[i * 2 + 1]),
		    i < 7 ? ":" : "");
	}
	tmp[o] = '\0';
	snprintf(buf, len, "%s", tmp);
	return buf;
}

/* ---- RFC 5321 4.1.2 paths ---- */

/* atext of RFC 5322 3.2.3, plus UTF-8 octets (RFC 6531 3.3). */
static bool
is_atext(int c)
{
	c &= 0xff;
	return is_alpha(c) || is_digit(c) || c >= 0x80 ||
	    (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool
is_ldh(int c)
{
	c &= 0xff;
	return is_alpha(c) || is_digit(c) || c == '-' || c >= 0x80;
}

/* Dot-string at s; returns its length or 0 if malformed. */
static size_t
scan_dot_string(const char *s)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;

		while (is_atext(s[i])) {
			i++;
		}
		if (i == start) {
			return 0;	/* empty atom: "..", leading dot */
		}
		if (s[i] != '.') {
			return i;
		}
		i++;
	}
}

/* Quoted-string at s (s[0] == '"'); returns its length or 0. */
static size_t
scan_quoted(const char *s)
{
	size_t i = 1;

	for (;;) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"') {
			return i + 1;
		}
		if (c == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			c = (unsigned char)s[i + 1];
			if (c < 32 || c > 126) {
				return 0;
			}
			i += 2;
			continue;
		}
		/* qtextSMTP: %d32-33 / %d35-91 / %d93-126, UTF-8 */
		if (c < 32 || c == 127) {
			return 0;
		}
		i++;
	}
}

/*
 * Domain (RFC 5321 4.1.2) at s: dot-separated labels of letters, digits
 * and inner hyphens, each 1-63 octets. For a HELO name (helo): ASCII
 * only (A-labels), and '_' too (host names of Windows and many LAN
 * devices). Returns length or 0.
 */
static size_t
scan_domain_u(const char *s, bool helo)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;

		while ((is_ldh(s[i]) && !(helo && (s[i] & 0x80))) ||
		    (helo && s[i] == '_')) {
			i++;
		}
		if (i == start || i - start > 63 || s[start] == '-' ||
		    s[i - 1] == '-') {
			return 0;
		}
		if (s[i] != '.') {
			return i;
		}
		i++;
	}
}

static size_t
scan_domain(const char *s)
{
	return scan_domain_u(s, false);
}

/*
 * address-literal "[...]" at s: IPv4, "IPv6:" + IPv6, or a
 * General-address-literal (tag ":" dcontent). Returns length or 0.
 */
static size_t
scan_addr_literal(const char *s)
{
	const char *end = strchr(s, ']');
	uint8_t ip[16];
	size_t n, i, tag;

	if (end == NULL) {
		return 0;
	}
	n = (size_t)(end - s) - 1;	/* inside the brackets */
	s++;
	if (parse_v4(s, n, ip)) {
		return n + 2;
	}
	if (n > 5 && (s[0] == 'I' || s[0] == 'i') &&
	    (s[1] == 'P' || s[1] == 'p') && s[2] == 'v' && s[3] == '6' &&
	    s[4] == ':') {
		return parse_v6(s + 5, n - 5, ip) ? n + 2 : 0;
	}
	/* Standardized-tag = Ldh-str ":" 1*dcontent */
	for (tag = 0; tag < n && is_ldh(s[tag]) &&
	    (unsigned char)s[tag] < 0x80; tag++) {
	}
	if (tag == 0 || tag >= n - 1 || s[tag] != ':' || s[tag - 1] == '-') {
		return 0;
	}
	for (i = tag + 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* dcontent = %d33-90 / %d94-126 */
		if (c < 33 || c > 126 || c == '[' || c == '\\') {
			return 0;
		}
	}
	return n + 2;
}

static bool
is_postmaster(const char *s, size_t n)
{
	static const char pm[] = "postmaster";
	size_t i;

	if (n != sizeof(pm) - 1) {
		return false;
	}
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z') {
			c = (char)(c - 'A' + 'a');
		}
		if (c != pm[i]) {
			return false;
		}
	}
	return true;
}

int
addr_parse_path(const char *s, char *out, const char **rest)
{
	const char *p, *mbox;
	size_t local, dom, n;

	out[0] = '\0';
	if (s[0] != '<') {
		return EDGEMTA_E_INVAL;
	}
	p = s + 1;
	if (*p == '>') {
		*rest = p + 1;
		return 0;		/* null reverse-path */
	}
	/* A-d-l: "@one,@two:" (RFC 5321 4.1.2, C.): accepted, dropped */
	if (*p == '@') {
		for (;;) {
			p++;
			if (*p == '[') {
				n = scan_addr_literal(p);
			} else {
				n = scan_domain(p);
			}
			if (n == 0) {
				return EDGEMTA_E_INVAL;
			}
			p += n;
			if (*p == ':') {
				p++;
				break;
			}
			if (p[0] != ',' || p[1] != '@') {
				return EDGEMTA_E_INVAL;
			}
			p++;
		}
	}
	mbox = p;
	local = *p == '"' ? scan_quoted(p) : scan_dot_string(p);
	if (local == 0 || local > 64) {
		return EDGEMTA_E_INVAL;
	}
	p += local;
	if (*p == '>' && mbox == s + 1 && is_postmaster(mbox, local)) {
		dom = 0;	/* "<Postmaster>" (RFC 5321 4.1.1.3) */
	} else {
		if (*p != '@') {
			return EDGEMTA_E_INVAL;
		}
		p++;
		dom = p[0] == '[' ? scan_addr_literal(p) : scan_domain(p);
		if (dom == 0 || dom > 255) {
			return EDGEMTA_E_INVAL;
		}
		p += dom;
	}
	if (*p != '>') {
		return EDGEMTA_E_INVAL;
	}
	n = (size_t)(p - mbox);
	/* RFC 5321 4.5.3.1.3: the whole path incl. "<" and ">" is 256 */
	if ((size_t)(p - s) + 1 > 256 || n >= ADDR_MAX) {
		return EDGEMTA_E_INVAL;
	}
	memcpy(out, mbox, n);
	out[n] = '\0';
	*rest = p + 1;
	return 0;
}

bool
addr_helo_ok(const char *s)
{
	size_t n = s[0] == '[' ? scan_addr_literal(s) : scan_domain_u(s, true);

	return n > 0 && n <= 255 && s[n] == '\0';
}

int
addr_at(const char *mailbox)
{
	int at = -1, i;
	bool quoted = false;

	for (i = 0; mailbox[i] != '\0'; i++) {
		char c = mailbox[i];

		if (quoted && c == '\\' && mailbox[i + 1] != '\0') {
			i++;
		} else if (c == '"') {
			quoted = !quoted;
		} else if (c == '@' && !quoted) {
			at = i;
		}
	}
	return at;
}
