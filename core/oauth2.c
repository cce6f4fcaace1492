/*
 * oauth2.c - the daemon's OAuth2 access token and the small HTTPS client
 * that refreshes it (oauth2.h).
 *
 * One request at a time, on one static struct io with a BearSSL client
 * session from the TLS pool: look up the token URL's host (dnsq, unless
 * it is an address literal), connect, TLS (CA bundle + host name, or
 * the pin), write the HTTP/1.0 POST as the send buffer drains, collect
 * the reply into a bounded buffer (OAUTH2_RESP_MAX) and finish once
 * Content-Length bytes arrived or the server closed. Every step is
 * non-blocking; the whole request has one deadline (T_REQUEST).
 *
 * Tokens live in RAM only, except a rotated refresh token, which the
 * platform writes back (oauth2_store_fn) before it is used.
 */
#include <stdio.h>
#include <string.h>

#include "oauth2.h"
#include "dnsq.h"
#include "ev.h"
#include "io.h"
#include "log.h"
#include "platform.h"
#include "status.h"
#include "tls.h"

#if CONFIG_OAUTH2

#define T_REQUEST 30000u	/* connect + TLS + reply, ms */
#define EXPIRES_DEFAULT 3600u	/* when the reply has no expires_in */
#define HOST_MAX 256
#define PATH_MAX_ 512

static struct {
	struct oauth2_conf c;
	bool on;
	char host[HOST_MAX];
	char path[PATH_MAX_];
	uint16_t port;
	char refresh[OAUTH2_TOKEN_MAX];
	char sasl[(OAUTH2_TOKEN_MAX + 300) / 3 * 4 + 8];
	size_t sasl_len;
	bool have;		/* access is usable until refresh_at */
	uint64_t refresh_at;	/* ev_now() ms */
	bool rejected_once;	/* 535 seen: token dropped for one retry */
	char reason[OAUTH2_REASON_MAX];
	void (*done)(int r);
	/* the request in flight */
	bool busy;
	bool wait;		/* oauth2_post_wait() runs the loop */
	int result;
	struct io io;
	bool io_open;
	struct ev_timer timer;
	char req[OAUTH2_REQ_MAX];
	size_t req_len, req_off;
	char resp[OAUTH2_RESP_MAX + 1];
	size_t resp_len;
	bool resp_big;
	struct net_addr addr;
#if CONFIG_DNS
	struct dnsq_req dns;
	struct dnsq_result dres;
	unsigned addr_i;
#endif
} o;

_Static_assert(OAUTH2_REQ_MAX >= OAUTH2_TOKEN_MAX, "o.req holds a token");

static void o_finish(int r);
static int o_connect(const struct net_addr *a);

static void
o_reason(const char *fmt, const char *a, const char *b)
{
	char what[OAUTH2_REASON_MAX];

	snprintf(what, sizeof(what), fmt, a, b);
	snprintf(o.reason, sizeof(o.reason), "OAuth2 token %.60s:%u: %.150s",
	    o.host, (unsigned)o.port, what);
}

static void
o_on_timer(void *arg)
{
	(void)arg;
	o_reason("%s%s", "no complete reply in time", "");
	o_finish(EDGEMTA_E_TIMEOUT);
}

static void
o_close_io(void)
{
	if (o.io_open) {
		io_close(&o.io);
		o.io_open = false;
	}
}

/* Write what fits of the request. */
static void
o_pump(void)
{
	while (o.req_off < o.req_len) {
		size_t room, n;
		uint8_t *w = io_wspace(&o.io, &room);

		if (room == 0) {
			break;
		}
		n = MIN(room, o.req_len - o.req_off);
		memcpy(w, o.req + o.req_off, n);
		io_wcommit(&o.io, n);
		o.req_off += n;
		io_flush(&o.io);
	}
	io_flush(&o.io);
}

static int o_token_reply(int status, const char *body, size_t len);

/* Take input; finish when the reply is complete (eof: no more comes). */
static void
o_input(bool eof)
{
	const uint8_t *p;
	size_t len;
	const char *body;
	size_t blen;
	int status, r;

	p = io_rpeek(&o.io, &len);
	if (len > 0) {
		size_t n = MIN(len, OAUTH2_RESP_MAX - o.resp_len);

		memcpy(o.resp + o.resp_len, p, n);
		o.resp_len += n;
		o.resp_big |= n < len;
		io_rconsume(&o.io, len);
	}
	o.resp[o.resp_len] = '\0';
	if (o.resp_big) {
		char max[16];

		snprintf(max, sizeof(max), "%u", (unsigned)OAUTH2_RESP_MAX);
		o_reason("reply larger than %s bytes%s", max, "");
		o_finish(EDGEMTA_E_TOOBIG);
		return;
	}
	r = oauth2_http_reply(o.resp, o.resp_len, eof, &status, &body,
	    &blen);
	if (r == EDGEMTA_E_AGAIN) {
		if (eof) {
			o_reason("%s%s", "the connection ended before a "
			    "complete HTTP reply", "");
			o_finish(EDGEMTA_E_PROTO);
		}
		return;
	}
	if (r < 0) {
		o_reason("%s%s", "malformed HTTP reply", "");
		o_finish(EDGEMTA_E_PROTO);
		return;
	}
	if (o.wait) {
		o.result = status;
		/* hand the body to oauth2_post_wait() */
		memmove(o.resp, body, blen);
		o.resp[blen] = '\0';
		o.resp_len = blen;
		o_finish(0);
		return;
	}
	o_finish(o_token_reply(status, body, blen));
}

static void
o_on_io(void *arg, int ev)
{
	(void)arg;
	switch (ev) {
	case IO_EV_CONNECTED: {
		struct tls_client_opts t;

		memset(&t, 0, sizeof(t));
		t.host = o.host;
		t.verify = TLS_VERIFY_CA;
		t.pinned = o.c.pinned;
		memcpy(t.pin, o.c.pin, sizeof(t.pin));
		if (tls_attach_client(&o.io, &t) < 0) {
			o_reason("TLS not started: %s%s",
			    tls_last_attach_error(), "");
			o_finish(EDGEMTA_E_IO);
			return;
		}
		o_pump();
		break;
	}
	case IO_EV_DRAINED:
		o_pump();
		break;
	case IO_EV_READ:
		o_input(false);
		break;
	case IO_EV_CLOSED:
		if (o.resp_len == 0 && tls_error(&o.io)[0] != '\0') {
			o_reason("TLS: %s%s", tls_error(&o.io), "");
			o_finish(EDGEMTA_E_IO);
			return;
		}
		if (o.resp_len == 0 && o.req_off == 0) {
#if CONFIG_DNS
			/* not connected: the name's next address */
			o_close_io();
			while (o.addr_i < o.dres.naddrs) {
				o.addr = o.dres.addrs[o.addr_i++].addr;
				if (o_connect(&o.addr) == 0) {
					return;
				}
			}
#endif
			o_reason("%s%s", "cannot connect", "");
			o_finish(EDGEMTA_E_IO);
			return;
		}
		o_input(true);
		break;
	default:
		break;
	}
}

static int
o_connect(const struct net_addr *a)
{
	int fd = plat_connect_tcp(a), r;

	if (fd < 0) {
		return fd;
	}
	r = io_open(&o.io, fd, true, o_on_io, NULL);
	if (r < 0) {
		plat_close(fd);
		return r;
	}
	o.io_open = true;
	return 0;
}

#if CONFIG_DNS
static void
o_on_dns(void *arg, struct dnsq_req *r)
{
	(void)arg;
	if (r->status != DNSQ_OK || o.dres.naddrs == 0) {
		o_reason("cannot look up the name: %s%s", r->reason, "");
		o_finish(EDGEMTA_E_IO);
		return;
	}
	o.addr = o.dres.addrs[0].addr;
	o.addr_i = 1;
	if (o_connect(&o.addr) < 0) {
		o_reason("%s%s", "cannot connect", "");
		o_finish(EDGEMTA_E_IO);
	}
}
#endif

/* Start POSTing form to the parsed URL (o.host, o.port, o.path). */
static int
o_start(const char *form)
{
	long n = oauth2_http_request(o.req, sizeof(o.req), o.host, o.path,
	    form);
	int r;

	if (n < 0) {
		o_reason("%s%s", "request too large", "");
		return EDGEMTA_E_FULL;
	}
	o.req_len = (size_t)n;
	o.req_off = 0;
	o.resp_len = 0;
	o.resp_big = false;
	o.busy = true;
	ev_timer_start(&o.timer, T_REQUEST, o_on_timer, NULL);
#if CONFIG_DNS
	o.dres.naddrs = 0;	/* no other address to fall back on */
	o.addr_i = 0;
#endif
	if (net_addr_parse_ip(o.host, &o.addr) == 0) {
		o.addr.port = o.port;
		r = o_connect(&o.addr);
	} else {
#if CONFIG_DNS
		r = dnsq_start(&o.dns, DNSQ_HOST, o.host, NULL, o.port,
		    &o.dres, o_on_dns, NULL);
#else
		r = EDGEMTA_E_INVAL;
#endif
	}
	if (r < 0) {
		o_reason("cannot connect or look up the name (%s)%s",
		    edgemta_strerror(r), "");
		ev_timer_stop(&o.timer);
		o.busy = false;
		return r;
	}
	return 0;
}

static void
o_finish(int r)
{
	void (*done)(int) = o.done;

	ev_timer_stop(&o.timer);
#if CONFIG_DNS
	dnsq_cancel(&o.dns);
#endif
	o_close_io();
	memset(o.req, 0, o.req_len);
	o.busy = false;
	if (o.wait) {
		o.result = r < 0 ? r : o.result;
		ev_stop();
		return;
	}
	memset(o.resp, 0, o.resp_len);
	if (r < 0) {
		log_warn("%s", o.reason);
	}
	o.done = NULL;
	if (done != NULL) {
		done(r);
	}
}

/* Take the token endpoint's reply (RFC 6749 5.1 and 5.2). */
static int
o_token_reply(int status, const char *body, size_t len)
{
	char err[64], desc[120];
	uint32_t expires = EXPIRES_DEFAULT, margin;
	long n;
	int r;

	if (status != 200) {
		r = oauth2_json_str(body, len, "error", err, sizeof(err));
		if (status >= 500 || r != 0) {
			char code[16];

			snprintf(code, sizeof(code), "%d", status);
			o_reason("HTTP status %s%s", code, r == 0 ? "" :
			    " without an OAuth2 error");
			return EDGEMTA_E_IO;
		}
		(void)oauth2_json_str(body, len, "error_description", desc,
		    sizeof(desc));
		o_reason("%s: %.100s", err, desc);
		if (strcmp(err, "invalid_grant") == 0) {
			snprintf(desc, sizeof(desc), "%.119s", o.reason);
			snprintf(o.reason, sizeof(o.reason), "%.120s; "
			    "re-authorise: run edgemta oauth2 device-login",
			    desc);
		}
		status_oauth2(err, plat_time());
		return EDGEMTA_E_INVAL;
	}
	/* the access token only lives as its SASL response; o.req (the
	 * request is sent) is the scratch space */
	r = oauth2_json_str(body, len, "access_token", o.req,
	    OAUTH2_TOKEN_MAX);
	if (r != 0 || o.req[0] == '\0') {
		o_reason("%s%s", r == EDGEMTA_E_PROTO ? "the reply is not "
		    "valid JSON" : r == EDGEMTA_E_TOOBIG ? "access_token too "
		    "long" : "no access_token in the reply", "");
		return EDGEMTA_E_PROTO;
	}
	n = oauth2_sasl(o.c.mech, o.c.user, o.req, o.sasl, sizeof(o.sasl));
	memset(o.req, 0, OAUTH2_TOKEN_MAX);
	if (n < 0) {
		o_reason("%s%s", "access_token too long", "");
		return EDGEMTA_E_TOOBIG;
	}
	(void)oauth2_json_num(body, len, "expires_in", &expires);
	r = oauth2_json_str(body, len, "refresh_token", o.req,
	    sizeof(o.refresh));
	if (r == 0 && o.req[0] != '\0' && strcmp(o.req, o.refresh) != 0) {
		char e[160];

		/* rotated: keep the new one, in the file before use */
		memcpy(o.refresh, o.req, strlen(o.req) + 1);
		if (o.c.store != NULL && o.c.store(o.refresh, e,
		    sizeof(e)) < 0) {
			log_err("OAuth2: the rotated refresh token could not "
			    "be saved (%s): it is kept in RAM until a "
			    "restart", e);
		} else {
			log_info("OAuth2: rotated refresh token saved");
		}
	}
	o.sasl_len = (size_t)n;
	margin = MIN(60u, expires / 10);
	o.refresh_at = ev_now() + (uint64_t)(expires - margin) * 1000;
	o.have = true;
	status_oauth2("", 0);
	log_info("OAuth2: new access token for %s, valid for %lu s",
	    o.c.user, (unsigned long)expires);
	return 0;
}

static int
o_refresh(void)
{
	char *form = o.resp;	/* free while no request runs */
	long n;

	n = oauth2_form_add(form, OAUTH2_RESP_MAX, 0, "grant_type",
	    "refresh_token");
	n = n < 0 ? n : oauth2_form_add(form, OAUTH2_RESP_MAX, (size_t)n,
	    "refresh_token", o.refresh);
	n = n < 0 ? n : oauth2_form_add(form, OAUTH2_RESP_MAX, (size_t)n,
	    "client_id", o.c.client_id);
	if (n >= 0 && o.c.client_secret[0] != '\0') {
		n = oauth2_form_add(form, OAUTH2_RESP_MAX, (size_t)n,
		    "client_secret", o.c.client_secret);
	}
	if (n < 0) {
		o_reason("%s%s", "request too large", "");
		return EDGEMTA_E_FULL;
	}
	n = o_start(form);
	memset(form, 0, OAUTH2_RESP_MAX);
	return (int)n;
}

int
oauth2_setup(const struct oauth2_conf *c)
{
	o.c = *c;
	o.on = c->mech != OAUTH2_MECH_NONE;
	if (oauth2_url_parse(c->token_url, o.host, sizeof(o.host), &o.port,
	    o.path, sizeof(o.path)) != 0 && o.on) {
		return EDGEMTA_E_INVAL;
	}
	if (c->refresh_token != NULL) {
		if (strlen(c->refresh_token) >= sizeof(o.refresh)) {
			return EDGEMTA_E_INVAL;
		}
		snprintf(o.refresh, sizeof(o.refresh), "%s",
		    c->refresh_token);
	}
	o.c.refresh_token = NULL;
	return 0;
}

bool
oauth2_enabled(void)
{
	return o.on;
}

int
oauth2_mech(void)
{
	return o.on ? o.c.mech : OAUTH2_MECH_NONE;
}

int
oauth2_ready(void (*done)(int r))
{
	int r;

	if (!o.on || (o.have && ev_now() < o.refresh_at)) {
		return 0;
	}
	o.done = done;
	if (o.busy) {
		return EDGEMTA_E_INPROGRESS;
	}
	o.have = false;
	r = o_refresh();
	if (r < 0) {
		o.done = NULL;
		log_warn("%s", o.reason);
		return r;
	}
	return EDGEMTA_E_INPROGRESS;
}

const char *
oauth2_reason(void)
{
	return o.reason;
}

const char *
oauth2_response(size_t *len)
{
	*len = o.sasl_len;
	return o.sasl;
}

void
oauth2_auth_ok(void)
{
	if (o.rejected_once) {
		status_oauth2("", 0);
	}
	o.rejected_once = false;
}

void
oauth2_auth_rejected(const char *relay, const char *text)
{
	/* a token the relay refuses is never offered again */
	o.have = false;
	if (!o.rejected_once) {
		o.rejected_once = true;
		log_warn("OAuth2: relay %s refused the access token (%s): "
		    "fetching a new one for the next attempt", relay, text);
		return;
	}
	log_err("OAuth2: relay %s refused a fresh access token for %s "
	    "(%s): check that the mailbox may use SMTP AUTH and the "
	    "scope; re-authorise: run edgemta oauth2 device-login", relay,
	    o.c.user, text);
	status_oauth2("rejected", plat_time());
}

void
oauth2_cancel(void)
{
	if (o.busy) {
		o.done = NULL;
		ev_timer_stop(&o.timer);
#if CONFIG_DNS
		dnsq_cancel(&o.dns);
#endif
		o_close_io();
		o.busy = false;
	}
}

int
oauth2_post_wait(const char *url, const char *form, int *status,
    const char **body, size_t *bodylen, char *err, size_t errlen)
{
	int r;

	if (oauth2_url_parse(url, o.host, sizeof(o.host), &o.port, o.path,
	    sizeof(o.path)) != 0) {
		snprintf(err, errlen, "%s: expected https://HOST[:PORT]/PATH",
		    url);
		return EDGEMTA_E_INVAL;
	}
	o.wait = true;
	o.result = 0;
	r = o_start(form);
	if (r == 0) {
		r = ev_run();
		r = r < 0 ? r : o.result < 0 ? o.result : 0;
	}
	o.wait = false;
	if (r < 0) {
		snprintf(err, errlen, "%s", o.reason);
		return r;
	}
	*status = o.result;
	*body = o.resp;
	*bodylen = o.resp_len;
	return 0;
}

#else /* !CONFIG_OAUTH2 */

int
oauth2_setup(const struct oauth2_conf *c)
{
	return c->mech == OAUTH2_MECH_NONE ? 0 : EDGEMTA_E_INVAL;
}

bool
oauth2_enabled(void)
{
	return false;
}

int
oauth2_mech(void)
{
	return OAUTH2_MECH_NONE;
}

int
oauth2_ready(void (*done)(int r))
{
	(void)done;
	return 0;
}

const char *
oauth2_reason(void)
{
	return "";
}

const char *
oauth2_response(size_t *len)
{
	*len = 0;
	return "";
}

void
oauth2_auth_ok(void)
{
}

void
oauth2_auth_rejected(const char *relay, const char *text)
{
	(void)relay;
	(void)text;
}

void
oauth2_cancel(void)
{
}

#endif
