/*
 * fake_poll.c - see fake_poll.h.
 */
#include <string.h>

#include "fake_plat.h"
#include "fake_poll.h"

#define FAKE_POLL_INJECT_MAX 64

static unsigned fake_poll_mask[FAKE_POLL_MAX_FDS];
static struct {
	int fd;
	unsigned events;
} fake_poll_q[FAKE_POLL_INJECT_MAX];
static unsigned fake_poll_nq;
static unsigned fake_poll_nwaits;
static int fake_poll_timeout;

int
plat_poll_init(int max_fds)
{
	(void)max_fds;
	memset(fake_poll_mask, 0, sizeof(fake_poll_mask));
	fake_poll_nq = 0;
	fake_poll_nwaits = 0;
	return 0;
}

void
plat_poll_shutdown(void)
{
	memset(fake_poll_mask, 0, sizeof(fake_poll_mask));
	fake_poll_nq = 0;
}

int
plat_poll_mod(int fd, unsigned new_events, bool registered)
{
	(void)registered;
	if (fd < 0 || fd >= FAKE_POLL_MAX_FDS) {
		return EDGEMTA_E_FULL;
	}
	fake_poll_mask[fd] = new_events;
	return 0;
}

void
plat_poll_del(int fd)
{
	if (fd >= 0 && fd < FAKE_POLL_MAX_FDS) {
		fake_poll_mask[fd] = 0;
	}
}

int
plat_poll_wait(int timeout_ms, void (*ready)(int fd, unsigned events))
{
	unsigned i, n = fake_poll_nq;

	fake_poll_nwaits++;
	fake_poll_timeout = timeout_ms;
	if (n > 0) {
		fake_poll_nq = 0;
		for (i = 0; i < n; i++) {
			ready(fake_poll_q[i].fd, fake_poll_q[i].events);
		}
		return (int)n;
	}
	if (timeout_ms < 0) {
		return EDGEMTA_E_IO;	/* would sleep forever */
	}
	fake_clock_advance((uint64_t)timeout_ms);
	return 0;
}

void
fake_poll_inject(int fd, unsigned events)
{
	if (fake_poll_nq < FAKE_POLL_INJECT_MAX) {
		fake_poll_q[fake_poll_nq].fd = fd;
		fake_poll_q[fake_poll_nq].events = events;
		fake_poll_nq++;
	}
}

unsigned
fake_poll_events(int fd)
{
	return fd >= 0 && fd < FAKE_POLL_MAX_FDS ? fake_poll_mask[fd] : 0;
}

unsigned
fake_poll_waits(void)
{
	return fake_poll_nwaits;
}

int
fake_poll_last_timeout(void)
{
	return fake_poll_timeout;
}
