/*
 * status.c - counters of the running daemon (status.h).
 */
#include <stdio.h>
#include <string.h>

#include "status.h"

static struct {
	int64_t started;
	uint32_t sent, bounced, deferred;	/* recipients */
	int64_t last_sent, last_error_at, rate_next, oauth2_at;
	/* sized so that the status line fits one 512-octet reply */
	char last_relay[64];
	char last_tls[64];
	char error_relay[64];
	char last_error[120];
	char oauth2[24];	/* what OAuth2 needs the admin for */
} st;

void
status_start(int64_t now)
{
	memset(&st, 0, sizeof(st));
	st.started = now;
}

/* Copy src, turning what would break the status line into spaces. */
static void
status_copy(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[i] = ch < 0x20 || ch == 0x7f || ch == ';' ? ' ' :
		    (char)ch;
	}
	dst[i] = '\0';
}

void
status_error(const char *relay, const char *text, int64_t now)
{
	status_copy(st.error_relay, sizeof(st.error_relay), relay);
	status_copy(st.last_error, sizeof(st.last_error), text);
	st.last_error_at = now;
}

void
status_oauth2(const char *code, int64_t now)
{
	status_copy(st.oauth2, sizeof(st.oauth2), code);
	st.oauth2_at = now;
}

void
status_rate_next(int64_t when)
{
	st.rate_next = when;
}

void
status_tls(const char *tls)
{
	status_copy(st.last_tls, sizeof(st.last_tls), tls);
}

void
status_delivery(const char *word, const char *relay, const char *text,
    int64_t now)
{
	if (strcmp(word, "sent") == 0) {
		st.sent++;
		st.last_sent = now;
		status_copy(st.last_relay, sizeof(st.last_relay), relay);
		return;
	}
	if (strcmp(word, "bounced") == 0) {
		st.bounced++;
	} else {
		st.deferred++;
	}
	status_error(relay, text, now);
}

void
status_format(char *buf, size_t len, int64_t now, int64_t down_until)
{
	char a[U64_STRLEN], b[U64_STRLEN], c[U64_STRLEN], d[U64_STRLEN];
	char e[U64_STRLEN], f[U64_STRLEN];

	/* oauth2 before the free texts: a long error text is cut, not it */
	snprintf(buf, len, "started=%s;sent=%lu;bounced=%lu;deferred=%lu;"
	    "last_sent=%s;last_relay=%s;last_tls=%s;relay_down_until=%s;"
	    "rate_next=%s;oauth2=%s;oauth2_at=%s;last_error_at=%s;"
	    "error_relay=%s;last_error=%s",
	    i64_str(a, st.started), (unsigned long)st.sent,
	    (unsigned long)st.bounced, (unsigned long)st.deferred,
	    i64_str(b, st.last_sent), st.last_relay,
	    st.last_tls, i64_str(c, down_until > now ? down_until : 0),
	    i64_str(e, st.rate_next > now ? st.rate_next : 0), st.oauth2,
	    i64_str(f, st.oauth2_at),
	    i64_str(d, st.last_error_at),
	    st.error_relay, st.last_error);
}
