/*
 * ev_epoll.c - the epoll readiness backend behind plat_poll_*().
 *
 * Level-triggered, one epoll fd. The loop (core/ev.c) only registers fds
 * with a non-zero interest mask, and filters events for fds it dropped
 * while a turn is being dispatched.
 */
#define _GNU_SOURCE
#include "edgemta.h"

#if CONFIG_EV_EPOLL

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ev.h"
#include "platform.h"

#define EPOLL_BATCH 64

static int epoll_fd = -1;

int
plat_poll_init(int max_fds)
{
	(void)max_fds;
	if (epoll_fd >= 0) {
		close(epoll_fd);
	}
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	return epoll_fd < 0 ? EDGEMTA_E_IO : 0;
}

void
plat_poll_shutdown(void)
{
	if (epoll_fd >= 0) {
		close(epoll_fd);
	}
	epoll_fd = -1;
}

int
plat_poll_mod(int fd, unsigned new_events, bool registered)
{
	struct epoll_event e = { 0 };

	e.events = ((new_events & EV_READ) ? EPOLLIN : 0) |
	    ((new_events & EV_WRITE) ? EPOLLOUT : 0);
	e.data.fd = fd;
	if (epoll_ctl(epoll_fd, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
	    fd, &e) < 0) {
		/* Tolerate a caller whose idea of "registered" is stale. */
		if (errno == ENOENT && registered) {
			return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &e) < 0 ?
			    EDGEMTA_E_IO : 0;
		}
		if (errno == EEXIST && !registered) {
			return epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &e) < 0 ?
			    EDGEMTA_E_IO : 0;
		}
		return EDGEMTA_E_IO;
	}
	return 0;
}

void
plat_poll_del(int fd)
{
	struct epoll_event e = { 0 };

	(void)epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, &e);
}

int
plat_poll_wait(int timeout_ms, void (*ready)(int fd, unsigned events))
{
	struct epoll_event evs[EPOLL_BATCH];
	int n, i;

	n = epoll_wait(epoll_fd, evs, EPOLL_BATCH, timeout_ms);
	if (n < 0) {
		return errno == EINTR ? 0 : EDGEMTA_E_IO;
	}
	for (i = 0; i < n; i++) {
		unsigned ev = 0;

		if (evs[i].events & EPOLLIN) {
			ev |= EV_READ;
		}
		if (evs[i].events & EPOLLOUT) {
			ev |= EV_WRITE;
		}
		if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
			ev |= EV_ERROR;
		}
		ready(evs[i].data.fd, ev);
	}
	return n;
}

#endif /* CONFIG_EV_EPOLL */
