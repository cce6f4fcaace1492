/*
 * dnsq.h - asynchronous DNS lookups driven by the event loop.
 *
 * The interface is portable; the implementation (platform/linux/dnsq.c)
 * wraps udns, whose header pulls in socket headers that core/ may not
 * include. An RTOS port compiles the same file against its BSD-socket
 * layer (lwIP) with dns_servers from the config (no resolv.conf).
 * Everything here exists only when CONFIG_DNS is 1.
 *
 * One UDP socket is watched by the loop; udns' timeouts are one ev_timer.
 * A lookup is described by a caller-owned struct dnsq_req (embedded in a
 * session, never allocated); at most CONFIG_DNS_MAX_QUERIES lookups talk
 * to the resolver at once, the others wait in a FIFO inside their own
 * request. Results are copied into the request (and the caller's
 * struct dnsq_result) inside the udns callback, and udns' buffer is freed
 * there: nothing udns owns outlives the callback. The caller's done
 * function runs exactly once, from the loop (never from inside the start
 * call), unless dnsq_cancel() ran first.
 */
#ifndef DNSQ_H
#define DNSQ_H

#include "edgemta.h"
#include "addr.h"
#include "conf.h"

#define DNSQ_NAME_MAX 256	/* a domain name (253) + NUL */
#define DNSQ_MAX_HOSTS 5	/* MX hosts kept (Postfix: 5 addresses) */
#define DNSQ_MAX_ADDRS 10	/* addresses kept over all hosts */
#define DNSQ_REASON_MAX 200

enum dnsq_status {
	DNSQ_OK = 0,		/* at least one address (or PTR name) */
	DNSQ_TEMP = 1,		/* SERVFAIL, timeout, malformed: defer */
	DNSQ_PERM = 2		/* NXDOMAIN, Null MX, no address: bounce */
};

enum dnsq_kind {
	DNSQ_HOST = 0,		/* name -> A/AAAA */
	DNSQ_MX,		/* domain -> MX hosts -> A/AAAA (RFC 5321 5) */
	DNSQ_PTR		/* address -> PTR, forward-confirmed */
};

/* One address to try, in order; host indexes dnsq_result.hosts. */
struct dnsq_addr {
	struct net_addr addr;	/* port = the port given to dnsq_start */
	uint8_t host;
};

/* Where HOST and MX lookups put their answer (owned by the caller). */
struct dnsq_result {
	unsigned nhosts;
	char hosts[DNSQ_MAX_HOSTS][DNSQ_NAME_MAX];	/* MX or host names */
	uint16_t pref[DNSQ_MAX_HOSTS];		/* MX preference */
	unsigned naddrs;
	struct dnsq_addr addrs[DNSQ_MAX_ADDRS];	/* in the order to try */
};

struct dnsq_req;
typedef void (*dnsq_fn)(void *arg, struct dnsq_req *r);

struct dnsq_req {
	/* outcome, valid in and after the done callback */
	int status;			/* enum dnsq_status */
	char dsn[8];			/* "4.4.3", "5.1.10", ... */
	char reason[DNSQ_REASON_MAX];	/* one line for logs and DSNs */
	/* DNSQ_PTR: the forward-confirmed name, or "" */
	/* private to dnsq.c */
	char name[DNSQ_NAME_MAX];	/* query name; PTR result */
	struct dnsq_result *res;
	struct dnsq_req *next;		/* wait list */
	void *q;			/* udns query in flight */
	dnsq_fn fn;
	void *arg;
	struct net_addr ptr_addr;
	uint16_t port;
	uint8_t kind, step, host_i;
	uint8_t aliases;		/* CNAMEs followed for this step */
	bool busy;			/* started, done not yet called */
	bool waiting;			/* in the wait list */
	bool temp_seen;
	bool self_cut;			/* an MX host was ourselves */
	bool v6_first;			/* AAAA before A for this host */
	uint16_t self_pref;
};

/*
 * Set up the resolver: c->dns_servers when not empty ("ADDR" or
 * "ADDR:PORT" list; dns_reset + dns_add_serv, as on an RTOS), else
 * /etc/resolv.conf (plus udns' NAMESERVERS / RES_OPTIONS variables).
 * c->listen addresses are "ourselves" for the MX loop check (see
 * dnsq_is_self()); c must
 * outlive the module. A host without a resolver is normal: lookups then
 * fail as DNSQ_TEMP. 0 or a negative edgemta_err (logged).
 */
int dnsq_init(const struct conf *c);

/* Close the socket; every request still busy is cancelled silently. */
void dnsq_shutdown(void);

/*
 * Start a lookup. r is caller-owned and must stay put (not be reused or
 * freed) until fn(arg, r) ran or dnsq_cancel(r). For DNSQ_HOST and
 * DNSQ_MX, name is the host or domain, port goes into every address and
 * res receives hosts and addresses; for DNSQ_PTR, ip is the peer and the
 * confirmed name lands in r->name (a loopback peer is not looked up:
 * EDGEMTA_E_INVAL). Returns 0 (fn follows) or EDGEMTA_E_INVAL (bad name)
 * / EDGEMTA_E_IO (no resolver): then fn is not called.
 */
int dnsq_start(struct dnsq_req *r, int kind, const char *name,
    const struct net_addr *ip, uint16_t port, struct dnsq_result *res,
    dnsq_fn fn, void *arg);

/*
 * Does a connection to a reach this host (unspecified, loopback, an
 * address we listen on, any interface address with a wildcard
 * listener)? MX hosts with such an address are skipped (RFC 5321 5.1).
 */
bool dnsq_is_self(const struct net_addr *a);

/* Stop r if busy (its fn is then never called). Safe on an idle r. */
void dnsq_cancel(struct dnsq_req *r);

/* true from dnsq_start() until fn ran or dnsq_cancel(). */
bool dnsq_busy(const struct dnsq_req *r);

#endif
