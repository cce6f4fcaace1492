/*
 * conf_test.c - the runtime configuration parser: every key, every error
 * message with its file:line, and conf_print's output read back.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "test.h"

static struct conf c;
static char err[CONF_ERR_MAX];

/* Defaults, then text. Returns conf_parse's result. */
static int
parse(const char *text)
{
	conf_defaults(&c);
	err[0] = '\0';
	return conf_parse(&c, "t.conf", text, strlen(text), err, sizeof(err));
}

/* The error for text, or "OK". */
static const char *
error_of(const char *text)
{
	if (parse(text) == 0) {
		return "OK";
	}
	return err;
}

static void
test_defaults(void)
{
	char buf[NET_ADDR_STRLEN];
	struct net_addr a;

	conf_defaults(&c);
	CHECK_EQ(c.nlisten, 1);
	CHECK_EQ(c.listen[0].addr.family, NET_INET4);
	CHECK_STR(net_addr_str(&c.listen[0].addr, buf, sizeof(buf)),
	    "127.0.0.1");
	CHECK_EQ(c.listen[0].addr.port, 2525);
	CHECK_EQ(c.listen[0].mode, LISTEN_SMTP);
	CHECK_EQ(c.nmynetworks, 2);
	CHECK_STR(c.queue_path, CONFIG_DEFAULT_QUEUE_PATH);
	CHECK_EQ(c.queue_size, CONFIG_DEFAULT_QUEUE_SIZE * 1024u);
	CHECK_EQ(c.message_size_limit, CONFIG_DEFAULT_MESSAGE_SIZE_LIMIT);
	CHECK_STR(c.local_socket, CONFIG_DEFAULT_LOCAL_SOCKET);
	CHECK_EQ(c.smtpd_timeout, CONFIG_DEFAULT_SMTPD_TIMEOUT);
	CHECK_EQ(c.minimal_backoff_time, CONFIG_DEFAULT_MINIMAL_BACKOFF);
	CHECK_EQ(c.maximal_backoff_time, CONFIG_DEFAULT_MAXIMAL_BACKOFF);
	CHECK_EQ(c.maximal_queue_lifetime,
	    CONFIG_DEFAULT_MAXIMAL_QUEUE_LIFETIME);
	CHECK_EQ(c.bounce_rate_limit, 30);
	CHECK_STR(c.bounce_notice_recipient, "postmaster");
	CHECK_STR(c.myhostname, "");
	CHECK_STR(c.relayhost, "");
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), 0);
	CHECK(net_addr_parse_ip("127.0.0.53", &a) == 0);
	CHECK(conf_in_mynetworks(&c, &a));
	CHECK(net_addr_parse_ip("::1", &a) == 0);
	CHECK(conf_in_mynetworks(&c, &a));
	CHECK(net_addr_parse_ip("::ffff:127.0.0.1", &a) == 0);
	CHECK(conf_in_mynetworks(&c, &a));
	CHECK(net_addr_parse_ip("10.0.0.1", &a) == 0);
	CHECK(!conf_in_mynetworks(&c, &a));
}

static void
test_every_key(void)
{
	static const char text[] =
	    "# a comment\n"
	    "\n"
	    "   # indented comment\n"
	    "myhostname = mail.example.com\n"
	    "myorigin=example.com\n"
	    "listen = 0.0.0.0:25 smtp\n"
	    "listen\t=\t[::1]:587   submission\n"
	    "mynetworks = 10.0.0.0/8, 192.168.1.0/24 [fd00::]/8\n"
	    "queue_path = /data/edgemta/queue\n"
	    "queue_size = 256K\n"
	    "message_size_limit = 20480000\n"
	    "local_socket = /tmp/edgemta.sock\n"
	    "smtpd_timeout = 2m\n"
	    "relayhost = [smtp.example.com]:587, backup.example.net:25\n"
	    "minimal_backoff_time = 60s\n"
	    "maximal_backoff_time = 2h\n"
	    "maximal_queue_lifetime = 5d\n"
	    "bounce_notice_recipient = admin@example.com\n"
	    "bounce_rate_limit = 10\n"
	    "aliases = root admin: a@example.com, b@example.com\n"
	    "sender_rewrite = router@example.com\r\n";
	struct net_addr a;
	char buf[NET_ADDR_STRLEN];

	CHECK_EQ(parse(text), 0);
	CHECK_STR(err, "");
	CHECK_STR(c.myhostname, "mail.example.com");
	CHECK_STR(c.myorigin, "example.com");
	CHECK_EQ(c.nlisten, 2);
	CHECK_EQ(c.listen[0].addr.port, 25);
	CHECK_EQ(c.listen[0].mode, LISTEN_SMTP);
	CHECK_EQ(c.listen[1].addr.family, NET_INET6);
	CHECK_STR(net_addr_str(&c.listen[1].addr, buf, sizeof(buf)), "::1");
	CHECK_EQ(c.listen[1].addr.port, 587);
	CHECK_EQ(c.listen[1].mode, LISTEN_SUBMISSION);
	CHECK_EQ(c.nmynetworks, 3);
	CHECK(net_addr_parse_ip("192.168.1.200", &a) == 0);
	CHECK(conf_in_mynetworks(&c, &a));
	CHECK(net_addr_parse_ip("192.168.2.1", &a) == 0);
	CHECK(!conf_in_mynetworks(&c, &a));
	CHECK(net_addr_parse_ip("127.0.0.1", &a) == 0);
	CHECK(!conf_in_mynetworks(&c, &a));	/* the list was replaced */
	CHECK(net_addr_parse_ip("fd12::3", &a) == 0);
	CHECK(conf_in_mynetworks(&c, &a));
	CHECK_STR(c.queue_path, "/data/edgemta/queue");
	CHECK_EQ(c.queue_size, 256u * 1024);
	CHECK_EQ(c.message_size_limit, 20480000);
	CHECK_STR(c.local_socket, "/tmp/edgemta.sock");
	CHECK_EQ(c.smtpd_timeout, 120);
	CHECK_STR(c.relayhost, "[smtp.example.com]:587, backup.example.net:25");
	CHECK_EQ(c.minimal_backoff_time, 60);
	CHECK_EQ(c.maximal_backoff_time, 7200);
	CHECK_EQ(c.maximal_queue_lifetime, 5 * 86400);
	CHECK_STR(c.bounce_notice_recipient, "admin@example.com");
	CHECK_EQ(c.bounce_rate_limit, 10);
	CHECK_STR(c.aliases, "root admin: a@example.com, b@example.com");
	CHECK_STR(c.sender_rewrite, "router@example.com");
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), 0);
}

static void
test_units(void)
{
	CHECK_EQ(parse("queue_size = 65536"), 0);
	CHECK_EQ(c.queue_size, 65536);
	CHECK_EQ(parse("queue_size = 64k"), 0);
	CHECK_EQ(c.queue_size, 65536);
	CHECK_EQ(parse("queue_size = 64K"), 0);
	CHECK_EQ(c.queue_size, 65536);
	CHECK_EQ(parse("queue_size = 2m"), 0);
	CHECK_EQ(c.queue_size, 2u << 20);
	CHECK_EQ(parse("queue_size = 1G"), 0);
	CHECK_EQ(c.queue_size, 1u << 30);
	CHECK_EQ(parse("queue_size = 3g"), 0);
	CHECK_EQ(c.queue_size, 3u << 30);
	CHECK_EQ(parse("smtpd_timeout = 45"), 0);
	CHECK_EQ(c.smtpd_timeout, 45);
	CHECK_EQ(parse("smtpd_timeout = 45s"), 0);
	CHECK_EQ(c.smtpd_timeout, 45);
	CHECK_EQ(parse("smtpd_timeout = 1h"), 0);
	CHECK_EQ(c.smtpd_timeout, 3600);
	CHECK_EQ(parse("maximal_queue_lifetime = 1w"), 0);
	CHECK_EQ(c.maximal_queue_lifetime, 604800);
	CHECK_EQ(parse("maximal_queue_lifetime = 90m"), 0);
	CHECK_EQ(c.maximal_queue_lifetime, 5400);
	/* a later line wins */
	CHECK_EQ(parse("smtpd_timeout = 20\nsmtpd_timeout = 30\n"), 0);
	CHECK_EQ(c.smtpd_timeout, 30);
	/* no final newline */
	CHECK_EQ(parse("smtpd_timeout = 20"), 0);
	CHECK_EQ(c.smtpd_timeout, 20);
}

static void
test_listen_replace(void)
{
	/* the first listen line replaces the default, later ones add */
	CHECK_EQ(parse("listen = 127.0.0.1:25 smtp\n"), 0);
	CHECK_EQ(c.nlisten, 1);
	CHECK_EQ(c.listen[0].addr.port, 25);
	CHECK_EQ(parse("listen = *:465 smtps\n"), 0);
	CHECK_EQ(c.nlisten, 1);
	CHECK_EQ(c.listen[0].addr.port, 465);
	CHECK_EQ(c.listen[0].mode, LISTEN_SMTPS);
	CHECK_EQ(parse("listen = 127.0.0.1:25 smtp 127.0.0.1:587 submission"),
	    0);
	CHECK_EQ(c.nlisten, 2);
	CHECK_EQ(c.listen[1].mode, LISTEN_SUBMISSION);
	CHECK_EQ(parse("smtpd_timeout = 20\n"), 0);
	CHECK_EQ(c.nlisten, 1);
	CHECK_EQ(c.listen[0].addr.port, 2525);
	/* up to CONFIG_MAX_LISTENERS */
	{
		char text[1024];
		size_t o = 0;
		int i;

		for (i = 0; i < CONFIG_MAX_LISTENERS; i++) {
			o += (size_t)snprintf(text + o, sizeof(text) - o,
			    "listen = 127.0.0.1:%d smtp\n", 1000 + i);
		}
		CHECK_EQ(parse(text), 0);
		CHECK_EQ(c.nlisten, CONFIG_MAX_LISTENERS);
		snprintf(text + o, sizeof(text) - o,
		    "listen = 127.0.0.1:999 smtp\n");
		CHECK_EQ(parse(text), EDGEMTA_E_INVAL);
		snprintf(text, sizeof(text), "t.conf:%d: bad value for "
		    "listen: '127.0.0.1:999 smtp': too many listeners "
		    "(CONFIG_MAX_LISTENERS)", CONFIG_MAX_LISTENERS + 1);
		CHECK_STR(err, text);
	}
	/* mynetworks may be empty: nobody relays */
	CHECK_EQ(parse("mynetworks =\n"), 0);
	CHECK_EQ(c.nmynetworks, 0);
}

static void
test_errors(void)
{
	CHECK_STR(error_of("foo = 1\n"), "t.conf:1: unknown key 'foo'");
	CHECK_STR(error_of("\n# x\nQueue_size = 1M\n"),
	    "t.conf:3: unknown key 'Queue_size'");
	CHECK_STR(error_of("queue_size 4M\n"), "t.conf:1: missing '='");
	CHECK_STR(error_of("smtpd_timeout = 30\n\n10.0.0.0/8\n"),
	    "t.conf:3: missing '='");
	CHECK_STR(error_of(" = 4M\n"), "t.conf:1: missing key before '='");
	CHECK_STR(error_of("queue_size = 4X\n"),
	    "t.conf:1: bad value for queue_size: '4X': expected bytes, or "
	    "a number with k, M or G");
	CHECK_STR(error_of("queue_size = \n"),
	    "t.conf:1: bad value for queue_size: '': expected bytes, or "
	    "a number with k, M or G");
	CHECK_STR(error_of("queue_size = 4 M\n"),
	    "t.conf:1: bad value for queue_size: '4 M': expected bytes, or "
	    "a number with k, M or G");
	CHECK_STR(error_of("queue_size = -1\n"),
	    "t.conf:1: bad value for queue_size: '-1': expected bytes, or "
	    "a number with k, M or G");
	CHECK_STR(error_of("queue_size = 4MB\n"),
	    "t.conf:1: bad value for queue_size: '4MB': expected bytes, or "
	    "a number with k, M or G");
	CHECK_STR(error_of("queue_size = 4G\n"),
	    "t.conf:1: bad value for queue_size: '4G': number too large");
	CHECK_STR(error_of("queue_size = 99999999999\n"),
	    "t.conf:1: bad value for queue_size: '99999999999': number too "
	    "large");
	CHECK_STR(error_of("message_size_limit = 100\n"),
	    "t.conf:1: bad value for message_size_limit: '100': must be "
	    "between 1K and 2147483647");
	CHECK_STR(error_of("smtpd_timeout = 5\n"),
	    "t.conf:1: bad value for smtpd_timeout: '5': must be between "
	    "10 and 1h");
	CHECK_STR(error_of("smtpd_timeout = 2d\n"),
	    "t.conf:1: bad value for smtpd_timeout: '2d': must be between "
	    "10 and 1h");
	CHECK_STR(error_of("smtpd_timeout = 5x\n"),
	    "t.conf:1: bad value for smtpd_timeout: '5x': expected seconds, "
	    "or a number with s, m, h, d or w");
	CHECK_STR(error_of("minimal_backoff_time = 0\n"),
	    "t.conf:1: bad value for minimal_backoff_time: '0': must be "
	    "between 1 and 1d");
	CHECK_STR(error_of("maximal_backoff_time = 8d\n"),
	    "t.conf:1: bad value for maximal_backoff_time: '8d': must be "
	    "between 1 and 1w");
	CHECK_STR(error_of("maximal_queue_lifetime = 30s\n"),
	    "t.conf:1: bad value for maximal_queue_lifetime: '30s': must be "
	    "between 1m and 365d");
	CHECK_STR(error_of("bounce_rate_limit = 10/h\n"),
	    "t.conf:1: bad value for bounce_rate_limit: '10/h': expected a "
	    "number");
	CHECK_STR(error_of("bounce_rate_limit = 0\n"),
	    "t.conf:1: bad value for bounce_rate_limit: '0': must be "
	    "between 1 and 1000000");
	CHECK_STR(error_of("listen = 127.0.0.1:25\n"),
	    "t.conf:1: bad value for listen: '127.0.0.1:25': missing MODE "
	    "(smtp, submission or smtps)");
	CHECK_STR(error_of("listen = 127.0.0.1:25 lmtp\n"),
	    "t.conf:1: bad value for listen: '127.0.0.1:25 lmtp': MODE must "
	    "be smtp, submission or smtps");
	CHECK_STR(error_of("listen = localhost:25 smtp\n"),
	    "t.conf:1: bad value for listen: 'localhost:25 smtp': ADDR:PORT "
	    "must be like 127.0.0.1:25, [::1]:25 or *:25");
	CHECK_STR(error_of("listen = ::1:25 smtp\n"),
	    "t.conf:1: bad value for listen: '::1:25 smtp': ADDR:PORT "
	    "must be like 127.0.0.1:25, [::1]:25 or *:25");
	CHECK_STR(error_of("listen = \n"),
	    "t.conf:1: bad value for listen: '': expected ADDR:PORT MODE");
	CHECK_STR(error_of("listen = 127.0.0.1:25 smtp\n"
	    "listen = 127.0.0.1:25 submission\n"),
	    "t.conf:2: bad value for listen: '127.0.0.1:25 submission': the "
	    "same ADDR:PORT is listed twice");
	CHECK_STR(error_of("mynetworks = 10.0.0.0/33\n"),
	    "t.conf:1: bad value for mynetworks: '10.0.0.0/33': expected "
	    "networks like 10.0.0.0/8 or [fd00::]/8");
	CHECK_STR(error_of("mynetworks = 10.0.0.0/8 lan\n"),
	    "t.conf:1: bad value for mynetworks: '10.0.0.0/8 lan': expected "
	    "networks like 10.0.0.0/8 or [fd00::]/8");
	CHECK_STR(error_of("queue_path =\n"),
	    "t.conf:1: bad value for queue_path: '': empty");
	CHECK_STR(error_of("myhostname = mail_host\n"),
	    "t.conf:1: bad value for myhostname: 'mail_host': expected a "
	    "host name like mail.example.com");
	CHECK_STR(error_of("myorigin = -x.com\n"),
	    "t.conf:1: bad value for myorigin: '-x.com': expected a "
	    "host name like mail.example.com");
	CHECK_STR(error_of("relayhost = [smtp.example.com:587\n"),
	    "t.conf:1: bad value for relayhost: '[smtp.example.com:587': "
	    "expected [host]:port, host:port or [host]");
	CHECK_STR(error_of("relayhost = smtp.example.com:0\n"),
	    "t.conf:1: bad value for relayhost: 'smtp.example.com:0': "
	    "port must be 1-65535");
	CHECK_STR(error_of("relayhost = [a]:70000\n"),
	    "t.conf:1: bad value for relayhost: '[a]:70000': "
	    "port must be 1-65535");
	CHECK_STR(error_of("relayhost = [a]:\n"),
	    "t.conf:1: bad value for relayhost: '[a]:': "
	    "port must be 1-65535");
	CHECK_STR(error_of("relayhost = 2001:db8::1\n"),
	    "t.conf:1: bad value for relayhost: '2001:db8::1': "
	    "port must be 1-65535");
	CHECK_STR(error_of("relayhost = smtp@example.com\n"),
	    "t.conf:1: bad value for relayhost: 'smtp@example.com': "
	    "expected [host]:port, host:port or [host]");
	CHECK_STR(error_of("bounce_notice_recipient = a b@c\n"),
	    "t.conf:1: bad value for bounce_notice_recipient: 'a b@c': "
	    "expected an address like postmaster or admin@example.com");
	CHECK_STR(error_of("bounce_notice_recipient = <a@b>\n"),
	    "t.conf:1: bad value for bounce_notice_recipient: '<a@b>': "
	    "expected an address like postmaster or admin@example.com");
	CHECK_STR(error_of("sender_rewrite = @example.com\n"),
	    "t.conf:1: bad value for sender_rewrite: '@example.com': "
	    "expected an address like postmaster or admin@example.com");
	CHECK_STR(error_of("aliases = a\x01:b\n"),
	    "t.conf:1: bad value for aliases: contains a control character");
	CHECK_STR(error_of("fo\x1bo = 1\n"), "t.conf:1: unknown key '?'");
}

static void
test_lengths(void)
{
	char text[600];

	snprintf(text, sizeof(text), "local_socket = /%0120d\n", 0);
	CHECK_STR(error_of(text),
	    "t.conf:1: bad value for local_socket: "
	    "'/00000000000000000000000000000000000000000000000000000000000': "
	    "too long (at most 107 characters)");
	/* empty: no local socket (the lwIP target has none) */
	CHECK_EQ(parse("local_socket =\n"), 0);
	CHECK_STR(c.local_socket, "");
	snprintf(text, sizeof(text), "aliases = %0300d\n", 0);
	CHECK_EQ(parse(text), EDGEMTA_E_INVAL);
	CHECK(strstr(err, "t.conf:1: bad value for aliases: '000") == err);
	CHECK(strstr(err, "': too long (at most 255 characters)") != NULL);
	snprintf(text, sizeof(text), "aliases = %0255d\n", 0);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(strlen(c.aliases), 255);
	snprintf(text, sizeof(text), "sender_rewrite = %0300d@x\n", 0);
	CHECK_EQ(parse(text), EDGEMTA_E_INVAL);
	CHECK(strstr(err, "': too long") != NULL);
	/* an embedded NUL is a control character, not an end of line */
	CHECK_EQ(conf_parse(&c, "n.conf", "aliases = a\0b\n", 14, err,
	    sizeof(err)), EDGEMTA_E_INVAL);
	CHECK_STR(err, "n.conf:1: bad value for aliases: contains a control "
	    "character");
	/* the length given is respected: text past it is never read */
	conf_defaults(&c);
	CHECK_EQ(conf_parse(&c, "n.conf", "smtpd_timeout = 20x", 18, err,
	    sizeof(err)), 0);
	CHECK_EQ(c.smtpd_timeout, 20);
	/* a small error buffer truncates, never overflows */
	{
		char small[12];

		conf_defaults(&c);
		memset(small, 'q', sizeof(small));
		CHECK_EQ(conf_parse(&c, "x.conf", "foo = 1", 7, small,
		    sizeof(small)), EDGEMTA_E_INVAL);
		CHECK_STR(small, "x.conf:1: u");
	}
}

static void
test_validate(void)
{
	CHECK_EQ(parse("queue_size = 32K\n"), 0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)),
	    CONFIG_QUEUE_BLOCK_SIZE <= 4096 ? 0 : EDGEMTA_E_INVAL);
	if (CONFIG_QUEUE_BLOCK_SIZE == 4096 &&
	    CONFIG_QUEUE_MAX_BLOCKS == 4096) {
		CHECK_EQ(parse("queue_size = 28K\n"), 0);
		CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
		CHECK_STR(err, "t.conf:1: queue_size 28K is too small: at least 32K "
		    "(8 erase blocks of 4096 bytes)");
		CHECK_EQ(parse("queue_size = 16M\n"), 0);
		CHECK_EQ(conf_validate(&c, err, sizeof(err)), 0);
		CHECK_EQ(parse("queue_size = 17M\n"), 0);
		CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
		CHECK_STR(err, "t.conf:1: queue_size 17M is too large: at most 16M "
		    "(CONFIG_QUEUE_MAX_BLOCKS 4096 blocks of 4096 bytes)");
	}
	CHECK_EQ(parse("minimal_backoff_time = 2h\n"
	    "maximal_backoff_time = 1h\n"), 0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
	CHECK_STR(err, "t.conf:2: minimal_backoff_time (2h) is larger than "
	    "maximal_backoff_time (1h)");
	CHECK_EQ(parse("minimal_backoff_time = 1h\n"
	    "maximal_backoff_time = 1h\n"), 0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), 0);
	conf_defaults(&c);
	c.nlisten = 0;
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
	CHECK_STR(err, "default: no listener: add a line like "
	    "'listen = 127.0.0.1:25 smtp'");
}

/* IPv4 listeners are opened first: [::] then takes only what is left */
static void
test_listen_v4_first(void)
{
	CHECK_EQ(parse("listen = [::]:25 smtp [::1]:26 smtp\n"
	    "listen = 127.0.0.1:27 smtp\n"), CONFIG_MAX_LISTENERS >= 3 ? 0 :
	    EDGEMTA_E_INVAL);
	if (CONFIG_MAX_LISTENERS < 3) {
		return;
	}
	CHECK_EQ(c.nlisten, 3);
	CHECK_EQ(c.listen[0].addr.family, NET_INET4);
	CHECK_EQ(c.listen[0].addr.port, 27);
	CHECK_EQ(c.listen[1].addr.port, 25);
	CHECK_EQ(c.listen[2].addr.port, 26);
	CHECK_EQ(c.listen[2].addr.family, NET_INET6);
}

/* Errors found after parsing name the line of their key (issue 11). */
static void
test_validate_where(void)
{
	char w[64];

	CHECK_EQ(parse("# c\n\nsmtp_tls_security_level = maybe\n"), 0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
	CHECK_STR(err, "t.conf:3: smtp_tls_security_level: 'maybe': "
	    "expected none, may, encrypt or verify");
	CHECK_EQ(parse("myhostname = a.b\nsmtp_tls_fingerprint = ZZ:YY\n"),
	    0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
	CHECK(strstr(err, "t.conf:2: smtp_tls_fingerprint: ") == err);
	CHECK_EQ(parse("smtp_tls_wrapper = maybe\n"), 0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
	CHECK(strstr(err, "t.conf:1: smtp_tls_wrapper: ") == err);
	/* the last line that set a key counts; a default names the file */
	CHECK_EQ(parse("smtpd_tls_cert_file = /a\n#\n"
	    "smtpd_tls_cert_file = /b\n"), 0);
	conf_where(&c, "smtpd_tls_cert_file", w, sizeof(w));
	CHECK_STR(w, "t.conf:3");
	conf_where(&c, "queue_size", w, sizeof(w));
	CHECK_STR(w, "t.conf");
	strcpy(err, "/b: No such file or directory");
	conf_err_prefix(&c, "smtpd_tls_cert_file", err, sizeof(err));
	CHECK_STR(err, "t.conf:3: smtpd_tls_cert_file: /b: No such file or "
	    "directory");
	conf_defaults(&c);
	conf_where(&c, "queue_size", w, sizeof(w));
	CHECK_STR(w, "default");
}

/* smtp_sasl_mechanism = xoauth2 and the keys it needs (issue 15). */
static void
test_validate_oauth2(void)
{
	static const char ok[] =
	    "smtp_sasl_username = a@example.com\n"
	    "smtp_sasl_mechanism = XOAUTH2\n"
	    "smtp_oauth2_token_url = https://login.example.com:8443/t/token\n"
	    "smtp_oauth2_client_id = id\n"
	    "smtp_oauth2_refresh_token_file = /etc/edgemta/rt\n";
	char text[sizeof(ok) + 128];

	CHECK_EQ(parse(ok), 0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), CONFIG_OAUTH2 ? 0 :
	    EDGEMTA_E_INVAL);
	if (!CONFIG_OAUTH2) {
		CHECK_STR(err, "t.conf:2: OAuth2 is not built in "
		    "(CONFIG_OAUTH2)");
		return;
	}
	snprintf(text, sizeof(text), "%ssmtp_sasl_mechanism = cram-md5\n",
	    ok);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
	CHECK_STR(err, "t.conf:6: smtp_sasl_mechanism: 'cram-md5': expected "
	    "xoauth2 or oauthbearer (or nothing for PLAIN/LOGIN)");
	snprintf(text, sizeof(text), "%ssmtp_oauth2_token_url = "
	    "http://a/token\n", ok);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
	CHECK(strstr(err, "t.conf:6: smtp_oauth2_token_url: expected "
	    "https://") == err);
	snprintf(text, sizeof(text), "%ssmtp_oauth2_client_id =\n", ok);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
	CHECK_STR(err, "t.conf:2: smtp_sasl_mechanism XOAUTH2 needs "
	    "smtp_oauth2_client_id");
	snprintf(text, sizeof(text), "%ssmtp_oauth2_tls_fingerprint = AB\n",
	    ok);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
	CHECK(strstr(err, "t.conf:6: smtp_oauth2_tls_fingerprint: ") == err);
}

/* An alias loop is a config error (issue 11 point 6). */
static void
test_alias_loop(void)
{
	static const struct {
		const char *aliases, *err;
	} t[] = {
		{ "a: b; b: a", "a -> b -> a" },
		{ "a: a", "a -> a" },
		{ "root: x@example.org, admin; admin: ROOT@localhost",
		    "root -> admin -> ROOT" },
		{ "a: b\nb: c; c: B@gw.lan, d@example.org", "b -> c -> B" },
		{ "a b: c; c: d; d: e; e: b", "c -> d -> e -> b -> c" },
		/* no loop: remote targets, chains, a name twice */
		{ "a: b; b: c@example.org", NULL },
		{ "root postmaster: me@example.org; backup: root, x@y.z",
		    NULL },
		{ "a: b, b, b; b: c", NULL },
		{ "", NULL },
		{ "a:; :b; ;;", NULL },
	};
	char text[300];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t); i++) {
		snprintf(text, sizeof(text), "myhostname = gw.lan\n"
		    "aliases = %s\n", t[i].aliases);
		if (strchr(t[i].aliases, '\n') != NULL) {
			/* a newline inside is not a config line: set it */
			CHECK_EQ(parse("myhostname = gw.lan\n"), 0);
			snprintf(c.aliases, sizeof(c.aliases), "%s",
			    t[i].aliases);
		} else {
			CHECK_EQ(parse(text), 0);
		}
		if (t[i].err == NULL) {
			CHECK_EQ(conf_validate(&c, err, sizeof(err)), 0);
			continue;
		}
		CHECK_EQ(conf_validate(&c, err, sizeof(err)),
		    EDGEMTA_E_INVAL);
		CHECK(strstr(err, ": aliases: alias loop: ") != NULL);
		CHECK(strstr(err, t[i].err) != NULL);
	}
	/* a hostile list ends in bounded time */
	memset(c.aliases, 0, sizeof(c.aliases));
	for (i = 0; i + 8 < sizeof(c.aliases); i += 8) {
		memcpy(c.aliases + i, "a:a a a;", 8);
	}
	CHECK_EQ(conf_validate(&c, err, sizeof(err)), EDGEMTA_E_INVAL);
}

/* conf_warnings: no usable admin address on a relay (issue 11 point 7) */
static unsigned nwarn;
static char lastwarn[CONF_ERR_MAX + 1024];

static void
warn_out(void *arg, const char *line)
{
	(void)arg;
	nwarn++;
	snprintf(lastwarn, sizeof(lastwarn), "%s", line);
}

static void
test_warnings(void)
{
	CHECK_EQ(parse("relayhost =\n"), 0);
	CHECK_EQ(conf_warnings(&c, warn_out, NULL), 0);
	CHECK_EQ(parse("relayhost = [192.0.2.1]:25\n"
	    "bounce_notice_recipient =\n"), 0);
	CHECK_EQ(conf_warnings(&c, warn_out, NULL), 1);
	CHECK(strstr(lastwarn, "t.conf:2: bounce_notice_recipient is empty")
	    == lastwarn);
	CHECK_EQ(parse("relayhost = [192.0.2.1]:25\n"), 0);
	CHECK_EQ(conf_warnings(&c, warn_out, NULL), 1);
	CHECK(strstr(lastwarn, "'postmaster' has no domain") != NULL);
	CHECK_EQ(parse("relayhost = [192.0.2.1]:25\nmyorigin = e.org\n"), 0);
	CHECK_EQ(conf_warnings(&c, warn_out, NULL), 0);
	CHECK_EQ(parse("relayhost = [192.0.2.1]:25\n"
	    "bounce_notice_recipient = me@e.org\n"), 0);
	CHECK_EQ(conf_warnings(&c, warn_out, NULL), 0);
	CHECK_EQ(nwarn, 2);
}

/* conf_print collects lines here, one "\n" after each. */
static char printed[8192];
static size_t nprinted;

static void
collect(void *arg, const char *line)
{
	int *count = arg;

	(*count)++;
	nprinted += (size_t)snprintf(printed + nprinted,
	    sizeof(printed) - nprinted, "%s\n", line);
}

/* Print c, parse the output over the defaults, compare structs. */
static void
check_roundtrip(void)
{
	static struct conf back;
	int lines = 0;

	nprinted = 0;
	printed[0] = '\0';
	conf_print(&c, collect, &lines);
	CHECK(nprinted < sizeof(printed) - 1);
	conf_defaults(&back);
	CHECK_EQ(conf_parse(&back, "printed", printed, nprinted, err,
	    sizeof(err)), 0);
	/* the settings, not where they were read (file, line) */
	CHECK(memcmp(&back, &c, offsetof(struct conf, file)) == 0);
	if (memcmp(&back, &c, offsetof(struct conf, file)) != 0) {
		fprintf(stderr, "%s", printed);
	}
}

static void
test_print(void)
{
	int lines = 0;

	conf_defaults(&c);
	nprinted = 0;
	conf_print(&c, collect, &lines);
	/* every key once (one listener by default) */
	/* 17 + 3 smtpd deadline/greet keys + 10 TLS and AUTH keys + 3 DNS
	 * + hopcount_limit + user + 2 outbound rate keys + 8 OAuth2 keys
	 * + alert_collapse_window */
	CHECK_EQ(lines, 46);
	CHECK(strstr(printed, "\nalert_collapse_window = 0\n") != NULL);
	CHECK(strstr(printed, "\nhopcount_limit = 50\n") != NULL);
	CHECK(strstr(printed, "myhostname =\n") != NULL);
	CHECK(strstr(printed, "\nlisten = 127.0.0.1:2525 smtp\n") != NULL);
	CHECK(strstr(printed, "\nmynetworks = 127.0.0.0/8 [::1]/128\n") !=
	    NULL);
	CHECK(strstr(printed, "\nbounce_rate_limit = 30\n") != NULL);
	if (CONFIG_DEFAULT_QUEUE_SIZE == 16384) {
		CHECK(strstr(printed, "\nqueue_size = 16M\n") != NULL);
	}
	if (CONFIG_DEFAULT_MAXIMAL_QUEUE_LIFETIME == 432000) {
		CHECK(strstr(printed, "\nmaximal_queue_lifetime = 5d\n") !=
		    NULL);
	}
	CHECK(strstr(printed, "\nsender_rewrite =\n") != NULL);
	check_roundtrip();
}

static void
test_print_roundtrip(void)
{
	CHECK_EQ(parse("myhostname = mx.example.org\n"
	    "myorigin = example.org\n"
	    "listen = *:25 smtp\n"
	    "listen = [2001:db8::1]:465 smtps\n"
	    "mynetworks = 10.1.2.3/8 [fd00::1]/64 192.168.7.7 ::ffff:1.2.3.4\n"
	    "queue_path = ./var/queue\n"
	    "queue_size = 65537\n"
	    "message_size_limit = 1M\n"
	    "local_socket = ./var/sock\n"
	    "smtpd_timeout = 61\n"
	    "relayhost = [smtp.example.com]:587 [10.0.0.1]\n"
	    "minimal_backoff_time = 1d\n"
	    "maximal_backoff_time = 1w\n"
	    "maximal_queue_lifetime = 3600\n"
	    "bounce_notice_recipient = \"odd one\"@example.org\n"
	    "bounce_rate_limit = 1000000\n"
	    "aliases = root: a@b\n"
	    "sender_rewrite = alerts@example.org\n"), 0);
	CHECK_STR(err, "");
	check_roundtrip();
	CHECK(strstr(printed, "\nlisten = 0.0.0.0:25 smtp\n"
	    "listen = [2001:db8::1]:465 smtps\n") != NULL);
	CHECK(strstr(printed, "\nmynetworks = 10.0.0.0/8 [fd00::]/64 "
	    "192.168.7.7/32 [::ffff:1.2.3.4]/128\n") != NULL);
	CHECK(strstr(printed, "\nqueue_size = 65537\n") != NULL);
	CHECK(strstr(printed, "\nsmtpd_timeout = 61\n") != NULL);
	CHECK(strstr(printed, "\nmaximal_queue_lifetime = 1h\n") != NULL);
	/* and an empty mynetworks prints as an empty value */
	CHECK_EQ(parse("mynetworks =\nrelayhost =\n"), 0);
	check_roundtrip();
	CHECK(strstr(printed, "\nmynetworks =\n") != NULL);
}

int
main(void)
{
	RUN(test_defaults);
	RUN(test_every_key);
	RUN(test_units);
	RUN(test_listen_replace);
	RUN(test_errors);
	RUN(test_lengths);
	RUN(test_validate);
	RUN(test_validate_where);
	if (CONFIG_OAUTH2) {	/* else its keys hold nothing */
		RUN(test_validate_oauth2);
	}
	RUN(test_listen_v4_first);
	RUN(test_alias_loop);
	RUN(test_warnings);
	RUN(test_print);
	RUN(test_print_roundtrip);
	return test_report("conf");
}
