/*
 * fake_dnsq.c - core/dnsq.h for unit tests: a device without a resolver.
 *
 * Every lookup fails to start with EDGEMTA_E_IO, which callers treat as
 * a temporary failure (deferral) - the same as a router with no DNS.
 */
#include <string.h>

#include "dnsq.h"

int
dnsq_init(const struct conf *c)
{
	(void)c;
	return EDGEMTA_E_IO;
}

void
dnsq_shutdown(void)
{
}

int
dnsq_start(struct dnsq_req *r, int kind, const char *name,
    const struct net_addr *ip, uint16_t port, struct dnsq_result *res,
    dnsq_fn fn, void *arg)
{
	(void)kind;
	(void)name;
	(void)ip;
	(void)port;
	(void)res;
	(void)fn;
	(void)arg;
	r->busy = false;
	return EDGEMTA_E_IO;
}

void
dnsq_cancel(struct dnsq_req *r)
{
	r->busy = false;
}

bool
dnsq_busy(const struct dnsq_req *r)
{
	return r->busy;
}

bool
dnsq_is_self(const struct net_addr *a)
{
	static const uint8_t zero[16];

	/* the rules that need no interface list: unspecified, loopback */
	if (a->family == NET_INET4) {
		return a->ip[0] == 127 || memcmp(a->ip, zero, 4) == 0;
	}
	return memcmp(a->ip, zero, 15) == 0 && a->ip[15] <= 1;
}
