/*
 * ev.h - the one event loop (single thread).
 *
 * File-descriptor watches, one-shot timers and before-sleep hooks. The
 * readiness backend (epoll, poll, lwip_poll) is behind plat_poll_*() in
 * platform/platform.h; this module owns the callback table and timers.
 */
#ifndef EV_H
#define EV_H

#include "edgemta.h"

#define EV_READ 0x1u
#define EV_WRITE 0x2u
#define EV_ERROR 0x4u	/* error or hang-up: delivered even if not asked */

/* Called when fd is ready; events is a mask of EV_*. */
typedef void (*ev_fd_fn)(void *arg, unsigned events);
typedef void (*ev_fn)(void *arg);

/*
 * A one-shot timer, embedded by its owner (no allocation). Zero it or
 * let ev_timer_start() set it up; the owner must ev_timer_stop() it
 * before freeing the memory that holds it.
 */
struct ev_timer {
	struct ev_timer *next;
	uint64_t when;		/* ev_now() at which it fires */
	ev_fn fn;
	void *arg;
	bool armed;
};

/* Set up the loop and its backend. 0 or a negative edgemta_err. */
int ev_init(void);

/* Close the backend. Watches and timers are forgotten. */
void ev_shutdown(void);

/*
 * Watch fd for events (EV_READ | EV_WRITE); calling again changes the
 * mask and the callback. events == 0 keeps the fd registered but quiet.
 * Returns 0, EDGEMTA_E_FULL (fd >= CONFIG_EV_MAX_FDS) or EDGEMTA_E_IO.
 */
int ev_watch(int fd, unsigned events, ev_fd_fn fn, void *arg);

/* Forget fd. Call before closing it. Safe for an unwatched fd. */
void ev_unwatch(int fd);

/* Arm (or re-arm) t to call fn(arg) once, ms milliseconds from now. */
void ev_timer_start(struct ev_timer *t, uint32_t ms, ev_fn fn, void *arg);

/* Disarm t. Safe when not armed. */
void ev_timer_stop(struct ev_timer *t);

/*
 * Add a hook run once per loop turn after all ready callbacks and
 * before the loop sleeps again (group commit happens there). Hooks run
 * in the order added. Returns EDGEMTA_E_FULL past CONFIG_EV_MAX_HOOKS.
 */
int ev_add_before_sleep(ev_fn fn, void *arg);

/*
 * Run until ev_stop(). Returns 0, or a negative edgemta_err if the
 * backend fails.
 */
int ev_run(void);

/* Make ev_run() return after the current turn (callable from a callback
 * or from a signal-handling hook). */
void ev_stop(void);

/* Monotonic milliseconds, sampled once per loop turn. */
uint64_t ev_now(void);

#endif
