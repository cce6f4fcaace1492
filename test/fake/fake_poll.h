/*
 * fake_poll.h - a readiness backend for unit tests (plat_poll_*).
 *
 * No real fds are polled. plat_poll_wait() delivers what was injected
 * with fake_poll_inject(); when nothing was, it advances the fake clock
 * (fake_plat.c) by the timeout instead of sleeping, so the loop runs its
 * timers at once. A wait with no timer at all (timeout -1) and nothing
 * injected returns EDGEMTA_E_IO, so that ev_run() can never hang a test.
 */
#ifndef FAKE_POLL_H
#define FAKE_POLL_H

#include "platform.h"

#define FAKE_POLL_MAX_FDS 1024

/* Report fd ready with events (EV_*) in the next plat_poll_wait(). */
void fake_poll_inject(int fd, unsigned events);

/* The interest mask the loop registered for fd (0 = not registered). */
unsigned fake_poll_events(int fd);

/* Number of plat_poll_wait() calls and the last timeout passed. */
unsigned fake_poll_waits(void);
int fake_poll_last_timeout(void);

#endif
