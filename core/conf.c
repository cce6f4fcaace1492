/*
 * conf.c - the runtime configuration file.
 *
 * One table row per key: name, type, where the value lives in struct conf
 * and its allowed range. Parsing, range checks and printing are driven by
 * the type, so adding a key is adding a row (and a default).
 *
 * Syntax (Postfix-like): "key = value" per line; '#' starts a comment
 * line; blank lines ignored; surrounding blanks trimmed; a later line wins
 * except for "listen", whose first line in a file replaces the built-in
 * listeners and further lines add to them. No continuation lines and no
 * trailing comments (a '#' after a value is part of the value).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "storm.h"
#include "inject.h"
#include "oauth2.h"
#include "tls.h"

#define BOUNCE_RATE_LIMIT_DEFAULT 30	/* bounces per hour */
#define ECHO_MAX 60			/* bytes of a bad value quoted back */

static const char conf_ctl[] = "contains a control character";

enum conf_type {
	CT_STR,		/* free text, no control characters */
	CT_PATH,	/* non-empty file name */
	CT_HOST,	/* host name or empty */
	CT_MAILBOX,	/* local@domain, bare local name, or empty */
	CT_SIZE,	/* bytes, k/M/G suffixes */
	CT_TIME,	/* seconds, s/m/h/d/w suffixes */
	CT_UINT,	/* plain count */
	CT_LISTEN,
	CT_NETS,
	CT_RELAY,
	CT_SECRET,	/* free text, printed as "(set)" */
	CT_DNSSERV,	/* "ADDR[:PORT]" list (dnsq) */
	CT_ADDRPREF,	/* ipv6 | ipv4 | any */
	CT_RATE		/* "N/PERIOD" (30/1m) or empty */
};

struct conf_key {
	const char *name;
	uint8_t type;		/* enum conf_type */
	uint16_t off;		/* offsetof(struct conf, field) */
	uint16_t size;		/* sizeof the field */
	uint32_t min, max;	/* numbers only */
};

#define KEY(n, t, lo, hi) { #n, t, offsetof(struct conf, n), \
	sizeof(((struct conf *)0)->n), lo, hi }

/* In the order conf_print writes them. */
static const struct conf_key conf_keys[] = {
	KEY(myhostname, CT_HOST, 0, 0),
	KEY(myorigin, CT_HOST, 0, 0),
	KEY(listen, CT_LISTEN, 0, 0),
	KEY(mynetworks, CT_NETS, 0, 0),
	KEY(queue_path, CT_PATH, 0, 0),
	KEY(queue_size, CT_SIZE, 0, UINT32_MAX),
	KEY(message_size_limit, CT_SIZE, 1024, 2147483647),
	KEY(local_socket, CT_STR, 0, 0),	/* "": none (lwIP) */
	KEY(smtpd_timeout, CT_TIME, 10, 3600),
	KEY(smtpd_command_deadline, CT_TIME, 0, 3600),
	KEY(smtpd_min_data_rate, CT_UINT, 0, 1000000000),
	KEY(smtpd_greet_wait, CT_TIME, 0, 60),
	KEY(relayhost, CT_RELAY, 0, 0),
	KEY(minimal_backoff_time, CT_TIME, 1, 86400),
	KEY(maximal_backoff_time, CT_TIME, 1, 604800),
	KEY(maximal_queue_lifetime, CT_TIME, 60, 31536000),
	KEY(bounce_notice_recipient, CT_MAILBOX, 0, 0),
	KEY(bounce_rate_limit, CT_UINT, 1, 1000000),
	KEY(hopcount_limit, CT_UINT, 1, 1000),
	KEY(smtp_destination_rate_delay, CT_TIME, 0, 86400),
	KEY(smtp_rate_limit, CT_RATE, 0, 0),
	KEY(alert_collapse_window, CT_TIME, 0, 86400),
	KEY(aliases, CT_STR, 0, 0),
	KEY(sender_rewrite, CT_MAILBOX, 0, 0),
	KEY(dns_servers, CT_DNSSERV, 0, 0),
	KEY(smtp_address_preference, CT_ADDRPREF, 0, 0),
	KEY(default_destination_concurrency_limit, CT_UINT, 1, 1000),
	KEY(smtpd_tls_cert_file, CT_STR, 0, 0),
	KEY(smtpd_tls_key_file, CT_STR, 0, 0),
	KEY(smtpd_users_file, CT_STR, 0, 0),
	KEY(smtp_tls_security_level, CT_STR, 0, 0),
	KEY(smtp_tls_CAfile, CT_PATH, 0, 0),
	KEY(smtp_tls_fingerprint, CT_STR, 0, 0),
	KEY(smtp_tls_wrapper, CT_STR, 0, 0),
	KEY(smtp_sasl_password_file, CT_STR, 0, 0),
	KEY(smtp_sasl_username, CT_STR, 0, 0),
	KEY(smtp_sasl_password, CT_SECRET, 0, 0),
	KEY(smtp_sasl_mechanism, CT_STR, 0, 0),
	KEY(smtp_oauth2_token_url, CT_STR, 0, 0),
	KEY(smtp_oauth2_client_id, CT_STR, 0, 0),
	KEY(smtp_oauth2_client_secret, CT_SECRET, 0, 0),
	KEY(smtp_oauth2_refresh_token_file, CT_STR, 0, 0),
	KEY(smtp_oauth2_device_url, CT_STR, 0, 0),
	KEY(smtp_oauth2_scope, CT_STR, 0, 0),
	KEY(smtp_oauth2_tls_fingerprint, CT_STR, 0, 0),
	KEY(user, CT_STR, 0, 0),
};

_Static_assert(ARRAY_SIZE(conf_keys) <= CONF_NKEYS, "raise CONF_NKEYS");

struct conf_unit {
	char suffix;
	uint32_t mult;
};

static const struct conf_unit size_units[] = {
	{ 'G', 1073741824u }, { 'M', 1048576u }, { 'K', 1024u },
	{ 'g', 1073741824u }, { 'm', 1048576u }, { 'k', 1024u },
};

static const struct conf_unit time_units[] = {
	{ 'w', 604800u }, { 'd', 86400u }, { 'h', 3600u }, { 'm', 60u },
	{ 's', 1u },
};

static const char *const listen_modes[] = { "smtp", "submission",
	"smtps" };

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* A token of a value: s[0..n) copied NUL-terminated into buf. */
static bool
next_token(const char **s, const char *end, char *buf, size_t len,
    bool comma)
{
	const char *p = *s, *t;

	while (p < end && (is_space(*p) || (comma && *p == ','))) {
		p++;
	}
	if (p == end) {
		*s = p;
		return false;
	}
	t = p;
	while (p < end && !is_space(*p) && !(comma && *p == ',')) {
		p++;
	}
	snprintf(buf, len, "%.*s", (int)(p - t), t);
	if ((size_t)(p - t) >= len) {
		buf[len - 1] = '\0';	/* caller sees a truncated, bad token */
		buf[len - 2] = '?';
	}
	*s = p;
	return true;
}

/* RFC 1123 host name: labels of letters, digits, inner '-', <= 253. */
static bool
valid_hostname(const char *s, size_t n)
{
	size_t i, lab = 0;

	if (n == 0 || n > 253) {
		return false;
	}
	for (i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '.';

		if (c == '.') {
			if (lab == 0 || lab > 63 || s[i - 1] == '-' ||
			    s[i - lab] == '-') {
				return false;
			}
			lab = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-') {
			lab++;
		} else {
			return false;
		}
	}
	return true;
}

static void
fmt_num(char *buf, size_t len, uint32_t v, const struct conf_unit *u,
    size_t nu)
{
	size_t i;

	for (i = 0; i < nu && v != 0; i++) {
		if (u[i].mult > 1 && v % u[i].mult == 0) {
			snprintf(buf, len, "%lu%c", (unsigned long)(v /
			    u[i].mult), u[i].suffix);
			return;
		}
	}
	snprintf(buf, len, "%lu", (unsigned long)v);
}

static void
fmt_value_num(const struct conf_key *k, uint32_t v, char *buf, size_t len)
{
	if (k->type == CT_SIZE) {
		fmt_num(buf, len, v, size_units, 3);	/* upper case */
	} else if (k->type == CT_TIME) {
		fmt_num(buf, len, v, time_units, ARRAY_SIZE(time_units));
	} else {
		fmt_num(buf, len, v, NULL, 0);
	}
}

/* Digits and an optional unit suffix. */
static const char *
parse_num(const struct conf_key *k, const char *v, size_t n, uint32_t *out)
{
	const struct conf_unit *u = NULL;
	size_t nu = 0, i, digits;
	uint64_t x = 0;

	if (k->type == CT_SIZE) {
		u = size_units;
		nu = ARRAY_SIZE(size_units);
	} else if (k->type == CT_TIME) {
		u = time_units;
		nu = ARRAY_SIZE(time_units);
	}
	for (digits = 0; digits < n && v[digits] >= '0' && v[digits] <= '9';
	    digits++) {
		x = x * 10 + (uint64_t)(v[digits] - '0');
		if (x > UINT32_MAX) {
			return "number too large";
		}
	}
	if (digits == 0) {
		goto bad;
	}
	if (digits < n) {
		if (digits + 1 != n) {
			goto bad;
		}
		for (i = 0; i < nu && u[i].suffix != v[digits]; i++) {
		}
		if (i == nu) {
			goto bad;
		}
		x *= u[i].mult;
		if (x > UINT32_MAX) {
			return "number too large";
		}
	}
	if (x < k->min || x > k->max) {
		static char range[64];
		char lo[16], hi[16];

		fmt_value_num(k, k->min, lo, sizeof(lo));
		fmt_value_num(k, k->max, hi, sizeof(hi));
		snprintf(range, sizeof(range), "must be between %s and %s",
		    lo, hi);
		return range;
	}
	*out = (uint32_t)x;
	return NULL;
bad:
	if (k->type == CT_SIZE) {
		return "expected bytes, or a number with k, M or G";
	}
	if (k->type == CT_TIME) {
		return "expected seconds, or a number with s, m, h, d or w";
	}
	return "expected a number";
}

/* One listener per "ADDR:PORT MODE" pair; s[0..n) may hold several. */
static const char *
parse_listen(struct conf *c, const char *s, size_t n, bool replace)
{
	const char *end = s + n;
	struct conf_listen l;
	char tok[64];
	unsigned i, count = replace ? 0 : c->nlisten;

	if (n == 0) {
		return "expected ADDR:PORT MODE";
	}
	if (replace) {
		memset(c->listen, 0, sizeof(c->listen));
		c->nlisten = 0;
	}
	while (next_token(&s, end, tok, sizeof(tok), false)) {
		memset(&l, 0, sizeof(l));
		if (net_addr_parse_hostport(tok, &l.addr) != 0) {
			return "ADDR:PORT must be like 127.0.0.1:25, "
			    "[::1]:25 or *:25";
		}
		if (!next_token(&s, end, tok, sizeof(tok), false)) {
			return "missing MODE (smtp, submission or smtps)";
		}
		for (i = 0; i < ARRAY_SIZE(listen_modes) &&
		    strcmp(tok, listen_modes[i]) != 0; i++) {
		}
		if (i == ARRAY_SIZE(listen_modes)) {
			return "MODE must be smtp, submission or smtps";
		}
		l.mode = (uint8_t)i;
		for (i = 0; i < count; i++) {
			if (memcmp(&c->listen[i].addr, &l.addr,
			    sizeof(l.addr)) == 0) {
				return "the same ADDR:PORT is listed twice";
			}
		}
		if (count >= CONFIG_MAX_LISTENERS) {
			return "too many listeners (CONFIG_MAX_LISTENERS)";
		}
		/* IPv4 before IPv6: a [::] listener takes IPv4 clients
		 * only when no IPv4 listener has its port (sock.c) */
		for (i = count; l.addr.family == NET_INET4 && i > 0 &&
		    c->listen[i - 1].addr.family != NET_INET4; i--) {
			c->listen[i] = c->listen[i - 1];
		}
		c->listen[i] = l;
		c->nlisten = ++count;
	}
	return NULL;
}

static const char *
parse_nets(struct conf *c, const char *s, size_t n)
{
	const char *end = s + n;
	char tok[64];
	unsigned count = 0;

	while (next_token(&s, end, tok, sizeof(tok), true)) {
		if (count >= CONFIG_MAX_MYNETWORKS) {
			return "too many networks (CONFIG_MAX_MYNETWORKS)";
		}
		if (net_prefix_parse(tok, &c->mynetworks[count]) != 0) {
			return "expected networks like 10.0.0.0/8 or "
			    "[fd00::]/8";
		}
		count++;
	}
	/* no rest of an earlier, longer list (equal settings compare equal) */
	memset(&c->mynetworks[count], 0, (CONFIG_MAX_MYNETWORKS - count) *
	    sizeof(c->mynetworks[0]));
	c->nmynetworks = count;
	return NULL;
}

/* "[host]:port", "host:port", "[host]" or "host", comma/space separated */
static const char *
parse_relay(const char *s, size_t n)
{
	static const char msg[] = "expected [host]:port, host:port or [host]";
	const char *end = s + n;
	char tok[CONF_STR_MAX];
	struct net_addr a;

	while (next_token(&s, end, tok, sizeof(tok), true)) {
		char *host = tok, *port = NULL, *p;
		unsigned pv = 0;

		if (tok[0] == '[') {
			p = strchr(tok, ']');
			if (p == NULL) {
				return msg;
			}
			*p = '\0';
			host++;
			if (p[1] == ':') {
				port = p + 2;
			} else if (p[1] != '\0') {
				return msg;
			}
			if (net_addr_parse_ip(host, &a) != 0 &&
			    !valid_hostname(host, strlen(host))) {
				return msg;
			}
		} else {
			p = strchr(tok, ':');
			if (p != NULL) {
				*p = '\0';
				port = p + 1;
			}
			/* an IPv6 address needs brackets for its colons */
			if (!valid_hostname(host, strlen(host))) {
				return msg;
			}
		}
		if (port != NULL) {
			for (p = port; *p >= '0' && *p <= '9' && pv <= 65535;
			    p++) {
				pv = pv * 10 + (unsigned)(*p - '0');
			}
			if (p == port || *p != '\0' || pv == 0 || pv > 65535) {
				return "port must be 1-65535";
			}
		}
	}
	return NULL;
}

static const char *
parse_mailbox(const char *s, size_t n)
{
	char path[ADDR_MAX + 16];
	char out[ADDR_MAX];
	const char *rest;
	bool at = memchr(s, '@', n) != NULL;

	if (n == 0) {
		return NULL;
	}
	if (n > ADDR_MAX - 16) {
		return "too long";
	}
	snprintf(path, sizeof(path), "<%.*s%s>", (int)n, s,
	    at ? "" : "@localhost");
	if (addr_parse_path(path, out, &rest) != 0 || *rest != '\0') {
		return "expected an address like postmaster or "
		    "admin@example.com";
	}
	return NULL;
}

/* "N/PERIOD": N messages per PERIOD (a time, e.g. 30/1m, 2000/1d). */
static const char *
parse_rate(const char *s, size_t n, uint32_t *count, uint32_t *period)
{
	static const struct conf_key kn = { "", CT_UINT, 0, 0, 1, 1000000 };
	static const struct conf_key kp = { "", CT_TIME, 0, 0, 1, 31536000 };
	const char *slash = memchr(s, '/', n);

	if (slash == NULL || parse_num(&kn, s, (size_t)(slash - s), count) !=
	    NULL || parse_num(&kp, slash + 1, n - (size_t)(slash - s) - 1,
	    period) != NULL) {
		return "expected messages/period like 30/1m or 2000/1d";
	}
	return NULL;
}

bool
conf_rate(const struct conf *c, uint32_t *count, uint32_t *period)
{
	size_t n = strlen(c->smtp_rate_limit);

	return n > 0 && parse_rate(c->smtp_rate_limit, n, count, period) ==
	    NULL;
}

/* Set key k of c from the value s[0..n). NULL or why it is bad. */
/* dns_servers: "1.2.3.4 [2001:db8::1]:53 127.0.0.1:5353" (dnsq.c) */
static const char *
parse_dns_servers(const char *s, size_t n)
{
	const char *end = s + n;
	char tok[NET_ADDR_STRLEN + 8];
	struct net_addr a;

	while (next_token(&s, end, tok, sizeof(tok), true)) {
		if (net_addr_parse_ip(tok, &a) != 0 &&
		    net_addr_parse_hostport(tok, &a) != 0) {
			return "expected IP addresses like 192.0.2.53 or "
			    "[2001:db8::53]:53";
		}
	}
	return NULL;
}

static const char *
set_value(struct conf *c, const struct conf_key *k, const char *s, size_t n,
    bool *listen_seen)
{
	char *field = (char *)c + k->off;
	static char toolong[48];
	const char *why = NULL;
	uint32_t v;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch < 32 && ch != '\t') || ch == 127) {
			return conf_ctl;	/* not echoed back */
		}
	}
	switch (k->type) {
	case CT_LISTEN:
		why = parse_listen(c, s, n, !*listen_seen);
		*listen_seen = true;
		return why;
	case CT_NETS:
		return parse_nets(c, s, n);
	case CT_SIZE:
	case CT_TIME:
	case CT_UINT:
		why = parse_num(k, s, n, &v);
		if (why == NULL) {
			memcpy(field, &v, sizeof(v));
		}
		return why;
	case CT_PATH:
		if (n == 0) {
			return "empty";
		}
		break;
	case CT_HOST:
		if (n > 0 && !valid_hostname(s, n)) {
			return "expected a host name like mail.example.com";
		}
		break;
	case CT_MAILBOX:
		why = parse_mailbox(s, n);
		break;
	case CT_RELAY:
		why = parse_relay(s, n);
		break;
	case CT_DNSSERV:
		why = parse_dns_servers(s, n);
		break;
	case CT_RATE:
		if (n > 0) {
			uint32_t cnt, per;

			why = parse_rate(s, n, &cnt, &per);
		}
		break;
	case CT_ADDRPREF:
		if (!((n == 4 && (memcmp(s, "ipv6", 4) == 0 ||
		    memcmp(s, "ipv4", 4) == 0)) || (n == 3 &&
		    memcmp(s, "any", 3) == 0))) {
			return "expected ipv6, ipv4 or any";
		}
		break;
	default:
		break;
	}
	if (why != NULL) {
		return why;
	}
	if (n >= k->size && k->size == 1) {
		return "not built in (a Kconfig option is off)";
	}
	if (n >= k->size) {
		snprintf(toolong, sizeof(toolong), "too long (at most %u "
		    "characters)", (unsigned)k->size - 1);
		return toolong;
	}
	memcpy(field, s, n);
	/* no rest of an earlier, longer value: equal settings compare equal */
	memset(field + n, 0, k->size - n);
	return NULL;
}

void
conf_defaults(struct conf *c)
{
	uint64_t qs = (uint64_t)CONFIG_DEFAULT_QUEUE_SIZE * 1024;
	static const char listen[] = CONFIG_DEFAULT_LISTEN;
	static const char nets[] = CONFIG_DEFAULT_MYNETWORKS;

	memset(c, 0, sizeof(*c));
	(void)parse_listen(c, listen, sizeof(listen) - 1, true);
	(void)parse_nets(c, nets, sizeof(nets) - 1);
	snprintf(c->queue_path, sizeof(c->queue_path), "%s",
	    CONFIG_DEFAULT_QUEUE_PATH);
	c->queue_size = qs > UINT32_MAX ? UINT32_MAX -
	    (UINT32_MAX % CONFIG_QUEUE_BLOCK_SIZE) : (uint32_t)qs;
	c->message_size_limit = CONFIG_DEFAULT_MESSAGE_SIZE_LIMIT;
	snprintf(c->local_socket, sizeof(c->local_socket), "%s",
	    CONFIG_DEFAULT_LOCAL_SOCKET);
	c->smtpd_timeout = CONFIG_DEFAULT_SMTPD_TIMEOUT;
	c->smtpd_command_deadline = CONFIG_DEFAULT_SMTPD_COMMAND_DEADLINE;
	c->smtpd_min_data_rate = CONFIG_DEFAULT_SMTPD_MIN_DATA_RATE;
	c->smtpd_greet_wait = CONFIG_DEFAULT_SMTPD_GREET_WAIT;
	c->minimal_backoff_time = CONFIG_DEFAULT_MINIMAL_BACKOFF;
	c->maximal_backoff_time = CONFIG_DEFAULT_MAXIMAL_BACKOFF;
	c->maximal_queue_lifetime = CONFIG_DEFAULT_MAXIMAL_QUEUE_LIFETIME;
	snprintf(c->bounce_notice_recipient,
	    sizeof(c->bounce_notice_recipient), "postmaster");
	c->bounce_rate_limit = BOUNCE_RATE_LIMIT_DEFAULT;
	c->hopcount_limit = 50;	/* Postfix's default */
	snprintf(c->smtp_address_preference,
	    sizeof(c->smtp_address_preference), "any");
	c->default_destination_concurrency_limit = 20;
	snprintf(c->smtp_tls_CAfile, sizeof(c->smtp_tls_CAfile), "%s",
	    CONF_TLS_CAFILE);
}

static const char *const tls_levels[] = { "none", "may", "encrypt",
	"verify" };

int
conf_tls_level(const struct conf *c)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(tls_levels); i++) {
		if (strcmp(c->smtp_tls_security_level, tls_levels[i]) == 0) {
			return (int)i;
		}
	}
	/* default: verified TLS to a relayhost (none without TLS) */
	return CONFIG_TLS ? CONF_TLS_VERIFY : CONF_TLS_NONE;
}

static void
trim(const char **s, const char **e)
{
	while (*s < *e && is_space(**s)) {
		(*s)++;
	}
	while (*e > *s && (is_space((*e)[-1]) || (*e)[-1] == '\r')) {
		(*e)--;
	}
}

int
conf_parse(struct conf *c, const char *name, const char *text, size_t len,
    char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	bool listen_seen = false;
	unsigned line = 0;
	size_t i;

	c->file = name;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *ks = p, *ke, *vs, *ve, *eq, *why;
		const struct conf_key *k = NULL;

		if (eol == NULL) {
			eol = end;
		}
		line++;
		p = eol < end ? eol + 1 : end;
		ke = eol;
		trim(&ks, &ke);
		if (ks == ke || *ks == '#') {
			continue;
		}
		eq = memchr(ks, '=', (size_t)(ke - ks));
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%u: missing '='", name, line);
			return EDGEMTA_E_INVAL;
		}
		vs = eq + 1;
		ve = ke;
		ke = eq;
		trim(&ks, &ke);
		trim(&vs, &ve);
		if (ks == ke) {
			snprintf(err, errlen, "%s:%u: missing key before '='",
			    name, line);
			return EDGEMTA_E_INVAL;
		}
		for (i = 0; i < ARRAY_SIZE(conf_keys); i++) {
			if (strlen(conf_keys[i].name) == (size_t)(ke - ks) &&
			    memcmp(conf_keys[i].name, ks,
			    (size_t)(ke - ks)) == 0) {
				k = &conf_keys[i];
				break;
			}
		}
		if (k == NULL) {
			bool ctl = false;

			for (eq = ks; eq < ke; eq++) {
				ctl |= (unsigned char)*eq < 32;
			}
			snprintf(err, errlen, "%s:%u: unknown key '%.*s'",
			    name, line, ctl ? 1 : (int)MIN(ke - ks, ECHO_MAX),
			    ctl ? "?" : ks);
			return EDGEMTA_E_INVAL;
		}
		c->line[k - conf_keys] = (uint16_t)MIN(line, UINT16_MAX);
		why = set_value(c, k, vs, (size_t)(ve - vs), &listen_seen);
		if (why != NULL) {
			if (why == conf_ctl) {
				snprintf(err, errlen, "%s:%u: bad value for "
				    "%s: %s", name, line, k->name, why);
			} else {
				snprintf(err, errlen, "%s:%u: bad value for "
				    "%s: '%.*s': %s", name, line, k->name,
				    (int)MIN(ve - vs, ECHO_MAX), vs, why);
			}
			return EDGEMTA_E_INVAL;
		}
	}
	return 0;
}

static int
key_index(const char *key)
{
	int i;

	for (i = 0; i < (int)ARRAY_SIZE(conf_keys); i++) {
		if (strcmp(conf_keys[i].name, key) == 0) {
			return i;
		}
	}
	return -1;
}

void
conf_where(const struct conf *c, const char *key, char *buf, size_t len)
{
	int i = key_index(key);

	if (c->file == NULL) {
		snprintf(buf, len, "default");
	} else if (i >= 0 && c->line[i] != 0) {
		snprintf(buf, len, "%s:%u", c->file, (unsigned)c->line[i]);
	} else {
		snprintf(buf, len, "%s", c->file);
	}
}

void
conf_err_prefix(const struct conf *c, const char *key, char *err,
    size_t errlen)
{
	char msg[CONF_ERR_MAX], where[CONF_ERR_MAX];

	snprintf(msg, sizeof(msg), "%s", err);
	conf_where(c, key, where, sizeof(where));
	snprintf(err, errlen, "%s: %s: %s", where, key, msg);
}

/* err: "where: key: fmt..." */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static int
conf_fail(const struct conf *c, const char *key, char *err, size_t errlen,
    const char *fmt, ...)
{
	char where[CONF_ERR_MAX], msg[CONF_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_where(c, key, where, sizeof(where));
	snprintf(err, errlen, "%s: %s", where, msg);
	return EDGEMTA_E_INVAL;
}

/* TLS and AUTH keys: values and combinations. */
static int
conf_validate_tls(const struct conf *c, char *err, size_t errlen)
{
	const char *lv = c->smtp_tls_security_level;
	const char *w = c->smtp_tls_wrapper;
	uint8_t fp[32];

	if (lv[0] != '\0' && strcmp(lv, "none") != 0 &&
	    strcmp(lv, "may") != 0 && strcmp(lv, "encrypt") != 0 &&
	    strcmp(lv, "verify") != 0) {
		return conf_fail(c, "smtp_tls_security_level", err, errlen,
		    "smtp_tls_security_level: '%.*s': expected none, may, "
		    "encrypt or verify", ECHO_MAX, lv);
	}
	if (w[0] != '\0' && strcmp(w, "yes") != 0 && strcmp(w, "no") != 0) {
		return conf_fail(c, "smtp_tls_wrapper", err, errlen,
		    "smtp_tls_wrapper: expected yes or no");
	}
	if (c->smtp_tls_fingerprint[0] != '\0' &&
	    tls_parse_fingerprint(c->smtp_tls_fingerprint, fp) != 0) {
		return conf_fail(c, "smtp_tls_fingerprint", err, errlen,
		    "smtp_tls_fingerprint: expected the SHA-256 fingerprint "
		    "as 32 hex bytes like AB:CD:...");
	}
	if (!CONFIG_TLS && (c->smtpd_tls_cert_file[0] != '\0' ||
	    strcmp(lv, "may") == 0 || strcmp(lv, "encrypt") == 0 ||
	    strcmp(lv, "verify") == 0)) {
		return conf_fail(c, c->smtpd_tls_cert_file[0] != '\0' ?
		    "smtpd_tls_cert_file" : "smtp_tls_security_level", err,
		    errlen, "TLS is not built in (CONFIG_TLS)");
	}
	return 0;
}

/* smtp_sasl_mechanism = xoauth2 | oauthbearer and what it needs. */
static int
conf_validate_oauth2(const struct conf *c, char *err, size_t errlen)
{
	static const char *const need[] = { "smtp_oauth2_token_url",
		"smtp_oauth2_client_id", "smtp_oauth2_refresh_token_file",
		"smtp_sasl_username" };
	const char *vals[] = { c->smtp_oauth2_token_url,
		c->smtp_oauth2_client_id, c->smtp_oauth2_refresh_token_file,
		c->smtp_sasl_username };
	char host[CONF_STR_MAX], path[CONF_STR_MAX];
	uint16_t port;
	uint8_t fp[32];
	size_t i;

	if (c->smtp_sasl_mechanism[0] == '\0') {
		return 0;
	}
	if (oauth2_mech_parse(c->smtp_sasl_mechanism) == OAUTH2_MECH_NONE) {
		return conf_fail(c, "smtp_sasl_mechanism", err, errlen,
		    "smtp_sasl_mechanism: '%.*s': expected xoauth2 or "
		    "oauthbearer (or nothing for PLAIN/LOGIN)", ECHO_MAX,
		    c->smtp_sasl_mechanism);
	}
	if (!CONFIG_OAUTH2) {
		return conf_fail(c, "smtp_sasl_mechanism", err, errlen,
		    "OAuth2 is not built in (CONFIG_OAUTH2)");
	}
	for (i = 0; i < ARRAY_SIZE(need); i++) {
		if (vals[i][0] == '\0') {
			return conf_fail(c, "smtp_sasl_mechanism", err, errlen,
			    "smtp_sasl_mechanism %s needs %s",
			    c->smtp_sasl_mechanism, need[i]);
		}
	}
	if (oauth2_url_parse(c->smtp_oauth2_token_url, host, sizeof(host),
	    &port, path, sizeof(path)) != 0) {
		return conf_fail(c, "smtp_oauth2_token_url", err, errlen,
		    "smtp_oauth2_token_url: expected https://HOST[:PORT]/PATH");
	}
	if (c->smtp_oauth2_device_url[0] != '\0' &&
	    oauth2_url_parse(c->smtp_oauth2_device_url, host, sizeof(host),
	    &port, path, sizeof(path)) != 0) {
		return conf_fail(c, "smtp_oauth2_device_url", err, errlen,
		    "smtp_oauth2_device_url: expected "
		    "https://HOST[:PORT]/PATH");
	}
	if (c->smtp_oauth2_tls_fingerprint[0] != '\0' &&
	    tls_parse_fingerprint(c->smtp_oauth2_tls_fingerprint, fp) != 0) {
		return conf_fail(c, "smtp_oauth2_tls_fingerprint", err, errlen,
		    "smtp_oauth2_tls_fingerprint: expected the SHA-256 "
		    "fingerprint as 32 hex bytes like AB:CD:...");
	}
	return 0;
}

int
conf_validate(const struct conf *c, char *err, size_t errlen)
{
	uint64_t minq = 8ull * CONFIG_QUEUE_BLOCK_SIZE;
	uint64_t maxq = (uint64_t)CONFIG_QUEUE_MAX_BLOCKS *
	    CONFIG_QUEUE_BLOCK_SIZE;
	char a[16], b[16], loop[CONF_STR_MAX];

	if (c->nlisten == 0) {
		return conf_fail(c, "listen", err, errlen, "no listener: add "
		    "a line like 'listen = 127.0.0.1:25 smtp'");
	}
	if (c->queue_size < minq) {
		fmt_num(a, sizeof(a), c->queue_size, size_units, 3);
		fmt_num(b, sizeof(b), (uint32_t)minq, size_units, 3);
		return conf_fail(c, "queue_size", err, errlen, "queue_size %s "
		    "is too small: at least %s (8 erase blocks of %u bytes)",
		    a, b, (unsigned)CONFIG_QUEUE_BLOCK_SIZE);
	}
	if (c->queue_size > maxq) {
		fmt_num(a, sizeof(a), c->queue_size, size_units, 3);
		fmt_num(b, sizeof(b), (uint32_t)maxq, size_units, 3);
		return conf_fail(c, "queue_size", err, errlen, "queue_size %s "
		    "is too large: at most %s (CONFIG_QUEUE_MAX_BLOCKS %u "
		    "blocks of %u bytes)", a, b,
		    (unsigned)CONFIG_QUEUE_MAX_BLOCKS,
		    (unsigned)CONFIG_QUEUE_BLOCK_SIZE);
	}
	if (c->alert_collapse_window > 0 && STORM_SLOTS == 0) {
		return conf_fail(c, "alert_collapse_window", err, errlen,
		    "alert_collapse_window: not built in "
		    "(CONFIG_ALERT_STORM_SLOTS is 0)");
	}
	if (c->minimal_backoff_time > c->maximal_backoff_time) {
		fmt_num(a, sizeof(a), c->minimal_backoff_time, time_units,
		    ARRAY_SIZE(time_units));
		fmt_num(b, sizeof(b), c->maximal_backoff_time, time_units,
		    ARRAY_SIZE(time_units));
		/* the later of the two lines made the conflict */
		return conf_fail(c, c->line[key_index("maximal_backoff_time")] >
		    c->line[key_index("minimal_backoff_time")] ?
		    "maximal_backoff_time" : "minimal_backoff_time", err, errlen,
		    "minimal_backoff_time (%s) is larger than "
		    "maximal_backoff_time (%s)", a, b);
	}
	if (inject_alias_loop(c->aliases, c->myhostname, loop,
	    sizeof(loop))) {
		return conf_fail(c, "aliases", err, errlen, "aliases: alias "
		    "loop: %s", loop);
	}
	return conf_validate_tls(c, err, errlen) != 0 ? EDGEMTA_E_INVAL :
	    conf_validate_oauth2(c, err, errlen);
}

unsigned
conf_warnings(const struct conf *c, void (*out)(void *arg, const char *line),
    void *arg)
{
	const char *admin = c->bounce_notice_recipient;
	static char line[CONF_ERR_MAX + 4 * CONF_STR_MAX];
	char where[CONF_ERR_MAX];

	if (c->relayhost[0] == '\0') {
		return 0;
	}
	conf_where(c, "bounce_notice_recipient", where, sizeof(where));
	if (admin[0] == '\0') {
		snprintf(line, sizeof(line), "%s: bounce_notice_recipient is "
		    "empty: bounces of null and local senders are dropped; "
		    "set an admin address like admin@example.com", where);
	} else if (strchr(admin, '@') == NULL && c->myorigin[0] == '\0') {
		snprintf(line, sizeof(line), "%s: bounce_notice_recipient "
		    "'%s' has no domain and myorigin is not set: notices to "
		    "the admin go to %s@%s through the smarthost; set an "
		    "admin address like admin@example.com", where, admin,
		    admin, c->myhostname[0] != '\0' ? c->myhostname :
		    "HOSTNAME");
	} else {
		return 0;
	}
	out(arg, line);
	return 1;
}

void
conf_print(const struct conf *c, void (*out)(void *arg, const char *line),
    void *arg)
{
	/* mynetworks can be long: sized for the largest list, not stack */
	static char line[CONFIG_MAX_MYNETWORKS * (NET_ADDR_STRLEN + 6) +
	    CONF_STR_MAX + 64];
	char ip[NET_ADDR_STRLEN];
	const char *field;
	size_t i, j, o;
	uint32_t v;

	for (i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		const struct conf_key *k = &conf_keys[i];

		field = (const char *)c + k->off;
		o = (size_t)snprintf(line, sizeof(line), "%s =", k->name);
		switch (k->type) {
		case CT_LISTEN:
			for (j = 0; j < c->nlisten; j++) {
				const struct conf_listen *l = &c->listen[j];
				bool v6 = l->addr.family == NET_INET6;

				net_addr_str(&l->addr, ip, sizeof(ip));
				snprintf(line + o, sizeof(line) - o,
				    " %s%s%s:%u %s", v6 ? "[" : "", ip,
				    v6 ? "]" : "", (unsigned)l->addr.port,
				    l->mode < ARRAY_SIZE(listen_modes) ?
				    listen_modes[l->mode] : "smtp");
				out(arg, line);
			}
			continue;
		case CT_NETS:
			for (j = 0; j < c->nmynetworks; j++) {
				const struct net_prefix *p = &c->mynetworks[j];
				bool v6 = p->addr.family == NET_INET6;

				net_addr_str(&p->addr, ip, sizeof(ip));
				o += (size_t)snprintf(line + o,
				    sizeof(line) - o, " %s%s%s/%u",
				    v6 ? "[" : "", ip, v6 ? "]" : "",
				    (unsigned)p->len);
			}
			break;
		case CT_SIZE:
		case CT_TIME:
		case CT_UINT:
			memcpy(&v, field, sizeof(v));
			line[o++] = ' ';
			fmt_value_num(k, v, line + o, sizeof(line) - o);
			break;
		case CT_SECRET:
			if (field[0] != '\0') {
				snprintf(line + o, sizeof(line) - o, " %s",
				    "(set, not shown)");
			}
			break;
		default:
			if (field[0] != '\0') {
				snprintf(line + o, sizeof(line) - o, " %s",
				    field);
			}
			break;
		}
		out(arg, line);
	}
}

bool
conf_in_mynetworks(const struct conf *c, const struct net_addr *a)
{
	unsigned i;

	for (i = 0; i < c->nmynetworks; i++) {
		if (net_prefix_match(&c->mynetworks[i], a)) {
			return true;
		}
	}
	return false;
}

static const struct conf_key *
conf_find_key(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		if (strcmp(conf_keys[i].name, name) == 0) {
			return &conf_keys[i];
		}
	}
	return NULL;
}

/* Where a list key keeps its count, or NULL. */
static const unsigned *
conf_count(const struct conf *c, const struct conf_key *k)
{
	if (k->type == CT_LISTEN) {
		return &c->nlisten;
	}
	if (k->type == CT_NETS) {
		return &c->nmynetworks;
	}
	return NULL;
}

static bool
conf_key_same(const struct conf *a, const struct conf *b,
    const struct conf_key *k)
{
	const char *fa = (const char *)a + k->off;
	const char *fb = (const char *)b + k->off;
	const unsigned *na = conf_count(a, k), *nb = conf_count(b, k);

	switch (k->type) {
	case CT_SIZE:
	case CT_TIME:
	case CT_UINT:
		return memcmp(fa, fb, k->size) == 0;
	case CT_LISTEN:
	case CT_NETS:
		/* unused entries stay zero (conf_defaults clears all) */
		return *na == *nb && memcmp(fa, fb, k->size) == 0;
	default:
		/* strings: what follows the NUL may differ */
		return strncmp(fa, fb, k->size) == 0;
	}
}

void
conf_diff(const struct conf *a, const struct conf *b,
    void (*changed)(void *arg, const char *key), void *arg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		if (!conf_key_same(a, b, &conf_keys[i])) {
			changed(arg, conf_keys[i].name);
		}
	}
}

void
conf_copy_key(struct conf *dst, const struct conf *src, const char *key)
{
	const struct conf_key *k = conf_find_key(key);

	if (k == NULL) {
		return;
	}
	memcpy((char *)dst + k->off, (const char *)src + k->off, k->size);
	if (k->type == CT_LISTEN) {
		dst->nlisten = src->nlisten;
	} else if (k->type == CT_NETS) {
		dst->nmynetworks = src->nmynetworks;
	}
}
