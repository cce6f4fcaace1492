/*
 * addr_test.c - IP literals, prefixes, RFC 5952 formatting and RFC 5321
 * path parsing, including what hostile clients send.
 */
#include <string.h>

#include "addr.h"
#include "test.h"

/* Parse s as an IP and format it again. */
static const char *
roundtrip(const char *s)
{
	static char buf[NET_ADDR_STRLEN];
	struct net_addr a;

	if (net_addr_parse_ip(s, &a) != 0) {
		return "ERR";
	}
	return net_addr_str(&a, buf, sizeof(buf));
}

static void
test_ipv4(void)
{
	struct net_addr a;

	CHECK_EQ(net_addr_parse_ip("192.168.1.254", &a), 0);
	CHECK_EQ(a.family, NET_INET4);
	CHECK_EQ(a.ip[0], 192);
	CHECK_EQ(a.ip[3], 254);
	CHECK_EQ(a.port, 0);
	CHECK_STR(roundtrip("0.0.0.0"), "0.0.0.0");
	CHECK_STR(roundtrip("255.255.255.255"), "255.255.255.255");
	CHECK_STR(roundtrip("256.1.1.1"), "ERR");
	CHECK_STR(roundtrip("1.2.3"), "ERR");
	CHECK_STR(roundtrip("1.2.3.4.5"), "ERR");
	CHECK_STR(roundtrip("1.2.3.4."), "ERR");
	CHECK_STR(roundtrip(".1.2.3.4"), "ERR");
	CHECK_STR(roundtrip("1..3.4"), "ERR");
	CHECK_STR(roundtrip("01.2.3.4"), "ERR");	/* octal trick */
	CHECK_STR(roundtrip("1.2.3.0x4"), "ERR");
	CHECK_STR(roundtrip("1.2.3.4 "), "ERR");
	CHECK_STR(roundtrip(" 1.2.3.4"), "ERR");
	CHECK_STR(roundtrip("1.2.3.-4"), "ERR");
	CHECK_STR(roundtrip("1.2.3.1000"), "ERR");
	CHECK_STR(roundtrip(""), "ERR");
	CHECK_STR(roundtrip("[1.2.3.4]"), "ERR");
}

static void
test_ipv6(void)
{
	struct net_addr a;

	CHECK_EQ(net_addr_parse_ip("::1", &a), 0);
	CHECK_EQ(a.family, NET_INET6);
	CHECK_EQ(a.ip[15], 1);
	CHECK_STR(roundtrip("::"), "::");
	CHECK_STR(roundtrip("::1"), "::1");
	CHECK_STR(roundtrip("[::1]"), "::1");
	CHECK_STR(roundtrip("1::"), "1::");
	CHECK_STR(roundtrip("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
	CHECK_STR(roundtrip("2001:0db8:0000:0000:0000:ff00:0042:8329"),
	    "2001:db8::ff00:42:8329");
	/* RFC 5952 4.2.2: a single zero word is not compressed */
	CHECK_STR(roundtrip("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
	/* 4.2.3: the longest run; on a tie the first */
	CHECK_STR(roundtrip("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");
	CHECK_STR(roundtrip("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
	CHECK_STR(roundtrip("1:2:3:4:5:6:7::"), "1:2:3:4:5:6:7:0");
	CHECK_STR(roundtrip("::2:3:4:5:6:7:8"), "0:2:3:4:5:6:7:8");
	CHECK_STR(roundtrip("fe80::1:2"), "fe80::1:2");
	/* embedded IPv4 and the mapped form (RFC 5952 5) */
	CHECK_STR(roundtrip("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
	CHECK_STR(roundtrip("::FFFF:c000:0201"), "::ffff:192.0.2.1");
	CHECK_STR(roundtrip("64:ff9b::192.0.2.33"), "64:ff9b::c000:221");
	CHECK_STR(roundtrip("1:2:3:4:5:6:1.2.3.4"), "1:2:3:4:5:6:102:304");
	/* malformed */
	CHECK_STR(roundtrip(":::"), "ERR");
	CHECK_STR(roundtrip("1:::2"), "ERR");
	CHECK_STR(roundtrip("1::2::3"), "ERR");
	CHECK_STR(roundtrip(":1::2"), "ERR");
	CHECK_STR(roundtrip("1::2:"), "ERR");
	CHECK_STR(roundtrip("1:2:3:4:5:6:7:8:9"), "ERR");
	CHECK_STR(roundtrip("1:2:3:4:5:6:7"), "ERR");
	CHECK_STR(roundtrip("::1:2:3:4:5:6:7:8"), "ERR");
	CHECK_STR(roundtrip("1:2:3:4::5:6:7:8"), "ERR");
	CHECK_STR(roundtrip("12345::"), "ERR");
	CHECK_STR(roundtrip("g::"), "ERR");
	CHECK_STR(roundtrip("::1.2.3"), "ERR");
	CHECK_STR(roundtrip("::1.2.3.4:5"), "ERR");
	CHECK_STR(roundtrip("1:2:3:4:5:6:7:1.2.3.4"), "ERR");
	CHECK_STR(roundtrip("[::1"), "ERR");
	CHECK_STR(roundtrip("::1]"), "ERR");
	CHECK_STR(roundtrip("[[::1]]"), "ERR");
}

static void
test_hostport(void)
{
	struct net_addr a;
	char buf[NET_ADDR_STRLEN];

	CHECK_EQ(net_addr_parse_hostport("127.0.0.1:2525", &a), 0);
	CHECK_EQ(a.family, NET_INET4);
	CHECK_EQ(a.port, 2525);
	CHECK_STR(net_addr_str(&a, buf, sizeof(buf)), "127.0.0.1");
	CHECK_EQ(net_addr_parse_hostport("[::1]:25", &a), 0);
	CHECK_EQ(a.family, NET_INET6);
	CHECK_EQ(a.port, 25);
	CHECK_EQ(net_addr_parse_hostport("*:587", &a), 0);
	CHECK_EQ(a.family, NET_INET4);
	CHECK_STR(net_addr_str(&a, buf, sizeof(buf)), "0.0.0.0");
	CHECK_EQ(a.port, 587);
	CHECK_EQ(net_addr_parse_hostport("[::]:65535", &a), 0);
	CHECK_EQ(a.port, 65535);
	CHECK_EQ(net_addr_parse_hostport("::1:25", &a), EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport("1.2.3.4:0", &a), EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport("1.2.3.4:65536", &a),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport("1.2.3.4:99999999999", &a),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport("1.2.3.4:", &a), EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport("1.2.3.4", &a), EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport(":25", &a), EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport("1.2.3.4:2x", &a), EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport("1.2.3.4:-1", &a), EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport("localhost:25", &a),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport("[1.2.3.4]:25", &a),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(net_addr_parse_hostport("**:25", &a), EDGEMTA_E_INVAL);
}

static bool
match(const char *prefix, const char *ip)
{
	struct net_prefix p;
	struct net_addr a;

	if (net_prefix_parse(prefix, &p) != 0 ||
	    net_addr_parse_ip(ip, &a) != 0) {
		return false;
	}
	return net_prefix_match(&p, &a);
}

static void
test_prefix(void)
{
	struct net_prefix p;
	char buf[NET_ADDR_STRLEN];

	CHECK_EQ(net_prefix_parse("10.0.0.0/8", &p), 0);
	CHECK_EQ(p.len, 8);
	CHECK_EQ(net_prefix_parse("192.168.1.7", &p), 0);
	CHECK_EQ(p.len, 32);
	CHECK_EQ(net_prefix_parse("[fd00::]/8", &p), 0);
	CHECK_EQ(p.len, 8);
	CHECK_EQ(p.addr.family, NET_INET6);
	CHECK_EQ(net_prefix_parse("fd00::/8", &p), 0);
	CHECK_EQ(net_prefix_parse("::1", &p), 0);
	CHECK_EQ(p.len, 128);
	/* host bits are cleared */
	CHECK_EQ(net_prefix_parse("10.1.2.3/12", &p), 0);
	CHECK_STR(net_addr_str(&p.addr, buf, sizeof(buf)), "10.0.0.0");
	CHECK_EQ(net_prefix_parse("0.0.0.0/0", &p), 0);
	CHECK_EQ(net_prefix_parse("10.0.0.0/33", &p), EDGEMTA_E_INVAL);
	CHECK_EQ(net_prefix_parse("::/129", &p), EDGEMTA_E_INVAL);
	CHECK_EQ(net_prefix_parse("10.0.0.0/", &p), EDGEMTA_E_INVAL);
	CHECK_EQ(net_prefix_parse("10.0.0.0/-1", &p), EDGEMTA_E_INVAL);
	CHECK_EQ(net_prefix_parse("10.0.0.0/8/8", &p), EDGEMTA_E_INVAL);
	CHECK_EQ(net_prefix_parse("10.0.0.0/0008", &p), EDGEMTA_E_INVAL);
	CHECK_EQ(net_prefix_parse("10/8", &p), EDGEMTA_E_INVAL);
	CHECK_EQ(net_prefix_parse("/8", &p), EDGEMTA_E_INVAL);
	CHECK_EQ(net_prefix_parse("", &p), EDGEMTA_E_INVAL);

	CHECK(match("10.0.0.0/8", "10.255.1.2"));
	CHECK(!match("10.0.0.0/8", "11.0.0.1"));
	CHECK(match("192.168.1.0/25", "192.168.1.127"));
	CHECK(!match("192.168.1.0/25", "192.168.1.128"));
	CHECK(match("192.168.1.7", "192.168.1.7"));
	CHECK(!match("192.168.1.7", "192.168.1.6"));
	CHECK(match("0.0.0.0/0", "8.8.8.8"));
	CHECK(!match("0.0.0.0/0", "::1"));
	CHECK(match("[fd00::]/8", "fdff::1"));
	CHECK(!match("[fd00::]/8", "fe00::1"));
	CHECK(match("[::1]/128", "::1"));
	CHECK(!match("[::1]/128", "::2"));
	CHECK(match("[::]/0", "2001:db8::1"));
	CHECK(!match("[::]/0", "1.2.3.4"));
	/* IPv4-mapped IPv6 peers (dual-stack sockets) match IPv4 prefixes */
	CHECK(match("127.0.0.0/8", "::ffff:127.0.0.1"));
	CHECK(match("192.168.0.0/16", "::ffff:192.168.3.4"));
	CHECK(!match("192.168.0.0/16", "::ffff:192.169.3.4"));
	CHECK(!match("127.0.0.0/8", "::127.0.0.1"));	/* compatible, no */
	CHECK(!match("127.0.0.0/8", "::ffff:0:127.0.0.1"));
	/* and a mapped prefix matches plain IPv4 */
	CHECK(match("[::ffff:10.0.0.0]/104", "10.9.9.9"));
	CHECK(!match("[::ffff:10.0.0.0]/104", "11.9.9.9"));
	CHECK(!match("[::1]/128", "0.0.0.1"));
}

static void
test_prefix_family(void)
{
	struct net_prefix p;
	struct net_addr a;

	memset(&a, 0, sizeof(a));
	a.family = NET_LOCAL;
	CHECK_EQ(net_prefix_parse("0.0.0.0/0", &p), 0);
	CHECK(!net_prefix_match(&p, &a));
	CHECK(net_prefix_parse("::/0", &p) == 0);
	CHECK(!net_prefix_match(&p, &a));
	CHECK(net_addr_parse_ip("1.2.3.4", &a) == 0);
	/* ::/0 is all IPv6; a plain IPv4 peer is not in it */
	CHECK(!net_prefix_match(&p, &a));
}

static void
test_str_small_buf(void)
{
	struct net_addr a;
	char buf[8];

	CHECK_EQ(net_addr_parse_ip("2001:db8::1234:5678", &a), 0);
	memset(buf, 'x', sizeof(buf));
	net_addr_str(&a, buf, sizeof(buf));
	CHECK_STR(buf, "2001:db");
	CHECK_EQ(net_addr_parse_ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    &a), 0);
	CHECK_STR(roundtrip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

/* Parse a path; returns the mailbox or "ERR", *rest after '>'. */
static const char *
path(const char *s, const char **rest)
{
	static char out[ADDR_MAX];
	const char *r = NULL;

	memset(out, 'z', sizeof(out));
	if (addr_parse_path(s, out, &r) != 0) {
		return "ERR";
	}
	if (rest != NULL) {
		*rest = r;
	}
	return out;
}

static void
test_path_good(void)
{
	const char *rest;

	CHECK_STR(path("<a@b>", &rest), "a@b");
	CHECK_STR(rest, "");
	CHECK_STR(path("<a@b> SIZE=100", &rest), "a@b");
	CHECK_STR(rest, " SIZE=100");
	CHECK_STR(path("<>", &rest), "");
	CHECK_STR(rest, "");
	CHECK_STR(path("<> BODY=8BITMIME", &rest), "");
	CHECK_STR(rest, " BODY=8BITMIME");
	CHECK_STR(path("<John.Doe+tag@Example.COM>", NULL),
	    "John.Doe+tag@Example.COM");
	CHECK_STR(path("<!#$%&'*+-/=?^_`{|}~@x.y>", NULL),
	    "!#$%&'*+-/=?^_`{|}~@x.y");
	CHECK_STR(path("<\"a b\"@x>", NULL), "\"a b\"@x");
	CHECK_STR(path("<\"a\\\"b@c\"@x>", NULL), "\"a\\\"b@c\"@x");
	CHECK_STR(path("<\"\"@x>", NULL), "\"\"@x");
	CHECK_STR(path("<@relay.example:a@b>", NULL), "a@b");
	CHECK_STR(path("<@r1.example,@r2.example:a@b.c>", NULL), "a@b.c");
	CHECK_STR(path("<@[10.0.0.1]:a@b>", NULL), "a@b");
	CHECK_STR(path("<a@[192.0.2.1]>", NULL), "a@[192.0.2.1]");
	CHECK_STR(path("<a@[IPv6:2001:db8::1]>", NULL),
	    "a@[IPv6:2001:db8::1]");
	CHECK_STR(path("<a@[x-tag:stuff]>", NULL), "a@[x-tag:stuff]");
	CHECK_STR(path("<Postmaster>", NULL), "Postmaster");
	CHECK_STR(path("<postmaster>", NULL), "postmaster");
	CHECK_STR(path("<a@b-c.d1>", NULL), "a@b-c.d1");
	CHECK_STR(path("<1@2>", NULL), "1@2");
	/* SMTPUTF8 (RFC 6531): UTF-8 in local part and domain */
	CHECK_STR(path("<j\xc3\xb6rg@m\xc3\xbcller.de>", NULL),
	    "j\xc3\xb6rg@m\xc3\xbcller.de");
}

static void
test_path_bad(void)
{
	CHECK_STR(path("a@b", NULL), "ERR");
	CHECK_STR(path("<a@b", NULL), "ERR");
	CHECK_STR(path("a@b>", NULL), "ERR");
	CHECK_STR(path(" <a@b>", NULL), "ERR");
	CHECK_STR(path("<a@b >", NULL), "ERR");
	CHECK_STR(path("< a@b>", NULL), "ERR");
	CHECK_STR(path("<a @b>", NULL), "ERR");
	CHECK_STR(path("<a b@c>", NULL), "ERR");
	CHECK_STR(path("<a@b c>", NULL), "ERR");
	CHECK_STR(path("<", NULL), "ERR");
	CHECK_STR(path("", NULL), "ERR");
	CHECK_STR(path("<<a@b>>", NULL), "ERR");
	CHECK_STR(path("<a>", NULL), "ERR");		/* no domain */
	CHECK_STR(path("<a@>", NULL), "ERR");
	CHECK_STR(path("<@b>", NULL), "ERR");
	CHECK_STR(path("<a@b@c>", NULL), "ERR");
	CHECK_STR(path("<a..b@c>", NULL), "ERR");
	CHECK_STR(path("<.a@c>", NULL), "ERR");
	CHECK_STR(path("<a.@c>", NULL), "ERR");
	CHECK_STR(path("<a@b..c>", NULL), "ERR");
	CHECK_STR(path("<a@.b>", NULL), "ERR");
	CHECK_STR(path("<a@b.>", NULL), "ERR");
	CHECK_STR(path("<a@-b.c>", NULL), "ERR");
	CHECK_STR(path("<a@b-.c>", NULL), "ERR");
	CHECK_STR(path("<a@b_c>", NULL), "ERR");
	CHECK_STR(path("<a(comment)@b>", NULL), "ERR");
	CHECK_STR(path("<a,b@c>", NULL), "ERR");
	CHECK_STR(path("<a;b@c>", NULL), "ERR");
	CHECK_STR(path("<a:b@c>", NULL), "ERR");
	CHECK_STR(path("<a\\b@c>", NULL), "ERR");
	/* control characters: CR, LF, NUL-adjacent, tab, DEL */
	CHECK_STR(path("<a\r\n@b>", NULL), "ERR");
	CHECK_STR(path("<a@b\r\nRCPT TO:<c@d>>", NULL), "ERR");
	CHECK_STR(path("<a\t@b>", NULL), "ERR");
	CHECK_STR(path("<a\x7f@b>", NULL), "ERR");
	CHECK_STR(path("<a\x01@b>", NULL), "ERR");
	CHECK_STR(path("<\"a\rb\"@x>", NULL), "ERR");
	CHECK_STR(path("<\"a\tb\"@x>", NULL), "ERR");
	CHECK_STR(path("<\"a\\\x01\"@x>", NULL), "ERR");
	/* quoted strings that never end */
	CHECK_STR(path("<\"a b@x>", NULL), "ERR");
	CHECK_STR(path("<\"a\\\">", NULL), "ERR");
	CHECK_STR(path("<\"a\\", NULL), "ERR");
	/* source routes gone wrong */
	CHECK_STR(path("<@a,b@c>", NULL), "ERR");
	CHECK_STR(path("<@a:@b:c@d>", NULL), "ERR");
	CHECK_STR(path("<@:a@b>", NULL), "ERR");
	CHECK_STR(path("<@a>", NULL), "ERR");
	CHECK_STR(path("<@a,@b>", NULL), "ERR");
	CHECK_STR(path("<@a:>", NULL), "ERR");
	CHECK_STR(path("<@a:postmaster>", NULL), "ERR");
	/* address literals */
	CHECK_STR(path("<a@[]>", NULL), "ERR");
	CHECK_STR(path("<a@[1.2.3.256]>", NULL), "ERR");
	CHECK_STR(path("<a@[1.2.3.4>", NULL), "ERR");
	CHECK_STR(path("<a@[IPv6:1.2.3.4]>", NULL), "ERR");
	CHECK_STR(path("<a@[IPv6:::1::2]>", NULL), "ERR");
	CHECK_STR(path("<a@[tag:]>", NULL), "ERR");
	CHECK_STR(path("<a@[:x]>", NULL), "ERR");
	CHECK_STR(path("<a@[tag:a b]>", NULL), "ERR");
	CHECK_STR(path("<a@[1.2.3.4]x>", NULL), "ERR");
	/* Postmaster only alone */
	CHECK_STR(path("<root>", NULL), "ERR");
	CHECK_STR(path("<postmasterx>", NULL), "ERR");
	CHECK_STR(path("<\"postmaster\">", NULL), "ERR");
}

static void
test_path_lengths(void)
{
	char s[400], want[400];
	const char *rest;

	/* local part: 64 ok, 65 not */
	memset(s, 0, sizeof(s));
	s[0] = '<';
	memset(s + 1, 'l', 64);
	strcpy(s + 65, "@x.y>");
	memcpy(want, s + 1, 68);
	want[68] = '\0';
	CHECK_STR(path(s, &rest), want);
	memset(s + 1, 'l', 65);
	strcpy(s + 66, "@x.y>");
	CHECK_STR(path(s, NULL), "ERR");

	/* a label of 63 is fine, 64 is not */
	strcpy(s, "<a@");
	memset(s + 3, 'd', 63);
	strcpy(s + 66, ">");
	CHECK(strcmp(path(s, NULL), "ERR") != 0);
	strcpy(s, "<a@");
	memset(s + 3, 'd', 64);
	strcpy(s + 67, ">");
	CHECK_STR(path(s, NULL), "ERR");

	/* a 256-octet path (incl. brackets) is the limit */
	strcpy(s, "<a@");
	{
		size_t o = 3;

		while (o < 255 - 4) {
			memcpy(s + o, "ddd.", 4);
			o += 4;
		}
		while (o < 255) {
			s[o++] = 'e';
		}
		s[o++] = '>';
		s[o] = '\0';
		CHECK_EQ(strlen(s), 256);
		memcpy(want, s + 1, 254);
		want[254] = '\0';
		CHECK_STR(path(s, &rest), want);
		CHECK_STR(rest, "");
	}
	/* 300 characters: refused, and nothing is written past ADDR_MAX */
	memset(s, 0, sizeof(s));
	strcpy(s, "<a@");
	{
		size_t o = 3;

		while (o < 296) {
			memcpy(s + o, "ddd.", 4);
			o += 4;
		}
		s[o++] = 'e';
		s[o++] = '>';
		s[o] = '\0';
		CHECK(strlen(s) >= 298);
	}
	CHECK_STR(path(s, NULL), "ERR");
	/* a 300-octet local part */
	memset(s, 'l', 300);
	s[0] = '<';
	strcpy(s + 300, "@b>");
	CHECK_STR(path(s, NULL), "ERR");
	/* a 300-octet quoted local part */
	memset(s, ' ', 300);
	s[0] = '<';
	s[1] = '"';
	strcpy(s + 299, "\"@b>");
	CHECK_STR(path(s, NULL), "ERR");
}

static void
test_at(void)
{
	CHECK_EQ(addr_at("a@b"), 1);
	CHECK_EQ(addr_at("postmaster"), -1);
	CHECK_EQ(addr_at(""), -1);
	CHECK_EQ(addr_at("\"a@b\"@c"), 5);
	CHECK_EQ(addr_at("\"a\\\"@b\"@c"), 7);
	CHECK_EQ(addr_at("\"a@b\""), -1);
	CHECK_EQ(addr_at("a@b@c"), 3);
	CHECK_EQ(addr_at("@"), 0);
}

/* Issue 11.4: RFC 5321 4.1.1.1 HELO/EHLO argument. */
static void
test_helo_name(void)
{
	static const char *const good[] = { "client.example.com", "localhost",
		"192.168.1.20", "[192.168.1.20]", "[IPv6:2001:db8::1]",
		"my_nas.lan", "cam-01", "x" };
	static const char *const bad[] = { "", "x\x01", "a b", "a..b", ".a",
		"a.", "-a", "a-", "[1.2.3]", "[1.2.3.4", "a\x7f", "a\r",
		"\xc3\xa9.example", "x\xc2\x9b", "a.example>", "<a>",
		"a\tb", "[IPv6:zz]" };
	char big[300];
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		CHECK(addr_helo_ok(good[i]));
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK(!addr_helo_ok(bad[i]));
	}
	memset(big, 'a', sizeof(big));
	for (i = 60; i < sizeof(big) - 1; i += 61) {
		big[i] = '.';
	}
	big[255] = '\0';
	CHECK(addr_helo_ok(big));
	big[255] = 'a';
	big[257] = '\0';
	CHECK(!addr_helo_ok(big));
}

int
main(void)
{
	RUN(test_ipv4);
	RUN(test_ipv6);
	RUN(test_hostport);
	RUN(test_prefix);
	RUN(test_prefix_family);
	RUN(test_str_small_buf);
	RUN(test_path_good);
	RUN(test_path_bad);
	RUN(test_path_lengths);
	RUN(test_at);
	RUN(test_helo_name);
	return test_report("addr");
}
