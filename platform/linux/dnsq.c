/*
 * dnsq.c - core/dnsq.h on top of udns (Debian's libudns-dev).
 *
 * Kept out of core/ because udns.h includes socket headers; nothing in
 * here is Linux-only except getifaddrs() for "ourselves" (an RTOS port
 * lists its interface address instead) and resolv.conf.
 *
 * Loop glue: udns' one UDP socket is watched for EV_READ and fed to
 * dns_ioevent(); udns asks for a timer through dns_set_tmcbck() and one
 * ev_timer calls dns_timeouts(). udns may call back from inside
 * dns_ioevent()/dns_timeouts(), so finished requests are only put on a
 * done list there; their owners are called from a zero timer, outside
 * udns, where they may start or cancel lookups freely.
 *
 * Each request runs its steps one query at a time (MX, then the
 * addresses of each MX host), so "queries in flight" = requests past the
 * wait list, capped by CONFIG_DNS_MAX_QUERIES. udns mallocs each query
 * and its parsed answer: the answer is copied and freed in the callback.
 *
 * What RFC 5321 section 5 and Postfix do, and so do we:
 *  - MX hosts sorted by preference, shuffled among equal preferences,
 *    every host and every address kept (up to DNSQ_MAX_HOSTS hosts and
 *    DNSQ_MAX_ADDRS addresses, as Postfix's smtp_mx_address_limit);
 *  - no MX record (NODATA) -> the domain's own A/AAAA (implicit MX);
 *  - NXDOMAIN -> permanent (5.4.4); Null MX "0 ." (RFC 7505) ->
 *    permanent (5.1.10); SERVFAIL, timeout, a malformed or truncated
 *    answer -> temporary (4.4.3). A "." target mixed with real MX hosts
 *    is ignored;
 *  - an MX target that is an IP literal is not a host name (RFC 5321
 *    5.1): the record is skipped with a warning (Postfix does the same);
 *  - CNAMEs: the recursive resolver follows them and udns takes the
 *    records of the canonical name; an MX target that is an alias is
 *    followed too (RFC 2181 forbids it, Postfix tolerates it). When an
 *    A/AAAA answer holds only the CNAME chain, not the target's records
 *    (allowed: RFC 1034 4.3.2 step 3a is the server's choice), the end
 *    of the chain is asked with a new query, at most DNSQ_MAX_ALIASES
 *    times per host and family (so a CNAME loop ends); past that the
 *    lookup is temporary (deferred), never "host not found". An MX
 *    answer that holds only a CNAME for the domain is followed the same
 *    way (the alias' own MX records, not an implicit MX);
 *  - "ourselves": an MX host with an address that reaches this host -
 *    unspecified (0.0.0.0, ::: a connection there goes to the local
 *    host), loopback (all of 127/8, ::1: a wildcard listener answers on
 *    every one of them), an address we listen on or, with a wildcard
 *    listener, any local interface address - cuts the list at its
 *    preference (RFC 5321 5.1: a host that finds itself among the MX
 *    hosts must not deliver to itself or to anything less preferred);
 *    when nothing is left the mail "loops back to myself" (5.4.6,
 *    permanent). A relayhost is not checked: naming a loopback
 *    smarthost by hand is legitimate;
 *  - answers larger than 512 bytes: every query carries EDNS0 with a
 *    4096-byte buffer; udns has no TCP, so an answer truncated even then
 *    (TC bit) fails the query as temporary (deferred, never misread).
 */
#include "edgemta.h"

#if CONFIG_DNS
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <udns.h>

#include "dnsq.h"
#include "ev.h"
#include "log.h"
#include "platform.h"

#define DNSQ_MAX_SELF 16
#define DNSQ_TIMEOUT_S 2	/* first try; doubled per retry */
#define DNSQ_NTRIES 2
#define DNSQ_MAX_ALIASES 8	/* CNAME queries for one host and family */

enum {
	STEP_MX = 0,
	STEP_ADDR1,		/* first family of host host_i */
	STEP_ADDR2,		/* second family */
	STEP_NEXT_HOST,		/* both asked: on to the next host */
	STEP_PTR,
	STEP_FWD		/* forward confirmation of a PTR name */
};

static struct dns_ctx *dq_ctx;
static const struct conf *dq_conf;
static int dq_fd = -1;
static struct ev_timer dq_timer;	/* udns timeouts */
static struct ev_timer dq_done_timer;	/* runs finished requests */
static unsigned dq_inflight;
static struct dnsq_req *dq_wait_head, *dq_wait_tail;
static struct dnsq_req *dq_done_head, *dq_done_tail;
static struct net_addr dq_self[DNSQ_MAX_SELF];
static unsigned dq_nself;

static void dq_step(struct dnsq_req *r);

/* ---- small helpers ---- */

static void
dq_copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src);
}

static void
dq_fail(struct dnsq_req *r, int status, const char *dsn, const char *fmt,
    const char *a, const char *b)
{
	r->status = status;
	dq_copy(r->dsn, sizeof(r->dsn), dsn);
	snprintf(r->reason, sizeof(r->reason), fmt, a, b);
}

static const char *
dq_strerr(int st)
{
	switch (st) {
	case DNS_E_NXDOMAIN:
		return "Host not found";
	case DNS_E_NODATA:
		return "No data record of requested type";
	case DNS_E_PROTOCOL:
		return "Malformed or truncated answer";
	case DNS_E_NOMEM:
		return "Out of memory";
	case DNS_E_BADQUERY:
		return "Bad query";
	default:
		return "Host not found, try again";
	}
}

/* 127/8, ::1, ::ffff:127/104: the peer is this host, as its name says */
static bool
dq_is_loopback(const struct net_addr *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 };
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (a->family == NET_INET4) {
		return a->ip[0] == 127;
	}
	return memcmp(a->ip, v6lo, 16) == 0 || (memcmp(a->ip, mapped, 12) ==
	    0 && a->ip[12] == 127);
}

/* 0.0.0.0, ::, ::ffff:0.0.0.0: a connection there reaches this host */
static bool
dq_is_unspecified(const struct net_addr *a)
{
	static const uint8_t zero[16];
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (a->family == NET_INET4) {
		return memcmp(a->ip, zero, 4) == 0;
	}
	return memcmp(a->ip, zero, 16) == 0 || (memcmp(a->ip, mapped, 12) ==
	    0 && memcmp(a->ip + 12, zero, 4) == 0);
}

static bool
dq_is_self(const struct net_addr *a)
{
	unsigned i;

	for (i = 0; i < dq_nself; i++) {
		if (dq_self[i].family == a->family && memcmp(dq_self[i].ip,
		    a->ip, a->family == NET_INET4 ? 4 : 16) == 0) {
			return true;
		}
	}
	return false;
}

bool
dnsq_is_self(const struct net_addr *a)
{
	return dq_is_unspecified(a) || dq_is_loopback(a) || dq_is_self(a);
}

static void
dq_self_add(const struct net_addr *a)
{
	if (dq_nself < DNSQ_MAX_SELF && !dq_is_self(a)) {
		dq_self[dq_nself++] = *a;
	}
}

/* Our own addresses: listeners, and every interface if one is a wildcard */
static void
dq_self_init(const struct conf *c)
{
	static const uint8_t zero[16];
	struct ifaddrs *ifa, *i;
	bool wild = false;
	unsigned k;

	dq_nself = 0;
	for (k = 0; k < c->nlisten; k++) {
		const struct net_addr *a = &c->listen[k].addr;

		if (a->family != NET_INET4 && a->family != NET_INET6) {
			continue;
		}
		if (memcmp(a->ip, zero, a->family == NET_INET4 ? 4 : 16) ==
		    0) {
			wild = true;
		} else {
			dq_self_add(a);
		}
	}
	if (!wild || getifaddrs(&ifa) != 0) {
		return;
	}
	for (i = ifa; i != NULL; i = i->ifa_next) {
		struct net_addr a;

		memset(&a, 0, sizeof(a));
		if (i->ifa_addr == NULL) {
			continue;
		}
		if (i->ifa_addr->sa_family == AF_INET) {
			a.family = NET_INET4;
			memcpy(a.ip, &((struct sockaddr_in *)(void *)
			    i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			a.family = NET_INET6;
			memcpy(a.ip, &((struct sockaddr_in6 *)(void *)
			    i->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		dq_self_add(&a);
	}
	freeifaddrs(ifa);
}

/* ---- loop glue ---- */

static void
dq_on_timer(void *arg)
{
	(void)arg;
	if (dq_ctx != NULL) {
		(void)dns_timeouts(dq_ctx, -1, 0);
	}
}

/* udns wants a timer: timeout < 0 none, else in seconds (0 = now). */
static void
dq_utm(struct dns_ctx *ctx, int timeout, void *data)
{
	(void)ctx;
	(void)data;
	if (timeout < 0) {
		ev_timer_stop(&dq_timer);
	} else {
		ev_timer_start(&dq_timer, (uint32_t)timeout * 1000u,
		    dq_on_timer, NULL);
	}
}

static void
dq_on_read(void *arg, unsigned events)
{
	(void)arg;
	(void)events;
	if (dq_ctx != NULL) {
		dns_ioevent(dq_ctx, 0);
	}
}

/* Run finished requests' owners, outside udns. */
static void
dq_on_done(void *arg)
{
	unsigned n;

	(void)arg;
	for (n = 0; n < 1024 && dq_done_head != NULL; n++) {
		struct dnsq_req *r = dq_done_head;

		dq_done_head = r->next;
		if (dq_done_head == NULL) {
			dq_done_tail = NULL;
		}
		r->next = NULL;
		r->busy = false;
		r->fn(r->arg, r);
	}
	if (dq_done_head != NULL) {
		ev_timer_start(&dq_done_timer, 0, dq_on_done, NULL);
	}
}

/* Start waiting requests while there is room. */
static void
dq_pump(void)
{
	while (dq_wait_head != NULL && dq_inflight <
	    (unsigned)CONFIG_DNS_MAX_QUERIES) {
		struct dnsq_req *r = dq_wait_head;

		dq_wait_head = r->next;
		if (dq_wait_head == NULL) {
			dq_wait_tail = NULL;
		}
		r->next = NULL;
		r->waiting = false;
		dq_inflight++;
		dq_step(r);
	}
}

/* r is finished (status and reason set): hand it to its owner. */
static void
dq_finish(struct dnsq_req *r)
{
	r->q = NULL;
	dq_inflight--;
	r->next = NULL;
	if (dq_done_tail != NULL) {
		dq_done_tail->next = r;
	} else {
		dq_done_head = r;
	}
	dq_done_tail = r;
	ev_timer_start(&dq_done_timer, 0, dq_on_done, NULL);
	dq_pump();
}

/* ---- address steps ---- */

/* Family to ask at step STEP_ADDR1 / STEP_ADDR2 for the current host. */
static bool
dq_v6_first(void)
{
	uint8_t b;

	if (strcmp(dq_conf->smtp_address_preference, "ipv6") == 0) {
		return true;
	}
	if (strcmp(dq_conf->smtp_address_preference, "ipv4") == 0) {
		return false;
	}
	plat_random(&b, 1);
	return (b & 1) != 0;
}

static void
dq_add_addr(struct dnsq_req *r, int family, const void *ip)
{
	struct dnsq_result *res = r->res;
	struct dnsq_addr *d;
	struct net_addr a;
	unsigned i;

	memset(&a, 0, sizeof(a));
	a.family = (uint8_t)family;
	memcpy(a.ip, ip, family == NET_INET4 ? 4 : 16);
	a.port = r->port;
	if (r->kind == DNSQ_MX && dnsq_is_self(&a)) {
		/* Postfix: drop this preference and every worse one */
		uint16_t p = res->pref[r->host_i];

		r->self_cut = true;
		r->self_pref = p;
		for (i = 0; i < res->naddrs; i++) {
			if (res->pref[res->addrs[i].host] >= p) {
				res->naddrs = i;
				break;
			}
		}
		res->nhosts = r->host_i;
		return;
	}
	if (res->naddrs >= DNSQ_MAX_ADDRS) {
		return;
	}
	for (i = 0; i < res->naddrs; i++) {
		if (memcmp(&res->addrs[i].addr, &a, sizeof(a)) == 0) {
			return;
		}
	}
	d = &res->addrs[res->naddrs++];
	d->addr = a;
	d->host = r->host_i;
}

static void dq_on_a4(struct dns_ctx *ctx, void *rr, void *data);
static void dq_on_a6(struct dns_ctx *ctx, void *rr, void *data);

/*
 * udns' A/AAAA parser, plus one case: an answer holding only a CNAME
 * (chain) for the name, without the target's addresses - resolvers may
 * answer so - gives an empty set whose cname is the end of the chain
 * (udns itself calls it NODATA, which would read as "no such host").
 */
static int
dq_parse_dangling(dnscc_t *qdn, dnscc_t *pkt, dnscc_t *cur, dnscc_t *end,
    void **result);

static int
dq_parse_addr(dnscc_t *qdn, dnscc_t *pkt, dnscc_t *cur, dnscc_t *end,
    void **result)
{
	int r;

	r = dns_get16(cur) == DNS_T_AAAA ? dns_parse_a6(qdn, pkt, cur, end,
	    result) : dns_parse_a4(qdn, pkt, cur, end, result);
	return r != DNS_E_NODATA ? r : dq_parse_dangling(qdn, pkt, cur, end,
	    result);
}

/* The same for MX: a chain of CNAMEs without the MX records. */
static int
dq_parse_mx(dnscc_t *qdn, dnscc_t *pkt, dnscc_t *cur, dnscc_t *end,
    void **result)
{
	int r = dns_parse_mx(qdn, pkt, cur, end, result);

	return r != DNS_E_NODATA ? r : dq_parse_dangling(qdn, pkt, cur, end,
	    result);
}

/*
 * An answer without records of the type asked: NODATA, or - when it
 * holds a CNAME chain for the name - an empty set (nrr 0) whose cname
 * is the end of the chain. The struct fits every dns_rr_* we read.
 */
static int
dq_parse_dangling(dnscc_t *qdn, dnscc_t *pkt, dnscc_t *cur, dnscc_t *end,
    void **result)
{
	struct dns_rr_null *ret;
	struct dns_parse p;
	struct dns_rr rr;
	int r;

	dns_initparse(&p, qdn, pkt, cur, end);
	while ((r = dns_nextrr(&p, &rr)) > 0) {
	}
	if (r < 0) {
		return DNS_E_PROTOCOL;
	}
	if (p.dnsp_qdn == qdn) {
		return DNS_E_NODATA;	/* no alias: really no address */
	}
	/* big enough for struct dns_rr_a4, dns_rr_a6, dns_rr_mx */
	ret = calloc(1, sizeof(struct dns_rr_a6) + sizeof(struct dns_rr_mx) +
	    DNS_MAXNAME);
	if (ret == NULL) {
		return DNS_E_NOMEM;
	}
	ret->dnsn_cname = (char *)ret + sizeof(struct dns_rr_a6) +
	    sizeof(struct dns_rr_mx);
	ret->dnsn_qname = ret->dnsn_cname;
	ret->dnsn_ttl = p.dnsp_ttl;
	ret->dnsn_nrr = 0;
	(void)dns_dntop(p.dnsp_qdn, ret->dnsn_cname, DNS_MAXNAME);
	*result = ret;
	return 0;
}

/* Submit r's A or AAAA query for name (the host, or an alias of it). */
static void
dq_submit_addr(struct dnsq_req *r, bool v6, const char *name)
{
	r->q = dns_submit_p(dq_ctx, name, DNS_C_IN, v6 ? DNS_T_AAAA :
	    DNS_T_A, DNS_NOSRCH, dq_parse_addr, v6 ? dq_on_a6 : dq_on_a4, r);
}

/* An A or AAAA answer: n addresses of len bytes each (rr NULL: none). */
static void
dq_on_addrs(struct dns_ctx *ctx, void *rr, int family, const void *addrs,
    int n, size_t len, void *data)
{
	struct dnsq_req *r = data;
	int i, st = dns_status(ctx);

	r->q = NULL;
	if (rr != NULL && n == 0) {
		/* only a CNAME: ask for its target (bounded, loop-safe) */
		const char *cname = ((struct dns_rr_null *)rr)->dnsn_cname;

		if (r->aliases < DNSQ_MAX_ALIASES) {
			r->aliases++;
			dq_submit_addr(r, family == NET_INET6, cname);
			free(rr);
			if (r->q != NULL) {
				return;	/* this step goes on with the alias */
			}
		} else {
			log_warn("DNS: more than %d CNAMEs from %s: lookup "
			    "deferred", DNSQ_MAX_ALIASES,
			    r->res->hosts[r->host_i]);
			free(rr);
		}
		r->temp_seen = true;	/* incomplete: never permanent */
		rr = NULL;
		st = DNS_E_TEMPFAIL;
	}
	if (rr != NULL) {
		for (i = 0; i < n && !r->self_cut; i++) {
			dq_add_addr(r, family,
			    (const unsigned char *)addrs + (size_t)i * len);
		}
		free(rr);
	} else if (st != DNS_E_NXDOMAIN && st != DNS_E_NODATA) {
		r->temp_seen = true;
	}
	r->step++;
	dq_step(r);
}

static void
dq_on_a4(struct dns_ctx *ctx, void *res, void *data)
{
	struct dns_rr_a4 *rr = res;

	dq_on_addrs(ctx, rr, NET_INET4, rr ? rr->dnsa4_addr : NULL,
	    rr ? rr->dnsa4_nrr : 0, sizeof(rr->dnsa4_addr[0]), data);
}

static void
dq_on_a6(struct dns_ctx *ctx, void *res, void *data)
{
	struct dns_rr_a6 *rr = res;

	dq_on_addrs(ctx, rr, NET_INET6, rr ? rr->dnsa6_addr : NULL,
	    rr ? rr->dnsa6_nrr : 0, sizeof(rr->dnsa6_addr[0]), data);
}

/* All hosts looked up: set the outcome of a HOST or MX request. */
static void
dq_addr_done(struct dnsq_req *r)
{
	if (r->res->naddrs > 0) {
		r->status = DNSQ_OK;
		r->dsn[0] = '\0';
		r->reason[0] = '\0';
	} else if (r->self_cut) {
		dq_fail(r, DNSQ_PERM, "5.4.6", "mail for %s loops back to "
		    "myself%s", r->name, "");
	} else if (r->temp_seen) {
		dq_fail(r, DNSQ_TEMP, "4.4.3", "Host or domain name not "
		    "found. Name service error for name=%s type=A/AAAA: %s",
		    r->name, "Host not found, try again");
	} else {
		dq_fail(r, DNSQ_PERM, "5.4.4", "Host or domain name not "
		    "found. Name service error for name=%s type=A/AAAA: %s",
		    r->kind == DNSQ_MX && r->res->nhosts > 0 ?
		    r->res->hosts[0] : r->name, "Host not found");
	}
	dq_finish(r);
}

/* ---- MX ---- */

static bool
dq_is_literal(const char *name)
{
	struct net_addr a;

	return net_addr_parse_ip(name, &a) == 0;
}

static void
dq_on_mx(struct dns_ctx *ctx, void *result, void *data)
{
	struct dnsq_req *r = data;
	struct dnsq_result *res = r->res;
	struct dns_rr_mx *rr = result;
	int st = dns_status(ctx);
	unsigned i, j, n = 0, nnull = 0;

	r->q = NULL;
	if (rr != NULL && rr->dnsmx_nrr == 0) {
		/* only a CNAME for the domain: its target's MX, asked anew */
		if (r->aliases++ < DNSQ_MAX_ALIASES) {
			r->q = dns_submit_p(dq_ctx, rr->dnsmx_cname, DNS_C_IN,
			    DNS_T_MX, DNS_NOSRCH, dq_parse_mx, dq_on_mx, r);
		}
		free(rr);
		if (r->q != NULL) {
			return;
		}
		dq_fail(r, DNSQ_TEMP, "4.4.3", "Host or domain name not "
		    "found. Name service error for name=%s type=MX: %s",
		    r->name, "CNAME chain too long or unresolvable");
		dq_finish(r);
		return;
	}
	if (rr == NULL) {
		if (st == DNS_E_NODATA) {
			/* RFC 5321 5.1: the domain is its own implicit MX */
			dq_copy(res->hosts[0], DNSQ_NAME_MAX, r->name);
			res->pref[0] = 0;
			res->nhosts = 1;
			r->step = STEP_ADDR1;
			dq_step(r);
			return;
		}
		dq_fail(r, st == DNS_E_NXDOMAIN ? DNSQ_PERM : DNSQ_TEMP,
		    st == DNS_E_NXDOMAIN ? "5.4.4" : "4.4.3",
		    "Host or domain name not found. Name service error for "
		    "name=%s type=MX: %s", r->name, dq_strerr(st));
		dq_finish(r);
		return;
	}
	for (i = 0; i < (unsigned)rr->dnsmx_nrr; i++) {
		const struct dns_mx *m = &rr->dnsmx_mx[i];

		if (m->name[0] == '\0' || strcmp(m->name, ".") == 0) {
			nnull++;
			continue;
		}
		if (dq_is_literal(m->name)) {
			log_warn("MX record of %s names an IP address (%s): "
			    "skipped (RFC 5321 5.1)", r->name, m->name);
			continue;
		}
		if (strlen(m->name) >= DNSQ_NAME_MAX) {
			continue;
		}
		/* insertion by preference; equal ones in random order */
		for (j = n; j > 0 && res->pref[j - 1] > m->priority; j--) {
		}
		if (j >= DNSQ_MAX_HOSTS) {
			continue;
		}
		if (n == DNSQ_MAX_HOSTS) {
			n--;
		}
		memmove(&res->hosts[j + 1], &res->hosts[j],
		    (n - j) * sizeof(res->hosts[0]));
		memmove(&res->pref[j + 1], &res->pref[j],
		    (n - j) * sizeof(res->pref[0]));
		dq_copy(res->hosts[j], DNSQ_NAME_MAX, m->name);
		res->pref[j] = (uint16_t)m->priority;
		n++;
	}
	free(rr);
	/* shuffle each run of equal preference (Fisher-Yates) */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && res->pref[j] == res->pref[i]; j++) {
		}
		while (j - i > 1) {
			unsigned k, last = j - 1;
			uint32_t rnd;
			char tmp[DNSQ_NAME_MAX];

			for (k = last; k > i; k--) {
				unsigned o;

				plat_random(&rnd, sizeof(rnd));
				o = i + rnd % (k - i + 1);
				memcpy(tmp, res->hosts[k], DNSQ_NAME_MAX);
				memcpy(res->hosts[k], res->hosts[o],
				    DNSQ_NAME_MAX);
				memcpy(res->hosts[o], tmp, DNSQ_NAME_MAX);
			}
			break;
		}
	}
	res->nhosts = n;
	if (n == 0 && nnull > 0) {
		dq_fail(r, DNSQ_PERM, "5.1.10", "Domain %s does not accept "
		    "mail (Null MX, RFC 7505)%s", r->name, "");
		dq_finish(r);
		return;
	}
	if (n == 0) {
		dq_fail(r, DNSQ_TEMP, "4.4.3", "MX records of %s name no "
		    "usable host%s", r->name, "");
		dq_finish(r);
		return;
	}
	r->host_i = 0;
	r->step = STEP_ADDR1;
	dq_step(r);
}

/* ---- PTR with forward confirmation ---- */

/*
 * A forward answer for the PTR name: confirmed when one of its n
 * addresses (alen bytes each, at addrs) is the client's. rr is freed.
 */
static void
dq_fwd_done(struct dnsq_req *r, void *rr, const void *addrs, int n,
    size_t alen)
{
	const uint8_t *a = addrs;
	int i;

	r->q = NULL;
	r->status = DNSQ_PERM;
	for (i = 0; rr != NULL && i < n; i++) {
		if (memcmp(a + (size_t)i * alen, r->ptr_addr.ip, alen) == 0) {
			r->status = DNSQ_OK;
		}
	}
	free(rr);
	if (r->status != DNSQ_OK) {
		r->name[0] = '\0';
	}
	dq_finish(r);
}

static void
dq_on_fwd4(struct dns_ctx *ctx, struct dns_rr_a4 *rr, void *data)
{
	(void)ctx;
	dq_fwd_done(data, rr, rr != NULL ? (void *)rr->dnsa4_addr : NULL,
	    rr != NULL ? rr->dnsa4_nrr : 0, 4);
}

static void
dq_on_fwd6(struct dns_ctx *ctx, struct dns_rr_a6 *rr, void *data)
{
	(void)ctx;
	dq_fwd_done(data, rr, rr != NULL ? (void *)rr->dnsa6_addr : NULL,
	    rr != NULL ? rr->dnsa6_nrr : 0, 16);
}

/* Letters, digits, '-', '_' and '.' only: it goes into a header. */
static bool
dq_hostname_ok(const char *n)
{
	for (; *n != '\0'; n++) {
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		    (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' ||
		    *n == '.')) {
			return false;
		}
	}
	return true;
}

static void
dq_on_ptr(struct dns_ctx *ctx, struct dns_rr_ptr *rr, void *data)
{
	struct dnsq_req *r = data;
	int st = dns_status(ctx);
	bool answered = rr != NULL;

	r->q = NULL;
	r->name[0] = '\0';
	if (rr != NULL && rr->dnsptr_nrr > 0 &&
	    strlen(rr->dnsptr_ptr[0]) < DNSQ_NAME_MAX &&
	    dq_hostname_ok(rr->dnsptr_ptr[0])) {
		dq_copy(r->name, sizeof(r->name), rr->dnsptr_ptr[0]);
	}
	free(rr);
	if (r->name[0] == '\0') {
		r->status = st == DNS_E_NXDOMAIN || st == DNS_E_NODATA ||
		    answered ? DNSQ_PERM : DNSQ_TEMP;
		dq_finish(r);
		return;
	}
	r->step = STEP_FWD;
	dq_step(r);
}

/* ---- the step machine ---- */

/* Submit the query of r's current step, or finish r. */
static void
dq_step(struct dnsq_req *r)
{
	struct dnsq_result *res = r->res;
	const char *host;
	bool v6;

	for (;;) {
		switch (r->step) {
		case STEP_MX:
			r->aliases = 0;
			r->q = dns_submit_p(dq_ctx, r->name, DNS_C_IN,
			    DNS_T_MX, DNS_NOSRCH, dq_parse_mx, dq_on_mx, r);
			break;
		case STEP_ADDR1:
		case STEP_ADDR2:
			if (r->host_i >= res->nhosts || r->self_cut) {
				dq_addr_done(r);
				return;
			}
			host = res->hosts[r->host_i];
			if (r->step == STEP_ADDR1) {
				r->v6_first = dq_v6_first();
			}
			v6 = r->v6_first == (r->step == STEP_ADDR1);
			r->aliases = 0;
			dq_submit_addr(r, v6, host);
			break;
		case STEP_NEXT_HOST:
			/* both families of this host asked: next host */
			r->host_i++;
			r->step = STEP_ADDR1;
			continue;
		case STEP_PTR:
			if (r->ptr_addr.family == NET_INET4) {
				struct in_addr a;

				memcpy(&a, r->ptr_addr.ip, 4);
				r->q = dns_submit_a4ptr(dq_ctx, &a, dq_on_ptr,
				    r);
			} else {
				struct in6_addr a;

				memcpy(&a, r->ptr_addr.ip, 16);
				r->q = dns_submit_a6ptr(dq_ctx, &a, dq_on_ptr,
				    r);
			}
			break;
		default:	/* STEP_FWD */
			if (r->ptr_addr.family == NET_INET4) {
				r->q = dns_submit_a4(dq_ctx, r->name,
				    DNS_NOSRCH, dq_on_fwd4, r);
			} else {
				r->q = dns_submit_a6(dq_ctx, r->name,
				    DNS_NOSRCH, dq_on_fwd6, r);
			}
			break;
		}
		break;
	}
	if (r->q == NULL) {
		/* udns refused the query (bad name, no memory) */
		if (r->kind == DNSQ_PTR) {
			r->name[0] = '\0';
			r->status = DNSQ_PERM;
			dq_finish(r);
		} else if (r->step == STEP_MX) {
			dq_fail(r, DNSQ_TEMP, "4.4.3", "cannot look up %s: "
			    "%s", r->name, dq_strerr(dns_status(dq_ctx)));
			dq_finish(r);
		} else {
			r->temp_seen = true;
			r->step++;
			dq_step(r);
		}
	}
}

/* ---- the contract ---- */

/* "ADDR", "ADDR:PORT", "[V6]:PORT" separated by spaces or commas. */
static int
dq_servers(const char *s)
{
	unsigned n = 0;

	dns_add_serv(dq_ctx, NULL);
	/* a port from RES_OPTIONS does not apply to servers we are given */
	(void)dns_set_opt(dq_ctx, DNS_OPT_PORT, 53);
	while (*s != '\0') {
		char tok[64], *host = tok, *p;
		size_t len = 0;

		while (*s == ' ' || *s == ',' || *s == '\t') {
			s++;
		}
		while (s[len] != '\0' && s[len] != ' ' && s[len] != ',' &&
		    s[len] != '\t') {
			len++;
		}
		if (len == 0) {
			break;
		}
		if (len >= sizeof(tok)) {
			return EDGEMTA_E_INVAL;
		}
		memcpy(tok, s, len);
		tok[len] = '\0';
		s += len;
		if (tok[0] == '[' && (p = strchr(tok, ']')) != NULL) {
			*p = '\0';
			host = tok + 1;
			p = p[1] == ':' ? p + 2 : NULL;
		} else if ((p = strchr(tok, ':')) != NULL &&
		    strchr(p + 1, ':') == NULL) {
			*p++ = '\0';
		} else {
			p = NULL;
		}
		if (p != NULL && dns_set_opt(dq_ctx, DNS_OPT_PORT, atoi(p)) <
		    0) {
			return EDGEMTA_E_INVAL;
		}
		if (dns_add_serv(dq_ctx, host) < 0) {
			return EDGEMTA_E_INVAL;
		}
		n++;
	}
	return n > 0 ? 0 : EDGEMTA_E_INVAL;
}

int
dnsq_init(const struct conf *c)
{
	int fd;

	dq_conf = c;
	dq_ctx = &dns_defctx;
	dq_inflight = 0;
	dq_wait_head = dq_wait_tail = NULL;
	dq_done_head = dq_done_tail = NULL;
	dq_self_init(c);
	if (c->dns_servers[0] != '\0') {
		dns_reset(dq_ctx);	/* as on an RTOS: no resolv.conf */
	} else if (dns_init(dq_ctx, 0) < 0) {
		log_warn("DNS: cannot read the resolver configuration");
	}
	if (c->dns_servers[0] != '\0' && dq_servers(c->dns_servers) != 0) {
		log_err("DNS: bad dns_servers: %s", c->dns_servers);
		dns_reset(dq_ctx);
		dq_ctx = NULL;
		return EDGEMTA_E_INVAL;
	}
	(void)dns_set_opt(dq_ctx, DNS_OPT_UDPSIZE, DNS_EDNS0PACKET);
	(void)dns_set_opt(dq_ctx, DNS_OPT_TIMEOUT, DNSQ_TIMEOUT_S);
	(void)dns_set_opt(dq_ctx, DNS_OPT_NTRIES, DNSQ_NTRIES);
	fd = dns_open(dq_ctx);
	if (fd < 0) {
		log_warn("DNS: cannot open the resolver socket: lookups will "
		    "fail (temporary)");
		dq_ctx = NULL;
		return EDGEMTA_E_IO;
	}
	if (ev_watch(fd, EV_READ, dq_on_read, NULL) != 0) {
		dns_close(&dns_defctx);
		dq_ctx = NULL;
		return EDGEMTA_E_IO;
	}
	dq_fd = fd;
	dns_set_tmcbck(dq_ctx, dq_utm, NULL);
	return 0;
}

void
dnsq_shutdown(void)
{
	ev_timer_stop(&dq_timer);
	ev_timer_stop(&dq_done_timer);
	if (dq_fd >= 0) {
		ev_unwatch(dq_fd);
		dq_fd = -1;
	}
	if (dq_ctx != NULL) {
		dns_reset(dq_ctx);	/* drops every query, no callbacks */
		dq_ctx = NULL;
	}
	dq_inflight = 0;
	dq_wait_head = dq_wait_tail = NULL;
	dq_done_head = dq_done_tail = NULL;
}

int
dnsq_start(struct dnsq_req *r, int kind, const char *name,
    const struct net_addr *ip, uint16_t port, struct dnsq_result *res,
    dnsq_fn fn, void *arg)
{
	if (dq_ctx == NULL) {
		return EDGEMTA_E_IO;
	}
	memset(r, 0, sizeof(*r));
	r->kind = (uint8_t)kind;
	r->fn = fn;
	r->arg = arg;
	r->port = port;
	r->res = res;
	if (kind == DNSQ_PTR) {
		if (ip == NULL || (ip->family != NET_INET4 &&
		    ip->family != NET_INET6)) {
			return EDGEMTA_E_INVAL;
		}
		r->ptr_addr = *ip;
		r->step = STEP_PTR;
		if (dq_is_loopback(ip)) {
			return EDGEMTA_E_INVAL;	/* this host */
		}
	} else {
		if (name == NULL || name[0] == '\0' || strlen(name) >=
		    DNSQ_NAME_MAX || res == NULL) {
			return EDGEMTA_E_INVAL;
		}
		dq_copy(r->name, sizeof(r->name), name);
		memset(res, 0, sizeof(*res));
		if (kind == DNSQ_MX) {
			r->step = STEP_MX;
		} else {
			dq_copy(res->hosts[0], DNSQ_NAME_MAX, name);
			res->nhosts = 1;
			r->step = STEP_ADDR1;
		}
	}
	r->busy = true;
	r->waiting = true;
	if (dq_wait_tail != NULL) {
		dq_wait_tail->next = r;
	} else {
		dq_wait_head = r;
	}
	dq_wait_tail = r;
	dq_pump();
	return 0;
}

void
dnsq_cancel(struct dnsq_req *r)
{
	struct dnsq_req **pp, *prev = NULL;

	if (!r->busy) {
		return;
	}
	if (r->waiting) {
		for (pp = &dq_wait_head; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == r) {
				*pp = r->next;
				if (dq_wait_tail == r) {
					dq_wait_tail = prev;
				}
				break;
			}
			prev = *pp;
		}
	} else if (r->q != NULL) {
		/* udns frees the query; its callback never runs */
		(void)dns_cancel(dq_ctx, (struct dns_query *)r->q);
		free(r->q);	/* udns 0.4 dns_cancel() does not free it */
		dq_inflight--;
		dq_pump();
	} else {
		/* finished, on the done list */
		for (pp = &dq_done_head; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == r) {
				*pp = r->next;
				if (dq_done_tail == r) {
					dq_done_tail = prev;
				}
				break;
			}
			prev = *pp;
		}
	}
	r->q = NULL;
	r->next = NULL;
	r->busy = false;
	r->waiting = false;
}

bool
dnsq_busy(const struct dnsq_req *r)
{
	return r->busy;
}

#endif /* CONFIG_DNS */
