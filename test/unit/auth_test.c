/*
 * auth_test.c - base64, PBKDF2, the users file and the AUTH exchanges
 * (core/auth.c, core/passwd.c), and the fingerprint parser of tls.c.
 */
#include <string.h>

#include "test.h"
#include "auth.h"
#include "passwd.h"
#include "tls.h"

#if CONFIG_AUTH

static char users_text[1024];

static long
users_load(char *buf, size_t len)
{
	size_t n = strlen(users_text);

	if (n >= len) {
		return -1;
	}
	memcpy(buf, users_text, n + 1);
	return (long)n;
}

static void
test_base64(void)
{
	char out[64];
	uint8_t raw[64];

	CHECK_EQ(auth_b64_encode("", 0, out, sizeof(out)), 0);
	CHECK_EQ(auth_b64_encode("f", 1, out, sizeof(out)), 4);
	CHECK_STR(out, "Zg==");
	CHECK_EQ(auth_b64_encode("foobar", 6, out, sizeof(out)), 8);
	CHECK_STR(out, "Zm9vYmFy");
	CHECK_EQ(auth_b64_encode("fooba", 5, out, 8), EDGEMTA_E_FULL);
	CHECK_EQ(auth_b64_decode("Zm9vYg==", 8, raw, sizeof(raw)), 4);
	CHECK(memcmp(raw, "foob", 4) == 0);
	CHECK_EQ(auth_b64_decode("Zm9vYg=", 7, raw, sizeof(raw)),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(auth_b64_decode("Zm=vYg==", 8, raw, sizeof(raw)),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(auth_b64_decode("Zm9v!mFy", 8, raw, sizeof(raw)),
	    EDGEMTA_E_INVAL);
	CHECK_EQ(auth_b64_decode("Zm9vYmFy", 8, raw, 5), EDGEMTA_E_FULL);
	CHECK_EQ(auth_client_plain("u", "p", out, sizeof(out)), 0);
	CHECK_STR(out, "AUTH PLAIN AHUAcA==");
}

/* RFC 7914 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1), first block */
static void
test_pbkdf2(void)
{
	static const uint8_t want[32] = {
		0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f,
		0xec, 0x16, 0x91, 0xc2, 0x25, 0x44, 0xb6, 0x05,
		0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde, 0x04, 0x65,
		0xe6, 0x8b, 0x9d, 0x57, 0xc2, 0x0d, 0xac, 0xbc
	};
	uint8_t out[32];

	passwd_pbkdf2("passwd", 6, (const uint8_t *)"salt", 4, 1, out);
	CHECK(memcmp(out, want, 32) == 0);
}

static void
test_users_file(void)
{
	static const uint8_t salt[PASSWD_SALT_LEN] = { 1, 2, 3 };
	char line[PASSWD_LINE_MAX], line2[PASSWD_LINE_MAX], out[2048];
	long n;

	CHECK_EQ(passwd_make("bob", "pw", salt, 3, line, sizeof(line)), 0);
	CHECK(strncmp(line, "bob:$01020300", 13) == 0);
	CHECK(strstr(line, "$3$") != NULL);
	CHECK_EQ(passwd_make("a:b", "pw", salt, 3, line2, sizeof(line2)),
	    EDGEMTA_E_INVAL);
	CHECK(passwd_check(line, strlen(line), "bob", "pw"));
	CHECK(!passwd_check(line, strlen(line), "bob", "pW"));
	CHECK(!passwd_check(line, strlen(line), "bo", "pw"));
	CHECK(!passwd_check(line, strlen(line), "alice", "pw"));
	n = passwd_update("# users\nalice:$00$1$00\n", 23, "bob", line, out,
	    sizeof(out));
	CHECK(n > 0);
	CHECK(passwd_check(out, (size_t)n, "bob", "pw"));
	CHECK_EQ(passwd_make("bob", "new", salt, 2, line2, sizeof(line2)), 0);
	n = passwd_update(out, (size_t)n, "bob", line2, out, sizeof(out));
	CHECK(n > 0);
	CHECK(passwd_check(out, (size_t)n, "bob", "new"));
	CHECK(!passwd_check(out, (size_t)n, "bob", "pw"));
	CHECK(strncmp(out, "# users\nalice:", 14) == 0);
}

static void
test_exchanges(void)
{
	static const uint8_t salt[PASSWD_SALT_LEN] = { 9 };
	struct auth_state a;
	char reply[64], b[128];

	CHECK(!auth_available());
	CHECK_EQ(passwd_make("bob", "pw", salt, 2, users_text,
	    sizeof(users_text)), 0);
	auth_set_users_loader(users_load);
	CHECK(auth_available());
	/* PLAIN with an initial response: "\0bob\0pw" */
	CHECK_EQ(auth_start(&a, "PLAIN AGJvYgBwdw==", reply, sizeof(reply)),
	    AUTH_R_OK);
	CHECK_STR(a.user, "bob");
	/* authzid = authcid is fine, another one is not */
	auth_b64_encode("bob\0bob\0pw", 10, b, sizeof(b));
	CHECK_EQ(auth_start(&a, "PLAIN", reply, sizeof(reply)),
	    AUTH_R_CONTINUE);
	CHECK_STR(reply, "334 ");
	CHECK_EQ(auth_step(&a, b, reply, sizeof(reply)), AUTH_R_OK);
	auth_b64_encode("eve\0bob\0pw", 10, b, sizeof(b));
	CHECK_EQ(auth_start(&a, "plain", reply, sizeof(reply)),
	    AUTH_R_CONTINUE);
	CHECK_EQ(auth_step(&a, b, reply, sizeof(reply)), AUTH_R_FAIL);
	CHECK_EQ(auth_start(&a, "PLAIN AGJvYgBwVw==", reply, sizeof(reply)),
	    AUTH_R_FAIL);
	CHECK_EQ(auth_start(&a, "PLAIN @@@@", reply, sizeof(reply)),
	    AUTH_R_SYNTAX);
	CHECK_EQ(auth_start(&a, "CRAM-MD5", reply, sizeof(reply)),
	    AUTH_R_MECH);
	/* LOGIN */
	CHECK_EQ(auth_start(&a, "LOGIN", reply, sizeof(reply)),
	    AUTH_R_CONTINUE);
	CHECK_STR(reply, "334 VXNlcm5hbWU6");
	CHECK_EQ(auth_step(&a, "Ym9i", reply, sizeof(reply)),
	    AUTH_R_CONTINUE);
	CHECK_STR(reply, "334 UGFzc3dvcmQ6");
	CHECK_EQ(auth_step(&a, "cHc=", reply, sizeof(reply)), AUTH_R_OK);
	CHECK_EQ(auth_start(&a, "LOGIN Ym9i", reply, sizeof(reply)),
	    AUTH_R_CONTINUE);
	CHECK_EQ(auth_step(&a, "*", reply, sizeof(reply)), AUTH_R_ABORT);
	auth_set_users_loader(NULL);
}

static void
test_failures(void)
{
	struct net_addr a, b;
	unsigned i;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.family = b.family = NET_INET4;
	a.ip[0] = 10;
	b.ip[0] = 11;
	for (i = 1; i < CONFIG_AUTH_MAX_FAILS; i++) {
		CHECK_EQ(auth_failed(&a), i);
		CHECK(!auth_blocked(&a));
	}
	CHECK_EQ(auth_failed(&a), CONFIG_AUTH_MAX_FAILS);
	CHECK(auth_blocked(&a));
	CHECK(!auth_blocked(&b));
	CHECK(auth_delay_ms(2) > auth_delay_ms(1));
	auth_succeeded(&a);
	CHECK(!auth_blocked(&a));
}

#endif

static void
test_fingerprint(void)
{
	uint8_t fp[32];

	if (!CONFIG_TLS) {
		return;
	}
	CHECK_EQ(tls_parse_fingerprint("B7:27:17:08:FA:78:55:44:A7:36:91:61:"
	    "3C:9E:8A:FC:36:60:40:F0:DD:C9:20:75:FF:4A:72:B3:72:CD:01:9D",
	    fp), 0);
	CHECK_EQ(fp[0], 0xb7);
	CHECK_EQ(fp[31], 0x9d);
	CHECK_EQ(tls_parse_fingerprint("B7:27", fp), EDGEMTA_E_INVAL);
	CHECK_EQ(tls_parse_fingerprint("zz", fp), EDGEMTA_E_INVAL);
}

int
main(void)
{
#if CONFIG_AUTH
	RUN(test_base64);
	RUN(test_pbkdf2);
	RUN(test_users_file);
	RUN(test_exchanges);
	RUN(test_failures);
#endif
	RUN(test_fingerprint);
	return test_report("auth_test");
}
