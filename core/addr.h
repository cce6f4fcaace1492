/*
 * addr.h - network addresses, prefixes and mail addresses.
 */
#ifndef ADDR_H
#define ADDR_H

#include "edgemta.h"

#define NET_ADDR_STRLEN 48	/* "[ffff:...:ffff]:65535" + NUL */
#define ADDR_MAX 256		/* RFC 5321 path limit incl. NUL */

enum net_family {
	NET_NONE = 0,
	NET_INET4 = 4,
	NET_INET6 = 6,
	NET_LOCAL = 1		/* unix socket / local injector */
};

/* An IPv4 or IPv6 address and port; bytes in network order. */
struct net_addr {
	uint8_t family;		/* enum net_family */
	uint8_t ip[16];		/* IPv4 uses ip[0..3] */
	uint16_t port;
};

struct net_prefix {
	struct net_addr addr;
	uint8_t len;		/* prefix length in bits */
};

/* Parse "1.2.3.4", "::1", "[::1]". 0 or EDGEMTA_E_INVAL. port = 0. */
int net_addr_parse_ip(const char *s, struct net_addr *out);

/*
 * Parse "HOST:PORT" where HOST is an IPv4 literal, "[IPv6]" or "*"
 * (any IPv4). 0 or EDGEMTA_E_INVAL.
 */
int net_addr_parse_hostport(const char *s, struct net_addr *out);

/* Parse "10.0.0.0/8", "[fd00::]/8", "192.168.1.7" (= /32). */
int net_prefix_parse(const char *s, struct net_prefix *out);

/* true if a lies inside p (same family; IPv4-mapped IPv6 matches v4). */
bool net_prefix_match(const struct net_prefix *p, const struct net_addr *a);

/* "1.2.3.4" / "2001:db8::1" into buf (>= NET_ADDR_STRLEN). Returns buf. */
char *net_addr_str(const struct net_addr *a, char *buf, size_t len);

/*
 * Parse an SMTP path argument as in "MAIL FROM:<a@b> SIZE=10" starting at
 * the '<' (RFC 5321 4.1.2): angle brackets required, source routes
 * ("<@x,@y:a@b>") accepted and dropped, quoted local parts kept as sent.
 * Copies the mailbox (without brackets) into out (ADDR_MAX) and sets
 * *rest to the first character after '>'. "<>" gives "" (null path).
 * 0, or EDGEMTA_E_INVAL for a malformed path (missing brackets, control
 * characters, spaces outside quotes, over-long parts: local part 64,
 * domain 255, path 256).
 */
int addr_parse_path(const char *s, char *out, const char **rest);

/*
 * true if s is a HELO/EHLO argument (RFC 5321 4.1.1.1): an ASCII domain
 * ('_' tolerated in labels) or an address literal, at
 * most 255 octets, nothing else (no spaces, no control characters).
 */
bool addr_helo_ok(const char *s);

/*
 * Split a mailbox into local part and domain at the last '@' outside
 * quotes. Returns the offset of the '@' or -1 when there is none.
 */
int addr_at(const char *mailbox);

#endif
