/*
 * oauth2_test.c - the pure OAuth2 parsers (core/oauth2_parse.c): JSON
 * member extraction, form encoding, https URLs, HTTP replies and the
 * XOAUTH2 / OAUTHBEARER responses.
 */
#include "test.h"
#include "auth.h"
#include "oauth2.h"

#if CONFIG_OAUTH2

#define JS(s) s, sizeof(s) - 1

static void
test_json_str(void)
{
	char out[64];

	CHECK_EQ(oauth2_json_str(JS("{\"access_token\":\"abc\","
	    "\"token_type\":\"Bearer\",\"expires_in\":3599}"),
	    "access_token", out, sizeof(out)), 0);
	CHECK_STR(out, "abc");
	/* nested values are skipped, only top-level members count */
	CHECK_EQ(oauth2_json_str(JS(" {\"x\":{\"error\":\"no\"},\"a\":[1,"
	    "{\"b\":null}],\"error\" : \"invalid_grant\"} \r\n"), "error", out,
	    sizeof(out)), 0);
	CHECK_STR(out, "invalid_grant");
	/* escapes */
	CHECK_EQ(oauth2_json_str(JS("{\"k\":\"a\\\"b\\\\c\\/d\\n\\u0041"
	    "\\u00e9\"}"), "k", out, sizeof(out)), 0);
	CHECK_STR(out, "a\"b\\c/d\nA\xc3\xa9");
	/* absent, other type */
	CHECK_EQ(oauth2_json_str(JS("{\"k\":1}"), "k", out, sizeof(out)),
	    EDGEMTA_E_NOENT);
	CHECK_EQ(oauth2_json_str(JS("{\"kk\":\"v\"}"), "k", out, sizeof(out)),
	    EDGEMTA_E_NOENT);
	CHECK_EQ(oauth2_json_str(JS("{}"), "k", out, sizeof(out)),
	    EDGEMTA_E_NOENT);
	/* too long for out: nothing half-copied */
	CHECK_EQ(oauth2_json_str(JS("{\"k\":\"0123456789\"}"), "k", out, 5),
	    EDGEMTA_E_TOOBIG);
	CHECK_STR(out, "");
}

static void
test_json_bad(void)
{
	static const char *const bad[] = {
		"", "{", "{\"a\":\"b\"", "{\"a\":\"b\",}", "{\"a\" \"b\"}",
		"[\"a\"]", "{\"a\":\"b\"} x", "{\"a\":tru}", "{\"a\":01}",
		"{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"b\n\"}",
		"{\"a\":1.}", "{\"a\":-}", "{a:1}", "{\"a\":[1,]}",
		"{\"a\":\"b\"}}", "{\"access_token\":\"x\"",
		"{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
	};
	char out[16];
	uint32_t n;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = oauth2_json_str(bad[i], strlen(bad[i]), "a", out,
		    sizeof(out));

		if (r != EDGEMTA_E_PROTO) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
		}
		CHECK_EQ(r, EDGEMTA_E_PROTO);
	}
	CHECK_EQ(oauth2_json_num(JS("{\"a\":1"), "a", &n), EDGEMTA_E_PROTO);
	/* a NUL inside the text is not JSON */
	CHECK_EQ(oauth2_json_str("{\"a\":\"b\0\"}", 10, "a", out,
	    sizeof(out)), EDGEMTA_E_PROTO);
}

static void
test_json_num(void)
{
	uint32_t n = 0;

	CHECK_EQ(oauth2_json_num(JS("{\"expires_in\":3599}"), "expires_in",
	    &n), 0);
	CHECK_EQ(n, 3599);
	CHECK_EQ(oauth2_json_num(JS("{\"expires_in\":\"3600\"}"),
	    "expires_in", &n), 0);
	CHECK_EQ(n, 3600);
	CHECK_EQ(oauth2_json_num(JS("{\"interval\":5.0e0}"), "interval",
	    &n), 0);
	CHECK_EQ(n, 5);
	CHECK_EQ(oauth2_json_num(JS("{\"i\":-5}"), "i", &n),
	    EDGEMTA_E_NOENT);
	CHECK_EQ(oauth2_json_num(JS("{\"i\":99999999999}"), "i", &n),
	    EDGEMTA_E_TOOBIG);
}

static void
test_form(void)
{
	char buf[64];
	long n;

	n = oauth2_form_add(buf, sizeof(buf), 0, "grant_type",
	    "refresh_token");
	CHECK_EQ(n, 24);
	n = oauth2_form_add(buf, sizeof(buf), (size_t)n, "scope",
	    "a b/c&d=e");
	CHECK_STR(buf, "grant_type=refresh_token&scope=a+b%2Fc%26d%3De");
	CHECK_EQ(n, (long)strlen(buf));
	n = oauth2_form_add(buf, sizeof(buf), (size_t)n, "x",
	    "0123456789012345678901234567890123456789");
	CHECK_EQ(n, EDGEMTA_E_FULL);
	CHECK_STR(buf, "grant_type=refresh_token&scope=a+b%2Fc%26d%3De");
}

static void
test_http(void)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}";
	const char *body;
	size_t len;
	int st;

	CHECK_EQ(oauth2_http_reply(ok, sizeof(ok) - 1, false, &st, &body,
	    &len), 0);
	CHECK_EQ(st, 200);
	CHECK_EQ(len, 7);
	CHECK_EQ(memcmp(body, "{\"a\":1}", 7), 0);
	/* short of Content-Length: more must come */
	CHECK_EQ(oauth2_http_reply(ok, sizeof(ok) - 3, false, &st, &body,
	    &len), EDGEMTA_E_AGAIN);
	/* no length: complete at the end of the connection only */
	CHECK_EQ(oauth2_http_reply(JS("HTTP/1.0 400 Bad\r\n\r\n{}"), false,
	    &st, &body, &len), EDGEMTA_E_AGAIN);
	CHECK_EQ(oauth2_http_reply(JS("HTTP/1.0 400 Bad\r\n\r\n{}"), true,
	    &st, &body, &len), 0);
	CHECK_EQ(st, 400);
	CHECK_EQ(len, 2);
	CHECK_EQ(oauth2_http_reply(JS("HTTP/1.0 200 OK\r\nX: y"), true, &st,
	    &body, &len), EDGEMTA_E_AGAIN);
	CHECK_EQ(oauth2_http_reply(JS("SMTP/1.0 200 OK\r\n\r\n"), true, &st,
	    &body, &len), EDGEMTA_E_PROTO);
	CHECK_EQ(oauth2_http_reply(JS("HTTP/1.1 200 OK\r\nTransfer-Encoding:"
	    " chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"), true, &st, &body, &len),
	    EDGEMTA_E_PROTO);
}

static void
test_sasl(void)
{
	char out[256];
	uint8_t raw[256];
	long n, m;

	n = oauth2_sasl(OAUTH2_MECH_XOAUTH2, "a@b.example", "tok", out,
	    sizeof(out));
	CHECK(n > 2);
	CHECK_EQ(memcmp(out + n - 2, "\r\n", 2), 0);
	m = auth_b64_decode(out, (size_t)n - 2, raw, sizeof(raw));
	CHECK_EQ(m, 34);
	CHECK_EQ(memcmp(raw, "user=a@b.example\001auth=Bearer tok\001\001",
	    34), 0);
	n = oauth2_sasl(OAUTH2_MECH_OAUTHBEARER, "a,=b", "tok", out,
	    sizeof(out));
	m = auth_b64_decode(out, (size_t)n - 2, raw, sizeof(raw));
	CHECK_EQ(m, 31);
	CHECK_EQ(memcmp(raw, "n,a=a=2C=3Db,\001auth=Bearer tok\001\001", 31),
	    0);
	CHECK_EQ(oauth2_sasl(OAUTH2_MECH_XOAUTH2, "u", "tok", out, 10),
	    EDGEMTA_E_FULL);
}

#endif

/* built in every configuration (conf.c validates with them) */
static void
test_url(void)
{
	char host[64], path[64];
	uint16_t port;

	CHECK_EQ(oauth2_url_parse("https://login.microsoftonline.com/t/"
	    "oauth2/v2.0/token", host, sizeof(host), &port, path,
	    sizeof(path)), 0);
	CHECK_STR(host, "login.microsoftonline.com");
	CHECK_EQ(port, 443);
	CHECK_STR(path, "/t/oauth2/v2.0/token");
	CHECK_EQ(oauth2_url_parse("https://127.0.0.1:8443", host,
	    sizeof(host), &port, path, sizeof(path)), 0);
	CHECK_STR(host, "127.0.0.1");
	CHECK_EQ(port, 8443);
	CHECK_STR(path, "/");
	CHECK_EQ(oauth2_url_parse("https://[::1]:9/t?x=1", host,
	    sizeof(host), &port, path, sizeof(path)), 0);
	CHECK_STR(host, "::1");
	CHECK_EQ(port, 9);
	CHECK_STR(path, "/t?x=1");
	CHECK_EQ(oauth2_url_parse("http://a/b", host, sizeof(host), &port,
	    path, sizeof(path)), EDGEMTA_E_INVAL);
	CHECK_EQ(oauth2_url_parse("https://:1/", host, sizeof(host), &port,
	    path, sizeof(path)), EDGEMTA_E_INVAL);
	CHECK_EQ(oauth2_url_parse("https://a:99999/", host, sizeof(host),
	    &port, path, sizeof(path)), EDGEMTA_E_INVAL);
	CHECK_EQ(oauth2_url_parse("https://u@a/", host, sizeof(host), &port,
	    path, sizeof(path)), EDGEMTA_E_INVAL);
}

static void
test_mech(void)
{
	CHECK_EQ(oauth2_mech_parse("XOAuth2"), OAUTH2_MECH_XOAUTH2);
	CHECK_EQ(oauth2_mech_parse("oauthbearer"), OAUTH2_MECH_OAUTHBEARER);
	CHECK_EQ(oauth2_mech_parse("xoauth"), OAUTH2_MECH_NONE);
	CHECK_EQ(oauth2_mech_parse("xoauth22"), OAUTH2_MECH_NONE);
	CHECK_EQ(oauth2_mech_parse(""), OAUTH2_MECH_NONE);
}

int
main(void)
{
#if CONFIG_OAUTH2
	RUN(test_json_str);
	RUN(test_json_bad);
	RUN(test_json_num);
	RUN(test_form);
	RUN(test_http);
	RUN(test_sasl);
#endif
	RUN(test_url);
	RUN(test_mech);
	return test_report("oauth2");
}
