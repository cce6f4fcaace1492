/*
 * ev_poll.c - the poll(2) readiness backend behind plat_poll_*(), for any
 * POSIX system.
 *
 * One struct pollfd per registered fd, packed, with an fd -> slot map.
 * Removal only blanks the slot (fd = -1, which poll ignores) and the
 * array is compacted before the next poll, so callbacks may add and
 * remove fds while the results of one poll are being dispatched: new
 * slots go past the end being walked, blanked ones are skipped.
 */
#define _GNU_SOURCE
#include "edgemta.h"

#if CONFIG_EV_POLL

#include <errno.h>
#include <poll.h>

#include "ev.h"
#include "platform.h"

static struct pollfd poll_fds[CONFIG_EV_MAX_FDS];
/* fd -> slot + 1, 0 = none: zero as static storage starts, so that no
 * start-up loop makes the whole map resident */
static int poll_slot[CONFIG_EV_MAX_FDS];
static int poll_n;
static bool poll_dirty;

int
plat_poll_init(int max_fds)
{
	int i;

	if (max_fds > CONFIG_EV_MAX_FDS) {
		return EDGEMTA_E_INVAL;
	}
	for (i = 0; i < poll_n; i++) {
		if (poll_fds[i].fd >= 0) {
			poll_slot[poll_fds[i].fd] = 0;
		}
	}
	poll_n = 0;
	poll_dirty = false;
	return 0;
}

void
plat_poll_shutdown(void)
{
	plat_poll_init(CONFIG_EV_MAX_FDS);
}

int
plat_poll_mod(int fd, unsigned new_events, bool registered)
{
	short pev;
	int s;

	(void)registered;
	if (fd < 0 || fd >= CONFIG_EV_MAX_FDS) {
		return EDGEMTA_E_FULL;
	}
	pev = (short)(((new_events & EV_READ) ? POLLIN : 0) |
	    ((new_events & EV_WRITE) ? POLLOUT : 0));
	s = poll_slot[fd] - 1;
	if (s < 0) {
		if (poll_n >= CONFIG_EV_MAX_FDS) {
			return EDGEMTA_E_FULL;
		}
		s = poll_n++;
		poll_slot[fd] = s + 1;
		poll_fds[s].fd = fd;
		poll_fds[s].revents = 0;
	}
	poll_fds[s].events = pev;
	return 0;
}

void
plat_poll_del(int fd)
{
	int s;

	if (fd < 0 || fd >= CONFIG_EV_MAX_FDS || poll_slot[fd] == 0) {
		return;
	}
	s = poll_slot[fd] - 1;
	poll_fds[s].fd = -1;
	poll_fds[s].events = 0;
	poll_fds[s].revents = 0;
	poll_slot[fd] = 0;
	poll_dirty = true;
}

static void
poll_compact(void)
{
	int i, j = 0;

	for (i = 0; i < poll_n; i++) {
		if (poll_fds[i].fd < 0) {
			continue;
		}
		poll_fds[j] = poll_fds[i];
		poll_slot[poll_fds[j].fd] = j + 1;
		j++;
	}
	poll_n = j;
	poll_dirty = false;
}

int
plat_poll_wait(int timeout_ms, void (*ready)(int fd, unsigned events))
{
	int n, i, end, count = 0;

	if (poll_dirty) {
		poll_compact();
	}
	n = poll(poll_fds, (nfds_t)poll_n, timeout_ms);
	if (n < 0) {
		return errno == EINTR ? 0 : EDGEMTA_E_IO;
	}
	end = poll_n;	/* slots added by callbacks were not polled */
	for (i = 0; i < end && count < n; i++) {
		short re = poll_fds[i].revents;
		unsigned ev = 0;

		if (poll_fds[i].fd < 0 || re == 0) {
			continue;
		}
		poll_fds[i].revents = 0;
		count++;
		if (re & POLLIN) {
			ev |= EV_READ;
		}
		if (re & POLLOUT) {
			ev |= EV_WRITE;
		}
		if (re & (POLLERR | POLLHUP | POLLNVAL)) {
			ev |= EV_ERROR;
		}
		ready(poll_fds[i].fd, ev);
	}
	return n;
}

#endif /* CONFIG_EV_POLL */
