/*
 * conf.h - the runtime configuration (/etc/edgemta.conf).
 *
 * "key = value" lines, '#' comments, Postfix names where one exists.
 * Defaults come from Kconfig (CONFIG_DEFAULT_*). Unknown keys and bad
 * values are errors reported as "file:line: message". Keys that may
 * repeat (listen) accumulate; a later line of any other key wins.
 */
#ifndef CONF_H
#define CONF_H

#include "edgemta.h"
#include "addr.h"

#define CONF_STR_MAX 256
#define CONF_PATH_MAX 108	/* fits sockaddr_un.sun_path */
/* OAuth2's strings take no RAM where it is not built in (Cortex-M4) */
#define CONF_OAUTH2_MAX(n) (CONFIG_OAUTH2 ? (n) : 1)
#define CONF_ERR_MAX 256
#define CONF_NAME_MAX 33	/* a login name (LOGIN_NAME_MAX is 256; 32 in practice) */
#define CONF_TLS_CAFILE "/etc/ssl/certs/ca-certificates.crt"	/* Debian */
#define CONF_NKEYS 48	/* >= the rows of conf.c's key table */

enum listen_mode {
	LISTEN_SMTP = 0,	/* port 25: relay for mynetworks */
	LISTEN_SUBMISSION,	/* 587: STARTTLS + AUTH (TLS issue) */
	LISTEN_SMTPS,		/* 465: implicit TLS + AUTH (TLS issue) */
	LISTEN_LOCAL		/* unix socket for the sendmail injector */
};

struct conf_listen {
	struct net_addr addr;
	uint8_t mode;		/* enum listen_mode */
};

struct conf {
	char myhostname[CONF_STR_MAX];	/* "" = plat_hostname() */
	char myorigin[CONF_STR_MAX];	/* domain for bare local names */
	struct conf_listen listen[CONFIG_MAX_LISTENERS];
	unsigned nlisten;
	struct net_prefix mynetworks[CONFIG_MAX_MYNETWORKS];
	unsigned nmynetworks;
	char queue_path[CONF_PATH_MAX];
	uint32_t queue_size;		/* bytes */
	uint32_t message_size_limit;	/* bytes */
	char local_socket[CONF_PATH_MAX];
	uint32_t smtpd_timeout;		/* seconds */
	uint32_t smtpd_command_deadline;	/* seconds, 0 = none */
	uint32_t smtpd_min_data_rate;	/* bytes/s in DATA, 0 = none */
	uint32_t smtpd_greet_wait;	/* seconds before the 220, 0 = none */
	/* delivery */
	char relayhost[CONF_STR_MAX];	/* "[host]:port, [host2]:port" */
	uint32_t minimal_backoff_time;	/* seconds */
	uint32_t maximal_backoff_time;
	uint32_t maximal_queue_lifetime;
	char bounce_notice_recipient[CONF_STR_MAX];	/* admin address */
	uint32_t bounce_rate_limit;	/* bounces per hour */
	uint32_t hopcount_limit;	/* trace fields allowed (hops.h) */
	/* outbound rate towards the relayhost (sched.c) */
	uint32_t smtp_destination_rate_delay;	/* s between messages */
	char smtp_rate_limit[24];		/* "N/PERIOD" or "" */
	uint32_t alert_collapse_window;	/* s, 0 = off (storm.h) */
	/* local submission */
	char aliases[CONF_STR_MAX];	/* "root admin: a@b, c@d" style */
	char sender_rewrite[CONF_STR_MAX];
	/* DNS and MX delivery (dnsq.h) */
	char dns_servers[CONF_STR_MAX];	/* "" = /etc/resolv.conf */
	char smtp_address_preference[8];	/* ipv6, ipv4, any */
	uint32_t default_destination_concurrency_limit;
	/* TLS and AUTH (tls.h, auth.h) */
	char smtpd_tls_cert_file[CONF_PATH_MAX];	/* "" = no STARTTLS */
	char smtpd_tls_key_file[CONF_PATH_MAX];	/* "" = cert file */
	char smtpd_users_file[CONF_PATH_MAX];	/* AUTH users */
	char smtp_tls_security_level[16];	/* none|may|encrypt|verify */
	char smtp_tls_CAfile[CONF_PATH_MAX];
	char smtp_tls_fingerprint[100];		/* SHA-256, hex:hex:... */
	char smtp_tls_wrapper[8];		/* yes|no: implicit TLS */
	char smtp_sasl_password_file[CONF_PATH_MAX];	/* 0600 */
	char smtp_sasl_username[CONF_STR_MAX];
	char smtp_sasl_password[CONF_STR_MAX];
	/* OAuth2 instead of a password (oauth2.h) */
	char smtp_sasl_mechanism[16];		/* "" | xoauth2 | oauthbearer */
	char smtp_oauth2_token_url[CONF_OAUTH2_MAX(CONF_STR_MAX)];	/* https:// */
	char smtp_oauth2_client_id[CONF_OAUTH2_MAX(CONF_STR_MAX)];
	char smtp_oauth2_client_secret[CONF_OAUTH2_MAX(CONF_STR_MAX)];	/* "" = public */
	char smtp_oauth2_refresh_token_file[CONF_OAUTH2_MAX(CONF_PATH_MAX)];	/* 0600 */
	char smtp_oauth2_device_url[CONF_OAUTH2_MAX(CONF_STR_MAX)];	/* device-login */
	char smtp_oauth2_scope[CONF_OAUTH2_MAX(CONF_STR_MAX)];		/* device-login */
	char smtp_oauth2_tls_fingerprint[CONF_OAUTH2_MAX(100)];	/* pin of the token URL */
	/* "" = keep the user edgemta was started as */
	char user[CONF_NAME_MAX];
	/* where each key was set, for messages (conf_where) */
	const char *file;		/* name given to conf_parse, or NULL */
	uint16_t line[CONF_NKEYS];	/* per key row; 0 = not in the file */
};

/* The effective smtp_tls_security_level (enum conf_tls_level). */
enum conf_tls_level {
	CONF_TLS_NONE = 0,
	CONF_TLS_MAY,
	CONF_TLS_ENCRYPT,
	CONF_TLS_VERIFY
};
int conf_tls_level(const struct conf *c);

/* Fill c with the Kconfig defaults. */
void conf_defaults(struct conf *c);

/*
 * Parse text (len bytes, need not be NUL-terminated) from file name into
 * c, on top of what c holds. Returns 0, or EDGEMTA_E_INVAL with
 * "name:line: message" in err (CONF_ERR_MAX).
 */
int conf_parse(struct conf *c, const char *name, const char *text,
    size_t len, char *err, size_t errlen);

/*
 * Checks across keys after parsing (e.g. at least one listener, queue_size
 * a multiple of the block size, no alias loop). 0 or EDGEMTA_E_INVAL with
 * a message that starts with "file:line: " (conf_where).
 */
int conf_validate(const struct conf *c, char *err, size_t errlen);

/*
 * Where key got its value, for an error message: "file:line" when a line
 * of the file set it, "file" when it has its default and a file was
 * parsed, else "default". The name given to conf_parse must outlive c.
 */
void conf_where(const struct conf *c, const char *key, char *buf,
    size_t len);

/*
 * Put "where: key: " (conf_where) in front of the message in err, so
 * that an error found later (a missing certificate file) names the line.
 */
void conf_err_prefix(const struct conf *c, const char *key, char *err,
    size_t errlen);

/*
 * Warnings about settings that work but probably not as meant (no admin
 * address for bounces on a relay to a smarthost), each through out() as
 * "where: message". Returns how many.
 */
unsigned conf_warnings(const struct conf *c, void (*out)(void *arg,
    const char *line), void *arg);

/* Print every effective setting as "key = value" lines through out(). */
void conf_print(const struct conf *c, void (*out)(void *arg,
    const char *line), void *arg);

/*
 * Reload support: call changed(arg, key) for each key whose effective
 * value differs between a and b, in conf_print's order.
 */
void conf_diff(const struct conf *a, const struct conf *b,
    void (*changed)(void *arg, const char *key), void *arg);

/* Copy the value of key (with its count, for lists) from src to dst. */
void conf_copy_key(struct conf *dst, const struct conf *src,
    const char *key);

/* smtp_rate_limit as numbers: false when none is set. */
bool conf_rate(const struct conf *c, uint32_t *count, uint32_t *period);

/* true if a is inside one of c->mynetworks. */
bool conf_in_mynetworks(const struct conf *c, const struct net_addr *a);

#endif
