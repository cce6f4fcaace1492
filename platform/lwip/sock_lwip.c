/*
 * sock_lwip.c - platform.h's sockets and readiness on lwIP's raw TCP API
 * (NO_SYS=1). Each connection is a slot of a static table, its index the
 * "fd" the core sees. lwIP's callbacks only record state (received pbufs
 * queued, end of stream, error, accepted connections waiting); readiness
 * is computed from that state, level-triggered like poll(2):
 *   EV_READ   data queued, end of stream, an error, or (listener) a
 *             connection waiting;
 *   EV_WRITE  connected and room in the send buffer, or an error.
 * plat_poll_wait() reports what is ready, else runs the network through
 * the board's net_poll hook until something is or the timeout passes.
 * IPv4 only (lwipopts.h); no local (unix) sockets.
 */
#include <string.h>

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"

#include "edgemta_lwip.h"
#include "ev.h"
#include "platform.h"
#include "plat_lwip_int.h"

#define LS_ACCEPTQ 4		/* accepted, not yet taken, per listener */

struct lsock {
	struct tcp_pcb *pcb;
	struct pbuf *rx;	/* received, not yet read */
	int err;		/* 0, or why the connection is gone */
	unsigned events;	/* what the event loop watches */
	bool used, listening, connecting, eof, watched;
	uint8_t nacq;
	int acq[LS_ACCEPTQ];	/* listener: fds accepted by lwIP */
};

static struct lsock ls[CONFIG_EV_MAX_FDS];

static int
ls_alloc(void)
{
	int fd;

	for (fd = 0; fd < CONFIG_EV_MAX_FDS; fd++) {
		if (!ls[fd].used) {
			memset(&ls[fd], 0, sizeof(ls[fd]));
			ls[fd].used = true;
			return fd;
		}
	}
	return EDGEMTA_E_FULL;
}

static struct lsock *
ls_get(int fd)
{
	return fd >= 0 && fd < CONFIG_EV_MAX_FDS && ls[fd].used ?
	    &ls[fd] : NULL;
}

/* ---- lwIP callbacks: record, never call back into the core ---- */

static err_t
ls_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct lsock *s = arg;

	(void)pcb;
	if (s == NULL) {	/* closed by us meanwhile */
		if (p != NULL) {
			pbuf_free(p);
		}
		return ERR_OK;
	}
	if (p == NULL || err != ERR_OK) {
		s->eof = true;
		if (p != NULL) {
			pbuf_free(p);
		}
		return ERR_OK;
	}
	if (s->rx == NULL) {
		s->rx = p;
	} else {
		pbuf_cat(s->rx, p);
	}
	return ERR_OK;
}

/* The pcb is already freed by lwIP when this is called. */
static void
ls_on_err(void *arg, err_t err)
{
	struct lsock *s = arg;

	if (s == NULL) {
		return;
	}
	s->pcb = NULL;
	s->connecting = false;
	s->err = err == ERR_RST || err == ERR_CLSD ? EDGEMTA_E_CLOSED :
	    EDGEMTA_E_IO;
}

static err_t
ls_on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct lsock *s = arg;

	(void)pcb;
	if (s != NULL) {
		s->connecting = false;
		if (err != ERR_OK) {
			s->err = EDGEMTA_E_IO;
		}
	}
	return ERR_OK;
}

static void
ls_attach(struct lsock *s, struct tcp_pcb *pcb)
{
	s->pcb = pcb;
	tcp_arg(pcb, s);
	tcp_recv(pcb, ls_on_recv);
	tcp_err(pcb, ls_on_err);
	tcp_nagle_disable(pcb);
}

static err_t
ls_on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct lsock *l = arg;
	int fd;

	if (err != ERR_OK || pcb == NULL) {
		return ERR_VAL;
	}
	if (l == NULL || l->nacq >= LS_ACCEPTQ || (fd = ls_alloc()) < 0) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	ls_attach(&ls[fd], pcb);
	l->acq[l->nacq++] = fd;
	return ERR_OK;
}

/* ---- readiness ---- */

static unsigned
ls_ready(const struct lsock *s)
{
	unsigned ev = 0;

	if (s->listening) {
		return s->nacq > 0 ? EV_READ : 0;
	}
	if (s->err != 0) {
		return EV_READ | EV_WRITE | EV_ERROR;
	}
	if (s->rx != NULL || s->eof) {
		ev |= EV_READ;
	}
	if (s->pcb != NULL && !s->connecting && tcp_sndbuf(s->pcb) > 0 &&
	    tcp_sndqueuelen(s->pcb) < TCP_SND_QUEUELEN) {
		ev |= EV_WRITE;
	}
	return ev;
}

int
plat_poll_init(int max_fds)
{
	return max_fds <= CONFIG_EV_MAX_FDS ? 0 : EDGEMTA_E_INVAL;
}

void
plat_poll_shutdown(void)
{
}

int
plat_poll_mod(int fd, unsigned new_events, bool registered)
{
	struct lsock *s = ls_get(fd);

	(void)registered;
	if (s == NULL) {
		return EDGEMTA_E_IO;
	}
	s->events = new_events;
	s->watched = true;
	return 0;
}

void
plat_poll_del(int fd)
{
	struct lsock *s = ls_get(fd);

	if (s != NULL) {
		s->watched = false;
	}
}

int
plat_poll_wait(int timeout_ms, void (*ready)(int fd, unsigned events))
{
	uint32_t start = sys_now(), spent;
	unsigned ev;
	int fd, n;

	for (;;) {
		n = 0;
		for (fd = 0; fd < CONFIG_EV_MAX_FDS; fd++) {
			if (!ls[fd].used || !ls[fd].watched) {
				continue;
			}
			ev = ls_ready(&ls[fd]) & (ls[fd].events | EV_ERROR);
			if (ev != 0) {
				ready(fd, ev);
				n++;
			}
		}
		if (n > 0) {
			return n;
		}
		spent = sys_now() - start;
		if (timeout_ms == 0 ||
		    (timeout_ms > 0 && spent >= (uint32_t)timeout_ms)) {
			return 0;
		}
		lwip_hooks->net_poll(timeout_ms < 0 ? 1000 :
		    (uint32_t)timeout_ms - spent);
	}
}

/* ---- sockets ---- */

static void
ls_to_ip(const struct net_addr *a, ip_addr_t *ip)
{
	IP_ADDR4(ip, a->ip[0], a->ip[1], a->ip[2], a->ip[3]);
}

static void
ls_from_ip(const ip_addr_t *ip, uint16_t port, struct net_addr *a)
{
	uint32_t v = ip4_addr_get_u32(ip_2_ip4(ip));	/* network order */

	memset(a, 0, sizeof(*a));
	a->family = NET_INET4;
	memcpy(a->ip, &v, 4);
	a->port = port;
}

/* A slot and a new IPv4 pcb for a: the fd, or a negative error. */
static int
ls_open(const struct net_addr *a, struct tcp_pcb **pcb, ip_addr_t *ip)
{
	int fd;

	if (a->family != NET_INET4) {
		return EDGEMTA_E_INVAL;
	}
	fd = ls_alloc();
	if (fd < 0) {
		return fd;
	}
	*pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (*pcb == NULL) {
		ls[fd].used = false;
		return EDGEMTA_E_FULL;
	}
	ls_to_ip(a, ip);
	return fd;
}

int
plat_listen_tcp(const struct net_addr *a)
{
	struct tcp_pcb *pcb, *lpcb;
	ip_addr_t ip;
	int fd;

	fd = ls_open(a, &pcb, &ip);
	if (fd < 0) {
		return fd;
	}
	ip_set_option(pcb, SOF_REUSEADDR);
	if (tcp_bind(pcb, &ip, a->port) != ERR_OK) {
		tcp_abort(pcb);
		ls[fd].used = false;
		return EDGEMTA_E_IO;
	}
	lpcb = tcp_listen_with_backlog(pcb, LS_ACCEPTQ);
	if (lpcb == NULL) {
		tcp_abort(pcb);
		ls[fd].used = false;
		return EDGEMTA_E_FULL;
	}
	ls[fd].pcb = lpcb;
	ls[fd].listening = true;
	tcp_arg(lpcb, &ls[fd]);
	tcp_accept(lpcb, ls_on_accept);
	return fd;
}

int
plat_listen_local(const char *path)
{
	(void)path;
	return EDGEMTA_E_INVAL;	/* in-process submission instead */
}

int
plat_connect_local(const char *path)
{
	(void)path;
	return EDGEMTA_E_INVAL;
}

bool
plat_peer_is_admin(int fd)
{
	(void)fd;
	return false;
}

int
plat_accept(int lfd, struct net_addr *peer)
{
	struct lsock *l = ls_get(lfd);
	int fd;

	if (l == NULL || !l->listening || l->nacq == 0) {
		return EDGEMTA_E_AGAIN;
	}
	fd = l->acq[0];
	memmove(l->acq, l->acq + 1, --l->nacq * sizeof(l->acq[0]));
	if (ls[fd].pcb != NULL) {
		ls_from_ip(&ls[fd].pcb->remote_ip, ls[fd].pcb->remote_port,
		    peer);
	} else {
		memset(peer, 0, sizeof(*peer));
		peer->family = NET_INET4;
	}
	return fd;
}

int
plat_connect_tcp(const struct net_addr *a)
{
	struct tcp_pcb *pcb;
	ip_addr_t ip;
	int fd;

	fd = ls_open(a, &pcb, &ip);
	if (fd < 0) {
		return fd;
	}
	ls_attach(&ls[fd], pcb);
	ls[fd].connecting = true;
	if (tcp_connect(pcb, &ip, a->port, ls_on_connected) != ERR_OK) {
		tcp_arg(pcb, NULL);
		tcp_abort(pcb);
		ls[fd].used = false;
		return EDGEMTA_E_IO;
	}
	return fd;
}

int
plat_connect_result(int fd)
{
	struct lsock *s = ls_get(fd);

	if (s == NULL) {
		return EDGEMTA_E_IO;
	}
	if (s->err != 0) {
		return s->err;
	}
	return s->connecting ? EDGEMTA_E_INPROGRESS : 0;
}

int
plat_sockname(int fd, struct net_addr *out)
{
	struct lsock *s = ls_get(fd);

	if (s == NULL || s->pcb == NULL) {
		return EDGEMTA_E_IO;
	}
	ls_from_ip(&s->pcb->local_ip, s->pcb->local_port, out);
	return 0;
}

long
plat_read(int fd, void *buf, size_t len)
{
	struct lsock *s = ls_get(fd);
	uint16_t n;

	if (s == NULL) {
		return EDGEMTA_E_IO;
	}
	if (s->rx == NULL) {
		if (s->eof) {
			return 0;
		}
		return s->err != 0 ? EDGEMTA_E_IO : EDGEMTA_E_AGAIN;
	}
	n = pbuf_copy_partial(s->rx, buf, (uint16_t)MIN(len, 0xffffu), 0);
	s->rx = pbuf_free_header(s->rx, n);
	if (s->pcb != NULL) {
		tcp_recved(s->pcb, n);	/* open the window again */
	}
	return n;
}

long
plat_write(int fd, const void *buf, size_t len)
{
	struct lsock *s = ls_get(fd);
	uint16_t n;
	err_t e;

	if (s == NULL || s->err != 0 || s->pcb == NULL) {
		return EDGEMTA_E_IO;
	}
	if (s->connecting) {
		return EDGEMTA_E_AGAIN;
	}
	n = (uint16_t)MIN(len, tcp_sndbuf(s->pcb));
	while (n > 0) {
		e = tcp_write(s->pcb, buf, n, TCP_WRITE_FLAG_COPY);
		if (e == ERR_OK) {
			tcp_output(s->pcb);
			return n;
		}
		if (e != ERR_MEM) {
			return EDGEMTA_E_IO;
		}
		n /= 2;		/* out of segments: try less */
	}
	return EDGEMTA_E_AGAIN;
}

void
plat_close(int fd)
{
	struct lsock *s = ls_get(fd);
	unsigned i;

	if (s == NULL) {
		return;
	}
	for (i = 0; s->listening && i < s->nacq; i++) {
		plat_close(s->acq[i]);
	}
	if (s->pcb != NULL) {
		tcp_arg(s->pcb, NULL);
		if (s->listening) {
			tcp_close(s->pcb);
		} else {
			tcp_recv(s->pcb, NULL);
			tcp_err(s->pcb, NULL);
			if (tcp_close(s->pcb) != ERR_OK) {
				tcp_abort(s->pcb);
			}
		}
	}
	if (s->rx != NULL) {
		pbuf_free(s->rx);
	}
	memset(s, 0, sizeof(*s));
}
